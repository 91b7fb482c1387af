/*
 * test_refused.c — the log of refused changes and the ways forward from one
 * (core/refused.c; docs/merge.md, "Write policy and refusals").
 *
 * Covers: a device records head office's refusal with the whole row as it
 * holds it (every declared column, the customer and its name, an order's
 * lines), once per change, again for a later refused edit, a refused cell
 * too, and keeps it when the customer is let go; `refused copy` re-creates
 * a refused order (lines, discount, submitted) or meeting under one of the
 * manager's customers through the write path and marks the refusal (and
 * the order's lines) copied, refuses with a sentence when the customer
 * left, for another manager's or an unknown customer, a line alone, a
 * customer's change or a second copy, and writes nothing then; `refused
 * dismiss` closes a refusal (an order's lines with it) without deleting
 * it, and the views list by state; head office keeps the incoming values
 * of what it refuses with the device's manager; a row written on a device
 * that never reached head office before its customer was let go is kept
 * as a refusal with its values.
 */
#include <cjson/cJSON.h>
#include <fieldsync/server.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "merge.h"
#include "storeInt.h"
#include "testutil.h"

typedef struct env {
  char *dir;
  fs_hq *office;
  fs_store *hq;  /* the office's central replica */
  fs_store *dev; /* ben's device */
  fsi_merge_cursor pushed, pulled;
} env;

static int64_t count(fs_store *st, const char *sql) {
  sqlite3_stmt *s = NULL;
  int64_t n = -1;
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return n;
}

/* Text of the first column of the first row of sql ("" when none), into a
 * static buffer. */
static const char *text(fs_store *st, const char *sql) {
  static char buf[8192];
  sqlite3_stmt *s = NULL;
  buf[0] = '\0';
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
      sqlite3_column_text(s, 0))
    snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  return buf;
}

static void exec(fs_store *st, const char *sql) {
  CHECK(sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK);
}

/* Sends the changes of `from` after *cur to `to`, as a push of a device of
 * sender_mgr (NULL: head office's pull for `filter`); returns the refusals. */
static size_t transfer(fs_store *from, fs_store *to, fsi_merge_cursor *cur, const char *filter,
                       const char *sender_mgr) {
  fsi_merge_filter f = {fs_store_site(to), filter, 1, 0};
  fsi_batch *b = fsi_change_batch_new();
  int more = 1;
  size_t refused = 0;
  while (more) {
    fsi_merge_cursor next;
    int rc = fsi_merge_changes_since(from, cur, &f, 1000, b, &next, &more);
    CHECK_OK(rc);
    if (rc) break;
    fsi_merge_opts o = {fs_store_site(from), sender_mgr};
    fsi_merge_result res;
    CHECK_OK(rc = fsi_merge_apply(to, b, &o, &res));
    if (rc) break;
    refused += res.refused;
    fsi_merge_result_free(&res);
    *cur = next;
  }
  fsi_change_batch_free(b);
  return refused;
}

/* Ben's device pushes (and records the acknowledged position, as the
 * device does); returns the refusals. */
static size_t push(env *e) {
  size_t n = transfer(e->dev, e->hq, &e->pushed, NULL, "ben");
  char c[300];
  fsi_merge_cursor_format(&e->pushed, c, sizeof c);
  CHECK_OK(fs_store_set(e->dev, "push_cursor", c));
  return n;
}

static void pull(env *e) { CHECK_EQ_INT(transfer(e->hq, e->dev, &e->pulled, "ben", NULL), 0); }

static void env_setup(env *e) {
  char hq[512], csv[600];
  memset(e, 0, sizeof *e);
  e->pushed = e->pulled = (fsi_merge_cursor){0, -1, ""};
  e->dir = tu_tmpdir("refused");
  snprintf(hq, sizeof hq, "%s/hq", e->dir);
  CHECK(mkdir(hq, 0700) == 0);
  CHECK_OK(fs_hq_create(hq));
  CHECK_OK(fs_hq_open(&e->office, hq));
  if (!e->office) abort();
  e->hq = fs_hq_store(e->office);
  size_t n = 0;
  snprintf(csv, sizeof csv, "%s/p.csv", e->dir);
  CHECK(tu_write_file(csv, "sku,name,unit,active\nA-1,Anvil,pcs,1\nB-2,Bolt,box,1\n") == 0);
  CHECK_OK(fs_hq_import_csv(&n, e->office, "products", csv));
  CHECK(tu_write_file(csv, "sku,currency,price\nA-1,EUR,12.50\nB-2,EUR,3\n") == 0);
  CHECK_OK(fs_hq_import_csv(&n, e->office, "prices", csv));
  CHECK_OK(fs_store_open(&e->dev, ":memory:", NULL, FS_OPEN_CREATE));
  if (!e->dev) abort();
  CHECK_OK(fs_store_set(e->dev, "manager", "ben"));
  CHECK_OK(fs_store_set_hq_site(e->dev, fs_store_site(e->hq)));
  pull(e);
}

