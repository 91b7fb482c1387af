/*
 * test_keys.c — sync/keys.c: identity files are created 0600 and never
 * overwritten, loading refuses loose permissions, wrong sizes and
 * mismatched halves, and the fingerprint is the documented SHA-256.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"
#include "testutil.h"

static char *path_in(const char *dir, const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static int mode_of(const char *dir, const char *name) {
  struct stat st;
  if (stat(path_in(dir, name), &st) != 0) return -1;
  return (int)(st.st_mode & 07777);
}

static void test_generate_and_load(void) {
  char *dir = tu_tmpdir("keys");
  fsi_keys k, again;
  fsi_pubkeys pub;
  CHECK_OK(fsi_keys_generate(dir));
  CHECK_EQ_INT(mode_of(dir, "sign.key"), 0600);
  CHECK_EQ_INT(mode_of(dir, "kx.key"), 0600);
  CHECK_EQ_INT(mode_of(dir, "sign.pub"), 0644);
  CHECK_EQ_INT(mode_of(dir, "kx.pub"), 0644);
  CHECK_OK(fsi_keys_load(&k, dir));
  CHECK_OK(fsi_keys_load_public(&pub, dir));
  CHECK(memcmp(&pub, &k.pub, sizeof pub) == 0);
  CHECK_OK(fsi_keys_load(&again, dir));
  CHECK(memcmp(&again, &k, sizeof k) == 0);

  /* The keys work: a signature made with the loaded secret verifies. */
  uint8_t sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, k.sign_sk);
  CHECK(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, pub.sign) == 0);

  fsi_keys_wipe(&k);
  CHECK(sodium_is_zero((const uint8_t *)&k, sizeof k));
  fsi_keys_wipe(NULL);
  fsi_keys_wipe(&again);
  tu_rmrf(dir);
  free(dir);
}

static void test_no_overwrite(void) {
  char *dir = tu_tmpdir("keys");
  fsi_pubkeys before, after;
  CHECK_OK(fsi_keys_generate(dir));
  CHECK_OK(fsi_keys_load_public(&before, dir));
  CHECK_ERR(fsi_keys_generate(dir), FS_EEXIST);
  CHECK_CONTAINS(fs_errmsg(), "already exists");
  CHECK_OK(fsi_keys_load_public(&after, dir));
  CHECK(memcmp(&before, &after, sizeof before) == 0);

  /* Even one leftover file refuses the whole identity. */
  char *dir2 = tu_tmpdir("keys");
  CHECK_OK(tu_write_file(path_in(dir2, "kx.pub"), "x"));
  CHECK_ERR(fsi_keys_generate(dir2), FS_EEXIST);
  CHECK_CONTAINS(fs_errmsg(), "kx.pub");
  CHECK(mode_of(dir2, "sign.key") == -1); /* nothing written */
  tu_rmrf(dir);
  tu_rmrf(dir2);
  free(dir);
  free(dir2);
}

static void test_permissions(void) {
  char *dir = tu_tmpdir("keys");
  fsi_keys k;
  CHECK_OK(fsi_keys_generate(dir));
  CHECK(chmod(path_in(dir, "sign.key"), 0644) == 0);
  CHECK_ERR(fsi_keys_load(&k, dir), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "sign.key");
  CHECK_CONTAINS(fs_errmsg(), "chmod 600");
  CHECK(sodium_is_zero((const uint8_t *)&k, sizeof k)); /* wiped on failure */
  CHECK(chmod(path_in(dir, "sign.key"), 0600) == 0);
  CHECK(chmod(path_in(dir, "kx.key"), 0640) == 0);
  CHECK_ERR(fsi_keys_load(&k, dir), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "kx.key");
  CHECK(chmod(path_in(dir, "kx.key"), 0602) == 0); /* world-writable counts too */
  CHECK_ERR(fsi_keys_load(&k, dir), FS_EAUTH);
  CHECK(chmod(path_in(dir, "kx.key"), 0400) == 0); /* stricter is fine */
  CHECK_OK(fsi_keys_load(&k, dir));
  fsi_keys_wipe(&k);
  tu_rmrf(dir);
  free(dir);
}

