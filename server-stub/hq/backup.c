/*
 * backup.c — `fieldsync-server backup FILE` and `restore FILE`: a
 * consistent copy of head office's store while it serves, and putting such
 * a copy back.
 *
 * A backup is SQLite's online backup (sqlite3_backup_*) of the store, in
 * one step under the handle's lock, so it is one read transaction: a
 * snapshot of committed state however much `serve` (another process)
 * writes meanwhile, and WAL mode lets those writers go on.  It is written
 * to a private temporary file, checked, synced and renamed into place, so
 * FILE is either a whole backup or absent.
 *
 * A restore replaces the home's store with a backup.  Invariants:
 *  - it refuses while a server serves the home (the serving lock,
 *    hq.c), and refuses a file that is not a head-office store of this
 *    schema and of this head office (its site id), or that fails SQLite's
 *    integrity check; then nothing changed;
 *  - the backup is copied (through SQLite, so a -wal beside FILE is read
 *    too) into HOME/store.db.restoring, prepared there, and renamed over
 *    store.db: the store is the old one or the restored one, never a mix;
 *    the old one is kept beside it as store.db.before-restore-TIME;
 *  - the restored store starts a new epoch (pull cursors of the old one
 *    are not trusted: devices pull again from the beginning), its clock and
 *    change counters never go back, it records the time of the restore for
 *    the write policy (devices send back other devices' writes made before
 *    it, which head office lost: core/policy.c), and it appends a record
 *    of the restore (hq_restore) with each device's chain position before
 *    and after;
 *  - the audit log and every device's chain are those of the backup: a
 *    device that finds head office behind its receipts goes back to that
 *    position and chains its next envelope to it (docs/protocol.md,
 *    "Head office restored from a backup"), so `verify-log` holds.
 */
#include "hqInt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static int fsync_path(const char *path, int dir) {
  int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = fsync(fd);
  close(fd);
  return r;
}

/* The directory of `path` into out[n] ("." when it has none). */
static void dir_of(char *out, size_t n, const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(out, n, ".");
  else if (slash == path)
    snprintf(out, n, "/");
  else
    snprintf(out, n, "%.*s", (int)(slash - path), path);
}

/* A new, empty, owner-only file (a store holds customer data). */
static int create_private(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return fsi_fail(errno == EEXIST ? FS_EEXIST : FS_EIO, "cannot create %s: %s", path,
                    strerror(errno));
  int e = fchmod(fd, 0600) != 0 ? errno : 0;
  close(fd);
  if (e) {
    unlink(path);
    return fsi_fail(FS_EIO, "cannot set the mode of %s: %s", path, strerror(e));
  }
  return FS_OK;
}

static void unlink_sidecars(const char *path) {
  static const char *const suffix[] = {"-wal", "-shm", "-journal"};
  char p[PATH_MAX + 16];
  for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
    snprintf(p, sizeof p, "%s%s", path, suffix[i]);
    unlink(p);
  }
}

/* Copies the whole database `src` into `dst` (sqlite3_backup, one step:
 * one read transaction on src).  SQLITE_BUSY or _LOCKED are retried for a
 * while.  `what` names the copy in an error. */
static int copy_db(sqlite3 *dst, sqlite3 *src, const char *what) {
  sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
  if (!b) return fsi_fail(FS_EIO, "%s: %s", what, sqlite3_errmsg(dst));
  int r;
  for (int tries = 0;; tries++) {
    r = sqlite3_backup_step(b, -1);
    if ((r != SQLITE_BUSY && r != SQLITE_LOCKED) || tries == 200) break;
    sqlite3_sleep(50);
  }
  int fin = sqlite3_backup_finish(b);
  if (r != SQLITE_DONE || fin != SQLITE_OK)
    return fsi_fail(FS_EIO, "%s failed: %s (SQLite error %d)", what, sqlite3_errmsg(dst), r);
  return FS_OK;
}

/* "ok" from PRAGMA quick_check on db. */
static int quick_check_ok(sqlite3 *db) {
  sqlite3_stmt *s = NULL;
  int ok = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    ok = v && !strcmp(v, "ok");
  }
  sqlite3_finalize(s);
  return ok;
}

/* The first column of the first row of constant `sql` (one text argument,
 * may be NULL) as int64 into *out; 0 when there is none. */
