/*
 * test_faults_disk.c — a full disk on the laptop and at head office: the
 * store lives on a small tmpfs mounted for the test (in a mount namespace of
 * its own, so it vanishes with the test whatever happens), a file fills it
 * to the last byte, the devices sync (and the laptop's manager types a
 * meeting), the file is removed, the devices sync again: nothing is lost or
 * doubled and the suite's whole check holds (faults.h).
 *
 * Each case asserts the disk was really full (statvfs: no free block) and
 * that the sync really failed on it (non-zero exit, one line on stderr);
 * a second pass leaves a random few hundred KiB free so the disk fills in
 * the middle of the work instead of before it.  Mounting needs root (or
 * CAP_SYS_ADMIN); where the machine does not allow it the cases print
 * "SKIP ..." and exit 77, which CTest reports as skipped (tests.cmake sets
 * SKIP_RETURN_CODE), never as passed.
 *
 * Counts: FS_FAULT_DISK_ROWS meetings written before the disk fills [30000],
 * FS_FAULT_DISK_PASSES passes of fill/sync/free [2].
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "faults.h"

#define SKIP_CODE 77
static int g_skipped;

/* A tmpfs of `mb` MiB at DIR/small, in this process's own mount namespace
 * (its children share it).  The path (caller frees), or NULL after printing
 * why it cannot be had (g_skipped set). */
static char *small_fs(const char *dir, int mb) {
  static int unshared;
  char *at = e2e_path(dir, "small"), opts[64];
  mkdir(at, 0700);
  if (!unshared) {
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
      printf("SKIP %s: cannot make a mount namespace for a small filesystem (%s); run as root "
             "to test a full disk\n",
             tu_case, strerror(errno));
      g_skipped = 1;
      free(at);
      return NULL;
    }
    unshared = 1;
  }
  snprintf(opts, sizeof opts, "size=%dm,mode=0700", mb);
  if (mount("tmpfs", at, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
    printf("SKIP %s: cannot mount a %d MiB tmpfs (%s); run as root to test a full disk\n", tu_case,
           mb, strerror(errno));
    g_skipped = 1;
    free(at);
    return NULL;
  }
  return at;
}

/* MiB of a small disk that holds `rows` meetings and a store's overhead. */
static int disk_mb(long rows) { return 24 + (int)(rows / 1024); }

static unsigned long long free_bytes(const char *path) {
  struct statvfs v;
  if (statvfs(path, &v) != 0) return ~0ULL;
  return (unsigned long long)v.f_bavail * v.f_frsize;
}

/* Fills the filesystem of `dir` with DIR/filler until `leave` bytes are
 * free (0 = to the last block).  Returns the bytes written. */
static long long fill(const char *dir, unsigned long long leave) {
  char *path = e2e_path(dir, "filler");
  static char chunk[65536];
  long long n = 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  free(path);
  if (fd < 0) return -1;
  memset(chunk, 'x', sizeof chunk);
  for (size_t sz = sizeof chunk; sz >= 1;) {
    unsigned long long f = free_bytes(dir);
    if (f <= leave) break;
    size_t want = f - leave < sz ? (size_t)(f - leave) : sz;
    ssize_t w = write(fd, chunk, want);
    if (w > 0) {
      n += w;
    } else if (w < 0 && errno == ENOSPC) {
      if (sz == 1) break;
      sz /= 2;
    } else if (w < 0 && errno != EINTR) {
      break;
    }
  }
  fsync(fd);
  close(fd);
  return n;
}

static void unfill(const char *dir) {
  char *path = e2e_path(dir, "filler");
  unlink(path);
  free(path);
}

/* `fieldsync sync` on a full disk: must fail, with one line. */
static void sync_must_fail(int line, const char *home, const char *what) {
  char *out = NULL, *err = NULL;
  int rc = e2e_fs(home, &out, &err, ARGS("sync"));
  tu_checks += 2;
  if (rc == 0) tu_fail(__FILE__, line, "%s: sync succeeded on a full disk", what);
  if (rc == -1)
    tu_fail(__FILE__, line, "%s: sync died by a signal: %s", what, err ? err : "");
  else if (rc != 0 && !e2e_one_line(err, "fieldsync: "))
    tu_fail(__FILE__, line, "%s: not one clear line on stderr: %s", what, err ? err : "");
  printf("  %s: sync exit %d: %s", what, rc, err && *err ? err : "(nothing on stderr)\n");
  free(out);
  free(err);
}

