/*
 * cmd.h — what the files of the `fieldsync-server` command share.
 *
 * The command is thin over <fieldsync/server.h>: a verb parses its
 * arguments with the toolkit's parser (cli/kit/clikit.h), opens the server
 * home, makes its call, closes the home, and only then prints: an aligned
 * table for a person or, with --json, the library's document.  Besides the
 * toolkit's invariants (one line on stderr on failure, nothing half
 * printed), a verb other than `serve` holds the home open for its one call
 * only, never while it prints.  The files: main.c (usage, dispatch, the shared helpers,
 * import, assign, report), cmd_serve.c (init, serve), cmd_devices.c (token,
 * devices, revoke), cmd_data.c (conflicts, verify-log, export), cmd_refused.c
 * (refused), cmd_backup.c (backup, restore), cmd_recover.c (recover), cmd_norms.c
 * (norms).
 */
#ifndef FS_SERVER_CMD_H
#define FS_SERVER_CMD_H

#include <fieldsync/server.h>

#include "clikit.h"

/* The server home: --home, else $FIELDSYNC_SERVER_HOME, else
 * ./fieldsync-server. */
const char *srv_home(cli_ctx *ctx);

/* One call on an open server home: returns FS_OK, a negative fs_err with
 * fs_errmsg() set, or a positive exit status whose error line it already
 * printed (cli_fail).  What it produces it leaves in `arg`. */
typedef int (*srv_call)(fs_hq *hq, void *arg);

/* The shape every verb on the home shares: opens the home, runs `call` on
 * it, closes it.  Returns CLI_OK, or the exit status after one line on
 * stderr (the library's sentence for an fs_err).  The verb prints what the
 * call left in `arg` afterwards. */
int srv_with_hq(cli_ctx *ctx, srv_call call, void *arg);

/* ------------------------------------------------------------ verbs */

int cmd_init_server(cli_ctx *ctx, int argc, char **argv);
int cmd_serve(cli_ctx *ctx, int argc, char **argv);
int cmd_token(cli_ctx *ctx, int argc, char **argv);
int cmd_devices(cli_ctx *ctx, int argc, char **argv);
int cmd_revoke(cli_ctx *ctx, int argc, char **argv);
int cmd_lease(cli_ctx *ctx, int argc, char **argv);
int cmd_recover(cli_ctx *ctx, int argc, char **argv);
int cmd_conflicts_server(cli_ctx *ctx, int argc, char **argv);
int cmd_verify_log(cli_ctx *ctx, int argc, char **argv);
int cmd_export_server(cli_ctx *ctx, int argc, char **argv);
int cmd_refused_server(cli_ctx *ctx, int argc, char **argv);
int cmd_backup(cli_ctx *ctx, int argc, char **argv);
int cmd_restore(cli_ctx *ctx, int argc, char **argv);
int cmd_norms(cli_ctx *ctx, int argc, char **argv);

#endif
