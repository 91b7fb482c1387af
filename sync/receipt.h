/*
 * receipt.h — a device's receipts of head office's signed
 * acknowledgements, and the copy of them outside the store.
 *
 * Every acknowledgement the device takes as delivery is signed by head
 * office (sync/proto.h, fsi_proto_ack_text); the device keeps it as a
 * receipt twice: in its store (table fs_receipt, in the transaction that
 * clears the outbox) and in HOME/receipts, an append-only file of JSON
 * lines written and synced before that transaction, so that a store
 * restored from an older copy, or one that lost WAL frames, is found
 * behind its receipts and recovers what head office acknowledged.  The
 * file also records each time the push chain went back to a position head
 * office still had (a "rewind", after head office was restored from a
 * backup).  Its last line is therefore the newest position of the push
 * chain this device knows head office reached.
 *
 * Lines (docs/protocol.md, "Receipts"):
 *   {"kind":"ack","seq":N,"hash":HEX,"cursor":C,"text":T,"sig":HEX,"at":MS}
 *   {"kind":"rewind","seq":N,"hash":HEX,"cursor":C,"at":MS,"why":TEXT}
 * A last line without its newline (an append cut short) is ignored and
 * ended before the next append; any other line that does not parse is
 * reported by fsi_receipts_read.
 */
#ifndef FS_RECEIPT_H
#define FS_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "keys.h"

#define RECEIPT_ACK 1
#define RECEIPT_REWIND 2

typedef struct fsi_receipt_line {
  int kind;               /* RECEIPT_ACK or RECEIPT_REWIND */
  fsi_devstate_receipt r; /* a rewind fills seq, hash, cursor, received_at */
  char why[200];          /* a rewind's reason */
  size_t line;            /* 1-based line number in the file */
} fsi_receipt_line;

/* HOME/receipts into out[n]; 0 when the path does not fit. */
int fsi_receipts_path(char *out, size_t n, const char *home);

/* Appends one line and syncs the file (created 0600).  FS_EIO with a
 * sentence naming the file on failure. */
int fsi_receipts_append(const char *home, const fsi_receipt_line *e);

/* Every line of the file in order (none when it does not exist): *out
 * malloc'd (free), *n entries.  *bad_line is the number of the first line
 * that does not parse (0 = none); those lines are left out. */
int fsi_receipts_read(fsi_receipt_line **out, size_t *n, size_t *bad_line, const char *home);

/* Checks one receipt: its text parses, names device `device`, the seq and
 * hash recorded beside it, and its signature verifies against head
 * office's pinned key.  1 when it holds; else 0 with why[n] saying what
 * fails. */
int fsi_receipt_check(const fsi_devstate_receipt *r, const char *device, const fsi_pubkeys *hq,
                      char *why, size_t n);

/* The file's last line into *out (the newest position of the push chain
 * head office is known to have reached): 1, or 0 when there is none. */
int fsi_receipts_last(fsi_receipt_line *out, const char *home);

/* Is the store behind its receipts?  *push gets the store's push chain and
 * *last the file's last line; 1 when the file knows a later position than
 * the store records (the store was rolled back: restored from an older
 * copy, or lost writes), 0 when not (also when the only later receipt is
 * that of the outbox still waiting, a crash between the two writes), < 0
 * on error. */
int fsi_receipts_behind(fsi_receipt_line *last, fsi_devstate_chain *push, fs_store *st,
                        const char *home);

#endif
