/*
 * clikit.h — the command-line toolkit both programs link: `fieldsync` on a
 * manager's laptop and `fieldsync-server` at head office.
 *
 * A table-driven option parser (cli_parse, cli_dispatch), one-line error
 * reporting, validators for what people type (quantities, percentages,
 * times, dates), and output: library JSON verbatim, aligned tables,
 * key/value blocks, money, local times and CSV.  Invariants every program
 * built on it keeps:
 *  - exit 0 on success, CLI_EUSAGE (2) for a usage error, CLI_EFAIL (1) for
 *    anything else;
 *  - a failure prints exactly one line on stderr, "<program>: <sentence>",
 *    and nothing on stdout;
 *  - output is built completely before any of it is printed, so a failure
 *    half-way never leaves half a table or half a JSON document.
 * It uses only <fieldsync/fieldsync.h> (errors, money, time) and cJSON; it
 * knows nothing of devices or head office.
 */
#ifndef FS_CLIKIT_H
#define FS_CLIKIT_H

#include <fieldsync/fieldsync.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

/* The program name that starts every error line ("fieldsync"); the server
 * command sets "fieldsync-server". */
extern const char *cli_progname;

#define CLI_OK 0
#define CLI_EFAIL 1
#define CLI_EUSAGE 2

/* State common to every verb: where the store lives and how to print. */
typedef struct cli_ctx {
  const char *home; /* --home, else $FIELDSYNC_HOME, else ~/.fieldsync */
  int json;         /* --json given */
  char *home_buf;   /* owned storage behind home when it was computed */
} cli_ctx;

/* One row of a verb's option table.  A flag with a value stores a borrowed
 * argv pointer into *value; a flag without one sets *set to 1.  Giving a
 * valued flag twice is a usage error (which one was meant is not clear). */
typedef struct cli_opt {
  const char *name; /* long name without the dashes: "name" for --name */
  int takes_value;
  const char **value;
  int *set;
} cli_opt;

/* A verb's argument grammar: its name for messages ("customer add"), its
 * usage text (printed on --help), its flags (terminated by a {NULL} row)
 * and its positional arguments (names for messages, destinations; `npos`
 * of them, all required).  --help/-h, --home DIR and --json are accepted by
 * every verb and need not be listed. */
typedef struct cli_spec {
  const char *verb;
  const char *usage;
  const cli_opt *opts;
  const char *const *pos_names;
  const char **pos;
  size_t npos;
} cli_spec;

/* Parses argv[0..argc) (the words after the verb).  Returns 0 when the verb
 * should run; otherwise it has printed what was needed (usage on --help, or
 * one error line) and returns 1 with the process exit status in *exit_out. */
int cli_parse(cli_ctx *ctx, const cli_spec *spec, int argc, char **argv, int *exit_out);

/* A sub-command group ("customer add|edit|..."): dispatches argv[0] to the
 * matching handler, prints the group usage for --help, and reports an unknown
 * or missing sub-command as a usage error. */
typedef int (*cli_handler)(cli_ctx *ctx, int argc, char **argv);
typedef struct cli_sub {
  const char *name;
  cli_handler run;
} cli_sub;
int cli_dispatch(cli_ctx *ctx, const char *group, const char *usage, const cli_sub *subs, int argc,
                 char **argv);

/* Error reporting: one line "fieldsync: ..." on stderr.  cli_usage returns
 * CLI_EUSAGE, cli_fail returns CLI_EFAIL, cli_lib_fail prints fs_errmsg()
 * (or the code's fs_strerror when the library gave no sentence) and returns
 * CLI_EFAIL. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_lib_fail(int rc);

/* A library document for a command's output: with --json it is printed as
 * it is and 0 is returned (the command is done; *rc is its exit status);
 * otherwise it is parsed into *out (cJSON_Delete it) and the result is 1.
 * Consumes doc (fs_free).  `what` names the document in messages ("a
 * customer list"). */
int cli_take_doc(cli_ctx *ctx, char *doc, const char *what, cJSON **out, int *rc);

/* Argument validators: each returns 0, or prints a usage error naming the
 * flag and returns CLI_EUSAGE. */
