/*
 * recover.c — a forgotten passphrase, head office's side: the escrowed
 * data keys (table hq_escrow), the recoveries staff approve (hq_recovery)
 * with their log (hq_recovery_log), POST /v1/escrow and POST /v1/recover
 * (docs/protocol.md; the design in docs/security.md, "Forgotten
 * passphrase").
 *
 * Invariants:
 *  - an escrow is accepted only from the device it belongs to (a signed
 *    request of that device), only when it opens with head office's key
 *    and names that device inside; the first one is kept for good (a
 *    device's data key never changes), a later one is acknowledged when it
 *    holds the same key and refused otherwise;
 *  - a recovery releases a key only for a device staff approved
 *    (fs_hq_recovery_approve), that is enrolled and not revoked, with the
 *    code of that approval (compared as hashes, in constant time), before
 *    it expires, at most HQ_RECOVERY_TRIES wrong codes after it was made,
 *    and once: the approval is spent in the same transaction that logs it,
 *    before the answer leaves;
 *  - the key leaves head office only sealed to the ephemeral key the
 *    request carries, and the answer is signed with head office's Ed25519
 *    key over the device, that key and the sealed bytes;
 *  - a caller with no approval pending for the device it names is refused
 *    at admission, before its body is read, and writes nothing: only the
 *    tries against a pending approval (bounded) reach the log;
 *  - only a hash of a code is stored; the code itself is returned once, to
 *    the staff member who approved, and wiped here.
 */
#include "hqInt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escrow.h"
#include "proto.h"

#define HQ_RECOVERY_TRIES 5
#define HQ_RECOVERY_TTL_MS (24LL * 3600 * 1000)
#define HQ_RECOVERY_TTL_MAX_MS (7LL * 24 * 3600 * 1000)

static const char RECOVERY_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS hq_escrow(site INTEGER PRIMARY KEY, sealed BLOB NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hq_recovery(id INTEGER PRIMARY KEY, site INTEGER NOT NULL,"
    " hash BLOB NOT NULL, approved_by TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, used_at INTEGER,"
    " cancelled_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS hq_recovery_site ON hq_recovery(site, id);"
    "CREATE TABLE IF NOT EXISTS hq_recovery_log(id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
    " site INTEGER NOT NULL, recovery INTEGER, event TEXT NOT NULL);";

int fsi_hq_recovery_tables(fs_store *st) {
  if (sqlite3_exec(fsi_store_db(st), RECOVERY_SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "creating the recovery tables");
  return FS_OK;
}

static const char *field(const cJSON *doc, const char *name) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, name));
}

static void device_hex(char out[17], int64_t site) {
  snprintf(out, 17, "%016llx", (unsigned long long)site);
}

static int log_event(fs_hq *hq, int64_t site, int64_t recovery, const char *event) {
  return fsi_sql_run(
      hq->st, "logging a recovery",
      "INSERT INTO hq_recovery_log(at, site, recovery, event) VALUES(?1, ?2, ?3, ?4)", "iiit",
      fsi_util_now_ms(), site, recovery, event);
}

/* ------------------------------------------------------------- escrow */

/* The escrow of `site` into sealed[FSI_ESCROW_SEALED_SIZE]: FS_OK,
 * FS_ENOTFOUND when there is none, FS_ECORRUPT for a damaged row. */
static int escrow_get(unsigned char *sealed, fs_hq *hq, int64_t site) {
  sqlite3_stmt *s =
      fsi_sql_query(hq->st, "SELECT sealed FROM hq_escrow WHERE site = ?1", "i", site);
  if (!s) return FS_EIO;
  int found = fsi_sql_step(hq->st, s, "reading the escrowed keys");
  if (found < 0) return found;
  if (!found) return FS_ENOTFOUND;
  int rc = FS_OK;
  if (sqlite3_column_bytes(s, 0) != FSI_ESCROW_SEALED_SIZE)
    rc = fsi_fail(FS_ECORRUPT, "the escrowed key of device %016llx is damaged",
                  (unsigned long long)site);
  else
    memcpy(sealed, sqlite3_column_blob(s, 0), FSI_ESCROW_SEALED_SIZE);
  fsi_sql_done(s);
  return rc;
}

