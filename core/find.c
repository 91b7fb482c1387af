/*
 * find.c — finding a product or a customer by what a person types:
 * `product find TEXT`, `customer find TEXT`.
 *
 * The text and every product's SKU and name are folded (ASCII and the
 * Latin-1 and Latin Extended-A letters to lower case without accents, ß to
 * ss; other characters, Chinese among them, as they are) and each product
 * gets the best rank it earns: exact SKU, SKU prefix, name prefix, the start
 * of a word of the name, anywhere in SKU or name.  Results are sorted by
 * rank, then SKU, at most `limit` of them, with their prices.
 *
 * One pass over the products table in its stored order with a reused statement,
 * folding in C: no index helps a substring match, and on 100,000 products a
 * pass is a few tens of milliseconds (bench/bench_catalog.c measures it).
 * Customers (a manager's few thousand) are found the same way by name,
 * city, e-mail, VAT id and the digits of the phone, ranked, all matches.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"

#define FIND_MAX_TEXT 256
#define FIND_DEFAULT_LIMIT 50
#define FIND_MAX_LIMIT 10000

/* The base letter of U+00C0..U+017F, in lower case (0: keep as it is). */
static const char latin1[64] = "aaaaaaaceeeeiiiidnooooo*ouuuuyts"
                               "aaaaaaaceeeeiiiidnooooo/ouuuuyty";
static const char latin_ext_a[128] =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkklllllll"
    "lllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/* Folds UTF-8 s into out (cap bytes, NUL-terminated, truncated at a
 * character boundary); returns the length. */
static size_t fold(char *out, size_t cap, const char *s) {
  size_t n = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p && n + 5 < cap) {
    unsigned c = *p;
    if (c < 0x80) {
      out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
      p++;
      continue;
    }
    if ((c & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
      unsigned cp = ((c & 0x1F) << 6) | (p[1] & 0x3F);
      char b = 0;
      if (cp == 0xDF) { /* ß */
        out[n++] = 's';
        out[n++] = 's';
        p += 2;
        continue;
      }
      if (cp >= 0xC0 && cp < 0x100) b = latin1[cp - 0xC0];
      if (cp >= 0x100 && cp < 0x180) b = latin_ext_a[cp - 0x100];
      if (b && b != '*' && b != '/') {
        out[n++] = b;
        p += 2;
        continue;
      }
    }
    /* any other character, byte by byte to its end */
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    size_t i = 0;
    for (; i < len && p[i]; i++) out[n++] = (char)p[i]; /* n + 5 < cap: room for 4 */
    p += i;
    while ((*p & 0xC0) == 0x80) p++; /* a stray continuation byte */
  }
  out[n] = '\0';
  return n;
}

/* Where folded q stands in folded text: 2 at the start of a word (after a
 * character that is not an ASCII letter or digit), 1 only inside words, 0
 * nowhere. */
static int found_in(const char *text, const char *q) {
  const char *first = strstr(text, q);
  for (const char *h = first; h; h = strstr(h + 1, q)) {
    unsigned char before = h > text ? (unsigned char)h[-1] : ' ';
    if (before < 0x80 && !((before >= 'a' && before <= 'z') || (before >= '0' && before <= '9')))
      return 2;
  }
  return first ? 1 : 0;
}

/* 1..5 (best first), 0 when nothing matches; q is folded, non-empty. */
static int rank_of(const char *sku, const char *name, const char *q, size_t qn) {
  if (!strcmp(sku, q)) return 1;
  if (!strncmp(sku, q, qn)) return 2;
  if (!strncmp(name, q, qn)) return 3;
  int where = found_in(name, q);
  if (where == 2) return 4;
  return where || strstr(sku, q) ? 5 : 0;
}

typedef struct hit {
  int rank;
  cJSON *row;
  char *sku;
} hit;

static int cmp_hit(const void *a, const void *b) {
  const hit *x = a, *y = b;
  if (x->rank != y->rank) return x->rank - y->rank;
  return strcmp(x->sku, y->sku);
}

static const char SQL_ALL[] = "SELECT id, sku, name, unit, active FROM products";
static const char SQL_PRICES[] =
    "SELECT currency, price FROM prices WHERE sku = ?1 ORDER BY currency";

