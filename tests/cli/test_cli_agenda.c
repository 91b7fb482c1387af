/*
 * test_cli_agenda.c — the account manager's day through the real
 * `fieldsync` binary in a temporary home: `call log|list`, `task
 * add|list|done|edit|delete` and `agenda` for a day and a week.
 *
 * The tests run with TZ=America/New_York and the library's clock pinned
 * (FIELDSYNC_TEST_NOW_MS) at 2026-03-10 15:00 local (19:00 UTC), two days
 * after daylight saving began there (2026-03-08, a day of 23 hours).  A
 * call at 23:30 local on the 10th is stored as the 11th in UTC and must be
 * on the 10th's agenda; a meeting at 00:30 on the 11th must not; the week of
 * 2026-03-02 ends at local midnight of the 9th (04:00 UTC), not 24 * 7 hours
 * after its start (05:00 UTC).  Head office's rows (balances, norms) are
 * seeded through the head-office path (tests/support/seed.c); quotes, which
 * a device makes, are written through the library as `quote send` leaves
 * them.  Every bad input for the new verbs must print one "fieldsync: "
 * line, nothing on stdout, exit non-zero and leave `export --json` byte for
 * byte as it was.
 */
#include "seed.h"
#include "clitest.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <fieldsync/device.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS "1773169200000" /* 2026-03-10T19:00:00Z, 15:00 in New York */
#define UNKNOWN_ID "01900000-0000-7000-8000-000000000000"

static char g_mueller[64], g_nord[64], g_kowa[64], g_far[64];
static char g_task_over[64], g_task_today[64], g_task_later[64], g_task_none[64];

static const cJSON *item(const cJSON *o, const char *key, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, key), i);
}

static int is_true(const cJSON *o, const char *key) {
  return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The row of `table` with this id in an export document. */
static const cJSON *row_of(const cJSON *exp, const char *table, const char *id) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(exp, table)) {
    const char *v = str_of(it, "id");
    if (v && !strcmp(v, id)) return it;
  }
  return NULL;
}

/* The most columns (UTF-8 characters; the test's names are one column
 * each) of a line of text. */
static size_t widest_line(const char *text) {
  size_t best = 0, cur = 0;
  for (const unsigned char *p = (const unsigned char *)text; p && *p; p++) {
    if (*p == '\n') {
      if (cur > best) best = cur;
      cur = 0;
    } else if ((*p & 0xC0) != 0x80) {
      cur++;
    }
  }
  return cur > best ? cur : best;
}

/* A quote as `quote send` leaves it: made a draft, then sent at sent_at. */
/* A quote as the quote verbs make it, on the store's clock of its day: made
 * and (unless a draft) sent at `sent_at` with one line, accepted into an
 * order when status is "accepted"; the clock goes back to NOW_MS after. */
static void add_quote(const char *customer, const char *status, const char *sent_at,
                      const char *valid_until) {
  fs_device *dev = NULL;
  char id[FS_ID_SIZE], line[FS_ID_SIZE], order[FS_ID_SIZE], when[32];
  int64_t ms = 0;
  if (sent_at) {
    CHECK_OK(fs_time_parse(&ms, sent_at));
    snprintf(when, sizeof when, "%lld", (long long)ms);
    setenv("FIELDSYNC_TEST_NOW_MS", when, 1);
  }
  CHECK_OK(tu_device_open(&dev, ct_home, NULL));
  if (dev) {
    fs_store *st = fs_device_store(dev);
    fs_field f[] = {{"customer_id", customer}, {"currency", "EUR"}, {"valid_until", valid_until}};
    CHECK_OK(fs_insert(id, st, "quotes", f, 3));
    CHECK_OK(fs_quote_line_add(line, st, id, "Q-1", 2, 0));
    if (strcmp(status, "draft") != 0) CHECK_OK(fs_quote_send(st, id));
    if (!strcmp(status, "accepted")) CHECK_OK(fs_quote_accept(order, st, id));
    fs_device_close(dev);
  }
  setenv("FIELDSYNC_TEST_NOW_MS", NOW_MS, 1);
}

