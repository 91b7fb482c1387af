/*
 * policy.h — what a replica accepts from the sender of a batch (policy.c).
 *
 * Private to core/: merge.c asks it about every row of a batch before
 * merging the row, and records through it whatever it refuses itself.
 */
#ifndef FS_POLICY_H
#define FS_POLICY_H

#include "mergeInt.h"

/* Records a refusal of row change r of `table` (col NULL: the whole row;
 * else that column) from sender o in res, for the sender, and in
 * fs_refused with the values r carries (ts, the table's state, and cm, the
 * batch's column map; both NULL for a let-go marker).  The row's pk and the
 * reason are copied into res's arena; table and col are kept as given
 * (names from the declaration).  FS_OK, FS_ENOMEM, or a store error. */
int fsi_policy_refuse(fs_store *st, fsi_merge_result *res, const fsi_merge_opts *o,
                      const fsi_tbl_state *ts, const char *table, const fsi_rowchange *r,
                      const fsi_merge_colmap *cm, const char *col, int64_t site, int64_t hlc,
                      const char *reason);

/* Bounds every replica keeps on a row change: a causal length of 1 to
 * FS_MAX_CL, positive clocks and sites, bases that are a clock or none.
 * The reason (written into buf, n bytes) when r is out of bounds, else
 * NULL. */
const char *fsi_policy_out_of_bounds(const fsi_rowchange *r, char *buf, size_t n);

/* Whose customer `cust` is here, into *owner (copied into a): *known is 1
 * when it is live (its manager) or deleted (the manager its tombstone
 * remembers, NULL when that is not known); 0 when this replica has never
 * seen it.  FS_OK or a store error. */
int fsi_policy_customer_owner(fs_store *st, const char *cust, struct fsi_arena *a,
                              const char **owner, int *known);

/* The write policy for incoming row change r, given l, the row as this
 * replica holds it, and cm, the batch table's column map.  Returns 1 when
 * the whole row is refused (already recorded), 0 to merge it, < 0 on
 * error.  *drop gets a bit per head-office column (1 << column index)
 * whose incoming value was refused and must be ignored by the merge. */
int fsi_policy_check(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                     const fsi_merge_colmap *cm, const fsi_merge_opts *o, const fsi_row *l,
                     struct fsi_arena *a, fsi_merge_result *res, uint64_t *drop);

#endif
