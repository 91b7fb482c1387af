/*
 * test_e2e_thief.c — a lost laptop gives away nothing.
 *
 * A manager's laptop, enrolled with a real head office on 127.0.0.1, with
 * customers, a contact, meetings with notes and an order, synced.  A thief
 * copies the whole home (store, WAL, SHM, keys: `cp -a`) twice: while the
 * device is unlocked (the key cached in the session keyring and the store
 * open in a running program, with a fresh write in its WAL) and after
 * `fieldsync lock`.  Then, without the passphrase:
 *  - no_key_material: no file of either copy holds the data key, the
 *    signing or key-exchange secret key (raw bytes or hex), nor the
 *    passphrase;
 *  - no_customer_data: no file of either copy holds a customer's name, a
 *    phone number, a contact's name or a meeting's notes, and sqlite3
 *    cannot read the store (this needs the page cipher behind
 *    fsi_store_open_keyed; label "page_cipher");
 *  - cannot_sync_or_enroll: the copy can neither sync nor enroll (the
 *    sentence of a locked store; a wrong passphrase does not open it), head
 *    office sees no request from it, and the token it tried is still good
 *    for the manager's real new laptop.
 * The cases share one laptop and its two copies, made once by the first
 * case that needs them.  The test joins a session keyring of its own.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <keyutils.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "keys.h"
#include "storekey.h"

#define CUSTOMER "Nordwind Büro GmbH"
#define PHONE "+49 40 5550123"
#define CONTACT "Jana Petersen-Quist"
#define NOTES "wants 40 chairs before summer, budget 12k"
#define WAL_NOTES "confidential: competitor quoted 9.5k"

static char *g_dir, *g_home, *g_unlocked_copy, *g_locked_copy;
static e2e_server *g_srv;
static int g_ready;

/* The secrets the copies must not hold. */
static unsigned char g_data_key[FSI_DATA_KEY_SIZE];
static fsi_keys g_keys;

static int cp_a(const char *from, const char *to) {
  char *err = NULL;
  int rc = tu_run(NULL, &err, ARGS("/bin/cp", "-a", from, to));
  if (rc) fprintf(stderr, "cp -a %s %s: %s", from, to, err ? err : "");
  free(err);
  return rc;
}

static void make_laptop(void) {
  if (g_ready) return;
  g_ready = -1;
  g_dir = tu_tmpdir("e2e-thief");
  g_srv = e2e_server_new(g_dir, "hq");
  if (!g_srv || e2e_server_start(g_srv, 0)) return;
  g_home = e2e_device_new(__LINE__, g_srv, g_dir, "laptop", "anna");
  char cust[64], id[64], order[64];
  SYNC(g_home); /* the catalog */
  ADD(g_home, cust, "customer", "add", "--name", CUSTOMER, "--city", "Hamburg", "--phone", PHONE);
  ADD(g_home, id, "contact", "add", "--customer", cust, "--name", CONTACT, "--phone", PHONE);
  ADD(g_home, id, "meeting", "add", "--customer", cust, "--at", "2026-03-10 10:30", "--notes",
      NOTES);
  ADD(g_home, order, "order", "new", "--customer", cust);
  FS_RUN(g_home, "order", "line", order, "--sku", "CHAIR-01", "--qty", "40");
  SYNC(g_home);

  /* the secrets, as the library holds them once unlocked */
  char p[4200];
  fsi_storekey_info info;
  snprintf(p, sizeof p, "%s/keys/store.key", g_home);
  CHECK_OK(fsi_storekey_unwrap(g_data_key, &info, p, TU_PASSPHRASE, strlen(TU_PASSPHRASE)));
  snprintf(p, sizeof p, "%s/keys", g_home);
  CHECK_OK(fsi_keys_load_sealed(&g_keys, p, g_data_key, info.device_id));

  /* unlocked: the key cached, the store open in a program with a write in
   * its WAL */
  FS_RUN(g_home, "unlock");
  fs_device *dev = NULL;
  CHECK_OK(tu_device_open(&dev, g_home, NULL));
  if (dev) {
    fs_field f[] = {{"customer_id", cust},
                    {"at", "2026-03-11T09:00:00Z"},
                    {"kind", "call"},
                    {"notes", WAL_NOTES}};
    CHECK_OK(fs_insert(NULL, fs_device_store(dev), "meetings", f, 4));
    char wal[4200];
    snprintf(wal, sizeof wal, "%s/store.db-wal", g_home);
    CHECK(access(wal, F_OK) == 0);
  }
  g_unlocked_copy = e2e_path(g_dir, "copy-unlocked");
  CHECK(cp_a(g_home, g_unlocked_copy) == 0);
  fs_device_close(dev);

  FS_RUN(g_home, "lock");
  g_locked_copy = e2e_path(g_dir, "copy-locked");
  CHECK(cp_a(g_home, g_locked_copy) == 0);
  g_ready = 1;
}

