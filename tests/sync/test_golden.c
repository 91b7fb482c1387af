/*
 * test_golden.c — format stability of the envelope (sync/envelope.c) and
 * the pull frame around it: envelopes sealed once, with FIXED keys, by an
 * earlier build and checked in as tests/sync/golden/envelope-v1.txt must
 * keep opening, in every later build, to exactly the plaintext and batch
 * they were sealed with.
 *
 * A round trip inside one build cannot catch a change that seal and open
 * make together (the header dropped from the AEAD associated data, another
 * key derivation, another field order): both sides agree and every other
 * test passes, while every device in the field can no longer talk to head
 * office.  Only bytes made by the old code catch that.
 *
 * Sealing is NOT deterministic (a random 24-byte nonce per envelope), so
 * the test never compares a fresh seal with the golden bytes: it opens the
 * golden bytes, and checks that two fresh seals of the same input differ
 * yet both open to the same plaintext.
 *
 * The keys are derived from fixed seeds (crypto_sign_seed_keypair and
 * crypto_kx_seed_keypair into the fsi_keys layout of sync/keys.h); the file
 * also records both fingerprints, so a different key derivation is told
 * apart from a different envelope format.
 *
 * Regenerating (only for a deliberate, versioned format change — old
 * devices will no longer read the new format):
 *     build/test_golden --write tests/sync/golden
 * then review and commit the new file.  Without arguments the program reads
 * $FS_SOURCE_DIR/tests/sync/golden (set by CTest); `test_golden DIR` reads
 * DIR.
 *
 * File format: '#' comment lines, then "NAME HEX" lines: dev.fingerprint,
 * srv.fingerprint, push.plain, push.envelope (device -> head office,
 * sequence 1), pull.plain, pull.envelope (head office -> device, sequence 2
 * after a fixed previous hash; the plaintext a pull frame).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envelope.h"
#include "keys.h"
#include "proto.h"
#include "testutil.h"

#define DEV_ID INT64_C(0x1d2c3b4a59687701)
#define SRV_ID INT64_C(0x5e4d3c2b1a090807)
#define GOLDEN_FILE "envelope-v1.txt"
#define PULL_CURSOR "42.7.019b8d2b-8c00-76b8-b9e4-6c71acdfd63c"
#define H0 ((int64_t)1767600000000 << 16) /* 2026-01-05, a clock */

static fsi_keys dev, srv;

/* ------------------------------------------------------- fixed inputs */

static void fixed_keys(fsi_keys *k, const char *name) {
  uint8_t seed[32];
  memset(k, 0, sizeof *k);
  /* seed = BLAKE2b-256("fieldsync golden <name> sign|kx"): fixed, distinct */
  char label[64];
  snprintf(label, sizeof label, "fieldsync golden %s sign", name);
  crypto_generichash(seed, sizeof seed, (const uint8_t *)label, strlen(label), NULL, 0);
  crypto_sign_seed_keypair(k->pub.sign, k->sign_sk, seed);
  snprintf(label, sizeof label, "fieldsync golden %s kx", name);
  crypto_generichash(seed, sizeof seed, (const uint8_t *)label, strlen(label), NULL, 0);
  crypto_kx_seed_keypair(k->pub.kx, k->kx_sk, seed);
  sodium_memzero(seed, sizeof seed);
}

static const char *const CUST_COLS[3] = {"name", "city", "status"};
static const char *const LINE_COLS[3] = {"qty", "unit_price", "sku"};

static fsi_value v_text(const char *s) {
  return (fsi_value){FS_VAL_TEXT, 0, s, (uint32_t)strlen(s)};
}
static fsi_value v_int(int64_t i) { return (fsi_value){FS_VAL_INT, i, NULL, 0}; }
static fsi_value v_null(void) { return (fsi_value){FS_VAL_NULL, 0, NULL, 0}; }

/* The known batch: two tables; a live customer with non-ASCII text, a NULL
 * and an edited cell with its base; a tombstone with `seen`; an order line
 * with integers (one negative). */
