/*
 * test_storekey.c — a device's keys at rest (sync/storekey.c, the sealed
 * identity of sync/keys.c) and the lock of the device API (sync/device.c):
 * the data key file unwraps with its passphrase only, records its Argon2id
 * parameters, reports damage as damage and is replaced atomically; the
 * identity opens under its own data key only; a device opens locked,
 * unlocks with the passphrase or the key and with nothing else, locks
 * again, changes its passphrase without rewriting its store, refuses a
 * home of an older version, and caches its key in the session keyring.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <keyutils.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyring.h"
#include "keys.h"
#include "storekey.h"
#include "testutil.h"

#define PASS "orange kettle on the moon"
#define DEV_ID "0123456789abcdef"

static char *path_in(const char *dir, const char *name) {
  static char buf[8][4096];
  static int i;
  char *b = buf[i++ % 8];
  snprintf(b, 4096, "%s/%s", dir, name);
  return b;
}

static int write_bytes(const char *path, const unsigned char *b, size_t n) {
  int fd = open(path, O_WRONLY | O_TRUNC);
  if (fd < 0) return -1;
  int ok = write(fd, b, n) == (ssize_t)n;
  close(fd);
  return ok ? 0 : -1;
}

/* A fresh key file for DEV_ID under PASS in dir; the key into key. */
static char *new_key_file(const char *dir, unsigned char key[FSI_DATA_KEY_SIZE]) {
  char *p = path_in(dir, "store.key");
  randombytes_buf(key, FSI_DATA_KEY_SIZE);
  CHECK_OK(fsi_storekey_wrap(p, DEV_ID, key, PASS, strlen(PASS), 0));
  return p;
}

static int entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  if (d) closedir(d);
  return n;
}

/* ------------------------------------------------------- the key file */

static void test_wrap_unwrap(void) {
  char *dir = tu_tmpdir("storekey");
  unsigned char key[FSI_DATA_KEY_SIZE], out[FSI_DATA_KEY_SIZE];
  fsi_storekey_info info;
  struct stat sb;
  CHECK_OK(fsi_keys_init());
  char *p = new_key_file(dir, key);
  CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  CHECK_EQ_INT(sb.st_size, FSI_STOREKEY_FILE_SIZE);
  CHECK_EQ_INT(entries(dir), 1); /* no temporary file left beside it */
  CHECK_OK(fsi_storekey_unwrap(out, &info, p, PASS, strlen(PASS)));
  CHECK(memcmp(out, key, sizeof key) == 0);
  CHECK_STR(info.device_id, DEV_ID);
  CHECK_EQ_INT(info.format, 1);

  /* the file holds the key only wrapped: not its bytes, not its hex */
  size_t n = 0;
  char *bytes = tu_read_file(p, &n), hex[2 * FSI_DATA_KEY_SIZE + 1];
  sodium_bin2hex(hex, sizeof hex, key, sizeof key);
  CHECK(bytes && !memmem(bytes, n, key, 8) && !memmem(bytes, n, hex, 16));
  CHECK(bytes && !memmem(bytes, n, PASS, strlen(PASS)));
  free(bytes);

  /* a wrong passphrase is FS_EAUTH and leaves no key behind */
  memset(out, 0x55, sizeof out);
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, "orange kettle on the mooN", strlen(PASS)), FS_EAUTH);
  CHECK(sodium_is_zero(out, sizeof out));
  CHECK_CONTAINS(fs_errmsg(), "passphrase is wrong");
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS) - 1), FS_EAUTH);

  /* never overwritten unless asked, then replaced whole */
  CHECK_ERR(fsi_storekey_wrap(p, DEV_ID, key, "another passphrase", 18, 0), FS_EEXIST);
  CHECK_OK(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)));
  CHECK_OK(fsi_storekey_wrap(p, DEV_ID, key, "another passphrase", 18, 1));
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_EAUTH);
  CHECK_OK(fsi_storekey_unwrap(out, NULL, p, "another passphrase", 18));
  CHECK(memcmp(out, key, sizeof key) == 0);
  CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  CHECK_EQ_INT(entries(dir), 1);
  CHECK_ERR(fsi_storekey_wrap(path_in(dir, "x.key"), "0123", key, PASS, strlen(PASS), 0),
            FS_EINVAL);
  tu_rmrf(dir);
  free(dir);
}

