/*
 * fieldsync head-office API: the central replica, its device registry,
 * enrollment tokens, the audit log of accepted envelopes, reports, and the
 * protocol handler the HTTPS server calls for every request.
 *
 * A server home holds store.db (the central replica plus the registry and
 * audit tables), keys/ (the server's Ed25519 and X25519 key pairs) and
 * tls/ (cert.pem, key.pem).
 *
 * Conventions are those of <fieldsync/fieldsync.h>: out-parameters first,
 * FS_OK or a negative fs_err with fs_errmsg() set, and every caller-owned
 * result (a `char **out`, a reply body) released with fs_free.
 *
 * Threads.  An open fs_hq may be shared by threads, as `fieldsync-server
 * serve` shares one among the HTTPS server's pool threads.  It holds one
 * mutex, which guards the central replica, the registry, the tokens, the
 * audit log and the table of request nonces:
 *  - fs_hq_admit, fs_hq_handle and every function below that reads or
 *    writes head office's data (tokens, devices, revocation, verify-log,
 *    reports, imports, assignments, exports) take the mutex themselves for
 *    as long as they run, so calls from several threads are serialised
 *    (SQLite has one writer);
 *  - fs_hq_store hands out the central replica itself, which is not
 *    thread-safe: while other threads may use the fs_hq, hold fs_hq_lock
 *    around every use of it, and call none of the locking functions while
 *    holding it (the mutex is not recursive);
 *  - fs_hq_key_fingerprint reads what never changes: any thread, no lock;
 *  - fs_hq_open, fs_hq_close: one thread; close only after every other
 *    thread is done with the handle (stop the HTTPS server first).
 * Several processes may open the same home (the CLI while `serve` runs):
 * SQLite serialises their writes.  The nonce table is per process, so one
 * process serves a home.
 */
#ifndef FIELDSYNC_SERVER_H
#define FIELDSYNC_SERVER_H

#include <fieldsync/fieldsync.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fs_hq fs_hq;

/* Creates the store and the server keys in HOME (which must exist).
 * FS_EEXIST when a store or keys are already there (nothing changed). */
int fs_hq_create(const char *home);

/* Opens a server home.  *out is caller-owned: fs_hq_close.  FS_ENOTFOUND
 * (run `fieldsync-server init`), FS_EINVAL for a device store, or the
 * errors of reading the keys and opening the store. */
int fs_hq_open(fs_hq **out, const char *home);

/* fs_hq_create and fs_hq_open for an application's own synced tables:
 * `schema` as for fs_store_open (NULL = field-sales; it must outlive the
 * handle).  Devices syncing with this home must use the same schema
 * (fs_device_create with fs_device_init_opts.schema).  Opening a home with another schema than it
 * was created with is FS_EINVAL; otherwise the errors of fs_hq_create / fs_hq_open and
 * fs_store_open. */
int fs_hq_create_schema(const char *home, const fs_schema *schema);
int fs_hq_open_schema(fs_hq **out, const char *home, const fs_schema *schema);

/* Head office at rest (docs/security.md, "Head office at rest").
 *
 * fs_hq_create_encrypted  fs_hq_create_schema with the store encrypted like
 *                        a device's (every page and WAL frame sealed) under
 *                        the 256-bit key in key_file: 64 hex digits (a
 *                        newline after them is allowed) or 32 raw bytes.
 *                        A key_file that does not exist is created (mode
 *                        0600) with a new random key, and *made is set to 1;
 *                        it is removed again if the store cannot be made.
 *                        FS_EEXIST when a store is already there (nothing
 *                        changed); FS_EINVAL for a key file that holds no key.
 * Every later fs_hq_open of an encrypted home reads the key from the file
 * named by FIELDSYNC_SERVER_KEY_FILE, else $CREDENTIALS_DIRECTORY/
 * fieldsync-server.key (systemd's LoadCredential=): FS_EAUTH, with one
 * sentence saying how to give the key, when it is missing or does not open
 * the store (nothing is changed).  A plain home needs no key and stays
 * plain. */
