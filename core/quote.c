/*
 * quote.c — quotes (proposals) and their lines, and a quote accepted into
 * an order.
 *
 * A quote is born a draft on the device (status draft, currency EUR unless
 * given, valid for 30 days of the local calendar unless valid_until is
 * given) and gets a short number for people, "3F2A91-Q17": the first six
 * characters of the device id and the device's own quote sequence, so it is
 * unique across devices without asking head office and never looks like an
 * order's "3F2A91-17".  Its lines are priced from the synced price list in
 * the quote's currency at the moment they are added, exactly like order
 * lines, and change (qty, discount, removal) only while the quote is a
 * draft.  Its status moves draft -> sent -> accepted or rejected and no
 * other way; sent_at and decided_at are set by those moves.  A quote whose
 * valid_until is before today (local calendar, by the store's clock
 * fsi_util_now_ms) is expired: it cannot be
 * sent or accepted, and the views say so.
 *
 * fs_quote_accept makes, in one transaction, a draft order for the quote's
 * customer (quote_id and deal_id set, the quote's currency and discount)
 * with a copy of every line at the quote's price and discount, and marks
 * the quote accepted with its order_id.  An order line whose order names a
 * quote may carry the price of that quote's line for the same customer,
 * SKU and currency instead of today's list price (fsi_quote_priced): at a
 * local insert the given price is kept only when it is that one, and head
 * office, which re-checks every pushed line against its price history,
 * accepts it for that reason and no other.  Quote lines themselves pass
 * the same price-history check as order lines, so a device cannot invent
 * a quote price either.  A push carries rows in change order, and a
 * quote's lines are always written before the order accepted from it, so
 * head office holds (or has just merged) the quote line when the order
 * line arrives, in the same push or a later one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quote.h"
#include "util.h"

static int col(const fsi_tbl_state *ts, const char *name) {
  for (size_t i = 0; i < ts->decl->ncols; i++)
    if (!strcmp(ts->decl->cols[i].name, name)) return (int)i;
  return -1;
}

static fsi_value text(const char *s) { return (fsi_value){FS_VAL_TEXT, 0, s, (uint32_t)strlen(s)}; }

static int is_text(const fsi_value *v, const char *s) {
  return v->type == FS_VAL_TEXT && v->n == strlen(s) && !memcmp(v->s, s, v->n);
}

static const char *dup(struct fsi_arena *a, const char *s) {
  return fsi_arena_strndup(a, s, strlen(s));
}

int fsi_quote_table(const fsi_tbl_state *ts) {
  return !strcmp(ts->decl->name, "quotes") || !strcmp(ts->decl->name, "quote_lines");
}

static int is_quotes(const fsi_tbl_state *ts) { return !strcmp(ts->decl->name, "quotes"); }

/* Today + days in the local calendar, YYYY-MM-DD. */
static void local_date(char out[11], int days) {
  time_t now = (time_t)(fsi_util_now_ms() / 1000);
  struct tm tm;
  localtime_r(&now, &tm);
  tm.tm_mday += days;
  tm.tm_hour = 12; /* clear of daylight-saving edges */
  tm.tm_isdst = -1;
  mktime(&tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}

/* A real calendar date YYYY-MM-DD. */
static int valid_date(const char *s, size_t n) {
  if (n != 10 || s[4] != '-' || s[7] != '-') return 0;
  for (size_t i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return 0;
  int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return 0;
  return !(m == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400)));
}

/* ------------------------------------------------------- quote state */

typedef struct {
  char status[16], customer[65], currency[4], valid_until[11], number[33], order_id[65];
  char deal_id[65];
  int64_t discount_bp;
} quote_row;

static const char SQL_QUOTE[] =
    "SELECT status, customer_id, currency, coalesce(valid_until, ''), coalesce(number, ''),"
    " coalesce(order_id, ''), coalesce(deal_id, ''), coalesce(discount_bp, 0)"
    " FROM quotes WHERE id = ?1";