/* The Argon2id parameters are the file's own: the test builds' weak ones
 * here, libsodium's MODERATE (3 passes, 256 MiB) in a real build, and
 * either unwraps with what the file says. */
static void test_params_recorded(void) {
  char *dir = tu_tmpdir("storekey");
  unsigned char key[FSI_DATA_KEY_SIZE], out[FSI_DATA_KEY_SIZE];
  fsi_storekey_info info;
  uint64_t ops, mem;
  CHECK_OK(fsi_keys_init());
  fsi_storekey_params(&ops, &mem);
  CHECK_EQ_INT(ops, crypto_pwhash_OPSLIMIT_MIN); /* FS_TEST_WEAK_KDF=1 (testutil) */
  CHECK_EQ_INT(mem, crypto_pwhash_MEMLIMIT_MIN);
  char *p = new_key_file(dir, key);
  CHECK_OK(fsi_storekey_read_info(&info, p));
  CHECK_EQ_INT(info.opslimit, crypto_pwhash_OPSLIMIT_MIN);
  CHECK_EQ_INT(info.memlimit, crypto_pwhash_MEMLIMIT_MIN);

  /* the real cost, as a release build writes it; the weak file still
   * unwraps with its own parameters */
  setenv("FS_TEST_WEAK_KDF", "0", 1);
  fsi_storekey_params(&ops, &mem);
  CHECK_EQ_INT(ops, 3);
  CHECK_EQ_INT(mem, 256ull << 20);
  CHECK_OK(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)));
  char *strong = path_in(dir, "strong.key");
  CHECK_OK(fsi_storekey_wrap(strong, DEV_ID, key, PASS, strlen(PASS), 0));
  setenv("FS_TEST_WEAK_KDF", "1", 1);
  CHECK_OK(fsi_storekey_read_info(&info, strong));
  CHECK_EQ_INT(info.opslimit, 3);
  CHECK_EQ_INT(info.memlimit, 256ull << 20);
  CHECK_OK(fsi_storekey_unwrap(out, NULL, strong, PASS, strlen(PASS)));
  CHECK(memcmp(out, key, sizeof key) == 0);
  tu_rmrf(dir);
  free(dir);
}

/* Damage of every kind: wrong size, magic, version, parameters out of
 * bounds, an altered byte of what is authenticated, loose permissions. */
