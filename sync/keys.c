/*
 * keys.c — identity key files (see keys.h).
 *
 * Invariants: a secret key file is only ever created with O_CREAT|O_EXCL and
 * mode 0600 (fchmod'd, whatever the umask), never overwritten, and only read
 * after fstat() on the open descriptor shows it is a regular file that group
 * and others cannot access (no window between the check and the read).  Every
 * buffer that held secret bytes is wiped before it goes out of scope, on the
 * success and the failure paths alike.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"

#define F_SIGN_SK "sign.key"
#define F_KX_SK "kx.key"
#define F_SIGN_PK "sign.pub"
#define F_KX_PK "kx.pub"
#define F_SEALED "identity.key"

int fsi_keys_init(void) {
  /* sodium_init: 0 = initialised now, 1 = already, -1 = failure. */
  if (sodium_init() < 0) return fsi_fail(FS_EINVAL, "libsodium could not be initialised");
  return FS_OK;
}

int fsi_keys_new(fsi_keys *out) {
  int rc = fsi_keys_init();
  if (rc) return rc;
  crypto_sign_keypair(out->pub.sign, out->sign_sk);
  crypto_kx_keypair(out->pub.kx, out->kx_sk);
  return FS_OK;
}

void fsi_keys_wipe(fsi_keys *k) {
  if (k) sodium_memzero(k, sizeof *k);
}

static int key_path(char out[PATH_MAX], const char *dir, const char *name) {
  int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
  if (n < 0 || n >= PATH_MAX) return fsi_fail(FS_EINVAL, "key directory path is too long: %s", dir);
  return FS_OK;
}

/* Creates path exclusively with `mode` and writes n bytes, durably. */
static int write_new(const char *path, const uint8_t *data, size_t n, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST)
      return fsi_fail(FS_EEXIST, "key file %s already exists; refusing to overwrite it", path);
    return fsi_fail(FS_EIO, "cannot create key file %s: %s", path, strerror(errno));
  }
  int rc = FS_OK;
  size_t off = 0;
  if (fchmod(fd, mode) != 0) {
    rc = fsi_fail(FS_EIO, "cannot set the mode of key file %s: %s", path, strerror(errno));
    goto done;
  }
  while (off < n) {
    ssize_t w = write(fd, data + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      rc = fsi_fail(FS_EIO, "cannot write key file %s: %s", path, strerror(errno));
      goto done;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0) rc = fsi_fail(FS_EIO, "cannot sync key file %s: %s", path, strerror(errno));
done:
  close(fd);
  if (rc) unlink(path);
  return rc;
}

int fsi_keys_generate(const char *dir) {
  static const char *const names[4] = {F_SIGN_SK, F_KX_SK, F_SIGN_PK, F_KX_PK};
  char paths[4][PATH_MAX];
  fsi_keys k;
  int rc, made = 0;
  struct stat st;

  if ((rc = fsi_keys_init())) return rc;
  for (int i = 0; i < 4; i++) {
    if ((rc = key_path(paths[i], dir, names[i]))) return rc;
    if (lstat(paths[i], &st) == 0)
      return fsi_fail(FS_EEXIST, "key file %s already exists; refusing to overwrite it", paths[i]);
  }
  if ((rc = fsi_keys_new(&k))) goto done;
  const uint8_t *data[4] = {k.sign_sk, k.kx_sk, k.pub.sign, k.pub.kx};
  const size_t len[4] = {KEYS_SIGN_SK, KEYS_KX_SK, KEYS_SIGN_PK, KEYS_KX_PK};
  const mode_t mode[4] = {0600, 0600, 0644, 0644};
  for (made = 0; made < 4; made++)
    if ((rc = write_new(paths[made], data[made], len[made], mode[made]))) goto done;
  rc = FS_OK;
done:
  if (rc)
    for (int i = 0; i < made; i++) unlink(paths[i]);
  fsi_keys_wipe(&k);
  return rc;
}

