/*
 * fieldsync public API.
 *
 * fieldsync keeps an offline-first SQLite replica of a field-sales data model
 * on each device and on the head-office server.  Every write goes through this
 * library, which records a logical clock for every synced cell in the same
 * transaction, so that replicas can exchange "changes since" batches and merge
 * them deterministically (per-column last-writer-wins on (hlc, site)).
 *
 * Conventions (see STYLE.md):
 *  - handles are opaque; out-parameters come first, before the handle
 *    (`int fs_x(T *out, handle, ...)`); `T **out` means the caller owns the
 *    result and releases it with the matching _close (a handle) or fs_free
 *    (every other caller-owned result: strings, documents), all of which
 *    accept NULL.  Each function says which it is; on failure a `T **out`
 *    is set to NULL;
 *  - every function returning int returns FS_OK (0) or a negative fs_err, and
 *    on failure fs_errmsg() holds one human sentence for this thread;
 *  - threads: a handle (fs_store, fs_device) is used by one thread at a
 *    time; a program that calls one handle from several threads serialises
 *    those calls itself.  Different handles may be used on different threads
 *    at the same time, also two handles on one store file (SQLite's locking
 *    orders their writes, and each write transaction starts from what the
 *    file holds).  fs_errmsg() is per thread.  The only state shared by
 *    all handles is the one-time initialisation of libsodium and libcurl,
 *    made safely on first use;
 *  - money is int64 minor units plus an ISO currency code; time is int64
 *    milliseconds since the Unix epoch; ids are UUIDv7 text (36 chars).
 */
#ifndef FIELDSYNC_H
#define FIELDSYNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FS_EXTERN marks the library's interface: the shared libfieldsync.so is
 * built with hidden visibility and exports exactly these functions. */
#if defined(FS_BUILDING_LIBRARY) && defined(__GNUC__)
#define FS_EXTERN __attribute__((visibility("default")))
#else
#define FS_EXTERN
#endif

/* The version of these headers (CMakeLists.txt reads it from here).  The
 * shared library's SONAME carries the major number: it changes when a
 * program built against older headers would break. */
#define FS_VERSION_MAJOR 0
#define FS_VERSION_MINOR 3
#define FS_VERSION_PATCH 0
#define FS_VERSION_STRING "0.3.0"

/* The version of the library actually loaded ("0.3.0"), which may be newer
 * than the headers a program was built with.  Static storage. */
FS_EXTERN const char *fs_version(void);

/* ---------------------------------------------------------------- errors */

typedef enum fs_err {
  FS_OK = 0,
  FS_EINVAL = -1,     /* bad argument or bad input (CLI, CSV, field value) */
  FS_ENOTFOUND = -2,  /* no such row, file, device or token */
  FS_EEXIST = -3,     /* already exists (store, key file, enrollment) */
  FS_EPERM = -4,      /* refused by the write policy (head-office owned) */
  FS_EAUTH = -5,      /* signature, key, token or TLS verification failed */
  FS_ECORRUPT = -6,   /* malformed bytes, corrupt store or broken chain */
  FS_EVERSION = -7,   /* written by a newer fieldsync or unknown format */
  FS_ESKEW = -8,      /* remote clock too far ahead of local wall time */
  FS_ENETWORK = -9,   /* the server could not be reached */
  FS_ECONFLICT = -10, /* state does not allow it (submitted order, replay) */
  FS_ENOMEM = -11,    /* out of memory */
  FS_EIO = -12,       /* file system or SQLite I/O error */
  FS_EREVOKED = -13,  /* this device was revoked by head office */
  FS_ETOOBIG = -14,   /* input over a documented size limit */
  FS_EBUSY = -15,     /* busy right now (a bounded resource): try again shortly */
  FS_ECANCELED = -16, /* the application's progress callback asked to stop */
  FS_ELOCKED = -17,   /* the device is locked: unlock it with its passphrase */
  FS_ELEASE = -18,    /* the device's offline lease ran out: it must sync to unlock */
  FS_EWIPED = -19     /* this device was wiped by head office's order */
} fs_err;

