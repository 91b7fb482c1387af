/*
 * hostile.c — the hostile device of the adversarial tests (hostile.h).
 */
#include "hostile.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "envelope.h"
#include "proto.h"
#include "storekey.h"
#include "util.h"

int64_t hostile_now_hlc(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) << 16;
}

static int hostile_sign(void *user, const char *method, const char *path, const char *query,
                        size_t body_len, char lines[HTTP_CLIENT_SIGN_LINES][HTTP_CLIENT_SIGN_LINE],
                        size_t *nlines) {
  hostile *h = user;
  *nlines = 0;
  if (h->unsigned_req || !h->has_keys) return FS_OK;
  if (h->replay_last) {
    memcpy(lines, h->last_lines, sizeof h->last_lines);
    *nlines = 3;
    return FS_OK;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + h->time_skew_ms;
  int rc = fsi_proto_sign_headers(lines, h->keys.sign_sk, h->device, method,
                                  h->sign_path_as_pull ? "/v1/pull" : path, query,
                                  (uint64_t)body_len, now);
  if (rc) return rc;
  if (h->bad_sig) {
    char *sig = strchr(lines[2], ':') + 2;
    sig[10] = sig[10] == '0' ? '1' : '0';
  }
  memcpy(h->last_lines, lines, sizeof h->last_lines);
  *nlines = 3;
  return FS_OK;
}

/* The device's stored push chain, read from its (encrypted) store. */
static void hostile_chain(hostile *h, const char *home) {
  static const char *const keys[] = {"push_seq", "push_hash", "hq_site"};
  fs_device *dev = NULL;
  if (tu_device_open(&dev, home, NULL) != FS_OK) return;
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    char *v = NULL;
    if (fs_store_get(&v, fs_device_store(dev), keys[i]) == FS_OK && v) {
      if (i == 0)
        h->seq = strtoull(v, NULL, 10);
      else if (i == 1)
        fsi_proto_unhex(h->prev, 32, v);
      else
        h->hq_site = strtoll(v, NULL, 10);
    }
    fs_free(v);
  }
  fs_device_close(dev);
}

int hostile_open(hostile *h, const e2e_server *s, const char *home) {
  char dir[4200];
  memset(h, 0, sizeof *h);
  snprintf(dir, sizeof dir, "%s/keys", s->home);
  CHECK_OK(fsi_keys_load_public(&h->hq, dir));
  /* head office's site id, from its /v1/health answer */
  {
    fsi_http_client *c = NULL;
    fsi_http_response r;
    memset(&r, 0, sizeof r);
    if (fsi_http_client_new(&c, s->url, s->cert, NULL) == FS_OK &&
        fsi_http_client_get(c, "/v1/health", &r) == FS_OK) {
      cJSON *o = cJSON_ParseWithLength((const char *)r.body, r.len);
      const char *id = e2e_str(o, "server_id");
      if (id) fsi_proto_site_parse(id, &h->hq_site);
      cJSON_Delete(o);
    }
    fsi_http_response_clear(&r);
    fsi_http_client_free(c);
    CHECK(h->hq_site != 0);
  }
  if (home) {
    /* the device's sealed identity, opened as the library does: the data
     * key unwrapped with the tests' passphrase */
    unsigned char key[FSI_DATA_KEY_SIZE];
    fsi_storekey_info info;
    snprintf(dir, sizeof dir, "%s/keys/store.key", home);
    CHECK_OK(fsi_storekey_unwrap(key, &info, dir, TU_PASSPHRASE, strlen(TU_PASSPHRASE)));
    snprintf(dir, sizeof dir, "%s/keys", home);
    CHECK_OK(fsi_keys_load_sealed(&h->keys, dir, key, info.device_id));
    sodium_memzero(key, sizeof key);
    h->has_keys = 1;
    e2e_device_id(__LINE__, home, h->device);
    fsi_proto_site_parse(h->device, &h->site);
    hostile_chain(h, home);
  }
  CHECK_OK(fsi_http_client_new(&h->c, s->url, s->cert, NULL));
  if (!h->c) return -1;
  fsi_http_client_set_retry(h->c, 1, 0);
  fsi_http_client_set_signer(h->c, hostile_sign, h);
  if (h->device[0]) fsi_http_client_set_header(h->c, PROTO_DEVICE_HEADER, h->device);
  return 0;
}

void hostile_close(hostile *h) {
  fsi_http_client_free(h->c);
  fsi_keys_wipe(&h->keys);
  memset(h, 0, sizeof *h);
}

int hostile_request(hostile *h, const char *path, const void *body, size_t len,
                    fsi_http_response *r) {
  fsi_http_client_set_header(h->c, PROTO_DEVICE_HEADER, h->device[0] ? h->device : NULL);
  return body ? fsi_http_client_post(h->c, path, "application/octet-stream", body, len, r)
              : fsi_http_client_get(h->c, path, r);
}

