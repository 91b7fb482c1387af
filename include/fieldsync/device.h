/*
 * fieldsync device API: a manager's laptop — its home directory, identity,
 * enrollment with head office and sync.
 *
 * A device home holds store.db (the replica, encrypted) and keys/: the
 * wrapped data key (store.key), the device's Ed25519 and X25519 secret keys
 * sealed under it (identity.key) and their public halves; secret files are
 * 0600.  An application opens a home once as an fs_device (locked), unlocks
 * it, and may keep it open as long as it runs: the unlocked device owns the
 * store (fs_device_store lends it for fs_insert, fs_view_json and the rest
 * of fieldsync.h), the home's path, the data key and the secret keys, which
 * are wiped when the device is locked or closed.  Enrollment and sync take
 * the device, unlocked.
 *
 * Threads: a handle (an fs_device and the store it lends, an fs_store of
 * fs_store_open) is used by one thread at a time; different handles may be
 * used on different threads at the same time.  fs_errmsg() is per thread.
 * fs_sync runs one request at a time on a helper thread of its own, which
 * never calls the application: the progress callback runs on the thread
 * that called fs_sync.
 *
 * Versioned structs (libgit2's rule): fs_device_init_opts, fs_unlock_opts,
 * fs_recover_opts, fs_enroll_opts, fs_sync_opts and fs_sync_stats begin with `version`, which the
 * caller sets to the FS_*_VERSION of the headers it was compiled with; initialise them with their
 * FS_*_INIT macros (FS_ENROLL_OPTS_INIT, FS_SYNC_OPTS_INIT, ...; in C++ value-initialise,
 * `fs_sync_opts o{};`, and set version), then set the members wanted.  A struct only ever grows:
 * new members are appended and its FS_*_VERSION goes up by one; nothing is removed or reordered.
 * So:
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

/* A device home is encrypted at rest.  Its store and the device's secret
 * keys are encrypted under a random 256-bit data key, and the data key is
 * kept on disk only wrapped under a key derived from the manager's
 * passphrase (Argon2id; keys/store.key).  So a device is opened LOCKED
 * (fs_device_open) and unlocked with the passphrase, the data key, or the
 * key the session's kernel keyring caches (fs_device_unlock,
 * fs_device_unlock_cached).  docs/security.md states the model. */

/* A passphrase has at least this many characters (UTF-8 code points) and
 * at most FS_PASSPHRASE_MAX bytes. */
#define FS_PASSPHRASE_MIN_CHARS 10
#define FS_PASSPHRASE_MAX 1024

/* The size of a device's data key (fs_unlock_opts.key). */
#define FS_DATA_KEY_SIZE 32

typedef struct fs_device fs_device;

typedef struct fs_device_init_opts {
  unsigned version;        /* FS_DEVICE_INIT_OPTS_VERSION: FS_DEVICE_INIT_OPTS_INIT */
  const char *manager;     /* the account manager (required; UTF-8, <= 100 bytes) */
  const fs_schema *schema; /* as for fs_store_open; NULL = field-sales.  The
                              same as head office's (fs_hq_create_schema);
                              open the home with the same schema */
  const char *passphrase;  /* the manager's passphrase (required); not
                              NUL-terminated necessarily: passphrase_len bytes */
  size_t passphrase_len;
} fs_device_init_opts;

#define FS_DEVICE_INIT_OPTS_VERSION 1
#define FS_DEVICE_INIT_OPTS_INIT                                                                   \
  { .version = FS_DEVICE_INIT_OPTS_VERSION }

/* Creates HOME (0700) with a new encrypted store, a random device id, a
 * fresh data key wrapped under the passphrase, and fresh key pairs sealed
 * under the data key.  With out non-NULL the new device is returned
 * unlocked (caller-owned: fs_device_close it); with out NULL it is closed.
 * Refuses to overwrite an existing store or keys (FS_EEXIST); FS_EINVAL for
 * an empty or overlong manager name, or a passphrase shorter than
 * FS_PASSPHRASE_MIN_CHARS characters or longer than FS_PASSPHRASE_MAX
 * bytes; FS_ENOMEM when the key derivation's memory (256 MiB) cannot be
 * had; FS_EVERSION (see the top).  On failure nothing is left behind. */
FS_EXTERN int fs_device_create(fs_device **out, const char *home, const fs_device_init_opts *opts);

/* Opens the device home HOME made by fs_device_create, LOCKED: it knows its
 * home and device id, and nothing else until fs_device_unlock.  `schema`
 * (NULL = field-sales) must outlive the device and be the one the home was
 * made with.  *out is caller-owned: fs_device_close it; NULL on failure.
 * FS_ENOTFOUND (with a sentence telling to run `fieldsync init`) when there
 * is no store; FS_EVERSION for a home made by fieldsync 0.2 or older, whose
 * store is not encrypted (the sentence says what to do); FS_ECORRUPT for a
 * damaged keys/store.key; FS_EAUTH when keys/store.key is accessible by
 * group or others. */
