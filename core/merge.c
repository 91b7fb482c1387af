/*
 * merge.c — extraction of row states and the merge of received batches.
 *
 * Rules (docs/merge.md states them for people):
 *  1. Causal length: a row's incarnation count, odd while alive.  The larger
 *     causal length wins outright: a delete (even) beats every edit of the
 *     incarnation it deleted, a re-insert (odd) beats that delete.
 *  2. Same causal length: per column, the value with the larger (hlc, site)
 *     wins; the row clock is the larger of the two insert clocks; a column
 *     keeps its own clock entry only when it differs from the row clock.
 *     The result depends only on the set of states merged, never on order
 *     or repetition.
 *  3. A concurrent edit is one whose writer had not seen the value it
 *     replaces: neither side's base clock is the other side's clock.  When
 *     such values differ, both go to fs_conflict (deduplicated).
 *  4. Write policy: head-office tables and head-office columns accept clocks
 *     of the head-office site only; at head office, a device may only write
 *     its own manager's customers.  Refusals are logged and reported, the
 *     rest of the batch applies.
 */
#include "merge.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"
#include "util.h"

static int clock_cmp(int64_t h1, int64_t s1, int64_t h2, int64_t s2) {
  if (h1 != h2) return h1 < h2 ? -1 : 1;
  if (s1 != s2) return s1 < s2 ? -1 : 1;
  return 0;
}

/* ----------------------------------------------------------- cursors */

void merge_cursor_format(const merge_cursor *c, char *out, size_t n) {
  snprintf(out, n, "%" PRId64 ".%" PRId32 ".%s", c->seq, c->tbl, c->pk);
}

int merge_cursor_parse(merge_cursor *c, const char *text) {
  memset(c, 0, sizeof *c);
  c->tbl = -1;
  if (!text || !*text) return FS_OK;
  /* Strictly "DIGITS.[-]DIGITS.PK": no signs, spaces or overflow. */
  const char *p = text;
  int64_t seq = 0, tbl = 0;
  int neg = 0;
  if (*p < '0' || *p > '9') goto bad;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (seq > (INT64_MAX - 9) / 10) goto bad;
    seq = seq * 10 + (*p - '0');
  }
  if (*p++ != '.') goto bad;
  if (*p == '-') neg = 1, p++;
  if (*p < '0' || *p > '9') goto bad;
  for (; *p >= '0' && *p <= '9'; p++) {
    tbl = tbl * 10 + (*p - '0');
    if (tbl > FS_BATCH_MAX_TABLES) goto bad;
  }
  if (neg) tbl = -tbl;
  if (*p++ != '.' || tbl < -1) goto bad;
  size_t n = strlen(p);
  if (n > FS_BATCH_MAX_PK || !util_utf8_valid(p, n)) goto bad;
  c->seq = seq;
  c->tbl = (int32_t)tbl;
  memcpy(c->pk, p, n + 1);
  return FS_OK;
bad:
  return fs_fail(FS_EINVAL, "malformed sync cursor \"%.80s\"", text);
}

/* -------------------------------------------------------- extraction */

typedef struct stream {
  sqlite3_stmt *s;
  int tbl;
  int tomb;
  int has; /* a row is pending in s */
} stream;

static int stream_key_cmp(const stream *a, const stream *b) {
  int64_t da = sqlite3_column_int64(a->s, 0), db = sqlite3_column_int64(b->s, 0);
  if (da != db) return da < db ? -1 : 1;
  if (a->tbl != b->tbl) return a->tbl < b->tbl ? -1 : 1;
  return strcmp((const char *)sqlite3_column_text(a->s, 1),
                (const char *)sqlite3_column_text(b->s, 1));
}

static int is_customers(const tbl_state *ts) { return !strcmp(ts->decl->name, "customers"); }

/* SQL for one stream: column 0 = change number, 1 = id, then the row. */
static char *stream_sql(fs_store *st, tbl_state *ts, int tomb, const merge_filter *f) {
  size_t cap = 1024 + strlen(ts->collist);
  char *sql = malloc(cap);
  if (!sql) return NULL;
  const char *t = ts->decl->name;
  char where[512] = "";
  int by_manager = f && f->manager && store_table(st, "customers") &&
                   !(f->include_all_hq && ts->decl->owner == FS_OWNER_HQ && ts->cust_col < 0);
  if (by_manager) {
    if (tomb)
      snprintf(where, sizeof where,
               " AND (cust IS NULL OR cust IN (SELECT id FROM customers WHERE manager=?4)"
               " OR NOT EXISTS (SELECT 1 FROM customers WHERE id=cust))");
    else if (is_customers(ts)) /* and those moved away, so devices let go */
      snprintf(where, sizeof where,
               " AND (manager=?4 OR id IN (SELECT pk FROM fs_moved WHERE manager=?4))");
    else if (ts->cust_col >= 0)
      snprintf(where, sizeof where,
               " AND \"%s\" IN (SELECT id FROM customers WHERE manager=?4)",
               ts->decl->cols[ts->cust_col].name);
  }
  if (tomb)
    snprintf(sql, cap,
             "SELECT seq, pk, cl, hlc, site, seen FROM fs_tomb WHERE tbl='%s'"
             " AND seq > ?1 AND src != ?3%s ORDER BY seq LIMIT ?5",
             t, where);
  else
    snprintf(sql, cap,
             "SELECT _seq, id, _cl, _hlc, _site, _nc, %s FROM \"%s\""
             " WHERE _seq > ?1 AND _src != ?3%s ORDER BY _seq LIMIT ?5",
             ts->collist, t, where);
  return sql;
}

