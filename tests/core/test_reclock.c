/*
 * test_reclock.c — re-issuing the clocks a device wrote while its wall clock
 * ran ahead (core/reclock.c, docs/merge.md "A clock that was ahead"), and
 * the let-out bound the outbox keeps for it (core/devstate.c).
 *
 * Time is driven with fsi_util_set_clock: a device writes at T0 (right),
 * then at T0 + 2 days (its clock wrong), then its clock is put right.
 * Covers:
 *  - what never left the device and is ahead of the wall clock gets new
 *    clocks, in the old order, each above everything it could have seen or
 *    replaced (the row clock under a cell, a clock received from another
 *    site, what was let out); the values stay; the store's clock comes back
 *    so the next write takes the wall clock;
 *  - with the skew noted, the new clocks are the old ones less the skew
 *    (when the edits were really made), and the note is used up;
 *  - clocks that were let out (an outbox that was acknowledged, or is still
 *    out) keep their values, and the store's clock stays above them;
 *  - an outbox head office refused is unsealed: its clocks are re-issued;
 *  - tombstones: a delete's clock and its `seen` are re-issued together;
 *  - another handle on the same store takes the lowered clock at its next
 *    transaction (the clock's epoch);
 *  - the clock's `seen` (highest clock received) survives a reopen;
 *  - a failure at the commit leaves every clock as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "storeInt.h"
#include "hand_batch.h"
#include "testutil.h"

static const fs_column item_cols[] = {{"a", FS_COL_TEXT, 0, 0}, {"b", FS_COL_TEXT, 0, 0}};
static const fs_table tables[] = {{"items", FS_OWNER_SHARED, item_cols, 2}};
static const fs_schema schema = {"reclocktest", 1, tables, 1};

#define T0 1767600000000LL /* 2026-01-05T08:00:00Z */
#define DAY (24LL * 3600 * 1000)
#define MIN (60LL * 1000)
#define H(ms) ((int64_t)((uint64_t)(ms) << HLC_LOGICAL_BITS))

static int64_t g_now;
static int64_t test_now(void *user) {
  (void)user;
  return g_now;
}

static char *g_dir;

static fs_store *open_store(const char *name) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s.db", g_dir, name);
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, path, &schema, FS_OPEN_CREATE));
  return st;
}

/* The clock of column col of row pk (the row clock for col < 0), and the
 * base of its cell. */
static int64_t clock_of(fs_store *st, const char *pk, int col, int64_t *base) {
  struct fsi_arena *a = fsi_arena_new(1024);
  fsi_row r;
  int64_t h = -1;
  if (base) *base = -1;
  if (fsi_row_load(st, fsi_store_table(st, "items"), pk, a, &r) == FS_OK) {
    h = r.hlc;
    if (r.state == ROW_LIVE && col >= 0 && r.has_cell[col]) {
      h = r.cells[col].hlc;
      if (base) *base = r.cells[col].bhlc;
    }
    if (r.state == ROW_TOMB && base) *base = r.seen;
  }
  fsi_arena_free(a);
  return h;
}

static char *value_of(fs_store *st, const char *pk, int col) {
  struct fsi_arena *a = fsi_arena_new(1024);
  fsi_row r;
  char *v = NULL;
  if (fsi_row_load(st, fsi_store_table(st, "items"), pk, a, &r) == FS_OK && r.state == ROW_LIVE &&
      r.vals[col].type == FS_VAL_TEXT)
    v = strndup(r.vals[col].s, r.vals[col].n);
  fsi_arena_free(a);
  return v;
}

/* Everything pending goes into an outbox, which head office acknowledges:
 * those clocks are let out. */
