/*
 * test_e2e_receipts.c — what the receipts of head office's signed
 * acknowledgements let a device and head office recover, end to end: the
 * real `fieldsync-server` on 127.0.0.1 and real device homes, driven
 * through both command lines.
 *
 * Covers (issue "Nothing a manager enters is ever lost, hidden or
 * stranded", paths 3, 4 and 8):
 *  - head office restored from a backup: a backup taken while serving,
 *    more work on three devices of two managers (new customers, meetings,
 *    a colleague's edit of another laptop's customer, concurrent edits of
 *    two columns of one customer on two laptops, each pulled by the
 *    other), `restore` refused while serving, then done; after one sync of
 *    every device (and one more to carry colleagues' rows across) every
 *    device's export equals head office's export for its manager, every
 *    row written after the backup is there, `verify-log` holds and names
 *    the restore, and every device's receipts verify;
 *  - a laptop whose store is restored from an older copy: `status` warns,
 *    a sync with nothing new gets every acknowledged row back, and after a
 *    second rollback new work made on the old copy is pushed after the
 *    recovered rows;
 *  - a real copy (two laptops with one identity, receipts and all) that
 *    push different work: the first is accepted, the second refused as a
 *    copy every time, and its row never reaches head office;
 *  - a damaged WAL: with a reader holding the store open, three customers
 *    are committed and pushed and a fourth committed but not pushed; the
 *    WAL is cut back to just after the first commit (frames of committed
 *    writes lost, as a crash of the disk can): `status` warns and says
 *    what cannot be recovered, `sync` brings back all three pushed
 *    customers, and the unpushed one is gone as the warning said.
 */
#include "e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <fieldsync/device.h>
#include "engine.h"
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static int copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY), out = -1, rc = -1;
  char buf[65536];
  ssize_t n;
  if (in < 0) return errno == ENOENT ? 1 : -1;
  out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (out >= 0) {
    rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0)
      if (write(out, buf, (size_t)n) != n) rc = -1;
    if (n < 0) rc = -1;
    close(out);
  }
  close(in);
  return rc;
}

/* Copies store.db of a closed home (its WAL folded in on close) to `to`. */
static void save_store(int line, const char *home, const char *to) {
  char *db = e2e_path(home, "store.db");
  tu_checks++;
  if (copy_file(db, to) != 0) tu_fail(__FILE__, line, "cannot copy %s", db);
  free(db);
}

/* Puts a saved store.db back, as a person restoring a laptop from a copy. */
static void restore_store(int line, const char *home, const char *from) {
  char *db = e2e_path(home, "store.db"), *wal = e2e_path(home, "store.db-wal"),
       *shm = e2e_path(home, "store.db-shm");
  unlink(wal);
  unlink(shm);
  tu_checks++;
  if (copy_file(from, db) != 0) tu_fail(__FILE__, line, "cannot put %s back", from);
  free(db);
  free(wal);
  free(shm);
}

static int rows_where(const char *export_text, const char *table, const char *col,
                      const char *val) {
  cJSON *doc = export_text ? cJSON_Parse(export_text) : NULL;
  int n = doc ? e2e_rows_where(doc, table, col, val) : -1;
  cJSON_Delete(doc);
  return n;
}

static int dev_has(int line, const char *home, const char *table, const char *col,
                   const char *val) {
  char *t = e2e_export_dev(line, home);
  int n = rows_where(t, table, col, val);
  free(t);
  return n;
}

static int hq_has(int line, const e2e_server *s, const char *table, const char *col,
                  const char *val) {
  char *t = e2e_export_hq(line, s, NULL);
  int n = rows_where(t, table, col, val);
  free(t);
  return n;
}

/* `fieldsync sync` that must fail; its stderr (caller frees). */
static char *sync_fails(int line, const char *home) {
  char *out = NULL, *err = NULL;
  int rc = e2e_fs(home, &out, &err, ARGS("sync"));
  tu_checks++;
  if (rc == 0) tu_fail(__FILE__, line, "sync of %s succeeded: %s", home, out ? out : "");
  free(out);
  return err;
}

