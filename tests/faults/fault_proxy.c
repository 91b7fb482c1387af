/*
 * fault_proxy.c — a TCP proxy on 127.0.0.1 for the fault suite that breaks
 * connections on purpose: between a device and head office it forwards the
 * bytes (TLS passes through untouched) and, on a share of the connections,
 * resets both sides or stalls one direction at a chosen byte offset.
 *
 *   fault_proxy --target PORT --port-file FILE [--seed N] [--reset PCT]
 *               [--stall PCT] [--max-offset BYTES] [--stall-ms MIN-MAX]
 *               [--arm-file FILE] [--force-file FILE]
 *
 * Listens on 127.0.0.1 (a free port, written to --port-file) and connects
 * each accepted connection to 127.0.0.1:PORT.  The plan of connection number
 * i (0, 1, ...) is drawn from (seed, i) alone, so a run is reproducible from
 * the seed it prints however the connections interleave: with --reset PCT
 * percent it is reset (SO_LINGER 0, then close: an RST to both ends) once
 * OFFSET bytes went one way, with --stall PCT percent that direction stops
 * for a while at OFFSET (and one stall in four ends in a reset).  The
 * direction is client-to-server or server-to-client with equal odds; OFFSET
 * is log-uniform in 1..--max-offset for half the plans and uniform for the
 * other half, so the TLS handshake, a request's headers, a short answer (an
 * acknowledgement), a push body and a pull answer are all hit.  Faults are planned
 * only for connections accepted while --arm-file exists (always when the
 * option is not given), so a test can enroll first and break things after.
 * While --force-file exists, every new connection follows the plan written
 * in it instead of a drawn one ("reset c2s 65536" or "stall s2c 20000 1500":
 * kind, direction, offset, stall milliseconds); the proxy removes the file
 * when a forced fault fires, so a test can make sure a fault lands deep in
 * a large transfer whatever the seed drew.
 *
 * Every fault that fires is one line on stderr ("conn 7: reset c2s at byte
 * 48213", "conn 9: stall s2c at byte 2210 for 900 ms"); on SIGTERM or
 * SIGINT it prints "fault_proxy: N connections, R resets, S stalls (seed
 * X)" and exits 0.  Single-threaded: one poll() loop, non-blocking sockets,
 * a bounded buffer per direction.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define BUF_SIZE 65536

enum { PASS, RESET, STALL };
static const char *const dir_name[2] = {"c2s", "s2c"};

typedef struct {
  int fd[2];             /* [0] the client, [1] head office */
  unsigned char *buf[2]; /* [d]: read from fd[d], to be written to fd[1-d] */
  size_t len[2], off[2];
  uint64_t moved[2]; /* bytes read from fd[d] so far */
  int eof[2];        /* fd[d] said EOF (its peer gets SHUT_WR once drained) */
  int kind, dir, fired, then_reset, forced;
  uint64_t at;
  long stall_ms;
  long long stalled_until;
  int id;
} conn;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64 of (seed, connection, draw): the plan depends on nothing else. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
static uint64_t draw(uint64_t seed, int conn_no, int k) {
  return mix(mix(seed ^ ((uint64_t)conn_no << 20)) + (uint64_t)k);
}
static double unit(uint64_t r) { return (double)(r >> 11) / 9007199254740992.0; }

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void hard_close(int fd) {
  struct linger l = {1, 0};
  if (fd < 0) return;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

static void conn_close(conn *c, int reset) {
  for (int d = 0; d < 2; d++) {
    if (c->fd[d] >= 0) {
      if (reset)
        hard_close(c->fd[d]);
      else
        close(c->fd[d]);
    }
    c->fd[d] = -1;
    free(c->buf[d]);
    c->buf[d] = NULL;
  }
}

/* Replaces c's drawn plan by the one in `path`, when that file exists and
 * reads as "KIND DIR OFFSET [STALL_MS]". */
static void force_plan(conn *c, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char kind[16], dir[16];
  unsigned long long at = 0;
  long ms = 1000;
  int n = fscanf(f, "%15s %15s %llu %ld", kind, dir, &at, &ms);
  fclose(f);
  if (n < 3 || at < 1) return;
  c->kind = !strcmp(kind, "reset") ? RESET : !strcmp(kind, "stall") ? STALL : PASS;
  c->dir = !strcmp(dir, "s2c");
  c->at = at;
  c->stall_ms = ms;
  c->then_reset = 0;
  c->forced = c->kind != PASS;
}

static int usage(void) {
  fprintf(stderr, "usage: fault_proxy --target PORT --port-file FILE [--seed N] [--reset PCT] "
                  "[--stall PCT] [--max-offset BYTES] [--stall-ms MIN-MAX] [--arm-file FILE] "
                  "[--force-file FILE]\n");
  return 2;
}

int main(int argc, char **argv) {
  int target = 0, reset_pct = 0, stall_pct = 0;
  long stall_min = 100, stall_max = 2000;
  double max_offset = 1 << 20;
  const char *port_file = NULL, *arm_file = NULL, *force_file = NULL;
  uint64_t seed = (uint64_t)time(NULL) % 1000000000u;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    if (!strcmp(argv[i], "--target"))
      target = atoi(v);
    else if (!strcmp(argv[i], "--port-file"))
      port_file = v;
    else if (!strcmp(argv[i], "--seed"))
      seed = strtoull(v, NULL, 10);
    else if (!strcmp(argv[i], "--reset"))
      reset_pct = atoi(v);
    else if (!strcmp(argv[i], "--stall"))
      stall_pct = atoi(v);
    else if (!strcmp(argv[i], "--max-offset"))
      max_offset = atof(v);
    else if (!strcmp(argv[i], "--stall-ms")) {
      if (sscanf(v, "%ld-%ld", &stall_min, &stall_max) != 2 || stall_min > stall_max)
        return usage();
    } else if (!strcmp(argv[i], "--arm-file"))
      arm_file = v;
    else if (!strcmp(argv[i], "--force-file"))
      force_file = v;
    else
      return usage();
    i++;
  }
  if (target <= 0 || target > 65535 || !port_file || max_offset < 1) return usage();

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
    fprintf(stderr, "fault_proxy: cannot listen on 127.0.0.1: %s\n", strerror(errno));
    return 1;
  }
  set_nonblock(lfd);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
  FILE *pf = fopen(tmp, "w");
  if (!pf || fprintf(pf, "%d\n", ntohs(a.sin_port)) < 0 || fclose(pf) != 0 ||
      rename(tmp, port_file) != 0) {
    fprintf(stderr, "fault_proxy: cannot write %s\n", port_file);
    return 1;
  }
  fprintf(stderr, "fault_proxy: 127.0.0.1:%d -> 127.0.0.1:%d, seed %llu, reset %d%%, stall %d%%\n",
          ntohs(a.sin_port), target, (unsigned long long)seed, reset_pct, stall_pct);

  static conn conns[MAX_CONNS];
  int nconn = 0, accepted = 0, resets = 0, stalls = 0;
  while (!g_stop) {
    struct pollfd pfd[1 + 2 * MAX_CONNS];
    int owner[1 + 2 * MAX_CONNS], side[1 + 2 * MAX_CONNS], n = 0;
    long long now = now_ms(), wake = now + 200;
    pfd[n].fd = lfd;
    pfd[n].events = nconn < MAX_CONNS ? POLLIN : 0;
    owner[n++] = -1;
    for (int i = 0; i < nconn; i++) {
      conn *c = &conns[i];
      for (int d = 0; d < 2; d++) {
        short ev = 0;
        int stalled = c->kind == STALL && c->fired && c->dir == d && now < c->stalled_until;
        if (stalled && c->stalled_until < wake) wake = c->stalled_until;
        if (!c->eof[d] && c->len[d] == 0 && !stalled) ev |= POLLIN;
        if (c->len[1 - d] > c->off[1 - d]) ev |= POLLOUT;
        pfd[n].fd = c->fd[d];
        pfd[n].events = ev;
        owner[n] = i;
        side[n++] = d;
      }
    }
    int timeout = (int)(wake > now ? wake - now : 0);
    if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) break;
    now = now_ms();
    if (pfd[0].revents & POLLIN) {
      int cfd = accept(lfd, NULL, NULL);
      if (cfd >= 0) {
        int sfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in t = a;
        t.sin_port = htons((uint16_t)target);
        if (sfd < 0 || connect(sfd, (struct sockaddr *)&t, sizeof t) != 0) {
          hard_close(cfd);
          if (sfd >= 0) close(sfd);
        } else {
          conn *c = &conns[nconn++];
          memset(c, 0, sizeof *c);
          c->fd[0] = cfd;
          c->fd[1] = sfd;
          c->id = accepted++;
          set_nonblock(cfd);
          set_nonblock(sfd);
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c->buf[0] = malloc(BUF_SIZE);
          c->buf[1] = malloc(BUF_SIZE);
          if (!c->buf[0] || !c->buf[1]) return 1;
          int armed = !arm_file || access(arm_file, F_OK) == 0;
          int r = (int)(draw(seed, c->id, 0) % 100);
          c->kind = !armed                      ? PASS
                    : r < reset_pct             ? RESET
                    : r < reset_pct + stall_pct ? STALL
                                                : PASS;
          c->dir = (int)(draw(seed, c->id, 1) & 1);
          /* half log-uniform (handshakes, headers, small answers), half
           * uniform (deep inside a body) */
          double u = unit(draw(seed, c->id, 2));
          c->at = draw(seed, c->id, 5) & 1 ? (uint64_t)(u * max_offset)
                                           : (uint64_t)exp(u * log(max_offset));
          if (c->at < 1) c->at = 1;
          c->stall_ms =
              stall_min + (long)(draw(seed, c->id, 3) % (uint64_t)(stall_max - stall_min + 1));
          c->then_reset = c->kind == STALL && draw(seed, c->id, 4) % 4 == 0;
          if (force_file && armed) force_plan(c, force_file);
        }
      }
    }
    for (int k = 1; k < n; k++) {
      conn *c = &conns[owner[k]];
      int d = side[k];
      if (c->fd[0] < 0) continue;
      if (pfd[k].revents & POLLOUT) { /* drain the other direction into fd[d] */
        int s = 1 - d;
        ssize_t w = write(c->fd[d], c->buf[s] + c->off[s], c->len[s] - c->off[s]);
        if (w > 0) c->off[s] += (size_t)w;
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          conn_close(c, 1);
          continue;
        }
        if (c->off[s] == c->len[s]) c->off[s] = c->len[s] = 0;
      }
      if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR) && c->len[d] == 0 && !c->eof[d]) {
        size_t want = BUF_SIZE;
        if (c->kind != PASS && !c->fired && c->dir == d) {
          uint64_t left = c->at - c->moved[d];
          if (left < want) want = (size_t)left;
        }
        if (want > 0) {
          ssize_t r = read(c->fd[d], c->buf[d], want);
          if (r > 0) {
            c->len[d] = (size_t)r;
            c->off[d] = 0;
            c->moved[d] += (uint64_t)r;
          } else if (r == 0) {
            c->eof[d] = 1;
          } else if (errno != EAGAIN && errno != EINTR) {
            conn_close(c, 1);
            continue;
          }
        }
      }
    }
    /* faults whose offset was reached, stalls that are over, half-closes */
    for (int i = 0; i < nconn; i++) {
      conn *c = &conns[i];
      if (c->fd[0] < 0) continue;
      if (c->kind != PASS && !c->fired && c->moved[c->dir] >= c->at &&
          c->len[c->dir] == c->off[c->dir]) {
        c->fired = 1;
        if (c->forced) unlink(force_file);
        if (c->kind == RESET) {
          fprintf(stderr, "conn %d: reset %s at byte %llu\n", c->id, dir_name[c->dir],
                  (unsigned long long)c->at);
          resets++;
          conn_close(c, 1);
          continue;
        }
        c->stalled_until = now + c->stall_ms;
        fprintf(stderr, "conn %d: stall %s at byte %llu for %ld ms%s\n", c->id, dir_name[c->dir],
                (unsigned long long)c->at, c->stall_ms, c->then_reset ? ", then reset" : "");
        stalls++;
      }
      if (c->kind == STALL && c->fired && c->then_reset && now >= c->stalled_until) {
        fprintf(stderr, "conn %d: reset %s after the stall\n", c->id, dir_name[c->dir]);
        resets++;
        conn_close(c, 1);
        continue;
      }
      for (int d = 0; d < 2; d++)
        if (c->eof[d] == 1 && c->len[d] == 0) {
          shutdown(c->fd[1 - d], SHUT_WR);
          c->eof[d] = 2;
        }
      if (c->eof[0] == 2 && c->eof[1] == 2) conn_close(c, 0);
    }
    /* compact the table */
    int m = 0;
    for (int i = 0; i < nconn; i++)
      if (conns[i].fd[0] >= 0) conns[m++] = conns[i];
    nconn = m;
  }
  for (int i = 0; i < nconn; i++) conn_close(&conns[i], 0);
  fprintf(stderr, "fault_proxy: %d connections, %d resets, %d stalls (seed %llu)\n", accepted,
          resets, stalls, (unsigned long long)seed);
  return 0;
}
