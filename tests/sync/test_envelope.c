/*
 * test_envelope.c — sync/envelope.c: sealed batches open to exactly what
 * was sealed; every tampering, misdirection, replay, gap, fork, truncation
 * and oversize is refused with its own code and message; a re-sent
 * accepted envelope is recognised as a duplicate; and a validly sealed
 * envelope with a malformed batch inside opens but fails to decode.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "batches.h"
#include "codec.h"
#include "envelope.h"
#include "testutil.h"

#define DEV_ID INT64_C(0x1d2c3b4a59687701)
#define SRV_ID INT64_C(0x5e4d3c2b1a090807)

static fsi_keys dev, srv, stranger;

typedef struct sealed {
  uint8_t *p;
  size_t n;
} sealed;

static fsi_envelope_chain chain_zero(void) {
  fsi_envelope_chain c;
  memset(&c, 0, sizeof c);
  return c;
}

/* Seals plain from the device to the server with sequence seq after prev. */
static sealed seal_plain(const uint8_t *plain, size_t n, uint64_t seq, const uint8_t *prev,
                         uint32_t count) {
  fsi_envelope_header h;
  sealed s = {NULL, 0};
  memset(&h, 0, sizeof h);
  h.sender = DEV_ID;
  h.recipient = SRV_ID;
  h.seq = seq;
  if (prev) memcpy(h.prev, prev, ENVELOPE_HASH_SIZE);
  h.hlc_min = 100;
  h.hlc_max = 200;
  h.count = count;
  CHECK_OK(fsi_envelope_seal(&s.p, &s.n, &h, plain, n, &dev, &srv.pub));
  return s;
}

static sealed seal_batch(const fsi_batch *b, uint64_t seq, const uint8_t *prev) {
  fsi_envelope_header h;
  sealed s = {NULL, 0};
  uint8_t *enc = NULL;
  size_t n = 0;
  CHECK_OK(fsi_codec_encode(b, &enc, &n));
  memset(&h, 0, sizeof h);
  h.sender = DEV_ID;
  h.recipient = SRV_ID;
  h.seq = seq;
  if (prev) memcpy(h.prev, prev, ENVELOPE_HASH_SIZE);
  h.hlc_min = b->hlc_min;
  h.hlc_max = b->hlc_max;
  h.count = (uint32_t)b->nrows;
  CHECK_OK(fsi_envelope_seal(&s.p, &s.n, &h, enc, n, &dev, &srv.pub));
  free(enc);
  return s;
}

static int open_at_srv(fsi_envelope_opened *o, const sealed *s, const fsi_envelope_chain *c) {
  return fsi_envelope_open(o, s->p, s->n, SRV_ID, &srv, DEV_ID, &dev.pub, c);
}

/* Opens s as the next envelope after chain c, decodes it, compares with b. */
static void open_and_compare(const sealed *s, const fsi_envelope_chain *c, const fsi_batch *b) {
  fsi_envelope_opened o;
  fsi_batch *out = fsi_change_batch_new();
  uint8_t h[ENVELOPE_HASH_SIZE];
  CHECK_OK(open_at_srv(&o, s, c));
  CHECK_EQ_INT(o.duplicate, 0);
  CHECK_EQ_INT(o.h.sender, DEV_ID);
  CHECK_EQ_INT(o.h.recipient, SRV_ID);
  CHECK_EQ_INT(o.h.seq, c->seq + 1);
  CHECK_EQ_INT(o.h.count, b->nrows);
  CHECK_OK(fsi_envelope_hash(h, s->p, s->n));
  CHECK(memcmp(h, o.hash, sizeof h) == 0);
  CHECK_OK(fsi_codec_decode(out, o.plain, o.plainlen));
  CHECK(tb_equal(b, out));
  CHECK_OK(fsi_envelope_check_batch(&o.h, out));
  fsi_envelope_opened_clear(&o);
  fsi_change_batch_free(out);
}

