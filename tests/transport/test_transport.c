/*
 * test_transport.c — the HTTPS transport end to end on 127.0.0.1: a
 * certificate from tlsgen, the MHD server from https.c, and the libcurl
 * client from sync/fsi_http_client.c.  Checks trust (CA file, pin, wrong CA,
 * wrong pin), round trips (small, 10 MiB, headers, query), the size bounds
 * on both ends, error bodies, retries, unreachable servers and a graceful
 * stop with a request in flight.  Runs in a few seconds.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "https.h"
#include "testutil.h"
#include "tlsgen.h"

static char *g_dir; /* temp dir with cert.pem/key.pem and other/ */
static char g_cert[512], g_key[512], g_other_cert[512], g_other_key[512];
static char g_pin[TLSGEN_PIN_SIZE], g_other_pin[TLSGEN_PIN_SIZE];
static https_server *g_srv;
static char g_url[64];
static atomic_int g_hits_503, g_hits_404;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Routes of the test server. */
static void handler(void *user, const https_request *req, https_reply *reply) {
  (void)user;
  if (strcmp(req->path, "/echo") == 0) {
    if (strcmp(req->method, "POST") != 0) {
      reply->status = 405;
      return;
    }
    const char *ct = https_request_header(req, "Content-Type");
    https_reply_bytes(reply, 200,
                      ct && strcmp(ct, "application/json") == 0 ? "application/json"
                                                                : "application/octet-stream",
                      req->body, req->body_len);
  } else if (strcmp(req->path, "/info") == 0) {
    const char *dev = https_request_header(req, "X-Fieldsync-Device");
    const char *cursor = https_request_arg(req, "cursor");
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"method\":\"%s\",\"device\":\"%s\",\"query\":\"%s\","
                     "\"cursor\":\"%s\",\"len\":%zu}",
                     req->method, dev ? dev : "", req->query, cursor ? cursor : "", req->body_len);
    https_reply_bytes(reply, 200, NULL, buf, (size_t)n);
  } else if (strcmp(req->path, "/slow") == 0) {
    sleep_ms(1000);
    https_reply_bytes(reply, 200, "text/plain", "slow-done", 9);
  } else if (strcmp(req->path, "/busy") == 0) {
    atomic_fetch_add(&g_hits_503, 1);
    https_reply_error(reply, 503, "busy, try later");
  } else if (strcmp(req->path, "/gone") == 0) {
    atomic_fetch_add(&g_hits_404, 1);
    reply->status = 404;
  } else if (strcmp(req->path, "/big") == 0) {
    unsigned char *b = malloc(4096);
    memset(b, 'x', 4096);
    reply->status = 200;
    reply->content_type = "application/octet-stream";
    reply->body = b;
    reply->body_len = 4096;
  } else {
    reply->status = 404; /* the server writes the JSON error body */
  }
}

static void test_tlsgen(void) {
  struct stat st;
  char *sub = NULL;
  size_t n;

  snprintf(g_cert, sizeof g_cert, "%s/cert.pem", g_dir);
  snprintf(g_key, sizeof g_key, "%s/key.pem", g_dir);
  n = strlen(g_dir) + 16;
  sub = malloc(n);
  snprintf(sub, n, "%s/other", g_dir);
  CHECK(mkdir(sub, 0700) == 0);
  snprintf(g_other_cert, sizeof g_other_cert, "%s/cert.pem", sub);
  snprintf(g_other_key, sizeof g_other_key, "%s/key.pem", sub);
  free(sub);

  CHECK_OK(tlsgen_self_signed(g_cert, g_key, "hq.example.com", 0));
  CHECK_OK(tlsgen_self_signed(g_other_cert, g_other_key, NULL, 30));
  CHECK(stat(g_cert, &st) == 0 && (st.st_mode & 0777) == 0644);
  CHECK(stat(g_key, &st) == 0 && (st.st_mode & 0777) == 0600);

  char *pem = tu_read_file(g_cert, NULL);
  CHECK_CONTAINS(pem, "-----BEGIN CERTIFICATE-----");
  free(pem);
  pem = tu_read_file(g_key, NULL);
  CHECK_CONTAINS(pem, "-----BEGIN PRIVATE KEY-----");
  free(pem);

  /* Never overwrites, and leaves the existing files alone. */
  CHECK_ERR(tlsgen_self_signed(g_cert, g_key, NULL, 0), FS_EEXIST);
  CHECK_CONTAINS(fs_errmsg(), "already exists");
  CHECK(stat(g_key, &st) == 0 && st.st_size > 0);
  CHECK_ERR(tlsgen_self_signed("/nonexistent-dir/c.pem", "/nonexistent-dir/k.pem", "bad host!", 0),
            FS_EINVAL);

  CHECK_OK(tlsgen_pin_from_cert(g_pin, g_cert));
  CHECK_OK(tlsgen_pin_from_cert(g_other_pin, g_other_cert));
  CHECK(strncmp(g_pin, "sha256//", 8) == 0);
  CHECK_EQ_INT(strlen(g_pin), 52);
  CHECK(g_pin[51] == '=');
  CHECK(strcmp(g_pin, g_other_pin) != 0);
  char scratch[TLSGEN_PIN_SIZE];
  CHECK_ERR(tlsgen_pin_from_cert(scratch, g_key), FS_EINVAL);
  CHECK_ERR(tlsgen_pin_from_cert(scratch, "/nonexistent.pem"), FS_ENOTFOUND);
}

