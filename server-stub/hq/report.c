/*
 * report.c — head office's reports and a manager's subset of the export.
 *
 * Reports count and total the merged field data per manager (the
 * customer's current manager, which head office assigns) or per customer:
 * submitted and confirmed orders, meetings by kind, and the pipeline of
 * deals by stage, each optionally for one month.  Money stays integer
 * minor units per currency, totalled with the engine's order amounts
 * (FSI_SQL_ORDER_TOTAL) and deals' weighted values (FSI_DEAL_SQL_WEIGHTED),
 * so a report and the device's views agree to the cent.
 *
 * The pipeline counts every deal: open stages (lead, qualified, proposal,
 * negotiation) and the closed ones (won, lost), each with its value and its
 * weighted value (value x probability / 100 per deal, rounded half up).  A
 * month is a deal's close date's (the expected one while open, the day it
 * was won or lost once closed), or its creation's when it has none.
 *
 * The manager's export has exactly the shape of the device's export view
 * (fsi_view_table for every synced table) and exactly the rows that
 * manager's devices hold: their customers, the rows that belong to those
 * customers, and every table that belongs to no customer.  Each document is
 * read under the handle's lock in one read transaction, a consistent
 * snapshot.
 */
#include <fieldsync/server.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

static int has_table(const fs_schema *sc, const char *name) {
  for (size_t i = 0; i < sc->ntables; i++)
    if (!strcmp(sc->tables[i].name, name)) return 1;
  return 0;
}

/* --------------------------------------------------------------- reports */

/* The group columns: the customer's current manager, or the customer. */
#define BY_MANAGER "coalesce(c.manager, o.manager, '(unassigned)') AS manager"
#define BY_CUSTOMER "o.customer_id AS customer_id, c.name AS customer_name"

/* A stored UTC time's month in the local calendar of head office (TZ, else
 * the system's zone; `report --tz`): an order submitted at 23:30 UTC on 31
 * March is April's in Berlin. */
#define LOCAL_MONTH(t) "strftime('%Y-%m', " t ", 'localtime')"

#define ORDERS_ROWS(group)                                                                         \
  "SELECT " group ", o.currency, count(*) AS orders, sum(" FSI_SQL_ORDER_TOTAL ") AS total"        \
  " FROM orders o LEFT JOIN customers c ON c.id = o.customer_id"                                   \
  " WHERE o.status IN ('submitted', 'confirmed')"                                                  \
  " AND (?1 IS NULL OR " LOCAL_MONTH(                                                              \
      "coalesce(o.submitted_at, o.created_at)") " = ?1)"                                           \
                                                " GROUP BY 1, o.currency ORDER BY 1, o.currency"
#define MEETINGS_ROWS(group)                                                                       \
  "SELECT " group ", count(*) AS meetings,"                                                        \
  " sum(o.kind = 'visit') AS visits, sum(o.kind = 'call') AS calls,"                               \
  " sum(o.kind = 'exhibition') AS exhibitions FROM meetings o"                                     \
  " LEFT JOIN customers c ON c.id = o.customer_id"                                                 \
  " WHERE (?1 IS NULL OR " LOCAL_MONTH("o.at") " = ?1) GROUP BY 1 ORDER BY 1"
/* Deals: the group columns (over d), the stages in their order, the sums. */
#define DEAL_BY_MANAGER "coalesce(c.manager, d.manager, '(unassigned)') AS manager"
#define DEAL_BY_CUSTOMER "d.customer_id AS customer_id, c.name AS customer_name"
#define DEAL_STAGE_ORDER                                                                           \
  "CASE d.stage WHEN 'lead' THEN 1 WHEN 'qualified' THEN 2 WHEN 'proposal' THEN 3"                 \
  " WHEN 'negotiation' THEN 4 WHEN 'won' THEN 5 WHEN 'lost' THEN 6 ELSE 7 END"