int cli_parse_qty(int64_t *out, const char *flag, const char *text);
/* "5", "2.5", "12.25" percent (0..100, at most two decimals) -> basis points */
int cli_parse_pct(int64_t *out_bp, const char *flag, const char *text);
/* a time a person typed -> ISO-8601 UTC text in out[32] */
int cli_parse_time(char out[32], const char *flag, const char *text);
/* a date (or time) -> local calendar date "YYYY-MM-DD" in out[11] */
int cli_parse_date(char out[11], const char *flag, const char *text);
/* one of a NULL-terminated list of words */
int cli_parse_enum(const char *flag, const char *text, const char *const *allowed);
/* The same for a positional word: "`what` must be a, b or c (got "x")."
 * (what: "the report"). */
int cli_parse_choice(const char *what, const char *text, const char *const *allowed);
/* A three-letter ISO currency code, upper-cased into out. */
int cli_parse_currency(char out[4], const char *flag, const char *text);
/* an id as it may appear in a view argument (no '&', '=', control bytes) */
int cli_check_id(const char *flag, const char *text);

/* ------------------------------------------------------------ output */

/* Prints a library JSON document verbatim plus a newline; frees nothing. */
int cli_print_json(const char *doc);
/* Prints a cJSON value compactly plus a newline. */
int cli_print_cjson(const cJSON *v);
/* Parses a library document; on failure prints an error and returns NULL. */
cJSON *cli_parse_doc(const char *doc, const char *what);
/* Flushes stdout and reports a write failure (disk full, closed pipe). */
int cli_finish(int rc);

/* Text of member `key` of obj for a person: strings as they are (control
 * bytes replaced), numbers as integers, true/false as yes/no, null or missing
 * as `dflt`.  Written into buf[cap]; returns buf. */
const char *cli_text(char *buf, size_t cap, const cJSON *obj, const char *key, const char *dflt);
/* Integer member (minor units, counts); `dflt` when missing or not a number. */
int64_t cli_int(const cJSON *obj, const char *key, int64_t dflt);
/* "1 234.50 EUR" of minor units into buf[cap]. */
const char *cli_money(char *buf, size_t cap, int64_t minor, const char *cur);
/* "YYYY-MM-DD HH:MM" local time of an ISO text (the text itself when it does
 * not parse, `dflt` when NULL/empty). */
const char *cli_localtime(char *buf, size_t cap, const char *iso, const char *dflt);
/* "5%", "2.5%" of basis points. */
const char *cli_pct(char *buf, size_t cap, int64_t bp);

/* The width to wrap text at: $COLUMNS when it is a number (20 or more),
 * else the terminal's width when stdout is one, else 80. */
size_t cli_term_width(void);
/* Prints text word-wrapped to lines of at most `width` characters, each
 * after `indent` spaces, ending with a newline (nothing for empty text).
 * Nothing is ever cut: a word longer than the room stands whole on a line
 * of its own.  A newline in the text starts a new line; other control
 * bytes count as spaces. */
void cli_wrap(FILE *f, const char *text, size_t indent, size_t width);

/* An aligned text table: rows are copied in, widths computed on print. */
typedef struct cli_table cli_table;
cli_table *cli_table_new(size_t ncols, const char *const *heads, unsigned right_mask);
/* Appends a row of ncols cells (NULL cells print as "-"). */
void cli_table_add(cli_table *t, const char *const *cells);
/* Attaches a note to the row added last (copied; empty or NULL: none): it
 * is printed under the row, word-wrapped at the terminal's width and
 * indented past the table's indent, whole however long (cli_wrap). */
void cli_table_note(cli_table *t, const char *text);
size_t cli_table_rows(const cli_table *t);
void cli_table_print(const cli_table *t, const char *indent);
/* A table printed in pages as its rows arrive: widths[ncols] (zeroed by the
 * caller before the first page) only grow, so a page is at least as wide as
 * the pages before it; the headings are printed with the first page only. */
void cli_table_print_page(const cli_table *t, const char *indent, size_t *widths, int first);
void cli_table_free(cli_table *t);

/* A list verb's table, declared instead of built: one cli_col per column,
 * applied to every object of a JSON array by cli_print_rows. */
typedef struct cli_col cli_col;
/* Writes the cell of `col` for `row` into buf[cap] and returns the text to
 * show (buf, or a constant).  `doc` is the document the rows came from, or
 * NULL, for what the rows share (an order's currency for its lines). */
