/*
 * output.c — how `fieldsync` prints: JSON verbatim, aligned tables and
 * key/value blocks for people, money and local times.
 *
 * --json output is the library's document as it came, plus one newline:
 * the CLI never reshapes what the acceptance tests compare.  Human output is
 * built from the same document (parsed with cJSON) and is for reading only.
 * Text that came from the store is untrusted here as everywhere: it may hold
 * newlines or terminal escapes typed or synced from another device, so every
 * cell has its control bytes replaced before it reaches the terminal, and
 * column widths are counted in terminal columns (cli_display_width: CJK and
 * emoji two, combining marks none), not bytes, so accented
 * names line up.  Very long cells are shortened in tables (never in --json).
 * Every list is printed by cli_print_rows from a column spec (heading, member,
 * formatter), so a list verb declares its columns and builds no table itself.
 * CSV for spreadsheets has one writer here (cli_csv_*), shared by both
 * programs, which neutralises text a spreadsheet would run as a formula.
 */
#include "clikit.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define CELL_MAX_CHARS 48 /* a table cell longer than this is shortened */

int cli_print_json(const char *doc) {
  size_t n = strlen(doc);
  fwrite(doc, 1, n, stdout);
  if (n == 0 || doc[n - 1] != '\n') fputc('\n', stdout);
  return CLI_OK;
}

int cli_print_cjson(const cJSON *v) {
  char *s = cJSON_PrintUnformatted(v);
  if (!s) return cli_fail("out of memory while printing JSON.");
  cli_print_json(s);
  cJSON_free(s);
  return CLI_OK;
}

cJSON *cli_parse_doc(const char *doc, const char *what) {
  cJSON *v = cJSON_Parse(doc);
  if (!v)
    cli_fail("the store returned %s that is not valid JSON; this is a bug, "
             "please report it.",
             what);
  return v;
}

int cli_finish(int rc) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    int e = errno;
    if (rc == CLI_OK) return cli_fail("cannot write the output: %s.", strerror(e ? e : EIO));
  }
  return rc;
}

/* Copies src into buf[cap] with control bytes made spaces and a cut on a
 * UTF-8 boundary when it does not fit. */
static void copy_clean(char *buf, size_t cap, const char *src) {
  size_t n = 0;
  if (cap == 0) return;
  for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
    if (n + 1 >= cap) break;
    buf[n++] = (char)((*p < 0x20 || *p == 0x7f) ? ' ' : *p);
  }
  while (n > 0 && src[n] && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
  buf[n] = '\0';
}

/* ------------------------------------------------------------ wrapping */

size_t cli_term_width(void) {
  const char *env = getenv("COLUMNS");
  if (env && *env) {
    char *end = NULL;
    long v = strtol(env, &end, 10);
    if (end && !*end && v >= 20 && v <= 10000) return (size_t)v;
  }
  struct winsize ws;
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  return 80;
}

/* Code points a terminal shows in two columns (East Asian wide and full
 * width, emoji) and in none (combining marks, zero-width and variation
 * selectors); sorted, inclusive.  A table of our own rather than
 * wcwidth(3), whose answer depends on the locale the program runs in. */
