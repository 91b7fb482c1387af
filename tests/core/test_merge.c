/*
 * test_merge.c — the merge rules of core/merge.c (docs/merge.md), checked on
 * small in-memory replicas that exchange fsi_merge_changes_since batches.
 *
 * Covers: per-column last-writer-wins (the later edit wins whichever site
 * made it; the site id breaks an exact clock tie, in any order); disjoint
 * column edits both survive (the W4 workload rule); exactly one conflict
 * per concurrent same-column edit with different values, with its fields
 * in the "conflicts" view; no conflict for an edit made after seeing the
 * other value or for equal values; idempotence; a cell edited 50 times
 * ships once; delete versus concurrent update (the delete wins, the lost
 * update is logged with column "*" naming its writer, and can be restored);
 * re-insert after delete; children before their parent and after its
 * deletion are kept; the clock skew bound (FS_ESKEW, nothing applied, clock
 * untouched); the write policy (head-office tables and columns refused per
 * row or per cell, logged once, the rest applied); bounded extraction with
 * cursors; cursor text round trip and rejection of malformed cursors; echo
 * suppression; conflict resolution (keep loser / keep winner / twice).
 *
 * Wall time is pinned with FIELDSYNC_TEST_NOW_MS so that "later" is exact.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "storeInt.h"
#include "hand_batch.h"
#include "testutil.h"
#include "util.h"

#define T0 1767600000000LL /* 2026-01-05T08:00:00Z */

static const fs_column item_cols[] = {
    {"a", FS_COL_TEXT, 0, 0}, {"b", FS_COL_INT, 0, 0}, {"c", FS_COL_TEXT, 0, 0}};
static const fs_column record_cols[] = {
    {"customer_id", FS_COL_TEXT, 0, 0}, {"kind", FS_COL_TEXT, 0, 0},
    {"created_at", FS_COL_TEXT, 0, 0},  {"amount", FS_COL_INT, 0, 0},
    {"currency", FS_COL_TEXT, 0, 0},    {"note", FS_COL_TEXT, 0, 0},
    {"qty", FS_COL_INT, 0, 0}};
static const fs_column hq_cols[] = {{"k", FS_COL_TEXT, 0, 0}, {"v", FS_COL_INT, 0, 0}};
static const fs_column owned_cols[] = {{"name", FS_COL_TEXT, 0, 0},
                                       {"boss", FS_COL_TEXT, FS_COL_HQ, 0},
                                       {"boss2", FS_COL_TEXT, FS_COL_HQ, 0}};
static const fs_table tables[] = {{"items", FS_OWNER_SHARED, item_cols, 3},
                                  {"records", FS_OWNER_DEVICE, record_cols, 7},
                                  {"hqdata", FS_OWNER_HQ, hq_cols, 2},
                                  {"owned", FS_OWNER_SHARED, owned_cols, 3}};
static const fs_schema schema = {"mergetest", 1, tables, 4};

/* ------------------------------------------------------------ helpers */

static void set_now(int64_t ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)ms);
  setenv("FIELDSYNC_TEST_NOW_MS", buf, 1);
}

static fs_store *open_mem(const fs_schema *sc, unsigned flags) {
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, ":memory:", sc, FS_OPEN_CREATE | flags));
  if (!st) abort();
  return st;
}

/* A device store of the default schema for manager `mgr`. */
static fs_store *open_device(const char *mgr, fs_store *hq) {
  fs_store *st = open_mem(NULL, 0);
  CHECK_OK(fs_store_set(st, "manager", mgr));
  if (hq) CHECK_OK(fs_store_set_hq_site(st, fs_store_site(hq)));
  return st;
}

/* Sends every change of `from` after *cur (NULL: from the beginning) to
 * `to` in batches of max_rows; returns the conflicts `to` logged. */
static size_t sync_ex(fs_store *from, fs_store *to, fsi_merge_cursor *cur, const char *mgr_filter,
                      const char *sender_mgr, size_t max_rows) {
  fsi_merge_cursor c0 = {0, -1, ""};
  fsi_merge_cursor *c = cur ? cur : &c0;
  fsi_merge_filter f = {fs_store_site(to), mgr_filter, 1, 0};
  fsi_batch *b = fsi_change_batch_new();
  int more = 1;
  size_t conflicts = 0;
  while (more) {
    fsi_merge_cursor next;
    int rc = fsi_merge_changes_since(from, c, &f, max_rows, b, &next, &more);
    CHECK_OK(rc);
    if (rc) break;
    fsi_merge_opts o = {fs_store_site(from), sender_mgr};
    fsi_merge_result res;
    rc = fsi_merge_apply(to, b, &o, &res);
    CHECK_OK(rc);
    conflicts += res.conflicts;
    fsi_merge_result_free(&res);
    if (rc) break;
    *c = next;
  }
  fsi_change_batch_free(b);
  return conflicts;
}

static size_t sync1(fs_store *from, fs_store *to) {
  return sync_ex(from, to, NULL, NULL, NULL, 1000);
}

static void sync_both(fs_store *a, fs_store *b) {
  sync1(a, b);
  sync1(b, a);
}

/* Row state and column values as a replica holds them. */
typedef struct held {
  int state;
  int64_t cl;
  char text[12][128];
  int64_t num[12];
  int isnull[12];
} held;

static held get_row(fs_store *st, const char *table, const char *pk) {
  held h;
  memset(&h, 0, sizeof h);
  fsi_tbl_state *ts = fsi_store_table(st, table);
  struct fsi_arena *a = fsi_arena_new(4096);
  fsi_row r;
  CHECK_OK(fsi_row_load(st, ts, pk, a, &r));
  h.state = r.state;
  h.cl = r.cl;
  for (size_t i = 0; r.state == ROW_LIVE && i < ts->decl->ncols && i < 12; i++) {
    h.isnull[i] = r.vals[i].type == FS_VAL_NULL;
    if (r.vals[i].type == FS_VAL_TEXT) snprintf(h.text[i], sizeof h.text[i], "%s", r.vals[i].s);
    if (r.vals[i].type == FS_VAL_INT) h.num[i] = r.vals[i].i;
  }
  fsi_arena_free(a);
  return h;
}

static int64_t count(fs_store *st, const char *sql) {
  sqlite3_stmt *s = NULL;
  int64_t n = -1;
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return n;
}

static char *export_of(fs_store *st) {
  char *e = NULL;
  CHECK_OK(fs_view_json(&e, st, "export", NULL));
  return e;
}

static void check_same_export(fs_store *a, fs_store *b) {
  char *ea = export_of(a), *eb = export_of(b);
  CHECK(ea && eb && strcmp(ea, eb) == 0);
  fs_free(ea);
  fs_free(eb);
}

static cJSON *view(fs_store *st, const char *name, const char *arg) {
  char *j = NULL;
  CHECK_OK(fs_view_json(&j, st, name, arg));
  cJSON *doc = j ? cJSON_Parse(j) : NULL;
  CHECK(doc != NULL);
  fs_free(j);
  return doc;
}

