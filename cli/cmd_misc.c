/*
 * cmd_misc.c — `fieldsync init`, `product list`, `status`, `conflicts`
 * (list and resolve) and `export --json`.
 *
 * The verbs that are not about one business object.  `init` is the only one
 * that creates a store (through fs_device_create, which refuses to overwrite
 * an existing one), asking for the passphrase that will unlock it; every other verb opens an
 * existing store and reports the library's "run fieldsync init" sentence when there is none.
 * Products are head-office owned: the device can list them but there is deliberately no verb that
 * writes them.  `export --json` is the replica's whole state for comparing replicas, so it exists
 * only as JSON.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};

/* ------------------------------------------------------------ init */

static const char init_usage[] =
    "Usage: fieldsync init --manager NAME [--home DIR] [--json]\n"
    "\n"
    "Creates the encrypted store and this device's keys in the home directory\n"
    "(mode 0700).  Refuses to overwrite an existing store.  Prints the device id\n"
    "and the home (with --json: {\"device_id\",\"home\",\"manager\"}).\n"
    "\n"
    "The store and the keys are encrypted under a random key that only the\n"
    "manager's passphrase unlocks.  The passphrase (at least 10 characters) is\n"
    "asked twice on a terminal, without echo; a script gives it on standard\n"
    "input (one line) or in the file $FIELDSYNC_PASSPHRASE_FILE names (mode\n"
    "0600).  A forgotten passphrase cannot be recovered from the laptop.\n"
    "\n"
    "  --manager NAME  the account manager using this device (required)\n"
    "  --home DIR      the store directory (default $FIELDSYNC_HOME, else\n"
    "                  ~/.fieldsync)\n"
    "  --json          print JSON\n"
    "\n"
    "Examples:\n"
    "  fieldsync init --manager anna\n"
    "  FIELDSYNC_PASSPHRASE_FILE=~/.anna.pass fieldsync init --manager anna --json\n";

int cmd_init(cli_ctx *ctx, int argc, char **argv) {
  const char *manager = NULL;
  const cli_opt opts[] = {{"manager", 1, &manager, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"init", init_usage, opts, NULL, NULL, 0};
  fs_device *dev = NULL;
  cli_secret pass = {NULL, 0};
  cJSON *o = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!manager || !*manager)
    return cli_usage("init: --manager NAME is required; see 'fieldsync init "
                     "--help'.");
  const char *home = cli_home(ctx);
  if (!home) return CLI_EFAIL;
  if ((rc = cli_passphrase(&pass, "New passphrase for this device (10+ characters): ", 1)))
    return rc;
  fs_device_init_opts io = FS_DEVICE_INIT_OPTS_INIT;
  io.manager = manager;
  io.passphrase = pass.buf;
  io.passphrase_len = pass.len;
  int lrc = fs_device_create(&dev, home, &io);
  cli_secret_free(&pass);
  if (lrc != FS_OK) return cli_lib_fail(lrc);
  const char *id = fs_device_id(dev);
  if (ctx->json) {
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "device_id", id ? id : "") ||
        !cJSON_AddStringToObject(o, "home", home) ||
        !cJSON_AddStringToObject(o, "manager", manager))
      rc = cli_fail("out of memory.");
    else
      rc = cli_print_cjson(o);
  } else {
    static const char *const keys[] = {"device id", "home", "manager"};
    const char *vals[] = {id, home, manager};
    cli_kv_print(keys, vals, 3, "");
  }
  cJSON_Delete(o);
  fs_device_close(dev);
  return rc;
}

/* ------------------------------------------------------------ product */

static const char product_list_usage[] =
    "Usage: fieldsync product list [--limit N] [--json]\n"
    "\n"
    "Lists the catalog pushed down by head office, by SKU, with prices per\n"
    "currency.  Products and prices are read-only on a device.\n"
    "\n"
    "  --limit N       the first N products only (a large catalog: use\n"
    "                  'fieldsync product find TEXT' to look one up)\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON\n\n"
    "Examples:\n"
    "  fieldsync product list --limit 50\n"
    "  fieldsync product list --json\n";

