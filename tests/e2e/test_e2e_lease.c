/*
 * test_e2e_lease.c — the offline lease and the remote wipe, end to end:
 * the real fieldsync-server on 127.0.0.1 and real device homes driven
 * through both command lines.  Clocks are moved with
 * FIELDSYNC_TEST_CLOCK_OFFSET_MS (inherited by the commands and the
 * servers the test starts).
 *  - lease_per_manager: enrollment and every sync give a lease of 14 days
 *    by default; `lease set MANAGER --days N` shortens the next one; `lease
 *    list` shows the policy; out-of-range days are refused;
 *  - expired_then_online_unlock: a laptop offline past its lease (clock 15
 *    days on, head office unreachable) is refused with the sentence and
 *    shows nothing; once head office is back an unlock with the passphrase
 *    renews the lease online and the data is there again;
 *  - wipe_at_next_contact: `revoke DEVICE --wipe`, then the device's next
 *    sync shreds its home (exit 4, no store, key or customer name left
 *    in any file) and head office shows the wipe confirmed; another device
 *    of the manager is untouched;
 *  - forged_wipe_refused: a wipe order that does not verify against the
 *    key the device pinned (here: the device's pin replaced, so head
 *    office's genuine order is, to it, from someone else) is refused and
 *    deletes nothing;
 *  - local_wipe: `fieldsync wipe` refuses without --yes off a terminal,
 *    and with --yes shreds the home.
 * The test joins a session keyring of its own (`fieldsync unlock`).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <keyutils.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "keys.h"

#define DAY_MS (24LL * 3600 * 1000)

static char *g_dir;

static void clock_off(long long ms) {
  if (!ms) {
    unsetenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS");
    return;
  }
  char v[32];
  snprintf(v, sizeof v, "%lld", ms);
  setenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS", v, 1);
}

static e2e_server *server(const char *name) {
  e2e_server *s = e2e_server_new(g_dir, name);
  if (s && e2e_server_start(s, 0)) {
    e2e_server_free(s);
    return NULL;
  }
  return s;
}

/* The lease's end (ms) from `status --json`, -1 when there is none. */
static long long lease_until(int line, const char *home) {
  cJSON *st = e2e_fs_json(line, home, ARGS("status", "--json"));
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(st, "lease");
  const char *until = e2e_str(l, "until");
  int64_t ms = -1;
  tu_checks++;
  if (!until || fs_time_parse(&ms, until) != FS_OK ||
      !cJSON_IsTrue(cJSON_GetObjectItem(l, "valid")))
    tu_fail(__FILE__, line, "status --json of %s has no valid lease", home);
  cJSON_Delete(st);
  return ms;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The device's row of `devices --json`. */
static cJSON *device_row(const e2e_server *s, const char *id, cJSON **doc) {
  *doc = HQ_JSON(s, "devices", "--json");
  const cJSON *d;
  cJSON_ArrayForEach(d, *doc) {
    if (e2e_str(d, "id") && !strcmp(e2e_str(d, "id"), id)) return (cJSON *)d;
  }
  return NULL;
}

/* 1 when some file under dir holds needle. */
static int tree_holds(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int found = 0;
  while (d && !found && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(p, &sb) != 0) continue;
    if (S_ISDIR(sb.st_mode)) {
      found = tree_holds(p, needle);
    } else if (S_ISREG(sb.st_mode)) {
      size_t n = 0;
      char *b = tu_read_file(p, &n);
      found = b && memmem(b, n, needle, strlen(needle)) != NULL;
      free(b);
    }
  }
  if (d) closedir(d);
  return found;
}

static int exists(const char *home, const char *name) {
  char p[4300];
  snprintf(p, sizeof p, "%s/%s", home, name);
  return access(p, F_OK) == 0;
}

static const char *const home_files[] = {
    "store.db",      "keys/store.key", "keys/identity.key", "keys/lease",
    "keys/sign.pub", "receipts",       "server-ca.pem",     NULL};

