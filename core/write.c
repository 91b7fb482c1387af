/*
 * write.c — change capture: every local write to a synced table.
 *
 * An insert writes the row with one clock covering all its columns (_hlc,
 * _site) and the transaction's db_version: no per-column clock rows, which
 * is what keeps capture close to the cost of a plain insert.  Editing a
 * column afterwards gives that column its own clock in fs_cell, with the
 * base clock (the value the writer saw) used for conflict detection.  A
 * delete moves the row to fs_tomb with an even causal length.  Each public
 * write is one transaction unless fs_tx_begin grouped several.
 */
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"
#include "util.h"

/* ----------------------------------------------------------- values */

int fsi_value_equal(const fsi_value *a, const fsi_value *b) {
  if (a->type != b->type) return 0;
  if (a->type == FS_VAL_INT) return a->i == b->i;
  if (a->type == FS_VAL_TEXT) return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
  return 1;
}

void fsi_value_bind(sqlite3_stmt *s, int idx, const fsi_value *v) {
  if (v->type == FS_VAL_INT)
    sqlite3_bind_int64(s, idx, v->i);
  else if (v->type == FS_VAL_TEXT)
    sqlite3_bind_text(s, idx, v->s, (int)v->n, SQLITE_STATIC);
  else
    sqlite3_bind_null(s, idx);
}

int fsi_value_read(sqlite3_stmt *s, int i, struct fsi_arena *a, fsi_value *v) {
  memset(v, 0, sizeof *v);
  switch (sqlite3_column_type(s, i)) {
  case SQLITE_INTEGER:
    v->type = FS_VAL_INT;
    v->i = sqlite3_column_int64(s, i);
    return FS_OK;
  case SQLITE_NULL:
    v->type = FS_VAL_NULL;
    return FS_OK;
  default: {
    const char *t = (const char *)sqlite3_column_text(s, i);
    int n = sqlite3_column_bytes(s, i);
    v->type = FS_VAL_TEXT;
    v->s = fsi_arena_strndup(a, t ? t : "", (size_t)n);
    v->n = (uint32_t)n;
    return v->s ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
  }
  }
}

/* ------------------------------------------------------------- rows */

