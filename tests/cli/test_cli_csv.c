/*
 * test_cli_csv.c — the one CSV writer both programs use (cli/kit/output.c,
 * cli_csv_*), cell by cell.
 *
 * Covers: text a spreadsheet would run as a formula (first character = + -
 * @ tab CR LF) gets a leading single quote and is quoted; quotes are doubled
 * and cells with , " CR LF quoted (RFC 4180); other control bytes become
 * spaces; UTF-8 text and ordinary text pass unchanged; numbers, negative
 * ones included, are written bare (they are data, not formulas), even when
 * text spelling the same number is neutralised; true/false are 1/0, null
 * and missing members empty; rows follow the first row's keys.  And the
 * width a terminal gives text (cli_display_width: CJK and emoji two
 * columns, combining marks none) lines up a table of German, Chinese,
 * Arabic and emoji names.
 */
#include "clikit.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *text_cell(const char *s) {
  FILE *f = tmpfile();
  if (!f) abort();
  cli_csv_text(f, s);
  long n = ftell(f);
  rewind(f);
  char *buf = calloc(1, (size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) abort();
  fclose(f);
  return buf;
}

static char *rows_csv(const char *json) {
  cJSON *rows = cJSON_Parse(json);
  FILE *f = tmpfile();
  if (!rows || !f) abort();
  cli_csv_rows(f, rows);
  long n = ftell(f);
  rewind(f);
  char *buf = calloc(1, (size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) abort();
  fclose(f);
  cJSON_Delete(rows);
  return buf;
}

static void cell_at(int line, const char *in, const char *want) {
  char *got = text_cell(in);
  tu_checks++;
  if (strcmp(got, want) != 0)
    tu_fail(__FILE__, line, "cell of [%s]: got [%s], want [%s]", in, got, want);
  free(got);
}
#define CELL(in, want) cell_at(__LINE__, in, want)

static void test_formulas_neutralised(void) {
  CELL("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  CELL("=1+1", "\"'=1+1\"");
  CELL("+1", "\"'+1\"");
  CELL("@SUM(A1)", "\"'@SUM(A1)\"");
  CELL("-2+3", "\"'-2+3\"");
  CELL("-12.50", "\"'-12.50\""); /* text: the writer cannot tell it from a formula */
  CELL("\tTab GmbH", "\"'\tTab GmbH\"");
  CELL("\rCR AG", "\"'\rCR AG\"");
  CELL("\n=cmd", "\"'\n=cmd\"");
  CELL("+49 30 1234567", "\"'+49 30 1234567\"");
}

static void test_text_unchanged(void) {
  CELL("北京贸易有限公司", "北京贸易有限公司");
  CELL("Nordwind GmbH", "Nordwind GmbH");
  CELL("Müller & Söhne", "Müller & Söhne");
  CELL("a=b", "a=b"); /* only the first character matters */
  CELL("Tab\tinside", "Tab\tinside");
  CELL("", "");
  CELL(NULL, "");
  CELL("Smith, Jones", "\"Smith, Jones\"");
  CELL("say \"hi\"", "\"say \"\"hi\"\"\"");
  CELL("two\nlines", "\"two\nlines\"");
  CELL("esc\x1b[31mred", "esc [31mred");
}

static void test_rows(void) {
  char *csv = rows_csv("[{\"customer_name\":\"=HYPERLINK(\\\"http://x\\\",\\\"y\\\")\","
                       "\"currency\":\"EUR\",\"orders\":2,\"total\":-1250,\"ok\":true},"
                       "{\"customer_name\":\"北京贸易有限公司\",\"currency\":null,"
                       "\"orders\":0,\"total\":1.5,\"ok\":false},"
                       "{\"customer_name\":\"-2+3\"}]");
  CHECK_STR(csv, "customer_name,currency,orders,total,ok\n"
                 "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",EUR,2,-1250,1\n"
                 "北京贸易有限公司,,0,1.5,0\n"
                 "\"'-2+3\",,,,\n");
  free(csv);
  csv = rows_csv("[]");
  CHECK_STR(csv, "");
  free(csv);
}

static size_t dw(const char *s) { return cli_display_width(s, strlen(s)); }

static void test_display_width(void) {
  CHECK_EQ_INT(dw("Muller"), 6);
  CHECK_EQ_INT(dw("Müller"), 6);
  CHECK_EQ_INT(dw("Mu\xcc\x88ller"), 6); /* u + combining diaeresis */
  CHECK_EQ_INT(dw("北京贸易"), 8);
  CHECK_EQ_INT(dw("ｱ"), 1);    /* half-width katakana */
  CHECK_EQ_INT(dw("ＡＢ"), 4); /* full-width latin */
  CHECK_EQ_INT(dw("مرحبا"), 5);
  CHECK_EQ_INT(dw("😀"), 2);
  CHECK_EQ_INT(dw("a\xe2\x80\x8b"
                  "b"),
               2);                 /* a zero-width space */
  CHECK_EQ_INT(dw("\xe4\xb8"), 1); /* a cut character counts once */

  /* a table: every row's second column starts at the same display column */
  static const char *const names[] = {"Müller GmbH", "北京贸易有限公司", "شركة الخليج",
                                      "Emoji 😀 Café", "Kraus"};
  cJSON *rows = cJSON_CreateArray();
  for (size_t i = 0; i < 5; i++) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", names[i]);
    cJSON_AddStringToObject(r, "city", "X");
    cJSON_AddItemToArray(rows, r);
  }
  static const cli_col cols[] = {{"NAME", "name", NULL, NULL, 0}, {"CITY", "city", NULL, NULL, 0}};
  FILE *f = tmpfile();
  if (!f) abort();
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  dup2(fileno(f), STDOUT_FILENO);
  cli_print_rows(cols, CLI_NCOLS(cols), rows, NULL, "", "none\n");
  fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  cJSON_Delete(rows);
  long n = ftell(f);
  rewind(f);
  char *buf = calloc(1, (size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) abort();
  fclose(f);
  int lines = 0;
  size_t want = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    char *last = strrchr(line, ' '); /* before the last column's value */
    CHECK(last != NULL);
    if (!last) break;
    size_t at = cli_display_width(line, (size_t)(last - line) + 1);
    if (!lines++) want = at;
    tu_checks++;
    if (at != want)
      tu_fail(__FILE__, __LINE__, "misaligned: \"%s\" (%zu, not %zu)", line, at, want);
  }
  CHECK_EQ_INT(lines, 6);
  free(buf);
}

int main(void) {
  TEST_RUN(test_formulas_neutralised);
  TEST_RUN(test_text_unchanged);
  TEST_RUN(test_rows);
  TEST_RUN(test_display_width);
  return tu_finish();
}
