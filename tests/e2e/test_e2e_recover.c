/*
 * test_e2e_recover.c — a forgotten passphrase, end to end: the real
 * `fieldsync-server` on 127.0.0.1, real encrypted device homes, both
 * command lines.
 *
 * The manager "forgets" the passphrase: from then on the test gives the
 * laptop only head office's code and a new passphrase (--new-file), and
 * checks what the manager relies on: the data, both passphrases, and the
 * key file, which must be byte for byte unchanged by every refusal.
 *
 * Covers:
 *  - forgot_passphrase: without head office's approval `unlock --recover`
 *    is refused with the sentence to call head office, and nothing
 *    changes; staff run `recover DEVICE`; a wrong code is refused and
 *    counts (`recover --list`); the right code unlocks; after `lock` the
 *    new passphrase opens the same data and the old one does not; the
 *    laptop still syncs; the code does not work twice;
 *  - expired (test builds): a code approved for 1 hour is refused by a
 *    head office whose clock is 2 hours later, and nothing changes;
 *  - per_device: the code approved for laptop A does nothing for laptop B
 *    (and B stays locked with its own passphrase), and still works on A;
 *  - revoked: a device revoked after the approval gets no key;
 *  - escrow_on_sync: a laptop whose escrow head office never got (an
 *    enrollment by an older fieldsync) cannot be approved; its next sync
 *    sends the escrow, and then it can be recovered.
 * The test joins a session keyring of its own (`unlock` caches the key).
 */
#define _GNU_SOURCE
#include <keyutils.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"

#define CUSTOMER "Brandt & Söhne Möbel KG"
#define NOTES "asked for 12 desks in oak, delivery before the fair"
#define NEW_PASS "a new passphrase, written down this time"

static char *g_dir;

static e2e_server *server(const char *name) {
  e2e_server *s = e2e_server_new(g_dir, name);
  if (s && e2e_server_start(s, 0)) {
    e2e_server_free(s);
    return NULL;
  }
  return s;
}

/* A 0600 file DIR/name holding `text` and a newline; caller frees. */
static char *secret_file(const char *name, const char *text) {
  char *p = e2e_path(g_dir, name), line[256];
  snprintf(line, sizeof line, "%s\n", text);
  CHECK(tu_write_file(p, line) == 0);
  chmod(p, 0600);
  return p;
}

/* The bytes of HOME/keys/store.key (caller frees). */
static char *keyfile(const char *home, size_t *n) {
  char p[4200];
  snprintf(p, sizeof p, "%s/keys/store.key", home);
  return tu_read_file(p, n);
}

/* `fieldsync unlock --recover --new-file NEWPASS --json` with `code` in
 * $FIELDSYNC_RECOVERY_CODE_FILE: exit status, stdout, stderr. */
static int recover_cli(const char *home, const char *code, const char *newpass, char **out,
                       char **err) {
  char *cf = secret_file("code.txt", code);
  setenv("FIELDSYNC_RECOVERY_CODE_FILE", cf, 1);
  int rc = e2e_fs(home, out, err, ARGS("unlock", "--recover", "--new-file", newpass, "--json"));
  unsetenv("FIELDSYNC_RECOVERY_CODE_FILE");
  unlink(cf);
  free(cf);
  return rc;
}

/* Recovery that must be refused with one line holding `needle`, leaving
 * store.key as it was. */
static void refused(int line, const char *home, const char *code, const char *newpass,
                    const char *needle) {
  size_t n0 = 0, n1 = 0;
  char *before = keyfile(home, &n0), *err = NULL, *out = NULL;
  int rc = recover_cli(home, code, newpass, &out, &err);
  char *after = keyfile(home, &n1);
  tu_checks += 4;
  if (rc == 0) tu_fail(__FILE__, line, "the recovery was not refused: %s", out ? out : "");
  if (!e2e_one_line(err, "fieldsync: ") || !err || !strstr(err, needle))
    tu_fail(__FILE__, line, "not one line with \"%s\": %s", needle, err ? err : "(null)");
  if (out && *out) tu_fail(__FILE__, line, "a refusal printed on stdout: %s", out);
  if (!before || !after || n0 != n1 || memcmp(before, after, n0) != 0)
    tu_fail(__FILE__, line, "a refused recovery changed %s/keys/store.key", home);
  free(before);
  free(after);
  free(err);
  free(out);
}
#define REFUSED(home, code, pass, needle) refused(__LINE__, home, code, pass, needle)

