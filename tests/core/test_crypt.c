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
 * store file (sampled from a fixed seed) makes the open, or the first
 * read of that page (an export of every table, a full check), fail with
 * FS_ECORRUPT naming the page, the failed read returning nothing (FS_EAUTH
 * for page 1, which is the key check); a flipped byte in a frame of a
 * live WAL makes a second handle's reads fail the same way naming the
 * frame; a flipped byte in a frame of
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

static void put_bytes(const char *path, long off, const void *b, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT, 0600);
  CHECK(fd >= 0 && pwrite(fd, b, n, off) == (ssize_t)n);
  if (fd >= 0) close(fd);
}

static void flip(const char *path, long off, unsigned char mask) {
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
  CHECK(sqlite3_exec(fsi_store_db(st), "CREATE INDEX t_notes ON meetings(notes, place)", NULL, NULL,
                     NULL) == SQLITE_OK);

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
  CHECK(sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) == SQLITE_NOTADB);
  sqlite3_close(db);

  st = NULL;
  CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
  if (st) {
    CHECK_EQ_INT(count_sql(st, "SELECT count(*) FROM customers WHERE phone = ?1", secrets[1]), 401);
    fs_store_close(st);
  }
done:
  tu_rmrf(dir);
  free(wal);
  free(path);
  free(dir);
}

/* n customers named "<prefix> <i>", each with a meeting, in one transaction. */
static void fill(fs_store *st, const char *prefix, int n) {
  char id[FS_ID_SIZE];
  CHECK_OK(fs_tx_begin(st));
  for (int i = 0; i < n; i++) {
    char name[96], note[400];
    snprintf(name, sizeof name, "%s %d", prefix, i);
    snprintf(note, sizeof note, "%s: %d. %s %s", prefix, i, secrets[2], secrets[2]);
    add_customer(st, name, secrets[1], id);
    add_meeting(st, id, note);
  }
  CHECK_OK(fs_tx_commit(st));
}

static int64_t count_prefix(fs_store *st, const char *prefix) {
  char glob[100];
  snprintf(glob, sizeof glob, "%s *", prefix);
  return count_sql(st, "SELECT count(*) FROM customers WHERE name GLOB ?1", glob);
}

static void sql_ok(fs_store *st, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(fsi_store_db(st), sql, NULL, NULL, &msg) != SQLITE_OK)
    tu_fail(__FILE__, __LINE__, "%s: %s", sql, msg ? msg : "");
  tu_checks++;
  sqlite3_free(msg);
}

