/*
 * policy.c — what a replica accepts from the sender of a batch.
 *
 * Every replica bounds causal lengths (1 to FS_MAX_CL) and clocks (positive
 * clocks and sites) and accepts head-office tables, and head-office columns
 * after a row's creation, only with clocks of the head-office site.  Head
 * office trusts no device: every rule a device obeys locally is checked
 * again on what it pushes.  A device may only write its own manager's
 * customers (a deleted one too: its tombstone remembers the manager) and
 * record its own manager on what it creates; its value for a head-office
 * column stands only when it creates the row; every clock in its change
 * that is not its own must be one head office already holds; and every row
 * must pass the same domain rules as a local write (fsi_domain_check_row);
 * an order that left draft is frozen, its lines too, and a sent quote's
 * lines (frozen_order); a quote's status only moves forward, and a quote
 * that left draft is not deleted (quote_moved_back).
 *
 * Invariant: nothing is dropped silently.  A refused row or cell is
 * recorded in the merge result (so the sender is told why) and in
 * fs_refused, deduplicated; the rest of the batch applies, and a refused
 * head-office column leaves the rest of its row to merge.
 */
#include "policy.h"

#include "refused.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

int fsi_policy_refuse(fs_store *st, fsi_merge_result *res, const fsi_merge_opts *o,
                      const fsi_tbl_state *ts, const char *table, const fsi_rowchange *r,
                      const fsi_merge_colmap *cm, const char *col, int64_t site, int64_t hlc,
                      const char *reason) {
  const char *pk = r->pk;
  if (res->refused == res->cap) {
    size_t cap = res->cap ? res->cap * 2 : 16;
    fsi_merge_refusal *n = fsi_arena_alloc(res->arena, cap * sizeof *n);
    if (!n) return fsi_fail(FS_ENOMEM, "out of memory");
    if (res->refused) memcpy(n, res->refusals, res->refused * sizeof *n);
    res->refusals = n;
    res->cap = cap;
  }
  fsi_merge_refusal *f = &res->refusals[res->refused++];
  f->table = table;
  f->pk = fsi_arena_strndup(res->arena, pk, strlen(pk));
  f->col = col;
  f->site = site;
  f->hlc = hlc;
  f->reason = fsi_arena_strndup(res->arena, reason, strlen(reason));
  if (!f->pk || !f->reason) return fsi_fail(FS_ENOMEM, "out of memory");
  return fsi_refused_log_change(st, ts, table, r, cm, o, col, site, hlc, reason);
}

/* Whose customer `cust` is here: *known is 1 when it is live (its manager)
 * or deleted (the manager its tombstone remembers, NULL when that is not
 * known); 0 when this replica has never seen it. */
int fsi_policy_customer_owner(fs_store *st, const char *cust, struct fsi_arena *a,
                              const char **owner, int *known) {
  *owner = NULL;
  *known = 0;
  fsi_tbl_state *cs = fsi_store_table(st, "customers");
  if (!cs || !cust) return FS_OK;
  fsi_row c;
  int rc = fsi_row_load(st, cs, cust, a, &c);
  if (rc) return rc;
  int mi = cs->sp[SP_MANAGER];
  if (c.state == ROW_LIVE) {
    *known = 1;
    if (mi >= 0 && c.vals[mi].type == FS_VAL_TEXT) *owner = c.vals[mi].s;
  } else if (c.state == ROW_TOMB) {
    *known = 1;
    *owner = c.mgr;
  }
  return FS_OK;
}

/* 1 when head office lost clock (h, site) of another device in a restore
 * from a backup: the store was restored (fieldsync-server restore) after the
 * clock was made.  Devices then send back what they had received from head
 * office before the restore, other devices' writes included, and those are
 * accepted (docs/security.md, "Restoring head office"); head office's own
 * clocks never are. */
static int lost_in_restore(const fs_store *st, int64_t h, int64_t site) {
  return st->restored_hlc > 0 && site != st->hq_site && h <= st->restored_hlc;
}

