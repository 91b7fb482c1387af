/*
 * engine.h — the engine's interface to the layers above it.
 *
 * core/ is the engine: store, statements, schema, clock, capture, extraction,
 * merge, policy, subsets, conflicts, domain rules and views.  The device side
 * of sync/ and head office (server-stub/hq/) are built on it, and this is the
 * one header through which they reach it: the batch types (change.h),
 * extraction and merge (merge.h), errors, time and fault points (util.h), the
 * hybrid clock (hlc.h) and the store operations named below.  The layout of
 * fs_store and the row cache (storeInt.h) stay private to core/; a file
 * outside core/ that needs more of the engine gets a named function here,
 * never the struct.  Programs (cli/, server-stub/main.c) use the public API
 * in include/fieldsync/ only.
 */
#ifndef FS_ENGINE_H
#define FS_ENGINE_H

#include <fieldsync/fieldsync.h>
#include <sqlite3.h>

#include "change.h"
#include "hlc.h"
#include "merge.h"
#include "util.h"

/* ------------------------------------------------ encrypted stores
 *
 * A store is encrypted at rest when it is created with a key: every page of
 * its file and every frame of its WAL is sealed with XChaCha20-Poly1305
 * under that key (docs/security.md, "The store at rest").  The key is the
 * store's data key for its whole life (changing a passphrase rewraps it,
 * never re-encrypts the store).
 *
 * fsi_store_open_keyed  fs_store_open with a key: `key` is
 *                       FSI_STORE_KEYBYTES (32) bytes, or NULL for a plain
 *                       store (fs_store_open is this with NULL).  The store
 *                       copies the key into guarded, locked memory that is
 *                       wiped when it closes: the caller may wipe its copy
 *                       as soon as this returns.  With FS_OPEN_CREATE a
 *                       missing or empty file becomes an encrypted store.
 *                       Errors beyond fs_store_open's: FS_EAUTH when the
 *                       key does not open the store (its first page fails
 *                       authentication); FS_EINVAL for a key given to a
 *                       plain store or to an in-memory one; FS_ECORRUPT for
 *                       an encrypted store opened without a key (the file is
 *                       then not readable as SQLite: the message says it may
 *                       be either) and, with the sentence "the store ... is
 *                       damaged: page N failed authentication ...", for any
 *                       page or frame that fails authentication later, here
 *                       or on any later call.  The file is left untouched by
 *                       every refusal.
 * fsi_store_is_encrypted  *out = 1 when the file at path is an encrypted
 *                       store (not readable without its key), 0 for a plain
 *                       SQLite file or an empty one.  Reads no page; needs
 *                       no key.  FS_ENOTFOUND when there is no such file.
 * fsi_store_encrypted   1 when the open store st is encrypted.
 * fsi_store_check       reads every page of the store (PRAGMA quick_check):
 *                       FS_OK, or FS_ECORRUPT with the sentence naming what
 *                       is damaged.  The open runs it on a plain store; an
 *                       encrypted store authenticates each page as it is
 *                       read instead, so its open reads only what it needs
 *                       and a full check is this call (a `check` command,
 *                       a test). */
#define FSI_STORE_KEYBYTES 32
int fsi_store_open_keyed(fs_store **out, const char *path, const fs_schema *schema, unsigned flags,
                         const unsigned char *key);
int fsi_store_is_encrypted(const char *path, int *out);
int fsi_store_encrypted(const fs_store *st);
int fsi_store_check(fs_store *st);

/* A bare SQLite connection to a file that is not opened as a store (head
 * office's backups and the file a restore prepares), encrypted like a store
 * when `key` is not NULL: through an encryption layer of its own, *crypt_out,
 * with the page layout and temp_store=MEMORY set, so it writes no journal
 * or temporary file (set journal_mode=OFF before writing a new one).
 * `oflags` are sqlite3_open_v2's.  FS_EAUTH when the key does not open the
 * file.  Close with fsi_raw_close (both accept NULL). */
struct fsi_crypt;
int fsi_raw_open(sqlite3 **db_out, struct fsi_crypt **crypt_out, const char *path,
                 const unsigned char *key, int oflags);
void fsi_raw_close(sqlite3 *db, struct fsi_crypt *crypt);

/* The store's SQLite connection, for head office's own tables (registry,
 * tokens, audit log).  Borrowed for the life of the store. */
