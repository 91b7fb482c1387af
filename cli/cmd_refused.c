/*
 * cmd_refused.c — `fieldsync refused [list|show|copy|dismiss]`: what head
 * office refused, and the ways forward.
 *
 * A change head office refuses (an order for a customer it had meanwhile
 * given to another manager, say) is not applied there, and the pull that
 * follows may take its customer off this laptop; the store keeps the
 * change with its values and head office's reason (fs_refused), and these
 * verbs are how a person sees it and acts on it: `refused` lists the open
 * ones, `refused show` prints one with every value, `refused copy`
 * re-creates a refused order (with its lines) or meeting as new rows under
 * one of the manager's own customers, and `refused dismiss` closes one
 * after reading it.  Nothing is deleted: `refused --all` lists the
 * dismissed and copied ones too.
 *
 * Reasons are whole sentences and are never cut: tables carry them as
 * notes under each row, word-wrapped at the terminal's width ($COLUMNS).
 * A refusal is named by its number (3 or #3), or by its row's id or a
 * unique prefix of it (6 or more characters); a customer for --customer by
 * its id, a unique id prefix or its exact name.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};

static const char list_usage[] =
    "Usage: fieldsync refused [list] [--all] [--json]\n"
    "       fieldsync refused show ID [--json]\n"
    "       fieldsync refused copy ID [--customer C] [--json]\n"
    "       fieldsync refused dismiss ID [--json]\n"
    "\n"
    "The changes head office refused, kept here with their values and reasons.\n"
    "Without a command, lists the open ones, oldest first: number, when, what\n"
    "(table and row), the customer, and head office's reason in full under\n"
    "each.  Nothing refused is ever dropped: the values are kept here even when\n"
    "the customer has gone from this laptop.  'fieldsync refused COMMAND\n"
    "--help' describes show (every value), copy (re-create a refused order or\n"
    "meeting for one of your customers) and dismiss (close one once read).\n"
    "\n"
    "  --customer C      copy: the customer to re-create it under (one you may write)\n"
    "  --all           also the dismissed and copied ones\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON (with every value)\n"
    "\n"
    "Examples:\n"
    "  fieldsync refused\n"
    "  fieldsync refused --all --json\n"
    "  fieldsync refused show 3\n"
    "  fieldsync refused copy 3 --customer \"Hanse Möbel KG\"\n"
    "  fieldsync refused dismiss 4\n";

static const char show_usage[] =
    "Usage: fieldsync refused show ID [--json]\n"
    "\n"
    "Shows refused change ID (its number, or its row's id or a unique prefix of\n"
    "it): head office's reason in full, every value as it was refused and, for\n"
    "an order, its lines.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print JSON\n"
    "\n"
    "Examples:\n"
    "  fieldsync refused show 3\n"
    "  fieldsync refused show 0195f3a2\n";

static const char copy_usage[] =
    "Usage: fieldsync refused copy ID [--customer C] [--json]\n"
    "\n"
    "Re-creates refused change ID as new rows that sync like any other: a\n"
    "refused order becomes a new order with the same currency, discount and\n"
    "lines (priced from today's price list, like any new line) and is\n"
    "submitted again if it was submitted; a refused meeting becomes a new\n"
    "meeting.  Prints the new id; the refusal is then marked copied.\n"
    "\n"
    "  --customer C    one of your customers (id, id prefix or exact name) to\n"
    "                  copy it to; required when the original customer is no\n"
    "                  longer yours\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":...}\n"
    "\n"
    "Examples:\n"
    "  fieldsync refused copy 3\n"
    "  fieldsync refused copy 3 --customer \"Hanse Möbel KG\"\n";

static const char dismiss_usage[] =
    "Usage: fieldsync refused dismiss ID [--json]\n"
    "\n"
    "Closes refused change ID once you have read it (a dismissed order takes\n"
    "its refused lines with it).  It is not deleted: 'fieldsync refused --all'\n"
    "still shows it.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"id\":N,\"state\":\"dismissed\"}\n"
    "\n"
    "Examples:\n"
    "  fieldsync refused dismiss 3\n";

/* ------------------------------------------------------------ printing */

