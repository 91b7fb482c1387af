/*
 * test_hqmsg.c — head office's signed orders to a device (sync/hqmsg.c)
 * and what a device does with them (sync/lease.c, sync/wipe.c):
 *  - messages: a genuine lease and wipe order verify; one signed by
 *    another key, for another device, altered in any byte of text or
 *    signature, of the other kind, or not in canonical form is refused;
 *  - lease: on an enrolled home (head office's key pinned) the lease holds
 *    until its end by a clock the test drives (fsi_util_set_clock), then
 *    fs_device_unlock refuses with FS_ELEASE and the sentence, nothing
 *    opened; a fresh lease renews it; a missing or forged lease file
 *    counts as expired; a forged lease is never saved; a home never
 *    enrolled is not restricted; a v1 fs_unlock_opts still works;
 *  - wipe: a forged order (other key, other device, altered) is refused
 *    and deletes nothing; fsi_wipe_home and fs_device_wipe leave none of
 *    the home's files and no byte of its customer data.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deviceInt.h"
#include "engine.h"
#include "hqmsg.h"
#include "keys.h"
#include "lease.h"
#include "testutil.h"
#include "wipe.h"

#define DAY_MS (24LL * 3600 * 1000)
#define T0 1780000000000LL /* 2026-05-28 */
#define CUSTOMER "Kesselflicker Wittenberg KG"

static int64_t g_now = T0;
static int64_t test_clock(void *user) {
  (void)user;
  return g_now;
}

static fsi_keys g_hq, g_evil;

static fsi_hqmsg lease_msg(const char *dev, int64_t issued, int64_t until) {
  fsi_hqmsg m;
  memset(&m, 0, sizeof m);
  m.kind = HQMSG_LEASE;
  snprintf(m.device, sizeof m.device, "%s", dev);
  m.issued = issued;
  m.until = until;
  return m;
}

static fsi_hqmsg wipe_msg(const char *dev, int64_t ordered) {
  fsi_hqmsg m = lease_msg(dev, ordered, 0);
  m.kind = HQMSG_WIPE;
  return m;
}

