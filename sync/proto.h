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
#define PROTO_RECOVER_MAX_BODY 1024                    /* /v1/escrow and /v1/recover */
#define PROTO_PUSH_MAX_BODY ((size_t)32 * 1024 * 1024) /* ENVELOPE_MAX_SIZE */

/* The plaintext of a pull envelope (docs/protocol.md, "GET /v1/pull"):
 *   "FSPL", u8 flags, u8 L, cursor text (L bytes),
 *   [flags & 2: u8 E (1..PROTO_EPOCH_MAX), epoch text (E bytes)],
 *   [flags & 4: u64 push seq (little-endian), 32-byte push hash],
 *   the codec bytes of the batch.
 * Flag 1: more rows remain.  The epoch names the incarnation of head
 * office's store the cursor counts in (a restore from a backup starts a
 * new one).  The push position is where this device's push chain stands at
 * head office, so a device can tell that head office is behind its
 * receipts (restored) or ahead of its store (the store was rolled back)
 * even when it has nothing to push.  Both are inside the signed,
 * encrypted envelope. */
#define PROTO_EPOCH_MAX 64
typedef struct fsi_proto_pull_info {
  int more;
  char cursor[256];
  char epoch[PROTO_EPOCH_MAX + 1]; /* "" = none */
  int has_push;                    /* push_seq and push_hash are set */
  uint64_t push_seq;
  uint8_t push_hash[32];
} fsi_proto_pull_info;
/* The frame around body, malloc'd (NULL: out of memory, or a cursor or
 * epoch too long). */
unsigned char *fsi_proto_pull_frame(const fsi_proto_pull_info *info, const unsigned char *body,
                                    size_t bodylen, size_t *outlen);
/* Parses a frame into *info; *body points into in.  FS_ECORRUPT for
 * anything malformed. */
int fsi_proto_pull_parse(fsi_proto_pull_info *info, const unsigned char *in, size_t len,
                         const unsigned char **body, size_t *bodylen);

/* Signed acknowledgements (docs/protocol.md, "Receipts").  Head office
 * signs, with its Ed25519 key, the text
 *   "fieldsync-ack-v1\n" DEVICE "\n" SEQ "\n" HASH "\n" ACCEPTED "\n"
 *   REFUSED "\n" TIME
 * (DEVICE the device id, 16 lowercase hex digits; SEQ the envelope's
 * sequence number; HASH its chain hash, 64 lowercase hex digits; ACCEPTED
 * the rows of the batch head office took, REFUSED the rows or cells it
 * refused, TIME head office's clock in unix milliseconds; every number in
 * decimal without leading zeros, no trailing newline).  The device builds
 * the same text from what it sent and verifies the signature against the
 * pinned key before it clears its outbox, and keeps text and signature as
 * the receipt. */
#define PROTO_ACK_MAGIC "fieldsync-ack-v1"
#define PROTO_ACK_TEXT_MAX 256
typedef struct fsi_proto_ack {
  char device[17];
  uint64_t seq;
  char hash[65];
  int64_t accepted, refused, time;
} fsi_proto_ack;
/* The text of *a into out; its length, or 0 when a field is out of range
 * (a device id or hash that is not lowercase hex of its length, seq 0, a
 * negative count, time <= 0). */
size_t fsi_proto_ack_text(char out[PROTO_ACK_TEXT_MAX], const fsi_proto_ack *a);
/* Parses a receipt's text strictly (it must be exactly what
 * fsi_proto_ack_text makes of the fields): 1 with *a filled, else 0. */
int fsi_proto_ack_parse(fsi_proto_ack *a, const char *text, size_t len);

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
 * 1 on success, 0 otherwise.  (Acknowledgements are signed and checked with
 * the same two, over fsi_proto_ack_text.) */
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
