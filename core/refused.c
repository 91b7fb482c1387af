/*
 * refused.c — the log of refused changes, and the ways forward from one.
 *
 * A change the write policy refuses is not applied, but nothing a person
 * entered is dropped without a trace: every refusal is a row of fs_refused
 * with the reason (a whole sentence), the values the change carried, the
 * customer it concerned (id and name, as known when it was refused, so the
 * log still says whose it was once the customer has gone from the device),
 * and at head office the manager of the device that sent it.
 *  - On a device, head office's acknowledgement names what it refused; the
 *    device records each with the row as it holds it then (all columns; a
 *    refused order also with its lines), before the pull that may let the
 *    row's customer go (fsi_refused_log_row).  A row written here that never
 *    reached head office before its customer was let go is kept the same
 *    way (fsi_refused_keep_stranded).
 *  - At head office the merge records the incoming values of each change it
 *    refuses (fsi_refused_log_change), so a sales lead can re-enter or
 *    reassign.
 * A refusal is open until a person dismisses it (after reading it) or
 * copies it: fs_refused_copy re-creates the refused order (with its lines)
 * or meeting as new rows through the ordinary write path, under a customer
 * the device's manager may write.  Neither deletes it: the log keeps every
 * refusal with its state (open, dismissed, copied and the new row's id).
 * Each refusal is recorded once per change: (table, row, column, site,
 * clock) is unique, the clock being the newest one of the row's state, so
 * the same change answered twice is logged once and a later edit of the
 * same row that is refused again is logged again.
 */
#include "refused.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"
#include "util.h"

/* ---------------------------------------------------------- recording */

static int has_column(const fsi_tbl_state *ts, const char *name) {
  for (size_t i = 0; i < ts->decl->ncols; i++)
    if (!strcmp(ts->decl->cols[i].name, name)) return 1;
  return 0;
}

/* The customers table, when it has the name column the log shows. */
static fsi_tbl_state *customers_named(fs_store *st) {
  fsi_tbl_state *cs = fsi_store_table(st, "customers");
  return cs && has_column(cs, "name") ? cs : NULL;
}

/* The name of customer `id` here, malloc'd; NULL when unknown. */
static char *customer_name(fs_store *st, const char *id) {
  if (!id || !customers_named(st)) return NULL;
  sqlite3_stmt *s = fsi_sql_query(st, "SELECT name FROM customers WHERE id=?1", "t", id);
  if (!s) return NULL;
  char *name = NULL;
  if (fsi_sql_step(st, s, "reading a customer") == 1) {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    name = v ? strdup(v) : NULL;
    fsi_sql_done(s);
  }
  fsi_clear_error(); /* the name is a courtesy: its absence is no failure */
  return name;
}

static int refused_insert(fs_store *st, const char *table, const char *pk, const char *col,
                          int64_t site, int64_t hlc, const char *reason, const char *value,
                          const char *customer, const char *cname, const char *manager,
                          const char *lines) {
  /* col "" = the whole row (NULL would defeat the UNIQUE de-duplication) */
  return fsi_sql_run(st, "logging a refused change",
                     "INSERT OR IGNORE INTO fs_refused(tbl, pk, col, site, hlc, reason, at, value,"
                     " customer, customer_name, manager, lines)"
                     " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                     "tttiitittttt", table, pk, col ? col : "", site, hlc, reason,
                     fsi_util_now_ms(), value, customer, cname, manager, lines);
}

/* "json_object('id', id, 'c1', "c1", ...)" over the declared columns of
 * ts (with the id when with_id), malloc'd. */
static char *json_object_sql(const fsi_tbl_state *ts, int with_id) {
  size_t cap = 64;
  for (size_t i = 0; i < ts->decl->ncols; i++) cap += 2 * strlen(ts->decl->cols[i].name) + 10;
  char *sql = malloc(cap);
  if (!sql) return NULL;
  size_t n = (size_t)snprintf(sql, cap, "json_object(%s", with_id ? "'id', id" : "");
  for (size_t i = 0; i < ts->decl->ncols; i++)
    n += (size_t)snprintf(sql + n, cap - n, "%s'%s', \"%s\"", i || with_id ? ", " : "",
                          ts->decl->cols[i].name, ts->decl->cols[i].name);
  snprintf(sql + n, cap - n, ")");
  return sql;
}

/* The row as this replica holds it: its JSON image (every declared column)
 * into *image, the newest clock of its state into *hlc and the customer it
 * belongs to into *customer (malloc'd; NULL when the row is not live here). */
