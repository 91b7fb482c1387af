/*
 * client.c — the device side of the protocol: enrollment and sync.
 *
 * Push is exactly-once: an envelope is sealed and stored in the store's
 * outbox (with the cursor it advances to) before it is sent; the outbox is
 * cleared and the cursor advanced in one transaction when head office
 * acknowledges it.  After a crash or a lost answer the same bytes are sent
 * again, which head office recognises and acknowledges without applying
 * twice.  Pull applies a batch and advances its cursor and chain state in
 * one transaction.  Nothing is lost when the network goes away mid-sync.
 * What the device keeps between syncs (server, outbox, chain positions) is
 * read and written through core's devstate functions (engine.h): no SQL
 * here.  The application's progress callback is asked after every committed
 * batch whether to go on; cancelling there is just an interruption at a
 * point where nothing is half done.
 */
#include <fieldsync/device.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "codec.h"
#include "deviceInt.h"
#include "envelope.h"
#include "http_client.h"
#include "keys.h"
#include "engine.h"
#include "proto.h"

/* Error sentence from a JSON error body, or a generic one. */
static int http_error(const fsi_http_response *r, const char *what) {
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
  char text[400];
  snprintf(text, sizeof text, "%s", msg ? msg : "unexpected answer");
  cJSON_Delete(o);
  int code = r->status == 401   ? FS_EAUTH
             : r->status == 403 ? (strstr(text, "revoked") ? FS_EREVOKED : FS_EPERM)
             : r->status == 409 ? FS_ECONFLICT
             : r->status == 413 ? FS_ETOOBIG
             : r->status >= 500 ? FS_ENETWORK
                                : FS_EINVAL;
  return fsi_fail(code, "%s: head office answered %ld: %s", what, r->status, text);
}

static int copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = NULL;
  char buf[8192];
  size_t n;
  int rc = FS_OK;
  if (!in) return fsi_fail(FS_ENOTFOUND, "cannot read the CA file %s: %s", from, strerror(errno));
  out = fopen(to, "wb");
  if (!out) {
    fclose(in);
    return fsi_fail(FS_EIO, "cannot write %s: %s", to, strerror(errno));
  }
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n) rc = fsi_fail(FS_EIO, "cannot write %s", to);
  fclose(in);
  if (fclose(out) != 0 && !rc) rc = fsi_fail(FS_EIO, "cannot write %s", to);
  return rc;
}

/* ------------------------------------------------------ signed requests */

/* Every request names the device and is signed with its Ed25519 key over
 * the method, path, query, body length, a time and a fresh nonce
 * (fsi_proto_request_text), so head office can authenticate it before it reads
 * a byte of the body.  The time is the laptop's clock corrected by the
 * offset head office reported the last time it found that clock too far
 * off: a wrong laptop clock costs one extra round trip, not a failed sync. */
typedef struct signer {
  const uint8_t *sign_sk;
  const char *device;
  int64_t offset_ms;
} signer;

static int sign_request(void *user, const char *method, const char *path, const char *query,
                        size_t body_len, char lines[HTTP_CLIENT_SIGN_LINES][HTTP_CLIENT_SIGN_LINE],
                        size_t *nlines) {
  signer *g = user;
  *nlines = PROTO_SIGNED_LINES;
  return fsi_proto_sign_headers(lines, g->sign_sk, g->device, method, path, query,
                                (uint64_t)body_len, fsi_util_now_ms() + g->offset_ms);
}

/* 1 when head office refused the request's time and said its own: the
 * offset is corrected (once per request) and the request is sent again. */
static int clock_refused(signer *g, const fsi_http_response *r) {
  if (r->status != 401) return 0;
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "server_time");
  int fix = cJSON_IsNumber(t) && t->valuedouble > 0;
  if (fix) g->offset_ms = (int64_t)t->valuedouble - fsi_util_now_ms();
  cJSON_Delete(o);
  return fix;
}

/* POST (body non-NULL) or GET one signed request; see clock_refused. */
static int signed_request(fsi_http_client *c, signer *g, const char *path, const char *ctype,
                          const void *body, size_t len, fsi_http_response *r) {
  for (int attempt = 0;; attempt++) {
    int rc =
        body ? fsi_http_client_post(c, path, ctype, body, len, r) : fsi_http_client_get(c, path, r);
    if (rc || attempt > 0 || !clock_refused(g, r)) return rc;
    fsi_http_response_clear(r);
  }
}

/* ------------------------------------------------------------- enroll */

/* The versions of the versioned structs (device.h): the size of each, up
 * to its last member.  A new member appends a size here. */
static const size_t enroll_opts_sizes[] = {offsetof(fs_enroll_opts, pin) + sizeof(const char *)};
static const size_t sync_opts_sizes[] = {offsetof(fs_sync_opts, push_batch_rows) + sizeof(int64_t),
                                         offsetof(fs_sync_opts, lock_wait_ms) + sizeof(int64_t)};