static void test_lease_per_manager(void) {
  e2e_server *s = server("hq-policy");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "policy-laptop", "anna");
  long long t = now_ms(), until = lease_until(__LINE__, home);
  /* enrollment gave the first: 14 days from head office's now */
  CHECK(until > t + 14 * DAY_MS - 120000 && until < t + 14 * DAY_MS + 120000);
  cJSON *list = HQ_JSON(s, "lease", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(list), 1);
  const cJSON *row = cJSON_GetArrayItem(list, 0);
  CHECK_STR(e2e_str(row, "manager"), "anna");
  CHECK_EQ_INT(e2e_int(row, "days"), 14);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(row, "default")));
  cJSON_Delete(list);
  /* head office shortens anna's; the next sync brings it */
  HQ_RUN(s, "lease", "set", "anna", "--days", "3");
  CHECK_EQ_INT(lease_until(__LINE__, home), until);
  SYNC(home);
  t = now_ms();
  until = lease_until(__LINE__, home);
  CHECK(until > t + 3 * DAY_MS - 120000 && until < t + 3 * DAY_MS + 120000);
  list = HQ_JSON(s, "lease", "list", "--json");
  row = cJSON_GetArrayItem(list, 0);
  CHECK_EQ_INT(e2e_int(row, "days"), 3);
  CHECK(cJSON_IsFalse(cJSON_GetObjectItem(row, "default")));
  cJSON_Delete(list);
  /* another manager's is untouched */
  char *other = e2e_device_new(__LINE__, s, g_dir, "policy-laptop-2", "ben");
  t = now_ms();
  until = lease_until(__LINE__, other);
  CHECK(until > t + 14 * DAY_MS - 120000);
  /* out of range: refused, nothing changed */
  char *err = NULL;
  CHECK(e2e_hq(s, NULL, &err, ARGS("lease", "set", "anna", "--days", "400")) != 0);
  CHECK(e2e_one_line(err, "fieldsync-server: "));
  CHECK_CONTAINS(err, "1 to 365 days");
  free(err);
  list = HQ_JSON(s, "lease", "list", "--json");
  CHECK_EQ_INT(e2e_int(cJSON_GetArrayItem(list, 0), "days"), 3);
  cJSON_Delete(list);
  free(home);
  free(other);
  e2e_server_free(s);
}

static void test_expired_then_online_unlock(void) {
  e2e_server *s = server("hq-expiry");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "expiry-laptop", "carla");
  char id[64];
  ADD(home, id, "customer", "add", "--name", "Leasewerk Offline AG", "--city", "Kiel");
  SYNC(home);
  int port = s->port;
  CHECK_EQ_INT(e2e_server_stop(s), 0);
  /* fifteen days later, still offline */
  clock_off(15 * DAY_MS);
  char *out = NULL, *err = NULL;
  CHECK_EQ_INT(e2e_fs(home, &out, &err, ARGS("customer", "list")), 1);
  CHECK(e2e_one_line(err, "fieldsync: "));
  CHECK_CONTAINS(err, "has not synced with head office since");
  CHECK_CONTAINS(err, "lease ran out on");
  CHECK_CONTAINS(err, "fieldsync unlock");
  CHECK_CONTAINS(err, "head office could not renew it");
  CHECK(!out || !strstr(out, "Leasewerk"));
  free(out);
  free(err);
  out = err = NULL;
  CHECK(e2e_fs(home, NULL, &err, ARGS("unlock")) != 0);
  CHECK_CONTAINS(err, "lease ran out");
  free(err);
  err = NULL;
  /* head office is back (fifteen days on for it too): one online unlock */
  CHECK(e2e_server_start(s, port) == 0);
  FS_RUN(home, "unlock");
  out = e2e_fs_ok(__LINE__, home, ARGS("customer", "list"));
  CHECK_CONTAINS(out, "Leasewerk Offline AG");
  free(out);
  long long until = lease_until(__LINE__, home);
  CHECK(until > now_ms() + 15 * DAY_MS + 13 * DAY_MS);
  /* the key `unlock` cached does not outlive the lease either: thirty days
   * later, offline, with only the cached key (no passphrase file) */
  CHECK_EQ_INT(e2e_server_stop(s), 0);
  clock_off(45 * DAY_MS);
  char *pf = strdup(getenv("FIELDSYNC_PASSPHRASE_FILE"));
  unsetenv("FIELDSYNC_PASSPHRASE_FILE");
  out = err = NULL;
  CHECK_EQ_INT(e2e_fs(home, &out, &err, ARGS("customer", "list")), 1);
  CHECK_CONTAINS(err, "lease ran out on");
  CHECK(!strstr(err, "is locked"));
  CHECK(!out || !strstr(out, "Leasewerk"));
  free(out);
  free(err);
  setenv("FIELDSYNC_PASSPHRASE_FILE", pf, 1);
  free(pf);
  FS_RUN(home, "lock");
  clock_off(0);
  free(home);
  e2e_server_free(s);
}