/* ------------------------------------------------------------ cases */

static void test_help(void) {
  static const char *const verbs[][3] = {
      {"call", "--help"},         {"call", "log", "--help"},  {"call", "list", "--help"},
      {"task", "--help"},         {"task", "add", "--help"},  {"task", "list", "--help"},
      {"task", "done", "--help"}, {"task", "edit", "--help"}, {"task", "delete", "--help"},
      {"agenda", "--help"},
  };
  for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++) {
    char *out = NULL, *err = NULL;
    const char *args[4] = {verbs[i][0], verbs[i][1], verbs[i][2], NULL};
    CHECK_EQ_INT(ct_run_in(ct_home, &out, &err, args), 0);
    CHECK_CONTAINS(out, "Usage: fieldsync ");
    if (i != 0 && i != 3) CHECK_CONTAINS(out, "xample");
    CHECK(widest_line(out) <= 80);
    free(out);
    free(err);
  }
  char *out = OK_TEXT("--help");
  CHECK_CONTAINS(out, "agenda [--day DATE] [--week]");
  CHECK_CONTAINS(out, "call log|list");
  CHECK_CONTAINS(out, "task add|list|done|edit|delete");
  free(out);
}

static void test_calls(void) {
  if (*g_far) return; /* done */
  cJSON *doc = OK_JSON("init", "--manager", "anna", "--json");
  cJSON_Delete(doc);
  take_id(g_mueller, sizeof g_mueller,
          OK_JSON("customer", "add", "--name", "Müller GmbH", "--json"));
  take_id(g_nord, sizeof g_nord, OK_JSON("customer", "add", "--name", "Nordwind AG", "--json"));
  take_id(g_kowa, sizeof g_kowa, OK_JSON("customer", "add", "--name", "Kowalski", "--json"));
  take_id(g_far, sizeof g_far, OK_JSON("customer", "add", "--name", "Far Away Ltd", "--json"));

  /* the fastest form: a name in any letter case, the time now */
  char now_call[64], late_call[64], visit[64];
  take_id(now_call, sizeof now_call,
          OK_JSON("call", "log", "--customer", "müller gmbh", "--outcome", "sends the order",
                  "--json"));
  /* a call late in the evening, with its length and a follow-up */
  take_id(late_call, sizeof late_call,
          OK_JSON("call", "log", "--customer", "Nordwind AG", "--outcome", "wants a quote",
                  "--duration", "12", "--follow-up", "2026-03-12", "--at", "2026-03-10 23:30",
                  "--notes", "asked for Jana", "--json"));
  take_id(visit, sizeof visit,
          OK_JSON("meeting", "add", "--customer", g_mueller, "--at", "2026-03-10 09:00", "--place",
                  "Halle 3", "--follow-up", "2026-03-10", "--json"));
  char *exp = ct_export(ct_home);
  cJSON *e = cJSON_Parse(exp ? exp : "");
  const cJSON *c1 = row_of(e, "meetings", now_call), *c2 = row_of(e, "meetings", late_call);
  CHECK_STR(str_of(c1, "kind"), "call");
  CHECK_STR(str_of(c1, "at"), "2026-03-10T19:00:00Z"); /* the library's now */
  CHECK_STR(str_of(c1, "customer_id"), g_mueller);
  CHECK_STR(str_of(c1, "outcome"), "sends the order");
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c1, "duration_min")));
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c1, "follow_up")));
  CHECK_STR(str_of(c1, "manager"), "anna");
  CHECK_STR(str_of(c2, "at"), "2026-03-11T03:30:00Z"); /* 23:30 EDT */
  CHECK_EQ_INT(int_of(c2, "duration_min"), 12);
  CHECK_STR(str_of(c2, "follow_up"), "2026-03-12");
  CHECK_STR(str_of(c2, "notes"), "asked for Jana");
  CHECK_STR(str_of(c2, "customer_id"), g_nord);
  cJSON_Delete(e);
  free(exp);

  /* call list: calls only, of the local day */
  cJSON *l = OK_JSON("call", "list", "--day", "2026-03-10", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 2);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 0), "id"), now_call);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 1), "id"), late_call);
  CHECK_EQ_INT(int_of(cJSON_GetArrayItem(l, 1), "duration_min"), 12);
  cJSON_Delete(l);
  l = OK_JSON("call", "list", "--day", "2026-03-11", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 0);
  cJSON_Delete(l);
  l = OK_JSON("call", "list", "--customer", "Nordwind AG", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 1);
  cJSON_Delete(l);
  char *out = OK_TEXT("call", "list");
  CHECK_CONTAINS(out, "2026-03-10 23:30"); /* printed in local time */
  CHECK_CONTAINS(out, "wants a quote");
  CHECK(!strstr(out, "Halle 3"));
  free(out);
}

