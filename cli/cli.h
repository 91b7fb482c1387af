/*
 * cli.h — what the `fieldsync` device command's files share.
 *
 * The command line is thin over the public API: every verb parses its
 * arguments with the toolkit's parser (cli/kit/clikit.h), opens the store
 * through <fieldsync/device.h>, makes one library call (one transaction) and
 * prints either an aligned table for a person or, with --json, exactly the
 * JSON document the library returned.  Besides the toolkit's invariants,
 * nothing is written to the store unless every argument was valid.
 * Only <fieldsync/...> public headers, the toolkit and cJSON are used here.
 */
#ifndef FS_CLI_H
#define FS_CLI_H

#include <fieldsync/device.h>
#include <fieldsync/fieldsync.h>

#include "clikit.h"

/* The device home: --home, else $FIELDSYNC_HOME, else ~/.fieldsync.  NULL
 * (with the error printed) when none can be found. */
const char *cli_home(cli_ctx *ctx);

/* Opens the device of ctx->home (fs_device_close it; its store is
 * fs_device_store); on failure prints the library's sentence and returns
 * CLI_EFAIL. */
int cli_open(cli_ctx *ctx, fs_device **out);

/* Opens the store, inserts one row into `table`, closes, and prints the new
 * id (alone, or {"id":...} with --json).  Returns the exit status. */
int cli_insert(cli_ctx *ctx, const char *table, const fs_field *fields, size_t n);
/* Opens the store, runs view(arg) and returns its document in *out (free
 * with fs_free).  Returns the exit status (the error already printed). */
int cli_view(cli_ctx *ctx, const char *view, const char *arg, char **out);
/* A view for a command's output: with --json it is printed as it is and 0
 * is returned (the command is done; *rc is its exit status); otherwise the
 * parsed document is returned in *out (cJSON_Delete it) and the result is 1.
 * Failures print their one line and return 0 with *rc set.  `what` names the
 * document in messages ("a customer list"). */
int cli_view_doc(cli_ctx *ctx, const char *view, const char *arg, const char *what, cJSON **out,
                 int *rc);
/* Prints {"id":id} with --json, or the id on its own line. */
int cli_print_id(cli_ctx *ctx, const char *id);

/* ------------------------------------------------------------ verbs */

int cmd_init(cli_ctx *ctx, int argc, char **argv);
int cmd_customer(cli_ctx *ctx, int argc, char **argv);
int cmd_contact(cli_ctx *ctx, int argc, char **argv);
int cmd_meeting(cli_ctx *ctx, int argc, char **argv);
int cmd_order(cli_ctx *ctx, int argc, char **argv);
int cmd_product(cli_ctx *ctx, int argc, char **argv);
int cmd_status(cli_ctx *ctx, int argc, char **argv);
int cmd_conflicts(cli_ctx *ctx, int argc, char **argv);
int cmd_export(cli_ctx *ctx, int argc, char **argv);
int cmd_enroll(cli_ctx *ctx, int argc, char **argv);
int cmd_sync(cli_ctx *ctx, int argc, char **argv);
int cmd_receipts(cli_ctx *ctx, int argc, char **argv);

#endif