static void env_teardown(env *e) {
  fs_store_close(e->dev);
  fs_hq_close(e->office);
  tu_rmrf(e->dir);
  free(e->dir);
}

static cJSON *view(fs_store *st, const char *name, const char *arg) {
  char *j = NULL;
  CHECK_OK(fs_view_json(&j, st, name, arg));
  cJSON *doc = j ? cJSON_Parse(j) : NULL;
  CHECK(doc != NULL);
  fs_free(j);
  return doc;
}

static void customer(fs_store *st, const char *name, char id[FS_ID_SIZE]) {
  CHECK_OK(fs_insert(id, st, "customers", (fs_field[]){{"name", name}}, 1));
}

/* A submitted order of two lines for cust. */
static void order(fs_store *st, const char *cust, char id[FS_ID_SIZE], char l1[FS_ID_SIZE],
                  char l2[FS_ID_SIZE]) {
  CHECK_OK(
      fs_insert(id, st, "orders", (fs_field[]){{"customer_id", cust}, {"discount_bp", "250"}}, 2));
  CHECK_OK(fs_order_line_add(l1, st, id, "A-1", 40, 0));
  CHECK_OK(fs_order_line_add(l2, st, id, "B-2", 3, 500));
  CHECK_OK(fs_order_submit(st, id));
}

static int64_t refusal_id(fs_store *st, const char *table, const char *pk) {
  char sql[300];
  snprintf(sql, sizeof sql, "SELECT max(id) FROM fs_refused WHERE tbl='%s' AND pk='%s'", table, pk);
  return count(st, sql);
}

static const char *refused_col(fs_store *st, int64_t id, const char *expr) {
  char sql[400];
  snprintf(sql, sizeof sql, "SELECT %s FROM fs_refused WHERE id=%lld", expr, (long long)id);
  return text(st, sql);
}

/* The device's customer `id` now belongs to `manager` (as head office's
 * assignment leaves it before the let-go), and is let go like a pull does,
 * after head office acknowledged everything written so far (the refusals
 * of these tests stand for its answer). */
static void moved_away(fs_store *dev, const char *id, const char *manager) {
  char sql[300];
  fsi_merge_cursor acked = {count(dev, "SELECT value FROM fs_meta WHERE key='seq'"), -1, ""};
  fsi_merge_cursor_format(&acked, sql, sizeof sql);
  CHECK_OK(fs_store_set(dev, "push_cursor", sql));
  snprintf(sql, sizeof sql, "UPDATE customers SET manager='%s' WHERE id='%s'", manager, id);
  exec(dev, sql);
  int64_t n = 0;
  CHECK_OK(fsi_store_evict_foreign(dev, "ben", &n));
}

/* ------------------------------------------------------------- tests */

