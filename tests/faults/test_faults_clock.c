/*
 * test_faults_clock.c — wrong clocks on the laptop and at head office, both
 * ways, with libfaketime (LD_PRELOAD of Debian's libfaketime into the one
 * program whose clock is wrong; FAKETIME="+61m", "-3d", ...).  Written
 * against the contract of issue 11, items 5, 6 and 9 (docs/faults.md):
 *
 *  - a laptop clock ahead (+61 min, +2 days): the push is refused with a
 *    sentence naming the laptop's clock; once the clock is right again the
 *    very next sync succeeds (the refused batch is re-captured with sane
 *    clocks, the values kept), and an edit made under the wrong clock does
 *    not beat a later real edit from another device;
 *  - a laptop clock behind (-61 min) syncs, or says its own clock is
 *    behind; three days behind (TLS says the certificate is not yet valid)
 *    the sentence says the laptop's clock looks wrong, and once it is right
 *    the work done meanwhile arrives;
 *  - head office's clock behind its own store (-61 min): `serve` and
 *    `import` refuse to run, saying head office's clock is behind;
 *  - head office's clock ahead (+61 min) during an import: a device that
 *    refuses the import's clocks says it is head office's clock, not a
 *    bare "clock skew".
 * Every case ends with the suite's whole check (faults.h) once the clocks
 * are right.  A case that needs libfaketime and does not find it prints
 * SKIP and exits 77 (tests.cmake: SKIP_RETURN_CODE).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#define SKIP_CODE 77
#define FAKETIME_DIR "/usr/lib/x86_64-linux-gnu/faketime/"
static int g_skipped;

/* The environment of the next programs started: their clock `offset`
 * (libfaketime syntax) or, with NULL, the real clock again. */
static void clock_off(const char *offset) {
  static char *asan_saved;
  static int saved;
  if (offset) {
    /* the threaded server wants the thread-safe flavour */
    setenv("LD_PRELOAD", FAKETIME_DIR "libfaketimeMT.so.1", 1);
    setenv("FAKETIME", offset, 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    const char *asan = getenv("ASAN_OPTIONS");
    if (!saved) {
      asan_saved = asan ? strdup(asan) : NULL;
      saved = 1;
    }
    char opts[512];
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan_saved ? asan_saved : "",
             asan_saved && *asan_saved ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
  } else {
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME");
    unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");
    if (saved) {
      if (asan_saved)
        setenv("ASAN_OPTIONS", asan_saved, 1);
      else
        unsetenv("ASAN_OPTIONS");
      free(asan_saved);
      asan_saved = NULL;
      saved = 0;
    }
  }
}

static int have_faketime(void) {
  if (access(FAKETIME_DIR "libfaketimeMT.so.1", R_OK) == 0) return 1;
  printf("SKIP %s: libfaketime is not installed (apt-get install libfaketime)\n", tu_case);
  g_skipped = 1;
  return 0;
}

/* Whether a one-line message names `side` ("device" = the laptop's clock,
 * "hq" = head office's), the direction ("ahead"/"behind") and an amount. */
static int names_side(const char *msg_in, const char *side, const char *dir) {
  char msg[2048];
  size_t n = 0;
  /* paths in the message (a CA file under the test's directory) say
   * nothing: each is read as "PATH" */
  for (const char *p = msg_in; p && *p && n + 5 < sizeof msg;) {
    if (*p == '/' && (p == msg_in || p[-1] == ' ' || p[-1] == '(')) {
      while (*p && *p != ' ' && *p != ')') p++;
      memcpy(msg + n, "PATH", 4);
      n += 4;
    } else {
      msg[n++] = *p++;
    }
  }
  msg[n] = '\0';
  if (!strstr(msg, "clock") || !strstr(msg, dir) || !strpbrk(msg, "0123456789")) return 0;
  if (!strcmp(side, "hq"))
    return strstr(msg, "head office") != NULL || strstr(msg, "server") != NULL;
  return strstr(msg, "laptop") != NULL || strstr(msg, "this device") != NULL ||
         strstr(msg, "device's clock") != NULL || strstr(msg, "computer") != NULL;
}

#define CHECK_NAMES(msg, side, dir)                                                                \
  do {                                                                                             \
    tu_checks++;                                                                                   \
    if (!names_side(msg, side, dir))                                                               \
      tu_fail(__FILE__, __LINE__,                                                                  \
              "the message does not say %s's clock is %s, and by how much: %s",                    \
              !strcmp(side, "hq") ? "head office" : "the laptop", dir, msg ? msg : "(none)");      \
  } while (0)

/* A meeting typed on d (now, whatever its clock), notes "TAG:N" so the
 * end check counts it. */
static void typed_meeting(int line, fk_device *d, const char *at) {
  char notes[64], id[64];
  snprintf(notes, sizeof notes, "%s:%ld", d->tag, d->written);
  e2e_add(line, d->home, id,
          ARGS("meeting", "add", "--customer", d->customer, "--at", at, "--notes", notes));
  if (strlen(id) == 36) d->written++;
}

static char *customer_field(int line, const char *home, const char *id, const char *key) {
  cJSON *c = e2e_fs_json(line, home, ARGS("customer", "show", id, "--json"));
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
  if (!cJSON_IsString(v))
    v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "customer"), key);
  char *out = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
  cJSON_Delete(c);
  return out;
}

