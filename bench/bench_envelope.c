/*
 * bench_envelope.c — the change log on the wire: seal and open throughput
 * and bytes per record.
 *
 * N standard records (seed 1, device 0) become batches of B rows of the
 * `records` table (cl 1, hlc = ts << 16, one site, no cells) before any
 * timing.  "seal" times fsi_codec_encode + fsi_envelope_seal (encode, compress,
 * encrypt, sign) over all batches, chaining each envelope to the previous
 * one; "open" times fsi_envelope_open + fsi_codec_decode + fsi_envelope_check_batch
 * (verify, chain checks, decrypt, decompress, decode).  Bytes per record is the total size of the
 * envelopes over N.  Each figure is the median of `runs` runs, with the range.
 *
 * With "compare" as the fourth argument it also prints the measurements
 * behind docs/protocol.md: the codec body recompressed at several zstd
 * levels (size, compress and decompress speed), and the same rows encoded as
 * cJSON objects, raw and zstd-compressed, with their encode/parse speed.
 *
 * Usage: bench_envelope [N=100000] [B=5000] [runs=3] [compare]
 */
#include "workload.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "change.h"
#include "codec.h"
#include "envelope.h"
#include "keys.h"

#define MAX_RUNS 101

static const char *const COLS[WL_NFIELDS] = {"customer_id", "kind", "created_at", "amount",
                                             "currency",    "note", "qty"};

static void die(const char *what) {
  fprintf(stderr, "bench_envelope: %s failed: %s\n", what, fs_errmsg());
  exit(1);
}

static fsi_value text(fsi_batch *b, const char *s) {
  fsi_value v = {FS_VAL_TEXT, 0, NULL, (uint32_t)strlen(s)};
  v.s = fsi_arena_strndup(b->arena, s, v.n);
  return v;
}

/* recs[0..n) as one batch of the records table. */
static fsi_batch *make_batch(const wl_record *recs, size_t n, int64_t site) {
  fsi_batch *b = fsi_change_batch_new();
  if (!b) die("change_batch_new");
  b->ntables = 1;
  b->tables = fsi_arena_alloc(b->arena, sizeof *b->tables);
  b->tables[0].name = WL_TABLE;
  b->tables[0].ncols = WL_NFIELDS;
  b->tables[0].cols = (const char **)COLS;
  b->rows = fsi_arena_alloc(b->arena, n * sizeof *b->rows);
  b->nrows = n;
  for (size_t i = 0; i < n; i++) {
    const wl_record *r = &recs[i];
    fsi_rowchange *row = &b->rows[i];
    memset(row, 0, sizeof *row);
    row->pk = fsi_arena_strndup(b->arena, r->id, strlen(r->id));
    row->cl = 1;
    row->hlc = r->ts_ms << 16;
    row->site = site;
    row->nvals = WL_NFIELDS;
    row->vals = fsi_arena_alloc(b->arena, WL_NFIELDS * sizeof *row->vals);
    row->vals[0] = text(b, r->customer_id);
    row->vals[1] = text(b, r->kind);
    row->vals[2] = text(b, r->created_at);
    row->vals[3] = (fsi_value){FS_VAL_INT, r->amount, NULL, 0};
    row->vals[4] = text(b, r->currency);
    row->vals[5] = text(b, r->note);
    row->vals[6] = (fsi_value){FS_VAL_INT, r->qty, NULL, 0};
    if (i == 0 || row->hlc < b->hlc_min) b->hlc_min = row->hlc;
    if (i == 0 || row->hlc > b->hlc_max) b->hlc_max = row->hlc;
  }
  return b;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *name, const char *unit, double *v, int runs) {
  qsort(v, (size_t)runs, sizeof *v, cmp_double);
  printf("%-28s median %12.1f %s  (range %.1f .. %.1f, %d runs)\n", name, v[runs / 2], unit, v[0],
         v[runs - 1], runs);
}

/* ------------------------------------------------------- compare mode */

/* The uncompressed codec body of an encoding. */
static uint8_t *body_of(const uint8_t *enc, size_t len, size_t *n) {
  size_t off = 1;
  while (enc[off] & 0x80) off++;
  off++;
  unsigned long long sz = ZSTD_getFrameContentSize(enc + off, len - off);
  uint8_t *raw = malloc(sz ? sz : 1);
  *n = ZSTD_decompress(raw, sz, enc + off, len - off);
  return raw;
}

