/*
 * test_e2e_day.c — a manager corrects mistakes on two laptops, through the
 * real binaries and head office on 127.0.0.1 (docs/cli.md, "Correcting
 * mistakes"; docs/merge.md, "Frozen orders").
 *
 * Anna has two laptops.  On the first she takes a draft order for
 * Nordwind, typed by name, with three lines, a meeting and a contact, and
 * syncs; the second syncs and corrects: a line's quantity and discount by
 * its number, a line removed, the meeting's outcome added, the contact's
 * phone changed, a customer made by mistake deleted and another archived.
 * Both sync and hold the same data as head office's subset for anna,
 * corrections included.  Then the first laptop submits the order while the
 * second, offline, still edits a line of the draft: the second's sync
 * exits 3 (refused), `fieldsync refused` names the order as frozen, and
 * head office keeps the submitted order as it was submitted; every
 * replica converges.  Each check fails on a build without the correction
 * verbs or without head office's frozen-order rule.
 *
 * test_full_day runs a whole day of the seed job the same way: calls, a
 * task, a quote sent and accepted into an order by its number, a mistake
 * corrected, a complaint resolved, the agenda against head office's norms
 * on both laptops, and everything at head office in the end.
 */
#include "e2e.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cJSON *line_no(const cJSON *order, int no) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(order, "lines")) if (e2e_int(it, "no") ==
                                                                               no) return it;
  return NULL;
}

static void test_two_laptops_correct(void) {
  char *dir = tu_tmpdir("e2e-day");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *l1 = NULL, *l2 = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  l1 = e2e_device_new(__LINE__, s, dir, "anna1", "anna");
  l2 = e2e_device_new(__LINE__, s, dir, "anna2", "anna");
  if (!l1 || !l2) goto done;
  SYNC(l1);
  char cust[64], typo[64], old[64], order[64], meeting[64], contact[64];
  ADD(l1, cust, "customer", "add", "--name", "Nordwind GmbH", "--city", "Hamburg", "--json");
  ADD(l1, typo, "customer", "add", "--name", "Nordwnd GmbH", "--json");
  ADD(l1, old, "customer", "add", "--name", "Altkunde KG", "--json");
  ADD(l1, order, "order", "new", "--customer", "Nordwind GmbH", "--json");
  FS_RUN(l1, "order", "line", order, "--sku", "CHAIR-01", "--qty", "40");
  FS_RUN(l1, "order", "line", order, "--sku", "DESK-02", "--qty", "2");
  FS_RUN(l1, "order", "line", order, "--sku", "LAMP-03", "--qty", "1");
  ADD(l1, meeting, "meeting", "add", "--customer", "nordwind gmbh", "--at", "2026-03-10 10:30",
      "--kind", "exhibition", "--json");
  ADD(l1, contact, "contact", "add", "--customer", cust, "--name", "Jana Peters", "--json");
  SYNC(l1);
  SYNC(l2);

  /* the second laptop corrects what the first entered */
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%.26s", order);
  FS_RUN(l2, "order", "line", "edit", prefix, "1", "--qty", "45", "--discount", "5");
  FS_RUN(l2, "order", "line", "remove", prefix, "3");
  FS_RUN(l2, "meeting", "edit", meeting, "--outcome", "wants 45 chairs, delivery in May");
  FS_RUN(l2, "contact", "edit", contact, "--phone", "+49 40 1234");
  FS_RUN(l2, "customer", "delete", "Nordwnd GmbH");
  FS_RUN(l2, "customer", "archive", "Altkunde KG");
  SYNC(l2);
  SYNC(l1);
  SYNC(l2);
  SAME_AS_HQ(l1, s, "anna");
  SAME_AS_HQ(l2, s, "anna");
  cJSON *o = FS_JSON(l1, "order", "show", order, "--json");
  CHECK_EQ_INT(e2e_count(o, "lines"), 2);
  CHECK_EQ_INT(e2e_int(line_no(o, 1), "qty"), 45);
  CHECK_EQ_INT(e2e_int(line_no(o, 1), "discount_bp"), 500);
  CHECK_STR(e2e_str(line_no(o, 2), "sku"), "DESK-02");
  cJSON_Delete(o);
  cJSON *m = FS_JSON(l1, "meeting", "list", "--customer", "Nordwind GmbH", "--json");
  CHECK_STR(e2e_str(cJSON_GetArrayItem(m, 0), "outcome"), "wants 45 chairs, delivery in May");
  cJSON_Delete(m);
  cJSON *k = FS_JSON(l1, "contact", "list", "--customer", cust, "--json");
  CHECK_STR(e2e_str(cJSON_GetArrayItem(k, 0), "phone"), "+49 40 1234");
  cJSON_Delete(k);
  char *hq = e2e_export_hq(__LINE__, s, "anna");
  cJSON *ex = hq ? cJSON_Parse(hq) : NULL;
  CHECK_EQ_INT(e2e_rows_where(ex, "customers", "id", typo), 0);
  CHECK_EQ_INT(e2e_rows_where(ex, "customers", "status", "lost"), 1);
  CHECK_EQ_INT(e2e_rows_where(ex, "order_lines", "order_id", order), 2);
  cJSON_Delete(ex);
  free(hq);

  /* submitted on one laptop while the other still edits the draft */
  FS_RUN(l1, "order", "submit", order);
  SYNC(l1);
  FS_RUN(l2, "order", "line", "edit", order, "2", "--qty", "9");
  char *out = NULL, *err = NULL;
  int rc = e2e_fs(l2, &out, &err, ARGS("sync"));
  CHECK_EQ_INT(rc, 3);
  CHECK_CONTAINS(out, "1 refused");
  free(out);
  free(err);
  cJSON *r = FS_JSON(l2, "refused", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(r), 1);
  CHECK_STR(e2e_str(cJSON_GetArrayItem(r, 0), "table"), "order_lines");
  CHECK_CONTAINS(e2e_str(cJSON_GetArrayItem(r, 0), "reason"), "frozen");
  cJSON_Delete(r);
  SYNC(l1);
  o = FS_JSON(l2, "order", "show", order, "--json");
  CHECK_STR(e2e_str(o, "status"), "submitted");
  CHECK_EQ_INT(e2e_int(line_no(o, 2), "qty"), 2); /* head office's, as submitted */
  cJSON_Delete(o);
  SAME_AS_HQ(l1, s, "anna");
  SAME_AS_HQ(l2, s, "anna");
done:
  free(l1);
  free(l2);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* The local calendar day `days` from today, "YYYY-MM-DD". */
static void local_day(char out[11], int days) {
  time_t t = time(NULL) + (time_t)days * 86400;
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}

static const cJSON *item(const cJSON *o, const char *key, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, key), i);
}

