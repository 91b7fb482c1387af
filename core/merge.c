/*
 * merge.c — applying a received batch: the merge of row states.
 *
 * Rules (docs/merge.md states them for people):
 *  1. Causal length: a row's incarnation count, odd while alive.  The larger
 *     causal length wins outright: a delete (even) beats every edit of the
 *     incarnation it deleted, a re-insert (odd) beats that delete.
 *  2. Same causal length: per column, the value with the larger (hlc, site)
 *     wins; the row clock is the larger of the two insert clocks; a column
 *     keeps its own clock entry only when it differs from the row clock.
 *     The result depends only on the set of states merged, never on order
 *     or repetition.
 *  3. A concurrent edit is one whose writer had not seen the value it
 *     replaces: neither side's base clock is the other side's clock.  When
 *     such values differ, both go to fs_conflict (deduplicated).
 *  4. Write policy (policy.c): every row passes the policy before it is
 *     merged; what it refuses (a whole row, or a head-office column of it)
 *     is logged and reported and not applied, the rest of the batch
 *     applies.
 *  5. Subsets: head office sends a manager's devices that manager's
 *     customers, their rows and tombstones, and one let-go marker (a row of
 *     FS_LETGO_TABLE: an id, no values) for each customer moved away from
 *     the manager (extract.c); the device drops that customer on receiving
 *     it, recording no delete.
 *
 * A batch applies in one transaction (or inside the caller's fs_tx), so an
 * error leaves nothing of it applied; a clock beyond the skew bound, or a
 * table or column this replica does not know, refuses the whole batch
 * before anything is written.  Every row the merge writes gets a change
 * number of its own, and _src = the sender when the row now equals the
 * sender's state, so it is not echoed back.
 */
#include "policy.h"
#include "refused.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"
#include "util.h"

/* ------------------------------------------------------------- apply */

void fsi_merge_result_free(fsi_merge_result *res) {
  if (!res) return;
  fsi_arena_free(res->arena);
  memset(res, 0, sizeof *res);
}

/* The highest clock in a live local row, and the site that wrote it. */
static int64_t local_max(const fsi_row *l, size_t nc, int64_t *site) {
  int64_t m = l->hlc, s = l->site;
  for (size_t i = 0; i < nc; i++)
    if (l->has_cell[i] && l->cells[i].hlc > m) m = l->cells[i].hlc, s = l->cells[i].site;
  if (site) *site = s;
  return m;
}

/* Row as a JSON object text, for logging a row lost to a delete. */
static char *row_json(const fsi_tbl_state *ts, const fsi_value *vals, struct fsi_arena *a) {
  size_t cap = 64;
  for (size_t i = 0; i < ts->decl->ncols; i++)
    cap += strlen(ts->decl->cols[i].name) + 8 + (vals[i].type == FS_VAL_TEXT ? vals[i].n * 6 : 24);
  char *out = fsi_arena_alloc(a, cap), *p = out;
  if (!out) return NULL;
  *p++ = '{';
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    p += sprintf(p, "%s\"%s\":", i ? "," : "", ts->decl->cols[i].name);
    const fsi_value *v = &vals[i];
    if (v->type == FS_VAL_INT) {
      p += sprintf(p, "%" PRId64, v->i);
    } else if (v->type == FS_VAL_NULL) {
      p += sprintf(p, "null");
    } else {
      *p++ = '"';
      for (uint32_t k = 0; k < v->n; k++) {
        unsigned char c = (unsigned char)v->s[k];
        if (c == '"' || c == '\\') {
          *p++ = '\\';
          *p++ = (char)c;
        } else if (c < 0x20) {
          p += sprintf(p, "\\u%04x", c);
        } else {
          *p++ = (char)c;
        }
      }
      *p++ = '"';
    }
  }
  *p++ = '}';
  *p = '\0';
  return out;
}