static fsi_batch *known_batch(void) {
  fsi_batch *b = fsi_change_batch_new();
  fsi_rowchange *r;
  b->ntables = 2;
  b->tables = fsi_arena_alloc(b->arena, 2 * sizeof *b->tables);
  b->tables[0] = (fsi_batch_table){"customers", 3, (const char **)CUST_COLS};
  b->tables[1] = (fsi_batch_table){"order_lines", 3, (const char **)LINE_COLS};
  b->nrows = 3;
  b->rows = fsi_arena_alloc(b->arena, 3 * sizeof *b->rows);
  memset(b->rows, 0, 3 * sizeof *b->rows);

  r = &b->rows[0];
  r->table = 0;
  r->pk = "019b8d2b-8c00-76b8-b9e4-6c71acdfd63c";
  r->cl = 1;
  r->hlc = H0 + 1;
  r->site = DEV_ID;
  r->nvals = 3;
  r->vals = fsi_arena_alloc(b->arena, 3 * sizeof *r->vals);
  r->vals[0] = v_text("Nordwind Büro GmbH");
  r->vals[1] = v_text("Malmö");
  r->vals[2] = v_null();
  r->ncells = 1;
  r->cells = fsi_arena_alloc(b->arena, sizeof *r->cells);
  r->cells[0] = (fsi_cell){1, H0 + 7, DEV_ID, H0 + 1, DEV_ID};

  r = &b->rows[1];
  r->table = 0;
  r->pk = "019b8d2b-8c00-76b8-b9e4-6c71acdfd63d";
  r->cl = 2;
  r->hlc = H0 + 9;
  r->site = DEV_ID;
  r->seen = H0 + 3;

  r = &b->rows[2];
  r->table = 1;
  r->pk = "019b8d2b-8c01-7000-8000-000000000001";
  r->cl = 1;
  r->hlc = H0 + 5;
  r->site = DEV_ID;
  r->nvals = 3;
  r->vals = fsi_arena_alloc(b->arena, 3 * sizeof *r->vals);
  r->vals[0] = v_int(40);
  r->vals[1] = v_int(-28900);
  r->vals[2] = v_text("CHAIR-01");
  b->hlc_min = H0 + 1;
  b->hlc_max = H0 + 9;
  return b;
}

/* Asserts, field by field, that b is the known batch. */
static void check_known_batch(const fsi_batch *b) {
  CHECK_EQ_INT(b->ntables, 2);
  CHECK_EQ_INT(b->nrows, 3);
  if (b->ntables != 2 || b->nrows != 3) return;
  CHECK_STR(b->tables[0].name, "customers");
  CHECK_EQ_INT(b->tables[0].ncols, 3);
  CHECK_STR(b->tables[1].name, "order_lines");
  CHECK_EQ_INT(b->tables[1].ncols, 3);
  if (b->tables[0].ncols != 3 || b->tables[1].ncols != 3) return;
  for (int i = 0; i < 3; i++) {
    CHECK_STR(b->tables[0].cols[i], CUST_COLS[i]);
    CHECK_STR(b->tables[1].cols[i], LINE_COLS[i]);
  }
  const fsi_rowchange *r = &b->rows[0];
  CHECK_EQ_INT(r->table, 0);
  CHECK_STR(r->pk, "019b8d2b-8c00-76b8-b9e4-6c71acdfd63c");
  CHECK_EQ_INT(r->cl, 1);
  CHECK_EQ_INT(r->hlc, H0 + 1);
  CHECK_EQ_INT(r->site, DEV_ID);
  CHECK_EQ_INT(r->nvals, 3);
  CHECK_EQ_INT(r->ncells, 1);
  if (r->nvals == 3) {
    CHECK_EQ_INT(r->vals[0].type, FS_VAL_TEXT);
    CHECK_STR(r->vals[0].s, "Nordwind Büro GmbH");
    CHECK_EQ_INT(r->vals[0].n, strlen("Nordwind Büro GmbH"));
    CHECK_STR(r->vals[1].s, "Malmö");
    CHECK_EQ_INT(r->vals[2].type, FS_VAL_NULL);
  }
  if (r->ncells == 1) {
    CHECK_EQ_INT(r->cells[0].col, 1);
    CHECK_EQ_INT(r->cells[0].hlc, H0 + 7);
    CHECK_EQ_INT(r->cells[0].site, DEV_ID);
    CHECK_EQ_INT(r->cells[0].bhlc, H0 + 1);
    CHECK_EQ_INT(r->cells[0].bsite, DEV_ID);
  }
  r = &b->rows[1];
  CHECK_EQ_INT(r->table, 0);
  CHECK_STR(r->pk, "019b8d2b-8c00-76b8-b9e4-6c71acdfd63d");
  CHECK_EQ_INT(r->cl, 2);
  CHECK_EQ_INT(r->hlc, H0 + 9);
  CHECK_EQ_INT(r->site, DEV_ID);
  CHECK_EQ_INT(r->seen, H0 + 3);
  CHECK_EQ_INT(r->nvals, 0);
  CHECK_EQ_INT(r->ncells, 0);
  r = &b->rows[2];
  CHECK_EQ_INT(r->table, 1);
  CHECK_STR(r->pk, "019b8d2b-8c01-7000-8000-000000000001");
  CHECK_EQ_INT(r->cl, 1);
  CHECK_EQ_INT(r->hlc, H0 + 5);
  CHECK_EQ_INT(r->nvals, 3);
  if (r->nvals == 3) {
    CHECK_EQ_INT(r->vals[0].type, FS_VAL_INT);
    CHECK_EQ_INT(r->vals[0].i, 40);
    CHECK_EQ_INT(r->vals[1].i, -28900);
    CHECK_STR(r->vals[2].s, "CHAIR-01");
  }
}

