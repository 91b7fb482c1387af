/*
 * cmd_sync.c — `fieldsync enroll` and `fieldsync sync`.
 *
 * Both are one library call each (fs_enroll, fs_sync).  A sync draws a
 * progress line on stderr only when stdout is a terminal; with --json it
 * prints one summary document and nothing else.  A sync in which head
 * office refused changes says so in its summary and exits CLI_EREFUSED
 * (3): it finished, but a person has refusals to read.  With no network it fails
 * with the library's one sentence and loses nothing: the next sync resumes.
 *
 * The enrollment token is a secret until it is used: whoever holds it can
 * enroll a laptop as that manager.  It is read from a file or standard input
 * (--token-file FILE, --token -) so it never has to sit in argv, where every
 * user sees it in `ps`; --token T still works and its argv copy is
 * overwritten as soon as it has been read.  The token is only ever held in
 * one buffer of ours (read(2), no stdio buffer keeps a copy), wiped with
 * sodium_memzero on every path, and never printed, not even in errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

/* An enrollment token is "fst-" and 40 characters; anything much longer in
 * a token file is not one (the whole file is never read). */
#define TOKEN_MAX 512

/* Reads a token from `file` ("-" = standard input) into buf[TOKEN_MAX + 2]:
 * one line, trailing newline, CR and blanks stripped.  On a terminal the
 * prompt goes to stderr and the typing is not echoed.  Returns CLI_OK, or
 * the exit status after printing one line (which never shows the bytes). */
