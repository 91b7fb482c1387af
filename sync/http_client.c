/*
 * fsi_http_client.c — the device's HTTPS transport on libcurl (see fsi_http_client.h).
 *
 * One CURL easy handle per client holds the connection cache, so consecutive
 * requests to the same server reuse one TLS connection.  Options that never
 * change (trust anchor, timeouts, protocol restrictions) are set once in
 * fsi_http_client_new; each request sets only its URL, method, body and headers.
 *
 * Invariants:
 *  - peer verification is never disabled except when a pin is given and no
 *    CA file is, and then CURLOPT_PINNEDPUBLICKEY is set on the same handle:
 *    libcurl checks the pin independently of CURLOPT_SSL_VERIFYPEER, so the
 *    key is the trust anchor.  With a CA file, CURLOPT_CAPATH is cleared so
 *    only that file is trusted (not the system store as well).
 *  - the response sink never holds more than max_response bytes.
 *  - a request is retried only for the failures http_client_transient()
 *    accepts, at most `attempts` times in all, sleeping between tries.
 */
#include "http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

#define HTTP_CLIENT_MAX_HEADERS 32
#define HTTP_CLIENT_PROGRESS_NS 100000000LL /* at most 10 calls per second */

typedef struct http_client_sink {
  unsigned char *buf;
  size_t len, cap, max;
  int too_big;
} http_client_sink;

struct fsi_http_client {
  CURL *curl;
  char *base_url;
  char *ca_file; /* NULL when not given */
  char *pin;     /* normalized "sha256//..;sha256//..", NULL when not given */
  char *headers[HTTP_CLIENT_MAX_HEADERS]; /* "Name: value" lines */
  size_t nheaders;
  http_client_progress_fn progress;
  void *progress_user;
  http_client_sign_fn sign;
  void *sign_user;
  int64_t progress_last_ns;
  int attempts;
  long backoff_ms;
  size_t max_response;
  long connections;
  uint64_t rng;
  char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t http_client_once = PTHREAD_ONCE_INIT;
static CURLcode http_client_init_rc = CURLE_FAILED_INIT;

static void http_client_global_init(void) {
  http_client_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t http_client_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int http_client_b64_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         ch == '+' || ch == '/';
}

/* Normalizes "sha256//X;Y" (prefix optional on each item) into *out.  Each
 * item must be the 44-character base64 of a SHA-256 digest. */
static int http_client_pin_normalize(const char *pin, char **out) {
  size_t n = strlen(pin), items = 0;
  char *res = NULL, *w;
  const char *p = pin;
  int rc = FS_OK;

  *out = NULL;
  res = malloc(n / 44 * 53 + 64);
  if (!res) return fsi_fail(FS_ENOMEM, "out of memory");
  w = res;
  while (*p) {
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len >= 8 && strncmp(p, "sha256//", 8) == 0) {
      p += 8;
      len -= 8;
    }
    int ok = len == 44 && p[43] == '=';
    for (size_t i = 0; ok && i < 43; i++) ok = http_client_b64_char(p[i]);
    if (!ok || items >= 16) {
      rc = fsi_fail(FS_EINVAL,
                    "pin \"%s\" is not a public key fingerprint: expected "
                    "sha256// followed by 44 base64 characters",
                    pin);
      goto done;
    }
    if (items) *w++ = ';';
    memcpy(w, "sha256//", 8);
    memcpy(w + 8, p, 44);
    w += 52;
    items++;
    p += len;
    if (*p == ';') p++;
  }
  *w = '\0';
  if (!items) {
    rc = fsi_fail(FS_EINVAL, "pin is empty");
    goto done;
  }
  *out = res;
  res = NULL;
done:
  free(res);
  return rc;
}

/* Checks that base_url is an absolute https URL with a host and nothing
 * after the path, and returns a copy without trailing slashes. */
