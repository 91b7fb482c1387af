/*
 * https.c — HTTPS front end of fieldsync-server on libmicrohttpd (see
 * https.h).
 *
 * Lifecycle of one request inside MHD, and what this module does at each
 * step:
 *   1. request line parsed   -> https_server_uri_cb: allocate the request
 *      state (start time, raw query string) and count it as in flight;
 *   2. headers parsed        -> first access call: remember method, path and
 *      device for the log; refuse a declared Content-Length over the bound
 *      (413 before any body byte is read);
 *   3. body chunks           -> appended to a buffer bounded by
 *      HTTPS_SERVER_MAX_BODY (a chunked body that grows past it is discarded
 *      and answered 413; one that keeps streaming is cut off);
 *   4. body complete         -> the handler runs and its reply is queued;
 *   5. reply sent or failed  -> https_server_done_cb: log line, free, and
 *      uncount, waking https_server_stop if it is waiting.
 *
 * Invariants: `active` equals the number of request states alive; once
 * `stopping` is set every reply carries "Connection: close"; the private key
 * bytes are wiped before they are freed.
 */
#include "https.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* server-stub/ otherwise uses only the public API; fsi_fail is how every
 * fieldsync module reports a failure so that fs_errmsg() describes it. */
#include "engine.h"

#define HTTPS_SERVER_PEM_MAX ((size_t)1024 * 1024)
#define HTTPS_SERVER_DISCARD_MAX ((size_t)16 * 1024 * 1024)
/* TLS 1.3 preferred, TLS 1.2 only with ECDHE and AEAD ciphers (no CBC, no
 * SHA-1 MACs, no static RSA key exchange); docs/security.md. */
#define HTTPS_SERVER_TLS_PRIORITIES                                                                \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305:"                     \
  "+AES-256-GCM:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"                      \
  "%SERVER_PRECEDENCE"
#define HTTPS_SERVER_CONN_MEMORY ((size_t)16 * 1024) /* headers per connection */
#define HTTPS_SERVER_DRAIN_MAX ((size_t)64 * 1024)   /* refused bodies drained */

struct https_server {
  struct MHD_Daemon *daemon;
  int listen_fd; /* ours until MHD_start_daemon succeeds */
  int port;
  https_handler_fn handler;
  https_admit_fn admit;
  void *user;
  size_t body_budget, body_reserved; /* under mu */
  char *cert_pem;
  char *key_pem;
  size_t key_len;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int sync_init; /* mu and cv initialized */
  int active;    /* request states alive */
  int stopping;
};

typedef struct https_server_req {
  https_server *srv;
  int64_t t0_ns;
  char *query;
  unsigned char *body;
  size_t len, cap;
  size_t limit;    /* body bytes this request may bring */
  size_t reserved; /* of the server's body budget */
  size_t discarded;
  int started;
  int too_big;
  https_reply refusal; /* queued once a small refused body is drained */
  int refused;
  int status;
  size_t bytes_out;
  char method[16];
  char path[160];
  char device[72];
} https_server_req;

static int64_t https_server_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Copies untrusted text for the log: printable ASCII only, bounded. */
static void https_server_log_copy(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  if (src)
    for (; src[i] && i + 1 < cap; i++) dst[i] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
  dst[i] = '\0';
}

static void https_server_log_time(char out[32]) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static void https_server_mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512], when[32];
  (void)cls;
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  https_server_log_time(when);
  fprintf(stderr, "%s https: %s\n", when, msg);
}

/* ------------------------------------------------------------ replies */

/* JSON string body {"error":"<msg>"} into a fresh buffer. */
static unsigned char *https_server_error_json(const char *msg, size_t *len) {
  size_t n = strlen(msg), cap = n * 6 + 16, w = 0;
  unsigned char *out = malloc(cap);
  if (!out) return NULL;
  w += (size_t)snprintf((char *)out, cap, "{\"error\":\"");
  for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
    if (*p == '"' || *p == '\\') {
      out[w++] = '\\';
      out[w++] = *p;
    } else if (*p < 0x20) {
      w += (size_t)snprintf((char *)out + w, cap - w, "\\u%04x", *p);
    } else {
      out[w++] = *p;
    }
  }
  memcpy(out + w, "\"}", 3);
  *len = w + 2;
  return out;
}

