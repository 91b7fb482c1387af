/*
 * domain.c — the field-sales rules of local writes.
 *
 * fsi_domain_insert, fsi_domain_update and fsi_domain_delete run for writes made on
 * this replica (a person's command or a head-office import): they fill
 * defaults (status, timestamps, the device's manager), check references,
 * take an order line's unit price from the synced price list (a snapshot),
 * and freeze an order once it is submitted.  fsi_domain_check_row holds the
 * rules every row must satisfy (types, lengths, enumerations, codes,
 * ranges); a local write runs it on the row it is about to store, and head
 * office runs the same function on every row a device pushes, so a tampered
 * device gets no further than a person at its keyboard.  A device never
 * runs it on what it merges from head office: a replica must accept the
 * state head office reached, or replicas would diverge.  fsi_domain_letgo
 * keeps the let-go markers of customers head office moves (the import and
 * assignment commands themselves are head office's: server-stub/hq/).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deal.h"
#include "merge.h"
#include "quote.h"
#include "storeInt.h"
#include "util.h"

static int col_index(const fsi_tbl_state *ts, const char *name) {
  for (size_t i = 0; i < ts->decl->ncols; i++)
    if (!strcmp(ts->decl->cols[i].name, name)) return (int)i;
  return -1;
}

static fsi_value text_value(const char *s) {
  return (fsi_value){FS_VAL_TEXT, 0, s, (uint32_t)strlen(s)};
}

static int is(const fsi_tbl_state *ts, const char *name) { return !strcmp(ts->decl->name, name); }

static int one_of(const fsi_value *v, const char *const *allowed) {
  if (v->type != FS_VAL_TEXT) return 1;
  for (size_t i = 0; allowed[i]; i++)
    if (strlen(allowed[i]) == v->n && !memcmp(allowed[i], v->s, v->n)) return 1;
  return 0;
}

static int check_enum(const fsi_tbl_state *ts, const fsi_value *vals, const char *col,
                      const char *const *allowed, const char *list) {
  int i = col_index(ts, col);
  if (i < 0 || one_of(&vals[i], allowed)) return FS_OK;
  return fsi_fail(FS_EINVAL, "%s %s \"%.40s\" is not one of %s", ts->decl->name, col, vals[i].s,
                  list);
}

static int upper_code(const fsi_value *v, size_t n) {
  if (v->type != FS_VAL_TEXT) return 1;
  if (v->n != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (v->s[i] < 'A' || v->s[i] > 'Z') return 0;
  return 1;
}

static int check_codes(const fsi_tbl_state *ts, const fsi_value *vals) {
  int i = ts->sp[SP_CURRENCY];
  if (i >= 0 && !upper_code(&vals[i], 3))
    return fsi_fail(FS_EINVAL, "currency must be a 3-letter ISO code such as EUR");
  i = ts->sp[SP_COUNTRY];
  if (i >= 0 && !upper_code(&vals[i], 2))
    return fsi_fail(FS_EINVAL, "country must be a 2-letter ISO code such as DE");
  i = ts->sp[SP_EMAIL];
  if (i >= 0 && vals[i].type == FS_VAL_TEXT && !memchr(vals[i].s, '@', vals[i].n))
    return fsi_fail(FS_EINVAL, "email \"%.60s\" has no @", vals[i].s);
  i = ts->sp[SP_DISCOUNT];
  if (i >= 0 && vals[i].type == FS_VAL_INT && (vals[i].i < 0 || vals[i].i > 10000))
    return fsi_fail(FS_EINVAL, "a discount must be between 0 and 100 %%");
  i = ts->sp[SP_AT];
  if (i >= 0 && vals[i].type == FS_VAL_TEXT) {
    int64_t ms;
    int rc = fs_time_parse(&ms, vals[i].s);
    if (rc) return rc;
  }
  i = ts->sp[SP_FOLLOWUP];
  if (i >= 0 && vals[i].type == FS_VAL_TEXT) {
    int64_t ms;
    if (vals[i].n != 10 || fs_time_parse(&ms, vals[i].s))
      return fsi_fail(FS_EINVAL, "follow-up date \"%.40s\" must be YYYY-MM-DD", vals[i].s);
  }
  return FS_OK;
}

static void set_default(const fsi_tbl_state *ts, fsi_value *vals, const char *col, fsi_value v) {
  int i = col_index(ts, col);
  if (i >= 0 && vals[i].type == FS_VAL_NULL) vals[i] = v;
}

/* The status of an order, into buf; FS_ENOTFOUND when it does not exist. */
static int order_state(fs_store *st, const char *order_id, char *status, size_t n, char *customer,
                       char *currency) {
  sqlite3_stmt *s = fsi_sql_query(
      st, "SELECT status, customer_id, currency FROM orders WHERE id=?1", "t", order_id);
  if (!s) return FS_EIO;
  int step = fsi_sql_step(st, s, "reading an order");
  if (step < 0) return step;
  if (step == 0) return fsi_fail(FS_ENOTFOUND, "order %.64s does not exist", order_id);
  snprintf(status, n, "%s", (const char *)sqlite3_column_text(s, 0));
  if (customer) snprintf(customer, 65, "%s", (const char *)sqlite3_column_text(s, 1));
  if (currency) snprintf(currency, 4, "%s", (const char *)sqlite3_column_text(s, 2));
  fsi_sql_done(s);
  return FS_OK;
}