static void test_wipe_at_next_contact(void) {
  e2e_server *s = server("hq-wipe");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "wipe-laptop", "dora");
  char *other = e2e_device_new(__LINE__, s, g_dir, "wipe-laptop-2", "dora");
  char cust[64], dev[64], id[64];
  ADD(home, cust, "customer", "add", "--name", "Schredderhaus Nord GmbH", "--phone",
      "+49 40 5550999");
  ADD(home, id, "meeting", "add", "--customer", cust, "--at", "2026-03-10 10:30", "--notes",
      "wants the secret discount");
  SYNC(home);
  SYNC(other);
  e2e_device_id(__LINE__, home, dev);
  for (int i = 0; home_files[i]; i++) CHECK(exists(home, home_files[i]));
  cJSON *json = HQ_JSON(s, "revoke", dev, "--wipe", "--json");
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(json, "wipe")));
  cJSON_Delete(json);
  cJSON *doc = NULL, *row = device_row(s, dev, &doc);
  CHECK(row && e2e_str(row, "revoked_at") && e2e_str(row, "wipe_ordered_at"));
  CHECK(row && cJSON_IsNull(cJSON_GetObjectItem(row, "wipe_confirmed_at")));
  cJSON_Delete(doc);
  /* the next contact */
  char *out = NULL, *err = NULL;
  CHECK_EQ_INT(e2e_fs(home, &out, &err, ARGS("sync")), 4);
  CHECK(e2e_one_line(err, "fieldsync: "));
  CHECK_CONTAINS(err, "head office ordered this laptop wiped");
  CHECK_CONTAINS(err, "head office has been told");
  free(out);
  free(err);
  for (int i = 0; home_files[i]; i++) CHECK(!exists(home, home_files[i]));
  CHECK(!exists(home, "store.db-wal"));
  CHECK(!exists(home, "sync.lock"));
  CHECK(!tree_holds(home, "Schredderhaus"));
  CHECK(!tree_holds(home, "secret discount"));
  CHECK(access(home, F_OK) != 0); /* nothing else was in it */
  row = device_row(s, dev, &doc);
  CHECK(row && e2e_str(row, "wipe_confirmed_at"));
  cJSON_Delete(doc);
  char *table = e2e_hq_ok(__LINE__, s, ARGS("devices"));
  CHECK_CONTAINS(table, "WIPED");
  free(table);
  /* the wiped laptop is gone for good; the other one of dora is untouched
   * and still receives the customer */
  err = NULL;
  CHECK(e2e_fs(home, NULL, &err, ARGS("status")) != 0);
  CHECK_CONTAINS(err, "no fieldsync store");
  free(err);
  SYNC(other);
  out = e2e_fs_ok(__LINE__, other, ARGS("customer", "list"));
  CHECK_CONTAINS(out, "Schredderhaus Nord GmbH");
  free(out);
  free(home);
  free(other);
  e2e_server_free(s);
}

