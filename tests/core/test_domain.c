/*
 * test_domain.c — the field-sales rules of local writes (core/domain.c) and
 * head office's imports and assignments (server-stub/hq/import.c), on a
 * real device home (fs_device_create, so the store has a manager) whose
 * catalog and prices arrive only the way they do in production: imported
 * at a head-office home (fs_hq_create) from CSV files and merged into the
 * device as changes of the head-office site.
 *
 * Covers: customer defaults (status, manager, created_at); enumeration,
 * e-mail, country, length and UTF-8 validation; unknown customers for
 * contacts, meetings and orders; the write policy on a device (products,
 * customers.manager); order lines (price snapshot that survives a new price
 * list, unknown or inactive SKU, quantity), submit rules and the frozen
 * order afterwards; order totals and balances in the JSON views; CSV import
 * (a bad row or header refuses the whole file, naming the line; quoted
 * fields); fs_hq_assign moving a customer and re-sending its rows.
 */
#include <cjson/cJSON.h>
#include <fieldsync/device.h>
#include <fieldsync/server.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "merge.h"
#include "storeInt.h"
#include "testutil.h"

typedef struct env {
  char *dir;
  fs_device *device;
  fs_hq *office;
  fs_store *dev, *hq; /* dev: the device's store; hq: the office's central replica */
} env;

/* Writes text to dir/name, with CRLF line ends when crlf is set. */
static char *file_as(const env *e, const char *name, const char *text, int crlf) {
  size_t n = strlen(e->dir) + strlen(name) + 2;
  char *p = malloc(n), *buf = malloc(2 * strlen(text) + 1), *o = buf;
  if (!p || !buf) abort();
  snprintf(p, n, "%s/%s", e->dir, name);
  for (const char *t = text; *t; t++) {
    if (crlf && *t == '\n' && (t == text || t[-1] != '\r')) *o++ = '\r';
    *o++ = *t;
  }
  *o = '\0';
  CHECK(tu_write_file(p, buf) == 0);
  free(buf);
  return p;
}

/* The CSV files of these tests use CRLF line ends (spreadsheet exports);
 * test_csv_lf_line_ends covers LF-only files. */
static char *file_in(const env *e, const char *name, const char *text) {
  return file_as(e, name, text, 1);
}

static void import(env *e, const char *kind, const char *csv, size_t expect) {
  char *p = file_in(e, "import.csv", csv);
  size_t n = 999;
  CHECK_OK(fs_hq_import_csv(&n, e->office, kind, p));
  CHECK_EQ_INT(n, expect);
  free(p);
}

/* Sends every change of `from` to `to` (from the beginning; idempotent). */
static void transfer(fs_store *from, fs_store *to, const char *sender_mgr) {
  fsi_merge_cursor c = {0, -1, ""};
  fsi_merge_filter f = {fs_store_site(to), NULL, 0, 0};
  fsi_batch *b = fsi_change_batch_new();
  int more = 1;
  while (more) {
    fsi_merge_cursor next;
    int rc = fsi_merge_changes_since(from, &c, &f, 1000, b, &next, &more);
    CHECK_OK(rc);
    if (rc) break;
    fsi_merge_opts o = {fs_store_site(from), sender_mgr};
    fsi_merge_result res;
    CHECK_OK(fsi_merge_apply(to, b, &o, &res));
    CHECK_EQ_INT(res.refused, 0);
    fsi_merge_result_free(&res);
    c = next;
  }
  fsi_change_batch_free(b);
}

static void pull(env *e) { transfer(e->hq, e->dev, NULL); }
static void push(env *e) { transfer(e->dev, e->hq, "alice"); }

static void env_setup(env *e) {
  char home[512], hq[512];
  memset(e, 0, sizeof *e);
  e->dir = tu_tmpdir("domain");
  snprintf(home, sizeof home, "%s/home", e->dir);
  snprintf(hq, sizeof hq, "%s/hq", e->dir);
  CHECK_OK(tu_device_create(home, "alice", NULL));
  CHECK_OK(tu_device_open(&e->device, home, NULL));
  e->dev = fs_device_store(e->device);
  CHECK(mkdir(hq, 0700) == 0);
  CHECK_OK(fs_hq_create(hq));
  CHECK_OK(fs_hq_open(&e->office, hq));
  if (!e->dev || !e->office) abort();
  e->hq = fs_hq_store(e->office);
  import(e, "products",
         "sku,name,unit,active\r\n"
         "A-1,Anvil,pcs,1\r\n"
         "B-2,\"Bolt, large\",box,1\r\n"
         "C-3,\"The \"\"old\"\" one\",,0\r\n",
         3);
  import(e, "prices", "sku,currency,price\nA-1,EUR,12.50\nB-2,EUR,3\nB-2,PLN,13.99\n", 3);
  CHECK_OK(fs_store_set_hq_site(e->dev, fs_store_site(e->hq)));
  pull(e);
}

static void env_teardown(env *e) {
  fs_device_close(e->device);
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

static const char *jstr(const cJSON *o, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static double jnum(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : -1e18;
}

static int nproducts(fs_store *st) {
  cJSON *doc = view(st, "products", NULL);
  int n = cJSON_GetArraySize(doc);
  cJSON_Delete(doc);
  return n;
}

static void add_customer(env *e, const char *name, char id[FS_ID_SIZE]) {
  CHECK_OK(fs_insert(id, e->dev, "customers", (fs_field[]){{"name", name}}, 1));
}

/* ------------------------------------------------------------- tests */

static void test_catalog_arrives(void) {
  env e;
  env_setup(&e);
  cJSON *doc = view(e.dev, "products", NULL);
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 3);
  const cJSON *b2 = cJSON_GetArrayItem(doc, 1);
  CHECK_STR(jstr(b2, "sku"), "B-2");
  CHECK_STR(jstr(b2, "name"), "Bolt, large"); /* quoted comma */
  const cJSON *prices = cJSON_GetObjectItemCaseSensitive(b2, "prices");
  CHECK_EQ_INT(cJSON_GetArraySize(prices), 2);
  CHECK_STR(jstr(cJSON_GetArrayItem(prices, 1), "currency"), "PLN");
  CHECK_EQ_INT(jnum(cJSON_GetArrayItem(prices, 1), "price"), 1399);
  const cJSON *c3 = cJSON_GetArrayItem(doc, 2);
  CHECK_STR(jstr(c3, "name"), "The \"old\" one"); /* doubled quotes */
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c3, "unit")));
  CHECK_EQ_INT(jnum(c3, "active"), 0);
  cJSON_Delete(doc);
  env_teardown(&e);
}

