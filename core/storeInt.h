/*
 * storeInt.h — the store handle and the internals shared by core/ modules.
 *
 * Layout of a store (one SQLite file):
 *  - one table per declared synced table: `id TEXT PRIMARY KEY`, the declared
 *    columns, and the compact clock of the row: _cl (causal length, odd),
 *    _hlc/_site (the clock covering every column without its own entry),
 *    _seq (the change number of the last change to the row on this replica,
 *    unique across the store and the table's rowid, so rows sit in change
 *    order) and
 *    _src (0 when the row holds something written or kept locally; else the
 *    site of the peer whose state the row equals, so it is not echoed back);
 *  - fs_cell: a clock (and base clock) for each column edited on its own
 *    after the row's insert;
 *  - fs_tomb: deleted rows (causal length even) with their delete clock,
 *    the customer they belonged to and that customer's manager then;
 *  - fs_moved (head office): customers moved away from a manager, with the
 *    change number of the let-go marker that manager's devices receive;
 *  - fs_conflict, fs_refused: what a person reviews;
 *  - fs_meta: format version, site id, db_version, clock, settings.
 * An encrypted store is the same database with every page of its file and
 * every frame of its WAL sealed by the encryption layer (crypt.c, below).
 *
 * Invariants: a row is live in its table or in fs_tomb, never both; every
 * write to a synced table goes through write.c or merge.c, in a transaction
 * that also bumps _seq and persists the clock (fsi_store_tx_*).
 */
#ifndef FS_STORE_INT_H
#define FS_STORE_INT_H

#include <fieldsync/fieldsync.h>
#include <sqlite3.h>

#include "engine.h"
#include "hlc.h"

/* Columns the domain rules look at, found by name once per table. */
enum {
  SP_CURRENCY,
  SP_COUNTRY,
  SP_EMAIL,
  SP_DISCOUNT,
  SP_AT,
  SP_FOLLOWUP,
  SP_CREATED,
  SP_MANAGER,
  SP_N
};
extern const char *const fsi_store_special_cols[SP_N];

typedef struct fsi_tbl_state {
  const fs_table *decl;
  int idx;
  int cust_col;      /* FS_COL_CUSTOMER column index, -1 if none */
  char *collist;     /* "\"c1\",\"c2\",..." */
  sqlite3_stmt *ins; /* id, cols..., _cl, _hlc, _site, _seq, _src */
  sqlite3_stmt *get; /* cols..., _cl, _hlc, _site, _seq, _src WHERE id */
  sqlite3_stmt *put; /* UPDATE all cols + clock WHERE id */
  sqlite3_stmt *del; /* DELETE WHERE id */
  int sp[SP_N];      /* index of each special column, -1 if absent */
  int tombs;         /* -1 unknown, 0 no tombstones, 1 maybe some */
} fsi_tbl_state;

struct fs_store {
  sqlite3 *db;
  const fs_schema *schema;
  fsi_tbl_state *t;
  size_t nt;
  unsigned flags;
  int64_t site;
  char device_id[17];
  fsi_hlc_clock clock;
  int64_t dbv;        /* last committed db_version */
  int64_t tx_dbv;     /* db_version of the open transaction's writes, 0 = none */
  int64_t seq;        /* last committed change number (one per row change) */
  int64_t tx_seq;     /* last change number handed out in the open transaction */
  int in_tx;          /* 1 inside fs_tx_begin .. commit/rollback */
  int64_t saved_hlc;  /* clock at transaction start, restored on rollback */
  int64_t saved_seen; /* the clock's `seen` at transaction start, likewise */
  int64_t hlc_epoch;  /* bumped when the clock is set back (reclock.c): another
                         handle then takes the stored clock even though lower */
  int64_t max_skew;
  int64_t hq_site;
  int64_t restored_hlc;      /* head office: clock of its last restore from a backup, 0 none */
  char *manager;             /* cached "manager" setting (device), NULL if unset */
  struct fsi_arena *scratch; /* fs_insert's working memory, reset per call */
  int restoring;             /* 1 while a conflict resolution re-creates a logged row */
  int manager_loaded;
  struct fsi_stmt_cache *stmts; /* prepared constant SQL (sql.c) */
  struct fsi_crypt *crypt;      /* the encryption layer; NULL for a plain store */
  /* The clock range of the last two batches extracted (extract.c), so the
   * outbox can record how far the clocks it lets out go (reclock.c). */
  struct {
    char cursor[256];
    int64_t hlc_max;
  } extracted[2];
  int extracted_next;
  int64_t skew_hlc, skew_site; /* the clock of the last batch refused as too far ahead */
};

