/*
 * cmd_quote.c — `fieldsync quote new|line|send|accept|reject|show|list` and
 * `quote line edit|remove` to correct a draft.
 *
 * A quote (a proposal) is born a draft on the device with a number for
 * people ("3F2A91-Q17"), gets lines priced from the synced price list like
 * an order's, is sent, and is then accepted (which makes a draft order at
 * the quote's prices, the order remembering its quote) or rejected.  It is
 * valid until a date (default 30 days); past it, it is expired and can be
 * neither sent nor accepted.  `quote new --from Q` copies a previous
 * quote's lines at today's prices, for the same or another customer, so
 * fifty proposals a day are quick.  A QUOTE is its id, a unique prefix of
 * it or its number (fs_resolve_id); a LINE is its number in `quote show`
 * or its id.  Flags are checked before the store is opened; the state rules
 * are the library's (core/quote.c) and come back as its sentence; every
 * verb is one transaction, so a refusal changes nothing.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char new_usage[] =
    "Usage: fieldsync quote new --customer C [--currency CUR] [--valid-until DATE]\n"
    "           [--discount PCT] [--deal D] [--notes T] [--from QUOTE] [--json]\n"
    "\n"
    "Starts a draft quote (a proposal) for customer C and prints its number and\n"
    "id.  With --from, the lines of a previous quote (any customer's) are copied\n"
    "at today's prices in the new quote's currency.  Dates are days of the local\n"
    "calendar.\n"
    "\n"
    "  --customer C        the customer: id, id prefix or exact name (required)\n"
    "  --currency CUR      price list currency (default EUR, or the --from quote's)\n"
    "  --valid-until DATE  last day to accept it, YYYY-MM-DD (default in 30 days)\n"
    "  --discount PCT      quote discount, 0 to 100 % (default 0 or the --from one's)\n"
    "  --deal D            the id of the deal (opportunity) it belongs to\n"
    "  --notes T           free text\n"
    "  --from QUOTE        copy this quote's lines (id, prefix or number)\n"
    "  --home DIR          the store directory\n"
    "  --json              print {\"id\",\"number\",\"valid_until\",\"lines\"}\n"
    "\n"
    "Example:\n"
    "  fieldsync quote new --customer \"Müller GmbH\" --from 3F2A91-Q12\n";

static const char line_usage[] =
    "Usage: fieldsync quote line QUOTE --sku SKU --qty N [--discount PCT] [--json]\n"
    "\n"
    "Adds a line to draft quote QUOTE; the unit price is taken from the synced\n"
    "price list in the quote's currency.  Prints the line id.\n"
    "\n"
    "  --sku SKU         the product (required; see 'fieldsync product find')\n"
    "  --qty N           quantity, a whole number of at least 1 (required)\n"
    "  --discount PCT    line discount in percent, 0 to 100\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync quote line 3F2A91-Q12 --sku WID-1 --qty 200 --discount 5\n";

static const char line_edit_usage[] =
    "Usage: fieldsync quote line edit QUOTE LINE [--qty N] [--discount PCT] [--json]\n"
    "\n"
    "Changes the quantity or discount of line LINE of draft quote QUOTE (LINE is\n"
    "the line's number in 'fieldsync quote show', or its id).  The SKU and price\n"
    "of a line do not change: remove the line and add a new one.\n"
    "\n"
    "  --qty N           quantity, a whole number of at least 1\n"
    "  --discount PCT    line discount in percent, 0 to 100\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...} (the line's id)\n"
    "\n"
    "Example:\n"
    "  fieldsync quote line edit 3F2A91-Q12 2 --qty 12\n";

static const char line_remove_usage[] =
    "Usage: fieldsync quote line remove QUOTE LINE [--json]\n"
    "\n"
    "Removes line LINE (its number in 'fieldsync quote show', or its id) from\n"
    "draft quote QUOTE.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"deleted\":true}\n"
    "\n"
    "Example:\n"
    "  fieldsync quote line remove 3F2A91-Q12 2\n";

static const char send_usage[] =
    "Usage: fieldsync quote send QUOTE [--json]\n"
    "\n"
    "Marks draft quote QUOTE as sent to the customer; its lines cannot change\n"
    "after this.  An expired quote is not sent.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"status\":\"sent\"}\n"
    "\n"
    "Example:\n"
    "  fieldsync quote send 3F2A91-Q12\n";

static const char accept_usage[] =
    "Usage: fieldsync quote accept QUOTE [--json]\n"
    "\n"
    "The customer accepted sent quote QUOTE: makes a draft order for the\n"
    "customer with the quote's lines at the quote's prices and discounts (the\n"
    "order remembers its quote) and prints the order's number and id.  An\n"
    "expired quote (valid until a day before today) cannot be accepted.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\",\"status\",\"order_id\",\"order_number\"}\n"
    "\n"
    "Example:\n"
    "  fieldsync quote accept 3F2A91-Q12 && fieldsync order submit 3F2A91-40\n";

static const char reject_usage[] =
    "Usage: fieldsync quote reject QUOTE [--reason T] [--json]\n"
    "\n"
    "The customer turned sent quote QUOTE down.  The reason is kept as the last\n"
    "line of the quote's notes (\"Rejected: T\").\n"
    "\n"
    "  --reason T        why, in the customer's words\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"status\":\"rejected\"}\n"
    "\n"
    "Example:\n"
    "  fieldsync quote reject 3F2A91-Q12 --reason \"too expensive\"\n";

static const char show_usage[] =
    "Usage: fieldsync quote show QUOTE [--json]\n"
    "\n"
    "Shows one quote with its lines and how its total is reached (lines, line\n"
    "discounts, quote discount, total).\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print JSON\n"
    "\n"
    "Example:\n"
    "  fieldsync quote show 3F2A91-Q12\n";

static const char list_usage[] =
    "Usage: fieldsync quote list [--customer C] [--status S] [--json]\n"
    "\n"
    "Lists the quotes on this device with their totals, newest first.  A quote\n"
    "is expired once its valid-until day is past in the local calendar.\n"
    "\n"
    "  --customer C      only this customer's (id, id prefix or exact name)\n"
    "  --status S        draft, sent, accepted, rejected or expired (past its date)\n"
    "  --home DIR        the store directory\n"
    "  --json            print JSON\n"
    "\n"
    "Example:\n"
    "  fieldsync quote list --status sent\n";

static const char group_usage[] =
    "Usage: fieldsync quote COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  new --customer C [--currency CUR] [--valid-until DATE] [--discount PCT]\n"
    "      [--deal D] [--notes T] [--from QUOTE]\n"
    "  line QUOTE --sku SKU --qty N [--discount PCT]\n"
    "  line edit QUOTE LINE [--qty N] [--discount PCT]\n"
    "  line remove QUOTE LINE\n"
    "  send QUOTE\n"
    "  accept QUOTE\n"
    "  reject QUOTE [--reason T]\n"
    "  show QUOTE [--json]\n"
    "  list [--customer C] [--status S] [--json]\n"
    "\n"
    "'fieldsync quote COMMAND --help' describes each command.\n";

static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};

/* The quote doc of an id on an open device; NULL after printing why. */
static cJSON *quote_doc(fs_device *dev, const char *qid, int *rc) {
  char *doc = NULL;
  cJSON *o = NULL;
  if ((*rc = cli_view_on(dev, "quote", qid, &doc)) == CLI_OK &&
      !(o = cli_parse_doc(doc, "a quote")))
    *rc = CLI_EFAIL;
  fs_free(doc);
  return o;
}

