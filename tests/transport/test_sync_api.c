/*
 * test_sync_api.c — what an embedding application (a GUI on a manager's
 * laptop) relies on in the device API of sync (sync/client.c, sync/device.c)
 * against head office's real handler on the real HTTPS front end, in
 * process:
 *  - cancelling: a progress callback that says stop during the push (small
 *    push batches) or during the pull (a backlog of several of head
 *    office's batches) ends fs_sync with FS_ECANCELED at a batch boundary;
 *    what was committed stays, the next sync carries on, and in the end
 *    every row is at the other side exactly once (counted, with distinct
 *    keys, and the per-sync counts add up to the backlog: no batch was sent
 *    or merged twice); head office's audit log still verifies;
 *  - the callback runs on the thread that called fs_sync;
 *  - the versioned option and stats structs: an uninitialised version is
 *    refused, and so is one newer than the library knows, with the errors
 *    the header promises; out-of-range options are refused;
 *  - a device handle lends one store for its whole life;
 *  - two devices on two threads write and sync at the same time, and each
 *    thread's fs_errmsg() is its own.
 */
#include <cjson/cJSON.h>
#include <fieldsync/device.h>
#include <fieldsync/server.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hq_http.h"
#include "https.h"
#include "proto.h"
#include "testutil.h"
#include "tlsgen.h"

#define PUSH_ROWS 600 /* customers written offline on the device */
#define PUSH_BATCH 50 /* rows per pushed envelope: 12 envelopes */
#define PULL_ROWS (2 * PROTO_BATCH_ROWS + PROTO_BATCH_ROWS / 2) /* 3 pull batches */

static fs_hq *g_hq;
static fs_device *g_dev;
static pthread_t g_main;
static char g_url[64], g_cert[4200], g_dir[4200];

/* ------------------------------------------------------------ counting */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rows of `table` in `st`'s export whose `col` starts with `prefix`, and in
 * *distinct how many different values of `col` they hold. */
static int count_rows(fs_store *st, const char *table, const char *col, const char *prefix,
                      int *distinct) {
  char *json = NULL;
  int n = 0;
  *distinct = 0;
  CHECK_OK(fs_view_json(&json, st, "export", NULL));
  cJSON *doc = json ? cJSON_Parse(json) : NULL;
  fs_free(json);
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, table), *r;
  const char **vals = malloc(sizeof *vals * (size_t)(cJSON_GetArraySize(rows) + 1));
  if (!vals) abort();
  cJSON_ArrayForEach(r, rows) {
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, col));
    if (v && !strncmp(v, prefix, strlen(prefix))) vals[n++] = v;
  }
  qsort(vals, (size_t)n, sizeof *vals, cmp_str);
  for (int i = 0; i < n; i++)
    if (i == 0 || strcmp(vals[i - 1], vals[i]) != 0) (*distinct)++;
  free(vals);
  cJSON_Delete(doc);
  return n;
}

static int count_at_hq(const char *table, const char *col, const char *prefix, int *distinct) {
  fs_hq_lock(g_hq);
  int n = count_rows(fs_hq_store(g_hq), table, col, prefix, distinct);
  fs_hq_unlock(g_hq);
  return n;
}

static int64_t pending(void) {
  int64_t n = -1;
  CHECK_OK(fs_pending_count(&n, fs_device_store(g_dev)));
  return n;
}

/* Head office's audit log verifies and holds at least `envelopes`
 * accepted pushes (those of this case; earlier cases may add more). */
static void audit_log_verifies(int64_t envelopes) {
  int64_t checked = 0;
  CHECK_OK(fs_hq_verify_log(&checked, g_hq)); /* takes the head-office lock itself */
  CHECK(checked >= envelopes);
}

/* ------------------------------------------------------------ progress */

/* What a GUI's progress callback saw; it cancels at its cancel_at'th call
 * (0 = never). */
typedef struct watcher {
  int calls, cancel_at, off_thread;
  int pushes, pulls;
  int64_t last_done, last_total;
} watcher;

