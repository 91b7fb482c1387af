/*
 * hq.c — head office: the central replica, the device registry, enrollment
 * tokens, the audit log and the protocol handler.
 *
 * Invariants:
 *  - a push is applied whole or not at all: verifying the envelope, merging
 *    its batch, advancing the device's chain state and appending the
 *    envelope to the audit log happen in one SQLite transaction;
 *  - a re-sent acknowledged envelope (same sequence, same hash) is
 *    acknowledged again with the original answer and applied once;
 *  - tokens are stored only as hashes, single use, with an expiry;
 *  - a revoked device is refused push, pull and enrollment; what it sent
 *    before stays;
 *  - one mutex serialises every use of the store (SQLite has one writer).
 */
#include <fieldsync/server.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "codec.h"
#include "envelope.h"
#include "keys.h"
#include "engine.h"
#include "proto.h"

struct fs_hq {
  fs_store *st;
  fsi_keys keys;
  char fingerprint[KEYS_FINGERPRINT_SIZE];
  pthread_mutex_t mu;
  fsi_batch *batch; /* reused for decoding and extraction, under mu */
  /* Nonces of signed requests seen within the clock window, under mu:
   * open addressing keyed by a keyed short hash of (device, nonce). */
  struct nonce_slot *nonces;
  size_t ncap, nused;
  int64_t noldest; /* smallest request time in the table */
  struct dev_slot *devs; /* live nonces per device, open addressing by site */
  size_t dcap, dused;
  unsigned char nkey[crypto_shorthash_KEYBYTES];
};

/* A signed request's nonce: state 1 = admitted (its body is being read),
 * 2 = handled.  A slot whose time left the window is free for reuse at the
 * next sweep. */
typedef struct nonce_slot {
  uint64_t key; /* keyed short hash of (site, nonce); 0 = free */
  int64_t site, t;
  unsigned char state;
} nonce_slot;

typedef struct dev_slot {
  int64_t site; /* 0 = free */
  uint32_t live;
} dev_slot;

#define HQ_NONCES_MIN ((size_t)1 << 12)
#define HQ_NONCES_MAX ((size_t)1 << 20) /* slots: 32 MiB at most */
/* Live nonces one device may hold within the window (about 27 signed
 * requests a second for ten minutes); past it only that device waits. */
#define HQ_NONCES_PER_DEVICE 16384