/* Every regular file under dir, read whole, handed to fn. */
typedef void (*file_fn)(const char *path, const char *bytes, size_t n, void *user);
static int each_file(const char *dir, file_fn fn, void *user) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int files = 0;
  if (!d) return 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[4400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (lstat(p, &sb) != 0) continue;
    if (S_ISDIR(sb.st_mode)) {
      files += each_file(p, fn, user);
    } else if (S_ISREG(sb.st_mode)) {
      size_t n = 0;
      char *b = tu_read_file(p, &n);
      if (b) fn(p, b, n, user);
      free(b);
      files++;
    }
  }
  closedir(d);
  return files;
}

typedef struct needle {
  const char *what;
  const void *bytes;
  size_t n;
} needle;

typedef struct needles {
  needle *list;
  size_t count;
} needles;

static void find_none(const char *path, const char *bytes, size_t n, void *user) {
  const needles *ns = user;
  for (size_t i = 0; i < ns->count; i++) {
    tu_checks++;
    if (memmem(bytes, n, ns->list[i].bytes, ns->list[i].n))
      tu_fail(__FILE__, __LINE__, "%s holds %s", path, ns->list[i].what);
  }
}

static void none_in_copies(needle *list, size_t count) {
  needles ns = {list, count};
  CHECK(each_file(g_unlocked_copy, find_none, &ns) >= 6); /* store, WAL, SHM, keys... */
  CHECK(each_file(g_locked_copy, find_none, &ns) >= 5);
}

static void test_no_key_material(void) {
  char hex[4][129];
  make_laptop();
  if (g_ready != 1) return;
  sodium_bin2hex(hex[0], sizeof hex[0], g_data_key, sizeof g_data_key);
  sodium_bin2hex(hex[1], sizeof hex[1], g_keys.sign_sk, 32); /* the seed */
  sodium_bin2hex(hex[2], sizeof hex[2], g_keys.kx_sk, sizeof g_keys.kx_sk);
  sodium_bin2hex(hex[3], sizeof hex[3], g_keys.sign_sk, sizeof g_keys.sign_sk);
  needle list[] = {
      {"the data key", g_data_key, sizeof g_data_key},
      {"half the data key", g_data_key + 16, 16},
      {"the data key in hex", hex[0], 64},
      {"the signing key's seed", g_keys.sign_sk, 32},
      {"the signing key's seed in hex", hex[1], 64},
      {"the signing secret key", g_keys.sign_sk, sizeof g_keys.sign_sk},
      {"the signing secret key in hex", hex[3], 128},
      {"the key-exchange secret key", g_keys.kx_sk, sizeof g_keys.kx_sk},
      {"half the key-exchange secret key", g_keys.kx_sk + 16, 16},
      {"the key-exchange secret key in hex", hex[2], 64},
      {"the passphrase", TU_PASSPHRASE, strlen(TU_PASSPHRASE)},
  };
  none_in_copies(list, sizeof list / sizeof list[0]);
  /* and the raw key files of fieldsync 0.2 are gone */
  char p[4400];
  snprintf(p, sizeof p, "%s/keys/sign.key", g_locked_copy);
  CHECK(access(p, F_OK) != 0);
  snprintf(p, sizeof p, "%s/keys/kx.key", g_locked_copy);
  CHECK(access(p, F_OK) != 0);
}

