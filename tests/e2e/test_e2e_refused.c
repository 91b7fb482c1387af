/*
 * test_e2e_refused.c — a refused change is never removed from where a
 * person can see it, through the real binaries (docs/cli.md, `fieldsync
 * refused`; docs/merge.md, "Write policy and refusals").
 *
 * The story: Ben, offline, takes a submitted order (two lines) and two
 * meetings for his customer Nordwind; meanwhile head office runs `assign
 * Nordwind anna`.  Ben syncs.  Covers:
 *  - `fieldsync sync` finishes, says "5 refused: see `fieldsync refused`"
 *    and exits 3 (the refused code), with one sentence on stderr; with
 *    --json its document counts them;
 *  - the pull takes Nordwind off Ben's laptop, but `fieldsync refused
 *    --json` still lists the order, its lines and the meetings with every
 *    value, the customer's name and head office's whole reason;
 *  - `fieldsync refused show` prints the whole reason and the lines at
 *    COLUMNS=40, no line wider than 40, and `fieldsync status` (text and
 *    --json) neither cuts the reason nor gives only a count;
 *  - `fieldsync-server refused --json [--manager ben]` shows the order's
 *    values as they arrived, for manager ben (and nothing for anna);
 *  - `refused copy` without --customer is refused with a sentence (the
 *    customer left), with --customer re-creates the order (same lines,
 *    submitted) under another of Ben's customers, or the meeting; the copy
 *    syncs and arrives at head office (`fieldsync-server export --json`);
 *  - `refused dismiss` hides a refusal from the default list, `--all`
 *    still shows it, dismissed and copied; a refusal copied once cannot be
 *    copied again.
 * Each check here fails on a build without the refused log's values and
 * verbs (sync exited 0 and nothing could be seen or copied).
 */
#include "e2e.h"

#include <stdlib.h>
#include <string.h>

static cJSON *parse(const char *text) {
  cJSON *doc = text ? cJSON_Parse(text) : NULL;
  tu_checks++;
  if (!doc) tu_fail(__FILE__, __LINE__, "not JSON: %.200s", text ? text : "(null)");
  return doc;
}

/* The refusal of row `row` (table `table`) in a "refused" list. */
static const cJSON *refusal_of(const cJSON *arr, const char *table, const char *row) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    const char *t = e2e_str(it, "table"), *r = e2e_str(it, "row");
    if (t && r && !strcmp(t, table) && !strcmp(r, row)) return it;
  }
  return NULL;
}

static const char *value_of(const cJSON *refusal, const char *col) {
  return e2e_str(cJSON_GetObjectItemCaseSensitive(refusal, "values"), col);
}

static long long int_value_of(const cJSON *refusal, const char *col) {
  return e2e_int(cJSON_GetObjectItemCaseSensitive(refusal, "values"), col);
}

/* The text with its line breaks and the indentation after them made one
 * space each, so a wrapped paragraph reads as one line. */
static char *unwrapped(const char *text) {
  char *out = malloc(strlen(text) + 1), *q = out;
  int space = 0;
  for (const char *p = text; *p; p++) {
    if (*p == '\n' || *p == ' ') {
      space = 1;
      continue;
    }
    if (space && q > out) *q++ = ' ';
    space = 0;
    *q++ = *p;
  }
  *q = '\0';
  return out;
}

/* No line of `text` is wider than `width` characters, unless it is one word. */
static void fits(int line, const char *text, size_t width) {
  const char *p = text;
  tu_checks++;
  while (p && *p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p), chars = 0;
    for (size_t i = 0; i < n; i++)
      if (((unsigned char)p[i] & 0xC0) != 0x80) chars++;
    size_t lead = 0;
    while (lead < n && p[lead] == ' ') lead++;
    int one_word = memchr(p + lead, ' ', n - lead) == NULL;
    if (chars > width && !one_word) {
      tu_fail(__FILE__, line, "a line of %zu characters at width %zu: %.*s", chars, width, (int)n,
              p);
      return;
    }
    p = nl ? nl + 1 : NULL;
  }
}

static int rows_where2(const cJSON *doc, const char *table, const char *col, const char *val,
                       const char *col2, const char *val2) {
  int n = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, table)) {
    const char *a = e2e_str(it, col), *b = e2e_str(it, col2);
    if (a && b && !strcmp(a, val) && !strcmp(b, val2)) n++;
  }
  return n;
}

