/*
 * test_e2e_pipeline.c — the deals pipeline at head office, through the real
 * binaries and head office on 127.0.0.1 (docs/cli.md, "Deals").
 *
 * Anna and Ben each record deals of their own customers on their laptops
 * (every stage, default and typed probabilities, two currencies, a value
 * whose weighted value rounds) and sync.  `fieldsync-server report pipeline
 * --json` must then show, per manager, stage and currency, exactly the
 * count, value and weighted value this test computes from what it typed
 * (value x probability / 100 per deal, rounded half up to the cent), with
 * the stages in their order; --month keeps the deals whose close date falls
 * in it; --by customer groups by customer; the totals add up over both
 * managers.  Then a hostile device (Anna's keys, hostile.h) pushes a deal
 * with a probability of 150 and one at a stage "closed": head office
 * refuses both with its reason, holds neither and its report is unchanged.
 * Each check fails on a build whose pipeline still counts orders, or whose
 * head office does not run the deal rules.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "hostile.h"

/* What the test typed, and what it expects from it. */
typedef struct entry {
  const char *manager, *customer, *stage, *value, *currency, *probability, *close;
  long long minor; /* value in minor units, as typed */
  int pct;         /* the probability given, or the stage's default */
} entry;

static entry entries[] = {
    {"anna", "Nordwind GmbH", "qualified", "12500", "EUR", NULL, "2026-06-30", 1250000, 25},
    {"anna", "Nordwind GmbH", "proposal", "8000.00", "EUR", "40", "2026-07-15", 800000, 40},
    {"anna", "Nordwind GmbH", "qualified", "999.99", "EUR", NULL, "2026-06-12", 99999, 25},
    {"anna", "Nordwind GmbH", "won", "5000", "EUR", NULL, "2026-06-10", 500000, 100},
    {"anna", "Nordwind GmbH", "lost", "700", "EUR", NULL, "2026-06-20", 70000, 0},
    {"anna", "Nordwind GmbH", "qualified", "1000", "SEK", NULL, "2026-06-30", 100000, 25},
    {"ben", "Bergmann AG", "qualified", "333.33", "EUR", NULL, "2026-06-05", 33333, 25},
    {"ben", "Bergmann AG", "negotiation", "10000", "EUR", NULL, "2026-07-01", 1000000, 75},
    {"ben", "Bergmann AG", "lead", "100", "EUR", "15", "2026-06-28", 10000, 15},
    {"ben", "Bergmann AG", "negotiation", "250.50", "EUR", "33", "2026-06-15", 25050, 33},
};
#define NENTRIES (sizeof entries / sizeof entries[0])

static long long weighted(const entry *e) { return (e->minor * e->pct + 50) / 100; }

/* The expected row of (group, stage, currency) over the entries whose
 * month matches (NULL: all); count 0 when there is none. */
static void expect(const char *manager, const char *customer, const char *stage, const char *cur,
                   const char *month, long long *count, long long *value, long long *wsum) {
  *count = *value = *wsum = 0;
  for (size_t i = 0; i < NENTRIES; i++) {
    const entry *e = &entries[i];
    if ((manager && strcmp(e->manager, manager)) || (customer && strcmp(e->customer, customer)) ||
        (stage && strcmp(e->stage, stage)) || strcmp(e->currency, cur) ||
        (month && strncmp(e->close, month, 7)))
      continue;
    (*count)++;
    *value += e->minor;
    *wsum += weighted(e);
  }
}

static const char *const stage_order[] = {"lead", "qualified", "proposal", "negotiation",
                                          "won",  "lost",      NULL};

static int stage_rank(const char *s) {
  for (int i = 0; stage_order[i]; i++)
    if (s && !strcmp(stage_order[i], s)) return i;
  return 99;
}

/* Every row of a pipeline report by manager equals the expectation, the
 * rows are exactly the non-empty (manager, stage, currency) groups, and
 * they come in manager, stage order. */