static void test_server_start_errors(void) {
  https_server *s = NULL;

  CHECK_ERR(https_server_start(&s, "127.0.0.1", g_cert, g_key, handler, NULL), FS_EINVAL);
  CHECK(s == NULL);
  CHECK_ERR(https_server_start(&s, "127.0.0.1:99999", g_cert, g_key, handler, NULL), FS_EINVAL);
  /* A key that is not the certificate's: named in the message. */
  CHECK_ERR(https_server_start(&s, "127.0.0.1:0", g_cert, g_other_key, handler, NULL), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "does not belong to the certificate");
  CHECK_ERR(https_server_start(&s, "127.0.0.1:0", "/nonexistent.pem", g_key, handler, NULL),
            FS_ENOTFOUND);
}

static void start_main_server(void) {
  CHECK_OK(https_server_start(&g_srv, "127.0.0.1:0", g_cert, g_key, handler, NULL));
  CHECK(g_srv != NULL);
  if (!g_srv) return;
  CHECK(https_server_port(g_srv) > 0);
  snprintf(g_url, sizeof g_url, "https://127.0.0.1:%d", https_server_port(g_srv));

  /* The port is taken now: a second server on it is refused clearly. */
  https_server *s = NULL;
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", https_server_port(g_srv));
  CHECK_ERR(https_server_start(&s, addr, g_cert, g_key, handler, NULL), FS_ENETWORK);
  CHECK_CONTAINS(fs_errmsg(), "cannot listen on");
}

/* IPv6 loopback, when the machine has it: the certificate names ::1. */
static void test_ipv6(void) {
  https_server *s = NULL;
  fsi_http_client *c = NULL;
  fsi_http_response r = {0};
  char url[64];

  if (https_server_start(&s, "[::1]:0", g_cert, g_key, handler, NULL) != FS_OK) {
    printf("skipping IPv6: %s\n", fs_errmsg());
    return;
  }
  snprintf(url, sizeof url, "https://[::1]:%d", https_server_port(s));
  CHECK_OK(fsi_http_client_new(&c, url, g_cert, NULL));
  CHECK_OK(fsi_http_client_get(c, "/info", &r));
  CHECK_EQ_INT(r.status, 200);
  fsi_http_response_clear(&r);
  fsi_http_client_free(c);
  https_server_stop(s);
}

static void test_client_args(void) {
  fsi_http_client *c = NULL;

  CHECK_ERR(fsi_http_client_new(&c, "http://127.0.0.1:1", g_cert, NULL), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "https://");
  CHECK_ERR(fsi_http_client_new(&c, "not a url", g_cert, NULL), FS_EINVAL);
  CHECK_ERR(fsi_http_client_new(&c, g_url, "/nonexistent-ca.pem", NULL), FS_ENOTFOUND);
  CHECK_ERR(fsi_http_client_new(&c, g_url, NULL, "sha256//tooshort"), FS_EINVAL);
  CHECK(c == NULL);
  /* A bare base64 pin is accepted as well. */
  CHECK_OK(fsi_http_client_new(&c, g_url, NULL, g_pin + 8));
  fsi_http_client_free(c);
  fsi_http_client_free(NULL);
}