static int db_i64(sqlite3 *db, const char *sql, const char *arg, int64_t *out) {
  sqlite3_stmt *s = NULL;
  int found = 0;
  *out = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return 0;
  if (arg) sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
    *out = sqlite3_column_int64(s, 0);
    found = 1;
  }
  sqlite3_finalize(s);
  return found;
}

/* The same for text, copied into out[n] ("" when none). */
static int db_text(sqlite3 *db, const char *sql, const char *arg, char *out, size_t n) {
  sqlite3_stmt *s = NULL;
  int found = 0;
  out[0] = '\0';
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return 0;
  if (arg) sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
    found = 1;
  }
  sqlite3_finalize(s);
  return found;
}

static const char META_SQL[] = "SELECT value FROM fs_meta WHERE key = ?1";

/* ------------------------------------------------------------- backup */

/* Opens a copy (a backup, a staged restore) plain or, with a key,
 * encrypted; a new encrypted copy is written without a journal (the
 * encryption layer writes none) and keeps its pages' WAL-mode header, so
 * it opens as a store again. */
static int open_copy(sqlite3 **db, struct fsi_crypt **c, const char *path, const unsigned char *key,
                     int oflags, int fresh) {
  int rc = fsi_raw_open(db, c, path, key, oflags);
  if (rc || !fresh) return rc;
  sqlite3_exec(*db, key ? "PRAGMA journal_mode=OFF" : "PRAGMA journal_mode=DELETE", NULL, NULL,
               NULL);
  return FS_OK;
}

/* After the pages were copied: a plain copy is one file in rollback mode;
 * an encrypted one stays in WAL mode (its WAL goes when it is closed). */
static int settle_copy(sqlite3 *db, const unsigned char *key) {
  if (key) return 1;
  return sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) == SQLITE_OK;
}

static int backup_locked(int64_t *bytes, fs_hq *hq, const char *path, const char *tmp) {
  sqlite3 *dst = NULL;
  struct fsi_crypt *crypt = NULL;
  int rc = create_private(tmp);
  if (rc) return rc;
  /* an encrypted store's backup is encrypted under the same key */
  if ((rc = open_copy(&dst, &crypt, tmp, hq->key, SQLITE_OPEN_READWRITE, 1))) goto done;
  if ((rc = copy_db(dst, fsi_store_db(hq->st), "backing up the store"))) goto done;
  if (!settle_copy(dst, hq->key) || !quick_check_ok(dst)) {
    rc = fsi_fail(FS_EIO,
                  "the backup in %s does not pass SQLite's integrity check; it was not "
                  "kept",
                  tmp);
    goto done;
  }
  fsi_raw_close(dst, crypt);
  dst = NULL;
  crypt = NULL;
  struct stat sb;
  if (fsync_path(tmp, 0) != 0 || stat(tmp, &sb) != 0) {
    rc = fsi_fail(FS_EIO, "cannot write the backup %s: %s", tmp, strerror(errno));
    goto done;
  }
  *bytes = (int64_t)sb.st_size;
  /* link(2) does not replace: a FILE that appeared meanwhile is kept */
  if (link(tmp, path) != 0) {
    rc = fsi_fail(errno == EEXIST ? FS_EEXIST : FS_EIO, "cannot create %s: %s", path,
                  strerror(errno));
    goto done;
  }
  char dir[PATH_MAX];
  dir_of(dir, sizeof dir, path);
  fsync_path(dir, 1);
done:
  fsi_raw_close(dst, crypt);
  unlink(tmp);
  unlink_sidecars(tmp);
  return rc;
}

int fs_hq_backup(char **out, fs_hq *hq, const char *path) {
  char tmp[PATH_MAX];
  int64_t bytes = 0, envelopes = 0, devices = 0;
  *out = NULL;
  if (!path || !*path) return fsi_fail(FS_EINVAL, "backup needs the file to write (FILE)");
  if (access(path, F_OK) == 0)
    return fsi_fail(FS_EEXIST,
                    "%s already exists; a backup never overwrites a file: choose "
                    "another name or remove it",
                    path);
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= sizeof tmp)
    return fsi_fail(FS_EINVAL, "the backup path is too long: %.200s", path);
  pthread_mutex_lock(&hq->mu);
  int rc = backup_locked(&bytes, hq, path, tmp);
  if (!rc) {
    sqlite3 *db = fsi_store_db(hq->st);
    db_i64(db, "SELECT count(*) FROM hq_audit", NULL, &envelopes);
    db_i64(db, "SELECT count(*) FROM hq_device", NULL, &devices);
  }
  pthread_mutex_unlock(&hq->mu);
  if (rc) return rc;
  cJSON *o = cJSON_CreateObject();
  char when[32];
  fs_time_format(when, fsi_util_now_ms());
  cJSON_AddStringToObject(o, "backup", path);
  cJSON_AddNumberToObject(o, "bytes", (double)bytes);
  cJSON_AddNumberToObject(o, "devices", (double)devices);
  cJSON_AddNumberToObject(o, "envelopes", (double)envelopes);
  cJSON_AddStringToObject(o, "taken_at", when);
  *out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------- restore */

