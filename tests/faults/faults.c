/*
 * faults.c — see faults.h.  Stores are looked into with the SQLite C API
 * (head office's read-only; a device's, which is encrypted, through the
 * library with the test passphrase), one short statement at a time, while
 * the programs that own them run (WAL mode lets a reader in beside a
 * writer); background programs
 * are started with e2e_spawn_env (extra environment).
 */
#include "faults.h"

#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <fieldsync/device.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long fk_kills;

long fk_env(const char *name, long dflt, long dflt_sanitized) {
  const char *v = getenv(name);
  char *end = NULL;
  if (getenv("FS_FAULT_SANITIZED")) dflt = dflt_sanitized;
  if (!v || !*v) return dflt;
  long n = strtol(v, &end, 10);
  return end && *end == '\0' ? n : dflt;
}

long long fk_now_ms(void) { return tu_now_ms(); }

/* ------------------------------------------------------------ random */

static uint64_t g_state;
static int g_seeded;

uint64_t fk_seed(void) {
  static uint64_t seed;
  if (!g_seeded) {
    const char *v = getenv("FS_FAULT_SEED");
    if (v && *v) {
      seed = strtoull(v, NULL, 10);
    } else {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      seed = ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
      seed %= 1000000000u;
    }
    g_state = seed;
    g_seeded = 1;
    printf("seed: %llu (replay with FS_FAULT_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    fflush(stdout);
  }
  return seed;
}

/* splitmix64: small, fast, and the same sequence on every machine. */
static uint64_t next_u64(void) {
  fk_seed();
  uint64_t z = (g_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

long fk_rand(long lo, long hi) {
  if (hi <= lo) return lo;
  return lo + (long)(next_u64() % (uint64_t)(hi - lo + 1));
}

/* ------------------------------------------------------------ stores */

void fk_store_of(char out[4096], const char *home) { snprintf(out, 4096, "%s/store.db", home); }

/* A store opened to look into: head office's (plain) with the SQLite C
 * API, read-only; a device's (encrypted) through the library with the
 * test passphrase, whose connection is then used the same way. */
typedef struct ro {
  sqlite3 *db;
  fs_device *dev;
} ro;

static sqlite3 *open_ro(ro *r, const char *path) {
  int enc = 0;
  memset(r, 0, sizeof *r);
  if (fsi_store_is_encrypted(path, &enc) == FS_OK && enc) {
    char home[4096];
    snprintf(home, sizeof home, "%s", path);
    char *slash = strrchr(home, '/');
    if (slash) *slash = '\0';
    if (tu_device_open(&r->dev, home, NULL) != FS_OK) {
      fprintf(stderr, "  (cannot open %s: %s)\n", path, fs_errmsg());
      return NULL;
    }
    r->db = fsi_store_db(fs_device_store(r->dev));
    sqlite3_busy_timeout(r->db, 10000);
    return r->db;
  }
  if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
    fprintf(stderr, "  (cannot open %s read-only: %s)\n", path, r->db ? sqlite3_errmsg(r->db) : "");
    sqlite3_close(r->db);
    r->db = NULL;
    return NULL;
  }
  sqlite3_busy_timeout(r->db, 10000);
  return r->db;
}

static void close_ro(ro *r) {
  if (r->dev)
    fs_device_close(r->dev);
  else
    sqlite3_close(r->db);
  memset(r, 0, sizeof *r);
}

/* One integer from sql with ?1 bound to arg (when not NULL). */
static long long one_i64(sqlite3 *db, const char *sql, const char *arg) {
  sqlite3_stmt *s = NULL;
  long long v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
    fprintf(stderr, "  (query %s: %s)\n", sql, sqlite3_errmsg(db));
    return -1;
  }
  if (arg) sqlite3_bind_text(s, 1, arg, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
    v = sqlite3_column_int64(s, 0);
  else if (r == SQLITE_ROW || r == SQLITE_DONE)
    v = 0;
  else
    fprintf(stderr, "  (query %s: %s)\n", sql, sqlite3_errmsg(db));
  sqlite3_finalize(s);
  return v;
}

static long long ro_i64_arg(const char *path, const char *sql, const char *arg) {
  ro r;
  sqlite3 *db = open_ro(&r, path);
  if (!db) return -1;
  long long v = one_i64(db, sql, arg);
  close_ro(&r);
  return v;
}

long long fk_ro_i64(const char *path, const char *sql) { return ro_i64_arg(path, sql, NULL); }

long long fk_meta(const char *home, const char *key) {
  char path[4096];
  fk_store_of(path, home);
  return ro_i64_arg(path, "SELECT CAST(value AS INTEGER) FROM fs_meta WHERE key = ?1", key);
}

long long fk_tagged(const char *home, const char *table, const char *customer) {
  char path[4096], sql[256];
  fk_store_of(path, home);
  /* the index on customer_id keeps this a quick look in a big store */
  snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\" WHERE customer_id = ?1", table);
  return ro_i64_arg(path, sql, customer);
}

int fk_integrity_ok(const char *home) {
  char path[4096];
  fk_store_of(path, home);
  ro r;
  sqlite3 *db = open_ro(&r, path);
  sqlite3_stmt *s = NULL;
  int ok = 0;
  if (!db) return 0;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK) {
    int first = 1;
    while (sqlite3_step(s) == SQLITE_ROW) {
      const char *t = (const char *)sqlite3_column_text(s, 0);
      if (first && t && strcmp(t, "ok") == 0) ok = 1;
      if (!ok) fprintf(stderr, "  integrity_check of %s: %s\n", path, t ? t : "(null)");
      first = 0;
    }
  } else {
    fprintf(stderr, "  integrity_check of %s: %s\n", path, sqlite3_errmsg(db));
  }
  sqlite3_finalize(s);
  close_ro(&r);
  return ok;
}

