/*
 * proto.h — what the device client and the head-office handler share about
 * the HTTP protocol (docs/protocol.md, "## HTTP protocol").
 */
#ifndef FS_PROTO_H
#define FS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_BATCH_ROWS 10000 /* rows per envelope, both directions */
#define PROTO_DEVICE_HEADER "X-Fieldsync-Device"
#define PROTO_PULL_MAGIC "FSPL"
#define PROTO_TOKEN_TTL_MS (7LL * 24 * 3600 * 1000)

/* Signed request headers (docs/protocol.md, "Request authentication"). */
#define PROTO_TIME_HEADER "X-Fieldsync-Time"
#define PROTO_NONCE_HEADER "X-Fieldsync-Nonce"
#define PROTO_SIG_HEADER "X-Fieldsync-Signature"
#define PROTO_NONCE_BYTES 16
#define PROTO_SIG_HEX 129                     /* 128 hex digits + NUL */
#define PROTO_REQ_WINDOW_MS (5LL * 60 * 1000) /* |device time - hq time| */
#define PROTO_REQ_MSG_MAX 4096                /* signed text, bytes */
#define PROTO_ENROLL_MAX_BODY 4096
#define PROTO_PUSH_MAX_BODY ((size_t)32 * 1024 * 1024) /* ENVELOPE_MAX_SIZE */

/* The plaintext of a pull envelope: "FSPL", u8 more, u8 cursor length,
 * cursor text, then the codec bytes of the batch.  fsi_proto_pull_frame returns
 * it malloc'd. */
unsigned char *fsi_proto_pull_frame(int more, const char *cursor, const unsigned char *body,
                                    size_t bodylen, size_t *outlen);
/* Parses it; cursor copied into cursor[256]; *body points into in. */
int fsi_proto_pull_parse(const unsigned char *in, size_t len, int *more, char cursor[256],
                         const unsigned char **body, size_t *bodylen);

/* Lowercase hex; fsi_proto_unhex returns 0 on malformed input or wrong length. */
void fsi_proto_hex(char *out, const unsigned char *in, size_t n);
int fsi_proto_unhex(unsigned char *out, size_t n, const char *hex);

/* The text a device signs for one request:
 *   "fieldsync-request-v1\n" METHOD "\n" PATH "\n" QUERY "\n" LENGTH "\n"
 *   DEVICE "\n" TIME "\n" NONCE
 * (LENGTH the body's decimal byte count, TIME unix milliseconds, NONCE 32
 * hex digits).  Returns its length, or 0 when a part is missing, holds a
 * line break or the whole exceeds PROTO_REQ_MSG_MAX. */
size_t fsi_proto_request_text(char out[PROTO_REQ_MSG_MAX], const char *method, const char *path,
                              const char *query, uint64_t body_len, const char *device,
                              const char *time, const char *nonce);

/* Signs that text with an Ed25519 secret key (libsodium layout) into
 * sig_hex; verify checks a hex signature against a public key.  Both return
 * 1 on success, 0 otherwise. */
int fsi_proto_request_sign(char sig_hex[PROTO_SIG_HEX], const unsigned char *sign_sk,
                           const char *text, size_t len);
int fsi_proto_request_verify(const char *sig_hex, const unsigned char *sign_pk, const char *text,
                             size_t len);

/* The signed header lines ("X-Fieldsync-Time: ...", "-Nonce: ...",
 * "-Signature: ...") for one request made at when_ms with a fresh random
 * nonce; path without the query.  FS_OK or FS_EINVAL (a part that cannot be
 * signed). */
#define PROTO_SIGNED_LINES 3
#define PROTO_SIGNED_LINE 320
int fsi_proto_sign_headers(char lines[PROTO_SIGNED_LINES][PROTO_SIGNED_LINE],
                           const unsigned char *sign_sk, const char *device, const char *method,
                           const char *path, const char *query, uint64_t body_len, int64_t when_ms);

/* A device id (16 hex digits) <-> site id. */
int fsi_proto_site_parse(const char *hex, int64_t *site);

#endif
