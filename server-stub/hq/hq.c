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
 *  - the secret keys are wiped when the handle is closed;
 *  - a store created encrypted (fs_hq_create_encrypted) stays encrypted:
 *    the file itself says so (fsi_store_is_encrypted), every open reads its
 *    key from the file the environment names (fsi_hq_key_load), keeps it in
 *    guarded memory for backups and wipes it at close; a plain store is
 *    opened without a key and stays plain.
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
    " backup_hlc INTEGER NOT NULL, devices TEXT NOT NULL);"
    /* offline leases (lease.c): a manager's lease length, when not the default */
    "CREATE TABLE IF NOT EXISTS hq_lease_policy(manager TEXT PRIMARY KEY,"
    " days INTEGER NOT NULL, set_at INTEGER NOT NULL);"
    /* remote wipes (lease.c): ordered with the revocation, given to the device
     * with its refusals, confirmed by it */
    "CREATE TABLE IF NOT EXISTS hq_wipe(site INTEGER PRIMARY KEY, ordered_at INTEGER NOT NULL,"
    " delivered_at INTEGER, confirmed_at INTEGER, complete INTEGER);";

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

/* ----------------------------------------------------- the store's key */

/* Reads a key file: 64 hex digits (whitespace after them allowed) or 32
 * raw bytes. */
static int read_key_file(unsigned char *key, const char *path, int env) {
  enum { MAX = 160 };
  char *buf = sodium_malloc(MAX + 1);
  if (!buf) return fsi_fail(FS_ENOMEM, "out of memory");
  int rc = FS_OK;
  FILE *f = fopen(path, "rb");
  if (!f) {
    rc = fsi_fail(env ? FS_EAUTH : FS_EIO, "cannot read the server store's key file %s: %s%s", path,
                  strerror(errno),
                  env ? " (named by " FS_HQ_KEY_ENV " or the systemd credential)" : "");
    goto done;
  }
  size_t n = fread(buf, 1, MAX + 1, f);
  fclose(f);
  size_t hexlen = n;
  while (hexlen > 0 && (buf[hexlen - 1] == '\n' || buf[hexlen - 1] == '\r' ||
                        buf[hexlen - 1] == ' ' || buf[hexlen - 1] == '\t'))
    hexlen--;
  size_t got = 0;
  if (n == FSI_STORE_KEYBYTES) {
    memcpy(key, buf, FSI_STORE_KEYBYTES);
  } else if (hexlen != 2 * FSI_STORE_KEYBYTES ||
             sodium_hex2bin(key, FSI_STORE_KEYBYTES, buf, hexlen, NULL, &got, NULL) != 0 ||
             got != FSI_STORE_KEYBYTES) {
    rc = fsi_fail(env ? FS_EAUTH : FS_EINVAL,
                  "%s holds no server store key: it must hold 64 hex digits (make one with "
                  "`openssl rand -hex 32`) or 32 raw bytes; give the key file with --key-file "
                  "FILE or " FS_HQ_KEY_ENV "=FILE",
                  path);
  }
done:
  sodium_free(buf); /* wipes it */
  if (rc) sodium_memzero(key, FSI_STORE_KEYBYTES);
  return rc;
}

/* A new key file: a random key as 64 hex digits, mode 0600, never over an
 * existing file. */
static int make_key_file(unsigned char *key, const char *path) {
  char hex[2 * FSI_STORE_KEYBYTES + 2];
  randombytes_buf(key, FSI_STORE_KEYBYTES);
  sodium_bin2hex(hex, sizeof hex - 1, key, FSI_STORE_KEYBYTES);
  size_t len = strlen(hex);
  hex[len++] = '\n';
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  int ok = fd >= 0 && write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0;
  int err = errno;
  if (fd >= 0) close(fd);
  sodium_memzero(hex, sizeof hex);
  if (!ok) {
    if (fd >= 0) unlink(path);
    sodium_memzero(key, FSI_STORE_KEYBYTES);
    return fsi_fail(FS_EIO, "cannot create the key file %s: %s", path, strerror(err));
  }
  return FS_OK;
}