#define DEAL_SUMS                                                                                  \
  "d.stage, d.currency, count(*) AS deals, coalesce(sum(d.value), 0) AS value,"                    \
  " coalesce(sum(" FSI_DEAL_SQL_WEIGHTED "), 0) AS weighted"
/* a close date is a day of the local calendar already; a creation time is UTC */
#define DEAL_MONTH                                                                                 \
  "(?1 IS NULL OR coalesce(substr(d.close_date, 1, 7), " LOCAL_MONTH("d.created_at") ") = ?1)"
#define PIPELINE_ROWS(group)                                                                       \
  "SELECT " group ", " DEAL_SUMS " FROM deals d LEFT JOIN customers c ON c.id = d.customer_id"     \
  " WHERE " DEAL_MONTH " GROUP BY 1, d.stage, d.currency"                                          \
  " ORDER BY 1, " DEAL_STAGE_ORDER ", d.currency"

typedef struct report {
  const char *kind;
  const char *rows[2]; /* by manager, by customer */
  const char *totals;  /* per currency over every group; NULL: none */
} report;

static const report reports[] = {
    {"orders",
     {ORDERS_ROWS(BY_MANAGER), ORDERS_ROWS(BY_CUSTOMER)},
     "SELECT o.currency, count(*) AS orders, sum(" FSI_SQL_ORDER_TOTAL ") AS total"
     " FROM orders o WHERE o.status IN ('submitted', 'confirmed')"
     " AND (?1 IS NULL OR " LOCAL_MONTH(
         "coalesce(o.submitted_at, o.created_at)") " = ?1)"
                                                   " GROUP BY 1 ORDER BY 1"},
    {"meetings", {MEETINGS_ROWS(BY_MANAGER), MEETINGS_ROWS(BY_CUSTOMER)}, NULL},
    {"pipeline",
     {PIPELINE_ROWS(DEAL_BY_MANAGER), PIPELINE_ROWS(DEAL_BY_CUSTOMER)},
     "SELECT " DEAL_SUMS " FROM deals d WHERE " DEAL_MONTH " GROUP BY d.stage, d.currency"
     " ORDER BY " DEAL_STAGE_ORDER ", d.currency"},
};

/* The name of the zone months are counted in: $TZ, else the system's
 * (/etc/localtime's target below zoneinfo/), else UTC. */
static const char *local_zone(char *buf, size_t cap) {
  const char *tz = getenv("TZ");
  if (tz && *tz) {
    snprintf(buf, cap, "%s", tz[0] == ':' ? tz + 1 : tz);
    return buf;
  }
  char link[256];
  ssize_t n = readlink("/etc/localtime", link, sizeof link - 1);
  const char *z = NULL;
  if (n > 0) {
    link[n] = '\0';
    z = strstr(link, "zoneinfo/");
  }
  snprintf(buf, cap, "%s", z ? z + 9 : "UTC");
  return buf;
}

/* The report's rows and totals, in one read snapshot. */
static int report_read(fs_store *st, const report *r, int by_customer, const char *month,
                       cJSON **rows, cJSON **totals) {
  int rc = fsi_view_begin(st);
  if (rc) return rc;
  rc = fsi_view_rows(st, fsi_sql_query(st, r->rows[by_customer], "t", month), "reading a report",
                     rows);
  if (!rc && r->totals)
    rc = fsi_view_rows(st, fsi_sql_query(st, r->totals, "t", month), "reading a report", totals);
  fsi_view_end(st);
  if (rc) {
    cJSON_Delete(*rows);
    *rows = NULL;
  }
  return rc;
}

