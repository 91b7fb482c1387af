/*
 * test_e2e_relay.c — deletes relayed through head office, end to end: the
 * real `fieldsync-server` on 127.0.0.1 and two real device homes of one
 * manager (anna's laptop and tablet).
 *
 * The `fieldsync` command line has no delete verb, so the deletes are made
 * on the laptop's store through the library's write path (fs_device_open +
 * fs_delete: a local delete captured exactly as any other write, the way
 * e2e_bulk_meetings writes); everything else goes through the two command
 * lines.  Deleting a customer does not cascade (docs/merge.md), so "the
 * customer and its rows" are deleted one by one, as an application would.
 *
 * Covers:
 *  - a customer with a contact and a meeting, created on the laptop and
 *    synced to the tablet, then deleted on the laptop: after the laptop and
 *    then the tablet sync, the tablet no longer has any of them, a contact
 *    deleted alone is gone while its customer's other contact stays, the
 *    tablet's export equals head office's export for anna, and head office
 *    holds no live row of what was deleted;
 *  - the converse order: the tablet syncs while the delete is still only on
 *    the laptop (it keeps the rows, agreeing with head office), then again
 *    after the laptop's sync (the rows are gone);
 *  - in both, the tablet's cursor is already past the rows' original change
 *    numbers, so a relayed tombstone must get a change number of its own at
 *    head office or it is never sent on.
 */
#include "e2e.h"

#include <fieldsync/device.h>
#include <stdlib.h>
#include <string.h>

/* A local delete on the device store through the library's write path. */
static void dev_delete(int line, const char *home, const char *table, const char *id) {
  fs_device *dev = NULL;
  int rc = tu_device_open(&dev, home, NULL);
  if (rc == FS_OK) rc = fs_delete(fs_device_store(dev), table, id);
  tu_checks++;
  if (rc != FS_OK)
    tu_fail(__FILE__, line, "deleting %s %s on %s: %d (%s)", table, id, home, rc, fs_errmsg());
  fs_device_close(dev);
}

/* Rows of `table` with this id in the device's (or head office's) export. */
static int rows_with_id(const char *export_text, const char *table, const char *id) {
  cJSON *doc = export_text ? cJSON_Parse(export_text) : NULL;
  int n = doc ? e2e_rows_where(doc, table, "id", id) : -1;
  cJSON_Delete(doc);
  return n;
}

static int dev_has(int line, const char *home, const char *table, const char *id) {
  char *t = e2e_export_dev(line, home);
  int n = rows_with_id(t, table, id);
  free(t);
  return n;
}

static int hq_has(int line, const e2e_server *s, const char *table, const char *id) {
  char *t = e2e_export_hq(line, s, NULL);
  int n = rows_with_id(t, table, id);
  free(t);
  return n;
}

/* A customer of `home` with one contact and one meeting. */
typedef struct family {
  char cust[64], contact[64], meeting[64];
} family;

static void family_add(int line, const char *home, family *f, const char *name) {
  e2e_add(line, home, f->cust, ARGS("customer", "add", "--name", name, "--city", "Hamburg"));
  e2e_add(line, home, f->contact,
          ARGS("contact", "add", "--customer", f->cust, "--name", "Jana Peters", "--role",
               "Purchasing"));
  e2e_add(line, home, f->meeting,
          ARGS("meeting", "add", "--customer", f->cust, "--at", "2026-03-10 10:30", "--kind",
               "exhibition", "--place", "Orgatec Cologne, hall 8"));
}

static void family_delete(int line, const char *home, const family *f) {
  dev_delete(line, home, "meetings", f->meeting);
  dev_delete(line, home, "contacts", f->contact);
  dev_delete(line, home, "customers", f->cust);
}

/* 1 on the tablet/laptop/head office, or 0 everywhere asked. */
static void family_expect(int line, const char *home, const family *f, int n) {
  int c = dev_has(line, home, "customers", f->cust);
  int k = dev_has(line, home, "contacts", f->contact);
  int m = dev_has(line, home, "meetings", f->meeting);
  tu_checks++;
  if (c != n || k != n || m != n)
    tu_fail(__FILE__, line, "%s: customer %s %d, contact %d, meeting %d rows; expected %d each",
            home, f->cust, c, k, m, n);
}

static void family_gone_at_hq(int line, const e2e_server *s, const family *f) {
  int c = hq_has(line, s, "customers", f->cust);
  int k = hq_has(line, s, "contacts", f->contact);
  int m = hq_has(line, s, "meetings", f->meeting);
  tu_checks++;
  if (c != 0 || k != 0 || m != 0)
    tu_fail(__FILE__, line, "head office still has customer %s %d, contact %d, meeting %d", f->cust,
            c, k, m);
}

static long long pending(int line, const char *home) {
  cJSON *st = e2e_fs_json(line, home, ARGS("status", "--json"));
  long long n = e2e_int(st, "pending");
  cJSON_Delete(st);
  return n;
}

/* ------------------------------------------------------------ 1 */