/* 1 when the clock (h, site) is not the sender's and beats `held`, the
 * clock this replica holds for the same row or cell. */
static int unheld(const fs_store *st, int64_t h, int64_t site, int64_t sender, fsi_cell held,
                  int64_t *who) {
  if (site == sender || fsi_merge_clock_cmp(h, site, held.hlc, held.site) <= 0) return 0;
  if (lost_in_restore(st, h, site)) return 0;
  *who = site;
  return 1;
}

/* A device sends its own writes, and may send back state it received from
 * head office (a row it merged with an edit of its own).  So every clock
 * in its change that is not its own must be one head office already holds
 * for that row or cell, or older: anything else is a write made up in
 * another site's name.  Returns 1 (and the site named, in *who) when the
 * change carries such a clock. */
static int unheld_clock(const fs_store *st, const fsi_tbl_state *ts, const fsi_rowchange *r,
                        const fsi_merge_colmap *cm, const fsi_row *l, int64_t sender,
                        int64_t *who) {
  static const fsi_cell none = {0, 0, 0, 0, 0};
  if (l->state == ROW_NONE || r->cl > l->cl) { /* an incarnation head office never had */
    if (unheld(st, r->hlc, r->site, sender, none, who)) return 1;
    for (size_t k = 0; k < r->ncells; k++)
      if (unheld(st, r->cells[k].hlc, r->cells[k].site, sender, none, who)) return 1;
    return 0;
  }
  if (r->cl < l->cl) return 0; /* an older incarnation: ignored anyway */
  fsi_cell lrow = {0, l->hlc, l->site, 0, 0};
  if (unheld(st, r->hlc, r->site, sender, lrow, who)) return 1;
  if (l->state != ROW_LIVE) return 0;
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    if (cm->idx[i] < 0) continue;
    fsi_cell rc = fsi_merge_remote_cell(r, cm->idx[i]);
    if (unheld(st, rc.hlc, rc.site, sender, fsi_merge_local_cell(l, i), who)) return 1;
  }
  return 0;
}

/* Causal lengths and clocks a replica accepts: a causal length of 1 to
 * FS_MAX_CL (so `cl + 1` stays defined), positive clocks and sites, bases
 * that are a clock or none.  A reason into buf, or NULL when in bounds. */
const char *fsi_policy_out_of_bounds(const fsi_rowchange *r, char *buf, size_t n) {
  if (r->cl < 1 || r->cl > FS_MAX_CL) {
    snprintf(buf, n, "the change has causal length %lld, outside the accepted 1 to %lld.",
             (long long)r->cl, (long long)FS_MAX_CL);
    return buf;
  }
  int bad = r->hlc <= 0 || r->site <= 0 || r->seen < 0;
  for (size_t k = 0; k < r->ncells; k++) {
    const fsi_cell *c = &r->cells[k];
    bad |= c->hlc <= 0 || c->site <= 0 || c->bhlc < 0 || c->bsite < 0;
  }
  if (!bad) return NULL;
  snprintf(buf, n, "the change carries a clock or site id that is zero or negative.");
  return buf;
}

/* The values an incoming live row would give the row, in local column
 * order: a column the sender does not have keeps this replica's value. */
static fsi_value *incoming_values(const fsi_tbl_state *ts, const fsi_rowchange *r,
                                  const fsi_merge_colmap *cm, const fsi_row *l,
                                  struct fsi_arena *a) {
  size_t nc = ts->decl->ncols;
  fsi_value *v = fsi_arena_alloc(a, nc * sizeof *v);
  if (!v) return NULL;
  for (size_t i = 0; i < nc; i++) {
    if (cm->idx[i] >= 0)
      v[i] = r->vals[cm->idx[i]];
    else if (l->state == ROW_LIVE)
      v[i] = l->vals[i];
    else
      v[i] = (fsi_value){FS_VAL_NULL, 0, NULL, 0};
  }
  return v;
}

