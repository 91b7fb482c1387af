/*
 * test_cli_offline.c — the offline day of a field manager, through the real
 * `fieldsync` binary in a temporary home.
 *
 * init; a customer; the catalog, prices and an overdue balance seeded
 * through the head-office path (tu_seed_catalog, never a device write); a
 * contact; an exhibition meeting typed in local time; an order with several
 * lines, submitted; totals; export --json.  Then every kind of bad input a
 * person can type (unknown customer, unparseable date, bad quantity, 5,000-
 * byte name, invalid UTF-8, a corrupt store, head-office verbs, --json on a
 * failing command) must give exactly one "fieldsync: ..." line on stderr,
 * nothing on stdout, a non-zero exit, and leave `export --json` byte for
 * byte as it was.  Every verb's --help exits 0 with usage on stdout, and
 * --version prints the version of the library it runs on.
 *
 * The tests run with TZ=Europe/Berlin so that "local time" differs from UTC
 * and a missing conversion shows.
 */
#include "seed.h"
#include "clitest.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define UNKNOWN_ID "01900000-0000-7000-8000-000000000000"

static char g_cust[64];   /* the customer */
static char g_order1[64]; /* submitted order */
static char g_order2[64]; /* draft order */
static char g_device[64];

/* ------------------------------------------------------------ cases */

static void test_help(void) {
  static const char *const verbs[][4] = {
      {"--help"},
      {"customer", "--help"},
      {"customer", "add", "--help"},
      {"customer", "edit", "--help"},
      {"customer", "list", "--help"},
      {"customer", "show", "--help"},
      {"contact", "--help"},
      {"contact", "add", "--help"},
      {"meeting", "--help"},
      {"meeting", "add", "--help"},
      {"meeting", "list", "--help"},
      {"order", "--help"},
      {"order", "new", "--help"},
      {"order", "line", "--help"},
      {"order", "submit", "--help"},
      {"order", "list", "--help"},
      {"order", "show", "--help"},
      {"product", "--help"},
      {"product", "list", "--help"},
      {"status", "--help"},
      {"conflicts", "--help"},
      {"conflicts", "resolve", "--help"},
      {"export", "--help"},
      {"init", "--help"},
      {"order", "line", "-h"},
      {"order", "line", "edit", "--help"},
      {"order", "line", "remove", "--help"},
      {"order", "cancel", "--help"},
      {"customer", "archive", "--help"},
      {"customer", "delete", "--help"},
      {"contact", "list", "--help"},
      {"contact", "edit", "--help"},
      {"contact", "delete", "--help"},
      {"meeting", "edit", "--help"},
      {"meeting", "delete", "--help"},
      {"customer", "find", "--help"},
      {"complaint", "--help"},
      {"complaint", "add", "--help"},
      {"complaint", "list", "--help"},
      {"complaint", "resolve", "--help"},
      {"complaint", "edit", "--help"},
      {"competitor", "--help"},
      {"competitor", "add", "--help"},
      {"competitor", "list", "--help"},
  };
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
    const char *argv[6] = {"fieldsync", NULL, NULL, NULL, NULL, NULL};
    char *out = NULL, *err = NULL;
    for (size_t j = 0; j < 4 && verbs[i][j]; j++) argv[j + 1] = verbs[i][j];
    int rc = tu_run(&out, &err, argv);
    tu_checks += 3;
    if (rc != 0)
      tu_fail(__FILE__, __LINE__, "%s %s: exit %d", verbs[i][0], verbs[i][1] ? verbs[i][1] : "",
              rc);
    if (!out || !strstr(out, "Usage: fieldsync"))
      tu_fail(__FILE__, __LINE__, "%s %s: no usage on stdout", verbs[i][0],
              verbs[i][1] ? verbs[i][1] : "");
    if (!err || *err) tu_fail(__FILE__, __LINE__, "%s: stderr not empty: %s", verbs[i][0], err);
    free(out);
    free(err);
  }
  /* --help wins over a mistake on the same line */
  char *out = NULL;
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "order", "line", "--qty", "abc", "--help")), 0);
  CHECK_CONTAINS(out, "--qty N");
  free(out);
}

/* --version names the library the program was built with, in any position
 * before the verb and as JSON with --json. */
static void test_version(void) {
  char *out = NULL, *err = NULL, want[64];
  snprintf(want, sizeof want, "fieldsync %s\n", FS_VERSION_STRING);
  CHECK_STR(fs_version(), FS_VERSION_STRING);
  CHECK_EQ_INT(tu_run(&out, &err, ARGS("fieldsync", "--version")), 0);
  CHECK_STR(out, want);
  CHECK_STR(err, "");
  free(out);
  free(err);
  out = NULL;
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "--home", "/nonexistent", "--version")), 0);
  CHECK_STR(out, want);
  free(out);
  out = NULL;
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "--version", "--json")), 0);
  cJSON *doc = ct_json_doc(out);
  CHECK_STR(str_of(doc, "version"), FS_VERSION_STRING);
  cJSON_Delete(doc);
  free(out);
  out = NULL;
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "--help")), 0);
  CHECK_CONTAINS(out, "--version");
  free(out);
}