/* The human sentence describing the last failure on this thread ("" if
 * none).  Borrowed: valid until the next fieldsync call on this thread. */
FS_EXTERN const char *fs_errmsg(void);

/* A short fixed name for an error code ("invalid input", "not found", ...). */
FS_EXTERN const char *fs_strerror(int code);

/* ---------------------------------------------------------------- basics */

#define FS_ID_SIZE 37 /* UUIDv7 text plus NUL */

/* Fresh UUIDv7 text id into out[FS_ID_SIZE]. */
FS_EXTERN void fs_uuid7(char out[FS_ID_SIZE]);

/* Milliseconds since the epoch from "YYYY-MM-DD HH:MM" (local time),
 * "YYYY-MM-DD" (local midnight) or ISO-8601 ("2026-01-05T08:00:00Z",
 * "...+02:00", with optional seconds/fraction).  FS_EINVAL if unparseable. */
FS_EXTERN int fs_time_parse(int64_t *out_ms, const char *text);

/* ISO-8601 UTC text ("2026-01-05T08:00:00Z") of ms into out[32]. */
FS_EXTERN void fs_time_format(char out[32], int64_t ms);

/* Money is stored as an integer count of the currency's minor unit (ISO
 * 4217: JPY and KRW have none, BHD, KWD and OMR thousandths, most
 * currencies hundredths).  fs_currency_digits gives that number of
 * decimals (2 for a code it does not list, or NULL). */
FS_EXTERN int fs_currency_digits(const char *currency);
/* Parses "12.50" / "12" / "-3.5" in currency into minor units; more
 * decimals than the currency has is FS_EINVAL ("1200.5" in JPY). */
FS_EXTERN int fs_amount_parse(int64_t *out_minor, const char *text, const char *currency);
/* "1 234.50" ("1 234" in JPY, "1 234.500" in KWD; groups of three with
 * spaces) of minor units of currency into out[40]. */
FS_EXTERN void fs_amount_format(char out[40], int64_t minor, const char *currency);
/* fs_amount_parse and fs_amount_format for a currency with two decimals. */
FS_EXTERN int fs_money_parse(int64_t *out_minor, const char *text);
FS_EXTERN void fs_money_format(char out[40], int64_t minor);

/* --------------------------------------------------------------- schema */

typedef enum fs_owner {
  FS_OWNER_DEVICE = 0, /* born on devices, e.g. meetings, orders */
  FS_OWNER_SHARED = 1, /* edited on both sides, e.g. customers */
  FS_OWNER_HQ = 2      /* head-office owned, read-only on devices */
} fs_owner;

typedef enum fs_coltype { FS_COL_TEXT = 0, FS_COL_INT = 1 } fs_coltype;

/* Column flags. */
#define FS_COL_NOTNULL 0x1u  /* a row must have a value */
#define FS_COL_HQ 0x2u       /* head-office owned after the row is created */
#define FS_COL_CUSTOMER 0x4u /* holds the customer id the row belongs to */
#define FS_COL_INDEX 0x8u    /* rows are looked up by this column: the store indexes it */

typedef struct fs_column {
  const char *name;
  fs_coltype type;
  unsigned flags;
  unsigned max_len; /* text: maximum bytes (0 = 4096) */
} fs_column;

/* A synced table: an `id TEXT PRIMARY KEY` (UUIDv7) plus these columns. */
typedef struct fs_table {
  const char *name;
  fs_owner owner;
  const fs_column *cols;
  size_t ncols;
} fs_table;

typedef struct fs_schema {
  const char *name; /* "fieldsales" */
  int version;      /* bumped when the declaration changes */
  const fs_table *tables;
  size_t ntables;
} fs_schema;

/* The default field-sales schema of ARCHITECTURE.md. */
FS_EXTERN const fs_schema *fs_schema_fieldsales(void);

/* ---------------------------------------------------------------- store */

typedef struct fs_store fs_store;