static void check_by_manager(int line, const cJSON *doc, const char *month) {
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "rows"), *it;
  int want_rows = 0, prev_rank = -1;
  const char *prev_mgr = "";
  static const char *const mgrs[] = {"anna", "ben"};
  static const char *const curs[] = {"EUR", "SEK"};
  for (int m = 0; m < 2; m++)
    for (int s = 0; stage_order[s]; s++)
      for (int c = 0; c < 2; c++) {
        long long n, v, w;
        expect(mgrs[m], NULL, stage_order[s], curs[c], month, &n, &v, &w);
        if (n) want_rows++;
      }
  tu_checks++;
  if (cJSON_GetArraySize(rows) != want_rows)
    tu_fail(__FILE__, line, "pipeline%s%s: %d rows, expected %d", month ? " " : "",
            month ? month : "", cJSON_GetArraySize(rows), want_rows);
  cJSON_ArrayForEach(it, rows) {
    const char *mgr = e2e_str(it, "manager"), *stage = e2e_str(it, "stage");
    const char *cur = e2e_str(it, "currency");
    long long n, v, w;
    expect(mgr ? mgr : "?", NULL, stage ? stage : "?", cur ? cur : "?", month, &n, &v, &w);
    tu_checks += 4;
    if (!n || e2e_int(it, "deals") != n || e2e_int(it, "value") != v ||
        e2e_int(it, "weighted") != w)
      tu_fail(__FILE__, line,
              "pipeline row %s/%s/%s: %lld deals, value %lld, weighted %lld; expected %lld, %lld, "
              "%lld",
              mgr ? mgr : "?", stage ? stage : "?", cur ? cur : "?", e2e_int(it, "deals"),
              e2e_int(it, "value"), e2e_int(it, "weighted"), n, v, w);
    int rank = stage_rank(stage);
    if (mgr && strcmp(mgr, prev_mgr)) {
      tu_checks++;
      if (strcmp(mgr, prev_mgr) < 0) tu_fail(__FILE__, line, "manager %s out of order", mgr);
      prev_mgr = mgr;
      prev_rank = -1;
    }
    tu_checks++;
    if (rank < prev_rank) tu_fail(__FILE__, line, "stage %s out of order", stage ? stage : "?");
    prev_rank = rank;
  }
}

/* The totals: per stage and currency over both managers. */
static void check_totals(int line, const cJSON *doc, const char *month) {
  const cJSON *it;
  int n_rows = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "totals")) {
    const char *stage = e2e_str(it, "stage"), *cur = e2e_str(it, "currency");
    long long n, v, w;
    expect(NULL, NULL, stage ? stage : "?", cur ? cur : "?", month, &n, &v, &w);
    tu_checks += 3;
    if (!n || e2e_int(it, "deals") != n || e2e_int(it, "value") != v ||
        e2e_int(it, "weighted") != w)
      tu_fail(__FILE__, line, "pipeline total %s/%s: %lld, %lld, %lld; expected %lld, %lld, %lld",
              stage ? stage : "?", cur ? cur : "?", e2e_int(it, "deals"), e2e_int(it, "value"),
              e2e_int(it, "weighted"), n, v, w);
    n_rows++;
  }
  int want = 0;
  for (int s = 0; stage_order[s]; s++)
    for (int c = 0; c < 2; c++) {
      long long n, v, w;
      expect(NULL, NULL, stage_order[s], c ? "SEK" : "EUR", month, &n, &v, &w);
      if (n) want++;
    }
  CHECK_EQ_INT(n_rows, want);
}

static void add_deals(const char *home, const char *manager, char ids[][64]) {
  for (size_t i = 0; i < NENTRIES; i++) {
    const entry *e = &entries[i];
    if (strcmp(e->manager, manager)) continue;
    const char *argv[24] = {"deal",    "add",     "--customer", e->customer,  "--stage",
                            e->stage,  "--value", e->value,     "--currency", e->currency,
                            "--close", e->close,  "--json"};
    size_t n = 13;
    if (e->probability) {
      argv[n++] = "--probability";
      argv[n++] = e->probability;
    }
    if (!strcmp(e->stage, "lost")) {
      argv[n++] = "--lost-reason";
      argv[n++] = "price too high";
    }
    argv[n] = NULL;
    e2e_add(__LINE__, home, ids[i], argv);
  }
}

