/*
 * test_faults_kill.c — kill -9 of the device's `fieldsync sync` at random
 * points of the push and of the pull of a big backlog, and SIGKILL/SIGTERM
 * of `fieldsync-server serve` while four devices of two managers sync; after
 * every round nothing is lost or doubled, and each case ends with the
 * suite's whole check (faults.h: exports equal, verify-log, integrity).
 *
 * Every kill point is asserted to have landed mid-sync, from what the
 * stores say (read-only looks while the programs run), never from a sleep:
 *  - push: the sync was still running when killed, and afterwards head
 *    office holds some but not all of the backlog (0 < rows < total); a
 *    kill triggered by acknowledgements also checks that the killed sync
 *    itself had them;
 *  - pull: the same with the pulling device's rows of the backlog;
 *  - server: at least one sync was running when the server was killed,
 *    head office had received some rows of this round from the devices and
 *    not all of them, and a sync noticed (exited non-zero).
 * Kill points are spread over the whole sync: after k acknowledged or
 * merged batches plus a random delay (so in sealing, sending, merging,
 * committing), or at a random time after the start (so also in opening,
 * TLS, the first seal).  A round stops killing while several batches
 * remain, so the last kill cannot miss the end of the sync.
 *
 * Counts (environment; defaults in brackets, sanitizer builds lower):
 *   FS_FAULT_KILLS         client kill points, half push, half pull [30]
 *   FS_FAULT_ROWS          backlog per round [200000]
 *   FS_FAULT_SERVER_KILLS  server kills [10]
 *   FS_FAULT_SERVER_ROWS   rows each device writes per server kill [12000]
 *   FS_FAULT_SEED          replay a run; FS_FAULT_VERBOSE prints each kill
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "proto.h"

#define BATCH PROTO_BATCH_ROWS
/* A round stops killing with this many batches still to go. */
#define MARGIN_BATCHES 5

/* Waits until `cond_key` of home's sync state reaches `target` while pid
 * runs (bounded); the last value read. */
static long long wait_meta(const char *home, const char *key, long long target, pid_t pid) {
  long long until = fk_now_ms() + 60000, v = fk_meta(home, key);
  while (v < target && fk_running(pid) && fk_now_ms() < until) {
    e2e_msleep(1);
    v = fk_meta(home, key);
  }
  return v;
}

/* Head office's rows of `customer` once they stop changing (a batch that
 * was fully received is still merged after the sender died). */
static long long settled_hq_rows(const e2e_server *s, const char *customer) {
  long long v = fk_tagged(s->home, "meetings", customer), prev = -2;
  for (int i = 0; i < 100 && v != prev; i++) {
    prev = v;
    e2e_msleep(150);
    v = fk_tagged(s->home, "meetings", customer);
  }
  return v;
}

/* One kill of a sync of `home` in the `key` direction ("push_seq" or
 * "pull_seq"); `rows_now` says how much of the backlog of `total` rows has
 * arrived (at head office for push, on the device for pull).  Returns the
 * rows that had arrived after the kill. */
typedef long long (*rows_fn)(const void *ctx);

static long g_missed, g_want; /* kills that missed the sync; kills wanted */

