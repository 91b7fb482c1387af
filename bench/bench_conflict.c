/*
 * bench_conflict.c — workload W4 of WORKLOAD.md: concurrent offline edits.
 *
 * Device A holds N = 10,000 records (seed 1, device 0, the generator's ids)
 * and pushes them; device B pulls them (setup, not timed).  Offline, A edits
 * every record (amount += 1000, note = "A: " + note cut to 80) and B edits
 * every record (amount += 2000, qty += 1), each in one transaction: N
 * same-column concurrent edits (amount) and 2N disjoint field edits.  Then
 * A, B, A, B each run fs_sync against the real server over HTTPS on
 * 127.0.0.1 (sync_harness.h: server-stub/https/https.c + fs_hq_handle on a home
 * with the bench schema, its own process).  Timed: the four fs_sync calls
 * (their sum; the wall time including process start-up goes to stderr).
 *
 * Checked afterwards, opening all three stores in one process: the export
 * JSON ("export" view) of A, of B and of the server are byte-identical (the
 * server's whole export: the schema holds only `records`); the server's
 * conflict log holds exactly N entries, all for column amount; no disjoint
 * edit was lost: every note starts with "A: " and equals A's edit, every
 * qty is the original + 1, every amount is one of the two edited values.
 *
 * Usage: bench_conflict [runs=3] [N=10000].  One line per figure on stdout
 * (median and range over the runs), detail on stderr.
 */
#include "sync_harness.h"
#include "workload.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fieldsync/device.h>
#include <fieldsync/server.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storeInt.h"

#define MAX_RUNS 101

typedef struct dev_arg {
  char home[PATH_MAX];
  const char *url, *token, *cert;
  size_t n;
  int edit; /* 'A' or 'B' */
} dev_arg;

static void home_of(char out[PATH_MAX], const sh_run *run, const char *name) {
  snprintf(out, PATH_MAX, "%s/%s", run->dir, name);
}

static int create_fn(void *arg, void *res) {
  dev_arg *a = arg;
  (void)res;
  return sh_device_create(a->home, 1, 0, a->n);
}

static int enroll_fn(void *arg, void *res) {
  dev_arg *a = arg;
  (void)res;
  return sh_device_enroll(a->home, a->url, a->token, a->cert);
}

typedef struct sync_res {
  fs_sync_stats stats;
  double secs;
} sync_res;

static int sync_fn(void *arg, void *res) {
  dev_arg *a = arg;
  sync_res *r = res;
  fs_device *dev = NULL;
  int rc = sh_device_open(&dev, a->home);
  if (!rc) {
    double t0 = sh_now();
    r->stats = (fs_sync_stats)FS_SYNC_STATS_INIT;
    rc = fs_sync(&r->stats, dev, NULL);
    r->secs = sh_now() - t0;
  }
  if (rc)
    fprintf(stderr, "bench_conflict: sync %s: %s (%s)\n", a->home, fs_errmsg(), fs_strerror(rc));
  fs_device_close(dev);
  return rc ? -1 : 0;
}

/* The offline edits of one device, in one transaction. */
static int edit_fn(void *arg, void *res) {
  dev_arg *a = arg;
  fs_device *dev = NULL;
  fs_store *st = NULL;
  wl_gen g;
  wl_record r;
  char amount[24], qty[24];
  (void)res;
  int rc = sh_device_open(&dev, a->home);
  st = fs_device_store(dev);
  if (!rc) rc = fs_tx_begin(st);
  wl_gen_init(&g, 1, 0);
  for (size_t i = 0; i < a->n && !rc; i++) {
    wl_gen_next(&g, &r);
    if (a->edit == 'A') {
      wl_edit_a(&r);
      snprintf(amount, sizeof amount, "%" PRId64, r.amount);
      fs_field f[2] = {{"amount", amount}, {"note", r.note}};
      rc = fs_update(st, WL_TABLE, r.id, f, 2);
    } else {
      wl_edit_b(&r);
      snprintf(amount, sizeof amount, "%" PRId64, r.amount);
      snprintf(qty, sizeof qty, "%" PRId64, r.qty);
      fs_field f[2] = {{"amount", amount}, {"qty", qty}};
      rc = fs_update(st, WL_TABLE, r.id, f, 2);
    }
  }
  if (!rc) rc = fs_tx_commit(st);
  if (rc) fprintf(stderr, "bench_conflict: edits on %s: %s\n", a->home, fs_errmsg());
  fs_device_close(dev);
  return rc ? -1 : 0;
}

typedef struct verify_arg {
  char a[PATH_MAX], b[PATH_MAX];
  const sh_run *run;
  size_t n;
} verify_arg;

typedef struct verify_res {
  int a_eq_b, a_eq_hq;
  int64_t hq_conflicts, hq_conflicts_amount;
  int64_t rows, notes_a, qty_ok, amount_a, amount_b, other;
} verify_res;

