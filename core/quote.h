/*
 * quote.h — the rules of quotes and their lines (quote.c), called from the
 * write path's domain hooks (domain.c) and from the views (views.c).
 *
 * The hooks mirror domain.c's own: fsi_quote_insert / _update / _delete run
 * for local writes of the tables `quotes` and `quote_lines` only
 * (fsi_quote_table); fsi_quote_check_row holds the rules every quote row
 * satisfies, locally and at head office on what a device pushes.
 * fsi_quote_priced tells an order line's price check that the line carries
 * the price its order's quote gave that SKU.
 */
#ifndef FS_QUOTE_H
#define FS_QUOTE_H

#include <cjson/cJSON.h>

#include "storeInt.h"

/* 1 when ts is `quotes` or `quote_lines`. */
int fsi_quote_table(const fsi_tbl_state *ts);

int fsi_quote_insert(fs_store *st, fsi_tbl_state *ts, fsi_value *vals, struct fsi_arena *a);
int fsi_quote_update(fs_store *st, fsi_tbl_state *ts, const char *id, const fsi_value *old,
                     fsi_value *vals, uint8_t *set, struct fsi_arena *a);
int fsi_quote_delete(fs_store *st, fsi_tbl_state *ts, const char *id, const fsi_value *old);
/* Rules of a quote or quote line (after the generic type, length, code and
 * NOT NULL checks); m as fsi_domain_check_row's.  `price_check` is domain.c's
 * list-price check of a line (sku, currency, unit_price at m->when). */
int fsi_quote_check_row(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals,
                        const fsi_domain_merge *m,
                        int (*price_check)(fs_store *, fsi_tbl_state *, const fsi_value *,
                                           int64_t));

/* An order line (vals of `order_lines`) whose order names a quote: 1 when
 * that quote has a line for the same customer, SKU and currency at exactly
 * this unit price, 0 when not (or the order has no quote), < 0 a store
 * error. */
int fsi_quote_priced(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals);

/* Views "quotes" (arg NULL) and "quote" (arg = id). */
int fsi_view_quotes(fs_store *st, cJSON **out);
int fsi_view_quote(fs_store *st, const char *id, cJSON **out);

#endif