static const char product_find_usage[] =
    "Usage: fieldsync product find TEXT [--limit N] [--json]\n"
    "\n"
    "Finds products by SKU or name, ignoring case and accents (\"kuhlschrank\"\n"
    "finds \"Kühlschrank\"), best first: the exact SKU, SKUs starting with TEXT,\n"
    "names starting with it, names with a word starting with it, then TEXT\n"
    "anywhere.  Shows the first 50 (--limit N).\n"
    "\n"
    "  --limit N       at most N products (default 50, at most 10,000)\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON\n"
    "\n"
    "Examples:\n"
    "  fieldsync product find SKU-0042\n"
    "  fieldsync product find kaffee --limit 10 --json\n";

static const char product_usage[] =
    "Usage: fieldsync product COMMAND\n"
    "\n"
    "Commands:\n"
    "  list [--limit N] [--json]  the catalog pushed down by head office\n"
    "                             (read-only here)\n"
    "  find TEXT [--json]         products by SKU or name, best first\n";

/* "active" is 1 or 0 in the store; anything else is shown as it is. */
static const char *active_cell(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                               const cJSON *doc) {
  if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(row, col->key)))
    return cli_int(row, col->key, 0) ? "yes" : "no";
  return cli_cell_text(buf, cap, row, col, doc);
}

/* Every price of the product, "12.50 EUR, 13.90 USD". */
static const char *prices_cell(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                               const cJSON *doc) {
  const cJSON *pr;
  size_t n = 0;
  (void)doc;
  buf[0] = '\0';
  cJSON_ArrayForEach(pr, cJSON_GetObjectItemCaseSensitive(row, col->key)) {
    char cur[16], m[64];
    cli_text(cur, sizeof cur, pr, "currency", "");
    cli_money(m, sizeof m, cli_int(pr, "price", 0), cur);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", m);
  }
  return buf;
}

static const cli_col product_cols[] = {
    {"SKU", "sku", NULL, NULL, 0},
    {"NAME", "name", NULL, NULL, 0},
    {"UNIT", "unit", NULL, NULL, 0},
    {"ACTIVE", "active", active_cell, NULL, 0},
    {"PRICES", "prices", prices_cell, NULL, 0},
};

/* --limit N: a whole number from 1; 0 when not given. */
static int parse_limit(const char *text, long long *out) {
  char *end = NULL;
  *out = 0;
  if (!text) return 0;
  long long v = strtoll(text, &end, 10);
  if (!*text || *end || v < 1 || v > 1000000000)
    return cli_usage("product: --limit must be a whole number from 1, not \"%.20s\".", text);
  *out = v;
  return 0;
}

