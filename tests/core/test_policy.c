/*
 * test_policy.c — head office trusts no device (core/policy.c fsi_policy_check(),
 * core/domain.c fsi_domain_check_row, docs/merge.md "Write policy").
 *
 * Each test plays a tampered device: it builds a push by hand, merges it at
 * head office as a device push (fsi_merge_opts.sender_manager set) and checks
 * that what breaks a rule is refused with a sentence naming the rule, that
 * head office holds what it held before, and that the rest of the batch
 * applies.  Covers: a deleted customer cannot be taken over through its
 * tombstone, and tombstones reach only the devices of the manager that
 * held the customer; a moved customer's previous manager gets one let-go
 * marker and nothing after, even when the move is undone at once; a
 * head-office column is a device's only when it creates the row; the
 * domain rules of a local write (enumerations, codes, lengths, ranges, the
 * list price, whose manager) hold for a push too; causal lengths and
 * clocks are bounded, and a row at the bound can still be deleted safely;
 * a device cannot author writes in another device's name; the store
 * migration that brings tombstone managers and let-go markers (and the
 * later steps after it).
 *
 * Wall time is pinned with FIELDSYNC_TEST_NOW_MS so that "later" is exact.
 */
#include <fieldsync/server.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "merge.h"
#include "storeInt.h"
#include "hand_batch.h"
#include "testutil.h"
#include "util.h"

#define T0 1767600000000LL /* 2026-01-05T08:00:00Z */
#define LATER(ms) ((int64_t)(T0 + (ms)) << HLC_LOGICAL_BITS)

/* ------------------------------------------------------------ helpers */

static void set_now(int64_t ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)ms);
  setenv("FIELDSYNC_TEST_NOW_MS", buf, 1);
}

static fs_store *open_hq(void) {
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, ":memory:", NULL, FS_OPEN_CREATE | FS_OPEN_SERVER));
  if (!st) abort();
  return st;
}

/* A head-office home in a new directory *dir (for what only the handle
 * does: assignments). */
static fs_hq *open_office(char **dir) {
  char home[4200];
  fs_hq *hq = NULL;
  *dir = tu_tmpdir("policy");
  snprintf(home, sizeof home, "%s/hq", *dir);
  CHECK(mkdir(home, 0700) == 0);
  CHECK_OK(fs_hq_create(home));
  CHECK_OK(fs_hq_open(&hq, home));
  if (!hq) abort();
  return hq;
}

/* A device store of the default schema for manager `mgr`. */
static fs_store *open_device(const char *mgr, fs_store *hq) {
  fs_store *st = NULL;
  CHECK_OK(fs_store_open(&st, ":memory:", NULL, FS_OPEN_CREATE));
  if (!st) abort();
  CHECK_OK(fs_store_set(st, "manager", mgr));
  CHECK_OK(fs_store_set_hq_site(st, fs_store_site(hq)));
  return st;
}

/* Sends every change of `from` after *cur to `to`, filtered for manager
 * `filter` (NULL: everything), merged as a push of a device of sender_mgr
 * (NULL: not a device push); returns the refusals. */
static size_t sync_ex(fs_store *from, fs_store *to, fsi_merge_cursor *cur, const char *filter,
                      const char *sender_mgr) {
  fsi_merge_filter f = {fs_store_site(to), filter, 1, 0};
  fsi_batch *b = fsi_change_batch_new();
  int more = 1;
  size_t refused = 0;
  while (more) {
    fsi_merge_cursor next;
    int rc = fsi_merge_changes_since(from, cur, &f, 1000, b, &next, &more);
    CHECK_OK(rc);
    if (rc) break;
    fsi_merge_opts o = {fs_store_site(from), sender_mgr};
    fsi_merge_result res;
    rc = fsi_merge_apply(to, b, &o, &res);
    CHECK_OK(rc);
    if (rc) break;
    refused += res.refused;
    fsi_merge_result_free(&res);
    *cur = next;
  }
  fsi_change_batch_free(b);
  return refused;
}

static void push(fs_store *dev, fs_store *hq, fsi_merge_cursor *cur, const char *mgr) {
  CHECK_EQ_INT(sync_ex(dev, hq, cur, NULL, mgr), 0);
}

static void pull(fs_store *hq, fs_store *dev, fsi_merge_cursor *cur, const char *mgr) {
  CHECK_EQ_INT(sync_ex(hq, dev, cur, mgr, NULL), 0);
}

static int row_state(fs_store *st, const char *table, const char *pk) {
  struct fsi_arena *a = fsi_arena_new(4096);
  fsi_row r;
  CHECK_OK(fsi_row_load(st, fsi_store_table(st, table), pk, a, &r));
  fsi_arena_free(a);
  return r.state;
}

