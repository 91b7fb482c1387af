/*
 * sync_harness.c — the head office and devices of bench_sync and
 * bench_conflict, each in its own process (see sync_harness.h).
 *
 * The server child wraps fs_hq_handle the way server-stub/main.c does and
 * counts at that boundary.  Its wrapper takes a mutex of its own around
 * fs_hq_handle: fs_hq_handle already serialises every request on the
 * head-office mutex for its whole duration, so this changes no ordering,
 * but it lets the time measured for a request be the time it held the
 * server, not the time it waited for another request.
 */
#include "sync_harness.h"

#include "workload.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <fieldsync/server.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hq_http.h"
#include "https.h"
#include "tlsgen.h"

double sh_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void sh_stats(const double *v, size_t n, double *med, double *lo, double *hi) {
  double s[101];
  if (n > 101) n = 101;
  memcpy(s, v, n * sizeof *v);
  qsort(s, n, sizeof *s, cmp_double);
  *med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  *lo = s[0];
  *hi = s[n - 1];
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n) {
  char *c = p;
  while (n) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

static int lib_fail(const char *what, int rc) {
  fprintf(stderr, "sync bench: %s: %s (%s)\n", what, fs_errmsg(), fs_strerror(rc));
  return -1;
}

/* ------------------------------------------------------------- run dir */

int sh_run_init(sh_run *r, const char *dir) {
  int rc;
  memset(r, 0, sizeof *r);
  if (strlen(dir) >= sizeof r->dir) {
    fprintf(stderr, "sync bench: %s: path too long\n", dir);
    return -1;
  }
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  snprintf(r->hq, sizeof r->hq, "%s/hq", r->dir);
  snprintf(r->cert, sizeof r->cert, "%s/cert.pem", r->hq);
  snprintf(r->key, sizeof r->key, "%s/key.pem", r->hq);
  if (mkdir(r->dir, 0700) != 0 || mkdir(r->hq, 0700) != 0) {
    fprintf(stderr, "sync bench: mkdir %s: %s\n", r->hq, strerror(errno));
    return -1;
  }
  /* FS_BENCH_HQ_ENCRYPT=1: head office's store encrypted at rest too (a
   * new key file in the run directory, found by every process through the
   * environment, as `fieldsync-server` finds it) */
  const char *enc = getenv("FS_BENCH_HQ_ENCRYPT");
  if (enc && !strcmp(enc, "1")) {
    char kf[sizeof r->dir + 16];
    int made = 0;
    snprintf(kf, sizeof kf, "%s/hq.key", r->dir);
    setenv(FS_HQ_KEY_ENV, kf, 1);
    rc = fs_hq_create_encrypted(r->hq, wl_schema(), kf, &made);
  } else {
    rc = fs_hq_create_schema(r->hq, wl_schema());
  }
  if (rc) return lib_fail("server home", rc);
  if ((rc = tlsgen_self_signed(r->cert, r->key, NULL, 0)))
    return lib_fail("server certificate", rc);
  return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  if (remove(path) != 0) fprintf(stderr, "sync bench: cannot remove %s\n", path);
  return 0;
}

void sh_run_remove(const sh_run *r) {
  if (r->dir[0]) nftw(r->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int sh_tokens(const sh_run *r, size_t n, char (*tokens)[64]) {
  fs_hq *hq = NULL;
  int rc = fs_hq_open_schema(&hq, r->hq, wl_schema());
  if (rc) return lib_fail("opening the server home", rc);
  for (size_t i = 0; i < n && !rc; i++) {
    char *t = NULL;
    rc = fs_hq_token_create(&t, hq, SH_MANAGER, 0);
    if (!rc) snprintf(tokens[i], 64, "%s", t);
    fs_free(t);
  }
  fs_hq_close(hq);
  return rc ? lib_fail("creating tokens", rc) : 0;
}

/* -------------------------------------------------------------- server */

typedef struct srv_ctx {
  fs_hq *hq;
  pthread_mutex_t mu;
  sh_server_stats st;
} srv_ctx;

static void srv_handle(void *user, const https_request *req, https_reply *reply) {
  srv_ctx *c = user;
  pthread_mutex_lock(&c->mu);
  double t0 = sh_now();
  hq_http_handle(c->hq, req, reply);
  double dt = sh_now() - t0;
  int status = reply->status;
  size_t len = reply->body_len;
  sh_server_stats *s = &c->st;
  int push = !strcmp(req->path, "/v1/push"), pull = !strcmp(req->path, "/v1/pull");
  s->requests++;
  s->not_ok += status != 200;
  s->bytes_in += req->body_len;
  s->bytes_out += len;
  if (push) {
    s->push_requests++;
    s->push_bytes_in += req->body_len;
    s->push_bytes_out += len;
    s->push_handler_s += dt;
    if (status == 200) {
      cJSON *ack = cJSON_ParseWithLength((const char *)reply->body, len);
      const cJSON *rows = cJSON_GetObjectItemCaseSensitive(ack, "rows");
      if (cJSON_IsNumber(rows)) s->rows_acked += (uint64_t)rows->valuedouble;
      cJSON_Delete(ack);
    }
  } else if (pull) {
    s->pull_requests++;
    s->pull_bytes_in += req->body_len;
    s->pull_bytes_out += len;
    s->pull_handler_s += dt;
  }
  pthread_mutex_unlock(&c->mu);
}

static int srv_admit(void *user, const https_request *req, https_reply *reply, size_t *max_body) {
  srv_ctx *c = user;
  return hq_http_admit(c->hq, req, reply, max_body);
}

static void server_child(const sh_run *r, int wfd) {
  char log[PATH_MAX + 16];
  srv_ctx c;
  https_server *srv = NULL;
  int port = -1, rc, sig = 0;
  sigset_t set;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.mu, NULL);
  snprintf(log, sizeof log, "%s/server.log", r->hq);
  int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (lfd >= 0) {
    dup2(lfd, 2);
    close(lfd);
  }
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  if ((rc = fs_hq_open_schema(&c.hq, r->hq, wl_schema()))) {
    lib_fail("opening the server home", rc);
    goto fail;
  }
  char addr[32];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", r->port);
  https_server_opts so = {addr, r->cert, r->key, srv_handle, srv_admit, &c, 0, 0, 0, 0};
  if ((rc = https_server_start_opts(&srv, &so))) {
    lib_fail("starting HTTPS", rc);
    goto fail;
  }
  port = https_server_port(srv);
  if (write_all(wfd, &port, sizeof port)) _exit(1);
  sigwait(&set, &sig);
  https_server_stop(srv);
  fs_hq_close(c.hq);
  write_all(wfd, &c.st, sizeof c.st);
  _exit(0);
fail:
  port = -1;
  write_all(wfd, &port, sizeof port);
  _exit(1);
}

int sh_server_start(sh_server *s, sh_run *r) {
  int p[2];
  memset(s, 0, sizeof *s);
  if (pipe(p) != 0) return -1;
  fflush(NULL);
  s->pid = fork();
  if (s->pid < 0) {
    fprintf(stderr, "sync bench: fork: %s\n", strerror(errno));
    return -1;
  }
  if (s->pid == 0) {
    close(p[0]);
    server_child(r, p[1]);
  }
  close(p[1]);
  s->fd = p[0];
  if (read_all(s->fd, &s->port, sizeof s->port) || s->port <= 0) {
    fprintf(stderr, "sync bench: the server did not start (see %s/server.log)\n", r->hq);
    close(s->fd);
    waitpid(s->pid, NULL, 0);
    return -1;
  }
  r->port = s->port;
  snprintf(s->url, sizeof s->url, "https://127.0.0.1:%d", s->port);
  return 0;
}

int sh_server_stop(sh_server *s, sh_server_stats *out) {
  struct rusage ru;
  int status = 0, rc = 0;
  memset(out, 0, sizeof *out);
  kill(s->pid, SIGTERM);
  if (read_all(s->fd, out, sizeof *out)) rc = -1;
  close(s->fd);
  if (wait4(s->pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) rc = -1;
  out->maxrss_kb = ru.ru_maxrss;
  if (rc) fprintf(stderr, "sync bench: the server did not stop cleanly\n");
  return rc;
}

/* ------------------------------------------------------------ children */

int sh_child_start(sh_child *c, sh_child_fn fn, void *arg, size_t size) {
  int p[2];
  c->size = size;
  if (pipe(p) != 0) return -1;
  fflush(NULL);
  c->pid = fork();
  if (c->pid < 0) {
    fprintf(stderr, "sync bench: fork: %s\n", strerror(errno));
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (c->pid == 0) {
    close(p[0]);
    void *res = calloc(1, size ? size : 1);
    int ok = res && fn(arg, res) == 0;
    if (ok) ok = write_all(p[1], res, size) == 0;
    fflush(NULL);
    _exit(ok ? 0 : 1);
  }
  close(p[1]);
  c->fd = p[0];
  return 0;
}

int sh_child_wait(sh_child *c, void *result, long *maxrss_kb) {
  struct rusage ru;
  int status = 0, rc = 0;
  memset(result, 0, c->size);
  if (read_all(c->fd, result, c->size)) rc = -1;
  close(c->fd);
  if (wait4(c->pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) rc = -1;
  if (maxrss_kb) *maxrss_kb = ru.ru_maxrss;
  return rc;
}

int sh_child_run(sh_child_fn fn, void *arg, void *result, size_t size, long *maxrss_kb) {
  sh_child c;
  if (sh_child_start(&c, fn, arg, size)) return -1;
  return sh_child_wait(&c, result, maxrss_kb);
}

/* ------------------------------------------------------------- devices */

int sh_device_create(const char *home, uint32_t seed, uint32_t device, size_t n) {
  fs_device *dev = NULL;
  fs_store *st = NULL;
  wl_gen g;
  wl_record rec;
  wl_fields wf;
  fs_field f[WL_NFIELDS + 1];
  char id[FS_ID_SIZE];
  int rc;
  fs_device_init_opts io = FS_DEVICE_INIT_OPTS_INIT;
  io.manager = SH_MANAGER;
  io.schema = wl_schema();
  io.passphrase = SH_PASSPHRASE;
  io.passphrase_len = strlen(SH_PASSPHRASE);
  if ((rc = fs_device_create(&dev, home, &io))) return lib_fail("creating a device", rc);
  /* the other children unlock from the session keyring, so no Argon2id
   * (256 MiB) lands in the peak RSS of a measured phase */
  (void)fs_device_cache_key(dev, 3600);
  st = fs_device_store(dev);
  wl_gen_init(&g, seed, device);
  rc = n ? fs_tx_begin(st) : FS_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    wl_gen_next(&g, &rec);
    wl_record_fields(&rec, &wf);
    f[0] = (fs_field){"id", rec.id};
    memcpy(f + 1, wf.f, sizeof wf.f);
    rc = fs_insert(id, st, WL_TABLE, f, WL_NFIELDS + 1);
  }
  if (!rc && n) rc = fs_tx_commit(st);
  if (rc) lib_fail("inserting records", rc);
  fs_device_close(dev);
  return rc ? -1 : 0;
}

int sh_device_open(fs_device **out, const char *home) {
  fs_unlock_opts uo = FS_UNLOCK_OPTS_INIT;
  uo.passphrase = SH_PASSPHRASE;
  uo.passphrase_len = strlen(SH_PASSPHRASE);
  int rc = fs_device_open(out, home, wl_schema());
  if (!rc && fs_device_unlock_cached(*out) == FS_OK) return FS_OK;
  if (!rc && (rc = fs_device_unlock(*out, &uo))) {
    fs_device_close(*out);
    *out = NULL;
  }
  return rc;
}

int sh_device_enroll(const char *home, const char *url, const char *token, const char *cert) {
  fs_device *dev = NULL;
  fs_enroll_opts eo = FS_ENROLL_OPTS_INIT;
  eo.url = url;
  eo.token = token;
  eo.ca = cert;
  int rc = sh_device_open(&dev, home);
  if (!rc) rc = fs_enroll(dev, &eo);
  fs_device_close(dev);
  return rc ? lib_fail("enrolling a device", rc) : 0;
}