int https_reply_error(https_reply *reply, int status, const char *message) {
  size_t len = 0;
  unsigned char *body = https_server_error_json(message ? message : "", &len);
  free(reply->body);
  reply->body = NULL;
  reply->body_len = 0;
  reply->status = status;
  reply->content_type = "application/json";
  if (!body) return fsi_fail(FS_ENOMEM, "out of memory");
  reply->body = body;
  reply->body_len = len;
  return FS_OK;
}

int https_reply_bytes(https_reply *reply, int status, const char *content_type, const void *body,
                      size_t len) {
  unsigned char *copy = malloc(len ? len : 1);
  free(reply->body);
  reply->body = NULL;
  reply->body_len = 0;
  reply->status = status;
  reply->content_type = content_type;
  if (!copy) return fsi_fail(FS_ENOMEM, "out of memory");
  if (len) memcpy(copy, body, len);
  reply->body = copy;
  reply->body_len = len;
  return FS_OK;
}

static void https_server_default_error(int status, char *out, size_t cap) {
  const char *phrase;
  size_t i;
  if (status == MHD_HTTP_CONTENT_TOO_LARGE) {
    snprintf(out, cap, "request body is larger than %zu bytes", HTTPS_SERVER_MAX_BODY);
    return;
  }
  phrase = MHD_get_reason_phrase_for((unsigned)status);
  if (!phrase || !*phrase) phrase = "error";
  for (i = 0; phrase[i] && i + 1 < cap; i++)
    out[i] = (phrase[i] >= 'A' && phrase[i] <= 'Z') ? (char)(phrase[i] + 32) : phrase[i];
  out[i] = '\0';
}

/* Queues status + body (consumed) on the connection.  close_after adds
 * "Connection: close". */
static enum MHD_Result https_server_queue(struct MHD_Connection *conn, https_server_req *req,
                                          int status, const char *ctype, unsigned char *body,
                                          size_t len, int close_after, int retry_after) {
  struct MHD_Response *resp = NULL;
  enum MHD_Result ok;
  char msg[96];

  if (status < 100 || status > 599) {
    free(body);
    body = NULL;
    len = 0;
    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
  }
  if (status >= 400 && !body) {
    https_server_default_error(status, msg, sizeof msg);
    body = https_server_error_json(msg, &len);
    ctype = "application/json";
  }
  if (body) {
    resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (!resp) free(body);
  } else {
    len = 0;
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!resp) return MHD_NO;
  if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                              ctype ? ctype : "application/json") != MHD_YES ||
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  if (retry_after > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry_after);
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra) != MHD_YES) {
      MHD_destroy_response(resp);
      return MHD_NO;
    }
  }
  pthread_mutex_lock(&req->srv->mu);
  if (req->srv->stopping) close_after = 1;
  pthread_mutex_unlock(&req->srv->mu);
  if (close_after &&
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  req->status = status;
  req->bytes_out = len;
  ok = MHD_queue_response(conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ok;
}

/* ------------------------------------------------------- MHD callbacks */

static void *https_server_uri_cb(void *cls, const char *uri, struct MHD_Connection *conn) {
  https_server *srv = cls;
  https_server_req *req = calloc(1, sizeof *req);
  const char *q;
  (void)conn;

  if (!req) return NULL;
  req->srv = srv;
  req->t0_ns = https_server_mono_ns();
  q = uri ? strchr(uri, '?') : NULL;
  req->query = strdup(q ? q + 1 : "");
  if (!req->query) {
    free(req);
    return NULL;
  }
  pthread_mutex_lock(&srv->mu);
  srv->active++;
  pthread_mutex_unlock(&srv->mu);
  return req;
}

static void https_server_done_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                                 enum MHD_RequestTerminationCode toe) {
  https_server *srv = cls;
  https_server_req *req = *con_cls;
  char when[32], status[8];
  const char *why = "";
  (void)conn;

  if (!req) return;
  *con_cls = NULL;
  switch (toe) {
  case MHD_REQUEST_TERMINATED_COMPLETED_OK:
    break;
  case MHD_REQUEST_TERMINATED_WITH_ERROR:
    why = " (connection error)";
    break;
  case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
    why = " (timed out)";
    break;
  case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
    why = " (server shutdown)";
    break;
  case MHD_REQUEST_TERMINATED_READ_ERROR:
    why = " (client went away)";
    break;
  case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
    why = " (client aborted)";
    break;
  default:
    why = " (aborted)";
    break;
  }
  https_server_log_time(when);
  if (req->status)
    snprintf(status, sizeof status, "%d", req->status);
  else
    snprintf(status, sizeof status, "-");
  char discarded[40] = "";
  if (req->discarded) snprintf(discarded, sizeof discarded, " discarded=%zu", req->discarded);
  fprintf(stderr, "%s %s %s %s in=%zu%s out=%zu %lldms%s%s%s\n", when,
          req->method[0] ? req->method : "-", req->path[0] ? req->path : "-", status, req->len,
          discarded, req->bytes_out, (long long)((https_server_mono_ns() - req->t0_ns) / 1000000LL),
          req->device[0] ? " device=" : "", req->device, why);
  free(req->body);
  free(req->query);
  if (req->refused) free(req->refusal.body);
  pthread_mutex_lock(&srv->mu);
  srv->body_reserved -= req->reserved;
  srv->active--;
  pthread_cond_broadcast(&srv->cv);
  pthread_mutex_unlock(&srv->mu);
  free(req);
}