static void test_damaged_file(void) {
  char *dir = tu_tmpdir("storekey");
  unsigned char key[FSI_DATA_KEY_SIZE], out[FSI_DATA_KEY_SIZE], good[FSI_STOREKEY_FILE_SIZE],
      bad[FSI_STOREKEY_FILE_SIZE];
  fsi_storekey_info info;
  CHECK_OK(fsi_keys_init());
  char *p = new_key_file(dir, key);
  size_t n = 0;
  char *bytes = tu_read_file(p, &n);
  CHECK(bytes && n == sizeof good);
  if (!bytes || n != sizeof good) goto done;
  memcpy(good, bytes, sizeof good);
  free(bytes);

  CHECK(truncate(p, FSI_STOREKEY_FILE_SIZE - 1) == 0);
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "damaged");

  memcpy(bad, good, sizeof bad);
  bad[0] = 'X'; /* magic */
  CHECK(write_bytes(p, bad, sizeof bad) == 0);
  CHECK_ERR(fsi_storekey_read_info(&info, p), FS_ECORRUPT);
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_ECORRUPT);

  memcpy(bad, good, sizeof bad);
  bad[8] = 2; /* format 2 */
  CHECK(write_bytes(p, bad, sizeof bad) == 0);
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_EVERSION);

  memcpy(bad, good, sizeof bad);
  bad[24 + 5] = 1; /* memlimit 1 TiB: refused before any stretching */
  CHECK(write_bytes(p, bad, sizeof bad) == 0);
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "out of bounds");
  memcpy(bad, good, sizeof bad);
  bad[16] = 0; /* opslimit 0 */
  CHECK(write_bytes(p, bad, sizeof bad) == 0);
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_ECORRUPT);

  memcpy(bad, good, sizeof bad);
  bad[48] = 'g'; /* not a device id */
  CHECK(write_bytes(p, bad, sizeof bad) == 0);
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_ECORRUPT);

  /* authenticated bytes: the device id (another valid one), the salt, the
   * nonce, the ciphertext — each flip fails unwrapping, no key comes out */
  static const size_t flips[] = {48, 33, 70, 90, FSI_STOREKEY_FILE_SIZE - 1};
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    memcpy(bad, good, sizeof bad);
    bad[flips[i]] = flips[i] == 48 ? (unsigned char)'1' : (unsigned char)(bad[flips[i]] ^ 1);
    CHECK(write_bytes(p, bad, sizeof bad) == 0);
    memset(out, 0x55, sizeof out);
    CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_EAUTH);
    CHECK(sodium_is_zero(out, sizeof out));
  }

  CHECK(write_bytes(p, good, sizeof good) == 0);
  CHECK_OK(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)));
  CHECK(chmod(p, 0640) == 0);
  CHECK_ERR(fsi_storekey_unwrap(out, NULL, p, PASS, strlen(PASS)), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "chmod 600");
  CHECK_ERR(fsi_storekey_read_info(&info, path_in(dir, "none.key")), FS_ENOTFOUND);
done:
  tu_rmrf(dir);
  free(dir);
}

/* -------------------------------------------------- the sealed identity */

static void test_sealed_identity(void) {
  char *dir = tu_tmpdir("identity"), *other = tu_tmpdir("identity");
  unsigned char key[32], key2[32];
  fsi_keys k, k2;
  CHECK_OK(fsi_keys_init());
  randombytes_buf(key, sizeof key);
  randombytes_buf(key2, sizeof key2);
  CHECK_OK(fsi_keys_generate_sealed(dir, key, DEV_ID));
  CHECK_ERR(fsi_keys_generate_sealed(dir, key, DEV_ID), FS_EEXIST);
  CHECK_OK(fsi_keys_load_sealed(&k, dir, key, DEV_ID));
  uint8_t sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, k.sign_sk);
  CHECK(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, k.pub.sign) == 0);

  /* no secret byte in any file */
  static const char *const files[] = {"identity.key", "sign.pub", "kx.pub"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = 0;
    char *b = tu_read_file(path_in(dir, files[i]), &n);
    CHECK(b && !memmem(b, n, k.sign_sk, 16) && !memmem(b, n, k.kx_sk, 16));
    free(b);
  }
  CHECK(access(path_in(dir, "sign.key"), F_OK) != 0);
  CHECK(access(path_in(dir, "kx.key"), F_OK) != 0);

  CHECK_ERR(fsi_keys_load_sealed(&k2, dir, key2, DEV_ID), FS_EAUTH); /* another key */
  CHECK(sodium_is_zero((const unsigned char *)&k2, sizeof k2));
  CHECK_ERR(fsi_keys_load_sealed(&k2, dir, key, "fedcba9876543210"), FS_ECORRUPT);

  /* another identity's public key beside it: the AD no longer matches */
  CHECK_OK(fsi_keys_generate_sealed(other, key, DEV_ID));
  size_t n = 0;
  char *pub = tu_read_file(path_in(other, "sign.pub"), &n);
  CHECK(pub && n == 32);
  CHECK(chmod(path_in(dir, "sign.pub"), 0644) == 0);
  CHECK(pub && write_bytes(path_in(dir, "sign.pub"), (unsigned char *)pub, 32) == 0);
  free(pub);
  CHECK_ERR(fsi_keys_load_sealed(&k2, dir, key, DEV_ID), FS_EAUTH);
  fsi_keys_wipe(&k);
  tu_rmrf(dir);
  tu_rmrf(other);
  free(dir);
  free(other);
}