static const struct span {
  uint32_t lo, hi;
} wide[] = {{0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
            {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
            {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
            {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
            {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F5},   {0x26FA, 0x26FD},
            {0x2705, 0x2705},   {0x270A, 0x270B},   {0x2728, 0x2728},   {0x274C, 0x274C},
            {0x2753, 0x2755},   {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},
            {0x27BF, 0x27BF},   {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},
            {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
            {0xA000, 0xA4CF},   {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
            {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},
            {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A},
            {0x1F200, 0x1F251}, {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB},
            {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x3FFFD}},
  zero[] = {{0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD},  {0x05BF, 0x05BF},
            {0x05C1, 0x05C2}, {0x05C4, 0x05C5}, {0x05C7, 0x05C7},  {0x0610, 0x061A},
            {0x064B, 0x065F}, {0x0670, 0x0670}, {0x06D6, 0x06DC},  {0x06DF, 0x06E4},
            {0x06E7, 0x06E8}, {0x06EA, 0x06ED}, {0x0900, 0x0902},  {0x093C, 0x093C},
            {0x0941, 0x0948}, {0x094D, 0x094D}, {0x0E31, 0x0E31},  {0x0E34, 0x0E3A},
            {0x0E47, 0x0E4E}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},  {0x200B, 0x200F},
            {0x202A, 0x202E}, {0x2060, 0x2064}, {0x20D0, 0x20FF},  {0xFE00, 0xFE0F},
            {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF}};

static int in_spans(const struct span *t, size_t n, uint32_t c) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < t[mid].lo)
      hi = mid;
    else if (c > t[mid].hi)
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

size_t cli_display_width(const char *s, size_t n) {
  size_t w = 0;
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    uint32_t c = *p;
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (len > (size_t)(end - p)) len = (size_t)(end - p);
    if (len > 1) {
      c &= 0x3F >> (len - 1);
      for (size_t i = 1; i < len; i++) c = (c << 6) | (p[i] & 0x3F);
    }
    p += len;
    if (c >= 0x80 && in_spans(zero, sizeof zero / sizeof *zero, c)) continue;
    w += c >= 0x1100 && in_spans(wide, sizeof wide / sizeof *wide, c) ? 2 : 1;
  }
  return w;
}

/* Display width of s[0..n). */
static size_t width_n(const char *s, size_t n) { return cli_display_width(s, n); }

void cli_wrap(FILE *f, const char *text, size_t indent, size_t width) {
  size_t room = width > indent + 20 ? width - indent : 20, col = 0;
  const char *p = text ? text : "";
  int any = 0;
  for (;;) {
    while (*p && ((unsigned char)*p <= 0x20 || *p == 0x7f)) {
      if (*p == '\n' && any && col > 0) { /* a line break the text asks for */
        fputc('\n', f);
        col = 0;
      }
      p++;
    }
    if (!*p) break;
    const char *w = p;
    while (*p && (unsigned char)*p > 0x20 && *p != 0x7f) p++;
    size_t n = (size_t)(p - w), ww = width_n(w, n);
    if (any && col + 1 + ww > room) {
      fputc('\n', f);
      col = 0;
    }
    if (col == 0) {
      fprintf(f, "%*s", (int)indent, "");
    } else {
      fputc(' ', f);
      col++;
    }
    fwrite(w, 1, n, f); /* a word wider than the room stands whole on its line */
    col += ww;
    any = 1;
  }
  if (any) fputc('\n', f);
}

const char *cli_text(char *buf, size_t cap, const cJSON *obj, const char *key, const char *dflt) {
  const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (cJSON_IsString(v) && v->valuestring) {
    copy_clean(buf, cap, v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d > -9.0e15 && d < 9.0e15 && (double)(long long)d == d)
      snprintf(buf, cap, "%lld", (long long)d);
    else
      snprintf(buf, cap, "%g", d);
  } else if (cJSON_IsBool(v)) {
    snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "yes" : "no");
  } else {
    snprintf(buf, cap, "%s", dflt ? dflt : "");
  }
  return buf;
}

int64_t cli_int(const cJSON *obj, const char *key, int64_t dflt) {
  const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    return (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
  }
  if (cJSON_IsString(v) && v->valuestring) {
    char *end = NULL;
    long long x = strtoll(v->valuestring, &end, 10);
    if (end != v->valuestring && *end == '\0') return (int64_t)x;
  }
  return dflt;
}

const char *cli_money(char *buf, size_t cap, int64_t minor, const char *cur) {
  char m[40];
  fs_amount_format(m, minor, cur);
  if (cur && *cur)
    snprintf(buf, cap, "%s %s", m, cur);
  else
    snprintf(buf, cap, "%s", m);
  return buf;
}

const char *cli_localtime(char *buf, size_t cap, const char *iso, const char *dflt) {
  int64_t ms = 0;
  struct tm tm;
  if (!iso || !*iso) {
    snprintf(buf, cap, "%s", dflt ? dflt : "");
    return buf;
  }
  if (fs_time_parse(&ms, iso) == FS_OK) {
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    if (localtime_r(&t, &tm) && strftime(buf, cap, "%Y-%m-%d %H:%M", &tm) > 0) return buf;
  }
  copy_clean(buf, cap, iso);
  return buf;
}

const char *cli_pct(char *buf, size_t cap, int64_t bp) {
  long long w = (long long)(bp / 100), f = (long long)(bp % 100);
  if (f < 0) f = -f;
  if (f == 0)
    snprintf(buf, cap, "%lld%%", w);
  else if (f % 10 == 0)
    snprintf(buf, cap, "%lld.%lld%%", w, f / 10);
  else
    snprintf(buf, cap, "%lld.%02lld%%", w, f);
  return buf;
}

/* ------------------------------------------------------------ tables */

struct cli_table {
  size_t ncols, nrows, cap;
  unsigned right;
  char **cells; /* (nrows + 1) * ncols, row 0 = headings */
  char **notes; /* cap entries: a row's note (row r at r - 1), or NULL */
};

/* Display width in terminal columns (cli_display_width). */
static size_t width(const char *s) { return cli_display_width(s, strlen(s)); }

/* A cell copy: control bytes replaced, shortened past CELL_MAX_CHARS. */
static char *cell_dup(const char *s) {
  if (!s || !*s) s = "-";
  size_t n = strlen(s), cut = n, chars = 0;
  if (width(s) > CELL_MAX_CHARS)
    for (size_t i = 0; i < n; i++)
      if (((unsigned char)s[i] & 0xC0) != 0x80 && chars++ == CELL_MAX_CHARS - 3) {
        cut = i;
        break;
      }
  char *d = malloc(cut + 4);
  if (!d) {
    fprintf(stderr, "%s: out of memory.\n", cli_progname);
    exit(CLI_EFAIL);
  }
  for (size_t i = 0; i < cut; i++) {
    unsigned char c = (unsigned char)s[i];
    d[i] = (char)((c < 0x20 || c == 0x7f) ? ' ' : c);
  }
  if (cut < n)
    memcpy(d + cut, "...", 4);
  else
    d[cut] = '\0';
  return d;
}

cli_table *cli_table_new(size_t ncols, const char *const *heads, unsigned right_mask) {
  cli_table *t = calloc(1, sizeof *t);
  if (!t) {
    fprintf(stderr, "%s: out of memory.\n", cli_progname);
    exit(CLI_EFAIL);
  }
  t->ncols = ncols;
  t->right = right_mask;
  cli_table_add(t, heads);
  t->nrows = 0; /* the heading row is not counted */
  return t;
}

void cli_table_add(cli_table *t, const char *const *cells) {
  size_t used = (t->cells ? t->nrows + 1 : 0);
  if (used + 1 > t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 16;
    char **n = realloc(t->cells, nc * t->ncols * sizeof *n);
    if (!n) {
      fprintf(stderr, "%s: out of memory.\n", cli_progname);
      exit(CLI_EFAIL);
    }
    char **notes = realloc(t->notes, nc * sizeof *notes);
    if (!notes) {
      fprintf(stderr, "%s: out of memory.\n", cli_progname);
      exit(CLI_EFAIL);
    }
    for (size_t i = t->cap; i < nc; i++) notes[i] = NULL;
    t->cells = n;
    t->notes = notes;
    t->cap = nc;
  }
  for (size_t c = 0; c < t->ncols; c++) t->cells[used * t->ncols + c] = cell_dup(cells[c]);
  if (used > 0) t->nrows++;
}

void cli_table_note(cli_table *t, const char *text) {
  if (!t->nrows || !text || !*text) return;
  free(t->notes[t->nrows - 1]);
  t->notes[t->nrows - 1] = strdup(text);
  if (!t->notes[t->nrows - 1]) {
    fprintf(stderr, "%s: out of memory.\n", cli_progname);
    exit(CLI_EFAIL);
  }
}

size_t cli_table_rows(const cli_table *t) { return t->nrows; }

void cli_table_print(const cli_table *t, const char *indent) {
  size_t w[32] = {0};
  cli_table_print_page(t, indent, w, 1);
}

void cli_table_print_page(const cli_table *t, const char *indent, size_t *w, int first) {
  size_t nc = t->ncols < 32 ? t->ncols : 32;
  for (size_t r = 0; r <= t->nrows; r++)
    for (size_t c = 0; c < nc; c++) {
      size_t x = width(t->cells[r * t->ncols + c]);
      if (x > w[c]) w[c] = x;
    }
  for (size_t r = first ? 0 : 1; r <= t->nrows; r++) {
    fputs(indent ? indent : "", stdout);
    for (size_t c = 0; c < nc; c++) {
      const char *s = t->cells[r * t->ncols + c];
      size_t pad = w[c] - width(s);
      int right = (t->right >> c) & 1u;
      int last = c + 1 == nc;
      if (right) printf("%*s", (int)pad, "");
      fputs(s, stdout);
      if (!right && !last) printf("%*s", (int)pad, "");
      if (!last) fputs("  ", stdout);
    }
    fputc('\n', stdout);
    if (r > 0 && t->notes[r - 1])
      cli_wrap(stdout, t->notes[r - 1], strlen(indent ? indent : "") + 4, cli_term_width());
  }
}

void cli_table_free(cli_table *t) {
  if (!t) return;
  if (t->cells)
    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++) free(t->cells[i]);
  for (size_t i = 0; t->notes && i < t->cap; i++) free(t->notes[i]);
  free(t->notes);
  free(t->cells);
  free(t);
}

/* ------------------------------------------------------------ row tables */

const char *cli_cell_text(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                          const cJSON *doc) {
  (void)doc;
  return cli_text(buf, cap, row, col->key, col->dflt ? col->dflt : "-");
}

const char *cli_cell_time(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                          const cJSON *doc) {
  char iso[64];
  (void)doc;
  return cli_localtime(buf, cap, cli_text(iso, sizeof iso, row, col->key, ""),
                       col->dflt ? col->dflt : "-");
}

/* "orders", "customers.phone" for one refused cell, and for a line of an
 * order refused in the same list (doc) "order_lines of #3". */
const char *cli_cell_refusal_what(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                                  const cJSON *doc) {
  (void)col;
  const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "table"));
  const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "column"));
  const char *oid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(row, "values"), "order_id"));
  long long of = 0;
  const cJSON *it;
  if (t && !strcmp(t, "order_lines") && oid && cJSON_IsArray(doc)) {
    cJSON_ArrayForEach(it, doc) {
      const char *it_t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "table"));
      const char *it_r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "row"));
      if (it_t && it_r && !strcmp(it_t, "orders") && !strcmp(it_r, oid))
        of = (long long)cli_int(it, "id", 0);
    }
  }
  if (of)
    snprintf(buf, cap, "%s of #%lld", t, of);
  else
    snprintf(buf, cap, "%s%s%s", t ? t : "-", c ? "." : "", c ? c : "");
  return buf;
}