static int product_find(cli_ctx *ctx, int argc, char **argv) {
  const char *pos[1] = {NULL}, *limit_text = NULL;
  static const char *const names[] = {"TEXT"};
  const cli_opt opts[] = {{"limit", 1, &limit_text, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"product find", product_find_usage, opts, names, pos, 1};
  cJSON *arr = NULL;
  long long limit;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (parse_limit(limit_text, &limit)) return CLI_EUSAGE;
  if (!*pos[0])
    return cli_usage("product find: TEXT is empty; see 'fieldsync product find --help'.");
  char arg[512];
  snprintf(arg, sizeof arg, "%lld %s", limit ? limit : 50, pos[0]);
  if (strlen(pos[0]) > 256) return cli_usage("product find: TEXT is longer than 256 bytes.");
  if (!cli_view_doc(ctx, "product_find", arg, "a product search", &arr, &rc)) return rc;
  char none[400];
  snprintf(none, sizeof none, "No product matches \"%s\".\n", pos[0]);
  cli_print_rows(product_cols, CLI_NCOLS(product_cols), arr, NULL, "", none);
  cJSON_Delete(arr);
  return rc;
}

/* The whole catalog, page by page as it is read (PAGE products, the first
 * page smaller so the first screen shows at once): a 100,000-product list
 * starts printing in milliseconds and holds one page in memory.  Tables
 * keep the widths of the pages before (cli_table_print_page); --json
 * prints one array, element by element. */
#define FIRST_PAGE 60
#define PAGE 1000

static int product_pages(cli_ctx *ctx) {
  fs_device *dev = NULL;
  int rc = cli_open(ctx, &dev);
  if (rc != CLI_OK) return rc;
  size_t widths[CLI_ROWS_MAXCOLS] = {0}, total = 0;
  const char *heads[CLI_ROWS_MAXCOLS];
  for (size_t c = 0; c < CLI_NCOLS(product_cols); c++) heads[c] = product_cols[c].head;
  char after[80] = "", arg[128];
  for (int page = 0;; page++) {
    char *doc = NULL;
    size_t lim = page ? PAGE : FIRST_PAGE;
    snprintf(arg, sizeof arg, "page=%zu&after=%s", lim, after);
    if ((rc = cli_view_on(dev, "products", arg, &doc)) != CLI_OK) break;
    cJSON *arr = cli_parse_doc(doc, "a product list");
    fs_free(doc);
    if (!arr) {
      rc = CLI_EFAIL;
      break;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    const cJSON *r;
    if (ctx->json) {
      if (page == 0) fputc('[', stdout);
      cJSON_ArrayForEach(r, arr) {
        char *one = cJSON_PrintUnformatted(r);
        if (!one) {
          cJSON_Delete(arr);
          fs_device_close(dev);
          return cli_fail("out of memory while printing JSON.");
        }
        printf("%s%s", total++ ? "," : "", one);
        cJSON_free(one);
      }
    } else if (n) {
      cli_table *t = cli_table_new(CLI_NCOLS(product_cols), heads, 0);
      cJSON_ArrayForEach(r, arr) {
        char b[CLI_ROWS_MAXCOLS][256];
        const char *cells[CLI_ROWS_MAXCOLS];
        for (size_t c = 0; c < CLI_NCOLS(product_cols); c++) {
          cli_cell_fn cell = product_cols[c].cell ? product_cols[c].cell : cli_cell_text;
          cells[c] = cell(b[c], sizeof b[c], r, &product_cols[c], NULL);
        }
        cli_table_add(t, cells);
      }
      cli_table_print_page(t, "", widths, page == 0);
      cli_table_free(t);
      total += n;
    }
    if (n) {
      const char *last = cJSON_GetStringValue(
          cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, (int)n - 1), "sku"));
      snprintf(after, sizeof after, "%s", last ? last : "");
    }
    cJSON_Delete(arr);
    fflush(stdout);
    if (n < lim || !*after) break;
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  if (ctx->json)
    fputs(total ? "]\n" : "[]\n", stdout);
  else if (!total)
    fputs("No products yet; the catalog arrives from head office with 'fieldsync sync'.\n", stdout);
  return CLI_OK;
}

static int product_list(cli_ctx *ctx, int argc, char **argv) {
  const char *limit_text = NULL;
  const cli_opt opts[] = {{"limit", 1, &limit_text, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"product list", product_list_usage, opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  long long limit;
  char arg[48];
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (parse_limit(limit_text, &limit)) return CLI_EUSAGE;
  if (!limit) return product_pages(ctx);
  snprintf(arg, sizeof arg, "limit=%lld", limit);
  if (!cli_view_doc(ctx, "products", arg, "a product list", &arr, &rc)) return rc;
  cli_print_rows(product_cols, CLI_NCOLS(product_cols), arr, NULL, "",
                 "No products yet; the catalog arrives from head office with "
                 "'fieldsync sync'.\n");
  cJSON_Delete(arr);
  return rc;
}

static const cli_sub product_subs[] = {
    {"list", product_list}, {"find", product_find}, {NULL, NULL}};

int cmd_product(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "product", product_usage, product_subs, argc, argv);
}

/* ------------------------------------------------------------ status */

static const char status_usage[] =
    "Usage: fieldsync status [--json]\n"
    "\n"
    "Shows this device's id and manager, the server it is enrolled with, the\n"
    "last sync, the number of changes waiting to be pushed, and the changes\n"
    "head office refused that are still open, each with its reason in full\n"
    "(with --json: refused, refused_by_state and the open refusals).\n"
    "Warns (on stderr; \"behind_receipts\" in the JSON) when the store is\n"
    "behind its receipts: restored from an older copy, or it lost writes;\n"
    "'fieldsync sync' then recovers what head office acknowledged.\n"
    "Shows until when the device may be unlocked without a sync (its offline\n"
    "lease from head office, renewed by every sync; \"lease\" in the JSON:\n"
    "{\"issued_at\",\"until\",\"valid\"}, null when not enrolled).\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON\n"
    "\n"
    "Example:\n"
    "  fieldsync status --json\n";

/* Whether the store is behind its receipts (restored from an older copy,
 * lost writes): the library's sentence into msg[n] ("" when not), and the
 * two push sequences; then the status document and the offline lease
 * (fs_device_lease's result and times), read under the same open (one
 * unlock).  The exit status on a failure to tell. */
static int status_read(cli_ctx *ctx, char *msg, size_t n, int64_t *store_seq, int64_t *receipt_seq,
                       char **doc, int *lease, int64_t *issued, int64_t *until) {
  fs_device *dev = NULL;
  msg[0] = '\0';
  *doc = NULL;
  int rc = cli_open(ctx, &dev);
  if (rc != CLI_OK) return rc;
  int lrc = fs_device_check_receipts(store_seq, receipt_seq, dev);
  if (lrc == FS_ECONFLICT) snprintf(msg, n, "%s", fs_errmsg());
  rc = lrc && lrc != FS_ECONFLICT ? cli_lib_fail(lrc) : cli_view_on(dev, "status", NULL, doc);
  if (rc == CLI_OK) *lease = fs_device_lease(issued, until, dev);
  fs_device_close(dev);
  return rc;
}

int cmd_status(cli_ctx *ctx, int argc, char **argv) {
  cli_spec spec = {"status", status_usage, no_opts, NULL, NULL, 0};
  cJSON *s = NULL;
  char *doc = NULL, behind[1024];
  int64_t store_seq = 0, receipt_seq = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  int64_t issued = 0, until = 0;
  int lease = 0;
  if ((rc = status_read(ctx, behind, sizeof behind, &store_seq, &receipt_seq, &doc, &lease, &issued,
                        &until)))
    return rc;
  s = cli_parse_doc(doc, "a status");
  fs_free(doc);
  if (!s) return CLI_EFAIL;
  /* the offline lease: null when not enrolled (no lease needed) */
  if (lease == FS_ENOTFOUND) {
    cJSON_AddNullToObject(s, "lease");
  } else {
    char t[32];
    cJSON *l = cJSON_AddObjectToObject(s, "lease");
    fs_time_format(t, issued);
    if (issued)
      cJSON_AddStringToObject(l, "issued_at", t);
    else
      cJSON_AddNullToObject(l, "issued_at");
    fs_time_format(t, until);
    if (until)
      cJSON_AddStringToObject(l, "until", t);
    else
      cJSON_AddNullToObject(l, "until");
    cJSON_AddBoolToObject(l, "valid", lease == FS_OK);
  }
  /* A store behind its receipts says so, on stderr for a person and as
   * "behind_receipts" in the JSON: a warning, not a failure. */
  if (*behind) {
    cJSON *b = cJSON_AddObjectToObject(s, "behind_receipts");
    cJSON_AddNumberToObject(b, "store_seq", (double)store_seq);
    cJSON_AddNumberToObject(b, "receipt_seq", (double)receipt_seq);
    cJSON_AddStringToObject(b, "message", behind);
    fprintf(stderr, "%s: warning: %s.\n", cli_progname, behind);
  } else {
    cJSON_AddNullToObject(s, "behind_receipts");
  }
  if (ctx->json) {
    rc = cli_print_cjson(s);
    cJSON_Delete(s);
    return rc;
  }
  {
    static const char *const keys[] = {"device id",       "manager",         "server",
                                       "last sync",       "pending changes", "refused changes",
                                       "unlockable until"};
    char b[7][256], iso[64];
    const char *vals[7];
    vals[0] = cli_text(b[0], sizeof b[0], s, "device_id", "-");
    vals[1] = cli_text(b[1], sizeof b[1], s, "manager", "-");
    vals[2] = cli_text(b[2], sizeof b[2], s, "server", "not enrolled");
    vals[3] =
        cli_localtime(b[3], sizeof b[3], cli_text(iso, sizeof iso, s, "last_sync", ""), "never");
    vals[4] = cli_text(b[4], sizeof b[4], s, "pending", "0");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(s, "refused_by_state");
    long long open = (long long)cli_int(s, "refused", 0);
    long long closed = (long long)(cli_int(by, "dismissed", 0) + cli_int(by, "copied", 0));
    if (closed)
      snprintf(b[5], sizeof b[5], "%lld open (%lld dismissed or copied)", open, closed);
    else
      snprintf(b[5], sizeof b[5], "%lld", open);
    vals[5] = b[5];
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(s, "lease");
    char lt[64];
    if (!cJSON_IsObject(l))
      snprintf(b[6], sizeof b[6], "no limit (not enrolled)");
    else
      snprintf(b[6], sizeof b[6], "%s (each sync renews it)",
               cli_localtime(lt, sizeof lt, cli_text(iso, sizeof iso, l, "until", ""),
                             "no valid lease: sync"));
    vals[6] = b[6];
    cli_kv_print(keys, vals, 7, "");
    /* each open refusal with head office's reason in full */
    const cJSON *open_list = cJSON_GetObjectItemCaseSensitive(s, "refusals");
    if (cJSON_GetArraySize(open_list) > 0) {
      printf("\nRefused by head office (%lld open; 'fieldsync refused' to read, copy or "
             "dismiss them):\n",
             open);
      cli_print_refusals(open_list, "  ", 0);
    }
  }
  cJSON_Delete(s);
  return rc;
}

/* ------------------------------------------------------------ conflicts */

static const char conflicts_usage[] =
    "Usage: fieldsync conflicts [list] [--json]\n"
    "       fieldsync conflicts resolve ID --keep winner|loser [--json]\n"
    "\n"
    "Lists concurrent edits that sync resolved by rule (newest first), or\n"
    "settles one: --keep winner marks it reviewed; --keep loser writes the\n"
    "losing value back as a new local edit that syncs like any other.\n"
    "\n"
    "  --keep K        winner or loser (resolve only)\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON\n\n"
    "Examples:\n"
    "  fieldsync conflicts\n"
    "  fieldsync conflicts resolve 12 --keep loser\n";

static const char resolve_usage[] =
    "Usage: fieldsync conflicts resolve ID --keep winner|loser [--json]\n"
    "\n"
    "Settles conflict ID (from 'fieldsync conflicts'): --keep winner marks it\n"
    "reviewed; --keep loser writes the losing value back as a new local edit\n"
    "that syncs like any other.\n"
    "\n"
    "  --keep K        winner or loser (required)\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":ID,\"kept\":\"winner\"|\"loser\"}\n\n"
    "Example:\n"
    "  fieldsync conflicts resolve 12 --keep loser\n";

static int conflicts_resolve(cli_ctx *ctx, int argc, char **argv) {
  const char *id_text = NULL, *keep = NULL;
  static const char *const pos_names[] = {"the conflict ID"};
  static const char *const keeps[] = {"winner", "loser", NULL};
  const cli_opt opts[] = {{"keep", 1, &keep, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"conflicts resolve", resolve_usage, opts, pos_names, &id_text, 1};
  fs_device *dev = NULL;
  int64_t id = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!keep)
    return cli_usage("conflicts resolve: --keep winner|loser is required; see "
                     "'fieldsync conflicts resolve --help'.");
  if ((rc = cli_parse_enum("keep", keep, keeps)) != CLI_OK) return rc;
  {
    const char *p = id_text;
    if (!*p) goto bad_id;
    for (; *p; p++) {
      if (*p < '0' || *p > '9' || id > (INT64_MAX - 9) / 10) goto bad_id;
      id = id * 10 + (*p - '0');
    }
  }
  int keep_loser = strcmp(keep, "loser") == 0;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  int lrc = fs_conflict_resolve(fs_device_store(dev), id, keep_loser);
  if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  if (!ctx->json) {
    printf("Conflict %lld resolved: kept the %s.\n", (long long)id, keep);
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddNumberToObject(o, "id", (double)id) ||
      !cJSON_AddStringToObject(o, "kept", keep)) {
    cJSON_Delete(o);
    return cli_fail("out of memory.");
  }
  rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
bad_id:
  return cli_usage("conflicts resolve: the conflict ID must be a number as "
                   "shown by 'fieldsync conflicts' (got \"%.24s\").",
                   id_text);
}

static int conflicts_list(cli_ctx *ctx, int argc, char **argv) {
  cli_spec spec = {"conflicts", conflicts_usage, no_opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc(ctx, "conflicts", NULL, "a conflict list", &arr, &rc)) return rc;
  cli_print_conflicts(arr);
  cJSON_Delete(arr);
  return rc;
}

int cmd_conflicts(cli_ctx *ctx, int argc, char **argv) {
  /* the first word that is not a global flag decides list or resolve */
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--home") == 0) {
      i++;
      continue;
    }
    if (strcmp(argv[i], "resolve") == 0 || strcmp(argv[i], "list") == 0) {
      /* drop the sub-command word, keep the flags around it */
      char **rest = malloc(sizeof *rest * (size_t)(argc > 0 ? argc : 1));
      int n = 0, rc;
      if (!rest) return cli_fail("out of memory.");
      for (int j = 0; j < argc; j++)
        if (j != i) rest[n++] = argv[j];
      rc = argv[i][0] == 'r' ? conflicts_resolve(ctx, n, rest) : conflicts_list(ctx, n, rest);
      free(rest);
      return rc;
    }
    if (argv[i][0] != '-') break;
  }
  return conflicts_list(ctx, argc, argv);
}

/* ------------------------------------------------------------ export */

static const char export_usage[] =
    "Usage: fieldsync export --json\n"
    "\n"
    "Prints every synced table of this replica as one JSON document,\n"
    "{\"table\":[rows sorted by id, all columns]}, for comparing replicas.\n"
    "\n"
    "  --json          required: the export exists only as JSON\n"
    "  --home DIR      the store directory\n\n"
    "Example:\n"
    "  fieldsync export --json > laptop.json\n";

int cmd_export(cli_ctx *ctx, int argc, char **argv) {
  cli_spec spec = {"export", export_usage, no_opts, NULL, NULL, 0};
  char *doc = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!ctx->json)
    return cli_usage("export: --json is required (the export is a JSON "
                     "document); run 'fieldsync export --json'.");
  if ((rc = cli_view(ctx, "export", NULL, &doc)) != CLI_OK) return rc;
  rc = cli_print_json(doc);
  fs_free(doc);
  return rc;
}
