/*
 * storekey.h — a device's data key at rest: HOME/keys/store.key.
 *
 * The data key is 256 random bits (randombytes_buf) made at `fieldsync
 * init`; the store is encrypted under it (core/engine.h,
 * fsi_store_open_keyed) and so are the device's secret identity keys
 * (keys.h, identity.key).  It never touches the disk in the clear: the file
 * holds it wrapped (XChaCha20-Poly1305) under a key derived from the
 * manager's passphrase with Argon2id (crypto_pwhash, ALG_ARGON2ID13).
 *
 * Format 1, 136 bytes, integers little-endian:
 *   0   8  magic "FSDATAKY"
 *   8   4  format version (1)
 *   12  4  KDF (1 = Argon2id v1.3)
 *   16  8  opslimit
 *   24  8  memlimit in bytes
 *   32  16 salt (random per wrapping)
 *   48  16 device id (16 lowercase hex digits, the store's)
 *   64  24 nonce (random per wrapping)
 *   88  48 the data key, encrypted and authenticated (32 + 16 tag)
 * The associated data is bytes 0..64: every parameter, the salt and the
 * device id are authenticated with the key, so none can be changed, nor the
 * file moved to another device, without unwrapping failing.  The KDF
 * parameters are in the file so that a later version can raise them: a
 * file is always unwrapped with its own, and rewrapped (fieldsync passwd)
 * with the current ones.
 *
 * Invariants: the file is written whole to a temporary file in the same
 * directory (mode 0600, fsync'd), then renamed into place (or linked, when
 * it must not replace one) and the directory fsync'd, so a crash leaves the
 * old file or the new one, never a mix.  It is refused on reading when
 * group or others can access it.  Every buffer that held the derived key or
 * the data key is wiped on every path.
 */
#ifndef FS_STOREKEY_H
#define FS_STOREKEY_H

#include <stddef.h>
#include <stdint.h>

#define FSI_DATA_KEY_SIZE 32
#define FSI_STOREKEY_FILE_SIZE 136
#define FSI_STOREKEY_FORMAT 1
#define FSI_DEVICE_ID_LEN 16 /* hex digits of the site id */

/* What store.key says before it is unwrapped. */
typedef struct fsi_storekey_info {
  char device_id[FSI_DEVICE_ID_LEN + 1];
  uint32_t format;
  uint64_t opslimit;
  uint64_t memlimit;
} fsi_storekey_info;

/* The Argon2id cost a new wrapping uses: opslimit 3, memlimit 256 MiB
 * (libsodium's MODERATE; about 0.9 s on a laptop core).  In a build with
 * FS_TEST_HOOKS and FS_TEST_WEAK_KDF=1 in the environment, libsodium's
 * minimum instead (for test suites that create hundreds of homes). */
void fsi_storekey_params(uint64_t *opslimit, uint64_t *memlimit);

/* Reads the header of the key file at `path`.  FS_ENOTFOUND (no file),
 * FS_EAUTH (group or others can access it), FS_ECORRUPT (wrong size or
 * magic, parameters out of bounds, a bad device id), FS_EVERSION (a format
 * this build does not know), FS_EIO. */
int fsi_storekey_read_info(fsi_storekey_info *out, const char *path);

/* Unwraps the data key of the file at `path` with the passphrase into
 * key[FSI_DATA_KEY_SIZE] (the caller's locked buffer); *info (may be NULL)
 * receives the header.  The errors of fsi_storekey_read_info; FS_EAUTH
 * when the passphrase is wrong (or the file was altered: the two cannot be
 * told apart); FS_ENOMEM when the KDF's memory cannot be had.  key is wiped
 * on failure. */
int fsi_storekey_unwrap(unsigned char *key, fsi_storekey_info *info, const char *path,
                        const char *pass, size_t pass_len);

/* Wraps key under the passphrase (a fresh salt and nonce, this build's
 * parameters) for device_id and writes the file at `path` as described at
 * the top.  replace = 0 refuses an existing file (FS_EEXIST, and nothing
 * is written); replace = 1 replaces it atomically.  FS_EIO, FS_ENOMEM. */
int fsi_storekey_wrap(const char *path, const char *device_id, const unsigned char *key,
                      const char *pass, size_t pass_len, int replace);

#endif
