/*
 * util.c — thread-local error messages, UTF-8 validation, ids, time and money
 * text forms.
 *
 * Invariant: every failing public call leaves one sentence in the calling
 * thread's buffer; fs_errmsg() never returns NULL.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static _Thread_local char errbuf[512];

int fsi_fail(int code, const char *fmt, ...) {
  /* formatted aside first: a caller may pass fs_errmsg() itself as an
   * argument, to put a lower layer's sentence into its own */
  char msg[sizeof errbuf];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  memcpy(errbuf, msg, sizeof errbuf);
  return code;
}

void fsi_clear_error(void) { errbuf[0] = '\0'; }

const char *fs_errmsg(void) { return errbuf; }

const char *fs_version(void) { return FS_VERSION_STRING; }

const char *fs_strerror(int code) {
  switch (code) {
  case FS_OK:
    return "ok";
  case FS_EINVAL:
    return "invalid input";
  case FS_ENOTFOUND:
    return "not found";
  case FS_EEXIST:
    return "already exists";
  case FS_EPERM:
    return "not permitted";
  case FS_EAUTH:
    return "authentication failed";
  case FS_ECORRUPT:
    return "corrupt data";
  case FS_EVERSION:
    return "unsupported version";
  case FS_ESKEW:
    return "clock skew";
  case FS_ENETWORK:
    return "network error";
  case FS_ECONFLICT:
    return "conflicting state";
  case FS_ENOMEM:
    return "out of memory";
  case FS_EIO:
    return "I/O error";
  case FS_EREVOKED:
    return "device revoked";
  case FS_EBUSY:
    return "busy, try again shortly";
  case FS_ETOOBIG:
    return "too big";
  case FS_ECANCELED:
    return "cancelled";
  case FS_ELOCKED:
    return "locked";
  case FS_ELEASE:
    return "lease ran out: sync to unlock";
  case FS_EWIPED:
    return "wiped by head office";
  default:
    return "unknown error";
  }
}

void fs_free(void *p) { free(p); }

int fsi_util_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    unsigned c = *p;
    if (c == 0) return 0;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t len;
    unsigned min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, c &= 0x07;
    } else {
      return 0;
    }
    if ((size_t)(end - p) < len) return 0;
    for (size_t i = 1; i < len; i++) {
      if ((p[i] & 0xC0) != 0x80) return 0;
      c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    p += len;
  }
  return 1;
}

int fsi_util_parse_i64(const char *s, int64_t *out) {
  if (!s || !*s || isspace((unsigned char)*s)) return 0;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno || !end || *end) return 0;
  *out = (int64_t)v;
  return 1;
}

#ifdef FS_TEST_HOOKS
static int (*test_fault)(void *, const char *);
static void *test_fault_user;

void fsi_util_set_fault(int (*fn)(void *user, const char *point), void *user) {
  test_fault = fn;
  test_fault_user = user;
}

int fsi_util_fault(const char *point) {
  return test_fault && test_fault(test_fault_user, point)
             ? fsi_fail(FS_EIO, "fault injected at %s", point)
             : 0;
}
#endif

#ifdef FS_MUTANTS
int util_mutant(int n) {
  static int active = -1;
  if (active < 0) {
    const char *v = getenv("FS_MUTANT");
    active = v ? atoi(v) : 0;
  }
  return active == n;
}
#endif

static int64_t (*test_clock)(void *);
static void *test_clock_user;

void fsi_util_set_clock(int64_t (*fn)(void *user), void *user) {
  test_clock = fn;
  test_clock_user = user;
}

int64_t fsi_util_now_ms(void) {
  if (test_clock) return test_clock(test_clock_user);
  const char *pin = getenv("FIELDSYNC_TEST_NOW_MS");
  int64_t v;
  if (pin && fsi_util_parse_i64(pin, &v)) return v;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#ifdef FS_TEST_HOOKS
  /* a wall clock that runs right but is set wrong (the end-to-end tests of
   * a laptop or head office whose clock is off) */
  const char *off = getenv("FIELDSYNC_TEST_CLOCK_OFFSET_MS");
  if (off && fsi_util_parse_i64(off, &v)) now += v;
#endif
  return now;
}

