/*
 * test_e2e_sync.c — the field-sales day end to end: the real
 * `fieldsync-server` on 127.0.0.1 (its self-signed certificate as the CA)
 * and real device homes in a temporary directory per test, driven only
 * through the two command lines.
 *
 * Covers:
 *  - convergence: three devices (two of manager anna, one of ben) work
 *    offline — customers, contacts, meetings, orders with lines, submitted
 *    orders — and sync in varying orders over several rounds; after everyone
 *    synced twice each device's `export --json` equals the server's
 *    `export --json --manager M` byte for byte, anna's devices hold nothing
 *    of ben's customers and vice versa, and the catalog and prices imported
 *    at head office are on every device (`product list --json`);
 *  - conflicts: the same cell edited on both anna devices offline is logged
 *    once at the server (winner = the later edit) and on the device whose
 *    value lost, the devices agree, `sync --json` conflict counts add up to
 *    the devices' conflict logs; disjoint edits of one customer both survive
 *    without a conflict;
 *  - reassignment: `fieldsync-server assign` moves a customer with its full
 *    history (contacts, meetings, orders, lines) to ben's device, which then
 *    equals the server's export for ben;
 *  - write policy: an offline edit of a customer that head office meanwhile
 *    assigned to another manager is refused with a reason while the rest of
 *    the same sync applies; that sync exits 3, the refused code;
 *    `status --json` counts it.
 */
#include "e2e.h"

#include <fieldsync/device.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

/* Every product of the head-office catalog with its prices. */
static void check_catalog(int line, const char *home) {
  cJSON *p = e2e_fs_json(line, home, ARGS("product", "list", "--json"));
  const cJSON *it;
  int chair_eur = 0, chair_sek = 0, desk = 0, lamp = 0, n = 0;
  cJSON_ArrayForEach(it, p) {
    const char *sku = e2e_str(it, "sku");
    const cJSON *pr;
    n++;
    cJSON_ArrayForEach(pr, cJSON_GetObjectItemCaseSensitive(it, "prices")) {
      const char *cur = e2e_str(pr, "currency");
      long long v = e2e_int(pr, "price");
      if (!sku || !cur) continue;
      if (!strcmp(sku, "CHAIR-01") && !strcmp(cur, "EUR") && v == 28900) chair_eur = 1;
      if (!strcmp(sku, "CHAIR-01") && !strcmp(cur, "SEK") && v == 329000) chair_sek = 1;
      if (!strcmp(sku, "DESK-02") && !strcmp(cur, "EUR") && v == 64950) desk = 1;
      if (!strcmp(sku, "LAMP-03") && !strcmp(cur, "EUR") && v == 3990) lamp = 1;
    }
  }
  tu_checks++;
  if (!(cJSON_IsArray(p) && n == 3 && chair_eur && chair_sek && desk && lamp))
    tu_fail(__FILE__, line, "catalog on %s: %d products, chair EUR %d SEK %d, desk %d, lamp %d",
            home, n, chair_eur, chair_sek, desk, lamp);
  cJSON_Delete(p);
}

static cJSON *parse(const char *text) { return text ? cJSON_Parse(text) : NULL; }

/* No row of any customer-bound table of `export_text` belongs to a customer
 * of `other` (by manager column on customers, by id list elsewhere). */
static void check_no_foreign(int line, const char *home, const char *mine,
                             const char *const *foreign_ids) {
  char *txt = e2e_export_dev(line, home);
  cJSON *doc = parse(txt);
  static const char *const tables[] = {"contacts", "meetings", "orders", "order_lines", NULL};
  const cJSON *c;
  tu_checks++;
  if (!doc) {
    tu_fail(__FILE__, line, "export of %s is not JSON", home);
    goto done;
  }
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "customers")) {
    const char *m = e2e_str(c, "manager");
    tu_checks++;
    if (!m || strcmp(m, mine) != 0)
      tu_fail(__FILE__, line, "%s holds customer %s of manager %s", home, e2e_str(c, "id"),
              m ? m : "(null)");
  }
  for (size_t i = 0; foreign_ids[i]; i++) {
    tu_checks++;
    if (e2e_rows_where(doc, "customers", "id", foreign_ids[i]) != 0)
      tu_fail(__FILE__, line, "%s holds foreign customer %s", home, foreign_ids[i]);
    for (size_t t = 0; tables[t]; t++) {
      tu_checks++;
      if (e2e_rows_where(doc, tables[t], "customer_id", foreign_ids[i]) != 0)
        tu_fail(__FILE__, line, "%s holds %s of foreign customer %s", home, tables[t],
                foreign_ids[i]);
    }
  }
