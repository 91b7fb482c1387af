/*
 * e2e.c — see e2e.h.  Child processes are started with fork/exec; every
 * wait is bounded; running servers are tracked in a fixed list so they can
 * be stopped from main and from an atexit handler whatever a test did.
 */
#include "e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <fieldsync/device.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define E2E_MAX_SERVERS 16

static e2e_server *g_running[E2E_MAX_SERVERS];
static int g_atexit_done;

void e2e_msleep(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *e2e_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static void track(e2e_server *s) {
  for (int i = 0; i < E2E_MAX_SERVERS; i++)
    if (!g_running[i]) {
      g_running[i] = s;
      return;
    }
  fprintf(stderr, "e2e: more than %d servers running\n", E2E_MAX_SERVERS);
  abort();
}

static void untrack(e2e_server *s) {
  for (int i = 0; i < E2E_MAX_SERVERS; i++)
    if (g_running[i] == s) g_running[i] = NULL;
}

void e2e_stop_all(void) {
  for (int i = 0; i < E2E_MAX_SERVERS; i++)
    if (g_running[i]) e2e_server_stop(g_running[i]);
}

static void resolve(char *prog, size_t cap, const char *name) {
  const char *bin = getenv("FS_BIN_DIR");
  if (!strchr(name, '/') && bin)
    snprintf(prog, cap, "%s/%s", bin, name);
  else
    snprintf(prog, cap, "%s", name);
}

pid_t e2e_spawn(const char *const argv[], const char *out_path, const char *err_path) {
  return e2e_spawn_env(argv, out_path, err_path, NULL);
}

pid_t e2e_spawn_env(const char *const argv[], const char *out_path, const char *err_path,
                    const char *const *env) {
  char prog[4096];
  resolve(prog, sizeof prog, argv[0]);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    /* Dies with the test program even if it is SIGKILLed by CTest. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    int in = open("/dev/null", O_RDONLY);
    int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    int err = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (size_t i = 0; env && env[i]; i++) putenv((char *)env[i]);
    execv(prog, (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", prog, strerror(errno));
    _exit(127);
  }
  return pid;
}

int e2e_wait(pid_t pid, int timeout_ms) {
  int st = 0;
  long long until = now_ms() + timeout_ms;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (now_ms() > until) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      return -1;
    }
    e2e_msleep(5);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ------------------------------------------------------------ running */

int e2e_fs(const char *home, char **out, char **err, const char *const *args) {
  const char *argv[64];
  size_t n = 0;
  argv[n++] = "fieldsync";
  argv[n++] = "--home";
  argv[n++] = home;
  for (size_t i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return tu_run(out, err, argv);
}

int e2e_hq(const e2e_server *s, char **out, char **err, const char *const *args) {
  const char *argv[64];
  size_t n = 0;
  argv[n++] = "fieldsync-server";
  argv[n++] = "--home";
  argv[n++] = s->home;
  for (size_t i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return tu_run(out, err, argv);
}

static void describe(char *buf, size_t cap, const char *prog, const char *const *args) {
  size_t n = (size_t)snprintf(buf, cap, "%s", prog);
  for (size_t i = 0; args[i] && n < cap - 1; i++)
    n += (size_t)snprintf(buf + n, cap - n, " %.40s", args[i]);
}

static char *ok_at(int line, int rc, char *out, char *err, const char *prog,
                   const char *const *args) {
  tu_checks++;
  if (rc != 0) {
    char what[512];
    describe(what, sizeof what, prog, args);
    tu_fail(__FILE__, line, "[%s] exit %d, stderr: %s", what, rc, err ? err : "(null)");
    free(out);
    out = NULL;
  }
  free(err);
  return out;
}

char *e2e_fs_ok(int line, const char *home, const char *const *args) {
  char *out = NULL, *err = NULL;
  int rc = e2e_fs(home, &out, &err, args);
  return ok_at(line, rc, out, err, "fieldsync", args);
}

char *e2e_hq_ok(int line, const e2e_server *s, const char *const *args) {
  char *out = NULL, *err = NULL;
  int rc = e2e_hq(s, &out, &err, args);
  return ok_at(line, rc, out, err, "fieldsync-server", args);
}

static cJSON *parse_at(int line, char *out, const char *prog, const char *const *args) {
  cJSON *doc = NULL;
  if (!out) return NULL;
  const char *end = NULL;
  doc = cJSON_ParseWithOpts(out, &end, 1);
  tu_checks++;
  if (!doc) {
    char what[512];
    describe(what, sizeof what, prog, args);
    tu_fail(__FILE__, line, "[%s] stdout is not one JSON document: %.400s", what, out);
  }
  free(out);
  return doc;
}

cJSON *e2e_fs_json(int line, const char *home, const char *const *args) {
  return parse_at(line, e2e_fs_ok(line, home, args), "fieldsync", args);
}

cJSON *e2e_hq_json(int line, const e2e_server *s, const char *const *args) {
  return parse_at(line, e2e_hq_ok(line, s, args), "fieldsync-server", args);
}

/* ------------------------------------------------------------ server */

static const char products_csv[] = "sku,name,unit,active\n"
                                   "CHAIR-01,Ergonomic chair,piece,1\n"
                                   "DESK-02,Standing desk 160x80,piece,1\n"
                                   "LAMP-03,LED desk lamp,piece,1\n";
static const char prices_csv[] = "sku,currency,price\n"
                                 "CHAIR-01,EUR,289.00\n"
                                 "DESK-02,EUR,649.50\n"
                                 "LAMP-03,EUR,39.90\n"
                                 "CHAIR-01,SEK,3290.00\n";

e2e_server *e2e_server_new(const char *dir, const char *name) {
  return e2e_server_new_init(dir, name, NULL);
}

e2e_server *e2e_server_new_init(const char *dir, const char *name, const char *const *init_args) {
  e2e_server *s = calloc(1, sizeof *s);
  char buf[512];
  if (!s) abort();
  s->dir = strdup(dir);
  s->home = e2e_path(dir, name);
  snprintf(buf, sizeof buf, "%s.log", name);
  s->log = e2e_path(dir, buf);
  snprintf(buf, sizeof buf, "%s.port", name);
  s->port_file = e2e_path(dir, buf);
  if (!s->dir) abort();
  mkdir(s->home, 0700);
  const char *argv[24] = {"init", "--json"};
  for (size_t i = 0; init_args && init_args[i] && i + 3 < 24; i++) argv[2 + i] = init_args[i];
  cJSON *doc = e2e_hq_json(__LINE__, s, argv);
  const char *cert = e2e_str(doc, "cert"), *pin = e2e_str(doc, "fingerprint");
  CHECK(cert != NULL);
  CHECK(pin != NULL && strncmp(pin, "sha256//", 8) == 0);
  snprintf(s->cert, sizeof s->cert, "%s", cert ? cert : "");
  snprintf(s->pin, sizeof s->pin, "%s", pin ? pin : "");
  cJSON_Delete(doc);
  if (!cert || !pin) {
    e2e_server_free(s);
    return NULL;
  }
  char *pp = e2e_path(dir, "products.csv"), *pr = e2e_path(dir, "prices.csv");
  CHECK(tu_write_file(pp, products_csv) == 0);
  CHECK(tu_write_file(pr, prices_csv) == 0);
  HQ_RUN(s, "import", "products", pp);
  HQ_RUN(s, "import", "prices", pr);
  free(pp);
  free(pr);
  return s;
}

static void show_log(const e2e_server *s) {
  char *log = tu_read_file(s->log, NULL);
  fprintf(stderr, "---- %s ----\n%s\n----\n", s->log, log ? log : "(no log)");
  free(log);
}

static int start_once(e2e_server *s, int port) {
  char listen[64];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  unlink(s->port_file);
  const char *argv[24] = {"fieldsync-server", "--home",     s->home, "serve", "--listen", listen,
                          "--port-file",      s->port_file, NULL};
  for (size_t i = 0, n = 8; s->serve_args && s->serve_args[i] && n + 1 < 24; i++)
    argv[n++] = s->serve_args[i], argv[n] = NULL;
  s->pid = e2e_spawn(argv, NULL, s->log);
  if (s->pid <= 0) return -1;
  track(s);
  /* Bounded wait: 20 s covers a sanitizer build on a loaded machine. */
  long long until = now_ms() + 20000;
  while (now_ms() < until) {
    char *txt = tu_read_file(s->port_file, NULL);
    int p = txt ? atoi(txt) : 0;
    free(txt);
    if (p > 0) {
      s->port = p;
      snprintf(s->url, sizeof s->url, "https://127.0.0.1:%d", p);
      return 0;
    }
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      untrack(s);
      return -1;
    }
    e2e_msleep(10);
  }
  e2e_server_kill9(s);
  return -1;
}

int e2e_server_start(e2e_server *s, int port) {
  int rc = -1;
  tu_checks++;
  if (s->pid > 0) {
    tu_fail(__FILE__, __LINE__, "server %s already running", s->home);
    return -1;
  }
  /* A fixed port that was just released may still be held for a moment. */
  for (int attempt = 0; attempt < (port ? 50 : 1) && rc != 0; attempt++) {
    if (attempt) e2e_msleep(100);
    rc = start_once(s, port);
  }
  if (rc != 0) {
    tu_fail(__FILE__, __LINE__, "server %s did not start on port %d", s->home, port);
    show_log(s);
  }
  return rc;
}

int e2e_server_stop(e2e_server *s) {
  if (!s || s->pid <= 0) return -1;
  kill(s->pid, SIGTERM);
  int rc = e2e_wait(s->pid, 15000);
  s->pid = 0;
  untrack(s);
  return rc;
}

void e2e_server_kill9(e2e_server *s) {
  if (!s || s->pid <= 0) return;
  kill(s->pid, SIGKILL);
  e2e_wait(s->pid, 15000);
  s->pid = 0;
  untrack(s);
}

void e2e_server_free(e2e_server *s) {
  if (!s) return;
  e2e_server_stop(s);
  untrack(s);
  free(s->dir);
  free(s->home);
  free(s->log);
  free(s->port_file);
  free(s);
}

/* ------------------------------------------------------------ devices */

char *e2e_device_new(int line, e2e_server *s, const char *dir, const char *name,
                     const char *manager) {
  char *home = e2e_path(dir, name);
  free(e2e_fs_ok(line, home, ARGS("init", "--manager", manager)));
  char *tok = e2e_hq_ok(line, s, ARGS("token", "create", "--manager", manager));
  if (tok) {
    tok[strcspn(tok, "\r\n")] = '\0';
    free(
        e2e_fs_ok(line, home, ARGS("enroll", "--server", s->url, "--token", tok, "--ca", s->cert)));
  }
  free(tok);
  return home;
}

void e2e_device_id(int line, const char *home, char out[64]) {
  cJSON *st = e2e_fs_json(line, home, ARGS("status", "--json"));
  const char *id = e2e_str(st, "device_id");
  tu_checks++;
  if (!id || !*id) tu_fail(__FILE__, line, "status --json of %s has no device_id", home);
  snprintf(out, 64, "%s", id ? id : "");
  cJSON_Delete(st);
}

cJSON *e2e_sync(int line, const char *home) {
  return e2e_fs_json(line, home, ARGS("sync", "--json"));
}

void e2e_add(int line, const char *home, char out[64], const char *const *args) {
  const char *argv[40];
  size_t n = 0;
  for (size_t i = 0; args[i] && n < 38; i++) argv[n++] = args[i];
  argv[n++] = "--json";
  argv[n] = NULL;
  cJSON *doc = e2e_fs_json(line, home, argv);
  const char *id = e2e_str(doc, "id");
  tu_checks++;
  if (!id || strlen(id) != 36) tu_fail(__FILE__, line, "no 36-char \"id\" in the output");
  snprintf(out, 64, "%s", id ? id : "");
  cJSON_Delete(doc);
}

char *e2e_export_dev(int line, const char *home) {
  return e2e_fs_ok(line, home, ARGS("export", "--json"));
}

char *e2e_export_hq(int line, const e2e_server *s, const char *manager) {
  if (manager) return e2e_hq_ok(line, s, ARGS("export", "--json", "--manager", manager));
  return e2e_hq_ok(line, s, ARGS("export", "--json"));
}

void e2e_same_as_hq(int line, const char *home, const e2e_server *s, const char *manager) {
  char *dev = e2e_export_dev(line, home), *hq = e2e_export_hq(line, s, manager);
  tu_checks++;
  if (dev && hq && strcmp(dev, hq) != 0) {
    size_t i = 0;
    while (dev[i] && dev[i] == hq[i]) i++;
    size_t from = i > 120 ? i - 120 : 0;
    tu_fail(__FILE__, line,
            "export of %s differs from the server's export for %s at byte %zu:\n"
            "  device: ...%.240s\n  server: ...%.240s",
            home, manager ? manager : "(all)", i, dev + from, hq + from);
  }
  free(dev);
  free(hq);
}

/* ------------------------------------------------------------ checks */

int e2e_one_line(const char *err, const char *prefix) {
  size_t n = err ? strlen(err) : 0, pn = strlen(prefix);
  if (n <= pn || strncmp(err, prefix, pn) != 0 || err[n - 1] != '\n') return 0;
  return memchr(err, '\n', n - 1) == NULL;
}

const char *e2e_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long e2e_int(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? (long long)v->valuedouble : -999999;
}

int e2e_count(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}

int e2e_rows_where(const cJSON *doc, const char *table, const char *col, const char *val) {
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, table), *r;
  int n = 0;
  if (!cJSON_IsArray(rows)) return -1;
  cJSON_ArrayForEach(r, rows) {
    const char *v = e2e_str(r, col);
    if (v && strcmp(v, val) == 0) n++;
  }
  return n;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int e2e_distinct_ids(const cJSON *doc, const char *table) {
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, table), *r;
  if (!cJSON_IsArray(rows)) return -1;
  int n = cJSON_GetArraySize(rows), k = 0, d = 0;
  const char **ids = calloc((size_t)n + 1, sizeof *ids);
  if (!ids) abort();
  cJSON_ArrayForEach(r, rows) {
    const char *id = e2e_str(r, "id");
    if (id) ids[k++] = id;
  }
  qsort(ids, (size_t)k, sizeof *ids, cmp_str);
  for (int i = 0; i < k; i++)
    if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0) d++;
  free(ids);
  return d;
}

/* ------------------------------------------------------------ bulk data */

int e2e_bulk_meetings(const char *home, const char *customer, int n, const char *tag) {
  fs_device *dev = NULL;
  int rc = tu_device_open(&dev, home, NULL);
  if (rc) return rc;
  fs_store *st = fs_device_store(dev);
  if ((rc = fs_tx_begin(st))) goto done;
  for (int i = 0; i < n && rc == FS_OK; i++) {
    char at[32], notes[96], id[FS_ID_SIZE];
    /* Spread over the days of March 2026, one minute apart. */
    snprintf(at, sizeof at, "2026-03-%02dT%02d:%02d:00Z", 1 + (i / 1440) % 28, (i / 60) % 24,
             i % 60);
    snprintf(notes, sizeof notes, "%s meeting %d", tag, i);
    fs_field f[] = {{"customer_id", customer},
                    {"at", at},
                    {"kind", "visit"},
                    {"place", "bulk"},
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

/* Installed at program start, so a test that exits early still stops its
 * servers. */
__attribute__((constructor)) static void e2e_install_atexit(void) {
  if (!g_atexit_done) {
    atexit(e2e_stop_all);
    g_atexit_done = 1;
  }
}
