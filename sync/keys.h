/*
 * keys.h — a replica's identity: an Ed25519 signing key pair and an X25519
 * key-exchange key pair (libsodium crypto_sign and crypto_kx).
 *
 * On disk an identity is a directory of key files.  A device's (format 1):
 *   identity.key  the secret keys sealed under the device's data key
 *                 (storekey.h), 168 bytes, 0600:
 *                   0  8  magic "FSIDENTY"
 *                   8  4  format (1, little-endian)
 *                   12 4  reserved, zero
 *                   16 16 device id (hex)
 *                   32 24 nonce
 *                   56 112 sign_sk || kx_sk, XChaCha20-Poly1305 (96 + 16 tag),
 *                          associated data bytes 0..32 || sign.pub || kx.pub
 *   sign.pub, kx.pub as below.
 * Head office's keys are four raw binary files (encrypting them is the
 * head office store's business):
 *   sign.key  64-byte Ed25519 secret key (libsodium layout: seed || pk), 0600
 *   kx.key    32-byte X25519 secret key, 0600
 *   sign.pub  32-byte Ed25519 public key, 0644
 *   kx.pub    32-byte X25519 public key, 0644
 * Secret files are created with O_EXCL and mode 0600 and are refused on load
 * when group or others have any access to them.  Every secret buffer is
 * wiped (sodium_memzero) on every path; a caller holding an fsi_keys wipes it
 * with fsi_keys_wipe() when done.
 *
 * The fingerprint of a public identity is the lowercase hex SHA-256
 * (crypto_hash_sha256) of sign.pub || kx.pub: 64 characters, printed by
 * `fieldsync-server init --json` as fsi_keys_fingerprint for people to compare.
 */
#ifndef FS_KEYS_H
#define FS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_SIGN_PK 32
#define KEYS_SIGN_SK 64
#define KEYS_KX_PK 32
#define KEYS_KX_SK 32
#define KEYS_FINGERPRINT_SIZE 65 /* 64 hex chars + NUL */
#define KEYS_PUB_HEX_SIZE 129    /* hex of sign.pub || kx.pub + NUL */
#define KEYS_SEALED_SIZE 168     /* identity.key */

/* The public half of an identity: what peers pin. */
typedef struct fsi_pubkeys {
  uint8_t sign[KEYS_SIGN_PK];
  uint8_t kx[KEYS_KX_PK];
} fsi_pubkeys;

/* A whole identity.  Holds secrets: fsi_keys_wipe() it when done. */
typedef struct fsi_keys {
  fsi_pubkeys pub;
  uint8_t sign_sk[KEYS_SIGN_SK];
  uint8_t kx_sk[KEYS_KX_SK];
} fsi_keys;

/* Initialises libsodium (thread-safe, idempotent).  Every keys_ and
 * envelope_ function calls it; callers of raw libsodium may too.
 * FS_EINVAL if libsodium cannot initialise (no entropy source). */
int fsi_keys_init(void);

/* A fresh identity in memory (tests, benchmarks, servers keeping keys
 * elsewhere).  FS_EINVAL if libsodium cannot initialise. */
int fsi_keys_new(fsi_keys *out);

/* Creates an identity in the existing directory `dir` (the four files
 * above).  Refuses to overwrite: FS_EEXIST if any of the files exists (and
 * then nothing is written).  FS_EIO on a file system failure (files this call
 * created are removed again). */
int fsi_keys_generate(const char *dir);

/* Loads the identity in `dir` into *out, checking that each secret key
 * matches its public key.  Errors: FS_ENOTFOUND (missing file), FS_EAUTH
 * (a secret key file is accessible by group or others; the message names
 * the file and says to chmod 600 it), FS_ECORRUPT (wrong size, or secret and
 * public keys do not match), FS_EIO.  *out is wiped on failure. */
int fsi_keys_load(fsi_keys *out, const char *dir);

/* A device's identity: generates a fresh one and writes identity.key (its
 * secret keys sealed under data_key, 32 bytes, for device_id, 16 hex
 * digits), sign.pub and kx.pub in `dir`.  Refuses to overwrite (FS_EEXIST
 * if any of these or the raw sign.key/kx.key exists; nothing written);
 * FS_EIO (files this call created are removed again). */
int fsi_keys_generate_sealed(const char *dir, const unsigned char *data_key, const char *device_id);

/* Loads the sealed identity of `dir` with data_key into *out and checks
 * each secret key against its public key.  FS_EAUTH when data_key does not
 * open it (not this device's key, or a file of the set altered) or the file
 * is accessible by group or others; FS_ECORRUPT (wrong size or magic,
 * another device's file, keys that do not match); FS_EVERSION;
 * FS_ENOTFOUND; FS_EIO.  *out is wiped on failure. */
int fsi_keys_load_sealed(fsi_keys *out, const char *dir, const unsigned char *data_key,
                         const char *device_id);

/* Loads only sign.pub and kx.pub from `dir`.  FS_ENOTFOUND, FS_ECORRUPT
 * (wrong size), FS_EIO. */
int fsi_keys_load_public(fsi_pubkeys *out, const char *dir);

/* Wipes every byte of *k (NULL is fine). */
void fsi_keys_wipe(fsi_keys *k);

/* Lowercase hex SHA-256 of sign || kx into out[KEYS_FINGERPRINT_SIZE]. */
void fsi_keys_fingerprint(char out[KEYS_FINGERPRINT_SIZE], const fsi_pubkeys *pub);

/* Lowercase hex of sign || kx (128 chars) into out[KEYS_PUB_HEX_SIZE], and
 * back: fsi_keys_pub_from_hex accepts exactly 128 hex digits (either case),
 * else FS_EINVAL.  For carrying public keys in enrollment messages. */
void fsi_keys_pub_to_hex(char out[KEYS_PUB_HEX_SIZE], const fsi_pubkeys *pub);
int fsi_keys_pub_from_hex(fsi_pubkeys *out, const char *hex);

#endif /* FS_KEYS_H */
