/*
 * lease.c — head office's signed orders to devices (sync/hqmsg.h): the
 * offline lease it issues at every enrollment and sync (GET /v1/lease),
 * the lease policy per manager (table hq_lease_policy), and wipe orders
 * (table hq_wipe): given with every refusal of a revoked device whose wipe
 * was ordered, and confirmed by the device (POST /v1/wiped).
 *
 * Invariants:
 *  - a lease ends head office's now plus its manager's days (default
 *    HQ_LEASE_DEFAULT_DAYS); only an enrolled, unrevoked device that
 *    signed its request gets one;
 *  - a wipe order is recorded once (ordering it again keeps the first
 *    time) together with the revocation, in one transaction;
 *  - a confirmation is taken only from a request signed by the device's
 *    own key, and only for a wipe that was ordered; the first one counts.
 */
#include "hqInt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hqmsg.h"
#include "proto.h"

#define DAY_MS (24LL * 3600 * 1000)

static int lease_days(int64_t *days, fs_hq *hq, const char *manager) {
  int rc = fsi_sql_i64(hq->st, days, "reading the lease policy",
                       "SELECT days FROM hq_lease_policy WHERE manager = ?1", "t", manager);
  if (rc == FS_ENOTFOUND) {
    *days = HQ_LEASE_DEFAULT_DAYS;
    return FS_OK;
  }
  return rc;
}

int fsi_hq_lease_add(cJSON *o, fs_hq *hq, int64_t site, const char *manager) {
  char text[HQMSG_TEXT_MAX], sig[HQMSG_SIG_HEX];
  int64_t days;
  fsi_hqmsg m;
  int rc = lease_days(&days, hq, manager);
  if (rc) return rc;
  memset(&m, 0, sizeof m);
  m.kind = HQMSG_LEASE;
  snprintf(m.device, sizeof m.device, "%016llx", (unsigned long long)site);
  m.issued = fsi_util_now_ms();
  m.until = m.issued + days * DAY_MS;
  if ((rc = fsi_hqmsg_sign(text, sig, &m, hq->keys.sign_sk))) return rc;
  cJSON *l = cJSON_AddObjectToObject(o, "lease");
  if (!l || !cJSON_AddStringToObject(l, "text", text) || !cJSON_AddStringToObject(l, "sig", sig))
    return fsi_fail(FS_ENOMEM, "out of memory");
  return FS_OK;
}