static void test_device_keeps_whole_row(void) {
  env e;
  env_setup(&e);
  char c[FS_ID_SIZE], o[FS_ID_SIZE], l1[FS_ID_SIZE], l2[FS_ID_SIZE], m[FS_ID_SIZE];
  customer(e.dev, "Nordwind GmbH", c);
  order(e.dev, c, o, l1, l2);
  CHECK_OK(fs_insert(m, e.dev, "meetings",
                     (fs_field[]){{"customer_id", c},
                                  {"at", "2026-03-10T10:30:00Z"},
                                  {"notes", "wants 40 by May"}},
                     3));
  const char *why = "this customer is assigned to anna, not to this device's manager ben.";
  CHECK_OK(fsi_refused_log_row(e.dev, "orders", o, NULL, fs_store_site(e.dev), why));
  CHECK_OK(fsi_refused_log_row(e.dev, "order_lines", l1, NULL, fs_store_site(e.dev), why));
  CHECK_OK(fsi_refused_log_row(e.dev, "meetings", m, NULL, fs_store_site(e.dev), why));
  CHECK_OK(fsi_refused_log_row(e.dev, "customers", c, "phone", fs_store_site(e.dev), why));
  /* the same answer again (a re-sent acknowledgement) is logged once */
  CHECK_OK(fsi_refused_log_row(e.dev, "meetings", m, NULL, fs_store_site(e.dev), why));
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM fs_refused"), 4);
  int64_t ro = refusal_id(e.dev, "orders", o), rm = refusal_id(e.dev, "meetings", m);
  /* every declared column of the row, its customer and the customer's name */
  CHECK_EQ_INT(atoi(refused_col(e.dev, ro, "(SELECT count(*) FROM json_each(fs_refused.value))")),
               (int)fsi_store_table(e.dev, "orders")->decl->ncols);
  CHECK_EQ_INT(atoi(refused_col(e.dev, rm, "(SELECT count(*) FROM json_each(fs_refused.value))")),
               (int)fsi_store_table(e.dev, "meetings")->decl->ncols);
  CHECK_STR(refused_col(e.dev, ro, "json_extract(value, '$.status')"), "submitted");
  CHECK_STR(refused_col(e.dev, ro, "json_extract(value, '$.discount_bp')"), "250");
  CHECK_STR(refused_col(e.dev, rm, "json_extract(value, '$.notes')"), "wants 40 by May");
  CHECK_STR(refused_col(e.dev, ro, "customer"), c);
  CHECK_STR(refused_col(e.dev, ro, "customer_name"), "Nordwind GmbH");
  CHECK_STR(refused_col(e.dev, ro, "state"), "open");
  /* an order keeps its lines */
  CHECK_STR(refused_col(e.dev, ro, "json_array_length(lines)"), "2");
  CHECK_STR(refused_col(e.dev, ro, "json_extract(lines, '$[0].sku')"), "A-1");
  /* a refused cell: the column and the row it was in */
  int64_t rc = refusal_id(e.dev, "customers", c);
  CHECK_STR(refused_col(e.dev, rc, "col"), "phone");
  CHECK_STR(refused_col(e.dev, rc, "json_extract(value, '$.name')"), "Nordwind GmbH");
  /* a later edit of the row, refused again, is logged again */
  CHECK_OK(fs_update(e.dev, "meetings", m, (fs_field[]){{"notes", "now 50"}}, 1));
  CHECK_OK(fsi_refused_log_row(e.dev, "meetings", m, NULL, fs_store_site(e.dev), why));
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM fs_refused WHERE tbl='meetings'"), 2);

  /* the customer is let go: its rows leave, the refusals stay whole */
  moved_away(e.dev, c, "anna");
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM orders"), 0);
  cJSON *list = view(e.dev, "refused", NULL);
  CHECK_EQ_INT(cJSON_GetArraySize(list), 5);
  const cJSON *it, *ov = NULL;
  cJSON_ArrayForEach(it, list) {
    const char *row = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "row"));
    if (row && !strcmp(row, o)) ov = cJSON_GetObjectItemCaseSensitive(it, "values");
  }
  CHECK(cJSON_IsObject(ov));
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ov, "currency")), "EUR");
  cJSON_Delete(list);
  char arg[24];
  snprintf(arg, sizeof arg, "%lld", (long long)ro);
  cJSON *one = view(e.dev, "refusal", arg);
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(one, "lines");
  CHECK_EQ_INT(cJSON_GetArraySize(lines), 2);
  /* each line with the refusal that names it (only l1 was refused here) */
  int named = 0;
  cJSON_ArrayForEach(it, lines) named += cJSON_IsNumber(cJSON_GetObjectItem(it, "refusal"));
  CHECK_EQ_INT(named, 1);
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(one, "customer_name")), "Nordwind GmbH");
  cJSON_Delete(one);
  char *none = NULL;
  CHECK_ERR(fs_view_json(&none, e.dev, "refusal", "999"), FS_ENOTFOUND);
  CHECK_ERR(fs_view_json(&none, e.dev, "refused", "state=maybe"), FS_EINVAL);
  env_teardown(&e);
}

