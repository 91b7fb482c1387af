/*
 * devstate.c — where a device stands with head office, kept in its store.
 *
 * The device side of the protocol (sync/client.c) keeps these between
 * syncs: the server it enrolled with (URL, TLS trust, head office's keys),
 * the outbox (the sealed push envelope not yet acknowledged, with the push
 * cursor it advances to and its row count), for each direction the
 * position in the hash chain (cursor, last sequence number, hash of that
 * envelope), the epoch of head office's store the pull cursor counts in,
 * how far a re-send after head office's restore reaches, and the receipts
 * of head office's signed acknowledgements (table fs_receipt).  The rest
 * are settings of the store (fs_meta) under the keys named below; this file
 * is the one place that knows those keys and the SQL that reads and writes
 * them, so sync/ runs no SQL of its own.
 *
 * Invariants: the outbox, the push chain, the pull chain (with its epoch)
 * and the receipts are only written inside the caller's transaction,
 * together with what they record (an acknowledgement, a merged batch), so a
 * crash leaves either both or neither; a receipt is never changed or
 * removed; a value that does not fit its buffer is reported as a damaged
 * store (FS_ECORRUPT), never cut short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeInt.h"

static const char SQL_GET[] = "SELECT value FROM fs_meta WHERE key = ?1";
static const char SQL_SET[] = "INSERT INTO fs_meta(key, value) VALUES(?1, ?2)"
                              " ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/* Setting `key` as text into buf[n]: FS_OK, FS_ENOTFOUND (buf "") when it is
 * unset or NULL, FS_ECORRUPT when it does not fit, or a store error. */
static int get_text(fs_store *st, const char *key, char *buf, size_t n) {
  buf[0] = '\0';
  sqlite3_stmt *s = fsi_sql_query(st, SQL_GET, "t", key);
  if (!s) return FS_EIO;
  int r = fsi_sql_step(st, s, "reading the sync state");
  if (r <= 0) return r < 0 ? r : FS_ENOTFOUND;
  int rc = FS_ENOTFOUND;
  if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    size_t len = v ? strlen(v) : 0;
    if (len >= n) {
      rc = fsi_fail(FS_ECORRUPT,
                    "the %s setting of this store is %zu bytes, over %zu: the store "
                    "is damaged",
                    key, len, n - 1);
    } else {
      memcpy(buf, v ? v : "", len + 1);
      rc = FS_OK;
    }
  }
  fsi_sql_done(s);
  return rc;
}

/* Setting `key` as an integer, 0 when unset. */
static int get_i64(fs_store *st, const char *key, int64_t *out) {
  *out = 0;
  int rc = fsi_sql_i64(st, out, "reading the sync state", SQL_GET, "t", key);
  return rc == FS_ENOTFOUND ? FS_OK : rc;
}

static int set_text(fs_store *st, const char *key, const char *value) {
  return fsi_sql_run(st, "writing the sync state", SQL_SET, "tt", key, value);
}

static int set_i64(fs_store *st, const char *key, int64_t value) {
  return fsi_sql_run(st, "writing the sync state", SQL_SET, "ti", key, value);
}

/* ------------------------------------------------------------- server */

int fsi_devstate_server_get(fsi_devstate_server *out, fs_store *st) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = get_text(st, "server_url", out->url, sizeof out->url)) ||
      (rc = get_text(st, "server_keys", out->keys, sizeof out->keys))) {
    if (rc == FS_ENOTFOUND)
      rc = fsi_fail(FS_ECORRUPT, "this store records an enrollment but not the server; the "
                                 "store is damaged");
    return rc;
  }
  if ((rc = get_text(st, "server_ca", out->ca, sizeof out->ca)) && rc != FS_ENOTFOUND) return rc;
  if ((rc = get_text(st, "server_pin", out->pin, sizeof out->pin)) && rc != FS_ENOTFOUND) return rc;
  return FS_OK;
}

