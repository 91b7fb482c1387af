/*
 * fuzz_hq.c — libFuzzer target for the head-office request handler
 * (fs_hq_admit and fs_hq_handle, server-stub/hq/): routing, the signed request
 * headers, enrollment JSON, push envelopes and the batches inside them,
 * pull queries.  The input format is in fuzz_hq.h.
 *
 * A server home is created once per process in a temporary directory (and
 * removed at exit) with one device enrolled through fs_hq_handle, whose
 * secret key the harness holds (fuzz_identity), so that with FUZZ_HQ_SIGN a
 * fuzzed method/path/query/length is signed validly and the input reaches
 * what lies behind authentication.  With FUZZ_HQ_SEAL the body is sealed
 * as the device's next envelope, so fuzzed batches reach fsi_codec_decode,
 * fsi_envelope_check_batch and the merge under head office's write policy.
 *
 * The harness drives fsi_util_now_ms: every input advances the clock by
 * $FUZZ_HQ_TICK_MS (default 50) milliseconds, so nonces leave the replay
 * window and the bounded nonce cache is swept as in a long-running server;
 * FUZZ_HQ_TICK_MS=0 keeps time still and drives it to its bound (503).
 * FUZZ_HQ_VERBOSE=1 prints every answer (to see where seeds get).
 *
 * Every answer must be well formed or the harness aborts: an admitted
 * request has no reply body; a refusal is one of the documented statuses
 * with a JSON {"error": "..."} body (a clock refusal carries server_time);
 * a 500 is a finding; a 200 pull for the device opens with its keys and
 * decodes; a 200 push is an ack.
 */
#include <cjson/cJSON.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include <fieldsync/server.h>

#include "codec.h"
#include "envelope.h"
#include "fuzz_hq.h"
#include "fuzz_keys.h"
#include "proto.h"
#include "storeInt.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
  char home[4096];
  fs_hq *hq;
  fsi_keys dev, enr;
  fsi_pubkeys srv;
  int64_t srv_site;
  char *token;
  int64_t now, tick;
  int verbose;
  uint64_t nonces;
  fsi_batch *batch;
} F;

