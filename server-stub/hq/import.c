/*
 * import.c — head office's own writes to the central replica: CSV imports
 * of the catalog, price lists and open balances, and customer assignments.
 *
 * Both are ordinary local writes at head office (fs_insert / fs_update, so
 * the domain rules and change capture apply and the rows reach devices at
 * their next pull), made under the handle's lock, in one transaction:
 *  - a CSV file is imported whole or not at all; the first bad row refuses
 *    it with its line number and the reason;
 *  - an assignment gives the manager who held the customer a let-go marker
 *    (fsi_domain_letgo), sets the new manager and marks every row of the
 *    customer to be sent again, so the new manager's devices receive its
 *    whole history (docs/merge.md, "Subsets").
 */
#include <fieldsync/server.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"

int fs_hq_assign(fs_hq *hq, const char *customer_id, const char *manager) {
  if (!manager || !*manager) return fsi_fail(FS_EINVAL, "no manager given");
  fs_store *st = fs_hq_store(hq);
  fs_hq_lock(hq);
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (!rc) {
    fs_field f = {"manager", manager};
    rc = fsi_domain_letgo(st, customer_id, manager);
    if (!rc) rc = fs_update(st, "customers", customer_id, &f, 1);
    if (!rc) rc = fsi_merge_touch_customer(st, customer_id);
    rc = fsi_store_tx_end(st, implicit, rc);
  }
  fs_hq_unlock(hq);
  return rc;
}

/* ------------------------------------------------------------------ CSV */

#define CSV_MAX_FILE (64u << 20)
#define CSV_MAX_FIELDS 8

/* One CSV record (RFC 4180: quotes, doubled quotes, CRLF) from *p; fields
 * are NUL-terminated in place.  Returns the field count, -1 on a syntax
 * error, 0 at the end. */
static int csv_record(char **p, char *end, char **fields, int max, int *line) {
  char *s = *p;
  if (s >= end) return 0;
  int n = 0;
  for (;;) {
    if (n == max) return -1;
    char *out = s, *start = s;
    if (*s == '"') {
      s++;
      for (;;) {
        if (s >= end) return -1;
        if (*s == '"') {
          if (s + 1 < end && s[1] == '"') {
            *out++ = '"';
            s += 2;
            continue;
          }
          s++;
          break;
        }
        if (*s == '\n') (*line)++;
        *out++ = *s++;
      }
      if (s < end && *s != ',' && *s != '\n' && *s != '\r') return -1;
    } else {
      while (s < end && *s != ',' && *s != '\n' && *s != '\r') {
        if (*s == '"') return -1;
        out++, s++;
      }
    }
    fields[n++] = start;
    char c = s < end ? *s : '\n';
    *out = '\0'; /* may overwrite the separator at s: decide on c alone */
    if (s < end) s++;
    if (c == ',') continue;
    if (c == '\r' && s < end && *s == '\n') s++;
    *p = s;
    return n;
  }
}

typedef struct import_kind {
  const char *name, *table, *header;
  int ncols;
} import_kind;

static const import_kind kinds[] = {
    {"products", "products", "sku,name,unit,active", 4},
    {"prices", "prices", "sku,currency,price", 3},
    {"balances", "balances", "customer_id,currency,open,overdue", 4},
};

/* The row id of the existing row with these key values into id: 1 found,
 * 0 not, < 0 the error (message set). */
static int find_existing(fs_store *st, const char *kind, char **f, char id[FS_ID_SIZE]) {
  sqlite3_stmt *s;
  if (!strcmp(kind, "products"))
    s = fsi_sql_query(st, "SELECT id FROM products WHERE sku=?1", "t", f[0]);
  else if (!strcmp(kind, "prices"))
    s = fsi_sql_query(st, "SELECT id FROM prices WHERE sku=?1 AND currency=?2", "tt", f[0], f[1]);
  else
    s = fsi_sql_query(st, "SELECT id FROM balances WHERE customer_id=?1 AND currency=?2", "tt",
                      f[0], f[1]);
  if (!s) return FS_EIO;
  int step = fsi_sql_step(st, s, "reading head-office data");
  if (step == 1) {
    snprintf(id, FS_ID_SIZE, "%s", (const char *)sqlite3_column_text(s, 0));
    fsi_sql_done(s);
  }
  return step;
}

/* 1 when the query (one text argument) finds key, 0 when not, < 0 (message
 * set) on error. */
