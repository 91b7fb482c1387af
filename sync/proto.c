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

#include "util.h"

unsigned char *proto_pull_frame(int more, const char *cursor, const unsigned char *body,
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

int proto_pull_parse(const unsigned char *in, size_t len, int *more, char cursor[256],
                     const unsigned char **body, size_t *bodylen) {
  if (len < 6 || memcmp(in, PROTO_PULL_MAGIC, 4) != 0 || in[4] > 1)
    return fs_fail(FS_ECORRUPT, "head office sent a malformed pull response");
  size_t cl = in[5];
  if (len < 6 + cl) return fs_fail(FS_ECORRUPT, "head office sent a truncated pull response");
  *more = in[4];
  memcpy(cursor, in + 6, cl);
  cursor[cl] = '\0';
  *body = in + 6 + cl;
  *bodylen = len - 6 - cl;
  return FS_OK;
}

void proto_hex(char *out, const unsigned char *in, size_t n) {
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

int proto_unhex(unsigned char *out, size_t n, const char *hex) {
  if (!hex || strlen(hex) != 2 * n) return 0;
  for (size_t i = 0; i < n; i++) {
    int a = nib(hex[2 * i]), b = nib(hex[2 * i + 1]);
    if (a < 0 || b < 0) return 0;
    out[i] = (unsigned char)(a << 4 | b);
  }
  return 1;
}

int proto_site_parse(const char *hex, int64_t *site) {
  unsigned char b[8];
  if (!proto_unhex(b, 8, hex)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | b[i];
  *site = (int64_t)v;
  return *site > 0;
}