static void test_customer_defaults_and_validation(void) {
  env e;
  env_setup(&e);
  char id[FS_ID_SIZE];
  add_customer(&e, "Acme", id);
  cJSON *c = view(e.dev, "customer", id);
  CHECK_STR(jstr(c, "name"), "Acme");
  CHECK_STR(jstr(c, "status"), "prospect");
  CHECK_STR(jstr(c, "manager"), "alice");
  const char *at = jstr(c, "created_at");
  int64_t ms = 0;
  CHECK(at && strlen(at) == 20 && at[19] == 'Z');
  CHECK_OK(fs_time_parse(&ms, at));
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(c, "contacts")), 0);
  cJSON_Delete(c);

  int64_t dbv = fs_store_db_version(e.dev);
  CHECK_ERR(fs_insert(NULL, e.dev, "customers", (fs_field[]){{"name", "X"}, {"status", "vip"}}, 2),
            FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "prospect, active, key, lost");
  CHECK_ERR(fs_insert(NULL, e.dev, "customers",
                      (fs_field[]){{"name", "X"}, {"email", "no-at.example.com"}}, 2),
            FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "email");
  CHECK_ERR(fs_insert(NULL, e.dev, "customers", (fs_field[]){{"name", "X"}, {"country", "de"}}, 2),
            FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "country");
  CHECK_ERR(fs_update(e.dev, "customers", id, (fs_field[]){{"status", "gone"}}, 1), FS_EINVAL);
  CHECK_ERR(fs_insert(NULL, e.dev, "customers", (fs_field[]){{"city", "Nowhere"}}, 1), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "name");
  char longname[202];
  memset(longname, 'n', 201);
  longname[201] = '\0';
  CHECK_ERR(fs_insert(NULL, e.dev, "customers", (fs_field[]){{"name", longname}}, 1), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "too long");
  longname[200] = '\0'; /* exactly the limit is fine */
  CHECK_OK(fs_insert(NULL, e.dev, "customers", (fs_field[]){{"name", longname}}, 1));
  dbv++;
  CHECK_ERR(fs_insert(NULL, e.dev, "customers", (fs_field[]){{"name", "Bad \xc3\x28 text"}}, 1),
            FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "UTF-8");
  CHECK_ERR(fs_update(e.dev, "customers", id, (fs_field[]){{"city", "\xff"}}, 1), FS_EINVAL);
  CHECK_OK(fs_update(e.dev, "customers", id,
                     (fs_field[]){{"status", "key"}, {"country", "PL"}, {"email", "a@b.pl"}}, 3));
  dbv++;
  CHECK_EQ_INT(fs_store_db_version(e.dev), dbv); /* failures wrote nothing */
  cJSON *all = view(e.dev, "customers", NULL);
  CHECK_EQ_INT(cJSON_GetArraySize(all), 2);
  cJSON_Delete(all);
  env_teardown(&e);
}

static void test_unknown_customer(void) {
  env e;
  env_setup(&e);
  char ghost[FS_ID_SIZE];
  fs_uuid7(ghost);
  CHECK_ERR(
      fs_insert(NULL, e.dev, "contacts", (fs_field[]){{"customer_id", ghost}, {"name", "Eve"}}, 2),
      FS_ENOTFOUND);
  CHECK_CONTAINS(fs_errmsg(), ghost);
  CHECK_ERR(fs_insert(NULL, e.dev, "meetings",
                      (fs_field[]){{"customer_id", ghost}, {"at", "2026-01-05T08:00:00Z"}}, 2),
            FS_ENOTFOUND);
  CHECK_ERR(fs_insert(NULL, e.dev, "orders", (fs_field[]){{"customer_id", ghost}}, 1),
            FS_ENOTFOUND);
  char id[FS_ID_SIZE], k[FS_ID_SIZE];
  add_customer(&e, "Acme", id);
  CHECK_OK(fs_insert(k, e.dev, "contacts", (fs_field[]){{"customer_id", id}, {"name", "Eve"}}, 2));
  CHECK_ERR(fs_update(e.dev, "contacts", k, (fs_field[]){{"customer_id", ghost}}, 1), FS_ENOTFOUND);
  char m[FS_ID_SIZE];
  CHECK_OK(fs_insert(m, e.dev, "meetings",
                     (fs_field[]){{"customer_id", id}, {"at", "2026-01-05T08:00:00Z"}}, 2));
  cJSON *c = view(e.dev, "customer", id);
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(c, "meetings");
  CHECK_EQ_INT(cJSON_GetArraySize(ms), 1);
  CHECK_STR(jstr(cJSON_GetArrayItem(ms, 0), "kind"), "visit"); /* default */
  cJSON_Delete(c);
  CHECK_ERR(fs_view_json(&(char *){NULL}, e.dev, "customer", ghost), FS_ENOTFOUND);
  env_teardown(&e);
}

static void test_device_write_policy(void) {
  env e;
  env_setup(&e);
  char id[FS_ID_SIZE];
  add_customer(&e, "Acme", id);
  CHECK_ERR(fs_insert(NULL, e.dev, "products",
                      (fs_field[]){{"sku", "Z"}, {"name", "Z"}, {"active", "1"}}, 3),
            FS_EPERM);
  CHECK_CONTAINS(fs_errmsg(), "head-office");
  cJSON *doc = view(e.dev, "products", NULL);
  const char *pid = jstr(cJSON_GetArrayItem(doc, 0), "id");
  CHECK_ERR(fs_update(e.dev, "products", pid, (fs_field[]){{"name", "Cheap"}}, 1), FS_EPERM);
  CHECK_ERR(fs_delete(e.dev, "products", pid), FS_EPERM);
  cJSON_Delete(doc);
  CHECK_ERR(fs_update(e.dev, "customers", id, (fs_field[]){{"manager", "bob"}}, 1), FS_EPERM);
  CHECK_CONTAINS(fs_errmsg(), "head office");
  CHECK_ERR(fs_insert(NULL, e.dev, "customers", (fs_field[]){{"name", "B"}, {"manager", "bob"}}, 2),
            FS_EPERM);
  cJSON *c = view(e.dev, "customer", id);
  CHECK_STR(jstr(c, "manager"), "alice");
  cJSON_Delete(c);
  CHECK_EQ_INT(nproducts(e.dev), 3);
  env_teardown(&e);
}

