/*
 * store.c — opening, creating and migrating a store; settings; transactions.
 *
 * Opening never changes a file it refuses: the checks (is it SQLite, is it
 * a fieldsync store, which format and declaration version) run on a
 * read-only look before anything is written (check_existing), and only
 * then is WAL switched on and a migration applied, inside one transaction
 * (upgrade).  A store file is readable by its owner only, and a store this
 * open created is removed again when the open fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sodium.h>

#include "storeInt.h"
#include "util.h"

/* Store format: the internal tables.  Each step upgrades from the previous
 * version; a fresh store runs them all.  Never edit a shipped step. */
#define STORE_FORMAT 5
static const char *const format_steps[STORE_FORMAT] = {
    /* 1: clocks, tombstones, conflicts */
    "CREATE TABLE fs_cell(tbl TEXT NOT NULL, pk TEXT NOT NULL, col TEXT NOT NULL,"
    " hlc INTEGER NOT NULL, site INTEGER NOT NULL, bhlc INTEGER NOT NULL,"
    " bsite INTEGER NOT NULL, PRIMARY KEY(tbl, pk, col)) WITHOUT ROWID;"
    "CREATE TABLE fs_tomb(tbl TEXT NOT NULL, pk TEXT NOT NULL, cl INTEGER NOT NULL,"
    " hlc INTEGER NOT NULL, site INTEGER NOT NULL, seen INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, src INTEGER NOT NULL, cust TEXT,"
    " PRIMARY KEY(tbl, pk)) WITHOUT ROWID;"
    "CREATE INDEX fs_tomb_seq ON fs_tomb(tbl, seq);"
    "CREATE TABLE fs_conflict(id INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
    " pk TEXT NOT NULL, col TEXT NOT NULL, winner TEXT, loser TEXT,"
    " whlc INTEGER NOT NULL, wsite INTEGER NOT NULL, lhlc INTEGER NOT NULL,"
    " lsite INTEGER NOT NULL, detected_at INTEGER NOT NULL, resolution TEXT,"
    " UNIQUE(tbl, pk, col, whlc, wsite, lhlc, lsite));",
    /* 2: changes refused by the write policy, kept for a person to see
     * (with the row as this replica held it); customers head office moved
     * away from a manager, so that manager's devices learn to let go */
    "CREATE TABLE fs_refused(id INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
    " pk TEXT NOT NULL, col TEXT, site INTEGER NOT NULL, hlc INTEGER NOT NULL,"
    " reason TEXT NOT NULL, at INTEGER NOT NULL, value TEXT,"
    " UNIQUE(tbl, pk, col, site, hlc));"
    "CREATE TABLE fs_moved(pk TEXT NOT NULL, manager TEXT NOT NULL,"
    " PRIMARY KEY(pk, manager)) WITHOUT ROWID;",
    /* 3: a tombstone remembers the manager of the customer its row belonged
     * to (who may re-create it, whose devices are told); a move is a let-go
     * marker with a change number of its own and head office's clock.
     * Moves recorded before get fresh change numbers, so every device of
     * the manager they left is told once. */
    "ALTER TABLE fs_tomb ADD COLUMN manager TEXT;"
    "ALTER TABLE fs_moved ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fs_moved ADD COLUMN hlc INTEGER NOT NULL DEFAULT 0;"
    "UPDATE fs_moved SET hlc=(SELECT value FROM fs_meta WHERE key='hlc'),"
    " seq=(SELECT value FROM fs_meta WHERE key='seq') + (SELECT count(*) FROM fs_moved m"
    " WHERE m.pk < fs_moved.pk OR (m.pk = fs_moved.pk AND m.manager <= fs_moved.manager));"
    "UPDATE fs_meta SET value=value + (SELECT count(*) FROM fs_moved) WHERE key='seq';"
    "CREATE INDEX fs_moved_seq ON fs_moved(manager, seq);"
    /* ... and head office keeps every price its list has held, from when,
     * so a line taken offline on an older list still checks out */
    "CREATE TABLE fs_price_log(sku TEXT NOT NULL, currency TEXT NOT NULL,"
    " price INTEGER NOT NULL, hlc INTEGER NOT NULL,"
    " PRIMARY KEY(sku, currency, price)) WITHOUT ROWID;",
    /* 4: a refused change stays for a person to act on: open until it is
     * dismissed or copied (then with the copy's id), with the customer it
     * concerned (id and name as known when it was refused), the manager of
     * the device that sent it and, for an order, the lines it had.  Older
     * refusals are open and name the customer their row named. */
    "ALTER TABLE fs_refused ADD COLUMN state TEXT NOT NULL DEFAULT 'open';"
    "ALTER TABLE fs_refused ADD COLUMN closed_at INTEGER;"
    "ALTER TABLE fs_refused ADD COLUMN copied_to TEXT;"
    "ALTER TABLE fs_refused ADD COLUMN customer TEXT;"
    "ALTER TABLE fs_refused ADD COLUMN customer_name TEXT;"
    "ALTER TABLE fs_refused ADD COLUMN manager TEXT;"
    "ALTER TABLE fs_refused ADD COLUMN lines TEXT;"
    "UPDATE fs_refused SET customer = CASE WHEN tbl = 'customers' THEN pk"
    " WHEN json_valid(value) THEN json_extract(value, '$.customer_id') END;",
    /* 5: the receipts a device keeps of head office's signed
     * acknowledgements: the signed text, its signature and the push cursor
     * the acknowledged envelope advanced to (docs/protocol.md, "Receipts") */
    "CREATE TABLE fs_receipt(id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
    " hash TEXT NOT NULL, cursor TEXT NOT NULL, text TEXT NOT NULL, sig TEXT NOT NULL,"
    " received_at INTEGER NOT NULL, UNIQUE(seq, hash));",
};

