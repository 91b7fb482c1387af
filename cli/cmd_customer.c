/*
 * cmd_customer.c — `fieldsync customer add|edit|list|show` and
 * `fieldsync contact add|list|edit|delete`, and `customer archive|delete`
 * for a customer lost or made by mistake.  Wherever a customer is taken,
 * a person may type its whole id, a unique prefix of 6+ characters or its
 * exact name (fs_resolve_id).
 *
 * Customers and contacts are shared tables: edited on devices and at head
 * office.  Each flag maps to one column of the same name (the table below),
 * so add and edit accept exactly the same fields.  A customer created here is
 * assigned to this device's manager by the library.  `customer show` is what
 * a manager reads before taking an order, so an overdue balance is printed
 * first, as a warning line, not buried in a table.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* flag name == column name, in the order they are listed in usage */
static const char *const cust_cols[] = {"name", "city",    "country", "phone", "email",
                                        "vat",  "segment", "address", "status"};
#define NCUST (sizeof cust_cols / sizeof cust_cols[0])

static const char *const cust_status[] = {"prospect", "active", "key", "lost", NULL};

static const char add_usage[] =
    "Usage: fieldsync customer add --name NAME [--city CITY] [--country CC]\n"
    "           [--phone P] [--email E] [--vat VAT] [--segment S]\n"
    "           [--address A] [--status prospect|active|key|lost] [--json]\n"
    "\n"
    "Creates a customer assigned to this device's manager and prints its id\n"
    "(with --json: {\"id\":\"...\"}).\n"
    "\n"
    "  --name NAME     company name (required)\n"
    "  --city CITY     city\n"
    "  --country CC    country code, e.g. DE\n"
    "  --phone P       phone number\n"
    "  --email E       e-mail address\n"
    "  --vat VAT       VAT or registry id\n"
    "  --segment S     market segment\n"
    "  --address A     street address\n"
    "  --status S      prospect, active, key or lost\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":...}\n\n"
    "Examples:\n"
    "  fieldsync customer add --name \"Nordwind GmbH\" --city Hamburg --country DE\n"
    "  fieldsync customer add --name \"北京华信科技\" --city 北京 --country CN --status prospect\n";

static const char edit_usage[] =
    "Usage: fieldsync customer edit ID [--name NAME] [--city CITY]\n"
    "           [--country CC] [--phone P] [--email E] [--vat VAT]\n"
    "           [--segment S] [--address A] [--status prospect|active|key|lost]\n"
    "           [--json]\n"
    "\n"
    "Changes the given fields of customer ID (at least one).  An empty value\n"
    "(--phone \"\") clears an optional field.\n"
    "\n"
    "  --name NAME       company name\n"
    "  --city CITY       city\n"
    "  --country CC      country code, e.g. DE\n"
    "  --phone P         phone number\n"
    "  --email E         e-mail address\n"
    "  --vat VAT         VAT or registry id\n"
    "  --segment S       market segment\n"
    "  --address A       street address\n"
    "  --status S        prospect, active, key or lost\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":...}\n\n"
    "Examples:\n"
    "  fieldsync customer edit \"Nordwind GmbH\" --phone \"+49 40 1234\"\n"
    "  fieldsync customer edit 3f2a91 --status key\n";

static const char list_usage[] =
    "Usage: fieldsync customer list [--json]\n"
    "\n"
    "Lists the customers on this device: id, name, city, country, status and\n"
    "manager.  --json prints the array of customer objects.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON\n\n"
    "Examples:\n"
    "  fieldsync customer list\n"
    "  fieldsync customer list --json\n";

static const char find_usage[] =
    "Usage: fieldsync customer find TEXT [--json]\n"
    "\n"
    "Finds your customers by name, city, e-mail, VAT id or phone, letter case\n"
    "and accents aside (\"muller\" finds Müller, \"koln\" Köln), best\n"
    "first: the exact name, then names that start with TEXT, a word of the\n"
    "name, the name anywhere, city, e-mail or VAT id, then the phone's digits.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print the array (each with its \"rank\", 1 best)\n"
    "\n"
    "Examples:\n"
    "  fieldsync customer find nordwind\n"
    "  fieldsync customer find 040-1234\n";

