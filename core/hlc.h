/*
 * hlc.h — 64-bit hybrid logical clock.
 *
 * A clock value is (physical milliseconds << 16) | logical counter.  It never
 * goes backwards on a replica, even when the wall clock does, and it moves
 * past every clock the replica receives, so a write made after seeing a
 * change always carries a larger clock than that change.
 */
#ifndef FS_HLC_H
#define FS_HLC_H

#include <stdint.h>

#define HLC_LOGICAL_BITS 16
#define HLC_PHYS(h) ((int64_t)((uint64_t)(h) >> HLC_LOGICAL_BITS))

typedef struct fsi_hlc_clock {
  int64_t last; /* the highest clock issued or received */
  int64_t seen; /* the highest clock received (0 = none, or not recorded) */
} fsi_hlc_clock;

/* Next clock for a local write: > every clock issued or received so far. */
int64_t fsi_hlc_next(fsi_hlc_clock *c, int64_t now_ms);
/* Takes a received clock into account (never lowers the clock; raises
 * `seen`). */
void fsi_hlc_observe(fsi_hlc_clock *c, int64_t remote);

#endif
