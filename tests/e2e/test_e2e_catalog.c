/*
 * test_e2e_catalog.c — a catalog of real size, end to end: head office
 * imports it with `fieldsync-server import`, a device pulls it and finds
 * products in it with `fieldsync product find`.
 *
 * Covers: find folds case and accents (kuhlschrank finds Kühlschrank,
 * GROSSE finds Größe), finds a Chinese name, ranks exact SKU, SKU prefix,
 * name prefix, name word, anywhere, in that order, and --limit; `product
 * list --limit`; a CSV with a bad row refuses the whole file with one line
 * naming the file and the line, and changes nothing at head office; a
 * device pushes and pulls successfully while a large import holds head
 * office's write transaction, and the import is complete afterwards.
 */
#include "e2e.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *sku_at(const cJSON *arr, int i) {
  return e2e_str(cJSON_GetArrayItem(arr, i), "sku");
}

static void test_product_find(void) {
  char *dir = tu_tmpdir("e2e-catalog");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *csv = e2e_path(dir, "products.csv");
  if (!s || e2e_server_start(s, 0)) goto done;
  CHECK(tu_write_file(csv, "sku,name,unit,active\n"
                           "KUEHL-1,Kühlschrank A++,pcs,1\n"
                           "KS-9,Mini-Kühlschrank Blau,pcs,1\n"
                           "MUG-7,Tasse Größe L,pcs,1\n"
                           "RICE-1,电饭煲 3L,pcs,1\n"
                           "KUEHL,Kühlbox,pcs,1\n"
                           "BOX-2,Bento KUEHL edition,pcs,1\n"
                           "KUEHLX-1,Alpha,pcs,1\n") == 0);
  HQ_RUN(s, "import", "products", csv);
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  SYNC(a);

  cJSON *r = FS_JSON(a, "product", "find", "kuhlschrank", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(r), 2);
  CHECK_STR(sku_at(r, 0), "KUEHL-1"); /* name prefix before a word of the name */
  CHECK_STR(sku_at(r, 1), "KS-9");
  CHECK_EQ_INT(e2e_int(cJSON_GetArrayItem(r, 0), "rank"), 3);
  CHECK_EQ_INT(e2e_int(cJSON_GetArrayItem(r, 1), "rank"), 4);
  cJSON_Delete(r);

  r = FS_JSON(a, "product", "find", "GROSSE", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(r), 1);
  CHECK_STR(sku_at(r, 0), "MUG-7");
  cJSON_Delete(r);

  r = FS_JSON(a, "product", "find", "电饭煲", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(r), 1);
  CHECK_STR(sku_at(r, 0), "RICE-1");
  CHECK_STR(e2e_str(cJSON_GetArrayItem(r, 0), "name"), "电饭煲 3L");
  cJSON_Delete(r);

  /* exact SKU, SKU prefixes (by SKU), then names: prefix, word, anywhere */
  r = FS_JSON(a, "product", "find", "kuehl", "--json");
  static const char *const order[] = {"KUEHL", "KUEHL-1", "KUEHLX-1", "BOX-2"};
  CHECK_EQ_INT(cJSON_GetArraySize(r), 4);
  for (int i = 0; i < 4; i++) CHECK_STR(sku_at(r, i), order[i]);
  cJSON_Delete(r);
  r = FS_JSON(a, "product", "find", "kuehl", "--limit", "2", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(r), 2);
  CHECK_STR(sku_at(r, 1), "KUEHL-1");
  cJSON_Delete(r);

  /* the table shows the name as stored */
  char *out = e2e_fs_ok(__LINE__, a, ARGS("product", "find", "tasse"));
  CHECK(out && strstr(out, "Tasse Größe L") && strstr(out, "MUG-7"));
  free(out);
  char *err = NULL;
  CHECK(e2e_fs(a, NULL, &err, ARGS("product", "find", "nothing-like-it")) == 0);
  free(err);
  err = NULL;
  CHECK(e2e_fs(a, NULL, &err, ARGS("product", "find", "x", "--limit", "0")) != 0);
  CHECK(err && e2e_one_line(err, "fieldsync: "));
  free(err);

  r = FS_JSON(a, "product", "list", "--limit", "3", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(r), 3);
  CHECK_STR(sku_at(r, 0), "BOX-2"); /* by SKU */
  cJSON_Delete(r);
done:
  free(a);
  free(csv);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

static int count_rows(const e2e_server *s, const char *table) {
  char *doc = e2e_export_hq(__LINE__, s, NULL);
  cJSON *o = cJSON_Parse(doc ? doc : "");
  int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, table));
  cJSON_Delete(o);
  free(doc);
  return n;
}

