/*
 * lease.h — a device's offline lease: head office's signed word that this
 * device may be unlocked until a time (hqmsg.h, HQMSG_LEASE), renewed at
 * every enrollment and successful sync, kept in HOME/keys/lease (0600) as
 * {"text": TEXT, "sig": HEX}.
 *
 * An enrolled device is unlocked only while its lease holds: past its end
 * (by this laptop's clock), or with no lease file, or one that does not
 * verify against head office's pinned key for this device, fs_device_unlock
 * refuses with FS_ELEASE and says that the laptop must sync (an unlock with
 * the passphrase and renew_lease set renews it online).  A device never
 * enrolled (no head-office keys pinned) has no lease and is not
 * restricted.  docs/security.md says what
 * this does and does not stop.
 */
#ifndef FS_LEASE_H
#define FS_LEASE_H

#include <stdint.h>

#include <fieldsync/device.h>

#include "hqmsg.h"

/* Verifies a lease head office sent (against the key pinned in the
 * device's store `st`, for this device) and only then replaces
 * HOME/keys/lease with it (written, synced and renamed into place).
 * FS_EAUTH (nothing written), FS_EIO. */
int fsi_lease_save(fs_device *dev, fs_store *st, const char *text, const char *sig);

/* The lease of an unlocked-store device: FS_OK with *out the verified
 * lease; FS_ENOTFOUND when the home has no lease file; FS_EAUTH when it
 * does not verify (sentence set); FS_ECORRUPT when it is not a lease file;
 * FS_EIO. */
int fsi_lease_read(fsi_hqmsg *out, fs_device *dev, fs_store *st);

/* FS_OK when the device (its store open as `st`) may be unlocked now: not
 * enrolled, or its lease holds.  FS_ELEASE with the sentence to show
 * otherwise. */
int fsi_lease_check(fs_device *dev, fs_store *st);

#endif