static int row_image(fs_store *st, fsi_tbl_state *ts, const char *pk, char **image, int64_t *hlc,
                     char **customer) {
  *image = *customer = NULL;
  *hlc = 0;
  char *obj = json_object_sql(ts, 0);
  if (!obj) return fsi_fail(FS_ENOMEM, "out of memory");
  const char *cust = fsi_merge_is_customers(ts) ? "id"
                     : ts->cust_col >= 0        ? ts->decl->cols[ts->cust_col].name
                                                : NULL;
  size_t cap = strlen(obj) + strlen(ts->decl->name) + (cust ? strlen(cust) : 0) + 200;
  char *sql = malloc(cap);
  if (!sql) {
    free(obj);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  snprintf(sql, cap,
           "SELECT %s, max(_hlc, coalesce((SELECT max(hlc) FROM fs_cell WHERE tbl=?2 AND pk=?1),"
           " 0)), %s%s%s FROM \"%s\" WHERE id=?1",
           obj, cust ? "\"" : "", cust ? cust : "NULL", cust ? "\"" : "", ts->decl->name);
  free(obj);
  sqlite3_stmt *s = NULL;
  int rc = FS_OK;
  if (sqlite3_prepare_v2(fsi_store_db(st), sql, -1, &s, NULL) != SQLITE_OK) {
    rc = fsi_store_sqlfail(st, "reading a refused row");
  } else {
    sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ts->decl->name, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
      const char *img = (const char *)sqlite3_column_text(s, 0);
      const char *c = (const char *)sqlite3_column_text(s, 2);
      *image = img ? strdup(img) : NULL;
      *customer = c ? strdup(c) : NULL;
      *hlc = sqlite3_column_int64(s, 1);
      if ((img && !*image) || (c && !*customer)) rc = fsi_fail(FS_ENOMEM, "out of memory");
    } else if (step != SQLITE_DONE) {
      rc = fsi_store_sqlfail(st, "reading a refused row");
    }
  }
  sqlite3_finalize(s);
  free(sql);
  return rc;
}

/* A refused order's lines as this replica holds them (a JSON array of
 * their images with ids, in id order) into *out, malloc'd; NULL for any
 * other table. */
static int order_lines_image(fs_store *st, const fsi_tbl_state *ts, const char *pk, char **out) {
  *out = NULL;
  fsi_tbl_state *ls = fsi_store_table(st, "order_lines");
  if (strcmp(ts->decl->name, "orders") != 0 || !ls || !has_column(ls, "order_id")) return FS_OK;
  char *obj = json_object_sql(ls, 1);
  if (!obj) return fsi_fail(FS_ENOMEM, "out of memory");
  size_t cap = strlen(obj) + 200;
  char *sql = malloc(cap);
  if (!sql) {
    free(obj);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  snprintf(sql, cap,
           "SELECT json_group_array(json(j)) FROM (SELECT %s AS j FROM order_lines"
           " WHERE order_id=?1 ORDER BY id)",
           obj);
  free(obj);
  sqlite3_stmt *s = NULL;
  int rc = FS_OK;
  if (sqlite3_prepare_v2(fsi_store_db(st), sql, -1, &s, NULL) != SQLITE_OK) {
    rc = fsi_store_sqlfail(st, "reading a refused order's lines");
  } else {
    sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW && sqlite3_column_text(s, 0)) {
      *out = strdup((const char *)sqlite3_column_text(s, 0));
      if (!*out) rc = fsi_fail(FS_ENOMEM, "out of memory");
    } else if (step != SQLITE_ROW && step != SQLITE_DONE) {
      rc = fsi_store_sqlfail(st, "reading a refused order's lines");
    }
  }
  sqlite3_finalize(s);
  free(sql);
  return rc;
}

/* Records a change of a row this replica wrote, with the row as it holds
 * it now. */
static int log_local_row(fs_store *st, fsi_tbl_state *ts, const char *table, const char *pk,
                         const char *col, int64_t site, const char *reason) {
  char *image = NULL, *customer = NULL, *cname = NULL, *lines = NULL;
  int64_t hlc = 0;
  int rc = FS_OK;
  if (ts) {
    rc = row_image(st, ts, pk, &image, &hlc, &customer);
    if (!rc && image) rc = order_lines_image(st, ts, pk, &lines);
    if (!rc) cname = customer_name(st, customer);
  }
  if (!rc)
    rc = refused_insert(st, table, pk, col, site, hlc, reason, image, customer, cname,
                        fsi_store_is_hq(st) ? NULL : fsi_store_manager(st), lines);
  free(image);
  free(customer);
  free(cname);
  free(lines);
  return rc;
}

int fsi_refused_log_row(fs_store *st, const char *table, const char *pk, const char *col,
                        int64_t site, const char *reason) {
  return log_local_row(st, fsi_store_table(st, table), table, pk, col, site, reason);
}

/* Appends v as JSON text to the buffer b (cap grown as needed). */
typedef struct jbuf {
  char *p;
  size_t n, cap;
  int oom;
} jbuf;

static void jb_put(jbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->n + n + 1 > cap) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void jb_str(jbuf *b, const char *s, size_t n) {
  jb_put(b, "\"", 1);
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)s[k];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      jb_put(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      jb_put(b, esc, 6);
    } else {
      jb_put(b, (const char *)&s[k], 1);
    }
  }
  jb_put(b, "\"", 1);
}

/* The values an incoming change carries, as a JSON object of the columns
 * the sender sent (integers exact), malloc'd; NULL for a delete. */