/* ------------------------------------------------------------ writing */

int fk_bulk(const char *home, const char *customer, const char *tag, long first, long n) {
  fs_device *dev = NULL;
  int rc = tu_device_open(&dev, home, NULL);
  if (rc) return rc;
  fs_store *st = fs_device_store(dev);
  if ((rc = fs_tx_begin(st))) goto done;
  for (long i = 0; i < n && rc == FS_OK; i++) {
    long k = first + i;
    char at[32], notes[64], id[FS_ID_SIZE];
    snprintf(at, sizeof at, "2026-%02ld-%02ldT%02ld:%02ld:00Z", 1 + (k / 40320) % 12,
             1 + (k / 1440) % 28, (k / 60) % 24, k % 60);
    snprintf(notes, sizeof notes, "%s:%ld", tag, k);
    fs_field f[] = {{"customer_id", customer},
                    {"at", at},
                    {"kind", "visit"},
                    {"place", "fault suite"},
                    {"notes", notes}};
    rc = fs_insert(id, st, "meetings", f, sizeof f / sizeof f[0]);
  }
  if (rc == FS_OK)
    rc = fs_tx_commit(st);
  else
    fs_tx_rollback(st);
done:
  fs_device_close(dev);
  return rc;
}

/* ------------------------------------------------------------ processes */

pid_t fk_spawn_sync(const char *home, const char *err_path, const char *const *env) {
  const char *argv[] = {"fieldsync", "--home", home, "sync", NULL};
  return e2e_spawn_env(argv, NULL, err_path, env);
}

