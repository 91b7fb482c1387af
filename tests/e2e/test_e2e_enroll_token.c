/*
 * test_e2e_enroll_token.c — the enrollment token kept out of argv, end to
 * end with the real `fieldsync-server` on 127.0.0.1 and real device homes.
 *
 * Covers:
 *  - `enroll --token-file FILE` with the token and a trailing newline (and
 *    another with CRLF) enrolls, and the device then syncs;
 *  - `enroll --token -` and `enroll --token-file -` read it from standard
 *    input (as piped from `token create`);
 *  - `--token T` keeps working (the CLI contract);
 *  - an empty token file, a missing one, a directory, a file with two
 *    lines, nothing on standard input, and --token with --token-file each
 *    fail with one "fieldsync: " line, nothing on stdout, and leave the
 *    device unenrolled; a used token read from a file is refused by head
 *    office;
 *  - the token never appears in what enroll prints, on success or failure;
 *  - `enroll --help` shows examples and recommends the file/stdin form.
 * Nothing here depends on the wire format: only the two command lines.
 */
#include "e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static e2e_server *g_srv;
static char *g_dir;

static char *new_token(const char *manager) {
  char *t = e2e_hq_ok(__LINE__, g_srv, ARGS("token", "create", "--manager", manager));
  if (t) t[strcspn(t, "\r\n")] = '\0';
  tu_checks++;
  if (!t || strncmp(t, "fst-", 4) != 0) tu_fail(__FILE__, __LINE__, "no token: %s", t);
  return t;
}

/* A file DIR/NAME holding `text`, mode 0600. */
static char *secret_file(const char *name, const char *text) {
  char *p = e2e_path(g_dir, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  size_t n = strlen(text);
  CHECK(fd >= 0 && write(fd, text, n) == (ssize_t)n);
  if (fd >= 0) close(fd);
  return p;
}

static char *slurp(FILE *f) {
  rewind(f);
  size_t cap = 4096, len = 0, r;
  char *buf = malloc(cap);
  if (!buf) abort();
  while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += r;
    if (len + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) abort();
      buf = nb;
    }
  }
  buf[len] = '\0';
  return buf;
}

