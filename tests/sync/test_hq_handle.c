/*
 * test_hq_handle.c — head office's request handler (server-stub/hq/), fs_hq_admit and
 * fs_hq_handle, driven directly (no HTTP): every endpoint (health, enroll,
 * push, pull), every signed-header variant (missing, malformed, wrong key,
 * a signature over another method, path, query or length, a replayed nonce,
 * a time outside the window either way), pull query variants, a declared
 * length that is not the body's, and every error status each endpoint
 * returns, each through both entry points.  Pushes carry real envelopes
 * sealed as a device seals them; pulls are opened as a device opens them.
 * Every non-200 answer must be a JSON {"error": "..."} naming the problem.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fieldsync/server.h>

#include "codec.h"
#include "envelope.h"
#include "keys.h"
#include "proto.h"
#include "storeInt.h"
#include "testutil.h"
#include "util.h"

/* A device identity in memory and its chain state towards head office. */
typedef struct dev {
  fsi_keys k;
  int64_t site;
  char id[17];
  fsi_envelope_chain push; /* last envelope head office acknowledged */
} dev;

static char *home;
static fs_hq *hq;
static fsi_pubkeys srv;
static int64_t srv_site;
static char srv_id[17];
static dev anna1, anna2, bobdev, revoked, stranger;
static char zeros[65];

/* A request under construction: owns the header texts. */
typedef struct req {
  char method[16], path[64], query[1200], device[40], time[40], nonce[80], sig[200];
  int has_device, has_time, has_nonce, has_sig;
  uint64_t clen;
  const unsigned char *body;
  size_t blen;
} req;

static fs_hq_request view(const req *r) {
  fs_hq_request q = {r->method[0] ? r->method : NULL,
                     r->path[0] ? r->path : NULL,
                     r->query,
                     r->has_device ? r->device : NULL,
                     r->has_time ? r->time : NULL,
                     r->has_nonce ? r->nonce : NULL,
                     r->has_sig ? r->sig : NULL,
                     r->clen,
                     r->body,
                     r->blen};
  return q;
}

/* The value of a "Header: value" line from fsi_proto_sign_headers. */
static void header_value(char *out, size_t n, const char *line) {
  const char *v = strstr(line, ": ");
  snprintf(out, n, "%s", v ? v + 2 : "");
}

/* A request by device d signed with key k at time `when` over exactly
 * these method, path, query and length. */
static req signed_as(const fsi_keys *k, const char *device, const char *method, const char *path,
                     const char *query, const void *body, size_t blen, int64_t when) {
  req r;
  char lines[PROTO_SIGNED_LINES][PROTO_SIGNED_LINE];
  memset(&r, 0, sizeof r);
  snprintf(r.method, sizeof r.method, "%s", method);
  snprintf(r.path, sizeof r.path, "%s", path);
  snprintf(r.query, sizeof r.query, "%s", query ? query : "");
  snprintf(r.device, sizeof r.device, "%s", device);
  r.has_device = 1;
  r.clen = blen;
  r.body = body;
  r.blen = blen;
  CHECK_OK(fsi_proto_sign_headers(lines, k->sign_sk, device, method, path, r.query, blen, when));
  header_value(r.time, sizeof r.time, lines[0]);
  header_value(r.nonce, sizeof r.nonce, lines[1]);
  header_value(r.sig, sizeof r.sig, lines[2]);
  r.has_time = r.has_nonce = r.has_sig = 1;
  return r;
}

static req signed_by(const dev *d, const char *method, const char *path, const char *query,
                     const void *body, size_t blen) {
  return signed_as(&d->k, d->id, method, path, query, body, blen, fsi_util_now_ms());
}

/* The "error" sentence of a JSON error answer, or NULL when the answer is
 * not one (caller frees). */
static char *error_of(const fs_hq_reply *r) {
  if (!r->ctype || strcmp(r->ctype, "application/json") != 0 || !r->body) return NULL;
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
  char *out = e && *e ? strdup(e) : NULL;
  cJSON_Delete(o);
  return out;
}

/* Asserts an answer: its status and, for a refusal, a JSON error body whose
 * sentence contains `needle`. */
static void expect(const char *what, const char *entry, const fs_hq_reply *r, int status,
                   const char *needle, const char *file, int line) {
  tu_checks++;
  if (r->status != status) {
    tu_fail(file, line, "%s (%s): status %d, expected %d; body: %.*s", what, entry, r->status,
            status, r->body ? (int)r->len : 0, r->body ? (const char *)r->body : "");
    return;
  }
  if (status == 200) return;
  tu_checks++;
  char *e = error_of(r);
  if (!e || (needle && !strstr(e, needle)))
    tu_fail(file, line, "%s (%s): a %d whose JSON error should contain \"%s\"; body: %.*s", what,
            entry, status, needle ? needle : "", r->body ? (int)r->len : 0,
            r->body ? (const char *)r->body : "");
  free(e);
}

/* fs_hq_handle alone; the reply is returned (caller clears it). */
static fs_hq_reply handle_req(const req *r) {
  fs_hq_request q = view(r);
  fs_hq_reply rep;
  fs_hq_handle(&rep, hq, &q);
  return rep;
}

#define HANDLE(r, status, needle, what)                                                            \
  do {                                                                                             \
    fs_hq_reply rep_ = handle_req(r);                                                              \
    expect(what, "handle", &rep_, status, needle, __FILE__, __LINE__);                             \
    fs_hq_reply_clear(&rep_);                                                                      \
  } while (0)

/* fs_hq_admit refuses with status (or, status 0, admits with max_body). */
static void admit_expect(const req *r, int status, size_t max_body, const char *needle,
                         const char *what, const char *file, int line) {
  fs_hq_request q = view(r);
  fs_hq_reply rep;
  int ok = fs_hq_admit(&rep, hq, &q);
  tu_checks++;
  if (status == 0) {
    if (!ok || rep.max_body != max_body || rep.body)
      tu_fail(file, line, "%s (admit): admitted %d, max_body %zu (expected 1, %zu); body: %s", what,
              ok, rep.max_body, max_body, rep.body ? (const char *)rep.body : "");
  } else if (ok) {
    tu_fail(file, line, "%s (admit): admitted, expected a %d", what, status);
  } else {
    tu_checks--;
    expect(what, "admit", &rep, status, needle, file, line);
  }
  fs_hq_reply_clear(&rep);
}

#define ADMIT(r, status, needle, what) admit_expect(r, status, 0, needle, what, __FILE__, __LINE__)
#define ADMITTED(r, max, what) admit_expect(r, 0, max, NULL, what, __FILE__, __LINE__)

/* The same refusal through fs_hq_admit and fs_hq_handle (refusals before
 * the nonce is taken, so both see the request fresh). */
#define BOTH(r, status, needle, what)                                                              \
  do {                                                                                             \
    ADMIT(r, status, needle, what);                                                                \
    HANDLE(r, status, needle, what);                                                               \
  } while (0)

/* ---------------------------------------------------------------- setup */

