/*
 * common.c — what every `fieldsync` verb does with the device: find its
 * home, open its store, insert a row, read a view.
 *
 * The option parser and output toolkit (cli/kit/) know nothing of devices;
 * the device command's notion of "the store" lives here.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ home */

const char *cli_home(cli_ctx *ctx) {
  if (ctx->home) return ctx->home;
  const char *env = getenv("FIELDSYNC_HOME");
  if (env && *env) return ctx->home = env;
  const char *h = getenv("HOME");
  if (!h || !*h) {
    cli_fail("cannot find your home directory; set FIELDSYNC_HOME or pass --home DIR.");
    return NULL;
  }
  size_t n = strlen(h) + sizeof "/.fieldsync";
  ctx->home_buf = malloc(n);
  if (!ctx->home_buf) {
    cli_fail("out of memory.");
    return NULL;
  }
  snprintf(ctx->home_buf, n, "%s/.fieldsync", h);
  return ctx->home = ctx->home_buf;
}

int cli_open_locked(cli_ctx *ctx, fs_device **out) {
  *out = NULL;
  const char *home = cli_home(ctx);
  if (!home) return CLI_EFAIL;
  int rc = fs_device_open(out, home, NULL);
  if (rc != FS_OK) return cli_lib_fail(rc);
  return CLI_OK;
}

int cli_open(cli_ctx *ctx, fs_device **out) {
  int rc = cli_open_locked(ctx, out);
  if (rc != CLI_OK) return rc;
  int lrc = fs_device_unlock_cached(*out);
  const char *file = cli_passphrase_file();
  /* no cached key, or a lease that ran out: the passphrase (which may
   * renew the lease online), from the file; for a lease that ran out also
   * asked on a terminal, so that `fieldsync sync` renews it as the
   * sentence says */
  int ask = lrc == FS_ELEASE && !file && isatty(STDIN_FILENO);
  if (((lrc == FS_ELOCKED || lrc == FS_ELEASE) && file) || ask) {
    cli_secret pass = {NULL, 0};
    rc = ask ? cli_passphrase_ask(&pass, "The lease ran out; passphrase to renew it online: ", 0)
             : cli_passphrase_from_file(&pass, file);
    if (rc != CLI_OK) goto done;
    fs_unlock_opts uo = FS_UNLOCK_OPTS_INIT;
    uo.passphrase = pass.buf;
    uo.passphrase_len = pass.len;
    uo.renew_lease = 1; /* an unlock with the passphrase may renew a lease online */
    lrc = fs_device_unlock(*out, &uo);
    cli_secret_free(&pass);
    if (lrc == FS_EAUTH && !ask) {
      rc = cli_fail("the passphrase in FIELDSYNC_PASSPHRASE_FILE (%s) does not unlock the store "
                    "in %s.",
                    file, fs_device_home(*out));
      goto done;
    }
  }
  if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  if (lrc == FS_EWIPED) rc = CLI_EWIPED;
done:
  if (rc != CLI_OK) {
    fs_device_close(*out);
    *out = NULL;
  }
  return rc;
}

/* ------------------------------------------------------------ parser */

/* The global flags every verb takes.  Returns 1 when `name` (with length
 * nlen, value possibly inline) was one of them, 0 otherwise; *err receives a
 * message when it was misused. */
/* ------------------------------------------------------------ store calls */

int cli_print_id(cli_ctx *ctx, const char *id) {
  if (!ctx->json) {
    printf("%s\n", id);
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "id", id)) {
    cJSON_Delete(o);
    return cli_fail("out of memory.");
  }
  int rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
}

int cli_resolve(fs_device *dev, const char *table, const char *typed, char out[FS_ID_SIZE]) {
  int lrc = fs_resolve_id(out, fs_device_store(dev), table, typed);
  return lrc ? cli_lib_fail(lrc) : CLI_OK;
}

/* The table a reference column names rows of, for cli_insert. */
static const char *referenced(const char *column) {
  return !strcmp(column, "customer_id")  ? "customers"
         : !strcmp(column, "order_id")   ? "orders"
         : !strcmp(column, "contact_id") ? "contacts"
         : !strcmp(column, "deal_id")    ? "deals"
                                         : NULL;
}

