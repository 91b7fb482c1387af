/*
 * cmd_complaint.c — `fieldsync complaint add|list|resolve|edit` and
 * `fieldsync competitor add|list`: what a customer complains about, until
 * it is resolved, and what the competition offers them.
 *
 * A complaint (or a piece of feedback) is open when recorded, in_progress
 * while someone works on it and resolved with a resolution text and the
 * time (the library stamps resolved_at when the status becomes resolved);
 * a competitor note names the competitor and what was seen: a
 * product, a price in a currency (integer minor units, parsed exactly by
 * fs_money_parse), free notes.  Both are device-born rows synced like
 * meetings; head office checks the same rules on what it merges
 * (core/domain.c).  Customers are typed as anywhere else: an id, a unique
 * prefix or the exact name.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char add_usage[] =
    "Usage: fieldsync complaint add --customer C --text TEXT\n"
    "           [--kind complaint|feedback] [--json]\n"
    "\n"
    "Records a complaint (or feedback) of customer C, open until resolved,\n"
    "and prints its id.\n"
    "\n"
    "  --customer C      the customer: id, id prefix or exact name (required)\n"
    "  --text TEXT       what the customer said (required)\n"
    "  --kind K          complaint (default) or feedback\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync complaint add --customer \"Nordwind GmbH\" --text \"3 of 40 chairs "
    "scratched\"\n";

static const char list_usage[] =
    "Usage: fieldsync complaint list [--customer C] [--open] [--json]\n"
    "\n"
    "Lists complaints and feedback, open and in progress first, newest first.\n"
    "\n"
    "  --customer C      only this customer's\n"
    "  --open            only those not resolved\n"
    "  --home DIR        the store directory\n"
    "  --json            print the array\n\n"
    "Examples:\n"
    "  fieldsync complaint list --open\n"
    "  fieldsync complaint list --customer \"Nordwind GmbH\" --json\n";

static const char resolve_usage[] =
    "Usage: fieldsync complaint resolve COMPLAINT --resolution TEXT [--json]\n"
    "\n"
    "Marks COMPLAINT (its id or a unique prefix) resolved, with what was done\n"
    "and when.\n"
    "\n"
    "  --resolution TEXT what was done (required)\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync complaint resolve 0190f3a2c4 --resolution \"3 chairs replaced\"\n";

static const char edit_usage[] =
    "Usage: fieldsync complaint edit COMPLAINT [--status open|in_progress|resolved]\n"
    "           [--text TEXT] [--json]\n"
    "\n"
    "Changes a complaint's status (in_progress while someone works on it) or\n"
    "corrects its text.\n"
    "\n"
    "  --status S        open, in_progress or resolved\n"
    "  --text TEXT       the complaint's text, corrected\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync complaint edit 0190f3a2c4 --status in_progress\n";

static const char group_usage[] = "Usage: fieldsync complaint COMMAND [ARGS...]\n"
                                  "\n"
                                  "Commands:\n"
                                  "  add --customer C --text TEXT [--kind complaint|feedback]\n"
                                  "  list [--customer C] [--open] [--json]\n"
                                  "  resolve COMPLAINT --resolution TEXT\n"
                                  "  edit COMPLAINT [--status S] [--text TEXT]\n"
                                  "\n"
                                  "'fieldsync complaint COMMAND --help' describes each command.\n";

static const char comp_add_usage[] =
    "Usage: fieldsync competitor add --customer C --competitor NAME\n"
    "           [--product P] [--price AMOUNT --currency CUR] [--notes TEXT]\n"
    "           [--json]\n"
    "\n"
    "Notes what a competitor offers customer C and prints the note's id.\n"
    "\n"
    "  --customer C      the customer: id, id prefix or exact name (required)\n"
    "  --competitor NAME the competitor (required)\n"
    "  --product P       their product\n"
    "  --price AMOUNT    the price seen, in --currency units (e.g. 89.90)\n"
    "  --currency CUR    ISO code of that price, such as EUR (required with\n"
    "                    --price)\n"
    "  --notes TEXT      anything else\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync competitor add --customer \"Nordwind GmbH\" --competitor Stuhlwerk \\\n"
    "      --product \"S-200\" --price 89.90 --currency EUR --notes \"free delivery\"\n";

static const char comp_list_usage[] = "Usage: fieldsync competitor list [--customer C] [--json]\n"
                                      "\n"
                                      "Lists competitor notes by competitor, newest first.\n"
                                      "\n"
                                      "  --customer C      only this customer's\n"
                                      "  --home DIR        the store directory\n"
                                      "  --json            print the array\n\n"
                                      "Example:\n"
                                      "  fieldsync competitor list --customer \"Nordwind GmbH\"\n";

static const char comp_group_usage[] =
    "Usage: fieldsync competitor COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  add --customer C --competitor NAME [--product P] [--price AMOUNT\n"
    "      --currency CUR] [--notes TEXT]\n"
    "  list [--customer C] [--json]\n"
    "\n"
    "'fieldsync competitor COMMAND --help' describes each command.\n";

static const char *const kinds[] = {"complaint", "feedback", NULL};
static const char *const statuses[] = {"open", "in_progress", "resolved", NULL};

static int complaint_add(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *text = NULL, *kind = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL},
                          {"text", 1, &text, NULL},
                          {"kind", 1, &kind, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"complaint add", add_usage, opts, NULL, NULL, 0};
  fs_field f[3];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("complaint add: --customer C is required; see 'fieldsync complaint add "
                     "--help'.");
  if (!text || !*text)
    return cli_usage("complaint add: --text is required; see 'fieldsync complaint add --help'.");
  if (kind && (rc = cli_parse_enum("kind", kind, kinds)) != CLI_OK) return rc;
  f[n++] = (fs_field){"customer_id", customer};
  f[n++] = (fs_field){"text", text};
  if (kind) f[n++] = (fs_field){"kind", kind};
  return cli_insert(ctx, "complaints", f, n);
}

/* A list view of one customer's rows (typed as anywhere) or of all. */
static int list_of(cli_ctx *ctx, const char *view, const char *customer, const char *what,
                   cJSON **arr, int *rc) {
  if (customer && !*customer) {
    *rc = cli_usage("--customer needs a customer.");
    return 0;
  }
  if (customer) return cli_view_doc_of(ctx, view, "customers", customer, what, arr, rc);
  return cli_view_doc(ctx, view, NULL, what, arr, rc);
}

