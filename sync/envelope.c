/*
 * envelope.c — seal and open signed, encrypted batches (see envelope.h and
 * docs/protocol.md, "## Envelope").
 *
 * Invariants: open reads the untrusted bytes only after the structural
 * checks (envelope_parse) proved every offset it uses is inside the buffer;
 * nothing but the length fields, magic and version is looked at before the
 * Ed25519 signature over header || ciphertext has verified against the
 * pinned key; the chain checks come before decryption, and decryption
 * failure is reported without detail.  The session keys derived with
 * crypto_kx live on the stack only and are wiped on every path; hashes are
 * compared with sodium_memcmp.
 */
#include "envelope.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "engine.h"

static const uint8_t MAGIC[4] = {'F', 'S', 'E', 'V'};

/* Header field offsets. */
enum {
  OFF_MAGIC = 0,
  OFF_VERSION = 4,
  OFF_RESERVED = 5,
  OFF_SENDER = 8,
  OFF_RECIPIENT = 16,
  OFF_SEQ = 24,
  OFF_PREV = 32,
  OFF_HLC_MIN = 64,
  OFF_HLC_MAX = 72,
  OFF_COUNT = 80,
  OFF_CTLEN = 84,
  OFF_NONCE = 88
};

_Static_assert(OFF_NONCE + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == ENVELOPE_HEADER_SIZE,
               "header layout");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == ENVELOPE_TAG_SIZE, "tag");
_Static_assert(crypto_sign_BYTES == ENVELOPE_SIG_SIZE, "signature");
_Static_assert(crypto_kx_SESSIONKEYBYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "session key is an AEAD key");

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static unsigned long long hexid(int64_t id) { return (unsigned long long)(uint64_t)id; }

/* The AEAD key of the direction sender -> recipient; see envelope.h. */
static int direction_key(uint8_t key[crypto_kx_SESSIONKEYBYTES], const fsi_keys *me,
                         const uint8_t peer_kx[KEYS_KX_PK], int sending) {
  uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
  const uint8_t *sender_pk = sending ? me->pub.kx : peer_kx;
  const uint8_t *recipient_pk = sending ? peer_kx : me->pub.kx;
  int sender_is_client = memcmp(sender_pk, recipient_pk, KEYS_KX_PK) <= 0;
  int me_client = sending ? sender_is_client : !sender_is_client;
  int r = me_client ? crypto_kx_client_session_keys(rx, tx, me->pub.kx, me->kx_sk, peer_kx)
                    : crypto_kx_server_session_keys(rx, tx, me->pub.kx, me->kx_sk, peer_kx);
  if (r == 0) memcpy(key, sending ? tx : rx, crypto_kx_SESSIONKEYBYTES);
  sodium_memzero(rx, sizeof rx);
  sodium_memzero(tx, sizeof tx);
  return r;
}

/* Structural checks shared by peek and open: every length and header field
 * that can be checked without keys.  *ctlen receives the ciphertext length. */