/* `fieldsync status`: exit 0; its stderr (caller frees). */
static char *status_err(int line, const char *home) {
  char *out = NULL, *err = NULL;
  int rc = e2e_fs(home, &out, &err, ARGS("status"));
  tu_checks++;
  if (rc != 0) tu_fail(__FILE__, line, "status of %s exited %d: %s", home, rc, err ? err : "");
  free(out);
  return err;
}

static void receipts_verify(int line, const char *home) {
  cJSON *v = e2e_fs_json(line, home, ARGS("receipts", "verify", "--json"));
  tu_checks++;
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "ok")) || e2e_int(v, "verified") < 1)
    tu_fail(__FILE__, line, "receipts of %s do not verify", home);
  cJSON_Delete(v);
}

/* Nothing the device sent was refused (`status --json` "refused"). */
static void none_refused(int line, const char *home) {
  cJSON *st = e2e_fs_json(line, home, ARGS("status", "--json"));
  tu_checks++;
  if (e2e_int(st, "refused") != 0)
    tu_fail(__FILE__, line, "%s has %lld refused changes", home, e2e_int(st, "refused"));
  cJSON_Delete(st);
}

static void customer_edit(int line, const char *home, const char *id, const char *flag,
                          const char *value) {
  free(e2e_fs_ok(line, home, ARGS("customer", "edit", id, flag, value)));
}

/* ------------------------------------------- head office restored */