static int complaint_list(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL;
  int open_only = 0;
  const cli_opt opts[] = {
      {"customer", 1, &customer, NULL}, {"open", 0, NULL, &open_only}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"complaint list", list_usage, opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (open_only && ctx->json) {
    /* the JSON path prints the document itself: filter it here first */
    ctx->json = 0;
    if (!list_of(ctx, "complaints", customer, "a complaint list", &arr, &rc)) return rc;
    ctx->json = 1;
  } else if (!list_of(ctx, "complaints", customer, "a complaint list", &arr, &rc)) {
    return rc;
  }
  if (open_only)
    for (int i = cJSON_GetArraySize(arr) - 1; i >= 0; i--) {
      const char *st = cJSON_GetStringValue(
          cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, i), "status"));
      if (st && !strcmp(st, "resolved")) cJSON_DeleteItemFromArray(arr, i);
    }
  if (ctx->json) {
    rc = cli_print_cjson(arr);
    cJSON_Delete(arr);
    return rc;
  }
  /* under each row its text, and for a resolved one what was done */
  cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "text"));
    const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "resolution"));
    size_t n = (t ? strlen(t) : 0) + (r ? strlen(r) : 0) + 16;
    char *note = malloc(n);
    if (!note) {
      cJSON_Delete(arr);
      return cli_fail("out of memory.");
    }
    snprintf(note, n, "%s%s%s", t ? t : "", r ? "\nresolved: " : "", r ? r : "");
    cJSON_AddStringToObject(it, "note", note);
    free(note);
  }
  static const cli_col cols[] = {
      {"CREATED", "created_at", cli_cell_time, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"KIND", "kind", NULL, NULL, 0},
      {"STATUS", "status", NULL, NULL, 0},
      {"ID", "id", NULL, NULL, 0},
  };
  cli_print_rows_noted(cols, CLI_NCOLS(cols), arr, NULL, "",
                       open_only ? "No open complaints.\n" : "No complaints yet.\n", "note");
  cJSON_Delete(arr);
  return rc;
}