static const char *jstr(const cJSON *o, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The clock of column col of row pk (its own entry or the row clock). */
static void cell_clock(fs_store *st, const char *table, const char *pk, int col, int64_t *hlc,
                       int64_t *site) {
  struct fsi_arena *a = fsi_arena_new(4096);
  fsi_row r;
  CHECK_OK(fsi_row_load(st, fsi_store_table(st, table), pk, a, &r));
  *hlc = r.has_cell && r.has_cell[col] ? r.cells[col].hlc : r.hlc;
  *site = r.has_cell && r.has_cell[col] ? r.cells[col].site : r.site;
  fsi_arena_free(a);
}

/* --- batches built by hand (a misbehaving or tampered peer) --- */

/* ------------------------------------------------------------- tests */

static void test_later_edit_wins(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char r1[FS_ID_SIZE], r2[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(r1, a, "items", (fs_field[]){{"a", "orig"}, {"b", "1"}, {"c", "keep"}}, 3));
  CHECK_OK(fs_insert(r2, a, "items", (fs_field[]){{"a", "orig"}, {"b", "2"}}, 2));
  sync1(a, b);
  /* r1: B edits later; r2: A edits later (so the site id does not decide) */
  set_now(T0 + 1000);
  CHECK_OK(fs_update(a, "items", r1, (fs_field[]){{"a", "A early"}}, 1));
  CHECK_OK(fs_update(b, "items", r2, (fs_field[]){{"a", "B early"}}, 1));
  set_now(T0 + 2000);
  CHECK_OK(fs_update(b, "items", r1, (fs_field[]){{"a", "B late"}}, 1));
  CHECK_OK(fs_update(a, "items", r2, (fs_field[]){{"a", "A late"}}, 1));
  set_now(T0 + 3000);
  sync_both(a, b);
  fs_store *reps[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    held h1 = get_row(reps[i], "items", r1), h2 = get_row(reps[i], "items", r2);
    CHECK_STR(h1.text[0], "B late");
    CHECK_EQ_INT(h1.num[1], 1);
    CHECK_STR(h1.text[2], "keep");
    CHECK_STR(h2.text[0], "A late");
    CHECK_EQ_INT(h2.num[1], 2);
  }
  check_same_export(a, b);
  fs_store_close(a);
  fs_store_close(b);
}

static void test_site_breaks_exact_tie(void) {
  set_now(T0);
  const char *pk = "01900000-0000-7000-8000-000000000001";
  int64_t h = T0 << HLC_LOGICAL_BITS;
  fsi_batch *lo = hand_batch(&schema), *hi = hand_batch(&schema);
  hand_text(lo, hand_row(lo, "items", pk, 1, h, 100), "a", "site 100");
  hand_text(hi, hand_row(hi, "items", pk, 1, h, 200), "a", "site 200");
  fs_store *x = open_mem(&schema, 0), *y = open_mem(&schema, 0);
  fsi_merge_result res;
  fsi_merge_opts o = {100, NULL};
  CHECK_OK(fsi_merge_apply(x, lo, &o, &res));
  fsi_merge_result_free(&res);
  o.sender = 200;
  CHECK_OK(fsi_merge_apply(x, hi, &o, &res));
  fsi_merge_result_free(&res);
  CHECK_OK(fsi_merge_apply(y, hi, &o, &res));
  fsi_merge_result_free(&res);
  o.sender = 100;
  CHECK_OK(fsi_merge_apply(y, lo, &o, &res));
  fsi_merge_result_free(&res);
  CHECK_STR(get_row(x, "items", pk).text[0], "site 200");
  CHECK_STR(get_row(y, "items", pk).text[0], "site 200");
  check_same_export(x, y);
  fsi_change_batch_free(lo);
  fsi_change_batch_free(hi);
  fs_store_close(x);
  fs_store_close(y);
}

/* W4: A edits amount+note, B edits amount+qty of the same rows offline. */
static void test_disjoint_columns_survive(void) {
  enum { N = 20 };
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char ids[N][FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_tx_begin(a));
  for (int i = 0; i < N; i++) {
    char amount[16], qty[16], note[32];
    snprintf(amount, sizeof amount, "%d", 1000 * i);
    snprintf(qty, sizeof qty, "%d", i + 1);
    snprintf(note, sizeof note, "note %d", i);
    fs_field f[] = {{"customer_id", "C00001"},
                    {"kind", "order"},
                    {"created_at", "2026-01-05T08:00:00Z"},
                    {"amount", amount},
                    {"currency", "EUR"},
                    {"note", note},
                    {"qty", qty}};
    CHECK_OK(fs_insert(ids[i], a, "records", f, 7));
  }
  CHECK_OK(fs_tx_commit(a));
  sync1(a, b);
  set_now(T0 + 1000);
  for (int i = 0; i < N; i++) {
    char amount[16], note[32];
    snprintf(amount, sizeof amount, "%d", 1000 * i + 1000);
    snprintf(note, sizeof note, "A: note %d", i);
    CHECK_OK(fs_update(a, "records", ids[i], (fs_field[]){{"amount", amount}, {"note", note}}, 2));
  }
  set_now(T0 + 2000);
  for (int i = 0; i < N; i++) {
    char amount[16], qty[16];
    snprintf(amount, sizeof amount, "%d", 1000 * i + 2000);
    snprintf(qty, sizeof qty, "%d", i + 2);
    CHECK_OK(fs_update(b, "records", ids[i], (fs_field[]){{"amount", amount}, {"qty", qty}}, 2));
  }
  set_now(T0 + 3000);
  CHECK_EQ_INT(sync1(a, b), N);
  CHECK_EQ_INT(sync1(b, a), N);
  CHECK_EQ_INT(sync1(a, b), 0); /* "both sync twice" */
  CHECK_EQ_INT(sync1(b, a), 0);
  fs_store *reps[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < N; i++) {
      held h = get_row(reps[k], "records", ids[i]);
      char note[32];
      snprintf(note, sizeof note, "A: note %d", i);
      CHECK_EQ_INT(h.num[3], 1000 * i + 2000); /* amount: later writer (B) */
      CHECK_STR(h.text[5], note);              /* A's note kept */
      CHECK_EQ_INT(h.num[6], i + 2);           /* B's qty kept */
    }
    CHECK_EQ_INT(count(reps[k], "SELECT count(*) FROM fs_conflict"), N);
    CHECK_EQ_INT(count(reps[k], "SELECT count(*) FROM fs_conflict WHERE col='amount'"), N);
  }
  check_same_export(a, b);
  fs_store_close(a);
  fs_store_close(b);
}

static void test_one_conflict_per_concurrent_edit(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char id[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(id, a, "items", (fs_field[]){{"a", "orig"}}, 1));
  sync1(a, b);
  set_now(T0 + 1000);
  CHECK_OK(fs_update(a, "items", id, (fs_field[]){{"a", "from A"}}, 1));
  set_now(T0 + 2000);
  CHECK_OK(fs_update(b, "items", id, (fs_field[]){{"a", "from B"}}, 1));
  int64_t ah, as, bh, bs;
  cell_clock(a, "items", id, 0, &ah, &as);
  cell_clock(b, "items", id, 0, &bh, &bs);
  CHECK_EQ_INT(sync1(a, b), 1);
  CHECK_EQ_INT(sync1(b, a), 1);
  CHECK_EQ_INT(sync1(a, b), 0);
  CHECK_EQ_INT(sync1(b, a), 0);
  fs_store *reps[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    CHECK_EQ_INT(count(reps[k], "SELECT count(*) FROM fs_conflict"), 1);
    CHECK_STR(get_row(reps[k], "items", id).text[0], "from B");
    cJSON *doc = view(reps[k], "conflicts", NULL);
    CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
    const cJSON *c = cJSON_GetArrayItem(doc, 0);
    if (c) {
      char hb[32], ha[32];
      snprintf(hb, sizeof hb, "%" PRId64, bh);
      snprintf(ha, sizeof ha, "%" PRId64, ah);
      CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "id")));
      CHECK_STR(jstr(c, "table"), "items");
      CHECK_STR(jstr(c, "row"), id);
      CHECK_STR(jstr(c, "column"), "a");
      CHECK_STR(jstr(c, "winner"), "from B");
      CHECK_STR(jstr(c, "loser"), "from A");
      CHECK_STR(jstr(c, "winner_site"), fs_store_device_id(b));
      CHECK_STR(jstr(c, "loser_site"), fs_store_device_id(a));
      CHECK_STR(jstr(c, "winner_hlc"), hb);
      CHECK_STR(jstr(c, "loser_hlc"), ha);
      CHECK_STR(jstr(c, "detected_at"), "2026-01-05T08:00:02Z");
      CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "resolution")));
    }
    cJSON_Delete(doc);
  }
  fs_store_close(a);
  fs_store_close(b);
}

