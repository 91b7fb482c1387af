/*
 * test_e2e_quotes.c — quotes through head office: the real fieldsync-server
 * on 127.0.0.1, real device homes, and a hostile device (hostile.h).
 *
 * quote_to_order: a quote made and sent on Anna's laptop syncs to head
 * office; head office raises a price; the laptop syncs, the customer
 * accepts, and the order (quote_id set, lines at the quoted price, not
 * today's) reaches head office unrefused, the quote accepted with its
 * order; the laptop and head office's subset for anna are the same.
 * Then a quote made, sent and accepted offline travels with its order in
 * one push, quote lines first, and head office takes it all.
 *
 * hostile_quote_price: a device that claims a quote price it never had.
 * In one push: a quote whose line has a price the list never held, and an
 * order "accepted" from it at that price; an order naming Anna's real
 * quote with a line below the quote's price, and with the quote's price on
 * another SKU.  Head office refuses every one of those lines (and keeps
 * none of them), and still takes an order line at the real quote's price.
 * A change to a line of the sent quote, made after it was sent, is refused
 * as frozen.
 */
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "hostile.h"

static char *g_dir;

static const cJSON *row_of(const cJSON *export_doc, const char *table, const char *id) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(export_doc, table)) {
    const char *v = e2e_str(it, "id");
    if (v && !strcmp(v, id)) return it;
  }
  return NULL;
}

static cJSON *hq_export(int line, const e2e_server *s) {
  char *all = e2e_export_hq(line, s, NULL);
  cJSON *doc = all ? cJSON_Parse(all) : NULL;
  free(all);
  tu_checks++;
  if (!doc) tu_fail(__FILE__, line, "head office's export is not JSON");
  return doc;
}

/* The order lines of order `oid` in an export. */
static int lines_of(const cJSON *doc, const char *oid, long long prices[8]) {
  const cJSON *it;
  int n = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "order_lines")) {
    const char *o = e2e_str(it, "order_id");
    if (o && !strcmp(o, oid) && n < 8) prices[n++] = e2e_int(it, "unit_price");
  }
  return n;
}

static void test_quote_to_order(void) {
  e2e_server *s = e2e_server_new(g_dir, "hq-quotes");
  char *anna = NULL, cust[64], q[64], q2[64], prices[4096];
  cJSON *doc = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  if (!(anna = e2e_device_new(__LINE__, s, g_dir, "anna-quotes", "anna"))) goto done;
  SYNC(anna);
  ADD(anna, cust, "customer", "add", "--name", "Nordwind GmbH", "--json");
  ADD(anna, q, "quote", "new", "--customer", "Nordwind GmbH", "--discount", "5", "--json");
  FS_RUN(anna, "quote", "line", q, "--sku", "CHAIR-01", "--qty", "10");
  FS_RUN(anna, "quote", "line", q, "--sku", "DESK-02", "--qty", "2", "--discount", "10");
  FS_RUN(anna, "quote", "send", q);
  SYNC(anna);
  doc = hq_export(__LINE__, s);
  CHECK_STR(e2e_str(row_of(doc, "quotes", q), "status"), "sent");
  CHECK(e2e_str(row_of(doc, "quotes", q), "number") != NULL);
  CHECK_EQ_INT(e2e_rows_where(doc, "quote_lines", "quote_id", q), 2);
  cJSON_Delete(doc);

  /* head office raises the chair's price; the laptop learns it */
  snprintf(prices, sizeof prices, "%s/prices-up.csv", g_dir);
  CHECK(tu_write_file(prices, "sku,currency,price\nCHAIR-01,EUR,310.00\n") == 0);
  HQ_RUN(s, "import", "prices", prices);
  SYNC(anna);
  doc = FS_JSON(anna, "quote", "accept", q, "--json");
  char order[64];
  snprintf(order, sizeof order, "%s", e2e_str(doc, "order_id") ? e2e_str(doc, "order_id") : "");
  cJSON_Delete(doc);
  FS_RUN(anna, "order", "line", order, "--sku", "CHAIR-01", "--qty", "1");
  SYNC(anna); /* exits 0: nothing refused */
  doc = hq_export(__LINE__, s);
  const cJSON *o = row_of(doc, "orders", order);
  CHECK_STR(e2e_str(o, "quote_id"), q);
  CHECK_STR(e2e_str(o, "status"), "draft");
  CHECK_EQ_INT(e2e_int(o, "discount_bp"), 500);
  CHECK_STR(e2e_str(row_of(doc, "quotes", q), "status"), "accepted");
  CHECK_STR(e2e_str(row_of(doc, "quotes", q), "order_id"), order);
  long long p[8];
  CHECK_EQ_INT(lines_of(doc, order, p), 3);
  /* the quoted chair, the quoted desk, and the chair added today */
  int quoted_chair = 0, today_chair = 0;
  for (int i = 0; i < 3; i++) quoted_chair += p[i] == 28900, today_chair += p[i] == 31000;
  CHECK_EQ_INT(quoted_chair, 1);
  CHECK_EQ_INT(today_chair, 1);
  cJSON_Delete(doc);
  SAME_AS_HQ(anna, s, "anna");

  /* offline from start to end: the quote and its order in one push */
  ADD(anna, q2, "quote", "new", "--customer", cust, "--json");
  FS_RUN(anna, "quote", "line", q2, "--sku", "LAMP-03", "--qty", "3");
  FS_RUN(anna, "quote", "send", q2);
  doc = FS_JSON(anna, "quote", "accept", q2, "--json");
  char order2[64];
  snprintf(order2, sizeof order2, "%s", e2e_str(doc, "order_id") ? e2e_str(doc, "order_id") : "");
  cJSON_Delete(doc);
  FS_RUN(anna, "order", "submit", order2);
  SYNC(anna);
  doc = hq_export(__LINE__, s);
  CHECK_STR(e2e_str(row_of(doc, "orders", order2), "quote_id"), q2);
  CHECK_STR(e2e_str(row_of(doc, "orders", order2), "status"), "submitted");
  CHECK_EQ_INT(lines_of(doc, order2, p), 1);
  CHECK_STR(e2e_str(row_of(doc, "quotes", q2), "status"), "accepted");
  cJSON_Delete(doc);
  SAME_AS_HQ(anna, s, "anna");
done:
  free(anna);
  e2e_server_free(s);
}

