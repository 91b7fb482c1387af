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
static const char *const SECTION_NAMES[S_FIXED] = {
    "row section", "key section", "uuid section",
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
  const char *what;       /* section name, for messages */
  const char *tab, *col;  /* set for a column's value section */
} rd;

static int rd_fail(const rd *r, int code, const char *problem) {
  if (r->col)
    return fsi_fail(code, "batch %s in the values of column %s.%s", problem,
                   r->tab, r->col);
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
static int rd_text(rd *r, struct fsi_arena *a, size_t minlen, size_t maxlen,
                   const char *what, const char **out, uint32_t *nout) {
  uint64_t n;
  const uint8_t *p = NULL;
  int rc = rd_varint(r, &n);
  if (rc) return rc;
  if (n < minlen || n > maxlen) {
    if (r->col)
      return fsi_fail(FS_ECORRUPT,
                     "batch %s of %llu bytes in column %s.%s is outside %zu..%zu",
                     what, (unsigned long long)n, r->tab, r->col, minlen, maxlen);
    return fsi_fail(FS_ECORRUPT, "batch %s of %llu bytes in the %s is outside %zu..%zu",
                   what, (unsigned long long)n, r->what, minlen, maxlen);
  }
  if ((rc = rd_bytes(r, (size_t)n, &p))) return rc;
  if (!fsi_util_utf8_valid((const char *)p, (size_t)n)) {
    if (r->col)
      return fsi_fail(FS_ECORRUPT, "batch %s in column %s.%s is not valid UTF-8",
                     what, r->tab, r->col);
    return fsi_fail(FS_ECORRUPT, "batch %s in the %s is not valid UTF-8", what,
                   r->what);
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
    out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | hexval(s[i])
                                 : hexval(s[i]) << 4);
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
    return fsi_fail(FS_ETOOBIG, "batch refers to more than %d distinct sites",
                   CODEC_MAX_SITES);
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
          return fsi_fail(code, "%s lists column %s.%s twice", who, bt->name,
                         bt->cols[c]);
  }
  return FS_OK;
}

static int check_encode_input(const fsi_batch *b) {
  size_t n;
  if (b->ntables > FS_BATCH_MAX_TABLES)
    return fsi_fail(FS_ETOOBIG, "batch to encode has %u tables, over the limit of %d",
                   b->ntables, FS_BATCH_MAX_TABLES);
  if (b->nrows > FS_BATCH_MAX_ROWS)
    return fsi_fail(FS_ETOOBIG, "batch to encode has %zu rows, over the limit of %d",
                   b->nrows, FS_BATCH_MAX_ROWS);
  for (uint16_t t = 0; t < b->ntables; t++) {
    const fsi_batch_table *bt = &b->tables[t];
    if (!name_ok(bt->name, &n))
      return fsi_fail(FS_EINVAL, "batch to encode: table %u has an invalid name", t);
    if (bt->ncols > FS_BATCH_MAX_COLS)
      return fsi_fail(FS_ETOOBIG, "batch to encode: table %s has %u columns, over %d",
                     bt->name, bt->ncols, FS_BATCH_MAX_COLS);
    for (uint16_t c = 0; c < bt->ncols; c++)
      if (!name_ok(bt->cols[c], &n))
        return fsi_fail(FS_EINVAL, "batch to encode: column %u of table %s has an invalid name",
                       c, bt->name);
  }
  int rc = check_dict(b, FS_EINVAL);
  if (rc) return rc;
  for (size_t i = 0; i < b->nrows; i++) {
    const fsi_rowchange *r = &b->rows[i];
    if (r->table >= b->ntables)
      return fsi_fail(FS_EINVAL, "batch to encode: row %zu refers to table %u of %u",
                     i, r->table, b->ntables);
    const fsi_batch_table *bt = &b->tables[r->table];
    if (!r->pk || (n = strnlen(r->pk, FS_BATCH_MAX_PK + 1)) < 1 ||
        n > FS_BATCH_MAX_PK || !fsi_util_utf8_valid(r->pk, n))
      return fsi_fail(FS_EINVAL, "batch to encode: row %zu of %s has an invalid primary key",
                     i, bt->name);
    if (r->cl < 1)
      return fsi_fail(FS_EINVAL, "batch to encode: row %s.%s has causal length %lld < 1",
                     bt->name, r->pk, (long long)r->cl);
    if (r->cl % 2 == 1 ? r->nvals != bt->ncols || (bt->ncols && !r->vals)
                       : r->nvals != 0)
      return fsi_fail(FS_EINVAL, "batch to encode: %s row %s.%s has %u values for %u columns",
                     r->cl % 2 ? "live" : "deleted", bt->name, r->pk, r->nvals,
                     bt->ncols);
    if (r->ncells && !r->cells)
      return fsi_fail(FS_EINVAL, "batch to encode: row %s.%s has no cell array",
                     bt->name, r->pk);
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
        return fsi_fail(FS_EINVAL, "batch to encode: %s.%s of row %s has value type %u",
                       bt->name, bt->cols[c], r->pk, v->type);
      }
    }
  }
  return FS_OK;
}

