/*
 * cmd_deal.c — `fieldsync deal add|edit|list|show`: the manager's
 * opportunities, lead to won or lost, and what they led to.
 *
 * A deal belongs to one customer and moves through the stages lead,
 * qualified, proposal, negotiation, won and lost; it carries an expected
 * value in a currency (integer minor units of that currency, parsed exactly by
 * fs_amount_parse), a probability in whole percent and an expected close
 * date.  The library fills the probability of the stage when none is given
 * (lead 10, qualified 25, proposal 50, negotiation 75, won 100, lost 0),
 * sets the close date of a deal that becomes won or lost to today unless
 * the same command gives one, and refuses a lost
 * deal without its reason (core/deal.c); head office checks the same rules
 * on what it merges.  Quotes and orders name a deal (`order new --deal`);
 * `deal show` lists them.  Everything a person typed is checked here
 * before the store is opened.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char add_usage[] =
    "Usage: fieldsync deal add --customer C --stage S --value AMOUNT --currency CUR\n"
    "           [--title T] [--probability PCT] [--close DATE] [--lost-reason T]\n"
    "           [--json]\n"
    "\n"
    "Records an opportunity of customer C and prints its id.\n"
    "\n"
    "  --customer C        the customer: id, id prefix or exact name (required)\n"
    "  --stage S           lead, qualified, proposal, negotiation, won or lost (required)\n"
    "  --value AMOUNT      the expected value in --currency units, e.g. 12500.00 (required)\n"
    "  --currency CUR      ISO code of the value, such as EUR (required)\n"
    "  --title T           what the deal is about\n"
    "  --probability PCT   chance of winning, whole percent 0 to 100 (default by stage:\n"
    "                      lead 10, qualified 25, proposal 50, negotiation 75, won 100,\n"
    "                      lost 0)\n"
    "  --close DATE        expected close date, YYYY-MM-DD (local calendar); a deal\n"
    "                      added or moved to won or lost without it closes today\n"
    "  --lost-reason T     why it was lost (required with --stage lost)\n"
    "  --home DIR          the store directory\n"
    "  --json              print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync deal add --customer \"Nordwind GmbH\" --stage qualified \\\n"
    "      --value 12500 --currency EUR --title \"40 office chairs\" --close 2026-06-30\n";

static const char edit_usage[] =
    "Usage: fieldsync deal edit DEAL [--stage S] [--value AMOUNT] [--currency CUR]\n"
    "           [--probability PCT] [--close DATE] [--lost-reason T] [--title T]\n"
    "           [--json]\n"
    "\n"
    "Changes deal DEAL (its id or a unique prefix).  A new stage without\n"
    "--probability takes that stage's default probability; moved to won or\n"
    "lost without --close, the deal closes today.\n"
    "\n"
    "  --stage S           lead, qualified, proposal, negotiation, won or lost\n"
    "  --value AMOUNT      the expected value, e.g. 14000.00 (with --currency)\n"
    "  --currency CUR      ISO code of the value, such as EUR\n"
    "  --probability PCT   chance of winning, whole percent 0 to 100\n"
    "  --close DATE        expected close date, YYYY-MM-DD\n"
    "  --lost-reason T     why it was lost (required when the stage becomes lost)\n"
    "  --title T           what the deal is about\n"
    "  --home DIR          the store directory\n"
    "  --json              print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync deal edit 0190f3a2c4 --stage lost --lost-reason \"price too high\"\n";

static const char list_usage[] =
    "Usage: fieldsync deal list [--customer C] [--stage S] [--open] [--json]\n"
    "\n"
    "Lists deals by expected close date (those without one last), with their\n"
    "weighted value (value x probability).\n"
    "\n"
    "  --customer C        only this customer's\n"
    "  --stage S           only deals at stage S\n"
    "  --open              only deals neither won nor lost\n"
    "  --home DIR          the store directory\n"
    "  --json              print the array\n"
    "\n"
    "Example:\n"
    "  fieldsync deal list --open\n";

static const char show_usage[] =
    "Usage: fieldsync deal show DEAL [--json]\n"
    "\n"
    "Shows deal DEAL with the quotes and orders linked to it.\n"
    "\n"
    "  --home DIR          the store directory\n"
    "  --json              print the deal with its \"quotes\" and \"orders\"\n"
    "\n"
    "Example:\n"
    "  fieldsync deal show 0190f3a2c4\n";

static const char group_usage[] =
    "Usage: fieldsync deal COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  add --customer C --stage S --value AMOUNT --currency CUR [--title T]\n"
    "      [--probability PCT] [--close DATE] [--lost-reason T]\n"
    "  edit DEAL [--stage S] [--value AMOUNT] [--probability PCT] [--close DATE]\n"
    "      [--lost-reason T] [--title T]\n"
    "  list [--customer C] [--stage S] [--open] [--json]\n"
    "  show DEAL [--json]\n"
    "\n"
    "'fieldsync deal COMMAND --help' describes each command.\n";

static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation",
                                     "won",  "lost",      NULL};

/* What a person typed for a deal, parsed: each text NULL when not given. */
typedef struct deal_args {
  const char *stage, *value, *currency, *title, *probability, *close, *lost_reason;
  char cur[4], minor[32], pct[8], day[11];
  int stored_currency; /* currency is the deal's own: read the value in it, do not write it */
} deal_args;

