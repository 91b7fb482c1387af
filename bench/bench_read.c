/*
 * bench_read.c — what an encrypted store costs a reading command.
 *
 * Builds two field-sales stores with the same rows, one plain and one
 * encrypted (fsi_store_open_keyed, a random key): C customers, each with M
 * meetings carrying a note of a few hundred bytes (not timed).  Then, runs
 * alternating plain and encrypted, times what `fieldsync customer list`
 * does on an unlocked store: open the store with a fresh handle,
 * fs_view_json("customers"), close.  The open of a plain store checks every
 * page (PRAGMA quick_check); an encrypted store authenticates each page as
 * it is read instead, so the second figure adds the same full check
 * (fsi_store_check) to both sides: that is the cost of opening every page.
 * Ratios are taken per run (the machine is shared and noisy).
 *
 * Usage: bench_read [C=2000] [M=10] [runs=15].  Prints one line per figure.
 */
#include "engine.h"
#include "workload.h"

#include <fieldsync/fieldsync.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define MAX_RUNS 101

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void stats(const double *v, size_t n, double *med, double *lo, double *hi) {
  double s[MAX_RUNS];
  memcpy(s, v, n * sizeof *v);
  qsort(s, n, sizeof *s, cmp_double);
  *med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  *lo = s[0];
  *hi = s[n - 1];
}

static int fill(const char *path, const unsigned char *key, size_t c, size_t m) {
  fs_store *st = NULL;
  char id[FS_ID_SIZE], name[64], note[400];
  int rc = fsi_store_open_keyed(&st, path, NULL, FS_OPEN_CREATE, key);
  if (!rc) rc = fs_store_set(st, "manager", "anna");
  if (!rc) rc = fs_tx_begin(st);
  for (size_t i = 0; !rc && i < c; i++) {
    snprintf(name, sizeof name, "Customer %06zu GmbH", i);
    rc = fs_insert(id, st, "customers",
                   (fs_field[]){{"name", name}, {"phone", "+49 89 1234567"}, {"city", "München"}},
                   3);
    for (size_t j = 0; !rc && j < m; j++) {
      snprintf(note, sizeof note,
               "Visit %zu of %s: discussed the spring catalogue, asked for a quote on 40 units "
               "of the blue line, wants delivery before the fair; follow up with pricing.",
               j, name);
      rc = fs_insert(NULL, st, "meetings",
                     (fs_field[]){{"customer_id", id},
                                  {"at", "2026-03-02T10:00:00Z"},
                                  {"kind", "visit"},
                                  {"notes", note}},
                     4);
    }
  }
  if (!rc) rc = fs_tx_commit(st);
  if (rc) fprintf(stderr, "bench_read: %s\n", fs_errmsg());
  fs_store_close(st);
  return rc;
}

static int list(const char *path, const unsigned char *key, int check, double *secs) {
  fs_store *st = NULL;
  char *json = NULL;
  double t0 = wl_now_s();
  int rc = fsi_store_open_keyed(&st, path, NULL, 0, key);
  if (!rc && check && key) rc = fsi_store_check(st); /* the plain open did it */
  if (!rc) rc = fs_view_json(&json, st, "customers", NULL);
  fs_store_close(st);
  *secs = wl_now_s() - t0;
  if (rc) fprintf(stderr, "bench_read: %s\n", fs_errmsg());
  fs_free(json);
  return rc;
}

int main(int argc, char **argv) {
  size_t c = 2000, m = 10;
  int runs = 15, status = 1;
  char dir[PATH_MAX], plain[PATH_MAX + 16], enc[PATH_MAX + 16];
  unsigned char key[FSI_STORE_KEYBYTES];
  double ps[MAX_RUNS], es[MAX_RUNS], ratio[MAX_RUNS], ec[MAX_RUNS], cratio[MAX_RUNS], med, lo, hi;
  struct stat sb;
  if (argc > 4) {
    fprintf(stderr, "usage: %s [C=2000] [M=10] [runs=15]\n", argv[0]);
    return 2;
  }
  if (argc > 1) c = wl_arg("bench_read", argv[1], "C", 1, 10000000);
  if (argc > 2) m = wl_arg("bench_read", argv[2], "M", 0, 1000);
  if (argc > 3) runs = (int)wl_arg("bench_read", argv[3], "runs", 1, MAX_RUNS);
  if (sodium_init() < 0 || wl_tmpdir(dir, sizeof dir, "bench-read")) return 1;
  randombytes_buf(key, sizeof key);
  snprintf(plain, sizeof plain, "%s/plain.db", dir);
  snprintf(enc, sizeof enc, "%s/enc.db", dir);
  if (fill(plain, NULL, c, m) || fill(enc, key, c, m)) goto done;
  for (int k = 0; k < runs; k++) {
    if (list(plain, NULL, 0, &ps[k]) || list(enc, key, 0, &es[k]) || list(enc, key, 1, &ec[k]))
      goto done;
    ratio[k] = es[k] / ps[k];
    cratio[k] = ec[k] / ps[k];
    fprintf(stderr,
            "run %d: plain %.1f ms, encrypted %.1f ms (%.2fx), encrypted + full check %.1f ms "
            "(%.2fx)\n",
            k + 1, ps[k] * 1e3, es[k] * 1e3, ratio[k], ec[k] * 1e3, cratio[k]);
  }
  long pages = stat(enc, &sb) == 0 ? (long)(sb.st_size / 4096) : -1;
  printf("customer list: %zu customers, %zu meetings, %ld pages, %d runs, median (range)\n", c,
         c * m, pages, runs);
  stats(ps, (size_t)runs, &med, &lo, &hi);
  printf("plain store: %.1f ms (%.1f-%.1f)\n", med * 1e3, lo * 1e3, hi * 1e3);
  stats(es, (size_t)runs, &med, &lo, &hi);
  printf("encrypted store: %.1f ms (%.1f-%.1f)\n", med * 1e3, lo * 1e3, hi * 1e3);
  stats(ratio, (size_t)runs, &med, &lo, &hi);
  printf("ratio encrypted/plain (time): %.2fx (%.2fx-%.2fx), goal <= 1.10x\n", med, lo, hi);
  stats(ec, (size_t)runs, &med, &lo, &hi);
  printf("encrypted store with a full check on open, as the plain one: %.1f ms (%.1f-%.1f)\n",
         med * 1e3, lo * 1e3, hi * 1e3);
  stats(cratio, (size_t)runs, &med, &lo, &hi);
  printf("ratio encrypted with full check/plain (time): %.2fx (%.2fx-%.2fx)\n", med, lo, hi);
  status = 0;
done:
  sodium_memzero(key, sizeof key);
  unlink(plain);
  unlink(enc);
  rmdir(dir);
  return status;
}
