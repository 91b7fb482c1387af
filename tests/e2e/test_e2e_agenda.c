/*
 * test_e2e_agenda.c — head office's norms reach the agendas, and a
 * manager's calls and tasks reach head office and her other laptop,
 * through the real binaries and head office on 127.0.0.1.
 *
 * Head office sets everyone's default norms and anna's own calls a day with
 * `fieldsync-server norms set` (bad input there changes nothing); anna logs
 * a call and two tasks (one for a customer, one for no customer) on her
 * first laptop and syncs; head office holds them; her second laptop syncs
 * and its agenda shows the call, both tasks and her targets, while bob's
 * device shows the default targets and none of anna's tasks.  A task done
 * on the second laptop is done on the first after both sync, a changed
 * norm shows at the next sync, and every device holds exactly head
 * office's subset for its manager.
 */
#include "e2e.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cJSON *member(const cJSON *o, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(o, key);
}

static long long norm_of(const cJSON *agenda, const char *key) {
  return e2e_int(member(member(agenda, "summary"), "norms"), key);
}

/* A head-office command that must fail with `want` and change nothing. */
static void hq_refused_at(int line, e2e_server *s, int want, const char *const *args) {
  char *before = e2e_export_hq(line, s, NULL), *after = NULL, *out = NULL, *err = NULL;
  int rc = e2e_hq(s, &out, &err, args);
  after = e2e_export_hq(line, s, NULL);
  tu_checks += 4;
  if (rc != want) tu_fail(__FILE__, line, "exit %d, expected %d (%s)", rc, want, err ? err : "");
  if (!out || *out) tu_fail(__FILE__, line, "printed on stdout: %s", out ? out : "(null)");
  if (!e2e_one_line(err, "fieldsync-server: "))
    tu_fail(__FILE__, line, "stderr is not one line: %s", err ? err : "(null)");
  if (!before || !after || strcmp(before, after) != 0)
    tu_fail(__FILE__, line, "the command changed head office's data");
  free(before);
  free(after);
  free(out);
  free(err);
}
#define HQ_REFUSED(srv, rc, ...) hq_refused_at(__LINE__, srv, rc, ARGS(__VA_ARGS__))