/* --------------------------------------------------------------- encode */

int fsi_codec_encode(const fsi_batch *b, uint8_t **out, size_t *outlen) {
  size_t nsec = S_FIXED, *colbase = NULL;
  cbuf *sec = NULL, body = {0};
  sitemap sm = {0};
  uint8_t *dst = NULL;
  int64_t *prev_int = NULL;
  int rc;

  *out = NULL;
  *outlen = 0;
  if ((rc = check_encode_input(b))) goto done;

  colbase = malloc((b->ntables + 1) * sizeof *colbase);
  if (!colbase) goto oom;
  for (uint16_t t = 0; t < b->ntables; t++) {
    colbase[t] = nsec;
    nsec += b->tables[t].ncols;
  }
  sec = calloc(nsec, sizeof *sec);
  prev_int = calloc(nsec, sizeof *prev_int);
  if (!sec || !prev_int) goto oom;

  uint64_t prev_hlc = 0, prev_uuid = 0;
  for (size_t i = 0; i < b->nrows; i++) {
    const fsi_rowchange *r = &b->rows[i];
    uint32_t si;

    cb_varint(&sec[S_ROWS], r->table);
    cb_varint(&sec[S_ROWS], (uint64_t)r->cl);
    cb_varint(&sec[S_ROWS], (uint64_t)r->ncells << 1 | (r->seen != 0));

    if (fsi_util_is_uuid(r->pk)) {
      uint8_t u[16];
      uuid_pack(u, r->pk);
      uint64_t pre = uuid_prefix(u);
      cb_varint(&sec[S_PKS], 0);
      cb_varint(&sec[S_PKS], zz_enc(pre - prev_uuid));
      cb_put(&sec[S_UUIDS], u + 6, UUID_RAND_BYTES);
      prev_uuid = pre;
    } else {
      size_t n = strlen(r->pk);
      cb_varint(&sec[S_PKS], n);
      cb_put(&sec[S_PKS], r->pk, n);
    }

    if ((rc = sitemap_index(&sm, r->site, &si))) goto done;
    cb_varint(&sec[S_CLOCKS], zz_enc((uint64_t)r->hlc - prev_hlc));
    cb_varint(&sec[S_CLOCKS], si);
    if (r->seen) cb_varint(&sec[S_CLOCKS], zz_enc((uint64_t)r->hlc - (uint64_t)r->seen));
    prev_hlc = (uint64_t)r->hlc;

    int prev_col = -1;
    for (uint16_t k = 0; k < r->ncells; k++) {
      const fsi_cell *c = &r->cells[k];
      int base = c->bhlc != 0 || c->bsite != 0;
      cb_varint(&sec[S_CELLS], (uint64_t)(c->col - prev_col - 1) << 1 | (uint64_t)base);
      cb_varint(&sec[S_CELLS], zz_enc((uint64_t)c->hlc - (uint64_t)r->hlc));
      if ((rc = sitemap_index(&sm, c->site, &si))) goto done;
      cb_varint(&sec[S_CELLS], si);
      if (base) {
        cb_varint(&sec[S_CELLS], zz_enc((uint64_t)c->hlc - (uint64_t)c->bhlc));
        if ((rc = sitemap_index(&sm, c->bsite, &si))) goto done;
        cb_varint(&sec[S_CELLS], si);
      }
      prev_col = c->col;
    }

    for (uint16_t c = 0; c < r->nvals; c++) {
      const fsi_value *v = &r->vals[c];
      size_t s = colbase[r->table] + c;
      cb_byte(&sec[S_TYPES], v->type);
      if (v->type == FS_VAL_INT) {
        cb_varint(&sec[s], zz_enc((uint64_t)v->i - (uint64_t)prev_int[s]));
        prev_int[s] = v->i;
      } else if (v->type == FS_VAL_TEXT) {
        cb_varint(&sec[s], v->n);
        cb_put(&sec[s], v->s, v->n);
      }
    }
  }

  /* Body: dictionaries, row count, then every section length-prefixed. */
  cb_varint(&body, b->ntables);
  for (uint16_t t = 0; t < b->ntables; t++) {
    const fsi_batch_table *bt = &b->tables[t];
    size_t n = strlen(bt->name);
    cb_varint(&body, n);
    cb_put(&body, bt->name, n);
    cb_varint(&body, bt->ncols);
    for (uint16_t c = 0; c < bt->ncols; c++) {
      n = strlen(bt->cols[c]);
      cb_varint(&body, n);
      cb_put(&body, bt->cols[c], n);
    }
  }
  cb_varint(&body, sm.n);
  for (size_t i = 0; i < sm.n; i++) cb_i64le(&body, sm.ids[i]);
  cb_varint(&body, b->nrows);
  for (size_t s = 0; s < nsec; s++) {
    if (sec[s].oom) goto oom;
    cb_varint(&body, sec[s].n);
    cb_put(&body, sec[s].p, sec[s].n);
    free(sec[s].p);
    sec[s].p = NULL;
  }
  if (body.oom) goto oom;
  if (body.n > CODEC_MAX_RAW) {
    rc = fsi_fail(FS_ETOOBIG, "batch encodes to %zu bytes before compression, over the %u limit",
                 body.n, CODEC_MAX_RAW);
    goto done;
  }

  /* Frame: version, declared size, one zstd frame. */
  {
    cbuf head = {0};
    cb_byte(&head, CODEC_VERSION);
    cb_varint(&head, body.n);
    if (head.oom) goto oom;
    size_t bound = ZSTD_compressBound(body.n);
    dst = malloc(head.n + bound);
    if (!dst) {
      free(head.p);
      goto oom;
    }
    memcpy(dst, head.p, head.n);
    size_t zn = ZSTD_compress(dst + head.n, bound, body.p, body.n, CODEC_ZSTD_LEVEL);
    size_t hn = head.n;
    free(head.p);
    if (ZSTD_isError(zn)) {
      rc = fsi_fail(FS_ENOMEM, "zstd could not compress a batch: %s", ZSTD_getErrorName(zn));
      goto done;
    }
    uint8_t *shrunk = realloc(dst, hn + zn);
    if (shrunk) dst = shrunk;
    *out = dst;
    *outlen = hn + zn;
    dst = NULL;
  }
  rc = FS_OK;
  goto done;

oom:
  rc = fsi_fail(FS_ENOMEM, "out of memory encoding a batch");
done:
  if (sec)
    for (size_t s = 0; s < nsec; s++) free(sec[s].p);
  free(sec);
  free(prev_int);
  free(colbase);
  free(body.p);
  free(sm.ids);
  free(sm.slot);
  free(dst);
  return rc;
}