static const size_t sync_stats_sizes[] = {offsetof(fs_sync_stats, batches) + sizeof(int64_t)};
#define NVERSIONS(a) (unsigned)(sizeof(a) / sizeof((a)[0]))
_Static_assert(NVERSIONS(enroll_opts_sizes) == FS_ENROLL_OPTS_VERSION, "one size per version");
_Static_assert(NVERSIONS(sync_opts_sizes) == FS_SYNC_OPTS_VERSION, "one size per version");
_Static_assert(NVERSIONS(sync_stats_sizes) == FS_SYNC_STATS_VERSION, "one size per version");
static const fsi_versions enroll_opts_v = {"fs_enroll_opts", enroll_opts_sizes,
                                           NVERSIONS(enroll_opts_sizes)};
static const fsi_versions sync_opts_v = {"fs_sync_opts", sync_opts_sizes,
                                         NVERSIONS(sync_opts_sizes)};
static const fsi_versions sync_stats_v = {"fs_sync_stats", sync_stats_sizes,
                                          NVERSIONS(sync_stats_sizes)};

/* Wipes the token out of the enrollment request before it is freed. */
static void wipe_token(cJSON *req) {
  char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "token"));
  if (t) sodium_memzero(t, strlen(t));
}

int fs_enroll(fs_device *dev, const fs_enroll_opts *opts) {
  fsi_http_client *c = NULL;
  fsi_http_response r;
  cJSON *req = NULL, *ans = NULL;
  char *body = NULL;
  fsi_devstate_server srv;
  fs_enroll_opts o;
  const fsi_keys *mine = NULL;
  int rc;
  memset(&r, 0, sizeof r);
  memset(&srv, 0, sizeof srv);
  if (!opts) return fsi_fail(FS_EINVAL, "enroll needs its options (fs_enroll_opts)");
  if ((rc = fsi_device_struct_in(&o, sizeof o, opts, &enroll_opts_v))) return rc;
  fs_store *st = dev->st;
  const char *home = dev->home, *url = o.url, *token = o.token, *ca = o.ca, *pin = o.pin;
  if (!url || !token)
    return fsi_fail(FS_EINVAL, "enroll needs --server URL and a token (--token-file FILE, or "
                               "--token - to read it from stdin)");
  if (!ca && !pin)
    return fsi_fail(FS_EINVAL, "enroll needs --ca FILE or --pin SHA256 to trust the server");
  if (fs_store_hq_site(st))
    return fsi_fail(FS_EEXIST, "this device is already enrolled with head office");
  const char *manager = fsi_store_manager(st);
  if (!manager)
    return fsi_fail(FS_ENOTFOUND, "this store has no manager; create the device with "
                                  "`fieldsync init --manager NAME`");
  if (pin && strlen(pin) >= sizeof srv.pin)
    return fsi_fail(FS_EINVAL,
                    "the pin is over %zu bytes; give it as `fieldsync-server init` "
                    "printed it (sha256//BASE64)",
                    sizeof srv.pin - 1);
  if (ca && (size_t)snprintf(srv.ca, sizeof srv.ca, "%s/server-ca.pem", home) >= sizeof srv.ca)
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  if ((rc = fsi_device_keys(dev, &mine))) return rc;
  signer g = {mine->sign_sk, fs_store_device_id(st), 0};
  if ((rc = fsi_http_client_new(&c, url, ca, pin)) ||
      (rc = fsi_http_client_set_header(c, PROTO_DEVICE_HEADER, g.device))) {
    fsi_http_client_free(c);
    return rc;
  }
  fsi_http_client_set_signer(c, sign_request, &g);
  if ((size_t)snprintf(srv.url, sizeof srv.url, "%s", fsi_http_client_base_url(c)) >=
      sizeof srv.url) {
    rc = fsi_fail(FS_EINVAL, "the server URL is over %zu bytes", sizeof srv.url - 1);
    goto done;
  }
  char hex[KEYS_PUB_HEX_SIZE];
  fsi_keys_pub_to_hex(hex, &mine->pub);
  req = cJSON_CreateObject();
  cJSON_AddStringToObject(req, "token", token);
  cJSON_AddStringToObject(req, "device_id", fs_store_device_id(st));
  cJSON_AddStringToObject(req, "manager", manager);
  cJSON_AddStringToObject(req, "keys", hex);
  body = cJSON_PrintUnformatted(req);
  if (!body) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = signed_request(c, &g, "/v1/enroll", "application/json", body, strlen(body), &r)))
    goto done;
  if (r.status != 200) {
    rc = http_error(&r, "enrollment refused");
    goto done;
  }
  ans = cJSON_ParseWithLength((const char *)r.body, r.len);
  const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "server_id"));
  const char *skeys = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "keys"));
  int64_t site;
  fsi_pubkeys server;
  if (!sid || !skeys || !fsi_proto_site_parse(sid, &site) ||
      fsi_keys_pub_from_hex(&server, skeys)) {
    rc = fsi_fail(FS_ECORRUPT, "head office sent a malformed enrollment answer");
    goto done;
  }
  if (ca && (rc = copy_file(ca, srv.ca))) goto done;
  snprintf(srv.pin, sizeof srv.pin, "%s", pin ? pin : "");
  snprintf(srv.keys, sizeof srv.keys, "%s", skeys); /* 128 hex digits: checked above */
  rc = fsi_devstate_enrolled(st, &srv, site);