static const char HQ_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS hq_token(hash TEXT PRIMARY KEY, manager TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER,"
    " used_by INTEGER);"
    "CREATE TABLE IF NOT EXISTS hq_device(site INTEGER PRIMARY KEY, manager TEXT NOT NULL,"
    " keys TEXT NOT NULL, enrolled_at INTEGER NOT NULL, last_seen INTEGER,"
    " push_seq INTEGER NOT NULL DEFAULT 0, push_hash BLOB, last_ack TEXT,"
    " revoked_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS hq_audit(device INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " hash BLOB NOT NULL, envelope BLOB NOT NULL, received_at INTEGER NOT NULL,"
    " PRIMARY KEY(device, seq));"
    "CREATE TABLE IF NOT EXISTS hq_cursor(site INTEGER PRIMARY KEY, seq INTEGER NOT NULL);";

static void paths(const char *home, char *store, char *keys, size_t n) {
  snprintf(store, n, "%s/store.db", home);
  snprintf(keys, n, "%s/keys", home);
}

int fs_hq_create(const char *home) { return fs_hq_create_schema(home, NULL); }

int fs_hq_create_schema(const char *home, const fs_schema *schema) {
  char store[4096], keys[4096];
  int rc;
  paths(home, store, keys, sizeof store);
  if (access(store, F_OK) == 0)
    return fsi_fail(FS_EEXIST, "%s already holds a fieldsync server store; it was left "
                              "untouched",
                   home);
  if (mkdir(keys, 0700) != 0 && errno != EEXIST)
    return fsi_fail(FS_EIO, "cannot create %s: %s", keys, strerror(errno));
  if ((rc = fsi_keys_generate(keys))) return rc;
  fs_store *st = NULL;
  rc = fs_store_open(&st, store, schema, FS_OPEN_CREATE | FS_OPEN_SERVER);
  if (!rc && sqlite3_exec(fsi_store_db(st), HQ_SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
    rc = fsi_store_sqlfail(st, "creating the server tables");
  fs_store_close(st);
  return rc;
}

int fs_hq_open(fs_hq **out, const char *home) { return fs_hq_open_schema(out, home, NULL); }

int fs_hq_open_schema(fs_hq **out, const char *home, const fs_schema *schema) {
  char store[4096], keys[4096];
  fs_hq *hq = NULL;
  int rc;
  *out = NULL;
  paths(home, store, keys, sizeof store);
  if (access(store, F_OK) != 0)
    return fsi_fail(FS_ENOTFOUND, "no fieldsync server in %s: run `fieldsync-server init` "
                                 "first",
                   home);
  hq = calloc(1, sizeof *hq);
  if (!hq) return fsi_fail(FS_ENOMEM, "out of memory");
  pthread_mutex_init(&hq->mu, NULL);
  if ((rc = fsi_keys_load(&hq->keys, keys))) goto done;
  if ((rc = fs_store_open(&hq->st, store, schema, FS_OPEN_SERVER))) goto done;
  if (!fsi_store_is_hq(hq->st)) {
    rc = fsi_fail(FS_EINVAL, "%s is a device store, not a server store", store);
    goto done;
  }
  if (sqlite3_exec(fsi_store_db(hq->st), HQ_SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
    rc = fsi_store_sqlfail(hq->st, "creating the server tables");
    goto done;
  }
  hq->batch = fsi_change_batch_new();
  if (!hq->batch) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  fsi_keys_fingerprint(hq->fingerprint, &hq->keys.pub);
  crypto_shorthash_keygen(hq->nkey);
done:
  if (rc) {
    fs_hq_close(hq);
    return rc;
  }
  *out = hq;
  return FS_OK;
}

void fs_hq_close(fs_hq *hq) {
  if (!hq) return;
  fs_store_close(hq->st);
  fsi_change_batch_free(hq->batch);
  fsi_keys_wipe(&hq->keys);
  free(hq->nonces);
  free(hq->devs);
  pthread_mutex_destroy(&hq->mu);
  free(hq);
}

fs_store *fs_hq_store(fs_hq *hq) { return hq->st; }
void fs_hq_lock(fs_hq *hq) { pthread_mutex_lock(&hq->mu); }
void fs_hq_unlock(fs_hq *hq) { pthread_mutex_unlock(&hq->mu); }
const char *fs_hq_key_fingerprint(const fs_hq *hq) { return hq->fingerprint; }

/* ---------------------------------------------------------------- tokens */

static void token_hash(char out[65], const char *token) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
  fsi_proto_hex(out, h, sizeof h);
}

int fs_hq_token_create(fs_hq *hq, const char *manager, int64_t ttl_ms, char **token_out) {
  unsigned char raw[20];
  char hash[65];
  *token_out = NULL;
  if (!manager || !*manager || strlen(manager) > 100 ||
      !fsi_util_utf8_valid(manager, strlen(manager)))
    return fsi_fail(FS_EINVAL, "a manager name (UTF-8, at most 100 bytes) is needed");
  if (ttl_ms <= 0) ttl_ms = PROTO_TOKEN_TTL_MS;
  char *tok = malloc(4 + 2 * sizeof raw + 1);
  if (!tok) return fsi_fail(FS_ENOMEM, "out of memory");
  randombytes_buf(raw, sizeof raw);
  memcpy(tok, "fst-", 4);
  fsi_proto_hex(tok + 4, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  token_hash(hash, tok);
  int64_t now = fsi_util_now_ms();
  sqlite3_stmt *s = fsi_store_stmt(hq->st, "INSERT INTO hq_token(hash, manager, created_at,"
                                       " expires_at) VALUES(?1, ?2, ?3, ?4)");
  int rc = FS_OK;
  if (!s) {
    rc = FS_EIO;
  } else {
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, manager, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    sqlite3_bind_int64(s, 4, now + ttl_ms);
    if (sqlite3_step(s) != SQLITE_DONE) rc = fsi_store_sqlfail(hq->st, "storing a token");
    sqlite3_reset(s);
  }
  if (rc) {
    sodium_memzero(tok, strlen(tok));
    free(tok);
    return rc;
  }
  *token_out = tok;
  return FS_OK;
}

/* --------------------------------------------------------------- devices */

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

typedef struct device {
  int64_t site;
  char manager[128];
  fsi_pubkeys pub;
  fsi_envelope_chain chain;
  int revoked;
  char *last_ack;
} device;

static int device_load(fs_hq *hq, int64_t site, device *d) {
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

/* ------------------------------------------------------------ responses */

typedef fs_hq_reply reply;

void fs_hq_reply_clear(fs_hq_reply *r) {
  if (!r) return;
  free(r->body);
  memset(r, 0, sizeof *r);
}

static void reply_json(reply *r, int status, cJSON *doc) {
  char *txt = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  free(r->body);
  r->status = txt ? status : 500;
  r->ctype = "application/json";
  r->body = (unsigned char *)(txt ? txt : strdup("{\"error\":\"out of memory\"}"));
  r->len = r->body ? strlen((char *)r->body) : 0;
}

static void reply_error(reply *r, int status, const char *msg) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", msg);
  reply_json(r, status, o);
}

/* HTTP status for a library error. */
static int http_status(int rc) {
  switch (rc) {
  case FS_EINVAL: case FS_ECORRUPT: case FS_EVERSION: return 400;
  case FS_EAUTH: return 401;
  case FS_EREVOKED: case FS_EPERM: return 403;
  case FS_ENOTFOUND: return 404;
  case FS_EEXIST: case FS_ECONFLICT: case FS_ESKEW: return 409;
  case FS_ETOOBIG: return 413;
  case FS_EBUSY: return 503;
  default: return 500;
  }
}

static void reply_fail(reply *r, int rc) { reply_error(r, http_status(rc), fs_errmsg()); }

/* ------------------------------------------------ request authentication */

static uint64_t nonce_key(const fs_hq *hq, int64_t site, const unsigned char *nonce) {
  unsigned char in[8 + PROTO_NONCE_BYTES], h[crypto_shorthash_BYTES];
  uint64_t v = 0;
  memcpy(in, &site, 8);
  memcpy(in + 8, nonce, PROTO_NONCE_BYTES);
  crypto_shorthash(h, in, sizeof in, hq->nkey);
  memcpy(&v, h, sizeof v);
  return v ? v : 1;
}

/* The live-nonce counter of a device (created at 0); NULL when out of
 * memory.  The table holds at most the devices with nonces in the window,
 * and only authenticated devices get there. */
static dev_slot *dev_count(fs_hq *hq, int64_t site) {
  if ((hq->dused + 1) * 2 > hq->dcap) {
    size_t cap = hq->dcap ? hq->dcap * 2 : 64;
    dev_slot *fresh = calloc(cap, sizeof *fresh);
    if (!fresh) return NULL;
    for (size_t i = 0; i < hq->dcap; i++) {
      if (!hq->devs[i].site) continue;
      size_t j = (size_t)hq->devs[i].site & (cap - 1);
      while (fresh[j].site) j = (j + 1) & (cap - 1);
      fresh[j] = hq->devs[i];
    }
    free(hq->devs);
    hq->devs = fresh;
    hq->dcap = cap;
  }
  size_t j = (size_t)site & (hq->dcap - 1);
  while (hq->devs[j].site && hq->devs[j].site != site) j = (j + 1) & (hq->dcap - 1);
  if (!hq->devs[j].site) {
    hq->devs[j].site = site;
    hq->devs[j].live = 0;
    hq->dused++;
  }
  return &hq->devs[j];
}

/* Rebuilds the table without the nonces whose time left the window, so
 * that it stays under a quarter full (growing up to its bound), and counts
 * each device's live nonces afresh.  FS_EBUSY when even that leaves it over
 * half full; then nothing is scanned again until its oldest entry expires. */
static int nonce_sweep(fs_hq *hq, int64_t now) {
  int64_t horizon = now - PROTO_REQ_WINDOW_MS;
  if (hq->ncap == HQ_NONCES_MAX && hq->noldest >= horizon)
    return fsi_fail(FS_EBUSY, "head office is answering too many requests; try again shortly");
  size_t cap = hq->ncap ? hq->ncap : HQ_NONCES_MIN, live = 0;
  for (size_t i = 0; i < hq->ncap; i++)
    live += hq->nonces[i].key && hq->nonces[i].t >= horizon;
  while ((live + 1) * 4 > cap && cap < HQ_NONCES_MAX) cap *= 2;
  if ((live + 1) * 2 > cap) {
    hq->noldest = horizon; /* nothing to drop before this moves on */
    for (size_t i = 0; i < hq->ncap; i++)
      if (hq->nonces[i].key && hq->nonces[i].t < hq->noldest) hq->noldest = hq->nonces[i].t;
    return fsi_fail(FS_EBUSY, "head office is answering too many requests; try again shortly");
  }
  nonce_slot *old = hq->nonces, *fresh = calloc(cap, sizeof *fresh);
  size_t oldcap = hq->ncap;
  if (!fresh) return fsi_fail(FS_ENOMEM, "out of memory");
  free(hq->devs);
  hq->devs = NULL;
  hq->dcap = hq->dused = 0;
  hq->nonces = fresh;
  hq->ncap = cap;
  hq->nused = 0;
  hq->noldest = now + PROTO_REQ_WINDOW_MS;
  for (size_t i = 0; i < oldcap; i++) {
    if (!old[i].key || old[i].t < horizon) continue;
    size_t j = (size_t)(old[i].key & (cap - 1));
    while (fresh[j].key) j = (j + 1) & (cap - 1);
    fresh[j] = old[i];
    hq->nused++;
    if (old[i].t < hq->noldest) hq->noldest = old[i].t;
    dev_slot *d = dev_count(hq, old[i].site);
    if (d) d->live++;
  }
  free(old);
  return FS_OK;
}

/* Records a request's nonce at `stage` (1 admit, 2 handle).  FS_EAUTH for a
 * replay: the nonce was handled before, or admitted before and is now
 * admitted again.  FS_EBUSY when the table, or this device's share of it,
 * is full. */
static int nonce_take(fs_hq *hq, int64_t site, const unsigned char *nonce, int64_t t,
                      int stage, int64_t now) {
  int rc;
  if ((hq->nused + 1) * 2 > hq->ncap && (rc = nonce_sweep(hq, now))) return rc;
  uint64_t key = nonce_key(hq, site, nonce);
  size_t j = (size_t)(key & (hq->ncap - 1));
  while (hq->nonces[j].key) {
    nonce_slot *n = &hq->nonces[j];
    if (n->key == key && n->site == site && !FS_MUT(7)) {
      if (n->state == 1 && stage == 2) {
        n->state = 2;
        return FS_OK;
      }
      return fsi_fail(FS_EAUTH, "the request was sent before (a replayed request is refused)");
    }
    j = (j + 1) & (hq->ncap - 1);
  }
  dev_slot *d = dev_count(hq, site);
  if (!d) return fsi_fail(FS_ENOMEM, "out of memory");
  if (d->live >= HQ_NONCES_PER_DEVICE)
    return fsi_fail(FS_EBUSY, "this device sends more requests than head office accepts; "
                             "try again shortly");
  d->live++;
  nonce_slot *n = &hq->nonces[j];
  n->key = key;
  n->site = site;
  n->t = t;
  n->state = (unsigned char)stage;
  hq->nused++;
  if (t < hq->noldest || hq->nused == 1) hq->noldest = t;
  return FS_OK;
}

/* Checks a signed request against the signing key `pub` (the device's
 * enrolled key, or the key an enrollment presents): time within the window,
 * nonce, signature, then records the nonce.  On failure the reply is filled
 * and 0 returned (a clock refusal tells the device head office's time so it
 * can correct its requests). */
static int check_signed(fs_hq *hq, const fs_hq_request *q, int64_t site,
                        const unsigned char *sign_pk, int stage, reply *r) {
  /* stage 0: check only, record no nonce (enrollment: its key is the
   * caller's own choice, so recording would let anyone fill the table; a
   * replayed enrollment is answered again or refused as enrolled) */
  int64_t t = 0, now = fsi_util_now_ms();
  unsigned char nonce[PROTO_NONCE_BYTES];
  char text[PROTO_REQ_MSG_MAX];
  if (!q->time || !fsi_util_parse_i64(q->time, &t) || t <= 0 || !q->nonce ||
      !fsi_proto_unhex(nonce, sizeof nonce, q->nonce) || !q->signature ||
      strlen(q->signature) != PROTO_SIG_HEX - 1) {
    reply_error(r, 401, "the request is not signed (X-Fieldsync-Time, -Nonce and -Signature "
                        "headers); update fieldsync on this device");
    return 0;
  }
  size_t n = fsi_proto_request_text(text, q->method, q->path, q->query ? q->query : "",
                                q->content_length, q->device, q->time, q->nonce);
  if (!n || !fsi_proto_request_verify(q->signature, sign_pk, text, n)) {
    reply_error(r, 401, "the request signature does not verify with this device's key");
    return 0;
  }
  if ((t < now - PROTO_REQ_WINDOW_MS || t > now + PROTO_REQ_WINDOW_MS) && !FS_MUT(8)) {
    char msg[256];
    int64_t off = t - now, mins = (off < 0 ? -off : off) / 60000;
    snprintf(msg, sizeof msg,
             "the device clock is %lld minutes %s head office's clock; the request was "
             "refused (the device retries with head office's time; fix the device clock)",
             (long long)mins, off > 0 ? "ahead of" : "behind");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddNumberToObject(o, "server_time", (double)now);
    reply_json(r, 401, o);
    return 0;
  }
  int rc = stage ? nonce_take(hq, site, nonce, t, stage, now) : FS_OK;
  if (rc) {
    reply_fail(r, rc);
    if (rc == FS_EBUSY) r->status = 503, r->retry_after = 1;
    return 0;
  }
  return 1;
}

/* Identifies and authenticates the calling device; refuses unknown,
 * revoked and badly signed callers.  1 with *d loaded (free d->last_ack),
 * or 0 with the reply filled. */
static int caller(fs_hq *hq, const fs_hq_request *q, int stage, device *d, reply *r) {
  int64_t site;
  memset(d, 0, sizeof *d);
  if (!q->device || !fsi_proto_site_parse(q->device, &site)) {
    reply_error(r, 401, "the request does not name a device (" PROTO_DEVICE_HEADER
                        " header, 16 hex digits)");
    return 0;
  }
  int rc = device_load(hq, site, d);
  if (rc == FS_ENOTFOUND) {
    char msg[160];
    snprintf(msg, sizeof msg, "device %016llx is not enrolled: run `fieldsync enroll`",
             (unsigned long long)site);
    reply_error(r, 401, msg);
    return 0;
  }
  if (rc) {
    reply_fail(r, rc);
    return 0;
  }
  if (d->revoked && !FS_MUT(9)) {
    char msg[200];
    snprintf(msg, sizeof msg, "device %016llx was revoked by head office; ask head office "
                              "for a new device enrollment", (unsigned long long)site);
    reply_error(r, 403, msg);
    return 0;
  }
  return check_signed(hq, q, site, d->pub.sign, stage, r);
}

/* ----------------------------------------------------------- /v1/enroll */

static void handle_enroll(fs_hq *hq, const fs_hq_request *q, reply *r) {
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
    reply_error(r, 400, "malformed enrollment request");
    return;
  }
  /* The request is signed with the key it enrolls: whoever holds the token
   * also proves it holds that key, and the device id it names is the one
   * in the signed headers. */
  if (!q->device || strcmp(q->device, devid) != 0) {
    cJSON_Delete(req);
    reply_error(r, 401, "the enrollment request is not signed by the device it enrolls");
    return;
  }
  if (!check_signed(hq, q, site, pub.sign, 0, r)) {
    cJSON_Delete(req);
    return;
  }
  if (site == fs_store_site(hq->st) && !FS_MUT(12)) {
    cJSON_Delete(req);
    reply_error(r, 409, "this device id is head office's own id; run `fieldsync init` "
                        "again on a fresh home to get a new one");
    return;
  }
  token_hash(hash, token);
  int rc = FS_OK, status = 200;
  fs_store *st = hq->st;
  if ((rc = fs_tx_begin(st))) goto fail;
  device existing;
  char tmgr[128] = "";
  int e = device_load(hq, site, &existing);
  free(existing.last_ack);
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
  reply_json(r, 200, o);
  return;
fail_msg:
  fs_tx_rollback(st);
  cJSON_Delete(req);
  reply_error(r, status, msg);
  return;
fail:
  if (fsi_store_in_tx(st)) fs_tx_rollback(st);
  cJSON_Delete(req);
  reply_fail(r, rc);
}

/* ------------------------------------------------------------- /v1/push */

static cJSON *ack_json(uint64_t seq, const fsi_merge_result *res) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "ack", (double)seq);
  cJSON_AddNumberToObject(o, "rows", (double)res->rows);
  cJSON_AddNumberToObject(o, "applied", (double)res->applied);
  cJSON_AddNumberToObject(o, "conflicts", (double)res->conflicts);
  cJSON *arr = cJSON_AddArrayToObject(o, "refused");
  for (size_t i = 0; i < res->refused; i++) {
    const fsi_merge_refusal *f = &res->refusals[i];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "table", f->table);
    cJSON_AddStringToObject(x, "row", f->pk);
    if (f->col) cJSON_AddStringToObject(x, "column", f->col);
    else cJSON_AddNullToObject(x, "column");
    cJSON_AddStringToObject(x, "reason", f->reason);
    cJSON_AddItemToArray(arr, x);
  }
  return o;
}

