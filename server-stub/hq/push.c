/*
 * push.c — POST /v1/push: one envelope of a device's changes, verified,
 * merged and acknowledged.
 *
 * Invariants:
 *  - a push is applied whole or not at all: merging its batch, advancing the
 *    device's chain state and appending the envelope to the audit log happen
 *    in one SQLite transaction, after the envelope verified (signature, then
 *    sequence and hash chain, then decryption);
 *  - a re-sent acknowledged envelope (same sequence, same hash) is
 *    acknowledged again with the original answer, signature included, and
 *    applied once;
 *  - every acknowledgement is signed with head office's Ed25519 key over
 *    (device, sequence, envelope hash, accepted and refused counts, head
 *    office's time) (fsi_proto_ack_text), so a device takes only head
 *    office's own word as delivery and keeps it as a receipt;
 *  - a change head office refuses is named in the acknowledgement with its
 *    reason while the rest of the batch applies;
 *  - a push that does not continue the device's chain (replay, gap, fork)
 *    is answered with where the chain stands here (sequence and hash), so a
 *    device that finds head office behind its receipts (a restore from a
 *    backup) can go back to that point, and one that was rolled back can
 *    recognise its own acknowledged position.
 */
#include "hqInt.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "proto.h"

/* The signed part of an acknowledgement: the counts, head office's time
 * and the Ed25519 signature over fsi_proto_ack_text of them. */
static int ack_sign(cJSON *o, fs_hq *hq, const fsi_hq_device *d, const fsi_envelope_opened *op,
                    const fsi_merge_result *res) {
  fsi_proto_ack a;
  char text[PROTO_ACK_TEXT_MAX], sig[PROTO_SIG_HEX];
  int64_t whole = 0;
  memset(&a, 0, sizeof a);
  for (size_t i = 0; i < res->refused; i++)
    if (!res->refusals[i].col) whole++;
  snprintf(a.device, sizeof a.device, "%016llx", (unsigned long long)d->site);
  a.seq = op->h.seq;
  fsi_proto_hex(a.hash, op->hash, ENVELOPE_HASH_SIZE);
  a.accepted = (int64_t)res->rows - whole;
  if (a.accepted < 0) a.accepted = 0;
  a.refused = (int64_t)res->refused;
  a.time = fsi_util_now_ms();
  size_t n = fsi_proto_ack_text(text, &a);
  if (!n || !fsi_proto_request_sign(sig, hq->keys.sign_sk, text, n))
    return fsi_fail(FS_EINVAL, "cannot sign the acknowledgement of envelope %llu",
                    (unsigned long long)a.seq);
  cJSON_AddStringToObject(o, "device", a.device);
  cJSON_AddStringToObject(o, "hash", a.hash);
  cJSON_AddNumberToObject(o, "accepted", (double)a.accepted);
  cJSON_AddNumberToObject(o, "refused_count", (double)a.refused);
  cJSON_AddNumberToObject(o, "hq_time", (double)a.time);
  cJSON_AddStringToObject(o, "sig", FS_MUT(61) ? "" : sig);
  return FS_OK;
}

static cJSON *ack_json(uint64_t seq, const fsi_merge_result *res) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "ack", (double)seq);
  cJSON_AddNumberToObject(o, "rows", (double)res->rows);
  cJSON_AddNumberToObject(o, "applied", (double)res->applied);
  cJSON_AddNumberToObject(o, "conflicts", (double)res->conflicts);
  cJSON *arr = cJSON_AddArrayToObject(o, "refused");
  for (size_t i = 0; i < res->refused; i++) {
    const fsi_merge_refusal *f = &res->refusals[i];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "table", f->table);
    cJSON_AddStringToObject(x, "row", f->pk);
    if (f->col)
      cJSON_AddStringToObject(x, "column", f->col);
    else
      cJSON_AddNullToObject(x, "column");
    cJSON_AddStringToObject(x, "reason", f->reason);
    cJSON_AddItemToArray(arr, x);
  }
  return o;
}

