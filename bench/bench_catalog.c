/*
 * bench_catalog.c — a catalog of real size: head office's CSV import and
 * the device's catalog views.
 *
 * Generates (deterministically) N products with realistic names, German
 * and Chinese among them, and one EUR price each, as the CSV files
 * `fieldsync-server import` reads; then, per run, in a fresh head-office
 * home: times fs_hq_import_csv (the library call of the import verb) for
 * the products and for the prices, and on the imported store the views the
 * device command runs: `product find` (fs_view_json "product_find" for a
 * few texts: an exact SKU, a name word, an accent-folded German word, a
 * Chinese name) and the first screen of `product list` (the "products"
 * view with limit=50), and the whole list for comparison.  The views run on
 * the head-office store's replica of the catalog (the same tables and
 * indexes a device holds after a pull, without the device's encryption).
 *
 * Usage: bench_catalog [N=100000] [runs=3].  Prints medians and ranges.
 */
#include <fieldsync/fieldsync.h>
#include <fieldsync/server.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 15

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, double *v, int n, const char *unit) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  printf("%-40s median %9.1f %s  (min %.1f, max %.1f, %d runs)\n", what, med, unit, v[0], v[n - 1],
         n);
}

static const char *const words[] = {
    "Schraube",      "Kühlschrank", "Kaffeemühle",  "Bohrmaschine", "Gartenschlauch", "Drucker",
    "Monitor",       "Keyboard",    "Office Chair", "Desk Lamp",    "Cable",          "Adapter",
    "Straße-Schild", "Größe",       "Café Crème",   "Müsli",        "电饭煲",         "保温杯",
    "蓝牙耳机",      "茶叶",        "Thermos",      "Battery"};
static const char *const adj[] = {"Premium", "Basic", "Pro",     "Mini",   "Öko",
                                  "Blue",    "Steel", "Compact", "Deluxe", "Classic"};