/* Reads exactly n bytes of dir/name into out.  secret: refuse a file that
 * group or others can access.  On failure out is wiped. */
static int read_key(uint8_t *out, size_t n, const char *dir, const char *name, int secret) {
  char path[PATH_MAX];
  struct stat st;
  size_t off = 0;
  int rc = key_path(path, dir, name), fd;
  if (rc) return rc;
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return fsi_fail(FS_ENOTFOUND, "key file %s does not exist", path);
    return fsi_fail(FS_EIO, "cannot open key file %s: %s", path, strerror(errno));
  }
  if (fstat(fd, &st) != 0) {
    rc = fsi_fail(FS_EIO, "cannot stat key file %s: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = fsi_fail(FS_ECORRUPT, "key file %s is not a regular file", path);
    goto done;
  }
  if (secret && (st.st_mode & 077)) {
    rc = fsi_fail(FS_EAUTH,
                  "secret key file %s has mode %04o and is accessible by group or "
                  "others; run: chmod 600 %s",
                  path, (unsigned)(st.st_mode & 07777), path);
    goto done;
  }
  if (st.st_size != (off_t)n) {
    rc = fsi_fail(FS_ECORRUPT, "key file %s is %lld bytes, expected %zu", path,
                  (long long)st.st_size, n);
    goto done;
  }
  while (off < n) {
    ssize_t r = read(fd, out + off, n - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = r == 0 ? fsi_fail(FS_ECORRUPT, "key file %s is shorter than %zu bytes", path, n)
                  : fsi_fail(FS_EIO, "cannot read key file %s: %s", path, strerror(errno));
      goto done;
    }
    off += (size_t)r;
  }
done:
  close(fd);
  if (rc) sodium_memzero(out, n);
  return rc;
}

int fsi_keys_load_public(fsi_pubkeys *out, const char *dir) {
  int rc = fsi_keys_init();
  if (rc) return rc;
  if ((rc = read_key(out->sign, KEYS_SIGN_PK, dir, F_SIGN_PK, 0))) return rc;
  return read_key(out->kx, KEYS_KX_PK, dir, F_KX_PK, 0);
}

/* Each secret key of *k must give its public key. */
static int check_pairs(const fsi_keys *k, const char *dir, const char *sign_file,
                       const char *kx_file) {
  uint8_t pk[32];
  int rc = FS_OK;
  crypto_sign_ed25519_sk_to_pk(pk, k->sign_sk);
  if (sodium_memcmp(pk, k->pub.sign, sizeof pk) != 0)
    rc = fsi_fail(FS_ECORRUPT, "key files %s/%s and %s/%s do not belong together", dir, sign_file,
                  dir, F_SIGN_PK);
  else if (crypto_scalarmult_base(pk, k->kx_sk) != 0 ||
           sodium_memcmp(pk, k->pub.kx, sizeof pk) != 0)
    rc = fsi_fail(FS_ECORRUPT, "key files %s/%s and %s/%s do not belong together", dir, kx_file,
                  dir, F_KX_PK);
  sodium_memzero(pk, sizeof pk);
  return rc;
}

int fsi_keys_load(fsi_keys *out, const char *dir) {
  int rc;
  if ((rc = fsi_keys_load_public(&out->pub, dir))) goto done;
  if ((rc = read_key(out->sign_sk, KEYS_SIGN_SK, dir, F_SIGN_SK, 1))) goto done;
  if ((rc = read_key(out->kx_sk, KEYS_KX_SK, dir, F_KX_SK, 1))) goto done;
  rc = check_pairs(out, dir, F_SIGN_SK, F_KX_SK);
done:
  if (rc) fsi_keys_wipe(out);
  return rc;
}

/* ------------------------------------------------ the sealed identity */

