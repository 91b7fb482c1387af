/*
 * cmd_agenda.c — `fieldsync call log|list`, `fieldsync task
 * add|list|done|edit|delete` and `fieldsync agenda`: the account manager's
 * day.
 *
 * A call is a meeting of kind "call" (fast to type: the customer by name or
 * id prefix, the time now unless --at says otherwise); a task is a to-do
 * with an optional customer and due date, done with `task done` (the
 * library stamps when).  `agenda` prints the "agenda" view of the library
 * (core/agenda.c) for a local day or week: meetings and calls in time
 * order, follow-ups and tasks due or overdue, quotes awaiting an answer,
 * debtors among the day's customers and the day's counts against head
 * office's norms.  Every time a person types or reads here is local time
 * (TZ); the store keeps UTC.  Arguments are checked before the store is
 * opened, so bad input changes nothing.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_MAX_MIN 1440

/* ------------------------------------------------------------------ call */

static const char call_log_usage[] =
    "Usage: fieldsync call log --customer C --outcome TEXT [--duration MIN]\n"
    "           [--follow-up DATE] [--at TIME] [--notes TEXT] [--json]\n"
    "\n"
    "Logs a phone call with customer C (a meeting of kind call) and prints its\n"
    "id.  The time is now unless --at gives another.\n"
    "\n"
    "  --customer C      the customer: id, id prefix or exact name (required)\n"
    "  --outcome TEXT    what came out of it (required)\n"
    "  --duration MIN    its length in minutes (1 to 1440)\n"
    "  --follow-up DATE  when to follow up, \"YYYY-MM-DD\" (local calendar)\n"
    "  --at TIME         when it was: \"YYYY-MM-DD HH:MM\" (local time) or\n"
    "                    ISO-8601 (default now)\n"
    "  --notes TEXT      free notes\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync call log --customer \"Nordwind GmbH\" --outcome \"wants a quote\" \\\n"
    "      --duration 7 --follow-up 2026-12-09\n";

static const char call_list_usage[] =
    "Usage: fieldsync call list [--day DATE] [--customer C] [--json]\n"
    "\n"
    "Lists logged calls in time order, optionally of one local day and/or one\n"
    "customer.\n"
    "\n"
    "  --day DATE        only calls on this local day, \"YYYY-MM-DD\"\n"
    "  --customer C      only this customer's calls\n"
    "  --home DIR        the store directory\n"
    "  --json            print the array (rows as 'meeting list --json')\n"
    "\n"
    "Example:\n"
    "  fieldsync call list --day 2026-12-02\n";

static const char call_group_usage[] =
    "Usage: fieldsync call COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  log --customer C --outcome TEXT [--duration MIN] [--follow-up DATE]\n"
    "      [--at TIME] [--notes TEXT]\n"
    "  list [--day DATE] [--customer C] [--json]\n"
    "\n"
    "'fieldsync call COMMAND --help' describes each command.\n";

/* A length in minutes, 1 to CALL_MAX_MIN, as text into out. */
static int parse_minutes(char out[16], const char *text) {
  char *end = NULL;
  long v = text && *text >= '0' && *text <= '9' ? strtol(text, &end, 10) : -1;
  if (!end || *end || v < 1 || v > CALL_MAX_MIN)
    return cli_usage("--duration must be a whole number of minutes from 1 to %d (got \"%.20s\").",
                     CALL_MAX_MIN, text);
  snprintf(out, 16, "%ld", v);
  return CLI_OK;
}