typedef struct progress_seen {
  int calls;
  uint64_t up_max, down_max;
} progress_seen;

static void on_progress(void *user, uint64_t up_now, uint64_t up_total, uint64_t down_now,
                        uint64_t down_total) {
  progress_seen *p = user;
  (void)up_total;
  (void)down_total;
  p->calls++;
  if (up_now > p->up_max) p->up_max = up_now;
  if (down_now > p->down_max) p->down_max = down_now;
}

static void test_round_trips(void) {
  fsi_http_client *c = NULL;
  fsi_http_response r = {0};
  const char *json = "{\"hello\":\"world\"}";
  const size_t big_len = (size_t)10 * 1024 * 1024;
  unsigned char *big = NULL;
  progress_seen ps = {0};

  CHECK_OK(fsi_http_client_new(&c, g_url, g_cert, NULL));
  if (!c) return;

  CHECK_OK(fsi_http_client_post(c, "/echo", "application/json", json, strlen(json), &r));
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.content_type, "application/json");
  CHECK_EQ_INT(r.len, strlen(json));
  CHECK_STR((const char *)r.body, json);
  fsi_http_response_clear(&r);

  CHECK_OK(fsi_http_client_set_header(c, "X-Fieldsync-Device", "0123456789abcdef"));
  CHECK_ERR(fsi_http_client_set_header(c, "X-Bad", "a\r\nInjected: 1"), FS_EINVAL);
  CHECK_ERR(fsi_http_client_set_header(c, "Bad Name", "x"), FS_EINVAL);
  CHECK_OK(fsi_http_client_get(c, "/info?cursor=a%2Bb&x=1", &r));
  CHECK_EQ_INT(r.status, 200);
  CHECK_CONTAINS((const char *)r.body, "\"method\":\"GET\"");
  CHECK_CONTAINS((const char *)r.body, "\"device\":\"0123456789abcdef\"");
  CHECK_CONTAINS((const char *)r.body, "\"query\":\"cursor=a%2Bb&x=1\"");
  CHECK_CONTAINS((const char *)r.body, "\"cursor\":\"a+b\"");
  fsi_http_response_clear(&r);

  /* Replacing and removing a header. */
  CHECK_OK(fsi_http_client_set_header(c, "x-fieldsync-device", "fedcba9876543210"));
  CHECK_OK(fsi_http_client_post(c, "/info", NULL, "abc", 3, &r));
  CHECK_CONTAINS((const char *)r.body, "\"device\":\"fedcba9876543210\"");
  CHECK_CONTAINS((const char *)r.body, "\"len\":3");
  fsi_http_response_clear(&r);
  CHECK_OK(fsi_http_client_set_header(c, "X-Fieldsync-Device", NULL));
  CHECK_OK(fsi_http_client_get(c, "/info", &r));
  CHECK_CONTAINS((const char *)r.body, "\"device\":\"\"");
  fsi_http_response_clear(&r);

  /* An empty POST body. */
  CHECK_OK(fsi_http_client_post(c, "/echo", NULL, NULL, 0, &r));
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.len, 0);
  fsi_http_response_clear(&r);

  /* 10 MiB of binary both ways, with the progress hook. */
  big = malloc(big_len);
  CHECK(big != NULL);
  if (big) {
    for (size_t i = 0; i < big_len; i++) big[i] = (unsigned char)(i * 131u + (i >> 13));
    big[100] = 0; /* binary-safe */
    fsi_http_client_set_progress(c, on_progress, &ps);
    CHECK_OK(fsi_http_client_post(c, "/echo", "application/octet-stream", big, big_len, &r));
    fsi_http_client_set_progress(c, NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.content_type, "application/octet-stream");
    CHECK_EQ_INT(r.len, big_len);
    CHECK(r.body && memcmp(r.body, big, big_len) == 0);
    CHECK(ps.calls >= 1);
    CHECK_EQ_INT(ps.up_max, big_len);
    CHECK_EQ_INT(ps.down_max, big_len);
    fsi_http_response_clear(&r);
  }
  free(big);

  /* Every request above went over one kept-alive connection. */
  CHECK_EQ_INT(fsi_http_client_connections(c), 1);

  /* Bad paths are refused before anything is sent. */
  CHECK_ERR(fsi_http_client_get(c, "info", &r), FS_EINVAL);
  CHECK_ERR(fsi_http_client_get(c, "/a b", &r), FS_EINVAL);

  /* Response bound on the client. */
  fsi_http_client_set_max_response(c, 1000);
  CHECK_ERR(fsi_http_client_get(c, "/big", &r), FS_ETOOBIG);
  CHECK(r.body == NULL && r.status == 0);
  fsi_http_client_set_max_response(c, 0);
  CHECK_OK(fsi_http_client_get(c, "/big", &r));
  CHECK_EQ_INT(r.len, 4096);
  fsi_http_response_clear(&r);

  fsi_http_client_free(c);
}