/* Refuses a request before its body is read.  A small declared body
 * (at most HTTPS_SERVER_DRAIN_MAX) is drained unbuffered and the refusal
 * answered after it, keeping the connection: closing a socket with unread
 * bytes in it resets the connection, and the client could lose the answer
 * (the clock correction rides on a 401).  A larger one is answered at once
 * and the connection closed; curl sends such bodies only after
 * "100 Continue", which a refused request never gets. */
static enum MHD_Result https_server_refuse(struct MHD_Connection *conn, https_server_req *req,
                                           https_reply *reply, size_t declared) {
  if (declared && declared <= HTTPS_SERVER_DRAIN_MAX) {
    req->refused = 1;
    req->refusal = *reply;
    req->limit = declared;
    return MHD_YES;
  }
  req->too_big = declared != 0;
  return https_server_queue(conn, req, reply->status, reply->content_type, reply->body,
                            reply->body_len, declared != 0, reply->retry_after);
}

/* First call for a request: remember what the log needs, then admit it
 * (declared length, the admission hook, the body budget) before reading any
 * of its body.  Nothing proportional to the declared length is allocated
 * here: the buffer grows as bytes arrive. */
static enum MHD_Result https_server_begin(struct MHD_Connection *conn, https_server_req *req,
                                          const char *url, const char *method) {
  https_server *srv = req->srv;
  https_reply reply;
  https_request hreq;
  const char *cl;
  unsigned long long n = 0;
  size_t max_body = HTTPS_SERVER_MAX_BODY;

  memset(&reply, 0, sizeof reply);
  req->started = 1;
  https_server_log_copy(req->method, sizeof req->method, method);
  https_server_log_copy(req->path, sizeof req->path, url);
  https_server_log_copy(req->device, sizeof req->device,
                        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Fieldsync-Device"));
  cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    char *end = NULL;
    errno = 0;
    n = strtoull(cl, &end, 10);
    if (errno || end == cl || *end || n > HTTPS_SERVER_MAX_BODY) {
      https_reply_error(&reply, MHD_HTTP_CONTENT_TOO_LARGE, NULL);
      free(reply.body);
      reply.body = NULL;
      return https_server_refuse(conn, req, &reply, SIZE_MAX);
    }
  } else if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
    https_reply_error(&reply, MHD_HTTP_LENGTH_REQUIRED,
                      "a request body needs a Content-Length header");
    return https_server_refuse(conn, req, &reply, SIZE_MAX);
  }
  if (srv->admit) {
    memset(&hreq, 0, sizeof hreq);
    hreq.method = method;
    hreq.path = url;
    hreq.query = req->query;
    hreq.body = NULL;
    hreq.body_len = (size_t)n;
    hreq.conn_ = conn;
    if (!srv->admit(srv->user, &hreq, &reply, &max_body))
      return https_server_refuse(conn, req, &reply, (size_t)n);
  }
  if (n > max_body) {
    https_reply_error(&reply, MHD_HTTP_CONTENT_TOO_LARGE, NULL);
    free(reply.body);
    reply.body = NULL;
    return https_server_refuse(conn, req, &reply, (size_t)n);
  }
  pthread_mutex_lock(&srv->mu);
  int over = n > srv->body_budget - srv->body_reserved;
  if (!over) {
    srv->body_reserved += (size_t)n;
    req->reserved = (size_t)n;
  }
  pthread_mutex_unlock(&srv->mu);
  if (over) {
    https_reply_error(&reply, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "head office is receiving too much at once; try again shortly");
    reply.retry_after = 1;
    return https_server_refuse(conn, req, &reply, (size_t)n);
  }
  req->limit = (size_t)n;
  return MHD_YES;
}

