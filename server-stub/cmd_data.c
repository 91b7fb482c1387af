/*
 * cmd_data.c — what head office holds, from the command line: `conflicts`
 * (concurrent edits resolved by rule), `verify-log` (the audit log
 * re-checked) and `export` (the merged replica, or one manager's subset).
 *
 * export prints the library's document as it is, so that it compares
 * byte for byte with a device's `fieldsync export --json`.
 */
#include <stdio.h>

#include "cmd.h"

/* A view of the central replica (fs_view_json). */
typedef struct view_args {
  const char *view, *arg;
  char *doc; /* out, fs_free */
} view_args;

static int call_view(fs_hq *hq, void *arg) {
  view_args *a = arg;
  fs_hq_lock(hq); /* the store behind the handle is the lock's */
  int rc = fs_view_json(&a->doc, fs_hq_store(hq), a->view, a->arg);
  fs_hq_unlock(hq);
  return rc;
}

int cmd_conflicts_server(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {"conflicts",
                         "Usage: fieldsync-server conflicts [--json]\n\nConcurrent edits "
                         "head office resolved by rule (last writer wins per column).\n\n"
                         "Example:\n"
                         "  fieldsync-server conflicts --json\n",
                         NULL,
                         NULL,
                         NULL,
                         0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  view_args a = {"conflicts", NULL, NULL};
  if ((rc = srv_with_hq(ctx, call_view, &a))) return rc;
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, a.doc, "the conflict list", &arr, &rc)) return rc;
  cli_print_conflicts(arr);
  cJSON_Delete(arr);
  return CLI_OK;
}

typedef struct verify_args {
  int64_t checked;
  char *restores; /* out, fs_free */
} verify_args;

static int call_verify_log(fs_hq *hq, void *arg) {
  verify_args *a = arg;
  int rc = fs_hq_verify_log(&a->checked, hq);
  return rc ? rc : fs_hq_restores_json(&a->restores, hq);
}

int cmd_verify_log(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {"verify-log",
                         "Usage: fieldsync-server verify-log [--json]\n\nRe-checks every "
                         "signature and hash chain of the audit log; reports the first break "
                         "and exits non-zero.  Also says when head office was restored from "
                         "a backup (\"restores\" in the JSON).\n\n"
                         "Example:\n"
                         "  fieldsync-server verify-log\n",
                         NULL,
                         NULL,
                         NULL,
                         0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  verify_args a = {0, NULL};
  if ((rc = srv_with_hq(ctx, call_verify_log, &a))) return rc;
  cJSON *restores = cli_parse_doc(a.restores, "the restore record");
  fs_free(a.restores);
  if (!restores) return CLI_EFAIL;
  int nr = cJSON_GetArraySize(restores);
  if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "verified", (double)a.checked);
    cJSON_AddTrueToObject(o, "ok");
    cJSON_AddItemToObject(o, "restores", restores);
    rc = cli_print_cjson(o);
    cJSON_Delete(o);
    return rc;
  }
  printf("audit log ok: %lld envelopes verified\n", (long long)a.checked);
  if (nr > 0) {
    char when[64], iso[64];
    cli_text(iso, sizeof iso, cJSON_GetArrayItem(restores, nr - 1), "restored_at", "");
    printf("restored from a backup %d time%s, last %s: each device's chain continues from the "
           "position the backup held\n",
           nr, nr == 1 ? "" : "s", cli_localtime(when, sizeof when, iso, "?"));
  }
  cJSON_Delete(restores);
  return CLI_OK;
}

typedef struct export_args {
  const char *manager;
  char *doc;
} export_args;

static int call_export(fs_hq *hq, void *arg) {
  export_args *a = arg;
  return fs_hq_export_json(&a->doc, hq, a->manager);
}

int cmd_export_server(cli_ctx *ctx, int argc, char **argv) {
  const char *manager = NULL;
  const cli_opt opts[] = {{"manager", 1, &manager, NULL}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {"export",
                         "Usage: fieldsync-server export --json [--manager NAME]\n\nEvery "
                         "synced table, rows sorted by id; with --manager, exactly what that "
                         "manager's devices hold.\n\n"
                         "  --manager NAME    exactly what that manager's devices hold\n"
                         "\n"
                         "Example:\n"
                         "  fieldsync-server export --json --manager alice > alice.json\n",
                         opts,
                         NULL,
                         NULL,
                         0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!ctx->json) return cli_usage("export: --json is required.");
  export_args a = {manager, NULL};
  if ((rc = srv_with_hq(ctx, call_export, &a))) return rc;
  rc = cli_print_json(a.doc);
  fs_free(a.doc);
  return rc;
}
