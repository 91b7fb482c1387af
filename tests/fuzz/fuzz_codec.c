/*
 * fuzz_codec.c — libFuzzer target for fsi_codec_decode (sync/codec.c), the parser
 * of batch bytes.  Two modes, chosen by the first byte:
 *   0xFF  the rest is an uncompressed batch body; the harness wraps it in a
 *         valid frame (version, size, zstd level 1) so mutations reach the
 *         body parser directly instead of dying in zstd;
 *   else  the input is a whole encoding, framing included.
 * Every input must either decode or fail cleanly; a decoded batch is
 * re-encoded and must decode again to the same shape (the encoder accepts
 * whatever the decoder accepts).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec.h"

#define RAW_MODE 0xFF

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* version || varint(n) || zstd(body) into a malloc'd buffer. */
static uint8_t *frame(const uint8_t *body, size_t n, size_t *outlen) {
  static ZSTD_CCtx *cctx;
  size_t bound = ZSTD_compressBound(n), h = 0, z;
  uint8_t *out = malloc(11 + bound);
  uint64_t v = n;
  if (!out || (!cctx && !(cctx = ZSTD_createCCtx()))) abort();
  out[h++] = CODEC_VERSION;
  while (v >= 0x80) {
    out[h++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[h++] = (uint8_t)v;
  z = ZSTD_compressCCtx(cctx, out + h, bound, body, n, 1);
  if (ZSTD_isError(z)) abort();
  *outlen = h + z;
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static fsi_batch *b, *again;
  uint8_t *enc = NULL, *framed = NULL;
  size_t len = 0;
  int rc;
  if (!b) {
    b = fsi_change_batch_new();
    again = fsi_change_batch_new();
    if (!b || !again) abort();
  }
  if (size > 0 && data[0] == RAW_MODE) {
    framed = frame(data + 1, size - 1, &len);
    rc = fsi_codec_decode(b, framed, len);
    free(framed);
  } else {
    rc = fsi_codec_decode(b, data, size);
  }
  if (rc != 0) {
    if (b->nrows != 0 || b->ntables != 0) abort(); /* nothing returned */
    return 0;
  }
  if (fsi_codec_encode(b, &enc, &len) != 0) abort();
  if (fsi_codec_decode(again, enc, len) != 0 || again->nrows != b->nrows ||
      again->ntables != b->ntables)
    abort();
  free(enc);
  return 0;
}
