/*
 * reclock.c — re-issuing the clocks a device wrote while its wall clock was
 * ahead, once the clock is right again (docs/merge.md, "A clock that was
 * ahead").
 *
 * A laptop whose clock runs days ahead stamps its edits days ahead; head
 * office refuses them (the skew bound), and after the clock is corrected
 * the store's hybrid clock still carries on from the future value, so every
 * new edit is refused too, and once real time catches up the stale edits
 * would beat later real edits from other devices.  fsi_reclock gives those
 * clocks new values and sets the store's clock back, keeping every value.
 *
 * Which clocks: this device's own (row, cell and tombstone clocks of its
 * site, the bases of its cells that name its site, and tombstones' `seen`)
 * that are above all of
 *   - the wall clock now (confirmed by head office before this is called),
 *   - every clock head office may hold of this device (devstate.c's
 *     let-out bound: every envelope that was ever the outbox, except one
 *     head office refused), and
 *   - every clock this store ever received (the clock's `seen`).
 * Such a clock never left the device and nothing anywhere was written
 * after seeing it, so changing it can contradict no replica.
 *
 * The new clocks, in the order of the old ones (so this device's own edits
 * keep their order): the i-th is max(old - skew, floor + i), where skew is
 * how far ahead head office last measured this laptop's clock (none known:
 * the floor alone) and floor is the highest clock left as it is — above
 * everything the edit could have seen or replaced, so a re-issued edit
 * still beats every value it overwrote, and as early as that allows, so it
 * does not beat what others wrote after it was really made.  The store's
 * clock is then set back to the highest clock it holds (never below the
 * floor), and the clock's epoch is bumped so other handles on the store
 * take the lower value (store.c).  All in one transaction; nothing on
 * failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"

/* ------------------------------------------------------- the skew note */

static const char SQL_META_GET[] = "SELECT value FROM fs_meta WHERE key = ?1";
static const char SQL_META_SET[] = "INSERT INTO fs_meta(key, value) VALUES(?1, ?2)"
                                   " ON CONFLICT(key) DO UPDATE SET value = excluded.value";
static const char SQL_META_DEL[] = "DELETE FROM fs_meta WHERE key = ?1";

int fsi_reclock_note_skew(fs_store *st, int64_t ahead_ms) {
  int64_t had = 0;
  if (ahead_ms <= 0) {
    int r = fsi_sql_i64(st, &had, "reading the clock's skew", SQL_META_GET, "t", "clock_ahead_ms");
    if (r == FS_ENOTFOUND) return FS_OK; /* nothing to forget: no write */
    if (r) return r;
  }
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  rc = ahead_ms > 0
           ? fsi_sql_run(st, "recording the clock's skew", SQL_META_SET, "ti", "clock_ahead_ms",
                         ahead_ms)
           : fsi_sql_run(st, "recording the clock's skew", SQL_META_DEL, "t", "clock_ahead_ms");
  return fsi_store_tx_end(st, implicit, rc);
}

/* ---------------------------------------------------------- the scans */

/* Runs `sql` (built from the declaration, so prepared for this one use)
 * with ?1 = site and ?2 = threshold; with out, reads one integer (NULL
 * leaves *out as it is). */
static int run_built(fs_store *st, const char *sql, int64_t site, int64_t th, int64_t *out,
                     const char *what) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, what);
  sqlite3_bind_int64(s, 1, site);
  sqlite3_bind_int64(s, 2, th);
  int r = sqlite3_step(s);
  int rc = FS_OK;
  if (r == SQLITE_ROW) {
    if (out && sqlite3_column_type(s, 0) != SQLITE_NULL) *out = sqlite3_column_int64(s, 0);
  } else if (r != SQLITE_DONE) {
    rc = fsi_store_sqlfail(st, what);
  }
  sqlite3_finalize(s);
  return rc;
}

/* The statements over every synced table: `fmt` has one %s, the table. */
static int each_table(fs_store *st, const char *fmt, int64_t site, int64_t th, int64_t *max,
                      const char *what) {
  for (size_t i = 0; i < st->nt; i++) {
    char sql[512];
    int64_t v = INT64_MIN;
    snprintf(sql, sizeof sql, fmt, st->t[i].decl->name);
    int rc = run_built(st, sql, site, th, max ? &v : NULL, what);
    if (rc) return rc;
    if (max && v > *max) *max = v;
  }
  return FS_OK;
}

/* The same for the store's own tables: each a constant statement. */
static int each_of(fs_store *st, const char *const *sqls, int64_t site, int64_t th, int64_t *max,
                   const char *what) {
  for (size_t i = 0; sqls[i]; i++) {
    int64_t v = INT64_MIN;
    int rc = run_built(st, sqls[i], site, th, max ? &v : NULL, what);
    if (rc) return rc;
    if (max && v > *max) *max = v;
  }
  return FS_OK;
}