FS_EXTERN int fs_device_open(fs_device **out, const char *home, const fs_schema *schema);

typedef struct fs_unlock_opts {
  unsigned version;       /* FS_UNLOCK_OPTS_VERSION: FS_UNLOCK_OPTS_INIT */
  const char *passphrase; /* the manager's passphrase, passphrase_len bytes */
  size_t passphrase_len;
  const unsigned char *key; /* or the data key itself, FS_DATA_KEY_SIZE bytes
                               (e.g. from head office's recovery); exactly
                               one of passphrase and key */
  /* version 2: */
  int renew_lease; /* non-zero: when the offline lease ran out, ask head
                      office for a new one before refusing (network) */
} fs_unlock_opts;

#define FS_UNLOCK_OPTS_VERSION 2
#define FS_UNLOCK_OPTS_INIT                                                                        \
  { .version = FS_UNLOCK_OPTS_VERSION }

/* Unlocks the device: the data key from the passphrase (Argon2id, about a
 * second) or as given, then the store is opened under it.  The library
 * keeps the data key in locked memory (mlock, where the system allows it)
 * until fs_device_lock or fs_device_close; the caller may wipe its copies of
 * the passphrase and key as soon as this returns.  FS_OK at once when the
 * device is already unlocked.  FS_EAUTH for a wrong passphrase or key (the
 * device stays locked); FS_EINVAL (neither or both of passphrase and key);
 * FS_ENOMEM; FS_EINVAL for a head-office store or another schema; the
 * errors of fs_store_open.
 *
 * The offline lease: an enrolled device is unlocked only while the lease
 * head office signed at its last enrollment or successful sync holds
 * ("this device may be unlocked until T", by this laptop's clock; 14 days
 * unless head office set otherwise for the manager).  Past T, or with no
 * lease or one that does not verify against head office's pinned key,
 * the device stays locked: FS_ELEASE, with the sentence that says since
 * when the laptop has not synced and that it must.  With renew_lease set
 * (version 2) an unlock whose lease ran out first asks head office for a
 * new one (the key proven, the store opened internally; the network as
 * for fs_sync) and is reported unlocked only once a new lease verified;
 * FS_ENETWORK etc. when head office cannot be asked, FS_EWIPED when it
 * answers with a wipe order (the home is then gone, fs_device_wipe).  A
 * device never enrolled has no lease and is not restricted.
 * fs_device_unlock_cached refuses the same way (FS_ELEASE; it never goes
 * to the network). */
FS_EXTERN int fs_device_unlock(fs_device *dev, const fs_unlock_opts *opts);

/* The device's offline lease (unlocked device): FS_OK with *issued (when
 * head office last issued it: the last enrollment or sync) and *until
 * (the end) in milliseconds; FS_ELEASE with the sentence when it ran out
 * or is missing or forged (the times then 0 when unknown); FS_ENOTFOUND
 * when the device is not enrolled (no lease needed); FS_ELOCKED. */
FS_EXTERN int fs_device_lease(int64_t *issued, int64_t *until, fs_device *dev);

/* Crypto-shreds the device's home, as head office's wipe order does at
 * the next contact of a device revoked with `--wipe`: the device is
 * locked, its cached key forgotten, the wrapped data key (keys/store.key)
 * overwritten with random bytes, synced and removed first (from then on
 * nothing in the home can be decrypted), then the sealed identity, lease,
 * store, WAL and SHM overwritten and removed, and the other files
 * fieldsync made in the home removed; the keys directory and the home go
 * when empty.  Unsent changes are lost.  The device stays open but
 * empty: only fs_device_close is of use.  FS_EIO naming the first file
 * that could not be removed. */
FS_EXTERN int fs_device_wipe(fs_device *dev);

/* Locks the device again: closes the store (an open fs_tx_begin
 * transaction is rolled back) and wipes the data key and secret keys from
 * memory.  The cached key of the keyring is not touched
 * (fs_device_forget_key).  NULL and a locked device are fine. */
FS_EXTERN void fs_device_lock(fs_device *dev);

/* 1 while the device is locked (also for NULL), 0 once unlocked. */
FS_EXTERN int fs_device_locked(const fs_device *dev);