/* Opens the escrow of `site` into key[32] (sodium_malloc'd by the caller). */
static int escrow_key(unsigned char *key, fs_hq *hq, int64_t site) {
  unsigned char sealed[FSI_ESCROW_SEALED_SIZE];
  char dev[17];
  int rc = escrow_get(sealed, hq, site);
  if (rc == FS_ENOTFOUND)
    return fsi_fail(FS_ECONFLICT,
                    "head office holds no escrowed key of device %016llx (it has not synced "
                    "since it was enrolled, or was enrolled by a fieldsync older than 0.3), so "
                    "it cannot be recovered: make the manager a new home (`fieldsync init`, "
                    "`fieldsync enroll`)",
                    (unsigned long long)site);
  if (rc) return rc;
  device_hex(dev, site);
  rc = fsi_escrow_open(key, sealed, sizeof sealed, dev, hq->keys.pub.kx, hq->keys.kx_sk);
  if (rc)
    rc =
        fsi_fail(FS_ECORRUPT, "the escrowed key of device %s does not open (%s)", dev, fs_errmsg());
  return rc;
}

void fsi_hq_escrow(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  fsi_hq_device d;
  cJSON *doc = NULL;
  unsigned char sealed[FSI_ESCROW_SEALED_SIZE], old[FSI_ESCROW_SEALED_SIZE];
  unsigned char *key = NULL, *had = NULL;
  char dev[17];
  if (!fsi_hq_caller(&d, hq, q, 2, r)) goto done;
  device_hex(dev, d.site);
  doc = cJSON_ParseWithLength((const char *)q->body, q->body_len);
  const char *hex = field(doc, "sealed");
  if (!hex || !fsi_proto_unhex(sealed, sizeof sealed, hex)) {
    fsi_hq_reply_error(r, 400, "malformed escrow request (sealed: hex of the sealed data key)");
    goto done;
  }
  if (!(key = sodium_malloc(32)) || !(had = sodium_malloc(32))) {
    fsi_hq_reply_error(r, 500, "out of memory");
    goto done;
  }
  int rc = fsi_escrow_open(key, sealed, sizeof sealed, dev, hq->keys.pub.kx, hq->keys.kx_sk);
  if (rc) {
    char msg[300];
    snprintf(msg, sizeof msg, "the escrowed key was refused: %s", fs_errmsg());
    fsi_hq_reply_error(r, rc == FS_EPERM ? 403 : 400, msg);
    goto done;
  }
  rc = escrow_get(old, hq, d.site);
  if (rc == FS_OK) {
    /* the first escrow stays; the same key again is a device that did not
     * hear the first answer */
    if (fsi_escrow_open(had, old, sizeof old, dev, hq->keys.pub.kx, hq->keys.kx_sk) == FS_OK &&
        sodium_memcmp(had, key, 32) == 0) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "escrow", "kept");
      fsi_hq_reply_json(r, 200, o);
    } else {
      fsi_hq_reply_error(r, 409,
                         "head office already holds another escrowed key for this device and "
                         "keeps the first");
    }
    goto done;
  }
  if (rc != FS_ENOTFOUND ||
      (rc = fsi_sql_run(hq->st, "storing an escrowed key",
                        "INSERT INTO hq_escrow(site, sealed, created_at) VALUES(?1, ?2, ?3)", "ibi",
                        d.site, sealed, sizeof sealed, fsi_util_now_ms()))) {
    fsi_hq_reply_fail(r, rc);
    goto done;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "escrow", "stored");
  fsi_hq_reply_json(r, 200, o);
done:
  sodium_free(key);
  sodium_free(had);
  cJSON_Delete(doc);
  fsi_hq_device_clear(&d);
}

/* ----------------------------------------------------------- approvals */

/* The newest approval of a device. */
typedef struct recovery {
  int found;
  int64_t id, created, expires, attempts, used, cancelled; /* 0 = not */
  unsigned char hash[FSI_RECOVERY_HASH_BYTES];
} recovery;