static int write_csv(const char *dir, size_t n, char *pp, char *rp, size_t cap) {
  snprintf(pp, cap, "%s/products.csv", dir);
  snprintf(rp, cap, "%s/prices.csv", dir);
  FILE *p = fopen(pp, "w"), *r = fopen(rp, "w");
  if (!p || !r) return -1;
  fputs("sku,name,unit,active\n", p);
  fputs("sku,currency,price\n", r);
  unsigned x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    const char *w = words[(x >> 8) % (sizeof words / sizeof *words)];
    const char *a = adj[(x >> 16) % (sizeof adj / sizeof *adj)];
    fprintf(p, "SKU-%06zu,\"%s %s %zu\",pcs,%d\n", i, a, w, (size_t)(x >> 20) % 1000,
            i % 50 ? 1 : 0);
    fprintf(r, "SKU-%06zu,EUR,%u.%02u\n", i, (x >> 4) % 2000, (x >> 12) % 100);
  }
  int bad = ferror(p) || ferror(r);
  bad |= fclose(p) != 0;
  bad |= fclose(r) != 0;
  return bad ? -1 : 0;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 100000;
  int runs = argc > 2 ? atoi(argv[2]) : 3;
  if (runs < 1 || runs > MAX_RUNS || n == 0) {
    fprintf(stderr, "usage: bench_catalog [N=100000] [runs=3 (1..%d)]\n", MAX_RUNS);
    return 2;
  }
  static const char *const finds[] = {"SKU-042000", "kuhlschrank", "Grosse", "电饭煲", "lamp"};
  enum { NF = sizeof finds / sizeof *finds };
  char tmpl[] = "/tmp/bench_catalog.XXXXXX", pp[4200], rp[4200];
  char *dir = mkdtemp(tmpl);
  if (!dir || write_csv(dir, n, pp, rp, sizeof pp)) {
    fprintf(stderr, "bench_catalog: cannot write the CSV files\n");
    return 1;
  }
  double tp[MAX_RUNS], tr[MAX_RUNS], tf[NF][MAX_RUNS], tl[MAX_RUNS], ta[MAX_RUNS], tq[MAX_RUNS],
      tw[MAX_RUNS];
  size_t found[NF] = {0};
  for (int r = 0; r < runs; r++) {
    char home[4300], cmd[4400];
    snprintf(home, sizeof home, "%s/hq%d", dir, r);
    fs_hq *hq = NULL;
    size_t cnt = 0;
    if (mkdir(home, 0700) != 0 || fs_hq_create(home) || fs_hq_open(&hq, home)) {
      fprintf(stderr, "bench_catalog: %s\n", fs_errmsg());
      return 1;
    }
    double t0 = now_ms();
    int rc = fs_hq_import_csv(&cnt, hq, "products", pp);
    tp[r] = now_ms() - t0;
    t0 = now_ms();
    if (!rc) rc = fs_hq_import_csv(&cnt, hq, "prices", rp);
    tr[r] = now_ms() - t0;
    if (rc || cnt != n) {
      fprintf(stderr, "bench_catalog: import: %s\n", fs_errmsg());
      return 1;
    }
    fs_store *st = fs_hq_store(hq);
    for (int k = 0; k < NF; k++) {
      char arg[300], *doc = NULL;
      snprintf(arg, sizeof arg, "50 %s", finds[k]);
      t0 = now_ms();
      rc = fs_view_json(&doc, st, "product_find", arg);
      tf[k][r] = now_ms() - t0;
      if (rc) {
        fprintf(stderr, "bench_catalog: find: %s\n", fs_errmsg());
        return 1;
      }
      found[k] = 0;
      for (const char *p = doc; (p = strstr(p, "\"sku\":")); p++) found[k]++;
      fs_free(doc);
    }
    char *doc = NULL;
    t0 = now_ms();
    rc = fs_view_json(&doc, st, "products", "limit=50");
    tl[r] = now_ms() - t0;
    fs_free(doc);
    /* `product list` as the command reads it: a first page of 60, then
     * pages of 1,000, each after the last SKU of the one before */
    char arg[128], after[80] = "";
    size_t pages = 0;
    t0 = now_ms();
    for (size_t lim = 60; !rc; lim = 1000, pages++) {
      snprintf(arg, sizeof arg, "page=%zu&after=%s", lim, after);
      doc = NULL;
      if ((rc = fs_view_json(&doc, st, "products", arg))) break;
      if (pages == 0) tq[r] = now_ms() - t0;
      size_t got = 0;
      const char *last = NULL;
      for (const char *p = doc; (p = strstr(p, "\"sku\":\"")); p++, got++) last = p + 7;
      if (last) snprintf(after, sizeof after, "%.*s", (int)strcspn(last, "\""), last);
      fs_free(doc);
      if (got < lim) break;
    }
    tw[r] = now_ms() - t0;
    /* the whole catalog as one document, as it was read before (after the
     * pages: freeing its 100,000-row document slows the next read) */
    doc = NULL;
    t0 = now_ms();
    if (!rc) rc = fs_view_json(&doc, st, "products", NULL);
    ta[r] = now_ms() - t0;
    fs_free(doc);
    if (rc) {
      fprintf(stderr, "bench_catalog: list: %s\n", fs_errmsg());
      return 1;
    }
    fs_hq_close(hq);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    if (system(cmd) != 0) fprintf(stderr, "bench_catalog: could not remove %s\n", home);
  }
  printf("catalog: %zu products, %zu prices\n", n, n);
  report("import products", tp, runs, "ms");
  report("import prices", tr, runs, "ms");
  for (int k = 0; k < NF; k++) {
    char what[80];
    snprintf(what, sizeof what, "product find \"%s\" (%zu shown)", finds[k], found[k]);
    report(what, tf[k], runs, "ms");
  }
  report("product list, first screen (50)", tl, runs, "ms");
  report("product list as streamed, first page (60)", tq, runs, "ms");
  report("product list as streamed, every page", tw, runs, "ms");
  report("product list, whole catalog as one document", ta, runs, "ms");
  unlink(pp);
  unlink(rp);
  rmdir(dir);
  return 0;
}