static void test_usage_errors(void) {
  static const char *const cases[][5] = {
      {"fieldsync"},
      {"fieldsync", "frobnicate"},
      {"fieldsync", "product", "add", "--sku", "X"},
      {"fieldsync", "customer"},
      {"fieldsync", "customer", "add"},
      {"fieldsync", "customer", "add", "--name"},
      {"fieldsync", "customer", "list", "--bogus"},
      {"fieldsync", "customer", "show"},
      {"fieldsync", "export"},
      {"fieldsync", "order", "line", "X", "--qty"},
      {"fieldsync", "init"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out = NULL, *err = NULL;
    int rc = tu_run(&out, &err, cases[i]);
    tu_checks += 3;
    if (rc != 2)
      tu_fail(__FILE__, __LINE__, "case %zu (%s): exit %d, want 2", i,
              cases[i][1] ? cases[i][1] : "", rc);
    if (!out || *out) tu_fail(__FILE__, __LINE__, "case %zu: stdout: %s", i, out);
    if (!ct_one_line(err)) tu_fail(__FILE__, __LINE__, "case %zu: stderr: %s", i, err);
    free(out);
    free(err);
  }
  char *err = NULL;
  CHECK_EQ_INT(tu_run(NULL, &err, ARGS("fieldsync", "product", "add", "--sku", "X")), 2);
  CHECK_CONTAINS(err, "product add");
  free(err);
  err = NULL;
  CHECK_EQ_INT(tu_run(NULL, &err, ARGS("fieldsync", "export")), 2);
  CHECK_CONTAINS(err, "--json");
  free(err);
}

static void test_no_store(void) {
  char *dir = tu_tmpdir("cli-nostore"), path[4096], *out = NULL, *err = NULL;
  snprintf(path, sizeof path, "%s/none", dir);
  int rc = ct_run_in(path, &out, &err, ARGS("customer", "list", "--json"));
  CHECK_EQ_INT(rc, 1);
  CHECK_STR(out, "");
  CHECK(ct_one_line(err));
  CHECK_CONTAINS(err, "fieldsync init");
  free(out);
  free(err);
  tu_rmrf(dir);
  free(dir);
}

static int write_csv(const char *dir, const char *name, const char *text, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", dir, name);
  return tu_write_file(path, text);
}

static void test_offline_day(void) {
  char *out = NULL, *err = NULL;
  cJSON *doc = NULL;

  /* init, then init again refuses to overwrite */
  doc = OK_JSON("init", "--manager", "Anna Berger", "--json");
  CHECK_STR(str_of(doc, "manager"), "Anna Berger");
  CHECK_STR(str_of(doc, "home"), ct_home);
  snprintf(g_device, sizeof g_device, "%s",
           str_of(doc, "device_id") ? str_of(doc, "device_id") : "");
  CHECK(strlen(g_device) == 16);
  cJSON_Delete(doc);

  /* a customer, with --home after the verb */
  {
    const char *argv[] = {"fieldsync",
                          "customer",
                          "add",
                          "--name",
                          "Müller GmbH",
                          "--city",
                          "München",
                          "--country",
                          "DE",
                          "--email",
                          "einkauf@mueller.example",
                          "--json",
                          "--home",
                          ct_home,
                          NULL};
    CHECK_EQ_INT(tu_run(&out, &err, argv), 0);
    doc = ct_json_doc(out);
    CHECK(doc && cJSON_GetArraySize(doc) == 1); /* only the id */
    take_id(g_cust, sizeof g_cust, doc);
    free(out);
    free(err);
  }

  /* the catalog, prices and this customer's balance, from head office */
  {
    char pp[4096], pr[4096], pb[4096], bal[256];
    snprintf(bal, sizeof bal, "customer_id,currency,open,overdue\n%s,EUR,2000.00,1234.50\n",
             g_cust);
    CHECK(write_csv(ct_home, "p.csv",
                    "sku,name,unit,active\nWID-1,Widget,pcs,1\nGAD-2,Gadget Pro,pcs,1\n", pp,
                    sizeof pp) == 0);
    CHECK(write_csv(ct_home, "pr.csv", "sku,currency,price\nWID-1,EUR,12.50\nGAD-2,EUR,1000.00\n",
                    pr, sizeof pr) == 0);
    CHECK(write_csv(ct_home, "b.csv", bal, pb, sizeof pb) == 0);
    CHECK_OK(tu_seed_catalog(ct_home, pp, pr, pb));
    remove(pp);
    remove(pr);
    remove(pb);
  }
  doc = OK_JSON("product", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 2);
  cJSON_Delete(doc);

  /* contact; meeting at an exhibition typed in local time */
  char contact[64], meeting[64], line1[64], line2[64];
  take_id(contact, sizeof contact,
          OK_JSON("contact", "add", "--customer", g_cust, "--name", "Jörg Klein", "--role",
                  "Einkauf", "--phone", "+49 89 123456", "--json"));
  take_id(meeting, sizeof meeting,
          OK_JSON("meeting", "add", "--customer", g_cust, "--at", "2026-03-10 14:30", "--kind",
                  "exhibition", "--place", "Hannover Messe, Hall 4", "--notes",
                  "wants a quote for 200 widgets", "--follow-up", "2026-03-17", "--json"));
  {
    int64_t ms = 0;
    char iso[32];
    CHECK_OK(fs_time_parse(&ms, "2026-03-10 14:30"));
    fs_time_format(iso, ms);
    CHECK_STR(iso, "2026-03-10T13:30:00Z"); /* Berlin is UTC+1 in March */
    doc = OK_JSON("meeting", "list", "--customer", g_cust, "--json");
    CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
    const cJSON *m = cJSON_GetArrayItem(doc, 0);
    CHECK_STR(str_of(m, "id"), meeting);
    CHECK_STR(str_of(m, "at"), iso);
    CHECK_STR(str_of(m, "kind"), "exhibition");
    CHECK_STR(str_of(m, "follow_up"), "2026-03-17");
    CHECK_STR(str_of(m, "customer_name"), "Müller GmbH");
    cJSON_Delete(doc);
    doc = OK_JSON("meeting", "list", "--day", "2026-03-10", "--json");
    CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
    cJSON_Delete(doc);
    doc = OK_JSON("meeting", "list", "--day", "2026-03-11", "--json");
    CHECK_EQ_INT(cJSON_GetArraySize(doc), 0);
    cJSON_Delete(doc);
    /* the human table shows local time */
    CHECK_EQ_INT(RUN(&out, NULL, "meeting", "list"), 0);
    CHECK_CONTAINS(out, "2026-03-10 14:30");
    CHECK_CONTAINS(out, "exhibition");
    free(out);
  }

  /* order 1: two lines, submitted */
  take_id(g_order1, sizeof g_order1, OK_JSON("order", "new", "--customer", g_cust, "--json"));
  take_id(line1, sizeof line1,
          OK_JSON("order", "line", g_order1, "--sku", "WID-1", "--qty", "3", "--json"));
  take_id(line2, sizeof line2,
          OK_JSON("order", "line", g_order1, "--sku", "GAD-2", "--qty", "2", "--discount", "10",
                  "--json"));
  CHECK_EQ_INT(RUN(&out, NULL, "order", "submit", g_order1), 0);
  CHECK_CONTAINS(out, "submitted");
  free(out);
  doc = OK_JSON("order", "show", g_order1, "--json");
  CHECK_STR(str_of(doc, "status"), "submitted");
  CHECK_STR(str_of(doc, "currency"), "EUR");
  CHECK_EQ_INT(count_of(doc, "lines"), 2);
  {
    long long sum = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(doc, "lines")) {
      const char *sku = str_of(l, "sku");
      if (sku && strcmp(sku, "WID-1") == 0) {
        CHECK_EQ_INT(int_of(l, "unit_price"), 1250);
        CHECK_EQ_INT(int_of(l, "qty"), 3);
        CHECK_EQ_INT(int_of(l, "amount"), 3750);
      } else {
        CHECK_STR(sku, "GAD-2");
        CHECK_EQ_INT(int_of(l, "unit_price"), 100000);
        CHECK_EQ_INT(int_of(l, "discount_bp"), 1000);
        CHECK_EQ_INT(int_of(l, "amount"), 180000);
      }
      sum += int_of(l, "amount");
    }
    CHECK_EQ_INT(int_of(doc, "total"), sum);
    CHECK_EQ_INT(int_of(doc, "total"), 183750);
  }
  cJSON_Delete(doc);
  CHECK_EQ_INT(RUN(&out, NULL, "order", "show", g_order1), 0);
  CHECK_CONTAINS(out, "1 837.50 EUR");
  CHECK_CONTAINS(out, "Gadget Pro");
  free(out);

  /* order 2 stays a draft, with a fractional order discount */
  take_id(g_order2, sizeof g_order2,
          OK_JSON("order", "new", "--customer", g_cust, "--discount", "2.5", "--json"));
  doc = OK_JSON("order", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 2);
  {
    const cJSON *o;
    int seen = 0;
    cJSON_ArrayForEach(o, doc) {
      const char *id = str_of(o, "id");
      if (id && strcmp(id, g_order2) == 0) {
        seen = 1;
        CHECK_EQ_INT(int_of(o, "discount_bp"), 250);
        CHECK_STR(str_of(o, "status"), "draft");
      }
    }
    CHECK(seen);
  }
  cJSON_Delete(doc);

  /* edit; the customer page warns about the overdue balance */
  CHECK_EQ_INT(
      RUN(NULL, NULL, "customer", "edit", g_cust, "--status", "key", "--phone", "+49 89 7654321"),
      0);
  doc = OK_JSON("customer", "show", g_cust, "--json");
  CHECK_STR(str_of(doc, "status"), "key");
  CHECK_STR(str_of(doc, "phone"), "+49 89 7654321");
  CHECK_STR(str_of(doc, "manager"), "Anna Berger");
  CHECK_EQ_INT(count_of(doc, "contacts"), 1);
  CHECK_EQ_INT(count_of(doc, "meetings"), 1);
  CHECK_EQ_INT(count_of(doc, "orders"), 2);
  CHECK_EQ_INT(count_of(doc, "balances"), 1);
  CHECK_EQ_INT(
      int_of(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "balances"), 0), "overdue"),
      123450);
  cJSON_Delete(doc);
  CHECK_EQ_INT(RUN(&out, NULL, "customer", "show", g_cust), 0);
  CHECK_CONTAINS(out, "OVERDUE: 1 234.50 EUR overdue of 2 000.00 EUR open");
  CHECK_CONTAINS(out, "Jörg Klein");
  CHECK_CONTAINS(out, "2026-03-10 14:30");
  free(out);
  CHECK_EQ_INT(RUN(&out, NULL, "customer", "list"), 0);
  CHECK_CONTAINS(out, "NAME");
  CHECK_CONTAINS(out, "Müller GmbH");
  free(out);

  /* status, conflicts */
  doc = OK_JSON("status", "--json");
  CHECK_STR(str_of(doc, "device_id"), g_device);
  CHECK_STR(str_of(doc, "manager"), "Anna Berger");
  CHECK(int_of(doc, "pending") > 0);
  cJSON_Delete(doc);
  doc = OK_JSON("conflicts", "--json");
  CHECK(cJSON_IsArray(doc) && cJSON_GetArraySize(doc) == 0);
  cJSON_Delete(doc);

  /* $FIELDSYNC_HOME is the default home */
  setenv("FIELDSYNC_HOME", ct_home, 1);
  CHECK_EQ_INT(tu_run(&out, NULL, ARGS("fieldsync", "status", "--json")), 0);
  CHECK_CONTAINS(out, g_device);
  free(out);
  unsetenv("FIELDSYNC_HOME");

  /* export holds every row */
  doc = OK_JSON("export", "--json");
  CHECK(cJSON_IsObject(doc));
  CHECK_EQ_INT(count_of(doc, "customers"), 1);
  CHECK_EQ_INT(count_of(doc, "contacts"), 1);
  CHECK_EQ_INT(count_of(doc, "meetings"), 1);
  CHECK_EQ_INT(count_of(doc, "orders"), 2);
  CHECK_STR(
      str_of(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "customers"), 0), "name"),
      "Müller GmbH");
  {
    char *flat = cJSON_PrintUnformatted(doc);
    CHECK_CONTAINS(flat, line1);
    CHECK_CONTAINS(flat, line2);
    CHECK_CONTAINS(flat, contact);
    cJSON_free(flat);
  }
  cJSON_Delete(doc);
}

