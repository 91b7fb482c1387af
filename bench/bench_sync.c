/*
 * bench_sync.c — workloads W1 (push), W2 (pull), W3 (fan-in) and M (memory)
 * of WORKLOAD.md, end to end through fs_sync and the real server over HTTPS
 * on 127.0.0.1.
 *
 * W1: a device holds N unsynced records (seed 1, device 0, inserted with
 * fs_insert in one transaction before any timing); fs_sync pushes them all
 * (encode, compress, encrypt, sign, HTTPS, verify, decrypt, merge,
 * acknowledge) and then finds nothing to pull.  W2: a second device,
 * enrolled but empty, pulls the N records with fs_sync.  Timed: the fs_sync
 * call only.  W3: 8 devices with 5,000 records each (devices 1..8) start
 * fs_sync at the same instant (a pipe barrier), then a ninth pulls all
 * 40,000; fs_sync pushes and then pulls, so each of the 8 also pulls what
 * the others pushed before it; the push phase ends at each device's last
 * push acknowledgement (progress callback; W1 and W2 pass none, as an
 * application syncing in the background would).  M: W1 and W2 with N = 100,000
 * and N = 1,000,000, peak RSS side by side.
 *
 * The server is server-stub/https/https.c + fs_hq_handle on a home created with
 * the bench schema (fs_hq_create_schema), in its own process, restarted per
 * phase so its peak RSS is that phase's; each device action runs in its own
 * process too (sync_harness.h).  Bytes on the wire are the request and
 * response bodies counted at the server's handler (HTTP headers and TLS
 * framing not included), divided by N.  Server merge rate: rows acknowledged
 * over the time push requests held the server (verify, decrypt, decode,
 * merge, commit).
 *
 * Device stores are encrypted (every device home is); with
 * FS_BENCH_HQ_ENCRYPT=1 head office's store is encrypted at rest too
 * (fs_hq_create_encrypted), and each figure line says which.
 *
 * Usage: bench_sync [all|w1|w3|m] [runs=3] [N=100000].  `all` (default) is
 * W1+W2 and W3; `m` runs W1+W2 at N and at 10*N (runs default 1).  One line
 * per figure on stdout (median and range over the runs), detail on stderr.
 */
#include "sync_harness.h"
#include "workload.h"

#include <errno.h>
#include <fieldsync/device.h>
#include <fieldsync/server.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RUNS 101
#define W3_DEVICES 8
#define W3_RECORDS 5000

/* ------------------------------------------------------------ children */

typedef struct create_arg {
  char home[PATH_MAX];
  uint32_t device;
  size_t n;
} create_arg;

static int create_fn(void *arg, void *res) {
  create_arg *a = arg;
  double t0 = sh_now();
  if (sh_device_create(a->home, 1, a->device, a->n)) return -1;
  *(double *)res = sh_now() - t0;
  return 0;
}

typedef struct enroll_arg {
  char home[PATH_MAX];
  const sh_run *run;
  const char *url, *token;
} enroll_arg;

static int enroll_fn(void *arg, void *res) {
  enroll_arg *a = arg;
  (void)res;
  return sh_device_enroll(a->home, a->url, a->token, a->run->cert);
}

typedef struct sync_arg {
  char home[PATH_MAX];
  int go_r, go_w; /* barrier: wait for EOF on go_r; -1 = none */
} sync_arg;

typedef struct sync_res {
  fs_sync_stats stats;
  double t_start, t_push_end, t_end; /* CLOCK_MONOTONIC, system-wide */
} sync_res;

static int on_progress(void *user, const char *phase, int64_t done, int64_t total) {
  (void)done;
  (void)total;
  if (!strcmp(phase, "push")) ((sync_res *)user)->t_push_end = sh_now();
  return 0;
}

