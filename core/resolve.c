/*
 * resolve.c — the ids a person types: fs_resolve_id turns what was typed
 * where a command takes the id of a customer, contact, meeting, order,
 * order line, complaint, competitor note, task, deal, quote or quote line into that row's id.
 *
 * An id is taken whole, or as a unique prefix of at least
 * FSI_RESOLVE_MIN_PREFIX characters (git's rule), or as a unique end of as
 * many (a UUIDv7 starts with its time, so rows made together share a long
 * prefix, and ends in random digits), and a customer also by its exact name
 * (letter case aside).  Ambiguity is an error whose sentence
 * lists the candidates, so the person sees what to type instead; nothing is
 * ever picked at random.  An order is also found by its number ("3F2A91-17"), a quote by its
 * ("3F2A91-Q17").  The SQL of each
 * table is a literal of its own (the statement cache keys on the text's address, sql.c), and a
 * prefix is a range on the primary key (id >= p AND id < p-with-its-last-character- raised), so a
 * lookup is an index search whatever the table's size.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "storeInt.h"
#include "util.h"

#define FSI_RESOLVE_MIN_PREFIX 6
#define MAX_SHOWN 5

typedef struct {
  const char *table, *what; /* "customers", "customer" */
  const char *exact;        /* ?1 the whole id */
  const char *prefix;       /* ?1 .. ?2 a range of ids: id and a label */
  const char *ending;       /* ?1 the end of an id: id and a label */
  const char *by_name;      /* ?1 a customer's exact name, an order's number: id, label */
} target;

/* The two id lookups of a table, from its "SELECT id, label FROM table":
 * a prefix is a range of the primary key (an index search); an ending (the
 * random last digits of a UUIDv7, which differ even between rows made in
 * the same millisecond) is a scan of the ids. */
#define BY_ID(head)                                                                                \
  head " WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 6",                                          \
      head " WHERE id LIKE '%' || ?1 ORDER BY id LIMIT 6"

static const target targets[] = {
    {"customers", "customer", "SELECT id FROM customers WHERE id = ?1",
     BY_ID("SELECT id, name || coalesce(' (' || city || ')', '') FROM customers"),
     "SELECT id, name || coalesce(' (' || city || ')', '') FROM customers"
     " WHERE name = ?1 COLLATE NOCASE ORDER BY id LIMIT 6"},
    {"contacts", "contact", "SELECT id FROM contacts WHERE id = ?1",
     BY_ID("SELECT id, name FROM contacts"), NULL},
    {"meetings", "meeting", "SELECT id FROM meetings WHERE id = ?1",
     BY_ID("SELECT id, kind || ' at ' || at FROM meetings"), NULL},
    {"orders", "order", "SELECT id FROM orders WHERE id = ?1",
     BY_ID("SELECT id, coalesce(number || ', ', '') || status"
           " || coalesce(', created ' || created_at, '') FROM orders"),
     "SELECT id, status FROM orders WHERE number = ?1 COLLATE NOCASE ORDER BY id LIMIT 6"},
    {"complaints", "complaint", "SELECT id FROM complaints WHERE id = ?1",
     BY_ID("SELECT id, kind || ': ' || substr(text, 1, 40) FROM complaints"), NULL},
    {"competitor_notes", "competitor note", "SELECT id FROM competitor_notes WHERE id = ?1",
     BY_ID("SELECT id, competitor FROM competitor_notes"), NULL},
    {"tasks", "task", "SELECT id FROM tasks WHERE id = ?1",
     BY_ID("SELECT id, coalesce('due ' || due || ': ', '') || substr(title, 1, 40) FROM tasks"),
     NULL},
    {"deals", "deal", "SELECT id FROM deals WHERE id = ?1",
     BY_ID("SELECT id, stage || coalesce(', ' || title, '') FROM deals"), NULL},
    {"order_lines", "order line", "SELECT id FROM order_lines WHERE id = ?1",
     BY_ID("SELECT id, sku || ' x ' || qty FROM order_lines"), NULL},
    {"quotes", "quote", "SELECT id FROM quotes WHERE id = ?1",
     BY_ID("SELECT id, coalesce(number || ', ', '') || status"
           " || coalesce(', created ' || created_at, '') FROM quotes"),
     "SELECT id, status FROM quotes WHERE number = ?1 COLLATE NOCASE ORDER BY id LIMIT 6"},
    {"quote_lines", "quote line", "SELECT id FROM quote_lines WHERE id = ?1",
     BY_ID("SELECT id, sku || ' x ' || qty FROM quote_lines"), NULL},
};

static const target *target_of(const char *table) {
  for (size_t i = 0; i < sizeof targets / sizeof *targets; i++)
    if (!strcmp(targets[i].table, table)) return &targets[i];
  return NULL;
}

/* Rows of a prefix or name query into out (when exactly one) or an error
 * sentence listing them; 0 when there were none. */