static void test_error_bodies(void) {
  fsi_http_client *c = NULL;
  fsi_http_response r = {0};

  CHECK_OK(fsi_http_client_new(&c, g_url, g_cert, NULL));
  if (!c) return;
  fsi_http_client_set_retry(c, 3, 10);

  CHECK_OK(fsi_http_client_get(c, "/no/such/path", &r));
  CHECK_EQ_INT(r.status, 404);
  CHECK_STR(r.content_type, "application/json");
  CHECK_STR((const char *)r.body, "{\"error\":\"not found\"}");
  fsi_http_response_clear(&r);

  CHECK_OK(fsi_http_client_get(c, "/echo", &r));
  CHECK_EQ_INT(r.status, 405);
  CHECK_STR((const char *)r.body, "{\"error\":\"method not allowed\"}");
  fsi_http_response_clear(&r);

  /* 4xx is final: exactly one request reaches the server. */
  CHECK_OK(fsi_http_client_get(c, "/gone", &r));
  CHECK_EQ_INT(r.status, 404);
  CHECK_EQ_INT(atomic_load(&g_hits_404), 1);
  fsi_http_response_clear(&r);

  /* 503 is retried, and the last answer is returned with its body. */
  CHECK_OK(fsi_http_client_get(c, "/busy", &r));
  CHECK_EQ_INT(r.status, 503);
  CHECK_EQ_INT(atomic_load(&g_hits_503), 3);
  CHECK_STR((const char *)r.body, "{\"error\":\"busy, try later\"}");
  fsi_http_response_clear(&r);

  /* Over the server's body bound: 413 with a JSON body, before the body is
   * read; the server keeps serving afterwards. */
  size_t over = HTTPS_SERVER_MAX_BODY + 1;
  unsigned char *huge = calloc(1, over);
  CHECK(huge != NULL);
  if (huge) {
    int64_t t0 = now_ms();
    CHECK_OK(fsi_http_client_post(c, "/echo", NULL, huge, over, &r));
    CHECK_EQ_INT(r.status, 413);
    CHECK_STR(r.content_type, "application/json");
    CHECK_CONTAINS((const char *)r.body, "{\"error\":\"request body is larger than");
    CHECK(now_ms() - t0 < 5000);
    fsi_http_response_clear(&r);
    free(huge);
  }
  CHECK_OK(fsi_http_client_post(c, "/echo", NULL, "ok", 2, &r));
  CHECK_EQ_INT(r.status, 200);
  fsi_http_response_clear(&r);
  fsi_http_client_free(c);
}

/* A chunked upload (no Content-Length) of `total` bytes, straight through
 * libcurl since fsi_http_client always sends a length. */
typedef struct chunk_src {
  size_t left;
} chunk_src;

static size_t chunk_read(char *buf, size_t size, size_t n, void *user) {
  chunk_src *src = user;
  size_t want = size * n;
  if (want > src->left) want = src->left;
  memset(buf, 'z', want);
  src->left -= want;
  return want;
}

static size_t chunk_sink(char *data, size_t size, size_t n, void *user) {
  char *out = user;
  size_t len = size * n, have = strlen(out);
  if (have + len < 256) {
    memcpy(out + have, data, len);
    out[have + len] = '\0';
  }
  return size * n;
}

static CURLcode chunked_post(size_t total, long *status, char body[256]) {
  CURL *h = curl_easy_init();
  struct curl_slist *hdrs = curl_slist_append(NULL, "Transfer-Encoding: chunked");
  chunk_src src = {total};
  char url[96];
  CURLcode e;

  body[0] = '\0';
  *status = 0;
  snprintf(url, sizeof url, "%s/echo", g_url);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CAINFO, g_cert);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, chunk_read);
  curl_easy_setopt(h, CURLOPT_READDATA, &src);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, chunk_sink);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  e = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return e;
}

