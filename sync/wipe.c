/*
 * wipe.c — crypto-shredding a device home (wipe.h) and fs_device_wipe.
 *
 * The data key exists on disk only wrapped in keys/store.key, so
 * overwriting and removing that one file is what makes the store, its
 * WAL and the sealed identity unreadable for good (they are ciphertext
 * under a key that no longer exists anywhere); the rest of the removal
 * only tidies up.  The overwrite goes through the same inode (no
 * O_TRUNC), is synced before the unlink, and happens before anything
 * else is touched.  docs/security.md says what it does not do (blocks a
 * copy-on-write or flash file system keeps elsewhere).
 */
#include "wipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "deviceInt.h"
#include "engine.h"
#include "keyring.h"

/* Overwrites the file with random bytes (its whole length), syncs it,
 * removes it.  FS_OK also when it does not exist. */
static int shred(const char *path) {
  unsigned char buf[8192];
  struct stat sb;
  int rc = FS_OK;
  int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return FS_OK;
  if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
    off_t at = 0;
    while (at < sb.st_size) {
      size_t n = sb.st_size - at < (off_t)sizeof buf ? (size_t)(sb.st_size - at) : sizeof buf;
      randombytes_buf(buf, n);
      ssize_t w = pwrite(fd, buf, n, at);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      at += w;
    }
    if (at < sb.st_size || fsync(fd) != 0)
      rc = fsi_fail(FS_EIO, "cannot overwrite %s: %s", path, strerror(errno ? errno : EIO));
  }
  if (fd >= 0) close(fd);
  sodium_memzero(buf, sizeof buf);
  /* removed even when it could not be overwritten (or not opened) */
  if (unlink(path) != 0 && errno != ENOENT && !rc)
    rc = fsi_fail(FS_EIO, "cannot remove %s: %s", path, strerror(errno));
  return rc;
}

/* In the order they go: the wrapped data key first. */
static const char *const shredded[] = {
    "keys/store.key",     "keys/identity.key", "keys/lease",   "keys/lease.tmp",
    "keys/store.key.tmp", "store.db-wal",      "store.db-shm", "store.db",
    "store.db-journal",   "receipts",          NULL,
};
static const char *const removed[] = {
    "keys/sign.pub", "keys/kx.pub",  "keys/sign.key",    "keys/kx.key", "server-ca.pem",
    "sync.lock",     "keys/hq.json", "keys/hq.json.tmp", NULL,
};

int fsi_wipe_home(const char *home) {
  char p[4200];
  int rc = FS_OK, r;
  if ((size_t)snprintf(p, sizeof p, "%s/keys/store.key", home) >= sizeof p)
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  for (size_t i = 0; shredded[i]; i++) {
    snprintf(p, sizeof p, "%s/%s", home, shredded[i]);
    if ((r = shred(p)) && !rc) rc = r;
  }
  for (size_t i = 0; removed[i]; i++) {
    snprintf(p, sizeof p, "%s/%s", home, removed[i]);
    if (unlink(p) != 0 && errno != ENOENT && !rc)
      rc = fsi_fail(FS_EIO, "cannot remove %s: %s", p, strerror(errno));
  }
  snprintf(p, sizeof p, "%s/keys", home);
  rmdir(p);    /* only when empty: files someone else put there stay */
  rmdir(home); /* likewise */
  return rc;
}

int fsi_wipe_verify(fsi_hqmsg *out, fs_device *dev, fs_store *st, const char *text,
                    const char *sig) {
  fsi_devstate_server srv;
  fsi_pubkeys hq;
  memset(out, 0, sizeof *out);
  if (!fs_store_hq_site(st))
    return fsi_fail(FS_EAUTH, "a wipe order reached a device that is not enrolled; refused");
  int rc = fsi_devstate_server_get(&srv, st);
  if (rc) return rc;
  if (fsi_keys_pub_from_hex(&hq, srv.keys))
    return fsi_fail(FS_ECORRUPT, "the pinned head-office keys in this store are damaged");
  return fsi_hqmsg_verify(out, HQMSG_WIPE, text, sig, &hq, dev->device_id, "the wipe order");
}

int fs_device_wipe(fs_device *dev) {
  if (!dev) return fsi_fail(FS_EINVAL, "no device to wipe");
  fs_device_lock(dev);
  fsi_keyring_forget(dev->device_id); /* a cached key of a shredded home is of no use */
  return fsi_wipe_home(dev->home);
}
