/*
 * test_e2e_hostile.c — head office against a hostile client: the real
 * fieldsync-server on 127.0.0.1, attacked through the library's own HTTPS
 * client and envelope code (hostile.h) and through raw sockets.  Each break
 * of the trust boundary has its own case; every case ends by checking that
 * the server is still up and a legitimate device still syncs.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fieldsync/device.h>
#include <sqlite3.h>
#include <stdint.h>

#include "e2e.h"
#include "hostile.h"
#include "proto.h"
#include "util.h"

static char *g_dir;

/* The server process is alive and answers /v1/health. */
static void still_up(int line, const e2e_server *s) {
  hostile h;
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  tu_checks += 2;
  if (s->pid <= 0 || kill(s->pid, 0) != 0) {
    tu_fail(__FILE__, line, "the server process is gone");
    return;
  }
  if (hostile_open(&h, s, NULL) != 0) return;
  if (hostile_request(&h, "/v1/health", NULL, 0, &r) != FS_OK || r.status != 200)
    tu_fail(__FILE__, line, "the server does not answer /v1/health (status %ld)", r.status);
  fsi_http_response_clear(&r);
  hostile_close(&h);
}
#define STILL_UP(s) still_up(__LINE__, s)

/* One hostile request that must be answered `status` with a JSON error
 * containing `needle`. */
static void refused(int line, hostile *h, const char *path, const void *body, size_t len,
                    long status, const char *needle) {
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  int rc = hostile_request(h, path, body, len, &r);
  tu_checks += 3;
  if (rc != FS_OK) {
    tu_fail(__FILE__, line, "%s: no HTTP answer: %s", path, fs_errmsg());
    return;
  }
  if (r.status != status)
    tu_fail(__FILE__, line, "%s: status %ld, expected %ld (%s)", path, r.status, status,
            r.body ? (const char *)r.body : "");
  cJSON *o = cJSON_ParseWithLength((const char *)r.body, r.len);
  const char *err = e2e_str(o, "error");
  if (!err)
    tu_fail(__FILE__, line, "%s: the answer is not a JSON error", path);
  else if (needle && !strstr(err, needle))
    tu_fail(__FILE__, line, "%s: error \"%s\" does not mention \"%s\"", path, err, needle);
  cJSON_Delete(o);
  fsi_http_response_clear(&r);
}
#define REFUSED(h, path, body, len, status, needle)                                                \
  refused(__LINE__, h, path, body, len, status, needle)

/* 1 when the server log shows `needle` within ms milliseconds. */
static int log_has(const e2e_server *s, const char *needle, int ms) {
  for (int waited = 0;; waited += 50) {
    char *log = tu_read_file(s->log, NULL);
    int found = log && strstr(log, needle);
    free(log);
    if (found) return 1;
    if (waited >= ms) return 0;
    e2e_msleep(50);
  }
}

static e2e_server *server(const char *name, const char *const *serve_args) {
  e2e_server *s = e2e_server_new(g_dir, name);
  if (!s) return NULL;
  s->serve_args = serve_args;
  if (e2e_server_start(s, 0) != 0) {
    e2e_server_free(s);
    return NULL;
  }
  return s;
}

/* A legitimate device: records a customer and syncs it to head office. */
static void legit_sync(int line, const char *home, const e2e_server *s, const char *mgr) {
  char id[64];
  e2e_add(line, home, id, ARGS("customer", "add", "--name", "Legit Kunde GmbH", "--json"));
  cJSON_Delete(e2e_sync(line, home));
  e2e_same_as_hq(line, home, s, mgr);
}
#define LEGIT_SYNC(home, s, mgr) legit_sync(__LINE__, home, s, mgr)

/* Break 1: no device header, or a malformed one, crashed the server. */
static void test_preauth_requests(void) {
  e2e_server *s = server("hq1", NULL);
  if (!s) return;
  hostile h;
  if (hostile_open(&h, s, NULL) == 0) {
    for (int i = 0; i < 25; i++) {
      snprintf(h.device, sizeof h.device, "%s", "");
      REFUSED(&h, "/v1/push", "x", 1, 401, "does not name a device");
      REFUSED(&h, "/v1/pull?cursor=&seq=0&prev=00", NULL, 0, 401, "does not name a device");
      snprintf(h.device, sizeof h.device, "zz");
      REFUSED(&h, "/v1/push", "x", 1, 401, "does not name a device");
      snprintf(h.device, sizeof h.device, "0000000000000000");
      REFUSED(&h, "/v1/pull", NULL, 0, 401, "does not name a device");
      snprintf(h.device, sizeof h.device, "00000000000000ab");
      REFUSED(&h, "/v1/push", "x", 1, 401, "not enrolled");
    }
    REFUSED(&h, "/v1/nowhere", NULL, 0, 404, "no such endpoint");
    REFUSED(&h, "/v1/push", NULL, 0, 405, "method not allowed");
  }
  hostile_close(&h);
  STILL_UP(s);
  e2e_server_free(s);
}