/* Merges the batch of envelope `op` (decoded into hq->batch) from device
 * d and records it, in one transaction: the merge, the device's new chain
 * end with its answer, the envelope `env` in the audit log.  FS_OK with
 * *ack the answer (JSON text, caller-owned); on failure nothing changed. */
static int push_apply(char **ack, fs_hq *hq, const fsi_hq_device *d, const fsi_envelope_opened *op,
                      const unsigned char *env, size_t len) {
  fs_store *st = hq->st;
  fsi_merge_result res;
  fsi_merge_opts mo = {d->site, d->manager};
  memset(&res, 0, sizeof res);
  *ack = NULL;
  int rc = fs_tx_begin(st);
  if (rc) return rc;
  rc = fsi_merge_apply(st, hq->batch, &mo, &res);
  cJSON *doc = rc ? NULL : ack_json(op->h.seq, &res);
  if (doc && (rc = ack_sign(doc, hq, d, op, &res))) {
    cJSON_Delete(doc);
    doc = NULL;
  }
  char *txt = doc ? cJSON_PrintUnformatted(doc) : NULL;
  cJSON_Delete(doc);
  if (!rc && !txt) rc = fsi_fail(FS_ENOMEM, "out of memory");
  if (!rc) rc = fsi_hq_device_advance(hq, d->site, op->h.seq, op->hash, txt);
  if (!rc) rc = fsi_hq_audit_append(hq, d->site, op->h.seq, op->hash, env, len);
  if (!rc)
    rc = fs_tx_commit(st);
  else
    fs_tx_rollback(st);
  fsi_merge_result_free(&res);
  if (rc) {
    free(txt);
    return rc;
  }
  *ack = txt;
  return FS_OK;
}

/* 409 for an envelope that does not continue the device's chain: the
 * sentence, and where the chain stands here ({"seq": N, "hash": hex, ""
 * for none}).  Unsigned: a device acts on it only when one of its own
 * signed receipts names that very position. */
static void reply_chain(fs_hq_reply *r, const fsi_hq_device *d) {
  char hex[2 * ENVELOPE_HASH_SIZE + 1] = "";
  if (d->chain.seq > 0) fsi_proto_hex(hex, d->chain.hash, ENVELOPE_HASH_SIZE);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", fs_errmsg());
  cJSON *c = cJSON_AddObjectToObject(o, "chain");
  cJSON_AddNumberToObject(c, "seq", (double)d->chain.seq);
  cJSON_AddStringToObject(c, "hash", hex);
  fsi_hq_reply_json(r, 409, o);
}

void fsi_hq_push(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  fsi_hq_device d;
  fsi_envelope_opened op;
  char *ack = NULL;
  int rc;
  memset(&op, 0, sizeof op);
  if (!fsi_hq_caller(&d, hq, q, 2, r)) {
    fsi_hq_device_clear(&d);
    return;
  }
  rc = fsi_envelope_open(&op, q->body, q->body_len, fs_store_site(hq->st), &hq->keys, d.site,
                         &d.pub, &d.chain);
  if (rc == FS_ECONFLICT) {
    reply_chain(r, &d);
    fsi_hq_device_clear(&d);
    return;
  }
  if (!rc && op.duplicate) {
    /* Acknowledged before: answer as then, apply nothing. */
    ack = strdup(d.last_ack ? d.last_ack : "{}");
  } else if (!rc) {
    rc = fsi_codec_decode(hq->batch, op.plain, op.plainlen);
    if (!rc) rc = fsi_envelope_check_batch(&op.h, hq->batch);
    if (!rc) rc = push_apply(&ack, hq, &d, &op, q->body, q->body_len);
  }
  if (rc) {
    fsi_hq_reply_fail(r, rc);
  } else {
    r->status = 200;
    r->ctype = "application/json";
    r->body = (unsigned char *)ack;
    r->len = ack ? strlen(ack) : 0;
  }
  fsi_envelope_opened_clear(&op);
  fsi_change_batch_reset(hq->batch);
  fsi_hq_device_clear(&d);
}
