/*
 * device.c — a device home: creation (store + identity), and the fs_device
 * handle that owns an open one (deviceInt.h).
 *
 * Creation refuses to touch an existing home's store or keys.  Keys are made
 * first and removed again if the store cannot be created, so a failed init
 * leaves nothing half-made behind.  An open device holds its keys only once
 * they were needed and wipes them when it is closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deviceInt.h"
#include "engine.h"

static int make_dir(const char *path) {
  if (mkdir(path, 0700) == 0) return FS_OK;
  if (errno == EEXIST) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return FS_OK;
    return fsi_fail(FS_EINVAL, "%s exists and is not a directory", path);
  }
  return fsi_fail(FS_EIO, "cannot create %s: %s", path, strerror(errno));
}

int fs_device_init(const char *home, const char *manager) {
  return fs_device_init_schema(home, manager, NULL);
}

int fs_device_init_schema(const char *home, const char *manager, const fs_schema *schema) {
  char store[4096], keys[4096];
  int rc;
  if (!home || !*home) return fsi_fail(FS_EINVAL, "no home directory given");
  if (!manager || !*manager)
    return fsi_fail(FS_EINVAL, "a manager name is needed (--manager NAME)");
  if (strlen(manager) > 100 || !fsi_util_utf8_valid(manager, strlen(manager)))
    return fsi_fail(FS_EINVAL, "the manager name must be UTF-8 text of at most 100 bytes");
  snprintf(store, sizeof store, "%s/store.db", home);
  snprintf(keys, sizeof keys, "%s/keys", home);
  if (access(store, F_OK) == 0)
    return fsi_fail(FS_EEXIST, "%s already holds a fieldsync store; it was left untouched", home);
  if ((rc = make_dir(home)) || (rc = make_dir(keys))) return rc;
  if ((rc = fsi_keys_generate(keys))) return rc;
  fs_store *st = NULL;
  rc = fs_store_open(&st, store, schema, FS_OPEN_CREATE);
  if (!rc) rc = fs_store_set(st, "manager", manager);
  fs_store_close(st);
  if (rc) {
    static const char *const files[] = {"sign.key", "kx.key", "sign.pub", "kx.pub"};
    char p[4200];
    for (size_t i = 0; i < 4; i++) {
      snprintf(p, sizeof p, "%s/%s", keys, files[i]);
      unlink(p);
    }
    unlink(store);
  }
  return rc;
}

int fs_device_open(fs_device **out, const char *home, const fs_schema *schema) {
  char store[4096];
  fs_device *dev = NULL;
  int rc;
  *out = NULL;
  if (!home || !*home) return fsi_fail(FS_EINVAL, "no home directory given");
  if ((size_t)snprintf(store, sizeof store, "%s/store.db", home) >= sizeof store)
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  if (access(store, F_OK) != 0)
    return fsi_fail(FS_ENOTFOUND,
                    "no fieldsync store in %s: run `fieldsync init --manager "
                    "NAME` first",
                    home);
  if (!(dev = calloc(1, sizeof *dev)) || !(dev->home = strdup(home))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = fs_store_open(&dev->st, store, schema, 0))) goto done;
  if (fs_store_hq_site(dev->st) == fs_store_site(dev->st))
    rc = fsi_fail(FS_EINVAL, "%s is a head-office store; use fieldsync-server with it", home);
done:
  if (rc) {
    fs_device_close(dev);
    return rc;
  }
  *out = dev;
  return FS_OK;
}

void fs_device_close(fs_device *dev) {
  if (!dev) return;
  fs_store_close(dev->st);
  fsi_keys_wipe(&dev->keys);
  free(dev->home);
  free(dev);
}

fs_store *fs_device_store(fs_device *dev) { return dev ? dev->st : NULL; }

const char *fs_device_home(const fs_device *dev) { return dev ? dev->home : NULL; }

int fsi_device_keys(fs_device *dev, const fsi_keys **out) {
  char dir[4200];
  *out = NULL;
  if (!dev->has_keys) {
    snprintf(dir, sizeof dir, "%s/keys", dev->home);
    int rc = fsi_keys_load(&dev->keys, dir);
    if (rc) return rc;
    dev->has_keys = 1;
  }
  *out = &dev->keys;
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