/* The value of customers.`col` for `id` in head office's store. */
static char *hq_customer_col(const e2e_server *s, const char *id, const char *col) {
  char *doc_text = e2e_export_hq(__LINE__, s, NULL);
  cJSON *doc = doc_text ? cJSON_Parse(doc_text) : NULL, *r;
  char *out = NULL;
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "customers")) {
    const char *rid = e2e_str(r, "id"), *v = e2e_str(r, col);
    if (rid && !strcmp(rid, id) && v) out = strdup(v);
  }
  cJSON_Delete(doc);
  free(doc_text);
  return out;
}

typedef struct {
  char *dir;
  e2e_server *s;
  fk_device d[2];
  int n;
} world;

/* A head office and two devices of anna, each with a few synced rows. */
static int world_new(world *w, const char *tag) {
  memset(w, 0, sizeof *w);
  w->dir = tu_tmpdir(tag);
  w->s = e2e_server_new(w->dir, "hq");
  if (!w->s || e2e_server_start(w->s, 0)) return -1;
  /* neutral names: a path in a message must not look like an answer */
  static const char *const names[2] = {"dev1", "dev2"};
  for (; w->n < 2; w->n++) {
    if (fk_device_init(__LINE__, &w->d[w->n], w->s, w->dir, names[w->n], "anna")) return -1;
    if (fk_device_write(&w->d[w->n], 100)) return -1;
    fk_sync_until_ok(__LINE__, w->d[w->n].home, 3);
  }
  return 0;
}

static void world_free(world *w) {
  for (int i = 0; i < w->n; i++) fk_device_free(&w->d[i]);
  e2e_server_free(w->s);
  if (w->dir) tu_rmrf(w->dir);
  free(w->dir);
}

/* `fieldsync sync` of home; its exit status, stderr into *err. */
static int sync_of(const char *home, char **err) { return e2e_fs(home, NULL, err, ARGS("sync")); }

/* ------------------------------------------------ the laptop ahead */

