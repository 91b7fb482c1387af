/*
 * receipt.c — the receipts of head office's signed acknowledgements: the
 * append-only file HOME/receipts beside the store's copy (receipt.h), and
 * what the device API says of them (fs_receipts_json, fs_receipts_verify,
 * fs_device_check_receipts in <fieldsync/device.h>).
 *
 * Invariants: the file is only ever appended to, one whole line per write,
 * synced before the append returns; a line cut short by a crash is ended
 * before the next one so it never swallows it; nothing here trusts a
 * receipt that has not verified against head office's pinned key.
 */
#include "receipt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fieldsync/device.h>
#include <sodium.h>

#include "deviceInt.h"
#include "envelope.h"
#include "proto.h"

#define RECEIPTS_FILE "receipts"
#define RECEIPTS_MAX_BYTES ((size_t)256 * 1024 * 1024)

int fsi_receipts_path(char *out, size_t n, const char *home) {
  return (size_t)snprintf(out, n, "%s/" RECEIPTS_FILE, home) < n;
}

/* ------------------------------------------------------------- writing */

static char *line_text(const fsi_receipt_line *e) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "kind", e->kind == RECEIPT_ACK ? "ack" : "rewind");
  cJSON_AddNumberToObject(o, "seq", (double)e->r.seq);
  cJSON_AddStringToObject(o, "hash", e->r.hash);
  cJSON_AddStringToObject(o, "cursor", e->r.cursor);
  if (e->kind == RECEIPT_ACK) {
    cJSON_AddStringToObject(o, "text", e->r.text);
    cJSON_AddStringToObject(o, "sig", e->r.sig);
  }
  cJSON_AddNumberToObject(o, "at", (double)e->r.received_at);
  if (e->kind == RECEIPT_REWIND) cJSON_AddStringToObject(o, "why", e->why);
  char *txt = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return txt;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int fsi_receipts_append(const char *home, const fsi_receipt_line *e) {
  char path[4200];
  if (!fsi_receipts_path(path, sizeof path, home))
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  char *txt = line_text(e);
  if (!txt) return fsi_fail(FS_ENOMEM, "out of memory");
  int rc = FS_OK;
  int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = fsi_fail(FS_EIO,
                  "cannot write the receipt to %s: %s; nothing is lost: sync again once "
                  "it can be written",
                  path, strerror(errno));
    free(txt);
    return rc;
  }
  /* A line an interrupted append left without its end is ended first. */
  struct stat sb;
  char last = '\n';
  if (fstat(fd, &sb) == 0 && sb.st_size > 0 && pread(fd, &last, 1, sb.st_size - 1) != 1)
    last = '\n';
  size_t n = strlen(txt);
  txt[n] = '\n'; /* cJSON's text has room for its NUL, which the newline takes */
  if ((last != '\n' && write_all(fd, "\n", 1) != 0) || write_all(fd, txt, n + 1) != 0 ||
      fsync(fd) != 0)
    rc = fsi_fail(FS_EIO,
                  "cannot write the receipt to %s: %s; nothing is lost: free some space and "
                  "sync again",
                  path, strerror(errno ? errno : EIO));
  if (close(fd) != 0 && !rc) rc = fsi_fail(FS_EIO, "cannot write %s: %s", path, strerror(errno));
  free(txt);
  return rc;
}

/* ------------------------------------------------------------- reading */

static int copy_field(char *out, size_t n, const cJSON *o, const char *name) {
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
  if (!v || strlen(v) >= n) return 0;
  memcpy(out, v, strlen(v) + 1);
  return 1;
}

static int parse_line(fsi_receipt_line *e, const char *p, size_t len) {
  memset(e, 0, sizeof *e);
  cJSON *o = cJSON_ParseWithLength(p, len);
  const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "kind"));
  const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
  const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "at");
  int ok = kind && cJSON_IsNumber(seq) && seq->valuedouble >= 0 && cJSON_IsNumber(at) &&
           copy_field(e->r.hash, sizeof e->r.hash, o, "hash") &&
           copy_field(e->r.cursor, sizeof e->r.cursor, o, "cursor");
  if (ok && !strcmp(kind, "ack")) {
    e->kind = RECEIPT_ACK;
    ok = copy_field(e->r.text, sizeof e->r.text, o, "text") &&
         copy_field(e->r.sig, sizeof e->r.sig, o, "sig");
  } else if (ok && !strcmp(kind, "rewind")) {
    e->kind = RECEIPT_REWIND;
    copy_field(e->why, sizeof e->why, o, "why");
  } else {
    ok = 0;
  }
  if (ok) {
    e->r.seq = (int64_t)seq->valuedouble;
    e->r.received_at = (int64_t)at->valuedouble;
  }
  cJSON_Delete(o);
  return ok;
}