static void test_orders(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE], ord[FS_ID_SIZE], l1[FS_ID_SIZE], l2[FS_ID_SIZE];
  add_customer(&e, "Acme", cust);
  CHECK_ERR(fs_insert(NULL, e.dev, "orders",
                      (fs_field[]){{"customer_id", cust}, {"status", "submitted"}}, 2),
            FS_EINVAL);
  CHECK_OK(fs_insert(ord, e.dev, "orders", (fs_field[]){{"customer_id", cust}}, 1));
  CHECK_ERR(fs_order_submit(e.dev, ord), FS_EINVAL); /* no lines */
  CHECK_CONTAINS(fs_errmsg(), "no lines");
  CHECK_ERR(fs_order_line_add(NULL, e.dev, ord, "NOPE-9", 1, 0), FS_ENOTFOUND);
  CHECK_CONTAINS(fs_errmsg(), "NOPE-9");
  CHECK_ERR(fs_order_line_add(NULL, e.dev, ord, "A-1", 0, 0), FS_EINVAL);
  CHECK_ERR(fs_order_line_add(NULL, e.dev, ord, "A-1", -2, 0), FS_EINVAL);
  CHECK_ERR(fs_order_line_add(NULL, e.dev, ord, "A-1", 1, 10001), FS_EINVAL);
  CHECK_ERR(fs_order_line_add(NULL, e.dev, ord, "C-3", 1, 0), FS_EINVAL); /* inactive */
  char ghost[FS_ID_SIZE];
  fs_uuid7(ghost);
  CHECK_ERR(fs_order_line_add(NULL, e.dev, ghost, "A-1", 1, 0), FS_ENOTFOUND);
  CHECK_OK(fs_order_line_add(l1, e.dev, ord, "A-1", 2, 0));

  /* head office raises the price; the line keeps its snapshot */
  import(&e, "prices", "sku,currency,price\nA-1,EUR,15.00\n", 1);
  pull(&e);
  CHECK_OK(fs_order_line_add(l2, e.dev, ord, "A-1", 3, 1000));
  CHECK_OK(fs_update(e.dev, "orders", ord, (fs_field[]){{"discount_bp", "1000"}}, 1));
  cJSON *o = view(e.dev, "order", ord);
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(o, "lines");
  CHECK_EQ_INT(cJSON_GetArraySize(lines), 2);
  const cJSON *it;
  cJSON_ArrayForEach(it, lines) {
    const char *lid = jstr(it, "id");
    if (lid && !strcmp(lid, l1)) {
      CHECK_EQ_INT(jnum(it, "unit_price"), 1250);
      CHECK_EQ_INT(jnum(it, "amount"), 2500);
    } else {
      CHECK_EQ_INT(jnum(it, "unit_price"), 1500);
      CHECK_EQ_INT(jnum(it, "amount"), 4050); /* 3 x 15.00 less 10 % */
    }
    CHECK_STR(jstr(it, "name"), "Anvil");
  }
  CHECK_EQ_INT(jnum(o, "total"), 5895); /* (25.00 + 40.50) less 10 % */
  CHECK_STR(jstr(o, "status"), "draft");
  CHECK_STR(jstr(o, "currency"), "EUR");
  CHECK_STR(jstr(o, "customer_name"), "Acme");
  cJSON_Delete(o);
  /* a line's product and price cannot be edited; its quantity can */
  CHECK_ERR(fs_update(e.dev, "order_lines", l1, (fs_field[]){{"unit_price", "1"}}, 1), FS_EINVAL);
  CHECK_ERR(fs_update(e.dev, "order_lines", l1, (fs_field[]){{"qty", "0"}}, 1), FS_EINVAL);
  CHECK_OK(fs_update(e.dev, "order_lines", l1, (fs_field[]){{"qty", "4"}}, 1));

  CHECK_OK(fs_order_submit(e.dev, ord));
  o = view(e.dev, "order", ord);
  CHECK_STR(jstr(o, "status"), "submitted");
  CHECK(jstr(o, "submitted_at") != NULL);
  CHECK_EQ_INT(jnum(o, "total"), 8145); /* (50.00 + 40.50) less 10 % */
  cJSON_Delete(o);
  int64_t dbv = fs_store_db_version(e.dev);
  CHECK_ERR(fs_order_line_add(NULL, e.dev, ord, "A-1", 1, 0), FS_ECONFLICT);
  CHECK_ERR(fs_update(e.dev, "order_lines", l1, (fs_field[]){{"qty", "9"}}, 1), FS_ECONFLICT);
  CHECK_ERR(fs_delete(e.dev, "order_lines", l2), FS_ECONFLICT);
  CHECK_ERR(fs_update(e.dev, "orders", ord, (fs_field[]){{"discount_bp", "0"}}, 1), FS_ECONFLICT);
  CHECK_ERR(fs_delete(e.dev, "orders", ord), FS_ECONFLICT);
  CHECK_ERR(fs_order_submit(e.dev, ord), FS_ECONFLICT);
  CHECK_EQ_INT(fs_store_db_version(e.dev), dbv);
  cJSON *list = view(e.dev, "orders", NULL);
  CHECK_EQ_INT(cJSON_GetArraySize(list), 1);
  CHECK_EQ_INT(jnum(cJSON_GetArrayItem(list, 0), "lines"), 2);
  CHECK_EQ_INT(jnum(cJSON_GetArrayItem(list, 0), "total"), 8145);
  cJSON_Delete(list);
  /* the order reaches head office with its snapshot prices */
  push(&e);
  o = view(e.hq, "order", ord);
  CHECK_EQ_INT(jnum(o, "total"), 8145);
  cJSON_Delete(o);
  env_teardown(&e);
}