static int quote_read(fs_store *st, const char *id, quote_row *q) {
  sqlite3_stmt *s = fsi_sql_query(st, SQL_QUOTE, "t", id);
  if (!s) return FS_EIO;
  int step = fsi_sql_step(st, s, "reading a quote");
  if (step < 0) return step;
  if (step == 0) return fsi_fail(FS_ENOTFOUND, "quote %.64s does not exist", id);
  char *dst[] = {q->status, q->customer, q->currency, q->valid_until,
                 q->number, q->order_id, q->deal_id};
  size_t cap[] = {sizeof q->status, sizeof q->customer, sizeof q->currency, sizeof q->valid_until,
                  sizeof q->number, sizeof q->order_id, sizeof q->deal_id};
  for (int i = 0; i < 7; i++) {
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(dst[i], cap[i], "%s", t ? (const char *)t : "");
  }
  q->discount_bp = sqlite3_column_int64(s, 7);
  fsi_sql_done(s);
  return FS_OK;
}

static const char *name_of(const quote_row *q, const char *id) {
  return *q->number ? q->number : id;
}

static int expired(const quote_row *q) {
  char today[11];
  local_date(today, 0);
  return *q->valid_until && strcmp(q->valid_until, today) < 0;
}

static int quote_require_draft(fs_store *st, const char *id, quote_row *q) {
  int rc = quote_read(st, id, q);
  if (rc) return rc;
  if (strcmp(q->status, "draft") != 0)
    return fsi_fail(FS_ECONFLICT, "quote %s is %s; its lines are frozen", name_of(q, id),
                    q->status);
  return FS_OK;
}

/* ------------------------------------------------------------ hooks */

static int next_number(fs_store *st, fsi_value *v, struct fsi_arena *a) {
  int64_t n = 0;
  int rc = fsi_store_meta_get_i64(st, "quote_number", &n);
  if (rc && rc != FS_ENOTFOUND) return rc;
  if ((rc = fsi_store_meta_set_i64(st, "quote_number", ++n))) return rc;
  char num[40], dev[7];
  const char *id = fs_store_device_id(st);
  snprintf(dev, sizeof dev, "%s", id ? id : "000000");
  for (char *p = dev; *p; p++)
    if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
  snprintf(num, sizeof num, "%s-Q%" PRId64, dev, n);
  const char *p = dup(a, num);
  if (!p) return fsi_fail(FS_ENOMEM, "out of memory");
  *v = text(p);
  return FS_OK;
}

static void set_default(const fsi_tbl_state *ts, fsi_value *vals, const char *name, fsi_value v) {
  int i = col(ts, name);
  if (i >= 0 && vals[i].type == FS_VAL_NULL) vals[i] = v;
}