/* A full disk says where and what to do: the directory holding the store
 * (a device's home, head office's home), the space left there, and that
 * nothing was lost (the transaction rolled back; what was committed stays). */
static int disk_full(fs_store *st, const char *what) {
  const char *file = sqlite3_db_filename(st->db, "main");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", file && *file ? file : ".");
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    dir[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  struct statvfs vs;
  long long mb = -1;
  if (statvfs(dir, &vs) == 0) mb = (long long)((uint64_t)vs.f_bavail * vs.f_frsize / (1024 * 1024));
  char space[48] = "";
  if (mb >= 0) snprintf(space, sizeof space, " (%lld MB free)", mb);
  return fsi_fail(FS_EIO,
                  "the disk holding %s is full (%s): free space there%s and run the command "
                  "again; nothing was lost",
                  dir, what, space);
}

int fsi_store_sqlfail(fs_store *st, const char *what) {
  int ec = sqlite3_extended_errcode(st->db);
  int pc = ec & 0xFF;
  int code = FS_EIO;
  char damage[1200];
  /* a page of an encrypted store failed authentication (crypt.c) */
  if (ec == SQLITE_IOERR_DATA && fsi_crypt_damage(st->crypt, damage, sizeof damage))
    return fsi_fail(FS_ECORRUPT, "%s: %s", what, damage);
  if (pc == SQLITE_FULL || (pc == SQLITE_IOERR && sqlite3_system_errno(st->db) == ENOSPC))
    return disk_full(st, what);
  if (pc == SQLITE_CORRUPT || pc == SQLITE_NOTADB)
    code = FS_ECORRUPT;
  else if (pc == SQLITE_NOMEM)
    code = FS_ENOMEM;
  else if (pc == SQLITE_CONSTRAINT)
    code = FS_EEXIST;
  return fsi_fail(code, "%s: %s", what, sqlite3_errmsg(st->db));
}

static int exec(fs_store *st, const char *sql, const char *what) {
  char *msg = NULL;
  if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    int rc = fsi_store_sqlfail(st, what);
    sqlite3_free(msg);
    return rc;
  }
  return FS_OK;
}

/* A setting, read and written by key (fs_meta has no column type: a value
 * keeps the type it was written with). */
static const char meta_get_sql[] = "SELECT value FROM fs_meta WHERE key = ?1";
static const char meta_set_sql[] = "INSERT INTO fs_meta(key, value) VALUES(?1, ?2)"
                                   " ON CONFLICT(key) DO UPDATE SET value = excluded.value";

int fsi_store_meta_get_i64(fs_store *st, const char *key, int64_t *out) {
  sqlite3_stmt *s = fsi_sql_query(st, meta_get_sql, "t", key);
  if (!s) return FS_EIO;
  int r = fsi_sql_step(st, s, "reading settings");
  if (r <= 0) return r ? r : FS_ENOTFOUND;
  *out = sqlite3_column_int64(s, 0);
  fsi_sql_done(s);
  return FS_OK;
}

int fsi_store_meta_set_i64(fs_store *st, const char *key, int64_t v) {
  return fsi_sql_run(st, "writing settings", meta_set_sql, "ti", key, v);
}

int fs_store_get(char **out, fs_store *st, const char *key) {
  *out = NULL;
  sqlite3_stmt *s = fsi_sql_query(st, meta_get_sql, "t", key);
  if (!s) return FS_EIO;
  int r = fsi_sql_step(st, s, "reading settings");
  if (r < 0) return r;
  if (r == 1 && sqlite3_column_type(s, 0) != SQLITE_NULL) {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    *out = strdup(v ? v : "");
    fsi_sql_done(s);
    return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
  }
  fsi_sql_done(s);
  return fsi_fail(FS_ENOTFOUND, "setting %s is not set", key);
}

int fs_store_set(fs_store *st, const char *key, const char *value) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  rc = fsi_sql_run(st, "writing settings", meta_set_sql, "tt", key, value);
  if (!strcmp(key, "manager")) st->manager_loaded = 0; /* re-read when next needed */
  return fsi_store_tx_end(st, implicit, rc);
}

const char *fsi_store_manager(fs_store *st) {
  if (!st->manager_loaded) {
    /* a getter: the sentence of a failure just before it stays (a pull
     * refused for its clocks once lost its sentence here) */
    char keep[512];
    snprintf(keep, sizeof keep, "%s", fs_errmsg());
    free(st->manager);
    st->manager = NULL;
    if (fs_store_get(&st->manager, st, "manager") != FS_OK) st->manager = NULL;
    fsi_fail(FS_OK, "%s", keep);
    st->manager_loaded = 1;
  }
  return st->manager;
}

int64_t fs_store_site(const fs_store *st) { return st->site; }
const char *fs_store_device_id(const fs_store *st) { return st->device_id; }
int64_t fs_store_db_version(fs_store *st) { return st->dbv; }
void fs_store_set_max_skew(fs_store *st, int64_t ms) { st->max_skew = ms; }
int64_t fs_store_hq_site(const fs_store *st) { return st->hq_site; }
int fsi_store_is_hq(const fs_store *st) { return (st->flags & FS_OPEN_SERVER) != 0; }
sqlite3 *fsi_store_db(fs_store *st) { return st->db; }
const fs_schema *fsi_store_schema(const fs_store *st) { return st->schema; }
int fsi_store_in_tx(const fs_store *st) { return st->in_tx; }
int64_t fsi_store_clock(const fs_store *st) { return st->clock.last; }
int64_t fsi_store_max_skew(const fs_store *st) { return st->max_skew; }

