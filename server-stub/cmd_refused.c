/*
 * cmd_refused.c — `fieldsync-server refused [--json] [--manager M]`: what
 * head office refused from the devices, with the values, so that a sales
 * lead can reassign the customer or re-enter the order.
 *
 * The devices keep their refused changes too (`fieldsync refused`); this is
 * head office's own record of them (fs_hq_refused_json).  A reason and the
 * values are never cut: they are printed in full under each row,
 * word-wrapped at the terminal's width.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

typedef struct refused_args {
  const char *manager;
  char *doc; /* out, fs_free */
} refused_args;

static int call_refused(fs_hq *hq, void *arg) {
  refused_args *a = arg;
  return fs_hq_refused_json(&a->doc, hq, a->manager);
}

/* The note under a row: the reason, then "values: k=v, ..." on a line of
 * its own.  Added to each row as "note". */
static int add_notes(cJSON *arr) {
  cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "reason"));
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(it, "values"), *v;
    size_t cap = (why ? strlen(why) : 0) + 64, n = 0;
    cJSON_ArrayForEach(v, vals) {
      char *t = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
      cap += strlen(v->string) + (t ? strlen(t) : strlen(v->valuestring ? v->valuestring : "")) + 4;
      free(t);
    }
    char *note = malloc(cap);
    if (!note) return cli_fail("out of memory.");
    n = (size_t)snprintf(note, cap, "%s", why ? why : "");
    int first = 1;
    cJSON_ArrayForEach(v, vals) {
      char *t = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
      n += (size_t)snprintf(note + n, cap - n, "%s%s=%s", first ? "\nvalues: " : ", ", v->string,
                            t ? t : v->valuestring);
      free(t);
      first = 0;
    }
    if (!cJSON_AddStringToObject(it, "note", note)) {
      free(note);
      return cli_fail("out of memory.");
    }
    free(note);
  }
  return CLI_OK;
}

int cmd_refused_server(cli_ctx *ctx, int argc, char **argv) {
  const char *manager = NULL;
  const cli_opt opts[] = {{"manager", 1, &manager, NULL}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {"refused",
                         "Usage: fieldsync-server refused [--manager NAME] [--json]\n"
                         "\n"
                         "The changes head office refused from the devices, oldest first: when,\n"
                         "which manager's device sent it, what (table and row), the customer, the\n"
                         "reason and the values the change carried, so that a sales lead can\n"
                         "reassign the customer or re-enter the order.  The device keeps them too\n"
                         "('fieldsync refused' there).\n"
                         "\n"
                         "  --manager NAME  only what that manager's devices sent\n"
                         "  --json          print JSON (values as objects)\n"
                         "\n"
                         "Examples:\n"
                         "  fieldsync-server refused\n"
                         "  fieldsync-server refused --manager ben --json\n",
                         opts,
                         NULL,
                         NULL,
                         0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (manager && !*manager) return cli_usage("refused: --manager needs a name.");
  refused_args a = {manager, NULL};
  if ((rc = srv_with_hq(ctx, call_refused, &a))) return rc;
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, a.doc, "the refused changes", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"#", "id", cli_cell_int, NULL, 1},
      {"WHEN", "at", cli_cell_time, NULL, 0},
      {"MANAGER", "manager", NULL, NULL, 0},
      {"DEVICE", "site", NULL, NULL, 0},
      {"WHAT", "table", cli_cell_refusal_what, NULL, 0},
      {"ROW", "row", NULL, NULL, 0},
      {"CUSTOMER", "customer_id", cli_cell_refusal_customer, NULL, 0},
  };
  if ((rc = add_notes(arr)) == CLI_OK)
    cli_print_rows_noted(cols, CLI_NCOLS(cols), arr, arr, "",
                         manager ? "Nothing refused from that manager's devices.\n"
                                 : "Nothing refused from any device.\n",
                         "note");
  cJSON_Delete(arr);
  return rc;
}