static const char show_usage[] =
    "Usage: fieldsync customer show ID [--json]\n"
    "\n"
    "Shows one customer with its contacts, meetings, orders and open balance;\n"
    "an overdue balance is flagged on the first line.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON\n\n"
    "Examples:\n"
    "  fieldsync customer show \"Nordwind GmbH\"\n"
    "  fieldsync customer show 3f2a91 --json\n";

static const char archive_usage[] =
    "Usage: fieldsync customer archive CUSTOMER [--json]\n"
    "\n"
    "Marks CUSTOMER as lost (status lost): it stays with its contacts,\n"
    "meetings and orders, and head office sees it archived after the next\n"
    "sync.  'fieldsync customer edit CUSTOMER --status active' brings it back.\n"
    "CUSTOMER is its id, a unique prefix of the id (6+ characters) or its\n"
    "exact name.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync customer archive \"Kraus Maschinenbau\"\n";

static const char delete_usage[] =
    "Usage: fieldsync customer delete CUSTOMER [--json]\n"
    "\n"
    "Deletes a customer created by mistake.  Refused when anything is\n"
    "attached to it (a contact, meeting, order, balance ...): archive such\n"
    "a customer instead ('fieldsync customer archive').  The delete is an\n"
    "ordinary synced change.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":...,\"deleted\":true}\n"
    "\n"
    "Example:\n"
    "  fieldsync customer delete 0190f3a2c4\n";

static const char group_usage[] =
    "Usage: fieldsync customer COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  add --name NAME [--city C] [--country CC] [--phone P] [--email E] ...\n"
    "  edit CUSTOMER [--name N] [--status prospect|active|key|lost] ...\n"
    "  archive CUSTOMER             status lost; nothing is removed\n"
    "  delete CUSTOMER              only one with nothing attached\n"
    "  list [--json]\n"
    "  find TEXT [--json]           by name, city, e-mail, VAT id or phone\n"
    "  show CUSTOMER [--json]\n"
    "\n"
    "CUSTOMER is an id, a unique id prefix (6+ characters) or an exact name.\n"
    "\n"
    "'fieldsync customer COMMAND --help' describes each command.\n";

static const char contact_add_usage[] =
    "Usage: fieldsync contact add --customer ID --name NAME [--role R]\n"
    "           [--phone P] [--email E] [--json]\n"
    "\n"
    "Adds a contact person to customer ID and prints the contact's id.\n"
    "\n"
    "  --customer ID   the customer (required)\n"
    "  --name NAME     the person's name (required)\n"
    "  --role R        job title or role\n"
    "  --phone P       phone number\n"
    "  --email E       e-mail address\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":...}\n\n"
    "Example:\n"
    "  fieldsync contact add --customer \"Nordwind GmbH\" --name \"Eva Berg\" --role buyer --phone "
    "\"+49 40 5678\"\n";

static const char contact_list_usage[] =
    "Usage: fieldsync contact list [--customer CUSTOMER] [--json]\n"
    "\n"
    "Lists the contact persons on this device (of one customer with\n"
    "--customer), by customer and name.\n"
    "\n"
    "  --customer C    only this customer's (id, id prefix or exact name)\n"
    "  --home DIR      the store directory\n"
    "  --json          print the array of contacts\n"
    "\n"
    "Example:\n"
    "  fieldsync contact list --customer \"Kraus Maschinenbau\"\n";

static const char contact_edit_usage[] =
    "Usage: fieldsync contact edit CONTACT [--name NAME] [--role R] [--phone P]\n"
    "           [--email E] [--json]\n"
    "\n"
    "Changes the given fields of contact CONTACT (its id or a unique prefix\n"
    "of 6+ characters, see 'fieldsync contact list').  An empty value\n"
    "(--phone \"\") clears an optional field.\n"
    "\n"
    "  --name NAME       the person's name\n"
    "  --role R          job title or role\n"
    "  --phone P         phone number (\"\" clears it)\n"
    "  --email E         e-mail address (\"\" clears it)\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync contact edit 0190f3a2c4 --phone \"+49 89 1234 567\"\n";

static const char contact_delete_usage[] =
    "Usage: fieldsync contact delete CONTACT [--json]\n"
    "\n"
    "Deletes contact CONTACT (a person who left the customer, or one entered\n"
    "twice); an ordinary synced change.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":...,\"deleted\":true}\n\n"
    "Example:\n"
    "  fieldsync contact delete 7c01de\n";

