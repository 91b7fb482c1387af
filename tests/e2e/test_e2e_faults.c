/*
 * test_e2e_faults.c — interruptions end to end: the real `fieldsync-server`
 * on 127.0.0.1 stopped, restarted and killed, real `fieldsync sync`
 * processes killed, and the next sync must finish the job with nothing lost
 * and nothing applied twice.
 *
 * Covers:
 *  - a clean server restart (SIGTERM, exit 0, started again on the same
 *    port so the devices' stored URL stays valid): another device then
 *    pulls everything that was pushed before the restart;
 *  - kill -9 of the server in the middle of a sync of a big backlog
 *    (thousands of meetings, written through the library's write path:
 *    fs_device_open + fs_tx_begin/fs_insert/fs_tx_commit), restart on the
 *    same port, sync until it succeeds: every replica equal, every row once
 *    (row count == distinct ids == what was written), verify-log ok;
 *  - no network: sync with the server down exits non-zero with exactly one
 *    stderr line saying the server cannot be reached, pending is unchanged;
 *    once the server is back the sync succeeds and pending is 0;
 *  - kill -9 of the `fieldsync sync` client mid-push (and of another device
 *    mid-pull), at several delays: the next sync leaves the server with
 *    every row exactly once and the device with nothing pending.
 *
 * Most kills are triggered by the server's request log (one line per
 * request): "the first push batch was acknowledged" with a backlog of more
 * than one batch is mid-sync on any machine.  The timed kills (50-150 ms) land
 * wherever they land; the checks hold either way, and the test prints what
 * each kill interrupted.
 */
#include "e2e.h"
#include "proto.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rows per backlog: more than one envelope's worth (PROTO_BATCH_ROWS rows
 * each), so that a kill triggered by the first acknowledged batch lands
 * while the sync is still running. */
#define BACKLOG (PROTO_BATCH_ROWS + PROTO_BATCH_ROWS / 5)
_Static_assert(BACKLOG > PROTO_BATCH_ROWS, "the backlog must span several envelopes");

static cJSON *parse(const char *text) { return text ? cJSON_Parse(text) : NULL; }

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Table rows in an export (-1 if unreadable) and a check that no id occurs
 * twice. */
static int rows_once(int line, const char *export_text, const char *table) {
  cJSON *doc = parse(export_text);
  int n = e2e_count(doc, table), d = e2e_distinct_ids(doc, table);
  tu_checks++;
  if (n != d) tu_fail(__FILE__, line, "%s: %d rows but %d distinct ids", table, n, d);
  cJSON_Delete(doc);
  return n;
}

static long long pending_of(int line, const char *home) {
  cJSON *st = e2e_fs_json(line, home, ARGS("status", "--json"));
  long long p = e2e_int(st, "pending");
  cJSON_Delete(st);
  return p;
}

/* `fieldsync sync` until it exits 0 (at most `tries` times); the number of
 * attempts it took, or -1. */
static int sync_until_ok(int line, const char *home, int tries) {
  for (int i = 1; i <= tries; i++) {
    char *err = NULL;
    int rc = e2e_fs(home, NULL, &err, ARGS("sync"));
    if (rc == 0) {
      free(err);
      return i;
    }
    fprintf(stderr, "  (sync attempt %d of %s: exit %d: %s)", i, home, rc, err ? err : "");
    free(err);
    e2e_msleep(50);
  }
  tu_checks++;
  tu_fail(__FILE__, line, "sync of %s did not succeed in %d attempts", home, tries);
  return -1;
}

/* Starts `fieldsync --home HOME sync` in the background. */
static pid_t sync_in_background(const char *dir, const char *home) {
  char *err = e2e_path(dir, "bg-sync.err");
  const char *argv[] = {"fieldsync", "--home", home, "sync", NULL};
  pid_t pid = e2e_spawn(argv, NULL, err);
  free(err);
  return pid;
}

/* Whether a pid has already exited (without reaping it). */
static int exited(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  char *st = tu_read_file(path, NULL);
  const char *p = st ? strrchr(st, ')') : NULL;
  int z = !st || (p && p[1] == ' ' && p[2] == 'Z');
  free(st);
  return z;
}