int fsi_devstate_enrolled(fs_store *st, const fsi_devstate_server *srv, int64_t hq_site) {
  int rc = fs_tx_begin(st);
  if (rc) return rc;
  rc = set_text(st, "server_url", srv->url);
  if (!rc) rc = set_text(st, "server_ca", *srv->ca ? srv->ca : NULL);
  if (!rc) rc = set_text(st, "server_pin", *srv->pin ? srv->pin : NULL);
  if (!rc) rc = set_text(st, "server_keys", srv->keys);
  if (!rc) rc = fs_store_set_hq_site(st, hq_site);
  if (!rc)
    rc = fs_tx_commit(st);
  else
    fs_tx_rollback(st);
  if (rc) fsi_store_forget_hq_site(st); /* the rolled-back pin */
  return rc;
}

int fsi_devstate_synced(fs_store *st, int64_t when_ms) {
  char iso[32];
  fs_time_format(iso, when_ms);
  return fs_store_set(st, "last_sync", iso);
}

/* ------------------------------------------------------------- outbox */

int fsi_devstate_outbox_get(fsi_devstate_outbox *out, fs_store *st) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *s = fsi_sql_query(st, SQL_GET, "t", "outbox");
  if (!s) return FS_EIO;
  int r = fsi_sql_step(st, s, "reading the outbox");
  if (r < 0) return r;
  int rc = FS_OK;
  if (r > 0 && sqlite3_column_type(s, 0) == SQLITE_BLOB) {
    int len = sqlite3_column_bytes(s, 0);
    if (len > 0) {
      if (!(out->env = malloc((size_t)len)))
        rc = fsi_fail(FS_ENOMEM, "out of memory");
      else
        memcpy(out->env, sqlite3_column_blob(s, 0), (size_t)len), out->len = (size_t)len;
    }
  }
  if (r > 0) fsi_sql_done(s);
  if (rc || !out->env) return rc;
  rc = get_text(st, "outbox_cursor", out->cursor, sizeof out->cursor);
  if (rc == FS_ENOTFOUND)
    rc = fsi_fail(FS_ECORRUPT, "the outbox of this store has no cursor; the store is damaged");
  if (!rc) rc = get_i64(st, "outbox_rows", &out->rows);
  if (rc) fsi_devstate_outbox_free(out);
  return rc;
}

static int let_out_replaced(fs_store *st, const char *cursor);

int fsi_devstate_outbox_put(fs_store *st, const fsi_devstate_outbox *e) {
  int rc = let_out_replaced(st, e->cursor);
  if (!rc) rc = fsi_sql_run(st, "writing the outbox", SQL_SET, "tb", "outbox", e->env, e->len);
  if (!rc) rc = set_text(st, "outbox_cursor", e->cursor);
  if (!rc) rc = set_i64(st, "outbox_rows", e->rows);
  return rc;
}

int fsi_devstate_outbox_clear(fs_store *st) {
  int rc = let_out_replaced(st, NULL);
  return rc ? rc : fsi_sql_run(st, "clearing the outbox", SQL_SET, "tn", "outbox");
}

void fsi_devstate_outbox_free(fsi_devstate_outbox *e) {
  free(e->env);
  memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------- chains */

static int chain_get(fsi_devstate_chain *out, fs_store *st, const char *cursor_key,
                     const char *seq_key, const char *hash_key) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = get_text(st, cursor_key, out->cursor, sizeof out->cursor)) && rc != FS_ENOTFOUND)
    return rc;
  if ((rc = get_i64(st, seq_key, &out->seq))) return rc;
  if ((rc = get_text(st, hash_key, out->hash, sizeof out->hash)) && rc != FS_ENOTFOUND) return rc;
  return FS_OK;
}

static int chain_set(fs_store *st, const fsi_devstate_chain *c, const char *cursor_key,
                     const char *seq_key, const char *hash_key) {
  int rc = set_text(st, cursor_key, c->cursor);
  if (!rc) rc = set_i64(st, seq_key, c->seq);
  if (!rc) rc = set_text(st, hash_key, c->hash);
  return rc;
}

