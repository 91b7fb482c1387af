/*
 * deal.c — deals: an opportunity of one customer, from lead to won or lost,
 * with its expected value, probability and close date (`fieldsync deal`,
 * head office's pipeline report).
 *
 * The stages, in the order a deal moves through them, with the probability
 * a deal gets when none is given:
 *
 *     lead 10, qualified 25, proposal 50, negotiation 75, won 100, lost 0
 *
 * A won deal's probability is 100 and a lost one's 0 (the pipeline's
 * weighted value of a closed deal is what it brought); a lost deal says why
 * (lost_reason).  Value is integer minor units of its currency, never
 * negative, at most FSI_DEAL_VALUE_MAX so that value x probability stays far
 * inside int64.  The weighted value of a deal is value x probability / 100
 * rounded half up to the minor unit (FSI_DEAL_SQL_WEIGHTED), the same in the
 * device's views and head office's report.
 *
 * fsi_deal_check_row holds the row rules: domain.c runs it for every local
 * write and head office for every row a device pushes.  fsi_deal_defaults
 * runs for local writes only (a merge takes rows as they are).  The views
 * are here too, so that the deal module is one file.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deal.h"
#include "util.h"

static const struct {
  const char *name;
  int64_t probability;
} stages[] = {
    {"lead", 10},        {"qualified", 25}, {"proposal", 50},
    {"negotiation", 75}, {"won", 100},      {"lost", 0},
};
#define NSTAGES (sizeof stages / sizeof stages[0])
#define STAGE_LIST "lead, qualified, proposal, negotiation, won or lost"

static int col_of(const fsi_tbl_state *ts, const char *name) {
  for (size_t i = 0; i < ts->decl->ncols; i++)
    if (!strcmp(ts->decl->cols[i].name, name)) return (int)i;
  return -1;
}

/* The stage's index in stages[], -1 when v is no stage (or not text). */
static int stage_of(const fsi_value *v) {
  if (v->type != FS_VAL_TEXT) return -1;
  for (size_t i = 0; i < NSTAGES; i++)
    if (strlen(stages[i].name) == v->n && !memcmp(stages[i].name, v->s, v->n)) return (int)i;
  return -1;
}

static int is_stage(const fsi_value *v, const char *name) {
  return v->type == FS_VAL_TEXT && strlen(name) == v->n && !memcmp(name, v->s, v->n);
}

/* Nothing but spaces and control bytes. */
static int blank(const fsi_value *v) {
  for (uint32_t i = 0; i < v->n; i++)
    if ((unsigned char)v->s[i] > ' ') return 0;
  return 1;
}

int fsi_deal_check_row(const fsi_tbl_state *ts, const fsi_value *vals) {
  int si = col_of(ts, "stage"), pi = col_of(ts, "probability"), vi = col_of(ts, "value"),
      ci = col_of(ts, "currency"), di = col_of(ts, "close_date"), li = col_of(ts, "lost_reason");
  if (si < 0) return FS_OK;
  const fsi_value *stage = &vals[si];
  if (stage->type == FS_VAL_NULL) return FS_OK; /* NOT NULL is checked after */
  if (stage_of(stage) < 0)
    return fsi_fail(FS_EINVAL, "a deal's stage \"%.40s\" is not one of " STAGE_LIST, stage->s);
  if (pi >= 0 && vals[pi].type == FS_VAL_NULL)
    return fsi_fail(FS_EINVAL, "a deal needs its probability (0 to 100 %%)");
  if (pi >= 0 && vals[pi].type == FS_VAL_INT) {
    int64_t p = vals[pi].i;
    if (!FS_MUT(66) && (p < 0 || p > 100))
      return fsi_fail(FS_EINVAL, "a deal's probability must be 0 to 100 %%, not %lld",
                      (long long)p);
    if (is_stage(stage, "won") && p != 100)
      return fsi_fail(FS_EINVAL, "a won deal's probability is 100 %%, not %lld", (long long)p);
    if (is_stage(stage, "lost") && p != 0)
      return fsi_fail(FS_EINVAL, "a lost deal's probability is 0 %%, not %lld", (long long)p);
  }
  if (vi >= 0 && vals[vi].type == FS_VAL_INT) {
    if (vals[vi].i < 0) return fsi_fail(FS_EINVAL, "a deal's value cannot be negative");
    if (vals[vi].i > FSI_DEAL_VALUE_MAX)
      return fsi_fail(FS_EINVAL, "a deal's value is too large (at most %lld minor units)",
                      (long long)FSI_DEAL_VALUE_MAX);
    if (ci >= 0 && vals[ci].type == FS_VAL_NULL)
      return fsi_fail(FS_EINVAL, "a deal's value needs its currency");
  }
  if (di >= 0 && vals[di].type == FS_VAL_TEXT) {
    int64_t ms;
    if (vals[di].n != 10 || fs_time_parse(&ms, vals[di].s))
      return fsi_fail(FS_EINVAL, "a deal's close date \"%.40s\" must be YYYY-MM-DD", vals[di].s);
  }
  if (is_stage(stage, "lost") && (li < 0 || vals[li].type != FS_VAL_TEXT || blank(&vals[li])))
    return fsi_fail(FS_EINVAL, "a lost deal needs its lost reason (why it was lost)");
  return FS_OK;
}