int fsi_row_load(fs_store *st, fsi_tbl_state *ts, const char *pk, struct fsi_arena *a, fsi_row *r) {
  size_t nc = ts->decl->ncols;
  int rc = FS_OK;
  memset(r, 0, sizeof *r);
  sqlite3_stmt *s = ts->get;
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
  int step = sqlite3_step(s);
  if (step == SQLITE_ROW) {
    r->state = ROW_LIVE;
    r->vals = fsi_arena_alloc(a, nc * sizeof *r->vals);
    r->has_cell = fsi_arena_alloc(a, nc);
    r->cells = fsi_arena_alloc(a, nc * sizeof *r->cells);
    if (!r->vals || !r->has_cell || !r->cells) rc = fsi_fail(FS_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nc; i++) rc = fsi_value_read(s, (int)i, a, &r->vals[i]);
    if (!rc) {
      memset(r->has_cell, 0, nc);
      r->cl = sqlite3_column_int64(s, (int)nc);
      r->hlc = sqlite3_column_int64(s, (int)nc + 1);
      r->site = sqlite3_column_int64(s, (int)nc + 2);
      r->seq = sqlite3_column_int64(s, (int)nc + 3);
      r->src = sqlite3_column_int64(s, (int)nc + 4);
    }
    int ncells = sqlite3_column_int(s, (int)nc + 5);
    sqlite3_reset(s);
    if (rc || ncells == 0) return rc;
    sqlite3_stmt *c = fsi_store_stmt(
        st, "SELECT col, hlc, site, bhlc, bsite FROM fs_cell WHERE tbl=?1 AND pk=?2");
    if (!c) return FS_EIO;
    sqlite3_bind_text(c, 1, ts->decl->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(c, 2, pk, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(c)) == SQLITE_ROW) {
      const char *col = (const char *)sqlite3_column_text(c, 0);
      for (size_t i = 0; col && i < nc; i++) {
        if (strcmp(ts->decl->cols[i].name, col) != 0) continue;
        r->has_cell[i] = 1;
        r->cells[i].col = (uint16_t)i;
        r->cells[i].hlc = sqlite3_column_int64(c, 1);
        r->cells[i].site = sqlite3_column_int64(c, 2);
        r->cells[i].bhlc = sqlite3_column_int64(c, 3);
        r->cells[i].bsite = sqlite3_column_int64(c, 4);
        break;
      }
    }
    sqlite3_reset(c);
    return step == SQLITE_DONE ? FS_OK : fsi_store_sqlfail(st, "reading clocks");
  }
  sqlite3_reset(s);
  if (step != SQLITE_DONE) return fsi_store_sqlfail(st, "reading a row");
  /* Most tables never see a delete: skip the tombstone lookup for them. */
  if (ts->tombs < 0) {
    sqlite3_stmt *e = fsi_store_stmt(st, "SELECT 1 FROM fs_tomb WHERE tbl=?1 LIMIT 1");
    if (!e) return FS_EIO;
    sqlite3_bind_text(e, 1, ts->decl->name, -1, SQLITE_STATIC);
    ts->tombs = sqlite3_step(e) == SQLITE_ROW;
    sqlite3_reset(e);
  }
  if (!ts->tombs) return FS_OK;
  sqlite3_stmt *t =
      fsi_store_stmt(st, "SELECT cl, hlc, site, seen, seq, src, cust, manager FROM fs_tomb"
                         " WHERE tbl=?1 AND pk=?2");
  if (!t) return FS_EIO;
  sqlite3_bind_text(t, 1, ts->decl->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(t, 2, pk, -1, SQLITE_STATIC);
  step = sqlite3_step(t);
  if (step == SQLITE_ROW) {
    r->state = ROW_TOMB;
    r->cl = sqlite3_column_int64(t, 0);
    r->hlc = sqlite3_column_int64(t, 1);
    r->site = sqlite3_column_int64(t, 2);
    r->seen = sqlite3_column_int64(t, 3);
    r->seq = sqlite3_column_int64(t, 4);
    r->src = sqlite3_column_int64(t, 5);
    const char *cust = (const char *)sqlite3_column_text(t, 6);
    if (cust) r->cust = fsi_arena_strndup(a, cust, strlen(cust));
    const char *mgr = (const char *)sqlite3_column_text(t, 7);
    if (mgr) r->mgr = fsi_arena_strndup(a, mgr, strlen(mgr));
    if ((cust && !r->cust) || (mgr && !r->mgr)) rc = fsi_fail(FS_ENOMEM, "out of memory");
  } else if (step != SQLITE_DONE) {
    rc = fsi_store_sqlfail(st, "reading a tombstone");
  }
  sqlite3_reset(t);
  return rc;
}

int fsi_row_put(fs_store *st, fsi_tbl_state *ts, const char *pk, const fsi_row *r, int exists) {
  size_t nc = ts->decl->ncols;
  sqlite3_stmt *s = exists ? ts->put : ts->ins;
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
  for (size_t i = 0; i < nc; i++) fsi_value_bind(s, (int)i + 2, &r->vals[i]);
  sqlite3_bind_int64(s, (int)nc + 2, r->cl);
  sqlite3_bind_int64(s, (int)nc + 3, r->hlc);
  sqlite3_bind_int64(s, (int)nc + 4, r->site);
  sqlite3_bind_int64(s, (int)nc + 5, r->seq);
  sqlite3_bind_int64(s, (int)nc + 6, r->src);
  int ncells = 0;
  for (size_t i = 0; r->has_cell && i < nc; i++) ncells += r->has_cell[i];
  sqlite3_bind_int(s, (int)nc + 7, ncells);
  int step = sqlite3_step(s);
  sqlite3_reset(s);
  if (step != SQLITE_DONE) {
    if ((sqlite3_errcode(st->db) & 0xFF) == SQLITE_CONSTRAINT)
      return fsi_fail(FS_EEXIST, "%s %s already exists", ts->decl->name, pk);
    return fsi_store_sqlfail(st, "writing a row");
  }
  return FS_OK;
}

int fsi_row_delete_cells(fs_store *st, fsi_tbl_state *ts, const char *pk) {
  sqlite3_stmt *s = fsi_store_stmt(st, "DELETE FROM fs_cell WHERE tbl=?1 AND pk=?2");
  if (!s) return FS_EIO;
  sqlite3_bind_text(s, 1, ts->decl->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, pk, -1, SQLITE_STATIC);
  int step = sqlite3_step(s);
  sqlite3_reset(s);
  return step == SQLITE_DONE ? FS_OK : fsi_store_sqlfail(st, "clearing clocks");
}

int fsi_row_put_cells(fs_store *st, fsi_tbl_state *ts, const char *pk, const fsi_row *r,
                      int had_cells) {
  int rc = FS_OK;
  if (had_cells && (rc = fsi_row_delete_cells(st, ts, pk))) return rc;
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    if (!r->has_cell[i]) continue;
    sqlite3_stmt *s = fsi_store_stmt(st, "INSERT OR REPLACE INTO fs_cell(tbl, pk, col, hlc,"
                                         " site, bhlc, bsite) VALUES(?1,?2,?3,?4,?5,?6,?7)");
    if (!s) return FS_EIO;
    sqlite3_bind_text(s, 1, ts->decl->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, ts->decl->cols[i].name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, r->cells[i].hlc);
    sqlite3_bind_int64(s, 5, r->cells[i].site);
    sqlite3_bind_int64(s, 6, r->cells[i].bhlc);
    sqlite3_bind_int64(s, 7, r->cells[i].bsite);
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) return fsi_store_sqlfail(st, "writing a clock");
  }
  return FS_OK;
}