static uint32_t rnd(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

/* Opens the store at path and reads all of it: the open's error, else the
 * first error of an export of every synced table (which then returns
 * nothing) and of a full check (fsi_store_check): FS_OK when all reads. */
static int open_and_read(const char *path) {
  fs_store *st = NULL;
  char *json = NULL;
  int rc = fsi_store_open_keyed(&st, path, NULL, 0, key);
  if (rc) {
    CHECK(st == NULL);
    return rc;
  }
  rc = fs_view_json(&json, st, "export", NULL);
  if (rc) CHECK(json == NULL); /* nothing of the damaged page comes out */
  fs_free(json);
  if (!rc) rc = fsi_store_check(st);
  fs_store_close(st);
  return rc;
}

/* A flipped byte anywhere in the store file: the open or the first read of
 * the page fails, naming the page, and nothing of it is returned. */
static void test_flip_store_page(void) {
  char *dir = tu_tmpdir("crypt");
  char *path = path_in(dir, "store.db");
  fs_store *st = open_keyed(path, key);
  if (!st) goto done;
  fill(st, "flip", 300);
  fs_store_close(st);
  st = NULL;
  CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
  if (!st) goto done;
  CHECK_EQ_INT(count_sql(st, "PRAGMA freelist_count", NULL), 0); /* every page is read */
  long pages = file_size(path) / PG;
  CHECK_EQ_INT(count_sql(st, "PRAGMA page_count", NULL), pages);
  fs_store_close(st);
  CHECK(pages > 20);

  uint32_t x = 20260302u;
  int trials = 0;
  for (long pg = 1; pg <= pages; pg++) {
    /* two places in the page's ciphertext, one in its nonce or tag */
    long offs[3] = {(long)(rnd(&x) % (PG - 40)), (long)(rnd(&x) % (PG - 40)),
                    PG - 40 + (long)(rnd(&x) % 40)};
    for (int k = 0; k < 3; k++) {
      long off = (pg - 1) * PG + offs[k];
      unsigned char mask = (unsigned char)(1u << (rnd(&x) % 8));
      flip(path, off, mask);
      int rc = open_and_read(path);
      trials++;
      if (pg == 1) {
        CHECK_ERR(rc, FS_EAUTH); /* page 1 is the key check */
        CHECK_CONTAINS(fs_errmsg(), "first page failed authentication");
      } else {
        char want[64];
        snprintf(want, sizeof want, "is damaged: page %ld failed authentication", pg);
        CHECK_ERR(rc, FS_ECORRUPT);
        CHECK_CONTAINS(fs_errmsg(), want);
      }
      flip(path, off, mask);
    }
  }
  CHECK(trials >= 60);
  st = NULL;
  CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
  if (st) {
    CHECK(integrity_ok(st));
    CHECK_EQ_INT(count_prefix(st, "flip"), 300);
    fs_store_close(st);
  }
done:
  tu_rmrf(dir);
  free(path);
  free(dir);
}

/* A page copied over another one, in the file or in a live WAL. */
static void test_page_swap(void) {
  char *dir = tu_tmpdir("crypt");
  char *path = path_in(dir, "store.db");
  char *wal = side(path, "-wal");
  fs_store *st = open_keyed(path, key), *other = NULL;
  char *orig = NULL;
  size_t n = 0;
  if (!st) goto done;
  fill(st, "swap", 300);
  fs_store_close(st);
  orig = tu_read_file(path, &n);
  CHECK(orig && n >= 8 * PG);
  if (!orig || n < 8 * PG) goto done;
  put_bytes(path, 4 * PG, orig + 2 * PG, PG); /* page 3 over page 5 */
  CHECK_ERR(open_and_read(path), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "page 5 failed authentication");
  put_bytes(path, 4 * PG, orig + 4 * PG, PG);
  put_bytes(path, 0, orig + PG, PG); /* page 2 over page 1 */
  CHECK_ERR(fsi_store_open_keyed(&other, path, NULL, 0, key), FS_EAUTH);
  put_bytes(path, 0, orig, PG);

  /* frames: a live WAL, read by a second handle through the wal-index */
  st = NULL;
  CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
  if (!st) goto done;
  sql_ok(st, "PRAGMA wal_checkpoint(TRUNCATE)");
  fill(st, "swap-wal", 100);
  size_t wn = 0;
  char *w = tu_read_file(wal, &wn);
  CHECK(w && wn > 32 + 6 * FRAME);
  if (w && wn > 32 + 6 * FRAME) {
    put_bytes(wal, 32 + 3 * FRAME, w + 32 + 1 * FRAME, FRAME); /* frame 2 over frame 4 */
    CHECK_ERR(open_and_read(path), FS_ECORRUPT);
    CHECK_CONTAINS(fs_errmsg(), "frame 4 of its write-ahead log failed authentication");
    put_bytes(wal, 32 + 3 * FRAME, w + 32 + 3 * FRAME, FRAME);
    other = NULL;
    CHECK_OK(fsi_store_open_keyed(&other, path, NULL, 0, key));
    if (other) CHECK_EQ_INT(count_prefix(other, "swap-wal"), 100);
    fs_store_close(other);
  }
  free(w);
  fs_store_close(st);
done:
  free(orig);
  tu_rmrf(dir);
  free(wal);
  free(path);
  free(dir);
}

/* A flipped byte in a frame of a WAL in use: a second handle, reading the
 * frame through the wal-index, refuses it and names the frame. */
static void test_flip_live_wal(void) {
  char *dir = tu_tmpdir("crypt");
  char *path = path_in(dir, "store.db");
  char *wal = side(path, "-wal");
  fs_store *st = open_keyed(path, key);
  if (!st) goto done;
  fill(st, "base", 200);
  sql_ok(st, "PRAGMA wal_checkpoint(TRUNCATE)");
  CHECK_EQ_INT(file_size(wal), 0);
  fill(st, "live", 150); /* one transaction: each page is in one frame */
  long frames = (file_size(wal) - 32) / FRAME;
  CHECK(frames >= 10);
  CHECK_EQ_INT((file_size(wal) - 32) % FRAME, 0);
  uint32_t x = 7u;
  for (long f = 1; f <= frames; f++) {
    long offs[2] = {(long)(rnd(&x) % FRAME), FRAME - 40 + (long)(rnd(&x) % 40)};
    for (int k = 0; k < 2; k++) {
      long off = 32 + (f - 1) * FRAME + offs[k];
      unsigned char mask = (unsigned char)(1u << (rnd(&x) % 8));
      flip(wal, off, mask);
      char want[80];
      snprintf(want, sizeof want, "frame %ld of its write-ahead log failed authentication", f);
      CHECK_ERR(open_and_read(path), FS_ECORRUPT);
      CHECK_CONTAINS(fs_errmsg(), want);
      flip(wal, off, mask);
    }
  }
  fs_store *other = NULL;
  CHECK_OK(fsi_store_open_keyed(&other, path, NULL, 0, key));
  if (other) {
    CHECK_EQ_INT(count_prefix(other, "live"), 150);
    CHECK(integrity_ok(other));
  }
  fs_store_close(other);
  fs_store_close(st);
done:
  tu_rmrf(dir);
  free(wal);
  free(path);
  free(dir);
}

/* A flipped byte in the WAL a crashed writer left: recovery ends the log
 * before the frame, so that transaction and any after it are not applied;
 * the store opens whole and nothing of the frame is returned. */
static void test_flip_crashed_wal(void) {
  char *dir = tu_tmpdir("crypt");
  char *path = path_in(dir, "store.db");
  char *wal = side(path, "-wal");
  char *shm = side(path, "-shm");
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    fs_store *st = NULL;
    if (fsi_store_open_keyed(&st, path, NULL, FS_OPEN_CREATE, key) ||
        fs_store_set(st, "manager", "anna"))
      _exit(1);
    fill(st, "base", 100);
    if (sqlite3_exec(fsi_store_db(st), "PRAGMA wal_checkpoint(TRUNCATE)", 0, 0, 0)) _exit(1);
    fill(st, "first", 40);
    long end1 = file_size(wal);
    fill(st, "second", 40);
    if (write(fds[1], &end1, sizeof end1) != sizeof end1) _exit(1);
    _exit(0); /* no close: the WAL stays as a crash leaves it */
  }
  close(fds[1]);
  long end1 = 0;
  int status = 0;
  CHECK(read(fds[0], &end1, sizeof end1) == sizeof end1);
  close(fds[0]);
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  size_t dbn = 0, wn = 0;
  char *db0 = tu_read_file(path, &dbn), *w0 = tu_read_file(wal, &wn);
  long frames = ((long)wn - 32) / FRAME, first1 = 1, first2 = (end1 - 32) / FRAME + 1;
  CHECK(db0 && w0 && end1 > 32 && frames > first2 + 3);
  if (!db0 || !w0 || frames <= first2 + 3) goto done;

  uint32_t x = 99u;
  for (int t = 0; t < 24; t++) {
    long f = t == 0 ? first2 : t == 1 ? first1 : 1 + (long)(rnd(&x) % (uint32_t)frames);
    long off = 32 + (f - 1) * FRAME + (long)(rnd(&x) % FRAME);
    unlink(shm);
    put_bytes(path, 0, db0, dbn);
    put_bytes(wal, 0, w0, wn);
    CHECK(truncate(path, (off_t)dbn) == 0 && truncate(wal, (off_t)wn) == 0);
    flip(wal, off, (unsigned char)(1u << (rnd(&x) % 8)));
    fs_store *st = NULL;
    CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
    if (!st) continue;
    CHECK_EQ_INT(fsi_crypt_wal_cut(st->crypt), f); /* the fault happened, there */
    CHECK_EQ_INT(count_prefix(st, "base"), 100);
    CHECK_EQ_INT(count_prefix(st, "first"), f >= first2 ? 40 : 0);
    CHECK_EQ_INT(count_prefix(st, "second"), 0);
    CHECK(integrity_ok(st));
    fs_store_close(st);
  }
  /* untouched, the crashed WAL recovers whole */
  unlink(shm);
  put_bytes(path, 0, db0, dbn);
  put_bytes(wal, 0, w0, wn);
  fs_store *st = NULL;
  CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
  if (st) {
    CHECK_EQ_INT(fsi_crypt_wal_cut(st->crypt), 0);
    CHECK_EQ_INT(count_prefix(st, "second"), 40);
    fs_store_close(st);
  }
done:
  free(db0);
  free(w0);
  tu_rmrf(dir);
  free(shm);
  free(wal);
  free(path);
  free(dir);
}