static int token_read(char *buf, const char *file) {
  int is_stdin = strcmp(file, "-") == 0, fd = STDIN_FILENO, rc = CLI_OK, echo_off = 0;
  const char *from = is_stdin ? "standard input" : file;
  struct termios saved;
  size_t n = 0;
  if (!is_stdin) {
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return cli_fail("cannot read the token file %s: %s.", file, strerror(errno));
  } else if (isatty(fd)) {
    fputs("Enrollment token: ", stderr);
    fflush(stderr);
    if (tcgetattr(fd, &saved) == 0) {
      struct termios quiet = saved;
      quiet.c_lflag &= ~(tcflag_t)ECHO;
      echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
  }
  while (n <= TOKEN_MAX) {
    ssize_t r = read(fd, buf + n, TOKEN_MAX + 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = cli_fail("cannot read the token from %s: %s.", from, strerror(errno));
      goto done;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (echo_off && memchr(buf + n - (size_t)r, '\n', (size_t)r)) break; /* one typed line */
  }
  if (n > TOKEN_MAX) {
    rc = cli_fail("%s holds more than %d bytes; it is not an enrollment token.", from, TOKEN_MAX);
    goto done;
  }
  while (n > 0 &&
         (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    n--;
  buf[n] = '\0';
  if (n == 0) {
    rc = cli_fail(is_stdin ? "no token on %s; pipe in the token from `fieldsync-server token "
                             "create`."
                           : "the token file %s is empty; put the token from "
                             "`fieldsync-server token create` in it.",
                  from);
    goto done;
  }
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] == 0x7f) {
      rc = cli_fail("%s holds more than one token; it must hold the token alone, on one "
                    "line.",
                    from);
      goto done;
    }
done:
  if (echo_off) {
    tcsetattr(fd, TCSAFLUSH, &saved);
    fputc('\n', stderr);
  }
  if (!is_stdin) close(fd);
  if (rc) sodium_memzero(buf, TOKEN_MAX + 2);
  return rc;
}

int cmd_enroll(cli_ctx *ctx, int argc, char **argv) {
  const char *server = NULL, *token = NULL, *token_file = NULL, *ca = NULL, *pin = NULL;
  const cli_opt opts[] = {{"server", 1, &server, NULL},
                          {"token", 1, &token, NULL},
                          {"token-file", 1, &token_file, NULL},
                          {"ca", 1, &ca, NULL},
                          {"pin", 1, &pin, NULL},
                          {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "enroll",
      "Usage: fieldsync enroll --server URL --token-file FILE [--ca FILE] [--pin SHA256]\n"
      "       fieldsync enroll --server URL --token - ...      (token on standard input)\n"
      "       fieldsync enroll --server URL --token T ...      (token in argv: avoid)\n"
      "\n"
      "Enrolls this device with head office using a one-time token from\n"
      "`fieldsync-server token create`.  The server is trusted through --ca (its\n"
      "certificate file) or --pin (the fingerprint `fieldsync-server init`\n"
      "printed); at least one is required, and TLS verification cannot be\n"
      "turned off.  Head office's signing keys are pinned in the store.\n"
      "\n"
      "The token is a secret until it is used: give it in a file (--token-file\n"
      "FILE) or on standard input (--token - or --token-file -), one line, a\n"
      "trailing newline is fine.  A token typed after --token T is visible to\n"
      "every user of this computer in the process list while enroll starts.\n"
      "On a terminal, --token - asks for the token without echoing it.\n"
      "\n"
      "  --server URL       head office's address, https://HOST:PORT\n"
      "  --token-file FILE  the one-time token from `fieldsync-server token create`\n"
      "  --token T          the token itself; \"-\" reads it from standard input\n"
      "  --ca FILE          trust head office's certificate in FILE (PEM)\n"
      "  --pin SHA256       or trust the key fingerprint `init` printed\n"
      "\n"
      "Examples:\n"
      "  fieldsync enroll --server https://hq.example.com:8443 --token-file anna.token \\\n"
      "                   --ca hq-cert.pem\n"
      "  ssh hq fieldsync-server token create --manager anna | \\\n"
      "    fieldsync enroll --server https://hq.example.com:8443 --token - \\\n"
      "                     --pin sha256//...\n",
      opts,
      NULL,
      NULL,
      0};
  char tok[TOKEN_MAX + 2];
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (token && token_file)
    return cli_usage("enroll: give the token once, with --token or --token-file, not both.");
  if (!server || (!token && !token_file))
    return cli_usage("enroll: --server URL and --token-file FILE (or --token -) are "
                     "required; see 'fieldsync enroll --help'.");
  if (!ca && !pin) return cli_usage("enroll: give --ca FILE or --pin SHA256 to trust the server.");
  if (token && strcmp(token, "-") != 0) {
    size_t n = strlen(token);
    if (n > TOKEN_MAX)
      return cli_usage("enroll: --token is longer than %d bytes; it is not an enrollment token.",
                       TOKEN_MAX);
    memcpy(tok, token, n + 1);
    /* the string lives in argv (cli_parse keeps borrowed pointers), which
     * `ps` shows: the token need not stay there */
    memset((char *)token, 'x', n);
  } else if ((rc = token_read(tok, token_file ? token_file : "-"))) {
    return rc;
  }
  fs_device *dev = NULL;
  if ((rc = cli_open(ctx, &dev))) goto done;
  fs_enroll_opts eo = FS_ENROLL_OPTS_INIT;
  eo.url = server;
  eo.token = tok;
  eo.ca = ca;
  eo.pin = pin;
  rc = fs_enroll(dev, &eo);
  fs_device_close(dev);
  if (rc) {
    rc = cli_lib_fail(rc);
    goto done;
  }
  if (ctx->json)
    printf("{\"enrolled\":true,\"server\":\"%s\"}\n", server);
  else
    printf("enrolled with %s\n", server);
  rc = CLI_OK;
done:
  sodium_memzero(tok, sizeof tok);
  return rc;
}

typedef struct bar {
  int on;
  int drawn;
} bar;

static int progress(void *user, const char *phase, int64_t done, int64_t total) {
  bar *b = user;
  if (!b->on) return 0;
  if (total > 0) {
    int pct = (int)(done * 100 / (total ? total : 1));
    if (pct > 100) pct = 100;
    char line[41];
    int fill = pct * 40 / 100;
    memset(line, '#', (size_t)fill);
    memset(line + fill, '.', (size_t)(40 - fill));
    line[40] = '\0';
    fprintf(stderr, "\r%s [%s] %lld/%lld", phase, line, (long long)done, (long long)total);
  } else {
    fprintf(stderr, "\r%s %lld rows", phase, (long long)done);
  }
  fflush(stderr);
  b->drawn = 1;
  return 0;
}

int cmd_sync(cli_ctx *ctx, int argc, char **argv) {
  const char *wait = NULL;
  const cli_opt opts[] = {{"wait", 1, &wait, NULL}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "sync",
      "Usage: fieldsync sync [--wait SECONDS] [--json]\n"
      "\n"
      "Pushes every local change to head office, then pulls what head office\n"
      "has for this device (catalog, prices, balances, this manager's\n"
      "customers).  Safe to interrupt: the next sync finishes the job with\n"
      "nothing lost and nothing applied twice.\n"
      "\n"
      "One sync runs at a time on a laptop: a sync started while another is\n"
      "running waits for it (--wait SECONDS, default 30; 0 = do not wait)\n"
      "and then says that one is already running.\n"
      "\n"
      "Exit status: 0 synced; 3 synced, but head office refused changes\n"
      "(they are kept with their values: 'fieldsync refused'); 1 the sync\n"
      "failed (nothing lost: run it again); 2 usage error.\n"
      "\n"
      "  --wait SECONDS    wait up to SECONDS for another sync of this laptop to finish\n"
      "\n"
      "Examples:\n"
      "  fieldsync sync\n"
      "  fieldsync sync --wait 0 --json\n",
      opts,
      NULL,
      NULL,
      0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  long long wait_s = 30;
  if (wait) {
    char *end = NULL;
    wait_s = strtoll(wait, &end, 10);
    if (!*wait || *end || wait_s < 0 || wait_s > 86400)
      return cli_usage("sync: --wait takes a number of seconds from 0 to 86400.");
  }
  fs_device *dev = NULL;
  if ((rc = cli_open(ctx, &dev))) return rc;
  bar b = {!ctx->json && isatty(STDOUT_FILENO), 0};
  fs_sync_stats s = FS_SYNC_STATS_INIT;
  fs_sync_opts so = FS_SYNC_OPTS_INIT;
  so.progress = progress;
  so.user = &b;
  so.lock_wait_ms = wait_s > 0 ? wait_s * 1000 : -1;
  rc = fs_sync(&s, dev, &so);
  int64_t pending = 0;
  if (!rc) rc = fs_pending_count(&pending, fs_device_store(dev));
  fs_device_close(dev);
  if (b.drawn) fputc('\n', stderr);
  if (rc) return rc == FS_EWIPED ? (cli_lib_fail(rc), CLI_EWIPED) : cli_lib_fail(rc);
  if (ctx->json) {
    printf("{\"pushed\":%lld,\"pulled\":%lld,\"conflicts\":%lld,\"refused\":%lld,"
           "\"batches\":%lld,\"pending\":%lld,\"recovered\":%lld,\"rewinds\":%lld}\n",
           (long long)s.pushed, (long long)s.pulled, (long long)s.conflicts, (long long)s.refused,
           (long long)s.batches, (long long)pending, (long long)s.recovered, (long long)s.rewinds);
  } else {
    printf("pushed %lld, pulled %lld, %lld conflict%s resolved by rule, %lld refused%s\n",
           (long long)s.pushed, (long long)s.pulled, (long long)s.conflicts,
           s.conflicts == 1 ? "" : "s", (long long)s.refused,
           s.refused ? ": see `fieldsync refused`" : "");
  }
  /* What the receipts made this sync do (docs/protocol.md, "Receipts"). */
  if (s.recovered || s.rewinds)
    fprintf(stderr,
            "%s: the push chain went back to head office's position %lld time%s; %lld row%s "
            "recovered from head office (see `fieldsync receipts`)\n",
            cli_progname, (long long)s.rewinds, s.rewinds == 1 ? "" : "s", (long long)s.recovered,
            s.recovered == 1 ? "" : "s");
  if (!s.refused) return CLI_OK;
  /* The sync is done, but what head office refused needs a person: a
   * status of its own, and the one sentence every non-zero exit gives. */
  fprintf(stderr,
          "fieldsync: head office refused %lld change%s in this sync; nothing is lost: they are "
          "kept with their values, see `fieldsync refused`.\n",
          (long long)s.refused, s.refused == 1 ? "" : "s");
  return CLI_EREFUSED;
}