int fsi_row_put_tomb(fs_store *st, fsi_tbl_state *ts, const char *pk, const fsi_row *r) {
  ts->tombs = 1;
  sqlite3_stmt *s = fsi_store_stmt(st, "INSERT OR REPLACE INTO fs_tomb(tbl, pk, cl, hlc, site,"
                                       " seen, seq, src, cust, manager)"
                                       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
  if (!s) return FS_EIO;
  sqlite3_bind_text(s, 1, ts->decl->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, pk, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, r->cl);
  sqlite3_bind_int64(s, 4, r->hlc);
  sqlite3_bind_int64(s, 5, r->site);
  sqlite3_bind_int64(s, 6, r->seen);
  sqlite3_bind_int64(s, 7, r->seq);
  sqlite3_bind_int64(s, 8, r->src);
  if (r->cust) sqlite3_bind_text(s, 9, r->cust, -1, SQLITE_STATIC);
  if (r->mgr) sqlite3_bind_text(s, 10, r->mgr, -1, SQLITE_STATIC);
  int step = sqlite3_step(s);
  sqlite3_reset(s);
  return step == SQLITE_DONE ? FS_OK : fsi_store_sqlfail(st, "writing a tombstone");
}

int fsi_row_delete_tomb(fs_store *st, fsi_tbl_state *ts, const char *pk) {
  sqlite3_stmt *s = fsi_store_stmt(st, "DELETE FROM fs_tomb WHERE tbl=?1 AND pk=?2");
  if (!s) return FS_EIO;
  sqlite3_bind_text(s, 1, ts->decl->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, pk, -1, SQLITE_STATIC);
  int step = sqlite3_step(s);
  sqlite3_reset(s);
  return step == SQLITE_DONE ? FS_OK : fsi_store_sqlfail(st, "removing a tombstone");
}

const char *fsi_row_customer_manager(fs_store *st, const char *cust, struct fsi_arena *a) {
  fsi_tbl_state *ts = fsi_store_table(st, "customers");
  if (!cust || !ts || ts->sp[SP_MANAGER] < 0) return NULL;
  sqlite3_stmt *s = fsi_store_stmt(st, "SELECT manager FROM customers WHERE id=?1");
  if (!s) return NULL;
  sqlite3_bind_text(s, 1, cust, -1, SQLITE_STATIC);
  const char *m = NULL;
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_TEXT) {
    const char *t = (const char *)sqlite3_column_text(s, 0);
    m = fsi_arena_strndup(a, t, strlen(t));
  }
  sqlite3_reset(s);
  return m;
}

