/*
 * audit.c — the audit log: every envelope head office accepted from a
 * device, kept as it arrived (table hq_audit), and its verification.
 *
 * Invariants:
 *  - append-only: an envelope is added in the transaction that merges it
 *    and advances the device's chain (push.c), and nothing updates or
 *    deletes a row;
 *  - per device the log is the device's whole chain: sequences 1..n with
 *    no gap, each envelope's previous hash the hash of the one before, and
 *    n the registry's last accepted sequence;
 *  - fs_hq_verify_log re-checks all of it from the bytes alone (signature,
 *    chain, decryption, recorded hash) and names the first break.
 */
#include "hqInt.h"

#include <stdio.h>
#include <string.h>

int fsi_hq_audit_append(fs_hq *hq, int64_t site, uint64_t seq,
                        const unsigned char hash[ENVELOPE_HASH_SIZE], const unsigned char *env,
                        size_t len) {
  return fsi_sql_run(hq->st, "writing the audit log",
                     "INSERT INTO hq_audit(device, seq, hash, envelope, received_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
                     "iibbi", site, (int64_t)seq, (const void *)hash, (size_t)ENVELOPE_HASH_SIZE,
                     (const void *)env, len, fsi_util_now_ms());
}

/* One row of the walk (device, seq, hash, envelope, keys): the envelope
 * opens with the device's keys as the next of *chain, is not a repeat, and
 * matches its recorded hash and sequence.  FS_OK with *chain advanced, or
 * FS_ECORRUPT naming the break. */
static int verify_envelope(fsi_envelope_chain *chain, fs_hq *hq, sqlite3_stmt *s) {
  int64_t dev = sqlite3_column_int64(s, 0);
  int64_t seq = sqlite3_column_int64(s, 1);
  const char *keyhex = (const char *)sqlite3_column_text(s, 4);
  fsi_pubkeys pub;
  if (!keyhex || fsi_keys_pub_from_hex(&pub, keyhex))
    return fsi_fail(FS_ECORRUPT, "audit log: device %016llx seq %lld: unknown device keys",
                    (unsigned long long)dev, (long long)seq);
  fsi_envelope_opened op;
  memset(&op, 0, sizeof op);
  const unsigned char *env = sqlite3_column_blob(s, 3);
  size_t len = (size_t)sqlite3_column_bytes(s, 3);
  int e = fsi_envelope_open(&op, env, len, fs_store_site(hq->st), &hq->keys, dev, &pub, chain);
  if (!e && op.duplicate) e = fsi_fail(FS_ECORRUPT, "the same envelope appears twice");
  if (!e && (sqlite3_column_bytes(s, 2) != ENVELOPE_HASH_SIZE ||
             sodium_memcmp(op.hash, sqlite3_column_blob(s, 2), ENVELOPE_HASH_SIZE) != 0))
    e = fsi_fail(FS_ECORRUPT, "the recorded hash does not match the envelope");
  if (!e && (int64_t)op.h.seq != seq)
    e = fsi_fail(FS_ECORRUPT, "recorded as sequence %lld but sealed as %llu", (long long)seq,
                 (unsigned long long)op.h.seq);
  if (!e) {
    chain->seq = op.h.seq;
    memcpy(chain->hash, op.hash, ENVELOPE_HASH_SIZE);
  }
  fsi_envelope_opened_clear(&op);
  if (e) {
    char why[400];
    snprintf(why, sizeof why, "%s", fs_errmsg());
    return fsi_fail(FS_ECORRUPT, "audit log broken at device %016llx sequence %lld: %s",
                    (unsigned long long)dev, (long long)seq, why);
  }
  return FS_OK;
}

/* Walks every device's envelopes in sequence order, counting in *checked. */
static int verify_chains(int64_t *checked, fs_hq *hq) {
  int rc = FS_OK, row = 0;
  int64_t cur = 0;
  fsi_envelope_chain chain;
  memset(&chain, 0, sizeof chain);
  sqlite3_stmt *s = fsi_sql_query(hq->st,
                                  "SELECT a.device, a.seq, a.hash, a.envelope, d.keys"
                                  " FROM hq_audit a LEFT JOIN hq_device d"
                                  " ON d.site = a.device ORDER BY a.device, a.seq",
                                  "");
  if (!s) return FS_EIO;
  while (!rc && (row = fsi_sql_step(hq->st, s, "reading the audit log")) == 1) {
    if (sqlite3_column_int64(s, 0) != cur) {
      cur = sqlite3_column_int64(s, 0);
      memset(&chain, 0, sizeof chain);
    }
    if (!(rc = verify_envelope(&chain, hq, s))) (*checked)++;
  }
  if (rc) fsi_sql_done(s);
  return rc ? rc : row;
}

/* The log must end where each device's chain ends: a missing tail (or a
 * device whose envelopes are all gone) is a break too. */
static int verify_tails(fs_hq *hq) {
  int rc = FS_OK;
  sqlite3_stmt *s = fsi_sql_query(hq->st,
                                  "SELECT d.site, d.push_seq, (SELECT max(seq) FROM"
                                  " hq_audit a WHERE a.device = d.site) FROM hq_device d"
                                  " WHERE d.push_seq != coalesce((SELECT max(seq) FROM"
                                  " hq_audit a WHERE a.device = d.site), 0)"
                                  " ORDER BY d.site LIMIT 1",
                                  "");
  if (!s) return FS_EIO;
  int row = fsi_sql_step(hq->st, s, "reading the audit log");
  if (row == 1)
    rc = fsi_fail(FS_ECORRUPT,
                  "audit log broken at device %016llx: it accepted envelopes up to sequence "
                  "%lld but the log ends at %lld",
                  (unsigned long long)sqlite3_column_int64(s, 0),
                  (long long)sqlite3_column_int64(s, 1), (long long)sqlite3_column_int64(s, 2));
  fsi_sql_done(s);
  return row < 0 ? row : rc;
}

int fs_hq_verify_log(int64_t *checked, fs_hq *hq) {
  *checked = 0;
  pthread_mutex_lock(&hq->mu);
  int rc = verify_chains(checked, hq);
  if (!rc) rc = verify_tails(hq);
  pthread_mutex_unlock(&hq->mu);
  return rc;
}