static int log_lost_row(fs_store *st, fsi_tbl_state *ts, const char *pk, const fsi_value *vals,
                        int64_t whlc, int64_t wsite, int64_t lhlc, int64_t lsite,
                        struct fsi_arena *a, fsi_merge_result *res) {
  char *json = row_json(ts, vals, a);
  if (!json) return fsi_fail(FS_ENOMEM, "out of memory");
  fsi_value loser = {FS_VAL_TEXT, 0, json, (uint32_t)strlen(json)};
  fsi_value winner = {FS_VAL_NULL, 0, NULL, 0};
  int rc = fsi_conflict_log(st, ts->decl->name, pk, "*", &winner, whlc, wsite, &loser, lhlc, lsite);
  if (rc > 0) {
    res->conflicts++;
    rc = FS_OK;
  }
  return rc;
}

static int touch_customer(fs_store *st, const char *customer_id, int self);

/* Head office sends a manager's devices the rows of that manager's
 * customers.  Rows that arrived before their customer (or while it belonged
 * to someone else) were filtered out then; when a customer appears or
 * changes manager, its rows are marked changed so they are sent now. */
static int customer_arrived(fs_store *st, fsi_tbl_state *ts, const char *pk, const fsi_row *old,
                            const fsi_value *vals) {
  int mi = ts->sp[SP_MANAGER];
  if (!fsi_store_is_hq(st) || !fsi_merge_is_customers(ts) || mi < 0) return FS_OK;
  if (old->state == ROW_LIVE && fsi_value_equal(&old->vals[mi], &vals[mi])) return FS_OK;
  return touch_customer(st, pk, 0);
}

/* The customer a tombstone remembers its row belonged to, and whose
 * customer that was as this replica knows it: that manager alone may
 * re-create it, and only that manager's devices get the delete.  A row
 * head office never had was the sending device's. */
static int tomb_owner(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                      const fsi_merge_opts *o, const fsi_row *l, struct fsi_arena *a,
                      fsi_row *tomb) {
  if (l->state == ROW_LIVE && ts->cust_col >= 0 && l->vals[ts->cust_col].type == FS_VAL_TEXT)
    tomb->cust = l->vals[ts->cust_col].s;
  else if (l->state == ROW_TOMB)
    tomb->cust = l->cust;
  else if (fsi_merge_is_customers(ts))
    tomb->cust = r->pk;
  int mi = ts->sp[SP_MANAGER];
  if (l->state == ROW_TOMB) {
    tomb->mgr = l->mgr;
  } else if (l->state == ROW_LIVE && fsi_merge_is_customers(ts)) {
    if (mi >= 0 && l->vals[mi].type == FS_VAL_TEXT) tomb->mgr = l->vals[mi].s;
  } else if (l->state == ROW_LIVE && tomb->cust) {
    int known = 0;
    return fsi_policy_customer_owner(st, tomb->cust, a, &tomb->mgr, &known);
  } else if (l->state == ROW_NONE && (fsi_merge_is_customers(ts) || ts->cust_col >= 0)) {
    tomb->mgr = o->sender_manager;
  }
  return FS_OK;
}

/* A delete of a newer incarnation, or of a row this replica has never
 * seen: a live row goes (an edit the deleter had not seen is logged first,
 * so it is not lost without a trace) and the tombstone takes its place. */
static int newer_delete(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                        const fsi_merge_opts *o, const fsi_row *l, struct fsi_arena *a,
                        fsi_merge_result *res) {
  int rc;
  if (l->state == ROW_LIVE) {
    int64_t lsite, lmax = local_max(l, ts->decl->ncols, &lsite);
    if (lmax > r->seen) {
      if ((rc = log_lost_row(st, ts, r->pk, l->vals, r->hlc, r->site, lmax, lsite, a, res)))
        return rc;
    }
    if ((rc = fsi_row_delete_cells(st, ts, r->pk))) return rc;
    sqlite3_reset(ts->del);
    sqlite3_bind_text(ts->del, 1, r->pk, -1, SQLITE_STATIC);
    int step = sqlite3_step(ts->del);
    sqlite3_reset(ts->del);
    if (step != SQLITE_DONE) return fsi_store_sqlfail(st, "deleting a row");
  }
  fsi_row tomb;
  memset(&tomb, 0, sizeof tomb);
  tomb.cl = r->cl;
  tomb.hlc = r->hlc;
  tomb.site = r->site;
  tomb.seen = r->seen;
  tomb.seq =
      FS_MUT(32) && fsi_store_is_hq(st) && l->state == ROW_LIVE ? l->seq : fsi_store_next_seq(st);
  tomb.src = o->sender;
  if ((rc = tomb_owner(st, ts, r, o, l, a, &tomb))) return rc;
  res->applied++;
  return fsi_row_put_tomb(st, ts, r->pk, &tomb);
}

