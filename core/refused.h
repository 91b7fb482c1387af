/*
 * refused.h — the log of refused changes (refused.c); private to core/.
 *
 * What the merge (merge.c), its write policy (policy.c) and the views
 * (views.c) ask of the log.  The device's record of head office's answer
 * (fsi_refused_log_row) and head office's listing (fsi_refused_json) are
 * in engine.h, for the layers above.
 */
#ifndef FS_REFUSED_H
#define FS_REFUSED_H

#include "mergeInt.h"

/* Records a refusal of incoming row change r of table ts (col NULL: the
 * whole row; else that column) from the sender `o`: the reason, the
 * values the change carried (the columns of cm that the sender sent; none
 * for a delete), the customer it concerned and that customer's name as
 * this replica knows it, and the sender's manager (head office).  ts and
 * cm may be NULL (a let-go marker: nothing but the reason is kept).
 * Deduplicated by (table, row, column, site, hlc).  FS_OK or a store
 * error. */
int fsi_refused_log_change(fs_store *st, const fsi_tbl_state *ts, const char *table,
                           const fsi_rowchange *r, const fsi_merge_colmap *cm,
                           const fsi_merge_opts *o, const char *col, int64_t site, int64_t hlc,
                           const char *reason);

/* Device: before customer `customer_id` and its rows are let go, keeps
 * every row of it that was written here and never reached head office (a
 * change made after the push, before the pull) as a refusal with its
 * values, so the let-go leaves it where the person can copy it.  FS_OK on
 * head office (it never lets go) or a store error. */
int fsi_refused_keep_stranded(fs_store *st, const char *customer_id);

/* The counts by state, {"open":n,"copied":n,"dismissed":n}, into *out
 * (cJSON_Delete). */
int fsi_refused_counts(fs_store *st, struct cJSON **out);

/* The "refused" and "refusal" views (fs_view_json), inside its read
 * transaction: arg as fieldsync.h documents. */
int fsi_refused_view_list(fs_store *st, const char *arg, struct cJSON **out);
int fsi_refused_view_one(fs_store *st, const char *arg, struct cJSON **out);

#endif