static int complaint_resolve(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL, *resolution = NULL;
  static const char *const pos_names[] = {"the COMPLAINT id"};
  const cli_opt opts[] = {{"resolution", 1, &resolution, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"complaint resolve", resolve_usage, opts, pos_names, &id, 1};
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!resolution || !*resolution)
    return cli_usage("complaint resolve: --resolution TEXT is required: say what was done.");
  const fs_field f[] = {{"status", "resolved"}, {"resolution", resolution}};
  return cli_update(ctx, "complaints", id, f, 2);
}

static int complaint_edit(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL, *status = NULL, *text = NULL;
  static const char *const pos_names[] = {"the COMPLAINT id"};
  const cli_opt opts[] = {
      {"status", 1, &status, NULL}, {"text", 1, &text, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"complaint edit", edit_usage, opts, pos_names, &id, 1};
  fs_field f[3];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (status && (rc = cli_parse_enum("status", status, statuses)) != CLI_OK) return rc;
  if (text && !*text) return cli_usage("complaint edit: --text cannot be empty.");
  if (status) f[n++] = (fs_field){"status", status};
  if (text) f[n++] = (fs_field){"text", text};
  if (n == 0)
    return cli_usage("complaint edit: give --status or --text; see 'fieldsync complaint edit "
                     "--help'.");
  return cli_update(ctx, "complaints", id, f, n);
}

static const cli_sub subs[] = {{"add", complaint_add},
                               {"list", complaint_list},
                               {"resolve", complaint_resolve},
                               {"edit", complaint_edit},
                               {NULL, NULL}};

int cmd_complaint(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "complaint", group_usage, subs, argc, argv);
}

/* ------------------------------------------------------------ competitor */

static int competitor_add(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *competitor = NULL, *product = NULL, *price = NULL, *currency = NULL,
             *notes = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL},
                          {"competitor", 1, &competitor, NULL},
                          {"product", 1, &product, NULL},
                          {"price", 1, &price, NULL},
                          {"currency", 1, &currency, NULL},
                          {"notes", 1, &notes, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"competitor add", comp_add_usage, opts, NULL, NULL, 0};
  char cur[4], minor_text[32];
  fs_field f[7];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("competitor add: --customer C is required; see 'fieldsync competitor add "
                     "--help'.");
  if (!competitor || !*competitor)
    return cli_usage("competitor add: --competitor NAME is required.");
  if (price && !currency)
    return cli_usage("competitor add: --price needs --currency (such as EUR).");
  if (currency && (rc = cli_parse_currency(cur, "currency", currency)) != CLI_OK) return rc;
  if (price) {
    int64_t minor = 0;
    if (fs_amount_parse(&minor, price, cur) != FS_OK || minor < 0)
      return cli_usage("--price: %s.", fs_errmsg());
    snprintf(minor_text, sizeof minor_text, "%lld", (long long)minor);
  }
  f[n++] = (fs_field){"customer_id", customer};
  f[n++] = (fs_field){"competitor", competitor};
  f[n++] = (fs_field){"note", notes && *notes ? notes : "-"};
  if (product && *product) f[n++] = (fs_field){"product", product};
  if (price) f[n++] = (fs_field){"price", minor_text};
  if (currency) f[n++] = (fs_field){"currency", cur};
  return cli_insert(ctx, "competitor_notes", f, n);
}

static int competitor_list(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"competitor list", comp_list_usage, opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!list_of(ctx, "competitors", customer, "a competitor list", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"COMPETITOR", "competitor", NULL, NULL, 0},    {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"PRODUCT", "product", NULL, NULL, 0},          {"PRICE", "price", cli_cell_money, NULL, 1},
      {"SEEN", "created_at", cli_cell_time, NULL, 0}, {"ID", "id", NULL, NULL, 0},
  };
  cli_print_rows_noted(cols, CLI_NCOLS(cols), arr, NULL, "", "No competitor notes yet.\n", "note");
  cJSON_Delete(arr);
  return rc;
}

static const cli_sub comp_subs[] = {
    {"add", competitor_add}, {"list", competitor_list}, {NULL, NULL}};

int cmd_competitor(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "competitor", comp_group_usage, comp_subs, argc, argv);
}