static void test_not_conflicts(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char r1[FS_ID_SIZE], r2[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(r1, a, "items", (fs_field[]){{"a", "orig"}, {"b", "1"}}, 2));
  CHECK_OK(fs_insert(r2, a, "items", (fs_field[]){{"a", "orig"}, {"b", "1"}}, 2));
  sync1(a, b);
  /* r1: B edits after seeing A's edit, then A after seeing B's */
  set_now(T0 + 1000);
  CHECK_OK(fs_update(a, "items", r1, (fs_field[]){{"a", "A1"}}, 1));
  CHECK_EQ_INT(sync1(a, b), 0);
  CHECK_OK(fs_update(b, "items", r1, (fs_field[]){{"a", "B1"}}, 1));
  CHECK_EQ_INT(sync1(b, a), 0);
  CHECK_OK(fs_update(a, "items", r1, (fs_field[]){{"a", "A2"}}, 1));
  CHECK_EQ_INT(sync1(a, b), 0);
  /* r2: both set the same value concurrently (text and integer) */
  CHECK_OK(fs_update(a, "items", r2, (fs_field[]){{"a", "same"}, {"b", "7"}}, 2));
  set_now(T0 + 2000);
  CHECK_OK(fs_update(b, "items", r2, (fs_field[]){{"a", "same"}, {"b", "7"}}, 2));
  CHECK_EQ_INT(sync1(a, b), 0);
  CHECK_EQ_INT(sync1(b, a), 0);
  CHECK_EQ_INT(count(a, "SELECT count(*) FROM fs_conflict"), 0);
  CHECK_EQ_INT(count(b, "SELECT count(*) FROM fs_conflict"), 0);
  CHECK_STR(get_row(a, "items", r1).text[0], "A2");
  CHECK_STR(get_row(b, "items", r1).text[0], "A2");
  check_same_export(a, b);
  fs_store_close(a);
  fs_store_close(b);
}

static void test_idempotent(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char id[FS_ID_SIZE], id2[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(id, a, "items", (fs_field[]){{"a", "orig"}}, 1));
  CHECK_OK(fs_insert(id2, a, "items", (fs_field[]){{"a", "doomed"}}, 1));
  sync1(a, b);
  set_now(T0 + 1000);
  CHECK_OK(fs_update(a, "items", id, (fs_field[]){{"a", "A"}, {"c", "A only"}}, 2));
  CHECK_OK(fs_delete(a, "items", id2));
  CHECK_OK(fs_update(b, "items", id, (fs_field[]){{"a", "B"}}, 1));
  fsi_batch *batch = fsi_change_batch_new();
  fsi_merge_cursor from = {0, -1, ""}, next;
  fsi_merge_filter f = {fs_store_site(b), NULL, 0, 0};
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(a, &from, &f, 100, batch, &next, &more));
  CHECK_EQ_INT(batch->nrows, 2);
  fsi_merge_opts o = {fs_store_site(a), NULL};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(b, batch, &o, &res));
  CHECK_EQ_INT(res.applied, 2);
  CHECK_EQ_INT(res.conflicts, 1);
  fsi_merge_result_free(&res);
  char *before = export_of(b);
  int64_t seq = b->seq; /* the last change number b handed out */
  CHECK_OK(fsi_merge_apply(b, batch, &o, &res));
  CHECK_EQ_INT(res.rows, 2);
  CHECK_EQ_INT(res.applied, 0);
  CHECK_EQ_INT(res.conflicts, 0);
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(count(b, "SELECT count(*) FROM fs_conflict"), 1);
  char *after = export_of(b);
  CHECK(before && after && !strcmp(before, after));
  /* nothing new to send on from b: no row changed after that change */
  fsi_merge_cursor since = {seq, -1, ""};
  f.exclude_src = 12345;
  CHECK_OK(fsi_merge_changes_since(b, &since, &f, 100, batch, &next, &more));
  CHECK_EQ_INT(batch->nrows, 0);
  fs_free(before);
  fs_free(after);
  fsi_change_batch_free(batch);
  fs_store_close(a);
  fs_store_close(b);
}

static void test_edited_50_times_ships_once(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char id[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(id, a, "items", (fs_field[]){{"a", "v0"}, {"b", "0"}}, 2));
  fsi_merge_cursor cur = {0, -1, ""};
  sync_ex(a, b, &cur, NULL, NULL, 1000);
  for (int i = 1; i <= 50; i++) {
    char v[8];
    snprintf(v, sizeof v, "v%d", i);
    CHECK_OK(fs_update(a, "items", id, (fs_field[]){{"a", v}}, 1));
  }
  fsi_batch *batch = fsi_change_batch_new();
  fsi_merge_cursor next;
  fsi_merge_filter f = {fs_store_site(b), NULL, 0, 0};
  int more = 1;
  CHECK_OK(fsi_merge_changes_since(a, &cur, &f, 1000, batch, &next, &more));
  CHECK_EQ_INT(batch->nrows, 1);
  CHECK_EQ_INT(more, 0);
  if (batch->nrows == 1) {
    const fsi_rowchange *r = &batch->rows[0];
    CHECK_STR(r->pk, id);
    CHECK_EQ_INT(r->vals[0].type, FS_VAL_TEXT);
    CHECK_STR(r->vals[0].s, "v50");
    CHECK_EQ_INT(r->ncells, 1);
  }
  fsi_merge_opts o = {fs_store_site(a), NULL};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(b, batch, &o, &res));
  fsi_merge_result_free(&res);
  CHECK_STR(get_row(b, "items", id).text[0], "v50");
  fsi_change_batch_free(batch);
  fs_store_close(a);
  fs_store_close(b);
}

static void test_delete_vs_concurrent_update(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char r1[FS_ID_SIZE], r2[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(r1, a, "items", (fs_field[]){{"a", "orig"}, {"b", "5"}}, 2));
  CHECK_OK(fs_insert(r2, a, "items", (fs_field[]){{"a", "orig"}}, 1));
  sync1(a, b);
  /* r1: B deletes while A (not having seen it) edits */
  set_now(T0 + 1000);
  CHECK_OK(fs_update(a, "items", r1, (fs_field[]){{"a", "edited"}}, 1));
  CHECK_OK(fs_delete(b, "items", r1));
  /* r2: B deletes after seeing A's edit: no conflict */
  CHECK_OK(fs_update(a, "items", r2, (fs_field[]){{"a", "seen"}}, 1));
  sync1(a, b);
  CHECK_OK(fs_delete(b, "items", r2));
  set_now(T0 + 2000);
  sync_both(a, b);
  sync_both(a, b);
  fs_store *reps[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    held h = get_row(reps[k], "items", r1);
    CHECK_EQ_INT(h.state, ROW_TOMB);
    CHECK_EQ_INT(h.cl, 2);
    CHECK_EQ_INT(get_row(reps[k], "items", r2).state, ROW_TOMB);
    CHECK_EQ_INT(count(reps[k], "SELECT count(*) FROM fs_conflict"), 1);
    cJSON *doc = view(reps[k], "conflicts", NULL);
    const cJSON *c = cJSON_GetArrayItem(doc, 0);
    CHECK_STR(jstr(c, "row"), r1);
    CHECK_STR(jstr(c, "column"), "*");
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "winner")));
    CHECK_CONTAINS(jstr(c, "loser"), "\"a\":\"edited\"");
    CHECK_CONTAINS(jstr(c, "loser"), "\"b\":5");
    CHECK_STR(jstr(c, "winner_site"), fs_store_device_id(b));
    cJSON_Delete(doc);
  }
  check_same_export(a, b);

  /* keep the lost row: it comes back as a new incarnation everywhere */
  int64_t cid = count(a, "SELECT id FROM fs_conflict");
  int64_t dbv = fs_store_db_version(a);
  CHECK_OK(fs_conflict_resolve(a, cid, 1));
  CHECK_EQ_INT(fs_store_db_version(a), dbv + 1);
  held h = get_row(a, "items", r1);
  CHECK_EQ_INT(h.state, ROW_LIVE);
  CHECK_EQ_INT(h.cl, 3);
  CHECK_STR(h.text[0], "edited");
  CHECK_EQ_INT(h.num[1], 5);
  CHECK_EQ_INT(count(a, "SELECT count(*) FROM fs_conflict WHERE resolution='loser'"), 1);
  CHECK_EQ_INT(sync1(a, b), 0);
  CHECK_STR(get_row(b, "items", r1).text[0], "edited");
  check_same_export(a, b);
  fs_store_close(a);
  fs_store_close(b);
}