static int require_draft(fs_store *st, const char *order_id, char *customer, char *currency) {
  char status[32];
  int rc = order_state(st, order_id, status, sizeof status, customer, currency);
  if (rc) return rc;
  if (strcmp(status, "draft") != 0)
    return fsi_fail(FS_ECONFLICT, "order %s is %s; its lines are frozen", order_id, status);
  return FS_OK;
}

static const char *const customer_status[] = {"prospect", "active", "key", "lost", NULL};
static const char *const meeting_kind[] = {"visit", "call", "exhibition", NULL};
static const char *const order_status[] = {"draft", "submitted", "confirmed", "cancelled", NULL};
static const char *const complaint_kind[] = {"complaint", "feedback", NULL};
static const char *const complaint_status[] = {"open", "in_progress", "resolved", NULL};

static int check_table_enums(const fsi_tbl_state *ts, const fsi_value *vals) {
  int rc = check_codes(ts, vals);
  if (rc) return rc;
  if (is(ts, "customers"))
    return check_enum(ts, vals, "status", customer_status, "prospect, active, key, lost");
  if (is(ts, "meetings"))
    return check_enum(ts, vals, "kind", meeting_kind, "visit, call, exhibition");
  if (is(ts, "orders"))
    return check_enum(ts, vals, "status", order_status, "draft, submitted, confirmed, cancelled");
  if (is(ts, "complaints")) {
    if ((rc = check_enum(ts, vals, "kind", complaint_kind, "complaint, feedback"))) return rc;
    return check_enum(ts, vals, "status", complaint_status, "open, in_progress, resolved");
  }
  if (is(ts, "competitor_notes")) {
    int pi = col_index(ts, "price"), ci = col_index(ts, "currency");
    if (pi >= 0 && vals[pi].type == FS_VAL_INT && vals[pi].i < 0)
      return fsi_fail(FS_EINVAL, "a price cannot be negative");
    if (pi >= 0 && ci >= 0 && vals[pi].type != FS_VAL_NULL && vals[ci].type == FS_VAL_NULL)
      return fsi_fail(FS_EINVAL, "a competitor's price needs its currency");
  }
  if (is(ts, "deals")) return fsi_deal_check_row(ts, vals);
  if (is(ts, "products")) {
    int i = col_index(ts, "active");
    if (i >= 0 && vals[i].type == FS_VAL_INT && vals[i].i != 0 && vals[i].i != 1)
      return fsi_fail(FS_EINVAL, "active must be 1 or 0");
  }
  if (is(ts, "prices")) {
    int i = col_index(ts, "price");
    if (i >= 0 && vals[i].type == FS_VAL_INT && vals[i].i < 0)
      return fsi_fail(FS_EINVAL, "a price cannot be negative");
  }
  return FS_OK;
}

int fsi_domain_list_price(fs_store *st, const char *sku, const char *currency, int64_t *out) {
  int64_t active = 0;
  int rc = fsi_sql_i64(st, &active, "reading the catalog",
                       "SELECT active FROM products WHERE sku=?1", "t", sku);
  if (rc == FS_ENOTFOUND)
    return fsi_fail(FS_ENOTFOUND, "unknown SKU %.64s: it is not in the catalog", sku);
  if (rc) return rc;
  if (!active) return fsi_fail(FS_EINVAL, "SKU %.64s is no longer sold (inactive)", sku);
  rc = fsi_sql_i64(st, out, "reading the price list",
                   "SELECT price FROM prices WHERE sku=?1 AND currency=?2", "tt", sku, currency);
  if (rc == FS_ENOTFOUND)
    return fsi_fail(FS_ENOTFOUND, "SKU %.64s has no price in %s", sku, currency);
  return rc;
}