void cli_print_refusals(const cJSON *arr, const char *indent, int with_state) {
  static const cli_col cols[] = {
      {"#", "id", cli_cell_int, NULL, 1},
      {"WHEN", "at", cli_cell_time, NULL, 0},
      {"WHAT", "table", cli_cell_refusal_what, NULL, 0},
      {"ROW", "row", NULL, NULL, 0},
      {"CUSTOMER", "customer_id", cli_cell_refusal_customer, NULL, 0},
      {"STATE", "state", NULL, NULL, 0},
  };
  cli_print_rows_noted(cols, with_state ? CLI_NCOLS(cols) : CLI_NCOLS(cols) - 1, arr, arr, indent,
                       NULL, "reason");
}

/* "key  value" after `indent`, the keys padded to keyw; a value that does
 * not fit beside its key goes whole, wrapped, on the lines under it. */
static void kv_line(const char *indent, const char *key, size_t keyw, const char *value) {
  size_t width = cli_term_width(), in = strlen(indent);
  size_t klen = cli_display_width(key, strlen(key)), vlen = cli_display_width(value, strlen(value));
  if (in + keyw + 2 + vlen <= width && !strchr(value, '\n')) {
    printf("%s%s%*s  ", indent, key, (int)(keyw > klen ? keyw - klen : 0), "");
    cli_wrap(stdout, value, 0, width);
  } else {
    printf("%s%s\n", indent, key);
    cli_wrap(stdout, value, in + 4, width);
  }
}

static void kv_block(const char *indent, const char *const *keys, const char *const *vals,
                     size_t n) {
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (strlen(keys[i]) > w) w = strlen(keys[i]);
  for (size_t i = 0; i < n; i++) kv_line(indent, keys[i], w, vals[i] && *vals[i] ? vals[i] : "-");
}

/* A JSON value as a person reads it, malloc'd. */
static char *value_text(const cJSON *v) {
  if (cJSON_IsString(v)) return strdup(v->valuestring);
  if (cJSON_IsNull(v)) return strdup("-");
  return cJSON_PrintUnformatted(v);
}

static void print_values(const cJSON *values) {
  const cJSON *it;
  size_t w = 0;
  cJSON_ArrayForEach(it, values) if (strlen(it->string) > w) w = strlen(it->string);
  cJSON_ArrayForEach(it, values) {
    char *t = value_text(it);
    kv_line("  ", it->string, w, t ? t : "?");
    free(t);
  }
}

static void print_refusal(const cJSON *o) {
  char b[8][512], iso[64];
  static const char *const keys[] = {"refused change", "when", "what", "row", "customer", "state"};
  const char *vals[6];
  snprintf(b[0], sizeof b[0], "#%lld", (long long)cli_int(o, "id", 0));
  vals[0] = b[0];
  vals[1] = cli_localtime(b[1], sizeof b[1], cli_text(iso, sizeof iso, o, "at", ""), "-");
  vals[2] = cli_cell_refusal_what(b[2], sizeof b[2], o, NULL, NULL);
  vals[3] = cli_text(b[3], sizeof b[3], o, "row", "-");
  {
    char name[256], id[128];
    cli_text(name, sizeof name, o, "customer_name", "");
    cli_text(id, sizeof id, o, "customer_id", "");
    if (*name && *id)
      snprintf(b[4], sizeof b[4], "%s (%s)", name, id);
    else
      snprintf(b[4], sizeof b[4], "%s", *name ? name : *id ? id : "-");
    vals[4] = b[4];
  }
  {
    char state[32], to[128], when[64];
    cli_text(state, sizeof state, o, "state", "open");
    cli_text(to, sizeof to, o, "copied_to", "");
    cli_localtime(when, sizeof when, cli_text(iso, sizeof iso, o, "closed_at", ""), "");
    snprintf(b[5], sizeof b[5], "%s%s%s%s%s", state, *when ? " " : "", when, *to ? ", as " : "",
             to);
    vals[5] = b[5];
  }
  kv_block("", keys, vals, 6);
  printf("\nReason:\n");
  cli_wrap(stdout, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "reason")), 2,
           cli_term_width());
  const cJSON *values = cJSON_GetObjectItemCaseSensitive(o, "values");
  if (cJSON_IsObject(values)) {
    printf("\nValues as refused:\n");
    print_values(values);
  } else {
    printf("\nValues as refused: none kept (the row was no longer here when it was refused).\n");
  }
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(o, "lines");
  if (cJSON_IsArray(lines)) {
    /* one wrapped line each, so that they read at any width */
    const cJSON *ln;
    printf("\nLines:%s", cJSON_GetArraySize(lines) ? "\n" : " none\n");
    cJSON_ArrayForEach(ln, lines) {
      char sku[128], cur[16], price[64], pct[32], ref[64] = "", text[512];
      cli_text(sku, sizeof sku, ln, "sku", "-");
      cli_text(cur, sizeof cur, ln, "currency", "");
      cli_money(price, sizeof price, cli_int(ln, "unit_price", 0), cur);
      cli_pct(pct, sizeof pct, cli_int(ln, "discount_bp", 0));
      if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ln, "refusal")))
        snprintf(ref, sizeof ref, " (refused as #%lld)", (long long)cli_int(ln, "refusal", 0));
      snprintf(text, sizeof text, "- %s: %lld at %s, discount %s%s", sku,
               (long long)cli_int(ln, "qty", 0), price, pct, ref);
      cli_wrap(stdout, text, 2, cli_term_width());
    }
  }
  const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "state"));
  long long id = (long long)cli_int(o, "id", 0);
  char hint[512] = "";
  if (state && !strcmp(state, "open"))
    snprintf(hint, sizeof hint,
             "Copy it to one of your customers with 'fieldsync refused copy %lld [--customer C]', "
             "or close it once read with 'fieldsync refused dismiss %lld'.",
             id, id);
  else if (state && !strcmp(state, "dismissed"))
    snprintf(hint, sizeof hint,
             "It was dismissed; 'fieldsync refused copy %lld [--customer C]' still re-creates it "
             "for one of your customers.",
             id);
  if (*hint) {
    printf("\n");
    cli_wrap(stdout, hint, 0, cli_term_width());
  }
}

