/*
 * handler.c — the protocol handler: fs_hq_admit and fs_hq_handle route a
 * request to its endpoint, bound its body, and answer in JSON.
 *
 * Invariants:
 *  - admission happens before a byte of the body is read and costs nothing
 *    proportional to the declared length; a request that fails it gets a
 *    refusal (401, 403, 404, 405, 413, 503) and nothing else;
 *  - fs_hq_handle re-checks all that admission checked, so it is safe on
 *    its own (an embedding server may skip admission);
 *  - every answer other than a pull's envelope is a JSON document, and
 *    every failure {"error": one sentence};
 *  - both take hq->mu for all they do to the store and the nonce table.
 */
#include "hqInt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void fs_hq_reply_clear(fs_hq_reply *r) {
  if (!r) return;
  free(r->body);
  memset(r, 0, sizeof *r);
}

void fsi_hq_reply_json(fs_hq_reply *r, int status, cJSON *doc) {
  char *txt = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  free(r->body);
  r->status = txt ? status : 500;
  r->ctype = "application/json";
  r->body = (unsigned char *)(txt ? txt : strdup("{\"error\":\"out of memory\"}"));
  r->len = r->body ? strlen((char *)r->body) : 0;
}

void fsi_hq_reply_error(fs_hq_reply *r, int status, const char *msg) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", msg);
  fsi_hq_reply_json(r, status, o);
}

/* HTTP status for a library error. */
static int http_status(int rc) {
  switch (rc) {
  case FS_EINVAL:
  case FS_ECORRUPT:
  case FS_EVERSION:
    return 400;
  case FS_EAUTH:
    return 401;
  case FS_EREVOKED:
  case FS_EPERM:
    return 403;
  case FS_ENOTFOUND:
    return 404;
  case FS_EEXIST:
  case FS_ECONFLICT:
  case FS_ESKEW:
    return 409;
  case FS_ETOOBIG:
    return 413;
  case FS_EBUSY:
    return 503;
  default:
    return 500;
  }
}

/* The machine-readable name of an error a device acts on (the "code" of
 * an error answer beside its sentence); NULL for the others. */
static const char *error_code(int rc) {
  switch (rc) {
  case FS_ESKEW:
    return "clock";
  case FS_EREVOKED:
    return "revoked";
  default:
    return NULL;
  }
}

void fsi_hq_reply_fail(fs_hq_reply *r, int rc) {
  const char *code = error_code(rc);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", fs_errmsg());
  if (code) cJSON_AddStringToObject(o, "code", code);
  fsi_hq_reply_json(r, http_status(rc), o);
}

/* The endpoints: what each accepts before its body is read. */
typedef enum {
  EP_NONE,
  EP_HEALTH,
  EP_ENROLL,
  EP_PUSH,
  EP_PULL,
  EP_LEASE,
  EP_WIPED,
  EP_ESCROW,
  EP_RECOVER
} endpoint;

static endpoint route(const fs_hq_request *q, int *method_ok) {
  static const struct {
    const char *path, *method;
    endpoint ep;
  } eps[] = {{"/v1/health", "GET", EP_HEALTH},  {"/v1/enroll", "POST", EP_ENROLL},
             {"/v1/push", "POST", EP_PUSH},     {"/v1/pull", "GET", EP_PULL},
             {"/v1/lease", "GET", EP_LEASE},    {"/v1/wiped", "POST", EP_WIPED},
             {"/v1/escrow", "POST", EP_ESCROW}, {"/v1/recover", "POST", EP_RECOVER}};
  *method_ok = 0;
  for (size_t i = 0; q->path && i < sizeof eps / sizeof *eps; i++) {
    if (strcmp(q->path, eps[i].path) != 0) continue;
    *method_ok = q->method && !strcmp(q->method, eps[i].method);
    return eps[i].ep;
  }
  return EP_NONE;
}

/* Body bound of an endpoint. */
static size_t body_bound(endpoint ep) {
  return ep == EP_ENROLL                       ? PROTO_ENROLL_MAX_BODY
         : ep == EP_PUSH                       ? PROTO_PUSH_MAX_BODY
         : ep == EP_WIPED                      ? HQ_WIPED_MAX_BODY
         : ep == EP_ESCROW || ep == EP_RECOVER ? PROTO_RECOVER_MAX_BODY
                                               : 0;
}

/* Endpoint, method and declared length; 1 when they are acceptable. */
static int admit_shape(const fs_hq_request *q, endpoint *ep, fs_hq_reply *r) {
  int method_ok;
  *ep = route(q, &method_ok);
  if (*ep == EP_NONE) {
    fsi_hq_reply_error(r, 404, "no such endpoint");
    return 0;
  }
  if (!method_ok) {
    fsi_hq_reply_error(r, 405, "method not allowed");
    return 0;
  }
  if (q->content_length > body_bound(*ep) && !FS_MUT(13)) {
    char msg[160];
    snprintf(msg, sizeof msg, "the request body is larger than %zu bytes, the bound of %s",
             body_bound(*ep), q->path);
    fsi_hq_reply_error(r, 413, msg);
    return 0;
  }
  return 1;
}

int fs_hq_admit(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  endpoint ep;
  memset(r, 0, sizeof *r);
  if (!admit_shape(q, &ep, r)) return 0;
  if (ep == EP_RECOVER) {
    pthread_mutex_lock(&hq->mu);
    int ok = fsi_hq_recover_admit(hq, q, r);
    pthread_mutex_unlock(&hq->mu);
    if (!ok) return 0;
  }
  if (ep == EP_PUSH || ep == EP_PULL || ep == EP_LEASE || ep == EP_WIPED || ep == EP_ESCROW) {
    fsi_hq_device d;
    pthread_mutex_lock(&hq->mu);
    int ok = ep == EP_WIPED ? fsi_hq_wiped_caller(&d, hq, q, 1, r) : fsi_hq_caller(&d, hq, q, 1, r);
    pthread_mutex_unlock(&hq->mu);
    fsi_hq_device_clear(&d);
    if (!ok) return 0;
  }
  r->max_body = body_bound(ep);
  return 1;
}

void fs_hq_handle(fs_hq_reply *r, fs_hq *hq, const fs_hq_request *q) {
  endpoint ep;
  memset(r, 0, sizeof *r);
  r->status = 500;
  r->ctype = "application/json";
  if (!admit_shape(q, &ep, r)) return;
  if (q->body_len > body_bound(ep) || q->body_len != q->content_length) {
    fsi_hq_reply_error(r, 400, "the request body does not have its declared length");
    return;
  }
  pthread_mutex_lock(&hq->mu);
  switch (ep) {
  case EP_HEALTH: {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddStringToObject(o, "server_id", fs_store_device_id(hq->st));
    /* head office's clock, so a device can tell whose clock is wrong */
    cJSON_AddNumberToObject(o, "time", (double)fsi_util_now_ms());
    fsi_hq_reply_json(r, 200, o);
    break;
  }
  case EP_ENROLL:
    fsi_hq_enroll(r, hq, q);
    break;
  case EP_PUSH:
    fsi_hq_push(r, hq, q);
    break;
  case EP_PULL:
    fsi_hq_pull(r, hq, q);
    break;
  case EP_LEASE:
    fsi_hq_lease(r, hq, q);
    break;
  case EP_WIPED:
    fsi_hq_wiped(r, hq, q);
    break;
  case EP_ESCROW:
    fsi_hq_escrow(r, hq, q);
    break;
  case EP_RECOVER:
    fsi_hq_recover(r, hq, q);
    break;
  case EP_NONE:
    break;
  }
  pthread_mutex_unlock(&hq->mu);
}