static void handle_push(fs_hq *hq, const fs_hq_request *q, reply *r) {
  const unsigned char *body = q->body;
  size_t len = q->body_len;
  device d;
  fsi_envelope_opened op;
  fsi_merge_result res;
  fs_store *st = hq->st;
  int rc;
  memset(&op, 0, sizeof op);
  memset(&res, 0, sizeof res);
  if (!caller(hq, q, 2, &d, r)) {
    free(d.last_ack);
    return;
  }
  rc = fsi_envelope_open(&op, body, len, fs_store_site(st), &hq->keys, d.site, &d.pub, &d.chain);
  if (rc) goto fail;
  if (op.duplicate) {
    /* Acknowledged before: answer as then, apply nothing. */
    r->status = 200;
    r->ctype = "application/json";
    r->body = (unsigned char *)strdup(d.last_ack ? d.last_ack : "{}");
    r->len = r->body ? strlen((char *)r->body) : 0;
    goto done;
  }
  if ((rc = fsi_codec_decode(hq->batch, op.plain, op.plainlen))) goto fail;
  if ((rc = fsi_envelope_check_batch(&op.h, hq->batch))) goto fail;
  if ((rc = fs_tx_begin(st))) goto fail;
  fsi_merge_opts mo = {d.site, d.manager};
  rc = fsi_merge_apply(st, hq->batch, &mo, &res);
  cJSON *ack = rc ? NULL : ack_json(op.h.seq, &res);
  char *acktxt = ack ? cJSON_PrintUnformatted(ack) : NULL;
  cJSON_Delete(ack);
  if (!rc && !acktxt) rc = fsi_fail(FS_ENOMEM, "out of memory");
  if (!rc) {
    sqlite3_stmt *s = fsi_store_stmt(st, "UPDATE hq_device SET push_seq=?2, push_hash=?3,"
                                     " last_seen=?4, last_ack=?5 WHERE site=?1");
    sqlite3_bind_int64(s, 1, d.site);
    sqlite3_bind_int64(s, 2, (int64_t)op.h.seq);
    sqlite3_bind_blob(s, 3, op.hash, ENVELOPE_HASH_SIZE, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, fsi_util_now_ms());
    sqlite3_bind_text(s, 5, acktxt, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) rc = fsi_store_sqlfail(st, "advancing the chain");
    sqlite3_reset(s);
  }
  if (!rc) {
    sqlite3_stmt *s = fsi_store_stmt(st, "INSERT INTO hq_audit(device, seq, hash, envelope,"
                                     " received_at) VALUES(?1,?2,?3,?4,?5)");
    sqlite3_bind_int64(s, 1, d.site);
    sqlite3_bind_int64(s, 2, (int64_t)op.h.seq);
    sqlite3_bind_blob(s, 3, op.hash, ENVELOPE_HASH_SIZE, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, fsi_util_now_ms());
    if (sqlite3_step(s) != SQLITE_DONE) rc = fsi_store_sqlfail(st, "writing the audit log");
    sqlite3_reset(s);
  }
  if (!rc) rc = fs_tx_commit(st);
  else fs_tx_rollback(st);
  if (rc) {
    free(acktxt);
    goto fail;
  }
  r->status = 200;
  r->ctype = "application/json";
  r->body = (unsigned char *)acktxt;
  r->len = strlen(acktxt);
  goto done;
fail:
  reply_fail(r, rc);
done:
  fsi_merge_result_free(&res);
  fsi_envelope_opened_clear(&op);
  fsi_change_batch_reset(hq->batch);
  free(d.last_ack);
}

