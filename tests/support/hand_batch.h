/*
 * hand_batch.h — change batches built by hand for the core tests (a
 * tampered or hand-written device batch): every table of a schema in the
 * dictionary, rows appended with explicit causal lengths, clocks, values
 * and cell clocks, and the row clock a store holds.  Header-only (static functions); b->rows holds
 * up to HAND_BATCH_ROWS rows.
 */
#ifndef FS_TEST_HAND_BATCH_H
#define FS_TEST_HAND_BATCH_H

#include <stdlib.h>
#include <string.h>

#include <fieldsync/fieldsync.h>

#include "change.h" /* and storeInt.h, included first by each user */
#include "testutil.h"

#define HAND_BATCH_ROWS 64

static inline fsi_batch *hand_batch(const fs_schema *sc) {
  fsi_batch *b = fsi_change_batch_new();
  b->ntables = (uint16_t)sc->ntables;
  b->tables = fsi_arena_alloc(b->arena, sc->ntables * sizeof *b->tables);
  for (size_t i = 0; i < sc->ntables; i++) {
    b->tables[i].name = sc->tables[i].name;
    b->tables[i].ncols = (uint16_t)sc->tables[i].ncols;
    b->tables[i].cols = fsi_arena_alloc(b->arena, sc->tables[i].ncols * sizeof(char *));
    for (size_t j = 0; j < sc->tables[i].ncols; j++)
      b->tables[i].cols[j] = sc->tables[i].cols[j].name;
  }
  b->rows = fsi_arena_alloc(b->arena, HAND_BATCH_ROWS * sizeof *b->rows);
  return b;
}

static inline int batch_table(const fsi_batch *b, const char *name) {
  for (int i = 0; i < b->ntables; i++)
    if (!strcmp(b->tables[i].name, name)) return i;
  abort();
}

static inline int batch_col(const fsi_batch *b, int t, const char *name) {
  for (int i = 0; i < b->tables[t].ncols; i++)
    if (!strcmp(b->tables[t].cols[i], name)) return i;
  abort();
}

/* Appends a live row (all columns NULL) to b; b->rows must have room. */
static inline fsi_rowchange *hand_row(fsi_batch *b, const char *table, const char *pk, int64_t cl,
                                      int64_t hlc, int64_t site) {
  if (b->nrows == HAND_BATCH_ROWS) abort();
  fsi_rowchange *r = &b->rows[b->nrows++];
  memset(r, 0, sizeof *r);
  r->table = (uint16_t)batch_table(b, table);
  r->pk = fsi_arena_strndup(b->arena, pk, strlen(pk));
  r->cl = cl;
  r->hlc = hlc;
  r->site = site;
  if (cl % 2 == 1) {
    r->nvals = b->tables[r->table].ncols;
    r->vals = fsi_arena_alloc(b->arena, r->nvals * sizeof *r->vals);
    memset(r->vals, 0, r->nvals * sizeof *r->vals);
  }
  return r;
}

static inline void hand_text(fsi_batch *b, fsi_rowchange *r, const char *col, const char *v) {
  int c = batch_col(b, r->table, col);
  r->vals[c] =
      (fsi_value){FS_VAL_TEXT, 0, fsi_arena_strndup(b->arena, v, strlen(v)), (uint32_t)strlen(v)};
}

static inline void hand_int(fsi_batch *b, fsi_rowchange *r, const char *col, int64_t v) {
  r->vals[batch_col(b, r->table, col)] = (fsi_value){FS_VAL_INT, v, NULL, 0};
}

/* Gives column col its own clock entry in r (kept sorted by column). */
static inline void hand_cell(fsi_batch *b, fsi_rowchange *r, const char *col, int64_t hlc,
                             int64_t site) {
  uint16_t c = (uint16_t)batch_col(b, r->table, col);
  fsi_cell *cells = fsi_arena_alloc(b->arena, (r->ncells + 1u) * sizeof *cells);
  size_t n = 0;
  int placed = 0;
  for (size_t i = 0; i < r->ncells; i++) {
    if (!placed && r->cells[i].col > c) {
      cells[n++] = (fsi_cell){c, hlc, site, r->hlc, r->site};
      placed = 1;
    }
    if (r->cells[i].col != c) cells[n++] = r->cells[i];
  }
  if (!placed) cells[n++] = (fsi_cell){c, hlc, site, r->hlc, r->site};
  r->cells = cells;
  r->ncells = (uint16_t)n;
}

/* The row clock of a row as st holds it (a failed check when unreadable). */
static inline void row_clock(fs_store *st, const char *table, const char *pk, int64_t *hlc,
                             int64_t *site) {
  struct fsi_arena *a = fsi_arena_new(1024);
  fsi_row r;
  CHECK_OK(fsi_row_load(st, fsi_store_table(st, table), pk, a, &r));
  *hlc = r.hlc;
  *site = r.site;
  fsi_arena_free(a);
}

#endif