#define FS_OPEN_CREATE 0x1u   /* create the file if missing */
#define FS_OPEN_READONLY 0x2u /* never write (queries only) */
#define FS_OPEN_SERVER 0x4u   /* this replica is head office (role) */

/* Open (and with FS_OPEN_CREATE create) a store at `path` for `schema`
 * (NULL = field-sales).  An older store is migrated in place; a store written
 * by a newer version (FS_EVERSION), a corrupt file or a non-fieldsync
 * database (FS_ECORRUPT) is refused and left untouched.  FS_ENOTFOUND when
 * the file is missing and FS_OPEN_CREATE is not given. */
FS_EXTERN int fs_store_open(fs_store **out, const char *path, const fs_schema *schema,
                            unsigned flags);
FS_EXTERN void fs_store_close(fs_store *st);

/* This replica's site id (random, never 0) and its 16-hex text form. */
FS_EXTERN int64_t fs_store_site(const fs_store *st);
FS_EXTERN const char *fs_store_device_id(const fs_store *st);

/* Key/value settings kept in the store (manager, server url, cursors...).
 * fs_store_get copies the value into *out (caller-owned, free with
 * fs_free); FS_ENOTFOUND (and *out NULL) when unset.  fs_store_set with
 * value NULL unsets. */
FS_EXTERN int fs_store_get(char **out, fs_store *st, const char *key);
FS_EXTERN int fs_store_set(fs_store *st, const char *key, const char *value);

/* The highest db_version of this store (bumped once per write transaction). */
FS_EXTERN int64_t fs_store_db_version(fs_store *st);

/* Bound on how far a received clock may be ahead of local wall time. */
FS_EXTERN void fs_store_set_max_skew(fs_store *st, int64_t ms);

/* The site id of head office as this replica knows it (set at enrollment);
 * only changes from it may touch head-office owned tables and columns. */
FS_EXTERN int fs_store_set_hq_site(fs_store *st, int64_t site);
FS_EXTERN int64_t fs_store_hq_site(const fs_store *st);

/* --------------------------------------------------------- transactions */

/* Group many writes into one transaction (one db_version).  Without these,
 * each write is its own transaction.  Not nestable: FS_EINVAL when one is
 * already open.  fs_tx_rollback discards every write since fs_tx_begin. */
FS_EXTERN int fs_tx_begin(fs_store *st);
FS_EXTERN int fs_tx_commit(fs_store *st);
FS_EXTERN int fs_tx_rollback(fs_store *st);

/* ------------------------------------------------------- generic writes */

typedef struct fs_field {
  const char *name;
  const char *value; /* text form; NULL = SQL NULL */
} fs_field;

/* Insert a row into a synced table with a fresh UUIDv7 id, written to
 * id_out (the caller's buffer; may be NULL).  The write policy applies: a
 * device write to a head-office table is FS_EPERM; domain validation
 * (required fields, enums, customer exists, text length, valid UTF-8) is
 * FS_EINVAL/FS_ENOTFOUND.  Nothing is written on failure. */
FS_EXTERN int fs_insert(char id_out[FS_ID_SIZE], fs_store *st, const char *table,
                        const fs_field *fields, size_t n);
/* Set some columns of a row.  Same errors as fs_insert; FS_ENOTFOUND if the
 * row does not exist. */
FS_EXTERN int fs_update(fs_store *st, const char *table, const char *id, const fs_field *fields,
                        size_t n);
/* Delete a row (a tombstone with its own clock). */
FS_EXTERN int fs_delete(fs_store *st, const char *table, const char *id);

/* ----------------------------------------------------- domain operations */

/* An order line for `sku` on a draft order; the unit price is a snapshot of
 * the synced price list for the order's currency at this moment.
 * discount_bp: line discount in basis points (0..10000).  The new line's
 * id goes to id_out (the caller's buffer; may be NULL).  FS_ENOTFOUND for
 * an unknown order or SKU (or no price in the currency), FS_EINVAL for
 * qty <= 0, FS_ECONFLICT when the order is no longer a draft. */