/* Text of column col of a live row ("" when NULL or not live). */
static const char *text_of(fs_store *st, const char *table, const char *pk, const char *col) {
  static char buf[256];
  struct fsi_arena *a = fsi_arena_new(4096);
  fsi_tbl_state *ts = fsi_store_table(st, table);
  fsi_row r;
  buf[0] = '\0';
  CHECK_OK(fsi_row_load(st, ts, pk, a, &r));
  for (size_t i = 0; r.state == ROW_LIVE && i < ts->decl->ncols; i++)
    if (!strcmp(ts->decl->cols[i].name, col) && r.vals[i].type == FS_VAL_TEXT)
      snprintf(buf, sizeof buf, "%s", r.vals[i].s);
  fsi_arena_free(a);
  return buf;
}

static int64_t count(fs_store *st, const char *sql) {
  sqlite3_stmt *s = NULL;
  int64_t n = -1;
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return n;
}

/* --- batches built by hand (a tampered device) --- */

static fsi_rowchange *hand_customer(fsi_batch *b, const char *pk, int64_t cl, int64_t hlc,
                                    int64_t site, const char *name, const char *mgr) {
  fsi_rowchange *r = hand_row(b, "customers", pk, cl, hlc, site);
  hand_text(b, r, "name", name);
  hand_text(b, r, "status", "prospect");
  if (mgr) hand_text(b, r, "manager", mgr);
  return r;
}

static void new_id(char id[FS_ID_SIZE]) { fs_uuid7(id); }

/* Merges b at head office as a push of device `dev` of manager mgr. */
static void merge_push(fs_store *hq, fs_store *dev, const char *mgr, fsi_batch *b,
                       fsi_merge_result *res) {
  fsi_merge_opts o = {fs_store_site(dev), mgr};
  CHECK_OK(fsi_merge_apply(hq, b, &o, res));
}

/* 1 when some row of b names pk (in any table but the let-go markers'
 * when skip_markers). */
static int batch_names(const fsi_batch *b, const char *pk, int skip_markers) {
  for (size_t i = 0; i < b->nrows; i++) {
    if (strcmp(b->rows[i].pk, pk) != 0) continue;
    if (skip_markers && !strcmp(b->tables[b->rows[i].table].name, "fs_letgo")) continue;
    return 1;
  }
  return 0;
}

/* What head office would send device dev of manager mgr after *cur. */
static void extract_for(fs_store *hq, fs_store *dev, const char *mgr, const fsi_merge_cursor *cur,
                        fsi_batch *b) {
  fsi_merge_filter f = {fs_store_site(dev), mgr, 1, 0};
  fsi_merge_cursor next;
  int more = 0;
  CHECK_OK(fsi_merge_changes_since(hq, cur, &f, 1000, b, &next, &more));
}

/* ------------------------------------------------------------- tests */

/* Break 4: ben's deleted customer cannot become anna's through a re-insert
 * pushed by anna's device, nor get children from it; the tombstone
 * remembers ben and goes to ben's devices only; ben's device may bring it
 * back. */
static void test_tombstone_takeover(void) {
  set_now(T0);
  fs_store *hq = open_hq();
  fs_store *anna = open_device("anna", hq), *ben = open_device("ben", hq);
  fsi_merge_cursor bc = {0, -1, ""}, a0 = {0, -1, ""};
  char cust[FS_ID_SIZE], contact[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, ben, "customers", (fs_field[]){{"name", "Bencorp"}}, 1));
  CHECK_OK(
      fs_insert(contact, ben, "contacts", (fs_field[]){{"customer_id", cust}, {"name", "Bo"}}, 2));
  push(ben, hq, &bc, "ben");
  set_now(T0 + 1000);
  CHECK_OK(fs_delete(ben, "customers", cust));
  CHECK_OK(fs_delete(ben, "contacts", contact));
  push(ben, hq, &bc, "ben");
  CHECK_EQ_INT(row_state(hq, "customers", cust), ROW_TOMB);
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_tomb WHERE manager='ben'"), 2);

  /* the tombstones do not reach anna's devices, they reach ben's */
  fsi_batch *out = fsi_change_batch_new();
  extract_for(hq, anna, "anna", &a0, out);
  CHECK(!batch_names(out, cust, 0));
  CHECK(!batch_names(out, contact, 0));
  fs_store *ben2 = open_device("ben", hq); /* ben's other laptop */
  extract_for(hq, ben2, "ben", &a0, out);
  CHECK(batch_names(out, cust, 0));
  CHECK(batch_names(out, contact, 0));
  fsi_change_batch_free(out);
  fs_store_close(ben2);

  /* anna's device re-creates ben's customer as hers, and adds a child */
  set_now(T0 + 2000);
  fsi_batch *b = hand_batch(fs_schema_fieldsales());
  hand_customer(b, cust, 3, LATER(2000), fs_store_site(anna), "Annacorp", "anna");
  char c2[FS_ID_SIZE];
  new_id(c2);
  fsi_rowchange *r = hand_row(b, "contacts", c2, 1, LATER(2000), fs_store_site(anna));
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "name", "Spy");
  fsi_merge_result res;
  merge_push(hq, anna, "anna", b, &res);
  CHECK_EQ_INT(res.refused, 2);
  CHECK_EQ_INT(res.applied, 0);
  if (res.refused == 2) {
    CHECK_STR(res.refusals[0].table, "customers");
    CHECK_CONTAINS(res.refusals[0].reason, "deleted while assigned to ben");
    CHECK_STR(res.refusals[1].table, "contacts");
    CHECK_CONTAINS(res.refusals[1].reason, "ben");
  }
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(row_state(hq, "customers", cust), ROW_TOMB);
  CHECK_EQ_INT(row_state(hq, "contacts", c2), ROW_NONE);
  fsi_change_batch_free(b);

  /* ben's device brings it back (a re-insert under the same id) */
  CHECK_OK(fs_insert(NULL, ben, "customers", (fs_field[]){{"id", cust}, {"name", "Bencorp"}}, 2));
  push(ben, hq, &bc, "ben");
  CHECK_EQ_INT(row_state(hq, "customers", cust), ROW_LIVE);
  CHECK_STR(text_of(hq, "customers", cust, "manager"), "ben");
  fs_store_close(anna);
  fs_store_close(ben);
  fs_store_close(hq);
}

