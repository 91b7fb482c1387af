/*
 * test_cli_quotes.c — quotes (proposals) through the real `fieldsync` binary
 * in a temporary home: new, line, send, accept into an order that
 * remembers its quote and keeps the quoted prices after the price list
 * changed; `quote new --from` and `order new --from` at today's prices;
 * reject with a reason; an expired quote (the device's clock moved past its
 * date) listed as expired and refused; lines frozen once sent; status moves
 * refused; a quote found by id prefix and by number; `order show` and
 * `quote show` showing how the total is reached.  Every refusal prints one
 * "fieldsync: ..." line, nothing on stdout, and leaves `export --json` byte
 * for byte as it was.
 *
 * Each case makes its own quotes on one shared home (made by the first case
 * that runs) and its own SKUs where it changes prices, so each runs alone.
 * TZ=Europe/Berlin, so local dates differ from UTC ones around midnight.
 */
#include "seed.h"
#include "clitest.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *g_dir;
static char g_cust[64], g_cust2[64], g_device[64];

static const cJSON *line_of(const cJSON *doc, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "lines"), i);
}

/* Imports products and prices CSV text through the head-office path. */
static void seed(const char *products, const char *prices) {
  char pp[4200] = "", pr[4200] = "";
  if (products) {
    snprintf(pp, sizeof pp, "%s/p.csv", g_dir);
    CHECK(tu_write_file(pp, products) == 0);
  }
  if (prices) {
    snprintf(pr, sizeof pr, "%s/pr.csv", g_dir);
    CHECK(tu_write_file(pr, prices) == 0);
  }
  CHECK_OK(tu_seed_catalog(ct_home, products ? pp : NULL, prices ? pr : NULL, NULL));
}

/* Local date today + days. */
static void local_day(char out[11], int days) {
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  tm.tm_mday += days;
  tm.tm_hour = 12;
  tm.tm_isdst = -1;
  mktime(&tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}

static int setup(void) {
  static int done = 0;
  if (done) return done > 0;
  done = -1;
  cJSON *doc = OK_JSON("init", "--manager", "Anna Berger", "--json");
  snprintf(g_device, sizeof g_device, "%s",
           str_of(doc, "device_id") ? str_of(doc, "device_id") : "");
  cJSON_Delete(doc);
  take_id(g_cust, sizeof g_cust,
          OK_JSON("customer", "add", "--name", "Müller GmbH", "--city", "München", "--json"));
  take_id(g_cust2, sizeof g_cust2, OK_JSON("customer", "add", "--name", "Schmidt AG", "--json"));
  seed("sku,name,unit,active\nWID-1,Widget,pcs,1\nGAD-2,Gadget Pro,pcs,1\n"
       "FRM-1,Frame,pcs,1\nFRM-2,Frame XL,pcs,1\nOLD-1,Old Thing,pcs,1\n",
       "sku,currency,price\nWID-1,EUR,12.50\nGAD-2,EUR,1000.00\nFRM-1,EUR,2.00\n"
       "FRM-2,EUR,3.00\nOLD-1,EUR,5.00\n");
  if (tu_failed == 0 && *g_cust && *g_cust2 && strlen(g_device) == 16) done = 1;
  return done > 0;
}

/* A draft quote for `customer` with the given lines (sku, qty pairs). */
static void make_quote(char id[64], const char *customer, const char *sku, const char *qty) {
  take_id(id, 64, OK_JSON("quote", "new", "--customer", customer, "--json"));
  cJSON_Delete(OK_JSON("quote", "line", id, "--sku", sku, "--qty", qty, "--json"));
}

/* ------------------------------------------------------------ cases */

static void test_help(void) {
  static const char *const verbs[][4] = {
      {"quote", "--help"},
      {"quote", "new", "--help"},
      {"quote", "line", "--help"},
      {"quote", "line", "edit", "--help"},
      {"quote", "line", "remove", "--help"},
      {"quote", "send", "--help"},
      {"quote", "accept", "--help"},
      {"quote", "reject", "--help"},
      {"quote", "show", "--help"},
      {"quote", "list", "--help"},
      {"order", "new", "--help"},
  };
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
    const char *argv[6] = {"fieldsync", NULL, NULL, NULL, NULL, NULL};
    char *out = NULL, *err = NULL;
    for (size_t j = 0; j < 4 && verbs[i][j]; j++) argv[j + 1] = verbs[i][j];
    int rc = tu_run(&out, &err, argv);
    tu_checks += 3;
    if (rc != 0) tu_fail(__FILE__, __LINE__, "%s %s --help: exit %d", verbs[i][0], verbs[i][1], rc);
    if (!out || !strstr(out, "Usage: fieldsync"))
      tu_fail(__FILE__, __LINE__, "%s %s: no usage", verbs[i][0], verbs[i][1]);
    /* every verb's help has an example */
    if (i > 0 && (!out || !strstr(out, "Example:")))
      tu_fail(__FILE__, __LINE__, "%s %s %s: no example", verbs[i][0], verbs[i][1],
              verbs[i][2] ? verbs[i][2] : "");
    if (!err || *err) tu_fail(__FILE__, __LINE__, "stderr: %s", err ? err : "");
    free(out);
    free(err);
  }
  char *out = NULL;
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "--help")), 0);
  CHECK_CONTAINS(out, "quote new");
  free(out);
}

