/*
 * test_recovery.c — a forgotten passphrase: the escrow and recovery codes
 * (sync/escrow.c), and head office's rules for them (server-stub/hq/
 * recover.c) checked through fs_hq_admit / fs_hq_handle on a real server
 * home in a temporary directory, with devices made in memory (fsi_keys_new,
 * a random data key) and signed like real ones.
 *
 * Time is the test clock (fsi_util_set_clock) for head office and for the
 * signatures alike.
 *
 * Covers:
 *  - escrow_seal_open: the escrow opens with head office's key pair only,
 *    names its device (another device's is FS_EPERM), and any changed byte
 *    or size is refused;
 *  - code_text: codes round-trip through their text, typing is forgiving
 *    (case, dashes, spaces, O/I/L), anything else is refused without
 *    echoing it; the hash depends on the device and the code;
 *  - escrow_endpoint: only the device's own signed request stores its
 *    escrow; one that names another device or does not open is refused;
 *    the first is kept, the same key again is "kept", another key is 409;
 *  - approval_rules: no approval without an escrow, for an unknown,
 *    malformed or revoked device, or for longer than 7 days;
 *  - no_approval: /v1/recover is refused at admission, before its body,
 *    with the sentence to call head office, and logs nothing;
 *  - right_code_once: the right code releases the key, sealed to the
 *    request's ephemeral key and signed by head office; a second use is
 *    refused as used; the log has approved, recovered;
 *  - wrong_codes: a wrong code is 401 and counts; four leave the code
 *    good; the fifth burns it, after which even the right code is refused;
 *  - expiry: the code works until its last millisecond and is refused from
 *    then on;
 *  - per_device: device A's code does nothing for device B, and B's tries
 *    leave A's approval intact;
 *  - revoked: a device revoked after its approval is refused its key;
 *  - replaced_and_cancelled: a new approval makes the old code wrong; a
 *    cancelled one is no approval.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include <fieldsync/server.h>

#include "engine.h"
#include "escrow.h"
#include "keys.h"
#include "proto.h"
#include "testutil.h"

#define T0 INT64_C(1772442000000)
#define HOUR_MS INT64_C(3600000)

static int64_t g_now = T0;
static int64_t test_clock(void *user) {
  (void)user;
  return g_now;
}

static char *g_dir;
static fs_hq *g_hq;
static fsi_keys g_hqk; /* head office's keys, to check its answers */

typedef struct dev {
  fsi_keys k;
  char id[17];
  unsigned char data_key[32];
} dev;

static void dev_new(dev *d) {
  int64_t site;
  memset(d, 0, sizeof *d);
  CHECK_OK(fsi_keys_new(&d->k));
  randombytes_buf(&site, sizeof site);
  site &= INT64_MAX;
  site |= 1;
  snprintf(d->id, sizeof d->id, "%016" PRIx64, (uint64_t)site);
  randombytes_buf(d->data_key, sizeof d->data_key);
}

/* POST path with body; signed by `signer` for device `id` when signer is
 * non-NULL.  Admission first, as the front end does; its refusal is the
 * reply when it refuses. */
static fs_hq_reply post(const fsi_keys *signer, const char *id, const char *path,
                        const char *body) {
  char lines[PROTO_SIGNED_LINES][PROTO_SIGNED_LINE], vals[3][200];
  fs_hq_reply rep;
  size_t blen = strlen(body);
  fs_hq_request q = {"POST", path, "", id, NULL, NULL, NULL, blen, NULL, 0};
  if (signer) {
    CHECK_OK(fsi_proto_sign_headers(lines, signer->sign_sk, id, "POST", path, "", blen,
                                    fsi_util_now_ms()));
    for (int i = 0; i < 3; i++) {
      const char *v = strstr(lines[i], ": ");
      snprintf(vals[i], sizeof vals[i], "%s", v ? v + 2 : "");
    }
    q.time = vals[0];
    q.nonce = vals[1];
    q.signature = vals[2];
  }
  if (!fs_hq_admit(&rep, g_hq, &q)) return rep;
  fs_hq_reply_clear(&rep);
  q.body = (const unsigned char *)body;
  q.body_len = blen;
  fs_hq_handle(&rep, g_hq, &q);
  return rep;
}