/* Break 5: after `assign C ben`, anna's devices get one let-go marker (no
 * values) and nothing of C after it; the marker is forgotten once
 * delivered; an assignment undone at once leaks nothing to ben. */
static void test_moved_customer_let_go(void) {
  set_now(T0);
  char *dir = NULL;
  fs_hq *office = open_office(&dir);
  fs_store *hq = fs_hq_store(office);
  fs_store *anna = open_device("anna", hq), *ben = open_device("ben", hq);
  fsi_merge_cursor ap = {0, -1, ""}, apull = {0, -1, ""}, bpull = {0, -1, ""};
  char c[FS_ID_SIZE], k[FS_ID_SIZE], contact[FS_ID_SIZE];
  CHECK_OK(fs_insert(c, anna, "customers", (fs_field[]){{"name", "Moving Ltd"}}, 1));
  CHECK_OK(
      fs_insert(contact, anna, "contacts", (fs_field[]){{"customer_id", c}, {"name", "Mo"}}, 2));
  CHECK_OK(fs_insert(k, anna, "customers", (fs_field[]){{"name", "Kept GmbH"}}, 1));
  push(anna, hq, &ap, "anna");
  pull(hq, anna, &apull, "anna");
  pull(hq, ben, &bpull, "ben");

  set_now(T0 + 1000);
  CHECK_OK(fs_hq_assign(office, c, "ben"));
  fsi_batch *out = fsi_change_batch_new();
  extract_for(hq, anna, "anna", &apull, out);
  CHECK_EQ_INT(out->nrows, 1);
  if (out->nrows == 1) {
    const fsi_rowchange *m = &out->rows[0];
    CHECK_STR(out->tables[m->table].name, "fs_letgo");
    CHECK_STR(m->pk, c);
    CHECK_EQ_INT(m->nvals, 0);
    CHECK_EQ_INT(m->ncells, 0);
  }
  fsi_change_batch_free(out);
  pull(hq, anna, &apull, "anna");
  CHECK_EQ_INT(row_state(anna, "customers", c), ROW_NONE);
  CHECK_EQ_INT(row_state(anna, "contacts", contact), ROW_NONE);
  CHECK_EQ_INT(row_state(anna, "customers", k), ROW_LIVE);
  pull(hq, ben, &bpull, "ben");
  CHECK_STR(text_of(ben, "customers", c, "name"), "Moving Ltd");

  /* ben edits C: nothing of it reaches anna's devices any more */
  set_now(T0 + 2000);
  CHECK_OK(fs_update(ben, "customers", c, (fs_field[]){{"phone", "+49 30 1"}}, 1));
  fsi_merge_cursor bp = {0, -1, ""};
  CHECK_EQ_INT(sync_ex(ben, hq, &bp, NULL, "ben"), 0);
  CHECK_OK(fs_update(hq, "customers", c, (fs_field[]){{"segment", "retail"}}, 1));
  out = fsi_change_batch_new();
  extract_for(hq, anna, "anna", &apull, out);
  CHECK_EQ_INT(out->nrows, 0);
  fsi_change_batch_free(out);

  /* delivered to every device of anna's: the bookkeeping goes */
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_moved WHERE manager='anna'"), 1);
  CHECK_OK(fsi_merge_moved_delivered(hq, "anna", apull.seq));
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_moved"), 0);

  /* back and forth: K goes to ben and straight back to anna */
  set_now(T0 + 3000);
  CHECK_OK(fs_hq_assign(office, k, "ben"));
  CHECK_OK(fs_hq_assign(office, k, "anna"));
  CHECK_OK(fs_update(anna, "customers", k, (fs_field[]){{"phone", "+48 58 2"}}, 1));
  push(anna, hq, &ap, "anna");
  out = fsi_change_batch_new();
  extract_for(hq, ben, "ben", &bpull, out);
  CHECK(!batch_names(out, k, 1)); /* at most a marker, never K's values */
  fsi_change_batch_free(out);
  pull(hq, ben, &bpull, "ben");
  CHECK_EQ_INT(row_state(ben, "customers", k), ROW_NONE);
  pull(hq, anna, &apull, "anna");
  CHECK_EQ_INT(row_state(anna, "customers", k), ROW_LIVE);
  CHECK_STR(text_of(anna, "customers", k, "phone"), "+48 58 2");
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_moved WHERE manager='anna'"), 0);

  /* a marker is head office's word only */
  fsi_batch *b = hand_batch(fs_schema_fieldsales());
  fsi_batch_table *tabs = fsi_arena_alloc(b->arena, (b->ntables + 1u) * sizeof *tabs);
  memcpy(tabs, b->tables, b->ntables * sizeof *tabs);
  tabs[b->ntables++] = (fsi_batch_table){"fs_letgo", 0, tabs[0].cols};
  b->tables = tabs;
  fsi_rowchange *r = &b->rows[b->nrows++];
  memset(r, 0, sizeof *r);
  r->table = (uint16_t)(b->ntables - 1);
  r->pk = k;
  r->cl = 2;
  r->hlc = LATER(3000);
  r->site = fs_store_site(ben);
  fsi_merge_result res;
  fsi_merge_opts o = {fs_store_site(ben), NULL};
  CHECK_OK(fsi_merge_apply(anna, b, &o, &res)); /* from a peer that is not head office */
  CHECK_EQ_INT(res.refused, 1);
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(row_state(anna, "customers", k), ROW_LIVE);
  merge_push(hq, ben, "ben", b, &res); /* a device telling head office */
  CHECK_EQ_INT(res.refused, 1);
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(row_state(hq, "customers", k), ROW_LIVE);
  fsi_change_batch_free(b);
  fs_store_close(anna);
  fs_store_close(ben);
  fs_hq_close(office);
  tu_rmrf(dir);
  free(dir);
}