#define FS_HQ_KEY_ENV "FIELDSYNC_SERVER_KEY_FILE"
#define FS_HQ_KEY_CREDENTIAL "fieldsync-server.key"
int fs_hq_create_encrypted(const char *home, const fs_schema *schema, const char *key_file,
                           int *made);
/* 1 when the open home's store is encrypted at rest. */
int fs_hq_encrypted(const fs_hq *hq);
/* Closes the handle and wipes the server's secret keys.  Accepts NULL. */
void fs_hq_close(fs_hq *hq);

/* The central replica (borrowed for the life of the handle; not
 * thread-safe: callers that share an fs_hq between threads hold
 * fs_hq_lock while they use it). */
fs_store *fs_hq_store(fs_hq *hq);
void fs_hq_lock(fs_hq *hq);
void fs_hq_unlock(fs_hq *hq);

/* FS_ESKEW, with a sentence saying by how much and what to do, when this
 * machine's clock is behind the newest clock in the store by more than the
 * store's skew bound (the clock went back); FS_OK otherwise.  `serve` and
 * `import` refuse to run on that.  Locks. */
int fs_hq_check_clock(fs_hq *hq);

/* Fingerprint of the server's signing and key-exchange keys (hex,
 * borrowed for the life of the handle). */
const char *fs_hq_key_fingerprint(const fs_hq *hq);

/* A one-time enrollment token for a manager's device ("fst-" and 40 hex
 * digits), valid ttl_ms (<= 0: 7 days).  *out is caller-owned (fs_free; it
 * is a secret, so wipe it first if it lingers in memory); only a hash of it
 * is stored.  FS_EINVAL for a missing or over-long (100 bytes) or non-UTF-8
 * manager name, FS_ENOMEM, or the store's error (FS_EIO, ...).  Locks. */
int fs_hq_token_create(char **out, fs_hq *hq, const char *manager, int64_t ttl_ms);

/* Enrolled devices as a JSON array, *out caller-owned (fs_free): per device
 * id, manager, enrolled_at, last_seen, last_seq, revoked_at,
 * wipe_ordered_at, wipe_confirmed_at (times ISO-8601 UTC or null), ordered
 * by manager then id.  FS_ENOMEM or the store's error
 * (FS_EIO, ...).  Locks. */
int fs_hq_devices_json(char **out, fs_hq *hq);

/* Revokes a device: from now on it is refused push, pull and enrollment;
 * what it sent stays.  Revoking it again keeps the first time.  FS_EINVAL
 * for a malformed id, FS_ENOTFOUND for an unknown one, or the store's
 * error.  Locks. */
int fs_hq_revoke(fs_hq *hq, const char *device_id);

/* Revokes a device as fs_hq_revoke does and orders it wiped, in one
 * transaction: from then on every refusal of its requests carries a wipe
 * order signed with head office's key, which the device verifies and
 * carries out (crypto-shredding its home) at its next contact, then
 * confirms (wipe_confirmed_at of fs_hq_devices_json).  Ordering it again
 * keeps the first time.  The errors of fs_hq_revoke.  Locks. */
int fs_hq_revoke_wipe(fs_hq *hq, const char *device_id);

/* Offline leases: every enrollment and sync gives the device a lease
 * signed by head office, "unlockable until now + DAYS" (default 14 days).
 * fs_hq_lease_set sets DAYS (1..365) for every device of `manager`, from
 * its next sync on; FS_EINVAL out of range.  fs_hq_leases_json: a JSON
 * array of {manager, days, default} for every manager with a device or a
 * policy, by manager (*out caller-owned, fs_free).  Both lock. */
