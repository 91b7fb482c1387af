/*
 * test_e2e_csv.c — formula injection through a CSV export, end to end: a
 * device names its customers like spreadsheet formulas, syncs, and head
 * office's `report ... --by customer --csv` must deliver them as text.
 *
 * Covers: customers named =HYPERLINK("http://x","y"), +1, @SUM(A1), -2+3,
 * "<TAB>Tab GmbH" and "<CR>CR AG" come out prefixed with a single quote and
 * quoted (RFC 4180, inner quotes doubled); 北京贸易有限公司 and a plain
 * name come out byte for byte as typed; the numeric columns (counts, order
 * totals in minor units) stay bare numbers; the header row is unchanged.
 * The CSV writer itself (cli/kit/output.c) is checked cell by cell in
 * tests/cli/test_cli_csv.c.  test_report_local_month: --month in head
 * office's local calendar and --tz.
 */
#include "e2e.h"

#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name; /* as typed on the device */
  const char *cell; /* as the CSV cell must read */
} k_names[] = {
    {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
    {"+1", "\"'+1\""},
    {"@SUM(A1)", "\"'@SUM(A1)\""},
    {"-2+3", "\"'-2+3\""},
    {"\tTab GmbH", "\"'\tTab GmbH\""},
    {"\rCR AG", "\"'\rCR AG\""},
    {"北京贸易有限公司", "北京贸易有限公司"},
    {"Nordwind GmbH", "Nordwind GmbH"},
};
#define NNAMES (sizeof k_names / sizeof k_names[0])

/* The line of `csv` that starts with `id,`, copied into out[cap] (no LF). */
static int line_of(const char *csv, const char *id, char *out, size_t cap) {
  size_t idn = strlen(id);
  for (const char *p = csv; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (n > idn && !strncmp(p, id, idn) && p[idn] == ',') {
      snprintf(out, cap, "%.*s", (int)n, p);
      return 1;
    }
    p = nl ? nl + 1 : NULL;
  }
  return 0;
}

static void test_report_csv(void) {
  char *dir = tu_tmpdir("e2e-csv");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, ids[NNAMES][64];
  if (!s || e2e_server_start(s, 0)) goto done;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  SYNC(a); /* the catalog and prices */
  for (size_t i = 0; i < NNAMES; i++) {
    char mid[64], ord[64], line[64];
    ADD(a, ids[i], "customer", "add", "--name", k_names[i].name);
    ADD(a, mid, "meeting", "add", "--customer", ids[i], "--at", "2026-03-10 10:30", "--kind",
        "visit");
    ADD(a, ord, "order", "new", "--customer", ids[i]);
    ADD(a, line, "order", "line", ord, "--sku", "CHAIR-01", "--qty", "2");
    FS_RUN(a, "order", "submit", ord);
  }
  SYNC(a);

  char *csv = e2e_hq_ok(__LINE__, s, ARGS("report", "meetings", "--by", "customer", "--csv"));
  CHECK(csv && !strncmp(csv, "customer_id,customer_name,meetings,visits,calls,exhibitions\n", 60));
  for (size_t i = 0; csv && i < NNAMES; i++) {
    char got[512], want[1200];
    snprintf(want, sizeof want, "%s,%s,1,1,0,0", ids[i], k_names[i].cell);
    tu_checks++;
    if (!line_of(csv, ids[i], got, sizeof got))
      tu_fail(__FILE__, __LINE__, "no row for %s in:\n%s", k_names[i].name, csv);
    else if (strcmp(got, want) != 0)
      tu_fail(__FILE__, __LINE__, "meetings row of %s:\n got %s\nwant %s", k_names[i].name, got,
              want);
  }
  free(csv);

  /* the orders report: its money column is a number, never prefixed */
  cJSON *rep = HQ_JSON(s, "report", "orders", "--by", "customer", "--json");
  csv = e2e_hq_ok(__LINE__, s, ARGS("report", "orders", "--by", "customer", "--csv"));
  CHECK(csv && !strncmp(csv, "customer_id,customer_name,currency,orders,total\n", 48));
  const cJSON *r;
  size_t seen = 0;
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(rep, "rows")) {
    const char *id = e2e_str(r, "customer_id");
    for (size_t i = 0; id && csv && i < NNAMES; i++) {
      if (strcmp(id, ids[i])) continue;
      char got[512], want[1200];
      snprintf(want, sizeof want, "%s,%s,EUR,1,%lld", ids[i], k_names[i].cell, e2e_int(r, "total"));
      CHECK(e2e_int(r, "total") > 0);
      CHECK(line_of(csv, ids[i], got, sizeof got));
      CHECK_STR(got, want);
      seen++;
    }
  }
  CHECK_EQ_INT(seen, NNAMES);
  cJSON_Delete(rep);
  free(csv);
done:
  free(a);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* Head office's --month is its local calendar: a visit at 23:30 UTC on 31
 * March is April's in Berlin (UTC+2 then) and March's in UTC; --tz names
 * the zone, an unknown zone is refused in one line. */
static int meetings_in(const e2e_server *s, const char *month, const char *zone) {
  cJSON *rep = e2e_hq_json(__LINE__, s,
                           ARGS("report", "meetings", "--month", month, "--tz", zone, "--json"));
  int n = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(rep, "rows")) n +=
      e2e_int(it, "meetings");
  if (rep) CHECK_STR(e2e_str(rep, "time_zone"), zone);
  cJSON_Delete(rep);
  return n;
}

static void test_report_local_month(void) {
  char *dir = tu_tmpdir("e2e-month");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, cust[64], m1[64], m2[64];
  if (!s || e2e_server_start(s, 0)) goto done;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  ADD(a, cust, "customer", "add", "--name", "Spree Handel GmbH", "--city", "Berlin");
  ADD(a, m1, "meeting", "add", "--customer", cust, "--at", "2026-03-31T23:30:00Z");
  ADD(a, m2, "meeting", "add", "--customer", cust, "--at", "2026-03-15T10:00:00Z");
  SYNC(a);
  CHECK_EQ_INT(meetings_in(s, "2026-04", "Europe/Berlin"), 1);
  CHECK_EQ_INT(meetings_in(s, "2026-03", "Europe/Berlin"), 1);
  CHECK_EQ_INT(meetings_in(s, "2026-04", "UTC"), 0);
  CHECK_EQ_INT(meetings_in(s, "2026-03", "UTC"), 2);
  CHECK_EQ_INT(meetings_in(s, "2026-03", "America/New_York"), 2);
  char *out = NULL, *err = NULL;
  CHECK_EQ_INT(e2e_hq(s, &out, &err, ARGS("report", "meetings", "--tz", "Mars/Olympus")), 2);
  CHECK(err && e2e_one_line(err, "fieldsync-server: "));
  CHECK_CONTAINS(err, "not a time zone");
  free(out);
  free(err);
  out = e2e_hq_ok(__LINE__, s,
                  ARGS("report", "meetings", "--month", "2026-04", "--tz", "Europe/Berlin"));
  CHECK_CONTAINS(out, "meetings, 2026-04 (Europe/Berlin)");
  free(out);
done:
  free(a);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_report_csv);
  TEST_RUN(test_report_local_month);
  e2e_stop_all();
  return tu_finish();
}
