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
 */
#include "e2e.h"

#include <stdlib.h>
#include <string.h>

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

int main(void) {
  TEST_RUN(test_two_laptops_correct);
  e2e_stop_all();
  return tu_finish();
}
