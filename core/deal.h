/*
 * deal.h — the rules of a deal, an opportunity from lead to won or lost
 * (deal.c), as domain.c and views.c call them.
 */
#ifndef FS_DEAL_H
#define FS_DEAL_H

#include "storeInt.h"

/* The row rules of table deals (fsi_domain_check_row: local writes and
 * every row head office merges): stage one of lead, qualified, proposal,
 * negotiation, won, lost; probability 0..100 (100 when won, 0 when lost);
 * value 0..FSI_DEAL_VALUE_MAX minor units with its currency; close_date
 * YYYY-MM-DD; a lost deal names its lost_reason.  FS_EINVAL with the
 * sentence set. */
#define FSI_DEAL_VALUE_MAX 1000000000000000LL
int fsi_deal_check_row(const fsi_tbl_state *ts, const fsi_value *vals);

/* Local writes: the probability of the stage when none is given (on an
 * insert, and on an update that changes the stage without one), and the
 * close date of a deal that becomes won or lost without one given in the
 * same write (today, local calendar).  old and set are NULL on an insert.
 * Strings are allocated in a. */
int fsi_deal_defaults(const fsi_tbl_state *ts, const fsi_value *old, fsi_value *vals, uint8_t *set,
                      struct fsi_arena *a);

/* A local order naming a deal (orders.deal_id): the deal exists here and is
 * the same customer's.  FS_ENOTFOUND / FS_EINVAL with the sentence set. */
int fsi_deal_check_order(fs_store *st, const fsi_tbl_state *ts, const fsi_value *vals);

/* The "deals" view (arg NULL or a customer id: that customer's), sorted by
 * expected close date, and the "deal" view (arg the id) with the quotes and
 * orders that name it.  *out caller-owned. */
int fsi_deal_view(fs_store *st, const char *view, const char *arg, struct cJSON **out);

#endif
