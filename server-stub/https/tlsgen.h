/*
 * tlsgen.h — the server's self-signed TLS certificate and its pin (GnuTLS).
 *
 * `fieldsync-server init` makes a certificate + key pair with
 * tlsgen_self_signed and prints tlsgen_pin_from_cert of it; a device then
 * trusts the server either with the certificate file itself (`--ca`, it is
 * marked CA:TRUE for that) or with the pin (`--pin`), which is what libcurl
 * calls CURLOPT_PINNEDPUBLICKEY: "sha256//" + base64(SHA-256(DER
 * SubjectPublicKeyInfo)).
 *
 * Invariants: the key file is created new (never overwritten) with mode
 * 0600 and its bytes are wiped from memory after writing; on any failure no
 * file is left behind.
 */
#ifndef FS_TLSGEN_H
#define FS_TLSGEN_H

#include <time.h>

#define TLSGEN_PIN_SIZE 64 /* "sha256//" + 44 base64 chars + NUL, rounded */
#define TLSGEN_DEFAULT_DAYS 3650

/* Generates an ECDSA P-256 key and a self-signed X.509 v3 certificate for
 * it: CN "fieldsync-server", subjectAltName IP 127.0.0.1, IP ::1, DNS
 * localhost and, if extra_host is not NULL/empty, that name (an IP literal
 * becomes an IP entry, anything else a DNS entry); basicConstraints CA:TRUE;
 * keyUsage digitalSignature + keyCertSign; extendedKeyUsage serverAuth;
 * valid from one hour ago for valid_days days (<= 0: TLSGEN_DEFAULT_DAYS).
 * Writes cert_path (PEM, mode 0644) and key_path (PKCS#8 PEM, mode 0600);
 * both must not exist yet.
 * Errors: FS_EEXIST (either file exists; nothing written), FS_EINVAL (bad
 * extra_host), FS_EIO (cannot write; nothing left behind), FS_ENOMEM. */
int tlsgen_self_signed(const char *cert_path, const char *key_path, const char *extra_host,
                       int valid_days);

/* The same with the validity window given (Unix seconds, not_before <
 * not_after; FS_EINVAL otherwise): for the tests of a certificate that is
 * not valid yet or has expired. */
int tlsgen_self_signed_window(const char *cert_path, const char *key_path, const char *extra_host,
                              time_t not_before, time_t not_after);

/* The curl pin "sha256//BASE64" of the first certificate in the PEM file
 * cert_path into out[TLSGEN_PIN_SIZE].
 * Errors: FS_ENOTFOUND / FS_EIO (unreadable), FS_EINVAL (not a PEM
 * certificate). */
int tlsgen_pin_from_cert(char out[TLSGEN_PIN_SIZE], const char *cert_path);

#endif