static char *incoming_json(const fsi_tbl_state *ts, const fsi_rowchange *r,
                           const fsi_merge_colmap *cm) {
  if (r->cl % 2 == 0 || !r->vals) return NULL;
  jbuf b = {NULL, 0, 0, 0};
  int first = 1;
  jb_put(&b, "{", 1);
  for (size_t i = 0; i < ts->decl->ncols; i++) {
    int ri = cm->idx[i];
    if (ri < 0 || ri >= r->nvals) continue;
    const fsi_value *v = &r->vals[ri];
    if (!first) jb_put(&b, ",", 1);
    first = 0;
    jb_str(&b, ts->decl->cols[i].name, strlen(ts->decl->cols[i].name));
    jb_put(&b, ":", 1);
    if (v->type == FS_VAL_INT) {
      char num[24];
      int k = snprintf(num, sizeof num, "%" PRId64, v->i);
      jb_put(&b, num, (size_t)k);
    } else if (v->type == FS_VAL_TEXT) {
      jb_str(&b, v->s, v->n);
    } else {
      jb_put(&b, "null", 4);
    }
  }
  jb_put(&b, "}", 1);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

int fsi_refused_log_change(fs_store *st, const fsi_tbl_state *ts, const char *table,
                           const fsi_rowchange *r, const fsi_merge_colmap *cm,
                           const fsi_merge_opts *o, const char *col, int64_t site, int64_t hlc,
                           const char *reason) {
  char *values = NULL, *cname = NULL;
  const char *customer = NULL;
  if (ts && cm && r) {
    values = incoming_json(ts, r, cm);
    if (!values && r->cl % 2 == 1 && r->vals) return fsi_fail(FS_ENOMEM, "out of memory");
    /* the customer the change concerns: its own id, or the one it names */
    int ci = fsi_merge_is_customers(ts) ? -1 : ts->cust_col;
    if (fsi_merge_is_customers(ts)) {
      customer = r->pk;
    } else if (ci >= 0 && cm->idx[ci] >= 0 && cm->idx[ci] < r->nvals &&
               r->vals[cm->idx[ci]].type == FS_VAL_TEXT) {
      customer = r->vals[cm->idx[ci]].s;
    }
    cname = customer_name(st, customer);
    /* a customer head office has never seen: the name it arrived with */
    if (!cname && fsi_merge_is_customers(ts) && values) {
      for (size_t i = 0; i < ts->decl->ncols; i++) {
        int ri = cm->idx[i];
        if (ri >= 0 && ri < r->nvals && !strcmp(ts->decl->cols[i].name, "name") &&
            r->vals[ri].type == FS_VAL_TEXT)
          cname = strdup(r->vals[ri].s);
      }
    }
    /* a whole-row refusal is known by the newest clock of the change */
    if (!col) hlc = fsi_merge_remote_max(r, NULL);
  }
  int rc = refused_insert(st, table, r ? r->pk : "", col, site, hlc, reason, values, customer,
                          cname, o ? o->sender_manager : NULL, NULL);
  free(values);
  free(cname);
  return rc;
}

int fsi_refused_keep_stranded(fs_store *st, const char *customer_id) {
  if (fsi_store_is_hq(st)) return FS_OK;
  char *text = NULL;
  fsi_merge_cursor c;
  fs_store_get(&text, st, "push_cursor");
  fsi_clear_error();
  int rc = fsi_merge_cursor_parse(&c, text);
  free(text);
  if (rc) return rc;
  char *cname = customer_name(st, customer_id);
  char reason[512];
  snprintf(reason, sizeof reason,
           "head office moved customer %.200s to another manager before this change was sent, "
           "so it never reached head office; it was kept on this device so that it can be "
           "copied to another customer.",
           cname ? cname : customer_id);
  free(cname);
  for (size_t i = 0; i < st->nt && !rc; i++) {
    fsi_tbl_state *ts = &st->t[i];
    const char *col = fsi_merge_is_customers(ts) ? "id"
                      : ts->cust_col >= 0        ? ts->decl->cols[ts->cust_col].name
                                                 : NULL;
    if (!col) continue;
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT id FROM \"%s\" WHERE \"%s\"=?1 AND _src != ?2 AND _seq > ?3 ORDER BY _seq",
             ts->decl->name, col);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(fsi_store_db(st), sql, -1, &s, NULL) != SQLITE_OK) {
      rc = fsi_store_sqlfail(st, "keeping changes that were never sent");
      break;
    }
    sqlite3_bind_text(s, 1, customer_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, st->hq_site ? st->hq_site : -1);
    sqlite3_bind_int64(s, 3, c.seq);
    /* collected first: logging reads the same table */
    char **ids = NULL;
    size_t n = 0, cap = 0;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
      if (n == cap) {
        cap = cap ? cap * 2 : 8;
        char **q = realloc(ids, cap * sizeof *q);
        if (!q) {
          rc = fsi_fail(FS_ENOMEM, "out of memory");
          break;
        }
        ids = q;
      }
      if (!(ids[n] = strdup((const char *)sqlite3_column_text(s, 0))))
        rc = fsi_fail(FS_ENOMEM, "out of memory");
      else
        n++;
    }
    sqlite3_finalize(s);
    for (size_t k = 0; k < n; k++) {
      if (!rc) rc = log_local_row(st, ts, ts->decl->name, ids[k], NULL, st->site, reason);
      free(ids[k]);
    }
    free(ids);
  }
  return rc;
}