static void let_out_all(fs_store *st) {
  fsi_batch *b = fsi_change_batch_new();
  fsi_merge_cursor from, next;
  fsi_devstate_chain acked;
  int more = 0;
  CHECK_OK(fsi_devstate_push_get(&acked, st));
  CHECK_OK(fsi_merge_cursor_parse(&from, acked.cursor));
  CHECK_OK(fsi_merge_changes_since(st, &from, NULL, 0, b, &next, &more));
  fsi_devstate_outbox e;
  memset(&e, 0, sizeof e);
  unsigned char env[4] = {1, 2, 3, 4};
  e.env = env;
  e.len = sizeof env;
  fsi_merge_cursor_format(&next, e.cursor, sizeof e.cursor);
  CHECK_OK(fs_tx_begin(st));
  CHECK_OK(fsi_devstate_outbox_put(st, &e));
  CHECK_OK(fs_tx_commit(st));
  CHECK_OK(fs_tx_begin(st));
  CHECK_OK(fsi_devstate_outbox_clear(st));
  memcpy(acked.cursor, e.cursor, sizeof acked.cursor);
  acked.seq++;
  CHECK_OK(fsi_devstate_push_set(st, &acked));
  CHECK_OK(fs_tx_commit(st));
  fsi_change_batch_free(b);
}

/* Puts what is pending into the outbox and leaves it there (sent, not
 * acknowledged yet). */
static void outbox_out(fs_store *st) {
  fsi_batch *b = fsi_change_batch_new();
  fsi_merge_cursor from, next;
  int more = 0;
  CHECK_OK(fsi_merge_cursor_parse(&from, ""));
  CHECK_OK(fsi_merge_changes_since(st, &from, NULL, 0, b, &next, &more));
  fsi_devstate_outbox e;
  memset(&e, 0, sizeof e);
  unsigned char env[4] = {1, 2, 3, 4};
  e.env = env;
  e.len = sizeof env;
  fsi_merge_cursor_format(&next, e.cursor, sizeof e.cursor);
  CHECK_OK(fs_tx_begin(st));
  CHECK_OK(fsi_devstate_outbox_put(st, &e));
  CHECK_OK(fs_tx_commit(st));
  fsi_change_batch_free(b);
}

static void set(fs_store *st, const char *pk, const char *col, const char *v) {
  CHECK_OK(fs_update(st, "items", pk, (fs_field[]){{col, v}}, 1));
}

/* ---------------------------------------------------------------- cases */

