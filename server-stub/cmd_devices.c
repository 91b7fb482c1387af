/*
 * cmd_devices.c — the device registry from the command line: `token create`
 * (a one-time enrollment token for a manager's device), `devices` (who is
 * enrolled, when last seen, how far pushed) and `revoke`.
 *
 * A token is printed once, on stdout only, and never logged; head office
 * keeps only its hash, so a lost token is replaced by creating another.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

/* ----------------------------------------------------------------- token */

typedef struct token_args {
  const char *manager;
  int64_t ttl_ms;
  char *token; /* out, fs_free */
} token_args;

static int call_token_create(fs_hq *hq, void *arg) {
  token_args *a = arg;
  return fs_hq_token_create(&a->token, hq, a->manager, a->ttl_ms);
}

static int cmd_token_create(cli_ctx *ctx, int argc, char **argv) {
  const char *manager = NULL, *days = NULL;
  const cli_opt opts[] = {
      {"manager", 1, &manager, NULL}, {"days", 1, &days, NULL}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {"token create",
                         "Usage: fieldsync-server token create --manager NAME [--days N] "
                         "[--json]\n\nA one-time enrollment token for a device of NAME, valid "
                         "N days (default 7).\n",
                         opts,
                         NULL,
                         NULL,
                         0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!manager) return cli_usage("token create: --manager NAME is required.");
  token_args a = {manager, 0, NULL};
  if (days) {
    int64_t n;
    if (cli_parse_qty(&n, "days", days)) return CLI_EUSAGE;
    a.ttl_ms = n * 24 * 3600 * 1000;
  }
  if ((rc = srv_with_hq(ctx, call_token_create, &a))) return rc;
  if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", a.token);
    cJSON_AddStringToObject(o, "manager", manager);
    cli_print_cjson(o);
    cJSON_Delete(o);
  } else {
    printf("%s\n", a.token);
  }
  fs_free(a.token);
  return CLI_OK;
}

int cmd_token(cli_ctx *ctx, int argc, char **argv) {
  static const cli_sub subs[] = {{"create", cmd_token_create}, {NULL, NULL}};
  return cli_dispatch(ctx, "token",
                      "Usage: fieldsync-server token create --manager NAME [--json]\n", subs, argc,
                      argv);
}

/* --------------------------------------------------------------- devices */

static int call_devices(fs_hq *hq, void *doc) { return fs_hq_devices_json(doc, hq); }

int cmd_devices(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {"devices",
                         "Usage: fieldsync-server devices [--json]\n\nEnrolled devices, "
                         "their manager, last contact and last pushed sequence.\n",
                         NULL,
                         NULL,
                         NULL,
                         0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  char *doc = NULL;
  if ((rc = srv_with_hq(ctx, call_devices, &doc))) return rc;
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, doc, "the device list", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"DEVICE", "id", NULL, NULL, 0},
      {"MANAGER", "manager", NULL, NULL, 0},
      {"ENROLLED", "enrolled_at", cli_cell_time, NULL, 0},
      {"LAST SEEN", "last_seen", cli_cell_time, NULL, 0},
      {"SEQ", "last_seq", NULL, "0", 1},
      {"REVOKED", "revoked_at", cli_cell_time, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 "No devices enrolled yet; create a token with `fieldsync-server token create "
                 "--manager NAME`.\n");
  cJSON_Delete(arr);
  return CLI_OK;
}

/* ---------------------------------------------------------------- revoke */

static int call_revoke(fs_hq *hq, void *device_id) {
  return fs_hq_revoke(hq, *(const char **)device_id);
}

int cmd_revoke(cli_ctx *ctx, int argc, char **argv) {
  const char *dev = NULL;
  static const char *const names[] = {"DEVICE"};
  const cli_spec spec = {"revoke",
                         "Usage: fieldsync-server revoke DEVICE\n\nRefuses DEVICE's pushes, "
                         "pulls and re-enrollment from now on; what it sent stays.\n",
                         NULL,
                         names,
                         &dev,
                         1};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if ((rc = srv_with_hq(ctx, call_revoke, &dev))) return rc;
  if (!ctx->json)
    printf("device %s revoked\n", dev);
  else
    printf("{\"revoked\":\"%s\"}\n", dev);
  return CLI_OK;
}