static void test_tasks(void) {
  test_calls();
  if (*g_task_today) return; /* done */
  take_id(g_task_later, sizeof g_task_later,
          OK_JSON("task", "add", "--title", "send the price list", "--customer", "Nordwind AG",
                  "--due", "2026-03-12", "--json"));
  take_id(g_task_none, sizeof g_task_none,
          OK_JSON("task", "add", "--title", "tidy the CRM", "--json"));
  take_id(g_task_over, sizeof g_task_over,
          OK_JSON("task", "add", "--title", "return the samples", "--due", "2026-03-05", "--notes",
                  "two boxes", "--json"));
  take_id(g_task_today, sizeof g_task_today,
          OK_JSON("task", "add", "--title", "book the hotel", "--due", "2026-03-10", "--json"));
  /* open ones: overdue first, then by due date, none last */
  cJSON *l = OK_JSON("task", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 4);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 0), "id"), g_task_over);
  CHECK(is_true(cJSON_GetArrayItem(l, 0), "overdue"));
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 1), "id"), g_task_today);
  CHECK(!is_true(cJSON_GetArrayItem(l, 1), "overdue"));
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 2), "id"), g_task_later);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 2), "customer_name"), "Nordwind AG");
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 3), "id"), g_task_none);
  cJSON_Delete(l);
  char *out = OK_TEXT("task", "list");
  CHECK_CONTAINS(out, "overdue");
  CHECK_CONTAINS(out, "two boxes");
  free(out);

  /* done by a prefix of its id: stamped with the library's now */
  char prefix[40], made[64], gone[64];
  snprintf(prefix, sizeof prefix, "%.30s", g_task_today);
  cJSON *d = OK_JSON("task", "done", prefix, "--json");
  CHECK_STR(str_of(d, "id"), g_task_today);
  cJSON_Delete(d);
  l = OK_JSON("task", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 3);
  cJSON_Delete(l);
  l = OK_JSON("task", "list", "--all", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 4);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 3), "id"), g_task_today);
  CHECK_STR(str_of(cJSON_GetArrayItem(l, 3), "done_at"), "2026-03-10T19:00:00Z");
  cJSON_Delete(l);

  /* edit and delete */
  take_id(made, sizeof made, OK_JSON("task", "add", "--title", "typo", "--json"));
  cJSON_Delete(OK_JSON("task", "edit", made, "--title", "call Kowalski", "--customer", "Kowalski",
                       "--due", "2026-03-20", "--json"));
  char *exp = ct_export(ct_home);
  cJSON *e = cJSON_Parse(exp ? exp : "");
  const cJSON *t = row_of(e, "tasks", made);
  CHECK_STR(str_of(t, "title"), "call Kowalski");
  CHECK_STR(str_of(t, "customer_id"), g_kowa);
  CHECK_STR(str_of(t, "due"), "2026-03-20");
  CHECK_STR(str_of(t, "manager"), "anna");
  cJSON_Delete(e);
  free(exp);
  cJSON_Delete(OK_JSON("task", "edit", made, "--due", "", "--customer", "", "--json"));
  exp = ct_export(ct_home);
  e = cJSON_Parse(exp ? exp : "");
  t = row_of(e, "tasks", made);
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(t, "due")));
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(t, "customer_id")));
  cJSON_Delete(e);
  free(exp);
  snprintf(gone, sizeof gone, "%s", made);
  d = OK_JSON("task", "delete", gone, "--json");
  CHECK(is_true(d, "deleted"));
  cJSON_Delete(d);
  l = OK_JSON("task", "list", "--all", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(l), 4);
  cJSON_Delete(l);
}

