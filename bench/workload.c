/*
 * workload.c — the standard record generator of WORKLOAD.md; see workload.h.
 *
 * Invariant: the sequence of PRNG draws per record is exactly the one the
 * document specifies (id r0 r1 r2, customer, kind, amount, currency, one per
 * note word, qty), all arithmetic is uint32 as in mulberry32, and dates are
 * computed arithmetically (proleptic Gregorian, UTC) rather than through the
 * C library, so output never depends on the locale or the time zone.
 * tests/bench/test_workload.c pins the digests of two devices and record 0.
 */
#include "workload.h"

#include <errno.h>
#include <time.h>

#include <assert.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const WORDS[32] = {
    "customer", "asked",    "for",   "a",    "discount", "on",      "the",      "spring",
    "catalog",  "delivery", "by",    "end",  "of",       "month",   "samples",  "sent",
    "follow",   "up",       "next",  "week", "booth",    "visit",   "contract", "renewal",
    "pending",  "credit",   "check", "ok",   "invoice",  "overdue", "meeting",  "notes"};

static const char *const KINDS[4] = {"order", "meeting", "quote", "visit"};

static const char *const CURRENCIES[8] = {"EUR", "EUR", "EUR", "USD", "GBP", "SEK", "PLN", "CHF"};

void wl_rng_init(wl_rng *r, uint32_t seed, uint32_t device) {
  r->s = seed * UINT32_C(0x9E3779B9) + device * UINT32_C(0x85EBCA6B);
}

uint32_t wl_rng_next(wl_rng *r) {
  uint32_t t;
  r->s += UINT32_C(0x6D2B79F5);
  t = r->s;
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return t ^ (t >> 14);
}

void wl_gen_init(wl_gen *g, uint32_t seed, uint32_t device) {
  wl_rng_init(&g->rng, seed, device);
  g->device = device;
  g->next = 0;
}

/* Writes v as exactly `width` decimal digits (v < 10^width) at out. */
static void put_digits(char *out, unsigned v, int width) {
  for (int i = width - 1; i >= 0; i--, v /= 10) out[i] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SSZ" of floor(ms/1000) into out[24], for years 0..9999
 * (the generator stays in 2026); days to civil date after H. Hinnant. */
static void iso_utc(char out[24], int64_t ms) {
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t sod = secs - days * 86400;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  assert(y >= 0 && y <= 9999);
  memcpy(out, "0000-00-00T00:00:00Z", 21);
  put_digits(out, (unsigned)y, 4);
  put_digits(out + 5, (unsigned)m, 2);
  put_digits(out + 8, (unsigned)d, 2);
  put_digits(out + 11, (unsigned)(sod / 3600), 2);
  put_digits(out + 14, (unsigned)(sod / 60 % 60), 2);
  put_digits(out + 17, (unsigned)(sod % 60), 2);
}

void wl_gen_next(wl_gen *g, wl_record *out) {
  uint64_t ts = (uint64_t)WL_T0_MS + g->next * (uint64_t)WL_STEP_MS + g->device;
  uint32_t r0 = wl_rng_next(&g->rng);
  uint32_t r1 = wl_rng_next(&g->rng);
  uint32_t r2 = wl_rng_next(&g->rng);
  size_t len = 0;

  snprintf(out->id, sizeof out->id, "%08x-%04x-7%03x-%04x-%04x%08x", (unsigned)(ts >> 16),
           (unsigned)(ts & 0xFFFFu), (unsigned)(r0 & 0xFFFu), (unsigned)(0x8000u | (r1 & 0x3FFFu)),
           (unsigned)((r1 >> 14) & 0xFFFFu), (unsigned)r2);
  snprintf(out->customer_id, sizeof out->customer_id, "C%05u",
           (unsigned)(wl_rng_next(&g->rng) % 5000u));
  strcpy(out->kind, KINDS[wl_rng_next(&g->rng) % 4u]);
  iso_utc(out->created_at, (int64_t)ts);
  out->amount = (int64_t)(wl_rng_next(&g->rng) % 1000000u);
  strcpy(out->currency, CURRENCIES[wl_rng_next(&g->rng) % 8u]);

  /* Words joined by single spaces until >= 80 bytes, then cut to 80. */
  while (len < WL_NOTE_LEN) {
    const char *w = WORDS[wl_rng_next(&g->rng) % 32u];
    size_t wn = strlen(w);
    if (len > 0) out->note[len++] = ' ';
    if (len >= WL_NOTE_LEN) break; /* the space itself reached 80 */
    if (wn > WL_NOTE_LEN - len) wn = WL_NOTE_LEN - len;
    memcpy(out->note + len, w, wn);
    len += wn;
  }
  out->note[len] = '\0';

  out->qty = (int64_t)(wl_rng_next(&g->rng) % 100u) + 1;
  out->ts_ms = (int64_t)ts;
  g->next++;
}

wl_record *wl_generate(uint32_t seed, uint32_t device, size_t n) {
  wl_record *recs;
  wl_gen g;
  if (n == 0 || n > SIZE_MAX / sizeof *recs) return NULL;
  recs = malloc(n * sizeof *recs);
  if (!recs) return NULL;
  wl_gen_init(&g, seed, device);
  for (size_t i = 0; i < n; i++) wl_gen_next(&g, &recs[i]);
  return recs;
}

/* Appends the JSON string literal of s to buf at *pos; 0 if it doesn't fit. */
static int json_str(char *buf, size_t cap, size_t *pos, const char *s) {
  static const char hex[] = "0123456789abcdef";
  size_t p = *pos;
  if (p + 1 >= cap) return 0;
  buf[p++] = '"';
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (p + 7 >= cap) return 0;
    if (*c == '"' || *c == '\\') {
      buf[p++] = '\\';
      buf[p++] = (char)*c;
    } else if (*c < 0x20) {
      memcpy(buf + p, "\\u00", 4);
      buf[p + 4] = hex[*c >> 4];
      buf[p + 5] = hex[*c & 15];
      p += 6;
    } else {
      buf[p++] = (char)*c;
    }
  }
  if (p + 1 >= cap) return 0;
  buf[p++] = '"';
  *pos = p;
  return 1;
}