/* What the store being replaced says of itself, when it can be read. */
typedef struct current {
  int readable;
  char site[32], schema[128], epoch[HQ_EPOCH_SIZE];
  int64_t hlc, seq, dbv;
  cJSON *devices; /* [{"id","seq"}] */
} current;

static cJSON *positions(sqlite3 *db) {
  cJSON *arr = cJSON_CreateArray();
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT printf('%016x', site), manager, push_seq FROM hq_device"
                         " ORDER BY manager, site",
                         -1, &s, NULL) == SQLITE_OK) {
    while (sqlite3_step(s) == SQLITE_ROW) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "id", (const char *)sqlite3_column_text(s, 0));
      cJSON_AddStringToObject(o, "manager", (const char *)sqlite3_column_text(s, 1));
      cJSON_AddNumberToObject(o, "seq", (double)sqlite3_column_int64(s, 2));
      cJSON_AddItemToArray(arr, o);
    }
  }
  sqlite3_finalize(s);
  return arr;
}

/* Reads the current store (folding its WAL in, so the kept copy is whole). */
static void read_current(current *c, const char *store, const unsigned char *key) {
  sqlite3 *db = NULL;
  struct fsi_crypt *crypt = NULL;
  memset(c, 0, sizeof *c);
  if (access(store, F_OK) != 0) return;
  if (fsi_raw_open(&db, &crypt, store, key, SQLITE_OPEN_READWRITE) == FS_OK) {
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    c->readable = db_text(db, META_SQL, "site", c->site, sizeof c->site) &&
                  db_text(db, META_SQL, "schema", c->schema, sizeof c->schema);
    db_text(db, META_SQL, "hq_epoch", c->epoch, sizeof c->epoch);
    db_i64(db, META_SQL, "hlc", &c->hlc);
    db_i64(db, META_SQL, "seq", &c->seq);
    db_i64(db, META_SQL, "dbv", &c->dbv);
    c->devices = positions(db);
  }
  fsi_raw_close(db, crypt);
}

/* The backup is a head-office store of this schema and this head office,
 * whole.  FS_OK, or FS_EINVAL / FS_ECORRUPT naming what is wrong. */
static int check_backup(sqlite3 *db, const char *path, const current *c) {
  char magic[32], role[32], site[32], schema[128];
  int64_t n = 0;
  if (!db_text(db, META_SQL, "magic", magic, sizeof magic) || strcmp(magic, "fieldsync") != 0)
    return fsi_fail(FS_EINVAL, "%s is not a fieldsync store; nothing was restored", path);
  if (!db_text(db, META_SQL, "role", role, sizeof role) || strcmp(role, "server") != 0)
    return fsi_fail(FS_EINVAL, "%s is a device's store, not head office's; nothing was restored",
                    path);
  if (!db_i64(db,
              "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name IN"
              " ('hq_device','hq_audit','hq_token')",
              NULL, &n) ||
      n != 3)
    return fsi_fail(FS_EINVAL,
                    "%s has no device registry or audit log; it is not a backup of "
                    "a head-office store; nothing was restored",
                    path);
  db_text(db, META_SQL, "site", site, sizeof site);
  db_text(db, META_SQL, "schema", schema, sizeof schema);
  if (c->readable && strcmp(site, c->site) != 0)
    return fsi_fail(FS_EINVAL,
                    "%s is the store of another head office (site %s, not this home's %s); "
                    "devices enrolled here would not recognise it; nothing was restored",
                    path, site, c->site);
  if (c->readable && strcmp(schema, c->schema) != 0)
    return fsi_fail(FS_EINVAL,
                    "%s holds the \"%s\" schema, not this home's \"%s\"; nothing was "
                    "restored",
                    path, schema, c->schema);
  if (!quick_check_ok(db))
    return fsi_fail(FS_ECORRUPT, "%s fails SQLite's integrity check; nothing was restored", path);
  return FS_OK;
}

