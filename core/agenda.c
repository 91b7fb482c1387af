/*
 * agenda.c — the account manager's day: calls, tasks, the agenda view and
 * the day's norms.
 *
 * A call is a meeting of kind "call" (with its length, duration_min); a task
 * is a row of `tasks` (a title, an optional customer and due date); the norms
 * are head office's rows of `norms` (a manager's own, and "*" for everyone's
 * default).  The rules every such row keeps are fsi_agenda_check_row's
 * (head office runs them on what devices push, as the rest of
 * fsi_domain_check_row); fsi_agenda_insert fills a meeting's time with now
 * when none is given (`call log` without --at).  fs_task_done stamps a
 * task's done_at with the library's clock, once.
 *
 * The "agenda" and "tasks" views (fs_view_json) read in the views'
 * snapshot.  Days are the LOCAL calendar of whoever asks (the process's
 * time zone, TZ): a day runs from its local midnight to the next one, found
 * with mktime, so a day of 23 or 25 hours (daylight saving) is whole, and
 * the stored UTC times ("at", "sent_at") are compared with that range.
 * Dates (due, follow_up, valid_until) are plain local calendar dates and
 * are compared as dates.  A follow-up of a meeting is done once the same
 * customer has a later meeting or call (any kind, planned ones included);
 * until then it is due on its date and overdue after it.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "merge.h"
#include "storeInt.h"
#include "util.h"

#define AGENDA_MAX_DAYS 31
#define QUOTE_NEAR_DAYS 3
#define CALL_MAX_MIN 1440

static int col_of(const fsi_tbl_state *ts, const char *name) {
  for (size_t i = 0; i < ts->decl->ncols; i++)
    if (!strcmp(ts->decl->cols[i].name, name)) return (int)i;
  return -1;
}

static int is_table(const fsi_tbl_state *ts, const char *name) {
  return !strcmp(ts->decl->name, name);
}

/* A plain calendar date "YYYY-MM-DD" (a real day of a real month). */
static int is_date(const fsi_value *v) {
  int64_t ms;
  return v->type == FS_VAL_TEXT && v->n == 10 && fs_time_parse(&ms, v->s) == FS_OK;
}

static int blank(const fsi_value *v) {
  for (uint32_t i = 0; i < v->n; i++)
    if (v->s[i] != ' ' && v->s[i] != '\t' && v->s[i] != '\n' && v->s[i] != '\r') return 0;
  return 1;
}

int fsi_agenda_check_row(const fsi_tbl_state *ts, const fsi_value *vals) {
  if (is_table(ts, "tasks")) {
    int ti = col_of(ts, "title"), di = col_of(ts, "due"), ki = col_of(ts, "done_at");
    if (ti >= 0 && vals[ti].type == FS_VAL_TEXT && blank(&vals[ti]))
      return fsi_fail(FS_EINVAL, "a task needs a title");
    if (di >= 0 && vals[di].type != FS_VAL_NULL && !is_date(&vals[di]))
      return fsi_fail(FS_EINVAL, "a task's due date \"%.40s\" must be YYYY-MM-DD", vals[di].s);
    if (ki >= 0 && vals[ki].type == FS_VAL_TEXT) {
      int64_t ms;
      if (fs_time_parse(&ms, vals[ki].s))
        return fsi_fail(FS_EINVAL, "a task's done_at \"%.40s\" is not a time", vals[ki].s);
    }
  } else if (is_table(ts, "meetings")) {
    int i = col_of(ts, "duration_min");
    if (i >= 0 && vals[i].type == FS_VAL_INT && (vals[i].i < 0 || vals[i].i > CALL_MAX_MIN))
      return fsi_fail(FS_EINVAL, "a call's duration must be 0 to %d minutes", CALL_MAX_MIN);
  } else if (is_table(ts, "norms")) {
    static const char *const cols[] = {"calls_day", "meetings_day", "proposals_day",
                                       "contracts_month"};
    for (size_t k = 0; k < sizeof cols / sizeof *cols; k++) {
      int i = col_of(ts, cols[k]);
      if (i >= 0 && vals[i].type == FS_VAL_INT && (vals[i].i < 0 || vals[i].i > 100000))
        return fsi_fail(FS_EINVAL, "a norm (%s) must be a whole number from 0 to 100000", cols[k]);
    }
  }
  return FS_OK;
}