/* The "*" conflict names the site whose edit was lost, not the row's
 * creator: A creates, B edits, C deletes without having seen B's edit. */
static void test_lost_update_names_its_writer(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0), *c = open_mem(&schema, 0);
  char id[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(id, a, "items", (fs_field[]){{"a", "orig"}}, 1));
  sync1(a, b);
  sync1(a, c);
  set_now(T0 + 1000);
  CHECK_OK(fs_update(b, "items", id, (fs_field[]){{"a", "B's edit"}}, 1));
  CHECK_OK(fs_delete(c, "items", id));
  sync1(b, c); /* tombstone side logs */
  sync1(c, b); /* live side logs */
  fs_store *reps[2] = {b, c};
  for (int k = 0; k < 2; k++) {
    cJSON *doc = view(reps[k], "conflicts", NULL);
    CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
    const cJSON *x = cJSON_GetArrayItem(doc, 0);
    CHECK_STR(jstr(x, "column"), "*");
    CHECK_STR(jstr(x, "winner_site"), fs_store_device_id(c));
    CHECK_STR(jstr(x, "loser_site"), fs_store_device_id(b));
    cJSON_Delete(doc);
  }
  fs_store_close(a);
  fs_store_close(b);
  fs_store_close(c);
}

static void test_reinsert_after_delete(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char id[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(id, a, "items", (fs_field[]){{"a", "first life"}, {"b", "1"}}, 2));
  sync1(a, b);
  CHECK_OK(fs_delete(a, "items", id));
  fsi_batch *del = fsi_change_batch_new();
  fsi_merge_cursor from = {0, -1, ""}, next;
  fsi_merge_filter f = {fs_store_site(b), NULL, 0, 0};
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(a, &from, &f, 100, del, &next, &more));
  CHECK_EQ_INT(del->nrows, 1);
  fsi_merge_opts o = {fs_store_site(a), NULL};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(b, del, &o, &res));
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(get_row(b, "items", id).state, ROW_TOMB);
  /* B brings the row back under the same id: a new incarnation */
  CHECK_OK(fs_insert(NULL, b, "items", (fs_field[]){{"id", id}, {"a", "second life"}}, 2));
  held h = get_row(b, "items", id);
  CHECK_EQ_INT(h.cl, 3);
  CHECK(h.isnull[1]);
  CHECK_ERR(fs_insert(NULL, b, "items", (fs_field[]){{"id", id}, {"a", "x"}}, 2), FS_EEXIST);
  sync1(b, a);
  h = get_row(a, "items", id);
  CHECK_EQ_INT(h.state, ROW_LIVE);
  CHECK_STR(h.text[0], "second life");
  /* the old delete arriving again changes nothing */
  CHECK_OK(fsi_merge_apply(b, del, &o, &res));
  CHECK_EQ_INT(res.applied, 0);
  fsi_merge_result_free(&res);
  CHECK_STR(get_row(b, "items", id).text[0], "second life");
  check_same_export(a, b);
  CHECK_EQ_INT(count(a, "SELECT count(*) FROM fs_conflict"), 0);
  fsi_change_batch_free(del);
  fs_store_close(a);
  fs_store_close(b);
}

static void test_concurrent_deletes(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char id[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(id, a, "items", (fs_field[]){{"a", "x"}}, 1));
  sync1(a, b);
  CHECK_OK(fs_delete(a, "items", id));
  CHECK_OK(fs_delete(b, "items", id));
  sync_both(a, b);
  sync_both(a, b);
  CHECK_EQ_INT(get_row(a, "items", id).state, ROW_TOMB);
  CHECK_EQ_INT(get_row(b, "items", id).state, ROW_TOMB);
  CHECK_EQ_INT(count(a, "SELECT count(*) FROM fs_tomb"), 1);
  CHECK_EQ_INT(count(a, "SELECT hlc FROM fs_tomb"), count(b, "SELECT hlc FROM fs_tomb"));
  CHECK_EQ_INT(count(a, "SELECT count(*) FROM fs_conflict"), 0);
  fs_store_close(a);
  fs_store_close(b);
}

/* Children: a contact arriving before its customer, and a contact added
 * while the customer is deleted elsewhere; neither is dropped. */
static void test_children_kept(void) {
  set_now(T0);
  fs_store *hq = open_mem(NULL, FS_OPEN_SERVER);
  fs_store *d = open_device("alice", hq);
  char cust[FS_ID_SIZE], k1[FS_ID_SIZE], k2[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, d, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  CHECK_OK(fs_insert(k1, d, "contacts", (fs_field[]){{"customer_id", cust}, {"name", "Eve"}}, 2));
  CHECK_OK(fs_update(d, "customers", cust, (fs_field[]){{"city", "Gdansk"}}, 1));
  /* extraction order is by db_version: the contact now comes first */
  fsi_merge_cursor c0 = {0, -1, ""}, mid, end;
  fsi_merge_filter f = {fs_store_site(hq), NULL, 0, 0};
  fsi_batch *b1 = fsi_change_batch_new(), *b2 = fsi_change_batch_new();
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(d, &c0, &f, 1, b1, &mid, &more));
  CHECK_OK(fsi_merge_changes_since(d, &mid, &f, 1, b2, &end, &more));
  CHECK_EQ_INT(b1->nrows, 1);
  CHECK(b1->nrows == 1 && !strcmp(b1->tables[b1->rows[0].table].name, "contacts"));
  fsi_merge_opts o = {fs_store_site(d), "alice"};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(hq, b1, &o, &res));
  CHECK_EQ_INT(res.applied, 1);
  CHECK_EQ_INT(res.refused, 0);
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(get_row(hq, "contacts", k1).state, ROW_LIVE);
  CHECK_OK(fsi_merge_apply(hq, b2, &o, &res));
  fsi_merge_result_free(&res);
  cJSON *doc = view(hq, "customer", cust);
  cJSON *contacts = cJSON_GetObjectItemCaseSensitive(doc, "contacts");
  CHECK_EQ_INT(cJSON_GetArraySize(contacts), 1);
  CHECK_STR(jstr(cJSON_GetArrayItem(contacts, 0), "name"), "Eve");
  CHECK_STR(jstr(doc, "city"), "Gdansk");
  cJSON_Delete(doc);

  /* head office deletes the customer while the device adds a contact */
  set_now(T0 + 1000);
  sync1(hq, d);
  CHECK_OK(fs_delete(hq, "customers", cust));
  CHECK_OK(fs_insert(k2, d, "contacts", (fs_field[]){{"customer_id", cust}, {"name", "Finn"}}, 2));
  sync_ex(d, hq, NULL, NULL, "alice", 1000);
  sync_ex(hq, d, NULL, "alice", NULL, 1000);
  fs_store *reps[2] = {hq, d};
  for (int k = 0; k < 2; k++) {
    CHECK_EQ_INT(get_row(reps[k], "customers", cust).state, ROW_TOMB);
    held h = get_row(reps[k], "contacts", k2);
    CHECK_EQ_INT(h.state, ROW_LIVE);
    CHECK_STR(h.text[1], "Finn");
    CHECK_EQ_INT(get_row(reps[k], "contacts", k1).state, ROW_LIVE);
    char *e = export_of(reps[k]);
    CHECK_CONTAINS(e, "\"name\":\"Finn\"");
    fs_free(e);
  }
  fsi_change_batch_free(b1);
  fsi_change_batch_free(b2);
  fs_store_close(d);
  fs_store_close(hq);
}