done:
  cJSON_Delete(doc);
  free(txt);
}

/* An order with the given lines, submitted; its id into out. */
static void submitted_order(int line, const char *home, const char *cust, char out[64],
                            const char *sku1, const char *qty1, const char *sku2,
                            const char *qty2) {
  char lid[64];
  e2e_add(line, home, out, ARGS("order", "new", "--customer", cust, "--currency", "EUR"));
  e2e_add(line, home, lid, ARGS("order", "line", out, "--sku", sku1, "--qty", qty1));
  if (sku2) e2e_add(line, home, lid, ARGS("order", "line", out, "--sku", sku2, "--qty", qty2));
  free(e2e_fs_ok(line, home, ARGS("order", "submit", out)));
}

/* ------------------------------------------------------------ 1 */

static void test_three_devices_converge(void) {
  char *dir = tu_tmpdir("e2e-converge");
  e2e_server *s = e2e_server_new(dir, "hq");
  if (!s || e2e_server_start(s, 0)) goto done;
  char *a1 = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  char *a2 = e2e_device_new(__LINE__, s, dir, "anna-tablet", "anna");
  char *b = e2e_device_new(__LINE__, s, dir, "ben-laptop", "ben");
  SYNC(a1);
  SYNC(a2);
  SYNC(b);
  check_catalog(__LINE__, a1);
  check_catalog(__LINE__, a2);
  check_catalog(__LINE__, b);

  /* Round 1, offline at the exhibition. */
  char nord[64], hanse[64], balt[64], fjord[64], id[64], o1[64], o2[64], o3[64], o4[64];
  ADD(a1, nord, "customer", "add", "--name", "Nordwind Büro GmbH", "--city", "Hamburg", "--country",
      "DE", "--phone", "+49 40 1234");
  ADD(a1, id, "contact", "add", "--customer", nord, "--name", "Jana Peters", "--role",
      "Purchasing");
  ADD(a1, id, "meeting", "add", "--customer", nord, "--at", "2026-03-10 10:30", "--kind",
      "exhibition", "--place", "Orgatec Cologne, hall 8", "--notes", "wants 40 chairs");
  submitted_order(__LINE__, a1, nord, o1, "CHAIR-01", "40", "LAMP-03", "40");
  ADD(a2, hanse, "customer", "add", "--name", "Hanse Möbel KG", "--city", "Bremen", "--country",
      "DE");
  ADD(a2, id, "meeting", "add", "--customer", hanse, "--at", "2026-03-10 12:00", "--kind", "visit");
  ADD(a2, o2, "order", "new", "--customer", hanse);
  ADD(a2, id, "order", "line", o2, "--sku", "DESK-02", "--qty", "3", "--discount", "10");
  ADD(b, balt, "customer", "add", "--name", "Baltic Foods AB", "--city", "Malmö", "--country",
      "SE");
  ADD(b, id, "contact", "add", "--customer", balt, "--name", "Lars Berg");
  ADD(b, id, "meeting", "add", "--customer", balt, "--at", "2026-03-10 14:00", "--kind",
      "exhibition", "--place", "Orgatec Cologne, hall 2");
  submitted_order(__LINE__, b, balt, o3, "DESK-02", "6", NULL, NULL);
  SYNC(a1);
  SYNC(a2);
  SYNC(b);

  /* Round 2: the tablet already has Nordwind; ben's order order C, A, B. */
  ADD(a2, id, "contact", "add", "--customer", nord, "--name", "Olaf Krüger", "--role", "CEO");
  free(e2e_fs_ok(__LINE__, a1, ARGS("customer", "edit", nord, "--status", "key")));
  ADD(b, id, "meeting", "add", "--customer", balt, "--at", "2026-03-11 09:00", "--kind", "call",
      "--notes", "follow-up on desks");
  free(e2e_fs_ok(__LINE__, a2, ARGS("order", "submit", o2)));
  SYNC(b);
  SYNC(a1);
  SYNC(a2);

  /* Round 3: the laptop now has the tablet's customer. */
  ADD(a1, id, "meeting", "add", "--customer", hanse, "--at", "2026-03-12 15:30", "--kind", "visit",
      "--follow-up", "2026-04-01");
  submitted_order(__LINE__, a1, hanse, o4, "LAMP-03", "12", NULL, NULL);
  ADD(b, fjord, "customer", "add", "--name", "Fjord Kontor AS", "--city", "Bergen", "--country",
      "NO");
  ADD(a2, id, "meeting", "add", "--customer", nord, "--at", "2026-03-13 08:00", "--kind", "call");
  SYNC(a2);
  SYNC(b);
  SYNC(a1);

  /* Everyone syncs twice. */
  for (int round = 0; round < 2; round++) {
    SYNC(a1);
    SYNC(a2);
    SYNC(b);
  }
  SAME_AS_HQ(a1, s, "anna");
  SAME_AS_HQ(a2, s, "anna");
  SAME_AS_HQ(b, s, "ben");
  {
    const char *const bens[] = {balt, fjord, NULL};
    const char *const annas[] = {nord, hanse, NULL};
    check_no_foreign(__LINE__, a1, "anna", bens);
    check_no_foreign(__LINE__, a2, "anna", bens);
    check_no_foreign(__LINE__, b, "ben", annas);
  }

  /* What head office holds: everything, once. */
  char *all = e2e_export_hq(__LINE__, s, NULL);
  cJSON *doc = parse(all);
  CHECK(doc != NULL);
  CHECK_EQ_INT(e2e_count(doc, "customers"), 4);
  CHECK_EQ_INT(e2e_count(doc, "contacts"), 3);
  CHECK_EQ_INT(e2e_count(doc, "meetings"), 6);
  CHECK_EQ_INT(e2e_count(doc, "orders"), 4);
  CHECK_EQ_INT(e2e_count(doc, "order_lines"), 5);
  CHECK_EQ_INT(e2e_rows_where(doc, "orders", "status", "submitted"), 4);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "manager", "anna"), 2);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "manager", "ben"), 2);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "status", "key"), 1);
  cJSON_Delete(doc);
  free(all);

  /* The tablet sees the laptop's order as it was priced and submitted. */
  cJSON *ord = FS_JSON(a2, "order", "show", o1, "--json");
  CHECK_STR(e2e_str(ord, "status"), "submitted");
  CHECK_EQ_INT(e2e_count(ord, "lines"), 2);
  CHECK_EQ_INT(e2e_int(ord, "total"), 40 * 28900 + 40 * 3990);
  cJSON_Delete(ord);
  /* Ben's device: his customers with everything, nothing else. */
  cJSON *bl = FS_JSON(b, "customer", "show", balt, "--json");
  CHECK_EQ_INT(e2e_count(bl, "contacts"), 1);
  CHECK_EQ_INT(e2e_count(bl, "meetings"), 2);
  CHECK_EQ_INT(e2e_count(bl, "orders"), 1);
  cJSON_Delete(bl);
  cJSON *st = FS_JSON(a1, "status", "--json");
  CHECK_EQ_INT(e2e_int(st, "pending"), 0);
  CHECK_EQ_INT(e2e_int(st, "refused"), 0);
  cJSON_Delete(st);
  (void)o3;

  free(a1);
  free(a2);
  free(b);
