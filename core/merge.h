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
 * extract.c implements extraction and cursors, merge.c applying a batch,
 * policy.c what a replica accepts from the sender.  Internal to the
 * library (used by sync/, head office and the tests).
 */
#ifndef FS_MERGE_H
#define FS_MERGE_H

#include <fieldsync/fieldsync.h>

#include "change.h"

typedef struct fsi_merge_cursor {
  int64_t seq;                  /* change number; 0 = from the beginning */
  int32_t tbl;                  /* table index in the declaration */
  char pk[FS_BATCH_MAX_PK + 1]; /* "" = before every id */
} fsi_merge_cursor;

typedef struct fsi_merge_filter {
  int64_t exclude_src; /* skip rows whose state came from this site (0: none) */
  const char *manager; /* head office: only what this manager's devices hold,
                          plus a let-go marker per customer moved away */
  int include_all_hq;  /* with manager: still send every head-office row */
  int skip_hq_tables;  /* leave out the tables head office owns (a device
                          re-sending, after head office's restore, what it
                          received: head office is their source) */
} fsi_merge_filter;

/* Fills `out` (reset first) with up to max_rows row states after `from`;
 * *next is where the following call starts; *more is 1 when rows remain. */
int fsi_merge_changes_since(fs_store *st, const fsi_merge_cursor *from, const fsi_merge_filter *f,
                            size_t max_rows, fsi_batch *out, fsi_merge_cursor *next, int *more);

/* Text form of a cursor ("seq.tbl.pk") for storing and sending; parse
 * refuses anything malformed. */
void fsi_merge_cursor_format(const fsi_merge_cursor *c, char *out, size_t n);
int fsi_merge_cursor_parse(fsi_merge_cursor *c, const char *text);

typedef struct fsi_merge_refusal {
  const char *table, *pk, *col; /* col NULL = the whole row */
  int64_t site, hlc;
  const char *reason;
} fsi_merge_refusal;

typedef struct fsi_merge_result {
  size_t rows;                 /* rows in the batch */
  size_t applied;              /* rows whose local state changed */
  size_t conflicts;            /* concurrent edits logged */
  size_t refused;              /* rows or cells refused by the write policy */
  fsi_merge_refusal *refusals; /* `refused` entries, in `arena` */
  size_t cap;
  struct fsi_arena *arena;
} fsi_merge_result;

typedef struct fsi_merge_opts {
  int64_t sender;             /* site the batch came from */
  const char *sender_manager; /* head office: manager of the sending device */
} fsi_merge_opts;

/* Applies a batch in one transaction (or inside the caller's fs_tx).  On
 * FS_ESKEW (a clock beyond the configured bound) nothing is applied.  The
 * result's arena is allocated here; release with fsi_merge_result_free. */
int fsi_merge_apply(fs_store *st, const fsi_batch *b, const fsi_merge_opts *o,
                    fsi_merge_result *res);
void fsi_merge_result_free(fsi_merge_result *res);

/* Marks a customer and every row belonging to it as changed, so that
 * extraction sends them again (used when head office reassigns it). */
int fsi_merge_touch_customer(fs_store *st, const char *customer_id);

/* Head office: every device of `manager` has pulled past change number
 * `seq` (the smallest pull cursor among that manager's enrolled devices),
 * so the let-go markers up to it have been delivered and are forgotten.
 * Call it after a pull with that minimum; FS_OK when there is nothing to
 * forget, or on a device. */
int fsi_merge_moved_delivered(fs_store *st, const char *manager, int64_t seq);

#endif
