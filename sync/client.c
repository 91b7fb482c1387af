/*
 * client.c — the device side of the protocol: enrollment and sync.
 *
 * Push is exactly-once: an envelope is sealed and stored in the store's
 * outbox (with the cursor it advances to) before it is sent; the outbox is
 * cleared and the cursor advanced in one transaction when head office
 * acknowledges it, and only when the acknowledgement is head office's own
 * signed word for that envelope, which the device keeps as a receipt (in
 * the store and in HOME/receipts, sync/receipt.h).  With the receipts the
 * device knows where head office's chain of its pushes stood: a store found
 * behind them (restored from an older copy, lost writes) gets its
 * acknowledged rows back from head office and takes up that position; a
 * head office found behind them (restored from a backup) is sent again
 * everything since the position it still has; a chain head office moved
 * past without any receipt here (a copy of this device) is refused.
 * After a crash or a lost answer the same bytes are sent again, which head
 * office recognises and acknowledges without applying twice.  Pull
 * applies a batch and advances its cursor and chain state in one
 * transaction.  Nothing is lost when the network goes away mid-sync.
 * What the device keeps between syncs (server, outbox, chain positions) is
 * read and written through core's devstate functions (engine.h): no SQL
 * here.  The application's progress callback is asked after every committed
 * batch whether to go on; cancelling there is just an interruption at a
 * point where nothing is half done.  A sync that succeeded ends by taking
 * a fresh offline lease from head office (lease.h); a device refused as
 * revoked asks once more for a wipe order, which it carries out only when
 * it verifies (take_wipe, wipe.h).
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
#include "keyring.h"
#include "engine.h"
#include "lease.h"
#include "proto.h"
#include "receipt.h"
#include "wipe.h"
#include "recover.h"

/* Error sentence from a JSON error body, or a generic one; the error is
 * the answer's "code" where head office gave one ("clock": FS_ESKEW,
 * "revoked": FS_EREVOKED), else the status's. */
static int http_error(const fsi_http_response *r, const char *what) {
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
  const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "code"));
  char text[400];
  snprintf(text, sizeof text, "%s", msg ? msg : "unexpected answer");
  int clock = r->status == 409 && why && !strcmp(why, "clock");
  int revoked = r->status == 403 && why && !strcmp(why, "revoked");
  cJSON_Delete(o);
  int code = r->status == 401   ? FS_EAUTH
             : r->status == 403 ? (revoked ? FS_EREVOKED : FS_EPERM)
             : clock            ? FS_ESKEW
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

/* ------------------------------------------------------------- escrow */

/* Escrows the data key with head office (POST /v1/escrow, signed; the
 * design in docs/security.md, "Forgotten passphrase") unless head office
 * acknowledged it before, and keeps HOME/keys/hq.json up to date.  Best
 * effort: a failure here fails neither the enrollment nor the sync (the
 * next sync tries again), and leaves no error behind. */
static void escrow_once(fs_device *dev, fsi_http_client *c, signer *g, const fsi_pubkeys *hq) {
  fsi_http_response r;
  char *body = NULL, *done = NULL;
  memset(&r, 0, sizeof r);
  if (fsi_recover_note_hq(dev) != FS_OK) fsi_clear_error();
  if (fs_store_get(&done, dev->st, FSI_ESCROW_SETTING) == FS_OK) goto out;
  if (fsi_recover_escrow_body(&body, dev, hq) == FS_OK &&
      signed_request(c, g, "/v1/escrow", "application/json", body, strlen(body), &r) == FS_OK &&
      r.status == 200) {
    char when[32];
    fs_time_format(when, fsi_util_now_ms());
    fs_store_set(dev->st, FSI_ESCROW_SETTING, when);
  }
out:
  fsi_clear_error();
  fs_free(done);
  free(body);
  fsi_http_response_clear(&r);
}

/* ------------------------------------------------------------- enroll */

/* The versions of the versioned structs (device.h): the size of each, up
 * to its last member.  A new member appends a size here. */
