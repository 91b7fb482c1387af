/*
 * gen_corpus.c — writes the seed corpus of the fuzz targets:
 *   gen_corpus ENVELOPE_DIR CODEC_DIR [HQ_DIR]
 * Codec seeds are encodings of the sample batches of tests/sync/batches.h;
 * envelope seeds are those sealed with the fixed identities of fuzz_keys.h
 * (plus one that carries bytes the codec refuses, a gap, a wrong recipient
 * and a truncation).  Head-office request seeds (fuzz_hq.h format) cover
 * every endpoint: health, enrollment of the seed identity, pushes the
 * harness seals (a customer with contacts and a meeting, raw, gap, replay,
 * fork, another manager's customer, an oversize declaration), pulls (first,
 * with a cursor, malformed) and unsigned or badly signed requests.  The
 * checked-in corpus was made with it; rerun it after a format change.
 * Envelopes use random nonces, so reruns differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "batches.h"
#include "codec.h"
#include "envelope.h"
#include "fuzz_hq.h"
#include "fuzz_keys.h"
#include "proto.h"
#include "util.h"

static void put(const char *dir, const char *name, const uint8_t *p, size_t n) {
  char path[4096];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "gen_corpus: cannot write %s\n", path);
    exit(1);
  }
}

static uint8_t *enc_of(fsi_batch *b, size_t *n) {
  uint8_t *e = NULL;
  if (fsi_codec_encode(b, &e, n) != 0) {
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
  static fsi_keys s, r;
  static int init;
  fsi_envelope_header h;
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
  if (fsi_envelope_seal(&e, outlen, &h, plain, n, &s, &r.pub) != 0) {
    fprintf(stderr, "gen_corpus: %s\n", fs_errmsg());
    exit(1);
  }
  return e;
}

/* ------------------------------------------------ head-office requests */

/* One fuzz_hq input: the fixed bytes, the seven fields, the body. */
static void put_req(const char *dir, const char *name, uint8_t flags, int toff, int lie, int delta,
                    const char *const fields[FUZZ_HQ_FIELDS], const uint8_t *body, size_t blen) {
  size_t n = FUZZ_HQ_FIXED + blen;
  for (int i = 0; i < FUZZ_HQ_FIELDS; i++) n += strlen(fields[i] ? fields[i] : "") + 1;
  uint8_t *p = malloc(n), *w = p;
  *w++ = flags;
  *w++ = (uint8_t)(toff & 0xff);
  *w++ = (uint8_t)((toff >> 8) & 0xff);
  *w++ = (uint8_t)(int8_t)lie;
  *w++ = (uint8_t)(int8_t)delta;
  for (int i = 0; i < FUZZ_HQ_FIELDS; i++) {
    size_t l = strlen(fields[i] ? fields[i] : "");
    memcpy(w, fields[i] ? fields[i] : "", l);
    w += l;
    *w++ = '\n';
  }
  if (blen) memcpy(w, body, blen);
  put(dir, name, p, n);
  free(p);
}

/* A SEAL|RAW request: the uncompressed body of encoding e. */
static void put_raw_req(const char *dir, const char *name, uint8_t flags,
                        const char *const fields[FUZZ_HQ_FIELDS], const uint8_t *e, size_t n) {
  size_t off = 1;
  while (e[off] & 0x80) off++;
  off++;
  unsigned long long sz = ZSTD_getFrameContentSize(e + off, n - off);
  uint8_t *raw = malloc(sz ? sz : 1);
  if (ZSTD_decompress(raw, sz, e + off, n - off) != sz) exit(1);
  put_req(dir, name, flags, 0, 0, 0, fields, raw, sz);
  free(raw);
}

static void put_simple(const char *dir, const char *name, uint8_t flags, const char *method,
                       const char *path, const char *query, const char *body) {
  const char *f[FUZZ_HQ_FIELDS] = {method, path, query, NULL, NULL, NULL, NULL};
  put_req(dir, name, flags, 0, 0, 0, f, (const uint8_t *)body, body ? strlen(body) : 0);
}

static fsi_value hq_text(fsi_batch *b, const char *s) { return tb_text(b, s); }

/* A customer of `manager` with a contact and a meeting, written by the
 * fuzz device at clock hlc: what a real device would push. */