int fsi_deal_defaults(const fsi_tbl_state *ts, const fsi_value *old, fsi_value *vals, uint8_t *set,
                      struct fsi_arena *a) {
  int si = col_of(ts, "stage"), pi = col_of(ts, "probability"), di = col_of(ts, "close_date");
  if (si < 0 || pi < 0) return FS_OK;
  int changes = set ? set[si] && !fsi_value_equal(&old[si], &vals[si]) : 1;
  int k = stage_of(&vals[si]);
  if (!changes || k < 0) return FS_OK;
  if (set ? !set[pi] : vals[pi].type == FS_VAL_NULL) {
    vals[pi] = (fsi_value){FS_VAL_INT, stages[k].probability, NULL, 0};
    if (set) set[pi] = 1;
  }
  /* the day it was won or lost, unless the same write says when */
  int closed = is_stage(&vals[si], "won") || is_stage(&vals[si], "lost");
  if (closed && di >= 0 && (set ? !set[di] : vals[di].type == FS_VAL_NULL)) {
    char day[16];
    time_t now = (time_t)(fsi_util_now_ms() / 1000);
    struct tm tm;
    if (!localtime_r(&now, &tm) || !strftime(day, sizeof day, "%Y-%m-%d", &tm))
      return fsi_fail(FS_EIO, "cannot read today's date");
    char *p = fsi_arena_strndup(a, day, strlen(day));
    if (!p) return fsi_fail(FS_ENOMEM, "out of memory");
    vals[di] = (fsi_value){FS_VAL_TEXT, 0, p, (uint32_t)strlen(p)};
    if (set) set[di] = 1;
  }
  return FS_OK;
}

int fsi_deal_check_order(fs_store *st, const fsi_tbl_state *ts, const fsi_value *vals) {
  int di = col_of(ts, "deal_id"), ci = col_of(ts, "customer_id");
  if (di < 0 || ci < 0 || vals[di].type != FS_VAL_TEXT || !fsi_store_table(st, "deals"))
    return FS_OK;
  sqlite3_stmt *s =
      fsi_sql_query(st, "SELECT customer_id, stage FROM deals WHERE id = ?1", "t", vals[di].s);
  if (!s) return FS_EIO;
  int step = fsi_sql_step(st, s, "reading a deal");
  if (step < 0) return step;
  if (step == 0) return fsi_fail(FS_ENOTFOUND, "deal %.64s does not exist", vals[di].s);
  const char *cust = (const char *)sqlite3_column_text(s, 0);
  int same = cust && vals[ci].type == FS_VAL_TEXT && !strcmp(cust, vals[ci].s);
  fsi_sql_done(s);
  if (!same)
    return fsi_fail(FS_EINVAL,
                    "deal %.64s is another customer's; an order closes a deal of its "
                    "own customer",
                    vals[di].s);
  return FS_OK;
}

/* ----------------------------------------------------------------- views */

#define DEAL_COLS                                                                                  \
  "SELECT d.id, d.customer_id, c.name AS customer_name, d.title, d.stage, d.value, d.currency,"    \
  " d.probability, " FSI_DEAL_SQL_WEIGHTED " AS weighted, d.close_date, d.lost_reason,"            \
  " d.created_at, d.manager FROM deals d LEFT JOIN customers c ON c.id = d.customer_id"

static const char SQL_DEALS[] = DEAL_COLS " WHERE (?1 IS NULL OR d.customer_id = ?1)"
                                          " ORDER BY d.close_date IS NULL, d.close_date,"
                                          " d.created_at, d.id";
static const char SQL_DEAL[] = DEAL_COLS " WHERE d.id = ?1";
static const char SQL_DEAL_QUOTES[] =
    "SELECT q.id, q.number, q.status, q.currency,"
    " (SELECT (coalesce(sum((l.qty * l.unit_price * (10000 - coalesce(l.discount_bp, 0))"
    " + 5000) / 10000), 0) * (10000 - coalesce(q.discount_bp, 0)) + 5000) / 10000"
    " FROM quote_lines l WHERE l.quote_id = q.id) AS total,"
    " q.valid_until, q.created_at FROM quotes q WHERE q.deal_id = ?1 ORDER BY q.created_at, q.id";
static const char SQL_DEAL_ORDERS[] =
    "SELECT o.id, o.number, o.status, o.currency, " FSI_SQL_ORDER_TOTAL " AS total,"
    " o.created_at, o.submitted_at FROM orders o WHERE o.deal_id = ?1"
    " ORDER BY o.created_at, o.id";

static int attach_rows(fs_store *st, cJSON *o, const char *name, const char *sql, const char *id) {
  cJSON *arr = NULL;
  int rc = fsi_view_rows(st, fsi_sql_query(st, sql, "t", id), "reading a deal", &arr);
  if (rc) return rc;
  if (!cJSON_AddItemToObject(o, name, arr)) {
    cJSON_Delete(arr);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  return FS_OK;
}

int fsi_deal_view(fs_store *st, const char *view, const char *arg, cJSON **out) {
  *out = NULL;
  if (!strcmp(view, "deals"))
    return fsi_view_rows(st, fsi_sql_query(st, SQL_DEALS, "t", arg), "reading the deals", out);
  if (!arg) return fsi_fail(FS_EINVAL, "no deal named");
  cJSON *arr = NULL;
  int rc = fsi_view_rows(st, fsi_sql_query(st, SQL_DEAL, "t", arg), "reading a deal", &arr);
  if (rc) return rc;
  cJSON *o = cJSON_DetachItemFromArray(arr, 0);
  cJSON_Delete(arr);
  if (!o) return fsi_fail(FS_ENOTFOUND, "deal %.64s does not exist", arg);
  if ((rc = attach_rows(st, o, "quotes", SQL_DEAL_QUOTES, arg)) ||
      (rc = attach_rows(st, o, "orders", SQL_DEAL_ORDERS, arg))) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}