static int on_progress(void *user, const char *phase, int64_t done, int64_t total) {
  watcher *w = user;
  w->calls++;
  if (!pthread_equal(pthread_self(), g_main)) w->off_thread++;
  if (!strcmp(phase, "push"))
    w->pushes++;
  else if (!strcmp(phase, "pull"))
    w->pulls++;
  w->last_done = done;
  w->last_total = total;
  return w->cancel_at && w->calls == w->cancel_at;
}

/* One fs_sync with push batches of `batch` rows and a callback that
 * cancels at its cancel_at'th call; its stats in *st. */
static int sync_with(watcher *w, int cancel_at, int64_t batch, fs_sync_stats *st) {
  memset(w, 0, sizeof *w);
  w->cancel_at = cancel_at;
  fs_sync_opts o = FS_SYNC_OPTS_INIT;
  o.progress = on_progress;
  o.user = w;
  o.push_batch_rows = batch;
  *st = (fs_sync_stats)FS_SYNC_STATS_INIT;
  return fs_sync(st, g_dev, &o);
}

/* ------------------------------------------------------------- cancel */

/* A backlog of 600 customers in 12 envelopes: cancelled after the third
 * acknowledged one, cancelled again after the first of the next sync, then
 * finished: head office holds each customer exactly once. */
static void test_cancel_push(void) {
  fs_store *st = fs_device_store(g_dev);
  CHECK_OK(fs_tx_begin(st));
  for (int i = 0; i < PUSH_ROWS; i++) {
    char name[64];
    snprintf(name, sizeof name, "Cancel Push %04d GmbH", i);
    fs_field f[] = {{"name", name}, {"country", "DE"}};
    CHECK_OK(fs_insert(NULL, st, "customers", f, 2));
  }
  CHECK_OK(fs_tx_commit(st));
  CHECK_EQ_INT(pending(), PUSH_ROWS);

  watcher w;
  fs_sync_stats s1, s2, s3;
  CHECK_ERR(sync_with(&w, 3, PUSH_BATCH, &s1), FS_ECANCELED);
  CHECK_CONTAINS(fs_errmsg(), "cancelled during the push");
  CHECK_EQ_INT(w.calls, 3);
  CHECK_EQ_INT(w.pulls, 0); /* stopped before the pull */
  CHECK_EQ_INT(w.off_thread, 0);
  CHECK_EQ_INT(w.last_done, 3 * PUSH_BATCH);
  CHECK_EQ_INT(w.last_total, PUSH_ROWS);
  CHECK_EQ_INT(s1.pushed, 3 * PUSH_BATCH); /* stats are filled when cancelled too */
  CHECK_EQ_INT(s1.batches, 3);
  CHECK_EQ_INT(s1.pulled, 0);
  int distinct = 0;
  CHECK_EQ_INT(count_at_hq("customers", "name", "Cancel Push ", &distinct), 3 * PUSH_BATCH);
  CHECK_EQ_INT(distinct, 3 * PUSH_BATCH);
  CHECK_EQ_INT(pending(), PUSH_ROWS - 3 * PUSH_BATCH);

  /* the next sync starts with the envelope sealed before the cancel */
  CHECK_ERR(sync_with(&w, 1, PUSH_BATCH, &s2), FS_ECANCELED);
  CHECK_EQ_INT(s2.pushed, PUSH_BATCH);
  CHECK_EQ_INT(count_at_hq("customers", "name", "Cancel Push ", &distinct), 4 * PUSH_BATCH);
  CHECK_EQ_INT(pending(), PUSH_ROWS - 4 * PUSH_BATCH);

  CHECK_OK(sync_with(&w, 0, PUSH_BATCH, &s3));
  CHECK_EQ_INT(w.pushes, PUSH_ROWS / PUSH_BATCH - 4);
  CHECK_EQ_INT(w.off_thread, 0);
  CHECK_EQ_INT(s1.pushed + s2.pushed + s3.pushed, PUSH_ROWS); /* no envelope twice */
  CHECK_EQ_INT(pending(), 0);
  CHECK_EQ_INT(count_at_hq("customers", "name", "Cancel Push ", &distinct), PUSH_ROWS);
  CHECK_EQ_INT(distinct, PUSH_ROWS);
  audit_log_verifies(PUSH_ROWS / PUSH_BATCH);
}