int fsi_util_is_uuid(const char *s) {
  static const char pat[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  for (size_t i = 0; i < sizeof pat - 1; i++) {
    char c = s[i];
    if (pat[i] == '-') {
      if (c != '-') return 0;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return 0;
    }
  }
  return s[sizeof pat - 1] == '\0';
}

/* UUIDv7 (RFC 9562, method 1): 48-bit ms timestamp, version 7, the 12-bit
 * rand_a field used as a counter within the millisecond (when it runs out
 * the timestamp moves on by one), 62 random bits.  A thread's ids therefore
 * sort by creation.  Random bytes come from a per-thread pool refilled from
 * libsodium, so an id costs no system call. */
void fs_uuid7(char out[FS_ID_SIZE]) {
  static const char hex[] = "0123456789abcdef";
  static _Thread_local uint64_t last_ms;
  static _Thread_local uint32_t seq;
  static _Thread_local unsigned char pool[256];
  static _Thread_local size_t used = sizeof pool;
  if (used + 10 > sizeof pool) {
    randombytes_buf(pool, sizeof pool);
    used = 0;
  }
  const unsigned char *r = pool + used;
  used += 10;
  uint64_t ms = (uint64_t)fsi_util_now_ms();
  if (ms <= last_ms) {
    ms = last_ms;
    if (++seq > 0xFFF) {
      ms = ++last_ms;
      seq = r[0] & 0x7F;
    }
  } else {
    last_ms = ms;
    seq = r[0] & 0x7F; /* room left for many ids in this millisecond */
  }
  unsigned char b[16];
  for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (40 - 8 * i));
  b[6] = (unsigned char)(0x70 | (seq >> 8));
  b[7] = (unsigned char)seq;
  b[8] = (unsigned char)(0x80 | (r[1] & 0x3F));
  memcpy(b + 9, r + 2, 7);
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
    *o++ = hex[b[i] >> 4];
    *o++ = hex[b[i] & 15];
  }
  *o = '\0';
  sodium_memzero(pool + used - 10, 10);
}

/* Days from civil date, proleptic Gregorian (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int valid_date(int y, int mo, int d) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1) return 0;
  int md = mdays[mo - 1];
  if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) md = 29;
  return d <= md;
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

int fs_time_parse(int64_t *out_ms, const char *text) {
  int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
  const char *p = text;
  if (!text) return fsi_fail(FS_EINVAL, "no time given");
  size_t len = strlen(text);
  if (len < 10 || !digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' ||
      !digits(p + 8, 2, &d) || !valid_date(y, mo, d))
    goto bad;
  p += 10;
  int has_time = 0, utc = 0;
  int64_t offset_min = 0;
  if (*p == 'T' || *p == ' ') {
    char sep = *p++;
    if (!digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &mi)) goto bad;
    p += 5;
    has_time = 1;
    if (*p == ':') {
      if (!digits(p + 1, 2, &sec)) goto bad;
      p += 3;
      if (*p == '.') {
        p++;
        int nd = 0;
        ms = 0;
        while (isdigit((unsigned char)*p)) {
          if (nd < 3) ms = ms * 10 + (*p - '0');
          nd++;
          p++;
        }
        if (nd == 0) goto bad;
        for (; nd < 3; nd++) ms *= 10;
      }
    }
    if (*p == 'Z') {
      utc = 1;
      p++;
    } else if (*p == '+' || *p == '-') {
      int oh, om;
      int sign = *p == '-' ? -1 : 1;
      if (!digits(p + 1, 2, &oh)) goto bad;
      p += 3;
      if (*p == ':') p++;
      if (!digits(p, 2, &om)) goto bad;
      p += 2;
      if (oh > 23 || om > 59) goto bad;
      utc = 1;
      offset_min = sign * (oh * 60 + om);
    } else if (sep == 'T' && *p == '\0') {
      utc = 0; /* ISO without zone: local time */
    }
    if (h > 23 || mi > 59 || sec > 60) goto bad;
  }
  if (*p != '\0') goto bad;
  if (utc) {
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t s = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    *out_ms = s * 1000 + ms;
    return FS_OK;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  (void)has_time;
  time_t t = mktime(&tm);
  if (t == (time_t)-1) goto bad;
  *out_ms = (int64_t)t * 1000 + ms;
  return FS_OK;
bad:
  return fsi_fail(FS_EINVAL,
                  "cannot read the time \"%.60s\": use YYYY-MM-DD HH:MM (local "
                  "time) or ISO-8601 such as 2026-01-05T08:00:00Z",
                  text);
}

