/*
 * seed.c — see seed.h.
 */
#include "seed.h"

#include "testutil.h"

#include <errno.h>
#include <fieldsync/device.h>
#include <fieldsync/server.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "merge.h"

/* Everything of `from` that `to` has not seen, as a pull would deliver it. */
static int copy_all(fs_store *from, fs_store *to) {
  fsi_merge_cursor c = {0, -1, ""}, next;
  fsi_merge_filter f = {0, NULL, 0, 0};
  fsi_batch *b = fsi_change_batch_new();
  int more = 1, rc = FS_OK;
  while (!rc && more) {
    rc = fsi_merge_changes_since(from, &c, &f, 1000, b, &next, &more);
    if (!rc) {
      fsi_merge_opts o = {fs_store_site(from), NULL};
      fsi_merge_result res;
      rc = fsi_merge_apply(to, b, &o, &res);
      if (!rc) fsi_merge_result_free(&res);
    }
    c = next;
  }
  fsi_change_batch_free(b);
  return rc;
}

/* Opens the device of home and its head office (made at the first call),
 * the device knowing head office's site, and sends head office the device's
 * rows. */
static int seed_open(const char *home, fs_device **device, fs_hq **office) {
  char path[4200], store[4300];
  int rc;
  *device = NULL;
  *office = NULL;
  snprintf(path, sizeof path, "%s.hq", home);
  snprintf(store, sizeof store, "%s/store.db", path);
  if ((rc = tu_device_open(device, home, NULL))) return rc;
  if (access(store, F_OK) != 0) {
    rc = mkdir(path, 0700) == 0 || errno == EEXIST ? FS_OK : FS_EIO;
    if (!rc) rc = fs_hq_create(path);
  }
  if (!rc) rc = fs_hq_open(office, path);
  if (!rc) rc = fs_store_set_hq_site(fs_device_store(*device), fs_store_site(fs_hq_store(*office)));
  if (!rc) rc = copy_all(fs_device_store(*device), fs_hq_store(*office));
  return rc;
}

int tu_seed_norms(const char *home, const char *manager, long long calls, long long meetings,
                  long long proposals) {
  fs_device *device = NULL;
  fs_hq *office = NULL;
  int rc = seed_open(home, &device, &office);
  if (!rc) {
    fs_hq_norms n = FS_HQ_NORMS_INIT;
    n.calls_day = calls;
    n.meetings_day = meetings;
    n.proposals_day = proposals;
    rc = fs_hq_norms_set(office, manager, &n);
  }
  if (!rc) rc = copy_all(fs_hq_store(office), fs_device_store(device));
  fs_hq_close(office);
  fs_device_close(device);
  return rc;
}

int tu_seed_catalog(const char *home, const char *products_csv, const char *prices_csv,
                    const char *balances_csv) {
  char path[4200], store[4300];
  fs_device *device = NULL;
  fs_store *dev = NULL, *hq = NULL;
  fs_hq *office = NULL;
  int rc;
  snprintf(path, sizeof path, "%s.hq", home);
  snprintf(store, sizeof store, "%s/store.db", path);
  if ((rc = tu_device_open(&device, home, NULL))) return rc;
  dev = fs_device_store(device);
  if (access(store, F_OK) != 0) {
    rc = mkdir(path, 0700) == 0 || errno == EEXIST ? FS_OK : FS_EIO;
    if (!rc) rc = fs_hq_create(path);
  }
  if (!rc) rc = fs_hq_open(&office, path);
  if (!rc) hq = fs_hq_store(office);
  if (!rc) rc = fs_store_set_hq_site(dev, fs_store_site(hq));
  if (!rc) rc = copy_all(dev, hq); /* the device's customers, for balances */
  if (!rc && products_csv) rc = fs_hq_import_csv(NULL, office, "products", products_csv);
  if (!rc && prices_csv) rc = fs_hq_import_csv(NULL, office, "prices", prices_csv);
  if (!rc && balances_csv) rc = fs_hq_import_csv(NULL, office, "balances", balances_csv);
  if (!rc) rc = copy_all(hq, dev);
  fs_hq_close(office);
  fs_device_close(device);
  return rc;
}
