/*
 * codec.c — fsi_batch <-> bytes (see codec.h; the format is specified in
 * docs/protocol.md, "## Batch encoding").
 *
 * The body is column-oriented so that zstd sees homogeneous runs: the row
 * headers, the primary keys, the random bytes of packed UUIDs, the clocks,
 * the cells, the value types and then one section per (table, column) of
 * values are each a separate length-prefixed section.  Invariants kept:
 *  - the encoder validates its input with the same rules as the decoder, so
 *    whatever it emits decodes back to an identical batch;
 *  - the decoder reads untrusted bytes only through bounded readers (rd_*),
 *    checks every count against a limit before allocating for it and every
 *    index against its dictionary before using it, requires every section to
 *    be consumed exactly, and on any failure leaves the batch empty;
 *  - all clock arithmetic is done on uint64_t (wrapping), so any int64 value
 *    round-trips and no input can cause signed overflow.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "engine.h"

/* Fixed sections, in wire order; the per-column value sections follow. */
enum { S_ROWS, S_PKS, S_UUIDS, S_CLOCKS, S_CELLS, S_TYPES, S_FIXED };
static const char *const SECTION_NAMES[S_FIXED] = {"row section",   "key section",  "uuid section",
                                                   "clock section", "cell section", "type section"};

#define ROW_MIN_BYTES 3 /* table, cl and flags: one varint byte each */
#define UUID_TEXT_LEN 36
#define UUID_RAND_BYTES 10 /* the 16 bytes of a UUID after the 48-bit prefix */

/* ------------------------------------------------------- integer coding */

static uint64_t zz_enc(uint64_t d) { return (d << 1) ^ (0 - (d >> 63)); }
static uint64_t zz_dec(uint64_t z) { return (z >> 1) ^ (0 - (z & 1)); }

/* ------------------------------------------------------- output buffers */

typedef struct cbuf {
  uint8_t *p;
  size_t n, cap;
  int oom;
} cbuf;

static void cb_reserve(cbuf *b, size_t extra) {
  if (b->oom || b->cap - b->n >= extra) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->n < extra) {
    if (cap > SIZE_MAX / 2) {
      b->oom = 1;
      return;
    }
    cap *= 2;
  }
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

static void cb_put(cbuf *b, const void *src, size_t n) {
  cb_reserve(b, n);
  if (b->oom || n == 0) return;
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void cb_byte(cbuf *b, uint8_t v) { cb_put(b, &v, 1); }

static void cb_varint(cbuf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t k = 0;
  while (v >= 0x80) {
    tmp[k++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[k++] = (uint8_t)v;
  cb_put(b, tmp, k);
}

static void cb_i64le(cbuf *b, int64_t v) {
  uint8_t tmp[8];
  uint64_t u = (uint64_t)v;
  for (int i = 0; i < 8; i++) tmp[i] = (uint8_t)(u >> (8 * i));
  cb_put(b, tmp, 8);
}

/* ------------------------------------------------------- bounded reader */

typedef struct rd {
  const uint8_t *p, *end;
  const char *what;      /* section name, for messages */
  const char *tab, *col; /* set for a column's value section */
} rd;

static int rd_fail(const rd *r, int code, const char *problem) {
  if (r->col)
    return fsi_fail(code, "batch %s in the values of column %s.%s", problem, r->tab, r->col);
  return fsi_fail(code, "batch %s in the %s", problem, r->what);
}

/* LEB128, at most 10 bytes, minimal (no trailing zero groups). */
static int rd_varint(rd *r, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned i = 0; i < 10; i++) {
    if (r->p >= r->end) return rd_fail(r, FS_ECORRUPT, "truncated");
    uint8_t c = *r->p++;
    if (i == 9 && c > 1) break;
    v |= (uint64_t)(c & 0x7F) << (7 * i);
    if (!(c & 0x80)) {
      if (c == 0 && i > 0) break;
      *out = v;
      return FS_OK;
    }
  }
  return rd_fail(r, FS_ECORRUPT, "has a malformed varint");
}

static int rd_bytes(rd *r, size_t n, const uint8_t **out) {
  if ((size_t)(r->end - r->p) < n) return rd_fail(r, FS_ECORRUPT, "truncated");
  *out = r->p;
  r->p += n;
  return FS_OK;
}

/* A length-prefixed UTF-8 string of minlen..maxlen bytes, copied into the
 * arena NUL-terminated. */
static int rd_text(rd *r, struct fsi_arena *a, size_t minlen, size_t maxlen, const char *what,
                   const char **out, uint32_t *nout) {
  uint64_t n;
  const uint8_t *p = NULL;
  int rc = rd_varint(r, &n);
  if (rc) return rc;
  if (n < minlen || n > maxlen) {
    if (r->col)
      return fsi_fail(FS_ECORRUPT, "batch %s of %llu bytes in column %s.%s is outside %zu..%zu",
                      what, (unsigned long long)n, r->tab, r->col, minlen, maxlen);
    return fsi_fail(FS_ECORRUPT, "batch %s of %llu bytes in the %s is outside %zu..%zu", what,
                    (unsigned long long)n, r->what, minlen, maxlen);
  }
  if ((rc = rd_bytes(r, (size_t)n, &p))) return rc;
  if (!fsi_util_utf8_valid((const char *)p, (size_t)n)) {
    if (r->col)
      return fsi_fail(FS_ECORRUPT, "batch %s in column %s.%s is not valid UTF-8", what, r->tab,
                      r->col);
    return fsi_fail(FS_ECORRUPT, "batch %s in the %s is not valid UTF-8", what, r->what);
  }
  char *s = fsi_arena_strndup(a, (const char *)p, (size_t)n);
  if (!s) return fsi_fail(FS_ENOMEM, "out of memory decoding a batch");
  *out = s;
  if (nout) *nout = (uint32_t)n;
  return FS_OK;
}

/* ---------------------------------------------------------------- UUIDs */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return c - 'a' + 10; /* caller checked fsi_util_is_uuid: lowercase hex */
}

/* Canonical lowercase UUID text -> 16 bytes. */
static void uuid_pack(uint8_t out[16], const char *s) {
  int k = 0;
  for (int i = 0; i < UUID_TEXT_LEN; i++) {
    if (s[i] == '-') continue;
    out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | hexval(s[i]) : hexval(s[i]) << 4);
    k++;
  }
}