FS_EXTERN int fs_order_line_add(char id_out[FS_ID_SIZE], fs_store *st, const char *order_id,
                                const char *sku, int64_t qty, int64_t discount_bp);
/* draft -> submitted; FS_EINVAL for an order without lines, FS_ECONFLICT when
 * not a draft. */
FS_EXTERN int fs_order_submit(fs_store *st, const char *order_id);

/* Deletes a customer made by mistake: FS_ECONFLICT (the sentence says to
 * archive it, status lost) when any row belongs to it (a contact, meeting,
 * order, balance ...); FS_ENOTFOUND when there is no such customer.  One
 * transaction. */
FS_EXTERN int fs_customer_delete(fs_store *st, const char *id);

/* Marks a task done: its done_at becomes the library's now (UTC).
 * FS_ENOTFOUND for an unknown task, FS_ECONFLICT (the sentence says when)
 * for one already done.  One transaction. */
FS_EXTERN int fs_task_done(fs_store *st, const char *id);
/* Quotes (proposals): a row of `quotes` made with fs_insert (customer_id;
 * currency, default EUR; valid_until YYYY-MM-DD, default 30 days after
 * today in the local calendar; discount_bp, deal_id, notes) is a draft with
 * a number for people, "3F2A91-Q17" (the device's quote sequence; an
 * order's is "3F2A91-17").  Its status goes draft -> sent -> accepted or
 * rejected only; its lines change only while it is a draft.
 *
 * fs_quote_line_add: a line for `sku` priced from the synced price list in
 * the quote's currency now, like fs_order_line_add (same errors;
 * FS_ECONFLICT when the quote is no longer a draft). */
FS_EXTERN int fs_quote_line_add(char id_out[FS_ID_SIZE], fs_store *st, const char *quote_id,
                                const char *sku, int64_t qty, int64_t discount_bp);
/* draft -> sent (sent_at now); FS_EINVAL without lines, FS_ECONFLICT when
 * not a draft or expired (valid_until before today). */
FS_EXTERN int fs_quote_send(fs_store *st, const char *quote_id);
/* sent -> rejected (decided_at now); a non-empty reason is appended to the
 * quote's notes as a last line "Rejected: REASON".  FS_ECONFLICT when the
 * quote is not sent. */
FS_EXTERN int fs_quote_reject(fs_store *st, const char *quote_id, const char *reason);
/* sent -> accepted, in one transaction: a draft order for the quote's
 * customer (quote_id, deal_id, currency and discount of the quote) with a
 * copy of every line at the quote's unit price and discount, and the quote
 * marked accepted with decided_at and order_id.  The new order's id goes to
 * order_id_out.  FS_ECONFLICT when the quote is a draft, already decided or
 * expired (valid_until before today, local calendar). */
FS_EXTERN int fs_quote_accept(char order_id_out[FS_ID_SIZE], fs_store *st, const char *quote_id);
/* Adds the lines of quote `from_quote` (SKU, quantity, line discount) to
 * draft quote `to_quote` at today's prices in to_quote's currency; one
 * transaction, nothing added when one line fails (an SKU no longer sold or
 * without a price). */
FS_EXTERN int fs_quote_copy_lines(fs_store *st, const char *to_quote, const char *from_quote);
/* The same for orders: the lines of `from_order` into draft `to_order`. */
FS_EXTERN int fs_order_copy_lines(fs_store *st, const char *to_order, const char *from_order);

/* ------------------------------------------------------------- queries */

/* The id of the row of `table` (customers, contacts, meetings, orders,
 * order_lines, complaints, competitor_notes, tasks, deals, quotes,
 * quote_lines) a person means by `typed`: the whole id, a unique prefix or
 * end of it of 6 or more characters (letter case aside), for a customer its
 * exact name (letter case aside), for an order or a quote its number
 * ("3F2A91-17", "3F2A91-Q17").  The id goes to out.  FS_ENOTFOUND when
 * nothing matches; FS_EINVAL when several do (the sentence lists them and
 * asks for more of the id) or for another table. */
