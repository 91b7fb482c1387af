/*
 * auth.c — request authentication: who is calling, is the request signed by
 * that device's key within the clock window, and was it seen before.
 *
 * Every push and pull carries X-Fieldsync-Device, -Time, -Nonce and
 * -Signature headers (docs/protocol.md, "Request authentication"); they
 * are checked at admission, before the body is read, and again when the
 * whole request is handled.  Invariants:
 *  - a request outside the clock window (PROTO_REQ_WINDOW_MS either way) is
 *    refused and told head office's time, never recorded;
 *  - a nonce is recorded only after its signature verified, so only
 *    enrolled devices (and their own nonces) occupy the table;
 *  - a nonce is accepted once at admission and once when handled, then
 *    never again while its time is within the window;
 *  - the table is bounded (HQ_NONCES_MAX slots, HQ_NONCES_PER_DEVICE live
 *    nonces per device): when full, callers wait (503), nothing is forgotten
 *    early, so a replay inside the window is always caught.
 */
#include "hqInt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* A signed request's nonce: state 1 = admitted (its body is being read),
 * 2 = handled.  A slot whose time left the window is free for reuse at the
 * next sweep. */
typedef struct fsi_hq_nonce {
  uint64_t key; /* keyed short hash of (site, nonce); 0 = free */
  int64_t site, t;
  unsigned char state;
} nonce_slot;

typedef struct fsi_hq_nonce_dev {
  int64_t site; /* 0 = free */
  uint32_t live;
} dev_slot;

#define HQ_NONCES_MIN ((size_t)1 << 12)
#define HQ_NONCES_MAX ((size_t)1 << 20) /* slots: 32 MiB at most */
/* Live nonces one device may hold within the window (about 27 signed
 * requests a second for ten minutes); past it only that device waits. */
#define HQ_NONCES_PER_DEVICE 16384

void fsi_hq_nonces_init(fsi_hq_nonces *tab) {
  memset(tab, 0, sizeof *tab);
  crypto_shorthash_keygen(tab->key);
}

void fsi_hq_nonces_free(fsi_hq_nonces *tab) {
  free(tab->slots);
  free(tab->devs);
  memset(tab, 0, sizeof *tab);
}

static uint64_t nonce_key(const fsi_hq_nonces *tab, int64_t site, const unsigned char *nonce) {
  unsigned char in[8 + PROTO_NONCE_BYTES], h[crypto_shorthash_BYTES];
  uint64_t v = 0;
  memcpy(in, &site, 8);
  memcpy(in + 8, nonce, PROTO_NONCE_BYTES);
  crypto_shorthash(h, in, sizeof in, tab->key);
  memcpy(&v, h, sizeof v);
  return v ? v : 1;
}

/* The live-nonce counter of a device (created at 0); NULL when out of
 * memory.  The table holds at most the devices with nonces in the window,
 * and only authenticated devices get there. */
static dev_slot *dev_count(fsi_hq_nonces *tab, int64_t site) {
  if ((tab->dused + 1) * 2 > tab->dcap) {
    size_t cap = tab->dcap ? tab->dcap * 2 : 64;
    dev_slot *fresh = calloc(cap, sizeof *fresh);
    if (!fresh) return NULL;
    for (size_t i = 0; i < tab->dcap; i++) {
      if (!tab->devs[i].site) continue;
      size_t j = (size_t)tab->devs[i].site & (cap - 1);
      while (fresh[j].site) j = (j + 1) & (cap - 1);
      fresh[j] = tab->devs[i];
    }
    free(tab->devs);
    tab->devs = fresh;
    tab->dcap = cap;
  }
  size_t j = (size_t)site & (tab->dcap - 1);
  while (tab->devs[j].site && tab->devs[j].site != site) j = (j + 1) & (tab->dcap - 1);
  if (!tab->devs[j].site) {
    tab->devs[j].site = site;
    tab->devs[j].live = 0;
    tab->dused++;
  }
  return &tab->devs[j];
}