static int refuse_row(fs_store *st, fsi_merge_result *res, const fsi_merge_opts *o,
                      const fsi_tbl_state *ts, const fsi_rowchange *r, const fsi_merge_colmap *cm,
                      const char *reason) {
  int e = fsi_policy_refuse(st, res, o, ts, ts->decl->name, r, cm, NULL, r->site, r->hlc, reason);
  return e ? e : 1;
}

/* At head office: may a device's value for head-office column i stand?
 * Only when the device creates the row (head office has never seen it and
 * it is the first incarnation), when it changes nothing head office holds,
 * or when it carries head office's own clock (checked by unheld_clock). */
static int hq_column_ok(const fsi_tbl_state *ts, const fsi_rowchange *r, const fsi_merge_colmap *cm,
                        const fsi_row *l, size_t i, int64_t hq) {
  fsi_cell c = fsi_merge_remote_cell(r, cm->idx[i]);
  const fsi_value *v = &r->vals[cm->idx[i]];
  if (c.site == hq) return 1;
  if (l->state == ROW_NONE) return r->cl == 1;
  if (r->cl < l->cl) return 1; /* an older incarnation: ignored */
  if (l->state == ROW_LIVE && r->cl == l->cl)
    return fsi_merge_clock_cmp(c.hlc, c.site, fsi_merge_local_cell(l, i).hlc,
                               fsi_merge_local_cell(l, i).site) <= 0 ||
           fsi_value_equal(v, &l->vals[i]);
  /* A re-creation: the value must be the one head office holds, or for a
   * customer's manager the one its tombstone remembers. */
  if (l->state == ROW_LIVE) return fsi_value_equal(v, &l->vals[i]);
  if ((int)i == ts->sp[SP_MANAGER] && fsi_merge_is_customers(ts) && l->mgr)
    return v->type == FS_VAL_TEXT && strlen(l->mgr) == v->n && !memcmp(l->mgr, v->s, v->n);
  return 0;
}

static int col_of(const fsi_tbl_state *ts, const char *name) {
  for (size_t i = 0; i < ts->decl->ncols; i++)
    if (!strcmp(ts->decl->cols[i].name, name)) return (int)i;
  return -1;
}

/* The newest clock of what a change would alter in the row head office
 * holds: every clock of a new row or a new incarnation (a delete too), else
 * those of the cells it would win with another value.  0 when it alters
 * nothing; the site into *site. */
static int64_t altering_clock(const fsi_tbl_state *ts, const fsi_rowchange *r,
                              const fsi_merge_colmap *cm, const fsi_row *l, int64_t *site) {
  if (l->state == ROW_NONE || r->cl > l->cl) return fsi_merge_remote_max(r, site);
  if (r->cl < l->cl || l->state != ROW_LIVE) return 0;
  int64_t h = 0;
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    if (cm->idx[i] < 0) continue;
    fsi_cell rc = fsi_merge_remote_cell(r, cm->idx[i]), lc = fsi_merge_local_cell(l, i);
    if (fsi_merge_clock_cmp(rc.hlc, rc.site, lc.hlc, lc.site) > 0 &&
        !fsi_value_equal(&r->vals[cm->idx[i]], &l->vals[i]) &&
        fsi_merge_clock_cmp(rc.hlc, rc.site, h, *site) > 0) {
      h = rc.hlc;
      *site = rc.site;
    }
  }
  return h;
}

/* At head office: an order that left draft (submitted, confirmed,
 * cancelled) is frozen, lines and all, as it is on the device that wrote
 * it.  A device's change to such an order or to one of its lines stands
 * only when it was made before the order left draft: its clock not above
 * the clock of the order's status.  So an order submitted on one laptop and
 * its lines, in any order within a batch, are accepted, and a line edited
 * later on a second laptop of the same manager (which still held the
 * draft) is refused and logged.  A quote's lines are frozen the same way
 * once the quote left draft (sent, accepted, rejected).  Returns 1 with a
 * sentence in buf, 0, or the error. */