static int64_t count(fs_store *st, const char *sql) {
  sqlite3_stmt *s = NULL;
  int64_t v = -1;
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

static int64_t num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : INT64_MIN;
}

static int verify_fn(void *arg, void *res) {
  verify_arg *a = arg;
  verify_res *r = res;
  fs_device *dev_a = NULL, *dev_b = NULL;
  fs_store *da = NULL, *db = NULL;
  fs_hq *hq = NULL;
  char *ea = NULL, *eb = NULL, *eh = NULL;
  cJSON *doc = NULL;
  int rc = sh_device_open(&dev_a, a->a);
  if (!rc) rc = sh_device_open(&dev_b, a->b);
  da = fs_device_store(dev_a);
  db = fs_device_store(dev_b);
  if (!rc) rc = fs_hq_open_schema(&hq, a->run->hq, wl_schema());
  if (!rc) rc = fs_view_json(&ea, da, "export", NULL);
  if (!rc) rc = fs_view_json(&eb, db, "export", NULL);
  if (!rc) rc = fs_view_json(&eh, fs_hq_store(hq), "export", NULL);
  if (rc) {
    fprintf(stderr, "bench_conflict: verify: %s\n", fs_errmsg());
    goto done;
  }
  r->a_eq_b = !strcmp(ea, eb);
  r->a_eq_hq = !strcmp(ea, eh);
  r->hq_conflicts = count(fs_hq_store(hq), "SELECT count(*) FROM fs_conflict");
  r->hq_conflicts_amount =
      count(fs_hq_store(hq), "SELECT count(*) FROM fs_conflict WHERE col = 'amount'");
  doc = cJSON_Parse(eh);
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, WL_TABLE), *o;
  wl_gen g;
  wl_record orig, ra, rb;
  wl_gen_init(&g, 1, 0);
  cJSON_ArrayForEach(o, rows) {
    /* Sorted by id = generation order (UUIDv7 ids of increasing time). */
    wl_gen_next(&g, &orig);
    ra = rb = orig;
    wl_edit_a(&ra);
    wl_edit_b(&rb);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
    const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "note"));
    int64_t amount = num(o, "amount"), qty = num(o, "qty");
    r->rows++;
    if (!id || strcmp(id, orig.id) != 0) {
      r->other++;
      continue;
    }
    if (note && !strncmp(note, "A: ", 3) && !strcmp(note, ra.note)) r->notes_a++;
    if (qty == orig.qty + 1) r->qty_ok++;
    if (amount == ra.amount)
      r->amount_a++;
    else if (amount == rb.amount)
      r->amount_b++;
    else
      r->other++;
  }
done:
  cJSON_Delete(doc);
  fs_free(ea);
  fs_free(eb);
  fs_free(eh);
  fs_device_close(dev_a);
  fs_device_close(dev_b);
  fs_hq_close(hq);
  return rc ? -1 : 0;
}

typedef struct w4 {
  double secs, wall;
  verify_res v;
  int64_t dev_conflicts;
} w4;