/* Head office has 25,000 new products for the device (three of its pull
 * batches): cancelled after the first merged batch, again after the next
 * one, then finished: the device holds each product exactly once and the
 * three syncs pulled exactly the backlog between them. */
static void test_cancel_pull(void) {
  fs_hq_lock(g_hq);
  fs_store *hq = fs_hq_store(g_hq);
  CHECK_OK(fs_tx_begin(hq));
  for (int i = 0; i < PULL_ROWS; i++) {
    char sku[32], name[64];
    snprintf(sku, sizeof sku, "CXL-%05d", i);
    snprintf(name, sizeof name, "Cancel pull item %d", i);
    fs_field f[] = {{"sku", sku}, {"name", name}, {"active", "1"}};
    CHECK_OK(fs_insert(NULL, hq, "products", f, 3));
  }
  CHECK_OK(fs_tx_commit(hq));
  fs_hq_unlock(g_hq);
  fs_store *st = fs_device_store(g_dev);

  watcher w;
  fs_sync_stats s1, s2, s3;
  int distinct = 0;
  CHECK_ERR(sync_with(&w, 1, 0, &s1), FS_ECANCELED);
  CHECK_CONTAINS(fs_errmsg(), "cancelled during the pull");
  CHECK_EQ_INT(w.pushes, 0);
  CHECK_EQ_INT(w.pulls, 1);
  CHECK_EQ_INT(w.off_thread, 0);
  CHECK_EQ_INT(s1.pulled, PROTO_BATCH_ROWS); /* one of head office's batches */
  CHECK_EQ_INT(w.last_done, s1.pulled);
  CHECK_EQ_INT(count_rows(st, "products", "sku", "CXL-", &distinct), s1.pulled);
  CHECK_EQ_INT(distinct, s1.pulled);

  CHECK_ERR(sync_with(&w, 1, 0, &s2), FS_ECANCELED);
  CHECK_EQ_INT(s2.pulled, PROTO_BATCH_ROWS);
  CHECK_EQ_INT(count_rows(st, "products", "sku", "CXL-", &distinct), s1.pulled + s2.pulled);

  CHECK_OK(sync_with(&w, 0, 0, &s3));
  CHECK_EQ_INT(s1.pulled + s2.pulled + s3.pulled, PULL_ROWS); /* no batch merged twice */
  CHECK_EQ_INT(s3.conflicts, 0);
  CHECK_EQ_INT(count_rows(st, "products", "sku", "CXL-", &distinct), PULL_ROWS);
  CHECK_EQ_INT(distinct, PULL_ROWS);
  /* a quiet sync afterwards has nothing more */
  CHECK_OK(sync_with(&w, 0, 0, &s1));
  CHECK_EQ_INT(s1.pulled, 0);
  CHECK_EQ_INT(s1.pushed, 0);
  audit_log_verifies(0);
}

/* ---------------------------------------------------- versioned structs */