static int recovery_latest(recovery *rv, fs_hq *hq, int64_t site) {
  memset(rv, 0, sizeof *rv);
  sqlite3_stmt *s = fsi_sql_query(hq->st,
                                  "SELECT id, created_at, expires_at, attempts,"
                                  " coalesce(used_at, 0), coalesce(cancelled_at, 0), hash"
                                  " FROM hq_recovery WHERE site = ?1 ORDER BY id DESC LIMIT 1",
                                  "i", site);
  if (!s) return FS_EIO;
  int found = fsi_sql_step(hq->st, s, "reading the recoveries");
  if (found < 0) return found;
  if (!found) return FS_OK;
  rv->found = 1;
  rv->id = sqlite3_column_int64(s, 0);
  rv->created = sqlite3_column_int64(s, 1);
  rv->expires = sqlite3_column_int64(s, 2);
  rv->attempts = sqlite3_column_int64(s, 3);
  rv->used = sqlite3_column_int64(s, 4);
  rv->cancelled = sqlite3_column_int64(s, 5);
  if (sqlite3_column_bytes(s, 6) == FSI_RECOVERY_HASH_BYTES)
    memcpy(rv->hash, sqlite3_column_blob(s, 6), FSI_RECOVERY_HASH_BYTES);
  fsi_sql_done(s);
  return FS_OK;
}

static const char *recovery_state(const recovery *rv, int64_t now) {
  if (!rv->found) return "none";
  if (rv->used) return "used";
  if (rv->cancelled) return "cancelled";
  if (rv->attempts >= HQ_RECOVERY_TRIES) return "burned";
  if (rv->expires <= now) return "expired";
  return "pending";
}

/* 1 when device `site` (dev) may try a code now: enrolled, not revoked, a
 * pending approval (*rv).  Else 0 with the reply filled: one sentence that
 * says what to do, never whether another device has an approval. */
static int recovery_open(recovery *rv, fs_hq *hq, const char *dev, fs_hq_reply *r) {
  fsi_hq_device d;
  int64_t site, now = fsi_util_now_ms();
  char msg[400], at[32];
  memset(rv, 0, sizeof *rv);
  if (!dev || !fsi_proto_site_parse(dev, &site)) {
    fsi_hq_reply_error(
        r, 400, "a recovery names its device (" PROTO_DEVICE_HEADER " header, 16 hex digits)");
    return 0;
  }
  int rc = fsi_hq_device_load(&d, hq, site);
  int revoked = d.revoked;
  fsi_hq_device_clear(&d);
  if (rc == FS_ENOTFOUND) {
    snprintf(msg, sizeof msg, "device %s is not enrolled with this head office", dev);
    fsi_hq_reply_error(r, 404, msg);
    return 0;
  }
  if (rc || (rc = recovery_latest(rv, hq, site))) {
    fsi_hq_reply_fail(r, rc);
    return 0;
  }
  if (revoked) {
    snprintf(msg, sizeof msg,
             "device %s was revoked by head office; a revoked device is never given its key "
             "back",
             dev);
    fsi_hq_reply_error(r, 403, msg);
    return 0;
  }
  const char *state = recovery_state(rv, now);
  if (!strcmp(state, "pending")) return 1;
  if (!strcmp(state, "used")) {
    fs_time_format(at, rv->used);
    snprintf(msg, sizeof msg,
             "the recovery head office approved for device %s was used at %s; a code works "
             "once: ask head office staff for a new one",
             dev, at);
  } else if (!strcmp(state, "burned")) {
    snprintf(msg, sizeof msg,
             "the recovery of device %s was refused after %d wrong codes; ask head office "
             "staff to approve it again",
             dev, HQ_RECOVERY_TRIES);
  } else if (!strcmp(state, "expired")) {
    fs_time_format(at, rv->expires);
    snprintf(msg, sizeof msg,
             "the recovery head office approved for device %s expired at %s; ask head office "
             "staff to approve it again",
             dev, at);
  } else {
    snprintf(msg, sizeof msg,
             "head office has not approved a recovery of device %s: call head office; once "
             "staff have checked who you are they run `fieldsync-server recover %s` and read "
             "you a code",
             dev, dev);
  }
  fsi_hq_reply_error(r, 403, msg);
  return 0;
}

int fsi_hq_recover_admit(fs_hq *hq, const fs_hq_request *q, fs_hq_reply *r) {
  recovery rv;
  int ok = recovery_open(&rv, hq, q->device, r);
  sodium_memzero(&rv, sizeof rv);
  return ok;
}

