/*
 * sync_harness.h — what bench_sync and bench_conflict share: a head office
 * and devices for the `records` table of workload.h, each side in its own
 * process so that its peak RSS is its own.
 *
 * The server is the real HTTPS front end (server-stub/https/https.c) calling the
 * real protocol handler (fs_hq_handle), exactly as `fieldsync-server serve`
 * does, but on a home created with the bench schema (fs_hq_create_schema):
 * the server binary has no schema option.  It runs in a forked child until
 * sh_server_stop, which collects what the child counted at the handler (body
 * bytes in and out, requests, non-200 answers, rows acknowledged, the time
 * push and pull requests held the server) and its peak RSS (wait4).
 * Request log lines go to HOME/server.log, not to the bench's stderr.
 *
 * Device work (creating a store, inserting, enrolling, syncing) runs in
 * forked children too (sh_child_*): the child starts with the pages of a
 * small parent, so its ru_maxrss is that of the work it did.  The parent
 * therefore keeps no large data.
 */
#ifndef FS_BENCH_SYNC_HARNESS_H
#define FS_BENCH_SYNC_HARNESS_H

#include <fieldsync/device.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SH_MANAGER "bench"

/* A run directory: the server home, its certificate, device homes below. */
typedef struct sh_run {
  char dir[PATH_MAX - 256];
  char hq[PATH_MAX - 192];
  char cert[PATH_MAX];
  char key[PATH_MAX];
  int port; /* 0 until the first server start; restarts reuse it, since
               enrolled devices keep the server's URL */
} sh_run;

/* Creates dir/hq with the bench schema, server keys and a self-signed
 * certificate.  -1 with a message on stderr. */
int sh_run_init(sh_run *r, const char *dir);
/* Removes everything under r->dir and the directory itself. */
void sh_run_remove(const sh_run *r);

/* `n` one-time enrollment tokens (each char[64]) from the server home; the
 * server must not be running.  -1 with a message. */
int sh_tokens(const sh_run *r, size_t n, char (*tokens)[64]);

typedef struct sh_server_stats {
  uint64_t requests, not_ok; /* not_ok: answers other than 200 */
  uint64_t push_requests, pull_requests;
  uint64_t bytes_in, bytes_out; /* request and response bodies */
  uint64_t push_bytes_in, push_bytes_out, pull_bytes_in, pull_bytes_out;
  uint64_t rows_acked;   /* sum of "rows" of the push acks */
  double push_handler_s; /* time push requests held the server */
  double pull_handler_s; /* time pull requests held the server */
  long maxrss_kb;        /* the server process's peak RSS */
} sh_server_stats;

typedef struct sh_server {
  pid_t pid;
  int fd; /* reads the port, then the stats */
  int port;
  char url[64];
} sh_server;

/* Starts the server on 127.0.0.1 in a child process: on a free port the
 * first time (remembered in r->port), on the same port afterwards.  -1 with
 * a message. */
int sh_server_start(sh_server *s, sh_run *r);
/* SIGTERM, then the child's counters and peak RSS.  -1 with a message. */
int sh_server_stop(sh_server *s, sh_server_stats *out);

/* A child process running fn(arg, result) (result: `size` bytes, zeroed
 * first, sent back to the parent).  fn returns 0 or -1 (after printing
 * why).  sh_child_start + sh_child_wait run several at once; sh_child_run
 * is both.  *maxrss_kb (may be NULL) gets the child's peak RSS. */
typedef int (*sh_child_fn)(void *arg, void *result);
typedef struct sh_child {
  pid_t pid;
  int fd;
  size_t size;
} sh_child;
int sh_child_start(sh_child *c, sh_child_fn fn, void *arg, size_t size);
int sh_child_wait(sh_child *c, void *result, long *maxrss_kb);
int sh_child_run(sh_child_fn fn, void *arg, void *result, size_t size, long *maxrss_kb);

/* Device helpers, for use inside children.  sh_device_create makes a device
 * home with the bench schema and inserts records 0..n-1 of (seed, device)
 * with the generator's ids, in one transaction.  sh_device_enroll enrolls it
 * (trusting the run's certificate).  -1 with a message. */
int sh_device_create(const char *home, uint32_t seed, uint32_t device, size_t n);
/* Opens a device home made by sh_device_create and unlocks it: with the key
 * sh_device_create cached in the session keyring for an hour, else with
 * the benchmarks' passphrase (SH_PASSPHRASE; Argon2id at the cost the key
 * file records, outside every timed section, but its 256 MiB then count in
 * that child's peak RSS).  Devices are encrypted as every home is. */
#define SH_PASSPHRASE "fieldsync bench passphrase"
int sh_device_open(fs_device **out, const char *home);
int sh_device_enroll(const char *home, const char *url, const char *token, const char *cert);

/* Seconds on CLOCK_MONOTONIC. */
double sh_now(void);

/* Median, min and max of v[0..n), n <= 101 (v unchanged). */
void sh_stats(const double *v, size_t n, double *med, double *lo, double *hi);

#endif
