/*
 * views.c — JSON documents over a store: lists, details, exports, reports.
 *
 * Every view is read inside one read transaction so it is a consistent
 * snapshot.  Money stays integer minor units with its currency; times stay
 * the ISO-8601 UTC text they are stored as.  The export view is the
 * replica's state for comparison: every synced table, rows sorted by id,
 * every declared column, no clocks.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "storeInt.h"
#include "util.h"

/* Adds column i of the current row of s to object o under name. */
static int add_col(cJSON *o, sqlite3_stmt *s, int i, const char *name) {
  cJSON *v;
  switch (sqlite3_column_type(s, i)) {
  case SQLITE_INTEGER: v = cJSON_CreateNumber((double)sqlite3_column_int64(s, i)); break;
  case SQLITE_FLOAT: v = cJSON_CreateNumber(sqlite3_column_double(s, i)); break;
  case SQLITE_NULL: v = cJSON_CreateNull(); break;
  default: v = cJSON_CreateString((const char *)sqlite3_column_text(s, i)); break;
  }
  return v && cJSON_AddItemToObject(o, name, v) ? FS_OK : FS_ENOMEM;
}

/* Runs sql (parameters ?1..?n bound from args, NULL = SQL NULL) and returns
 * an array of objects keyed by the result column names. */
static int query_array(fs_store *st, const char *sql, const char *const *args, int nargs,
                       cJSON **out) {
  sqlite3_stmt *s = NULL;
  cJSON *arr = cJSON_CreateArray();
  int rc = FS_OK;
  *out = NULL;
  if (!arr) return fsi_fail(FS_ENOMEM, "out of memory");
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
    rc = fsi_store_sqlfail(st, "preparing a view");
    goto done;
  }
  for (int i = 0; i < nargs; i++)
    if (args[i]) sqlite3_bind_text(s, i + 1, args[i], -1, SQLITE_STATIC);
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    int nc = sqlite3_column_count(s);
    for (int i = 0; i < nc; i++)
      if (add_col(o, s, i, sqlite3_column_name(s, i))) {
        rc = fsi_fail(FS_ENOMEM, "out of memory");
        goto done;
      }
  }
  if (step != SQLITE_DONE) rc = fsi_store_sqlfail(st, "reading a view");
done:
  sqlite3_finalize(s);
  if (rc) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return FS_OK;
}

static int query_object(fs_store *st, const char *sql, const char *arg, const char *what,
                        cJSON **out) {
  cJSON *arr = NULL;
  int rc = query_array(st, sql, &arg, 1, &arr);
  if (rc) return rc;
  cJSON *first = cJSON_DetachItemFromArray(arr, 0);
  cJSON_Delete(arr);
  if (!first) return fsi_fail(FS_ENOTFOUND, "%s %.64s does not exist", what, arg);
  *out = first;
  return FS_OK;
}

static int attach(fs_store *st, cJSON *o, const char *name, const char *sql, const char *arg) {
  cJSON *arr = NULL;
  int rc = query_array(st, sql, &arg, 1, &arr);
  if (rc) return rc;
  cJSON_AddItemToObject(o, name, arr);
  return FS_OK;
}

/* Order total in minor units: sum of qty * unit_price less line discount,
 * less the order discount, each rounded half away from zero once per line. */
#define LINE_AMOUNT \
  "(l.qty * l.unit_price * (10000 - coalesce(l.discount_bp, 0)) + 5000) / 10000"
#define ORDER_TOTAL                                                                      \
  "(SELECT (coalesce(sum(" LINE_AMOUNT "), 0) * (10000 - coalesce(o.discount_bp, 0)) + " \
  "5000) / 10000 FROM order_lines l WHERE l.order_id = o.id)"

static const char SQL_CUSTOMERS[] =
    "SELECT id, name, vat, segment, address, city, country, phone, email, status, manager,"
    " created_at FROM customers ORDER BY name COLLATE NOCASE, id";
static const char SQL_CUSTOMER[] =
    "SELECT id, name, vat, segment, address, city, country, phone, email, status, manager,"
    " created_at FROM customers WHERE id = ?1";