void fsi_hq_recover(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  recovery rv;
  cJSON *doc = NULL, *o = NULL;
  unsigned char code[FSI_RECOVERY_CODE_BYTES], hash[FSI_RECOVERY_HASH_BYTES];
  unsigned char pk[crypto_box_PUBLICKEYBYTES], sealed[FSI_RECOVERY_SEALED_SIZE];
  unsigned char *key = NULL;
  char msg[300], sealed_hex[2 * FSI_RECOVERY_SEALED_SIZE + 1], text[FSI_RECOVERY_TEXT_MAX];
  char sig[PROTO_SIG_HEX];
  int64_t site = 0;
  int rc;
  if (!recovery_open(&rv, hq, q->device, r)) goto done;
  fsi_proto_site_parse(q->device, &site);
  doc = cJSON_ParseWithLength((const char *)q->body, q->body_len);
  const char *dev = field(doc, "device_id"), *typed = field(doc, "code"), *pkhex = field(doc, "pk");
  if (!dev || strcmp(dev, q->device) != 0 || !pkhex || !fsi_proto_unhex(pk, sizeof pk, pkhex) ||
      !typed || strlen(typed) > 100) {
    fsi_hq_reply_error(r, 400, "malformed recovery request (device_id, code, pk)");
    goto done;
  }
  if (fsi_recovery_code_parse(code, typed) != FS_OK) memset(code, 0, sizeof code);
  fsi_recovery_code_hash(hash, site, code);
  if (sodium_memcmp(hash, rv.hash, sizeof hash) != 0) {
    /* a wrong code counts, whatever it looked like */
    int64_t left = HQ_RECOVERY_TRIES - rv.attempts - 1;
    rc = fs_tx_begin(hq->st);
    if (!rc)
      rc = fsi_sql_run(hq->st, "counting a wrong recovery code",
                       "UPDATE hq_recovery SET attempts = attempts + 1 WHERE id = ?1", "i", rv.id);
    if (!rc) rc = log_event(hq, site, rv.id, left > 0 ? "wrong code" : "wrong code, burned");
    rc = rc ? (fs_tx_rollback(hq->st), rc) : fs_tx_commit(hq->st);
    if (rc) {
      fsi_hq_reply_fail(r, rc);
      goto done;
    }
    if (left > 0)
      snprintf(msg, sizeof msg,
               "the recovery code is wrong; %lld more %s before head office must approve the "
               "recovery again",
               (long long)left, left == 1 ? "try" : "tries");
    else
      snprintf(msg, sizeof msg,
               "the recovery code is wrong, and that was the last try: ask head office staff "
               "to approve the recovery again");
    fsi_hq_reply_error(r, 401, msg);
    goto done;
  }
  if (!(key = sodium_malloc(32))) {
    fsi_hq_reply_error(r, 500, "out of memory");
    goto done;
  }
  if ((rc = escrow_key(key, hq, site))) {
    fsi_hq_reply_fail(r, rc);
    goto done;
  }
  /* spent before the answer leaves: a lost answer costs a new approval,
   * never a second release */
  rc = fs_tx_begin(hq->st);
  if (!rc)
    rc = fsi_sql_run(hq->st, "spending a recovery",
                     "UPDATE hq_recovery SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL", "ii",
                     rv.id, fsi_util_now_ms());
  if (!rc && sqlite3_changes(fsi_store_db(hq->st)) != 1)
    rc = fsi_fail(FS_ECONFLICT, "the recovery was used meanwhile");
  if (!rc) rc = log_event(hq, site, rv.id, "recovered");
  rc = rc ? (fs_tx_rollback(hq->st), rc) : fs_tx_commit(hq->st);
  if (rc) {
    fsi_hq_reply_fail(r, rc);
    goto done;
  }
  if (crypto_box_seal(sealed, key, 32, pk) != 0) {
    fsi_hq_reply_error(r, 400, "the recovery's key (pk) is not a valid X25519 key");
    goto done;
  }
  fsi_proto_hex(sealed_hex, sealed, sizeof sealed);
  size_t n = fsi_recovery_answer_text(text, q->device, pkhex, sealed_hex);
  if (!n || !fsi_proto_request_sign(sig, hq->keys.sign_sk, text, n)) {
    fsi_hq_reply_error(r, 400, "malformed recovery request (pk)");
    goto done;
  }
  o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "device_id", q->device);
  cJSON_AddStringToObject(o, "sealed", sealed_hex);
  cJSON_AddStringToObject(o, "sig", sig);
  fsi_hq_reply_json(r, 200, o);