static const size_t enroll_opts_sizes[] = {offsetof(fs_enroll_opts, pin) + sizeof(const char *)};
static const size_t sync_opts_sizes[] = {offsetof(fs_sync_opts, push_batch_rows) + sizeof(int64_t),
                                         offsetof(fs_sync_opts, lock_wait_ms) + sizeof(int64_t)};
static const size_t sync_stats_sizes[] = {offsetof(fs_sync_stats, batches) + sizeof(int64_t),
                                          offsetof(fs_sync_stats, rewinds) + sizeof(int64_t)};
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
  if ((rc = fsi_device_need_unlocked(dev))) return rc;
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
  if ((rc = fsi_devstate_enrolled(st, &srv, site))) goto done;
  escrow_once(dev, c, &g, &server);
  const cJSON *lease = cJSON_GetObjectItemCaseSensitive(ans, "lease");
  rc =
      fsi_lease_save(dev, st, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lease, "text")),
                     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lease, "sig")));
  if (rc) {
    char why[400];
    snprintf(why, sizeof why, "%s", fs_errmsg());
    fsi_fail(rc, "enrolled, but %s; run `fieldsync sync` to get a lease before going offline", why);
  }
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
  const char *home;
  fsi_http_client *c;
  const fsi_keys *keys; /* the device's */
  signer sign;
  fsi_pubkeys server;
  fsi_batch *batch;
  fs_sync_stats *stats;
  fs_sync_opts opts;
  int64_t pending;
  int own_pull; /* the pull asks for this device's own rows too, from the start */
  int repulled; /* this sync already got this device's rows back */
  int rejoins;  /* times this sync took up head office's chain position */
  int hq_known; /* a pull said where this device's push chain stands at head office: */
  int64_t hq_seq;
  char hq_hash[FSI_DEVSTATE_HASH]; /* hex, "" for none */
} session;

static int open_session(session *s, fs_device *dev) {
  fs_store *st = dev->st;
  fsi_devstate_server srv;
  int rc;
  if ((rc = fsi_device_need_unlocked(dev))) return rc;
  s->home = dev->home;
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
  int64_t resend_until = 0;
  if ((rc = fsi_merge_cursor_parse(&c, from))) return rc;
  if ((rc = fsi_devstate_resend_get(&resend_until, st))) return rc;
  /* After head office was restored, what it lost is sent again whoever
   * wrote it (it may have been received from head office); its own tables
   * it has from its own source. */
  int resend = c.seq < resend_until;
  fsi_merge_filter f = {resend ? 0 : fs_store_hq_site(st), NULL, 0, resend};
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

/* Head office's signed word that it accepted `sent` (header h, chain hash
 * hash), as the receipt to keep: the acknowledgement is for this device's
 * envelope, its refusals are as many as head office signed, and its
 * signature verifies against the pinned key.  FS_EAUTH otherwise, and
 * nothing is taken as delivered. */
static int ack_receipt(fsi_devstate_receipt *out, session *s, const cJSON *ack,
                       const fsi_envelope_header *h, const uint8_t hash[ENVELOPE_HASH_SIZE],
                       const sealed *sent) {
  fsi_proto_ack a;
  memset(a.device, 0, sizeof a.device);
  memset(out, 0, sizeof *out);
  snprintf(a.device, sizeof a.device, "%s", fs_store_device_id(s->st));
  a.seq = h->seq;
  fsi_proto_hex(a.hash, hash, ENVELOPE_HASH_SIZE);
  const cJSON *acc = cJSON_GetObjectItemCaseSensitive(ack, "accepted");
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(ack, "refused_count");
  const cJSON *at = cJSON_GetObjectItemCaseSensitive(ack, "hq_time");
  const char *sig = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ack, "sig"));
  a.accepted = cJSON_IsNumber(acc) ? (int64_t)acc->valuedouble : -1;
  a.refused = cJSON_IsNumber(ref) ? (int64_t)ref->valuedouble : -1;
  a.time = cJSON_IsNumber(at) ? (int64_t)at->valuedouble : 0;
  size_t n = fsi_proto_ack_text(out->text, &a);
  if (!sig || !n)
    return fsi_fail(FS_EAUTH,
                    "head office's answer to push %llu is not signed, so it may not come from "
                    "head office (a man in the middle on the network?); nothing was taken as "
                    "delivered and the push is sent again at the next sync",
                    (unsigned long long)h->seq);
  if (!fsi_proto_request_verify(sig, s->server.sign, out->text, n))
    return fsi_fail(FS_EAUTH,
                    "head office's answer to push %llu does not verify against head office's "
                    "pinned key, so it did not come from head office (a man in the middle on "
                    "the network?); nothing was taken as delivered and the push is sent again "
                    "at the next sync",
                    (unsigned long long)h->seq);
  if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ack, "refused")) != (int)a.refused)
    return fsi_fail(FS_EAUTH,
                    "head office's answer to push %llu lists other refusals than the %lld head "
                    "office signed; nothing was taken as delivered",
                    (unsigned long long)h->seq, (long long)a.refused);
  out->seq = (int64_t)h->seq;
  memcpy(out->hash, a.hash, sizeof out->hash);
  memcpy(out->cursor, sent->cursor, sizeof out->cursor);
  snprintf(out->sig, sizeof out->sig, "%s", sig);
  out->received_at = fsi_util_now_ms();
  return FS_OK;
}