int fsi_quote_insert(fs_store *st, fsi_tbl_state *ts, fsi_value *vals, struct fsi_arena *a) {
  const fsi_value zero = {FS_VAL_INT, 0, NULL, 0};
  if (is_quotes(ts)) {
    set_default(ts, vals, "status", text("draft"));
    set_default(ts, vals, "currency", text("EUR"));
    set_default(ts, vals, "discount_bp", zero);
    int si = col(ts, "status"), vi = col(ts, "valid_until"), ni = col(ts, "number");
    if (!is_text(&vals[si], "draft")) return fsi_fail(FS_EINVAL, "a new quote starts as a draft");
    if (vals[vi].type == FS_VAL_NULL) {
      char d[11];
      local_date(d, 30);
      const char *p = dup(a, d);
      if (!p) return fsi_fail(FS_ENOMEM, "out of memory");
      vals[vi] = text(p);
    } else if (vals[vi].type == FS_VAL_TEXT && valid_date(vals[vi].s, vals[vi].n)) {
      char today[11];
      local_date(today, 0);
      if (strcmp(vals[vi].s, today) < 0)
        return fsi_fail(FS_EINVAL, "a quote cannot be valid until %.10s, a day already past",
                        vals[vi].s);
    }
    if (vals[ni].type == FS_VAL_NULL && !fsi_store_is_hq(st)) return next_number(st, &vals[ni], a);
    return FS_OK;
  }
  int qi = col(ts, "quote_id"), si = col(ts, "sku"), qty = col(ts, "qty");
  if (vals[qi].type != FS_VAL_TEXT) return fsi_fail(FS_EINVAL, "a quote line needs a quote");
  if (vals[si].type != FS_VAL_TEXT) return fsi_fail(FS_EINVAL, "a quote line needs a SKU");
  if (vals[qty].type != FS_VAL_INT || vals[qty].i <= 0)
    return fsi_fail(FS_EINVAL, "quantity must be a positive whole number");
  quote_row q;
  int rc = quote_require_draft(st, vals[qi].s, &q);
  if (rc) return rc;
  int64_t price = 0;
  if ((rc = fsi_domain_list_price(st, vals[si].s, q.currency, &price))) return rc;
  const char *custp = dup(a, q.customer), *curp = dup(a, q.currency);
  if (!custp || !curp) return fsi_fail(FS_ENOMEM, "out of memory");
  vals[col(ts, "customer_id")] = text(custp);
  vals[col(ts, "currency")] = text(curp);
  vals[col(ts, "unit_price")] = (fsi_value){FS_VAL_INT, price, NULL, 0};
  set_default(ts, vals, "discount_bp", zero);
  return FS_OK;
}

/* draft -> sent -> accepted | rejected */
static int transition_ok(const char *from, const fsi_value *to) {
  if (is_text(to, from)) return 1;
  if (!strcmp(from, "draft")) return is_text(to, "sent");
  if (!strcmp(from, "sent")) return is_text(to, "accepted") || is_text(to, "rejected");
  return 0;
}

static int stamp(fsi_tbl_state *ts, fsi_value *vals, uint8_t *set, const char *name,
                 struct fsi_arena *a) {
  int i = col(ts, name);
  if (i < 0 || set[i]) return FS_OK;
  char now[32];
  fs_time_format(now, fsi_util_now_ms());
  const char *p = dup(a, now);
  if (!p) return fsi_fail(FS_ENOMEM, "out of memory");
  vals[i] = text(p);
  set[i] = 1;
  return FS_OK;
}

int fsi_quote_update(fs_store *st, fsi_tbl_state *ts, const char *id, const fsi_value *old,
                     fsi_value *vals, uint8_t *set, struct fsi_arena *a) {
  if (is_quotes(ts)) {
    int si = col(ts, "status");
    const char *was = old[si].type == FS_VAL_TEXT ? old[si].s : "draft";
    const fsi_value *nm = &old[col(ts, "number")];
    const char *name = nm->type == FS_VAL_TEXT ? nm->s : id;
    if (set[si] && !transition_ok(was, &vals[si]))
      return fsi_fail(FS_ECONFLICT,
                      "quote %s is %s; it cannot become %.16s (a quote goes draft, sent, then "
                      "accepted or rejected)",
                      name, was, vals[si].type == FS_VAL_TEXT ? vals[si].s : "nothing");
    int oi = col(ts, "order_id");
    if (set[si] && is_text(&vals[si], "accepted") && strcmp(was, "accepted") != 0 &&
        !(set[oi] && vals[oi].type == FS_VAL_TEXT))
      return fsi_fail(FS_EINVAL,
                      "quote %s is accepted with its order (fs_quote_accept, "
                      "`fieldsync quote accept`)",
                      name);
    for (size_t i = 0; i < ts->decl->ncols; i++) {
      const char *c = ts->decl->cols[i].name;
      if (!set[i] || (int)i == si || !strcmp(c, "notes")) continue;
      if (!strcmp(c, "customer_id") || !strcmp(c, "currency"))
        return fsi_fail(FS_EINVAL,
                        "a quote's %s cannot be changed; make a new quote with "
                        "`fieldsync quote new --from`",
                        c);
      if (strcmp(was, "draft") != 0 && !(!strcmp(c, "order_id") && is_text(&vals[si], "accepted")))
        return fsi_fail(FS_ECONFLICT, "quote %s is %s; its %s can no longer be changed", name, was,
                        c);
    }
    if (set[si] && is_text(&vals[si], "sent") && strcmp(was, "sent") != 0)
      return stamp(ts, vals, set, "sent_at", a);
    if (set[si] && (is_text(&vals[si], "accepted") || is_text(&vals[si], "rejected")) &&
        strcmp(was, "sent") == 0)
      return stamp(ts, vals, set, "decided_at", a);
    return FS_OK;
  }
  quote_row q;
  int rc = quote_require_draft(st, old[col(ts, "quote_id")].s, &q);
  if (rc) return rc;
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    const char *c = ts->decl->cols[i].name;
    if (set[i] && strcmp(c, "qty") != 0 && strcmp(c, "discount_bp") != 0)
      return fsi_fail(FS_EINVAL, "a quote line's %s cannot be changed; add a new line", c);
  }
  return FS_OK;
}