static void uuid_unpack(char out[UUID_TEXT_LEN + 1], const uint8_t in[16]) {
  static const char hex[] = "0123456789abcdef";
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
    *o++ = hex[in[i] >> 4];
    *o++ = hex[in[i] & 15];
  }
  *o = '\0';
}

static uint64_t uuid_prefix(const uint8_t u[16]) {
  uint64_t v = 0;
  for (int i = 0; i < 6; i++) v = (v << 8) | u[i];
  return v;
}

/* ------------------------------------------------------------- site map */

/* Site id -> dictionary index, in order of first appearance. */
typedef struct sitemap {
  int64_t *ids;   /* ids[index] */
  uint32_t *slot; /* open addressing: index + 1, 0 = empty */
  size_t n, cap;  /* cap: power of two, number of slots */
  int64_t last_id;
  uint32_t last_idx;
} sitemap;

static size_t site_hash(int64_t id, size_t cap) {
  return (size_t)(((uint64_t)id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (cap - 1);
}

static int sitemap_grow(sitemap *m) {
  size_t cap = m->cap ? m->cap * 2 : 64;
  uint32_t *slot = calloc(cap, sizeof *slot);
  int64_t *ids = realloc(m->ids, cap / 2 * sizeof *ids);
  if (!slot || !ids) {
    free(slot);
    if (ids) m->ids = ids;
    return fsi_fail(FS_ENOMEM, "out of memory encoding a batch");
  }
  m->ids = ids;
  for (size_t i = 0; i < m->n; i++) {
    size_t h = site_hash(ids[i], cap);
    while (slot[h]) h = (h + 1) & (cap - 1);
    slot[h] = (uint32_t)i + 1;
  }
  free(m->slot);
  m->slot = slot;
  m->cap = cap;
  return FS_OK;
}

static int sitemap_index(sitemap *m, int64_t id, uint32_t *idx) {
  if (m->n && id == m->last_id) {
    *idx = m->last_idx;
    return FS_OK;
  }
  if ((m->n + 1) * 2 > m->cap) {
    int rc = sitemap_grow(m);
    if (rc) return rc;
  }
  size_t h = site_hash(id, m->cap);
  while (m->slot[h]) {
    if (m->ids[m->slot[h] - 1] == id) {
      *idx = m->slot[h] - 1;
      goto found;
    }
    h = (h + 1) & (m->cap - 1);
  }
  if (m->n >= CODEC_MAX_SITES)
    return fsi_fail(FS_ETOOBIG, "batch refers to more than %d distinct sites", CODEC_MAX_SITES);
  m->ids[m->n] = id;
  m->slot[h] = (uint32_t)m->n + 1;
  *idx = (uint32_t)m->n++;
found:
  m->last_id = id;
  m->last_idx = *idx;
  return FS_OK;
}

/* ------------------------------------------------------------ validation */

static int name_ok(const char *s, size_t *len) {
  if (!s) return 0;
  size_t n = strnlen(s, FS_BATCH_MAX_NAME + 1);
  *len = n;
  return n >= 1 && n <= FS_BATCH_MAX_NAME && fsi_util_utf8_valid(s, n);
}

/* Dictionary checks shared by both directions: names valid, unique. */
static int check_dict(const fsi_batch *b, int code) {
  const char *who = code == FS_EINVAL ? "batch to encode" : "batch";
  for (uint16_t t = 0; t < b->ntables; t++) {
    const fsi_batch_table *bt = &b->tables[t];
    for (uint16_t u = 0; u < t; u++)
      if (strcmp(b->tables[u].name, bt->name) == 0)
        return fsi_fail(code, "%s lists table %s twice", who, bt->name);
    for (uint16_t c = 0; c < bt->ncols; c++)
      for (uint16_t d = 0; d < c; d++)
        if (strcmp(bt->cols[d], bt->cols[c]) == 0)
          return fsi_fail(code, "%s lists column %s.%s twice", who, bt->name, bt->cols[c]);
  }
  return FS_OK;
}

static int check_encode_input(const fsi_batch *b) {
  size_t n;
  if (b->ntables > FS_BATCH_MAX_TABLES)
    return fsi_fail(FS_ETOOBIG, "batch to encode has %u tables, over the limit of %d", b->ntables,
                    FS_BATCH_MAX_TABLES);
  if (b->nrows > FS_BATCH_MAX_ROWS)
    return fsi_fail(FS_ETOOBIG, "batch to encode has %zu rows, over the limit of %d", b->nrows,
                    FS_BATCH_MAX_ROWS);
  for (uint16_t t = 0; t < b->ntables; t++) {
    const fsi_batch_table *bt = &b->tables[t];
    if (!name_ok(bt->name, &n))
      return fsi_fail(FS_EINVAL, "batch to encode: table %u has an invalid name", t);
    if (bt->ncols > FS_BATCH_MAX_COLS)
      return fsi_fail(FS_ETOOBIG, "batch to encode: table %s has %u columns, over %d", bt->name,
                      bt->ncols, FS_BATCH_MAX_COLS);
    for (uint16_t c = 0; c < bt->ncols; c++)
      if (!name_ok(bt->cols[c], &n))
        return fsi_fail(FS_EINVAL, "batch to encode: column %u of table %s has an invalid name", c,
                        bt->name);
  }
  int rc = check_dict(b, FS_EINVAL);
  if (rc) return rc;
  for (size_t i = 0; i < b->nrows; i++) {
    const fsi_rowchange *r = &b->rows[i];
    if (r->table >= b->ntables)
      return fsi_fail(FS_EINVAL, "batch to encode: row %zu refers to table %u of %u", i, r->table,
                      b->ntables);
    const fsi_batch_table *bt = &b->tables[r->table];
    if (!r->pk || (n = strnlen(r->pk, FS_BATCH_MAX_PK + 1)) < 1 || n > FS_BATCH_MAX_PK ||
        !fsi_util_utf8_valid(r->pk, n))
      return fsi_fail(FS_EINVAL, "batch to encode: row %zu of %s has an invalid primary key", i,
                      bt->name);
    if (r->cl < 1)
      return fsi_fail(FS_EINVAL, "batch to encode: row %s.%s has causal length %lld < 1", bt->name,
                      r->pk, (long long)r->cl);
    if (r->cl % 2 == 1 ? r->nvals != bt->ncols || (bt->ncols && !r->vals) : r->nvals != 0)
      return fsi_fail(FS_EINVAL, "batch to encode: %s row %s.%s has %u values for %u columns",
                      r->cl % 2 ? "live" : "deleted", bt->name, r->pk, r->nvals, bt->ncols);
    if (r->ncells && !r->cells)
      return fsi_fail(FS_EINVAL, "batch to encode: row %s.%s has no cell array", bt->name, r->pk);
    for (uint16_t k = 0; k < r->ncells; k++)
      if (r->cells[k].col >= bt->ncols || (k && r->cells[k].col <= r->cells[k - 1].col))
        return fsi_fail(FS_EINVAL,
                        "batch to encode: cells of row %s.%s are not sorted, unique column indexes",
                        bt->name, r->pk);
    for (uint16_t c = 0; c < r->nvals; c++) {
      const fsi_value *v = &r->vals[c];
      if (v->type == FS_VAL_TEXT) {
        if (v->n > FS_BATCH_MAX_TEXT)
          return fsi_fail(FS_ETOOBIG, "batch to encode: %s.%s of row %s is %u bytes, over %d",
                          bt->name, bt->cols[c], r->pk, v->n, FS_BATCH_MAX_TEXT);
        if ((v->n && !v->s) || !fsi_util_utf8_valid(v->s, v->n))
          return fsi_fail(FS_EINVAL, "batch to encode: %s.%s of row %s is not valid UTF-8",
                          bt->name, bt->cols[c], r->pk);
      } else if (v->type != FS_VAL_NULL && v->type != FS_VAL_INT) {
        return fsi_fail(FS_EINVAL, "batch to encode: %s.%s of row %s has value type %u", bt->name,
                        bt->cols[c], r->pk, v->type);
      }
    }
  }
  return FS_OK;
}

/* --------------------------------------------------------------- encode */

/* The sections being filled, and the running state of their delta codes. */
typedef struct encoder {
  cbuf *sec; /* nsec sections: S_FIXED fixed ones, then one per column */
  size_t nsec;
  size_t *colbase;   /* colbase[t]: the first value section of table t */
  int64_t *prev_int; /* per value section: the previous integer */
  sitemap sm;
  uint64_t prev_hlc, prev_uuid;
} encoder;

static void encoder_free(encoder *e) {
  if (e->sec)
    for (size_t s = 0; s < e->nsec; s++) free(e->sec[s].p);
  free(e->sec);
  free(e->prev_int);
  free(e->colbase);
  free(e->sm.ids);
  free(e->sm.slot);
}

/* Primary key: 0 then the UUID's timestamp prefix delta-coded (its random
 * bytes in the uuid section), else the length of a text key and its bytes. */
static void encode_pk(encoder *e, const fsi_rowchange *r) {
  if (fsi_util_is_uuid(r->pk)) {
    uint8_t u[16];
    uuid_pack(u, r->pk);
    uint64_t pre = uuid_prefix(u);
    cb_varint(&e->sec[S_PKS], 0);
    cb_varint(&e->sec[S_PKS], zz_enc(pre - e->prev_uuid));
    cb_put(&e->sec[S_UUIDS], u + 6, UUID_RAND_BYTES);
    e->prev_uuid = pre;
  } else {
    size_t n = strlen(r->pk);
    cb_varint(&e->sec[S_PKS], n);
    cb_put(&e->sec[S_PKS], r->pk, n);
  }
}

/* Clocks: row hlc delta from the previous row, site, optional seen. */
static int encode_clocks(encoder *e, const fsi_rowchange *r) {
  uint32_t si;
  int rc = sitemap_index(&e->sm, r->site, &si);
  if (rc) return rc;
  cb_varint(&e->sec[S_CLOCKS], zz_enc((uint64_t)r->hlc - e->prev_hlc));
  cb_varint(&e->sec[S_CLOCKS], si);
  if (r->seen) cb_varint(&e->sec[S_CLOCKS], zz_enc((uint64_t)r->hlc - (uint64_t)r->seen));
  e->prev_hlc = (uint64_t)r->hlc;
  return FS_OK;
}

/* Cells: column gap and base flag, clock relative to the row's, site, and
 * the optional base clock and site. */
static int encode_cells(encoder *e, const fsi_rowchange *r) {
  cbuf *cs = &e->sec[S_CELLS];
  int prev_col = -1, rc;
  uint32_t si;
  for (uint16_t k = 0; k < r->ncells; k++) {
    const fsi_cell *c = &r->cells[k];
    int base = c->bhlc != 0 || c->bsite != 0;
    cb_varint(cs, (uint64_t)(c->col - prev_col - 1) << 1 | (uint64_t)base);
    cb_varint(cs, zz_enc((uint64_t)c->hlc - (uint64_t)r->hlc));
    if ((rc = sitemap_index(&e->sm, c->site, &si))) return rc;
    cb_varint(cs, si);
    if (base) {
      cb_varint(cs, zz_enc((uint64_t)c->hlc - (uint64_t)c->bhlc));
      if ((rc = sitemap_index(&e->sm, c->bsite, &si))) return rc;
      cb_varint(cs, si);
    }
    prev_col = c->col;
  }
  return FS_OK;
}

/* Values: a type byte each, then integers delta-coded per column, text
 * length-prefixed, in the column's own section. */
static void encode_values(encoder *e, const fsi_rowchange *r) {
  for (uint16_t c = 0; c < r->nvals; c++) {
    const fsi_value *v = &r->vals[c];
    size_t s = e->colbase[r->table] + c;
    cb_byte(&e->sec[S_TYPES], v->type);
    if (v->type == FS_VAL_INT) {
      cb_varint(&e->sec[s], zz_enc((uint64_t)v->i - (uint64_t)e->prev_int[s]));
      e->prev_int[s] = v->i;
    } else if (v->type == FS_VAL_TEXT) {
      cb_varint(&e->sec[s], v->n);
      cb_put(&e->sec[s], v->s, v->n);
    }
  }
}

static int encode_row(encoder *e, const fsi_rowchange *r) {
  int rc;
  cb_varint(&e->sec[S_ROWS], r->table);
  cb_varint(&e->sec[S_ROWS], (uint64_t)r->cl);
  cb_varint(&e->sec[S_ROWS], (uint64_t)r->ncells << 1 | (r->seen != 0));
  encode_pk(e, r);
  if ((rc = encode_clocks(e, r)) || (rc = encode_cells(e, r))) return rc;
  encode_values(e, r);
  return FS_OK;
}

/* Body: dictionaries, row count, then every section length-prefixed (each
 * section is freed once copied). */
static int encode_body(cbuf *body, const fsi_batch *b, encoder *e) {
  cb_varint(body, b->ntables);
  for (uint16_t t = 0; t < b->ntables; t++) {
    const fsi_batch_table *bt = &b->tables[t];
    size_t n = strlen(bt->name);
    cb_varint(body, n);
    cb_put(body, bt->name, n);
    cb_varint(body, bt->ncols);
    for (uint16_t c = 0; c < bt->ncols; c++) {
      n = strlen(bt->cols[c]);
      cb_varint(body, n);
      cb_put(body, bt->cols[c], n);
    }
  }
  cb_varint(body, e->sm.n);
  for (size_t i = 0; i < e->sm.n; i++) cb_i64le(body, e->sm.ids[i]);
  cb_varint(body, b->nrows);
  for (size_t s = 0; s < e->nsec; s++) {
    if (e->sec[s].oom) return fsi_fail(FS_ENOMEM, "out of memory encoding a batch");
    cb_varint(body, e->sec[s].n);
    cb_put(body, e->sec[s].p, e->sec[s].n);
    free(e->sec[s].p);
    e->sec[s].p = NULL;
  }
  if (body->oom) return fsi_fail(FS_ENOMEM, "out of memory encoding a batch");
  if (body->n > CODEC_MAX_RAW)
    return fsi_fail(FS_ETOOBIG, "batch encodes to %zu bytes before compression, over the %u limit",
                    body->n, CODEC_MAX_RAW);
  return FS_OK;
}

/* Frame: version, declared size, one zstd frame of the body. */
static int encode_frame(const cbuf *body, uint8_t **out, size_t *outlen) {
  cbuf head = {0};
  cb_byte(&head, CODEC_VERSION);
  cb_varint(&head, body->n);
  if (head.oom) return fsi_fail(FS_ENOMEM, "out of memory encoding a batch");
  size_t bound = ZSTD_compressBound(body->n);
  uint8_t *dst = malloc(head.n + bound);
  if (!dst) {
    free(head.p);
    return fsi_fail(FS_ENOMEM, "out of memory encoding a batch");
  }
  memcpy(dst, head.p, head.n);
  size_t zn = ZSTD_compress(dst + head.n, bound, body->p, body->n, CODEC_ZSTD_LEVEL);
  size_t hn = head.n;
  free(head.p);
  if (ZSTD_isError(zn)) {
    free(dst);
    return fsi_fail(FS_ENOMEM, "zstd could not compress a batch: %s", ZSTD_getErrorName(zn));
  }
  uint8_t *shrunk = realloc(dst, hn + zn);
  if (shrunk) dst = shrunk;
  *out = dst;
  *outlen = hn + zn;
  return FS_OK;
}

int fsi_codec_encode(const fsi_batch *b, uint8_t **out, size_t *outlen) {
  encoder e;
  cbuf body = {0};
  int rc;

  memset(&e, 0, sizeof e);
  *out = NULL;
  *outlen = 0;
  if ((rc = check_encode_input(b))) goto done;

  e.nsec = S_FIXED;
  e.colbase = malloc((b->ntables + 1) * sizeof *e.colbase);
  if (!e.colbase) goto oom;
  for (uint16_t t = 0; t < b->ntables; t++) {
    e.colbase[t] = e.nsec;
    e.nsec += b->tables[t].ncols;
  }
  e.sec = calloc(e.nsec, sizeof *e.sec);
  e.prev_int = calloc(e.nsec, sizeof *e.prev_int);
  if (!e.sec || !e.prev_int) goto oom;

  for (size_t i = 0; i < b->nrows; i++)
    if ((rc = encode_row(&e, &b->rows[i]))) goto done;
  if ((rc = encode_body(&body, b, &e))) goto done;
  rc = encode_frame(&body, out, outlen);
  goto done;

oom:
  rc = fsi_fail(FS_ENOMEM, "out of memory encoding a batch");
done:
  encoder_free(&e);
  free(body.p);
  return rc;
}

/* --------------------------------------------------------------- decode */

/* What decoding one body holds: the batch being filled, the sections of
 * the body, the site dictionary and the running state of the delta codes. */
typedef struct decoder {
  fsi_batch *b;
  struct fsi_arena *a;
  rd *sec; /* nsec sections: S_FIXED fixed ones, then one per column */
  size_t nsec;
  size_t *colbase; /* colbase[t]: the first value section of table t */
  int64_t *sites;
  size_t nsites;
  int64_t *prev_int; /* per value section: the previous integer */
  uint64_t prev_hlc, prev_uuid;
  int64_t lo, hi; /* clock range seen so far */
} decoder;

static int decode_oom(void) { return fsi_fail(FS_ENOMEM, "out of memory decoding a batch"); }

static int decode_site(rd *r, const int64_t *sites, size_t nsites, int64_t *out) {
  uint64_t v;
  int rc = rd_varint(r, &v);
  if (rc) return rc;
  if (v >= nsites)
    return fsi_fail(FS_ECORRUPT, "batch refers to site %llu of a %zu-site dictionary",
                    (unsigned long long)v, nsites);
  *out = sites[v];
  return FS_OK;
}

/* The table dictionary: names, columns, and where each column's value
 * section will sit. */
static int decode_tables(decoder *d, rd *r) {
  fsi_batch *b = d->b;
  uint64_t v;
  int rc;
  if ((rc = rd_varint(r, &v))) return rc;
  if (v > FS_BATCH_MAX_TABLES)
    return fsi_fail(FS_ETOOBIG, "batch declares %llu tables, over the limit of %d",
                    (unsigned long long)v, FS_BATCH_MAX_TABLES);
  b->ntables = (uint16_t)v;
  if (b->ntables) {
    b->tables = fsi_arena_alloc(d->a, b->ntables * sizeof *b->tables);
    d->colbase = malloc(b->ntables * sizeof *d->colbase);
    if (!b->tables || !d->colbase) return decode_oom();
  }
  for (uint16_t t = 0; t < b->ntables; t++) {
    fsi_batch_table *bt = &b->tables[t];
    if ((rc = rd_text(r, d->a, 1, FS_BATCH_MAX_NAME, "table name", &bt->name, NULL))) return rc;
    if ((rc = rd_varint(r, &v))) return rc;
    if (v > FS_BATCH_MAX_COLS)
      return fsi_fail(FS_ETOOBIG, "batch table %s declares %llu columns, over the limit of %d",
                      bt->name, (unsigned long long)v, FS_BATCH_MAX_COLS);
    bt->ncols = (uint16_t)v;
    if (bt->ncols && !(bt->cols = fsi_arena_alloc(d->a, bt->ncols * sizeof *bt->cols)))
      return decode_oom();
    for (uint16_t c = 0; c < bt->ncols; c++)
      if ((rc = rd_text(r, d->a, 1, FS_BATCH_MAX_NAME, "column name", &bt->cols[c], NULL)))
        return rc;
    d->colbase[t] = d->nsec;
    d->nsec += bt->ncols;
  }
  return check_dict(b, FS_ECORRUPT);
}

/* The site dictionary: a count, then 8 little-endian bytes per site. */
static int decode_sites(decoder *d, rd *r) {
  uint64_t v;
  int rc;
  r->what = "site dictionary";
  if ((rc = rd_varint(r, &v))) return rc;
  if (v > CODEC_MAX_SITES)
    return fsi_fail(FS_ETOOBIG, "batch declares %llu sites, over the limit of %d",
                    (unsigned long long)v, CODEC_MAX_SITES);
  d->nsites = (size_t)v;
  if ((size_t)(r->end - r->p) / 8 < d->nsites) return rd_fail(r, FS_ECORRUPT, "truncated");
  if (d->nsites && !(d->sites = malloc(d->nsites * sizeof *d->sites))) return decode_oom();
  for (size_t i = 0; i < d->nsites; i++, r->p += 8) {
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = (u << 8) | r->p[k];
    d->sites[i] = (int64_t)u;
  }
  return FS_OK;
}

/* The section table: every section length-prefixed, to the body's end. */
static int decode_sections(decoder *d, rd *r) {
  const fsi_batch *b = d->b;
  uint64_t v;
  int rc;
  d->sec = calloc(d->nsec, sizeof *d->sec);
  d->prev_int = calloc(d->nsec, sizeof *d->prev_int);
  if (!d->sec || !d->prev_int) return decode_oom();
  for (size_t s = 0; s < d->nsec; s++) {
    const uint8_t *p = NULL;
    r->what = "section table";
    if ((rc = rd_varint(r, &v))) return rc;
    if (v > (uint64_t)(r->end - r->p))
      return fsi_fail(FS_ECORRUPT, "batch truncated: a section declares %llu bytes, %zu remain",
                      (unsigned long long)v, (size_t)(r->end - r->p));
    if ((rc = rd_bytes(r, (size_t)v, &p))) return rc;
    d->sec[s].p = p;
    d->sec[s].end = p + v;
    if (s < S_FIXED) {
      d->sec[s].what = SECTION_NAMES[s];
    } else {
      uint16_t t = 0;
      while (t + 1 < b->ntables && d->colbase[t + 1] <= s) t++;
      d->sec[s].what = "value section";
      d->sec[s].tab = b->tables[t].name;
      d->sec[s].col = b->tables[t].cols[s - d->colbase[t]];
    }
  }
  if (r->p != r->end)
    return fsi_fail(FS_ECORRUPT, "batch has %zu trailing bytes after its last section",
                    (size_t)(r->end - r->p));
  return FS_OK;
}

/* Primary key: 0 = packed UUID, else the length of a text key. */
static int decode_pk(decoder *d, size_t i, fsi_rowchange *row, const fsi_batch_table *bt) {
  uint64_t v;
  int rc;
  if ((rc = rd_varint(&d->sec[S_PKS], &v))) return rc;
  if (v == 0) {
    uint64_t delta;
    const uint8_t *rnd = NULL;
    uint8_t u[16];
    char *pk;
    if ((rc = rd_varint(&d->sec[S_PKS], &delta))) return rc;
    d->prev_uuid += zz_dec(delta);
    if (d->prev_uuid >> 48)
      return fsi_fail(FS_ECORRUPT, "batch row %zu of %s has a UUID timestamp out of range", i,
                      bt->name);
    if ((rc = rd_bytes(&d->sec[S_UUIDS], UUID_RAND_BYTES, &rnd))) return rc;
    for (int k = 0; k < 6; k++) u[k] = (uint8_t)(d->prev_uuid >> (8 * (5 - k)));
    memcpy(u + 6, rnd, UUID_RAND_BYTES);
    if (!(pk = fsi_arena_alloc(d->a, UUID_TEXT_LEN + 1))) return decode_oom();
    uuid_unpack(pk, u);
    row->pk = pk;
    return FS_OK;
  }
  const uint8_t *p = NULL;
  if (v > FS_BATCH_MAX_PK)
    return fsi_fail(FS_ECORRUPT, "batch row %zu of %s has a %llu-byte primary key, over %d", i,
                    bt->name, (unsigned long long)v, FS_BATCH_MAX_PK);
  if ((rc = rd_bytes(&d->sec[S_PKS], (size_t)v, &p))) return rc;
  if (!fsi_util_utf8_valid((const char *)p, (size_t)v))
    return fsi_fail(FS_ECORRUPT, "batch row %zu of %s has a primary key that is not valid UTF-8", i,
                    bt->name);
  if (!(row->pk = fsi_arena_strndup(d->a, (const char *)p, (size_t)v))) return decode_oom();
  return FS_OK;
}

/* Clocks: row hlc delta from the previous row, site, optional seen. */
static int decode_clocks(decoder *d, fsi_rowchange *row, uint64_t flags) {
  rd *cs = &d->sec[S_CLOCKS];
  uint64_t v;
  int rc;
  if ((rc = rd_varint(cs, &v))) return rc;
  d->prev_hlc += zz_dec(v);
  row->hlc = (int64_t)d->prev_hlc;
  if ((rc = decode_site(cs, d->sites, d->nsites, &row->site))) return rc;
  if (flags & 1) {
    if ((rc = rd_varint(cs, &v))) return rc;
    row->seen = (int64_t)((uint64_t)row->hlc - zz_dec(v));
  }
  if (row->hlc < d->lo) d->lo = row->hlc;
  if (row->hlc > d->hi) d->hi = row->hlc;
  return FS_OK;
}

/* Cells: column gap and base flag, clock relative to the row's, site, and
 * the optional base clock and site. */
static int decode_cells(decoder *d, size_t i, fsi_rowchange *row, const fsi_batch_table *bt) {
  rd *cs = &d->sec[S_CELLS];
  uint64_t v, next_col = 0;
  int rc;
  if (row->ncells) {
    row->cells = fsi_arena_alloc(d->a, row->ncells * sizeof *row->cells);
    if (!row->cells) return decode_oom();
  }
  for (uint16_t k = 0; k < row->ncells; k++) {
    fsi_cell *c = &row->cells[k];
    memset(c, 0, sizeof *c);
    if ((rc = rd_varint(cs, &v))) return rc;
    if ((v >> 1) >= bt->ncols - next_col)
      return fsi_fail(FS_ECORRUPT, "batch row %zu of %s has a cell past its last column", i,
                      bt->name);
    c->col = (uint16_t)(next_col + (v >> 1));
    next_col = c->col + 1u;
    uint64_t delta;
    if ((rc = rd_varint(cs, &delta))) return rc;
    c->hlc = (int64_t)((uint64_t)row->hlc + zz_dec(delta));
    if ((rc = decode_site(cs, d->sites, d->nsites, &c->site))) return rc;
    if (v & 1) {
      if ((rc = rd_varint(cs, &delta))) return rc;
      c->bhlc = (int64_t)((uint64_t)c->hlc - zz_dec(delta));
      if ((rc = decode_site(cs, d->sites, d->nsites, &c->bsite))) return rc;
    }
    if (c->hlc < d->lo) d->lo = c->hlc;
    if (c->hlc > d->hi) d->hi = c->hlc;
  }
  return FS_OK;
}

/* Values of a live row: a type byte each, then the value from the column's
 * own section (integers delta-coded per column, text length-prefixed). */
static int decode_values(decoder *d, size_t i, fsi_rowchange *row, const fsi_batch_table *bt) {
  uint64_t v;
  int rc;
  row->nvals = bt->ncols;
  if (!(row->vals = fsi_arena_alloc(d->a, bt->ncols * sizeof *row->vals))) return decode_oom();
  for (uint16_t c = 0; c < bt->ncols; c++) {
    fsi_value *val = &row->vals[c];
    size_t s = d->colbase[row->table] + c;
    const uint8_t *tp = NULL;
    memset(val, 0, sizeof *val);
    if ((rc = rd_bytes(&d->sec[S_TYPES], 1, &tp))) return rc;
    val->type = *tp;
    if (val->type == FS_VAL_INT) {
      if ((rc = rd_varint(&d->sec[s], &v))) return rc;
      d->prev_int[s] = (int64_t)((uint64_t)d->prev_int[s] + zz_dec(v));
      val->i = d->prev_int[s];
    } else if (val->type == FS_VAL_TEXT) {
      if ((rc = rd_text(&d->sec[s], d->a, 0, FS_BATCH_MAX_TEXT, "text value", &val->s, &val->n)))
        return rc;
    } else if (val->type != FS_VAL_NULL) {
      return fsi_fail(FS_ECORRUPT, "batch value of %s.%s in row %zu has unknown type %u", bt->name,
                      bt->cols[c], i, val->type);
    }
  }
  return FS_OK;
}

/* Row i: its header (table, causal length, cell count and seen flag), key,
 * clocks, cells and, when it is live, its values. */
static int decode_row(decoder *d, size_t i) {
  const fsi_batch *b = d->b;
  fsi_rowchange *row = &b->rows[i];
  uint64_t v, flags;
  int rc;
  if ((rc = rd_varint(&d->sec[S_ROWS], &v))) return rc;
  if (v >= b->ntables)
    return fsi_fail(FS_ECORRUPT, "batch row %zu refers to table %llu of %u", i,
                    (unsigned long long)v, b->ntables);
  row->table = (uint16_t)v;
  const fsi_batch_table *bt = &b->tables[row->table];
  if ((rc = rd_varint(&d->sec[S_ROWS], &v))) return rc;
  if (v < 1 || v > INT64_MAX)
    return fsi_fail(FS_ECORRUPT, "batch row %zu of %s has causal length %llu, not 1..2^63-1", i,
                    bt->name, (unsigned long long)v);
  row->cl = (int64_t)v;
  if ((rc = rd_varint(&d->sec[S_ROWS], &flags))) return rc;
  if ((flags >> 1) > bt->ncols)
    return fsi_fail(FS_ECORRUPT, "batch row %zu of %s has %llu cells for %u columns", i, bt->name,
                    (unsigned long long)(flags >> 1), bt->ncols);
  row->ncells = (uint16_t)(flags >> 1);
  if ((rc = decode_pk(d, i, row, bt)) || (rc = decode_clocks(d, row, flags)) ||
      (rc = decode_cells(d, i, row, bt)))
    return rc;
  if (row->cl % 2 == 0 || bt->ncols == 0) return FS_OK;
  return decode_values(d, i, row, bt);
}

static int decode_body(fsi_batch *b, const uint8_t *raw, size_t rawlen) {
  rd r = {raw, raw + rawlen, "dictionary", NULL, NULL};
  decoder d;
  uint64_t v;
  int rc;

  memset(&d, 0, sizeof d);
  d.b = b;
  d.a = b->arena;
  d.nsec = S_FIXED;
  d.lo = INT64_MAX;
  d.hi = INT64_MIN;
  if ((rc = decode_tables(&d, &r)) || (rc = decode_sites(&d, &r))) goto done;

  r.what = "row count";
  if ((rc = rd_varint(&r, &v))) goto done;
  if (v > FS_BATCH_MAX_ROWS) {
    rc = fsi_fail(FS_ETOOBIG, "batch declares %llu rows, over the limit of %d",
                  (unsigned long long)v, FS_BATCH_MAX_ROWS);
    goto done;
  }
  size_t nrows = (size_t)v;
  if ((rc = decode_sections(&d, &r))) goto done;

  if (nrows > (size_t)(d.sec[S_ROWS].end - d.sec[S_ROWS].p) / ROW_MIN_BYTES) {
    rc = fsi_fail(FS_ECORRUPT, "batch truncated: %zu rows do not fit in the row section", nrows);
    goto done;
  }
  if (nrows) {
    b->rows = fsi_arena_alloc(d.a, nrows * sizeof *b->rows);
    if (!b->rows) {
      rc = decode_oom();
      goto done;
    }
    memset(b->rows, 0, nrows * sizeof *b->rows);
  }
  for (size_t i = 0; i < nrows; i++)
    if ((rc = decode_row(&d, i))) goto done;
  for (size_t s = 0; s < d.nsec; s++)
    if (d.sec[s].p != d.sec[s].end) {
      rc = rd_fail(&d.sec[s], FS_ECORRUPT, "has trailing bytes");
      goto done;
    }
  b->nrows = nrows;
  b->hlc_min = nrows ? d.lo : 0;
  b->hlc_max = nrows ? d.hi : 0;
  rc = FS_OK;
done:
  free(d.sec);
  free(d.sites);
  free(d.prev_int);
  free(d.colbase);
  return rc;
}

int fsi_codec_decode(fsi_batch *b, const uint8_t *in, size_t len) {
  uint8_t *raw = NULL;
  uint64_t rawlen;
  int rc;

  fsi_change_batch_reset(b);
  if (len < 1 || !in) return fsi_fail(FS_ECORRUPT, "batch truncated: no bytes");
  if (in[0] != CODEC_VERSION)
    return fsi_fail(FS_EVERSION, "batch format version %u is not supported (this build reads %d)",
                    in[0], CODEC_VERSION);
  rd h = {in + 1, in + len, "batch header", NULL, NULL};
  if ((rc = rd_varint(&h, &rawlen))) return rc;
  if (rawlen > CODEC_MAX_RAW)
    return fsi_fail(FS_ETOOBIG, "batch declares %llu decompressed bytes, over the %u-byte limit",
                    (unsigned long long)rawlen, CODEC_MAX_RAW);

  size_t zlen = (size_t)(h.end - h.p);
  if (zlen < 4 || h.p[0] != 0x28 || h.p[1] != 0xB5 || h.p[2] != 0x2F || h.p[3] != 0xFD)
    return fsi_fail(FS_ECORRUPT, "batch body is truncated or not a zstd frame");
  unsigned long long fcs = ZSTD_getFrameContentSize(h.p, zlen);
  if (fcs == ZSTD_CONTENTSIZE_ERROR)
    return fsi_fail(FS_ECORRUPT, "batch body is truncated or not a zstd frame");
  if (fcs == ZSTD_CONTENTSIZE_UNKNOWN)
    return fsi_fail(FS_ECORRUPT, "batch zstd frame does not declare its size");
  if (fcs != rawlen)
    return fsi_fail(FS_ECORRUPT,
                    "batch declares %llu decompressed bytes but its zstd frame declares %llu",
                    (unsigned long long)rawlen, fcs);
  size_t fsz = ZSTD_findFrameCompressedSize(h.p, zlen);
  if (ZSTD_isError(fsz))
    return fsi_fail(FS_ECORRUPT, "batch zstd frame is truncated or malformed (%s)",
                    ZSTD_getErrorName(fsz));
  if (fsz != zlen)
    return fsi_fail(FS_ECORRUPT, "batch has %zu trailing bytes after its zstd frame", zlen - fsz);
  if (!(raw = malloc(rawlen ? (size_t)rawlen : 1)))
    return fsi_fail(FS_ENOMEM, "out of memory decoding a batch");
  size_t got = ZSTD_decompress(raw, (size_t)rawlen, h.p, zlen);
  if (ZSTD_isError(got)) {
    rc = fsi_fail(FS_ECORRUPT, "batch zstd frame does not decompress (%s)", ZSTD_getErrorName(got));
    goto done;
  }
  if (got != rawlen) {
    rc = fsi_fail(FS_ECORRUPT, "batch decompresses to %zu bytes, not the declared %llu", got,
                  (unsigned long long)rawlen);
    goto done;
  }
  rc = decode_body(b, raw, (size_t)rawlen);
done:
  free(raw);
  if (rc) fsi_change_batch_reset(b);
  return rc;
}