int fsi_store_skew_refused(const fs_store *st, int64_t *hlc, int64_t *site) {
  *hlc = st->skew_hlc;
  *site = st->skew_site;
  return st->skew_hlc != 0;
}

int fsi_store_extracted(const fs_store *st, int k, const char *cursor, int64_t *hlc_max) {
  if (k < 0 || k > 1 || !cursor || !*cursor || strcmp(st->extracted[k].cursor, cursor) != 0)
    return 0;
  *hlc_max = st->extracted[k].hlc_max;
  return 1;
}
void fsi_store_forget_hq_site(fs_store *st) { st->hq_site = 0; }

int fs_store_set_hq_site(fs_store *st, int64_t site) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  rc = fsi_store_meta_set_i64(st, "hq_site", site);
  if (!rc) st->hq_site = site;
  return fsi_store_tx_end(st, implicit, rc);
}

int fsi_store_set_site_for_test(fs_store *st, int64_t site) {
  if (site <= 0) return fsi_fail(FS_EINVAL, "a site id must be positive");
  if (st->dbv != 0 || st->seq != 0 || st->clock.last != 0)
    return fsi_fail(FS_EINVAL, "the site id can only be chosen before the store is first used");
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  rc = fsi_store_tx_end(st, implicit, fsi_store_meta_set_i64(st, "site", site));
  if (rc) return rc;
  st->site = site;
  if (st->flags & FS_OPEN_SERVER) st->hq_site = site;
  snprintf(st->device_id, sizeof st->device_id, "%016llx", (unsigned long long)site);
  return FS_OK;
}

fsi_tbl_state *fsi_store_table(fs_store *st, const char *name) {
  for (size_t i = 0; i < st->nt; i++)
    if (strcmp(st->t[i].decl->name, name) == 0) return &st->t[i];
  return NULL;
}

/* ---------------------------------------------------------- transactions */

static int begin_raw(fs_store *st) {
  if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "starting a transaction");
  st->tx_dbv = 0;
  /* Another process (the server's admin commands beside `serve`) may have
   * written since: with the write lock held, take the counters and clock
   * from the file. */
  int64_t v;
  if (!fsi_store_meta_get_i64(st, "dbv", &v) && v > st->dbv) st->dbv = v;
  if (!fsi_store_meta_get_i64(st, "seq", &v) && v > st->seq) st->seq = v;
  int64_t epoch = 0;
  if (fsi_store_meta_get_i64(st, "hlc_epoch", &epoch)) epoch = 0;
  if (!fsi_store_meta_get_i64(st, "hlc", &v) && (v > st->clock.last || epoch != st->hlc_epoch))
    st->clock.last = v; /* a clock set back since (reclock.c) is taken as it is */
  st->hlc_epoch = epoch;
  if (!fsi_store_meta_get_i64(st, "hlc_seen", &v) && v > st->clock.seen) st->clock.seen = v;
  fsi_clear_error();
  /* ...and may have deleted rows: look for tombstones afresh. */
  for (size_t i = 0; i < st->nt; i++) st->t[i].tombs = -1;
  st->saved_hlc = st->clock.last;
  st->saved_seen = st->clock.seen;
  return FS_OK;
}

