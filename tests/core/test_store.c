/*
 * test_store.c — opening, creating and upgrading a store (core/store.c),
 * settings, transactions, and a device home (fs_device_create/open).
 *
 * Covers: create/close/reopen in a temp dir keeps rows, the site id and the
 * db_version; FS_ENOTFOUND without FS_OPEN_CREATE; files that are not
 * fieldsync stores (random bytes, an unrelated SQLite database), stores
 * from a newer format or declaration, and a store with a damaged page are
 * all refused (FS_ECORRUPT / FS_EVERSION) and left byte-for-byte untouched;
 * a declaration upgrade (v1 -> v2 appending a column and a table) migrates
 * in place keeping old rows; explicit transactions (one db_version per
 * commit, rollback discards and keeps db_version); settings; read-only
 * opening; device init (store + 0600 keys), init twice refused with
 * nothing changed, and opening an empty home pointing to `fieldsync init`;
 * the store, its -wal/-shm and the keys are 0600 under umask 022 in a 0755
 * directory, and an older 0644 store is tightened when opened.
 */
#include <fieldsync/device.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storeInt.h"
#include "testutil.h"

static const fs_column item_cols_v1[] = {{"a", FS_COL_TEXT, 0, 0}, {"b", FS_COL_INT, 0, 0}};
static const fs_table tables_v1[] = {{"items", FS_OWNER_SHARED, item_cols_v1, 2}};
static const fs_schema schema_v1 = {"storetest", 1, tables_v1, 1};

/* v2 appends column c to items and a table tags. */
static const fs_column item_cols_v2[] = {
    {"a", FS_COL_TEXT, 0, 0}, {"b", FS_COL_INT, 0, 0}, {"c", FS_COL_TEXT, 0, 0}};
static const fs_column tag_cols[] = {{"name", FS_COL_TEXT, FS_COL_NOTNULL, 0}};
static const fs_table tables_v2[] = {{"items", FS_OWNER_SHARED, item_cols_v2, 3},
                                     {"tags", FS_OWNER_SHARED, tag_cols, 1}};
static const fs_schema schema_v2 = {"storetest", 2, tables_v2, 2};

static char *path_in(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* 1 when the file at path holds exactly len bytes equal to want. */
static int same_bytes(const char *path, const char *want, size_t len) {
  size_t n = 0;
  char *got = tu_read_file(path, &n);
  int same = got && n == len && memcmp(got, want, len) == 0;
  free(got);
  return same;
}

static void exec_sql(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) tu_fail(__FILE__, __LINE__, "sql %s: %s", sql, msg ? msg : "");
  sqlite3_free(msg);
  sqlite3_close(db);
}

static void load(fs_store *st, const char *table, const char *pk, struct fsi_arena *a, fsi_row *r) {
  CHECK_OK(fsi_row_load(st, fsi_store_table(st, table), pk, a, r));
}

