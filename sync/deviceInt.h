/*
 * deviceInt.h — the fs_device handle, shared by the device files of sync/
 * (device.c opens and closes it, client.c enrolls and syncs with it).
 *
 * A device owns its store, a copy of its home's path and, from the first
 * enrollment or sync on, its secret keys (loaded once from HOME/keys and
 * wiped when the device is closed).  Like every handle it is used by one
 * thread at a time.
 */
#ifndef FS_DEVICE_INT_H
#define FS_DEVICE_INT_H

#include <fieldsync/device.h>

#include "keys.h"

struct fs_device {
  fs_store *st;
  char *home;
  fsi_keys keys; /* valid when has_keys */
  int has_keys;
};

/* The device's key pairs, loaded on first use (the errors of fsi_keys_load:
 * FS_ENOTFOUND, FS_EAUTH for a secret file others can read, FS_ECORRUPT).
 * Borrowed until fs_device_close. */
int fsi_device_keys(fs_device *dev, const fsi_keys **out);

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
