/*
 * main.c — `fieldsync-server`, the head-office command line and HTTPS server.
 *
 * Every verb is thin over <fieldsync/server.h> and uses the same option
 * parser and output helpers as the device command (cli/), so both programs
 * behave alike: --help everywhere, one line on stderr on failure, --json
 * prints one document.  This file holds the usage, the dispatch, the helpers
 * the verbs share (cmd.h) and the import, assign and report verbs; the
 * others live in cmd_serve.c, cmd_devices.c, cmd_data.c and cmd_refused.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

static const char usage[] =
    "Usage: fieldsync-server [--home DIR] COMMAND [ARGS...] [--json]\n"
    "       fieldsync-server --version [--json]\n"
    "\n"
    "Head office: merges every device's field data, sends each manager's\n"
    "devices what they hold, and reports on the merged data.\n"
    "\n"
    "Commands:\n"
    "  init [--cert FILE --key FILE] [--host NAME] [--encrypt --key-file FILE]\n"
    "                                  server keys, TLS certificate, store\n"
    "                                  (--encrypt: encrypted at rest)\n"
    "  serve [--listen ADDR:PORT]      the HTTPS sync endpoint (default\n"
    "                                  127.0.0.1:8443)\n"
    "  token create --manager NAME     a one-time enrollment token\n"
    "  devices                         enrolled devices\n"
    "  revoke DEVICE [--wipe]          refuse a device from now on (--wipe: and\n"
    "                                  order it to shred its data)\n"
    "  lease set MANAGER --days N      how long a manager's devices stay\n"
    "                                  unlockable without a sync (default 14)\n"
    "  lease list                      the lease length per manager\n"
    "  recover DEVICE [--hours N]      approve a forgotten-passphrase recovery\n"
    "                                  (a one-time code; --list, --cancel)\n"
    "  import products|prices|balances FILE.csv\n"
    "  assign CUSTOMER MANAGER         move a customer to another manager\n"
    "  norms set MANAGER|--default [--calls N] [--meetings N] [--proposals N]\n"
    "        [--contracts N]           the day norms the devices' agendas show\n"
    "  norms list                      the norms per manager\n"
    "  report orders|meetings|pipeline [--month YYYY-MM] [--by manager|customer]\n"
    "                                  [--csv|--json]\n"
    "  conflicts                       concurrent edits resolved by rule\n"
    "  verify-log                      re-check the audit log of envelopes\n"
    "  export --json [--manager NAME]  the merged data (or one manager's subset)\n"
    "  refused [--manager NAME]        changes refused from devices, with values\n"
    "  backup FILE                     a consistent copy of the store (while serving)\n"
    "  restore FILE                    put a backup back (server stopped)\n"
    "\n"
    "Options:\n"
    "  --home DIR   server data (default $FIELDSYNC_SERVER_HOME, else\n"
    "               ./fieldsync-server)\n"
    "  --key-file FILE  the key of an encrypted store (default\n"
    "               $FIELDSYNC_SERVER_KEY_FILE, else the systemd credential\n"
    "               $CREDENTIALS_DIRECTORY/fieldsync-server.key)\n"
    "  --json       one JSON document on stdout\n"
    "  --version    the version: 'fieldsync-server X.Y.Z' ({\"version\":...} with\n"
    "               --json)\n"
    "  --help, -h   this help; 'fieldsync-server COMMAND --help' for a command\n";

const char *srv_home(cli_ctx *ctx) {
  if (ctx->home) return ctx->home;
  const char *env = getenv("FIELDSYNC_SERVER_HOME");
  return env && *env ? env : "./fieldsync-server";
}

int srv_with_hq(cli_ctx *ctx, srv_call call, void *arg) {
  fs_hq *hq = NULL;
  int rc = fs_hq_open(&hq, srv_home(ctx));
  if (!rc) rc = call(hq, arg);
  fs_hq_close(hq);
  return rc < 0 ? cli_lib_fail(rc) : rc;
}

/* The arguments and results of the import, assign and report verbs' one
 * library call each, made through srv_with_hq. */
typedef struct hq_args {
  const char *a, *b, *c;
  size_t count;
  char *doc;
} hq_args;