static void test_create_reopen(void) {
  char *dir = tu_tmpdir("store");
  char *path = path_in(dir, "s.db");
  fs_store *st = NULL;
  char id[FS_ID_SIZE];

  CHECK_ERR(fs_store_open(&st, path, &schema_v1, 0), FS_ENOTFOUND);
  CHECK(st == NULL);
  CHECK(!file_exists(path)); /* a refused open creates nothing */

  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE));
  CHECK(file_exists(path));
  int64_t site = fs_store_site(st);
  CHECK(site > 0);
  char devid[17];
  snprintf(devid, sizeof devid, "%s", fs_store_device_id(st));
  CHECK_EQ_INT(strlen(devid), 16);
  CHECK_EQ_INT(fs_store_db_version(st), 0);
  fs_field f[] = {{"a", "kept"}, {"b", "42"}};
  CHECK_OK(fs_insert(id, st, "items", f, 2));
  CHECK_OK(fs_store_set(st, "server_url", "https://hq.example:8443"));
  int64_t dbv = fs_store_db_version(st);
  CHECK(dbv >= 1);
  fs_store_close(st);

  CHECK_OK(fs_store_open(&st, path, &schema_v1, 0));
  CHECK_EQ_INT(fs_store_site(st), site);
  CHECK_STR(fs_store_device_id(st), devid);
  CHECK_EQ_INT(fs_store_db_version(st), dbv);
  struct fsi_arena *a = fsi_arena_new(1024);
  fsi_row r;
  load(st, "items", id, a, &r);
  CHECK_EQ_INT(r.state, ROW_LIVE);
  if (r.state == ROW_LIVE) {
    CHECK_STR(r.vals[0].s, "kept");
    CHECK_EQ_INT(r.vals[1].i, 42);
  }
  fsi_arena_free(a);
  char *v = NULL;
  CHECK_OK(fs_store_get(&v, st, "server_url"));
  CHECK_STR(v, "https://hq.example:8443");
  free(v);
  /* the next write continues the db_version sequence */
  CHECK_OK(fs_insert(NULL, st, "items", f, 2));
  CHECK_EQ_INT(fs_store_db_version(st), dbv + 1);
  fs_store_close(st);

  /* another store gets another site id */
  fs_store *other = NULL;
  CHECK_OK(fs_store_open(&other, ":memory:", &schema_v1, FS_OPEN_CREATE));
  CHECK(fs_store_site(other) != site);
  fs_store_close(other);
  tu_rmrf(dir);
  free(path);
  free(dir);
}

static void test_random_bytes_refused(void) {
  char *dir = tu_tmpdir("store");
  char *path = path_in(dir, "junk.db");
  size_t len = 16384;
  char *junk = malloc(len);
  uint32_t x = 12345;
  for (size_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    junk[i] = (char)(x >> 16);
  }
  FILE *fp = fopen(path, "wb");
  CHECK(fp && fwrite(junk, 1, len, fp) == len);
  if (fp) fclose(fp);
  fs_store *st = NULL;
  CHECK_ERR(fs_store_open(&st, path, &schema_v1, 0), FS_ECORRUPT);
  CHECK(st == NULL);
  CHECK_CONTAINS(fs_errmsg(), "not a fieldsync store");
  CHECK_ERR(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE), FS_ECORRUPT);
  CHECK(same_bytes(path, junk, len));
  free(junk);
  tu_rmrf(dir);
  free(path);
  free(dir);
}

static void test_foreign_sqlite_refused(void) {
  char *dir = tu_tmpdir("store");
  char *path = path_in(dir, "other.db");
  exec_sql(path, "CREATE TABLE invoices(id INTEGER PRIMARY KEY, total INTEGER);"
                 "INSERT INTO invoices(total) VALUES(100),(250);");
  size_t len = 0;
  char *before = tu_read_file(path, &len);
  fs_store *st = NULL;
  CHECK_ERR(fs_store_open(&st, path, &schema_v1, 0), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "not a fieldsync store");
  CHECK_ERR(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE), FS_ECORRUPT);
  CHECK(st == NULL);
  CHECK(before && same_bytes(path, before, len));
  free(before);
  tu_rmrf(dir);
  free(path);
  free(dir);
}

/* A store with fs_meta `key` set to `value` (as a newer fieldsync would). */
static void check_newer_refused(const char *key, int value) {
  char *dir = tu_tmpdir("store");
  char *path = path_in(dir, "s.db");
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE));
  CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"a", "x"}}, 1));
  fs_store_close(st);
  char sql[128];
  snprintf(sql, sizeof sql, "UPDATE fs_meta SET value=%d WHERE key='%s'", value, key);
  exec_sql(path, sql);
  size_t len = 0;
  char *before = tu_read_file(path, &len);
  CHECK_ERR(fs_store_open(&st, path, &schema_v1, 0), FS_EVERSION);
  CHECK(st == NULL);
  CHECK_CONTAINS(fs_errmsg(), "newer version of fieldsync");
  CHECK_ERR(fs_store_open(&st, path, &schema_v1, FS_OPEN_READONLY), FS_EVERSION);
  CHECK(before && same_bytes(path, before, len));
  free(before);
  tu_rmrf(dir);
  free(path);
  free(dir);
}

