/*
 * change.h — the change batch: what one replica sends another.
 *
 * A batch is a list of row states.  Each row change carries the whole
 * current state of one row on the sending replica: its causal length
 * (odd = alive, even = deleted), the row clock (the insert clock for a live
 * row, the delete clock for a tombstone), every column value for a live row,
 * and a clock entry for each column whose clock differs from the row clock
 * (columns edited after the insert).  Because a row change is a state, not
 * an operation, batches can be applied in any order, any number of times,
 * and partially: a row is either in a batch whole or not at all.
 *
 * Tables and columns travel by name (the batch's dictionary), so replicas
 * with differently ordered declarations still agree.  Values are borrowed
 * from the batch's arena; a batch is freed whole with fsi_change_batch_free().
 *
 * This header is internal to the library (core/ and sync/).
 */
#ifndef FS_CHANGE_H
#define FS_CHANGE_H

#include <stddef.h>
#include <stdint.h>

#define FS_VAL_NULL 0
#define FS_VAL_INT 1
#define FS_VAL_TEXT 2

/* Hard bounds every decoder enforces on untrusted batches. */
#define FS_BATCH_MAX_TABLES 64
#define FS_BATCH_MAX_COLS 64
#define FS_BATCH_MAX_ROWS 100000
#define FS_BATCH_MAX_NAME 64    /* table and column names, bytes */
#define FS_BATCH_MAX_PK 64      /* primary key text, bytes */
#define FS_BATCH_MAX_TEXT 65536 /* one text value, bytes */
/* The highest causal length a replica accepts or reaches: a row may be
 * deleted and re-created about 2^39 times, and `cl + 1` can never overflow. */
#define FS_MAX_CL ((int64_t)1 << 40)

/* The batch table that carries head office's let-go markers: a row of it
 * (no columns, an even causal length, no values) names a customer that head
 * office moved to another manager; the receiving device drops the customer
 * and everything belonging to it.  A name no declared table can have. */
#define FS_LETGO_TABLE "fs_letgo"

typedef struct fsi_value {
  uint8_t type;  /* FS_VAL_* */
  int64_t i;     /* FS_VAL_INT */
  const char *s; /* FS_VAL_TEXT: NUL-terminated, n bytes, valid UTF-8 */
  uint32_t n;
} fsi_value;

/* The clock of one cell when it differs from the row clock. */
typedef struct fsi_cell {
  uint16_t col; /* index into the table's column dictionary */
  int64_t hlc;  /* clock of the value */
  int64_t site; /* site that wrote the value */
  int64_t bhlc; /* base: clock of the value its writer last saw (0 = none) */
  int64_t bsite;
} fsi_cell;

typedef struct fsi_rowchange {
  uint16_t table; /* index into batch->tables */
  const char *pk; /* NUL-terminated text, 1..FS_BATCH_MAX_PK bytes */
  int64_t cl;     /* causal length: odd alive, even deleted; >= 1 */
  int64_t hlc;    /* row clock: insert clock (alive) or delete clock */
  int64_t site;   /* site of the row clock */
  int64_t seen;   /* tombstone: highest cell hlc the deleter had seen */
  uint16_t nvals; /* alive: == tables[table].ncols; deleted: 0 */
  fsi_value *vals;
  uint16_t ncells;
  fsi_cell *cells; /* sorted by col, no duplicates */
} fsi_rowchange;

typedef struct fsi_batch_table {
  const char *name;
  uint16_t ncols;
  const char **cols; /* column names, without the id column */
} fsi_batch_table;

typedef struct fsi_batch {
  struct fsi_arena *arena;
  uint16_t ntables;
  fsi_batch_table *tables;
  size_t nrows;
  fsi_rowchange *rows;
  int64_t hlc_min, hlc_max; /* over every clock in the batch (0,0 if empty) */
} fsi_batch;

/* Arena allocation: everything a batch points to lives in its arena. */
struct fsi_arena *fsi_arena_new(size_t chunk);
void fsi_arena_free(struct fsi_arena *a);
void *fsi_arena_alloc(struct fsi_arena *a, size_t n); /* 8-aligned */
char *fsi_arena_strndup(struct fsi_arena *a, const char *s, size_t n);
/* Forgets every allocation, keeping the newest chunk for reuse. */
void fsi_arena_reset(struct fsi_arena *a);

fsi_batch *fsi_change_batch_new(void);
void fsi_change_batch_free(fsi_batch *b);
/* Empties a batch for reuse, keeping its arena's first chunk. */
void fsi_change_batch_reset(fsi_batch *b);

#endif /* FS_CHANGE_H */
