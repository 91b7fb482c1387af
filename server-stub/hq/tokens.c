/*
 * tokens.c — one-time enrollment tokens (table hq_token).
 *
 * A token is "fst-" and 40 random hex digits, handed to a manager out of
 * band and presented once by the device it enrolls.  Invariants:
 *  - only its SHA-256 is stored; the token itself exists only in the
 *    caller's copy (wiped here on every failure path);
 *  - it is bound to one manager and expires (7 days unless asked otherwise);
 *  - it is used at most once, and remembers by which device, so that a lost
 *    answer to that device's enrollment can be answered again.
 */
#include "hqInt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static void token_hash(char out[65], const char *token) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
  fsi_proto_hex(out, h, sizeof h);
}

int fs_hq_token_create(char **out, fs_hq *hq, const char *manager, int64_t ttl_ms) {
  unsigned char raw[20];
  char hash[65];
  *out = NULL;
  if (!manager || !*manager || strlen(manager) > 100 ||
      !fsi_util_utf8_valid(manager, strlen(manager)))
    return fsi_fail(FS_EINVAL, "a manager name (UTF-8, at most 100 bytes) is needed");
  if (ttl_ms <= 0) ttl_ms = PROTO_TOKEN_TTL_MS;
  char *tok = malloc(4 + 2 * sizeof raw + 1);
  if (!tok) return fsi_fail(FS_ENOMEM, "out of memory");
  randombytes_buf(raw, sizeof raw);
  memcpy(tok, "fst-", 4);
  fsi_proto_hex(tok + 4, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  token_hash(hash, tok);
  int64_t now = fsi_util_now_ms();
  pthread_mutex_lock(&hq->mu);
  int rc = fsi_sql_run(hq->st, "storing a token",
                       "INSERT INTO hq_token(hash, manager, created_at, expires_at)"
                       " VALUES(?1, ?2, ?3, ?4)",
                       "ttii", hash, manager, now, now + ttl_ms);
  pthread_mutex_unlock(&hq->mu);
  if (rc) {
    sodium_memzero(tok, strlen(tok));
    free(tok);
    return rc;
  }
  *out = tok;
  return FS_OK;
}

int fsi_hq_token_spent_on(fs_hq *hq, const char *token, int64_t site) {
  char hash[65];
  int64_t one = 0;
  token_hash(hash, token);
  return fsi_sql_i64(hq->st, &one, "reading the enrollment tokens",
                     "SELECT 1 FROM hq_token WHERE hash = ?1 AND used_by = ?2", "ti", hash, site);
}

int fsi_hq_token_redeem(char *manager, size_t n, fs_hq *hq, const char *token,
                        const char *device_manager, int64_t site) {
  char hash[65];
  int64_t expires = 0;
  int used = 0;
  token_hash(hash, token);
  sqlite3_stmt *s = fsi_sql_query(hq->st,
                                  "SELECT manager, expires_at, used_at FROM hq_token"
                                  " WHERE hash = ?1",
                                  "t", hash);
  if (!s) return FS_EIO;
  int found = fsi_sql_step(hq->st, s, "reading the enrollment tokens");
  if (found < 0) return found;
  if (found) {
    snprintf(manager, n, "%s", (const char *)sqlite3_column_text(s, 0));
    expires = sqlite3_column_int64(s, 1);
    used = sqlite3_column_type(s, 2) != SQLITE_NULL;
    fsi_sql_done(s);
  }
  if (!found || (used && !FS_MUT(10)) || (expires < fsi_util_now_ms() && !FS_MUT(11)))
    return fsi_fail(FS_EAUTH, "%s",
                    !found ? "the enrollment token is not valid"
                    : used ? "the enrollment token was already used"
                           : "the enrollment token has expired");
  if (strcmp(manager, device_manager) != 0 && !FS_MUT(14))
    return fsi_fail(FS_EPERM, "the token is for manager %s, but this device belongs to %s", manager,
                    device_manager);
  return fsi_sql_run(hq->st, "using a token",
                     "UPDATE hq_token SET used_at = ?2, used_by = ?3 WHERE hash = ?1", "tii", hash,
                     fsi_util_now_ms(), site);
}
