/*
 * pull.c — GET /v1/pull: the next batch of what a device's manager holds,
 * sealed to that device.
 *
 * Invariants:
 *  - the device says what it has merged (cursor), its last pulled sequence
 *    and that envelope's hash; the answer is sequence + 1 chained to it;
 *  - the next cursor and the "more" flag travel inside the sealed plaintext,
 *    so nothing outside the signature can make a device skip rows; so do
 *    the epoch and where the device's push chain stands here;
 *  - a device receives only its manager's subset (fsi_merge_changes_since
 *    with the device's filter), and its own rows back only when it asks
 *    for them (own=1: a device whose store was rolled back recovers what
 *    head office acknowledged; it is that device's own subset either way);
 *  - a cursor counts in one epoch of head office's store: a restore from a
 *    backup starts a new one, and a cursor the device says is of another
 *    epoch is not trusted (its change numbers may be ahead of the restored
 *    store's): the answer starts from the beginning instead, and every
 *    answer names the epoch its cursor counts in;
 *  - bookkeeping after the envelope is sealed (last seen, cursors, let-go
 *    markers) never fails the pull.
 */
#include "hqInt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "proto.h"

/* A query argument into buf; NULL when absent, and *bad set when present
 * but too long for buf (a too-long value is an error, never "absent"). */
static const char *query_arg(const char *query, const char *name, char *buf, size_t n, int *bad) {
  size_t nl = strlen(name);
  const char *p = query;
  while (p && *p) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
      size_t vl = len - nl - 1;
      if (vl >= n) {
        *bad = 1;
        return NULL;
      }
      memcpy(buf, p + nl + 1, vl);
      buf[vl] = '\0';
      return buf;
    }
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

/* The device asks from `merged`: it has merged everything up to that change
 * number.  Let-go markers that every enrolled device of its manager has
 * pulled past are delivered and forgotten.  Bookkeeping only: a failure
 * here costs a marker sent once more, never the pull. */
static void forget_delivered_moves(fs_hq *hq, const fsi_hq_device *d, int64_t merged) {
  int64_t low = 0;
  int rc = fsi_hq_device_pulled(&low, hq, d, merged);
  if (!rc && low > 0) rc = fsi_merge_moved_delivered(hq->st, d->manager, low);
  if (rc) fsi_clear_error();
}

/* What a pull asks (?cursor=HEX&seq=N&prev=HEX): the rows after `from`,
 * as the envelope after the device's last pulled one, sequence `seq` with
 * hash `prev` (zero for none). */
typedef struct pull_req {
  fsi_merge_cursor from;
  int64_t seq;
  uint8_t prev[ENVELOPE_HASH_SIZE];
  int own; /* own=1: this device's own rows too */
} pull_req;

/* Parses the query: 1, or 0 with the reply filled. */
static int pull_parse(pull_req *p, const fs_hq *hq, const char *query, fs_hq_reply *r) {
  char curhex[520], seqtxt[32], prevhex[72], curtxt[260], epoch[PROTO_EPOCH_MAX + 1], own[4];
  int bad = 0, rc;
  memset(p, 0, sizeof *p);
  const char *c = query_arg(query, "cursor", curhex, sizeof curhex, &bad);
  const char *sq = query_arg(query, "seq", seqtxt, sizeof seqtxt, &bad);
  const char *pv = query_arg(query, "prev", prevhex, sizeof prevhex, &bad);
  const char *ep = query_arg(query, "epoch", epoch, sizeof epoch, &bad);
  const char *ow = query_arg(query, "own", own, sizeof own, &bad);
  size_t cl = c ? strlen(c) / 2 : 0;
  if (bad || !sq || !fsi_util_parse_i64(sq, &p->seq) || p->seq < 0 || !pv ||
      !fsi_proto_unhex(p->prev, ENVELOPE_HASH_SIZE, pv) || (c && (strlen(c) % 2 || cl > 255)) ||
      (c && !fsi_proto_unhex((unsigned char *)curtxt, cl, c)) ||
      (ow && strcmp(ow, "0") && strcmp(ow, "1"))) {
    fsi_hq_reply_error(r, 400, "malformed pull request (cursor, seq, prev, epoch, own)");
    return 0;
  }
  curtxt[cl] = '\0';
  if ((rc = fsi_merge_cursor_parse(&p->from, curtxt))) {
    fsi_hq_reply_fail(r, rc);
    return 0;
  }
  p->own = ow && !strcmp(ow, "1");
  /* A cursor of another epoch counts in change numbers this store may
   * never have reached, or reused since: start again from the beginning
   * (merging what the device already has changes nothing). */
  if (ep && strcmp(ep, hq->epoch) != 0 && !FS_MUT(62)) fsi_merge_cursor_parse(&p->from, "");
  return 1;
}

