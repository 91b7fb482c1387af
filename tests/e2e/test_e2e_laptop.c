/*
 * test_e2e_laptop.c — what a person meets on the laptop itself, end to end
 * with the real `fieldsync` and `fieldsync-server` on 127.0.0.1: two syncs
 * started at once, a full disk, and head office's certificate refused for
 * its dates.
 *
 * Covers:
 *  - two `fieldsync sync` started at once on one home with a backlog of
 *    several envelopes: both exit 0, head office never answers 409 (a
 *    second sync used to be refused as "a copied device?"), every row is at
 *    head office once and nothing is pending;
 *  - a sync that finds one running: with --wait 0 it says at once "a sync
 *    is already running on this laptop (pid N)" naming the running one;
 *    with --wait 1 after about a second; once that one is done, it syncs;
 *  - a full disk under the home (a 2 MB tmpfs, where the machine lets the
 *    test mount one; skipped with a message where it does not): the
 *    command says the disk holding the home is full, how much is free and
 *    that nothing was lost, and after space is freed the same command
 *    works and every earlier row is there;
 *  - head office's certificate not valid yet (made with a validity window
 *    in the future, as a laptop whose clock is days behind sees it):
 *    enrolling says this laptop's clock looks wrong and shows its date;
 *    expired: the sync says head office must renew its certificate.
 */
#include "e2e.h"
#include "engine.h"
#include "proto.h"
#include "tlsgen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *g_dir;

static e2e_server *server(const char *name) {
  e2e_server *s = e2e_server_new(g_dir, name);
  if (s && e2e_server_start(s, 0)) {
    e2e_server_free(s);
    return NULL;
  }
  return s;
}

static int count_in(const char *path, const char *needle) {
  char *text = tu_read_file(path, NULL);
  int n = 0;
  for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  free(text);
  return n;
}

/* Rows of `table` in head office's export, checked to be there once each. */
static int hq_count_once(int line, const e2e_server *s, const char *table) {
  char *text = e2e_export_hq(line, s, NULL);
  cJSON *doc = text ? cJSON_Parse(text) : NULL;
  int n = e2e_count(doc, table), d = e2e_distinct_ids(doc, table);
  tu_checks++;
  if (n != d) tu_fail(__FILE__, line, "%s: %d rows but %d distinct ids", table, n, d);
  cJSON_Delete(doc);
  free(text);
  return n;
}

static long long pending_of(int line, const char *home) {
  cJSON *st = e2e_fs_json(line, home, ARGS("status", "--json"));
  long long p = e2e_int(st, "pending");
  cJSON_Delete(st);
  return p;
}

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a child is still running (not exited; it is not reaped here). */
static int running(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  char *st = tu_read_file(path, NULL);
  const char *p = st ? strrchr(st, ')') : NULL;
  int alive = p && p[1] == ' ' && p[2] != 'Z';
  free(st);
  return alive;
}

/* ------------------------------------------------------------- 7 */

#define BACKLOG (PROTO_BATCH_ROWS * 2 + PROTO_BATCH_ROWS / 2)

static void test_two_syncs_at_once(void) {
  e2e_server *s = server("hq-twice");
  if (!s) return;
  char *a = e2e_device_new(__LINE__, s, g_dir, "eve-laptop", "eve");
  char cust[64];
  ADD(a, cust, "customer", "add", "--name", "Double Click GmbH");
  CHECK_OK(e2e_bulk_meetings(a, cust, BACKLOG, "twice"));
  char *e1 = e2e_path(g_dir, "twice-1.err"), *e2 = e2e_path(g_dir, "twice-2.err");
  const char *argv[] = {"fieldsync", "--home", a, "sync", NULL};
  int pushes = count_in(s->log, "POST /v1/push 200");
  pid_t p1 = e2e_spawn(argv, NULL, e1), p2 = e2e_spawn(argv, NULL, e2);
  /* they overlap: both still run when the first envelope is acknowledged */
  long long until = mono_ms() + 60000;
  while (count_in(s->log, "POST /v1/push 200") == pushes && mono_ms() < until) e2e_msleep(2);
  CHECK(running(p1) && running(p2));
  int r1 = e2e_wait(p1, 120000), r2 = e2e_wait(p2, 120000);
  char *t1 = tu_read_file(e1, NULL), *t2 = tu_read_file(e2, NULL);
  CHECK_EQ_INT(r1, 0);
  CHECK_EQ_INT(r2, 0);
  if (r1 || r2) fprintf(stderr, "  first: %s\n  second: %s\n", t1 ? t1 : "", t2 ? t2 : "");
  CHECK(!t1 || !strstr(t1, "409"));
  CHECK(!t2 || !strstr(t2, "409"));
  CHECK_EQ_INT(count_in(s->log, "/v1/push 409"), 0);
  CHECK_EQ_INT(hq_count_once(__LINE__, s, "meetings"), BACKLOG);
  CHECK_EQ_INT(hq_count_once(__LINE__, s, "customers"), 1);
  CHECK_EQ_INT(pending_of(__LINE__, a), 0);
  SAME_AS_HQ(a, s, "eve");
  HQ_RUN(s, "verify-log");
  free(t1);
  free(t2);
  free(e1);
  free(e2);
  free(a);
  e2e_server_free(s);
}

