/*
 * hq_http.h — head office's protocol handler (<fieldsync/server.h>) on the
 * HTTPS front end (https.h): the one place that maps an HTTPS request to an
 * fs_hq_request and an fs_hq_reply back, for `fieldsync-server serve` and
 * the sync benchmarks alike.
 */
#ifndef FS_HQ_HTTP_H
#define FS_HQ_HTTP_H

#include <fieldsync/server.h>

#include "https.h"

/* The protocol request for an HTTPS request (borrowed fields): method,
 * path, query, the X-Fieldsync-* headers, the declared length and the body
 * read so far (NULL before admission). */
void hq_http_request(fs_hq_request *q, const https_request *req);

/* Moves a protocol reply into an HTTPS reply (the body changes owner). */
void hq_http_reply(https_reply *reply, fs_hq_reply *r);

/* https_admit_fn and https_handler_fn with user = the fs_hq. */
int hq_http_admit(void *hq, const https_request *req, https_reply *reply, size_t *max_body);
void hq_http_handle(void *hq, const https_request *req, https_reply *reply);

#endif