int fsi_receipts_read(fsi_receipt_line **out, size_t *n, size_t *bad_line, const char *home) {
  char path[4200];
  *out = NULL;
  *n = 0;
  *bad_line = 0;
  if (!fsi_receipts_path(path, sizeof path, home))
    return fsi_fail(FS_EINVAL, "the home directory path %s is too long", home);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return FS_OK;
    return fsi_fail(FS_EIO, "cannot read %s: %s", path, strerror(errno));
  }
  fsi_receipt_line *arr = NULL;
  size_t cap = 0, k = 0, lineno = 0, total = 0;
  char *buf = NULL;
  size_t bcap = 0;
  ssize_t len;
  int rc = FS_OK;
  while ((len = getline(&buf, &bcap, f)) > 0) {
    lineno++;
    total += (size_t)len;
    if (total > RECEIPTS_MAX_BYTES) {
      rc = fsi_fail(FS_ETOOBIG, "%s is over %zu MiB; it is not a receipts file", path,
                    RECEIPTS_MAX_BYTES >> 20);
      break;
    }
    if (buf[len - 1] != '\n') break; /* an append cut short: not a receipt */
    if (len == 1) continue;
    if (k == cap) {
      cap = cap ? cap * 2 : 32;
      fsi_receipt_line *m = realloc(arr, cap * sizeof *m);
      if (!m) {
        rc = fsi_fail(FS_ENOMEM, "out of memory");
        break;
      }
      arr = m;
    }
    if (parse_line(&arr[k], buf, (size_t)len - 1)) {
      arr[k].line = lineno;
      k++;
    } else if (!*bad_line) {
      *bad_line = lineno;
    }
  }
  free(buf);
  fclose(f);
  if (rc) {
    free(arr);
    return rc;
  }
  *out = arr;
  *n = k;
  return FS_OK;
}

/* ------------------------------------------------------------ checking */

int fsi_receipt_check(const fsi_devstate_receipt *r, const char *device, const fsi_pubkeys *hq,
                      char *why, size_t n) {
  fsi_proto_ack a;
  if (!fsi_proto_ack_parse(&a, r->text, strlen(r->text))) {
    snprintf(why, n, "its signed text is not an acknowledgement");
    return 0;
  }
  if (strcmp(a.device, device) != 0) {
    snprintf(why, n, "it acknowledges device %s, not this device %s", a.device, device);
    return 0;
  }
  if ((int64_t)a.seq != r->seq || strcmp(a.hash, r->hash) != 0) {
    snprintf(why, n, "its signed text names push %llu, not the push %lld it is kept for",
             (unsigned long long)a.seq, (long long)r->seq);
    return 0;
  }
  if (!fsi_proto_request_verify(r->sig, hq->sign, r->text, strlen(r->text))) {
    snprintf(why, n, "its signature does not verify against head office's pinned key");
    return 0;
  }
  return 1;
}

/* ------------------------------------------------------ the device API */

/* Head office's pinned keys (the device must be enrolled). */
static int pinned_keys(fsi_pubkeys *out, fs_store *st) {
  fsi_devstate_server srv;
  if (!fs_store_hq_site(st))
    return fsi_fail(FS_EINVAL, "this device is not enrolled yet, so it has no receipts");
  int rc = fsi_devstate_server_get(&srv, st);
  if (rc) return rc;
  if (fsi_keys_pub_from_hex(out, srv.keys))
    return fsi_fail(FS_ECORRUPT, "the pinned head-office keys in this store are damaged");
  return FS_OK;
}

static cJSON *receipt_json(const fsi_devstate_receipt *r, int in_store, int in_file) {
  fsi_proto_ack a;
  char t[32];
  cJSON *o = cJSON_CreateObject();
  int parsed = fsi_proto_ack_parse(&a, r->text, strlen(r->text));
  cJSON_AddNumberToObject(o, "seq", (double)r->seq);
  if (parsed) {
    fs_time_format(t, a.time);
    cJSON_AddStringToObject(o, "at", t);
    cJSON_AddNumberToObject(o, "accepted", (double)a.accepted);
    cJSON_AddNumberToObject(o, "refused", (double)a.refused);
  } else {
    cJSON_AddNullToObject(o, "at");
    cJSON_AddNullToObject(o, "accepted");
    cJSON_AddNullToObject(o, "refused");
  }
  fs_time_format(t, r->received_at);
  cJSON_AddStringToObject(o, "received_at", t);
  cJSON_AddStringToObject(o, "hash", r->hash);
  cJSON_AddStringToObject(o, "cursor", r->cursor);
  cJSON_AddBoolToObject(o, "in_store", in_store);
  cJSON_AddBoolToObject(o, "in_file", in_file);
  return o;
}

