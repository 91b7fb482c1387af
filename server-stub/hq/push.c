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
    if (f->col) cJSON_AddStringToObject(x, "column", f->col);
    else cJSON_AddNullToObject(x, "column");
    cJSON_AddStringToObject(x, "reason", f->reason);
    cJSON_AddItemToArray(arr, x);
  }
  return o;
}

void fsi_hq_push(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  const unsigned char *body = q->body;
  size_t len = q->body_len;
  fsi_hq_device d;
  fsi_envelope_opened op;
  fsi_merge_result res;
  fs_store *st = hq->st;
  int rc;
  memset(&op, 0, sizeof op);
  memset(&res, 0, sizeof res);
  if (!fsi_hq_caller(&d, hq, q, 2, r)) {
    fsi_hq_device_clear(&d);
    return;
  }
  rc = fsi_envelope_open(&op, body, len, fs_store_site(st), &hq->keys, d.site, &d.pub, &d.chain);
  if (rc) goto fail;
  if (op.duplicate) {
    /* Acknowledged before: answer as then, apply nothing. */
    r->status = 200;
    r->ctype = "application/json";
    r->body = (unsigned char *)strdup(d.last_ack ? d.last_ack : "{}");
    r->len = r->body ? strlen((char *)r->body) : 0;
    goto done;
  }
  if ((rc = fsi_codec_decode(hq->batch, op.plain, op.plainlen))) goto fail;
  if ((rc = fsi_envelope_check_batch(&op.h, hq->batch))) goto fail;
  if ((rc = fs_tx_begin(st))) goto fail;
  fsi_merge_opts mo = {d.site, d.manager};
  rc = fsi_merge_apply(st, hq->batch, &mo, &res);
  cJSON *ack = rc ? NULL : ack_json(op.h.seq, &res);
  char *acktxt = ack ? cJSON_PrintUnformatted(ack) : NULL;
  cJSON_Delete(ack);
  if (!rc && !acktxt) rc = fsi_fail(FS_ENOMEM, "out of memory");
  if (!rc) rc = fsi_hq_device_advance(hq, d.site, op.h.seq, op.hash, acktxt);
  if (!rc) rc = fsi_hq_audit_append(hq, d.site, op.h.seq, op.hash, body, len);
  if (!rc) rc = fs_tx_commit(st);
  else fs_tx_rollback(st);
  if (rc) {
    free(acktxt);
    goto fail;
  }
  r->status = 200;
  r->ctype = "application/json";
  r->body = (unsigned char *)acktxt;
  r->len = strlen(acktxt);
  goto done;
fail:
  fsi_hq_reply_fail(r, rc);
done:
  fsi_merge_result_free(&res);
  fsi_envelope_opened_clear(&op);
  fsi_change_batch_reset(hq->batch);
  fsi_hq_device_clear(&d);
}