static int sync_fn(void *arg, void *res) {
  sync_arg *a = arg;
  sync_res *r = res;
  fs_device *dev = NULL;
  int rc = sh_device_open(&dev, a->home);
  if (rc) {
    fprintf(stderr, "bench_sync: open %s: %s\n", a->home, fs_errmsg());
    return -1;
  }
  if (a->go_r >= 0) {
    char c;
    close(a->go_w);
    while (read(a->go_r, &c, 1) > 0) {
    }
  }
  r->t_start = sh_now();
  fs_sync_opts so = FS_SYNC_OPTS_INIT;
  so.progress = a->go_r >= 0 ? on_progress : NULL;
  so.user = r;
  r->stats = (fs_sync_stats)FS_SYNC_STATS_INIT;
  rc = fs_sync(&r->stats, dev, &so);
  r->t_end = sh_now();
  if (!r->t_push_end) r->t_push_end = r->t_start;
  if (rc) fprintf(stderr, "bench_sync: sync %s: %s (%s)\n", a->home, fs_errmsg(), fs_strerror(rc));
  fs_device_close(dev);
  return rc ? -1 : 0;
}

/* ----------------------------------------------------------- W1 and W2 */

typedef struct w12 {
  double push_rate, pull_rate;
  double push_bpr, pull_bpr; /* bytes per record */
  double push_client_mb, push_server_mb, pull_client_mb, pull_server_mb;
  double push_server_s, pull_server_s; /* time requests held the server */
} w12;

static void home_of(char out[PATH_MAX], const sh_run *run, const char *name) {
  snprintf(out, PATH_MAX, "%s/%s", run->dir, name);
}

static int enroll(sh_run *run, const char *url, const char *name, const char *token) {
  enroll_arg ea;
  memset(&ea, 0, sizeof ea);
  home_of(ea.home, run, name);
  ea.run = run;
  ea.url = url;
  ea.token = token;
  return sh_child_run(enroll_fn, &ea, NULL, 0, NULL);
}

static int run_w12(const char *base, int k, size_t n, w12 *out) {
  sh_run run;
  sh_server srv;
  sh_server_stats ss;
  char dir[PATH_MAX - 512], tokens[2][64];
  create_arg ca;
  sync_arg sa;
  sync_res sr;
  double secs;
  long rss;
  int ok = 0;
  snprintf(dir, sizeof dir, "%s/w12-%d", base, k);
  if (sh_run_init(&run, dir) || sh_tokens(&run, 2, tokens)) goto done;
  memset(&ca, 0, sizeof ca);
  home_of(ca.home, &run, "dev-a");
  ca.n = n;
  if (sh_child_run(create_fn, &ca, &secs, sizeof secs, &rss)) goto done;
  fprintf(stderr, "  setup: %zu records inserted in %.2f s (rss %.1f MB)\n", n, secs, rss / 1024.0);
  home_of(ca.home, &run, "dev-b");
  ca.n = 0;
  if (sh_child_run(create_fn, &ca, &secs, sizeof secs, NULL)) goto done;
  if (sh_server_start(&srv, &run)) goto done;
  int e = enroll(&run, srv.url, "dev-a", tokens[0]) || enroll(&run, srv.url, "dev-b", tokens[1]);
  if (sh_server_stop(&srv, &ss) || e) goto done;

  /* W1: push. */
  memset(&sa, 0, sizeof sa);
  sa.go_r = sa.go_w = -1;
  home_of(sa.home, &run, "dev-a");
  if (sh_server_start(&srv, &run)) goto done;
  e = sh_child_run(sync_fn, &sa, &sr, sizeof sr, &rss);
  if (sh_server_stop(&srv, &ss) || e) goto done;
  if (sr.stats.pushed != (int64_t)n || ss.rows_acked != n || ss.not_ok) {
    fprintf(stderr, "bench_sync: W1 pushed %lld, server acknowledged %llu, %llu errors\n",
            (long long)sr.stats.pushed, (unsigned long long)ss.rows_acked,
            (unsigned long long)ss.not_ok);
    goto done;
  }
  secs = sr.t_end - sr.t_start;
  out->push_rate = (double)n / secs;
  out->push_bpr = (double)(ss.bytes_in + ss.bytes_out) / (double)n;
  out->push_client_mb = rss / 1024.0;
  out->push_server_mb = ss.maxrss_kb / 1024.0;
  out->push_server_s = ss.push_handler_s + ss.pull_handler_s;
  fprintf(stderr,
          "  W1 run %d: %.3f s, %.0f records/s, %lld batches, %.1f B/record (push %.1f in"
          " + %.1f out), server held %.3f s, client %.1f MB, server %.1f MB\n",
          k + 1, secs, out->push_rate, (long long)sr.stats.batches, out->push_bpr,
          (double)ss.push_bytes_in / (double)n, (double)ss.push_bytes_out / (double)n,
          out->push_server_s, out->push_client_mb, out->push_server_mb);

  /* W2: pull. */
  home_of(sa.home, &run, "dev-b");
  if (sh_server_start(&srv, &run)) goto done;
  e = sh_child_run(sync_fn, &sa, &sr, sizeof sr, &rss);
  if (sh_server_stop(&srv, &ss) || e) goto done;
  if (sr.stats.pulled != (int64_t)n || ss.not_ok) {
    fprintf(stderr, "bench_sync: W2 pulled %lld of %zu, %llu errors\n", (long long)sr.stats.pulled,
            n, (unsigned long long)ss.not_ok);
    goto done;
  }
  secs = sr.t_end - sr.t_start;
  out->pull_rate = (double)n / secs;
  out->pull_bpr = (double)(ss.bytes_in + ss.bytes_out) / (double)n;
  out->pull_client_mb = rss / 1024.0;
  out->pull_server_mb = ss.maxrss_kb / 1024.0;
  out->pull_server_s = ss.push_handler_s + ss.pull_handler_s;
  fprintf(stderr,
          "  W2 run %d: %.3f s, %.0f records/s, %lld batches, %.1f B/record, server held"
          " %.3f s, client %.1f MB, server %.1f MB\n",
          k + 1, secs, out->pull_rate, (long long)sr.stats.batches, out->pull_bpr,
          out->pull_server_s, out->pull_client_mb, out->pull_server_mb);
  ok = 1;
done:
  sh_run_remove(&run);
  return ok ? 0 : -1;
}