static cJSON *reply_json(const fs_hq_reply *r) {
  return r->body ? cJSON_ParseWithLength((const char *)r->body, r->len) : NULL;
}

static const char *jstr(const cJSON *o, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* status, and (needle non-NULL) an error or member text containing it. */
static void expect(int line, fs_hq_reply *r, int status, const char *needle) {
  tu_checks++;
  if (r->status != status || (needle && (!r->body || !strstr((const char *)r->body, needle))))
    tu_fail(__FILE__, line, "status %d, expected %d with \"%s\"; body: %.*s", r->status, status,
            needle ? needle : "", r->body ? (int)r->len : 0, r->body ? (const char *)r->body : "");
  fs_hq_reply_clear(r);
}

static void enroll(dev *d) {
  char *t = NULL, hex[KEYS_PUB_HEX_SIZE];
  CHECK_OK(fs_hq_token_create(&t, g_hq, "anna", 0));
  fsi_keys_pub_to_hex(hex, &d->k.pub);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "token", t);
  cJSON_AddStringToObject(o, "device_id", d->id);
  cJSON_AddStringToObject(o, "manager", "anna");
  cJSON_AddStringToObject(o, "keys", hex);
  char *body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  fs_hq_reply r = post(&d->k, d->id, "/v1/enroll", body);
  expect(__LINE__, &r, 200, "anna");
  free(body);
  fs_free(t);
}

/* The /v1/escrow body sealing `key` for device `id` to head office. */
static char *escrow_body(const unsigned char *key, const char *id) {
  unsigned char sealed[FSI_ESCROW_SEALED_SIZE];
  char hex[2 * FSI_ESCROW_SEALED_SIZE + 1], *body = malloc(sizeof hex + 32);
  CHECK_OK(fsi_escrow_seal(sealed, key, id, g_hqk.pub.kx));
  fsi_proto_hex(hex, sealed, sizeof sealed);
  snprintf(body, sizeof hex + 32, "{\"sealed\":\"%s\"}", hex);
  return body;
}

static void escrow(const dev *d) {
  char *body = escrow_body(d->data_key, d->id);
  fs_hq_reply r = post(&d->k, d->id, "/v1/escrow", body);
  expect(__LINE__, &r, 200, "stored");
  free(body);
}

static void enrolled(dev *d) {
  dev_new(d);
  enroll(d);
  escrow(d);
}

/* Approves a recovery of d valid ttl_ms; its code into code[]. */
static void approve(char code[FSI_RECOVERY_CODE_TEXT], const dev *d, int64_t ttl_ms) {
  char *doc = NULL;
  code[0] = '\0';
  CHECK_OK(fs_hq_recovery_approve(&doc, g_hq, d->id, ttl_ms, "eva"));
  cJSON *o = doc ? cJSON_Parse(doc) : NULL;
  const char *c = jstr(o, "code");
  CHECK(c && strlen(c) == 39);
  CHECK_STR(jstr(o, "device"), d->id);
  CHECK_STR(jstr(o, "approved_by"), "eva");
  if (c) snprintf(code, FSI_RECOVERY_CODE_TEXT, "%s", c);
  cJSON_Delete(o);
  fs_free(doc);
}

/* POST /v1/recover for device id with `code` and a fresh ephemeral key;
 * on 200 the key it released (checked: signed by head office over this
 * request's key, sealed to it) into key[32], and 1 returned. */