/* Holds HOME/sync.lock as a running sync does: flock'ed, our pid in it. */
static int hold_lock(const char *home) {
  char *path = e2e_path(home, "sync.lock");
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  free(path);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) return -1;
  char pid[24];
  int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n) return -1;
  return fd;
}

static void test_sync_already_running(void) {
  e2e_server *s = server("hq-running");
  if (!s) return;
  char *a = e2e_device_new(__LINE__, s, g_dir, "finn-laptop", "finn");
  char cust[64], want[96], *err = NULL;
  ADD(a, cust, "customer", "add", "--name", "Scheduled Sync AB");

  /* a sync holding the lock: this process, as a running one would */
  int fd = hold_lock(a);
  CHECK(fd >= 0);
  snprintf(want, sizeof want, "a sync is already running on this laptop (pid %ld)", (long)getpid());
  long long t0 = mono_ms();
  CHECK(e2e_fs(a, NULL, &err, ARGS("sync", "--wait", "0")) != 0);
  CHECK(mono_ms() - t0 < 5000);
  CHECK(e2e_one_line(err, "fieldsync: "));
  printf("  a sync already running: %s", err ? err : "(nothing)\n");
  CHECK_CONTAINS(err, want);
  CHECK_CONTAINS(err, "nothing is lost");
  free(err);
  err = NULL;
  t0 = mono_ms();
  CHECK(e2e_fs(a, NULL, &err, ARGS("sync", "--wait", "1")) != 0);
  CHECK(mono_ms() - t0 >= 1000);
  CHECK_CONTAINS(err, want);
  CHECK_CONTAINS(err, "did not finish within 1 second");
  free(err);
  err = NULL;
  CHECK(e2e_fs(a, NULL, &err, ARGS("sync", "--wait", "x")) != 0);
  CHECK_CONTAINS(err, "--wait takes a number of seconds");
  free(err);
  CHECK_EQ_INT(pending_of(__LINE__, a), 1);
  close(fd); /* the running sync ends */
  SYNC(a);
  CHECK_EQ_INT(pending_of(__LINE__, a), 0);

  /* a real sync of a backlog running, another with --wait 0 names it */
  CHECK_OK(e2e_bulk_meetings(a, cust, BACKLOG, "running"));
  char *bg_err = e2e_path(g_dir, "running.err");
  const char *argv[] = {"fieldsync", "--home", a, "sync", NULL};
  int pushes = count_in(s->log, "POST /v1/push 200");
  pid_t bg = e2e_spawn(argv, NULL, bg_err);
  long long until = mono_ms() + 60000;
  while (count_in(s->log, "POST /v1/push 200") == pushes && mono_ms() < until) e2e_msleep(2);
  err = NULL;
  int rc = e2e_fs(a, NULL, &err, ARGS("sync", "--wait", "0"));
  int bg_rc = e2e_wait(bg, 120000);
  CHECK_EQ_INT(bg_rc, 0);
  /* the first of its three pushes had been acknowledged: it was mid-sync */
  CHECK(rc != 0);
  snprintf(want, sizeof want, "a sync is already running on this laptop (pid %ld)", (long)bg);
  CHECK_CONTAINS(err, want);
  CHECK(!err || !strstr(err, "409"));
  free(err);
  CHECK_EQ_INT(count_in(s->log, "/v1/push 409"), 0);
  CHECK_EQ_INT(hq_count_once(__LINE__, s, "meetings"), BACKLOG);
  CHECK_EQ_INT(pending_of(__LINE__, a), 0);
  free(bg_err);
  free(a);
  e2e_server_free(s);
}

/* ------------------------------------------------------------- 9 */

static void test_disk_full(void) {
  char *mnt = e2e_path(g_dir, "small-disk");
  CHECK(mkdir(mnt, 0700) == 0);
  if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m,mode=0700") != 0) {
    printf("SKIP test_disk_full: cannot mount a 2 MB tmpfs here (%s); the message mapping is "
           "checked by test_store.disk_full_message\n",
           strerror(errno));
    free(mnt);
    return;
  }
  char *home = e2e_path(mnt, "home"), *filler = e2e_path(mnt, "filler");
  FS_RUN(home, "init", "--manager", "gus");
  char first[64];
  ADD(home, first, "customer", "add", "--name", "Before The Disk Filled");
  /* fill what is left */
  int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  static char block[4096];
  memset(block, 'x', sizeof block);
  while (fd >= 0 && write(fd, block, sizeof block) > 0) {
  }
  if (fd >= 0) close(fd);
  char *err = NULL, want[512];
  int rc = 0;
  /* the WAL may still have room for a row or two */
  for (int i = 0;
       i < 50 && (rc = e2e_fs(home, NULL, &err,
                              ARGS("customer", "add", "--name", "While The Disk Is Full"))) == 0;
       i++) {
    free(err);
    err = NULL;
  }
  CHECK(rc != 0);
  CHECK(e2e_one_line(err, "fieldsync: "));
  printf("  a full disk: %s", err ? err : "(nothing)\n");
  snprintf(want, sizeof want, "the disk holding %s is full (", home);
  CHECK_CONTAINS(err, want);
  CHECK_CONTAINS(err,
                 "): free space there (0 MB free) and run the command again; nothing was lost");
  free(err);
  /* space freed: the same command works, and what was there is there */
  CHECK(unlink(filler) == 0);
  char after[64];
  ADD(home, after, "customer", "add", "--name", "After Space Was Freed");
  char *out = e2e_fs_ok(__LINE__, home, ARGS("customer", "list", "--json"));
  CHECK_CONTAINS(out, "Before The Disk Filled");
  CHECK_CONTAINS(out, "After Space Was Freed");
  free(out);
  fs_device *dev = NULL;
  CHECK_OK(tu_device_open(&dev, home, NULL));
  if (dev) CHECK_OK(fsi_store_check(fs_device_store(dev))); /* every page authenticates */
  fs_device_close(dev);
  CHECK(umount(mnt) == 0);
  free(home);
  free(filler);
  free(mnt);
}

