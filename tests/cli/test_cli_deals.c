/*
 * test_cli_deals.c — `fieldsync deal add|edit|list|show` and `order new
 * --deal`, through the real `fieldsync` binary in a temporary home.
 *
 * Deals at every stage take the stage's probability when none is typed
 * (lead 10, qualified 25, proposal 50, negotiation 75, won 100, lost 0); a
 * new stage on edit takes its own; a won or lost deal closes today unless
 * a date is given; a lost deal needs its reason; the list is sorted by
 * expected close date and filtered by customer, stage and --open; `deal
 * show` lists the orders that name the deal.  Every bad input (an unknown
 * stage, a negative or malformed value, a probability out of range or not
 * whole, a bad date or currency, a lost deal without a reason, a won deal
 * at 30 %, an unknown customer or deal, another customer's deal on an
 * order) gives one "fieldsync: ..." line, nothing on stdout, a non-zero
 * exit and leaves `export --json` byte for byte as it was.
 *
 * TZ=Europe/Berlin, so that a date typed is a local calendar date.
 */
#include "clitest.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNKNOWN_ID "01900000-0000-7000-8000-000000000000"

static char *g_dir;

static const cJSON *find_id(const cJSON *arr, const char *id) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    const char *v = str_of(it, "id");
    if (v && !strcmp(v, id)) return it;
  }
  return NULL;
}

/* The deal as `deal show --json` has it (caller deletes). */
static cJSON *deal_of(const char *id) { return OK_JSON("deal", "show", id, "--json"); }

static void today(char out[11]) {
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}

/* ------------------------------------------------------------ cases */

static void test_help(void) {
  static const char *const verbs[][3] = {
      {"deal", "--help"},         {"deal", "add", "--help"},  {"deal", "edit", "--help"},
      {"deal", "list", "--help"}, {"deal", "show", "--help"}, {"order", "new", "--help"},
  };
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
    const char *argv[5] = {"fieldsync", verbs[i][0], verbs[i][1], verbs[i][2], NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(&out, &err, argv);
    tu_checks += 3;
    if (rc != 0) tu_fail(__FILE__, __LINE__, "%s %s --help: exit %d", argv[1], argv[2], rc);
    if (!out || !strstr(out, "Usage: fieldsync")) tu_fail(__FILE__, __LINE__, "no usage");
    if (!err || *err) tu_fail(__FILE__, __LINE__, "stderr: %s", err ? err : "");
    if (i > 0) {
      tu_checks++;
      if (!strstr(out ? out : "", "Example:\n  fieldsync "))
        tu_fail(__FILE__, __LINE__, "%s %s --help has no example", argv[1], argv[2]);
    }
    free(out);
    free(err);
  }
  char *out = NULL;
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "deal", "add", "--help")), 0);
  CHECK_CONTAINS(out, "--probability PCT");
  CHECK_CONTAINS(out, "lead 10, qualified 25, proposal 50, negotiation 75, won 100");
  CHECK_CONTAINS(out, "--lost-reason T");
  free(out);
  out = NULL;
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "order", "new", "--help")), 0);
  CHECK_CONTAINS(out, "--deal D");
  free(out);
  out = NULL;
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "--help")), 0);
  CHECK_CONTAINS(out, "deal add|edit|list|show");
  free(out);
}

static char g_nord[64], g_berg[64];

/* A home of the case's own (a case runs alone, tests/support/testutil.h)
 * with Anna's two customers. */
static void setup(const char *name) {
  snprintf(ct_home, strlen(g_dir) + 32, "%s/%s", g_dir, name);
  cJSON_Delete(OK_JSON("init", "--manager", "anna", "--json"));
  take_id(g_nord, sizeof g_nord, OK_JSON("customer", "add", "--name", "Nordwind GmbH", "--json"));
  take_id(g_berg, sizeof g_berg, OK_JSON("customer", "add", "--name", "Bergmann AG", "--json"));
}

