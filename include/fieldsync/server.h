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

/* One protocol request (see docs/protocol.md).  device: the
 * X-Fieldsync-Device header or NULL.  On return *status is the HTTP status
 * and *resp (caller-owned, fs_free) the body of *resp_len bytes with
 * content type *ctype (static).  Thread-safe: takes the lock itself. */
void fs_hq_handle(fs_hq *hq, const char *method, const char *path, const char *query,
                  const char *device, const unsigned char *body, size_t body_len,
                  int *status, const char **ctype, unsigned char **resp,
                  size_t *resp_len);

#ifdef __cplusplus
}
#endif
#endif