#define FIELD(arr, f)                                                                              \
  do {                                                                                             \
    for (int i_ = 0; i_ < runs; i_++) v[i_] = (arr)[i_].f;                                         \
    sh_stats(v, (size_t)runs, &med, &lo, &hi);                                                     \
  } while (0)

static int bench_w12(const char *base, int runs, size_t n) {
  static w12 r[MAX_RUNS];
  double v[MAX_RUNS], med, lo, hi, bpr, cmb, smb;
  for (int k = 0; k < runs; k++)
    if (run_w12(base, k, n, &r[k])) return -1;
  FIELD(r, push_bpr);
  bpr = med;
  FIELD(r, push_client_mb);
  cmb = med;
  FIELD(r, push_server_mb);
  smb = med;
  FIELD(r, push_rate);
  printf("W1 push: %.0f records/s (%.0f-%.0f), %.1f bytes/record, client RSS %.1f MB, "
         "server RSS %.1f MB\n",
         med, lo, hi, bpr, cmb, smb);
  FIELD(r, pull_bpr);
  bpr = med;
  FIELD(r, pull_client_mb);
  cmb = med;
  FIELD(r, pull_server_mb);
  smb = med;
  FIELD(r, pull_rate);
  printf("W2 pull: %.0f records/s (%.0f-%.0f), %.1f bytes/record, client RSS %.1f MB, "
         "server RSS %.1f MB\n",
         med, lo, hi, bpr, cmb, smb);
  return 0;
}

/* ------------------------------------------------------------------ W3 */

typedef struct w3 {
  double total_s, push_s, pull9_s, server_mb, merge_rate;
  long errors;
} w3;

