/*
 * enroll.c — POST /v1/enroll: a device presents a one-time token and its
 * public keys, and head office records it under the token's manager.
 *
 * Invariants:
 *  - the request is signed with the key it enrolls (whoever holds the token
 *    also proves it holds that key) by the device id it names;
 *  - using the token and recording the device are one transaction: a token
 *    is never spent on a device that was not recorded, nor the reverse;
 *  - the same device with the same keys and the token it used is answered
 *    again (its first answer was lost); any other enrollment of an enrolled
 *    or revoked id is refused;
 *  - nothing of an enrollment enters the nonce table (its key is the
 *    caller's own choice; see auth.c).
 */
#include "hqInt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void fsi_hq_enroll(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  cJSON *req = cJSON_ParseWithLength((const char *)q->body, q->body_len);
  const char *token = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "token"));
  const char *devid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "device_id"));
  const char *mgr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "manager"));
  const char *keyhex = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "keys"));
  fsi_pubkeys pub;
  int64_t site;
  char hash[65], msg[256];
  if (!token || !devid || !mgr || !keyhex || strlen(token) > 200 ||
      !fsi_proto_site_parse(devid, &site) || fsi_keys_pub_from_hex(&pub, keyhex)) {
    cJSON_Delete(req);
    fsi_hq_reply_error(r, 400, "malformed enrollment request");
    return;
  }
  /* The request is signed with the key it enrolls: whoever holds the token
   * also proves it holds that key, and the device id it names is the one
   * in the signed headers. */
  if (!q->device || strcmp(q->device, devid) != 0) {
    cJSON_Delete(req);
    fsi_hq_reply_error(r, 401, "the enrollment request is not signed by the device it enrolls");
    return;
  }
  if (!fsi_hq_check_signed(hq, q, site, pub.sign, 0, r)) {
    cJSON_Delete(req);
    return;
  }
  if (site == fs_store_site(hq->st) && !FS_MUT(12)) {
    cJSON_Delete(req);
    fsi_hq_reply_error(r, 409, "this device id is head office's own id; run `fieldsync init` "
                        "again on a fresh home to get a new one");
    return;
  }
  fsi_hq_token_hash(hash, token);
  int rc = FS_OK, status = 200;
  fs_store *st = hq->st;
  if ((rc = fs_tx_begin(st))) goto fail;
  fsi_hq_device existing;
  char tmgr[128] = "";
  int e = fsi_hq_device_load(&existing, hq, site);
  fsi_hq_device_clear(&existing);
  if (e == FS_OK && !existing.revoked &&
      sodium_memcmp(&existing.pub, &pub, sizeof pub) == 0) {
    /* The same device with the same keys and the token it used: an answer
     * that was lost on the way (the client retries); answer again. */
    sqlite3_stmt *tq = fsi_store_stmt(st, "SELECT 1 FROM hq_token WHERE hash = ?1 AND used_by = ?2");
    if (!tq) {
      rc = FS_EIO;
      goto fail;
    }
    sqlite3_bind_text(tq, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(tq, 2, site);
    int again = sqlite3_step(tq) == SQLITE_ROW;
    sqlite3_reset(tq);
    if (again) {
      snprintf(tmgr, sizeof tmgr, "%s", existing.manager);
      fs_tx_rollback(st);
      goto respond;
    }
  }
  if (e == FS_OK) {
    status = existing.revoked ? 403 : 409;
    snprintf(msg, sizeof msg, existing.revoked ? "device %s was revoked by head office"
                                               : "device %s is already enrolled",
             devid);
    rc = FS_EINVAL;
    goto fail_msg;
  }
  sqlite3_stmt *s = fsi_store_stmt(st, "SELECT manager, expires_at, used_at FROM hq_token"
                                   " WHERE hash = ?1");
  if (!s) {
    rc = FS_EIO;
    goto fail;
  }
  sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
  int step = sqlite3_step(s);
  int64_t expires = 0;
  int used = 0;
  if (step == SQLITE_ROW) {
    snprintf(tmgr, sizeof tmgr, "%s", (const char *)sqlite3_column_text(s, 0));
    expires = sqlite3_column_int64(s, 1);
    used = sqlite3_column_type(s, 2) != SQLITE_NULL;
  }
  sqlite3_reset(s);
  if (step != SQLITE_ROW || (used && !FS_MUT(10)) || (expires < fsi_util_now_ms() && !FS_MUT(11))) {
    status = 401;
    snprintf(msg, sizeof msg, "%s", step != SQLITE_ROW ? "the enrollment token is not valid"
                                    : used ? "the enrollment token was already used"
                                           : "the enrollment token has expired");
    rc = FS_EAUTH;
    goto fail_msg;
  }
  if (strcmp(tmgr, mgr) != 0 && !FS_MUT(14)) {
    status = 403;
    snprintf(msg, sizeof msg, "the token is for manager %s, but this device belongs to %s",
             tmgr, mgr);
    rc = FS_EPERM;
    goto fail_msg;
  }
  s = fsi_store_stmt(st, "UPDATE hq_token SET used_at = ?2, used_by = ?3 WHERE hash = ?1");
  sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, fsi_util_now_ms());
  sqlite3_bind_int64(s, 3, site);
  step = sqlite3_step(s);
  sqlite3_reset(s);
  if (step != SQLITE_DONE) {
    rc = fsi_store_sqlfail(st, "using a token");
    goto fail;
  }
  s = fsi_store_stmt(st, "INSERT INTO hq_device(site, manager, keys, enrolled_at)"
                     " VALUES(?1, ?2, ?3, ?4)");
  sqlite3_bind_int64(s, 1, site);
  sqlite3_bind_text(s, 2, tmgr, -1, SQLITE_STATIC);
  char keyhex_dev[KEYS_PUB_HEX_SIZE];
  fsi_keys_pub_to_hex(keyhex_dev, &pub);
  sqlite3_bind_text(s, 3, keyhex_dev, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 4, fsi_util_now_ms());
  step = sqlite3_step(s);
  sqlite3_reset(s);
  if (step != SQLITE_DONE) {
    rc = fsi_store_sqlfail(st, "recording a device");
    goto fail;
  }
  if ((rc = fs_tx_commit(st))) goto fail;
respond:
  cJSON_Delete(req);
  cJSON *o = cJSON_CreateObject();
  char sid[17];
  char hex[KEYS_PUB_HEX_SIZE];
  snprintf(sid, sizeof sid, "%016llx", (unsigned long long)fs_store_site(st));
  fsi_keys_pub_to_hex(hex, &hq->keys.pub);
  cJSON_AddStringToObject(o, "server_id", sid);
  cJSON_AddStringToObject(o, "keys", hex);
  cJSON_AddStringToObject(o, "manager", tmgr);
  fsi_hq_reply_json(r, 200, o);
  return;
fail_msg:
  fs_tx_rollback(st);
  cJSON_Delete(req);
  fsi_hq_reply_error(r, status, msg);
  return;
fail:
  if (fsi_store_in_tx(st)) fs_tx_rollback(st);
  cJSON_Delete(req);
  fsi_hq_reply_fail(r, rc);
}
