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
                         "N days (default 7).\n\n"
                         "  --manager NAME    the manager whose device enrolls with it (required)\n"
                         "  --days N          days the token stays valid (default 7)\n"
                         "\n"
                         "Example:\n"
                         "  fieldsync-server token create --manager alice > alice.token\n",
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
                         "their manager, last contact, last pushed sequence, revocation, and "
                         "for a device\nrevoked with --wipe when the wipe was ordered and when "
                         "the device confirmed it\n(WIPED).\n\nExample:\n  fieldsync-server "
                         "devices --json\n",
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
      {"WIPE ORDERED", "wipe_ordered_at", cli_cell_time, NULL, 0},
      {"WIPED", "wipe_confirmed_at", cli_cell_time, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 "No devices enrolled yet; create a token with `fieldsync-server token create "
                 "--manager NAME`.\n");
  cJSON_Delete(arr);
  return CLI_OK;
}

/* ---------------------------------------------------------------- revoke */

typedef struct revoke_args {
  const char *dev;
  int wipe;
} revoke_args;

static int call_revoke(fs_hq *hq, void *arg) {
  revoke_args *a = arg;
  return a->wipe ? fs_hq_revoke_wipe(hq, a->dev) : fs_hq_revoke(hq, a->dev);
}

int cmd_revoke(cli_ctx *ctx, int argc, char **argv) {
  revoke_args a = {NULL, 0};
  static const char *const names[] = {"DEVICE"};
  const cli_opt opts[] = {{"wipe", 0, NULL, &a.wipe}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {"revoke",
                         "Usage: fieldsync-server revoke DEVICE [--wipe] [--json]\n\nRefuses "
                         "DEVICE's pushes, pulls and re-enrollment from now on; what it sent "
                         "stays.\n\n  --wipe  also order the device wiped: at its next "
                         "contact it receives the order,\n          signed by head office, "
                         "shreds its keys and store, and confirms\n          (`fieldsync-server "
                         "devices` shows when)\n\nExamples:\n  fieldsync-server revoke "
                         "3f9a0c1d2e4b5a69\n  fieldsync-server revoke 3f9a0c1d2e4b5a69 --wipe\n",
                         opts,
                         names,
                         &a.dev,
                         1};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if ((rc = srv_with_hq(ctx, call_revoke, &a))) return rc;
  if (!ctx->json)
    printf(a.wipe ? "device %s revoked; it wipes itself at its next contact\n"
                  : "device %s revoked\n",
           a.dev);
  else if (a.wipe)
    printf("{\"revoked\":\"%s\",\"wipe\":true}\n", a.dev);
  else
    printf("{\"revoked\":\"%s\"}\n", a.dev);
  return CLI_OK;
}

/* ----------------------------------------------------------------- lease */

typedef struct lease_args {
  const char *manager;
  int64_t days;
  char *doc; /* out, fs_free */
} lease_args;

static int call_lease_set(fs_hq *hq, void *arg) {
  lease_args *a = arg;
  return fs_hq_lease_set(hq, a->manager, a->days);
}

static int call_lease_list(fs_hq *hq, void *arg) {
  lease_args *a = arg;
  return fs_hq_leases_json(&a->doc, hq);
}

static int cmd_lease_set(cli_ctx *ctx, int argc, char **argv) {
  const char *days = NULL;
  lease_args a = {NULL, 0, NULL};
  static const char *const names[] = {"MANAGER"};
  const cli_opt opts[] = {{"days", 1, &days, NULL}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "lease set",
      "Usage: fieldsync-server lease set MANAGER --days N [--json]\n\nHow "
      "long MANAGER's devices stay unlockable without a sync: each sync\n"
      "gives them a lease until head office's now + N days (1 to 365;\n"
      "  --days N          days a device stays unlockable without a sync (1 to 365)\n"
      "\n"
      "default 14), from their next sync on.\n\nExample:\n  "
      "fieldsync-server lease set alice --days 3\n",
      opts,
      names,
      &a.manager,
      1};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!days) return cli_usage("lease set: --days N is required.");
  if (cli_parse_qty(&a.days, "days", days)) return CLI_EUSAGE;
  if ((rc = srv_with_hq(ctx, call_lease_set, &a))) return rc;
  if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "manager", a.manager);
    cJSON_AddNumberToObject(o, "days", (double)a.days);
    cli_print_cjson(o);
    cJSON_Delete(o);
  } else {
    printf("devices of %s are leased %lld days from their next sync\n", a.manager,
           (long long)a.days);
  }
  return CLI_OK;
}

static int cmd_lease_list(cli_ctx *ctx, int argc, char **argv) {
  lease_args a = {NULL, 0, NULL};
  const cli_spec spec = {"lease list",
                         "Usage: fieldsync-server lease list [--json]\n\nThe lease length of "
                         "each manager's devices (DEFAULT: not set, 14 days).\n\nExample:\n"
                         "  fieldsync-server lease list --json\n",
                         NULL,
                         NULL,
                         NULL,
                         0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if ((rc = srv_with_hq(ctx, call_lease_list, &a))) return rc;
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, a.doc, "the lease policy", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"MANAGER", "manager", NULL, NULL, 0},
      {"DAYS", "days", NULL, NULL, 1},
      {"DEFAULT", "default", NULL, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 "No managers yet; every device is leased 14 days.\n");
  cJSON_Delete(arr);
  return CLI_OK;
}

int cmd_lease(cli_ctx *ctx, int argc, char **argv) {
  static const cli_sub subs[] = {{"set", cmd_lease_set}, {"list", cmd_lease_list}, {NULL, NULL}};
  return cli_dispatch(ctx, "lease",
                      "Usage: fieldsync-server lease set MANAGER --days N [--json]\n"
                      "       fieldsync-server lease list [--json]\n",
                      subs, argc, argv);
}