static void test_messages(void) {
  char text[HQMSG_TEXT_MAX], sig[HQMSG_SIG_HEX], t2[HQMSG_TEXT_MAX], s2[HQMSG_SIG_HEX];
  fsi_hqmsg m = lease_msg("00112233aabbccdd", T0, T0 + 14 * DAY_MS), out;
  CHECK_OK(fsi_hqmsg_sign(text, sig, &m, g_hq.sign_sk));
  CHECK_STR(text, "fieldsync-lease-v1\n00112233aabbccdd\n1780000000000\n1781209600000");
  CHECK_OK(fsi_hqmsg_verify(&out, HQMSG_LEASE, text, sig, &g_hq.pub, "00112233aabbccdd", "x"));
  CHECK_EQ_INT(out.until, T0 + 14 * DAY_MS);
  CHECK_EQ_INT(out.issued, T0);
  /* signed by another key */
  CHECK_OK(fsi_hqmsg_sign(t2, s2, &m, g_evil.sign_sk));
  CHECK_ERR(fsi_hqmsg_verify(&out, HQMSG_LEASE, t2, s2, &g_hq.pub, "00112233aabbccdd", "the lease"),
            FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "pinned key");
  CHECK_EQ_INT(out.until, 0);
  /* another device's, genuinely signed */
  CHECK_ERR(
      fsi_hqmsg_verify(&out, HQMSG_LEASE, text, sig, &g_hq.pub, "00112233aabbccde", "the lease"),
      FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "not this device");
  /* every byte of the text altered, every byte of the signature */
  int refused = 0, bytes = 0;
  for (size_t i = 0; text[i]; i++) {
    char alt[HQMSG_TEXT_MAX];
    memcpy(alt, text, sizeof alt);
    alt[i] = alt[i] == '1' ? '2' : '1';
    bytes++;
    refused += fsi_hqmsg_verify(&out, HQMSG_LEASE, alt, sig, &g_hq.pub, "00112233aabbccdd", "x") ==
               FS_EAUTH;
  }
  for (size_t i = 0; sig[i]; i++) {
    char alt[HQMSG_SIG_HEX];
    memcpy(alt, sig, sizeof alt);
    alt[i] = alt[i] == 'a' ? 'b' : 'a';
    bytes++;
    refused += fsi_hqmsg_verify(&out, HQMSG_LEASE, text, alt, &g_hq.pub, "00112233aabbccdd", "x") ==
               FS_EAUTH;
  }
  CHECK_EQ_INT(refused, bytes);
  CHECK(bytes > 150);
  /* a lease is not a wipe order, nor the other way round */
  CHECK_ERR(fsi_hqmsg_verify(&out, HQMSG_WIPE, text, sig, &g_hq.pub, "00112233aabbccdd", "x"),
            FS_EAUTH);
  fsi_hqmsg w = wipe_msg("00112233aabbccdd", T0);
  CHECK_OK(fsi_hqmsg_sign(t2, s2, &w, g_hq.sign_sk));
  CHECK_STR(t2, "fieldsync-wipe-v1\n00112233aabbccdd\n1780000000000");
  CHECK_OK(fsi_hqmsg_verify(&out, HQMSG_WIPE, t2, s2, &g_hq.pub, "00112233aabbccdd", "x"));
  CHECK_ERR(fsi_hqmsg_verify(&out, HQMSG_LEASE, t2, s2, &g_hq.pub, "00112233aabbccdd", "x"),
            FS_EAUTH);
  /* not canonical (a leading zero, signed as such) is refused */
  const char *odd = "fieldsync-wipe-v1\n00112233aabbccdd\n01780000000000";
  unsigned char raw[crypto_sign_BYTES];
  crypto_sign_detached(raw, NULL, (const unsigned char *)odd, strlen(odd), g_hq.sign_sk);
  for (size_t i = 0; i < sizeof raw; i++) snprintf(s2 + 2 * i, 3, "%02x", raw[i]);
  CHECK_ERR(fsi_hqmsg_verify(&out, HQMSG_WIPE, odd, s2, &g_hq.pub, "00112233aabbccdd", "x"),
            FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "malformed");
  /* what cannot be signed */
  fsi_hqmsg bad = lease_msg("00112233AABBCCDD", T0, T0 + 1);
  CHECK_ERR(fsi_hqmsg_sign(text, sig, &bad, g_hq.sign_sk), FS_EINVAL);
  bad = lease_msg("00112233aabbccdd", T0, T0 - 1);
  CHECK_ERR(fsi_hqmsg_sign(text, sig, &bad, g_hq.sign_sk), FS_EINVAL);
  CHECK_STR(fs_strerror(FS_ELEASE), "lease ran out: sync to unlock");
  CHECK_STR(fs_strerror(FS_EWIPED), "wiped by head office");
}

/* ---------------------------------------------------- a device home */

static int give_lease(fs_device *dev, const fsi_keys *signer, const char *id, int64_t issued,
                      int64_t until);

/* A device home "enrolled" with the test's head office: its key pinned
 * in the store as an enrollment pins it, and (with_lease) the lease
 * enrollment gives, T0 + 14 days; a customer recorded. */
static char *enrolled_home(const char *dir, const char *name, char id[17], int with_lease) {
  char *home = malloc(4200);
  snprintf(home, 4200, "%s/%s", dir, name);
  CHECK_OK(tu_device_create(home, "anna", NULL));
  fs_device *dev = NULL;
  CHECK_OK(tu_device_open(&dev, home, NULL));
  if (!dev) return home;
  fsi_devstate_server srv;
  memset(&srv, 0, sizeof srv);
  snprintf(srv.url, sizeof srv.url, "https://127.0.0.1:1");
  snprintf(srv.pin, sizeof srv.pin, "sha256//AAAA");
  fsi_keys_pub_to_hex(srv.keys, &g_hq.pub);
  CHECK_OK(fsi_devstate_enrolled(fs_device_store(dev), &srv, 7));
  char cid[FS_ID_SIZE];
  fs_field f[] = {{"name", CUSTOMER}};
  CHECK_OK(fs_insert(cid, fs_device_store(dev), "customers", f, 1));
  snprintf(id, 17, "%s", fs_device_id(dev));
  if (with_lease) CHECK_OK(give_lease(dev, &g_hq, id, T0, T0 + 14 * DAY_MS));
  fs_device_close(dev);
  return home;
}

