/*
 * enroll.c — POST /v1/enroll: a device presents a one-time token and its
 * public keys, and head office records it under the token's manager.
 *
 * Invariants:
 *  - the request is signed with the key it enrolls (whoever holds the token
 *    also proves it holds that key) by the device id it names;
 *  - using the token and recording the device are one transaction: a token
 *    is never spent on a device that was not recorded, nor the reverse;
 *  - the same device with the same keys and the token it used is answered
 *    again (its first answer was lost); any other enrollment of an enrolled
 *    or revoked id is refused;
 *  - nothing of an enrollment enters the nonce table (its key is the
 *    caller's own choice; see auth.c).
 */
#include "hqInt.h"

#include <stdio.h>
#include <string.h>

#include "proto.h"

/* An enrollment request (docs/protocol.md, "POST /v1/enroll"). */
typedef struct enroll_req {
  cJSON *doc; /* the parsed body, owning the strings below */
  const char *token, *device_id, *manager;
  int64_t site;
  fsi_pubkeys pub;
} enroll_req;

static const char *field(const cJSON *doc, const char *name) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, name));
}

/* Parses the body and checks who sent it: the request is signed with the
 * key it enrolls (whoever holds the token also proves it holds that key),
 * by the device id it names, which is not head office's own.  1, or 0 with
 * the reply filled; e->doc is set either way (cJSON_Delete). */
static int enroll_accept(enroll_req *e, fs_hq *hq, const fs_hq_request *q, fs_hq_reply *r) {
  memset(e, 0, sizeof *e);
  e->doc = cJSON_ParseWithLength((const char *)q->body, q->body_len);
  e->token = field(e->doc, "token");
  e->device_id = field(e->doc, "device_id");
  e->manager = field(e->doc, "manager");
  const char *keyhex = field(e->doc, "keys");
  if (!e->token || !e->device_id || !e->manager || !keyhex || strlen(e->token) > 200 ||
      !fsi_proto_site_parse(e->device_id, &e->site) || fsi_keys_pub_from_hex(&e->pub, keyhex)) {
    fsi_hq_reply_error(r, 400, "malformed enrollment request");
    return 0;
  }
  if (!q->device || strcmp(q->device, e->device_id) != 0) {
    fsi_hq_reply_error(r, 401, "the enrollment request is not signed by the device it enrolls");
    return 0;
  }
  if (!fsi_hq_check_signed(hq, q, e->site, e->pub.sign, 0, r)) return 0;
  if (e->site == fs_store_site(hq->st) && !FS_MUT(12)) {
    fsi_hq_reply_error(r, 409,
                       "this device id is head office's own id; run `fieldsync init` "
                       "again on a fresh home to get a new one");
    return 0;
  }
  return 1;
}

/* Enrollment of a device id that is enrolled already (d).  The same device
 * with the same keys and the token it used is a client retrying after its
 * answer was lost: FS_OK with the manager it was recorded under.  Anything
 * else is refused: FS_EREVOKED, FS_EEXIST. */
static int enroll_again(char *manager, size_t n, fs_hq *hq, const enroll_req *e,
                        const fsi_hq_device *d) {
  if (!d->revoked && sodium_memcmp(&d->pub, &e->pub, sizeof e->pub) == 0) {
    int rc = fsi_hq_token_spent_on(hq, e->token, e->site);
    if (rc == FS_OK) {
      snprintf(manager, n, "%s", d->manager);
      return FS_OK;
    }
    if (rc != FS_ENOTFOUND) return rc;
  }
  if (d->revoked)
    return fsi_fail(FS_EREVOKED, "device %s was revoked by head office", e->device_id);
  return fsi_fail(FS_EEXIST, "device %s is already enrolled", e->device_id);
}

/* The registry's side, in one transaction: a new device spends its token
 * and is recorded under the token's manager (copied into manager[n]); an
 * enrolled one is answered by enroll_again.  FS_OK or the refusal, its
 * message set (an fs_err whose HTTP status is the answer's). */
static int enroll_record(char *manager, size_t n, fs_hq *hq, const enroll_req *e) {
  fsi_hq_device known;
  int rc = fs_tx_begin(hq->st);
  if (rc) return rc;
  rc = fsi_hq_device_load(&known, hq, e->site);
  if (rc == FS_OK) {
    rc = enroll_again(manager, n, hq, e, &known); /* changes nothing */
  } else if (rc == FS_ENOTFOUND) {
    rc = fsi_hq_token_redeem(manager, n, hq, e->token, e->manager, e->site);
    if (!rc) rc = fsi_hq_device_add(hq, e->site, manager, &e->pub);
    if (!rc) rc = fs_tx_commit(hq->st); /* rolls back itself on failure */
  }
  fsi_hq_device_clear(&known);
  if (fsi_store_in_tx(hq->st)) fs_tx_rollback(hq->st);
  return rc;
}

/* What a device pins: head office's id and public keys, and its manager. */
static void enroll_answer(fs_hq_reply *r, fs_hq *hq, const char *manager, int64_t site) {
  cJSON *o = cJSON_CreateObject();
  char sid[17], hex[KEYS_PUB_HEX_SIZE];
  snprintf(sid, sizeof sid, "%016llx", (unsigned long long)fs_store_site(hq->st));
  fsi_keys_pub_to_hex(hex, &hq->keys.pub);
  cJSON_AddStringToObject(o, "server_id", sid);
  cJSON_AddStringToObject(o, "keys", hex);
  cJSON_AddStringToObject(o, "manager", manager);
  int rc = fsi_hq_lease_add(o, hq, site, manager); /* the first offline lease */
  if (rc) {
    cJSON_Delete(o);
    fsi_hq_reply_fail(r, rc);
    return;
  }
  fsi_hq_reply_json(r, 200, o);
}

void fsi_hq_enroll(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  enroll_req e;
  char manager[128] = "";
  if (enroll_accept(&e, hq, q, r)) {
    int rc = enroll_record(manager, sizeof manager, hq, &e);
    if (rc)
      fsi_hq_reply_fail(r, rc);
    else
      enroll_answer(r, hq, manager, e.site);
  }
  cJSON_Delete(e.doc);
}