int fs_hq_report_json(char **out, fs_hq *hq, const char *kind, const char *month, const char *by) {
  fs_store *st = fs_hq_store(hq);
  const report *r = NULL;
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
  if (!has_table(fsi_store_schema(st), "orders") || !has_table(fsi_store_schema(st), "deals"))
    return fsi_fail(FS_EINVAL, "this store has no field-sales schema to report on");
  for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
    if (!strcmp(reports[i].kind, kind ? kind : "orders")) r = &reports[i];
  if (!r)
    return fsi_fail(FS_EINVAL, "unknown report \"%.30s\": use orders, meetings or pipeline", kind);
  cJSON *rows = NULL, *totals = NULL;
  fs_hq_lock(hq);
  int rc = report_read(st, r, by_customer, month, &rows, &totals);
  fs_hq_unlock(hq);
  if (rc) return rc;
  cJSON *o = cJSON_CreateObject();
  if (!o) {
    cJSON_Delete(rows);
    cJSON_Delete(totals);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  cJSON_AddStringToObject(o, "report", r->kind);
  if (month)
    cJSON_AddStringToObject(o, "month", month);
  else
    cJSON_AddNullToObject(o, "month");
  cJSON_AddStringToObject(o, "by", by_customer ? "customer" : "manager");
  char zone[128];
  cJSON_AddStringToObject(o, "time_zone", local_zone(zone, sizeof zone));
  cJSON_AddItemToObject(o, "rows", rows);
  if (totals) cJSON_AddItemToObject(o, "totals", totals);
  *out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- export */

/* The condition that keeps what `manager`'s devices hold of table t (?1 =
 * the manager) into buf, or NULL for every row: the manager's customers,
 * the rows of a table with a customer column that belong to them, and the
 * whole of a table with no customer column. */
static const char *subset_where(const fs_table *t, char *buf, size_t n) {
  const char *cust = NULL;
  int mgr = 0;
  if (!strcmp(t->name, "customers")) return "manager = ?1";
  for (size_t i = 0; i < t->ncols; i++) {
    if (t->cols[i].flags & FS_COL_CUSTOMER) cust = t->cols[i].name;
    if (!strcmp(t->cols[i].name, "manager")) mgr = 1;
  }
  if (!cust) return NULL;
  /* a row of no customer (a task, a competitor note) is its manager's, as
   * the pull sends it (core/extract.c) */
  if (mgr)
    snprintf(buf, n,
             "(\"%s\" IN (SELECT id FROM customers WHERE manager = ?1) OR (\"%s\" IS NULL AND"
             " manager = ?1))",
             cust, cust);
  else
    snprintf(buf, n, "\"%s\" IN (SELECT id FROM customers WHERE manager = ?1)", cust);
  return buf;
}

/* Every synced table, narrowed to manager's subset when manager is set and
 * the schema has customers to narrow by. */
static int export_read(fs_store *st, const char *manager, cJSON **out) {
  const fs_schema *sc = fsi_store_schema(st);
  int narrow = manager && has_table(sc, "customers");
  cJSON *o = cJSON_CreateObject();
  if (!o) return fsi_fail(FS_ENOMEM, "out of memory");
  int rc = fsi_view_begin(st);
  if (rc) {
    cJSON_Delete(o);
    return rc;
  }
  for (size_t i = 0; i < sc->ntables && !rc; i++) {
    const fs_table *t = &sc->tables[i];
    char buf[256];
    cJSON *arr = NULL;
    rc = fsi_view_table(st, t, narrow ? subset_where(t, buf, sizeof buf) : NULL, manager, &arr);
    if (!rc && !cJSON_AddItemToObject(o, t->name, arr)) {
      cJSON_Delete(arr);
      rc = fsi_fail(FS_ENOMEM, "out of memory");
    }
  }
  fsi_view_end(st);
  if (rc) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}

int fs_hq_export_json(char **out, fs_hq *hq, const char *manager) {
  fs_store *st = fs_hq_store(hq);
  cJSON *doc = NULL;
  int rc;
  *out = NULL;
  if (manager && !*manager) return fsi_fail(FS_EINVAL, "no manager given");
  fs_hq_lock(hq);
  rc = manager ? export_read(st, manager, &doc) : fs_view_json(out, st, "export", NULL);
  fs_hq_unlock(hq);
  if (rc || !manager) return rc;
  *out = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}