/* A received order line carries the unit price its device took from the
 * price list it had synced.  Head office keeps every price its list has
 * held and from when (fs_price_log), so it accepts the current list price
 * and any earlier one set before the line was taken (a device that was
 * offline when the price changed), and refuses a price the list never had
 * by then. */
static int check_line_price(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals, int64_t when) {
  int si = col_index(ts, "sku"), ci = col_index(ts, "currency"), pi = col_index(ts, "unit_price");
  if (si < 0 || ci < 0 || pi < 0 || !fsi_store_table(st, "prices")) return FS_OK;
  if (vals[si].type != FS_VAL_TEXT || vals[ci].type != FS_VAL_TEXT || vals[pi].type != FS_VAL_INT)
    return FS_OK; /* NOT NULL and types are checked first */
  /* text values are NUL-terminated (change.h), so 't' binds them whole */
  int64_t price = 0, held = 0;
  int rc = fsi_quote_priced(st, ts, vals); /* its order's quote gave it this price */
  if (rc) return rc < 0 ? rc : FS_OK;
  rc = fsi_sql_i64(st, &price, "reading the price list",
                   "SELECT price FROM prices WHERE sku=?1 AND currency=?2", "tt", vals[si].s,
                   vals[ci].s);
  if (rc == FS_ENOTFOUND)
    return fsi_fail(FS_EINVAL, "SKU %.64s has no price in %.3s on the price list", vals[si].s,
                    vals[ci].s);
  if (rc) return rc;
  if (price == vals[pi].i) return FS_OK;
  rc = fsi_sql_i64(st, &held, "reading the price list",
                   "SELECT 1 FROM fs_price_log WHERE sku=?1 AND currency=?2 AND price=?3"
                   " AND hlc <= ?4",
                   "ttii", vals[si].s, vals[ci].s, vals[pi].i, when);
  if (rc != FS_ENOTFOUND) return rc;
  return fsi_fail(FS_EINVAL,
                  "the unit price %" PRId64 " of SKU %.64s was not on the price list when the "
                  "line was taken; the list price is %" PRId64 " %.3s",
                  vals[pi].i, vals[si].s, price, vals[ci].s);
}

int fsi_domain_written(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals, int64_t hlc) {
  if (!is(ts, "prices")) return FS_OK;
  int si = col_index(ts, "sku"), ci = col_index(ts, "currency"), pi = col_index(ts, "price");
  if (si < 0 || ci < 0 || pi < 0 || vals[si].type != FS_VAL_TEXT || vals[ci].type != FS_VAL_TEXT ||
      vals[pi].type != FS_VAL_INT)
    return FS_OK;
  /* the first time a price was set is when lines could start using it */
  return fsi_sql_run(st, "recording the price list",
                     "INSERT OR IGNORE INTO fs_price_log(sku, currency, price, hlc)"
                     " VALUES(?1,?2,?3,?4)",
                     "ttii", vals[si].s, vals[ci].s, vals[pi].i, hlc);
}

static int check_line_qty(const fsi_tbl_state *ts, const fsi_value *vals) {
  int qi = col_index(ts, "qty");
  if (qi >= 0 && (vals[qi].type != FS_VAL_INT || vals[qi].i <= 0))
    return fsi_fail(FS_EINVAL, "quantity must be a positive whole number");
  return FS_OK;
}

/* The parent and reference lookups: one literal per table, since the
 * statement cache keys on the text's address (sql.c), never a buffer. */
static const char *parent_sql(const char *table) {
  if (!strcmp(table, "orders")) return "SELECT customer_id, currency FROM orders WHERE id=?1";
  if (!strcmp(table, "quotes")) return "SELECT customer_id, currency FROM quotes WHERE id=?1";
  return NULL;
}

static const char *other_customer_sql(const char *table) {
  if (!strcmp(table, "quotes")) return "SELECT 1 FROM quotes WHERE id=?1 AND customer_id IS NOT ?2";
  if (!strcmp(table, "deals")) return "SELECT 1 FROM deals WHERE id=?1 AND customer_id IS NOT ?2";
  return NULL;
}