static const uint8_t ID_MAGIC[8] = {'F', 'S', 'I', 'D', 'E', 'N', 'T', 'Y'};
#define ID_FORMAT 1u
#define ID_HDR 32 /* magic, format, reserved, device id */
#define ID_PLAIN (KEYS_SIGN_SK + KEYS_KX_SK)
#define ID_CT (ID_PLAIN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define ID_SIZE (ID_HDR + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + ID_CT)
_Static_assert(ID_SIZE == KEYS_SEALED_SIZE, "identity.key layout");

/* The identity key: a subkey of the data key, so that the data key itself
 * is used for one thing only (the store). */
static void identity_key(uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES],
                         const unsigned char *data_key) {
  crypto_kdf_derive_from_key(sub, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 1, "fsident1",
                             data_key);
}

/* The associated data: the file's header and both public keys. */
static void identity_ad(uint8_t ad[ID_HDR + KEYS_SIGN_PK + KEYS_KX_PK], const uint8_t *hdr,
                        const fsi_pubkeys *pub) {
  memcpy(ad, hdr, ID_HDR);
  memcpy(ad + ID_HDR, pub->sign, KEYS_SIGN_PK);
  memcpy(ad + ID_HDR + KEYS_SIGN_PK, pub->kx, KEYS_KX_PK);
}

int fsi_keys_generate_sealed(const char *dir, const unsigned char *data_key,
                             const char *device_id) {
  static const char *const names[3] = {F_SEALED, F_SIGN_PK, F_KX_PK};
  static const char *const legacy[2] = {F_SIGN_SK, F_KX_SK};
  char paths[3][PATH_MAX], p[PATH_MAX];
  uint8_t file[ID_SIZE], ad[ID_HDR + KEYS_SIGN_PK + KEYS_KX_PK];
  uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  fsi_keys *k = NULL;
  struct stat st;
  int rc, made = 0;

  if ((rc = fsi_keys_init())) return rc;
  if (!device_id || strlen(device_id) != 16)
    return fsi_fail(FS_EINVAL, "not a device id: %s", device_id ? device_id : "(none)");
  for (int i = 0; i < 3; i++) {
    if ((rc = key_path(paths[i], dir, names[i]))) return rc;
    if (lstat(paths[i], &st) == 0)
      return fsi_fail(FS_EEXIST, "key file %s already exists; refusing to overwrite it", paths[i]);
  }
  for (int i = 0; i < 2; i++) {
    if ((rc = key_path(p, dir, legacy[i]))) return rc;
    if (lstat(p, &st) == 0)
      return fsi_fail(FS_EEXIST, "key file %s already exists; refusing to overwrite it", p);
  }
  if (!(k = sodium_malloc(sizeof *k))) return fsi_fail(FS_ENOMEM, "out of memory");
  if ((rc = fsi_keys_new(k))) goto done;
  memset(file, 0, ID_HDR);
  memcpy(file, ID_MAGIC, sizeof ID_MAGIC);
  file[8] = ID_FORMAT; /* little-endian u32, then 4 reserved zero bytes */
  memcpy(file + 16, device_id, 16);
  randombytes_buf(file + ID_HDR, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  identity_ad(ad, file, &k->pub);
  identity_key(sub, data_key);
  /* the secret keys are encrypted straight from the locked struct: sign_sk
   * and kx_sk are adjacent members, ID_PLAIN bytes */
  _Static_assert(offsetof(fsi_keys, kx_sk) == offsetof(fsi_keys, sign_sk) + KEYS_SIGN_SK,
                 "fsi_keys layout");
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      file + ID_HDR + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, k->sign_sk, ID_PLAIN, ad,
      sizeof ad, NULL, file + ID_HDR, sub);
  const uint8_t *data[3] = {file, k->pub.sign, k->pub.kx};
  const size_t len[3] = {ID_SIZE, KEYS_SIGN_PK, KEYS_KX_PK};
  const mode_t mode[3] = {0600, 0644, 0644};
  for (made = 0; made < 3; made++)
    if ((rc = write_new(paths[made], data[made], len[made], mode[made]))) goto done;
  rc = FS_OK;
done:
  if (rc)
    for (int i = 0; i < made; i++) unlink(paths[i]);
  sodium_memzero(sub, sizeof sub);
  sodium_free(k);
  return rc;
}