static int envelope_parse(fsi_envelope_header *h, size_t *ctlen, const uint8_t *env, size_t len) {
  if (len > ENVELOPE_MAX_SIZE)
    return fsi_fail(FS_ETOOBIG, "envelope of %zu bytes is over the %u-byte limit", len,
                    ENVELOPE_MAX_SIZE);
  if (!env || memcmp(env, MAGIC, len < 4 ? len : 4) != 0)
    return fsi_fail(FS_ECORRUPT, "not a fieldsync envelope (bad magic)");
  if (len > OFF_VERSION && env[OFF_VERSION] != ENVELOPE_VERSION)
    return fsi_fail(FS_EVERSION, "envelope version %u is not supported (this build reads %d)",
                    env[OFF_VERSION], ENVELOPE_VERSION);
  if (len < ENVELOPE_OVERHEAD)
    return fsi_fail(FS_ECORRUPT, "envelope truncated: %zu bytes, the minimum is %d", len,
                    ENVELOPE_OVERHEAD);
  if (env[OFF_RESERVED] || env[OFF_RESERVED + 1] || env[OFF_RESERVED + 2])
    return fsi_fail(FS_ECORRUPT, "envelope header has non-zero reserved bytes");
  size_t ct = get_u32(env + OFF_CTLEN);
  if (ct < ENVELOPE_TAG_SIZE)
    return fsi_fail(FS_ECORRUPT, "envelope ciphertext length %zu is shorter than its tag", ct);
  if (ct > len - ENVELOPE_HEADER_SIZE - ENVELOPE_SIG_SIZE)
    return fsi_fail(FS_ECORRUPT,
                    "envelope truncated: the header declares %zu ciphertext bytes, %zu present", ct,
                    len - ENVELOPE_HEADER_SIZE - ENVELOPE_SIG_SIZE);
  if (ct < len - ENVELOPE_HEADER_SIZE - ENVELOPE_SIG_SIZE)
    return fsi_fail(FS_ECORRUPT, "envelope has %zu trailing bytes after its signature",
                    len - ENVELOPE_HEADER_SIZE - ENVELOPE_SIG_SIZE - ct);
  h->sender = (int64_t)get_u64(env + OFF_SENDER);
  h->recipient = (int64_t)get_u64(env + OFF_RECIPIENT);
  h->seq = get_u64(env + OFF_SEQ);
  memcpy(h->prev, env + OFF_PREV, ENVELOPE_HASH_SIZE);
  h->hlc_min = (int64_t)get_u64(env + OFF_HLC_MIN);
  h->hlc_max = (int64_t)get_u64(env + OFF_HLC_MAX);
  h->count = get_u32(env + OFF_COUNT);
  if (h->seq == 0) return fsi_fail(FS_ECORRUPT, "envelope has sequence number 0");
  if (h->count > FS_BATCH_MAX_ROWS)
    return fsi_fail(FS_ECORRUPT, "envelope declares %u changes, over the limit of %d", h->count,
                    FS_BATCH_MAX_ROWS);
  if (h->hlc_min > h->hlc_max) return fsi_fail(FS_ECORRUPT, "envelope clock range is inverted");
  *ctlen = ct;
  return FS_OK;
}

int fsi_envelope_peek(fsi_envelope_header *h, const uint8_t *env, size_t len) {
  size_t ct;
  return envelope_parse(h, &ct, env, len);
}

int fsi_envelope_hash(uint8_t out[ENVELOPE_HASH_SIZE], const uint8_t *env, size_t len) {
  int rc = fsi_keys_init();
  if (rc) return rc;
  if (!env || len < ENVELOPE_OVERHEAD)
    return fsi_fail(FS_ECORRUPT, "envelope truncated: %zu bytes, the minimum is %d", len,
                    ENVELOPE_OVERHEAD);
  crypto_generichash(out, ENVELOPE_HASH_SIZE, env, len - ENVELOPE_SIG_SIZE, NULL, 0);
  return FS_OK;
}

static int is_zero(const uint8_t *p, size_t n) { return sodium_is_zero(p, n); }