static char *json_batch(const fsi_batch *b) {
  cJSON *arr = cJSON_CreateArray();
  char hex[24];
  for (size_t i = 0; i < b->nrows; i++) {
    const fsi_rowchange *r = &b->rows[i];
    cJSON *o = cJSON_CreateObject(), *v = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "table", b->tables[r->table].name);
    cJSON_AddStringToObject(o, "pk", r->pk);
    cJSON_AddNumberToObject(o, "cl", (double)r->cl);
    snprintf(hex, sizeof hex, "%" PRId64, r->hlc); /* 64-bit: as text */
    cJSON_AddStringToObject(o, "hlc", hex);
    snprintf(hex, sizeof hex, "%016" PRIx64, (uint64_t)r->site);
    cJSON_AddStringToObject(o, "site", hex);
    for (uint16_t c = 0; c < r->nvals; c++) {
      const fsi_value *x = &r->vals[c];
      const char *name = b->tables[r->table].cols[c];
      if (x->type == FS_VAL_TEXT)
        cJSON_AddStringToObject(v, name, x->s);
      else if (x->type == FS_VAL_INT)
        cJSON_AddNumberToObject(v, name, (double)x->i);
      else
        cJSON_AddNullToObject(v, name);
    }
    cJSON_AddItemToObject(o, "values", v);
    cJSON_AddItemToArray(arr, o);
  }
  char *s = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  return s;
}