static const char KEY_HOW[] = "give its key file with --key-file FILE or " FS_HQ_KEY_ENV
                              "=FILE (under systemd: LoadCredential=" FS_HQ_KEY_CREDENTIAL ":FILE)";

int fsi_hq_key_load(unsigned char *key, const char *home) {
  const char *env = getenv(FS_HQ_KEY_ENV);
  if (env && *env) return read_key_file(key, env, 1);
  const char *cred = getenv("CREDENTIALS_DIRECTORY");
  if (cred && *cred) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", cred, FS_HQ_KEY_CREDENTIAL);
    if (access(path, F_OK) == 0) return read_key_file(key, path, 1);
  }
  return fsi_fail(FS_EAUTH, "the server store in %s is encrypted: %s; nothing was changed", home,
                  KEY_HOW);
}

int fsi_hq_key_wrong(const char *home) {
  return fsi_fail(FS_EAUTH,
                  "the key given does not open the encrypted server store in %s: %s, the one "
                  "it was created with; nothing was changed",
                  home, KEY_HOW);
}

/* ------------------------------------------------------------- the home */

static int create(const char *home, const fs_schema *schema, const char *key_file, int *made) {
  char store[4096], keys[4096];
  unsigned char *key = NULL;
  int rc;
  paths(home, store, keys, sizeof store);
  if (made) *made = 0;
  if (access(store, F_OK) == 0)
    return fsi_fail(FS_EEXIST,
                    "%s already holds a fieldsync server store; it was left "
                    "untouched",
                    home);
  if (key_file) {
    if (sodium_init() < 0) return fsi_fail(FS_ENOMEM, "libsodium failed to initialise");
    if (!(key = sodium_malloc(FSI_STORE_KEYBYTES))) return fsi_fail(FS_ENOMEM, "out of memory");
    if (access(key_file, F_OK) == 0) {
      rc = read_key_file(key, key_file, 0);
    } else if (!(rc = make_key_file(key, key_file)) && made) {
      *made = 1;
    }
    if (rc) goto done;
  }
  if (mkdir(keys, 0700) != 0 && errno != EEXIST) {
    rc = fsi_fail(FS_EIO, "cannot create %s: %s", keys, strerror(errno));
    goto done;
  }
  if ((rc = fsi_keys_generate(keys))) goto done;
  fs_store *st = NULL;
  rc = fsi_store_open_keyed(&st, store, schema, FS_OPEN_CREATE | FS_OPEN_SERVER, key);
  if (!rc) rc = create_tables(st);
  fs_store_close(st);
done:
  sodium_free(key);
  if (rc && made && *made) {
    unlink(key_file);
    *made = 0;
  }
  return rc;
}

int fs_hq_create_schema(const char *home, const fs_schema *schema) {
  return create(home, schema, NULL, NULL);
}

int fs_hq_create_encrypted(const char *home, const fs_schema *schema, const char *key_file,
                           int *made) {
  if (!key_file || !*key_file) return fsi_fail(FS_EINVAL, "an encrypted store needs a key file");
  return create(home, schema, key_file, made);
}

int fs_hq_encrypted(const fs_hq *hq) { return hq->key != NULL; }

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
  if (sodium_init() < 0) return fsi_fail(FS_ENOMEM, "libsodium failed to initialise");
  hq = calloc(1, sizeof *hq);
  if (!hq) return fsi_fail(FS_ENOMEM, "out of memory");
  hq->serve_fd = -1;
  pthread_mutex_init(&hq->mu, NULL);
  if (!(hq->home = strdup(home))) {
    free(hq);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  if ((rc = fsi_keys_load(&hq->keys, keys))) goto done;
  int encrypted = 0;
  if ((rc = fsi_store_is_encrypted(store, &encrypted))) goto done;
  if (encrypted) {
    if (!(hq->key = sodium_malloc(FSI_STORE_KEYBYTES))) {
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    if ((rc = fsi_hq_key_load(hq->key, home))) goto done;
  }
  rc = fsi_store_open_keyed(&hq->st, store, schema, FS_OPEN_SERVER, hq->key);
  if (rc == FS_EAUTH && encrypted) rc = fsi_hq_key_wrong(home);
  if (rc) goto done;
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
  sodium_free(hq->key); /* wipes it */
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