static int unlock_v(fs_device **dev, const char *home, unsigned version) {
  fs_unlock_opts o = FS_UNLOCK_OPTS_INIT;
  o.version = version;
  o.passphrase = TU_PASSPHRASE;
  o.passphrase_len = strlen(TU_PASSPHRASE);
  int rc = fs_device_open(dev, home, NULL);
  if (rc) return rc;
  return fs_device_unlock(*dev, &o);
}

/* Writes HOME/keys/lease as a sync leaves it, with a lease from `signer`
 * (no check: a forged file when signer is not head office). */
static void write_lease_file(const char *home, const fsi_keys *signer, const char *id,
                             int64_t issued, int64_t until) {
  char text[HQMSG_TEXT_MAX], sig[HQMSG_SIG_HEX], p[4300];
  fsi_hqmsg m = lease_msg(id, issued, until);
  CHECK_OK(fsi_hqmsg_sign(text, sig, &m, signer->sign_sk));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "text", text);
  cJSON_AddStringToObject(o, "sig", sig);
  char *doc = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  snprintf(p, sizeof p, "%s/keys/lease", home);
  CHECK(doc && tu_write_file(p, doc) == 0);
  free(doc);
}

/* Saves a lease from `signer` for `id` on the unlocked device. */
static int give_lease(fs_device *dev, const fsi_keys *signer, const char *id, int64_t issued,
                      int64_t until) {
  char text[HQMSG_TEXT_MAX], sig[HQMSG_SIG_HEX];
  fsi_hqmsg m = lease_msg(id, issued, until);
  int rc = fsi_hqmsg_sign(text, sig, &m, signer->sign_sk);
  return rc ? rc : fsi_lease_save(dev, fs_device_store(dev), text, sig);
}

static void test_lease_expiry_and_renewal(void) {
  char *dir = tu_tmpdir("hqmsg-lease"), id[17] = "", p[4300];
  fs_device *dev = NULL;
  g_now = T0;
  char *home = enrolled_home(dir, "laptop", id, 0);
  snprintf(p, sizeof p, "%s/keys/lease", home);
  /* enrolled, no lease file: locked, and the sentence says why */
  CHECK_ERR(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION), FS_ELEASE);
  CHECK_CONTAINS(fs_errmsg(), "holds no valid lease");
  CHECK_CONTAINS(fs_errmsg(), "keys/lease is missing");
  CHECK(fs_device_locked(dev));
  CHECK(fs_device_store(dev) == NULL);
  fs_device_close(dev);
  tu_rmrf(dir);
  free(home);
  free(dir);

  dir = tu_tmpdir("hqmsg-lease");
  home = enrolled_home(dir, "laptop", id, 1);
  snprintf(p, sizeof p, "%s/keys/lease", home);
  struct stat sb;
  CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  /* within it: unlocks (also a caller of fs_unlock_opts version 1) */
  g_now = T0 + 14 * DAY_MS - 1;
  CHECK_OK(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION));
  int64_t issued = 0, until = 0;
  CHECK_OK(fs_device_lease(&issued, &until, dev));
  CHECK_EQ_INT(issued, T0);
  CHECK_EQ_INT(until, T0 + 14 * DAY_MS);
  /* a forged lease, or another device's, is never saved */
  size_t n0 = 0, n1 = 0;
  char *before = tu_read_file(p, &n0);
  CHECK_ERR(give_lease(dev, &g_evil, id, T0, T0 + 300 * DAY_MS), FS_EAUTH);
  CHECK_ERR(give_lease(dev, &g_hq, "ffffffffffffffff", T0, T0 + 300 * DAY_MS), FS_EAUTH);
  char *after = tu_read_file(p, &n1);
  CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
  free(before);
  free(after);
  fs_device_close(dev);
  CHECK_OK(unlock_v(&dev, home, 1));
  fs_device_close(dev);
  /* past it: refused, nothing opened, the sentence says since when */
  g_now = T0 + 14 * DAY_MS + 1;
  CHECK_ERR(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION), FS_ELEASE);
  CHECK_CONTAINS(fs_errmsg(), "has not synced with head office since 2026-05-28");
  CHECK_CONTAINS(fs_errmsg(), "lease ran out on 2026-06-11");
  CHECK_CONTAINS(fs_errmsg(), "fieldsync unlock");
  CHECK(fs_device_locked(dev));
  CHECK(fs_device_store(dev) == NULL);
  fs_device_close(dev);
  CHECK_ERR(unlock_v(&dev, home, 1), FS_ELEASE);
  fs_device_close(dev);
  /* a sync's fresh lease renews it (3 days, as head office set) */
  write_lease_file(home, &g_hq, id, g_now, g_now + 3 * DAY_MS);
  CHECK_OK(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION));
  fs_device_close(dev);
  g_now += 3 * DAY_MS + 1;
  CHECK_ERR(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION), FS_ELEASE);
  fs_device_close(dev);
  /* a lease file replaced by a forged one (a year long) counts as expired */
  g_now = T0;
  write_lease_file(home, &g_evil, id, T0, T0 + 365 * DAY_MS);
  CHECK_ERR(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION), FS_ELEASE);
  CHECK_CONTAINS(fs_errmsg(), "keys/lease does not verify");
  fs_device_close(dev);
  /* so does another device's genuine lease */
  write_lease_file(home, &g_hq, "0123456789abcdef", T0, T0 + 365 * DAY_MS);
  CHECK_ERR(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION), FS_ELEASE);
  fs_device_close(dev);
  CHECK(unlink(p) == 0);
  CHECK_ERR(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION), FS_ELEASE);
  CHECK_CONTAINS(fs_errmsg(), "keys/lease is missing");
  fs_device_close(dev);
  tu_rmrf(dir);
  free(dir);
  free(home);
}