/* Pushes b and expects 200 with exactly `refused` refusals, each naming a
 * price. */
static void push_expect(int line, hostile *h, fsi_batch *b, int refused) {
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  int rc = hostile_push(h, b, &r);
  tu_checks += 2;
  if (rc != FS_OK || r.status != 200) {
    tu_fail(__FILE__, line, "push: %s status %ld", rc ? fs_errmsg() : "", r.status);
    fsi_http_response_clear(&r);
    return;
  }
  cJSON *ack = cJSON_ParseWithLength((const char *)r.body, r.len);
  fsi_http_response_clear(&r);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(ack, "refused"), *it;
  if (cJSON_GetArraySize(arr) != refused)
    tu_fail(__FILE__, line, "push: %d refused, expected %d", cJSON_GetArraySize(arr), refused);
  cJSON_ArrayForEach(it, arr) {
    const char *why = e2e_str(it, "reason");
    tu_checks++;
    if (!why || !strstr(why, "price"))
      tu_fail(__FILE__, line, "refusal \"%s\" does not name the price", why ? why : "");
  }
  cJSON_Delete(ack);
}

static const char *const QUOTE_COLS[] = {
    "customer_id", "status",  "currency", "discount_bp", "valid_until", "created_at", "sent_at",
    "decided_at",  "manager", "number",   "order_id",    "deal_id",     "notes",      NULL};
static const char *const QLINE_COLS[] = {"quote_id",   "customer_id", "sku",         "qty",
                                         "unit_price", "currency",    "discount_bp", NULL};
static const char *const ORDER_COLS[] = {"customer_id", "status",       "currency", "discount_bp",
                                         "created_at",  "submitted_at", "manager",  "number",
                                         "quote_id",    "deal_id",      NULL};
static const char *const OLINE_COLS[] = {"order_id",   "customer_id", "sku",         "qty",
                                         "unit_price", "currency",    "discount_bp", NULL};

