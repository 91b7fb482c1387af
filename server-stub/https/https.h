/*
 * https.h — the head-office HTTPS server (libmicrohttpd + GnuTLS).
 *
 * A small request/response front end: it accepts TLS connections on one
 * address, reads each request's body into memory (bounded), calls one
 * handler with the whole request and sends back what the handler returns.
 * It knows nothing of the sync protocol; routing is the handler's job.
 *
 * Invariants:
 *  - the handler runs on one of HTTPS_SERVER_THREADS pool threads, possibly
 *    concurrently with itself: it must be thread-safe;
 *  - a request body larger than HTTPS_SERVER_MAX_BODY never reaches the
 *    handler and is answered 413 with a JSON error body, connection closed;
 *  - every error response the server or the handler produces without a body
 *    carries {"error":"..."} (application/json);
 *  - one line per request goes to stderr: time, method, path, status, body
 *    bytes buffered ("in"; bytes read and dropped unbuffered after a refusal
 *    show as "discarded"), bytes out, duration, and the X-Fieldsync-Device header when present —
 *    never a body, a query string or any other header;
 *  - https_server_stop lets requests already being handled finish (bounded
 *    by HTTPS_SERVER_GRACE_MS) and accepts no new connections meanwhile.
 */
#ifndef FS_HTTPS_H
#define FS_HTTPS_H

#include <stddef.h>

#define HTTPS_SERVER_THREADS 4
#define HTTPS_SERVER_MAX_BODY ((size_t)48 * 1024 * 1024)
#define HTTPS_SERVER_GRACE_MS 30000 /* stop waits this long for in-flight */
#define HTTPS_SERVER_IDLE_TIMEOUT_S                                                                \
  15                                  /* a connection silent this long is closed:                  \
                                         TLS handshake, headers, keep-alive */
#define HTTPS_SERVER_CONN_LIMIT 4096  /* connections at once, all addresses */
#define HTTPS_SERVER_PER_IP_LIMIT 128 /* connections at once from one address */
#define HTTPS_SERVER_BODY_BUDGET ((size_t)256 * 1024 * 1024) /* bodies in flight */

typedef struct https_server https_server;

/* One request as the handler sees it; everything is borrowed and valid
 * until the handler returns. */
typedef struct https_request {
  const char *method;        /* "GET", "POST", ... */
  const char *path;          /* decoded path without the query: "/v1/pull" */
  const char *query;         /* raw query string after '?', still %-encoded; "" */
  const unsigned char *body; /* request body (NUL-terminated), never NULL */
  size_t body_len;
  void *conn_; /* private */
} https_request;

/* What the handler fills in.  The server zero-initializes it; status 0 or a
 * value outside 100..599 means 500.  body must be malloc'd (or NULL); the
 * server consumes it (frees it) in every case.  content_type NULL means
 * "application/json"; it must be a string that outlives the call (a
 * literal).  A status >= 400 with no body gets {"error":"<reason phrase>"}. */
typedef struct https_reply {
  int status;
  const char *content_type;
  unsigned char *body;
  size_t body_len;
  int retry_after; /* seconds for a Retry-After header; 0 = none */
} https_reply;

typedef void (*https_handler_fn)(void *user, const https_request *req, https_reply *reply);

/* Admission, called once the request line and headers are in and before
 * any body byte is read: req->body is NULL and req->body_len the declared
 * Content-Length.  Return 1 to read the body (at most *max_body bytes:
 * more is answered 413), or 0 with *reply filled to refuse the request (its
 * connection is closed afterwards). */
typedef int (*https_admit_fn)(void *user, const https_request *req, https_reply *reply,
                              size_t *max_body);

/* Everything https_server_start_opts takes; zero fields get the defaults
 * above.  admit NULL admits every request with HTTPS_SERVER_MAX_BODY. */
typedef struct https_server_opts {
  const char *listen_addr, *cert_pem_path, *key_pem_path;
  https_handler_fn handler;
  https_admit_fn admit;
  void *user; /* passed to handler and admit */
  unsigned conn_limit, per_ip_limit, timeout_s;
  size_t body_budget; /* declared body bytes admitted at once; beyond: 503 */
} https_server_opts;

/* A request header by name (case-insensitive), or NULL if absent. */
const char *https_request_header(const https_request *req, const char *name);

/* A decoded query argument by name ("cursor"), or NULL if absent. */
const char *https_request_arg(const https_request *req, const char *name);

/* Fills reply with status and the body {"error":"<message>"} (message is
 * JSON-escaped).  FS_ENOMEM (reply->status is still set, so the server
 * answers with its default body). */
int https_reply_error(https_reply *reply, int status, const char *message);

/* Copies bytes into a malloc'd reply body with the given status and
 * content type (a literal; NULL = application/json).  FS_ENOMEM. */
int https_reply_bytes(https_reply *reply, int status, const char *content_type, const void *body,
                      size_t len);

/* Starts serving HTTPS on listen_addr ("127.0.0.1:8443", "[::1]:8443",
 * "0.0.0.0:443"; port 0 picks a free port, see https_server_port) with the
 * PEM certificate (chain) and private key files.  handler(user, ...) is
 * called for every request.  *out is caller-owned: https_server_stop.
 * Errors: FS_EINVAL (bad address, unreadable or mismatched cert/key, which
 * the message names), FS_ENETWORK (cannot listen: address in use, ...),
 * FS_ENOMEM, FS_EIO. */
int https_server_start(https_server **out, const char *listen_addr, const char *cert_pem_path,
                       const char *key_pem_path, https_handler_fn handler, void *user);

/* https_server_start with every option (see https_server_opts).  Bodies
 * are admitted against the budget by their declared length: when the
 * admitted bodies would exceed it the request is answered 503 with
 * Retry-After: 1.  A POST without Content-Length is answered 411. */
int https_server_start_opts(https_server **out, const https_server_opts *opts);

/* The port actually bound (useful after asking for port 0). */
int https_server_port(const https_server *srv);

/* Stops accepting connections, waits for requests in flight to be answered
 * (at most HTTPS_SERVER_GRACE_MS), closes everything and frees srv.
 * Accepts NULL.  Must not be called from the handler. */
void https_server_stop(https_server *srv);

#endif