/* Prepares the copy as the restored store (one transaction): a new epoch,
 * counters and clock that never go back, the restore time for the write
 * policy, and the record of the restore. */
static int prepare_restored(sqlite3 *db, const char *path, const current *c, char *epoch,
                            cJSON **devices_out) {
  unsigned char b[16];
  for (;;) {
    randombytes_buf(b, sizeof b);
    for (size_t i = 0; i < sizeof b; i++) snprintf(epoch + 2 * i, 3, "%02x", b[i]);
    if (strcmp(epoch, c->epoch) != 0) break;
  }
  int64_t now_hlc = fsi_util_now_ms() << HLC_LOGICAL_BITS, backup_hlc = 0, seq = 0, dbv = 0;
  db_i64(db, META_SQL, "hlc", &backup_hlc);
  db_i64(db, META_SQL, "seq", &seq);
  db_i64(db, META_SQL, "dbv", &dbv);
  int64_t hlc = backup_hlc > c->hlc ? backup_hlc : c->hlc;
  int64_t restored = hlc > now_hlc ? hlc : now_hlc;
  cJSON *after = positions(db);
  /* each device's position here, with the one it had before the restore */
  cJSON *it;
  const cJSON *old;
  cJSON_ArrayForEach(it, after) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id"));
    double before = -1;
    cJSON_ArrayForEach(old, c->devices) {
      const char *oid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(old, "id"));
      if (id && oid && !strcmp(id, oid))
        before = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(old, "seq"));
    }
    if (before >= 0) cJSON_AddNumberToObject(it, "seq_before", before);
  }
  char *devtxt = cJSON_PrintUnformatted(after);
  int rc = FS_OK;
  sqlite3_stmt *s = NULL;
  static const char *const steps[] = {
      "BEGIN IMMEDIATE",
      "CREATE TABLE IF NOT EXISTS hq_restore(id INTEGER PRIMARY KEY, restored_at INTEGER NOT NULL,"
      " source TEXT NOT NULL, old_epoch TEXT, new_epoch TEXT NOT NULL,"
      " backup_hlc INTEGER NOT NULL, devices TEXT NOT NULL)",
      "INSERT INTO fs_meta(key, value) VALUES('hq_epoch', ?1), ('restored_hlc', ?2),"
      " ('hlc', ?3), ('seq', ?4), ('dbv', ?5) ON CONFLICT(key) DO UPDATE SET value = "
      "excluded.value",
      "INSERT INTO hq_restore(restored_at, source, old_epoch, new_epoch, backup_hlc, devices)"
      " VALUES(?6, ?7, ?8, ?1, ?9, ?10)",
      "COMMIT",
  };
  char abs[PATH_MAX];
  const char *source = realpath(path, abs) ? abs : path;
  for (size_t i = 0; !rc && i < sizeof steps / sizeof *steps; i++) {
    if (sqlite3_prepare_v2(db, steps[i], -1, &s, NULL) != SQLITE_OK) {
      rc = fsi_fail(FS_EIO, "preparing the restored store: %s", sqlite3_errmsg(db));
      break;
    }
    int np = sqlite3_bind_parameter_count(s);
    for (int k = 1; k <= np; k++) {
      switch (k) {
      case 1:
        sqlite3_bind_text(s, k, epoch, -1, SQLITE_STATIC);
        break;
      case 2:
        sqlite3_bind_int64(s, k, restored);
        break;
      case 3:
        sqlite3_bind_int64(s, k, restored);
        break;
      case 4:
        sqlite3_bind_int64(s, k, seq > c->seq ? seq : c->seq);
        break;
      case 5:
        sqlite3_bind_int64(s, k, dbv > c->dbv ? dbv : c->dbv);
        break;
      case 6:
        sqlite3_bind_int64(s, k, fsi_util_now_ms());
        break;
      case 7:
        sqlite3_bind_text(s, k, source, -1, SQLITE_STATIC);
        break;
      case 8:
        if (*c->epoch)
          sqlite3_bind_text(s, k, c->epoch, -1, SQLITE_STATIC);
        else
          sqlite3_bind_null(s, k);
        break;
      case 9:
        sqlite3_bind_int64(s, k, backup_hlc);
        break;
      case 10:
        sqlite3_bind_text(s, k, devtxt ? devtxt : "[]", -1, SQLITE_STATIC);
        break;
      }
    }
    if (sqlite3_step(s) != SQLITE_DONE)
      rc = fsi_fail(FS_EIO, "preparing the restored store: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    s = NULL;
  }
  if (rc) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  free(devtxt);
  if (rc) {
    cJSON_Delete(after);
    return rc;
  }
  *devices_out = after;
  return FS_OK;
}