static void test_newer_format_refused(void) { check_newer_refused("format", 99); }
static void test_newer_declaration_refused(void) { check_newer_refused("decl_version", 2); }

static void test_declaration_upgrade(void) {
  char *dir = tu_tmpdir("store");
  char *path = path_in(dir, "s.db");
  fs_store *st = NULL;
  char id1[FS_ID_SIZE], id2[FS_ID_SIZE];
  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE));
  CHECK_OK(fs_insert(id1, st, "items", (fs_field[]){{"a", "one"}, {"b", "1"}}, 2));
  CHECK_OK(fs_insert(id2, st, "items", (fs_field[]){{"a", "two"}, {"b", "2"}}, 2));
  int64_t site = fs_store_site(st), dbv = fs_store_db_version(st);
  fs_store_close(st);

  CHECK_OK(fs_store_open(&st, path, &schema_v2, 0));
  if (!st) goto out;
  CHECK_EQ_INT(fs_store_site(st), site);
  CHECK_EQ_INT(fs_store_db_version(st), dbv);
  char *v = NULL;
  CHECK_OK(fs_store_get(&v, st, "decl_version"));
  CHECK_STR(v, "2");
  free(v);
  struct fsi_arena *a = fsi_arena_new(1024);
  fsi_row r;
  load(st, "items", id1, a, &r);
  CHECK_EQ_INT(r.state, ROW_LIVE);
  if (r.state == ROW_LIVE) {
    CHECK_STR(r.vals[0].s, "one");
    CHECK_EQ_INT(r.vals[1].i, 1);
    CHECK_EQ_INT(r.vals[2].type, FS_VAL_NULL);
  }
  /* the new column and table are usable */
  CHECK_OK(fs_update(st, "items", id2, (fs_field[]){{"c", "new column"}}, 1));
  char tag[FS_ID_SIZE];
  CHECK_OK(fs_insert(tag, st, "tags", (fs_field[]){{"name", "vip"}}, 1));
  load(st, "items", id2, a, &r);
  if (r.state == ROW_LIVE) CHECK_STR(r.vals[2].s, "new column");
  fsi_arena_free(a);
  char *exp = NULL;
  CHECK_OK(fs_view_json(&exp, st, "export", NULL));
  CHECK_CONTAINS(exp, "\"a\":\"one\",\"b\":1,\"c\":null");
  CHECK_CONTAINS(exp, "\"tags\":[{");
  fs_free(exp);
  fs_store_close(st);

  /* opening the upgraded store again is a no-op; v1 code refuses it */
  CHECK_OK(fs_store_open(&st, path, &schema_v2, 0));
  fs_store_close(st);
  size_t len = 0;
  char *before = tu_read_file(path, &len);
  CHECK_ERR(fs_store_open(&st, path, &schema_v1, 0), FS_EVERSION);
  CHECK(before && same_bytes(path, before, len));
  free(before);
out:
  tu_rmrf(dir);
  free(path);
  free(dir);
}

static void test_other_schema_refused(void) {
  char *dir = tu_tmpdir("store");
  char *path = path_in(dir, "s.db");
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE));
  fs_store_close(st);
  CHECK_ERR(fs_store_open(&st, path, NULL, 0), FS_EINVAL); /* a fieldsales program */
  CHECK_CONTAINS(fs_errmsg(), "\"storetest\" schema");
  tu_rmrf(dir);
  free(path);
  free(dir);
}

static void test_damaged_page(void) {
  char *dir = tu_tmpdir("store");
  char *path = path_in(dir, "s.db");
  char *wal = path_in(dir, "s.db-wal");
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE));
  char text[201];
  memset(text, 'q', 200);
  text[200] = '\0';
  CHECK_OK(fs_tx_begin(st));
  for (int i = 0; i < 3000; i++) {
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    text[i % 200] = (char)('a' + i % 26);
    CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"a", text}, {"b", num}}, 2));
  }
  CHECK_OK(fs_tx_commit(st));
  fs_store_close(st);
  CHECK(!file_exists(wal)); /* checkpointed: every page is in the main file */

  size_t len = 0;
  char *bytes = tu_read_file(path, &len);
  CHECK(bytes && len > 40 * 4096);
  if (!bytes || len <= 40 * 4096) goto out;
  size_t page = 4096, mid = (len / page / 2) * page;
  for (size_t i = 0; i < page; i++) bytes[mid + i] = (char)(0x5A ^ (i * 7));
  FILE *fp = fopen(path, "wb");
  CHECK(fp && fwrite(bytes, 1, len, fp) == len);
  if (fp) fclose(fp);

  CHECK_ERR(fs_store_open(&st, path, &schema_v1, 0), FS_ECORRUPT);
  CHECK(st == NULL);
  CHECK_CONTAINS(fs_errmsg(), "corrupt");
  CHECK(same_bytes(path, bytes, len));