static void dev_new(dev *d) {
  memset(d, 0, sizeof *d);
  CHECK_OK(fsi_keys_new(&d->k));
  randombytes_buf(&d->site, sizeof d->site);
  d->site &= INT64_MAX;
  d->site |= 1;
  snprintf(d->id, sizeof d->id, "%016" PRIx64, (uint64_t)d->site);
}

static char *enroll_body(const char *token, const char *device_id, const char *manager,
                         const fsi_pubkeys *pub) {
  char hex[KEYS_PUB_HEX_SIZE];
  fsi_keys_pub_to_hex(hex, pub);
  cJSON *o = cJSON_CreateObject();
  if (token) cJSON_AddStringToObject(o, "token", token);
  if (device_id) cJSON_AddStringToObject(o, "device_id", device_id);
  if (manager) cJSON_AddStringToObject(o, "manager", manager);
  cJSON_AddStringToObject(o, "keys", hex);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

static char *token_for(const char *manager) {
  char *t = NULL;
  CHECK_OK(fs_hq_token_create(&t, hq, manager, 0));
  return t;
}

/* Enrolls d for manager through POST /v1/enroll; 1 on a 200. */
static int enroll(dev *d, const char *manager) {
  char *tok = token_for(manager);
  char *body = enroll_body(tok, d->id, manager, &d->k.pub);
  req r = signed_by(d, "POST", "/v1/enroll", "", body, strlen(body));
  fs_hq_reply rep = handle_req(&r);
  int ok = rep.status == 200;
  if (ok && !srv_site) {
    cJSON *o = cJSON_ParseWithLength((const char *)rep.body, rep.len);
    const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "server_id"));
    const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "keys"));
    ok = sid && k && fsi_proto_site_parse(sid, &srv_site) && !fsi_keys_pub_from_hex(&srv, k);
    if (sid) snprintf(srv_id, sizeof srv_id, "%s", sid);
    cJSON_Delete(o);
  }
  fs_hq_reply_clear(&rep);
  free(body);
  free(tok);
  return ok;
}

static void setup(void) {
  home = tu_tmpdir("hq-handle");
  memset(zeros, '0', 64);
  CHECK_OK(fs_hq_create(home));
  CHECK_OK(fs_hq_open(&hq, home));
  dev_new(&anna1);
  dev_new(&anna2);
  dev_new(&bobdev);
  dev_new(&revoked);
  dev_new(&stranger);
  CHECK(enroll(&anna1, "anna"));
  CHECK(enroll(&anna2, "anna"));
  CHECK(enroll(&bobdev, "bob"));
  CHECK(enroll(&revoked, "anna"));
  CHECK_OK(fs_hq_revoke(hq, revoked.id));
}

static void teardown(void) {
  fs_hq_close(hq);
  tu_rmrf(home);
  free(home);
  fsi_keys_wipe(&anna1.k);
  fsi_keys_wipe(&anna2.k);
  fsi_keys_wipe(&bobdev.k);
  fsi_keys_wipe(&revoked.k);
  fsi_keys_wipe(&stranger.k);
}

/* ---------------------------------------------------------------- health */

static void test_health(void) {
  req r;
  memset(&r, 0, sizeof r);
  strcpy(r.method, "GET");
  strcpy(r.path, "/v1/health");
  ADMITTED(&r, 0, "GET /v1/health is admitted with no body");
  fs_hq_reply rep = handle_req(&r);
  expect("GET /v1/health", "handle", &rep, 200, NULL, __FILE__, __LINE__);
  cJSON *o = cJSON_ParseWithLength((const char *)rep.body, rep.len);
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "status")), "ok");
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "server_id")),
            fs_store_device_id(fs_hq_store(hq)));
  CHECK_STR(srv_id, fs_store_device_id(fs_hq_store(hq)));
  cJSON_Delete(o);
  fs_hq_reply_clear(&rep);

  strcpy(r.query, "x=1");
  HANDLE(&r, 200, NULL, "a query on health is ignored");
  r.query[0] = '\0';
  strcpy(r.method, "POST");
  BOTH(&r, 405, "method not allowed", "POST /v1/health");
  r.method[0] = '\0';
  BOTH(&r, 405, "method not allowed", "health without a method");
  strcpy(r.method, "GET");
  r.clen = r.blen = 1;
  r.body = (const unsigned char *)"x";
  BOTH(&r, 413, "larger than 0 bytes", "GET /v1/health with a body");
  r.clen = r.blen = 0;
  r.body = NULL;
  strcpy(r.path, "/v1/health/");
  BOTH(&r, 404, "no such endpoint", "a trailing slash is another path");
  strcpy(r.path, "/v1/nothing");
  BOTH(&r, 404, "no such endpoint", "an unknown path");
  strcpy(r.path, "/v1/Health");
  BOTH(&r, 404, "no such endpoint", "paths are case-sensitive");
  r.path[0] = '\0';
  BOTH(&r, 404, "no such endpoint", "no path");
  strcpy(r.path, "/v1/health");
  r.clen = 1; /* declared 1, sent 0 */
  HANDLE(&r, 413, "bound", "health declaring a body it does not send");
}

/* ---------------------------------------------------------------- enroll */

