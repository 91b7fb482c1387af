/*
 * registry.c — the devices head office knows (table hq_device) and how far
 * each has pulled (table hq_cursor).
 *
 * A device is recorded at enrollment with its manager and its public keys,
 * and from then on carries the state of its push chain (last sequence, its
 * hash and the answer given) and when it was last seen.  Invariants:
 *  - a device's keys and manager never change after enrollment;
 *  - revocation is a time, set once (revoking again keeps the first); a
 *    revoked device keeps its row, and what it sent stays merged;
 *  - the chain state advances only in the transaction that merges the
 *    envelope and appends it to the audit log (push.c).
 */
#include "hqInt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int fs_hq_devices_json(fs_hq *hq, char **out) {
  *out = NULL;
  cJSON *arr = cJSON_CreateArray();
  sqlite3_stmt *s = fsi_store_stmt(hq->st, "SELECT printf('%016x', site), manager, enrolled_at,"
                                       " last_seen, push_seq, revoked_at FROM hq_device"
                                       " ORDER BY manager, site");
  if (!arr || !s) {
    cJSON_Delete(arr);
    return s ? fsi_fail(FS_ENOMEM, "out of memory") : FS_EIO;
  }
  while (sqlite3_step(s) == SQLITE_ROW) {
    cJSON *o = cJSON_CreateObject();
    char t[32];
    cJSON_AddStringToObject(o, "id", (const char *)sqlite3_column_text(s, 0));
    cJSON_AddStringToObject(o, "manager", (const char *)sqlite3_column_text(s, 1));
    fs_time_format(t, sqlite3_column_int64(s, 2));
    cJSON_AddStringToObject(o, "enrolled_at", t);
    if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
      cJSON_AddNullToObject(o, "last_seen");
    } else {
      fs_time_format(t, sqlite3_column_int64(s, 3));
      cJSON_AddStringToObject(o, "last_seen", t);
    }
    cJSON_AddNumberToObject(o, "last_seq", (double)sqlite3_column_int64(s, 4));
    if (sqlite3_column_type(s, 5) == SQLITE_NULL) {
      cJSON_AddNullToObject(o, "revoked_at");
    } else {
      fs_time_format(t, sqlite3_column_int64(s, 5));
      cJSON_AddStringToObject(o, "revoked_at", t);
    }
    cJSON_AddItemToArray(arr, o);
  }
  sqlite3_reset(s);
  *out = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}

int fs_hq_revoke(fs_hq *hq, const char *device_id) {
  int64_t site;
  if (!device_id || !fsi_proto_site_parse(device_id, &site))
    return fsi_fail(FS_EINVAL, "\"%.40s\" is not a device id (16 hex digits)",
                   device_id ? device_id : "");
  sqlite3_stmt *s = fsi_store_stmt(hq->st, "UPDATE hq_device SET revoked_at = coalesce(revoked_at,"
                                       " ?2) WHERE site = ?1");
  if (!s) return FS_EIO;
  sqlite3_bind_int64(s, 1, site);
  sqlite3_bind_int64(s, 2, fsi_util_now_ms());
  int step = sqlite3_step(s);
  sqlite3_reset(s);
  if (step != SQLITE_DONE) return fsi_store_sqlfail(hq->st, "revoking a device");
  if (sqlite3_changes(fsi_store_db(hq->st)) == 0)
    return fsi_fail(FS_ENOTFOUND, "no enrolled device %s", device_id);
  return FS_OK;
}

int fsi_hq_device_load(fsi_hq_device *d, fs_hq *hq, int64_t site) {
  memset(d, 0, sizeof *d);
  sqlite3_stmt *s = fsi_store_stmt(hq->st, "SELECT manager, keys, push_seq, push_hash, revoked_at,"
                                       " last_ack FROM hq_device WHERE site = ?1");
  if (!s) return FS_EIO;
  sqlite3_bind_int64(s, 1, site);
  int step = sqlite3_step(s);
  int rc = FS_OK;
  if (step == SQLITE_ROW) {
    d->site = site;
    snprintf(d->manager, sizeof d->manager, "%s", (const char *)sqlite3_column_text(s, 0));
    if (fsi_keys_pub_from_hex(&d->pub, (const char *)sqlite3_column_text(s, 1)))
      rc = fsi_fail(FS_ECORRUPT, "the keys of device %016llx are damaged",
                   (unsigned long long)site);
    d->chain.seq = (uint64_t)sqlite3_column_int64(s, 2);
    if (sqlite3_column_bytes(s, 3) == ENVELOPE_HASH_SIZE)
      memcpy(d->chain.hash, sqlite3_column_blob(s, 3), ENVELOPE_HASH_SIZE);
    d->revoked = sqlite3_column_type(s, 4) != SQLITE_NULL;
    if (sqlite3_column_type(s, 5) != SQLITE_NULL)
      d->last_ack = strdup((const char *)sqlite3_column_text(s, 5));
  } else if (step == SQLITE_DONE) {
    rc = fsi_fail(FS_ENOTFOUND, "device %016llx is not enrolled", (unsigned long long)site);
  } else {
    rc = fsi_store_sqlfail(hq->st, "reading the device registry");
  }
  sqlite3_reset(s);
  return rc;
}

void fsi_hq_device_clear(fsi_hq_device *d) {
  free(d->last_ack);
  d->last_ack = NULL;
}