static void test_roundtrip(void) {
  fsi_envelope_chain c = chain_zero();
  fsi_batch *empty = fsi_change_batch_new(), *one = tb_records(1, 0, DEV_ID),
            *large = tb_records(20000, 0, DEV_ID);
  sealed s = seal_batch(empty, 1, NULL);
  open_and_compare(&s, &c, empty);
  free(s.p);
  s = seal_batch(one, 1, NULL);
  open_and_compare(&s, &c, one);
  free(s.p);
  s = seal_batch(large, 1, NULL);
  open_and_compare(&s, &c, large);
  printf("# 20000 records: envelope of %zu bytes (%.1f bytes/record)\n", s.n, (double)s.n / 20000);
  CHECK(s.n < 20000 * 60);
  free(s.p);

  /* A zero-length plaintext is a valid envelope too. */
  fsi_envelope_opened o;
  s = seal_plain(NULL, 0, 1, NULL, 0);
  CHECK_EQ_INT(s.n, ENVELOPE_OVERHEAD);
  CHECK_OK(open_at_srv(&o, &s, &c));
  CHECK_EQ_INT(o.plainlen, 0);
  fsi_envelope_opened_clear(&o);
  free(s.p);

  /* The other direction: server to device, verified with the pinned server
   * key. */
  fsi_envelope_header h;
  memset(&h, 0, sizeof h);
  h.sender = SRV_ID;
  h.recipient = DEV_ID;
  h.seq = 1;
  CHECK_OK(fsi_envelope_seal(&s.p, &s.n, &h, (const uint8_t *)"pull", 4, &srv, &dev.pub));
  CHECK_OK(fsi_envelope_open(&o, s.p, s.n, DEV_ID, &dev, SRV_ID, &srv.pub, &c));
  CHECK(o.plainlen == 4 && memcmp(o.plain, "pull", 4) == 0);
  fsi_envelope_opened_clear(&o);
  free(s.p);
  fsi_change_batch_free(empty);
  fsi_change_batch_free(one);
  fsi_change_batch_free(large);
}

static void test_peek_and_hash(void) {
  sealed s = seal_plain((const uint8_t *)"abc", 3, 1, NULL, 1);
  fsi_envelope_header h;
  uint8_t hash[ENVELOPE_HASH_SIZE], expect[ENVELOPE_HASH_SIZE];
  CHECK_OK(fsi_envelope_peek(&h, s.p, s.n));
  CHECK_EQ_INT(h.sender, DEV_ID);
  CHECK_EQ_INT(h.recipient, SRV_ID);
  CHECK_EQ_INT(h.seq, 1);
  CHECK_EQ_INT(h.hlc_min, 100);
  CHECK_EQ_INT(h.hlc_max, 200);
  CHECK_OK(fsi_envelope_hash(hash, s.p, s.n));
  crypto_generichash(expect, sizeof expect, s.p, s.n - ENVELOPE_SIG_SIZE, NULL, 0);
  CHECK(memcmp(hash, expect, sizeof hash) == 0);
  CHECK_ERR(fsi_envelope_hash(hash, s.p, ENVELOPE_OVERHEAD - 1), FS_ECORRUPT);
  free(s.p);
}

static void test_chain(void) {
  fsi_envelope_chain c = chain_zero();
  fsi_envelope_opened o;
  sealed e[3];
  uint8_t prev[ENVELOPE_HASH_SIZE] = {0};
  for (int i = 0; i < 3; i++) {
    e[i] = seal_plain((const uint8_t *)"batch", 5, (uint64_t)i + 1, i ? prev : NULL, 1);
    CHECK_OK(fsi_envelope_hash(prev, e[i].p, e[i].n));
  }
  for (int i = 0; i < 3; i++) {
    CHECK_OK(open_at_srv(&o, &e[i], &c));
    c.seq = o.h.seq;
    memcpy(c.hash, o.hash, sizeof c.hash);
    fsi_envelope_opened_clear(&o);
  }
  /* The last accepted one again: a duplicate, acknowledged, nothing to apply. */
  CHECK_OK(open_at_srv(&o, &e[2], &c));
  CHECK_EQ_INT(o.duplicate, 1);
  CHECK(o.plain == NULL);
  CHECK_EQ_INT(o.h.seq, 3);
  fsi_envelope_opened_clear(&o);

  /* An older one: replay. */
  CHECK_ERR(open_at_srv(&o, &e[0], &c), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "replay");
  /* The same sequence as the last, but different bytes: replay too. */
  uint8_t h2[ENVELOPE_HASH_SIZE];
  CHECK_OK(fsi_envelope_hash(h2, e[1].p, e[1].n));
  sealed other = seal_plain((const uint8_t *)"other", 5, 3, h2, 1);
  CHECK_ERR(open_at_srv(&o, &other, &c), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "replay");
  free(other.p);

  /* Gap: 3 after 1. */
  fsi_envelope_chain at1 = chain_zero();
  at1.seq = 1;
  CHECK_OK(fsi_envelope_hash(at1.hash, e[0].p, e[0].n));
  CHECK_ERR(open_at_srv(&o, &e[2], &at1), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "gap");
  fsi_envelope_chain at0 = chain_zero();
  CHECK_ERR(open_at_srv(&o, &e[1], &at0), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "gap");

  /* Fork: a valid seq 2 that follows something else than e[0]. */
  uint8_t bogus[ENVELOPE_HASH_SIZE];
  memset(bogus, 0xab, sizeof bogus);
  sealed fork = seal_plain((const uint8_t *)"fork", 4, 2, bogus, 1);
  CHECK_ERR(open_at_srv(&o, &fork, &at1), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "fork");
  free(fork.p);
  /* A second seq 1 after seq 1 was accepted is a replay, not a fork. */
  sealed again = seal_plain((const uint8_t *)"x", 1, 1, NULL, 1);
  CHECK_ERR(open_at_srv(&o, &again, &at1), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "replay");
  free(again.p);
  for (int i = 0; i < 3; i++) free(e[i].p);
}

