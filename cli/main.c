/*
 * main.c — `fieldsync`, the device command line: top-level dispatch.
 *
 * Reads the global flags that may come before the verb (--home DIR, --json,
 * --help, --version), finds the verb in one table and hands it the words
 * after it.
 * Each verb lives in a cmd_*.c file and returns the process exit status
 * (0 ok, 1 failure, 2 usage error, 3 a sync with refusals: CLI_EREFUSED,
 * 4 wiped by head office's order: CLI_EWIPED); main only adds the final
 * flush check so a full disk or a closed pipe is reported rather than silently lost. The verb table
 * is the single place that says which verbs exist: anything else (including head-office verbs such
 * as `product add`) is a usage error.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "Usage: fieldsync [--home DIR] COMMAND [ARGS...] [--json]\n"
    "\n"
    "The offline store of a field-sales manager: customers, contacts, meetings\n"
    "and orders, recorded with or without a network.\n"
    "\n"
    "Commands:\n"
    "  init --manager NAME              create the encrypted store and device keys\n"
    "  unlock [--for 2h]                unlock for this session (asks the passphrase)\n"
    "  unlock --recover                 forgot it: unlock with head office's code\n"
    "  lock                             forget the unlocked key at once\n"
    "  passwd                           change the passphrase\n"
    "  customer add|edit|list|show|find customers (with contacts, meetings,\n"
    "                                   orders and open balance on show)\n"
    "  customer archive|delete          a customer lost, or made by mistake\n"
    "  contact add|list|edit|delete     contact persons of a customer\n"
    "  meeting add|list|edit|delete     visits, calls, exhibition meetings\n"
    "  order new|line|submit|cancel|list|show\n"
    "                                   orders priced from the synced price list;\n"
    "                                   order line edit|remove corrects a draft\n"
    "  quote new|line|send|accept|reject|show|list\n"
    "                                   proposals; accept makes the order\n"
    "  agenda [--day DATE] [--week]     the day (or week): meetings, calls,\n"
    "                                   follow-ups, tasks, quotes awaiting an\n"
    "                                   answer, debtors, counts against the norms\n"
    "  call log|list                    phone calls, fast to log\n"
    "  task add|list|done|edit|delete   your to-do list with due dates\n"
    "  complaint add|list|resolve|edit  complaints and feedback until resolved\n"
    "  competitor add|list              what the competition offers a customer\n"
    "  deal add|edit|list|show          opportunities, lead to won or lost\n"
    "  product list|find                the catalog pushed down by head office\n"
    "  status                           device id, pending changes, last sync\n"
    "  conflicts [resolve ID --keep winner|loser]\n"
    "                                   concurrent edits resolved by rule\n"
    "  export --json                    every synced table, for comparing\n"
    "  enroll --server URL --token-file FILE --ca FILE|--pin SHA256\n"
    "                                   join head office (once per device)\n"
    "  sync                             push local changes, pull head office's\n"
    "  refused [show|copy|dismiss ID]   changes head office refused, kept with\n"
    "                                   their values: read, copy or dismiss them\n"
    "  receipts [verify]                head office's signed acknowledgements,\n"
    "                                   proof of what it accepted\n"
    "  wipe [--yes]                     shred this device's keys and store for good\n"
    "\n"
    "Options (accepted before or after the command):\n"
    "  --home DIR   the store directory (default $FIELDSYNC_HOME, else\n"
    "               ~/.fieldsync)\n"
    "  --json       print one JSON document on stdout instead of tables\n"
    "  --help, -h   this help; 'fieldsync COMMAND --help' for a command\n"
    "  --version    print \"fieldsync X.Y.Z\" (with --json: {\"version\":\"X.Y.Z\"})\n"
    "\n"
    "The store is encrypted: a command that needs it takes the key `fieldsync\n"
    "unlock` cached for the session, else the passphrase in the file\n"
    "$FIELDSYNC_PASSPHRASE_FILE names.\n"
    "\n"
    "Wherever an id is taken, a unique start or end of it (6+ characters)\n"
    "works, for a customer its exact name, for an order or quote its number.\n"
    "Times accept \"YYYY-MM-DD HH:MM\" (local time), \"YYYY-MM-DD\" or ISO-8601.\n"
    "Exit status: 0 success, 1 failure, 2 usage error, 3 a sync that finished but\n"
    "in which head office refused changes (kept: see 'fieldsync refused'), 4 this\n"
    "device was wiped by head office's order.\n";

typedef struct verb {
  const char *name;
  cli_handler run;
} verb;

static const verb verbs[] = {
    {"init", cmd_init},
    {"customer", cmd_customer},
    {"contact", cmd_contact},
    {"meeting", cmd_meeting},
    {"order", cmd_order},
    {"quote", cmd_quote},
    {"product", cmd_product},
    {"status", cmd_status},
    {"conflicts", cmd_conflicts},
    {"export", cmd_export},
    {"enroll", cmd_enroll},
    {"sync", cmd_sync},
    {"refused", cmd_refused},
    {"unlock", cmd_unlock},
    {"lock", cmd_lock},
    {"passwd", cmd_passwd},
    {"receipts", cmd_receipts},
    {"complaint", cmd_complaint},
    {"competitor", cmd_competitor},
    {"wipe", cmd_wipe},
    {"call", cmd_call},
    {"task", cmd_task},
    {"agenda", cmd_agenda},
    {"deal", cmd_deal},
    {NULL, NULL},
};

/* The library's version: this program is built with the library it ships
 * with, so fs_version() is the version of both. */
static int print_version(const cli_ctx *ctx) {
  if (!ctx->json) {
    printf("fieldsync %s\n", fs_version());
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  int rc;
  if (!o || !cJSON_AddStringToObject(o, "version", fs_version()))
    rc = cli_fail("out of memory.");
  else
    rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
}

int main(int argc, char **argv) {
  cli_ctx ctx = {0};
  int i = 1, rc, version = 0;
  tzset();

  /* global flags before the verb */
  while (i < argc && argv[i][0] == '-') {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return cli_finish(CLI_OK);
    }
    if (strcmp(a, "--json") == 0) {
      ctx.json = 1;
    } else if (strcmp(a, "--version") == 0) {
      version = 1;
    } else if (strcmp(a, "--home") == 0 || strncmp(a, "--home=", 7) == 0) {
      const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v || !*v) return cli_usage("--home needs a directory; see 'fieldsync --help'.");
      ctx.home = v;
    } else {
      return cli_usage("unknown option '%.40s'; see 'fieldsync --help'.", a);
    }
    i++;
  }
  if (version) return cli_finish(print_version(&ctx));
  if (i >= argc) return cli_usage("no command given; see 'fieldsync --help' for the commands.");

  const verb *v = NULL;
  for (const verb *p = verbs; p->name; p++)
    if (strcmp(p->name, argv[i]) == 0) v = p;
  if (!v)
    return cli_usage("unknown command '%.40s'; see 'fieldsync --help' for the "
                     "commands.",
                     argv[i]);

  rc = v->run(&ctx, argc - i - 1, argv + i + 1);
  rc = cli_finish(rc);
  free(ctx.home_buf);
  return rc;
}
