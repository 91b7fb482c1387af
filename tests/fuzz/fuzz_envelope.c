/*
 * fuzz_envelope.c — libFuzzer target for fsi_envelope_open (sync/envelope.c) and,
 * behind it, fsi_codec_decode of what an envelope carries.  The fixed test
 * identities of fuzz_keys.h are compiled in, so the sealed seeds of
 * corpus/envelope/ verify and reach the chain checks, decryption and the
 * codec; mutations of them exercise every rejection path.  Each input is
 * opened against an empty chain (seq 0) and against a chain that already
 * ends with it (the duplicate path).
 */
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"
#include "envelope.h"
#include "fuzz_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static fsi_keys sender, recipient;
  static fsi_batch *b;
  fsi_envelope_chain chain;
  fsi_envelope_opened o;
  fsi_envelope_header h;

  if (!b) {
    fuzz_test_keys(&sender, &recipient);
    if (!(b = fsi_change_batch_new())) abort();
  }
  (void)fsi_envelope_peek(&h, data, size);
  memset(&chain, 0, sizeof chain);
  if (fsi_envelope_open(&o, data, size, FUZZ_RECIPIENT_ID, &recipient, FUZZ_SENDER_ID, &sender.pub,
                        &chain) == 0) {
    if (o.duplicate || !o.plain) abort(); /* chain seq 0 cannot be a duplicate */
    (void)fsi_codec_decode(b, o.plain, o.plainlen);
    fsi_envelope_opened_clear(&o);
  }
  if (fsi_envelope_hash(chain.hash, data, size) == 0) {
    chain.seq = 1;
    if (fsi_envelope_open(&o, data, size, FUZZ_RECIPIENT_ID, &recipient, FUZZ_SENDER_ID,
                          &sender.pub, &chain) == 0) {
      if (o.h.seq == 1 && !o.duplicate) abort();
      fsi_envelope_opened_clear(&o);
    }
  }
  return 0;
}