/* Head office's balances and norms, quotes, and meetings around the
 * boundaries of the 10th and of the week of the 2nd. */
static void seed_day(void) {
  static int seeded;
  char path[4096], csv[1024];
  test_tasks();
  if (seeded++) return;
  char products[4096], prices[4096];
  snprintf(products, sizeof products, "%s.products.csv", ct_home);
  snprintf(prices, sizeof prices, "%s.prices.csv", ct_home);
  CHECK_OK(tu_write_file(products, "sku,name,unit,active\nQ-1,Quoted chair,pcs,1\n"));
  CHECK_OK(tu_write_file(prices, "sku,currency,price\nQ-1,EUR,99.00\n"));
  snprintf(path, sizeof path, "%s.balances.csv", ct_home);
  snprintf(csv, sizeof csv,
           "customer_id,currency,open,overdue\n%s,EUR,2000.00,1234.50\n%s,EUR,90.00,50.00\n"
           "%s,EUR,500.00,0\n%s,EUR,700.00,700.00\n",
           g_mueller, g_kowa, g_nord, g_far);
  CHECK_OK(tu_write_file(path, csv));
  CHECK_OK(tu_seed_catalog(ct_home, products, prices, path));
  remove(path);
  remove(products);
  remove(prices);
  CHECK_OK(tu_seed_norms(ct_home, "*", 30, 4, 50));
  CHECK_OK(tu_seed_norms(ct_home, "anna", 25, -1, -1)); /* her own calls, the default else */

  /* proposals of the local 10th: 10:00 local, and 22:00 local (the 11th
   * in UTC) */
  add_quote(g_mueller, "sent", "2026-03-10T14:00:00Z", "2026-03-12");
  add_quote(g_kowa, "sent", "2026-03-01T10:00:00Z", "2026-03-05");
  add_quote(g_nord, "sent", "2026-03-11T02:00:00Z", "2026-04-30");
  add_quote(g_nord, "draft", NULL, "2026-04-30");
  add_quote(g_far, "accepted", "2026-03-10T15:00:00Z", "2026-04-30");

  /* Kowalski's follow-up is open (nothing later); the 00:30 visit of the
   * 11th belongs to the 11th */
  char id[64];
  take_id(id, sizeof id,
          OK_JSON("meeting", "add", "--customer", "Kowalski", "--at", "2026-03-03 10:00",
                  "--follow-up", "2026-03-06", "--json"));
  take_id(id, sizeof id,
          OK_JSON("meeting", "add", "--customer", "Far Away Ltd", "--at", "2026-03-11 00:30",
                  "--json"));
  /* the last evening of the week of the 2nd (23:30 on the 8th, EDT) and
   * the first minutes of the next week */
  take_id(id, sizeof id,
          OK_JSON("meeting", "add", "--customer", "Far Away Ltd", "--at", "2026-03-08 23:30",
                  "--kind", "exhibition", "--json"));
  take_id(id, sizeof id,
          OK_JSON("call", "log", "--customer", "Far Away Ltd", "--at", "2026-03-09 00:30",
                  "--outcome", "early bird", "--json"));
}

/* Each case also runs alone (ctest runs them one by one): it first makes
 * what the cases before it made, once. */