static int http_client_url_normalize(const char *base_url, char **out) {
  CURLU *u = NULL;
  char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL, *user = NULL;
  char *res = NULL;
  int rc = FS_OK;

  *out = NULL;
  u = curl_url();
  if (!u) return fsi_fail(FS_ENOMEM, "out of memory");
  if (curl_url_set(u, CURLUPART_URL, base_url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
    rc = fsi_fail(FS_EINVAL, "server URL \"%s\" is not a valid URL", base_url);
    goto done;
  }
  if (strcmp(scheme, "https") != 0) {
    rc = fsi_fail(FS_EINVAL,
                  "server URL \"%s\" must start with https:// (fieldsync only "
                  "talks to its server over TLS)",
                  base_url);
    goto done;
  }
  if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
    rc =
        fsi_fail(FS_EINVAL, "server URL \"%s\" must not carry a user, query or fragment", base_url);
    goto done;
  }
  res = strdup(base_url);
  if (!res) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t n = strlen(res); n > 0 && res[n - 1] == '/'; n--) res[n - 1] = '\0';
  *out = res;
  res = NULL;
done:
  free(res);
  curl_free(scheme);
  curl_free(host);
  curl_free(query);
  curl_free(frag);
  curl_free(user);
  curl_url_cleanup(u);
  return rc;
}

static size_t http_client_write_cb(char *data, size_t size, size_t nmemb, void *userp) {
  http_client_sink *s = userp;
  size_t n = size * nmemb;

  if (n > s->max - s->len) {
    s->too_big = 1;
    return 0; /* makes curl fail with CURLE_WRITE_ERROR */
  }
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 16384;
    while (cap < s->len + n + 1) cap *= 2;
    if (cap > s->max + 1) cap = s->max + 1;
    unsigned char *nb = realloc(s->buf, cap);
    if (!nb) return 0;
    s->buf = nb;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, data, n);
  s->len += n;
  s->buf[s->len] = '\0';
  return n;
}

static int http_client_xfer_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow,
                               curl_off_t ultotal, curl_off_t ulnow) {
  fsi_http_client *c = userp;
  int64_t now = http_client_mono_ns();

  if (c->progress && now - c->progress_last_ns >= HTTP_CLIENT_PROGRESS_NS) {
    c->progress_last_ns = now;
    c->progress(c->progress_user, (uint64_t)ulnow, (uint64_t)ultotal, (uint64_t)dlnow,
                (uint64_t)dltotal);
  }
  return 0;
}

