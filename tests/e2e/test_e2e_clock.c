/*
 * test_e2e_clock.c — wrong clocks end to end: a laptop's and head office's,
 * ahead and behind, through the real `fieldsync` and `fieldsync-server` on
 * 127.0.0.1.
 *
 * A process's clock is set off with FIELDSYNC_TEST_CLOCK_OFFSET_MS (a test
 * build's hook, core/util.c: the clock keeps running, just set wrong), in
 * the environment of the one command or server it is meant for.
 *
 * Covers:
 *  - a laptop two days ahead: its edit is refused (the sentence says the
 *    laptop's clock is ahead and nothing is lost); once its clock is put
 *    right it syncs at once, without waiting two days; another device's
 *    later edit of the same phone wins everywhere; its other edits arrive;
 *  - a laptop 61 minutes ahead, synced again two minutes after its clock was
 *    put right (when head office would accept the stale clock): its stale
 *    edit still does not beat the later real one;
 *  - a laptop put two hours back after a sync: what head office sends is
 *    refused with a sentence saying this laptop's own clock is wrong (a
 *    pull refused this way used to say only "clock skew");
 *  - head office 61 minutes ahead: what it imports is refused by the
 *    laptop, with a sentence saying head office's clock is ahead by how
 *    much (not a bare "clock skew"), and nothing of it applied;
 *  - head office 61 minutes behind its store: `serve` and `import` refuse to
 *    run and say what to do; with --trust-clock `serve` runs, and a laptop
 *    whose push it refuses is told head office's clock is behind; once the
 *    clock is right the push goes through.
 */
#include "e2e.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_MS (60LL * 1000)
#define DAY_MS (24LL * 3600 * 1000)

static char *g_dir;

/* Sets (ms != 0) or clears this process's clock offset, which the
 * commands and servers it starts inherit. */
static void clock_off(long long ms) {
  if (!ms) {
    unsetenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS");
    return;
  }
  char v[32];
  snprintf(v, sizeof v, "%lld", ms);
  setenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS", v, 1);
}

static e2e_server *server(const char *name) {
  e2e_server *s = e2e_server_new(g_dir, name);
  if (s && e2e_server_start(s, 0)) {
    e2e_server_free(s);
    return NULL;
  }
  return s;
}

/* `fieldsync sync` that must fail: its one stderr line (caller frees). */
static char *sync_fails(int line, const char *home) {
  char *err = NULL;
  int rc = e2e_fs(home, NULL, &err, ARGS("sync"));
  tu_checks += 2;
  if (rc == 0) tu_fail(__FILE__, line, "sync of %s succeeded; it should have been refused", home);
  if (!e2e_one_line(err, "fieldsync: "))
    tu_fail(__FILE__, line, "not one line on stderr: %s", err ? err : "(null)");
  return err;
}

/* The value of `col` of customer `id` in a device's export. */
static char *customer_col(int line, const char *home, const char *id, const char *col) {
  char *text = e2e_export_dev(line, home);
  cJSON *doc = text ? cJSON_Parse(text) : NULL, *r;
  char *v = NULL;
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "customers")) {
    const char *rid = e2e_str(r, "id"), *val = e2e_str(r, col);
    if (rid && !strcmp(rid, id) && val) v = strdup(val);
  }
  cJSON_Delete(doc);
  free(text);
  return v;
}

#define CHECK_PHONE(home, id, want)                                                                \
  do {                                                                                             \
    char *tu_p_ = customer_col(__LINE__, home, id, "phone");                                       \
    CHECK_STR(tu_p_, want);                                                                        \
    free(tu_p_);                                                                                   \
  } while (0)

/* Rows of `table` in head office's export whose `col` is `val`. */
static int hq_rows(int line, const e2e_server *s, const char *table, const char *col,
                   const char *val) {
  char *text = e2e_export_hq(line, s, NULL);
  cJSON *doc = text ? cJSON_Parse(text) : NULL;
  int n = e2e_rows_where(doc, table, col, val);
  cJSON_Delete(doc);
  free(text);
  return n;
}