static void test_agenda_day(void) {
  seed_day();
  cJSON *a = OK_JSON("agenda", "--day", "2026-03-10", "--json");
  CHECK_STR(str_of(a, "day"), "2026-03-10");
  CHECK_STR(str_of(a, "last_day"), "2026-03-10");
  CHECK_EQ_INT(int_of(a, "days"), 1);
  CHECK_STR(str_of(a, "from"), "2026-03-10T04:00:00Z");
  CHECK_STR(str_of(a, "to"), "2026-03-11T04:00:00Z");
  CHECK_STR(str_of(a, "manager"), "anna");
  /* meetings and calls of the local day, in time order */
  CHECK_EQ_INT(count_of(a, "meetings"), 3);
  CHECK_STR(str_of(item(a, "meetings", 0), "kind"), "visit");
  CHECK_STR(str_of(item(a, "meetings", 0), "customer_name"), "Müller GmbH");
  CHECK_STR(str_of(item(a, "meetings", 1), "at"), "2026-03-10T19:00:00Z");
  CHECK_STR(str_of(item(a, "meetings", 2), "at"), "2026-03-11T03:30:00Z");
  CHECK_EQ_INT(int_of(item(a, "meetings", 2), "duration_min"), 12);
  /* follow-ups: Müller's (the 10th) is done by the later call; Nordwind's
   * is the 12th; Kowalski's is overdue */
  CHECK_EQ_INT(count_of(a, "follow_ups"), 1);
  CHECK_STR(str_of(item(a, "follow_ups", 0), "customer_id"), g_kowa);
  CHECK_STR(str_of(item(a, "follow_ups", 0), "follow_up"), "2026-03-06");
  CHECK(is_true(item(a, "follow_ups", 0), "overdue"));
  /* tasks due or overdue: the open overdue one (today's is done) */
  CHECK_EQ_INT(count_of(a, "tasks"), 1);
  CHECK_STR(str_of(item(a, "tasks", 0), "id"), g_task_over);
  CHECK(is_true(item(a, "tasks", 0), "overdue"));
  /* quotes awaiting an answer, by validity: expired, expiring, valid */
  CHECK_EQ_INT(count_of(a, "quotes"), 3);
  CHECK_STR(str_of(item(a, "quotes", 0), "customer_id"), g_kowa);
  CHECK_STR(str_of(item(a, "quotes", 0), "validity"), "expired");
  CHECK_STR(str_of(item(a, "quotes", 1), "customer_id"), g_mueller);
  CHECK_STR(str_of(item(a, "quotes", 1), "validity"), "expiring");
  CHECK_STR(str_of(item(a, "quotes", 2), "customer_id"), g_nord);
  CHECK_STR(str_of(item(a, "quotes", 2), "sent_at"), "2026-03-11T02:00:00Z");
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(item(a, "quotes", 2), "validity")));
  CHECK_EQ_INT(int_of(item(a, "quotes", 2), "total"), 19800); /* 2 x 99.00 EUR */
  /* debtors among the day's customers (Far Away's debt is not today's) */
  CHECK_EQ_INT(count_of(a, "debtors"), 2);
  CHECK_STR(str_of(item(a, "debtors", 0), "customer_id"), g_mueller);
  CHECK_EQ_INT(int_of(item(a, "debtors", 0), "overdue"), 123450);
  CHECK_EQ_INT(int_of(item(a, "debtors", 0), "open"), 200000);
  CHECK_STR(str_of(item(a, "debtors", 0), "currency"), "EUR");
  CHECK_STR(str_of(item(a, "debtors", 1), "customer_id"), g_kowa);
  CHECK_EQ_INT(int_of(item(a, "debtors", 1), "overdue"), 5000);
  /* the day against the norms: anna's calls, the default's others */
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "summary");
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "norms");
  CHECK_EQ_INT(int_of(s, "calls"), 2);
  CHECK_EQ_INT(int_of(s, "meetings"), 1);
  CHECK_EQ_INT(int_of(s, "proposals"), 3); /* Müller's, Nordwind's sent one and Far Away's (sent,
                                            * then accepted) */
  CHECK_EQ_INT(int_of(n, "calls_day"), 25);
  CHECK_EQ_INT(int_of(n, "meetings_day"), 4);
  CHECK_EQ_INT(int_of(n, "proposals_day"), 50);
  CHECK_EQ_INT(count_of(s, "days"), 1);
  cJSON_Delete(a);

  /* the default day is the local today */
  a = OK_JSON("agenda", "--json");
  CHECK_STR(str_of(a, "day"), "2026-03-10");
  cJSON_Delete(a);
  /* the 00:30 visit is the 11th's */
  a = OK_JSON("agenda", "--day", "2026-03-11", "--json");
  CHECK_EQ_INT(count_of(a, "meetings"), 1);
  CHECK_STR(str_of(item(a, "meetings", 0), "customer_id"), g_far);
  CHECK_EQ_INT(count_of(a, "debtors"), 2); /* Far Away, Kowalski (follow-up) */
  cJSON_Delete(a);

  /* for a person: local times, targets, flags, money; 80 columns */
  char *out = OK_TEXT("agenda", "--day", "2026-03-10");
  CHECK_CONTAINS(out, "Agenda of Tue 2026-03-10 (local time, EDT)");
  CHECK_CONTAINS(out, "09:00");
  CHECK_CONTAINS(out, "23:30");
  CHECK_CONTAINS(out, "wants a quote");
  CHECK_CONTAINS(out, "overdue");
  CHECK_CONTAINS(out, "2026-03-05 EXPIRED");
  CHECK_CONTAINS(out, "2026-03-12 expiring");
  CHECK_CONTAINS(out, "1 234.50 EUR");
  CHECK_CONTAINS(out, "2 of 25");
  CHECK_CONTAINS(out, "1 of 4");
  CHECK_CONTAINS(out, "3 of 50");
  CHECK(widest_line(out) <= 80);
  free(out);
}