/* A newer incarnation that is alive, or a row this replica has never
 * seen: the incoming state replaces the local one, but for the columns the
 * sender lacks or the policy refused, which keep this replica's value. */
static int newer_live(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                      const fsi_merge_colmap *cm, const fsi_merge_opts *o, const fsi_row *l,
                      uint64_t drop, struct fsi_arena *a, fsi_merge_result *res) {
  size_t nc = ts->decl->ncols;
  int rc;
  if (l->state == ROW_LIVE && (rc = fsi_row_delete_cells(st, ts, r->pk))) return rc;
  fsi_row n;
  memset(&n, 0, sizeof n);
  n.vals = fsi_arena_alloc(a, nc * sizeof *n.vals);
  n.has_cell = fsi_arena_alloc(a, nc);
  n.cells = fsi_arena_alloc(a, nc * sizeof *n.cells);
  if (!n.vals || !n.has_cell || !n.cells) return fsi_fail(FS_ENOMEM, "out of memory");
  memset(n.has_cell, 0, nc);
  for (size_t i = 0; i < nc; i++) {
    int ri = cm->idx[i];
    if (ri < 0 || (drop >> i & 1)) {
      n.vals[i] = (fsi_value){FS_VAL_NULL, 0, NULL, 0};
      if (l->state == ROW_LIVE) n.vals[i] = l->vals[i];
      continue;
    }
    n.vals[i] = r->vals[ri];
    for (size_t k = 0; k < r->ncells; k++)
      if (r->cells[k].col == ri) {
        n.cells[i] = r->cells[k];
        n.cells[i].col = (uint16_t)i;
        n.has_cell[i] = 1;
      }
  }
  n.cl = r->cl;
  n.hlc = r->hlc;
  n.site = r->site;
  n.seq = fsi_store_next_seq(st);
  n.src = drop ? 0 : o->sender;
  if (l->state == ROW_TOMB && (rc = fsi_row_delete_tomb(st, ts, r->pk))) return rc;
  if ((rc = fsi_row_put(st, ts, r->pk, &n, l->state == ROW_LIVE))) return rc;
  if ((rc = fsi_row_put_cells(st, ts, r->pk, &n, 0))) return rc;
  res->applied++;
  return customer_arrived(st, ts, r->pk, l, n.vals);
}

/* An older incarnation: the local state wins; a live row that a delete
 * here never saw is logged so the edit is not lost without a trace. */
static int older(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                 const fsi_merge_colmap *cm, const fsi_row *l, struct fsi_arena *a,
                 fsi_merge_result *res) {
  size_t nc = ts->decl->ncols;
  int alive = r->cl % 2 == 1;
  int64_t rsite, rmax = fsi_merge_remote_max(r, &rsite);
  if (l->state == ROW_TOMB && alive && r->cl == l->cl - 1 && rmax > l->seen) {
    fsi_value *vals = fsi_arena_alloc(a, nc * sizeof *vals);
    if (!vals) return fsi_fail(FS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nc; i++)
      vals[i] = cm->idx[i] >= 0 ? r->vals[cm->idx[i]] : (fsi_value){FS_VAL_NULL, 0, NULL, 0};
    return log_lost_row(st, ts, r->pk, vals, l->hlc, l->site, rmax, rsite, a, res);
  }
  return FS_OK;
}