/* ---------------------------------------------------------- the device */

static int unlock_pass(fs_device *dev, const char *pass) {
  fs_unlock_opts o = FS_UNLOCK_OPTS_INIT;
  o.passphrase = pass;
  o.passphrase_len = strlen(pass);
  return fs_device_unlock(dev, &o);
}

static int unlock_key(fs_device *dev, const unsigned char *key) {
  fs_unlock_opts o = FS_UNLOCK_OPTS_INIT;
  o.key = key;
  return fs_device_unlock(dev, &o);
}

static int create(const char *home, const char *pass) {
  fs_device_init_opts o = FS_DEVICE_INIT_OPTS_INIT;
  o.manager = "anna";
  o.passphrase = pass;
  o.passphrase_len = strlen(pass);
  return fs_device_create(NULL, home, &o);
}

static void test_create_refuses(void) {
  char *dir = tu_tmpdir("device"), *home = strdup(path_in(dir, "home"));
  fs_device_init_opts o = FS_DEVICE_INIT_OPTS_INIT;
  fs_device *dev = NULL;
  o.manager = "anna";
  CHECK_ERR(create(home, "too short"), FS_EINVAL); /* 9 characters */
  CHECK_CONTAINS(fs_errmsg(), "at least 10 characters");
  CHECK(access(home, F_OK) != 0);                       /* nothing made */
  CHECK_ERR(create(home, "äöüßéèêëïî" + 2), FS_EINVAL); /* 9 characters, 18 bytes */
  CHECK_ERR(fs_device_create(NULL, home, &o), FS_EINVAL);
  o.version = 0;
  CHECK_ERR(fs_device_create(NULL, home, &o), FS_EINVAL);
  o.version = FS_DEVICE_INIT_OPTS_VERSION + 1;
  CHECK_ERR(fs_device_create(NULL, home, &o), FS_EVERSION);
  CHECK(access(home, F_OK) != 0);
  CHECK_OK(create(home, "äöüßéèêëïî")); /* 10 characters */
  CHECK_OK(fs_device_open(&dev, home, NULL));
  CHECK_OK(unlock_pass(dev, "äöüßéèêëïî"));
  fs_device_close(dev);
  CHECK_ERR(create(home, PASS), FS_EEXIST);
  tu_rmrf(dir);
  free(home);
  free(dir);
}

