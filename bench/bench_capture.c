/*
 * bench_capture.c — workload C of WORKLOAD.md: capture overhead.
 *
 * Inserts N standard records (seed 1, device 0) in one transaction into the
 * synced table `records` through the public API (fs_tx_begin, fs_insert,
 * fs_tx_commit), and the same rows with one prepared statement in one
 * transaction into a plain SQLite table (WAL, synchronous=NORMAL).  Records
 * and their text fields are generated before any timing; each run uses fresh
 * database files in a private temporary directory, and only the insert
 * transaction is timed (open and schema creation are not).  Runs alternate
 * raw, fieldsync so drift on a noisy machine hits both sides alike; the
 * ratio is taken per run, as WORKLOAD.md asks.
 *
 * By default fs_insert generates its own UUIDv7 id (fieldsync.h documents
 * no way to pass one), so fieldsync's rows carry fresh ids while the raw rows
 * carry the generator's; every other column is identical.  With the third
 * argument "id" the generator's id is passed as a field named "id" (which
 * core/write.c accepts), for a strictly row-for-row comparison.
 *
 * With --encrypt (or FS_BENCH_ENCRYPT=1) each run also inserts the same rows
 * into an encrypted store (fsi_store_open_keyed, a random key), so the runs
 * alternate raw, fieldsync, encrypted; it then reports the encrypted
 * insert against raw SQLite and against the plain store, and a read figure
 * for both stores: a fresh handle on the store just written (a plain
 * store's open checks every page; an encrypted one authenticates each page
 * as it is read) and a scan of every row.
 *
 * Usage: bench_capture [--encrypt] [N=100000] [runs=3] [gen|id].  Prints
 * one line per figure.
 */
#include "engine.h"
#include "workload.h"

#include <dirent.h>
#include <errno.h>
#include <fieldsync/fieldsync.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define MAX_RUNS 101

/* Parses a decimal argument in [lo, hi]; exits with a message otherwise. */
/* Removes the files of directory `dir` (one level: stores keep no
 * subdirectories), so every run starts from fresh files. */
static void rm_files(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[PATH_MAX];
  if (!d) return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    int len = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (len < 0 || (size_t)len >= sizeof path || unlink(path) != 0)
      fprintf(stderr, "bench_capture: cannot remove %s\n", path);
  }
  closedir(d);
}

/* out = dir/name<k>.db; -1 (with a message) when it does not fit. */
static int db_path(char out[PATH_MAX], const char *dir, const char *name, int k) {
  int len = snprintf(out, PATH_MAX, "%s/%s%d.db", dir, name, k);
  if (len < 0 || len >= PATH_MAX) {
    fprintf(stderr, "bench_capture: path too long under %s\n", dir);
    return -1;
  }
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median, min and max of v[0..n) (n >= 1); v is left unchanged. */
static void stats(const double *v, size_t n, double *med, double *lo, double *hi) {
  double s[MAX_RUNS];
  memcpy(s, v, n * sizeof *v);
  qsort(s, n, sizeof *s, cmp_double);
  *med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  *lo = s[0];
  *hi = s[n - 1];
}

/* One raw-SQLite run into a fresh file; seconds of the insert transaction. */
static int run_raw(const char *dir, int k, const wl_record *recs, size_t n, double *secs) {
  char path[PATH_MAX];
  sqlite3 *db = NULL;
  double t0;
  int rc;
  if (db_path(path, dir, "raw-", k) != 0) return -1;
  rc = wl_raw_open(&db, path);
  if (rc != SQLITE_OK) goto done;
  t0 = wl_now_s();
  rc = wl_raw_insert(db, recs, n);
  *secs = wl_now_s() - t0;
done:
  sqlite3_close_v2(db);
  return rc == SQLITE_OK ? 0 : -1;
}

/* Opens the store at path afresh and reads every row of `records`: seconds
 * of the open and the scan. */
static int read_back(const char *path, const unsigned char *key, size_t n, double *secs) {
  fs_store *st = NULL;
  sqlite3_stmt *s = NULL;
  size_t rows = 0, bytes = 0;
  double t0 = wl_now_s();
  int rc = fsi_store_open_keyed(&st, path, wl_schema(), 0, key);
  if (rc != FS_OK) {
    fprintf(stderr, "bench_capture: reopen: %s\n", fs_errmsg());
    return -1;
  }
  if (sqlite3_prepare_v2(fsi_store_db(st), "SELECT * FROM " WL_TABLE, -1, &s, NULL) == SQLITE_OK)
    while (sqlite3_step(s) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(s); c++) bytes += (size_t)sqlite3_column_bytes(s, c);
      rows++;
    }
  sqlite3_finalize(s);
  fs_store_close(st);
  *secs = wl_now_s() - t0;
  if (rows != n || bytes == 0) {
    fprintf(stderr, "bench_capture: read back %zu rows of %zu\n", rows, n);
    return -1;
  }
  return 0;
}