/* new, lines, send, accept: the order remembers its quote and keeps the
 * quote's prices after the list changed. */
static void test_accept(void) {
  if (!setup()) return;
  char q[64], order[64], number[64], want_until[11], dev6[8];
  cJSON *doc = OK_JSON("quote", "new", "--customer", "müller gmbh", "--discount", "5", "--notes",
                       "Hannover Messe", "--json");
  snprintf(number, sizeof number, "%s", str_of(doc, "number") ? str_of(doc, "number") : "");
  local_day(want_until, 30);
  CHECK_STR(str_of(doc, "valid_until"), want_until);
  CHECK_EQ_INT(int_of(doc, "lines"), 0);
  take_id(q, sizeof q, doc);
  /* the number: the device id's first six characters, upper-cased, -Q, a count */
  for (int i = 0; i < 6; i++)
    dev6[i] = (char)(g_device[i] >= 'a' && g_device[i] <= 'z' ? g_device[i] - 32 : g_device[i]);
  dev6[6] = '\0';
  CHECK(strncmp(number, dev6, 6) == 0 && strncmp(number + 6, "-Q", 2) == 0 &&
        strspn(number + 8, "0123456789") == strlen(number + 8) && strlen(number) > 8);

  char line1[64];
  take_id(line1, sizeof line1,
          OK_JSON("quote", "line", q, "--sku", "WID-1", "--qty", "10", "--json"));
  /* by its number, in lower case */
  char lower[64];
  snprintf(lower, sizeof lower, "%s", number);
  for (char *p = lower; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
  cJSON_Delete(OK_JSON("quote", "line", lower, "--sku", "GAD-2", "--qty", "2", "--discount", "10",
                       "--json"));
  /* a draft's lines may be corrected */
  take_id(line1, sizeof line1, OK_JSON("quote", "line", "edit", q, "1", "--qty", "20", "--json"));
  char extra[64];
  take_id(extra, sizeof extra,
          OK_JSON("quote", "line", q, "--sku", "FRM-1", "--qty", "1", "--json"));
  cJSON_Delete(OK_JSON("quote", "line", "remove", q, "3", "--json"));

  doc = OK_JSON("quote", "show", q, "--json");
  CHECK_STR(str_of(doc, "status"), "draft");
  CHECK_STR(str_of(doc, "customer_id"), g_cust);
  CHECK_EQ_INT(int_of(doc, "expired"), 0);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "lines")), 2);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "qty"), 20);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "unit_price"), 1250);
  CHECK_EQ_INT(int_of(line_of(doc, 1), "unit_price"), 100000);
  CHECK_EQ_INT(int_of(line_of(doc, 1), "discount_bp"), 1000);
  CHECK_EQ_INT(int_of(doc, "subtotal"), 25000 + 180000);
  CHECK_EQ_INT(int_of(doc, "total"), 194750); /* 205000 less 5 % */
  cJSON_Delete(doc);
  char *out = OK_TEXT("quote", "show", number);
  CHECK_CONTAINS(out, "Lines at unit price");
  CHECK_CONTAINS(out, "Line discounts");
  CHECK_CONTAINS(out, "Quote discount 5");
  CHECK_CONTAINS(out, "947.50 EUR");
  CHECK_CONTAINS(out, "Hannover Messe");
  free(out);

  /* a draft is sent before it is accepted or rejected */
  REFUSED_SAYING(1, "send it first", "quote", "accept", q);
  REFUSED_SAYING(1, "only a sent quote", "quote", "reject", q);
  doc = OK_JSON("quote", "send", q, "--json");
  CHECK_STR(str_of(doc, "status"), "sent");
  cJSON_Delete(doc);
  /* sent: the lines are frozen, and it is not sent twice */
  REFUSED_SAYING(1, "frozen", "quote", "line", q, "--sku", "WID-1", "--qty", "1");
  REFUSED_SAYING(1, "frozen", "quote", "line", "edit", q, "1", "--qty", "3");
  REFUSED_SAYING(1, "frozen", "quote", "line", "remove", q, "1");
  REFUSED_SAYING(1, "only a draft", "quote", "send", q);

  /* head office raises the prices; the accepted order keeps the quote's */
  seed(NULL, "sku,currency,price\nWID-1,EUR,15.00\nGAD-2,EUR,1100.00\n");
  doc = OK_JSON("quote", "accept", number, "--json");
  CHECK_STR(str_of(doc, "id"), q);
  CHECK_STR(str_of(doc, "status"), "accepted");
  snprintf(order, sizeof order, "%s", str_of(doc, "order_id") ? str_of(doc, "order_id") : "");
  const char *onum = str_of(doc, "order_number");
  CHECK(onum && strncmp(onum, dev6, 6) == 0 && !strchr(onum, 'Q'));
  cJSON_Delete(doc);
  doc = OK_JSON("order", "show", order, "--json");
  CHECK_STR(str_of(doc, "status"), "draft");
  CHECK_STR(str_of(doc, "customer_id"), g_cust);
  CHECK_STR(str_of(doc, "quote_id"), q);
  CHECK_STR(str_of(doc, "quote_number"), number);
  CHECK_EQ_INT(int_of(doc, "discount_bp"), 500);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "qty"), 20);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "unit_price"), 1250);
  CHECK_EQ_INT(int_of(line_of(doc, 1), "unit_price"), 100000);
  CHECK_EQ_INT(int_of(line_of(doc, 1), "discount_bp"), 1000);
  CHECK_EQ_INT(int_of(doc, "total"), 194750);
  cJSON_Delete(doc);
  doc = OK_JSON("quote", "show", q, "--json");
  CHECK_STR(str_of(doc, "status"), "accepted");
  CHECK_STR(str_of(doc, "order_id"), order);
  CHECK(str_of(doc, "decided_at") && str_of(doc, "sent_at"));
  cJSON_Delete(doc);
  out = OK_TEXT("order", "show", order);
  CHECK_CONTAINS(out, "Lines at unit price");
  CHECK_CONTAINS(out, "Order discount 5");
  CHECK_CONTAINS(out, number);
  CHECK_CONTAINS(out, "947.50 EUR");
  free(out);
  /* a line added to that order later is priced from today's list */
  doc = OK_JSON("order", "line", order, "--sku", "WID-1", "--qty", "1", "--json");
  cJSON_Delete(doc);
  doc = OK_JSON("order", "show", order, "--json");
  CHECK_EQ_INT(int_of(line_of(doc, 2), "unit_price"), 1500);
  cJSON_Delete(doc);
  /* the export holds the order with its quote */
  char *all = ct_export(ct_home);
  CHECK_CONTAINS(all, q);
  cJSON *ex = ct_json_doc(all);
  const cJSON *orders = cJSON_GetObjectItemCaseSensitive(ex, "orders"), *o;
  int found = 0;
  cJSON_ArrayForEach(o, orders) {
    if (str_of(o, "id") && !strcmp(str_of(o, "id"), order))
      found = str_of(o, "quote_id") && !strcmp(str_of(o, "quote_id"), q);
  }
  CHECK(found);
  cJSON_Delete(ex);
  free(all);
  /* decided: neither accepted again nor rejected */
  REFUSED_SAYING(1, "accepted already", "quote", "accept", q);
  REFUSED_SAYING(1, "only a sent quote", "quote", "reject", q);
  /* listed newest first, filtered */
  char q2[64];
  make_quote(q2, g_cust2, "WID-1", "1");
  doc = OK_JSON("quote", "list", "--json");
  CHECK(cJSON_GetArraySize(doc) >= 2);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), q2);
  cJSON_Delete(doc);
  doc = OK_JSON("quote", "list", "--customer", "Müller GmbH", "--status", "accepted", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), q);
  CHECK_EQ_INT(int_of(cJSON_GetArrayItem(doc, 0), "total"), 194750);
  cJSON_Delete(doc);
  out = OK_TEXT("quote", "list");
  CHECK_CONTAINS(out, number);
  CHECK_CONTAINS(out, "accepted");
  free(out);
}