static void test_corrupt(void) {
  char *dir = tu_tmpdir("keys"), *other = tu_tmpdir("keys");
  fsi_keys k;
  fsi_pubkeys pub;
  CHECK_OK(fsi_keys_generate(dir));
  CHECK_OK(fsi_keys_generate(other));

  /* Wrong size. */
  CHECK(truncate(path_in(dir, "kx.key"), 31) == 0);
  CHECK_ERR(fsi_keys_load(&k, dir), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "31 bytes, expected 32");
  CHECK(truncate(path_in(dir, "sign.pub"), 33) == 0);
  CHECK_ERR(fsi_keys_load_public(&pub, dir), FS_ECORRUPT);
  tu_rmrf(dir);
  CHECK(mkdir(dir, 0700) == 0);

  /* Halves of two identities. */
  CHECK_OK(fsi_keys_generate(dir));
  size_t n = 0;
  char *src = tu_read_file(path_in(other, "sign.pub"), &n);
  CHECK(n == 32);
  {
    int fd = open(path_in(dir, "sign.pub"), O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, src, n) == (ssize_t)n);
    close(fd);
  }
  free(src);
  CHECK_ERR(fsi_keys_load(&k, dir), FS_ECORRUPT);
  CHECK_CONTAINS(fs_errmsg(), "do not belong together");

  /* Missing. */
  CHECK_ERR(fsi_keys_load(&k, "/nonexistent/fieldsync-keys"), FS_ENOTFOUND);
  CHECK_CONTAINS(fs_errmsg(), "does not exist");
  tu_rmrf(dir);
  tu_rmrf(other);
  free(dir);
  free(other);
}

static void test_fingerprint(void) {
  fsi_keys a, b;
  char fa[KEYS_FINGERPRINT_SIZE], fb[KEYS_FINGERPRINT_SIZE], hex[KEYS_PUB_HEX_SIZE];
  uint8_t cat[64], h[32];
  char expect[65];
  fsi_pubkeys back;
  CHECK_OK(fsi_keys_new(&a));
  CHECK_OK(fsi_keys_new(&b));
  fsi_keys_fingerprint(fa, &a.pub);
  fsi_keys_fingerprint(fb, &b.pub);
  memcpy(cat, a.pub.sign, 32);
  memcpy(cat + 32, a.pub.kx, 32);
  crypto_hash_sha256(h, cat, sizeof cat);
  sodium_bin2hex(expect, sizeof expect, h, sizeof h);
  CHECK_STR(fa, expect);
  CHECK_EQ_INT(strlen(fa), 64);
  CHECK(strcmp(fa, fb) != 0);

  fsi_keys_pub_to_hex(hex, &a.pub);
  CHECK_EQ_INT(strlen(hex), 128);
  CHECK_OK(fsi_keys_pub_from_hex(&back, hex));
  CHECK(memcmp(&back, &a.pub, sizeof back) == 0);
  hex[127] = 'g';
  CHECK_ERR(fsi_keys_pub_from_hex(&back, hex), FS_EINVAL);
  hex[127] = '\0';
  CHECK_ERR(fsi_keys_pub_from_hex(&back, hex), FS_EINVAL);
  CHECK_ERR(fsi_keys_pub_from_hex(&back, NULL), FS_EINVAL);
  fsi_keys_wipe(&a);
  fsi_keys_wipe(&b);
}

int main(void) {
  TEST_RUN(test_generate_and_load);
  TEST_RUN(test_no_overwrite);
  TEST_RUN(test_permissions);
  TEST_RUN(test_corrupt);
  TEST_RUN(test_fingerprint);
  return tu_finish();
}