static int stream_step(fs_store *st, stream *s) {
  int r = sqlite3_step(s->s);
  if (r == SQLITE_ROW) {
    s->has = 1;
    return FS_OK;
  }
  s->has = 0;
  return r == SQLITE_DONE ? FS_OK : store_sqlfail(st, "reading changes");
}

/* Copies the current row of stream s into a row change of batch b. */
static int emit(fs_store *st, fs_batch *b, stream *s, tbl_state *ts) {
  struct fs_arena *a = b->arena;
  fs_rowchange *rc = &b->rows[b->nrows];
  sqlite3_stmt *q = s->s;
  memset(rc, 0, sizeof *rc);
  rc->table = (uint16_t)s->tbl;
  const char *pk = (const char *)sqlite3_column_text(q, 1);
  rc->pk = arena_strndup(a, pk, strlen(pk));
  rc->cl = sqlite3_column_int64(q, 2);
  rc->hlc = sqlite3_column_int64(q, 3);
  rc->site = sqlite3_column_int64(q, 4);
  if (!rc->pk) return fs_fail(FS_ENOMEM, "out of memory");
  int64_t lo = rc->hlc, hi = rc->hlc;
  if (s->tomb) {
    rc->seen = sqlite3_column_int64(q, 5);
  } else {
    size_t nc = ts->decl->ncols;
    int ncells = sqlite3_column_int(q, 5);
    rc->nvals = (uint16_t)nc;
    rc->vals = arena_alloc(a, nc * sizeof *rc->vals);
    if (!rc->vals) return fs_fail(FS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nc; i++) {
      int e = value_read(q, (int)i + 6, a, &rc->vals[i]);
      if (e) return e;
    }
    if (ncells > 0) {
      row r;
      int e = row_load(st, ts, rc->pk, a, &r);
      if (e) return e;
      rc->cells = arena_alloc(a, nc * sizeof *rc->cells);
      if (!rc->cells) return fs_fail(FS_ENOMEM, "out of memory");
      for (size_t i = 0; r.state == ROW_LIVE && i < nc; i++) {
        if (!r.has_cell[i]) continue;
        rc->cells[rc->ncells++] = r.cells[i];
        if (r.cells[i].hlc < lo) lo = r.cells[i].hlc;
        if (r.cells[i].hlc > hi) hi = r.cells[i].hlc;
      }
    }
  }
  if (b->nrows == 0 || lo < b->hlc_min) b->hlc_min = lo;
  if (b->nrows == 0 || hi > b->hlc_max) b->hlc_max = hi;
  b->nrows++;
  return FS_OK;
}