static void test_add_defaults(void) {
  setup("defaults");
  static const struct {
    const char *stage;
    long long pct;
  } defaults[] = {{"lead", 10},        {"qualified", 25}, {"proposal", 50},
                  {"negotiation", 75}, {"won", 100},      {"lost", 0}};
  char ids[6][64];
  for (size_t i = 0; i < 6; i++) {
    const char *reason = !strcmp(defaults[i].stage, "lost") ? "--lost-reason" : "--title";
    take_id(ids[i], sizeof ids[i],
            OK_JSON("deal", "add", "--customer", "Nordwind GmbH", "--stage", defaults[i].stage,
                    "--value", "1000.50", "--currency", "eur", "--close", "2026-09-01", reason,
                    "price too high", "--json"));
  }
  for (size_t i = 0; i < 6; i++) {
    cJSON *d = deal_of(ids[i]);
    CHECK_STR(str_of(d, "stage"), defaults[i].stage);
    CHECK_EQ_INT(int_of(d, "probability"), defaults[i].pct);
    CHECK_EQ_INT(int_of(d, "value"), 100050);
    CHECK_STR(str_of(d, "currency"), "EUR");
    CHECK_EQ_INT(int_of(d, "weighted"), (100050 * defaults[i].pct + 50) / 100);
    CHECK_STR(str_of(d, "close_date"), "2026-09-01");
    CHECK_STR(str_of(d, "manager"), "anna");
    CHECK_STR(str_of(d, "customer_id"), g_nord);
    CHECK(str_of(d, "created_at") != NULL);
    cJSON_Delete(d);
  }
  cJSON *d = deal_of(ids[5]);
  CHECK_STR(str_of(d, "lost_reason"), "price too high");
  cJSON_Delete(d);
  /* a typed probability stands; 333.33 at 25 % weighs 83.33 (rounded) */
  char id[64];
  take_id(id, sizeof id,
          OK_JSON("deal", "add", "--customer", g_berg, "--stage", "proposal", "--value", "2000",
                  "--currency", "SEK", "--probability", "60", "--title", "Bürostühle", "--json"));
  d = deal_of(id);
  CHECK_EQ_INT(int_of(d, "probability"), 60);
  CHECK_EQ_INT(int_of(d, "weighted"), 120000);
  CHECK_STR(str_of(d, "title"), "Bürostühle");
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "close_date")));
  cJSON_Delete(d);
  take_id(id, sizeof id,
          OK_JSON("deal", "add", "--customer", g_berg, "--stage", "qualified", "--value", "333.33",
                  "--currency", "EUR", "--json"));
  d = deal_of(id);
  CHECK_EQ_INT(int_of(d, "weighted"), 8333);
  cJSON_Delete(d);
  /* won without a date closes today */
  char day[11];
  today(day);
  take_id(id, sizeof id,
          OK_JSON("deal", "add", "--customer", g_berg, "--stage", "won", "--value", "1",
                  "--currency", "EUR", "--json"));
  d = deal_of(id);
  CHECK_STR(str_of(d, "close_date"), day);
  cJSON_Delete(d);
}

