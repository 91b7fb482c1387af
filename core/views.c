/*
 * views.c — JSON documents over a store: lists, details, status, export.
 *
 * Every view is read inside one read transaction so it is a consistent
 * snapshot.  Money stays integer minor units with its currency; times stay
 * the ISO-8601 UTC text they are stored as.  The export view is the
 * replica's state for comparison: every synced table, rows sorted by id,
 * every declared column, no clocks.  Head office builds its reports and a
 * manager's subset of the export (server-stub/hq/report.c) from the same
 * pieces: fsi_view_rows, fsi_view_table and the order amounts of engine.h.
 *
 * Constant SQL goes through the store's statement cache (fsi_sql_query);
 * SQL built at run time from the declaration (a table's name and columns)
 * is prepared for one use by prepare_built, because the cache knows a
 * statement by its text's address.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deal.h"
#include "merge.h"
#include "refused.h"
#include "storeInt.h"
#include "quote.h"
#include "util.h"

/* Adds column i of the current row of s to object o under name. */
static int add_col(cJSON *o, sqlite3_stmt *s, int i, const char *name) {
  cJSON *v;
  switch (sqlite3_column_type(s, i)) {
  case SQLITE_INTEGER:
    v = cJSON_CreateNumber((double)sqlite3_column_int64(s, i));
    break;
  case SQLITE_FLOAT:
    v = cJSON_CreateNumber(sqlite3_column_double(s, i));
    break;
  case SQLITE_NULL:
    v = cJSON_CreateNull();
    break;
  default:
    v = cJSON_CreateString((const char *)sqlite3_column_text(s, i));
    break;
  }
  return v && cJSON_AddItemToObject(o, name, v) ? FS_OK : FS_ENOMEM;
}

int fsi_view_rows(fs_store *st, sqlite3_stmt *s, const char *what, cJSON **out) {
  int rc = FS_OK, step;
  *out = NULL;
  if (!s) return FS_EIO; /* fsi_sql_query set the message */
  cJSON *arr = cJSON_CreateArray();
  if (!arr) {
    fsi_sql_done(s);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  while ((step = fsi_sql_step(st, s, what)) == 1) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      break;
    }
    int nc = sqlite3_column_count(s);
    for (int i = 0; i < nc && !rc; i++)
      if (add_col(o, s, i, sqlite3_column_name(s, i))) rc = fsi_fail(FS_ENOMEM, "out of memory");
    if (rc) break;
  }
  if (step < 0) rc = step;
  if (rc) {
    fsi_sql_done(s);
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return FS_OK;
}

/* A statement for SQL built at run time, for one use (sqlite3_finalize). */
static sqlite3_stmt *prepare_built(fs_store *st, const char *sql, const char *what) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(fsi_store_db(st), sql, -1, &s, NULL) != SQLITE_OK) {
    fsi_store_sqlfail(st, what);
    sqlite3_finalize(s);
    return NULL;
  }
  return s;
}

/* The one row of a constant query with one text argument. */
static int query_object(fs_store *st, const char *sql, const char *arg, const char *what,
                        cJSON **out) {
  cJSON *arr = NULL;
  int rc = fsi_view_rows(st, fsi_sql_query(st, sql, "t", arg), "reading a view", &arr);
  if (rc) return rc;
  cJSON *first = cJSON_DetachItemFromArray(arr, 0);
  cJSON_Delete(arr);
  if (!first) return fsi_fail(FS_ENOTFOUND, "%s %.64s does not exist", what, arg);
  *out = first;
  return FS_OK;
}