static void test_hq_restored_from_backup(void) {
  char *dir = tu_tmpdir("e2e-restore");
  e2e_server *srv = e2e_server_new(dir, "hq");
  if (!srv || e2e_server_start(srv, 0)) return;
  char *a1 = e2e_device_new(__LINE__, srv, dir, "anna-laptop", "anna");
  char *a2 = e2e_device_new(__LINE__, srv, dir, "anna-tablet", "anna");
  char *b1 = e2e_device_new(__LINE__, srv, dir, "ben-laptop", "ben");
  char c1[64], c2[64], c3[64], c4[64], c5[64], c6[64], m1[64], m2[64], m3[64], o1[64];

  /* Before the backup: a customer on each laptop, everyone synced. */
  ADD(a1, c1, "customer", "add", "--name", "Alpen Moebel GmbH", "--city", "Linz");
  ADD(a2, c2, "customer", "add", "--name", "Brenner Buero AG", "--city", "Graz");
  ADD(b1, c3, "customer", "add", "--name", "Cordes Office BV", "--city", "Utrecht");
  ADD(a1, m1, "meeting", "add", "--customer", c1, "--at", "2026-03-02 09:00", "--kind", "visit");
  SYNC(a1);
  SYNC(a2);
  SYNC(b1);
  SYNC(a1);

  char *bak = e2e_path(dir, "hq-backup.db");
  cJSON *bk = HQ_JSON(srv, "backup", bak, "--json"); /* while serving */
  CHECK(e2e_int(bk, "bytes") > 0);
  CHECK(e2e_int(bk, "envelopes") >= 3);
  cJSON_Delete(bk);
  char *out = NULL, *err = NULL;
  CHECK(e2e_hq(srv, &out, &err, ARGS("backup", bak)) != 0); /* never overwrites */
  CHECK_CONTAINS(err, "already exists");
  free(out);
  free(err);

  /* After the backup: work on all three devices, synced in between. */
  ADD(a1, c4, "customer", "add", "--name", "Dachs Einrichtung KG", "--city", "Wels");
  ADD(a1, m2, "meeting", "add", "--customer", c2, "--at", "2026-03-04 11:00", "--kind", "call");
  ADD(a2, c5, "customer", "add", "--name", "Eder Objekt GmbH", "--city", "Steyr");
  ADD(b1, c6, "customer", "add", "--name", "Fjord Kontor AS", "--city", "Bergen");
  ADD(b1, o1, "order", "new", "--customer", c6, "--currency", "EUR");
  free(e2e_fs_ok(__LINE__, b1, ARGS("order", "line", o1, "--sku", "DESK-02", "--qty", "3")));
  SYNC(a1);
  SYNC(a2); /* a2 now holds c4 and m2 from a1 */
  SYNC(b1);
  SYNC(a1);                                                   /* a1 holds c5 */
  customer_edit(__LINE__, a2, c1, "--phone", "+43 732 1000"); /* a colleague's customer */
  ADD(a2, m3, "meeting", "add", "--customer", c4, "--at", "2026-03-05 15:00", "--kind", "visit");
  /* two columns of one customer, on two laptops, each pulled by the other */
  customer_edit(__LINE__, a1, c5, "--email", "einkauf@eder.example");
  customer_edit(__LINE__, a2, c5, "--phone", "+43 7252 555");
  SYNC(a1);
  SYNC(a2);
  SYNC(a1);
  SYNC(a2);
  SAME_AS_HQ(a1, srv, "anna");
  SAME_AS_HQ(a2, srv, "anna");
  SAME_AS_HQ(b1, srv, "ben");

  /* Restore: refused while serving, then done with the server stopped. */
  out = err = NULL;
  CHECK(e2e_hq(srv, &out, &err, ARGS("restore", bak)) != 0);
  CHECK_CONTAINS(err, "serving");
  free(out);
  free(err);
  CHECK(hq_has(__LINE__, srv, "customers", "id", c4) == 1); /* nothing changed */
  int port = srv->port;
  CHECK_EQ_INT(e2e_server_stop(srv), 0);
  cJSON *rs = HQ_JSON(srv, "restore", bak, "--json");
  CHECK(e2e_str(rs, "previous") != NULL);
  CHECK_EQ_INT(e2e_count(rs, "devices"), 3);
  cJSON_Delete(rs);
  /* head office is behind now: what came after the backup is not there */
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c4), 0);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c6), 0);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c1), 1);
  HQ_RUN(srv, "verify-log");
  if (e2e_server_start(srv, port)) goto done;

  /* One sync each, then one more to carry colleagues' rows across. */
  cJSON *st = e2e_sync(__LINE__, a1);
  CHECK(e2e_int(st, "rewinds") >= 1); /* it went back to head office's position */
  cJSON_Delete(st);
  SYNC(a2);
  SYNC(b1);
  SYNC(a1);
  SYNC(a2);
  SYNC(b1);
  SAME_AS_HQ(a1, srv, "anna");
  SAME_AS_HQ(a2, srv, "anna");
  SAME_AS_HQ(b1, srv, "ben");
  const char *ids[] = {c1, c2, c4, c5};
  for (size_t i = 0; i < 4; i++) CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", ids[i]), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c6), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "meetings", "id", m2), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "meetings", "id", m3), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "orders", "id", o1), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "order_lines", "order_id", o1), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "phone", "+43 732 1000"), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "email", "einkauf@eder.example"), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "phone", "+43 7252 555"), 1);
  char *log = e2e_hq_ok(__LINE__, srv, ARGS("verify-log"));
  CHECK_CONTAINS(log, "audit log ok");
  CHECK_CONTAINS(log, "restored from a backup 1 time");
  free(log);
  receipts_verify(__LINE__, a1);
  receipts_verify(__LINE__, a2);
  receipts_verify(__LINE__, b1);
  none_refused(__LINE__, a1); /* what was sent again was all accepted */
  none_refused(__LINE__, a2);
  none_refused(__LINE__, b1);
  /* and it goes on as usual */
  char c7[64];
  ADD(b1, c7, "customer", "add", "--name", "Gota Kontor AB", "--city", "Malmo");
  SYNC(b1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c7), 1);
  HQ_RUN(srv, "verify-log");
