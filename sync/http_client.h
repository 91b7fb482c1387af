/*
 * fsi_http_client.h — the device's HTTPS transport (libcurl).
 *
 * One fsi_http_client talks to one server (a base URL such as
 * "https://hq.example.com:8443") over one CURL easy handle, so the many batch
 * requests of a sync reuse one TLS connection (keep-alive).  It knows nothing
 * of the sync protocol: it POSTs bytes, GETs bytes and reports the HTTP status.
 *
 * Invariants:
 *  - TLS verification is always on and cannot be switched off.  The trust
 *    anchor is the CA file (peer + hostname verification against it) or the
 *    pinned SubjectPublicKeyInfo hash ("sha256//BASE64"); with both, both are
 *    checked.  With neither, the system CA store is used.
 *  - Only https:// URLs are accepted; redirects are not followed.
 *  - A response body is bounded (HTTP_CLIENT_MAX_RESPONSE by default);
 *    anything larger is refused with FS_ETOOBIG and nothing is returned.
 *  - Transient failures (connection refused or timed out, connection reset,
 *    empty reply, HTTP 502/503/504) are retried with exponential backoff and
 *    full jitter, a bounded number of times.  TLS verification failures and
 *    every other HTTP status are never retried.  Callers must therefore only
 *    send idempotent requests (the sync protocol's push and pull are).
 *  - Not thread-safe: one client per thread.  Creating clients from several
 *    threads at once is fine (libcurl's global init runs exactly once).
 */
#ifndef FS_HTTP_CLIENT_H
#define FS_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_CLIENT_MAX_RESPONSE ((size_t)64 * 1024 * 1024)
#define HTTP_CLIENT_CONNECT_TIMEOUT_S 10L
#define HTTP_CLIENT_LOW_SPEED_BYTES 1024L /* bytes/s ...              */
#define HTTP_CLIENT_LOW_SPEED_TIME_S                                                               \
  30L                                    /* ... below this, this long = fail                       \
                                          */
#define HTTP_CLIENT_ATTEMPTS 4           /* first try + 3 retries */
#define HTTP_CLIENT_BACKOFF_MS 250L      /* first retry waits up to this */
#define HTTP_CLIENT_BACKOFF_MAX_MS 8000L /* no single wait longer than this */

typedef struct fsi_http_client fsi_http_client;

/* One HTTP response.  body is malloc'd (free with fsi_http_response_clear or
 * free()), NUL-terminated for convenience (len excludes the NUL), and NULL
 * only when len is 0 and nothing was received.  content_type is the
 * response's Content-Type without parameters ("application/json"), "" if
 * absent. */
typedef struct fsi_http_response {
  long status;
  unsigned char *body;
  size_t len;
  char content_type[96];
} fsi_http_response;

/* Called while a request runs (several times a second at most), with bytes
 * sent / to send and received / to receive so far (a total is 0 while
 * unknown).  For progress bars only: it cannot abort the transfer. */
typedef void (*http_client_progress_fn)(void *user, uint64_t up_now, uint64_t up_total,
                                        uint64_t down_now, uint64_t down_total);

/* Creates a client for base_url ("https://host[:port][/prefix]"; a trailing
 * '/' is dropped).  ca_file: PEM file of the certificate(s) to trust (the
 * server's self-signed certificate itself works), or NULL.  pin: the
 * server's public key as "sha256//BASE64" (bare BASE64 is accepted too;
 * several may be joined by ';'), or NULL; with a pin and no CA file the pin
 * is the only trust anchor (no CA or hostname check, the key itself is the
 * identity).  *out is caller-owned; free with fsi_http_client_free.
 * Errors: FS_EINVAL (not an https URL, malformed pin), FS_ENOTFOUND (CA
 * file unreadable), FS_ENOMEM. */
int fsi_http_client_new(fsi_http_client **out, const char *base_url, const char *ca_file,
                        const char *pin);
void fsi_http_client_free(fsi_http_client *c);

/* Adds a request header sent with every later request ("X-Fieldsync-Device",
 * "abcd...").  Setting a name again replaces its value; value NULL removes
 * it.  Names and values must not contain CR, LF or NUL (FS_EINVAL); the name
 * must be a plain token.  FS_ENOMEM. */
int fsi_http_client_set_header(fsi_http_client *c, const char *name, const char *value);

/* Request signing: fn is called before every attempt of every later
 * request (a retry is signed afresh) with the method ("GET", "POST"), the
 * path without its query, the raw query ("" when none) and the body length,
 * and writes up to HTTP_CLIENT_SIGN_LINES header lines ("Name: value", no
 * CR or LF) into lines, setting *nlines.  An error it returns fails the
 * request with that error.  fn NULL = no signing. */
#define HTTP_CLIENT_SIGN_LINES 3  /* = PROTO_SIGNED_LINES */
#define HTTP_CLIENT_SIGN_LINE 320 /* = PROTO_SIGNED_LINE */
typedef int (*http_client_sign_fn)(void *user, const char *method, const char *path,
                                   const char *query, size_t body_len,
                                   char lines[HTTP_CLIENT_SIGN_LINES][HTTP_CLIENT_SIGN_LINE],
                                   size_t *nlines);
void fsi_http_client_set_signer(fsi_http_client *c, http_client_sign_fn fn, void *user);

/* Progress hook for later requests (fn NULL = none). */
void fsi_http_client_set_progress(fsi_http_client *c, http_client_progress_fn fn, void *user);

/* Tunables, mostly for tests: attempts >= 1 (1 = no retry), base delay of
 * the backoff in ms, and the response size bound (0 = default). */
void fsi_http_client_set_retry(fsi_http_client *c, int attempts, long backoff_ms);
void fsi_http_client_set_max_response(fsi_http_client *c, size_t max_bytes);

/* POST body[0..len) to base_url + path (path starts with '/', may carry a
 * query string) with the given Content-Type ("application/json",
 * "application/octet-stream"; NULL = octet-stream).  GET base_url + path.
 *
 * FS_OK means an HTTP response arrived, whatever its status: *resp is
 * filled (clear it first or zero-initialize it; it is overwritten) and the
 * caller decides what a 4xx means.  502/503/504 are retried first and the
 * last one is returned.  Otherwise *resp is left empty and:
 *   FS_ENETWORK  "cannot reach the server at URL: <reason>" (after retries)
 *   FS_EAUTH     the certificate is not trusted by the CA file, or the key
 *                does not match the pin (never retried)
 *   FS_ETOOBIG   response larger than the bound
 *   FS_EINVAL    bad path;  FS_ENOMEM. */
int fsi_http_client_post(fsi_http_client *c, const char *path, const char *content_type,
                         const void *body, size_t len, fsi_http_response *resp);
int fsi_http_client_get(fsi_http_client *c, const char *path, fsi_http_response *resp);

/* Number of connections (TCP + TLS handshakes) this client has opened so
 * far; stays flat while keep-alive reuses one.  For diagnostics and tests. */
long fsi_http_client_connections(const fsi_http_client *c);

/* The base URL as normalized by fsi_http_client_new (borrowed). */
const char *fsi_http_client_base_url(const fsi_http_client *c);

/* Frees resp->body and zeroes *resp (accepts NULL). */
void fsi_http_response_clear(fsi_http_response *resp);

#endif
