/*
 * cmd_receipts.c — `fieldsync receipts` and `fieldsync receipts verify`:
 * the proof this device keeps of what head office accepted.
 *
 * Every push head office accepts is acknowledged with its signature over
 * (device, sequence, envelope hash, accepted and refused counts, head
 * office's time); the device keeps each as a receipt in its store and in
 * HOME/receipts.  The list shows them; verify checks every one against the
 * head-office key pinned at enrollment and exits non-zero naming the first
 * that does not hold.  Both are one library call (fs_receipts_json,
 * fs_receipts_verify).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};

static const char receipts_usage[] =
    "Usage: fieldsync receipts [list] [--json]\n"
    "       fieldsync receipts verify [--json]\n"
    "\n"
    "Lists the receipts of head office's signed acknowledgements: for each\n"
    "push head office accepted, its sequence number, when head office\n"
    "accepted it, how many rows it accepted and refused, and the hash of the\n"
    "envelope.  They are proof of what head office accepted and when.\n"
    "'receipts verify' checks every receipt against head office's key pinned\n"
    "at enrollment and exits non-zero naming the first one that does not\n"
    "verify.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON\n\n"
    "Examples:\n"
    "  fieldsync receipts\n"
    "  fieldsync receipts verify\n";

/* The envelope hash, shortened for a table. */
static const char *hash_cell(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                             const cJSON *doc) {
  (void)doc;
  cli_text(buf, cap, row, col->key, "-");
  if (strlen(buf) > 16 && cap > 20) memcpy(buf + 16, "...", 4);
  return buf;
}

/* Where the device holds the receipt: in the store, in the file, or both. */
static const char *kept_cell(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                             const cJSON *doc) {
  (void)col;
  (void)doc;
  int st = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "in_store"));
  int fl = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "in_file"));
  snprintf(buf, cap, "%s", st && fl ? "store, file" : st ? "store only" : "file only");
  return buf;
}

static int receipts_list(cli_ctx *ctx, int argc, char **argv) {
  cli_spec spec = {"receipts", receipts_usage, no_opts, NULL, NULL, 0};
  static const cli_col cols[] = {
      {"SEQ", "seq", NULL, NULL, 1},
      {"ACCEPTED AT", "at", cli_cell_time, NULL, 0},
      {"ACCEPTED", "accepted", NULL, NULL, 1},
      {"REFUSED", "refused", NULL, NULL, 1},
      {"ENVELOPE HASH", "hash", hash_cell, NULL, 0},
      {"KEPT IN", "in_store", kept_cell, NULL, 0},
  };
  fs_device *dev = NULL;
  char *doc = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  int lrc = fs_receipts_json(&doc, dev);
  fs_device_close(dev);
  if (lrc) return cli_lib_fail(lrc);
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, doc, "the receipts", &arr, &rc)) return rc;
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "",
                 "No receipts yet: head office signs one for every push it accepts "
                 "('fieldsync sync').\n");
  cJSON_Delete(arr);
  return CLI_OK;
}

static int receipts_verify(cli_ctx *ctx, int argc, char **argv) {
  cli_spec spec = {"receipts verify", receipts_usage, no_opts, NULL, NULL, 0};
  fs_device *dev = NULL;
  int64_t n = 0;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  int lrc = fs_receipts_verify(&n, dev);
  fs_device_close(dev);
  if (lrc) return cli_lib_fail(lrc);
  if (ctx->json)
    printf("{\"verified\":%lld,\"ok\":true}\n", (long long)n);
  else
    printf("receipts ok: %lld verified against head office's key\n", (long long)n);
  return CLI_OK;
}

int cmd_receipts(cli_ctx *ctx, int argc, char **argv) {
  /* the first word that is not a flag decides list or verify */
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--home") == 0) {
      i++;
      continue;
    }
    if (strcmp(argv[i], "verify") == 0 || strcmp(argv[i], "list") == 0) {
      char **rest = malloc(sizeof *rest * (size_t)(argc > 0 ? argc : 1));
      int n = 0, rc;
      if (!rest) return cli_fail("out of memory.");
      for (int j = 0; j < argc; j++)
        if (j != i) rest[n++] = argv[j];
      rc = argv[i][0] == 'v' ? receipts_verify(ctx, n, rest) : receipts_list(ctx, n, rest);
      free(rest);
      return rc;
    }
    if (argv[i][0] != '-') break;
  }
  return receipts_list(ctx, argc, argv);
}
