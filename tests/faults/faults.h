/*
 * faults.h — the kit of the fault suite (tests/faults/): counts read from the
 * environment, a seeded random source that prints its seed, read-only looks
 * into device and head-office stores while the real programs run, kills of
 * a running `fieldsync sync` or `fieldsync-server serve`, and the check every
 * case ends with.
 *
 * The end-of-case check (fk_check_all) asserts what a manager relies on
 * after any fault:
 *  - nothing lost, nothing doubled: every row the test wrote on a device
 *    (its notes start with the device's tag) is at head office exactly once,
 *    under the same id with the same notes, and head office holds exactly as
 *    many rows of that tag as the test wrote;
 *  - each device's `fieldsync export --json` equals `fieldsync-server export
 *    --json --manager M` for its manager;
 *  - `fieldsync-server verify-log` exits 0;
 *  - `PRAGMA integrity_check` answers "ok" on every store (each device's
 *    store.db and head office's), opened read-only with the SQLite C API.
 *
 * Invariants of the kit: a store is only ever opened read-only here
 * (SQLITE_OPEN_READONLY, a busy timeout, each look one short read
 * transaction), so looking never changes what is looked at; every wait is
 * bounded; every random choice comes from fk_rand, seeded once per program
 * from $FS_FAULT_SEED or the clock, and the seed is printed first so a
 * failure can be replayed.
 */
#ifndef FS_FAULTS_H
#define FS_FAULTS_H

#include <stdint.h>
#include <sys/types.h>

#include "e2e.h"

/* An integer from the environment variable `name`, `dflt` when unset or
 * not a number.  Sanitizer builds set FS_FAULT_SANITIZED (tests.cmake):
 * then `dflt_sanitized` is the default instead. */
long fk_env(const char *name, long dflt, long dflt_sanitized);

/* The program's seed (from $FS_FAULT_SEED, else the clock), printed as
 * "seed: N (replay with FS_FAULT_SEED=N)" on first use. */
uint64_t fk_seed(void);
/* Uniform in [lo, hi] (inclusive), from the seeded generator. */
long fk_rand(long lo, long hi);

/* Milliseconds of the monotonic clock. */
long long fk_now_ms(void);

/* One integer from `sql` on the SQLite file `path` opened read-only (for
 * a value of fs_meta, sql may bind nothing).  -1 when the file cannot be
 * read or the query gives no integer; the reason goes to stderr once. */
long long fk_ro_i64(const char *path, const char *sql);
/* "DIR/store.db" of a home into out[4096]. */
void fk_store_of(char out[4096], const char *home);
/* A setting of a device's sync state (fs_meta: "push_seq", "pull_seq"),
 * 0 when unset, -1 when unreadable. */
long long fk_meta(const char *home, const char *key);
/* Rows of `table` in the store of `home` whose notes start with `tag`
 * ("tag:"), -1 when unreadable. */
long long fk_tagged(const char *home, const char *table, const char *tag);
/* Whether `PRAGMA integrity_check` of the store of `home` says ok; prints
 * what it says otherwise. */
int fk_integrity_ok(const char *home);

/* Inserts n meetings for `customer` on the device `home` through the
 * library's write path (one transaction), notes "TAG:SERIAL" with serials
 * from `first`.  FS_OK or the library's error. */
int fk_bulk(const char *home, const char *customer, const char *tag, long first, long n);

/* `fieldsync --home HOME sync` in the background, stderr appended to
 * err_path (NULL = /dev/null); the pid or -1.  `env` (NULL-terminated
 * "NAME=VALUE" list, may be NULL) is added to the child's environment. */
pid_t fk_spawn_sync(const char *home, const char *err_path, const char *const *env);
/* Whether the child `pid` is still running (not exited, not a zombie). */
int fk_running(pid_t pid);
/* SIGKILL and reap; the exit status as e2e_wait gives it (-1 by signal). */
int fk_kill9(pid_t pid);

/* `fieldsync sync` until it exits 0, at most `tries` times; the attempt
 * that succeeded or -1 (a failed check at `line`). */
int fk_sync_until_ok(int line, const char *home, int tries);

/* `fieldsync sync` of every home at once (background processes), again for
 * those that failed, until each succeeded once (at most `tries` rounds); 0
 * when all did, else -1 (a failed check at `line` naming the last error). */
int fk_sync_parallel(int line, const char *const *homes, int n, int tries);

/* A device of the suite: its home, its manager, the tag of the rows the
 * test writes on it and how many it wrote. */
typedef struct fk_device {
  char *home;
  const char *manager;
  char tag[32];
  long written; /* meetings the test wrote with this tag */
  char customer[64];
} fk_device;

/* A device home DIR/NAME enrolled with s as `manager`, one customer added
 * and synced.  0 on success. */
int fk_device_init(int line, fk_device *d, e2e_server *s, const char *dir, const char *name,
                   const char *manager);
void fk_device_free(fk_device *d);
/* Writes n more meetings on d (fk_bulk, the serials continuing). */
int fk_device_write(fk_device *d, long n);

/* Head office's rows of d's tag and the lost/doubled counts of d against
 * head office's store (both opened read-only):
 *   lost    = rows of d's tag on the device missing at head office under
 *             the same id and notes, plus rows the test wrote that the
 *             device itself no longer has;
 *   doubled = notes values of d's tag head office holds more than once,
 *             plus rows beyond what the test wrote.
 * Returns 0, or -1 when a store could not be read. */
int fk_lost_doubled(const fk_device *d, const e2e_server *s, long *lost, long *doubled);

/* The end-of-case check (see the top of this file) over n devices, each
 * synced once more first (up to `tries` attempts, so a case may end with
 * the fault just undone).  Prints one summary line with `what`.  Returns the
 * number of failed checks it added. */
int fk_check_all(int line, const char *what, e2e_server *s, fk_device *devs, int n, int tries);

/* Records one kill point: prints it when $FS_FAULT_VERBOSE is set, and
 * counts it for fk_report. */
void fk_note_kill(const char *what, long long at, long long total);
/* Prints "FAULTS name: kill points K, rows R, lost 0, doubled 0, T s". */
void fk_report(const char *name, long long rows, long lost, long doubled, long long t0_ms);
extern long fk_kills;

#endif