/* The writer of the crash test: transactions of K customers (and their
 * meetings) named "crash <it>-<j>", checkpoints of every kind between them,
 * each committed iteration reported through fd.  Never returns. */
#define CRASH_K 5
static void crash_child(const char *path, int fd, int64_t first) {
  fs_store *st = NULL;
  if (fsi_store_open_keyed(&st, path, NULL, 0, key)) _exit(2);
  sqlite3_exec(fsi_store_db(st), "PRAGMA wal_autocheckpoint=16", NULL, NULL, NULL);
  int64_t ready = -1;
  if (write(fd, &ready, sizeof ready) != sizeof ready) _exit(3);
  char note[1200];
  memset(note, 'n', sizeof note - 1);
  note[sizeof note - 1] = '\0';
  for (int64_t it = first;; it++) {
    char id[FS_ID_SIZE];
    if (fs_tx_begin(st)) _exit(4);
    for (int j = 0; j < CRASH_K; j++) {
      char name[64];
      snprintf(name, sizeof name, "crash %lld-%d", (long long)it, j);
      if (fs_insert(id, st, "customers", (fs_field[]){{"name", name}}, 1)) _exit(5);
      if (fs_insert(NULL, st, "meetings",
                    (fs_field[]){{"customer_id", id},
                                 {"at", "2026-03-02T10:00:00Z"},
                                 {"kind", "visit"},
                                 {"notes", note}},
                    4))
        _exit(6);
    }
    if (fs_tx_commit(st)) _exit(7);
    if (write(fd, &it, sizeof it) != sizeof it) _exit(8);
    if (it % 7 == 3) sqlite3_exec(fsi_store_db(st), "PRAGMA wal_checkpoint(PASSIVE)", 0, 0, 0);
    if (it % 11 == 5) sqlite3_exec(fsi_store_db(st), "PRAGMA wal_checkpoint(TRUNCATE)", 0, 0, 0);
    if (it % 13 == 8) sqlite3_exec(fsi_store_db(st), "PRAGMA wal_checkpoint(RESTART)", 0, 0, 0);
  }
}