/* ---------------------------------------------------- field parsing */

static int writable_table(fs_store *st, const char *table, fsi_tbl_state **out) {
  fsi_tbl_state *ts = table ? fsi_store_table(st, table) : NULL;
  *out = ts;
  if (!ts) return fsi_fail(FS_EINVAL, "unknown table \"%.64s\"", table ? table : "");
  if (ts->decl->owner == FS_OWNER_HQ && !fsi_store_is_hq(st))
    return fsi_fail(FS_EPERM,
                    "%s is head-office data and read-only on a device; changes "
                    "come from head office at the next sync",
                    ts->decl->name);
  return FS_OK;
}

int fsi_store_bind_text_value(fs_store *st, sqlite3_stmt *s, int idx, const fs_table *t,
                              const fs_column *c, const char *value) {
  (void)st;
  fsi_value v;
  memset(&v, 0, sizeof v);
  if (value) {
    if (c->type == FS_COL_INT) {
      v.type = FS_VAL_INT;
      if (!fsi_util_parse_i64(value, &v.i))
        return fsi_fail(FS_EINVAL, "%s.%s must be a whole number, not \"%.40s\"", t->name, c->name,
                        value);
    } else {
      v.type = FS_VAL_TEXT;
      v.s = value;
      v.n = (uint32_t)strlen(value);
    }
  }
  fsi_value_bind(s, idx, &v);
  return FS_OK;
}

/* Text form -> typed value of the column's type.  The value's rules (UTF-8,
 * length, enumerations, ...) are fsi_domain_check_row's, for the whole row. */
static int parse_value(const fs_column *c, const char *text, fsi_value *v) {
  memset(v, 0, sizeof *v);
  if (!text) return FS_OK;
  if (c->type == FS_COL_INT) {
    v->type = FS_VAL_INT;
    if (!fsi_util_parse_i64(text, &v->i))
      return fsi_fail(FS_EINVAL, "%s must be a whole number, not \"%.40s\"", c->name, text);
    return FS_OK;
  }
  size_t n = strlen(text);
  if (n > UINT32_MAX) return fsi_fail(FS_EINVAL, "%s is too long", c->name);
  v->type = FS_VAL_TEXT;
  v->s = text;
  v->n = (uint32_t)n;
  return FS_OK;
}

static int find_col(const fs_table *t, const char *name) {
  for (size_t i = 0; i < t->ncols; i++)
    if (strcmp(t->cols[i].name, name) == 0) return (int)i;
  return -1;
}

/* Fields -> values; set[i] marks given columns; *id gets an "id" field. */
static int parse_fields(fs_store *st, fsi_tbl_state *ts, const fs_field *f, size_t n,
                        fsi_value *vals, uint8_t *set, const char **id, int creating) {
  const fs_table *t = ts->decl;
  for (size_t k = 0; k < n; k++) {
    if (!f[k].name) return fsi_fail(FS_EINVAL, "a field has no name");
    if (strcmp(f[k].name, "id") == 0) {
      if (!id) return fsi_fail(FS_EINVAL, "the id of a row cannot be changed");
      if (!f[k].value || !fsi_util_is_uuid(f[k].value))
        return fsi_fail(FS_EINVAL, "id must be a lowercase UUID");
      *id = f[k].value;
      continue;
    }
    /* fields usually come in declaration order: try that column first */
    int i = k < t->ncols && !strcmp(t->cols[k].name, f[k].name) ? (int)k : find_col(t, f[k].name);
    if (i < 0) return fsi_fail(FS_EINVAL, "%s has no field \"%.64s\"", t->name, f[k].name);
    const fs_column *c = &t->cols[i];
    if ((c->flags & FS_COL_HQ) && !fsi_store_is_hq(st) && !(creating && !f[k].value) &&
        !st->restoring)
      return fsi_fail(FS_EPERM, "%s.%s is set by head office and read-only on a device", t->name,
                      c->name);
    int rc = parse_value(c, f[k].value, &vals[i]);
    if (rc) return rc;
    set[i] = 1;
  }
  return FS_OK;
}