/* Break 6: re-sending an existing customer with a raised row clock and no
 * cell for `manager` does not move it; a new customer keeps its creator's
 * manager. */
static void test_hq_column_only_at_creation(void) {
  set_now(T0);
  fs_store *hq = open_hq();
  fs_store *anna = open_device("anna", hq);
  fsi_merge_cursor ap = {0, -1, ""};
  char cust[FS_ID_SIZE], fresh[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, anna, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  push(anna, hq, &ap, "anna");
  fsi_batch *b = hand_batch(fs_schema_fieldsales());
  hand_customer(b, cust, 1, LATER(5000), fs_store_site(anna), "Acme", "ben");
  new_id(fresh);
  hand_customer(b, fresh, 1, LATER(5000), fs_store_site(anna), "Fresh", "anna");
  fsi_merge_result res;
  merge_push(hq, anna, "anna", b, &res);
  CHECK_EQ_INT(res.refused, 1);
  if (res.refused == 1) {
    CHECK_STR(res.refusals[0].pk, cust);
    CHECK(res.refusals[0].col != NULL && !strcmp(res.refusals[0].col, "manager"));
    CHECK_CONTAINS(res.refusals[0].reason, "customers.manager is set by head office only");
  }
  fsi_merge_result_free(&res);
  CHECK_STR(text_of(hq, "customers", cust, "manager"), "anna");
  CHECK_STR(text_of(hq, "customers", fresh, "manager"), "anna");
  fsi_change_batch_free(b);
  fs_store_close(anna);
  fs_store_close(hq);
}

/* Break 7: what a local write refuses, head office refuses in a push,
 * row by row, with a sentence naming the rule; the rest applies. */
static void test_hq_validates_domain(void) {
  set_now(T0);
  fs_store *hq = open_hq();
  fs_store *anna = open_device("anna", hq);
  fsi_merge_cursor ap = {0, -1, ""}, apull = {0, -1, ""};
  CHECK_OK(fs_insert(NULL, hq, "products",
                     (fs_field[]){{"sku", "A-1"}, {"name", "Anvil"}, {"active", "1"}}, 3));
  CHECK_OK(fs_insert(NULL, hq, "prices",
                     (fs_field[]){{"sku", "A-1"}, {"currency", "EUR"}, {"price", "1250"}}, 3));
  pull(hq, anna, &apull, "anna");
  char cust[FS_ID_SIZE], ord[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, anna, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  CHECK_OK(fs_insert(ord, anna, "orders", (fs_field[]){{"customer_id", cust}}, 1));
  push(anna, hq, &ap, "anna");

  int64_t h = LATER(1000), s = fs_store_site(anna);
  char id[8][FS_ID_SIZE];
  for (int i = 0; i < 8; i++) new_id(id[i]);
  fsi_batch *b = hand_batch(fs_schema_fieldsales());
  hand_customer(b, id[0], 1, h, s, "Hacked", "anna");
  hand_text(b, &b->rows[0], "status", "HACKED");
  fsi_rowchange *r = hand_customer(b, id[1], 1, h, s, "Deutsch", "anna");
  hand_text(b, r, "country", "DEUT");
  char *big = malloc(65537);
  memset(big, 'x', 65536);
  big[65536] = '\0';
  r = hand_row(b, "contacts", id[2], 1, h, s);
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "name", big);
  free(big);
  r = hand_row(b, "orders", id[3], 1, h, s);
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "status", "draft");
  hand_text(b, r, "currency", "EUR");
  hand_int(b, r, "discount_bp", -50000);
  hand_text(b, r, "manager", "anna");
  r = hand_row(b, "order_lines", id[4], 1, h, s);
  hand_text(b, r, "order_id", ord);
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "sku", "A-1");
  hand_int(b, r, "qty", 1);
  hand_int(b, r, "unit_price", 1);
  hand_text(b, r, "currency", "EUR");
  r = hand_row(b, "orders", id[5], 1, h, s);
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "status", "draft");
  hand_text(b, r, "currency", "EUR");
  hand_text(b, r, "manager", "ben");           /* credited to someone else */
  r = hand_row(b, "contacts", id[6], 1, h, s); /* a good row */
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "name", "Eve");
  r = hand_row(b, "order_lines", id[7], 1, h, s); /* at the list price: fine */
  hand_text(b, r, "order_id", ord);
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "sku", "A-1");
  hand_int(b, r, "qty", 2);
  hand_int(b, r, "unit_price", 1250);
  hand_text(b, r, "currency", "EUR");
  fsi_merge_result res;
  merge_push(hq, anna, "anna", b, &res);
  CHECK_EQ_INT(res.refused, 6);
  CHECK_EQ_INT(res.applied, 2);
  static const char *const want[6] = {
      "status \"HACKED\" is not one of", "country is too long",        "name is too long",
      "discount must be between",        "the list price is 1250 EUR", "orders.manager names ben"};
  for (size_t i = 0; i < res.refused && i < 6; i++) {
    CHECK_STR(res.refusals[i].pk, id[i]);
    CHECK_CONTAINS(res.refusals[i].reason, want[i]);
    const char *why = res.refusals[i].reason;
    CHECK(why[strlen(why) - 1] == '.'); /* a whole sentence */
  }
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_refused"), 6);
  CHECK_EQ_INT(row_state(hq, "customers", id[0]), ROW_NONE);
  CHECK_EQ_INT(row_state(hq, "customers", id[1]), ROW_NONE);
  CHECK_EQ_INT(row_state(hq, "contacts", id[2]), ROW_NONE);
  CHECK_EQ_INT(row_state(hq, "orders", id[3]), ROW_NONE);
  CHECK_EQ_INT(row_state(hq, "order_lines", id[4]), ROW_NONE);
  CHECK_EQ_INT(row_state(hq, "orders", id[5]), ROW_NONE);
  CHECK_EQ_INT(row_state(hq, "contacts", id[6]), ROW_LIVE);
  CHECK_EQ_INT(row_state(hq, "order_lines", id[7]), ROW_LIVE);
  fsi_change_batch_free(b);

  /* a line taken on the list before a price change is still accepted */
  CHECK_OK(fs_order_line_add(id[0], anna, ord, "A-1", 1, 0));
  set_now(T0 + 2000);
  char pid[FS_ID_SIZE] = "";
  sqlite3_stmt *q = NULL;
  CHECK(sqlite3_prepare_v2(hq->db, "SELECT id FROM prices", -1, &q, NULL) == SQLITE_OK);
  if (sqlite3_step(q) == SQLITE_ROW)
    snprintf(pid, sizeof pid, "%s", (const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  CHECK_OK(fs_update(hq, "prices", pid, (fs_field[]){{"price", "1500"}}, 1));
  push(anna, hq, &ap, "anna");
  CHECK_EQ_INT(row_state(hq, "order_lines", id[0]), ROW_LIVE);
  fs_store_close(anna);
  fs_store_close(hq);
}

/* A submitted order is frozen at head office as on the device: an order
 * submitted with its lines in one batch is accepted whatever the order of
 * its rows; a line edited afterwards on a second laptop of the same
 * manager, which still held the draft, is refused and logged, and that
 * laptop receives head office's line again at its next pull; and a
 * tampered device can neither edit a line of a submitted order, nor delete
 * the order, nor put it back to draft. */
static void test_frozen_order(void) {
  set_now(T0);
  fs_store *hq = open_hq();
  fs_store *a1 = open_device("anna", hq), *a2 = open_device("anna", hq);
  fsi_merge_cursor p1 = {0, -1, ""}, q1 = {0, -1, ""}, p2 = {0, -1, ""}, q2 = {0, -1, ""};
  CHECK_OK(fs_insert(NULL, hq, "products",
                     (fs_field[]){{"sku", "A-1"}, {"name", "Anvil"}, {"active", "1"}}, 3));
  CHECK_OK(fs_insert(NULL, hq, "prices",
                     (fs_field[]){{"sku", "A-1"}, {"currency", "EUR"}, {"price", "1250"}}, 3));
  pull(hq, a1, &q1, "anna");
  char cust[FS_ID_SIZE], ord[FS_ID_SIZE], l1[FS_ID_SIZE], l2[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, a1, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  CHECK_OK(fs_insert(ord, a1, "orders", (fs_field[]){{"customer_id", cust}}, 1));
  CHECK_OK(fs_order_line_add(l1, a1, ord, "A-1", 1, 0));
  push(a1, hq, &p1, "anna");
  pull(hq, a2, &q2, "anna"); /* the second laptop holds the draft */
  CHECK_STR(text_of(a2, "orders", ord, "status"), "draft");
  /* a line and the submit, in one batch */
  set_now(T0 + 1000);
  CHECK_OK(fs_order_line_add(l2, a1, ord, "A-1", 2, 0));
  CHECK_OK(fs_order_submit(a1, ord));
  push(a1, hq, &p1, "anna");
  CHECK_STR(text_of(hq, "orders", ord, "status"), "submitted");
  CHECK_EQ_INT(row_state(hq, "order_lines", l2), ROW_LIVE);
  /* the second laptop edits line 1 later: refused, kept for a person */
  set_now(T0 + 2000);
  CHECK_OK(fs_update(a2, "order_lines", l1, (fs_field[]){{"qty", "9"}}, 1));
  int64_t before = count(hq, "SELECT count(*) FROM fs_refused");
  CHECK_EQ_INT(sync_ex(a2, hq, &p2, NULL, "anna"), 1);
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_refused"), before + 1);
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_refused WHERE reason LIKE '%frozen%'"),
               before + 1);
  CHECK_EQ_INT(count(hq, "SELECT qty FROM order_lines WHERE id IN (SELECT id FROM order_lines"
                         " ORDER BY id LIMIT 1)"),
               1);
  /* and head office sends its line again, above the refused edit: the
   * second laptop comes back to the order as submitted */
  pull(hq, a2, &q2, "anna");
  CHECK_STR(text_of(a2, "orders", ord, "status"), "submitted");
  CHECK_EQ_INT(count(a2, "SELECT qty FROM order_lines WHERE id IN (SELECT id FROM order_lines"
                         " ORDER BY id LIMIT 1)"),
               1);
  /* a tampered device: a line edited, the order deleted, back to draft */
  int64_t h = LATER(3000), s = fs_store_site(a1);
  fsi_batch *b = hand_batch(fs_schema_fieldsales());
  fsi_rowchange *r = hand_row(b, "order_lines", l2, 1, h, s);
  hand_text(b, r, "order_id", ord);
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "sku", "A-1");
  hand_int(b, r, "qty", 200);
  hand_int(b, r, "unit_price", 1250);
  hand_text(b, r, "currency", "EUR");
  hand_int(b, r, "discount_bp", 0);
  fsi_merge_result res;
  merge_push(hq, a1, "anna", b, &res);
  CHECK_EQ_INT(res.refused, 1);
  if (res.refused) CHECK_CONTAINS(res.refusals[0].reason, "frozen");
  fsi_merge_result_free(&res);
  fsi_change_batch_free(b);
  b = hand_batch(fs_schema_fieldsales());
  hand_row(b, "orders", ord, 2, h, s); /* a delete */
  merge_push(hq, a1, "anna", b, &res);
  CHECK_EQ_INT(res.refused, 1);
  fsi_merge_result_free(&res);
  fsi_change_batch_free(b);
  /* (head office re-sent its order above the refused delete: the next
   * attempt comes later still) */
  b = hand_batch(fs_schema_fieldsales());
  r = hand_row(b, "orders", ord, 1, LATER(4000), s);
  hand_text(b, r, "customer_id", cust);
  hand_text(b, r, "status", "draft");
  hand_text(b, r, "currency", "EUR");
  hand_int(b, r, "discount_bp", 0);
  hand_text(b, r, "manager", "anna");
  merge_push(hq, a1, "anna", b, &res);
  CHECK_EQ_INT(res.refused, 1);
  fsi_merge_result_free(&res);
  fsi_change_batch_free(b);
  CHECK_EQ_INT(row_state(hq, "orders", ord), ROW_LIVE);
  CHECK_STR(text_of(hq, "orders", ord, "status"), "submitted");
  CHECK_EQ_INT(count(hq, "SELECT sum(qty) FROM order_lines"), 3);
  fs_store_close(a1);
  fs_store_close(a2);
  fs_store_close(hq);
}

