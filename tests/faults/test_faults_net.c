/*
 * test_faults_net.c — a network that breaks connections: three devices of
 * two managers enrolled through the fault proxy (fault_proxy.c) on
 * 127.0.0.1, which then resets or stalls a share of the connections at
 * random byte offsets in either direction (the TLS handshake, a push body,
 * the answer to a push — a lost acknowledgement —, a pull answer).  The
 * devices write, sync through it again and again until every device has
 * nothing pending and the exports agree, and the suite's whole check holds
 * (faults.h).  The proxy's log proves the faults fired: the case fails
 * when no reset or no stall happened, or when none hit a sync mid-stream.
 *
 * Counts: FS_FAULT_PROXY_ROUNDS rounds of writing and syncing [3] (more,
 * up to four times as many, until a reset, a stall and a fault past the
 * first 16 KiB of a connection have fired; the last of the minimum rounds
 * forces a reset 64 KiB into an upload when none that deep fired yet), each
 * device writing up to FS_FAULT_PROXY_ROWS meetings a round [25000];
 * FS_FAULT_PROXY_RESET / FS_FAULT_PROXY_STALL percent of connections
 * [30 / 25].  The proxy's seed is the suite's (FS_FAULT_SEED).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#ifndef FK_PROXY_PATH
#error "FK_PROXY_PATH (the fault_proxy tool) is set by tests/faults/tests.cmake"
#endif

#define NDEV 3

typedef struct {
  pid_t pid;
  int port;
  char *log, *arm, *force;
} proxy;

static int proxy_start(proxy *p, const char *dir, int target, long reset, long stall) {
  char tport[16], seed[32], rs[16], st[16], *port_file = e2e_path(dir, "proxy.port");
  p->log = e2e_path(dir, "proxy.log");
  p->arm = e2e_path(dir, "proxy.arm");
  p->force = e2e_path(dir, "proxy.force");
  snprintf(tport, sizeof tport, "%d", target);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)fk_seed());
  snprintf(rs, sizeof rs, "%ld", reset);
  snprintf(st, sizeof st, "%ld", stall);
  const char *argv[] = {FK_PROXY_PATH,
                        "--target",
                        tport,
                        "--port-file",
                        port_file,
                        "--seed",
                        seed,
                        "--reset",
                        rs,
                        "--stall",
                        st,
                        "--arm-file",
                        p->arm,
                        "--max-offset",
                        "250000",
                        "--stall-ms",
                        "50-2500",
                        "--force-file",
                        p->force,
                        NULL};
  p->pid = e2e_spawn(argv, NULL, p->log);
  p->port = 0;
  for (int i = 0; i < 2000 && p->pid > 0 && !p->port; i++) {
    char *t = tu_read_file(port_file, NULL);
    p->port = t ? atoi(t) : 0;
    free(t);
    if (!p->port) e2e_msleep(5);
  }
  free(port_file);
  return p->port > 0 ? 0 : -1;
}

/* Stops the proxy; its log (caller frees). */
static char *proxy_stop(proxy *p) {
  if (p->pid > 0) {
    kill(p->pid, SIGTERM);
    e2e_wait(p->pid, 10000);
  }
  p->pid = 0;
  char *log = tu_read_file(p->log, NULL);
  free(p->log);
  free(p->arm);
  free(p->force);
  return log;
}

static int count_lines(const char *log, const char *needle) {
  int n = 0;
  for (const char *q = log; q && (q = strstr(q, needle)); q += strlen(needle)) n++;
  return n;
}

/* Faults that fired past `min_offset` bytes into a connection (beyond the
 * TLS handshake: inside a request or an answer). */
static int deep_faults(const char *log, unsigned long long min_offset) {
  int n = 0;
  for (const char *q = log; q && (q = strstr(q, " at byte ")); q += 9)
    if (strtoull(q + 9, NULL, 10) >= min_offset) n++;
  return n;
}