static void test_chunked_bounds(void) {
  long status;
  char body[256];

  /* A body of unknown length could not be judged before it is read: a POST
   * without Content-Length is refused at once, nothing of it buffered. */
  CHECK_EQ_INT(chunked_post(100000, &status, body), CURLE_OK);
  CHECK_EQ_INT(status, 411);
  CHECK_CONTAINS(body, "{\"error\":\"a request body needs a Content-Length header");
}

static void test_trust(void) {
  fsi_http_client *c = NULL;
  fsi_http_response r = {0};
  int64_t t0;

  /* The other certificate as CA: refused, not retried. */
  CHECK_OK(fsi_http_client_new(&c, g_url, g_other_cert, NULL));
  t0 = now_ms();
  CHECK_ERR(fsi_http_client_get(c, "/info", &r), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "the server's certificate is not trusted by CA file");
  CHECK_CONTAINS(fs_errmsg(), g_other_cert);
  CHECK(now_ms() - t0 < 2000);
  CHECK(r.body == NULL);
  fsi_http_client_free(c);
  c = NULL;

  /* The right certificate reached under an address it does not carry
   * (127.0.0.2 is loopback too, but not in the certificate): refused. */
  char url_name[96];
  https_server *s2 = NULL;
  CHECK_OK(https_server_start(&s2, "127.0.0.2:0", g_cert, g_key, handler, NULL));
  if (s2) {
    snprintf(url_name, sizeof url_name, "https://127.0.0.2:%d", https_server_port(s2));
    CHECK_OK(fsi_http_client_new(&c, url_name, g_cert, NULL));
    CHECK_ERR(fsi_http_client_get(c, "/info", &r), FS_EAUTH);
    CHECK_CONTAINS(fs_errmsg(), "is not valid for the host in https://127.0.0.2:");
    fsi_http_client_free(c);
    c = NULL;
    /* The pin alone does not depend on the name. */
    CHECK_OK(fsi_http_client_new(&c, url_name, NULL, g_pin));
    CHECK_OK(fsi_http_client_get(c, "/info", &r));
    CHECK_EQ_INT(r.status, 200);
    fsi_http_response_clear(&r);
    fsi_http_client_free(c);
    c = NULL;
    https_server_stop(s2);
  }

  /* localhost is in the certificate too. */
  snprintf(url_name, sizeof url_name, "https://localhost:%d", https_server_port(g_srv));
  CHECK_OK(fsi_http_client_new(&c, url_name, g_cert, NULL));
  CHECK_OK(fsi_http_client_get(c, "/info", &r));
  CHECK_EQ_INT(r.status, 200);
  fsi_http_response_clear(&r);
  fsi_http_client_free(c);
  c = NULL;

  /* Matching pin alone: works (self-signed, no CA). */
  CHECK_OK(fsi_http_client_new(&c, g_url, NULL, g_pin));
  CHECK_OK(fsi_http_client_get(c, "/info", &r));
  CHECK_EQ_INT(r.status, 200);
  fsi_http_response_clear(&r);
  fsi_http_client_free(c);
  c = NULL;

  /* Pin and CA together: both must hold. */
  CHECK_OK(fsi_http_client_new(&c, g_url, g_cert, g_pin));
  CHECK_OK(fsi_http_client_get(c, "/info", &r));
  CHECK_EQ_INT(r.status, 200);
  fsi_http_response_clear(&r);
  fsi_http_client_free(c);
  c = NULL;
  CHECK_OK(fsi_http_client_new(&c, g_url, g_cert, g_other_pin));
  CHECK_ERR(fsi_http_client_get(c, "/info", &r), FS_EAUTH);
  fsi_http_client_free(c);
  c = NULL;

  /* A wrong pin alone: refused, with the pin named. */
  CHECK_OK(fsi_http_client_new(&c, g_url, NULL, g_other_pin));
  t0 = now_ms();
  CHECK_ERR(fsi_http_client_post(c, "/echo", NULL, "secret", 6, &r), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "the server's key does not match the pinned fingerprint");
  CHECK_CONTAINS(fs_errmsg(), g_other_pin);
  CHECK(now_ms() - t0 < 2000);
  fsi_http_client_free(c);
  c = NULL;

  /* One of several pins matching is enough. */
  char both[2 * TLSGEN_PIN_SIZE];
  snprintf(both, sizeof both, "%s;%s", g_other_pin, g_pin);
  CHECK_OK(fsi_http_client_new(&c, g_url, NULL, both));
  CHECK_OK(fsi_http_client_get(c, "/info", &r));
  CHECK_EQ_INT(r.status, 200);
  fsi_http_response_clear(&r);
  fsi_http_client_free(c);
}