int fs_hq_lease_set(fs_hq *hq, const char *manager, int64_t days);
int fs_hq_leases_json(char **out, fs_hq *hq);
/* A forgotten passphrase (docs/security.md, "Forgotten passphrase").
 * Each device escrows its data key with head office at enrollment (sealed
 * to head office's X25519 key); a recovery releases it once, to that
 * device only, with a code staff give the manager after checking who is
 * calling.
 *
 * fs_hq_recovery_approve  approves one recovery of device_id, valid ttl_ms
 *                         (<= 0: 24 hours; at most 7 days), recorded as
 *                         approved by `approved_by` (a name, <= 100 bytes).
 *                         It replaces a pending one of that device.  *out
 *                         (caller-owned; it holds the code, a secret: wipe
 *                         it, then fs_free) is {"device","manager","code",
 *                         "expires_at","tries","approved_by"}; only a hash
 *                         of the code is kept.  FS_EINVAL (a malformed id,
 *                         ttl or name), FS_ENOTFOUND (not enrolled),
 *                         FS_EREVOKED (revoked: never recovered),
 *                         FS_ECONFLICT (head office holds no escrowed key
 *                         of it), or the store's error.  Locks.
 * fs_hq_recovery_cancel   withdraws the pending recovery of device_id:
 *                         FS_ENOTFOUND when none is pending.  Locks.
 * fs_hq_recovery_json     every approval, oldest first, as a JSON array:
 *                         id, device, manager, approved_by, approved_at,
 *                         expires_at, wrong_codes, used_at, cancelled_at
 *                         (times ISO-8601 UTC or null) and state (pending,
 *                         used, expired, burned after 5 wrong codes,
 *                         cancelled).  *out caller-owned (fs_free).  Locks. */
int fs_hq_recovery_approve(char **out, fs_hq *hq, const char *device_id, int64_t ttl_ms,
                           const char *approved_by);
int fs_hq_recovery_cancel(fs_hq *hq, const char *device_id);
int fs_hq_recovery_json(char **out, fs_hq *hq);

/* Re-checks every accepted envelope in the audit log: signature, sequence
 * and hash chain, decryption, and that each device's log ends where its
 * chain does.  FS_OK with *checked the number of envelopes verified, or
 * FS_ECORRUPT naming the first break (device, sequence, reason), or the
 * store's error.  Locks for the whole walk. */
int fs_hq_verify_log(int64_t *checked, fs_hq *hq);

/* The restores of this home from a backup (fs_hq_restore), oldest first,
 * as a JSON array: restored_at (ISO-8601 UTC), source (the backup file),
 * old_epoch, new_epoch, devices (each device's id, manager, push sequence
 * after the restore and seq_before).  *out caller-owned (fs_free).  Locks. */
int fs_hq_restores_json(char **out, fs_hq *hq);

/* ---------------------------------------------------------------------
 * Backups (backup.c). */

/* Writes a consistent copy of the store to `path` (SQLite's online backup
 * in one step under the handle's lock: one snapshot of what was committed,
 * while another process, such as `serve`, goes on writing).  The copy is
 * owner-only (0600), checked (SQLite's quick_check) and synced before it
 * appears under `path`, which must not exist.  *out (caller-owned, fs_free)
 * is {"backup","bytes","devices","envelopes","taken_at"}.  FS_EEXIST when
 * path exists, FS_EINVAL for an empty path, FS_EIO.  Locks. */
int fs_hq_backup(char **out, fs_hq *hq, const char *path);

/* Replaces the store of the (closed) home `home` with the backup `path`:
 * refused (FS_EBUSY) while a server serves the home, FS_EINVAL for a file
 * that is not a head-office store of this head office and schema,
 * FS_ECORRUPT for one that fails SQLite's integrity check, FS_ENOTFOUND for
 * one that cannot be read; nothing changes then.  Otherwise the restored
 * store takes the place of store.db in one rename (the replaced one is
 * kept as store.db.before-restore-TIME), with a new epoch and a record of
 * the restore (fs_hq_restores_json).  No other fieldsync-server command
 * may use the home meanwhile.  *out (fs_free) is {"restored","previous",
 * "epoch","envelopes","devices":[{"id","manager","seq","seq_before"}]}. */
int fs_hq_restore(char **out, const char *home, const char *path);

/* Takes the home's serving lock for as long as the handle is open: one
 * process serves a home (the nonce table is per process), and `restore`
 * refuses while it is held.  FS_EBUSY naming the process that holds it,
 * FS_EIO. */
int fs_hq_claim_serving(fs_hq *hq);

