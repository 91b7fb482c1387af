/*
 * conflict.c — the conflict log (the log of refused changes is refused.c).
 *
 * It is a local review list: a merge writes to them in its own
 * transaction, deduplicated by the clocks involved, so receiving the same
 * change twice never logs it twice.  Resolving a conflict by keeping the
 * losing value writes that value back as a new local edit, which then syncs
 * like any other edit; keeping the winner only records the decision.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"
#include "util.h"

int fsi_conflict_log(fs_store *st, const char *table, const char *pk, const char *col,
                     const fsi_value *winner, int64_t whlc, int64_t wsite, const fsi_value *loser,
                     int64_t lhlc, int64_t lsite) {
  sqlite3_stmt *s = fsi_store_stmt(
      st, "INSERT OR IGNORE INTO fs_conflict(tbl, pk, col, winner, loser, whlc, wsite,"
          " lhlc, lsite, detected_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
  if (!s) return FS_EIO;
  sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, pk, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, col, -1, SQLITE_STATIC);
  fsi_value_bind(s, 4, winner);
  fsi_value_bind(s, 5, loser);
  sqlite3_bind_int64(s, 6, whlc);
  sqlite3_bind_int64(s, 7, wsite);
  sqlite3_bind_int64(s, 8, lhlc);
  sqlite3_bind_int64(s, 9, lsite);
  sqlite3_bind_int64(s, 10, fsi_util_now_ms());
  int step = sqlite3_step(s);
  sqlite3_reset(s);
  if (step != SQLITE_DONE) return fsi_store_sqlfail(st, "logging a conflict");
  return sqlite3_changes(st->db) > 0 ? 1 : 0;
}

/* Re-creates a row lost to a delete from its logged JSON image. */
static int restore_row(fs_store *st, const char *table, const char *pk, const char *json) {
  cJSON *o = cJSON_Parse(json);
  fs_field f[65];
  char nums[64][24];
  size_t n = 0;
  int rc = FS_OK;
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return fsi_fail(FS_ECORRUPT, "the logged row of %s %s cannot be read", table, pk);
  }
  f[n++] = (fs_field){"id", pk};
  const cJSON *it;
  cJSON_ArrayForEach(it, o) {
    if (n >= 64) break;
    if (cJSON_IsString(it)) {
      f[n++] = (fs_field){it->string, it->valuestring};
    } else if (cJSON_IsNumber(it)) {
      snprintf(nums[n], sizeof nums[n], "%.0f", it->valuedouble);
      f[n] = (fs_field){it->string, nums[n]};
      n++;
    }
  }
  st->restoring = 1;
  rc = fs_insert(NULL, st, table, f, n);
  st->restoring = 0;
  cJSON_Delete(o);
  return rc;
}

int fs_conflict_resolve(fs_store *st, int64_t id, int keep_loser) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  char *table = NULL, *pk = NULL, *col = NULL, *loser = NULL;
  int64_t loser_int = 0;
  int loser_type = SQLITE_NULL;
  if (rc) return rc;
  sqlite3_stmt *s = fsi_sql_query(st,
                                  "SELECT tbl, pk, col, loser, resolution FROM fs_conflict"
                                  " WHERE id=?1",
                                  "i", id);
  if (!s) {
    rc = FS_EIO;
    goto done;
  }
  int step = fsi_sql_step(st, s, "reading a conflict");
  if (step != 1) {
    rc = step == 0 ? fsi_fail(FS_ENOTFOUND, "there is no conflict %" PRId64, id) : step;
    goto done;
  }
  table = strdup((const char *)sqlite3_column_text(s, 0));
  pk = strdup((const char *)sqlite3_column_text(s, 1));
  col = strdup((const char *)sqlite3_column_text(s, 2));
  loser_type = sqlite3_column_type(s, 3);
  if (loser_type == SQLITE_INTEGER)
    loser_int = sqlite3_column_int64(s, 3);
  else if (loser_type != SQLITE_NULL)
    loser = strdup((const char *)sqlite3_column_text(s, 3));
  int already = sqlite3_column_type(s, 4) != SQLITE_NULL;
  fsi_sql_done(s);
  if (!table || !pk || !col || (loser_type == SQLITE_TEXT && !loser)) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if (already) {
    rc = fsi_fail(FS_ECONFLICT, "conflict %" PRId64 " was already resolved", id);
    goto done;
  }
  if (keep_loser) {
    if (strcmp(col, "*") == 0) {
      rc = restore_row(st, table, pk, loser ? loser : "{}");
    } else {
      char num[24];
      const char *v = loser;
      if (loser_type == SQLITE_INTEGER) {
        snprintf(num, sizeof num, "%" PRId64, loser_int);
        v = num;
      }
      fs_field f = {col, v};
      rc = fs_update(st, table, pk, &f, 1);
    }
    if (rc) goto done;
  }
  rc = fsi_sql_run(st, "recording a resolution", "UPDATE fs_conflict SET resolution=?2 WHERE id=?1",
                   "it", id, keep_loser ? "loser" : "winner");
