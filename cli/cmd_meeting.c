/*
 * cmd_meeting.c — `fieldsync meeting add|list`.
 *
 * Meetings are device-born rows: a visit, call or exhibition encounter with
 * a customer.  A person types times as "YYYY-MM-DD HH:MM" in local time (or
 * ISO-8601); the store holds ISO-8601 UTC text in "at" and a plain local
 * calendar date "YYYY-MM-DD" in "follow_up".  Both are checked here, before
 * the store is opened, so a typo never reaches it.  `meeting list` filters by
 * customer and/or local day through the "meetings" view argument
 * ("customer=ID&day=YYYY-MM-DD").
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
    "  --json            print {\"id\":...}\n";

static const char list_usage[] =
    "Usage: fieldsync meeting list [--customer ID] [--day DATE] [--json]\n"
    "\n"
    "Lists meetings, optionally of one customer and/or on one local day.\n"
    "\n"
    "  --customer ID     only this customer's meetings\n"
    "  --day DATE        only meetings on this day, \"YYYY-MM-DD\"\n"
    "  --home DIR        the store directory\n"
    "  --json            print JSON\n";

static const char group_usage[] =
    "Usage: fieldsync meeting COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  add --customer ID --at TIME [--place P] [--kind visit|call|exhibition]\n"
    "      [--notes TEXT] [--follow-up DATE] [--outcome TEXT]\n"
    "  list [--customer ID] [--day DATE] [--json]\n"
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
  if (customer && (rc = cli_check_id("customer", customer)) != CLI_OK) return rc;
  if (customer && strlen(customer) > 128)
    return cli_usage("meeting list: --customer is not an id (too long).");
  if (dayarg && (rc = cli_parse_date(day, "day", dayarg)) != CLI_OK) return rc;
  arg[0] = '\0';
  if (customer) snprintf(arg, sizeof arg, "customer=%s", customer);
  if (dayarg) {
    size_t l = strlen(arg);
    snprintf(arg + l, sizeof arg - l, "%sday=%s", l ? "&" : "", day);
  }
  if (!cli_view_doc(ctx, "meetings", arg[0] ? arg : NULL, "a meeting list", &arr, &rc)) return rc;
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

static const cli_sub subs[] = {{"add", meeting_add}, {"list", meeting_list}, {NULL, NULL}};

int cmd_meeting(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "meeting", group_usage, subs, argc, argv);
}
