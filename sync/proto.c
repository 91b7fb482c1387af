/*
 * proto.c — small shared pieces of the HTTP protocol: the pull frame and
 * hex forms of ids and hashes.  Parsers take untrusted bytes and check
 * every length.
 */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fieldsync/fieldsync.h>
#include <inttypes.h>
#include <sodium.h>

#include "engine.h"

unsigned char *fsi_proto_pull_frame(int more, const char *cursor, const unsigned char *body,
                                    size_t bodylen, size_t *outlen) {
  size_t cl = strlen(cursor);
  if (cl > 255) return NULL;
  size_t n = 4 + 1 + 1 + cl + bodylen;
  unsigned char *out = malloc(n ? n : 1);
  if (!out) return NULL;
  memcpy(out, PROTO_PULL_MAGIC, 4);
  out[4] = (unsigned char)(more ? 1 : 0);
  out[5] = (unsigned char)cl;
  memcpy(out + 6, cursor, cl);
  if (bodylen) memcpy(out + 6 + cl, body, bodylen);
  *outlen = n;
  return out;
}

int fsi_proto_pull_parse(const unsigned char *in, size_t len, int *more, char cursor[256],
                         const unsigned char **body, size_t *bodylen) {
  if (len < 6 || memcmp(in, PROTO_PULL_MAGIC, 4) != 0 || in[4] > 1)
    return fsi_fail(FS_ECORRUPT, "head office sent a malformed pull response");
  size_t cl = in[5];
  if (len < 6 + cl) return fsi_fail(FS_ECORRUPT, "head office sent a truncated pull response");
  *more = in[4];
  memcpy(cursor, in + 6, cl);
  cursor[cl] = '\0';
  *body = in + 6 + cl;
  *bodylen = len - 6 - cl;
  return FS_OK;
}

void fsi_proto_hex(char *out, const unsigned char *in, size_t n) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[in[i] >> 4];
    out[2 * i + 1] = d[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int nib(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int fsi_proto_unhex(unsigned char *out, size_t n, const char *hex) {
  if (!hex || strlen(hex) != 2 * n) return 0;
  for (size_t i = 0; i < n; i++) {
    int a = nib(hex[2 * i]), b = nib(hex[2 * i + 1]);
    if (a < 0 || b < 0) return 0;
    out[i] = (unsigned char)(a << 4 | b);
  }
  return 1;
}

int fsi_proto_site_parse(const char *hex, int64_t *site) {
  unsigned char b[8];
  if (!fsi_proto_unhex(b, 8, hex)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | b[i];
  *site = (int64_t)v;
  return *site > 0;
}

static int proto_text_ok(const char *s) {
  if (!s) return 0;
  for (; *s; s++)
    if (*s == '\n' || *s == '\r') return 0;
  return 1;
}

size_t fsi_proto_request_text(char out[PROTO_REQ_MSG_MAX], const char *method, const char *path,
                              const char *query, uint64_t body_len, const char *device,
                              const char *time, const char *nonce) {
  if (!query) query = "";
  if (!proto_text_ok(method) || !proto_text_ok(path) || !proto_text_ok(query) ||
      !proto_text_ok(device) || !proto_text_ok(time) || !proto_text_ok(nonce))
    return 0;
  int n =
      snprintf(out, PROTO_REQ_MSG_MAX, "fieldsync-request-v1\n%s\n%s\n%s\n%" PRIu64 "\n%s\n%s\n%s",
               method, path, FS_MUT(15) ? "" : query, body_len, device, time, nonce);
  return n > 0 && n < PROTO_REQ_MSG_MAX ? (size_t)n : 0;
}

int fsi_proto_request_sign(char sig_hex[PROTO_SIG_HEX], const unsigned char *sign_sk,
                           const char *text, size_t len) {
  unsigned char sig[crypto_sign_BYTES];
  if (crypto_sign_detached(sig, NULL, (const unsigned char *)text, len, sign_sk) != 0) return 0;
  fsi_proto_hex(sig_hex, sig, sizeof sig);
  return 1;
}

int fsi_proto_request_verify(const char *sig_hex, const unsigned char *sign_pk, const char *text,
                             size_t len) {
  unsigned char sig[crypto_sign_BYTES];
  if (!fsi_proto_unhex(sig, sizeof sig, sig_hex)) return 0;
  return crypto_sign_verify_detached(sig, (const unsigned char *)text, len, sign_pk) == 0;
}

int fsi_proto_sign_headers(char lines[PROTO_SIGNED_LINES][PROTO_SIGNED_LINE],
                           const unsigned char *sign_sk, const char *device, const char *method,
                           const char *path, const char *query, uint64_t body_len,
                           int64_t when_ms) {
  unsigned char nb[PROTO_NONCE_BYTES];
  char when[24], nonce[2 * PROTO_NONCE_BYTES + 1], text[PROTO_REQ_MSG_MAX], sig[PROTO_SIG_HEX];
  randombytes_buf(nb, sizeof nb);
  fsi_proto_hex(nonce, nb, sizeof nb);
  snprintf(when, sizeof when, "%" PRId64, when_ms);
  size_t n = fsi_proto_request_text(text, method, path, query, body_len, device, when, nonce);
  if (!n || !fsi_proto_request_sign(sig, sign_sk, text, n))
    return fsi_fail(FS_EINVAL, "cannot sign the request to %.100s", path ? path : "");
  snprintf(lines[0], PROTO_SIGNED_LINE, "%s: %s", PROTO_TIME_HEADER, when);
  snprintf(lines[1], PROTO_SIGNED_LINE, "%s: %s", PROTO_NONCE_HEADER, nonce);
  snprintf(lines[2], PROTO_SIGNED_LINE, "%s: %s", PROTO_SIG_HEADER, sig);
  return FS_OK;
}
