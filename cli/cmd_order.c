/*
 * cmd_order.c — `fieldsync order new|line|submit|cancel|list|show` and
 * `order line edit|remove` to correct a draft.
 *
 * An order is born a draft on the device, gets lines priced from the synced
 * (head-office) price list at the moment the line is added, and is frozen by
 * `submit`.  Quantities and percentages are checked here with exact integer
 * parsing (no strtod: "1.5", "1e3", "-3" and "abc" are all refused with a
 * sentence naming the flag) before the store is opened; the state rules
 * (draft only, price exists) are the library's and come back as its
 * sentence.  Percentages become basis points (2.5 -> 250) and money stays in
 * integer minor units until it is formatted for a person.  An ORDER is its
 * id or a unique prefix (fs_resolve_id); a LINE is its number in `order
 * show` (1, 2, ...) or its id or a unique prefix of it among the order's
 * lines.
 */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

static const char new_usage[] =
    "Usage: fieldsync order new --customer ID [--currency EUR] [--discount PCT]\n"
    "           [--from ORDER] [--deal D] [--json]\n"
    "\n"
    "Starts a draft order for customer ID and prints the order id.  With\n"
    "--from, the lines of a previous order (SKU, quantity, line discount) are\n"
    "copied at today's prices, for the same or another customer.\n"
    "\n"
    "  --customer ID     the customer (required)\n"
    "  --currency CUR    price list currency (default EUR, or the --from order's)\n"
    "  --discount PCT    order discount, 0 to 100 % (e.g. 2.5; default 0 or --from's)\n"
    "  --from ORDER      copy this order's lines (id, prefix or number)\n"
    "  --deal D          the deal (of the same customer) this order closes\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync order new --customer \"Müller GmbH\" --from 3F2A91-17\n"
    "  fieldsync order new --customer \"Nordwind GmbH\" --deal 0190f3a2c4\n";

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
    "  --json            print {\"id\":...}\n\n"
    "Example:\n"
    "  fieldsync order line 3F2A91-17 --sku CHAIR-01 --qty 40 --discount 5\n";

static const char submit_usage[] =
    "Usage: fieldsync order submit ORDER [--json]\n"
    "\n"
    "Submits draft order ORDER; its lines cannot change after this.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"status\":\"submitted\"}\n\n"
    "Example:\n"
    "  fieldsync order submit 3F2A91-17\n";

static const char line_edit_usage[] =
    "Usage: fieldsync order line edit ORDER LINE [--qty N] [--discount PCT]\n"
    "           [--json]\n"
    "\n"
    "Changes the quantity or discount of line LINE of draft order ORDER (LINE\n"
    "is the line's number in 'fieldsync order show', or its id).  The SKU and\n"
    "price of a line do not change: remove the line and add a new one.\n"
    "\n"
    "  --qty N           quantity, a whole number of at least 1\n"
    "  --discount PCT    line discount in percent, 0 to 100\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...} (the line's id)\n"
    "\n"
    "Example:\n"
    "  fieldsync order line edit 0190f3a2c4 2 --qty 12 --discount 5\n";

static const char line_remove_usage[] =
    "Usage: fieldsync order line remove ORDER LINE [--json]\n"
    "\n"
    "Removes line LINE (its number in 'fieldsync order show', or its id) from\n"
    "draft order ORDER.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"deleted\":true}\n"
    "\n"
    "Example:\n"
    "  fieldsync order line remove 0190f3a2c4 2\n";

static const char cancel_usage[] =
    "Usage: fieldsync order cancel ORDER [--json]\n"
    "\n"
    "Cancels draft order ORDER (status cancelled): it is kept, with its\n"
    "lines, and synced as cancelled.  A submitted order is head office's to\n"
    "cancel.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"status\":\"cancelled\"}\n"
    "\n"
    "Example:\n"
    "  fieldsync order cancel 0190f3a2c4\n";

static const char list_usage[] =
    "Usage: fieldsync order list [--json]\n"
    "\n"
    "Lists the orders on this device with their totals, newest first.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print JSON\n\n"
    "Examples:\n"
    "  fieldsync order list\n"
    "  fieldsync order list --json\n";