void fsi_util_date(char out[32], int64_t ms) {
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

void fsi_util_duration(char out[48], int64_t ms) {
  /* each unit rounded to the nearest: 60 minutes 59 seconds is "61 minutes" */
  uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  unsigned long long s = (unsigned long long)((a + 500) / 1000), m = (s + 30) / 60;
  unsigned long long d = s / 86400, h = (s % 86400 + 1800) / 3600;
  if (h == 24) d++, h = 0;
  if (d > 0 && h > 0)
    snprintf(out, 48, "%llu day%s %llu hour%s", d, d == 1 ? "" : "s", h, h == 1 ? "" : "s");
  else if (d > 0)
    snprintf(out, 48, "%llu day%s", d, d == 1 ? "" : "s");
  else if (m >= 600) /* from 10 hours on, hours read better than minutes */
    snprintf(out, 48, "%llu hours", (s + 1800) / 3600);
  else if (s >= 60)
    snprintf(out, 48, "%llu minute%s", m, m == 1 ? "" : "s");
  else
    snprintf(out, 48, "%llu second%s", s, s == 1 ? "" : "s");
}

void fs_time_format(char out[32], int64_t ms) {
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ISO 4217 minor units: the currencies whose amounts are not in hundredths.
 * Every code not listed has two decimals (EUR, USD, GBP, CHF, CNY ...).  The
 * lists are sorted; the table is the standard's "minor unit" column (2024
 * edition), funds codes aside. */
static const char *const zero_digit[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                         "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                                         "VND", "VUV", "XAF", "XOF", "XPF"};
static const char *const three_digit[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};

static int listed(const char *cur, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(cur, list[i])) return 1;
  return 0;
}

int fs_currency_digits(const char *currency) {
  if (!currency) return 2;
  if (listed(currency, zero_digit, sizeof zero_digit / sizeof *zero_digit)) return 0;
  if (listed(currency, three_digit, sizeof three_digit / sizeof *three_digit)) return 3;
  return 2;
}

static const int64_t scale_of[] = {1, 10, 100, 1000};

int fs_amount_parse(int64_t *out_minor, const char *text, const char *currency) {
  int digits = fs_currency_digits(currency);
  int64_t scale = scale_of[digits];
  const char *p = text;
  int neg = 0;
  int64_t units = 0, frac = 0;
  int nd = 0, nf = 0;
  if (!p) goto bad;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  while (isdigit((unsigned char)*p)) {
    if (units > (INT64_MAX / 1000 - 9) / 10) goto bad;
    units = units * 10 + (*p++ - '0');
    nd++;
  }
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p)) {
      if (nf >= digits) goto too_fine;
      frac = frac * 10 + (*p++ - '0');
      nf++;
    }
    if (nf == 0) goto bad;
  }
  if (*p || nd == 0) goto bad;
  for (int i = nf; i < digits; i++) frac *= 10;
  *out_minor = (neg ? -1 : 1) * (units * scale + frac);
  return FS_OK;
too_fine:
  if (digits == 0)
    return fsi_fail(FS_EINVAL, "%s has no minor unit: write \"%.40s\" without decimals", currency,
                    text);
  return fsi_fail(FS_EINVAL, "%s has %d decimals: \"%.40s\" has more", currency, digits, text);
bad:
  if (digits == 0)
    return fsi_fail(FS_EINVAL, "cannot read the amount \"%.40s\": use a whole number such as 1200",
                    text ? text : "");
  return fsi_fail(FS_EINVAL, "cannot read the amount \"%.40s\": use a decimal such as %s",
                  text ? text : "", digits == 3 ? "12.500" : "12.50");
}

void fs_amount_format(char out[40], int64_t minor, const char *currency) {
  int digits = fs_currency_digits(currency);
  uint64_t scale = (uint64_t)scale_of[digits];
  char digitsbuf[32];
  uint64_t a = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
  snprintf(digitsbuf, sizeof digitsbuf, "%llu", (unsigned long long)(a / scale));
  size_t n = strlen(digitsbuf), o = 0;
  if (minor < 0) out[o++] = '-';
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0) out[o++] = ' ';
    out[o++] = digitsbuf[i];
  }
  out[o] = '\0';
  if (digits) snprintf(out + o, 40 - o, ".%0*llu", digits, (unsigned long long)(a % scale));
}

int fs_money_parse(int64_t *out_minor, const char *text) {
  return fs_amount_parse(out_minor, text, NULL);
}

void fs_money_format(char out[40], int64_t minor) { fs_amount_format(out, minor, NULL); }