static int commit_raw(fs_store *st) {
  int rc = FS_OK;
  if (st->tx_dbv) {
    rc = fsi_store_meta_set_i64(st, "dbv", st->tx_dbv);
    if (!rc) rc = fsi_store_meta_set_i64(st, "seq", st->tx_seq);
    if (!rc) rc = fsi_store_meta_set_i64(st, "hlc", st->clock.last);
  } else if (st->clock.last != st->saved_hlc) {
    rc = fsi_store_meta_set_i64(st, "hlc", st->clock.last);
  }
  if (!rc && st->clock.seen != st->saved_seen)
    rc = fsi_store_meta_set_i64(st, "hlc_seen", st->clock.seen);
  if (!rc && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    rc = fsi_store_sqlfail(st, "committing");
  if (rc) {
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->clock.last = st->saved_hlc;
    st->clock.seen = st->saved_seen;
    st->tx_dbv = 0;
    return rc;
  }
  if (st->tx_dbv) {
    st->dbv = st->tx_dbv;
    st->seq = st->tx_seq;
  }
  st->tx_dbv = 0;
  return FS_OK;
}

static void rollback_raw(fs_store *st) {
  sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  st->clock.last = st->saved_hlc;
  st->clock.seen = st->saved_seen;
  st->tx_dbv = 0;
}

int fsi_store_tx_begin(fs_store *st, int *implicit) {
  if (st->flags & FS_OPEN_READONLY) return fsi_fail(FS_EPERM, "the store was opened read-only");
  if (st->in_tx || !sqlite3_get_autocommit(st->db)) {
    *implicit = 0; /* inside the caller's transaction */
    return FS_OK;
  }
  *implicit = 1;
  return begin_raw(st);
}

int fsi_store_tx_end(fs_store *st, int implicit, int rc) {
  if (!implicit) return rc;
  if (rc == FS_OK) return commit_raw(st);
  /* keep the failure's message: rollback cannot fail in a way we report */
  rollback_raw(st);
  return rc;
}

int64_t fsi_store_next_seq(fs_store *st) {
  if (!st->tx_dbv) {
    st->tx_dbv = st->dbv + 1;
    st->tx_seq = st->seq;
  }
  return ++st->tx_seq;
}

int fs_tx_begin(fs_store *st) {
  if (st->in_tx) return fsi_fail(FS_EINVAL, "a transaction is already open");
  if (st->flags & FS_OPEN_READONLY) return fsi_fail(FS_EPERM, "the store was opened read-only");
  int rc = begin_raw(st);
  if (!rc) st->in_tx = 1;
  return rc;
}

int fs_tx_commit(fs_store *st) {
  if (!st->in_tx) return fsi_fail(FS_EINVAL, "no transaction is open");
  st->in_tx = 0;
  return commit_raw(st);
}

int fs_tx_rollback(fs_store *st) {
  if (!st->in_tx) return fsi_fail(FS_EINVAL, "no transaction is open");
  st->in_tx = 0;
  rollback_raw(st);
  return FS_OK;
}

/* ---------------------------------------------------------------- open */

static const char *coltype_sql(fs_coltype t) { return t == FS_COL_INT ? "INTEGER" : "TEXT"; }

static int create_table(fs_store *st, const fs_table *t) {
  char *sql = NULL;
  size_t cap = 512 + t->ncols * 96, n = 0;
  int rc = FS_OK;
  sql = malloc(cap);
  if (!sql) return fsi_fail(FS_ENOMEM, "out of memory");
  n += (size_t)snprintf(sql + n, cap - n, "CREATE TABLE \"%s\"(id TEXT NOT NULL UNIQUE", t->name);
  for (size_t i = 0; i < t->ncols; i++)
    n += (size_t)snprintf(sql + n, cap - n, ", \"%s\" %s", t->cols[i].name,
                          coltype_sql(t->cols[i].type));
  /* _seq is the rowid: rows are stored in change order, so "changes since"
   * is a range scan and capture costs no index beyond the id's. */
  n += (size_t)snprintf(sql + n, cap - n,
                        ", _cl INTEGER NOT NULL, _hlc INTEGER NOT NULL,"
                        " _site INTEGER NOT NULL, _seq INTEGER PRIMARY KEY,"
                        " _src INTEGER NOT NULL, _nc INTEGER NOT NULL);");
  rc = exec(st, sql, "creating a table");
  free(sql);
  return rc;
}

static int valid_name(const char *s) {
  if (!s || !*s || strlen(s) > 60) return 0;
  if (s[0] == '_') return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
  return strncmp(s, "fs_", 3) != 0 && strcmp(s, "id") != 0;
}

static int check_schema(const fs_schema *sc) {
  if (!sc->name || !sc->ntables || sc->version < 1)
    return fsi_fail(FS_EINVAL, "schema declaration is empty");
  for (size_t i = 0; i < sc->ntables; i++) {
    const fs_table *t = &sc->tables[i];
    if (!valid_name(t->name) || t->ncols == 0 || t->ncols > 60)
      return fsi_fail(FS_EINVAL, "schema: bad table name or column count for \"%s\"",
                      t->name ? t->name : "");
    for (size_t j = 0; j < t->ncols; j++)
      if (!valid_name(t->cols[j].name))
        return fsi_fail(FS_EINVAL, "schema: bad column name in table %s", t->name);
  }
  return FS_OK;
}

/* Adds the tables and columns a newer declaration has (append-only). */
static int migrate_declaration(fs_store *st) {
  int rc = FS_OK;
  for (size_t i = 0; i < st->schema->ntables && !rc; i++) {
    const fs_table *t = &st->schema->tables[i];
    sqlite3_stmt *s = NULL;
    char q[256];
    snprintf(q, sizeof q, "SELECT name FROM pragma_table_info('%s')", t->name);
    if (sqlite3_prepare_v2(st->db, q, -1, &s, NULL) != SQLITE_OK)
      return fsi_store_sqlfail(st, "reading the schema");
    int ncols = 0;
    unsigned char have[64] = {0};
    while (sqlite3_step(s) == SQLITE_ROW) {
      const char *name = (const char *)sqlite3_column_text(s, 0);
      ncols++;
      for (size_t j = 0; j < t->ncols && j < 64; j++)
        if (name && strcmp(name, t->cols[j].name) == 0) have[j] = 1;
    }
    sqlite3_finalize(s);
    if (ncols == 0) rc = create_table(st, t);
    /* Rows are looked up by customer (subsets, reassignment) and by the
     * columns the declaration flags (a catalog by SKU). */
    for (size_t j = 0; j < t->ncols && !rc; j++) {
      if (t->cols[j].flags & FS_COL_CUSTOMER) {
        snprintf(q, sizeof q, "CREATE INDEX IF NOT EXISTS \"%s__cust\" ON \"%s\"(\"%s\")", t->name,
                 t->name, t->cols[j].name);
        rc = exec(st, q, "indexing a table");
      }
      if (!rc && (t->cols[j].flags & FS_COL_INDEX)) {
        snprintf(q, sizeof q, "CREATE INDEX IF NOT EXISTS \"%s__%s\" ON \"%s\"(\"%s\")", t->name,
                 t->cols[j].name, t->name, t->cols[j].name);
        rc = exec(st, q, "indexing a table");
      }
    }
    if (ncols == 0) continue;
    for (size_t j = 0; j < t->ncols && !rc; j++) {
      if (have[j]) continue;
      snprintf(q, sizeof q, "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s", t->name, t->cols[j].name,
               coltype_sql(t->cols[j].type));
      rc = exec(st, q, "adding a column");
    }
  }
  return rc;
}

const char *const fsi_store_special_cols[SP_N] = {
    "currency", "country", "email", "discount_bp", "at", "follow_up", "created_at", "manager"};

static int prepare_tables(fs_store *st) {
  st->nt = st->schema->ntables;
  st->t = calloc(st->nt, sizeof *st->t);
  if (!st->t) return fsi_fail(FS_ENOMEM, "out of memory");
  for (size_t i = 0; i < st->nt; i++) {
    fsi_tbl_state *ts = &st->t[i];
    const fs_table *t = &st->schema->tables[i];
    ts->decl = t;
    ts->idx = (int)i;
    ts->cust_col = -1;
    ts->tombs = -1;
    for (int k = 0; k < SP_N; k++) {
      ts->sp[k] = -1;
      for (size_t j = 0; j < t->ncols; j++)
        if (!strcmp(t->cols[j].name, fsi_store_special_cols[k])) ts->sp[k] = (int)j;
    }
    size_t cap = 64 + t->ncols * 70;
    ts->collist = malloc(cap);
    char *sets = malloc(cap + 64);
    char *qs = malloc(t->ncols * 2 + 8);
    char *sql = malloc(cap * 2 + 256);
    if (!ts->collist || !sets || !qs || !sql) {
      free(sets), free(qs), free(sql);
      return fsi_fail(FS_ENOMEM, "out of memory");
    }
    size_t n = 0, m = 0;
    for (size_t j = 0; j < t->ncols; j++) {
      if (t->cols[j].flags & FS_COL_CUSTOMER) ts->cust_col = (int)j;
      n += (size_t)snprintf(ts->collist + n, cap - n, "%s\"%s\"", j ? "," : "", t->cols[j].name);
      m += (size_t)snprintf(sets + m, cap + 64 - m, "\"%s\"=?%zu,", t->cols[j].name, j + 2);
      qs[2 * j] = ',';
      qs[2 * j + 1] = '?';
    }
    qs[2 * t->ncols] = '\0';
    int rc = SQLITE_OK;
    snprintf(sql, cap * 2 + 256,
             "INSERT INTO \"%s\"(id,%s,_cl,_hlc,_site,_seq,_src,_nc) VALUES(?%s,?,?,?,?,?,?)",
             t->name, ts->collist, qs);
    rc |= sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &ts->ins, NULL);
    snprintf(sql, cap * 2 + 256, "SELECT %s,_cl,_hlc,_site,_seq,_src,_nc FROM \"%s\" WHERE id=?1",
             ts->collist, t->name);
    rc |= sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &ts->get, NULL);
    snprintf(sql, cap * 2 + 256,
             "UPDATE \"%s\" SET %s_cl=?%zu,_hlc=?%zu,_site=?%zu,_seq=?%zu,_src=?%zu,"
             "_nc=?%zu WHERE id=?1",
             t->name, sets, t->ncols + 2, t->ncols + 3, t->ncols + 4, t->ncols + 5, t->ncols + 6,
             t->ncols + 7);
    rc |= sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &ts->put, NULL);
    snprintf(sql, cap * 2 + 256, "DELETE FROM \"%s\" WHERE id=?1", t->name);
    rc |= sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &ts->del, NULL);
    free(sets), free(qs), free(sql);
    if (rc != SQLITE_OK) return fsi_store_sqlfail(st, "preparing table statements");
  }
  return FS_OK;
}

