/*
 * recover.h — a forgotten passphrase, the device's side (recover.c):
 * what a LOCKED device knows of head office, the escrow it sends, and
 * fs_device_recover (device.h).
 *
 * HOME/keys/hq.json, written at enrollment (and by a sync that finds it
 * missing or out of date), 0600: head office's URL, TLS pin, whether the
 * home's server-ca.pem is the trust anchor, and head office's public keys
 * (128 hex digits, as pinned in the store):
 *   {"format":1,"device_id":"…","url":"https://…","ca":true,"pin":"…",
 *    "keys":"…"}
 * Nothing in it is secret; it is what a locked device, whose store (and
 * the copy of all this pinned in it) cannot be read, needs to reach head
 * office.  It is not trusted for more than that: a key head office's
 * answer carries is taken only if it opens this device's store, and once
 * it has, the file is checked against the store and rewritten from it.
 */
#ifndef FS_RECOVER_H
#define FS_RECOVER_H

#include <fieldsync/device.h>

#include "keys.h"

/* Writes HOME/keys/hq.json from the unlocked device's store when it is
 * missing or says something else (atomically: a temporary file renamed).
 * FS_OK also when the device is not enrolled (nothing to write). */
int fsi_recover_note_hq(fs_device *dev);

/* The body of POST /v1/escrow for the unlocked device: {"sealed": hex of
 * its data key sealed to head office's key-exchange key `hq`} (escrow.h).
 * *out caller-owned (free). */
int fsi_recover_escrow_body(char **out, fs_device *dev, const fsi_pubkeys *hq);

/* The setting (fs_store_get) that records head office's acknowledgement of
 * this device's escrow. */
#define FSI_ESCROW_SETTING "escrow_sent_at"

#endif