/* Same incarnation, both deleted: the larger delete clock is kept. */
static int both_deleted(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                        const fsi_merge_opts *o, fsi_row *l, fsi_merge_result *res) {
  if (l->state != ROW_TOMB) return FS_OK; /* cannot happen: parity */
  if (fsi_merge_clock_cmp(r->hlc, r->site, l->hlc, l->site) <= 0) return FS_OK;
  l->hlc = r->hlc;
  l->site = r->site;
  l->seen = r->seen;
  l->seq = fsi_store_next_seq(st);
  l->src = o->sender;
  res->applied++;
  return fsi_row_put_tomb(st, ts, r->pk, l);
}

/* A column both sides wrote: when neither writer had seen the other's
 * value and the values differ, both go to the conflict log (winner first;
 * cmp > 0 when the remote value wins). */
static int log_concurrent(fs_store *st, const fs_table *t, const char *pk, size_t i, int cmp,
                          const fsi_value *rv, fsi_cell rcl, const fsi_value *lv, fsi_cell lc,
                          fsi_merge_result *res) {
  /* One site's writes are ordered (each saw the one before); otherwise a
   * write is concurrent with the other unless it was based on it. */
  int concurrent = rcl.site != lc.site && !(rcl.bhlc == lc.hlc && rcl.bsite == lc.site) &&
                   !(lc.bhlc == rcl.hlc && lc.bsite == rcl.site);
  if (concurrent && !fsi_value_equal(rv, lv) && !FS_MUT(17)) {
    int e = cmp > 0 ? fsi_conflict_log(st, t->name, pk, t->cols[i].name, rv, rcl.hlc, rcl.site, lv,
                                       lc.hlc, lc.site)
                    : fsi_conflict_log(st, t->name, pk, t->cols[i].name, lv, lc.hlc, lc.site, rv,
                                       rcl.hlc, rcl.site);
    if (e < 0) return e;
    if (e > 0) res->conflicts++;
  }
  return FS_OK;
}

/* Same incarnation, both alive: per column last-writer-wins.  A column
 * whose winning clock is the (new) row clock needs no clock entry. */
static int both_alive(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                      const fsi_merge_colmap *cm, const fsi_merge_opts *o, const fsi_row *l,
                      uint64_t drop, struct fsi_arena *a, fsi_merge_result *res) {
  const fs_table *t = ts->decl;
  size_t nc = t->ncols;
  int rc;
  int64_t rh = l->hlc, rs = l->site;
  if (fsi_merge_clock_cmp(r->hlc, r->site, rh, rs) > 0) rh = r->hlc, rs = r->site;
  int changed = rh != l->hlc || rs != l->site, remote_dominates = 1, had_cells = 0;
  fsi_value *vals = fsi_arena_alloc(a, nc * sizeof *vals);
  fsi_cell *win = fsi_arena_alloc(a, nc * sizeof *win);
  if (!vals || !win) return fsi_fail(FS_ENOMEM, "out of memory");
  for (size_t i = 0; i < nc; i++) {
    had_cells |= l->has_cell[i];
    fsi_cell lc = fsi_merge_local_cell(l, i);
    vals[i] = l->vals[i];
    win[i] = lc;
    int ri = cm->idx[i];
    if (ri < 0 || (drop >> i & 1)) {
      remote_dominates = 0;
      continue;
    }
    fsi_cell rcl = fsi_merge_remote_cell(r, ri);
    const fsi_value *rv = &r->vals[ri];
    int cmp = fsi_merge_clock_cmp(rcl.hlc, rcl.site, lc.hlc, lc.site);
    if (FS_MUT(16) && i == 0 && (rcl.site & 1)) cmp = cmp < 0 ? 1 : cmp;
    if (cmp == 0) continue;
    if ((rc = log_concurrent(st, t, r->pk, i, cmp, rv, rcl, &l->vals[i], lc, res))) return rc;
    if (cmp > 0) {
      vals[i] = *rv;
      win[i] = rcl;
      win[i].col = (uint16_t)i;
      changed = 1;
    } else {
      remote_dominates = 0;
    }
  }
  if (!changed) return FS_OK;
  fsi_row n;
  memset(&n, 0, sizeof n);
  n.vals = vals;
  n.cells = win;
  n.has_cell = fsi_arena_alloc(a, nc);
  if (!n.has_cell) return fsi_fail(FS_ENOMEM, "out of memory");
  for (size_t i = 0; i < nc; i++) {
    int covered = win[i].hlc == rh && win[i].site == rs;
    n.has_cell[i] = !covered;
    if (covered) win[i].bhlc = win[i].bsite = 0;
  }
  n.cl = l->cl;
  n.hlc = rh;
  n.site = rs;
  n.seq = fsi_store_next_seq(st);
  n.src = remote_dominates ? o->sender : 0;
  if ((rc = fsi_row_put(st, ts, r->pk, &n, 1))) return rc;
  if ((rc = fsi_row_put_cells(st, ts, r->pk, &n, had_cells))) return rc;
  res->applied++;
  return customer_arrived(st, ts, r->pk, l, n.vals);
}