/* The code of `recover DEVICE --json [more]` (caller frees). */
static char *approve(int line, e2e_server *s, const char *id, const char *hours) {
  cJSON *o = hours ? e2e_hq_json(line, s, ARGS("recover", id, "--hours", hours, "--json"))
                   : e2e_hq_json(line, s, ARGS("recover", id, "--json", "--by", "eva"));
  const char *c = e2e_str(o, "code");
  char *code = c ? strdup(c) : NULL;
  tu_checks++;
  if (!code || strlen(code) != 39 || !e2e_str(o, "device") || strcmp(e2e_str(o, "device"), id))
    tu_fail(__FILE__, line, "recover %s --json printed no code for it", id);
  cJSON_Delete(o);
  return code;
}

/* A wrong code of the right shape. */
#define WRONG "0000-1111-2222-3333-4444-5555-6666-7777"

/* `fieldsync export --json` with the passphrase file `pass` (the key not
 * cached): its stdout, or NULL when it fails (then *err holds why). */
static char *export_with(const char *home, const char *pass, char **err) {
  char *saved = strdup(getenv("FIELDSYNC_PASSPHRASE_FILE"));
  setenv("FIELDSYNC_PASSPHRASE_FILE", pass, 1);
  char *out = NULL;
  int rc = e2e_fs(home, &out, err, ARGS("export", "--json"));
  setenv("FIELDSYNC_PASSPHRASE_FILE", saved, 1);
  free(saved);
  if (rc) {
    free(out);
    return NULL;
  }
  return out;
}

/* The state and wrong codes `recover --list --json` shows for the newest
 * approval of device id. */
static void list_state(int line, e2e_server *s, const char *id, const char *state, int wrong) {
  cJSON *arr = e2e_hq_json(line, s, ARGS("recover", "--list", "--json")), *it;
  const cJSON *last = NULL;
  cJSON_ArrayForEach(it, arr) if (e2e_str(it, "device") && !strcmp(e2e_str(it, "device"), id))
      last = it;
  tu_checks++;
  if (!last || !e2e_str(last, "state") || strcmp(e2e_str(last, "state"), state) ||
      e2e_int(last, "wrong_codes") != wrong)
    tu_fail(__FILE__, line, "recover --list: device %s is not %s with %d wrong codes", id, state,
            wrong);
  cJSON_Delete(arr);
}

