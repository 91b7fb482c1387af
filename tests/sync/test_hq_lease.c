/*
 * test_hq_lease.c — head office's side of the offline lease and the
 * remote wipe (server-stub/hq/lease.c), through fs_hq_handle on a real
 * server home, with device identities made in memory and a clock the test
 * drives (fsi_util_set_clock):
 *  - enrollment answers with a lease of 14 days, signed with head office's
 *    key for the enrolled device; GET /v1/lease gives a fresh one from
 *    head office's now; fs_hq_lease_set changes the next one (that
 *    manager's only) and refuses days out of range;
 *  - a lease is given only to the device that signed the request;
 *  - a revoked device is refused 403 without a wipe order; one revoked with
 *    fs_hq_revoke_wipe gets, with every refusal, an order signed by head
 *    office for that device; POST /v1/wiped is 404 before an order, 401
 *    when not signed by the device's key (nothing recorded), 200 from the
 *    device, and the first confirmation's time stays;
 *  - fs_hq_devices_json shows the wipe ordered and confirmed.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <fieldsync/server.h>

#include "hqmsg.h"
#include "keys.h"
#include "proto.h"
#include "testutil.h"
#include "util.h"

#define T0 INT64_C(1772442000000)
#define DAY_MS INT64_C(86400000)

static int64_t g_now = T0;
static int64_t test_clock(void *user) {
  (void)user;
  return g_now;
}

static char *g_dir;
static fs_hq *g_hq;
static fsi_pubkeys g_srv;

typedef struct dev {
  fsi_keys k;
  char id[17];
} dev;

static void dev_new(dev *d) {
  int64_t site;
  memset(d, 0, sizeof *d);
  CHECK_OK(fsi_keys_new(&d->k));
  randombytes_buf(&site, sizeof site);
  site &= INT64_MAX;
  site |= 1;
  snprintf(d->id, sizeof d->id, "%016" PRIx64, (uint64_t)site);
}

/* A request to path signed with `signer` for `device_id`; body NULL = GET. */
static fs_hq_reply call(const fsi_keys *signer, const char *device_id, const char *path,
                        const char *body) {
  char lines[PROTO_SIGNED_LINES][PROTO_SIGNED_LINE], b[3][200];
  fs_hq_reply rep;
  memset(&rep, 0, sizeof rep);
  size_t blen = body ? strlen(body) : 0;
  const char *method = body ? "POST" : "GET";
  CHECK_OK(fsi_proto_sign_headers(lines, signer->sign_sk, device_id, method, path, "", blen,
                                  fsi_util_now_ms()));
  for (int i = 0; i < 3; i++) {
    const char *v = strstr(lines[i], ": ");
    snprintf(b[i], sizeof b[i], "%s", v ? v + 2 : "");
  }
  fs_hq_request q = {
      method, path, "", device_id, b[0], b[1], b[2], blen, (const unsigned char *)body, blen};
  fs_hq_handle(&rep, g_hq, &q);
  return rep;
}

static void enroll(const dev *d, const char *manager, fsi_hqmsg *lease) {
  char *token = NULL, hex[KEYS_PUB_HEX_SIZE];
  CHECK_OK(fs_hq_token_create(&token, g_hq, manager, 0));
  fsi_keys_pub_to_hex(hex, &d->k.pub);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "token", token);
  cJSON_AddStringToObject(o, "device_id", d->id);
  cJSON_AddStringToObject(o, "manager", manager);
  cJSON_AddStringToObject(o, "keys", hex);
  char *body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  fs_hq_reply r = call(&d->k, d->id, "/v1/enroll", body);
  CHECK_EQ_INT(r.status, 200);
  cJSON *a = cJSON_ParseWithLength((const char *)r.body, r.len);
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(a, "lease");
  CHECK_OK(fsi_hqmsg_verify(lease, HQMSG_LEASE,
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "text")),
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "sig")),
                            &g_srv, d->id, "the lease"));
  cJSON_Delete(a);
  fs_hq_reply_clear(&r);
  free(body);
  fs_free(token);
}

