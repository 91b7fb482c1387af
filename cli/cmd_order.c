/*
 * cmd_order.c — `fieldsync order new|line|submit|list|show`.
 *
 * An order is born a draft on the device, gets lines priced from the synced
 * (head-office) price list at the moment the line is added, and is frozen by
 * `submit`.  Quantities and percentages are checked here with exact integer
 * parsing (no strtod: "1.5", "1e3", "-3" and "abc" are all refused with a
 * sentence naming the flag) before the store is opened; the state rules
 * (draft only, price exists) are the library's and come back as its
 * sentence.  Percentages become basis points (2.5 -> 250) and money stays in
 * integer minor units until it is formatted for a person.
 */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char new_usage[] =
    "Usage: fieldsync order new --customer ID [--currency EUR] [--discount PCT]\n"
    "           [--json]\n"
    "\n"
    "Starts a draft order for customer ID and prints the order id.\n"
    "\n"
    "  --customer ID     the customer (required)\n"
    "  --currency CUR    ISO currency code of the price list (default EUR)\n"
    "  --discount PCT    order discount in percent, 0 to 100 (e.g. 5 or 2.5)\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n";

static const char line_usage[] =
    "Usage: fieldsync order line ORDER --sku SKU --qty N [--discount PCT]\n"
    "           [--json]\n"
    "\n"
    "Adds a line to draft order ORDER; the unit price is taken from the\n"
    "synced price list in the order's currency.  Prints the line id.\n"
    "\n"
    "  --sku SKU         the product (required; see 'fieldsync product list')\n"
    "  --qty N           quantity, a whole number of at least 1 (required)\n"
    "  --discount PCT    line discount in percent, 0 to 100\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n";

static const char submit_usage[] =
    "Usage: fieldsync order submit ORDER [--json]\n"
    "\n"
    "Submits draft order ORDER; its lines cannot change after this.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"status\":\"submitted\"}\n";

static const char list_usage[] = "Usage: fieldsync order list [--json]\n"
                                 "\n"
                                 "Lists the orders on this device with their totals.\n"
                                 "\n"
                                 "  --home DIR        the store directory\n"
                                 "  --json            print JSON\n";

static const char show_usage[] = "Usage: fieldsync order show ORDER [--json]\n"
                                 "\n"
                                 "Shows one order with its lines and total.\n"
                                 "\n"
                                 "  --home DIR        the store directory\n"
                                 "  --json            print JSON\n";

static const char group_usage[] = "Usage: fieldsync order COMMAND [ARGS...]\n"
                                  "\n"
                                  "Commands:\n"
                                  "  new --customer ID [--currency EUR] [--discount PCT]\n"
                                  "  line ORDER --sku SKU --qty N [--discount PCT]\n"
                                  "  submit ORDER\n"
                                  "  list [--json]\n"
                                  "  show ORDER [--json]\n"
                                  "\n"
                                  "'fieldsync order COMMAND --help' describes each command.\n";

static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};

static int order_new(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *currency = NULL, *discount = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL},
                          {"currency", 1, &currency, NULL},
                          {"discount", 1, &discount, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"order new", new_usage, opts, NULL, NULL, 0};
  char cur[4] = "EUR", bp_text[16];
  int64_t bp = 0;
  fs_field f[3];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("order new: --customer ID is required; see 'fieldsync "
                     "order new --help'.");
  if (currency) {
    if (strlen(currency) != 3 || !isalpha((unsigned char)currency[0]) ||
        !isalpha((unsigned char)currency[1]) || !isalpha((unsigned char)currency[2]))
      return cli_usage("--currency must be a three-letter ISO code such as EUR "
                       "(got \"%.16s\").",
                       currency);
    for (int i = 0; i < 3; i++) cur[i] = (char)toupper((unsigned char)currency[i]);
  }
  if (discount && (rc = cli_parse_pct(&bp, "discount", discount)) != CLI_OK) return rc;
  snprintf(bp_text, sizeof bp_text, "%lld", (long long)bp);
  f[n++] = (fs_field){"customer_id", customer};
  f[n++] = (fs_field){"currency", cur};
  f[n++] = (fs_field){"discount_bp", bp_text};
  return cli_insert(ctx, "orders", f, n);
}