/* Occurrences of `needle` in the server's log. */
static int log_count(const e2e_server *s, const char *needle) {
  char *log = tu_read_file(s->log, NULL);
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  free(log);
  return n;
}

/* Waits (bounded) until the log holds more than `base` lines with `needle`
 * or `pid` exited; 1 when the line appeared while pid was still running. */
static int wait_log(const e2e_server *s, const char *needle, int base, pid_t pid) {
  long long until = mono_ms() + 60000;
  while (mono_ms() < until) {
    if (log_count(s, needle) > base) return !exited(pid);
    if (exited(pid)) return 0;
    e2e_msleep(1);
  }
  return 0;
}

/* ------------------------------------------------------------ 8 */

static void test_server_restart(void) {
  char *dir = tu_tmpdir("e2e-restart");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *t = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  int port = s->port;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  t = e2e_device_new(__LINE__, s, dir, "anna-tablet", "anna");
  SYNC(a);
  SYNC(t);
  char cust[64], id[64], ord[64];
  ADD(a, cust, "customer", "add", "--name", "Nordwind Büro GmbH", "--city", "Hamburg");
  ADD(a, id, "contact", "add", "--customer", cust, "--name", "Jana Peters");
  ADD(a, id, "meeting", "add", "--customer", cust, "--at", "2026-03-10 10:30");
  ADD(a, ord, "order", "new", "--customer", cust);
  ADD(a, id, "order", "line", ord, "--sku", "CHAIR-01", "--qty", "40");
  FS_RUN(a, "order", "submit", ord);
  cJSON *r = e2e_sync(__LINE__, a);
  CHECK_EQ_INT(e2e_int(r, "pending"), 0);
  cJSON_Delete(r);

  /* A clean stop exits 0; the same port again. */
  CHECK_EQ_INT(e2e_server_stop(s), 0);
  if (e2e_server_start(s, port)) goto done;
  CHECK_EQ_INT(s->port, port);
  SYNC(t);
  SAME_AS_HQ(t, s, "anna");
  SAME_AS_HQ(a, s, "anna");
  cJSON *o = FS_JSON(t, "order", "show", ord, "--json");
  CHECK_STR(e2e_str(o, "status"), "submitted");
  CHECK_EQ_INT(e2e_int(o, "total"), 40 * 28900);
  cJSON_Delete(o);

  /* kill -9 in the middle of a big backlog: once right after the first
   * batch was acknowledged, once ~100 ms into a sync. */
  CHECK_OK(e2e_bulk_meetings(a, cust, BACKLOG, "crash"));
  CHECK_EQ_INT(pending_of(__LINE__, a), BACKLOG);
  pid_t bg = sync_in_background(dir, a);
  CHECK(bg > 0);
  int mid = wait_log(s, "POST /v1/push 200", log_count(s, "POST /v1/push 200"), bg);
  e2e_server_kill9(s);
  int bgrc = e2e_wait(bg, 60000);
  fprintf(stderr,
          "  server killed after the first acknowledged batch of %d rows: %s "
          "(exit %d)\n",
          BACKLOG, mid ? "sync cut off" : "the sync had already finished", bgrc);
  CHECK(mid);       /* the kill did land mid-sync */
  CHECK(bgrc != 0); /* and the device noticed */
  if (e2e_server_start(s, port)) goto done;
  CHECK_OK(e2e_bulk_meetings(a, cust, BACKLOG / 4, "crash-2"));
  bg = sync_in_background(dir, a);
  CHECK(bg > 0);
  e2e_msleep(100);
  int done_before = exited(bg);
  e2e_server_kill9(s);
  bgrc = e2e_wait(bg, 60000);
  fprintf(stderr, "  server killed 100 ms into a sync: %s (exit %d)\n",
          done_before ? "the sync had already finished" : "sync cut off", bgrc);
  if (e2e_server_start(s, port)) goto done;
  CHECK(sync_until_ok(__LINE__, a, 10) > 0);

  /* SIGTERM mid-sync: head office finishes the request in flight and exits
   * 0; the device's next sync (after a restart) finishes the job. */
  CHECK_OK(e2e_bulk_meetings(a, cust, BACKLOG / 2, "term"));
  bg = sync_in_background(dir, a);
  CHECK(bg > 0);
  e2e_msleep(80);
  mid = !exited(bg);
  CHECK_EQ_INT(e2e_server_stop(s), 0);
  bgrc = e2e_wait(bg, 60000);
  fprintf(stderr, "  server stopped (SIGTERM) 80 ms into a sync: %s (exit %d)\n",
          mid ? "sync was running" : "the sync had already finished", bgrc);
  if (e2e_server_start(s, port)) goto done;
  CHECK(sync_until_ok(__LINE__, a, 10) > 0);
  CHECK_EQ_INT(pending_of(__LINE__, a), 0);
  SYNC(t);
  SYNC(a);
  SYNC(t);

  char *hq = e2e_export_hq(__LINE__, s, NULL);
  CHECK_EQ_INT(rows_once(__LINE__, hq, "meetings"), BACKLOG + BACKLOG / 4 + BACKLOG / 2 + 1);
  CHECK_EQ_INT(rows_once(__LINE__, hq, "customers"), 1);
  CHECK_EQ_INT(rows_once(__LINE__, hq, "order_lines"), 1);
  char *ea = e2e_export_dev(__LINE__, a), *et = e2e_export_dev(__LINE__, t);
  CHECK_EQ_INT(rows_once(__LINE__, et, "meetings"), BACKLOG + BACKLOG / 4 + BACKLOG / 2 + 1);
  CHECK(ea && et && strcmp(ea, et) == 0);
  free(ea);
  free(et);
  free(hq);
  SAME_AS_HQ(a, s, "anna");
  SAME_AS_HQ(t, s, "anna");
  cJSON *v = HQ_JSON(s, "verify-log", "--json");
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "ok")));
  CHECK(e2e_int(v, "verified") >= 2);
  cJSON_Delete(v);