/* Merges one row change: bounds and policy first, then by causal length
 * (rule 1) and, within one incarnation, per column (rule 2). */
static int merge_row(fs_store *st, fsi_tbl_state *ts, const fsi_rowchange *r,
                     const fsi_merge_colmap *cm, const fsi_merge_opts *o, struct fsi_arena *a,
                     fsi_merge_result *res) {
  const fs_table *t = ts->decl;
  char why[160];
  const char *oob = FS_MUT(27) ? NULL : fsi_policy_out_of_bounds(r, why, sizeof why);
  if (oob) return fsi_policy_refuse(st, res, o, ts, t->name, r, cm, NULL, r->site, r->hlc, oob);
  fsi_row l;
  int rc = fsi_row_load(st, ts, r->pk, a, &l);
  if (rc) return rc;
  uint64_t drop = 0; /* columns whose incoming value the policy refused */
  int pr = fsi_policy_check(st, ts, r, cm, o, &l, a, res, &drop);
  if (pr < 0) return pr;
  if (pr > 0) return FS_OK;
  int alive = r->cl % 2 == 1;
  if (l.state == ROW_NONE || r->cl > l.cl)
    return alive ? newer_live(st, ts, r, cm, o, &l, drop, a, res)
                 : newer_delete(st, ts, r, o, &l, a, res);
  if (r->cl < l.cl) return older(st, ts, r, cm, &l, a, res);
  if (!alive) return both_deleted(st, ts, r, o, &l, res);
  if (l.state != ROW_LIVE) return FS_OK;
  return both_alive(st, ts, r, cm, o, &l, drop, a, res);
}

static int evict_customer(fs_store *st, const char *id, int64_t *rows);

/* A let-go marker: head office moved customer r->pk to another manager, so
 * this device drops it and everything belonging to it, recording no
 * deletes (the data lives on at head office).  Only head office can send
 * one, and only to a device. */
static int let_go(fs_store *st, const fsi_rowchange *r, const fsi_merge_opts *o,
                  fsi_merge_result *res) {
  fsi_tbl_state *cs = fsi_store_table(st, "customers");
  int64_t hq = st->hq_site;
  if (FS_MUT(31)) return FS_OK; /* the marker is ignored */
  if (fsi_store_is_hq(st) || hq == 0 || o->sender != hq || r->site != hq || r->nvals != 0 ||
      r->ncells != 0 || !cs)
    return fsi_policy_refuse(st, res, o, NULL, cs ? cs->decl->name : FS_LETGO_TABLE, r, NULL, NULL,
                             r->site, r->hlc,
                             "only head office can tell a device to let a customer go.");
  int64_t rows = 0;
  int rc = evict_customer(st, r->pk, &rows);
  if (!rc && rows) res->applied++;
  return rc;
}

/* Refuses the whole batch on a clock too far ahead, before anything.  The
 * sentence says whose clock looks wrong, by how much and what to do: when
 * this replica already holds a clock that far past its own wall clock, its
 * own clock is the one that went back; otherwise the sender's runs ahead
 * (which the receiver cannot tell from its own running behind: the device
 * side, which knows head office's time, says more, sync/client.c). */