/* GET /v1/lease as `signer` for d: the status, and *out the verified
 * lease (200) or the answer's "wipe" order verified (403 with one; *wiped
 * set). */
static int get_lease(const fsi_keys *signer, const dev *d, fsi_hqmsg *out, int *wiped) {
  fs_hq_reply r = call(signer, d->id, "/v1/lease", NULL);
  cJSON *a = cJSON_ParseWithLength((const char *)r.body, r.len);
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(a, "lease");
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(a, "wipe");
  memset(out, 0, sizeof *out);
  if (wiped) *wiped = 0;
  if (r.status == 200)
    CHECK_OK(fsi_hqmsg_verify(out, HQMSG_LEASE,
                              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "text")),
                              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "sig")),
                              &g_srv, d->id, "the lease"));
  if (r.status != 200) CHECK(!l);
  if (w && wiped) {
    CHECK_OK(fsi_hqmsg_verify(out, HQMSG_WIPE,
                              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "text")),
                              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "sig")),
                              &g_srv, d->id, "the wipe order"));
    *wiped = 1;
  }
  int status = (int)r.status;
  cJSON_Delete(a);
  fs_hq_reply_clear(&r);
  return status;
}

/* The device's row of fs_hq_devices_json: its wipe_ordered_at and
 * wipe_confirmed_at into the buffers ("" for null). */
static void wipe_times(const dev *d, char ordered[40], char confirmed[40]) {
  char *doc = NULL;
  ordered[0] = confirmed[0] = '\0';
  CHECK_OK(fs_hq_devices_json(&doc, g_hq));
  cJSON *arr = cJSON_Parse(doc), *row;
  cJSON_ArrayForEach(row, arr) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "id"));
    if (!id || strcmp(id, d->id)) continue;
    const char *o = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "wipe_ordered_at"));
    const char *c =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "wipe_confirmed_at"));
    snprintf(ordered, 40, "%s", o ? o : "");
    snprintf(confirmed, 40, "%s", c ? c : "");
  }
  cJSON_Delete(arr);
  fs_free(doc);
}

static void test_leases(void) {
  dev a, b, x;
  fsi_hqmsg l;
  dev_new(&a);
  dev_new(&b);
  dev_new(&x);
  g_now = T0;
  enroll(&a, "anna", &l);
  CHECK_EQ_INT(l.issued, T0);
  CHECK_EQ_INT(l.until, T0 + 14 * DAY_MS);
  enroll(&b, "ben", &l);
  g_now = T0 + DAY_MS;
  CHECK_EQ_INT(get_lease(&a.k, &a, &l, NULL), 200);
  CHECK_EQ_INT(l.issued, T0 + DAY_MS);
  CHECK_EQ_INT(l.until, T0 + 15 * DAY_MS);
  CHECK_OK(fs_hq_lease_set(g_hq, "anna", 3));
  CHECK_EQ_INT(get_lease(&a.k, &a, &l, NULL), 200);
  CHECK_EQ_INT(l.until, T0 + 4 * DAY_MS);
  CHECK_EQ_INT(get_lease(&b.k, &b, &l, NULL), 200); /* ben's untouched */
  CHECK_EQ_INT(l.until, T0 + 15 * DAY_MS);
  CHECK_ERR(fs_hq_lease_set(g_hq, "anna", 0), FS_EINVAL);
  CHECK_ERR(fs_hq_lease_set(g_hq, "anna", 366), FS_EINVAL);
  CHECK_EQ_INT(get_lease(&a.k, &a, &l, NULL), 200);
  CHECK_EQ_INT(l.until, T0 + 4 * DAY_MS);
  char *doc = NULL;
  CHECK_OK(fs_hq_leases_json(&doc, g_hq));
  CHECK_CONTAINS(doc, "{\"manager\":\"anna\",\"days\":3,\"default\":false}");
  CHECK_CONTAINS(doc, "{\"manager\":\"ben\",\"days\":14,\"default\":true}");
  fs_free(doc);
  /* only the device's own key gets its lease; an unknown device none */
  CHECK_EQ_INT(get_lease(&b.k, &a, &l, NULL), 401);
  CHECK_EQ_INT(get_lease(&x.k, &x, &l, NULL), 401);
}