static void test_balances_in_customer_view(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE];
  add_customer(&e, "Debtor GmbH", cust);
  push(&e);
  char csv[256];
  snprintf(csv, sizeof csv, "customer_id,currency,open,overdue\n%s,EUR,1200.00,300.50\n", cust);
  import(&e, "balances", csv, 1);
  pull(&e);
  cJSON *c = view(e.dev, "customer", cust);
  const cJSON *bal = cJSON_GetObjectItemCaseSensitive(c, "balances");
  CHECK_EQ_INT(cJSON_GetArraySize(bal), 1);
  const cJSON *b0 = cJSON_GetArrayItem(bal, 0);
  CHECK_STR(jstr(b0, "currency"), "EUR");
  CHECK_EQ_INT(jnum(b0, "open"), 120000);
  CHECK_EQ_INT(jnum(b0, "overdue"), 30050);
  cJSON_Delete(c);
  /* a re-import updates the same balance row */
  snprintf(csv, sizeof csv, "customer_id,currency,open,overdue\n%s,EUR,0,0\n", cust);
  import(&e, "balances", csv, 1);
  pull(&e);
  c = view(e.dev, "customer", cust);
  bal = cJSON_GetObjectItemCaseSensitive(c, "balances");
  CHECK_EQ_INT(cJSON_GetArraySize(bal), 1);
  CHECK_EQ_INT(jnum(cJSON_GetArrayItem(bal, 0), "overdue"), 0);
  cJSON_Delete(c);
  env_teardown(&e);
}

static void test_csv_refusals(void) {
  env e;
  env_setup(&e);
  size_t n = 77;
  char *p = file_in(&e, "bad.csv",
                    "sku,name,unit,active\nD-4,Drill,pcs,1\nE-5,Easel,pcs,yes\nF-6,Fan,pcs,1\n");
  CHECK_ERR(fs_hq_import_csv(&n, e.office, "products", p), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "line 3");
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(nproducts(e.hq), 3); /* D-4 was not imported either */
  free(p);
  p = file_in(&e, "hdr.csv", "sku,name,active\nD-4,Drill,1\n");
  CHECK_ERR(fs_hq_import_csv(NULL, e.office, "products", p), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "line 1");
  CHECK_CONTAINS(fs_errmsg(), "sku,name,unit,active");
  free(p);
  p = file_in(&e, "fields.csv", "sku,name,unit,active\nD-4,Drill,pcs,1\nE-5,\"Ea,sel\",1\n");
  CHECK_ERR(fs_hq_import_csv(NULL, e.office, "products", p), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "line 3");
  free(p);
  p = file_in(&e, "quote.csv", "sku,name,unit,active\nD-4,\"Drill,pcs,1\n");
  CHECK_ERR(fs_hq_import_csv(NULL, e.office, "products", p), FS_EINVAL);
  free(p);
  p = file_in(&e, "price.csv", "sku,currency,price\nA-1,EUR,9.99\nZZ-9,EUR,1.00\n");
  CHECK_ERR(fs_hq_import_csv(NULL, e.office, "prices", p), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "line 3");
  CHECK_CONTAINS(fs_errmsg(), "ZZ-9");
  free(p);
  p = file_in(&e, "price2.csv", "sku,currency,price\nA-1,EUR,12.345\n");
  CHECK_ERR(fs_hq_import_csv(NULL, e.office, "prices", p), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "line 2");
  free(p);
  p = file_in(&e, "kind.csv", "x\n");
  CHECK_ERR(fs_hq_import_csv(NULL, e.office, "invoices", p), FS_EINVAL);
  free(p);
  CHECK_ERR(fs_hq_import_csv(NULL, e.office, "products", "/nonexistent/x.csv"), FS_ENOTFOUND);
  /* A-1 still costs 12.50: the refused price file changed nothing */
  cJSON *doc = view(e.hq, "products", NULL);
  const cJSON *pr = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(doc, 0), "prices");
  CHECK_EQ_INT(jnum(cJSON_GetArrayItem(pr, 0), "price"), 1250);
  cJSON_Delete(doc);
  /* a good file after the refusals, with blank lines and a quoted comma */
  p = file_in(&e, "good.csv", "sku,name,unit,active\n\nD-4,\"Drill, cordless\",pcs,1\n\n");
  CHECK_OK(fs_hq_import_csv(&n, e.office, "products", p));
  CHECK_EQ_INT(n, 1);
  free(p);
  CHECK_EQ_INT(nproducts(e.hq), 4);
  env_teardown(&e);
}

/* Files with LF line ends (what most tools on Linux write) import the
 * same as CRLF ones. */
static void test_csv_lf_line_ends(void) {
  env e;
  env_setup(&e);
  size_t n = 0;
  char *p = file_as(&e, "lf.csv", "sku,name,unit,active\nD-4,Drill,pcs,1\nE-5,Easel,,1\n", 0);
  CHECK_OK(fs_hq_import_csv(&n, e.office, "products", p));
  CHECK_EQ_INT(n, 2);
  free(p);
  p = file_as(&e, "lf2.csv", "sku,currency,price\nD-4,EUR,99.90\n", 0);
  CHECK_OK(fs_hq_import_csv(&n, e.office, "prices", p));
  CHECK_EQ_INT(n, 1);
  free(p);
  cJSON *doc = view(e.hq, "products", NULL);
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 5);
  const cJSON *d4 = cJSON_GetArrayItem(doc, 3);
  CHECK_STR(jstr(d4, "sku"), "D-4");
  CHECK_STR(jstr(d4, "name"), "Drill");
  const cJSON *pr = cJSON_GetObjectItemCaseSensitive(d4, "prices");
  CHECK_EQ_INT(jnum(cJSON_GetArrayItem(pr, 0), "price"), 9990);
  cJSON_Delete(doc);
  env_teardown(&e);
}

