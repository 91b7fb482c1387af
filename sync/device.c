/*
 * device.c — a device home: creation (data key, encrypted store, sealed
 * identity, wrapped key file), and the fs_device handle that owns an open
 * one (deviceInt.h): locked, unlocked, locked again.
 *
 * Creation refuses to touch an existing home's store or keys, and a failed
 * creation removes whatever it made, so it leaves nothing half-made behind.
 * The data key lives only in sodium_malloc'd memory and on disk only
 * wrapped (storekey.h); the identity only sealed under it (keys.h).
 * Unlocking proves the key before anything uses it: the sealed identity
 * must open under it (an AEAD check), then the store must open under it
 * and be this device's (its id is the one keys/store.key names).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "deviceInt.h"
#include "engine.h"
#include "keyring.h"
#include "lease.h"

#define HOME_PATH 4096

static int make_dir(const char *path) {
  if (mkdir(path, 0700) == 0) return FS_OK;
  if (errno == EEXIST) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return FS_OK;
    return fsi_fail(FS_EINVAL, "%s exists and is not a directory", path);
  }
  return fsi_fail(FS_EIO, "cannot create %s: %s", path, strerror(errno));
}

/* HOME/name into out[HOME_PATH]. */
static int home_path(char *out, const char *home, const char *name) {
  if ((size_t)snprintf(out, HOME_PATH, "%s/%s", home, name) >= HOME_PATH)
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  return FS_OK;
}

/* A passphrase a new wrapping accepts: FS_PASSPHRASE_MIN_CHARS code points
 * at least, FS_PASSPHRASE_MAX bytes at most, no NUL. */
static int check_passphrase(const char *pass, size_t len) {
  size_t chars = 0;
  if (!pass) return fsi_fail(FS_EINVAL, "a passphrase is needed");
  if (len > FS_PASSPHRASE_MAX)
    return fsi_fail(FS_EINVAL, "the passphrase is over %d bytes", FS_PASSPHRASE_MAX);
  for (size_t i = 0; i < len; i++) {
    if (pass[i] == '\0') return fsi_fail(FS_EINVAL, "the passphrase contains a NUL byte");
    if (((unsigned char)pass[i] & 0xc0) != 0x80) chars++;
  }
  if (chars < FS_PASSPHRASE_MIN_CHARS)
    return fsi_fail(FS_EINVAL, "the passphrase must be at least %d characters long",
                    FS_PASSPHRASE_MIN_CHARS);
  return FS_OK;
}

static const size_t init_opts_sizes[] = {offsetof(fs_device_init_opts, passphrase_len) +
                                         sizeof(size_t)};
static const size_t unlock_opts_sizes[] = {offsetof(fs_unlock_opts, key) +
                                               sizeof(const unsigned char *),
                                           offsetof(fs_unlock_opts, renew_lease) + sizeof(int)};
static const fsi_versions init_opts_v = {"fs_device_init_opts", init_opts_sizes,
                                         FS_DEVICE_INIT_OPTS_VERSION};
static const fsi_versions unlock_opts_v = {"fs_unlock_opts", unlock_opts_sizes,
                                           FS_UNLOCK_OPTS_VERSION};

