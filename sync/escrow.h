/*
 * escrow.h — a device's data key escrowed with head office, and the
 * one-time recovery codes that release it (docs/security.md, "Forgotten
 * passphrase").
 *
 * The escrow is the data key sealed to head office's X25519 public key
 * (crypto_box_seal: an ephemeral sender key, so only the holder of head
 * office's secret key opens it), bound to the device it belongs to.  The
 * sealed plaintext, FSI_ESCROW_PLAIN_SIZE bytes:
 *   0  8  magic "FSESCRW1"
 *   8  16 device id (16 lowercase hex digits)
 *   24 32 the data key
 * Head office checks the device id inside against the device that sent
 * it, and again against the device a recovery is for.
 *
 * A recovery code is 20 random bytes (160 bits), shown as 32 characters of
 * Crockford's base32 (0-9 and A-Z without I, L, O, U) in eight groups of
 * four: "7KQ2-M9XD-...".  Typing is forgiving: case, spaces and dashes do
 * not matter, and O reads as 0, I and L as 1.  Head office keeps only
 * fsi_recovery_code_hash of it (BLAKE2b-256 over a label, the device and
 * the code).
 *
 * Every buffer that held a key or a code is the caller's; the functions
 * here wipe their own temporaries.
 */
#ifndef FS_ESCROW_H
#define FS_ESCROW_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define FSI_ESCROW_MAGIC "FSESCRW1"
#define FSI_ESCROW_PLAIN_SIZE (8 + 16 + 32)
#define FSI_ESCROW_SEALED_SIZE (FSI_ESCROW_PLAIN_SIZE + crypto_box_SEALBYTES)
#define FSI_RECOVERY_CODE_BYTES 20
#define FSI_RECOVERY_CODE_TEXT 40 /* 32 symbols, 7 dashes, NUL */
#define FSI_RECOVERY_HASH_BYTES 32
/* The answer to a recovery: the data key sealed to the device's ephemeral
 * X25519 key. */
#define FSI_RECOVERY_SEALED_SIZE (32 + crypto_box_SEALBYTES)
#define FSI_RECOVERY_MAGIC "fieldsync-recover-v1"
#define FSI_RECOVERY_TEXT_MAX 320

/* Seals data_key (32 bytes) of device_id (16 hex digits) to head office's
 * X25519 public key into out.  FS_EINVAL for a malformed device id. */
int fsi_escrow_seal(unsigned char out[FSI_ESCROW_SEALED_SIZE], const unsigned char *data_key,
                    const char *device_id, const unsigned char *hq_kx_pk);

/* Opens an escrow with head office's X25519 key pair into key[32] and
 * checks that it is device_id's.  FS_EAUTH when it does not open (not
 * sealed to this head office, or altered), FS_ECORRUPT for a wrong size or
 * magic, FS_EPERM when it is another device's.  key is wiped on failure. */
int fsi_escrow_open(unsigned char *key, const unsigned char *sealed, size_t len,
                    const char *device_id, const unsigned char *hq_kx_pk,
                    const unsigned char *hq_kx_sk);

/* A fresh code: its bytes and its text ("XXXX-XXXX-...", NUL-terminated). */
void fsi_recovery_code_new(unsigned char code[FSI_RECOVERY_CODE_BYTES],
                           char text[FSI_RECOVERY_CODE_TEXT]);

/* The text of a code's bytes, as fsi_recovery_code_new writes it. */
void fsi_recovery_code_text(char text[FSI_RECOVERY_CODE_TEXT],
                            const unsigned char code[FSI_RECOVERY_CODE_BYTES]);

/* The bytes of a code as a person typed it.  FS_EINVAL, with a sentence
 * that never shows the text, when it is not 32 base32 symbols (spaces and
 * dashes aside).  code is wiped on failure. */
int fsi_recovery_code_parse(unsigned char code[FSI_RECOVERY_CODE_BYTES], const char *text);

/* What head office keeps of a code for device `site`. */
void fsi_recovery_code_hash(unsigned char out[FSI_RECOVERY_HASH_BYTES], int64_t site,
                            const unsigned char code[FSI_RECOVERY_CODE_BYTES]);

/* The text head office signs over its answer:
 *   "fieldsync-recover-v1\n" DEVICE "\n" PK "\n" SEALED
 * (DEVICE 16 hex digits, PK the device's ephemeral X25519 key and SEALED
 * the answer, both lowercase hex).  Its length, or 0 when a part is
 * malformed. */
size_t fsi_recovery_answer_text(char out[FSI_RECOVERY_TEXT_MAX], const char *device,
                                const char *pk_hex, const char *sealed_hex);

#endif