/* ------------------------------------------------------------- views */

static const char SQL_COUNTS[] = "SELECT state, count(*) FROM fs_refused GROUP BY state";

int fsi_refused_counts(fs_store *st, cJSON **out) {
  int64_t open = 0, copied = 0, dismissed = 0;
  sqlite3_stmt *s = fsi_sql_query(st, SQL_COUNTS, NULL);
  int r;
  *out = NULL;
  if (!s) return FS_EIO;
  while ((r = fsi_sql_step(st, s, "counting refused changes")) == 1) {
    const char *state = (const char *)sqlite3_column_text(s, 0);
    int64_t n = sqlite3_column_int64(s, 1);
    if (state && !strcmp(state, "copied"))
      copied += n;
    else if (state && !strcmp(state, "dismissed"))
      dismissed += n;
    else
      open += n;
  }
  if (r < 0) return r;
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddNumberToObject(o, "open", (double)open) ||
      !cJSON_AddNumberToObject(o, "copied", (double)copied) ||
      !cJSON_AddNumberToObject(o, "dismissed", (double)dismissed)) {
    cJSON_Delete(o);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  *out = o;
  return FS_OK;
}

#define REFUSED_COLS                                                                               \
  "SELECT id, strftime('%Y-%m-%dT%H:%M:%SZ', at / 1000, 'unixepoch') AS at,"                       \
  " tbl AS \"table\", pk AS row, nullif(col, '') AS \"column\","                                   \
  " printf('%016x', site) AS site, manager, customer AS customer_id, customer_name, reason,"       \
  " state, strftime('%Y-%m-%dT%H:%M:%SZ', closed_at / 1000, 'unixepoch') AS closed_at,"            \
  " copied_to, value, lines FROM fs_refused"

static const char SQL_LIST[] = REFUSED_COLS " WHERE (?1 = 'all' OR state = ?1)"
                                            " AND (?2 IS NULL OR manager = ?2) ORDER BY id";
static const char SQL_ONE[] = REFUSED_COLS " WHERE id = ?1";
static const char SQL_LINE_REFUSALS[] =
    "SELECT id, pk, state FROM fs_refused WHERE tbl = 'order_lines' AND site = ?2"
    " AND json_valid(value) AND json_extract(value, '$.order_id') = ?1 ORDER BY id";
static const char SQL_LINES_REFUSED[] =
    "SELECT json_group_array(json(j)) FROM (SELECT json_set(value, '$.id', pk) AS j"
    " FROM fs_refused WHERE tbl = 'order_lines' AND site = ?2 AND json_valid(value)"
    " AND json_extract(value, '$.order_id') = ?1 AND id IN (SELECT max(id) FROM fs_refused"
    " WHERE tbl = 'order_lines' GROUP BY pk, site) ORDER BY pk)";

/* Replaces the text member `key` of o (a JSON document as text) by the
 * parsed document under `name` (null when absent or unreadable). */
static int parse_member(cJSON *o, const char *key, const char *name) {
  cJSON *txt = cJSON_DetachItemFromObjectCaseSensitive(o, key);
  cJSON *v = cJSON_IsString(txt) ? cJSON_Parse(txt->valuestring) : NULL;
  cJSON_Delete(txt);
  if (!v) v = cJSON_CreateNull();
  if (!v || !cJSON_AddItemToObject(o, name, v)) {
    cJSON_Delete(v);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  return FS_OK;
}

/* "state=open|dismissed|copied|all" and "manager=NAME" joined by '&'. */
static int parse_list_arg(const char *arg, char *state, size_t sn, char *manager, size_t mn,
                          int *has_manager) {
  snprintf(state, sn, "open");
  *has_manager = 0;
  for (const char *p = arg; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n > 6 && !strncmp(p, "state=", 6) && n - 6 < sn) {
      snprintf(state, sn, "%.*s", (int)(n - 6), p + 6);
      if (strcmp(state, "open") && strcmp(state, "dismissed") && strcmp(state, "copied") &&
          strcmp(state, "all"))
        return fsi_fail(FS_EINVAL, "the state \"%.20s\" is not one of open, dismissed, copied, all",
                        state);
    } else if (n > 8 && !strncmp(p, "manager=", 8) && n - 8 < mn) {
      snprintf(manager, mn, "%.*s", (int)(n - 8), p + 8);
      *has_manager = 1;
    } else {
      return fsi_fail(FS_EINVAL, "bad filter \"%.60s\" for the refused changes", arg);
    }
    p = amp ? amp + 1 : NULL;
  }
  return FS_OK;
}

