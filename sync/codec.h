/*
 * codec.h — the change batch on the wire: fsi_batch <-> compact bytes.
 *
 * fsi_codec_encode turns a batch (core/change.h) into a self-delimiting byte
 * string: a format version byte, the declared decompressed size and one
 * zstd frame holding a column-oriented binary body (table/column and site
 * dictionaries, varints, UUID keys packed to 16 bytes, clocks delta-coded).
 * fsi_codec_decode is its exact inverse and takes untrusted bytes: every count
 * and length is bounded by the limits in change.h and below, every field is
 * validated, and on any failure the batch is left empty and fs_errmsg()
 * names the first problem found.  docs/protocol.md ("## Batch encoding")
 * specifies the format byte for byte.
 *
 * The decoded batch's hlc_min/hlc_max are recomputed over the row and cell
 * clocks (they are not transmitted); the encoder ignores the input batch's
 * hlc_min/hlc_max.
 */
#ifndef FS_CODEC_H
#define FS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define CODEC_VERSION 1                   /* first byte of every encoding */
#define CODEC_MAX_RAW (64u * 1024 * 1024) /* decompressed body bound, bytes */
#define CODEC_MAX_SITES 65536             /* distinct site ids in one batch */
#define CODEC_ZSTD_LEVEL 3                /* chosen by measurement, protocol.md */

/* Encodes b into a malloc'd buffer *out of *outlen bytes (caller frees).
 * b must satisfy the batch invariants of change.h (the encoder checks them
 * so that it never emits what fsi_codec_decode would refuse).
 * Errors: FS_EINVAL (the batch breaks an invariant; message names the row),
 * FS_ETOOBIG (over a limit), FS_ENOMEM.  On failure *out is NULL. */
int fsi_codec_encode(const fsi_batch *b, uint8_t **out, size_t *outlen);

/* Decodes in[0..len) into b (from fsi_change_batch_new(); reset on entry, so
 * anything it held is gone).  Everything b points to lives in b's arena.
 * Errors: FS_EVERSION (unknown format version), FS_ECORRUPT (malformed,
 * truncated, lying size, invalid field, trailing bytes), FS_ETOOBIG
 * (declared size over CODEC_MAX_RAW or a count over a change.h limit),
 * FS_ENOMEM.  On failure b is left empty (reset). */
int fsi_codec_decode(fsi_batch *b, const uint8_t *in, size_t len);

#endif /* FS_CODEC_H */