static const char *const DEAL_COLS[] = {"customer_id", "title",       "stage",      "value",
                                        "currency",    "probability", "close_date", "lost_reason",
                                        "created_at",  "manager",     NULL};

/* Pushes b as h: 200 with `refused` refusals, each naming head office's
 * rule and one of `needles` in order. */
static void push_refused(int line, hostile *h, fsi_batch *b, int refused,
                         const char *const *needles) {
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  int rc = hostile_push(h, b, &r);
  tu_checks += 2;
  if (rc != FS_OK || r.status != 200) {
    tu_fail(__FILE__, line, "push: status %ld %s", r.status, r.body ? (const char *)r.body : "");
    fsi_http_response_clear(&r);
    return;
  }
  cJSON *ack = cJSON_ParseWithLength((const char *)r.body, r.len);
  fsi_http_response_clear(&r);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(ack, "refused");
  if (cJSON_GetArraySize(arr) != refused)
    tu_fail(__FILE__, line, "push: %d refused, expected %d", cJSON_GetArraySize(arr), refused);
  for (int i = 0; i < refused && needles[i]; i++) {
    const char *why = e2e_str(cJSON_GetArrayItem(arr, i), "reason");
    tu_checks++;
    if (!why || !strstr(why, "head office refuses this row") || !strstr(why, needles[i]))
      tu_fail(__FILE__, line, "refusal %d \"%s\" does not name \"%s\"", i, why ? why : "",
              needles[i]);
  }
  cJSON_Delete(ack);
}

