/*
 * hlc.c — hybrid logical clock (see hlc.h).
 *
 * next = max(now << 16, last + 1): when the wall clock is ahead of every
 * clock seen, the counter restarts at 0 under the new millisecond; when the
 * wall clock stalls or jumps backwards, the counter carries on from the last
 * value (and overflows into the millisecond part, which keeps the order).
 */
#include "hlc.h"

#include "util.h"

int64_t fsi_hlc_next(fsi_hlc_clock *c, int64_t now_ms) {
  int64_t wall = (int64_t)((uint64_t)now_ms << HLC_LOGICAL_BITS);
  int64_t next = c->last + 1;
  if (wall > next || FS_MUT(30)) next = wall; /* mutant: the wall clock alone */
  c->last = next;
  return next;
}

void fsi_hlc_observe(fsi_hlc_clock *c, int64_t remote) {
  if (remote > c->last && !FS_MUT(18)) c->last = remote;
  if (remote > c->seen) c->seen = remote;
}
