/*
 * escrow.c — the escrowed data key and recovery codes (see escrow.h).
 *
 * Untrusted input: an escrow head office receives, and a code a person
 * typed or a caller sent.  Sizes are checked before a byte is used; a code
 * that does not parse is refused without echoing it.
 */
#include "escrow.h"

#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "keys.h"

static const char B32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int is_device_id(const char *s) {
  if (!s || strlen(s) != 16) return 0;
  for (size_t i = 0; i < 16; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

int fsi_escrow_seal(unsigned char out[FSI_ESCROW_SEALED_SIZE], const unsigned char *data_key,
                    const char *device_id, const unsigned char *hq_kx_pk) {
  unsigned char plain[FSI_ESCROW_PLAIN_SIZE];
  int rc = fsi_keys_init();
  if (rc) return rc;
  if (!is_device_id(device_id)) return fsi_fail(FS_EINVAL, "not a device id");
  memcpy(plain, FSI_ESCROW_MAGIC, 8);
  memcpy(plain + 8, device_id, 16);
  memcpy(plain + 24, data_key, 32);
  if (crypto_box_seal(out, plain, sizeof plain, hq_kx_pk) != 0)
    rc = fsi_fail(FS_EINVAL, "head office's key-exchange key is not a valid X25519 key");
  sodium_memzero(plain, sizeof plain);
  return rc;
}

int fsi_escrow_open(unsigned char *key, const unsigned char *sealed, size_t len,
                    const char *device_id, const unsigned char *hq_kx_pk,
                    const unsigned char *hq_kx_sk) {
  unsigned char plain[FSI_ESCROW_PLAIN_SIZE];
  int rc = fsi_keys_init();
  if (rc) return rc;
  if (len != FSI_ESCROW_SEALED_SIZE)
    return fsi_fail(FS_ECORRUPT, "an escrowed key is %zu bytes, not %d", len,
                    FSI_ESCROW_SEALED_SIZE);
  if (crypto_box_seal_open(plain, sealed, len, hq_kx_pk, hq_kx_sk) != 0) {
    rc = fsi_fail(FS_EAUTH, "the escrowed key does not open with head office's key");
  } else if (memcmp(plain, FSI_ESCROW_MAGIC, 8) != 0) {
    rc = fsi_fail(FS_ECORRUPT, "the escrowed key is not a fieldsync escrow");
  } else if (!device_id || strlen(device_id) != 16 || memcmp(plain + 8, device_id, 16) != 0) {
    rc = fsi_fail(FS_EPERM, "the escrowed key belongs to another device");
  } else {
    memcpy(key, plain + 24, 32);
  }
  sodium_memzero(plain, sizeof plain);
  if (rc) sodium_memzero(key, 32);
  return rc;
}

void fsi_recovery_code_new(unsigned char code[FSI_RECOVERY_CODE_BYTES],
                           char text[FSI_RECOVERY_CODE_TEXT]) {
  fsi_keys_init();
  randombytes_buf(code, FSI_RECOVERY_CODE_BYTES);
  fsi_recovery_code_text(text, code);
}

void fsi_recovery_code_text(char text[FSI_RECOVERY_CODE_TEXT],
                            const unsigned char code[FSI_RECOVERY_CODE_BYTES]) {
  /* 160 bits, 5 at a time, most significant first */
  size_t o = 0;
  for (int sym = 0; sym < 32; sym++) {
    int bit = sym * 5, v = 0;
    for (int b = 0; b < 5; b++, bit++) v = v << 1 | ((code[bit / 8] >> (7 - bit % 8)) & 1);
    if (sym && sym % 4 == 0) text[o++] = '-';
    text[o++] = B32[v];
  }
  text[o] = '\0';
}

/* The value of one typed symbol, -1 for none. */
static int b32_value(char c) {
  if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
  if (c == 'O') c = '0';
  if (c == 'I' || c == 'L') c = '1';
  for (int i = 0; i < 32; i++)
    if (B32[i] == c) return i;
  return -1;
}

int fsi_recovery_code_parse(unsigned char code[FSI_RECOVERY_CODE_BYTES], const char *text) {
  int syms = 0, bit = 0;
  memset(code, 0, FSI_RECOVERY_CODE_BYTES);
  for (const char *p = text ? text : ""; *p; p++) {
    if (*p == '-' || *p == ' ' || *p == '\t') continue;
    int v = b32_value(*p);
    if (v < 0 || syms == 32) {
      sodium_memzero(code, FSI_RECOVERY_CODE_BYTES);
      return fsi_fail(FS_EINVAL, v < 0 ? "the recovery code holds a character that is not in it "
                                         "(codes use 0-9 and A-Z without I, L, O and U)"
                                       : "the recovery code is longer than 32 characters");
    }
    for (int b = 4; b >= 0; b--, bit++)
      if ((v >> b) & 1) code[bit / 8] |= (unsigned char)(1u << (7 - bit % 8));
    syms++;
  }
  if (syms != 32) {
    sodium_memzero(code, FSI_RECOVERY_CODE_BYTES);
    return fsi_fail(FS_EINVAL,
                    "the recovery code has %d characters; it has 32 (8 groups of 4, "
                    "as head office read them out)",
                    syms);
  }
  return FS_OK;
}

void fsi_recovery_code_hash(unsigned char out[FSI_RECOVERY_HASH_BYTES], int64_t site,
                            const unsigned char code[FSI_RECOVERY_CODE_BYTES]) {
  static const char label[] = "fieldsync-recovery-code-v1";
  unsigned char s[8];
  crypto_generichash_state st;
  for (int i = 0; i < 8; i++) s[i] = (unsigned char)((uint64_t)site >> (8 * i));
  fsi_keys_init();
  crypto_generichash_init(&st, NULL, 0, FSI_RECOVERY_HASH_BYTES);
  crypto_generichash_update(&st, (const unsigned char *)label, sizeof label - 1);
  crypto_generichash_update(&st, s, sizeof s);
  crypto_generichash_update(&st, code, FSI_RECOVERY_CODE_BYTES);
  crypto_generichash_final(&st, out, FSI_RECOVERY_HASH_BYTES);
  sodium_memzero(&st, sizeof st);
}

static int is_hex(const char *s, size_t n) {
  if (!s || strlen(s) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

size_t fsi_recovery_answer_text(char out[FSI_RECOVERY_TEXT_MAX], const char *device,
                                const char *pk_hex, const char *sealed_hex) {
  if (!is_device_id(device) || !is_hex(pk_hex, 2 * crypto_box_PUBLICKEYBYTES) ||
      !is_hex(sealed_hex, 2 * FSI_RECOVERY_SEALED_SIZE))
    return 0;
  int n = snprintf(out, FSI_RECOVERY_TEXT_MAX, "%s\n%s\n%s\n%s", FSI_RECOVERY_MAGIC, device, pk_hex,
                   sealed_hex);
  return n > 0 && n < FSI_RECOVERY_TEXT_MAX ? (size_t)n : 0;
}
