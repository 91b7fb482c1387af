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

/* Opens the device of ctx->home and unlocks it (fs_device_close it; its
 * store is fs_device_store): with the key the session's keyring caches
 * (`fieldsync unlock`), else with the passphrase in
 * $FIELDSYNC_PASSPHRASE_FILE; else it fails with the sentence saying how
 * to unlock.  On failure prints one sentence and returns CLI_EFAIL. */
int cli_open(cli_ctx *ctx, fs_device **out);
/* The same, left locked (the verbs about the lock itself). */
int cli_open_locked(cli_ctx *ctx, fs_device **out);

/* ------------------------------------------------------- passphrases */

/* A passphrase read by passphrase.c: buf is sodium_malloc'd and holds len
 * bytes and a NUL; cli_secret_free wipes and frees it (NULL buf is fine). */
typedef struct cli_secret {
  char *buf;
  size_t len;
} cli_secret;
void cli_secret_free(cli_secret *s);
/* $FIELDSYNC_PASSPHRASE_FILE, or NULL when unset or empty. */
const char *cli_passphrase_file(void);
/* The passphrase in `file`: one line (its line break dropped), the file
 * readable by its owner only. */
int cli_passphrase_from_file(cli_secret *out, const char *file);
/* On a terminal: `prompt` on stderr, typed without echo (twice = asked a
 * second time and both must match); otherwise one line of standard input. */
int cli_passphrase_ask(cli_secret *out, const char *prompt, int twice);
/* $FIELDSYNC_PASSPHRASE_FILE when set, else cli_passphrase_ask. */
int cli_passphrase(cli_secret *out, const char *prompt, int twice);
/* Each returns CLI_OK or the exit status after printing one line. */

/* What a person typed for a row of `table` (a whole id, a unique prefix of
 * 6+ characters, a customer's exact name) as its id (fs_resolve_id); the
 * exit status, the sentence printed. */
int cli_resolve(fs_device *dev, const char *table, const char *typed, char out[FS_ID_SIZE]);
/* Opens the store, inserts one row into `table` (its customer_id, order_id
 * and contact_id as typed, resolved with cli_resolve), closes, and prints
 * the new id (alone, or {"id":...} with --json).  Returns the exit
 * status. */
int cli_insert(cli_ctx *ctx, const char *table, const fs_field *fields, size_t n);
/* Sets fields of the row of `table` a person typed (cli_resolve) and
 * prints its id (as cli_insert).  Returns the exit status. */
int cli_update(cli_ctx *ctx, const char *table, const char *typed, const fs_field *fields,
               size_t n);
/* Deletes the row of `table` a person typed (with `del` when not NULL, a
 * domain operation such as fs_customer_delete, else fs_delete); prints
 * "Deleted WHAT ID." or {"id":...,"deleted":true}.  Returns the exit
 * status. */
int cli_delete(cli_ctx *ctx, const char *table, const char *typed, const char *what,
               int (*del)(fs_store *, const char *));
/* `line` for a person, or {"id":id,"deleted":true} with --json. */
int cli_print_deleted(cli_ctx *ctx, const char *id, const char *line);
/* Opens the store, runs view(arg) and returns its document in *out (free
 * with fs_free).  Returns the exit status (the error already printed). */
int cli_view(cli_ctx *ctx, const char *view, const char *arg, char **out);
/* The same on a device the caller opened (cli_open) and closes. */
int cli_view_on(fs_device *dev, const char *view, const char *arg, char **out);
/* cli_view of the row of `table` a person typed (cli_resolve): its id
 * into id[]. */
int cli_view_of(cli_ctx *ctx, const char *view, const char *table, const char *typed, char **out,
                char id[FS_ID_SIZE]);
/* A view for a command's output: with --json it is printed as it is and 0
 * is returned (the command is done; *rc is its exit status); otherwise the
 * parsed document is returned in *out (cJSON_Delete it) and the result is 1.
 * Failures print their one line and return 0 with *rc set.  `what` names the
 * document in messages ("a customer list"). */
int cli_view_doc(cli_ctx *ctx, const char *view, const char *arg, const char *what, cJSON **out,
                 int *rc);