const char *cli_cell_refusal_customer(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                                      const cJSON *doc) {
  (void)col;
  (void)doc;
  cli_text(buf, cap, row, "customer_name", "");
  if (!*buf) cli_text(buf, cap, row, "customer_id", "-");
  return buf;
}

const char *cli_cell_int(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                         const cJSON *doc) {
  (void)doc;
  snprintf(buf, cap, "%lld", (long long)cli_int(row, col->key, 0));
  return buf;
}

const char *cli_cell_money(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                           const cJSON *doc) {
  char cur[16];
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(row, "currency") ? row : doc;
  cli_text(cur, sizeof cur, in, "currency", "");
  return cli_money(buf, cap, cli_int(row, col->key, 0), cur);
}

const char *cli_cell_pct(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                         const cJSON *doc) {
  (void)doc;
  return cli_pct(buf, cap, cli_int(row, col->key, 0));
}

size_t cli_print_rows(const cli_col *cols, size_t ncols, const cJSON *rows, const cJSON *doc,
                      const char *indent, const char *empty) {
  return cli_print_rows_noted(cols, ncols, rows, doc, indent, empty, NULL);
}

size_t cli_print_rows_noted(const cli_col *cols, size_t ncols, const cJSON *rows, const cJSON *doc,
                            const char *indent, const char *empty, const char *note_key) {
  const char *heads[CLI_ROWS_MAXCOLS];
  unsigned right = 0;
  const cJSON *r;
  assert(ncols > 0 && ncols <= CLI_ROWS_MAXCOLS);
  if (ncols > CLI_ROWS_MAXCOLS) ncols = CLI_ROWS_MAXCOLS;
  if (empty && cJSON_GetArraySize(rows) == 0) {
    fputs(empty, stdout);
    return 0;
  }
  for (size_t c = 0; c < ncols; c++) {
    heads[c] = cols[c].head;
    if (cols[c].right) right |= 1u << c;
  }
  cli_table *t = cli_table_new(ncols, heads, right);
  cJSON_ArrayForEach(r, rows) {
    char b[CLI_ROWS_MAXCOLS][256];
    const char *cells[CLI_ROWS_MAXCOLS];
    for (size_t c = 0; c < ncols; c++) {
      cli_cell_fn cell = cols[c].cell ? cols[c].cell : cli_cell_text;
      cells[c] = cell(b[c], sizeof b[c], r, &cols[c], doc);
    }
    cli_table_add(t, cells);
    if (note_key) cli_table_note(t, cJSON_GetStringValue(cJSON_GetObjectItem(r, note_key)));
  }
  size_t n = cli_table_rows(t);
  cli_table_print(t, indent);
  cli_table_free(t);
  return n;
}