int fsi_envelope_seal(uint8_t **out, size_t *outlen, const fsi_envelope_header *h,
                      const uint8_t *plain, size_t plainlen, const fsi_keys *sender,
                      const fsi_pubkeys *to) {
  uint8_t key[crypto_kx_SESSIONKEYBYTES];
  uint8_t *env = NULL;
  unsigned long long ctlen = 0;
  int rc;

  *out = NULL;
  *outlen = 0;
  if ((rc = fsi_keys_init())) return rc;
  if (h->seq == 0) return fsi_fail(FS_EINVAL, "envelope sequence numbers start at 1");
  if ((h->seq == 1) != is_zero(h->prev, sizeof h->prev))
    return fsi_fail(FS_EINVAL,
                    "envelope %llu: the previous hash must be zero exactly for "
                    "sequence 1",
                    (unsigned long long)h->seq);
  if (h->hlc_min > h->hlc_max) return fsi_fail(FS_EINVAL, "envelope clock range is inverted");
  if (h->count > FS_BATCH_MAX_ROWS)
    return fsi_fail(FS_EINVAL, "envelope of %u changes is over the limit of %d", h->count,
                    FS_BATCH_MAX_ROWS);
  if (plainlen > ENVELOPE_MAX_PLAIN)
    return fsi_fail(FS_ETOOBIG, "batch of %zu bytes does not fit in one envelope (limit %u)",
                    plainlen, (unsigned)ENVELOPE_MAX_PLAIN);
  if (!plain && plainlen) return fsi_fail(FS_EINVAL, "envelope plaintext is NULL");
  if (direction_key(key, sender, to->kx, 1) != 0) {
    rc = fsi_fail(FS_EINVAL, "the recipient's key-exchange public key is unusable");
    goto done;
  }
  env = malloc(ENVELOPE_OVERHEAD + plainlen);
  if (!env) {
    rc = fsi_fail(FS_ENOMEM, "out of memory sealing an envelope");
    goto done;
  }
  memcpy(env + OFF_MAGIC, MAGIC, 4);
  env[OFF_VERSION] = ENVELOPE_VERSION;
  memset(env + OFF_RESERVED, 0, 3);
  put_u64(env + OFF_SENDER, (uint64_t)h->sender);
  put_u64(env + OFF_RECIPIENT, (uint64_t)h->recipient);
  put_u64(env + OFF_SEQ, h->seq);
  memcpy(env + OFF_PREV, h->prev, ENVELOPE_HASH_SIZE);
  put_u64(env + OFF_HLC_MIN, (uint64_t)h->hlc_min);
  put_u64(env + OFF_HLC_MAX, (uint64_t)h->hlc_max);
  put_u32(env + OFF_COUNT, h->count);
  put_u32(env + OFF_CTLEN, (uint32_t)(plainlen + ENVELOPE_TAG_SIZE));
  randombytes_buf(env + OFF_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt(env + ENVELOPE_HEADER_SIZE, &ctlen, plain, plainlen,
                                             env, FS_MUT(1) ? 0 : ENVELOPE_HEADER_SIZE, NULL,
                                             env + OFF_NONCE, key);
  crypto_sign_detached(env + ENVELOPE_HEADER_SIZE + ctlen, NULL, env, ENVELOPE_HEADER_SIZE + ctlen,
                       sender->sign_sk);
  *out = env;
  *outlen = ENVELOPE_OVERHEAD + plainlen;
  env = NULL;
  rc = FS_OK;
done:
  sodium_memzero(key, sizeof key);
  free(env);
  return rc;
}

int fsi_envelope_check_batch(const fsi_envelope_header *h, const fsi_batch *b) {
  if (b->nrows != h->count)
    return fsi_fail(FS_ECORRUPT, "envelope %llu announces %u changes but its batch holds %zu",
                    (unsigned long long)h->seq, h->count, b->nrows);
  if (b->nrows && (b->hlc_min < h->hlc_min || b->hlc_max > h->hlc_max))
    return fsi_fail(FS_ECORRUPT,
                    "envelope %llu: the batch's clocks fall outside the announced range",
                    (unsigned long long)h->seq);
  return FS_OK;
}

void fsi_envelope_opened_clear(fsi_envelope_opened *out) {
  if (!out) return;
  if (out->plain) {
    sodium_memzero(out->plain, out->plainlen);
    free(out->plain);
  }
  memset(out, 0, sizeof *out);
}

int fsi_envelope_open(fsi_envelope_opened *out, const uint8_t *env, size_t len, int64_t my_id,
                      const fsi_keys *mykeys, int64_t from_id, const fsi_pubkeys *from,
                      const fsi_envelope_chain *chain) {
  uint8_t key[crypto_kx_SESSIONKEYBYTES];
  fsi_envelope_header *h = &out->h;
  size_t ct = 0;
  unsigned long long plen = 0;
  int rc;

  memset(out, 0, sizeof *out);
  if ((rc = fsi_keys_init())) return rc;
  if ((rc = envelope_parse(h, &ct, env, len))) goto fail;

  if (crypto_sign_verify_detached(env + ENVELOPE_HEADER_SIZE + ct, env, ENVELOPE_HEADER_SIZE + ct,
                                  from->sign) != 0 &&
      !FS_MUT(2)) {
    rc = fsi_fail(FS_EAUTH,
                  "envelope signature does not verify against the pinned key of site %016llx",
                  hexid(from_id));
    goto fail;
  }
  if (h->recipient != my_id) {
    rc = fsi_fail(FS_EAUTH, "envelope is addressed to recipient %016llx, not to this site %016llx",
                  hexid(h->recipient), hexid(my_id));
    goto fail;
  }
  if (h->sender != from_id) {
    rc = fsi_fail(FS_EAUTH, "envelope names sender %016llx but is signed with the key of %016llx",
                  hexid(h->sender), hexid(from_id));
    goto fail;
  }

  crypto_generichash(out->hash, ENVELOPE_HASH_SIZE, env, ENVELOPE_HEADER_SIZE + ct, NULL, 0);
  if (h->seq <= chain->seq) {
    if (h->seq == chain->seq && sodium_memcmp(out->hash, chain->hash, ENVELOPE_HASH_SIZE) == 0) {
      out->duplicate = 1;
      return FS_OK;
    }
    rc = h->seq == chain->seq
             ? fsi_fail(FS_ECONFLICT,
                        "envelope %llu from site %016llx is a replay or a fork (a copied "
                        "device?): sequence %llu was already accepted with other content",
                        (unsigned long long)h->seq, hexid(from_id), (unsigned long long)chain->seq)
             : fsi_fail(FS_ECONFLICT,
                        "envelope %llu from site %016llx is a replay: sequence %llu was "
                        "already accepted",
                        (unsigned long long)h->seq, hexid(from_id), (unsigned long long)chain->seq);
    goto fail;
  }
  if (h->seq - chain->seq > 1 && !FS_MUT(3)) {
    rc = fsi_fail(FS_ECONFLICT,
                  "envelope %llu from site %016llx leaves a gap: the last accepted is %llu",
                  (unsigned long long)h->seq, hexid(from_id), (unsigned long long)chain->seq);
    goto fail;
  }
  if (sodium_memcmp(h->prev, chain->hash, ENVELOPE_HASH_SIZE) != 0 && !FS_MUT(4)) {
    rc = fsi_fail(FS_ECONFLICT,
                  "envelope %llu from site %016llx is a fork: its previous hash is not that "
                  "of accepted envelope %llu",
                  (unsigned long long)h->seq, hexid(from_id), (unsigned long long)chain->seq);
    goto fail;
  }

  if (direction_key(key, mykeys, from->kx, 0) != 0) {
    rc = fsi_fail(FS_EAUTH, "envelope could not be decrypted");
    goto fail;
  }
  out->plain = malloc(ct - ENVELOPE_TAG_SIZE + 1);
  if (!out->plain) {
    rc = fsi_fail(FS_ENOMEM, "out of memory opening an envelope");
    goto fail;
  }
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out->plain, &plen, NULL, env + ENVELOPE_HEADER_SIZE, ct, env,
          FS_MUT(1) ? 0 : ENVELOPE_HEADER_SIZE, env + OFF_NONCE, key) != 0) {
    rc = fsi_fail(FS_EAUTH, "envelope could not be decrypted");
    goto fail;
  }
  out->plainlen = (size_t)plen;
  sodium_memzero(key, sizeof key);
  return FS_OK;

fail:
  sodium_memzero(key, sizeof key);
  fsi_envelope_opened_clear(out);
  return rc;
}
