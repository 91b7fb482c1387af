/*
 * envelope.h — one signed, encrypted batch on the wire.
 *
 * An envelope carries the codec bytes of one batch (sync/codec.h) from a
 * sender to one recipient.  Layout (little-endian; docs/protocol.md,
 * "## Envelope", has the byte-for-byte table):
 *
 *   header (112 bytes): "FSEV", version, 3 zero bytes, sender id,
 *     recipient id, sequence, previous envelope hash, hlc min, hlc max,
 *     change count, ciphertext length, 24-byte nonce
 *   ciphertext: XChaCha20-Poly1305-IETF of the plaintext, header as
 *     additional data, key = the crypto_kx session key of the direction
 *     sender -> recipient
 *   signature (64 bytes): Ed25519 (detached) of header || ciphertext
 *
 * Each sender numbers its envelopes to a recipient 1, 2, 3... and each one
 * names the hash (fsi_envelope_hash) of the previous one (all zero for 1), so the
 * receiver, which keeps {last accepted seq, its hash} per sender, rejects a
 * replay, a gap and a fork.  fsi_envelope_open checks, in this order: length
 * bounds, magic and version, the signature against the pinned sender key,
 * the recipient and sender ids, the sequence, the previous hash, then
 * decrypts.  It never changes the chain state: the caller advances it
 * ({h.seq, hash}) in the same transaction that applies the batch.
 *
 * Direction binding: of the two X25519 public keys, the byte-wise smaller
 * (memcmp <= 0, the sender's on a tie) takes the crypto_kx "client" role.
 * The sender encrypts with its tx key; the recipient decrypts with its rx
 * key; the two directions therefore use different keys.
 */
#ifndef FS_ENVELOPE_H
#define FS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "keys.h"

#define ENVELOPE_VERSION 1
#define ENVELOPE_HEADER_SIZE 112
#define ENVELOPE_TAG_SIZE 16 /* Poly1305 tag, part of the ciphertext */
#define ENVELOPE_SIG_SIZE 64
#define ENVELOPE_HASH_SIZE 32 /* BLAKE2b-256 */
#define ENVELOPE_OVERHEAD (ENVELOPE_HEADER_SIZE + ENVELOPE_TAG_SIZE + ENVELOPE_SIG_SIZE)
#define ENVELOPE_MAX_SIZE (32u * 1024 * 1024) /* whole envelope, bytes */
#define ENVELOPE_MAX_PLAIN (ENVELOPE_MAX_SIZE - ENVELOPE_OVERHEAD)

/* The authenticated header fields. */
typedef struct fsi_envelope_header {
  int64_t sender;                   /* site id of the sender */
  int64_t recipient;                /* site id of the recipient */
  uint64_t seq;                     /* 1, 2, 3... per (sender, recipient) */
  uint8_t prev[ENVELOPE_HASH_SIZE]; /* fsi_envelope_hash of seq-1; zero for 1 */
  int64_t hlc_min, hlc_max;         /* clock range of the batch inside */
  uint32_t count;                   /* row changes in the batch */
} fsi_envelope_header;

/* The receiver's state for one sender: the last accepted envelope.  A
 * sender never heard from is {0, all zero}. */
typedef struct fsi_envelope_chain {
  uint64_t seq;
  uint8_t hash[ENVELOPE_HASH_SIZE];
} fsi_envelope_chain;

/* What fsi_envelope_open returns.  Release with fsi_envelope_opened_clear(). */
typedef struct fsi_envelope_opened {
  fsi_envelope_header h;
  uint8_t hash[ENVELOPE_HASH_SIZE]; /* fsi_envelope_hash of this envelope */
  int duplicate;                    /* 1: the envelope the chain already ends with (a re-send
                                       of an acknowledged batch): acknowledge it again, apply
                                       nothing; plain is NULL */
  uint8_t *plain;                   /* malloc'd plaintext (the codec bytes) */
  size_t plainlen;
} fsi_envelope_opened;

/* Seals plain[0..plainlen) from `sender` (its keys) to the recipient whose
 * public keys are `to`, with header *h (seq >= 1; prev all zero iff seq is 1;
 * hlc_min <= hlc_max; count <= FS_BATCH_MAX_ROWS).  *out is malloc'd, the
 * caller frees it.  Errors: FS_EINVAL (bad header field or a suspicious
 * recipient key), FS_ETOOBIG (plainlen > ENVELOPE_MAX_PLAIN), FS_ENOMEM. */
int fsi_envelope_seal(uint8_t **out, size_t *outlen, const fsi_envelope_header *h,
                      const uint8_t *plain, size_t plainlen, const fsi_keys *sender,
                      const fsi_pubkeys *to);

/* Verifies and decrypts env[0..len) addressed to `me` (site id my_id, keys
 * *mykeys) from the sender with site id `from_id` whose pinned public keys
 * are *from, given the receiver's chain state for that sender.
 * On FS_OK *out holds the header, the envelope's hash and (unless
 * out->duplicate) the plaintext.  Errors, each with its own message:
 *   FS_ETOOBIG   longer than ENVELOPE_MAX_SIZE
 *   FS_ECORRUPT  truncated, not an envelope, bad length field or header
 *                field ("truncated", "trailing"), previous hash does not
 *                match the chain ("fork")
 *   FS_EVERSION  unknown envelope version
 *   FS_EAUTH     signature does not verify ("signature"), addressed to
 *                another site ("recipient"), signed for another sender id
 *                ("sender"), or decryption failed
 *   FS_ECONFLICT sequence already accepted ("replay") or one or more
 *                missing before it ("gap")
 * On failure *out is cleared (nothing to free). */
int fsi_envelope_open(fsi_envelope_opened *out, const uint8_t *env, size_t len, int64_t my_id,
                      const fsi_keys *mykeys, int64_t from_id, const fsi_pubkeys *from,
                      const fsi_envelope_chain *chain);

/* After fsi_codec_decode of an opened envelope's plaintext: checks that the
 * decoded batch is what the signed header announced — count equals
 * b->nrows, and (for a non-empty batch) the batch's clock range lies inside
 * [hlc_min, hlc_max].  FS_ECORRUPT otherwise; apply nothing then. */
int fsi_envelope_check_batch(const fsi_envelope_header *h, const fsi_batch *b);

/* Frees out->plain (wiped first) and zeroes *out.  NULL is fine. */
void fsi_envelope_opened_clear(fsi_envelope_opened *out);

/* Parses the header of env[0..len) WITHOUT verifying anything, so that a
 * receiver can find the sender's pinned keys and chain state before calling
 * fsi_envelope_open.  Never trust the fields for anything else.  Errors as the
 * structural checks of fsi_envelope_open (FS_ETOOBIG, FS_ECORRUPT, FS_EVERSION). */
int fsi_envelope_peek(fsi_envelope_header *h, const uint8_t *env, size_t len);

/* The chain hash of an envelope: BLAKE2b-256 (crypto_generichash, no key)
 * of its signed part, header || ciphertext (the signature is excluded).
 * FS_ECORRUPT when len is below the minimum envelope size. */
int fsi_envelope_hash(uint8_t out[ENVELOPE_HASH_SIZE], const uint8_t *env, size_t len);

#endif /* FS_ENVELOPE_H */