done:
  free(table);
  free(pk);
  free(col);
  free(loser);
  return fsi_store_tx_end(st, implicit, rc);
}

/* ------------------------------------------------------------- listing */

static const char SQL_LIST[] =
    "SELECT id, tbl, pk, col, CAST(winner AS TEXT), CAST(loser AS TEXT), detected_at,"
    " resolution IS NOT NULL FROM fs_conflict WHERE ?1 = 0 OR resolution IS NULL"
    " ORDER BY id DESC";

/* Two passes over the log in one read transaction: the first sizes one
 * allocation for the array and every string, the second fills it, so the
 * caller releases the whole list with one fs_free. */
int fs_conflicts(fs_conflict **out, size_t *count, fs_store *st, int unresolved_only) {
  *out = NULL;
  *count = 0;
  size_t n = 0, bytes = 0;
  int r, rc = FS_OK;
  if (sqlite3_exec(st->db, "SAVEPOINT fs_conflicts", NULL, NULL, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "reading the conflict log");
  sqlite3_stmt *s = fsi_sql_query(st, SQL_LIST, "d", unresolved_only ? 1 : 0);
  if (!s) {
    rc = FS_EIO;
    goto done;
  }
  while ((r = fsi_sql_step(st, s, "reading the conflict log")) == 1) {
    n++;
    for (int c = 1; c <= 5; c++) bytes += (size_t)sqlite3_column_bytes(s, c) + 1;
  }
  if (r < 0) {
    rc = r;
    goto done;
  }
  fs_conflict *list = calloc(1, n * sizeof *list + bytes + 1);
  if (!list) {
    rc = fsi_fail(FS_ENOMEM, "out of memory listing %zu conflicts", n);
    goto done;
  }
  char *text = (char *)(list + n), *end = text + bytes;
  size_t i = 0;
  s = fsi_sql_query(st, SQL_LIST, "d", unresolved_only ? 1 : 0);
  while (s && i < n && (r = fsi_sql_step(st, s, "reading the conflict log")) == 1) {
    const char **field[5] = {&list[i].table, &list[i].row, &list[i].column, &list[i].winner,
                             &list[i].loser};
    for (int c = 1; c <= 5; c++) {
      size_t len = (size_t)sqlite3_column_bytes(s, c);
      if (sqlite3_column_type(s, c) == SQLITE_NULL) {
        *field[c - 1] = NULL;
        continue;
      }
      if (len + 1 > (size_t)(end - text)) break; /* the log changed under us: stop short */
      memcpy(text, sqlite3_column_text(s, c), len);
      text[len] = '\0';
      *field[c - 1] = text;
      text += len + 1;
    }
    if (list[i].column && !strcmp(list[i].column, "*")) list[i].column = "";
    list[i].id = sqlite3_column_int64(s, 0);
    list[i].detected_at = sqlite3_column_int64(s, 6);
    list[i].resolved = sqlite3_column_int(s, 7);
    i++;
  }
  fsi_sql_done(s);
  *out = list;
  *count = i;
done:
  sqlite3_exec(st->db, "RELEASE fs_conflicts", NULL, NULL, NULL);
  return rc;
}