static void compare(fsi_batch **batches, size_t nb, size_t nrec) {
  static const int levels[] = {1, 3, 6, 9, 12, 19};
  size_t rawtotal = 0;
  uint8_t **bodies = calloc(nb, sizeof *bodies);
  size_t *blen = calloc(nb, sizeof *blen);
  double t0;

  for (size_t i = 0; i < nb; i++) {
    uint8_t *enc;
    size_t len;
    if (fsi_codec_encode(batches[i], &enc, &len)) die("codec_encode");
    bodies[i] = body_of(enc, len, &blen[i]);
    rawtotal += blen[i];
    free(enc);
  }
  printf("codec body, uncompressed     %8.1f B/record\n", (double)rawtotal / nrec);
  for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
    size_t z = 0;
    double tc, td;
    uint8_t **zb = calloc(nb, sizeof *zb);
    size_t *zl = calloc(nb, sizeof *zl);
    t0 = wl_now_s();
    for (size_t i = 0; i < nb; i++) {
      size_t cap = ZSTD_compressBound(blen[i]);
      zb[i] = malloc(cap);
      zl[i] = ZSTD_compress(zb[i], cap, bodies[i], blen[i], levels[l]);
      z += zl[i];
    }
    tc = wl_now_s() - t0;
    t0 = wl_now_s();
    for (size_t i = 0; i < nb; i++) {
      uint8_t *out = malloc(blen[i] + 1);
      ZSTD_decompress(out, blen[i], zb[i], zl[i]);
      free(out);
    }
    td = wl_now_s() - t0;
    printf("codec body, zstd level %2d    %8.1f B/record  compress %6.0f MB/s  "
           "decompress %6.0f MB/s\n",
           levels[l], (double)z / nrec, rawtotal / tc / 1e6, rawtotal / td / 1e6);
    for (size_t i = 0; i < nb; i++) free(zb[i]);
    free(zb);
    free(zl);
  }

  size_t jraw = 0, jz = 0;
  double tenc = 0, tparse = 0;
  for (size_t i = 0; i < nb; i++) {
    t0 = wl_now_s();
    char *s = json_batch(batches[i]);
    tenc += wl_now_s() - t0;
    size_t n = strlen(s), cap = ZSTD_compressBound(n);
    uint8_t *z = malloc(cap);
    jraw += n;
    jz += ZSTD_compress(z, cap, s, n, CODEC_ZSTD_LEVEL);
    t0 = wl_now_s();
    cJSON *p = cJSON_Parse(s);
    tparse += wl_now_s() - t0;
    cJSON_Delete(p);
    free(z);
    cJSON_free(s);
  }
  printf("cJSON rows, uncompressed     %8.1f B/record  build+print %8.0f rec/s  "
         "parse %8.0f rec/s\n",
         (double)jraw / nrec, nrec / tenc, nrec / tparse);
  printf("cJSON rows, zstd level %2d    %8.1f B/record\n", CODEC_ZSTD_LEVEL, (double)jz / nrec);

  /* The codec's own speed for the same batches (encode / decode only). */
  fsi_batch *tmp = fsi_change_batch_new();
  double te = 0, tdec = 0;
  for (size_t i = 0; i < nb; i++) {
    uint8_t *enc;
    size_t len;
    t0 = wl_now_s();
    if (fsi_codec_encode(batches[i], &enc, &len)) die("codec_encode");
    te += wl_now_s() - t0;
    t0 = wl_now_s();
    if (fsi_codec_decode(tmp, enc, len)) die("codec_decode");
    tdec += wl_now_s() - t0;
    free(enc);
  }
  printf("codec encode (level %d)       %8.0f rec/s  decode %8.0f rec/s\n", CODEC_ZSTD_LEVEL,
         nrec / te, nrec / tdec);
  fsi_change_batch_free(tmp);
  for (size_t i = 0; i < nb; i++) free(bodies[i]);
  free(bodies);
  free(blen);
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv) {
  size_t n = argc > 1 ? wl_arg("bench_envelope", argv[1], "N", 1, 10000000) : 100000;
  size_t bsz = argc > 2 ? wl_arg("bench_envelope", argv[2], "B", 1, FS_BATCH_MAX_ROWS) : 5000;
  int runs = argc > 3 ? (int)wl_arg("bench_envelope", argv[3], "runs", 1, MAX_RUNS) : 3;
  int do_compare = argc > 4 && strcmp(argv[4], "compare") == 0;
  size_t nb = (n + bsz - 1) / bsz;
  const int64_t dev_id = 0x1d2c3b4a59687700, srv_id = 0x5e4d3c2b1a090807;
  double seal_rs[MAX_RUNS], open_rs[MAX_RUNS], bpr[MAX_RUNS];
  fsi_keys dev, srv;

  if (fsi_keys_new(&dev) || fsi_keys_new(&srv)) die("keys_new");
  wl_record *recs = wl_generate(1, 0, n);
  fsi_batch **batches = calloc(nb, sizeof *batches);
  uint8_t **env = calloc(nb, sizeof *env);
  size_t *envlen = calloc(nb, sizeof *envlen);
  if (!recs || !batches || !env || !envlen) die("allocation");
  for (size_t i = 0; i < nb; i++) {
    size_t k = i * bsz, m = n - k < bsz ? n - k : bsz;
    batches[i] = make_batch(recs + k, m, dev_id);
  }
  fsi_batch *dec = fsi_change_batch_new();

  for (int run = 0; run < runs; run++) {
    fsi_envelope_header h;
    size_t total = 0, decoded = 0;
    double t0 = wl_now_s();
    memset(&h, 0, sizeof h);
    h.sender = dev_id;
    h.recipient = srv_id;
    for (size_t i = 0; i < nb; i++) {
      uint8_t *plain;
      size_t plen;
      free(env[i]);
      if (fsi_codec_encode(batches[i], &plain, &plen)) die("codec_encode");
      h.seq = i + 1;
      h.hlc_min = batches[i]->hlc_min;
      h.hlc_max = batches[i]->hlc_max;
      h.count = (uint32_t)batches[i]->nrows;
      if (fsi_envelope_seal(&env[i], &envlen[i], &h, plain, plen, &dev, &srv.pub))
        die("envelope_seal");
      free(plain);
      if (fsi_envelope_hash(h.prev, env[i], envlen[i])) die("envelope_hash");
      total += envlen[i];
    }
    double t_seal = wl_now_s() - t0;

    fsi_envelope_chain chain;
    memset(&chain, 0, sizeof chain);
    t0 = wl_now_s();
    for (size_t i = 0; i < nb; i++) {
      fsi_envelope_opened o;
      if (fsi_envelope_open(&o, env[i], envlen[i], srv_id, &srv, dev_id, &dev.pub, &chain))
        die("envelope_open");
      if (fsi_codec_decode(dec, o.plain, o.plainlen)) die("codec_decode");
      if (fsi_envelope_check_batch(&o.h, dec)) die("envelope_check_batch");
      decoded += dec->nrows;
      chain.seq = o.h.seq;
      memcpy(chain.hash, o.hash, sizeof chain.hash);
      fsi_envelope_opened_clear(&o);
    }
    double t_open = wl_now_s() - t0;
    if (decoded != n) {
      fprintf(stderr, "bench_envelope: decoded %zu of %zu records\n", decoded, n);
      return 1;
    }
    seal_rs[run] = n / t_seal;
    open_rs[run] = n / t_open;
    bpr[run] = (double)total / n;
    fprintf(stderr, "run %d: seal %.3f s, open %.3f s, %zu bytes in %zu envelopes\n", run + 1,
            t_seal, t_open, total, nb);
  }
  printf("records %zu, batch %zu, zstd level %d\n", n, bsz, CODEC_ZSTD_LEVEL);
  report("seal (encode..sign)", "records/s", seal_rs, runs);
  report("open (verify..decode)", "records/s", open_rs, runs);
  report("wire bytes per record", "B", bpr, runs);
  if (do_compare) compare(batches, nb, n);

  for (size_t i = 0; i < nb; i++) {
    fsi_change_batch_free(batches[i]);
    free(env[i]);
  }
  fsi_change_batch_free(dec);
  free(batches);
  free(env);
  free(envlen);
  free(recs);
  fsi_keys_wipe(&dev);
  fsi_keys_wipe(&srv);
  return 0;
}