/* ------------------------------------------------------------- /v1/pull */

/* A query argument into buf; NULL when absent, and *bad set when present
 * but too long for buf (a too-long value is an error, never "absent"). */
static const char *query_arg(const char *query, const char *name, char *buf, size_t n,
                             int *bad) {
  size_t nl = strlen(name);
  const char *p = query;
  while (p && *p) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
      size_t vl = len - nl - 1;
      if (vl >= n) {
        *bad = 1;
        return NULL;
      }
      memcpy(buf, p + nl + 1, vl);
      buf[vl] = '\0';
      return buf;
    }
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

/* The device asks from `merged`: it has merged everything up to that change
 * number.  Let-go markers that every enrolled device of its manager has
 * pulled past are delivered and forgotten.  Bookkeeping only: a failure
 * here costs a marker sent once more, never the pull. */
static void forget_delivered_moves(fs_hq *hq, const device *d, int64_t merged) {
  fs_store *st = hq->st;
  sqlite3_stmt *s = fsi_store_stmt(st, "INSERT INTO hq_cursor(site, seq) VALUES(?1, ?2)"
                                   " ON CONFLICT(site) DO UPDATE SET seq = excluded.seq");
  if (!s) return;
  sqlite3_bind_int64(s, 1, d->site);
  sqlite3_bind_int64(s, 2, merged);
  int ok = sqlite3_step(s) == SQLITE_DONE;
  sqlite3_reset(s);
  s = ok ? fsi_store_stmt(st, "SELECT min(coalesce(c.seq, 0)) FROM hq_device v LEFT JOIN hq_cursor c"
                          " ON c.site = v.site WHERE v.manager = ?1 AND v.revoked_at IS NULL")
         : NULL;
  if (!s) return;
  sqlite3_bind_text(s, 1, d->manager, -1, SQLITE_STATIC);
  int64_t low = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  sqlite3_reset(s);
  if (low > 0 && fsi_merge_moved_delivered(st, d->manager, low)) fsi_clear_error();
}