static void test_ben_order_for_a_moved_customer(void) {
  char *dir = tu_tmpdir("e2e-refused");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *b = NULL, *out = NULL, *err = NULL;
  cJSON *doc = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  b = e2e_device_new(__LINE__, s, dir, "ben-laptop", "ben");
  char nordwind[64], hanse[64], order[64], l1[64], l2[64], m1[64], m2[64];
  SYNC(b); /* the catalog and prices */
  ADD(b, nordwind, "customer", "add", "--name", "Nordwind GmbH", "--city", "Hamburg");
  ADD(b, hanse, "customer", "add", "--name", "Hanse Möbel KG");
  SYNC(b);
  SYNC(a);

  /* Offline at the fair: an order and two meetings for Nordwind. */
  ADD(b, order, "order", "new", "--customer", nordwind, "--discount", "2.5");
  ADD(b, l1, "order", "line", order, "--sku", "CHAIR-01", "--qty", "40");
  ADD(b, l2, "order", "line", order, "--sku", "DESK-02", "--qty", "3", "--discount", "5");
  FS_RUN(b, "order", "submit", order);
  ADD(b, m1, "meeting", "add", "--customer", nordwind, "--at", "2026-03-10 10:30", "--kind",
      "exhibition", "--place", "Orgatec, hall 8", "--notes", "wants 40 chairs by May");
  ADD(b, m2, "meeting", "add", "--customer", nordwind, "--at", "2026-03-11 09:00", "--kind",
      "call");
  /* ...while head office gives Nordwind to anna (by its name, as a sales
   * lead types it; an unknown name is refused and moves nothing). */
  char *hout = NULL, *herr = NULL;
  CHECK_EQ_INT(e2e_hq(s, &hout, &herr, ARGS("assign", "Nordwind AG", "anna")), 1);
  CHECK_CONTAINS(herr,
                 "no customer has the id, start or end of an id (6 or more characters) or name");
  free(hout);
  free(herr);
  hout = e2e_hq_ok(__LINE__, s, ARGS("assign", "nordwind gmbh", "anna"));
  CHECK_CONTAINS(hout, nordwind);
  free(hout);

  /* The sync finishes, says what was refused and exits with the refused code. */
  int rc = e2e_fs(b, &out, &err, ARGS("sync"));
  CHECK_EQ_INT(rc, 3);
  CHECK_CONTAINS(out, "5 refused: see `fieldsync refused`");
  CHECK(e2e_one_line(err, "fieldsync: "));
  CHECK_CONTAINS(err, "fieldsync refused");
  free(out);
  free(err);
  out = err = NULL;

  /* Nordwind and its rows have left Ben's laptop... */
  char *mine = e2e_export_dev(__LINE__, b);
  doc = parse(mine);
  free(mine);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "id", nordwind), 0);
  CHECK_EQ_INT(e2e_rows_where(doc, "orders", "id", order), 0);
  cJSON_Delete(doc);
  /* ...and head office holds none of what Ben wrote for it. */
  char *all = e2e_export_hq(__LINE__, s, NULL);
  doc = parse(all);
  free(all);
  CHECK_EQ_INT(e2e_rows_where(doc, "orders", "id", order), 0);
  CHECK_EQ_INT(e2e_rows_where(doc, "meetings", "id", m1), 0);
  cJSON_Delete(doc);

  /* But every refused row is kept on the laptop with its values and reason. */
  cJSON *ref = FS_JSON(b, "refused", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(ref), 5);
  const cJSON *ro = refusal_of(ref, "orders", order);
  const cJSON *rl1 = refusal_of(ref, "order_lines", l1), *rl2 = refusal_of(ref, "order_lines", l2);
  const cJSON *rm1 = refusal_of(ref, "meetings", m1), *rm2 = refusal_of(ref, "meetings", m2);
  CHECK(ro && rl1 && rl2 && rm1 && rm2);
  char reason[600] = "";
  long long order_ref = 0, line_ref = 0, m1_ref = 0, m2_ref = 0;
  if (ro && rl1 && rl2 && rm1 && rm2) {
    CHECK_STR(e2e_str(ro, "customer_name"), "Nordwind GmbH");
    CHECK_STR(e2e_str(ro, "customer_id"), nordwind);
    CHECK_STR(e2e_str(ro, "state"), "open");
    CHECK_CONTAINS(e2e_str(ro, "reason"), "assigned to anna, not to this device's manager ben");
    snprintf(reason, sizeof reason, "%s", e2e_str(ro, "reason") ? e2e_str(ro, "reason") : "");
    CHECK_STR(value_of(ro, "status"), "submitted");
    CHECK_STR(value_of(ro, "currency"), "EUR");
    CHECK_STR(value_of(ro, "customer_id"), nordwind);
    CHECK_EQ_INT(int_value_of(ro, "discount_bp"), 250);
    CHECK(value_of(ro, "submitted_at") != NULL);
    CHECK_STR(value_of(rl1, "sku"), "CHAIR-01");
    CHECK_EQ_INT(int_value_of(rl1, "qty"), 40);
    CHECK_STR(value_of(rl1, "order_id"), order);
    CHECK(int_value_of(rl1, "unit_price") > 0);
    CHECK_STR(value_of(rl2, "sku"), "DESK-02");
    CHECK_EQ_INT(int_value_of(rl2, "discount_bp"), 500);
    CHECK_STR(value_of(rm1, "place"), "Orgatec, hall 8");
    CHECK_STR(value_of(rm1, "notes"), "wants 40 chairs by May");
    CHECK_STR(value_of(rm1, "kind"), "exhibition");
    order_ref = e2e_int(ro, "id");
    line_ref = e2e_int(rl1, "id");
    m1_ref = e2e_int(rm1, "id");
    m2_ref = e2e_int(rm2, "id");
  }
  cJSON_Delete(ref);
  char oref[24], lref[24], mref1[24], mref2[24];
  snprintf(oref, sizeof oref, "%lld", order_ref);
  snprintf(lref, sizeof lref, "%lld", line_ref);
  snprintf(mref1, sizeof mref1, "%lld", m1_ref);
  snprintf(mref2, sizeof mref2, "#%lld", m2_ref);

  /* A person reads the whole reason at any width. */
  setenv("COLUMNS", "40", 1);
  char *show = e2e_fs_ok(__LINE__, b, ARGS("refused", "show", oref));
  char *list = e2e_fs_ok(__LINE__, b, ARGS("refused"));
  char *stat = e2e_fs_ok(__LINE__, b, ARGS("status"));
  /* the row id's prefix names the refusal too */
  char prefix[40];
  snprintf(prefix, sizeof prefix, "%.30s", m1);
  char *show_m1 = e2e_fs_ok(__LINE__, b, ARGS("refused", "show", prefix));
  unsetenv("COLUMNS");
  if (show && list && stat && show_m1) {
    char *flat = unwrapped(show), *flat_list = unwrapped(list), *flat_stat = unwrapped(stat);
    CHECK(*reason && strstr(flat, reason) != NULL);
    CHECK(*reason && strstr(flat_list, reason) != NULL);
    CHECK(*reason && strstr(flat_stat, reason) != NULL);
    fits(__LINE__, show, 40);
    CHECK_CONTAINS(show, "CHAIR-01");
    CHECK_CONTAINS(show, "DESK-02");
    CHECK_CONTAINS(show, "Nordwind GmbH");
    CHECK_CONTAINS(flat_stat, "Refused by head office (5 open");
    CHECK_CONTAINS(show_m1, "wants 40 chairs by May");
    CHECK_CONTAINS(show_m1, m1);
    free(flat);
    free(flat_list);
    free(flat_stat);
  }
  free(show);
  free(list);
  free(stat);
  free(show_m1);
  cJSON *st = FS_JSON(b, "status", "--json");
  CHECK_EQ_INT(e2e_int(st, "refused"), 5);
  CHECK_EQ_INT(e2e_int(cJSON_GetObjectItemCaseSensitive(st, "refused_by_state"), "open"), 5);
  CHECK_EQ_INT(e2e_count(st, "refusals"), 5);
  const cJSON *sr = refusal_of(cJSON_GetObjectItemCaseSensitive(st, "refusals"), "orders", order);
  CHECK(sr && !strcmp(e2e_str(sr, "reason") ? e2e_str(sr, "reason") : "", reason));
  cJSON_Delete(st);

  /* Head office kept the values too, for manager ben. */
  cJSON *hq = HQ_JSON(s, "refused", "--json", "--manager", "ben");
  const cJSON *ho = refusal_of(hq, "orders", order);
  const cJSON *hl = refusal_of(hq, "order_lines", l1);
  CHECK(ho && hl);
  if (ho && hl) {
    CHECK_STR(e2e_str(ho, "manager"), "ben");
    CHECK_STR(value_of(ho, "status"), "submitted");
    CHECK_STR(value_of(ho, "customer_id"), nordwind);
    CHECK_STR(e2e_str(ho, "customer_name"), "Nordwind GmbH");
    CHECK_CONTAINS(e2e_str(ho, "reason"), "assigned to anna");
    CHECK_STR(value_of(hl, "sku"), "CHAIR-01");
    CHECK_EQ_INT(int_value_of(hl, "qty"), 40);
  }
  CHECK(refusal_of(hq, "meetings", m1) != NULL);
  cJSON_Delete(hq);
  hq = HQ_JSON(s, "refused", "--json", "--manager", "anna");
  CHECK_EQ_INT(cJSON_GetArraySize(hq), 0);
  cJSON_Delete(hq);
  char *hq_text = e2e_hq_ok(__LINE__, s, ARGS("refused"));
  CHECK_CONTAINS(hq_text, "sku=CHAIR-01");
  CHECK_CONTAINS(hq_text, "ben");
  free(hq_text);

  /* Copying to the customer that left is refused with a sentence, and
   * nothing is written. */
  rc = e2e_fs(b, &out, &err, ARGS("refused", "copy", oref));
  CHECK_EQ_INT(rc, 1);
  CHECK(e2e_one_line(err, "fieldsync: "));
  CHECK_CONTAINS(err, "no longer yours");
  CHECK_CONTAINS(err, "--customer");
  CHECK(out && !*out);
  free(out);
  free(err);
  out = err = NULL;
  /* an order's line alone is copied with its order */
  rc = e2e_fs(b, &out, &err, ARGS("refused", "copy", lref, "--customer", hanse));
  CHECK_EQ_INT(rc, 1);
  CHECK_CONTAINS(err, "copy the order");
  free(out);
  free(err);
  out = err = NULL;
  cJSON *orders = FS_JSON(b, "order", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(orders), 0);
  cJSON_Delete(orders);

  /* Copied to another of Ben's customers (by name): a new order, same lines. */
  char copy[64] = "", mcopy[64] = "";
  cJSON *c = FS_JSON(b, "refused", "copy", oref, "--customer", "Hanse Möbel KG", "--json");
  snprintf(copy, sizeof copy, "%s", e2e_str(c, "id") ? e2e_str(c, "id") : "");
  cJSON_Delete(c);
  CHECK(strlen(copy) == 36 && strcmp(copy, order) != 0);
  cJSON *o = FS_JSON(b, "order", "show", copy, "--json");
  CHECK_STR(e2e_str(o, "customer_id"), hanse);
  CHECK_STR(e2e_str(o, "status"), "submitted");
  CHECK_EQ_INT(e2e_int(o, "discount_bp"), 250);
  CHECK_EQ_INT(e2e_count(o, "lines"), 2);
  CHECK_EQ_INT(e2e_rows_where(o, "lines", "sku", "CHAIR-01"), 1);
  CHECK_EQ_INT(e2e_rows_where(o, "lines", "sku", "DESK-02"), 1);
  const cJSON *ln;
  cJSON_ArrayForEach(ln, cJSON_GetObjectItemCaseSensitive(o, "lines")) {
    const char *sku = e2e_str(ln, "sku");
    if (sku && !strcmp(sku, "CHAIR-01")) CHECK_EQ_INT(e2e_int(ln, "qty"), 40);
    if (sku && !strcmp(sku, "DESK-02")) {
      CHECK_EQ_INT(e2e_int(ln, "qty"), 3);
      CHECK_EQ_INT(e2e_int(ln, "discount_bp"), 500);
    }
  }
  cJSON_Delete(o);
  /* the meeting too, by its customer's id; printed as the id alone */
  char *mid = e2e_fs_ok(__LINE__, b, ARGS("refused", "copy", mref1, "--customer", hanse));
  snprintf(mcopy, sizeof mcopy, "%.36s", mid ? mid : "");
  CHECK(mid && strlen(mid) == 37 && mid[36] == '\n');
  free(mid);
  /* a copied refusal is not copied twice */
  rc = e2e_fs(b, &out, &err, ARGS("refused", "copy", oref, "--customer", hanse));
  CHECK_EQ_INT(rc, 1);
  CHECK_CONTAINS(err, "already copied");
  free(out);
  free(err);
  out = err = NULL;

  /* Dismissed after reading: gone from the list, kept in the log. */
  FS_RUN(b, "refused", "dismiss", mref2);
  ref = FS_JSON(b, "refused", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(ref), 0);
  cJSON_Delete(ref);
  ref = FS_JSON(b, "refused", "--all", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(ref), 5);
  const cJSON *d = refusal_of(ref, "meetings", m2);
  CHECK(d && !strcmp(e2e_str(d, "state") ? e2e_str(d, "state") : "", "dismissed"));
  ro = refusal_of(ref, "orders", order);
  CHECK(ro && !strcmp(e2e_str(ro, "state") ? e2e_str(ro, "state") : "", "copied"));
  CHECK(ro && !strcmp(e2e_str(ro, "copied_to") ? e2e_str(ro, "copied_to") : "", copy));
  rl1 = refusal_of(ref, "order_lines", l1);
  CHECK(rl1 && !strcmp(e2e_str(rl1, "state") ? e2e_str(rl1, "state") : "", "copied"));
  cJSON_Delete(ref);
  st = FS_JSON(b, "status", "--json");
  CHECK_EQ_INT(e2e_int(st, "refused"), 0);
  CHECK_EQ_INT(e2e_int(cJSON_GetObjectItemCaseSensitive(st, "refused_by_state"), "copied"), 4);
  CHECK_EQ_INT(e2e_int(cJSON_GetObjectItemCaseSensitive(st, "refused_by_state"), "dismissed"), 1);
  cJSON_Delete(st);
  char *listed = e2e_fs_ok(__LINE__, b, ARGS("refused"));
  CHECK_CONTAINS(listed, "No open refused changes");
  free(listed);

  /* The copies sync like any other writes and arrive at head office. */
  cJSON *r = e2e_sync(__LINE__, b);
  CHECK_EQ_INT(e2e_int(r, "refused"), 0);
  CHECK_EQ_INT(e2e_int(r, "pending"), 0);
  cJSON_Delete(r);
  all = e2e_export_hq(__LINE__, s, NULL);
  doc = parse(all);
  free(all);
  CHECK_EQ_INT(rows_where2(doc, "orders", "id", copy, "customer_id", hanse), 1);
  CHECK_EQ_INT(rows_where2(doc, "orders", "id", copy, "status", "submitted"), 1);
  CHECK_EQ_INT(e2e_rows_where(doc, "order_lines", "order_id", copy), 2);
  CHECK_EQ_INT(rows_where2(doc, "meetings", "id", mcopy, "notes", "wants 40 chairs by May"), 1);
  CHECK_EQ_INT(rows_where2(doc, "meetings", "id", mcopy, "customer_id", hanse), 1);
  cJSON_Delete(doc);
  SAME_AS_HQ(b, s, "ben");

