/*
 * test_convergence.c — property test of the merge against an oracle.
 *
 * Each seed runs 3 to 5 replicas through random inserts, edits, deletes and
 * re-inserts, and random exchanges (partial, duplicated, reordered and
 * late batches) in a topology the seed picks: a hub (every exchange goes
 * through replica 0, as devices sync only with head office) or all pairs.
 * Everything random follows from the seed: site ids (fsi_store_set_site_for_test),
 * row ids, values, delivery order, and time: the library reads a clock the
 * test drives (fsi_util_set_clock), one wall clock that each replica sees with
 * its own offset, which sometimes jumps back.  So FS_PROPTEST_SEED=S
 * replays a run exactly (test_replay checks that).
 *
 * The oracle is plain data here, with no call into core/'s merge.  It records
 * every write (table, row, column, value, clock, causal length, and the
 * writes its writer had received) and, per replica, the set of writes that
 * reached it: a delivered row brings every write of that row its sender
 * had received.  From a set of writes it computes what docs/merge.md
 * prescribes: per row the highest causal length; per column of a live row
 * the write with the greatest (hlc, site); for a deleted row the greatest
 * delete.  Checked:
 *  - every local write: its clock is max(now << 16, last + 1) (last = the
 *    highest clock the replica issued or received), an edit's base is the
 *    clock of the value it replaced, a delete's `seen` the highest clock of
 *    the row it deleted;
 *  - every delivered row is the sender's oracle state, and after every
 *    write and exchange the replica equals, cell by cell (values, clocks,
 *    causal lengths, tombstones, read by SQL), the oracle of what reached it;
 *  - after the full exchange every replica equals the oracle of all writes,
 *    exports are byte-identical, and the full exchange's batches delivered
 *    again (older states by then) change nothing;
 *  - conflicts: when a delivered value meets a different one that is
 *    concurrent with it (neither writer had received the other), the
 *    receiving replica logs exactly that pair (winner, loser, both clocks).
 *    A logged pair the oracle calls ordered is over-reporting, which
 *    docs/merge.md allows (edit chains): it is counted and printed.  A logged
 *    entry naming no such pair of differing writes fails.
 *
 * FS_PROPTEST_SEEDS=N runs seeds 1..N (default 2000); FS_PROPTEST_SEED=S
 * replays one and prints its figures.  A failure prints its seed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "storeInt.h"
#include "testutil.h"
#include "util.h"

#define MAXR 5                   /* replicas */
#define MAXROWS 64               /* rows per seed */
#define MAXW 128                 /* writes per seed (at most one per step) */
#define MAXC 3                   /* columns per table */
#define MAXPEND 4                /* batches held back for a late delivery */
#define MAXEXP 1024              /* conflicts expected per seed */
#define EPOCH_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static const fs_column item_cols[] = {
    {"a", FS_COL_TEXT, 0, 0}, {"b", FS_COL_INT, 0, 0}, {"c", FS_COL_TEXT, 0, 0}};
static const fs_column note_cols[] = {{"item", FS_COL_TEXT, 0, 0}, {"body", FS_COL_TEXT, 0, 0}};
static const fs_table tables[] = {{"items", FS_OWNER_SHARED, item_cols, 3},
                                  {"notes", FS_OWNER_DEVICE, note_cols, 2}};
static const fs_schema schema = {"proptest", 1, tables, 2};
#define NCOLS(tbl) ((int)tables[tbl].ncols)

static uint32_t rng;
static uint32_t rnd(void) {
  uint32_t t = (rng += 0x6D2B79F5u);
  t = (t ^ t >> 15) * (t | 1u);
  t ^= t + (t ^ t >> 7) * (t | 61u);
  return t ^ t >> 14;
}
static uint32_t below(uint32_t n) { return rnd() % n; }

/* ------------------------------------------------------------ the clock */

/* The wall clock of the run: base, seen by replica i as base + off[i]; `at`
 * is the replica the library is working for. */
static struct {
  int64_t base, off[MAXR];
  int at;
} tclock;

static int64_t test_now(void *user) {
  (void)user;
  return tclock.base + tclock.off[tclock.at];
}

/* -------------------------------------------------------------- failures */

static uint32_t seed_now;
static int seed_fails; /* failures in the current seed */
static int quiet;      /* enough seeds have failed: count, do not print */