/* ------------------------------------------- the encrypted store (crypt.c)
 *
 * An encrypted store is opened through a VFS of its own that seals every
 * page of the store file and every frame of its WAL (XChaCha20-Poly1305;
 * layout and invariants at the top of crypt.c, the model in
 * docs/security.md, "The store at rest").  Pages are FSI_CRYPT_PAGE bytes
 * with FSI_CRYPT_RESERVE reserved bytes (nonce and tag). */
#define FSI_CRYPT_PAGE 4096
#define FSI_CRYPT_RESERVE 40
#define FSI_CRYPT_KEYBYTES 32

typedef struct fsi_crypt fsi_crypt;

/* Copies the key into guarded, locked memory and registers a VFS for the
 * store at `path` (fsi_crypt_vfs names it for sqlite3_open_v2).  Free with
 * fsi_crypt_free only after the connection using it is closed. */
int fsi_crypt_new(fsi_crypt **out, const unsigned char *key, const char *path);
const char *fsi_crypt_vfs(const fsi_crypt *c);
/* Unregisters the VFS and wipes the key.  Accepts NULL. */
void fsi_crypt_free(fsi_crypt *c);
/* Before SQLite opens the store: FS_OK when the key opens page 1 (or,
 * before the first checkpoint, the WAL's first frame) or the store is
 * empty or missing; FS_EAUTH when it does not (a wrong key); FS_ECORRUPT
 * when page 1 is cut short. */
int fsi_crypt_check_key(fsi_crypt *c);
/* The sentence for the last page or frame that failed authentication into
 * buf: 1, or 0 when none did. */
int fsi_crypt_damage(const fsi_crypt *c, char *buf, size_t n);
/* The WAL frame before which a recovery ended the log because the frame
 * failed authentication (0: never happened on this handle). */
uint64_t fsi_crypt_wal_cut(const fsi_crypt *c);

/* What a file at path holds, looked at without a key.  Negative: an error
 * (FS_ENOTFOUND when missing). */
enum { FSI_CRYPT_EMPTY, FSI_CRYPT_PLAIN, FSI_CRYPT_ENCRYPTED, FSI_CRYPT_OTHER };
int fsi_crypt_probe(const char *path);

/* Finalizes every cached statement (store close). */
void fsi_stmt_cache_free(struct fsi_stmt_cache *c);

fsi_tbl_state *fsi_store_table(fs_store *st, const char *name);

/* Binds a value given as text to a column of `type`; validates it. */
int fsi_store_bind_text_value(fs_store *st, sqlite3_stmt *s, int idx, const fs_table *t,
                              const fs_column *c, const char *value);

/* ----------------------------------------------------- rows (write.c) */

#include "change.h"

/* One row as this replica holds it, with the effective clock of every
 * column.  Allocated in an arena. */
typedef struct fsi_row {
  int state; /* ROW_NONE, ROW_LIVE or ROW_TOMB */
  int64_t cl, hlc, site, seq, src, seen;
  const char *cust; /* tombstone: the customer the row belonged to */
  const char *mgr;  /* tombstone: the manager that customer had (NULL unknown) */
  fsi_value *vals;  /* live: ncols values */
  uint8_t *has_cell;
  fsi_cell *cells; /* per column (col index = position), valid if has_cell */
} fsi_row;

#define ROW_NONE 0
#define ROW_LIVE 1
#define ROW_TOMB 2

/* Head office holds its state of live row `pk` again after refusing a
 * change to it: every cell gets a fresh head-office clock above `above` (the
 * refused change's newest) and the row a new change number, so the device
 * that sent the change receives head office's values at its next pull and
 * the replicas converge (the refused values stay in the refusal log).  A
 * row that is not live is left as it is. */
int fsi_row_reassert(fs_store *st, fsi_tbl_state *ts, const char *pk, int64_t above,
                     struct fsi_arena *a);