/* What kind of file is this?  0 = empty (new), 1 = fieldsync, else error. */
static int inspect(fs_store *st, const char *path, int64_t *format, int64_t *decl_version,
                   char **schema_name) {
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(st->db, "SELECT count(*) FROM sqlite_schema", -1, &s, NULL);
  if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
    int pc = sqlite3_errcode(st->db) & 0xFF;
    sqlite3_finalize(s);
    if (pc == SQLITE_NOTADB || pc == SQLITE_CORRUPT)
      return fsi_fail(FS_ECORRUPT,
                      "%s is not a fieldsync store (the file is not a "
                      "readable SQLite database); it was left untouched",
                      path);
    return fsi_store_sqlfail(st, "reading the store");
  }
  int64_t nobj = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  if (nobj == 0) return 0;
  s = NULL;
  rc = sqlite3_prepare_v2(st->db,
                          "SELECT key, value FROM fs_meta WHERE key IN"
                          " ('magic','format','decl_version','schema')",
                          -1, &s, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(s);
    return fsi_fail(FS_ECORRUPT, "%s is not a fieldsync store; it was left untouched", path);
  }
  int magic = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *k = (const char *)sqlite3_column_text(s, 0);
    if (!k) continue;
    if (!strcmp(k, "magic")) {
      const char *v = (const char *)sqlite3_column_text(s, 1);
      magic = v && !strcmp(v, "fieldsync");
    } else if (!strcmp(k, "format")) {
      *format = sqlite3_column_int64(s, 1);
    } else if (!strcmp(k, "decl_version")) {
      *decl_version = sqlite3_column_int64(s, 1);
    } else if (!strcmp(k, "schema")) {
      const char *v = (const char *)sqlite3_column_text(s, 1);
      *schema_name = strdup(v ? v : "");
    }
  }
  int pc = sqlite3_errcode(st->db) & 0xFF;
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) {
    if (pc == SQLITE_CORRUPT || pc == SQLITE_NOTADB)
      return fsi_fail(FS_ECORRUPT, "%s is corrupt; it was left untouched", path);
    return fsi_store_sqlfail(st, "reading the store");
  }
  if (!magic)
    return fsi_fail(FS_ECORRUPT, "%s is not a fieldsync store; it was left untouched", path);
  return 1;
}

static int integrity(fs_store *st, const char *path) {
  sqlite3_stmt *s = NULL;
  int ok = 0;
  if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check(1)", -1, &s, NULL) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    ok = v && !strcmp(v, "ok");
  }
  sqlite3_finalize(s);
  /* the check reports a page it cannot read as a finding; an encrypted
   * store knows which page failed authentication */
  char damage[1200];
  if (!ok && fsi_crypt_damage(st->crypt, damage, sizeof damage))
    return fsi_fail(FS_ECORRUPT, "checking the store: %s", damage);
  if (!ok)
    return fsi_fail(FS_ECORRUPT,
                    "%s is corrupt (integrity check failed); it was left "
                    "untouched: restore it from a backup",
                    path);
  return FS_OK;
}