static int check_skew(fs_store *st, const fsi_batch *b) {
  int64_t now = fsi_util_now_ms(), bound = now + st->max_skew;
  for (size_t k = 0; k < b->nrows; k++) {
    const fsi_rowchange *r = &b->rows[k];
    int64_t site, h = fsi_merge_remote_max(r, &site);
    if (HLC_PHYS(h) <= bound) continue;
    st->skew_hlc = h;
    st->skew_site = site;
    char by[48], allowed[48], at[32], here[32];
    fsi_util_duration(by, HLC_PHYS(h) - now);
    fsi_util_duration(allowed, st->max_skew);
    fsi_util_date(at, HLC_PHYS(h));
    fsi_util_date(here, now);
    int64_t held = HLC_PHYS(st->clock.last);
    if (held > bound) {
      char back[48], newest[32];
      fsi_util_duration(back, held - now);
      fsi_util_date(newest, held);
      return fsi_fail(FS_ESKEW,
                      "%s clock (%s) is %s behind the newest change it already holds (%s), "
                      "so its own clock is wrong: correct it (timedatectl / NTP) and try "
                      "again; nothing from this batch was applied",
                      fsi_store_is_hq(st) ? "head office's" : "this laptop's", here, back, newest);
    }
    if (fsi_store_is_hq(st))
      return fsi_fail(FS_ESKEW,
                      "device %016llx sent changes stamped %s ahead of head office's clock "
                      "(up to %s; head office's clock reads %s; at most %s is allowed), so "
                      "nothing from this batch was applied: that device's clock is ahead; "
                      "correct it and sync again (its changes are kept and go out with "
                      "corrected clocks)",
                      (unsigned long long)site, by, at, here, allowed);
    if (!st->hq_site || site != st->hq_site)
      return fsi_fail(FS_ESKEW,
                      "replica %016llx sent changes stamped %s ahead of this machine's clock "
                      "(up to %s; this machine's clock reads %s; at most %s is allowed), so "
                      "nothing from this batch was applied: its clock is ahead, or this one "
                      "is behind; correct the one that is wrong (timedatectl / NTP)",
                      (unsigned long long)site, by, at, here, allowed);
    return fsi_fail(FS_ESKEW,
                    "head office sent changes stamped %s ahead of this laptop's clock (up to "
                    "%s; this laptop's clock reads %s; at most %s is allowed), so nothing was "
                    "applied: head office's clock is ahead, or this laptop's is behind; if "
                    "this laptop's date and time are right, head office must correct its "
                    "clock (timedatectl / NTP); nothing is lost",
                    by, at, here, allowed);
  }
  return FS_OK;
}

/* Finds each table of the batch's dictionary among the declared ones
 * (map[i]; NULL for the let-go markers) and each of its columns (cms[i]).
 * A table or column this replica does not know refuses the whole batch. */
static int map_tables(fs_store *st, const fsi_batch *b, fsi_tbl_state **map,
                      fsi_merge_colmap *cms) {
  for (size_t i = 0; i < b->ntables; i++) {
    if (!strcmp(b->tables[i].name, FS_LETGO_TABLE) && b->tables[i].ncols == 0) {
      map[i] = NULL; /* let-go markers: let_go() */
      continue;
    }
    fsi_tbl_state *ts = fsi_store_table(st, b->tables[i].name);
    if (!ts)
      return fsi_fail(FS_EVERSION,
                      "the batch has table \"%.64s\" which this replica does "
                      "not know; upgrade fieldsync",
                      b->tables[i].name);
    map[i] = ts;
    for (size_t j = 0; j < ts->decl->ncols; j++) cms[i].idx[j] = -1;
    for (size_t c = 0; c < b->tables[i].ncols; c++) {
      int found = 0;
      for (size_t j = 0; j < ts->decl->ncols; j++)
        if (!strcmp(ts->decl->cols[j].name, b->tables[i].cols[c])) {
          cms[i].idx[j] = (int)c;
          found = 1;
        }
      if (!found)
        return fsi_fail(FS_EVERSION,
                        "the batch has column %s.%.64s which this replica does "
                        "not know; upgrade fieldsync",
                        ts->decl->name, b->tables[i].cols[c]);
    }
  }
  return FS_OK;
}