static void test_enroll(void) {
  dev d, e;
  dev_new(&d);
  dev_new(&e);
  char *tok = token_for("anna");
  char *body = enroll_body(tok, d.id, "anna", &d.k.pub);
  size_t n = strlen(body);

  req r = signed_by(&d, "POST", "/v1/enroll", "", body, n);
  ADMITTED(&r, PROTO_ENROLL_MAX_BODY, "enroll is admitted up to its bound");
  fs_hq_reply rep = handle_req(&r);
  expect("enroll with a fresh token", "handle", &rep, 200, NULL, __FILE__, __LINE__);
  cJSON *o = cJSON_ParseWithLength((const char *)rep.body, rep.len);
  fsi_pubkeys got;
  const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "keys"));
  char fp[KEYS_FINGERPRINT_SIZE] = "";
  if (k && !fsi_keys_pub_from_hex(&got, k)) fsi_keys_fingerprint(fp, &got);
  CHECK_STR(fp, fs_hq_key_fingerprint(hq));
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "server_id")), srv_id);
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "manager")), "anna");
  cJSON_Delete(o);
  fs_hq_reply_clear(&rep);
  /* Enrollment records no nonce (its key is the caller's own choice, so
   * recording would let anyone fill the table): the same headers again are
   * the lost-answer retry, answered again and enrolling nothing new. */
  HANDLE(&r, 200, NULL, "the same enrollment headers a second time are answered again");

  char *devs = NULL;
  CHECK_OK(fs_hq_devices_json(&devs, hq));
  CHECK_CONTAINS(devs, d.id);
  fs_free(devs);

  r = signed_by(&d, "POST", "/v1/enroll", "", body, n);
  HANDLE(&r, 200, NULL, "a retried enrollment (lost answer) is answered again");

  char *tok2 = token_for("anna");
  char *b2 = enroll_body(tok2, d.id, "anna", &d.k.pub);
  r = signed_by(&d, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 409, "already enrolled", "an enrolled device with another token");
  free(b2);
  fsi_keys other;
  CHECK_OK(fsi_keys_new(&other));
  b2 = enroll_body(tok2, d.id, "anna", &other.pub);
  r = signed_as(&other, d.id, "POST", "/v1/enroll", "", b2, strlen(b2), fsi_util_now_ms());
  HANDLE(&r, 409, "already enrolled", "an enrolled device id with other keys");
  free(b2);

  b2 = enroll_body(tok, e.id, "anna", &e.k.pub);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 401, "already used", "a token another device used");
  free(b2);
  b2 = enroll_body("fst-0000000000000000000000000000000000000000", e.id, "anna", &e.k.pub);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 401, "not valid", "an unknown token");
  free(b2);
  char *short_tok = NULL;
  CHECK_OK(fs_hq_token_create(&short_tok, hq, "anna", 1));
  usleep(20 * 1000);
  b2 = enroll_body(short_tok, e.id, "anna", &e.k.pub);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 401, "expired", "an expired token");
  free(b2);
  free(short_tok);
  char *bobtok = token_for("bob");
  b2 = enroll_body(bobtok, e.id, "anna", &e.k.pub);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 403, "token is for manager bob", "a token for another manager");
  free(b2);

  /* Malformed bodies. */
  static const char *const bad[] = {"", "{", "[]", "{\"token\":1}", "null"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    r = signed_by(&e, "POST", "/v1/enroll", "", bad[i], strlen(bad[i]));
    HANDLE(&r, 400, "malformed enrollment request", bad[i]);
  }
  b2 = enroll_body(NULL, e.id, "anna", &e.k.pub);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 400, "malformed enrollment request", "enrollment without a token");
  free(b2);
  b2 = enroll_body(bobtok, NULL, "anna", &e.k.pub);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 400, "malformed enrollment request", "enrollment without a device id");
  free(b2);
  b2 = enroll_body(bobtok, e.id, NULL, &e.k.pub);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 400, "malformed enrollment request", "enrollment without a manager");
  free(b2);
  b2 = enroll_body(bobtok, "0000000000000000", "anna", &e.k.pub);
  r = signed_as(&e.k, "0000000000000000", "POST", "/v1/enroll", "", b2, strlen(b2),
                fsi_util_now_ms());
  HANDLE(&r, 400, "malformed enrollment request", "device id 0");
  free(b2);
  char longtok[300];
  memset(longtok, 'a', sizeof longtok - 1);
  longtok[sizeof longtok - 1] = '\0';
  b2 = enroll_body(longtok, e.id, "anna", &e.k.pub);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, strlen(b2));
  HANDLE(&r, 400, "malformed enrollment request", "a token over 200 bytes");
  free(b2);
  b2 = strdup("{\"token\":\"fst-1\",\"device_id\":\"0123456789abcdef\",\"manager\":\"anna\","
              "\"keys\":\"abcd\"}");
  r = signed_as(&e.k, "0123456789abcdef", "POST", "/v1/enroll", "", b2, strlen(b2),
                fsi_util_now_ms());
  HANDLE(&r, 400, "malformed enrollment request", "keys that are not 128 hex digits");
  free(b2);

  /* Signatures. */
  char *etok = token_for("anna");
  b2 = enroll_body(etok, e.id, "anna", &e.k.pub);
  size_t n2 = strlen(b2);
  r = signed_as(&e.k, d.id, "POST", "/v1/enroll", "", b2, n2, fsi_util_now_ms());
  HANDLE(&r, 401, "not signed by the device it enrolls", "device header is another id");
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, n2);
  r.has_device = 0;
  HANDLE(&r, 401, "not signed by the device it enrolls", "no device header");
  r = signed_as(&other, e.id, "POST", "/v1/enroll", "", b2, n2, fsi_util_now_ms());
  HANDLE(&r, 401, "does not verify", "signed with a key other than the one it enrolls");
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, n2);
  r.has_sig = 0;
  HANDLE(&r, 401, "not signed", "enrollment without a signature");
  r = signed_as(&e.k, e.id, "POST", "/v1/enroll", "", b2, n2,
                fsi_util_now_ms() - PROTO_REQ_WINDOW_MS - 60000);
  HANDLE(&r, 401, "behind", "enrollment with a clock behind the window");
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, n2);
  r.clen = n2 + 1;
  ADMITTED(&r, PROTO_ENROLL_MAX_BODY, "enroll declaring one byte more is admitted");
  HANDLE(&r, 400, "declared length", "enroll whose body is shorter than declared");
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, n2);
  r.clen = PROTO_ENROLL_MAX_BODY + 1;
  BOTH(&r, 413, "larger than 4096 bytes", "enroll declaring more than its bound");
  r = signed_by(&e, "GET", "/v1/enroll", "", NULL, 0);
  BOTH(&r, 405, "method not allowed", "GET /v1/enroll");

  /* Head office's own id, then e enrolls after all (the token still holds). */
  fsi_keys hqk;
  CHECK_OK(fsi_keys_new(&hqk));
  char *b3 = enroll_body(etok, srv_id, "anna", &hqk.pub);
  r = signed_as(&hqk, srv_id, "POST", "/v1/enroll", "", b3, strlen(b3), fsi_util_now_ms());
  HANDLE(&r, 409, "head office's own id", "enrolling head office's own id");
  free(b3);
  r = signed_by(&e, "POST", "/v1/enroll", "", b2, n2);
  HANDLE(&r, 200, NULL, "the refusals above did not use up the token");

  /* A revoked device cannot enroll again, even with a fresh token. */
  char *rtok = token_for("anna");
  b3 = enroll_body(rtok, revoked.id, "anna", &revoked.k.pub);
  r = signed_by(&revoked, "POST", "/v1/enroll", "", b3, strlen(b3));
  HANDLE(&r, 403, "revoked", "a revoked device enrolling again");
  free(b3);
  free(rtok);

  fsi_keys_wipe(&other);
  fsi_keys_wipe(&hqk);
  fsi_keys_wipe(&d.k);
  fsi_keys_wipe(&e.k);
  free(etok);
  free(bobtok);
  free(b2);
  free(tok2);
  free(body);
  free(tok);
}

/* ---------------------------------------------------- signed headers (pull) */

static void pull_query(char *q, size_t n) { snprintf(q, n, "seq=0&prev=%s", zeros); }