/* arg "LIMIT TEXT" or "TEXT" (limit 50). */
int fsi_view_product_find(fs_store *st, const char *arg, cJSON **out) {
  char q[FIND_MAX_TEXT * 2], fsku[160], fname[520];
  size_t limit = FIND_DEFAULT_LIMIT, nh = 0;
  hit *hits = NULL;
  cJSON *arr = NULL;
  int rc = FS_OK, step;
  *out = NULL;
  if (!arg) return fsi_fail(FS_EINVAL, "no text to find");
  const char *sp = strchr(arg, ' ');
  if (sp && sp > arg && strspn(arg, "0123456789") == (size_t)(sp - arg)) {
    limit = (size_t)strtoull(arg, NULL, 10);
    arg = sp + 1;
  }
  if (strlen(arg) > FIND_MAX_TEXT)
    return fsi_fail(FS_EINVAL, "the text to find is longer than %d bytes", FIND_MAX_TEXT);
  size_t qn = fold(q, sizeof q, arg);
  if (qn == 0) return fsi_fail(FS_EINVAL, "no text to find");
  if (limit == 0) limit = FIND_DEFAULT_LIMIT;
  if (limit > FIND_MAX_LIMIT) limit = FIND_MAX_LIMIT;
  hits = calloc(limit + 1, sizeof *hits);
  if (!hits) return fsi_fail(FS_ENOMEM, "out of memory");
  sqlite3_stmt *s = fsi_sql_query(st, SQL_ALL, "");
  if (!s) {
    rc = FS_EIO;
    goto done;
  }
  /* the best `limit` so far by (rank, SKU), kept sorted; rows arrive in
   * the table's order (a plain scan, no index lookups) */
  while ((step = fsi_sql_step(st, s, "finding a product")) == 1) {
    const char *sku = (const char *)sqlite3_column_text(s, 1);
    const char *name = (const char *)sqlite3_column_text(s, 2);
    fold(fsku, sizeof fsku, sku ? sku : "");
    fold(fname, sizeof fname, name ? name : "");
    int r = rank_of(fsku, fname, q, qn);
    if (!r || (nh == limit && (r > hits[nh - 1].rank ||
                               (r == hits[nh - 1].rank && strcmp(sku, hits[nh - 1].sku) >= 0))))
      continue;
    cJSON *row = cJSON_CreateObject();
    char *copy = strdup(sku ? sku : "");
    if (!row || !copy ||
        !cJSON_AddStringToObject(row, "id", (const char *)sqlite3_column_text(s, 0)) ||
        !cJSON_AddStringToObject(row, "sku", sku ? sku : "") ||
        !cJSON_AddStringToObject(row, "name", name ? name : "") ||
        !(sqlite3_column_type(s, 3) == SQLITE_NULL
              ? cJSON_AddNullToObject(row, "unit")
              : cJSON_AddStringToObject(row, "unit", (const char *)sqlite3_column_text(s, 3))) ||
        !cJSON_AddNumberToObject(row, "active", (double)sqlite3_column_int64(s, 4)) ||
        !cJSON_AddNumberToObject(row, "rank", r)) {
      cJSON_Delete(row);
      free(copy);
      fsi_sql_done(s);
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    size_t at = nh;
    while (at > 0 && (hits[at - 1].rank > r ||
                      (hits[at - 1].rank == r && strcmp(hits[at - 1].sku, copy) > 0)))
      at--;
    if (nh == limit) {
      cJSON_Delete(hits[nh - 1].row);
      free(hits[nh - 1].sku);
      nh--;
    }
    memmove(hits + at + 1, hits + at, (nh - at) * sizeof *hits);
    hits[at] = (hit){r, row, copy};
    nh++;
  }
  if (step < 0) {
    rc = step;
    goto done;
  }
  qsort(hits, nh, sizeof *hits, cmp_hit);
  if (!(arr = cJSON_CreateArray())) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nh && !rc; i++) {
    cJSON *prices = NULL;
    rc = fsi_view_rows(st, fsi_sql_query(st, SQL_PRICES, "t", hits[i].sku), "reading a view",
                       &prices);
    if (!rc && !cJSON_AddItemToObject(hits[i].row, "prices", prices)) {
      cJSON_Delete(prices);
      rc = fsi_fail(FS_ENOMEM, "out of memory");
    }
    if (!rc) {
      cJSON_AddItemToArray(arr, hits[i].row);
      hits[i].row = NULL;
    }
  }
done:
  for (size_t i = 0; i < nh; i++) {
    cJSON_Delete(hits[i].row);
    free(hits[i].sku);
  }
  free(hits);
  if (rc) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return FS_OK;
}

/* ------------------------------------------------------------ customers */

/* How well customer fields match q (folded): 1 the exact name, 2 the start
 * of the name, 3 the start of a word of the name, 4 anywhere in the name,
 * 5 in the city, e-mail or VAT id, 6 the digits of the phone; 0 none. */
