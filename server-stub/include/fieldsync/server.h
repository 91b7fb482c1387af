/*
 * fieldsync head-office API: the central replica, its device registry,
 * enrollment tokens, the audit log of accepted envelopes, reports, and the
 * protocol handler the HTTPS server calls for every request.
 *
 * A server home holds store.db (the central replica plus the registry and
 * audit tables), keys/ (the server's Ed25519 and X25519 key pairs) and
 * tls/ (cert.pem, key.pem).
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

/* Opens a server home.  FS_ENOTFOUND (run `fieldsync-server init`). */
int fs_hq_open(fs_hq **out, const char *home);

/* fs_hq_create and fs_hq_open for an application's own synced tables:
 * `schema` as for fs_store_open (NULL = field-sales; it must outlive the
 * handle).  Devices syncing with this home must use the same schema
 * (fs_device_init_schema).  Opening a home with another schema than it was
 * created with is FS_EINVAL; otherwise the errors of fs_hq_create /
 * fs_hq_open and fs_store_open. */
int fs_hq_create_schema(const char *home, const fs_schema *schema);
int fs_hq_open_schema(fs_hq **out, const char *home, const fs_schema *schema);
void fs_hq_close(fs_hq *hq);

/* The central replica (borrowed; not thread-safe: callers that share an
 * fs_hq between threads hold fs_hq_lock). */
fs_store *fs_hq_store(fs_hq *hq);
void fs_hq_lock(fs_hq *hq);
void fs_hq_unlock(fs_hq *hq);

/* Fingerprint of the server's signing and key-exchange keys (hex). */
const char *fs_hq_key_fingerprint(const fs_hq *hq);

/* A one-time enrollment token for a manager, valid ttl_ms (0 = 7 days).
 * *token_out is caller-owned (fs_free).  Only a hash of it is stored. */
int fs_hq_token_create(fs_hq *hq, const char *manager, int64_t ttl_ms, char **token_out);

/* Enrolled devices as a JSON array (caller-owned): id, manager, enrolled_at,
 * last_seen, last_seq, revoked_at. */
int fs_hq_devices_json(fs_hq *hq, char **out);

/* Revokes a device (FS_ENOTFOUND for an unknown id).  What it sent stays. */
int fs_hq_revoke(fs_hq *hq, const char *device_id);

/* Re-checks every accepted envelope in the audit log: signature, sequence
 * and hash chain, decryption.  FS_OK with *checked set, or FS_ECORRUPT
 * naming the first break (device, sequence, reason). */
int fs_hq_verify_log(fs_hq *hq, int64_t *checked);

/* Reports as JSON (caller-owned).  kind: orders | meetings | pipeline;
 * month: "YYYY-MM" or NULL; by: "manager" | "customer" (NULL = manager). */
int fs_hq_report_json(fs_hq *hq, const char *kind, const char *month, const char *by,
                      char **out);

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

void fs_hq_reply_clear(fs_hq_reply *reply);

/* Admission, before any body byte is read: the endpoint and method exist,
 * the declared length is within the endpoint's bound, and (push, pull) the
 * request is signed by an enrolled, unrevoked device within the clock
 * window, with a nonce not seen before.  Returns 1 and sets
 * reply->max_body when the front end may read the body; returns 0 with
 * reply filled (401, 403, 404, 405, 413, 503) otherwise (a POST without
 * Content-Length is the front end's to refuse: 411).  Costs no
 * allocation proportional to the declared length.  Thread-safe. */
int fs_hq_admit(fs_hq_reply *reply, fs_hq *hq, const fs_hq_request *req);

/* Handles one whole request.  It checks everything fs_hq_admit checks again
 * (a request admitted before is not refused as a replay of itself), so a
 * caller may use it alone.  Thread-safe: takes the lock itself. */
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
int fs_hq_import_csv(fs_hq *hq, const char *kind, const char *path, size_t *count_out);

/* Assigns a customer to a manager: that manager's devices receive the
 * customer with its whole history at their next pull, and the devices of
 * the manager who held it let it go.  FS_EINVAL for an empty manager,
 * FS_ENOTFOUND for an unknown customer. */
int fs_hq_assign(fs_hq *hq, const char *customer_id, const char *manager);

/* The central replica as the export view shows it (fs_view_json's
 * "export": every synced table, rows sorted by id, every declared column),
 * or, with manager, exactly the subset that manager's devices hold: their
 * customers, the rows belonging to them and every table that belongs to no
 * customer, in the same shape.  *out is caller-owned (fs_free).  FS_EINVAL
 * for an empty manager. */
int fs_hq_export_json(fs_hq *hq, const char *manager, char **out);

#ifdef __cplusplus
}
#endif
#endif