/* The store the bad-input cases refuse to change: the offline day's when
 * that case ran in this process, else a smaller day of their own (a
 * customer, the catalog, a submitted order with lines and an empty draft),
 * so each case also runs alone.  Returns 0 (with the failure recorded) when
 * it cannot be made. */
static int ensure_day(void) {
  char *out = NULL;
  if (*g_cust && *g_order1 && *g_order2) return 1;
  CHECK_EQ_INT(RUN(NULL, NULL, "init", "--manager", "Anna Berger"), 0);
  take_id(g_cust, sizeof g_cust,
          OK_JSON("customer", "add", "--name", "Müller GmbH", "--city", "München", "--json"));
  {
    char pp[4096], pr[4096];
    CHECK(write_csv(ct_home, "p.csv",
                    "sku,name,unit,active\nWID-1,Widget,pcs,1\nGAD-2,Gadget Pro,pcs,1\n", pp,
                    sizeof pp) == 0);
    CHECK(write_csv(ct_home, "pr.csv", "sku,currency,price\nWID-1,EUR,12.50\nGAD-2,EUR,1000.00\n",
                    pr, sizeof pr) == 0);
    CHECK_OK(tu_seed_catalog(ct_home, pp, pr, NULL));
    remove(pp);
    remove(pr);
  }
  take_id(g_order1, sizeof g_order1, OK_JSON("order", "new", "--customer", g_cust, "--json"));
  CHECK_EQ_INT(RUN(NULL, NULL, "order", "line", g_order1, "--sku", "WID-1", "--qty", "3"), 0);
  CHECK_EQ_INT(RUN(&out, NULL, "order", "submit", g_order1), 0);
  CHECK_CONTAINS(out, "submitted");
  free(out);
  take_id(g_order2, sizeof g_order2,
          OK_JSON("order", "new", "--customer", g_cust, "--discount", "2.5", "--json"));
  if (*g_cust && *g_order1 && *g_order2) return 1;
  tu_fail(__FILE__, __LINE__, "the store for the bad-input cases could not be made");
  return 0;
}