/* Rebuilds the table without the nonces whose time left the window, so
 * that it stays under a quarter full (growing up to its bound), and counts
 * each device's live nonces afresh.  FS_EBUSY when even that leaves it over
 * half full; then nothing is scanned again until its oldest entry expires. */
static int nonce_sweep(fsi_hq_nonces *tab, int64_t now) {
  int64_t horizon = now - PROTO_REQ_WINDOW_MS;
  if (tab->cap == HQ_NONCES_MAX && tab->oldest >= horizon)
    return fsi_fail(FS_EBUSY, "head office is answering too many requests; try again shortly");
  size_t cap = tab->cap ? tab->cap : HQ_NONCES_MIN, live = 0;
  for (size_t i = 0; i < tab->cap; i++) live += tab->slots[i].key && tab->slots[i].t >= horizon;
  while ((live + 1) * 4 > cap && cap < HQ_NONCES_MAX) cap *= 2;
  if ((live + 1) * 2 > cap) {
    tab->oldest = horizon; /* nothing to drop before this moves on */
    for (size_t i = 0; i < tab->cap; i++)
      if (tab->slots[i].key && tab->slots[i].t < tab->oldest) tab->oldest = tab->slots[i].t;
    return fsi_fail(FS_EBUSY, "head office is answering too many requests; try again shortly");
  }
  nonce_slot *old = tab->slots, *fresh = calloc(cap, sizeof *fresh);
  size_t oldcap = tab->cap;
  if (!fresh) return fsi_fail(FS_ENOMEM, "out of memory");
  free(tab->devs);
  tab->devs = NULL;
  tab->dcap = tab->dused = 0;
  tab->slots = fresh;
  tab->cap = cap;
  tab->used = 0;
  tab->oldest = now + PROTO_REQ_WINDOW_MS;
  for (size_t i = 0; i < oldcap; i++) {
    if (!old[i].key || old[i].t < horizon) continue;
    size_t j = (size_t)(old[i].key & (cap - 1));
    while (fresh[j].key) j = (j + 1) & (cap - 1);
    fresh[j] = old[i];
    tab->used++;
    if (old[i].t < tab->oldest) tab->oldest = old[i].t;
    dev_slot *d = dev_count(tab, old[i].site);
    if (d) d->live++;
  }
  free(old);
  return FS_OK;
}

/* Records a request's nonce at `stage` (1 admit, 2 handle).  FS_EAUTH for a
 * replay: the nonce was handled before, or admitted before and is now
 * admitted again.  FS_EBUSY when the table, or this device's share of it,
 * is full. */
static int nonce_take(fsi_hq_nonces *tab, int64_t site, const unsigned char *nonce, int64_t t,
                      int stage, int64_t now) {
  int rc;
  if ((tab->used + 1) * 2 > tab->cap && (rc = nonce_sweep(tab, now))) return rc;
  uint64_t key = nonce_key(tab, site, nonce);
  size_t j = (size_t)(key & (tab->cap - 1));
  while (tab->slots[j].key) {
    nonce_slot *n = &tab->slots[j];
    if (n->key == key && n->site == site && !FS_MUT(7)) {
      if (n->state == 1 && stage == 2) {
        n->state = 2;
        return FS_OK;
      }
      return fsi_fail(FS_EAUTH, "the request was sent before (a replayed request is refused)");
    }
    j = (j + 1) & (tab->cap - 1);
  }
  dev_slot *d = dev_count(tab, site);
  if (!d) return fsi_fail(FS_ENOMEM, "out of memory");
  if (d->live >= HQ_NONCES_PER_DEVICE)
    return fsi_fail(FS_EBUSY, "this device sends more requests than head office accepts; "
                              "try again shortly");
  d->live++;
  nonce_slot *n = &tab->slots[j];
  n->key = key;
  n->site = site;
  n->t = t;
  n->state = (unsigned char)stage;
  tab->used++;
  if (t < tab->oldest || tab->used == 1) tab->oldest = t;
  return FS_OK;
}

/* See hqInt.h.  A clock refusal tells the device head office's time so it
 * can correct its requests. */