int fsi_quote_delete(fs_store *st, fsi_tbl_state *ts, const char *id, const fsi_value *old) {
  quote_row q;
  if (!is_quotes(ts)) return quote_require_draft(st, old[col(ts, "quote_id")].s, &q);
  int64_t n = 0;
  int si = col(ts, "status");
  if (old[si].type == FS_VAL_TEXT && strcmp(old[si].s, "draft") != 0)
    return fsi_fail(FS_ECONFLICT, "quote %s is %s; it cannot be deleted", id, old[si].s);
  int rc = fsi_sql_i64(st, &n, "counting a quote's lines",
                       "SELECT count(*) FROM quote_lines WHERE quote_id=?1", "t", id);
  if (rc) return rc;
  if (n) return fsi_fail(FS_ECONFLICT, "quote %s has %" PRId64 " lines; remove them first", id, n);
  return FS_OK;
}

static const char *const quote_status[] = {"draft", "sent", "accepted", "rejected", NULL};

int fsi_quote_check_row(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals,
                        const fsi_domain_merge *m,
                        int (*price_check)(fs_store *, fsi_tbl_state *, const fsi_value *,
                                           int64_t)) {
  if (is_quotes(ts)) {
    const fsi_value *s = &vals[col(ts, "status")], *v = &vals[col(ts, "valid_until")];
    int ok = s->type != FS_VAL_TEXT;
    for (size_t i = 0; !ok && quote_status[i]; i++) ok = is_text(s, quote_status[i]);
    if (!ok)
      return fsi_fail(FS_EINVAL,
                      "quote status \"%.40s\" is not one of draft, sent, accepted, "
                      "rejected",
                      s->s);
    if (v->type == FS_VAL_TEXT && !valid_date(v->s, v->n))
      return fsi_fail(FS_EINVAL, "valid-until date \"%.40s\" must be a date YYYY-MM-DD", v->s);
    return FS_OK;
  }
  const fsi_value *q = &vals[col(ts, "qty")];
  if (q->type != FS_VAL_INT || q->i <= 0)
    return fsi_fail(FS_EINVAL, "quantity must be a positive whole number");
  int rc = fsi_line_matches_parent(st, "quotes", "quote", &vals[col(ts, "quote_id")],
                                   &vals[col(ts, "customer_id")], &vals[col(ts, "currency")]);
  if (rc) return rc;
  int pi = col(ts, "unit_price");
  if (m && (!m->held || !fsi_value_equal(&m->held[pi], &vals[pi])))
    return price_check(st, ts, vals, m->when);
  return FS_OK;
}