/* Break 2 (authentication): a device id alone is no credential. */
static void test_signed_requests(void) {
  e2e_server *s = server("hq2", NULL);
  if (!s) return;
  char *anna = e2e_device_new(__LINE__, s, g_dir, "anna2", "anna");
  hostile h;
  if (hostile_open(&h, s, anna) == 0) {
    const char *pull = "/v1/pull?cursor=&seq=0&prev="
                       "0000000000000000000000000000000000000000000000000000000000000000";
    h.unsigned_req = 1;
    REFUSED(&h, "/v1/push", "x", 1, 401, "not signed");
    REFUSED(&h, pull, NULL, 0, 401, "not signed");
    h.unsigned_req = 0;
    h.bad_sig = 1;
    REFUSED(&h, pull, NULL, 0, 401, "does not verify");
    h.bad_sig = 0;
    h.sign_path_as_pull = 1; /* a signature for another request */
    REFUSED(&h, "/v1/push", "x", 1, 401, "does not verify");
    h.sign_path_as_pull = 0;
    /* a valid request, then the same signed headers again */
    fsi_http_response r;
    memset(&r, 0, sizeof r);
    CHECK_OK(hostile_request(&h, pull, NULL, 0, &r));
    CHECK_EQ_INT(r.status, 200);
    fsi_http_response_clear(&r);
    h.replay_last = 1;
    REFUSED(&h, pull, NULL, 0, 401, "sent before");
    h.replay_last = 0;
    /* a clock two hours off: refused, and told head office's time */
    h.time_skew_ms = 2 * 3600 * 1000LL;
    memset(&r, 0, sizeof r);
    CHECK_OK(hostile_request(&h, pull, NULL, 0, &r));
    CHECK_EQ_INT(r.status, 401);
    CHECK_CONTAINS((const char *)r.body, "minutes ahead of head office");
    CHECK_CONTAINS((const char *)r.body, "\"server_time\"");
    fsi_http_response_clear(&r);
    h.time_skew_ms = -2 * 3600 * 1000LL;
    REFUSED(&h, pull, NULL, 0, 401, "behind");
    h.time_skew_ms = 0;
    /* someone else's keys under anna's device id */
    fsi_keys real = h.keys;
    CHECK_OK(fsi_keys_new(&h.keys));
    REFUSED(&h, pull, NULL, 0, 401, "does not verify");
    h.keys = real;
    fsi_keys_wipe(&real);
  }
  hostile_close(&h);
  /* revoked: refused before anything else */
  char devid[64];
  e2e_device_id(__LINE__, anna, devid);
  if (hostile_open(&h, s, anna) == 0) {
    HQ_RUN(s, "revoke", devid);
    REFUSED(&h, "/v1/push", "x", 1, 403, "revoked");
  }
  hostile_close(&h);
  STILL_UP(s);
  free(anna);
  e2e_server_free(s);
}

/* Break 2 (bodies): the declared length is judged before a byte is read. */
static void test_body_bounds(void) {
  e2e_server *s = server("hq3", NULL);
  if (!s) return;
  char *ben = e2e_device_new(__LINE__, s, g_dir, "ben3", "ben");
  hostile h;
  size_t big = (size_t)33 * 1024 * 1024;
  char *body = calloc(1, big);
  if (body && hostile_open(&h, s, ben) == 0) {
    REFUSED(&h, "/v1/enroll", body, 5000, 413, "larger than 4096");
    REFUSED(&h, "/v1/push", body, big, 413, "larger than");
    h.unsigned_req = 1;
    REFUSED(&h, "/v1/push", body, (size_t)20 * 1024 * 1024, 401, "not signed");
    hostile_close(&h);
  }
  free(body);
  /* The log shows the refused bodies were not read (a request's line is
   * written when its connection is done, so wait for it, bounded). */
  CHECK(log_has(s, "POST /v1/push 401 in=0 ", 10000));
  CHECK(log_has(s, "POST /v1/push 413 in=0 ", 10000));
  LEGIT_SYNC(ben, s, "ben");
  STILL_UP(s);
  free(ben);
  e2e_server_free(s);
}

/* ---------------------------------------------------------------- floods */

static long rss_kb(pid_t pid) {
  char path[64], *txt;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  txt = tu_read_file(path, NULL);
  const char *p = txt ? strstr(txt, "VmRSS:") : NULL;
  long kb = p ? atol(p + 6) : -1;
  free(txt);
  return kb;
}

typedef struct slow_body {
  size_t sent;
} slow_body;

/* Body bytes on demand; the handle's send speed is capped (8 KiB/s), so
 * the declared body trickles in and never finishes while the test runs.
 * (Pausing the upload instead can keep curl from reading the answer.) */
static size_t slow_read(char *buf, size_t size, size_t n, void *user) {
  slow_body *b = user;
  size_t k = size * n < 4096 ? size * n : 4096;
  memset(buf, 'x', k);
  b->sent += k;
  return k;
}

static size_t sink(char *p, size_t size, size_t n, void *user) {
  (void)p;
  (void)user;
  return size * n;
}

/* N concurrent pushes declaring `declared` bytes, each sending 16 KiB and
 * stalling; signed by `h` when sign is set.  Runs them for ms milliseconds,
 * records the server's peak RSS and counts the statuses. */
