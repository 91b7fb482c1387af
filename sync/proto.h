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

/* The plaintext of a pull envelope: "FSPL", u8 more, u8 cursor length,
 * cursor text, then the codec bytes of the batch.  proto_pull_frame returns
 * it malloc'd. */
unsigned char *proto_pull_frame(int more, const char *cursor, const unsigned char *body,
                                size_t bodylen, size_t *outlen);
/* Parses it; cursor copied into cursor[256]; *body points into in. */
int proto_pull_parse(const unsigned char *in, size_t len, int *more, char cursor[256],
                     const unsigned char **body, size_t *bodylen);

/* Lowercase hex; proto_unhex returns 0 on malformed input or wrong length. */
void proto_hex(char *out, const unsigned char *in, size_t n);
int proto_unhex(unsigned char *out, size_t n, const char *hex);

/* A device id (16 hex digits) <-> site id. */
int proto_site_parse(const char *hex, int64_t *site);

#endif