done:
  if (body) sodium_memzero(body, strlen(body)); /* it holds the token */
  free(body);
  wipe_token(req);
  cJSON_Delete(req);
  cJSON_Delete(ans);
  fsi_http_response_clear(&r);
  fsi_http_client_free(c);
  return rc;
}

/* --------------------------------------------------------------- sync */

typedef struct session {
  fs_store *st;
  fsi_http_client *c;
  const fsi_keys *keys; /* the device's */
  signer sign;
  fsi_pubkeys server;
  fsi_batch *batch;
  fs_sync_stats *stats;
  fs_sync_opts opts;
  int64_t pending;
} session;

static int open_session(session *s, fs_device *dev) {
  fs_store *st = dev->st;
  fsi_devstate_server srv;
  int rc;
  if (!fs_store_hq_site(st))
    return fsi_fail(FS_EINVAL, "this device is not enrolled yet: run `fieldsync enroll "
                               "--server URL --token-file FILE --ca FILE` first");
  if ((rc = fsi_devstate_server_get(&srv, st))) return rc;
  if (fsi_keys_pub_from_hex(&s->server, srv.keys))
    return fsi_fail(FS_ECORRUPT, "the pinned head-office keys in this store are damaged");
  if ((rc = fsi_device_keys(dev, &s->keys))) return rc;
  if ((rc =
           fsi_http_client_new(&s->c, srv.url, *srv.ca ? srv.ca : NULL, *srv.pin ? srv.pin : NULL)))
    return rc;
  if ((rc = fsi_http_client_set_header(s->c, PROTO_DEVICE_HEADER, fs_store_device_id(st))))
    return rc;
  s->sign.sign_sk = s->keys->sign_sk;
  s->sign.device = fs_store_device_id(st);
  fsi_http_client_set_signer(s->c, sign_request, &s->sign);
  s->batch = fsi_change_batch_new();
  if (!s->batch) return fsi_fail(FS_ENOMEM, "out of memory");
  return FS_OK;
}

/* Tells the application how far the sync got (after a committed batch);
 * FS_ECANCELED, with the sentence, when it answers that it wants to stop. */
static int report(session *s, const char *phase, int64_t done, int64_t total) {
  if (!s->opts.progress || !s->opts.progress(s->opts.user, phase, done, total)) return FS_OK;
  return fsi_fail(FS_ECANCELED,
                  "the sync was cancelled during the %s, after %lld rows; nothing "
                  "is lost and the next sync carries on from there",
                  phase, (long long)done);
}

static void close_session(session *s) {
  fsi_http_client_free(s->c);
  fsi_change_batch_free(s->batch);
}

/* ------------------------------------------------------ overlapping I/O */

/* One request on a helper thread, so that preparing the next push batch or
 * merging the last pulled one overlaps head office's work on this one.  The
 * thread touches only the HTTP client and the request bytes, never the
 * store; the error sentence (thread-local) is carried back. */
typedef struct inflight {
  pthread_t th;
  int running;
  fsi_http_client *c;
  signer *sign;
  const char *path;
  const unsigned char *body; /* NULL = GET */
  size_t len;
  fsi_http_response r;
  int rc;
  char err[512];
} inflight;

static void *inflight_run(void *p) {
  inflight *f = p;
  f->rc =
      signed_request(f->c, f->sign, f->path, "application/octet-stream", f->body, f->len, &f->r);
  if (f->rc) snprintf(f->err, sizeof f->err, "%s", fs_errmsg());
  return NULL;
}

static int inflight_start(inflight *f, session *s, const char *path, const unsigned char *body,
                          size_t len) {
  memset(f, 0, sizeof *f);
  f->c = s->c;
  f->sign = &s->sign;
  f->path = path;
  f->body = body;
  f->len = len;
  if (pthread_create(&f->th, NULL, inflight_run, f) != 0) {
    inflight_run(f); /* no thread to be had: do it here */
    return FS_OK;
  }
  f->running = 1;
  return FS_OK;
}

/* Waits for the request; FS_OK with f->r filled, or its error. */
static int inflight_join(inflight *f) {
  if (f->running) pthread_join(f->th, NULL);
  f->running = 0;
  return f->rc ? fsi_fail(f->rc, "%s", f->err) : FS_OK;
}

/* ------------------------------------------------------------------ push */

/* A sealed push envelope: the outbox, or the one that becomes it next. */
typedef fsi_devstate_outbox sealed;

static void sealed_clear(sealed *e) { fsi_devstate_outbox_free(e); }

/* Seals the local changes after cursor `from` as envelope `seq` chained to
 * `prev`; e->env stays NULL when there is nothing to push. */