static int frozen_order(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                        const fsi_merge_colmap *cm, const fsi_row *l, struct fsi_arena *a,
                        char *buf, size_t n) {
  /* a sent quote's lines likewise (the quote itself still moves on) */
  int quote = !strcmp(ts->decl->name, "quote_lines");
  int lines = quote || !strcmp(ts->decl->name, "order_lines");
  if (!lines && strcmp(ts->decl->name, "orders") != 0) return 0;
  fsi_tbl_state *os = fsi_store_table(st, quote ? "quotes" : "orders");
  int si = os ? col_of(os, "status") : -1;
  if (si < 0) return 0;
  fsi_row order;
  const fsi_row *o = l;
  const char *oid = r->pk;
  if (lines) {
    int oi = col_of(ts, quote ? "quote_id" : "order_id");
    oid = NULL;
    if (oi >= 0 && r->cl % 2 == 1 && cm->idx[oi] >= 0 && r->vals[cm->idx[oi]].type == FS_VAL_TEXT)
      oid = r->vals[cm->idx[oi]].s;
    else if (oi >= 0 && l->state == ROW_LIVE && l->vals[oi].type == FS_VAL_TEXT)
      oid = l->vals[oi].s;
    if (!oid) return 0;
    int e = fsi_row_load(st, os, oid, a, &order);
    if (e) return e;
    o = &order;
  }
  if (o->state != ROW_LIVE || o->vals[si].type != FS_VAL_TEXT || !strcmp(o->vals[si].s, "draft"))
    return 0;
  int64_t site = 0, h = altering_clock(ts, r, cm, l, &site);
  fsi_cell sc = fsi_merge_local_cell(o, (size_t)si);
  if (!h || site == st->hq_site || fsi_merge_clock_cmp(h, site, sc.hlc, sc.site) <= 0) return 0;
  if (quote)
    snprintf(buf, n,
             "quote %.64s was already %.20s when this change to one of its lines was made; a "
             "sent quote's lines are frozen.",
             oid, o->vals[si].s);
  else
    snprintf(buf, n,
             "order %.64s was already %.20s when this change to %s was made; a submitted order "
             "and its lines are frozen (head office can change it).",
             oid, o->vals[si].s, lines ? "one of its lines" : "it");
  return 1;
}

/* A quote status's place in draft -> sent -> accepted | rejected; -1 for
 * no status (the domain rules refuse it). */
static int quote_rank(const fsi_value *v) {
  static const char *const order[] = {"draft", "sent", "accepted", "rejected"};
  for (int i = 0; v->type == FS_VAL_TEXT && i < 4; i++)
    if (strlen(order[i]) == v->n && !memcmp(order[i], v->s, v->n)) return i < 3 ? i : 2;
  return -1;
}

/* At head office: a quote's status moves draft -> sent -> accepted or
 * rejected and no other way, and a quote that left draft is not deleted,
 * as on the device that wrote it (a sent quote moved back to draft would
 * unfreeze its lines).  A push carries a row's latest state, so a draft
 * head office holds may arrive sent or decided (sent and accepted
 * offline): any forward move stands.  A device's change that moves the
 * status otherwise (back, or from accepted to rejected),
 * or a delete or re-creation of a quote that left draft, stands only when
 * it was made before the quote left draft (its clock not above the clock
 * of the status), as for a frozen order.  Returns 1 with a sentence in
 * buf, or 0. */