static void test_bad_input(void) {
  char big[5001], bad_utf8[] = "Bad \xff\xfe Name", bad_utf8b[] = "Jo\xc3\x28rg";
  memset(big, 'A', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  if (!ensure_day()) return;

  REFUSED(1, "init", "--manager", "Someone Else");
  REFUSED(0, "contact", "add", "--customer", UNKNOWN_ID, "--name", "Nobody");
  REFUSED(0, "meeting", "add", "--customer", UNKNOWN_ID, "--at", "2026-03-10 10:00");
  REFUSED(0, "order", "new", "--customer", UNKNOWN_ID);
  REFUSED(0, "customer", "edit", UNKNOWN_ID, "--phone", "1");
  REFUSED(0, "customer", "show", UNKNOWN_ID, "--json");
  REFUSED(0, "order", "show", UNKNOWN_ID, "--json");
  REFUSED(2, "meeting", "add", "--customer", g_cust, "--at", "next tuesday");
  REFUSED(2, "meeting", "add", "--customer", g_cust, "--at", "2026-13-45 25:99");
  REFUSED(2, "meeting", "add", "--customer", g_cust, "--at", "2026-03-10 10:00", "--follow-up",
          "someday");
  REFUSED(2, "meeting", "add", "--customer", g_cust, "--at", "2026-03-10 10:00", "--kind", "party");
  REFUSED(2, "meeting", "list", "--day", "tomorrow", "--json");
  REFUSED(2, "order", "line", g_order2, "--sku", "WID-1", "--qty", "-3");
  REFUSED(2, "order", "line", g_order2, "--sku", "WID-1", "--qty", "0");
  REFUSED(2, "order", "line", g_order2, "--sku", "WID-1", "--qty", "abc");
  REFUSED(2, "order", "line", g_order2, "--sku", "WID-1", "--qty", "1.5", "--json");
  REFUSED(2, "order", "line", g_order2, "--sku", "WID-1", "--qty", "1", "--discount", "101");
  REFUSED(0, "order", "line", g_order2, "--sku", "NO-SUCH-SKU", "--qty", "1");
  REFUSED(0, "order", "line", UNKNOWN_ID, "--sku", "WID-1", "--qty", "1");
  REFUSED(1, "order", "line", g_order1, "--sku", "WID-1", "--qty", "1", "--json");
  REFUSED(0, "order", "submit", g_order1);
  REFUSED(0, "order", "submit", g_order2); /* no lines */
  REFUSED(2, "order", "new", "--customer", g_cust, "--discount", "150");
  REFUSED(2, "order", "new", "--customer", g_cust, "--currency", "EURO");
  REFUSED(0, "customer", "add", "--name", big);
  REFUSED(0, "customer", "add", "--name", big, "--json");
  REFUSED(0, "customer", "edit", g_cust, "--name", big);
  REFUSED(0, "customer", "add", "--name", bad_utf8);
  REFUSED(0, "contact", "add", "--customer", g_cust, "--name", bad_utf8b);
  REFUSED(2, "customer", "edit", g_cust);
  REFUSED(2, "customer", "edit", g_cust, "--status", "vip");
  REFUSED(2, "product", "add", "--sku", "X", "--name", "Y");
  REFUSED(2, "product", "edit", "WID-1");
  REFUSED(0, "conflicts", "resolve", "999999", "--keep", "winner");
  REFUSED(2, "conflicts", "resolve", "1", "--keep", "both");
  REFUSED(2, "conflicts", "resolve", "abc", "--keep", "winner");
  REFUSED(2, "export");

  /* a line on the submitted order names the reason */
  char *err = NULL;
  CHECK(RUN(NULL, &err, "order", "line", g_order1, "--sku", "WID-1", "--qty", "1") != 0);
  CHECK(ct_one_line(err));
  free(err);
}

/* Copies the regular files of src into dst (created). */
static void copy_home(const char *src, const char *dst) {
  DIR *d = opendir(src);
  struct dirent *e;
  CHECK(d != NULL);
  if (!d) return;
  mkdir(dst, 0700);
  while ((e = readdir(d))) {
    char a[4608], b[4608];
    struct stat sb;
    snprintf(a, sizeof a, "%s/%s", src, e->d_name);
    snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
    if (stat(a, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    size_t n = 0;
    char *buf = tu_read_file(a, &n);
    FILE *f = fopen(b, "wb");
    CHECK(buf && f);
    if (buf && f) CHECK(fwrite(buf, 1, n, f) == n);
    if (f) fclose(f);
    chmod(b, sb.st_mode & 07777);
    free(buf);
  }
  closedir(d);
}

/* A member of the first element of a --json list whose `key` is `val`. */
static const cJSON *find_in(const cJSON *arr, const char *key, const char *val) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    const char *v = str_of(it, key);
    if (v && !strcmp(v, val)) return it;
  }
  return NULL;
}

/* Mistakes corrected, without typing a whole id: a customer by its exact
 * name (any letter case) or a unique id prefix, an order's line by its
 * number; a line's quantity and discount changed, a line removed, a draft
 * cancelled; a meeting's outcome added after it happened; contacts listed,
 * edited and deleted; a customer archived, and one made by mistake
 * deleted.  What may not change (a submitted order, a customer with
 * something attached, an ambiguous prefix) is refused with a sentence and
 * changes nothing. */
static void test_corrections(void) {
  char kraus[64], mistake[64], order[64], meeting[64], contact[64], prefix[32];
  cJSON *doc = NULL;
  char *out = NULL, *err = NULL;
  if (!ensure_day()) return;
  take_id(kraus, sizeof kraus,
          OK_JSON("customer", "add", "--name", "Kraus Maschinenbau", "--city", "Köln", "--json"));

  /* a customer by name, any case; by a unique prefix; not by 5 characters */
  doc = OK_JSON("customer", "show", "kraus MASCHINENBAU", "--json");
  CHECK_STR(str_of(doc, "id"), kraus);
  cJSON_Delete(doc);
  snprintf(prefix, sizeof prefix, "%.24s", kraus);
  doc = OK_JSON("customer", "show", prefix, "--json");
  CHECK_STR(str_of(doc, "name"), "Kraus Maschinenbau");
  cJSON_Delete(doc);
  snprintf(prefix, sizeof prefix, "%.5s", kraus);
  REFUSED(0, "customer", "show", prefix);
  /* two customers made a moment apart share their first characters (the
   * ids start with the time): the prefix is ambiguous and both are named */
  CHECK(strncmp(kraus, g_cust, 6) == 0);
  snprintf(prefix, sizeof prefix, "%.6s", kraus);
  REFUSED(0, "customer", "edit", prefix, "--phone", "1");
  CHECK_EQ_INT(RUN(NULL, &err, "customer", "show", prefix), 1);
  CHECK_CONTAINS(err, kraus);
  CHECK_CONTAINS(err, g_cust);
  CHECK_CONTAINS(err, "give more of the id");
  free(err);
  err = NULL;
  /* ... while the ends of their ids (random digits) tell them apart: the
   * last 8 characters, in any letter case, find each */
  char end[16];
  snprintf(end, sizeof end, "%s", kraus + strlen(kraus) - 8);
  for (char *c = end; *c; c++) *c = (char)toupper((unsigned char)*c);
  doc = OK_JSON("customer", "show", end, "--json");
  CHECK_STR(str_of(doc, "id"), kraus);
  cJSON_Delete(doc);
  snprintf(end, sizeof end, "%s", g_cust + strlen(g_cust) - 6);
  doc = OK_JSON("customer", "show", end, "--json");
  CHECK_STR(str_of(doc, "id"), g_cust);
  cJSON_Delete(doc);
  snprintf(end, sizeof end, "%s", kraus + strlen(kraus) - 5);
  REFUSED(0, "customer", "show", end); /* 5 characters: too few */

  /* an order for a customer typed by name; lines corrected by number */
  take_id(order, sizeof order,
          OK_JSON("order", "new", "--customer", "Kraus Maschinenbau", "--json"));
  CHECK_EQ_INT(RUN(NULL, NULL, "order", "line", order, "--sku", "WID-1", "--qty", "3"), 0);
  CHECK_EQ_INT(RUN(NULL, NULL, "order", "line", order, "--sku", "GAD-2", "--qty", "1"), 0);
  /* a short number for people: the device's id start and its sequence */
  {
    char number[40] = "", lower[40];
    doc = OK_JSON("order", "show", order, "--json");
    snprintf(number, sizeof number, "%s", str_of(doc, "number") ? str_of(doc, "number") : "");
    cJSON_Delete(doc);
    CHECK(strlen(number) >= 8 && number[6] == '-');
    doc = OK_JSON("status", "--json");
    CHECK(str_of(doc, "device_id") && strncasecmp(number, str_of(doc, "device_id"), 6) == 0);
    cJSON_Delete(doc);
    for (size_t i = 0; i <= strlen(number); i++)
      lower[i] = (char)(number[i] >= 'A' && number[i] <= 'Z' ? number[i] + 32 : number[i]);
    doc = OK_JSON("order", "show", lower, "--json");
    CHECK_STR(str_of(doc, "id"), order);
    cJSON_Delete(doc);
    /* newest first, each with its own number */
    doc = OK_JSON("order", "list", "--json");
    CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), order);
    CHECK(strcmp(str_of(cJSON_GetArrayItem(doc, 0), "number")
                     ? str_of(cJSON_GetArrayItem(doc, 0), "number")
                     : "",
                 str_of(cJSON_GetArrayItem(doc, 1), "number")
                     ? str_of(cJSON_GetArrayItem(doc, 1), "number")
                     : "") != 0);
    cJSON_Delete(doc);
  }
  doc = OK_JSON("order", "line", "edit", order, "2", "--qty", "7", "--discount", "5", "--json");
  const char *edited = str_of(doc, "id");
  char line2[64];
  snprintf(line2, sizeof line2, "%s", edited ? edited : "");
  cJSON_Delete(doc);
  doc = OK_JSON("order", "show", order, "--json");
  const cJSON *l2 = find_in(cJSON_GetObjectItemCaseSensitive(doc, "lines"), "id", line2);
  CHECK(l2 != NULL);
  CHECK_STR(str_of(l2, "sku"), "GAD-2");
  CHECK_EQ_INT(int_of(l2, "qty"), 7);
  CHECK_EQ_INT(int_of(l2, "discount_bp"), 500);
  /* 3 x 12.50 + 7 x 1000.00 less 5 % */
  CHECK_EQ_INT(int_of(doc, "total"), 3 * 1250 + 7 * 100000 * 95 / 100);
  cJSON_Delete(doc);
  REFUSED(0, "order", "line", "edit", order, "9", "--qty", "1");
  REFUSED(2, "order", "line", "edit", order, "1", "--qty", "0");
  REFUSED(2, "order", "line", "edit", order, "1");
  REFUSED(0, "order", "line", "remove", order, "3");
  CHECK_EQ_INT(RUN(&out, NULL, "order", "line", "remove", order, "1"), 0);
  CHECK_CONTAINS(out, "Removed line");
  free(out);
  out = NULL;
  doc = OK_JSON("order", "show", order, "--json");
  CHECK_EQ_INT(count_of(doc, "lines"), 1);
  CHECK(find_in(cJSON_GetObjectItemCaseSensitive(doc, "lines"), "id", line2) != NULL);
  cJSON_Delete(doc);
  /* a submitted order's lines are frozen, and it is not the device's to
   * cancel */
  REFUSED(0, "order", "line", "edit", g_order1, "1", "--qty", "9");
  REFUSED(0, "order", "line", "remove", g_order1, "1");
  REFUSED(0, "order", "cancel", g_order1);
  CHECK_EQ_INT(RUN(NULL, &err, "order", "cancel", g_order1), 1);
  CHECK_CONTAINS(err, "submitted");
  free(err);
  err = NULL;
  doc = OK_JSON("order", "cancel", order, "--json");
  CHECK_STR(str_of(doc, "status"), "cancelled");
  cJSON_Delete(doc);
  doc = OK_JSON("order", "show", order, "--json");
  CHECK_STR(str_of(doc, "status"), "cancelled");
  CHECK_EQ_INT(count_of(doc, "lines"), 1); /* kept, with its line */
  cJSON_Delete(doc);
  REFUSED(0, "order", "cancel", order);
  REFUSED(0, "order", "line", order, "--sku", "WID-1", "--qty", "1");

  /* a meeting's outcome after it happened; then deleted */
  take_id(meeting, sizeof meeting,
          OK_JSON("meeting", "add", "--customer", "Kraus Maschinenbau", "--at", "2026-03-10 10:00",
                  "--json"));
  doc = OK_JSON("meeting", "edit", meeting, "--outcome", "wants 40 units, quote by Friday",
                "--follow-up", "2026-03-13", "--json");
  CHECK_STR(str_of(doc, "id"), meeting);
  cJSON_Delete(doc);
  REFUSED(2, "meeting", "edit", meeting, "--at", "someday");
  REFUSED(2, "meeting", "edit", meeting);
  doc = OK_JSON("meeting", "list", "--customer", "Kraus Maschinenbau", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "outcome"), "wants 40 units, quote by Friday");
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "follow_up"), "2026-03-13");
  cJSON_Delete(doc);
  doc = OK_JSON("meeting", "delete", meeting, "--json");
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "deleted")));
  cJSON_Delete(doc);
  doc = OK_JSON("meeting", "list", "--customer", kraus, "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 0);
  cJSON_Delete(doc);

  /* contacts: listed for one customer, edited, deleted */
  take_id(contact, sizeof contact,
          OK_JSON("contact", "add", "--customer", "Kraus Maschinenbau", "--name", "Lena Kraus",
                  "--json"));
  doc = OK_JSON("contact", "list", "--customer", "Kraus Maschinenbau", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "customer_name"), "Kraus Maschinenbau");
  cJSON_Delete(doc);
  doc =
      OK_JSON("contact", "edit", contact, "--phone", "+49 221 555", "--role", "Einkauf", "--json");
  cJSON_Delete(doc);
  doc = OK_JSON("contact", "list", "--json");
  const cJSON *k = find_in(doc, "id", contact);
  CHECK_STR(str_of(k, "phone"), "+49 221 555");
  CHECK_STR(str_of(k, "role"), "Einkauf");
  cJSON_Delete(doc);
  REFUSED(2, "contact", "edit", contact, "--name", "");
  REFUSED(0, "contact", "delete", UNKNOWN_ID);
  CHECK_EQ_INT(RUN(NULL, NULL, "contact", "delete", contact), 0);
  doc = OK_JSON("contact", "list", "--customer", kraus, "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 0);
  cJSON_Delete(doc);

  /* a customer with an order is archived, not deleted */
  REFUSED(0, "customer", "delete", "Kraus Maschinenbau");
  CHECK_EQ_INT(RUN(NULL, &err, "customer", "delete", kraus), 1);
  CHECK_CONTAINS(err, "archive");
  free(err);
  err = NULL;
  doc = OK_JSON("customer", "archive", "Kraus Maschinenbau", "--json");
  CHECK_STR(str_of(doc, "id"), kraus);
  cJSON_Delete(doc);
  doc = OK_JSON("customer", "show", kraus, "--json");
  CHECK_STR(str_of(doc, "status"), "lost");
  CHECK_EQ_INT(count_of(doc, "orders"), 1);
  cJSON_Delete(doc);
  /* one made by mistake, with nothing attached, goes */
  take_id(mistake, sizeof mistake,
          OK_JSON("customer", "add", "--name", "Typo Handels AG", "--json"));
  doc = OK_JSON("customer", "delete", "Typo Handels AG", "--json");
  CHECK_STR(str_of(doc, "id"), mistake);
  cJSON_Delete(doc);
  doc = OK_JSON("customer", "list", "--json");
  CHECK(find_in(doc, "id", mistake) == NULL);
  CHECK(find_in(doc, "id", kraus) != NULL);
  cJSON_Delete(doc);
  REFUSED(0, "customer", "delete", "Typo Handels AG");
  /* every correction is a change waiting for the next sync */
  doc = OK_JSON("status", "--json");
  CHECK(int_of(doc, "pending") > 0);
  cJSON_Delete(doc);
}