/* Adds the rows of a constant query with one text argument to o as name. */
static int attach(fs_store *st, cJSON *o, const char *name, const char *sql, const char *arg) {
  cJSON *arr = NULL;
  int rc = fsi_view_rows(st, fsi_sql_query(st, sql, "t", arg), "reading a view", &arr);
  if (rc) return rc;
  if (!cJSON_AddItemToObject(o, name, arr)) {
    cJSON_Delete(arr);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  return FS_OK;
}

/* A constant query without arguments. */
static int query_all(fs_store *st, const char *sql, cJSON **out) {
  return fsi_view_rows(st, fsi_sql_query(st, sql, NULL), "reading a view", out);
}

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
    "SELECT o.id, o.status, o.currency, " FSI_SQL_ORDER_TOTAL " AS total, o.created_at"
    " FROM orders o WHERE o.customer_id = ?1 ORDER BY o.created_at DESC, o.id";
static const char SQL_BALANCES_OF[] =
    "SELECT currency, open, overdue FROM balances WHERE customer_id = ?1 ORDER BY currency";
static const char SQL_CONTACTS[] =
    "SELECT k.id, k.customer_id, c.name AS customer_name, k.name, k.role, k.phone, k.email"
    " FROM contacts k LEFT JOIN customers c ON c.id = k.customer_id"
    " WHERE ?1 IS NULL OR k.customer_id = ?1"
    " ORDER BY c.name COLLATE NOCASE, k.name COLLATE NOCASE, k.id";
static const char SQL_COMPLAINTS[] =
    "SELECT k.id, k.customer_id, c.name AS customer_name, k.kind,"
    " coalesce(k.status, 'open') AS status, k.text, k.resolution, k.created_at, k.resolved_at,"
    " k.manager FROM complaints k LEFT JOIN customers c ON c.id = k.customer_id"
    " WHERE (?1 IS NULL OR k.customer_id = ?1)"
    " ORDER BY coalesce(k.status, 'open') = 'resolved', k.created_at DESC, k.id";
static const char SQL_COMPETITORS[] =
    "SELECT n.id, n.customer_id, c.name AS customer_name, n.competitor, n.product, n.price,"
    " n.currency, n.note, n.created_at, n.manager"
    " FROM competitor_notes n LEFT JOIN customers c ON c.id = n.customer_id"
    " WHERE (?1 IS NULL OR n.customer_id = ?1)"
    " ORDER BY n.competitor COLLATE NOCASE, n.created_at DESC, n.id";
static const char SQL_MEETINGS[] =
    "SELECT m.id, m.customer_id, c.name AS customer_name, m.at, m.place, m.kind, m.outcome,"
    " m.notes, m.follow_up, m.duration_min FROM meetings m"
    " LEFT JOIN customers c ON c.id = m.customer_id WHERE (?1 IS NULL OR m.customer_id = ?1)"
    " AND (?2 IS NULL OR (m.at >= ?2 AND m.at < ?3)) AND (?4 IS NULL OR m.kind = ?4)"
    " ORDER BY m.at, m.id";
static const char SQL_ORDERS[] =
    "SELECT o.id, o.number, o.customer_id, c.name AS customer_name, o.status, o.currency,"
    " o.discount_bp, o.created_at, o.submitted_at,"
    " (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) AS lines,"
    " " FSI_SQL_ORDER_TOTAL " AS total"
    " FROM orders o LEFT JOIN customers c ON c.id = o.customer_id"
    " ORDER BY o.created_at DESC, o.id DESC";
static const char SQL_ORDER[] =
    "SELECT o.id, o.number, o.customer_id, c.name AS customer_name, o.status, o.currency,"
    " o.discount_bp, o.created_at, o.submitted_at, " FSI_SQL_ORDER_TOTAL " AS total,"
    " o.quote_id, (SELECT q.number FROM quotes q WHERE q.id = o.quote_id) AS quote_number,"
    " o.deal_id FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE o.id = ?1";
static const char SQL_LINES_OF[] =
    "SELECT row_number() OVER (ORDER BY l.id) AS no, l.id, l.sku, p.name, l.qty, l.unit_price,"
    " l.discount_bp, " FSI_SQL_LINE_AMOUNT
    " AS amount FROM order_lines l LEFT JOIN products p ON p.sku = l.sku"
    " WHERE l.order_id = ?1 ORDER BY l.id";
static const char SQL_PRODUCTS[] = "SELECT id, sku, name, unit, active FROM products ORDER BY sku";
static const char SQL_PRODUCTS_LIMIT[] =
    "SELECT id, sku, name, unit, active FROM products ORDER BY sku LIMIT ?1";
/* A page of the catalog after SKU ?2: it ends at the SKU ?1 products on
 * (SQL_PAGE_END), so a page never splits the products of one SKU and a list
 * read page by page neither repeats nor skips one that stays, whatever
 * changes between pages.  Both read the SKU index in its order. */
static const char SQL_PAGE_END[] =
    "SELECT sku FROM products WHERE sku > ?2 ORDER BY sku LIMIT 1 OFFSET ?1 - 1";
static const char SQL_PAGE_TO[] =
    "SELECT id, sku, name, unit, active FROM products WHERE sku > ?1 AND sku <= ?2"
    " ORDER BY sku, _seq";
static const char SQL_PAGE_LAST[] =
    "SELECT id, sku, name, unit, active FROM products WHERE sku > ?1 ORDER BY sku, _seq";
static const char SQL_PRICES_OF[] =
    "SELECT currency, price FROM prices WHERE sku = ?1 ORDER BY currency";
static const char SQL_CONFLICTS[] =
    "SELECT id, tbl AS \"table\", pk AS row, col AS \"column\", winner, loser,"
    " printf('%016x', wsite) AS winner_site, printf('%016x', lsite) AS loser_site,"
    " CAST(whlc AS TEXT) AS winner_hlc, CAST(lhlc AS TEXT) AS loser_hlc,"
    " strftime('%Y-%m-%dT%H:%M:%SZ', detected_at / 1000, 'unixepoch') AS detected_at,"
    " resolution FROM fs_conflict ORDER BY id DESC";
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

/* "customer=ID&day=YYYY-MM-DD&kind=K" */
static int view_meetings(fs_store *st, const char *arg, cJSON **out) {
  char cust[80] = "", day[16] = "", kind[20] = "", lo[32], hi[32];
  const char *args[4] = {NULL, NULL, NULL, NULL};
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
    } else if (n > 5 && !strncmp(p, "kind=", 5) && n - 5 < sizeof kind) {
      memcpy(kind, p + 5, n - 5);
      kind[n - 5] = '\0';
      args[3] = kind;
    } else {
      return fsi_fail(FS_EINVAL, "bad meeting filter \"%.60s\"", arg);
    }
    p = amp ? amp + 1 : NULL;
  }
  if (*day) {
    int64_t start;
    if (strlen(day) != 10 || fs_time_parse(&start, day))
      return fsi_fail(FS_EINVAL, "the day \"%.20s\" must be YYYY-MM-DD", day);
    /* The person's local day, as a UTC range over the stored ISO times
     * (to the next local midnight: a daylight-saving day is 23 or 25 hours). */
    int64_t end = start + 86400000;
    time_t t = (time_t)(start / 1000 + 36 * 3600);
    struct tm tm;
    char next[40];
    if (localtime_r(&t, &tm)) {
      snprintf(next, sizeof next, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
      if (fs_time_parse(&end, next)) end = start + 86400000;
    }
    fs_time_format(lo, start);
    fs_time_format(hi, end);
    args[1] = lo;
    args[2] = hi;
  }
  return fsi_view_rows(st,
                       fsi_sql_query(st, SQL_MEETINGS, "tttt", args[0], args[1], args[2], args[3]),
                       "reading a view", out);
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

#define SKU_MAX 64 /* the declared length of products.sku */

/* A page of about n products after SKU `after` ("" from the first). */
static int product_page(fs_store *st, long long n, const char *after, cJSON **arr) {
  sqlite3_stmt *s = fsi_sql_query(st, SQL_PAGE_END, "it", (int64_t)n, after);
  char end[SKU_MAX + 1] = "";
  int have = 0, rc;
  if (!s) return FS_EIO;
  if ((rc = fsi_sql_step(st, s, "reading the catalog")) < 0) return rc;
  if (rc == 1) {
    const unsigned char *t = sqlite3_column_text(s, 0);
    if (t) snprintf(end, sizeof end, "%s", (const char *)t);
    have = t != NULL;
    fsi_sql_done(s);
  }
  return fsi_view_rows(st,
                       have ? fsi_sql_query(st, SQL_PAGE_TO, "tt", after, end)
                            : fsi_sql_query(st, SQL_PAGE_LAST, "t", after),
                       "reading a view", arr);
}

/* arg NULL (every product), "limit=N" (the first N by SKU) or
 * "page=N&after=SKU" (the page of about N after SKU; "page=N" the first). */
static int view_products(fs_store *st, const char *arg, cJSON **out) {
  cJSON *arr = NULL, *it;
  int rc;
  if (arg && !strncmp(arg, "page=", 5)) {
    char *end = NULL;
    long long n = strtoll(arg + 5, &end, 10);
    const char *after = end && !strncmp(end, "&after=", 7) ? end + 7 : NULL;
    if (n < 1 || end == arg + 5 || (*end && !after) || (after && strlen(after) > SKU_MAX))
      return fsi_fail(FS_EINVAL, "bad product filter \"%.40s\"", arg);
    rc = product_page(st, n, after ? after : "", &arr);
  } else if (arg) {
    char *end = NULL;
    long long lim = strncmp(arg, "limit=", 6) ? -1 : strtoll(arg + 6, &end, 10);
    if (lim < 0 || !end || *end || end == arg + 6)
      return fsi_fail(FS_EINVAL, "bad product filter \"%.40s\"", arg);
    rc = fsi_view_rows(st, fsi_sql_query(st, SQL_PRODUCTS_LIMIT, "i", (int64_t)lim),
                       "reading a view", &arr);
  } else {
    rc = query_all(st, SQL_PRODUCTS, &arr);
  }
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
int fs_pending_count(int64_t *out, fs_store *st) {
  int64_t total = 0;
  char *text = NULL;
  fsi_merge_cursor c;
  *out = 0;
  fs_store_get(&text, st, "push_cursor");
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
    sqlite3_stmt *s = prepare_built(st, sql, "counting pending changes");
    if (!s) return FS_EIO;
    sqlite3_bind_int64(s, 1, c.seq);
    sqlite3_bind_int64(s, 2, st->hq_site ? st->hq_site : -1);
    int step = fsi_sql_step(st, s, "counting pending changes");
    if (step == 1) total += sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (step < 0) return step;
  }
  *out = total;
  return FS_OK;
}

static cJSON *meta_string(fs_store *st, const char *key) {
  char *v = NULL;
  if (fs_store_get(&v, st, key) != FS_OK) return cJSON_CreateNull();
  cJSON *j = cJSON_CreateString(v);
  free(v);
  return j;
}

/* "refused" is the number of open refusals (what a person still has to
 * read), "refused_by_state" every state's count and "refusals" the open
 * ones, as the "refused" view lists them. */
static int view_status(fs_store *st, cJSON **out) {
  int64_t pending = 0;
  cJSON *counts = NULL, *open = NULL;
  int rc = fs_pending_count(&pending, st);
  if (rc) return rc;
  if ((rc = fsi_refused_counts(st, &counts))) return rc;
  if ((rc = fsi_refused_view_list(st, NULL, &open))) {
    cJSON_Delete(counts);
    return rc;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o) {
    cJSON_Delete(counts);
    cJSON_Delete(open);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  cJSON_AddStringToObject(o, "device_id", st->device_id);
  cJSON_AddItemToObject(o, "manager", meta_string(st, "manager"));
  cJSON_AddItemToObject(o, "server", meta_string(st, "server_url"));
  cJSON_AddItemToObject(o, "last_sync", meta_string(st, "last_sync"));
  cJSON_AddNumberToObject(o, "pending", (double)pending);
  cJSON_AddNumberToObject(o, "refused", (double)cJSON_GetArraySize(open));
  cJSON_AddItemToObject(o, "refused_by_state", counts);
  cJSON_AddItemToObject(o, "refusals", open);
  *out = o;
  return FS_OK;
}

int fsi_view_table(fs_store *st, const fs_table *t, const char *where, const char *arg,
                   cJSON **out) {
  fsi_tbl_state *ts = fsi_store_table(st, t->name);
  *out = NULL;
  if (!ts) return fsi_fail(FS_EINVAL, "internal: %.64s is not a synced table here", t->name);
  size_t n = strlen(ts->collist) + strlen(t->name) + (where ? strlen(where) : 0) + 64;
  char *sql = malloc(n);
  if (!sql) return fsi_fail(FS_ENOMEM, "out of memory");
  snprintf(sql, n, "SELECT id, %s FROM \"%s\"%s%s ORDER BY id", ts->collist, t->name,
           where ? " WHERE " : "", where ? where : "");
  sqlite3_stmt *s = prepare_built(st, sql, "preparing a view");
  free(sql);
  if (!s) return FS_EIO;
  if (where && arg && sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC) != SQLITE_OK) {
    sqlite3_finalize(s);
    return fsi_store_sqlfail(st, "binding a view");
  }
  int rc = fsi_view_rows(st, s, "reading a view", out);
  sqlite3_finalize(s);
  return rc;
}

/* Every synced table, rows sorted by id, every declared column. */
static int view_export(fs_store *st, cJSON **out) {
  cJSON *o = cJSON_CreateObject();
  int rc = FS_OK;
  if (!o) return fsi_fail(FS_ENOMEM, "out of memory");
  for (size_t i = 0; i < st->nt && !rc; i++) {
    cJSON *arr = NULL;
    rc = fsi_view_table(st, st->t[i].decl, NULL, NULL, &arr);
    if (!rc && !cJSON_AddItemToObject(o, st->t[i].decl->name, arr)) {
      cJSON_Delete(arr);
      rc = fsi_fail(FS_ENOMEM, "out of memory");
    }
  }
  if (rc) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}

int fsi_view_begin(fs_store *st) { return fsi_sql_run(st, "reading the store", "BEGIN", NULL); }

/* SQLite ends the read transaction itself after an I/O error (a page that
 * failed authentication): then there is nothing to end, and the error the
 * view failed with stays the one reported. */
void fsi_view_end(fs_store *st) {
  if (!sqlite3_get_autocommit(st->db)) fsi_sql_run(st, "reading the store", "COMMIT", NULL);
}

int fs_view_json(char **out, fs_store *st, const char *view, const char *arg) {
  cJSON *doc = NULL;
  int rc;
  *out = NULL;
  if (!view) return fsi_fail(FS_EINVAL, "no view named");
  if ((rc = fsi_view_begin(st))) return rc;
  if (!strcmp(view, "customers"))
    rc = query_all(st, SQL_CUSTOMERS, &doc);
  else if (!strcmp(view, "customer"))
    rc = view_customer(st, arg, &doc);
  else if (!strcmp(view, "meetings"))
    rc = view_meetings(st, arg, &doc);
  else if (!strcmp(view, "complaints"))
    rc = fsi_view_rows(st, fsi_sql_query(st, SQL_COMPLAINTS, "t", arg), "reading a view", &doc);
  else if (!strcmp(view, "competitors"))
    rc = fsi_view_rows(st, fsi_sql_query(st, SQL_COMPETITORS, "t", arg), "reading a view", &doc);
  else if (!strcmp(view, "contacts"))
    rc = fsi_view_rows(st, fsi_sql_query(st, SQL_CONTACTS, "t", arg), "reading a view", &doc);
  else if (!strcmp(view, "orders"))
    rc = query_all(st, SQL_ORDERS, &doc);
  else if (!strcmp(view, "order"))
    rc = view_order(st, arg, &doc);
  else if (!strcmp(view, "quotes") || !strcmp(view, "quote"))
    rc = view[5] ? fsi_view_quotes(st, &doc) : fsi_view_quote(st, arg, &doc);
  else if (!strcmp(view, "products"))
    rc = view_products(st, arg, &doc);
  else if (!strcmp(view, "deals") || !strcmp(view, "deal"))
    rc = fsi_deal_view(st, view, arg, &doc);
  else if (!strcmp(view, "customer_find"))
    rc = fsi_view_customer_find(st, arg, &doc);
  else if (!strcmp(view, "product_find"))
    rc = fsi_view_product_find(st, arg, &doc);
  else if (!strcmp(view, "tasks"))
    rc = fsi_view_tasks(st, arg, &doc);
  else if (!strcmp(view, "agenda"))
    rc = fsi_view_agenda(st, arg, &doc);
  else if (!strcmp(view, "conflicts"))
    rc = query_all(st, SQL_CONFLICTS, &doc);
  else if (!strcmp(view, "refused"))
    rc = fsi_refused_view_list(st, arg, &doc);
  else if (!strcmp(view, "refusal"))
    rc = fsi_refused_view_one(st, arg, &doc);
  else if (!strcmp(view, "status"))
    rc = view_status(st, &doc);
  else if (!strcmp(view, "export"))
    rc = view_export(st, &doc);
  else
    rc = fsi_fail(FS_EINVAL, "unknown view \"%.40s\"", view);
  fsi_view_end(st);
  if (rc) return rc;
  *out = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}
