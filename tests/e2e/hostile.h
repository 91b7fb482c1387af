/*
 * hostile.h — a hostile device for the adversarial end-to-end tests: the
 * real library's HTTPS client and envelope code, driven to send what a
 * well-behaved fieldsync never would.
 *
 * A hostile device is an enrolled device home (made with e2e_device_new)
 * whose keys it loads, or nobody at all (no keys: unsigned requests).  Its
 * requests are signed like the real client's unless a tamper flag says
 * otherwise.  Its push chain starts at the device's stored push state, so
 * crafted batches continue the chain head office holds.
 *
 * Crafted batches: hb_new(table, cols...) starts a one-table batch and
 * hb_row() adds a live row (values as text: "#123" is the integer 123, "~"
 * NULL, anything else text) with one clock for the whole row; set the
 * fields of the returned row for tombstones (cl even, nvals 0) or cells.
 * hostile_push() seals it as the device's next envelope and POSTs it.
 * Future write-policy rules get a case by building one more batch.
 */
#ifndef FS_TEST_HOSTILE_H
#define FS_TEST_HOSTILE_H

#include "change.h"
#include "e2e.h"
#include "http_client.h"
#include "keys.h"

typedef struct hostile {
  fsi_http_client *c;
  int has_keys;
  fsi_keys keys;  /* the device's identity (has_keys) */
  fsi_pubkeys hq; /* head office's keys */
  int64_t hq_site, site;
  char device[64]; /* sent as X-Fieldsync-Device ("" = none) */
  uint64_t seq;    /* last push sequence head office acknowledged */
  uint8_t prev[32];
  /* tamper flags, read at every request */
  int unsigned_req;        /* no time, nonce or signature headers */
  int bad_sig;             /* flip one digit of the signature */
  int64_t time_skew_ms;    /* added to the signed time */
  int sign_path_as_pull;   /* sign "/v1/pull" whatever the path */
  char last_lines[3][320]; /* the signed lines of the last request */
  int replay_last;         /* send last_lines again instead of fresh ones */
} hostile;

/* Opens a hostile device against server s: with home, that device's keys,
 * id and push chain; with home NULL, no identity (device id "" unless set
 * afterwards).  0 on success (a failed check otherwise). */
int hostile_open(hostile *h, const e2e_server *s, const char *home);
void hostile_close(hostile *h);

/* One request: path may carry a query; body NULL = GET.  FS_OK when an
 * HTTP answer came (r filled), else the transport error. */
int hostile_request(hostile *h, const char *path, const void *body, size_t len,
                    fsi_http_response *r);

/* A one-table batch with the named columns (NULL-terminated list). */
fsi_batch *hb_new(const char *table, const char *const *cols);
/* Adds a live row: cl, row clock (hlc, site), values as text (see above),
 * exactly as many as the batch's columns. */
fsi_rowchange *hb_row(fsi_batch *b, const char *pk, int64_t cl, int64_t hlc, int64_t site,
                      const char *const *vals);

/* Adds another table to b (columns NULL-terminated) and returns its index
 * for hb_row_in: a batch of several tables, as one push of a real device
 * carries. */
uint16_t hb_table(fsi_batch *b, const char *table, const char *const *cols);
/* hb_row for the rows of table t of b. */
fsi_rowchange *hb_row_in(fsi_batch *b, uint16_t t, const char *pk, int64_t cl, int64_t hlc,
                         int64_t site, const char *const *vals);

/* Seals b as the next envelope of h's chain and POSTs it to /v1/push; on
 * 200 the chain advances.  FS_OK when an HTTP answer came. */
int hostile_push(hostile *h, fsi_batch *b, fsi_http_response *r);

/* Current HLC value for "now" (wall clock << 16). */
int64_t hostile_now_hlc(void);

#endif