/* A child that reached head office before its customer must still reach
 * the manager's other devices once the customer arrives: extraction for a
 * manager skips rows of unknown customers, so a cursor that moved past the
 * child must not lose it. */
static void test_child_before_parent_reaches_other_devices(void) {
  set_now(T0);
  fs_store *hq = open_mem(NULL, FS_OPEN_SERVER);
  fs_store *d = open_device("alice", hq);
  char cust[FS_ID_SIZE], k1[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, d, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  CHECK_OK(fs_insert(k1, d, "contacts", (fs_field[]){{"customer_id", cust}, {"name", "Eve"}}, 2));
  CHECK_OK(fs_update(d, "customers", cust, (fs_field[]){{"city", "Gdansk"}}, 1));
  fsi_merge_cursor dc = {0, -1, ""};
  /* push the contact only (first batch of one row) */
  fsi_merge_filter f = {fs_store_site(hq), NULL, 0, 0};
  fsi_batch *b = fsi_change_batch_new();
  fsi_merge_cursor next;
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(d, &dc, &f, 1, b, &next, &more));
  fsi_merge_opts o = {fs_store_site(d), "alice"};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(hq, b, &o, &res));
  fsi_merge_result_free(&res);
  dc = next;
  /* head office writes something every device gets, after the contact */
  CHECK_OK(fs_insert(NULL, hq, "products",
                     (fs_field[]){{"sku", "A-1"}, {"name", "Anvil"}, {"active", "1"}}, 3));
  /* alice's second laptop pulls now, then again after the customer came */
  fs_store *d2 = open_device("alice", hq);
  fsi_merge_cursor pc = {0, -1, ""};
  sync_ex(hq, d2, &pc, "alice", NULL, 1000);
  sync_ex(d, hq, &dc, NULL, "alice", 1000);
  sync_ex(hq, d2, &pc, "alice", NULL, 1000);
  CHECK_EQ_INT(get_row(d2, "customers", cust).state, ROW_LIVE);
  CHECK_EQ_INT(get_row(d2, "contacts", k1).state, ROW_LIVE);
  fsi_change_batch_free(b);
  fs_store_close(d2);
  fs_store_close(d);
  fs_store_close(hq);
}

static void test_skew_bound(void) {
  set_now(T0);
  fs_store *st = open_mem(&schema, 0);
  char local[FS_ID_SIZE];
  CHECK_OK(fs_insert(local, st, "items", (fs_field[]){{"a", "local"}}, 1));
  const char *good = "01900000-0000-7000-8000-000000000001";
  const char *bad = "01900000-0000-7000-8000-000000000002";
  int64_t now = fsi_util_now_ms();
  int64_t fast = (now + 2 * 3600 * 1000) << HLC_LOGICAL_BITS;
  fsi_batch *bt = hand_batch(&schema);
  hand_text(bt, hand_row(bt, "items", good, 1, now << HLC_LOGICAL_BITS, 0x77), "a", "fine");
  hand_text(bt, hand_row(bt, "items", bad, 1, fast, 0xabc), "a", "from the future");
  int64_t clock = st->clock.last, dbv = fs_store_db_version(st);
  fsi_merge_opts o = {0xabc, NULL};
  fsi_merge_result res;
  CHECK_ERR(fsi_merge_apply(st, bt, &o, &res), FS_ESKEW);
  CHECK_CONTAINS(fs_errmsg(), "0000000000000abc");
  CHECK_CONTAINS(fs_errmsg(), "ahead");
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(get_row(st, "items", good).state, ROW_NONE);
  CHECK_EQ_INT(get_row(st, "items", bad).state, ROW_NONE);
  CHECK_EQ_INT(st->clock.last, clock);
  CHECK_EQ_INT(fs_store_db_version(st), dbv);
  char after[FS_ID_SIZE];
  CHECK_OK(fs_insert(after, st, "items", (fs_field[]){{"a", "after"}}, 1));
  int64_t h, s;
  cell_clock(st, "items", after, 0, &h, &s);
  CHECK(h < fast);
  /* a cell clock counts too */
  fsi_batch *bc = hand_batch(&schema);
  fsi_rowchange *r = hand_row(bc, "items", good, 1, now << HLC_LOGICAL_BITS, 0x77);
  hand_text(bc, r, "a", "x");
  hand_cell(bc, r, "b", fast, 0xdef);
  CHECK_ERR(fsi_merge_apply(st, bc, &o, &res), FS_ESKEW);
  CHECK_CONTAINS(fs_errmsg(), "0000000000000def");
  fsi_merge_result_free(&res);
  /* a wider bound accepts it */
  fs_store_set_max_skew(st, 3 * 3600 * 1000);
  CHECK_OK(fsi_merge_apply(st, bt, &o, &res));
  fsi_merge_result_free(&res);
  CHECK_STR(get_row(st, "items", bad).text[0], "from the future");
  fsi_change_batch_free(bt);
  fsi_change_batch_free(bc);
  fs_store_close(st);
}

/* Site ids are public: a device that puts head office's site on clocks it
 * made up (a price, a customer's manager, a whole product) is refused at
 * head office, and what head office holds is unchanged. */