int fsi_http_client_new(fsi_http_client **out, const char *base_url, const char *ca_file,
                        const char *pin) {
  fsi_http_client *c = NULL;
  int rc = FS_OK;

  *out = NULL;
  if (!base_url || !*base_url) return fsi_fail(FS_EINVAL, "no server URL given");
  pthread_once(&http_client_once, http_client_global_init);
  if (http_client_init_rc != CURLE_OK)
    return fsi_fail(FS_ENOMEM, "cannot initialize libcurl: %s",
                    curl_easy_strerror(http_client_init_rc));

  c = calloc(1, sizeof *c);
  if (!c) return fsi_fail(FS_ENOMEM, "out of memory");
  c->attempts = HTTP_CLIENT_ATTEMPTS;
  c->backoff_ms = HTTP_CLIENT_BACKOFF_MS;
  c->max_response = HTTP_CLIENT_MAX_RESPONSE;
  c->rng = (uint64_t)http_client_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
  if (!c->rng) c->rng = 0x9e3779b97f4a7c15ULL;

  if ((rc = http_client_url_normalize(base_url, &c->base_url)) != FS_OK) goto done;
  if (ca_file && *ca_file) {
    if (access(ca_file, R_OK) != 0) {
      rc = fsi_fail(FS_ENOTFOUND, "cannot read the CA file %s: %s", ca_file, strerror(errno));
      goto done;
    }
    if (!(c->ca_file = strdup(ca_file))) {
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
  }
  if (pin && *pin && (rc = http_client_pin_normalize(pin, &c->pin)) != FS_OK) goto done;

  if (!(c->curl = curl_easy_init())) {
    rc = fsi_fail(FS_ENOMEM, "cannot create a libcurl handle");
    goto done;
  }
  CURL *h = c->curl;
  CURLcode e = CURLE_OK;
  /* Accumulate the first failure; every option here exists in the minimum
   * libcurl we build against (7.85 for the _STR protocol options). */
#define HTTP_CLIENT_OPT(opt, val)                                                                  \
  do {                                                                                             \
    if (e == CURLE_OK) e = curl_easy_setopt(h, opt, val);                                          \
  } while (0)
  HTTP_CLIENT_OPT(CURLOPT_NOSIGNAL, 1L);
  HTTP_CLIENT_OPT(CURLOPT_ERRORBUFFER, c->errbuf);
  HTTP_CLIENT_OPT(CURLOPT_PROTOCOLS_STR, "https");
  HTTP_CLIENT_OPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  HTTP_CLIENT_OPT(CURLOPT_FOLLOWLOCATION, 0L);
  HTTP_CLIENT_OPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  HTTP_CLIENT_OPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  HTTP_CLIENT_OPT(CURLOPT_CONNECTTIMEOUT, HTTP_CLIENT_CONNECT_TIMEOUT_S);
  HTTP_CLIENT_OPT(CURLOPT_LOW_SPEED_LIMIT, HTTP_CLIENT_LOW_SPEED_BYTES);
  HTTP_CLIENT_OPT(CURLOPT_LOW_SPEED_TIME, HTTP_CLIENT_LOW_SPEED_TIME_S);
  HTTP_CLIENT_OPT(CURLOPT_TCP_KEEPALIVE, 1L);
  HTTP_CLIENT_OPT(CURLOPT_USERAGENT, "fieldsync/0.1");
  HTTP_CLIENT_OPT(CURLOPT_WRITEFUNCTION, http_client_write_cb);
  HTTP_CLIENT_OPT(CURLOPT_XFERINFOFUNCTION, http_client_xfer_cb);
  HTTP_CLIENT_OPT(CURLOPT_XFERINFODATA, c);
  if (c->ca_file) {
    HTTP_CLIENT_OPT(CURLOPT_CAINFO, c->ca_file);
    HTTP_CLIENT_OPT(CURLOPT_CAPATH, (char *)NULL);
  }
  if (c->pin) HTTP_CLIENT_OPT(CURLOPT_PINNEDPUBLICKEY, c->pin);
  if (c->pin && !c->ca_file) {
    /* The pinned key is the identity: a self-signed certificate cannot chain
     * to any CA and may not name the host the device uses.  libcurl still
     * refuses a server whose key does not match
     * (CURLE_SSL_PINNEDPUBKEYNOTMATCH) with peer verification off;
     * test_transport checks exactly that. */
    HTTP_CLIENT_OPT(CURLOPT_SSL_VERIFYPEER, 0L);
    HTTP_CLIENT_OPT(CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    HTTP_CLIENT_OPT(CURLOPT_SSL_VERIFYPEER, 1L);
    HTTP_CLIENT_OPT(CURLOPT_SSL_VERIFYHOST, 2L);
  }
#undef HTTP_CLIENT_OPT
  if (e != CURLE_OK) {
    rc = fsi_fail(e == CURLE_OUT_OF_MEMORY ? FS_ENOMEM : FS_EINVAL, "cannot configure libcurl: %s",
                  curl_easy_strerror(e));
    goto done;
  }
  *out = c;
  c = NULL;
done:
  fsi_http_client_free(c);
  return rc;
}

void fsi_http_client_free(fsi_http_client *c) {
  if (!c) return;
  if (c->curl) curl_easy_cleanup(c->curl);
  for (size_t i = 0; i < c->nheaders; i++) free(c->headers[i]);
  free(c->base_url);
  free(c->ca_file);
  free(c->pin);
  free(c);
}

const char *fsi_http_client_base_url(const fsi_http_client *c) { return c->base_url; }

long fsi_http_client_connections(const fsi_http_client *c) { return c->connections; }

static int http_client_token_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

int fsi_http_client_set_header(fsi_http_client *c, const char *name, const char *value) {
  size_t nlen, i;
  char *line = NULL;

  if (!name || !*name) return fsi_fail(FS_EINVAL, "empty HTTP header name");
  nlen = strlen(name);
  for (i = 0; i < nlen; i++)
    if (!http_client_token_char(name[i]))
      return fsi_fail(FS_EINVAL, "HTTP header name \"%s\" is not a token", name);
  if (value) {
    for (const char *v = value; *v; v++)
      if (*v == '\r' || *v == '\n')
        return fsi_fail(FS_EINVAL, "HTTP header %s: value contains a line break", name);
    size_t n = nlen + strlen(value) + 3;
    if (!(line = malloc(n))) return fsi_fail(FS_ENOMEM, "out of memory");
    snprintf(line, n, "%s: %s", name, value);
  }
  for (i = 0; i < c->nheaders; i++) {
    if (strncasecmp(c->headers[i], name, nlen) == 0 && c->headers[i][nlen] == ':') break;
  }
  if (i < c->nheaders) {
    free(c->headers[i]);
    if (line) {
      c->headers[i] = line;
    } else {
      c->headers[i] = c->headers[--c->nheaders];
    }
    return FS_OK;
  }
  if (!line) return FS_OK;
  if (c->nheaders == HTTP_CLIENT_MAX_HEADERS) {
    free(line);
    return fsi_fail(FS_EINVAL, "too many HTTP headers (at most %d)", HTTP_CLIENT_MAX_HEADERS);
  }
  c->headers[c->nheaders++] = line;
  return FS_OK;
}

void fsi_http_client_set_signer(fsi_http_client *c, http_client_sign_fn fn, void *user) {
  c->sign = fn;
  c->sign_user = user;
}

void fsi_http_client_set_progress(fsi_http_client *c, http_client_progress_fn fn, void *user) {
  c->progress = fn;
  c->progress_user = user;
}

void fsi_http_client_set_retry(fsi_http_client *c, int attempts, long backoff_ms) {
  c->attempts = attempts < 1 ? 1 : attempts;
  c->backoff_ms = backoff_ms < 0 ? 0 : backoff_ms;
}

void fsi_http_client_set_max_response(fsi_http_client *c, size_t max_bytes) {
  c->max_response = max_bytes ? max_bytes : HTTP_CLIENT_MAX_RESPONSE;
}

void fsi_http_response_clear(fsi_http_response *resp) {
  if (!resp) return;
  free(resp->body);
  memset(resp, 0, sizeof *resp);
}

/* Failures worth another try: the server was not reachable at this moment,
 * or the connection broke under the request.  Everything else (TLS trust,
 * bad URL, too big, ...) would fail the same way again. */
static int http_client_transient(CURLcode e) {
  switch (e) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
    return 1;
  default:
    return 0;
  }
}

static int http_client_status_transient(long status) {
  return status == 502 || status == 503 || status == 504;
}

/* Sleeps before retry number `retry` (0-based): exponential with "equal
 * jitter", i.e. uniformly in [d/2, d] where d = backoff * 2^retry, capped. */
static void http_client_backoff(fsi_http_client *c, int retry) {
  long d = c->backoff_ms;
  for (int i = 0; i < retry && d < HTTP_CLIENT_BACKOFF_MAX_MS; i++) d *= 2;
  if (d > HTTP_CLIENT_BACKOFF_MAX_MS) d = HTTP_CLIENT_BACKOFF_MAX_MS;
  if (d <= 0) return;
  c->rng ^= c->rng << 13;
  c->rng ^= c->rng >> 7;
  c->rng ^= c->rng << 17;
  long ms = d / 2 + (long)(c->rng % (uint64_t)(d / 2 + 1));
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int http_client_check_path(const char *path) {
  if (!path || path[0] != '/')
    return fsi_fail(FS_EINVAL, "request path \"%s\" must start with '/'", path ? path : "(null)");
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    if (*p <= 0x20 || *p == 0x7f)
      return fsi_fail(FS_EINVAL, "request path contains a space or control character");
  return FS_OK;
}

/* A certificate refused for its dates, with a sentence saying what to do
 * (returns 1; 0 for any other failure).  "Not yet valid" on a certificate
 * head office made days ago nearly always means this laptop's clock is
 * behind; "expired" means head office must renew it, unless this laptop's
 * clock runs far ahead.  The texts are OpenSSL's and GnuTLS's. */
static int http_client_cert_dates(fsi_http_client *c, const char *why) {
  char now[32];
  fsi_util_date(now, fsi_util_now_ms());
  if (strstr(why, "not yet valid") || strstr(why, "not activated")) {
    fsi_fail(FS_EAUTH,
             "the server's certificate at %s is not valid yet by this laptop's clock, which "
             "reads %s: this laptop's clock looks wrong; set its date and time right "
             "(system settings, or timedatectl set-ntp true) and try again (%s)",
             c->base_url, now, why);
    return 1;
  }
  if (strstr(why, "expired") || strstr(why, "expiration")) {
    fsi_fail(FS_EAUTH,
             "the server's certificate at %s has expired (this laptop's clock reads %s): head "
             "office must renew its certificate; if that date is wrong, set this laptop's "
             "date and time right instead (%s)",
             c->base_url, now, why);
    return 1;
  }
  return 0;
}

/* Maps a final libcurl failure to an fs_err with a sentence. */
static int http_client_fail(fsi_http_client *c, CURLcode e, int tries) {
  const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(e);

  switch (e) {
  case CURLE_PEER_FAILED_VERIFICATION:
    if (http_client_cert_dates(c, why)) return FS_EAUTH;
    if (strstr(why, "host name"))
      return fsi_fail(FS_EAUTH,
                      "the server's certificate is not valid for the host in %s "
                      "(%s)",
                      c->base_url, why);
    if (c->ca_file)
      return fsi_fail(FS_EAUTH,
                      "the server's certificate is not trusted by CA file %s "
                      "(%s)",
                      c->ca_file, why);
    return fsi_fail(FS_EAUTH,
                    "the server's certificate at %s is not trusted by the "
                    "system's CA store (%s); give its CA file or its pin",
                    c->base_url, why);
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    return fsi_fail(FS_EAUTH, "the server's key does not match the pinned fingerprint %s",
                    c->pin ? c->pin : "");
  case CURLE_SSL_CACERT_BADFILE:
    return fsi_fail(FS_EINVAL, "cannot use the CA file %s: %s",
                    c->ca_file ? c->ca_file : "(system)", why);
  case CURLE_OUT_OF_MEMORY:
    return fsi_fail(FS_ENOMEM, "out of memory during a request to %s", c->base_url);
  case CURLE_FILESIZE_EXCEEDED:
    return fsi_fail(FS_ETOOBIG, "the server's response is larger than the %zu-byte limit",
                    c->max_response);
  default:
    if (tries > 1)
      return fsi_fail(FS_ENETWORK, "cannot reach the server at %s: %s (tried %d times)",
                      c->base_url, why, tries);
    return fsi_fail(FS_ENETWORK, "cannot reach the server at %s: %s", c->base_url, why);
  }
}

static void http_client_copy_ctype(fsi_http_client *c, fsi_http_response *resp) {
  char *ct = NULL;
  size_t n = 0;

  resp->content_type[0] = '\0';
  if (curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || !ct) return;
  while (ct[n] && ct[n] != ';' && ct[n] != ' ' && n + 1 < sizeof resp->content_type) n++;
  memcpy(resp->content_type, ct, n);
  resp->content_type[n] = '\0';
}

/* The header list for one signed attempt: a copy of the base list, then
 * the lines the signer writes for this attempt.  *out is caller-owned. */
static int http_client_sign_request(fsi_http_client *c, int post, const char *path, size_t len,
                                    const struct curl_slist *base, struct curl_slist **out) {
  char bare[2048], lines[HTTP_CLIENT_SIGN_LINES][HTTP_CLIENT_SIGN_LINE];
  const char *q = strchr(path, '?');
  size_t pl = q ? (size_t)(q - path) : strlen(path), nlines = 0;
  struct curl_slist *list = NULL, *tmp;
  *out = NULL;
  if (pl >= sizeof bare) return fsi_fail(FS_EINVAL, "request path too long to sign");
  memcpy(bare, path, pl);
  bare[pl] = '\0';
  int rc = c->sign(c->sign_user, post ? "POST" : "GET", bare, q ? q + 1 : "", len, lines, &nlines);
  if (rc) return rc;
  for (const struct curl_slist *b = base; b; b = b->next) {
    if (!(tmp = curl_slist_append(list, b->data))) goto nomem;
    list = tmp;
  }
  for (size_t i = 0; i < nlines && i < HTTP_CLIENT_SIGN_LINES; i++) {
    lines[i][HTTP_CLIENT_SIGN_LINE - 1] = '\0';
    if (strpbrk(lines[i], "\r\n")) {
      curl_slist_free_all(list);
      return fsi_fail(FS_EINVAL, "a signed header contains a line break");
    }
    if (!(tmp = curl_slist_append(list, lines[i]))) goto nomem;
    list = tmp;
  }
  *out = list;
  return FS_OK;
nomem:
  curl_slist_free_all(list);
  return fsi_fail(FS_ENOMEM, "out of memory");
}

static int http_client_request(fsi_http_client *c, int post, const char *path,
                               const char *content_type, const void *body, size_t len,
                               fsi_http_response *resp) {
  struct curl_slist *hdrs = NULL, *tmp;
  http_client_sink sink = {0};
  char *url = NULL, *ct_line = NULL;
  int rc = FS_OK, tries = 0;
  CURLcode e = CURLE_OK;
  long status = 0;

  memset(resp, 0, sizeof *resp);
  if ((rc = http_client_check_path(path)) != FS_OK) return rc;
  size_t ulen = strlen(c->base_url) + strlen(path) + 1;
  if (!(url = malloc(ulen))) return fsi_fail(FS_ENOMEM, "out of memory");
  snprintf(url, ulen, "%s%s", c->base_url, path);

  for (size_t i = 0; i < c->nheaders; i++) {
    if (!(tmp = curl_slist_append(hdrs, c->headers[i]))) goto nomem;
    hdrs = tmp;
  }
  if (post) {
    const char *ct = content_type ? content_type : "application/octet-stream";
    size_t n = strlen(ct) + 16;
    for (const char *p = ct; *p; p++)
      if (*p == '\r' || *p == '\n') {
        rc = fsi_fail(FS_EINVAL, "content type contains a line break");
        goto done;
      }
    if (!(ct_line = malloc(n))) goto nomem;
    snprintf(ct_line, n, "Content-Type: %s", ct);
    if (!(tmp = curl_slist_append(hdrs, ct_line))) goto nomem;
    hdrs = tmp;
  }

  curl_easy_setopt(c->curl, CURLOPT_URL, url);
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
  curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, c->progress ? 0L : 1L);
  if (post) {
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, len ? body : "");
  } else {
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
  }

  for (;;) {
    struct curl_slist *signed_hdrs = NULL;
    if (c->sign) {
      if ((rc = http_client_sign_request(c, post, path, len, hdrs, &signed_hdrs))) goto done;
      curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, signed_hdrs);
    }
    sink.len = 0;
    sink.too_big = 0;
    sink.max = c->max_response;
    c->errbuf[0] = '\0';
    c->progress_last_ns = 0;
    tries++;
    e = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_slist_free_all(signed_hdrs);
    long fresh = 0;
    if (curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &fresh) == CURLE_OK)
      c->connections += fresh;
    if (e == CURLE_OK) {
      curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
      if (!http_client_status_transient(status) || tries >= c->attempts) break;
    } else if (!http_client_transient(e) || tries >= c->attempts) {
      break;
    }
    http_client_backoff(c, tries - 1);
  }

  if (e != CURLE_OK) {
    if (sink.too_big) {
      rc = fsi_fail(FS_ETOOBIG, "the server's response is larger than the %zu-byte limit",
                    c->max_response);
    } else if (e == CURLE_WRITE_ERROR) {
      rc = fsi_fail(FS_ENOMEM, "out of memory while receiving from %s", c->base_url);
    } else {
      rc = http_client_fail(c, e, tries);
    }
    goto done;
  }
  if (c->progress) {
    curl_off_t up = 0, down = 0;
    curl_easy_getinfo(c->curl, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(c->curl, CURLINFO_SIZE_DOWNLOAD_T, &down);
    c->progress(c->progress_user, (uint64_t)up, (uint64_t)up, (uint64_t)down, (uint64_t)down);
  }
  resp->status = status;
  resp->body = sink.buf;
  resp->len = sink.len;
  sink.buf = NULL;
  http_client_copy_ctype(c, resp);
  goto done;

nomem:
  rc = fsi_fail(FS_ENOMEM, "out of memory");
done:
  /* The handle outlives this call: drop pointers to our locals. */
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, (void *)NULL);
  if (post) curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (char *)NULL);
  curl_slist_free_all(hdrs);
  free(sink.buf);
  free(ct_line);
  free(url);
  return rc;
}

int fsi_http_client_post(fsi_http_client *c, const char *path, const char *content_type,
                         const void *body, size_t len, fsi_http_response *resp) {
  if (len && !body) return fsi_fail(FS_EINVAL, "POST body is NULL");
  return http_client_request(c, 1, path, content_type, body, len, resp);
}

int fsi_http_client_get(fsi_http_client *c, const char *path, fsi_http_response *resp) {
  return http_client_request(c, 0, path, NULL, NULL, 0, resp);
}