/* Changes the passphrase: the data key is unwrapped with `old` and wrapped
 * again under `new_` (a fresh salt; the current Argon2id parameters); the
 * store is not rewritten.  The device may be locked or unlocked.  The key
 * file is replaced atomically: after a crash either passphrase works, never
 * neither.  FS_EAUTH when `old` is wrong (nothing changed); FS_EINVAL for a
 * new passphrase that is too short or too long; FS_EIO, FS_ENOMEM. */
FS_EXTERN int fs_device_change_passphrase(fs_device *dev, const char *old, size_t old_len,
                                          const char *new_, size_t new_len);

/* A forgotten passphrase (docs/security.md, "Forgotten passphrase").  At
 * enrollment, and at a later sync if head office did not acknowledge it
 * then, the device escrows its data key with head office: sealed to head
 * office's X25519 key (crypto_box_seal) and bound to this device's id.
 * Head office releases it only for a recovery its staff approved for this
 * device (`fieldsync-server recover DEVICE`), against the one-time code
 * they read to the manager, and only sealed to a key this call makes for
 * the request.  Needs the network; the device may be locked (it usually
 * is) or unlocked. */
typedef struct fs_recover_opts {
  unsigned version;           /* FS_RECOVER_OPTS_VERSION: FS_RECOVER_OPTS_INIT */
  const char *code;           /* the code head office gave, as typed: case,
                                 spaces and dashes do not matter */
  const char *new_passphrase; /* the passphrase from now on, new_passphrase_len
                                 bytes (the rules of fs_device_create) */
  size_t new_passphrase_len;
} fs_recover_opts;

#define FS_RECOVER_OPTS_VERSION 1
#define FS_RECOVER_OPTS_INIT                                                                       \
  { .version = FS_RECOVER_OPTS_VERSION }

/* Recovers the device with head office: sends the code (POST /v1/recover),
 * verifies the answer against head office's key pinned at enrollment,
 * checks that the released key opens this device's store, then wraps it
 * under the new passphrase (the store is not rewritten; the old passphrase
 * stops working at once).  On success the device is unlocked.  The code
 * and keys are wiped; the caller may wipe its copies when this returns.
 * Errors, after each of which nothing on the laptop changed:
 * FS_EINVAL (a malformed code, a new passphrase too short or too long, a
 * device that never enrolled, so has no record of head office); FS_EPERM
 * (head office has no pending approval for this device: not approved,
 * expired, already used, or burned by wrong codes; the sentence says
 * which); FS_EAUTH (a wrong code, which counts against the approval, or an
 * answer that does not verify or does not open the store); FS_EREVOKED;
 * FS_ENOTFOUND (head office does not know the device); FS_ECONFLICT (head
 * office holds no escrowed key of it); FS_ENETWORK; FS_EIO, FS_ENOMEM.
 * The code is spent when head office answers with the key, so a failure
 * after that (a full disk) needs a new approval. */
FS_EXTERN int fs_device_recover(fs_device *dev, const fs_recover_opts *opts);

/* The session's key cache (the Linux kernel keyring: type "user",
 * description "fieldsync:DEVICE_ID" in the session keyring, readable by
 * the processes of this login session only, removed by the kernel when its
 * time is up).  It is what `fieldsync unlock` fills and `fieldsync lock`
 * empties, so an application and the command line share one unlock.
 *
 * fs_device_unlock_cached  unlocks with the cached key: FS_ELOCKED (with
 *                          the sentence to unlock) when none is cached or it
 *                          expired, or there is no keyring; a cached key that
 *                          no longer opens the device is removed, FS_ELOCKED.
 * fs_device_cache_key      caches the key of an unlocked device for
 *                          `seconds` (0 = FS_KEY_CACHE_DEFAULT_S; at most
 *                          FS_KEY_CACHE_MAX_S), replacing a cached one.
 *                          FS_ELOCKED when the device is locked, FS_EINVAL
 *                          for a time out of range, FS_EIO when the keyring
 *                          refuses.
 * fs_device_forget_key     removes the cached key at once (revoked, then
 *                          unlinked); FS_OK also when none was cached.  The
 *                          device itself stays as it is. */
#define FS_KEY_CACHE_DEFAULT_S (8 * 3600)
#define FS_KEY_CACHE_MAX_S (7 * 24 * 3600)
FS_EXTERN int fs_device_unlock_cached(fs_device *dev);
FS_EXTERN int fs_device_cache_key(fs_device *dev, int64_t seconds);
FS_EXTERN int fs_device_forget_key(fs_device *dev);

/* Closes the store and wipes the keys.  NULL is fine. */
FS_EXTERN void fs_device_close(fs_device *dev);

/* The device's store, for the writes and queries of fieldsync.h.  Borrowed:
 * valid until fs_device_lock or fs_device_close; never fs_store_close it.
 * NULL for NULL, and NULL while the device is locked (then fs_errmsg() says
 * how to unlock it): check it before passing it on. */