done:
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------------------------ 2 */

/* Conflict entries of a conflicts --json document for (row, column). */
static int conflicts_for(const cJSON *arr, const char *row, const char *col, const cJSON **first) {
  const cJSON *c;
  int n = 0;
  cJSON_ArrayForEach(c, arr) {
    const char *r = e2e_str(c, "row"), *k = e2e_str(c, "column");
    if (r && k && !strcmp(r, row) && !strcmp(k, col)) {
      if (!n && first) *first = c;
      n++;
    }
  }
  return n;
}

static long long sync_conflicts(int line, const char *home) {
  cJSON *s = e2e_sync(line, home);
  long long n = e2e_int(s, "conflicts");
  cJSON_Delete(s);
  return n;
}

static void test_conflicts(void) {
  char *dir = tu_tmpdir("e2e-conflict");
  e2e_server *s = e2e_server_new(dir, "hq");
  if (!s || e2e_server_start(s, 0)) goto done;
  char *a1 = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  char *a2 = e2e_device_new(__LINE__, s, dir, "anna-tablet", "anna");
  char cust[64];
  ADD(a1, cust, "customer", "add", "--name", "Nordwind Büro GmbH", "--phone", "+49 40 1234",
      "--city", "Hamburg", "--email", "info@nordwind.example");
  long long c1 = 0, c2 = 0; /* conflicts reported by sync --json, per device */
  c1 += sync_conflicts(__LINE__, a1);
  c2 += sync_conflicts(__LINE__, a2);

  /* phone: laptop first, tablet later (the tablet's edit wins); the laptop
   * syncs first, so head office detects the clash when the tablet pushes and
   * the laptop's value is the one overwritten when it pulls. */
  free(e2e_fs_ok(__LINE__, a1, ARGS("customer", "edit", cust, "--phone", "+49 40 5550")));
  e2e_msleep(30);
  free(e2e_fs_ok(__LINE__, a2, ARGS("customer", "edit", cust, "--phone", "+49 40 7770")));
  c1 += sync_conflicts(__LINE__, a1);
  c2 += sync_conflicts(__LINE__, a2);
  c1 += sync_conflicts(__LINE__, a1);
  c2 += sync_conflicts(__LINE__, a2);

  cJSON *sc = HQ_JSON(s, "conflicts", "--json");
  const cJSON *e = NULL;
  CHECK(cJSON_IsArray(sc));
  CHECK_EQ_INT(conflicts_for(sc, cust, "phone", &e), 1);
  CHECK_EQ_INT(cJSON_GetArraySize(sc), 1);
  CHECK_STR(e2e_str(e, "table"), "customers");
  CHECK_STR(e2e_str(e, "winner"), "+49 40 7770");
  CHECK_STR(e2e_str(e, "loser"), "+49 40 5550");
  cJSON_Delete(sc);

  cJSON *k1 = FS_JSON(a1, "conflicts", "--json"), *k2 = FS_JSON(a2, "conflicts", "--json");
  e = NULL;
  /* The laptop received the winning side over its own value. */
  CHECK_EQ_INT(conflicts_for(k1, cust, "phone", &e), 1);
  CHECK_STR(e2e_str(e, "winner"), "+49 40 7770");
  CHECK_STR(e2e_str(e, "loser"), "+49 40 5550");
  /* sync --json counted exactly what each device logged. */
  CHECK_EQ_INT(c1, cJSON_GetArraySize(k1));
  CHECK_EQ_INT(c2, cJSON_GetArraySize(k2));
  CHECK(conflicts_for(k2, cust, "phone", NULL) <= 1);
  cJSON_Delete(k1);
  cJSON_Delete(k2);
  cJSON *v1 = FS_JSON(a1, "customer", "show", cust, "--json");
  cJSON *v2 = FS_JSON(a2, "customer", "show", cust, "--json");
  CHECK_STR(e2e_str(v1, "phone"), "+49 40 7770");
  CHECK_STR(e2e_str(v2, "phone"), "+49 40 7770");
  cJSON_Delete(v1);
  cJSON_Delete(v2);

  /* email: the other way round — the later edit (laptop) reaches head
   * office first, the tablet's older value arrives second and loses. */
  free(e2e_fs_ok(__LINE__, a2, ARGS("customer", "edit", cust, "--email", "old@nordwind.example")));
  e2e_msleep(30);
  free(e2e_fs_ok(__LINE__, a1, ARGS("customer", "edit", cust, "--email", "new@nordwind.example")));
  c1 += sync_conflicts(__LINE__, a1);
  c2 += sync_conflicts(__LINE__, a2);
  c1 += sync_conflicts(__LINE__, a1);
  c2 += sync_conflicts(__LINE__, a2);
  sc = HQ_JSON(s, "conflicts", "--json");
  e = NULL;
  CHECK_EQ_INT(conflicts_for(sc, cust, "email", &e), 1);
  CHECK_STR(e2e_str(e, "winner"), "new@nordwind.example");
  CHECK_STR(e2e_str(e, "loser"), "old@nordwind.example");
  CHECK_EQ_INT(cJSON_GetArraySize(sc), 2);
  cJSON_Delete(sc);
  /* This time the tablet's value was overwritten when it pulled. */
  k2 = FS_JSON(a2, "conflicts", "--json");
  e = NULL;
  CHECK_EQ_INT(conflicts_for(k2, cust, "email", &e), 1);
  CHECK_STR(e2e_str(e, "winner"), "new@nordwind.example");
  CHECK_STR(e2e_str(e, "loser"), "old@nordwind.example");
  cJSON_Delete(k2);
  v2 = FS_JSON(a2, "customer", "show", cust, "--json");
  CHECK_STR(e2e_str(v2, "email"), "new@nordwind.example");
  cJSON_Delete(v2);

  /* Disjoint edits of the same customer: both survive, no conflict. */
  free(e2e_fs_ok(__LINE__, a1, ARGS("customer", "edit", cust, "--phone", "+49 40 9999")));
  e2e_msleep(5);
  free(e2e_fs_ok(__LINE__, a2, ARGS("customer", "edit", cust, "--city", "Lübeck")));
  long long d = 0;
  d += sync_conflicts(__LINE__, a1);
  d += sync_conflicts(__LINE__, a2);
  d += sync_conflicts(__LINE__, a1);
  d += sync_conflicts(__LINE__, a2);
  CHECK_EQ_INT(d, 0);
  v1 = FS_JSON(a1, "customer", "show", cust, "--json");
  v2 = FS_JSON(a2, "customer", "show", cust, "--json");
  CHECK_STR(e2e_str(v1, "phone"), "+49 40 9999");
  CHECK_STR(e2e_str(v1, "city"), "Lübeck");
  CHECK_STR(e2e_str(v1, "email"), "new@nordwind.example");
  CHECK_STR(e2e_str(v2, "phone"), "+49 40 9999");
  CHECK_STR(e2e_str(v2, "city"), "Lübeck");
  cJSON_Delete(v1);
  cJSON_Delete(v2);
  sc = HQ_JSON(s, "conflicts", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(sc), 2);
  CHECK_EQ_INT(conflicts_for(sc, cust, "city", NULL), 0);
  CHECK_EQ_INT(conflicts_for(sc, cust, "phone", NULL), 1);
  cJSON_Delete(sc);
  k1 = FS_JSON(a1, "conflicts", "--json");
  k2 = FS_JSON(a2, "conflicts", "--json");
  CHECK_EQ_INT(c1, cJSON_GetArraySize(k1));
  CHECK_EQ_INT(c2, cJSON_GetArraySize(k2));
  CHECK_EQ_INT(conflicts_for(k1, cust, "city", NULL) + conflicts_for(k2, cust, "city", NULL), 0);
  cJSON_Delete(k1);
  cJSON_Delete(k2);
  SAME_AS_HQ(a1, s, "anna");
  SAME_AS_HQ(a2, s, "anna");

  free(a1);
  free(a2);
done:
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------------------------ 3 */

static void test_reassign(void) {
  char *dir = tu_tmpdir("e2e-assign");
  e2e_server *s = e2e_server_new(dir, "hq");
  if (!s || e2e_server_start(s, 0)) goto done;
  char *a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  char *b = e2e_device_new(__LINE__, s, dir, "ben-laptop", "ben");
  SYNC(a);
  SYNC(b);
  char moved[64], stays[64], id[64], o1[64], o2[64];
  ADD(a, moved, "customer", "add", "--name", "Nordwind Büro GmbH", "--city", "Hamburg");
  ADD(a, stays, "customer", "add", "--name", "Hanse Möbel KG");
  ADD(a, id, "contact", "add", "--customer", moved, "--name", "Jana Peters");
  ADD(a, id, "contact", "add", "--customer", moved, "--name", "Olaf Krüger");
  ADD(a, id, "meeting", "add", "--customer", moved, "--at", "2026-03-10 10:30");
  ADD(a, id, "meeting", "add", "--customer", moved, "--at", "2026-03-11 10:30", "--kind", "call");
  ADD(a, id, "meeting", "add", "--customer", stays, "--at", "2026-03-11 11:30");
  submitted_order(__LINE__, a, moved, o1, "CHAIR-01", "4", "LAMP-03", "2");
  ADD(a, o2, "order", "new", "--customer", moved);
  ADD(a, id, "order", "line", o2, "--sku", "DESK-02", "--qty", "1");
  SYNC(a);
  SYNC(b);
  cJSON *bc = FS_JSON(b, "customer", "list", "--json");
  CHECK_EQ_INT(cJSON_GetArraySize(bc), 0);
  cJSON_Delete(bc);

  char *out = e2e_hq_ok(__LINE__, s, ARGS("assign", moved, "ben"));
  free(out);
  char *hq_ben = e2e_export_hq(__LINE__, s, "ben");
  cJSON *hb = parse(hq_ben);
  CHECK_EQ_INT(e2e_rows_where(hb, "customers", "id", moved), 1);
  CHECK_EQ_INT(e2e_rows_where(hb, "customers", "manager", "ben"), 1);
  CHECK_EQ_INT(e2e_rows_where(hb, "customers", "id", stays), 0);
  CHECK_EQ_INT(e2e_rows_where(hb, "contacts", "customer_id", moved), 2);
  CHECK_EQ_INT(e2e_rows_where(hb, "meetings", "customer_id", moved), 2);
  CHECK_EQ_INT(e2e_rows_where(hb, "orders", "customer_id", moved), 2);
  CHECK_EQ_INT(e2e_rows_where(hb, "order_lines", "customer_id", moved), 3);
  cJSON_Delete(hb);
  free(hq_ben);

  SYNC(b);
  cJSON *show = FS_JSON(b, "customer", "show", moved, "--json");
  CHECK_STR(e2e_str(show, "manager"), "ben");
  CHECK_EQ_INT(e2e_count(show, "contacts"), 2);
  CHECK_EQ_INT(e2e_count(show, "meetings"), 2);
  CHECK_EQ_INT(e2e_count(show, "orders"), 2);
  cJSON_Delete(show);
  cJSON *ord = FS_JSON(b, "order", "show", o1, "--json");
  CHECK_STR(e2e_str(ord, "status"), "submitted");
  CHECK_EQ_INT(e2e_count(ord, "lines"), 2);
  CHECK_EQ_INT(e2e_int(ord, "total"), 4 * 28900 + 2 * 3990);
  cJSON_Delete(ord);
  SAME_AS_HQ(b, s, "ben");
  /* One more round changes nothing. */
  SYNC(a);
  SYNC(b);
  SAME_AS_HQ(b, s, "ben");
  /* Whether anna's devices drop the moved customer is not specified; her
   * other customer is still hers at the server. */
  char *hq_anna = e2e_export_hq(__LINE__, s, "anna");
  cJSON *ha = parse(hq_anna);
  CHECK_EQ_INT(e2e_rows_where(ha, "customers", "id", stays), 1);
  CHECK_EQ_INT(e2e_rows_where(ha, "customers", "id", moved), 0);
  cJSON_Delete(ha);
  free(hq_anna);

  free(a);
  free(b);
done:
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------------------------ 4 */

/* The device's "refused" view (the library's own view of fs_refused). */
static cJSON *refused_of(const char *home) {
  fs_device *dev = NULL;
  char *txt = NULL;
  cJSON *doc = NULL;
  CHECK_OK(tu_device_open(&dev, home, NULL));
  if (dev) CHECK_OK(fs_view_json(&txt, fs_device_store(dev), "refused", NULL));
  if (txt) doc = cJSON_Parse(txt);
  fs_free(txt);
  fs_device_close(dev);
  return doc;
}

static void test_write_policy(void) {
  char *dir = tu_tmpdir("e2e-policy");
  e2e_server *s = e2e_server_new(dir, "hq");
  if (!s || e2e_server_start(s, 0)) goto done;
  char *a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  char *b = e2e_device_new(__LINE__, s, dir, "ben-laptop", "ben");
  char moved[64], kept[64], fresh[64], mid[64], id[64];
  ADD(a, moved, "customer", "add", "--name", "Nordwind Büro GmbH", "--phone", "+49 40 1234");
  ADD(a, kept, "customer", "add", "--name", "Hanse Möbel KG");
  SYNC(a);
  SYNC(b);

  /* Offline on anna's laptop; meanwhile head office gives Nordwind to ben. */
  free(e2e_fs_ok(__LINE__, a, ARGS("customer", "edit", moved, "--phone", "+49 40 0000")));
  ADD(a, mid, "meeting", "add", "--customer", kept, "--at", "2026-03-10 10:30");
  ADD(a, fresh, "customer", "add", "--name", "Elbe Logistik GmbH");
  ADD(a, id, "contact", "add", "--customer", kept, "--name", "Jana Peters");
  HQ_RUN(s, "assign", moved, "ben");

  /* The sync finishes but exits with the refused code (3), not 0. */
  char *out = NULL, *err = NULL;
  CHECK_EQ_INT(e2e_fs(a, &out, &err, ARGS("sync", "--json")), 3);
  CHECK(e2e_one_line(err, "fieldsync: "));
  cJSON *r = cJSON_Parse(out ? out : "");
  free(out);
  free(err);
  CHECK(r != NULL);
  /* Exactly the phone edit: the meeting, contact and new customer apply. */
  CHECK_EQ_INT(e2e_int(r, "refused"), 1);
  CHECK_EQ_INT(e2e_int(r, "pending"), 0);
  cJSON_Delete(r);
  cJSON *st = FS_JSON(a, "status", "--json");
  CHECK_EQ_INT(e2e_int(st, "refused"), 1);
  CHECK_EQ_INT(e2e_int(st, "pending"), 0);
  cJSON_Delete(st);
  /* The reason travels back to the device. */
  cJSON *why = refused_of(a);
  const cJSON *it, *hit = NULL;
  cJSON_ArrayForEach(it, why) {
    const char *row = e2e_str(it, "row");
    if (row && !strcmp(row, moved)) hit = it;
  }
  CHECK(hit != NULL);
  CHECK_CONTAINS(e2e_str(hit, "reason"), "ben");
  cJSON_Delete(why);
  /* ...and a person sees it with `fieldsync status`. */
  char *stat = e2e_fs_ok(__LINE__, a, ARGS("status"));
  CHECK_CONTAINS(stat, "Refused by head office");
  CHECK_CONTAINS(stat, moved);
  CHECK_CONTAINS(stat, "assigned to ben");
  free(stat);

  /* At the server: the refused edit did not apply, the rest did. */
  char *all = e2e_export_hq(__LINE__, s, NULL);
  cJSON *doc = parse(all);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "phone", "+49 40 1234"), 1);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "phone", "+49 40 0000"), 0);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "id", fresh), 1);
  CHECK_EQ_INT(e2e_rows_where(doc, "meetings", "id", mid), 1);
  CHECK_EQ_INT(e2e_rows_where(doc, "contacts", "customer_id", kept), 1);
  cJSON_Delete(doc);
  free(all);
  /* Ben's device gets the customer as head office has it. */
  SYNC(b);
  cJSON *bs = FS_JSON(b, "customer", "show", moved, "--json");
  CHECK_STR(e2e_str(bs, "phone"), "+49 40 1234");
  cJSON_Delete(bs);
  SAME_AS_HQ(b, s, "ben");
  /* A refused change is not retried forever: the next sync is clean. */
  r = e2e_sync(__LINE__, a);
  CHECK_EQ_INT(e2e_int(r, "refused"), 0);
  CHECK_EQ_INT(e2e_int(r, "pending"), 0);
  cJSON_Delete(r);

  free(a);
  free(b);
done:
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_three_devices_converge);
  TEST_RUN(test_conflicts);
  TEST_RUN(test_reassign);
  TEST_RUN(test_write_policy);
  e2e_stop_all();
  return tu_finish();
}