out:
  free(bytes);
  tu_rmrf(dir);
  free(wal);
  free(path);
  free(dir);
}

static int count_items(fs_store *st) {
  char *exp = NULL;
  int n = 0;
  if (fs_view_json(&exp, st, "export", NULL) != FS_OK) return -1;
  for (const char *p = exp; (p = strstr(p, "\"id\":")); p++) n++;
  fs_free(exp);
  return n;
}

/* Many distinct statements: each is prepared once and found again, however
 * many there are (a fixed-size cache once failed its 65th as out of memory),
 * and the SQL helpers bind, step and report errors with what was done. */
static void test_statements(void) {
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, ":memory:", &schema_v1, FS_OPEN_CREATE));
  if (!st) return;
  enum { N = 300 };
  static char sql[N][64];
  size_t before = fsi_store_stmt_count(st);
  for (int round = 0; round < 2; round++) {
    int ok = 1;
    for (int i = 0; i < N; i++) {
      snprintf(sql[i], sizeof sql[i], "SELECT ?1 + %d", i);
      int64_t v = -1;
      if (fsi_sql_i64(st, &v, "adding", sql[i], "i", (int64_t)1000) || v != 1000 + i) ok = 0;
    }
    CHECK(ok);
    CHECK_EQ_INT(fsi_store_stmt_count(st), before + N); /* the second round prepared none */
  }
  CHECK_OK(fsi_sql_run(st, "making a table", "CREATE TABLE t(k TEXT PRIMARY KEY, v)", NULL));
  CHECK_OK(fsi_sql_run(st, "adding a row", "INSERT INTO t VALUES(?1, ?2)", "td", "a", 7));
  CHECK_ERR(fsi_sql_run(st, "adding a row", "INSERT INTO t VALUES(?1, ?2)", "td", "a", 8),
            FS_EEXIST);
  CHECK_CONTAINS(fs_errmsg(), "adding a row");
  int64_t v = 0;
  CHECK_ERR(fsi_sql_i64(st, &v, "reading", "SELECT v FROM t WHERE k=?1", "t", "zz"), FS_ENOTFOUND);
  sqlite3_stmt *q = fsi_sql_query(st, "SELECT k, v FROM t WHERE v >= ?1", "i", (int64_t)7);
  CHECK(q != NULL);
  int rows = 0, r;
  while (q && (r = fsi_sql_step(st, q, "listing")) == 1) rows++;
  CHECK_EQ_INT(rows, 1);
  fs_store_close(st);
}