static int collect(fs_store *st, sqlite3_stmt *s, const target *t, const char *typed,
                   const char *how, char out[FS_ID_SIZE], int *found) {
  char list[1024] = "";
  size_t len = 0;
  int n = 0, r;
  *found = 0;
  while ((r = fsi_sql_step(st, s, "looking up an id")) == 1) {
    const char *id = (const char *)sqlite3_column_text(s, 0);
    const char *label = (const char *)sqlite3_column_text(s, 1);
    if (n == 0) snprintf(out, FS_ID_SIZE, "%s", id ? id : "");
    if (n < MAX_SHOWN && len < sizeof list)
      len += (size_t)snprintf(list + len, sizeof list - len, "%s%s %s", n ? "; " : "", id ? id : "",
                              label ? label : "");
    n++;
  }
  if (r < 0) return r;
  if (n == 1) *found = 1;
  if (n <= 1) return FS_OK;
  out[0] = '\0';
  return fsi_fail(FS_EINVAL, "\"%.64s\" %s %s%d %ss: %s%s; give more of the id", typed, how,
                  n > MAX_SHOWN ? "more than " : "", n > MAX_SHOWN ? MAX_SHOWN : n, t->what, list,
                  n > MAX_SHOWN ? "; ..." : "");
}

int fs_resolve_id(char out[FS_ID_SIZE], fs_store *st, const char *table, const char *typed) {
  const target *t = table ? target_of(table) : NULL;
  if (!out || !st || !t) return fsi_fail(FS_EINVAL, "no ids to look up in %.64s", table);
  out[0] = '\0';
  if (!typed || !*typed) return fsi_fail(FS_EINVAL, "an empty %s id", t->what);
  size_t n = strlen(typed);
  if (n >= FS_ID_SIZE && !t->by_name)
    return fsi_fail(FS_ENOTFOUND, "%s %.64s does not exist", t->what, typed);
  /* the whole id */
  sqlite3_stmt *s = fsi_sql_query(st, t->exact, "t", typed);
  if (!s) return FS_EIO;
  int r = fsi_sql_step(st, s, "looking up an id");
  if (r < 0) return r;
  if (r == 1) {
    fsi_sql_done(s);
    snprintf(out, FS_ID_SIZE, "%s", typed);
    return FS_OK;
  }
  /* a prefix of one: ids are lower-case hexadecimal digits and dashes */
  int idlike = n < FS_ID_SIZE;
  char lo[FS_ID_SIZE], hi[FS_ID_SIZE];
  for (size_t i = 0; idlike && i < n; i++) {
    char c = (char)tolower((unsigned char)typed[i]);
    idlike = isxdigit((unsigned char)c) || c == '-';
    lo[i] = hi[i] = c;
  }
  int found = 0, rc;
  if (idlike && n >= FSI_RESOLVE_MIN_PREFIX) {
    lo[n] = hi[n] = '\0';
    hi[n - 1]++; /* '9' + 1 is ':', 'f' + 1 is 'g', '-' + 1 is '.': all above the prefix */
    if (!(s = fsi_sql_query(st, t->prefix, "tt", lo, hi))) return FS_EIO;
    if ((rc = collect(st, s, t, typed, "is the start of", out, &found)) || found) return rc;
  }
  int customers = !strcmp(t->table, "customers");
  if (t->by_name) {
    if (!(s = fsi_sql_query(st, t->by_name, "t", typed))) return FS_EIO;
    if ((rc = collect(st, s, t, typed, customers ? "is the name of" : "is the number of", out,
                      &found)) ||
        found)
      return rc;
  }
  /* the end of an id: its random last digits, as a list shows them */
  if (idlike && n >= FSI_RESOLVE_MIN_PREFIX) {
    if (!(s = fsi_sql_query(st, t->ending, "t", lo))) return FS_EIO;
    if ((rc = collect(st, s, t, typed, "is the end of", out, &found)) || found) return rc;
  }
  if (t->by_name) {
    if (!customers)
      return fsi_fail(FS_ENOTFOUND,
                      "no %s has the id, start or end of an id (%d or more characters) or number "
                      "\"%.64s\"",
                      t->what, FSI_RESOLVE_MIN_PREFIX, typed);
    /* head office's own store is the replica whose site is head office's */
    return fsi_fail(FS_ENOTFOUND,
                    "no customer has the id, start or end of an id (%d or more characters) or "
                    "name \"%.64s\"; see '%s'",
                    FSI_RESOLVE_MIN_PREFIX, typed,
                    st->site == st->hq_site ? "fieldsync-server export --json"
                                            : "fieldsync customer list");
  }
  if (idlike && n < FSI_RESOLVE_MIN_PREFIX)
    return fsi_fail(FS_ENOTFOUND,
                    "%s %.64s does not exist (an id prefix needs %d or more characters)", t->what,
                    typed, FSI_RESOLVE_MIN_PREFIX);
  return fsi_fail(FS_ENOTFOUND, "%s %.64s does not exist", t->what, typed);
}