static enum MHD_Result https_server_body(https_server_req *req, const char *data, size_t n) {
  (void)data;
  if (req->refused) { /* drained, never buffered */
    req->discarded += n;
    return req->discarded > req->limit ? MHD_NO : MHD_YES;
  }
  if (req->too_big || n > req->limit - req->len) {
    if (!req->too_big) {
      req->too_big = 1;
      req->discarded = req->len;
      req->len = 0;
      free(req->body);
      req->body = NULL;
      req->cap = 0;
    }
    req->discarded += n;
    /* A client that keeps streaming after the bound is cut off. */
    return req->discarded > req->limit + HTTPS_SERVER_DISCARD_MAX ? MHD_NO : MHD_YES;
  }
  if (req->len + n + 1 > req->cap) {
    size_t cap = req->cap ? req->cap : 16384;
    while (cap < req->len + n + 1) cap *= 2;
    if (cap > req->limit + 1) cap = req->limit + 1;
    unsigned char *nb = realloc(req->body, cap);
    if (!nb) return MHD_NO;
    req->body = nb;
    req->cap = cap;
  }
  memcpy(req->body + req->len, data, n);
  req->len += n;
  return MHD_YES;
}

static enum MHD_Result https_server_access_cb(void *cls, struct MHD_Connection *conn,
                                              const char *url, const char *method,
                                              const char *version, const char *upload_data,
                                              size_t *upload_data_size, void **con_cls) {
  https_server *srv = cls;
  https_server_req *req = *con_cls;
  https_request hreq;
  https_reply reply;
  static const unsigned char empty[1] = {0};
  (void)version;

  if (!req) return MHD_NO; /* out of memory in the URI callback */
  if (!req->started) return https_server_begin(conn, req, url, method);
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    return https_server_body(req, upload_data, n);
  }
  if (req->refused) {
    https_reply *f = &req->refusal;
    req->refused = 0;
    return https_server_queue(conn, req, f->status, f->content_type, f->body, f->body_len, 0,
                              f->retry_after);
  }
  if (req->too_big)
    return https_server_queue(conn, req, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL, 0, 1, 0);

  if (req->body) req->body[req->len] = '\0';
  memset(&hreq, 0, sizeof hreq);
  memset(&reply, 0, sizeof reply);
  hreq.method = method;
  hreq.path = url;
  hreq.query = req->query;
  hreq.body = req->body ? req->body : empty;
  hreq.body_len = req->len;
  hreq.conn_ = conn;
  srv->handler(srv->user, &hreq, &reply);
  if (reply.body_len && !reply.body) reply.status = 0;
  return https_server_queue(conn, req, reply.status, reply.content_type, reply.body, reply.body_len,
                            0, reply.retry_after);
}

const char *https_request_header(const https_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}

const char *https_request_arg(const https_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND, name);
}

/* ------------------------------------------------------------- start/stop */

/* Reads a whole PEM file (bounded) into a NUL-terminated buffer. */
static int https_server_read_pem(const char *path, const char *what, char **out, size_t *len_out) {
  int fd = -1, rc = FS_OK;
  struct stat st;
  char *buf = NULL;
  size_t len = 0;

  *out = NULL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = fsi_fail(errno == ENOENT ? FS_ENOTFOUND : FS_EIO, "cannot read the TLS %s %s: %s", what,
                  path, strerror(errno));
    goto done;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > HTTPS_SERVER_PEM_MAX) {
    rc = fsi_fail(FS_EINVAL, "the TLS %s %s is not a PEM file of at most %zu bytes", what, path,
                  HTTPS_SERVER_PEM_MAX);
    goto done;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  while (len < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = fsi_fail(FS_EIO, "cannot read the TLS %s %s: %s", what, path,
                    r < 0 ? strerror(errno) : "file shrank while reading");
      goto done;
    }
    len += (size_t)r;
  }
  buf[len] = '\0';
  *out = buf;
  *len_out = len;
  buf = NULL;