static void flood(const e2e_server *s, hostile *h, int sign, int n, size_t declared, int ms,
                  int max_open, long *peak_kb, int *n401, int *n503, int *n_open, int *n_other) {
  CURLM *m = curl_multi_init();
  CURL **e = calloc((size_t)n, sizeof *e);
  struct curl_slist **hd = calloc((size_t)n, sizeof *hd);
  slow_body *sb = calloc((size_t)n, sizeof *sb);
  char url[96];
  snprintf(url, sizeof url, "%s/v1/push", s->url);
  *peak_kb = 0;
  *n401 = *n503 = *n_open = *n_other = 0;
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)n);
  for (int i = 0; i < n; i++) {
    char line[400], lines[PROTO_SIGNED_LINES][PROTO_SIGNED_LINE];
    e[i] = curl_easy_init();
    snprintf(line, sizeof line, "%s: %s", PROTO_DEVICE_HEADER, h->device);
    hd[i] = curl_slist_append(NULL, line);
    if (sign && fsi_proto_sign_headers(lines, h->keys.sign_sk, h->device, "POST", "/v1/push", "",
                                       declared, fsi_util_now_ms()) == FS_OK)
      for (int k = 0; k < PROTO_SIGNED_LINES; k++) hd[i] = curl_slist_append(hd[i], lines[k]);
    hd[i] = curl_slist_append(hd[i], "Expect:");
    curl_easy_setopt(e[i], CURLOPT_URL, url);
    curl_easy_setopt(e[i], CURLOPT_CAINFO, s->cert);
    curl_easy_setopt(e[i], CURLOPT_POST, 1L);
    curl_easy_setopt(e[i], CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)declared);
    curl_easy_setopt(e[i], CURLOPT_READFUNCTION, slow_read);
    curl_easy_setopt(e[i], CURLOPT_READDATA, &sb[i]);
    curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hd[i]);
    curl_easy_setopt(e[i], CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e[i], CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)8192);
    curl_easy_setopt(e[i], CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(m, e[i]);
  }
  long long until = fsi_util_now_ms() + ms, hard = fsi_util_now_ms() + 30000;
  int running = 1;
  /* at least ms, and until every connection was answered or holds (the
   * handshakes of hundreds of connections take a while on two cores) */
  while (running &&
         (fsi_util_now_ms() < until || (fsi_util_now_ms() < hard && running > max_open))) {
    curl_multi_perform(m, &running);
    curl_multi_poll(m, NULL, 0, 50, NULL);
    long kb = rss_kb(s->pid);
    if (kb > *peak_kb) *peak_kb = kb;
  }
  *n_open = running;
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m, &left))) {
    long st = 0;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &st);
    /* status 0: the connection was reset while the client still sent the
     * body the server refused to read (it closes such connections) */
    *n401 += st == 401;
    *n503 += st == 503;
    *n_other += st != 401 && st != 503 && st != 0;
  }
  for (int i = 0; i < n; i++) {
    curl_multi_remove_handle(m, e[i]);
    curl_easy_cleanup(e[i]);
    curl_slist_free_all(hd[i]);
  }
  curl_multi_cleanup(m);
  free(e);
  free(hd);
  free(sb);
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Break 2 (memory): 512 hostile connections each declaring a large body. */
static void test_flood_memory(void) {
  e2e_server *s = server("hq4", ARGS("--per-ip-limit", "1024"));
  if (!s) return;
  char *anna = e2e_device_new(__LINE__, s, g_dir, "anna4", "anna");
  hostile h;
  long base = rss_kb(s->pid), peak = 0;
  int n401, n503, nopen, nother;
  if (hostile_open(&h, s, anna) == 0) {
    /* unsigned, naming an enrolled device */
    flood(s, &h, 0, 512, (size_t)30 * 1024 * 1024, 1000, 0, &peak, &n401, &n503, &nopen, &nother);
    printf("hostile flood: 512 unsigned pushes declaring 30 MiB: server RSS %ld -> peak %ld "
           "kB; %d answered 401, %d reset unread, %d still open\n",
           base, peak, n401, 512 - n401 - nopen - nother, nopen);
    CHECK(n401 > 0);
    CHECK_EQ_INT(nother, 0); /* nothing admitted */
    CHECK_EQ_INT(nopen, 0);  /* nothing held */
#if !defined(__SANITIZE_ADDRESS__)
    CHECK(peak < 64 * 1024);
#endif
    /* signed by a real device: admitted against the body budget (256 MiB),
     * the rest answered 503 with Retry-After */
    long peak2 = 0;
    flood(s, &h, 1, 64, (size_t)30 * 1024 * 1024, 1000, 8, &peak2, &n401, &n503, &nopen, &nother);
    printf("hostile flood: 64 signed pushes declaring 30 MiB: server RSS peak %ld kB; "
           "%d answered 503 (budget), %d held open\n",
           peak2, n503, nopen);
    CHECK_EQ_INT(nother, 0);
    CHECK(nopen <= 8); /* 8 x 30 MiB fit the 256 MiB budget */
    CHECK(n503 > 0);
#if !defined(__SANITIZE_ADDRESS__)
    CHECK(peak2 < 64 * 1024);
#endif
  }
  hostile_close(&h);
  LEGIT_SYNC(anna, s, "anna");
  STILL_UP(s);
  free(anna);
  e2e_server_free(s);
}