static int new_device(fs_device **out, const char *home, const fs_schema *schema) {
  fs_device *dev = calloc(1, sizeof *dev);
  *out = NULL;
  if (!dev || !(dev->home = strdup(home))) {
    free(dev);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  dev->schema = schema;
  *out = dev;
  return FS_OK;
}

/* The files a home is made of, for refusing to overwrite and for removing
 * what a failed creation made. */
static const char *const home_files[] = {
    "store.db",          "store.db-wal",  "store.db-shm", "keys/store.key",
    "keys/identity.key", "keys/sign.pub", "keys/kx.pub",  NULL,
};

int fs_device_create(fs_device **out, const char *home, const fs_device_init_opts *opts) {
  char store[HOME_PATH], keys[HOME_PATH], keyfile[HOME_PATH], p[HOME_PATH];
  fs_device_init_opts o;
  fs_device *dev = NULL;
  int rc, made = 0;
  if (out) *out = NULL;
  if (!opts)
    return fsi_fail(FS_EINVAL, "creating a device needs its options (fs_device_init_opts)");
  if ((rc = fsi_device_struct_in(&o, sizeof o, opts, &init_opts_v))) return rc;
  if (!home || !*home) return fsi_fail(FS_EINVAL, "no home directory given");
  if (!o.manager || !*o.manager)
    return fsi_fail(FS_EINVAL, "a manager name is needed (--manager NAME)");
  if (strlen(o.manager) > 100 || !fsi_util_utf8_valid(o.manager, strlen(o.manager)))
    return fsi_fail(FS_EINVAL, "the manager name must be UTF-8 text of at most 100 bytes");
  if ((rc = check_passphrase(o.passphrase, o.passphrase_len))) return rc;
  if ((rc = home_path(store, home, "store.db")) || (rc = home_path(keys, home, "keys")) ||
      (rc = home_path(keyfile, home, "keys/store.key")))
    return rc;
  if (access(store, F_OK) == 0)
    return fsi_fail(FS_EEXIST, "%s already holds a fieldsync store; it was left untouched", home);
  for (size_t i = 3; home_files[i]; i++) {
    if ((rc = home_path(p, home, home_files[i]))) return rc;
    if (access(p, F_OK) == 0)
      return fsi_fail(FS_EEXIST, "%s already exists; it was left untouched", p);
  }
  if ((rc = fsi_keys_init()) || (rc = make_dir(home)) || (rc = make_dir(keys))) return rc;
  if ((rc = new_device(&dev, home, o.schema))) return rc;
  if (!(dev->data_key = sodium_malloc(FSI_DATA_KEY_SIZE))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  randombytes_buf(dev->data_key, FSI_DATA_KEY_SIZE);
  made = 1; /* from here on a failure removes the home's files */
  if ((rc = fsi_store_open_keyed(&dev->st, store, o.schema, FS_OPEN_CREATE, dev->data_key)))
    goto done;
  if ((rc = fs_store_set(dev->st, "manager", o.manager))) goto done;
  snprintf(dev->device_id, sizeof dev->device_id, "%s", fs_store_device_id(dev->st));
  if ((rc = fsi_keys_generate_sealed(keys, dev->data_key, dev->device_id))) goto done;
  if (!(dev->keys = sodium_malloc(sizeof *dev->keys))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = fsi_keys_load_sealed(dev->keys, keys, dev->data_key, dev->device_id))) goto done;
  rc = fsi_storekey_wrap(keyfile, dev->device_id, dev->data_key, o.passphrase, o.passphrase_len, 0);
done:
  if (rc) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", fs_errmsg());
    fs_device_close(dev);
    dev = NULL;
    for (size_t i = 0; made && home_files[i]; i++)
      if (!home_path(p, home, home_files[i])) unlink(p);
    fsi_fail(rc, "%s", msg);
    return rc;
  }
  if (out)
    *out = dev;
  else
    fs_device_close(dev);
  return FS_OK;
}

int fs_device_open(fs_device **out, const char *home, const fs_schema *schema) {
  char store[HOME_PATH], keyfile[HOME_PATH], legacy[HOME_PATH];
  fsi_storekey_info info;
  int rc;
  *out = NULL;
  if (!home || !*home) return fsi_fail(FS_EINVAL, "no home directory given");
  if ((rc = home_path(store, home, "store.db")) ||
      (rc = home_path(keyfile, home, "keys/store.key")) ||
      (rc = home_path(legacy, home, "keys/sign.key")))
    return rc;
  if (access(store, F_OK) != 0)
    return fsi_fail(FS_ENOTFOUND,
                    "no fieldsync store in %s: run `fieldsync init --manager "
                    "NAME` first",
                    home);
  rc = fsi_storekey_read_info(&info, keyfile);
  if (rc == FS_ENOTFOUND && access(legacy, F_OK) == 0)
    return fsi_fail(FS_EVERSION,
                    "%s was made by fieldsync 0.2 or older and is not encrypted, which "
                    "fieldsync %s refuses: sync it with the old version, then move it aside "
                    "and create an encrypted home with `fieldsync init` and `fieldsync enroll` "
                    "(head office sends its data down again)",
                    home, FS_VERSION_STRING);
  if (rc == FS_ENOTFOUND)
    return fsi_fail(FS_ECORRUPT,
                    "%s has a store but no key file (keys/store.key): the store cannot be "
                    "unlocked without it",
                    home);
  if (rc) return rc;
  if ((rc = fsi_keys_init()) || (rc = new_device(out, home, schema))) return rc;
  snprintf((*out)->device_id, sizeof(*out)->device_id, "%s", info.device_id);
  return FS_OK;
}

/* Unlocks dev with the data key in dev->data_key: the identity must open
 * under it, then the store, and an enrolled device's lease must hold (or,
 * with `renew`, be renewed by head office); on failure the device is
 * locked again. */
