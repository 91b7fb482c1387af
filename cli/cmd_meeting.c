/*
 * cmd_meeting.c — `fieldsync meeting add|list|edit|delete`.
 *
 * Meetings are device-born rows: a visit, call or exhibition encounter with
 * a customer.  A person types times as "YYYY-MM-DD HH:MM" in local time (or
 * ISO-8601); the store holds ISO-8601 UTC text in "at" and a plain local
 * calendar date "YYYY-MM-DD" in "follow_up".  Both are checked here, before
 * the store is opened, so a typo never reaches it.  `meeting list` filters by
 * customer and/or local day through the "meetings" view argument
 * ("customer=ID&day=YYYY-MM-DD"); the customer is resolved first (an id,
 * a unique prefix or an exact name, fs_resolve_id).  `meeting edit` adds
 * the outcome after the meeting happened, or corrects any field.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char add_usage[] =
    "Usage: fieldsync meeting add --customer ID --at TIME [--place P]\n"
    "           [--kind visit|call|exhibition] [--notes TEXT]\n"
    "           [--follow-up DATE] [--outcome TEXT] [--json]\n"
    "\n"
    "Records a meeting with customer ID and prints its id.\n"
    "\n"
    "  --customer ID     the customer (required)\n"
    "  --at TIME         when: \"YYYY-MM-DD HH:MM\" (local time) or ISO-8601\n"
    "                    such as 2026-01-05T08:00:00Z (required)\n"
    "  --place P         where: exhibition name or address\n"
    "  --kind K          visit, call or exhibition\n"
    "  --notes TEXT      free notes\n"
    "  --outcome TEXT    what came out of it\n"
    "  --follow-up DATE  follow-up date, \"YYYY-MM-DD\"\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n\n"
    "Examples:\n"
    "  fieldsync meeting add --customer \"Nordwind GmbH\" --at \"2026-12-07 10:30\" --place "
    "\"Hamburg, Speicherstadt\"\n"
    "  fieldsync meeting add --customer 北京华信科技 --at 2026-12-08T02:00:00Z --kind exhibition\n";

static const char list_usage[] =
    "Usage: fieldsync meeting list [--customer ID] [--day DATE] [--json]\n"
    "\n"
    "Lists meetings, optionally of one customer and/or on one local day.\n"
    "\n"
    "  --customer ID     only this customer's meetings\n"
    "  --day DATE        only meetings on this day, \"YYYY-MM-DD\"\n"
    "  --home DIR        the store directory\n"
    "  --json            print JSON\n\n"
    "Examples:\n"
    "  fieldsync meeting list --day 2026-12-07\n"
    "  fieldsync meeting list --customer \"Nordwind GmbH\" --json\n";

static const char edit_usage[] =
    "Usage: fieldsync meeting edit MEETING [--at TIME] [--place P]\n"
    "           [--kind visit|call|exhibition] [--notes TEXT]\n"
    "           [--outcome TEXT] [--follow-up DATE] [--json]\n"
    "\n"
    "Changes the given fields of meeting MEETING (its id or a unique prefix of\n"
    "6+ characters, see 'fieldsync meeting list'): typically its outcome\n"
    "after it happened.  An empty value (--notes \"\") clears an optional\n"
    "field.\n"
    "\n"
    "  --at TIME         when: \"YYYY-MM-DD HH:MM\" (local time) or ISO-8601\n"
    "  --place P         where\n"
    "  --kind K          visit, call or exhibition\n"
    "  --notes TEXT      free notes\n"
    "  --outcome TEXT    what came out of it\n"
    "  --follow-up DATE  when to follow up, \"YYYY-MM-DD\" (\"\" clears it)\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync meeting edit 0190f3a2c4 --outcome \"wants a quote for 40 units\" \\\n"
    "      --follow-up 2026-12-09\n";

static const char delete_usage[] =
    "Usage: fieldsync meeting delete MEETING [--json]\n"
    "\n"
    "Deletes meeting MEETING (one entered by mistake); an ordinary synced\n"
    "change.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"deleted\":true}\n\n"
    "Example:\n"
    "  fieldsync meeting delete 0190f3a2c4b1\n";

static const char group_usage[] =
    "Usage: fieldsync meeting COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  add --customer C --at TIME [--place P] [--kind visit|call|exhibition]\n"
    "      [--notes TEXT] [--follow-up DATE] [--outcome TEXT]\n"
    "  list [--customer C] [--day DATE] [--json]\n"
    "  edit MEETING [--outcome TEXT] [--at TIME] ...\n"
    "  delete MEETING\n"
    "\n"
    "'fieldsync meeting COMMAND --help' describes each command.\n";

static const char *const kinds[] = {"visit", "call", "exhibition", NULL};

static int meeting_add(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *at = NULL, *place = NULL, *kind = NULL, *notes = NULL,
             *follow = NULL, *outcome = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL}, {"at", 1, &at, NULL},
                          {"place", 1, &place, NULL},       {"kind", 1, &kind, NULL},
                          {"notes", 1, &notes, NULL},       {"follow-up", 1, &follow, NULL},
                          {"outcome", 1, &outcome, NULL},   {NULL, 0, NULL, NULL}};
  cli_spec spec = {"meeting add", add_usage, opts, NULL, NULL, 0};
  char iso[32], day[11];
  fs_field f[7];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("meeting add: --customer ID is required; see 'fieldsync "
                     "meeting add --help'.");
  if (!at)
    return cli_usage("meeting add: --at TIME is required; see 'fieldsync "
                     "meeting add --help'.");
  if ((rc = cli_parse_time(iso, "at", at)) != CLI_OK) return rc;
  if (follow && (rc = cli_parse_date(day, "follow-up", follow)) != CLI_OK) return rc;
  if (kind && (rc = cli_parse_enum("kind", kind, kinds)) != CLI_OK) return rc;
  f[n++] = (fs_field){"customer_id", customer};
  f[n++] = (fs_field){"at", iso};
  if (place && *place) f[n++] = (fs_field){"place", place};
  if (kind) f[n++] = (fs_field){"kind", kind};
  if (notes && *notes) f[n++] = (fs_field){"notes", notes};
  if (outcome && *outcome) f[n++] = (fs_field){"outcome", outcome};
  if (follow) f[n++] = (fs_field){"follow_up", day};
  return cli_insert(ctx, "meetings", f, n);
}

static int meeting_list(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *dayarg = NULL;
  const cli_opt opts[] = {
      {"customer", 1, &customer, NULL}, {"day", 1, &dayarg, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"meeting list", list_usage, opts, NULL, NULL, 0};
  char day[11], arg[512];
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (customer && !*customer) return cli_usage("meeting list: --customer needs a customer.");
  if (dayarg && (rc = cli_parse_date(day, "day", dayarg)) != CLI_OK) return rc;
  char cust[FS_ID_SIZE], *doc = NULL;
  fs_device *dev = NULL;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if (!customer || (rc = cli_resolve(dev, "customers", customer, cust)) == CLI_OK) {
    arg[0] = '\0';
    if (customer) snprintf(arg, sizeof arg, "customer=%s", cust);
    if (dayarg) {
      size_t l = strlen(arg);
      snprintf(arg + l, sizeof arg - l, "%sday=%s", l ? "&" : "", day);
    }
    rc = cli_view_on(dev, "meetings", arg[0] ? arg : NULL, &doc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK || !cli_take_doc(ctx, doc, "a meeting list", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"AT", "at", cli_cell_time, NULL, 0},  {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"KIND", "kind", NULL, NULL, 0},       {"PLACE", "place", NULL, NULL, 0},
      {"OUTCOME", "outcome", NULL, NULL, 0}, {"FOLLOW-UP", "follow_up", NULL, NULL, 0},
      {"ID", "id", NULL, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 arg[0] ? "No meetings match.\n" : "No meetings yet.\n");
  cJSON_Delete(arr);
  return rc;
}

static int meeting_edit(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL, *at = NULL, *place = NULL, *kind = NULL, *notes = NULL, *follow = NULL,
             *outcome = NULL;
  static const char *const pos_names[] = {"the MEETING id"};
  const cli_opt opts[] = {
      {"at", 1, &at, NULL},       {"place", 1, &place, NULL},      {"kind", 1, &kind, NULL},
      {"notes", 1, &notes, NULL}, {"follow-up", 1, &follow, NULL}, {"outcome", 1, &outcome, NULL},
      {NULL, 0, NULL, NULL}};
  cli_spec spec = {"meeting edit", edit_usage, opts, pos_names, &id, 1};
  char iso[32], day[11];
  fs_field f[6];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (at && (rc = cli_parse_time(iso, "at", at)) != CLI_OK) return rc;
  if (follow && *follow && (rc = cli_parse_date(day, "follow-up", follow)) != CLI_OK) return rc;
  if (kind && (rc = cli_parse_enum("kind", kind, kinds)) != CLI_OK) return rc;
  if (at) f[n++] = (fs_field){"at", iso};
  if (place) f[n++] = (fs_field){"place", *place ? place : NULL};
  if (kind) f[n++] = (fs_field){"kind", kind};
  if (notes) f[n++] = (fs_field){"notes", *notes ? notes : NULL};
  if (outcome) f[n++] = (fs_field){"outcome", *outcome ? outcome : NULL};
  if (follow) f[n++] = (fs_field){"follow_up", *follow ? day : NULL};
  if (n == 0)
    return cli_usage("meeting edit: give at least one field to change, such as --outcome; see "
                     "'fieldsync meeting edit --help'.");
  return cli_update(ctx, "meetings", id, f, n);
}

static int meeting_delete(cli_ctx *ctx, int argc, char **argv) {
  const char *id = NULL;
  static const char *const pos_names[] = {"the MEETING id"};
  static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};
  cli_spec spec = {"meeting delete", delete_usage, no_opts, pos_names, &id, 1};
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  return cli_delete(ctx, "meetings", id, "meeting", NULL);
}

static const cli_sub subs[] = {{"add", meeting_add},
                               {"list", meeting_list},
                               {"edit", meeting_edit},
                               {"delete", meeting_delete},
                               {NULL, NULL}};

int cmd_meeting(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "meeting", group_usage, subs, argc, argv);
}
