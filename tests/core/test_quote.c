/*
 * test_quote.c — the rules of quotes (core/quote.c) through the library, on
 * a real device home whose catalog arrives from a head-office home as in
 * production (imported there, merged into the device), and what head office
 * accepts when the device's changes are merged there with the device's
 * manager as sender (so every domain rule of a push runs).
 *
 * Covers: defaults (draft, EUR, valid 30 days, the number DEVID6-Qn); the
 * status moves the library refuses (a new quote not a draft, draft ->
 * accepted, accepted without its order, back to draft), fixed columns
 * (currency, a line's price); fs_quote_accept keeping the quote's prices
 * for an order whose product was since made inactive, and refusing an
 * expired quote (the store's clock moved, FIELDSYNC_TEST_NOW_MS); an order line given a price
 * keeps it only when it is its quote's; head office accepting an accepted
 * quote's order line at the quoted price even once its price list no
 * longer holds that price (the quote rule alone admits it), and refusing
 * it for an order without the quote.
 */
#include <cjson/cJSON.h>
#include <fieldsync/device.h>
#include <fieldsync/server.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "merge.h"
#include "storeInt.h"
#include "testutil.h"
#include "util.h"

typedef struct env {
  char *dir;
  fs_device *device;
  fs_hq *office;
  fs_store *dev, *hq;
} env;

static void import(env *e, const char *kind, const char *csv) {
  char p[600];
  snprintf(p, sizeof p, "%s/import.csv", e->dir);
  CHECK(tu_write_file(p, csv) == 0);
  CHECK_OK(fs_hq_import_csv(NULL, e->office, kind, p));
}

/* Every change of `from` merged into `to`; the refusals counted. */
static size_t transfer(fs_store *from, fs_store *to, const char *sender_mgr) {
  fsi_merge_cursor c = {0, -1, ""};
  fsi_merge_filter f = {fs_store_site(to), NULL, 0, 0};
  fsi_batch *b = fsi_change_batch_new();
  int more = 1;
  size_t refused = 0;
  while (more) {
    fsi_merge_cursor next;
    int rc = fsi_merge_changes_since(from, &c, &f, 1000, b, &next, &more);
    CHECK_OK(rc);
    if (rc) break;
    fsi_merge_opts o = {fs_store_site(from), sender_mgr};
    fsi_merge_result res;
    CHECK_OK(fsi_merge_apply(to, b, &o, &res));
    refused += res.refused;
    fsi_merge_result_free(&res);
    c = next;
  }
  fsi_change_batch_free(b);
  return refused;
}

static void pull(env *e) { CHECK_EQ_INT(transfer(e->hq, e->dev, NULL), 0); }
static size_t push(env *e) { return transfer(e->dev, e->hq, "alice"); }

static void env_setup(env *e) {
  char home[512], hq[512];
  memset(e, 0, sizeof *e);
  e->dir = tu_tmpdir("quote");
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
  import(e, "products", "sku,name,unit,active\nA-1,Anvil,pcs,1\nB-2,Bolt,box,1\n");
  import(e, "prices", "sku,currency,price\nA-1,EUR,12.50\nB-2,EUR,3\n");
  CHECK_OK(fs_store_set_hq_site(e->dev, fs_store_site(e->hq)));
  pull(e);
}

static void env_teardown(env *e) {
  unsetenv("FIELDSYNC_TEST_NOW_MS");
  fs_device_close(e->device);
  fs_hq_close(e->office);
  tu_rmrf(e->dir);
  free(e->dir);
}

static cJSON *view(fs_store *st, const char *name, const char *arg) {
  char *j = NULL;
  CHECK_OK(fs_view_json(&j, st, name, arg));
  cJSON *doc = j ? cJSON_Parse(j) : NULL;
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

static const cJSON *line(const cJSON *doc, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "lines"), i);
}

/* A sent quote for cust with one line of A-1 x qty. */
static void sent_quote(env *e, const char *cust, char q[FS_ID_SIZE], int64_t qty) {
  CHECK_OK(fs_insert(q, e->dev, "quotes", (fs_field[]){{"customer_id", cust}}, 1));
  CHECK_OK(fs_quote_line_add(NULL, e->dev, q, "A-1", qty, 500));
  CHECK_OK(fs_quote_send(e->dev, q));
}

/* ------------------------------------------------------------- tests */