static void handle_pull(fs_hq *hq, const fs_hq_request *q, reply *r) {
  const char *query = q->query ? q->query : "";
  device d;
  int rc;
  char curhex[520], seqtxt[32], prevhex[72], curtxt[260];
  uint8_t *env = NULL, *plain = NULL;
  size_t envlen = 0, plainlen = 0;
  if (!caller(hq, q, 2, &d, r)) {
    free(d.last_ack);
    return;
  }
  free(d.last_ack);
  fsi_merge_cursor from;
  int64_t seq = 0;
  fsi_envelope_header h;
  memset(&h, 0, sizeof h);
  int bad = 0;
  const char *c = query_arg(query, "cursor", curhex, sizeof curhex, &bad);
  const char *sq = query_arg(query, "seq", seqtxt, sizeof seqtxt, &bad);
  const char *pv = query_arg(query, "prev", prevhex, sizeof prevhex, &bad);
  size_t cl = c ? strlen(c) / 2 : 0;
  if (bad || !sq || !fsi_util_parse_i64(sq, &seq) || seq < 0 || !pv ||
      !fsi_proto_unhex(h.prev, ENVELOPE_HASH_SIZE, pv) || (c && (strlen(c) % 2 || cl > 255)) ||
      (c && !fsi_proto_unhex((unsigned char *)curtxt, cl, c))) {
    reply_error(r, 400, "malformed pull request (cursor, seq, prev)");
    return;
  }
  curtxt[cl] = '\0';
  if ((rc = fsi_merge_cursor_parse(&from, curtxt))) goto fail;
  fsi_merge_cursor next;
  int more = 0;
  fsi_merge_filter f = {d.site, d.manager, 1};
  if ((rc = fsi_merge_changes_since(hq->st, &from, &f, PROTO_BATCH_ROWS, hq->batch, &next, &more)))
    goto fail;
  if ((rc = fsi_codec_encode(hq->batch, &plain, &plainlen))) goto fail;
  /* The next cursor and the more flag travel inside the sealed plaintext,
   * so nothing outside the signature can make a device skip rows. */
  char nexttxt[256];
  fsi_merge_cursor_format(&next, nexttxt, sizeof nexttxt);
  size_t flen = 0;
  unsigned char *framed = fsi_proto_pull_frame(more, nexttxt, plain, plainlen, &flen);
  free(plain);
  plain = framed;
  plainlen = flen;
  if (!plain) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto fail;
  }
  h.sender = fs_store_site(hq->st);
  h.recipient = d.site;
  h.seq = (uint64_t)seq + 1;
  h.hlc_min = hq->batch->hlc_min;
  h.hlc_max = hq->batch->hlc_max;
  h.count = (uint32_t)hq->batch->nrows;
  if ((rc = fsi_envelope_seal(&env, &envlen, &h, plain, plainlen, &hq->keys, &d.pub))) goto fail;
  sqlite3_stmt *s = fsi_store_stmt(hq->st, "UPDATE hq_device SET last_seen=?2 WHERE site=?1");
  if (s) {
    sqlite3_bind_int64(s, 1, d.site);
    sqlite3_bind_int64(s, 2, fsi_util_now_ms());
    sqlite3_step(s);
    sqlite3_reset(s);
  }
  forget_delivered_moves(hq, &d, from.seq);
  r->status = 200;
  r->ctype = "application/octet-stream";
  r->body = env;
  r->len = envlen;
  env = NULL;
  goto done;