static int seal_next(session *s, const char *from, uint64_t seq,
                     const uint8_t prev[ENVELOPE_HASH_SIZE], sealed *e) {
  fs_store *st = s->st;
  fsi_merge_cursor c, next;
  uint8_t *plain = NULL;
  size_t plainlen = 0;
  int more = 0, rc;
  memset(e, 0, sizeof *e);
  if ((rc = fsi_merge_cursor_parse(&c, from))) return rc;
  fsi_merge_filter f = {fs_store_hq_site(st), NULL, 0};
  if ((rc = fsi_merge_changes_since(st, &c, &f, (size_t)s->opts.push_batch_rows, s->batch, &next,
                                    &more)))
    return rc;
  if (s->batch->nrows == 0) return FS_OK;
  fsi_envelope_header h;
  memset(&h, 0, sizeof h);
  h.sender = fs_store_site(st);
  h.recipient = fs_store_hq_site(st);
  h.seq = seq;
  memcpy(h.prev, prev, ENVELOPE_HASH_SIZE);
  h.hlc_min = s->batch->hlc_min;
  h.hlc_max = s->batch->hlc_max;
  h.count = (uint32_t)s->batch->nrows;
  e->rows = (int64_t)s->batch->nrows;
  fsi_merge_cursor_format(&next, e->cursor, sizeof e->cursor);
  rc = fsi_codec_encode(s->batch, &plain, &plainlen);
  if (!rc) rc = fsi_envelope_seal(&e->env, &e->len, &h, plain, plainlen, s->keys, &s->server);
  free(plain);
  fsi_change_batch_reset(s->batch);
  if (rc) sealed_clear(e);
  return rc;
}

/* Records head office's acknowledgement of `sent` and, in the same
 * transaction, makes `next` (if any) the outbox. */
static int take_ack(session *s, const sealed *sent, const fsi_http_response *r,
                    const sealed *next) {
  fs_store *st = s->st;
  cJSON *ack = cJSON_ParseWithLength((const char *)r->body, r->len);
  fsi_envelope_header h;
  uint8_t hash[ENVELOPE_HASH_SIZE];
  fsi_devstate_chain acked;
  int rc;
  if ((rc = fsi_envelope_peek(&h, sent->env, sent->len)) ||
      (rc = fsi_envelope_hash(hash, sent->env, sent->len)))
    goto done;
  if (FS_MUT(6)) fsi_devstate_outbox_clear(st); /* cleared before the ack is checked */
  const cJSON *seq = cJSON_GetObjectItemCaseSensitive(ack, "ack");
  if (!FS_MUT(5) && (!cJSON_IsNumber(seq) || (uint64_t)seq->valuedouble != h.seq)) {
    rc = fsi_fail(FS_ECORRUPT, "head office acknowledged a different batch than was sent");
    goto done;
  }
  memcpy(acked.cursor, sent->cursor, sizeof acked.cursor);
  acked.seq = (int64_t)h.seq;
  fsi_proto_hex(acked.hash, hash, sizeof hash);
  if ((rc = fs_tx_begin(st))) goto done;
  rc = next && next->env ? fsi_devstate_outbox_put(st, next) : fsi_devstate_outbox_clear(st);
  if (!rc) rc = fsi_devstate_push_set(st, &acked);
  int64_t refused = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ack, "refused")) {
    if (rc) break;
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "table"));
    const char *pk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "row"));
    const char *col = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "column"));
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "reason"));
    if (!t || !pk || !why) continue;
    rc = fsi_refused_log_row(st, t, pk, col, fs_store_site(st), why);
    refused++;
  }
  if (!rc) rc = fsi_util_fault("push-commit");
  if (!rc)
    rc = fs_tx_commit(st);
  else
    fs_tx_rollback(st);
  if (!rc) {
    s->stats->pushed += sent->rows;
    s->stats->refused += refused;
    s->stats->batches++;
  }
done:
  cJSON_Delete(ack);
  return rc;
}

/* Sends the outbox, sealing the following batch while head office merges
 * it; the next batch becomes the outbox in the transaction that records the
 * acknowledgement, so a crash anywhere resends exactly what was sealed. */
static int push(session *s) {
  fs_store *st = s->st;
  sealed cur, next;
  int rc;
  memset(&next, 0, sizeof next);
  if ((rc = fsi_devstate_outbox_get(&cur, st))) return rc;
  if (!cur.env) {
    fsi_devstate_chain acked;
    uint8_t prev[ENVELOPE_HASH_SIZE] = {0};
    if ((rc = fsi_devstate_push_get(&acked, st))) return rc;
    if (*acked.hash && !fsi_proto_unhex(prev, ENVELOPE_HASH_SIZE, acked.hash))
      return fsi_fail(FS_ECORRUPT, "the push chain state in this store is damaged");
    if ((rc = seal_next(s, acked.cursor, (uint64_t)acked.seq + 1, prev, &cur))) return rc;
    if (!cur.env) return FS_OK;
    if ((rc = fs_tx_begin(st))) goto done;
    rc = fsi_devstate_outbox_put(st, &cur);
    if (!rc)
      rc = fs_tx_commit(st);
    else
      fs_tx_rollback(st);
    if (rc) goto done;
  }
  while (cur.env) {
    fsi_envelope_header h;
    uint8_t hash[ENVELOPE_HASH_SIZE];
    inflight f;
    if ((rc = fsi_envelope_peek(&h, cur.env, cur.len)) ||
        (rc = fsi_envelope_hash(hash, cur.env, cur.len)))
      goto done;
    inflight_start(&f, s, "/v1/push", cur.env, cur.len);
    int prep = seal_next(s, cur.cursor, h.seq + 1, hash, &next);
    char preperr[512];
    snprintf(preperr, sizeof preperr, "%s", fs_errmsg());
    rc = inflight_join(&f);
    if (!rc && f.r.status != 200) rc = http_error(&f.r, "push refused");
    if (!rc && prep) rc = fsi_fail(prep, "%s", preperr);
    if (!rc) rc = take_ack(s, &cur, &f.r, &next);
    fsi_http_response_clear(&f.r);
    if (rc || (rc = report(s, "push", s->stats->pushed, s->pending))) goto done;
    sealed_clear(&cur);
    cur = next;
    memset(&next, 0, sizeof next);
  }
done:
  sealed_clear(&cur);
  sealed_clear(&next);
  return rc;
}