static void test_headers(void) {
  char q[200];
  pull_query(q, sizeof q);
  req good = signed_by(&anna1, "GET", "/v1/pull", q, NULL, 0);
  req r;

  r = good;
  r.has_device = 0;
  BOTH(&r, 401, "does not name a device", "no device header");
  static const char *const bad_ids[] = {"xyz",
                                        "0123456789abcde",
                                        "0123456789abcdef0",
                                        "0000000000000000",
                                        "0123456789abcdeg",
                                        "ffffffffffffffff",
                                        ""};
  for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
    r = good;
    snprintf(r.device, sizeof r.device, "%s", bad_ids[i]);
    BOTH(&r, 401, "does not name a device", bad_ids[i]);
  }
  r = signed_by(&stranger, "GET", "/v1/pull", q, NULL, 0);
  BOTH(&r, 401, "is not enrolled", "a device that never enrolled");

  static const char *const bad_times[] = {"abc", "0", "-5", "12x", " 12", ""};
  r = good;
  r.has_time = 0;
  BOTH(&r, 401, "not signed", "no time header");
  for (size_t i = 0; i < sizeof bad_times / sizeof *bad_times; i++) {
    r = good;
    snprintf(r.time, sizeof r.time, "%s", bad_times[i]);
    BOTH(&r, 401, "not signed", bad_times[i]);
  }
  r = good;
  r.has_nonce = 0;
  BOTH(&r, 401, "not signed", "no nonce header");
  r = good;
  r.nonce[30] = '\0';
  BOTH(&r, 401, "not signed", "a nonce of 15 bytes");
  r = good;
  r.nonce[0] = 'z';
  BOTH(&r, 401, "not signed", "a nonce that is not hex");
  r = good;
  r.has_sig = 0;
  BOTH(&r, 401, "not signed", "no signature header");
  r = good;
  r.sig[100] = '\0';
  BOTH(&r, 401, "not signed", "a short signature");
  r = good;
  memset(r.sig, 'x', 128);
  BOTH(&r, 401, "does not verify", "a signature of 128 non-hex characters");
  r = good;
  r.sig[0] = r.sig[0] == '0' ? '1' : '0';
  BOTH(&r, 401, "does not verify", "a flipped signature digit");

  r = signed_as(&anna2.k, anna1.id, "GET", "/v1/pull", q, NULL, 0, fsi_util_now_ms());
  BOTH(&r, 401, "does not verify", "signed with another device's key");
  r = signed_by(&anna1, "POST", "/v1/pull", q, NULL, 0);
  strcpy(r.method, "GET");
  BOTH(&r, 401, "does not verify", "signed for another method");
  r = signed_by(&anna1, "GET", "/v1/push", q, NULL, 0);
  strcpy(r.path, "/v1/pull");
  BOTH(&r, 401, "does not verify", "signed for another path");
  r = signed_by(&anna1, "GET", "/v1/pull", "seq=1", NULL, 0);
  strcpy(r.query, q);
  BOTH(&r, 401, "does not verify", "signed over another query");
  r = good;
  snprintf(r.time, sizeof r.time, "%lld", atoll(good.time) + 1);
  BOTH(&r, 401, "does not verify", "a time other than the signed one");
  r = good;
  r.nonce[0] = r.nonce[0] == 'a' ? 'b' : 'a';
  BOTH(&r, 401, "does not verify", "a nonce other than the signed one");
  r = good;
  for (char *p = r.device; *p; p++)
    if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
  if (strcmp(r.device, good.device) != 0)
    BOTH(&r, 401, "does not verify", "the device id in another case than signed");

  /* The clock window, both ways, with head office's time in the answer. */
  int64_t now = fsi_util_now_ms();
  for (int dir = -1; dir <= 1; dir += 2) {
    r = signed_as(&anna1.k, anna1.id, "GET", "/v1/pull", q, NULL, 0,
                  now + dir * (PROTO_REQ_WINDOW_MS + 60000));
    const char *what = dir < 0 ? "a time behind the window" : "a time ahead of the window";
    BOTH(&r, 401, dir < 0 ? "behind" : "ahead of", what);
    fs_hq_reply rep = handle_req(&r);
    cJSON *o = cJSON_ParseWithLength((const char *)rep.body, rep.len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "server_time");
    int64_t st = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
    tu_checks++;
    if (st < now || st > fsi_util_now_ms())
      tu_fail(__FILE__, __LINE__, "%s: server_time %lld is not head office's time %lld", what,
              (long long)st, (long long)now);
    cJSON_Delete(o);
    fs_hq_reply_clear(&rep);
    r = signed_as(&anna1.k, anna1.id, "GET", "/v1/pull", q, NULL, 0,
                  now + dir * (PROTO_REQ_WINDOW_MS - 60000));
    HANDLE(&r, 200, NULL, dir < 0 ? "a time 4 minutes behind" : "a time 4 minutes ahead");
  }

  /* Nonces: admitted then handled once; never twice. */
  r = signed_by(&anna1, "GET", "/v1/pull", q, NULL, 0);
  ADMITTED(&r, 0, "a signed pull is admitted");
  HANDLE(&r, 200, NULL, "an admitted request is not a replay of itself");
  HANDLE(&r, 401, "sent before", "handling the admitted request a second time");
  ADMIT(&r, 401, "sent before", "admitting a handled request again");
  r = signed_by(&anna1, "GET", "/v1/pull", q, NULL, 0);
  HANDLE(&r, 200, NULL, "a signed pull handled without admission");
  HANDLE(&r, 401, "sent before", "the same headers handled twice");
  ADMIT(&r, 401, "sent before", "admitting headers already handled");
  r = signed_by(&anna1, "GET", "/v1/pull", q, NULL, 0);
  ADMITTED(&r, 0, "first admission");
  ADMIT(&r, 401, "sent before", "the same headers admitted twice");
  HANDLE(&r, 200, NULL, "the body of the first admission is still handled");
  /* Nonces are per device: anna2 may use the nonce anna1 just used. */
  req mine = r, theirs = r;
  char text[PROTO_REQ_MSG_MAX];
  snprintf(theirs.device, sizeof theirs.device, "%s", anna2.id);
  size_t tn =
      fsi_proto_request_text(text, "GET", "/v1/pull", q, 0, anna2.id, mine.time, mine.nonce);
  CHECK(tn > 0 && fsi_proto_request_sign(theirs.sig, anna2.k.sign_sk, text, tn));
  HANDLE(&theirs, 200, NULL, "another device's request with the same nonce");
  /* Revoked devices. */
  r = signed_by(&revoked, "GET", "/v1/pull", q, NULL, 0);
  BOTH(&r, 403, "revoked", "pull by a revoked device");
  static const unsigned char junk[] = "not an envelope";
  r = signed_by(&revoked, "POST", "/v1/push", "", junk, sizeof junk);
  BOTH(&r, 403, "revoked", "push by a revoked device");
  CHECK_ERR(fs_hq_revoke(hq, stranger.id), FS_ENOTFOUND);
  CHECK_ERR(fs_hq_revoke(hq, "nope"), FS_EINVAL);
  CHECK_OK(fs_hq_revoke(hq, revoked.id)); /* revoking twice keeps the first time */
}

/* ------------------------------------------------------------------ push */

