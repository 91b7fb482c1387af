/*
 * test_e2e_trust.c — who and what head office trusts, end to end with the
 * real `fieldsync-server` on 127.0.0.1 and real device homes.
 *
 * Covers:
 *  - revocation: after `fieldsync-server revoke ID` (the id from
 *    `fieldsync status --json`) the device's sync fails with one stderr line
 *    saying it was revoked, its unsent change stays pending, what it sent
 *    before stays at the server, and enrolling again with a fresh token is
 *    refused — both on the device itself and from a copy of its identity
 *    taken before it ever enrolled (so the refusal must come from the
 *    server, not from the local "already enrolled" check);
 *  - replay/fork on the wire: a device home copied with `cp -a` after a sync
 *    (same identity, same chain state); both copies make a change; the first
 *    to sync is accepted, the second's push is refused (its sequence number
 *    was already used by a different envelope) with one clear stderr line
 *    and a non-zero exit, and its change is not at the server; the original
 *    keeps syncing; `verify-log` exits 0 and reports the envelope count;
 *  - TLS trust at enrollment: another server's certificate as --ca is
 *    refused with a message about the certificate, a wrong --pin is
 *    refused, the right --pin (the "fingerprint" of `init --json`) works
 *    without --ca and the device then syncs.
 */
#include <sqlite3.h>

#include "http_client.h"
#include "keys.h"
#include "e2e.h"
#include "hostile.h"

#include <stdlib.h>
#include <string.h>

static cJSON *parse(const char *text) { return text ? cJSON_Parse(text) : NULL; }

/* A refused device command: non-zero exit, nothing on stdout, exactly one
 * "fieldsync: " line on stderr containing `needle` (NULL = any). */
static void refused_at(int line, const char *home, const char *needle, const char *const *args) {
  char *out = NULL, *err = NULL;
  int rc = e2e_fs(home, &out, &err, args);
  tu_checks += 3;
  if (rc == 0 || rc < 0) tu_fail(__FILE__, line, "exit %d, expected a non-zero exit", rc);
  if (!e2e_one_line(err, "fieldsync: "))
    tu_fail(__FILE__, line, "stderr is not one 'fieldsync: ' line: \"%s\"", err ? err : "(null)");
  else if (needle && !strstr(err, needle))
    tu_fail(__FILE__, line, "stderr does not mention \"%s\": %s", needle, err);
  if (!out || *out) tu_fail(__FILE__, line, "printed on stdout: %s", out ? out : "(null)");
  free(out);
  free(err);
}
#define REFUSED(home, needle, ...) refused_at(__LINE__, home, needle, ARGS(__VA_ARGS__))

static char *token_for(const e2e_server *s, const char *manager) {
  char *t = e2e_hq_ok(__LINE__, s, ARGS("token", "create", "--manager", manager));
  if (t) t[strcspn(t, "\r\n")] = '\0';
  return t;
}

static int copy_tree(const char *from, const char *to) {
  const char *argv[] = {"/bin/cp", "-a", from, to, NULL};
  return e2e_wait(e2e_spawn(argv, NULL, NULL), 30000);
}

/* ------------------------------------------------------------ 5 */

static void test_revoked_device(void) {
  char *dir = tu_tmpdir("e2e-revoke");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *twin = NULL, *tok = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  /* A copy of the identity taken before enrollment. */
  a = e2e_path(dir, "anna-laptop");
  twin = e2e_path(dir, "anna-laptop-twin");
  FS_RUN(a, "init", "--manager", "anna");
  CHECK_EQ_INT(copy_tree(a, twin), 0);
  tok = token_for(s, "anna");
  FS_RUN(a, "enroll", "--server", s->url, "--token", tok ? tok : "", "--ca", s->cert);
  free(tok);
  tok = NULL;

  char cust[64], mid[64], dev[64], later[64];
  ADD(a, cust, "customer", "add", "--name", "Nordwind Büro GmbH");
  ADD(a, mid, "meeting", "add", "--customer", cust, "--at", "2026-03-10 10:30");
  SYNC(a);
  e2e_device_id(__LINE__, a, dev);
  char *out = e2e_hq_ok(__LINE__, s, ARGS("revoke", dev));
  free(out);
  cJSON *devs = HQ_JSON(s, "devices", "--json");
  const cJSON *d;
  int found = 0;
  cJSON_ArrayForEach(d, devs) {
    const char *id = e2e_str(d, "id");
    if (id && !strcmp(id, dev)) {
      found = 1;
      CHECK(e2e_str(d, "revoked_at") != NULL);
    }
  }
  CHECK(found);
  cJSON_Delete(devs);

  /* Nothing to push: the pull is refused. */
  REFUSED(a, "revoked", "sync");
  /* Something to push: the push is refused; the change stays pending. */
  ADD(a, later, "customer", "add", "--name", "After Revocation AB");
  cJSON *st = FS_JSON(a, "status", "--json");
  long long pending = e2e_int(st, "pending");
  CHECK(pending >= 1);
  cJSON_Delete(st);
  REFUSED(a, "revoked", "sync");
  REFUSED(a, "revoked", "sync", "--json");
  st = FS_JSON(a, "status", "--json");
  CHECK_EQ_INT(e2e_int(st, "pending"), pending);
  cJSON_Delete(st);

  /* What it sent before stays at head office; nothing after. */
  char *all = e2e_export_hq(__LINE__, s, NULL);
  cJSON *doc = parse(all);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "id", cust), 1);
  CHECK_EQ_INT(e2e_rows_where(doc, "meetings", "id", mid), 1);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "id", later), 0);
  cJSON_Delete(doc);
  free(all);

  /* Enrolling again with a fresh token is refused: the device itself... */
  tok = token_for(s, "anna");
  REFUSED(a, NULL, "enroll", "--server", s->url, "--token", tok ? tok : "", "--ca", s->cert);
  /* ...and its identity from a copy that never enrolled: head office must
   * say no. */
  REFUSED(twin, "revoked", "enroll", "--server", s->url, "--token", tok ? tok : "", "--ca",
          s->cert);
  REFUSED(twin, NULL, "sync");
  CHECK_OK(e2e_hq(s, NULL, NULL, ARGS("verify-log")));

