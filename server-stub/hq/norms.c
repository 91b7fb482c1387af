/*
 * norms.c — head office's day norms per manager (`fieldsync-server norms`).
 *
 * A norm is a row of the head-office table `norms` (schema.c): a manager's
 * calls, meetings and proposals a day and new contracts a month, or, for
 * manager "*", everyone's default.  Rows are written as head office writes
 * its imports (fs_insert / fs_update on the central replica under the
 * handle's lock, in one transaction), so they carry head office's clocks and
 * reach every device at its next pull; a device's agenda shows each target
 * from its manager's row, else from "*" (core/agenda.c).  A manager is known
 * when a device of theirs was enrolled, a customer is theirs or a norm was
 * set for them before: a typo never makes a row nobody reads.
 */
#include <fieldsync/server.h>

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"

static int known_manager(fs_store *st, const char *manager) {
  int64_t one = 0;
  int rc = fsi_sql_i64(st, &one, "looking up a manager",
                       "SELECT 1 FROM hq_device WHERE manager = ?1"
                       " UNION ALL SELECT 1 FROM customers WHERE manager = ?1"
                       " UNION ALL SELECT 1 FROM norms WHERE manager = ?1 LIMIT 1",
                       "t", manager);
  if (rc == FS_ENOTFOUND)
    return fsi_fail(FS_ENOTFOUND,
                    "no manager \"%.100s\" is known here (no device enrolled, no customer); "
                    "see 'fieldsync-server devices'",
                    manager);
  return rc;
}

int fs_hq_norms_set(fs_hq *hq, const char *manager, const fs_hq_norms *norms) {
  static const char *const cols[] = {"calls_day", "meetings_day", "proposals_day",
                                     "contracts_month"};
  if (!norms || norms->version == 0) return fsi_fail(FS_EINVAL, "no norms given");
  if (norms->version > FS_HQ_NORMS_VERSION)
    return fsi_fail(FS_EVERSION, "norms of version %u are newer than this library's %u",
                    norms->version, FS_HQ_NORMS_VERSION);
  if (!manager || !*manager || strlen(manager) > 100)
    return fsi_fail(FS_EINVAL, "a manager name (at most 100 bytes), or \"*\", is needed");
  const int64_t v[4] = {norms->calls_day, norms->meetings_day, norms->proposals_day,
                        norms->contracts_month};
  char text[4][24];
  fs_field f[5];
  size_t n = 0;
  for (size_t i = 0; i < 4; i++) {
    if (v[i] == FS_HQ_NORM_KEEP) continue;
    if (v[i] < 0 || v[i] > FS_HQ_NORM_MAX)
      return fsi_fail(FS_EINVAL, "a norm (%s) must be a whole number from 0 to %d, not %" PRId64,
                      cols[i], FS_HQ_NORM_MAX, v[i]);
    snprintf(text[i], sizeof text[i], "%" PRId64, v[i]);
    f[n++] = (fs_field){cols[i], text[i]};
  }
  if (n == 0) return fsi_fail(FS_EINVAL, "no norm to set");
  int rc = fs_hq_check_clock(hq);
  if (rc) return rc;
  fs_store *st = fs_hq_store(hq);
  fs_hq_lock(hq);
  int implicit = 0;
  rc = fsi_store_tx_begin(st, &implicit);
  if (!rc) {
    char id[FS_ID_SIZE] = "";
    if (strcmp(manager, "*") != 0) rc = known_manager(st, manager);
    if (!rc) {
      sqlite3_stmt *s = fsi_sql_query(
          st, "SELECT id FROM norms WHERE manager = ?1 ORDER BY id LIMIT 1", "t", manager);
      int step = s ? fsi_sql_step(st, s, "reading the norms") : FS_EIO;
      if (step == 1) {
        snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(s, 0));
        fsi_sql_done(s);
      } else if (step < 0) {
        rc = step;
      }
    }
    if (!rc && *id) {
      rc = fs_update(st, "norms", id, f, n);
    } else if (!rc) {
      f[n++] = (fs_field){"manager", manager};
      rc = fs_insert(NULL, st, "norms", f, n);
    }
    rc = fsi_store_tx_end(st, implicit, rc);
  }
  fs_hq_unlock(hq);
  return rc;
}

int fs_hq_norms_json(char **out, fs_hq *hq) {
  cJSON *arr = NULL;
  *out = NULL;
  fs_store *st = fs_hq_store(hq);
  fs_hq_lock(hq);
  int rc = fsi_view_rows(st,
                         fsi_sql_query(st,
                                       "SELECT manager, calls_day, meetings_day, proposals_day,"
                                       " contracts_month FROM norms"
                                       " ORDER BY manager != '*', manager, id",
                                       ""),
                         "listing the norms", &arr);
  fs_hq_unlock(hq);
  if (rc) return rc;
  *out = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}