/* One customer (with the named manager) written by device d now. */
static fsi_batch *customer_batch(const dev *d, const char *pk, const char *name,
                                 const char *manager, int64_t hlc) {
  static const char *const cols[] = {"name", "status", "manager"};
  fsi_batch *b = fsi_change_batch_new();
  b->ntables = 1;
  b->tables = fsi_arena_alloc(b->arena, sizeof *b->tables);
  b->tables[0] = (fsi_batch_table){"customers", 3, (const char **)cols};
  b->nrows = 1;
  b->rows = fsi_arena_alloc(b->arena, sizeof *b->rows);
  memset(b->rows, 0, sizeof *b->rows);
  fsi_rowchange *r = &b->rows[0];
  r->pk = pk;
  r->cl = 1;
  r->hlc = hlc;
  r->site = d->site;
  r->nvals = 3;
  r->vals = fsi_arena_alloc(b->arena, 3 * sizeof *r->vals);
  const char *v[3] = {name, "active", manager};
  for (int i = 0; i < 3; i++) {
    r->vals[i].type = FS_VAL_TEXT;
    r->vals[i].s = v[i];
    r->vals[i].n = (uint32_t)strlen(v[i]);
  }
  b->hlc_min = b->hlc_max = hlc;
  return b;
}

typedef struct env {
  uint8_t *p;
  size_t n;
  uint8_t hash[ENVELOPE_HASH_SIZE];
} env;

/* Seals b from d to head office as sequence seq after prev (NULL = zero),
 * as client.c's seal_next does; `to`/`recipient` default to head office. */
static env seal_to(const dev *d, const fsi_batch *b, uint64_t seq, const uint8_t *prev,
                   int64_t recipient, const fsi_pubkeys *to) {
  env e = {NULL, 0, {0}};
  fsi_envelope_header h;
  uint8_t *plain = NULL;
  size_t plen = 0;
  memset(&h, 0, sizeof h);
  h.sender = d->site;
  h.recipient = recipient;
  h.seq = seq;
  if (prev) memcpy(h.prev, prev, ENVELOPE_HASH_SIZE);
  h.hlc_min = b->hlc_min;
  h.hlc_max = b->hlc_max;
  h.count = (uint32_t)b->nrows;
  CHECK_OK(fsi_codec_encode(b, &plain, &plen));
  CHECK_OK(fsi_envelope_seal(&e.p, &e.n, &h, plain, plen, &d->k, to));
  CHECK_OK(fsi_envelope_hash(e.hash, e.p, e.n));
  free(plain);
  return e;
}

static env seal(const dev *d, const fsi_batch *b, uint64_t seq, const uint8_t *prev) {
  return seal_to(d, b, seq, prev, srv_site, &srv);
}

/* Pushes e as d; the reply (caller clears). */
static fs_hq_reply push(const dev *d, const env *e) {
  req r = signed_by(d, "POST", "/v1/push", "", e->p, e->n);
  return handle_req(&r);
}

static int64_t json_int(const fs_hq_reply *rep, const char *name) {
  cJSON *o = cJSON_ParseWithLength((const char *)rep->body, rep->len);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  int64_t x = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
  cJSON_Delete(o);
  return x;
}

/* A customer's name and manager at head office ("" when absent). */
static void hq_customer(const char *pk, char *name, char *manager, size_t n) {
  sqlite3_stmt *s = NULL;
  name[0] = manager[0] = '\0';
  fs_store *st = fs_hq_store(hq);
  CHECK(sqlite3_prepare_v2(st->db, "SELECT name, manager FROM customers WHERE id = ?1", -1, &s,
                           NULL) == SQLITE_OK);
  sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
  if (sqlite3_step(s) == SQLITE_ROW) {
    snprintf(name, n, "%s", (const char *)sqlite3_column_text(s, 0));
    snprintf(manager, n, "%s",
             sqlite3_column_text(s, 1) ? (const char *)sqlite3_column_text(s, 1) : "");
  }
  sqlite3_finalize(s);
}

static const char *const CUST1 = "019b8d2b-8c00-76b8-b9e4-6c71acdfd001";
static const char *const CUST2 = "019b8d2b-8c00-76b8-b9e4-6c71acdfd002";
static const char *const CUSTB = "019b8d2b-8c00-76b8-b9e4-6c71acdfd0b0";

/* The acknowledgement is head office's signed word: its signature
 * verifies under head office's key over the text of (device, seq, hash,
 * accepted, refused, time), and over nothing else. */
static void check_signed_ack(const char *ack, const dev *d, uint64_t seq,
                             const uint8_t hash[ENVELOPE_HASH_SIZE], int64_t accepted,
                             int64_t refused) {
  cJSON *o = cJSON_Parse(ack ? ack : "");
  fsi_proto_ack a;
  char text[PROTO_ACK_TEXT_MAX];
  memset(&a, 0, sizeof a);
  snprintf(a.device, sizeof a.device, "%s", d->id);
  a.seq = seq;
  fsi_proto_hex(a.hash, hash, ENVELOPE_HASH_SIZE);
  a.accepted = accepted;
  a.refused = refused;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "hq_time");
  a.time = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
  CHECK(a.time > fsi_util_now_ms() - 60000 && a.time <= fsi_util_now_ms());
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "device")), d->id);
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "hash")), a.hash);
  const char *sig = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sig"));
  size_t n = fsi_proto_ack_text(text, &a);
  CHECK(n > 0);
  CHECK(sig && fsi_proto_request_verify(sig, srv.sign, text, n));
  a.accepted++; /* another count: the same signature does not hold */
  n = fsi_proto_ack_text(text, &a);
  CHECK(sig && !fsi_proto_request_verify(sig, srv.sign, text, n));
  fsi_proto_ack back;
  a.accepted--;
  n = fsi_proto_ack_text(text, &a);
  CHECK(fsi_proto_ack_parse(&back, text, n) && back.seq == seq && back.time == a.time);
  text[n] = '\n'; /* a text that is not exactly the canonical one */
  CHECK(!fsi_proto_ack_parse(&back, text, n + 1));
  text[n] = '\0';
  char *seqline = strchr(text, '\n') ? strchr(strchr(text, '\n') + 1, '\n') : NULL;
  CHECK(seqline != NULL);
  if (seqline) {
    char padded[PROTO_ACK_TEXT_MAX + 2];
    snprintf(padded, sizeof padded, "%.*s0%s", (int)(seqline - text + 1), text, seqline + 1);
    CHECK(!fsi_proto_ack_parse(&back, padded, strlen(padded))); /* a leading zero */
  }
  cJSON_Delete(o);
}

/* A 409 for the chain says where the chain stands at head office. */
static void check_chain_answer(const fs_hq_reply *rep, int64_t seq,
                               const uint8_t hash[ENVELOPE_HASH_SIZE]) {
  cJSON *o = cJSON_ParseWithLength((const char *)rep->body, rep->len);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "chain");
  char hex[65];
  fsi_proto_hex(hex, hash, ENVELOPE_HASH_SIZE);
  CHECK_EQ_INT((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "seq")), seq);
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "hash")), hex);
  cJSON_Delete(o);
}