static const char SQL_PRICED[] =
    "SELECT 1 FROM orders o JOIN quote_lines q ON q.quote_id = o.quote_id"
    " WHERE o.id = ?1 AND q.customer_id = ?2 AND q.sku = ?3 AND q.currency = ?4"
    " AND q.unit_price = ?5 LIMIT 1";
#ifdef FS_MUTANTS
static const char SQL_PRICED_ANY[] = /* mutant 65: the quote's price is not compared */
    "SELECT 1 FROM orders o JOIN quote_lines q ON q.quote_id = o.quote_id"
    " WHERE o.id = ?1 AND q.customer_id = ?2 AND q.sku = ?3 AND q.currency = ?4"
    " AND ?5 IS NOT NULL LIMIT 1";
#define PRICED_SQL (FS_MUT(65) ? SQL_PRICED_ANY : SQL_PRICED)
#else
#define PRICED_SQL SQL_PRICED
#endif

int fsi_quote_priced(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals) {
  if (strcmp(ts->decl->name, "order_lines") != 0 || !fsi_store_table(st, "quote_lines")) return 0;
  const fsi_value *o = &vals[col(ts, "order_id")], *c = &vals[col(ts, "customer_id")],
                  *s = &vals[col(ts, "sku")], *cur = &vals[col(ts, "currency")],
                  *p = &vals[col(ts, "unit_price")];
  if (o->type != FS_VAL_TEXT || c->type != FS_VAL_TEXT || s->type != FS_VAL_TEXT ||
      cur->type != FS_VAL_TEXT || p->type != FS_VAL_INT)
    return 0;
  int64_t one = 0;
  int rc = fsi_sql_i64(st, &one, "reading an order's quote", PRICED_SQL, "tttti", o->s, c->s, s->s,
                       cur->s, p->i);
  if (rc == FS_ENOTFOUND) return 0;
  return rc ? rc : 1;
}

/* ------------------------------------------------------------ views */

#define QUOTE_LINE_AMOUNT                                                                          \
  "(l.qty * l.unit_price * (10000 - coalesce(l.discount_bp, 0)) + 5000) / 10000"
#define QUOTE_SUBTOTAL                                                                             \
  "(SELECT coalesce(sum(" QUOTE_LINE_AMOUNT "), 0) FROM quote_lines l WHERE l.quote_id = q.id)"
#define QUOTE_COLS                                                                                 \
  "SELECT q.id, q.number, q.customer_id, c.name AS customer_name, q.status,"                       \
  " (q.status IN ('draft', 'sent') AND q.valid_until < ?1) AS expired,"                            \
  " q.currency, coalesce(q.discount_bp, 0) AS discount_bp, q.valid_until, q.created_at,"           \
  " q.sent_at, q.decided_at, q.order_id, o.number AS order_number, q.deal_id, q.notes,"            \
  " (SELECT count(*) FROM quote_lines l WHERE l.quote_id = q.id) AS lines,"                        \
  " " QUOTE_SUBTOTAL " AS subtotal,"                                                               \
  " (" QUOTE_SUBTOTAL " * (10000 - coalesce(q.discount_bp, 0)) + 5000) / 10000 AS total"           \
  " FROM quotes q LEFT JOIN customers c ON c.id = q.customer_id"                                   \
  " LEFT JOIN orders o ON o.id = q.order_id"

static const char SQL_QUOTES[] = QUOTE_COLS " ORDER BY q.created_at DESC, q.id DESC";
static const char SQL_QUOTE_ONE[] = QUOTE_COLS " WHERE q.id = ?2";
static const char SQL_QUOTE_LINES[] =
    "SELECT row_number() OVER (ORDER BY l.id) AS no, l.id, l.sku, p.name, l.qty, l.unit_price,"
    " coalesce(l.discount_bp, 0) AS discount_bp, " QUOTE_LINE_AMOUNT " AS amount"
    " FROM quote_lines l LEFT JOIN products p ON p.sku = l.sku"
    " WHERE l.quote_id = ?1 ORDER BY l.id";

