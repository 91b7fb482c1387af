/*
 * cmd_sync.c — `fieldsync enroll` and `fieldsync sync`.
 *
 * Both are one library call each (fs_enroll, fs_sync).  A sync draws a
 * progress line on stderr only when stdout is a terminal; with --json it
 * prints one summary document and nothing else.  With no network it fails
 * with the library's one sentence and loses nothing: the next sync resumes.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_enroll(cli_ctx *ctx, int argc, char **argv) {
  const char *server = NULL, *token = NULL, *ca = NULL, *pin = NULL;
  const cli_opt opts[] = {{"server", 1, &server, NULL},
                          {"token", 1, &token, NULL},
                          {"ca", 1, &ca, NULL},
                          {"pin", 1, &pin, NULL},
                          {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "enroll",
      "Usage: fieldsync enroll --server URL --token T [--ca FILE] [--pin SHA256]\n"
      "\n"
      "Enrolls this device with head office using a one-time token from\n"
      "`fieldsync-server token create`.  The server is trusted through --ca (its\n"
      "certificate file) or --pin (the fingerprint `fieldsync-server init`\n"
      "printed); at least one is required, and TLS verification cannot be\n"
      "turned off.  Head office's signing keys are pinned in the store.\n",
      opts, NULL, NULL, 0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!server || !token) return cli_usage("enroll: --server URL and --token T are required.");
  if (!ca && !pin) return cli_usage("enroll: give --ca FILE or --pin SHA256 to trust the server.");
  fs_store *st = NULL;
  if ((rc = cli_open(ctx, &st))) return rc;
  rc = fs_enroll(st, cli_home(ctx), server, token, ca, pin);
  fs_store_close(st);
  if (rc) return cli_lib_fail(rc);
  if (ctx->json) printf("{\"enrolled\":true,\"server\":\"%s\"}\n", server);
  else printf("enrolled with %s\n", server);
  return CLI_OK;
}

typedef struct bar {
  int on;
  int drawn;
} bar;

static void progress(void *user, const char *phase, int64_t done, int64_t total) {
  bar *b = user;
  if (!b->on) return;
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
}

int cmd_sync(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {
      "sync",
      "Usage: fieldsync sync [--json]\n"
      "\n"
      "Pushes every local change to head office, then pulls what head office\n"
      "has for this device (catalog, prices, balances, this manager's\n"
      "customers).  Safe to interrupt: the next sync finishes the job with\n"
      "nothing lost and nothing applied twice.\n",
      NULL, NULL, NULL, 0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  fs_store *st = NULL;
  if ((rc = cli_open(ctx, &st))) return rc;
  bar b = {!ctx->json && isatty(STDOUT_FILENO), 0};
  fs_sync_stats s;
  rc = fs_sync(st, cli_home(ctx), &s, progress, &b);
  int64_t pending = 0;
  if (!rc) rc = fs_pending_count(st, &pending);
  fs_store_close(st);
  if (b.drawn) fputc('\n', stderr);
  if (rc) return cli_lib_fail(rc);
  if (ctx->json) {
    printf("{\"pushed\":%lld,\"pulled\":%lld,\"conflicts\":%lld,\"refused\":%lld,"
           "\"batches\":%lld,\"pending\":%lld}\n",
           (long long)s.pushed, (long long)s.pulled, (long long)s.conflicts,
           (long long)s.refused, (long long)s.batches, (long long)pending);
  } else {
    printf("pushed %lld, pulled %lld, %lld conflict%s resolved by rule, %lld refused\n",
           (long long)s.pushed, (long long)s.pulled, (long long)s.conflicts,
           s.conflicts == 1 ? "" : "s", (long long)s.refused);
    if (s.refused) printf("see `fieldsync status` for what head office refused\n");
  }
  return CLI_OK;
}