/* One fieldsync run into a fresh store (encrypted with `key` unless NULL);
 * seconds of the insert transaction, and with read_s those of read_back.
 * rows[i*nf .. i*nf+nf) are the fields of row i. */
static int run_fieldsync(const char *dir, int k, const unsigned char *key, const fs_field *rows,
                         size_t nf, size_t n, double *secs, double *read_s) {
  char path[PATH_MAX];
  char id[FS_ID_SIZE];
  fs_store *st = NULL;
  int64_t pending = -1;
  int in_tx = 0;
  double t0;
  int rc;
  if (db_path(path, dir, key ? "enc-" : "fs-", k) != 0) return -1;
  rc = fsi_store_open_keyed(&st, path, wl_schema(), FS_OPEN_CREATE, key);
  if (rc != FS_OK) goto fail;
  t0 = wl_now_s();
  rc = fs_tx_begin(st);
  in_tx = rc == FS_OK;
  for (size_t i = 0; rc == FS_OK && i < n; i++) rc = fs_insert(id, st, WL_TABLE, rows + i * nf, nf);
  if (rc == FS_OK) rc = fs_tx_commit(st);
  *secs = wl_now_s() - t0;
  if (rc != FS_OK) goto fail;
  in_tx = 0;
  /* Not timed: every inserted row must be waiting to sync. */
  if (fs_pending_count(&pending, st) == FS_OK && pending != (int64_t)n)
    fprintf(stderr, "bench_capture: warning: %lld rows pending after %zu inserts\n",
            (long long)pending, n);
  fs_store_close(st);
  return read_s ? read_back(path, key, n, read_s) : 0;
fail:
  fprintf(stderr, "bench_capture: fieldsync: %s (%s)\n", fs_errmsg(), fs_strerror(rc));
  if (in_tx) fs_tx_rollback(st);
  fs_store_close(st);
  return -1;
}