static void test_wipe_orders(void) {
  dev a, c;
  fsi_hqmsg l;
  char ordered[40], confirmed[40];
  int wiped = 0;
  dev_new(&a);
  dev_new(&c);
  g_now = T0;
  enroll(&a, "anna", &l);
  enroll(&c, "anna", &l);
  /* no order yet: a confirmation is 404 */
  fs_hq_reply r = call(&a.k, a.id, "/v1/wiped", "{}");
  CHECK_EQ_INT(r.status, 404);
  fs_hq_reply_clear(&r);
  /* revoked without a wipe: 403, no order */
  CHECK_OK(fs_hq_revoke(g_hq, c.id));
  CHECK_EQ_INT(get_lease(&c.k, &c, &l, &wiped), 403);
  CHECK(!wiped);
  /* revoked with one: every refusal carries it, signed for this device */
  g_now = T0 + 1000;
  CHECK_OK(fs_hq_revoke_wipe(g_hq, a.id));
  CHECK_ERR(fs_hq_revoke_wipe(g_hq, "00000000000000ff"), FS_ENOTFOUND);
  wipe_times(&a, ordered, confirmed);
  CHECK(*ordered && !*confirmed);
  g_now = T0 + 2000;
  CHECK_EQ_INT(get_lease(&a.k, &a, &l, &wiped), 403);
  CHECK(wiped);
  CHECK_EQ_INT(l.issued, T0 + 1000);
  r = call(&a.k, a.id, "/v1/pull", NULL);
  CHECK_EQ_INT(r.status, 403);
  CHECK_CONTAINS((const char *)r.body, "\"wipe\":{\"text\":\"fieldsync-wipe-v1");
  fs_hq_reply_clear(&r);
  /* a confirmation not signed by the device's key is refused */
  dev other;
  dev_new(&other);
  r = call(&other.k, a.id, "/v1/wiped", "{\"complete\":true}");
  CHECK_EQ_INT(r.status, 401);
  fs_hq_reply_clear(&r);
  wipe_times(&a, ordered, confirmed);
  CHECK(!*confirmed);
  /* the device's own: recorded; a later one keeps the first time */
  g_now = T0 + 3 * 60000;
  r = call(&a.k, a.id, "/v1/wiped", "{\"complete\":true}");
  CHECK_EQ_INT(r.status, 200);
  fs_hq_reply_clear(&r);
  wipe_times(&a, ordered, confirmed);
  CHECK(*confirmed);
  char first[40];
  snprintf(first, sizeof first, "%s", confirmed);
  g_now = T0 + 4 * 60000;
  r = call(&a.k, a.id, "/v1/wiped", "{\"complete\":true}");
  CHECK_EQ_INT(r.status, 200);
  fs_hq_reply_clear(&r);
  wipe_times(&a, ordered, confirmed);
  CHECK_STR(confirmed, first);
  /* ordering it again keeps the first order */
  CHECK_OK(fs_hq_revoke_wipe(g_hq, a.id));
  CHECK_EQ_INT(get_lease(&a.k, &a, &l, &wiped), 403);
  CHECK_EQ_INT(l.issued, T0 + 1000);
}

int main(void) {
  char home[512], kdir[600];
  CHECK_OK(fsi_keys_init());
  fsi_util_set_clock(test_clock, NULL);
  g_dir = tu_tmpdir("hq-lease");
  snprintf(home, sizeof home, "%s", g_dir);
  CHECK_OK(fs_hq_create(home));
  CHECK_OK(fs_hq_open(&g_hq, home));
  if (!g_hq) return tu_finish();
  snprintf(kdir, sizeof kdir, "%s/keys", home);
  CHECK_OK(fsi_keys_load_public(&g_srv, kdir));
  TEST_RUN(test_leases);
  TEST_RUN(test_wipe_orders);
  fs_hq_close(g_hq);
  fsi_util_set_clock(NULL, NULL);
  tu_rmrf(g_dir);
  free(g_dir);
  return tu_finish();
}
