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

unsigned char *fsi_proto_pull_frame(const fsi_proto_pull_info *info, const unsigned char *body,
                                    size_t bodylen, size_t *outlen) {
  size_t cl = strlen(info->cursor), el = strlen(info->epoch);
  if (cl > 255 || el > PROTO_EPOCH_MAX) return NULL;
  size_t n = 4 + 1 + 1 + cl + (el ? 1 + el : 0) + (info->has_push ? 8 + 32 : 0) + bodylen;
  unsigned char *out = malloc(n ? n : 1), *p;
  if (!out) return NULL;
  memcpy(out, PROTO_PULL_MAGIC, 4);
  out[4] = (unsigned char)((info->more ? 1 : 0) | (el ? 2 : 0) | (info->has_push ? 4 : 0));
  out[5] = (unsigned char)cl;
  memcpy(out + 6, info->cursor, cl);
  p = out + 6 + cl;
  if (el) {
    *p++ = (unsigned char)el;
    memcpy(p, info->epoch, el);
    p += el;
  }
  if (info->has_push) {
    for (int i = 0; i < 8; i++) *p++ = (unsigned char)(info->push_seq >> (8 * i));
    memcpy(p, info->push_hash, 32);
    p += 32;
  }
  if (bodylen) memcpy(p, body, bodylen);
  *outlen = n;
  return out;
}

int fsi_proto_pull_parse(fsi_proto_pull_info *info, const unsigned char *in, size_t len,
                         const unsigned char **body, size_t *bodylen) {
  memset(info, 0, sizeof *info);
  if (len < 6 || memcmp(in, PROTO_PULL_MAGIC, 4) != 0 || in[4] > 7)
    return fsi_fail(FS_ECORRUPT, "head office sent a malformed pull response");
  size_t cl = in[5], at = 6 + cl;
  if (len < at) return fsi_fail(FS_ECORRUPT, "head office sent a truncated pull response");
  info->more = in[4] & 1;
  memcpy(info->cursor, in + 6, cl);
  info->cursor[cl] = '\0';
  if (in[4] & 2) {
    size_t el = len > at ? in[at] : 0;
    if (el < 1 || el > PROTO_EPOCH_MAX || len < at + 1 + el)
      return fsi_fail(FS_ECORRUPT, "head office sent a pull response with a malformed epoch");
    memcpy(info->epoch, in + at + 1, el);
    info->epoch[el] = '\0';
    at += 1 + el;
  }
  if (in[4] & 4) {
    if (len < at + 40) return fsi_fail(FS_ECORRUPT, "head office sent a truncated pull response");
    info->has_push = 1;
    for (int i = 7; i >= 0; i--) info->push_seq = info->push_seq << 8 | in[at + (size_t)i];
    memcpy(info->push_hash, in + at + 8, 32);
    at += 40;
  }
  *body = in + at;
  *bodylen = len - at;
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

/* ------------------------------------------------ acknowledgements */

static int lower_hex(const char *s, size_t n) {
  if (strlen(s) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

size_t fsi_proto_ack_text(char out[PROTO_ACK_TEXT_MAX], const fsi_proto_ack *a) {
  if (!lower_hex(a->device, 16) || !lower_hex(a->hash, 64) || a->seq == 0 || a->accepted < 0 ||
      a->refused < 0 || a->time <= 0)
    return 0;
  int n = snprintf(out, PROTO_ACK_TEXT_MAX,
                   PROTO_ACK_MAGIC "\n%s\n%" PRIu64 "\n%s\n%" PRId64 "\n%" PRId64 "\n%" PRId64,
                   a->device, a->seq, a->hash, a->accepted, a->refused, a->time);
  return n > 0 && n < PROTO_ACK_TEXT_MAX ? (size_t)n : 0;
}

/* The next line of text[*at..len) into buf[n] (without the newline); 0
 * when it does not fit or the text ends early (want_more: a newline must
 * follow). */
static int ack_line(char *buf, size_t n, const char *text, size_t len, size_t *at, int want_more) {
  size_t i = *at;
  while (i < len && text[i] != '\n') i++;
  if (i - *at >= n || (want_more && i == len) || (!want_more && i != len)) return 0;
  memcpy(buf, text + *at, i - *at);
  buf[i - *at] = '\0';
  *at = i + 1;
  return 1;
}

int fsi_proto_ack_parse(fsi_proto_ack *a, const char *text, size_t len) {
  char f[7][72], again[PROTO_ACK_TEXT_MAX];
  size_t at = 0;
  int64_t seq = 0;
  memset(a, 0, sizeof *a);
  if (!text || len >= PROTO_ACK_TEXT_MAX || memchr(text, '\0', len)) return 0;
  for (int i = 0; i < 7; i++)
    if (!ack_line(f[i], sizeof f[i], text, len, &at, i < 6)) return 0;
  if (strcmp(f[0], PROTO_ACK_MAGIC) != 0 || strlen(f[1]) != 16 || strlen(f[3]) != 64) return 0;
  memcpy(a->device, f[1], 17);
  memcpy(a->hash, f[3], 65);
  if (!fsi_util_parse_i64(f[2], &seq) || seq <= 0 || !fsi_util_parse_i64(f[4], &a->accepted) ||
      !fsi_util_parse_i64(f[5], &a->refused) || !fsi_util_parse_i64(f[6], &a->time))
    return 0;
  a->seq = (uint64_t)seq;
  /* canonical: exactly the text the fields make (no sign, no leading zero) */
  size_t n = fsi_proto_ack_text(again, a);
  return n == len && memcmp(again, text, len) == 0;
}
