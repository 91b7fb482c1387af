/*
 * hqmsg.c — head office's signed orders to one device (hqmsg.h): the
 * canonical texts, signing, and the device's verification.
 *
 * Invariant: nothing a device acts on (a lease it unlocks by, a wipe
 * order it shreds itself for) is taken from a message that is not exactly
 * the canonical text of its kind, signed by the pinned key, and naming
 * this device.
 */
#include "hqmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "engine.h"
#include "proto.h"

static int lower_hex16(const char *s) {
  if (strlen(s) != 16) return 0;
  for (size_t i = 0; i < 16; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

size_t fsi_hqmsg_text(char out[HQMSG_TEXT_MAX], const fsi_hqmsg *m) {
  int n;
  if (!lower_hex16(m->device) || m->issued <= 0) return 0;
  if (m->kind == HQMSG_LEASE) {
    if (m->until < m->issued) return 0;
    n = snprintf(out, HQMSG_TEXT_MAX, HQMSG_LEASE_MAGIC "\n%s\n%" PRId64 "\n%" PRId64, m->device,
                 m->issued, m->until);
  } else if (m->kind == HQMSG_WIPE) {
    if (m->until != 0) return 0;
    n = snprintf(out, HQMSG_TEXT_MAX, HQMSG_WIPE_MAGIC "\n%s\n%" PRId64, m->device, m->issued);
  } else {
    return 0;
  }
  return n > 0 && n < HQMSG_TEXT_MAX ? (size_t)n : 0;
}

int fsi_hqmsg_sign(char text[HQMSG_TEXT_MAX], char sig_hex[HQMSG_SIG_HEX], const fsi_hqmsg *m,
                   const unsigned char *sign_sk) {
  unsigned char sig[crypto_sign_BYTES];
  size_t n = fsi_hqmsg_text(text, m);
  if (!n || crypto_sign_detached(sig, NULL, (const unsigned char *)text, n, sign_sk) != 0)
    return fsi_fail(FS_EINVAL, "cannot sign the message for device %.16s", m->device);
  fsi_proto_hex(sig_hex, sig, sizeof sig);
  return FS_OK;
}

/* Parses a canonical text into *m: 1, or 0 for anything else. */
static int parse(fsi_hqmsg *m, int kind, const char *text) {
  char again[HQMSG_TEXT_MAX], dev[17], a[24], b[24];
  const char *magic = kind == HQMSG_LEASE ? HQMSG_LEASE_MAGIC "\n" : HQMSG_WIPE_MAGIC "\n";
  size_t len = strlen(text), ml = strlen(magic);
  memset(m, 0, sizeof *m);
  if (len >= HQMSG_TEXT_MAX || strncmp(text, magic, ml) != 0) return 0;
  const char *p = text + ml, *nl = strchr(p, '\n');
  if (!nl || nl - p != 16) return 0;
  memcpy(dev, p, 16);
  dev[16] = '\0';
  p = nl + 1;
  nl = strchr(p, '\n');
  if (kind == HQMSG_LEASE) {
    if (!nl || (size_t)(nl - p) >= sizeof a || strlen(nl + 1) >= sizeof b) return 0;
    memcpy(a, p, (size_t)(nl - p));
    a[nl - p] = '\0';
    snprintf(b, sizeof b, "%s", nl + 1);
    if (!fsi_util_parse_i64(a, &m->issued) || !fsi_util_parse_i64(b, &m->until)) return 0;
  } else {
    if (nl || strlen(p) >= sizeof a) return 0;
    snprintf(a, sizeof a, "%s", p);
    if (!fsi_util_parse_i64(a, &m->issued)) return 0;
  }
  m->kind = kind;
  memcpy(m->device, dev, sizeof dev);
  size_t n = fsi_hqmsg_text(again, m);
  return n == len && memcmp(again, text, len) == 0;
}

int fsi_hqmsg_verify(fsi_hqmsg *out, int kind, const char *text, const char *sig_hex,
                     const fsi_pubkeys *hq, const char *device, const char *what) {
  unsigned char sig[crypto_sign_BYTES];
  fsi_hqmsg m;
  memset(out, 0, sizeof *out);
  if (!text || !sig_hex || !parse(&m, kind, text))
    return fsi_fail(FS_EAUTH, "%s is malformed (not the text head office signs)", what);
  if (!fsi_proto_unhex(sig, sizeof sig, sig_hex) ||
      crypto_sign_verify_detached(sig, (const unsigned char *)text, strlen(text), hq->sign) != 0)
    return fsi_fail(FS_EAUTH,
                    "%s does not verify against head office's pinned key, so it did not come "
                    "from head office; it was refused",
                    what);
  if (strcmp(m.device, device) != 0)
    return fsi_fail(FS_EAUTH, "%s is for device %s, not this device (%s); it was refused", what,
                    m.device, device);
  *out = m;
  return FS_OK;
}