int fsi_keys_load_sealed(fsi_keys *out, const char *dir, const unsigned char *data_key,
                         const char *device_id) {
  uint8_t file[ID_SIZE], ad[ID_HDR + KEYS_SIGN_PK + KEYS_KX_PK];
  uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  int rc;
  if ((rc = fsi_keys_load_public(&out->pub, dir))) goto done;
  if ((rc = read_key(file, ID_SIZE, dir, F_SEALED, 1))) goto done;
  if (memcmp(file, ID_MAGIC, sizeof ID_MAGIC) != 0) {
    rc = fsi_fail(FS_ECORRUPT, "%s/%s is not a fieldsync identity file (or it is damaged)", dir,
                  F_SEALED);
    goto done;
  }
  if (file[8] != ID_FORMAT || file[9] || file[10] || file[11]) {
    rc = fsi_fail(FS_EVERSION, "%s/%s has a format this fieldsync (%s) does not know", dir,
                  F_SEALED, FS_VERSION_STRING);
    goto done;
  }
  if (!device_id || strlen(device_id) != 16 || memcmp(file + 16, device_id, 16) != 0) {
    rc = fsi_fail(FS_ECORRUPT, "%s/%s belongs to another device than %s", dir, F_SEALED,
                  device_id ? device_id : "(none)");
    goto done;
  }
  identity_ad(ad, file, &out->pub);
  identity_key(sub, data_key);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out->sign_sk, NULL, NULL, file + ID_HDR + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          ID_CT, ad, sizeof ad, file + ID_HDR, sub) != 0) {
    rc = fsi_fail(FS_EAUTH,
                  "the key does not open %s/%s: it is not this device's data key (or the "
                  "file, or %s and %s beside it, were altered)",
                  dir, F_SEALED, F_SIGN_PK, F_KX_PK);
    goto done;
  }
  rc = check_pairs(out, dir, F_SEALED, F_SEALED);
done:
  sodium_memzero(sub, sizeof sub);
  if (rc) fsi_keys_wipe(out);
  return rc;
}

void fsi_keys_fingerprint(char out[KEYS_FINGERPRINT_SIZE], const fsi_pubkeys *pub) {
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_state st;
  (void)fsi_keys_init();
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, pub->sign, sizeof pub->sign);
  crypto_hash_sha256_update(&st, pub->kx, sizeof pub->kx);
  crypto_hash_sha256_final(&st, h);
  sodium_bin2hex(out, KEYS_FINGERPRINT_SIZE, h, sizeof h);
}

void fsi_keys_pub_to_hex(char out[KEYS_PUB_HEX_SIZE], const fsi_pubkeys *pub) {
  (void)fsi_keys_init();
  sodium_bin2hex(out, 65, pub->sign, sizeof pub->sign);
  sodium_bin2hex(out + 64, 65, pub->kx, sizeof pub->kx);
}

int fsi_keys_pub_from_hex(fsi_pubkeys *out, const char *hex) {
  uint8_t bin[KEYS_SIGN_PK + KEYS_KX_PK];
  size_t binlen = 0;
  const char *end = NULL;
  int rc = fsi_keys_init();
  if (rc) return rc;
  if (!hex || strlen(hex) != 2 * sizeof bin ||
      sodium_hex2bin(bin, sizeof bin, hex, 2 * sizeof bin, NULL, &binlen, &end) != 0 ||
      binlen != sizeof bin || end != hex + 2 * sizeof bin)
    return fsi_fail(FS_EINVAL, "public keys must be %zu hex digits", 2 * sizeof bin);
  memcpy(out->sign, bin, KEYS_SIGN_PK);
  memcpy(out->kx, bin + KEYS_SIGN_PK, KEYS_KX_PK);
  return FS_OK;
}