static int list(fs_store *st, const char *state, const char *manager, cJSON **out) {
  cJSON *arr = NULL, *it;
  int rc = fsi_view_rows(st, fsi_sql_query(st, SQL_LIST, "tt", state, manager),
                         "reading the refused changes", &arr);
  if (rc) return rc;
  cJSON_ArrayForEach(it, arr) {
    cJSON_DeleteItemFromObjectCaseSensitive(it, "lines");
    if ((rc = parse_member(it, "value", "values"))) break;
  }
  if (rc) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return FS_OK;
}

int fsi_refused_view_list(fs_store *st, const char *arg, cJSON **out) {
  char state[16], manager[256];
  int has_manager = 0;
  int rc = parse_list_arg(arg, state, sizeof state, manager, sizeof manager, &has_manager);
  if (rc) return rc;
  return list(st, state, has_manager ? manager : NULL, out);
}

int fsi_refused_json(cJSON **out, fs_store *st, const char *state, const char *manager) {
  *out = NULL;
  int rc = fsi_view_begin(st);
  if (rc) return rc;
  rc = list(st, state ? state : "all", manager, out);
  fsi_view_end(st);
  return rc;
}

/* A refusal's id as text: decimal digits, optionally after '#'. */
static int parse_id(int64_t *id, const char *text) {
  const char *p = text && text[0] == '#' ? text + 1 : text;
  if (!p || !fsi_util_parse_i64(p, id) || *id <= 0)
    return fsi_fail(FS_EINVAL, "\"%.40s\" is not the number of a refused change", text ? text : "");
  return FS_OK;
}

int fsi_refused_view_one(fs_store *st, const char *arg, cJSON **out) {
  int64_t id = 0;
  cJSON *arr = NULL;
  int rc = parse_id(&id, arg);
  if (rc) return rc;
  if ((rc = fsi_view_rows(st, fsi_sql_query(st, SQL_ONE, "i", id), "reading a refused change",
                          &arr)))
    return rc;
  cJSON *o = cJSON_DetachItemFromArray(arr, 0);
  cJSON_Delete(arr);
  if (!o) return fsi_fail(FS_ENOTFOUND, "there is no refused change %" PRId64, id);
  const char *table = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "table"));
  const char *row = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "row"));
  const char *site = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "site"));
  int64_t site_id = site ? (int64_t)strtoull(site, NULL, 16) : 0;
  int is_order = table && !strcmp(table, "orders") && fsi_store_table(st, "order_lines");
  if (is_order && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "lines"))) {
    /* no lines kept with the order (head office): those refused with it */
    char *lines = NULL;
    sqlite3_stmt *s = fsi_sql_query(st, SQL_LINES_REFUSED, "ti", row, site_id);
    int r = s ? fsi_sql_step(st, s, "reading a refused order's lines") : FS_EIO;
    if (r == 1 && sqlite3_column_text(s, 0))
      lines = strdup((const char *)sqlite3_column_text(s, 0));
    if (r == 1) fsi_sql_done(s);
    if (r < 0) rc = r;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "lines");
    if (!rc)
      cJSON_AddItemToObject(o, "lines", lines ? cJSON_CreateString(lines) : cJSON_CreateNull());
    free(lines);
  }
  if (!rc) rc = parse_member(o, "value", "values");
  if (!rc) rc = parse_member(o, "lines", "lines");
  /* each line with the refusal that names it, if any */
  cJSON *lines = cJSON_GetObjectItemCaseSensitive(o, "lines"), *ln;
  cJSON *refs = NULL;
  if (!rc && is_order && cJSON_IsArray(lines))
    rc = fsi_view_rows(st, fsi_sql_query(st, SQL_LINE_REFUSALS, "ti", row, site_id),
                       "reading a refused order's lines", &refs);
  if (rc) lines = NULL;
  cJSON_ArrayForEach(ln, lines) {
    const char *lid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ln, "id"));
    const cJSON *ref, *hit = NULL;
    cJSON_ArrayForEach(ref, refs) {
      const char *pk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "pk"));
      if (lid && pk && !strcmp(lid, pk)) hit = ref;
    }
    cJSON_AddItemToObject(
        ln, "refusal",
        hit ? cJSON_CreateNumber(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(hit, "id")))
            : cJSON_CreateNull());
  }
  cJSON_Delete(refs);
  if (!is_order) cJSON_DeleteItemFromObjectCaseSensitive(o, "lines");
  if (rc) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}

/* ------------------------------------------------------ ways forward */

/* One refusal as stored. */
typedef struct refusal {
  char *table, *pk, *value, *lines, *state, *customer, *cname, *copied_to;
  int64_t site;
} refusal;

static void refusal_free(refusal *f) {
  free(f->table);
  free(f->pk);
  free(f->value);
  free(f->lines);
  free(f->state);
  free(f->customer);
  free(f->cname);
  free(f->copied_to);
  memset(f, 0, sizeof *f);
}

static char *col_dup(sqlite3_stmt *s, int i, int *oom) {
  const char *v = (const char *)sqlite3_column_text(s, i);
  if (!v) return NULL;
  char *d = strdup(v);
  if (!d) *oom = 1;
  return d;
}