static fsi_batch *hq_batch(const char *manager, const char *cust_id, int64_t hlc) {
  static const char *const cc[] = {"name", "status", "manager"};
  static const char *const kc[] = {"customer_id", "name"};
  static const char *const mc[] = {"customer_id", "at", "kind"};
  fsi_batch *b = fsi_change_batch_new();
  b->ntables = 3;
  b->tables = fsi_arena_alloc(b->arena, 3 * sizeof *b->tables);
  b->tables[0] = (fsi_batch_table){"customers", 3, (const char **)cc};
  b->tables[1] = (fsi_batch_table){"contacts", 2, (const char **)kc};
  b->tables[2] = (fsi_batch_table){"meetings", 3, (const char **)mc};
  b->nrows = 3;
  b->rows = fsi_arena_alloc(b->arena, 3 * sizeof *b->rows);
  memset(b->rows, 0, 3 * sizeof *b->rows);
  static const char *const pks[] = {NULL, "019b8d2b-8c00-76b8-b9e4-6c71acdfd700",
                                    "019b8d2b-8c00-76b8-b9e4-6c71acdfd701"};
  for (size_t i = 0; i < 3; i++) {
    fsi_rowchange *r = &b->rows[i];
    r->table = (uint16_t)i;
    r->pk = i ? pks[i] : cust_id;
    r->cl = 1;
    r->hlc = hlc + (int64_t)i;
    r->site = FUZZ_HQ_DEVICE_ID;
    r->nvals = b->tables[i].ncols;
    r->vals = fsi_arena_alloc(b->arena, r->nvals * sizeof *r->vals);
  }
  fsi_value *v = b->rows[0].vals;
  v[0] = hq_text(b, "Acme GmbH"), v[1] = hq_text(b, "active"), v[2] = hq_text(b, manager);
  v = b->rows[1].vals;
  v[0] = hq_text(b, cust_id), v[1] = hq_text(b, "Eva Muster");
  v = b->rows[2].vals;
  v[0] = hq_text(b, cust_id), v[1] = hq_text(b, "2026-01-05T10:00:00Z"), v[2] = hq_text(b, "visit");
  b->hlc_min = hlc;
  b->hlc_max = hlc + 2;
  return b;
}

