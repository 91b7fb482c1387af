/*
 * opts.c — argument parsing, validation and error reporting for `fieldsync`.
 *
 * One table-driven parser serves every verb (cli_parse): a verb declares its
 * flags (name, whether it takes a value, where to store it) and its
 * positional arguments, and gets back either "run" or an exit status with
 * the usage or the single error line already printed.  --help/-h, --home DIR
 * and --json are understood everywhere, before and after the verb;
 * "--flag=value" and "--flag value" are the same; "--" ends the flags.
 * --help wins over any other mistake on the same line, so a person who
 * typed something wrong and asks for help gets the help.
 *
 * The validators turn a person's text (quantity, percentage, time, date)
 * into what the library takes, and reject anything else with one sentence
 * naming the flag and saying what is accepted.  Every message goes through
 * emit(), which keeps it on one line: control bytes (a newline pasted into a
 * name, a terminal escape) are replaced so the "exactly one line" contract
 * holds whatever the input.
 */
#include "clikit.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *cli_progname = "fieldsync";

/* Writes "<program>: <msg>\n" to stderr with every control byte made a
 * space, so the message is exactly one line. */
static void emit(const char *msg) {
  fprintf(stderr, "%s: ", cli_progname);
  for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
    fputc((*p < 0x20 || *p == 0x7f) ? ' ' : *p, stderr);
  fputc('\n', stderr);
  fflush(stderr);
}

static void vemit(const char *fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  emit(buf);
}

int cli_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vemit(fmt, ap);
  va_end(ap);
  return CLI_EUSAGE;
}

int cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vemit(fmt, ap);
  va_end(ap);
  return CLI_EFAIL;
}

int cli_lib_fail(int rc) {
  const char *msg = fs_errmsg();
  if (!msg || !*msg) msg = fs_strerror(rc);
  if (!msg || !*msg) msg = "the operation failed";
  emit(msg);
  return CLI_EFAIL;
}

/* A person's argument quoted for a message: at most ~40 bytes, cut on a
 * UTF-8 character boundary, with "..." when shortened. */
static const char *quoted(char *buf, size_t cap, const char *text) {
  size_t n = strlen(text), max = 40;
  if (n <= max) {
    snprintf(buf, cap, "\"%s\"", text);
    return buf;
  }
  while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80) max--;
  snprintf(buf, cap, "\"%.*s...\"", (int)max, text);
  return buf;
}

static int global_flag(cli_ctx *ctx, const char *name, size_t nlen, const char *inline_val,
                       int argc, char **argv, int *i, char *err, size_t errcap) {
  if (nlen == 4 && memcmp(name, "json", 4) == 0) {
    if (inline_val)
      snprintf(err, errcap, "--json takes no value");
    else
      ctx->json = 1;
    return 1;
  }
  if (nlen == 4 && memcmp(name, "home", 4) == 0) {
    const char *v = inline_val;
    if (!v) {
      if (*i + 1 >= argc) {
        snprintf(err, errcap, "--home needs a directory");
        return 1;
      }
      v = argv[++*i];
    }
    if (!*v)
      snprintf(err, errcap, "--home needs a directory, not an empty string");
    else
      ctx->home = v;
    return 1;
  }
  return 0;
}

static int is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