static int refusal_load(refusal *f, fs_store *st, int64_t id) {
  memset(f, 0, sizeof *f);
  sqlite3_stmt *s = fsi_sql_query(st,
                                  "SELECT tbl, pk, value, lines, state, customer, customer_name,"
                                  " copied_to, site FROM fs_refused WHERE id=?1",
                                  "i", id);
  if (!s) return FS_EIO;
  int r = fsi_sql_step(st, s, "reading a refused change");
  if (r < 0) return r;
  if (r == 0)
    return fsi_fail(FS_ENOTFOUND,
                    "there is no refused change %" PRId64 "; `fieldsync refused --all` lists them",
                    id);
  int oom = 0;
  char **dst[8] = {&f->table, &f->pk,       &f->value, &f->lines,
                   &f->state, &f->customer, &f->cname, &f->copied_to};
  for (int i = 0; i < 8; i++) *dst[i] = col_dup(s, i, &oom);
  f->site = sqlite3_column_int64(s, 8);
  fsi_sql_done(s);
  if (oom || !f->table || !f->pk || !f->state) {
    refusal_free(f);
    return fsi_fail(FS_ENOMEM, "out of memory");
  }
  return FS_OK;
}

/* The manager and name of a customer live here, malloc'd (either NULL). */
static int customer_of(fs_store *st, const char *id, int *live, char **manager, char **name) {
  *live = 0;
  *manager = *name = NULL;
  if (!fsi_store_table(st, "customers")) return FS_OK;
  sqlite3_stmt *s = fsi_sql_query(st, "SELECT manager, name FROM customers WHERE id=?1", "t", id);
  if (!s) return FS_EIO;
  int r = fsi_sql_step(st, s, "reading a customer");
  if (r <= 0) return r;
  int oom = 0;
  *live = 1;
  *manager = col_dup(s, 0, &oom);
  *name = col_dup(s, 1, &oom);
  fsi_sql_done(s);
  return oom ? fsi_fail(FS_ENOMEM, "out of memory") : FS_OK;
}

/* May this device's manager write customer `id`?  FS_OK, or the sentence
 * saying why not (refusal `rid` names it when the person gave none). */
static int check_target(fs_store *st, int64_t rid, const refusal *f, const char *id, int given) {
  int live = 0;
  char *manager = NULL, *name = NULL;
  int rc = customer_of(st, id, &live, &manager, &name);
  const char *mine = fsi_store_manager(st);
  if (rc) goto done;
  int theirs = live && mine && manager && strcmp(manager, mine) != 0;
  if (!live || theirs) {
    const char *who = name ? name : f->cname ? f->cname : id;
    char where[300];
    if (theirs)
      snprintf(where, sizeof where, "head office assigned it to %.100s", manager);
    else
      snprintf(where, sizeof where, "it is no longer on this device");
    if (given)
      rc = fsi_fail(live ? FS_EPERM : FS_ENOTFOUND,
                    "customer %.200s cannot take the copy: %s, and a copy goes to one of your own "
                    "customers (`fieldsync customer list` shows them)",
                    who, where);
    else
      rc = fsi_fail(FS_EPERM,
                    "the customer of refused change %" PRId64 ", %.200s, is no longer yours (%s); "
                    "copy it to one of your own customers: fieldsync refused copy %" PRId64
                    " --customer ID",
                    rid, who, where, rid);
  }
done:
  free(manager);
  free(name);
  return rc;
}

/* The fields of a refused row's image to re-create it from: every
 * declared column it holds, but the customer (the copy's own), what the
 * write path fills in (created_at, the manager), head-office columns and
 * an order's state (the copy starts as a draft).  Strings are malloc'd
 * into vals. */
static int image_fields(fs_store *st, const fsi_tbl_state *ts, const char *image, fs_field *f,
                        char **vals, size_t *n) {
  *n = 0;
  sqlite3_stmt *s = fsi_sql_query(st,
                                  "SELECT key, CASE type WHEN 'null' THEN NULL"
                                  " ELSE CAST(value AS TEXT) END FROM json_each(?1)",
                                  "t", image);
  int r;
  if (!s) return FS_EIO;
  int is_order = !strcmp(ts->decl->name, "orders");
  while ((r = fsi_sql_step(st, s, "reading a refused row")) == 1) {
    const char *key = (const char *)sqlite3_column_text(s, 0);
    int ci = -1;
    for (size_t i = 0; key && i < ts->decl->ncols; i++)
      if (!strcmp(ts->decl->cols[i].name, key)) ci = (int)i;
    if (ci < 0 || ci == ts->cust_col || ci == ts->sp[SP_CREATED] || ci == ts->sp[SP_MANAGER] ||
        (ts->decl->cols[ci].flags & FS_COL_HQ) ||
        (is_order && (!strcmp(key, "status") || !strcmp(key, "submitted_at"))) ||
        sqlite3_column_type(s, 1) == SQLITE_NULL || *n >= 63)
      continue;
    vals[*n] = strdup((const char *)sqlite3_column_text(s, 1));
    if (!vals[*n]) {
      fsi_sql_done(s);
      return fsi_fail(FS_ENOMEM, "out of memory");
    }
    f[*n] = (fs_field){ts->decl->cols[ci].name, vals[*n]};
    (*n)++;
  }
  return r < 0 ? r : FS_OK;
}