/* A referenced customer must exist (live) for a local write. */
static int check_customer(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals) {
  if (ts->cust_col < 0 || vals[ts->cust_col].type != FS_VAL_TEXT) return FS_OK;
  if (!fsi_store_table(st, "customers")) return FS_OK;
  int64_t one;
  int rc = fsi_sql_i64(st, &one, "looking up a customer", "SELECT 1 FROM customers WHERE id=?1",
                       "t", vals[ts->cust_col].s);
  if (rc != FS_ENOTFOUND) return rc;
  return fsi_fail(FS_ENOTFOUND, "customer %.64s does not exist", vals[ts->cust_col].s);
}

/* ------------------------------------------------------------ insert */

int fs_insert(char id_out[FS_ID_SIZE], fs_store *st, const char *table, const fs_field *fields,
              size_t n) {
  fsi_tbl_state *ts = NULL;
  int wrc = writable_table(st, table, &ts);
  if (wrc) return wrc;
  const fs_table *t = ts->decl;
  size_t nc = t->ncols;
  fsi_value vals[64];
  uint8_t set[64];
  const char *given_id = NULL;
  char idbuf[FS_ID_SIZE];
  struct fsi_arena *a = NULL;
  int implicit = 0, rc = FS_OK, txopen = 0;
  memset(vals, 0, nc * sizeof *vals);
  memset(set, 0, nc);
  if ((rc = parse_fields(st, ts, fields, n, vals, set, &given_id, 1))) return rc;
  if (!st->scratch && !(st->scratch = fsi_arena_new(4096)))
    return fsi_fail(FS_ENOMEM, "out of memory");
  a = st->scratch;
  fsi_arena_reset(a);
  if ((rc = fsi_store_tx_begin(st, &implicit))) goto done;
  txopen = 1;
  /* A row re-created from the conflict log keeps its values as they were
   * (an order line its price snapshot, an order its status). */
  if (!st->restoring && (rc = fsi_domain_insert(st, ts, vals, a))) goto done;
  if ((rc = fsi_domain_check_row(st, ts, vals, NULL))) goto done;
  if ((rc = check_customer(st, ts, vals))) goto done;
  fsi_row r;
  memset(&r, 0, sizeof r);
  r.cl = 1;
  if (given_id) {
    fsi_row old;
    if ((rc = fsi_row_load(st, ts, given_id, a, &old))) goto done;
    if (old.state == ROW_LIVE) {
      rc = fsi_fail(FS_EEXIST, "%s %s already exists", t->name, given_id);
      goto done;
    }
    if (old.state == ROW_TOMB) {
      if (old.cl >= FS_MAX_CL) {
        rc = fsi_fail(FS_EINVAL,
                      "%s %s was deleted and re-created too many times to be "
                      "re-created again; use a new id",
                      t->name, given_id);
        goto done;
      }
      r.cl = old.cl + 1; /* re-insert: a new incarnation */
      if ((rc = fsi_row_delete_tomb(st, ts, given_id))) goto done;
    }
    memcpy(idbuf, given_id, FS_ID_SIZE);
  } else {
    fs_uuid7(idbuf);
  }
  r.vals = vals;
  r.hlc = fsi_hlc_next(&st->clock, fsi_util_now_ms());
  r.site = st->site;
  r.seq = fsi_store_next_seq(st);
  r.src = 0;
  if ((rc = fsi_row_put(st, ts, idbuf, &r, 0))) goto done;
  if (fsi_store_is_hq(st) && (rc = fsi_domain_written(st, ts, vals, r.hlc))) goto done;
  if (id_out) memcpy(id_out, idbuf, FS_ID_SIZE);
done:
  if (txopen) rc = fsi_store_tx_end(st, implicit, rc);
  return rc;
}