static void test_forgot_passphrase(void) {
  e2e_server *s = server("hq-forgot");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "anna", "anna");
  char id[64], cust[64], m[64];
  e2e_device_id(__LINE__, home, id);
  ADD(home, cust, "customer", "add", "--name", CUSTOMER, "--city", "Köln");
  ADD(home, m, "meeting", "add", "--customer", cust, "--at", "2026-03-10 10:30", "--notes", NOTES);
  SYNC(home);
  char *before = e2e_export_dev(__LINE__, home);
  char *newpass = secret_file("new.pass", NEW_PASS);
  char *oldpass = strdup(tu_passphrase_file()), *shortpass = NULL;
  FS_RUN(home, "lock");

  /* no approval: refused, nothing changed, the old passphrase still works */
  REFUSED(home, WRONG, newpass, "head office has not approved a recovery of device");
  char *err = NULL, *now = export_with(home, oldpass, &err);
  CHECK_STR(now, before);
  free(now);
  free(err);
  char *list = e2e_hq_ok(__LINE__, s, ARGS("recover", "--list", "--json"));
  CHECK_STR(list, "[]\n"); /* trying approved nothing */
  free(list);

  char *code = approve(__LINE__, s, id, NULL);
  if (!code) goto done;
  list_state(__LINE__, s, id, "pending", 0);
  /* a badly typed code is refused on the laptop and costs no try */
  REFUSED(home, "0000-1111", newpass, "it has 32");
  REFUSED(home, WRONG, newpass, "the recovery code is wrong; 4 more tries");
  list_state(__LINE__, s, id, "pending", 1);
  /* a new passphrase that is too short is refused before the code is sent */
  shortpass = secret_file("short.pass", "short");
  REFUSED(home, code, shortpass, "at least 10 characters");
  list_state(__LINE__, s, id, "pending", 1);

  /* the right code, typed in lower case without dashes */
  char typed[64];
  size_t n = 0;
  for (const char *p = code; *p && n < sizeof typed - 1; p++)
    if (*p != '-') typed[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
  typed[n] = '\0';
  char *out = NULL;
  err = NULL;
  int rc = recover_cli(home, typed, newpass, &out, &err);
  CHECK_EQ_INT(rc, 0);
  cJSON *o = out ? cJSON_Parse(out) : NULL;
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "recovered")));
  CHECK_STR(e2e_str(o, "device_id"), id);
  cJSON_Delete(o);
  free(out);
  free(err);
  list_state(__LINE__, s, id, "used", 1);

  /* locked again: the new passphrase opens the same data, the old one not */
  FS_RUN(home, "lock");
  err = NULL;
  now = export_with(home, newpass, &err);
  CHECK_STR(now, before);
  CHECK_CONTAINS(now, CUSTOMER);
  CHECK_CONTAINS(now, NOTES);
  free(now);
  free(err);
  err = NULL;
  now = export_with(home, oldpass, &err);
  CHECK(now == NULL);
  CHECK_CONTAINS(err, "does not unlock");
  free(now);
  free(err);

  /* the laptop still syncs (its identity was sealed under the same key) */
  setenv("FIELDSYNC_PASSPHRASE_FILE", newpass, 1);
  ADD(home, m, "meeting", "add", "--customer", cust, "--at", "2026-03-12 09:00", "--notes",
      "after the recovery");
  SYNC(home);
  SAME_AS_HQ(home, s, "anna");
  FS_RUN(home, "lock");
  setenv("FIELDSYNC_PASSPHRASE_FILE", oldpass, 1);

  /* a code works once */
  REFUSED(home, code, newpass, "was used");
  free(code);
done:
  free(shortpass);
  free(oldpass);
  free(newpass);
  free(before);
  free(home);
  e2e_server_free(s);
}

#ifdef FS_TEST_HOOKS
static void test_expired(void) {
  e2e_server *s = server("hq-expired");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "berit", "berit");
  char id[64];
  e2e_device_id(__LINE__, home, id);
  char *newpass = secret_file("new-expired.pass", NEW_PASS);
  char *code = approve(__LINE__, s, id, "1");
  FS_RUN(home, "lock");
  /* head office two hours later (its own clock; the laptop's is right) */
  int port = s->port;
  e2e_server_stop(s);
  setenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS", "7200000", 1);
  int started = e2e_server_start(s, port) == 0;
  unsetenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS");
  CHECK(started);
  if (started && code) {
    REFUSED(home, code, newpass, "expired at");
    /* staff see it expired (on head office's clock) */
    setenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS", "7200000", 1);
    list_state(__LINE__, s, id, "expired", 0);
    unsetenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS");
  }
  /* the old passphrase still opens it */
  char *err = NULL, *now = export_with(home, tu_passphrase_file(), &err);
  CHECK(now != NULL);
  free(now);
  free(err);
  free(code);
  free(newpass);
  free(home);
  e2e_server_free(s);
}
#endif