/* --------------------------------------------------------------- decode */

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

static int decode_body(fsi_batch *b, const uint8_t *raw, size_t rawlen) {
  struct fsi_arena *a = b->arena;
  rd r = {raw, raw + rawlen, "dictionary", NULL, NULL};
  rd *sec = NULL;
  int64_t *sites = NULL, *prev_int = NULL;
  size_t nsites = 0, nsec = S_FIXED, *colbase = NULL;
  uint64_t v;
  int rc;

  if ((rc = rd_varint(&r, &v))) goto done;
  if (v > FS_BATCH_MAX_TABLES) {
    rc = fsi_fail(FS_ETOOBIG, "batch declares %llu tables, over the limit of %d",
                 (unsigned long long)v, FS_BATCH_MAX_TABLES);
    goto done;
  }
  b->ntables = (uint16_t)v;
  if (b->ntables) {
    b->tables = fsi_arena_alloc(a, b->ntables * sizeof *b->tables);
    colbase = malloc(b->ntables * sizeof *colbase);
    if (!b->tables || !colbase) goto oom;
  }
  for (uint16_t t = 0; t < b->ntables; t++) {
    fsi_batch_table *bt = &b->tables[t];
    if ((rc = rd_text(&r, a, 1, FS_BATCH_MAX_NAME, "table name", &bt->name, NULL)))
      goto done;
    if ((rc = rd_varint(&r, &v))) goto done;
    if (v > FS_BATCH_MAX_COLS) {
      rc = fsi_fail(FS_ETOOBIG, "batch table %s declares %llu columns, over the limit of %d",
                   bt->name, (unsigned long long)v, FS_BATCH_MAX_COLS);
      goto done;
    }
    bt->ncols = (uint16_t)v;
    if (bt->ncols && !(bt->cols = fsi_arena_alloc(a, bt->ncols * sizeof *bt->cols))) goto oom;
    for (uint16_t c = 0; c < bt->ncols; c++)
      if ((rc = rd_text(&r, a, 1, FS_BATCH_MAX_NAME, "column name", &bt->cols[c], NULL)))
        goto done;
    colbase[t] = nsec;
    nsec += bt->ncols;
  }
  if ((rc = check_dict(b, FS_ECORRUPT))) goto done;

  r.what = "site dictionary";
  if ((rc = rd_varint(&r, &v))) goto done;
  if (v > CODEC_MAX_SITES) {
    rc = fsi_fail(FS_ETOOBIG, "batch declares %llu sites, over the limit of %d",
                 (unsigned long long)v, CODEC_MAX_SITES);
    goto done;
  }
  nsites = (size_t)v;
  if ((size_t)(r.end - r.p) / 8 < nsites) {
    rc = rd_fail(&r, FS_ECORRUPT, "truncated");
    goto done;
  }
  if (nsites && !(sites = malloc(nsites * sizeof *sites))) goto oom;
  for (size_t i = 0; i < nsites; i++, r.p += 8) {
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = (u << 8) | r.p[k];
    sites[i] = (int64_t)u;
  }

  r.what = "row count";
  if ((rc = rd_varint(&r, &v))) goto done;
  if (v > FS_BATCH_MAX_ROWS) {
    rc = fsi_fail(FS_ETOOBIG, "batch declares %llu rows, over the limit of %d",
                 (unsigned long long)v, FS_BATCH_MAX_ROWS);
    goto done;
  }
  size_t nrows = (size_t)v;

  sec = calloc(nsec, sizeof *sec);
  prev_int = calloc(nsec, sizeof *prev_int);
  if (!sec || !prev_int) goto oom;
  for (size_t s = 0; s < nsec; s++) {
    const uint8_t *p = NULL;
    r.what = "section table";
    if ((rc = rd_varint(&r, &v))) goto done;
    if (v > (uint64_t)(r.end - r.p)) {
      rc = fsi_fail(FS_ECORRUPT, "batch truncated: a section declares %llu bytes, %zu remain",
                   (unsigned long long)v, (size_t)(r.end - r.p));
      goto done;
    }
    if ((rc = rd_bytes(&r, (size_t)v, &p))) goto done;
    sec[s].p = p;
    sec[s].end = p + v;
    if (s < S_FIXED) {
      sec[s].what = SECTION_NAMES[s];
    } else {
      uint16_t t = 0;
      while (t + 1 < b->ntables && colbase[t + 1] <= s) t++;
      sec[s].what = "value section";
      sec[s].tab = b->tables[t].name;
      sec[s].col = b->tables[t].cols[s - colbase[t]];
    }
  }
  if (r.p != r.end) {
    rc = fsi_fail(FS_ECORRUPT, "batch has %zu trailing bytes after its last section",
                 (size_t)(r.end - r.p));
    goto done;
  }

  if (nrows > (size_t)(sec[S_ROWS].end - sec[S_ROWS].p) / ROW_MIN_BYTES) {
    rc = fsi_fail(FS_ECORRUPT, "batch truncated: %zu rows do not fit in the row section",
                 nrows);
    goto done;
  }
  if (nrows) {
    b->rows = fsi_arena_alloc(a, nrows * sizeof *b->rows);
    if (!b->rows) goto oom;
    memset(b->rows, 0, nrows * sizeof *b->rows);
  }

  uint64_t prev_hlc = 0, prev_uuid = 0;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; i < nrows; i++) {
    fsi_rowchange *row = &b->rows[i];
    uint64_t flags;

    if ((rc = rd_varint(&sec[S_ROWS], &v))) goto done;
    if (v >= b->ntables) {
      rc = fsi_fail(FS_ECORRUPT, "batch row %zu refers to table %llu of %u", i,
                   (unsigned long long)v, b->ntables);
      goto done;
    }
    row->table = (uint16_t)v;
    const fsi_batch_table *bt = &b->tables[row->table];
    if ((rc = rd_varint(&sec[S_ROWS], &v))) goto done;
    if (v < 1 || v > INT64_MAX) {
      rc = fsi_fail(FS_ECORRUPT, "batch row %zu of %s has causal length %llu, not 1..2^63-1",
                   i, bt->name, (unsigned long long)v);
      goto done;
    }
    row->cl = (int64_t)v;
    if ((rc = rd_varint(&sec[S_ROWS], &flags))) goto done;
    if ((flags >> 1) > bt->ncols) {
      rc = fsi_fail(FS_ECORRUPT, "batch row %zu of %s has %llu cells for %u columns", i,
                   bt->name, (unsigned long long)(flags >> 1), bt->ncols);
      goto done;
    }
    row->ncells = (uint16_t)(flags >> 1);

    /* Primary key: 0 = packed UUID, else the length of a text key. */
    if ((rc = rd_varint(&sec[S_PKS], &v))) goto done;
    if (v == 0) {
      uint64_t d;
      const uint8_t *rnd = NULL;
      uint8_t u[16];
      char *pk;
      if ((rc = rd_varint(&sec[S_PKS], &d))) goto done;
      prev_uuid += zz_dec(d);
      if (prev_uuid >> 48) {
        rc = fsi_fail(FS_ECORRUPT, "batch row %zu of %s has a UUID timestamp out of range",
                     i, bt->name);
        goto done;
      }
      if ((rc = rd_bytes(&sec[S_UUIDS], UUID_RAND_BYTES, &rnd))) goto done;
      for (int k = 0; k < 6; k++) u[k] = (uint8_t)(prev_uuid >> (8 * (5 - k)));
      memcpy(u + 6, rnd, UUID_RAND_BYTES);
      if (!(pk = fsi_arena_alloc(a, UUID_TEXT_LEN + 1))) goto oom;
      uuid_unpack(pk, u);
      row->pk = pk;
    } else {
      const uint8_t *p = NULL;
      if (v > FS_BATCH_MAX_PK) {
        rc = fsi_fail(FS_ECORRUPT, "batch row %zu of %s has a %llu-byte primary key, over %d",
                     i, bt->name, (unsigned long long)v, FS_BATCH_MAX_PK);
        goto done;
      }
      if ((rc = rd_bytes(&sec[S_PKS], (size_t)v, &p))) goto done;
      if (!fsi_util_utf8_valid((const char *)p, (size_t)v)) {
        rc = fsi_fail(FS_ECORRUPT, "batch row %zu of %s has a primary key that is not valid UTF-8",
                     i, bt->name);
        goto done;
      }
      if (!(row->pk = fsi_arena_strndup(a, (const char *)p, (size_t)v))) goto oom;
    }

    /* Clocks: row hlc delta from the previous row, site, optional seen. */
    if ((rc = rd_varint(&sec[S_CLOCKS], &v))) goto done;
    prev_hlc += zz_dec(v);
    row->hlc = (int64_t)prev_hlc;
    if ((rc = decode_site(&sec[S_CLOCKS], sites, nsites, &row->site))) goto done;
    if (flags & 1) {
      if ((rc = rd_varint(&sec[S_CLOCKS], &v))) goto done;
      row->seen = (int64_t)((uint64_t)row->hlc - zz_dec(v));
    }
    if (row->hlc < lo) lo = row->hlc;
    if (row->hlc > hi) hi = row->hlc;

    if (row->ncells) {
      row->cells = fsi_arena_alloc(a, row->ncells * sizeof *row->cells);
      if (!row->cells) goto oom;
    }
    uint64_t next_col = 0;
    for (uint16_t k = 0; k < row->ncells; k++) {
      fsi_cell *c = &row->cells[k];
      rd *cs = &sec[S_CELLS];
      memset(c, 0, sizeof *c);
      if ((rc = rd_varint(cs, &v))) goto done;
      if ((v >> 1) >= bt->ncols - next_col) {
        rc = fsi_fail(FS_ECORRUPT, "batch row %zu of %s has a cell past its last column", i,
                     bt->name);
        goto done;
      }
      c->col = (uint16_t)(next_col + (v >> 1));
      next_col = c->col + 1u;
      uint64_t d;
      if ((rc = rd_varint(cs, &d))) goto done;
      c->hlc = (int64_t)((uint64_t)row->hlc + zz_dec(d));
      if ((rc = decode_site(cs, sites, nsites, &c->site))) goto done;
      if (v & 1) {
        if ((rc = rd_varint(cs, &d))) goto done;
        c->bhlc = (int64_t)((uint64_t)c->hlc - zz_dec(d));
        if ((rc = decode_site(cs, sites, nsites, &c->bsite))) goto done;
      }
      if (c->hlc < lo) lo = c->hlc;
      if (c->hlc > hi) hi = c->hlc;
    }

    if (row->cl % 2 == 0 || bt->ncols == 0) continue;
    row->nvals = bt->ncols;
    if (!(row->vals = fsi_arena_alloc(a, bt->ncols * sizeof *row->vals))) goto oom;
    for (uint16_t c = 0; c < bt->ncols; c++) {
      fsi_value *val = &row->vals[c];
      size_t s = colbase[row->table] + c;
      const uint8_t *tp = NULL;
      memset(val, 0, sizeof *val);
      if ((rc = rd_bytes(&sec[S_TYPES], 1, &tp))) goto done;
      val->type = *tp;
      if (val->type == FS_VAL_INT) {
        if ((rc = rd_varint(&sec[s], &v))) goto done;
        prev_int[s] = (int64_t)((uint64_t)prev_int[s] + zz_dec(v));
        val->i = prev_int[s];
      } else if (val->type == FS_VAL_TEXT) {
        if ((rc = rd_text(&sec[s], a, 0, FS_BATCH_MAX_TEXT, "text value", &val->s, &val->n)))
          goto done;
      } else if (val->type != FS_VAL_NULL) {
        rc = fsi_fail(FS_ECORRUPT, "batch value of %s.%s in row %zu has unknown type %u",
                     bt->name, bt->cols[c], i, val->type);
        goto done;
      }
    }
  }
  for (size_t s = 0; s < nsec; s++)
    if (sec[s].p != sec[s].end) {
      rc = rd_fail(&sec[s], FS_ECORRUPT, "has trailing bytes");
      goto done;
    }
  b->nrows = nrows;
  b->hlc_min = nrows ? lo : 0;
  b->hlc_max = nrows ? hi : 0;
  rc = FS_OK;
  goto done;

oom:
  rc = fsi_fail(FS_ENOMEM, "out of memory decoding a batch");
done:
  free(sec);
  free(sites);
  free(prev_int);
  free(colbase);
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
    return fsi_fail(FS_ECORRUPT, "batch has %zu trailing bytes after its zstd frame",
                   zlen - fsz);
  if (!(raw = malloc(rawlen ? (size_t)rawlen : 1)))
    return fsi_fail(FS_ENOMEM, "out of memory decoding a batch");
  size_t got = ZSTD_decompress(raw, (size_t)rawlen, h.p, zlen);
  if (ZSTD_isError(got)) {
    rc = fsi_fail(FS_ECORRUPT, "batch zstd frame does not decompress (%s)",
                 ZSTD_getErrorName(got));
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