static void test_hq_assign(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE], k[FS_ID_SIZE];
  add_customer(&e, "Acme", cust);
  CHECK_OK(
      fs_insert(k, e.dev, "contacts", (fs_field[]){{"customer_id", cust}, {"name", "Eve"}}, 2));
  push(&e);
  /* head office has sent everything: the cursor is at the end */
  fsi_merge_cursor c = {0, -1, ""}, next;
  fsi_merge_filter f = {0x4242, NULL, 0, 0};
  fsi_batch *b = fsi_change_batch_new();
  int more = 1;
  while (more) {
    CHECK_OK(fsi_merge_changes_since(e.hq, &c, &f, 1000, b, &next, &more));
    c = next;
  }
  CHECK_OK(fsi_merge_changes_since(e.hq, &c, &f, 1000, b, &next, &more));
  CHECK_EQ_INT(b->nrows, 0);
  CHECK_ERR(fs_hq_assign(e.office, cust, ""), FS_EINVAL);
  char ghost[FS_ID_SIZE];
  fs_uuid7(ghost);
  CHECK_ERR(fs_hq_assign(e.office, ghost, "bob"), FS_ENOTFOUND);
  CHECK_OK(fs_hq_assign(e.office, cust, "bob"));
  CHECK_OK(fsi_merge_changes_since(e.hq, &c, &f, 1000, b, &next, &more));
  int saw_customer = 0, saw_contact = 0;
  for (size_t i = 0; i < b->nrows; i++) {
    const fsi_rowchange *r = &b->rows[i];
    const char *t = b->tables[r->table].name;
    if (!strcmp(t, "customers") && !strcmp(r->pk, cust)) {
      saw_customer = 1;
      for (size_t j = 0; j < b->tables[r->table].ncols; j++)
        if (!strcmp(b->tables[r->table].cols[j], "manager"))
          CHECK(r->vals[j].type == FS_VAL_TEXT && !strcmp(r->vals[j].s, "bob"));
    }
    if (!strcmp(t, "contacts") && !strcmp(r->pk, k)) saw_contact = 1;
  }
  CHECK(saw_customer);
  CHECK(saw_contact);
  /* bob's devices get the customer and its contact; alice's view moves */
  fsi_merge_filter fb = {0x4242, "bob", 1, 0};
  fsi_merge_cursor c0 = {0, -1, ""};
  CHECK_OK(fsi_merge_changes_since(e.hq, &c0, &fb, 1000, b, &next, &more));
  int bob_rows = 0;
  for (size_t i = 0; i < b->nrows; i++)
    bob_rows += !strcmp(b->rows[i].pk, cust) || !strcmp(b->rows[i].pk, k);
  CHECK_EQ_INT(bob_rows, 2);
  pull(&e);
  cJSON *cv = view(e.dev, "customer", cust);
  CHECK_STR(jstr(cv, "manager"), "bob"); /* head office's column, accepted */
  cJSON_Delete(cv);
  fsi_change_batch_free(b);
  env_teardown(&e);
}

/* ------------------------------------------- rules on both write paths */

/* An order line snapshots the price of the ORDER's currency: SEK, PLN and
 * EUR lines of the same SKU carry different prices, a currency the list
 * has no price in is refused, and head office accepts each snapshot. */
static void test_price_snapshot_per_currency(void) {
  env e;
  env_setup(&e);
  import(&e, "prices", "sku,currency,price\nA-1,SEK,145.00\n", 1);
  pull(&e);
  char cust[FS_ID_SIZE], sek[FS_ID_SIZE], pln[FS_ID_SIZE], eur[FS_ID_SIZE], l[FS_ID_SIZE];
  add_customer(&e, "Nordic AB", cust);
  CHECK_OK(
      fs_insert(sek, e.dev, "orders", (fs_field[]){{"customer_id", cust}, {"currency", "SEK"}}, 2));
  CHECK_OK(
      fs_insert(pln, e.dev, "orders", (fs_field[]){{"customer_id", cust}, {"currency", "PLN"}}, 2));
  CHECK_OK(fs_insert(eur, e.dev, "orders", (fs_field[]){{"customer_id", cust}}, 1));

  CHECK_OK(fs_order_line_add(l, e.dev, sek, "A-1", 2, 0));
  cJSON *o = view(e.dev, "order", sek);
  CHECK_STR(jstr(o, "currency"), "SEK");
  const cJSON *line = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "lines"), 0);
  CHECK_EQ_INT(jnum(line, "unit_price"), 14500); /* not the 1250 EUR price */
  CHECK_EQ_INT(jnum(o, "total"), 29000);
  cJSON_Delete(o);
  cJSON *ex = view(e.dev, "export", NULL);
  const cJSON *it;
  int seen = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ex, "order_lines")) {
    if (jstr(it, "id") && !strcmp(jstr(it, "id"), l)) {
      seen++;
      CHECK_STR(jstr(it, "currency"), "SEK");
      CHECK_EQ_INT(jnum(it, "unit_price"), 14500);
    }
  }
  CHECK_EQ_INT(seen, 1);
  cJSON_Delete(ex);

  /* B-2: 3.00 EUR and 13.99 PLN, no SEK price. */
  CHECK_OK(fs_order_line_add(l, e.dev, pln, "B-2", 1, 0));
  o = view(e.dev, "order", pln);
  CHECK_EQ_INT(
      jnum(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "lines"), 0), "unit_price"),
      1399);
  cJSON_Delete(o);
  CHECK_OK(fs_order_line_add(l, e.dev, eur, "B-2", 1, 0));
  o = view(e.dev, "order", eur);
  CHECK_EQ_INT(
      jnum(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "lines"), 0), "unit_price"), 300);
  cJSON_Delete(o);
  int64_t dbv = fs_store_db_version(e.dev);
  CHECK_ERR(fs_order_line_add(NULL, e.dev, sek, "B-2", 1, 0), FS_ENOTFOUND);
  CHECK_CONTAINS(fs_errmsg(), "no price in SEK");
  CHECK_ERR(fs_insert(NULL, e.dev, "order_lines",
                      (fs_field[]){{"order_id", sek}, {"sku", "B-2"}, {"qty", "1"}}, 3),
            FS_ENOTFOUND);
  CHECK_EQ_INT(fs_store_db_version(e.dev), dbv);
  o = view(e.dev, "order", sek);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "lines")), 1);
  cJSON_Delete(o);

  /* Head office checks each line against its own currency's list price
   * (push() asserts nothing was refused). */
  push(&e);
  o = view(e.hq, "order", sek);
  CHECK_EQ_INT(jnum(o, "total"), 29000);
  cJSON_Delete(o);
  o = view(e.hq, "order", pln);
  CHECK_EQ_INT(jnum(o, "total"), 1399);
  cJSON_Delete(o);
  env_teardown(&e);
}