/* ------------------------------------------------------------------ pull */

static void pull_path(char *out, size_t n, const char *cursor, int64_t seq, const char *hashhex) {
  char curhex[520];
  fsi_proto_hex(curhex, (const unsigned char *)cursor, strlen(cursor));
  snprintf(out, n, "/v1/pull?cursor=%s&seq=%" PRId64 "&prev=%s", curhex, seq, hashhex);
}

/* Pulls batch after batch; the request for the next batch is in flight
 * while this one is merged.  Each batch is merged with its cursor and chain
 * state in one transaction, so an interruption resumes after the last one
 * merged (a prefetched answer that was never merged is simply asked again). */
static int pull(session *s) {
  fs_store *st = s->st;
  char path[1024], nextpath[1024];
  int rc = FS_OK, more = 1;
  inflight f;
  fsi_devstate_chain merged;
  memset(&f, 0, sizeof f);
  if ((rc = fsi_devstate_pull_get(&merged, st))) return rc;
  if (!*merged.hash) memset(merged.hash, '0', FSI_DEVSTATE_HASH - 1);
  fsi_envelope_chain chain;
  memset(&chain, 0, sizeof chain);
  chain.seq = (uint64_t)merged.seq;
  if (merged.seq > 0 && !fsi_proto_unhex(chain.hash, ENVELOPE_HASH_SIZE, merged.hash))
    return fsi_fail(FS_ECORRUPT, "the pull chain state in this store is damaged");
  pull_path(path, sizeof path, merged.cursor, merged.seq, merged.hash);
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  if ((rc = signed_request(s->c, &s->sign, path, NULL, NULL, 0, &r))) return rc;
  while (more) {
    const unsigned char *body = NULL;
    size_t bodylen = 0;
    char next[256], hashhex[FSI_DEVSTATE_HASH];
    fsi_envelope_opened op;
    memset(&op, 0, sizeof op);
    if (r.status != 200) rc = http_error(&r, "pull refused");
    if (!rc)
      rc = fsi_envelope_open(&op, r.body, r.len, fs_store_site(st), s->keys, fs_store_hq_site(st),
                             &s->server, &chain);
    if (!rc && op.duplicate)
      rc = fsi_fail(FS_ECORRUPT, "head office sent the previous batch again");
    /* the next cursor and the more flag are inside the signed plaintext */
    if (!rc) rc = fsi_proto_pull_parse(op.plain, op.plainlen, &more, next, &body, &bodylen);
    if (!rc) rc = fsi_codec_decode(s->batch, body, bodylen);
    if (!rc) rc = fsi_envelope_check_batch(&op.h, s->batch);
    fsi_merge_cursor chk;
    if (!rc) rc = fsi_merge_cursor_parse(&chk, next);
    if (!rc) {
      fsi_proto_hex(hashhex, op.hash, ENVELOPE_HASH_SIZE);
      if (more) {
        pull_path(nextpath, sizeof nextpath, next, (int64_t)op.h.seq, hashhex);
        inflight_start(&f, s, nextpath, NULL, 0);
      }
      rc = fs_tx_begin(st);
    }
    int64_t conflicts = 0;
    if (!rc) {
      fsi_merge_opts mo = {fs_store_hq_site(st), NULL};
      fsi_merge_result res;
      rc = fsi_merge_apply(st, s->batch, &mo, &res);
      if (!rc) {
        conflicts = (int64_t)res.conflicts;
        fsi_merge_result_free(&res);
      }
      /* Customers head office moved to another manager leave this device. */
      int64_t evicted = 0;
      const char *mgr = fsi_store_manager(st);
      if (!rc && mgr) rc = fsi_store_evict_foreign(st, mgr, &evicted);
      fsi_devstate_chain now;
      memcpy(now.cursor, next, sizeof now.cursor);
      now.seq = (int64_t)op.h.seq;
      memcpy(now.hash, hashhex, sizeof now.hash);
      if (!rc) rc = fsi_devstate_pull_set(st, &now);
      if (!rc) rc = fsi_util_fault("pull-commit");
      if (!rc)
        rc = fs_tx_commit(st);
      else
        fs_tx_rollback(st);
    }
    if (!rc) {
      chain.seq = op.h.seq;
      memcpy(chain.hash, op.hash, ENVELOPE_HASH_SIZE);
      s->stats->pulled += (int64_t)s->batch->nrows;
      s->stats->conflicts += conflicts;
      s->stats->batches++;
      rc = report(s, "pull", s->stats->pulled, 0);
    }
    fsi_envelope_opened_clear(&op);
    fsi_change_batch_reset(s->batch);
    fsi_http_response_clear(&r);
    /* the prefetched answer is awaited even when cancelled, and dropped */
    if (f.running || (more && !rc)) {
      int jr = inflight_join(&f);
      if (!rc) rc = jr;
      r = f.r;
      memset(&f.r, 0, sizeof f.r);
    }
    if (rc) break;
  }
  fsi_http_response_clear(&r);
  return rc;
}