/* A report as JSON, *out caller-owned (fs_free).  kind: orders | meetings
 * | pipeline (NULL = orders); month: "YYYY-MM" or NULL; by: "manager" |
 * "customer" (NULL = manager).  *out is {"report","month","by","rows",
 * "totals"}: orders rows {manager | customer_id, customer_name, currency,
 * orders, total}; meetings rows {..., meetings, visits, calls,
 * exhibitions}; pipeline (deals) rows {..., stage, currency, deals, value,
 * weighted} and totals {stage, currency, deals, value, weighted}, stages in
 * their order (lead .. won, lost), a deal's month its close date's, else its
 * creation's; money in integer minor units.  FS_EINVAL for any other kind, month or by,
 * or a home without the field-sales schema; FS_ENOMEM or the store's
 * error.  Locks. */
int fs_hq_report_json(char **out, fs_hq *hq, const char *kind, const char *month, const char *by);

/* One protocol request as head office sees it (docs/protocol.md).  Every
 * field is borrowed.  The header fields are the X-Fieldsync-Device, -Time,
 * -Nonce and -Signature headers, NULL when absent; content_length is the
 * declared body length (the signed one); body is NULL before the body is
 * read (fs_hq_admit) and the whole body in fs_hq_handle. */
typedef struct fs_hq_request {
  const char *method, *path, *query; /* query: raw text after '?', "" if none */
  const char *device, *time, *nonce, *signature;
  uint64_t content_length;
  const unsigned char *body;
  size_t body_len;
} fs_hq_request;

/* A reply: HTTP status, a static content type, a caller-owned body
 * (fs_free, or fs_hq_reply_clear), and retry_after (seconds, 0 = none) for
 * a Retry-After header.  max_body: from fs_hq_admit, the most body bytes
 * the front end may read for this request. */
typedef struct fs_hq_reply {
  int status;
  const char *ctype;
  unsigned char *body;
  size_t len;
  int retry_after;
  size_t max_body;
} fs_hq_reply;

/* Frees the body and zeroes the reply.  Accepts NULL. */
void fs_hq_reply_clear(fs_hq_reply *reply);

/* Admission, before any body byte is read: the endpoint and method exist,
 * the declared length is within the endpoint's bound, and (push, pull) the
 * request is signed by an enrolled, unrevoked device within the clock
 * window, with a nonce not seen before.  Returns 1 and sets
 * reply->max_body when the front end may read the body; returns 0 with
 * reply filled (401, 403, 404, 405, 413, 503) otherwise (a POST without
 * Content-Length is the front end's to refuse: 411).  Costs no
 * allocation proportional to the declared length.  *reply is overwritten
 * (fs_hq_reply_clear it either way).  Locks. */
int fs_hq_admit(fs_hq_reply *reply, fs_hq *hq, const fs_hq_request *req);

/* Handles one whole request.  It checks everything fs_hq_admit checks again
 * (a request admitted before is not refused as a replay of itself), so a
 * caller may use it alone.  *reply is overwritten and always filled (its
 * body is the caller's: fs_free or fs_hq_reply_clear).  Locks. */
void fs_hq_handle(fs_hq_reply *reply, fs_hq *hq, const fs_hq_request *req);

/* ---------------------------------------------------------------------
 * Head office's own data: imports, assignments and exports (import.c,
 * report.c).  Each takes the handle's lock itself, so the caller must not
 * hold fs_hq_lock. */

/* Imports a CSV file into the central replica: kind products, prices or
 * balances, the columns of CLI.md.  A bad row refuses the whole file
 * (FS_EINVAL, the message names the line); nothing is imported from it.
 * FS_ENOTFOUND when the file cannot be opened, FS_ETOOBIG over 64 MiB,
 * FS_EIO when the store cannot be written.  *count_out (may be NULL)
 * receives the number of rows imported (0 on failure). */
int fs_hq_import_csv(size_t *count_out, fs_hq *hq, const char *kind, const char *path);

/* Options of fs_hq_import_csv_opts (a versioned struct, as in device.h):
 * progress, when set, is called with the rows imported so far and the rows
 * the file holds (its records, counted before the import starts) every
 * progress_every rows (0 = 10,000) and once at the end, from the calling
 * thread, with the handle's lock held (it must not call into the handle). */