static void test_never_enrolled_unrestricted(void) {
  char *dir = tu_tmpdir("hqmsg-plain"), home[4200];
  fs_device *dev = NULL;
  snprintf(home, sizeof home, "%s/laptop", dir);
  CHECK_OK(tu_device_create(home, "anna", NULL));
  g_now = T0 + 3650 * DAY_MS;
  CHECK_OK(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION));
  CHECK_ERR(fs_device_lease(NULL, NULL, dev), FS_ENOTFOUND);
  fs_device_close(dev);
  g_now = T0;
  tu_rmrf(dir);
  free(dir);
}

/* ---------------------------------------------------------------- wipe */

/* 1 when some file under dir holds `needle` */
static int tree_holds(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int found = 0;
  while (d && !found && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(p, &sb) != 0) continue;
    if (S_ISDIR(sb.st_mode)) {
      found = tree_holds(p, needle);
    } else if (S_ISREG(sb.st_mode)) {
      size_t n = 0;
      char *b = tu_read_file(p, &n);
      found = b && memmem(b, n, needle, strlen(needle)) != NULL;
      free(b);
    }
  }
  if (d) closedir(d);
  return found;
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
      n += count_files(p);
    else
      n++;
  }
  if (d) closedir(d);
  return n;
}

static void test_forged_wipe_refused(void) {
  char *dir = tu_tmpdir("hqmsg-forged"), id[17] = "";
  char text[HQMSG_TEXT_MAX], sig[HQMSG_SIG_HEX];
  fsi_hqmsg m, out;
  g_now = T0;
  char *home = enrolled_home(dir, "laptop", id, 1);
  int before = count_files(home);
  CHECK(before >= 6);
  fs_device *raw = NULL;
  CHECK_OK(unlock_v(&raw, home, FS_UNLOCK_OPTS_VERSION));
  fs_store *st = fs_device_store(raw);
  /* another key */
  m = wipe_msg(id, T0);
  CHECK_OK(fsi_hqmsg_sign(text, sig, &m, g_evil.sign_sk));
  CHECK_ERR(fsi_wipe_verify(&out, raw, st, text, sig), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "wipe order does not verify");
  /* another device's genuine order */
  m = wipe_msg("0123456789abcdef", T0);
  CHECK_OK(fsi_hqmsg_sign(text, sig, &m, g_hq.sign_sk));
  CHECK_ERR(fsi_wipe_verify(&out, raw, st, text, sig), FS_EAUTH);
  CHECK_CONTAINS(fs_errmsg(), "not this device");
  /* this device's genuine order, altered */
  m = wipe_msg(id, T0);
  CHECK_OK(fsi_hqmsg_sign(text, sig, &m, g_hq.sign_sk));
  CHECK_OK(fsi_wipe_verify(&out, raw, st, text, sig));
  text[strlen(text) - 1] ^= 1;
  CHECK_ERR(fsi_wipe_verify(&out, raw, st, text, sig), FS_EAUTH);
  /* a lease presented as a wipe order */
  m = lease_msg(id, T0, T0 + DAY_MS);
  CHECK_OK(fsi_hqmsg_sign(text, sig, &m, g_hq.sign_sk));
  CHECK_ERR(fsi_wipe_verify(&out, raw, st, text, sig), FS_EAUTH);
  fs_device_close(raw);
  /* nothing was deleted: the home opens and holds its customer */
  CHECK_EQ_INT(count_files(home), before);
  fs_device *dev = NULL;
  CHECK_OK(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION));
  char *doc = NULL;
  CHECK_OK(fs_view_json(&doc, fs_device_store(dev), "customers", NULL));
  CHECK_CONTAINS(doc, CUSTOMER);
  fs_free(doc);
  fs_device_close(dev);
  tu_rmrf(dir);
  free(dir);
  free(home);
}