fail:
  reply_fail(r, rc);
done:
  free(env);
  free(plain);
  fsi_change_batch_reset(hq->batch);
}

/* The endpoints: what each accepts before its body is read. */
typedef enum { EP_NONE, EP_HEALTH, EP_ENROLL, EP_PUSH, EP_PULL } endpoint;

static endpoint route(const fs_hq_request *q, int *method_ok) {
  static const struct {
    const char *path, *method;
    endpoint ep;
  } eps[] = {{"/v1/health", "GET", EP_HEALTH},
             {"/v1/enroll", "POST", EP_ENROLL},
             {"/v1/push", "POST", EP_PUSH},
             {"/v1/pull", "GET", EP_PULL}};
  *method_ok = 0;
  for (size_t i = 0; q->path && i < sizeof eps / sizeof *eps; i++) {
    if (strcmp(q->path, eps[i].path) != 0) continue;
    *method_ok = q->method && !strcmp(q->method, eps[i].method);
    return eps[i].ep;
  }
  return EP_NONE;
}

/* Body bound of an endpoint. */
static size_t body_bound(endpoint ep) {
  return ep == EP_ENROLL ? PROTO_ENROLL_MAX_BODY : ep == EP_PUSH ? PROTO_PUSH_MAX_BODY : 0;
}