static void test_unreachable(void) {
  fsi_http_client *c = NULL;
  fsi_http_response r = {0};
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  int fd, port;
  char url[64];
  int64_t t0;

  /* A port that was free a moment ago and has nothing listening now. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
  port = ntohs(sa.sin_port);
  close(fd);
  snprintf(url, sizeof url, "https://127.0.0.1:%d", port);

  CHECK_OK(fsi_http_client_new(&c, url, g_cert, NULL));
  if (!c) return;
  t0 = now_ms();
  CHECK_ERR(fsi_http_client_get(c, "/info", &r), FS_ENETWORK);
  int64_t took = now_ms() - t0;
  char want[96];
  snprintf(want, sizeof want, "cannot reach the server at %s: ", url);
  CHECK_CONTAINS(fs_errmsg(), want);
  CHECK_CONTAINS(fs_errmsg(), "tried 4 times");
  /* Default backoff: 3 waits within [125,250]+[250,500]+[500,1000] ms. */
  CHECK(took >= 800);
  CHECK(took < 5000);
  fsi_http_client_free(c);
}

typedef struct slow_call {
  int rc;
  fsi_http_response r;
} slow_call;

static void *slow_thread(void *arg) {
  slow_call *sc = arg;
  fsi_http_client *c = NULL;
  sc->rc = fsi_http_client_new(&c, g_url, g_cert, NULL);
  if (sc->rc == FS_OK) {
    fsi_http_client_set_retry(c, 1, 0);
    sc->rc = fsi_http_client_get(c, "/slow", &sc->r);
  }
  fsi_http_client_free(c);
  return NULL;
}

static void test_graceful_stop(void) {
  pthread_t th;
  slow_call sc;
  fsi_http_client *c = NULL;
  fsi_http_response r = {0};
  int64_t t0;

  memset(&sc, 0, sizeof sc);
  CHECK(pthread_create(&th, NULL, slow_thread, &sc) == 0);
  sleep_ms(200); /* the request is in the handler now */
  /* Meanwhile another pool thread serves other requests. */
  CHECK_OK(fsi_http_client_new(&c, g_url, g_cert, NULL));
  if (c) {
    t0 = now_ms();
    CHECK_OK(fsi_http_client_get(c, "/info", &r));
    CHECK_EQ_INT(r.status, 200);
    CHECK(now_ms() - t0 < 300);
    fsi_http_response_clear(&r);
    fsi_http_client_free(c);
    c = NULL;
  }
  t0 = now_ms();
  https_server_stop(g_srv);
  g_srv = NULL;
  int64_t took = now_ms() - t0;
  pthread_join(th, NULL);
  CHECK_OK(sc.rc);
  CHECK_EQ_INT(sc.r.status, 200);
  CHECK_STR((const char *)sc.r.body, "slow-done");
  CHECK(took >= 200); /* it waited for the request ... */
  CHECK(took < 3000); /* ... and no longer */
  fsi_http_response_clear(&sc.r);

  /* Stopped means stopped. */
  CHECK_OK(fsi_http_client_new(&c, g_url, g_cert, NULL));
  if (c) {
    fsi_http_client_set_retry(c, 1, 0);
    CHECK_ERR(fsi_http_client_get(c, "/info", &r), FS_ENETWORK);
    fsi_http_client_free(c);
  }
  https_server_stop(NULL);
}

int main(void) {
  g_dir = tu_tmpdir("transport");
  TEST_RUN(test_tlsgen);
  TEST_RUN(test_server_start_errors);
  TEST_RUN(start_main_server);
  if (g_srv) {
    TEST_RUN(test_client_args);
    TEST_RUN(test_ipv6);
    TEST_RUN(test_round_trips);
    TEST_RUN(test_error_bodies);
    TEST_RUN(test_chunked_bounds);
    TEST_RUN(test_trust);
    TEST_RUN(test_unreachable);
    TEST_RUN(test_graceful_stop);
  }
  https_server_stop(g_srv);
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
