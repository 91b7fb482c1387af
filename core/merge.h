/*
 * merge.h — "changes since" extraction and the merge of received batches.
 *
 * Extraction walks rows in (db_version, table, id) order from a cursor and
 * returns at most max_rows whole-row states, so memory stays bounded however
 * large the backlog is.  Applying a batch merges each row by causal length
 * (delete/re-insert incarnations) and then per column by last-writer-wins on
 * (hlc, site); it is idempotent and commutative, logs concurrent edits, and
 * refuses what the write policy forbids without dropping the rest.
 *
 * Internal to the library (used by sync/ and by tests).
 */
#ifndef FS_MERGE_H
#define FS_MERGE_H

#include <fieldsync/fieldsync.h>

#include "change.h"

typedef struct merge_cursor {
  int64_t seq;                      /* change number; 0 = from the beginning */
  int32_t tbl;                      /* table index in the declaration */
  char pk[FS_BATCH_MAX_PK + 1];     /* "" = before every id */
} merge_cursor;

typedef struct merge_filter {
  int64_t exclude_src;  /* skip rows whose state came from this site (0: none) */
  const char *manager;  /* head office: only what this manager's devices hold,
                           plus a let-go marker per customer moved away */
  int include_all_hq;   /* with manager: still send every head-office row */
} merge_filter;

/* Fills `out` (reset first) with up to max_rows row states after `from`;
 * *next is where the following call starts; *more is 1 when rows remain. */
int merge_changes_since(fs_store *st, const merge_cursor *from, const merge_filter *f,
                        size_t max_rows, fs_batch *out, merge_cursor *next, int *more);

/* Text form of a cursor ("seq.tbl.pk") for storing and sending; parse
 * refuses anything malformed. */
void merge_cursor_format(const merge_cursor *c, char *out, size_t n);
int merge_cursor_parse(merge_cursor *c, const char *text);

typedef struct merge_refusal {
  const char *table, *pk, *col; /* col NULL = the whole row */
  int64_t site, hlc;
  const char *reason;
} merge_refusal;

typedef struct merge_result {
  size_t rows;       /* rows in the batch */
  size_t applied;    /* rows whose local state changed */
  size_t conflicts;  /* concurrent edits logged */
  size_t refused;    /* rows or cells refused by the write policy */
  merge_refusal *refusals; /* `refused` entries, in `arena` */
  size_t cap;
  struct fs_arena *arena;
} merge_result;

typedef struct merge_opts {
  int64_t sender;             /* site the batch came from */
  const char *sender_manager; /* head office: manager of the sending device */
} merge_opts;

/* Applies a batch in one transaction (or inside the caller's fs_tx).  On
 * FS_ESKEW (a clock beyond the configured bound) nothing is applied.  The
 * result's arena is allocated here; release with merge_result_free. */
int merge_apply(fs_store *st, const fs_batch *b, const merge_opts *o, merge_result *res);
void merge_result_free(merge_result *res);

/* Marks a customer and every row belonging to it as changed, so that
 * extraction sends them again (used when head office reassigns it). */
int merge_touch_customer(fs_store *st, const char *customer_id);

/* Head office: every device of `manager` has pulled past change number
 * `seq` (the smallest pull cursor among that manager's enrolled devices),
 * so the let-go markers up to it have been delivered and are forgotten.
 * Call it after a pull with that minimum; FS_OK when there is nothing to
 * forget, or on a device. */
int merge_moved_delivered(fs_store *st, const char *manager, int64_t seq);

#endif