fsi_batch *hb_new(const char *table, const char *const *cols) {
  fsi_batch *b = fsi_change_batch_new();
  size_t n = 0;
  while (cols[n]) n++;
  b->ntables = 1;
  b->tables = fsi_arena_alloc(b->arena, sizeof *b->tables);
  b->tables[0].name = fsi_arena_strndup(b->arena, table, strlen(table));
  b->tables[0].ncols = (uint16_t)n;
  b->tables[0].cols = fsi_arena_alloc(b->arena, (n ? n : 1) * sizeof(char *));
  for (size_t i = 0; i < n; i++)
    b->tables[0].cols[i] = fsi_arena_strndup(b->arena, cols[i], strlen(cols[i]));
  b->rows = fsi_arena_alloc(b->arena, 64 * sizeof *b->rows);
  return b;
}

uint16_t hb_table(fsi_batch *b, const char *table, const char *const *cols) {
  size_t n = 0;
  while (cols[n]) n++;
  fsi_batch_table *t = fsi_arena_alloc(b->arena, (b->ntables + 1u) * sizeof *t);
  memcpy(t, b->tables, b->ntables * sizeof *t);
  t[b->ntables].name = fsi_arena_strndup(b->arena, table, strlen(table));
  t[b->ntables].ncols = (uint16_t)n;
  t[b->ntables].cols = fsi_arena_alloc(b->arena, (n ? n : 1) * sizeof(char *));
  for (size_t i = 0; i < n; i++)
    t[b->ntables].cols[i] = fsi_arena_strndup(b->arena, cols[i], strlen(cols[i]));
  b->tables = t;
  return b->ntables++;
}

fsi_rowchange *hb_row(fsi_batch *b, const char *pk, int64_t cl, int64_t hlc, int64_t site,
                      const char *const *vals) {
  return hb_row_in(b, 0, pk, cl, hlc, site, vals);
}

fsi_rowchange *hb_row_in(fsi_batch *b, uint16_t t, const char *pk, int64_t cl, int64_t hlc,
                         int64_t site, const char *const *vals) {
  if (b->nrows == 64 || t >= b->ntables) return NULL;
  fsi_rowchange *r = &b->rows[b->nrows++];
  size_t n = b->tables[t].ncols;
  memset(r, 0, sizeof *r);
  r->table = t;
  r->pk = fsi_arena_strndup(b->arena, pk, strlen(pk));
  r->cl = cl;
  r->hlc = hlc;
  r->site = site;
  r->nvals = (uint16_t)n;
  r->vals = fsi_arena_alloc(b->arena, (n ? n : 1) * sizeof *r->vals);
  for (size_t i = 0; i < n; i++) {
    fsi_value *v = &r->vals[i];
    memset(v, 0, sizeof *v);
    if (!strcmp(vals[i], "~")) {
      v->type = FS_VAL_NULL;
    } else if (vals[i][0] == '#') {
      v->type = FS_VAL_INT;
      v->i = strtoll(vals[i] + 1, NULL, 10);
    } else {
      v->type = FS_VAL_TEXT;
      v->n = (uint32_t)strlen(vals[i]);
      v->s = fsi_arena_strndup(b->arena, vals[i], v->n);
    }
  }
  return r;
}

static void hb_clock_range(fsi_batch *b) {
  for (size_t i = 0; i < b->nrows; i++) {
    const fsi_rowchange *r = &b->rows[i];
    int64_t lo = r->hlc, hi = r->hlc;
    for (size_t k = 0; k < r->ncells; k++) {
      if (r->cells[k].hlc < lo) lo = r->cells[k].hlc;
      if (r->cells[k].hlc > hi) hi = r->cells[k].hlc;
    }
    if (i == 0 || lo < b->hlc_min) b->hlc_min = lo;
    if (i == 0 || hi > b->hlc_max) b->hlc_max = hi;
  }
}

int hostile_push(hostile *h, fsi_batch *b, fsi_http_response *r) {
  fsi_envelope_header eh;
  uint8_t *plain = NULL, *env = NULL;
  size_t plainlen = 0, envlen = 0;
  int rc;
  hb_clock_range(b);
  memset(&eh, 0, sizeof eh);
  eh.sender = h->site;
  eh.recipient = h->hq_site;
  eh.seq = h->seq + 1;
  memcpy(eh.prev, h->prev, sizeof eh.prev);
  eh.hlc_min = b->hlc_min;
  eh.hlc_max = b->hlc_max;
  eh.count = (uint32_t)b->nrows;
  if ((rc = fsi_codec_encode(b, &plain, &plainlen))) return rc;
  rc = fsi_envelope_seal(&env, &envlen, &eh, plain, plainlen, &h->keys, &h->hq);
  free(plain);
  if (rc) return rc;
  rc = hostile_request(h, "/v1/push", env, envlen, r);
  if (!rc && r->status == 200) {
    h->seq = eh.seq;
    fsi_envelope_hash(h->prev, env, envlen);
  }
  free(env);
  return rc;
}