/* --from: a previous quote's or order's lines at today's prices. */
static void test_from(void) {
  if (!setup()) return;
  char q[64], q2[64], order[64], o2[64];
  take_id(q, sizeof q, OK_JSON("quote", "new", "--customer", g_cust, "--discount", "3", "--json"));
  cJSON_Delete(
      OK_JSON("quote", "line", q, "--sku", "FRM-1", "--qty", "7", "--discount", "2", "--json"));
  cJSON_Delete(OK_JSON("quote", "line", q, "--sku", "FRM-2", "--qty", "4", "--json"));
  cJSON_Delete(OK_JSON("quote", "send", q, "--json"));
  cJSON *doc = OK_JSON("quote", "accept", q, "--json");
  snprintf(order, sizeof order, "%s", str_of(doc, "order_id") ? str_of(doc, "order_id") : "");
  cJSON_Delete(doc);
  seed(NULL, "sku,currency,price\nFRM-1,EUR,2.40\nFRM-2,EUR,3.30\n");

  /* another customer, from the (accepted) quote, by number */
  doc = OK_JSON("quote", "show", q, "--json");
  char number[64];
  snprintf(number, sizeof number, "%s", str_of(doc, "number") ? str_of(doc, "number") : "");
  cJSON_Delete(doc);
  doc = OK_JSON("quote", "new", "--customer", "Schmidt AG", "--from", number, "--json");
  CHECK_EQ_INT(int_of(doc, "lines"), 2);
  take_id(q2, sizeof q2, doc);
  doc = OK_JSON("quote", "show", q2, "--json");
  CHECK_STR(str_of(doc, "customer_id"), g_cust2);
  CHECK_STR(str_of(doc, "status"), "draft");
  CHECK_EQ_INT(int_of(doc, "discount_bp"), 300);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "qty"), 7);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "unit_price"), 240);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "discount_bp"), 200);
  CHECK_EQ_INT(int_of(line_of(doc, 1), "unit_price"), 330);
  cJSON_Delete(doc);
  /* the order's lines, for the other customer, at today's prices */
  take_id(o2, sizeof o2,
          OK_JSON("order", "new", "--customer", "Schmidt AG", "--from", order, "--json"));
  doc = OK_JSON("order", "show", o2, "--json");
  CHECK_STR(str_of(doc, "customer_id"), g_cust2);
  CHECK_EQ_INT(int_of(doc, "discount_bp"), 300);
  CHECK(cJSON_GetObjectItemCaseSensitive(doc, "quote_id") == NULL ||
        cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(doc, "quote_id")));
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "lines")), 2);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "unit_price"), 240);
  CHECK_EQ_INT(int_of(line_of(doc, 0), "qty"), 7);
  CHECK_EQ_INT(int_of(line_of(doc, 1), "unit_price"), 330);
  cJSON_Delete(doc);
  /* an order of its own discount, currency as the source's */
  doc = OK_JSON("order", "new", "--customer", g_cust, "--from", o2, "--discount", "0", "--json");
  char o3[64];
  take_id(o3, sizeof o3, doc);
  doc = OK_JSON("order", "show", o3, "--json");
  CHECK_EQ_INT(int_of(doc, "discount_bp"), 0);
  CHECK_STR(str_of(doc, "currency"), "EUR");
  cJSON_Delete(doc);
  /* nothing is made when a line cannot be copied */
  REFUSED_SAYING(1, "no price in USD", "quote", "new", "--customer", g_cust, "--from", q,
                 "--currency", "USD");
  REFUSED_SAYING(1, "no price in USD", "order", "new", "--customer", g_cust, "--from", order,
                 "--currency", "USD");
  seed("sku,name,unit,active\nFRM-2,Frame XL,pcs,0\n", NULL);
  REFUSED_SAYING(1, "no longer sold", "quote", "new", "--customer", g_cust, "--from", q);
  REFUSED_SAYING(1, "no longer sold", "order", "new", "--customer", g_cust, "--from", order);
  REFUSED_SAYING(1, "no quote", "quote", "new", "--customer", g_cust, "--from", "ZZZZZZ-Q999");
  REFUSED_SAYING(1, "no order", "order", "new", "--customer", g_cust, "--from", "ZZZZZZ-999");
}