int fsi_line_matches_parent(fs_store *st, const char *table, const char *what, const fsi_value *id,
                            const fsi_value *customer, const fsi_value *currency) {
  const char *sql = parent_sql(table);
  if (!sql || id->type != FS_VAL_TEXT || customer->type != FS_VAL_TEXT ||
      currency->type != FS_VAL_TEXT || !fsi_store_table(st, table))
    return FS_OK; /* NOT NULL and types are checked first */
  sqlite3_stmt *s = fsi_sql_query(st, sql, "t", id->s);
  if (!s) return FS_EIO;
  int step = fsi_sql_step(st, s, "reading a line's parent");
  if (step <= 0) return step; /* not held here: nothing to compare */
  const char *c = (const char *)sqlite3_column_text(s, 0);
  const char *cur = (const char *)sqlite3_column_text(s, 1);
  char pc[65], pcur[4];
  snprintf(pc, sizeof pc, "%s", c ? c : "");
  snprintf(pcur, sizeof pcur, "%s", cur ? cur : "");
  fsi_sql_done(s);
  if (strcmp(pc, customer->s) != 0)
    return fsi_fail(FS_EINVAL,
                    "the line names customer %.64s, not its %s's customer %s (%s %.64s); a "
                    "line belongs to its %s's customer",
                    customer->s, what, pc, what, id->s, what);
  if (strcmp(pcur, currency->s) != 0)
    return fsi_fail(FS_EINVAL, "the line is in %.3s, not in its %s's currency %s", currency->s,
                    what, pcur);
  return FS_OK;
}

/* An order's quote and deal are its own customer's (as `quote accept` and
 * `order new --deal` make them): FS_EINVAL when row `id` of `table` is
 * held here and belongs to another customer. */
static int same_customer(fs_store *st, const char *table, const char *what, const fsi_value *id,
                         const fsi_value *customer) {
  const char *sql = other_customer_sql(table);
  if (!sql || id->type != FS_VAL_TEXT || customer->type != FS_VAL_TEXT ||
      !fsi_store_table(st, table))
    return FS_OK;
  int64_t other = 0;
  int rc =
      fsi_sql_i64(st, &other, "reading an order's quote or deal", sql, "tt", id->s, customer->s);
  if (rc == FS_ENOTFOUND) return FS_OK;
  if (rc) return rc;
  return fsi_fail(FS_EINVAL,
                  "%s %.64s is another customer's; an order names a %s of its own customer", what,
                  id->s, what);
}

int fsi_domain_check_row(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals,
                         const fsi_domain_merge *m) {
  const fs_table *t = ts->decl;
  for (size_t i = 0; i < t->ncols; i++) {
    const fs_column *c = &t->cols[i];
    const fsi_value *v = &vals[i];
    if (v->type == FS_VAL_NULL) continue;
    int want = c->type == FS_COL_INT ? FS_VAL_INT : FS_VAL_TEXT;
    if (v->type != want)
      return fsi_fail(FS_EINVAL, "%s.%s must be %s", t->name, c->name,
                      want == FS_VAL_INT ? "a whole number" : "text");
    if (v->type != FS_VAL_TEXT) continue;
    size_t max = c->max_len ? c->max_len : 4096;
    if (!v->s || !fsi_util_utf8_valid(v->s, v->n))
      return fsi_fail(FS_EINVAL, "%s is not valid UTF-8 text", c->name);
    if (v->n > max)
      return fsi_fail(FS_EINVAL, "%s is too long (%zu bytes; at most %zu for %s)", c->name,
                      (size_t)v->n, max, t->name);
  }
  int rc = check_table_enums(ts, vals);
  if (rc || (rc = fsi_agenda_check_row(ts, vals))) return rc;
  for (size_t i = 0; i < t->ncols; i++)
    if ((t->cols[i].flags & FS_COL_NOTNULL) && vals[i].type == FS_VAL_NULL)
      return fsi_fail(FS_EINVAL, "%s needs a %s", t->name, t->cols[i].name);
  if (fsi_quote_table(ts)) return fsi_quote_check_row(st, ts, vals, m, check_line_price);
  if (is(ts, "orders")) {
    const fsi_value *c = &vals[col_index(ts, "customer_id")];
    int qi = col_index(ts, "quote_id"), di = col_index(ts, "deal_id");
    if (qi >= 0 && (rc = same_customer(st, "quotes", "quote", &vals[qi], c))) return rc;
    if (di >= 0 && (rc = same_customer(st, "deals", "deal", &vals[di], c))) return rc;
  }
  if (is(ts, "order_lines")) {
    if (!(FS_MUT(28) && m == NULL) && (rc = check_line_qty(ts, vals))) return rc;
    if ((rc = fsi_line_matches_parent(st, "orders", "order", &vals[col_index(ts, "order_id")],
                                      &vals[col_index(ts, "customer_id")],
                                      &vals[col_index(ts, "currency")])))
      return rc;
    /* A line's price is checked when the line is new here or its price
     * changes: a later list price does not make an accepted line wrong. */
    int pi = col_index(ts, "unit_price");
    if (m && (!m->held || (pi >= 0 && !fsi_value_equal(&m->held[pi], &vals[pi]))) &&
        (rc = check_line_price(st, ts, vals, m->when)))
      return rc;
  }
  return FS_OK;
}