int fsi_devstate_push_get(fsi_devstate_chain *out, fs_store *st) {
  return chain_get(out, st, "push_cursor", "push_seq", "push_hash");
}

int fsi_devstate_push_set(fs_store *st, const fsi_devstate_chain *c) {
  return chain_set(st, c, "push_cursor", "push_seq", "push_hash");
}

int fsi_devstate_pull_get(fsi_devstate_chain *out, fs_store *st) {
  return chain_get(out, st, "pull_cursor", "pull_seq", "pull_hash");
}

int fsi_devstate_pull_set(fs_store *st, const fsi_devstate_chain *c) {
  return chain_set(st, c, "pull_cursor", "pull_seq", "pull_hash");
}

int fsi_devstate_pull_epoch_get(char out[FSI_DEVSTATE_EPOCH], fs_store *st) {
  int rc = get_text(st, "pull_epoch", out, FSI_DEVSTATE_EPOCH);
  return rc == FS_ENOTFOUND ? FS_OK : rc;
}

int fsi_devstate_pull_epoch_set(fs_store *st, const char *epoch) {
  return set_text(st, "pull_epoch", epoch && *epoch ? epoch : NULL);
}

int fsi_devstate_resend_get(int64_t *until, fs_store *st) {
  return get_i64(st, "push_resend_until", until);
}

int fsi_devstate_resend_set(fs_store *st, int64_t until) {
  return set_i64(st, "push_resend_until", until);
}

/* ------------------------------------------------------------ receipts */

int fsi_devstate_receipt_add(fs_store *st, const fsi_devstate_receipt *r) {
  return fsi_sql_run(st, "recording a receipt",
                     "INSERT INTO fs_receipt(seq, hash, cursor, text, sig, received_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(seq, hash) DO NOTHING",
                     "itttti", r->seq, r->hash, r->cursor, r->text, r->sig, r->received_at);
}

/* Copies column i of s into buf[n]; 0 when it does not fit. */
static int column_text(char *buf, size_t n, sqlite3_stmt *s, int i) {
  const char *v = (const char *)sqlite3_column_text(s, i);
  size_t len = v ? strlen(v) : 0;
  if (len >= n) return 0;
  memcpy(buf, v ? v : "", len + 1);
  return 1;
}

int fsi_devstate_receipts(fsi_devstate_receipt **out, size_t *n, fs_store *st) {
  fsi_devstate_receipt *arr = NULL;
  size_t cap = 0, k = 0;
  int row, rc = FS_OK;
  *out = NULL;
  *n = 0;
  sqlite3_stmt *s = fsi_sql_query(st,
                                  "SELECT seq, hash, cursor, text, sig, received_at FROM"
                                  " fs_receipt ORDER BY id",
                                  "");
  if (!s) return FS_EIO;
  while ((row = fsi_sql_step(st, s, "reading the receipts")) == 1) {
    if (k == cap) {
      cap = cap ? cap * 2 : 16;
      fsi_devstate_receipt *m = realloc(arr, cap * sizeof *m);
      if (!m) {
        rc = fsi_fail(FS_ENOMEM, "out of memory");
        break;
      }
      arr = m;
    }
    fsi_devstate_receipt *r = &arr[k];
    memset(r, 0, sizeof *r);
    r->seq = sqlite3_column_int64(s, 0);
    r->received_at = sqlite3_column_int64(s, 5);
    if (!column_text(r->hash, sizeof r->hash, s, 1) ||
        !column_text(r->cursor, sizeof r->cursor, s, 2) ||
        !column_text(r->text, sizeof r->text, s, 3) || !column_text(r->sig, sizeof r->sig, s, 4)) {
      rc = fsi_fail(FS_ECORRUPT,
                    "the receipt of push %lld in this store is longer than a receipt can be: "
                    "the store is damaged",
                    (long long)r->seq);
      break;
    }
    k++;
  }
  if (rc) fsi_sql_done(s);
  if (!rc && row < 0) rc = row;
  if (rc) {
    free(arr);
    return rc;
  }
  *out = arr;
  *n = k;
  return FS_OK;
}
/* -------------------------------------------------- what was let out */