static void test_pipeline_two_managers(void) {
  char *dir = tu_tmpdir("e2e-pipeline");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *anna = NULL, *ben = NULL, ids[NENTRIES][64], nordwind[64], bergmann[64];
  memset(ids, 0, sizeof ids);
  if (!s || e2e_server_start(s, 0)) goto done;
  anna = e2e_device_new(__LINE__, s, dir, "anna", "anna");
  ben = e2e_device_new(__LINE__, s, dir, "ben", "ben");
  if (!anna || !ben) goto done;
  ADD(anna, nordwind, "customer", "add", "--name", "Nordwind GmbH", "--json");
  ADD(ben, bergmann, "customer", "add", "--name", "Bergmann AG", "--json");
  add_deals(anna, "anna", ids);
  add_deals(ben, "ben", ids);
  SYNC(anna);
  SYNC(ben);
  SYNC(anna);
  SAME_AS_HQ(anna, s, "anna"); /* each laptop holds its deals as head office does */
  SAME_AS_HQ(ben, s, "ben");

  cJSON *doc = HQ_JSON(s, "report", "pipeline", "--json");
  CHECK_STR(e2e_str(doc, "report"), "pipeline");
  CHECK_STR(e2e_str(doc, "by"), "manager");
  check_by_manager(__LINE__, doc, NULL);
  check_totals(__LINE__, doc, NULL);
  cJSON_Delete(doc);
  /* one figure spelled out: Ben's qualified 333.33 EUR at 25 % weighs 83.33 */
  doc = HQ_JSON(s, "report", "pipeline", "--json");
  const cJSON *it;
  int seen = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "rows")) {
    const char *m = e2e_str(it, "manager"), *st = e2e_str(it, "stage");
    if (m && st && !strcmp(m, "ben") && !strcmp(st, "qualified")) {
      CHECK_EQ_INT(e2e_int(it, "weighted"), 8333);
      CHECK_EQ_INT(e2e_int(it, "value"), 33333);
      seen++;
    }
  }
  CHECK_EQ_INT(seen, 1);
  cJSON_Delete(doc);

  doc = HQ_JSON(s, "report", "pipeline", "--month", "2026-06", "--json");
  CHECK_STR(e2e_str(doc, "month"), "2026-06");
  check_by_manager(__LINE__, doc, "2026-06");
  check_totals(__LINE__, doc, "2026-06");
  cJSON_Delete(doc);
  doc = HQ_JSON(s, "report", "pipeline", "--month", "2026-07", "--json");
  check_by_manager(__LINE__, doc, "2026-07");
  cJSON_Delete(doc);

  /* by customer: the customer's id and name instead of the manager */
  doc = HQ_JSON(s, "report", "pipeline", "--by", "customer", "--json");
  CHECK_STR(e2e_str(doc, "by"), "customer");
  int rows = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "rows")) {
    const char *name = e2e_str(it, "customer_name"), *id = e2e_str(it, "customer_id");
    long long n, v, w;
    const char *st = e2e_str(it, "stage"), *cur = e2e_str(it, "currency");
    expect(NULL, name ? name : "?", st ? st : "?", cur ? cur : "?", NULL, &n, &v, &w);
    CHECK(id && !strcmp(id, !strcmp(name ? name : "", "Nordwind GmbH") ? nordwind : bergmann));
    CHECK_EQ_INT(e2e_int(it, "weighted"), w);
    CHECK_EQ_INT(e2e_int(it, "deals"), n);
    rows++;
  }
  CHECK_EQ_INT(rows, 8); /* Nordwind 5 stage/currency groups, Bergmann 3 */
  cJSON_Delete(doc);

  /* the table and the CSV carry the same figures */
  char *table = e2e_hq_ok(__LINE__, s, ARGS("report", "pipeline"));
  CHECK_CONTAINS(table, "WEIGHTED");
  CHECK_CONTAINS(table, "83.33 EUR");
  CHECK_CONTAINS(table, "total won: 1 deal, 5 000.00 EUR, weighted 5 000.00 EUR");
  free(table);
  char *csv = e2e_hq_ok(__LINE__, s, ARGS("report", "pipeline", "--csv"));
  CHECK(csv && !strncmp(csv, "manager,stage,currency,deals,value,weighted\n", 44));
  CHECK_CONTAINS(csv, "\nben,qualified,EUR,1,33333,8333\n");
  free(csv);

  /* a hostile device: what a laptop would refuse, refused at head office */
  char *before = e2e_hq_ok(__LINE__, s, ARGS("report", "pipeline", "--json"));
  hostile h;
  if (hostile_open(&h, s, anna) == 0) {
    char pk[3][FS_ID_SIZE];
    for (int i = 0; i < 3; i++) fs_uuid7(pk[i]);
    int64_t now = hostile_now_hlc();
    fsi_batch *b = hb_new("deals", DEAL_COLS);
    const char *v1[] = {
        nordwind, "Hacked odds",          "qualified", "#100000", "EUR", "#150", "2026-06-30",
        "~",      "2026-06-01T00:00:00Z", "anna"};
    const char *v2[] = {
        nordwind, "Hacked stage",         "closed", "#100000", "EUR", "#50", "2026-06-30",
        "~",      "2026-06-01T00:00:00Z", "anna"};
    const char *v3[] = {
        nordwind, "Hacked loss",          "lost", "#100000", "EUR", "#0", "2026-06-30",
        "~",      "2026-06-01T00:00:00Z", "anna"};
    hb_row(b, pk[0], 1, now + 1, h.site, v1);
    hb_row(b, pk[1], 1, now + 2, h.site, v2);
    hb_row(b, pk[2], 1, now + 3, h.site, v3);
    push_refused(__LINE__, &h, b, 3,
                 (const char *const[]){"probability", "stage", "lost reason", NULL});
    fsi_change_batch_free(b);
    char *all = e2e_export_hq(__LINE__, s, NULL);
    for (int i = 0; i < 3; i++) CHECK(all && !strstr(all, pk[i]));
    CHECK(all && !strstr(all, "Hacked"));
    free(all);
  }
  hostile_close(&h);
  char *after = e2e_hq_ok(__LINE__, s, ARGS("report", "pipeline", "--json"));
  CHECK(before && after && !strcmp(before, after));
  free(before);
  free(after);
done:
  free(anna);
  free(ben);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  TEST_RUN(test_pipeline_two_managers);
  e2e_stop_all();
  curl_global_cleanup();
  return tu_finish();
}