static void test_versioned_structs(void) {
  /* an uninitialised version is a programming error, said so */
  fs_sync_stats zero_stats;
  memset(&zero_stats, 0, sizeof zero_stats);
  CHECK_ERR(fs_sync(&zero_stats, g_dev, NULL), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "fs_sync_stats.version is 0");
  fs_sync_opts zero_opts;
  memset(&zero_opts, 0, sizeof zero_opts);
  CHECK_ERR(fs_sync(NULL, g_dev, &zero_opts), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "fs_sync_opts.version is 0");
  fs_enroll_opts zero_enroll;
  memset(&zero_enroll, 0, sizeof zero_enroll);
  CHECK_ERR(fs_enroll(g_dev, &zero_enroll), FS_EINVAL);
  CHECK_ERR(fs_enroll(g_dev, NULL), FS_EINVAL);

  /* a program built with newer headers than this library: refused, not
   * misread */
  fs_sync_opts newer = FS_SYNC_OPTS_INIT;
  newer.version = FS_SYNC_OPTS_VERSION + 1;
  CHECK_ERR(fs_sync(NULL, g_dev, &newer), FS_EVERSION);
  CHECK_CONTAINS(fs_errmsg(), "newer");
  fs_sync_stats newer_stats = FS_SYNC_STATS_INIT;
  newer_stats.version = FS_SYNC_STATS_VERSION + 1;
  newer_stats.pushed = 99;
  CHECK_ERR(fs_sync(&newer_stats, g_dev, NULL), FS_EVERSION);
  CHECK_EQ_INT(newer_stats.pushed, 99); /* not written */
  fs_enroll_opts newer_enroll = FS_ENROLL_OPTS_INIT;
  newer_enroll.version = FS_ENROLL_OPTS_VERSION + 1;
  CHECK_ERR(fs_enroll(g_dev, &newer_enroll), FS_EVERSION);

  fs_sync_opts o = FS_SYNC_OPTS_INIT;
  o.push_batch_rows = PROTO_BATCH_ROWS + 1;
  CHECK_ERR(fs_sync(NULL, g_dev, &o), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "push_batch_rows");
  o.push_batch_rows = -1;
  CHECK_ERR(fs_sync(NULL, g_dev, &o), FS_EINVAL);

  /* the current version: stats filled, the version member kept */
  fs_sync_stats st = FS_SYNC_STATS_INIT;
  st.pushed = 99;
  fs_field f[] = {{"name", "Versioned AG"}};
  CHECK_OK(fs_insert(NULL, fs_device_store(g_dev), "customers", f, 1));
  CHECK_OK(fs_sync(&st, g_dev, NULL));
  CHECK_EQ_INT(st.version, FS_SYNC_STATS_VERSION);
  CHECK_EQ_INT(st.pushed, 1);
  CHECK_EQ_INT(st.pulled, 0);
}

/* The handle lends the same store for its life; NULL is harmless. */
static void test_device_handle(void) {
  fs_store *a = fs_device_store(g_dev), *b = fs_device_store(g_dev);
  CHECK(a != NULL && a == b);
  CHECK(fs_device_store(NULL) == NULL);
  fs_device_close(NULL);
  fs_device *other = NULL;
  CHECK_ERR(tu_device_open(&other, "", NULL), FS_EINVAL);
  CHECK(other == NULL);
}

/* ------------------------------------------------------------- threads */

#define THREAD_ROWS 200

/* One thread's device.  The checks are made by main after the join (the
 * test kit's counters are not shared between threads). */
typedef struct worker {
  const char *home, *bad_table;
  pthread_barrier_t *both;
  int rc_open, rc_write, rc_sync, rc_bad;
  char msg[512]; /* fs_errmsg() on this thread after both threads failed */
} worker;

static void *work(void *p) {
  worker *w = p;
  fs_device *dev = NULL;
  w->rc_open = tu_device_open(&dev, w->home, NULL);
  pthread_barrier_wait(w->both);
  if (!w->rc_open) {
    fs_store *st = fs_device_store(dev);
    w->rc_write = fs_tx_begin(st);
    for (int i = 0; i < THREAD_ROWS && !w->rc_write; i++) {
      char name[64];
      snprintf(name, sizeof name, "Thread %s %03d KG", w->bad_table, i);
      fs_field f[] = {{"name", name}};
      w->rc_write = fs_insert(NULL, st, "customers", f, 1);
    }
    if (!w->rc_write) w->rc_write = fs_tx_commit(st);
    w->rc_sync = fs_sync(NULL, dev, NULL);
    w->rc_bad = fs_insert(NULL, st, w->bad_table, NULL, 0); /* a failure of its own */
  }
  pthread_barrier_wait(w->both); /* the other thread has failed too */
  snprintf(w->msg, sizeof w->msg, "%s", fs_errmsg());
  fs_device_close(dev);
  return NULL;
}