int fsi_domain_insert(fs_store *st, fsi_tbl_state *ts, fsi_value *vals, struct fsi_arena *a) {
  int ci = ts->sp[SP_CREATED], mi = ts->sp[SP_MANAGER];
  if (ci >= 0 && vals[ci].type == FS_VAL_NULL) {
    char now[32];
    fs_time_format(now, fsi_util_now_ms());
    char *nowp = fsi_arena_strndup(a, now, strlen(now));
    if (!nowp) return fsi_fail(FS_ENOMEM, "out of memory");
    vals[ci] = text_value(nowp);
  }
  const char *mgr = mi < 0 || fsi_store_is_hq(st) ? NULL : fsi_store_manager(st);
  if (mgr && !is(ts, "customers") && vals[mi].type == FS_VAL_NULL) vals[mi] = text_value(mgr);
  if (is(ts, "customers")) {
    set_default(ts, vals, "status", text_value("prospect"));
    /* A customer born on a device belongs to that device's manager. */
    if (mgr) vals[mi] = text_value(mgr);
  } else if (is(ts, "meetings")) {
    set_default(ts, vals, "kind", text_value("visit"));
    return fsi_agenda_insert(st, ts, vals, a);
  } else if (is(ts, "orders")) {
    set_default(ts, vals, "status", text_value("draft"));
    set_default(ts, vals, "currency", text_value("EUR"));
    set_default(ts, vals, "discount_bp", (fsi_value){FS_VAL_INT, 0, NULL, 0});
    int i = col_index(ts, "status");
    if (vals[i].n != 5 || memcmp(vals[i].s, "draft", 5) != 0)
      return fsi_fail(FS_EINVAL, "a new order starts as a draft");
    int drc = fsi_deal_check_order(st, ts, vals);
    if (drc) return drc;
    int ni = col_index(ts, "number");
    if (ni >= 0 && vals[ni].type == FS_VAL_NULL && !fsi_store_is_hq(st)) {
      /* the device's own sequence after the first characters of its id:
       * short, and unique across devices without asking head office */
      int64_t n = 0;
      int rc = fsi_store_meta_get_i64(st, "order_number", &n);
      if (rc && rc != FS_ENOTFOUND) return rc;
      if ((rc = fsi_store_meta_set_i64(st, "order_number", ++n))) return rc;
      char num[32], dev[7];
      const char *id = fs_store_device_id(st);
      snprintf(dev, sizeof dev, "%s", id ? id : "000000");
      for (char *p = dev; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
      snprintf(num, sizeof num, "%s-%" PRId64, dev, n);
      char *nump = fsi_arena_strndup(a, num, strlen(num));
      if (!nump) return fsi_fail(FS_ENOMEM, "out of memory");
      vals[ni] = text_value(nump);
    }
  } else if (is(ts, "order_lines")) {
    int oi = col_index(ts, "order_id"), si = col_index(ts, "sku");
    if (vals[oi].type != FS_VAL_TEXT) return fsi_fail(FS_EINVAL, "an order line needs an order");
    if (vals[si].type != FS_VAL_TEXT) return fsi_fail(FS_EINVAL, "an order line needs a SKU");
    int rc = check_line_qty(ts, vals);
    if (rc) return rc;
    char cust[65], cur[4];
    rc = require_draft(st, vals[oi].s, cust, cur);
    if (rc) return rc;
    const char *custp = fsi_arena_strndup(a, cust, strlen(cust));
    const char *curp = fsi_arena_strndup(a, cur, strlen(cur));
    if (!custp || !curp) return fsi_fail(FS_ENOMEM, "out of memory");
    vals[col_index(ts, "customer_id")] = text_value(custp);
    vals[col_index(ts, "currency")] = text_value(curp);
    /* a price given with the line stands only when the order's quote gave it */
    int pi = col_index(ts, "unit_price");
    int64_t price = vals[pi].i;
    int quoted = vals[pi].type == FS_VAL_INT ? fsi_quote_priced(st, ts, vals) : 0;
    if (quoted < 0) return quoted;
    if (!quoted && (rc = fsi_domain_list_price(st, vals[si].s, FS_MUT(29) ? "EUR" : cur, &price)))
      return rc;
    vals[pi] = (fsi_value){FS_VAL_INT, price, NULL, 0};
    set_default(ts, vals, "discount_bp", (fsi_value){FS_VAL_INT, 0, NULL, 0});
  } else if (fsi_quote_table(ts)) {
    return fsi_quote_insert(st, ts, vals, a);
  } else if (is(ts, "complaints")) {
    set_default(ts, vals, "kind", text_value("complaint"));
    set_default(ts, vals, "status", text_value("open"));
  } else if (is(ts, "deals")) {
    return fsi_deal_defaults(ts, NULL, vals, NULL, a);
  }
  return FS_OK; /* the row's rules: fsi_domain_check_row, once defaults are in */
}

int fsi_domain_update(fs_store *st, fsi_tbl_state *ts, const char *id, const fsi_value *old,
                      fsi_value *vals, uint8_t *set, struct fsi_arena *a) {
  /* the new values' rules are fsi_domain_check_row's */
  if (fsi_quote_table(ts)) return fsi_quote_update(st, ts, id, old, vals, set, a);
  if (is(ts, "complaints")) {
    /* resolved_at is when the status became resolved, and only then */
    int si = col_index(ts, "status"), ri = col_index(ts, "resolved_at");
    if (si >= 0 && ri >= 0 && set[si] && !set[ri]) {
      int resolved =
          vals[si].type == FS_VAL_TEXT && vals[si].n == 8 && !memcmp(vals[si].s, "resolved", 8);
      int was = old[si].type == FS_VAL_TEXT && !strcmp(old[si].s, "resolved");
      if (resolved && !was) {
        char now[32];
        fs_time_format(now, fsi_util_now_ms());
        char *nowp = fsi_arena_strndup(a, now, strlen(now));
        if (!nowp) return fsi_fail(FS_ENOMEM, "out of memory");
        vals[ri] = text_value(nowp);
        set[ri] = 1;
      } else if (!resolved) {
        vals[ri] = (fsi_value){FS_VAL_NULL, 0, NULL, 0};
        set[ri] = 1;
      }
    }
  } else if (is(ts, "orders")) {
    int si = col_index(ts, "status");
    if (old[si].type == FS_VAL_TEXT && strcmp(old[si].s, "draft") != 0)
      return fsi_fail(FS_ECONFLICT, "order %s is %s; it can no longer be changed", id, old[si].s);
  } else if (is(ts, "order_lines")) {
    int oi = col_index(ts, "order_id");
    int rc = require_draft(st, old[oi].s, NULL, NULL);
    if (rc) return rc;
    for (size_t i = 0; i < ts->decl->ncols; i++) {
      const char *c = ts->decl->cols[i].name;
      if (set[i] && (!strcmp(c, "order_id") || !strcmp(c, "sku") || !strcmp(c, "unit_price") ||
                     !strcmp(c, "currency") || !strcmp(c, "customer_id")))
        return fsi_fail(FS_EINVAL, "an order line's %s cannot be changed; add a new line", c);
    }
  } else if (is(ts, "deals")) {
    return fsi_deal_defaults(ts, old, vals, set, a);
  }
  return FS_OK; /* the row's rules: fsi_domain_check_row on the merged row */
}

/* A customer made by mistake may be deleted; one with anything attached
 * (a contact, a meeting, an order, a balance ...) is archived instead
 * (status lost), so nothing that belongs to it is orphaned. */
static int require_unattached(fs_store *st, const char *id) {
  const fs_schema *sc = st->schema;
  for (size_t t = 0; t < sc->ntables; t++) {
    const fs_table *tb = &sc->tables[t];
    for (size_t c = 0; c < tb->ncols; c++) {
      if (!(tb->cols[c].flags & FS_COL_CUSTOMER)) continue;
      char sql[256];
      sqlite3_stmt *s = NULL;
      snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\" WHERE \"%s\" = ?1", tb->name,
               tb->cols[c].name);
      if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return fsi_store_sqlfail(st, "checking what a customer holds");
      sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
      int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
      sqlite3_finalize(s);
      if (n < 0) return fsi_store_sqlfail(st, "checking what a customer holds");
      if (n > 0)
        return fsi_fail(FS_ECONFLICT,
                        "customer %s has %" PRId64 " %s; it cannot be deleted, archive it "
                        "instead with `fieldsync customer archive`",
                        id, n, tb->name);
    }
  }
  return FS_OK;
}