static void gen_hq(const char *dir) {
  const uint8_t S = FUZZ_HQ_SIGN | FUZZ_HQ_DEVICE;
  char zeros[65], cur[64], q[200], hex[KEYS_PUB_HEX_SIZE], body[600];
  fsi_keys enr;
  size_t n;
  memset(zeros, '0', 64);
  zeros[64] = '\0';

  put_simple(dir, "health", 0, "GET", "/v1/health", NULL, NULL);
  put_simple(dir, "health-post", FUZZ_HQ_ALWAYS, "POST", "/v1/health", NULL, "x");
  put_simple(dir, "no-endpoint", 0, "GET", "/v1/nothing", "a=b", NULL);

  (void)fsi_keys_init();
  fuzz_identity(&enr, FUZZ_HQ_ENROLLER_TAG);
  fsi_keys_pub_to_hex(hex, &enr.pub);
  snprintf(body, sizeof body,
           "{\"token\":\"%s\",\"device_id\":\"%s\",\"manager\":\"%s\",\"keys\":\"%s\"}",
           FUZZ_HQ_TOKEN_SLOT, FUZZ_HQ_ENROLLER_HEX, FUZZ_HQ_MANAGER, hex);
  put_simple(dir, "enroll", S | FUZZ_HQ_ENROLLER, "POST", "/v1/enroll", NULL, body);
  put_simple(dir, "enroll-unsigned", 0, "POST", "/v1/enroll", NULL, body);
  put_simple(dir, "enroll-malformed", S | FUZZ_HQ_ENROLLER, "POST", "/v1/enroll", NULL,
             "{\"token\":1}");
  fsi_keys_wipe(&enr);

  snprintf(q, sizeof q, "seq=0&prev=%s", zeros);
  put_simple(dir, "pull-first", S, "GET", "/v1/pull", q, NULL);
  fsi_proto_hex(cur, (const uint8_t *)"0.-1.", 5);
  snprintf(q, sizeof q, "cursor=%s&seq=0&prev=%s", cur, zeros);
  put_simple(dir, "pull-cursor", S | FUZZ_HQ_NO_ADMIT, "GET", "/v1/pull", q, NULL);
  put_simple(dir, "pull-malformed", S, "GET", "/v1/pull", "cursor=abc&seq=x", NULL);
  {
    const char *f[FUZZ_HQ_FIELDS] = {"GET", "/v1/pull", q, NULL, NULL, NULL, NULL};
    put_req(dir, "pull-clock-ahead", S, 600, 0, 0, f, NULL, 0);
    put_req(dir, "pull-clock-behind", S, -600, 0, 0, f, NULL, 0);
    const char *g[FUZZ_HQ_FIELDS] = {"GET",
                                     "/v1/pull",
                                     q,
                                     FUZZ_HQ_DEVICE_HEX,
                                     "1767600000000",
                                     "00112233445566778899aabbccddeeff",
                                     "ab"};
    put_req(dir, "pull-badly-signed", FUZZ_HQ_ALWAYS, 0, 0, 0, g, NULL, 0);
  }

  const uint8_t P = S | FUZZ_HQ_SEAL;
  const char *pf[FUZZ_HQ_FIELDS] = {"POST", "/v1/push", NULL, NULL, NULL, NULL, NULL};
  int64_t hlc = fsi_util_now_ms() << 16;
  fsi_batch *b = hq_batch(FUZZ_HQ_MANAGER, "019b8d2b-8c00-76b8-b9e4-6c71acdfd6ff", hlc);
  uint8_t *e = enc_of(b, &n);
  put_req(dir, "push-customer", P, 0, 0, 0, pf, e, n);
  put_req(dir, "push-gap", P, 0, 0, 2, pf, e, n);
  put_req(dir, "push-replay", P, 0, 0, -1, pf, e, n);
  put_req(dir, "push-fork", P, 0, 0, 127, pf, e, n);
  put_req(dir, "push-oversize", S | FUZZ_HQ_ALWAYS | FUZZ_HQ_LIE, 0, -128, 0, pf, e, n);
  put_req(dir, "push-length-lie", P | FUZZ_HQ_LIE, 0, 3, 0, pf, e, n);
  put_req(dir, "push-unsealed", S, 0, 0, 0, pf, e, n);
  put_raw_req(dir, "push-raw", P | FUZZ_HQ_RAW, pf, e, n);
  free(e);
  fsi_change_batch_free(b);
  b = hq_batch("bob", "019b8d2b-8c00-76b8-b9e4-6c71acdfd6fe", hlc);
  e = enc_of(b, &n);
  put_req(dir, "push-other-manager", P, 0, 0, 0, pf, e, n);
  free(e);
  fsi_change_batch_free(b);
  e = enc_of(b = fsi_change_batch_new(), &n);
  put_req(dir, "push-empty-batch", P, 0, 0, 0, pf, e, n);
  free(e);
  fsi_change_batch_free(b);
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: gen_corpus ENVELOPE_DIR CODEC_DIR [HQ_DIR]\n");
    return 2;
  }
  const char *edir = argv[1], *cdir = argv[2];
  fsi_batch *empty = fsi_change_batch_new(), *variety = tb_variety();
  fsi_batch *recs = tb_records(6, 0, 77), *dict = tb_records(0, 0, 77);
  fsi_batch *tomb = tb_records(4, 1, 78);
  size_t n, m;
  uint8_t *e, *v, *s, hash[ENVELOPE_HASH_SIZE];

  for (size_t i = 1; i < tomb->nrows; i += 2) {
    tomb->rows[i].cl = 2;
    tomb->rows[i].nvals = 0;
    tomb->rows[i].seen = tomb->rows[i].hlc - 1;
  }
  e = enc_of(empty, &n), put(cdir, "empty", e, n), free(e);
  e = enc_of(dict, &n), put(cdir, "dictionary-only", e, n), free(e);
  e = enc_of(recs, &n), put(cdir, "records-6", e, n), put_raw(cdir, "raw-records-6", e, n), free(e);
  e = enc_of(tomb, &n), put(cdir, "tombstones", e, n), free(e);
  v = enc_of(variety, &n), put(cdir, "variety", v, n), put_raw(cdir, "raw-variety", v, n);
  put(cdir, "variety-truncated", v, n / 2);

  s = seal(v, n, 1, NULL, FUZZ_RECIPIENT_ID, (uint32_t)variety->nrows, &m);
  put(edir, "variety-seq1", s, m);
  put(edir, "variety-truncated", s, m - 7);
  fsi_envelope_hash(hash, s, m);
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

  fsi_change_batch_free(empty);
  fsi_change_batch_free(variety);
  fsi_change_batch_free(recs);
  fsi_change_batch_free(dict);
  fsi_change_batch_free(tomb);
  if (argc == 4) gen_hq(argv[3]);
  return 0;
}