static void test_agenda_week(void) {
  seed_day();
  /* any day of the week gives its Monday to Sunday */
  cJSON *a = OK_JSON("agenda", "--day", "2026-03-04", "--week", "--json");
  CHECK_STR(str_of(a, "day"), "2026-03-02");
  CHECK_STR(str_of(a, "last_day"), "2026-03-08");
  CHECK_EQ_INT(int_of(a, "days"), 7);
  CHECK_STR(str_of(a, "from"), "2026-03-02T05:00:00Z"); /* EST */
  CHECK_STR(str_of(a, "to"), "2026-03-09T04:00:00Z");   /* EDT: a 23-hour Sunday */
  CHECK_EQ_INT(count_of(a, "meetings"), 2);             /* Kowalski's, the 8th's evening */
  CHECK_STR(str_of(item(a, "meetings", 0), "customer_id"), g_kowa);
  CHECK_STR(str_of(item(a, "meetings", 1), "at"), "2026-03-09T03:30:00Z");
  /* Kowalski's follow-up (the 6th) is due this week, not overdue */
  CHECK_EQ_INT(count_of(a, "follow_ups"), 1);
  CHECK(!is_true(item(a, "follow_ups", 0), "overdue"));
  CHECK_EQ_INT(count_of(a, "tasks"), 1); /* due the 5th */
  CHECK(!is_true(item(a, "tasks", 0), "overdue"));
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "summary");
  CHECK_EQ_INT(count_of(s, "days"), 7);
  CHECK_STR(str_of(item(s, "days", 1), "day"), "2026-03-03");
  CHECK_EQ_INT(int_of(item(s, "days", 1), "meetings"), 1);
  CHECK_STR(str_of(item(s, "days", 6), "day"), "2026-03-08");
  CHECK_EQ_INT(int_of(item(s, "days", 6), "meetings"), 1);
  CHECK_EQ_INT(int_of(s, "meetings"), 2);
  CHECK_EQ_INT(int_of(s, "calls"), 0); /* the 00:30 call is the next week's */
  cJSON_Delete(a);

  a = OK_JSON("agenda", "--week", "--json"); /* this week */
  CHECK_STR(str_of(a, "day"), "2026-03-09");
  CHECK_EQ_INT(count_of(a, "meetings"), 5);
  CHECK_EQ_INT(count_of(a, "follow_ups"), 2); /* Kowalski overdue, Nordwind the 12th */
  CHECK(is_true(item(a, "follow_ups", 0), "overdue"));
  CHECK_STR(str_of(item(a, "follow_ups", 1), "follow_up"), "2026-03-12");
  CHECK(!is_true(item(a, "follow_ups", 1), "overdue"));
  CHECK_EQ_INT(count_of(a, "tasks"), 2); /* overdue, and the 12th's */
  const cJSON *s2 = cJSON_GetObjectItemCaseSensitive(a, "summary");
  CHECK_EQ_INT(int_of(s2, "calls"), 3);
  CHECK_EQ_INT(int_of(item(s2, "days", 0), "calls"), 1);
  CHECK_EQ_INT(int_of(item(s2, "days", 1), "calls"), 2);
  CHECK_EQ_INT(int_of(s2, "proposals"), 3);
  cJSON_Delete(a);

  char *out = OK_TEXT("agenda", "--day", "2026-03-04", "--week");
  CHECK_CONTAINS(out, "Agenda of Mon 2026-03-02 to Sun 2026-03-08");
  CHECK_CONTAINS(out, "2026-03-08 23:30");
  CHECK_CONTAINS(out, "targets a day: calls 25, meetings 4, proposals 50");
  CHECK(widest_line(out) <= 80);
  free(out);
}

