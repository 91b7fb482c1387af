/*
 * cmd_norms.c — `fieldsync-server norms set|list`: the day norms head
 * office sets for its managers (calls, meetings and proposals a day, new
 * contracts a month), shown on each device's agenda against what was done.
 * Values are checked before the home is opened (whole numbers from 0 to
 * 100000); the manager must be known to head office, or --default sets the
 * row "*" that every manager without a value of their own gets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

typedef struct norms_args {
  const char *manager;
  fs_hq_norms norms;
  char *doc; /* out, fs_free */
} norms_args;

static int call_norms_set(fs_hq *hq, void *arg) {
  norms_args *a = arg;
  return fs_hq_norms_set(hq, a->manager, &a->norms);
}

static int call_norms_list(fs_hq *hq, void *arg) {
  norms_args *a = arg;
  return fs_hq_norms_json(&a->doc, hq);
}

static const char set_usage[] =
    "Usage: fieldsync-server norms set MANAGER|--default [--calls N] [--meetings N]\n"
    "           [--proposals N] [--contracts N] [--json]\n"
    "\n"
    "Sets the norms of MANAGER (a manager with an enrolled device or a\n"
    "customer), or with --default everyone's default: a manager's agenda shows\n"
    "each target from their own norms, else from the default.  The values\n"
    "reach the devices at their next sync; those not given stay as they are.\n"
    "\n"
    "  --default         set everyone's default instead of one manager's\n"
    "  --calls N         calls a day (0 to 100000)\n"
    "  --meetings N      meetings a day\n"
    "  --proposals N     proposals (quotes sent) a day\n"
    "  --contracts N     new contracts a month\n"
    "  --home DIR        the server data\n"
    "  --json            print the manager's norms as set\n"
    "\n"
    "Examples:\n"
    "  fieldsync-server norms set --default --calls 30 --proposals 50 --contracts 4\n"
    "  fieldsync-server norms set alice --meetings 3\n";

/* A norm a person typed: a whole number 0..FS_HQ_NORM_MAX. */
static int parse_norm(int64_t *out, const char *flag, const char *text) {
  char *end = NULL;
  long long v = text && *text >= '0' && *text <= '9' ? strtoll(text, &end, 10) : -1;
  if (!end || *end || v < 0 || v > FS_HQ_NORM_MAX)
    return cli_usage("--%s must be a whole number from 0 to %d (got \"%.20s\").", flag,
                     FS_HQ_NORM_MAX, text ? text : "");
  *out = v;
  return CLI_OK;
}

static int cmd_norms_set(cli_ctx *ctx, int argc, char **argv) {
  const char *pos[1] = {NULL}, *calls = NULL, *meetings = NULL, *proposals = NULL,
             *contracts = NULL;
  int dflt = 0;
  const cli_opt opts[] = {{"default", 0, NULL, &dflt},        {"calls", 1, &calls, NULL},
                          {"meetings", 1, &meetings, NULL},   {"proposals", 1, &proposals, NULL},
                          {"contracts", 1, &contracts, NULL}, {NULL, 0, NULL, NULL}};
  /* MANAGER is not given with --default */
  int npos = 1;
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--default")) npos = 0;
  static const char *const names[] = {"MANAGER (or --default)"};
  const cli_spec spec = {"norms set", set_usage, opts, names, pos, (size_t)npos};
  norms_args a = {NULL, FS_HQ_NORMS_INIT, NULL};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (pos[0] && !strcmp(pos[0], "*"))
    return cli_usage("norms set: the default is set with --default.");
  if (!calls && !meetings && !proposals && !contracts)
    return cli_usage("norms set: give at least one of --calls, --meetings, --proposals, "
                     "--contracts.");
  if ((calls && parse_norm(&a.norms.calls_day, "calls", calls)) ||
      (meetings && parse_norm(&a.norms.meetings_day, "meetings", meetings)) ||
      (proposals && parse_norm(&a.norms.proposals_day, "proposals", proposals)) ||
      (contracts && parse_norm(&a.norms.contracts_month, "contracts", contracts)))
    return CLI_EUSAGE;
  a.manager = dflt ? "*" : pos[0];
  if ((rc = srv_with_hq(ctx, call_norms_set, &a))) return rc;
  if ((rc = srv_with_hq(ctx, call_norms_list, &a))) return rc;
  cJSON *arr = NULL, *it, *row = NULL;
  arr = cli_parse_doc(a.doc, "the norms");
  fs_free(a.doc);
  if (!arr) return CLI_EFAIL;
  cJSON_ArrayForEach(it, arr) {
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "manager"));
    if (m && !strcmp(m, a.manager)) row = it;
  }
  if (ctx->json) {
    rc = cli_print_cjson(row ? row : arr);
  } else {
    char c[24], m[24], p[24], k[24];
    printf("norms of %s: calls %s, meetings %s, proposals %s a day; contracts %s a month\n",
           dflt ? "everyone (default)" : a.manager, cli_text(c, sizeof c, row, "calls_day", "-"),
           cli_text(m, sizeof m, row, "meetings_day", "-"),
           cli_text(p, sizeof p, row, "proposals_day", "-"),
           cli_text(k, sizeof k, row, "contracts_month", "-"));
  }
  cJSON_Delete(arr);
  return rc;
}

static int cmd_norms_list(cli_ctx *ctx, int argc, char **argv) {
  norms_args a = {NULL, FS_HQ_NORMS_INIT, NULL};
  const cli_spec spec = {"norms list",
                         "Usage: fieldsync-server norms list [--json]\n\nThe norms set per "
                         "manager, the default (*) first; - is no target.\n\nExample:\n"
                         "  fieldsync-server norms list --json\n",
                         NULL,
                         NULL,
                         NULL,
                         0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if ((rc = srv_with_hq(ctx, call_norms_list, &a))) return rc;
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, a.doc, "the norms", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"MANAGER", "manager", NULL, NULL, 0},
      {"CALLS/DAY", "calls_day", NULL, NULL, 1},
      {"MEETINGS/DAY", "meetings_day", NULL, NULL, 1},
      {"PROPOSALS/DAY", "proposals_day", NULL, NULL, 1},
      {"CONTRACTS/MONTH", "contracts_month", NULL, NULL, 1},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 "No norms set; 'fieldsync-server norms set --help' says how.\n");
  cJSON_Delete(arr);
  return CLI_OK;
}

int cmd_norms(cli_ctx *ctx, int argc, char **argv) {
  static const cli_sub subs[] = {{"set", cmd_norms_set}, {"list", cmd_norms_list}, {NULL, NULL}};
  return cli_dispatch(ctx, "norms",
                      "Usage: fieldsync-server norms set MANAGER|--default [--calls N]\n"
                      "           [--meetings N] [--proposals N] [--contracts N] [--json]\n"
                      "       fieldsync-server norms list [--json]\n"
                      "\n"
                      "'fieldsync-server norms COMMAND --help' describes each command.\n",
                      subs, argc, argv);
}