static void test_norms_calls_tasks(void) {
  char *dir = tu_tmpdir("e2e-agenda");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a1 = NULL, *a2 = NULL, *b1 = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  a1 = e2e_device_new(__LINE__, s, dir, "anna1", "anna");
  a2 = e2e_device_new(__LINE__, s, dir, "anna2", "anna");
  b1 = e2e_device_new(__LINE__, s, dir, "bob1", "bob");
  if (!a1 || !a2 || !b1) goto done;

  /* head office's norms: validated, then set */
  HQ_REFUSED(s, 1, "norms", "set", "nobody", "--calls", "10");
  HQ_REFUSED(s, 2, "norms", "set", "anna", "--calls", "-1");
  HQ_REFUSED(s, 2, "norms", "set", "anna", "--calls", "1.5");
  HQ_REFUSED(s, 2, "norms", "set", "anna", "--meetings", "100001");
  HQ_REFUSED(s, 2, "norms", "set", "anna");
  HQ_REFUSED(s, 2, "norms", "set", "anna", "--default", "--calls", "3");
  HQ_REFUSED(s, 2, "norms", "set", "*", "--calls", "3");
  HQ_REFUSED(s, 2, "norms", "set", "--default", "--calls");
  cJSON *n = HQ_JSON(s, "norms", "set", "--default", "--calls", "30", "--meetings", "4",
                     "--proposals", "50", "--contracts", "4", "--json");
  CHECK_STR(e2e_str(n, "manager"), "*");
  CHECK_EQ_INT(e2e_int(n, "calls_day"), 30);
  cJSON_Delete(n);
  n = HQ_JSON(s, "norms", "set", "anna", "--calls", "20", "--json");
  CHECK_STR(e2e_str(n, "manager"), "anna");
  CHECK_EQ_INT(e2e_int(n, "calls_day"), 20);
  CHECK(cJSON_IsNull(member(n, "meetings_day")));
  cJSON_Delete(n);
  n = HQ_JSON(s, "norms", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(n), 2);
  CHECK_STR(e2e_str(cJSON_GetArrayItem(n, 0), "manager"), "*");
  CHECK_STR(e2e_str(cJSON_GetArrayItem(n, 1), "manager"), "anna");
  cJSON_Delete(n);
  char *text = e2e_hq_ok(__LINE__, s, ARGS("norms", "list"));
  CHECK_CONTAINS(text, "CALLS/DAY");
  free(text);

  /* anna's day on her first laptop: a call and two tasks, today */
  char today[16], at[32], cust[64], call[64], t_cust[64], t_own[64];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(today, sizeof today, "%Y-%m-%d", &tm);
  snprintf(at, sizeof at, "%s 12:00", today);
  ADD(a1, cust, "customer", "add", "--name", "Nordwind GmbH", "--json");
  ADD(a1, call, "call", "log", "--customer", "Nordwind GmbH", "--outcome", "wants a quote",
      "--duration", "9", "--at", at, "--json");
  ADD(a1, t_cust, "task", "add", "--title", "send the price list", "--customer", "Nordwind GmbH",
      "--due", today, "--json");
  ADD(a1, t_own, "task", "add", "--title", "hand in expenses", "--due", today, "--json");
  SYNC(a1);
  /* head office holds them */
  char *hq = e2e_export_hq(__LINE__, s, NULL);
  cJSON *h = cJSON_Parse(hq ? hq : "");
  CHECK_EQ_INT(e2e_rows_where(h, "meetings", "kind", "call"), 1);
  CHECK_EQ_INT(e2e_rows_where(h, "meetings", "outcome", "wants a quote"), 1);
  CHECK_EQ_INT(e2e_rows_where(h, "tasks", "manager", "anna"), 2);
  CHECK_EQ_INT(e2e_rows_where(h, "tasks", "title", "hand in expenses"), 1);
  cJSON_Delete(h);
  free(hq);

  /* her second laptop: the call, both tasks and her targets */
  SYNC(a2);
  cJSON *ag = FS_JSON(a2, "agenda", "--json");
  CHECK_STR(e2e_str(ag, "day"), today);
  CHECK_EQ_INT(e2e_count(ag, "meetings"), 1);
  CHECK_STR(e2e_str(cJSON_GetArrayItem(member(ag, "meetings"), 0), "id"), call);
  CHECK_EQ_INT(e2e_int(cJSON_GetArrayItem(member(ag, "meetings"), 0), "duration_min"), 9);
  CHECK_EQ_INT(e2e_count(ag, "tasks"), 2);
  CHECK_EQ_INT(e2e_int(member(ag, "summary"), "calls"), 1);
  CHECK_EQ_INT(norm_of(ag, "calls_day"), 20);     /* her own */
  CHECK_EQ_INT(norm_of(ag, "meetings_day"), 4);   /* the default */
  CHECK_EQ_INT(norm_of(ag, "proposals_day"), 50); /* the default */
  CHECK_EQ_INT(norm_of(ag, "contracts_month"), 4);
  cJSON_Delete(ag);
  text = e2e_fs_ok(__LINE__, a2, ARGS("agenda"));
  CHECK_CONTAINS(text, "1 of 20");
  CHECK_CONTAINS(text, "hand in expenses");
  free(text);

  /* bob: the default targets, nothing of anna's */
  SYNC(b1);
  ag = FS_JSON(b1, "agenda", "--json");
  CHECK_EQ_INT(norm_of(ag, "calls_day"), 30);
  CHECK_EQ_INT(e2e_count(ag, "tasks"), 0);
  CHECK_EQ_INT(e2e_count(ag, "meetings"), 0);
  cJSON_Delete(ag);
  cJSON *bt = FS_JSON(b1, "task", "list", "--all", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(bt), 0);
  cJSON_Delete(bt);

  /* done on one laptop, done on the other; a changed norm at the next
   * sync */
  FS_RUN(a2, "task", "done", t_own);
  SYNC(a2);
  HQ_RUN(s, "norms", "set", "anna", "--calls", "35");
  SYNC(a1);
  cJSON *tl = FS_JSON(a1, "task", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(tl), 1);
  CHECK_STR(e2e_str(cJSON_GetArrayItem(tl, 0), "id"), t_cust);
  cJSON_Delete(tl);
  ag = FS_JSON(a1, "agenda", "--json");
  CHECK_EQ_INT(norm_of(ag, "calls_day"), 35);
  CHECK_EQ_INT(e2e_count(ag, "tasks"), 1);
  cJSON_Delete(ag);
  SYNC(a2);
  SYNC(b1);
  SAME_AS_HQ(a1, s, "anna");
  SAME_AS_HQ(a2, s, "anna");
  SAME_AS_HQ(b1, s, "bob");
done:
  free(a1);
  free(a2);
  free(b1);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  setenv("TZ", "Europe/Berlin", 1);
  TEST_RUN(test_norms_calls_tasks);
  e2e_stop_all();
  return tu_finish();
}