static void test_locked_until_unlocked(void) {
  char *dir = tu_tmpdir("device"), *home = strdup(path_in(dir, "home"));
  fs_device *dev = NULL;
  fs_device_init_opts o = FS_DEVICE_INIT_OPTS_INIT;
  o.manager = "anna";
  o.passphrase = PASS;
  o.passphrase_len = strlen(PASS);
  CHECK_OK(fs_device_create(&dev, home, &o)); /* returned unlocked */
  CHECK(!fs_device_locked(dev));
  char id[32];
  snprintf(id, sizeof id, "%s", fs_device_id(dev));
  CHECK_STR(fs_store_device_id(fs_device_store(dev)), id);
  CHECK_OK(fs_insert(NULL, fs_device_store(dev), "customers", (fs_field[]){{"name", "Acme"}}, 1));
  fs_device_lock(dev);
  CHECK(fs_device_locked(dev));
  CHECK(fs_device_store(dev) == NULL);
  CHECK_CONTAINS(fs_errmsg(), "is locked: run `fieldsync unlock`");
  fs_device_close(dev);

  CHECK_OK(fs_device_open(&dev, home, NULL));
  if (!dev) goto done;
  CHECK(fs_device_locked(dev));
  CHECK_STR(fs_device_id(dev), id); /* known while locked */
  CHECK(fs_device_store(dev) == NULL);
  fs_sync_stats stats = FS_SYNC_STATS_INIT;
  CHECK_ERR(fs_sync(&stats, dev, NULL), FS_ELOCKED);
  CHECK_CONTAINS(fs_errmsg(), "locked");
  fs_enroll_opts eo = FS_ENROLL_OPTS_INIT;
  eo.url = "https://127.0.0.1:1";
  eo.token = "fst-x";
  eo.pin = "sha256//x";
  CHECK_ERR(fs_enroll(dev, &eo), FS_ELOCKED);
  CHECK_STR(fs_strerror(FS_ELOCKED), "locked");

  CHECK_ERR(unlock_pass(dev, "orange kettle on the sun"), FS_EAUTH);
  CHECK(fs_device_locked(dev));
  unsigned char wrong[32];
  randombytes_buf(wrong, sizeof wrong);
  CHECK_ERR(unlock_key(dev, wrong), FS_EAUTH);
  CHECK(fs_device_locked(dev));
  fs_unlock_opts both = FS_UNLOCK_OPTS_INIT;
  both.passphrase = PASS;
  both.passphrase_len = strlen(PASS);
  both.key = wrong;
  CHECK_ERR(fs_device_unlock(dev, &both), FS_EINVAL);
  fs_unlock_opts neither = FS_UNLOCK_OPTS_INIT;
  CHECK_ERR(fs_device_unlock(dev, &neither), FS_EINVAL);

  CHECK_OK(unlock_pass(dev, PASS));
  CHECK(!fs_device_locked(dev));
  CHECK_OK(unlock_pass(dev, PASS)); /* unlocked already: fine */
  char *doc = NULL;
  CHECK_OK(fs_view_json(&doc, fs_device_store(dev), "customers", NULL));
  CHECK_CONTAINS(doc, "Acme");
  fs_free(doc);
  fs_device_lock(dev);

  /* the data key itself (as head office's recovery will give it) */
  unsigned char key[FSI_DATA_KEY_SIZE];
  CHECK_OK(fsi_storekey_unwrap(key, NULL, path_in(home, "keys/store.key"), PASS, strlen(PASS)));
  CHECK_OK(unlock_key(dev, key));
  CHECK(!fs_device_locked(dev));
  sodium_memzero(key, sizeof key);
  fs_device_close(dev);
done:
  tu_rmrf(dir);
  free(home);
  free(dir);
}

