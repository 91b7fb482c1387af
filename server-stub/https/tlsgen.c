/*
 * tlsgen.c — self-signed server certificate and its public-key pin (see
 * tlsgen.h), with the GnuTLS x509/abstract API.
 *
 * The certificate is both the server's leaf certificate and its own trust
 * anchor (CA:TRUE), so a device can be given the certificate file as its CA.
 * The pin hashes the DER SubjectPublicKeyInfo exactly as libcurl's
 * CURLOPT_PINNEDPUBLICKEY does, so both ends agree byte for byte.
 *
 * Invariants: files are created with O_EXCL (never overwritten, never
 * followed through a symlink); the private key PEM is wiped from memory on
 * every path; a failure after creating a file removes it again.
 */
#include "tlsgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* See https.c: fsi_fail sets the message fs_errmsg() returns. */
#include "engine.h"

#define TLSGEN_PEM_MAX ((size_t)1024 * 1024)
#define TLSGEN_CN "fieldsync-server"

/* Appends one subjectAltName: an IP literal as an IP entry, else a DNS name. */
static int tlsgen_add_san(gnutls_x509_crt_t crt, const char *name) {
  unsigned char ip[16];
  int e;

  if (inet_pton(AF_INET, name, ip) == 1)
    e = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_APPEND);
  else if (inet_pton(AF_INET6, name, ip) == 1)
    e = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16, GNUTLS_FSAN_APPEND);
  else
    e = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, (unsigned)strlen(name),
                                             GNUTLS_FSAN_APPEND);
  if (e < 0)
    return fsi_fail(FS_EINVAL, "cannot put \"%s\" in the certificate: %s", name,
                    gnutls_strerror(e));
  return FS_OK;
}

static int tlsgen_host_valid(const char *h) {
  unsigned char ip[16];
  size_t n = strlen(h);

  if (inet_pton(AF_INET, h, ip) == 1 || inet_pton(AF_INET6, h, ip) == 1) return 1;
  if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.' || h[n - 1] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.'))
      return 0;
  }
  return 1;
}

/* Creates path exclusively with mode and writes data to it (synced). */
static int tlsgen_write_new(const char *path, mode_t mode, const unsigned char *data, size_t len,
                            int *created) {
  int fd, rc = FS_OK;
  size_t off = 0;

  *created = 0;
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    if (errno == EEXIST) return fsi_fail(FS_EEXIST, "%s already exists; not overwriting it", path);
    return fsi_fail(FS_EIO, "cannot create %s: %s", path, strerror(errno));
  }
  *created = 1;
  if (fchmod(fd, mode) != 0) {
    rc = fsi_fail(FS_EIO, "cannot set the mode of %s: %s", path, strerror(errno));
    goto done;
  }
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      rc = fsi_fail(FS_EIO, "cannot write %s: %s", path, strerror(errno));
      goto done;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0) {
    rc = fsi_fail(FS_EIO, "cannot write %s: %s", path, strerror(errno));
    goto done;
  }
done:
  if (close(fd) != 0 && rc == FS_OK)
    rc = fsi_fail(FS_EIO, "cannot write %s: %s", path, strerror(errno));
  return rc;
}

/* gnutls error -> FS_ENOMEM or FS_EIO with a sentence naming the step. */
static int tlsgen_gnutls_fail(int e, const char *step) {
  return fsi_fail(e == GNUTLS_E_MEMORY_ERROR ? FS_ENOMEM : FS_EIO,
                  "cannot generate the TLS certificate (%s): %s", step, gnutls_strerror(e));
}

int tlsgen_self_signed(const char *cert_path, const char *key_path, const char *extra_host,
                       int valid_days) {
  time_t now = time(NULL);
  if (valid_days <= 0) valid_days = TLSGEN_DEFAULT_DAYS;
  /* valid from two days back: a laptop whose clock is behind by hours still
   * trusts a certificate made today */
  return tlsgen_self_signed_window(cert_path, key_path, extra_host, now - 2 * 24 * 3600,
                                   now + (time_t)valid_days * 86400);
}