/* One validation rule: `bad` in table.col is refused (FS_EINVAL, message
 * containing the needle) on insert and on update; `good` is accepted. */
typedef struct rule {
  const char *table, *col, *bad, *good;
  const char *insert_needle, *update_needle; /* NULL: the error code alone */
} rule;

/* The smallest valid row of each table; the rule's column is then set. */
static size_t base_fields(fs_field *f, const char *table, const char *cust, const char *ord) {
  size_t n = 0;
  if (!strcmp(table, "customers")) {
    f[n++] = (fs_field){"name", "Acme"};
  } else if (!strcmp(table, "contacts")) {
    f[n++] = (fs_field){"customer_id", cust};
    f[n++] = (fs_field){"name", "Eve"};
  } else if (!strcmp(table, "meetings")) {
    f[n++] = (fs_field){"customer_id", cust};
    f[n++] = (fs_field){"at", "2026-01-05T08:00:00Z"};
  } else if (!strcmp(table, "orders")) {
    f[n++] = (fs_field){"customer_id", cust};
  } else if (!strcmp(table, "order_lines")) {
    f[n++] = (fs_field){"order_id", ord};
    f[n++] = (fs_field){"sku", "A-1"};
    f[n++] = (fs_field){"qty", "1"};
  } else if (!strcmp(table, "complaints")) {
    f[n++] = (fs_field){"customer_id", cust};
    f[n++] = (fs_field){"text", "late delivery"};
  } else if (!strcmp(table, "competitor_notes")) {
    f[n++] = (fs_field){"customer_id", cust};
    f[n++] = (fs_field){"competitor", "Rival Oy"};
    f[n++] = (fs_field){"note", "cheaper by 5 %"};
  } else if (!strcmp(table, "deals")) {
    f[n++] = (fs_field){"customer_id", cust};
    f[n++] = (fs_field){"stage", "qualified"};
    f[n++] = (fs_field){"value", "100000"};
    f[n++] = (fs_field){"currency", "EUR"};
  } else if (!strcmp(table, "products")) {
    f[n++] = (fs_field){"sku", "R-9"};
    f[n++] = (fs_field){"name", "Rule"};
    f[n++] = (fs_field){"active", "1"};
  } else if (!strcmp(table, "prices")) {
    f[n++] = (fs_field){"sku", "A-1"};
    f[n++] = (fs_field){"currency", "NOK"};
    f[n++] = (fs_field){"price", "100"};
  }
  return n;
}

static size_t with_field(fs_field *f, size_t n, const char *col, const char *val) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].name, col)) {
      f[i].value = val;
      return n;
    }
  f[n++] = (fs_field){col, val};
  return n;
}

static void check_rule(int line, fs_store *st, const rule *r, const char *cust, const char *ord) {
  fs_field f[8];
  char id[FS_ID_SIZE];
  int64_t dbv = fs_store_db_version(st);
  size_t n = with_field(f, base_fields(f, r->table, cust, ord), r->col, r->bad);
  int rc = fs_insert(NULL, st, r->table, f, n);
  tu_checks++;
  if (rc != FS_EINVAL || (r->insert_needle && !strstr(fs_errmsg(), r->insert_needle)))
    tu_fail(__FILE__, line, "insert %s.%s = \"%.20s\": %d (%s), expected FS_EINVAL naming \"%s\"",
            r->table, r->col, r->bad ? r->bad : "NULL", rc, fs_errmsg(),
            r->insert_needle ? r->insert_needle : "");
  /* a valid row, then the same value by update */
  n = base_fields(f, r->table, cust, ord);
  rc = fs_insert(id, st, r->table, f, n);
  tu_checks++;
  if (rc != FS_OK) {
    tu_fail(__FILE__, line, "insert a valid %s row: %d (%s)", r->table, rc, fs_errmsg());
    return;
  }
  dbv = fs_store_db_version(st);
  rc = fs_update(st, r->table, id, (fs_field[]){{r->col, r->bad}}, 1);
  tu_checks++;
  if (rc != FS_EINVAL || (r->update_needle && !strstr(fs_errmsg(), r->update_needle)))
    tu_fail(__FILE__, line, "update %s.%s = \"%.20s\": %d (%s), expected FS_EINVAL naming \"%s\"",
            r->table, r->col, r->bad ? r->bad : "NULL", rc, fs_errmsg(),
            r->update_needle ? r->update_needle : "");
  tu_checks++;
  if (fs_store_db_version(st) != dbv)
    tu_fail(__FILE__, line, "a refused update of %s.%s wrote something", r->table, r->col);
  /* the column itself is writable: a good value passes both ways */
  if (r->good) {
    rc = fs_update(st, r->table, id, (fs_field[]){{r->col, r->good}}, 1);
    tu_checks++;
    if (rc != FS_OK)
      tu_fail(__FILE__, line, "update %s.%s = \"%.20s\": %d (%s)", r->table, r->col, r->good, rc,
              fs_errmsg());
    if (strcmp(r->table, "products") != 0) { /* products: the SKU is unique */
      n = with_field(f, base_fields(f, r->table, cust, ord), r->col, r->good);
      rc = fs_insert(NULL, st, r->table, f, n);
      tu_checks++;
      if (rc != FS_OK)
        tu_fail(__FILE__, line, "insert %s.%s = \"%.20s\": %d (%s)", r->table, r->col, r->good, rc,
                fs_errmsg());
    }
  }
}