static void test_push(void) {
  int64_t hlc = fsi_util_now_ms() << 16;
  fsi_batch *b1 = customer_batch(&anna1, CUST1, "Acme GmbH", "anna", hlc);
  env e1 = seal(&anna1, b1, 1, NULL);
  char name[256], mgr[256];

  req r = signed_by(&anna1, "POST", "/v1/push", "", e1.p, e1.n);
  ADMITTED(&r, PROTO_PUSH_MAX_BODY, "a signed push is admitted up to the push bound");
  fs_hq_reply rep = handle_req(&r);
  expect("push of envelope 1", "handle", &rep, 200, NULL, __FILE__, __LINE__);
  char *ack1 = rep.body ? strndup((const char *)rep.body, rep.len) : NULL;
  CHECK_STR(rep.ctype, "application/json");
  CHECK(ack1 &&
        !strncmp(ack1, "{\"ack\":1,\"rows\":1,\"applied\":1,\"conflicts\":0,\"refused\":[],", 57));
  check_signed_ack(ack1, &anna1, 1, e1.hash, 1, 0);
  fs_hq_reply_clear(&rep);
  hq_customer(CUST1, name, mgr, sizeof name);
  CHECK_STR(name, "Acme GmbH");
  CHECK_STR(mgr, "anna");
  HANDLE(&r, 401, "sent before", "the same push headers a second time");

  rep = push(&anna1, &e1);
  expect("resend of acknowledged envelope 1", "handle", &rep, 200, NULL, __FILE__, __LINE__);
  char *again = rep.body ? strndup((const char *)rep.body, rep.len) : NULL;
  CHECK_STR(again, ack1);
  free(again);
  fs_hq_reply_clear(&rep);

  int64_t checked = 0;
  CHECK_OK(fs_hq_verify_log(&checked, hq));
  CHECK_EQ_INT(checked, 1);

  /* Replay, gap and fork of the chain. */
  fsi_batch *b2 = customer_batch(&anna1, CUST2, "Beta AB", "anna", hlc + 1);
  env replay = seal(&anna1, b2, 1, NULL);
  rep = push(&anna1, &replay);
  expect("another envelope numbered 1", "handle", &rep, 409, "replay", __FILE__, __LINE__);
  fs_hq_reply_clear(&rep);
  env gap = seal(&anna1, b2, 3, e1.hash);
  rep = push(&anna1, &gap);
  expect("envelope 3 after 1", "handle", &rep, 409, "gap", __FILE__, __LINE__);
  check_chain_answer(&rep, 1, e1.hash); /* where the chain stands here */
  fs_hq_reply_clear(&rep);
  uint8_t wrong[ENVELOPE_HASH_SIZE];
  memset(wrong, 0x5a, sizeof wrong);
  env fork = seal(&anna1, b2, 2, wrong);
  rep = push(&anna1, &fork);
  expect("envelope 2 over another previous hash", "handle", &rep, 409, "fork", __FILE__, __LINE__);
  fs_hq_reply_clear(&rep);
  hq_customer(CUST2, name, mgr, sizeof name);
  CHECK_STR(name, "");

  /* Misaddressed, missigned and malformed envelopes. */
  env to_other = seal_to(&anna1, b2, 2, e1.hash, anna2.site, &srv);
  rep = push(&anna1, &to_other);
  expect("an envelope for another recipient", "handle", &rep, 401, "recipient", __FILE__, __LINE__);
  fs_hq_reply_clear(&rep);
  env foreign = seal(&anna2, b2, 2, e1.hash); /* anna2's key and sender id */
  rep = push(&anna1, &foreign);
  expect("anna2's envelope pushed as anna1", "handle", &rep, 401, "signature", __FILE__, __LINE__);
  fs_hq_reply_clear(&rep);
  env trunc = seal(&anna1, b2, 2, e1.hash);
  trunc.n -= 10;
  rep = push(&anna1, &trunc);
  expect("a truncated envelope", "handle", &rep, 400, NULL, __FILE__, __LINE__);
  fs_hq_reply_clear(&rep);
  env empty = {(uint8_t *)"", 0, {0}};
  rep = push(&anna1, &empty);
  expect("a push without a body", "handle", &rep, 400, NULL, __FILE__, __LINE__);
  fs_hq_reply_clear(&rep);
  env garbage = {(uint8_t *)"FSEVjunkjunkjunk", 16, {0}};
  rep = push(&anna1, &garbage);
  expect("a push of garbage", "handle", &rep, 400, NULL, __FILE__, __LINE__);
  fs_hq_reply_clear(&rep);
  {
    fsi_envelope_header h;
    uint8_t *p = NULL;
    size_t n = 0;
    static const uint8_t junk[] = {CODEC_VERSION, 3, 0x28, 0xb5, 0x2f, 0xfd, 0, 0};
    memset(&h, 0, sizeof h);
    h.sender = anna1.site;
    h.recipient = srv_site;
    h.seq = 2;
    memcpy(h.prev, e1.hash, ENVELOPE_HASH_SIZE);
    h.hlc_min = h.hlc_max = hlc;
    CHECK_OK(fsi_envelope_seal(&p, &n, &h, junk, sizeof junk, &anna1.k, &srv));
    env bad = {p, n, {0}};
    rep = push(&anna1, &bad);
    expect("a valid envelope around a malformed batch", "handle", &rep, 400, NULL, __FILE__,
           __LINE__);
    fs_hq_reply_clear(&rep);
    free(p);
    uint8_t *plain = NULL;
    size_t plen = 0;
    CHECK_OK(fsi_codec_encode(b2, &plain, &plen));
    h.count = 2; /* the batch holds 1 row */
    CHECK_OK(fsi_envelope_seal(&p, &n, &h, plain, plen, &anna1.k, &srv));
    env liar = {p, n, {0}};
    rep = push(&anna1, &liar);
    expect("a header announcing 2 rows for 1", "handle", &rep, 400, "announces 2", __FILE__,
           __LINE__);
    fs_hq_reply_clear(&rep);
    free(p);
    free(plain);
  }
  fsi_batch *future = customer_batch(&anna1, CUST2, "Beta AB", "anna",
                                     (fsi_util_now_ms() + 24 * 3600 * 1000LL) << 16);
  env skew = seal(&anna1, future, 2, e1.hash);
  rep = push(&anna1, &skew);
  expect("a batch with a clock a day ahead", "handle", &rep, 409, NULL, __FILE__, __LINE__);
  fs_hq_reply_clear(&rep);

  /* Length and method. */
  env e2 = seal(&anna1, b2, 2, e1.hash);
  uint8_t *longer = calloc(1, e2.n + 1);
  memcpy(longer, e2.p, e2.n);
  r = signed_by(&anna1, "POST", "/v1/push", "", e2.p, e2.n);
  r.clen = r.blen = e2.n + 1;
  r.body = longer;
  BOTH(&r, 401, "does not verify", "a declared length other than the signed one");
  free(longer);
  r = signed_by(&anna1, "POST", "/v1/push", "", e2.p, e2.n);
  r.blen = e2.n - 1;
  ADMITTED(&r, PROTO_PUSH_MAX_BODY, "a push whose body will come short is admitted");
  HANDLE(&r, 400, "declared length", "a body one byte shorter than declared");
  r = signed_by(&anna1, "POST", "/v1/push", "", e2.p, e2.n);
  r.clen = r.blen = PROTO_PUSH_MAX_BODY + 1;
  r.body = NULL;
  BOTH(&r, 413, "larger than 33554432 bytes", "a push declaring more than 32 MiB");
  r = signed_by(&anna1, "GET", "/v1/push", "", NULL, 0);
  BOTH(&r, 405, "method not allowed", "GET /v1/push");
  r = signed_by(&anna1, "POST", "/v1/push", "x=1", e2.p, e2.n);
  HANDLE(&r, 200, NULL, "envelope 2 after all the refusals (nothing was half-applied)");
  hq_customer(CUST2, name, mgr, sizeof name);
  CHECK_STR(name, "Beta AB");

  /* Another manager's customer is refused by the write policy, in the ack. */
  fsi_batch *bb = customer_batch(&anna1, CUSTB, "Bobs Bikes", "bob", hlc + 2);
  env e3 = seal(&anna1, bb, 3, e2.hash);
  rep = push(&anna1, &e3);
  expect("envelope 3 with bob's customer", "handle", &rep, 200, NULL, __FILE__, __LINE__);
  CHECK_EQ_INT(json_int(&rep, "ack"), 3);
  CHECK_EQ_INT(json_int(&rep, "applied"), 0);
  CHECK_CONTAINS(rep.body ? (const char *)rep.body : NULL,
                 "\"refused\":[{\"table\":\"customers\",\"row\":\"019b8d2b-8c00-76b8-b9e4-"
                 "6c71acdfd0b0\",\"column\":null,\"reason\":\"this customer is assigned to "
                 "bob, not to this device's manager anna.\"}]");
  fs_hq_reply_clear(&rep);
  hq_customer(CUSTB, name, mgr, sizeof name);
  CHECK_STR(name, "");
  CHECK_OK(fs_hq_verify_log(&checked, hq));
  CHECK_EQ_INT(checked, 3);
  char *devs = NULL;
  CHECK_OK(fs_hq_devices_json(&devs, hq));
  char want[64];
  snprintf(want, sizeof want, "\"id\":\"%s\"", anna1.id);
  CHECK_CONTAINS(devs, want);
  CHECK_CONTAINS(devs, "\"last_seq\":3");
  fs_free(devs);
  anna1.push.seq = 3;
  memcpy(anna1.push.hash, e3.hash, ENVELOPE_HASH_SIZE);

  free(ack1);
  env *all[] = {&e1, &replay, &gap, &fork, &to_other, &foreign, &trunc, &skew, &e2, &e3};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->p);
  fsi_change_batch_free(b1);
  fsi_change_batch_free(b2);
  fsi_change_batch_free(bb);
  fsi_change_batch_free(future);
}