static void test_bad_input(void) {
  char big[2101], bad_utf8[] = "Bad \xff\xfe text", id_prefix[40];
  memset(big, 'A', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  seed_day();
  snprintf(id_prefix, sizeof id_prefix, "%.30s", g_task_over);

  REFUSED(2, "call", "log", "--outcome", "x");
  REFUSED(2, "call", "log", "--customer", "Kowalski");
  REFUSED(2, "call", "log", "--customer", "Kowalski", "--outcome", "");
  REFUSED(2, "call", "log", "--customer", "Kowalski", "--outcome", "x", "--duration", "0");
  REFUSED(2, "call", "log", "--customer", "Kowalski", "--outcome", "x", "--duration", "12min");
  REFUSED(2, "call", "log", "--customer", "Kowalski", "--outcome", "x", "--duration", "1441");
  REFUSED(2, "call", "log", "--customer", "Kowalski", "--outcome", "x", "--follow-up",
          "2026-02-30");
  REFUSED(2, "call", "log", "--customer", "Kowalski", "--outcome", "x", "--at", "yesterday");
  REFUSED(1, "call", "log", "--customer", UNKNOWN_ID, "--outcome", "x");
  REFUSED(1, "call", "log", "--customer", "Nobody GmbH", "--outcome", "x");
  REFUSED(1, "call", "log", "--customer", "Kowalski", "--outcome", big);
  REFUSED(1, "call", "log", "--customer", "Kowalski", "--outcome", "x", "--notes", bad_utf8);
  REFUSED(2, "call", "log", "--customer", "Kowalski", "--outcome", "x", "--kind", "visit");
  REFUSED(2, "call", "list", "--day", "10.03.2026");
  REFUSED(1, "call", "list", "--customer", "Nobody GmbH");
  REFUSED(2, "call", "shout");

  REFUSED(2, "task", "add");
  REFUSED(2, "task", "add", "--title", "");
  REFUSED(1, "task", "add", "--title", "   ");
  REFUSED(2, "task", "add", "--title", "x", "--due", "2026-13-01");
  REFUSED(2, "task", "add", "--title", "x", "--due", "soon");
  REFUSED(2, "task", "add", "--title", "x", "--customer", "");
  REFUSED(1, "task", "add", "--title", "x", "--customer", "Nobody GmbH");
  REFUSED(1, "task", "add", "--title", big);
  REFUSED(1, "task", "add", "--title", bad_utf8);
  REFUSED(2, "task", "done");
  REFUSED(1, "task", "done", UNKNOWN_ID);
  REFUSED(1, "task", "done", "0190");
  REFUSED(1, "task", "done", g_task_today); /* already done */
  REFUSED(2, "task", "done", id_prefix, "--now");
  REFUSED(2, "task", "edit", id_prefix);
  REFUSED(2, "task", "edit", id_prefix, "--title", "");
  REFUSED(2, "task", "edit", id_prefix, "--due", "tomorrow");
  REFUSED(1, "task", "edit", id_prefix, "--customer", "Nobody GmbH");
  REFUSED(1, "task", "edit", UNKNOWN_ID, "--title", "x");
  REFUSED(1, "task", "delete", UNKNOWN_ID);
  REFUSED(2, "task", "list", "--overdue");

  REFUSED(2, "agenda", "--day", "2026-03-32");
  REFUSED(2, "agenda", "--week=1");
  REFUSED(2, "agenda", "tomorrow");

  /* the library's own rules, for what does not come through the verbs
   * (and what head office checks on what devices push) */
  fs_device *dev = NULL;
  char id[FS_ID_SIZE];
  CHECK_OK(tu_device_open(&dev, ct_home, NULL));
  if (!dev) return;
  fs_store *st = fs_device_store(dev);
  fs_field t1[] = {{"title", "x"}, {"due", "2026-3-1"}};
  CHECK_ERR(fs_insert(id, st, "tasks", t1, 2), FS_EINVAL);
  fs_field t2[] = {{"title", "x"}, {"done_at", "whenever"}};
  CHECK_ERR(fs_insert(id, st, "tasks", t2, 2), FS_EINVAL);
  fs_field m1[] = {{"customer_id", g_kowa}, {"kind", "call"}, {"duration_min", "-5"}};
  CHECK_ERR(fs_insert(id, st, "meetings", m1, 3), FS_EINVAL);
  CHECK_ERR(fs_task_done(st, UNKNOWN_ID), FS_ENOTFOUND);
  char *doc = NULL;
  CHECK_ERR(fs_view_json(&doc, st, "agenda", "day=2026-02-30"), FS_EINVAL);
  CHECK_ERR(fs_view_json(&doc, st, "agenda", "days=40"), FS_EINVAL);
  CHECK_ERR(fs_view_json(&doc, st, "agenda", "month=3"), FS_EINVAL);
  CHECK_ERR(fs_view_json(&doc, st, "tasks", "overdue"), FS_EINVAL);
  CHECK_OK(fs_view_json(&doc, st, "agenda", "day=2026-03-09&days=2"));
  cJSON *a = cJSON_Parse(doc ? doc : "");
  CHECK_EQ_INT(int_of(a, "days"), 2);
  CHECK_EQ_INT(count_of(a, "meetings"), 4); /* the 00:30 call, the visit, two calls */
  cJSON_Delete(a);
  fs_free(doc);
  fs_device_close(dev);
}

int main(void) {
  setenv("TZ", "America/New_York", 1);
  setenv("FIELDSYNC_TEST_NOW_MS", NOW_MS, 1);
  unsetenv("FIELDSYNC_HOME");
  char *dir = tu_tmpdir("cli-agenda");
  size_t n = strlen(dir) + 16;
  ct_home = malloc(n);
  if (!ct_home) return 1;
  snprintf(ct_home, n, "%s/home", dir);

  TEST_RUN(test_help);
  TEST_RUN(test_calls);
  TEST_RUN(test_tasks);
  TEST_RUN(test_agenda_day);
  TEST_RUN(test_agenda_week);
  TEST_RUN(test_bad_input);
  tu_rmrf(dir);
  free(dir);
  free(ct_home);
  return tu_finish();
}
