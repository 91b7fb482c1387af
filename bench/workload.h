/*
 * workload.h — the standard record generator of WORKLOAD.md, shared by every
 * benchmark in bench/ and checked by tests/bench/test_workload.c.
 *
 * A device's records come from one mulberry32 stream per (seed, device);
 * record i of a device draws, in this exact order, the three id words, the
 * customer, the kind, the amount, the currency, one draw per note word and
 * the quantity.  The generator is therefore a stream: records must be drawn
 * in index order (wl_gen_next) and the same (seed, device) always yields the
 * same bytes.  The compact JSON line of a record (keys in table order) is
 * what the digests in WORKLOAD.md are computed over; the test pins them, so
 * any change here that alters a single byte fails the build's tests.
 *
 * Besides the generator: the W4 edit functions, the `records` table declared
 * through the public schema API, the record's text fields for fs_insert, and
 * the raw-SQLite baseline (plain table, WAL, synchronous=NORMAL, one
 * prepared statement in one transaction).
 */
#ifndef FS_BENCH_WORKLOAD_H
#define FS_BENCH_WORKLOAD_H

#include <fieldsync/fieldsync.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define WL_T0_MS 1767600000000LL /* 2026-01-05T08:00:00Z */
#define WL_STEP_MS 30000LL       /* ts = T0 + i*STEP + device */
#define WL_NOTE_LEN 80           /* note is exactly this many bytes */
#define WL_NFIELDS 7             /* columns besides id */
#define WL_JSON_MAX 512          /* upper bound of one JSON line (no '\n') */
#define WL_TABLE "records"

/* mulberry32: one stream per (seed, device). */
typedef struct wl_rng {
  uint32_t s;
} wl_rng;

void wl_rng_init(wl_rng *r, uint32_t seed, uint32_t device);
uint32_t wl_rng_next(wl_rng *r);

/* One generated record: the 8 columns plus the timestamp the id and
 * created_at were derived from.  Text fields are NUL-terminated. */
typedef struct wl_record {
  char id[FS_ID_SIZE];        /* UUIDv7 text, 36 chars */
  char customer_id[8];        /* "C%05u", 6 chars */
  char kind[8];               /* order | meeting | quote | visit */
  char created_at[24];        /* "YYYY-MM-DDTHH:MM:SSZ", 20 chars */
  int64_t amount;             /* minor units, 0..999999 */
  char currency[4];           /* ISO code */
  char note[WL_NOTE_LEN + 1]; /* <= 80 bytes (exactly 80 as generated) */
  int64_t qty;                /* 1..100 */
  int64_t ts_ms;              /* T0 + i*30000 + device */
} wl_record;

/* A generator positioned at record `next` of (seed, device). */
typedef struct wl_gen {
  wl_rng rng;
  uint32_t device;
  uint64_t next;
} wl_gen;

/* Positions g at record 0 of (seed, device). */
void wl_gen_init(wl_gen *g, uint32_t seed, uint32_t device);
/* Writes record g->next into *out and advances. */
void wl_gen_next(wl_gen *g, wl_record *out);

/* Records 0..n-1 of (seed, device) in a malloc'd array the caller frees
 * with free(); NULL when out of memory (or n == 0). */
wl_record *wl_generate(uint32_t seed, uint32_t device, size_t n);

/* The compact JSON object of r (keys in table order, no trailing newline)
 * into buf[cap], NUL-terminated.  Returns its length, or 0 if cap is too
 * small (WL_JSON_MAX is always enough for generated or edited records). */
size_t wl_record_json(const wl_record *r, char *buf, size_t cap);

/* SHA-256 (libsodium) of the JSON lines of records 0..n-1 of (seed,
 * device), each followed by '\n', as 64 lowercase hex chars into hex[65].
 * Returns 0, or -1 if libsodium could not be initialised. */
int wl_digest(uint32_t seed, uint32_t device, size_t n, char hex[65]);

/* W4 edits, in place.  Device A: amount += 1000, note = "A: " + note cut to
 * 80 bytes.  Device B: amount += 2000, qty += 1. */
void wl_edit_a(wl_record *r);
void wl_edit_b(wl_record *r);

/* The synced table `records` (owner FS_OWNER_DEVICE; customer_id, kind,
 * created_at TEXT, amount INT, currency TEXT, note TEXT, qty INT) and a
 * one-table schema holding it, for fs_store_open.  Static; never freed. */
const fs_table *wl_table(void);
const fs_schema *wl_schema(void);

/* The text fields of r for fs_insert/fs_update (the 7 columns besides id,
 * in table order).  f[] points into r and into this struct: valid while
 * both live and r is unchanged. */
typedef struct wl_fields {
  fs_field f[WL_NFIELDS];
  char amount[24];
  char qty[24];
} wl_fields;

void wl_record_fields(const wl_record *r, wl_fields *out);

/* Raw-SQLite baseline.  wl_raw_open creates a fresh database at `path`
 * (which must not exist) with journal_mode=WAL, synchronous=NORMAL and the
 * plain table records(id TEXT PRIMARY KEY, customer_id TEXT, kind TEXT,
 * created_at TEXT, amount INTEGER, currency TEXT, note TEXT, qty INTEGER).
 * *out is caller-owned (sqlite3_close_v2).  wl_raw_insert inserts recs[0..n)
 * with one prepared statement in one transaction (rolled back on failure).
 * Both return SQLITE_OK or an SQLite error code (message on stderr). */
int wl_raw_open(sqlite3 **out, const char *path);
int wl_raw_insert(sqlite3 *db, const wl_record *recs, size_t n);

/* ------------------------------------------------ shared bench plumbing */

/* Monotonic seconds. */
double wl_now_s(void);
/* argv text as an integer in [lo, hi]; otherwise prints one line naming
 * the program and the argument and exits 2. */
unsigned long wl_arg(const char *prog, const char *text, const char *what, unsigned long lo,
                     unsigned long hi);
/* A fresh directory $TMPDIR/fs-<prog>-XXXXXX into out[n]; prints one line
 * and returns -1 on failure. */
int wl_tmpdir(char *out, size_t n, const char *prog);

#endif
