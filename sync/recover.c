/*
 * recover.c — a forgotten passphrase, the device's side (recover.h):
 * HOME/keys/hq.json, the escrow body, and fs_device_recover.
 *
 * fs_device_recover runs on a LOCKED device: it cannot sign (its identity
 * is sealed under the data key it lost), so the request is authenticated
 * by the one-time code head office staff read out, and the answer is
 * sealed to an X25519 key pair made for this one request and wiped after
 * it.  Head office's answer is believed only when it verifies against
 * head office's pinned signing key and the key it carries opens this
 * device's store; only then is the data key wrapped under the new
 * passphrase (atomically, as `fieldsync passwd` does).  Every buffer that
 * held the code, the ephemeral secret key or the data key is wiped on
 * every path.
 */
#include "recover.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "deviceInt.h"
#include "engine.h"
#include "escrow.h"
#include "http_client.h"
#include "proto.h"
#include "storekey.h"

#define INFO_MAX 16384
#define INFO_FORMAT 1
#define PATH_CAP 4200

static int home_file(char out[PATH_CAP], const char *home, const char *name) {
  if ((size_t)snprintf(out, PATH_CAP, "%s/%s", home, name) >= PATH_CAP)
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  return FS_OK;
}

/* hq.json's text for an enrolled, unlocked device (caller frees). */
static int info_text(char **out, fs_device *dev) {
  fsi_devstate_server srv;
  char ca[PATH_CAP];
  *out = NULL;
  int rc = fsi_devstate_server_get(&srv, dev->st);
  if (rc) return rc;
  if ((rc = home_file(ca, dev->home, "server-ca.pem"))) return rc;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "format", INFO_FORMAT);
  cJSON_AddStringToObject(o, "device_id", dev->device_id);
  cJSON_AddStringToObject(o, "url", srv.url);
  cJSON_AddBoolToObject(o, "ca", *srv.ca != '\0');
  cJSON_AddStringToObject(o, "pin", srv.pin);
  cJSON_AddStringToObject(o, "keys", srv.keys);
  *out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}

/* The whole of a small file owned by nobody else into *out (caller frees). */
static int read_small(char **out, const char *path) {
  struct stat sb;
  *out = NULL;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? FS_ENOTFOUND
                           : fsi_fail(FS_EIO, "cannot read %s: %s", path, strerror(errno));
  int rc = FS_OK;
  char *buf = NULL;
  size_t off = 0;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > INFO_MAX) {
    rc = fsi_fail(FS_ECORRUPT, "%s is damaged (not a small regular file)", path);
    goto done;
  }
  if (!(buf = malloc((size_t)sb.st_size + 1))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  while (off < (size_t)sb.st_size) {
    ssize_t r = read(fd, buf + off, (size_t)sb.st_size - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = fsi_fail(FS_EIO, "cannot read %s", path);
      goto done;
    }
    off += (size_t)r;
  }
  buf[off] = '\0';
  *out = buf;
  buf = NULL;
done:
  free(buf);
  close(fd);
  return rc;
}

int fsi_recover_note_hq(fs_device *dev) {
  char path[PATH_CAP], tmp[PATH_CAP + 8];
  char *text = NULL, *old = NULL;
  int rc = fsi_device_need_unlocked(dev);
  if (rc) return rc;
  if (!fs_store_hq_site(dev->st)) return FS_OK;
  if ((rc = home_file(path, dev->home, "keys/hq.json")) || (rc = info_text(&text, dev))) goto done;
  if (read_small(&old, path) == FS_OK && !strcmp(old, text)) goto done;
  fsi_clear_error();
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    rc = fsi_fail(FS_EIO, "cannot create a file next to %s: %s", path, strerror(errno));
    goto done;
  }
  size_t n = strlen(text), off = 0;
  if (fchmod(fd, 0600) != 0) rc = fsi_fail(FS_EIO, "cannot set the mode of %s", tmp);
  while (!rc && off < n) {
    ssize_t w = write(fd, text + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) rc = fsi_fail(FS_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (w > 0) off += (size_t)w;
  }
  if (!rc && fsync(fd) != 0) rc = fsi_fail(FS_EIO, "cannot sync %s", tmp);
  close(fd);
  if (!rc && rename(tmp, path) != 0)
    rc = fsi_fail(FS_EIO, "cannot write %s: %s", path, strerror(errno));
  if (rc) unlink(tmp);
done:
  free(text);
  free(old);
  return rc;
}