/* The clocks to re-issue: this site's above the threshold. */
static const char COLLECT_TABLE[] =
    "INSERT OR IGNORE INTO temp.fsi_reclock(old) SELECT _hlc FROM \"%s\""
    " WHERE _site = ?1 AND _hlc > ?2";
static const char *const COLLECT_OWN[] = {
    "INSERT OR IGNORE INTO temp.fsi_reclock(old) SELECT hlc FROM fs_cell"
    " WHERE site = ?1 AND hlc > ?2",
    "INSERT OR IGNORE INTO temp.fsi_reclock(old) SELECT bhlc FROM fs_cell"
    " WHERE bsite = ?1 AND bhlc > ?2",
    "INSERT OR IGNORE INTO temp.fsi_reclock(old) SELECT hlc FROM fs_tomb"
    " WHERE site = ?1 AND hlc > ?2",
    /* a `seen` above every clock received and let out is one of this
     * site's own */
    "INSERT OR IGNORE INTO temp.fsi_reclock(old) SELECT seen FROM fs_tomb"
    " WHERE seen > ?2 AND ?1 = ?1",
    NULL};

/* The highest clock left as it is. */
static const char FLOOR_TABLE[] =
    "SELECT max(_hlc) FROM \"%s\" WHERE NOT (_site = ?1 AND _hlc > ?2)";
static const char *const FLOOR_OWN[] = {
    "SELECT max(hlc) FROM fs_cell WHERE NOT (site = ?1 AND hlc > ?2)",
    "SELECT max(bhlc) FROM fs_cell WHERE NOT (bsite = ?1 AND bhlc > ?2)",
    "SELECT max(hlc) FROM fs_tomb WHERE NOT (site = ?1 AND hlc > ?2)",
    "SELECT max(seen) FROM fs_tomb WHERE seen <= ?2 AND ?1 = ?1", NULL};

/* The new values in place of the old. */
static const char APPLY_TABLE[] =
    "UPDATE \"%s\" SET _hlc = (SELECT new FROM temp.fsi_reclock WHERE old = _hlc)"
    " WHERE _site = ?1 AND _hlc > ?2";
static const char *const APPLY_OWN[] = {
    "UPDATE fs_cell SET"
    " hlc = CASE WHEN site = ?1 AND hlc > ?2"
    " THEN (SELECT new FROM temp.fsi_reclock WHERE old = fs_cell.hlc) ELSE hlc END,"
    " bhlc = CASE WHEN bsite = ?1 AND bhlc > ?2"
    " THEN (SELECT new FROM temp.fsi_reclock WHERE old = fs_cell.bhlc) ELSE bhlc END"
    " WHERE (site = ?1 AND hlc > ?2) OR (bsite = ?1 AND bhlc > ?2)",
    "UPDATE fs_tomb SET"
    " hlc = CASE WHEN site = ?1 AND hlc > ?2"
    " THEN (SELECT new FROM temp.fsi_reclock WHERE old = fs_tomb.hlc) ELSE hlc END,"
    " seen = CASE WHEN seen > ?2"
    " THEN (SELECT new FROM temp.fsi_reclock WHERE old = fs_tomb.seen) ELSE seen END"
    " WHERE (site = ?1 AND hlc > ?2) OR seen > ?2",
    NULL};

/* This site's clocks above the threshold that stay (at or below the
 * let-out bound: head office may hold them). */
static const char MINE_TABLE[] = "SELECT max(_hlc) FROM \"%s\" WHERE _site = ?1 AND _hlc > ?2";
static const char *const MINE_OWN[] = {"SELECT max(hlc) FROM fs_cell WHERE site = ?1 AND hlc > ?2",
                                       "SELECT max(hlc) FROM fs_tomb WHERE site = ?1 AND hlc > ?2",
                                       NULL};

int fsi_reclock_site_max(fs_store *st, int64_t site, int64_t above, int64_t *out) {
  *out = 0;
  int64_t m = INT64_MIN;
  int rc = each_table(st, MINE_TABLE, site, above, &m, "reading the clocks");
  if (!rc) rc = each_of(st, MINE_OWN, site, above, &m, "reading the clocks");
  if (!rc && m > 0) *out = m;
  return rc;
}

/* ------------------------------------------------------------ reclock */