static int same_receipt(const fsi_devstate_receipt *a, const fsi_devstate_receipt *b) {
  return a->seq == b->seq && !strcmp(a->hash, b->hash);
}

/* The receipts of the file and of the store, each once: the file's in its
 * order, then those only the store holds. */
typedef struct receipts {
  fsi_receipt_line *lines;
  size_t nlines, bad_line;
  fsi_devstate_receipt *stored;
  size_t nstored;
} receipts;

static void receipts_free(receipts *x) {
  free(x->lines);
  free(x->stored);
  memset(x, 0, sizeof *x);
}

static int receipts_load(receipts *x, fs_device *dev) {
  memset(x, 0, sizeof *x);
  int rc = fsi_receipts_read(&x->lines, &x->nlines, &x->bad_line, dev->home);
  if (!rc) rc = fsi_devstate_receipts(&x->stored, &x->nstored, dev->st);
  if (rc) receipts_free(x);
  return rc;
}

static int in_store(const receipts *x, const fsi_devstate_receipt *r) {
  for (size_t i = 0; i < x->nstored; i++)
    if (same_receipt(&x->stored[i], r)) return 1;
  return 0;
}

static int in_file(const receipts *x, const fsi_devstate_receipt *r) {
  for (size_t i = 0; i < x->nlines; i++)
    if (x->lines[i].kind == RECEIPT_ACK && same_receipt(&x->lines[i].r, r)) return 1;
  return 0;
}

int fs_receipts_json(char **out, fs_device *dev) {
  receipts x;
  *out = NULL;
  if (!dev) return fsi_fail(FS_EINVAL, "no device");
  int rc = receipts_load(&x, dev);
  if (rc) return rc;
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < x.nlines; i++) {
    const fsi_receipt_line *e = &x.lines[i];
    if (e->kind != RECEIPT_ACK) continue;
    int dup = 0;
    for (size_t j = 0; j < i && !dup; j++)
      dup = x.lines[j].kind == RECEIPT_ACK && same_receipt(&x.lines[j].r, &e->r);
    if (!dup) cJSON_AddItemToArray(arr, receipt_json(&e->r, in_store(&x, &e->r), 1));
  }
  for (size_t i = 0; i < x.nstored; i++)
    if (!in_file(&x, &x.stored[i])) cJSON_AddItemToArray(arr, receipt_json(&x.stored[i], 1, 0));
  receipts_free(&x);
  *out = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  return *out ? FS_OK : fsi_fail(FS_ENOMEM, "out of memory");
}

/* A receipt that fails its check, as the one sentence verify reports. */
static int bad_receipt(const fsi_devstate_receipt *r, const char *where, const char *why) {
  char t[32];
  fs_time_format(t, r->received_at);
  return fsi_fail(FS_EAUTH,
                  "the receipt of push %lld (received %s, %s) does not verify: %s; it was "
                  "altered or is not head office's",
                  (long long)r->seq, t, where, why);
}