int fsi_domain_delete(fs_store *st, fsi_tbl_state *ts, const char *id, const fsi_value *old) {
  (void)id;
  if (fsi_quote_table(ts)) return fsi_quote_delete(st, ts, id, old);
  if (is(ts, "order_lines")) return require_draft(st, old[col_index(ts, "order_id")].s, NULL, NULL);
  if (is(ts, "orders")) {
    int si = col_index(ts, "status");
    if (old[si].type == FS_VAL_TEXT && strcmp(old[si].s, "draft") != 0)
      return fsi_fail(FS_ECONFLICT, "order %s is %s; it cannot be deleted", id, old[si].s);
  }
  return FS_OK;
}

/* --------------------------------------------------------------- orders */

int fs_order_line_add(char id_out[FS_ID_SIZE], fs_store *st, const char *order_id, const char *sku,
                      int64_t qty, int64_t discount_bp) {
  char q[24], d[24];
  if (qty <= 0) return fsi_fail(FS_EINVAL, "quantity must be a positive whole number");
  if (discount_bp < 0 || discount_bp > 10000)
    return fsi_fail(FS_EINVAL, "a discount must be between 0 and 100 %%");
  snprintf(q, sizeof q, "%" PRId64, qty);
  snprintf(d, sizeof d, "%" PRId64, discount_bp);
  fs_field f[] = {{"order_id", order_id}, {"sku", sku}, {"qty", q}, {"discount_bp", d}};
  return fs_insert(id_out, st, "order_lines", f, 4);
}