static long long kill_once(int line, const char *dir, const char *home, const char *key,
                           rows_fn rows_now, const void *ctx, long long total) {
  char *err = e2e_path(dir, "killed-sync.err");
  long long seq0 = fk_meta(home, key);
  /* three kinds of kill point, equally often: at a time after the start,
   * after one batch, after two; while nothing of the backlog has arrived,
   * only the last two (a kill must leave some of it behind) */
  long k = fk_rand(rows_now(ctx) > 0 ? 0 : 1, 2);
  int by_ack = k > 0;
  long delay = k == 0 ? fk_rand(10, 250) : k == 1 ? fk_rand(0, 100) : fk_rand(0, 60);
  pid_t pid = fk_spawn_sync(home, err, NULL);
  free(err);
  tu_checks++;
  if (pid <= 0) {
    tu_fail(__FILE__, line, "cannot start fieldsync sync");
    return -1;
  }
  long long seq = by_ack ? wait_meta(home, key, seq0 + k, pid) : seq0;
  e2e_msleep((int)delay);
  int alive = fk_running(pid);
  fk_kill9(pid);
  long long after = rows_now(ctx);
  char what[160];
  snprintf(what, sizeof what, "%s %s%ld ms", strcmp(key, "push_seq") == 0 ? "push" : "pull",
           k == 0   ? "at start+"
           : k == 1 ? "after 1 batch+"
                    : "after 2 batches+",
           delay);
  /* A kill that did not land mid-sync (the sync finished everything before
   * the signal, as a loaded machine can make it) is not a kill point: it is
   * not counted, and another is tried.  Only kills that landed count, so
   * every counted one is mid-sync; more misses than kills wanted means the
   * kill points do not work and fails. */
  int landed = alive && after > 0 && after < total && (!by_ack || seq >= seq0 + k);
  tu_checks++;
  if (!landed) {
    g_missed++;
    printf("  kill %s missed: alive %d, %lld of %lld rows, %lld batches (not counted)\n", what,
           alive, after, total, seq - seq0);
    if (g_missed > g_want)
      tu_fail(__FILE__, line, "%ld kills missed the sync, more than the %ld wanted (seed %llu)",
              g_missed, g_want, (unsigned long long)fk_seed());
    return after;
  }
  fk_note_kill(what, after, total);
  return after;
}

typedef struct {
  const e2e_server *s;
  const fk_device *d;
} hq_rows_ctx;

static long long hq_rows(const void *ctx) {
  const hq_rows_ctx *c = ctx;
  return settled_hq_rows(c->s, c->d->customer);
}

typedef struct {
  const fk_device *puller, *writer;
} dev_rows_ctx;

static long long dev_rows(const void *ctx) {
  const dev_rows_ctx *c = ctx;
  return fk_tagged(c->puller->home, "meetings", c->writer->customer);
}

/* Client kills, `want` of them, in the push (pull = 0) or the pull (1) of
 * backlogs of `rows` rows; one manager and its devices per round. */