static void test_crash(void) {
  char *dir = tu_tmpdir("crypt");
  char *path = path_in(dir, "store.db");
  const char *env = getenv("FS_CRYPT_CRASHES");
  int rounds = env && atoi(env) > 0 ? atoi(env) : 24;
  fs_store *st = open_keyed(path, key);
  fs_store_close(st);
  uint32_t x = 4242u;
  int64_t committed = 0, recovered_more = 0;
  for (int round = 0; round < rounds; round++) {
    int fds[2];
    if (pipe(fds) != 0) break;
    int64_t first = (int64_t)round * 1000000;
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      crash_child(path, fds[1], first);
    }
    close(fds[1]);
    /* every fourth round dies while opening (recovering); the others at a
     * random moment of the writing */
    int64_t v = 0;
    if (round % 4 != 3 && read(fds[0], &v, sizeof v) != sizeof v)
      tu_fail(__FILE__, __LINE__, "round %d: the writer did not start", round);
    struct timespec ts = {0, (long)(rnd(&x) % 60000) * 1000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL); /* killed, not failed */
    int64_t last = first - 1, n = 0;
    while (read(fds[0], &v, sizeof v) == sizeof v)
      if (v >= 0) last = v, n++;
    close(fds[0]);
    committed += n;

    st = NULL;
    CHECK_OK(fsi_store_open_keyed(&st, path, NULL, 0, key));
    if (!st) break;
    CHECK(integrity_ok(st));
    for (int64_t it = first; it <= last + 1; it++) {
      char prefix[48];
      snprintf(prefix, sizeof prefix, "crash %lld-", (long long)it);
      char glob[64];
      snprintf(glob, sizeof glob, "%s*", prefix);
      int64_t have = count_sql(st, "SELECT count(*) FROM customers WHERE name GLOB ?1", glob);
      if (it <= last && have != CRASH_K)
        tu_fail(__FILE__, __LINE__, "round %d: iteration %lld reported committed, %lld rows", round,
                (long long)it, (long long)have);
      if (it == last + 1 && have != 0 && have != CRASH_K)
        tu_fail(__FILE__, __LINE__, "round %d: iteration %lld is half there (%lld rows)", round,
                (long long)it, (long long)have);
      if (it == last + 1 && have == CRASH_K) recovered_more++;
      tu_checks++;
    }
    fs_store_close(st);
  }
  fprintf(stderr,
          "crash: %d kills, %lld transactions reported committed, %lld committed but "
          "not yet reported\n",
          rounds, (long long)committed, (long long)recovered_more);
  CHECK(committed > rounds); /* the kills did land in the middle of the writing */
  tu_rmrf(dir);
  free(path);
  free(dir);
}

int main(void) {
  TEST_RUN(test_round_trip);
  TEST_RUN(test_no_plaintext);
  TEST_RUN(test_flip_store_page);
  TEST_RUN(test_page_swap);
  TEST_RUN(test_flip_live_wal);
  TEST_RUN(test_flip_crashed_wal);
  TEST_RUN(test_crash);
  return tu_finish();
}
