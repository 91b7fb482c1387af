/*
 * refused.c — what head office refused from the devices, for the people
 * who act on it.
 *
 * Every change the write policy refuses from a device is kept in the
 * central replica's fs_refused with the values it carried, the customer it
 * concerned and the manager of the device that sent it (core/refused.c),
 * so a sales lead can reassign the customer or re-enter the order.  This
 * is the listing, read under the handle's lock in one read transaction.
 */
#include <fieldsync/server.h>

#include <cjson/cJSON.h>

#include "engine.h"

int fs_hq_refused_json(char **out, fs_hq *hq, const char *manager) {
  cJSON *doc = NULL;
  *out = NULL;
  if (manager && !*manager) return fsi_fail(FS_EINVAL, "no manager given");
  fs_hq_lock(hq);
  int rc = fsi_refused_json(&doc, fs_hq_store(hq), "all", manager);
  fs_hq_unlock(hq);
  if (rc) return rc;
  *out = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}