static void client_kills(int pull, long want) {
  long rows = fk_env("FS_FAULT_ROWS", 200000, 100000);
  char *dir = tu_tmpdir(pull ? "faults-pull" : "faults-push");
  long long t0 = fk_now_ms(), total_rows = 0;
  long lost = 0, doubled = 0;
  e2e_server *s = e2e_server_new(dir, "hq");
  tu_checks++;
  if (rows < (MARGIN_BATCHES + 3) * BATCH) {
    tu_fail(__FILE__, __LINE__, "FS_FAULT_ROWS=%ld: a backlog needs at least %d rows", rows,
            (MARGIN_BATCHES + 3) * BATCH);
    goto done;
  }
  if (!s || e2e_server_start(s, 0)) goto done;
  fk_kills = 0;
  g_missed = 0;
  g_want = want;
  for (int round = 0; fk_kills < want && !tu_failed; round++) {
    char mgr[32], wname[32], pname[32];
    snprintf(mgr, sizeof mgr, "mgr%d", round);
    snprintf(wname, sizeof wname, "writer%d", round);
    snprintf(pname, sizeof pname, "puller%d", round);
    fk_device devs[2];
    int ndev = pull ? 2 : 1;
    if (fk_device_init(__LINE__, &devs[0], s, dir, wname, mgr) ||
        (pull && fk_device_init(__LINE__, &devs[1], s, dir, pname, mgr)))
      break;
    CHECK_OK(fk_device_write(&devs[0], rows));
    total_rows += rows;
    long before = fk_kills;
    if (!pull) {
      hq_rows_ctx c = {s, &devs[0]};
      while (fk_kills < want && !tu_failed &&
             hq_rows(&c) < rows - (long long)MARGIN_BATCHES * BATCH)
        kill_once(__LINE__, dir, devs[0].home, "push_seq", hq_rows, &c, rows);
    } else {
      fk_sync_until_ok(__LINE__, devs[0].home, 3);
      dev_rows_ctx c = {&devs[1], &devs[0]};
      while (fk_kills < want && !tu_failed &&
             dev_rows(&c) < rows - (long long)MARGIN_BATCHES * BATCH)
        kill_once(__LINE__, dir, devs[1].home, "pull_seq", dev_rows, &c, rows);
    }
    char what[64];
    snprintf(what, sizeof what, "round %d (%ld kills)", round, fk_kills - before);
    fk_check_all(__LINE__, what, s, devs, ndev, 5);
    for (int i = 0; i < ndev; i++) {
      long l = 0, d = 0;
      fk_lost_doubled(&devs[i], s, &l, &d);
      lost += l;
      doubled += d;
      fk_device_free(&devs[i]);
    }
  }
  CHECK(fk_kills >= want);
  fk_report(pull ? "client kills in pull" : "client kills in push", total_rows, lost, doubled, t0);
done:
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

static void test_client_kill_push(void) {
  long want = fk_env("FS_FAULT_KILLS", 30, 10);
  client_kills(0, (want + 1) / 2);
}

static void test_client_kill_pull(void) {
  long want = fk_env("FS_FAULT_KILLS", 30, 10);
  client_kills(1, want / 2);
}

/* ------------------------------------------------------------ server */

#define NDEV 4

static long long hq_total(const e2e_server *s, const fk_device *devs) {
  long long n = 0;
  for (int i = 0; i < NDEV; i++) {
    long long v = fk_tagged(s->home, "meetings", devs[i].customer);
    if (v < 0) return -1;
    n += v;
  }
  return n;
}

/* One epoch: a new head office and four devices of two managers, `kills`
 * server kills (SIGKILL or SIGTERM at random) while all four sync, then the
 * whole check. */
static void server_epoch(const char *dir, int epoch, long kills, long rows, long long *total_rows,
                         long *lost, long *doubled) {
  char name[32];
  snprintf(name, sizeof name, "hq%d", epoch);
  e2e_server *s = e2e_server_new(dir, name);
  fk_device devs[NDEV];
  int ndev = 0;
  if (!s || e2e_server_start(s, 0)) goto done;
  int port = s->port;
  static const char *const mgr[NDEV] = {"anna", "anna", "ben", "ben"};
  for (; ndev < NDEV; ndev++) {
    snprintf(name, sizeof name, "e%d-%s%d", epoch, mgr[ndev], ndev % 2 + 1);
    if (fk_device_init(__LINE__, &devs[ndev], s, dir, name, mgr[ndev])) goto done;
  }
  for (long k = 0; k < kills && !tu_failed; k++) {
    for (int i = 0; i < NDEV; i++) CHECK_OK(fk_device_write(&devs[i], rows));
    *total_rows += NDEV * rows;
    long long base = hq_total(s, devs), total = base + NDEV * rows;
    /* somewhere in the first third of the round's rows */
    long long at = base + fk_rand(1, NDEV * rows / 3);
    long delay = fk_rand(0, 80);
    int term = (int)fk_rand(0, 1);
    pid_t pids[NDEV];
    for (int i = 0; i < NDEV; i++) pids[i] = fk_spawn_sync(devs[i].home, NULL, NULL);
    long long until = fk_now_ms() + 60000, seen = base;
    int running = NDEV;
    while (seen < at && running > 0 && fk_now_ms() < until) {
      e2e_msleep(2);
      seen = hq_total(s, devs);
      running = 0;
      for (int i = 0; i < NDEV; i++) running += fk_running(pids[i]);
    }
    e2e_msleep((int)delay);
    running = 0;
    for (int i = 0; i < NDEV; i++) running += fk_running(pids[i]);
    long long at_kill = hq_total(s, devs);
    int exit_status = 0;
    if (term)
      exit_status = e2e_server_stop(s);
    else
      e2e_server_kill9(s);
    long long after = hq_total(s, devs);
    /* with the server gone the syncs fail after their retries, or are
     * killed; half the time head office comes back while they retry */
    int back_early = (int)fk_rand(0, 1);
    if (back_early) e2e_server_start(s, port);
    int failed_syncs = 0;
    for (int i = 0; i < NDEV; i++) failed_syncs += e2e_wait(pids[i], 60000) != 0;
    if (!back_early) e2e_server_start(s, port);
    char what[96];
    snprintf(what, sizeof what, "server %s with %d syncs running", term ? "SIGTERM" : "SIGKILL",
             running);
    fk_note_kill(what, at_kill - base, total - base);
    tu_checks += 5;
    if (running < 1)
      tu_fail(__FILE__, __LINE__, "%s: no sync was running (seed %llu)", what,
              (unsigned long long)fk_seed());
    if (!(at_kill > base && at_kill < total))
      tu_fail(__FILE__, __LINE__, "%s: head office had %lld of the round's %lld rows: not mid-sync",
              what, at_kill - base, total - base);
    /* SIGTERM lets the requests in flight finish (and so some rows more
     * arrive); a kill -9 stops at once */
    if (!(after >= at_kill && (term || after < total)))
      tu_fail(__FILE__, __LINE__, "%s: head office had %lld rows at the kill, %lld after", what,
              at_kill - base, after - base);
    if (term && exit_status != 0)
      tu_fail(__FILE__, __LINE__, "%s: the server exited %d, not 0", what, exit_status);
    if (!back_early && failed_syncs < 1)
      tu_fail(__FILE__, __LINE__, "%s: every sync succeeded with head office down", what);
    if (s->pid <= 0) break;
    /* finish the round (all four at once, twice: pushes, then the pulls
     * of what the others pushed) and count: nothing lost, nothing doubled */
    const char *homes[NDEV];
    for (int i = 0; i < NDEV; i++) homes[i] = devs[i].home;
    for (int round = 0; round < 2; round++) fk_sync_parallel(__LINE__, homes, NDEV, 5);
    for (int i = 0; i < NDEV; i++) {
      long l = 0, d = 0;
      tu_checks++;
      if (fk_lost_doubled(&devs[i], s, &l, &d) || l || d)
        tu_fail(__FILE__, __LINE__, "%s: %s lost %ld, doubled %ld", what, devs[i].tag, l, d);
    }
  }
  char what[64];
  snprintf(what, sizeof what, "epoch %d", epoch);
  fk_check_all(__LINE__, what, s, devs, ndev, 5);
  for (int i = 0; i < ndev; i++) {
    long l = 0, d = 0;
    fk_lost_doubled(&devs[i], s, &l, &d);
    *lost += l;
    *doubled += d;
  }
done:
  for (int i = 0; i < ndev; i++) fk_device_free(&devs[i]);
  e2e_server_free(s);
}

static void test_server_kill(void) {
  long want = fk_env("FS_FAULT_SERVER_KILLS", 10, 4);
  long rows = fk_env("FS_FAULT_SERVER_ROWS", 12000, 12000);
  char *dir = tu_tmpdir("faults-server");
  long long t0 = fk_now_ms(), total_rows = 0;
  long lost = 0, doubled = 0;
  tu_checks++;
  if (rows <= BATCH) {
    tu_fail(__FILE__, __LINE__, "FS_FAULT_SERVER_ROWS=%ld: more than %d rows per device", rows,
            BATCH);
    goto done;
  }
  fk_kills = 0;
  /* a fresh head office every 10 kills keeps the exports of a long run
   * small */
  for (int epoch = 0; fk_kills < want && !tu_failed; epoch++) {
    long n = want - fk_kills < 10 ? want - fk_kills : 10;
    long before = fk_kills;
    server_epoch(dir, epoch, n, rows, &total_rows, &lost, &doubled);
    if (fk_kills == before) break;
  }
  CHECK(fk_kills >= want);
  fk_report("server kills", total_rows, lost, doubled, t0);
done:
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  fk_seed();
  TEST_RUN(test_client_kill_push);
  TEST_RUN(test_client_kill_pull);
  TEST_RUN(test_server_kill);
  e2e_stop_all();
  return tu_finish();
}