sqlite3 *fsi_store_db(fs_store *st);
/* 1 while fs_tx_begin's explicit transaction is open. */
int fsi_store_in_tx(const fs_store *st);
/* Forgets the head-office site in memory after its setting was rolled back. */
void fsi_store_forget_hq_site(fs_store *st);
/* The store's hybrid clock (the highest clock it issued or received) and
 * its skew bound (fs_store_set_max_skew), in milliseconds. */
int64_t fsi_store_clock(const fs_store *st);
int64_t fsi_store_max_skew(const fs_store *st);
/* The highest clock (and its site) of the last batch this handle refused
 * as too far ahead (FS_ESKEW); 0 when it refused none. */
int fsi_store_skew_refused(const fs_store *st, int64_t *hlc, int64_t *site);
/* 1 when the k-th (0 or 1) of the last two batches this handle extracted
 * ended at `cursor` (fsi_merge_cursor_format), with *hlc_max the highest
 * clock in it; else 0. */
int fsi_store_extracted(const fs_store *st, int k, const char *cursor, int64_t *hlc_max);

/* A cached prepared statement for constant SQL text (reset and unbound on
 * return).  NULL on error with the message set.  The cache knows a statement
 * by the address of its text: pass a string literal or a static const
 * array, never a buffer built at run time (snprintf): a later call with the
 * same buffer and other text would get the first statement back.  SQL built
 * from a declaration (a table's name) is prepared for one use instead. */
sqlite3_stmt *fsi_store_stmt(fs_store *st, const char *sql);
/* Statements in the cache (for the tests of the cache itself). */
size_t fsi_store_stmt_count(const fs_store *st);

/* The one way to run SQL (sql.c).  Arguments are bound to ?1, ?2, ... from
 * `types`, one letter each: 't' const char * (NULL binds NULL), 'i'
 * int64_t (pass an int64_t, not an int), 'd' int, 'b' const void *, size_t
 * (a blob), 'n' NULL (no argument).  Text and blobs are bound without a
 * copy: they must live until the statement is stepped.  Every failure is an
 * fs_err with fs_errmsg() naming `what` ("recording a reassignment").
 *
 * fsi_sql_run    steps once (a statement returning no row, or whose rows
 *                are not wanted): FS_OK or the error.
 * fsi_sql_i64    the first column of the first row into *out: FS_OK,
 *                FS_ENOTFOUND when there is no row or it is NULL, or the
 *                error.
 * fsi_sql_query  a bound statement to step with fsi_sql_step: 1 a row
 *                (read its columns), 0 the end, < 0 the error; after 0 or
 *                an error the statement is reset, after stopping early call
 *                fsi_sql_done.  NULL (with the message set) on failure. */
int fsi_sql_run(fs_store *st, const char *what, const char *sql, const char *types, ...);
int fsi_sql_i64(fs_store *st, int64_t *out, const char *what, const char *sql, const char *types,
                ...);
sqlite3_stmt *fsi_sql_query(fs_store *st, const char *sql, const char *types, ...);
int fsi_sql_step(fs_store *st, sqlite3_stmt *s, const char *what);
void fsi_sql_done(sqlite3_stmt *s);

/* Maps the last SQLite error to an fs_err with a sentence naming `what`. */
int fsi_store_sqlfail(fs_store *st, const char *what);

/* Write transactions.  fsi_store_tx_begin opens one unless fs_tx_begin already
 * did (then it is a no-op); fsi_store_tx_end commits (rc == FS_OK) or rolls back
 * an implicit one.  fsi_store_next_seq gives the next change number for a row this
 * transaction writes (each call a new one; the store's db_version is the
 * highest committed). */
int fsi_store_tx_begin(fs_store *st, int *implicit);
int fsi_store_tx_end(fs_store *st, int implicit, int rc);
int64_t fsi_store_next_seq(fs_store *st);

/* The device's manager (set at init), cached; NULL when unset. */
const char *fsi_store_manager(fs_store *st);
int fsi_store_is_hq(const fs_store *st);
int fsi_store_meta_get_i64(fs_store *st, const char *key, int64_t *out);
int fsi_store_meta_set_i64(fs_store *st, const char *key, int64_t v);