static const char SQL_CONTACTS_OF[] =
    "SELECT id, name, role, phone, email FROM contacts WHERE customer_id = ?1 ORDER BY name, id";
static const char SQL_MEETINGS_OF[] =
    "SELECT id, at, place, kind, outcome, notes, follow_up FROM meetings"
    " WHERE customer_id = ?1 ORDER BY at DESC, id";
static const char SQL_ORDERS_OF[] =
    "SELECT o.id, o.status, o.currency, " ORDER_TOTAL " AS total, o.created_at"
    " FROM orders o WHERE o.customer_id = ?1 ORDER BY o.created_at DESC, o.id";
static const char SQL_BALANCES_OF[] =
    "SELECT currency, open, overdue FROM balances WHERE customer_id = ?1 ORDER BY currency";
static const char SQL_MEETINGS[] =
    "SELECT m.id, m.customer_id, c.name AS customer_name, m.at, m.place, m.kind, m.outcome,"
    " m.notes, m.follow_up FROM meetings m LEFT JOIN customers c ON c.id = m.customer_id"
    " WHERE (?1 IS NULL OR m.customer_id = ?1)"
    " AND (?2 IS NULL OR (m.at >= ?2 AND m.at < ?3)) ORDER BY m.at, m.id";
static const char SQL_ORDERS[] =
    "SELECT o.id, o.customer_id, c.name AS customer_name, o.status, o.currency,"
    " o.discount_bp, o.created_at, o.submitted_at,"
    " (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) AS lines,"
    " " ORDER_TOTAL " AS total FROM orders o LEFT JOIN customers c ON c.id = o.customer_id"
    " ORDER BY o.created_at, o.id";
static const char SQL_ORDER[] =
    "SELECT o.id, o.customer_id, c.name AS customer_name, o.status, o.currency,"
    " o.discount_bp, o.created_at, o.submitted_at, " ORDER_TOTAL " AS total"
    " FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE o.id = ?1";
static const char SQL_LINES_OF[] =
    "SELECT l.id, l.sku, p.name, l.qty, l.unit_price, l.discount_bp, " LINE_AMOUNT
    " AS amount FROM order_lines l LEFT JOIN products p ON p.sku = l.sku"
    " WHERE l.order_id = ?1 ORDER BY l.id";
static const char SQL_PRODUCTS[] =
    "SELECT id, sku, name, unit, active FROM products ORDER BY sku";
static const char SQL_PRICES_OF[] =
    "SELECT currency, price FROM prices WHERE sku = ?1 ORDER BY currency";
static const char SQL_CONFLICTS[] =
    "SELECT id, tbl AS \"table\", pk AS row, col AS \"column\", winner, loser,"
    " printf('%016x', wsite) AS winner_site, printf('%016x', lsite) AS loser_site,"
    " CAST(whlc AS TEXT) AS winner_hlc, CAST(lhlc AS TEXT) AS loser_hlc,"
    " strftime('%Y-%m-%dT%H:%M:%SZ', detected_at / 1000, 'unixepoch') AS detected_at,"
    " resolution FROM fs_conflict ORDER BY id DESC";
static const char SQL_REFUSED[] =
    "SELECT id, tbl AS \"table\", pk AS row, nullif(col, '') AS \"column\","
    " printf('%016x', site) AS site, reason,"
    " strftime('%Y-%m-%dT%H:%M:%SZ', at / 1000, 'unixepoch') AS at, value"
    " FROM fs_refused ORDER BY id";

static int view_customer(fs_store *st, const char *id, cJSON **out) {
  cJSON *o = NULL;
  int rc = query_object(st, SQL_CUSTOMER, id, "customer", &o);
  if (rc) return rc;
  if ((rc = attach(st, o, "contacts", SQL_CONTACTS_OF, id)) ||
      (rc = attach(st, o, "meetings", SQL_MEETINGS_OF, id)) ||
      (rc = attach(st, o, "orders", SQL_ORDERS_OF, id)) ||
      (rc = attach(st, o, "balances", SQL_BALANCES_OF, id))) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}

