/*
 * mergeInt.h — what applying a batch (merge.c), its write policy (policy.c)
 * and extraction (extract.c) share; private to core/.
 *
 * A clock is an (hlc, site) pair, ordered by hlc and then by site, so no
 * two writes ever tie.  A row change and a local row each have a row clock
 * covering every column without a clock entry of its own; the helpers here
 * give a column's effective clock on either side.  They are inline because
 * the merge calls them once per column of every row it receives.
 */
#ifndef FS_MERGE_INT_H
#define FS_MERGE_INT_H

#include <string.h>

#include "merge.h"
#include "storeInt.h"

/* Where each local column of a table is in a batch's table dictionary. */
typedef struct fsi_merge_colmap {
  int idx[64]; /* local column -> remote column, -1 when the remote lacks it */
} fsi_merge_colmap;

static inline int fsi_merge_clock_cmp(int64_t h1, int64_t s1, int64_t h2, int64_t s2) {
  if (h1 != h2) return h1 < h2 ? -1 : 1;
  if (s1 != s2) return s1 < s2 ? -1 : 1;
  return 0;
}

/* The highest clock in a row change, and the site that wrote it. */
static inline int64_t fsi_merge_remote_max(const fsi_rowchange *r, int64_t *site) {
  int64_t m = r->hlc, s = r->site;
  for (size_t i = 0; i < r->ncells; i++)
    if (r->cells[i].hlc > m) m = r->cells[i].hlc, s = r->cells[i].site;
  if (site) *site = s;
  return m;
}

/* Effective remote clock of local column i. */
static inline fsi_cell fsi_merge_remote_cell(const fsi_rowchange *r, int ri) {
  for (size_t k = 0; k < r->ncells; k++)
    if (r->cells[k].col == ri) return r->cells[k];
  return (fsi_cell){(uint16_t)ri, r->hlc, r->site, 0, 0};
}

static inline fsi_cell fsi_merge_local_cell(const fsi_row *l, size_t i) {
  if (l->has_cell[i]) return l->cells[i];
  return (fsi_cell){(uint16_t)i, l->hlc, l->site, 0, 0};
}

/* The customers table is the one subsets and ownership are reckoned by. */
static inline int fsi_merge_is_customers(const fsi_tbl_state *ts) {
  return !strcmp(ts->decl->name, "customers");
}

#endif