int tlsgen_self_signed_window(const char *cert_path, const char *key_path, const char *extra_host,
                              time_t not_before, time_t not_after) {
  gnutls_x509_privkey_t key = NULL;
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t cert_pem = {NULL, 0}, key_pem = {NULL, 0};
  unsigned char serial[16], keyid[64];
  size_t keyid_len = sizeof keyid;
  int rc = FS_OK, e, key_created = 0, cert_created = 0;
  struct stat st;
  static const char *const sans[] = {"127.0.0.1", "::1", "localhost"};

  if (!cert_path || !key_path || !*cert_path || !*key_path)
    return fsi_fail(FS_EINVAL, "no certificate or key path given");
  if (extra_host && *extra_host && !tlsgen_host_valid(extra_host))
    return fsi_fail(FS_EINVAL, "\"%s\" is not a host name or IP address for the certificate",
                    extra_host);
  if (lstat(cert_path, &st) == 0)
    return fsi_fail(FS_EEXIST, "%s already exists; not overwriting it", cert_path);
  if (lstat(key_path, &st) == 0)
    return fsi_fail(FS_EEXIST, "%s already exists; not overwriting it", key_path);
  if (not_after <= not_before)
    return fsi_fail(FS_EINVAL, "a certificate's validity must end after it begins");

  if ((e = gnutls_x509_privkey_init(&key)) < 0) {
    rc = tlsgen_gnutls_fail(e, "key");
    goto done;
  }
  if ((e = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                        GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0) {
    rc = tlsgen_gnutls_fail(e, "P-256 key");
    goto done;
  }
  if ((e = gnutls_x509_crt_init(&crt)) < 0 || (e = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
      (e = gnutls_x509_crt_set_key(crt, key)) < 0) {
    rc = tlsgen_gnutls_fail(e, "certificate");
    goto done;
  }
  if ((e = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial)) < 0) {
    rc = tlsgen_gnutls_fail(e, "serial");
    goto done;
  }
  serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40); /* positive, minimal */
  if ((e = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) < 0 ||
      (e = gnutls_x509_crt_set_activation_time(crt, not_before)) < 0 ||
      (e = gnutls_x509_crt_set_expiration_time(crt, not_after)) < 0 ||
      (e = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, TLSGEN_CN,
                                         sizeof TLSGEN_CN - 1)) < 0 ||
      (e = gnutls_x509_crt_set_basic_constraints(crt, 1, -1)) < 0 ||
      (e = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                  GNUTLS_KEY_KEY_CERT_SIGN)) < 0 ||
      (e = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
      (e = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, keyid, &keyid_len)) < 0 ||
      (e = gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len)) < 0 ||
      (e = gnutls_x509_crt_set_authority_key_id(crt, keyid, keyid_len)) < 0) {
    rc = tlsgen_gnutls_fail(e, "certificate fields");
    goto done;
  }
  for (size_t i = 0; i < sizeof sans / sizeof sans[0]; i++)
    if ((rc = tlsgen_add_san(crt, sans[i])) != FS_OK) goto done;
  if (extra_host && *extra_host && strcmp(extra_host, "localhost") != 0 &&
      strcmp(extra_host, "127.0.0.1") != 0 && strcmp(extra_host, "::1") != 0 &&
      (rc = tlsgen_add_san(crt, extra_host)) != FS_OK)
    goto done;
  if ((e = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0) {
    rc = tlsgen_gnutls_fail(e, "signature");
    goto done;
  }
  if ((e = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem)) < 0 ||
      (e = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                             &key_pem)) < 0) {
    rc = tlsgen_gnutls_fail(e, "PEM export");
    goto done;
  }
  if ((rc = tlsgen_write_new(key_path, 0600, key_pem.data, key_pem.size, &key_created)) != FS_OK ||
      (rc = tlsgen_write_new(cert_path, 0644, cert_pem.data, cert_pem.size, &cert_created)) !=
          FS_OK)
    goto done;
done:
  if (rc != FS_OK) {
    if (key_created) unlink(key_path);
    if (cert_created) unlink(cert_path);
  }
  if (key_pem.data) {
    gnutls_memset(key_pem.data, 0, key_pem.size);
    gnutls_free(key_pem.data);
  }
  gnutls_free(cert_pem.data);
  if (crt) gnutls_x509_crt_deinit(crt);
  if (key) gnutls_x509_privkey_deinit(key);
  return rc;
}

static void tlsgen_base64(char *out, const unsigned char *in, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *out++ = tab[v >> 18];
    *out++ = tab[(v >> 12) & 63];
    *out++ = tab[(v >> 6) & 63];
    *out++ = tab[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    *out++ = tab[v >> 18];
    *out++ = tab[(v >> 12) & 63];
    *out++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    *out++ = '=';
  }
  *out = '\0';
}

int tlsgen_pin_from_cert(char out[TLSGEN_PIN_SIZE], const char *cert_path) {
  FILE *f = NULL;
  unsigned char *pem = NULL, digest[32];
  size_t len = 0;
  gnutls_x509_crt_t crt = NULL;
  gnutls_pubkey_t pub = NULL;
  gnutls_datum_t spki = {NULL, 0};
  int rc = FS_OK, e;

  out[0] = '\0';
  f = fopen(cert_path, "rb");
  if (!f) {
    rc = fsi_fail(errno == ENOENT ? FS_ENOTFOUND : FS_EIO, "cannot read the certificate %s: %s",
                  cert_path, strerror(errno));
    goto done;
  }
  if (!(pem = malloc(TLSGEN_PEM_MAX + 1))) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  len = fread(pem, 1, TLSGEN_PEM_MAX + 1, f);
  if (ferror(f)) {
    rc = fsi_fail(FS_EIO, "cannot read the certificate %s", cert_path);
    goto done;
  }
  if (len > TLSGEN_PEM_MAX) {
    rc = fsi_fail(FS_EINVAL, "the certificate %s is larger than %zu bytes", cert_path,
                  TLSGEN_PEM_MAX);
    goto done;
  }
  gnutls_datum_t d = {pem, (unsigned)len};
  if ((e = gnutls_x509_crt_init(&crt)) < 0 || (e = gnutls_pubkey_init(&pub)) < 0) {
    rc = fsi_fail(FS_ENOMEM, "out of memory");
    goto done;
  }
  if ((e = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)) < 0) {
    rc = fsi_fail(FS_EINVAL, "%s is not a PEM certificate: %s", cert_path, gnutls_strerror(e));
    goto done;
  }
  if ((e = gnutls_pubkey_import_x509(pub, crt, 0)) < 0 ||
      (e = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki)) < 0 ||
      (e = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, digest)) < 0) {
    rc = fsi_fail(FS_EINVAL, "cannot read the public key of %s: %s", cert_path, gnutls_strerror(e));
    goto done;
  }
  memcpy(out, "sha256//", 8);
  tlsgen_base64(out + 8, digest, sizeof digest);
done:
  gnutls_free(spki.data);
  if (pub) gnutls_pubkey_deinit(pub);
  if (crt) gnutls_x509_crt_deinit(crt);
  free(pem);
  if (f) fclose(f);
  return rc;
}