int fk_running(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  char *st = tu_read_file(path, NULL);
  const char *p = st ? strrchr(st, ')') : NULL;
  int live = st && p && !(p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
  free(st);
  return live;
}

int fk_kill9(pid_t pid) {
  kill(pid, SIGKILL);
  return e2e_wait(pid, 30000);
}

int fk_sync_until_ok(int line, const char *home, int tries) {
  char *last = NULL;
  for (int i = 1; i <= tries; i++) {
    char *err = NULL;
    int rc = e2e_fs(home, NULL, &err, ARGS("sync"));
    if (rc == 0) {
      free(err);
      free(last);
      return i;
    }
    free(last);
    last = err;
    e2e_msleep(100);
  }
  tu_checks++;
  tu_fail(__FILE__, line, "sync of %s did not succeed in %d attempts; last: %s", home, tries,
          last ? last : "");
  free(last);
  return -1;
}

int fk_sync_parallel(int line, const char *const *homes, int n, int tries) {
  int ok[64] = {0}, left = n;
  char errs[64][4096];
  if (n > 64) abort();
  for (int round = 0; round < tries && left > 0; round++) {
    pid_t pids[64];
    if (round) e2e_msleep(100);
    for (int i = 0; i < n; i++) {
      pids[i] = 0;
      if (ok[i]) continue;
      snprintf(errs[i], sizeof errs[i], "%s.sync-err", homes[i]);
      unlink(errs[i]);
      pids[i] = fk_spawn_sync(homes[i], errs[i], NULL);
    }
    for (int i = 0; i < n; i++)
      if (pids[i] > 0 && e2e_wait(pids[i], 300000) == 0) {
        ok[i] = 1;
        left--;
      }
  }
  for (int i = 0; i < n; i++) {
    tu_checks++;
    if (!ok[i]) {
      char *err = tu_read_file(errs[i], NULL);
      tu_fail(__FILE__, line, "sync of %s did not succeed in %d attempts; last: %s", homes[i],
              tries, err ? err : "");
      free(err);
    }
  }
  return left ? -1 : 0;
}

/* ------------------------------------------------------------ devices */

int fk_device_init(int line, fk_device *d, e2e_server *s, const char *dir, const char *name,
                   const char *manager) {
  memset(d, 0, sizeof *d);
  d->manager = manager;
  snprintf(d->tag, sizeof d->tag, "%s", name);
  d->home = e2e_device_new(line, s, dir, name, manager);
  char cname[96];
  snprintf(cname, sizeof cname, "Customer of %s", name);
  e2e_add(line, d->home, d->customer, ARGS("customer", "add", "--name", cname));
  if (strlen(d->customer) != 36) return -1;
  return fk_sync_until_ok(line, d->home, 3) > 0 ? 0 : -1;
}

void fk_device_free(fk_device *d) {
  free(d->home);
  d->home = NULL;
}

int fk_device_write(fk_device *d, long n) {
  int rc = fk_bulk(d->home, d->customer, d->tag, d->written, n);
  if (rc == FS_OK) d->written += n;
  return rc;
}

int fk_lost_doubled(const fk_device *d, const e2e_server *s, long *lost, long *doubled) {
  char dev[4096], hq[4096];
  fk_store_of(dev, d->home);
  fk_store_of(hq, s->home);
  *lost = *doubled = 0;
  ro rd, rh;
  sqlite3 *db = open_ro(&rd, dev);
  if (!db) return -1;
  sqlite3 *hdb = open_ro(&rh, hq);
  if (!hdb) {
    close_ro(&rd);
    return -1;
  }
  sqlite3_stmt *q = NULL, *h = NULL;
  int rc = -1;
  /* a read transaction on each store, so its counts agree with each other
   * (the device's is encrypted: the two cannot be attached as one) */
  sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  sqlite3_exec(hdb, "BEGIN", NULL, NULL, NULL);
  long long on_dev =
      one_i64(db, "SELECT count(*) FROM meetings WHERE customer_id = ?1", d->customer);
  long long at_hq =
      one_i64(hdb, "SELECT count(*) FROM meetings WHERE customer_id = ?1", d->customer);
  long long distinct_hq = one_i64(
      hdb, "SELECT count(DISTINCT notes) FROM meetings WHERE customer_id = ?1", d->customer);
  long long missing = 0;
  if (sqlite3_prepare_v2(db, "SELECT id, notes FROM meetings WHERE customer_id = ?1", -1, &q,
                         NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(hdb, "SELECT 1 FROM meetings WHERE id = ?1 AND notes IS ?2", -1, &h,
                         NULL) != SQLITE_OK) {
    fprintf(stderr, "  (query: %s / %s)\n", sqlite3_errmsg(db), sqlite3_errmsg(hdb));
    missing = -1;
  } else {
    sqlite3_bind_text(q, 1, d->customer, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(q) == SQLITE_ROW) {
      sqlite3_reset(h);
      sqlite3_bind_value(h, 1, sqlite3_column_value(q, 0));
      sqlite3_bind_value(h, 2, sqlite3_column_value(q, 1));
      if (sqlite3_step(h) != SQLITE_ROW) missing++;
    }
  }
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  sqlite3_exec(hdb, "COMMIT", NULL, NULL, NULL);
  if (on_dev < 0 || at_hq < 0 || distinct_hq < 0 || missing < 0) goto done;
  long l = (long)missing;
  if (d->written - distinct_hq > l) l = d->written - (long)distinct_hq;
  if (d->written - on_dev > l) l = d->written - (long)on_dev;
  *lost = l;
  *doubled =
      (long)(at_hq - distinct_hq) + (distinct_hq > d->written ? (long)distinct_hq - d->written : 0);
  rc = 0;
done:
  sqlite3_finalize(q);
  sqlite3_finalize(h);
  close_ro(&rd);
  close_ro(&rh);
  return rc;
}

/* The device's export equals head office's for its manager (asked once
 * per manager: exports[k] belongs to managers[k]). */
static void same_as_hq(int line, const fk_device *d, const e2e_server *s, char **exports,
                       const char **managers, int n) {
  int k = 0;
  while (k < n && managers[k] && strcmp(managers[k], d->manager) != 0) k++;
  if (k == n) abort();
  if (!managers[k]) {
    managers[k] = d->manager;
    exports[k] = e2e_export_hq(line, s, d->manager);
  }
  char *dev = e2e_export_dev(line, d->home);
  const char *hq = exports[k];
  tu_checks++;
  if (!dev || !hq || strcmp(dev, hq) != 0) {
    size_t i = 0;
    while (dev && hq && dev[i] && dev[i] == hq[i]) i++;
    size_t from = i > 120 ? i - 120 : 0;
    tu_fail(__FILE__, line,
            "export of %s differs from head office's export for %s at byte %zu:\n"
            "  device: ...%.240s\n  server: ...%.240s",
            d->home, d->manager, i, dev ? dev + from : "(none)", hq ? hq + from : "(none)");
  }
  free(dev);
}

int fk_check_all(int line, const char *what, e2e_server *s, fk_device *devs, int n, int tries) {
  int failed0 = tu_failed, bad_stores = 0;
  long lost = 0, doubled = 0, rows = 0;
  /* twice round: a device's rows reach the others of its manager only
   * after it pushed them */
  const char *homes[64] = {NULL};
  if (n > 64) abort();
  for (int i = 0; i < n; i++) homes[i] = devs[i].home;
  for (int round = 0; round < 2; round++) fk_sync_parallel(line, homes, n, tries);
  char *hq_exports[64] = {NULL};
  const char *hq_managers[64] = {NULL};
  for (int i = 0; i < n; i++) {
    long l = 0, d = 0;
    tu_checks++;
    if (fk_lost_doubled(&devs[i], s, &l, &d) != 0)
      tu_fail(__FILE__, line, "%s: the stores of %s and head office cannot be read", what,
              devs[i].home);
    tu_checks++;
    if (l || d)
      tu_fail(__FILE__, line, "%s: device %s: %ld of its %ld rows lost, %ld doubled", what,
              devs[i].tag, l, devs[i].written, d);
    lost += l;
    doubled += d;
    rows += devs[i].written;
    same_as_hq(line, &devs[i], s, hq_exports, hq_managers, n);
    tu_checks++;
    if (!fk_integrity_ok(devs[i].home)) {
      tu_fail(__FILE__, line, "%s: integrity_check of %s failed", what, devs[i].home);
      bad_stores++;
    }
  }
  for (int i = 0; i < n; i++) free(hq_exports[i]);
  char *out = NULL, *err = NULL;
  int rc = e2e_hq(s, &out, &err, ARGS("verify-log"));
  tu_checks++;
  if (rc != 0) tu_fail(__FILE__, line, "%s: verify-log exit %d: %s%s", what, rc, out, err);
  free(out);
  free(err);
  tu_checks++;
  if (!fk_integrity_ok(s->home)) {
    tu_fail(__FILE__, line, "%s: integrity_check of head office's store failed", what);
    bad_stores++;
  }
  printf("  %s: %d devices, %ld rows written, lost %ld, doubled %ld, verify-log %s, "
         "integrity %s (%s)\n",
         what, n, rows, lost, doubled, rc == 0 ? "ok" : "FAILED", bad_stores ? "FAILED" : "ok",
         tu_failed == failed0 ? "every check held" : "failed checks above");
  fflush(stdout);
  return tu_failed - failed0;
}

void fk_note_kill(const char *what, long long at, long long total) {
  fk_kills++;
  if (getenv("FS_FAULT_VERBOSE"))
    printf("  kill %ld: %s: %lld of %lld rows had arrived (%.1f s)\n", fk_kills, what, at, total,
           (double)fk_now_ms() / 1000.0);
}

void fk_report(const char *name, long long rows, long lost, long doubled, long long t0_ms) {
  printf("FAULTS %s: kill points %ld, rows %lld, lost %ld, doubled %ld, %.1f s\n", name, fk_kills,
         rows, lost, doubled, (double)(fk_now_ms() - t0_ms) / 1000.0);
  fflush(stdout);
}