/* Appends literal text; 0 if it doesn't fit (NUL included). */
static int json_raw(char *buf, size_t cap, size_t *pos, const char *s) {
  size_t n = strlen(s);
  if (*pos + n >= cap) return 0;
  memcpy(buf + *pos, s, n);
  *pos += n;
  return 1;
}

static int json_int(char *buf, size_t cap, size_t *pos, int64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof tmp, "%" PRId64, v);
  return json_raw(buf, cap, pos, tmp);
}

size_t wl_record_json(const wl_record *r, char *buf, size_t cap) {
  size_t p = 0;
  int ok = json_raw(buf, cap, &p, "{\"id\":") && json_str(buf, cap, &p, r->id) &&
           json_raw(buf, cap, &p, ",\"customer_id\":") && json_str(buf, cap, &p, r->customer_id) &&
           json_raw(buf, cap, &p, ",\"kind\":") && json_str(buf, cap, &p, r->kind) &&
           json_raw(buf, cap, &p, ",\"created_at\":") && json_str(buf, cap, &p, r->created_at) &&
           json_raw(buf, cap, &p, ",\"amount\":") && json_int(buf, cap, &p, r->amount) &&
           json_raw(buf, cap, &p, ",\"currency\":") && json_str(buf, cap, &p, r->currency) &&
           json_raw(buf, cap, &p, ",\"note\":") && json_str(buf, cap, &p, r->note) &&
           json_raw(buf, cap, &p, ",\"qty\":") && json_int(buf, cap, &p, r->qty) &&
           json_raw(buf, cap, &p, "}");
  if (!ok) {
    if (cap > 0) buf[0] = '\0';
    return 0;
  }
  buf[p] = '\0';
  return p;
}

int wl_digest(uint32_t seed, uint32_t device, size_t n, char hex[65]) {
  crypto_hash_sha256_state st;
  unsigned char md[crypto_hash_sha256_BYTES];
  char line[WL_JSON_MAX + 1];
  wl_record rec;
  wl_gen g;

  if (sodium_init() < 0) return -1;
  crypto_hash_sha256_init(&st);
  wl_gen_init(&g, seed, device);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    wl_gen_next(&g, &rec);
    len = wl_record_json(&rec, line, sizeof line - 1);
    line[len++] = '\n';
    crypto_hash_sha256_update(&st, (const unsigned char *)line, len);
  }
  crypto_hash_sha256_final(&st, md);
  sodium_bin2hex(hex, 65, md, sizeof md);
  return 0;
}

void wl_edit_a(wl_record *r) {
  size_t n = strlen(r->note);
  r->amount += 1000;
  if (n > WL_NOTE_LEN - 3) n = WL_NOTE_LEN - 3; /* the cut to 80 bytes */
  memmove(r->note + 3, r->note, n);
  memcpy(r->note, "A: ", 3);
  r->note[n + 3] = '\0';
}

void wl_edit_b(wl_record *r) {
  r->amount += 2000;
  r->qty += 1;
}