static int reclock_tx(fs_store *st, int64_t now_ms, int unseal, fsi_reclock_result *res) {
  int64_t site = st->site, let_out = 0, ahead = 0;
  int rc;
  if (unseal && (rc = fsi_devstate_outbox_unseal(st))) return rc;
  if ((rc = fsi_devstate_let_out(st, &let_out))) return rc;
  if (fsi_sql_i64(st, &ahead, "reading the clock's skew", SQL_META_GET, "t", "clock_ahead_ms"))
    ahead = 0;
  fsi_clear_error();
  int64_t known = let_out > st->clock.seen && !FS_MUT(33) ? let_out : st->clock.seen;
  int64_t now = (int64_t)((uint64_t)now_ms << HLC_LOGICAL_BITS);
  int64_t th = known > now ? known : now;
  res->threshold = th;
  if ((rc = fsi_sql_run(st, "re-issuing clocks",
                        "CREATE TEMP TABLE IF NOT EXISTS fsi_reclock"
                        "(old INTEGER PRIMARY KEY, new INTEGER)",
                        "")))
    return rc;
  if ((rc = fsi_sql_run(st, "re-issuing clocks", "DELETE FROM temp.fsi_reclock", ""))) return rc;
  if ((rc = each_table(st, COLLECT_TABLE, site, th, NULL, "re-issuing clocks")) ||
      (rc = each_of(st, COLLECT_OWN, site, th, NULL, "re-issuing clocks")))
    return rc;
  int64_t floor = known;
  if ((rc = each_table(st, FLOOR_TABLE, site, th, &floor, "re-issuing clocks")) ||
      (rc = each_of(st, FLOOR_OWN, site, th, &floor, "re-issuing clocks")))
    return rc;
  if (floor < 0 || FS_MUT(34)) floor = 0; /* mutant: nothing below the new clocks */
  res->floor = floor;
  int64_t n = 0;
  if ((rc = fsi_sql_i64(st, &n, "re-issuing clocks", "SELECT count(*) FROM temp.fsi_reclock", "")))
    return rc;
  res->clocks = n;
  int64_t newest = floor;
  if (n > 0) {
    /* the skew in clock units; none known: every old clock minus it is
     * below the floor, so the floor alone decides */
    int64_t skew = ahead > 0 && ahead < (INT64_MAX >> HLC_LOGICAL_BITS)
                       ? (int64_t)((uint64_t)ahead << HLC_LOGICAL_BITS)
                       : INT64_MAX;
    if ((rc = fsi_sql_run(st, "re-issuing clocks",
                          "UPDATE temp.fsi_reclock AS x SET new = max(x.old - ?1, ?2 + r.i)"
                          " FROM (SELECT old, row_number() OVER (ORDER BY old) AS i"
                          " FROM temp.fsi_reclock) AS r WHERE r.old = x.old",
                          "ii", skew, floor)))
      return rc;
    if ((rc = fsi_sql_i64(st, &newest, "re-issuing clocks", "SELECT max(new) FROM temp.fsi_reclock",
                          "")))
      return rc;
    if ((rc = each_table(st, APPLY_TABLE, site, th, NULL, "re-issuing clocks")) ||
        (rc = each_of(st, APPLY_OWN, site, th, NULL, "re-issuing clocks")))
      return rc;
    if ((rc = fsi_sql_run(st, "re-issuing clocks", SQL_META_DEL, "t", "clock_ahead_ms"))) return rc;
  }
  if ((rc = fsi_sql_run(st, "re-issuing clocks", "DELETE FROM temp.fsi_reclock", ""))) return rc;
  /* The clock comes back to the highest clock the store holds: never below
   * what it received or let out, and new edits then take the wall clock. */
  if (newest < floor) newest = floor;
  res->hlc_before = st->clock.last;
  if (newest < st->clock.last) {
    int64_t epoch = st->hlc_epoch + 1;
    if ((rc = fsi_sql_run(st, "re-issuing clocks", SQL_META_SET, "ti", "hlc_epoch", epoch)))
      return rc;
    st->clock.last = newest;
    st->hlc_epoch = epoch;
  }
  res->hlc_after = st->clock.last;
  /* what stays ahead of the wall clock: clocks head office may hold */
  return fsi_reclock_site_max(st, site, now, &res->kept_ahead);
}

int fsi_reclock(fs_store *st, int64_t now_ms, int unseal, fsi_reclock_result *res) {
  memset(res, 0, sizeof *res);
  if (fsi_store_is_hq(st))
    return fsi_fail(FS_EPERM, "head office does not re-issue its clocks this way");
  int64_t epoch = st->hlc_epoch;
  int rc = fs_tx_begin(st);
  if (rc) return rc;
  rc = reclock_tx(st, now_ms, unseal, res);
  if (!rc) rc = fsi_util_fault("reclock-commit");
  if (!rc) {
    rc = fs_tx_commit(st);
  } else {
    fs_tx_rollback(st);
  }
  if (rc) {
    st->hlc_epoch = epoch;
    memset(res, 0, sizeof *res);
  }
  return rc;
}