/* A plain TCP connection from source address `src` to the server, left
 * idle (no TLS handshake).  The descriptor, or -1. */
static int idle_conn(const char *src, int port) {
  struct sockaddr_in a, b;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  inet_pton(AF_INET, src, &a.sin_addr);
  memset(&b, 0, sizeof b);
  b.sin_family = AF_INET;
  b.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      connect(fd, (struct sockaddr *)&b, sizeof b) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* 1 when the server closed the connection (EOF or reset, possibly after a
 * TLS alert). */
static int closed_by_server(int fd) {
  char buf[256];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) continue;
    return r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

static int count_closed(const int *fds, int from, int to) {
  int n = 0;
  for (int i = from; i < to; i++) n += closed_by_server(fds[i]);
  return n;
}

/* Break 3: idle connections locked legitimate devices out.  The server's
 * idle deadline is 8 s, so the checks before it have room on a slow (or
 * sanitized) build; each waits, bounded, for what the server must do, and
 * the ones that must see connections held look well inside the deadline. */
static void test_slow_clients(void) {
  raise_nofile();
  e2e_server *s = server("hq5", ARGS("--timeout", "8"));
  if (!s) return;
  char *anna = e2e_device_new(__LINE__, s, g_dir, "anna5", "anna");
  int fds[700], n = 0;
  /* 500 idle connections from five addresses (a sales team's NAT each) */
  long long t0 = tu_now_ms();
  for (int a = 2; a <= 6; a++) {
    char src[32];
    snprintf(src, sizeof src, "127.0.0.%d", a);
    for (int i = 0; i < 100; i++) {
      int fd = idle_conn(src, s->port);
      if (fd >= 0) fds[n++] = fd;
    }
  }
  CHECK(n == 500);
  e2e_msleep(300);
  int held = n - count_closed(fds, 0, n);
  printf("slow clients: %d of 500 idle connections held by the server (%lld ms after the first)\n",
         held, tu_now_ms() - t0);
  CHECK(tu_now_ms() - t0 < 6000); /* the check above looked before the deadline */
  CHECK(held >= 490);             /* under the per-address limit: all of them */
  LEGIT_SYNC(anna, s, "anna");    /* while they are held */
  /* 200 more from one address: the per-address limit (128) refuses the rest,
   * long before the idle deadline would */
  int first = n;
  long long t1 = tu_now_ms();
  for (int i = 0; i < 200; i++) {
    int fd = idle_conn("127.0.0.7", s->port);
    if (fd >= 0) fds[n++] = fd;
  }
  int refused_n = 0;
  while ((refused_n = count_closed(fds, first, n)) < 200 - 128 && tu_now_ms() - t1 < 4000)
    e2e_msleep(100);
  printf("slow clients: %d of 200 connections from one address refused (limit 128) in %lld ms\n",
         refused_n, tu_now_ms() - t1);
  CHECK(refused_n >= 200 - 128);
  LEGIT_SYNC(anna, s, "anna");
  /* the deadline closes every idle connection */
  int open_left = n;
  long long t2 = tu_now_ms();
  while ((open_left = n - count_closed(fds, 0, n)) > 0 && tu_now_ms() - t2 < 30000) e2e_msleep(250);
  printf("slow clients: %d idle connections left open after the 8 s deadline (%lld ms after "
         "the first)\n",
         open_left, tu_now_ms() - t0);
  CHECK_EQ_INT(open_left, 0);
  for (int i = 0; i < n; i++) close(fds[i]);
  STILL_UP(s);
  free(anna);
  e2e_server_free(s);
}

/* Break 9: enrollment under head office's own id or another device's. */
static void test_enroll_identity(void) {
  e2e_server *s = server("hq6", NULL);
  if (!s) return;
  char *anna = e2e_device_new(__LINE__, s, g_dir, "anna6", "anna");
  hostile h;
  if (hostile_open(&h, s, NULL) == 0) {
    char body[1024], hex[KEYS_PUB_HEX_SIZE];
    char *tok = e2e_hq_ok(__LINE__, s, ARGS("token", "create", "--manager", "anna"));
    if (tok) tok[strcspn(tok, "\r\n")] = '\0';
    CHECK_OK(fsi_keys_new(&h.keys));
    h.has_keys = 1;
    fsi_keys_pub_to_hex(hex, &h.keys.pub);
    snprintf(h.device, sizeof h.device, "%016llx", (unsigned long long)h.hq_site);
    snprintf(body, sizeof body,
             "{\"token\":\"%s\",\"device_id\":\"%s\",\"manager\":\"anna\",\"keys\":\"%s\"}",
             tok ? tok : "", h.device, hex);
    REFUSED(&h, "/v1/enroll", body, strlen(body), 409, "head office's own id");
    e2e_device_id(__LINE__, anna, h.device);
    snprintf(body, sizeof body,
             "{\"token\":\"%s\",\"device_id\":\"%s\",\"manager\":\"anna\",\"keys\":\"%s\"}",
             tok ? tok : "", h.device, hex);
    REFUSED(&h, "/v1/enroll", body, strlen(body), 409, "already enrolled");
    /* an enrollment signed by other keys than the ones it enrolls */
    char other[KEYS_PUB_HEX_SIZE];
    fsi_keys k2;
    CHECK_OK(fsi_keys_new(&k2));
    fsi_keys_pub_to_hex(other, &k2.pub);
    fsi_keys_wipe(&k2);
    snprintf(h.device, sizeof h.device, "%s", "1234567890abcdef");
    snprintf(body, sizeof body,
             "{\"token\":\"%s\",\"device_id\":\"%s\",\"manager\":\"anna\",\"keys\":\"%s\"}",
             tok ? tok : "", h.device, other);
    REFUSED(&h, "/v1/enroll", body, strlen(body), 401, "does not verify");
    free(tok);
  }
  hostile_close(&h);
  STILL_UP(s);
  free(anna);
  e2e_server_free(s);
}

/* Break 12: TLS 1.2 only with ECDHE and AEAD; TLS 1.3 preferred. */
static int tls_try(const e2e_server *s, long version, long max, const char *ciphers,
                   char *negotiated, size_t n) {
  CURL *c = curl_easy_init();
  char url[96];
  snprintf(url, sizeof url, "%s/v1/health", s->url);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, s->cert);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, version | max);
  if (ciphers) curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, ciphers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode e = curl_easy_perform(c);
  negotiated[0] = '\0';
  struct curl_tlssessioninfo *ti = NULL;
  (void)ti;
  (void)n;
  curl_easy_cleanup(c);
  return e == CURLE_OK;
}