static int quote_new(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *currency = NULL, *valid = NULL, *discount = NULL, *deal = NULL,
             *notes = NULL, *from = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL}, {"currency", 1, &currency, NULL},
                          {"valid-until", 1, &valid, NULL}, {"discount", 1, &discount, NULL},
                          {"deal", 1, &deal, NULL},         {"notes", 1, &notes, NULL},
                          {"from", 1, &from, NULL},         {NULL, 0, NULL, NULL}};
  cli_spec spec = {"quote new", new_usage, opts, NULL, NULL, 0};
  char cur[4] = "EUR", date[11] = "", bp_text[16] = "0", cid[FS_ID_SIZE], fid[FS_ID_SIZE];
  char id[FS_ID_SIZE] = "";
  int64_t bp = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("quote new: --customer C is required; see 'fieldsync quote new --help'.");
  if (currency && (rc = cli_parse_currency(cur, "currency", currency)) != CLI_OK) return rc;
  if (valid && (rc = cli_parse_date(date, "valid-until", valid)) != CLI_OK) return rc;
  if (discount && (rc = cli_parse_pct(&bp, "discount", discount)) != CLI_OK) return rc;
  if (deal && (rc = cli_check_id("deal", deal)) != CLI_OK) return rc;
  snprintf(bp_text, sizeof bp_text, "%lld", (long long)bp);
  fs_device *dev = NULL;
  cJSON *src = NULL, *made = NULL;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  fs_store *st = fs_device_store(dev);
  if ((rc = cli_resolve(dev, "customers", customer, cid)) != CLI_OK) goto out;
  if (from) {
    if ((rc = cli_resolve(dev, "quotes", from, fid)) != CLI_OK) goto out;
    if (!(src = quote_doc(dev, fid, &rc))) goto out;
    if (!currency) cli_text(cur, sizeof cur, src, "currency", "EUR");
    if (!discount)
      snprintf(bp_text, sizeof bp_text, "%lld", (long long)cli_int(src, "discount_bp", 0));
  }
  fs_field f[] = {{"customer_id", cid},  {"currency", cur}, {"discount_bp", bp_text},
                  {"valid_until", NULL}, {"deal_id", deal}, {"notes", notes}};
  if (*date) f[3].value = date;
  int lrc = fs_tx_begin(st);
  if (!lrc) lrc = fs_insert(id, st, "quotes", f, sizeof f / sizeof *f);
  if (!lrc && from) lrc = fs_quote_copy_lines(st, id, fid);
  if (!lrc) lrc = fs_tx_commit(st);
  if (lrc) {
    rc = cli_lib_fail(lrc);
    fs_tx_rollback(st);
    goto out;
  }
  if (!(made = quote_doc(dev, id, &rc))) goto out;