#ifdef FS_TEST_HOOKS
/* The laptop two days ahead, then put right. */
static void test_laptop_two_days_ahead(void) {
  e2e_server *s = server("hq-ahead2d");
  if (!s) return;
  char *a = e2e_device_new(__LINE__, s, g_dir, "anna-laptop", "anna");
  char *b = e2e_device_new(__LINE__, s, g_dir, "anna-tablet", "anna");
  char cust[64], m1[64], m2[64];
  ADD(a, cust, "customer", "add", "--name", "Acme Clocks", "--phone", "111");
  ADD(a, m1, "meeting", "add", "--customer", cust, "--at", "2026-04-01 10:00", "--notes",
      "before the clock went wrong");
  SYNC(a);
  SYNC(b);
  CHECK_PHONE(b, cust, "111");

  clock_off(2 * DAY_MS);
  FS_RUN(a, "customer", "edit", cust, "--phone", "222 from a clock two days ahead");
  ADD(a, m2, "meeting", "add", "--customer", cust, "--at", "2026-04-02 10:00", "--notes",
      "made while the clock was wrong");
  char *err = sync_fails(__LINE__, a);
  CHECK_CONTAINS(err, "this laptop's clock is 2 days ahead of head office's");
  CHECK_CONTAINS(err, "nothing is lost");
  free(err);
  clock_off(0);
  CHECK_EQ_INT(hq_rows(__LINE__, s, "customers", "phone", "111"), 1);
  CHECK_EQ_INT(hq_rows(__LINE__, s, "meetings", "id", m2), 0);

  /* the clock is put right; later (in real time) the tablet edits the phone */
  FS_RUN(b, "customer", "edit", cust, "--phone", "333 from the tablet, later");
  /* the laptop syncs at once: no waiting two days */
  cJSON *st = e2e_sync(__LINE__, a);
  CHECK(e2e_int(st, "pushed") >= 2);
  cJSON_Delete(st);
  SYNC(b);
  SYNC(a);
  CHECK_PHONE(a, cust, "333 from the tablet, later");
  CHECK_PHONE(b, cust, "333 from the tablet, later");
  CHECK_EQ_INT(hq_rows(__LINE__, s, "customers", "phone", "333 from the tablet, later"), 1);
  /* nothing lost: the laptop's other edit made under the wrong clock */
  CHECK_EQ_INT(hq_rows(__LINE__, s, "meetings", "id", m2), 1);
  CHECK_EQ_INT(hq_rows(__LINE__, s, "meetings", "id", m1), 1);
  /* the laptop's clock is back: a new edit goes out and wins as it should */
  FS_RUN(a, "customer", "edit", cust, "--email", "after@acme.example");
  SYNC(a);
  SYNC(b);
  char *email = customer_col(__LINE__, b, cust, "email");
  CHECK_STR(email, "after@acme.example");
  free(email);
  SAME_AS_HQ(a, s, "anna");
  SAME_AS_HQ(b, s, "anna");
  HQ_RUN(s, "verify-log");
  free(a);
  free(b);
  e2e_server_free(s);
}

/* The laptop 61 minutes ahead, synced again two minutes after it was put
 * right: head office would take the stale clock by then. */
static void test_laptop_an_hour_ahead(void) {
  e2e_server *s = server("hq-ahead61");
  if (!s) return;
  int port = s->port;
  char *a = e2e_device_new(__LINE__, s, g_dir, "ben-laptop", "ben");
  char *b = e2e_device_new(__LINE__, s, g_dir, "ben-tablet", "ben");
  char cust[64];
  ADD(a, cust, "customer", "add", "--name", "Hour Ahead Ltd", "--phone", "100");
  SYNC(a);
  SYNC(b);
  clock_off(61 * MIN_MS);
  FS_RUN(a, "customer", "edit", cust, "--phone", "200 stale, an hour ahead");
  char *err = sync_fails(__LINE__, a);
  CHECK_CONTAINS(err, "61 minutes ahead of head office's");
  free(err);
  /* two minutes later for everyone, the laptop's clock right again */
  clock_off(0);
  e2e_server_stop(s);
  clock_off(2 * MIN_MS);
  CHECK(e2e_server_start(s, port) == 0);
  FS_RUN(b, "customer", "edit", cust, "--phone", "300 real, after the stale one");
  SYNC(a);
  SYNC(b);
  SYNC(a);
  CHECK_PHONE(a, cust, "300 real, after the stale one");
  CHECK_PHONE(b, cust, "300 real, after the stale one");
  SAME_AS_HQ(a, s, "ben");
  SAME_AS_HQ(b, s, "ben");
  clock_off(0);
  free(a);
  free(b);
  e2e_server_free(s);
}

/* The laptop's clock put two hours back after a sync: what head office sends
 * next is refused, and the sentence says it is this laptop's clock that is
 * wrong (it holds changes stamped later than its clock reads). */
static void test_laptop_two_hours_behind(void) {
  e2e_server *s = server("hq-laptop-behind");
  if (!s) return;
  char *a = e2e_device_new(__LINE__, s, g_dir, "gil-laptop", "gil");
  SYNC(a);
  char *csv = e2e_path(g_dir, "behind-products.csv");
  CHECK(tu_write_file(csv, "sku,name,unit,active\nNEW-01,Made at head office,piece,1\n") == 0);
  HQ_RUN(s, "import", "products", csv);
  clock_off(-120 * MIN_MS);
  char *err = sync_fails(__LINE__, a);
  clock_off(0);
  CHECK_CONTAINS(err, "minutes behind the newest change it already holds");
  CHECK_CONTAINS(err, "so its own clock is wrong: correct it");
  free(err);
  SYNC(a);
  char *products = e2e_fs_ok(__LINE__, a, ARGS("product", "list", "--json"));
  CHECK_CONTAINS(products, "NEW-01");
  free(products);
  free(csv);
  free(a);
  e2e_server_free(s);
}