/* Test hook: gives a store that has never been used (no write, no merge)
 * the positive site id `site` instead of the random one it was created with,
 * so that a property test's sites, and every (hlc, site) tie-break with them,
 * follow from its seed.  FS_EINVAL once the store was used (clocks already
 * issued carry the old site) or for site <= 0; FS_EIO if the setting cannot
 * be written.  The library never calls it. */
int fsi_store_set_site_for_test(fs_store *st, int64_t site);

/* Refused changes (refused.c).  A device records head office's refusal of
 * its own change of row `pk` of `table` (col NULL: the whole row; else that
 * column) with the row as it holds it now: every column, the customer it
 * belongs to and that customer's name, and for an order its lines.  Call it
 * before the pull that may let the customer go.  Deduplicated; FS_OK or a
 * store error. */
int fsi_refused_log_row(fs_store *st, const char *table, const char *pk, const char *col,
                        int64_t site, const char *reason);

struct cJSON;
/* Head office: the refusals of state `state` ("open", "dismissed",
 * "copied"; NULL or "all" for every one) of the devices of `manager` (NULL:
 * every manager), oldest first, as the "refused" view shows them, into
 * *out (cJSON_Delete).  Reads in one read transaction of its own. */
int fsi_refused_json(struct cJSON **out, fs_store *st, const char *state, const char *manager);

/* Device: drops every customer assigned to another manager than `manager`,
 * with the rows that belong to it, without recording deletes (the data
 * still exists at head office; this device just no longer holds it). */
int fsi_store_evict_foreign(fs_store *st, const char *manager, int64_t *evicted);

/* ----------------------------------------------------------------------
 * What head office (server-stub/hq/) takes from the engine for its own
 * work on the central replica: imports, assignments, reports, subsets. */

struct cJSON;

/* The declaration this store was opened with (its synced tables, in
 * order).  Borrowed for the life of the store. */
const fs_schema *fsi_store_schema(const fs_store *st);

/* Head office, inside the write transaction that moves customer_id to
 * manager, before the customer's rows are marked to be sent again
 * (domain.c): the manager who holds it gets a let-go marker with a change
 * number of its own, and a marker `manager` had for it is dropped
 * (docs/merge.md, "Let-go markers").  FS_EPERM on a device store. */
int fsi_domain_letgo(fs_store *st, const char *customer_id, const char *manager);

/* Order amounts in SQL, so that the order views and head office's reports
 * agree to the cent: a line of order_lines `l` is qty * unit_price less its
 * discount, an order of orders `o` the sum of its lines less the order
 * discount, each rounded half away from zero once. */
#define FSI_SQL_LINE_AMOUNT                                                                        \
  "(l.qty * l.unit_price * (10000 - coalesce(l.discount_bp, 0)) + 5000) / 10000"
#define FSI_SQL_ORDER_TOTAL                                                                        \
  "(SELECT (coalesce(sum(" FSI_SQL_LINE_AMOUNT "), 0) * (10000 - coalesce(o.discount_bp, 0))"      \
  " + 5000) / 10000 FROM order_lines l WHERE l.order_id = o.id)"
/* A deal d's weighted value: value x probability / 100, rounded half up to
 * the minor unit (core/deal.c). */
#define FSI_DEAL_SQL_WEIGHTED "((d.value * d.probability + 50) / 100)"

/* Views (views.c).  A view reads inside one read transaction, so it is a
 * consistent snapshot: fsi_view_begin opens it (FS_OK, or the store's
 * error, as when fs_tx_begin's transaction is open), fsi_view_end ends it.
 *
 * fsi_view_rows   the rows of s, a statement from fsi_sql_query (NULL:
 *                 its failure, FS_EIO with the message kept), as a JSON
 *                 array of objects keyed by the result column names:
 *                 integers as numbers, NULL as null, text as strings.  s is
 *                 stepped to its end or reset on failure; `what` names the
 *                 reading in an error.
 * fsi_view_table  synced table t as the export view shows it: its rows
 *                 sorted by id, each with the id and every declared column.
 *                 With `where` (SQL over the table's columns, built by the
 *                 caller from the declaration, never from input) only the
 *                 rows it admits, ?1 bound to arg.
 * *out is caller-owned (cJSON_Delete). */
int fsi_view_begin(fs_store *st);
void fsi_view_end(fs_store *st);
int fsi_view_rows(fs_store *st, sqlite3_stmt *s, const char *what, struct cJSON **out);
/* The products matching a person's text, ranked (find.c): arg "TEXT" or
 * "LIMIT TEXT"; rows as the products view's plus "rank" (1 exact SKU, 2 SKU
 * prefix, 3 name prefix, 4 a word of the name, 5 anywhere). */
