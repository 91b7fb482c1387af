/*
 * gen_corpus.c — writes the seed corpus of the two fuzz targets:
 *   gen_corpus ENVELOPE_DIR CODEC_DIR
 * Codec seeds are encodings of the sample batches of tests/sync/batches.h;
 * envelope seeds are those sealed with the fixed identities of fuzz_keys.h
 * (plus one that carries bytes the codec refuses, a gap, a wrong recipient
 * and a truncation).  The checked-in corpus was made with it; rerun it
 * after a format change.  Envelopes use random nonces, so reruns differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "batches.h"
#include "codec.h"
#include "envelope.h"
#include "fuzz_keys.h"

static void put(const char *dir, const char *name, const uint8_t *p, size_t n) {
  char path[4096];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "gen_corpus: cannot write %s\n", path);
    exit(1);
  }
}

static uint8_t *enc_of(fs_batch *b, size_t *n) {
  uint8_t *e = NULL;
  if (codec_encode(b, &e, n) != 0) {
    fprintf(stderr, "gen_corpus: %s\n", fs_errmsg());
    exit(1);
  }
  return e;
}

/* 0xFF || the uncompressed body of encoding e: fuzz_codec's raw mode. */
static void put_raw(const char *dir, const char *name, const uint8_t *e, size_t n) {
  size_t off = 1;
  while (e[off] & 0x80) off++;
  off++;
  unsigned long long sz = ZSTD_getFrameContentSize(e + off, n - off);
  uint8_t *raw = malloc(sz + 1);
  raw[0] = 0xFF;
  if (ZSTD_decompress(raw + 1, sz, e + off, n - off) != sz) exit(1);
  put(dir, name, raw, sz + 1);
  free(raw);
}

static uint8_t *seal(const uint8_t *plain, size_t n, uint64_t seq, const uint8_t *prev,
                     int64_t recipient, uint32_t count, size_t *outlen) {
  static fs_keys s, r;
  static int init;
  envelope_header h;
  uint8_t *e = NULL;
  if (!init) fuzz_test_keys(&s, &r), init = 1;
  memset(&h, 0, sizeof h);
  h.sender = FUZZ_SENDER_ID;
  h.recipient = recipient;
  h.seq = seq;
  if (prev) memcpy(h.prev, prev, sizeof h.prev);
  h.hlc_min = 1;
  h.hlc_max = 2;
  h.count = count;
  if (envelope_seal(&e, outlen, &h, plain, n, &s, &r.pub) != 0) {
    fprintf(stderr, "gen_corpus: %s\n", fs_errmsg());
    exit(1);
  }
  return e;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: gen_corpus ENVELOPE_DIR CODEC_DIR\n");
    return 2;
  }
  const char *edir = argv[1], *cdir = argv[2];
  fs_batch *empty = change_batch_new(), *variety = tb_variety();
  fs_batch *recs = tb_records(6, 0, 77), *dict = tb_records(0, 0, 77);
  fs_batch *tomb = tb_records(4, 1, 78);
  size_t n, m;
  uint8_t *e, *v, *s, hash[ENVELOPE_HASH_SIZE];

  for (size_t i = 1; i < tomb->nrows; i += 2) {
    tomb->rows[i].cl = 2;
    tomb->rows[i].nvals = 0;
    tomb->rows[i].seen = tomb->rows[i].hlc - 1;
  }
  e = enc_of(empty, &n), put(cdir, "empty", e, n), free(e);
  e = enc_of(dict, &n), put(cdir, "dictionary-only", e, n), free(e);
  e = enc_of(recs, &n), put(cdir, "records-6", e, n), put_raw(cdir, "raw-records-6", e, n),
  free(e);
  e = enc_of(tomb, &n), put(cdir, "tombstones", e, n), free(e);
  v = enc_of(variety, &n), put(cdir, "variety", v, n), put_raw(cdir, "raw-variety", v, n);
  put(cdir, "variety-truncated", v, n / 2);

  s = seal(v, n, 1, NULL, FUZZ_RECIPIENT_ID, (uint32_t)variety->nrows, &m);
  put(edir, "variety-seq1", s, m);
  put(edir, "variety-truncated", s, m - 7);
  envelope_hash(hash, s, m);
  free(s);
  s = seal(v, n, 2, hash, FUZZ_RECIPIENT_ID, (uint32_t)variety->nrows, &m);
  put(edir, "variety-seq2-gap", s, m), free(s);
  s = seal(v, n, 1, NULL, FUZZ_RECIPIENT_ID + 1, (uint32_t)variety->nrows, &m);
  put(edir, "wrong-recipient", s, m), free(s);
  free(v);
  e = enc_of(recs, &n);
  s = seal(e, n, 1, NULL, FUZZ_RECIPIENT_ID, 6, &m);
  put(edir, "records-seq1", s, m), free(s), free(e);
  e = enc_of(empty, &n);
  s = seal(e, n, 1, NULL, FUZZ_RECIPIENT_ID, 0, &m);
  put(edir, "empty-seq1", s, m), free(s), free(e);
  static const uint8_t junk[] = {CODEC_VERSION, 3, 0x28, 0xb5, 0x2f, 0xfd, 0, 0};
  s = seal(junk, sizeof junk, 1, NULL, FUZZ_RECIPIENT_ID, 0, &m);
  put(edir, "bad-batch-inside", s, m), free(s);

  change_batch_free(empty);
  change_batch_free(variety);
  change_batch_free(recs);
  change_batch_free(dict);
  change_batch_free(tomb);
  return 0;
}
