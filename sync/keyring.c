/*
 * keyring.c — the data key cache in the kernel's session keyring (see
 * keyring.h).
 *
 * The payload is read straight into the caller's locked buffer (never a
 * libkeyutils allocation, which would leave a copy on the heap), and a
 * payload of another size is treated as damage, never cut or padded.  A
 * key is revoked before it is unlinked, so a process that found it a moment
 * earlier cannot read it afterwards.
 */
#include "keyring.h"

#include <errno.h>
#include <keyutils.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "storekey.h"

#define KEY_PERM                                                                                   \
  (KEY_POS_VIEW | KEY_POS_READ | KEY_POS_WRITE | KEY_POS_SEARCH | KEY_POS_LINK | KEY_POS_SETATTR | \
   KEY_USR_VIEW)

static void describe(char out[64], const char *device_id) {
  snprintf(out, 64, "fieldsync:%s", device_id);
}

/* The cached key's serial, or -1 (errno set) when there is none. */
static key_serial_t find(const char *device_id) {
  char desc[64];
  describe(desc, device_id);
  return (key_serial_t)keyctl_search(KEY_SPEC_SESSION_KEYRING, "user", desc, 0);
}

int fsi_keyring_put(const char *device_id, const unsigned char *key, int64_t seconds) {
  char desc[64];
  if (seconds < 1 || seconds > (int64_t)UINT32_MAX)
    return fsi_fail(FS_EINVAL, "a key cache time must be between 1 second and %u seconds",
                    UINT32_MAX);
  describe(desc, device_id);
  key_serial_t id = add_key("user", desc, key, FSI_DATA_KEY_SIZE, KEY_SPEC_SESSION_KEYRING);
  if (id < 0)
    return fsi_fail(FS_EIO,
                    "the kernel keyring refused to keep the key (%s); without it, set "
                    "FIELDSYNC_PASSPHRASE_FILE or unlock in the application",
                    strerror(errno));
  if (keyctl_set_timeout(id, (unsigned)seconds) != 0 || keyctl_setperm(id, KEY_PERM) != 0) {
    int e = errno;
    keyctl_revoke(id);
    keyctl_unlink(id, KEY_SPEC_SESSION_KEYRING);
    return fsi_fail(FS_EIO, "the kernel keyring refused to bound the cached key (%s)", strerror(e));
  }
  return FS_OK;
}

int fsi_keyring_get(unsigned char *key, const char *device_id) {
  key_serial_t id = find(device_id);
  if (id < 0) return fsi_fail(FS_ENOTFOUND, "no key of device %s is cached", device_id);
  long n = keyctl_read(id, (char *)key, FSI_DATA_KEY_SIZE);
  if (n < 0) {
    sodium_memzero(key, FSI_DATA_KEY_SIZE);
    return fsi_fail(FS_ENOTFOUND, "the cached key of device %s is gone (%s)", device_id,
                    strerror(errno));
  }
  if (n != FSI_DATA_KEY_SIZE) {
    sodium_memzero(key, FSI_DATA_KEY_SIZE);
    keyctl_revoke(id);
    keyctl_unlink(id, KEY_SPEC_SESSION_KEYRING);
    return fsi_fail(FS_ECORRUPT,
                    "the keyring held a %ld-byte key for device %s, not a data key; it "
                    "was removed",
                    n, device_id);
  }
  return FS_OK;
}

int fsi_keyring_forget(const char *device_id) {
  key_serial_t id;
  /* every link to one: a key added twice by older sessions is one key */
  while ((id = find(device_id)) >= 0) {
    if (keyctl_revoke(id) != 0 && errno != EKEYREVOKED)
      return fsi_fail(FS_EIO, "cannot revoke the cached key of device %s: %s", device_id,
                      strerror(errno));
    keyctl_unlink(id, KEY_SPEC_SESSION_KEYRING);
  }
  return FS_OK;
}