/* Break 9: a device cannot author a write in another device's name; it may
 * send back, with its own edit, what it received from head office. */
static void test_site_authorship(void) {
  set_now(T0);
  fs_store *hq = open_hq();
  fs_store *d1 = open_device("anna", hq), *d2 = open_device("anna", hq);
  fsi_merge_cursor p1 = {0, -1, ""}, p2 = {0, -1, ""}, q2 = {0, -1, ""};
  char cust[FS_ID_SIZE], fake[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, d1, "customers", (fs_field[]){{"name", "Acme"}}, 1));
  push(d1, hq, &p1, "anna");
  pull(hq, d2, &q2, "anna");
  int64_t ch, cs;
  row_clock(hq, "customers", cust, &ch, &cs);

  /* d2 claims an edit d1 never made, and a row d1 never wrote */
  fsi_batch *b = hand_batch(fs_schema_fieldsales());
  fsi_rowchange *r = hand_customer(b, cust, 1, ch, cs, "Acme (closed)", "anna");
  hand_cell(b, r, "name", LATER(1000), fs_store_site(d1));
  new_id(fake);
  hand_customer(b, fake, 1, LATER(1000), fs_store_site(d1), "Ghost", "anna");
  fsi_merge_result res;
  merge_push(hq, d2, "anna", b, &res);
  CHECK_EQ_INT(res.refused, 2);
  for (size_t i = 0; i < res.refused; i++)
    CHECK_CONTAINS(res.refusals[i].reason, "a device may only send its own writes");
  fsi_merge_result_free(&res);
  CHECK_STR(text_of(hq, "customers", cust, "name"), "Acme");
  CHECK_EQ_INT(row_state(hq, "customers", fake), ROW_NONE);
  fsi_change_batch_free(b);

  /* legitimately: d1 renames, d2 (not having seen it) edits the phone of
   * the row whose clock is d1's; both land */
  set_now(T0 + 2000);
  CHECK_OK(fs_update(d1, "customers", cust, (fs_field[]){{"name", "Acme Ltd"}}, 1));
  push(d1, hq, &p1, "anna");
  CHECK_OK(fs_update(d2, "customers", cust, (fs_field[]){{"phone", "+1 555"}}, 1));
  push(d2, hq, &p2, "anna");
  CHECK_STR(text_of(hq, "customers", cust, "name"), "Acme Ltd");
  CHECK_STR(text_of(hq, "customers", cust, "phone"), "+1 555");
  fs_store_close(d1);
  fs_store_close(d2);
  fs_store_close(hq);
}

