/*
 * extract.c — "changes since": the row states a replica sends after a cursor.
 *
 * Rows sit in change order (a table's _seq is its rowid; fs_tomb and
 * fs_moved carry change numbers too), so what changed after a cursor is one
 * range scan per table for live rows, one per table for tombstones and one
 * for let-go markers, merged here in (change number, table, id) order.
 * Invariants: every scan reads the same snapshot (one read transaction), so
 * a write committed meanwhile cannot fall behind the cursor; a batch holds
 * at most max_rows whole row states, so memory does not grow with the
 * backlog; the cursor names the last row sent and the next call starts
 * after it; rows whose state came from the receiver (the filter's
 * exclude_src) are not sent back.
 *
 * Subsets (head office): a manager's devices get that manager's customers,
 * their rows and tombstones, and one let-go marker (a row of FS_LETGO_TABLE:
 * an id, no values) for each customer moved away from the manager, until
 * every device of the manager has pulled past it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mergeInt.h"
#include "util.h"

/* ----------------------------------------------------------- cursors */

void fsi_merge_cursor_format(const fsi_merge_cursor *c, char *out, size_t n) {
  snprintf(out, n, "%" PRId64 ".%" PRId32 ".%s", c->seq, c->tbl, c->pk);
}

int fsi_merge_cursor_parse(fsi_merge_cursor *c, const char *text) {
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
  if (n > FS_BATCH_MAX_PK || !fsi_util_utf8_valid(p, n)) goto bad;
  c->seq = seq;
  c->tbl = (int32_t)tbl;
  memcpy(c->pk, p, n + 1);
  return FS_OK;
bad:
  return fsi_fail(FS_EINVAL, "malformed sync cursor \"%.80s\"", text);
}

/* -------------------------------------------------------- extraction */

typedef struct stream {
  sqlite3_stmt *s;
  int tbl;
  int tomb; /* 1: fs_tomb rows; 2: let-go markers (fs_moved) */
  int has;  /* a row is pending in s */
} stream;

#define STREAM_LETGO 2

static int stream_key_cmp(const stream *a, const stream *b) {
  int64_t da = sqlite3_column_int64(a->s, 0), db = sqlite3_column_int64(b->s, 0);
  if (da != db) return da < db ? -1 : 1;
  if (a->tbl != b->tbl) return a->tbl < b->tbl ? -1 : 1;
  return strcmp((const char *)sqlite3_column_text(a->s, 1),
                (const char *)sqlite3_column_text(b->s, 1));
}