static void test_no_customer_data(void) {
  make_laptop();
  if (g_ready != 1) return;
  needle list[] = {
      {"the customer's name", CUSTOMER, strlen(CUSTOMER)},
      {"part of the customer's name", "Nordwind", 8},
      {"a phone number", PHONE, strlen(PHONE)},
      {"a contact's name", CONTACT, strlen(CONTACT)},
      {"a meeting's notes", NOTES, strlen(NOTES)},
      {"the notes written last (WAL)", WAL_NOTES, strlen(WAL_NOTES)},
      {"the manager's name in the settings", "anna", 4},
      {"SQLite's file header", "SQLite format 3", 15},
  };
  none_in_copies(list, sizeof list / sizeof list[0]);
  const char *copies[] = {g_unlocked_copy, g_locked_copy};
  for (int i = 0; i < 2; i++) {
    char p[4400];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    snprintf(p, sizeof p, "%s/store.db", copies[i]);
    int rc = sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
      rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    tu_checks++;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
      tu_fail(__FILE__, __LINE__, "sqlite3 reads the thief's copy %s", p);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
}

/* A `fieldsync` command on a copy: exit status and stderr. */
static int on_copy(const char *copy, const char *pass_file, char **err, const char *const *args) {
  const char *argv[24];
  size_t n = 0;
  argv[n++] = "fieldsync";
  argv[n++] = "--home";
  argv[n++] = copy;
  for (size_t i = 0; args[i] && n < 23; i++) argv[n++] = args[i];
  argv[n] = NULL;
  char *saved = strdup(getenv("FIELDSYNC_PASSPHRASE_FILE"));
  if (pass_file)
    setenv("FIELDSYNC_PASSPHRASE_FILE", pass_file, 1);
  else
    unsetenv("FIELDSYNC_PASSPHRASE_FILE");
  int rc = tu_run(NULL, err, argv);
  setenv("FIELDSYNC_PASSPHRASE_FILE", saved, 1);
  free(saved);
  return rc;
}

static void test_cannot_sync_or_enroll(void) {
  make_laptop();
  if (g_ready != 1) return;
  char *devices_before = e2e_hq_ok(__LINE__, g_srv, ARGS("devices", "--json"));
  char *guess = e2e_path(g_dir, "guess.pass");
  CHECK(tu_write_file(guess, "anna's birthday 1984\n") == 0);
  CHECK(chmod(guess, 0600) == 0);
  char *tok = e2e_hq_ok(__LINE__, g_srv, ARGS("token", "create", "--manager", "anna"));
  if (tok) tok[strcspn(tok, "\r\n")] = '\0';
  char *tokfile = e2e_path(g_dir, "anna.token");
  CHECK(tok && tu_write_file(tokfile, tok) == 0);

  const char *copies[] = {g_unlocked_copy, g_locked_copy};
  for (int i = 0; i < 2; i++) {
    char *err = NULL;
    CHECK_EQ_INT(on_copy(copies[i], NULL, &err, ARGS("sync")), 1);
    CHECK_CONTAINS(err, "is locked: run `fieldsync unlock`");
    free(err);
    err = NULL;
    CHECK_EQ_INT(on_copy(copies[i], guess, &err, ARGS("sync")), 1);
    CHECK_CONTAINS(err, "does not unlock");
    free(err);
    err = NULL;
    CHECK_EQ_INT(on_copy(copies[i], NULL, &err,
                         ARGS("enroll", "--server", g_srv->url, "--token-file", tokfile, "--ca",
                              g_srv->cert)),
                 1);
    CHECK_CONTAINS(err, "is locked");
    free(err);
    err = NULL;
    CHECK(on_copy(copies[i], guess, &err, ARGS("unlock")) != 0);
    CHECK_CONTAINS(err, "passphrase is wrong");
    free(err);
  }
  /* head office saw nothing of the copies (no request reached it: the
   * devices' last-seen times are as they were) */
  char *devices_after = e2e_hq_ok(__LINE__, g_srv, ARGS("devices", "--json"));
  CHECK(devices_before && devices_after && strcmp(devices_before, devices_after) == 0);
  /* and the token the thief tried is still good for the real new laptop */
  char *fresh = e2e_path(g_dir, "new-laptop");
  FS_RUN(fresh, "init", "--manager", "anna");
  FS_RUN(fresh, "enroll", "--server", g_srv->url, "--token-file", tokfile, "--ca", g_srv->cert);
  SYNC(fresh);
  free(fresh);
  free(devices_before);
  free(devices_after);
  free(tokfile);
  free(tok);
  free(guess);
}

int main(void) {
  if (keyctl_join_session_keyring(NULL) < 0) {
    printf("SKIP test_e2e_thief: no kernel keyring here (keyctl_join_session_keyring failed)\n");
    return 0;
  }
  TEST_RUN(test_no_key_material);
  TEST_RUN(test_no_customer_data);
  TEST_RUN(test_cannot_sync_or_enroll);
  fsi_keys_wipe(&g_keys);
  sodium_memzero(g_data_key, sizeof g_data_key);
  e2e_stop_all();
  e2e_server_free(g_srv);
  if (g_dir) tu_rmrf(g_dir);
  free(g_dir);
  free(g_home);
  free(g_unlocked_copy);
  free(g_locked_copy);
  return tu_finish();
}