/* The fixed previous hash of the pull envelope (sequence 2). */
static void pull_prev(uint8_t prev[ENVELOPE_HASH_SIZE]) {
  crypto_generichash(prev, ENVELOPE_HASH_SIZE, (const uint8_t *)"fieldsync golden prev", 21, NULL,
                     0);
}

static fsi_envelope_header push_header(const fsi_batch *b) {
  fsi_envelope_header h;
  memset(&h, 0, sizeof h);
  h.sender = DEV_ID;
  h.recipient = SRV_ID;
  h.seq = 1;
  h.hlc_min = b->hlc_min;
  h.hlc_max = b->hlc_max;
  h.count = (uint32_t)b->nrows;
  return h;
}

static fsi_envelope_header pull_header(const fsi_batch *b) {
  fsi_envelope_header h = push_header(b);
  h.sender = SRV_ID;
  h.recipient = DEV_ID;
  h.seq = 2;
  pull_prev(h.prev);
  return h;
}

/* ------------------------------------------------------ golden file */

typedef struct blob {
  uint8_t *p;
  size_t n;
} blob;

typedef struct golden {
  char dev_fp[KEYS_FINGERPRINT_SIZE], srv_fp[KEYS_FINGERPRINT_SIZE];
  blob push_plain, push_env, pull_plain, pull_env;
} golden;

static void golden_free(golden *g) {
  free(g->push_plain.p);
  free(g->push_env.p);
  free(g->pull_plain.p);
  free(g->pull_env.p);
  memset(g, 0, sizeof *g);
}

static int unhex_blob(blob *out, const char *hex, size_t len) {
  if (len % 2) return 0;
  out->n = len / 2;
  out->p = malloc(out->n ? out->n : 1);
  if (!out->p) return 0;
  for (size_t i = 0; i < out->n; i++) {
    unsigned v;
    char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
    if (!strchr("0123456789abcdef", two[0]) || !strchr("0123456789abcdef", two[1]) ||
        sscanf(two, "%2x", &v) != 1)
      return 0;
    out->p[i] = (uint8_t)v;
  }
  return 1;
}

/* Parses the golden file text; 0 when a line is malformed or one is
 * missing. */
static int golden_parse(golden *g, char *text) {
  memset(g, 0, sizeof *g);
  int seen = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#' || line[0] == '\0') continue;
    char *sp = strchr(line, ' ');
    if (!sp) return 0;
    *sp = '\0';
    const char *name = line, *hex = sp + 1;
    size_t n = strlen(hex);
    if (!strcmp(name, "dev.fingerprint") && n == 64) {
      memcpy(g->dev_fp, hex, 65);
      seen |= 1;
    } else if (!strcmp(name, "srv.fingerprint") && n == 64) {
      memcpy(g->srv_fp, hex, 65);
      seen |= 2;
    } else if (!strcmp(name, "push.plain") && unhex_blob(&g->push_plain, hex, n)) {
      seen |= 4;
    } else if (!strcmp(name, "push.envelope") && unhex_blob(&g->push_env, hex, n)) {
      seen |= 8;
    } else if (!strcmp(name, "pull.plain") && unhex_blob(&g->pull_plain, hex, n)) {
      seen |= 16;
    } else if (!strcmp(name, "pull.envelope") && unhex_blob(&g->pull_env, hex, n)) {
      seen |= 32;
    } else {
      return 0;
    }
  }
  return seen == 63;
}