void cli_print_section(const char *title, const cli_col *cols, size_t ncols, const cJSON *doc,
                       const char *member) {
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, member);
  printf("\n%s:%s", title, cJSON_GetArraySize(rows) ? "\n" : "");
  cli_print_rows(cols, ncols, rows, doc, "  ", " none\n");
}

void cli_kv_print(const char *const *keys, const char *const *values, size_t n,
                  const char *indent) {
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (width(keys[i]) > w) w = width(keys[i]);
  for (size_t i = 0; i < n; i++) {
    char v[1024];
    copy_clean(v, sizeof v, values[i] && *values[i] ? values[i] : "-");
    printf("%s%s%*s  %s\n", indent ? indent : "", keys[i], (int)(w - width(keys[i])), "", v);
  }
}

/* A deleted row's winning value is JSON null: say so rather than "-". */
static const char *winner_cell(char *buf, size_t cap, const cJSON *row, const cli_col *col,
                               const cJSON *doc) {
  if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, col->key))) return "(deleted)";
  return cli_cell_text(buf, cap, row, col, doc);
}

void cli_print_conflicts(const cJSON *arr) {
  static const cli_col cols[] = {
      {"ID", "id", NULL, NULL, 1},
      {"TABLE", "table", NULL, NULL, 0},
      {"ROW", "row", NULL, NULL, 0},
      {"COLUMN", "column", NULL, NULL, 0},
      {"WINNER", "winner", winner_cell, NULL, 0},
      {"LOSER", "loser", NULL, NULL, 0},
      {"DETECTED", "detected_at", cli_cell_time, NULL, 0},
      {"RESOLUTION", "resolution", NULL, NULL, 0},
  };
  cli_print_rows(cols, CLI_NCOLS(cols), arr, NULL, "", "No conflicts.\n");
}