static void test_per_device(void) {
  e2e_server *s = server("hq-two");
  if (!s) return;
  char *a = e2e_device_new(__LINE__, s, g_dir, "carl-a", "carl");
  char *b = e2e_device_new(__LINE__, s, g_dir, "carl-b", "carl");
  char ida[64], idb[64];
  e2e_device_id(__LINE__, a, ida);
  e2e_device_id(__LINE__, b, idb);
  char *newpass = secret_file("new-two.pass", NEW_PASS);
  char *code = approve(__LINE__, s, ida, NULL);
  FS_RUN(a, "lock");
  FS_RUN(b, "lock");
  if (code) REFUSED(b, code, newpass, "head office has not approved a recovery of device");
  list_state(__LINE__, s, ida, "pending", 0);
  char *err = NULL, *now = export_with(b, newpass, &err);
  CHECK(now == NULL); /* B keeps its own passphrase */
  free(now);
  free(err);
  char *out = NULL;
  err = NULL;
  CHECK_EQ_INT(code ? recover_cli(a, code, newpass, &out, &err) : -1, 0);
  free(out);
  free(err);
  FS_RUN(a, "lock");
  err = NULL;
  now = export_with(a, newpass, &err);
  CHECK(now != NULL);
  free(now);
  free(err);
  free(code);
  free(newpass);
  free(a);
  free(b);
  e2e_server_free(s);
}

static void test_revoked(void) {
  e2e_server *s = server("hq-revoked");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "dora", "dora");
  char id[64];
  e2e_device_id(__LINE__, home, id);
  char *newpass = secret_file("new-revoked.pass", NEW_PASS);
  char *code = approve(__LINE__, s, id, NULL);
  HQ_RUN(s, "revoke", id);
  FS_RUN(home, "lock");
  if (code) REFUSED(home, code, newpass, "revoked");
  /* and staff cannot approve it again */
  char *err = NULL;
  CHECK(e2e_hq(s, NULL, &err, ARGS("recover", id)) != 0);
  CHECK_CONTAINS(err, "revoked");
  free(err);
  free(code);
  free(newpass);
  free(home);
  e2e_server_free(s);
}

static void test_escrow_on_sync(void) {
  e2e_server *s = server("hq-old");
  if (!s) return;
  char *home = e2e_device_new(__LINE__, s, g_dir, "emil", "emil");
  char id[64], p[4200];
  e2e_device_id(__LINE__, home, id);
  /* as a laptop enrolled by fieldsync 0.2 would be: no escrow at head
   * office, none recorded as sent, no hq.json */
  sqlite3 *db = NULL;
  snprintf(p, sizeof p, "%s/store.db", s->home);
  CHECK(sqlite3_open(p, &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  CHECK(sqlite3_exec(db, "DELETE FROM hq_escrow", NULL, NULL, NULL) == SQLITE_OK);
  CHECK_EQ_INT(sqlite3_changes(db), 1);
  sqlite3_close(db);
  fs_device *dev = NULL;
  CHECK_OK(tu_device_open(&dev, home, NULL));
  if (dev) CHECK_OK(fs_store_set(fs_device_store(dev), "escrow_sent_at", NULL));
  fs_device_close(dev);
  snprintf(p, sizeof p, "%s/keys/hq.json", home);
  CHECK(unlink(p) == 0);

  char *err = NULL;
  CHECK(e2e_hq(s, NULL, &err, ARGS("recover", id)) != 0);
  CHECK_CONTAINS(err, "no escrowed key");
  free(err);
  char *newpass = secret_file("new-old.pass", NEW_PASS);
  FS_RUN(home, "lock");
  REFUSED(home, WRONG, newpass, "no record of head office");

  SYNC(home);
  CHECK(access(p, F_OK) == 0);
  char *code = approve(__LINE__, s, id, NULL);
  FS_RUN(home, "lock");
  char *out = NULL;
  err = NULL;
  CHECK_EQ_INT(code ? recover_cli(home, code, newpass, &out, &err) : -1, 0);
  free(out);
  free(err);
  FS_RUN(home, "lock");
  err = NULL;
  char *now = export_with(home, newpass, &err);
  CHECK(now != NULL);
  free(now);
  free(err);
  free(code);
  free(newpass);
  free(home);
  e2e_server_free(s);
}

int main(void) {
  if (keyctl_join_session_keyring(NULL) < 0)
    printf("note: no kernel keyring here; `unlock` cannot cache keys\n");
  g_dir = tu_tmpdir("e2e-recover");
  TEST_RUN(test_forgot_passphrase);
#ifdef FS_TEST_HOOKS
  TEST_RUN(test_expired);
#endif
  TEST_RUN(test_per_device);
  TEST_RUN(test_revoked);
  TEST_RUN(test_escrow_on_sync);
  e2e_stop_all();
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
