/*
 * hq.c — a head-office home: creating and opening it, closing it, the lock
 * and the server's keys.
 *
 * A home holds store.db (the central replica plus the tables of the
 * registry, tokens, audit log and restore record, created here) and keys/
 * (the server's Ed25519 and X25519 key pairs).  Invariants:
 *  - an open fs_hq is a server store (never a device store) with its keys
 *    loaded and every head-office table present;
 *  - one mutex (hq->mu) serialises every use of the store, the reused batch
 *    and the nonce table: SQLite has one writer, and the statement cache and
 *    batch are not shared-safe (see hqInt.h for which function takes it);
 *  - the store has an epoch (32 random hex digits, fs_meta "hq_epoch"),
 *    made once and replaced only by a restore from a backup: pull cursors
 *    count change numbers of one epoch;
 *  - at most one process serves a home: `serve` holds an exclusive lock on
 *    HOME/serve.lock for as long as it runs, which `restore` also takes;
 *  - the secret keys are wiped when the handle is closed.
 */
#include "hqInt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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
    "CREATE TABLE IF NOT EXISTS hq_cursor(site INTEGER PRIMARY KEY, seq INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hq_restore(id INTEGER PRIMARY KEY, restored_at INTEGER NOT NULL,"
    " source TEXT NOT NULL, old_epoch TEXT, new_epoch TEXT NOT NULL,"
    " backup_hlc INTEGER NOT NULL, devices TEXT NOT NULL);";

/* The store's epoch: made once (by whichever process opens the home
 * first), read into hq->epoch. */
static int load_epoch(fs_hq *hq) {
  unsigned char b[16];
  char hex[HQ_EPOCH_SIZE];
  randombytes_buf(b, sizeof b);
  for (size_t i = 0; i < sizeof b; i++) snprintf(hex + 2 * i, 3, "%02x", b[i]);
  int rc = fsi_sql_run(hq->st, "recording the store's epoch",
                       "INSERT INTO fs_meta(key, value) VALUES('hq_epoch', ?1)"
                       " ON CONFLICT(key) DO NOTHING",
                       "t", hex);
  char *v = NULL;
  if (!rc) rc = fs_store_get(&v, hq->st, "hq_epoch");
  if (!rc && strlen(v) != HQ_EPOCH_SIZE - 1)
    rc = fsi_fail(FS_ECORRUPT, "the epoch of this server store is damaged");
  if (!rc) memcpy(hq->epoch, v, HQ_EPOCH_SIZE);
  free(v);
  return rc;
}

/* The head-office tables, made when missing (an older home gains them). */
static int create_tables(fs_store *st) {
  if (sqlite3_exec(fsi_store_db(st), HQ_SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "creating the server tables");
  return fsi_hq_recovery_tables(st);
}

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
    return fsi_fail(FS_EEXIST,
                    "%s already holds a fieldsync server store; it was left "
                    "untouched",
                    home);
  if (mkdir(keys, 0700) != 0 && errno != EEXIST)
    return fsi_fail(FS_EIO, "cannot create %s: %s", keys, strerror(errno));
  if ((rc = fsi_keys_generate(keys))) return rc;
  fs_store *st = NULL;
  rc = fs_store_open(&st, store, schema, FS_OPEN_CREATE | FS_OPEN_SERVER);
  if (!rc) rc = create_tables(st);
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
    return fsi_fail(FS_ENOTFOUND,
                    "no fieldsync server in %s: run `fieldsync-server init` "
                    "first",
                    home);
  hq = calloc(1, sizeof *hq);
  if (!hq) return fsi_fail(FS_ENOMEM, "out of memory");
  hq->serve_fd = -1;
  pthread_mutex_init(&hq->mu, NULL);
  if (!(hq->home = strdup(home))) {
    free(hq);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  if ((rc = fsi_keys_load(&hq->keys, keys))) goto done;
  if ((rc = fs_store_open(&hq->st, store, schema, FS_OPEN_SERVER))) goto done;
  if (!fsi_store_is_hq(hq->st)) {
    rc = fsi_fail(FS_EINVAL, "%s is a device store, not a server store", store);
    goto done;
  }
  if ((rc = create_tables(hq->st))) goto done;
  if ((rc = load_epoch(hq))) goto done;
  hq->batch = fsi_change_batch_new();
  if (!hq->batch) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  fsi_keys_fingerprint(hq->fingerprint, &hq->keys.pub);
  fsi_hq_nonces_init(&hq->nonces);
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
  fsi_hq_nonces_free(&hq->nonces);
  pthread_mutex_destroy(&hq->mu);
  if (hq->serve_fd >= 0) close(hq->serve_fd); /* releases the serving lock */
  free(hq->home);
  free(hq);
}

int fsi_hq_serve_lock(int *fd_out, const char *home, int *holder) {
  char path[4200];
  *fd_out = -1;
  *holder = 0;
  snprintf(path, sizeof path, "%s/serve.lock", home);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fsi_fail(FS_EIO, "cannot open %s: %s", path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    if (n > 0) pid[n] = '\0';
    *holder = atoi(pid);
    close(fd);
    return FS_EBUSY;
  }
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  /* the lock holds without the number, which only improves a message */
  int written = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) == n;
  (void)written;
  *fd_out = fd;
  return FS_OK;
}

int fs_hq_claim_serving(fs_hq *hq) {
  int holder = 0, fd = -1;
  if (hq->serve_fd >= 0) return FS_OK;
  int rc = fsi_hq_serve_lock(&fd, hq->home, &holder);
  if (rc == FS_EBUSY)
    return fsi_fail(FS_EBUSY,
                    "another fieldsync-server (process %d) is already serving %s; one process "
                    "serves a home: stop that one first",
                    holder, hq->home);
  if (rc) return rc;
  hq->serve_fd = fd;
  return FS_OK;
}

fs_store *fs_hq_store(fs_hq *hq) { return hq->st; }
void fs_hq_lock(fs_hq *hq) { pthread_mutex_lock(&hq->mu); }
void fs_hq_unlock(fs_hq *hq) { pthread_mutex_unlock(&hq->mu); }
const char *fs_hq_key_fingerprint(const fs_hq *hq) { return hq->fingerprint; }

/* The newest clock in the store is a time this machine's clock has seen
 * pass (head office's own changes) or accepted as at most the skew bound
 * ahead (a device's); a wall clock further behind it than the bound went
 * back, and serving with it would refuse every device's changes as "ahead"
 * and stamp head office's own changes in the past of what it holds. */
int fs_hq_check_clock(fs_hq *hq) {
  pthread_mutex_lock(&hq->mu);
  int64_t newest = HLC_PHYS(fsi_store_clock(hq->st)), bound = fsi_store_max_skew(hq->st);
  pthread_mutex_unlock(&hq->mu);
  int64_t now = fsi_util_now_ms();
  if (newest - now <= bound) return FS_OK;
  char by[48], at[32], here[32];
  fsi_util_duration(by, newest - now);
  fsi_util_date(at, newest);
  fsi_util_date(here, now);
  return fsi_fail(FS_ESKEW,
                  "this server's clock is %s behind the newest change in its store (the "
                  "clock reads %s, the change is stamped %s); correct the clock (timedatectl "
                  "/ NTP) and start again; if the clock is right, a clock that ran ahead "
                  "stamped that change: --trust-clock runs anyway",
                  by, here, at);
}