int main(int argc, char **argv) {
  size_t n = 100000;
  int runs = 3;
  char dir[PATH_MAX];
  wl_record *recs = NULL;
  wl_fields *fields = NULL;
  fs_field *rows = NULL;
  size_t nf = WL_NFIELDS;
  int pass_id = 0;
  double raw_s[MAX_RUNS], fs_s[MAX_RUNS], raw_rate[MAX_RUNS], fs_rate[MAX_RUNS], ratio[MAX_RUNS];
  double enc_s[MAX_RUNS], enc_rate[MAX_RUNS], enc_ratio[MAX_RUNS], enc_fs[MAX_RUNS];
  double fs_read[MAX_RUNS], enc_read[MAX_RUNS], read_ratio[MAX_RUNS];
  unsigned char key[FSI_STORE_KEYBYTES];
  const char *env = getenv("FS_BENCH_ENCRYPT");
  int encrypt = env && strcmp(env, "1") == 0;
  double med, lo, hi;
  long gen_rss_kb;
  struct rusage ru;
  int status = 1;

  if (argc > 1 && strcmp(argv[1], "--encrypt") == 0) {
    encrypt = 1;
    argv[1] = argv[0];
    argv++;
    argc--;
  }
  if (argc > 4 || (argc == 4 && strcmp(argv[3], "gen") != 0 && strcmp(argv[3], "id") != 0)) {
    fprintf(stderr, "usage: %s [--encrypt] [N=100000] [runs=3] [gen|id]\n", argv[0]);
    return 2;
  }
  if (sodium_init() < 0) return 1;
  randombytes_buf(key, sizeof key);
  if (argc == 4 && strcmp(argv[3], "id") == 0) {
    pass_id = 1;
    nf = WL_NFIELDS + 1;
  }
  if (argc > 1) n = wl_arg("bench_capture", argv[1], "N", 1, 100000000);
  if (argc > 2) runs = (int)wl_arg("bench_capture", argv[2], "runs", 1, MAX_RUNS);

  if (wl_tmpdir(dir, sizeof dir, "bench-capture")) return 1;
  recs = wl_generate(1, 0, n);
  fields = malloc(n * sizeof *fields);
  rows = malloc(n * nf * sizeof *rows);
  if (!recs || !fields || !rows) {
    fprintf(stderr, "bench_capture: out of memory for %zu records\n", n);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    fs_field *r = rows + i * nf;
    wl_record_fields(&recs[i], &fields[i]);
    if (pass_id) *r++ = (fs_field){"id", recs[i].id};
    memcpy(r, fields[i].f, sizeof fields[i].f);
  }
  getrusage(RUSAGE_SELF, &ru);
  gen_rss_kb = ru.ru_maxrss;

  for (int k = 0; k < runs; k++) {
    if (run_raw(dir, k, recs, n, &raw_s[k]) != 0) goto done;
    rm_files(dir);
    if (run_fieldsync(dir, k, NULL, rows, nf, n, &fs_s[k], encrypt ? &fs_read[k] : NULL) != 0)
      goto done;
    rm_files(dir);
    raw_rate[k] = (double)n / raw_s[k];
    fs_rate[k] = (double)n / fs_s[k];
    ratio[k] = fs_s[k] / raw_s[k];
    fprintf(stderr, "run %d: raw %.3f s, fieldsync %.3f s, ratio %.2fx\n", k + 1, raw_s[k], fs_s[k],
            ratio[k]);
    if (!encrypt) continue;
    if (run_fieldsync(dir, k, key, rows, nf, n, &enc_s[k], &enc_read[k]) != 0) goto done;
    rm_files(dir);
    enc_rate[k] = (double)n / enc_s[k];
    enc_ratio[k] = enc_s[k] / raw_s[k];
    enc_fs[k] = enc_s[k] / fs_s[k];
    read_ratio[k] = enc_read[k] / fs_read[k];
    fprintf(stderr,
            "run %d: encrypted %.3f s, ratio %.2fx raw, %.2fx plain; read plain %.3f s, "
            "encrypted %.3f s\n",
            k + 1, enc_s[k], enc_ratio[k], enc_fs[k], fs_read[k], enc_read[k]);
  }

  printf("capture: N=%zu rows, one transaction, %d runs, ids %s, median (range)\n", n, runs,
         pass_id ? "passed to fs_insert" : "generated by fs_insert");
  stats(raw_rate, (size_t)runs, &med, &lo, &hi);
  printf("raw sqlite insert: %.0f rows/s (%.0f-%.0f)\n", med, lo, hi);
  stats(fs_rate, (size_t)runs, &med, &lo, &hi);
  printf("fieldsync insert: %.0f rows/s (%.0f-%.0f)\n", med, lo, hi);
  stats(ratio, (size_t)runs, &med, &lo, &hi);
  printf("ratio fieldsync/raw (time): %.2fx (%.2fx-%.2fx), goal <= 1.5x\n", med, lo, hi);
  if (encrypt) {
    stats(enc_rate, (size_t)runs, &med, &lo, &hi);
    printf("encrypted fieldsync insert: %.0f rows/s (%.0f-%.0f)\n", med, lo, hi);
    stats(enc_ratio, (size_t)runs, &med, &lo, &hi);
    printf("ratio encrypted/raw (time): %.2fx (%.2fx-%.2fx), goal <= 1.6x\n", med, lo, hi);
    stats(enc_fs, (size_t)runs, &med, &lo, &hi);
    printf("ratio encrypted/plain fieldsync (time): %.2fx (%.2fx-%.2fx)\n", med, lo, hi);
    stats(fs_read, (size_t)runs, &med, &lo, &hi);
    printf("read (reopen, scan every row): plain %.3f s (%.3f-%.3f)", med, lo, hi);
    stats(enc_read, (size_t)runs, &med, &lo, &hi);
    printf(", encrypted %.3f s (%.3f-%.3f)\n", med, lo, hi);
    stats(read_ratio, (size_t)runs, &med, &lo, &hi);
    printf("ratio encrypted/plain read (time): %.2fx (%.2fx-%.2fx), goal <= 1.10x\n", med, lo, hi);
  }
  getrusage(RUSAGE_SELF, &ru);
  printf("peak RSS: %.1f MB (%.1f MB before the first insert, rows generated)\n",
         (double)ru.ru_maxrss / 1024.0, (double)gen_rss_kb / 1024.0);
  status = 0;
done:
  sodium_memzero(key, sizeof key);
  free(rows);
  free(fields);
  free(recs);
  rm_files(dir);
  rmdir(dir);
  return status;
}