static int exists_in(fs_store *st, const char *sql, const char *key) {
  int64_t one = 0;
  int rc = fsi_sql_i64(st, &one, "reading head-office data", sql, "t", key);
  return rc == FS_ENOTFOUND ? 0 : rc ? rc : 1;
}

static int import_row(fs_store *st, const import_kind *k, char **f, int line) {
  char a[24], b[24];
  fs_field fields[4];
  int n = 0, rc;
  if (!strcmp(k->name, "products")) {
    if (strcmp(f[3], "1") && strcmp(f[3], "0"))
      return fsi_fail(FS_EINVAL, "line %d: active must be 1 or 0, not \"%.20s\"", line, f[3]);
    fields[n++] = (fs_field){"sku", f[0]};
    fields[n++] = (fs_field){"name", f[1]};
    fields[n++] = (fs_field){"unit", *f[2] ? f[2] : NULL};
    fields[n++] = (fs_field){"active", f[3]};
  } else if (!strcmp(k->name, "prices")) {
    int64_t m = 0;
    int found = exists_in(st, "SELECT 1 FROM products WHERE sku=?1", f[0]);
    if (found < 0) return found;
    if (!found)
      return fsi_fail(FS_EINVAL, "line %d: SKU %.64s is not in the catalog; import products first",
                      line, f[0]);
    if (fs_amount_parse(&m, f[2], f[1]) || m < 0)
      return fsi_fail(FS_EINVAL, "line %d: price \"%.30s\": %s", line, f[2],
                      m < 0 ? "a price cannot be negative" : fs_errmsg());
    snprintf(a, sizeof a, "%" PRId64, m);
    fields[n++] = (fs_field){"sku", f[0]};
    fields[n++] = (fs_field){"currency", f[1]};
    fields[n++] = (fs_field){"price", a};
  } else {
    int64_t o, d;
    int found = exists_in(st, "SELECT 1 FROM customers WHERE id=?1", f[0]);
    if (found < 0) return found;
    if (!found) return fsi_fail(FS_EINVAL, "line %d: customer %.64s does not exist", line, f[0]);
    if (fs_amount_parse(&o, f[2], f[1]))
      return fsi_fail(FS_EINVAL, "line %d: open amount \"%.30s\": %s", line, f[2], fs_errmsg());
    if (fs_amount_parse(&d, f[3], f[1]))
      return fsi_fail(FS_EINVAL, "line %d: overdue amount \"%.30s\": %s", line, f[3], fs_errmsg());
    snprintf(a, sizeof a, "%" PRId64, o);
    snprintf(b, sizeof b, "%" PRId64, d);
    fields[n++] = (fs_field){"customer_id", f[0]};
    fields[n++] = (fs_field){"currency", f[1]};
    fields[n++] = (fs_field){"open", a};
    fields[n++] = (fs_field){"overdue", b};
  }
  char id[FS_ID_SIZE];
  int found = find_existing(st, k->name, f, id);
  if (found < 0) return found;
  rc = found ? fs_update(st, k->table, id, fields, (size_t)n)
             : fs_insert(NULL, st, k->table, fields, (size_t)n);
  if (rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", fs_errmsg());
    return fsi_fail(rc, "line %d: %s", line, msg);
  }
  return FS_OK;
}

/* Imports the records from p on, after the header that ended on `line`,
 * in the caller's transaction; *count the rows imported. */
static int import_records(fs_store *st, const import_kind *k, char *p, char *end, int line,
                          size_t *count, const fs_hq_import_opts *o, size_t total) {
  char *f[CSV_MAX_FIELDS];
  size_t every = o && o->progress_every ? o->progress_every : 10000;
  for (;;) {
    line++;
    int start = line;
    if (p < end && (*p == '\n' || *p == '\r')) { /* blank line */
      if (*p == '\r') p++;
      if (p < end && *p == '\n') p++;
      continue;
    }
    int n = csv_record(&p, end, f, CSV_MAX_FIELDS, &line);
    if (n == 0) {
      if (o && o->progress && (*count == 0 || *count % every))
        o->progress(*count, total, o->progress_arg);
      return FS_OK;
    }
    if (n != k->ncols)
      return fsi_fail(FS_EINVAL, "line %d: expected %d fields (%s), found %s", start, k->ncols,
                      k->header, n < 0 ? "a malformed record" : "a different number");
    int rc = import_row(st, k, f, start);
    if (rc) return rc;
    (*count)++;
    if (o && o->progress && *count % every == 0) o->progress(*count, total, o->progress_arg);
  }
}

