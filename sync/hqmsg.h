/*
 * hqmsg.h — short orders head office signs for one device: the offline
 * lease ("this device may be unlocked until T") and the wipe order.
 *
 * A message is a canonical text signed detached with head office's
 * Ed25519 key (the one a device pins at enrollment, as for the signed
 * acknowledgements of proto.h), carried as {"text": TEXT, "sig": HEX}:
 *   "fieldsync-lease-v1\n" DEVICE "\n" ISSUED "\n" UNTIL
 *   "fieldsync-wipe-v1\n"  DEVICE "\n" ORDERED
 * DEVICE is the device id (16 lowercase hex digits), the times are head
 * office's clock in milliseconds since the epoch (decimal, no sign, no
 * leading zero).  The first line names the kind, so a lease can never be
 * taken for a wipe order or an acknowledgement, nor one device's for
 * another's.  Parsing is strict: only the exact text the fields make is
 * accepted.
 */
#ifndef FS_HQMSG_H
#define FS_HQMSG_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define HQMSG_LEASE 1
#define HQMSG_WIPE 2
#define HQMSG_LEASE_MAGIC "fieldsync-lease-v1"
#define HQMSG_WIPE_MAGIC "fieldsync-wipe-v1"
#define HQMSG_TEXT_MAX 128
#define HQMSG_SIG_HEX 129 /* 128 hex digits + NUL */

typedef struct fsi_hqmsg {
  int kind; /* HQMSG_LEASE or HQMSG_WIPE */
  char device[17];
  int64_t issued; /* lease: when head office issued it; wipe: when it was ordered */
  int64_t until;  /* lease: unlockable until then; wipe: 0 */
} fsi_hqmsg;

/* The canonical text of *m into out; its length, or 0 when a field is
 * out of range (a device id that is not 16 lowercase hex digits, a time
 * <= 0, a lease that ends before it was issued). */
size_t fsi_hqmsg_text(char out[HQMSG_TEXT_MAX], const fsi_hqmsg *m);

/* Signs *m with head office's secret key: text and sig_hex filled.
 * FS_EINVAL for a message fsi_hqmsg_text refuses. */
int fsi_hqmsg_sign(char text[HQMSG_TEXT_MAX], char sig_hex[HQMSG_SIG_HEX], const fsi_hqmsg *m,
                   const unsigned char *sign_sk);

/* Verifies a message a device received: it is canonical text of `kind`,
 * the signature verifies against head office's pinned key `hq`, and it
 * names `device`.  FS_OK with *out filled; FS_EAUTH, with a sentence
 * naming `what` ("the lease", "the wipe order") and what fails, otherwise
 * (*out zeroed). */
int fsi_hqmsg_verify(fsi_hqmsg *out, int kind, const char *text, const char *sig_hex,
                     const fsi_pubkeys *hq, const char *device, const char *what);

#endif
