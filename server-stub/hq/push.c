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
 *    acknowledged again with the original answer and applied once;
 *  - a change head office refuses is named in the acknowledgement with its
 *    reason while the rest of the batch applies.
 */
#include "hqInt.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"

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
