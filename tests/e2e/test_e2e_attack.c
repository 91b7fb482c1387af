/*
 * test_e2e_attack.c — head office against a device that breaks the rules
 * of quotes, orders, tasks and norms (declaration version 3): the real
 * fieldsync-server on 127.0.0.1, real device homes, and a hostile device
 * (hostile.h) pushing raw signed batches in an enrolled device's name.
 *
 * quote_rules: a quote head office holds as a draft, sent and accepted
 * offline, arrives accepted in one push and is taken.  Anna's quote is
 * sent.  Her device then pushes the quote back to draft (which would
 * unfreeze its lines), a raised discount on it, a delete of it, and, on a
 * draft quote of one customer, a line that names another of her
 * customers.  Head office refuses each with a reason and keeps the quote
 * as it was; Anna's laptop still equals her subset.
 *
 * cross_manager: Bob's device pushes a line into Anna's draft order (the
 * line naming one of Bob's customers), a norms row (head-office data), and
 * a task of no customer recorded for Anna, and an order of his customer
 * that names Anna's quote, and a rewrite of Anna's own task of no customer
 * (its id known).  Each is refused; Anna's order keeps its lines
 * and both laptops equal their subsets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "hostile.h"

static char *g_dir;

static const cJSON *row_of(const cJSON *doc, const char *table, const char *id) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, table)) {
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

/* Pushes b and expects 200 with exactly one refusal whose reason contains
 * `needle`. */
static void refused_one(int line, hostile *h, fsi_batch *b, const char *needle) {
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  int rc = hostile_push(h, b, &r);
  fsi_change_batch_free(b);
  tu_checks += 3;
  if (rc != FS_OK || r.status != 200) {
    tu_fail(__FILE__, line, "push: %s status %ld", rc ? fs_errmsg() : "", r.status);
    fsi_http_response_clear(&r);
    return;
  }
  cJSON *ack = cJSON_ParseWithLength((const char *)r.body, r.len);
  fsi_http_response_clear(&r);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(ack, "refused");
  const char *why = e2e_str(cJSON_GetArrayItem(arr, 0), "reason");
  if (cJSON_GetArraySize(arr) != 1)
    tu_fail(__FILE__, line, "push: %d refused, expected 1", cJSON_GetArraySize(arr));
  else if (!why || !strstr(why, needle))
    tu_fail(__FILE__, line, "refusal \"%s\" does not say \"%s\"", why ? why : "", needle);
  cJSON_Delete(ack);
}
#define REFUSED_ONE(h, b, needle) refused_one(__LINE__, h, b, needle)

static const char *const QUOTE_COLS[] = {
    "customer_id", "status",  "currency", "discount_bp", "valid_until", "created_at", "sent_at",
    "decided_at",  "manager", "number",   "order_id",    "deal_id",     "notes",      NULL};
static const char *const LINE_COLS[] = {"order_id",   "customer_id", "sku",         "qty",
                                        "unit_price", "currency",    "discount_bp", NULL};
static const char *const QLINE_COLS[] = {"quote_id",   "customer_id", "sku",         "qty",
                                         "unit_price", "currency",    "discount_bp", NULL};

/* The values of `row` (an export row) for cols, as hb_row takes them. */
static void values_of(const cJSON *row, const char *const *cols, const char **out, char num[][24]) {
  for (size_t i = 0; cols[i]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, cols[i]);
    if (cJSON_IsString(v)) {
      out[i] = v->valuestring;
    } else if (cJSON_IsNumber(v)) {
      snprintf(num[i], 24, "#%lld", (long long)v->valuedouble);
      out[i] = num[i];
    } else {
      out[i] = "~";
    }
  }
}