int fsi_agenda_insert(fs_store *st, fsi_tbl_state *ts, fsi_value *vals, struct fsi_arena *a) {
  (void)st;
  if (!is_table(ts, "meetings")) return FS_OK;
  int i = col_of(ts, "at");
  if (i < 0 || vals[i].type != FS_VAL_NULL) return FS_OK;
  char now[32];
  fs_time_format(now, fsi_util_now_ms());
  char *p = fsi_arena_strndup(a, now, strlen(now));
  if (!p) return fsi_fail(FS_ENOMEM, "out of memory");
  vals[i] = (fsi_value){FS_VAL_TEXT, 0, p, (uint32_t)strlen(p)};
  return FS_OK;
}

int fs_task_done(fs_store *st, const char *id) {
  if (!st || !id) return fsi_fail(FS_EINVAL, "no task given");
  int implicit = 0, rc = fsi_store_tx_begin(st, &implicit);
  if (rc) return rc;
  sqlite3_stmt *s = fsi_sql_query(st, "SELECT done_at FROM tasks WHERE id = ?1", "t", id);
  int step = s ? fsi_sql_step(st, s, "reading a task") : FS_EIO;
  if (step < 0) {
    rc = step;
  } else if (step == 0) {
    rc = fsi_fail(FS_ENOTFOUND, "task %.64s does not exist", id);
  } else {
    const char *done = (const char *)sqlite3_column_text(s, 0);
    if (done) {
      int64_t ms = 0;
      char when[32];
      fs_time_parse(&ms, done);
      fsi_util_date(when, ms);
      rc = fsi_fail(FS_ECONFLICT, "task %s was already done on %s", id, when);
    }
    fsi_sql_done(s);
    if (!rc) {
      char now[32];
      fs_time_format(now, fsi_util_now_ms());
      fs_field f = {"done_at", now};
      rc = fs_update(st, "tasks", id, &f, 1);
    }
  }
  return fsi_store_tx_end(st, implicit, rc);
}

/* ------------------------------------------------------------- days */

/* A local calendar day. */
typedef struct day {
  int y, m, d;
} day;

static int parse_day(day *out, const char *text) {
  int64_t ms;
  if (!text || strlen(text) != 10 || fs_time_parse(&ms, text) != FS_OK) return 0;
  out->y = atoi(text);
  out->m = atoi(text + 5);
  out->d = atoi(text + 8);
  return 1;
}

/* The local midnight of d + n days (mktime normalises the day of the month
 * and finds the offset of that date); *wday its weekday, 0 Sunday. */
static int64_t day_start(day d, int n, day *norm, int *wday) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = d.y - 1900;
  tm.tm_mon = d.m - 1;
  tm.tm_mday = d.d + n;
  tm.tm_hour = 12; /* noon: a day exists whatever its daylight saving change */
  tm.tm_isdst = -1;
  mktime(&tm);
  day r = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
  if (norm) *norm = r;
  if (wday) *wday = tm.tm_wday;
  struct tm mid;
  memset(&mid, 0, sizeof mid);
  mid.tm_year = tm.tm_year;
  mid.tm_mon = tm.tm_mon;
  mid.tm_mday = tm.tm_mday;
  mid.tm_isdst = -1;
  return (int64_t)mktime(&mid) * 1000;
}

/* "YYYY-MM-DD" of d; out holds 16 bytes (a year is four digits here). */
static void day_text(char out[16], day d) {
  snprintf(out, 16, "%04d-%02d-%02d", d.y % 10000, d.m % 100, d.d % 100);
}