int fsi_view_quotes(fs_store *st, cJSON **out) {
  char today[11];
  local_date(today, 0);
  return fsi_view_rows(st, fsi_sql_query(st, SQL_QUOTES, "t", today), "reading the quotes", out);
}

int fsi_view_quote(fs_store *st, const char *id, cJSON **out) {
  cJSON *arr = NULL, *lines = NULL;
  char today[11];
  local_date(today, 0);
  int rc =
      fsi_view_rows(st, fsi_sql_query(st, SQL_QUOTE_ONE, "tt", today, id), "reading a quote", &arr);
  if (rc) return rc;
  cJSON *o = cJSON_DetachItemFromArray(arr, 0);
  cJSON_Delete(arr);
  if (!o) return fsi_fail(FS_ENOTFOUND, "quote %.64s does not exist", id);
  rc = fsi_view_rows(st, fsi_sql_query(st, SQL_QUOTE_LINES, "t", id), "reading a quote", &lines);
  cJSON_DeleteItemFromObjectCaseSensitive(o, "lines"); /* the list's count: here the lines */
  if (!rc && !cJSON_AddItemToObject(o, "lines", lines)) {
    cJSON_Delete(lines);
    rc = fsi_fail(FS_ENOMEM, "out of memory");
  }
  if (rc) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}

/* --------------------------------------------------------------- API */

int fs_quote_line_add(char id_out[FS_ID_SIZE], fs_store *st, const char *quote_id, const char *sku,
                      int64_t qty, int64_t discount_bp) {
  char q[24], d[24];
  if (qty <= 0) return fsi_fail(FS_EINVAL, "quantity must be a positive whole number");
  if (discount_bp < 0 || discount_bp > 10000)
    return fsi_fail(FS_EINVAL, "a discount must be between 0 and 100 %%");
  snprintf(q, sizeof q, "%" PRId64, qty);
  snprintf(d, sizeof d, "%" PRId64, discount_bp);
  fs_field f[] = {{"quote_id", quote_id}, {"sku", sku}, {"qty", q}, {"discount_bp", d}};
  return fs_insert(id_out, st, "quote_lines", f, 4);
}

static int count_lines(fs_store *st, const char *quote_id, int64_t *n) {
  return fsi_sql_i64(st, n, "counting a quote's lines",
                     "SELECT count(*) FROM quote_lines WHERE quote_id=?1", "t", quote_id);
}

int fs_quote_send(fs_store *st, const char *quote_id) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  quote_row q;
  int64_t n = 0;
  if ((rc = quote_read(st, quote_id, &q)) || (rc = count_lines(st, quote_id, &n))) goto done;
  if (strcmp(q.status, "draft") != 0) {
    rc = fsi_fail(FS_ECONFLICT, "quote %s is %s already; only a draft is sent",
                  name_of(&q, quote_id), q.status);
  } else if (n == 0) {
    rc = fsi_fail(FS_EINVAL, "quote %s has no lines; add one with `fieldsync quote line`",
                  name_of(&q, quote_id));
  } else if (expired(&q)) {
    rc = fsi_fail(FS_ECONFLICT, "quote %s expired on %s; it cannot be sent", name_of(&q, quote_id),
                  q.valid_until);
  } else {
    fs_field f[] = {{"status", "sent"}};
    rc = fs_update(st, "quotes", quote_id, f, 1);
  }
done:
  return fsi_store_tx_end(st, implicit, rc);
}