static void test_proxy_resets_stalls(void) {
  long rounds = fk_env("FS_FAULT_PROXY_ROUNDS", 3, 2);
  long rows = fk_env("FS_FAULT_PROXY_ROWS", 25000, 10000);
  long reset = fk_env("FS_FAULT_PROXY_RESET", 30, 30),
       stall = fk_env("FS_FAULT_PROXY_STALL", 25, 25);
  char *dir = tu_tmpdir("faults-proxy");
  long long t0 = fk_now_ms(), written = 0;
  e2e_server *s = e2e_server_new(dir, "hq");
  proxy p = {0, 0, NULL, NULL, NULL};
  fk_device devs[NDEV];
  int ndev = 0, syncs = 0, failed = 0;
  char *log = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  if (proxy_start(&p, dir, s->port, reset, stall)) {
    CHECK(!"the fault proxy did not start");
    goto done;
  }
  /* devices enroll through the proxy (its URL is the one they keep) before
   * it is armed */
  char real_url[64];
  snprintf(real_url, sizeof real_url, "%s", s->url);
  snprintf(s->url, sizeof s->url, "https://127.0.0.1:%d", p.port);
  static const char *const mgr[NDEV] = {"anna", "anna", "ben"};
  static const char *const name[NDEV] = {"anna1", "anna2", "ben1"};
  for (; ndev < NDEV; ndev++)
    if (fk_device_init(__LINE__, &devs[ndev], s, dir, name[ndev], mgr[ndev])) goto done;
  snprintf(s->url, sizeof s->url, "%s", real_url);
  CHECK(tu_write_file(p.arm, "armed\n") == 0);

  /* at least `rounds` rounds, and more (bounded) until the log shows a
   * reset, a stall and a fault deep inside a transfer */
  long max_rounds = rounds * 4 > 8 ? rounds * 4 : 8;
  for (long r = 0; r < max_rounds; r++) {
    if (r >= rounds) {
      char *now = tu_read_file(p.log, NULL);
      int enough = count_lines(now, ": reset ") > 0 && count_lines(now, ": stall ") > 0 &&
                   deep_faults(now, 16384) > 0;
      free(now);
      if (enough) break;
    }
    /* the last round of the minimum makes sure of a fault deep inside a
     * push: every device writes the most rows, and the proxy resets the
     * first connection whose upload passes 64 KiB (whatever the seed drew) */
    int force = 0;
    if (r == rounds - 1) {
      char *now = tu_read_file(p.log, NULL);
      force = deep_faults(now, 16384) == 0;
      free(now);
      if (force) CHECK(tu_write_file(p.force, "reset c2s 65536\n") == 0);
    }
    for (int i = 0; i < NDEV; i++) {
      long n = force ? rows : fk_rand(1, rows);
      CHECK_OK(fk_device_write(&devs[i], n));
      written += n;
      /* and a few edits by hand, through the command line */
      char id[64];
      ADD(devs[i].home, id, "contact", "add", "--customer", devs[i].customer, "--name",
          "Jana Peters");
      FS_RUN(devs[i].home, "customer", "edit", devs[i].customer, "--phone",
             r % 2 ? "+49 1" : "+49 2");
    }
    /* sync every device through the proxy until a whole pass succeeds
     * with nothing pending (bounded) */
    int converged = 0;
    for (int pass = 0; pass < 40 && !converged; pass++) {
      converged = 1;
      for (int i = 0; i < NDEV; i++) {
        char *out = NULL, *err = NULL;
        int rc = e2e_fs(devs[i].home, &out, &err, ARGS("sync", "--json"));
        syncs++;
        cJSON *st = rc == 0 ? cJSON_Parse(out) : NULL;
        if (rc != 0) {
          failed++;
          converged = 0;
          if (getenv("FS_FAULT_VERBOSE")) printf("  sync of %s: exit %d: %s", devs[i].tag, rc, err);
        } else if (e2e_int(st, "pending") != 0 || e2e_int(st, "pushed") != 0 ||
                   e2e_int(st, "pulled") != 0) {
          converged = 0; /* it moved data: go round once more */
        }
        cJSON_Delete(st);
        free(out);
        free(err);
      }
    }
    tu_checks++;
    if (!converged) tu_fail(__FILE__, __LINE__, "round %ld: the devices did not converge", r);
    tu_checks++;
    if (force && access(p.force, F_OK) == 0)
      tu_fail(__FILE__, __LINE__, "round %ld: the forced reset past 64 KiB never fired", r);
  }
  /* the end check goes through the proxy too, disarmed: a device's URL is
   * the proxy's */
  unlink(p.arm);
  fk_check_all(__LINE__, "through the fault proxy", s, devs, ndev, 10);
  log = proxy_stop(&p);
  int resets = count_lines(log, ": reset "), stalls = count_lines(log, ": stall ");
  int deep = deep_faults(log, 16384);
  printf("FAULTS fault proxy: %d syncs (%d failed), %d resets, %d stalls (%d past 16 KiB), "
         "rows %lld, %.1f s\n",
         syncs, failed, resets, stalls, deep, written, (double)(fk_now_ms() - t0) / 1000.0);
  CHECK(resets > 0);
  CHECK(stalls > 0);
  CHECK(deep > 0);
  if (tu_failed || getenv("FS_FAULT_VERBOSE"))
    printf("---- proxy log ----\n%s----\n", log ? log : "");
done:
  if (p.pid > 0) free(proxy_stop(&p));
  free(log);
  for (int i = 0; i < ndev; i++) fk_device_free(&devs[i]);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  fk_seed();
  TEST_RUN(test_proxy_resets_stalls);
  e2e_stop_all();
  return tu_finish();
}