static int order_line(cli_ctx *ctx, int argc, char **argv) {
  const char *order = NULL, *sku = NULL, *qty_text = NULL, *discount = NULL;
  static const char *const pos_names[] = {"the ORDER id"};
  const cli_opt opts[] = {{"sku", 1, &sku, NULL},
                          {"qty", 1, &qty_text, NULL},
                          {"discount", 1, &discount, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"order line", line_usage, opts, pos_names, &order, 1};
  int64_t qty = 0, bp = 0;
  char id[FS_ID_SIZE] = "";
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!sku || !*sku)
    return cli_usage("order line: --sku SKU is required; see 'fieldsync order "
                     "line --help'.");
  if (!qty_text)
    return cli_usage("order line: --qty N is required; see 'fieldsync order "
                     "line --help'.");
  if ((rc = cli_parse_qty(&qty, "qty", qty_text)) != CLI_OK) return rc;
  if (discount && (rc = cli_parse_pct(&bp, "discount", discount)) != CLI_OK) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  int lrc = fs_order_line_add(id, fs_device_store(dev), order, sku, qty, bp);
  if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return cli_print_id(ctx, id);
}

static int order_submit(cli_ctx *ctx, int argc, char **argv) {
  const char *order = NULL;
  static const char *const pos_names[] = {"the ORDER id"};
  cli_spec spec = {"order submit", submit_usage, no_opts, pos_names, &order, 1};
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  int lrc = fs_order_submit(fs_device_store(dev), order);
  if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  if (!ctx->json) {
    printf("Order %s submitted.\n", order);
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "id", order) ||
      !cJSON_AddStringToObject(o, "status", "submitted")) {
    cJSON_Delete(o);
    return cli_fail("out of memory.");
  }
  rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
}

static int order_list(cli_ctx *ctx, int argc, char **argv) {
  cli_spec spec = {"order list", list_usage, no_opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc(ctx, "orders", NULL, "an order list", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"ID", "id", NULL, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"STATUS", "status", NULL, NULL, 0},
      {"LINES", "lines", NULL, "0", 1},
      {"DISC.", "discount_bp", cli_cell_pct, NULL, 1},
      {"TOTAL", "total", cli_cell_money, NULL, 1},
      {"CREATED", "created_at", cli_cell_time, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 "No orders yet; start one with 'fieldsync order new --customer ID'.\n");
  cJSON_Delete(arr);
  return rc;
}

static int order_show(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL;
  static const char *const pos_names[] = {"the ORDER id"};
  cli_spec spec = {"order show", show_usage, no_opts, pos_names, &id, 1};
  cJSON *o = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc(ctx, "order", id, "an order", &o, &rc)) return rc;
  char cur[16], iso1[64], iso2[64];
  cli_text(cur, sizeof cur, o, "currency", "");
  {
    static const char *const keys[] = {"id",       "customer", "customer id", "status",
                                       "currency", "discount", "created",     "submitted"};
    char b[8][256];
    const char *vals[8];
    vals[0] = cli_text(b[0], sizeof b[0], o, "id", "-");
    vals[1] = cli_text(b[1], sizeof b[1], o, "customer_name", "-");
    vals[2] = cli_text(b[2], sizeof b[2], o, "customer_id", "-");
    vals[3] = cli_text(b[3], sizeof b[3], o, "status", "-");
    vals[4] = cur;
    vals[5] = cli_pct(b[5], sizeof b[5], cli_int(o, "discount_bp", 0));
    vals[6] =
        cli_localtime(b[6], sizeof b[6], cli_text(iso1, sizeof iso1, o, "created_at", ""), "-");
    vals[7] =
        cli_localtime(b[7], sizeof b[7], cli_text(iso2, sizeof iso2, o, "submitted_at", ""), "-");
    cli_kv_print(keys, vals, 8, "");
  }
  {
    /* the lines carry no currency: their money is in the order's */
    static const cli_col cols[] = {
        {"SKU", "sku", NULL, NULL, 0},
        {"NAME", "name", NULL, NULL, 0},
        {"QTY", "qty", NULL, NULL, 1},
        {"UNIT PRICE", "unit_price", cli_cell_money, NULL, 1},
        {"DISC.", "discount_bp", cli_cell_pct, NULL, 1},
        {"AMOUNT", "amount", cli_cell_money, NULL, 1},
    };
    cli_print_section("Lines", cols, CLI_NCOLS(cols), o, "lines");
  }
  {
    char tot[64];
    printf("\nTotal: %s\n", cli_money(tot, sizeof tot, cli_int(o, "total", 0), cur));
  }
  cJSON_Delete(o);
  return rc;
}

static const cli_sub subs[] = {
    {"new", order_new},   {"line", order_line}, {"submit", order_submit},
    {"list", order_list}, {"show", order_show}, {NULL, NULL},
};

int cmd_order(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "order", group_usage, subs, argc, argv);
}