static void test_quote_rules(void) {
  e2e_server *s = e2e_server_new(g_dir, "hq-attack-quotes");
  char *anna = NULL, c1[64], c2[64], q[64], q2[64], d[64], ql[64];
  hostile h;
  int open = 0;
  cJSON *doc = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  if (!(anna = e2e_device_new(__LINE__, s, g_dir, "anna-attack", "anna"))) goto done;
  SYNC(anna);
  ADD(anna, c1, "customer", "add", "--name", "Eigene GmbH", "--json");
  ADD(anna, c2, "customer", "add", "--name", "Zweite KG", "--json");
  ADD(anna, q, "quote", "new", "--customer", c1, "--json");
  ADD(anna, ql, "quote", "line", q, "--sku", "CHAIR-01", "--qty", "40", "--json");
  FS_RUN(anna, "quote", "send", q);
  ADD(anna, d, "quote", "new", "--customer", c1, "--json");
  /* held as a draft at head office, then sent and accepted offline: the
   * one push that moves it two steps on is taken */
  ADD(anna, q2, "quote", "new", "--customer", c1, "--json");
  FS_RUN(anna, "quote", "line", q2, "--sku", "LAMP-03", "--qty", "3");
  SYNC(anna);
  FS_RUN(anna, "quote", "send", q2);
  FS_RUN(anna, "quote", "accept", q2);
  SYNC(anna);
  doc = hq_export(__LINE__, s);
  CHECK_STR(e2e_str(row_of(doc, "quotes", q2), "status"), "accepted");
  cJSON_Delete(doc);
  doc = NULL;
  if (hostile_open(&h, s, anna) != 0) goto done;
  open = 1;

  /* the sent quote back to draft, every other value as head office holds */
  doc = hq_export(__LINE__, s);
  const char *v[16];
  char num[16][24];
  values_of(row_of(doc, "quotes", q), QUOTE_COLS, v, num);
  CHECK_STR(v[1], "sent");
  v[1] = "draft";
  fsi_batch *b = hb_new("quotes", QUOTE_COLS);
  hb_row(b, q, 1, hostile_now_hlc() + 100, h.site, v);
  REFUSED_ONE(&h, b, "cannot become draft");

  /* the sent quote's discount raised */
  v[1] = "sent";
  v[3] = "#5000";
  b = hb_new("quotes", QUOTE_COLS);
  hb_row(b, q, 1, hostile_now_hlc() + 150, h.site, v);
  REFUSED_ONE(&h, b, "its discount_bp can no longer be changed");
  v[3] = "#0";

  /* a delete of the sent quote (a tombstone carries no values) */
  b = hb_new("quotes", QUOTE_COLS);
  fsi_rowchange *t = hb_row(b, q, 2, hostile_now_hlc() + 200, h.site, v);
  t->nvals = 0;
  REFUSED_ONE(&h, b, "cannot be deleted");
  cJSON_Delete(doc);

  /* a line on the draft quote of Eigene that names Zweite */
  char fl[FS_ID_SIZE];
  fs_uuid7(fl);
  b = hb_new("quote_lines", QLINE_COLS);
  const char *lv[] = {d, c2, "CHAIR-01", "#1", "#28900", "EUR", "#0"};
  hb_row(b, fl, 1, hostile_now_hlc() + 300, h.site, lv);
  REFUSED_ONE(&h, b, "its quote's customer");

  doc = hq_export(__LINE__, s);
  CHECK_STR(e2e_str(row_of(doc, "quotes", q), "status"), "sent");
  CHECK_EQ_INT(e2e_int(row_of(doc, "quotes", q), "discount_bp"), 0);
  CHECK(row_of(doc, "quote_lines", fl) == NULL);
  CHECK_EQ_INT(e2e_int(row_of(doc, "quote_lines", ql), "qty"), 40);
  cJSON_Delete(doc);
  doc = NULL;
  SYNC(anna);
  SAME_AS_HQ(anna, s, "anna");
done:
  cJSON_Delete(doc);
  if (open) hostile_close(&h);
  free(anna);
  e2e_server_free(s);
}