typedef const char *(*cli_cell_fn)(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                                   const cJSON *doc);
struct cli_col {
  const char *head; /* heading, "NAME" */
  const char *key;  /* the member of each row this column shows */
  cli_cell_fn cell; /* how it is shown; NULL is cli_cell_text */
  const char *dflt; /* text and time cells: shown when the member is missing
                     * or null; NULL is "-" */
  int right;        /* right-aligned (counts, money, percentages) */
};
/* The member as cli_text shows it. */
const char *cli_cell_text(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                          const cJSON *doc);
/* An ISO time member as local "YYYY-MM-DD HH:MM" (cli_localtime). */
const char *cli_cell_time(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                          const cJSON *doc);
/* An integer member as a number (0 when missing). */
const char *cli_cell_int(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                         const cJSON *doc);
/* A refused change's "table" (and ".column"), and for a line of an order
 * refused in the same list (doc, an array of refusals) "order_lines of #3". */
const char *cli_cell_refusal_what(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                                  const cJSON *doc);
/* A refused change's customer: its name as it was known, else its id. */
const char *cli_cell_refusal_customer(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                                      const cJSON *doc);
/* Minor units (0 when missing) as money in the row's "currency", or in
 * doc's when the row has none. */
const char *cli_cell_money(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                           const cJSON *doc);
/* Basis points (0 when missing) as a percentage. */
const char *cli_cell_pct(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                         const cJSON *doc);
/* Prints the objects of `rows` as an aligned table of cols[0..ncols) (at
 * most CLI_ROWS_MAXCOLS), every line after `indent`.  When there are none
 * (rows empty or NULL) it prints `empty` as it is instead, newline included,
 * or the headings alone when empty is NULL.  Returns the number of rows. */
#define CLI_ROWS_MAXCOLS 16
/* The columns a terminal shows s[0..n) (UTF-8) in: East Asian wide and
 * full-width characters and emoji two, combining marks and zero-width
 * characters none, everything else one; independent of the locale. */
size_t cli_display_width(const char *s, size_t n);
/* The number of columns of a cli_col array. */
#define CLI_NCOLS(cols) (sizeof(cols) / sizeof((cols)[0]))
size_t cli_print_rows(const cli_col *cols, size_t ncols, const cJSON *rows, const cJSON *doc,
                      const char *indent, const char *empty);
/* cli_print_rows with a note under each row: the row's string member
 * `note_key` (a reason, a sentence), whole and word-wrapped (cli_wrap). */
size_t cli_print_rows_noted(const cli_col *cols, size_t ncols, const cJSON *rows, const cJSON *doc,
                            const char *indent, const char *empty, const char *note_key);
/* A titled part of a `show` of doc: "\nTitle:" then the table of the rows in
 * doc's array `member` indented two spaces, or " none" on the title line
 * when there are none.  The formatters get doc. */
void cli_print_section(const char *title, const cli_col *cols, size_t ncols, const cJSON *doc,
                       const char *member);

/* CSV (RFC 4180, UTF-8) for spreadsheets: the one writer every --csv output
 * goes through.  Numbers are written as numbers (a negative total stays
 * -1250); text is written as it is, except that a cell that a spreadsheet
 * would run as a formula (first character = + - @ tab CR LF) is prefixed
 * with a single quote and quoted, so `=HYPERLINK(...)` arrives as text (see
 * docs/security.md, "CSV exports").  Cells holding , " CR or LF are quoted
 * with "" doubling; other control bytes become spaces. */
void cli_csv_text(FILE *f, const char *s);
/* One cell from a JSON value: number, text, true/false as 1/0, null empty. */
void cli_csv_value(FILE *f, const cJSON *v);
/* An array of objects with the same keys: a header row of the first
 * object's keys, then one row per object, each ended by LF (as before;
 * every spreadsheet reads it).  Nothing at all for an empty array. */
void cli_csv_rows(FILE *f, const cJSON *rows);

/* The conflict log (the "conflicts" view) as a table, or "No conflicts." */
void cli_print_conflicts(const cJSON *arr);

/* "key  value" lines with the keys padded to one width. */
void cli_kv_print(const char *const *keys, const char *const *values, size_t n, const char *indent);

#endif