/* Records head office's acknowledgement of `sent` and, in the same
 * transaction, makes `next` (if any) the outbox.  The receipt goes to
 * HOME/receipts first, then into the store with the acknowledgement. */
static int take_ack(session *s, const sealed *sent, const fsi_http_response *r,
                    const sealed *next) {
  fs_store *st = s->st;
  cJSON *ack = cJSON_ParseWithLength((const char *)r->body, r->len);
  fsi_envelope_header h;
  uint8_t hash[ENVELOPE_HASH_SIZE];
  fsi_devstate_chain acked;
  fsi_receipt_line line;
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
  memset(&line, 0, sizeof line);
  line.kind = RECEIPT_ACK;
  if ((rc = ack_receipt(&line.r, s, ack, &h, hash, sent))) goto done;
  if ((rc = fsi_receipts_append(s->home, &line))) goto done;
  memcpy(acked.cursor, sent->cursor, sizeof acked.cursor);
  acked.seq = (int64_t)h.seq;
  fsi_proto_hex(acked.hash, hash, sizeof hash);
  if ((rc = fs_tx_begin(st))) goto done;
  rc = next && next->env ? fsi_devstate_outbox_put(st, next) : fsi_devstate_outbox_clear(st);
  if (!rc) rc = fsi_devstate_push_set(st, &acked);
  if (!rc) rc = fsi_devstate_receipt_add(st, &line.r);
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

/* ------------------------------------------------------ rejoining */

static int pull(session *s);

/* Gets back from head office everything it holds for this device, this
 * device's own rows included (which a pull never sends otherwise), once
 * per sync: a store behind its receipts lost rows head office has. */
static int repull_own(session *s) {
  if (s->repulled) return FS_OK;
  int64_t before = s->stats->pulled;
  s->own_pull = 1;
  int rc = pull(s);
  s->own_pull = 0;
  if (!rc) s->repulled = 1;
  s->stats->recovered += s->stats->pulled - before;
  return rc;
}

/* The earlier of two push cursors (the store's own and a receipt's):
 * going back is safe (state-based: a row sent again changes nothing at
 * head office), going forward past what the store holds is not. */
static int earlier_cursor(char out[FSI_DEVSTATE_CURSOR], const char *a, const char *b) {
  fsi_merge_cursor ca, cb;
  int rc;
  if ((rc = fsi_merge_cursor_parse(&ca, a)) || (rc = fsi_merge_cursor_parse(&cb, b))) return rc;
  int b_first = cb.seq != ca.seq   ? cb.seq < ca.seq
                : cb.tbl != ca.tbl ? cb.tbl < ca.tbl
                                   : strcmp(cb.pk, ca.pk) < 0;
  snprintf(out, FSI_DEVSTATE_CURSOR, "%s", b_first ? b : a);
  return FS_OK;
}

/* Takes up head office's chain position `at` (a receipt's, or the start)
 * in one transaction: the push chain goes there with the earlier of the
 * two cursors, the outbox (sealed for the old chain) is emptied, and
 * `resend` says whether what was received since is sent again too (head
 * office was behind: it lost it).  The receipts file records the move
 * first; `copy_receipts` also brings the store's receipts up to the
 * file's (a store that was rolled back lost some). */
static int take_position(session *s, const fsi_devstate_receipt *at, int resend, const char *why,
                         int copy_receipts) {
  fs_store *st = s->st;
  fsi_devstate_chain push, now;
  fsi_receipt_line line;
  int64_t until = 0;
  int rc;
  if ((rc = fsi_devstate_push_get(&push, st))) return rc;
  memset(&now, 0, sizeof now);
  if ((rc = earlier_cursor(now.cursor, push.cursor, at->cursor))) return rc;
  now.seq = at->seq;
  snprintf(now.hash, sizeof now.hash, "%s", at->hash);
  if (resend && (rc = fsi_store_meta_get_i64(st, "seq", &until))) return rc;
  memset(&line, 0, sizeof line);
  line.kind = RECEIPT_REWIND;
  line.r.seq = now.seq;
  memcpy(line.r.hash, now.hash, sizeof line.r.hash);
  memcpy(line.r.cursor, now.cursor, sizeof line.r.cursor);
  line.r.received_at = fsi_util_now_ms();
  snprintf(line.why, sizeof line.why, "%s", why);
  if ((rc = fsi_receipts_append(s->home, &line))) return rc;
  fsi_receipt_line *lines = NULL;
  size_t n = 0, bad = 0;
  if (copy_receipts && (rc = fsi_receipts_read(&lines, &n, &bad, s->home))) return rc;
  if ((rc = fs_tx_begin(st))) {
    free(lines);
    return rc;
  }
  rc = fsi_devstate_push_set(st, &now);
  if (!rc) rc = fsi_devstate_outbox_clear(st);
  if (!rc) rc = fsi_devstate_resend_set(st, until);
  for (size_t i = 0; !rc && i < n; i++)
    if (lines[i].kind == RECEIPT_ACK) rc = fsi_devstate_receipt_add(st, &lines[i].r);
  if (!rc)
    rc = fs_tx_commit(st);
  else
    fs_tx_rollback(st);
  free(lines);
  if (!rc) s->stats->rewinds++;
  return rc;
}

/* Before pushing: a store behind its receipts (restored from an older
 * copy, lost WAL frames) gets back what head office acknowledged and takes
 * up the position of its newest receipt, so that what is new on it is
 * pushed after that.  Nothing to do for a store that is not behind. */
static int recover_if_behind(session *s) {
  fsi_receipt_line last;
  fsi_devstate_chain push;
  char why[300];
  int b = fsi_receipts_behind(&last, &push, s->st, s->home);
  if (b <= 0) return b;
  if (last.kind == RECEIPT_ACK &&
      !fsi_receipt_check(&last.r, fs_store_device_id(s->st), &s->server, why, sizeof why))
    return fsi_fail(FS_EAUTH,
                    "this store is behind its receipts, but the newest receipt (push %lld, line "
                    "%zu of the receipts file) does not verify: %s; nothing was changed",
                    (long long)last.r.seq, last.line, why);
  int rc = repull_own(s);
  if (rc) return rc;
  snprintf(why, sizeof why,
           "this store was behind its receipts (it recorded push %lld, head office had "
           "acknowledged %lld): recovered from head office",
           (long long)push.seq, (long long)last.r.seq);
  return take_position(s, &last.r, 0, why, 1);
}

/* Head office's chain of this device's pushes stands at push `seq` with
 * hash `hash` (hex, "" for none).  When a receipt of this device (or the
 * start, push 0) names that very position, the device takes it up:
 * *handled = 1 and the caller pushes again from there.  Head office
 * behind the store (restored from a backup) gets everything since sent
 * again; head office ahead of it (this store was rolled back) first sends
 * this device's rows back.  *handled = 0 when no receipt here names it (a
 * copy of this device pushed it). */
static int rejoin_at(session *s, int64_t seq, const char *hash, int *handled) {
  fsi_devstate_chain push;
  fsi_devstate_receipt at;
  int rc = FS_OK;
  *handled = 0;
  if (seq < 0 || strlen(hash) >= FSI_DEVSTATE_HASH) return FS_OK;
  memset(&at, 0, sizeof at);
  at.seq = seq;
  snprintf(at.hash, sizeof at.hash, "%s", hash);
  int found = at.seq == 0 && !*hash;
  fsi_receipt_line *lines = NULL;
  fsi_devstate_receipt *stored = NULL;
  size_t n = 0, bad = 0, ns = 0;
  if (!found && !(rc = fsi_receipts_read(&lines, &n, &bad, s->home)))
    rc = fsi_devstate_receipts(&stored, &ns, s->st);
  for (size_t i = 0; !rc && !found && i < n; i++)
    if (lines[i].kind == RECEIPT_ACK && lines[i].r.seq == at.seq &&
        !strcmp(lines[i].r.hash, at.hash) && (found = 1))
      memcpy(at.cursor, lines[i].r.cursor, sizeof at.cursor);
  for (size_t i = 0; !rc && !found && i < ns; i++)
    if (stored[i].seq == at.seq && !strcmp(stored[i].hash, at.hash) && (found = 1))
      memcpy(at.cursor, stored[i].cursor, sizeof at.cursor);
  free(lines);
  free(stored);
  if (rc || !found || FS_MUT(63)) return rc;
  if ((rc = fsi_devstate_push_get(&push, s->st))) return rc;
  char why[200];
  if (at.seq > push.seq) {
    /* head office is ahead: this store lost acknowledged rows */
    if ((rc = repull_own(s))) return rc;
    snprintf(why, sizeof why,
             "head office had push %lld of this device, the store only %lld: recovered from "
             "head office",
             (long long)at.seq, (long long)push.seq);
    rc = take_position(s, &at, 0, why, 1);
  } else {
    snprintf(why, sizeof why,
             "head office had only push %lld of this device's %lld (restored from a backup?): "
             "sending again from there",
             (long long)at.seq, (long long)push.seq);
    rc = take_position(s, &at, 1, why, 0);
  }
  if (!rc) *handled = 1;
  return rc;
}

/* A 409 for a push: the position head office names ({"chain":{"seq",
 * "hash"}}), for rejoin_at.  *hq_seq is -1 when the answer names none. */
static int rejoin(session *s, const fsi_http_response *r, int *handled, int64_t *hq_seq) {
  int rc = FS_OK;
  *handled = 0;
  *hq_seq = -1;
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const cJSON *chain = cJSON_GetObjectItemCaseSensitive(o, "chain");
  const cJSON *seq = cJSON_GetObjectItemCaseSensitive(chain, "seq");
  const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(chain, "hash"));
  if (cJSON_IsNumber(seq) && seq->valuedouble >= 0 && hash) {
    *hq_seq = (int64_t)seq->valuedouble;
    rc = rejoin_at(s, *hq_seq, hash, handled);
  }
  cJSON_Delete(o);
  return rc;
}