static void test_cross_manager(void) {
  e2e_server *s = e2e_server_new(g_dir, "hq-attack-managers");
  char *anna = NULL, *bob = NULL, ca[64], cb[64], order[64], line[64], quote[64], task[64];
  hostile h;
  int open = 0;
  if (!s || e2e_server_start(s, 0)) goto done;
  if (!(anna = e2e_device_new(__LINE__, s, g_dir, "anna-cross", "anna"))) goto done;
  if (!(bob = e2e_device_new(__LINE__, s, g_dir, "bob-cross", "bob"))) goto done;
  SYNC(anna);
  SYNC(bob);
  ADD(anna, ca, "customer", "add", "--name", "Annas Kunde GmbH", "--json");
  ADD(anna, order, "order", "new", "--customer", ca, "--json");
  ADD(anna, line, "order", "line", order, "--sku", "CHAIR-01", "--qty", "2", "--json");
  ADD(anna, quote, "quote", "new", "--customer", ca, "--json");
  ADD(anna, task, "task", "add", "--title", "tidy the CRM", "--json");
  SYNC(anna);
  ADD(bob, cb, "customer", "add", "--name", "Bobs Kunde AG", "--json");
  SYNC(bob);
  if (hostile_open(&h, s, bob) != 0) goto done;
  open = 1;

  /* a line of Bob's customer in Anna's draft order */
  char fl[FS_ID_SIZE], nm[FS_ID_SIZE], tk[FS_ID_SIZE], fo[FS_ID_SIZE];
  fs_uuid7(fl), fs_uuid7(nm), fs_uuid7(tk), fs_uuid7(fo);
  fsi_batch *b = hb_new("order_lines", LINE_COLS);
  const char *lv[] = {order, cb, "CHAIR-01", "#500", "#28900", "EUR", "#0"};
  hb_row(b, fl, 1, hostile_now_hlc() + 100, h.site, lv);
  REFUSED_ONE(&h, b, "its order's customer");

  /* head office's norms, set by a device */
  static const char *const NORM_COLS[] = {"manager",       "calls_day",       "meetings_day",
                                          "proposals_day", "contracts_month", NULL};
  b = hb_new("norms", NORM_COLS);
  const char *nv[] = {"bob", "#0", "#0", "#0", "#0"};
  hb_row(b, nm, 1, hostile_now_hlc() + 200, h.site, nv);
  REFUSED_ONE(&h, b, "head-office data");

  /* a task of no customer, recorded for Anna */
  static const char *const TASK_COLS[] = {"customer_id", "title",      "due",     "done_at",
                                          "notes",       "created_at", "manager", NULL};
  b = hb_new("tasks", TASK_COLS);
  const char *tv[] = {"~", "Ruf mich an", "~", "~", "~", "~", "anna"};
  hb_row(b, tk, 1, hostile_now_hlc() + 300, h.site, tv);
  REFUSED_ONE(&h, b, "may only record its own manager");

  /* an order of Bob's customer "accepted" from Anna's quote */
  static const char *const ORDER_COLS[] = {"customer_id", "status",       "currency", "discount_bp",
                                           "created_at",  "submitted_at", "manager",  "number",
                                           "quote_id",    "deal_id",      NULL};
  b = hb_new("orders", ORDER_COLS);
  const char *ov[] = {cb, "draft", "EUR", "#0", "~", "~", "bob", "~", quote, "~"};
  hb_row(b, fo, 1, hostile_now_hlc() + 400, h.site, ov);
  REFUSED_ONE(&h, b, "is another customer's");

  /* Anna's own task of no customer, rewritten by Bob's device */
  b = hb_new("tasks", TASK_COLS);
  const char *tv2[] = {"~", "Bob war hier", "~", "~", "~", "~", "anna"};
  hb_row(b, task, 1, hostile_now_hlc() + 500, h.site, tv2);
  REFUSED_ONE(&h, b, "belongs to anna");

  cJSON *doc = hq_export(__LINE__, s);
  CHECK_STR(e2e_str(row_of(doc, "tasks", task), "title"), "tidy the CRM");
  CHECK(row_of(doc, "orders", fo) == NULL);
  CHECK(row_of(doc, "order_lines", fl) == NULL);
  CHECK(row_of(doc, "norms", nm) == NULL);
  CHECK(row_of(doc, "tasks", tk) == NULL);
  CHECK_EQ_INT(e2e_rows_where(doc, "order_lines", "order_id", order), 1);
  cJSON_Delete(doc);
  SYNC(anna);
  SAME_AS_HQ(anna, s, "anna");
  SAME_AS_HQ(bob, s, "bob");
done:
  if (open) hostile_close(&h);
  free(anna);
  free(bob);
  e2e_server_free(s);
}

int main(void) {
  g_dir = tu_tmpdir("e2e-attack");
  TEST_RUN(test_quote_rules);
  TEST_RUN(test_cross_manager);
  e2e_stop_all();
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