static void test_reissues_what_never_left(void) {
  fs_store *st = open_store("never-left");
  char old[FS_ID_SIZE], fresh[FS_ID_SIZE], other[FS_ID_SIZE];
  g_now = T0;
  CHECK_OK(fs_insert(old, st, "items", (fs_field[]){{"a", "old"}, {"b", "b0"}}, 2));
  let_out_all(st);
  int64_t old_row = clock_of(st, old, -1, NULL);
  /* a change from another site, received (not let out by this one) */
  fsi_batch *bt = hand_batch(&schema);
  const char *rid = "01900000-0000-7000-8000-0000000000aa";
  fsi_rowchange *r = hand_row(bt, "items", rid, 1, H(T0 + 5 * MIN), 0x77);
  hand_text(bt, r, "a", "theirs");
  fsi_merge_opts mo = {0x77, NULL};
  fsi_merge_result res;
  g_now = T0 + 5 * MIN;
  CHECK_OK(fsi_merge_apply(st, bt, &mo, &res));
  fsi_merge_result_free(&res);
  fsi_change_batch_free(bt);

  /* the clock goes two days ahead */
  g_now = T0 + 2 * DAY;
  set(st, old, "b", "b1 ahead");
  CHECK_OK(fs_insert(fresh, st, "items", (fs_field[]){{"a", "new while ahead"}}, 1));
  set(st, rid, "a", "mine over theirs");
  CHECK_OK(fs_insert(other, st, "items", (fs_field[]){{"a", "last while ahead"}}, 1));
  int64_t b_old = clock_of(st, old, 1, NULL), fresh_old = clock_of(st, fresh, -1, NULL);
  int64_t rid_old = clock_of(st, rid, 0, NULL), other_old = clock_of(st, other, -1, NULL);
  CHECK(HLC_PHYS(fsi_store_clock(st)) >= T0 + 2 * DAY);

  /* put right: ten minutes after T0 */
  g_now = T0 + 10 * MIN;
  fsi_reclock_result rr;
  CHECK_OK(fsi_reclock(st, g_now, 0, &rr));
  CHECK_EQ_INT(rr.clocks, 4);
  int64_t b_base, rid_base;
  int64_t b_new = clock_of(st, old, 1, &b_base), fresh_new = clock_of(st, fresh, -1, NULL);
  int64_t rid_new = clock_of(st, rid, 0, &rid_base), other_new = clock_of(st, other, -1, NULL);
  /* what was let out, and the received clock, stay */
  CHECK_EQ_INT(clock_of(st, old, -1, NULL), old_row);
  CHECK_EQ_INT(clock_of(st, rid, -1, NULL), H(T0 + 5 * MIN));
  CHECK_EQ_INT(b_base, old_row);
  CHECK_EQ_INT(rid_base, H(T0 + 5 * MIN));
  /* the new clocks: in the old order, above all they saw, not ahead */
  CHECK(b_old < fresh_old && fresh_old < rid_old && rid_old < other_old);
  CHECK(b_new < fresh_new && fresh_new < rid_new && rid_new < other_new);
  CHECK(b_new > old_row);
  CHECK(b_new > H(T0 + 5 * MIN)); /* above the clock received */
  CHECK(HLC_PHYS(other_new) <= T0 + 10 * MIN);
  /* the values stay */
  char *v = value_of(st, old, 1);
  CHECK_STR(v, "b1 ahead");
  free(v);
  v = value_of(st, rid, 0);
  CHECK_STR(v, "mine over theirs");
  free(v);
  /* the store's clock is back: the next write takes the wall clock */
  CHECK(HLC_PHYS(fsi_store_clock(st)) < T0 + 10 * MIN);
  CHECK_EQ_INT(rr.kept_ahead, 0);
  char later[FS_ID_SIZE];
  CHECK_OK(fs_insert(later, st, "items", (fs_field[]){{"a", "after"}}, 1));
  CHECK_EQ_INT(clock_of(st, later, -1, NULL), H(T0 + 10 * MIN));
  CHECK(clock_of(st, later, -1, NULL) > other_new);
  /* and again: nothing left to do */
  CHECK_OK(fsi_reclock(st, g_now, 0, &rr));
  CHECK_EQ_INT(rr.clocks, 0);
  fs_store_close(st);
}

static void test_skew_places_the_clocks(void) {
  fs_store *st = open_store("skew");
  char id[FS_ID_SIZE], id2[FS_ID_SIZE];
  g_now = T0;
  CHECK_OK(fs_insert(id, st, "items", (fs_field[]){{"a", "start"}}, 1));
  let_out_all(st);
  /* edits one and three minutes after T0, under a clock two days ahead */
  g_now = T0 + 2 * DAY + 1 * MIN;
  set(st, id, "a", "edited at T0 + 1 min");
  g_now = T0 + 2 * DAY + 3 * MIN;
  CHECK_OK(fs_insert(id2, st, "items", (fs_field[]){{"a", "made at T0 + 3 min"}}, 1));
  /* head office measured the laptop two days ahead */
  CHECK_OK(fsi_reclock_note_skew(st, 2 * DAY));
  g_now = T0 + 20 * MIN;
  fsi_reclock_result rr;
  CHECK_OK(fsi_reclock(st, g_now, 0, &rr));
  CHECK_EQ_INT(rr.clocks, 2);
  CHECK_EQ_INT(HLC_PHYS(clock_of(st, id, 0, NULL)), T0 + 1 * MIN);
  CHECK_EQ_INT(HLC_PHYS(clock_of(st, id2, -1, NULL)), T0 + 3 * MIN);
  /* the note is used up */
  int64_t v = 0;
  CHECK_ERR(
      fsi_sql_i64(st, &v, "t", "SELECT value FROM fs_meta WHERE key = ?1", "t", "clock_ahead_ms"),
      FS_ENOTFOUND);
  fs_store_close(st);
}

