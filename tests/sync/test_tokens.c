/*
 * test_tokens.c — the rules of enrollment tokens (server-stub/hq/enroll.c
 * and fs_hq_token_create), checked through the handler API fs_hq_handle on
 * a real server home in a temporary directory, with device identities made
 * in memory (fsi_keys_new) and every request signed with the key it enrolls.
 *
 * Time is driven with fsi_util_set_clock: head office's clock (token creation,
 * expiry, the request-time window) and the time each request is signed at
 * are the same test clock, so a request is always inside the ±5 min window
 * and only the token decides.
 *
 * Covers:
 *  - a token is single use: once device A enrolled with it, device B is
 *    refused (401 "already used") and not registered;
 *  - a lost answer: A asking again with the same token and the same keys is
 *    answered 200 again (same server id, keys and manager), while the same
 *    device id with other keys is 409 and the registry keeps A's keys;
 *  - expiry: a token with a TTL is accepted at its last millisecond and
 *    refused one millisecond after (401 "expired"); ttl_ms = 0 means exactly
 *    7 days (PROTO_TOKEN_TTL_MS), checked just before and just after;
 *  - a token for manager X does not enroll a device of manager Y (403) and
 *    is not consumed by that refusal;
 *  - a refused enrollment registers nothing.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <fieldsync/server.h>

#include "keys.h"
#include "proto.h"
#include "testutil.h"
#include "util.h"

/* 2026-03-02T09:00:00Z: any fixed instant will do. */
#define T0 INT64_C(1772442000000)
#define DAY_MS INT64_C(86400000)

static int64_t g_now = T0;
static int64_t test_clock(void *user) {
  (void)user;
  return g_now;
}

static char *g_dir;
static fs_hq *g_hq;
static char g_srv_keys[KEYS_PUB_HEX_SIZE];

typedef struct dev {
  fsi_keys k;
  char id[17];
} dev;

static void dev_new(dev *d) {
  int64_t site;
  memset(d, 0, sizeof *d);
  CHECK_OK(fsi_keys_new(&d->k));
  randombytes_buf(&site, sizeof site);
  site &= INT64_MAX;
  site |= 1;
  snprintf(d->id, sizeof d->id, "%016" PRIx64, (uint64_t)site);
}

/* The reply to POST /v1/enroll of {token, device_id, manager, keys} signed
 * with `signer` (the enrolling key) at the test clock.  Caller clears it. */
static fs_hq_reply enroll_as(const fsi_keys *signer, const char *device_id, const char *token,
                             const char *manager, const fsi_pubkeys *keys) {
  char hex[KEYS_PUB_HEX_SIZE], lines[PROTO_SIGNED_LINES][PROTO_SIGNED_LINE];
  char tbuf[64], nbuf[64], sbuf[200];
  fs_hq_reply rep;
  memset(&rep, 0, sizeof rep);
  fsi_keys_pub_to_hex(hex, keys);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "token", token);
  cJSON_AddStringToObject(o, "device_id", device_id);
  cJSON_AddStringToObject(o, "manager", manager);
  cJSON_AddStringToObject(o, "keys", hex);
  char *body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  size_t blen = strlen(body);
  CHECK_OK(fsi_proto_sign_headers(lines, signer->sign_sk, device_id, "POST", "/v1/enroll", "", blen,
                                  fsi_util_now_ms()));
  const char *vals[3];
  char *bufs[3] = {tbuf, nbuf, sbuf};
  size_t sizes[3] = {sizeof tbuf, sizeof nbuf, sizeof sbuf};
  for (int i = 0; i < 3; i++) {
    const char *v = strstr(lines[i], ": ");
    snprintf(bufs[i], sizes[i], "%s", v ? v + 2 : "");
    vals[i] = bufs[i];
  }
  fs_hq_request q = {"POST",    "/v1/enroll", "",
                     device_id, vals[0],      vals[1],
                     vals[2],   blen,         (const unsigned char *)body,
                     blen};
  fs_hq_handle(&rep, g_hq, &q);
  free(body);
  return rep;
}

static fs_hq_reply enroll(const dev *d, const char *token, const char *manager) {
  return enroll_as(&d->k, d->id, token, manager, &d->k.pub);
}

static cJSON *reply_json(const fs_hq_reply *r) {
  return r->body ? cJSON_ParseWithLength((const char *)r->body, r->len) : NULL;
}