typedef struct fs_hq_import_opts {
  unsigned version; /* FS_HQ_IMPORT_OPTS_VERSION: FS_HQ_IMPORT_OPTS_INIT */
  void (*progress)(size_t done, size_t total, void *arg);
  void *progress_arg;
  size_t progress_every;
} fs_hq_import_opts;

#define FS_HQ_IMPORT_OPTS_VERSION 1
#define FS_HQ_IMPORT_OPTS_INIT                                                                     \
  { .version = FS_HQ_IMPORT_OPTS_VERSION }

/* fs_hq_import_csv with options (NULL: none).  The same errors, and
 * FS_EINVAL for opts of version 0, FS_EVERSION for a newer version. */
int fs_hq_import_csv_opts(size_t *count_out, fs_hq *hq, const char *kind, const char *path,
                          const fs_hq_import_opts *opts);

/* Assigns a customer to a manager: that manager's devices receive the
 * customer with its whole history at their next pull, and the devices of
 * the manager who held it let it go.  FS_EINVAL for an empty manager,
 * FS_ENOTFOUND for an unknown customer. */
int fs_hq_assign(fs_hq *hq, const char *customer_id, const char *manager);

/* A manager's day norms (norms.c), a versioned struct as in device.h:
 * start from FS_HQ_NORMS_INIT (every member FS_HQ_NORM_KEEP, "leave as it
 * is"; a row made new leaves it empty: no target) and set the ones wanted,
 * each 0..FS_HQ_NORM_MAX. */
#define FS_HQ_NORM_KEEP (-1)
#define FS_HQ_NORM_MAX 100000
typedef struct fs_hq_norms {
  unsigned version; /* FS_HQ_NORMS_VERSION */
  int64_t calls_day, meetings_day, proposals_day, contracts_month;
} fs_hq_norms;
#define FS_HQ_NORMS_VERSION 1
#define FS_HQ_NORMS_INIT                                                                           \
  {                                                                                                \
    .version = FS_HQ_NORMS_VERSION, .calls_day = FS_HQ_NORM_KEEP, .meetings_day = FS_HQ_NORM_KEEP, \
    .proposals_day = FS_HQ_NORM_KEEP, .contracts_month = FS_HQ_NORM_KEEP                           \
  }

/* Sets the norms of `manager` ("*": everyone's default) in head office's
 * `norms` table, with head office's clock, so they reach every device at
 * its next pull; members left FS_HQ_NORM_KEEP keep their value.  FS_EINVAL
 * for a value out of range, nothing to set or an empty or over-long
 * manager; FS_ENOTFOUND for a manager head office does not know (no
 * device, no customer, no norm yet); FS_EVERSION for a newer struct;
 * FS_ESKEW as fs_hq_check_clock.  Nothing is written on failure.  Locks. */
int fs_hq_norms_set(fs_hq *hq, const char *manager, const fs_hq_norms *norms);
/* The norms rows as a JSON array of {manager, calls_day, meetings_day,
 * proposals_day, contracts_month} (null: no target), the default "*"
 * first, then by manager.  *out caller-owned (fs_free).  Locks. */
int fs_hq_norms_json(char **out, fs_hq *hq);

/* The central replica as the export view shows it (fs_view_json's
 * "export": every synced table, rows sorted by id, every declared column),
 * or, with manager, exactly the subset that manager's devices hold: their
 * customers, the rows belonging to them and every table that belongs to no
 * customer, in the same shape.  *out is caller-owned (fs_free).  FS_EINVAL
 * for an empty manager. */
int fs_hq_export_json(char **out, fs_hq *hq, const char *manager);

/* What head office refused from the devices, oldest first, as a JSON
 * array (*out caller-owned, fs_free): per refused row or cell its number,
 * when, table, row, column (null: the whole row), the sending device
 * (site) and its manager, the customer it concerned (customer_id,
 * customer_name), the reason (a whole sentence) and the values the change
 * carried (values: an object, null for a delete), the shape of the
 * device's "refused" view.  With manager (non-NULL), only what that
 * manager's devices sent.  FS_EINVAL for an empty manager, or the store's
 * error.  Locks. */
int fs_hq_refused_json(char **out, fs_hq *hq, const char *manager);

#ifdef __cplusplus
}
#endif
#endif