done:
  free(a);
  free(t);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------------------------ 9 */

static void test_no_network(void) {
  char *dir = tu_tmpdir("e2e-offline");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  int port = s->port;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  char cust[64], id[64];
  ADD(a, cust, "customer", "add", "--name", "Nordwind Büro GmbH");
  SYNC(a);
  CHECK_EQ_INT(e2e_server_stop(s), 0);

  ADD(a, id, "meeting", "add", "--customer", cust, "--at", "2026-03-10 10:30");
  ADD(a, id, "contact", "add", "--customer", cust, "--name", "Jana Peters");
  long long before = pending_of(__LINE__, a);
  CHECK_EQ_INT(before, 2);
  for (int json = 0; json < 2; json++) {
    char *out = NULL, *err = NULL;
    int rc =
        json ? e2e_fs(a, &out, &err, ARGS("sync", "--json")) : e2e_fs(a, &out, &err, ARGS("sync"));
    CHECK(rc != 0 && rc != -1);
    CHECK(e2e_one_line(err, "fieldsync: "));
    CHECK_CONTAINS(err, "cannot reach the server");
    CHECK(out && !*out);
    free(out);
    free(err);
  }
  CHECK_EQ_INT(pending_of(__LINE__, a), before);

  if (e2e_server_start(s, port)) goto done;
  /* The human form, stdout not a terminal: a summary, no progress bar. */
  char *out = NULL, *err = NULL;
  CHECK_EQ_INT(e2e_fs(a, &out, &err, ARGS("sync")), 0);
  CHECK_CONTAINS(out, "pushed 2");
  CHECK_STR(err, "");
  free(out);
  free(err);
  ADD(a, id, "meeting", "add", "--customer", cust, "--at", "2026-03-11 10:30");
  cJSON *r = e2e_sync(__LINE__, a);
  CHECK_EQ_INT(e2e_int(r, "pushed"), 1);
  CHECK_EQ_INT(e2e_int(r, "pending"), 0);
  cJSON_Delete(r);
  CHECK_EQ_INT(pending_of(__LINE__, a), 0);
  char *hq = e2e_export_hq(__LINE__, s, NULL);
  cJSON *doc = parse(hq);
  CHECK_EQ_INT(e2e_rows_where(doc, "meetings", "customer_id", cust), 2);
  CHECK_EQ_INT(e2e_rows_where(doc, "contacts", "customer_id", cust), 1);
  cJSON_Delete(doc);
  free(hq);
  SAME_AS_HQ(a, s, "anna");

done:
  free(a);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------------------------ 10 */

/* Starts a sync of `home` in the background and kills it with SIGKILL:
 * after `delay_ms`, or (delay_ms < 0) as soon as the server logged one more
 * `needle` line.  Returns 1 when the kill interrupted a running sync. */
static int kill_sync(const char *dir, const e2e_server *s, const char *home, int delay_ms,
                     const char *needle) {
  int base = needle ? log_count(s, needle) : 0;
  pid_t bg = sync_in_background(dir, home);
  int cut;
  CHECK(bg > 0);
  if (bg <= 0) return 0;
  if (delay_ms >= 0) {
    e2e_msleep(delay_ms);
    cut = !exited(bg);
  } else {
    cut = wait_log(s, needle, base, bg);
  }
  kill(bg, SIGKILL);
  int rc = e2e_wait(bg, 30000);
  if (delay_ms >= 0)
    fprintf(stderr, "  sync of %s killed after %d ms: %s (exit %d)\n", home, delay_ms,
            cut ? "cut off" : "it had already finished", rc);
  else
    fprintf(stderr, "  sync of %s killed after the server logged \"%s\": %s (exit %d)\n", home,
            needle, cut ? "cut off" : "it had already finished", rc);
  return cut;
}

static void test_client_killed(void) {
  char *dir = tu_tmpdir("e2e-kill");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *t = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  t = e2e_device_new(__LINE__, s, dir, "anna-tablet", "anna");
  char cust[64];
  ADD(a, cust, "customer", "add", "--name", "Nordwind Büro GmbH");
  SYNC(a);
  SYNC(t);
  int written = 0;
  /* Round 0: killed right after head office acknowledged the first of
   * several batches — certainly mid-sync.  Rounds 1-2: killed at 50 and 150 ms.
   */
  static const int delays[] = {-1, 50, 150};
  for (size_t k = 0; k < sizeof delays / sizeof delays[0]; k++) {
    char tag[32];
    int n = k == 0 ? BACKLOG : BACKLOG / 4;
    snprintf(tag, sizeof tag, "round %zu", k);
    CHECK_OK(e2e_bulk_meetings(a, cust, n, tag));
    written += n;
    int cut = kill_sync(dir, s, a, delays[k], delays[k] < 0 ? "POST /v1/push 200" : NULL);
    if (delays[k] < 0) CHECK(cut);
    CHECK(sync_until_ok(__LINE__, a, 5) > 0);
    CHECK_EQ_INT(pending_of(__LINE__, a), 0);
    char *hq = e2e_export_hq(__LINE__, s, NULL);
    CHECK_EQ_INT(rows_once(__LINE__, hq, "meetings"), written);
    free(hq);
  }

  /* The tablet pulls the whole backlog (several batches); killed after the
   * first pulled batch, then again at 60 ms into the next sync. */
  CHECK(kill_sync(dir, s, t, -1, "GET /v1/pull 200"));
  kill_sync(dir, s, t, 60, NULL);
  CHECK(sync_until_ok(__LINE__, t, 5) > 0);
  SYNC(t);
  SYNC(a);
  char *et = e2e_export_dev(__LINE__, t);
  CHECK_EQ_INT(rows_once(__LINE__, et, "meetings"), written);
  free(et);
  SAME_AS_HQ(a, s, "anna");
  SAME_AS_HQ(t, s, "anna");
  CHECK_EQ_INT(pending_of(__LINE__, t), 0);
  CHECK_OK(e2e_hq(s, NULL, NULL, ARGS("verify-log")));

done:
  free(a);
  free(t);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

#define TIMED_RUN(fn)                                                                              \
  do {                                                                                             \
    long long t0_ = mono_ms();                                                                     \
    TEST_RUN(fn);                                                                                  \
    fprintf(stderr, "%s: %lld ms\n", #fn, mono_ms() - t0_);                                        \
  } while (0)

int main(void) {
  TIMED_RUN(test_server_restart);
  TIMED_RUN(test_no_network);
  TIMED_RUN(test_client_killed);
  e2e_stop_all();
  return tu_finish();
}