int fsi_view_product_find(fs_store *st, const char *arg, struct cJSON **out);
/* The customers matching a person's text (find.c), best first: arg the
 * text. */
int fsi_view_customer_find(fs_store *st, const char *arg, struct cJSON **out);
/* The manager's tasks and day (agenda.c): the "tasks" and "agenda" views. */
int fsi_view_tasks(fs_store *st, const char *arg, struct cJSON **out);
int fsi_view_agenda(fs_store *st, const char *arg, struct cJSON **out);
int fsi_view_table(fs_store *st, const fs_table *t, const char *where, const char *arg,
                   struct cJSON **out);

/* ------------------------------------------ device sync state (devstate.c) */

/* Where a device stands with head office, so that every sync resumes where
 * the last one stopped (sync/client.c is the one user).  The writes that
 * record an acknowledgement or a merged batch (outbox, chains) are made
 * inside the caller's transaction (fs_tx_begin), together with what they
 * record.  Every getter fails with FS_ECORRUPT when a stored value does not
 * fit its buffer (a damaged store) rather than cut it short. */

#define FSI_DEVSTATE_CURSOR 256 /* a cursor's text with its NUL */
#define FSI_DEVSTATE_HASH 65    /* 64 hex digits of an envelope hash and NUL */

/* The server a device enrolled with: URL, TLS trust (the copied CA file
 * and/or the pin; "" = none) and head office's public keys (hex). */
typedef struct fsi_devstate_server {
  char url[1024];
  char keys[136];
  char ca[4200];
  char pin[256];
} fsi_devstate_server;

/* FS_ECORRUPT when the url or keys are missing (call only once enrolled,
 * fs_store_hq_site() != 0). */
int fsi_devstate_server_get(fsi_devstate_server *out, fs_store *st);
/* Records an enrollment and pins head office's site, in one transaction of
 * its own (FS_EINVAL when fs_tx_begin's is open); nothing on failure. */
int fsi_devstate_enrolled(fs_store *st, const fsi_devstate_server *srv, int64_t hq_site);
/* Records the end of a successful sync (the "last_sync" of the status). */
int fsi_devstate_synced(fs_store *st, int64_t when_ms);

/* The outbox: the sealed push envelope head office has not acknowledged
 * yet, the push cursor it advances to and its rows.  env is malloc'd
 * (fsi_devstate_outbox_free), NULL when the outbox is empty. */
typedef struct fsi_devstate_outbox {
  unsigned char *env;
  size_t len;
  char cursor[FSI_DEVSTATE_CURSOR];
  int64_t rows;
} fsi_devstate_outbox;

int fsi_devstate_outbox_get(fsi_devstate_outbox *out, fs_store *st);
/* e->env must be non-empty; fsi_devstate_outbox_clear empties the outbox. */
int fsi_devstate_outbox_put(fs_store *st, const fsi_devstate_outbox *e);
int fsi_devstate_outbox_clear(fs_store *st);
/* Frees env and zeroes *e (the struct itself is the caller's). */
void fsi_devstate_outbox_free(fsi_devstate_outbox *e);

/* A position in one direction's hash chain: the cursor ("" = from the
 * beginning), the sequence number of the last envelope (0 = none) and its
 * hash in hex ("" = none recorded). */
typedef struct fsi_devstate_chain {
  char cursor[FSI_DEVSTATE_CURSOR];
  int64_t seq;
  char hash[FSI_DEVSTATE_HASH];
} fsi_devstate_chain;

/* Push: what head office last acknowledged.  Pull: what was last merged. */
int fsi_devstate_push_get(fsi_devstate_chain *out, fs_store *st);
int fsi_devstate_push_set(fs_store *st, const fsi_devstate_chain *c);
int fsi_devstate_pull_get(fsi_devstate_chain *out, fs_store *st);
int fsi_devstate_pull_set(fs_store *st, const fsi_devstate_chain *c);

/* The epoch of head office's store the pull cursor counts in ("" = none
 * known; a restore of head office from a backup starts a new epoch, and a
 * cursor of another is not trusted there).  Set with the pull chain. */