/* Head office 61 minutes ahead: the laptop refuses what it imports. */
static void test_server_an_hour_ahead(void) {
  e2e_server *s = e2e_server_new(g_dir, "hq-fast");
  if (!s) return;
  clock_off(61 * MIN_MS);
  if (e2e_server_start(s, 0)) {
    clock_off(0);
    e2e_server_free(s);
    return;
  }
  char *csv = e2e_path(g_dir, "fast-products.csv");
  CHECK(tu_write_file(csv, "sku,name,unit,active\nFAST-61,Stamped an hour ahead,piece,1\n") == 0);
  HQ_RUN(s, "import", "products", csv);
  clock_off(0);
  char *a = e2e_device_new(__LINE__, s, g_dir, "cleo-laptop", "cleo");
  char *err = sync_fails(__LINE__, a);
  CHECK_CONTAINS(err, "head office's clock is 61 minutes ahead of this laptop's");
  CHECK_CONTAINS(err, "head office must correct its clock");
  CHECK(strcmp(err, "fieldsync: clock skew\n") != 0);
  free(err);
  char *products = e2e_fs_ok(__LINE__, a, ARGS("product", "list", "--json"));
  CHECK(products && !strstr(products, "FAST-61"));
  free(products);
  free(csv);
  free(a);
  e2e_server_free(s);
}

/* Head office's clock behind the newest change in its store. */
static void test_server_an_hour_behind(void) {
  e2e_server *s = server("hq-slow");
  if (!s) return;
  int port = s->port;
  char *a = e2e_device_new(__LINE__, s, g_dir, "dan-laptop", "dan");
  char cust[64];
  ADD(a, cust, "customer", "add", "--name", "Before The Clock Went Back");
  SYNC(a);
  e2e_server_stop(s);

  /* serve refuses to start, import to run */
  clock_off(-61 * MIN_MS);
  char *log = e2e_path(g_dir, "hq-slow-refused.log"), *port_file = e2e_path(g_dir, "slow.port");
  const char *argv[] = {"fieldsync-server", "--home",      s->home,   "serve", "--listen",
                        "127.0.0.1:0",      "--port-file", port_file, NULL};
  pid_t pid = e2e_spawn(argv, NULL, log);
  int rc = e2e_wait(pid, 10000);
  CHECK(rc > 0);
  char *text = tu_read_file(log, NULL);
  CHECK_CONTAINS(text, "this server's clock is 61 minutes behind the newest change in its store");
  CHECK_CONTAINS(text, "correct the clock (timedatectl / NTP) and start again");
  free(text);
  char *csv = e2e_path(g_dir, "slow-products.csv"), *err = NULL;
  CHECK(tu_write_file(csv, "sku,name,unit,active\nSLOW-61,Stamped an hour behind,piece,1\n") == 0);
  CHECK(e2e_hq(s, NULL, &err, ARGS("import", "products", csv)) != 0);
  CHECK_CONTAINS(err, "this server's clock is 61 minutes behind the newest change in its store");
  free(err);

  /* with --trust-clock it serves; the laptop is told whose clock is off */
  static const char *const trust[] = {"--trust-clock", NULL};
  s->serve_args = trust;
  CHECK(e2e_server_start(s, port) == 0);
  clock_off(0);
  char late[64];
  ADD(a, late, "customer", "add", "--name", "Made While Head Office Ran Behind");
  err = sync_fails(__LINE__, a);
  CHECK_CONTAINS(err, "head office's clock is 61 minutes behind this laptop's");
  CHECK_CONTAINS(err, "head office must correct its clock");
  CHECK_CONTAINS(err, "nothing is lost");
  free(err);
  CHECK_EQ_INT(hq_rows(__LINE__, s, "customers", "id", late), 0);

  /* the clock put right: the push goes through, nothing lost */
  e2e_server_stop(s);
  s->serve_args = NULL;
  CHECK(e2e_server_start(s, port) == 0);
  SYNC(a);
  CHECK_EQ_INT(hq_rows(__LINE__, s, "customers", "id", late), 1);
  SAME_AS_HQ(a, s, "dan");
  free(csv);
  free(log);
  free(port_file);
  free(a);
  e2e_server_free(s);
}
#endif

int main(void) {
  g_dir = tu_tmpdir("e2e-clock");
#ifdef FS_TEST_HOOKS
  TEST_RUN(test_laptop_two_days_ahead);
  TEST_RUN(test_laptop_an_hour_ahead);
  TEST_RUN(test_laptop_two_hours_behind);
  TEST_RUN(test_server_an_hour_ahead);
  TEST_RUN(test_server_an_hour_behind);
#else
  printf("SKIP: the clock tests need a test build (-DFS_TEST_HOOKS=ON) for the clock offset\n");
#endif
  e2e_stop_all();
  int rc = tu_finish();
  if (rc == 0) tu_rmrf(g_dir);
  free(g_dir);
  return rc;
}