static void test_edit(void) {
  char id[64], day[11];
  setup("edit");
  today(day);
  take_id(id, sizeof id,
          OK_JSON("deal", "add", "--customer", "Bergmann AG", "--stage", "lead", "--value", "5000",
                  "--currency", "EUR", "--close", "2026-10-15", "--json"));
  /* a new stage takes its probability */
  cJSON_Delete(OK_JSON("deal", "edit", id, "--stage", "negotiation", "--json"));
  cJSON *d = deal_of(id);
  CHECK_STR(str_of(d, "stage"), "negotiation");
  CHECK_EQ_INT(int_of(d, "probability"), 75);
  CHECK_STR(str_of(d, "close_date"), "2026-10-15");
  cJSON_Delete(d);
  /* unless one is typed with it; other fields alone keep the probability */
  cJSON_Delete(OK_JSON("deal", "edit", id, "--stage", "proposal", "--probability", "40", "--json"));
  cJSON_Delete(OK_JSON("deal", "edit", id, "--value", "6500.25", "--title", "Lager", "--close",
                       "2026-11-30", "--json"));
  d = deal_of(id);
  CHECK_EQ_INT(int_of(d, "probability"), 40);
  CHECK_EQ_INT(int_of(d, "value"), 650025);
  CHECK_EQ_INT(int_of(d, "weighted"), 260010);
  CHECK_STR(str_of(d, "title"), "Lager");
  CHECK_STR(str_of(d, "close_date"), "2026-11-30");
  cJSON_Delete(d);
  /* an amount in yen has no decimals: typed, stored and changed as yen */
  char yen[64];
  take_id(yen, sizeof yen,
          OK_JSON("deal", "add", "--customer", "Bergmann AG", "--stage", "lead", "--value",
                  "1980000", "--currency", "JPY", "--json"));
  d = deal_of(yen);
  CHECK_EQ_INT(int_of(d, "value"), 1980000);
  cJSON_Delete(d);
  REFUSED_SAYING(2, "JPY has no minor unit", "deal", "edit", yen, "--value", "19800.50");
  cJSON_Delete(OK_JSON("deal", "edit", yen, "--value", "2500000", "--json"));
  d = deal_of(yen);
  CHECK_EQ_INT(int_of(d, "value"), 2500000);
  CHECK_STR(str_of(d, "currency"), "JPY");
  cJSON_Delete(d);
  /* lost needs a reason, on edit as on add */
  REFUSED_SAYING(1, "lost reason", "deal", "edit", id, "--stage", "lost");
  REFUSED_SAYING(2, "--lost-reason", "deal", "add", "--customer", g_berg, "--stage", "lost",
                 "--value", "1", "--currency", "EUR");
  REFUSED_SAYING(2, "--lost-reason", "deal", "edit", id, "--stage", "lost", "--lost-reason", "");
  /* a prefix of the id works */
  char prefix[40];
  snprintf(prefix, sizeof prefix, "%.35s", id);
  cJSON_Delete(OK_JSON("deal", "edit", prefix, "--stage", "lost", "--lost-reason",
                       "went with Stuhlwerk", "--json"));
  d = deal_of(id);
  CHECK_STR(str_of(d, "stage"), "lost");
  CHECK_EQ_INT(int_of(d, "probability"), 0);
  CHECK_STR(str_of(d, "lost_reason"), "went with Stuhlwerk");
  CHECK_STR(str_of(d, "close_date"), day); /* lost today */
  cJSON_Delete(d);
  REFUSED_SAYING(1, "lost deal's probability is 0", "deal", "edit", id, "--probability", "20");
  /* won: 100 %, and no other */
  cJSON_Delete(OK_JSON("deal", "edit", id, "--stage", "won", "--close", "2026-12-24", "--json"));
  d = deal_of(id);
  CHECK_EQ_INT(int_of(d, "probability"), 100);
  CHECK_STR(str_of(d, "close_date"), "2026-12-24");
  cJSON_Delete(d);
  REFUSED_SAYING(1, "won deal's probability is 100", "deal", "edit", id, "--probability", "30");
  REFUSED_SAYING(1, "won deal's probability is 100", "deal", "add", "--customer", g_berg, "--stage",
                 "won", "--value", "1", "--currency", "EUR", "--probability", "30");
}