/* A server home whose certificate is valid from `from` to `to` (Unix
 * seconds), made before `init`, which is given it. */
static e2e_server *server_with_cert(const char *name, time_t from, time_t to) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s-cert.pem", name);
  char *cert = e2e_path(g_dir, buf);
  snprintf(buf, sizeof buf, "%s-key.pem", name);
  char *key = e2e_path(g_dir, buf);
  e2e_server *s = NULL;
  CHECK_OK(tlsgen_self_signed_window(cert, key, NULL, from, to));
  s = calloc(1, sizeof *s);
  if (!s) abort();
  s->dir = strdup(g_dir);
  s->home = e2e_path(g_dir, name);
  snprintf(buf, sizeof buf, "%s.log", name);
  s->log = e2e_path(g_dir, buf);
  snprintf(buf, sizeof buf, "%s.port", name);
  s->port_file = e2e_path(g_dir, buf);
  mkdir(s->home, 0700);
  HQ_RUN(s, "init", "--cert", cert, "--key", key);
  snprintf(s->cert, sizeof s->cert, "%s", cert);
  free(cert);
  free(key);
  if (e2e_server_start(s, 0)) {
    e2e_server_free(s);
    return NULL;
  }
  return s;
}

static void today(char out[16]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 16, "%Y-%m-%d", &tm);
}

static void test_certificate_not_yet_valid(void) {
  time_t now = time(NULL);
  e2e_server *s = server_with_cert("hq-future-cert", now + 3 * 86400, now + 30 * 86400);
  if (!s) return;
  char *home = e2e_path(g_dir, "hana-laptop"), *err = NULL, date[16];
  FS_RUN(home, "init", "--manager", "hana");
  char *tok = e2e_hq_ok(__LINE__, s, ARGS("token", "create", "--manager", "hana"));
  if (tok) tok[strcspn(tok, "\r\n")] = '\0';
  CHECK(e2e_fs(home, NULL, &err,
               ARGS("enroll", "--server", s->url, "--token", tok ? tok : "", "--ca", s->cert)) !=
        0);
  CHECK(e2e_one_line(err, "fieldsync: "));
  printf("  a certificate not valid yet: %s", err ? err : "(nothing)\n");
  CHECK_CONTAINS(err, "the server's certificate");
  CHECK_CONTAINS(err, "is not valid yet by this laptop's clock, which reads ");
  today(date);
  CHECK_CONTAINS(err, date);
  CHECK_CONTAINS(err, "this laptop's clock looks wrong");
  CHECK_CONTAINS(err, "timedatectl set-ntp true");
  free(err);
  free(tok);
  free(home);
  e2e_server_free(s);
}

static void test_certificate_expired(void) {
  time_t now = time(NULL);
  e2e_server *s = server_with_cert("hq-old-cert", now - 10 * 86400, now + 4);
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "ida-laptop", "ida");
  char id[64], *err = NULL;
  ADD(home, id, "customer", "add", "--name", "Kept While The Certificate Expired");
  while (time(NULL) <= now + 5) e2e_msleep(100);
  CHECK(e2e_fs(home, NULL, &err, ARGS("sync")) != 0);
  CHECK(e2e_one_line(err, "fieldsync: "));
  printf("  an expired certificate: %s", err ? err : "(nothing)\n");
  CHECK_CONTAINS(err, "has expired");
  CHECK_CONTAINS(err, "head office must renew its certificate");
  free(err);
  CHECK_EQ_INT(pending_of(__LINE__, home), 1);
  free(home);
  e2e_server_free(s);
}

int main(void) {
  g_dir = tu_tmpdir("e2e-laptop");
  TEST_RUN(test_two_syncs_at_once);
  TEST_RUN(test_sync_already_running);
  TEST_RUN(test_disk_full);
  TEST_RUN(test_certificate_not_yet_valid);
  TEST_RUN(test_certificate_expired);
  e2e_stop_all();
  int rc = tu_finish();
  if (rc == 0) tu_rmrf(g_dir);
  free(g_dir);
  return rc;
}