/* Complaints until resolved, and what the competition offers: recorded for
 * a customer typed by name, listed open first, resolved with a resolution
 * and a time, reopened; a competitor's price in its currency.  Bad input
 * changes nothing. */
static void test_complaints_competitors(void) {
  char id[64], fb[64], note[64];
  cJSON *doc = NULL;
  if (!ensure_day()) return;
  take_id(id, sizeof id,
          OK_JSON("complaint", "add", "--customer", "Müller GmbH", "--text",
                  "3 of 40 chairs arrived scratched", "--json"));
  take_id(fb, sizeof fb,
          OK_JSON("complaint", "add", "--customer", g_cust, "--text", "likes the new catalog",
                  "--kind", "feedback", "--json"));
  doc = OK_JSON("complaint", "list", "--customer", "Müller GmbH", "--json");
  const cJSON *c = find_in(doc, "id", id);
  CHECK_STR(str_of(c, "status"), "open");
  CHECK_STR(str_of(c, "customer_name"), "Müller GmbH");
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "resolved_at")));
  cJSON_Delete(doc);
  REFUSED(2, "complaint", "add", "--customer", g_cust);
  REFUSED(2, "complaint", "add", "--customer", g_cust, "--text", "x", "--kind", "praise");
  REFUSED(2, "complaint", "resolve", id);
  REFUSED(2, "complaint", "edit", id, "--status", "closed");
  REFUSED(0, "complaint", "resolve", UNKNOWN_ID, "--resolution", "done");
  cJSON_Delete(OK_JSON("complaint", "edit", id, "--status", "in_progress", "--json"));
  cJSON_Delete(
      OK_JSON("complaint", "resolve", id, "--resolution", "3 chairs replaced on site", "--json"));
  doc = OK_JSON("complaint", "list", "--json");
  c = find_in(doc, "id", id);
  CHECK_STR(str_of(c, "status"), "resolved");
  CHECK_STR(str_of(c, "resolution"), "3 chairs replaced on site");
  CHECK(str_of(c, "resolved_at") != NULL);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), fb); /* open ones first */
  cJSON_Delete(doc);
  doc = OK_JSON("complaint", "list", "--open", "--json");
  CHECK(find_in(doc, "id", id) == NULL);
  CHECK(find_in(doc, "id", fb) != NULL);
  cJSON_Delete(doc);
  /* reopened: no longer resolved, no resolution time */
  cJSON_Delete(OK_JSON("complaint", "edit", id, "--status", "open", "--json"));
  doc = OK_JSON("complaint", "list", "--open", "--json");
  c = find_in(doc, "id", id);
  CHECK(c != NULL);
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "resolved_at")));
  cJSON_Delete(doc);

  take_id(note, sizeof note,
          OK_JSON("competitor", "add", "--customer", "Müller GmbH", "--competitor", "Stuhlwerk",
                  "--product", "S-200", "--price", "89.90", "--currency", "eur", "--notes",
                  "free delivery", "--json"));
  REFUSED(2, "competitor", "add", "--customer", g_cust, "--competitor", "X", "--price", "10");
  REFUSED(2, "competitor", "add", "--customer", g_cust, "--competitor", "X", "--price", "ten",
          "--currency", "EUR");
  REFUSED(2, "competitor", "add", "--customer", g_cust, "--competitor", "X", "--price", "-5",
          "--currency", "EUR");
  REFUSED(2, "competitor", "add", "--customer", g_cust, "--competitor", "X", "--price", "5",
          "--currency", "EURO");
  REFUSED(2, "competitor", "add", "--customer", g_cust);
  doc = OK_JSON("competitor", "list", "--customer", g_cust, "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
  c = find_in(doc, "id", note);
  CHECK_STR(str_of(c, "competitor"), "Stuhlwerk");
  CHECK_EQ_INT(int_of(c, "price"), 8990);
  CHECK_STR(str_of(c, "currency"), "EUR");
  CHECK_STR(str_of(c, "note"), "free delivery");
  cJSON_Delete(doc);
  char *out = NULL;
  CHECK_EQ_INT(RUN(&out, NULL, "competitor", "list"), 0);
  CHECK_CONTAINS(out, "89.90 EUR");
  free(out);
}