/* ------------------------------------------------ one sync at a time */

#define SYNC_LOCK_WAIT_MS 30000 /* the default wait for another sync */
#define SYNC_LOCK_POLL_MS 50

/* Syncs of one home take turns: HOME/sync.lock is flock'ed for the whole
 * of fs_sync (the kernel releases it when the file is closed, so also when
 * the process dies), and the holder's pid is written in it for the
 * message of a sync that finds it held.  That one waits up to wait_ms
 * (< 0: not at all) and then fails with FS_EBUSY: two syncs of one device
 * at once would send the same chain position twice, which head office
 * refuses as a copied device. */
static int sync_lock(int *fd, const char *home, int64_t wait_ms) {
  char path[4200];
  *fd = -1;
  if ((size_t)snprintf(path, sizeof path, "%s/sync.lock", home) >= sizeof path)
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (f < 0) return fsi_fail(FS_EIO, "cannot open %s: %s", path, strerror(errno));
  int64_t waited = 0;
  while (flock(f, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      int e = errno;
      close(f);
      return fsi_fail(FS_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    if (waited >= wait_ms) {
      char pid[32] = "", text[24] = "", waits[48];
      ssize_t n = pread(f, text, sizeof text - 1, 0);
      long holder = n > 0 ? strtol(text, NULL, 10) : 0;
      close(f);
      if (holder > 0) snprintf(pid, sizeof pid, " (pid %ld)", holder);
      if (wait_ms <= 0)
        return fsi_fail(FS_EBUSY,
                        "a sync is already running on this laptop%s; let it finish, then "
                        "sync again (nothing is lost)",
                        pid);
      fsi_util_duration(waits, wait_ms);
      return fsi_fail(FS_EBUSY,
                      "a sync is already running on this laptop%s and did not finish within "
                      "%s; let it finish, then sync again (nothing is lost)",
                      pid, waits);
    }
    struct timespec ts = {0, SYNC_LOCK_POLL_MS * 1000000L};
    nanosleep(&ts, NULL);
    waited += SYNC_LOCK_POLL_MS;
  }
  char text[24];
  int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  if (ftruncate(f, 0) != 0 || pwrite(f, text, (size_t)n, 0) != n) {
    /* the pid is only for the message of a sync that has to wait */
  }
  *fd = f;
  return FS_OK;
}

static void sync_unlock(int fd) {
  if (fd < 0) return;
  if (ftruncate(fd, 0) != 0) {
    /* a stale pid only names a process in a message */
  }
  close(fd); /* releases the lock */
}

/* ------------------------------------------- clocks that ran ahead */

/* Two clocks this close agree (the window head office allows a signed
 * request's time). */
#define CLOCK_AGREE_MS PROTO_REQ_WINDOW_MS

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

/* Head office's clock now, by GET /v1/health; 0 when it cannot be had. */
static int64_t hq_time(session *s) {
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  int64_t t = 0;
  if (fsi_http_client_get(s->c, "/v1/health", &r) == FS_OK && r.status == 200) {
    cJSON *o = cJSON_ParseWithLength((const char *)r.body, r.len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "time");
    if (cJSON_IsNumber(v) && v->valuedouble > 0) t = (int64_t)v->valuedouble;
    cJSON_Delete(o);
  }
  fsi_http_response_clear(&r);
  fsi_clear_error();
  return t;
}

/* Keeps how far ahead of head office this laptop's clock was found, for
 * placing the clocks a re-clock re-issues (reclock.c). */
static void note_offset(session *s) {
  if (s->sign.offset_ms < -CLOCK_AGREE_MS) {
    char keep[512];
    snprintf(keep, sizeof keep, "%s", fs_errmsg());
    fsi_reclock_note_skew(s->st, -s->sign.offset_ms);
    fsi_fail(FS_OK, "%s", keep);
  }
}

/* Before the push: the store's clock ahead of this laptop's wall clock means
 * the laptop's clock was ahead and has been put right (or now runs behind).
 * Head office's time tells which: when the laptop agrees with it, the
 * clocks that ran ahead and never left the laptop are re-issued, so its
 * changes are not refused and do not beat later edits made elsewhere. */
static int clocks_before_push(session *s) {
  int64_t now = fsi_util_now_ms();
  if (HLC_PHYS(fsi_store_clock(s->st)) <= now + CLOCK_AGREE_MS) return FS_OK;
  int64_t t = hq_time(s);
  if (!t) return FS_OK; /* an older head office: the push finds out */
  now = fsi_util_now_ms();
  if (abs64(t - now) > CLOCK_AGREE_MS) {
    s->sign.offset_ms = t - now; /* saves the push a refused request */
    note_offset(s);
    return FS_OK;
  }
  fsi_reclock_result res;
  return fsi_reclock(s->st, now, 0, &res);
}

/* The highest clock of the outbox, 0 when there is none. */
static int64_t outbox_newest(fs_store *st) {
  sealed e;
  fsi_envelope_header h;
  int64_t newest = 0;
  if (fsi_devstate_outbox_get(&e, st) == FS_OK && e.env &&
      fsi_envelope_peek(&h, e.env, e.len) == FS_OK)
    newest = h.hlc_max;
  sealed_clear(&e);
  fsi_clear_error();
  return newest;
}

static int unseal(fs_store *st) {
  int rc = fs_tx_begin(st);
  if (rc) return rc;
  rc = fsi_devstate_outbox_unseal(st);
  return rc ? (fs_tx_rollback(st), rc) : fs_tx_commit(st);
}

/* The sentence for changes head office refused as stamped ahead of its
 * clock: which clock looks wrong, by how much, what to do. */
static int push_skew_fail(session *s, int64_t newest) {
  int64_t now = fsi_util_now_ms(), hq = now + s->sign.offset_ms;
  char here[32], there[32], by[48], at[32];
  fsi_util_date(here, now);
  fsi_util_date(there, hq);
  fsi_util_date(at, HLC_PHYS(newest));
  fsi_util_duration(by, s->sign.offset_ms);
  if (s->sign.offset_ms < -CLOCK_AGREE_MS) {
    /* head office is behind this laptop: behind what it sent itself too? */
    int64_t theirs = 0;
    fsi_reclock_site_max(s->st, fs_store_hq_site(s->st), 0, &theirs);
    fsi_clear_error();
    if (HLC_PHYS(theirs) > hq + CLOCK_AGREE_MS) {
      char sent[32];
      fsi_util_date(sent, HLC_PHYS(theirs));
      return fsi_fail(FS_ESKEW,
                      "head office's clock is %s behind this laptop's (head office: %s; this "
                      "laptop: %s) and behind changes head office sent itself (%s), so its "
                      "clock is wrong and it refused this laptop's changes: head office must "
                      "correct its clock (timedatectl / NTP); nothing is lost: they go out at "
                      "the first sync after that",
                      by, there, here, sent);
    }
    return fsi_fail(FS_ESKEW,
                    "this laptop's clock is %s ahead of head office's (this laptop: %s; head "
                    "office: %s), so head office refused its changes: set this laptop's date "
                    "and time right (system settings, or timedatectl set-ntp true) and sync "
                    "again; nothing is lost: they go out then with corrected clocks (if this "
                    "laptop's clock is right, head office's is behind: tell head office)",
                    by, here, there);
  }
  if (s->sign.offset_ms > CLOCK_AGREE_MS)
    return fsi_fail(FS_ESKEW,
                    "this laptop's changes are stamped up to %s, ahead of head office's clock "
                    "(%s), while this laptop's clock is %s behind head office's (%s): set this "
                    "laptop's date and time right (system settings, or timedatectl set-ntp "
                    "true) and sync again; nothing is lost",
                    at, there, by, here);
  return fsi_fail(FS_ESKEW,
                  "this laptop's changes are stamped up to %s, ahead of head office's clock "
                  "(%s), and head office may already hold some of them, so they keep their "
                  "clocks: head office takes them once its clock is near that time; nothing "
                  "is lost",
                  at, there);
}

/* After a refused push: a refused outbox was not applied, so when it is
 * stamped ahead of head office's clock it is unsealed (its rows are
 * pending again); when this laptop's clock agrees with head office's, the
 * clocks that ran ahead are re-issued and the push is tried once more.
 * Anything else is left as the push reported it. */
static int clocks_after_refusal(session *s, int rc) {
  if (rc != FS_ECONFLICT || !strstr(fs_errmsg(), "head office answered 409")) return rc;
  char msg[512];
  snprintf(msg, sizeof msg, "%s", fs_errmsg());
  int64_t newest = outbox_newest(s->st), now = fsi_util_now_ms();
  if (!newest || HLC_PHYS(newest) <= now + s->sign.offset_ms + CLOCK_AGREE_MS)
    return fsi_fail(rc, "%s", msg);
  note_offset(s);
  if (abs64(s->sign.offset_ms) > CLOCK_AGREE_MS) {
    int urc = unseal(s->st);
    return urc ? urc : push_skew_fail(s, newest);
  }
  fsi_reclock_result res;
  int rrc = fsi_reclock(s->st, now, 1, &res);
  if (rrc) return rrc;
  rc = push(s);
  if (rc == FS_ECONFLICT && strstr(fs_errmsg(), "head office answered 409") &&
      (newest = outbox_newest(s->st)) &&
      HLC_PHYS(newest) > fsi_util_now_ms() + s->sign.offset_ms + CLOCK_AGREE_MS) {
    int urc = unseal(s->st);
    return urc ? urc : push_skew_fail(s, newest);
  }
  return rc;
}

/* The sentence for changes from head office this laptop refused as stamped
 * ahead of its clock (the merge's own says whose clock looks wrong when it
 * can tell from the store alone; this one knows head office's time). */
static int pull_skew_fail(session *s) {
  int64_t h = 0, site = 0, now = fsi_util_now_ms(), hq = now + s->sign.offset_ms;
  if (!fsi_store_skew_refused(s->st, &h, &site) ||
      HLC_PHYS(fsi_store_clock(s->st)) > now + fsi_store_max_skew(s->st) ||
      s->sign.offset_ms < -CLOCK_AGREE_MS)
    return FS_ESKEW; /* the merge's sentence stands */
  char here[32], there[32], by[48], at[32], from[32];
  fsi_util_date(here, now);
  fsi_util_date(there, hq);
  fsi_util_date(at, HLC_PHYS(h));
  fsi_util_date(from, HLC_PHYS(h) - fsi_store_max_skew(s->st));
  if (s->sign.offset_ms > CLOCK_AGREE_MS) {
    fsi_util_duration(by, s->sign.offset_ms);
    return fsi_fail(FS_ESKEW,
                    "head office's clock is %s ahead of this laptop's (head office: %s; this "
                    "laptop: %s), and the changes it sent are stamped with it (up to %s), so "
                    "this laptop took none of them: if this laptop's date and time are right, "
                    "head office must correct its clock (timedatectl / NTP); nothing is lost: "
                    "this laptop takes them once its clock passes %s",
                    by, there, here, at, from);
  }
  fsi_util_duration(by, HLC_PHYS(h) - now);
  return fsi_fail(FS_ESKEW,
                  "head office sent changes stamped %s ahead of the time now (up to %s; this "
                  "laptop and head office agree it is %s), made while head office's clock ran "
                  "ahead, so this laptop took none of them: head office must check its clock "
                  "(timedatectl / NTP); nothing is lost: this laptop takes them once its "
                  "clock passes %s",
                  by, at, here, from);
}

int fs_sync(fs_sync_stats *stats, fs_device *dev, const fs_sync_opts *opts) {
  session s;
  fs_sync_stats done_so_far;
  int rc, lock = -1;
  memset(&s, 0, sizeof s);
  memset(&done_so_far, 0, sizeof done_so_far);
  done_so_far.version = FS_SYNC_STATS_VERSION;
  if (!dev) return fsi_fail(FS_EINVAL, "no device to sync");
  if (stats && (rc = fsi_device_struct_out(stats, &done_so_far, &sync_stats_v))) return rc;
  if (!opts)
    s.opts.version = FS_SYNC_OPTS_VERSION;
  else if ((rc = fsi_device_struct_in(&s.opts, sizeof s.opts, opts, &sync_opts_v)))
    return rc;
  if (s.opts.push_batch_rows == 0) s.opts.push_batch_rows = PROTO_BATCH_ROWS;
  if (s.opts.push_batch_rows < 1 || s.opts.push_batch_rows > PROTO_BATCH_ROWS)
    return fsi_fail(FS_EINVAL, "push_batch_rows is %lld; it must be 1 to %d (0 = %d)",
                    (long long)s.opts.push_batch_rows, PROTO_BATCH_ROWS, PROTO_BATCH_ROWS);
  if ((rc = sync_lock(&lock, dev->home,
                      s.opts.lock_wait_ms == 0  ? SYNC_LOCK_WAIT_MS
                      : s.opts.lock_wait_ms < 0 ? -1
                                                : s.opts.lock_wait_ms)))
    return rc;
  s.st = dev->st;
  s.stats = &done_so_far;
  if ((rc = open_session(&s, dev))) goto done;
  /* The pending total is only reported to a progress callback, and counting
   * it reads every pending row once more. */
  if (s.opts.progress) fs_pending_count(&s.pending, s.st);
  if ((rc = clocks_before_push(&s))) goto done;
  rc = push(&s);
  note_offset(&s);
  if (rc == FS_ENETWORK || rc == FS_EREVOKED || rc == FS_EAUTH || rc == FS_ECANCELED) goto done;
  if (rc) rc = clocks_after_refusal(&s, rc);
  if (rc == FS_ENETWORK || rc == FS_EREVOKED || rc == FS_EAUTH || rc == FS_ECANCELED) goto done;
  if (rc) {
    /* Head office refused this batch (for example a clock it will accept
     * later): still receive what it has, then report the refusal. */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", fs_errmsg());
    int prc = pull(&s);
    if (prc == FS_ESKEW) prc = pull_skew_fail(&s);
    if (prc == FS_OK)
      fsi_fail(rc, "%s", msg);
    else
      rc = prc;
    goto done;
  }
  if ((rc = pull(&s))) {
    if (rc == FS_ESKEW) rc = pull_skew_fail(&s);
    goto done;
  }
  rc = fsi_devstate_synced(s.st, fsi_util_now_ms());
  /* the clocks agree and nothing runs ahead: a skew noted before is old */
  if (!rc && abs64(s.sign.offset_ms) <= CLOCK_AGREE_MS &&
      HLC_PHYS(fsi_store_clock(s.st)) <= fsi_util_now_ms() + CLOCK_AGREE_MS)
    rc = fsi_reclock_note_skew(s.st, 0);
done:
  close_session(&s);
  sync_unlock(lock);
  if (stats) fsi_device_struct_out(stats, &done_so_far, &sync_stats_v);
  return rc;
}