/* ------------------------------------------------------------ update */

int fs_update(fs_store *st, const char *table, const char *id, const fs_field *fields, size_t n) {
  fsi_tbl_state *ts = NULL;
  int wrc = writable_table(st, table, &ts);
  if (wrc) return wrc;
  const fs_table *t = ts->decl;
  size_t nc = t->ncols;
  fsi_value vals[64];
  uint8_t set[64];
  struct fsi_arena *a = NULL;
  int implicit = 0, rc = FS_OK, txopen = 0;
  if (!id) return fsi_fail(FS_EINVAL, "no id given");
  memset(vals, 0, nc * sizeof *vals);
  memset(set, 0, nc);
  if ((rc = parse_fields(st, ts, fields, n, vals, set, NULL, 0))) return rc;
  a = fsi_arena_new(4096);
  if (!a) return fsi_fail(FS_ENOMEM, "out of memory");
  if ((rc = fsi_store_tx_begin(st, &implicit))) goto done;
  txopen = 1;
  fsi_row r;
  if ((rc = fsi_row_load(st, ts, id, a, &r))) goto done;
  if (r.state != ROW_LIVE) {
    rc = fsi_fail(FS_ENOTFOUND, "%s %.64s does not exist", t->name, id);
    goto done;
  }
  if ((rc = fsi_domain_update(st, ts, id, r.vals, vals, set, a))) goto done;
  fsi_value merged[64];
  int changed = 0, had_cells = 0;
  for (size_t i = 0; i < nc; i++) {
    had_cells |= r.has_cell[i];
    merged[i] = set[i] ? vals[i] : r.vals[i];
  }
  if ((rc = fsi_domain_check_row(st, ts, merged, NULL))) goto done;
  if ((rc = check_customer(st, ts, merged))) goto done;
  int64_t h = 0;
  for (size_t i = 0; i < nc; i++) {
    if (!set[i] || fsi_value_equal(&r.vals[i], &vals[i])) continue;
    if (!h) h = fsi_hlc_next(&st->clock, fsi_util_now_ms());
    fsi_cell base = r.has_cell[i] ? r.cells[i] : (fsi_cell){(uint16_t)i, r.hlc, r.site, 0, 0};
    r.cells[i] = (fsi_cell){(uint16_t)i, h, st->site, base.hlc, base.site};
    r.has_cell[i] = 1;
    changed = 1;
  }
  if (!changed) goto done; /* nothing to record */
  r.vals = merged;
  r.seq = fsi_store_next_seq(st);
  r.src = 0;
  if ((rc = fsi_row_put(st, ts, id, &r, 1))) goto done;
  if ((rc = fsi_row_put_cells(st, ts, id, &r, had_cells))) goto done;
  if (fsi_store_is_hq(st)) rc = fsi_domain_written(st, ts, merged, h);
done:
  if (txopen) rc = fsi_store_tx_end(st, implicit, rc);
  fsi_arena_free(a);
  return rc;
}