static void test_policy_forged_hq_site(void) {
  set_now(T0);
  fs_store *hq = open_mem(NULL, FS_OPEN_SERVER);
  fs_store *d = open_device("alice", hq);
  int64_t H = fs_store_site(hq);
  char prod[FS_ID_SIZE], cust[FS_ID_SIZE];
  CHECK_OK(fs_insert(prod, hq, "products",
                     (fs_field[]){{"sku", "A1"}, {"name", "Chair"}, {"active", "1"}}, 3));
  CHECK_OK(fs_insert(cust, d, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  sync1(d, hq); /* the customer is alice's at head office */
  int64_t ph, ps, ch, cs;
  row_clock(hq, "products", prod, &ph, &ps);
  row_clock(hq, "customers", cust, &ch, &cs);
  int64_t later = (T0 + 1000) << HLC_LOGICAL_BITS;

  fsi_batch *b = hand_batch(fs_schema_fieldsales());
  /* a product edit signed as if head office had made it */
  fsi_rowchange *r = hand_row(b, "products", prod, 1, ph, ps);
  hand_text(b, r, "sku", "A1");
  hand_text(b, r, "name", "Free chair");
  hand_cell(b, r, "name", later, H);
  /* a product head office never had, "from" head office */
  r = hand_row(b, "products", "01900000-0000-7000-8000-0000000000bb", 1, later, H);
  hand_text(b, r, "sku", "FAKE");
  hand_text(b, r, "name", "Fake");
  /* the customer moved to another manager by a forged head-office edit */
  r = hand_row(b, "customers", cust, 1, ch, cs);
  hand_text(b, r, "name", "Acme");
  hand_text(b, r, "status", "prospect");
  hand_text(b, r, "manager", "bob");
  hand_cell(b, r, "manager", later, H);
  fsi_merge_opts o = {fs_store_site(d), "alice"};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(hq, b, &o, &res));
  CHECK_EQ_INT(res.refused, 3);
  CHECK_EQ_INT(res.applied, 0);
  for (size_t i = 0; i < res.refused; i++)
    CHECK_CONTAINS(res.refusals[i].reason, "head-office write that head office never made");
  fsi_merge_result_free(&res);
  CHECK_STR(get_row(hq, "products", prod).text[1], "Chair");
  CHECK_EQ_INT(get_row(hq, "products", "01900000-0000-7000-8000-0000000000bb").state, ROW_NONE);
  CHECK_STR(get_row(hq, "customers", cust).text[9], "alice");
  fsi_change_batch_free(b);
  fs_store_close(d);
  fs_store_close(hq);
}

/* Head-office tables: a device's change is refused (row), logged once,
 * reported, and the rest of the batch applies. */
static void test_policy_hq_table(void) {
  set_now(T0);
  fs_store *hq = open_mem(NULL, FS_OPEN_SERVER);
  fs_store *d = open_device("alice", hq);
  char cust[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, d, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  CHECK_ERR(
      fs_insert(NULL, d, "products", (fs_field[]){{"sku", "X"}, {"name", "X"}, {"active", "1"}}, 3),
      FS_EPERM);
  fsi_batch *b = fsi_change_batch_new();
  fsi_merge_cursor c0 = {0, -1, ""}, next;
  fsi_merge_filter f = {fs_store_site(hq), NULL, 0, 0};
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(d, &c0, &f, 100, b, &next, &more));
  CHECK_EQ_INT(b->nrows, 1);
  const char *ppk = "01900000-0000-7000-8000-0000000000aa";
  fsi_rowchange *r =
      hand_row(b, "products", ppk, 1, (T0 << HLC_LOGICAL_BITS) + 5, fs_store_site(d));
  hand_text(b, r, "sku", "FREE-1");
  hand_text(b, r, "name", "Free lunch");
  fsi_merge_opts o = {fs_store_site(d), "alice"};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(hq, b, &o, &res));
  CHECK_EQ_INT(res.rows, 2);
  CHECK_EQ_INT(res.refused, 1);
  CHECK_EQ_INT(res.applied, 1);
  if (res.refused == 1) {
    CHECK_STR(res.refusals[0].table, "products");
    CHECK_STR(res.refusals[0].pk, ppk);
    CHECK(res.refusals[0].col == NULL);
    CHECK_EQ_INT(res.refusals[0].site, fs_store_site(d));
    CHECK_CONTAINS(res.refusals[0].reason, "head-office data");
  }
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(get_row(hq, "customers", cust).state, ROW_LIVE);
  CHECK_EQ_INT(get_row(hq, "products", ppk).state, ROW_NONE);
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_refused"), 1);
  cJSON *doc = view(hq, "refused", NULL);
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
  const cJSON *x = cJSON_GetArrayItem(doc, 0);
  CHECK_STR(jstr(x, "table"), "products");
  CHECK_STR(jstr(x, "row"), ppk);
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(x, "column"))); /* the whole row */
  CHECK_STR(jstr(x, "site"), fs_store_device_id(d));
  CHECK_CONTAINS(jstr(x, "reason"), "devices cannot change it");
  cJSON_Delete(doc);
  /* the same batch again (a resent push): reported again, logged once */
  CHECK_OK(fsi_merge_apply(hq, b, &o, &res));
  CHECK_EQ_INT(res.refused, 1);
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_refused"), 1);

  /* a device refuses head-office rows that do not come from head office */
  fsi_batch *rogue = fsi_change_batch_new();
  CHECK_OK(fsi_merge_changes_since(hq, &c0, &f, 100, rogue, &next, &more));
  rogue->nrows = 0;
  r = hand_row(rogue, "products", ppk, 1, (T0 << HLC_LOGICAL_BITS) + 9, 0x999);
  hand_text(rogue, r, "sku", "FREE-1");
  o = (fsi_merge_opts){0x999, NULL};
  CHECK_OK(fsi_merge_apply(d, rogue, &o, &res));
  CHECK_EQ_INT(res.refused, 1);
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(get_row(d, "products", ppk).state, ROW_NONE);
  fsi_change_batch_free(rogue);
  fsi_change_batch_free(b);
  fs_store_close(d);
  fs_store_close(hq);
}

/* customers.manager after creation: the device's cell is refused, the
 * other edits of the same row apply. */
static void test_policy_hq_column(void) {
  set_now(T0);
  fs_store *hq = open_mem(NULL, FS_OPEN_SERVER);
  fs_store *d = open_device("alice", hq);
  char cust[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, d, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  fsi_merge_cursor dc = {0, -1, ""};
  sync_ex(d, hq, &dc, NULL, "alice", 1000);
  CHECK_STR(get_row(hq, "customers", cust).text[9], "alice");
  set_now(T0 + 1000);
  CHECK_ERR(fs_update(d, "customers", cust, (fs_field[]){{"manager", "mallory"}}, 1), FS_EPERM);
  CHECK_OK(fs_update(d, "customers", cust, (fs_field[]){{"name", "Acme Ltd"}}, 1));
  fsi_batch *b = fsi_change_batch_new();
  fsi_merge_cursor next;
  fsi_merge_filter f = {fs_store_site(hq), NULL, 0, 0};
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(d, &dc, &f, 100, b, &next, &more));
  CHECK_EQ_INT(b->nrows, 1);
  if (b->nrows != 1) goto out;
  fsi_rowchange *r = &b->rows[0];
  int64_t h = r->cells[0].hlc;
  hand_text(b, r, "manager", "mallory"); /* a tampered device */
  hand_cell(b, r, "manager", h, fs_store_site(d));
  fsi_merge_opts o = {fs_store_site(d), "alice"};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(hq, b, &o, &res));
  CHECK_EQ_INT(res.refused, 1);
  if (res.refused == 1) {
    CHECK_STR(res.refusals[0].col, "manager");
    CHECK_CONTAINS(res.refusals[0].reason, "customers.manager is set by head office only");
  }
  fsi_merge_result_free(&res);
  held c = get_row(hq, "customers", cust);
  CHECK_STR(c.text[0], "Acme Ltd");
  CHECK_STR(c.text[9], "alice");
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_refused WHERE col='manager'"), 1);
out:
  fsi_change_batch_free(b);
  fs_store_close(d);
  fs_store_close(hq);
}

/* Two head-office columns in one row: both device cells are refused and
 * neither is applied. */
