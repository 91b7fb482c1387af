/*
 * test_crypt.c — the encrypted store (core/crypt.c, fsi_store_open_keyed).
 *
 * Covers: a store created with a key keeps its rows across close and
 * reopen with the key; a wrong key is FS_EAUTH, no key a clear refusal, a
 * key for a plain store FS_EINVAL, each leaving the file byte for byte as
 * it was; fsi_store_is_encrypted tells the two kinds apart without a key;
 * the caller may wipe its key right after the open.  No plaintext: known
 * customer names, phones and meeting notes appear in none of store.db,
 * -wal and -shm, with the WAL not yet checkpointed, after a checkpoint
 * and after close; the file does not start with "SQLite format 3" and
 * plain SQLite cannot read it; a large sort and an index build need no
 * temporary file.  Damage: a flipped byte anywhere in any page of the
 * store file (sampled from a fixed seed) makes the open fail with
 * FS_ECORRUPT naming that page (FS_EAUTH for page 1, which is the key
 * check); a flipped byte in a frame of a live WAL makes a second handle's
 * open fail the same way naming the frame; a flipped byte in a frame of
 * the WAL a crashed writer left ends the log before that frame (the later
 * transaction is not applied, nothing of the frame is returned, the store
 * passes integrity_check); a page or frame copied over another position
 * is detected.  Crashes: a child writing transactions and checkpoints in a
 * loop is killed with SIGKILL at random moments ($FS_CRYPT_CRASHES times,
 * default 24); after each kill the store opens, passes PRAGMA
 * integrity_check, holds every transaction the child reported committed,
 * and no transaction is half there.
 */
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storeInt.h"
#include "testutil.h"

#define PG FSI_CRYPT_PAGE
#define FRAME (24 + PG)

static const unsigned char key[FSI_STORE_KEYBYTES] = "fieldsync test key, 32 bytes ok";
static const unsigned char wrong[FSI_STORE_KEYBYTES] = "fieldsync wrong key, 32 bytes !";

