/*
 * test_faults.c — a full disk in the middle of the work: capture, merge and
 * head-office import each fail with a clear error and leave the store as it
 * was (one transaction, all or nothing; no clock or counter advanced).
 * SQLite's max_page_count makes the database "full" at a chosen size.
 */
#include <fieldsync/server.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "merge.h"
#include "storeInt.h"
#include "testutil.h"

static const fs_column cols[] = {{"name", FS_COL_TEXT, 0, 0}, {"n", FS_COL_INT, 0, 0}};
static const fs_table tables[] = {{"items", FS_OWNER_SHARED, cols, 2}};
static const fs_schema schema = {"faults", 1, tables, 1};

static char *export_of(fs_store *st) {
  char *e = NULL;
  CHECK_OK(fs_view_json(&e, st, "export", NULL));
  return e;
}

/* Caps the database at its current size plus `extra` pages. */
static void cap_pages(fs_store *st, int extra) {
  sqlite3_stmt *s = NULL;
  sqlite3_prepare_v2(st->db, "PRAGMA page_count", -1, &s, NULL);
  int pages = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
  sqlite3_finalize(s);
  char q[64];
  snprintf(q, sizeof q, "PRAGMA max_page_count=%d", pages + extra);
  CHECK(sqlite3_exec(st->db, q, NULL, NULL, NULL) == SQLITE_OK);
}

static char big[3000];

static void test_capture_disk_full(void) {
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, ":memory:", &schema, FS_OPEN_CREATE));
  if (!st) return;
  CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"name", "kept"}, {"n", "1"}}, 2));
  char *before = export_of(st);
  int64_t v0 = fs_store_db_version(st), clock0 = st->clock.last, seq0 = st->seq;
  cap_pages(st, 20);
  CHECK_OK(fs_tx_begin(st));
  int rc = FS_OK, n = 0;
  for (; n < 1000 && rc == FS_OK; n++)
    rc = fs_insert(NULL, st, "items", (fs_field[]){{"name", big}, {"n", "2"}}, 2);
  CHECK_ERR(rc, FS_EIO);
  CHECK_CONTAINS(fs_errmsg(), "full");
  CHECK(n > 1); /* some rows went in before the disk filled up */
  CHECK_OK(fs_tx_rollback(st));
  char *after = export_of(st);
  CHECK(before && after && !strcmp(before, after));
  CHECK_EQ_INT(fs_store_db_version(st), v0);
  CHECK_EQ_INT(st->seq, seq0);
  CHECK_EQ_INT(st->clock.last, clock0);
  /* the store works on once there is room again */
  CHECK(sqlite3_exec(st->db, "PRAGMA max_page_count=1073741823", NULL, NULL, NULL) == SQLITE_OK);
  CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"name", "later"}, {"n", "3"}}, 2));
  CHECK_EQ_INT(fs_store_db_version(st), v0 + 1);
  fs_free(before);
  fs_free(after);
  fs_store_close(st);
}

static void test_merge_disk_full(void) {
  fs_store *a = NULL, *b = NULL;
  CHECK_OK(fs_store_open(&a, ":memory:", &schema, FS_OPEN_CREATE));
  CHECK_OK(fs_store_open(&b, ":memory:", &schema, FS_OPEN_CREATE));
  if (!a || !b) goto done;
  CHECK_OK(fs_tx_begin(a));
  for (int i = 0; i < 400; i++)
    CHECK_OK(fs_insert(NULL, a, "items", (fs_field[]){{"name", big}, {"n", "7"}}, 2));
  CHECK_OK(fs_tx_commit(a));
  CHECK_OK(fs_insert(NULL, b, "items", (fs_field[]){{"name", "b's own"}, {"n", "1"}}, 2));
  fsi_batch *batch = fsi_change_batch_new();
  fsi_merge_cursor from = {0, -1, ""}, next;
  fsi_merge_filter f = {0, NULL, 0, 0};
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(a, &from, &f, 1000, batch, &next, &more));
  CHECK_EQ_INT(batch->nrows, 400);
  char *before = export_of(b);
  int64_t v0 = fs_store_db_version(b), clock0 = b->clock.last;
  cap_pages(b, 30);
  fsi_merge_opts o = {fs_store_site(a), NULL};
  fsi_merge_result res;
  CHECK_ERR(fsi_merge_apply(b, batch, &o, &res), FS_EIO);
  CHECK_CONTAINS(fs_errmsg(), "full");
  char *after = export_of(b);
  CHECK(before && after && !strcmp(before, after)); /* nothing half-applied */
  CHECK_EQ_INT(fs_store_db_version(b), v0);
  CHECK_EQ_INT(b->clock.last, clock0); /* no clock advanced by a refused batch */
  /* with room again the same batch applies whole */
  CHECK(sqlite3_exec(b->db, "PRAGMA max_page_count=1073741823", NULL, NULL, NULL) == SQLITE_OK);
  CHECK_OK(fsi_merge_apply(b, batch, &o, &res));
  CHECK_EQ_INT(res.applied, 400);
  fsi_merge_result_free(&res);
  fs_free(before);
  fs_free(after);
  fsi_change_batch_free(batch);
done:
  fs_store_close(a);
  fs_store_close(b);
}

static void test_import_disk_full(void) {
  char *dir = tu_tmpdir("faults");
  char csv[4300], home[4300];
  snprintf(csv, sizeof csv, "%s/products.csv", dir);
  snprintf(home, sizeof home, "%s/hq", dir);
  FILE *fp = fopen(csv, "w");
  if (!fp) abort();
  fputs("sku,name,unit,active\n", fp);
  for (int i = 0; i < 3000; i++) fprintf(fp, "SKU-%05d,%.190s,piece,1\n", i, big);
  fclose(fp);
  fs_hq *office = NULL;
  CHECK(mkdir(home, 0700) == 0);
  CHECK_OK(fs_hq_create(home));
  CHECK_OK(fs_hq_open(&office, home));
  if (!office) goto done;
  fs_store *hq = fs_hq_store(office);
  char *before = export_of(hq);
  cap_pages(hq, 40);
  size_t n = 99;
  CHECK_ERR(fs_hq_import_csv(&n, office, "products", csv), FS_EIO);
  CHECK_EQ_INT(n, 0);
  CHECK_CONTAINS(fs_errmsg(), "line ");
  char *after = export_of(hq);
  CHECK(before && after && !strcmp(before, after)); /* nothing imported */
  fs_free(before);
  fs_free(after);
done:
  fs_hq_close(office);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  memset(big, 'x', sizeof big - 1);
  TEST_RUN(test_capture_disk_full);
  TEST_RUN(test_merge_disk_full);
  TEST_RUN(test_import_disk_full);
  return tu_finish();
}