static const char *jstr(const cJSON *o, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Status `status`; for 200 the answer names head office's id and keys and
 * `manager`; otherwise a JSON {"error"} containing `needle`. */
static void expect_reply(int line, const char *what, fs_hq_reply *r, int status,
                         const char *needle) {
  tu_checks++;
  if (r->status != status) {
    tu_fail(__FILE__, line, "%s: status %d, expected %d; body: %.*s", what, r->status, status,
            r->body ? (int)r->len : 0, r->body ? (const char *)r->body : "");
    fs_hq_reply_clear(r);
    return;
  }
  cJSON *o = reply_json(r);
  tu_checks++;
  if (status == 200) {
    char sid[17];
    snprintf(sid, sizeof sid, "%016llx", (unsigned long long)fs_store_site(fs_hq_store(g_hq)));
    const char *m = jstr(o, "manager"), *k = jstr(o, "keys"), *s = jstr(o, "server_id");
    if (!m || strcmp(m, needle) != 0 || !k || strcmp(k, g_srv_keys) != 0 || !s ||
        strcmp(s, sid) != 0)
      tu_fail(__FILE__, line, "%s: a 200 naming manager %s, head office's id and keys; got %.*s",
              what, needle, (int)r->len, (const char *)r->body);
  } else {
    const char *e = jstr(o, "error");
    if (!e || !strstr(e, needle))
      tu_fail(__FILE__, line, "%s: a %d whose error contains \"%s\"; got %.*s", what, status,
              needle, r->body ? (int)r->len : 0, r->body ? (const char *)r->body : "");
  }
  cJSON_Delete(o);
  fs_hq_reply_clear(r);
}

#define ENROLL(d, tok, mgr, status, needle, what)                                                  \
  do {                                                                                             \
    fs_hq_reply r_ = enroll(d, tok, mgr);                                                          \
    expect_reply(__LINE__, what, &r_, status, needle);                                             \
  } while (0)

/* The registry's entry for device id, or NULL (caller deletes the array
 * through *arr). */
static const cJSON *registered(cJSON **arr, const char *id) {
  char *j = NULL;
  *arr = NULL;
  CHECK_OK(fs_hq_devices_json(&j, g_hq));
  *arr = j ? cJSON_Parse(j) : NULL;
  fs_free(j);
  const cJSON *it;
  cJSON_ArrayForEach(it, *arr) {
    const char *i = jstr(it, "id");
    if (i && !strcmp(i, id)) return it;
  }
  return NULL;
}

static int is_registered(const char *id, const char *manager) {
  cJSON *arr;
  const cJSON *e = registered(&arr, id);
  int ok = e && (!manager || (jstr(e, "manager") && !strcmp(jstr(e, "manager"), manager)));
  cJSON_Delete(arr);
  return ok;
}

static char *token(const char *manager, int64_t ttl_ms) {
  char *t = NULL;
  CHECK_OK(fs_hq_token_create(&t, g_hq, manager, ttl_ms));
  CHECK(t && strncmp(t, "fst-", 4) == 0 && strlen(t) == 44);
  return t;
}

/* ---------------------------------------------------------------- cases */

static void test_single_use(void) {
  dev a, b;
  dev_new(&a);
  dev_new(&b);
  g_now = T0;
  char *t = token("anna", 0);
  ENROLL(&a, t, "anna", 200, "anna", "first use of a token");
  CHECK(is_registered(a.id, "anna"));
  g_now += 1000;
  ENROLL(&b, t, "anna", 401, "already used", "a token another device used");
  CHECK(!is_registered(b.id, NULL));
  /* A fresh token still enrolls B: the refusal was the token's, not B's. */
  char *t2 = token("anna", 0);
  ENROLL(&b, t2, "anna", 200, "anna", "B with its own token");
  CHECK(is_registered(b.id, "anna"));
  fs_free(t);
  fs_free(t2);
  fsi_keys_wipe(&a.k);
  fsi_keys_wipe(&b.k);
}

static void test_lost_answer(void) {
  dev a, other;
  dev_new(&a);
  dev_new(&other);
  g_now = T0 + DAY_MS;
  char *t = token("anna", 0);
  ENROLL(&a, t, "anna", 200, "anna", "first enrollment");
  g_now += 2000;
  ENROLL(&a, t, "anna", 200, "anna", "the same device, token and keys again (lost answer)");
  ENROLL(&a, t, "anna", 200, "anna", "and once more");
  /* The same device id presenting other keys (signed with those keys). */
  fs_hq_reply r = enroll_as(&other.k, a.id, t, "anna", &other.k.pub);
  expect_reply(__LINE__, "the same device id with other keys", &r, 409, "already enrolled");
  /* The registry still holds A's keys: A can enroll-retry, the impostor
   * cannot. */
  ENROLL(&a, t, "anna", 200, "anna", "A after the impostor");
  /* A re-asking with a token it did not use is not a lost answer. */
  char *t2 = token("anna", 0);
  ENROLL(&a, t2, "anna", 409, "already enrolled", "an enrolled device with another token");
  /* ... and that token is still unused: another device may take it. */
  ENROLL(&other, t2, "anna", 200, "anna", "the other token, unused by the refusal");
  fs_free(t);
  fs_free(t2);
  fsi_keys_wipe(&a.k);
  fsi_keys_wipe(&other.k);
}

static void test_expiry(void) {
  dev a, b;
  dev_new(&a);
  dev_new(&b);
  const int64_t ttl = 10 * 60 * 1000; /* 10 minutes */
  int64_t born = T0 + 2 * DAY_MS;
  g_now = born;
  char *late = token("anna", ttl), *in_time = token("anna", ttl);
  g_now = born + ttl - 1;
  ENROLL(&b, in_time, "anna", 200, "anna", "the last millisecond before the expiry");
  CHECK(is_registered(b.id, "anna"));
  g_now = born + ttl + 1;
  ENROLL(&a, late, "anna", 401, "expired", "one millisecond after the expiry");
  CHECK(!is_registered(a.id, NULL));
  g_now = born + ttl + DAY_MS;
  ENROLL(&a, late, "anna", 401, "expired", "a day after the expiry");
  CHECK(!is_registered(a.id, NULL));
  fs_free(late);
  fs_free(in_time);
  fsi_keys_wipe(&a.k);
  fsi_keys_wipe(&b.k);
}

static void test_default_ttl_is_seven_days(void) {
  dev a, b, c;
  dev_new(&a);
  dev_new(&b);
  dev_new(&c);
  CHECK_EQ_INT(PROTO_TOKEN_TTL_MS, 7 * DAY_MS);
  int64_t born = T0 + 10 * DAY_MS;
  g_now = born;
  char *before = token("anna", 0), *after = token("anna", 0), *neg = token("anna", -5);
  g_now = born + 7 * DAY_MS + 1;
  ENROLL(&a, after, "anna", 401, "expired", "ttl 0, just after 7 days");
  ENROLL(&c, neg, "anna", 401, "expired", "a negative ttl (the default), just after 7 days");
  CHECK(!is_registered(a.id, NULL));
  g_now = born + 7 * DAY_MS - 1;
  ENROLL(&b, before, "anna", 200, "anna", "ttl 0, just before 7 days");
  CHECK(is_registered(b.id, "anna"));
  fs_free(before);
  fs_free(after);
  fs_free(neg);
  fsi_keys_wipe(&a.k);
  fsi_keys_wipe(&b.k);
  fsi_keys_wipe(&c.k);
}

static void test_manager_must_match(void) {
  dev a;
  dev_new(&a);
  g_now = T0 + 20 * DAY_MS;
  char *t = token("anna", 0);
  ENROLL(&a, t, "ben", 403, "for manager anna", "a token for anna, a device of ben");
  CHECK(!is_registered(a.id, NULL));
  /* The refusal did not use the token up. */
  g_now += 1000;
  ENROLL(&a, t, "anna", 200, "anna", "the same token for anna's device");
  CHECK(is_registered(a.id, "anna"));
  fs_free(t);
  fsi_keys_wipe(&a.k);
}

int main(void) {
  char home[512];
  CHECK_OK(fsi_keys_init());
  fsi_util_set_clock(test_clock, NULL);
  g_dir = tu_tmpdir("tokens");
  snprintf(home, sizeof home, "%s", g_dir);
  CHECK_OK(fs_hq_create(home));
  CHECK_OK(fs_hq_open(&g_hq, home));
  if (!g_hq) return tu_finish();
  {
    /* head office's public keys, as the 200 answer must name them */
    char kdir[600];
    fsi_pubkeys pub;
    snprintf(kdir, sizeof kdir, "%s/keys", home);
    CHECK_OK(fsi_keys_load_public(&pub, kdir));
    fsi_keys_pub_to_hex(g_srv_keys, &pub);
  }
  TEST_RUN(test_single_use);
  TEST_RUN(test_lost_answer);
  TEST_RUN(test_expiry);
  TEST_RUN(test_default_ttl_is_seven_days);
  TEST_RUN(test_manager_must_match);
  fs_hq_close(g_hq);
  fsi_util_set_clock(NULL, NULL);
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