static void test_tls_policy(void) {
  e2e_server *s = server("hq7", NULL);
  if (!s) return;
  char neg[64];
  CHECK(tls_try(s, CURL_SSLVERSION_TLSv1_3, 0, NULL, neg, sizeof neg));
  CHECK(tls_try(s, CURL_SSLVERSION_TLSv1_2, CURL_SSLVERSION_MAX_TLSv1_2,
                "ECDHE-ECDSA-AES128-GCM-SHA256", neg, sizeof neg));
  CHECK(tls_try(s, CURL_SSLVERSION_TLSv1_2, CURL_SSLVERSION_MAX_TLSv1_2,
                "ECDHE-ECDSA-CHACHA20-POLY1305", neg, sizeof neg));
  CHECK(!tls_try(s, CURL_SSLVERSION_TLSv1_2, CURL_SSLVERSION_MAX_TLSv1_2, "ECDHE-ECDSA-AES128-SHA",
                 neg, sizeof neg));
  CHECK(!tls_try(s, CURL_SSLVERSION_TLSv1_2, CURL_SSLVERSION_MAX_TLSv1_2,
                 "ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256", neg, sizeof neg));
  CHECK(!tls_try(s, CURL_SSLVERSION_TLSv1, CURL_SSLVERSION_MAX_TLSv1_1, NULL, neg, sizeof neg));
  STILL_UP(s);
  e2e_server_free(s);
}

/* A laptop whose clock is two hours off still syncs: head office refuses
 * the request's time once and says its own, the device corrects. */
