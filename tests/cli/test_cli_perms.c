/*
 * test_cli_perms.c — what both programs leave on disk is private, through
 * the real `fieldsync` and `fieldsync-server` binaries.
 *
 * Under umask 022, with homes that already exist with mode 0755 (as a person
 * or an installer would make them): the device store and secret keys after
 * `init` and a write; the server store, secret keys and TLS key after
 * `init`; and the server's store-db-wal / -shm while `serve` holds the store
 * open.  Each must be inaccessible to group and others (mode & 077 == 0).
 * Public files (the certificate, the *.pub keys) may be world-readable.
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *path_of(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static void private_at(int line, const char *dir, const char *name) {
  char *p = path_of(dir, name);
  struct stat sb;
  tu_checks++;
  if (stat(p, &sb) != 0)
    tu_fail(__FILE__, line, "%s does not exist: %s", p, strerror(errno));
  else if (sb.st_mode & 077)
    tu_fail(__FILE__, line, "%s has mode %04o: group or others can access it", p,
            (unsigned)(sb.st_mode & 07777));
  free(p);
}
#define PRIVATE(dir, name) private_at(__LINE__, dir, name)

static void ok_at(int line, const char *const *argv) {
  char *err = NULL;
  int rc = tu_run(NULL, &err, argv);
  tu_checks++;
  if (rc != 0) tu_fail(__FILE__, line, "%s %s: exit %d: %s", argv[0], argv[3], rc, err);
  free(err);
}
#define OK(...) ok_at(__LINE__, ARGS(__VA_ARGS__))

static void msleep(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* `fieldsync-server --home HOME serve` on a free port until the port file
 * appears (bounded), then the -wal and -shm of its open store are checked,
 * then SIGTERM. */
static void check_serving(const char *dir, const char *home) {
  char *port = path_of(dir, "hq.port"), *log = path_of(dir, "hq.log");
  char prog[4096];
  const char *bin = getenv("FS_BIN_DIR");
  snprintf(prog, sizeof prog, "%s/fieldsync-server", bin ? bin : ".");
  pid_t pid = fork();
  if (pid == 0) {
    FILE *f = freopen(log, "w", stderr);
    (void)f;
    execl(prog, "fieldsync-server", "--home", home, "serve", "--listen", "127.0.0.1:0",
          "--port-file", port, (char *)NULL);
    _exit(127);
  }
  CHECK(pid > 0);
  int up = 0;
  for (int i = 0; pid > 0 && i < 300 && !up; i++) {
    up = access(port, F_OK) == 0;
    if (!up) msleep(50);
  }
  CHECK(up);
  if (up) {
    PRIVATE(home, "store.db");
    PRIVATE(home, "store.db-wal");
    PRIVATE(home, "store.db-shm");
  } else {
    char *l = tu_read_file(log, NULL);
    fprintf(stderr, "server did not start: %s\n", l ? l : "");
    free(l);
  }
  if (pid > 0) {
    kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 300; i++) {
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = 0;
        break;
      }
      msleep(50);
    }
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
    }
  }
  free(port);
  free(log);
}

static char *g_dir; /* the test's temp dir, mode 0755 */

static void test_device_home(void) {
  char *home = path_of(g_dir, "laptop");
  CHECK(mkdir(home, 0755) == 0 && chmod(home, 0755) == 0);
  OK("fieldsync", "--home", home, "init", "--manager", "anna");
  OK("fieldsync", "--home", home, "customer", "add", "--name", "Nordwind GmbH");
  PRIVATE(home, "store.db");
  PRIVATE(home, "keys");
  PRIVATE(home, "keys/store.key");
  PRIVATE(home, "keys/identity.key");
  free(home);
}

static void test_server_home(void) {
  char *home = path_of(g_dir, "hq");
  CHECK(mkdir(home, 0755) == 0 && chmod(home, 0755) == 0);
  OK("fieldsync-server", "--home", home, "init");
  PRIVATE(home, "store.db");
  PRIVATE(home, "keys/sign.key");
  PRIVATE(home, "keys/kx.key");
  PRIVATE(home, "tls/key.pem");
  check_serving(g_dir, home);
  free(home);
}

int main(void) {
  umask(022);
  g_dir = tu_tmpdir("perms");
  CHECK(chmod(g_dir, 0755) == 0);
  TEST_RUN(test_device_home);
  TEST_RUN(test_server_home);
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