/* cli_view_doc of the row of `table` a person typed (cli_resolve). */
int cli_view_doc_of(cli_ctx *ctx, const char *view, const char *table, const char *typed,
                    const char *what, cJSON **out, int *rc);
/* Prints {"id":id} with --json, or the id on its own line. */
int cli_print_id(cli_ctx *ctx, const char *id);
/* The lines of a draft order or quote, corrected one way for both
 * (lines.c): `WHAT line edit DOC LINE [--qty N] [--discount PCT]` and `WHAT
 * line remove DOC LINE`, LINE the line's number in `WHAT show` or its id. */
typedef struct cli_lines {
  const char *what;        /* "order": the verb, the view of one, the word in messages */
  const char *table;       /* "orders": where DOC is resolved */
  const char *lines_table; /* "order_lines" */
  const char *doc_name;    /* "the ORDER": the first argument, in usage errors */
} cli_lines;
int cli_lines_edit(cli_ctx *ctx, const cli_lines *k, const char *usage, int argc, char **argv);
int cli_lines_remove(cli_ctx *ctx, const cli_lines *k, const char *usage, int argc, char **argv);
/* The "Lines" section of `order show` and `quote show`: number, SKU, name,
 * quantity, unit price, discount, amount, id. */
void cli_print_lines(const cJSON *doc);
/* How the total of an order or quote doc (its "lines" with qty, unit_price
 * and amount; its discount_bp and total) is reached: lines at unit price,
 * line discounts, lines, the WHAT discount, total, in currency cur. */
void cli_print_total(const cJSON *doc, const char *cur, const char *what);

/* The exit status of a sync that finished but in which head office
 * refused changes (they are kept: `fieldsync refused`).  Distinct from
 * CLI_EFAIL and CLI_EUSAGE so that a script can tell "synced, but read the
 * refusals" from a failed sync. */
#define CLI_EREFUSED 3

/* The exit status when head office's wipe order was carried out (the
 * device's keys and store are gone: FS_EWIPED), so a script can tell it
 * from a failure to try again. */
#define CLI_EWIPED 4

/* The refused changes of a "refused" view (arr) as a table, each row's
 * reason in full under it; with_state adds the STATE column. */
void cli_print_refusals(const cJSON *arr, const char *indent, int with_state);

/* ------------------------------------------------------------ verbs */

int cmd_init(cli_ctx *ctx, int argc, char **argv);
int cmd_customer(cli_ctx *ctx, int argc, char **argv);
int cmd_contact(cli_ctx *ctx, int argc, char **argv);
int cmd_meeting(cli_ctx *ctx, int argc, char **argv);
int cmd_order(cli_ctx *ctx, int argc, char **argv);
int cmd_quote(cli_ctx *ctx, int argc, char **argv);
int cmd_product(cli_ctx *ctx, int argc, char **argv);
int cmd_status(cli_ctx *ctx, int argc, char **argv);
int cmd_conflicts(cli_ctx *ctx, int argc, char **argv);
int cmd_export(cli_ctx *ctx, int argc, char **argv);
int cmd_enroll(cli_ctx *ctx, int argc, char **argv);
int cmd_sync(cli_ctx *ctx, int argc, char **argv);
int cmd_refused(cli_ctx *ctx, int argc, char **argv);
int cmd_unlock(cli_ctx *ctx, int argc, char **argv);
int cmd_lock(cli_ctx *ctx, int argc, char **argv);
int cmd_passwd(cli_ctx *ctx, int argc, char **argv);
int cmd_receipts(cli_ctx *ctx, int argc, char **argv);
int cmd_complaint(cli_ctx *ctx, int argc, char **argv);
int cmd_competitor(cli_ctx *ctx, int argc, char **argv);
int cmd_wipe(cli_ctx *ctx, int argc, char **argv);
int cmd_call(cli_ctx *ctx, int argc, char **argv);
int cmd_task(cli_ctx *ctx, int argc, char **argv);
int cmd_agenda(cli_ctx *ctx, int argc, char **argv);
int cmd_deal(cli_ctx *ctx, int argc, char **argv);

#endif