static void test_line_qty_on_insert_and_update(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE], ord[FS_ID_SIZE], l[FS_ID_SIZE];
  add_customer(&e, "Acme", cust);
  CHECK_OK(fs_insert(ord, e.dev, "orders", (fs_field[]){{"customer_id", cust}}, 1));
  int64_t dbv = fs_store_db_version(e.dev);
  /* the write path itself, not only fs_order_line_add's own check */
  static const char *const bad[] = {"0", "-1", "-9223372036854775808", NULL};
  for (size_t i = 0; bad[i]; i++) {
    CHECK_ERR(fs_insert(NULL, e.dev, "order_lines",
                        (fs_field[]){{"order_id", ord}, {"sku", "A-1"}, {"qty", bad[i]}}, 3),
              FS_EINVAL);
    CHECK_CONTAINS(fs_errmsg(), "positive");
  }
  CHECK_ERR(
      fs_insert(NULL, e.dev, "order_lines", (fs_field[]){{"order_id", ord}, {"sku", "A-1"}}, 2),
      FS_EINVAL); /* no quantity at all */
  CHECK_EQ_INT(fs_store_db_version(e.dev), dbv);
  CHECK_OK(fs_insert(l, e.dev, "order_lines",
                     (fs_field[]){{"order_id", ord}, {"sku", "A-1"}, {"qty", "3"}}, 3));
  dbv = fs_store_db_version(e.dev);
  for (size_t i = 0; bad[i]; i++) {
    CHECK_ERR(fs_update(e.dev, "order_lines", l, (fs_field[]){{"qty", bad[i]}}, 1), FS_EINVAL);
    CHECK_CONTAINS(fs_errmsg(), "positive");
  }
  CHECK_ERR(fs_update(e.dev, "order_lines", l, (fs_field[]){{"qty", NULL}}, 1), FS_EINVAL);
  CHECK_ERR(fs_update(e.dev, "order_lines", l, (fs_field[]){{"qty", "2.5"}}, 1), FS_EINVAL);
  CHECK_EQ_INT(fs_store_db_version(e.dev), dbv);
  cJSON *o = view(e.dev, "order", ord);
  CHECK_EQ_INT(jnum(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "lines"), 0), "qty"), 3);
  cJSON_Delete(o);
  CHECK_OK(fs_update(e.dev, "order_lines", l, (fs_field[]){{"qty", "1"}}, 1));
  o = view(e.dev, "order", ord);
  CHECK_EQ_INT(jnum(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "lines"), 0), "qty"), 1);
  CHECK_EQ_INT(jnum(o, "total"), 1250);
  cJSON_Delete(o);
  env_teardown(&e);
}

static void test_every_rule_on_insert_and_update(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE], ord[FS_ID_SIZE];
  add_customer(&e, "Acme", cust);
  CHECK_OK(fs_insert(ord, e.dev, "orders", (fs_field[]){{"customer_id", cust}}, 1));
  char n201[202], n101[102], t4001[4002], c41[42];
  memset(n201, 'n', 201);
  n201[201] = '\0';
  memset(n101, 'r', 101);
  n101[101] = '\0';
  memset(t4001, 't', 4001);
  t4001[4001] = '\0';
  memset(c41, '1', 41);
  c41[41] = '\0';
  const rule dev_rules[] = {
      {"customers", "status", "vip", "key", "prospect, active, key, lost",
       "prospect, active, key, lost"},
      {"customers", "country", "de", "SE", "country", "country"},
      {"customers", "country", "DEU", "PL", "country", "country"},
      {"customers", "email", "no-at.example.com", "a@b.se", "email", "email"},
      {"customers", "name", n201, "Acme 2", "too long", "too long"},
      {"customers", "name", NULL, "Acme 3", "needs a name", "needs a name"},
      {"customers", "city", "Bad \xc3\x28", "Malmö", "UTF-8", "UTF-8"},
      {"customers", "vat", c41, "SE556677889901", "too long", "too long"},
      {"contacts", "email", "eve.example.com", "eve@example.com", "email", "email"},
      {"contacts", "role", n101, "Buyer", "too long", "too long"},
      {"contacts", "name", NULL, "Eva", "needs a name", "needs a name"},
      {"meetings", "kind", "party", "call", "visit, call, exhibition", "visit, call, exhibition"},
      {"meetings", "at", "tomorrow", "2026-02-01T09:00:00Z", NULL, NULL},
      {"meetings", "follow_up", "2026-13-01", "2026-04-01", "YYYY-MM-DD", "YYYY-MM-DD"},
      {"meetings", "follow_up", "2026-04-01T10:00", "2026-04-02", "too long", "too long"},
      {"meetings", "follow_up", "01.04.2026", "2026-05-01", "YYYY-MM-DD", "YYYY-MM-DD"},
      {"meetings", "notes", t4001, "short", "too long", "too long"},
      {"orders", "currency", "eur", "PLN", "3-letter", "3-letter"},
      {"orders", "currency", "E1R", "SEK", "3-letter", "3-letter"},
      {"orders", "currency", "EURO", "EUR", "too long", "too long"},
      {"orders", "discount_bp", "10001", "10000", "between 0 and 100", "between 0 and 100"},
      {"orders", "discount_bp", "-1", "0", "between 0 and 100", "between 0 and 100"},
      {"orders", "discount_bp", "ten", "5", "whole number", "whole number"},
      {"orders", "status", "shipped", NULL, "draft", "draft, submitted, confirmed, cancelled"},
      {"order_lines", "discount_bp", "10001", "500", "between 0 and 100", "between 0 and 100"},
      {"order_lines", "discount_bp", "-5", "0", "between 0 and 100", "between 0 and 100"},
      {"order_lines", "qty", "abc", "7", "whole number", "whole number"},
      {"complaints", "kind", "praise", "feedback", "complaint, feedback", "complaint, feedback"},
      {"complaints", "text", t4001, "broken leg", "too long", "too long"},
      {"complaints", "text", NULL, "late", "needs a text", "needs a text"},
      {"competitor_notes", "competitor", n201, "Rival AB", "too long", "too long"},
      {"deals", "stage", "closed", "negotiation", "is not one of", "is not one of"},
      {"deals", "stage", "lost", NULL, "lost reason", "lost reason"},
      {"deals", "stage", NULL, NULL, "needs a stage", "needs a stage"},
      {"deals", "probability", "101", "60", "0 to 100", "0 to 100"},
      {"deals", "probability", "-1", "0", "0 to 100", "0 to 100"},
      {"deals", "value", "-1", "0", "negative", "negative"},
      {"deals", "currency", "eur", "SEK", "3-letter", "3-letter"},
      {"deals", "currency", NULL, NULL, "needs its currency", "needs its currency"},
      {"deals", "close_date", "2026-13-01", "2026-06-30", "YYYY-MM-DD", "YYYY-MM-DD"},
      {"deals", "close_date", "30.06.2026", "2026-07-31", "YYYY-MM-DD", "YYYY-MM-DD"},
      {"deals", "title", n201, "Chairs", "too long", "too long"},
  };
  for (size_t i = 0; i < sizeof dev_rules / sizeof dev_rules[0]; i++)
    check_rule(__LINE__, e.dev, &dev_rules[i], cust, ord);
  /* Head-office data is validated by the same rules at head office. */
  const rule hq_rules[] = {
      {"products", "active", "2", "0", "1 or 0", "1 or 0"},
      {"products", "name", n201, "Ruler", "too long", "too long"},
      {"prices", "price", "-1", "0", "negative", "negative"},
      {"prices", "currency", "nok", NULL, "3-letter", "3-letter"},
  };
  for (size_t i = 0; i < sizeof hq_rules / sizeof hq_rules[0]; i++)
    check_rule(__LINE__, e.hq, &hq_rules[i], cust, ord);
  env_teardown(&e);
}