void fsi_hq_lease(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  fsi_hq_device d;
  if (!fsi_hq_caller(&d, hq, q, 2, r)) {
    fsi_hq_device_clear(&d);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  int rc = o ? fsi_hq_lease_add(o, hq, d.site, d.manager) : FS_ENOMEM;
  if (!rc) rc = fsi_hq_device_seen(hq, d.site);
  if (rc) {
    cJSON_Delete(o);
    fsi_hq_reply_fail(r, rc);
  } else {
    fsi_hq_reply_json(r, 200, o);
  }
  fsi_hq_device_clear(&d);
}

/* ------------------------------------------------------------ policy */

int fs_hq_lease_set(fs_hq *hq, const char *manager, int64_t days) {
  if (!manager || !*manager || strlen(manager) > 100)
    return fsi_fail(FS_EINVAL, "a manager name (at most 100 bytes) is needed");
  if (days < 1 || days > HQ_LEASE_MAX_DAYS)
    return fsi_fail(FS_EINVAL, "a lease lasts 1 to %d days, not %lld", HQ_LEASE_MAX_DAYS,
                    (long long)days);
  pthread_mutex_lock(&hq->mu);
  int rc = fsi_sql_run(hq->st, "setting the lease policy",
                       "INSERT INTO hq_lease_policy(manager, days, set_at) VALUES(?1, ?2, ?3)"
                       " ON CONFLICT(manager) DO UPDATE SET days = excluded.days,"
                       " set_at = excluded.set_at",
                       "tii", manager, days, fsi_util_now_ms());
  pthread_mutex_unlock(&hq->mu);
  return rc;
}

int fs_hq_leases_json(char **out, fs_hq *hq) {
  int row;
  *out = NULL;
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return fsi_fail(FS_ENOMEM, "out of memory");
  pthread_mutex_lock(&hq->mu);
  sqlite3_stmt *s = fsi_sql_query(hq->st,
                                  "SELECT m.manager, p.days FROM (SELECT manager FROM hq_device"
                                  " UNION SELECT manager FROM hq_lease_policy) m"
                                  " LEFT JOIN hq_lease_policy p ON p.manager = m.manager"
                                  " ORDER BY m.manager",
                                  "");
  if (!s) {
    pthread_mutex_unlock(&hq->mu);
    cJSON_Delete(arr);
    return FS_EIO;
  }
  while ((row = fsi_sql_step(hq->st, s, "listing the lease policy")) == 1) {
    cJSON *o = cJSON_CreateObject();
    int set = sqlite3_column_type(s, 1) != SQLITE_NULL;
    cJSON_AddStringToObject(o, "manager", (const char *)sqlite3_column_text(s, 0));
    cJSON_AddNumberToObject(o, "days",
                            set ? (double)sqlite3_column_int64(s, 1) : HQ_LEASE_DEFAULT_DAYS);
    cJSON_AddBoolToObject(o, "default", !set);
    cJSON_AddItemToArray(arr, o);
  }
  pthread_mutex_unlock(&hq->mu);
  if (row == 0 && !(*out = cJSON_PrintUnformatted(arr))) row = fsi_fail(FS_ENOMEM, "out of memory");
  cJSON_Delete(arr);
  return row;
}

/* ------------------------------------------------------------- wipes */

int fs_hq_revoke_wipe(fs_hq *hq, const char *device_id) {
  int64_t site, now = fsi_util_now_ms();
  if (!device_id || !fsi_proto_site_parse(device_id, &site))
    return fsi_fail(FS_EINVAL, "\"%.40s\" is not a device id (16 hex digits)",
                    device_id ? device_id : "");
  pthread_mutex_lock(&hq->mu);
  int rc = fs_tx_begin(hq->st);
  if (!rc)
    rc = fsi_sql_run(hq->st, "revoking a device",
                     "UPDATE hq_device SET revoked_at = coalesce(revoked_at, ?2)"
                     " WHERE site = ?1",
                     "ii", site, now);
  if (!rc && sqlite3_changes(fsi_store_db(hq->st)) == 0)
    rc = fsi_fail(FS_ENOTFOUND, "no enrolled device %s", device_id);
  if (!rc)
    rc = fsi_sql_run(hq->st, "ordering a wipe",
                     "INSERT INTO hq_wipe(site, ordered_at) VALUES(?1, ?2)"
                     " ON CONFLICT(site) DO NOTHING",
                     "ii", site, now);
  if (!rc)
    rc = fs_tx_commit(hq->st);
  else if (fsi_store_in_tx(hq->st))
    fs_tx_rollback(hq->st);
  pthread_mutex_unlock(&hq->mu);
  return rc;
}

int fsi_hq_wipe_add(cJSON *o, fs_hq *hq, int64_t site) {
  char text[HQMSG_TEXT_MAX], sig[HQMSG_SIG_HEX];
  fsi_hqmsg m;
  memset(&m, 0, sizeof m);
  int rc = fsi_sql_i64(hq->st, &m.issued, "reading the wipe orders",
                       "SELECT ordered_at FROM hq_wipe WHERE site = ?1", "i", site);
  if (rc == FS_ENOTFOUND) return FS_OK;
  if (rc) return rc;
  m.kind = HQMSG_WIPE;
  snprintf(m.device, sizeof m.device, "%016llx", (unsigned long long)site);
  if ((rc = fsi_hqmsg_sign(text, sig, &m, hq->keys.sign_sk))) return rc;
  cJSON *w = cJSON_AddObjectToObject(o, "wipe");
  if (!w || !cJSON_AddStringToObject(w, "text", text) || !cJSON_AddStringToObject(w, "sig", sig))
    return fsi_fail(FS_ENOMEM, "out of memory");
  return fsi_sql_run(hq->st, "recording a wipe order given",
                     "UPDATE hq_wipe SET delivered_at = coalesce(delivered_at, ?2)"
                     " WHERE site = ?1",
                     "ii", site, fsi_util_now_ms());
}

int fsi_hq_wiped_caller(fsi_hq_device *d, fs_hq *hq, const fs_hq_request *q, int stage,
                        fs_hq_reply *r) {
  int64_t site, ordered;
  memset(d, 0, sizeof *d);
  if (!q->device || !fsi_proto_site_parse(q->device, &site)) {
    fsi_hq_reply_error(r, 401,
                       "the request does not name a device (" PROTO_DEVICE_HEADER
                       " header, 16 hex digits)");
    return 0;
  }
  int rc = fsi_hq_device_load(d, hq, site);
  if (!rc)
    rc = fsi_sql_i64(hq->st, &ordered, "reading the wipe orders",
                     "SELECT ordered_at FROM hq_wipe WHERE site = ?1", "i", site);
  if (rc == FS_ENOTFOUND) {
    fsi_hq_reply_error(r, 404, "head office ordered no wipe of this device");
    return 0;
  }
  if (rc) {
    fsi_hq_reply_fail(r, rc);
    return 0;
  }
  return fsi_hq_check_signed(hq, q, site, d->pub.sign, stage, r);
}

void fsi_hq_wiped(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  fsi_hq_device d;
  if (!fsi_hq_wiped_caller(&d, hq, q, 2, r)) {
    fsi_hq_device_clear(&d);
    return;
  }
  cJSON *b = cJSON_ParseWithLength((const char *)q->body, q->body_len);
  int complete = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "complete"));
  cJSON_Delete(b);
  int rc = fsi_sql_run(hq->st, "recording a confirmed wipe",
                       "UPDATE hq_wipe SET confirmed_at = coalesce(confirmed_at, ?2),"
                       " complete = coalesce(complete, ?3) WHERE site = ?1",
                       "iid", d.site, fsi_util_now_ms(), complete);
  if (rc) {
    fsi_hq_reply_fail(r, rc);
  } else {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "recorded", 1);
    fsi_hq_reply_json(r, 200, o);
  }
  fsi_hq_device_clear(&d);
}