static void laptop_ahead(const char *offset, const char *tag) {
  world w;
  char *err = NULL, *hq_phone = NULL;
  if (!have_faketime()) return;
  if (world_new(&w, tag)) goto done;
  fk_device *lap = &w.d[0];
  /* the laptop's clock goes wrong; its manager works on */
  clock_off(offset);
  typed_meeting(__LINE__, lap, "2026-03-10 10:30");
  FS_RUN(lap->home, "customer", "edit", lap->customer, "--phone", "+49 40 111");
  int rc = sync_of(lap->home, &err);
  clock_off(NULL);
  tu_checks++;
  if (rc == 0) tu_fail(__FILE__, __LINE__, "a push %s ahead was accepted", offset);
  CHECK_NAMES(err, "device", "ahead");
  printf("  laptop %s: sync exit %d: %s", offset, rc, err ? err : "");
  free(err);
  err = NULL;
  /* the clock is right again: the next sync goes through at once */
  rc = sync_of(lap->home, &err);
  tu_checks++;
  if (rc != 0)
    tu_fail(__FILE__, __LINE__, "the first sync with the clock fixed failed (exit %d): %s", rc,
            err ? err : "");
  free(err);
  err = NULL;
  cJSON *st = FS_JSON(lap->home, "status", "--json");
  CHECK_EQ_INT(e2e_int(st, "pending"), 0);
  cJSON_Delete(st);
  /* the values typed under the wrong clock are kept */
  CHECK_STR(hq_phone = hq_customer_col(w.s, lap->customer, "phone"), "+49 40 111");
  fk_check_all(__LINE__, tag, w.s, w.d, w.n, 2);
done:
  free(hq_phone);
  world_free(&w);
}

static void test_laptop_ahead_61m_recovers(void) { laptop_ahead("+61m", "ft-a61m"); }
static void test_laptop_ahead_2d_recovers(void) { laptop_ahead("+2d", "ft-a2d"); }

/* An edit made under a clock two days ahead, then (clock fixed, synced) a
 * later real edit of the same field on another device: the later edit is
 * the one every replica keeps. */
static void test_laptop_ahead_stale_edit_loses(void) {
  world w;
  char *err = NULL, *v[3] = {NULL, NULL, NULL};
  if (!have_faketime()) return;
  if (world_new(&w, "ft-stale")) goto done;
  fk_device *lap = &w.d[0], *col = &w.d[1];
  clock_off("+2d");
  FS_RUN(lap->home, "customer", "edit", lap->customer, "--phone", "+49 40 222 (wrong clock)");
  int rc = sync_of(lap->home, &err);
  clock_off(NULL);
  free(err);
  err = NULL;
  CHECK(rc != 0);
  /* clock fixed; the laptop syncs (however that goes), then the colleague
   * corrects the phone number, later in real time */
  rc = sync_of(lap->home, &err);
  printf("  laptop +2d, clock fixed: sync exit %d%s%s", rc, rc ? ": " : "\n", rc ? err : "");
  free(err);
  err = NULL;
  e2e_msleep(20);
  fk_sync_until_ok(__LINE__, col->home, 3);
  FS_RUN(col->home, "customer", "edit", lap->customer, "--phone", "+49 40 333 (later)");
  fk_sync_until_ok(__LINE__, col->home, 3);
  for (int i = 0; i < 2; i++) {
    sync_of(lap->home, NULL);
    sync_of(col->home, NULL);
  }
  v[0] = hq_customer_col(w.s, lap->customer, "phone");
  v[1] = customer_field(__LINE__, lap->home, lap->customer, "phone");
  v[2] = customer_field(__LINE__, col->home, lap->customer, "phone");
  CHECK_STR(v[0], "+49 40 333 (later)");
  CHECK_STR(v[1], "+49 40 333 (later)");
  CHECK_STR(v[2], "+49 40 333 (later)");
  fk_check_all(__LINE__, "stale edit under a clock ahead", w.s, w.d, w.n, 2);
done:
  for (int i = 0; i < 3; i++) free(v[i]);
  world_free(&w);
}

/* ------------------------------------------------ the laptop behind */

/* A laptop 61 min behind sees head office's clocks an hour "ahead": it
 * syncs, or says its own clock is behind (not a bare "clock skew"). */
static void test_laptop_behind_61m(void) {
  world w;
  char *err = NULL;
  if (!have_faketime()) return;
  if (world_new(&w, "ft-b61m")) goto done;
  fk_device *lap = &w.d[0];
  clock_off("-61m");
  typed_meeting(__LINE__, lap, "2026-03-11 09:00");
  FS_RUN(lap->home, "customer", "edit", lap->customer, "--phone", "+49 40 444");
  int rc = sync_of(lap->home, &err);
  clock_off(NULL);
  printf("  laptop 61 min behind: sync exit %d: %s", rc, rc && err ? err : "\n");
  if (rc != 0) CHECK_NAMES(err, "device", "behind");
  free(err);
  fk_check_all(__LINE__, "laptop 61 min behind", w.s, w.d, w.n, 2);
done:
  world_free(&w);
}