static long long mtime_ns(const char *p) {
  struct stat sb;
  if (stat(p, &sb) != 0) return -1;
  return (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
}

/* A new passphrase rewraps the key: the old one stops working, the new
 * one works, the data is there, and the store file is not touched. */
static void test_change_passphrase(void) {
  char *dir = tu_tmpdir("device"), *home = strdup(path_in(dir, "home"));
  char *store = strdup(path_in(home, "store.db")),
       *keyfile = strdup(path_in(home, "keys/store.key"));
  fs_device *dev = NULL;
  size_t n0 = 0, k0 = 0;
  char *before = NULL, *kbefore = NULL;
  CHECK_OK(create(home, PASS));
  CHECK_OK(fs_device_open(&dev, home, NULL));
  if (!dev) goto done;
  CHECK_OK(unlock_pass(dev, PASS));
  CHECK_OK(fs_insert(NULL, fs_device_store(dev), "customers", (fs_field[]){{"name", "Acme"}}, 1));
  fs_device_close(dev);
  dev = NULL;
  before = tu_read_file(store, &n0);
  kbefore = tu_read_file(keyfile, &k0);
  long long m0 = mtime_ns(store);

  CHECK_OK(fs_device_open(&dev, home, NULL));
  if (!dev) goto done;
  CHECK_ERR(fs_device_change_passphrase(dev, "not the passphrase", 18, "brand new passphrase", 20),
            FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "nothing was changed");
  size_t k1 = 0;
  char *kafter = tu_read_file(keyfile, &k1);
  CHECK(kbefore && kafter && k0 == k1 && memcmp(kbefore, kafter, k0) == 0);
  free(kafter);
  CHECK_ERR(fs_device_change_passphrase(dev, PASS, strlen(PASS), "short", 5), FS_EINVAL);
  CHECK_OK(fs_device_change_passphrase(dev, PASS, strlen(PASS), "brand new passphrase", 20));
  CHECK_ERR(unlock_pass(dev, PASS), FS_EAUTH);
  CHECK_OK(unlock_pass(dev, "brand new passphrase"));
  char *doc = NULL;
  if (!fs_device_locked(dev)) {
    CHECK_OK(fs_view_json(&doc, fs_device_store(dev), "customers", NULL));
    CHECK_CONTAINS(doc, "Acme");
    fs_free(doc);
  }
  fs_device_close(dev);
  dev = NULL;
  /* opening and reading may checkpoint; the bytes of every page are the
   * same as before the change: nothing was re-encrypted */
  size_t n1 = 0;
  char *after = tu_read_file(store, &n1);
  CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
  CHECK_EQ_INT(mtime_ns(store), m0);
  struct stat sb;
  CHECK(stat(keyfile, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  CHECK_EQ_INT(entries(path_in(home, "keys")), 4); /* store.key, identity.key, 2 public */
  free(after);
done:
  free(before);
  free(kbefore);
  fs_device_close(dev);
  tu_rmrf(dir);
  free(store);
  free(keyfile);
  free(home);
  free(dir);
}

/* A home of fieldsync 0.2 (a plain store and raw key files) is refused
 * with a sentence, and left as it was. */
static void test_plain_home_refused(void) {
  char *dir = tu_tmpdir("device"), *home = strdup(path_in(dir, "old"));
  fs_store *st = NULL;
  fs_device *dev = NULL;
  CHECK(mkdir(home, 0700) == 0 && mkdir(path_in(home, "keys"), 0700) == 0);
  CHECK_OK(fsi_keys_generate(path_in(home, "keys")));
  CHECK_OK(fs_store_open(&st, path_in(home, "store.db"), NULL, FS_OPEN_CREATE));
  fs_store_close(st);
  size_t n0 = 0;
  char *before = tu_read_file(path_in(home, "store.db"), &n0);
  CHECK_ERR(fs_device_open(&dev, home, NULL), FS_EVERSION);
  CHECK(dev == NULL);
  CHECK_CONTAINS(fs_errmsg(), "not encrypted");
  CHECK_CONTAINS(fs_errmsg(), "fieldsync init");
  size_t n1 = 0;
  char *after = tu_read_file(path_in(home, "store.db"), &n1);
  CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
  free(before);
  free(after);
  /* a store without its key file is damage, not an old home */
  CHECK(unlink(path_in(home, "keys/sign.key")) == 0);
  CHECK_ERR(fs_device_open(&dev, home, NULL), FS_ECORRUPT);
  tu_rmrf(dir);
  free(home);
  free(dir);
}

/* Two homes put together (one's key file in the other) never unlock. */
static void test_mixed_homes(void) {
  char *dir = tu_tmpdir("device"), *a = strdup(path_in(dir, "a")), *b = strdup(path_in(dir, "b"));
  fs_device *dev = NULL;
  CHECK_OK(create(a, PASS));
  CHECK_OK(create(b, PASS));
  char *kb = strdup(path_in(b, "keys/store.key"));
  CHECK(rename(kb, path_in(a, "keys/store.key")) == 0);
  CHECK_OK(fs_device_open(&dev, a, NULL));
  if (dev) CHECK(unlock_pass(dev, PASS) != FS_OK);
  CHECK(fs_device_locked(dev));
  fs_device_close(dev);
  free(kb);
  tu_rmrf(dir);
  free(a);
  free(b);
  free(dir);
}

/* ------------------------------------------------------------ keyring */

/* A session keyring of this process's own, so that nothing here touches
 * the user's; 0 when the kernel offers none. */
static int private_keyring(void) {
  static int state; /* 0 unknown, 1 joined, -1 none */
  if (!state) state = keyctl_join_session_keyring(NULL) >= 0 ? 1 : -1;
  if (state < 0)
    printf("SKIP %s: no kernel keyring here (keyctl_join_session_keyring failed)\n", tu_case);
  return state > 0;
}

static void test_keyring_cache(void) {
  char *dir = tu_tmpdir("device"), *home = strdup(path_in(dir, "home"));
  fs_device *dev = NULL, *other = NULL;
  if (!private_keyring()) goto done;
  CHECK_OK(create(home, PASS));
  CHECK_OK(fs_device_open(&dev, home, NULL));
  CHECK_OK(fs_device_open(&other, home, NULL));
  if (!dev || !other) goto done;
  CHECK_ERR(fs_device_unlock_cached(other), FS_ELOCKED);
  CHECK_CONTAINS(fs_errmsg(), "run `fieldsync unlock`");
  CHECK_ERR(fs_device_cache_key(dev, 60), FS_ELOCKED); /* a locked device has no key */
  CHECK_OK(unlock_pass(dev, PASS));
  CHECK_ERR(fs_device_cache_key(dev, -1), FS_EINVAL);
  CHECK_ERR(fs_device_cache_key(dev, FS_KEY_CACHE_MAX_S + 1), FS_EINVAL);
  CHECK_OK(fs_device_cache_key(dev, 60));

  /* the key as the kernel holds it: this device's, for this session only */
  char desc[64];
  snprintf(desc, sizeof desc, "fieldsync:%s", fs_device_id(dev));
  key_serial_t k = (key_serial_t)keyctl_search(KEY_SPEC_SESSION_KEYRING, "user", desc, 0);
  CHECK(k > 0);
  char *info = NULL;
  if (k > 0 && keyctl_describe_alloc(k, &info) >= 0) {
    /* "user;uid;gid;perm;desc": possessor all, user view only */
    CHECK_CONTAINS(info, ";3f010000;");
    free(info);
  }

  CHECK_OK(fs_device_unlock_cached(other));
  CHECK(!fs_device_locked(other));
  fs_device_lock(other);
  CHECK_OK(fs_device_forget_key(dev));
  CHECK(keyctl_search(KEY_SPEC_SESSION_KEYRING, "user", desc, 0) < 0);
  CHECK_ERR(fs_device_unlock_cached(other), FS_ELOCKED);
  CHECK_OK(fs_device_forget_key(dev)); /* none cached: fine */

  /* a cached key that does not open the device is dropped */
  unsigned char junk[FSI_DATA_KEY_SIZE];
  randombytes_buf(junk, sizeof junk);
  CHECK_OK(fsi_keyring_put(fs_device_id(dev), junk, 60));
  CHECK_ERR(fs_device_unlock_cached(other), FS_ELOCKED);
  CHECK(keyctl_search(KEY_SPEC_SESSION_KEYRING, "user", desc, 0) < 0);

  /* the kernel's timeout */
  CHECK_OK(fs_device_cache_key(dev, 1));
  CHECK_OK(fs_device_unlock_cached(other));
  fs_device_lock(other);
  sleep(2);
  CHECK_ERR(fs_device_unlock_cached(other), FS_ELOCKED);
done:
  fs_device_close(dev);
  fs_device_close(other);
  tu_rmrf(dir);
  free(home);
  free(dir);
}

int main(void) {
  TEST_RUN(test_wrap_unwrap);
  TEST_RUN(test_params_recorded);
  TEST_RUN(test_damaged_file);
  TEST_RUN(test_sealed_identity);
  TEST_RUN(test_create_refuses);
  TEST_RUN(test_locked_until_unlocked);
  TEST_RUN(test_change_passphrase);
  TEST_RUN(test_plain_home_refused);
  TEST_RUN(test_mixed_homes);
  TEST_RUN(test_keyring_cache);
  return tu_finish();
}