typedef struct line_copy {
  char *sku;
  int64_t qty, discount_bp;
} line_copy;

/* The lines of refused order `f` to re-create: those it had when it was
 * refused, else the refused lines that name it. */
static int order_lines_of(fs_store *st, const refusal *f, line_copy **out, size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *s =
      f->lines ? fsi_sql_query(st,
                               "SELECT json_extract(value, '$.sku'), json_extract(value, '$.qty'),"
                               " coalesce(json_extract(value, '$.discount_bp'), 0)"
                               " FROM json_each(?1) ORDER BY json_extract(value, '$.id')",
                               "t", f->lines)
               : fsi_sql_query(st,
                               "SELECT json_extract(value, '$.sku'), json_extract(value, '$.qty'),"
                               " coalesce(json_extract(value, '$.discount_bp'), 0) FROM fs_refused"
                               " WHERE tbl = 'order_lines' AND site = ?2 AND json_valid(value)"
                               " AND json_extract(value, '$.order_id') = ?1 AND id IN"
                               " (SELECT max(id) FROM fs_refused WHERE tbl = 'order_lines'"
                               " GROUP BY pk, site) ORDER BY pk",
                               "ti", f->pk, f->site);
  size_t cap = 0;
  int r, rc = FS_OK;
  if (!s) return FS_EIO;
  while ((r = fsi_sql_step(st, s, "reading a refused order's lines")) == 1) {
    if (sqlite3_column_type(s, 0) != SQLITE_TEXT || sqlite3_column_type(s, 1) != SQLITE_INTEGER)
      continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 8;
      line_copy *q = realloc(*out, cap * sizeof *q);
      if (!q) {
        rc = fsi_fail(FS_ENOMEM, "out of memory");
        break;
      }
      *out = q;
    }
    line_copy *l = &(*out)[*n];
    l->sku = strdup((const char *)sqlite3_column_text(s, 0));
    l->qty = sqlite3_column_int64(s, 1);
    l->discount_bp = sqlite3_column_int64(s, 2);
    if (!l->sku) {
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      break;
    }
    (*n)++;
  }
  if (rc) fsi_sql_done(s);
  return rc ? rc : r < 0 ? r : FS_OK;
}

/* Says why a copy failed with the write path's own sentence. */
static int copy_failed(int rc, int64_t id) {
  char why[600];
  snprintf(why, sizeof why, "%s", fs_errmsg());
  return fsi_fail(rc, "refused change %" PRId64 " was not copied (nothing was written): %s", id,
                  why);
}

static const char SQL_MARK_COPIED[] =
    "UPDATE fs_refused SET state = 'copied', copied_to = ?2, closed_at = ?3 WHERE id = ?1";
static const char SQL_MARK_LINES[] =
    "UPDATE fs_refused SET state = ?4, copied_to = ?2, closed_at = ?3 WHERE tbl = 'order_lines'"
    " AND site = ?5 AND state IN ('open', ?6) AND json_valid(value)"
    " AND json_extract(value, '$.order_id') = ?1";