int fs_quote_reject(fs_store *st, const char *quote_id, const char *reason) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  quote_row q;
  char *notes = NULL;
  if ((rc = quote_read(st, quote_id, &q))) goto done;
  if (strcmp(q.status, "sent") != 0) {
    rc = fsi_fail(FS_ECONFLICT, "quote %s is %s; only a sent quote is rejected",
                  name_of(&q, quote_id), q.status);
    goto done;
  }
  fs_field f[2] = {{"status", "rejected"}, {"notes", NULL}};
  size_t nf = 1;
  if (reason && *reason) {
    /* the reason is the last line of the notes: "Rejected: ..." */
    sqlite3_stmt *s =
        fsi_sql_query(st, "SELECT coalesce(notes, '') FROM quotes WHERE id=?1", "t", quote_id);
    if (!s) {
      rc = FS_EIO;
      goto done;
    }
    if ((rc = fsi_sql_step(st, s, "reading a quote")) < 0) goto done;
    const char *old = rc == 1 ? (const char *)sqlite3_column_text(s, 0) : "";
    size_t cap = strlen(old) + strlen(reason) + 16;
    notes = malloc(cap);
    if (notes) snprintf(notes, cap, "%s%sRejected: %s", old, *old ? "\n" : "", reason);
    fsi_sql_done(s);
    if (!notes) {
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    f[nf++].value = notes;
  }
  rc = fs_update(st, "quotes", quote_id, f, nf);
done:
  free(notes);
  return fsi_store_tx_end(st, implicit, rc);
}

static const char SQL_QLINES[] = "SELECT sku, qty, unit_price, coalesce(discount_bp, 0)"
                                 " FROM quote_lines WHERE quote_id = ?1 ORDER BY id";

int fs_quote_accept(char order_id_out[FS_ID_SIZE], fs_store *st, const char *quote_id) {
  char oid[FS_ID_SIZE] = "";
  if (order_id_out) order_id_out[0] = '\0';
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  quote_row q;
  int64_t n = 0;
  if ((rc = quote_read(st, quote_id, &q)) || (rc = count_lines(st, quote_id, &n))) goto done;
  const char *name = name_of(&q, quote_id);
  if (!strcmp(q.status, "draft")) {
    rc =
        fsi_fail(FS_ECONFLICT, "quote %s is a draft; send it first (`fieldsync quote send`)", name);
    goto done;
  }
  if (strcmp(q.status, "sent") != 0) {
    rc = fsi_fail(FS_ECONFLICT, "quote %s is %s already", name, q.status);
    goto done;
  }
  if (expired(&q)) {
    rc = fsi_fail(FS_ECONFLICT,
                  "quote %s expired on %s; it cannot be accepted (copy it with `fieldsync quote "
                  "new --from %s`)",
                  name, q.valid_until, name);
    goto done;
  }
  char bp[24];
  snprintf(bp, sizeof bp, "%" PRId64, q.discount_bp);
  fs_field of[] = {{"customer_id", q.customer},
                   {"currency", q.currency},
                   {"discount_bp", bp},
                   {"quote_id", quote_id},
                   {"deal_id", *q.deal_id ? q.deal_id : NULL}};
  if ((rc = fs_insert(oid, st, "orders", of, 5))) goto done;
  /* collected first: inserting while a statement of the cache is open */
  sqlite3_stmt *s = fsi_sql_query(st, SQL_QLINES, "t", quote_id);
  if (!s) {
    rc = FS_EIO;
    goto done;
  }
  typedef struct {
    char sku[65];
    int64_t qty, price, bp;
  } qline;
  qline *lines = calloc((size_t)n + 1, sizeof *lines);
  size_t k = 0;
  int step;
  while (lines && (step = fsi_sql_step(st, s, "reading a quote's lines")) == 1 && k < (size_t)n) {
    snprintf(lines[k].sku, sizeof lines[k].sku, "%s", (const char *)sqlite3_column_text(s, 0));
    lines[k].qty = sqlite3_column_int64(s, 1);
    lines[k].price = sqlite3_column_int64(s, 2);
    lines[k].bp = sqlite3_column_int64(s, 3);
    k++;
  }
  fsi_sql_done(s);
  if (!lines) rc = fsi_fail(FS_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < k; i++) {
    char qty[24], price[24], lbp[24];
    snprintf(qty, sizeof qty, "%" PRId64, lines[i].qty);
    snprintf(price, sizeof price, "%" PRId64, lines[i].price);
    snprintf(lbp, sizeof lbp, "%" PRId64, lines[i].bp);
    fs_field lf[] = {{"order_id", oid},
                     {"sku", lines[i].sku},
                     {"qty", qty},
                     {"unit_price", price},
                     {"discount_bp", lbp}};
    rc = fs_insert(NULL, st, "order_lines", lf, 5);
  }
  free(lines);
  if (rc) goto done;
  fs_field qf[] = {{"status", "accepted"}, {"order_id", oid}};
  rc = fs_update(st, "quotes", quote_id, qf, 2);
done:
  rc = fsi_store_tx_end(st, implicit, rc);
  if (!rc && order_id_out) snprintf(order_id_out, FS_ID_SIZE, "%s", oid);
  return rc;
}