/* The next batch of device d's subset after p->from, framed with the
 * cursor after it and the more flag, sealed to d.  *env is caller-owned. */
static int pull_seal(uint8_t **env, size_t *envlen, fs_hq *hq, const fsi_hq_device *d,
                     const pull_req *p) {
  uint8_t *plain = NULL, *framed = NULL;
  size_t plainlen = 0, flen = 0;
  fsi_merge_cursor next;
  int more = 0;
  fsi_proto_pull_info info;
  fsi_merge_filter f = {p->own ? 0 : d->site, d->manager, 1, 0};
  int rc = fsi_merge_changes_since(hq->st, &p->from, &f, PROTO_BATCH_ROWS, hq->batch, &next, &more);
  if (!rc) rc = fsi_codec_encode(hq->batch, &plain, &plainlen);
  if (rc) goto done;
  /* The next cursor and the more flag travel inside the sealed plaintext,
   * so nothing outside the signature can make a device skip rows. */
  memset(&info, 0, sizeof info);
  info.more = more;
  fsi_merge_cursor_format(&next, info.cursor, sizeof info.cursor);
  snprintf(info.epoch, sizeof info.epoch, "%s", hq->epoch);
  /* where this device's push chain stands here (a device behind, or
   * ahead of, head office learns it even with nothing to push) */
  info.has_push = 1;
  info.push_seq = d->chain.seq;
  memcpy(info.push_hash, d->chain.hash, sizeof info.push_hash);
  framed = fsi_proto_pull_frame(&info, plain, plainlen, &flen);
  if (!framed) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  fsi_envelope_header h;
  memset(&h, 0, sizeof h);
  h.sender = fs_store_site(hq->st);
  h.recipient = d->site;
  h.seq = (uint64_t)p->seq + 1;
  memcpy(h.prev, p->prev, ENVELOPE_HASH_SIZE);
  h.hlc_min = hq->batch->hlc_min;
  h.hlc_max = hq->batch->hlc_max;
  h.count = (uint32_t)hq->batch->nrows;
  rc = fsi_envelope_seal(env, envlen, &h, framed, flen, &hq->keys, &d->pub);
done:
  free(plain);
  free(framed);
  fsi_change_batch_reset(hq->batch);
  return rc;
}

void fsi_hq_pull(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  fsi_hq_device d;
  pull_req p;
  uint8_t *env = NULL;
  size_t envlen = 0;
  int ok = fsi_hq_caller(&d, hq, q, 2, r) && pull_parse(&p, hq, q->query ? q->query : "", r);
  fsi_hq_device_clear(&d); /* its last answer is a push's */
  if (!ok) return;
  int rc = pull_seal(&env, &envlen, hq, &d, &p);
  if (rc) {
    fsi_hq_reply_fail(r, rc);
    return;
  }
  if (fsi_hq_device_seen(hq, d.site)) fsi_clear_error(); /* bookkeeping: never fails a pull */
  forget_delivered_moves(hq, &d, p.from.seq);
  r->status = 200;
  r->ctype = "application/octet-stream";
  r->body = env;
  r->len = envlen;
}