done:
  if (buf) {
    gnutls_memset(buf, 0, (size_t)st.st_size + 1);
    free(buf);
  }
  if (fd >= 0) close(fd);
  return rc;
}

/* Loads the pair with GnuTLS so a bad file or a key that does not belong to
 * the certificate is reported by name, rather than as an opaque MHD failure. */
static int https_server_check_pair(https_server *srv, const char *cert_path, const char *key_path,
                                   size_t cert_len) {
  gnutls_certificate_credentials_t cred = NULL;
  gnutls_datum_t c = {(unsigned char *)srv->cert_pem, (unsigned)cert_len};
  gnutls_datum_t k = {(unsigned char *)srv->key_pem, (unsigned)srv->key_len};
  int rc = FS_OK, e;

  if (gnutls_certificate_allocate_credentials(&cred) < 0)
    return fsi_fail(FS_ENOMEM, "out of memory");
  e = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
  if (e == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
    rc = fsi_fail(FS_EINVAL, "the TLS key %s does not belong to the certificate %s", key_path,
                  cert_path);
  else if (e < 0)
    rc = fsi_fail(FS_EINVAL, "cannot load the TLS certificate %s with key %s: %s", cert_path,
                  key_path, gnutls_strerror(e));
  gnutls_certificate_free_credentials(cred);
  return rc;
}

/* "host:port", "[v6]:port" -> a bound, listening, non-blocking socket. */
static int https_server_listen(https_server *srv, const char *addr, int *v6) {
  char host[256];
  const char *port, *start = addr, *end;
  struct addrinfo hints, *ai = NULL;
  int rc = FS_OK, fd = -1, one = 1, e;
  size_t hlen;

  /* "[v6]:port" or "host:port" (the last ':' splits). */
  if (addr[0] == '[') {
    start = addr + 1;
    end = strchr(start, ']');
    if (!end || end[1] != ':') goto bad;
    port = end + 2;
  } else {
    end = strrchr(addr, ':');
    if (!end) goto bad;
    port = end + 1;
  }
  hlen = (size_t)(end - start);
  if (hlen == 0 || hlen >= sizeof host || !*port || strlen(port) > 5) goto bad;
  memcpy(host, start, hlen);
  host[hlen] = '\0';
  for (const char *p = port; *p; p++)
    if (*p < '0' || *p > '9') goto bad;
  if (atoi(port) > 65535) goto bad;

  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if ((e = getaddrinfo(host, port, &hints, &ai)) != 0) {
    rc = fsi_fail(FS_EINVAL, "cannot listen on %s: %s", addr, gai_strerror(e));
    goto done;
  }
  fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
    rc = fsi_fail(FS_ENETWORK, "cannot listen on %s: %s", addr, strerror(errno));
    goto done;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
    rc = fsi_fail(FS_ENETWORK, "cannot listen on %s: %s", addr, strerror(errno));
    goto done;
  }
  *v6 = ss.ss_family == AF_INET6;
  srv->port =
      ntohs(*v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
  srv->listen_fd = fd;
  fd = -1;
  goto done;
bad:
  rc = fsi_fail(FS_EINVAL,
                "listen address \"%s\" is not HOST:PORT (e.g. 127.0.0.1:8443 or "
                "[::1]:8443)",
                addr);
done:
  if (fd >= 0) close(fd);
  if (ai) freeaddrinfo(ai);
  return rc;
}

int https_server_start(https_server **out, const char *listen_addr, const char *cert_pem_path,
                       const char *key_pem_path, https_handler_fn handler, void *user) {
  https_server_opts o;
  memset(&o, 0, sizeof o);
  o.listen_addr = listen_addr;
  o.cert_pem_path = cert_pem_path;
  o.key_pem_path = key_pem_path;
  o.handler = handler;
  o.user = user;
  return https_server_start_opts(out, &o);
}

int https_server_start_opts(https_server **out, const https_server_opts *o) {
  const char *listen_addr = o->listen_addr, *cert_pem_path = o->cert_pem_path;
  const char *key_pem_path = o->key_pem_path;
  https_handler_fn handler = o->handler;
  https_server *srv = NULL;
  size_t cert_len = 0;
  int rc = FS_OK, v6 = 0;
  pthread_condattr_t ca;

  *out = NULL;
  if (!listen_addr || !cert_pem_path || !key_pem_path || !handler)
    return fsi_fail(FS_EINVAL, "https_server_start: missing argument");
  srv = calloc(1, sizeof *srv);
  if (!srv) return fsi_fail(FS_ENOMEM, "out of memory");
  srv->listen_fd = -1;
  srv->handler = handler;
  srv->admit = o->admit;
  srv->user = o->user;
  srv->body_budget = o->body_budget ? o->body_budget : HTTPS_SERVER_BODY_BUDGET;
  if (pthread_mutex_init(&srv->mu, NULL) != 0) {
    rc = fsi_fail(FS_ENOMEM, "cannot create a mutex");
    goto done;
  }
  if (pthread_condattr_init(&ca) != 0) {
    pthread_mutex_destroy(&srv->mu);
    rc = fsi_fail(FS_ENOMEM, "cannot create a condition variable");
    goto done;
  }
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (pthread_cond_init(&srv->cv, &ca) != 0) {
    pthread_condattr_destroy(&ca);
    pthread_mutex_destroy(&srv->mu);
    rc = fsi_fail(FS_ENOMEM, "cannot create a condition variable");
    goto done;
  }
  pthread_condattr_destroy(&ca);
  srv->sync_init = 1;

  if ((rc = https_server_read_pem(cert_pem_path, "certificate", &srv->cert_pem, &cert_len)) !=
          FS_OK ||
      (rc = https_server_read_pem(key_pem_path, "key", &srv->key_pem, &srv->key_len)) != FS_OK ||
      (rc = https_server_check_pair(srv, cert_pem_path, key_pem_path, cert_len)) != FS_OK ||
      (rc = https_server_listen(srv, listen_addr, &v6)) != FS_OK)
    goto done;

  unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_TLS | MHD_USE_ITC |
                       MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
  srv->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, https_server_access_cb, srv, MHD_OPTION_EXTERNAL_LOGGER,
      https_server_mhd_log, srv, /* first: MHD */
      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned int)HTTPS_SERVER_THREADS, MHD_OPTION_CONNECTION_TIMEOUT,
      o->timeout_s ? o->timeout_s : (unsigned int)HTTPS_SERVER_IDLE_TIMEOUT_S,
      MHD_OPTION_CONNECTION_LIMIT,
      o->conn_limit ? o->conn_limit : (unsigned int)HTTPS_SERVER_CONN_LIMIT,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      o->per_ip_limit ? o->per_ip_limit : (unsigned int)HTTPS_SERVER_PER_IP_LIMIT,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPS_SERVER_CONN_MEMORY,
      MHD_OPTION_HTTPS_MEM_CERT, (const char *)srv->cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
      (const char *)srv->key_pem, MHD_OPTION_HTTPS_PRIORITIES, HTTPS_SERVER_TLS_PRIORITIES,
      MHD_OPTION_URI_LOG_CALLBACK, https_server_uri_cb, srv, MHD_OPTION_NOTIFY_COMPLETED,
      https_server_done_cb, srv, MHD_OPTION_END);
  if (!srv->daemon) {
    rc = fsi_fail(FS_EIO, "cannot start the HTTPS server on %s (see the log above)", listen_addr);
    goto done;
  }
  srv->listen_fd = -1; /* MHD owns it now; quiesce hands it back */
  *out = srv;
  srv = NULL;
done:
  https_server_stop(srv);
  return rc;
}

int https_server_port(const https_server *srv) { return srv->port; }

void https_server_stop(https_server *srv) {
  if (!srv) return;
  if (srv->daemon) {
    MHD_socket lfd;
    struct timespec deadline;

    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    pthread_mutex_unlock(&srv->mu);
    lfd = MHD_quiesce_daemon(srv->daemon);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += HTTPS_SERVER_GRACE_MS / 1000;
    deadline.tv_nsec += (long)(HTTPS_SERVER_GRACE_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->mu);
    while (srv->active > 0 && pthread_cond_timedwait(&srv->cv, &srv->mu, &deadline) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&srv->mu);
    MHD_stop_daemon(srv->daemon);
  }
  if (srv->listen_fd >= 0) close(srv->listen_fd);
  if (srv->key_pem) {
    gnutls_memset(srv->key_pem, 0, srv->key_len);
    free(srv->key_pem);
  }
  free(srv->cert_pem);
  if (srv->sync_init) {
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
  }
  free(srv);
}
