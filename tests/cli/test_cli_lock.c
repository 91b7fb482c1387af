/*
 * test_cli_lock.c — `fieldsync init`, `unlock`, `lock` and `passwd`
 * through the real binary: the passphrase from a file, from standard input
 * or not at all; the session keyring's cached key making later commands
 * need none, `lock` and the cache's timeout taking it away again, the one
 * sentence of a locked store; a new passphrase that works while the old
 * one stops working and the store file is not rewritten.  The passphrase
 * never appears in any output.
 *
 * The program joins a session keyring of its own before any case runs (the
 * commands it starts inherit it), so nothing here touches the user's;
 * where the kernel offers no keyring, the cases that need one say SKIP.
 */
#include <keyutils.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int g_keyring; /* 1: joined a session keyring of our own */
static char *g_dir;

static int need_keyring(void) {
  if (!g_keyring) printf("SKIP %s: the kernel keyring is not available here\n", tu_case);
  return g_keyring;
}

/* Runs `fieldsync --home HOME args...` with stdin from in (NULL =
 * /dev/null) and, while it runs, FIELDSYNC_PASSPHRASE_FILE = pass_file
 * (NULL = unset). */
static int fs_run(const char *home, const char *pass_file, const char *in, char **out, char **err,
                  const char *const *args) {
  const char *argv[32];
  size_t n = 0;
  argv[n++] = "fieldsync";
  argv[n++] = "--home";
  argv[n++] = home;
  for (size_t i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  char *saved = getenv("FIELDSYNC_PASSPHRASE_FILE");
  saved = saved ? strdup(saved) : NULL;
  if (pass_file)
    setenv("FIELDSYNC_PASSPHRASE_FILE", pass_file, 1);
  else
    unsetenv("FIELDSYNC_PASSPHRASE_FILE");
  int rc = tu_run_in(out, err, in, argv);
  if (saved) setenv("FIELDSYNC_PASSPHRASE_FILE", saved, 1);
  free(saved);
  return rc;
}

/* Exactly one line, "fieldsync: " first. */
static int one_line(const char *err) {
  size_t n = err ? strlen(err) : 0;
  if (n < 13 || strncmp(err, "fieldsync: ", 11) != 0 || err[n - 1] != '\n') return 0;
  return memchr(err, '\n', n - 1) == NULL;
}

static char *file_with(const char *name, const char *text, mode_t mode) {
  size_t n = strlen(g_dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", g_dir, name);
  CHECK(tu_write_file(p, text) == 0);
  CHECK(chmod(p, mode) == 0);
  return p;
}

static char *home_of(const char *name) {
  size_t n = strlen(g_dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (!p) abort();
  snprintf(p, n, "%s/%s", g_dir, name);
  return p;
}

/* The command must fail with the locked sentence and print nothing. */
static void locked_at(int line, const char *home, const char *const *args) {
  char *out = NULL, *err = NULL, want[4400];
  int rc = fs_run(home, NULL, NULL, &out, &err, args);
  snprintf(want, sizeof want,
           "fieldsync: the store in %s is locked: run `fieldsync unlock` (or set "
           "FIELDSYNC_PASSPHRASE_FILE)\n",
           home);
  tu_checks += 3;
  if (rc != 1) tu_fail(__FILE__, line, "%s: exit %d, want 1", args[0], rc);
  if (!out || *out) tu_fail(__FILE__, line, "stdout: %s", out ? out : "(null)");
  if (!err || strcmp(err, want) != 0) tu_fail(__FILE__, line, "stderr: %s", err ? err : "(null)");
  free(out);
  free(err);
}
#define LOCKED(home, ...) locked_at(__LINE__, home, ARGS(__VA_ARGS__))

/* Must exit 0 without the passphrase file; returns stdout. */
static char *ok_at(int line, const char *home, const char *pass_file, const char *in,
                   const char *const *args) {
  char *out = NULL, *err = NULL;
  int rc = fs_run(home, pass_file, in, &out, &err, args);
  tu_checks += 2;
  if (rc != 0) tu_fail(__FILE__, line, "%s: exit %d: %s", args[0], rc, err ? err : "");
  if ((out && strstr(out, TU_PASSPHRASE)) || (err && strstr(err, TU_PASSPHRASE)))
    tu_fail(__FILE__, line, "%s printed the passphrase", args[0]);
  free(err);
  return out;
}
#define OK(home, ...) free(ok_at(__LINE__, home, NULL, NULL, ARGS(__VA_ARGS__)))

static void test_unlock_and_lock(void) {
  char *home = home_of("unlock");
  char *in = file_with("unlock.in", TU_PASSPHRASE "\n", 0600);
  char *out = NULL;
  if (!need_keyring()) goto done;
  free(ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("init", "--manager", "anna")));
  LOCKED(home, "customer", "list");
  LOCKED(home, "status", "--json");
  LOCKED(home, "sync");

  /* the passphrase on standard input, once; then no passphrase at all */
  out = ok_at(__LINE__, home, NULL, in, ARGS("unlock"));
  CHECK_CONTAINS(out, "for 8h");
  free(out);
  out = ok_at(__LINE__, home, NULL, NULL, ARGS("customer", "add", "--name", "Nordwind GmbH"));
  CHECK(out && strlen(out) == 37);
  free(out);
  out = ok_at(__LINE__, home, NULL, NULL, ARGS("customer", "list"));
  CHECK_CONTAINS(out, "Nordwind GmbH");
  free(out);

  out = ok_at(__LINE__, home, NULL, NULL, ARGS("lock", "--json"));
  CHECK_CONTAINS(out, "\"locked\":true");
  free(out);
  LOCKED(home, "customer", "list");
  OK(home, "lock"); /* a locked device locks again */

  /* a wrong passphrase unlocks nothing and caches nothing */
  char *wrong = file_with("wrong.in", "not the passphrase at all\n", 0600);
  char *err = NULL;
  CHECK_EQ_INT(fs_run(home, NULL, wrong, &out, &err, ARGS("unlock")), 1);
  CHECK(one_line(err));
  CHECK_CONTAINS(err, "passphrase is wrong");
  CHECK_STR(out, "");
  free(out);
  free(err);
  LOCKED(home, "customer", "list");
  free(wrong);

  /* the passphrase file works for one command without caching anything */
  out = ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("customer", "list"));
  CHECK_CONTAINS(out, "Nordwind GmbH");
  free(out);
  LOCKED(home, "customer", "list");
done:
  free(in);
  free(home);
}

static void test_cache_timeout(void) {
  char *home = home_of("timeout"), *out = NULL;
  if (!need_keyring()) goto done;
  free(ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("init", "--manager", "anna")));
  out = ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("unlock", "--for", "2s", "--json"));
  CHECK_CONTAINS(out, "\"seconds\":2");
  free(out);
  OK(home, "customer", "list");
  sleep(3);
  LOCKED(home, "customer", "list");
