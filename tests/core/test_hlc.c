/*
 * test_hlc.c — the hybrid logical clock (core/hlc.c) and how the store keeps
 * it: every clock a replica issues is strictly larger than every clock it
 * issued or received before, whatever the wall clock does; a received clock
 * pushes the next local one past it; and the clock survives closing and
 * reopening the store (written under a pinned future wall time with
 * FIELDSYNC_TEST_NOW_MS, reopened with the real time, the next write still
 * carries a larger clock), including a clock learnt from a merge.
 */
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "storeInt.h"
#include "testutil.h"
#include "util.h"

static const fs_column item_cols[] = {{"a", FS_COL_TEXT, 0, 0}};
static const fs_table tables[] = {{"items", FS_OWNER_SHARED, item_cols, 1}};
static const fs_schema schema = {"hlctest", 1, tables, 1};

#define T0 1767600000000LL /* 2026-01-05T08:00:00Z */

static void test_next_monotonic(void) {
  fsi_hlc_clock c = {0};
  int64_t prev = fsi_hlc_next(&c, T0);
  CHECK_EQ_INT(prev, T0 << HLC_LOGICAL_BITS); /* wall ahead: counter 0 */
  CHECK_EQ_INT(HLC_PHYS(prev), T0);
  int ok = 1;
  for (int i = 0; i < 100000; i++) { /* same millisecond: the counter moves */
    int64_t h = fsi_hlc_next(&c, T0);
    if (h <= prev) ok = 0;
    prev = h;
  }
  CHECK(ok);
  /* the counter overflowed into the millisecond part and kept the order */
  CHECK(HLC_PHYS(prev) > T0);
  int64_t later = fsi_hlc_next(&c, T0 + 60000);
  CHECK_EQ_INT(later, (T0 + 60000) << HLC_LOGICAL_BITS);
  CHECK_EQ_INT(c.last, later);
}

static void test_wall_clock_backwards(void) {
  fsi_hlc_clock c = {0};
  int64_t a = fsi_hlc_next(&c, T0 + 5000);
  int64_t b = fsi_hlc_next(&c, T0); /* NTP stepped the clock back 5 s */
  int64_t d = fsi_hlc_next(&c, T0 - 3600 * 1000);
  CHECK(b > a);
  CHECK(d > b);
  CHECK_EQ_INT(b, a + 1);
  CHECK_EQ_INT(HLC_PHYS(d), T0 + 5000); /* physical part never goes back */
}

static void test_observe(void) {
  fsi_hlc_clock c = {0};
  int64_t mine = fsi_hlc_next(&c, T0);
  int64_t remote = ((T0 + 10000) << HLC_LOGICAL_BITS) + 7;
  fsi_hlc_observe(&c, remote);
  int64_t next = fsi_hlc_next(&c, T0 + 1);
  CHECK(next > remote);
  CHECK(next > mine);
  fsi_hlc_observe(&c, mine); /* an older clock never lowers it */
  int64_t again = fsi_hlc_next(&c, T0 + 2);
  CHECK(again > next);
}

/* Clock of row pk (its insert clock) as stored. */
static int64_t row_clock(fs_store *st, const char *pk) {
  struct fsi_arena *a = fsi_arena_new(1024);
  fsi_row r;
  int64_t h = -1;
  if (fsi_row_load(st, &st->t[0], pk, a, &r) == FS_OK && r.state == ROW_LIVE) h = r.hlc;
  fsi_arena_free(a);
  return h;
}

static void test_persisted_across_reopen(void) {
  char *dir = tu_tmpdir("hlc");
  char path[512];
  snprintf(path, sizeof path, "%s/s.db", dir);
  char future[32];
  int64_t fut = fsi_util_now_ms() + 30LL * 86400 * 1000; /* 30 days ahead */
  snprintf(future, sizeof future, "%lld", (long long)fut);
  char id1[FS_ID_SIZE], id2[FS_ID_SIZE];
  fs_store *st = NULL;

  setenv("FIELDSYNC_TEST_NOW_MS", future, 1);
  CHECK_OK(fs_store_open(&st, path, &schema, FS_OPEN_CREATE));
  fs_field f = {"a", "written in the future"};
  CHECK_OK(fs_insert(id1, st, "items", &f, 1));
  int64_t h1 = row_clock(st, id1);
  CHECK_EQ_INT(HLC_PHYS(h1), fut);
  fs_store_close(st);
  unsetenv("FIELDSYNC_TEST_NOW_MS");

  CHECK_OK(fs_store_open(&st, path, &schema, 0));
  f.value = "written now";
  CHECK_OK(fs_insert(id2, st, "items", &f, 1));
  int64_t h2 = row_clock(st, id2);
  CHECK(h2 > h1);
  CHECK(HLC_PHYS(h2) >= fut); /* the wall clock (now) is 30 days behind */
  fs_store_close(st);
  tu_rmrf(dir);
  free(dir);
}

/* A clock received in a merge is persisted too: after reopening, a local
 * write still carries a larger clock than the received change. */
static void test_observed_clock_persisted(void) {
  char *dir = tu_tmpdir("hlc2");
  char path[512];
  snprintf(path, sizeof path, "%s/b.db", dir);
  fs_store *a = NULL, *b = NULL;
  char id[FS_ID_SIZE], id2[FS_ID_SIZE];
  char future[32];
  int64_t fut = fsi_util_now_ms() + 2LL * 86400 * 1000;
  snprintf(future, sizeof future, "%lld", (long long)fut);

  CHECK_OK(fs_store_open(&a, ":memory:", &schema, FS_OPEN_CREATE));
  setenv("FIELDSYNC_TEST_NOW_MS", future, 1);
  fs_field f = {"a", "from a fast clock"};
  CHECK_OK(fs_insert(id, a, "items", &f, 1));
  unsetenv("FIELDSYNC_TEST_NOW_MS");
  int64_t ha = row_clock(a, id);

  CHECK_OK(fs_store_open(&b, path, &schema, FS_OPEN_CREATE));
  fs_store_set_max_skew(b, 3LL * 86400 * 1000); /* accept the fast clock */
  fsi_batch *batch = fsi_change_batch_new();
  fsi_merge_cursor from = {0, -1, ""}, next;
  int more = 0;
  fsi_merge_filter flt = {fs_store_site(b), NULL, 0, 0};
  CHECK_OK(fsi_merge_changes_since(a, &from, &flt, 100, batch, &next, &more));
  CHECK_EQ_INT(batch->nrows, 1);
  fsi_merge_opts o = {fs_store_site(a), NULL};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(b, batch, &o, &res));
  fsi_merge_result_free(&res);
  fsi_change_batch_free(batch);
  fs_store_close(b);

  CHECK_OK(fs_store_open(&b, path, &schema, 0));
  f.value = "local after reopen";
  CHECK_OK(fs_insert(id2, b, "items", &f, 1));
  CHECK(row_clock(b, id2) > ha);
  fs_store_close(b);
  fs_store_close(a);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  unsetenv("FIELDSYNC_TEST_NOW_MS");
  TEST_RUN(test_next_monotonic);
  TEST_RUN(test_wall_clock_backwards);
  TEST_RUN(test_observe);
  TEST_RUN(test_persisted_across_reopen);
  TEST_RUN(test_observed_clock_persisted);
  return tu_finish();
}