/* Checks every given field and fills f[] (at most 7); the exit status. */
static int deal_fields(deal_args *d, fs_field *f, size_t *n) {
  int rc;
  if (d->stage && (rc = cli_parse_enum("stage", d->stage, stages)) != CLI_OK) return rc;
  if (d->currency && (rc = cli_parse_currency(d->cur, "currency", d->currency)) != CLI_OK)
    return rc;
  if (d->value) {
    int64_t minor = 0;
    /* an amount is read in its currency's decimals (none for JPY) */
    if (!d->currency)
      return cli_usage("--value needs --currency (the amount is read in the currency's "
                       "decimals: 1980 JPY, 12.50 EUR).");
    if (fs_amount_parse(&minor, d->value, d->cur) != FS_OK)
      return cli_usage("--value: %s.", fs_errmsg());
    if (minor < 0)
      return cli_usage("--value must be an amount of at least 0 such as 12500.00 (got \"%.20s\").",
                       d->value);
    snprintf(d->minor, sizeof d->minor, "%lld", (long long)minor);
  }
  if (d->probability) {
    const char *p = d->probability;
    size_t len = strlen(p), digits = strspn(p, "0123456789");
    if (len == 0 || len > 3 || digits != len || atoi(p) > 100)
      return cli_usage("--probability must be a whole percent from 0 to 100 (got \"%.20s\").", p);
    snprintf(d->pct, sizeof d->pct, "%d", atoi(p));
  }
  if (d->close && (rc = cli_parse_date(d->day, "close", d->close)) != CLI_OK) return rc;
  if (d->title && !*d->title) return cli_usage("--title cannot be empty.");
  if (d->lost_reason && !*d->lost_reason) return cli_usage("--lost-reason cannot be empty.");
  if (d->stage) f[(*n)++] = (fs_field){"stage", d->stage};
  if (d->value) f[(*n)++] = (fs_field){"value", d->minor};
  if (d->currency && !d->stored_currency) f[(*n)++] = (fs_field){"currency", d->cur};
  if (d->title) f[(*n)++] = (fs_field){"title", d->title};
  if (d->probability) f[(*n)++] = (fs_field){"probability", d->pct};
  if (d->close) f[(*n)++] = (fs_field){"close_date", d->day};
  if (d->lost_reason) f[(*n)++] = (fs_field){"lost_reason", d->lost_reason};
  return CLI_OK;
}