static void test_keeps_what_was_let_out(void) {
  fs_store *st = open_store("let-out");
  char acked[FS_ID_SIZE], sent[FS_ID_SIZE];
  g_now = T0 + 30 * MIN; /* within head office's bound: it took these */
  CHECK_OK(fs_insert(acked, st, "items", (fs_field[]){{"a", "acknowledged"}}, 1));
  let_out_all(st);
  CHECK_OK(fs_insert(sent, st, "items", (fs_field[]){{"a", "sent, answer lost"}}, 1));
  outbox_out(st);
  int64_t acked_h = clock_of(st, acked, -1, NULL), sent_h = clock_of(st, sent, -1, NULL);
  int64_t bound = 0;
  CHECK_OK(fsi_devstate_let_out(st, &bound));
  CHECK(bound >= sent_h);
  CHECK(bound < H(T0 + 31 * MIN)); /* the batch's own clocks, not the store's clock */
  g_now = T0;
  fsi_reclock_result rr;
  CHECK_OK(fsi_reclock(st, g_now, 0, &rr));
  CHECK_EQ_INT(rr.clocks, 0);
  CHECK_EQ_INT(clock_of(st, acked, -1, NULL), acked_h);
  CHECK_EQ_INT(clock_of(st, sent, -1, NULL), sent_h);
  CHECK(fsi_store_clock(st) >= sent_h);
  CHECK_EQ_INT(rr.kept_ahead, sent_h);
  /* a new write still goes above what head office may hold */
  char next[FS_ID_SIZE];
  CHECK_OK(fs_insert(next, st, "items", (fs_field[]){{"a", "next"}}, 1));
  CHECK(clock_of(st, next, -1, NULL) > sent_h);
  fs_store_close(st);
}

static void test_refused_outbox_unsealed(void) {
  fs_store *st = open_store("unseal");
  char id[FS_ID_SIZE];
  g_now = T0 + 2 * DAY;
  CHECK_OK(fs_insert(id, st, "items", (fs_field[]){{"a", "refused"}}, 1));
  outbox_out(st);
  int64_t h = clock_of(st, id, -1, NULL);
  g_now = T0;
  fsi_reclock_result rr;
  /* still out: kept */
  CHECK_OK(fsi_reclock(st, g_now, 0, &rr));
  CHECK_EQ_INT(rr.clocks, 0);
  CHECK_EQ_INT(clock_of(st, id, -1, NULL), h);
  /* refused: unsealed and re-issued */
  CHECK_OK(fsi_reclock(st, g_now, 1, &rr));
  CHECK_EQ_INT(rr.clocks, 1);
  CHECK(HLC_PHYS(clock_of(st, id, -1, NULL)) <= T0);
  fsi_devstate_outbox e;
  CHECK_OK(fsi_devstate_outbox_get(&e, st));
  CHECK(e.env == NULL);
  int64_t bound = -1;
  CHECK_OK(fsi_devstate_let_out(st, &bound));
  CHECK_EQ_INT(bound, 0);
  fs_store_close(st);
}

static void test_tombstones(void) {
  fs_store *st = open_store("tomb");
  char id[FS_ID_SIZE];
  g_now = T0;
  CHECK_OK(fs_insert(id, st, "items", (fs_field[]){{"a", "to delete"}}, 1));
  let_out_all(st);
  int64_t row = clock_of(st, id, -1, NULL);
  g_now = T0 + 2 * DAY;
  set(st, id, "b", "edited then deleted");
  CHECK_OK(fs_delete(st, "items", id));
  int64_t seen_old, tomb_old = clock_of(st, id, -1, &seen_old);
  CHECK(seen_old > row && tomb_old > seen_old);
  g_now = T0 + MIN;
  fsi_reclock_result rr;
  CHECK_OK(fsi_reclock(st, g_now, 0, &rr));
  int64_t seen_new, tomb_new = clock_of(st, id, -1, &seen_new);
  CHECK(tomb_new > row);
  CHECK(seen_new < tomb_new);
  CHECK(seen_new >= row);
  CHECK(HLC_PHYS(tomb_new) <= T0 + MIN);
  fs_store_close(st);
}