int cli_insert(cli_ctx *ctx, const char *table, const fs_field *fields, size_t n) {
  fs_device *dev = NULL;
  char id[FS_ID_SIZE] = "", refs[4][FS_ID_SIZE];
  fs_field f[32];
  size_t nref = 0;
  if (n > sizeof f / sizeof *f)
    return cli_fail("too many fields; this is a bug, please report it.");
  int rc = cli_open(ctx, &dev);
  if (rc != CLI_OK) return rc;
  /* the references a person typed (an id prefix, a customer's name) */
  for (size_t i = 0; i < n && rc == CLI_OK; i++) {
    f[i] = fields[i];
    const char *to = referenced(fields[i].name);
    if (!to || !fields[i].value || nref == sizeof refs / sizeof *refs) continue;
    if ((rc = cli_resolve(dev, to, fields[i].value, refs[nref])) == CLI_OK)
      f[i].value = refs[nref++];
  }
  if (rc == CLI_OK) {
    int lrc = fs_insert(id, fs_device_store(dev), table, f, n);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return cli_print_id(ctx, id);
}

int cli_update(cli_ctx *ctx, const char *table, const char *typed, const fs_field *fields,
               size_t n) {
  fs_device *dev = NULL;
  char id[FS_ID_SIZE] = "";
  int rc = cli_open(ctx, &dev);
  if (rc != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, table, typed, id)) == CLI_OK) {
    int lrc = fs_update(fs_device_store(dev), table, id, fields, n);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return cli_print_id(ctx, id);
}

int cli_delete(cli_ctx *ctx, const char *table, const char *typed, const char *what,
               int (*del)(fs_store *, const char *)) {
  fs_device *dev = NULL;
  char id[FS_ID_SIZE] = "";
  int rc = cli_open(ctx, &dev);
  if (rc != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, table, typed, id)) == CLI_OK) {
    int lrc = del ? del(fs_device_store(dev), id) : fs_delete(fs_device_store(dev), table, id);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  char line[160];
  snprintf(line, sizeof line, "Deleted %s %s.", what, id);
  return cli_print_deleted(ctx, id, line);
}

int cli_print_deleted(cli_ctx *ctx, const char *id, const char *line) {
  if (!ctx->json) {
    printf("%s\n", line);
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "id", id) || !cJSON_AddTrueToObject(o, "deleted")) {
    cJSON_Delete(o);
    return cli_fail("out of memory.");
  }
  int rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
}

int cli_view_on(fs_device *dev, const char *view, const char *arg, char **out) {
  int rc = CLI_OK, lrc = fs_view_json(out, fs_device_store(dev), view, arg);
  if (lrc != FS_OK) {
    fs_free(*out);
    *out = NULL;
    rc = cli_lib_fail(lrc);
  } else if (!*out) {
    rc = cli_fail("the store returned no %s document; this is a bug, please "
                  "report it.",
                  view);
  }
  return rc;
}

int cli_view(cli_ctx *ctx, const char *view, const char *arg, char **out) {
  fs_device *dev = NULL;
  *out = NULL;
  int rc = cli_open(ctx, &dev);
  if (rc != CLI_OK) return rc;
  rc = cli_view_on(dev, view, arg, out);
  fs_device_close(dev);
  return rc;
}

int cli_view_of(cli_ctx *ctx, const char *view, const char *table, const char *typed, char **out,
                char id[FS_ID_SIZE]) {
  fs_device *dev = NULL;
  *out = NULL;
  int rc = cli_open(ctx, &dev);
  if (rc != CLI_OK) return rc;
  if ((rc = cli_resolve(dev, table, typed, id)) == CLI_OK) rc = cli_view_on(dev, view, id, out);
  fs_device_close(dev);
  return rc;
}

int cli_view_doc_of(cli_ctx *ctx, const char *view, const char *table, const char *typed,
                    const char *what, cJSON **out, int *rc) {
  char *doc = NULL, id[FS_ID_SIZE];
  *out = NULL;
  if ((*rc = cli_view_of(ctx, view, table, typed, &doc, id)) != CLI_OK) return 0;
  return cli_take_doc(ctx, doc, what, out, rc);
}

int cli_view_doc(cli_ctx *ctx, const char *view, const char *arg, const char *what, cJSON **out,
                 int *rc) {
  char *doc = NULL;
  *out = NULL;
  if ((*rc = cli_view(ctx, view, arg, &doc)) != CLI_OK) return 0;
  return cli_take_doc(ctx, doc, what, out, rc);
}