/* ISO 4217 minor units: amounts are parsed, stored and printed with the
 * currency's own decimals (JPY none, KWD three, EUR two), a price list
 * in yen is imported as whole yen, and an order in yen totals in yen. */
static void test_currency_minor_units(void) {
  int64_t m = -1;
  char out[40];
  CHECK_EQ_INT(fs_currency_digits("JPY"), 0);
  CHECK_EQ_INT(fs_currency_digits("KRW"), 0);
  CHECK_EQ_INT(fs_currency_digits("KWD"), 3);
  CHECK_EQ_INT(fs_currency_digits("BHD"), 3);
  CHECK_EQ_INT(fs_currency_digits("OMR"), 3);
  CHECK_EQ_INT(fs_currency_digits("EUR"), 2);
  CHECK_EQ_INT(fs_currency_digits("XYZ"), 2);
  CHECK_OK(fs_amount_parse(&m, "1200", "JPY"));
  CHECK_EQ_INT(m, 1200);
  CHECK_ERR(fs_amount_parse(&m, "1200.5", "JPY"), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "JPY has no minor unit");
  CHECK_OK(fs_amount_parse(&m, "12.345", "KWD"));
  CHECK_EQ_INT(m, 12345);
  CHECK_OK(fs_amount_parse(&m, "12.5", "KWD"));
  CHECK_EQ_INT(m, 12500);
  CHECK_ERR(fs_amount_parse(&m, "1.2345", "KWD"), FS_EINVAL);
  CHECK_OK(fs_amount_parse(&m, "12.5", "EUR"));
  CHECK_EQ_INT(m, 1250);
  CHECK_ERR(fs_amount_parse(&m, "12.345", "EUR"), FS_EINVAL);
  CHECK_ERR(fs_amount_parse(&m, "12,50", "EUR"), FS_EINVAL);
  fs_amount_format(out, 1234567, "JPY");
  CHECK_STR(out, "1 234 567");
  fs_amount_format(out, 1234567, "KWD");
  CHECK_STR(out, "1 234.567");
  fs_amount_format(out, -1234567, "EUR");
  CHECK_STR(out, "-12 345.67");
  fs_amount_format(out, 5, "OMR");
  CHECK_STR(out, "0.005");

  env e;
  env_setup(&e);
  import(&e, "prices", "sku,currency,price\nA-1,JPY,1980\nA-1,KWD,3.250\n", 2);
  char *p = file_in(&e, "yen.csv", "sku,currency,price\nB-2,JPY,19.80\n");
  CHECK_ERR(fs_hq_import_csv(NULL, e.office, "prices", p), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "line 2");
  CHECK_CONTAINS(fs_errmsg(), "JPY");
  free(p);
  pull(&e);
  char cust[FS_ID_SIZE], jpy[FS_ID_SIZE], kwd[FS_ID_SIZE], l[FS_ID_SIZE];
  add_customer(&e, "Tanaka Shoji", cust);
  CHECK_OK(
      fs_insert(jpy, e.dev, "orders", (fs_field[]){{"customer_id", cust}, {"currency", "JPY"}}, 2));
  CHECK_OK(fs_order_line_add(l, e.dev, jpy, "A-1", 3, 0));
  cJSON *o = view(e.dev, "order", jpy);
  CHECK_EQ_INT(jnum(o, "total"), 5940); /* 3 x 1980 yen, not 59.40 */
  cJSON_Delete(o);
  CHECK_OK(
      fs_insert(kwd, e.dev, "orders", (fs_field[]){{"customer_id", cust}, {"currency", "KWD"}}, 2));
  CHECK_OK(fs_order_line_add(l, e.dev, kwd, "A-1", 2, 0));
  o = view(e.dev, "order", kwd);
  CHECK_EQ_INT(jnum(o, "total"), 6500); /* 2 x 3.250 dinar in fils */
  cJSON_Delete(o);
  env_teardown(&e);
}

int main(void) {
  TEST_RUN(test_catalog_arrives);
  TEST_RUN(test_customer_defaults_and_validation);
  TEST_RUN(test_unknown_customer);
  TEST_RUN(test_device_write_policy);
  TEST_RUN(test_orders);
  TEST_RUN(test_balances_in_customer_view);
  TEST_RUN(test_csv_refusals);
  TEST_RUN(test_csv_lf_line_ends);
  TEST_RUN(test_hq_assign);
  TEST_RUN(test_price_snapshot_per_currency);
  TEST_RUN(test_line_qty_on_insert_and_update);
  TEST_RUN(test_every_rule_on_insert_and_update);
  TEST_RUN(test_currency_minor_units);
  return tu_finish();
}