static void test_wipe_home(void) {
  char *dir = tu_tmpdir("hqmsg-wipe"), id[17] = "", p[4300];
  g_now = T0;
  char *home = enrolled_home(dir, "laptop", id, 1);
  fs_device *dev = NULL;
  /* the other files a used home has: receipts, CA copy, sync lock */
  const char *extra[] = {"receipts", "server-ca.pem", "sync.lock"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", home, extra[i]);
    CHECK(tu_write_file(p, "x\n") == 0);
  }
  /* the store key is overwritten in place before it goes: a hard link
   * taken beforehand sees random bytes, not the wrapped key */
  char keyfile[4300], link_[4300];
  snprintf(keyfile, sizeof keyfile, "%s/keys/store.key", home);
  snprintf(link_, sizeof link_, "%s/store.key.link", dir);
  size_t n0 = 0, n1 = 0;
  char *k0 = tu_read_file(keyfile, &n0);
  CHECK(link(keyfile, link_) == 0);
  /* the open device is wiped (locked or not) */
  CHECK_OK(unlock_v(&dev, home, FS_UNLOCK_OPTS_VERSION));
  CHECK_OK(fs_device_wipe(dev));
  CHECK(fs_device_locked(dev));
  fs_device_close(dev);
  char *k1 = tu_read_file(link_, &n1);
  CHECK(k0 && k1 && n0 == n1 && n0 > 32 && memcmp(k0, k1, n0) != 0);
  free(k0);
  free(k1);
  unlink(link_);
  CHECK(access(home, F_OK) != 0); /* the home itself went, being empty */
  CHECK_EQ_INT(count_files(dir), 0);
  CHECK(!tree_holds(dir, CUSTOMER));
  CHECK_ERR(fs_device_open(&dev, home, NULL), FS_ENOTFOUND);
  /* a file someone else put in the home stays (and so does the home) */
  char *home2 = enrolled_home(dir, "laptop2", id, 1);
  snprintf(p, sizeof p, "%s/notes.txt", home2);
  CHECK(tu_write_file(p, "mine\n") == 0);
  CHECK_OK(fsi_wipe_home(home2));
  CHECK(access(p, F_OK) == 0);
  CHECK_EQ_INT(count_files(home2), 1);
  CHECK(!tree_holds(home2, CUSTOMER));
  tu_rmrf(dir);
  free(dir);
  free(home);
  free(home2);
}

int main(void) {
  CHECK_OK(fsi_keys_new(&g_hq));
  CHECK_OK(fsi_keys_new(&g_evil));
  fsi_util_set_clock(test_clock, NULL);
  TEST_RUN(test_messages);
  TEST_RUN(test_lease_expiry_and_renewal);
  TEST_RUN(test_never_enrolled_unrestricted);
  TEST_RUN(test_forged_wipe_refused);
  TEST_RUN(test_wipe_home);
  fsi_util_set_clock(NULL, NULL);
  fsi_keys_wipe(&g_hq);
  fsi_keys_wipe(&g_evil);
  return tu_finish();
}