int fs_refused_copy(char id_out[FS_ID_SIZE], fs_store *st, int64_t id, const char *customer) {
  refusal f;
  fs_field fields[64];
  char *vals[64];
  line_copy *lines = NULL;
  size_t nf = 0, nv = 0, nl = 0;
  char newid[FS_ID_SIZE] = "";
  int implicit = 0, txopen = 0, rc;
  if (id_out) id_out[0] = '\0';
  if (fsi_store_is_hq(st))
    return fsi_fail(FS_EINVAL, "a refused change is copied on the device that made it, not at "
                               "head office");
  if ((rc = refusal_load(&f, st, id))) return rc;
  fsi_tbl_state *ts = fsi_store_table(st, f.table);
  if (!strcmp(f.state, "copied")) {
    rc = fsi_fail(FS_ECONFLICT, "refused change %" PRId64 " was already copied: the copy is %s %s",
                  id, f.table, f.copied_to ? f.copied_to : "(unknown)");
    goto done;
  }
  if (!ts) {
    rc = fsi_fail(FS_EINVAL,
                  "refused change %" PRId64 " is of table %.64s, which this store does "
                  "not have",
                  id, f.table);
    goto done;
  }
  if (fsi_merge_is_customers(ts)) {
    rc = fsi_fail(FS_EINVAL,
                  "refused change %" PRId64 " is a change of a customer, which head office holds "
                  "as it is; ask head office to reassign the customer or re-enter the change, "
                  "and dismiss this one once read",
                  id);
    goto done;
  }
  if (!strcmp(f.table, "order_lines")) {
    int64_t oid = 0;
    int has = f.value && !fsi_sql_i64(st, &oid, "reading a refused change",
                                      "SELECT id FROM fs_refused WHERE tbl = 'orders'"
                                      " AND pk = json_extract(?1, '$.order_id') AND site = ?2"
                                      " ORDER BY id DESC LIMIT 1",
                                      "ti", f.value, f.site);
    fsi_clear_error();
    if (has)
      rc = fsi_fail(FS_EINVAL,
                    "refused change %" PRId64 " is a line of the order of refused change %" PRId64
                    "; copy the order (fieldsync refused copy %" PRId64 "), which brings its lines",
                    id, oid, oid);
    else
      rc = fsi_fail(FS_EINVAL,
                    "refused change %" PRId64 " is an order line; add it again to a draft order "
                    "with `fieldsync order line` (`fieldsync refused show %" PRId64
                    "` shows its values)",
                    id, id);
    goto done;
  }
  if (ts->cust_col < 0) {
    rc = fsi_fail(FS_EINVAL,
                  "refused change %" PRId64 " is of %s, which belongs to no customer; only an "
                  "order, a meeting or another customer's row can be copied",
                  id, f.table);
    goto done;
  }
  if (!f.value) {
    rc = fsi_fail(FS_ENOTFOUND,
                  "refused change %" PRId64 " kept no values (the row was no longer on this "
                  "device when head office refused it), so there is nothing to copy",
                  id);
    goto done;
  }
  const char *target = customer;
  if (!target) target = f.customer;
  if (!target) {
    rc = fsi_fail(FS_EINVAL,
                  "refused change %" PRId64 " names no customer; copy it with "
                  "--customer ID",
                  id);
    goto done;
  }
  if ((rc = check_target(st, id, &f, target, customer != NULL))) goto done;
  rc = image_fields(st, ts, f.value, fields, vals, &nf);
  nv = nf;
  if (rc) goto done;
  fields[nf++] = (fs_field){ts->decl->cols[ts->cust_col].name, target};
  int is_order = !strcmp(f.table, "orders");
  if (is_order && (rc = order_lines_of(st, &f, &lines, &nl))) goto done;
  if ((rc = fsi_store_tx_begin(st, &implicit))) goto done;
  txopen = 1;
  if ((rc = fs_insert(newid, st, f.table, fields, nf))) {
    rc = copy_failed(rc, id);
    goto done;
  }
  for (size_t k = 0; k < nl && !rc; k++)
    if ((rc = fs_order_line_add(NULL, st, newid, lines[k].sku, lines[k].qty, lines[k].discount_bp)))
      rc = copy_failed(rc, id);
  if (rc) goto done;
  if (is_order && nl > 0) {
    /* a submitted order is submitted again; a draft stays a draft */
    char *status = NULL;
    sqlite3_stmt *s = fsi_sql_query(st, "SELECT json_extract(?1, '$.status')", "t", f.value);
    if (s && fsi_sql_step(st, s, "reading a refused order") == 1) {
      const char *v = (const char *)sqlite3_column_text(s, 0);
      status = v ? strdup(v) : NULL;
      fsi_sql_done(s);
    }
    if (status && (!strcmp(status, "submitted") || !strcmp(status, "confirmed")) &&
        (rc = fs_order_submit(st, newid)))
      rc = copy_failed(rc, id);
    free(status);
    if (rc) goto done;
  }
  int64_t now = fsi_util_now_ms();
  rc = fsi_sql_run(st, "recording a copied refusal", SQL_MARK_COPIED, "iti", id, newid, now);
  if (!rc && is_order)
    rc = fsi_sql_run(st, "recording a copied refusal", SQL_MARK_LINES, "ttitit", f.pk, newid, now,
                     "copied", f.site, "dismissed");
done:
  if (txopen) rc = fsi_store_tx_end(st, implicit, rc);
  if (!rc && id_out) memcpy(id_out, newid, FS_ID_SIZE);
  for (size_t k = 0; k < nv; k++) free(vals[k]);
  for (size_t k = 0; k < nl; k++) free(lines[k].sku);
  free(lines);
  refusal_free(&f);
  return rc;
}

int fs_refused_dismiss(fs_store *st, int64_t id) {
  refusal f;
  int rc = refusal_load(&f, st, id);
  if (rc) return rc;
  int implicit = 0;
  if (strcmp(f.state, "open") != 0) {
    rc = fsi_fail(FS_ECONFLICT, "refused change %" PRId64 " was already %s", id, f.state);
    refusal_free(&f);
    return rc;
  }
  if ((rc = fsi_store_tx_begin(st, &implicit))) {
    refusal_free(&f);
    return rc;
  }
  int64_t now = fsi_util_now_ms();
  rc = fsi_sql_run(st, "dismissing a refused change",
                   "UPDATE fs_refused SET state = 'dismissed', closed_at = ?2 WHERE id = ?1", "ii",
                   id, now);
  /* an order's refused lines go with it */
  if (!rc && !strcmp(f.table, "orders"))
    rc = fsi_sql_run(st, "dismissing a refused change", SQL_MARK_LINES, "ttitit", f.pk, NULL, now,
                     "dismissed", f.site, "open");
  refusal_free(&f);
  return fsi_store_tx_end(st, implicit, rc);
}