static int64_t fake_clock(void *user) {
  (void)user;
  return F.now;
}

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_hq: %s: %s\n", what, detail ? detail : "");
  abort();
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static void cleanup(void) {
  fs_hq_close(F.hq);
  F.hq = NULL;
  if (F.home[0]) nftw(F.home, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(F.token);
  fsi_keys_wipe(&F.dev);
  fsi_keys_wipe(&F.enr);
  fsi_change_batch_free(F.batch);
}

/* Signs a request as identity k (site id text `device`) at `when`, with the
 * next harness nonce.  0 when the parts cannot be signed. */
static int sign(const fsi_keys *k, const fs_hq_request *q, int64_t when, char *tbuf, char *nbuf,
                char *sbuf) {
  unsigned char nb[PROTO_NONCE_BYTES];
  char text[PROTO_REQ_MSG_MAX];
  memset(nb, 0, sizeof nb);
  F.nonces++;
  memcpy(nb, &F.nonces, sizeof F.nonces);
  fsi_proto_hex(nbuf, nb, sizeof nb);
  snprintf(tbuf, 24, "%" PRId64, when);
  size_t n = fsi_proto_request_text(text, q->method, q->path, q->query, q->content_length,
                                    q->device, tbuf, nbuf);
  return n && fsi_proto_request_sign(sbuf, k->sign_sk, text, n);
}

static void setup(void) {
  const char *base = getenv("TMPDIR"), *tick = getenv("FUZZ_HQ_TICK_MS");
  char *tok = NULL, *body = NULL;
  int64_t t = 50;
  if (fsi_keys_init()) die("libsodium", NULL);
  snprintf(F.home, sizeof F.home, "%s/fuzz-hq-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(F.home)) die("mkdtemp", F.home);
  atexit(cleanup);
  if (tick && fsi_util_parse_i64(tick, &t) && t >= 0)
    F.tick = t;
  else
    F.tick = 50;
  F.verbose = getenv("FUZZ_HQ_VERBOSE") != NULL;
  F.now = fsi_util_now_ms();
  fsi_util_set_clock(fake_clock, NULL);
  fuzz_identity(&F.dev, FUZZ_HQ_DEVICE_TAG);
  fuzz_identity(&F.enr, FUZZ_HQ_ENROLLER_TAG);
  if (fs_hq_create(F.home) || fs_hq_open(&F.hq, F.home)) die("server home", fs_errmsg());
  if (!(F.batch = fsi_change_batch_new())) die("out of memory", NULL);
  /* The enroller's token (seeds carry FUZZ_HQ_TOKEN_SLOT), then the device. */
  if (fs_hq_token_create(&F.token, F.hq, FUZZ_HQ_MANAGER, INT64_C(1) << 50) ||
      strlen(F.token) != strlen(FUZZ_HQ_TOKEN_SLOT) ||
      fs_hq_token_create(&tok, F.hq, FUZZ_HQ_MANAGER, 0))
    die("token", fs_errmsg());
  cJSON *o = cJSON_CreateObject();
  char hex[KEYS_PUB_HEX_SIZE], tb[24], nb[40], sb[PROTO_SIG_HEX];
  fsi_keys_pub_to_hex(hex, &F.dev.pub);
  cJSON_AddStringToObject(o, "token", tok);
  cJSON_AddStringToObject(o, "device_id", FUZZ_HQ_DEVICE_HEX);
  cJSON_AddStringToObject(o, "manager", FUZZ_HQ_MANAGER);
  cJSON_AddStringToObject(o, "keys", hex);
  body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  fs_hq_request q = {"POST", "/v1/enroll", "",           FUZZ_HQ_DEVICE_HEX,          tb,
                     nb,     sb,           strlen(body), (const unsigned char *)body, strlen(body)};
  if (!sign(&F.dev, &q, F.now, tb, nb, sb)) die("signing", NULL);
  fs_hq_reply r;
  fs_hq_handle(&r, F.hq, &q);
  if (r.status != 200) die("enrollment", r.body ? (const char *)r.body : "");
  cJSON *a = cJSON_ParseWithLength((const char *)r.body, r.len);
  const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "server_id"));
  const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "keys"));
  if (!sid || !k || !fsi_proto_site_parse(sid, &F.srv_site) || fsi_keys_pub_from_hex(&F.srv, k))
    die("enrollment answer", (const char *)r.body);
  cJSON_Delete(a);
  fs_hq_reply_clear(&r);
  free(body);
  free(tok);
}

/* version || varint(n) || zstd(body), as fuzz_codec's raw mode. */
static uint8_t *frame(const uint8_t *body, size_t n, size_t *outlen) {
  size_t bound = ZSTD_compressBound(n), h = 0, z;
  uint8_t *out = malloc(11 + bound);
  uint64_t v = n;
  if (!out) die("out of memory", NULL);
  out[h++] = CODEC_VERSION;
  while (v >= 0x80) {
    out[h++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[h++] = (uint8_t)v;
  z = ZSTD_compress(out + h, bound, body, n, 1);
  if (ZSTD_isError(z)) die("zstd", ZSTD_getErrorName(z));
  *outlen = h + z;
  return out;
}

/* The device's chain state at head office, read from its registry. */
static void device_chain(fsi_envelope_chain *c) {
  memset(c, 0, sizeof *c);
  fs_hq_lock(F.hq);
  sqlite3_stmt *s = NULL;
  fs_store *st = fs_hq_store(F.hq);
  if (sqlite3_prepare_v2(st->db, "SELECT push_seq, push_hash FROM hq_device WHERE site = ?1", -1,
                         &s, NULL) != SQLITE_OK)
    die("registry", sqlite3_errmsg(st->db));
  sqlite3_bind_int64(s, 1, FUZZ_HQ_DEVICE_ID);
  if (sqlite3_step(s) == SQLITE_ROW) {
    c->seq = (uint64_t)sqlite3_column_int64(s, 0);
    if (sqlite3_column_bytes(s, 1) == ENVELOPE_HASH_SIZE)
      memcpy(c->hash, sqlite3_column_blob(s, 1), ENVELOPE_HASH_SIZE);
  }
  sqlite3_finalize(s);
  fs_hq_unlock(F.hq);
}

/* Seals plain as the device's envelope (next sequence + delta); NULL when
 * the header cannot be sealed (sequence 0). */
static uint8_t *seal(const uint8_t *plain, size_t n, int delta, size_t *outlen) {
  fsi_envelope_chain c;
  fsi_envelope_header h;
  uint8_t *env = NULL;
  device_chain(&c);
  memset(&h, 0, sizeof h);
  h.sender = FUZZ_HQ_DEVICE_ID;
  h.recipient = F.srv_site;
  /* delta 127: the next sequence after a wrong previous hash (a fork). */
  h.seq = c.seq + 1 + (delta == 127 ? 0 : (uint64_t)(int64_t)delta);
  if (h.seq == 0 || h.seq > INT64_MAX) return NULL;
  if (h.seq > 1) {
    memcpy(h.prev, c.hash, sizeof h.prev);
    if (h.seq != c.seq + 1 || c.seq == 0 || delta == 127) memset(h.prev, 0xa5, sizeof h.prev);
  }
  /* Announce what an honest device would: the decoded batch's shape. */
  if (fsi_codec_decode(F.batch, plain, n) == 0) {
    h.count = (uint32_t)F.batch->nrows;
    h.hlc_min = F.batch->hlc_min;
    h.hlc_max = F.batch->hlc_max;
  }
  fsi_change_batch_reset(F.batch);
  if (fsi_envelope_seal(&env, outlen, &h, plain, n, &F.dev, &F.srv)) return NULL;
  return env;
}

static int json_error_ok(const fs_hq_reply *r) {
  if (!r->ctype || strcmp(r->ctype, "application/json") || !r->body || !r->len) return 0;
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
  int ok = e && *e;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "server_time");
  if (ok && r->status == 401 && strstr(e, "device clock"))
    ok = cJSON_IsNumber(t) && (int64_t)t->valuedouble == F.now;
  cJSON_Delete(o);
  return ok;
}

static void check_refusal(const fs_hq_reply *r, const char *where) {
  static const int ok[] = {400, 401, 403, 404, 405, 409, 411, 413, 503};
  int known = 0;
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) known |= r->status == ok[i];
  if (!known || !json_error_ok(r)) die(where, r->body ? (const char *)r->body : "(no body)");
  if (r->status == 503 && r->retry_after <= 0) die(where, "503 without Retry-After");
}