done:
  e2e_server_free(srv);
  free(a1);
  free(a2);
  free(b1);
  free(bak);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------- a laptop rolled back */

static void test_device_restored_from_copy(void) {
  char *dir = tu_tmpdir("e2e-rollback");
  e2e_server *srv = e2e_server_new(dir, "hq");
  if (!srv || e2e_server_start(srv, 0)) return;
  char *a1 = e2e_device_new(__LINE__, srv, dir, "anna-laptop", "anna");
  char *copy = e2e_path(dir, "laptop-store-copy.db");
  char c1[64], c2[64], c3[64], c4[64], m1[64];
  ADD(a1, c1, "customer", "add", "--name", "Hafner Buero GmbH");
  SYNC(a1);
  save_store(__LINE__, a1, copy); /* the copy a person keeps */
  ADD(a1, c2, "customer", "add", "--name", "Iller Moebel KG");
  ADD(a1, c3, "customer", "add", "--name", "Jaeger Objekt AG");
  ADD(a1, m1, "meeting", "add", "--customer", c2, "--at", "2026-03-06 10:00", "--kind", "visit");
  SYNC(a1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c3), 1);

  /* Restored from the copy, nothing new: warned, then recovered. */
  restore_store(__LINE__, a1, copy);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c2), 0); /* the rollback happened */
  char *err = status_err(__LINE__, a1);
  CHECK_CONTAINS(err, "behind its receipts");
  CHECK_CONTAINS(err, "fieldsync sync");
  free(err);
  cJSON *sj = FS_JSON(a1, "status", "--json");
  CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(sj, "behind_receipts")));
  cJSON_Delete(sj);
  cJSON *st = e2e_sync(__LINE__, a1);
  CHECK(e2e_int(st, "recovered") >= 3); /* c2, c3, m1 came back */
  cJSON_Delete(st);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c2), 1);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c3), 1);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "meetings", "id", m1), 1);
  err = status_err(__LINE__, a1);
  CHECK(!err || !strstr(err, "behind")); /* no longer behind */
  free(err);
  SAME_AS_HQ(a1, srv, "anna");

  /* Restored again, and new work made on the old copy before syncing:
   * the acknowledged rows come back and the new work is pushed after
   * them (no "a copied device?"). */
  restore_store(__LINE__, a1, copy);
  ADD(a1, c4, "customer", "add", "--name", "Kessler Einrichtung GmbH");
  customer_edit(__LINE__, a1, c1, "--city", "Passau");
  SYNC(a1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c4), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "city", "Passau"), 1);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c3), 1);
  SAME_AS_HQ(a1, srv, "anna");
  receipts_verify(__LINE__, a1);
  HQ_RUN(srv, "verify-log");
  e2e_server_free(srv);
  free(a1);
  free(copy);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------- a real copy */

static void test_copied_device_refused(void) {
  char *dir = tu_tmpdir("e2e-copy");
  e2e_server *srv = e2e_server_new(dir, "hq");
  if (!srv || e2e_server_start(srv, 0)) return;
  char *l1 = e2e_device_new(__LINE__, srv, dir, "laptop", "anna");
  char *l2 = e2e_path(dir, "laptop-copy");
  char c1[64], c2[64], c3[64];
  ADD(l1, c1, "customer", "add", "--name", "Lindner Buero GmbH");
  SYNC(l1);
  /* the whole home copied to a second laptop: store, keys, receipts */
  CHECK_EQ_INT(tu_run(NULL, NULL, ARGS("/bin/cp", "-a", l1, l2)), 0);
  ADD(l1, c2, "customer", "add", "--name", "Moser Objekt KG");
  ADD(l2, c3, "customer", "add", "--name", "Nagel Einrichtung AG");
  SYNC(l1);
  for (int round = 0; round < 2; round++) {
    char *err = sync_fails(__LINE__, l2);
    CHECK_CONTAINS(err, "a copied device?");
    CHECK_CONTAINS(err, "holds no receipt");
    free(err);
  }
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c2), 1);
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c3), 0);
  CHECK_EQ_INT(dev_has(__LINE__, l2, "customers", "id", c3), 1); /* kept where it was typed */
  char *err = status_err(__LINE__, l2);
  CHECK(!err || !strstr(err, "behind its receipts")); /* a copy is not a rollback */
  free(err);
  SYNC(l1); /* the original is unharmed */
  SAME_AS_HQ(l1, srv, "anna");
  HQ_RUN(srv, "verify-log");
  e2e_server_free(srv);
  free(l1);
  free(l2);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------- a damaged WAL */