FS_EXTERN int fs_resolve_id(char out[FS_ID_SIZE], fs_store *st, const char *table,
                            const char *typed);

/* JSON documents for the CLI and reports; *out is a caller-owned
 * NUL-terminated string (free with fs_free; NULL on failure).  `view` is
 * one of:
 *   "customers"            array of customers (arg unused)
 *   "customer"             one customer with contacts, meetings, orders,
 *                          balances (arg = id)
 *   "meetings"             array; arg = "customer=ID", "day=YYYY-MM-DD" (a
 *                          local day) and/or "kind=call|visit|exhibition"
 *                          joined by '&', or NULL
 *   "tasks"                the open tasks (arg NULL), or every task (arg
 *                          "all", done ones last): due date first (overdue
 *                          ones first), those without a due date after;
 *                          "overdue" true/false against the local today
 *   "agenda"               a local day (or a week) of the manager: arg
 *                          "day=YYYY-MM-DD" (default today), "week" (its
 *                          Monday-to-Sunday week), "days=N" (1-31) joined
 *                          by '&', or NULL; meetings, follow_ups, tasks,
 *                          quotes (sent, awaiting an answer), debtors and
 *                          summary (counts per day against the norms);
 *                          docs/cli.md ("agenda") has the shape
 *   "orders"               array of orders with totals
 *   "order"                one order with its lines and totals (arg = id)
 *   "quotes"               array of quotes with totals, newest first; "expired"
 *                          is 1 for a draft or sent quote past valid_until
 *   "quote"                one quote with its lines and totals (arg = id)
 *   "products"             catalog with prices, by SKU; arg NULL (all),
 *                          "limit=N" (the first N) or "page=N&after=SKU"
 *                          (about N after SKU, "page=N" the first: a page
 *                          ends at a SKU boundary, so reading a large
 *                          catalog page by page, each page's last SKU the
 *                          next one's `after`, repeats and skips nothing)
 *   "customer_find"        customers matching a person's text (arg), best
 *                          first: rank 1 the exact name, 2 its start, 3 a
 *                          word of it, 4 anywhere in it, 5 city, e-mail or
 *                          VAT id, 6 the phone's digits; case and Latin
 *                          accents aside; then by name
 *   "product_find"         products matching a person's text, best first:
 *                          arg "TEXT" or "N TEXT" (at most N, default 50,
 *                          at most 10,000); rows as "products" plus "rank"
 *                          (1 exact SKU, 2 SKU prefix, 3 name prefix, 4 a
 *                          word of the name, 5 anywhere; case and Latin
 *                          accents folded)
 *   "conflicts"            conflict log, newest first
 *   "refused"              refused changes, oldest first: id, at, table,
 *                          row, column (null: the whole row), site,
 *                          manager (head office: the sending device's),
 *                          customer_id, customer_name, reason (a whole
 *                          sentence), state (open, dismissed, copied),
 *                          closed_at, copied_to, values (the row's values
 *                          as refused, or null); arg NULL for the open
 *                          ones, or "state=open|dismissed|copied|all"
 *                          and/or "manager=NAME" joined by '&'
 *   "refusal"              one refused change (arg = its id) as listed,
 *                          and for an order its lines (each with the id
 *                          of the refusal that names it, or null)
 *   "complaints"           complaints and feedback (arg: a customer id or
 *                          NULL), open ones first, newest first; status
 *                          open, in_progress or resolved
 *   "competitors"          competitor notes (arg: a customer id or NULL),
 *                          by competitor, with price and currency
 *   "contacts"             contact persons (arg: a customer id, or NULL
 *                          for all), by customer name and name, each
 *                          with customer_name
 *   "deals"                deals (arg: a customer id or NULL), by expected
 *                          close date (none last): customer_name, stage,
 *                          value and weighted (minor units; weighted =
 *                          value x probability / 100 rounded half up),
 *                          currency, probability (percent), close_date
 *   "deal"                 one deal (arg = id) as listed, with "quotes" and
 *                          "orders": the rows that name it (deal_id), each
 *                          with number, status, currency and total
 *   "status"               device id, manager, server, last sync, pending
 *                          changes; refused: the number of open refusals,
 *                          refused_by_state: {open, copied, dismissed},
 *                          refusals: the open ones as "refused" lists them
 *   "export"               every synced table: {"table":[rows sorted by id]}
 *                          (a manager's subset of it at head office:
 *                          fs_hq_export_json in <fieldsync/server.h>)
 * FS_ENOTFOUND for an unknown id, FS_EINVAL for an unknown view. */