static void test_reject(void) {
  if (!setup()) return;
  char q[64];
  take_id(q, sizeof q,
          OK_JSON("quote", "new", "--customer", g_cust, "--notes", "call back Friday", "--json"));
  cJSON_Delete(OK_JSON("quote", "line", q, "--sku", "WID-1", "--qty", "3", "--json"));
  cJSON_Delete(OK_JSON("quote", "send", q, "--json"));
  cJSON *doc = OK_JSON("quote", "reject", q, "--reason", "too expensive", "--json");
  CHECK_STR(str_of(doc, "status"), "rejected");
  cJSON_Delete(doc);
  doc = OK_JSON("quote", "show", q, "--json");
  CHECK_STR(str_of(doc, "status"), "rejected");
  CHECK_STR(str_of(doc, "notes"), "call back Friday\nRejected: too expensive");
  CHECK(str_of(doc, "decided_at") != NULL);
  CHECK(str_of(doc, "order_id") == NULL);
  cJSON_Delete(doc);
  REFUSED_SAYING(1, "rejected already", "quote", "accept", q);
  REFUSED_SAYING(1, "only a draft", "quote", "send", q);
  REFUSED_SAYING(1, "frozen", "quote", "line", q, "--sku", "WID-1", "--qty", "1");
  doc = OK_JSON("quote", "list", "--status", "rejected", "--json");
  int seen = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, doc) seen += str_of(it, "id") && !strcmp(str_of(it, "id"), q);
  CHECK_EQ_INT(seen, 1);
  cJSON_Delete(doc);
}