static long long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static void test_lost_wal_frames(void) {
  char *dir = tu_tmpdir("e2e-wal");
  e2e_server *srv = e2e_server_new(dir, "hq");
  if (!srv || e2e_server_start(srv, 0)) return;
  char *a1 = e2e_device_new(__LINE__, srv, dir, "anna-laptop", "anna");
  SYNC(a1);
  char *db = e2e_path(a1, "store.db"), *wal = e2e_path(a1, "store.db-wal"),
       *shm = e2e_path(a1, "store.db-shm");
  /* A reader holds the store open, so the commands' writes stay in the
   * WAL (the last connection to close would fold them into store.db); it
   * closes without a checkpoint. */
  fs_device *holder = NULL;
  CHECK_OK(tu_device_open(&holder, a1, NULL));
  sqlite3 *hdb = holder ? fsi_store_db(fs_device_store(holder)) : NULL;
  CHECK(hdb != NULL);
  if (hdb) sqlite3_db_config(hdb, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  int64_t n = 0;
  CHECK_OK(fs_pending_count(&n, fs_device_store(holder)));
  char c1[64], c2[64], c3[64], c4[64];
  ADD(a1, c1, "customer", "add", "--name", "Ortner Buero GmbH");
  long long cut = file_size(wal); /* just after the first customer's commit */
  CHECK(cut > 0);
  ADD(a1, c2, "customer", "add", "--name", "Pichler Moebel KG");
  ADD(a1, c3, "customer", "add", "--name", "Quast Objekt AG");
  SYNC(a1);
  ADD(a1, c4, "customer", "add", "--name", "Rainer Einrichtung GmbH"); /* never pushed */
  CHECK(file_size(wal) > cut);
  fs_device_close(holder);
  CHECK(file_size(wal) > cut); /* no checkpoint: the frames are still only in the WAL */
  CHECK(truncate(wal, (off_t)cut) == 0);
  unlink(shm);

  /* The fault happened: committed customers are gone from the store. */
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c1), 1);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c2), 0);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c3), 0);
  char *err = status_err(__LINE__, a1);
  CHECK_CONTAINS(err, "behind its receipts");
  CHECK_CONTAINS(err, "cannot be recovered"); /* honest about what is gone for good */
  free(err);
  SYNC(a1);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c1), 1);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c2), 1);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c3), 1);
  CHECK_EQ_INT(dev_has(__LINE__, a1, "customers", "id", c4), 0); /* lost before any push */
  CHECK_EQ_INT(hq_has(__LINE__, srv, "customers", "id", c4), 0);
  SAME_AS_HQ(a1, srv, "anna");
  err = status_err(__LINE__, a1);
  CHECK(!err || !strstr(err, "behind"));
  free(err);
  receipts_verify(__LINE__, a1);
  e2e_server_free(srv);
  free(db);
  free(wal);
  free(shm);
  free(a1);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_hq_restored_from_backup);
  TEST_RUN(test_device_restored_from_copy);
  TEST_RUN(test_copied_device_refused);
  TEST_RUN(test_lost_wal_frames);
  e2e_stop_all();
  return tu_finish();
}
