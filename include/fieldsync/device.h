/*
 * fieldsync device API: a manager's laptop — its home directory, identity,
 * enrollment with head office and sync.
 *
 * A device home holds store.db (the replica) and keys/ (the device's
 * Ed25519 and X25519 key pairs, secret files 0600).  An application opens a
 * home once as an fs_device and may keep it open as long as it runs: the
 * device owns the store (fs_device_store lends it for fs_insert, fs_view_json
 * and the rest of fieldsync.h), the home's path and, from the first
 * enrollment or sync on, the secret keys, which are wiped when the device is
 * closed.  Enrollment and sync take the device.
 *
 * Threads: a handle (an fs_device and the store it lends, an fs_store of
 * fs_store_open) is used by one thread at a time; different handles may be
 * used on different threads at the same time.  fs_errmsg() is per thread.
 * fs_sync runs one request at a time on a helper thread of its own, which
 * never calls the application: the progress callback runs on the thread
 * that called fs_sync.
 *
 * Versioned structs (libgit2's rule): fs_enroll_opts, fs_sync_opts and
 * fs_sync_stats begin with `version`, which the caller sets to the
 * FS_*_VERSION of the headers it was compiled with; initialise them with
 * FS_ENROLL_OPTS_INIT, FS_SYNC_OPTS_INIT and FS_SYNC_STATS_INIT (C; in C++
 * value-initialise, `fs_sync_opts o{};`, and set version), then set the
 * members wanted.  A struct only ever grows: new members are appended and
 * its FS_*_VERSION goes up by one; nothing is removed or reordered.  So:
 *  - a program built with older headers keeps working with a newer library,
 *    which reads and writes only the members of the version the program
 *    gave (newer options take their default, which is zero);
 *  - a program built with newer headers than the library it runs with is
 *    refused with FS_EVERSION (upgrade the library), never misread;
 *  - version 0 (not initialised) is FS_EINVAL.
 */
#ifndef FIELDSYNC_DEVICE_H
#define FIELDSYNC_DEVICE_H

#include <fieldsync/fieldsync.h>

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- homes */

/* Creates HOME (0700) with a new store, a random device id and fresh key
 * pairs for manager `manager`.  Refuses to overwrite an existing store or
 * keys (FS_EEXIST); FS_EINVAL for an empty or overlong manager name. */
FS_EXTERN int fs_device_init(const char *home, const char *manager);

/* fs_device_init for an application's own synced tables: `schema` as for
 * fs_store_open (NULL = field-sales), the same as head office's
 * (fs_hq_create_schema); open the home with the same schema. */
FS_EXTERN int fs_device_init_schema(const char *home, const char *manager, const fs_schema *schema);

typedef struct fs_device fs_device;

/* Opens the device home HOME made by fs_device_init, with `schema` (NULL =
 * field-sales; it must outlive the device and be the one the home was made
 * with).  *out is caller-owned: fs_device_close it; NULL on failure.  The
 * keys are read when first needed (fs_enroll, fs_sync), so a device whose
 * keys are missing or unreadable still opens for local work.
 * FS_ENOTFOUND (with a sentence telling to run `fieldsync init`) when there
 * is no store; FS_EINVAL for a head-office store or another schema; the
 * errors of fs_store_open. */
FS_EXTERN int fs_device_open(fs_device **out, const char *home, const fs_schema *schema);

/* Closes the store and wipes the keys.  NULL is fine. */
FS_EXTERN void fs_device_close(fs_device *dev);

/* The device's store, for the writes and queries of fieldsync.h.  Borrowed:
 * valid until fs_device_close; never fs_store_close it.  NULL for NULL. */
FS_EXTERN fs_store *fs_device_store(fs_device *dev);

/* The home directory the device was opened with (borrowed). */
FS_EXTERN const char *fs_device_home(const fs_device *dev);

/* --------------------------------------------------------- enrollment */

typedef struct fs_enroll_opts {
  unsigned version;  /* FS_ENROLL_OPTS_VERSION: FS_ENROLL_OPTS_INIT */
  const char *url;   /* head office, "https://host:port" (required) */
  const char *token; /* the one-time enrollment token (required) */
  const char *ca;    /* PEM file to trust the server's certificate with */
  const char *pin;   /* the server's TLS public key, "sha256//BASE64", as
                        `fieldsync-server init` prints it */
} fs_enroll_opts;