int fsi_store_check(fs_store *st) {
  const char *path = sqlite3_db_filename(st->db, "main");
  return integrity(st, path && *path ? path : "the store");
}

static int setup_new(fs_store *st) {
  int rc = exec(st, "CREATE TABLE fs_meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;",
                "creating the store");
  if (rc) return rc;
  do {
    randombytes_buf(&st->site, sizeof st->site);
    st->site &= INT64_MAX; /* positive, for readable ids */
  } while (st->site == 0);
  char q[256];
  snprintf(q, sizeof q,
           "INSERT INTO fs_meta VALUES('magic','fieldsync'),('format',0),"
           "('site',%lld),('dbv',0),('seq',0),('hlc',0),('role','%s')",
           (long long)st->site, (st->flags & FS_OPEN_SERVER) ? "server" : "device");
  rc = exec(st, q, "creating the store");
  if (rc) return rc;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(st->db, "INSERT INTO fs_meta VALUES('schema', ?1)", -1, &s, NULL) !=
      SQLITE_OK)
    return fsi_store_sqlfail(st, "creating the store");
  sqlite3_bind_text(s, 1, st->schema->name, -1, SQLITE_STATIC);
  rc = sqlite3_step(s) == SQLITE_DONE ? FS_OK : fsi_store_sqlfail(st, "creating the store");
  sqlite3_finalize(s);
  return rc;
}

/* A store holds customer data, so it and the -wal, -shm and -journal files
 * SQLite keeps beside it are readable by their owner only (0600), whatever
 * the umask or the mode of the directory they are in.  A new store file is
 * created here, exclusively and 0600, before SQLite opens it: SQLite's unix
 * VFS gives the files it creates beside a database the database's mode. */
static int store_create_private(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return fsi_fail(FS_EEXIST, "%s appeared while the store was being created", path);
    return fsi_fail(FS_EIO, "cannot create %s: %s", path, strerror(errno));
  }
  /* the umask may have taken the owner's bits too (umask 0277) */
  int e = fchmod(fd, 0600) != 0 ? errno : 0;
  close(fd);
  if (e) {
    unlink(path);
    return fsi_fail(FS_EIO, "cannot set the mode of %s: %s", path, strerror(e));
  }
  return FS_OK;
}

/* An existing store others may read (made by an older fieldsync, copied in
 * by a person, or a -wal/-shm left from then) is tightened to owner-only on
 * open: for a file of customer data that is the only safe mode, and doing it
 * silently beats refusing a store the owner can fix with one chmod anyway.
 * Only when that is not allowed (another user owns it) is the open refused,
 * with the command to run.  Missing sidecar files are fine.  By path, never
 * through a descriptor of our own: SQLite already has these files open, and
 * closing any other descriptor of them would drop this process's POSIX
 * locks on them (a reader would then see, or break, a half-written WAL). */
static int store_keep_private(const char *path) {
  static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
    char p[4200];
    struct stat sb;
    int n = snprintf(p, sizeof p, "%s%s", path, suffix[i]);
    if (n < 0 || (size_t)n >= sizeof p)
      return fsi_fail(FS_EINVAL, "the store path is too long: %.200s", path);
    if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || !(sb.st_mode & 077)) continue;
    if (chmod(p, sb.st_mode & 0700) != 0)
      return fsi_fail(FS_EIO,
                      "%s has mode %04o (other users can read it) and cannot be made "
                      "private: %s; run: chmod 600 %s",
                      p, (unsigned)(sb.st_mode & 07777), strerror(errno), p);
  }
  return FS_OK;
}

/* Where the store will live: an existing regular file, or (with
 * FS_OPEN_CREATE) a new one, created private here (*created = 1) unless it
 * is in memory or the open is read-only. */
static int open_path(const char *path, unsigned flags, int on_disk, int *created) {
  struct stat sb;
  int exists = stat(path, &sb) == 0;
  if (!exists && !(flags & FS_OPEN_CREATE)) return fsi_fail(FS_ENOTFOUND, "no store at %s", path);
  if (exists && !S_ISREG(sb.st_mode)) return fsi_fail(FS_EINVAL, "%s is not a regular file", path);
  if (!exists && on_disk && !(flags & FS_OPEN_READONLY)) {
    int rc = store_create_private(path);
    if (rc) return rc;
    *created = 1;
  }
  return FS_OK;
}

static int open_db(fs_store *st, const char *path) {
  int oflags = (st->flags & FS_OPEN_READONLY) ? SQLITE_OPEN_READONLY
                                              : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const char *vfs = st->crypt ? fsi_crypt_vfs(st->crypt) : NULL;
  /* The key must open page 1 before SQLite reads anything (a wrong key
   * would otherwise see an empty WAL, and an empty store over it). */
  if (st->crypt) {
    int rc = fsi_crypt_check_key(st->crypt);
    if (rc) return rc;
  }
  if (sqlite3_open_v2(path, &st->db, oflags | SQLITE_OPEN_NOMUTEX, vfs) != SQLITE_OK)
    return st->db ? fsi_store_sqlfail(st, "opening the store")
                  : fsi_fail(FS_ENOMEM, "out of memory");
  sqlite3_extended_result_codes(st->db, 1);
  sqlite3_busy_timeout(st->db, 10000);
  if (!st->crypt) return FS_OK;
  /* The page layout the seal needs, fixed before the first write, and no
   * temporary file (the encryption layer refuses them). */
  int reserve = FSI_CRYPT_RESERVE;
  if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve) != SQLITE_OK)
    return fsi_store_sqlfail(st, "preparing the encrypted store");
  return exec(st, "PRAGMA page_size=4096; PRAGMA temp_store=MEMORY;",
              "preparing the encrypted store");
}

