/*
 * lines.c — correcting the lines of a draft order or quote, one way for
 * both: `order line edit|remove ORDER LINE` and `quote line edit|remove
 * QUOTE LINE`.  LINE is the line's number as `show` lists it (1, 2, ...)
 * or its id (whole, or a unique start of 6+ characters).  The library
 * refuses a line of a document that is no longer a draft, with the reason.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The id of the LINE a person typed among the "lines" of doc. */
static int pick_line(const cli_lines *k, const cJSON *doc, const char *typed,
                     char out[FS_ID_SIZE]) {
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(doc, "lines"), *it;
  char name[64];
  cli_text(name, sizeof name, doc, "number", "");
  if (!*name) cli_text(name, sizeof name, doc, "id", "?");
  size_t n = strlen(typed), digits = strspn(typed, "0123456789");
  int count = cJSON_GetArraySize(lines), hits = 0;
  if (n > 0 && digits == n && n < 6) {
    long no = strtol(typed, NULL, 10);
    const cJSON *l = no >= 1 && no <= count ? cJSON_GetArrayItem(lines, (int)no - 1) : NULL;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "id"));
    if (!id)
      return cli_fail("%s %s has %d line%s; there is no line %s (see 'fieldsync %s show').",
                      k->what, name, count, count == 1 ? "" : "s", typed, k->what);
    snprintf(out, FS_ID_SIZE, "%s", id);
    return CLI_OK;
  }
  cJSON_ArrayForEach(it, lines) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id"));
    if (id && (!strcmp(id, typed) || (n >= 6 && !strncasecmp(id, typed, n)))) {
      if (!hits++) snprintf(out, FS_ID_SIZE, "%s", id);
      if (!strcmp(id, typed)) return CLI_OK;
    }
  }
  if (hits == 1) return CLI_OK;
  if (hits > 1)
    return cli_fail("\"%.40s\" starts %d lines of the %s; give more of the id.", typed, hits,
                    k->what);
  return cli_fail("%s %s has no line \"%.40s\"; give the line's number or id as 'fieldsync "
                  "%s show' lists them.",
                  k->what, name, typed, k->what);
}

/* Opens the store and finds the document and its LINE as typed: the device
 * (the caller closes it) and both ids, or the exit status. */
static int open_line(cli_ctx *ctx, const cli_lines *k, fs_device **dev, const char *doc_typed,
                     const char *line, char did[FS_ID_SIZE], char lid[FS_ID_SIZE]) {
  char *doc = NULL;
  int rc = cli_open(ctx, dev);
  if (rc != CLI_OK) return rc;
  if ((rc = cli_resolve(*dev, k->table, doc_typed, did)) == CLI_OK &&
      (rc = cli_view_on(*dev, k->what, did, &doc)) == CLI_OK) {
    cJSON *o = cli_parse_doc(doc, k->what);
    rc = o ? pick_line(k, o, line, lid) : CLI_EFAIL;
    cJSON_Delete(o);
  }
  fs_free(doc);
  if (rc != CLI_OK) {
    fs_device_close(*dev);
    *dev = NULL;
  }
  return rc;
}

int cli_lines_edit(cli_ctx *ctx, const cli_lines *k, const char *usage, int argc, char **argv) {
  const char *pos[2] = {NULL, NULL}, *qty_text = NULL, *discount = NULL;
  const char *pos_names[] = {k->doc_name, "the LINE"};
  const cli_opt opts[] = {
      {"qty", 1, &qty_text, NULL}, {"discount", 1, &discount, NULL}, {NULL, 0, NULL, NULL}};
  char verb[32];
  snprintf(verb, sizeof verb, "%s line edit", k->what);
  cli_spec spec = {verb, usage, opts, pos_names, pos, 2};
  char did[FS_ID_SIZE], lid[FS_ID_SIZE], q[24], d[24];
  int64_t qty = 0, bp = 0;
  fs_field f[2];
  size_t n = 0;
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!qty_text && !discount)
    return cli_usage("%s: give --qty N or --discount PCT; see 'fieldsync %s --help'.", verb, verb);
  if (qty_text && (rc = cli_parse_qty(&qty, "qty", qty_text)) != CLI_OK) return rc;
  if (discount && (rc = cli_parse_pct(&bp, "discount", discount)) != CLI_OK) return rc;
  snprintf(q, sizeof q, "%lld", (long long)qty);
  snprintf(d, sizeof d, "%lld", (long long)bp);
  if (qty_text) f[n++] = (fs_field){"qty", q};
  if (discount) f[n++] = (fs_field){"discount_bp", d};
  if ((rc = open_line(ctx, k, &dev, pos[0], pos[1], did, lid)) != CLI_OK) return rc;
  int lrc = fs_update(fs_device_store(dev), k->lines_table, lid, f, n);
  if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  fs_device_close(dev);
  return rc != CLI_OK ? rc : cli_print_id(ctx, lid);
}

int cli_lines_remove(cli_ctx *ctx, const cli_lines *k, const char *usage, int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  const char *pos_names[] = {k->doc_name, "the LINE"};
  static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};
  char verb[32];
  snprintf(verb, sizeof verb, "%s line remove", k->what);
  cli_spec spec = {verb, usage, no_opts, pos_names, pos, 2};
  char did[FS_ID_SIZE], lid[FS_ID_SIZE];
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = open_line(ctx, k, &dev, pos[0], pos[1], did, lid)) != CLI_OK) return rc;
  int lrc = fs_delete(fs_device_store(dev), k->lines_table, lid);
  if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  char line[192];
  snprintf(line, sizeof line, "Removed line %s from %s %s.", lid, k->what, did);
  return cli_print_deleted(ctx, lid, line);
}

void cli_print_lines(const cJSON *doc) {
  /* the lines carry no currency: their money is in the order's or quote's */
  static const cli_col cols[] = {
      {"#", "no", cli_cell_int, NULL, 1},
      {"SKU", "sku", NULL, NULL, 0},
      {"NAME", "name", NULL, NULL, 0},
      {"QTY", "qty", NULL, NULL, 1},
      {"UNIT PRICE", "unit_price", cli_cell_money, NULL, 1},
      {"DISC.", "discount_bp", cli_cell_pct, NULL, 1},
      {"AMOUNT", "amount", cli_cell_money, NULL, 1},
      {"ID", "id", NULL, NULL, 0},
  };
  cli_print_section("Lines", cols, CLI_NCOLS(cols), doc, "lines");
}