/* Copies the backup into tmp and prepares it; *devices_out gets the
 * positions after the restore. */
static int stage(const char *path, const char *tmp, const unsigned char *key, const current *c,
                 char *epoch, cJSON **devices_out, int64_t *envelopes) {
  sqlite3 *src = NULL, *dst = NULL;
  struct fsi_crypt *src_crypt = NULL, *dst_crypt = NULL;
  int rc = fsi_raw_open(&src, &src_crypt, path, key, SQLITE_OPEN_READONLY);
  if (rc == FS_EAUTH)
    rc = fsi_fail(FS_EAUTH,
                  "the key of this home does not open the encrypted backup %s: it is a backup of "
                  "another store; nothing was restored",
                  path);
  if (rc) goto done;
  int64_t probe;
  if (!db_i64(src, "SELECT count(*) FROM sqlite_schema", NULL, &probe)) {
    rc = fsi_fail(FS_EINVAL, "%s is not a readable SQLite database; nothing was restored", path);
    goto done;
  }
  if ((rc = check_backup(src, path, c))) goto done;
  if ((rc = create_private(tmp))) goto done;
  if ((rc = open_copy(&dst, &dst_crypt, tmp, key, SQLITE_OPEN_READWRITE, 1))) goto done;
  if ((rc = copy_db(dst, src, "copying the backup"))) goto done;
  settle_copy(dst, key);
  if ((rc = prepare_restored(dst, path, c, epoch, devices_out))) goto done;
  db_i64(dst, "SELECT count(*) FROM hq_audit", NULL, envelopes);
done:
  fsi_raw_close(src, src_crypt);
  fsi_raw_close(dst, dst_crypt);
  return rc;
}

/* The key a restore needs: none when both the backup and the home's store
 * are plain; the home's key (fsi_hq_key_load) when both are encrypted.  A
 * backup of the other kind than the home's store is refused: a restore
 * keeps a home encrypted or plain as it was made. */
static int restore_key(unsigned char **key, const char *store, const char *path, const char *home) {
  int enc_backup = 0, enc_store = 0, have_store = access(store, F_OK) == 0, rc;
  *key = NULL;
  if ((rc = fsi_store_is_encrypted(path, &enc_backup))) return rc;
  if (have_store && (rc = fsi_store_is_encrypted(store, &enc_store))) return rc;
  if (have_store && enc_backup && !enc_store)
    return fsi_fail(FS_EINVAL,
                    "%s is an encrypted backup and the store of this home is not encrypted; "
                    "nothing was restored",
                    path);
  if (have_store && !enc_backup && enc_store)
    return fsi_fail(FS_EINVAL,
                    "%s is a backup without encryption and the store of this home is "
                    "encrypted; nothing was restored",
                    path);
  if (!enc_backup) return FS_OK;
  if (!(*key = sodium_malloc(FSI_STORE_KEYBYTES))) return fsi_fail(FS_ENOMEM, "out of memory");
  if ((rc = fsi_hq_key_load(*key, home)) || !have_store) return rc;
  /* a wrong key is told as such, before the backup is looked at */
  sqlite3 *db = NULL;
  struct fsi_crypt *c = NULL;
  rc = fsi_raw_open(&db, &c, store, *key, SQLITE_OPEN_READONLY);
  fsi_raw_close(db, c);
  return rc == FS_EAUTH ? fsi_hq_key_wrong(home) : FS_OK;
}

/* The name the replaced store is kept under: store.db.before-restore-TIME. */
static int kept_name(char *out, size_t n, const char *store) {
  time_t t = time(NULL);
  struct tm tm;
  char stamp[32];
  gmtime_r(&t, &tm);
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  int k = snprintf(out, n, "%s.before-restore-%s", store, stamp);
  for (int i = 2; k > 0 && (size_t)k < n && access(out, F_OK) == 0 && i < 1000; i++)
    k = snprintf(out, n, "%s.before-restore-%s-%d", store, stamp, i);
  return k > 0 && (size_t)k < n;
}