/* `fieldsync --home HOME args...` with `input` on standard input. */
static int fs_with_stdin(const char *home, const char *input, char **out, char **err,
                         const char *const *args) {
  const char *argv[32];
  size_t n = 0;
  char prog[4096];
  const char *bin = getenv("FS_BIN_DIR");
  snprintf(prog, sizeof prog, "%s/fieldsync", bin ? bin : ".");
  argv[n++] = "fieldsync";
  argv[n++] = "--home";
  argv[n++] = home;
  for (size_t i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  FILE *fi = tmpfile(), *fo = tmpfile(), *fe = tmpfile();
  if (!fi || !fo || !fe) abort();
  fputs(input, fi);
  fflush(fi);
  rewind(fi);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fileno(fi), 0);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  int st = -1;
  while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  *out = slurp(fo);
  *err = slurp(fe);
  fclose(fi);
  fclose(fo);
  fclose(fe);
  return pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int enrolled(const char *home) {
  cJSON *st = FS_JSON(home, "status", "--json");
  int yes = e2e_str(st, "server") != NULL;
  cJSON_Delete(st);
  return yes;
}

/* An enroll that must succeed, print "enrolled", never the token. */
static void enrolled_at(int line, int rc, char *out, char *err, const char *tok) {
  tu_checks += 3;
  if (rc != 0) tu_fail(__FILE__, line, "enroll: exit %d: %s", rc, err ? err : "");
  if (!out || !strstr(out, "enrolled"))
    tu_fail(__FILE__, line, "enroll printed: %s", out ? out : "(null)");
  if ((out && strstr(out, tok)) || (err && strstr(err, tok)))
    tu_fail(__FILE__, line, "enroll printed the token");
  free(out);
  free(err);
}

/* An enroll that must fail: non-zero exit, nothing on stdout, one line on
 * stderr containing `needle`, not the token; the device stays unenrolled. */
static void refused_at(int line, const char *home, int rc, char *out, char *err, const char *needle,
                       const char *tok) {
  tu_checks += 5;
  if (rc <= 0) tu_fail(__FILE__, line, "exit %d, expected a failure", rc);
  if (!out || *out) tu_fail(__FILE__, line, "printed on stdout: %s", out ? out : "(null)");
  if (!e2e_one_line(err, "fieldsync: "))
    tu_fail(__FILE__, line, "stderr is not one 'fieldsync: ' line: \"%s\"", err ? err : "");
  else if (needle && !strstr(err, needle))
    tu_fail(__FILE__, line, "stderr does not mention \"%s\": %s", needle, err);
  if (tok && err && strstr(err, tok)) tu_fail(__FILE__, line, "the error shows the token");
  if (enrolled(home)) tu_fail(__FILE__, line, "the device was enrolled anyway");
  free(out);
  free(err);
}

static void test_token_file(void) {
  char *a = e2e_path(g_dir, "anna-laptop"), *b = e2e_path(g_dir, "anna-tablet");
  char *tok = new_token("anna"), *out = NULL, *err = NULL;
  char text[256];
  snprintf(text, sizeof text, "%s\n", tok ? tok : "");
  char *f = secret_file("anna.token", text);
  FS_RUN(a, "init", "--manager", "anna");
  int rc = e2e_fs(a, &out, &err,
                  ARGS("enroll", "--server", g_srv->url, "--token-file", f, "--ca", g_srv->cert));
  enrolled_at(__LINE__, rc, out, err, tok ? tok : "fst-");
  CHECK(enrolled(a));
  char cust[64];
  ADD(a, cust, "customer", "add", "--name", "Nordwind GmbH");
  SYNC(a);
  char *hq = e2e_export_hq(__LINE__, g_srv, "anna");
  CHECK(hq && strstr(hq, "Nordwind GmbH"));
  free(hq);

  /* a token file saved on Windows: CRLF */
  free(tok);
  tok = new_token("anna");
  snprintf(text, sizeof text, "%s\r\n", tok ? tok : "");
  char *g = secret_file("anna-crlf.token", text);
  FS_RUN(b, "init", "--manager", "anna");
  rc = e2e_fs(b, &out, &err,
              ARGS("enroll", "--server", g_srv->url, "--token-file", g, "--pin", g_srv->pin));
  enrolled_at(__LINE__, rc, out, err, tok ? tok : "fst-");
  SYNC(b);
  free(g);
  free(f);
  free(tok);
  free(b);
  free(a);
}

static void test_token_stdin(void) {
  char *c = e2e_path(g_dir, "bo-laptop"), *d = e2e_path(g_dir, "bo-tablet");
  char *e = e2e_path(g_dir, "bo-phone");
  char *tok = new_token("bo"), *out = NULL, *err = NULL;
  char text[256];
  FS_RUN(c, "init", "--manager", "bo");
  snprintf(text, sizeof text, "%s\n", tok ? tok : "");
  int rc = fs_with_stdin(
      c, text, &out, &err,
      ARGS("enroll", "--server", g_srv->url, "--token", "-", "--ca", g_srv->cert, "--json"));
  cJSON *doc = rc == 0 ? cJSON_Parse(out) : NULL;
  CHECK(doc && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "enrolled")));
  cJSON_Delete(doc);
  enrolled_at(__LINE__, rc, out, err, tok ? tok : "fst-");
  SYNC(c);

  free(tok);
  tok = new_token("bo");
  snprintf(text, sizeof text, "%s", tok ? tok : ""); /* no newline at all */
  FS_RUN(d, "init", "--manager", "bo");
  rc = fs_with_stdin(
      d, text, &out, &err,
      ARGS("enroll", "--server", g_srv->url, "--token-file", "-", "--ca", g_srv->cert));
  enrolled_at(__LINE__, rc, out, err, tok ? tok : "fst-");
  SYNC(d);

  /* the old spelling, --token T, still works */
  free(tok);
  tok = new_token("bo");
  FS_RUN(e, "init", "--manager", "bo");
  rc = e2e_fs(
      e, &out, &err,
      ARGS("enroll", "--server", g_srv->url, "--token", tok ? tok : "", "--ca", g_srv->cert));
  enrolled_at(__LINE__, rc, out, err, tok ? tok : "fst-");
  SYNC(e);
  free(tok);
  free(e);
  free(d);
  free(c);
}