int cli_parse(cli_ctx *ctx, const cli_spec *spec, int argc, char **argv, int *exit_out) {
  char err[512] = "";
  char q[64];
  size_t got = 0;
  int endopts = 0, help = 0;

  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (endopts || a[0] != '-' || a[1] == '\0') {
      if (got < spec->npos)
        spec->pos[got] = a;
      else if (!*err)
        snprintf(err, sizeof err, "unexpected argument %s", quoted(q, sizeof q, a));
      got++;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      endopts = 1;
      continue;
    }
    if (is_help(a)) {
      help = 1;
      continue;
    }
    if (a[1] != '-') {
      if (!*err) snprintf(err, sizeof err, "unknown option %s", quoted(q, sizeof q, a));
      continue;
    }
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const char *inline_val = eq ? eq + 1 : NULL;
    char gerr[128] = "";
    if (global_flag(ctx, name, nlen, inline_val, argc, argv, &i, gerr, sizeof gerr)) {
      if (*gerr && !*err) snprintf(err, sizeof err, "%s", gerr);
      continue;
    }
    const cli_opt *o = NULL;
    for (const cli_opt *p = spec->opts; p && p->name; p++)
      if (strlen(p->name) == nlen && memcmp(p->name, name, nlen) == 0) {
        o = p;
        break;
      }
    if (!o) {
      if (!*err)
        snprintf(err, sizeof err, "unknown option --%.*s", (int)(nlen > 40 ? 40 : nlen), name);
      continue;
    }
    if (!o->takes_value) {
      if (inline_val && !*err)
        snprintf(err, sizeof err, "--%s takes no value", o->name);
      else if (o->set)
        *o->set = 1;
      continue;
    }
    const char *v = inline_val;
    if (!v) {
      if (i + 1 >= argc) {
        if (!*err) snprintf(err, sizeof err, "--%s needs a value", o->name);
        continue;
      }
      v = argv[++i];
    }
    if (*o->value && !*err) snprintf(err, sizeof err, "--%s is given twice", o->name);
    *o->value = v;
  }

  if (help) {
    fputs(spec->usage, stdout);
    *exit_out = cli_finish(CLI_OK);
    return 1;
  }
  if (!*err && got < spec->npos) snprintf(err, sizeof err, "missing %s", spec->pos_names[got]);
  if (*err) {
    *exit_out = cli_usage("%s: %s; see '%s %s --help'.", spec->verb, err, cli_progname, spec->verb);
    return 1;
  }
  return 0;
}

int cli_dispatch(cli_ctx *ctx, const char *group, const char *usage, const cli_sub *subs, int argc,
                 char **argv) {
  int i = 0;
  char err[128] = "";
  /* global flags may sit between the group and its sub-command */
  while (i < argc && argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]) {
    const char *name = argv[i] + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    if (!global_flag(ctx, name, nlen, eq ? eq + 1 : NULL, argc, argv, &i, err, sizeof err)) break;
    if (*err) return cli_usage("%s; see '%s %s --help'.", err, cli_progname, group);
    i++;
  }
  if (i < argc && is_help(argv[i])) {
    fputs(usage, stdout);
    return cli_finish(CLI_OK);
  }
  if (i >= argc) {
    return cli_usage("'%s' needs a sub-command; see '%s %s --help'.", group, cli_progname, group);
  }
  for (const cli_sub *s = subs; s->name; s++)
    if (strcmp(s->name, argv[i]) == 0) return s->run(ctx, argc - i - 1, argv + i + 1);
  return cli_usage("unknown command '%s %.40s'; see '%s %s --help' for "
                   "the commands.",
                   group, argv[i], cli_progname, group);
}

/* ------------------------------------------------------------ validators */

int cli_parse_qty(int64_t *out, const char *flag, const char *text) {
  char q[64];
  int64_t v = 0;
  const char *p = text;
  if (!*p) goto bad;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') goto bad;
    v = v * 10 + (*p - '0');
    if (v > 1000000000) {
      return cli_usage("--%s %s is too large; the most is 1000000000.", flag,
                       quoted(q, sizeof q, text));
    }
  }
  if (v < 1) goto bad;
  *out = v;
  return CLI_OK;
bad:
  return cli_usage("--%s must be a whole number of at least 1 (got %s).", flag,
                   quoted(q, sizeof q, text));
}