static void test_identity_checks(void) {
  fsi_envelope_chain c = chain_zero();
  fsi_envelope_opened o;
  sealed s = seal_plain((const uint8_t *)"hello", 5, 1, NULL, 1);

  CHECK_ERR(fsi_envelope_open(&o, s.p, s.n, SRV_ID + 1, &srv, DEV_ID, &dev.pub, &c), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "recipient");
  CHECK_ERR(fsi_envelope_open(&o, s.p, s.n, SRV_ID, &srv, DEV_ID, &stranger.pub, &c), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "signature");
  CHECK_ERR(fsi_envelope_open(&o, s.p, s.n, SRV_ID, &srv, DEV_ID + 1, &dev.pub, &c), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "sender");
  CHECK(o.plain == NULL && o.plainlen == 0);

  /* Right signature and ids, but the receiver's key-exchange key is not the
   * one it was sealed to: decryption fails and says nothing more. */
  fsi_keys wrong = srv;
  memcpy(wrong.pub.kx, stranger.pub.kx, KEYS_KX_PK);
  memcpy(wrong.kx_sk, stranger.kx_sk, KEYS_KX_SK);
  CHECK_ERR(fsi_envelope_open(&o, s.p, s.n, SRV_ID, &wrong, DEV_ID, &dev.pub, &c), FS_EAUTH);
  CHECK_STR(fs_errmsg(), "envelope could not be decrypted");
  fsi_keys_wipe(&wrong);

  /* A holder of the signing key alone (not the kx key) who alters the
   * ciphertext and re-signs is still refused by the AEAD. */
  s.p[ENVELOPE_HEADER_SIZE] ^= 1;
  crypto_sign_detached(s.p + s.n - ENVELOPE_SIG_SIZE, NULL, s.p, s.n - ENVELOPE_SIG_SIZE,
                       dev.sign_sk);
  CHECK_ERR(open_at_srv(&o, &s, &c), FS_EAUTH);
  CHECK_STR(fs_errmsg(), "envelope could not be decrypted");
  free(s.p);
}

static void test_every_bit_flip(void) {
  fsi_envelope_chain c = chain_zero();
  fsi_envelope_opened o;
  fsi_batch *b = tb_records(1, 0, DEV_ID);
  sealed s = seal_batch(b, 1, NULL);
  size_t accepted = 0, wrong_code = 0;
  for (size_t i = 0; i < s.n; i++) {
    for (int bit = 0; bit < 8; bit++) {
      s.p[i] ^= (uint8_t)(1u << bit);
      int rc = open_at_srv(&o, &s, &c);
      if (rc == FS_OK) {
        accepted++;
        fsi_envelope_opened_clear(&o);
      } else if (i >= ENVELOPE_HEADER_SIZE || (i >= 8 && i < 80) || i >= 88) {
        /* ids, seq, prev, clocks... nonce, ciphertext, signature: only the
         * signature can tell (a flipped seq/count may also fail structure). */
        if (!(rc == FS_EAUTH && strstr(fs_errmsg(), "signature")) &&
            !(rc == FS_ECORRUPT && (i < ENVELOPE_HEADER_SIZE)))
          wrong_code++;
      } else if (rc != FS_ECORRUPT && rc != FS_EVERSION && rc != FS_EAUTH) {
        wrong_code++;
      }
      s.p[i] ^= (uint8_t)(1u << bit);
    }
  }
  CHECK_EQ_INT(accepted, 0);
  CHECK_EQ_INT(wrong_code, 0);
  CHECK_OK(open_at_srv(&o, &s, &c)); /* the unflipped original still opens */
  fsi_envelope_opened_clear(&o);
  free(s.p);
  fsi_change_batch_free(b);
}