static void test_token_refused(void) {
  char *h = e2e_path(g_dir, "cleo-laptop");
  char *tok = new_token("cleo"), *out = NULL, *err = NULL;
  const char *t = tok ? tok : "fst-";
  const char *url = g_srv->url, *ca = g_srv->cert;
  FS_RUN(h, "init", "--manager", "cleo");
  char *empty = secret_file("empty.token", "");
  char *blank = secret_file("blank.token", "\n\n");
  char *missing = e2e_path(g_dir, "no-such.token");
  char two[256];
  snprintf(two, sizeof two, "%s\n%s\n", t, t);
  char *twice = secret_file("two.token", two);
  int rc;

  rc = e2e_fs(h, &out, &err, ARGS("enroll", "--server", url, "--token-file", empty, "--ca", ca));
  refused_at(__LINE__, h, rc, out, err, "empty.token is empty", t);
  rc = e2e_fs(h, &out, &err, ARGS("enroll", "--server", url, "--token-file", blank, "--ca", ca));
  refused_at(__LINE__, h, rc, out, err, "is empty", t);
  rc = e2e_fs(h, &out, &err, ARGS("enroll", "--server", url, "--token-file", missing, "--ca", ca));
  refused_at(__LINE__, h, rc, out, err, "cannot read the token file", t);
  rc = e2e_fs(h, &out, &err, ARGS("enroll", "--server", url, "--token-file", g_dir, "--ca", ca));
  refused_at(__LINE__, h, rc, out, err, "cannot read the token", t);
  rc = e2e_fs(h, &out, &err, ARGS("enroll", "--server", url, "--token-file", twice, "--ca", ca));
  refused_at(__LINE__, h, rc, out, err, "one line", t);
  /* tu_run gives the child /dev/null as standard input */
  rc = e2e_fs(h, &out, &err, ARGS("enroll", "--server", url, "--token", "-", "--ca", ca));
  refused_at(__LINE__, h, rc, out, err, "no token on standard input", t);
  rc = e2e_fs(h, &out, &err,
              ARGS("enroll", "--server", url, "--token", t, "--token-file", empty, "--ca", ca));
  CHECK_EQ_INT(rc, 2);
  refused_at(__LINE__, h, rc, out, err, "not both", t);

  /* a used token, from a file: head office refuses it; no echo of it */
  char *used_dev = e2e_path(g_dir, "cleo-tablet");
  FS_RUN(used_dev, "init", "--manager", "cleo");
  char text[256];
  snprintf(text, sizeof text, "%s\n", t);
  char *f = secret_file("cleo.token", text);
  rc = e2e_fs(used_dev, &out, &err, ARGS("enroll", "--server", url, "--token-file", f, "--ca", ca));
  enrolled_at(__LINE__, rc, out, err, t);
  rc = e2e_fs(h, &out, &err, ARGS("enroll", "--server", url, "--token-file", f, "--ca", ca));
  refused_at(__LINE__, h, rc, out, err, NULL, t);

  /* the token file still works for a fresh token after all the refusals */
  free(tok);
  tok = new_token("cleo");
  snprintf(text, sizeof text, "%s\n", tok ? tok : "");
  char *g = secret_file("cleo2.token", text);
  rc = e2e_fs(h, &out, &err, ARGS("enroll", "--server", url, "--token-file", g, "--ca", ca));
  enrolled_at(__LINE__, rc, out, err, tok ? tok : "fst-");
  CHECK(enrolled(h));
  free(g);
  free(f);
  free(used_dev);
  free(twice);
  free(missing);
  free(blank);
  free(empty);
  free(tok);
  free(h);
}

static void test_help(void) {
  char *out = NULL, *err = NULL;
  char *h = e2e_path(g_dir, "help-home");
  int rc = e2e_fs(h, &out, &err, ARGS("enroll", "--help"));
  CHECK_EQ_INT(rc, 0);
  CHECK_CONTAINS(out, "--token-file FILE");
  CHECK_CONTAINS(out, "--token -");
  CHECK_CONTAINS(out, "Examples:");
  CHECK_CONTAINS(out, "process list");
  free(out);
  free(err);
  out = err = NULL;
  rc = e2e_fs(h, &out, &err, ARGS("--help"));
  CHECK_EQ_INT(rc, 0);
  CHECK_CONTAINS(out, "--token-file");
  free(out);
  free(err);
  free(h);
}

int main(void) {
  g_dir = tu_tmpdir("e2e-token");
  g_srv = e2e_server_new(g_dir, "hq");
  if (g_srv && e2e_server_start(g_srv, 0) == 0) {
    TEST_RUN(test_token_file);
    TEST_RUN(test_token_stdin);
    TEST_RUN(test_token_refused);
  } else {
    tu_fail(__FILE__, __LINE__, "the server did not start");
  }
  TEST_RUN(test_help);
  e2e_server_free(g_srv);
  e2e_stop_all();
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