/* The read-only look before anything is written: *fresh = 1 for an empty
 * database (allowed only with FS_OPEN_CREATE); else a fieldsync store of
 * this schema, no newer than this build, that passes the integrity check,
 * with its store format and declaration version in *format and
 * *decl_version. */
static int check_existing(fs_store *st, const char *path, int *fresh, int64_t *format,
                          int64_t *decl_version) {
  const fs_schema *schema = st->schema;
  char *schema_name = NULL;
  int rc = inspect(st, path, format, decl_version, &schema_name);
  if (rc < 0) goto done;
  *fresh = rc == 0;
  rc = FS_OK;
  if (*fresh && !(st->flags & FS_OPEN_CREATE)) {
    rc = fsi_fail(FS_ECORRUPT, "%s is not a fieldsync store (empty database)", path);
    goto done;
  }
  if (!*fresh) {
    if (*format > STORE_FORMAT || *decl_version > schema->version) {
      rc = fsi_fail(FS_EVERSION,
                    "%s was written by a newer version of fieldsync (store format %lld, "
                    "declaration %lld); upgrade fieldsync to open it",
                    path, (long long)*format, (long long)*decl_version);
      goto done;
    }
    if (!schema_name || strcmp(schema_name, schema->name) != 0) {
      rc = fsi_fail(FS_EINVAL, "%s holds the \"%s\" schema, not \"%s\"", path,
                    schema_name ? schema_name : "?", schema->name);
      goto done;
    }
    /* Every page of a plain store is checked here; an encrypted store's
     * pages are each authenticated whenever they are read, so the open
     * checks its first page (the key) and not the whole file: a damaged
     * page fails the first statement that reads it, which then applies
     * nothing (docs/security.md, "The store at rest"). */
    if (!st->crypt) rc = integrity(st, path);
  }
done:
  free(schema_name);
  return rc;
}

/* Switches WAL on and brings the store to this build's format and
 * declaration in one transaction: a fresh store is set up, an older one
 * upgraded step by step; on failure nothing of it stays. */
static int upgrade(fs_store *st, int fresh, int64_t format, int64_t decl_version) {
  const fs_schema *schema = st->schema;
  int rc = FS_OK;
  /* A new encrypted store goes straight into WAL mode without a rollback
   * journal (the switch would otherwise write one, in the clear). */
  if (fresh && st->crypt && (rc = exec(st, "PRAGMA journal_mode=OFF", "configuring the store")))
    return rc;
  rc = exec(st,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            " PRAGMA foreign_keys=ON; PRAGMA cache_size=-8192;"
            " PRAGMA wal_autocheckpoint=4096;",
            "configuring the store");
  if (rc) return rc;
  if ((rc = exec(st, "BEGIN IMMEDIATE", "starting the upgrade"))) return rc;
  if (fresh) rc = setup_new(st);
  for (int64_t v = format; !rc && v < STORE_FORMAT; v++)
    rc = exec(st, format_steps[v], "upgrading the store");
  if (!rc) rc = migrate_declaration(st);
  if (!rc && (format < STORE_FORMAT || fresh)) {
    char q[96];
    snprintf(q, sizeof q, "UPDATE fs_meta SET value=%d WHERE key='format'", STORE_FORMAT);
    rc = exec(st, q, "upgrading the store");
  }
  if (!rc && decl_version != schema->version) {
    char q[128];
    snprintf(q, sizeof q, "INSERT OR REPLACE INTO fs_meta VALUES('decl_version', %d)",
             schema->version);
    rc = exec(st, q, "upgrading the store");
  }
  if (!rc) rc = exec(st, "COMMIT", "finishing the upgrade");
  if (rc) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  /* ... and its file holds page 1 from now on, sealed, not only its WAL */
  if (!rc && fresh && st->crypt)
    rc = exec(st, "PRAGMA wal_checkpoint(PASSIVE)", "finishing the encrypted store");
  return rc;
}

/* The store's identity, counters, clock and settings, into the handle. */
static int load_settings(fs_store *st) {
  int rc;
  if ((rc = fsi_store_meta_get_i64(st, "site", &st->site))) return rc;
  if ((rc = fsi_store_meta_get_i64(st, "dbv", &st->dbv))) return rc;
  if ((rc = fsi_store_meta_get_i64(st, "seq", &st->seq))) return rc;
  if ((rc = fsi_store_meta_get_i64(st, "hlc", &st->clock.last))) return rc;
  if (fsi_store_meta_get_i64(st, "hlc_seen", &st->clock.seen)) st->clock.seen = 0;
  if (fsi_store_meta_get_i64(st, "hlc_epoch", &st->hlc_epoch)) st->hlc_epoch = 0;
  if (fsi_store_meta_get_i64(st, "hq_site", &st->hq_site)) st->hq_site = 0;
  if (fsi_store_meta_get_i64(st, "restored_hlc", &st->restored_hlc)) st->restored_hlc = 0;
  int64_t skew;
  if (!fsi_store_meta_get_i64(st, "max_skew_ms", &skew) && skew > 0) st->max_skew = skew;
  char *role = NULL;
  if (fs_store_get(&role, st, "role") == FS_OK && !strcmp(role, "server"))
    st->flags |= FS_OPEN_SERVER;
  free(role);
  if (st->flags & FS_OPEN_SERVER) st->hq_site = st->site;
  snprintf(st->device_id, sizeof st->device_id, "%016llx", (unsigned long long)st->site);
  return FS_OK;
}