/* A 200 pull signed by the device must open with its keys and decode. */
static void check_pull(const fs_hq_reply *r) {
  fsi_envelope_header h;
  fsi_envelope_chain c;
  fsi_envelope_opened o;
  fsi_proto_pull_info info;
  const unsigned char *body = NULL;
  size_t blen = 0;
  if (!r->ctype || strcmp(r->ctype, "application/octet-stream")) die("pull", "content type");
  if (fsi_envelope_peek(&h, r->body, r->len)) die("pull: peek", fs_errmsg());
  c.seq = h.seq - 1;
  memcpy(c.hash, h.prev, sizeof c.hash);
  if (fsi_envelope_open(&o, r->body, r->len, FUZZ_HQ_DEVICE_ID, &F.dev, F.srv_site, &F.srv, &c))
    die("pull: open", fs_errmsg());
  if (fsi_proto_pull_parse(&info, o.plain, o.plainlen, &body, &blen))
    die("pull: frame", fs_errmsg());
  if (fsi_codec_decode(F.batch, body, blen) || fsi_envelope_check_batch(&o.h, F.batch))
    die("pull: batch", fs_errmsg());
  fsi_change_batch_reset(F.batch);
  fsi_envelope_opened_clear(&o);
}

static void check_answer(const fs_hq_reply *r, const fs_hq_request *q, int by_device) {
  if (r->status != 200) {
    check_refusal(r, "fs_hq_handle");
    return;
  }
  if (!r->body || !r->len) die("200 without a body", q->path);
  if (!strcmp(q->path, "/v1/pull")) {
    if (by_device) check_pull(r);
    return;
  }
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const char *want = !strcmp(q->path, "/v1/push")     ? "ack"
                     : !strcmp(q->path, "/v1/enroll") ? "server_id"
                                                      : "status";
  if (!cJSON_GetObjectItemCaseSensitive(o, want)) die("200 answer", (const char *)r->body);
  cJSON_Delete(o);
}

/* The next '\n'-terminated field of in[*off..n) as a malloc'd string, or
 * NULL when empty or missing. */