/* Break 8: causal lengths and clocks are bounded at merge, on every
 * replica; a row at the limit cannot overflow a delete. */
static void test_clock_bounds(void) {
  set_now(T0);
  fs_store *hq = open_hq();
  fs_store *anna = open_device("anna", hq);
  char c1[FS_ID_SIZE], c2[FS_ID_SIZE], c3[FS_ID_SIZE];
  new_id(c1);
  new_id(c2);
  new_id(c3);
  fsi_batch *b = hand_batch(fs_schema_fieldsales());
  hand_customer(b, c1, INT64_MAX, LATER(0), fs_store_site(anna), "Forever", "anna");
  fsi_rowchange *r = hand_customer(b, c2, 1, LATER(0), fs_store_site(anna), "Zero", "anna");
  hand_cell(b, r, "phone", 0, fs_store_site(anna));
  hand_customer(b, c3, 1, LATER(0), fs_store_site(anna), "Fine", "anna");
  fsi_merge_result res;
  merge_push(hq, anna, "anna", b, &res);
  CHECK_EQ_INT(res.refused, 2);
  if (res.refused == 2) {
    CHECK_CONTAINS(res.refusals[0].reason, "causal length");
    CHECK_CONTAINS(res.refusals[1].reason, "zero or negative");
  }
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(row_state(hq, "customers", c1), ROW_NONE);
  CHECK_EQ_INT(row_state(hq, "customers", c2), ROW_NONE);
  CHECK_EQ_INT(row_state(hq, "customers", c3), ROW_LIVE);
  fsi_change_batch_free(b);

  /* a device too refuses an unbounded causal length, even from head office */
  b = hand_batch(fs_schema_fieldsales());
  hand_customer(b, c1, INT64_MAX, LATER(0), fs_store_site(hq), "Forever", "anna");
  fsi_merge_opts o = {fs_store_site(hq), NULL};
  CHECK_OK(fsi_merge_apply(anna, b, &o, &res));
  CHECK_EQ_INT(res.refused, 1);
  fsi_merge_result_free(&res);
  CHECK_EQ_INT(row_state(anna, "customers", c1), ROW_NONE);
  fsi_change_batch_free(b);

  /* whatever a store holds, a delete or re-insert never overflows */
  char x[FS_ID_SIZE];
  CHECK_OK(fs_insert(x, anna, "customers", (fs_field[]){{"name", "Max"}}, 1));
  CHECK(sqlite3_exec(anna->db, "UPDATE customers SET _cl=9223372036854775807", NULL, NULL, NULL) ==
        SQLITE_OK);
  CHECK_ERR(fs_delete(anna, "customers", x), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "causal length");
  CHECK_EQ_INT(row_state(anna, "customers", x), ROW_LIVE);
  fs_store_close(anna);
  fs_store_close(hq);
}