done:
  sodium_free(key);
  sodium_memzero(code, sizeof code);
  sodium_memzero(&rv, sizeof rv);
  if (doc) {
    char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "code"));
    if (c) sodium_memzero(c, strlen(c));
  }
  cJSON_Delete(doc);
}

/* ------------------------------------------------------ staff's side */

static int approve(char **out, fs_hq *hq, int64_t site, const char *dev, int64_t ttl,
                   const char *by) {
  fsi_hq_device d;
  unsigned char code[FSI_RECOVERY_CODE_BYTES], hash[FSI_RECOVERY_HASH_BYTES];
  unsigned char *key = NULL;
  char text[FSI_RECOVERY_CODE_TEXT], at[32];
  int64_t now = fsi_util_now_ms(), id = 0;
  int rc = fsi_hq_device_load(&d, hq, site);
  if (rc == FS_ENOTFOUND) rc = fsi_fail(FS_ENOTFOUND, "no enrolled device %s", dev);
  if (!rc && d.revoked)
    rc = fsi_fail(FS_EREVOKED,
                  "device %s was revoked; a revoked device is never given its key back", dev);
  char manager[128];
  snprintf(manager, sizeof manager, "%s", d.manager);
  fsi_hq_device_clear(&d);
  if (rc) return rc;
  /* the escrow must be there and open, or the code would be worth nothing */
  if (!(key = sodium_malloc(32))) return fsi_fail(FS_ENOMEM, "out of memory");
  rc = escrow_key(key, hq, site);
  sodium_free(key);
  if (rc) return rc;
  fsi_recovery_code_new(code, text);
  fsi_recovery_code_hash(hash, site, code);
  sodium_memzero(code, sizeof code);
  if ((rc = fs_tx_begin(hq->st))) goto done;
  /* one approval at a time per device: a new one replaces a pending one */
  rc = fsi_sql_run(hq->st, "replacing a pending recovery",
                   "UPDATE hq_recovery SET cancelled_at = ?2 WHERE site = ?1 AND used_at IS NULL"
                   " AND cancelled_at IS NULL",
                   "ii", site, now);
  if (!rc)
    rc = fsi_sql_run(hq->st, "approving a recovery",
                     "INSERT INTO hq_recovery(site, hash, approved_by, created_at, expires_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
                     "ibtii", site, hash, sizeof hash, by, now, now + ttl);
  if (!rc) id = sqlite3_last_insert_rowid(fsi_store_db(hq->st));
  if (!rc) rc = log_event(hq, site, id, "approved");
  rc = rc ? (fs_tx_rollback(hq->st), rc) : fs_tx_commit(hq->st);
  if (rc) goto done;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "device", dev);
  cJSON_AddStringToObject(o, "manager", manager);
  cJSON_AddStringToObject(o, "code", text);
  fs_time_format(at, now + ttl);
  cJSON_AddStringToObject(o, "expires_at", at);
  cJSON_AddNumberToObject(o, "tries", HQ_RECOVERY_TRIES);
  cJSON_AddStringToObject(o, "approved_by", by);
  *out = cJSON_PrintUnformatted(o);
  cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "code");
  if (c && c->valuestring) sodium_memzero(c->valuestring, strlen(c->valuestring));
  cJSON_Delete(o);
  if (!*out) rc = fsi_fail(FS_ENOMEM, "out of memory");
done:
  sodium_memzero(text, sizeof text);
  return rc;
}

int fs_hq_recovery_approve(char **out, fs_hq *hq, const char *device_id, int64_t ttl_ms,
                           const char *approved_by) {
  int64_t site;
  *out = NULL;
  if (!device_id || !fsi_proto_site_parse(device_id, &site))
    return fsi_fail(FS_EINVAL, "\"%.40s\" is not a device id (16 hex digits)",
                    device_id ? device_id : "");
  if (ttl_ms <= 0) ttl_ms = HQ_RECOVERY_TTL_MS;
  if (ttl_ms > HQ_RECOVERY_TTL_MAX_MS)
    return fsi_fail(FS_EINVAL, "a recovery may be approved for at most 7 days");
  if (!approved_by || !*approved_by || strlen(approved_by) > 100 ||
      !fsi_util_utf8_valid(approved_by, strlen(approved_by)))
    return fsi_fail(FS_EINVAL, "who approves a recovery is recorded: a name (UTF-8, at most "
                               "100 bytes) is needed");
  char dev[17];
  device_hex(dev, site);
  pthread_mutex_lock(&hq->mu);
  int rc = approve(out, hq, site, dev, ttl_ms, approved_by);
  pthread_mutex_unlock(&hq->mu);
  return rc;
}