FS_EXTERN fs_store *fs_device_store(fs_device *dev);

/* The home directory the device was opened with (borrowed). */
FS_EXTERN const char *fs_device_home(const fs_device *dev);

/* The device id (16 hex digits, the store's fs_store_device_id), known
 * also while locked (borrowed; NULL for NULL). */
FS_EXTERN const char *fs_device_id(const fs_device *dev);

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
 * TLS trust), FS_EREVOKED, FS_ENETWORK, FS_EEXIST (already enrolled),
 * FS_ELOCKED (the device is locked). */
FS_EXTERN int fs_enroll(fs_device *dev, const fs_enroll_opts *opts);

/* --------------------------------------------------------------- sync */

typedef struct fs_sync_stats {
  unsigned version;  /* FS_SYNC_STATS_VERSION: FS_SYNC_STATS_INIT */
  int64_t pushed;    /* rows head office acknowledged (refused ones included) */
  int64_t pulled;    /* rows received and merged */
  int64_t conflicts; /* concurrent edits logged on this device */
  int64_t refused;   /* rows or cells head office refused */
  int64_t batches;   /* envelopes exchanged */
  /* version 2 */
  int64_t recovered; /* rows head office sent back because this store was
                        behind its receipts (restored from an older copy) */
  int64_t rewinds;   /* times the push chain went back to head office's
                        position (head office restored from a backup, or
                        this store behind its receipts) */
} fs_sync_stats;

#define FS_SYNC_STATS_VERSION 2
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
 * Receipts: an acknowledgement that does not verify against head office's
 * pinned key is FS_EAUTH, and nothing is taken as delivered.  A store
 * found behind its receipts first gets back from head office every row
 * head office holds of it (its own included) and takes up the acknowledged
 * position again; a head office found behind them (restored from a backup)
 * gets every change since the position it still has sent again.  A store
 * whose chain head office has moved past without any receipt of it here
 * (a copy of this device pushed) is refused, FS_ECONFLICT.
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
 * Every successful sync renews the device's offline lease (see
 * fs_device_unlock).  A device head office revoked with a wipe order gets
 * the order at its next contact, verifies it against the pinned key,
 * crypto-shreds its home (fs_device_wipe), confirms to head office and
 * returns FS_EWIPED; a wipe order that does not verify is refused
 * (FS_EAUTH) and nothing is deleted.
 *
 * FS_ENETWORK when head office cannot be reached (nothing lost),
 * FS_ECANCELED, FS_EREVOKED, FS_EAUTH, FS_EBUSY, FS_ESKEW; FS_EINVAL when
 * the device is not enrolled or an option is out of range; FS_EVERSION
 * (see the top). */
FS_EXTERN int fs_sync(fs_sync_stats *stats, fs_device *dev, const fs_sync_opts *opts);

/* ------------------------------------------------------------ receipts */

/* Every acknowledgement head office gives a push is signed with its key
 * over (device, sequence, envelope hash, accepted and refused counts, its
 * time); the device verifies it against the key pinned at enrollment
 * before it takes the push as delivered, and keeps it as a receipt, in its
 * store and in HOME/receipts (docs/protocol.md, "Receipts").
 *
 * fs_receipts_json: the receipts as a JSON array, oldest first, each with
 * seq, at (head office's time, ISO-8601 UTC), received_at, accepted,
 * refused, hash (of the envelope), cursor (the push position it
 * acknowledged), in_store and in_file (where this device holds it).  *out
 * caller-owned (fs_free).  FS_EIO / FS_ECORRUPT for a file or store that
 * cannot be read. */
FS_EXTERN int fs_receipts_json(char **out, fs_device *dev);

/* Checks every receipt (the file's and the store's) against head office's
 * pinned key, and that the two copies agree.  FS_OK with *checked the
 * receipts verified; FS_EAUTH naming the first receipt whose signature or
 * text does not hold, FS_ECORRUPT for a damaged line or copies that
 * differ; FS_EINVAL when the device is not enrolled. */
FS_EXTERN int fs_receipts_verify(int64_t *checked, fs_device *dev);

/* Is this store behind its receipts (restored from an older copy, or it
 * lost writes after they were pushed)?  *store_seq gets the last push the
 * store records as acknowledged, *receipt_seq the last one the receipts
 * file knows.  FS_OK when the store is not behind (or not enrolled);
 * FS_ECONFLICT, with the sentence to show, when it is: the next fs_sync
 * recovers from head office what it acknowledged.  Errors of reading. */
FS_EXTERN int fs_device_check_receipts(int64_t *store_seq, int64_t *receipt_seq, fs_device *dev);

#ifdef __cplusplus
}
#endif
#endif