static void test_hostile_quote_price(void) {
  e2e_server *s = e2e_server_new(g_dir, "hq-hostile-quotes");
  char *anna = NULL, cust[64], q[64];
  hostile h;
  int open = 0;
  if (!s || e2e_server_start(s, 0)) goto done;
  if (!(anna = e2e_device_new(__LINE__, s, g_dir, "anna-hostile", "anna"))) goto done;
  SYNC(anna);
  ADD(anna, cust, "customer", "add", "--name", "Eigene GmbH", "--json");
  ADD(anna, q, "quote", "new", "--customer", cust, "--json");
  FS_RUN(anna, "quote", "line", q, "--sku", "CHAIR-01", "--qty", "40");
  FS_RUN(anna, "quote", "send", q);
  SYNC(anna);
  if (hostile_open(&h, s, anna) != 0) goto done;
  open = 1;

  char fq[FS_ID_SIZE], fql[FS_ID_SIZE], o1[FS_ID_SIZE], l1[FS_ID_SIZE], o2[FS_ID_SIZE],
      l2[FS_ID_SIZE], l3[FS_ID_SIZE], l4[FS_ID_SIZE];
  fs_uuid7(fq), fs_uuid7(fql), fs_uuid7(o1), fs_uuid7(l1), fs_uuid7(o2), fs_uuid7(l2);
  fs_uuid7(l3), fs_uuid7(l4);
  int64_t now = hostile_now_hlc();
  /* one push, in change order: a forged quote and the order "accepted"
   * from it, then an order naming the real quote */
  fsi_batch *b = hb_new("quotes", QUOTE_COLS);
  uint16_t tq = 0, tql = hb_table(b, "quote_lines", QLINE_COLS);
  uint16_t to = hb_table(b, "orders", ORDER_COLS), tol = hb_table(b, "order_lines", OLINE_COLS);
  const char *qv[] = {cust, "sent", "EUR", "#0", "2099-01-01", "~", "~",
                      "~",  "anna", "~",   "~",  "~",          "~"};
  hb_row_in(b, tq, fq, 1, now + 3, h.site, qv); /* sent after its line */
  const char *qlv[] = {fq, cust, "CHAIR-01", "#40", "#100", "EUR", "#0"};
  hb_row_in(b, tql, fql, 1, now + 2, h.site, qlv);
  const char *ov1[] = {cust, "draft", "EUR", "#0", "~", "~", "anna", "~", fq, "~"};
  hb_row_in(b, to, o1, 1, now + 4, h.site, ov1);
  const char *lv1[] = {o1, cust, "CHAIR-01", "#40", "#100", "EUR", "#0"};
  hb_row_in(b, tol, l1, 1, now + 5, h.site, lv1);
  const char *ov2[] = {cust, "draft", "EUR", "#0", "~", "~", "anna", "~", q, "~"};
  hb_row_in(b, to, o2, 1, now + 6, h.site, ov2);
  /* below the real quote's price */
  const char *lv2[] = {o2, cust, "CHAIR-01", "#40", "#20000", "EUR", "#0"};
  hb_row_in(b, tol, l2, 1, now + 7, h.site, lv2);
  /* the quote's chair price on a lamp */
  const char *lv3[] = {o2, cust, "LAMP-03", "#1", "#28900", "EUR", "#0"};
  hb_row_in(b, tol, l3, 1, now + 8, h.site, lv3);
  /* the real quote's price, on the quote's SKU: taken */
  const char *lv4[] = {o2, cust, "CHAIR-01", "#40", "#28900", "EUR", "#0"};
  hb_row_in(b, tol, l4, 1, now + 9, h.site, lv4);
  push_expect(__LINE__, &h, b, 4);
  fsi_change_batch_free(b);
  cJSON *doc = hq_export(__LINE__, s);
  CHECK(row_of(doc, "quote_lines", fql) == NULL);
  CHECK(row_of(doc, "order_lines", l1) == NULL);
  CHECK(row_of(doc, "order_lines", l2) == NULL);
  CHECK(row_of(doc, "order_lines", l3) == NULL);
  CHECK_EQ_INT(e2e_int(row_of(doc, "order_lines", l4), "unit_price"), 28900);
  cJSON_Delete(doc);

  /* the real quote was sent: a later change to its line is refused */
  doc = FS_JSON(anna, "quote", "show", q, "--json");
  const cJSON *line = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "lines"), 0);
  char qline[64];
  snprintf(qline, sizeof qline, "%s", e2e_str(line, "id") ? e2e_str(line, "id") : "");
  cJSON_Delete(doc);
  b = hb_new("quote_lines", QLINE_COLS);
  const char *edit[] = {q, cust, "CHAIR-01", "#400", "#28900", "EUR", "#0"};
  hb_row(b, qline, 1, hostile_now_hlc() + 100, h.site, edit);
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  tu_checks += 2;
  CHECK(hostile_push(&h, b, &r) == FS_OK && r.status == 200);
  CHECK_CONTAINS((const char *)r.body, "a sent quote's lines are frozen");
  fsi_http_response_clear(&r);
  fsi_change_batch_free(b);
  doc = hq_export(__LINE__, s);
  CHECK_EQ_INT(e2e_int(row_of(doc, "quote_lines", qline), "qty"), 40);
  cJSON_Delete(doc);
done:
  if (open) hostile_close(&h);
  free(anna);
  e2e_server_free(s);
}

int main(void) {
  g_dir = tu_tmpdir("e2e-quotes");
  TEST_RUN(test_quote_to_order);
  TEST_RUN(test_hostile_quote_price);
  e2e_stop_all();
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