out:
  fs_device_close(dev);
  cJSON_Delete(src);
  if (rc != CLI_OK) {
    cJSON_Delete(made);
    return rc;
  }
  char num[40], until[16];
  cli_text(num, sizeof num, made, "number", "");
  cli_text(until, sizeof until, made, "valid_until", "");
  int64_t lines = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(made, "lines"));
  cJSON_Delete(made);
  if (!ctx->json) {
    printf("Quote %s %s, valid until %s", num, id, until);
    if (from) printf(", %lld line%s copied", (long long)lines, lines == 1 ? "" : "s");
    printf(".\n");
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "id", id) || !cJSON_AddStringToObject(o, "number", num) ||
      !cJSON_AddStringToObject(o, "valid_until", until) ||
      !cJSON_AddNumberToObject(o, "lines", (double)lines)) {
    cJSON_Delete(o);
    return cli_fail("out of memory.");
  }
  rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
}

/* order line edit|remove, quote line edit|remove: cli/lines.c */
static const cli_lines quote_lines = {"quote", "quotes", "quote_lines", "the QUOTE"};

static int quote_line(cli_ctx *ctx, int argc, char **argv) {
  if (argc > 0 && !strcmp(argv[0], "edit"))
    return cli_lines_edit(ctx, &quote_lines, line_edit_usage, argc - 1, argv + 1);
  if (argc > 0 && !strcmp(argv[0], "remove"))
    return cli_lines_remove(ctx, &quote_lines, line_remove_usage, argc - 1, argv + 1);
  const char *quote = NULL, *sku = NULL, *qty_text = NULL, *discount = NULL;
  static const char *const pos_names[] = {"the QUOTE"};
  const cli_opt opts[] = {{"sku", 1, &sku, NULL},
                          {"qty", 1, &qty_text, NULL},
                          {"discount", 1, &discount, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"quote line", line_usage, opts, pos_names, &quote, 1};
  int64_t qty = 0, bp = 0;
  char id[FS_ID_SIZE] = "", qid[FS_ID_SIZE];
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!sku || !*sku)
    return cli_usage("quote line: --sku SKU is required; see 'fieldsync quote line --help'.");
  if (!qty_text)
    return cli_usage("quote line: --qty N is required; see 'fieldsync quote line --help'.");
  if ((rc = cli_parse_qty(&qty, "qty", qty_text)) != CLI_OK) return rc;
  if (discount && (rc = cli_parse_pct(&bp, "discount", discount)) != CLI_OK) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, "quotes", quote, qid)) == CLI_OK) {
    int lrc = fs_quote_line_add(id, fs_device_store(dev), qid, sku, qty, bp);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return cli_print_id(ctx, id);
}