static int call_log(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *outcome = NULL, *duration = NULL, *follow = NULL, *at = NULL,
             *notes = NULL;
  const cli_opt opts[] = {{"customer", 1, &customer, NULL},
                          {"outcome", 1, &outcome, NULL},
                          {"duration", 1, &duration, NULL},
                          {"follow-up", 1, &follow, NULL},
                          {"at", 1, &at, NULL},
                          {"notes", 1, &notes, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"call log", call_log_usage, opts, NULL, NULL, 0};
  char iso[32], day[11], mins[16];
  fs_field f[7];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!customer || !*customer)
    return cli_usage("call log: --customer C is required; see 'fieldsync call log --help'.");
  if (!outcome || !*outcome)
    return cli_usage("call log: --outcome TEXT is required: say what came out of the call.");
  if (duration && (rc = parse_minutes(mins, duration)) != CLI_OK) return rc;
  if (follow && (rc = cli_parse_date(day, "follow-up", follow)) != CLI_OK) return rc;
  if (at && (rc = cli_parse_time(iso, "at", at)) != CLI_OK) return rc;
  f[n++] = (fs_field){"customer_id", customer};
  f[n++] = (fs_field){"kind", "call"};
  f[n++] = (fs_field){"outcome", outcome};
  if (at) f[n++] = (fs_field){"at", iso}; /* else the library's now */
  if (duration) f[n++] = (fs_field){"duration_min", mins};
  if (follow) f[n++] = (fs_field){"follow_up", day};
  if (notes && *notes) f[n++] = (fs_field){"notes", notes};
  return cli_insert(ctx, "meetings", f, n);
}