int fs_hq_recovery_cancel(fs_hq *hq, const char *device_id) {
  int64_t site;
  if (!device_id || !fsi_proto_site_parse(device_id, &site))
    return fsi_fail(FS_EINVAL, "\"%.40s\" is not a device id (16 hex digits)",
                    device_id ? device_id : "");
  pthread_mutex_lock(&hq->mu);
  int64_t now = fsi_util_now_ms(), id = 0;
  int rc = fsi_sql_i64(hq->st, &id, "reading the recoveries",
                       "SELECT id FROM hq_recovery WHERE site = ?1 AND used_at IS NULL AND"
                       " cancelled_at IS NULL AND attempts < ?2 AND expires_at > ?3",
                       "iii", site, (int64_t)HQ_RECOVERY_TRIES, now);
  if (rc == FS_ENOTFOUND)
    rc = fsi_fail(FS_ENOTFOUND, "no recovery of device %s is pending", device_id);
  if (!rc) rc = fs_tx_begin(hq->st);
  if (!rc) {
    rc = fsi_sql_run(hq->st, "cancelling a recovery",
                     "UPDATE hq_recovery SET cancelled_at = ?2 WHERE id = ?1", "ii", id, now);
    if (!rc) rc = log_event(hq, site, id, "cancelled");
    rc = rc ? (fs_tx_rollback(hq->st), rc) : fs_tx_commit(hq->st);
  }
  pthread_mutex_unlock(&hq->mu);
  return rc;
}

static void add_time(cJSON *o, const char *name, int64_t ms) {
  char t[32];
  if (!ms) {
    cJSON_AddNullToObject(o, name);
    return;
  }
  fs_time_format(t, ms);
  cJSON_AddStringToObject(o, name, t);
}

static int recovery_list(char **out, fs_hq *hq) {
  int row;
  int64_t now = fsi_util_now_ms();
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return fsi_fail(FS_ENOMEM, "out of memory");
  sqlite3_stmt *s = fsi_sql_query(
      hq->st,
      "SELECT r.id, r.site, coalesce(d.manager, ''), r.approved_by, r.created_at, r.expires_at,"
      " r.attempts, coalesce(r.used_at, 0), coalesce(r.cancelled_at, 0)"
      " FROM hq_recovery r LEFT JOIN hq_device d ON d.site = r.site ORDER BY r.id",
      "");
  if (!s) {
    cJSON_Delete(arr);
    return FS_EIO;
  }
  while ((row = fsi_sql_step(hq->st, s, "listing the recoveries")) == 1) {
    recovery rv = {1,
                   sqlite3_column_int64(s, 0),
                   sqlite3_column_int64(s, 4),
                   sqlite3_column_int64(s, 5),
                   sqlite3_column_int64(s, 6),
                   sqlite3_column_int64(s, 7),
                   sqlite3_column_int64(s, 8),
                   {0}};
    char dev[17];
    device_hex(dev, sqlite3_column_int64(s, 1));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)rv.id);
    cJSON_AddStringToObject(o, "device", dev);
    cJSON_AddStringToObject(o, "manager", (const char *)sqlite3_column_text(s, 2));
    cJSON_AddStringToObject(o, "approved_by", (const char *)sqlite3_column_text(s, 3));
    add_time(o, "approved_at", rv.created);
    add_time(o, "expires_at", rv.expires);
    cJSON_AddNumberToObject(o, "wrong_codes", (double)rv.attempts);
    add_time(o, "used_at", rv.used);
    add_time(o, "cancelled_at", rv.cancelled);
    cJSON_AddStringToObject(o, "state", recovery_state(&rv, now));
    cJSON_AddItemToArray(arr, o);
  }
  if (row == 0 && !(*out = cJSON_PrintUnformatted(arr))) row = fsi_fail(FS_ENOMEM, "out of memory");
  cJSON_Delete(arr);
  return row;
}

int fs_hq_recovery_json(char **out, fs_hq *hq) {
  *out = NULL;
  pthread_mutex_lock(&hq->mu);
  int rc = recovery_list(out, hq);
  pthread_mutex_unlock(&hq->mu);
  return rc;
}