static void test_laptop_behind_3d_says_clock(void) {
  world w;
  char *err = NULL;
  if (!have_faketime()) return;
  if (world_new(&w, "ft-b3d")) goto done;
  fk_device *lap = &w.d[0];
  clock_off("-3d");
  typed_meeting(__LINE__, lap, "2026-03-12 09:00");
  typed_meeting(__LINE__, lap, "2026-03-12 11:00");
  int rc = sync_of(lap->home, &err);
  clock_off(NULL);
  printf("  laptop 3 days behind: sync exit %d: %s", rc, err ? err : "\n");
  if (rc == 0) {
    printf("  (the sync went through)\n");
  } else {
    /* TLS finds head office's certificate not yet valid: say it is the
     * laptop's clock that looks wrong, and what it reads (by how much it is
     * behind cannot be known before head office can be asked) */
    CHECK_CONTAINS(err, "certificate");
    CHECK_CONTAINS(err, "this laptop's clock looks wrong");
    CHECK_CONTAINS(err, "which reads 20");
  }
  free(err);
  /* the clock right again: the meetings typed meanwhile arrive */
  fk_check_all(__LINE__, "laptop 3 days behind", w.s, w.d, w.n, 2);
done:
  world_free(&w);
}

/* ------------------------------------------------ head office's clock */

/* `fieldsync-server serve` started with the current environment: 1 when
 * it serves (port file written) within 10 s, 0 when it exits first (its
 * stderr into *err). */
static int serve_starts(e2e_server *s, char **err) {
  char *log = e2e_path(s->dir, "skewed-serve.log"), *pf = e2e_path(s->dir, "skewed.port");
  unlink(log);
  unlink(pf);
  const char *argv[] = {"fieldsync-server", "--home",      s->home, "serve", "--listen",
                        "127.0.0.1:0",      "--port-file", pf,      NULL};
  pid_t pid = e2e_spawn(argv, NULL, log);
  int serving = 0;
  long long until = fk_now_ms() + 10000;
  while (fk_now_ms() < until && fk_running(pid)) {
    char *t = tu_read_file(pf, NULL);
    serving = t && atoi(t) > 0;
    free(t);
    if (serving) break;
    e2e_msleep(10);
  }
  if (serving) {
    kill(pid, SIGTERM);
    e2e_wait(pid, 15000);
  } else {
    e2e_wait(pid, 15000);
  }
  *err = tu_read_file(log, NULL);
  free(log);
  free(pf);
  return serving;
}

static void test_hq_behind_refuses_serve(void) {
  world w;
  char *err = NULL;
  if (!have_faketime()) return;
  if (world_new(&w, "ft-hqb")) goto done;
  CHECK_EQ_INT(e2e_server_stop(w.s), 0);
  int port = w.s->port;
  clock_off("-61m");
  int serving = serve_starts(w.s, &err);
  clock_off(NULL);
  tu_checks++;
  if (serving)
    tu_fail(__FILE__, __LINE__, "serve ran with a clock 61 min behind its own store");
  else
    CHECK_NAMES(err, "hq", "behind");
  printf("  head office 61 min behind: serve %s: %s", serving ? "ran" : "refused",
         err ? err : "\n");
  free(err);
  err = NULL;
  /* and if it does serve, a push is refused blaming the device: the
   * device's sentence must name head office */
  if (serving) {
    clock_off("-61m");
    int rc = e2e_server_start(w.s, port);
    clock_off(NULL);
    if (rc) goto done;
    typed_meeting(__LINE__, &w.d[0], "2026-03-13 09:00");
    rc = sync_of(w.d[0].home, &err);
    printf("  push to head office 61 min behind: exit %d: %s", rc, err ? err : "\n");
    if (rc) CHECK_NAMES(err, "hq", "behind");
    free(err);
    err = NULL;
    e2e_server_stop(w.s);
  }
  if (e2e_server_start(w.s, port)) goto done;
  fk_check_all(__LINE__, "head office behind (serve)", w.s, w.d, w.n, 2);
done:
  world_free(&w);
}