static void test_structure(void) {
  fsi_envelope_chain c = chain_zero();
  fsi_envelope_opened o;
  sealed s = seal_plain((const uint8_t *)"structure", 9, 1, NULL, 1);
  size_t bad = 0;

  for (size_t n = 0; n < s.n; n++) {
    int rc = fsi_envelope_open(&o, s.p, n, SRV_ID, &srv, DEV_ID, &dev.pub, &c);
    if (rc != FS_ECORRUPT || !strstr(fs_errmsg(), "truncated")) bad++;
  }
  CHECK_EQ_INT(bad, 0);

  uint8_t *longer = malloc(s.n + 1);
  memcpy(longer, s.p, s.n);
  longer[s.n] = 0;
  CHECK_ERR(fsi_envelope_open(&o, longer, s.n + 1, SRV_ID, &srv, DEV_ID, &dev.pub, &c),
            FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "trailing");
  free(longer);

  s.p[4] = 2;
  CHECK_ERR(open_at_srv(&o, &s, &c), FS_EVERSION);
  CHECK_CONTAINS(fs_errmsg(), "version 2");
  s.p[4] = ENVELOPE_VERSION;
  s.p[0] = 'X';
  CHECK_ERR(open_at_srv(&o, &s, &c), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "not a fieldsync envelope");
  s.p[0] = 'F';

  /* Oversize: refused before anything is read past the header. */
  size_t big = (size_t)ENVELOPE_MAX_SIZE + 1;
  uint8_t *huge = calloc(1, big);
  memcpy(huge, s.p, s.n);
  CHECK_ERR(fsi_envelope_open(&o, huge, big, SRV_ID, &srv, DEV_ID, &dev.pub, &c), FS_ETOOBIG);
  CHECK_CONTAINS(fs_errmsg(), "limit");
  fsi_envelope_header h;
  memset(&h, 0, sizeof h);
  h.seq = 1;
  uint8_t *out = NULL;
  size_t outlen = 0;
  CHECK_ERR(fsi_envelope_seal(&out, &outlen, &h, huge, ENVELOPE_MAX_PLAIN + 1, &dev, &srv.pub),
            FS_ETOOBIG);
  CHECK(out == NULL);
  free(huge);

  /* Seal refuses inconsistent headers. */
  h.seq = 0;
  CHECK_ERR(fsi_envelope_seal(&out, &outlen, &h, s.p, 1, &dev, &srv.pub), FS_EINVAL);
  h.seq = 2; /* prev all zero */
  CHECK_ERR(fsi_envelope_seal(&out, &outlen, &h, s.p, 1, &dev, &srv.pub), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "previous hash");
  h.seq = 1;
  h.prev[3] = 1;
  CHECK_ERR(fsi_envelope_seal(&out, &outlen, &h, s.p, 1, &dev, &srv.pub), FS_EINVAL);
  h.prev[3] = 0;
  h.hlc_min = 5;
  CHECK_ERR(fsi_envelope_seal(&out, &outlen, &h, s.p, 1, &dev, &srv.pub), FS_EINVAL);
  free(s.p);
}

/* The header must describe the batch it carries. */
static void test_check_batch(void) {
  fsi_batch *b = tb_records(3, 0, DEV_ID);
  fsi_envelope_header h;
  memset(&h, 0, sizeof h);
  h.seq = 4;
  h.count = 3;
  h.hlc_min = b->hlc_min;
  h.hlc_max = b->hlc_max;
  CHECK_OK(fsi_envelope_check_batch(&h, b));
  h.count = 2;
  CHECK_ERR(fsi_envelope_check_batch(&h, b), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "announces 2 changes");
  h.count = 3;
  h.hlc_max = b->hlc_max - 1;
  CHECK_ERR(fsi_envelope_check_batch(&h, b), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "outside the announced range");
  fsi_change_batch_free(b);
}

static void test_bad_batch_inside(void) {
  fsi_envelope_chain c = chain_zero();
  fsi_envelope_opened o;
  fsi_batch *b = fsi_change_batch_new();
  static const uint8_t junk[] = {CODEC_VERSION, 5, 'n', 'o', 'p', 'e', '!'};
  static const uint8_t future[] = {9, 0};
  sealed s = seal_plain(junk, sizeof junk, 1, NULL, 1);
  CHECK_OK(open_at_srv(&o, &s, &c));
  CHECK_ERR(fsi_codec_decode(b, o.plain, o.plainlen), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "zstd");
  fsi_envelope_opened_clear(&o);
  free(s.p);
  s = seal_plain(future, sizeof future, 1, NULL, 1);
  CHECK_OK(open_at_srv(&o, &s, &c));
  CHECK_ERR(fsi_codec_decode(b, o.plain, o.plainlen), FS_EVERSION);
  fsi_envelope_opened_clear(&o);
  free(s.p);
  fsi_change_batch_free(b);
}

int main(void) {
  if (fsi_keys_new(&dev) || fsi_keys_new(&srv) || fsi_keys_new(&stranger)) return 1;
  TEST_RUN(test_roundtrip);
  TEST_RUN(test_peek_and_hash);
  TEST_RUN(test_chain);
  TEST_RUN(test_identity_checks);
  TEST_RUN(test_every_bit_flip);
  TEST_RUN(test_structure);
  TEST_RUN(test_check_batch);
  TEST_RUN(test_bad_batch_inside);
  fsi_keys_wipe(&dev);
  fsi_keys_wipe(&srv);
  fsi_keys_wipe(&stranger);
  return tu_finish();
}