int cli_parse_pct(int64_t *out_bp, const char *flag, const char *text) {
  char q[64];
  const char *p = text;
  int64_t whole = 0, frac = 0;
  int nd = 0, nf = 0;
  for (; *p >= '0' && *p <= '9'; p++, nd++) {
    if (nd >= 3) goto bad;
    whole = whole * 10 + (*p - '0');
  }
  if (nd == 0) goto bad;
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, nf++) {
      if (nf >= 2) goto bad;
      frac = frac * 10 + (*p - '0');
    }
    if (nf == 0) goto bad;
    if (nf == 1) frac *= 10;
  }
  if (*p == '%') p++;
  if (*p) goto bad;
  if (whole * 100 + frac > 10000) goto bad;
  *out_bp = whole * 100 + frac;
  return CLI_OK;
bad:
  return cli_usage("--%s must be a percentage from 0 to 100 with at most two "
                   "decimals, like 5 or 2.5 (got %s).",
                   flag, quoted(q, sizeof q, text));
}

static int bad_time(const char *flag, const char *text) {
  char q[64];
  return cli_usage("--%s %s is not a date or time; use \"YYYY-MM-DD HH:MM\" "
                   "(local time), \"YYYY-MM-DD\" or ISO-8601 such as "
                   "2026-01-05T08:00:00Z.",
                   flag, quoted(q, sizeof q, text));
}

int cli_parse_time(char out[32], const char *flag, const char *text) {
  int64_t ms = 0;
  if (fs_time_parse(&ms, text) != FS_OK) return bad_time(flag, text);
  fs_time_format(out, ms);
  return CLI_OK;
}

int cli_parse_date(char out[11], const char *flag, const char *text) {
  int64_t ms = 0;
  struct tm tm;
  if (fs_time_parse(&ms, text) != FS_OK) return bad_time(flag, text);
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
  if (!localtime_r(&t, &tm) || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
    return bad_time(flag, text);
  return CLI_OK;
}

int cli_parse_choice(const char *what, const char *text, const char *const *allowed) {
  char q[64], list[256] = "";
  size_t n = 0;
  for (const char *const *a = allowed; *a; a++)
    if (strcmp(*a, text) == 0) return CLI_OK;
  for (const char *const *a = allowed; *a; a++)
    n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s",
                          a == allowed ? "" : (a[1] ? ", " : " or "), *a);
  return cli_usage("%s must be %s (got %s).", what, list, quoted(q, sizeof q, text));
}

int cli_parse_enum(const char *flag, const char *text, const char *const *allowed) {
  char what[80];
  snprintf(what, sizeof what, "--%s", flag);
  return cli_parse_choice(what, text, allowed);
}

int cli_parse_currency(char out[4], const char *flag, const char *text) {
  char q[64];
  if (strlen(text) != 3 || !isalpha((unsigned char)text[0]) || !isalpha((unsigned char)text[1]) ||
      !isalpha((unsigned char)text[2]))
    return cli_usage("--%s must be a three-letter ISO code such as EUR (got %s).", flag,
                     quoted(q, sizeof q, text));
  for (int i = 0; i < 3; i++) out[i] = (char)toupper((unsigned char)text[i]);
  out[3] = '\0';
  return CLI_OK;
}

int cli_check_id(const char *flag, const char *text) {
  char q[64];
  if (!*text) return cli_usage("--%s needs an id, not an empty string.", flag);
  for (const unsigned char *p = (const unsigned char *)text; *p; p++)
    if (*p == '&' || *p == '=' || *p < 0x20 || *p == 0x7f)
      return cli_usage("--%s %s is not an id.", flag, quoted(q, sizeof q, text));
  return CLI_OK;
}

int cli_take_doc(cli_ctx *ctx, char *doc, const char *what, cJSON **out, int *rc) {
  *out = NULL;
  if (ctx->json) {
    *rc = cli_print_json(doc);
    fs_free(doc);
    return 0;
  }
  *out = cli_parse_doc(doc, what);
  fs_free(doc);
  *rc = *out ? CLI_OK : CLI_EFAIL;
  return *out != NULL;
}
