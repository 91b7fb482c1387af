/*
 * fieldsync device API: a manager's laptop — its home directory, identity,
 * enrollment with head office and sync.
 *
 * A device home holds store.db (the replica) and keys/ (the device's
 * Ed25519 and X25519 key pairs, secret files 0600).
 */
#ifndef FIELDSYNC_DEVICE_H
#define FIELDSYNC_DEVICE_H

#include <fieldsync/fieldsync.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates HOME (0700) with a new store, a random device id and fresh key
 * pairs for manager `manager`.  Refuses to overwrite an existing store or
 * keys (FS_EEXIST); FS_EINVAL for an empty or overlong manager name. */
FS_EXTERN int fs_device_init(const char *home, const char *manager);

/* Opens HOME/store.db.  FS_ENOTFOUND (with a sentence telling to run
 * `fieldsync init`) when there is none; the errors of fs_store_open. */
FS_EXTERN int fs_device_open(fs_store **out, const char *home);

/* fs_device_init and fs_device_open for an application's own synced tables:
 * `schema` as for fs_store_open (NULL = field-sales; it must outlive the
 * store), the same as head office's (fs_hq_create_schema).  Opening a home
 * with another schema than it was created with is FS_EINVAL; otherwise the
 * errors of fs_device_init / fs_device_open. */
FS_EXTERN int fs_device_init_schema(const char *home, const char *manager, const fs_schema *schema);
FS_EXTERN int fs_device_open_schema(fs_store **out, const char *home, const fs_schema *schema);

/* Enrolls this device with head office at `url` using a one-time token.
 * TLS trust: `ca` (a PEM file, e.g. the server's certificate) and/or `pin`
 * (the server's TLS public key as printed by `fieldsync-server init`,
 * "sha256//BASE64"); at least one is required.  The server's keys are
 * pinned in the store.  FS_EAUTH (bad/used/expired token, TLS trust),
 * FS_EREVOKED, FS_ENETWORK, FS_EEXIST (already enrolled). */
FS_EXTERN int fs_enroll(fs_store *st, const char *home, const char *url, const char *token,
              const char *ca, const char *pin);

typedef struct fs_sync_stats {
  int64_t pushed;    /* rows head office acknowledged (refused ones included) */
  int64_t pulled;    /* rows received and merged */
  int64_t conflicts; /* concurrent edits logged on this device */
  int64_t refused;   /* rows or cells head office refused */
  int64_t batches;   /* envelopes exchanged */
} fs_sync_stats;

/* Progress of a sync: phase "push" or "pull", rows done so far, and the
 * rows known to be pending (push) or 0 when unknown (pull). */
typedef void (*fs_progress_fn)(void *user, const char *phase, int64_t done, int64_t total);

/* Push every local change, then pull everything head office has for this
 * device.  Resumable: an interrupted sync finishes on the next call with
 * nothing lost and nothing applied twice.  FS_ENETWORK when head office
 * cannot be reached (nothing lost), FS_EREVOKED, FS_EAUTH. */
FS_EXTERN int fs_sync(fs_store *st, const char *home, fs_sync_stats *stats, fs_progress_fn progress,
            void *user);

#ifdef __cplusplus
}
#endif
#endif
