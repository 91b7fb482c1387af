/*
 * test_workload.c — checks bench/workload.c, the standard record generator
 * of WORKLOAD.md, against the figures the document publishes: the SHA-256
 * of 100,000 JSON lines of seed 1 for devices 0 and 7, and record 0 of
 * device 0 byte for byte.  Every benchmark compares row by row with the
 * reference figures only if these hold.  Also checks the W4 edits, the
 * field view handed to fs_insert, and the raw-SQLite baseline helper.
 */
#include "testutil.h"
#include "workload.h"

#include <stdlib.h>

#define RECORD0_JSON                                                                               \
  "{\"id\":\"019b8d2b-8c00-76b8-b9e4-6c71acdfd63c\",\"customer_id\":"                              \
  "\"C03910\",\"kind\":\"visit\",\"created_at\":\"2026-01-05T08:00:00Z\","                         \
  "\"amount\":797714,\"currency\":\"EUR\",\"note\":\"invoice on week next "                        \
  "month renewal discount spring visit visit on meeting sent b\",\"qty\":23}"

#define RECORD0_NOTE                                                                               \
  "invoice on week next month renewal discount spring visit visit on meeting "                     \
  "sent b"

static void test_record0_verbatim(void) {
  wl_gen g;
  wl_record r;
  char json[WL_JSON_MAX];
  wl_gen_init(&g, 1, 0);
  wl_gen_next(&g, &r);
  CHECK_EQ_INT(wl_record_json(&r, json, sizeof json), strlen(RECORD0_JSON));
  CHECK_STR(json, RECORD0_JSON);
  CHECK_EQ_INT(r.ts_ms, WL_T0_MS);
  CHECK_EQ_INT(g.next, 1);
}

static void test_digest_device0(void) {
  char hex[65];
  CHECK_EQ_INT(wl_digest(1, 0, 100000, hex), 0);
  CHECK_STR(hex, "64856c52b63bbd595f62065f9634d5fdb6e69c92789e48a9f72777f929409d40");
}

static void test_digest_device7(void) {
  char hex[65];
  CHECK_EQ_INT(wl_digest(1, 7, 100000, hex), 0);
  CHECK_STR(hex, "297150771ad24b8b15ea0f2045250157ed46fd5f23254352f11ea8e66051c89e");
}

/* wl_generate must be the same stream as wl_gen_next; every note is 80
 * bytes and the lines average 251 bytes as the document says. */
static void test_generate_matches_stream(void) {
  enum { N = 2000 };
  wl_record *recs = wl_generate(1, 3, N);
  wl_gen g;
  wl_record r;
  char a[WL_JSON_MAX], b[WL_JSON_MAX];
  size_t total = 0;
  int mismatches = 0, bad_notes = 0;
  CHECK(recs != NULL);
  if (!recs) return;
  wl_gen_init(&g, 1, 3);
  for (size_t i = 0; i < N; i++) {
    wl_gen_next(&g, &r);
    total += wl_record_json(&r, a, sizeof a);
    wl_record_json(&recs[i], b, sizeof b);
    if (strcmp(a, b) != 0) mismatches++;
    if (strlen(r.note) != WL_NOTE_LEN) bad_notes++;
    if (r.ts_ms != WL_T0_MS + (int64_t)i * WL_STEP_MS + 3) mismatches++;
  }
  CHECK_EQ_INT(mismatches, 0);
  CHECK_EQ_INT(bad_notes, 0);
  CHECK(total / N >= 249 && total / N <= 253);
  CHECK(wl_record_json(&recs[0], a, 40) == 0); /* too small: refused */
  CHECK_STR(a, "");
  free(recs);
}

static void test_w4_edits(void) {
  wl_gen g;
  wl_record r, a, b;
  wl_gen_init(&g, 1, 0);
  wl_gen_next(&g, &r);
  a = r;
  b = r;
  wl_edit_a(&a);
  CHECK_EQ_INT(a.amount, 797714 + 1000);
  CHECK_EQ_INT(a.qty, 23);
  CHECK_EQ_INT(strlen(a.note), WL_NOTE_LEN);
  CHECK(strncmp(a.note, "A: ", 3) == 0);
  CHECK(strncmp(a.note + 3, RECORD0_NOTE, WL_NOTE_LEN - 3) == 0);
  wl_edit_a(&a); /* a second edit stacks the prefix and stays cut */
  CHECK(strncmp(a.note, "A: A: invoice on week", 21) == 0);
  CHECK_EQ_INT(strlen(a.note), WL_NOTE_LEN);

  wl_edit_b(&b);
  CHECK_EQ_INT(b.amount, 797714 + 2000);
  CHECK_EQ_INT(b.qty, 24);
  CHECK_STR(b.note, RECORD0_NOTE);
}