static void test_bad_input(void) {
  char id[64];
  setup("bad");
  take_id(id, sizeof id,
          OK_JSON("deal", "add", "--customer", g_berg, "--stage", "lead", "--value", "10",
                  "--currency", "EUR", "--json"));
  /* stages */
  REFUSED_SAYING(2, "--stage must be lead, qualified, proposal, negotiation, won or lost", "deal",
                 "add", "--customer", g_berg, "--stage", "closed", "--value", "1", "--currency",
                 "EUR");
  REFUSED_SAYING(2, "--stage", "deal", "edit", id, "--stage", "Won");
  REFUSED_SAYING(2, "--stage", "deal", "list", "--stage", "open");
  /* required options */
  REFUSED_SAYING(2, "--customer", "deal", "add", "--stage", "lead", "--value", "1", "--currency",
                 "EUR");
  REFUSED_SAYING(2, "--stage", "deal", "add", "--customer", g_berg, "--value", "1", "--currency",
                 "EUR");
  REFUSED_SAYING(2, "--value", "deal", "add", "--customer", g_berg, "--stage", "lead", "--currency",
                 "EUR");
  REFUSED_SAYING(2, "--currency", "deal", "add", "--customer", g_berg, "--stage", "lead", "--value",
                 "1");
  /* values, probabilities, dates, currencies */
  static const char *const values[] = {"-5", "abc", "12,50", "1e3", ""};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    REFUSED_SAYING(2, "--value", "deal", "add", "--customer", g_berg, "--stage", "lead", "--value",
                   values[i], "--currency", "EUR");
  static const char *const pcts[] = {"101", "-1", "5.5", "abc", "", "1000", "50%"};
  for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
    REFUSED_SAYING(2, "--probability", "deal", "add", "--customer", g_berg, "--stage", "lead",
                   "--value", "1", "--currency", "EUR", "--probability", pcts[i]);
    REFUSED_SAYING(2, "--probability", "deal", "edit", id, "--probability", pcts[i]);
  }
  REFUSED_SAYING(2, "--close", "deal", "add", "--customer", g_berg, "--stage", "lead", "--value",
                 "1", "--currency", "EUR", "--close", "2026-13-45");
  REFUSED_SAYING(2, "--close", "deal", "edit", id, "--close", "next week");
  REFUSED_SAYING(2, "--currency", "deal", "add", "--customer", g_berg, "--stage", "lead", "--value",
                 "1", "--currency", "EURO");
  REFUSED_SAYING(2, "--currency", "deal", "edit", id, "--currency", "E1R");
  REFUSED_SAYING(2, "--title", "deal", "edit", id, "--title", "");
  /* nothing to change, unknown rows, unknown options */
  REFUSED_SAYING(2, "give what changes", "deal", "edit", id);
  REFUSED_SAYING(1, "deal", "deal", "edit", UNKNOWN_ID, "--stage", "won");
  REFUSED_SAYING(1, "deal", "deal", "show", UNKNOWN_ID);
  REFUSED_SAYING(1, "customer", "deal", "add", "--customer", "Niemand KG", "--stage", "lead",
                 "--value", "1", "--currency", "EUR");
  REFUSED_SAYING(2, "--bogus", "deal", "add", "--customer", g_berg, "--stage", "lead", "--value",
                 "1", "--currency", "EUR", "--bogus");
  REFUSED_SAYING(2, NULL, "deal", "frobnicate");
  REFUSED_SAYING(2, NULL, "deal");
  /* a title longer than the declaration allows: the library's rule */
  char *longtitle = malloc(301);
  memset(longtitle, 'x', 300);
  longtitle[300] = '\0';
  REFUSED_SAYING(1, "too long", "deal", "edit", id, "--title", longtitle);
  free(longtitle);
}