done:
  free(tok);
  free(a);
  free(twin);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------------------------ 6 */

static long long sum_last_seq(const e2e_server *s) {
  cJSON *devs = HQ_JSON(s, "devices", "--json");
  const cJSON *d;
  long long n = 0;
  cJSON_ArrayForEach(d, devs) n += e2e_int(d, "last_seq");
  cJSON_Delete(devs);
  return n;
}

static void test_replayed_push(void) {
  char *dir = tu_tmpdir("e2e-replay");
  e2e_server *s = e2e_server_new(dir, "hq");
  char *a = NULL, *clone = NULL, *t = NULL;
  if (!s || e2e_server_start(s, 0)) goto done;
  a = e2e_device_new(__LINE__, s, dir, "anna-laptop", "anna");
  t = e2e_device_new(__LINE__, s, dir, "anna-tablet", "anna");
  clone = e2e_path(dir, "anna-laptop-clone");
  char c0[64], c1[64], c2[64], c3[64];
  ADD(a, c0, "customer", "add", "--name", "Nordwind Büro GmbH");
  SYNC(a);
  SYNC(t);
  CHECK_EQ_INT(copy_tree(a, clone), 0);

  ADD(a, c1, "customer", "add", "--name", "From The Original GmbH");
  ADD(clone, c2, "customer", "add", "--name", "From The Clone GmbH");
  SYNC(a);
  char *out = NULL, *err = NULL;
  int rc = e2e_fs(clone, &out, &err, ARGS("sync"));
  CHECK(rc != 0 && rc != -1);
  CHECK(e2e_one_line(err, "fieldsync: "));
  CHECK(err && (strstr(err, "replay") || strstr(err, "fork")));
  CHECK_CONTAINS(err, "sequence");
  CHECK(out && !*out);
  free(out);
  free(err);
  /* Refused again on a retry: nothing of the clone gets in. */
  REFUSED(clone, "sequence", "sync", "--json");

  char *all = e2e_export_hq(__LINE__, s, NULL);
  cJSON *doc = parse(all);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "id", c0), 1);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "id", c1), 1);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "id", c2), 0);
  CHECK_EQ_INT(e2e_rows_where(doc, "customers", "name", "From The Clone GmbH"), 0);
  cJSON_Delete(doc);
  free(all);

  /* The original's chain is intact: it keeps syncing; the tablet gets it. */
  ADD(a, c3, "customer", "add", "--name", "Later Still AG");
  SYNC(a);
  SYNC(t);
  SAME_AS_HQ(a, s, "anna");
  SAME_AS_HQ(t, s, "anna");
  char *te = e2e_export_dev(__LINE__, t);
  cJSON *td = parse(te);
  CHECK_EQ_INT(e2e_rows_where(td, "customers", "id", c3), 1);
  CHECK_EQ_INT(e2e_rows_where(td, "customers", "id", c2), 0);
  cJSON_Delete(td);
  free(te);

  /* The audit log verifies and counts every accepted envelope. */
  long long accepted = sum_last_seq(s);
  CHECK(accepted >= 3);
  cJSON *v = HQ_JSON(s, "verify-log", "--json");
  CHECK_EQ_INT(e2e_int(v, "verified"), accepted);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "ok")));
  cJSON_Delete(v);
  out = e2e_hq_ok(__LINE__, s, ARGS("verify-log"));
  char num[32];
  snprintf(num, sizeof num, "%lld envelope", accepted);
  CHECK_CONTAINS(out, num);
  free(out);

  /* A log whose tail was removed no longer verifies. */
  {
    char db[4200];
    sqlite3 *h = NULL;
    snprintf(db, sizeof db, "%s/store.db", s->home);
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    CHECK(sqlite3_exec(h, "DELETE FROM hq_audit WHERE rowid = (SELECT max(rowid) FROM hq_audit)",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    char *verr = NULL;
    CHECK(e2e_hq(s, NULL, &verr, ARGS("verify-log")) != 0);
    CHECK_CONTAINS(verr, "audit log broken");
    CHECK(verr && e2e_one_line(verr, "fieldsync-server: "));
    free(verr);
  }

done:
  free(a);
  free(t);
  free(clone);
  e2e_server_free(s);
  tu_rmrf(dir);
  free(dir);
}

/* ------------------------------------------------------------ 7 */

static void test_tls_trust(void) {
  char *dir = tu_tmpdir("e2e-tls");
  e2e_server *s1 = e2e_server_new(dir, "hq");
  e2e_server *s2 = e2e_server_new(dir, "other-hq");
  char *d = NULL, *p = NULL, *tok = NULL;
  if (!s1 || !s2 || e2e_server_start(s1, 0)) goto done;
  CHECK(strcmp(s1->pin, s2->pin) != 0);
  d = e2e_path(dir, "anna-laptop");
  FS_RUN(d, "init", "--manager", "anna");
  tok = token_for(s1, "anna");
  const char *t = tok ? tok : "";

  /* Server 2's certificate does not vouch for server 1. */
  REFUSED(d, "certificate", "enroll", "--server", s1->url, "--token", t, "--ca", s2->cert);
  /* A wrong pin (server 2's) is refused. */
  REFUSED(d, "fingerprint", "enroll", "--server", s1->url, "--token", t, "--pin", s2->pin);
  /* Neither: refused before any network. */
  REFUSED(d, NULL, "enroll", "--server", s1->url, "--token", t);
  cJSON *st = FS_JSON(d, "status", "--json");
  CHECK(e2e_str(st, "server") == NULL);
  cJSON_Delete(st);

  /* The right pin alone works (the token was not used up by the refusals). */
  cJSON *en = FS_JSON(d, "enroll", "--server", s1->url, "--token", t, "--pin", s1->pin, "--json");
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(en, "enrolled")));
  cJSON_Delete(en);
  char cust[64];
  ADD(d, cust, "customer", "add", "--name", "Pinned Kunde GmbH");
  cJSON *sy = e2e_sync(__LINE__, d);
  CHECK_EQ_INT(e2e_int(sy, "pending"), 0);
  CHECK(e2e_int(sy, "pulled") >= 7); /* 3 products, 4 prices */
  cJSON_Delete(sy);
  SAME_AS_HQ(d, s1, "anna");

  /* A second device with a wrong pin from the start, then the right CA. */
  p = e2e_path(dir, "anna-tablet");
  FS_RUN(p, "init", "--manager", "anna");
  free(tok);
  tok = token_for(s1, "anna");
  t = tok ? tok : "";
  REFUSED(p, "fingerprint", "enroll", "--server", s1->url, "--token", t, "--pin",
          "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  FS_RUN(p, "enroll", "--server", s1->url, "--token", t, "--ca", s1->cert);
  SYNC(p);
  SAME_AS_HQ(p, s1, "anna");

  /* The enrollment answer lost on the way: the same device, keys and token
   * ask again (as the client's retry does) and get the same answer; other
   * keys under that device id are refused. */
  {
    char hex[KEYS_PUB_HEX_SIZE], body[1024];
    hostile h;
    fsi_http_response r;
    memset(&r, 0, sizeof r);
    if (hostile_open(&h, s1, p) == 0) {
      fsi_keys_pub_to_hex(hex, &h.keys.pub);
      snprintf(body, sizeof body,
               "{\"token\":\"%s\",\"device_id\":\"%s\",\"manager\":\"anna\",\"keys\":\"%s\"}", t,
               h.device, hex);
      CHECK_OK(hostile_request(&h, "/v1/enroll", body, strlen(body), &r));
      CHECK_EQ_INT(r.status, 200);
      CHECK_CONTAINS((const char *)r.body, "\"server_id\"");
      fsi_http_response_clear(&r);
      CHECK_OK(fsi_keys_new(&h.keys)); /* other keys, same device id */
      fsi_keys_pub_to_hex(hex, &h.keys.pub);
      snprintf(body, sizeof body,
               "{\"token\":\"%s\",\"device_id\":\"%s\",\"manager\":\"anna\",\"keys\":\"%s\"}", t,
               h.device, hex);
      CHECK_OK(hostile_request(&h, "/v1/enroll", body, strlen(body), &r));
      CHECK_EQ_INT(r.status, 409);
      CHECK_CONTAINS((const char *)r.body, "already enrolled");
      fsi_http_response_clear(&r);
    }
    hostile_close(&h);
  }

done:
  free(tok);
  free(d);
  free(p);
  e2e_server_free(s1);
  e2e_server_free(s2);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  TEST_RUN(test_revoked_device);
  TEST_RUN(test_replayed_push);
  TEST_RUN(test_tls_trust);
  e2e_stop_all();
  return tu_finish();
}