static int recover(int line, const char *id, const char *code, int status, const char *needle,
                   unsigned char *key) {
  unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
  unsigned char sealed[FSI_RECOVERY_SEALED_SIZE];
  char pkhex[2 * sizeof pk + 1], body[400], text[FSI_RECOVERY_TEXT_MAX];
  int ok = 0;
  crypto_box_keypair(pk, sk);
  fsi_proto_hex(pkhex, pk, sizeof pk);
  snprintf(body, sizeof body, "{\"device_id\":\"%s\",\"code\":\"%s\",\"pk\":\"%s\"}", id, code,
           pkhex);
  fs_hq_reply r = post(NULL, id, "/v1/recover", body);
  if (r.status == 200 && status == 200) {
    cJSON *o = reply_json(&r);
    const char *hex = jstr(o, "sealed"), *sig = jstr(o, "sig");
    size_t n = hex ? fsi_recovery_answer_text(text, id, pkhex, hex) : 0;
    tu_checks++;
    if (!n || !sig || !fsi_proto_request_verify(sig, g_hqk.pub.sign, text, n) ||
        !fsi_proto_unhex(sealed, sizeof sealed, hex) ||
        crypto_box_seal_open(key, sealed, sizeof sealed, pk, sk) != 0)
      tu_fail(__FILE__, line, "the answer is not head office's key sealed to this request: %.*s",
              (int)r.len, (const char *)r.body);
    else
      ok = 1;
    cJSON_Delete(o);
    fs_hq_reply_clear(&r);
  } else {
    expect(line, &r, status, needle);
  }
  sodium_memzero(sk, sizeof sk);
  return ok;
}

#define RECOVER(id, code, status, needle) recover(__LINE__, id, code, status, needle, key)

/* Rows of the recovery log of device id (every event, or those equal to
 * `event`). */
