/*
 * deviceInt.h — the fs_device handle, shared by the device files of sync/
 * (device.c opens and closes it, client.c enrolls and syncs with it).
 *
 * A device is opened locked: it knows its home and its device id (from
 * HOME/keys/store.key), no store and no key.  Unlocked, it owns its store,
 * its data key and its secret keys (both in sodium_malloc'd memory: guard
 * pages, mlock'd where the system allows it), all of which are wiped and
 * freed when it is locked or closed.  Like every handle it is used by one
 * thread at a time.
 */
#ifndef FS_DEVICE_INT_H
#define FS_DEVICE_INT_H

#include <fieldsync/device.h>

#include "keys.h"
#include "storekey.h"

struct fs_device {
  fs_store *st; /* NULL while locked */
  char *home;
  const fs_schema *schema;
  char device_id[FSI_DEVICE_ID_LEN + 1];
  unsigned char *data_key; /* FSI_DATA_KEY_SIZE bytes; NULL while locked */
  fsi_keys *keys;          /* the identity; NULL while locked */
};

/* FS_OK when the device is unlocked, else FS_ELOCKED with the sentence
 * that says how to unlock it. */
int fsi_device_need_unlocked(const fs_device *dev);

/* FS_OK for a passphrase a new wrapping accepts (FS_PASSPHRASE_MIN_CHARS
 * characters to FS_PASSPHRASE_MAX bytes, no NUL), else FS_EINVAL with the
 * sentence. */
int fsi_device_check_passphrase(const char *pass, size_t len);

/* The device's key pairs (unlocked with the device).  FS_ELOCKED while it
 * is locked.  Borrowed until fs_device_lock or fs_device_close. */
int fsi_device_keys(fs_device *dev, const fsi_keys **out);

/* Asks head office for a new offline lease (client.c) for the device,
 * whose store is open: FS_OK once a new lease verified and was saved
 * (lease.h); FS_EWIPED when head office answered with a wipe order, which
 * was carried out (the device is then locked and its home gone); the
 * errors of a sync's request otherwise. */
int fsi_client_renew_lease(fs_device *dev);

/* The versions of a versioned struct (device.h): sizes[v - 1] is the size
 * of version v (up to the end of its last member), for v = 1..nversions;
 * nversions is the headers' FS_*_VERSION and sizes[nversions - 1] fits in
 * the library's own struct.  `what` names the struct in messages. */
typedef struct fsi_versions {
  const char *what;
  const size_t *sizes;
  unsigned nversions;
} fsi_versions;

/* The caller's struct into the library's own *mine (mine_size bytes): the
 * members of the caller's version, zero for the others.  FS_EINVAL for
 * version 0 (not initialised), FS_EVERSION for one this library does not
 * know. */
int fsi_device_struct_in(void *mine, size_t mine_size, const void *theirs, const fsi_versions *v);
/* The library's *mine out into the caller's struct: the members of the
 * caller's version (its version member kept).  The same errors. */
int fsi_device_struct_out(void *theirs, const void *mine, const fsi_versions *v);

#endif