#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
static void test_wrong_laptop_clock(void) {
  if (access(FAKETIME_LIB, R_OK) != 0) {
    printf("SKIP test_wrong_laptop_clock: libfaketime is not installed (apt-get install "
           "libfaketime)\n");
    return;
  }
  e2e_server *s = server("hq8", NULL);
  if (!s) return;
  char *ben = e2e_device_new(__LINE__, s, g_dir, "ben8", "ben");
  const char *skews[] = {"+2h", "-3h"};
  for (int i = 0; i < 2; i++) {
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    setenv("FAKETIME", skews[i], 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    /* a sanitizer build wants its runtime first; libfaketime comes first */
    const char *asan = getenv("ASAN_OPTIONS");
    char *asan_saved = asan ? strdup(asan) : NULL;
    char asan_opts[512];
    snprintf(asan_opts, sizeof asan_opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1);
    cJSON *st = e2e_sync(__LINE__, ben);
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME");
    unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");
    if (asan_saved)
      setenv("ASAN_OPTIONS", asan_saved, 1);
    else
      unsetenv("ASAN_OPTIONS");
    free(asan_saved);
    CHECK(st != NULL);
    cJSON_Delete(st);
  }
  /* the refusals happened (one per request of each sync), and were answered */
  CHECK(log_has(s, "GET /v1/pull 401", 10000));
  SAME_AS_HQ(ben, s, "ben");
  STILL_UP(s);
  free(ben);
  e2e_server_free(s);
}

/* ------------------------------------------------ crafted batches (4-9) */

static const char *const CUST_COLS[] = {"name",   "vat",     "segment",    "address",
                                        "city",   "country", "phone",      "email",
                                        "status", "manager", "created_at", NULL};

/* A whole customers row: name, country, status, manager (the rest NULL). */
static fsi_rowchange *cust_row(fsi_batch *b, const char *pk, int64_t cl, int64_t hlc, int64_t site,
                               const char *name, const char *country, const char *status,
                               const char *manager) {
  const char *v[] = {name, "~", "~", "~", "~", country, "~", "~", status, manager, "~"};
  return hb_row(b, pk, cl, hlc, site, v);
}

/* Pushes b as h and expects 200 with exactly `refused` refusals, the first
 * containing `reason`.  Returns the ack (caller deletes). */
static cJSON *push_expect(int line, hostile *h, fsi_batch *b, int refused, const char *reason) {
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  int rc = hostile_push(h, b, &r);
  tu_checks += 3;
  if (rc != FS_OK || r.status != 200) {
    tu_fail(__FILE__, line, "push: %s status %ld %s", rc ? fs_errmsg() : "", r.status,
            r.body ? (const char *)r.body : "");
    fsi_http_response_clear(&r);
    return NULL;
  }
  cJSON *ack = cJSON_ParseWithLength((const char *)r.body, r.len);
  fsi_http_response_clear(&r);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(ack, "refused");
  if (cJSON_GetArraySize(arr) != refused)
    tu_fail(__FILE__, line, "push: %d refused, expected %d", cJSON_GetArraySize(arr), refused);
  const char *why = e2e_str(cJSON_GetArrayItem(arr, 0), "reason");
  if (reason && (!why || !strstr(why, reason)))
    tu_fail(__FILE__, line, "push: refusal \"%s\" does not mention \"%s\"", why ? why : "", reason);
  return ack;
}
#define PUSH_EXPECT(h, b, n, reason) cJSON_Delete(push_expect(__LINE__, h, b, n, reason))

/* 1 when head office's export (all managers) mentions text. */
static int hq_has(const e2e_server *s, const char *text) {
  char *all = e2e_export_hq(__LINE__, s, NULL);
  int has = all && strstr(all, text);
  free(all);
  return has;
}

static void delete_row(const char *home, const char *table, const char *id) {
  fs_device *dev = NULL;
  CHECK_OK(tu_device_open(&dev, home, NULL));
  if (dev) CHECK_OK(fs_delete(fs_device_store(dev), table, id));
  fs_device_close(dev);
}

/* Break 4: a device re-creates another manager's deleted customer. */
static void test_tombstone_takeover(void) {
  e2e_server *s = server("hq9", NULL);
  if (!s) return;
  char *anna = e2e_device_new(__LINE__, s, g_dir, "anna9", "anna");
  char *ben = e2e_device_new(__LINE__, s, g_dir, "ben9", "ben");
  char c[64], contact[64];
  ADD(ben, c, "customer", "add", "--name", "Bens Geheimkunde AG", "--json");
  ADD(ben, contact, "contact", "add", "--customer", c, "--name", "Frau Vertraulich", "--json");
  SYNC(ben);
  delete_row(ben, "contacts", contact);
  delete_row(ben, "customers", c);
  SYNC(ben);
  SYNC(anna);
  hostile h;
  if (hostile_open(&h, s, anna) == 0) {
    fsi_batch *b = hb_new("customers", CUST_COLS);
    cust_row(b, c, 3, hostile_now_hlc(), h.site, "Annas Kunde jetzt", "DE", "active", "anna");
    PUSH_EXPECT(&h, b, 1, "deleted while assigned to ben");
    fsi_change_batch_free(b);
    /* nor a contact attached to ben's deleted customer */
    const char *cc[] = {"customer_id", "name", "role", "phone", "email", NULL};
    b = hb_new("contacts", cc);
    char pk[FS_ID_SIZE];
    fs_uuid7(pk);
    const char *v[] = {c, "Spion", "~", "~", "~"};
    hb_row(b, pk, 1, hostile_now_hlc(), h.site, v);
    PUSH_EXPECT(&h, b, 1, "ben");
    fsi_change_batch_free(b);
  }
  hostile_close(&h);
  CHECK(!hq_has(s, "Annas Kunde jetzt"));
  CHECK(!hq_has(s, "Spion"));
  SYNC(anna);
  char *ex = e2e_export_dev(__LINE__, anna);
  CHECK(ex && !strstr(ex, c)); /* neither the customer nor its tombstone id */
  CHECK(ex && !strstr(ex, "Vertraulich"));
  free(ex);
  SAME_AS_HQ(anna, s, "anna");
  SAME_AS_HQ(ben, s, "ben");
  free(anna);
  free(ben);
  e2e_server_free(s);
}

/* Break 5: a moved customer keeps reaching its previous manager. */
static void test_moved_customer(void) {
  e2e_server *s = server("hq10", NULL);
  if (!s) return;
  char *anna = e2e_device_new(__LINE__, s, g_dir, "anna10", "anna");
  char *ben = e2e_device_new(__LINE__, s, g_dir, "ben10", "ben");
  char k[64], k2[64];
  ADD(anna, k, "customer", "add", "--name", "Wandernde GmbH", "--json");
  ADD(anna, k2, "customer", "add", "--name", "Pendel KG", "--json");
  SYNC(anna);
  HQ_RUN(s, "assign", k, "ben");
  SYNC(anna);
  SYNC(ben);
  for (int i = 0; i < 3; i++) { /* ben edits K again and again */
    char phone[32];
    snprintf(phone, sizeof phone, "+49 30 999 11%d", i);
    FS_RUN(ben, "customer", "edit", k, "--phone", phone);
    SYNC(ben);
    cJSON *st = e2e_sync(__LINE__, anna);
    CHECK_EQ_INT((int)e2e_int(st, "pulled"), 0); /* nothing of K reaches anna */
    cJSON_Delete(st);
  }
  char *ex = e2e_export_dev(__LINE__, anna);
  CHECK(ex && !strstr(ex, k));
  CHECK(ex && !strstr(ex, "+49 30 999 11"));
  free(ex);
  /* back and forth: nothing of K2 reaches ben afterwards */
  HQ_RUN(s, "assign", k2, "ben");
  HQ_RUN(s, "assign", k2, "anna");
  SYNC(ben);
  FS_RUN(anna, "customer", "edit", k2, "--phone", "+49 40 222 333");
  SYNC(anna);
  cJSON *bs = e2e_sync(__LINE__, ben);
  CHECK_EQ_INT((int)e2e_int(bs, "pulled"), 0); /* nothing of K2 reaches ben */
  cJSON_Delete(bs);
  /* the let-go bookkeeping is gone once every device pulled past it */
  {
    char path[4200];
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    snprintf(path, sizeof path, "%s/store.db", s->home);
    int moved = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM fs_moved", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
      moved = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    CHECK_EQ_INT(moved, 0);
  }
  ex = e2e_export_dev(__LINE__, ben);
  CHECK(ex && !strstr(ex, k2));
  CHECK(ex && !strstr(ex, "+49 40 222 333"));
  free(ex);
  SAME_AS_HQ(anna, s, "anna");
  SAME_AS_HQ(ben, s, "ben");
  free(anna);
  free(ben);
  e2e_server_free(s);
}

/* Breaks 6-9 share a fixture: anna's real device with a customer and a
 * draft order synced, then a hostile device with anna's keys that continues
 * her push chain (her real device pushes nothing after that), and ben. */
typedef struct crafted {
  e2e_server *s;
  char *anna, *ben;
  char own[64], bendev[64], order[64];
  hostile h;
  int ok;
} crafted;

static void crafted_open(crafted *c, const char *name) {
  char dev[64];
  memset(c, 0, sizeof *c);
  if (!(c->s = server(name, NULL))) return;
  snprintf(dev, sizeof dev, "%s-anna", name);
  c->anna = e2e_device_new(__LINE__, c->s, g_dir, dev, "anna");
  snprintf(dev, sizeof dev, "%s-ben", name);
  c->ben = e2e_device_new(__LINE__, c->s, g_dir, dev, "ben");
  ADD(c->anna, c->own, "customer", "add", "--name", "Eigene GmbH", "--country", "DE", "--json");
  ADD(c->anna, c->order, "order", "new", "--customer", c->own, "--currency", "EUR", "--json");
  SYNC(c->anna);
  e2e_device_id(__LINE__, c->ben, c->bendev);
  c->ok = hostile_open(&c->h, c->s, c->anna) == 0;
}

/* Head office's whole export must not contain any of `absent`. */
static void crafted_close(int line, crafted *c, const char *const *absent) {
  hostile_close(&c->h);
  if (c->s) {
    char *all = e2e_export_hq(line, c->s, NULL);
    for (size_t i = 0; absent && absent[i]; i++) {
      tu_checks++;
      if (!all || strstr(all, absent[i]))
        tu_fail(__FILE__, line, "head office holds \"%s\"", absent[i]);
    }
    free(all);
    still_up(line, c->s);
  }
  free(c->anna);
  free(c->ben);
  e2e_server_free(c->s);
}

/* Break 6: a device moves its own customer to another manager. */
static void test_hq_column_at_creation(void) {
  crafted c;
  crafted_open(&c, "hq11");
  if (c.ok) {
    fsi_batch *b = hb_new("customers", CUST_COLS);
    cust_row(b, c.own, 1, hostile_now_hlc(), c.h.site, "Eigene GmbH", "DE", "prospect", "ben");
    PUSH_EXPECT(&c.h, b, 1, "set by head office only");
    fsi_change_batch_free(b);
    cJSON *doc = HQ_JSON(c.s, "export", "--json", "--manager", "ben");
    CHECK(doc && e2e_rows_where(doc, "customers", "id", c.own) == 0);
    cJSON_Delete(doc);
    doc = HQ_JSON(c.s, "export", "--json", "--manager", "anna");
    CHECK(doc && e2e_rows_where(doc, "customers", "id", c.own) == 1);
    cJSON_Delete(doc);
  }
  crafted_close(__LINE__, &c, NULL);
}

/* Break 7: values a local write would refuse, merged at head office. */
static void test_domain_at_hq(void) {
  crafted c;
  crafted_open(&c, "hq12");
  if (c.ok) {
    int64_t now = hostile_now_hlc();
    char pk[5][FS_ID_SIZE];
    for (int i = 0; i < 5; i++) fs_uuid7(pk[i]);
    fsi_batch *b = hb_new("customers", CUST_COLS);
    cust_row(b, pk[0], 1, now + 1, c.h.site, "Hacked AG", "DE", "HACKED", "anna");
    cust_row(b, pk[1], 1, now + 2, c.h.site, "Vierland GmbH", "DEUX", "active", "anna");
    PUSH_EXPECT(&c.h, b, 2, "head office refuses this row");
    fsi_change_batch_free(b);
    char *longname = malloc(5001);
    memset(longname, 'x', 5000);
    longname[5000] = '\0';
    const char *cc[] = {"customer_id", "name", "role", "phone", "email", NULL};
    b = hb_new("contacts", cc);
    const char *cv[] = {c.own, longname, "~", "~", "~"};
    hb_row(b, pk[2], 1, now + 3, c.h.site, cv);
    PUSH_EXPECT(&c.h, b, 1, "too long");
    fsi_change_batch_free(b);
    free(longname);
    const char *oc[] = {"customer_id", "status",       "currency", "discount_bp",
                        "created_at",  "submitted_at", "manager",  NULL};
    b = hb_new("orders", oc);
    const char *ov[] = {c.own, "draft", "EUR", "#-50000", "~", "~", "anna"};
    hb_row(b, pk[3], 1, now + 4, c.h.site, ov);
    const char *ov2[] = {c.own, "draft", "EUR", "#0", "~", "~", "ben"};
    hb_row(b, pk[4], 1, now + 5, c.h.site, ov2);
    PUSH_EXPECT(&c.h, b, 2, NULL);
    fsi_change_batch_free(b);
    /* an order line at a price the list never had */
    const char *lc[] = {"order_id",   "customer_id", "sku",         "qty",
                        "unit_price", "currency",    "discount_bp", NULL};
    b = hb_new("order_lines", lc);
    char line[FS_ID_SIZE];
    fs_uuid7(line);
    const char *lv[] = {c.order, c.own, "CHAIR-01", "#40", "#1", "EUR", "#0"};
    hb_row(b, line, 1, hostile_now_hlc(), c.h.site, lv);
    PUSH_EXPECT(&c.h, b, 1, "price");
    fsi_change_batch_free(b);
    CHECK(!hq_has(c.s, pk[3]));
    CHECK(!hq_has(c.s, pk[4]));
    CHECK(!hq_has(c.s, line));
  }
  crafted_close(__LINE__, &c,
                (const char *const[]){"HACKED", "Vierland", "xxxxxxxxxx", "-50000", NULL});
}

/* Break 8: a causal length at the top of int64. */
static void test_clock_bounds(void) {
  crafted c;
  crafted_open(&c, "hq13");
  if (c.ok) {
    fsi_batch *b = hb_new("customers", CUST_COLS);
    char big[FS_ID_SIZE];
    fs_uuid7(big);
    cust_row(b, big, INT64_MAX, hostile_now_hlc(), c.h.site, "Ewig GmbH", "DE", "active", "anna");
    cust_row(b, c.own, INT64_MAX - 2, hostile_now_hlc(), c.h.site, "Eigene GmbH", "DE", "active",
             "anna");
    PUSH_EXPECT(&c.h, b, 2, NULL);
    fsi_change_batch_free(b);
    /* her own customer keeps its causal length: her device still syncs */
    SYNC(c.anna);
  }
  crafted_close(__LINE__, &c, (const char *const[]){"Ewig GmbH", NULL});
}

/* Break 9: a new row written in another device's name. */
static void test_site_authorship(void) {
  crafted c;
  crafted_open(&c, "hq14");
  if (c.ok) {
    int64_t bsite = 0;
    fsi_proto_site_parse(c.bendev, &bsite);
    fsi_batch *b = hb_new("customers", CUST_COLS);
    char forged[FS_ID_SIZE];
    fs_uuid7(forged);
    cust_row(b, forged, 1, hostile_now_hlc(), bsite, "Fremde Feder GmbH", "DE", "active", "anna");
    PUSH_EXPECT(&c.h, b, 1, "does not hold");
    fsi_change_batch_free(b);
  }
  crafted_close(__LINE__, &c, (const char *const[]){"Fremde Feder", NULL});
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  g_dir = tu_tmpdir("e2e-hostile");
  TEST_RUN(test_preauth_requests);
  TEST_RUN(test_signed_requests);
  TEST_RUN(test_body_bounds);
  TEST_RUN(test_flood_memory);
  TEST_RUN(test_slow_clients);
  TEST_RUN(test_enroll_identity);
  TEST_RUN(test_tls_policy);
  TEST_RUN(test_wrong_laptop_clock);
  TEST_RUN(test_tombstone_takeover);
  TEST_RUN(test_moved_customer);
  TEST_RUN(test_hq_column_at_creation);
  TEST_RUN(test_domain_at_hq);
  TEST_RUN(test_clock_bounds);
  TEST_RUN(test_site_authorship);
  e2e_stop_all();
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
