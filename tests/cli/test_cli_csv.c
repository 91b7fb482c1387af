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
 * and missing members empty; rows follow the first row's keys.
 */
#include "clikit.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

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

int main(void) {
  TEST_RUN(test_formulas_neutralised);
  TEST_RUN(test_text_unchanged);
  TEST_RUN(test_rows);
  return tu_finish();
}