static const char contact_usage[] =
    "Usage: fieldsync contact COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  add --customer C --name NAME [--role R] [--phone P] [--email E]\n"
    "  list [--customer C] [--json]\n"
    "  edit CONTACT [--name N] [--role R] [--phone P] [--email E]\n"
    "  delete CONTACT\n"
    "\n"
    "'fieldsync contact COMMAND --help' describes each command.\n";

static void cust_opts(cli_opt opts[NCUST + 1], const char *vals[NCUST]) {
  for (size_t i = 0; i < NCUST; i++) opts[i] = (cli_opt){cust_cols[i], 1, &vals[i], NULL};
  opts[NCUST] = (cli_opt){NULL, 0, NULL, NULL};
}

static int customer_add(cli_ctx *ctx, int argc, char **argv) {
  const char *vals[NCUST] = {0};
  cli_opt opts[NCUST + 1];
  fs_field fields[NCUST];
  size_t n = 0;
  int rc;
  cust_opts(opts, vals);
  cli_spec spec = {"customer add", add_usage, opts, NULL, NULL, 0};
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!vals[0] || !*vals[0])
    return cli_usage("customer add: --name is required; see 'fieldsync "
                     "customer add --help'.");
  if (vals[NCUST - 1] && *vals[NCUST - 1] &&
      (rc = cli_parse_enum("status", vals[NCUST - 1], cust_status)) != CLI_OK)
    return rc;
  for (size_t i = 0; i < NCUST; i++)
    if (vals[i] && *vals[i]) fields[n++] = (fs_field){cust_cols[i], vals[i]};
  return cli_insert(ctx, "customers", fields, n);
}

static int customer_edit(cli_ctx *ctx, int argc, char **argv) {
  const char *vals[NCUST] = {0};
  const char *id = NULL;
  static const char *const pos_names[] = {"the customer ID"};
  cli_opt opts[NCUST + 1];
  fs_field fields[NCUST];
  size_t n = 0;
  int rc;
  cust_opts(opts, vals);
  cli_spec spec = {"customer edit", edit_usage, opts, pos_names, &id, 1};
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  for (size_t i = 0; i < NCUST; i++)
    if (vals[i]) fields[n++] = (fs_field){cust_cols[i], *vals[i] ? vals[i] : NULL};
  if (n == 0)
    return cli_usage("customer edit: give at least one field to change, such "
                     "as --phone or --status; see 'fieldsync customer edit "
                     "--help'.");
  if (vals[0] && !*vals[0]) return cli_usage("customer edit: --name cannot be empty.");
  if (vals[NCUST - 1] && *vals[NCUST - 1] &&
      (rc = cli_parse_enum("status", vals[NCUST - 1], cust_status)) != CLI_OK)
    return rc;
  return cli_update(ctx, "customers", id, fields, n);
}

static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};

static int customer_archive(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL;
  static const char *const pos_names[] = {"the CUSTOMER"};
  cli_spec spec = {"customer archive", archive_usage, no_opts, pos_names, &id, 1};
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  const fs_field f[] = {{"status", "lost"}};
  return cli_update(ctx, "customers", id, f, 1);
}

static int customer_delete(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL;
  static const char *const pos_names[] = {"the CUSTOMER"};
  cli_spec spec = {"customer delete", delete_usage, no_opts, pos_names, &id, 1};
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  return cli_delete(ctx, "customers", id, "customer", fs_customer_delete);
}

