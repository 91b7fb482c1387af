/*
 * sql.c — the one way the engine and head office run SQL on a store.
 *
 * Statements of constant SQL text are prepared once per store and kept in
 * a cache keyed by the text's address (the text is a literal, so its address
 * names it); the cache is an open-addressing table that doubles when it is
 * three quarters full, so a new statement never fails for want of a slot.
 * fsi_sql_run, fsi_sql_i64 and fsi_sql_query bind their arguments from a
 * type string, step, and turn any SQLite failure into an fs_err with a
 * sentence naming what was being done (fsi_store_sqlfail).  Invariant: a
 * statement handed back by the cache is reset and unbound; one handed to a
 * caller by fsi_sql_query is reset by fsi_sql_step when it reports the end
 * or an error, and by fsi_sql_done otherwise.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"

#define CACHE_MIN 64

struct fsi_stmt_cache {
  size_t cap, used;
  struct {
    const char *sql;
    sqlite3_stmt *stmt;
  } * slot;
};

static size_t slot_of(const char *sql, size_t cap) {
  uintptr_t h = (uintptr_t)sql;
  h ^= h >> 17;
  h *= (uintptr_t)0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 7) & (cap - 1);
}

static int cache_grow(struct fsi_stmt_cache *c) {
  size_t cap = c->cap ? c->cap * 2 : CACHE_MIN;
  void *mem = calloc(cap, sizeof *c->slot);
  if (!mem) return fsi_fail(FS_ENOMEM, "out of memory");
  struct fsi_stmt_cache n = {cap, c->used, mem};
  for (size_t i = 0; i < c->cap; i++) {
    if (!c->slot[i].sql) continue;
    size_t k = slot_of(c->slot[i].sql, cap);
    while (n.slot[k].sql) k = (k + 1) & (cap - 1);
    n.slot[k] = c->slot[i];
  }
  free(c->slot);
  *c = n;
  return FS_OK;
}

void fsi_stmt_cache_free(struct fsi_stmt_cache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->cap; i++) sqlite3_finalize(c->slot[i].stmt);
  free(c->slot);
  free(c);
}

/* The cached statement for `sql` in *out, prepared on first use; the
 * fs_err of a failure (its sentence set), so the helpers below report
 * FS_ECORRUPT or FS_ENOMEM as such rather than as FS_EIO. */
static int stmt_get(fs_store *st, const char *sql, sqlite3_stmt **out) {
  struct fsi_stmt_cache *c = st->stmts;
  *out = NULL;
  if (!c && !(c = st->stmts = calloc(1, sizeof *c))) return fsi_fail(FS_ENOMEM, "out of memory");
  if ((c->used + 1) * 4 > c->cap * 3) {
    int rc = cache_grow(c);
    if (rc) return rc;
  }
  size_t k = slot_of(sql, c->cap);
  for (; c->slot[k].sql; k = (k + 1) & (c->cap - 1)) {
    if (c->slot[k].sql == sql) {
      sqlite3_reset(c->slot[k].stmt);
      sqlite3_clear_bindings(c->slot[k].stmt);
      *out = c->slot[k].stmt;
      return FS_OK;
    }
  }
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "preparing a query");
  c->slot[k].sql = sql;
  c->slot[k].stmt = s;
  c->used++;
  *out = s;
  return FS_OK;
}

sqlite3_stmt *fsi_store_stmt(fs_store *st, const char *sql) {
  sqlite3_stmt *s = NULL;
  stmt_get(st, sql, &s);
  return s;
}

size_t fsi_store_stmt_count(const fs_store *st) { return st->stmts ? st->stmts->used : 0; }

static int bind_args(fs_store *st, sqlite3_stmt *s, const char *types, va_list ap) {
  int rc = SQLITE_OK;
  for (int i = 1; types && types[i - 1] && rc == SQLITE_OK; i++) {
    switch (types[i - 1]) {
    case 't': {
      const char *t = va_arg(ap, const char *);
      rc = t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
      break;
    }
    case 'i':
      rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
      break;
    case 'd':
      rc = sqlite3_bind_int(s, i, va_arg(ap, int));
      break;
    case 'b': {
      const void *p = va_arg(ap, const void *);
      size_t n = va_arg(ap, size_t);
      rc = sqlite3_bind_blob64(s, i, p, n, SQLITE_STATIC);
      break;
    }
    case 'n':
      rc = sqlite3_bind_null(s, i);
      break;
    default:
      return fsi_fail(FS_EINVAL, "internal: bad SQL argument type '%c'", types[i - 1]);
    }
  }
  return rc == SQLITE_OK ? FS_OK : fsi_store_sqlfail(st, "binding a query");
}

/* The cached statement for `sql` with the arguments bound, in *out; on
 * failure the statement is reset and the error returned. */
static int prepare_bound(fs_store *st, sqlite3_stmt **out, const char *sql, const char *types,
                         va_list ap) {
  int rc = stmt_get(st, sql, out);
  if (!rc && (rc = bind_args(st, *out, types, ap))) {
    sqlite3_reset(*out);
    *out = NULL;
  }
  return rc;
}

sqlite3_stmt *fsi_sql_query(fs_store *st, const char *sql, const char *types, ...) {
  sqlite3_stmt *s = NULL;
  va_list ap;
  va_start(ap, types);
  prepare_bound(st, &s, sql, types, ap);
  va_end(ap);
  return s;
}

int fsi_sql_step(fs_store *st, sqlite3_stmt *s, const char *what) {
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) return 1;
  int rc = r == SQLITE_DONE ? 0 : fsi_store_sqlfail(st, what);
  sqlite3_reset(s);
  return rc;
}

void fsi_sql_done(sqlite3_stmt *s) {
  if (s) sqlite3_reset(s);
}

int fsi_sql_run(fs_store *st, const char *what, const char *sql, const char *types, ...) {
  sqlite3_stmt *s = NULL;
  va_list ap;
  va_start(ap, types);
  int rc = prepare_bound(st, &s, sql, types, ap);
  va_end(ap);
  if (rc) return rc;
  int r = sqlite3_step(s);
  if (r != SQLITE_DONE && r != SQLITE_ROW) rc = fsi_store_sqlfail(st, what);
  sqlite3_reset(s);
  return rc;
}

int fsi_sql_i64(fs_store *st, int64_t *out, const char *what, const char *sql, const char *types,
                ...) {
  sqlite3_stmt *s = NULL;
  va_list ap;
  va_start(ap, types);
  int rc = prepare_bound(st, &s, sql, types, ap);
  va_end(ap);
  if (rc) return rc;
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
    *out = sqlite3_column_int64(s, 0);
  else if (r == SQLITE_ROW || r == SQLITE_DONE)
    rc = FS_ENOTFOUND;
  else
    rc = fsi_store_sqlfail(st, what);
  sqlite3_reset(s);
  return rc;
}