static void test_transactions(void) {
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, ":memory:", &schema_v1, FS_OPEN_CREATE));
  if (!st) return;
  int64_t v0 = fs_store_db_version(st);

  CHECK_OK(fs_tx_begin(st));
  CHECK_ERR(fs_tx_begin(st), FS_EINVAL); /* not nestable */
  for (int i = 0; i < 3; i++) CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"a", "t"}}, 1));
  CHECK_OK(fs_tx_commit(st));
  CHECK_EQ_INT(fs_store_db_version(st), v0 + 1); /* one version for the group */
  CHECK_EQ_INT(count_items(st), 3);

  int64_t clock_before = st->clock.last;
  char gone[FS_ID_SIZE];
  CHECK_OK(fs_tx_begin(st));
  CHECK_OK(fs_insert(gone, st, "items", (fs_field[]){{"a", "discarded"}}, 1));
  CHECK_OK(fs_store_set(st, "in_tx_setting", "discarded"));
  CHECK_OK(fs_tx_rollback(st));
  CHECK_EQ_INT(fs_store_db_version(st), v0 + 1);
  CHECK_EQ_INT(count_items(st), 3);
  CHECK_EQ_INT(st->clock.last, clock_before);
  char *v = NULL;
  CHECK_ERR(fs_store_get(&v, st, "in_tx_setting"), FS_ENOTFOUND);
  struct fsi_arena *a = fsi_arena_new(1024);
  fsi_row r;
  load(st, "items", gone, a, &r);
  CHECK_EQ_INT(r.state, ROW_NONE);
  fsi_arena_free(a);

  CHECK_ERR(fs_tx_commit(st), FS_EINVAL);
  CHECK_ERR(fs_tx_rollback(st), FS_EINVAL);
  /* no gap in the sequence after a rollback */
  CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"a", "after"}}, 1));
  CHECK_EQ_INT(fs_store_db_version(st), v0 + 2);
  /* a failed implicit write leaves no trace either */
  CHECK_ERR(fs_insert(NULL, st, "items", (fs_field[]){{"b", "not a number"}}, 1), FS_EINVAL);
  CHECK_EQ_INT(fs_store_db_version(st), v0 + 2);
  fs_store_close(st);
}

static void test_settings(void) {
  char *dir = tu_tmpdir("store");
  char *path = path_in(dir, "s.db");
  fs_store *st = NULL;
  char *v = (char *)"sentinel";
  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE));
  CHECK_ERR(fs_store_get(&v, st, "manager"), FS_ENOTFOUND);
  CHECK(v == NULL);
  CHECK_CONTAINS(fs_errmsg(), "manager");
  CHECK_OK(fs_store_set(st, "manager", "Anna Kowalska"));
  CHECK_OK(fs_store_set(st, "manager", "Anna Nowak")); /* overwrite */
  CHECK_OK(fs_store_get(&v, st, "manager"));
  CHECK_STR(v, "Anna Nowak");
  free(v);
  CHECK_OK(fs_store_set(st, "cleared", "x"));
  CHECK_OK(fs_store_set(st, "cleared", NULL));
  CHECK_ERR(fs_store_get(&v, st, "cleared"), FS_ENOTFOUND);
  CHECK_OK(fs_store_set_hq_site(st, 0x1234));
  fs_store_close(st);

  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_READONLY));
  if (st) {
    CHECK_OK(fs_store_get(&v, st, "manager"));
    CHECK_STR(v, "Anna Nowak");
    free(v);
    CHECK_EQ_INT(fs_store_hq_site(st), 0x1234);
    CHECK_ERR(fs_insert(NULL, st, "items", (fs_field[]){{"a", "x"}}, 1), FS_EPERM);
    CHECK_ERR(fs_store_set(st, "manager", "x"), FS_EPERM);
    CHECK_ERR(fs_tx_begin(st), FS_EPERM);
    fs_store_close(st);
  }
  tu_rmrf(dir);
  free(path);
  free(dir);
}

