/*
 * meeting_sync — what an application on a manager's laptop does with
 * libfieldsync, in one page: record a meeting offline, sync when a network
 * is there, and show the manager the concurrent edits the sync resolved.
 *
 *   meeting_sync HOME CUSTOMER_ID NOTES
 *
 * HOME is a device home made by `fieldsync init`, enrolled with
 * `fieldsync enroll` and unlocked for the session with `fieldsync unlock`.  Built against an
 * installed fieldsync with nothing but pkg-config:
 *
 *   cc meeting_sync.c $(pkg-config --cflags --libs fieldsync) -o meeting_sync
 */
#include <fieldsync/device.h>
#include <fieldsync/fieldsync.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

static int fail(const char *what, int rc) {
  fprintf(stderr, "meeting_sync: %s: %s\n", what, *fs_errmsg() ? fs_errmsg() : fs_strerror(rc));
  return 1;
}

/* Progress of a sync; returning non-zero would cancel it (nothing is lost,
 * the next sync resumes). */
static int progress(void *user, const char *phase, int64_t done, int64_t total) {
  (void)user;
  fprintf(stderr, "\r%s %" PRId64 "/%" PRId64, phase, done, total);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: meeting_sync HOME CUSTOMER_ID NOTES   (fieldsync %s)\n", fs_version());
    return 2;
  }
  fs_device *dev = NULL;
  int rc = fs_device_open(&dev, argv[1], NULL);
  if (rc) return fail("opening the device", rc);
  /* The store is encrypted.  This program has no prompt of its own: it
   * takes the key `fieldsync unlock` cached for this login session.  (An
   * application with a prompt calls fs_device_unlock with the passphrase.) */
  if ((rc = fs_device_unlock_cached(dev))) {
    fs_device_close(dev);
    return fail("unlocking the device", rc);
  }
  fs_store *st = fs_device_store(dev);

  /* 1. Offline: one row, one transaction, captured for the next sync. */
  char at[32], id[FS_ID_SIZE];
  fs_time_format(at, (int64_t)time(NULL) * 1000);
  fs_field meeting[] = {
      {"customer_id", argv[2]}, {"at", at}, {"kind", "visit"}, {"notes", argv[3]}};
  if ((rc = fs_insert(id, st, "meetings", meeting, 4))) {
    fs_device_close(dev);
    return fail("recording the meeting", rc);
  }
  printf("meeting %s recorded\n", id);

  /* 2. Sync: push what this laptop has, pull what head office has for it. */
  fs_sync_stats stats = {.version = FS_SYNC_STATS_VERSION};
  fs_sync_opts opts = {.version = FS_SYNC_OPTS_VERSION, .progress = progress};
  rc = fs_sync(&stats, dev, &opts);
  fprintf(stderr, "\n");
  if (rc) {
    fs_device_close(dev);
    return fail("syncing (the meeting is kept and goes with the next sync)", rc);
  }
  printf("synced: pushed %" PRId64 ", pulled %" PRId64 ", %" PRId64 " conflicts\n", stats.pushed,
         stats.pulled, stats.conflicts);

  /* 3. What the rule decided where two people edited the same thing. */
  fs_conflict *list = NULL;
  size_t n = 0;
  if ((rc = fs_conflicts(&list, &n, st, 1))) {
    fs_device_close(dev);
    return fail("reading the conflicts", rc);
  }
  for (size_t i = 0; i < n; i++)
    printf("conflict %s.%s of %s: kept \"%s\", set aside \"%s\"\n", list[i].table,
           *list[i].column ? list[i].column : "(row)", list[i].row,
           list[i].winner ? list[i].winner : "", list[i].loser ? list[i].loser : "");
  if (n == 0) printf("no conflicts\n");
  fs_free(list);
  fs_device_close(dev);
  return 0;
}