int merge_changes_since(fs_store *st, const merge_cursor *from, const merge_filter *f,
                        size_t max_rows, fs_batch *out, merge_cursor *next, int *more) {
  size_t ns = st->nt * 2;
  stream *ss = NULL;
  int rc = FS_OK;
  change_batch_reset(out);
  *more = 0;
  *next = *from;
  /* One read transaction: every stream sees the same snapshot, so a write
   * committed meanwhile by another process cannot fall behind the cursor. */
  int own_tx = sqlite3_get_autocommit(st->db);
  if (own_tx && sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return store_sqlfail(st, "reading changes");
  if (max_rows == 0 || max_rows > FS_BATCH_MAX_ROWS) max_rows = FS_BATCH_MAX_ROWS;
  ss = calloc(ns, sizeof *ss);
  out->tables = arena_alloc(out->arena, st->nt * sizeof *out->tables);
  out->rows = arena_alloc(out->arena, max_rows * sizeof *out->rows);
  if (!ss || !out->tables || !out->rows) {
    rc = fs_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  out->ntables = (uint16_t)st->nt;
  for (size_t i = 0; i < st->nt; i++) {
    out->tables[i].name = st->t[i].decl->name;
    out->tables[i].ncols = (uint16_t)st->t[i].decl->ncols;
    out->tables[i].cols = arena_alloc(out->arena, st->t[i].decl->ncols * sizeof(char *));
    if (!out->tables[i].cols) {
      rc = fs_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    for (size_t j = 0; j < st->t[i].decl->ncols; j++)
      out->tables[i].cols[j] = st->t[i].decl->cols[j].name;
  }
  for (size_t k = 0; k < ns; k++) {
    tbl_state *ts = &st->t[k / 2];
    stream *s = &ss[k];
    s->tbl = ts->idx;
    s->tomb = (int)(k % 2);
    char *sql = stream_sql(st, ts, s->tomb, f);
    if (!sql) {
      rc = fs_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    int pr = sqlite3_prepare_v2(st->db, sql, -1, &s->s, NULL);
    free(sql);
    if (pr != SQLITE_OK) {
      rc = store_sqlfail(st, "preparing change extraction");
      goto done;
    }
    /* Change numbers are unique across the store: the row at the cursor's
     * number is the last one sent, everything after it is new. */
    sqlite3_bind_int64(s->s, 1, from->seq);
    /* site ids are positive: -1 excludes nothing */
    sqlite3_bind_int64(s->s, 3, f && f->exclude_src ? f->exclude_src : -1);
    if (f && f->manager) sqlite3_bind_text(s->s, 4, f->manager, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->s, 5, (sqlite3_int64)max_rows + 1);
    if ((rc = stream_step(st, s))) goto done;
  }
  for (;;) {
    stream *best = NULL;
    for (size_t k = 0; k < ns; k++)
      if (ss[k].has && (!best || stream_key_cmp(&ss[k], best) < 0)) best = &ss[k];
    if (!best) break;
    if (out->nrows == max_rows) {
      *more = 1;
      break;
    }
    if ((rc = emit(st, out, best, &st->t[best->tbl]))) goto done;
    next->seq = sqlite3_column_int64(best->s, 0);
    next->tbl = best->tbl;
    snprintf(next->pk, sizeof next->pk, "%s", (const char *)sqlite3_column_text(best->s, 1));
    if ((rc = stream_step(st, best))) goto done;
  }
done:
  for (size_t k = 0; ss && k < ns; k++) sqlite3_finalize(ss[k].s);
  free(ss);
  if (own_tx) sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
  if (rc) change_batch_reset(out);
  return rc;
}

/* ------------------------------------------------------------- apply */

void merge_result_free(merge_result *res) {
  if (!res) return;
  arena_free(res->arena);
  memset(res, 0, sizeof *res);
}

static int refuse(fs_store *st, merge_result *res, const char *table, const char *pk,
                  const char *col, int64_t site, int64_t hlc, const char *reason) {
  if (res->refused == res->cap) {
    size_t cap = res->cap ? res->cap * 2 : 16;
    merge_refusal *n = arena_alloc(res->arena, cap * sizeof *n);
    if (!n) return fs_fail(FS_ENOMEM, "out of memory");
    if (res->refused) memcpy(n, res->refusals, res->refused * sizeof *n);
    res->refusals = n;
    res->cap = cap;
  }
  merge_refusal *r = &res->refusals[res->refused++];
  r->table = table;
  r->pk = arena_strndup(res->arena, pk, strlen(pk));
  r->col = col;
  r->site = site;
  r->hlc = hlc;
  r->reason = arena_strndup(res->arena, reason, strlen(reason));
  if (!r->pk || !r->reason) return fs_fail(FS_ENOMEM, "out of memory");
  return refused_log(st, table, pk, col, site, hlc, reason);
}

/* The manager a customer is assigned to here; NULL when unknown. */
static const char *customer_manager(fs_store *st, const char *cust, struct fs_arena *a) {
  sqlite3_stmt *s = store_stmt(st, "SELECT manager FROM customers WHERE id=?1");
  if (!s) return NULL;
  sqlite3_bind_text(s, 1, cust, -1, SQLITE_STATIC);
  const char *m = NULL;
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_TEXT) {
    const char *t = (const char *)sqlite3_column_text(s, 0);
    m = arena_strndup(a, t, strlen(t));
  }
  sqlite3_reset(s);
  return m;
}

typedef struct colmap {
  int idx[64]; /* local column -> remote column, -1 when the remote lacks it */
} colmap;

/* The highest clock in a live local row, and the site that wrote it. */
static int64_t local_max(const row *l, size_t nc, int64_t *site) {
  int64_t m = l->hlc, s = l->site;
  for (size_t i = 0; i < nc; i++)
    if (l->has_cell[i] && l->cells[i].hlc > m) m = l->cells[i].hlc, s = l->cells[i].site;
  if (site) *site = s;
  return m;
}

static int64_t remote_max(const fs_rowchange *r, int64_t *site) {
  int64_t m = r->hlc, s = r->site;
  for (size_t i = 0; i < r->ncells; i++)
    if (r->cells[i].hlc > m) m = r->cells[i].hlc, s = r->cells[i].site;
  if (site) *site = s;
  return m;
}

/* Effective remote clock of local column i. */
static fs_cell remote_cell(const fs_rowchange *r, int ri) {
  for (size_t k = 0; k < r->ncells; k++)
    if (r->cells[k].col == ri) return r->cells[k];
  return (fs_cell){(uint16_t)ri, r->hlc, r->site, 0, 0};
}

static fs_cell local_cell(const row *l, size_t i) {
  if (l->has_cell[i]) return l->cells[i];
  return (fs_cell){(uint16_t)i, l->hlc, l->site, 0, 0};
}

/* Row as a JSON object text, for logging a row lost to a delete. */
static char *row_json(const tbl_state *ts, const fs_value *vals, struct fs_arena *a) {
  size_t cap = 64;
  for (size_t i = 0; i < ts->decl->ncols; i++)
    cap += strlen(ts->decl->cols[i].name) + 8 + (vals[i].type == FS_VAL_TEXT ? vals[i].n * 6 : 24);
  char *out = arena_alloc(a, cap), *p = out;
  if (!out) return NULL;
  *p++ = '{';
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    p += sprintf(p, "%s\"%s\":", i ? "," : "", ts->decl->cols[i].name);
    const fs_value *v = &vals[i];
    if (v->type == FS_VAL_INT) {
      p += sprintf(p, "%" PRId64, v->i);
    } else if (v->type == FS_VAL_NULL) {
      p += sprintf(p, "null");
    } else {
      *p++ = '"';
      for (uint32_t k = 0; k < v->n; k++) {
        unsigned char c = (unsigned char)v->s[k];
        if (c == '"' || c == '\\') {
          *p++ = '\\';
          *p++ = (char)c;
        } else if (c < 0x20) {
          p += sprintf(p, "\\u%04x", c);
        } else {
          *p++ = (char)c;
        }
      }
      *p++ = '"';
    }
  }
  *p++ = '}';
  *p = '\0';
  return out;
}

static int log_lost_row(fs_store *st, tbl_state *ts, const char *pk, const fs_value *vals,
                        int64_t whlc, int64_t wsite, int64_t lhlc, int64_t lsite,
                        struct fs_arena *a, merge_result *res) {
  char *json = row_json(ts, vals, a);
  if (!json) return fs_fail(FS_ENOMEM, "out of memory");
  fs_value loser = {FS_VAL_TEXT, 0, json, (uint32_t)strlen(json)};
  fs_value winner = {FS_VAL_NULL, 0, NULL, 0};
  int rc = conflict_log(st, ts->decl->name, pk, "*", &winner, whlc, wsite, &loser, lhlc, lsite);
  if (rc > 0) {
    res->conflicts++;
    rc = FS_OK;
  }
  return rc;
}

/* 1 when a change from a device carries a clock of head office's site that
 * head office does not hold for that row or cell (see policy()). */
static int forged_hq_clock(const tbl_state *ts, const fs_rowchange *r, const colmap *cm,
                           const row *l, int64_t hq) {
  int names_hq = r->site == hq;
  for (size_t k = 0; k < r->ncells; k++) names_hq |= r->cells[k].site == hq;
  if (!names_hq) return 0;
  if (l->state == ROW_NONE || r->cl > l->cl) return 1; /* unknown incarnation */
  if (r->cl < l->cl) return 0;                         /* stale: ignored anyway */
  if (l->state == ROW_TOMB)
    return r->site == hq && clock_cmp(r->hlc, r->site, l->hlc, l->site) > 0;
  if (r->site == hq && clock_cmp(r->hlc, r->site, l->hlc, l->site) > 0) return 1;
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    if (cm->idx[i] < 0) continue;
    fs_cell rc = remote_cell(r, cm->idx[i]), lc = local_cell(l, i);
    if (rc.site == hq && clock_cmp(rc.hlc, rc.site, lc.hlc, lc.site) > 0) return 1;
  }
  return 0;
}

/* Write policy for one incoming row; returns 1 when the whole row is
 * refused (already logged), 0 to go on, <0 on error.  *drop gets a bit per
 * head-office column whose incoming value must be ignored. */
static int policy(fs_store *st, tbl_state *ts, const fs_rowchange *r, const colmap *cm,
                  const merge_opts *o, const row *l, struct fs_arena *a, merge_result *res,
                  uint64_t *drop) {
  const fs_table *t = ts->decl;
  int64_t hq = st->hq_site;
  char reason[256];
  *drop = 0;
  /* Site ids are not secrets: a device could name head office's site on
   * clocks it made up.  Head office never learns its own writes from a
   * device, so a head-office clock it does not already hold is forged. */
  if (o->sender_manager && forged_hq_clock(ts, r, cm, l, hq)) {
    snprintf(reason, sizeof reason,
             "the change claims a head-office write that head office never made");
    int e = refuse(st, res, t->name, r->pk, NULL, r->site, r->hlc, reason);
    return e ? e : 1;
  }
  if (t->owner == FS_OWNER_HQ) {
    int ok = hq != 0 && r->site == hq;
    for (size_t k = 0; ok && k < r->ncells; k++) ok = r->cells[k].site == hq;
    if (!ok) {
      snprintf(reason, sizeof reason, "%s is head-office data; devices cannot change it",
               t->name);
      int e = refuse(st, res, t->name, r->pk, NULL, r->site, r->hlc, reason);
      return e ? e : 1;
    }
    return 0;
  }
  /* Head-office owned columns: a value written after creation must carry
   * the head-office site's clock. */
  for (size_t i = 0; i < t->ncols; i++) {
    if (!(t->cols[i].flags & FS_COL_HQ) || cm->idx[i] < 0 || r->cl % 2 == 0) continue;
    fs_cell c = remote_cell(r, cm->idx[i]);
    int is_creation = c.hlc == r->hlc && c.site == r->site;
    if (!is_creation && c.site != hq) {
      snprintf(reason, sizeof reason, "%s.%s is set by head office only", t->name,
               t->cols[i].name);
      int e = refuse(st, res, t->name, r->pk, t->cols[i].name, c.site, c.hlc, reason);
      if (e) return e;
      *drop |= 1ull << i;
    }
  }
  /* At head office: a device may only write its own manager's customers. */
  if (o->sender_manager && store_table(st, "customers")) {
    const char *owner = NULL;
    int known = 0;
    if (is_customers(ts)) {
      if (l->state == ROW_LIVE) {
        for (size_t i = 0; i < t->ncols; i++)
          if (!strcmp(t->cols[i].name, "manager") && l->vals[i].type == FS_VAL_TEXT)
            owner = l->vals[i].s;
        known = 1;
      } else if (l->state == ROW_NONE && r->cl % 2 == 1) {
        for (size_t i = 0; i < t->ncols; i++)
          if (!strcmp(t->cols[i].name, "manager") && cm->idx[i] >= 0 &&
              r->vals[cm->idx[i]].type == FS_VAL_TEXT)
            owner = r->vals[cm->idx[i]].s;
        known = 1;
      }
    } else if (ts->cust_col >= 0) {
      /* Both the customer the row belongs to here and the one the change
       * names must be the sender's: a row cannot be moved off another
       * manager's customer either. */
      const char *custs[2] = {NULL, NULL};
      if (r->cl % 2 == 1 && cm->idx[ts->cust_col] >= 0 &&
          r->vals[cm->idx[ts->cust_col]].type == FS_VAL_TEXT)
        custs[0] = r->vals[cm->idx[ts->cust_col]].s;
      if (l->state == ROW_LIVE && l->vals[ts->cust_col].type == FS_VAL_TEXT)
        custs[1] = l->vals[ts->cust_col].s;
      for (int k = 0; k < 2 && !(known && owner && strcmp(owner, o->sender_manager)); k++) {
        if (!custs[k]) continue;
        const char *m = customer_manager(st, custs[k], a);
        if (m) {
          owner = m;
          known = 1;
        }
      }
    }
    if (known && (!owner || strcmp(owner, o->sender_manager) != 0)) {
      snprintf(reason, sizeof reason,
               "this customer is assigned to %s, not to this device's manager %s",
               owner ? owner : "nobody", o->sender_manager);
      int e = refuse(st, res, t->name, r->pk, NULL, r->site, r->hlc, reason);
      return e ? e : 1;
    }
  }
  return 0;
}

static int touch_customer(fs_store *st, const char *customer_id, int self);

/* Head office sends a manager's devices the rows of that manager's
 * customers.  Rows that arrived before their customer (or while it belonged
 * to someone else) were filtered out then; when a customer appears or
 * changes manager, its rows are marked changed so they are sent now. */
static int customer_arrived(fs_store *st, tbl_state *ts, const char *pk, const row *old,
                            const fs_value *vals) {
  int mi = ts->sp[SP_MANAGER];
  if (!store_is_hq(st) || !is_customers(ts) || mi < 0) return FS_OK;
  if (old->state == ROW_LIVE && value_equal(&old->vals[mi], &vals[mi])) return FS_OK;
  return touch_customer(st, pk, 0);
}

static int merge_row(fs_store *st, tbl_state *ts, const fs_rowchange *r, const colmap *cm,
                     const merge_opts *o, struct fs_arena *a, merge_result *res) {
  const fs_table *t = ts->decl;
  size_t nc = t->ncols;
  row l;
  int rc = row_load(st, ts, r->pk, a, &l);
  if (rc) return rc;
  uint64_t drop = 0; /* columns whose incoming value the policy refused */
  int pr = policy(st, ts, r, cm, o, &l, a, res, &drop);
  if (pr < 0) return pr;
  if (pr > 0) return FS_OK;
  int alive = r->cl % 2 == 1;

  /* A newer incarnation, or a row this replica has never seen. */
  if (l.state == ROW_NONE || r->cl > l.cl) {
    int64_t lsite, lmax = l.state == ROW_LIVE ? local_max(&l, nc, &lsite) : 0;
    if (l.state == ROW_LIVE && !alive && lmax > r->seen) {
      if ((rc = log_lost_row(st, ts, r->pk, l.vals, r->hlc, r->site, lmax, lsite, a, res)))
        return rc;
    }
    if (l.state == ROW_LIVE) {
      if ((rc = row_delete_cells(st, ts, r->pk))) return rc;
      if (!alive) {
        sqlite3_reset(ts->del);
        sqlite3_bind_text(ts->del, 1, r->pk, -1, SQLITE_STATIC);
        int step = sqlite3_step(ts->del);
        sqlite3_reset(ts->del);
        if (step != SQLITE_DONE) return store_sqlfail(st, "deleting a row");
      }
    }
    if (!alive) {
      row tomb;
      memset(&tomb, 0, sizeof tomb);
      tomb.cl = r->cl;
      tomb.hlc = r->hlc;
      tomb.site = r->site;
      tomb.seen = r->seen;
      tomb.seq = store_next_seq(st);
      tomb.src = o->sender;
      if (l.state == ROW_LIVE && ts->cust_col >= 0 && l.vals[ts->cust_col].type == FS_VAL_TEXT)
        tomb.cust = l.vals[ts->cust_col].s;
      else if (l.state == ROW_TOMB)
        tomb.cust = l.cust;
      else if (is_customers(ts))
        tomb.cust = r->pk;
      res->applied++;
      return row_put_tomb(st, ts, r->pk, &tomb);
    }
    row n;
    memset(&n, 0, sizeof n);
    n.vals = arena_alloc(a, nc * sizeof *n.vals);
    n.has_cell = arena_alloc(a, nc);
    n.cells = arena_alloc(a, nc * sizeof *n.cells);
    if (!n.vals || !n.has_cell || !n.cells) return fs_fail(FS_ENOMEM, "out of memory");
    memset(n.has_cell, 0, nc);
    for (size_t i = 0; i < nc; i++) {
      int ri = cm->idx[i];
      if (ri < 0 || (drop >> i & 1)) {
        n.vals[i] = (fs_value){FS_VAL_NULL, 0, NULL, 0};
        if (l.state == ROW_LIVE) n.vals[i] = l.vals[i];
        continue;
      }
      n.vals[i] = r->vals[ri];
      for (size_t k = 0; k < r->ncells; k++)
        if (r->cells[k].col == ri) {
          n.cells[i] = r->cells[k];
          n.cells[i].col = (uint16_t)i;
          n.has_cell[i] = 1;
        }
    }
    n.cl = r->cl;
    n.hlc = r->hlc;
    n.site = r->site;
    n.seq = store_next_seq(st);
    n.src = drop ? 0 : o->sender;
    if (l.state == ROW_TOMB && (rc = row_delete_tomb(st, ts, r->pk))) return rc;
    if ((rc = row_put(st, ts, r->pk, &n, l.state == ROW_LIVE))) return rc;
    if ((rc = row_put_cells(st, ts, r->pk, &n, 0))) return rc;
    res->applied++;
    return customer_arrived(st, ts, r->pk, &l, n.vals);
  }

  /* An older incarnation: the local state wins; a live row that a delete
   * here never saw is logged so the edit is not lost without a trace. */
  if (r->cl < l.cl) {
    int64_t rsite, rmax = remote_max(r, &rsite);
    if (l.state == ROW_TOMB && alive && r->cl == l.cl - 1 && rmax > l.seen) {
      fs_value *vals = arena_alloc(a, nc * sizeof *vals);
      if (!vals) return fs_fail(FS_ENOMEM, "out of memory");
      for (size_t i = 0; i < nc; i++)
        vals[i] = cm->idx[i] >= 0 ? r->vals[cm->idx[i]] : (fs_value){FS_VAL_NULL, 0, NULL, 0};
      return log_lost_row(st, ts, r->pk, vals, l.hlc, l.site, rmax, rsite, a, res);
    }
    return FS_OK;
  }

  /* Same incarnation, both deleted: the larger delete clock is kept. */
  if (!alive) {
    if (l.state != ROW_TOMB) return FS_OK; /* cannot happen: parity */
    if (clock_cmp(r->hlc, r->site, l.hlc, l.site) <= 0) return FS_OK;
    l.hlc = r->hlc;
    l.site = r->site;
    l.seen = r->seen;
    l.seq = store_next_seq(st);
    l.src = o->sender;
    res->applied++;
    return row_put_tomb(st, ts, r->pk, &l);
  }
  if (l.state != ROW_LIVE) return FS_OK;

  /* Same incarnation, both alive: per column last-writer-wins. */
  int64_t rh = l.hlc, rs = l.site;
  if (clock_cmp(r->hlc, r->site, rh, rs) > 0) rh = r->hlc, rs = r->site;
  int changed = rh != l.hlc || rs != l.site, remote_dominates = 1, had_cells = 0;
  fs_value *vals = arena_alloc(a, nc * sizeof *vals);
  fs_cell *win = arena_alloc(a, nc * sizeof *win);
  if (!vals || !win) return fs_fail(FS_ENOMEM, "out of memory");
  for (size_t i = 0; i < nc; i++) {
    had_cells |= l.has_cell[i];
    fs_cell lc = local_cell(&l, i);
    vals[i] = l.vals[i];
    win[i] = lc;
    int ri = cm->idx[i];
    if (ri < 0 || (drop >> i & 1)) {
      remote_dominates = 0;
      continue;
    }
    fs_cell rcl = remote_cell(r, ri);
    const fs_value *rv = &r->vals[ri];
    int cmp = clock_cmp(rcl.hlc, rcl.site, lc.hlc, lc.site);
    if (cmp == 0) continue;
    /* One site's writes are ordered (each saw the one before); otherwise a
     * write is concurrent with the other unless it was based on it. */
    int concurrent = rcl.site != lc.site &&
                     !(rcl.bhlc == lc.hlc && rcl.bsite == lc.site) &&
                     !(lc.bhlc == rcl.hlc && lc.bsite == rcl.site);
    if (concurrent && !value_equal(rv, &l.vals[i])) {
      int e = cmp > 0 ? conflict_log(st, t->name, r->pk, t->cols[i].name, rv, rcl.hlc,
                                     rcl.site, &l.vals[i], lc.hlc, lc.site)
                      : conflict_log(st, t->name, r->pk, t->cols[i].name, &l.vals[i],
                                     lc.hlc, lc.site, rv, rcl.hlc, rcl.site);
      if (e < 0) return e;
      if (e > 0) res->conflicts++;
    }
    if (cmp > 0) {
      vals[i] = *rv;
      win[i] = rcl;
      win[i].col = (uint16_t)i;
      changed = 1;
    } else {
      remote_dominates = 0;
    }
  }
  if (!changed) return FS_OK;
  row n;
  memset(&n, 0, sizeof n);
  n.vals = vals;
  n.cells = win;
  n.has_cell = arena_alloc(a, nc);
  if (!n.has_cell) return fs_fail(FS_ENOMEM, "out of memory");
  for (size_t i = 0; i < nc; i++) {
    int covered = win[i].hlc == rh && win[i].site == rs;
    n.has_cell[i] = !covered;
    if (covered) win[i].bhlc = win[i].bsite = 0;
  }
  n.cl = l.cl;
  n.hlc = rh;
  n.site = rs;
  n.seq = store_next_seq(st);
  n.src = remote_dominates ? o->sender : 0;
  if ((rc = row_put(st, ts, r->pk, &n, 1))) return rc;
  if ((rc = row_put_cells(st, ts, r->pk, &n, had_cells))) return rc;
  res->applied++;
  return customer_arrived(st, ts, r->pk, &l, n.vals);
}

int merge_apply(fs_store *st, const fs_batch *b, const merge_opts *o, merge_result *res) {
  int implicit = 0, rc = FS_OK, txopen = 0;
  tbl_state **map = NULL;
  colmap *cms = NULL;
  struct fs_arena *a = NULL;
  memset(res, 0, sizeof *res);
  res->rows = b->nrows;
  res->arena = arena_new(4096);
  if (!res->arena) return fs_fail(FS_ENOMEM, "out of memory");

  /* Refuse the whole batch on a clock too far ahead, before anything. */
  int64_t bound = util_now_ms() + st->max_skew;
  for (size_t k = 0; k < b->nrows; k++) {
    const fs_rowchange *r = &b->rows[k];
    int64_t site, h = remote_max(r, &site);
    if (HLC_PHYS(h) > bound) {
      return fs_fail(FS_ESKEW,
                     "device %016llx has a clock %lld s ahead of this machine (more than "
                     "the allowed %lld s); nothing from this batch was applied: fix that "
                     "device's clock",
                     (unsigned long long)site,
                     (long long)((HLC_PHYS(h) - util_now_ms()) / 1000),
                     (long long)(st->max_skew / 1000));
    }
  }
  map = calloc(b->ntables ? b->ntables : 1, sizeof *map);
  cms = calloc(b->ntables ? b->ntables : 1, sizeof *cms);
  a = arena_new(64 * 1024);
  if (!map || !cms || !a) {
    rc = fs_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < b->ntables; i++) {
    tbl_state *ts = store_table(st, b->tables[i].name);
    if (!ts) {
      rc = fs_fail(FS_EVERSION, "the batch has table \"%.64s\" which this replica does not "
                                "know; upgrade fieldsync",
                   b->tables[i].name);
      goto done;
    }
    map[i] = ts;
    for (size_t j = 0; j < ts->decl->ncols; j++) cms[i].idx[j] = -1;
    for (size_t c = 0; c < b->tables[i].ncols; c++) {
      int found = 0;
      for (size_t j = 0; j < ts->decl->ncols; j++)
        if (!strcmp(ts->decl->cols[j].name, b->tables[i].cols[c])) {
          cms[i].idx[j] = (int)c;
          found = 1;
        }
      if (!found) {
        rc = fs_fail(FS_EVERSION, "the batch has column %s.%.64s which this replica does "
                                  "not know; upgrade fieldsync",
                     ts->decl->name, b->tables[i].cols[c]);
        goto done;
      }
    }
  }
  if ((rc = store_tx_begin(st, &implicit))) goto done;
  txopen = 1;
  int64_t maxh = 0;
  for (size_t k = 0; k < b->nrows && !rc; k++) {
    const fs_rowchange *r = &b->rows[k];
    if (r->table >= b->ntables) {
      rc = fs_fail(FS_ECORRUPT, "a change names table #%u, beyond the batch's tables",
                   r->table);
      break;
    }
    int64_t h = remote_max(r, NULL);
    if (h > maxh) maxh = h;
    rc = merge_row(st, map[r->table], r, &cms[r->table], o, a, res);
    if ((k & 255) == 255) {
      arena_free(a);
      a = arena_new(64 * 1024);
      if (!a) rc = fs_fail(FS_ENOMEM, "out of memory");
    }
  }
  if (!rc) hlc_observe(&st->clock, maxh);
done:
  if (txopen) rc = store_tx_end(st, implicit, rc);
  arena_free(a);
  free(map);
  free(cms);
  if (rc) {
    merge_result_free(res);
    res->rows = b->nrows;
  }
  return rc;
}

/* Marks the rows of a customer (with or without the customer row itself)
 * as changed in this transaction. */
static int touch_customer(fs_store *st, const char *customer_id, int self) {
  int implicit = 0, rc = store_tx_begin(st, &implicit);
  if (rc) return rc;
  for (size_t i = 0; i < st->nt && !rc; i++) {
    tbl_state *ts = &st->t[i];
    if (is_customers(ts) && !self) continue;
    const char *col = is_customers(ts) ? "id"
                      : ts->cust_col >= 0 ? ts->decl->cols[ts->cust_col].name
                                          : NULL;
    if (!col) continue;
    /* Each row gets a change number of its own (it is the row's key). */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT _seq FROM \"%s\" WHERE \"%s\"=?1", ts->decl->name, col);
    sqlite3_stmt *q = NULL, *u = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
      rc = store_sqlfail(st, "marking a customer's rows");
      break;
    }
    snprintf(sql, sizeof sql, "UPDATE \"%s\" SET _seq=?1, _src=0 WHERE _seq=?2",
             ts->decl->name);
    if (sqlite3_prepare_v2(st->db, sql, -1, &u, NULL) != SQLITE_OK) {
      sqlite3_finalize(q);
      rc = store_sqlfail(st, "marking a customer's rows");
      break;
    }
    /* Collect first: updating the rowid while scanning would revisit rows. */
    int64_t *olds = NULL;
    size_t n = 0, cap = 0;
    sqlite3_bind_text(q, 1, customer_id, -1, SQLITE_STATIC);
    while (!rc && sqlite3_step(q) == SQLITE_ROW) {
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        int64_t *nb = realloc(olds, cap * sizeof *nb);
        if (!nb) {
          rc = fs_fail(FS_ENOMEM, "out of memory");
          break;
        }
        olds = nb;
      }
      olds[n++] = sqlite3_column_int64(q, 0);
    }
    for (size_t k = 0; !rc && k < n; k++) {
      sqlite3_reset(u);
      sqlite3_bind_int64(u, 1, store_next_seq(st));
      sqlite3_bind_int64(u, 2, olds[k]);
      if (sqlite3_step(u) != SQLITE_DONE) rc = store_sqlfail(st, "marking a customer's rows");
    }
    free(olds);
    sqlite3_finalize(q);
    sqlite3_finalize(u);
  }
  return store_tx_end(st, implicit, rc);
}