static int run_w3(const char *base, int k, w3 *out) {
  sh_run run;
  sh_server srv;
  sh_server_stats ss;
  char dir[PATH_MAX - 512], tokens[W3_DEVICES + 1][64], name[32];
  create_arg ca;
  sync_arg sa[W3_DEVICES + 1];
  sync_res sr[W3_DEVICES + 1];
  sh_child ch[W3_DEVICES];
  int go[2] = {-1, -1};
  double secs;
  int ok = 0, e = 0;
  long errors = 0;
  snprintf(dir, sizeof dir, "%s/w3-%d", base, k);
  if (sh_run_init(&run, dir) || sh_tokens(&run, W3_DEVICES + 1, tokens)) goto done;
  for (int d = 0; d <= W3_DEVICES; d++) {
    memset(&ca, 0, sizeof ca);
    snprintf(name, sizeof name, "dev-%d", d + 1);
    home_of(ca.home, &run, name);
    ca.device = (uint32_t)(d + 1);
    ca.n = d < W3_DEVICES ? W3_RECORDS : 0;
    if (sh_child_run(create_fn, &ca, &secs, sizeof secs, NULL)) goto done;
  }
  if (sh_server_start(&srv, &run)) goto done;
  for (int d = 0; d <= W3_DEVICES && !e; d++) {
    snprintf(name, sizeof name, "dev-%d", d + 1);
    e = enroll(&run, srv.url, name, tokens[d]);
  }
  if (sh_server_stop(&srv, &ss) || e) goto done;

  if (sh_server_start(&srv, &run)) goto done;
  if (pipe(go) != 0) {
    sh_server_stop(&srv, &ss);
    goto done;
  }
  int started = 0;
  for (int d = 0; d < W3_DEVICES; d++) {
    memset(&sa[d], 0, sizeof sa[d]);
    snprintf(name, sizeof name, "dev-%d", d + 1);
    home_of(sa[d].home, &run, name);
    sa[d].go_r = go[0];
    sa[d].go_w = go[1];
    if (sh_child_start(&ch[d], sync_fn, &sa[d], sizeof sr[d])) break;
    started++;
  }
  usleep(200000); /* let every child open its store */
  double t0 = sh_now();
  close(go[1]);
  close(go[0]);
  double push_end = t0;
  for (int d = 0; d < started; d++) {
    if (sh_child_wait(&ch[d], &sr[d], NULL) || sr[d].stats.pushed != W3_RECORDS) {
      errors++;
      continue;
    }
    if (sr[d].t_push_end > push_end) push_end = sr[d].t_push_end;
  }
  errors += W3_DEVICES - started;
  memset(&sa[W3_DEVICES], 0, sizeof sa[W3_DEVICES]);
  snprintf(name, sizeof name, "dev-%d", W3_DEVICES + 1);
  home_of(sa[W3_DEVICES].home, &run, name);
  sa[W3_DEVICES].go_r = sa[W3_DEVICES].go_w = -1;
  if (sh_child_run(sync_fn, &sa[W3_DEVICES], &sr[W3_DEVICES], sizeof sr[0], NULL) ||
      sr[W3_DEVICES].stats.pulled != W3_DEVICES * W3_RECORDS)
    errors++;
  double t_end = sh_now();
  if (sh_server_stop(&srv, &ss)) errors++;
  errors += (long)ss.not_ok;
  if (ss.rows_acked != W3_DEVICES * W3_RECORDS) errors++;
  out->total_s = t_end - t0;
  out->push_s = push_end - t0;
  out->pull9_s = sr[W3_DEVICES].t_end - sr[W3_DEVICES].t_start;
  out->server_mb = ss.maxrss_kb / 1024.0;
  out->merge_rate = ss.push_handler_s > 0 ? (double)ss.rows_acked / ss.push_handler_s : 0;
  out->errors = errors;
  fprintf(stderr,
          "  W3 run %d: total %.3f s (all pushed after %.3f s, 8 syncs done after %.3f s,"
          " ninth pull %.3f s of %lld rows), server held push %.3f s / pull %.3f s,"
          " %llu requests, %.1f MB, errors %ld\n",
          k + 1, out->total_s, out->push_s, out->total_s - out->pull9_s, out->pull9_s,
          (long long)sr[W3_DEVICES].stats.pulled, ss.push_handler_s, ss.pull_handler_s,
          (unsigned long long)ss.requests, out->server_mb, errors);
  ok = 1;
done:
  sh_run_remove(&run);
  return ok ? 0 : -1;
}