/* SQL for one stream: column 0 = change number, 1 = id, then the row. */
static char *stream_sql(fs_store *st, fsi_tbl_state *ts, int tomb, const fsi_merge_filter *f) {
  size_t cap = 1024 + strlen(ts->collist);
  char *sql = malloc(cap);
  if (!sql) return NULL;
  const char *t = ts->decl->name;
  char where[512] = "";
  int by_manager = !FS_MUT(20) && f && f->manager && fsi_store_table(st, "customers") &&
                   !(f->include_all_hq && ts->decl->owner == FS_OWNER_HQ && ts->cust_col < 0);
  if (tomb == STREAM_LETGO) {
    /* Only what the manager let go of: an id and head office's clock. */
    snprintf(sql, cap,
             "SELECT seq, pk, hlc FROM fs_moved WHERE manager=?4 AND seq > ?1 AND ?3 = ?3"
             " ORDER BY seq LIMIT ?5");
    return sql;
  }
  if (by_manager) {
    /* A tombstone goes to the devices of the manager whose customer the
     * row belonged to when it was deleted; one that does not know it (made
     * before tombstones remembered it) to the devices of the manager its
     * customer has now, and one that belongs to no customer to everyone. */
    if (tomb)
      snprintf(where, sizeof where,
               " AND (manager=?4 OR (manager IS NULL AND (cust IS NULL"
               " OR cust IN (SELECT id FROM customers WHERE manager=?4))))");
    else if (fsi_merge_is_customers(ts))
      snprintf(where, sizeof where, " AND manager=?4");
    else if (ts->cust_col >= 0 && ts->sp[SP_MANAGER] >= 0)
      /* a row of no customer (a task, a competitor note) is its manager's */
      snprintf(where, sizeof where,
               " AND (\"%s\" IN (SELECT id FROM customers WHERE manager=?4)"
               " OR (\"%s\" IS NULL AND %s))",
               ts->decl->cols[ts->cust_col].name, ts->decl->cols[ts->cust_col].name,
               FS_MUT(67) ? "1" : "manager=?4");
    else if (ts->cust_col >= 0)
      snprintf(where, sizeof where, " AND \"%s\" IN (SELECT id FROM customers WHERE manager=?4)",
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
  return r == SQLITE_DONE ? FS_OK : fsi_store_sqlfail(st, "reading changes");
}

/* Copies the current row of stream s into a row change of batch b. */
static int emit(fs_store *st, fsi_batch *b, stream *s, fsi_tbl_state *ts) {
  struct fsi_arena *a = b->arena;
  fsi_rowchange *rc = &b->rows[b->nrows];
  sqlite3_stmt *q = s->s;
  memset(rc, 0, sizeof *rc);
  rc->table = (uint16_t)s->tbl;
  const char *pk = (const char *)sqlite3_column_text(q, 1);
  rc->pk = fsi_arena_strndup(a, pk, strlen(pk));
  if (!rc->pk) return fsi_fail(FS_ENOMEM, "out of memory");
  if (s->tomb == STREAM_LETGO) {
    /* The marker's table is the dictionary's last entry, listed only in a
     * batch that holds a marker; it has the shape of a deleted row. */
    rc->table = (uint16_t)st->nt;
    rc->cl = 2;
    rc->hlc = sqlite3_column_int64(q, 2);
    rc->site = st->site;
    b->ntables = (uint16_t)(st->nt + 1);
  } else {
    rc->cl = sqlite3_column_int64(q, 2);
    rc->hlc = sqlite3_column_int64(q, 3);
    rc->site = sqlite3_column_int64(q, 4);
  }
  int64_t lo = rc->hlc, hi = rc->hlc;
  if (s->tomb == STREAM_LETGO) {
    /* no values, no cells */
  } else if (s->tomb) {
    rc->seen = sqlite3_column_int64(q, 5);
  } else {
    size_t nc = ts->decl->ncols;
    int ncells = sqlite3_column_int(q, 5);
    rc->nvals = (uint16_t)nc;
    rc->vals = fsi_arena_alloc(a, nc * sizeof *rc->vals);
    if (!rc->vals) return fsi_fail(FS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nc; i++) {
      int e = fsi_value_read(q, (int)i + 6, a, &rc->vals[i]);
      if (e) return e;
    }
    if (ncells > 0) {
      fsi_row r;
      int e = fsi_row_load(st, ts, rc->pk, a, &r);
      if (e) return e;
      rc->cells = fsi_arena_alloc(a, nc * sizeof *rc->cells);
      if (!rc->cells) return fsi_fail(FS_ENOMEM, "out of memory");
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

int fsi_merge_changes_since(fs_store *st, const fsi_merge_cursor *from, const fsi_merge_filter *f,
                            size_t max_rows, fsi_batch *out, fsi_merge_cursor *next, int *more) {
  size_t ns = st->nt * 2 + 1; /* rows and tombstones per table, let-go markers */
  stream *ss = NULL;
  int rc = FS_OK;
  fsi_change_batch_reset(out);
  *more = 0;
  *next = *from;
  /* One read transaction: every stream sees the same snapshot, so a write
   * committed meanwhile by another process cannot fall behind the cursor. */
  int own_tx = sqlite3_get_autocommit(st->db);
  if (own_tx && sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "reading changes");
  if (max_rows == 0 || max_rows > FS_BATCH_MAX_ROWS) max_rows = FS_BATCH_MAX_ROWS;
  ss = calloc(ns, sizeof *ss);
  out->tables = fsi_arena_alloc(out->arena, (st->nt + 1) * sizeof *out->tables);
  out->rows = fsi_arena_alloc(out->arena, max_rows * sizeof *out->rows);
  if (!ss || !out->tables || !out->rows) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  out->ntables = (uint16_t)st->nt;
  for (size_t i = 0; i < st->nt; i++) {
    out->tables[i].name = st->t[i].decl->name;
    out->tables[i].ncols = (uint16_t)st->t[i].decl->ncols;
    out->tables[i].cols = fsi_arena_alloc(out->arena, st->t[i].decl->ncols * sizeof(char *));
    if (!out->tables[i].cols) {
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    for (size_t j = 0; j < st->t[i].decl->ncols; j++)
      out->tables[i].cols[j] = st->t[i].decl->cols[j].name;
  }
  out->tables[st->nt] = (fsi_batch_table){FS_LETGO_TABLE, 0, NULL};
  if (!(out->tables[st->nt].cols = fsi_arena_alloc(out->arena, sizeof(char *)))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  fsi_tbl_state *custs = fsi_store_table(st, "customers");
  for (size_t k = 0; k < ns; k++) {
    int letgo = k == ns - 1;
    /* Markers only for a manager's devices. */
    if (letgo && !(f && f->manager && custs)) continue;
    fsi_tbl_state *ts = letgo ? custs : &st->t[k / 2];
    if (!letgo && f && f->skip_hq_tables && ts->decl->owner == FS_OWNER_HQ) continue;
    stream *s = &ss[k];
    s->tbl = ts->idx;
    s->tomb = letgo ? STREAM_LETGO : (int)(k % 2);
    char *sql = stream_sql(st, ts, s->tomb, f);
    if (!sql) {
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    int pr = sqlite3_prepare_v2(st->db, sql, -1, &s->s, NULL);
    free(sql);
    if (pr != SQLITE_OK) {
      rc = fsi_store_sqlfail(st, "preparing change extraction");
      goto done;
    }
    /* Change numbers are unique across the store: the row at the cursor's
     * number is the last one sent, everything after it is new. */
    sqlite3_bind_int64(s->s, 1, from->seq);
    /* site ids are positive: -1 excludes nothing */
    sqlite3_bind_int64(s->s, 3, f && f->exclude_src && !FS_MUT(19) ? f->exclude_src : -1);
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
  if (rc) {
    fsi_change_batch_reset(out);
  } else if (out->nrows) {
    /* what the batch ending at *next lets out, for the outbox (reclock.c) */
    int k = st->extracted_next;
    fsi_merge_cursor_format(next, st->extracted[k].cursor, sizeof st->extracted[k].cursor);
    st->extracted[k].hlc_max = out->hlc_max;
    st->extracted_next = !k;
  }
  return rc;
}

/* ------------------------------------------------- let-go delivery */

int fsi_merge_moved_delivered(fs_store *st, const char *manager, int64_t seq) {
  if (!fsi_store_is_hq(st) || !manager) return FS_OK;
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  rc = fsi_sql_run(st, "forgetting delivered moves",
                   "DELETE FROM fs_moved WHERE manager=?1 AND seq <= ?2", "ti", manager, seq);
  return fsi_store_tx_end(st, implicit, rc);
}