int fs_receipts_verify(int64_t *checked, fs_device *dev) {
  receipts x;
  fsi_pubkeys hq;
  char why[200], path[4200];
  *checked = 0;
  if (!dev) return fsi_fail(FS_EINVAL, "no device");
  int rc = pinned_keys(&hq, dev->st);
  if (rc || (rc = receipts_load(&x, dev))) return rc;
  const char *device = fs_store_device_id(dev->st);
  fsi_receipts_path(path, sizeof path, dev->home);
  if (x.bad_line) {
    rc = fsi_fail(FS_ECORRUPT, "line %zu of %s is not a receipt; the file was altered or damaged",
                  x.bad_line, path);
    goto done;
  }
  for (size_t i = 0; i < x.nlines; i++) {
    const fsi_receipt_line *e = &x.lines[i];
    char where[4300];
    snprintf(where, sizeof where, "line %zu of %s", e->line, path);
    if (e->kind == RECEIPT_REWIND) {
      /* a rewind goes back to a position head office signed, or to none */
      int known = e->r.seq == 0 && !*e->r.hash;
      for (size_t j = 0; j < i && !known; j++)
        known = x.lines[j].kind == RECEIPT_ACK && same_receipt(&x.lines[j].r, &e->r);
      if (!known) {
        rc = fsi_fail(FS_ECORRUPT,
                      "%s goes back to push %lld, which no receipt before it acknowledges; the "
                      "file was altered",
                      where, (long long)e->r.seq);
        goto done;
      }
      continue;
    }
    if (!fsi_receipt_check(&e->r, device, &hq, why, sizeof why)) {
      rc = bad_receipt(&e->r, where, why);
      goto done;
    }
    (*checked)++;
  }
  for (size_t i = 0; i < x.nstored; i++) {
    const fsi_devstate_receipt *r = &x.stored[i];
    if (!fsi_receipt_check(r, device, &hq, why, sizeof why)) {
      rc = bad_receipt(r, "in the store", why);
      goto done;
    }
    int match = 0, found = 0;
    for (size_t j = 0; j < x.nlines; j++)
      if (x.lines[j].kind == RECEIPT_ACK && same_receipt(&x.lines[j].r, r)) {
        found = 1;
        match |= !strcmp(x.lines[j].r.text, r->text) && !strcmp(x.lines[j].r.sig, r->sig) &&
                 !strcmp(x.lines[j].r.cursor, r->cursor);
      }
    if (found && !match) {
      rc = fsi_fail(FS_ECORRUPT,
                    "the receipt of push %lld differs between the store and %s; one of them "
                    "was altered",
                    (long long)r->seq, path);
      goto done;
    }
    if (!found) (*checked)++;
  }
done:
  receipts_free(&x);
  return rc;
}

/* The newest position the receipts file knows head office reached: its
 * last line.  0 when it has none. */
int fsi_receipts_last(fsi_receipt_line *out, const char *home) {
  fsi_receipt_line *lines = NULL;
  size_t n = 0, bad = 0;
  memset(out, 0, sizeof *out);
  int rc = fsi_receipts_read(&lines, &n, &bad, home);
  if (rc) return rc;
  if (n) *out = lines[n - 1];
  free(lines);
  return n ? 1 : 0;
}

int fsi_receipts_behind(fsi_receipt_line *last, fsi_devstate_chain *push, fs_store *st,
                        const char *home) {
  fsi_devstate_outbox ob;
  memset(last, 0, sizeof *last);
  int rc = fsi_devstate_push_get(push, st);
  if (rc) return rc;
  int have = fsi_receipts_last(last, home);
  if (have <= 0) return have;
  if (last->r.seq <= push->seq) return 0;
  /* The acknowledgement of the outbox reached the file, and the crash came
   * before the store recorded it: sending the outbox again settles it. */
  if (last->r.seq == push->seq + 1 && !fsi_devstate_outbox_get(&ob, st)) {
    uint8_t hash[ENVELOPE_HASH_SIZE];
    char hex[FSI_DEVSTATE_HASH];
    int same = ob.env && !fsi_envelope_hash(hash, ob.env, ob.len);
    if (same) fsi_proto_hex(hex, hash, sizeof hash);
    same = same && !strcmp(hex, last->r.hash);
    fsi_devstate_outbox_free(&ob);
    if (same) return 0;
  }
  fsi_clear_error();
  return 1;
}

int fs_device_check_receipts(int64_t *store_seq, int64_t *receipt_seq, fs_device *dev) {
  fsi_receipt_line last;
  fsi_devstate_chain push;
  *store_seq = *receipt_seq = 0;
  if (!dev) return fsi_fail(FS_EINVAL, "no device");
  if (!fs_store_hq_site(dev->st)) return FS_OK;
  int b = fsi_receipts_behind(&last, &push, dev->st, dev->home);
  if (b < 0) return b;
  *store_seq = push.seq;
  *receipt_seq = last.r.seq;
  if (!b) return FS_OK;
  char t[32];
  fs_time_format(t, last.r.received_at);
  return fsi_fail(FS_ECONFLICT,
                  "this store is behind its receipts: head office acknowledged push %lld (%s), "
                  "but the store records only push %lld, so it was restored from an older "
                  "copy or lost writes; run `fieldsync sync` to recover every change head "
                  "office acknowledged. Changes that head office never acknowledged, if any "
                  "were lost with them, cannot be recovered",
                  (long long)last.r.seq, t, (long long)push.seq);
}