static void test_device_init(void) {
  char *dir = tu_tmpdir("device");
  char *home = path_in(dir, "home");
  char *store = path_in(home, "store.db");
  char *sign = path_in(home, "keys/identity.key");
  char *kx = path_in(home, "keys/store.key");
  struct stat sb;

  CHECK_ERR(tu_device_create(home, "", NULL), FS_EINVAL);
  CHECK(!file_exists(store));
  CHECK_OK(tu_device_create(home, "alice", NULL));
  CHECK(stat(home, &sb) == 0 && (sb.st_mode & 0777) == 0700);
  CHECK(stat(sign, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  CHECK(stat(kx, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  CHECK(file_exists(store));

  fs_device *dev = NULL;
  CHECK_OK(tu_device_open(&dev, home, NULL));
  char *m = NULL;
  if (dev) {
    fs_store *st = fs_device_store(dev);
    CHECK_STR(fs_device_home(dev), home);
    CHECK_OK(fs_store_get(&m, st, "manager"));
    CHECK_STR(m, "alice");
    free(m);
    CHECK_OK(fs_insert(NULL, st, "customers", (fs_field[]){{"name", "Acme"}}, 1));
    fs_device_close(dev);
  }

  size_t slen = 0, klen = 0;
  char *sbytes = tu_read_file(store, &slen), *kbytes = tu_read_file(sign, &klen);
  CHECK_ERR(tu_device_create(home, "mallory", NULL), FS_EEXIST);
  CHECK(sbytes && same_bytes(store, sbytes, slen));
  CHECK(kbytes && same_bytes(sign, kbytes, klen));
  free(sbytes);
  free(kbytes);
  CHECK_OK(tu_device_open(&dev, home, NULL));
  if (dev) {
    CHECK_OK(fs_store_get(&m, fs_device_store(dev), "manager"));
    CHECK_STR(m, "alice");
    free(m);
    fs_device_close(dev);
  }

  char *empty = path_in(dir, "empty");
  CHECK(mkdir(empty, 0700) == 0);
  CHECK_ERR(tu_device_open(&dev, empty, NULL), FS_ENOTFOUND);
  CHECK(dev == NULL);
  CHECK_CONTAINS(fs_errmsg(), "fieldsync init");
  free(empty);
  tu_rmrf(dir);
  free(kx);
  free(sign);
  free(store);
  free(home);
  free(dir);
}

/* 1 when path exists and neither group nor others have any access to it. */
static int owner_only(const char *path) {
  struct stat sb;
  if (stat(path, &sb) != 0) {
    tu_fail(__FILE__, __LINE__, "%s does not exist", path);
    return 0;
  }
  if (sb.st_mode & 077)
    tu_fail(__FILE__, __LINE__, "%s has mode %04o", path, (unsigned)(sb.st_mode & 07777));
  return (sb.st_mode & 077) == 0;
}

/* Checks the store and its -wal/-shm while it is open, after a write. */
static void check_open_store_private(const char *path) {
  size_t n = strlen(path) + 8;
  char *wal = malloc(n), *shm = malloc(n);
  if (!wal || !shm) abort();
  snprintf(wal, n, "%s-wal", path);
  snprintf(shm, n, "%s-shm", path);
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE));
  if (st) {
    CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"a", "customer data"}}, 1));
    CHECK(owner_only(path));
    CHECK(owner_only(wal));
    CHECK(owner_only(shm));
    fs_store_close(st);
  }
  free(wal);
  free(shm);
}

/* A store holds customer data: 0600 with its -wal and -shm, whatever the
 * umask and the directory's mode; an older store made 0644 (and its
 * sidecars) is tightened when opened; a file that is refused keeps its mode;
 * a device home made inside a 0755 directory has a 0600 store and keys. */