static void test_fields_and_schema(void) {
  wl_gen g;
  wl_record r;
  wl_fields f;
  const fs_table *t = wl_table();
  wl_gen_init(&g, 1, 0);
  wl_gen_next(&g, &r);
  wl_record_fields(&r, &f);
  CHECK_EQ_INT(t->ncols, WL_NFIELDS);
  CHECK_STR(t->name, "records");
  CHECK_EQ_INT(t->owner, FS_OWNER_DEVICE);
  for (size_t i = 0; i < WL_NFIELDS; i++) CHECK_STR(f.f[i].name, t->cols[i].name);
  CHECK_STR(f.f[0].value, "C03910");
  CHECK_STR(f.f[1].value, "visit");
  CHECK_STR(f.f[2].value, "2026-01-05T08:00:00Z");
  CHECK_STR(f.f[3].value, "797714");
  CHECK_STR(f.f[4].value, "EUR");
  CHECK_STR(f.f[5].value, RECORD0_NOTE);
  CHECK_STR(f.f[6].value, "23");
  CHECK_EQ_INT(t->cols[3].type, FS_COL_INT);
  CHECK_EQ_INT(t->cols[6].type, FS_COL_INT);
  CHECK_EQ_INT(wl_schema()->ntables, 1);
  CHECK(wl_schema()->tables == t);
}

static void test_raw_baseline(void) {
  enum { N = 500 };
  char *dir = tu_tmpdir("wlraw");
  char path[1024];
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  wl_record *recs = wl_generate(1, 0, N);
  CHECK(recs != NULL);
  snprintf(path, sizeof path, "%s/raw.db", dir);
  CHECK_EQ_INT(wl_raw_open(&db, path), SQLITE_OK);
  if (!db || !recs) goto done;
  CHECK_EQ_INT(wl_raw_insert(db, recs, N), SQLITE_OK);
  CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                  "SELECT count(*), sum(amount), sum(qty),"
                                  " (SELECT note FROM records WHERE id = ?1),"
                                  " (SELECT journal_mode FROM pragma_journal_mode)"
                                  " FROM records",
                                  -1, &q, NULL),
               SQLITE_OK);
  sqlite3_bind_text(q, 1, recs[0].id, -1, SQLITE_STATIC);
  CHECK_EQ_INT(sqlite3_step(q), SQLITE_ROW);
  {
    int64_t amount = 0, qty = 0;
    for (size_t i = 0; i < N; i++) {
      amount += recs[i].amount;
      qty += recs[i].qty;
    }
    CHECK_EQ_INT(sqlite3_column_int64(q, 0), N);
    CHECK_EQ_INT(sqlite3_column_int64(q, 1), amount);
    CHECK_EQ_INT(sqlite3_column_int64(q, 2), qty);
    CHECK_STR((const char *)sqlite3_column_text(q, 3), RECORD0_NOTE);
    CHECK_STR((const char *)sqlite3_column_text(q, 4), "wal");
  }
  sqlite3_finalize(q);
  q = NULL;
  /* A duplicate id fails and leaves nothing half-applied. */
  CHECK(wl_raw_insert(db, recs, 2) != SQLITE_OK);
  CHECK_EQ_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM records", -1, &q, NULL), SQLITE_OK);
  CHECK_EQ_INT(sqlite3_step(q), SQLITE_ROW);
  CHECK_EQ_INT(sqlite3_column_int64(q, 0), N);
done:
  sqlite3_finalize(q);
  sqlite3_close_v2(db);
  free(recs);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_record0_verbatim);
  TEST_RUN(test_digest_device0);
  TEST_RUN(test_digest_device7);
  TEST_RUN(test_generate_matches_stream);
  TEST_RUN(test_w4_edits);
  TEST_RUN(test_fields_and_schema);
  TEST_RUN(test_raw_baseline);
  return tu_finish();
}