static int run_w4(const char *base, int k, size_t n, w4 *out) {
  sh_run run;
  sh_server srv;
  sh_server_stats ss;
  char dir[PATH_MAX - 512], tokens[2][64];
  dev_arg da, db;
  verify_arg va;
  sync_res sr;
  int ok = 0, e;
  memset(out, 0, sizeof *out);
  snprintf(dir, sizeof dir, "%s/w4-%d", base, k);
  if (sh_run_init(&run, dir) || sh_tokens(&run, 2, tokens)) goto done;
  memset(&da, 0, sizeof da);
  memset(&db, 0, sizeof db);
  home_of(da.home, &run, "dev-a");
  home_of(db.home, &run, "dev-b");
  da.n = db.n = n;
  da.cert = db.cert = run.cert;
  da.token = tokens[0];
  db.token = tokens[1];
  da.edit = 'A';
  db.edit = 'B';
  size_t keep = db.n;
  db.n = 0;
  e = sh_child_run(create_fn, &da, NULL, 0, NULL) || sh_child_run(create_fn, &db, NULL, 0, NULL);
  db.n = keep;
  if (e || sh_server_start(&srv, &run)) goto done;
  da.url = db.url = srv.url;
  e = sh_child_run(enroll_fn, &da, NULL, 0, NULL) || sh_child_run(enroll_fn, &db, NULL, 0, NULL) ||
      sh_child_run(sync_fn, &da, &sr, sizeof sr, NULL) ||
      sh_child_run(sync_fn, &db, &sr, sizeof sr, NULL);
  if (!e && sr.stats.pulled != (int64_t)n) {
    fprintf(stderr, "bench_conflict: B pulled %lld of %zu\n", (long long)sr.stats.pulled, n);
    e = 1;
  }
  if (sh_server_stop(&srv, &ss) || e) goto done;
  if (sh_child_run(edit_fn, &da, NULL, 0, NULL) || sh_child_run(edit_fn, &db, NULL, 0, NULL))
    goto done;

  if (sh_server_start(&srv, &run)) goto done;
  double t0 = sh_now();
  dev_arg *order[4] = {&da, &db, &da, &db};
  e = 0;
  for (int i = 0; i < 4 && !e; i++) {
    e = sh_child_run(sync_fn, order[i], &sr, sizeof sr, NULL);
    out->secs += sr.secs;
    out->dev_conflicts += sr.stats.conflicts;
    fprintf(stderr, "    sync %c: %.3f s, pushed %lld, pulled %lld, conflicts %lld\n",
            order[i]->edit, sr.secs, (long long)sr.stats.pushed, (long long)sr.stats.pulled,
            (long long)sr.stats.conflicts);
  }
  out->wall = sh_now() - t0;
  if (sh_server_stop(&srv, &ss) || e || ss.not_ok) goto done;

  memset(&va, 0, sizeof va);
  memcpy(va.a, da.home, sizeof va.a);
  memcpy(va.b, db.home, sizeof va.b);
  va.run = &run;
  va.n = n;
  if (sh_child_run(verify_fn, &va, &out->v, sizeof out->v, NULL)) goto done;
  fprintf(stderr,
          "  W4 run %d: converge %.3f s (wall %.3f s), A==B %d, A==server %d, server "
          "conflicts %lld (amount %lld), device conflicts %lld, rows %lld, notes \"A: \" %lld, "
          "qty+1 %lld, amount A-wins %lld B-wins %lld, other %lld\n",
          k + 1, out->secs, out->wall, out->v.a_eq_b, out->v.a_eq_hq,
          (long long)out->v.hq_conflicts, (long long)out->v.hq_conflicts_amount,
          (long long)out->dev_conflicts, (long long)out->v.rows, (long long)out->v.notes_a,
          (long long)out->v.qty_ok, (long long)out->v.amount_a, (long long)out->v.amount_b,
          (long long)out->v.other);
  ok = 1;
done:
  sh_run_remove(&run);
  return ok ? 0 : -1;
}

int main(int argc, char **argv) {
  static w4 r[MAX_RUNS];
  char base[PATH_MAX - 1024];
  size_t n = 10000;
  int runs = 3, all_ok = 1;
  double v[MAX_RUNS], med, lo, hi;
  if (argc > 3) {
    fprintf(stderr, "usage: %s [runs=3] [N=10000]\n", argv[0]);
    return 2;
  }
  if (argc > 1) runs = (int)wl_arg("bench_conflict", argv[1], "runs", 1, MAX_RUNS);
  if (argc > 2) n = wl_arg("bench_conflict", argv[2], "N", 1, 10000000);
  if (wl_tmpdir(base, sizeof base, "bench-conflict")) return 1;
  for (int k = 0; k < runs; k++) {
    if (run_w4(base, k, n, &r[k])) {
      rmdir(base);
      return 1;
    }
    const verify_res *x = &r[k].v;
    all_ok &= x->a_eq_b && x->a_eq_hq && x->hq_conflicts == (int64_t)n &&
              x->hq_conflicts_amount == (int64_t)n && x->rows == (int64_t)n &&
              x->notes_a == (int64_t)n && x->qty_ok == (int64_t)n && x->other == 0;
  }
  rmdir(base);
  const verify_res *x = &r[runs - 1].v;
  printf(
      "W4 conflict: N=%zu records edited on A (amount, note) and B (amount, qty), syncs A,B,A,B, "
      "%d run%s, median (range); checks from the last run\n",
      n, runs, runs > 1 ? "s" : "");
  for (int i = 0; i < runs; i++) v[i] = r[i].secs;
  sh_stats(v, (size_t)runs, &med, &lo, &hi);
  printf("W4 time to converge: %.3f s (%.3f-%.3f), four fs_sync calls\n", med, lo, hi);
  printf("W4 conflicts logged at the server: %lld (all on amount: %lld), expected %zu\n",
         (long long)x->hq_conflicts, (long long)x->hq_conflicts_amount, n);
  printf("W4 identical exports: device A = device B: %s, device A = server: %s\n",
         x->a_eq_b ? "yes" : "NO", x->a_eq_hq ? "yes" : "NO");
  printf("W4 disjoint edits kept: notes \"A: \"+note %lld of %zu, qty = original+1 %lld of %zu;"
         " amount = A's %lld, B's %lld, neither %lld\n",
         (long long)x->notes_a, n, (long long)x->qty_ok, n, (long long)x->amount_a,
         (long long)x->amount_b, (long long)x->other);
  printf("W4 verdict: %s in every run\n", all_ok ? "converged, nothing lost" : "FAILED");
  return all_ok ? 0 : 1;
}