static void test_device_disk_full(void) {
  long rows = fk_env("FS_FAULT_DISK_ROWS", 30000, 10000);
  long passes = fk_env("FS_FAULT_DISK_PASSES", 2, 2);
  char *dir = tu_tmpdir("faults-ddisk"), *small = NULL;
  e2e_server *s = e2e_server_new(dir, "hq");
  fk_device devs[2];
  int ndev = 0, full_failures = 0;
  long long t0 = fk_now_ms();
  if (!s || e2e_server_start(s, 0)) goto done;
  /* room for every pass's rows, its own and the pulled (1 KiB a row with
   * the WAL), before the filler takes the rest */
  if (!(small = small_fs(dir, disk_mb(rows * passes * 2)))) goto done;
  /* the laptop's home on the small disk, its colleague's on the big one */
  if (fk_device_init(__LINE__, &devs[ndev++], s, small, "laptop", "anna")) goto done;
  if (fk_device_init(__LINE__, &devs[ndev++], s, dir, "colleague", "anna")) goto done;
  for (long pass = 0; pass < passes; pass++) {
    CHECK_OK(fk_device_write(&devs[0], rows));
    CHECK_OK(fk_device_write(&devs[1], rows)); /* for the laptop to pull */
    fk_sync_until_ok(__LINE__, devs[1].home, 3);
    long long pending0 = fk_tagged(devs[0].home, "meetings", devs[0].customer), expect = -1;
    unsigned long long leave = pass == 0 ? 0 : (unsigned long long)fk_rand(64, 640) * 1024;
    long long filled = fill(small, leave);
    unsigned long long left = free_bytes(small);
    char what[96];
    snprintf(what, sizeof what, "laptop disk full (%llu bytes free)", left);
    tu_checks++;
    if (filled <= 0 || left > leave + 65536)
      tu_fail(__FILE__, __LINE__, "the small disk did not fill: %lld written, %llu free", filled,
              left);
    if (leave == 0) {
      sync_must_fail(__LINE__, devs[0].home, what);
      full_failures++;
      /* a meeting typed now is refused with a sentence, not half kept */
      char *out = NULL, *err = NULL;
      int rc = e2e_fs(devs[0].home, &out, &err,
                      ARGS("meeting", "add", "--customer", devs[0].customer, "--at",
                           "2026-03-10 10:30", "--notes", "typed on a full disk"));
      tu_checks += 2;
      if (rc == 0) {
        devs[0].written++; /* it was kept after all: it must then reach head office */
        printf("  a meeting typed on the full disk was kept\n");
      } else {
        if (!e2e_one_line(err, "fieldsync: "))
          tu_fail(__FILE__, __LINE__, "meeting add on a full disk: not one line: %s", err);
        printf("  meeting add on the full disk: exit %d: %s", rc, err ? err : "");
      }
      free(out);
      free(err);
      expect = pending0 + (rc == 0);
    } else {
      char *err = NULL;
      int rc = e2e_fs(devs[0].home, NULL, &err, ARGS("sync"));
      printf("  %s: sync exit %d%s%s", what, rc, rc ? ": " : "\n", rc ? err : "");
      full_failures += rc != 0;
      free(err);
    }
    unfill(small);
    /* nothing of what was there is gone (looked at once there is room
     * again: opening a store in WAL mode writes its index file) */
    if (expect >= 0) CHECK_EQ_INT(fk_tagged(devs[0].home, "meetings", devs[0].customer), expect);
    fk_sync_until_ok(__LINE__, devs[0].home, 3);
    long l = 0, d = 0;
    tu_checks++;
    if (fk_lost_doubled(&devs[0], s, &l, &d) || l || d)
      tu_fail(__FILE__, __LINE__, "%s: lost %ld, doubled %ld", what, l, d);
  }
  CHECK(full_failures >= 1);
  fk_check_all(__LINE__, "laptop disk full", s, devs, ndev, 3);
  printf("FAULTS device disk full: %d syncs failed on the full disk, rows %ld, %.1f s\n",
         full_failures, devs[0].written + devs[1].written, (double)(fk_now_ms() - t0) / 1000.0);
done:
  for (int i = 0; i < ndev; i++) fk_device_free(&devs[i]);
  e2e_server_free(s);
  if (small) {
    tu_rmrf(small);
    umount2(small, MNT_DETACH);
    free(small);
  }
  tu_rmrf(dir);
  free(dir);
}

