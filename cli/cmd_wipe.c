/*
 * cmd_wipe.c — `fieldsync wipe`: crypto-shreds this device's home, the
 * same as head office's wipe order does at the next contact of a device
 * revoked with `fieldsync-server revoke DEVICE --wipe` (fs_device_wipe).
 *
 * Nothing can be undone afterwards, so a person is asked on the terminal
 * (type the word "wipe"); a script says --yes, and without it, on a
 * standard input that is not a terminal, the command refuses.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char wipe_usage[] =
    "Usage: fieldsync wipe [--yes] [--home DIR] [--json]\n"
    "\n"
    "Destroys this device's data for good: the wrapped store key is\n"
    "overwritten and removed first (from then on nothing left can be\n"
    "decrypted), then the device keys, the offline lease, the encrypted store\n"
    "and its WAL, and the other files fieldsync made in the home.  Changes not\n"
    "yet synced are lost.  No passphrase is needed.  Head office's wipe order\n"
    "(`fieldsync-server revoke DEVICE --wipe`) does the same at the device's\n"
    "next contact.\n"
    "\n"
    "On a terminal it asks you to type \"wipe\"; without a terminal --yes is\n"
    "required.\n"
    "\n"
    "  --yes           do not ask\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"device_id\",\"wiped\":true}\n"
    "\n"
    "Examples:\n"
    "  fieldsync wipe\n"
    "  fieldsync wipe --yes --json\n";

int cmd_wipe(cli_ctx *ctx, int argc, char **argv) {
  int yes = 0;
  const cli_opt opts[] = {{"yes", 0, NULL, &yes}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"wipe", wipe_usage, opts, NULL, NULL, 0};
  fs_device *dev = NULL;
  char id[32];
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!yes && !isatty(STDIN_FILENO))
    return cli_usage("wipe destroys the store for good: give --yes when not on a terminal.");
  if ((rc = cli_open_locked(ctx, &dev)) != CLI_OK) return rc;
  snprintf(id, sizeof id, "%s", fs_device_id(dev));
  if (!yes) {
    char line[64] = "";
    fprintf(stderr,
            "This destroys device %s in %s for good, with every change not yet synced.\n"
            "Type \"wipe\" to go on: ",
            id, fs_device_home(dev));
    if (!fgets(line, sizeof line, stdin) || strcmp(line, "wipe\n") != 0) {
      fs_device_close(dev);
      return cli_fail("nothing was wiped (the answer was not \"wipe\").");
    }
  }
  int lrc = fs_device_wipe(dev);
  fs_device_close(dev);
  if (lrc != FS_OK) return cli_lib_fail(lrc);
  if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "device_id", id) || !cJSON_AddTrueToObject(o, "wiped"))
      rc = cli_fail("out of memory.");
    else
      rc = cli_print_cjson(o);
    cJSON_Delete(o);
    return rc;
  }
  printf("device %s wiped: its keys and store are gone\n", id);
  return CLI_OK;
}