static void test_copy(void) {
  env e;
  env_setup(&e);
  char c[FS_ID_SIZE], k[FS_ID_SIZE], x[FS_ID_SIZE], o[FS_ID_SIZE], l1[FS_ID_SIZE], l2[FS_ID_SIZE],
      m[FS_ID_SIZE], copy[FS_ID_SIZE], mcopy[FS_ID_SIZE];
  customer(e.dev, "Nordwind GmbH", c);
  customer(e.dev, "Hanse Möbel KG", k);
  customer(e.dev, "Anna's AG", x);
  order(e.dev, c, o, l1, l2);
  CHECK_OK(fs_insert(m, e.dev, "meetings",
                     (fs_field[]){{"customer_id", c},
                                  {"at", "2026-03-10T10:30:00Z"},
                                  {"kind", "exhibition"},
                                  {"notes", "stand B12"}},
                     4));
  const char *why = "this customer is assigned to anna, not to this device's manager ben.";
  int64_t site = fs_store_site(e.dev);
  CHECK_OK(fsi_refused_log_row(e.dev, "orders", o, NULL, site, why));
  CHECK_OK(fsi_refused_log_row(e.dev, "order_lines", l1, NULL, site, why));
  CHECK_OK(fsi_refused_log_row(e.dev, "order_lines", l2, NULL, site, why));
  CHECK_OK(fsi_refused_log_row(e.dev, "meetings", m, NULL, site, why));
  CHECK_OK(fsi_refused_log_row(e.dev, "customers", c, "phone", site, why));
  int64_t ro = refusal_id(e.dev, "orders", o), rl = refusal_id(e.dev, "order_lines", l1);
  int64_t rm = refusal_id(e.dev, "meetings", m), rc = refusal_id(e.dev, "customers", c);
  moved_away(e.dev, c, "anna");
  exec(e.dev, "UPDATE customers SET manager='anna' WHERE name='Anna''s AG'");
  int64_t rows = count(e.dev, "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM "
                              "order_lines) + (SELECT count(*) FROM meetings)");
  CHECK_EQ_INT(rows, 0);

  /* the customer left: a sentence that says to name one, nothing written */
  CHECK_ERR(fs_refused_copy(copy, e.dev, ro, NULL), FS_EPERM);
  CHECK_CONTAINS(fs_errmsg(), "no longer yours");
  CHECK_CONTAINS(fs_errmsg(), "--customer");
  CHECK_STR(copy, "");
  /* another manager's customer, or one this device does not have */
  CHECK_ERR(fs_refused_copy(copy, e.dev, ro, x), FS_EPERM);
  CHECK_CONTAINS(fs_errmsg(), "assigned it to anna");
  CHECK_ERR(fs_refused_copy(copy, e.dev, ro, "01900000-0000-7000-8000-000000000000"), FS_ENOTFOUND);
  /* a line alone, a customer's change, an unknown refusal */
  CHECK_ERR(fs_refused_copy(copy, e.dev, rl, k), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "copy the order");
  CHECK_ERR(fs_refused_copy(copy, e.dev, rc, k), FS_EINVAL);
  CHECK_ERR(fs_refused_copy(copy, e.dev, 999, k), FS_ENOTFOUND);
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM orders"), 0);
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM fs_refused WHERE state != 'open'"), 0);

  /* to one of ben's customers: a new order, same lines, submitted */
  CHECK_OK(fs_refused_copy(copy, e.dev, ro, k));
  CHECK(strlen(copy) == 36 && strcmp(copy, o) != 0);
  char sql[400];
  snprintf(sql, sizeof sql,
           "SELECT customer_id || ' ' || status || ' ' || discount_bp || ' ' || manager FROM "
           "orders WHERE id='%s'",
           copy);
  char want[200];
  snprintf(want, sizeof want, "%s submitted 250 ben", k);
  CHECK_STR(text(e.dev, sql), want);
  snprintf(sql, sizeof sql,
           "SELECT group_concat(sku || 'x' || qty || '-' || discount_bp || '@' || customer_id, ' ')"
           " FROM (SELECT * FROM order_lines WHERE order_id='%s' ORDER BY sku)",
           copy);
  snprintf(want, sizeof want, "A-1x40-0@%s B-2x3-500@%s", k, k);
  CHECK_STR(text(e.dev, sql), want);
  CHECK_STR(refused_col(e.dev, ro, "state"), "copied");
  CHECK_STR(refused_col(e.dev, ro, "copied_to"), copy);
  CHECK(atoll(refused_col(e.dev, ro, "closed_at")) > 0);
  CHECK_STR(refused_col(e.dev, rl, "state"), "copied");
  CHECK_STR(refused_col(e.dev, refusal_id(e.dev, "order_lines", l2), "state"), "copied");
  /* not twice */
  CHECK_ERR(fs_refused_copy(NULL, e.dev, ro, k), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), copy);
  /* the meeting, with its values, and nothing of the old customer */
  CHECK_OK(fs_refused_copy(mcopy, e.dev, rm, k));
  snprintf(sql, sizeof sql,
           "SELECT customer_id || ' ' || at || ' ' || kind || ' ' || notes FROM meetings WHERE "
           "id='%s'",
           mcopy);
  snprintf(want, sizeof want, "%s 2026-03-10T10:30:00Z exhibition stand B12", k);
  CHECK_STR(text(e.dev, sql), want);
  /* the copies are ordinary changes: head office takes them (Anna's AG
   * goes back to ben, whose device made it) */
  exec(e.dev, "UPDATE customers SET manager='ben' WHERE name='Anna''s AG'");
  e.pushed = (fsi_merge_cursor){0, -1, ""};
  CHECK_EQ_INT(push(&e), 0);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM order_lines WHERE order_id='%s'", copy);
  CHECK_EQ_INT(count(e.hq, sql), 2);
  env_teardown(&e);
}