int fs_store_open(fs_store **out, const char *path, const fs_schema *schema, unsigned flags) {
  return fsi_store_open_keyed(out, path, schema, flags, NULL);
}

int fsi_store_encrypted(const fs_store *st) { return st->crypt != NULL; }

int fsi_raw_open(sqlite3 **db_out, fsi_crypt **crypt_out, const char *path,
                 const unsigned char *key, int oflags) {
  sqlite3 *db = NULL;
  fsi_crypt *c = NULL;
  int rc = FS_OK;
  *db_out = NULL;
  *crypt_out = NULL;
  if (key && (rc = fsi_crypt_new(&c, key, path))) return rc;
  if (c && (rc = fsi_crypt_check_key(c))) goto fail;
  if (sqlite3_open_v2(path, &db, oflags | SQLITE_OPEN_NOMUTEX, c ? fsi_crypt_vfs(c) : NULL) !=
      SQLITE_OK) {
    rc = fsi_fail(FS_EIO, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
    goto fail;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 10000);
  if (c) {
    int reserve = FSI_CRYPT_RESERVE;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA temp_store=MEMORY", NULL, NULL, NULL) != SQLITE_OK) {
      rc = fsi_fail(FS_EIO, "cannot prepare %s: %s", path, sqlite3_errmsg(db));
      goto fail;
    }
  }
  *db_out = db;
  *crypt_out = c;
  return FS_OK;
fail:
  fsi_raw_close(db, c);
  return rc;
}

void fsi_raw_close(sqlite3 *db, fsi_crypt *c) {
  /* the layer outlives the connection (fs_store_close) */
  if (sqlite3_close(db) == SQLITE_OK) fsi_crypt_free(c);
}

/* A key for a plain store, or none for an encrypted one, is refused before
 * the file is opened, with a sentence saying which. */
static int check_kind(const char *path, const unsigned char *key) {
  int kind = fsi_crypt_probe(path);
  if (kind == FS_ENOTFOUND) return FS_OK; /* open_path decides */
  if (kind < 0) return kind;
  if (key && kind == FSI_CRYPT_PLAIN)
    return fsi_fail(FS_EINVAL,
                    "%s is a store without encryption: open it without a key; it was left "
                    "untouched",
                    path);
  if (!key && kind == FSI_CRYPT_ENCRYPTED)
    return fsi_fail(FS_ECORRUPT,
                    "%s is not a fieldsync store that opens without a key: it is either an "
                    "encrypted store (open it with its key) or not an SQLite database at all; "
                    "it was left untouched",
                    path);
  return FS_OK;
}

int fsi_store_open_keyed(fs_store **out, const char *path, const fs_schema *schema, unsigned flags,
                         const unsigned char *key) {
  fs_store *st = NULL;
  int rc = FS_OK, fresh = 0, created = 0;
  int64_t format = 0, decl_version = 0;
  *out = NULL;
  if (sodium_init() < 0) return fsi_fail(FS_ENOMEM, "libsodium failed to initialise");
  if (!schema) schema = fs_schema_fieldsales();
  if ((rc = check_schema(schema))) return rc;
  /* ":memory:" and "" are SQLite's private in-memory / temporary databases */
  int on_disk = *path && strcmp(path, ":memory:") != 0;
  if (key && !on_disk) return fsi_fail(FS_EINVAL, "an in-memory store cannot be encrypted");
  if (on_disk && (rc = check_kind(path, key))) return rc;
  if ((rc = open_path(path, flags, on_disk, &created))) return rc;

  st = calloc(1, sizeof *st);
  if (!st) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  st->schema = schema;
  st->flags = flags;
  st->max_skew = 3600 * 1000;
  if (key && (rc = fsi_crypt_new(&st->crypt, key, path))) goto done;
  if ((rc = open_db(st, path))) goto done;
  if ((rc = check_existing(st, path, &fresh, &format, &decl_version))) goto done;
  /* after the checks, so a file that is refused is left as it was */
  if (on_disk && (rc = store_keep_private(path))) goto done;
  if (flags & FS_OPEN_READONLY) {
    if (fresh || format < STORE_FORMAT || decl_version < schema->version) {
      rc = fsi_fail(FS_EVERSION, "%s needs an upgrade; open it writable first", path);
      goto done;
    }
  } else if ((rc = upgrade(st, fresh, format, decl_version))) {
    goto done;
  }
  if ((rc = load_settings(st))) goto done;
  rc = prepare_tables(st);
done:
  if (rc) {
    fs_store_close(st);
    if (created) unlink(path); /* a failed create leaves nothing behind */
    return rc;
  }
  fsi_clear_error();
  *out = st;
  return FS_OK;
}

void fs_store_close(fs_store *st) {
  if (!st) return;
  if (st->in_tx) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  fsi_stmt_cache_free(st->stmts);
  for (size_t i = 0; st->t && i < st->nt; i++) {
    sqlite3_finalize(st->t[i].ins);
    sqlite3_finalize(st->t[i].get);
    sqlite3_finalize(st->t[i].put);
    sqlite3_finalize(st->t[i].del);
    free(st->t[i].collist);
  }
  free(st->t);
  free(st->manager);
  fsi_arena_free(st->scratch);
  /* the encryption layer outlives the connection; should a statement
   * another layer prepared keep the connection open, the layer is kept
   * (and its key) rather than freed under it */
  if (sqlite3_close(st->db) == SQLITE_OK)
    fsi_crypt_free(st->crypt);
  else
    sqlite3_log(SQLITE_MISUSE, "fieldsync: a store was closed with statements still open");
  free(st);
}