static int quote_moved_back(const fs_store *st, const fsi_tbl_state *ts, const fsi_rowchange *r,
                            const fsi_merge_colmap *cm, const fsi_row *l, char *buf, size_t n) {
  int si = col_of(ts, "status");
  if (strcmp(ts->decl->name, "quotes") != 0 || si < 0 || l->state != ROW_LIVE ||
      l->vals[si].type != FS_VAL_TEXT || r->cl < l->cl)
    return 0;
  const char *was = l->vals[si].s;
  fsi_cell sc = fsi_merge_local_cell(l, (size_t)si);
  if (r->cl > l->cl) {
    int64_t site = 0, h = fsi_merge_remote_max(r, &site);
    if (!strcmp(was, "draft") || site == st->hq_site ||
        fsi_merge_clock_cmp(h, site, sc.hlc, sc.site) <= 0)
      return 0;
    snprintf(buf, n,
             "quote %.64s was already %.20s when it was deleted; a quote that left draft "
             "cannot be deleted.",
             r->pk, was);
    return 1;
  }
  if (r->cl % 2 == 0) return 0;
  /* a quote's customer and currency never change; once it left draft only
   * its status, decision, order and notes do */
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    const char *c = ts->decl->cols[i].name;
    if (cm->idx[i] < 0 || (int)i == si || !strcmp(c, "notes")) continue;
    int fixed = !strcmp(c, "customer_id") || !strcmp(c, "currency");
    if (!fixed && (!strcmp(was, "draft") || !strcmp(c, "order_id") || !strcmp(c, "decided_at")))
      continue;
    fsi_cell rc = fsi_merge_remote_cell(r, cm->idx[i]), lc = fsi_merge_local_cell(l, i);
    if (rc.site == st->hq_site || fsi_merge_clock_cmp(rc.hlc, rc.site, lc.hlc, lc.site) <= 0 ||
        fsi_value_equal(&r->vals[cm->idx[i]], &l->vals[i]) ||
        (!fixed && fsi_merge_clock_cmp(rc.hlc, rc.site, sc.hlc, sc.site) <= 0))
      continue;
    snprintf(buf, n, "quote %.64s is %.20s; its %s can no longer be changed.", r->pk, was, c);
    return 1;
  }
  if (cm->idx[si] < 0) return 0;
  const fsi_value *to = &r->vals[cm->idx[si]];
  fsi_cell rc = fsi_merge_remote_cell(r, cm->idx[si]);
  if (rc.site == st->hq_site || fsi_merge_clock_cmp(rc.hlc, rc.site, sc.hlc, sc.site) <= 0 ||
      fsi_value_equal(to, &l->vals[si]) || quote_rank(to) > quote_rank(&l->vals[si]))
    return 0;
  snprintf(buf, n,
           "quote %.64s is %.20s; it cannot become %.16s (a quote goes draft, sent, then "
           "accepted or rejected).",
           r->pk, was, to->type == FS_VAL_TEXT ? to->s : "nothing");
  return 1;
}

/* Write policy for one incoming row; returns 1 when the whole row is
 * refused (already logged), 0 to go on, <0 on error.  *drop gets a bit per
 * head-office column whose incoming value must be ignored. */