static void test_dismiss(void) {
  env e;
  env_setup(&e);
  char c[FS_ID_SIZE], o[FS_ID_SIZE], l1[FS_ID_SIZE], l2[FS_ID_SIZE], m[FS_ID_SIZE];
  customer(e.dev, "Nordwind GmbH", c);
  order(e.dev, c, o, l1, l2);
  CHECK_OK(fs_insert(m, e.dev, "meetings",
                     (fs_field[]){{"customer_id", c}, {"at", "2026-03-10T10:30:00Z"}}, 2));
  int64_t site = fs_store_site(e.dev);
  CHECK_OK(fsi_refused_log_row(e.dev, "orders", o, NULL, site, "no."));
  CHECK_OK(fsi_refused_log_row(e.dev, "order_lines", l1, NULL, site, "no."));
  CHECK_OK(fsi_refused_log_row(e.dev, "meetings", m, NULL, site, "no."));
  int64_t ro = refusal_id(e.dev, "orders", o), rm = refusal_id(e.dev, "meetings", m);
  CHECK_OK(fs_refused_dismiss(e.dev, rm));
  CHECK_STR(refused_col(e.dev, rm, "state"), "dismissed");
  CHECK_ERR(fs_refused_dismiss(e.dev, rm), FS_ECONFLICT);
  CHECK_ERR(fs_refused_dismiss(e.dev, 999), FS_ENOTFOUND);
  /* an order takes its refused lines with it */
  CHECK_OK(fs_refused_dismiss(e.dev, ro));
  CHECK_STR(refused_col(e.dev, refusal_id(e.dev, "order_lines", l1), "state"), "dismissed");
  /* kept, listed by state */
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM fs_refused"), 3);
  cJSON *open = view(e.dev, "refused", NULL), *all = view(e.dev, "refused", "state=all");
  cJSON *gone = view(e.dev, "refused", "state=dismissed");
  CHECK_EQ_INT(cJSON_GetArraySize(open), 0);
  CHECK_EQ_INT(cJSON_GetArraySize(all), 3);
  CHECK_EQ_INT(cJSON_GetArraySize(gone), 3);
  cJSON_Delete(open);
  cJSON_Delete(all);
  cJSON_Delete(gone);
  cJSON *st = view(e.dev, "status", NULL);
  CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(st, "refused")), 0);
  CHECK_EQ_INT(cJSON_GetNumberValue(
                   cJSON_GetObjectItem(cJSON_GetObjectItem(st, "refused_by_state"), "dismissed")),
               3);
  cJSON_Delete(st);
  /* a dismissed meeting can still be copied while its customer is ben's */
  char copy[FS_ID_SIZE];
  CHECK_OK(fs_refused_copy(copy, e.dev, rm, NULL));
  CHECK_STR(refused_col(e.dev, rm, "state"), "copied");
  env_teardown(&e);
}