/* customer find: by name, city, e-mail, VAT id or phone digits, letter case
 * and accents aside, a Chinese name as typed, best first. */
static void test_customer_find(void) {
  char koeln[64], cn[64];
  cJSON *doc = NULL;
  if (!ensure_day()) return;
  take_id(koeln, sizeof koeln,
          OK_JSON("customer", "add", "--name", "Kölner Büro AG", "--city", "Köln", "--phone",
                  "+49 221 987654", "--email", "info@koelner.example", "--json"));
  take_id(cn, sizeof cn,
          OK_JSON("customer", "add", "--name", "北京贸易有限公司", "--city", "北京", "--json"));
  doc = OK_JSON("customer", "find", "MULLER", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), g_cust);
  cJSON_Delete(doc);
  /* "koln": the name's start outranks a city */
  doc = OK_JSON("customer", "find", "koln", "--json");
  CHECK(cJSON_GetArraySize(doc) >= 1);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), koeln);
  CHECK_EQ_INT(int_of(cJSON_GetArrayItem(doc, 0), "rank"), 2);
  cJSON_Delete(doc);
  doc = OK_JSON("customer", "find", "münchen", "--json"); /* the city */
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), g_cust);
  CHECK_EQ_INT(int_of(cJSON_GetArrayItem(doc, 0), "rank"), 5);
  cJSON_Delete(doc);
  doc = OK_JSON("customer", "find", "221-98765", "--json"); /* the phone's digits */
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), koeln);
  cJSON_Delete(doc);
  doc = OK_JSON("customer", "find", "贸易", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 1);
  CHECK_STR(str_of(cJSON_GetArrayItem(doc, 0), "id"), cn);
  CHECK_EQ_INT(int_of(cJSON_GetArrayItem(doc, 0), "rank"), 4);
  cJSON_Delete(doc);
  doc = OK_JSON("customer", "find", "no such firm", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(doc), 0);
  cJSON_Delete(doc);
  REFUSED(2, "customer", "find", "");
  char *out = NULL;
  CHECK_EQ_INT(RUN(&out, NULL, "customer", "find", "büro"), 0);
  CHECK_CONTAINS(out, "Kölner Büro AG");
  free(out);
}

