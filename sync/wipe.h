/*
 * wipe.h — crypto-shredding a device home, at head office's signed order
 * (hqmsg.h, HQMSG_WIPE) or by `fieldsync wipe` (fs_device_wipe).
 *
 * The order of the shredding matters: the wrapped data key
 * (keys/store.key) is overwritten with random bytes, synced and removed
 * first, so from that instant nothing left of the home can be decrypted
 * even if the rest of the removal is interrupted; then the sealed
 * identity, the lease, and the encrypted store, WAL and SHM are
 * overwritten the same way and removed, then every other file fieldsync
 * made in the home (public keys, CA copy, receipts, sync lock); the keys
 * directory and the home are removed when empty.
 */
#ifndef FS_WIPE_H
#define FS_WIPE_H

#include <fieldsync/device.h>

#include "hqmsg.h"

/* Verifies a wipe order against the key pinned in the store `st` and
 * this device's id: FS_OK with *out the order, FS_EAUTH (a forged, altered
 * or another device's order: nothing may be deleted) with the sentence. */
int fsi_wipe_verify(fsi_hqmsg *out, fs_device *dev, fs_store *st, const char *text,
                    const char *sig);

/* Shreds the home of `dev` (as above).  The store must be closed first
 * (the device locked, or its store closed by the caller); the secret keys
 * the device holds in memory are not touched (the caller confirms the wipe
 * with them, then locks the device).  FS_OK when every file is gone,
 * FS_EIO naming the first that could not be removed (the key file is
 * removed first whatever happens later). */
int fsi_wipe_home(const char *home);

#endif