/* ------------------------------------------------------------------ pull */

static char last_epoch[PROTO_EPOCH_MAX + 1]; /* of the last pull answer */
static int64_t last_push_seq;                /* its push position, -1 none */

/* Pulls as d with query q; on a 200 opens the answer against chain
 * {seq, prev} and fills the batch, more and the next cursor. */
static int pull(const dev *d, const char *q, uint64_t seq, const uint8_t *prev, fsi_batch *b,
                int *more, char cursor[256], uint8_t hash[ENVELOPE_HASH_SIZE]) {
  req r = signed_by(d, "GET", "/v1/pull", q, NULL, 0);
  fs_hq_reply rep = handle_req(&r);
  int status = rep.status;
  if (status == 200) {
    fsi_envelope_chain c;
    fsi_envelope_opened o;
    const unsigned char *body = NULL;
    size_t blen = 0;
    c.seq = seq;
    memcpy(c.hash, prev, ENVELOPE_HASH_SIZE);
    CHECK_STR(rep.ctype, "application/octet-stream");
    CHECK_OK(fsi_envelope_open(&o, rep.body, rep.len, d->site, &d->k, srv_site, &srv, &c));
    CHECK_EQ_INT(o.h.seq, seq + 1);
    fsi_proto_pull_info info;
    CHECK_OK(fsi_proto_pull_parse(&info, o.plain, o.plainlen, &body, &blen));
    *more = info.more;
    snprintf(cursor, 256, "%s", info.cursor);
    snprintf(last_epoch, sizeof last_epoch, "%s", info.epoch);
    last_push_seq = info.has_push ? (int64_t)info.push_seq : -1;
    CHECK_OK(fsi_codec_decode(b, body, blen));
    CHECK_OK(fsi_envelope_check_batch(&o.h, b));
    CHECK_OK(fsi_envelope_hash(hash, rep.body, rep.len));
    fsi_envelope_opened_clear(&o);
  }
  fs_hq_reply_clear(&rep);
  return status;
}

static int batch_has(const fsi_batch *b, const char *table, const char *pk) {
  for (size_t i = 0; i < b->nrows; i++)
    if (!strcmp(b->tables[b->rows[i].table].name, table) && !strcmp(b->rows[i].pk, pk)) return 1;
  return 0;
}