#define FSI_DEVSTATE_EPOCH 65
int fsi_devstate_pull_epoch_get(char out[FSI_DEVSTATE_EPOCH], fs_store *st);
int fsi_devstate_pull_epoch_set(fs_store *st, const char *epoch);

/* After head office was found behind this device's receipts, the push
 * cursor went back to what head office still had and every row changed
 * since then is sent again, whoever wrote it, up to change number `until`
 * (the store's db_version at that moment; 0 = no re-send under way).  Set
 * with the push chain, in the caller's transaction. */
int fsi_devstate_resend_get(int64_t *until, fs_store *st);
int fsi_devstate_resend_set(fs_store *st, int64_t until);

/* A receipt: head office's signed acknowledgement of push envelope `seq`
 * with chain hash `hash` (hex): the signed text and signature (hex) as
 * head office sent them (sync/proto.h, fsi_proto_ack_text), the push cursor
 * the envelope advanced to, and when the device received it (ms). */
#define FSI_DEVSTATE_RECEIPT_TEXT 256
#define FSI_DEVSTATE_RECEIPT_SIG 129
typedef struct fsi_devstate_receipt {
  int64_t seq;
  char hash[FSI_DEVSTATE_HASH];
  char cursor[FSI_DEVSTATE_CURSOR];
  char text[FSI_DEVSTATE_RECEIPT_TEXT];
  char sig[FSI_DEVSTATE_RECEIPT_SIG];
  int64_t received_at;
} fsi_devstate_receipt;

/* Keeps a receipt (within the caller's transaction, with the
 * acknowledgement it proves); one already kept (same seq and hash) is left
 * as it is. */
int fsi_devstate_receipt_add(fs_store *st, const fsi_devstate_receipt *r);
/* Every receipt of the store in the order received: *out malloc'd (free),
 * *n entries; FS_ECORRUPT for a damaged one. */
int fsi_devstate_receipts(fsi_devstate_receipt **out, size_t *n, fs_store *st);
/* What head office may hold of this device: *bound is at or above every
 * clock of every envelope that has been the outbox (an acknowledgement can
 * be lost, so one sent is counted as held), except one head office refused
 * and fsi_devstate_outbox_unseal dropped.  Replacing or clearing the outbox
 * (fsi_devstate_outbox_put / _clear) keeps it, in the caller's
 * transaction. */
int fsi_devstate_let_out(fs_store *st, int64_t *bound);
/* Drops the outbox after head office refused it (its answer proves it was
 * not applied), without counting its clocks as let out: its rows are
 * pending again.  Inside the caller's transaction. */
int fsi_devstate_outbox_unseal(fs_store *st);

/* ------------------------------------- clocks that ran ahead (reclock.c) */

/* Re-issues this device's own clocks that are ahead of the wall clock and
 * were never let out (docs/merge.md, "A clock that was ahead"), and sets
 * the store's clock back, in one transaction of its own (FS_EINVAL when
 * fs_tx_begin's is open; FS_EPERM at head office).  now_ms is the wall
 * clock, which the caller has confirmed (head office agrees with it);
 * with `unseal` the outbox, which head office just refused, is dropped
 * first (fsi_devstate_outbox_unseal) so its rows are re-issued too.  The
 * skew last noted with fsi_reclock_note_skew places the new clocks (and
 * is used up).  Nothing changes on failure. */
typedef struct fsi_reclock_result {
  int64_t clocks;     /* distinct clock values re-issued */
  int64_t threshold;  /* clocks above this were this device's to re-issue */
  int64_t floor;      /* the new clocks are above this */
  int64_t hlc_before; /* the store's clock before and after */
  int64_t hlc_after;
  int64_t kept_ahead; /* this device's highest clock still ahead of now_ms
                         (one head office may hold), 0 = none */
} fsi_reclock_result;
int fsi_reclock(fs_store *st, int64_t now_ms, int unseal, fsi_reclock_result *res);
/* Records how far ahead of head office this laptop's clock was measured
 * (milliseconds, > 0), for the next fsi_reclock; <= 0 forgets it (the
 * clocks agree again), writing nothing when there was none. */
int fsi_reclock_note_skew(fs_store *st, int64_t ahead_ms);
/* The highest clock of `site` above `above` among the rows, cells and
 * tombstones of this store, 0 if none. */
int fsi_reclock_site_max(fs_store *st, int64_t site, int64_t above, int64_t *out);

#endif