static day today(void) {
  time_t t = (time_t)(fsi_util_now_ms() / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  return (day){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

/* ------------------------------------------------------------- views */

/* Integer members `key` of every object of arr as true/false. */
static void as_bool(cJSON *arr, const char *key) {
  cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(it, key);
    if (cJSON_IsNumber(v))
      cJSON_ReplaceItemInObjectCaseSensitive(it, key, cJSON_CreateBool(v->valueint));
  }
}

static int add_to(cJSON *o, const char *name, cJSON *v) {
  if (v && cJSON_AddItemToObject(o, name, v)) return FS_OK;
  cJSON_Delete(v);
  return fsi_fail(FS_ENOMEM, "out of memory");
}

static const char SQL_TASKS[] =
    "SELECT t.id, t.title, t.customer_id, c.name AS customer_name, t.due, t.notes, t.done_at,"
    " t.created_at, (t.done_at IS NULL AND t.due < ?1) AS overdue"
    " FROM tasks t LEFT JOIN customers c ON c.id = t.customer_id"
    " WHERE (?2 IS NOT NULL OR t.done_at IS NULL) AND (?3 IS NULL OR coalesce(t.manager, ?3) = ?3)"
    " ORDER BY t.done_at IS NOT NULL, t.due IS NULL, t.due, t.created_at, t.id";

/* arg NULL: the open tasks; "all": every task, the done ones last.  This
 * device's manager's (a customer moved here brings its old manager's). */
int fsi_view_tasks(fs_store *st, const char *arg, cJSON **out) {
  char now[16];
  if (arg && strcmp(arg, "all") != 0) return fsi_fail(FS_EINVAL, "bad task filter \"%.40s\"", arg);
  day_text(now, today());
  int rc = fsi_view_rows(st, fsi_sql_query(st, SQL_TASKS, "ttt", now, arg, fsi_store_manager(st)),
                         "reading the tasks", out);
  if (!rc) as_bool(*out, "overdue");
  return rc;
}

/* ?1 .. ?2 the range (UTC), ?3 the manager (NULL: everyone's). */
static const char SQL_AG_MEETINGS[] =
    "SELECT m.id, m.customer_id, c.name AS customer_name, m.at, m.kind, m.place, m.outcome,"
    " m.notes, m.duration_min, m.follow_up"
    " FROM meetings m LEFT JOIN customers c ON c.id = m.customer_id"
    " WHERE m.at >= ?1 AND m.at < ?2 AND (?3 IS NULL OR coalesce(m.manager, ?3) = ?3)"
    " ORDER BY m.at, m.id";
/* ?1 the first day, ?2 the last, ?3 the manager */
static const char SQL_AG_FOLLOWUPS[] =
    "SELECT m.id AS meeting_id, m.customer_id, c.name AS customer_name, m.follow_up, m.at,"
    " m.kind, m.outcome, (m.follow_up < ?1) AS overdue"
    " FROM meetings m LEFT JOIN customers c ON c.id = m.customer_id"
    " WHERE m.follow_up IS NOT NULL AND m.follow_up <= ?2"
    " AND (?3 IS NULL OR coalesce(m.manager, ?3) = ?3)"
    " AND NOT EXISTS (SELECT 1 FROM meetings n WHERE n.customer_id = m.customer_id"
    " AND n.id != m.id AND (n.at > m.at OR (n.at = m.at AND n.id > m.id)))"
    " ORDER BY m.follow_up, m.at, m.id";
static const char SQL_AG_TASKS[] =
    "SELECT t.id, t.title, t.customer_id, c.name AS customer_name, t.due, t.notes,"
    " (t.due < ?1) AS overdue FROM tasks t LEFT JOIN customers c ON c.id = t.customer_id"
    " WHERE t.done_at IS NULL AND t.due IS NOT NULL AND t.due <= ?2"
    " AND (?3 IS NULL OR coalesce(t.manager, ?3) = ?3) ORDER BY t.due, t.created_at, t.id";
/* ?1 the first day, ?2 the day a validity counts as near, ?3 the manager */
static const char SQL_AG_QUOTES[] =
    "SELECT q.id, q.number, q.customer_id, c.name AS customer_name, q.currency, q.sent_at,"
    " q.valid_until,"
    " (SELECT (coalesce(sum(" FSI_SQL_LINE_AMOUNT "), 0) * (10000 - coalesce(q.discount_bp, 0))"
    " + 5000) / 10000 FROM quote_lines l WHERE l.quote_id = q.id) AS total,"
    " CASE WHEN q.valid_until IS NULL THEN NULL WHEN q.valid_until < ?1 THEN 'expired'"
    " WHEN q.valid_until <= ?2 THEN 'expiring' END AS validity"
    " FROM quotes q LEFT JOIN customers c ON c.id = q.customer_id"
    " WHERE q.status = 'sent' AND (?3 IS NULL OR coalesce(q.manager, ?3) = ?3)"
    " ORDER BY q.valid_until IS NULL, q.valid_until, q.sent_at, q.id";
static const char SQL_AG_DEBT[] =
    "SELECT b.customer_id, c.name AS customer_name, b.currency, b.open, b.overdue"
    " FROM balances b LEFT JOIN customers c ON c.id = b.customer_id"
    " WHERE b.customer_id = ?1 AND b.overdue > 0 ORDER BY b.currency";
static const char SQL_AG_CALLS[] =
    "SELECT count(*) FROM meetings WHERE at >= ?1 AND at < ?2 AND kind = 'call'"
    " AND (?3 IS NULL OR coalesce(manager, ?3) = ?3)";
static const char SQL_AG_VISITS[] =
    "SELECT count(*) FROM meetings WHERE at >= ?1 AND at < ?2 AND kind != 'call'"
    " AND (?3 IS NULL OR coalesce(manager, ?3) = ?3)";
static const char SQL_AG_SENT[] = "SELECT count(*) FROM quotes WHERE sent_at >= ?1 AND sent_at < ?2"
                                  " AND (?3 IS NULL OR coalesce(manager, ?3) = ?3)";
/* each target the manager's own, else the default row's ("*") */
static const char SQL_AG_NORMS[] =
    "SELECT (SELECT calls_day FROM norms WHERE manager = ?1 AND calls_day IS NOT NULL"
    "   UNION ALL SELECT calls_day FROM norms WHERE manager = '*' LIMIT 1) AS calls_day,"
    " (SELECT meetings_day FROM norms WHERE manager = ?1 AND meetings_day IS NOT NULL"
    "   UNION ALL SELECT meetings_day FROM norms WHERE manager = '*' LIMIT 1) AS meetings_day,"
    " (SELECT proposals_day FROM norms WHERE manager = ?1 AND proposals_day IS NOT NULL"
    "   UNION ALL SELECT proposals_day FROM norms WHERE manager = '*' LIMIT 1) AS proposals_day,"
    " (SELECT contracts_month FROM norms WHERE manager = ?1 AND contracts_month IS NOT NULL"
    "   UNION ALL SELECT contracts_month FROM norms WHERE manager = '*' LIMIT 1)"
    " AS contracts_month";

/* Adds the balances in arrears of the customer of every object of arr (its
 * customer_id) not already in seen to debtors. */
static int add_debtors(fs_store *st, cJSON *debtors, cJSON *seen, const cJSON *arr) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "customer_id"));
    if (!c || cJSON_HasObjectItem(seen, c)) continue;
    if (!cJSON_AddTrueToObject(seen, c)) return fsi_fail(FS_ENOMEM, "out of memory");
    cJSON *rows = NULL;
    int rc = fsi_view_rows(st, fsi_sql_query(st, SQL_AG_DEBT, "t", c), "reading balances", &rows);
    if (rc) return rc;
    cJSON *r;
    while ((r = cJSON_DetachItemFromArray(rows, 0))) cJSON_AddItemToArray(debtors, r);
    cJSON_Delete(rows);
  }
  return FS_OK;
}