int fsi_recover_escrow_body(char **out, fs_device *dev, const fsi_pubkeys *hq) {
  unsigned char sealed[FSI_ESCROW_SEALED_SIZE];
  char hex[2 * FSI_ESCROW_SEALED_SIZE + 1];
  *out = NULL;
  int rc = fsi_device_need_unlocked(dev);
  if (!rc) rc = fsi_escrow_seal(sealed, dev->data_key, dev->device_id, hq->kx);
  if (rc) return rc;
  fsi_proto_hex(hex, sealed, sizeof sealed);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "sealed", hex);
  *out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ recover */

typedef struct hq_info {
  char url[1024];
  char pin[256];
  int ca;
  fsi_pubkeys keys;
} hq_info;

static int info_read(hq_info *out, const fs_device *dev) {
  char path[PATH_CAP], *text = NULL;
  memset(out, 0, sizeof *out);
  int rc = home_file(path, dev->home, "keys/hq.json");
  if (!rc) rc = read_small(&text, path);
  if (rc == FS_ENOTFOUND)
    return fsi_fail(FS_EINVAL,
                    "this laptop has no record of head office to recover from (%s): it was "
                    "never enrolled, or was enrolled by a fieldsync older than 0.3 and has not "
                    "synced since; without its passphrase it cannot be unlocked",
                    path);
  if (rc) return rc;
  cJSON *o = cJSON_Parse(text);
  free(text);
  const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "url"));
  const char *pin = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "pin"));
  const char *keys = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "keys"));
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "device_id"));
  const cJSON *ca = cJSON_GetObjectItemCaseSensitive(o, "ca");
  if (!url || !pin || !keys || !id || !cJSON_IsBool(ca) || strcmp(id, dev->device_id) != 0 ||
      strlen(url) >= sizeof out->url || strlen(pin) >= sizeof out->pin ||
      fsi_keys_pub_from_hex(&out->keys, keys)) {
    rc = fsi_fail(FS_ECORRUPT,
                  "%s is damaged; without it this laptop cannot reach head office "
                  "for a recovery",
                  path);
  } else {
    snprintf(out->url, sizeof out->url, "%s", url);
    snprintf(out->pin, sizeof out->pin, "%s", pin);
    out->ca = cJSON_IsTrue(ca);
  }
  cJSON_Delete(o);
  return rc;
}

/* The sentence for a refused recovery, with the error code a caller
 * branches on. */
static int refused(const fsi_http_response *r) {
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
  char text[600];
  snprintf(text, sizeof text, "%s", msg ? msg : "an unexpected answer");
  cJSON_Delete(o);
  int code = r->status == 401   ? FS_EAUTH
             : r->status == 403 ? (strstr(text, "revoked") ? FS_EREVOKED : FS_EPERM)
             : r->status == 404 ? FS_ENOTFOUND
             : r->status == 409 ? FS_ECONFLICT
             : r->status >= 500 ? FS_ENETWORK
                                : FS_EINVAL;
  return fsi_fail(code,
                  "head office refused the recovery (%ld): %s; nothing was changed on this "
                  "laptop",
                  r->status, text);
}

static const size_t recover_opts_sizes[] = {offsetof(fs_recover_opts, new_passphrase_len) +
                                            sizeof(size_t)};
static const fsi_versions recover_opts_v = {"fs_recover_opts", recover_opts_sizes,
                                            FS_RECOVER_OPTS_VERSION};

/* Head office's answer (r, status 200) opened into key[32]. */
static int open_answer(unsigned char *key, const fsi_http_response *r, const fs_device *dev,
                       const hq_info *info, const char *pk_hex, const unsigned char *pk,
                       const unsigned char *sk) {
  unsigned char sealed[FSI_RECOVERY_SEALED_SIZE];
  char text[FSI_RECOVERY_TEXT_MAX];
  int rc = FS_OK;
  cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->len);
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "device_id"));
  const char *hex = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sealed"));
  const char *sig = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sig"));
  size_t n = id && hex ? fsi_recovery_answer_text(text, id, pk_hex, hex) : 0;
  if (!n || !sig || strcmp(id, dev->device_id) != 0 ||
      !fsi_proto_unhex(sealed, sizeof sealed, hex)) {
    rc = fsi_fail(FS_ECORRUPT, "head office sent a malformed recovery answer; nothing was "
                               "changed on this laptop");
  } else if (!fsi_proto_request_verify(sig, info->keys.sign, text, n)) {
    rc = fsi_fail(FS_EAUTH, "the recovery answer is not signed by the head office this laptop "
                            "enrolled with; nothing was changed on this laptop");
  } else if (crypto_box_seal_open(key, sealed, sizeof sealed, pk, sk) != 0) {
    rc = fsi_fail(FS_EAUTH, "the recovery answer was not sealed to this request; nothing was "
                            "changed on this laptop");
  }
  cJSON_Delete(o);
  return rc;
}