static int unlock_with_key(fs_device *dev, int renew) {
  char store[HOME_PATH], keys[HOME_PATH];
  int rc;
  if ((rc = home_path(store, dev->home, "store.db")) || (rc = home_path(keys, dev->home, "keys")))
    goto done;
  if (!(dev->keys = sodium_malloc(sizeof *dev->keys))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = fsi_keys_load_sealed(dev->keys, keys, dev->data_key, dev->device_id))) {
    if (rc == FS_EAUTH)
      rc = fsi_fail(FS_EAUTH, "the key given is not the data key of the device in %s", dev->home);
    goto done;
  }
  if ((rc = fsi_store_open_keyed(&dev->st, store, dev->schema, 0, dev->data_key))) goto done;
  if (strcmp(fs_store_device_id(dev->st), dev->device_id) != 0) {
    rc = fsi_fail(FS_ECORRUPT,
                  "the store in %s is device %s's but its key file names device %s: the "
                  "home was put together from two devices",
                  dev->home, fs_store_device_id(dev->st), dev->device_id);
    goto done;
  }
  if (fs_store_hq_site(dev->st) == fs_store_site(dev->st)) {
    rc = fsi_fail(FS_EINVAL, "%s is a head-office store; use fieldsync-server with it", dev->home);
    goto done;
  }
  rc = fsi_lease_check(dev, dev->st);
  if (rc == FS_ELEASE && renew) {
    char why[300];
    snprintf(why, sizeof why, "%s", fs_errmsg());
    int r = fsi_client_renew_lease(dev);
    if (r == FS_OK)
      rc = fsi_lease_check(dev, dev->st);
    else if (r == FS_EWIPED)
      rc = r;
    else {
      char reason[200];
      snprintf(reason, sizeof reason, "%s", fs_errmsg());
      rc = fsi_fail(FS_ELEASE, "%s; head office could not renew it just now: %s", why, reason);
    }
  }
done:
  if (rc) fs_device_lock(dev);
  return rc;
}

int fs_device_unlock(fs_device *dev, const fs_unlock_opts *opts) {
  char keyfile[HOME_PATH];
  fs_unlock_opts o;
  int rc;
  if (!dev) return fsi_fail(FS_EINVAL, "no device to unlock");
  if (!opts) return fsi_fail(FS_EINVAL, "unlocking needs its options (fs_unlock_opts)");
  if ((rc = fsi_device_struct_in(&o, sizeof o, opts, &unlock_opts_v))) return rc;
  if (!o.passphrase == !o.key)
    return fsi_fail(FS_EINVAL, "unlocking takes either a passphrase or a key, not %s",
                    o.key ? "both" : "neither");
  if (dev->st) return FS_OK;
  if ((rc = home_path(keyfile, dev->home, "keys/store.key"))) return rc;
  if (!(dev->data_key = sodium_malloc(FSI_DATA_KEY_SIZE)))
    return fsi_fail(FS_ENOMEM, "out of memory");
  if (o.key) {
    memcpy(dev->data_key, o.key, FSI_DATA_KEY_SIZE);
  } else if (o.passphrase_len > FS_PASSPHRASE_MAX) {
    rc = fsi_fail(FS_EAUTH, "the passphrase is wrong (it is over %d bytes)", FS_PASSPHRASE_MAX);
  } else {
    fsi_storekey_info info;
    rc = fsi_storekey_unwrap(dev->data_key, &info, keyfile, o.passphrase, o.passphrase_len);
    if (!rc && strcmp(info.device_id, dev->device_id) != 0)
      rc = fsi_fail(FS_ECORRUPT, "the key file %s was replaced since the device was opened",
                    keyfile);
  }
  if (rc) {
    fs_device_lock(dev);
    return rc;
  }
  return unlock_with_key(dev, o.renew_lease);
}

void fs_device_lock(fs_device *dev) {
  if (!dev) return;
  fs_store_close(dev->st);
  dev->st = NULL;
  sodium_free(dev->keys); /* sodium_free wipes before it frees */
  dev->keys = NULL;
  sodium_free(dev->data_key);
  dev->data_key = NULL;
}

int fs_device_locked(const fs_device *dev) { return !dev || !dev->st; }

int fs_device_change_passphrase(fs_device *dev, const char *old, size_t old_len, const char *new_,
                                size_t new_len) {
  char keyfile[HOME_PATH];
  fsi_storekey_info info;
  unsigned char *key = NULL;
  int rc;
  if (!dev) return fsi_fail(FS_EINVAL, "no device");
  if (!old) return fsi_fail(FS_EINVAL, "the current passphrase is needed");
  if ((rc = check_passphrase(new_, new_len))) return rc;
  if ((rc = home_path(keyfile, dev->home, "keys/store.key"))) return rc;
  if (!(key = sodium_malloc(FSI_DATA_KEY_SIZE))) return fsi_fail(FS_ENOMEM, "out of memory");
  if (old_len > FS_PASSPHRASE_MAX)
    rc = fsi_fail(FS_EAUTH, "the current passphrase is wrong");
  else if ((rc = fsi_storekey_unwrap(key, &info, keyfile, old, old_len)) == FS_EAUTH)
    fsi_fail(FS_EAUTH, "the current passphrase is wrong; nothing was changed");
  if (!rc && strcmp(info.device_id, dev->device_id) != 0)
    rc = fsi_fail(FS_ECORRUPT, "the key file %s was replaced since the device was opened", keyfile);
  if (!rc) rc = fsi_storekey_wrap(keyfile, dev->device_id, key, new_, new_len, 1);
  sodium_free(key);
  return rc;
}