static int call_list(cli_ctx *ctx, int argc, char **argv) {
  const char *customer = NULL, *dayarg = NULL;
  const cli_opt opts[] = {
      {"customer", 1, &customer, NULL}, {"day", 1, &dayarg, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"call list", call_list_usage, opts, NULL, NULL, 0};
  char day[11], arg[512], cust[FS_ID_SIZE], *doc = NULL;
  cJSON *arr = NULL;
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (customer && !*customer) return cli_usage("call list: --customer needs a customer.");
  if (dayarg && (rc = cli_parse_date(day, "day", dayarg)) != CLI_OK) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if (!customer || (rc = cli_resolve(dev, "customers", customer, cust)) == CLI_OK) {
    snprintf(arg, sizeof arg, "kind=call%s%s%s%s", customer ? "&customer=" : "",
             customer ? cust : "", dayarg ? "&day=" : "", dayarg ? day : "");
    rc = cli_view_on(dev, "meetings", arg, &doc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK || !cli_take_doc(ctx, doc, "a call list", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"AT", "at", cli_cell_time, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"MIN", "duration_min", NULL, NULL, 1},
      {"FOLLOW-UP", "follow_up", NULL, NULL, 0},
      {"ID", "id", NULL, NULL, 0},
  };
  cli_print_rows_noted(cols, CLI_NCOLS(cols), arr, NULL, "",
                       customer || dayarg ? "No calls match.\n" : "No calls yet.\n", "outcome");
  cJSON_Delete(arr);
  return rc;
}

static const cli_sub call_subs[] = {{"log", call_log}, {"list", call_list}, {NULL, NULL}};

int cmd_call(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "call", call_group_usage, call_subs, argc, argv);
}

/* ------------------------------------------------------------------ task */

static const char task_add_usage[] =
    "Usage: fieldsync task add --title TEXT [--customer C] [--due DATE]\n"
    "           [--notes TEXT] [--json]\n"
    "\n"
    "Adds a task to your list and prints its id.\n"
    "\n"
    "  --title TEXT      what to do (required)\n"
    "  --customer C      the customer it concerns: id, id prefix or exact name\n"
    "  --due DATE        when it is due, \"YYYY-MM-DD\" (local calendar)\n"
    "  --notes TEXT      free notes\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync task add --title \"send the price list\" --customer Nordwind \\\n"
    "      --due 2026-12-04\n";

static const char task_list_usage[] =
    "Usage: fieldsync task list [--all] [--json]\n"
    "\n"
    "Lists your open tasks: overdue ones first, then by due date, those\n"
    "without a due date last.\n"
    "\n"
    "  --all             done tasks too (after the open ones)\n"
    "  --home DIR        the store directory\n"
    "  --json            print the array\n"
    "\n"
    "Example:\n"
    "  fieldsync task list\n";

static const char task_done_usage[] =
    "Usage: fieldsync task done TASK [--json]\n"
    "\n"
    "Marks task TASK (its id or a unique prefix of 6+ characters, see\n"
    "'fieldsync task list') done, now.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync task done 0190f3a2c4\n";

static const char task_edit_usage[] =
    "Usage: fieldsync task edit TASK [--title TEXT] [--customer C] [--due DATE]\n"
    "           [--notes TEXT] [--json]\n"
    "\n"
    "Changes the given fields of task TASK (its id or a unique prefix).  An\n"
    "empty value (--due \"\") clears an optional field.\n"
    "\n"
    "  --title TEXT      what is to be done\n"
    "  --customer C      the customer it is for (\"\" for none)\n"
    "  --due DATE        when, \"YYYY-MM-DD\" (local calendar)\n"
    "  --notes TEXT      free notes\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...}\n"
    "\n"
    "Example:\n"
    "  fieldsync task edit 0190f3a2c4 --due 2026-12-11\n";

static const char task_delete_usage[] =
    "Usage: fieldsync task delete TASK [--json]\n"
    "\n"
    "Deletes task TASK (one entered by mistake); an ordinary synced change.\n"
    "\n"
    "  --home DIR        the store directory\n"
    "  --json            print {\"id\":...,\"deleted\":true}\n"
    "\n"
    "Example:\n"
    "  fieldsync task delete 0190f3a2c4\n";

static const char task_group_usage[] =
    "Usage: fieldsync task COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  add --title TEXT [--customer C] [--due DATE] [--notes TEXT]\n"
    "  list [--all] [--json]\n"
    "  done TASK\n"
    "  edit TASK [--title TEXT] [--customer C] [--due DATE] [--notes TEXT]\n"
    "  delete TASK\n"
    "\n"
    "'fieldsync task COMMAND --help' describes each command.\n";

static int task_add(cli_ctx *ctx, int argc, char **argv) {
  const char *title = NULL, *customer = NULL, *due = NULL, *notes = NULL;
  const cli_opt opts[] = {{"title", 1, &title, NULL},
                          {"customer", 1, &customer, NULL},
                          {"due", 1, &due, NULL},
                          {"notes", 1, &notes, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"task add", task_add_usage, opts, NULL, NULL, 0};
  char day[11];
  fs_field f[4];
  size_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!title || !*title)
    return cli_usage("task add: --title TEXT is required; see 'fieldsync task add --help'.");
  if (customer && !*customer) return cli_usage("task add: --customer needs a customer.");
  if (due && (rc = cli_parse_date(day, "due", due)) != CLI_OK) return rc;
  f[n++] = (fs_field){"title", title};
  if (customer) f[n++] = (fs_field){"customer_id", customer};
  if (due) f[n++] = (fs_field){"due", day};
  if (notes && *notes) f[n++] = (fs_field){"notes", notes};
  return cli_insert(ctx, "tasks", f, n);
}

/* "overdue", "open" or "done" of a task row. */
static const char *task_state(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                              const cJSON *doc) {
  (void)buf, (void)cap, (void)col, (void)doc;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "overdue"))) return "overdue";
  const cJSON *done = cJSON_GetObjectItemCaseSensitive(row, "done_at");
  return cJSON_IsString(done) ? "done" : "open";
}

static int task_list(cli_ctx *ctx, int argc, char **argv) {
  int all = 0;
  const cli_opt opts[] = {{"all", 0, NULL, &all}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"task list", task_list_usage, opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc(ctx, "tasks", all ? "all" : NULL, "a task list", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"DUE", "due", NULL, NULL, 0},
      {"TITLE", "title", NULL, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"STATE", "done_at", task_state, NULL, 0},
      {"ID", "id", NULL, NULL, 0},
  };
  cli_print_rows_noted(cols, CLI_NCOLS(cols), arr, NULL, "",
                       all ? "No tasks yet.\n" : "No open tasks.\n", "notes");
  cJSON_Delete(arr);
  return rc;
}