static void pfail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pfail(int line, const char *fmt, ...) {
  va_list ap;
  tu_failed++;
  if (++seed_fails > 4 || quiet) return;
  fprintf(stderr, "FAIL [%s] %s:%d: seed %u: ", tu_case, __FILE__, line, seed_now);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

#define PCHECK(cond, ...)                                                                          \
  do {                                                                                             \
    tu_checks++;                                                                                   \
    if (!(cond)) pfail(__LINE__, __VA_ARGS__);                                                     \
  } while (0)

/* ------------------------------------------------------------ the oracle */

typedef struct wset {
  uint64_t b[MAXW / 64];
} wset;

static int ws_has(const wset *s, int w) { return (int)(s->b[w / 64] >> (w % 64) & 1); }
static void ws_add(wset *s, int w) { s->b[w / 64] |= 1ull << (w % 64); }

enum { W_INSERT, W_UPDATE, W_DELETE };

typedef struct write {
  int kind, row, col; /* col: the column a W_UPDATE edits, else -1 */
  int64_t cl, hlc, site;
  char val[MAXC][8]; /* W_INSERT: every column; W_UPDATE: val[col] */
  wset seen;         /* the writes its writer had received */
} write;

typedef struct orow {
  int tbl;
  char pk[FS_ID_SIZE];
  int nw;
  int w[MAXW]; /* the writes of this row, every incarnation */
} orow;

static write W[MAXW];
static int nw;
static orow rows[MAXROWS];
static int nrows;

static int nrep, hub;
static fs_store *rep[MAXR];
static int64_t site_of[MAXR];
static wset known[MAXR];       /* the writes that reached each replica */
static int64_t hlc_last[MAXR]; /* highest clock each replica issued or received */
static fsi_merge_cursor cur[MAXR][MAXR];

/* What docs/merge.md prescribes for a row, given a set of writes. */
typedef struct ostate {
  int64_t cl;    /* 0: none of the writes is of this row */
  int win[MAXC]; /* alive: the winning write of each column */
  int del;       /* deleted: the winning delete */
} ostate;

static int later(int a, int b) {
  if (W[a].hlc != W[b].hlc) return W[a].hlc > W[b].hlc;
  return W[a].site > W[b].site;
}

static int covers(int w, int c) {
  return W[w].kind == W_INSERT || (W[w].kind == W_UPDATE && W[w].col == c);
}

static void oracle_row(const wset *s, int r, ostate *o) {
  const orow *R = &rows[r];
  o->cl = 0;
  o->del = -1;
  for (int c = 0; c < MAXC; c++) o->win[c] = -1;
  for (int i = 0; i < R->nw; i++)
    if (ws_has(s, R->w[i]) && W[R->w[i]].cl > o->cl) o->cl = W[R->w[i]].cl;
  for (int i = 0; i < R->nw; i++) {
    int w = R->w[i];
    if (!ws_has(s, w) || W[w].cl != o->cl) continue;
    if (W[w].kind == W_DELETE) {
      if (o->del < 0 || later(w, o->del)) o->del = w;
      continue;
    }
    for (int c = 0; c < NCOLS(R->tbl); c++)
      if (covers(w, c) && (o->win[c] < 0 || later(w, o->win[c]))) o->win[c] = w;
  }
}

/* Neither writer had received the other's write. */
static int concurrent(int a, int b) { return !ws_has(&W[b].seen, a) && !ws_has(&W[a].seen, b); }

static int row_of(int tbl, const char *pk) {
  for (int i = 0; i < nrows; i++)
    if (rows[i].tbl == tbl && !strcmp(rows[i].pk, pk)) return i;
  return -1;
}

static int tbl_of(const char *name) {
  for (int t = 0; t < 2; t++)
    if (!strcmp(tables[t].name, name)) return t;
  return -1;
}

static int col_of(int tbl, const char *name) {
  for (int c = 0; c < NCOLS(tbl); c++)
    if (!strcmp(tables[tbl].cols[c].name, name)) return c;
  return -1;
}

/* Conflicts the oracle expects, per replica (deduplicated). */
typedef struct expect {
  int at, row, col, win, lose; /* at: the replica that must log it */
} expect;

static expect ex[MAXEXP];
static int nex;

/* --------------------------------------------- a replica, read by SQL */

enum { Q_ROWS0, Q_ROWS1, Q_CELLS, Q_TOMBS, Q_CONFLICT, Q_CONFLICTS, Q_N };
static const char *const q_sql[Q_N] = {
    "SELECT id, a, b, c, _cl, _hlc, _site FROM items",
    "SELECT id, item, body, _cl, _hlc, _site FROM notes",
    "SELECT tbl, pk, col, hlc, site, bhlc, bsite FROM fs_cell",
    "SELECT tbl, pk, cl, hlc, site, seen FROM fs_tomb",
    "SELECT winner, loser FROM fs_conflict WHERE tbl=?1 AND pk=?2 AND col=?3"
    " AND whlc=?4 AND wsite=?5 AND lhlc=?6 AND lsite=?7",
    "SELECT tbl, pk, col, winner, loser, whlc, wsite, lhlc, lsite FROM fs_conflict"
    " WHERE col != '*'",
};
static sqlite3_stmt *q[MAXR][Q_N];

/* A row as a replica holds it. */
typedef struct arow {
  int state; /* 0 absent, 1 alive, 2 deleted */
  int64_t cl, hlc, site, seen;
  int has_cell[MAXC];
  int64_t chlc[MAXC], csite[MAXC], cbhlc[MAXC], cbsite[MAXC];
  int vtype[MAXC];
  char val[MAXC][24];
} arow;

static arow act[MAXROWS];

static const char *text_or(sqlite3_stmt *s, int i) {
  const char *t = (const char *)sqlite3_column_text(s, i);
  return t ? t : "";
}

static void read_replica(int r) {
  memset(act, 0, sizeof act);
  for (int tbl = 0; tbl < 2; tbl++) {
    sqlite3_stmt *s = q[r][Q_ROWS0 + tbl];
    int nc = NCOLS(tbl);
    while (sqlite3_step(s) == SQLITE_ROW) {
      int ri = row_of(tbl, text_or(s, 0));
      PCHECK(ri >= 0, "replica %d holds %s %s, which no one wrote", r, tables[tbl].name,
             text_or(s, 0));
      if (ri < 0) continue;
      arow *a = &act[ri];
      a->state = 1;
      for (int c = 0; c < nc; c++) {
        a->vtype[c] = sqlite3_column_type(s, 1 + c);
        snprintf(a->val[c], sizeof a->val[c], "%s", text_or(s, 1 + c));
      }
      a->cl = sqlite3_column_int64(s, nc + 1);
      a->hlc = sqlite3_column_int64(s, nc + 2);
      a->site = sqlite3_column_int64(s, nc + 3);
    }
    sqlite3_reset(s);
  }
  sqlite3_stmt *s = q[r][Q_CELLS];
  while (sqlite3_step(s) == SQLITE_ROW) {
    int tbl = tbl_of(text_or(s, 0));
    int ri = tbl < 0 ? -1 : row_of(tbl, text_or(s, 1));
    int c = tbl < 0 ? -1 : col_of(tbl, text_or(s, 2));
    PCHECK(ri >= 0 && c >= 0 && act[ri].state == 1,
           "replica %d has a cell clock for %s.%s.%s, no live row's column", r, text_or(s, 0),
           text_or(s, 1), text_or(s, 2));
    if (ri < 0 || c < 0) continue;
    act[ri].has_cell[c] = 1;
    act[ri].chlc[c] = sqlite3_column_int64(s, 3);
    act[ri].csite[c] = sqlite3_column_int64(s, 4);
    act[ri].cbhlc[c] = sqlite3_column_int64(s, 5);
    act[ri].cbsite[c] = sqlite3_column_int64(s, 6);
  }
  sqlite3_reset(s);
  s = q[r][Q_TOMBS];
  while (sqlite3_step(s) == SQLITE_ROW) {
    int tbl = tbl_of(text_or(s, 0));
    int ri = tbl < 0 ? -1 : row_of(tbl, text_or(s, 1));
    PCHECK(ri >= 0 && act[ri].state == 0,
           "replica %d has a tombstone for %s %s, unknown or also alive", r, text_or(s, 0),
           text_or(s, 1));
    if (ri < 0) continue;
    arow *a = &act[ri];
    a->state = 2;
    a->cl = sqlite3_column_int64(s, 2);
    a->hlc = sqlite3_column_int64(s, 3);
    a->site = sqlite3_column_int64(s, 4);
    a->seen = sqlite3_column_int64(s, 5);
  }
  sqlite3_reset(s);
}

static const char *const state_name[] = {"absent", "alive", "deleted"};

/* The replica (act, just read) equals the oracle of the writes in s. */
static void compare(int r, const wset *s, const char *when) {
  for (int ri = 0; ri < nrows; ri++) {
    ostate o;
    oracle_row(s, ri, &o);
    const arow *a = &act[ri];
    const char *pk = rows[ri].pk, *tn = tables[rows[ri].tbl].name;
    int want = o.cl == 0 ? 0 : o.cl % 2 ? 1 : 2;
    PCHECK(a->state == want && (!want || a->cl == o.cl),
           "%s: replica %d holds %s %s as %s cl %" PRId64 ", the oracle as %s cl %" PRId64, when, r,
           tn, pk, state_name[a->state], a->cl, state_name[want], o.cl);
    if (a->state != want || !want || a->cl != o.cl) continue;
    if (want == 2) {
      PCHECK(a->hlc == W[o.del].hlc && a->site == W[o.del].site,
             "%s: replica %d: %s %s has delete clock (%" PRId64 ", %" PRId64
             "), the oracle (%" PRId64 ", %" PRId64 ")",
             when, r, tn, pk, a->hlc, a->site, W[o.del].hlc, W[o.del].site);
      continue;
    }
    for (int c = 0; c < NCOLS(rows[ri].tbl); c++) {
      int w = o.win[c];
      int64_t h = a->has_cell[c] ? a->chlc[c] : a->hlc;
      int64_t st = a->has_cell[c] ? a->csite[c] : a->site;
      int type = tables[rows[ri].tbl].cols[c].type == FS_COL_INT ? SQLITE_INTEGER : SQLITE_TEXT;
      PCHECK(w >= 0 && h == W[w].hlc && st == W[w].site && a->vtype[c] == type &&
                 !strcmp(a->val[c], W[w].val[c]),
             "%s: replica %d: %s %s.%s is \"%s\" at (%" PRId64 ", %" PRId64
             "), the oracle says \"%s\" at (%" PRId64 ", %" PRId64 ")",
             when, r, tn, pk, tables[rows[ri].tbl].cols[c].name, a->val[c], h, st,
             w >= 0 ? W[w].val[c] : "?", w >= 0 ? W[w].hlc : 0, w >= 0 ? W[w].site : 0);
    }
  }
}

static void check_replica(int r, const wset *s, const char *when) {
  read_replica(r);
  compare(r, s, when);
}

/* ------------------------------------------------------ local writes */

static void new_id(char pk[FS_ID_SIZE]) {
  for (;;) {
    uint32_t a = rnd(), b = rnd(), c = rnd(), d = rnd();
    snprintf(pk, FS_ID_SIZE, "%08x-%04x-7%03x-%04x-%08x%04x", a, b >> 16, b & 0xfff,
             0x8000 | (c >> 18), d, c & 0xffff);
    int dup = 0;
    for (int i = 0; i < nrows; i++) dup |= !strcmp(rows[i].pk, pk);
    if (!dup) return;
  }
}

static void rand_value(int tbl, int c, char out[8]) {
  if (tables[tbl].cols[c].type == FS_COL_INT)
    snprintf(out, 8, "%u", below(4));
  else
    snprintf(out, 8, "v%u", below(4));
}

static int add_write(int r, int kind, int ri, int col, int64_t cl) {
  if (nw == MAXW) abort(); /* a step writes at most once: cannot happen */
  write *w = &W[nw];
  memset(w, 0, sizeof *w);
  w->kind = kind;
  w->row = ri;
  w->col = col;
  w->cl = cl;
  w->seen = known[r];
  ws_add(&known[r], nw);
  rows[ri].w[rows[ri].nw++] = nw;
  return nw++;
}

/* The clock of the write just made at r, by the HLC rule of docs/merge.md. */
static void check_clock(int r, int w, int64_t now) {
  int64_t want = (int64_t)((uint64_t)now << HLC_LOGICAL_BITS);
  if (hlc_last[r] + 1 > want) want = hlc_last[r] + 1;
  PCHECK(W[w].hlc == want && W[w].site == site_of[r],
         "replica %d wrote at (%" PRId64 ", %" PRId64 "), the HLC rule gives (%" PRId64 ", %" PRId64
         ")",
         r, W[w].hlc, W[w].site, want, site_of[r]);
  hlc_last[r] = W[w].hlc;
}

static void op(int r) {
  fs_store *st = rep[r];
  uint32_t k = below(10);
  int64_t now = test_now(NULL);
  if (nrows == 0 || k < 2) { /* insert a new row */
    if (nrows == MAXROWS) return;
    int tbl = (int)below(2), ri = nrows;
    orow *R = &rows[ri];
    R->tbl = tbl;
    R->nw = 0;
    new_id(R->pk);
    nrows++;
    int w = add_write(r, W_INSERT, ri, -1, 1);
    fs_field f[MAXC + 1];
    f[0] = (fs_field){"id", R->pk};
    for (int c = 0; c < NCOLS(tbl); c++) {
      rand_value(tbl, c, W[w].val[c]);
      f[c + 1] = (fs_field){tables[tbl].cols[c].name, W[w].val[c]};
    }
    CHECK_OK(fs_insert(NULL, st, tables[tbl].name, f, (size_t)NCOLS(tbl) + 1));
    read_replica(r);
    const arow *a = &act[ri];
    W[w].hlc = a->hlc;
    W[w].site = a->site;
    PCHECK(a->state == 1 && a->cl == 1 && !a->has_cell[0] && !a->has_cell[1] && !a->has_cell[2],
           "replica %d: insert of %s is not one alive row of causal length 1 with one clock", r,
           R->pk);
    check_clock(r, w, now);
    compare(r, &known[r], "after an insert");
    return;
  }
  int ri = (int)below((uint32_t)nrows);
  int tbl = rows[ri].tbl;
  ostate o;
  oracle_row(&known[r], ri, &o);
  if (o.cl == 0) return; /* this replica has not heard of the row */
  if (o.cl % 2 == 0) {   /* deleted: sometimes re-insert it under its id */
    if (k >= 4) return;
    int w = add_write(r, W_INSERT, ri, -1, o.cl + 1);
    fs_field f[MAXC + 1];
    f[0] = (fs_field){"id", rows[ri].pk};
    for (int c = 0; c < NCOLS(tbl); c++) {
      rand_value(tbl, c, W[w].val[c]);
      f[c + 1] = (fs_field){tables[tbl].cols[c].name, W[w].val[c]};
    }
    CHECK_OK(fs_insert(NULL, st, tables[tbl].name, f, (size_t)NCOLS(tbl) + 1));
    read_replica(r);
    W[w].hlc = act[ri].hlc;
    W[w].site = act[ri].site;
    PCHECK(act[ri].state == 1 && act[ri].cl == o.cl + 1,
           "replica %d: re-insert of %s has causal length %" PRId64 ", not %" PRId64, r,
           rows[ri].pk, act[ri].cl, o.cl + 1);
    check_clock(r, w, now);
    compare(r, &known[r], "after a re-insert");
    return;
  }
  if (k == 9) { /* delete */
    int64_t seen = 0;
    for (int c = 0; c < NCOLS(tbl); c++)
      if (W[o.win[c]].hlc > seen) seen = W[o.win[c]].hlc;
    int w = add_write(r, W_DELETE, ri, -1, o.cl + 1);
    CHECK_OK(fs_delete(st, tables[tbl].name, rows[ri].pk));
    read_replica(r);
    W[w].hlc = act[ri].hlc;
    W[w].site = act[ri].site;
    PCHECK(act[ri].state == 2 && act[ri].cl == o.cl + 1 && act[ri].seen == seen,
           "replica %d: delete of %s: cl %" PRId64 " seen %" PRId64 ", expected cl %" PRId64
           " seen %" PRId64,
           r, rows[ri].pk, act[ri].cl, act[ri].seen, o.cl + 1, seen);
    check_clock(r, w, now);
    compare(r, &known[r], "after a delete");
    return;
  }
  /* edit one column */
  int c = (int)below((uint32_t)NCOLS(tbl));
  char v[8];
  rand_value(tbl, c, v);
  fs_field f = {tables[tbl].cols[c].name, v};
  int64_t before = fs_store_db_version(st);
  CHECK_OK(fs_update(st, tables[tbl].name, rows[ri].pk, &f, 1));
  if (!strcmp(v, W[o.win[c]].val[c])) { /* the same value: nothing to record */
    PCHECK(fs_store_db_version(st) == before, "replica %d: an edit to the same value wrote", r);
    return;
  }
  int base = o.win[c];
  int w = add_write(r, W_UPDATE, ri, c, o.cl);
  memcpy(W[w].val[c], v, sizeof v);
  read_replica(r);
  const arow *a = &act[ri];
  W[w].hlc = a->chlc[c];
  W[w].site = a->csite[c];
  PCHECK(a->state == 1 && a->has_cell[c] && a->cbhlc[c] == W[base].hlc &&
             a->cbsite[c] == W[base].site,
         "replica %d: edit of %s.%s has base (%" PRId64 ", %" PRId64
         "), not the clock of the value it replaced (%" PRId64 ", %" PRId64 ")",
         r, rows[ri].pk, tables[tbl].cols[c].name, a->cbhlc[c], a->cbsite[c], W[base].hlc,
         W[base].site);
  check_clock(r, w, now);
  compare(r, &known[r], "after an edit");
}

/* -------------------------------------------------------------- delivery */

typedef struct batch {
  fsi_batch *b;
  int from, to;
  wset kfrom; /* what had reached the sender when the batch was extracted */
} batch;

static batch pend[MAXPEND];
static int npend;
static batch kept[MAXR * MAXR]; /* the full exchange's batches, delivered again */
static int nkept;
static long total_rows, total_expected, total_over, total_logged, total_over_conc;

static int value_is(const fsi_value *v, int tbl, int c, const char *want) {
  char buf[24];
  if (tables[tbl].cols[c].type == FS_COL_INT) {
    if (v->type != FS_VAL_INT) return 0;
    snprintf(buf, sizeof buf, "%" PRId64, v->i);
    return !strcmp(buf, want);
  }
  return v->type == FS_VAL_TEXT && v->n == strlen(want) && !memcmp(v->s, want, v->n);
}

/* A delivered row is its sender's state: the oracle of what had reached it. */
static void check_sent(const batch *p, const fsi_rowchange *rc, int ri, const ostate *o) {
  int tbl = rows[ri].tbl;
  PCHECK(rc->cl == o->cl, "replica %d sent %s with cl %" PRId64 ", the oracle has %" PRId64,
         p->from, rc->pk, rc->cl, o->cl);
  if (rc->cl != o->cl || o->cl == 0) return;
  if (o->cl % 2 == 0) {
    PCHECK(rc->hlc == W[o->del].hlc && rc->site == W[o->del].site,
           "replica %d sent %s with a wrong delete clock", p->from, rc->pk);
    return;
  }
  PCHECK(rc->nvals == NCOLS(tbl), "replica %d sent %s with %u values", p->from, rc->pk, rc->nvals);
  if (rc->nvals != NCOLS(tbl)) return;
  for (int c = 0; c < NCOLS(tbl); c++) {
    int64_t h = rc->hlc, s = rc->site;
    for (size_t k = 0; k < rc->ncells; k++)
      if (rc->cells[k].col == c) h = rc->cells[k].hlc, s = rc->cells[k].site;
    int w = o->win[c];
    PCHECK(w >= 0 && h == W[w].hlc && s == W[w].site && value_is(&rc->vals[c], tbl, c, W[w].val[c]),
           "replica %d sent %s.%s at (%" PRId64 ", %" PRId64 "), the oracle has \"%s\" at (%" PRId64
           ", %" PRId64 ")",
           p->from, rc->pk, tables[tbl].cols[c].name, h, s, w >= 0 ? W[w].val[c] : "?",
           w >= 0 ? W[w].hlc : 0, w >= 0 ? W[w].site : 0);
  }
}

static void expect_conflict(int to, int ri, int c, int a, int b) {
  int win = later(a, b) ? a : b, lose = win == a ? b : a;
  for (int i = 0; i < nex; i++)
    if (ex[i].at == to && ex[i].row == ri && ex[i].col == c && ex[i].win == win &&
        ex[i].lose == lose)
      return;
  PCHECK(nex < MAXEXP, "more than %d conflicts expected: raise MAXEXP", MAXEXP);
  if (nex == MAXEXP) return;
  ex[nex++] = (expect){to, ri, c, win, lose};
  total_expected++;
}

static void check_logged(const expect *e) {
  sqlite3_stmt *s = q[e->at][Q_CONFLICT];
  int tbl = rows[e->row].tbl;
  const char *col = tables[tbl].cols[e->col].name;
  sqlite3_bind_text(s, 1, tables[tbl].name, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, rows[e->row].pk, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, col, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 4, W[e->win].hlc);
  sqlite3_bind_int64(s, 5, W[e->win].site);
  sqlite3_bind_int64(s, 6, W[e->lose].hlc);
  sqlite3_bind_int64(s, 7, W[e->lose].site);
  int found = sqlite3_step(s) == SQLITE_ROW;
  PCHECK(found && !strcmp(text_or(s, 0), W[e->win].val[e->col]) &&
             !strcmp(text_or(s, 1), W[e->lose].val[e->col]),
         "replica %d: concurrent edits of %s.%s (\"%s\" at %" PRId64 " wins over \"%s\" at %" PRId64
         ") %s",
         e->at, rows[e->row].pk, col, W[e->win].val[e->col], W[e->win].hlc, W[e->lose].val[e->col],
         W[e->lose].hlc, found ? "logged with the wrong values" : "met and were not logged");
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
}

/* Applies a batch at its receiver; returns the rows whose state changed. */
static long deliver(const batch *p) {
  const fsi_batch *b = p->b;
  int to = p->to;
  int first = nex;
  int64_t maxh = 0;
  wset gained = known[to];
  if (b->nrows == 0) return 0;
  for (size_t i = 0; i < b->nrows; i++) {
    const fsi_rowchange *rc = &b->rows[i];
    int tbl = tbl_of(b->tables[rc->table].name);
    int ri = tbl < 0 ? -1 : row_of(tbl, rc->pk);
    PCHECK(ri >= 0, "replica %d sent %s, which no one wrote", p->from, rc->pk);
    if (ri < 0) continue;
    if (rc->hlc > maxh) maxh = rc->hlc;
    for (size_t k = 0; k < rc->ncells; k++)
      if (rc->cells[k].hlc > maxh) maxh = rc->cells[k].hlc;
    ostate rem, loc;
    oracle_row(&p->kfrom, ri, &rem);
    oracle_row(&known[to], ri, &loc);
    check_sent(p, rc, ri, &rem);
    /* Values of one incarnation meet: concurrent different values conflict. */
    if (rem.cl % 2 == 1 && loc.cl == rem.cl)
      for (int c = 0; c < NCOLS(tbl); c++) {
        int a = loc.win[c], bw = rem.win[c];
        if (a >= 0 && bw >= 0 && a != bw && concurrent(a, bw) && strcmp(W[a].val[c], W[bw].val[c]))
          expect_conflict(to, ri, c, a, bw);
      }
    for (int k = 0; k < rows[ri].nw; k++)
      if (ws_has(&p->kfrom, rows[ri].w[k])) ws_add(&gained, rows[ri].w[k]);
  }
  fsi_merge_opts o = {site_of[p->from], NULL};
  fsi_merge_result res;
  tclock.at = to;
  long applied = 0;
  int rc = fsi_merge_apply(rep[to], b, &o, &res);
  CHECK_OK(rc);
  if (rc == FS_OK) {
    applied = (long)res.applied;
    fsi_merge_result_free(&res);
    known[to] = gained;
    if (maxh > hlc_last[to]) hlc_last[to] = maxh;
  }
  total_rows += (long)b->nrows;
  for (int i = first; i < nex; i++) check_logged(&ex[i]);
  return applied;
}

static void deliver_pending(int i) {
  batch p = pend[i];
  pend[i] = pend[--npend];
  deliver(&p);
  fsi_change_batch_free(p.b);
  check_replica(p.to, &known[p.to], "after a late batch");
}

/* Exchange from -> to.  Partial: a few small batches, in shuffled order,
 * some twice, one sometimes held back to arrive later.  Full: everything
 * after the cursor, its batches kept to be delivered again at the end. */
static void exchange(int from, int to, int full) {
  batch bs[8];
  int nb = 0, more = 1;
  fsi_merge_cursor c = cur[from][to];
  fsi_merge_filter f = {site_of[to], NULL, 0, 0};
  tclock.at = from;
  while (more && nb < 8) {
    size_t max = full ? 1000 : 1 + below(4);
    fsi_merge_cursor next;
    bs[nb] = (batch){fsi_change_batch_new(), from, to, known[from]};
    CHECK_OK(fsi_merge_changes_since(rep[from], &c, &f, max, bs[nb].b, &next, &more));
    c = next;
    nb++;
    if (!full && below(2)) break;
  }
  for (int i = nb - 1; i > 0; i--) {
    int j = (int)below((uint32_t)(i + 1));
    batch t = bs[i];
    bs[i] = bs[j];
    bs[j] = t;
  }
  for (int i = 0; i < nb; i++) {
    if (!full && npend < MAXPEND && bs[i].b->nrows && below(8) == 0) {
      pend[npend++] = bs[i];
      continue;
    }
    deliver(&bs[i]);
    if (!full && below(5) == 0) deliver(&bs[i]);
    if (full && bs[i].b->nrows && nkept < MAXR * MAXR)
      kept[nkept++] = bs[i];
    else
      fsi_change_batch_free(bs[i].b);
  }
  PCHECK(!full || !more, "a full exchange %d -> %d left rows behind", from, to);
  cur[from][to] = c;
  check_replica(to, &known[to], full ? "after a full exchange" : "after an exchange");
}

/* Every replica exchanges everything, through the hub or all pairs; one
 * round converges. */
static void full_round(void) {
  if (hub) {
    for (int d = 1; d < nrep; d++) exchange(d, 0, 1);
    for (int d = 1; d < nrep; d++) exchange(0, d, 1);
  } else {
    for (int i = 0; i < nrep; i++)
      for (int j = 0; j < nrep; j++)
        if (i != j) exchange(i, j, 1);
  }
}

/* ------------------------------------------------------------- a seed */

/* Conflicts logged at r: each names two differing writes of one cell,
 * the greater as winner; those the oracle did not expect are counted as
 * over-reported. */
static void audit_conflicts(int r) {
  sqlite3_stmt *s = q[r][Q_CONFLICTS];
  while (sqlite3_step(s) == SQLITE_ROW) {
    int tbl = tbl_of(text_or(s, 0));
    int ri = tbl < 0 ? -1 : row_of(tbl, text_or(s, 1));
    int c = ri < 0 ? -1 : col_of(tbl, text_or(s, 2));
    int win = -1, lose = -1;
    for (int k = 0; c >= 0 && k < rows[ri].nw; k++) {
      int w = rows[ri].w[k];
      if (!covers(w, c)) continue;
      if (W[w].hlc == sqlite3_column_int64(s, 5) && W[w].site == sqlite3_column_int64(s, 6))
        win = w;
      if (W[w].hlc == sqlite3_column_int64(s, 7) && W[w].site == sqlite3_column_int64(s, 8))
        lose = w;
    }
    total_logged++;
    int sound = win >= 0 && lose >= 0 && W[win].cl == W[lose].cl && later(win, lose) &&
                strcmp(W[win].val[c], W[lose].val[c]) && !strcmp(text_or(s, 3), W[win].val[c]) &&
                !strcmp(text_or(s, 4), W[lose].val[c]);
    PCHECK(sound, "replica %d logged a conflict on %s.%s that is no pair of differing writes", r,
           text_or(s, 1), text_or(s, 2));
    if (!sound) continue;
    int expected = 0;
    for (int i = 0; i < nex && !expected; i++)
      expected = ex[i].at == r && ex[i].row == ri && ex[i].col == c && ex[i].win == win &&
                 ex[i].lose == lose;
    if (!expected) total_over++;
    if (!expected && concurrent(win, lose)) total_over_conc++;
  }
  sqlite3_reset(s);
}

/* Appends the result of sql at r, every column as text, to *buf. */
static void dump(int r, const char *sql, char **buf, size_t *len) {
  sqlite3_stmt *s = NULL;
  CHECK(sqlite3_prepare_v2(rep[r]->db, sql, -1, &s, NULL) == SQLITE_OK);
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(s); i++) {
      const char *t = text_or(s, i);
      size_t n = strlen(t);
      char *nb = realloc(*buf, *len + n + 2);
      if (!nb) abort();
      *buf = nb;
      memcpy(*buf + *len, t, n);
      *len += n;
      (*buf)[(*len)++] = i + 1 < sqlite3_column_count(s) ? '|' : '\n';
      (*buf)[*len] = '\0';
    }
  }
  sqlite3_finalize(s);
}