static const char show_usage[] = "Usage: fieldsync order show ORDER [--json]\n"
                                 "\n"
                                 "Shows one order with its lines and how its total is\n"
                                 "reached (lines, line discounts, order discount, total).\n"
                                 "\n"
                                 "  --home DIR        the store directory\n"
                                 "  --json            print JSON\n\n"
                                 "Example:\n"
                                 "  fieldsync order show 3F2A91-17\n";

static const char group_usage[] = "Usage: fieldsync order COMMAND [ARGS...]\n"
                                  "\n"
                                  "Commands:\n"
                                  "  new --customer ID [--currency EUR] [--discount PCT]\n"
                                  "      [--from ORDER] [--deal D]\n"
                                  "  line ORDER --sku SKU --qty N [--discount PCT]\n"
                                  "  line edit ORDER LINE [--qty N] [--discount PCT]\n"
                                  "  line remove ORDER LINE\n"
                                  "  submit ORDER\n"
                                  "  cancel ORDER\n"
                                  "  list [--json]\n"
                                  "  show ORDER [--json]\n"
                                  "\n"
                                  "'fieldsync order COMMAND --help' describes each command.\n";

static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};

/* order new --from: a new draft for the customer with the lines of order
 * `from` at today's prices, in one transaction. */
static int order_new_from(cli_ctx *ctx, const char *customer, const char *currency,
                          const char *discount_bp, const char *from, const char *deal) {
  char cid[FS_ID_SIZE], fid[FS_ID_SIZE], did[FS_ID_SIZE], id[FS_ID_SIZE] = "", cur[8] = "EUR",
                                                          bp[24] = "0";
  char *doc = NULL;
  fs_device *dev = NULL;
  int rc = cli_open(ctx, &dev);
  if (rc != CLI_OK) return rc;
  fs_store *st = fs_device_store(dev);
  if ((rc = cli_resolve(dev, "customers", customer, cid)) == CLI_OK &&
      (rc = cli_resolve(dev, "orders", from, fid)) == CLI_OK &&
      (!deal || (rc = cli_resolve(dev, "deals", deal, did)) == CLI_OK) &&
      (rc = cli_view_on(dev, "order", fid, &doc)) == CLI_OK) {
    cJSON *src = cli_parse_doc(doc, "an order");
    if (!src) rc = CLI_EFAIL;
    cli_text(cur, sizeof cur, src, "currency", "EUR");
    snprintf(bp, sizeof bp, "%lld", (long long)cli_int(src, "discount_bp", 0));
    cJSON_Delete(src);
  }
  fs_free(doc);
  if (rc == CLI_OK) {
    fs_field f[] = {{"customer_id", cid},
                    {"currency", currency ? currency : cur},
                    {"discount_bp", discount_bp ? discount_bp : bp},
                    {"deal_id", did}};
    int lrc = fs_tx_begin(st);
    if (!lrc) lrc = fs_insert(id, st, "orders", f, deal ? 4 : 3);
    if (!lrc) lrc = fs_order_copy_lines(st, id, fid);
    if (!lrc) lrc = fs_tx_commit(st);
    if (lrc) {
      rc = cli_lib_fail(lrc);
      fs_tx_rollback(st);
    }
  }
  fs_device_close(dev);
  return rc != CLI_OK ? rc : cli_print_id(ctx, id);
}

static int order_new(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *currency = NULL, *discount = NULL, *deal = NULL, *from = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL}, {"currency", 1, &currency, NULL},
                          {"discount", 1, &discount, NULL}, {"deal", 1, &deal, NULL},
                          {"from", 1, &from, NULL},         {NULL, 0, NULL, NULL}};
  cli_spec spec = {"order new", new_usage, opts, NULL, NULL, 0};
  char cur[4] = "EUR", bp_text[16];
  int64_t bp = 0;
  fs_field f[4];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("order new: --customer ID is required; see 'fieldsync "
                     "order new --help'.");
  if (deal && !*deal) return cli_usage("order new: --deal needs a deal id.");
  if (currency && (rc = cli_parse_currency(cur, "currency", currency)) != CLI_OK) return rc;
  if (discount && (rc = cli_parse_pct(&bp, "discount", discount)) != CLI_OK) return rc;
  snprintf(bp_text, sizeof bp_text, "%lld", (long long)bp);
  if (from)
    return order_new_from(ctx, customer, currency ? cur : NULL, discount ? bp_text : NULL, from,
                          deal);
  f[n++] = (fs_field){"customer_id", customer};
  f[n++] = (fs_field){"currency", cur};
  f[n++] = (fs_field){"discount_bp", bp_text};
  if (deal) f[n++] = (fs_field){"deal_id", deal};
  return cli_insert(ctx, "orders", f, n);
}

