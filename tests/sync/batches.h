/*
 * batches.h — sample change batches for the sync tests and the fuzz corpus
 * generator (header-only, static functions).
 *
 * tb_records() builds the WORKLOAD.md records (bench/workload.h) as a batch
 * of the `records` table; tb_variety() builds a small batch that exercises
 * every field of the encoding (two tables, text and UUID keys, tombstones,
 * cells with and without a base, NULLs, extreme integers and clocks,
 * non-ASCII text).  tb_equal() compares two batches field by field and
 * prints the first difference.
 */
#ifndef FS_TEST_BATCHES_H
#define FS_TEST_BATCHES_H

#include <stdio.h>
#include <string.h>

#include "change.h"
#include "workload.h"

static const char *const TB_RECORD_COLS[WL_NFIELDS] = {
    "customer_id", "kind", "created_at", "amount", "currency", "note", "qty"};

static inline fsi_value tb_text(fsi_batch *b, const char *s) {
  fsi_value v = {FS_VAL_TEXT, 0, NULL, (uint32_t)strlen(s)};
  v.s = fsi_arena_strndup(b->arena, s, v.n);
  return v;
}

static inline fsi_value tb_int(int64_t i) {
  fsi_value v = {FS_VAL_INT, i, NULL, 0};
  return v;
}

static inline fsi_value tb_null(void) {
  fsi_value v = {FS_VAL_NULL, 0, NULL, 0};
  return v;
}

/* Records 0..n-1 of (seed 1, device) as alive rows of table `records`,
 * cl 1, hlc = ts << 16, one site, no cells. */
static inline fsi_batch *tb_records(size_t n, uint32_t device, int64_t site) {
  fsi_batch *b = fsi_change_batch_new();
  wl_gen g;
  wl_record r;
  b->ntables = 1;
  b->tables = fsi_arena_alloc(b->arena, sizeof *b->tables);
  b->tables[0].name = "records";
  b->tables[0].ncols = WL_NFIELDS;
  b->tables[0].cols = (const char **)TB_RECORD_COLS;
  b->rows = n ? fsi_arena_alloc(b->arena, n * sizeof *b->rows) : NULL;
  b->nrows = n;
  wl_gen_init(&g, 1, device);
  for (size_t i = 0; i < n; i++) {
    fsi_rowchange *row = &b->rows[i];
    wl_gen_next(&g, &r);
    memset(row, 0, sizeof *row);
    row->pk = fsi_arena_strndup(b->arena, r.id, strlen(r.id));
    row->cl = 1;
    row->hlc = r.ts_ms << 16;
    row->site = site;
    row->nvals = WL_NFIELDS;
    row->vals = fsi_arena_alloc(b->arena, WL_NFIELDS * sizeof *row->vals);
    row->vals[0] = tb_text(b, r.customer_id);
    row->vals[1] = tb_text(b, r.kind);
    row->vals[2] = tb_text(b, r.created_at);
    row->vals[3] = tb_int(r.amount);
    row->vals[4] = tb_text(b, r.currency);
    row->vals[5] = tb_text(b, r.note);
    row->vals[6] = tb_int(r.qty);
    if (i == 0 || row->hlc < b->hlc_min) b->hlc_min = row->hlc;
    if (i == 0 || row->hlc > b->hlc_max) b->hlc_max = row->hlc;
  }
  return b;
}

static const char *const TB_CUST_COLS[3] = {"company", "balance", "städte"};
static const char *const TB_NOTE_COLS[1] = {"text"};