int fs_hq_restore(char **out, const char *home, const char *path) {
  char store[PATH_MAX - 64], tmp[PATH_MAX], kept[PATH_MAX] = "", epoch[HQ_EPOCH_SIZE];
  current c;
  cJSON *devices = NULL;
  int64_t envelopes = 0;
  unsigned char *key = NULL;
  int fd = -1, holder = 0, rc;
  *out = NULL;
  memset(&c, 0, sizeof c);
  if (!home || !path || !*path) return fsi_fail(FS_EINVAL, "restore needs the backup file (FILE)");
  if (sodium_init() < 0) return fsi_fail(FS_ENOMEM, "libsodium failed to initialise");
  if ((size_t)snprintf(store, sizeof store, "%s/store.db", home) >= sizeof store ||
      (size_t)snprintf(tmp, sizeof tmp, "%s/store.db.restoring", home) >= sizeof tmp)
    return fsi_fail(FS_EINVAL, "the home path is too long: %.200s", home);
  if (access(path, R_OK) != 0)
    return fsi_fail(FS_ENOTFOUND, "cannot read the backup %s: %s", path, strerror(errno));
  rc = fsi_hq_serve_lock(&fd, home, &holder);
  if (rc == FS_EBUSY)
    return fsi_fail(FS_EBUSY,
                    "a fieldsync-server (process %d) is serving %s; stop it first: restore "
                    "replaces the store it has open",
                    holder, home);
  if (rc) return rc;
  unlink(tmp);
  unlink_sidecars(tmp);
  if ((rc = restore_key(&key, store, path, home))) goto done;
  read_current(&c, store, key);
  rc = stage(path, tmp, key, &c, epoch, &devices, &envelopes);
  if (rc) goto done;
  if (fsync_path(tmp, 0) != 0) {
    rc = fsi_fail(FS_EIO, "cannot write %s: %s", tmp, strerror(errno));
    goto done;
  }
  /* Keep the replaced store (a hard link: no copy, no window without one),
   * then put the restored one in its place in one rename. */
  if (access(store, F_OK) == 0) {
    if (!kept_name(kept, sizeof kept, store) || link(store, kept) != 0) {
      rc = fsi_fail(FS_EIO, "cannot keep the current store as %s: %s; nothing was restored", kept,
                    strerror(errno));
      goto done;
    }
  }
  unlink_sidecars(store);
  if (rename(tmp, store) != 0) {
    rc = fsi_fail(FS_EIO,
                  "cannot put the restored store in place: %s; the current store is "
                  "unchanged",
                  strerror(errno));
    goto done;
  }
  fsync_path(home, 1);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "restored", path);
  if (*kept)
    cJSON_AddStringToObject(o, "previous", kept);
  else
    cJSON_AddNullToObject(o, "previous");
  cJSON_AddStringToObject(o, "epoch", epoch);
  cJSON_AddNumberToObject(o, "envelopes", (double)envelopes);
  cJSON_AddItemToObject(o, "devices", devices);
  devices = NULL;
  *out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!*out) rc = fsi_fail(FS_ENOMEM, "out of memory");
done:
  if (rc) {
    unlink(tmp);
    unlink_sidecars(tmp);
  }
  cJSON_Delete(devices);
  cJSON_Delete(c.devices);
  sodium_free(key);
  if (fd >= 0) close(fd);
  return rc;
}

int fs_hq_restores_json(char **out, fs_hq *hq) {
  *out = NULL;
  pthread_mutex_lock(&hq->mu);
  cJSON *arr = NULL;
  int rc = fsi_view_rows(hq->st,
                         fsi_sql_query(hq->st,
                                       "SELECT restored_at, source, old_epoch, new_epoch,"
                                       " devices FROM hq_restore ORDER BY id",
                                       ""),
                         "reading the restore record", &arr);
  pthread_mutex_unlock(&hq->mu);
  if (rc) return rc;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    cJSON *at = cJSON_GetObjectItemCaseSensitive(it, "restored_at");
    if (cJSON_IsNumber(at)) {
      char t[32];
      fs_time_format(t, (int64_t)at->valuedouble);
      cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)it, "restored_at", cJSON_CreateString(t));
    }
    cJSON *dv = cJSON_GetObjectItemCaseSensitive(it, "devices");
    if (cJSON_IsString(dv)) {
      cJSON *parsed = cJSON_Parse(dv->valuestring);
      if (parsed) cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)it, "devices", parsed);
    }
  }
  *out = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}