static char *field(const uint8_t *in, size_t n, size_t *off) {
  if (*off >= n) return NULL;
  const uint8_t *nl = memchr(in + *off, '\n', n - *off);
  size_t len = nl ? (size_t)(nl - (in + *off)) : n - *off;
  char *s = NULL;
  if (len) {
    if (!(s = malloc(len + 1))) die("out of memory", NULL);
    memcpy(s, in + *off, len);
    s[len] = '\0';
  }
  *off += len + (nl ? 1 : 0);
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *f[FUZZ_HQ_FIELDS] = {NULL};
  char tb[24], nb[40], sb[PROTO_SIG_HEX];
  uint8_t *body = NULL, *framed = NULL;
  size_t off = FUZZ_HQ_FIXED, blen = 0;
  fs_hq_reply r;
  if (!F.hq) setup();
  if (size < FUZZ_HQ_FIXED) return 0;
  F.now += F.tick;
  uint8_t flags = data[0];
  int16_t toff = (int16_t)(uint16_t)(data[1] | data[2] << 8);
  int8_t lie = (int8_t)data[3], delta = (int8_t)data[4];
  for (int i = 0; i < FUZZ_HQ_FIELDS; i++) f[i] = field(data, size, &off);
  if (off < size) {
    blen = size - off;
    if (!(body = malloc(blen))) die("out of memory", NULL);
    memcpy(body, data + off, blen);
  }
  const fsi_keys *who = flags & FUZZ_HQ_ENROLLER ? &F.enr : &F.dev;
  const char *who_id = flags & FUZZ_HQ_ENROLLER ? FUZZ_HQ_ENROLLER_HEX : FUZZ_HQ_DEVICE_HEX;
  /* The enrollment token a seed cannot know. */
  size_t sl = strlen(FUZZ_HQ_TOKEN_SLOT);
  for (size_t i = 0; blen >= sl && i <= blen - sl; i++)
    if (!memcmp(body + i, FUZZ_HQ_TOKEN_SLOT, sl)) memcpy(body + i, F.token, sl);
  if (flags & FUZZ_HQ_SEAL) {
    const uint8_t *plain = body;
    size_t plen = blen, elen = 0;
    if (flags & FUZZ_HQ_RAW) plain = framed = frame(body, blen, &plen);
    uint8_t *env = seal(plain, plen, delta, &elen);
    if (env) {
      free(body);
      body = env;
      blen = elen;
    }
  }
  fs_hq_request q = {f[0], f[1], f[2] ? f[2] : "", f[3], f[4], f[5], f[6], blen, body, blen};
  if (flags & FUZZ_HQ_DEVICE) q.device = who_id;
  if (flags & FUZZ_HQ_LIE)
    q.content_length = lie == -128                      ? PROTO_PUSH_MAX_BODY + 1
                       : lie < 0 && (size_t)-lie > blen ? 0
                                                        : (uint64_t)((int64_t)blen + lie);
  if ((flags & FUZZ_HQ_SIGN) && sign(who, &q, F.now + (int64_t)toff * 1000, tb, nb, sb)) {
    q.time = tb;
    q.nonce = nb;
    q.signature = sb;
  }
  int by_device = (flags & FUZZ_HQ_SIGN) && q.device && !strcmp(q.device, FUZZ_HQ_DEVICE_HEX);
  int admitted = 0;
  if (!(flags & FUZZ_HQ_NO_ADMIT)) {
    admitted = fs_hq_admit(&r, F.hq, &q);
    if (admitted) {
      if (r.body || r.status || r.max_body > PROTO_PUSH_MAX_BODY || q.content_length > r.max_body)
        die("fs_hq_admit", "an admitted request with a reply or a wrong bound");
    } else {
      check_refusal(&r, "fs_hq_admit");
    }
    fs_hq_reply_clear(&r);
  }
  if ((flags & FUZZ_HQ_NO_ADMIT) || admitted || (flags & FUZZ_HQ_ALWAYS)) {
    fs_hq_handle(&r, F.hq, &q);
    if (F.verbose)
      fprintf(stderr, "fuzz_hq: %s %s admit %d -> %d %.*s\n", q.method ? q.method : "-",
              q.path ? q.path : "-", admitted, r.status,
              r.ctype && !strcmp(r.ctype, "application/json") ? (int)r.len : 0,
              r.body ? (const char *)r.body : "");
    check_answer(&r, &q, by_device);
    fs_hq_reply_clear(&r);
  }
  for (int i = 0; i < FUZZ_HQ_FIELDS; i++) free(f[i]);
  free(body);
  free(framed);
  return 0;
}
