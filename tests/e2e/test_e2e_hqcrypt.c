/*
 * test_e2e_hqcrypt.c — head office at rest: `fieldsync-server init
 * --encrypt` and every verb after it, with the real server on 127.0.0.1.
 *
 *  - encrypted_store: `init --encrypt --key-file FILE` makes FILE (0600, a
 *    new key) and an encrypted store; the server serves two devices (enroll,
 *    push, pull) with the key from FIELDSYNC_SERVER_KEY_FILE, and no file of
 *    the server home holds a customer's name or a meeting's notes, while it
 *    serves (WAL included) and after it stopped; sqlite3 cannot read it;
 *  - key_missing_or_wrong: without a key, with a wrong one or a file that
 *    holds no key, `devices`, `export` and `serve` refuse with one sentence
 *    naming --key-file and FIELDSYNC_SERVER_KEY_FILE, and the home is byte
 *    for byte as it was; the systemd credential directory is a way to give
 *    the key;
 *  - backup_restore: the backup of an encrypted store is encrypted (no
 *    customer name in it, sqlite3 cannot read it), restores into the home,
 *    which stays encrypted and serves the devices again; a plain backup is
 *    refused by the encrypted home, nothing changed;
 *  - plain_server: a home made without --encrypt is plain SQLite, needs no
 *    key (a key file in the environment is ignored) and serves as before.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fieldsync/server.h>

#include "e2e.h"
#include "engine.h"

#define CUSTOMER "Kvarnholmen Interiör AB"
#define NOTES "board wants the oak tables, quote by friday"
#define CUSTOMER2 "Brauhaus Lindenhof KG"

static char *g_dir, *g_keyfile;
static e2e_server *g_srv;
static char *g_anna, *g_anna2;
static int g_ready;

/* 1 when any regular file under dir holds the bytes s. */
static int tree_holds(const char *dir, const char *s, char *where, size_t wn) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int found = 0;
  if (!d) return 0;
  while (!found && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[4400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (lstat(p, &sb) != 0) continue;
    if (S_ISDIR(sb.st_mode)) {
      found = tree_holds(p, s, where, wn);
    } else if (S_ISREG(sb.st_mode)) {
      size_t n = 0;
      char *b = tu_read_file(p, &n);
      if (b && memmem(b, n, s, strlen(s))) {
        found = 1;
        snprintf(where, wn, "%s", p);
      }
      free(b);
    }
  }
  closedir(d);
  return found;
}

static void check_no_plaintext(int line, const char *dir) {
  static const char *const needles[] = {CUSTOMER, NOTES, "Kvarnholmen", NULL};
  for (size_t i = 0; needles[i]; i++) {
    char where[4400] = "";
    int held = tree_holds(dir, needles[i], where, sizeof where);
    if (held) fprintf(stderr, "line %d: \"%s\" found in %s\n", line, needles[i], where);
    CHECK(!held);
  }
}

/* 1 when sqlite3 (no key) reads the schema of the file at path. */
static int sqlite_reads(const char *path) {
  sqlite3 *db = NULL;
  int ok = 0;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
    ok = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) == SQLITE_OK;
  sqlite3_close(db);
  return ok;
}

static void setup(void) {
  if (g_ready) return;
  g_ready = -1;
  g_dir = tu_tmpdir("e2e-hqcrypt");
  g_keyfile = e2e_path(g_dir, "hq.key");
  unsetenv(FS_HQ_KEY_ENV);
  unsetenv("CREDENTIALS_DIRECTORY");
  /* init makes the key file itself (--key-file, missing); every later
   * command (the imports e2e_server_new_init runs, serve) finds it in the
   * environment */
  setenv(FS_HQ_KEY_ENV, g_keyfile, 1);
  g_srv = e2e_server_new_init(g_dir, "hq", ARGS("--encrypt", "--key-file", g_keyfile));
  if (!g_srv) return;
  if (e2e_server_start(g_srv, 0)) return;
  g_anna = e2e_device_new(__LINE__, g_srv, g_dir, "anna", "anna");
  g_anna2 = e2e_device_new(__LINE__, g_srv, g_dir, "anna2", "anna");
  char cust[64], id[64];
  SYNC(g_anna);
  ADD(g_anna, cust, "customer", "add", "--name", CUSTOMER, "--city", "Nacka");
  ADD(g_anna, id, "meeting", "add", "--customer", cust, "--at", "2026-03-10 10:30", "--notes",
      NOTES);
  SYNC(g_anna);
  SYNC(g_anna2);
  g_ready = 1;
}