static int customer_list(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt opts[] = {{NULL, 0, NULL, NULL}};
  cli_spec spec = {"customer list", list_usage, opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc(ctx, "customers", NULL, "a customer list", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"ID", "id", NULL, NULL, 0},         {"NAME", "name", NULL, NULL, 0},
      {"CITY", "city", NULL, NULL, 0},     {"COUNTRY", "country", NULL, NULL, 0},
      {"STATUS", "status", NULL, NULL, 0}, {"MANAGER", "manager", NULL, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 "No customers yet; add one with 'fieldsync customer add --name NAME'.\n");
  cJSON_Delete(arr);
  return rc;
}

static int customer_find(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt opts[] = {{NULL, 0, NULL, NULL}};
  static const char *const pos_names[] = {"TEXT"};
  const char *text = NULL;
  cli_spec spec = {"customer find", find_usage, opts, pos_names, &text, 1};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!*text)
    return cli_usage("customer find: TEXT is empty; see 'fieldsync customer find --help'.");
  if (strlen(text) > 256) return cli_usage("customer find: TEXT is longer than 256 bytes.");
  if (!cli_view_doc(ctx, "customer_find", text, "a customer search", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"NAME", "name", NULL, NULL, 0},     {"CITY", "city", NULL, NULL, 0},
      {"PHONE", "phone", NULL, NULL, 0},   {"EMAIL", "email", NULL, NULL, 0},
      {"STATUS", "status", NULL, NULL, 0}, {"ID", "id", NULL, NULL, 0},
  };
  char none[400];
  snprintf(none, sizeof none, "No customer matches \"%s\".\n", text);
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "", none);
  cJSON_Delete(arr);
  return rc;
}

/* The overdue warnings, one line per currency with overdue > 0. */
static void print_overdue(const cJSON *balances) {
  const cJSON *b;
  cJSON_ArrayForEach(b, balances) {
    char cur[16], o[64], d[64];
    int64_t open = cli_int(b, "open", 0), overdue = cli_int(b, "overdue", 0);
    if (overdue <= 0) continue;
    cli_text(cur, sizeof cur, b, "currency", "");
    printf("OVERDUE: %s overdue of %s open\n", cli_money(d, sizeof d, overdue, cur),
           cli_money(o, sizeof o, open, cur));
  }
}

static int customer_show(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt opts[] = {{NULL, 0, NULL, NULL}};
  static const char *const pos_names[] = {"the customer ID"};
  const char *id = NULL;
  cli_spec spec = {"customer show", show_usage, opts, pos_names, &id, 1};
  cJSON *c = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc_of(ctx, "customer", "customers", id, "a customer", &c, &rc)) return rc;
  print_overdue(cJSON_GetObjectItemCaseSensitive(c, "balances"));
  {
    static const char *const keys[] = {"id",      "name",   "vat",     "segment",
                                       "address", "city",   "country", "phone",
                                       "email",   "status", "manager", "created_at"};
    static const char *const labels[] = {"id",      "name",   "vat",     "segment",
                                         "address", "city",   "country", "phone",
                                         "email",   "status", "manager", "created"};
    enum { NK = sizeof keys / sizeof keys[0] };
    char b[NK][512], iso[64];
    const char *vals[NK];
    for (size_t i = 0; i < NK; i++) vals[i] = cli_text(b[i], sizeof b[i], c, keys[i], "-");
    vals[NK - 1] = cli_localtime(b[NK - 1], sizeof b[NK - 1],
                                 cli_text(iso, sizeof iso, c, "created_at", ""), "-");
    cli_kv_print(labels, vals, NK, "");
  }
  {
    static const cli_col cols[] = {
        {"CURRENCY", "currency", NULL, NULL, 0},
        {"OPEN", "open", cli_cell_money, NULL, 1},
        {"OVERDUE", "overdue", cli_cell_money, NULL, 1},
    };
    cli_print_section("Balances", cols, CLI_NCOLS(cols), c, "balances");
  }
  {
    static const cli_col cols[] = {
        {"NAME", "name", NULL, NULL, 0},   {"ROLE", "role", NULL, NULL, 0},
        {"PHONE", "phone", NULL, NULL, 0}, {"EMAIL", "email", NULL, NULL, 0},
        {"ID", "id", NULL, NULL, 0},
    };
    cli_print_section("Contacts", cols, CLI_NCOLS(cols), c, "contacts");
  }
  {
    static const cli_col cols[] = {
        {"AT", "at", cli_cell_time, NULL, 0},      {"KIND", "kind", NULL, NULL, 0},
        {"PLACE", "place", NULL, NULL, 0},         {"OUTCOME", "outcome", NULL, NULL, 0},
        {"FOLLOW-UP", "follow_up", NULL, NULL, 0}, {"ID", "id", NULL, NULL, 0},
    };
    cli_print_section("Meetings", cols, CLI_NCOLS(cols), c, "meetings");
  }
  {
    static const cli_col cols[] = {
        {"ID", "id", NULL, NULL, 0},
        {"STATUS", "status", NULL, NULL, 0},
        {"TOTAL", "total", cli_cell_money, NULL, 1},
        {"CREATED", "created_at", cli_cell_time, NULL, 0},
    };
    cli_print_section("Orders", cols, CLI_NCOLS(cols), c, "orders");
  }
  cJSON_Delete(c);
  return rc;
}