int fsi_hq_check_signed(fs_hq *hq, const fs_hq_request *q, int64_t site,
                        const unsigned char *sign_pk, int stage, fs_hq_reply *r) {
  /* stage 0: check only, record no nonce (enrollment: its key is the
   * caller's own choice, so recording would let anyone fill the table; a
   * replayed enrollment is answered again or refused as enrolled) */
  int64_t t = 0, now = fsi_util_now_ms();
  unsigned char nonce[PROTO_NONCE_BYTES];
  char text[PROTO_REQ_MSG_MAX];
  if (!q->time || !fsi_util_parse_i64(q->time, &t) || t <= 0 || !q->nonce ||
      !fsi_proto_unhex(nonce, sizeof nonce, q->nonce) || !q->signature ||
      strlen(q->signature) != PROTO_SIG_HEX - 1) {
    fsi_hq_reply_error(r, 401,
                       "the request is not signed (X-Fieldsync-Time, -Nonce and -Signature "
                       "headers); update fieldsync on this device");
    return 0;
  }
  size_t n = fsi_proto_request_text(text, q->method, q->path, q->query ? q->query : "",
                                    q->content_length, q->device, q->time, q->nonce);
  if (!n || !fsi_proto_request_verify(q->signature, sign_pk, text, n)) {
    fsi_hq_reply_error(r, 401, "the request signature does not verify with this device's key");
    return 0;
  }
  if ((t < now - PROTO_REQ_WINDOW_MS || t > now + PROTO_REQ_WINDOW_MS) && !FS_MUT(8)) {
    char msg[320], at[32];
    int64_t off = t - now, mins = (off < 0 ? -off : off) / 60000;
    fsi_util_date(at, now);
    snprintf(msg, sizeof msg,
             "this device's clock is %lld minutes %s head office's clock (head office: %s), "
             "so the request was refused; the device retries with head office's time; "
             "correct the device's clock, or head office's if the device is right",
             (long long)mins, off > 0 ? "ahead of" : "behind", at);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddNumberToObject(o, "server_time", (double)now);
    fsi_hq_reply_json(r, 401, o);
    return 0;
  }
  int rc = stage ? nonce_take(&hq->nonces, site, nonce, t, stage, now) : FS_OK;
  if (rc) {
    fsi_hq_reply_fail(r, rc);
    if (rc == FS_EBUSY) r->status = 503, r->retry_after = 1;
    return 0;
  }
  return 1;
}

int fsi_hq_caller(fsi_hq_device *d, fs_hq *hq, const fs_hq_request *q, int stage, fs_hq_reply *r) {
  int64_t site;
  memset(d, 0, sizeof *d);
  if (!q->device || !fsi_proto_site_parse(q->device, &site)) {
    fsi_hq_reply_error(r, 401,
                       "the request does not name a device (" PROTO_DEVICE_HEADER
                       " header, 16 hex digits)");
    return 0;
  }
  int rc = fsi_hq_device_load(d, hq, site);
  if (rc == FS_ENOTFOUND) {
    char msg[160];
    snprintf(msg, sizeof msg, "device %016llx is not enrolled: run `fieldsync enroll`",
             (unsigned long long)site);
    fsi_hq_reply_error(r, 401, msg);
    return 0;
  }
  if (rc) {
    fsi_hq_reply_fail(r, rc);
    return 0;
  }
  if (d->revoked && !FS_MUT(9)) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "device %016llx was revoked by head office; ask head office "
             "for a new device enrollment",
             (unsigned long long)site);
    /* a wipe order, when one was given, goes with every refusal */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddStringToObject(o, "code", "revoked");
    if ((rc = fsi_hq_wipe_add(o, hq, site))) {
      cJSON_Delete(o);
      fsi_hq_reply_fail(r, rc);
      return 0;
    }
    fsi_hq_reply_json(r, 403, o);
    return 0;
  }
  return fsi_hq_check_signed(hq, q, site, d->pub.sign, stage, r);
}