/* "customer=ID&day=YYYY-MM-DD" */
static int view_meetings(fs_store *st, const char *arg, cJSON **out) {
  char cust[80] = "", day[16] = "", lo[32], hi[32];
  const char *args[3] = {NULL, NULL, NULL};
  const char *p = arg;
  while (p && *p) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n > 9 && !strncmp(p, "customer=", 9) && n - 9 < sizeof cust) {
      memcpy(cust, p + 9, n - 9);
      cust[n - 9] = '\0';
      args[0] = cust;
    } else if (n > 4 && !strncmp(p, "day=", 4) && n - 4 < sizeof day) {
      memcpy(day, p + 4, n - 4);
      day[n - 4] = '\0';
    } else {
      return fsi_fail(FS_EINVAL, "bad meeting filter \"%.60s\"", arg);
    }
    p = amp ? amp + 1 : NULL;
  }
  if (*day) {
    int64_t start;
    if (strlen(day) != 10 || fs_time_parse(&start, day))
      return fsi_fail(FS_EINVAL, "the day \"%.20s\" must be YYYY-MM-DD", day);
    /* The person's local day, as a UTC range over the stored ISO times. */
    fs_time_format(lo, start);
    fs_time_format(hi, start + 86400000);
    args[1] = lo;
    args[2] = hi;
  }
  return query_array(st, SQL_MEETINGS, args, 3, out);
}

static int view_order(fs_store *st, const char *id, cJSON **out) {
  cJSON *o = NULL;
  int rc = query_object(st, SQL_ORDER, id, "order", &o);
  if (rc) return rc;
  if ((rc = attach(st, o, "lines", SQL_LINES_OF, id))) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}

static int view_products(fs_store *st, cJSON **out) {
  cJSON *arr = NULL, *it;
  int rc = query_array(st, SQL_PRODUCTS, NULL, 0, &arr);
  if (rc) return rc;
  cJSON_ArrayForEach(it, arr) {
    const cJSON *sku = cJSON_GetObjectItemCaseSensitive(it, "sku");
    if ((rc = attach(st, it, "prices", SQL_PRICES_OF, cJSON_GetStringValue(sku)))) {
      cJSON_Delete(arr);
      return rc;
    }
  }
  *out = arr;
  return FS_OK;
}

/* Rows after the acknowledged push cursor (their change number) that did not
 * come from head office: what the next sync will push. */
int fs_pending_count(fs_store *st, int64_t *out) {
  int64_t total = 0;
  char *text = NULL;
  fsi_merge_cursor c;
  *out = 0;
  fs_store_get(st, "push_cursor", &text);
  int rc = fsi_merge_cursor_parse(&c, text);
  free(text);
  if (rc) return rc;
  for (size_t i = 0; i < st->nt; i++) {
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM \"%s\" WHERE _seq > ?1 AND _src != ?2)"
             " + (SELECT count(*) FROM fs_tomb WHERE tbl = '%s' AND seq > ?1"
             " AND src != ?2)",
             st->t[i].decl->name, st->t[i].decl->name);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
      return fsi_store_sqlfail(st, "counting pending changes");
    sqlite3_bind_int64(s, 1, c.seq);
    sqlite3_bind_int64(s, 2, st->hq_site ? st->hq_site : -1);
    if (sqlite3_step(s) == SQLITE_ROW) total += sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
  }
  *out = total;
  return FS_OK;
}

static cJSON *meta_string(fs_store *st, const char *key) {
  char *v = NULL;
  if (fs_store_get(st, key, &v) != FS_OK) return cJSON_CreateNull();
  cJSON *j = cJSON_CreateString(v);
  free(v);
  return j;
}

static int view_status(fs_store *st, cJSON **out) {
  int64_t pending = 0, refused = 0;
  int rc = fs_pending_count(st, &pending);
  if (rc) return rc;
  sqlite3_stmt *s = fsi_store_stmt(st, "SELECT count(*) FROM fs_refused");
  if (!s) return FS_EIO;
  if (sqlite3_step(s) == SQLITE_ROW) refused = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  cJSON *o = cJSON_CreateObject();
  if (!o) return fsi_fail(FS_ENOMEM, "out of memory");
  cJSON_AddStringToObject(o, "device_id", st->device_id);
  cJSON_AddItemToObject(o, "manager", meta_string(st, "manager"));
  cJSON_AddItemToObject(o, "server", meta_string(st, "server_url"));
  cJSON_AddItemToObject(o, "last_sync", meta_string(st, "last_sync"));
  cJSON_AddNumberToObject(o, "pending", (double)pending);
  cJSON_AddNumberToObject(o, "refused", (double)refused);
  *out = o;
  return FS_OK;
}