/* order line edit|remove, quote line edit|remove: cli/lines.c */
static const cli_lines order_lines = {"order", "orders", "order_lines", "the ORDER id"};

static int order_line(cli_ctx *ctx, int argc, char **argv) {
  if (argc > 0 && !strcmp(argv[0], "edit"))
    return cli_lines_edit(ctx, &order_lines, line_edit_usage, argc - 1, argv + 1);
  if (argc > 0 && !strcmp(argv[0], "remove"))
    return cli_lines_remove(ctx, &order_lines, line_remove_usage, argc - 1, argv + 1);
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
  char oid[FS_ID_SIZE];
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, "orders", order, oid)) == CLI_OK) {
    int lrc = fs_order_line_add(id, fs_device_store(dev), oid, sku, qty, bp);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return cli_print_id(ctx, id);
}

static int print_status(cli_ctx *ctx, const char *oid, const char *status);

static int order_submit(cli_ctx *ctx, int argc, char **argv) {
  const char *order = NULL;
  static const char *const pos_names[] = {"the ORDER id"};
  cli_spec spec = {"order submit", submit_usage, no_opts, pos_names, &order, 1};
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  char oid[FS_ID_SIZE];
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, "orders", order, oid)) == CLI_OK) {
    int lrc = fs_order_submit(fs_device_store(dev), oid);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return print_status(ctx, oid, "submitted");
}

static int order_cancel(cli_ctx *ctx, int argc, char **argv) {
  const char *order = NULL;
  static const char *const pos_names[] = {"the ORDER id"};
  cli_spec spec = {"order cancel", cancel_usage, no_opts, pos_names, &order, 1};
  char oid[FS_ID_SIZE];
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, "orders", order, oid)) == CLI_OK) {
    const fs_field f[] = {{"status", "cancelled"}};
    int lrc = fs_update(fs_device_store(dev), "orders", oid, f, 1);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return print_status(ctx, oid, "cancelled");
}

/* "Order ID submitted." or {"id":...,"status":...}. */
static int print_status(cli_ctx *ctx, const char *oid, const char *status) {
  int rc;
  if (!ctx->json) {
    printf("Order %s %s.\n", oid, status);
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "id", oid) ||
      !cJSON_AddStringToObject(o, "status", status)) {
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
      {"NUMBER", "number", NULL, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"STATUS", "status", NULL, NULL, 0},
      {"LINES", "lines", NULL, "0", 1},
      {"DISC.", "discount_bp", cli_cell_pct, NULL, 1},
      {"TOTAL", "total", cli_cell_money, NULL, 1},
      {"CREATED", "created_at", cli_cell_time, NULL, 0},
      {"ID", "id", NULL, NULL, 0},
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
  if (!cli_view_doc_of(ctx, "order", "orders", id, "an order", &o, &rc)) return rc;
  char cur[16], iso1[64], iso2[64];
  cli_text(cur, sizeof cur, o, "currency", "");
  {
    static const char *const keys[] = {"number",   "id",       "customer", "customer id", "status",
                                       "currency", "discount", "created",  "submitted",   "quote"};
    char b[10][256];
    const char *vals[10];
    vals[8] = cli_text(b[8], sizeof b[8], o, "number", "-");
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
    vals[9] = cli_text(b[9], sizeof b[9], o, "quote_number", "-");
    const char *ordered[10] = {vals[8], vals[0], vals[1], vals[2], vals[3],
                               vals[4], vals[5], vals[6], vals[7], vals[9]};
    /* an order not accepted from a quote has no "quote" line */
    size_t nk = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "quote_id")) ? 10 : 9;
    cli_kv_print(keys, ordered, nk, "");
  }
  cli_print_lines(o);
  cli_print_total(o, cur, "Order");
  cJSON_Delete(o);
  return rc;
}

static const cli_sub subs[] = {
    {"new", order_new},
    {"line", order_line},
    {"submit", order_submit},
    {"cancel", order_cancel},
    {"list", order_list},
    {"show", order_show},
    {NULL, NULL},
};

int cmd_order(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "order", group_usage, subs, argc, argv);
}