int fs_order_submit(fs_store *st, const char *order_id) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  if ((rc = require_draft(st, order_id, NULL, NULL))) goto done;
  int64_t n = 0;
  if ((rc = fsi_sql_i64(st, &n, "counting an order's lines",
                        "SELECT count(*) FROM order_lines WHERE order_id=?1", "t", order_id)))
    goto done;
  if (n == 0) {
    rc =
        fsi_fail(FS_EINVAL, "order %s has no lines; add one with `fieldsync order line`", order_id);
    goto done;
  }
  char now[32];
  fs_time_format(now, fsi_util_now_ms());
  fs_field f[] = {{"status", "submitted"}, {"submitted_at", now}};
  rc = fs_update(st, "orders", order_id, f, 2);
done:
  return fsi_store_tx_end(st, implicit, rc);
}

int fs_customer_delete(fs_store *st, const char *id) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  if (!(rc = require_unattached(st, id))) rc = fs_delete(st, "customers", id);
  return fsi_store_tx_end(st, implicit, rc);
}

/* ------------------------------------------------- customers moving */

int fsi_domain_letgo(fs_store *st, const char *customer_id, const char *manager) {
  if (!fsi_store_is_hq(st)) return fsi_fail(FS_EPERM, "only head office moves customers");
  /* The marker's change number is taken before the customer's rows are
   * re-marked, so it reaches the old manager's devices once and before
   * anything newer.  A marker for the manager it comes back to is dropped:
   * those devices either never let go or receive the customer again after
   * the marker. */
  int rc = fsi_sql_run(st, "recording a reassignment",
                       "INSERT OR REPLACE INTO fs_moved(pk, manager, seq, hlc)"
                       " SELECT id, manager, ?3, ?4 FROM customers WHERE id=?1"
                       " AND manager IS NOT NULL AND manager != ?2",
                       "ttii", customer_id, manager, fsi_store_next_seq(st),
                       fsi_hlc_next(&st->clock, fsi_util_now_ms()));
  if (rc) return rc;
  return fsi_sql_run(st, "recording a reassignment",
                     "DELETE FROM fs_moved WHERE pk=?1 AND manager=?2", "tt", customer_id, manager);
}