static int deal_add(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL;
  deal_args d;
  memset(&d, 0, sizeof d);
  const cli_opt opts[] = {{"customer", 1, &customer, NULL},
                          {"stage", 1, &d.stage, NULL},
                          {"value", 1, &d.value, NULL},
                          {"currency", 1, &d.currency, NULL},
                          {"title", 1, &d.title, NULL},
                          {"probability", 1, &d.probability, NULL},
                          {"close", 1, &d.close, NULL},
                          {"lost-reason", 1, &d.lost_reason, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"deal add", add_usage, opts, NULL, NULL, 0};
  fs_field f[8];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("deal add: --customer C is required; see 'fieldsync deal add --help'.");
  if (!d.stage)
    return cli_usage("deal add: --stage S is required (lead, qualified, proposal, negotiation, "
                     "won or lost).");
  if (!d.value) return cli_usage("deal add: --value AMOUNT is required, such as 12500.00.");
  if (!d.currency) return cli_usage("deal add: --currency CUR is required, such as EUR.");
  if (!strcmp(d.stage, "lost") && !d.lost_reason)
    return cli_usage("deal add: a lost deal needs --lost-reason T (why it was lost).");
  f[n++] = (fs_field){"customer_id", customer};
  if ((rc = deal_fields(&d, f, &n)) != CLI_OK) return rc;
  return cli_insert(ctx, "deals", f, n);
}

static int deal_edit(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL;
  deal_args d;
  memset(&d, 0, sizeof d);
  static const char *const pos_names[] = {"the DEAL id"};
  const cli_opt opts[] = {{"stage", 1, &d.stage, NULL},
                          {"value", 1, &d.value, NULL},
                          {"currency", 1, &d.currency, NULL},
                          {"title", 1, &d.title, NULL},
                          {"probability", 1, &d.probability, NULL},
                          {"close", 1, &d.close, NULL},
                          {"lost-reason", 1, &d.lost_reason, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"deal edit", edit_usage, opts, pos_names, &id, 1};
  fs_field f[8];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  /* a new value without a currency is in the deal's own currency */
  char cur[8] = "";
  if (d.value && !d.currency) {
    char *doc = NULL, did[FS_ID_SIZE];
    if ((rc = cli_view_of(ctx, "deal", "deals", id, &doc, did)) != CLI_OK) return rc;
    cJSON *o = cli_parse_doc(doc, "a deal");
    fs_free(doc);
    if (!o) return CLI_EFAIL;
    cli_text(cur, sizeof cur, o, "currency", "");
    cJSON_Delete(o);
    if (*cur) d.currency = cur, d.stored_currency = 1;
  }
  if ((rc = deal_fields(&d, f, &n)) != CLI_OK) return rc;
  if (n == 0)
    return cli_usage("deal edit: give what changes (--stage, --value, --probability, --close, "
                     "--lost-reason, --title); see 'fieldsync deal edit --help'.");
  return cli_update(ctx, "deals", id, f, n);
}

/* "25%" of a whole percent member. */
static const char *pct_cell(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                            const cJSON *doc) {
  (void)doc;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, col->key);
  if (!cJSON_IsNumber(v)) return "-";
  snprintf(buf, cap, "%lld%%", (long long)v->valuedouble);
  return buf;
}

static int closed_stage(const char *s) { return s && (!strcmp(s, "won") || !strcmp(s, "lost")); }

static int deal_list(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *stage = NULL;
  int open_only = 0;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL},
                          {"stage", 1, &stage, NULL},
                          {"open", 0, NULL, &open_only},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"deal list", list_usage, opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc, json;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (stage && (rc = cli_parse_enum("stage", stage, stages)) != CLI_OK) return rc;
  if (customer && !*customer) return cli_usage("--customer needs a customer.");
  /* the document is filtered here, then printed either way */
  json = ctx->json;
  ctx->json = 0;
  int got = customer
                ? cli_view_doc_of(ctx, "deals", "customers", customer, "a deal list", &arr, &rc)
                : cli_view_doc(ctx, "deals", NULL, "a deal list", &arr, &rc);
  ctx->json = json;
  if (!got) return rc;
  for (int i = cJSON_GetArraySize(arr) - 1; i >= 0; i--) {
    const char *st =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, i), "stage"));
    if ((stage && (!st || strcmp(st, stage))) || (open_only && closed_stage(st)))
      cJSON_DeleteItemFromArray(arr, i);
  }
  if (json) {
    rc = cli_print_cjson(arr);
    cJSON_Delete(arr);
    return rc;
  }
  static const cli_col cols[] = {
      {"CLOSE", "close_date", NULL, NULL, 0},     {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"STAGE", "stage", NULL, NULL, 0},          {"VALUE", "value", cli_cell_money, NULL, 1},
      {"PROB", "probability", pct_cell, NULL, 1}, {"WEIGHTED", "weighted", cli_cell_money, NULL, 1},
      {"TITLE", "title", NULL, NULL, 0},          {"ID", "id", NULL, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 stage || open_only || customer ? "No deals match.\n" : "No deals yet.\n");
  cJSON_Delete(arr);
  return CLI_OK;
}