static int count_in(fs_store *st, int64_t *n, const char *sql, const char *lo, const char *hi,
                    const char *mgr) {
  return fsi_sql_i64(st, n, "counting the day", sql, "ttt", lo, hi, mgr);
}

/* arg: "day=YYYY-MM-DD" (default today), "week" (the Monday-to-Sunday week
 * of that day instead) and "days=N" (N days from that day, 1 to 31), joined
 * by '&'; NULL: today. */
int fsi_view_agenda(fs_store *st, const char *arg, cJSON **out) {
  day first = today();
  int ndays = 1, week = 0;
  char text[40];
  const char *p = arg;
  *out = NULL;
  while (p && *p) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n >= sizeof text) return fsi_fail(FS_EINVAL, "bad agenda filter \"%.60s\"", arg);
    memcpy(text, p, n);
    text[n] = '\0';
    if (!strncmp(text, "day=", 4)) {
      if (!parse_day(&first, text + 4))
        return fsi_fail(FS_EINVAL, "the day \"%.20s\" must be YYYY-MM-DD", text + 4);
    } else if (!strcmp(text, "week")) {
      week = 1;
    } else if (!strncmp(text, "days=", 5)) {
      char *end = NULL;
      long v = strtol(text + 5, &end, 10);
      if (!end || *end || end == text + 5 || v < 1 || v > AGENDA_MAX_DAYS)
        return fsi_fail(FS_EINVAL, "days must be 1 to %d", AGENDA_MAX_DAYS);
      ndays = (int)v;
    } else {
      return fsi_fail(FS_EINVAL, "bad agenda filter \"%.60s\"", arg);
    }
    p = amp ? amp + 1 : NULL;
  }
  if (week) {
    int wday = 0;
    day_start(first, 0, NULL, &wday);
    day_start(first, -((wday + 6) % 7), &first, NULL); /* back to Monday */
    ndays = 7;
  }
  day last;
  char d0[16], dl[16], near[16], lo[32], hi[32];
  int64_t start = day_start(first, 0, NULL, NULL), end = day_start(first, ndays, NULL, NULL);
  day_start(first, ndays - 1, &last, NULL);
  day_text(d0, first);
  day_text(dl, last);
  {
    day nd;
    day_start(first, QUOTE_NEAR_DAYS, &nd, NULL);
    day_text(near, nd);
  }
  fs_time_format(lo, start);
  fs_time_format(hi, end);
  const char *mgr = fsi_store_manager(st);

  cJSON *o = cJSON_CreateObject(), *arr = NULL, *seen = NULL, *debtors = NULL;
  int rc = o ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
  if (!rc) rc = add_to(o, "day", cJSON_CreateString(d0));
  if (!rc) rc = add_to(o, "last_day", cJSON_CreateString(dl));
  if (!rc) rc = add_to(o, "days", cJSON_CreateNumber(ndays));
  if (!rc) rc = add_to(o, "from", cJSON_CreateString(lo));
  if (!rc) rc = add_to(o, "to", cJSON_CreateString(hi));
  if (!rc) rc = add_to(o, "manager", mgr ? cJSON_CreateString(mgr) : cJSON_CreateNull());
  const struct {
    const char *name, *sql, *a, *b, *flag;
  } parts[] = {
      {"meetings", SQL_AG_MEETINGS, lo, hi, NULL},
      {"follow_ups", SQL_AG_FOLLOWUPS, d0, dl, "overdue"},
      {"tasks", SQL_AG_TASKS, d0, dl, "overdue"},
      {"quotes", SQL_AG_QUOTES, d0, near, NULL},
  };
  for (size_t i = 0; !rc && i < sizeof parts / sizeof *parts; i++) {
    rc = fsi_view_rows(st, fsi_sql_query(st, parts[i].sql, "ttt", parts[i].a, parts[i].b, mgr),
                       "reading the agenda", &arr);
    if (rc) break;
    if (parts[i].flag) as_bool(arr, parts[i].flag);
    rc = add_to(o, parts[i].name, arr);
  }
  /* debtors among the customers of the meetings, follow-ups and tasks */
  if (!rc) {
    seen = cJSON_CreateObject();
    debtors = cJSON_CreateArray();
    rc = seen && debtors ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; !rc && i < 3; i++)
    rc = add_debtors(st, debtors, seen, cJSON_GetObjectItemCaseSensitive(o, parts[i].name));
  if (!rc) {
    rc = add_to(o, "debtors", debtors);
    debtors = NULL;
  }
  /* the summary: each day's counts against the day's norms */
  cJSON *summary = NULL, *per_day = NULL;
  if (!rc) {
    summary = cJSON_CreateObject();
    rc = add_to(o, "summary", summary);
  }
  if (!rc) {
    cJSON *norms = NULL;
    rc = fsi_view_rows(st, fsi_sql_query(st, SQL_AG_NORMS, "t", mgr ? mgr : "*"),
                       "reading the norms", &norms);
    if (!rc) {
      rc = add_to(summary, "norms", cJSON_DetachItemFromArray(norms, 0));
      cJSON_Delete(norms);
    }
  }
  if (!rc) {
    per_day = cJSON_CreateArray();
    rc = add_to(summary, "days", per_day);
  }
  int64_t tc = 0, tm = 0, tp = 0;
  for (int i = 0; !rc && i < ndays; i++) {
    day d;
    char dt[16], a[32], b[32];
    int64_t calls = 0, visits = 0, sent = 0;
    fs_time_format(a, day_start(first, i, &d, NULL));
    fs_time_format(b, day_start(first, i + 1, NULL, NULL));
    day_text(dt, d);
    if ((rc = count_in(st, &calls, SQL_AG_CALLS, a, b, mgr)) ||
        (rc = count_in(st, &visits, SQL_AG_VISITS, a, b, mgr)) ||
        (rc = count_in(st, &sent, SQL_AG_SENT, a, b, mgr)))
      break;
    cJSON *x = cJSON_CreateObject();
    if (x && !cJSON_AddItemToArray(per_day, x)) {
      cJSON_Delete(x);
      x = NULL;
    }
    if (!x || !cJSON_AddStringToObject(x, "day", dt) ||
        !cJSON_AddNumberToObject(x, "calls", (double)calls) ||
        !cJSON_AddNumberToObject(x, "meetings", (double)visits) ||
        !cJSON_AddNumberToObject(x, "proposals", (double)sent)) {
      rc = fsi_fail(FS_ENOMEM, "out of memory");
      break;
    }
    tc += calls, tm += visits, tp += sent;
  }
  if (!rc) rc = add_to(summary, "calls", cJSON_CreateNumber((double)tc));
  if (!rc) rc = add_to(summary, "meetings", cJSON_CreateNumber((double)tm));
  if (!rc) rc = add_to(summary, "proposals", cJSON_CreateNumber((double)tp));
  cJSON_Delete(seen);
  cJSON_Delete(debtors);
  if (rc) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return FS_OK;
}