/* Loads row `pk` of table ts (live or tombstone), values copied into `a`. */
int fsi_row_load(fs_store *st, fsi_tbl_state *ts, const char *pk, struct fsi_arena *a, fsi_row *r);
/* Writes a live row's values and clock (insert when !exists, else update). */
int fsi_row_put(fs_store *st, fsi_tbl_state *ts, const char *pk, const fsi_row *r, int exists);
/* Replaces the fs_cell entries of a row with r's (has_cell) entries. */
int fsi_row_put_cells(fs_store *st, fsi_tbl_state *ts, const char *pk, const fsi_row *r,
                      int had_cells);
int fsi_row_delete_cells(fs_store *st, fsi_tbl_state *ts, const char *pk);
int fsi_row_put_tomb(fs_store *st, fsi_tbl_state *ts, const char *pk, const fsi_row *r);
int fsi_row_delete_tomb(fs_store *st, fsi_tbl_state *ts, const char *pk);
/* Value equality (type and content). */
int fsi_value_equal(const fsi_value *a, const fsi_value *b);
/* Binds v at index idx. */
void fsi_value_bind(sqlite3_stmt *s, int idx, const fsi_value *v);
/* Reads column i of s into v (text copied into a). */
int fsi_value_read(sqlite3_stmt *s, int i, struct fsi_arena *a, fsi_value *v);

/* The manager customer `cust` is assigned to here (live), copied into `a`;
 * NULL when the customer is not live here or has no manager. */
const char *fsi_row_customer_manager(fs_store *st, const char *cust, struct fsi_arena *a);

/* ---------------------------------------------- domain rules (domain.c) */

/* The rules every row of ts must satisfy, for a local write and for what
 * head office merges from a device alike: value types, NOT NULL, UTF-8 and
 * length limits, enumerations, codes, ranges and per-table invariants.  A
 * merge (m != NULL) adds what only a received row can get wrong: an order
 * line's unit price must be one the price list held when the line was
 * taken (checked when the line is new here or its price differs from
 * m->held, the values this replica holds for the same incarnation).
 * FS_EINVAL (message set) when a rule is broken; other codes are store
 * errors. */
typedef struct fsi_domain_merge {
  const fsi_value *held; /* NULL: the row is new here */
  int64_t when;          /* the clock the row was written with */
} fsi_domain_merge;
/* A line (of an order or quote) belongs to its parent's customer and is in
 * its currency: FS_EINVAL when row `id` of `table` (a `what`) exists and
 * names another; FS_OK when they match or the parent is not held here. */
int fsi_line_matches_parent(fs_store *st, const char *table, const char *what, const fsi_value *id,
                            const fsi_value *customer, const fsi_value *currency);
int fsi_domain_check_row(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals,
                         const fsi_domain_merge *m);
/* After a local write at head office (clock hlc): keeps what later checks
 * need (the price list's history). */
int fsi_domain_written(fs_store *st, fsi_tbl_state *ts, const fsi_value *vals, int64_t hlc);

/* The unit price of sku in currency from the synced price list, for a line
 * of an order or a quote: FS_ENOTFOUND (unknown SKU, no price in it) or
 * FS_EINVAL (no longer sold), each with its sentence. */
int fsi_domain_list_price(fs_store *st, const char *sku, const char *currency, int64_t *out);

/* Local writes only (not merges): defaults, enums, references, states. */
int fsi_domain_insert(fs_store *st, fsi_tbl_state *ts, fsi_value *vals, struct fsi_arena *a);
int fsi_domain_update(fs_store *st, fsi_tbl_state *ts, const char *id, const fsi_value *old,
                      fsi_value *vals, uint8_t *set, struct fsi_arena *a);
int fsi_domain_delete(fs_store *st, fsi_tbl_state *ts, const char *id, const fsi_value *old);
/* The agenda's rows (agenda.c): tasks, a call's duration, norms; a meeting
 * without a time is now. */
int fsi_agenda_check_row(const fsi_tbl_state *ts, const fsi_value *vals);
int fsi_agenda_insert(fs_store *st, fsi_tbl_state *ts, fsi_value *vals, struct fsi_arena *a);

/* Conflict log (conflict.c). */
int fsi_conflict_log(fs_store *st, const char *table, const char *pk, const char *col,
                     const fsi_value *winner, int64_t whlc, int64_t wsite, const fsi_value *loser,
                     int64_t lhlc, int64_t lsite);

#endif