/* Every synced table, rows sorted by id, every declared column.  With a
 * manager, only what that manager's devices hold (head office). */
static int view_export(fs_store *st, const char *manager, cJSON **out) {
  cJSON *o = cJSON_CreateObject();
  int rc = FS_OK;
  if (!o) return fsi_fail(FS_ENOMEM, "out of memory");
  int has_customers = fsi_store_table(st, "customers") != NULL;
  for (size_t i = 0; i < st->nt && !rc; i++) {
    fsi_tbl_state *ts = &st->t[i];
    char *sql = malloc(strlen(ts->collist) + 512);
    if (!sql) {
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      break;
    }
    const char *where = "";
    char wbuf[256];
    if (manager && has_customers) {
      if (!strcmp(ts->decl->name, "customers")) {
        where = " WHERE manager = ?1";
      } else if (ts->cust_col >= 0) {
        snprintf(wbuf, sizeof wbuf,
                 " WHERE \"%s\" IN (SELECT id FROM customers WHERE manager = ?1)",
                 ts->decl->cols[ts->cust_col].name);
        where = wbuf;
      }
    }
    sprintf(sql, "SELECT id, %s FROM \"%s\"%s ORDER BY id", ts->collist, ts->decl->name, where);
    cJSON *arr = NULL;
    const char *args[1] = {manager};
    rc = query_array(st, sql, args, *where ? 1 : 0, &arr);
    free(sql);
    if (!rc) cJSON_AddItemToObject(o, ts->decl->name, arr);
  }
  if (rc) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}

int fs_view_json(fs_store *st, const char *view, const char *arg, char **out) {
  cJSON *doc = NULL;
  int rc;
  *out = NULL;
  if (!view) return fsi_fail(FS_EINVAL, "no view named");
  if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "reading the store");
  if (!strcmp(view, "customers")) rc = query_array(st, SQL_CUSTOMERS, NULL, 0, &doc);
  else if (!strcmp(view, "customer")) rc = view_customer(st, arg, &doc);
  else if (!strcmp(view, "meetings")) rc = view_meetings(st, arg, &doc);
  else if (!strcmp(view, "orders")) rc = query_array(st, SQL_ORDERS, NULL, 0, &doc);
  else if (!strcmp(view, "order")) rc = view_order(st, arg, &doc);
  else if (!strcmp(view, "products")) rc = view_products(st, &doc);
  else if (!strcmp(view, "conflicts")) rc = query_array(st, SQL_CONFLICTS, NULL, 0, &doc);
  else if (!strcmp(view, "refused")) rc = query_array(st, SQL_REFUSED, NULL, 0, &doc);
  else if (!strcmp(view, "status")) rc = view_status(st, &doc);
  else if (!strcmp(view, "export")) rc = view_export(st, NULL, &doc);
  else if (!strcmp(view, "export-manager")) {
    rc = arg && *arg ? view_export(st, arg, &doc)
                     : fsi_fail(FS_EINVAL, "export-manager needs a manager name");
  } else {
    rc = fsi_fail(FS_EINVAL, "unknown view \"%.40s\"", view);
  }
  sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
  if (rc) return rc;
  *out = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- reports */

/* Group expressions: the customer's current manager (head office assigns
 * it), or the customer itself. */
#define GROUP_MANAGER "coalesce(c.manager, o.manager, '(unassigned)')"
#define GROUP_CUSTOMER "o.customer_id"

static int report_rows(fs_store *st, const char *sql, const char *month, cJSON **out) {
  const char *args[1] = {month};
  return query_array(st, sql, args, 1, out);
}