static long seeds_hub, seeds_pairs;

/* Runs one seed; with digest, *digest gets every replica's final export,
 * clocks, tombstones and conflict log as text (caller frees). */
static void run_seed(uint32_t seed, char **digest) {
  seed_now = seed;
  seed_fails = 0;
  rng = seed * 0x9E3779B9u;
  nrep = 3 + (int)below(3);
  hub = (int)below(2);
  nw = nrows = nex = npend = nkept = 0;
  memset(known, 0, sizeof known);
  memset(hlc_last, 0, sizeof hlc_last);
  memset(cur, 0, sizeof cur);
  tclock.base = EPOCH_MS + below(1000);
  tclock.at = 0;
  fsi_util_set_clock(test_now, NULL);
  for (int r = 0; r < nrep; r++) {
    tclock.off[r] = (int64_t)below(41) - 20;
    for (int j = 0; j < nrep; j++) cur[r][j].tbl = -1;
    int64_t s;
    int dup;
    do {
      uint64_t hi = rnd();
      s = (int64_t)((hi << 32 | rnd()) & INT64_MAX);
      dup = s == 0;
      for (int j = 0; j < r; j++) dup |= site_of[j] == s;
    } while (dup);
    site_of[r] = s;
    unsigned flags = FS_OPEN_CREATE | (hub && r == 0 ? FS_OPEN_SERVER : 0);
    CHECK_OK(fs_store_open(&rep[r], ":memory:", &schema, flags));
    CHECK_OK(fsi_store_set_site_for_test(rep[r], s));
    CHECK_EQ_INT(fs_store_site(rep[r]), s);
    for (int k = 0; k < Q_N; k++)
      CHECK(sqlite3_prepare_v3(rep[r]->db, q_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &q[r][k],
                               NULL) == SQLITE_OK);
  }
  if (hub)
    seeds_hub++;
  else
    seeds_pairs++;

  int steps = 20 + (int)below(40);
  for (int s = 0; s < steps; s++) {
    tclock.base += below(3); /* often the same millisecond: counters and ties */
    if (below(16) == 0) {    /* a replica's wall clock jumps, maybe backwards */
      int j = (int)below((uint32_t)nrep);
      tclock.off[j] = (int64_t)below(81) - 40;
    }
    int r = (int)below((uint32_t)nrep);
    uint32_t k = below(10);
    tclock.at = r;
    if (k < 6) {
      op(r);
    } else if (k == 9 && npend) {
      deliver_pending((int)below((uint32_t)npend));
    } else if (hub) {
      int d = 1 + (int)below((uint32_t)nrep - 1);
      if (below(2))
        exchange(d, 0, 0);
      else
        exchange(0, d, 0);
    } else {
      int to = (r + 1 + (int)below((uint32_t)nrep - 1)) % nrep;
      exchange(r, to, 0);
    }
  }
  while (npend) deliver_pending(npend - 1);
  for (int r = 0; r < nrep; r++) check_replica(r, &known[r], "after the random phase");

  full_round();
  wset all = {{0}};
  for (int w = 0; w < nw; w++) ws_add(&all, w);
  for (int r = 0; r < nrep; r++) check_replica(r, &all, "after the full exchange");
  char *first = NULL;
  CHECK_OK(fs_view_json(&first, rep[0], "export", NULL));
  for (int r = 1; r < nrep; r++) {
    char *e = NULL;
    CHECK_OK(fs_view_json(&e, rep[r], "export", NULL));
    PCHECK(first && e && !strcmp(first, e), "replica %d export differs:\n  %s\n  %s", r,
           first ? first : "", e ? e : "");
    fs_free(e);
  }
  /* Converged: the full exchange's (older) batches again, last first, change
   * nothing. */
  long again = 0;
  while (nkept) {
    batch *p = &kept[--nkept];
    again += deliver(p);
    fsi_change_batch_free(p->b);
  }
  PCHECK(again == 0, "batches delivered again after convergence changed %ld rows", again);
  for (int r = 0; r < nrep; r++) check_replica(r, &all, "after batches delivered again");
  for (int r = 0; r < nrep; r++) audit_conflicts(r);

  if (digest) {
    char *buf = NULL;
    size_t len = 0;
    for (int r = 0; r < nrep; r++) {
      char *e = NULL;
      CHECK_OK(fs_view_json(&e, rep[r], "export", NULL));
      size_t n = e ? strlen(e) : 0;
      char *nb = realloc(buf, len + n + 2);
      if (!nb) abort();
      buf = nb;
      memcpy(buf + len, e ? e : "", n);
      len += n;
      buf[len++] = '\n';
      buf[len] = '\0';
      fs_free(e);
      dump(r, "SELECT key, value FROM fs_meta ORDER BY key", &buf, &len);
      dump(r, "SELECT * FROM items ORDER BY id", &buf, &len);
      dump(r, "SELECT * FROM notes ORDER BY id", &buf, &len);
      dump(r, "SELECT * FROM fs_cell ORDER BY tbl, pk, col", &buf, &len);
      dump(r, "SELECT * FROM fs_tomb ORDER BY tbl, pk", &buf, &len);
      dump(r, "SELECT * FROM fs_conflict ORDER BY id", &buf, &len);
    }
    *digest = buf;
  }
  fs_free(first);
  for (int r = 0; r < nrep; r++) {
    for (int k = 0; k < Q_N; k++) sqlite3_finalize(q[r][k]);
    fs_store_close(rep[r]);
    rep[r] = NULL;
  }
}