static void test_server_disk_full(void) {
  long rows = fk_env("FS_FAULT_DISK_ROWS", 30000, 10000);
  long passes = fk_env("FS_FAULT_DISK_PASSES", 2, 2);
  char *dir = tu_tmpdir("faults-sdisk"), *small = NULL;
  e2e_server *s = NULL;
  fk_device devs[2];
  int ndev = 0, full_failures = 0;
  long long t0 = fk_now_ms();
  if (!(small = small_fs(dir, disk_mb(rows * passes * 2)))) goto done;
  s = e2e_server_new(small, "hq");
  if (!s || e2e_server_start(s, 0)) goto done;
  if (fk_device_init(__LINE__, &devs[ndev++], s, dir, "anna1", "anna")) goto done;
  if (fk_device_init(__LINE__, &devs[ndev++], s, dir, "ben1", "ben")) goto done;
  for (long pass = 0; pass < passes; pass++) {
    for (int i = 0; i < ndev; i++) CHECK_OK(fk_device_write(&devs[i], rows));
    long long base = fk_tagged(s->home, "meetings", devs[0].customer);
    unsigned long long leave = pass == 0 ? 0 : (unsigned long long)fk_rand(64, 512) * 1024;
    long long filled = fill(small, leave);
    unsigned long long left = free_bytes(small);
    char what[96];
    snprintf(what, sizeof what, "head office's disk full (%llu bytes free)", left);
    tu_checks++;
    if (filled <= 0 || left > leave + 65536)
      tu_fail(__FILE__, __LINE__, "the small disk did not fill: %lld written, %llu free", filled,
              left);
    if (leave == 0) {
      sync_must_fail(__LINE__, devs[0].home, what);
      full_failures++;
      /* nothing of this backlog was taken in */
      CHECK_EQ_INT(fk_tagged(s->home, "meetings", devs[0].customer), base);
    } else {
      char *err = NULL;
      int rc = e2e_fs(devs[0].home, NULL, &err, ARGS("sync"));
      printf("  %s: sync exit %d%s%s", what, rc, rc ? ": " : "\n", rc ? err : "");
      full_failures += rc != 0;
      free(err);
    }
    /* head office is still up, and takes everything once there is room */
    tu_checks++;
    if (!fk_running(s->pid)) {
      tu_fail(__FILE__, __LINE__, "%s: fieldsync-server exited", what);
      e2e_server_stop(s);
      unfill(small);
      if (e2e_server_start(s, s->port)) goto done;
    }
    unfill(small);
    for (int i = 0; i < ndev; i++) {
      fk_sync_until_ok(__LINE__, devs[i].home, 3);
      long l = 0, d = 0;
      tu_checks++;
      if (fk_lost_doubled(&devs[i], s, &l, &d) || l || d)
        tu_fail(__FILE__, __LINE__, "%s: %s lost %ld, doubled %ld", what, devs[i].tag, l, d);
    }
  }
  CHECK(full_failures >= 1);
  fk_check_all(__LINE__, "head office's disk full", s, devs, ndev, 3);
  printf("FAULTS server disk full: %d syncs failed on the full disk, rows %ld, %.1f s\n",
         full_failures, devs[0].written + devs[1].written, (double)(fk_now_ms() - t0) / 1000.0);
done:
  for (int i = 0; i < ndev; i++) fk_device_free(&devs[i]);
  e2e_server_free(s);
  if (small) {
    tu_rmrf(small);
    umount2(small, MNT_DETACH);
    free(small);
  }
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  fk_seed();
  TEST_RUN(test_device_disk_full);
  TEST_RUN(test_server_disk_full);
  e2e_stop_all();
  int rc = tu_finish();
  return rc == 0 && g_skipped ? SKIP_CODE : rc;
}