static void test_other_handle_follows(void) {
  fs_store *a = open_store("two-handles"), *b = open_store("two-handles");
  char id[FS_ID_SIZE], id2[FS_ID_SIZE];
  g_now = T0 + 2 * DAY;
  CHECK_OK(fs_insert(id, b, "items", (fs_field[]){{"a", "from b, ahead"}}, 1));
  g_now = T0;
  fsi_reclock_result rr;
  CHECK_OK(fsi_reclock(a, g_now, 0, &rr));
  CHECK_EQ_INT(rr.clocks, 1);
  /* b's clock in memory is two days ahead; its next write takes the store's */
  CHECK_OK(fs_insert(id2, b, "items", (fs_field[]){{"a", "from b, after"}}, 1));
  CHECK_EQ_INT(HLC_PHYS(clock_of(b, id2, -1, NULL)), T0);
  CHECK(clock_of(b, id2, -1, NULL) > clock_of(b, id, -1, NULL));
  fs_store_close(a);
  fs_store_close(b);
}

static void test_seen_survives_reopen(void) {
  fs_store *st = open_store("seen");
  fsi_batch *bt = hand_batch(&schema);
  const char *rid = "01900000-0000-7000-8000-0000000000bb";
  fsi_rowchange *r = hand_row(bt, "items", rid, 1, H(T0 + 7 * MIN), 0x99);
  hand_text(bt, r, "a", "x");
  fsi_merge_opts mo = {0x99, NULL};
  fsi_merge_result res;
  g_now = T0;
  CHECK_OK(fsi_merge_apply(st, bt, &mo, &res));
  fsi_merge_result_free(&res);
  fsi_change_batch_free(bt);
  CHECK_EQ_INT(st->clock.seen, H(T0 + 7 * MIN));
  fs_store_close(st);
  st = open_store("seen");
  CHECK_EQ_INT(st->clock.seen, H(T0 + 7 * MIN));
  fs_store_close(st);
}

#ifdef FS_TEST_HOOKS
static int fail_reclock(void *user, const char *point) {
  (void)user;
  return !strcmp(point, "reclock-commit");
}

static void test_fault_changes_nothing(void) {
  fs_store *st = open_store("fault");
  char id[FS_ID_SIZE];
  g_now = T0 + 2 * DAY;
  CHECK_OK(fs_insert(id, st, "items", (fs_field[]){{"a", "ahead"}}, 1));
  int64_t h = clock_of(st, id, -1, NULL), clock = fsi_store_clock(st);
  g_now = T0;
  fsi_util_set_fault(fail_reclock, NULL);
  fsi_reclock_result rr;
  CHECK_ERR(fsi_reclock(st, g_now, 0, &rr), FS_EIO);
  fsi_util_set_fault(NULL, NULL);
  CHECK_EQ_INT(clock_of(st, id, -1, NULL), h);
  CHECK_EQ_INT(fsi_store_clock(st), clock);
  CHECK_OK(fsi_reclock(st, g_now, 0, &rr));
  CHECK(clock_of(st, id, -1, NULL) < h);
  fs_store_close(st);
}
#endif

int main(void) {
  g_dir = tu_tmpdir("reclock");
  fsi_util_set_clock(test_now, NULL);
  TEST_RUN(test_reissues_what_never_left);
  TEST_RUN(test_skew_places_the_clocks);
  TEST_RUN(test_keeps_what_was_let_out);
  TEST_RUN(test_refused_outbox_unsealed);
  TEST_RUN(test_tombstones);
  TEST_RUN(test_other_handle_follows);
  TEST_RUN(test_seen_survives_reopen);
#ifdef FS_TEST_HOOKS
  TEST_RUN(test_fault_changes_nothing);
#endif
  fsi_util_set_clock(NULL, NULL);
  int rc = tu_finish();
  if (rc == 0) tu_rmrf(g_dir);
  free(g_dir);
  return rc;
}