static void test_encrypted_store(void) {
  setup();
  CHECK(g_ready == 1);
  if (g_ready != 1) return;
  struct stat sb;
  CHECK(stat(g_keyfile, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_size == 65);
  char store[4200];
  snprintf(store, sizeof store, "%s/store.db", g_srv->home);
  int enc = 0;
  CHECK_OK(fsi_store_is_encrypted(store, &enc));
  CHECK(enc == 1);
  /* pushed by one device, pulled by the other, through the encrypted store */
  e2e_same_as_hq(__LINE__, g_anna2, g_srv, "anna");
  char *exp = e2e_export_hq(__LINE__, g_srv, "anna");
  CHECK(exp && strstr(exp, CUSTOMER) && strstr(exp, NOTES));
  free(exp);
  /* while it serves: the store and its WAL */
  check_no_plaintext(__LINE__, g_srv->home);
  CHECK(!sqlite_reads(store));
  CHECK(e2e_server_stop(g_srv) == 0);
  check_no_plaintext(__LINE__, g_srv->home);
  CHECK(!sqlite_reads(store));
  CHECK(e2e_server_start(g_srv, g_srv->port) == 0);
}

/* Every file of the server home with its bytes, to compare. */
static char *snapshot(const char *home) {
  char *out = NULL, *err = NULL;
  /* sha256 of every file but the serving lock (which records a pid) */
  tu_run(&out, &err,
         ARGS("/bin/sh", "-c",
              "cd \"$0\" && find . -type f ! -name serve.lock ! -name '*.log' | sort | "
              "xargs sha256sum",
              home));
  free(err);
  return out;
}

static void refused(int line, const char *what, const char *const *args, const char *expect) {
  char *out = NULL, *err = NULL;
  int rc = e2e_hq(g_srv, &out, &err, args);
  if (rc == 0 || !err || !strstr(err, expect) || !strstr(err, "--key-file") ||
      !strstr(err, FS_HQ_KEY_ENV) || !e2e_one_line(err, "fieldsync-server: "))
    fprintf(stderr, "line %d (%s): rc %d, stderr: %s\n", line, what, rc, err ? err : "(none)");
  CHECK(rc != 0);
  CHECK(err && strstr(err, expect));
  CHECK(err && strstr(err, "--key-file") && strstr(err, FS_HQ_KEY_ENV));
  CHECK(e2e_one_line(err, "fieldsync-server: "));
  free(out);
  free(err);
}

static void test_key_missing_or_wrong(void) {
  setup();
  CHECK(g_ready == 1);
  if (g_ready != 1) return;
  CHECK(e2e_server_stop(g_srv) == 0);
  char *before = snapshot(g_srv->home);
  CHECK(before && strstr(before, "store.db"));

  unsetenv(FS_HQ_KEY_ENV);
  refused(__LINE__, "no key", ARGS("devices"), "is encrypted");
  refused(__LINE__, "no key", ARGS("export", "--json"), "is encrypted");
  refused(__LINE__, "no key", ARGS("serve", "--listen", "127.0.0.1:0"), "is encrypted");

  char *wrong = e2e_path(g_dir, "wrong.key");
  CHECK(tu_write_file(wrong,
                      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n") == 0);
  refused(__LINE__, "wrong key", ARGS("--key-file", wrong, "devices"), "does not open");
  refused(__LINE__, "wrong key", ARGS("--key-file", wrong, "serve", "--listen", "127.0.0.1:0"),
          "does not open");
  setenv(FS_HQ_KEY_ENV, wrong, 1);
  refused(__LINE__, "wrong key", ARGS("import", "products", "/dev/null"), "does not open");
  CHECK(tu_write_file(wrong, "not a key\n") == 0);
  refused(__LINE__, "no key in file", ARGS("devices"), "holds no server store key");

  char *after = snapshot(g_srv->home);
  CHECK(after && before && strcmp(before, after) == 0);

  /* a systemd credential: $CREDENTIALS_DIRECTORY/fieldsync-server.key */
  unsetenv(FS_HQ_KEY_ENV);
  char *cred = e2e_path(g_dir, "credentials");
  char *credkey = e2e_path(cred, FS_HQ_KEY_CREDENTIAL);
  mkdir(cred, 0700);
  char *key = tu_read_file(g_keyfile, NULL);
  CHECK(key && tu_write_file(credkey, key) == 0);
  setenv("CREDENTIALS_DIRECTORY", cred, 1);
  cJSON *devs = HQ_JSON(g_srv, "devices", "--json");
  CHECK(devs != NULL && cJSON_GetArraySize(devs) == 2);
  cJSON_Delete(devs);
  unsetenv("CREDENTIALS_DIRECTORY");

  setenv(FS_HQ_KEY_ENV, g_keyfile, 1);
  CHECK(e2e_server_start(g_srv, g_srv->port) == 0);
  SYNC(g_anna);
  free(key);
  free(cred);
  free(credkey);
  free(wrong);
  free(before);
  free(after);
}

static void test_backup_restore(void) {
  setup();
  CHECK(g_ready == 1);
  if (g_ready != 1) return;
  char *bak = e2e_path(g_dir, "hq-backup.db");
  cJSON *b = HQ_JSON(g_srv, "backup", bak, "--json");
  CHECK(b && e2e_int(b, "devices") == 2);
  cJSON_Delete(b);
  size_t n = 0;
  char *bytes = tu_read_file(bak, &n);
  CHECK(bytes && n > 4096);
  CHECK(bytes && !memmem(bytes, n, "Kvarnholmen", 11) && !memmem(bytes, n, "SQLite format 3", 15));
  free(bytes);
  CHECK(!sqlite_reads(bak));
  int enc = 0;
  CHECK_OK(fsi_store_is_encrypted(bak, &enc));
  CHECK(enc == 1);

  /* written after the backup: lost by head office at the restore, sent back by the device */
  char cust[64];
  ADD(g_anna, cust, "customer", "add", "--name", CUSTOMER2, "--city", "Bamberg");
  SYNC(g_anna);
  CHECK(e2e_server_stop(g_srv) == 0);

  cJSON *r = HQ_JSON(g_srv, "restore", bak, "--json");
  /* the backup holds anna's one push (the first sync pushed nothing) */
  CHECK(r && e2e_str(r, "restored") && e2e_int(r, "envelopes") == 1);
  cJSON_Delete(r);
  char store[4200];
  snprintf(store, sizeof store, "%s/store.db", g_srv->home);
  enc = 0;
  CHECK_OK(fsi_store_is_encrypted(store, &enc));
  CHECK(enc == 1);
  check_no_plaintext(__LINE__, g_srv->home);

  /* a plain backup is refused by the encrypted home; nothing changes */
  char *plain = e2e_path(g_dir, "plain.db");
  sqlite3 *db = NULL;
  CHECK(sqlite3_open(plain, &db) == SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE fs_meta(key TEXT PRIMARY KEY, value)", NULL, NULL, NULL);
  sqlite3_close(db);
  char *before = snapshot(g_srv->home), *out = NULL, *err = NULL;
  CHECK(e2e_hq(g_srv, &out, &err, ARGS("restore", plain)) != 0);
  CHECK(err && strstr(err, "without encryption") && e2e_one_line(err, "fieldsync-server: "));
  char *after = snapshot(g_srv->home);
  CHECK(before && after && strcmp(before, after) == 0);

  /* the restored home serves again: the devices catch it up */
  CHECK(e2e_server_start(g_srv, g_srv->port) == 0);
  SYNC(g_anna);
  SYNC(g_anna2);
  SYNC(g_anna);
  SYNC(g_anna2);
  char *exp = e2e_export_hq(__LINE__, g_srv, "anna");
  CHECK(exp && strstr(exp, CUSTOMER) && strstr(exp, CUSTOMER2));
  free(exp);
  e2e_same_as_hq(__LINE__, g_anna2, g_srv, "anna");
  check_no_plaintext(__LINE__, g_srv->home);
  free(out);
  free(err);
  free(before);
  free(after);
  free(plain);
  free(bak);
}

static void test_plain_server(void) {
  char *dir = tu_tmpdir("e2e-hqplain");
  /* a key file in the environment does not make a plain home need one */
  setenv(FS_HQ_KEY_ENV, "/nonexistent/fieldsync.key", 1);
  e2e_server *s = e2e_server_new(dir, "hq");
  CHECK(s != NULL);
  if (!s) {
    tu_rmrf(dir);
    free(dir);
    return;
  }
  char store[4200];
  snprintf(store, sizeof store, "%s/store.db", s->home);
  int enc = 1;
  CHECK_OK(fsi_store_is_encrypted(store, &enc));
  CHECK(enc == 0);
  CHECK(e2e_server_start(s, 0) == 0);
  char *home = e2e_device_new(__LINE__, s, dir, "bo", "bo");
  char cust[64];
  SYNC(home);
  ADD(home, cust, "customer", "add", "--name", CUSTOMER, "--city", "Nacka");
  SYNC(home);
  e2e_same_as_hq(__LINE__, home, s, "bo");
  char *bak = e2e_path(dir, "b.db");
  HQ_RUN(s, "backup", bak);
  CHECK(sqlite_reads(bak));
  CHECK(e2e_server_stop(s) == 0);
  CHECK(sqlite_reads(store));
  HQ_RUN(s, "restore", bak);
  CHECK(sqlite_reads(store));
  setenv(FS_HQ_KEY_ENV, g_keyfile ? g_keyfile : "", 1);
  e2e_server_free(s);
  free(bak);
  free(home);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_encrypted_store);
  TEST_RUN(test_key_missing_or_wrong);
  TEST_RUN(test_backup_restore);
  TEST_RUN(test_plain_server);
  e2e_stop_all();
  e2e_server_free(g_srv);
  if (g_dir) tu_rmrf(g_dir);
  free(g_dir);
  free(g_keyfile);
  free(g_anna);
  free(g_anna2);
  return tu_finish();
}
