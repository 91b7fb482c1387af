/*
 * cmd_backup.c — `fieldsync-server backup FILE` and `fieldsync-server
 * restore FILE`.
 *
 * backup copies the store while `serve` may keep running (SQLite's online
 * backup: one consistent snapshot, fs_hq_backup).  restore puts such a copy
 * back on a home nobody serves (fs_hq_restore refuses while `serve` holds
 * the home's serving lock), atomically, keeping the replaced store beside
 * it.  Devices then find head office behind their receipts and send again
 * what it lost (docs/protocol.md, "Head office restored from a backup").
 */
#include <stdio.h>

#include "cmd.h"

typedef struct backup_args {
  const char *file;
  char *doc; /* out, fs_free */
} backup_args;

static int call_backup(fs_hq *hq, void *arg) {
  backup_args *a = arg;
  return fs_hq_backup(&a->doc, hq, a->file);
}

int cmd_backup(cli_ctx *ctx, int argc, char **argv) {
  const char *file = NULL;
  static const char *const names[] = {"FILE (where to write the backup)"};
  const cli_spec spec = {"backup",
                         "Usage: fieldsync-server backup FILE [--json]\n"
                         "\n"
                         "Writes a consistent copy of head office's store to FILE, which must not\n"
                         "exist: SQLite's online backup, one snapshot of everything committed,\n"
                         "safe while `serve` runs.  FILE is readable by its owner only.  The keys\n"
                         "(keys/) and TLS files (tls/) are not in it; back them up once, they do\n"
                         "not change.  Restore with `fieldsync-server restore FILE`.\n\n"
                         "Example:\n"
                         "  fieldsync-server backup /var/backups/fieldsync-$(date +%F).db\n",
                         NULL,
                         names,
                         &file,
                         1};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  backup_args a = {file, NULL};
  if ((rc = srv_with_hq(ctx, call_backup, &a))) return rc;
  cJSON *o = NULL;
  if (!cli_take_doc(ctx, a.doc, "the backup summary", &o, &rc)) return rc;
  printf("backup written to %s: %lld bytes, %lld devices, %lld envelopes in the audit log\n", file,
         (long long)cli_int(o, "bytes", 0), (long long)cli_int(o, "devices", 0),
         (long long)cli_int(o, "envelopes", 0));
  cJSON_Delete(o);
  return CLI_OK;
}

int cmd_restore(cli_ctx *ctx, int argc, char **argv) {
  const char *file = NULL;
  static const char *const names[] = {"FILE (a backup made by `fieldsync-server backup`)"};
  const cli_spec spec = {"restore",
                         "Usage: fieldsync-server restore FILE [--json]\n"
                         "\n"
                         "Replaces head office's store with the backup FILE.  Refused while a\n"
                         "server serves this home (stop it first) and for a file that is not a\n"
                         "backup of this head office; run no other fieldsync-server command on\n"
                         "the home meanwhile.  The replaced store is kept beside it as\n"
                         "store.db.before-restore-TIME.\n"
                         "\n"
                         "What happened after the backup is then missing here until the devices\n"
                         "sync: each device finds head office behind its receipts and sends again\n"
                         "everything since the position head office still has, and pulls\n"
                         "everything again.  Head office's own writes after the backup (imports,\n"
                         "assignments) are not on any device: make them again.\n\n"
                         "Example:\n"
                         "  fieldsync-server restore /var/backups/fieldsync-2026-12-01.db\n",
                         NULL,
                         names,
                         &file,
                         1};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  char *doc = NULL;
  if ((rc = fs_hq_restore(&doc, srv_home(ctx), file))) return cli_lib_fail(rc);
  cJSON *o = NULL;
  if (!cli_take_doc(ctx, doc, "the restore summary", &o, &rc)) return rc;
  char prev[4200];
  cli_text(prev, sizeof prev, o, "previous", "(none)");
  printf("restored %s into %s (%lld envelopes in the audit log); the replaced store is kept "
         "as %s\n",
         file, srv_home(ctx), (long long)cli_int(o, "envelopes", 0), prev);
  static const cli_col cols[] = {
      {"DEVICE", "id", NULL, NULL, 0},
      {"MANAGER", "manager", NULL, NULL, 0},
      {"PUSH SEQ NOW", "seq", NULL, NULL, 1},
      {"BEFORE", "seq_before", NULL, NULL, 1},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), cJSON_GetObjectItemCaseSensitive(o, "devices"), NULL, "",
                 "no devices are enrolled in the backup\n");
  printf("Each device sends again what head office lost at its next sync.\n");
  cJSON_Delete(o);
  return CLI_OK;
}