int merge_touch_customer(fs_store *st, const char *customer_id) {
  return touch_customer(st, customer_id, 1);
}

int store_evict_foreign(fs_store *st, const char *manager, int64_t *evicted) {
  tbl_state *cust = store_table(st, "customers");
  sqlite3_stmt *q = NULL;
  int rc = FS_OK;
  *evicted = 0;
  if (!cust || !manager) return FS_OK;
  if (sqlite3_prepare_v2(st->db, "SELECT id FROM customers WHERE manager IS NOT NULL"
                                 " AND manager != ?1", -1, &q, NULL) != SQLITE_OK)
    return store_sqlfail(st, "finding customers to let go");
  sqlite3_bind_text(q, 1, manager, -1, SQLITE_STATIC);
  while (!rc && sqlite3_step(q) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(q, 0);
    for (size_t i = 0; i < st->nt && !rc; i++) {
      tbl_state *ts = &st->t[i];
      const char *col = is_customers(ts) ? "id"
                        : ts->cust_col >= 0 ? ts->decl->cols[ts->cust_col].name
                                            : NULL;
      if (!col) continue;
      char sql[512];
      snprintf(sql, sizeof sql,
               "DELETE FROM fs_cell WHERE tbl='%s' AND pk IN (SELECT id FROM \"%s\""
               " WHERE \"%s\"=?1);"
               "DELETE FROM \"%s\" WHERE \"%s\"=?1",
               ts->decl->name, ts->decl->name, col, ts->decl->name, col);
      const char *tail = sql;
      while (!rc && tail && *tail) {
        sqlite3_stmt *d = NULL;
        if (sqlite3_prepare_v2(st->db, tail, -1, &d, &tail) != SQLITE_OK) {
          rc = store_sqlfail(st, "letting a customer go");
          break;
        }
        if (!d) break;
        sqlite3_bind_text(d, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(d) != SQLITE_DONE) rc = store_sqlfail(st, "letting a customer go");
        sqlite3_finalize(d);
      }
    }
    if (!rc) {
      sqlite3_stmt *t = store_stmt(st, "DELETE FROM fs_tomb WHERE cust=?1");
      if (!t) {
        rc = FS_EIO;
        break;
      }
      sqlite3_bind_text(t, 1, id, -1, SQLITE_STATIC);
      if (sqlite3_step(t) != SQLITE_DONE) rc = store_sqlfail(st, "letting a customer go");
      sqlite3_reset(t);
      (*evicted)++;
    }
  }
  sqlite3_finalize(q);
  return rc;
}