static int log_rows(const char *id, const char *event) {
  int64_t site = 0, n = -1;
  fsi_proto_site_parse(id, &site);
  sqlite3_stmt *s = NULL;
  sqlite3_prepare_v2(fsi_store_db(fs_hq_store(g_hq)),
                     "SELECT count(*) FROM hq_recovery_log WHERE site = ?1 AND"
                     " (?2 IS NULL OR event = ?2)",
                     -1, &s, NULL);
  sqlite3_bind_int64(s, 1, site);
  if (event)
    sqlite3_bind_text(s, 2, event, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(s, 2);
  if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return (int)n;
}

/* The state fs_hq_recovery_json gives the newest approval of device id. */
static char *state_of(const char *id, int64_t *wrong) {
  char *doc = NULL, *state = NULL;
  CHECK_OK(fs_hq_recovery_json(&doc, g_hq));
  cJSON *arr = doc ? cJSON_Parse(doc) : NULL, *it;
  cJSON_ArrayForEach(it, arr) {
    if (!jstr(it, "device") || strcmp(jstr(it, "device"), id)) continue;
    free(state);
    state = strdup(jstr(it, "state"));
    if (wrong) *wrong = (int64_t)cJSON_GetObjectItem(it, "wrong_codes")->valuedouble;
  }
  cJSON_Delete(arr);
  fs_free(doc);
  return state;
}

#define CHECK_STATE(id, want)                                                                      \
  do {                                                                                             \
    char *tu_s_ = state_of(id, NULL);                                                              \
    CHECK_STR(tu_s_, want);                                                                        \
    free(tu_s_);                                                                                   \
  } while (0)

/* ---------------------------------------------------------------- cases */

static void test_escrow_seal_open(void) {
  unsigned char key[32], got[32], sealed[FSI_ESCROW_SEALED_SIZE];
  fsi_keys other;
  CHECK_OK(fsi_keys_new(&other));
  randombytes_buf(key, sizeof key);
  CHECK_OK(fsi_escrow_seal(sealed, key, "00112233445566ff", g_hqk.pub.kx));
  CHECK_OK(
      fsi_escrow_open(got, sealed, sizeof sealed, "00112233445566ff", g_hqk.pub.kx, g_hqk.kx_sk));
  CHECK(memcmp(got, key, 32) == 0);
  /* the data key is not in the sealed bytes */
  CHECK(!memmem(sealed, sizeof sealed, key, 16) && !memmem(sealed, sizeof sealed, key + 16, 16));
  CHECK_ERR(
      fsi_escrow_open(got, sealed, sizeof sealed, "00112233445566ff", other.pub.kx, other.kx_sk),
      FS_EAUTH);
  CHECK_ERR(
      fsi_escrow_open(got, sealed, sizeof sealed, "00112233445566fe", g_hqk.pub.kx, g_hqk.kx_sk),
      FS_EPERM);
  CHECK(sodium_is_zero(got, sizeof got)); /* wiped on failure */
  CHECK_ERR(fsi_escrow_open(got, sealed, sizeof sealed - 1, "00112233445566ff", g_hqk.pub.kx,
                            g_hqk.kx_sk),
            FS_ECORRUPT);
  int refused = 0;
  for (size_t i = 0; i < sizeof sealed; i++) {
    sealed[i] ^= 0x01;
    refused += fsi_escrow_open(got, sealed, sizeof sealed, "00112233445566ff", g_hqk.pub.kx,
                               g_hqk.kx_sk) == FS_EAUTH;
    sealed[i] ^= 0x01;
  }
  CHECK_EQ_INT(refused, sizeof sealed);
  CHECK_ERR(fsi_escrow_seal(sealed, key, "00112233445566FF", g_hqk.pub.kx), FS_EINVAL);
}

static void test_code_text(void) {
  unsigned char code[FSI_RECOVERY_CODE_BYTES], back[FSI_RECOVERY_CODE_BYTES];
  unsigned char h1[32], h2[32], h3[32];
  char text[FSI_RECOVERY_CODE_TEXT], typed[80];
  for (int i = 0; i < 200; i++) {
    fsi_recovery_code_new(code, text);
    CHECK_EQ_INT(strlen(text), 39);
    for (int g = 1; g < 8; g++) CHECK(text[g * 5 - 1] == '-');
    CHECK(!strpbrk(text, "ILOU"));
    CHECK_OK(fsi_recovery_code_parse(back, text));
    CHECK(memcmp(code, back, sizeof code) == 0);
    /* lower case, no dashes, spaces in between */
    size_t n = 0;
    for (const char *p = text; *p; p++) {
      if (*p == '-') continue;
      typed[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
      if (n % 6 == 0) typed[n++] = ' ';
    }
    typed[n] = '\0';
    CHECK_OK(fsi_recovery_code_parse(back, typed));
    CHECK(memcmp(code, back, sizeof code) == 0);
  }
  /* O reads as 0, I and L as 1 */
  CHECK_OK(fsi_recovery_code_parse(code, "0000-1111-0000-1111-0000-1111-0000-1111"));
  CHECK_OK(fsi_recovery_code_parse(back, "OOOO-IIII-oooo-llll-0000-1111-0000-1111"));
  CHECK(memcmp(code, back, sizeof code) == 0);
  CHECK_ERR(fsi_recovery_code_parse(back, "SECRETU-0000-1111-0000-1111-0000-1111-000"), FS_EINVAL);
  CHECK(!strstr(fs_errmsg(), "SECRET"));
  CHECK(sodium_is_zero(back, sizeof back));
  CHECK_ERR(fsi_recovery_code_parse(back, "0000-1111-0000-1111-0000-1111-0000-111"), FS_EINVAL);
  CHECK_CONTAINS(fs_errmsg(), "31 characters");
  CHECK_ERR(fsi_recovery_code_parse(back, "0000-1111-0000-1111-0000-1111-0000-11112"), FS_EINVAL);
  CHECK_ERR(fsi_recovery_code_parse(back, ""), FS_EINVAL);
  CHECK_ERR(fsi_recovery_code_parse(back, NULL), FS_EINVAL);
  /* the hash binds the device and the code */
  fsi_recovery_code_new(code, text);
  fsi_recovery_code_hash(h1, 7, code);
  fsi_recovery_code_hash(h2, 8, code);
  code[19] ^= 1;
  fsi_recovery_code_hash(h3, 7, code);
  CHECK(memcmp(h1, h2, 32) != 0 && memcmp(h1, h3, 32) != 0);
  char at[FSI_RECOVERY_TEXT_MAX], pk[65], sealed[2 * FSI_RECOVERY_SEALED_SIZE + 1];
  memset(pk, 'a', 64);
  pk[64] = '\0';
  memset(sealed, '0', sizeof sealed - 1);
  sealed[sizeof sealed - 1] = '\0';
  CHECK(fsi_recovery_answer_text(at, "00112233445566ff", pk, sealed) > 0);
  CHECK(!strncmp(at, "fieldsync-recover-v1\n00112233445566ff\n", 38));
  CHECK_EQ_INT(fsi_recovery_answer_text(at, "00112233445566FF", pk, sealed), 0);
  pk[3] = 'A';
  CHECK_EQ_INT(fsi_recovery_answer_text(at, "00112233445566ff", pk, sealed), 0);
}

static void test_escrow_endpoint(void) {
  dev a, b;
  unsigned char key[32], other[32];
  char code[FSI_RECOVERY_CODE_TEXT];
  dev_new(&a);
  dev_new(&b);
  enroll(&a);
  enroll(&b);
  char *body = escrow_body(a.data_key, a.id);
  fs_hq_reply r = post(NULL, a.id, "/v1/escrow", body);
  expect(__LINE__, &r, 401, "not signed");
  r = post(&b.k, a.id, "/v1/escrow", body); /* B signing as A */
  expect(__LINE__, &r, 401, "does not verify");
  r = post(&b.k, b.id, "/v1/escrow", body); /* A's escrow sent by B */
  expect(__LINE__, &r, 403, "another device");
  r = post(&a.k, a.id, "/v1/escrow", "{\"sealed\":\"00ff\"}");
  expect(__LINE__, &r, 400, "malformed");
  free(body);
  char *doc = NULL;
  CHECK_ERR(fs_hq_recovery_approve(&doc, g_hq, a.id, 0, "eva"), FS_ECONFLICT);
  CHECK_CONTAINS(fs_errmsg(), "no escrowed key");
  CHECK(doc == NULL);
  body = escrow_body(a.data_key, a.id);
  r = post(&a.k, a.id, "/v1/escrow", body);
  expect(__LINE__, &r, 200, "stored");
  free(body);
  body = escrow_body(a.data_key, a.id); /* sealed afresh: other bytes, same key */
  r = post(&a.k, a.id, "/v1/escrow", body);
  expect(__LINE__, &r, 200, "kept");
  free(body);
  randombytes_buf(other, sizeof other);
  body = escrow_body(other, a.id);
  r = post(&a.k, a.id, "/v1/escrow", body);
  expect(__LINE__, &r, 409, "keeps the first");
  free(body);
  approve(code, &a, 0);
  CHECK(RECOVER(a.id, code, 200, NULL) && memcmp(key, a.data_key, 32) == 0);
}

static void test_approval_rules(void) {
  dev a, ghost;
  char *doc = NULL;
  enrolled(&a);
  dev_new(&ghost);
  CHECK_ERR(fs_hq_recovery_approve(&doc, g_hq, ghost.id, 0, "eva"), FS_ENOTFOUND);
  CHECK_ERR(fs_hq_recovery_approve(&doc, g_hq, "not-a-device", 0, "eva"), FS_EINVAL);
  CHECK_ERR(fs_hq_recovery_approve(&doc, g_hq, a.id, 7 * 24 * HOUR_MS + 1, "eva"), FS_EINVAL);
  CHECK_ERR(fs_hq_recovery_approve(&doc, g_hq, a.id, 0, ""), FS_EINVAL);
  CHECK(doc == NULL);
  CHECK_EQ_INT(log_rows(a.id, NULL), 0);
  CHECK_OK(fs_hq_revoke(g_hq, a.id));
  CHECK_ERR(fs_hq_recovery_approve(&doc, g_hq, a.id, 0, "eva"), FS_EREVOKED);
  CHECK_EQ_INT(log_rows(a.id, NULL), 0);
}

static void test_no_approval(void) {
  dev a;
  unsigned char key[32];
  char code[FSI_RECOVERY_CODE_TEXT];
  enrolled(&a);
  unsigned char raw[FSI_RECOVERY_CODE_BYTES];
  fsi_recovery_code_new(raw, code);
  /* refused at admission, before a byte of the body */
  fs_hq_reply r;
  fs_hq_request q = {"POST", "/v1/recover", "", a.id, NULL, NULL, NULL, 200, NULL, 0};
  CHECK(!fs_hq_admit(&r, g_hq, &q));
  expect(__LINE__, &r, 403, "has not approved a recovery of device");
  RECOVER(a.id, code, 403, "fieldsync-server recover");
  CHECK_EQ_INT(log_rows(a.id, NULL), 0);
  char *st = state_of(a.id, NULL);
  CHECK(st == NULL); /* no approval was made by trying */
  free(st);
}

static void test_right_code_once(void) {
  dev a;
  unsigned char key[32];
  char code[FSI_RECOVERY_CODE_TEXT];
  enrolled(&a);
  approve(code, &a, 0);
  CHECK_STATE(a.id, "pending");
  memset(key, 0, sizeof key);
  CHECK(RECOVER(a.id, code, 200, NULL));
  CHECK(memcmp(key, a.data_key, 32) == 0);
  CHECK_STATE(a.id, "used");
  RECOVER(a.id, code, 403, "was used");
  CHECK_EQ_INT(log_rows(a.id, "approved"), 1);
  CHECK_EQ_INT(log_rows(a.id, "recovered"), 1);
  CHECK_EQ_INT(log_rows(a.id, NULL), 2);
  /* the code is in no table of head office's store */
  unsigned char raw[FSI_RECOVERY_CODE_BYTES];
  CHECK_OK(fsi_recovery_code_parse(raw, code));
  sqlite3_stmt *s = NULL;
  int hits = 0;
  sqlite3_prepare_v2(fsi_store_db(fs_hq_store(g_hq)), "SELECT hash, approved_by FROM hq_recovery",
                     -1, &s, NULL);
  while (sqlite3_step(s) == SQLITE_ROW) {
    const void *h = sqlite3_column_blob(s, 0);
    hits += h && memmem(h, (size_t)sqlite3_column_bytes(s, 0), raw, 8) != NULL;
  }
  sqlite3_finalize(s);
  CHECK_EQ_INT(hits, 0);
}

static void test_wrong_codes(void) {
  dev a, b;
  unsigned char key[32], raw[FSI_RECOVERY_CODE_BYTES];
  char code[FSI_RECOVERY_CODE_TEXT], wrong[FSI_RECOVERY_CODE_TEXT];
  int64_t n = 0;
  enrolled(&a);
  approve(code, &a, 0);
  fsi_recovery_code_new(raw, wrong);
  RECOVER(a.id, wrong, 401, "4 more tries");
  RECOVER(a.id, "not even a code", 401, "3 more tries"); /* counts too */
  RECOVER(a.id, wrong, 401, "2 more tries");
  RECOVER(a.id, wrong, 401, "1 more try");
  char *st = state_of(a.id, &n);
  CHECK_STR(st, "pending");
  CHECK_EQ_INT(n, 4);
  free(st);
  CHECK(RECOVER(a.id, code, 200, NULL) && memcmp(key, a.data_key, 32) == 0);

  enrolled(&b);
  approve(code, &b, 0);
  for (int i = 0; i < 4; i++) RECOVER(b.id, wrong, 401, "more tr");
  RECOVER(b.id, wrong, 401, "that was the last try");
  RECOVER(b.id, code, 403, "after 5 wrong codes");
  CHECK_STATE(b.id, "burned");
  CHECK_EQ_INT(log_rows(b.id, "recovered"), 0);
  /* tries once it is burned write nothing more */
  CHECK_EQ_INT(log_rows(b.id, NULL), 6);
}

static void test_expiry(void) {
  dev a;
  unsigned char key[32];
  char code[FSI_RECOVERY_CODE_TEXT];
  enrolled(&a);
  g_now = T0;
  approve(code, &a, HOUR_MS);
  g_now = T0 + HOUR_MS;
  RECOVER(a.id, code, 403, "expired at");
  CHECK_STATE(a.id, "expired");
  g_now = T0 + 2 * HOUR_MS;
  approve(code, &a, HOUR_MS);
  g_now = T0 + 3 * HOUR_MS - 1; /* its last millisecond */
  CHECK(RECOVER(a.id, code, 200, NULL) && memcmp(key, a.data_key, 32) == 0);
  g_now = T0;
}

static void test_per_device(void) {
  dev a, b;
  unsigned char key[32];
  char code_a[FSI_RECOVERY_CODE_TEXT], code_b[FSI_RECOVERY_CODE_TEXT];
  enrolled(&a);
  enrolled(&b);
  approve(code_a, &a, 0);
  RECOVER(b.id, code_a, 403, "has not approved"); /* B has no approval */
  approve(code_b, &b, 0);
  RECOVER(b.id, code_a, 401, "wrong"); /* A's code is not B's */
  CHECK_STATE(a.id, "pending");
  CHECK(RECOVER(a.id, code_a, 200, NULL) && memcmp(key, a.data_key, 32) == 0);
  CHECK(RECOVER(b.id, code_b, 200, NULL) && memcmp(key, b.data_key, 32) == 0);
}

static void test_revoked(void) {
  dev a;
  unsigned char key[32];
  char code[FSI_RECOVERY_CODE_TEXT];
  enrolled(&a);
  approve(code, &a, 0);
  CHECK_OK(fs_hq_revoke(g_hq, a.id));
  RECOVER(a.id, code, 403, "revoked");
  CHECK_EQ_INT(log_rows(a.id, "recovered"), 0);
}

static void test_replaced_and_cancelled(void) {
  dev a;
  unsigned char key[32];
  char first[FSI_RECOVERY_CODE_TEXT], second[FSI_RECOVERY_CODE_TEXT];
  enrolled(&a);
  approve(first, &a, 0);
  approve(second, &a, 0);
  RECOVER(a.id, first, 401, "wrong");
  CHECK_OK(fs_hq_recovery_cancel(g_hq, a.id));
  CHECK_STATE(a.id, "cancelled");
  RECOVER(a.id, second, 403, "has not approved");
  CHECK_ERR(fs_hq_recovery_cancel(g_hq, a.id), FS_ENOTFOUND);
  approve(second, &a, 0);
  CHECK(RECOVER(a.id, second, 200, NULL) && memcmp(key, a.data_key, 32) == 0);
}

int main(void) {
  char kdir[600];
  CHECK_OK(fsi_keys_init());
  fsi_util_set_clock(test_clock, NULL);
  g_dir = tu_tmpdir("recovery");
  CHECK_OK(fs_hq_create(g_dir));
  CHECK_OK(fs_hq_open(&g_hq, g_dir));
  if (!g_hq) return tu_finish();
  snprintf(kdir, sizeof kdir, "%s/keys", g_dir);
  CHECK_OK(fsi_keys_load(&g_hqk, kdir));
  TEST_RUN(test_escrow_seal_open);
  TEST_RUN(test_code_text);
  TEST_RUN(test_escrow_endpoint);
  TEST_RUN(test_approval_rules);
  TEST_RUN(test_no_approval);
  TEST_RUN(test_right_code_once);
  TEST_RUN(test_wrong_codes);
  TEST_RUN(test_expiry);
  TEST_RUN(test_per_device);
  TEST_RUN(test_revoked);
  TEST_RUN(test_replaced_and_cancelled);
  fs_hq_close(g_hq);
  fsi_keys_wipe(&g_hqk);
  fsi_util_set_clock(NULL, NULL);
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
