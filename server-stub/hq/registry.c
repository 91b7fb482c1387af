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

/* A time column as ISO-8601 text, or null. */
static void add_time(cJSON *o, const char *name, sqlite3_stmt *s, int col) {
  char t[32];
  if (sqlite3_column_type(s, col) == SQLITE_NULL) {
    cJSON_AddNullToObject(o, name);
    return;
  }
  fs_time_format(t, sqlite3_column_int64(s, col));
  cJSON_AddStringToObject(o, name, t);
}

static int devices_json(char **out, fs_hq *hq) {
  int row;
  *out = NULL;
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return fsi_fail(FS_ENOMEM, "out of memory");
  sqlite3_stmt *s = fsi_sql_query(hq->st,
                                  "SELECT printf('%016x', d.site), manager, enrolled_at,"
                                  " last_seen, push_seq, revoked_at, w.ordered_at,"
                                  " w.confirmed_at FROM hq_device d"
                                  " LEFT JOIN hq_wipe w ON w.site = d.site"
                                  " ORDER BY manager, d.site",
                                  "");
  if (!s) {
    cJSON_Delete(arr);
    return FS_EIO;
  }
  while ((row = fsi_sql_step(hq->st, s, "listing the devices")) == 1) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", (const char *)sqlite3_column_text(s, 0));
    cJSON_AddStringToObject(o, "manager", (const char *)sqlite3_column_text(s, 1));
    add_time(o, "enrolled_at", s, 2);
    add_time(o, "last_seen", s, 3);
    cJSON_AddNumberToObject(o, "last_seq", (double)sqlite3_column_int64(s, 4));
    add_time(o, "revoked_at", s, 5);
    add_time(o, "wipe_ordered_at", s, 6);
    add_time(o, "wipe_confirmed_at", s, 7);
    cJSON_AddItemToArray(arr, o);
  }
  if (row == 0 && !(*out = cJSON_PrintUnformatted(arr))) row = fsi_fail(FS_ENOMEM, "out of memory");
  cJSON_Delete(arr);
  return row;
}

int fs_hq_devices_json(char **out, fs_hq *hq) {
  pthread_mutex_lock(&hq->mu);
  int rc = devices_json(out, hq);
  pthread_mutex_unlock(&hq->mu);
  return rc;
}

int fs_hq_revoke(fs_hq *hq, const char *device_id) {
  int64_t site;
  if (!device_id || !fsi_proto_site_parse(device_id, &site))
    return fsi_fail(FS_EINVAL, "\"%.40s\" is not a device id (16 hex digits)",
                    device_id ? device_id : "");
  pthread_mutex_lock(&hq->mu);
  int rc = fsi_sql_run(hq->st, "revoking a device",
                       "UPDATE hq_device SET revoked_at = coalesce(revoked_at, ?2)"
                       " WHERE site = ?1",
                       "ii", site, fsi_util_now_ms());
  if (!rc && sqlite3_changes(fsi_store_db(hq->st)) == 0)
    rc = fsi_fail(FS_ENOTFOUND, "no enrolled device %s", device_id);
  pthread_mutex_unlock(&hq->mu);
  return rc;
}

int fsi_hq_device_load(fsi_hq_device *d, fs_hq *hq, int64_t site) {
  int rc = FS_OK;
  memset(d, 0, sizeof *d);
  sqlite3_stmt *s = fsi_sql_query(hq->st,
                                  "SELECT manager, keys, push_seq, push_hash, revoked_at,"
                                  " last_ack FROM hq_device WHERE site = ?1",
                                  "i", site);
  if (!s) return FS_EIO;
  int found = fsi_sql_step(hq->st, s, "reading the device registry");
  if (found < 0) return found;
  if (!found)
    return fsi_fail(FS_ENOTFOUND, "device %016llx is not enrolled", (unsigned long long)site);
  d->site = site;
  snprintf(d->manager, sizeof d->manager, "%s", (const char *)sqlite3_column_text(s, 0));
  if (fsi_keys_pub_from_hex(&d->pub, (const char *)sqlite3_column_text(s, 1)))
    rc = fsi_fail(FS_ECORRUPT, "the keys of device %016llx are damaged", (unsigned long long)site);
  d->chain.seq = (uint64_t)sqlite3_column_int64(s, 2);
  if (sqlite3_column_bytes(s, 3) == ENVELOPE_HASH_SIZE)
    memcpy(d->chain.hash, sqlite3_column_blob(s, 3), ENVELOPE_HASH_SIZE);
  d->revoked = sqlite3_column_type(s, 4) != SQLITE_NULL;
  if (sqlite3_column_type(s, 5) != SQLITE_NULL)
    d->last_ack = strdup((const char *)sqlite3_column_text(s, 5));
  fsi_sql_done(s);
  return rc;
}

void fsi_hq_device_clear(fsi_hq_device *d) {
  free(d->last_ack);
  d->last_ack = NULL;
}

int fsi_hq_device_add(fs_hq *hq, int64_t site, const char *manager, const fsi_pubkeys *pub) {
  char keyhex[KEYS_PUB_HEX_SIZE];
  fsi_keys_pub_to_hex(keyhex, pub);
  return fsi_sql_run(hq->st, "recording a device",
                     "INSERT INTO hq_device(site, manager, keys, enrolled_at)"
                     " VALUES(?1, ?2, ?3, ?4)",
                     "itti", site, manager, keyhex, fsi_util_now_ms());
}

int fsi_hq_device_advance(fs_hq *hq, int64_t site, uint64_t seq,
                          const unsigned char hash[ENVELOPE_HASH_SIZE], const char *ack) {
  return fsi_sql_run(hq->st, "advancing the chain",
                     "UPDATE hq_device SET push_seq = ?2, push_hash = ?3, last_seen = ?4,"
                     " last_ack = ?5 WHERE site = ?1",
                     "iibit", site, (int64_t)seq, (const void *)hash, (size_t)ENVELOPE_HASH_SIZE,
                     fsi_util_now_ms(), ack);
}

int fsi_hq_device_seen(fs_hq *hq, int64_t site) {
  return fsi_sql_run(hq->st, "recording when a device was seen",
                     "UPDATE hq_device SET last_seen = ?2 WHERE site = ?1", "ii", site,
                     fsi_util_now_ms());
}

int fsi_hq_device_pulled(int64_t *low, fs_hq *hq, const fsi_hq_device *d, int64_t merged) {
  int rc = fsi_sql_run(hq->st, "recording a pull cursor",
                       "INSERT INTO hq_cursor(site, seq) VALUES(?1, ?2)"
                       " ON CONFLICT(site) DO UPDATE SET seq = excluded.seq",
                       "ii", d->site, merged);
  if (rc) return rc;
  return fsi_sql_i64(hq->st, low, "reading the pull cursors",
                     "SELECT min(coalesce(c.seq, 0)) FROM hq_device v LEFT JOIN hq_cursor c"
                     " ON c.site = v.site WHERE v.manager = ?1 AND v.revoked_at IS NULL",
                     "t", d->manager);
}