static void test_files_private(void) {
  mode_t old_umask = umask(022);
  char *dir = tu_tmpdir("perm");
  CHECK(chmod(dir, 0755) == 0);
  char *path = path_in(dir, "s.db");
  struct stat sb;

  check_open_store_private(path);
  CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);

  /* an older fieldsync's store: 0644, reopened */
  CHECK(chmod(path, 0644) == 0);
  check_open_store_private(path);
  CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);

  /* a stricter umask cannot leave the owner without write access */
  char *strict = path_in(dir, "strict.db");
  umask(0277);
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, strict, &schema_v1, FS_OPEN_CREATE));
  umask(022);
  if (st) CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"a", "x"}}, 1));
  fs_store_close(st);
  CHECK(stat(strict, &sb) == 0 && (sb.st_mode & 0777) == 0600);

  /* an in-memory store is not a file: nothing may appear on disk for it */
  char cwd[4096];
  CHECK(getcwd(cwd, sizeof cwd) != NULL && chdir(dir) == 0);
  CHECK_OK(fs_store_open(&st, ":memory:", &schema_v1, FS_OPEN_CREATE));
  fs_store_close(st);
  CHECK(!file_exists(":memory:"));
  CHECK(chdir(cwd) == 0);

  /* a refused file is not a store: its mode is the owner's business */
  char *junk = path_in(dir, "junk.db");
  CHECK(tu_write_file(junk, "not a database, not a store, just text") == 0);
  CHECK(chmod(junk, 0644) == 0);
  CHECK_ERR(fs_store_open(&st, junk, &schema_v1, 0), FS_ECORRUPT);
  CHECK(stat(junk, &sb) == 0 && (sb.st_mode & 0777) == 0644);

  /* a device home inside a world-readable directory */
  char *home = path_in(dir, "home");
  CHECK(mkdir(home, 0755) == 0);
  CHECK_OK(tu_device_create(home, "alice", NULL));
  char *store = path_in(home, "store.db"), *sign = path_in(home, "keys/identity.key");
  char *kx = path_in(home, "keys/store.key"), *keys = path_in(home, "keys");
  CHECK(owner_only(store));
  CHECK(owner_only(sign));
  CHECK(owner_only(kx));
  CHECK(owner_only(keys));
  fs_device *dev = NULL;
  CHECK_OK(tu_device_open(&dev, home, NULL));
  if (dev) {
    CHECK_OK(fs_insert(NULL, fs_device_store(dev), "customers", (fs_field[]){{"name", "Acme"}}, 1));
    size_t n = strlen(store) + 8;
    char *wal = malloc(n), *shm = malloc(n);
    if (!wal || !shm) abort();
    snprintf(wal, n, "%s-wal", store);
    snprintf(shm, n, "%s-shm", store);
    CHECK(owner_only(store));
    CHECK(owner_only(wal));
    CHECK(owner_only(shm));
    free(wal);
    free(shm);
    fs_device_close(dev);
  }
  free(keys);
  free(kx);
  free(sign);
  free(store);
  free(home);
  free(junk);
  free(strict);
  tu_rmrf(dir);
  free(path);
  free(dir);
  umask(old_umask);
}

/* A full disk (here: the store capped with max_page_count, which SQLite
 * reports exactly as a full disk) says which directory, how much space is
 * free there, and that nothing was lost; what was committed is there. */
static void test_disk_full_message(void) {
  char *dir = tu_tmpdir("store-full");
  char *path = path_in(dir, "store.db");
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, path, &schema_v1, FS_OPEN_CREATE));
  if (!st) goto done;
  CHECK_OK(fs_insert(NULL, st, "items", (fs_field[]){{"a", "kept"}}, 1));
  CHECK(sqlite3_exec(st->db, "PRAGMA max_page_count=12", NULL, NULL, NULL) == SQLITE_OK);
  static char big[2000];
  memset(big, 'x', sizeof big - 1);
  int rc = FS_OK;
  for (int i = 0; i < 500 && rc == FS_OK; i++)
    rc = fs_insert(NULL, st, "items", (fs_field[]){{"a", big}}, 1);
  CHECK_ERR(rc, FS_EIO);
  char want[600];
  snprintf(want, sizeof want, "the disk holding %s is full (", dir);
  CHECK_CONTAINS(fs_errmsg(), want);
  CHECK_CONTAINS(fs_errmsg(), " MB free) and run the command again; nothing was lost");
  CHECK(strstr(fs_errmsg(), "(-1 MB") == NULL);
  fs_store_close(st);
  st = NULL;
  CHECK_OK(fs_store_open(&st, path, &schema_v1, 0));
  if (st) CHECK(count_items(st) >= 1);
  fs_store_close(st);
done:
  tu_rmrf(dir);
  free(path);
  free(dir);
}

int main(void) {
  TEST_RUN(test_create_reopen);
  TEST_RUN(test_random_bytes_refused);
  TEST_RUN(test_foreign_sqlite_refused);
  TEST_RUN(test_newer_format_refused);
  TEST_RUN(test_newer_declaration_refused);
  TEST_RUN(test_declaration_upgrade);
  TEST_RUN(test_other_schema_refused);
  TEST_RUN(test_damaged_page);
  TEST_RUN(test_statements);
  TEST_RUN(test_transactions);
  TEST_RUN(test_settings);
  TEST_RUN(test_device_init);
  TEST_RUN(test_files_private);
  TEST_RUN(test_disk_full_message);
  return tu_finish();
}