static void test_defaults_and_moves(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE], q[FS_ID_SIZE], l[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, e.dev, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  CHECK_ERR(
      fs_insert(NULL, e.dev, "quotes", (fs_field[]){{"customer_id", cust}, {"status", "sent"}}, 2),
      FS_EINVAL);
  CHECK_ERR(fs_insert(NULL, e.dev, "quotes",
                      (fs_field[]){{"customer_id", cust}, {"valid_until", "2026-02-30"}}, 2),
            FS_EINVAL);
  CHECK_OK(fs_insert(q, e.dev, "quotes", (fs_field[]){{"customer_id", cust}}, 1));
  cJSON *doc = view(e.dev, "quote", q);
  CHECK_STR(jstr(doc, "status"), "draft");
  CHECK_STR(jstr(doc, "currency"), "EUR");
  CHECK(jstr(doc, "valid_until") && strlen(jstr(doc, "valid_until")) == 10);
  const char *num = jstr(doc, "number");
  CHECK(num && strlen(num) == 9 && !strcmp(num + 6, "-Q1"));
  cJSON_Delete(doc);
  CHECK_OK(fs_quote_line_add(l, e.dev, q, "A-1", 4, 0));
  CHECK_ERR(fs_quote_line_add(NULL, e.dev, q, "A-1", 0, 0), FS_EINVAL);
  CHECK_ERR(fs_update(e.dev, "quote_lines", l, (fs_field[]){{"unit_price", "1"}}, 1), FS_EINVAL);
  CHECK_ERR(fs_update(e.dev, "quotes", q, (fs_field[]){{"currency", "PLN"}}, 1), FS_EINVAL);
  CHECK_ERR(fs_update(e.dev, "quotes", q, (fs_field[]){{"status", "accepted"}}, 1), FS_ECONFLICT);
  CHECK_ERR(fs_update(e.dev, "quotes", q, (fs_field[]){{"status", "pending"}}, 1), FS_ECONFLICT);
  CHECK_ERR(fs_quote_accept(NULL, e.dev, q), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "send it first");
  CHECK_OK(fs_quote_send(e.dev, q));
  /* accepted only with its order; never back to draft */
  CHECK_ERR(fs_update(e.dev, "quotes", q, (fs_field[]){{"status", "accepted"}}, 1), FS_EINVAL);
  CHECK_ERR(fs_update(e.dev, "quotes", q, (fs_field[]){{"status", "draft"}}, 1), FS_ECONFLICT);
  CHECK_ERR(fs_update(e.dev, "quote_lines", l, (fs_field[]){{"qty", "9"}}, 1), FS_ECONFLICT);
  CHECK_ERR(fs_delete(e.dev, "quote_lines", l), FS_ECONFLICT);
  CHECK_OK(fs_update(e.dev, "quotes", q, (fs_field[]){{"notes", "called"}}, 1));
  char resolved[FS_ID_SIZE];
  doc = view(e.dev, "quote", q);
  CHECK_OK(fs_resolve_id(resolved, e.dev, "quotes", jstr(doc, "number")));
  CHECK_STR(resolved, q);
  cJSON_Delete(doc);
  CHECK_EQ_INT(push(&e), 0);
  env_teardown(&e);
}

/* The order keeps the quote's prices, also for a product no longer sold;
 * a price given for a line stands only when it is the quote's. */