/* Head office keeps what a device sent and it refused, with the values as
 * they arrived and the device's manager. */
static void test_hq_keeps_incoming_values(void) {
  env e;
  env_setup(&e);
  char c[FS_ID_SIZE], o[FS_ID_SIZE], l1[FS_ID_SIZE], l2[FS_ID_SIZE];
  customer(e.dev, "Nordwind GmbH", c);
  CHECK_EQ_INT(push(&e), 0);
  CHECK_OK(fs_update(e.hq, "customers", c, (fs_field[]){{"manager", "anna"}}, 1));
  order(e.dev, c, o, l1, l2);
  fsi_merge_cursor before = e.pushed;
  CHECK_EQ_INT(push(&e), 3);
  CHECK_EQ_INT(count(e.hq, "SELECT count(*) FROM orders"), 0);
  cJSON *doc = NULL;
  CHECK_OK(fsi_refused_json(&doc, e.hq, "all", "ben"));
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 3);
  const cJSON *it, *ol = NULL, *oo = NULL;
  cJSON_ArrayForEach(it, doc) {
    const char *row = cJSON_GetStringValue(cJSON_GetObjectItem(it, "row"));
    if (row && !strcmp(row, l2)) ol = it;
    if (row && !strcmp(row, o)) oo = it;
  }
  CHECK(ol && oo);
  if (ol && oo) {
    const cJSON *v = cJSON_GetObjectItem(ol, "values");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(v, "sku")), "B-2");
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "qty")), 3);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "discount_bp")), 500);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ol, "manager")), "ben");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ol, "customer_id")), c);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ol, "customer_name")), "Nordwind GmbH");
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(oo, "reason")), "assigned to anna");
    CHECK_STR(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(oo, "values"), "status")),
        "submitted");
  }
  cJSON_Delete(doc);
  /* an order's view brings the lines refused with it */
  char arg[24];
  snprintf(arg, sizeof arg, "%lld", (long long)refusal_id(e.hq, "orders", o));
  doc = view(e.hq, "refusal", arg);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "lines")), 2);
  cJSON_Delete(doc);
  CHECK_OK(fsi_refused_json(&doc, e.hq, "all", "anna"));
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 0);
  cJSON_Delete(doc);
  /* the same push again (a retry) is logged once */
  e.pushed = before;
  CHECK_EQ_INT(push(&e), 3);
  CHECK_EQ_INT(count(e.hq, "SELECT count(*) FROM fs_refused"), 3);
  env_teardown(&e);
}

/* A meeting written after the push, whose customer head office moved away
 * before it was sent: the let-go keeps it as a refusal with its values. */
static void test_stranded_change_kept(void) {
  env e;
  env_setup(&e);
  char c[FS_ID_SIZE], m[FS_ID_SIZE];
  customer(e.dev, "Nordwind GmbH", c);
  CHECK_EQ_INT(push(&e), 0);
  pull(&e);
  CHECK_OK(fs_insert(
      m, e.dev, "meetings",
      (fs_field[]){{"customer_id", c}, {"at", "2026-03-10T10:30:00Z"}, {"notes", "never sent"}},
      3));
  CHECK_OK(fs_hq_assign(e.office, c, "anna"));
  pull(&e);
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM customers"), 0);
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM meetings"), 0);
  /* only the meeting: the customer had reached head office */
  CHECK_EQ_INT(count(e.dev, "SELECT count(*) FROM fs_refused"), 1);
  int64_t r = refusal_id(e.dev, "meetings", m);
  CHECK(r > 0);
  CHECK_STR(refused_col(e.dev, r, "json_extract(value, '$.notes')"), "never sent");
  CHECK_STR(refused_col(e.dev, r, "customer_name"), "Nordwind GmbH");
  CHECK_CONTAINS(refused_col(e.dev, r, "reason"), "before this change was sent");
  env_teardown(&e);
}

int main(void) {
  TEST_RUN(test_device_keeps_whole_row);
  TEST_RUN(test_copy);
  TEST_RUN(test_dismiss);
  TEST_RUN(test_hq_keeps_incoming_values);
  TEST_RUN(test_stranded_change_kept);
  return tu_finish();
}