static void test_forged_wipe_refused(void) {
  e2e_server *s = server("hq-forged");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "forged-laptop", "emil");
  char dev[64], id[64];
  ADD(home, id, "customer", "add", "--name", "Fälschung Standhaft KG");
  SYNC(home);
  e2e_device_id(__LINE__, home, dev);
  HQ_RUN(s, "revoke", dev, "--wipe");
  /* the device now pins another key than head office's: head office's
   * order is, to it, signed by a stranger */
  fs_device *d = NULL;
  fsi_keys stranger;
  char hex[KEYS_PUB_HEX_SIZE];
  CHECK_OK(fsi_keys_new(&stranger));
  fsi_keys_pub_to_hex(hex, &stranger.pub);
  fsi_keys_wipe(&stranger);
  CHECK_OK(tu_device_open(&d, home, NULL));
  if (d) CHECK_OK(fs_store_set(fs_device_store(d), "server_keys", hex));
  fs_device_close(d);
  char key0[4300];
  snprintf(key0, sizeof key0, "%s/keys/store.key", home);
  size_t n0 = 0, n1 = 0;
  char *before = tu_read_file(key0, &n0);
  char *err = NULL;
  CHECK_EQ_INT(e2e_fs(home, NULL, &err, ARGS("sync")), 1);
  CHECK(e2e_one_line(err, "fieldsync: "));
  CHECK_CONTAINS(err, "wipe order does not verify");
  CHECK_CONTAINS(err, "nothing on this laptop was deleted");
  free(err);
  for (int i = 0; home_files[i]; i++) CHECK(exists(home, home_files[i]));
  char *after = tu_read_file(key0, &n1);
  CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
  free(before);
  free(after);
  /* the passphrase still unwraps its key: what stops it now is only the
   * lease, which no longer verifies under the replaced pin */
  CHECK_ERR(tu_device_open(&d, home, NULL), FS_ELEASE);
  fs_device_close(d);
  cJSON *doc = NULL, *row = device_row(s, dev, &doc);
  CHECK(row && cJSON_IsNull(cJSON_GetObjectItem(row, "wipe_confirmed_at")));
  cJSON_Delete(doc);
  free(home);
  e2e_server_free(s);
}

static void test_local_wipe(void) {
  e2e_server *s = server("hq-local");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "local-laptop", "fritz");
  char id[64];
  ADD(home, id, "customer", "add", "--name", "Eigenhand Löschbar OHG");
  SYNC(home);
  char *err = NULL;
  CHECK_EQ_INT(e2e_fs(home, NULL, &err, ARGS("wipe")), 2); /* stdin is not a terminal */
  CHECK_CONTAINS(err, "--yes");
  free(err);
  for (int i = 0; home_files[i]; i++) CHECK(exists(home, home_files[i]));
  cJSON *j = FS_JSON(home, "wipe", "--yes", "--json");
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "wiped")));
  CHECK(e2e_str(j, "device_id") && strlen(e2e_str(j, "device_id")) == 16);
  cJSON_Delete(j);
  for (int i = 0; home_files[i]; i++) CHECK(!exists(home, home_files[i]));
  CHECK(access(home, F_OK) != 0);
  CHECK(!tree_holds(home, "Eigenhand"));
  free(home);
  e2e_server_free(s);
}

int main(void) {
  if (keyctl_join_session_keyring(NULL) < 0) {
    printf("SKIP test_e2e_lease: no kernel keyring here (keyctl_join_session_keyring failed)\n");
    return 0;
  }
  g_dir = tu_tmpdir("e2e-lease");
  TEST_RUN(test_lease_per_manager);
  TEST_RUN(test_expired_then_online_unlock);
  TEST_RUN(test_wipe_at_next_contact);
  TEST_RUN(test_forged_wipe_refused);
  TEST_RUN(test_local_wipe);
  clock_off(0);
  e2e_stop_all();
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
