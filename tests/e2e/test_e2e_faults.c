/*
 * test_e2e_faults.c — interruptions end to end that need no kill: the real
 * `fieldsync-server` on 127.0.0.1 stopped cleanly and restarted, or not
 * there at all, and the next sync must finish the job with nothing lost and
 * nothing applied twice.
 *
 * Covers:
 *  - a clean server restart (SIGTERM, exit 0, started again on the same
 *    port so the devices' stored URL stays valid): another device then
 *    pulls everything that was pushed before the restart, and a backlog of
 *    several envelopes written after it (through the library's write path:
 *    fs_device_open + fs_tx_begin/fs_insert/fs_tx_commit) arrives once:
 *    every replica equal, row count == distinct ids, verify-log ok;
 *  - no network: sync with the server down exits non-zero with exactly one
 *    stderr line saying the server cannot be reached, pending is unchanged;
 *    once the server is back the sync succeeds and pending is 0.
 *
 * Kills of the client and of the server mid-sync, each asserted to have
 * landed mid-sync, are the fault suite's (tests/faults/test_faults_kill.c).
 */
#include "e2e.h"
#include "proto.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rows per backlog: more than one envelope's worth (PROTO_BATCH_ROWS rows
 * each). */
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

  /* a backlog of several envelopes after the restart */
  CHECK_OK(e2e_bulk_meetings(a, cust, BACKLOG, "after restart"));
  CHECK_EQ_INT(pending_of(__LINE__, a), BACKLOG);
  CHECK(sync_until_ok(__LINE__, a, 3) > 0);
  CHECK_EQ_INT(pending_of(__LINE__, a), 0);
  SYNC(t);

  char *hq = e2e_export_hq(__LINE__, s, NULL);
  CHECK_EQ_INT(rows_once(__LINE__, hq, "meetings"), BACKLOG + 1);
  CHECK_EQ_INT(rows_once(__LINE__, hq, "customers"), 1);
  CHECK_EQ_INT(rows_once(__LINE__, hq, "order_lines"), 1);
  char *ea = e2e_export_dev(__LINE__, a), *et = e2e_export_dev(__LINE__, t);
  CHECK_EQ_INT(rows_once(__LINE__, et, "meetings"), BACKLOG + 1);
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

#define TIMED_RUN(fn)                                                                              \
  do {                                                                                             \
    long long t0_ = mono_ms();                                                                     \
    TEST_RUN(fn);                                                                                  \
    fprintf(stderr, "%s: %lld ms\n", #fn, mono_ms() - t0_);                                        \
  } while (0)

int main(void) {
  TIMED_RUN(test_server_restart);
  TIMED_RUN(test_no_network);
  e2e_stop_all();
  return tu_finish();
}