#define FS_ENROLL_OPTS_VERSION 1
#define FS_ENROLL_OPTS_INIT                                                                        \
  { .version = FS_ENROLL_OPTS_VERSION }

/* Enrolls this device with head office using a one-time token.  TLS trust:
 * opts->ca and/or opts->pin; at least one is required.  The server's keys
 * are pinned in the store; the CA file is copied into the home.  Every
 * string is borrowed for the call; the library keeps no copy of the token.
 * FS_EINVAL (a required option missing), FS_EAUTH (bad/used/expired token,
 * TLS trust), FS_EREVOKED, FS_ENETWORK, FS_EEXIST (already enrolled). */
FS_EXTERN int fs_enroll(fs_device *dev, const fs_enroll_opts *opts);

/* --------------------------------------------------------------- sync */

typedef struct fs_sync_stats {
  unsigned version;  /* FS_SYNC_STATS_VERSION: FS_SYNC_STATS_INIT */
  int64_t pushed;    /* rows head office acknowledged (refused ones included) */
  int64_t pulled;    /* rows received and merged */
  int64_t conflicts; /* concurrent edits logged on this device */
  int64_t refused;   /* rows or cells head office refused */
  int64_t batches;   /* envelopes exchanged */
} fs_sync_stats;

#define FS_SYNC_STATS_VERSION 1
#define FS_SYNC_STATS_INIT                                                                         \
  { .version = FS_SYNC_STATS_VERSION }

/* Progress of a sync, called after each batch is safely committed: phase
 * "push" or "pull", rows done so far in that phase, and the rows known to
 * be pending (push) or 0 when unknown (pull).  Return 0 to go on, or
 * non-zero to cancel the sync there.  It runs on the thread that called
 * fs_sync and must not use the device being synced. */
typedef int (*fs_progress_fn)(void *user, const char *phase, int64_t done, int64_t total);

typedef struct fs_sync_opts {
  unsigned version;        /* FS_SYNC_OPTS_VERSION: FS_SYNC_OPTS_INIT */
  fs_progress_fn progress; /* NULL = no progress, no cancelling */
  void *user;              /* passed to progress */
  int64_t push_batch_rows; /* rows per pushed envelope, 1..10000; 0 = 10000 */
  /* version 2: */
  int64_t lock_wait_ms; /* how long to wait for another sync of this home
                           to finish: 0 = 30 s, < 0 = not at all */
} fs_sync_opts;

#define FS_SYNC_OPTS_VERSION 2
#define FS_SYNC_OPTS_INIT                                                                          \
  { .version = FS_SYNC_OPTS_VERSION }

/* Pushes every local change, then pulls everything head office has for
 * this device.  opts may be NULL (the defaults).  *stats (may be NULL)
 * receives what was done, also when the sync fails or is cancelled.
 * Resumable: an interrupted sync finishes on the next call with nothing
 * lost and nothing applied twice.
 *
 * Cancelling: when the progress callback returns non-zero, the sync stops
 * at that batch boundary (once the one request that may be in flight has
 * ended; nothing of its answer is applied) and returns FS_ECANCELED.  Every
 * batch committed before stays committed; the next fs_sync carries on from
 * there.
 *
 * One sync of a home at a time: a sync that finds another running on the
 * same home (in this process or another) waits for it, up to
 * opts->lock_wait_ms, and then fails with FS_EBUSY ("a sync is already
 * running on this laptop (pid N)...").
 *
 * A laptop whose clock was ahead and has been corrected: the clocks of its
 * changes that ran ahead and never reached head office are re-issued
 * before they are sent (docs/merge.md, "A clock that was ahead"), so the
 * sync succeeds at once.  FS_ESKEW when head office's clock and this
 * laptop's disagree so that changes cannot go either way; the sentence
 * says which clock looks wrong and what to do, and nothing is lost.
 *
 * FS_ENETWORK when head office cannot be reached (nothing lost),
 * FS_ECANCELED, FS_EREVOKED, FS_EAUTH, FS_EBUSY, FS_ESKEW; FS_EINVAL when
 * the device is not enrolled or an option is out of range; FS_EVERSION
 * (see the top). */
FS_EXTERN int fs_sync(fs_sync_stats *stats, fs_device *dev, const fs_sync_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