static int task_done(cli_ctx *ctx, int argc, char **argv) {
  const char *typed = NULL;
  static const char *const pos_names[] = {"the TASK id"};
  static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};
  cli_spec spec = {"task done", task_done_usage, no_opts, pos_names, &typed, 1};
  char id[FS_ID_SIZE];
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, "tasks", typed, id)) == CLI_OK) {
    int lrc = fs_task_done(fs_device_store(dev), id);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  return rc != CLI_OK ? rc : cli_print_id(ctx, id);
}

static int task_edit(cli_ctx *ctx, int argc, char **argv) {
  const char *typed = NULL, *title = NULL, *customer = NULL, *due = NULL, *notes = NULL;
  static const char *const pos_names[] = {"the TASK id"};
  const cli_opt opts[] = {{"title", 1, &title, NULL},
                          {"customer", 1, &customer, NULL},
                          {"due", 1, &due, NULL},
                          {"notes", 1, &notes, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"task edit", task_edit_usage, opts, pos_names, &typed, 1};
  char day[11], id[FS_ID_SIZE], cust[FS_ID_SIZE];
  fs_field f[4];
  size_t n = 0;
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (title && !*title) return cli_usage("task edit: --title cannot be empty.");
  if (due && *due && (rc = cli_parse_date(day, "due", due)) != CLI_OK) return rc;
  if (!title && !customer && !due && !notes)
    return cli_usage("task edit: give at least one field to change, such as --due; see "
                     "'fieldsync task edit --help'.");
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, "tasks", typed, id)) == CLI_OK && customer && *customer)
    rc = cli_resolve(dev, "customers", customer, cust);
  if (rc == CLI_OK) {
    if (title) f[n++] = (fs_field){"title", title};
    if (customer) f[n++] = (fs_field){"customer_id", *customer ? cust : NULL};
    if (due) f[n++] = (fs_field){"due", *due ? day : NULL};
    if (notes) f[n++] = (fs_field){"notes", *notes ? notes : NULL};
    int lrc = fs_update(fs_device_store(dev), "tasks", id, f, n);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  return rc != CLI_OK ? rc : cli_print_id(ctx, id);
}

static int task_delete(cli_ctx *ctx, int argc, char **argv) {
  const char *typed = NULL;
  static const char *const pos_names[] = {"the TASK id"};
  static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};
  cli_spec spec = {"task delete", task_delete_usage, no_opts, pos_names, &typed, 1};
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  return cli_delete(ctx, "tasks", typed, "task", NULL);
}

static const cli_sub task_subs[] = {{"add", task_add},       {"list", task_list},
                                    {"done", task_done},     {"edit", task_edit},
                                    {"delete", task_delete}, {NULL, NULL}};

int cmd_task(cli_ctx *ctx, int argc, char **argv) {
  return cli_dispatch(ctx, "task", task_group_usage, task_subs, argc, argv);
}

/* ---------------------------------------------------------------- agenda */

static const char agenda_usage[] =
    "Usage: fieldsync agenda [--day DATE] [--week] [--json]\n"
    "\n"
    "Your day: its meetings and calls in time order, follow-ups and tasks due\n"
    "or overdue, quotes awaiting an answer (flagged when their validity ends\n"
    "within 3 days or has ended), debtors among the day's customers, and the\n"
    "day's calls, meetings and proposals against head office's norms.  Days\n"
    "are your local calendar (TZ) and times are local.\n"
    "\n"
    "  --day DATE        the day, \"YYYY-MM-DD\" (default today)\n"
    "  --week            the Monday-to-Sunday week of that day instead\n"
    "  --home DIR        the store directory\n"
    "  --json            print the agenda document (docs/cli.md)\n"
    "\n"
    "A follow-up counts as done once the customer has a later meeting or call.\n"
    "\n"
    "Examples:\n"
    "  fieldsync agenda\n"
    "  fieldsync agenda --day 2026-12-07 --week\n";

/* The local "HH:MM" of an ISO time (the day's agenda), or the local date
 * and time (a week's). */