done:
  free(home);
}

static void test_bad_for(void) {
  static const char *const bad[] = {"0", "2x", "-5m", "8d", "h", "1hh"};
  char *home = home_of("badfor");
  free(ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("init", "--manager", "anna")));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(
        fs_run(home, tu_passphrase_file(), NULL, &out, &err, ARGS("unlock", "--for", bad[i])), 2);
    CHECK(one_line(err));
    CHECK_CONTAINS(err, "--for");
    free(out);
    free(err);
  }
  free(home);
}

static long long mtime_ns(const char *p) {
  struct stat sb;
  if (stat(p, &sb) != 0) return -1;
  return (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
}

static void test_passwd(void) {
  char *home = home_of("passwd"), *out = NULL, *err = NULL;
  char *newf = file_with("new.pass", "a much better passphrase\n", 0600);
  char store[4200];
  snprintf(store, sizeof store, "%s/store.db", home);
  free(ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("init", "--manager", "anna")));
  free(ok_at(__LINE__, home, tu_passphrase_file(), NULL,
             ARGS("customer", "add", "--name", "Baltic Foods AB")));
  char *before_list = ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("export", "--json"));
  size_t n0 = 0;
  char *before = tu_read_file(store, &n0);
  long long m0 = mtime_ns(store);

  /* too short a new one: refused, nothing changed */
  char *shortf = file_with("short.pass", "too short\n", 0600);
  CHECK_EQ_INT(
      fs_run(home, tu_passphrase_file(), NULL, &out, &err, ARGS("passwd", "--new-file", shortf)),
      1);
  CHECK(one_line(err));
  CHECK_CONTAINS(err, "at least 10 characters");
  free(out);
  free(err);
  /* a wrong current one: refused */
  CHECK_EQ_INT(fs_run(home, newf, NULL, &out, &err, ARGS("passwd", "--new-file", newf)), 1);
  CHECK(one_line(err));
  CHECK_CONTAINS(err, "current passphrase is wrong");
  free(out);
  free(err);

  out = ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("passwd", "--new-file", newf));
  CHECK_CONTAINS(out, "changed");
  free(out);
  /* the old passphrase no longer opens it; the new one does, data intact */
  CHECK_EQ_INT(fs_run(home, tu_passphrase_file(), NULL, &out, &err, ARGS("customer", "list")), 1);
  CHECK(one_line(err));
  CHECK_CONTAINS(err, "does not unlock");
  free(out);
  free(err);
  char *after_list = ok_at(__LINE__, home, newf, NULL, ARGS("export", "--json"));
  CHECK(before_list && after_list && strcmp(before_list, after_list) == 0);
  CHECK_CONTAINS(after_list, "Baltic Foods AB");
  free(after_list);

  /* both on standard input, as a script gives them: current, then new */
  char *lines = file_with("lines.in", "a much better passphrase\nthe third passphrase\n", 0600);
  free(ok_at(__LINE__, home, NULL, lines, ARGS("passwd")));
  char *third = file_with("third.pass", "the third passphrase", 0600); /* no newline */
  after_list = ok_at(__LINE__, home, third, NULL, ARGS("export", "--json"));
  CHECK(before_list && after_list && strcmp(before_list, after_list) == 0);
  free(after_list);

  /* the store itself was never rewritten (the reads above changed nothing
   * either: the commands only read) */
  size_t n1 = 0;
  char *after = tu_read_file(store, &n1);
  CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
  CHECK_EQ_INT(mtime_ns(store), m0);
  free(before);
  free(after);
  free(before_list);
  free(third);
  free(lines);
  free(shortf);
  free(newf);
  free(home);
}