/* ------------------------------------------------------------ CSV */

/* A spreadsheet runs a cell whose text starts with one of these as a
 * formula (=, + and - start arithmetic, @ a function in Lotus-compatible
 * mode; a leading tab, CR or LF is skipped by some of them before they
 * look).  OWASP's "CSV Injection" list, plus LF. */
static int csv_formula_start(unsigned char c) {
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r' || c == '\n';
}

void cli_csv_text(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  int neutralise = csv_formula_start(p[0]);
  int quote = neutralise || strpbrk((const char *)p, ",\"\r\n") != NULL;
  if (quote) fputc('"', f);
  if (neutralise) fputc('\'', f);
  for (; *p; p++) {
    unsigned char c = *p;
    if (c == '"') fputc('"', f);
    if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f) c = ' ';
    fputc(c, f);
  }
  if (quote) fputc('"', f);
}

void cli_csv_value(FILE *f, const cJSON *v) {
  if (cJSON_IsNumber(v)) {
    /* a number we print is data, never a formula: "-1250" stays a number */
    double d = v->valuedouble;
    if (d > -9.0e15 && d < 9.0e15 && (double)(long long)d == d)
      fprintf(f, "%lld", (long long)d);
    else
      fprintf(f, "%.17g", d);
  } else if (cJSON_IsString(v)) {
    cli_csv_text(f, v->valuestring);
  } else if (cJSON_IsBool(v)) {
    fputc(cJSON_IsTrue(v) ? '1' : '0', f);
  }
  /* null, missing: an empty cell */
}

void cli_csv_rows(FILE *f, const cJSON *rows) {
  const cJSON *first = cJSON_GetArrayItem(rows, 0), *row, *k;
  if (!cJSON_IsObject(first)) return;
  int n = 0;
  cJSON_ArrayForEach(k, first) {
    if (n++) fputc(',', f);
    cli_csv_text(f, k->string);
  }
  fputc('\n', f);
  cJSON_ArrayForEach(row, rows) {
    n = 0;
    cJSON_ArrayForEach(k, first) {
      if (n++) fputc(',', f);
      cli_csv_value(f, cJSON_GetObjectItemCaseSensitive(row, k->string));
    }
    fputc('\n', f);
  }
}