done:
  free(a);
  free(b);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* `sync --json` counts this sync's refusals and still exits with the
 * refused code; a sync without refusals after it exits 0. */
static void test_sync_json_refused_code(void) {
  char *dir = tu_tmpdir("e2e-refused-json");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *b = NULL, *out = NULL, *err = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  b = e2e_device_new(__LINE__, s, dir, "ben-laptop", "ben");
  char cust[64], m[64];
  ADD(b, cust, "customer", "add", "--name", "Elbe Logistik GmbH");
  SYNC(b);
  ADD(b, m, "meeting", "add", "--customer", cust, "--at", "2026-03-12 14:00");
  HQ_RUN(s, "assign", cust, "anna");
  int rc = e2e_fs(b, &out, &err, ARGS("sync", "--json"));
  CHECK_EQ_INT(rc, 3);
  cJSON *doc = parse(out);
  CHECK_EQ_INT(e2e_int(doc, "refused"), 1);
  CHECK_EQ_INT(e2e_int(doc, "pending"), 0);
  cJSON_Delete(doc);
  CHECK(e2e_one_line(err, "fieldsync: "));
  free(out);
  free(err);
  cJSON *r = e2e_sync(__LINE__, b); /* exit 0: nothing new refused */
  CHECK_EQ_INT(e2e_int(r, "refused"), 0);
  cJSON_Delete(r);
  /* the meeting stays on the laptop's log, open */
  cJSON *ref = FS_JSON(b, "refused", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(ref), 1);
  CHECK(refusal_of(ref, "meetings", m) != NULL);
  cJSON_Delete(ref);
done:
  free(b);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_ben_order_for_a_moved_customer);
  TEST_RUN(test_sync_json_refused_code);
  e2e_stop_all();
  return tu_finish();
}
