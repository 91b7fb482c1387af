/*
 * test_codec.c — sync/codec.c: batches round-trip exactly, and malformed
 * bytes are refused with their own error code and message.
 *
 * Malformed bodies are built two ways: by truncating, extending or
 * re-wrapping real encodings, and by crafting a one-table, one-row body
 * by hand (craft_*) following docs/protocol.md, one field wrong at a time —
 * which also checks that the document and the decoder agree.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "batches.h"
#include "codec.h"
#include "testutil.h"

/* ------------------------------------------------------------- helpers */

typedef struct tbuf {
  uint8_t p[1 << 16];
  size_t n;
} tbuf;

static void tput(tbuf *b, const void *src, size_t n) {
  if (n == 0) return;
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void tvar(tbuf *b, uint64_t v) {
  while (v >= 0x80) {
    b->p[b->n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b->p[b->n++] = (uint8_t)v;
}

/* version || varint(declared) || zstd(raw) into a malloc'd buffer. */
static uint8_t *wrap(const uint8_t *raw, size_t n, uint64_t declared, size_t *outlen) {
  size_t bound = ZSTD_compressBound(n);
  uint8_t *out = malloc(16 + bound);
  tbuf h = {.n = 0};
  h.p[h.n++] = CODEC_VERSION;
  tvar(&h, declared);
  memcpy(out, h.p, h.n);
  size_t z = ZSTD_compress(out + h.n, bound, raw, n, 3);
  *outlen = h.n + z;
  return out;
}

/* The decompressed body of an encoding (malloc'd). */
static uint8_t *unwrap(const uint8_t *enc, size_t len, size_t *rawlen) {
  size_t off = 1;
  while (enc[off] & 0x80) off++;
  off++;
  unsigned long long n = ZSTD_getFrameContentSize(enc + off, len - off);
  uint8_t *raw = malloc(n + 1);
  *rawlen = ZSTD_decompress(raw, n, enc + off, len - off);
  return raw;
}

static int decode_raw(fsi_batch *b, const uint8_t *raw, size_t n) {
  size_t len;
  uint8_t *enc = wrap(raw, n, n, &len);
  int rc = fsi_codec_decode(b, enc, len);
  free(enc);
  return rc;
}

static void roundtrip(const fsi_batch *in, size_t *enclen) {
  uint8_t *enc = NULL;
  size_t len = 0;
  fsi_batch *out = fsi_change_batch_new();
  CHECK_OK(fsi_codec_encode(in, &enc, &len));
  CHECK_OK(fsi_codec_decode(out, enc, len));
  CHECK(tb_equal(in, out));
  if (enclen) *enclen = len;
  free(enc);
  fsi_change_batch_free(out);
}

/* -------------------------------------------------------- round trips */

static void test_empty(void) {
  fsi_batch *b = fsi_change_batch_new();
  size_t len;
  roundtrip(b, &len);
  CHECK(len < 32);
  fsi_batch *d = tb_records(0, 0, 1); /* a dictionary but no rows */
  roundtrip(d, NULL);
  fsi_change_batch_free(b);
  fsi_change_batch_free(d);
}

static void test_one_record(void) {
  fsi_batch *b = tb_records(1, 0, 0x0123456789abcdef);
  fsi_batch *out = fsi_change_batch_new();
  uint8_t *enc = NULL;
  size_t len = 0;
  roundtrip(b, NULL);
  CHECK_OK(fsi_codec_encode(b, &enc, &len));
  CHECK_OK(fsi_codec_decode(out, enc, len));
  CHECK_STR(out->rows[0].pk, "019b8d2b-8c00-76b8-b9e4-6c71acdfd63c");
  CHECK_STR(out->rows[0].vals[0].s, "C03910");
  CHECK_EQ_INT(out->rows[0].vals[3].i, 797714);
  CHECK_EQ_INT(out->hlc_min, b->rows[0].hlc);
  CHECK_EQ_INT(out->hlc_max, b->rows[0].hlc);
  free(enc);
  fsi_change_batch_free(out);
  fsi_change_batch_free(b);
}

static void test_variety(void) {
  fsi_batch *b = tb_variety();
  fsi_batch *out = fsi_change_batch_new();
  uint8_t *enc = NULL, *enc2 = NULL;
  size_t len = 0, len2 = 0;
  roundtrip(b, NULL);
  CHECK_OK(fsi_codec_encode(b, &enc, &len));
  CHECK_OK(fsi_codec_decode(out, enc, len));
  CHECK_EQ_INT(out->rows[2].nvals, 0); /* tombstone */
  CHECK_EQ_INT(out->rows[2].seen, b->rows[2].seen);
  CHECK_EQ_INT(out->rows[1].cells[1].bhlc, b->rows[1].cells[1].bhlc);
  CHECK_EQ_INT(out->rows[0].vals[1].i, INT64_MIN);
  CHECK_EQ_INT(out->rows[1].vals[1].i, INT64_MAX);
  CHECK_EQ_INT(out->rows[0].vals[2].type, FS_VAL_NULL);
  CHECK_STR(out->rows[0].vals[0].s, "Zürich — 東京 🚀 GmbH");
  CHECK_EQ_INT(out->hlc_min, INT64_MIN);
  CHECK_EQ_INT(out->hlc_max, INT64_MAX);
  /* Deterministic: the same batch encodes to the same bytes. */
  CHECK_OK(fsi_codec_encode(out, &enc2, &len2));
  CHECK(len == len2 && memcmp(enc, enc2, len) == 0);
  /* Decoding into a batch that held something resets it first. */
  CHECK_OK(fsi_codec_decode(out, enc, len));
  CHECK(tb_equal(b, out));
  free(enc);
  free(enc2);
  fsi_change_batch_free(out);
  fsi_change_batch_free(b);
}

static void test_large(void) {
  fsi_batch *b = tb_records(20000, 3, 0x55aa55aa55aa55aa);
  size_t len = 0;
  roundtrip(b, &len);
  printf("# 20000 records encode to %zu bytes (%.1f bytes/record)\n", len, (double)len / 20000);
  CHECK(len < 20000 * 60); /* well under the 120 B/record budget */
  fsi_change_batch_free(b);
}

/* -------------------------------------------------------- encoder input */

static void test_encode_refuses(void) {
  fsi_batch *b = tb_variety();
  uint8_t *enc = (uint8_t *)"x";
  size_t len = 1;

  b->rows[0].nvals = 2;
  CHECK_ERR(fsi_codec_encode(b, &enc, &len), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "values for 3 columns");
  CHECK(enc == NULL && len == 0);
  b->rows[0].nvals = 3;

  b->rows[1].cells[1].col = 0;
  CHECK_ERR(fsi_codec_encode(b, &enc, &len), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "not sorted");
  b->rows[1].cells[1].col = 2;

  b->rows[0].vals[0].s = "\xc3\x28";
  b->rows[0].vals[0].n = 2;
  CHECK_ERR(fsi_codec_encode(b, &enc, &len), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "UTF-8");
  b->rows[0].vals[0] = tb_text(b, "ok");

  b->rows[3].cl = 0;
  CHECK_ERR(fsi_codec_encode(b, &enc, &len), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "causal length");
  b->rows[3].cl = 1;

  b->tables[1].name = "customers";
  CHECK_ERR(fsi_codec_encode(b, &enc, &len), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "twice");
  fsi_change_batch_free(b);

  b = tb_records(FS_BATCH_MAX_ROWS + 1, 0, 1);
  CHECK_ERR(fsi_codec_encode(b, &enc, &len), FS_ETOOBIG);
  fsi_change_batch_free(b);
}

/* ------------------------------------------------------ outer framing */

static void test_truncation_everywhere(void) {
  fsi_batch *b = tb_variety(), *out = fsi_change_batch_new();
  uint8_t *enc = NULL, *raw;
  size_t len = 0, rawlen = 0, bad = 0;
  CHECK_OK(fsi_codec_encode(b, &enc, &len));
  for (size_t n = 0; n < len; n++) {
    int rc = fsi_codec_decode(out, enc, n);
    if (rc != FS_ECORRUPT || !strstr(fs_errmsg(), "truncated") || out->nrows) {
      if (!bad++) tu_fail(__FILE__, __LINE__, "prefix %zu: rc %d, %s", n, rc, fs_errmsg());
    }
  }
  CHECK_EQ_INT(bad, 0);
  /* Inside the compressed body too: every prefix of the raw body. */
  raw = unwrap(enc, len, &rawlen);
  CHECK(rawlen > 100);
  bad = 0;
  for (size_t n = 0; n < rawlen; n++) {
    int rc = decode_raw(out, raw, n);
    if (rc != FS_ECORRUPT || !strstr(fs_errmsg(), "truncated") || out->nrows) {
      if (!bad++) tu_fail(__FILE__, __LINE__, "body prefix %zu: rc %d, %s", n, rc, fs_errmsg());
    }
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_OK(decode_raw(out, raw, rawlen));
  CHECK(tb_equal(b, out));
  free(raw);
  free(enc);
  fsi_change_batch_free(out);
  fsi_change_batch_free(b);
}

static void test_framing(void) {
  fsi_batch *b = tb_variety(), *out = fsi_change_batch_new();
  uint8_t *enc = NULL, *raw, *big, *re;
  size_t len = 0, rawlen = 0, relen;
  CHECK_OK(fsi_codec_encode(b, &enc, &len));
  raw = unwrap(enc, len, &rawlen);

  /* Unknown version. */
  enc[0] = 2;
  CHECK_ERR(fsi_codec_decode(out, enc, len), FS_EVERSION);
  CHECK_CONTAINS(fs_errmsg(), "version 2");
  enc[0] = CODEC_VERSION;

  /* Declared size lies (either way). */
  re = wrap(raw, rawlen, rawlen + 1, &relen);
  CHECK_ERR(fsi_codec_decode(out, re, relen), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "declares");
  free(re);
  re = wrap(raw, rawlen, rawlen - 1, &relen);
  CHECK_ERR(fsi_codec_decode(out, re, relen), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "declares");
  free(re);

  /* Declared size over the limit. */
  re = wrap(raw, rawlen, (uint64_t)CODEC_MAX_RAW + 1, &relen);
  CHECK_ERR(fsi_codec_decode(out, re, relen), FS_ETOOBIG);
  free(re);

  /* A body really over the limit, declared honestly. */
  big = calloc(1, (size_t)CODEC_MAX_RAW + 1);
  re = wrap(big, (size_t)CODEC_MAX_RAW + 1, (uint64_t)CODEC_MAX_RAW + 1, &relen);
  CHECK_ERR(fsi_codec_decode(out, re, relen), FS_ETOOBIG);
  free(re);
  free(big);

  /* Trailing bytes after the frame. */
  re = malloc(len + 1);
  memcpy(re, enc, len);
  re[len] = 0;
  CHECK_ERR(fsi_codec_decode(out, re, len + 1), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "trailing");
  free(re);

  /* Not zstd at all. */
  uint8_t junk[] = {CODEC_VERSION, 4, 'a', 'b', 'c', 'd'};
  CHECK_ERR(fsi_codec_decode(out, junk, sizeof junk), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "zstd");

  /* Trailing bytes after the body's last section. */
  re = malloc(rawlen + 1);
  memcpy(re, raw, rawlen);
  re[rawlen] = 0;
  CHECK_ERR(decode_raw(out, re, rawlen + 1), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "trailing bytes after its last section");
  free(re);

  free(raw);
  free(enc);
  fsi_change_batch_free(out);
  fsi_change_batch_free(b);
}

/* -------------------------------------------------- hand-crafted bodies */

/* One table `t` with one column `c`, one site, one row; every field a knob. */
typedef struct craft {
  const char *tname;
  int dup_table;
  uint64_t nrows;
  uint64_t table, cl, flags;
  const uint8_t *cl_bytes; /* overrides cl when set (raw varint bytes) */
  size_t cl_len;
  const char *pk;
  uint64_t pklen_override; /* 0: strlen(pk) */
  uint64_t site;
  const uint8_t *cells;
  size_t ncells_bytes;
  const uint8_t *types;
  size_t ntypes;
  const uint8_t *value;
  size_t nvalue;
  size_t trailing; /* zero bytes appended after the last section */
} craft;

static craft craft_default(void) {
  static const uint8_t type_text[] = {FS_VAL_TEXT};
  static const uint8_t value[] = {2, 'h', 'i'};
  craft c = {.tname = "t",
             .nrows = 1,
             .table = 0,
             .cl = 1,
             .flags = 0,
             .pk = "k1",
             .site = 0,
             .types = type_text,
             .ntypes = 1,
             .value = value,
             .nvalue = sizeof value};
  return c;
}

static void tsection(tbuf *b, const void *p, size_t n) {
  tvar(b, n);
  tput(b, p, n);
}

static int craft_decode(fsi_batch *out, const craft *c) {
  static tbuf b, s;
  static const uint8_t site[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  b.n = 0;
  tvar(&b, c->dup_table ? 2 : 1);
  for (int t = 0; t < (c->dup_table ? 2 : 1); t++) {
    tvar(&b, strlen(c->tname));
    tput(&b, c->tname, strlen(c->tname));
    tvar(&b, 1);
    tvar(&b, 1);
    tput(&b, "c", 1);
  }
  tvar(&b, 1);
  tput(&b, site, 8);
  tvar(&b, c->nrows);
  s.n = 0; /* rows */
  tvar(&s, c->table);
  if (c->cl_bytes)
    tput(&s, c->cl_bytes, c->cl_len);
  else
    tvar(&s, c->cl);
  tvar(&s, c->flags);
  tsection(&b, s.p, s.n);
  s.n = 0; /* keys */
  tvar(&s, c->pklen_override ? c->pklen_override : strlen(c->pk));
  tput(&s, c->pk, strlen(c->pk));
  tsection(&b, s.p, s.n);
  tsection(&b, NULL, 0); /* uuids */
  s.n = 0;               /* clocks */
  tvar(&s, 2000);
  tvar(&s, c->site);
  tsection(&b, s.p, s.n);
  tsection(&b, c->cells, c->ncells_bytes);
  tsection(&b, c->types, c->ntypes);
  tsection(&b, c->value, c->nvalue);
  if (c->dup_table) tsection(&b, NULL, 0);
  for (size_t i = 0; i < c->trailing; i++) b.p[b.n++] = 0;
  return decode_raw(out, b.p, b.n);
}

#define CRAFT_BAD(field_assign, code, needle)                                                      \
  do {                                                                                             \
    craft c_ = craft_default();                                                                    \
    field_assign;                                                                                  \
    CHECK_ERR(craft_decode(out, &c_), code);                                                       \
    CHECK_CONTAINS(fs_errmsg(), needle);                                                           \
    CHECK_EQ_INT(out->nrows, 0);                                                                   \
  } while (0)

static void test_crafted(void) {
  fsi_batch *out = fsi_change_batch_new();
  craft ok = craft_default();
  CHECK_OK(craft_decode(out, &ok));
  CHECK_EQ_INT(out->nrows, 1);
  CHECK_STR(out->rows[0].pk, "k1");
  CHECK_EQ_INT(out->rows[0].hlc, 1000);
  CHECK_EQ_INT(out->rows[0].site, 0x0807060504030201);
  CHECK_STR(out->rows[0].vals[0].s, "hi");

  static const uint8_t bad_utf8[] = {2, 0xc3, 0x28};
  static const uint8_t nul_text[] = {2, 'a', 0};
  static const uint8_t type3[] = {3};
  static const uint8_t cell_past[] = {1 << 1, 0, 0};
  static const uint8_t cell_ok[] = {0, 0, 0};
  static const uint8_t overlong[] = {0x81, 0x00};
  static const uint8_t too_long_text[] = {0x81, 0x80, 0x04}; /* 65537 */

  CRAFT_BAD(c_.tname = "\xff", FS_ECORRUPT, "table name in the dictionary is not valid UTF-8");
  CRAFT_BAD(c_.dup_table = 1, FS_ECORRUPT, "lists table t twice");
  CRAFT_BAD(c_.table = 1, FS_ECORRUPT, "refers to table 1 of 1");
  CRAFT_BAD(c_.cl = 0, FS_ECORRUPT, "causal length 0");
  CRAFT_BAD((c_.cl_bytes = overlong, c_.cl_len = 2), FS_ECORRUPT, "malformed varint");
  CRAFT_BAD(c_.pk = "\xe2\x82", FS_ECORRUPT, "primary key that is not valid UTF-8");
  CRAFT_BAD(c_.pklen_override = 65, FS_ECORRUPT, "65-byte primary key");
  CRAFT_BAD(c_.site = 1, FS_ECORRUPT, "site 1 of a 1-site dictionary");
  CRAFT_BAD((c_.types = type3), FS_ECORRUPT, "unknown type 3");
  CRAFT_BAD((c_.value = bad_utf8, c_.nvalue = 3), FS_ECORRUPT,
            "text value in column t.c is not valid UTF-8");
  CRAFT_BAD((c_.value = nul_text, c_.nvalue = 3), FS_ECORRUPT, "not valid UTF-8");
  CRAFT_BAD((c_.value = too_long_text, c_.nvalue = 3), FS_ECORRUPT, "65537 bytes");
  CRAFT_BAD((c_.flags = 1 << 1, c_.cells = cell_past, c_.ncells_bytes = 3), FS_ECORRUPT,
            "past its last column");
  CRAFT_BAD((c_.flags = 2 << 1, c_.cells = cell_ok, c_.ncells_bytes = 3), FS_ECORRUPT,
            "2 cells for 1 columns");
  CRAFT_BAD(c_.cl = 2, FS_ECORRUPT,
            "trailing bytes in the type section"); /* tombstone with a value */
  CRAFT_BAD(c_.ntypes = 0, FS_ECORRUPT, "truncated in the type section");
  CRAFT_BAD(c_.nvalue = 2, FS_ECORRUPT, "truncated in the values of column t.c");
  CRAFT_BAD(c_.flags = 1, FS_ECORRUPT, "truncated in the clock section"); /* seen missing */
  CRAFT_BAD(c_.trailing = 1, FS_ECORRUPT, "trailing bytes after its last section");
  CRAFT_BAD(c_.nrows = 2, FS_ECORRUPT, "truncated");
  CRAFT_BAD(c_.nrows = FS_BATCH_MAX_ROWS + 1, FS_ETOOBIG, "rows");

  /* A tombstone carries no values: cl 2 with empty type and value sections. */
  craft t = craft_default();
  t.cl = 2;
  t.ntypes = 0;
  t.nvalue = 0;
  CHECK_OK(craft_decode(out, &t));
  CHECK_EQ_INT(out->rows[0].nvals, 0);

  /* Too many tables. */
  uint8_t many[] = {65};
  CHECK_ERR(decode_raw(out, many, 1), FS_ETOOBIG);
  CHECK_CONTAINS(fs_errmsg(), "65 tables");
  fsi_change_batch_free(out);
}

int main(void) {
  TEST_RUN(test_empty);
  TEST_RUN(test_one_record);
  TEST_RUN(test_variety);
  TEST_RUN(test_large);
  TEST_RUN(test_encode_refuses);
  TEST_RUN(test_truncation_everywhere);
  TEST_RUN(test_framing);
  TEST_RUN(test_crafted);
  return tu_finish();
}
