/*
 * device.c — a device home: creation (store + identity) and opening.
 *
 * Creation refuses to touch an existing home's store or keys.  Keys are made
 * first and removed again if the store cannot be created, so a failed init
 * leaves nothing half-made behind.
 */
#include <fieldsync/device.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"
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
    return fsi_fail(FS_EEXIST, "%s already holds a fieldsync store; it was left untouched",
                   home);
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

int fs_device_open(fs_store **out, const char *home) {
  return fs_device_open_schema(out, home, NULL);
}

int fs_device_open_schema(fs_store **out, const char *home, const fs_schema *schema) {
  char store[4096];
  *out = NULL;
  snprintf(store, sizeof store, "%s/store.db", home);
  if (access(store, F_OK) != 0)
    return fsi_fail(FS_ENOTFOUND, "no fieldsync store in %s: run `fieldsync init --manager "
                                 "NAME` first",
                   home);
  int rc = fs_store_open(out, store, schema, 0);
  if (!rc && fs_store_hq_site(*out) == fs_store_site(*out)) {
    fs_store_close(*out);
    *out = NULL;
    return fsi_fail(FS_EINVAL, "%s is a head-office store; use fieldsync-server with it", home);
  }
  return rc;
}