static const char *agenda_time(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                               const cJSON *doc) {
  char t[64];
  cli_localtime(t, sizeof t, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, col->key)),
                "-");
  int one_day = cli_int(doc, "days", 1) == 1;
  snprintf(buf, cap, "%s", one_day && strlen(t) == 16 ? t + 11 : t);
  return buf;
}

static const char *due_state(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                             const cJSON *doc) {
  (void)buf, (void)cap, (void)col, (void)doc;
  return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "overdue")) ? "overdue" : "due";
}

/* "visit 2026-11-20" of a follow-up's meeting. */
static const char *followup_from(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                                 const cJSON *doc) {
  char t[64], k[32];
  (void)col, (void)doc;
  cli_localtime(t, sizeof t, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "at")),
                "-");
  t[10] = '\0';
  snprintf(buf, cap, "%s %s", cli_text(k, sizeof k, row, "kind", "-"), t);
  return buf;
}

static const char *validity(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                            const cJSON *doc) {
  (void)doc;
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "validity"));
  char d[16];
  cli_text(d, sizeof d, row, col->key, "-");
  snprintf(buf, cap, "%s%s", d, !v ? "" : !strcmp(v, "expired") ? " EXPIRED" : " expiring");
  return buf;
}

static const char *local_date(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                              const cJSON *doc) {
  (void)doc;
  cli_localtime(buf, cap, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, col->key)),
                "-");
  if (strlen(buf) == 16) buf[10] = '\0';
  return buf;
}

static void section(const char *title, const cli_col *cols, size_t ncols, const cJSON *doc,
                    const char *member, const char *note) {
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, member);
  printf("\n%s:%s", title, cJSON_GetArraySize(rows) ? "\n" : "");
  if (note)
    cli_print_rows_noted(cols, ncols, rows, doc, "  ", " none\n", note);
  else
    cli_print_rows(cols, ncols, rows, doc, "  ", " none\n");
}

/* "Tue 2026-03-10" of a local date. */
static const char *weekday_date(char *buf, size_t cap, const char *date) {
  int64_t ms = 0;
  if (!date || fs_time_parse(&ms, date) != FS_OK) {
    snprintf(buf, cap, "%s", date ? date : "-");
    return buf;
  }
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(buf, cap, "%a %Y-%m-%d", &tm);
  return buf;
}

/* "3 of 30" (or "3" when head office set no target). */
static const char *against(char *buf, size_t cap, int64_t n, const cJSON *norms, const char *key) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(norms, key);
  if (cJSON_IsNumber(t))
    snprintf(buf, cap, "%lld of %lld", (long long)n, (long long)t->valuedouble);
  else
    snprintf(buf, cap, "%lld (no target)", (long long)n);
  return buf;
}

