/*
 * storekey.c — the wrapped data key file, HOME/keys/store.key (see
 * storekey.h for the format and its invariants).
 *
 * Untrusted input: a key file may have been damaged or crafted.  Its size
 * is checked before a byte of it is used, and its KDF parameters are
 * bounded (no file makes this code run Argon2id with more than 4 GiB or
 * more than 64 passes) before the passphrase is stretched with them.
 */
#include "storekey.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "keys.h"

static const unsigned char MAGIC[8] = {'F', 'S', 'D', 'A', 'T', 'A', 'K', 'Y'};
#define KDF_ARGON2ID13 1u
#define AD_LEN 64
#define OFF_NONCE 64
#define OFF_CT 88
#define CT_LEN (FSI_DATA_KEY_SIZE + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define OPSLIMIT_CAP 64ull
#define MEMLIMIT_CAP (4ull << 30)

_Static_assert(OFF_CT + CT_LEN == FSI_STOREKEY_FILE_SIZE, "store.key layout");
_Static_assert(crypto_pwhash_SALTBYTES == 16, "store.key salt size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "store.key nonce size");

void fsi_storekey_params(uint64_t *opslimit, uint64_t *memlimit) {
  *opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
  *memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
#ifdef FS_TEST_HOOKS
  const char *weak = getenv("FS_TEST_WEAK_KDF");
  if (weak && strcmp(weak, "1") == 0) {
    *opslimit = crypto_pwhash_OPSLIMIT_MIN;
    *memlimit = crypto_pwhash_MEMLIMIT_MIN;
  }
#endif
}

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static int is_device_id(const char *s, size_t n) {
  if (n != FSI_DEVICE_ID_LEN) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* The whole file into buf[FSI_STOREKEY_FILE_SIZE], refusing one that group
 * or others can access, or of another size. */
static int read_file(unsigned char *buf, const char *path) {
  struct stat sb;
  size_t off = 0;
  int rc = FS_OK, fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return fsi_fail(FS_ENOTFOUND, "the key file %s does not exist", path);
    return fsi_fail(FS_EIO, "cannot open the key file %s: %s", path, strerror(errno));
  }
  if (fstat(fd, &sb) != 0) {
    rc = fsi_fail(FS_EIO, "cannot stat the key file %s: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(sb.st_mode)) {
    rc = fsi_fail(FS_ECORRUPT, "the key file %s is not a regular file", path);
    goto done;
  }
  if (sb.st_mode & 077) {
    rc = fsi_fail(FS_EAUTH,
                  "the key file %s has mode %04o and is accessible by group or others; "
                  "run: chmod 600 %s",
                  path, (unsigned)(sb.st_mode & 07777), path);
    goto done;
  }
  if (sb.st_size != FSI_STOREKEY_FILE_SIZE) {
    rc = fsi_fail(FS_ECORRUPT, "the key file %s is damaged: %lld bytes, expected %d", path,
                  (long long)sb.st_size, FSI_STOREKEY_FILE_SIZE);
    goto done;
  }
  while (off < FSI_STOREKEY_FILE_SIZE) {
    ssize_t r = read(fd, buf + off, FSI_STOREKEY_FILE_SIZE - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = r == 0 ? fsi_fail(FS_ECORRUPT, "the key file %s is damaged: it is truncated", path)
                  : fsi_fail(FS_EIO, "cannot read the key file %s: %s", path, strerror(errno));
      goto done;
    }
    off += (size_t)r;
  }
done:
  close(fd);
  return rc;
}

/* Checks the header of a file read whole and fills *out. */
static int parse(fsi_storekey_info *out, const unsigned char *buf, const char *path) {
  if (memcmp(buf, MAGIC, sizeof MAGIC) != 0)
    return fsi_fail(FS_ECORRUPT, "%s is not a fieldsync key file (or it is damaged)", path);
  uint32_t format = get32(buf + 8), kdf = get32(buf + 12);
  if (format != FSI_STOREKEY_FORMAT)
    return fsi_fail(FS_EVERSION,
                    "the key file %s has format %u, which this fieldsync (%s) does not "
                    "know; upgrade fieldsync",
                    path, format, FS_VERSION_STRING);
  uint64_t ops = get64(buf + 16), mem = get64(buf + 24);
  if (kdf != KDF_ARGON2ID13 || ops < crypto_pwhash_OPSLIMIT_MIN || ops > OPSLIMIT_CAP ||
      mem < crypto_pwhash_MEMLIMIT_MIN || mem > MEMLIMIT_CAP || mem > SIZE_MAX)
    return fsi_fail(FS_ECORRUPT,
                    "the key file %s is damaged: its key derivation parameters are out of "
                    "bounds",
                    path);
  if (!is_device_id((const char *)buf + 48, FSI_DEVICE_ID_LEN))
    return fsi_fail(FS_ECORRUPT, "the key file %s is damaged: its device id is not valid", path);
  memcpy(out->device_id, buf + 48, FSI_DEVICE_ID_LEN);
  out->device_id[FSI_DEVICE_ID_LEN] = '\0';
  out->format = format;
  out->opslimit = ops;
  out->memlimit = mem;
  return FS_OK;
}

int fsi_storekey_read_info(fsi_storekey_info *out, const char *path) {
  unsigned char buf[FSI_STOREKEY_FILE_SIZE];
  int rc = read_file(buf, path);
  if (!rc) rc = parse(out, buf, path);
  return rc;
}

/* The wrapping key from the passphrase: Argon2id with the given cost. */
static int derive(unsigned char *wk, const char *pass, size_t pass_len, const unsigned char *salt,
                  uint64_t ops, uint64_t mem) {
  if (crypto_pwhash(wk, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, pass, pass_len, salt, ops,
                    (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return fsi_fail(FS_ENOMEM,
                    "the passphrase could not be stretched: Argon2id needs %llu MiB of "
                    "memory, which this system refused",
                    (unsigned long long)(mem >> 20));
  return FS_OK;
}

int fsi_storekey_unwrap(unsigned char *key, fsi_storekey_info *info, const char *path,
                        const char *pass, size_t pass_len) {
  unsigned char buf[FSI_STOREKEY_FILE_SIZE];
  unsigned char *wk = NULL;
  fsi_storekey_info in;
  int rc = fsi_keys_init();
  if (rc) return rc;
  if ((rc = read_file(buf, path)) || (rc = parse(&in, buf, path))) goto done;
  if (!(wk = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = derive(wk, pass, pass_len, buf + 32, in.opslimit, in.memlimit))) goto done;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, buf + OFF_CT, CT_LEN, buf, AD_LEN,
                                                 buf + OFF_NONCE, wk) != 0) {
    rc = fsi_fail(FS_EAUTH, "the passphrase is wrong (or the key file %s was altered)", path);
    goto done;
  }
  if (info) *info = in;
done:
  sodium_free(wk); /* wipes it */
  if (rc) sodium_memzero(key, FSI_DATA_KEY_SIZE);
  return rc;
}

/* Creates dir/store.key.XXXXXX holding buf, mode 0600, fsync'd; its path
 * into tmp. */
static int write_temp(char *tmp, size_t cap, const char *path, const unsigned char *buf) {
  size_t off = 0;
  if ((size_t)snprintf(tmp, cap, "%s.XXXXXX", path) >= cap)
    return fsi_fail(FS_EINVAL, "the key file path %s is too long", path);
  int fd = mkstemp(tmp), rc = FS_OK;
  if (fd < 0) return fsi_fail(FS_EIO, "cannot create a file next to %s: %s", path, strerror(errno));
  if (fchmod(fd, 0600) != 0) {
    rc = fsi_fail(FS_EIO, "cannot set the mode of %s: %s", tmp, strerror(errno));
    goto done;
  }
  while (off < FSI_STOREKEY_FILE_SIZE) {
    ssize_t w = write(fd, buf + off, FSI_STOREKEY_FILE_SIZE - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      rc = fsi_fail(FS_EIO, "cannot write %s: %s", tmp, strerror(errno));
      goto done;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0) rc = fsi_fail(FS_EIO, "cannot sync %s: %s", tmp, strerror(errno));
done:
  close(fd);
  if (rc) unlink(tmp);
  return rc;
}

/* fsync of the directory holding path, so that a rename survives a crash. */
static int sync_dir(const char *path) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    dir[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fsi_fail(FS_EIO, "cannot open the directory %s: %s", dir, strerror(errno));
  int rc = fsync(fd) == 0 ? FS_OK : fsi_fail(FS_EIO, "cannot sync %s: %s", dir, strerror(errno));
  close(fd);
  return rc;
}

int fsi_storekey_wrap(const char *path, const char *device_id, const unsigned char *key,
                      const char *pass, size_t pass_len, int replace) {
  unsigned char buf[FSI_STOREKEY_FILE_SIZE];
  unsigned char *wk = NULL;
  char tmp[PATH_MAX];
  uint64_t ops, mem;
  int rc = fsi_keys_init();
  if (rc) return rc;
  if (!device_id || !is_device_id(device_id, strlen(device_id)))
    return fsi_fail(FS_EINVAL, "not a device id: %s", device_id ? device_id : "(none)");
  if (!replace && access(path, F_OK) == 0)
    return fsi_fail(FS_EEXIST, "the key file %s already exists; refusing to overwrite it", path);
  fsi_storekey_params(&ops, &mem);
  memcpy(buf, MAGIC, sizeof MAGIC);
  put32(buf + 8, FSI_STOREKEY_FORMAT);
  put32(buf + 12, KDF_ARGON2ID13);
  put64(buf + 16, ops);
  put64(buf + 24, mem);
  randombytes_buf(buf + 32, crypto_pwhash_SALTBYTES);
  memcpy(buf + 48, device_id, FSI_DEVICE_ID_LEN);
  randombytes_buf(buf + OFF_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  if (!(wk = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = derive(wk, pass, pass_len, buf + 32, ops, mem))) goto done;
  crypto_aead_xchacha20poly1305_ietf_encrypt(buf + OFF_CT, NULL, key, FSI_DATA_KEY_SIZE, buf,
                                             AD_LEN, NULL, buf + OFF_NONCE, wk);
  if ((rc = write_temp(tmp, sizeof tmp, path, buf))) goto done;
  if (replace) {
    if (rename(tmp, path) != 0)
      rc = fsi_fail(FS_EIO, "cannot replace the key file %s: %s", path, strerror(errno));
  } else if (link(tmp, path) != 0) {
    rc = errno == EEXIST
             ? fsi_fail(FS_EEXIST, "the key file %s already exists; refusing to overwrite it", path)
             : fsi_fail(FS_EIO, "cannot create the key file %s: %s", path, strerror(errno));
  }
  if (rc || !replace) unlink(tmp);
  if (!rc) rc = sync_dir(path);
done:
  sodium_free(wk);
  sodium_memzero(buf, sizeof buf);
  return rc;
}
