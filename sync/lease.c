/*
 * lease.c — the offline lease of a device (lease.h): keeping head office's
 * signed lease in HOME/keys/lease, reading it back, and the check
 * fs_device_unlock makes; fs_device_lease for the status.
 *
 * Invariants: a lease file is written only with a lease that verified
 * against the pinned key for this device; one that does not verify when
 * read back counts as no lease at all (an expired one); an enrolled
 * device without a holding lease is never reported unlocked.
 */
#include "lease.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deviceInt.h"
#include "engine.h"

#define LEASE_FILE_MAX 4096

static int lease_path(char *out, size_t n, const char *home, const char *name) {
  if ((size_t)snprintf(out, n, "%s/keys/%s", home, name) >= n)
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  return FS_OK;
}

/* Head office's pinned keys of an enrolled store. */
static int pinned(fsi_pubkeys *hq, fs_store *st) {
  fsi_devstate_server srv;
  int rc = fsi_devstate_server_get(&srv, st);
  if (rc) return rc;
  if (fsi_keys_pub_from_hex(hq, srv.keys))
    return fsi_fail(FS_ECORRUPT, "the pinned head-office keys in this store are damaged");
  return FS_OK;
}

/* Enrolled with a head office whose keys it pinned (fs_enroll): only such
 * a device has, and needs, a lease.  (A store that merely knows head
 * office's site, as a test seeds one, has no key to check a lease with.) */
static int enrolled(fs_store *st) {
  char *v = NULL;
  if (!fs_store_hq_site(st)) return 0;
  int rc = fs_store_get(&v, st, "server_keys");
  free(v);
  return rc == FS_OK;
}

int fsi_lease_save(fs_device *dev, fs_store *st, const char *text, const char *sig) {
  char path[4200], tmp[4200];
  fsi_pubkeys hq;
  fsi_hqmsg m;
  int rc;
  if ((rc = pinned(&hq, st))) return rc;
  if ((rc = fsi_hqmsg_verify(&m, HQMSG_LEASE, text, sig, &hq, dev->device_id,
                             "the lease head office sent")))
    return rc;
  if ((rc = lease_path(path, sizeof path, dev->home, "lease")) ||
      (rc = lease_path(tmp, sizeof tmp, dev->home, "lease.tmp")))
    return rc;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "text", text);
  cJSON_AddStringToObject(o, "sig", sig);
  char *doc = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!doc) return fsi_fail(FS_ENOMEM, "out of memory");
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  size_t n = strlen(doc);
  if (fd < 0 || write(fd, doc, n) != (ssize_t)n || fsync(fd) != 0) {
    rc = fsi_fail(FS_EIO, "cannot write the lease to %s: %s", tmp, strerror(errno ? errno : EIO));
  }
  if (fd >= 0 && close(fd) != 0 && !rc)
    rc = fsi_fail(FS_EIO, "cannot write %s: %s", tmp, strerror(errno));
  if (!rc && rename(tmp, path) != 0)
    rc = fsi_fail(FS_EIO, "cannot put the lease in place (%s): %s", path, strerror(errno));
  if (rc) unlink(tmp);
  free(doc);
  return rc;
}

int fsi_lease_read(fsi_hqmsg *out, fs_device *dev, fs_store *st) {
  char path[4200], buf[LEASE_FILE_MAX + 1];
  fsi_pubkeys hq;
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = lease_path(path, sizeof path, dev->home, "lease"))) return rc;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return FS_ENOTFOUND;
  if (fd < 0) return fsi_fail(FS_EIO, "cannot read the lease %s: %s", path, strerror(errno));
  ssize_t n = read(fd, buf, LEASE_FILE_MAX);
  close(fd);
  if (n < 0) return fsi_fail(FS_EIO, "cannot read the lease %s: %s", path, strerror(errno));
  buf[n] = '\0';
  cJSON *o = cJSON_ParseWithLength(buf, (size_t)n);
  const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "text"));
  const char *sig = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sig"));
  if (!text || !sig)
    rc = fsi_fail(FS_ECORRUPT, "%s is not a lease file", path);
  else if (!(rc = pinned(&hq, st)))
    rc = fsi_hqmsg_verify(out, HQMSG_LEASE, text, sig, &hq, dev->device_id,
                          "the lease in this home");
  cJSON_Delete(o);
  return rc;
}

int fsi_lease_check(fs_device *dev, fs_store *st) {
  char last[32], end[32];
  fsi_hqmsg m;
  if (!enrolled(st)) return FS_OK; /* never enrolled: no lease */
  int rc = fsi_lease_read(&m, dev, st);
  if (rc == FS_OK) {
    if (fsi_util_now_ms() <= m.until) return FS_OK;
    fsi_util_date(last, m.issued);
    fsi_util_date(end, m.until);
    return fsi_fail(FS_ELEASE,
                    "this laptop has not synced with head office since %s and its lease ran "
                    "out on %s, so it stays locked: connect to the network and run `fieldsync "
                    "unlock` (or `fieldsync sync`) to renew it",
                    last, end);
  }
  if (rc == FS_EIO || rc == FS_ENOMEM) return rc;
  return fsi_fail(FS_ELEASE,
                  "this laptop holds no valid lease from head office (%s), which counts as a "
                  "lease that ran out, so it stays locked: connect to the network and run "
                  "`fieldsync unlock` (or `fieldsync sync`) to get a new one",
                  rc == FS_ENOTFOUND ? "keys/lease is missing"
                  : rc == FS_EAUTH   ? "keys/lease does not verify"
                                     : "keys/lease is damaged");
}

int fs_device_lease(int64_t *issued, int64_t *until, fs_device *dev) {
  fsi_hqmsg m;
  if (issued) *issued = 0;
  if (until) *until = 0;
  int rc = fsi_device_need_unlocked(dev);
  if (rc) return rc;
  if (!enrolled(dev->st))
    return fsi_fail(FS_ENOTFOUND, "this device is not enrolled, so it has no lease");
  rc = fsi_lease_read(&m, dev, dev->st);
  if (rc == FS_OK) {
    if (issued) *issued = m.issued;
    if (until) *until = m.until;
    if (fsi_util_now_ms() <= m.until) return FS_OK;
  }
  if (rc == FS_EIO || rc == FS_ENOMEM) return rc;
  return fsi_lease_check(dev, dev->st);
}