static void test_corrupt_store(void) {
  char *dir = tu_tmpdir("cli-corrupt"), home[2048], db[2560];
  size_t n = 0, m = 0;
  snprintf(home, sizeof home, "%s/home", dir);
  snprintf(db, sizeof db, "%s/store.db", home);
  if (!ensure_day()) goto done;
  copy_home(ct_home, home);
  char *orig = tu_read_file(db, &n);
  CHECK(orig && n > 512);
  if (orig && n > 512) {
    memcpy(orig, "this is not a fieldsync store, just garbage bytes....", 52);
    memset(orig + 52, 0xA5, 200);
    FILE *f = fopen(db, "wb");
    CHECK(f && fwrite(orig, 1, n, f) == n);
    if (f) fclose(f);
  }
  static const char *const cmds[][8] = {
      {"customer", "list"},
      {"customer", "list", "--json"},
      {"export", "--json"},
      {"status", "--json"},
      {"customer", "add", "--name", "X"},
      {"order", "line", "X", "--sku", "WID-1", "--qty", "1"},
  };
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    const char *args[9] = {0};
    char *out = NULL, *err = NULL;
    for (size_t j = 0; j < 8 && cmds[i][j]; j++) args[j] = cmds[i][j];
    int rc = ct_run_in(home, &out, &err, args);
    tu_checks += 3;
    if (rc == 0 || rc < 0)
      tu_fail(__FILE__, __LINE__, "%s %s on a corrupt store: exit %d", cmds[i][0], cmds[i][1], rc);
    if (!out || *out) tu_fail(__FILE__, __LINE__, "%s: stdout: %s", cmds[i][0], out);
    if (!ct_one_line(err)) tu_fail(__FILE__, __LINE__, "%s: stderr: %s", cmds[i][0], err);
    free(out);
    free(err);
  }
  char *after = tu_read_file(db, &m);
  CHECK(after && orig && m == n && memcmp(after, orig, n) == 0);
  free(after);
  free(orig);
done:
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  setenv("TZ", "Europe/Berlin", 1);
  unsetenv("FIELDSYNC_HOME");
  char *dir = tu_tmpdir("cli-offline");
  size_t n = strlen(dir) + 16;
  ct_home = malloc(n);
  if (!ct_home) return 1;
  snprintf(ct_home, n, "%s/home", dir);

  TEST_RUN(test_help);
  TEST_RUN(test_version);
  TEST_RUN(test_usage_errors);
  TEST_RUN(test_no_store);
  TEST_RUN(test_offline_day);
  TEST_RUN(test_bad_input);
  TEST_RUN(test_corrections);
  TEST_RUN(test_complaints_competitors);
  TEST_RUN(test_customer_find);
  TEST_RUN(test_corrupt_store);
  tu_rmrf(dir);
  free(dir);
  free(ct_home);
  return tu_finish();
}