/* The records after the header, for progress: lines that are not blank,
 * outside quotes (a quoted field may hold a newline).  An estimate for a
 * malformed file, which the import refuses anyway. */
static size_t count_records(const char *p, const char *end) {
  size_t n = 0;
  int quoted = 0, blank = 1;
  for (; p < end; p++) {
    if (*p == '"') quoted = !quoted;
    if (!quoted && (*p == '\n' || *p == '\r')) {
      if (!blank) n++;
      blank = 1;
    } else {
      blank = 0;
    }
  }
  return n + !blank;
}

int fs_hq_import_csv(size_t *count_out, fs_hq *hq, const char *kind, const char *path) {
  return fs_hq_import_csv_opts(count_out, hq, kind, path, NULL);
}

int fs_hq_import_csv_opts(size_t *count_out, fs_hq *hq, const char *kind, const char *path,
                          const fs_hq_import_opts *opts) {
  const import_kind *k = NULL;
  char *buf = NULL;
  FILE *fp = NULL;
  int rc = FS_OK;
  size_t count = 0;
  if (count_out) *count_out = 0;
  if (opts && opts->version == 0)
    return fsi_fail(FS_EINVAL, "fs_hq_import_opts is not initialised (FS_HQ_IMPORT_OPTS_INIT)");
  if (opts && opts->version > FS_HQ_IMPORT_OPTS_VERSION)
    return fsi_fail(FS_EVERSION,
                    "fs_hq_import_opts version %u is newer than this library (%d): upgrade it",
                    opts->version, FS_HQ_IMPORT_OPTS_VERSION);
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (kind && !strcmp(kinds[i].name, kind)) k = &kinds[i];
  if (!k)
    return fsi_fail(FS_EINVAL, "unknown import \"%.30s\": use products, prices or balances",
                    kind ? kind : "");
  fp = fopen(path, "rb");
  if (!fp) return fsi_fail(FS_ENOTFOUND, "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    rc = fsi_fail(FS_EINVAL, "%s is not a regular file", path);
    goto done;
  }
  if ((uint64_t)sb.st_size > CSV_MAX_FILE) {
    rc = fsi_fail(FS_ETOOBIG, "%s is larger than %u MiB", path, CSV_MAX_FILE >> 20);
    goto done;
  }
  size_t len = (size_t)sb.st_size;
  buf = malloc(len + 1);
  if (!buf) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if (fread(buf, 1, len, fp) != len) {
    rc = fsi_fail(FS_EIO, "cannot read %s", path);
    goto done;
  }
  buf[len] = '\0';
  if (!fsi_util_utf8_valid(buf, len)) {
    rc = fsi_fail(FS_EINVAL, "%s is not UTF-8 text", path);
    goto done;
  }
  char *p = buf, *end = buf + len, *f[CSV_MAX_FIELDS];
  if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3; /* BOM */
  int line = 1;
  int n = csv_record(&p, end, f, CSV_MAX_FIELDS, &line);
  char header[128] = "";
  for (int i = 0; i < n; i++)
    snprintf(header + strlen(header), sizeof header - strlen(header), "%s%s", i ? "," : "", f[i]);
  if (n <= 0 || strcmp(header, k->header) != 0) {
    rc = fsi_fail(FS_EINVAL, "line 1: the header must be \"%s\"", k->header);
    goto done;
  }
  /* The file is in memory and its header checked; the store is the
   * handle's from here to the end of the transaction. */
  size_t total = opts && opts->progress ? count_records(p, end) : 0;
  fs_store *st = fs_hq_store(hq);
  int implicit = 0;
  fs_hq_lock(hq);
  if (!(rc = fsi_store_tx_begin(st, &implicit)))
    rc = fsi_store_tx_end(st, implicit, import_records(st, k, p, end, line, &count, opts, total));
  fs_hq_unlock(hq);
done:
  /* a refused row names the file as well as the line */
  if (rc && !strncmp(fs_errmsg(), "line ", 5)) {
    char msg[600];
    snprintf(msg, sizeof msg, "%s", fs_errmsg());
    rc = fsi_fail(rc, "%s, %s", path, msg);
  }
  if (fp) fclose(fp);
  free(buf);
  if (!rc && count_out) *count_out = count;
  return rc;
}