/* Lines of `from` added to `to` at today's prices through add(): the
 * SKU, quantity and line discount of each, in the order they were added. */
typedef int (*line_add_fn)(char[FS_ID_SIZE], fs_store *, const char *, const char *, int64_t,
                           int64_t);
typedef struct {
  char sku[65];
  int64_t qty, bp;
} copied_line;

static int copy_lines(fs_store *st, const char *sql, const char *from, const char *to,
                      line_add_fn add) {
  copied_line *lines = NULL;
  size_t n = 0, cap = 0;
  int step, rc = FS_OK;
  sqlite3_stmt *s = fsi_sql_query(st, sql, "t", from);
  if (!s) return FS_EIO;
  while ((step = fsi_sql_step(st, s, "reading lines to copy")) == 1) {
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      copied_line *nl = realloc(lines, cap * sizeof *nl);
      if (!nl) {
        fsi_sql_done(s);
        free(lines);
        return fsi_fail(FS_ENOMEM, "out of memory");
      }
      lines = nl;
    }
    snprintf(lines[n].sku, sizeof lines[n].sku, "%s", (const char *)sqlite3_column_text(s, 0));
    lines[n].qty = sqlite3_column_int64(s, 1);
    lines[n].bp = sqlite3_column_int64(s, 2);
    n++;
  }
  if (step < 0) rc = step;
  for (size_t i = 0; !rc && i < n; i++)
    rc = add(NULL, st, to, lines[i].sku, lines[i].qty, lines[i].bp);
  free(lines);
  return rc;
}

static const char SQL_COPY_QUOTE[] = "SELECT sku, qty, coalesce(discount_bp, 0) FROM quote_lines"
                                     " WHERE quote_id = ?1 ORDER BY id";
static const char SQL_COPY_ORDER[] = "SELECT sku, qty, coalesce(discount_bp, 0) FROM order_lines"
                                     " WHERE order_id = ?1 ORDER BY id";

int fs_quote_copy_lines(fs_store *st, const char *to_quote, const char *from_quote) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  quote_row q;
  if (!(rc = quote_read(st, from_quote, &q)))
    rc = copy_lines(st, SQL_COPY_QUOTE, from_quote, to_quote, fs_quote_line_add);
  return fsi_store_tx_end(st, implicit, rc);
}

int fs_order_copy_lines(fs_store *st, const char *to_order, const char *from_order) {
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  int64_t one = 0;
  rc = fsi_sql_i64(st, &one, "reading an order", "SELECT 1 FROM orders WHERE id=?1", "t",
                   from_order);
  if (rc == FS_ENOTFOUND) rc = fsi_fail(FS_ENOTFOUND, "order %.64s does not exist", from_order);
  if (!rc) rc = copy_lines(st, SQL_COPY_ORDER, from_order, to_order, fs_order_line_add);
  return fsi_store_tx_end(st, implicit, rc);
}
