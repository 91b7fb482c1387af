/*
 * testutil.c — see testutil.h.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tu_failed = 0;
int tu_checks = 0;
const char *tu_case = "";

void tu_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "FAIL [%s] %s:%d: ", tu_case, file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  tu_failed++;
}

static int tu_ran; /* cases TEST_RUN let through */

/* The case $FS_TEST_CASE asks for, or NULL for every case. */
static const char *wanted_case(void) {
  const char *w = getenv("FS_TEST_CASE");
  return w && *w ? w : NULL;
}

int tu_selected(const char *fn) {
  const char *w = wanted_case();
  int yes = !w || strcmp(w, fn) == 0 || (strncmp(fn, "test_", 5) == 0 && strcmp(w, fn + 5) == 0);
  if (yes) tu_ran++;
  return yes;
}

int tu_finish(void) {
  const char *w = wanted_case();
  if (w && tu_ran == 0) {
    fprintf(stderr, "FAIL: no case named \"%s\" ran in this program (FS_TEST_CASE)\n", w);
    tu_failed++;
  }
  printf("%d checks, %d failed\n", tu_checks, tu_failed);
  return tu_failed ? 1 : 0;
}

char *tu_tmpdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  char *path = NULL;
  if (!base || !*base) base = "/tmp";
  size_t n = strlen(base) + strlen(tag) + 32;
  path = malloc(n);
  if (!path) abort();
  snprintf(path, n, "%s/fs-%s-XXXXXX", base, tag);
  if (!mkdtemp(path)) {
    perror("mkdtemp");
    abort();
  }
  return path;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

void tu_rmrf(const char *path) {
  if (path) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_read_file(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, len = 0;
  if (!f) return NULL;
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      char *nb = realloc(buf, cap);
      if (!nb) abort();
      buf = nb;
    }
    size_t r = fread(buf + len, 1, cap - len - 1, f);
    len += r;
    if (r == 0) break;
  }
  fclose(f);
  buf[len] = '\0';
  if (len_out) *len_out = len;
  return buf;
}

long long tu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tu_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t n = strlen(text);
  int ok = fwrite(text, 1, n, f) == n;
  return (fclose(f) == 0 && ok) ? 0 : -1;
}

static char *slurp_fd(int fd) {
  char *buf = NULL;
  size_t cap = 0, len = 0;
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      char *nb = realloc(buf, cap);
      if (!nb) abort();
      buf = nb;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
  }
  if (!buf) {
    buf = malloc(1);
    if (!buf) abort();
  }
  buf[len] = '\0';
  return buf;
}

int tu_run(char **out, char **err, const char *const argv[]) {
  return tu_run_in(out, err, NULL, argv);
}

int tu_run_in(char **out, char **err, const char *in_path, const char *const argv[]) {
  char prog[4096];
  const char *bin = getenv("FS_BIN_DIR");
  if (!strchr(argv[0], '/') && bin)
    snprintf(prog, sizeof prog, "%s/%s", bin, argv[0]);
  else
    snprintf(prog, sizeof prog, "%s", argv[0]);
  /* stdout and stderr go to temp files, so large outputs cannot dead-lock. */
  FILE *fo = tmpfile(), *fe = tmpfile();
  if (!fo || !fe) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int devnull = open(in_path ? in_path : "/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    execv(prog, (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", prog, strerror(errno));
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (out) {
    lseek(fileno(fo), 0, SEEK_SET);
    *out = slurp_fd(fileno(fo));
  }
  if (err) {
    lseek(fileno(fe), 0, SEEK_SET);
    *err = slurp_fd(fileno(fe));
  }
  fclose(fo);
  fclose(fe);
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return -1;
}

/* ------------------------------------------------------ encrypted homes */

static char tu_pass_file[4096];

const char *tu_passphrase_file(void) { return tu_pass_file; }

/* Before main(): the weak KDF and the passphrase file (see testutil.h).  A
 * forked child that exits through exit() must not remove the parent's
 * file, hence the pid check. */
static pid_t tu_owner;
static void tu_remove_if_owner(void) {
  if (getpid() == tu_owner && *tu_pass_file) unlink(tu_pass_file);
}

__attribute__((constructor)) static void tu_encrypted_homes(void) {
  setenv("FS_TEST_WEAK_KDF", "1", 0);
  if (getenv("FIELDSYNC_PASSPHRASE_FILE")) return;
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  snprintf(tu_pass_file, sizeof tu_pass_file, "%s/fs-pass-XXXXXX", base);
  int fd = mkstemp(tu_pass_file); /* mode 0600 */
  if (fd < 0 ||
      write(fd, TU_PASSPHRASE "\n", sizeof TU_PASSPHRASE) != (ssize_t)sizeof TU_PASSPHRASE) {
    perror("the test passphrase file");
    abort();
  }
  close(fd);
  tu_owner = getpid();
  atexit(tu_remove_if_owner);
  setenv("FIELDSYNC_PASSPHRASE_FILE", tu_pass_file, 1);
}

int tu_device_create(const char *home, const char *manager, const fs_schema *schema) {
  fs_device_init_opts o = FS_DEVICE_INIT_OPTS_INIT;
  o.manager = manager;
  o.schema = schema;
  o.passphrase = TU_PASSPHRASE;
  o.passphrase_len = strlen(TU_PASSPHRASE);
  return fs_device_create(NULL, home, &o);
}

int tu_device_open(fs_device **out, const char *home, const fs_schema *schema) {
  fs_unlock_opts o = FS_UNLOCK_OPTS_INIT;
  o.passphrase = TU_PASSPHRASE;
  o.passphrase_len = strlen(TU_PASSPHRASE);
  int rc = fs_device_open(out, home, schema);
  if (!rc && (rc = fs_device_unlock(*out, &o))) {
    fs_device_close(*out);
    *out = NULL;
  }
  return rc;
}