static void test_property(void) {
  const char *one = getenv("FS_PROPTEST_SEED");
  const char *many = getenv("FS_PROPTEST_SEEDS");
  uint32_t n = many ? (uint32_t)strtoul(many, NULL, 10) : 2000, failed = 0, first_failed = 0;
  int checks0 = tu_checks;
  seeds_hub = seeds_pairs = 0;
  total_rows = total_expected = total_over = total_logged = total_over_conc = 0;
  if (one) {
    uint32_t s = (uint32_t)strtoul(one, NULL, 10);
    long e0 = total_expected, o0 = total_over;
    run_seed(s, NULL);
    printf("seed %u: %s, %d replicas, %d writes, %d checks, %ld concurrent edits checked, "
           "%ld over-reported, %s\n",
           s, hub ? "hub" : "all pairs", nrep, nw, tu_checks - checks0, total_expected - e0,
           total_over - o0, seed_fails ? "FAILED" : "ok");
    n = 1;
  } else {
    for (uint32_t s = 1; s <= n; s++) {
      run_seed(s, NULL);
      if (!seed_fails) continue;
      if (!failed) first_failed = s;
      if (!quiet) fprintf(stderr, "replay with FS_PROPTEST_SEED=%u\n", s);
      quiet = ++failed >= 5;
    }
    /* Both topologies are exercised by any run of more than a few seeds. */
    if (n >= 20) CHECK(seeds_hub > 0 && seeds_pairs > 0);
  }
  printf("convergence: %u seeds (%ld hub, %ld all pairs), %d checks, %ld rows delivered, "
         "%ld concurrent edits checked, %ld of %ld logged conflicts over-reported (%ld of "
         "them concurrent, the rest edit chains)\n",
         n, seeds_hub, seeds_pairs, tu_checks - checks0, total_rows, total_expected, total_over,
         total_logged, total_over_conc);
  if (failed) printf("convergence: %u of %u seeds FAILED (first: %u)\n", failed, n, first_failed);
}

/* One seed, five times in one process: the same checks, the same verdict,
 * the same final state on every replica. */
static void test_replay(void) {
  const char *one = getenv("FS_PROPTEST_SEED");
  uint32_t seed = one ? (uint32_t)strtoul(one, NULL, 10) : 467;
  char *first = NULL;
  int checks = 0, fails = 0, before = tu_failed;
  for (int i = 0; i < 5; i++) {
    int c0 = tu_checks, f0 = tu_failed;
    char *d = NULL;
    run_seed(seed, &d);
    int c = tu_checks - c0, f = tu_failed - f0;
    if (i == 0) {
      first = d;
      checks = c;
      fails = f;
      continue;
    }
    CHECK_EQ_INT(c, checks);
    CHECK_EQ_INT(f, fails);
    CHECK_STR(d, first);
    free(d);
  }
  printf("replay: seed %u five times: %d checks, %zu bytes of final state, %s\n", seed, checks,
         first ? strlen(first) : 0, tu_failed == before ? "identical" : "NOT identical");
  free(first);
}

int main(void) {
  TEST_RUN(test_replay);
  TEST_RUN(test_property);
  return tu_finish();
}