/* A whole day of the seed job on two laptops of one manager, nothing typed
 * as a UUID: head office sets the day's norms; on the first laptop, offline,
 * a call with a follow-up, a task, a quote of 40 chairs sent and a visit;
 * the agenda counts them against the norms.  The second laptop, after a
 * sync, sees the same agenda, accepts the quote by its number into an order,
 * corrects the quantity (a mistake), submits it, records a complaint and
 * resolves it, and ticks the task off.  Both laptops and head office end
 * with the same data: the order remembers its quote, the complaint is
 * resolved, the task done, the call has its duration; head office's orders
 * report counts the order at 45 chairs. */
static void test_full_day(void) {
  char *dir = tu_tmpdir("e2e-fullday");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *l1 = NULL, *l2 = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  HQ_RUN(s, "norms", "set", "--default", "--calls", "30", "--meetings", "4", "--proposals", "50");
  l1 = e2e_device_new(__LINE__, s, dir, "anna1", "anna");
  l2 = e2e_device_new(__LINE__, s, dir, "anna2", "anna");
  if (!l1 || !l2) goto done;
  SYNC(l1);
  SYNC(l2);
  char today[11], tomorrow[11], visit_at[32];
  local_day(today, 0);
  local_day(tomorrow, 1);
  snprintf(visit_at, sizeof visit_at, "%s 23:59", today);

  /* the first laptop, offline */
  char cust[64], call[64], task[64], quote[64], line[64], visit[64];
  ADD(l1, cust, "customer", "add", "--name", "Nordwind GmbH", "--city", "Hamburg");
  ADD(l1, call, "call", "log", "--customer", "nordwind gmbh", "--outcome",
      "wants a quote for 40 chairs", "--duration", "6", "--follow-up", tomorrow);
  ADD(l1, task, "task", "add", "--title", "send the catalogue", "--customer", "Nordwind GmbH",
      "--due", today);
  cJSON *q = FS_JSON(l1, "quote", "new", "--customer", "Nordwind GmbH", "--json");
  const char *number = e2e_str(q, "number");
  char qnum[32];
  snprintf(qnum, sizeof qnum, "%s", number ? number : "?");
  snprintf(quote, sizeof quote, "%s", e2e_str(q, "id") ? e2e_str(q, "id") : "?");
  cJSON_Delete(q);
  ADD(l1, line, "quote", "line", qnum, "--sku", "CHAIR-01", "--qty", "40");
  FS_RUN(l1, "quote", "send", qnum);
  ADD(l1, visit, "meeting", "add", "--customer", "Nordwind GmbH", "--at", visit_at, "--kind",
      "visit", "--place", "Hamburg, Speicherstadt");

  cJSON *a = FS_JSON(l1, "agenda", "--json");
  CHECK_STR(e2e_str(a, "day"), today);
  CHECK_EQ_INT(e2e_count(a, "meetings"), 2); /* the call and the visit */
  CHECK_EQ_INT(e2e_count(a, "tasks"), 1);
  CHECK_STR(e2e_str(item(a, "tasks", 0), "title"), "send the catalogue");
  CHECK_EQ_INT(e2e_count(a, "quotes"), 1);
  CHECK_STR(e2e_str(item(a, "quotes", 0), "number"), qnum);
  CHECK_EQ_INT(e2e_int(item(a, "quotes", 0), "total"), 40 * 28900);
  const cJSON *sum = cJSON_GetObjectItemCaseSensitive(a, "summary");
  CHECK_EQ_INT(e2e_int(sum, "calls"), 1);
  CHECK_EQ_INT(e2e_int(sum, "meetings"), 1);
  CHECK_EQ_INT(e2e_int(sum, "proposals"), 1);
  CHECK_EQ_INT(e2e_int(cJSON_GetObjectItemCaseSensitive(sum, "norms"), "calls_day"), 30);
  CHECK_EQ_INT(e2e_int(cJSON_GetObjectItemCaseSensitive(sum, "norms"), "proposals_day"), 50);
  cJSON_Delete(a);
  char *text = e2e_fs_ok(__LINE__, l1, ARGS("agenda"));
  CHECK_CONTAINS(text, "Nordwind GmbH");
  free(text);
  SYNC(l1);

  /* the second laptop: the same agenda, then the quote accepted */
  SYNC(l2);
  a = FS_JSON(l2, "agenda", "--json");
  CHECK_EQ_INT(e2e_count(a, "meetings"), 2);
  CHECK_EQ_INT(e2e_count(a, "tasks"), 1);
  CHECK_EQ_INT(e2e_count(a, "quotes"), 1);
  cJSON_Delete(a);
  cJSON *acc = FS_JSON(l2, "quote", "accept", qnum, "--json");
  char order[64], onum[32];
  snprintf(order, sizeof order, "%s", e2e_str(acc, "order_id") ? e2e_str(acc, "order_id") : "?");
  snprintf(onum, sizeof onum, "%s",
           e2e_str(acc, "order_number") ? e2e_str(acc, "order_number") : "?");
  cJSON_Delete(acc);
  FS_RUN(l2, "order", "line", "edit", onum, "1", "--qty", "45"); /* 45, not 40 */
  FS_RUN(l2, "order", "submit", onum);
  char complaint[64];
  ADD(l2, complaint, "complaint", "add", "--customer", "Nordwind GmbH", "--text",
      "two chairs of the last delivery arrived scratched");
  FS_RUN(l2, "complaint", "resolve", complaint, "--resolution", "replaced on the visit");
  FS_RUN(l2, "task", "done", task);
  SYNC(l2);
  SYNC(l1);
  SYNC(l2);
  SAME_AS_HQ(l1, s, "anna");
  SAME_AS_HQ(l2, s, "anna");

  /* what head office and the first laptop now hold */
  cJSON *o = FS_JSON(l1, "order", "show", onum, "--json");
  CHECK_STR(e2e_str(o, "status"), "submitted");
  CHECK_STR(e2e_str(o, "quote_id"), quote);
  CHECK_EQ_INT(e2e_int(line_no(o, 1), "qty"), 45);
  CHECK_EQ_INT(e2e_int(o, "total"), 45 * 28900);
  cJSON_Delete(o);
  a = FS_JSON(l1, "agenda", "--json");
  CHECK_EQ_INT(e2e_count(a, "tasks"), 0);  /* done on the other laptop */
  CHECK_EQ_INT(e2e_count(a, "quotes"), 0); /* answered: accepted */
  cJSON_Delete(a);
  char *hq = e2e_export_hq(__LINE__, s, "anna");
  cJSON *ex = hq ? cJSON_Parse(hq) : NULL;
  CHECK_EQ_INT(e2e_rows_where(ex, "orders", "quote_id", quote), 1);
  CHECK_EQ_INT(e2e_rows_where(ex, "quotes", "status", "accepted"), 1);
  CHECK_EQ_INT(e2e_rows_where(ex, "complaints", "status", "resolved"), 1);
  CHECK_EQ_INT(e2e_rows_where(ex, "meetings", "kind", "call"), 1);
  const cJSON *it;
  int done_tasks = 0, call_minutes = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ex, "tasks")) done_tasks +=
      e2e_str(it, "done_at") != NULL;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
                             ex, "meetings")) if (e2e_str(it, "kind") &&
                                                  !strcmp(e2e_str(it, "kind"), "call"))
      call_minutes += e2e_int(it, "duration_min");
  CHECK_EQ_INT(done_tasks, 1);
  CHECK_EQ_INT(call_minutes, 6);
  cJSON_Delete(ex);
  free(hq);
  cJSON *rep = HQ_JSON(s, "report", "orders", "--json");
  CHECK_EQ_INT(e2e_int(item(rep, "rows", 0), "orders"), 1);
  CHECK_EQ_INT(e2e_int(item(rep, "rows", 0), "total"), 45 * 28900);
  cJSON_Delete(rep);
done:
  free(l1);
  free(l2);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_two_laptops_correct);
  TEST_RUN(test_full_day);
  e2e_stop_all();
  return tu_finish();
}