static const fs_column WL_COLUMNS[WL_NFIELDS] = {
    {"customer_id", FS_COL_TEXT, 0, 0}, {"kind", FS_COL_TEXT, 0, 0},
    {"created_at", FS_COL_TEXT, 0, 0},  {"amount", FS_COL_INT, 0, 0},
    {"currency", FS_COL_TEXT, 0, 0},    {"note", FS_COL_TEXT, 0, 0},
    {"qty", FS_COL_INT, 0, 0}};

static const fs_table WL_TABLES[1] = {{WL_TABLE, FS_OWNER_DEVICE, WL_COLUMNS, WL_NFIELDS}};

static const fs_schema WL_SCHEMA = {"bench", 1, WL_TABLES, 1};

const fs_table *wl_table(void) { return &WL_TABLES[0]; }

const fs_schema *wl_schema(void) { return &WL_SCHEMA; }

void wl_record_fields(const wl_record *r, wl_fields *out) {
  snprintf(out->amount, sizeof out->amount, "%" PRId64, r->amount);
  snprintf(out->qty, sizeof out->qty, "%" PRId64, r->qty);
  out->f[0] = (fs_field){"customer_id", r->customer_id};
  out->f[1] = (fs_field){"kind", r->kind};
  out->f[2] = (fs_field){"created_at", r->created_at};
  out->f[3] = (fs_field){"amount", out->amount};
  out->f[4] = (fs_field){"currency", r->currency};
  out->f[5] = (fs_field){"note", r->note};
  out->f[6] = (fs_field){"qty", out->qty};
}

static const char RAW_SCHEMA_SQL[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE records(id TEXT PRIMARY KEY, customer_id TEXT, kind TEXT,"
    " created_at TEXT, amount INTEGER, currency TEXT, note TEXT, qty INTEGER);";

static const char RAW_INSERT_SQL[] =
    "INSERT INTO records(id, customer_id, kind, created_at, amount, currency,"
    " note, qty) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

int wl_raw_open(sqlite3 **out, const char *path) {
  sqlite3 *db = NULL;
  char *err = NULL;
  int rc;

  *out = NULL;
  rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc != SQLITE_OK) {
    fprintf(stderr, "raw sqlite: open %s: %s\n", path,
            db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    goto done;
  }
  rc = sqlite3_exec(db, RAW_SCHEMA_SQL, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    fprintf(stderr, "raw sqlite: schema: %s\n", err ? err : sqlite3_errstr(rc));
    goto done;
  }
  *out = db;
  db = NULL;
done:
  sqlite3_free(err);
  sqlite3_close_v2(db);
  return rc;
}

int wl_raw_insert(sqlite3 *db, const wl_record *recs, size_t n) {
  sqlite3_stmt *ins = NULL;
  int in_tx = 0;
  int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  if (rc != SQLITE_OK) goto done;
  in_tx = 1;
  rc = sqlite3_prepare_v2(db, RAW_INSERT_SQL, -1, &ins, NULL);
  if (rc != SQLITE_OK) goto done;
  for (size_t i = 0; i < n; i++) {
    const wl_record *r = &recs[i];
    sqlite3_bind_text(ins, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, r->customer_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, r->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, r->created_at, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 5, r->amount);
    sqlite3_bind_text(ins, 6, r->currency, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, r->note, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 8, r->qty);
    rc = sqlite3_step(ins);
    if (rc != SQLITE_DONE) goto done;
    sqlite3_reset(ins);
  }
  rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  if (rc == SQLITE_OK) in_tx = 0;
done:
  if (rc != SQLITE_OK) fprintf(stderr, "raw sqlite: insert: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(ins);
  if (in_tx) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

double wl_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

unsigned long wl_arg(const char *prog, const char *text, const char *what, unsigned long lo,
                     unsigned long hi) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno || end == text || *end || text[0] == '-' || v < lo || v > hi) {
    fprintf(stderr, "%s: %s must be an integer in %lu..%lu, got \"%s\"\n", prog, what, lo, hi,
            text);
    exit(2);
  }
  return v;
}

int wl_tmpdir(char *out, size_t n, const char *prog) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  if ((size_t)snprintf(out, n, "%s/fs-%s-XXXXXX", tmp, prog) >= n) {
    fprintf(stderr, "%s: TMPDIR is too long\n", prog);
    return -1;
  }
  if (!mkdtemp(out)) {
    fprintf(stderr, "%s: mkdtemp %s: %s\n", prog, out, strerror(errno));
    return -1;
  }
  return 0;
}