int fsi_merge_apply(fs_store *st, const fsi_batch *b, const fsi_merge_opts *o,
                    fsi_merge_result *res) {
  int implicit = 0, rc = FS_OK, txopen = 0;
  fsi_tbl_state **map = NULL;
  fsi_merge_colmap *cms = NULL;
  struct fsi_arena *a = NULL;
  memset(res, 0, sizeof *res);
  res->rows = b->nrows;
  if ((rc = check_skew(st, b))) return rc; /* before anything is held */
  res->arena = fsi_arena_new(4096);
  if (!res->arena) return fsi_fail(FS_ENOMEM, "out of memory");
  map = calloc(b->ntables ? b->ntables : 1, sizeof *map);
  cms = calloc(b->ntables ? b->ntables : 1, sizeof *cms);
  a = fsi_arena_new(64 * 1024);
  if (!map || !cms || !a) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = map_tables(st, b, map, cms))) goto done;
  if ((rc = fsi_store_tx_begin(st, &implicit))) goto done;
  txopen = 1;
  int64_t maxh = 0;
  for (size_t k = 0; k < b->nrows && !rc; k++) {
    const fsi_rowchange *r = &b->rows[k];
    if (r->table >= b->ntables) {
      rc = fsi_fail(FS_ECORRUPT, "a change names table #%u, beyond the batch's tables", r->table);
      break;
    }
    int64_t h = fsi_merge_remote_max(r, NULL);
    if (h > maxh) maxh = h;
    rc = map[r->table] ? merge_row(st, map[r->table], r, &cms[r->table], o, a, res)
                       : let_go(st, r, o, res);
    if ((k & 255) == 255) {
      fsi_arena_free(a);
      a = fsi_arena_new(64 * 1024);
      if (!a) rc = fsi_fail(FS_ENOMEM, "out of memory");
    }
  }
  if (!rc) fsi_hlc_observe(&st->clock, maxh);
done:
  if (txopen) rc = fsi_store_tx_end(st, implicit, rc);
  fsi_arena_free(a);
  free(map);
  free(cms);
  if (rc) {
    fsi_merge_result_free(res);
    res->rows = b->nrows;
  }
  return rc;
}

/* Marks the rows of a customer (with or without the customer row itself)
 * as changed in this transaction. */
static int touch_customer(fs_store *st, const char *customer_id, int self) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  for (size_t i = 0; i < st->nt && !rc; i++) {
    fsi_tbl_state *ts = &st->t[i];
    if (fsi_merge_is_customers(ts) && !self) continue;
    const char *col = fsi_merge_is_customers(ts) ? "id"
                      : ts->cust_col >= 0        ? ts->decl->cols[ts->cust_col].name
                                                 : NULL;
    if (!col) continue;
    /* Each row gets a change number of its own (it is the row's key). */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT _seq FROM \"%s\" WHERE \"%s\"=?1", ts->decl->name, col);
    sqlite3_stmt *q = NULL, *u = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
      rc = fsi_store_sqlfail(st, "marking a customer's rows");
      break;
    }
    snprintf(sql, sizeof sql, "UPDATE \"%s\" SET _seq=?1, _src=0 WHERE _seq=?2", ts->decl->name);
    if (sqlite3_prepare_v2(st->db, sql, -1, &u, NULL) != SQLITE_OK) {
      sqlite3_finalize(q);
      rc = fsi_store_sqlfail(st, "marking a customer's rows");
      break;
    }
    /* Collect first: updating the rowid while scanning would revisit rows. */
    int64_t *olds = NULL;
    size_t n = 0, cap = 0;
    sqlite3_bind_text(q, 1, customer_id, -1, SQLITE_STATIC);
    while (!rc && sqlite3_step(q) == SQLITE_ROW) {
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        int64_t *nb = realloc(olds, cap * sizeof *nb);
        if (!nb) {
          rc = fsi_fail(FS_ENOMEM, "out of memory");
          break;
        }
        olds = nb;
      }
      olds[n++] = sqlite3_column_int64(q, 0);
    }
    for (size_t k = 0; !rc && k < n; k++) {
      sqlite3_reset(u);
      sqlite3_bind_int64(u, 1, fsi_store_next_seq(st));
      sqlite3_bind_int64(u, 2, olds[k]);
      if (sqlite3_step(u) != SQLITE_DONE) rc = fsi_store_sqlfail(st, "marking a customer's rows");
    }
    free(olds);
    sqlite3_finalize(q);
    sqlite3_finalize(u);
  }
  return fsi_store_tx_end(st, implicit, rc);
}