static void test_accept_prices(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE], q[FS_ID_SIZE], ord[FS_ID_SIZE], plain[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, e.dev, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  sent_quote(&e, cust, q, 7);
  CHECK_EQ_INT(push(&e), 0);
  import(&e, "prices", "sku,currency,price\nA-1,EUR,20.00\n");
  import(&e, "products", "sku,name,unit,active\nA-1,Anvil,pcs,0\n");
  pull(&e);
  CHECK_OK(fs_quote_accept(ord, e.dev, q));
  cJSON *doc = view(e.dev, "order", ord);
  CHECK_STR(jstr(doc, "quote_id"), q);
  CHECK_EQ_INT(jnum(line(doc, 0), "unit_price"), 1250);
  CHECK_EQ_INT(jnum(line(doc, 0), "qty"), 7);
  CHECK_EQ_INT(jnum(line(doc, 0), "discount_bp"), 500);
  cJSON_Delete(doc);
  /* a price that is not the quote's is not kept: the list's is taken */
  CHECK_OK(fs_insert(
      NULL, e.dev, "order_lines",
      (fs_field[]){{"order_id", ord}, {"sku", "B-2"}, {"qty", "1"}, {"unit_price", "1"}}, 4));
  CHECK_OK(fs_insert(plain, e.dev, "orders", (fs_field[]){{"customer_id", cust}}, 1));
  CHECK_ERR(
      fs_insert(
          NULL, e.dev, "order_lines",
          (fs_field[]){{"order_id", plain}, {"sku", "A-1"}, {"qty", "1"}, {"unit_price", "1250"}},
          4),
      FS_EINVAL); /* no quote: the list, where A-1 is no longer sold */
  doc = view(e.dev, "order", ord);
  CHECK_EQ_INT(jnum(line(doc, 1), "unit_price"), 300);
  cJSON_Delete(doc);
  doc = view(e.dev, "quote", q);
  CHECK_STR(jstr(doc, "status"), "accepted");
  CHECK_STR(jstr(doc, "order_id"), ord);
  cJSON_Delete(doc);
  CHECK_ERR(fs_quote_accept(NULL, e.dev, q), FS_ECONFLICT);
  /* head office no longer lists 12.50 for A-1 at all: the quote admits it */
  CHECK_OK(fsi_sql_run(e.hq, "test", "DELETE FROM fs_price_log WHERE sku = 'A-1'", NULL));
  CHECK_OK(fsi_sql_run(e.hq, "test", "DELETE FROM prices WHERE sku = 'A-1'", NULL));
  CHECK_EQ_INT(push(&e), 0);
  cJSON *ex = view(e.hq, "export", NULL);
  const cJSON *it;
  int at_quote = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ex, "order_lines")) {
    if (jstr(it, "order_id") && !strcmp(jstr(it, "order_id"), ord) &&
        jnum(it, "unit_price") == 1250)
      at_quote++;
  }
  CHECK_EQ_INT(at_quote, 1);
  cJSON_Delete(ex);
  env_teardown(&e);
}

/* The same line on an order that does not name the quote is refused by
 * head office once its price list no longer holds the price. */
static void test_hq_refuses_without_quote(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE], q[FS_ID_SIZE], ord[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, e.dev, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  sent_quote(&e, cust, q, 2);
  CHECK_EQ_INT(push(&e), 0);
  CHECK_OK(fs_quote_accept(ord, e.dev, q));
  /* the order forgets its quote on the device (a raw write, as a tampered
   * device could) before it is pushed */
  CHECK_OK(fsi_sql_run(e.dev, "test", "UPDATE orders SET quote_id = NULL WHERE id = ?1", "t", ord));
  CHECK_OK(fsi_sql_run(e.hq, "test", "DELETE FROM fs_price_log WHERE sku = 'A-1'", NULL));
  CHECK_OK(fsi_sql_run(e.hq, "test", "DELETE FROM prices WHERE sku = 'A-1'", NULL));
  /* only the order's line is refused: its price is no list's, and no quote
   * of its order gave it */
  CHECK_EQ_INT(push(&e), 1);
  cJSON *ex = view(e.hq, "export", NULL);
  const cJSON *it;
  int lines = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ex, "order_lines")) {
    if (jstr(it, "order_id") && !strcmp(jstr(it, "order_id"), ord)) lines++;
  }
  CHECK_EQ_INT(lines, 0);
  cJSON_Delete(ex);
  env_teardown(&e);
}

static void test_expired(void) {
  env e;
  env_setup(&e);
  char cust[FS_ID_SIZE], q[FS_ID_SIZE], d[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, e.dev, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  sent_quote(&e, cust, q, 1);
  CHECK_OK(fs_insert(d, e.dev, "quotes", (fs_field[]){{"customer_id", cust}}, 1));
  CHECK_OK(fs_quote_line_add(NULL, e.dev, d, "B-2", 1, 0));
  /* the store's clock 32 days on, past the default 30 days */
  char later[32];
  snprintf(later, sizeof later, "%lld", (long long)time(NULL) * 1000 + 32LL * 24 * 3600 * 1000);
  setenv("FIELDSYNC_TEST_NOW_MS", later, 1);
  CHECK_ERR(fs_quote_accept(NULL, e.dev, q), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "expired on");
  CHECK_ERR(fs_quote_send(e.dev, d), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "expired");
  cJSON *doc = view(e.dev, "quotes", NULL);
  const cJSON *it;
  int expired = 0;
  cJSON_ArrayForEach(it, doc) expired += jnum(it, "expired") == 1;
  CHECK_EQ_INT(expired, 2);
  cJSON_Delete(doc);
  unsetenv("FIELDSYNC_TEST_NOW_MS");
  CHECK_OK(fs_quote_reject(e.dev, q, "late"));
  env_teardown(&e);
}

int main(void) {
  TEST_RUN(test_defaults_and_moves);
  TEST_RUN(test_accept_prices);
  TEST_RUN(test_hq_refuses_without_quote);
  TEST_RUN(test_expired);
  return tu_finish();
}
