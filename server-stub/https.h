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
 *  - one line per request goes to stderr: time, method, path, status, bytes
 *    in/out, duration, and the X-Fieldsync-Device header when present —
 *    never a body, a query string or any other header;
 *  - https_server_stop lets requests already being handled finish (bounded
 *    by HTTPS_SERVER_GRACE_MS) and accepts no new connections meanwhile.
 */
#ifndef FS_HTTPS_H
#define FS_HTTPS_H

#include <stddef.h>

#define HTTPS_SERVER_THREADS 4
#define HTTPS_SERVER_MAX_BODY ((size_t)48 * 1024 * 1024)
#define HTTPS_SERVER_GRACE_MS 30000    /* stop waits this long for in-flight */
#define HTTPS_SERVER_IDLE_TIMEOUT_S 60 /* idle keep-alive connections */

typedef struct https_server https_server;

/* One request as the handler sees it; everything is borrowed and valid
 * until the handler returns. */
typedef struct https_request {
  const char *method; /* "GET", "POST", ... */
  const char *path;   /* decoded path without the query: "/v1/pull" */
  const char *query;  /* raw query string after '?', still %-encoded; "" */
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
} https_reply;

typedef void (*https_handler_fn)(void *user, const https_request *req,
                                 https_reply *reply);

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
int https_reply_bytes(https_reply *reply, int status, const char *content_type,
                      const void *body, size_t len);

/* Starts serving HTTPS on listen_addr ("127.0.0.1:8443", "[::1]:8443",
 * "0.0.0.0:443"; port 0 picks a free port, see https_server_port) with the
 * PEM certificate (chain) and private key files.  handler(user, ...) is
 * called for every request.  *out is caller-owned: https_server_stop.
 * Errors: FS_EINVAL (bad address, unreadable or mismatched cert/key, which
 * the message names), FS_ENETWORK (cannot listen: address in use, ...),
 * FS_ENOMEM, FS_EIO. */
int https_server_start(https_server **out, const char *listen_addr,
                       const char *cert_pem_path, const char *key_pem_path,
                       https_handler_fn handler, void *user);

/* The port actually bound (useful after asking for port 0). */
int https_server_port(const https_server *srv);

/* Stops accepting connections, waits for requests in flight to be answered
 * (at most HTTPS_SERVER_GRACE_MS), closes everything and frees srv.
 * Accepts NULL.  Must not be called from the handler. */
void https_server_stop(https_server *srv);

#endif