static const cli_sub customer_subs[] = {
    {"add", customer_add},         {"edit", customer_edit},
    {"archive", customer_archive}, {"delete", customer_delete},
    {"list", customer_list},       {"find", customer_find},
    {"show", customer_show},       {NULL, NULL},
};

int cmd_customer(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "customer", group_usage, customer_subs, argc, argv);
}

/* ------------------------------------------------------------ contact */

static int contact_add(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *name = NULL, *role = NULL, *phone = NULL, *email = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL}, {"name", 1, &name, NULL},
                          {"role", 1, &role, NULL},         {"phone", 1, &phone, NULL},
                          {"email", 1, &email, NULL},       {NULL, 0, NULL, NULL}};
  cli_spec spec = {"contact add", contact_add_usage, opts, NULL, NULL, 0};
  fs_field f[5];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("contact add: --customer ID is required; see 'fieldsync "
                     "contact add --help'.");
  if (!name || !*name)
    return cli_usage("contact add: --name is required; see 'fieldsync contact "
                     "add --help'.");
  f[n++] = (fs_field){"customer_id", customer};
  f[n++] = (fs_field){"name", name};
  if (role && *role) f[n++] = (fs_field){"role", role};
  if (phone && *phone) f[n++] = (fs_field){"phone", phone};
  if (email && *email) f[n++] = (fs_field){"email", email};
  return cli_insert(ctx, "contacts", f, n);
}

static int contact_list(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"contact list", contact_list_usage, opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (customer && !*customer) return cli_usage("contact list: --customer needs a customer.");
  if (customer) {
    if (!cli_view_doc_of(ctx, "contacts", "customers", customer, "a contact list", &arr, &rc))
      return rc;
  } else if (!cli_view_doc(ctx, "contacts", NULL, "a contact list", &arr, &rc)) {
    return rc;
  }
  static const cli_col cols[] = {
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"NAME", "name", NULL, NULL, 0},
      {"ROLE", "role", NULL, NULL, 0},
      {"PHONE", "phone", NULL, NULL, 0},
      {"EMAIL", "email", NULL, NULL, 0},
      {"ID", "id", NULL, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 customer ? "No contacts for that customer yet.\n" : "No contacts yet.\n");
  cJSON_Delete(arr);
  return rc;
}

static int contact_edit(cli_ctx *ctx, int argc, char **argv) {
  static const char *const cols[] = {"name", "role", "phone", "email"};
  const char *vals[4] = {0}, *id = NULL;
  static const char *const pos_names[] = {"the CONTACT id"};
  const cli_opt opts[] = {{"name", 1, &vals[0], NULL},
                          {"role", 1, &vals[1], NULL},
                          {"phone", 1, &vals[2], NULL},
                          {"email", 1, &vals[3], NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"contact edit", contact_edit_usage, opts, pos_names, &id, 1};
  fs_field f[4];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  for (size_t i = 0; i < 4; i++)
    if (vals[i]) f[n++] = (fs_field){cols[i], *vals[i] ? vals[i] : NULL};
  if (n == 0)
    return cli_usage("contact edit: give at least one field to change, such as --phone; see "
                     "'fieldsync contact edit --help'.");
  if (vals[0] && !*vals[0]) return cli_usage("contact edit: --name cannot be empty.");
  return cli_update(ctx, "contacts", id, f, n);
}

static int contact_delete(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL;
  static const char *const pos_names[] = {"the CONTACT id"};
  cli_spec spec = {"contact delete", contact_delete_usage, no_opts, pos_names, &id, 1};
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  return cli_delete(ctx, "contacts", id, "contact", NULL);
}

static const cli_sub contact_subs[] = {{"add", contact_add},
                                       {"list", contact_list},
                                       {"edit", contact_edit},
                                       {"delete", contact_delete},
                                       {NULL, NULL}};

int cmd_contact(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "contact", contact_usage, contact_subs, argc, argv);
}