static void put_hex(FILE *f, const char *name, const uint8_t *p, size_t n) {
  fprintf(f, "%s ", name);
  for (size_t i = 0; i < n; i++) fprintf(f, "%02x", p[i]);
  fputc('\n', f);
}

/* Seals the known batch both ways and writes DIR/envelope-v1.txt. */
static int write_golden(const char *dir) {
  fsi_batch *b = known_batch();
  uint8_t *enc = NULL, *push = NULL, *pull = NULL, *frame = NULL;
  size_t enclen = 0, pushlen = 0, pulllen = 0, framelen = 0;
  char fp[KEYS_FINGERPRINT_SIZE], path[1024];
  int rc = 1;
  if (fsi_codec_encode(b, &enc, &enclen)) goto done;
  fsi_envelope_header h = push_header(b);
  if (fsi_envelope_seal(&push, &pushlen, &h, enc, enclen, &dev, &srv.pub)) goto done;
  fsi_proto_pull_info info;
  memset(&info, 0, sizeof info);
  info.more = 1;
  snprintf(info.cursor, sizeof info.cursor, "%s", PULL_CURSOR);
  frame = fsi_proto_pull_frame(&info, enc, enclen, &framelen);
  if (!frame) goto done;
  h = pull_header(b);
  if (fsi_envelope_seal(&pull, &pulllen, &h, frame, framelen, &srv, &dev.pub)) goto done;
  snprintf(path, sizeof path, "%s/%s", dir, GOLDEN_FILE);
  FILE *f = fopen(path, "w");
  if (!f) goto done;
  fprintf(f,
          "# fieldsync golden envelopes, envelope format version %d (docs/protocol.md,\n"
          "# \"## Envelope\"), sealed with the fixed keys of tests/sync/test_golden.c.\n"
          "# Every later build must open these bytes to the same plaintext.  Do not edit;\n"
          "# regenerate only for a deliberate format change:\n"
          "#     test_golden --write tests/sync/golden\n",
          ENVELOPE_VERSION);
  fsi_keys_fingerprint(fp, &dev.pub);
  fprintf(f, "dev.fingerprint %s\n", fp);
  fsi_keys_fingerprint(fp, &srv.pub);
  fprintf(f, "srv.fingerprint %s\n", fp);
  put_hex(f, "push.plain", enc, enclen);
  put_hex(f, "push.envelope", push, pushlen);
  put_hex(f, "pull.plain", frame, framelen);
  put_hex(f, "pull.envelope", pull, pulllen);
  rc = fclose(f) != 0;
  if (!rc) printf("wrote %s\n", path);
done:
  if (rc) fprintf(stderr, "test_golden --write failed: %s\n", fs_errmsg());
  free(enc);
  free(push);
  free(pull);
  free(frame);
  fsi_change_batch_free(b);
  return rc;
}

/* ------------------------------------------------------------ tests */

static golden g;
static int g_loaded;

static void test_keys_are_the_fixed_ones(void) {
  char fp[KEYS_FINGERPRINT_SIZE];
  fsi_keys_fingerprint(fp, &dev.pub);
  CHECK_STR(fp, g.dev_fp);
  fsi_keys_fingerprint(fp, &srv.pub);
  CHECK_STR(fp, g.srv_fp);
}

static void test_push_opens(void) {
  fsi_envelope_chain c;
  fsi_envelope_opened o;
  memset(&c, 0, sizeof c);
  int rc = fsi_envelope_open(&o, g.push_env.p, g.push_env.n, SRV_ID, &srv, DEV_ID, &dev.pub, &c);
  CHECK_OK(rc);
  if (rc) return;
  CHECK_EQ_INT(o.duplicate, 0);
  CHECK_EQ_INT(o.h.sender, DEV_ID);
  CHECK_EQ_INT(o.h.recipient, SRV_ID);
  CHECK_EQ_INT(o.h.seq, 1);
  CHECK_EQ_INT(o.h.count, 3);
  CHECK_EQ_INT(o.h.hlc_min, H0 + 1);
  CHECK_EQ_INT(o.h.hlc_max, H0 + 9);
  CHECK(sodium_is_zero(o.h.prev, ENVELOPE_HASH_SIZE));
  /* the exact plaintext it was sealed with ... */
  CHECK_EQ_INT(o.plainlen, g.push_plain.n);
  CHECK(o.plain && o.plainlen == g.push_plain.n &&
        memcmp(o.plain, g.push_plain.p, o.plainlen) == 0);
  /* ... which is still the known batch */
  fsi_batch *b = fsi_change_batch_new();
  CHECK_OK(fsi_codec_decode(b, o.plain, o.plainlen));
  check_known_batch(b);
  CHECK_OK(fsi_envelope_check_batch(&o.h, b));
  /* the chain hash is over the signed part, as protocol.md says */
  uint8_t hash[ENVELOPE_HASH_SIZE], expect[ENVELOPE_HASH_SIZE];
  CHECK_OK(fsi_envelope_hash(hash, g.push_env.p, g.push_env.n));
  crypto_generichash(expect, sizeof expect, g.push_env.p, g.push_env.n - ENVELOPE_SIG_SIZE, NULL,
                     0);
  CHECK(memcmp(hash, expect, sizeof hash) == 0);
  CHECK(memcmp(hash, o.hash, sizeof hash) == 0);
  fsi_change_batch_free(b);
  fsi_envelope_opened_clear(&o);
}