static void test_delete_reaches_the_other_laptop(void) {
  char *dir = tu_tmpdir("e2e-relay");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *b = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  b = e2e_device_new(__LINE__, s, dir, "anna-tablet", "anna");
  SYNC(a);
  SYNC(b);

  family f, keep;
  char lone[64], other[64];
  family_add(__LINE__, a, &f, "Nordwind Büro GmbH");
  family_add(__LINE__, a, &keep, "Hanse Möbel KG");
  ADD(a, lone, "contact", "add", "--customer", keep.cust, "--name", "Olaf Krüger");
  ADD(a, other, "contact", "add", "--customer", keep.cust, "--name", "Eva Lind");
  SYNC(a);
  SYNC(b);
  family_expect(__LINE__, b, &f, 1);
  family_expect(__LINE__, b, &keep, 1);
  CHECK_EQ_INT(dev_has(__LINE__, b, "contacts", lone), 1);
  SAME_AS_HQ(b, s, "anna");
  /* The tablet also works meanwhile: its cursor and head office's change
   * numbers move on past the laptop's rows. */
  char mine[64];
  ADD(b, mine, "customer", "add", "--name", "Baltic Foods AB", "--city", "Malmö");
  SYNC(b);

  /* The laptop deletes the customer with its rows, and one contact alone. */
  family_delete(__LINE__, a, &f);
  dev_delete(__LINE__, a, "contacts", lone);
  family_expect(__LINE__, a, &f, 0);
  CHECK(pending(__LINE__, a) > 0);
  SYNC(a);
  CHECK_EQ_INT(pending(__LINE__, a), 0);
  family_gone_at_hq(__LINE__, s, &f);
  CHECK_EQ_INT(hq_has(__LINE__, s, "contacts", lone), 0);
  SAME_AS_HQ(a, s, "anna");

  SYNC(b);
  family_expect(__LINE__, b, &f, 0);
  CHECK_EQ_INT(dev_has(__LINE__, b, "contacts", lone), 0);
  /* What was not deleted stays. */
  family_expect(__LINE__, b, &keep, 1);
  CHECK_EQ_INT(dev_has(__LINE__, b, "contacts", other), 1);
  CHECK_EQ_INT(dev_has(__LINE__, b, "customers", mine), 1);
  {
    char *out = NULL, *err = NULL;
    int rc = e2e_fs(b, &out, &err, ARGS("customer", "show", f.cust));
    CHECK(rc != 0);
    free(out);
    free(err);
  }
  SAME_AS_HQ(b, s, "anna");
  /* Another round changes nothing: the deletes are final everywhere. */
  SYNC(a);
  SYNC(b);
  SAME_AS_HQ(a, s, "anna");
  SAME_AS_HQ(b, s, "anna");
  family_gone_at_hq(__LINE__, s, &f);
done:
  free(a);
  free(b);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------------------------ 2 */

static void test_tablet_syncs_before_and_after(void) {
  char *dir = tu_tmpdir("e2e-relay2");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *b = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  b = e2e_device_new(__LINE__, s, dir, "anna-tablet", "anna");
  family f;
  char lone[64];
  family_add(__LINE__, a, &f, "Fjord Kontor AS");
  ADD(a, lone, "contact", "add", "--customer", f.cust, "--name", "Lars Berg");
  SYNC(a);
  SYNC(b);
  family_expect(__LINE__, b, &f, 1);

  /* Deleted on the laptop, which does not sync yet. */
  family_delete(__LINE__, a, &f);
  dev_delete(__LINE__, a, "contacts", lone);
  /* The tablet syncs first: head office knows nothing of the delete, so
   * the tablet keeps everything and still agrees with head office. */
  SYNC(b);
  family_expect(__LINE__, b, &f, 1);
  CHECK_EQ_INT(dev_has(__LINE__, b, "contacts", lone), 1);
  SAME_AS_HQ(b, s, "anna");
  CHECK_EQ_INT(hq_has(__LINE__, s, "customers", f.cust), 1);

  /* Now the laptop syncs, then the tablet again. */
  SYNC(a);
  family_gone_at_hq(__LINE__, s, &f);
  SYNC(b);
  family_expect(__LINE__, b, &f, 0);
  CHECK_EQ_INT(dev_has(__LINE__, b, "contacts", lone), 0);
  SAME_AS_HQ(a, s, "anna");
  SAME_AS_HQ(b, s, "anna");
  char *all = e2e_export_hq(__LINE__, s, NULL);
  cJSON *doc = all ? cJSON_Parse(all) : NULL;
  CHECK(doc != NULL);
  CHECK_EQ_INT(e2e_count(doc, "customers"), 0);
  CHECK_EQ_INT(e2e_count(doc, "contacts"), 0);
  CHECK_EQ_INT(e2e_count(doc, "meetings"), 0);
  cJSON_Delete(doc);
  free(all);
done:
  free(a);
  free(b);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_delete_reaches_the_other_laptop);
  TEST_RUN(test_tablet_syncs_before_and_after);
  e2e_stop_all();
  return tu_finish();
}