/* Endpoint, method and declared length; 1 when they are acceptable. */
static int admit_shape(const fs_hq_request *q, endpoint *ep, reply *r) {
  int method_ok;
  *ep = route(q, &method_ok);
  if (*ep == EP_NONE) {
    reply_error(r, 404, "no such endpoint");
    return 0;
  }
  if (!method_ok) {
    reply_error(r, 405, "method not allowed");
    return 0;
  }
  if (q->content_length > body_bound(*ep) && !FS_MUT(13)) {
    char msg[160];
    snprintf(msg, sizeof msg, "the request body is larger than %zu bytes, the bound of %s",
             body_bound(*ep), q->path);
    reply_error(r, 413, msg);
    return 0;
  }
  return 1;
}

int fs_hq_admit(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  endpoint ep;
  memset(r, 0, sizeof *r);
  if (!admit_shape(q, &ep, r)) return 0;
  if (ep == EP_PUSH || ep == EP_PULL) {
    device d;
    pthread_mutex_lock(&hq->mu);
    int ok = caller(hq, q, 1, &d, r);
    pthread_mutex_unlock(&hq->mu);
    free(d.last_ack);
    if (!ok) return 0;
  }
  r->max_body = body_bound(ep);
  return 1;
}

void fs_hq_handle(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  endpoint ep;
  memset(r, 0, sizeof *r);
  r->status = 500;
  r->ctype = "application/json";
  if (!admit_shape(q, &ep, r)) return;
  if (q->body_len > body_bound(ep) || q->body_len != q->content_length) {
    reply_error(r, 400, "the request body does not have its declared length");
    return;
  }
  pthread_mutex_lock(&hq->mu);
  switch (ep) {
  case EP_HEALTH: {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddStringToObject(o, "server_id", fs_store_device_id(hq->st));
    reply_json(r, 200, o);
    break;
  }
  case EP_ENROLL: handle_enroll(hq, q, r); break;
  case EP_PUSH: handle_push(hq, q, r); break;
  case EP_PULL: handle_pull(hq, q, r); break;
  case EP_NONE: break;
  }
  pthread_mutex_unlock(&hq->mu);
}