static void test_pull_opens(void) {
  fsi_envelope_chain c;
  fsi_envelope_opened o;
  memset(&c, 0, sizeof c);
  c.seq = 1;
  pull_prev(c.hash);
  int rc = fsi_envelope_open(&o, g.pull_env.p, g.pull_env.n, DEV_ID, &dev, SRV_ID, &srv.pub, &c);
  CHECK_OK(rc);
  if (rc) return;
  CHECK_EQ_INT(o.h.sender, SRV_ID);
  CHECK_EQ_INT(o.h.recipient, DEV_ID);
  CHECK_EQ_INT(o.h.seq, 2);
  CHECK(memcmp(o.h.prev, c.hash, ENVELOPE_HASH_SIZE) == 0);
  CHECK(o.plain && o.plainlen == g.pull_plain.n &&
        memcmp(o.plain, g.pull_plain.p, o.plainlen) == 0);
  fsi_proto_pull_info info;
  const unsigned char *body = NULL;
  size_t bodylen = 0;
  CHECK_OK(fsi_proto_pull_parse(&info, o.plain, o.plainlen, &body, &bodylen));
  CHECK_EQ_INT(info.more, 1);
  CHECK_STR(info.cursor, PULL_CURSOR);
  CHECK_STR(info.epoch, ""); /* a frame of before epochs still reads */
  CHECK_EQ_INT(info.has_push, 0);
  fsi_batch *b = fsi_change_batch_new();
  CHECK_OK(fsi_codec_decode(b, body, bodylen));
  check_known_batch(b);
  CHECK_OK(fsi_envelope_check_batch(&o.h, b));
  fsi_change_batch_free(b);
  fsi_envelope_opened_clear(&o);
  /* Only the party it was sealed for, from the key it was signed with,
   * opens it. */
  memset(&c, 0, sizeof c);
  CHECK_ERR(fsi_envelope_open(&o, g.pull_env.p, g.pull_env.n, SRV_ID, &srv, DEV_ID, &dev.pub, &c),
            FS_EAUTH);
}

/* The header is bound into the AEAD: a header changed and signed again
 * with the sender's key (so the signature verifies) no longer decrypts. */
static void test_header_is_associated_data(void) {
  /* The golden envelope, and one this build seals now: this build must
   * bind the header too (the golden bytes alone would fail to open in a
   * build that does not, and so fail for another reason). */
  fsi_batch *batch = known_batch();
  uint8_t *enc = NULL, *fresh = NULL;
  size_t enclen = 0, freshlen = 0;
  CHECK_OK(fsi_codec_encode(batch, &enc, &enclen));
  fsi_envelope_header h = push_header(batch);
  CHECK_OK(fsi_envelope_seal(&fresh, &freshlen, &h, enc, enclen, &dev, &srv.pub));
  const blob sources[2] = {g.push_env, {fresh, freshlen}};
  static const size_t offsets[] = {72 /* hlc_max */, 80 /* count */, 64 /* hlc_min */};
  for (size_t src = 0; src < 2; src++) {
    if (!sources[src].p) continue;
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
      size_t n = sources[src].n;
      uint8_t *e = malloc(n);
      if (!e) abort();
      memcpy(e, sources[src].p, n);
      if (offsets[k] == 64)
        e[64] ^= 0x01; /* hlc_min one lower or higher, still <= hlc_max */
      else if (offsets[k] == 80)
        e[80] ^= 0x01; /* count 3 -> 2 */
      else
        e[72] ^= 0x10; /* hlc_max higher */
      size_t ct = n - ENVELOPE_HEADER_SIZE - ENVELOPE_SIG_SIZE;
      crypto_sign_detached(e + ENVELOPE_HEADER_SIZE + ct, NULL, e, ENVELOPE_HEADER_SIZE + ct,
                           dev.sign_sk);
      fsi_envelope_chain c;
      fsi_envelope_opened o;
      memset(&c, 0, sizeof c);
      CHECK_ERR(fsi_envelope_open(&o, e, n, SRV_ID, &srv, DEV_ID, &dev.pub, &c), FS_EAUTH);
      CHECK_CONTAINS(fs_errmsg(), "could not be decrypted");
      CHECK(o.plain == NULL);
      fsi_envelope_opened_clear(&o);
      free(e);
    }
  }
  free(fresh);
  free(enc);
  fsi_change_batch_free(batch);
}