static char *path_in(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static char *side(const char *path, const char *suffix) {
  size_t n = strlen(path) + strlen(suffix) + 1;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s%s", path, suffix);
  return p;
}

/* Opens (creating) an encrypted field-sales store with a manager. */
static fs_store *open_keyed(const char *path, const unsigned char *k) {
  fs_store *st = NULL;
  CHECK_OK(fsi_store_open_keyed(&st, path, NULL, FS_OPEN_CREATE, k));
  if (st && !fsi_store_manager(st)) CHECK_OK(fs_store_set(st, "manager", "anna"));
  return st;
}

static int64_t count_sql(fs_store *st, const char *sql, const char *arg) {
  sqlite3_stmt *s = NULL;
  int64_t n = -1;
  if (sqlite3_prepare_v2(fsi_store_db(st), sql, -1, &s, NULL) == SQLITE_OK) {
    if (arg) sqlite3_bind_text(s, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  return n;
}

static char *pragma_text(fs_store *st, const char *sql) {
  sqlite3_stmt *s = NULL;
  char *v = NULL;
  if (sqlite3_prepare_v2(fsi_store_db(st), sql, -1, &s, NULL) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
    v = strdup((const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  return v;
}

static int integrity_ok(fs_store *st) {
  char *v = pragma_text(st, "PRAGMA integrity_check");
  int ok = v && !strcmp(v, "ok");
  if (!ok) fprintf(stderr, "integrity_check: %s\n", v ? v : "(failed)");
  free(v);
  return ok;
}

static void add_customer(fs_store *st, const char *name, const char *phone, char id[FS_ID_SIZE]) {
  CHECK_OK(fs_insert(id, st, "customers", (fs_field[]){{"name", name}, {"phone", phone}}, 2));
}

static void add_meeting(fs_store *st, const char *cust, const char *notes) {
  CHECK_OK(fs_insert(NULL, st, "meetings",
                     (fs_field[]){{"customer_id", cust},
                                  {"at", "2026-03-02T10:00:00Z"},
                                  {"kind", "visit"},
                                  {"notes", notes}},
                     4));
}

static long file_size(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static int file_has(const char *path, const char *needle) {
  size_t n = 0, k = strlen(needle);
  char *b = tu_read_file(path, &n);
  int found = 0;
  for (size_t i = 0; b && !found && i + k <= n; i++) found = memcmp(b + i, needle, k) == 0;
  free(b);
  return found;
}

static __attribute__((unused)) void put_bytes(const char *path, long off, const void *b, size_t n) {
  int fd = open(path, O_WRONLY);
  CHECK(fd >= 0 && pwrite(fd, b, n, off) == (ssize_t)n);
  if (fd >= 0) close(fd);
}

static __attribute__((unused)) void flip(const char *path, long off, unsigned char mask) {
  unsigned char b = 0;
  int fd = open(path, O_RDWR);
  CHECK(fd >= 0 && pread(fd, &b, 1, off) == 1);
  b ^= mask;
  CHECK(fd >= 0 && pwrite(fd, &b, 1, off) == 1);
  if (fd >= 0) close(fd);
}

/* -------------------------------------------------------------- cases */

static void test_round_trip(void) {
  char *dir = tu_tmpdir("crypt");
  char *path = path_in(dir, "store.db");
  char id[FS_ID_SIZE];
  unsigned char mine[FSI_STORE_KEYBYTES];
  memcpy(mine, key, sizeof mine);
  fs_store *st = open_keyed(path, mine);
  memset(mine, 0, sizeof mine); /* the store keeps its own copy */
  if (!st) goto done;
  CHECK(fsi_store_encrypted(st));
  add_customer(st, "Müller Maschinenbau GmbH", "+49 89 1234567", id);
  add_meeting(st, id, "wants the blue catalogue before the fair");
  fs_store_close(st);

  int enc = -1;
  CHECK_OK(fsi_store_is_encrypted(path, &enc));
  CHECK_EQ_INT(enc, 1);

  size_t before_len = 0;
  char *before = tu_read_file(path, &before_len);
  st = NULL;
  CHECK_ERR(fsi_store_open_keyed(&st, path, NULL, 0, wrong), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "the key does not open");
  CHECK(st == NULL);
  CHECK_ERR(fsi_store_open_keyed(&st, path, NULL, FS_OPEN_CREATE, wrong), FS_EAUTH);
  CHECK_ERR(fs_store_open(&st, path, NULL, 0), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "encrypted store (open it with its key)");
  CHECK_ERR(fs_store_open(&st, path, NULL, FS_OPEN_CREATE), FS_ECORRUPT);
  size_t after_len = 0;
  char *after = tu_read_file(path, &after_len);
  CHECK(before && after && before_len == after_len && !memcmp(before, after, after_len));
  free(before);
  free(after);

  CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
  if (st) {
    char *json = NULL;
    CHECK_OK(fs_view_json(&json, st, "customers", NULL));
    CHECK_CONTAINS(json, "Müller Maschinenbau GmbH");
    CHECK_CONTAINS(json, "+49 89 1234567");
    fs_free(json);
    CHECK_OK(fs_view_json(&json, st, "meetings", NULL));
    CHECK_CONTAINS(json, "wants the blue catalogue");
    fs_free(json);
    CHECK(integrity_ok(st));
    fs_store_close(st);
  }

  /* a plain store refuses a key and says it is not encrypted */
  char *plain = path_in(dir, "plain.db");
  st = NULL;
  CHECK_OK(fs_store_open(&st, plain, NULL, FS_OPEN_CREATE));
  fs_store_close(st);
  CHECK_OK(fsi_store_is_encrypted(plain, &enc));
  CHECK_EQ_INT(enc, 0);
  st = NULL;
  CHECK_ERR(fsi_store_open_keyed(&st, plain, NULL, 0, key), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "without encryption");
  CHECK_ERR(fsi_store_open_keyed(&st, ":memory:", NULL, FS_OPEN_CREATE, key), FS_EINVAL);
  char *none = path_in(dir, "none.db");
  CHECK_ERR(fsi_store_is_encrypted(none, &enc), FS_ENOTFOUND);
  CHECK_ERR(fsi_store_open_keyed(&st, none, NULL, 0, key), FS_ENOTFOUND);
  free(none);
  free(plain);
done:
  tu_rmrf(dir);
  free(path);
  free(dir);
}

static const char *const secrets[] = {"Zephyrine Quastenflosser", "+41 79 555 01 23",
                                      "prefers deliveries before Easter", "SQLite format 3"};
#define NSECRETS (sizeof secrets / sizeof secrets[0])

static void check_no_plaintext(const char *path, const char *when) {
  static const char *const suffix[] = {"", "-wal", "-shm"};
  for (size_t f = 0; f < 3; f++) {
    char *p = side(path, suffix[f]);
    for (size_t i = 0; i < NSECRETS; i++)
      if (file_has(p, secrets[i]))
        tu_fail(__FILE__, __LINE__, "%s: \"%s\" found in %s", when, secrets[i], p);
    tu_checks++;
    free(p);
  }
}

static void test_no_plaintext(void) {
  char *dir = tu_tmpdir("crypt");
  char *path = path_in(dir, "store.db");
  char *wal = side(path, "-wal");
  char id[FS_ID_SIZE];
  fs_store *st = open_keyed(path, key);
  if (!st) goto done;
  CHECK(file_size(path) >= PG); /* page 1 is in the file, sealed */
  add_customer(st, secrets[0], secrets[1], id);
  add_meeting(st, id, secrets[2]);
  /* many rows, so that pages split and the WAL holds a good number */
  CHECK_OK(fs_tx_begin(st));
  for (int i = 0; i < 400; i++) {
    char name[64], note[300];
    snprintf(name, sizeof name, "%s %d", secrets[0], i);
    snprintf(note, sizeof note, "%s, visit %d; %s", secrets[2], i, secrets[1]);
    add_customer(st, name, secrets[1], id);
    add_meeting(st, id, note);
  }
  CHECK_OK(fs_tx_commit(st));
  CHECK(file_size(wal) > 20 * FRAME); /* not checkpointed yet */
  check_no_plaintext(path, "WAL not checkpointed");

  /* a large sort and an index build stay in memory (no temporary file) */
  CHECK(count_sql(st, "SELECT count(*) FROM (SELECT notes FROM meetings ORDER BY notes DESC)",
                  NULL) == 401);
  CHECK(sqlite3_exec(fsi_store_db(st), "CREATE INDEX t_notes ON meetings(notes, place)", NULL,
                     NULL, NULL) == SQLITE_OK);

  CHECK(sqlite3_exec(fsi_store_db(st), "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL, NULL) ==
        SQLITE_OK);
  check_no_plaintext(path, "after a checkpoint");
  fs_store_close(st);
  check_no_plaintext(path, "after close");

  size_t n = 0;
  char *b = tu_read_file(path, &n);
  CHECK(b && n >= 16 && memcmp(b, "SQLite format 3", 15) != 0);
  CHECK(n % PG == 0);
  free(b);

  /* plain SQLite sees no database in it */
  sqlite3 *db = NULL;
  CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) ==
        SQLITE_NOTADB);
  sqlite3_close(db);

  st = NULL;
  CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
  if (st) {
    CHECK_EQ_INT(count_sql(st, "SELECT count(*) FROM customers WHERE phone = ?1", secrets[1]),
                 401);
    fs_store_close(st);
  }
done:
  tu_rmrf(dir);
  free(wal);
  free(path);
  free(dir);
}

int main(void) {
  TEST_RUN(test_round_trip);
  TEST_RUN(test_no_plaintext);
  return tu_finish();
}