int fsi_view_report(fs_store *st, const char *kind, const char *month, const char *by,
                char **out) {
  char sql[2048];
  int by_customer = by && !strcmp(by, "customer");
  *out = NULL;
  if (by && strcmp(by, "manager") && strcmp(by, "customer"))
    return fsi_fail(FS_EINVAL, "--by must be manager or customer, not \"%.30s\"", by);
  if (month) {
    int64_t ms;
    char day[16];
    snprintf(day, sizeof day, "%.7s-01", month);
    if (strlen(month) != 7 || fs_time_parse(&ms, day))
      return fsi_fail(FS_EINVAL, "--month must be YYYY-MM, not \"%.30s\"", month);
  }
  if (!fsi_store_table(st, "orders"))
    return fsi_fail(FS_EINVAL, "this store has no field-sales schema to report on");
  const char *group = by_customer ? GROUP_CUSTOMER : GROUP_MANAGER;
  const char *gname = by_customer ? "customer_id" : "manager";
  const char *extra = by_customer ? ", c.name AS customer_name" : "";
  if (!kind || !strcmp(kind, "orders")) {
    snprintf(sql, sizeof sql,
             "SELECT %s AS %s%s, o.currency, count(*) AS orders, sum(" ORDER_TOTAL
             ") AS total FROM orders o LEFT JOIN customers c ON c.id = o.customer_id"
             " WHERE o.status IN ('submitted', 'confirmed')"
             " AND (?1 IS NULL OR substr(coalesce(o.submitted_at, o.created_at), 1, 7) = ?1)"
             " GROUP BY 1, o.currency ORDER BY 1, o.currency",
             group, gname, extra);
  } else if (!strcmp(kind, "meetings")) {
    snprintf(sql, sizeof sql,
             "SELECT %s AS %s%s, count(*) AS meetings,"
             " sum(o.kind = 'visit') AS visits, sum(o.kind = 'call') AS calls,"
             " sum(o.kind = 'exhibition') AS exhibitions FROM meetings o"
             " LEFT JOIN customers c ON c.id = o.customer_id"
             " WHERE (?1 IS NULL OR substr(o.at, 1, 7) = ?1) GROUP BY 1 ORDER BY 1",
             group, gname, extra);
  } else if (!strcmp(kind, "pipeline")) {
    snprintf(sql, sizeof sql,
             "SELECT %s AS %s%s, o.status, o.currency, count(*) AS orders, sum(" ORDER_TOTAL
             ") AS total FROM orders o LEFT JOIN customers c ON c.id = o.customer_id"
             " WHERE (?1 IS NULL OR substr(o.created_at, 1, 7) = ?1)"
             " GROUP BY 1, o.status, o.currency ORDER BY 1, o.status, o.currency",
             group, gname, extra);
  } else {
    return fsi_fail(FS_EINVAL, "unknown report \"%.30s\": use orders, meetings or pipeline",
                   kind);
  }
  cJSON *rows = NULL, *totals = NULL;
  int rc;
  if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return fsi_store_sqlfail(st, "reading the store");
  rc = report_rows(st, sql, month, &rows);
  if (!rc && strcmp(kind ? kind : "orders", "meetings") != 0)
    rc = report_rows(st,
                     !kind || !strcmp(kind, "orders")
                         ? "SELECT o.currency, count(*) AS orders, sum(" ORDER_TOTAL
                           ") AS total FROM orders o WHERE o.status IN ('submitted',"
                           " 'confirmed') AND (?1 IS NULL OR substr(coalesce(o.submitted_at,"
                           " o.created_at), 1, 7) = ?1) GROUP BY 1 ORDER BY 1"
                         : "SELECT o.currency, count(*) AS orders, sum(" ORDER_TOTAL
                           ") AS total FROM orders o WHERE (?1 IS NULL OR"
                           " substr(o.created_at, 1, 7) = ?1) GROUP BY 1 ORDER BY 1",
                     month, &totals);
  sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
  if (rc) {
    cJSON_Delete(rows);
    return rc;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "report", kind ? kind : "orders");
  if (month) cJSON_AddStringToObject(o, "month", month);
  else cJSON_AddNullToObject(o, "month");
  cJSON_AddStringToObject(o, "by", by_customer ? "customer" : "manager");
  cJSON_AddItemToObject(o, "rows", rows);
  if (totals) cJSON_AddItemToObject(o, "totals", totals);
  *out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}