static void test_hq_behind_refuses_import(void) {
  world w;
  char *out = NULL, *err = NULL, *before = NULL, *after = NULL;
  if (!have_faketime()) return;
  if (world_new(&w, "ft-hqi")) goto done;
  char *csv = e2e_path(w.dir, "prices-new.csv");
  CHECK(tu_write_file(csv, "sku,currency,price\nCHAIR-01,EUR,299.00\n") == 0);
  before = e2e_export_hq(__LINE__, w.s, NULL);
  clock_off("-61m");
  int rc = e2e_hq(w.s, &out, &err, ARGS("import", "prices", csv));
  clock_off(NULL);
  after = e2e_export_hq(__LINE__, w.s, NULL);
  printf("  import with head office 61 min behind: exit %d: %s", rc, err && *err ? err : "\n");
  tu_checks++;
  if (rc == 0) tu_fail(__FILE__, __LINE__, "import ran with a clock 61 min behind its own store");
  if (rc != 0) {
    CHECK_NAMES(err, "hq", "behind");
    CHECK(before && after && !strcmp(before, after)); /* nothing imported */
  }
  free(csv);
  fk_check_all(__LINE__, "head office behind (import)", w.s, w.d, w.n, 2);
done:
  free(out);
  free(err);
  free(before);
  free(after);
  world_free(&w);
}

static void test_hq_ahead_import_named(void) {
  world w;
  char *err = NULL;
  if (!have_faketime()) return;
  if (world_new(&w, "ft-hqa")) goto done;
  char *csv = e2e_path(w.dir, "prices-new.csv");
  CHECK(tu_write_file(csv, "sku,currency,price\nDESK-02,EUR,699.00\n") == 0);
  clock_off("+61m");
  HQ_RUN(w.s, "import", "prices", csv);
  clock_off(NULL);
  free(csv);
  fk_device *lap = &w.d[0];
  typed_meeting(__LINE__, lap, "2026-03-14 09:00");
  int rc = sync_of(lap->home, &err);
  printf("  pull of an import made 61 min ahead: exit %d: %s", rc, err && *err ? err : "\n");
  if (rc != 0) {
    CHECK_NAMES(err, "hq", "ahead");
    tu_checks++;
    if (err && !strcmp(err, "fieldsync: clock skew\n"))
      tu_fail(__FILE__, __LINE__, "the bare message \"clock skew\" names no side");
  }
  free(err);
  /* the laptop's own work reached head office regardless */
  long l = 0, d = 0;
  CHECK(fk_lost_doubled(lap, w.s, &l, &d) == 0 && l == 0 && d == 0);
  /* an hour later (the laptop's clock now past the import's) all agree */
  clock_off("+62m");
  for (int i = 0; i < w.n; i++) fk_sync_until_ok(__LINE__, w.d[i].home, 2);
  clock_off(NULL);
  fk_check_all(__LINE__, "head office ahead (import)", w.s, w.d, w.n, 2);
done:
  world_free(&w);
}

int main(void) {
  fk_seed();
  TEST_RUN(test_laptop_ahead_61m_recovers);
  TEST_RUN(test_laptop_ahead_2d_recovers);
  TEST_RUN(test_laptop_ahead_stale_edit_loses);
  TEST_RUN(test_laptop_behind_61m);
  TEST_RUN(test_laptop_behind_3d_says_clock);
  TEST_RUN(test_hq_behind_refuses_serve);
  TEST_RUN(test_hq_behind_refuses_import);
  TEST_RUN(test_hq_ahead_import_named);
  e2e_stop_all();
  int rc = tu_finish();
  return rc == 0 && g_skipped ? SKIP_CODE : rc;
}