/* Sends the outbox, sealing the following batch while head office merges
 * it; the next batch becomes the outbox in the transaction that records the
 * acknowledgement, so a crash anywhere resends exactly what was sealed.
 * *rejoined = 1 when head office's answer moved the chain to its position
 * (rejoin): the caller starts again from there. */
static int push_once(session *s, int *rejoined) {
  fs_store *st = s->st;
  sealed cur, next;
  int rc;
  *rejoined = 0;
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
    if (!rc && f.r.status == 409 && s->rejoins < 3) {
      int64_t hq_seq = -1;
      if ((rc = rejoin(s, &f.r, rejoined, &hq_seq)) || *rejoined) {
        s->rejoins += *rejoined;
        fsi_http_response_clear(&f.r);
        goto done;
      }
      if (hq_seq >= 0) {
        rc = http_error(&f.r, "push refused");
        char msg[700];
        snprintf(msg, sizeof msg, "%s", fs_errmsg());
        rc = fsi_fail(rc,
                      "%s. Head office's chain for this device is at push %lld, which this "
                      "device holds no receipt for: another copy of this device (the same "
                      "identity on another computer) pushed it. A device must not be copied: "
                      "give the copy its own identity (`fieldsync init` and enroll it)",
                      msg, (long long)hq_seq);
      }
    }
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

/* Pushes everything: first recovers a store found behind its receipts,
 * then sends, taking up head office's position when it answers with one
 * a receipt names (a few times at most: each is a real move). */
static int push(session *s) {
  int rc = recover_if_behind(s), rejoined = 1;
  while (!rc && rejoined) rc = push_once(s, &rejoined);
  return rc;
}

/* ------------------------------------------------------------------ pull */

/* Keeps where a pull said this device's push chain stands at head office
 * (signed inside the envelope; compared after the pull). */
static void note_hq_position(session *s, const fsi_proto_pull_info *info) {
  if (!info->has_push || s->own_pull) return;
  s->hq_known = 1;
  s->hq_seq = (int64_t)info->push_seq;
  if (info->push_seq == 0)
    s->hq_hash[0] = '\0';
  else
    fsi_proto_hex(s->hq_hash, info->push_hash, ENVELOPE_HASH_SIZE);
}

/* The pull request: the cursor (hex) and the epoch it counts in (left out
 * when none is known), the chain position, and own=1 for this device's
 * own rows too. */
static void pull_path(char *out, size_t n, const char *cursor, int64_t seq, const char *hashhex,
                      const char *epoch, int own) {
  char curhex[520];
  fsi_proto_hex(curhex, (const unsigned char *)cursor, strlen(cursor));
  int k = snprintf(out, n, "/v1/pull?cursor=%s&seq=%" PRId64 "&prev=%s", curhex, seq, hashhex);
  if (*epoch && k > 0 && (size_t)k < n) k += snprintf(out + k, n - (size_t)k, "&epoch=%s", epoch);
  if (own && k > 0 && (size_t)k < n) snprintf(out + k, n - (size_t)k, "&own=1");
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
  char epoch[FSI_DEVSTATE_EPOCH];
  if ((rc = fsi_devstate_pull_get(&merged, st))) return rc;
  if ((rc = fsi_devstate_pull_epoch_get(epoch, st))) return rc;
  if (s->own_pull) merged.cursor[0] = '\0'; /* everything, from the start */
  if (!*merged.hash) memset(merged.hash, '0', FSI_DEVSTATE_HASH - 1);
  fsi_envelope_chain chain;
  memset(&chain, 0, sizeof chain);
  chain.seq = (uint64_t)merged.seq;
  if (merged.seq > 0 && !fsi_proto_unhex(chain.hash, ENVELOPE_HASH_SIZE, merged.hash))
    return fsi_fail(FS_ECORRUPT, "the pull chain state in this store is damaged");
  pull_path(path, sizeof path, merged.cursor, merged.seq, merged.hash, epoch, s->own_pull);
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  if ((rc = signed_request(s->c, &s->sign, path, NULL, NULL, 0, &r))) return rc;
  while (more) {
    const unsigned char *body = NULL;
    size_t bodylen = 0;
    char hashhex[FSI_DEVSTATE_HASH];
    fsi_proto_pull_info info;
    const char *next = info.cursor, *nextepoch = info.epoch;
    fsi_envelope_opened op;
    memset(&op, 0, sizeof op);
    if (r.status != 200) rc = http_error(&r, "pull refused");
    if (!rc)
      rc = fsi_envelope_open(&op, r.body, r.len, fs_store_site(st), s->keys, fs_store_hq_site(st),
                             &s->server, &chain);
    if (!rc && op.duplicate)
      rc = fsi_fail(FS_ECORRUPT, "head office sent the previous batch again");
    /* the next cursor and the more flag are inside the signed plaintext */
    if (!rc) rc = fsi_proto_pull_parse(&info, op.plain, op.plainlen, &body, &bodylen);
    if (!rc) {
      more = info.more;
      note_hq_position(s, &info);
    }
    if (!rc) rc = fsi_codec_decode(s->batch, body, bodylen);
    if (!rc) rc = fsi_envelope_check_batch(&op.h, s->batch);
    fsi_merge_cursor chk;
    if (!rc) rc = fsi_merge_cursor_parse(&chk, next);
    if (!rc) {
      fsi_proto_hex(hashhex, op.hash, ENVELOPE_HASH_SIZE);
      if (more) {
        pull_path(nextpath, sizeof nextpath, next, (int64_t)op.h.seq, hashhex,
                  *nextepoch ? nextepoch : epoch, s->own_pull);
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
      memcpy(now.cursor, info.cursor, sizeof now.cursor);
      now.seq = (int64_t)op.h.seq;
      memcpy(now.hash, hashhex, sizeof now.hash);
      if (!rc) rc = fsi_devstate_pull_set(st, &now);
      if (!rc && *nextepoch) rc = fsi_devstate_pull_epoch_set(st, nextepoch);
      if (!rc) rc = fsi_util_fault("pull-commit");
      if (!rc)
        rc = fs_tx_commit(st);
      else
        fs_tx_rollback(st);
    }
    if (!rc) {
      if (*nextepoch) memcpy(epoch, nextepoch, sizeof epoch);
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

/* After the pull: head office said where this device's push chain stands
 * there.  When that is not where the store stands (nor one ahead with the
 * outbox's envelope, whose acknowledgement was lost), and a receipt here
 * names that position, the device takes it up as a refused push would
 * (rejoin), then pushes and pulls again: a head office restored from a
 * backup gets what it lost, a store rolled back gets its rows, even when
 * there is nothing new to push.  Without such a receipt nothing is done
 * here: the next push is refused with the reason. */
static int check_hq_position(session *s) {
  fsi_devstate_chain chain;
  fsi_devstate_outbox ob;
  int rc;
  if (!s->hq_known || s->rejoins >= 3) return FS_OK;
  if ((rc = fsi_devstate_push_get(&chain, s->st))) return rc;
  if (s->hq_seq == chain.seq && !strcmp(s->hq_hash, chain.hash)) return FS_OK;
  if ((rc = fsi_devstate_outbox_get(&ob, s->st))) return rc;
  int pending_ack = 0;
  if (ob.env && s->hq_seq == chain.seq + 1) {
    uint8_t hash[ENVELOPE_HASH_SIZE];
    char hex[FSI_DEVSTATE_HASH];
    if (!fsi_envelope_hash(hash, ob.env, ob.len)) {
      fsi_proto_hex(hex, hash, sizeof hash);
      pending_ack = !strcmp(hex, s->hq_hash);
    }
  }
  fsi_devstate_outbox_free(&ob);
  if (pending_ack) return FS_OK;
  /* the same decision as for a 409 that names the position */
  int handled = 0;
  s->hq_known = 0;
  if ((rc = rejoin_at(s, s->hq_seq, s->hq_hash, &handled)) || !handled) return rc;
  s->rejoins++;
  if ((rc = push(s))) return rc;
  return pull(s);
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
  if (rc != FS_ESKEW) return rc;
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
  if (rc == FS_ESKEW && (newest = outbox_newest(s->st)) &&
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

/* ------------------------------------------------- lease and wipe */

/* Carries out the wipe order of a refusal (403) that holds one: verified
 * against the pinned key and this device's id first (a forged one is
 * FS_EAUTH and nothing is deleted); then the store is closed, the home
 * shredded (wipe.h), head office told with a request signed by the
 * identity still in memory (POST /v1/wiped), and the device locked, which
 * wipes that too.  FS_EWIPED when done; FS_EREVOKED when the refusal holds
 * no order. */
static int take_wipe(session *s, fs_device *dev, const fsi_http_response *r, int refusal) {
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "wipe");
  const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "text"));
  const char *sig = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "sig"));
  fsi_hqmsg order;
  int rc;
  if (!w) {
    cJSON_Delete(o);
    return refusal;
  }
  if ((rc = fsi_wipe_verify(&order, dev, dev->st, text, sig))) {
    char msg[400];
    snprintf(msg, sizeof msg, "%s", fs_errmsg());
    cJSON_Delete(o);
    return fsi_fail(rc, "%s; nothing on this laptop was deleted", msg);
  }
  char order_text[HQMSG_TEXT_MAX];
  snprintf(order_text, sizeof order_text, "%s", text); /* verified: canonical and short */
  cJSON_Delete(o);
  s->sign.device = dev->device_id; /* it named the store's copy, closed now */
  fs_store_close(dev->st);
  dev->st = s->st = NULL;
  fsi_keyring_forget(dev->device_id);
  int wrc = fsi_wipe_home(dev->home);
  char werr[400] = "";
  if (wrc) snprintf(werr, sizeof werr, " (but: %s)", fs_errmsg());
  /* the confirmation is signed with the identity key still in memory */
  fsi_http_response cr;
  memset(&cr, 0, sizeof cr);
  char body[HQMSG_TEXT_MAX + 64];
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "order", order_text);
  cJSON_AddBoolToObject(b, "complete", wrc == FS_OK);
  char *bt = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  snprintf(body, sizeof body, "%s", bt ? bt : "{}");
  free(bt);
  int told =
      !signed_request(s->c, &s->sign, "/v1/wiped", "application/json", body, strlen(body), &cr) &&
      cr.status == 200;
  fsi_http_response_clear(&cr);
  fs_device_lock(dev);
  char at[32];
  fsi_util_date(at, order.issued);
  return fsi_fail(FS_EWIPED,
                  "head office ordered this laptop wiped on %s: its keys, store and files in %s "
                  "were shredded%s and %s; the device is gone: ask head office for a new "
                  "enrollment",
                  at, dev->home, werr,
                  told ? "head office has been told" : "head office could not be told yet");
}

/* GET /v1/lease: a new lease, verified and saved; or, for a revoked
 * device, the wipe order carried out (take_wipe). */
static int lease_renew(session *s, fs_device *dev) {
  fsi_http_response r;
  memset(&r, 0, sizeof r);
  int rc = signed_request(s->c, &s->sign, "/v1/lease", NULL, NULL, 0, &r);
  if (rc) goto done;
  if (r.status == 403) {
    rc = take_wipe(s, dev, &r, http_error(&r, "the lease was refused"));
    goto done;
  }
  if (r.status != 200) {
    rc = http_error(&r, "the lease was refused");
    goto done;
  }
  cJSON *o = cJSON_ParseWithLength((const char *)r.body, r.len);
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "lease");
  rc = fsi_lease_save(dev, dev->st,
                      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "text")),
                      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "sig")));
  cJSON_Delete(o);