/* Every kind of field once or more (see the top of this file). */
static inline fsi_batch *tb_variety(void) {
  fsi_batch *b = fsi_change_batch_new();
  fsi_rowchange *r;
  b->ntables = 2;
  b->tables = fsi_arena_alloc(b->arena, 2 * sizeof *b->tables);
  b->tables[0].name = "customers";
  b->tables[0].ncols = 3;
  b->tables[0].cols = (const char **)TB_CUST_COLS;
  b->tables[1].name = "notes";
  b->tables[1].ncols = 1;
  b->tables[1].cols = (const char **)TB_NOTE_COLS;
  b->nrows = 6;
  b->rows = fsi_arena_alloc(b->arena, 6 * sizeof *b->rows);
  memset(b->rows, 0, 6 * sizeof *b->rows);

  r = &b->rows[0]; /* live, UUID key, unicode, NULL, INT64_MIN */
  r->table = 0;
  r->pk = "019b8d2b-8c00-76b8-b9e4-6c71acdfd63c";
  r->cl = 1;
  r->hlc = (int64_t)1767600000000 << 16;
  r->site = 0x1122334455667788;
  r->nvals = 3;
  r->vals = fsi_arena_alloc(b->arena, 3 * sizeof *r->vals);
  r->vals[0] = tb_text(b, "Zürich — 東京 🚀 GmbH");
  r->vals[1] = tb_int(INT64_MIN);
  r->vals[2] = tb_null();

  r = &b->rows[1]; /* live, text key, INT64_MAX, empty text, two cells */
  r->table = 0;
  r->pk = "cust-0001";
  r->cl = 3;
  r->hlc = ((int64_t)1767600000000 << 16) + 5;
  r->site = -42;
  r->nvals = 3;
  r->vals = fsi_arena_alloc(b->arena, 3 * sizeof *r->vals);
  r->vals[0] = tb_text(b, "");
  r->vals[1] = tb_int(INT64_MAX);
  r->vals[2] = tb_text(b, "Malmö");
  r->ncells = 2;
  r->cells = fsi_arena_alloc(b->arena, 2 * sizeof *r->cells);
  r->cells[0] = (fsi_cell){0, r->hlc + 1000, 7, 0, 0};
  r->cells[1] = (fsi_cell){2, r->hlc + 2000, -42, r->hlc - 3, 7};

  r = &b->rows[2]; /* tombstone with seen, uppercase UUID (not packed) */
  r->table = 0;
  r->pk = "019B8D2B-8C00-76B8-B9E4-6C71ACDFD63D";
  r->cl = 2;
  r->hlc = ((int64_t)1767600000000 << 16) + 9;
  r->site = 7;
  r->seen = ((int64_t)1767600000000 << 16) + 1;

  r = &b->rows[3]; /* other table, negative and -1 values, extreme clock */
  r->table = 1;
  r->pk = "019b8d2b-8c01-7000-8000-000000000000";
  r->cl = 1;
  r->hlc = INT64_MAX;
  r->site = 0;
  r->nvals = 1;
  r->vals = fsi_arena_alloc(b->arena, sizeof *r->vals);
  r->vals[0] = tb_int(-1);

  r = &b->rows[4]; /* clock going backwards, tombstone without seen, cells */
  r->table = 0;
  r->pk = "00000000-0000-0000-0000-000000000000";
  r->cl = 4;
  r->hlc = INT64_MIN;
  r->site = INT64_MIN;
  r->ncells = 1;
  r->cells = fsi_arena_alloc(b->arena, sizeof *r->cells);
  r->cells[0] = (fsi_cell){1, INT64_MAX, INT64_MAX, INT64_MIN, INT64_MIN};

  r = &b->rows[5]; /* long key text with spaces, 64 bytes */
  r->table = 1;
  r->pk = "k: 0123456789012345678901234567890123456789012345678901234567890";
  r->cl = INT64_MAX;
  r->hlc = 12345;
  r->site = 1;
  r->nvals = 1;
  r->vals = fsi_arena_alloc(b->arena, sizeof *r->vals);
  r->vals[0] = tb_text(b, "a note\nwith a newline and a tab\t.");
  return b;
}

static inline int tb_value_equal(const fsi_value *a, const fsi_value *b) {
  if (a->type != b->type) return 0;
  if (a->type == FS_VAL_INT) return a->i == b->i;
  if (a->type == FS_VAL_TEXT)
    return a->n == b->n && memcmp(a->s, b->s, a->n) == 0 && b->s[b->n] == '\0';
  return 1;
}

/* 1 when a and b hold the same dictionary and rows. */
static inline int tb_equal(const fsi_batch *a, const fsi_batch *b) {
  if (a->ntables != b->ntables || a->nrows != b->nrows) {
    fprintf(stderr, "batch shape differs: %u/%zu vs %u/%zu\n", a->ntables, a->nrows, b->ntables,
            b->nrows);
    return 0;
  }
  for (uint16_t t = 0; t < a->ntables; t++) {
    const fsi_batch_table *x = &a->tables[t], *y = &b->tables[t];
    if (strcmp(x->name, y->name) || x->ncols != y->ncols) {
      fprintf(stderr, "table %u differs\n", t);
      return 0;
    }
    for (uint16_t c = 0; c < x->ncols; c++)
      if (strcmp(x->cols[c], y->cols[c])) {
        fprintf(stderr, "column %u.%u differs\n", t, c);
        return 0;
      }
  }
  for (size_t i = 0; i < a->nrows; i++) {
    const fsi_rowchange *x = &a->rows[i], *y = &b->rows[i];
    int same = x->table == y->table && strcmp(x->pk, y->pk) == 0 && x->cl == y->cl &&
               x->hlc == y->hlc && x->site == y->site && x->seen == y->seen &&
               x->nvals == y->nvals && x->ncells == y->ncells;
    for (uint16_t k = 0; same && k < x->nvals; k++) same = tb_value_equal(&x->vals[k], &y->vals[k]);
    for (uint16_t k = 0; same && k < x->ncells; k++)
      same = x->cells[k].col == y->cells[k].col && x->cells[k].hlc == y->cells[k].hlc &&
             x->cells[k].site == y->cells[k].site && x->cells[k].bhlc == y->cells[k].bhlc &&
             x->cells[k].bsite == y->cells[k].bsite;
    if (!same) {
      fprintf(stderr, "row %zu (%s) differs\n", i, x->pk);
      return 0;
    }
  }
  return 1;
}

#endif