static void test_pull(void) {
  fsi_batch *b = fsi_change_batch_new();
  uint8_t zero[ENVELOPE_HASH_SIZE], h1[ENVELOPE_HASH_SIZE], h2[ENVELOPE_HASH_SIZE];
  char q[1200], cursor[256], cur2[256], hex[600];
  int more = -1;
  memset(zero, 0, sizeof zero);

  snprintf(q, sizeof q, "seq=0&prev=%s", zeros);
  req r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
  ADMITTED(&r, 0, "a signed pull is admitted with no body");
  CHECK_EQ_INT(pull(&anna2, q, 0, zero, b, &more, cursor, h1), 200);
  CHECK(batch_has(b, "customers", CUST1));
  CHECK(batch_has(b, "customers", CUST2));
  CHECK(!batch_has(b, "customers", CUSTB));
  CHECK_EQ_INT(more, 0);
  CHECK(cursor[0] != '\0');
  CHECK_EQ_INT(pull(&anna1, q, 0, zero, b, &more, cur2, h2), 200);
  CHECK(!batch_has(b, "customers", CUST1)); /* its own rows do not come back */
  CHECK(last_push_seq >= 1);                /* where its push chain stands here */
  CHECK_EQ_INT(pull(&bobdev, q, 0, zero, b, &more, cur2, h2), 200);
  CHECK(!batch_has(b, "customers", CUST1)); /* another manager's customer */

  fsi_proto_hex(hex, (const unsigned char *)cursor, strlen(cursor));
  char prevhex[65];
  fsi_proto_hex(prevhex, h1, sizeof h1);
  snprintf(q, sizeof q, "cursor=%s&seq=1&prev=%s", hex, prevhex);
  CHECK_EQ_INT(pull(&anna2, q, 1, h1, b, &more, cur2, h2), 200);
  CHECK_EQ_INT(b->nrows, 0);
  CHECK_EQ_INT(more, 0);
  snprintf(q, sizeof q, "prev=%s&cursor=%s&seq=1", prevhex, hex);
  CHECK_EQ_INT(pull(&anna2, q, 1, h1, b, &more, cur2, h2), 200); /* any order */
  snprintf(q, sizeof q, "cursor=&seq=0&prev=%s", zeros);
  CHECK_EQ_INT(pull(&anna2, q, 0, zero, b, &more, cur2, h2), 200); /* empty = start */
  CHECK(batch_has(b, "customers", CUST1));

  /* The cursor counts in head office's epoch: one of this epoch is
   * trusted, one of another (a store restored since) starts over. */
  char epoch[PROTO_EPOCH_MAX + 1];
  snprintf(epoch, sizeof epoch, "%s", last_epoch);
  CHECK_EQ_INT((int)strlen(epoch), 32);
  snprintf(q, sizeof q, "cursor=%s&seq=1&prev=%s&epoch=%s", hex, prevhex, epoch);
  CHECK_EQ_INT(pull(&anna2, q, 1, h1, b, &more, cur2, h2), 200);
  CHECK_EQ_INT(b->nrows, 0);
  CHECK_STR(last_epoch, epoch);
  snprintf(q, sizeof q, "cursor=%s&seq=1&prev=%s&epoch=%s", hex, prevhex,
           "0123456789abcdef0123456789abcdef");
  CHECK_EQ_INT(pull(&anna2, q, 1, h1, b, &more, cur2, h2), 200);
  CHECK(batch_has(b, "customers", CUST1)); /* from the beginning again */
  CHECK(batch_has(b, "customers", CUST2));
  CHECK_STR(last_epoch, epoch);
  /* own=1: a device's own rows too (a store rolled back recovers them) */
  snprintf(q, sizeof q, "seq=0&prev=%s&own=1", zeros);
  CHECK_EQ_INT(pull(&anna1, q, 0, zero, b, &more, cur2, h2), 200);
  CHECK(batch_has(b, "customers", CUST1));
  CHECK(!batch_has(b, "customers", CUSTB)); /* still only its manager's */
  snprintf(q, sizeof q, "seq=0&prev=%s&own=2", zeros);
  r = signed_by(&anna1, "GET", "/v1/pull", q, NULL, 0);
  HANDLE(&r, 400, "malformed pull request", "own=2");

  /* Malformed queries: 400 after admission. */
  char big[600];
  memset(big, 'a', 512);
  big[512] = '\0';
  char huge[700];
  memset(huge, 'a', 600);
  huge[600] = '\0';
  char badcur[64];
  fsi_proto_hex(badcur, (const unsigned char *)"zzz", 3);
  struct {
    const char *fmt, *arg, *what;
  } bad[] = {
      {"prev=%s", zeros, "no seq"},
      {"seq=&prev=%s", zeros, "an empty seq"},
      {"seq=x&prev=%s", zeros, "seq not a number"},
      {"seq=-1&prev=%s", zeros, "a negative seq"},
      {"seq=99999999999999999999&prev=%s", zeros, "seq over int64"},
      {"seq=0%s", "", "no prev"},
      {"seq=0&prev=%.63s", zeros, "prev of 63 digits"},
      {"seq=0&prev=%sg", zeros, "prev of 65 characters"},
      {"seq=0&prev=%.62szz", zeros, "prev not hex"},
      {"cursor=abc&seq=0&prev=%s", zeros, "a cursor of odd length"},
      {"cursor=zz&seq=0&prev=%s", zeros, "a cursor that is not hex"},
      {"seq=0&prev=%s&cursor=", zeros, NULL},
      {"", "", "an empty query"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (!bad[i].what) continue;
    snprintf(q, sizeof q, bad[i].fmt, bad[i].arg);
    r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
    ADMITTED(&r, 0, bad[i].what);
    HANDLE(&r, 400, "malformed pull request", bad[i].what);
  }
  snprintf(q, sizeof q, "cursor=%s&seq=0&prev=%s", big, zeros);
  r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
  HANDLE(&r, 400, "malformed pull request", "a cursor of 256 bytes");
  snprintf(q, sizeof q, "cursor=%s&seq=0&prev=%s", huge, zeros);
  r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
  HANDLE(&r, 400, "malformed pull request", "a cursor longer than the handler reads");
  snprintf(q, sizeof q, "cursor=%s&seq=0&prev=%s", badcur, zeros);
  r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
  HANDLE(&r, 400, "malformed sync cursor", "a cursor whose text is not a cursor");
  snprintf(q, sizeof q, "seq=0&prev=%s", prevhex);
  r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
  HANDLE(&r, 400, NULL, "seq 0 with a previous hash");
  snprintf(q, sizeof q, "seq=3&prev=%s", zeros);
  r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
  HANDLE(&r, 400, NULL, "seq 3 without a previous hash");

  snprintf(q, sizeof q, "seq=0&prev=%s", zeros);
  r = signed_by(&anna2, "POST", "/v1/pull", q, NULL, 0);
  BOTH(&r, 405, "method not allowed", "POST /v1/pull");
  r = signed_by(&anna2, "GET", "/v1/pull", q, "x", 1);
  BOTH(&r, 413, "larger than 0 bytes", "a pull with a body");
  r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
  r.clen = 0;
  r.blen = 1;
  r.body = (const unsigned char *)"x";
  ADMITTED(&r, 0, "a pull declaring no body");
  HANDLE(&r, 400, "declared length", "a pull sending a body it did not declare");
  fsi_change_batch_free(b);
}

/* One device cannot fill head office's nonce table: past its share it alone
 * waits (503), another device is still admitted.  Enrollment records no
 * nonce, so requests with made-up keys cannot fill it either. */
static void test_nonce_share(void) {
  char q[160];
  pull_query(q, sizeof q);
  int refused_at = 0;
  for (int i = 0; i < 16384 + 10 && !refused_at; i++) {
    req r = signed_by(&anna2, "GET", "/v1/pull", q, NULL, 0);
    fs_hq_request v = view(&r);
    fs_hq_reply rep;
    if (!fs_hq_admit(&rep, hq, &v)) {
      refused_at = i;
      CHECK_EQ_INT(rep.status, 503);
      CHECK_EQ_INT(rep.retry_after, 1);
      CHECK_CONTAINS((const char *)rep.body, "more requests than head office accepts");
    }
    fs_hq_reply_clear(&rep);
  }
  /* anna2 already used some of its share in the earlier cases */
  CHECK(refused_at > 16000 && refused_at <= 16384);
  req r = signed_by(&anna1, "GET", "/v1/pull", q, NULL, 0);
  ADMITTED(&r, 0, "another device is still admitted while one is over its share");
}

int main(void) {
  if (fsi_keys_init()) return 1;
  setup();
  TEST_RUN(test_health);
  TEST_RUN(test_enroll);
  TEST_RUN(test_headers);
  TEST_RUN(test_push);
  TEST_RUN(test_pull);
  TEST_RUN(test_nonce_share);
  teardown();
  return tu_finish();
}