/* "Quote NUMBER ID STATUS." or {"id":...,"status":...}; with an order, its
 * number and id too. */
static int print_status(cli_ctx *ctx, const char *number, const char *qid, const char *status,
                        const char *oid, const char *onum) {
  if (!ctx->json) {
    if (oid)
      printf("Quote %s %s: order %s %s (a draft; submit it with 'fieldsync order submit').\n",
             number, status, onum, oid);
    else
      printf("Quote %s %s %s.\n", number, qid, status);
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "id", qid) ||
      !cJSON_AddStringToObject(o, "status", status) ||
      (oid && (!cJSON_AddStringToObject(o, "order_id", oid) ||
               !cJSON_AddStringToObject(o, "order_number", onum)))) {
    cJSON_Delete(o);
    return cli_fail("out of memory.");
  }
  int rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
}

enum { DO_SEND, DO_ACCEPT, DO_REJECT };

static int quote_move(cli_ctx *ctx, int argc, char **argv, int what) {
  static const char *const verbs[] = {"quote send", "quote accept", "quote reject"};
  static const char *const usages[] = {send_usage, accept_usage, reject_usage};
  static const char *const status[] = {"sent", "accepted", "rejected"};
  const char *quote = NULL, *reason = NULL;
  static const char *const pos_names[] = {"the QUOTE"};
  const cli_opt reject_opts[] = {{"reason", 1, &reason, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {verbs[what], usages[what], what == DO_REJECT ? reject_opts : no_opts,
                   pos_names,   &quote,       1};
  char qid[FS_ID_SIZE], oid[FS_ID_SIZE] = "", num[40] = "", onum[40] = "";
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, "quotes", quote, qid)) == CLI_OK) {
    fs_store *st = fs_device_store(dev);
    int lrc = what == DO_SEND     ? fs_quote_send(st, qid)
              : what == DO_ACCEPT ? fs_quote_accept(oid, st, qid)
                                  : fs_quote_reject(st, qid, reason);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  if (rc == CLI_OK) {
    cJSON *q = quote_doc(dev, qid, &rc);
    cli_text(num, sizeof num, q, "number", "");
    cli_text(onum, sizeof onum, q, "order_number", "");
    cJSON_Delete(q);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return print_status(ctx, num, qid, status[what], what == DO_ACCEPT ? oid : NULL, onum);
}

static int quote_send(cli_ctx *ctx, int argc, char **argv) {
  return quote_move(ctx, argc, argv, DO_SEND);
}
static int quote_accept(cli_ctx *ctx, int argc, char **argv) {
  return quote_move(ctx, argc, argv, DO_ACCEPT);
}
static int quote_reject(cli_ctx *ctx, int argc, char **argv) {
  return quote_move(ctx, argc, argv, DO_REJECT);
}

/* "sent (expired)" for a quote past its date. */
static const char *cell_status(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                               const cJSON *doc) {
  (void)col, (void)doc;
  char s[24];
  cli_text(s, sizeof s, row, "status", "-");
  snprintf(buf, cap, "%s%s", s, cli_int(row, "expired", 0) ? " (expired)" : "");
  return buf;
}

static int quote_list(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *status = NULL;
  static const char *const statuses[] = {"draft", "sent", "accepted", "rejected", "expired", NULL};
  const cli_opt opts[] = {
      {"customer", 1, &customer, NULL}, {"status", 1, &status, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"quote list", list_usage, opts, NULL, NULL, 0};
  char cid[FS_ID_SIZE] = "", *doc = NULL;
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (status && (rc = cli_parse_enum("status", status, statuses)) != CLI_OK) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if (!customer || (rc = cli_resolve(dev, "customers", customer, cid)) == CLI_OK)
    rc = cli_view_on(dev, "quotes", NULL, &doc);
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  cJSON *arr = cli_parse_doc(doc, "a quote list"), *keep = cJSON_CreateArray();
  fs_free(doc);
  if (!arr || !keep) {
    cJSON_Delete(arr);
    cJSON_Delete(keep);
    return CLI_EFAIL;
  }
  while (cJSON_GetArraySize(arr) > 0) {
    cJSON *q = cJSON_DetachItemFromArray(arr, 0);
    char c[FS_ID_SIZE], s[16];
    cli_text(c, sizeof c, q, "customer_id", "");
    cli_text(s, sizeof s, q, "status", "");
    int ok = (!*cid || !strcmp(c, cid)) &&
             (!status ||
              (!strcmp(status, "expired") ? cli_int(q, "expired", 0) != 0 : !strcmp(status, s)));
    if (ok)
      cJSON_AddItemToArray(keep, q);
    else
      cJSON_Delete(q);
  }
  cJSON_Delete(arr);
  if (ctx->json) {
    rc = cli_print_cjson(keep);
  } else {
    static const cli_col cols[] = {
        {"NUMBER", "number", NULL, NULL, 0},
        {"CUSTOMER", "customer_name", NULL, NULL, 0},
        {"STATUS", "status", cell_status, NULL, 0},
        {"VALID UNTIL", "valid_until", NULL, NULL, 0},
        {"LINES", "lines", NULL, "0", 1},
        {"DISC.", "discount_bp", cli_cell_pct, NULL, 1},
        {"TOTAL", "total", cli_cell_money, NULL, 1},
        {"CREATED", "created_at", cli_cell_time, NULL, 0},
        {"ID", "id", NULL, NULL, 0},
    };
    cli_print_rows(cols, CLI_NCOLS(cols), keep, NULL, "",
                   customer || status
                       ? "No quotes match.\n"
                       : "No quotes yet; start one with 'fieldsync quote new --customer C'.\n");
  }
  cJSON_Delete(keep);
  return rc;
}

void cli_print_total(const cJSON *doc, const char *cur, const char *what) {
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(doc, "lines"), *l;
  int64_t gross = 0, net = 0, bp = cli_int(doc, "discount_bp", 0), total = cli_int(doc, "total", 0);
  cJSON_ArrayForEach(l, lines) {
    gross += cli_int(l, "qty", 0) * cli_int(l, "unit_price", 0);
    net += cli_int(l, "amount", 0);
  }
  char k[5][64], v[5][64], pct[16];
  const char *keys[5], *vals[5];
  size_t n = 0, w = 0;
  snprintf(k[n], sizeof k[n], "Lines at unit price");
  cli_money(v[n++], sizeof v[0], gross, cur);
  snprintf(k[n], sizeof k[n], "Line discounts");
  cli_money(v[n++], sizeof v[0], net - gross, cur);
  snprintf(k[n], sizeof k[n], "Lines");
  cli_money(v[n++], sizeof v[0], net, cur);
  snprintf(k[n], sizeof k[n], "%s discount %s", what, cli_pct(pct, sizeof pct, bp));
  cli_money(v[n++], sizeof v[0], total - net, cur);
  snprintf(k[n], sizeof k[n], "Total");
  cli_money(v[n++], sizeof v[0], total, cur);
  for (size_t i = 0; i < n; i++) {
    keys[i] = k[i];
    if (strlen(v[i]) > w) w = strlen(v[i]);
  }
  /* money right-aligned, so the sum reads down a column */
  char padded[5][64];
  for (size_t i = 0; i < n; i++) {
    /* w is the longest of v[], each shorter than 64: only spaces are added */
    size_t pad = w - strlen(v[i]);
    memset(padded[i], ' ', pad);
    memcpy(padded[i] + pad, v[i], strlen(v[i]) + 1);
    vals[i] = padded[i];
  }
  printf("\n");
  cli_kv_print(keys, vals, n, "");
}

static int quote_show(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL;
  static const char *const pos_names[] = {"the QUOTE"};
  cli_spec spec = {"quote show", show_usage, no_opts, pos_names, &id, 1};
  cJSON *o = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc_of(ctx, "quote", "quotes", id, "a quote", &o, &rc)) return rc;
  char cur[16], b[14][256], iso[3][64];
  cli_text(cur, sizeof cur, o, "currency", "");
  static const char *const keys[] = {"number",   "id",       "customer",    "customer id", "status",
                                     "currency", "discount", "valid until", "created",     "sent",
                                     "decided",  "order",    "deal",        "notes"};
  const char *vals[14];
  vals[0] = cli_text(b[0], sizeof b[0], o, "number", "-");
  vals[1] = cli_text(b[1], sizeof b[1], o, "id", "-");
  vals[2] = cli_text(b[2], sizeof b[2], o, "customer_name", "-");
  vals[3] = cli_text(b[3], sizeof b[3], o, "customer_id", "-");
  vals[4] = cell_status(b[4], sizeof b[4], o, NULL, NULL);
  vals[5] = cur;
  vals[6] = cli_pct(b[6], sizeof b[6], cli_int(o, "discount_bp", 0));
  vals[7] = cli_text(b[7], sizeof b[7], o, "valid_until", "-");
  vals[8] =
      cli_localtime(b[8], sizeof b[8], cli_text(iso[0], sizeof iso[0], o, "created_at", ""), "-");
  vals[9] =
      cli_localtime(b[9], sizeof b[9], cli_text(iso[1], sizeof iso[1], o, "sent_at", ""), "-");
  vals[10] =
      cli_localtime(b[10], sizeof b[10], cli_text(iso[2], sizeof iso[2], o, "decided_at", ""), "-");
  {
    char on[64], oi[64];
    cli_text(on, sizeof on, o, "order_number", "");
    cli_text(oi, sizeof oi, o, "order_id", "");
    if (*oi)
      snprintf(b[11], sizeof b[11], "%s %s", *on ? on : "", oi);
    else
      snprintf(b[11], sizeof b[11], "-");
    vals[11] = b[11];
  }
  vals[12] = cli_text(b[12], sizeof b[12], o, "deal_id", "-");
  vals[13] = cli_text(b[13], sizeof b[13], o, "notes", "-");
  cli_kv_print(keys, vals, 14, "");
  cli_print_lines(o);
  cli_print_total(o, cur, "Quote");
  cJSON_Delete(o);
  return rc;
}

static const cli_sub subs[] = {
    {"new", quote_new},       {"line", quote_line}, {"send", quote_send}, {"accept", quote_accept},
    {"reject", quote_reject}, {"show", quote_show}, {"list", quote_list}, {NULL, NULL},
};

int cmd_quote(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "quote", group_usage, subs, argc, argv);
}