static void print_agenda(const cJSON *doc) {
  char a[32], b[32], zone[16] = "";
  const char *first = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "day"));
  const char *last = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "last_day"));
  int64_t days = cli_int(doc, "days", 1);
  /* the zone of the day shown (EST or EDT), not of today */
  int64_t from = 0;
  struct tm tm;
  if (fs_time_parse(&from, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "from"))) ==
      FS_OK) {
    time_t t = (time_t)(from / 1000 + 12 * 3600);
    if (localtime_r(&t, &tm)) strftime(zone, sizeof zone, "%Z", &tm);
  }
  if (days == 1)
    printf("Agenda of %s (local time%s%s)\n", weekday_date(a, sizeof a, first), *zone ? ", " : "",
           zone);
  else
    printf("Agenda of %s to %s (local time%s%s)\n", weekday_date(a, sizeof a, first),
           weekday_date(b, sizeof b, last), *zone ? ", " : "", zone);

  static const cli_col meetings[] = {
      {"TIME", "at", agenda_time, NULL, 0},
      {"KIND", "kind", NULL, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"MIN", "duration_min", NULL, "", 1},
      {"PLACE", "place", NULL, "", 0},
  };
  section("Meetings and calls", meetings, CLI_NCOLS(meetings), doc, "meetings", "outcome");
  static const cli_col follow[] = {
      {"DUE", "follow_up", NULL, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"AFTER", "at", followup_from, NULL, 0},
      {"STATE", "overdue", due_state, NULL, 0},
  };
  section("Follow-ups", follow, CLI_NCOLS(follow), doc, "follow_ups", "outcome");
  static const cli_col tasks[] = {
      {"DUE", "due", NULL, NULL, 0},
      {"TITLE", "title", NULL, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, "", 0},
      {"STATE", "overdue", due_state, NULL, 0},
  };
  section("Tasks", tasks, CLI_NCOLS(tasks), doc, "tasks", NULL);
  static const cli_col quotes[] = {
      {"NUMBER", "number", NULL, NULL, 0},
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"SENT", "sent_at", local_date, NULL, 0},
      {"VALID UNTIL", "valid_until", validity, NULL, 0},
      {"TOTAL", "total", cli_cell_money, NULL, 1},
  };
  section("Quotes awaiting an answer", quotes, CLI_NCOLS(quotes), doc, "quotes", NULL);
  static const cli_col debtors[] = {
      {"CUSTOMER", "customer_name", NULL, NULL, 0},
      {"OVERDUE", "overdue", cli_cell_money, NULL, 1},
      {"OPEN", "open", cli_cell_money, NULL, 1},
  };
  section("Debtors", debtors, CLI_NCOLS(debtors), doc, "debtors", NULL);

  const cJSON *sum = cJSON_GetObjectItemCaseSensitive(doc, "summary");
  const cJSON *norms = cJSON_GetObjectItemCaseSensitive(sum, "norms");
  if (days == 1) {
    char c[48], m[48], p[48];
    const char *keys[] = {"calls", "meetings", "proposals"};
    const char *vals[] = {
        against(c, sizeof c, cli_int(sum, "calls", 0), norms, "calls_day"),
        against(m, sizeof m, cli_int(sum, "meetings", 0), norms, "meetings_day"),
        against(p, sizeof p, cli_int(sum, "proposals", 0), norms, "proposals_day")};
    printf("\nThe day against the norms:\n");
    cli_kv_print(keys, vals, 3, "  ");
    return;
  }
  static const cli_col per_day[] = {
      {"DAY", "day", NULL, NULL, 0},
      {"CALLS", "calls", cli_cell_int, NULL, 1},
      {"MEETINGS", "meetings", cli_cell_int, NULL, 1},
      {"PROPOSALS", "proposals", cli_cell_int, NULL, 1},
  };
  printf("\nEach day against the norms:\n");
  cli_print_rows(per_day, CLI_NCOLS(per_day), cJSON_GetObjectItemCaseSensitive(sum, "days"), NULL,
                 "  ", NULL);
  char c[24], m[24], p[24];
  printf("  targets a day: calls %s, meetings %s, proposals %s\n",
         cli_text(c, sizeof c, norms, "calls_day", "none"),
         cli_text(m, sizeof m, norms, "meetings_day", "none"),
         cli_text(p, sizeof p, norms, "proposals_day", "none"));
}

int cmd_agenda(cli_ctx *ctx, int argc, char **argv) {
  const char *dayarg = NULL;
  int week = 0;
  const cli_opt opts[] = {
      {"day", 1, &dayarg, NULL}, {"week", 0, NULL, &week}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"agenda", agenda_usage, opts, NULL, NULL, 0};
  char day[11], arg[64];
  cJSON *doc = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (dayarg && (rc = cli_parse_date(day, "day", dayarg)) != CLI_OK) return rc;
  snprintf(arg, sizeof arg, "%s%s%s", dayarg ? "day=" : "", dayarg ? day : "",
           week ? (dayarg ? "&week" : "week") : "");
  if (!cli_view_doc(ctx, "agenda", *arg ? arg : NULL, "the agenda", &doc, &rc)) return rc;
  print_agenda(doc);
  cJSON_Delete(doc);
  return rc;
}