static void test_list(void) {
  char a[64], b[64], c[64], e[64];
  const char *nord = g_nord, *berg = g_berg;
  setup("list");
  take_id(a, sizeof a,
          OK_JSON("deal", "add", "--customer", nord, "--stage", "proposal", "--value", "12500",
                  "--currency", "EUR", "--close", "2026-08-01", "--title", "Stühle", "--json"));
  take_id(b, sizeof b,
          OK_JSON("deal", "add", "--customer", berg, "--stage", "qualified", "--value", "100",
                  "--currency", "EUR", "--json"));
  take_id(c, sizeof c,
          OK_JSON("deal", "add", "--customer", berg, "--stage", "won", "--value", "200",
                  "--currency", "EUR", "--close", "2026-03-01", "--json"));
  take_id(e, sizeof e,
          OK_JSON("deal", "add", "--customer", nord, "--stage", "negotiation", "--value", "300",
                  "--currency", "EUR", "--close", "2026-05-20", "--json"));
  /* by expected close date, those without one last */
  cJSON *l = OK_JSON("deal", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 4);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 0), "id"), c);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 1), "id"), e);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 2), "id"), a);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 3), "id"), b);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 2), "customer_name"), "Nordwind GmbH");
  cJSON_Delete(l);
  l = OK_JSON("deal", "list", "--open", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 3);
  CHECK(find_id(l, c) == NULL);
  cJSON_Delete(l);
  l = OK_JSON("deal", "list", "--customer", "Bergmann AG", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 2);
  CHECK(find_id(l, b) && find_id(l, c));
  cJSON_Delete(l);
  l = OK_JSON("deal", "list", "--customer", "Bergmann AG", "--open", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 1);
  CHECK(find_id(l, b) != NULL);
  cJSON_Delete(l);
  l = OK_JSON("deal", "list", "--stage", "negotiation", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 1);
  CHECK(find_id(l, e) != NULL);
  cJSON_Delete(l);
  l = OK_JSON("deal", "list", "--stage", "lost", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 0);
  cJSON_Delete(l);
  /* for a person: money with its currency, percent, weighted value */
  char *t = OK_TEXT("deal", "list");
  CHECK_CONTAINS(t, "WEIGHTED");
  CHECK_CONTAINS(t, "12 500.00 EUR");
  CHECK_CONTAINS(t, "6 250.00 EUR");
  CHECK_CONTAINS(t, "50%");
  CHECK_CONTAINS(t, "Stühle");
  CHECK(t && strstr(t, "2026-03-01") < strstr(t, "2026-05-20"));
  free(t);
  t = OK_TEXT("deal", "list", "--stage", "lost");
  CHECK_STR(t, "No deals match.\n");
  free(t);

  /* an order closes a deal: order new --deal, listed by deal show */
  cJSON *d = OK_JSON("deal", "show", a, "--json");
  CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d, "quotes")));
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "quotes")), 0);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "orders")), 0);
  cJSON_Delete(d);
  char order[64], prefix[40];
  snprintf(prefix, sizeof prefix, "%.35s", a);
  take_id(order, sizeof order,
          OK_JSON("order", "new", "--customer", "Nordwind GmbH", "--deal", prefix, "--json"));
  d = OK_JSON("deal", "show", a, "--json");
  const cJSON *orders = cJSON_GetObjectItemCaseSensitive(d, "orders");
  CHECK_EQ_INT(cJSON_GetArraySize(orders), 1);
  CHECK_STR(str_of(cJSON_GetArrayItem(orders, 0), "id"), order);
  CHECK_STR(str_of(cJSON_GetArrayItem(orders, 0), "status"), "draft");
  CHECK(str_of(cJSON_GetArrayItem(orders, 0), "number") != NULL);
  cJSON_Delete(d);
  char *ex = ct_export(ct_home);
  cJSON *exd = ex ? cJSON_Parse(ex) : NULL;
  const cJSON *row = find_id(cJSON_GetObjectItemCaseSensitive(exd, "orders"), order);
  CHECK_STR(str_of(row, "deal_id"), a);
  cJSON_Delete(exd);
  free(ex);
  t = OK_TEXT("deal", "show", a);
  CHECK_CONTAINS(t, "probability  50%");
  CHECK_CONTAINS(t, "weighted     6 250.00 EUR");
  CHECK_CONTAINS(t, "Quotes: none");
  CHECK_CONTAINS(t, "Orders:\n");
  CHECK_CONTAINS(t, order);
  free(t);
  /* only the customer's own deal, and only one that exists */
  REFUSED_SAYING(1, "another customer's", "order", "new", "--customer", "Bergmann AG", "--deal", a);
  REFUSED_SAYING(1, "deal", "order", "new", "--customer", "Bergmann AG", "--deal", UNKNOWN_ID);
  REFUSED_SAYING(2, "--deal", "order", "new", "--customer", "Bergmann AG", "--deal", "");
}

int main(void) {
  setenv("TZ", "Europe/Berlin", 1);
  unsetenv("FIELDSYNC_HOME");
  g_dir = tu_tmpdir("cli-deals");
  ct_home = malloc(strlen(g_dir) + 32);
  if (!ct_home) return 1;
  TEST_RUN(test_help);
  TEST_RUN(test_add_defaults);
  TEST_RUN(test_edit);
  TEST_RUN(test_bad_input);
  TEST_RUN(test_list);
  tu_rmrf(g_dir);
  free(g_dir);
  free(ct_home);
  return tu_finish();
}
