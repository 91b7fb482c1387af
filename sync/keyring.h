/*
 * keyring.h — the unlocked data key cached in the Linux kernel keyring, so
 * that the commands and programs of one login session share one unlock
 * (fieldsync unlock, fs_device_cache_key).
 *
 * One key per device: type "user", description "fieldsync:<device id>",
 * in the session keyring (KEY_SPEC_SESSION_KEYRING), payload the 32-byte
 * data key.  Its permissions give everything to its possessors (the
 * processes of this session) and only "view" to other processes of the
 * same user; nothing to other users.  Each key carries a kernel timeout:
 * when it passes, the kernel itself makes the key unreadable and removes
 * it, with no process of ours running.
 */
#ifndef FS_KEYRING_H
#define FS_KEYRING_H

#include <stdint.h>

/* Caches key (FSI_DATA_KEY_SIZE bytes) for device_id for `seconds`
 * (1 .. UINT32_MAX), replacing one already cached.  FS_EIO when the
 * keyring refuses (none in this environment: the sentence says so). */
int fsi_keyring_put(const char *device_id, const unsigned char *key, int64_t seconds);

/* The cached key of device_id into key[FSI_DATA_KEY_SIZE] (the caller's
 * locked buffer).  FS_ENOTFOUND when none is cached, it expired or was
 * revoked, or there is no keyring; FS_ECORRUPT for a payload of another
 * size (then it is removed). */
int fsi_keyring_get(unsigned char *key, const char *device_id);

/* Revokes and unlinks the cached key of device_id at once; FS_OK also
 * when none was cached.  FS_EIO when one exists and cannot be revoked. */
int fsi_keyring_forget(const char *device_id);

#endif