/* Past valid_until (local calendar, by the device's clock) a quote is
 * expired: listed as such, neither sent nor accepted. */
static void test_expired(void) {
  if (!setup()) return;
  char q[64], draft[64], today[11];
  local_day(today, 0);
  take_id(q, sizeof q,
          OK_JSON("quote", "new", "--customer", g_cust, "--valid-until", today, "--json"));
  cJSON_Delete(OK_JSON("quote", "line", q, "--sku", "WID-1", "--qty", "1", "--json"));
  cJSON_Delete(OK_JSON("quote", "send", q, "--json"));
  make_quote(draft, g_cust, "WID-1", "2");
  cJSON_Delete(OK_JSON("quote", "line", "edit", draft, "1", "--qty", "4", "--json"));
  /* a date already past is refused when the quote is made */
  char yesterday[11];
  local_day(yesterday, -1);
  REFUSED_SAYING(1, "already past", "quote", "new", "--customer", g_cust, "--valid-until",
                 yesterday);

  cJSON *doc = OK_JSON("quote", "show", q, "--json");
  CHECK_EQ_INT(int_of(doc, "expired"), 0);
  cJSON_Delete(doc);
  /* two days later (the device's clock; every store clock reads it) */
  setenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS", "172800000", 1);
  doc = OK_JSON("quote", "show", q, "--json");
  CHECK_EQ_INT(int_of(doc, "expired"), 1);
  CHECK_STR(str_of(doc, "status"), "sent");
  cJSON_Delete(doc);
  doc = OK_JSON("quote", "list", "--status", "expired", "--json");
  int seen = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, doc) {
    seen += str_of(it, "id") && !strcmp(str_of(it, "id"), q);
    CHECK_EQ_INT(int_of(it, "expired"), 1);
  }
  CHECK_EQ_INT(seen, 1);
  cJSON_Delete(doc);
  char *out = OK_TEXT("quote", "list", "--status", "expired");
  CHECK_CONTAINS(out, "sent (expired)");
  free(out);
  REFUSED_SAYING(1, "expired on", "quote", "accept", q);
  /* the draft (valid 30 days) is not expired and may be sent */
  doc = OK_JSON("quote", "show", draft, "--json");
  CHECK_EQ_INT(int_of(doc, "expired"), 0);
  cJSON_Delete(doc);
  unsetenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS");
  /* and today it is accepted */
  doc = OK_JSON("quote", "accept", q, "--json");
  CHECK_STR(str_of(doc, "status"), "accepted");
  cJSON_Delete(doc);
}

/* A quote found by a unique id prefix, by its number in any case; an
 * unknown one refused. */