FS_EXTERN int fs_view_json(char **out, fs_store *st, const char *view, const char *arg);

/* Releases a caller-owned result of this library (fs_view_json's document,
 * fs_store_get's value, ...): the one deallocator for everything that is not
 * a handle, so a program never mixes its allocator with the library's.
 * NULL is fine. */
FS_EXTERN void fs_free(void *p);

/* Number of locally made changes (rows) not yet acknowledged by head office,
 * into *out. */
FS_EXTERN int fs_pending_count(int64_t *out, fs_store *st);

/* Resolve conflict `id` (from the "conflicts" view): keep_loser = 0 keeps
 * the winner (marks it reviewed), 1 writes the losing value back as a new
 * local edit that syncs like any other. */
FS_EXTERN int fs_conflict_resolve(fs_store *st, int64_t id, int keep_loser);

/* Re-creates refused change `id` (from the "refused" view) as new rows
 * through the ordinary write path, in one transaction: a refused order
 * becomes a new order with the same currency, discount and lines (SKU,
 * quantity, line discount; the unit prices are taken from today's price
 * list, as for any new line), submitted again when it was submitted; a
 * meeting (or another row that belongs to a customer) a new one with the
 * same values.  The copy goes to `customer` (an id), or with NULL to the
 * customer of the refused row, which must be live here and assigned to
 * this device's manager.  The new row's id goes to id_out (may be NULL);
 * the refusal (and a copied order's refused lines) are then marked copied
 * with it, never deleted.  FS_ENOTFOUND for an unknown refusal or
 * customer, or one that kept no values; FS_EPERM when the customer is no
 * longer this manager's (the sentence says to name one with --customer);
 * FS_ECONFLICT when it was already copied; FS_EINVAL for what cannot be
 * copied (a customer's change, an order line on its own: the sentence
 * says what to do) or at head office; the write path's errors (an SKU no
 * longer sold), with nothing written. */
FS_EXTERN int fs_refused_copy(char id_out[FS_ID_SIZE], fs_store *st, int64_t id,
                              const char *customer);

/* Marks open refused change `id` dismissed (read, nothing to do): it stays
 * in the log ("refused" with state=all); a dismissed order takes its
 * refused lines with it.  FS_ENOTFOUND for an unknown id, FS_ECONFLICT when
 * it is not open. */
FS_EXTERN int fs_refused_dismiss(fs_store *st, int64_t id);

/* One concurrent edit from the conflict log: which cell, the value the rule
 * kept (winner) and the one it set aside (loser), as text (NULL = SQL
 * NULL).  `column` is "" when the whole row was concerned (a delete against
 * an edit). */
typedef struct fs_conflict {
  int64_t id; /* for fs_conflict_resolve */
  const char *table;
  const char *row; /* the row's id */
  const char *column;
  const char *winner;
  const char *loser;
  int64_t detected_at; /* ms since the epoch */
  int resolved;        /* 1 once a person resolved it */
} fs_conflict;

/* The conflict log, newest first: *out is an array of *count entries whose
 * strings live in the same allocation; release it with one fs_free(*out).
 * unresolved_only = 1 leaves out the conflicts a person already resolved.
 * *out is NULL and *count 0 on failure (FS_EIO, FS_ENOMEM). */
FS_EXTERN int fs_conflicts(fs_conflict **out, size_t *count, fs_store *st, int unresolved_only);

#ifdef __cplusplus
}
#endif
#endif /* FIELDSYNC_H */