/* Sealing is randomized (a fresh nonce each time): two seals of the same
 * input differ, and both open to it.  Only opening is pinned by the golden
 * file; this build's seal must also open with this build. */
static void test_sealing_is_not_deterministic(void) {
  fsi_batch *b = known_batch();
  uint8_t *enc = NULL, *s1 = NULL, *s2 = NULL;
  size_t enclen = 0, n1 = 0, n2 = 0;
  CHECK_OK(fsi_codec_encode(b, &enc, &enclen));
  fsi_envelope_header h = push_header(b);
  CHECK_OK(fsi_envelope_seal(&s1, &n1, &h, enc, enclen, &dev, &srv.pub));
  CHECK_OK(fsi_envelope_seal(&s2, &n2, &h, enc, enclen, &dev, &srv.pub));
  CHECK_EQ_INT(n1, n2);
  if (s1 && s2 && n1 == n2) {
    CHECK(memcmp(s1, s2, 88) == 0); /* same header fields before the nonce */
    CHECK(memcmp(s1 + 88, s2 + 88, 24) != 0);
    CHECK(memcmp(s1, s2, n1) != 0);
    for (int i = 0; i < 2; i++) {
      fsi_envelope_chain c;
      fsi_envelope_opened o;
      memset(&c, 0, sizeof c);
      CHECK_OK(fsi_envelope_open(&o, i ? s2 : s1, n1, SRV_ID, &srv, DEV_ID, &dev.pub, &c));
      CHECK(o.plain && o.plainlen == enclen && memcmp(o.plain, enc, enclen) == 0);
      fsi_batch *d = fsi_change_batch_new();
      CHECK_OK(fsi_codec_decode(d, o.plain, o.plainlen));
      check_known_batch(d);
      fsi_change_batch_free(d);
      fsi_envelope_opened_clear(&o);
    }
  }
  /* The golden envelope has the same length as a fresh one: the format's
   * overhead did not change either. */
  CHECK_EQ_INT(g.push_env.n, ENVELOPE_OVERHEAD + g.push_plain.n);
  free(enc);
  free(s1);
  free(s2);
  fsi_change_batch_free(b);
}

int main(int argc, char **argv) {
  CHECK_OK(fsi_keys_init());
  fixed_keys(&dev, "device");
  fixed_keys(&srv, "head office");
  if (argc == 3 && !strcmp(argv[1], "--write")) return write_golden(argv[2]);
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: test_golden [DIR] | test_golden --write DIR\n");
    return 2;
  }
  char path[1024];
  const char *src = getenv("FS_SOURCE_DIR");
  if (argc == 2)
    snprintf(path, sizeof path, "%s/%s", argv[1], GOLDEN_FILE);
  else
    snprintf(path, sizeof path, "%s/tests/sync/golden/%s", src ? src : ".", GOLDEN_FILE);
  char *text = tu_read_file(path, NULL);
  tu_checks++;
  if (!text) {
    tu_fail(__FILE__, __LINE__, "cannot read the golden file %s", path);
  } else if (!(g_loaded = golden_parse(&g, text))) {
    tu_fail(__FILE__, __LINE__, "the golden file %s is malformed", path);
  }
  free(text);
  if (g_loaded) {
    TEST_RUN(test_keys_are_the_fixed_ones);
    TEST_RUN(test_push_opens);
    TEST_RUN(test_pull_opens);
    TEST_RUN(test_header_is_associated_data);
    TEST_RUN(test_sealing_is_not_deterministic);
  }
  golden_free(&g);
  fsi_keys_wipe(&dev);
  fsi_keys_wipe(&srv);
  return tu_finish();
}