int fsi_merge_touch_customer(fs_store *st, const char *customer_id) {
  return touch_customer(st, customer_id, 1);
}

/* Removes customer `id` and every row and tombstone belonging to it, with
 * their clocks, recording nothing; *rows counts the rows removed. */
static int evict_customer(fs_store *st, const char *id, int64_t *rows) {
  *rows = 0;
  /* what was written here and never sent stays where the person sees it */
  int rc = fsi_refused_keep_stranded(st, id);
  for (size_t i = 0; i < st->nt && !rc; i++) {
    fsi_tbl_state *ts = &st->t[i];
    const char *col = fsi_merge_is_customers(ts) ? "id"
                      : ts->cust_col >= 0        ? ts->decl->cols[ts->cust_col].name
                                                 : NULL;
    if (!col) continue;
    char sql[512];
    snprintf(sql, sizeof sql,
             "DELETE FROM fs_cell WHERE tbl='%s' AND pk IN (SELECT id FROM \"%s\""
             " WHERE \"%s\"=?1);"
             "DELETE FROM \"%s\" WHERE \"%s\"=?1",
             ts->decl->name, ts->decl->name, col, ts->decl->name, col);
    const char *tail = sql;
    for (int k = 0; !rc && tail && *tail; k++) {
      sqlite3_stmt *d = NULL;
      if (sqlite3_prepare_v2(st->db, tail, -1, &d, &tail) != SQLITE_OK) {
        rc = fsi_store_sqlfail(st, "letting a customer go");
        break;
      }
      if (!d) break;
      sqlite3_bind_text(d, 1, id, -1, SQLITE_STATIC);
      if (sqlite3_step(d) != SQLITE_DONE)
        rc = fsi_store_sqlfail(st, "letting a customer go");
      else if (k == 1)
        *rows += sqlite3_changes(st->db); /* the table's rows */
      sqlite3_finalize(d);
    }
  }
  if (rc) return rc;
  rc = fsi_sql_run(st, "letting a customer go", "DELETE FROM fs_tomb WHERE cust=?1", "t", id);
  if (!rc) *rows += sqlite3_changes(st->db);
  return rc;
}

int fsi_store_evict_foreign(fs_store *st, const char *manager, int64_t *evicted) {
  fsi_tbl_state *cust = fsi_store_table(st, "customers");
  sqlite3_stmt *q = NULL;
  int rc = FS_OK;
  *evicted = 0;
  if (!cust || !manager) return FS_OK;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT id FROM customers WHERE manager IS NOT NULL"
                         " AND manager != ?1",
                         -1, &q, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "finding customers to let go");
  sqlite3_bind_text(q, 1, manager, -1, SQLITE_STATIC);
  while (!rc && sqlite3_step(q) == SQLITE_ROW) {
    /* copied: the rows the query stands on are about to go */
    char id[FS_BATCH_MAX_PK + 1];
    snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(q, 0));
    int64_t rows = 0;
    rc = evict_customer(st, id, &rows);
    if (!rc) (*evicted)++;
  }
  sqlite3_finalize(q);
  return rc;
}