int fsi_row_reassert(fs_store *st, fsi_tbl_state *ts, const char *pk, int64_t above,
                     struct fsi_arena *a) {
  fsi_row r;
  int rc = fsi_row_load(st, ts, pk, a, &r);
  if (rc || r.state != ROW_LIVE) return rc;
  fsi_hlc_observe(&st->clock, above);
  int64_t h = fsi_hlc_next(&st->clock, fsi_util_now_ms());
  int had_cells = 0;
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    fsi_cell base = r.has_cell[i] ? r.cells[i] : (fsi_cell){(uint16_t)i, r.hlc, r.site, 0, 0};
    had_cells |= r.has_cell[i];
    r.cells[i] = (fsi_cell){(uint16_t)i, h, st->site, base.hlc, base.site};
    r.has_cell[i] = 1;
  }
  r.seq = fsi_store_next_seq(st);
  r.src = 0;
  if ((rc = fsi_row_put(st, ts, pk, &r, 1))) return rc;
  return fsi_row_put_cells(st, ts, pk, &r, had_cells);
}

/* ------------------------------------------------------------ delete */

int fs_delete(fs_store *st, const char *table, const char *id) {
  fsi_tbl_state *ts = NULL;
  int wrc = writable_table(st, table, &ts);
  if (wrc) return wrc;
  struct fsi_arena *a = NULL;
  int implicit = 0, rc = FS_OK, txopen = 0;
  if (!id) return fsi_fail(FS_EINVAL, "no id given");
  a = fsi_arena_new(4096);
  if (!a) return fsi_fail(FS_ENOMEM, "out of memory");
  if ((rc = fsi_store_tx_begin(st, &implicit))) goto done;
  txopen = 1;
  fsi_row r;
  if ((rc = fsi_row_load(st, ts, id, a, &r))) goto done;
  if (r.state != ROW_LIVE) {
    rc = fsi_fail(FS_ENOTFOUND, "%s %.64s does not exist", ts->decl->name, id);
    goto done;
  }
  if ((rc = fsi_domain_delete(st, ts, id, r.vals))) goto done;
  /* A received causal length is bounded at merge; this keeps `+ 1` defined
   * whatever the store holds. */
  if (r.cl < 1 || r.cl >= FS_MAX_CL) {
    rc = fsi_fail(FS_EINVAL,
                  "%s %.64s has causal length %lld, outside 1..%lld; it cannot be "
                  "deleted",
                  ts->decl->name, id, (long long)r.cl, (long long)FS_MAX_CL - 1);
    goto done;
  }
  int64_t seen = r.hlc;
  int had_cells = 0;
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    if (!r.has_cell[i]) continue;
    had_cells = 1;
    if (r.cells[i].hlc > seen) seen = r.cells[i].hlc;
  }
  fsi_row tomb;
  memset(&tomb, 0, sizeof tomb);
  tomb.cl = r.cl + 1;
  tomb.hlc = fsi_hlc_next(&st->clock, fsi_util_now_ms());
  tomb.site = st->site;
  tomb.seen = seen;
  tomb.seq = fsi_store_next_seq(st);
  if (ts->cust_col >= 0 && r.vals[ts->cust_col].type == FS_VAL_TEXT)
    tomb.cust = r.vals[ts->cust_col].s;
  else if (strcmp(ts->decl->name, "customers") == 0)
    tomb.cust = id;
  /* The tombstone remembers whose customer it was: only that manager may
   * re-create it, and only that manager's devices are sent the delete. */
  if (strcmp(ts->decl->name, "customers") == 0) {
    int mi = ts->sp[SP_MANAGER];
    if (mi >= 0 && r.vals[mi].type == FS_VAL_TEXT) tomb.mgr = r.vals[mi].s;
  } else if (tomb.cust) {
    tomb.mgr = fsi_row_customer_manager(st, tomb.cust, a);
  }
  if (had_cells && (rc = fsi_row_delete_cells(st, ts, id))) goto done;
  sqlite3_reset(ts->del);
  sqlite3_bind_text(ts->del, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(ts->del) != SQLITE_DONE) rc = fsi_store_sqlfail(st, "deleting a row");
  sqlite3_reset(ts->del);
  if (!rc) rc = fsi_row_put_tomb(st, ts, id, &tomb);
done:
  if (txopen) rc = fsi_store_tx_end(st, implicit, rc);
  fsi_arena_free(a);
  return rc;
}