int fsi_device_need_unlocked(const fs_device *dev) {
  if (dev && dev->st) return FS_OK;
  return fsi_fail(FS_ELOCKED,
                  "the store in %s is locked: run `fieldsync unlock` (or set "
                  "FIELDSYNC_PASSPHRASE_FILE)",
                  dev ? dev->home : "(none)");
}

int fs_device_unlock_cached(fs_device *dev) {
  if (!dev) return fsi_fail(FS_EINVAL, "no device to unlock");
  if (dev->st) return FS_OK;
  if (!(dev->data_key = sodium_malloc(FSI_DATA_KEY_SIZE)))
    return fsi_fail(FS_ENOMEM, "out of memory");
  int rc = fsi_keyring_get(dev->data_key, dev->device_id);
  if (rc) {
    fs_device_lock(dev);
    return fsi_device_need_unlocked(dev);
  }
  if ((rc = unlock_with_key(dev, 0)) == FS_EAUTH) {
    /* a key cached for an earlier home with this id: of no use to anyone */
    fsi_keyring_forget(dev->device_id);
    return fsi_device_need_unlocked(dev);
  }
  return rc;
}

int fs_device_cache_key(fs_device *dev, int64_t seconds) {
  int rc = fsi_device_need_unlocked(dev);
  if (rc) return rc;
  if (seconds == 0) seconds = FS_KEY_CACHE_DEFAULT_S;
  if (seconds < 1 || seconds > FS_KEY_CACHE_MAX_S)
    return fsi_fail(FS_EINVAL, "the key can be cached for 1 second to %d days, not %lld seconds",
                    FS_KEY_CACHE_MAX_S / 86400, (long long)seconds);
  return fsi_keyring_put(dev->device_id, dev->data_key, seconds);
}

int fs_device_forget_key(fs_device *dev) {
  if (!dev) return fsi_fail(FS_EINVAL, "no device");
  return fsi_keyring_forget(dev->device_id);
}

void fs_device_close(fs_device *dev) {
  if (!dev) return;
  fs_device_lock(dev);
  free(dev->home);
  free(dev);
}

fs_store *fs_device_store(fs_device *dev) {
  if (!dev) return NULL;
  if (!dev->st) fsi_device_need_unlocked(dev);
  return dev->st;
}

const char *fs_device_home(const fs_device *dev) { return dev ? dev->home : NULL; }

const char *fs_device_id(const fs_device *dev) { return dev ? dev->device_id : NULL; }

int fsi_device_keys(fs_device *dev, const fsi_keys **out) {
  *out = NULL;
  int rc = fsi_device_need_unlocked(dev);
  if (rc) return rc;
  *out = dev->keys;
  return FS_OK;
}

/* ------------------------------------------------------ versioned structs */

/* The size of the caller's version of the struct. */
static int their_size(size_t *out, const void *theirs, const fsi_versions *v) {
  unsigned version;
  memcpy(&version, theirs, sizeof version); /* the first member of every one */
  if (version == 0)
    return fsi_fail(FS_EINVAL, "%s.version is 0: initialise the struct with its _INIT macro",
                    v->what);
  if (version > v->nversions)
    return fsi_fail(FS_EVERSION,
                    "%s version %u is newer than this fieldsync library (%s) knows "
                    "(%u); the program was built with newer headers",
                    v->what, version, FS_VERSION_STRING, v->nversions);
  *out = v->sizes[version - 1];
  return FS_OK;
}

int fsi_device_struct_in(void *mine, size_t mine_size, const void *theirs, const fsi_versions *v) {
  size_t n = 0;
  int rc = their_size(&n, theirs, v);
  if (rc) return rc;
  memset(mine, 0, mine_size);
  memcpy(mine, theirs, n);
  return FS_OK;
}

int fsi_device_struct_out(void *theirs, const void *mine, const fsi_versions *v) {
  size_t n = 0;
  int rc = their_size(&n, theirs, v);
  if (rc) return rc;
  memcpy((unsigned char *)theirs + sizeof(unsigned), (const unsigned char *)mine + sizeof(unsigned),
         n - sizeof(unsigned));
  return FS_OK;
}

int fsi_device_check_passphrase(const char *pass, size_t len) {
  return check_passphrase(pass, len);
}