static void test_policy_two_hq_columns(void) {
  set_now(T0);
  fs_store *hq = open_mem(&schema, FS_OPEN_SERVER);
  fs_store *d = open_mem(&schema, 0);
  CHECK_OK(fs_store_set_hq_site(d, fs_store_site(hq)));
  char id[FS_ID_SIZE];
  CHECK_OK(
      fs_insert(id, hq, "owned", (fs_field[]){{"name", "n"}, {"boss", "b1"}, {"boss2", "c1"}}, 3));
  sync1(hq, d);
  CHECK_STR(get_row(d, "owned", id).text[1], "b1");
  fsi_merge_cursor dc = {0, -1, ""};
  set_now(T0 + 1000);
  CHECK_OK(fs_update(d, "owned", id, (fs_field[]){{"name", "renamed"}}, 1));
  fsi_batch *b = fsi_change_batch_new();
  fsi_merge_cursor next;
  fsi_merge_filter f = {fs_store_site(hq), NULL, 0, 0};
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(d, &dc, &f, 100, b, &next, &more));
  CHECK_EQ_INT(b->nrows, 1);
  if (b->nrows != 1) goto out;
  fsi_rowchange *r = &b->rows[0];
  int64_t h = r->cells[0].hlc;
  hand_text(b, r, "boss", "evil1");
  hand_cell(b, r, "boss", h, fs_store_site(d));
  hand_text(b, r, "boss2", "evil2");
  hand_cell(b, r, "boss2", h, fs_store_site(d));
  fsi_merge_opts o = {fs_store_site(d), NULL};
  fsi_merge_result res;
  CHECK_OK(fsi_merge_apply(hq, b, &o, &res));
  CHECK_EQ_INT(res.refused, 2);
  fsi_merge_result_free(&res);
  held x = get_row(hq, "owned", id);
  CHECK_STR(x.text[0], "renamed");
  CHECK_STR(x.text[1], "b1");
  CHECK_STR(x.text[2], "c1");
out:
  fsi_change_batch_free(b);
  fs_store_close(d);
  fs_store_close(hq);
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_bounded_extraction(void) {
  enum { N = 10000, DEL = 100 };
  set_now(T0);
  fs_store *st = open_mem(&schema, 0);
  char(*ids)[FS_ID_SIZE] = malloc(N * sizeof *ids);
  char **seen = calloc(N + 1, sizeof *seen);
  CHECK_OK(fs_tx_begin(st));
  for (int i = 0; i < N; i++) {
    char b[16];
    snprintf(b, sizeof b, "%d", i);
    CHECK_OK(fs_insert(ids[i], st, "items", (fs_field[]){{"a", "row"}, {"b", b}}, 2));
  }
  CHECK_OK(fs_tx_commit(st));
  CHECK_OK(fs_tx_begin(st));
  for (int i = 0; i < DEL; i++) CHECK_OK(fs_delete(st, "items", ids[i * 97]));
  CHECK_OK(fs_tx_commit(st));
  char curtext[128] = "";
  fsi_batch *b = fsi_change_batch_new();
  fsi_merge_filter f = {0x5151, NULL, 0, 0};
  int batches = 0, more = 1, tombs = 0;
  size_t total = 0;
  while (more && batches < 20) {
    fsi_merge_cursor from, next;
    CHECK_OK(fsi_merge_cursor_parse(&from, curtext));
    CHECK_OK(fsi_merge_changes_since(st, &from, &f, 1000, b, &next, &more));
    batches++;
    CHECK(b->nrows <= 1000);
    for (size_t i = 0; i < b->nrows && total < N + 1; i++) {
      seen[total++] = strdup(b->rows[i].pk);
      tombs += b->rows[i].cl % 2 == 0;
    }
    fsi_merge_cursor_format(&next, curtext, sizeof curtext);
    if (b->nrows == 0) break;
  }
  CHECK_EQ_INT(batches, 10);
  CHECK_EQ_INT(more, 0);
  CHECK_EQ_INT(total, N);
  CHECK_EQ_INT(tombs, DEL);
  qsort(seen, total, sizeof *seen, cmp_str);
  int dup = 0;
  for (size_t i = 1; i < total; i++) dup += !strcmp(seen[i - 1], seen[i]);
  CHECK_EQ_INT(dup, 0);
  int missing = 0;
  for (int i = 0; i < N; i++) {
    const char *k = ids[i];
    if (!bsearch(&k, seen, total, sizeof *seen, cmp_str)) missing++;
  }
  CHECK_EQ_INT(missing, 0);
  /* nothing after the end */
  fsi_merge_cursor from, next;
  CHECK_OK(fsi_merge_cursor_parse(&from, curtext));
  CHECK_OK(fsi_merge_changes_since(st, &from, &f, 1000, b, &next, &more));
  CHECK_EQ_INT(b->nrows, 0);
  for (size_t i = 0; i < total; i++) free(seen[i]);
  free(seen);
  free(ids);
  fsi_change_batch_free(b);
  fs_store_close(st);
}

/* Rows written locally are extracted when no site is excluded (filter
 * NULL or exclude_src 0, "none" per merge.h). */
static void test_extract_without_filter(void) {
  set_now(T0);
  fs_store *st = open_mem(&schema, 0);
  CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"a", "local"}}, 1));
  fsi_batch *b = fsi_change_batch_new();
  fsi_merge_cursor from = {0, -1, ""}, next;
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(st, &from, NULL, 100, b, &next, &more));
  CHECK_EQ_INT(b->nrows, 1);
  fsi_merge_filter f = {0, NULL, 0, 0};
  CHECK_OK(fsi_merge_changes_since(st, &from, &f, 100, b, &next, &more));
  CHECK_EQ_INT(b->nrows, 1);
  fsi_change_batch_free(b);
  fs_store_close(st);
}

static void test_cursor_text(void) {
  fsi_merge_cursor c = {123456789012LL, 4, "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"}, back;
  char text[128];
  fsi_merge_cursor_format(&c, text, sizeof text);
  CHECK_OK(fsi_merge_cursor_parse(&back, text));
  CHECK_EQ_INT(back.seq, c.seq);
  CHECK_EQ_INT(back.tbl, c.tbl);
  CHECK_STR(back.pk, c.pk);
  fsi_merge_cursor start = {0, -1, ""};
  fsi_merge_cursor_format(&start, text, sizeof text);
  CHECK_OK(fsi_merge_cursor_parse(&back, text));
  CHECK_EQ_INT(back.seq, 0);
  CHECK_EQ_INT(back.tbl, -1);
  CHECK_STR(back.pk, "");
  CHECK_OK(fsi_merge_cursor_parse(&back, "")); /* empty = from the beginning */
  CHECK_EQ_INT(back.tbl, -1);
  char longpk[100] = "5.1.";
  memset(longpk + 4, 'a', 65);
  longpk[69] = '\0';
  const char *bad[] = {"x",     "12",   "12.",   "12.3",         "a.1.x", "-1.0.",
                       "5.-2.", "5.x.", "5.65.", "5.0.\xff\xfe", longpk};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = fsi_merge_cursor_parse(&back, bad[i]);
    if (rc != FS_EINVAL) tu_fail(__FILE__, __LINE__, "cursor \"%s\" accepted", bad[i]);
    tu_checks++;
  }
  CHECK_CONTAINS(fs_errmsg(), "malformed sync cursor");
}

/* Cursors come from the network: numbers outside int64, signs and spaces
 * are malformed too (strtoll would saturate or skip them). */
static void test_cursor_text_strict(void) {
  fsi_merge_cursor back;
  const char *bad[] = {"99999999999999999999.0.", " 1.0.", "+1.0.", "1. 0.", "1.+0."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = fsi_merge_cursor_parse(&back, bad[i]);
    if (rc != FS_EINVAL) tu_fail(__FILE__, __LINE__, "cursor \"%s\" accepted", bad[i]);
    tu_checks++;
  }
}