/* The store migration (format 2 to 3): tombstones get their manager column,
 * head office's price history table appears, and a move recorded before
 * gets a change number of its own above every other, so the devices of the
 * manager it left are still told once. */
static void test_upgrade_from_format_2(void) {
  set_now(T0);
  char *dir = tu_tmpdir("policy");
  char path[4200];
  snprintf(path, sizeof path, "%s/hq.db", dir);
  fs_store *hq = NULL;
  CHECK_OK(fs_store_open(&hq, path, NULL, FS_OPEN_CREATE | FS_OPEN_SERVER));
  if (!hq) abort();
  char cust[FS_ID_SIZE];
  CHECK_OK(fs_insert(cust, hq, "customers", (fs_field[]){{"name", "Old"}, {"manager", "ben"}}, 2));
  int64_t seq = count(hq, "SELECT value FROM fs_meta WHERE key='seq'");
  /* back to format 2, with a move recorded the old way */
  char sql[2048];
  snprintf(sql, sizeof sql,
           "DROP TABLE fs_receipt;"
           "DROP TABLE fs_price_log; DROP INDEX fs_moved_seq; DROP TABLE fs_moved;"
           "ALTER TABLE fs_tomb DROP COLUMN manager;"
           "CREATE TABLE fs_moved(pk TEXT NOT NULL, manager TEXT NOT NULL,"
           " PRIMARY KEY(pk, manager)) WITHOUT ROWID;"
           "INSERT INTO fs_moved VALUES('%s', 'anna');"
           "DROP TABLE fs_refused;"
           "CREATE TABLE fs_refused(id INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
           " pk TEXT NOT NULL, col TEXT, site INTEGER NOT NULL, hlc INTEGER NOT NULL,"
           " reason TEXT NOT NULL, at INTEGER NOT NULL, value TEXT,"
           " UNIQUE(tbl, pk, col, site, hlc));"
           "INSERT INTO fs_refused(tbl, pk, col, site, hlc, reason, at, value) VALUES"
           " ('orders', 'o1', '', 7, 0, 'an old refusal.', 1, '{\"customer_id\":\"%s\"}');"
           "UPDATE fs_meta SET value=2 WHERE key='format'",
           cust, cust);
  CHECK(sqlite3_exec(hq->db, sql, NULL, NULL, NULL) == SQLITE_OK);
  fs_store_close(hq);
  hq = NULL;
  CHECK_OK(fs_store_open(&hq, path, NULL, 0));
  if (!hq) abort();
  /* brought all the way to this build's format, the one a new store gets */
  fs_store *fresh = open_hq();
  CHECK_EQ_INT(count(hq, "SELECT value FROM fs_meta WHERE key='format'"),
               count(fresh, "SELECT value FROM fs_meta WHERE key='format'"));
  CHECK(count(hq, "SELECT value FROM fs_meta WHERE key='format'") >= 3);
  fs_store_close(fresh);
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_receipt"), 0); /* step 5 ran */
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM pragma_table_info('fs_tomb') WHERE name='manager'"),
               1);
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_price_log"), 0);
  /* a refusal logged before refusals had a state is open, with its customer */
  CHECK_EQ_INT(count(hq, "SELECT count(*) FROM fs_refused WHERE state='open' AND customer IS NOT "
                         "NULL AND copied_to IS NULL"),
               1);
  CHECK_EQ_INT(count(hq, "SELECT seq FROM fs_moved"), seq + 1);
  CHECK_EQ_INT(count(hq, "SELECT value FROM fs_meta WHERE key='seq'"), seq + 1);
  /* anna's device is told, once */
  fs_store *anna = open_device("anna", hq);
  fsi_merge_cursor ac = {0, -1, ""};
  fsi_batch *out = fsi_change_batch_new();
  extract_for(hq, anna, "anna", &ac, out);
  CHECK_EQ_INT(out->nrows, 1);
  if (out->nrows == 1) CHECK_STR(out->tables[out->rows[0].table].name, "fs_letgo");
  fsi_change_batch_free(out);
  /* and a new change numbers after it */
  char c2[FS_ID_SIZE];
  CHECK_OK(fs_insert(c2, hq, "customers", (fs_field[]){{"name", "New"}, {"manager", "anna"}}, 2));
  CHECK(count(hq, "SELECT _seq FROM customers WHERE name='New'") > seq + 1);
  fs_store_close(anna);
  fs_store_close(hq);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_tombstone_takeover);
  TEST_RUN(test_moved_customer_let_go);
  TEST_RUN(test_hq_column_only_at_creation);
  TEST_RUN(test_hq_validates_domain);
  TEST_RUN(test_site_authorship);
  TEST_RUN(test_frozen_order);
  TEST_RUN(test_upgrade_from_format_2);
  TEST_RUN(test_clock_bounds); /* last: before the fix it trips UBSan */
  unsetenv("FIELDSYNC_TEST_NOW_MS");
  return tu_finish();
}