/* 100000 as "100,000". */
static const char *thousands(char *buf, size_t cap, size_t v) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%zu", v), o = 0;
  for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
    if (i && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

/* "imported 40,000 of 100,000 products", rewritten in place on a terminal. */
static void import_progress(size_t done, size_t total, void *arg) {
  char d[32], t[32];
  fprintf(stderr, "\rimported %s of %s %s", thousands(d, sizeof d, done),
          thousands(t, sizeof t, total), (const char *)arg);
  if (done >= total) fputc('\n', stderr);
  fflush(stderr);
}

static int call_import(fs_hq *hq, void *arg) {
  hq_args *x = arg;
  int rc = x->c ? FS_OK : fs_hq_check_clock(hq); /* c: --trust-clock */
  fs_hq_import_opts o = FS_HQ_IMPORT_OPTS_INIT;
  if (isatty(STDERR_FILENO)) {
    o.progress = import_progress;
    o.progress_arg = (void *)x->a;
  }
  return rc ? rc : fs_hq_import_csv_opts(&x->count, hq, x->a, x->b, &o);
}

/* The customer as typed (an id, a unique prefix of it, or the exact name)
 * is resolved under head office's lock, into resolved[]. */
typedef struct assign_args {
  hq_args x;
  char resolved[FS_ID_SIZE];
} assign_args;

static int call_assign(fs_hq *hq, void *arg) {
  assign_args *y = arg;
  int rc = fs_resolve_id(y->resolved, fs_hq_store(hq), "customers", y->x.a);
  return rc ? rc : fs_hq_assign(hq, y->resolved, y->x.b);
}

static int call_report(fs_hq *hq, void *arg) {
  hq_args *x = arg;
  return fs_hq_report_json(&x->doc, hq, x->a, x->b, x->c);
}

/* ---------------------------------------------------------------- import */

static int cmd_import(cli_ctx *ctx, int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  static const char *const names[] = {"KIND (products, prices or balances)", "FILE.csv"};
  int trust_clock = 0;
  const cli_opt opts[] = {{"trust-clock", 0, NULL, &trust_clock}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {"import",
                         "Usage: fieldsync-server import products|prices|balances FILE.csv\n"
                         "                               [--trust-clock]\n"
                         "\n"
                         "CSV, UTF-8, with a header row; amounts are decimals (12.50):\n"
                         "  products: sku,name,unit,active   (active is 1 or 0)\n"
                         "  prices:   sku,currency,price\n"
                         "  balances: customer_id,currency,open,overdue\n"
                         "A bad row refuses the whole file (its line number is named); nothing\n"
                         "is imported from it.  Refuses to run, like `serve`, when this\n"
                         "machine's clock is behind the newest change in the store by more\n"
                         "than the allowed skew (--trust-clock: run anyway).\n"
                         "On a terminal, progress is shown on stderr (\"imported 40,000 of\n"
                         "100,000 products\").  Devices keep syncing meanwhile: their\n"
                         "changes wait for the import's transaction (seconds) and go in after.\n"
                         "\n"
                         "  --trust-clock     import although this machine's clock is behind the "
                         "store's newest change\n"
                         "\n"
                         "Example:\n"
                         "  fieldsync-server import products catalog.csv\n",
                         opts,
                         names,
                         pos,
                         2};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  static const char *const kinds[] = {"products", "prices", "balances", NULL};
  if (cli_parse_choice("the kind to import", pos[0], kinds)) return CLI_EUSAGE;
  hq_args x = {pos[0], pos[1], trust_clock ? "" : NULL, 0, NULL};
  if ((rc = srv_with_hq(ctx, call_import, &x))) return rc;
  size_t n = x.count;
  if (ctx->json)
    printf("{\"imported\":%zu,\"kind\":\"%s\"}\n", n, pos[0]);
  else
    printf("imported %zu %s from %s\n", n, pos[0], pos[1]);
  return CLI_OK;
}

static int cmd_assign(cli_ctx *ctx, int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  static const char *const names[] = {"CUSTOMER", "MANAGER"};
  const cli_spec spec = {"assign",
                         "Usage: fieldsync-server assign CUSTOMER MANAGER\n\nAssigns a "
                         "customer to a manager: that manager's devices receive its whole "
                         "history at their next sync.  CUSTOMER is its id, a unique prefix "
                         "of it (6+ characters) or its exact name.\n\n"
                         "Example:\n"
                         "  fieldsync-server assign \"Nordwind GmbH\" bob\n",
                         NULL,
                         names,
                         pos,
                         2};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  assign_args y = {{pos[0], pos[1], NULL, 0, NULL}, ""};
  if ((rc = srv_with_hq(ctx, call_assign, &y))) return rc;
  if (ctx->json)
    printf("{\"customer\":\"%s\",\"manager\":\"%s\"}\n", y.resolved, pos[1]);
  else
    printf("customer %s assigned to %s\n", y.resolved, pos[1]);
  return CLI_OK;
}

/* ---------------------------------------------------------------- report */

/* --tz ZONE: a zone of the system's time zone database (TZDIR, else
 * /usr/share/zoneinfo) or UTC, made the process's local zone.  The C library
 * takes an unknown name for UTC without a word, so the name is checked. */
static int use_zone(const char *zone) {
  const char *dir = getenv("TZDIR");
  char path[512];
  struct stat sb;
  int ok = !strcmp(zone, "UTC");
  if (!ok && *zone && *zone != '/' && !strstr(zone, "..") && strlen(zone) < 128) {
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
    ok = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
  }
  if (!ok)
    return cli_usage("--tz: \"%.60s\" is not a time zone; use a name such as Europe/Berlin, "
                     "Asia/Tokyo or UTC.",
                     zone);
  setenv("TZ", zone, 1);
  tzset();
  return CLI_OK;
}

static int cmd_report(cli_ctx *ctx, int argc, char **argv) {
  const char *kind = NULL, *month = NULL, *by = NULL, *tz = NULL;
  int csv = 0;
  static const char *const names[] = {"REPORT (orders, meetings or pipeline)"};
  const cli_opt opts[] = {{"month", 1, &month, NULL},
                          {"by", 1, &by, NULL},
                          {"csv", 0, NULL, &csv},
                          {"tz", 1, &tz, NULL},
                          {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "report",
      "Usage: fieldsync-server report orders|meetings|pipeline [--month YYYY-MM]\n"
      "                               [--by manager|customer] [--tz ZONE]\n"
      "                               [--csv|--json]\n"
      "\n"
      "  --month YYYY-MM  one month of head office's local calendar\n"
      "  --by B           group by manager (default) or customer\n"
      "  --tz ZONE        the time zone whose calendar --month means, such as\n"
      "                   Europe/Berlin (default: $TZ, else the server's)\n"
      "  --csv            comma-separated rows for a spreadsheet\n"
      "  --json           the report document\n"
      "\n"
      "orders:   submitted and confirmed orders, count and total per currency\n"
      "meetings: meetings by kind\n"
      "pipeline: deals by stage (lead, qualified, proposal, negotiation open;\n"
      "          won, lost closed): count, value and weighted value (value x\n"
      "          probability / 100 per deal), per currency; a deal counts in\n"
      "          the month of its close date (expected, or when it was won or\n"
      "          lost), else of its creation\n"
      "Totals are exact integer minor units per currency (--json, --csv) and\n"
      "shown as amounts with their currency in tables.\n"
      "\n"
      "Times are stored in UTC; a month is counted in the local calendar (an\n"
      "order submitted at 23:30 UTC on 31 March is April's in Berlin).\n"
      "\n"
      "Examples:\n"
      "  fieldsync-server report pipeline --month 2026-06 --by manager\n"
      "  fieldsync-server report orders --month 2026-04 --tz Asia/Tokyo --csv\n",
      opts,
      names,
      &kind,
      1};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (csv && ctx->json) return cli_usage("report: choose --csv or --json, not both.");
  static const char *const kinds[] = {"orders", "meetings", "pipeline", NULL};
  static const char *const bys[] = {"manager", "customer", NULL};
  if (cli_parse_choice("the report", kind, kinds)) return CLI_EUSAGE;
  if (by && cli_parse_enum("by", by, bys)) return CLI_EUSAGE;
  if (tz && (rc = use_zone(tz)) != CLI_OK) return rc;
  hq_args x = {kind, month, by, 0, NULL};
  if ((rc = srv_with_hq(ctx, call_report, &x))) return rc;
  char *doc = x.doc;
  cJSON *o = NULL;
  if (!cli_take_doc(ctx, doc, "the report", &o, &rc)) return rc;
  const cJSON *rows = cJSON_GetObjectItem(o, "rows");
  const cJSON *first = cJSON_GetArrayItem(rows, 0);
  if (csv) {
    /* the one CSV writer: text that would run as a spreadsheet formula (a
     * customer named "=HYPERLINK(...)") is neutralised there */
    cli_csv_rows(stdout, rows);
    cJSON_Delete(o);
    return CLI_OK;
  }
  /* A table: group column(s), then counts, money formatted with currency. */
  const char *heads[12];
  char headbuf[12][32];
  size_t nc = 0;
  const cJSON *f;
  unsigned right = 0;
  cJSON_ArrayForEach(f, first) {
    if (nc == 12) break;
    if (!strcmp(f->string, "currency")) continue;
    snprintf(headbuf[nc], sizeof headbuf[nc], "%s", f->string);
    for (char *p = headbuf[nc]; *p; p++)
      *p = (char)(*p == '_' ? ' ' : *p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    if (cJSON_IsNumber(f)) right |= 1u << nc;
    heads[nc] = headbuf[nc];
    nc++;
  }
  if (!first) {
    printf("no data%s%s\n", month ? " for " : "", month ? month : "");
    cJSON_Delete(o);
    return CLI_OK;
  }
  cli_table *t = cli_table_new(nc, heads, right);
  const cJSON *it;
  cJSON_ArrayForEach(it, rows) {
    char cellbuf[12][96];
    const char *cells[12];
    size_t i = 0;
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItem(it, "currency"));
    cJSON_ArrayForEach(f, it) {
      if (i == nc) break;
      if (!strcmp(f->string, "currency")) continue;
      if (!strcmp(f->string, "total") || !strcmp(f->string, "value") ||
          !strcmp(f->string, "weighted"))
        cli_money(cellbuf[i], sizeof cellbuf[i], cli_int(it, f->string, 0), cur);
      else
        cli_text(cellbuf[i], sizeof cellbuf[i], it, f->string, "-");
      cells[i] = cellbuf[i];
      i++;
    }
    cli_table_add(t, cells);
  }
  const char *zone = cJSON_GetStringValue(cJSON_GetObjectItem(o, "time_zone"));
  if (month) printf("%s, %s (%s)\n", kind, month, zone ? zone : "local time");
  cli_table_print(t, "");
  cli_table_free(t);
  const cJSON *totals = cJSON_GetObjectItem(o, "totals");
  cJSON_ArrayForEach(it, totals) {
    char m[64], w[64];
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItem(it, "currency"));
    const char *stage = cJSON_GetStringValue(cJSON_GetObjectItem(it, "stage"));
    if (stage) {
      cli_money(m, sizeof m, cli_int(it, "value", 0), cur);
      cli_money(w, sizeof w, cli_int(it, "weighted", 0), cur);
      long long nd = (long long)cli_int(it, "deals", 0);
      printf("total %s: %lld deal%s, %s, weighted %s\n", stage, nd, nd == 1 ? "" : "s", m, w);
      continue;
    }
    cli_money(m, sizeof m, cli_int(it, "total", 0), cur);
    long long no = (long long)cli_int(it, "orders", 0);
    printf("total: %lld order%s, %s\n", no, no == 1 ? "" : "s", m);
  }
  cJSON_Delete(o);
  return CLI_OK;
}

/* --------------------------------------------------------------- version */

static int print_version(const cli_ctx *ctx) {
  if (!ctx->json) {
    printf("fieldsync-server %s\n", fs_version());
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "version", fs_version());
  int rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
}

typedef struct verb {
  const char *name;
  cli_handler run;
} verb;

static const verb verbs[] = {
    {"init", cmd_init_server},
    {"serve", cmd_serve},
    {"token", cmd_token},
    {"devices", cmd_devices},
    {"revoke", cmd_revoke},
    {"lease", cmd_lease},
    {"recover", cmd_recover},
    {"import", cmd_import},
    {"assign", cmd_assign},
    {"report", cmd_report},
    {"conflicts", cmd_conflicts_server},
    {"verify-log", cmd_verify_log},
    {"export", cmd_export_server},
    {"refused", cmd_refused_server},
    {"backup", cmd_backup},
    {"restore", cmd_restore},
    {"norms", cmd_norms},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  cli_ctx ctx = {0};
  int i = 1, version = 0;
  tzset();
  cli_progname = "fieldsync-server";
  while (i < argc && argv[i][0] == '-') {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return cli_finish(CLI_OK);
    }
    if (!strcmp(a, "--json")) {
      ctx.json = 1;
    } else if (!strcmp(a, "--version")) {
      version = 1;
    } else if (!strcmp(a, "--home") || !strncmp(a, "--home=", 7)) {
      const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v || !*v) return cli_usage("--home needs a directory; see 'fieldsync-server --help'.");
      ctx.home = v;
    } else if (!strcmp(a, "--key-file") || !strncmp(a, "--key-file=", 11)) {
      const char *v = a[10] == '=' ? a + 11 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v || !*v) return cli_usage("--key-file needs a file; see 'fieldsync-server --help'.");
      /* every verb finds the key the same way: through the environment */
      setenv(FS_HQ_KEY_ENV, v, 1);
    } else {
      return cli_usage("unknown option '%.40s'; see 'fieldsync-server --help'.", a);
    }
    i++;
  }
  if (version) return cli_finish(print_version(&ctx));
  if (i >= argc) {
    fputs(usage, stderr);
    return CLI_EUSAGE;
  }
  for (const verb *v = verbs; v->name; v++)
    if (!strcmp(v->name, argv[i])) return cli_finish(v->run(&ctx, argc - i - 1, argv + i + 1));
  return cli_usage("unknown command '%.40s'; see 'fieldsync-server --help'.", argv[i]);
}