static int deal_show(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt opts[] = {{NULL, 0, NULL, NULL}};
  static const char *const pos_names[] = {"the DEAL id"};
  const char *id = NULL;
  cli_spec spec = {"deal show", show_usage, opts, pos_names, &id, 1};
  cJSON *d = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc_of(ctx, "deal", "deals", id, "a deal", &d, &rc)) return rc;
  {
    static const char *const labels[] = {"id",          "customer",    "title",    "stage",
                                         "value",       "probability", "weighted", "close date",
                                         "lost reason", "manager",     "created"};
    enum { NK = sizeof labels / sizeof labels[0] };
    char b[NK][512], iso[64];
    const char *vals[NK];
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "currency"));
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "probability");
    vals[0] = cli_text(b[0], sizeof b[0], d, "id", "-");
    vals[1] = cli_text(b[1], sizeof b[1], d, "customer_name", "-");
    vals[2] = cli_text(b[2], sizeof b[2], d, "title", "-");
    vals[3] = cli_text(b[3], sizeof b[3], d, "stage", "-");
    vals[4] = cli_money(b[4], sizeof b[4], cli_int(d, "value", 0), cur);
    vals[5] = pct_cell(b[5], sizeof b[5], d, &(cli_col){"", "probability", NULL, NULL, 0}, NULL);
    vals[6] =
        cJSON_IsNumber(p) ? cli_money(b[6], sizeof b[6], cli_int(d, "weighted", 0), cur) : "-";
    vals[7] = cli_text(b[7], sizeof b[7], d, "close_date", "-");
    vals[8] = cli_text(b[8], sizeof b[8], d, "lost_reason", "-");
    vals[9] = cli_text(b[9], sizeof b[9], d, "manager", "-");
    vals[10] =
        cli_localtime(b[10], sizeof b[10], cli_text(iso, sizeof iso, d, "created_at", ""), "-");
    cli_kv_print(labels, vals, NK, "");
  }
  {
    static const cli_col cols[] = {
        {"NUMBER", "number", NULL, NULL, 0},
        {"STATUS", "status", NULL, NULL, 0},
        {"TOTAL", "total", cli_cell_money, NULL, 1},
        {"VALID UNTIL", "valid_until", NULL, NULL, 0},
        {"ID", "id", NULL, NULL, 0},
    };
    cli_print_section("Quotes", cols, CLI_NCOLS(cols), d, "quotes");
  }
  {
    static const cli_col cols[] = {
        {"NUMBER", "number", NULL, NULL, 0},
        {"STATUS", "status", NULL, NULL, 0},
        {"TOTAL", "total", cli_cell_money, NULL, 1},
        {"CREATED", "created_at", cli_cell_time, NULL, 0},
        {"ID", "id", NULL, NULL, 0},
    };
    cli_print_section("Orders", cols, CLI_NCOLS(cols), d, "orders");
  }
  cJSON_Delete(d);
  return rc;
}

static const cli_sub subs[] = {
    {"add", deal_add}, {"edit", deal_edit}, {"list", deal_list}, {"show", deal_show}, {NULL, NULL}};

int cmd_deal(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "deal", group_usage, subs, argc, argv);
}