static void test_echo_suppression(void) {
  set_now(T0);
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0), *c = open_mem(&schema, 0);
  char id[FS_ID_SIZE];
  CHECK_OK(fs_insert(id, a, "items", (fs_field[]){{"a", "x"}}, 1));
  CHECK_OK(fs_insert(NULL, a, "items", (fs_field[]){{"a", "y"}}, 1));
  sync1(a, b);
  fsi_batch *bt = fsi_change_batch_new();
  fsi_merge_cursor from = {0, -1, ""}, next;
  int more = 0;
  fsi_merge_filter to_a = {fs_store_site(a), NULL, 0, 0}, to_c = {fs_store_site(c), NULL, 0, 0};
  CHECK_OK(fsi_merge_changes_since(b, &from, &to_a, 100, bt, &next, &more));
  CHECK_EQ_INT(bt->nrows, 0); /* nothing echoes back to its source */
  CHECK_OK(fsi_merge_changes_since(b, &from, &to_c, 100, bt, &next, &more));
  CHECK_EQ_INT(bt->nrows, 2); /* but it is relayed to others */
  CHECK_OK(fs_update(b, "items", id, (fs_field[]){{"c", "B's"}}, 1));
  CHECK_OK(fsi_merge_changes_since(b, &from, &to_a, 100, bt, &next, &more));
  CHECK_EQ_INT(bt->nrows, 1);
  fsi_change_batch_free(bt);
  fs_store_close(a);
  fs_store_close(b);
  fs_store_close(c);
}

static void test_conflict_resolve(void) {
  fs_store *a = open_mem(&schema, 0), *b = open_mem(&schema, 0);
  char id[FS_ID_SIZE];
  set_now(T0);
  CHECK_OK(fs_insert(id, a, "items", (fs_field[]){{"a", "orig"}, {"b", "1"}}, 2));
  sync1(a, b);
  set_now(T0 + 1000);
  CHECK_OK(fs_update(a, "items", id, (fs_field[]){{"a", "A"}, {"b", "10"}}, 2));
  set_now(T0 + 2000);
  CHECK_OK(fs_update(b, "items", id, (fs_field[]){{"a", "B"}, {"b", "20"}}, 2));
  set_now(T0 + 3000);
  sync_both(a, b);
  CHECK_EQ_INT(count(a, "SELECT count(*) FROM fs_conflict"), 2);
  int64_t ca = count(a, "SELECT id FROM fs_conflict WHERE col='a'");
  int64_t cb = count(a, "SELECT id FROM fs_conflict WHERE col='b'");
  /* the structured list an application reads: both cells, newest first,
   * winner and loser as text, one allocation */
  fs_conflict *list = NULL;
  size_t nl = 0;
  CHECK_OK(fs_conflicts(&list, &nl, a, 0));
  CHECK_EQ_INT(nl, 2);
  for (size_t i = 0; list && i < nl; i++) {
    CHECK_STR(list[i].table, "items");
    CHECK_STR(list[i].row, id);
    CHECK(!list[i].resolved);
    CHECK(i == 0 || list[i].id < list[i - 1].id);
    int is_a = !strcmp(list[i].column, "a");
    CHECK(is_a || !strcmp(list[i].column, "b"));
    CHECK_STR(list[i].winner, is_a ? "B" : "20");
    CHECK_STR(list[i].loser, is_a ? "A" : "10");
    CHECK_EQ_INT(list[i].id, is_a ? ca : cb);
    CHECK_EQ_INT(list[i].detected_at, T0 + 3000);
  }
  fs_free(list);
  /* keep the winner: only recorded */
  int64_t dbv = fs_store_db_version(a);
  CHECK_OK(fs_conflict_resolve(a, ca, 0));
  CHECK_EQ_INT(fs_store_db_version(a), dbv);
  CHECK_STR(get_row(a, "items", id).text[0], "B");
  CHECK_ERR(fs_conflict_resolve(a, ca, 0), FS_ECONFLICT);
  CHECK_ERR(fs_conflict_resolve(a, ca, 1), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "already resolved");
  /* keep the loser (an integer): a new local edit that syncs */
  CHECK_OK(fs_conflict_resolve(a, cb, 1));
  CHECK_EQ_INT(fs_store_db_version(a), dbv + 1);
  CHECK_EQ_INT(get_row(a, "items", id).num[1], 10);
  CHECK_ERR(fs_conflict_resolve(a, cb, 1), FS_ECONFLICT);
  cJSON *doc = view(a, "conflicts", NULL);
  const cJSON *it;
  int winners = 0, losers = 0;
  cJSON_ArrayForEach(it, doc) {
    const char *r = jstr(it, "resolution");
    winners += r && !strcmp(r, "winner");
    losers += r && !strcmp(r, "loser");
  }
  CHECK_EQ_INT(winners, 1);
  CHECK_EQ_INT(losers, 1);
  cJSON_Delete(doc);
  CHECK_OK(fs_conflicts(&list, &nl, a, 1)); /* both resolved now */
  CHECK_EQ_INT(nl, 0);
  fs_free(list);
  CHECK_OK(fs_conflicts(&list, &nl, a, 0));
  CHECK_EQ_INT(nl, 2);
  CHECK(list && list[0].resolved && list[1].resolved);
  fs_free(list);
  CHECK_EQ_INT(sync1(a, b), 0); /* made after seeing B's value: no conflict */
  CHECK_EQ_INT(get_row(b, "items", id).num[1], 10);
  CHECK_EQ_INT(count(b, "SELECT count(*) FROM fs_conflict"), 2);
  check_same_export(a, b);
  CHECK_ERR(fs_conflict_resolve(a, 9999, 0), FS_ENOTFOUND);
  fs_store_close(a);
  fs_store_close(b);
}

/* Keeping a customer that lost to a concurrent delete, on a device: the
 * restored row carries its manager, which the device may not set itself,
 * but restoring is not an edit of the assignment. */
static void test_resolve_restores_customer_on_device(void) {
  set_now(T0);
  fs_store *a = open_device("alice", NULL), *b = open_device("alice", NULL);
  char cust[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, a, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  sync1(a, b);
  set_now(T0 + 1000);
  CHECK_OK(fs_delete(b, "customers", cust));
  CHECK_OK(fs_update(a, "customers", cust, (fs_field[]){{"phone", "+48 58 123"}}, 1));
  CHECK_EQ_INT(sync1(a, b), 1);
  int64_t cid = count(b, "SELECT id FROM fs_conflict WHERE col='*'");
  CHECK_OK(fs_conflict_resolve(b, cid, 1));
  held h = get_row(b, "customers", cust);
  CHECK_EQ_INT(h.state, ROW_LIVE);
  CHECK_STR(h.text[6], "+48 58 123");
  CHECK_STR(h.text[9], "alice");
  fs_store_close(a);
  fs_store_close(b);
}

int main(void) {
  TEST_RUN(test_later_edit_wins);
  TEST_RUN(test_site_breaks_exact_tie);
  TEST_RUN(test_disjoint_columns_survive);
  TEST_RUN(test_one_conflict_per_concurrent_edit);
  TEST_RUN(test_not_conflicts);
  TEST_RUN(test_idempotent);
  TEST_RUN(test_edited_50_times_ships_once);
  TEST_RUN(test_delete_vs_concurrent_update);
  TEST_RUN(test_lost_update_names_its_writer);
  TEST_RUN(test_reinsert_after_delete);
  TEST_RUN(test_concurrent_deletes);
  TEST_RUN(test_children_kept);
  TEST_RUN(test_child_before_parent_reaches_other_devices);
  TEST_RUN(test_skew_bound);
  TEST_RUN(test_policy_hq_table);
  TEST_RUN(test_policy_forged_hq_site);
  TEST_RUN(test_policy_hq_column);
  TEST_RUN(test_policy_two_hq_columns);
  TEST_RUN(test_bounded_extraction);
  TEST_RUN(test_extract_without_filter);
  TEST_RUN(test_cursor_text);
  TEST_RUN(test_cursor_text_strict);
  TEST_RUN(test_echo_suppression);
  TEST_RUN(test_conflict_resolve);
  TEST_RUN(test_resolve_restores_customer_on_device);
  unsetenv("FIELDSYNC_TEST_NOW_MS");
  return tu_finish();
}