/* How far the clocks go that head office may hold of this device: every
 * envelope that has been the outbox may have been applied there (an
 * acknowledgement can be lost), except one head office refused.  So the
 * store keeps "let_out_hlc", a clock at or above every clock of every
 * outbox that was replaced or cleared, and "outbox_hlc", the same for the
 * outbox now; a re-clock (reclock.c) leaves every clock at or below them
 * as it is.  An outbox's bound is the highest clock of the batch it was
 * sealed from, when that batch was extracted by this handle (the
 * extraction remembers its last two), else the store's clock (never lower
 * than any clock in it).  A store that pushed before these were kept
 * counts its clock then as let out. */
static const char SQL_DEL[] = "DELETE FROM fs_meta WHERE key = ?1";

static int outbox_present(fs_store *st, int *present) {
  int64_t n = 0;
  int rc = fsi_sql_i64(st, &n, "reading the outbox",
                       "SELECT length(value) FROM fs_meta WHERE key = 'outbox'", "");
  *present = rc == FS_OK && n > 0;
  return rc == FS_ENOTFOUND ? FS_OK : rc;
}

/* The let-out bound so far, with the conservative start for a store that
 * pushed before it was kept. */
static int let_out_get(fs_store *st, int64_t *out) {
  int rc = fsi_sql_i64(st, out, "reading the sync state", SQL_GET, "t", "let_out_hlc");
  if (rc != FS_ENOTFOUND) return rc;
  int64_t seq = 0;
  if ((rc = get_i64(st, "push_seq", &seq))) return rc;
  *out = seq > 0 ? fsi_store_clock(st) : 0;
  return FS_OK;
}

static int outbox_bound_get(fs_store *st, int64_t *out) {
  int present = 0, rc = fsi_sql_i64(st, out, "reading the sync state", SQL_GET, "t", "outbox_hlc");
  if (rc != FS_ENOTFOUND) return rc;
  *out = 0;
  if ((rc = outbox_present(st, &present))) return rc;
  if (present) *out = fsi_store_clock(st); /* sealed before the bound was kept */
  return FS_OK;
}

/* The outbox is being replaced by one sealed up to `cursor` (NULL: cleared):
 * what it let out joins the let-out bound. */
static int let_out_replaced(fs_store *st, const char *cursor) {
  int64_t let_out = 0, old = 0;
  int rc = let_out_get(st, &let_out);
  if (!rc) rc = outbox_bound_get(st, &old);
  if (!rc && old > let_out) let_out = old;
  if (!rc) rc = set_i64(st, "let_out_hlc", let_out);
  if (rc) return rc;
  if (!cursor) return fsi_sql_run(st, "writing the sync state", SQL_DEL, "t", "outbox_hlc");
  int64_t bound = fsi_store_clock(st);
  for (int k = 0; k < 2; k++)
    if (fsi_store_extracted(st, k, cursor, &bound)) break;
  return set_i64(st, "outbox_hlc", bound);
}

int fsi_devstate_let_out(fs_store *st, int64_t *bound) {
  int64_t let_out = 0, outbox = 0;
  int rc = let_out_get(st, &let_out);
  if (!rc) rc = outbox_bound_get(st, &outbox);
  *bound = outbox > let_out ? outbox : let_out;
  return rc;
}

int fsi_devstate_outbox_unseal(fs_store *st) {
  /* head office refused it: nothing of it was let out */
  int rc = set_i64(st, "outbox_hlc", 0);
  return rc ? rc : fsi_devstate_outbox_clear(st);
}