static int customer_rank(char *const f[5], const char *phone, const char *q, size_t qn,
                         const char *qdigits) {
  const char *name = f[0];
  if (!strcmp(name, q)) return 1;
  if (!strncmp(name, q, qn)) return 2;
  int where = found_in(name, q);
  if (where) return where == 2 ? 3 : 4;
  for (int i = 1; i < 4; i++)
    if (strstr(f[i], q)) return 5;
  if (strlen(qdigits) >= 3 && phone) {
    char digits[64];
    size_t n = 0;
    for (const char *p = phone; *p && n + 1 < sizeof digits; p++)
      if (*p >= '0' && *p <= '9') digits[n++] = *p;
    digits[n] = '\0';
    if (strstr(digits, qdigits)) return 6;
  }
  return 0;
}

typedef struct chit {
  int rank;
  char *key; /* the folded name, for the order within a rank */
  cJSON *row;
} chit;

static int cmp_chit(const void *a, const void *b) {
  const chit *x = a, *y = b;
  if (x->rank != y->rank) return x->rank - y->rank;
  return strcmp(x->key, y->key);
}

static const char SQL_CUSTOMERS_ALL[] =
    "SELECT id, name, city, email, vat, phone, country, status, manager FROM customers";

int fsi_view_customer_find(fs_store *st, const char *arg, cJSON **out) {
  char q[FIND_MAX_TEXT * 2], qdigits[FIND_MAX_TEXT + 1];
  char folded[4][520];
  chit *hits = NULL;
  size_t nh = 0, cap = 0;
  cJSON *arr = NULL;
  int rc = FS_OK, step;
  *out = NULL;
  if (!arg || strlen(arg) > FIND_MAX_TEXT)
    return fsi_fail(FS_EINVAL, arg ? "the text to find is longer than %d bytes" : "no text to find",
                    FIND_MAX_TEXT);
  size_t qn = fold(q, sizeof q, arg), nd = 0;
  if (qn == 0) return fsi_fail(FS_EINVAL, "no text to find");
  for (const char *p = arg; *p; p++)
    if (*p >= '0' && *p <= '9') qdigits[nd++] = *p;
  qdigits[nd] = '\0';
  sqlite3_stmt *s = fsi_sql_query(st, SQL_CUSTOMERS_ALL, "");
  if (!s) return FS_EIO;
  while ((step = fsi_sql_step(st, s, "finding a customer")) == 1) {
    char *f[5] = {folded[0], folded[1], folded[2], folded[3], NULL};
    for (int i = 0; i < 4; i++) {
      const char *v = (const char *)sqlite3_column_text(s, i + 1);
      fold(folded[i], sizeof folded[i], v ? v : "");
    }
    int r = customer_rank(f, (const char *)sqlite3_column_text(s, 5), q, qn, qdigits);
    if (!r) continue;
    if (nh == cap) {
      size_t nc = cap ? cap * 2 : 16;
      chit *n = realloc(hits, nc * sizeof *n);
      if (!n) {
        fsi_sql_done(s);
        rc = fsi_fail(FS_ENOMEM, "out of memory");
        goto done;
      }
      hits = n;
      cap = nc;
    }
    cJSON *row = cJSON_CreateObject();
    char *key = strdup(folded[0]);
    static const char *const cols[] = {"id",    "name",    "city",   "email",  "vat",
                                       "phone", "country", "status", "manager"};
    int ok = row && key;
    for (int i = 0; ok && i < 9; i++)
      ok = sqlite3_column_type(s, i) == SQLITE_NULL
               ? cJSON_AddNullToObject(row, cols[i]) != NULL
               : cJSON_AddStringToObject(row, cols[i], (const char *)sqlite3_column_text(s, i)) !=
                     NULL;
    if (ok) ok = cJSON_AddNumberToObject(row, "rank", r) != NULL;
    if (!ok) {
      cJSON_Delete(row);
      free(key);
      fsi_sql_done(s);
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      goto done;
    }
    hits[nh++] = (chit){r, key, row};
  }
  if (step < 0) {
    rc = step;
    goto done;
  }
  if (nh) qsort(hits, nh, sizeof *hits, cmp_chit);
  if (!(arr = cJSON_CreateArray())) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nh; i++) {
    cJSON_AddItemToArray(arr, hits[i].row);
    hits[i].row = NULL;
  }
done:
  for (size_t i = 0; i < nh; i++) {
    cJSON_Delete(hits[i].row);
    free(hits[i].key);
  }
  free(hits);
  if (rc) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return FS_OK;
}
