/*
 * cmd_recover.c — `fieldsync-server recover`: staff approve the recovery
 * of one device whose manager forgot the passphrase, list approvals, and
 * withdraw a pending one.
 *
 * The code is printed once, on stdout only, for the staff member to read
 * to the manager over the phone, and never logged; head office keeps only
 * its hash.  Who approved is recorded with the approval (--by, else the
 * login name).
 */
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

typedef struct recover_args {
  const char *device, *by;
  int64_t ttl_ms;
  int cancel, list;
  char *doc; /* out, fs_free */
} recover_args;

static int call_recover(fs_hq *hq, void *arg) {
  recover_args *a = arg;
  if (a->list) return fs_hq_recovery_json(&a->doc, hq);
  if (a->cancel) return fs_hq_recovery_cancel(hq, a->device);
  return fs_hq_recovery_approve(&a->doc, hq, a->device, a->ttl_ms, a->by);
}

static const char recover_usage[] =
    "Usage: fieldsync-server recover DEVICE [--hours N] [--by NAME] [--json]\n"
    "       fieldsync-server recover DEVICE --cancel\n"
    "       fieldsync-server recover --list [--json]\n"
    "\n"
    "A manager who forgot the passphrase of a laptop gets back in with head\n"
    "office's help and only with it.  First check who is calling (call back on\n"
    "the number on file, not the one that called).  Then approve a recovery of\n"
    "that laptop (DEVICE, see `fieldsync-server devices`): this prints a\n"
    "one-time code of 32 characters to read to the manager, who types it into\n"
    "`fieldsync unlock --recover` on the laptop.  The code works for DEVICE\n"
    "only, once, for N hours (default 24, at most 168), and 5 wrong codes\n"
    "burn it.  A new approval replaces a pending one.  A revoked device is\n"
    "never recovered.  Head office keeps only a hash of the code.\n"
    "\n"
    "  --hours N     how long the code is valid (1 to 168; default 24)\n"
    "  --by NAME     who approves, recorded with it (default: the login name)\n"
    "  --cancel      withdraw DEVICE's pending recovery\n"
    "  --list        every approval: device, who, when, its state (pending,\n"
    "                used, expired, burned, cancelled)\n"
    "  --json        approve: {\"device\",\"manager\",\"code\",\"expires_at\",\n"
    "                \"tries\",\"approved_by\"}; --list: an array; --cancel:\n"
    "                {\"device\",\"cancelled\":true}\n"
    "\n"
    "Examples:\n"
    "  fieldsync-server recover 1f2e3d4c5b6a7988\n"
    "  fieldsync-server recover 1f2e3d4c5b6a7988 --hours 2 --by \"Eva (IT desk)\"\n"
    "  fieldsync-server recover --list\n";

static int recover_list(cli_ctx *ctx, recover_args *a) {
  int rc;
  if ((rc = srv_with_hq(ctx, call_recover, a))) return rc;
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, a->doc, "the recovery list", &arr, &rc)) return rc;
  static const cli_col cols[] = {
      {"DEVICE", "device", NULL, NULL, 0},
      {"MANAGER", "manager", NULL, NULL, 0},
      {"APPROVED BY", "approved_by", NULL, NULL, 0},
      {"APPROVED", "approved_at", cli_cell_time, NULL, 0},
      {"EXPIRES", "expires_at", cli_cell_time, NULL, 0},
      {"WRONG", "wrong_codes", NULL, "0", 1},
      {"STATE", "state", NULL, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "", "No recovery was ever approved.\n");
  cJSON_Delete(arr);
  return CLI_OK;
}

int cmd_recover(cli_ctx *ctx, int argc, char **argv) {
  const char *hours = NULL, *by = NULL, *pos[1] = {NULL};
  int cancel = 0, list = 0, ex, rc;
  const cli_opt opts[] = {{"hours", 1, &hours, NULL},
                          {"by", 1, &by, NULL},
                          {"cancel", 0, NULL, &cancel},
                          {"list", 0, NULL, &list},
                          {NULL, 0, NULL, NULL}};
  /* DEVICE is optional with --list: look for it before the parser does */
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--list")) list = 1;
  static const char *const names[] = {"DEVICE"};
  const cli_spec spec = {"recover", recover_usage, opts, list ? NULL : names, pos, list ? 0 : 1};
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  recover_args a = {pos[0], by, 0, cancel, list, NULL};
  if (list) {
    if (cancel || hours || by) return cli_usage("recover --list takes no other option.");
    return recover_list(ctx, &a);
  }
  if (cancel && (hours || by)) return cli_usage("recover --cancel takes no --hours or --by.");
  if (hours) {
    int64_t n;
    if (cli_parse_qty(&n, "hours", hours)) return CLI_EUSAGE;
    if (n < 1 || n > 168) return cli_usage("--hours is 1 to 168, not %s.", hours);
    a.ttl_ms = n * 3600 * 1000;
  }
  if (!a.by) {
    const struct passwd *pw = getpwuid(getuid());
    const char *sudo = getenv("SUDO_USER");
    a.by = sudo && *sudo ? sudo : pw && pw->pw_name ? pw->pw_name : "unknown";
  }
  if ((rc = srv_with_hq(ctx, call_recover, &a))) return rc;
  if (cancel) {
    if (ctx->json)
      printf("{\"device\":\"%s\",\"cancelled\":true}\n", a.device);
    else
      printf("the pending recovery of device %s is withdrawn; its code no longer works\n",
             a.device);
    return CLI_OK;
  }
  cJSON *o = cJSON_Parse(a.doc);
  if (a.doc) {
    sodium_memzero(a.doc, strlen(a.doc)); /* it holds the code */
    fs_free(a.doc);
  }
  if (!o) return cli_fail("the approval could not be read back; approve it again.");
  if (ctx->json) {
    rc = cli_print_cjson(o);
  } else {
    char exp[64];
    cli_localtime(exp, sizeof exp, cJSON_GetStringValue(cJSON_GetObjectItem(o, "expires_at")), "-");
    printf("recovery of device %s (%s) approved by %s until %s\n"
           "read this code to the manager, who types it into `fieldsync unlock --recover`:\n"
           "\n    %s\n\n"
           "it works once, for this device only; %d wrong codes burn it\n",
           a.device, cJSON_GetStringValue(cJSON_GetObjectItem(o, "manager")),
           cJSON_GetStringValue(cJSON_GetObjectItem(o, "approved_by")), exp,
           cJSON_GetStringValue(cJSON_GetObjectItem(o, "code")), (int)cli_int(o, "tries", 5));
    rc = CLI_OK;
  }
  cJSON *c = cJSON_GetObjectItem(o, "code");
  if (c && c->valuestring) sodium_memzero(c->valuestring, strlen(c->valuestring));
  cJSON_Delete(o);
  return rc;
}