int fsi_policy_check(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                     const fsi_merge_colmap *cm, const fsi_merge_opts *o, const fsi_row *l,
                     struct fsi_arena *a, fsi_merge_result *res, uint64_t *drop) {
  const fs_table *t = ts->decl;
  int64_t hq = st->hq_site;
  /* Head office merges only what devices push: every rule a device obeys
   * locally is checked again here. */
  int at_hq = o->sender_manager || (fsi_store_is_hq(st) && o->sender != st->site);
  int alive = r->cl % 2 == 1;
  char reason[512];
  *drop = 0;
  /* Site ids are not secrets: a device could name head office's site, or
   * another device's, on clocks it made up. */
  int64_t who = 0;
  if (at_hq && !FS_MUT(21) && unheld_clock(st, ts, r, cm, l, o->sender, &who)) {
    if (who == hq)
      snprintf(reason, sizeof reason,
               "the change claims a head-office write that head office never made.");
    else
      snprintf(reason, sizeof reason,
               "the change carries a write by device %016llx that head office does not hold; "
               "a device may only send its own writes and what it received from head office.",
               (unsigned long long)who);
    return refuse_row(st, res, o, ts, r, cm, reason);
  }
  if (t->owner == FS_OWNER_HQ) {
    int ok = (hq != 0 && r->site == hq) || FS_MUT(22);
    for (size_t k = 0; ok && k < r->ncells; k++) ok = r->cells[k].site == hq;
    if (!ok) {
      snprintf(reason, sizeof reason, "%s is head-office data; devices cannot change it.", t->name);
      return refuse_row(st, res, o, ts, r, cm, reason);
    }
    return 0;
  }
  /* At head office: a device may only write its own manager's customers,
   * live or deleted (a tombstone remembers whose customer it was). */
  if (o->sender_manager && fsi_store_table(st, "customers")) {
    const char *owner = NULL;
    int known = 0, deleted = 0, nocust = 0;
    if (fsi_merge_is_customers(ts)) {
      int mi = ts->sp[SP_MANAGER];
      if (l->state == ROW_LIVE) {
        if (mi >= 0 && l->vals[mi].type == FS_VAL_TEXT) owner = l->vals[mi].s;
        known = 1;
      } else if (l->state == ROW_TOMB) {
        owner = l->mgr;
        known = deleted = 1;
      } else if (alive) {
        if (mi >= 0 && cm->idx[mi] >= 0 && r->vals[cm->idx[mi]].type == FS_VAL_TEXT)
          owner = r->vals[cm->idx[mi]].s;
        known = 1;
      }
    } else if (ts->cust_col >= 0) {
      /* Both the customer the row belongs to here and the one the change
       * names must be the sender's: a row cannot be moved off another
       * manager's customer, nor attached to one, nor to a deleted one. */
      const char *custs[2] = {NULL, NULL};
      if (alive && cm->idx[ts->cust_col] >= 0 && r->vals[cm->idx[ts->cust_col]].type == FS_VAL_TEXT)
        custs[0] = r->vals[cm->idx[ts->cust_col]].s;
      if (l->state == ROW_LIVE && l->vals[ts->cust_col].type == FS_VAL_TEXT)
        custs[1] = l->vals[ts->cust_col].s;
      else if (l->state == ROW_TOMB)
        custs[1] = l->cust;
      for (int k = 0; k < 2 && !(known && owner && strcmp(owner, o->sender_manager)); k++) {
        if (!custs[k]) continue;
        const char *m = NULL;
        int kn = 0, e = fsi_policy_customer_owner(st, custs[k], a, &m, &kn);
        if (e) return e;
        if (kn) {
          owner = m;
          known = 1;
        }
      }
      if (!known && l->state == ROW_TOMB && l->mgr) {
        owner = l->mgr;
        known = 1;
      }
      /* a row of no customer (a task) is the manager's it records */
      int mi = ts->sp[SP_MANAGER];
      if (!known && !custs[1] && l->state == ROW_LIVE && mi >= 0 &&
          l->vals[mi].type == FS_VAL_TEXT) {
        owner = l->vals[mi].s;
        known = nocust = 1;
      }
    }
    if (known && !FS_MUT(23) && (!owner || strcmp(owner, o->sender_manager) != 0)) {
      if (nocust)
        snprintf(reason, sizeof reason,
                 "this %s row of no customer belongs to %.100s, not to this device's manager "
                 "%.100s.",
                 t->name, owner, o->sender_manager);
      else if (deleted)
        snprintf(reason, sizeof reason,
                 "this customer was deleted while assigned to %.100s; only that manager's "
                 "devices or head office may re-create it, not this device's manager %.100s.",
                 owner ? owner : "nobody head office knows of", o->sender_manager);
      else
        snprintf(reason, sizeof reason,
                 "this customer is assigned to %.100s, not to this device's manager %.100s.",
                 owner ? owner : "nobody", o->sender_manager);
      return refuse_row(st, res, o, ts, r, cm, reason);
    }
  }
  /* A device records its own manager on what it creates (an order, a
   * meeting): reports credit them to that manager. */
  int mi = ts->sp[SP_MANAGER];
  if (!FS_MUT(24) && o->sender_manager && alive && !fsi_merge_is_customers(ts) && mi >= 0 &&
      cm->idx[mi] >= 0) {
    const fsi_value *v = &r->vals[cm->idx[mi]];
    int taken = l->state != ROW_LIVE || r->cl > l->cl;
    if (!taken && r->cl == l->cl) {
      fsi_cell rc = fsi_merge_remote_cell(r, cm->idx[mi]);
      fsi_cell lc = fsi_merge_local_cell(l, (size_t)mi);
      taken = fsi_merge_clock_cmp(rc.hlc, rc.site, lc.hlc, lc.site) > 0 &&
              !fsi_value_equal(v, &l->vals[mi]);
    }
    if (taken && v->type != FS_VAL_NULL &&
        (v->type != FS_VAL_TEXT || strlen(o->sender_manager) != v->n ||
         memcmp(v->s, o->sender_manager, v->n) != 0)) {
      snprintf(reason, sizeof reason,
               "%s.manager names %.100s; a device may only record its own manager %.100s.", t->name,
               v->type == FS_VAL_TEXT ? v->s : "a number", o->sender_manager);
      return refuse_row(st, res, o, ts, r, cm, reason);
    }
  }
  if (at_hq && !FS_MUT(64)) {
    int e = frozen_order(st, ts, r, cm, l, a, reason, sizeof reason);
    if (e < 0) return e;
    if (!e) e = quote_moved_back(st, ts, r, cm, l, reason, sizeof reason);
    /* the sender still holds its change: head office's state is sent
     * again, above it, so that laptop comes back to the frozen order */
    if (e && (e = refuse_row(st, res, o, ts, r, cm, reason)) == 1 && l->state == ROW_LIVE) {
      int re = fsi_row_reassert(st, ts, r->pk, fsi_merge_remote_max(r, NULL), a);
      if (re) return re;
    }
    if (e) return e;
  }
  /* The domain rules of a local write (types, lengths, enumerations,
   * codes, ranges, an order line's list price), on the row as it arrives. */
  if (at_hq && alive && !FS_MUT(25) && (l->state == ROW_NONE || r->cl >= l->cl)) {
    fsi_value *vals = incoming_values(ts, r, cm, l, a);
    if (!vals) return fsi_fail(FS_ENOMEM, "out of memory");
    fsi_domain_merge m = {l->state == ROW_LIVE && r->cl == l->cl ? l->vals : NULL,
                          fsi_merge_remote_max(r, NULL)};
    int e = fsi_domain_check_row(st, ts, vals, &m);
    if (e == FS_EINVAL) {
      snprintf(reason, sizeof reason, "head office refuses this row: %s.", fs_errmsg());
      fsi_clear_error();
      return refuse_row(st, res, o, ts, r, cm, reason);
    }
    if (e) return e;
  }
  /* Head-office owned columns.  At head office a device's value stands
   * only when the device creates the row; on a device, a value written
   * after creation must carry the head-office site's clock. */
  for (size_t i = 0; i < t->ncols; i++) {
    if (!(t->cols[i].flags & FS_COL_HQ) || cm->idx[i] < 0 || !alive) continue;
    fsi_cell c = fsi_merge_remote_cell(r, cm->idx[i]);
    int ok = FS_MUT(26) ? 1
             : at_hq    ? hq_column_ok(ts, r, cm, l, i, hq)
                        : (c.hlc == r->hlc && c.site == r->site) || c.site == hq;
    if (!ok) {
      snprintf(reason, sizeof reason, "%s.%s is set by head office only.", t->name,
               t->cols[i].name);
      int e =
          fsi_policy_refuse(st, res, o, ts, t->name, r, cm, t->cols[i].name, c.site, c.hlc, reason);
      if (e) return e;
      *drop |= 1ull << i;
    }
  }
  return 0;
}
