/*
 * fuzz_keys.h — the fixed identities compiled into the envelope fuzz target
 * and the corpus generator, so that sealed seed envelopes verify and
 * decrypt inside the fuzzer.  Derived from constant seeds with libsodium's
 * crypto_sign_seed_keypair / crypto_kx_seed_keypair.  Test keys only.
 */
#ifndef FS_FUZZ_KEYS_H
#define FS_FUZZ_KEYS_H

#include <sodium.h>
#include <string.h>

#include "keys.h"

#define FUZZ_SENDER_ID INT64_C(0x0a11ce0000000001)
#define FUZZ_RECIPIENT_ID INT64_C(0x0b0b000000000002)

static inline void fuzz_identity(fsi_keys *k, unsigned char tag) {
  unsigned char seed[32];
  memset(seed, tag, sizeof seed);
  crypto_sign_seed_keypair(k->pub.sign, k->sign_sk, seed);
  seed[0] ^= 0xff;
  crypto_kx_seed_keypair(k->pub.kx, k->kx_sk, seed);
}

/* The sender (device) and the recipient (server) of the seed envelopes. */
static inline void fuzz_test_keys(fsi_keys *sender, fsi_keys *recipient) {
  (void)fsi_keys_init();
  fuzz_identity(sender, 0x5e);
  fuzz_identity(recipient, 0x7c);
}

#endif