/* ------------------------------------------------------------ ids */

/* The refusal a person named: its number (3, #3), or the row id of exactly
 * one refusal (or a unique prefix of it, 6+ characters; among several of
 * one row, the open one).  Prints the error and returns it otherwise. */
static int resolve_refusal(cli_ctx *ctx, const char *text, long long *id) {
  const char *p = text[0] == '#' ? text + 1 : text;
  int digits = *p != '\0';
  for (const char *q = p; *q; q++)
    if (*q < '0' || *q > '9') digits = 0;
  if (digits && strlen(p) < 19) {
    *id = strtoll(p, NULL, 10);
    return CLI_OK;
  }
  size_t n = strlen(text);
  if (n < 6)
    return cli_usage("\"%.40s\" is neither the number of a refused change nor 6 or more "
                     "characters of its row id; 'fieldsync refused --all' lists them.",
                     text);
  char *doc = NULL;
  int rc = cli_view(ctx, "refused", "state=all", &doc);
  if (rc) return rc;
  cJSON *arr = cli_parse_doc(doc, "the refused changes");
  fs_free(doc);
  if (!arr) return CLI_EFAIL;
  const cJSON *it;
  long long found = 0, open = 0;
  int nfound = 0, nopen = 0;
  char list[256] = "";
  cJSON_ArrayForEach(it, arr) {
    const char *row = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "row"));
    if (!row || strncmp(row, text, n) != 0) continue;
    long long k = (long long)cli_int(it, "id", 0);
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "state"));
    size_t l = strlen(list);
    snprintf(list + l, sizeof list - l, "%s#%lld", l ? ", " : "", k);
    found = k;
    nfound++;
    if (st && !strcmp(st, "open")) {
      open = k;
      nopen++;
    }
  }
  cJSON_Delete(arr);
  if (nfound == 1 || nopen == 1) {
    *id = nfound == 1 ? found : open;
    return CLI_OK;
  }
  if (nfound == 0)
    return cli_fail("no refused change has a row id starting with \"%.40s\"; 'fieldsync refused "
                    "--all' lists them.",
                    text);
  return cli_fail("\"%.40s\" names several refused changes (%s); give the number.", text, list);
}

/* ------------------------------------------------------------ verbs */