/* ----------------------------------------------------------- verify-log */

int fs_hq_verify_log(fs_hq *hq, int64_t *checked) {
  int rc = FS_OK;
  *checked = 0;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(fsi_store_db(hq->st),
                         "SELECT a.device, a.seq, a.hash, a.envelope, d.keys FROM hq_audit a"
                         " LEFT JOIN hq_device d ON d.site = a.device ORDER BY a.device, a.seq",
                         -1, &s, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(hq->st, "reading the audit log");
  int64_t cur = 0;
  fsi_envelope_chain chain;
  memset(&chain, 0, sizeof chain);
  while (!rc && sqlite3_step(s) == SQLITE_ROW) {
    int64_t dev = sqlite3_column_int64(s, 0);
    int64_t seq = sqlite3_column_int64(s, 1);
    fsi_pubkeys pub;
    if (dev != cur) {
      cur = dev;
      memset(&chain, 0, sizeof chain);
    }
    const char *keyhex = (const char *)sqlite3_column_text(s, 4);
    if (!keyhex || fsi_keys_pub_from_hex(&pub, keyhex)) {
      rc = fsi_fail(FS_ECORRUPT, "audit log: device %016llx seq %lld: unknown device keys",
                   (unsigned long long)dev, (long long)seq);
      break;
    }
    fsi_envelope_opened op;
    memset(&op, 0, sizeof op);
    const unsigned char *env = sqlite3_column_blob(s, 3);
    size_t len = (size_t)sqlite3_column_bytes(s, 3);
    int e = fsi_envelope_open(&op, env, len, fs_store_site(hq->st), &hq->keys, dev, &pub, &chain);
    if (!e && op.duplicate) e = fsi_fail(FS_ECORRUPT, "the same envelope appears twice");
    if (!e && (sqlite3_column_bytes(s, 2) != ENVELOPE_HASH_SIZE ||
               sodium_memcmp(op.hash, sqlite3_column_blob(s, 2), ENVELOPE_HASH_SIZE) != 0))
      e = fsi_fail(FS_ECORRUPT, "the recorded hash does not match the envelope");
    if (!e && (int64_t)op.h.seq != seq)
      e = fsi_fail(FS_ECORRUPT, "recorded as sequence %lld but sealed as %llu", (long long)seq,
                  (unsigned long long)op.h.seq);
    if (e) {
      char why[400];
      snprintf(why, sizeof why, "%s", fs_errmsg());
      rc = fsi_fail(FS_ECORRUPT, "audit log broken at device %016llx sequence %lld: %s",
                   (unsigned long long)dev, (long long)seq, why);
    } else {
      chain.seq = op.h.seq;
      memcpy(chain.hash, op.hash, ENVELOPE_HASH_SIZE);
      (*checked)++;
    }
    fsi_envelope_opened_clear(&op);
  }
  sqlite3_finalize(s);
  if (rc) return rc;
  /* The log must end where each device's chain ends: a missing tail (or a
   * device whose envelopes are all gone) is a break too. */
  s = NULL;
  if (sqlite3_prepare_v2(fsi_store_db(hq->st),
                         "SELECT d.site, d.push_seq, (SELECT max(seq) FROM hq_audit a"
                         " WHERE a.device = d.site) FROM hq_device d"
                         " WHERE d.push_seq != coalesce((SELECT max(seq) FROM hq_audit a"
                         " WHERE a.device = d.site), 0) ORDER BY d.site LIMIT 1",
                         -1, &s, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(hq->st, "reading the audit log");
  if (sqlite3_step(s) == SQLITE_ROW)
    rc = fsi_fail(FS_ECORRUPT,
                 "audit log broken at device %016llx: it accepted envelopes up to sequence "
                 "%lld but the log ends at %lld",
                 (unsigned long long)sqlite3_column_int64(s, 0),
                 (long long)sqlite3_column_int64(s, 1), (long long)sqlite3_column_int64(s, 2));
  sqlite3_finalize(s);
  return rc;
}