static void test_init_passphrase(void) {
  char *out = NULL, *err = NULL;
  char *home = home_of("init");
  char store[4200];
  snprintf(store, sizeof store, "%s/store.db", home);

  /* from standard input when it is not a terminal */
  char *shortin = file_with("short.in", "nine char\n", 0600);
  CHECK_EQ_INT(fs_run(home, NULL, shortin, &out, &err, ARGS("init", "--manager", "anna")), 1);
  CHECK(one_line(err));
  CHECK_CONTAINS(err, "at least 10 characters");
  CHECK(access(store, F_OK) != 0);
  free(out);
  free(err);
  CHECK_EQ_INT(fs_run(home, NULL, NULL, &out, &err, ARGS("init", "--manager", "anna")), 1);
  CHECK(one_line(err));
  CHECK_CONTAINS(err, "no passphrase in standard input");
  CHECK(access(store, F_OK) != 0);
  free(out);
  free(err);

  /* a passphrase file others can read is refused */
  char *loose = file_with("loose.pass", TU_PASSPHRASE "\n", 0644);
  CHECK_EQ_INT(fs_run(home, loose, NULL, &out, &err, ARGS("init", "--manager", "anna")), 1);
  CHECK(one_line(err));
  CHECK_CONTAINS(err, "chmod 600");
  CHECK(access(store, F_OK) != 0);
  free(out);
  free(err);
  char *two = file_with("two.pass", TU_PASSPHRASE "\nsecond line\n", 0600);
  CHECK_EQ_INT(fs_run(home, two, NULL, &out, &err, ARGS("init", "--manager", "anna")), 1);
  CHECK(one_line(err));
  CHECK_CONTAINS(err, "more than one line");
  free(out);
  free(err);

  char *in = file_with("init.in", TU_PASSPHRASE "\r\n", 0600);
  out = ok_at(__LINE__, home, NULL, in, ARGS("init", "--manager", "anna", "--json"));
  CHECK_CONTAINS(out, "\"device_id\"");
  free(out);
  out = ok_at(__LINE__, home, tu_passphrase_file(), NULL, ARGS("status", "--json"));
  CHECK_CONTAINS(out, "\"manager\":\"anna\"");
  free(out);
  free(two);
  free(in);
  free(loose);
  free(shortin);
  free(home);
}

int main(void) {
  g_keyring = keyctl_join_session_keyring(NULL) >= 0;
  g_dir = tu_tmpdir("cli-lock");
  TEST_RUN(test_unlock_and_lock);
  TEST_RUN(test_cache_timeout);
  TEST_RUN(test_bad_for);
  TEST_RUN(test_passwd);
  TEST_RUN(test_init_passphrase);
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