static int refused_list(cli_ctx *ctx, int argc, char **argv) {
  int all = 0;
  const cli_opt opts[] = {{"all", 0, NULL, &all}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"refused", list_usage, opts, NULL, NULL, 0};
  cJSON *arr = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (!cli_view_doc(ctx, "refused", all ? "state=all" : NULL, "the refused changes", &arr, &rc))
    return rc;
  if (cJSON_GetArraySize(arr) == 0) {
    printf(all ? "Head office has refused nothing from this device.\n"
               : "No open refused changes ('fieldsync refused --all' also lists the dismissed "
                 "and copied ones).\n");
  } else {
    cli_print_refusals(arr, "", all);
    printf("\n");
    cli_wrap(stdout,
             "'fieldsync refused show N' shows every value; 'fieldsync refused copy N "
             "[--customer C]' re-creates an order or meeting for one of your customers; "
             "'fieldsync refused dismiss N' closes one once read.",
             0, cli_term_width());
  }
  cJSON_Delete(arr);
  return rc;
}

static int refused_show(cli_ctx *ctx, int argc, char **argv) {
  const char *text = NULL;
  static const char *const pos_names[] = {"the refused change ID"};
  cli_spec spec = {"refused show", show_usage, no_opts, pos_names, &text, 1};
  cJSON *o = NULL;
  long long id = 0;
  char arg[32];
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = resolve_refusal(ctx, text, &id))) return rc;
  snprintf(arg, sizeof arg, "%lld", id);
  if (!cli_view_doc(ctx, "refusal", arg, "a refused change", &o, &rc)) return rc;
  print_refusal(o);
  cJSON_Delete(o);
  return rc;
}

static int refused_copy(cli_ctx *ctx, int argc, char **argv) {
  const char *text = NULL, *customer = NULL;
  static const char *const pos_names[] = {"the refused change ID"};
  const cli_opt opts[] = {{"customer", 1, &customer, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"refused copy", copy_usage, opts, pos_names, &text, 1};
  char cust[FS_ID_SIZE] = "", newid[FS_ID_SIZE] = "";
  long long id = 0;
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (customer && !*customer)
    return cli_usage("refused copy: --customer needs a customer; see 'fieldsync refused copy "
                     "--help'.");
  if ((rc = resolve_refusal(ctx, text, &id))) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  if (!customer || (rc = cli_resolve(dev, "customers", customer, cust)) == CLI_OK) {
    int lrc = fs_refused_copy(newid, fs_device_store(dev), (int64_t)id, customer ? cust : NULL);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  return cli_print_id(ctx, newid);
}

static int refused_dismiss(cli_ctx *ctx, int argc, char **argv) {
  const char *text = NULL;
  static const char *const pos_names[] = {"the refused change ID"};
  cli_spec spec = {"refused dismiss", dismiss_usage, no_opts, pos_names, &text, 1};
  long long id = 0;
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = resolve_refusal(ctx, text, &id))) return rc;
  if ((rc = cli_open(ctx, &dev)) != CLI_OK) return rc;
  int lrc = fs_refused_dismiss(fs_device_store(dev), (int64_t)id);
  if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  fs_device_close(dev);
  if (rc != CLI_OK) return rc;
  if (!ctx->json) {
    printf("Refused change #%lld dismissed; 'fieldsync refused --all' still shows it.\n", id);
    return CLI_OK;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddNumberToObject(o, "id", (double)id) ||
      !cJSON_AddStringToObject(o, "state", "dismissed")) {
    cJSON_Delete(o);
    return cli_fail("out of memory.");
  }
  rc = cli_print_cjson(o);
  cJSON_Delete(o);
  return rc;
}

static const cli_sub subs[] = {{"list", refused_list},
                               {"show", refused_show},
                               {"copy", refused_copy},
                               {"dismiss", refused_dismiss},
                               {NULL, NULL}};

int cmd_refused(cli_ctx *ctx, int argc, char **argv) {
  /* the first word that is not a flag (or a flag's value) names the
   * command; without one it is the list */
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--home") || !strcmp(a, "--customer")) {
      i++;
      continue;
    }
    if (a[0] == '-') continue;
    for (const cli_sub *s = subs; s->name; s++) {
      if (strcmp(s->name, a) != 0) continue;
      /* drop the command's word, keep the flags around it */
      char **rest = malloc(sizeof *rest * (size_t)argc);
      int n = 0;
      if (!rest) return cli_fail("out of memory.");
      for (int j = 0; j < argc; j++)
        if (j != i) rest[n++] = argv[j];
      int rc = s->run(ctx, n, rest);
      free(rest);
      return rc;
    }
    break; /* not a command: the list's parser says what is wrong */
  }
  return refused_list(ctx, argc, argv);
}