static void test_resolve(void) {
  if (!setup()) return;
  char q[64], prefix[16];
  make_quote(q, g_cust, "WID-1", "5");
  snprintf(prefix, sizeof prefix, "%.13s", q); /* past the millisecond clock of UUIDv7 */
  cJSON *doc = OK_JSON("quote", "show", prefix, "--json");
  CHECK_STR(str_of(doc, "id"), q);
  char number[64];
  snprintf(number, sizeof number, "%s", str_of(doc, "number") ? str_of(doc, "number") : "");
  cJSON_Delete(doc);
  char lower[64];
  snprintf(lower, sizeof lower, "%s", number);
  for (char *p = lower; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
  doc = OK_JSON("quote", "show", lower, "--json");
  CHECK_STR(str_of(doc, "id"), q);
  cJSON_Delete(doc);
  /* a quote's number is not an order's, nor the other way round */
  REFUSED_SAYING(1, "no order", "order", "show", number);
  REFUSED_SAYING(1, "no quote", "quote", "show", "ZZZZZZ-Q999");
  REFUSED_SAYING(1, "no quote", "quote", "show", "01900000-0000-7000-8000-000000000000");
}

/* Bad input for every verb: one line, nothing changed. */
static void test_bad_input(void) {
  if (!setup()) return;
  char q[64], empty[64];
  make_quote(q, g_cust, "WID-1", "5");
  take_id(empty, sizeof empty, OK_JSON("quote", "new", "--customer", g_cust, "--json"));
  REFUSED_SAYING(2, "--customer", "quote", "new");
  REFUSED_SAYING(1, "no customer", "quote", "new", "--customer", "Nobody Ltd");
  REFUSED_SAYING(2, "currency", "quote", "new", "--customer", g_cust, "--currency", "EURO");
  REFUSED_SAYING(2, "valid-until", "quote", "new", "--customer", g_cust, "--valid-until",
                 "2026-13-45");
  REFUSED_SAYING(2, "discount", "quote", "new", "--customer", g_cust, "--discount", "101");
  REFUSED_SAYING(2, "deal", "quote", "new", "--customer", g_cust, "--deal", "a&b=c");
  REFUSED_SAYING(2, NULL, "quote", "new", "--customer", g_cust, "--bogus", "1");
  REFUSED_SAYING(2, "--sku", "quote", "line", q, "--qty", "1");
  REFUSED_SAYING(2, "--qty", "quote", "line", q, "--sku", "WID-1");
  REFUSED_SAYING(2, "qty", "quote", "line", q, "--sku", "WID-1", "--qty", "0");
  REFUSED_SAYING(2, "qty", "quote", "line", q, "--sku", "WID-1", "--qty", "1.5");
  REFUSED_SAYING(2, "discount", "quote", "line", q, "--sku", "WID-1", "--qty", "1", "--discount",
                 "150");
  REFUSED_SAYING(1, "unknown SKU", "quote", "line", q, "--sku", "NOPE-1", "--qty", "1");
  REFUSED_SAYING(1, "no quote", "quote", "line", "ZZZZZZ-Q999", "--sku", "WID-1", "--qty", "1");
  REFUSED_SAYING(1, "no line 7", "quote", "line", "edit", q, "7", "--qty", "2");
  REFUSED_SAYING(2, "--qty", "quote", "line", "edit", q, "1");
  REFUSED_SAYING(1, "no line", "quote", "line", "remove", q, "9");
  REFUSED_SAYING(1, "no lines", "quote", "send", empty);
  REFUSED_SAYING(2, "status", "quote", "list", "--status", "open");
  REFUSED_SAYING(1, "no customer", "quote", "list", "--customer", "Nobody Ltd");
  REFUSED_SAYING(2, NULL, "quote", "reject");
  REFUSED_SAYING(2, NULL, "quote", "frobnicate");
  REFUSED_SAYING(1, "no quote", "quote", "accept", "ZZZZZZ-Q999", "--json");
}

int main(void) {
  setenv("TZ", "Europe/Berlin", 1);
  unsetenv("FIELDSYNC_HOME");
  unsetenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS");
  g_dir = tu_tmpdir("cli-quotes");
  size_t n = strlen(g_dir) + 16;
  ct_home = malloc(n);
  if (!ct_home) return 1;
  snprintf(ct_home, n, "%s/home", g_dir);
  TEST_RUN(test_help);
  TEST_RUN(test_accept);
  TEST_RUN(test_from);
  TEST_RUN(test_reject);
  TEST_RUN(test_expired);
  TEST_RUN(test_resolve);
  TEST_RUN(test_bad_input);
  tu_rmrf(g_dir);
  free(g_dir);
  free(ct_home);
  return tu_finish();
}
