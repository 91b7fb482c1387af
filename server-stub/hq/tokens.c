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

#include <stdlib.h>
#include <string.h>

#include "proto.h"

void fsi_hq_token_hash(char out[65], const char *token) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
  fsi_proto_hex(out, h, sizeof h);
}

int fs_hq_token_create(fs_hq *hq, const char *manager, int64_t ttl_ms, char **token_out) {
  unsigned char raw[20];
  char hash[65];
  *token_out = NULL;
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
  fsi_hq_token_hash(hash, tok);
  int64_t now = fsi_util_now_ms();
  sqlite3_stmt *s = fsi_store_stmt(hq->st, "INSERT INTO hq_token(hash, manager, created_at,"
                                       " expires_at) VALUES(?1, ?2, ?3, ?4)");
  int rc = FS_OK;
  if (!s) {
    rc = FS_EIO;
  } else {
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, manager, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    sqlite3_bind_int64(s, 4, now + ttl_ms);
    if (sqlite3_step(s) != SQLITE_DONE) rc = fsi_store_sqlfail(hq->st, "storing a token");
    sqlite3_reset(s);
  }
  if (rc) {
    sodium_memzero(tok, strlen(tok));
    free(tok);
    return rc;
  }
  *token_out = tok;
  return FS_OK;
}