done:
  fsi_http_response_clear(&r);
  return rc;
}

int fsi_client_renew_lease(fs_device *dev) {
  session s;
  memset(&s, 0, sizeof s);
  s.st = dev->st;
  int rc = open_session(&s, dev);
  if (!rc) rc = lease_renew(&s, dev);
  close_session(&s);
  return rc;
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
  escrow_once(dev, s.c, &s.sign, &s.server);
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
  if ((rc = check_hq_position(&s))) goto done;
  rc = fsi_devstate_synced(s.st, fsi_util_now_ms());
  /* the clocks agree and nothing runs ahead: a skew noted before is old */
  if (!rc && abs64(s.sign.offset_ms) <= CLOCK_AGREE_MS &&
      HLC_PHYS(fsi_store_clock(s.st)) <= fsi_util_now_ms() + CLOCK_AGREE_MS)
    rc = fsi_reclock_note_skew(s.st, 0);
  if (!rc) rc = lease_renew(&s, dev);
done:
  if (rc == FS_EREVOKED && s.c) {
    /* a revoked device asks once more, for a wipe order head office may hold */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", fs_errmsg());
    if ((rc = lease_renew(&s, dev)) == FS_EREVOKED || rc == FS_OK || rc == FS_ENETWORK)
      rc = fsi_fail(FS_EREVOKED, "%s", msg);
  }
  close_session(&s);
  sync_unlock(lock);
  if (stats) fsi_device_struct_out(stats, &done_so_far, &sync_stats_v);
  return rc;
}