static void test_bad_csv_changes_nothing(void) {
  char *dir = tu_tmpdir("e2e-catalog-bad");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *csv = e2e_path(dir, "bad.csv"), *before = NULL, *after = NULL, *err = NULL;
  if (!s) goto done;
  CHECK(tu_write_file(csv, "sku,name,unit,active\n"
                           "NEW-1,Neu,pcs,1\n"
                           "LAMP-03,Renamed lamp,pcs,1\n"
                           "NEW-2,Kaputt,pcs,yes\n") == 0);
  before = e2e_export_hq(__LINE__, s, NULL);
  CHECK(e2e_hq(s, NULL, &err, ARGS("import", "products", csv)) != 0);
  CHECK(err && e2e_one_line(err, "fieldsync-server: "));
  CHECK(err && strstr(err, "line 4") && strstr(err, "bad.csv"));
  after = e2e_export_hq(__LINE__, s, NULL);
  CHECK(before && after && !strcmp(before, after));
done:
  free(err);
  free(before);
  free(after);
  free(csv);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* A CSV of n products, names tagged with tag. */
static int write_products(const char *path, int n, const char *tag) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs("sku,name,unit,active\n", f);
  for (int i = 0; i < n; i++) fprintf(f, "BULK-%06d,%s Produkt %d,pcs,1\n", i, tag, i);
  return fclose(f);
}

static void test_sync_during_import(void) {
  enum { N = 150000 };
  char *dir = tu_tmpdir("e2e-catalog-busy");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *first = e2e_path(dir, "first.csv"), *second = e2e_path(dir, "second.csv");
  char *log = e2e_path(dir, "import.log");
  if (!s || e2e_server_start(s, 0)) goto done;
  CHECK(write_products(first, N, "Alt") == 0 && write_products(second, N, "Neu") == 0);
  HQ_RUN(s, "import", "products", first);
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  SYNC(a);
  /* the whole catalog, read and printed page by page: every product once,
   * by SKU, in one JSON array; one heading over the whole table */
  cJSON *all = FS_JSON(a, "product", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(all), N + 3);
  int sorted = 1;
  const char *prev = "";
  const cJSON *it;
  cJSON_ArrayForEach(it, all) { /* (cJSON_GetArrayItem is linear: not in a loop) */
    const char *sku = e2e_str(it, "sku");
    if (!sku || strcmp(prev, sku) >= 0) sorted = 0;
    prev = sku ? sku : "";
  }
  CHECK(sorted);
  cJSON_Delete(all);
  char *table = e2e_fs_ok(__LINE__, a, ARGS("product", "list"));
  int lines = 0, heads = 0;
  for (const char *p = table; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
    lines++;
    if (!strncmp(p, "SKU ", 4)) heads++;
  }
  CHECK_EQ_INT(lines, N + 3 + 1);
  CHECK_EQ_INT(heads, 1);
  CHECK(table && strstr(table, "BULK-149999"));
  free(table);
  char cust[64];
  ADD(a, cust, "customer", "add", "--name", "Während GmbH");

  /* the second import rewrites every product in one transaction */
  const char *argv[] = {"fieldsync-server", "--home", s->home, "import", "products", second, NULL};
  pid_t pid = e2e_spawn(argv, log, log);
  CHECK(pid > 0);
  e2e_msleep(150);
  int ws = 0, reaped = pid > 0 ? (int)waitpid(pid, &ws, WNOHANG) : -1;
  CHECK_EQ_INT(reaped, 0); /* else the import did not overlap the sync: make it larger */
  cJSON *st = e2e_sync(__LINE__, a);
  CHECK(st != NULL);
  cJSON_Delete(st);
  if (reaped == 0) reaped = (int)waitpid(pid, &ws, WNOHANG);
  if (reaped == 0) fprintf(stderr, "note: the sync ended while the import still ran\n");
  int status = reaped == 0                   ? e2e_wait(pid, 60000)
               : reaped > 0 && WIFEXITED(ws) ? WEXITSTATUS(ws)
                                             : -1;
  CHECK_EQ_INT(status, 0);
  /* the push reached head office, and the import is whole */
  char *doc = e2e_export_hq(__LINE__, s, NULL);
  CHECK(doc && strstr(doc, "Während GmbH"));
  CHECK(doc && strstr(doc, "Neu Produkt 149999") && !strstr(doc, "Alt Produkt"));
  free(doc);
  CHECK_EQ_INT(count_rows(s, "products"), N + 3);
done:
  free(a);
  free(first);
  free(second);
  free(log);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_product_find);
  TEST_RUN(test_bad_csv_changes_nothing);
  TEST_RUN(test_sync_during_import);
  e2e_stop_all();
  return tu_finish();
}
