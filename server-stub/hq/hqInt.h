/*
 * hqInt.h — what the files of head office (server-stub/hq/) share and
 * nothing outside them sees: the layout of fs_hq, the registry's view of a
 * device, the nonce table, and the reply helpers of the protocol handler.
 *
 * The files, one concept each:
 *   hq.c        a server home: create, open, close, the lock, the keys,
 *               the store's epoch and the serving lock
 *   backup.c    backups of the store and restoring one
 *   registry.c  enrolled devices (hq_device), their pull cursors (hq_cursor),
 *               revocation, the device list
 *   tokens.c    one-time enrollment tokens (hq_token)
 *   audit.c     the append-only log of accepted envelopes (hq_audit) and
 *               its verification
 *   auth.c      request authentication: signed headers, the nonce table
 *   handler.c   fs_hq_admit / fs_hq_handle: routing, bounds, replies
 *   enroll.c    POST /v1/enroll
 *   push.c      POST /v1/push
 *   pull.c      GET /v1/pull
 *   import.c    CSV imports and customer assignments (head office's writes)
 *   report.c    reports and a manager's export
 *   refused.c   what head office refused from the devices, with its values
 *   lease.c     offline leases (GET /v1/lease), the lease policy, remote
 *               wipe orders and their confirmation (POST /v1/wiped)
 *   recover.c   escrowed data keys, approved recoveries, POST /v1/escrow and
 *               POST /v1/recover (a forgotten passphrase)
 *
 * Locking: hq->mu serialises every use of hq->st, hq->batch and the nonce
 * table.  The public entry points take it (server.h says which); every
 * fsi_hq_* function below expects the caller to hold it, except the reply
 * helpers, which touch only the reply, and fsi_hq_nonces_init / _free,
 * which open and close call while the handle is theirs alone.
 */
#ifndef FS_HQINT_H
#define FS_HQINT_H

#include <fieldsync/server.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sodium.h>

#include "engine.h"
#include "envelope.h"
#include "keys.h"

/* Nonces of signed requests seen within the clock window (auth.c): open
 * addressing keyed by a keyed short hash of (device, nonce), plus the live
 * nonces per device (open addressing by site) so one device cannot take
 * the whole table. */
typedef struct fsi_hq_nonces {
  struct fsi_hq_nonce *slots;
  size_t cap, used;
  int64_t oldest; /* smallest request time in the table */
  struct fsi_hq_nonce_dev *devs;
  size_t dcap, dused;
  unsigned char key[crypto_shorthash_KEYBYTES];
} fsi_hq_nonces;

#define HQ_EPOCH_SIZE 33 /* 32 hex digits and NUL */

struct fs_hq {
  char *home;
  fs_store *st;
  char epoch[HQ_EPOCH_SIZE]; /* the store's incarnation (a restore starts a new one) */
  int serve_fd;              /* the serving lock (fs_hq_claim_serving), -1 none */
  fsi_keys keys;
  char fingerprint[KEYS_FINGERPRINT_SIZE];
  pthread_mutex_t mu;
  fsi_batch *batch;     /* reused for decoding and extraction, under mu */
  fsi_hq_nonces nonces; /* under mu */
  unsigned char *key;   /* the store's data key (sodium_malloc), NULL for a plain store */
};

/* The data key of a home's encrypted store into key (FSI_STORE_KEYBYTES),
 * from the key file the environment names: FIELDSYNC_SERVER_KEY_FILE, else
 * $CREDENTIALS_DIRECTORY/fieldsync-server.key (a systemd credential).
 * FS_EAUTH with the sentence saying how to give it when there is none or
 * it cannot be read as a key. */
int fsi_hq_key_load(unsigned char *key, const char *home);
/* The sentence for a key that does not open the store of `home`. */
int fsi_hq_key_wrong(const char *home);

/* The serving lock of a home (HOME/serve.lock, flock): FS_OK with *fd_out
 * the descriptor that holds it (close it to release), FS_EBUSY when another
 * process holds it (*holder: its process id when known, else 0), FS_EIO. */
int fsi_hq_serve_lock(int *fd_out, const char *home, int *holder);

/* ------------------------------------------------------------- registry */

/* A device as the registry holds it. */
typedef struct fsi_hq_device {
  int64_t site;
  char manager[128];
  fsi_pubkeys pub;
  fsi_envelope_chain chain; /* the last accepted push: sequence and hash */
  int revoked;
  char *last_ack; /* the answer to that push (owned; fsi_hq_device_clear) */
} fsi_hq_device;

/* Loads device `site` into *d (zeroed first, so fsi_hq_device_clear is
 * always safe).  FS_ENOTFOUND when it is not enrolled, FS_ECORRUPT when its
 * keys are damaged, or the SQLite error. */
int fsi_hq_device_load(fsi_hq_device *d, fs_hq *hq, int64_t site);
void fsi_hq_device_clear(fsi_hq_device *d);

/* Records a newly enrolled device (within the enrollment's transaction).
 * FS_EEXIST when the id is taken, or the SQLite error. */
int fsi_hq_device_add(fs_hq *hq, int64_t site, const char *manager, const fsi_pubkeys *pub);

/* The device's chain now ends at envelope `seq` with `hash`, answered with
 * `ack` (JSON text); it was seen now.  Within the push's transaction. */