static void test_two_threads(void) {
  char home[4300], *tok = NULL;
  snprintf(home, sizeof home, "%s/anna-tablet", g_dir);
  CHECK_OK(fs_hq_token_create(&tok, g_hq, "anna", 0));
  CHECK_OK(tu_device_create(home, "anna", NULL));
  fs_device *tablet = NULL;
  CHECK_OK(tu_device_open(&tablet, home, NULL));
  fs_enroll_opts eo = FS_ENROLL_OPTS_INIT;
  eo.url = g_url;
  eo.token = tok;
  eo.ca = g_cert;
  if (tablet && tok) CHECK_OK(fs_enroll(tablet, &eo));
  fs_free(tok);
  fs_device_close(tablet);

  pthread_barrier_t both;
  pthread_barrier_init(&both, NULL, 2);
  worker w[2] = {{fs_device_home(g_dev), "laptop", &both, -1, -1, -1, 0, ""},
                 {home, "tablet", &both, -1, -1, -1, 0, ""}};
  pthread_t th[2];
  /* g_dev's own handle stays idle on this thread while the workers run */
  for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&both);
  for (int i = 0; i < 2; i++) {
    CHECK_OK(w[i].rc_open);
    CHECK_OK(w[i].rc_write);
    CHECK_OK(w[i].rc_sync);
    CHECK_ERR(w[i].rc_bad, FS_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "unknown table \"%s\"", w[i].bad_table);
    CHECK_STR(w[i].msg, want);
  }
  /* one more sync each, and both replicas hold both threads' rows once */
  int distinct = 0;
  CHECK_OK(fs_sync(NULL, g_dev, NULL));
  CHECK_EQ_INT(count_rows(fs_device_store(g_dev), "customers", "name", "Thread ", &distinct),
               2 * THREAD_ROWS);
  CHECK_EQ_INT(distinct, 2 * THREAD_ROWS);
  CHECK_OK(tu_device_open(&tablet, home, NULL));
  if (tablet) {
    CHECK_OK(fs_sync(NULL, tablet, NULL));
    CHECK_EQ_INT(count_rows(fs_device_store(tablet), "customers", "name", "Thread ", &distinct),
                 2 * THREAD_ROWS);
  }
  fs_device_close(tablet);
  CHECK_EQ_INT(count_at_hq("customers", "name", "Thread ", &distinct), 2 * THREAD_ROWS);
  CHECK_EQ_INT(distinct, 2 * THREAD_ROWS);
}

int main(void) {
  char *dir = tu_tmpdir("sync-api");
  char hqhome[4200], devhome[4200], key[4300];
  https_server *srv = NULL;
  char *tok = NULL;
  g_main = pthread_self();
  snprintf(hqhome, sizeof hqhome, "%s/hq", dir);
  snprintf(devhome, sizeof devhome, "%s/anna", dir);
  snprintf(g_dir, sizeof g_dir, "%s", dir);
  snprintf(g_cert, sizeof g_cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  mkdir(hqhome, 0700);
  CHECK_OK(fs_hq_create(hqhome));
  CHECK_OK(fs_hq_open(&g_hq, hqhome));
  CHECK_OK(tlsgen_self_signed(g_cert, key, NULL, 0));
  https_server_opts so = {
      "127.0.0.1:0", g_cert, key, hq_http_handle, hq_http_admit, g_hq, 0, 0, 0, 0};
  CHECK_OK(https_server_start_opts(&srv, &so));
  if (!srv || !g_hq) return tu_finish();
  snprintf(g_url, sizeof g_url, "https://127.0.0.1:%d", https_server_port(srv));
  CHECK_OK(fs_hq_token_create(&tok, g_hq, "anna", 0));
  CHECK_OK(tu_device_create(devhome, "anna", NULL));
  CHECK_OK(tu_device_open(&g_dev, devhome, NULL));
  if (g_dev && tok) {
    CHECK_STR(fs_device_home(g_dev), devhome);
    fs_enroll_opts eo = FS_ENROLL_OPTS_INIT;
    eo.url = g_url;
    eo.token = tok;
    eo.ca = g_cert;
    CHECK_OK(fs_enroll(g_dev, &eo));
    CHECK_ERR(fs_enroll(g_dev, &eo), FS_EEXIST);
    CHECK_OK(fs_sync(NULL, g_dev, NULL));
    TEST_RUN(test_device_handle);
    TEST_RUN(test_versioned_structs);
    TEST_RUN(test_cancel_push);
    TEST_RUN(test_cancel_pull);
    TEST_RUN(test_two_threads);
  }
  fs_free(tok);
  fs_device_close(g_dev);
  https_server_stop(srv);
  fs_hq_close(g_hq);
  tu_rmrf(dir);
  free(dir);
  return tu_finish();
}