int fs_device_recover(fs_device *dev, const fs_recover_opts *opts) {
  fs_recover_opts o;
  hq_info info;
  unsigned char code[FSI_RECOVERY_CODE_BYTES], pk[crypto_box_PUBLICKEYBYTES];
  unsigned char *sk = NULL, *key = NULL;
  char code_text[FSI_RECOVERY_CODE_TEXT], pk_hex[2 * crypto_box_PUBLICKEYBYTES + 1];
  char keyfile[PATH_CAP], ca[PATH_CAP];
  char *body = NULL;
  fsi_http_client *c = NULL;
  fsi_http_response r;
  int rc;
  memset(&r, 0, sizeof r);
  memset(code_text, 0, sizeof code_text);
  if (!dev) return fsi_fail(FS_EINVAL, "no device to recover");
  if (!opts) return fsi_fail(FS_EINVAL, "recovering needs its options (fs_recover_opts)");
  if ((rc = fsi_device_struct_in(&o, sizeof o, opts, &recover_opts_v))) return rc;
  if ((rc = fsi_keys_init())) return rc;
  if (!o.code) return fsi_fail(FS_EINVAL, "a recovery needs the code head office gave");
  if ((rc = fsi_recovery_code_parse(code, o.code))) return rc;
  fsi_recovery_code_text(code_text, code);
  sodium_memzero(code, sizeof code);
  if ((rc = fsi_device_check_passphrase(o.new_passphrase, o.new_passphrase_len)) ||
      (rc = home_file(keyfile, dev->home, "keys/store.key")) ||
      (rc = home_file(ca, dev->home, "server-ca.pem")) || (rc = info_read(&info, dev)))
    goto done;
  if (!(sk = sodium_malloc(crypto_box_SECRETKEYBYTES)) || !(key = sodium_malloc(32))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  crypto_box_keypair(pk, sk);
  fsi_proto_hex(pk_hex, pk, sizeof pk);
  cJSON *req = cJSON_CreateObject();
  cJSON_AddStringToObject(req, "device_id", dev->device_id);
  cJSON_AddStringToObject(req, "code", code_text);
  cJSON_AddStringToObject(req, "pk", pk_hex);
  body = cJSON_PrintUnformatted(req);
  char *in_req = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "code"));
  if (in_req) sodium_memzero(in_req, strlen(in_req));
  cJSON_Delete(req);
  if (!body) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = fsi_http_client_new(&c, info.url, info.ca ? ca : NULL, *info.pin ? info.pin : NULL)) ||
      (rc = fsi_http_client_set_header(c, PROTO_DEVICE_HEADER, dev->device_id)))
    goto done;
  /* not idempotent (a wrong code counts, a right one is spent): sent once */
  fsi_http_client_set_retry(c, 1, 0);
  if ((rc = fsi_http_client_post(c, "/v1/recover", "application/json", body, strlen(body), &r)))
    goto done;
  if (r.status != 200) {
    rc = refused(&r);
    goto done;
  }
  if ((rc = open_answer(key, &r, dev, &info, pk_hex, pk, sk))) goto done;
  if (fs_device_locked(dev)) {
    fs_unlock_opts uo = FS_UNLOCK_OPTS_INIT;
    uo.key = key;
    uo.renew_lease = 1; /* online, approved: a lease that ran out is renewed */
    if ((rc = fs_device_unlock(dev, &uo)) == FS_EAUTH)
      rc = fsi_fail(FS_EAUTH, "the key head office released does not open this laptop's store (its "
                              "escrow is of another store); nothing was changed on this laptop");
    if (rc) goto done;
  } else if (sodium_memcmp(key, dev->data_key, FSI_DATA_KEY_SIZE) != 0) {
    rc = fsi_fail(FS_EAUTH, "the key head office released is not this laptop's; nothing was "
                            "changed on this laptop");
    goto done;
  }
  if ((rc = fsi_storekey_wrap(keyfile, dev->device_id, key, o.new_passphrase, o.new_passphrase_len,
                              1)))
    goto done;
  /* hq.json was only a way to reach head office: now that the store is
   * open, it is put right from what the store pinned */
  if (fsi_recover_note_hq(dev) != FS_OK) fsi_clear_error();
done:
  sodium_memzero(code_text, sizeof code_text);
  if (body) sodium_memzero(body, strlen(body));
  free(body);
  if (r.body) sodium_memzero(r.body, r.len);
  fsi_http_response_clear(&r);
  fsi_http_client_free(c);
  sodium_free(sk);
  sodium_free(key);
  return rc;
}
