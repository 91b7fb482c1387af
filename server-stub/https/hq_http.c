/*
 * hq_http.c — head office's protocol handler on the HTTPS front end (see
 * hq_http.h).
 */
#include "hq_http.h"

#include <string.h>

void hq_http_request(fs_hq_request *q, const https_request *req) {
  memset(q, 0, sizeof *q);
  q->method = req->method;
  q->path = req->path;
  q->query = req->query;
  q->device = https_request_header(req, "X-Fieldsync-Device");
  q->time = https_request_header(req, "X-Fieldsync-Time");
  q->nonce = https_request_header(req, "X-Fieldsync-Nonce");
  q->signature = https_request_header(req, "X-Fieldsync-Signature");
  q->content_length = req->body_len;
  q->body = req->body;
  q->body_len = req->body ? req->body_len : 0;
}

void hq_http_reply(https_reply *reply, fs_hq_reply *r) {
  reply->status = r->status;
  reply->content_type = r->ctype;
  reply->body = r->body;
  reply->body_len = r->len;
  reply->retry_after = r->retry_after;
  r->body = NULL;
  r->len = 0;
}

int hq_http_admit(void *hq, const https_request *req, https_reply *reply, size_t *max_body) {
  fs_hq_request q;
  fs_hq_reply r;
  hq_http_request(&q, req);
  int ok = fs_hq_admit(&r, hq, &q);
  if (ok)
    *max_body = r.max_body;
  else
    hq_http_reply(reply, &r);
  fs_hq_reply_clear(&r);
  return ok;
}

void hq_http_handle(void *hq, const https_request *req, https_reply *reply) {
  fs_hq_request q;
  fs_hq_reply r;
  hq_http_request(&q, req);
  fs_hq_handle(&r, hq, &q);
  hq_http_reply(reply, &r);
}