int fsi_hq_device_advance(fs_hq *hq, int64_t site, uint64_t seq,
                          const unsigned char hash[ENVELOPE_HASH_SIZE], const char *ack);

/* The device was seen now (a pull). */
int fsi_hq_device_seen(fs_hq *hq, int64_t site);

/* Records that device d has merged everything head office sent it up to
 * change number `merged`, and gives in *low the lowest such point among
 * the unrevoked devices of its manager (0 for one that never pulled). */
int fsi_hq_device_pulled(int64_t *low, fs_hq *hq, const fsi_hq_device *d, int64_t merged);

/* --------------------------------------------------------------- tokens */

/* FS_OK when `token` enrolled device `site` (it may be answered again),
 * FS_ENOTFOUND when it did not, or the SQLite error. */
int fsi_hq_token_spent_on(fs_hq *hq, const char *token, int64_t site);

/* Spends `token` on the enrollment of device `site` of device_manager,
 * within the caller's transaction: FS_OK with the token's manager copied
 * into manager[n]; FS_EAUTH when it is unknown, used or expired; FS_EPERM
 * when it is another manager's; or the SQLite error. */
int fsi_hq_token_redeem(char *manager, size_t n, fs_hq *hq, const char *token,
                        const char *device_manager, int64_t site);

/* ---------------------------------------------------------------- audit */

/* Appends an accepted envelope (its bytes as received) to the audit log,
 * within the push's transaction.  FS_EEXIST when that sequence of that
 * device is already there, or the SQLite error. */
int fsi_hq_audit_append(fs_hq *hq, int64_t site, uint64_t seq,
                        const unsigned char hash[ENVELOPE_HASH_SIZE], const unsigned char *env,
                        size_t len);

/* ----------------------------------------------------------------- auth */

/* A fresh, empty nonce table with a random key; fsi_hq_nonces_free
 * releases it (and accepts one never initialised, all zero). */
void fsi_hq_nonces_init(fsi_hq_nonces *n);
void fsi_hq_nonces_free(fsi_hq_nonces *n);

/* Checks a signed request against the signing key sign_pk (the device's
 * enrolled key, or the key an enrollment presents): the signed headers are
 * there, the signature verifies, the time is within the window, and then
 * (stage 1 admit, 2 handle) its nonce is recorded; stage 0 records none.
 * 1 when it passes, else 0 with the reply filled. */
int fsi_hq_check_signed(fs_hq *hq, const fs_hq_request *q, int64_t site,
                        const unsigned char *sign_pk, int stage, fs_hq_reply *r);

/* Identifies and authenticates the calling device; refuses unknown,
 * revoked and badly signed callers.  1 with *d loaded, or 0 with the reply
 * filled; fsi_hq_device_clear(d) either way. */
int fsi_hq_caller(fsi_hq_device *d, fs_hq *hq, const fs_hq_request *q, int stage, fs_hq_reply *r);

/* -------------------------------------------------------------- replies */

/* Fills the reply with a JSON document (consumed), replacing any body. */
void fsi_hq_reply_json(fs_hq_reply *r, int status, cJSON *doc);
/* {"error": msg} with the status. */
void fsi_hq_reply_error(fs_hq_reply *r, int status, const char *msg);
/* {"error": fs_errmsg()} with the HTTP status for a library error. */
void fsi_hq_reply_fail(fs_hq_reply *r, int rc);

/* ------------------------------------------------------------ endpoints */

/* Each handles one whole, admitted-shape request (the lock held). */
void fsi_hq_enroll(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q);
void fsi_hq_push(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q);
void fsi_hq_pull(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q);
void fsi_hq_lease(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q);
void fsi_hq_wiped(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q);

/* ------------------------------------------------- leases and wipes */

#define HQ_LEASE_DEFAULT_DAYS 14
#define HQ_LEASE_MAX_DAYS 365
#define HQ_WIPED_MAX_BODY 1024

/* Adds "lease": {"text","sig"} to o: a fresh lease for device `site` of
 * `manager` (lease.c), signed with head office's key. */
int fsi_hq_lease_add(cJSON *o, fs_hq *hq, int64_t site, const char *manager);
/* Adds "wipe": {"text","sig"} to o when a wipe of `site` was ordered
 * (and records that it was given); FS_OK and nothing added otherwise. */
int fsi_hq_wipe_add(cJSON *o, fs_hq *hq, int64_t site);
/* The caller of POST /v1/wiped: an enrolled device (revoked or not) with
 * a wipe ordered, whose request verifies (fsi_hq_check_signed at
 * `stage`).  1 with *d loaded, or 0 with the reply filled. */
int fsi_hq_wiped_caller(fsi_hq_device *d, fs_hq *hq, const fs_hq_request *q, int stage,
                        fs_hq_reply *r);
void fsi_hq_escrow(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q);
void fsi_hq_recover(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q);

/* ------------------------------------------------------------- recover */

/* The escrow and recovery tables, made when missing (hq.c at open). */
int fsi_hq_recovery_tables(fs_store *st);
/* Admission of POST /v1/recover, which is not signed (its device is
 * locked): 1 when the device it names is enrolled, not revoked and has a
 * recovery approved and pending; else 0 with the refusal in the reply. */
int fsi_hq_recover_admit(fs_hq *hq, const fs_hq_request *q, fs_hq_reply *r);

#endif
