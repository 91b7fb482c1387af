/*
 * seed.c — see seed.h.
 */
#include "seed.h"

#include <fieldsync/device.h>
#include <stdio.h>

#include "merge.h"

/* Everything of `from` that `to` has not seen, as a pull would deliver it. */
static int copy_all(fs_store *from, fs_store *to) {
  fsi_merge_cursor c = {0, -1, ""}, next;
  fsi_merge_filter f = {0, NULL, 0};
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

int tu_seed_catalog(const char *home, const char *products_csv, const char *prices_csv,
                    const char *balances_csv) {
  char path[4200];
  fs_store *dev = NULL, *hq = NULL;
  int rc;
  snprintf(path, sizeof path, "%s.hq.db", home);
  if ((rc = fs_device_open(&dev, home))) return rc;
  rc = fs_store_open(&hq, path, NULL, FS_OPEN_CREATE | FS_OPEN_SERVER);
  if (!rc) rc = fs_store_set_hq_site(dev, fs_store_site(hq));
  if (!rc) rc = copy_all(dev, hq); /* the device's customers, for balances */
  if (!rc && products_csv) rc = fs_hq_import_csv(hq, "products", products_csv, NULL);
  if (!rc && prices_csv) rc = fs_hq_import_csv(hq, "prices", prices_csv, NULL);
  if (!rc && balances_csv) rc = fs_hq_import_csv(hq, "balances", balances_csv, NULL);
  if (!rc) rc = copy_all(hq, dev);
  fs_store_close(hq);
  fs_store_close(dev);
  return rc;
}