static int bench_w3(const char *base, int runs) {
  static w3 r[MAX_RUNS];
  double v[MAX_RUNS], med, lo, hi, push, pull, mb, rate, rlo, rhi;
  long errors = 0;
  for (int k = 0; k < runs; k++) {
    if (run_w3(base, k, &r[k])) return -1;
    errors += r[k].errors;
  }
  FIELD(r, push_s);
  push = med;
  FIELD(r, pull9_s);
  pull = med;
  FIELD(r, server_mb);
  mb = med;
  FIELD(r, merge_rate);
  rate = med, rlo = lo, rhi = hi;
  FIELD(r, total_s);
  printf("W3 fan-in: %d x %d push + 1 x %d pull: total %.2f s (%.2f-%.2f), all pushed "
         "after %.2f s, ninth pull %.2f s, server RSS %.1f MB, errors %ld, server merge "
         "%.0f records/s (%.0f-%.0f)\n",
         W3_DEVICES, W3_RECORDS, W3_DEVICES * W3_RECORDS, med, lo, hi, push, pull, mb, errors, rate,
         rlo, rhi);
  return 0;
}

/* ------------------------------------------------------------------- M */

static int bench_m(const char *base, int runs, size_t n) {
  static w12 r[2][MAX_RUNS];
  size_t ns[2] = {n, n * 10};
  double v[MAX_RUNS], med, lo, hi, f[2][6];
  for (int j = 0; j < 2; j++) {
    for (int k = 0; k < runs; k++)
      if (run_w12(base, j * runs + k, ns[j], &r[j][k])) return -1;
    FIELD(r[j], push_client_mb);
    f[j][0] = hi;
    FIELD(r[j], push_server_mb);
    f[j][1] = hi;
    FIELD(r[j], pull_client_mb);
    f[j][2] = hi;
    FIELD(r[j], pull_server_mb);
    f[j][3] = hi;
    FIELD(r[j], push_rate);
    f[j][4] = med;
    FIELD(r[j], pull_rate);
    f[j][5] = med;
  }
  printf("M memory: peak RSS at N=%zu vs N=%zu (max of %d run%s): W1 client %.1f vs %.1f MB,"
         " server %.1f vs %.1f MB; W2 client %.1f vs %.1f MB, server %.1f vs %.1f MB\n",
         ns[0], ns[1], runs, runs > 1 ? "s" : "", f[0][0], f[1][0], f[0][1], f[1][1], f[0][2],
         f[1][2], f[0][3], f[1][3]);
  printf("M rates: W1 %.0f vs %.0f records/s, W2 %.0f vs %.0f records/s\n", f[0][4], f[1][4],
         f[0][5], f[1][5]);
  return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "all";
  char base[PATH_MAX - 1024];
  size_t n = 100000;
  int runs, rc = 0;
  if (argc > 4 ||
      (strcmp(mode, "all") && strcmp(mode, "w1") && strcmp(mode, "w3") && strcmp(mode, "m"))) {
    fprintf(stderr, "usage: %s [all|w1|w3|m] [runs=3, m: 1] [N=100000]\n", argv[0]);
    return 2;
  }
  runs = !strcmp(mode, "m") ? 1 : 3;
  if (argc > 2) runs = (int)wl_arg("bench_sync", argv[2], "runs", 1, MAX_RUNS);
  if (argc > 3) n = wl_arg("bench_sync", argv[3], "N", 1, 100000000);
  if (wl_tmpdir(base, sizeof base, "bench-sync")) return 1;
  printf("sync: real server over HTTPS on 127.0.0.1, each side its own process, %d run%s, "
         "median (range); bytes = request + response bodies per record\n",
         runs, runs > 1 ? "s" : "");
  const char *hq_enc = getenv("FS_BENCH_HQ_ENCRYPT");
  printf("stores: device stores encrypted, head office store %s\n",
         hq_enc && !strcmp(hq_enc, "1") ? "encrypted (FS_BENCH_HQ_ENCRYPT=1)" : "plain");
  fflush(stdout);
  if (!strcmp(mode, "all") || !strcmp(mode, "w1")) {
    fprintf(stderr, "W1/W2, N=%zu\n", n);
    rc |= bench_w12(base, runs, n);
    fflush(stdout);
  }
  if (!strcmp(mode, "all") || !strcmp(mode, "w3")) {
    fprintf(stderr, "W3, %d x %d\n", W3_DEVICES, W3_RECORDS);
    rc |= bench_w3(base, runs);
  }
  if (!strcmp(mode, "m")) {
    fprintf(stderr, "M, N=%zu and %zu\n", n, n * 10);
    rc |= bench_m(base, runs, n);
  }
  rmdir(base);
  return rc ? 1 : 0;
}
