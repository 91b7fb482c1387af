/*
 * cmd_serve.c — `fieldsync-server init` and `fieldsync-server serve`: making
 * a server home and serving the sync protocol from it.
 *
 * init refuses to touch a home that already holds a store; the TLS
 * certificate it makes (or is given) is recorded in the store by absolute
 * path, so `serve` finds it from any working directory.  serve takes SIGINT
 * and SIGTERM synchronously on the main thread (blocked before the HTTPS
 * server's threads start, so none of those receives them), then stops
 * accepting, lets the requests in flight finish, and exits 0.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cmd.h"
#include "hq_http.h"
#include "https.h"
#include "tlsgen.h"

/* ------------------------------------------------------------------ init */

static void path_join(char *out, size_t n, const char *dir, const char *file) {
  snprintf(out, n, "%s/%s", dir, file);
}

/* The certificate and key init records, and what it reports of the home. */
typedef struct init_args {
  const char *cert, *key;
  char server_id[FS_ID_SIZE], keys_fingerprint[128];
} init_args;

static int init_record_tls(fs_hq *hq, void *arg) {
  init_args *a = arg;
  fs_store *st = fs_hq_store(hq);
  int rc = fs_store_set(st, "tls_cert", a->cert);
  if (!rc) rc = fs_store_set(st, "tls_key", a->key);
  snprintf(a->server_id, sizeof a->server_id, "%s", fs_store_device_id(st));
  snprintf(a->keys_fingerprint, sizeof a->keys_fingerprint, "%s", fs_hq_key_fingerprint(hq));
  return rc;
}

int cmd_init_server(cli_ctx *ctx, int argc, char **argv) {
  const char *cert = NULL, *key = NULL, *host = NULL, *key_file = NULL;
  int encrypt = 0;
  const cli_opt opts[] = {{"cert", 1, &cert, NULL},         {"key", 1, &key, NULL},
                          {"host", 1, &host, NULL},         {"encrypt", 0, NULL, &encrypt},
                          {"key-file", 1, &key_file, NULL}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "init",
      "Usage: fieldsync-server init [--cert FILE --key FILE] [--host NAME]\n"
      "                             [--encrypt [--key-file FILE]] [--json]\n"
      "\n"
      "Creates the server home: Ed25519/X25519 server keys, the store, and a\n"
      "self-signed TLS certificate for 127.0.0.1, ::1, localhost and --host\n"
      "(unless --cert and --key give one).  Prints the certificate path and\n"
      "the fingerprint devices pin with `fieldsync enroll --pin`.\n"
      "\n"
      "--encrypt: the store is encrypted at rest (every page and WAL frame,\n"
      "XChaCha20-Poly1305) under the 256-bit key in the key file (--key-file,\n"
      "else $FIELDSYNC_SERVER_KEY_FILE): 64 hex digits or 32 raw bytes.  A key\n"
      "file that does not exist is created (mode 0600) with a new key; keep a\n"
      "copy of it apart from the backups: without it the store cannot be read.\n"
      "Every later command finds the key the same way (or in the systemd\n"
      "credential $CREDENTIALS_DIRECTORY/fieldsync-server.key).  Without\n"
      "--encrypt the store is plain SQLite.\n"
      "\n"
      "  --cert FILE       a TLS certificate of your own (PEM), with --key\n"
      "  --key FILE        its private key (PEM)\n"
      "  --host NAME       the host name in a generated certificate\n"
      "  --encrypt         encrypt head office's store at rest\n"
      "  --key-file FILE   with --encrypt: the store key's file\n"
      "\n"
      "Examples:\n"
      "  fieldsync-server --home /srv/fs init --host hq.example.com\n"
      "  fieldsync-server --home /srv/fs init --encrypt --key-file /etc/fieldsync/server.key\n"
      "  openssl rand -hex 32 > server.key   # a key made beforehand (umask 077)\n",
      opts,
      NULL,
      NULL,
      0};
  int ex;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!cert != !key) return cli_usage("init: --cert and --key go together.");
  if (key_file && !encrypt) return cli_usage("init: --key-file goes with --encrypt.");
  if (encrypt && !key_file) key_file = getenv(FS_HQ_KEY_ENV);
  if (encrypt && (!key_file || !*key_file))
    return cli_usage("init --encrypt needs the key file: --key-file FILE (made with a new key "
                     "when missing) or " FS_HQ_KEY_ENV "=FILE.");
  /* what init opens next, every later command finds through the environment */
  if (encrypt) setenv(FS_HQ_KEY_ENV, key_file, 1);
  const char *home = srv_home(ctx);
  char tls[PATH_MAX - 64], certp[PATH_MAX], keyp[PATH_MAX], pin[TLSGEN_PIN_SIZE];
  if (mkdir(home, 0700) != 0 && errno != EEXIST)
    return cli_fail("cannot create %s: %s.", home, strerror(errno));
  int made = 0;
  int rc = encrypt ? fs_hq_create_encrypted(home, NULL, key_file, &made) : fs_hq_create(home);
  if (rc) return cli_lib_fail(rc);
  if (cert) {
    if (!realpath(cert, certp) || !realpath(key, keyp))
      return cli_fail("cannot find the certificate or key file: %s.", strerror(errno));
  } else {
    path_join(tls, sizeof tls, home, "tls");
    if (mkdir(tls, 0700) != 0 && errno != EEXIST)
      return cli_fail("cannot create %s: %s.", tls, strerror(errno));
    path_join(certp, sizeof certp, tls, "cert.pem");
    path_join(keyp, sizeof keyp, tls, "key.pem");
    if ((rc = tlsgen_self_signed(certp, keyp, host, 0))) return cli_lib_fail(rc);
    char abs[PATH_MAX];
    if (realpath(certp, abs)) snprintf(certp, sizeof certp, "%s", abs);
    if (realpath(keyp, abs)) snprintf(keyp, sizeof keyp, "%s", abs);
  }
  if ((rc = tlsgen_pin_from_cert(pin, certp))) return cli_lib_fail(rc);
  init_args a = {certp, keyp, "", ""};
  if ((rc = srv_with_hq(ctx, init_record_tls, &a))) return rc;
  if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "cert", certp);
    cJSON_AddStringToObject(o, "fingerprint", pin);
    cJSON_AddStringToObject(o, "server_id", a.server_id);
    cJSON_AddStringToObject(o, "keys_fingerprint", a.keys_fingerprint);
    cJSON_AddBoolToObject(o, "encrypted", encrypt);
    if (encrypt) {
      cJSON_AddStringToObject(o, "key_file", key_file);
      cJSON_AddBoolToObject(o, "key_created", made);
    } else {
      cJSON_AddNullToObject(o, "key_file");
      cJSON_AddBoolToObject(o, "key_created", 0);
    }
    cli_print_cjson(o);
    cJSON_Delete(o);
  } else {
    char enc[PATH_MAX + 64];
    snprintf(enc, sizeof enc, "%s%s%s%s", encrypt ? "yes, key in " : "no", encrypt ? key_file : "",
             made ? " (new key: keep a copy of it apart from the backups)" : "", "");
    const char *k[] = {"home", "certificate", "fingerprint", "server id", "encrypted"};
    const char *v[] = {home, certp, pin, a.server_id, enc};
    cli_kv_print(k, v, 5, "");
    printf("\nDevices enroll with: fieldsync enroll --server https://HOST:PORT "
           "--token-file FILE --ca %s\n",
           certp);
  }
  return CLI_OK;
}

/* ----------------------------------------------------------------- serve */

/* Raises the open-file limit to its hard bound: every connection is a
 * descriptor, and the connection limit is meant to be reachable. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* A positive count option, or 0 when absent; -1 when malformed. */
static long count_opt(const char *v, long max) {
  char *end = NULL;
  if (!v) return 0;
  errno = 0;
  long n = strtol(v, &end, 10);
  return errno || end == v || *end || n < 1 || n > max ? -1 : n;
}

/* Writes the bound port to `path` through a temporary file and a rename,
 * so a reader never sees a half-written number.  0 on success. */
static int write_port_file(const char *path, int port) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  int bad = fprintf(f, "%d\n", port) < 0;
  if (fclose(f) != 0) bad = 1;
  return bad || rename(tmp, path) != 0 ? -1 : 0;
}

/* What `serve` was asked: the server's options (the certificate, key and
 * handle are filled in from the home) and where to write the port. */
typedef struct serve_args {
  https_server_opts so;
  const char *port_file;
  int trust_clock;
} serve_args;

/* Serves the open home until SIGINT or SIGTERM. */
static int serve_run(fs_hq *hq, void *arg) {
  serve_args *a = arg;
  char *cert = NULL, *key = NULL;
  fs_store *st = fs_hq_store(hq);
  int lrc = fs_hq_claim_serving(hq); /* one server per home; restore waits for it */
  if (lrc) return lrc;
  int crc = a->trust_clock ? FS_OK : fs_hq_check_clock(hq);
  if (crc) return crc;
  if (fs_store_get(&cert, st, "tls_cert") || fs_store_get(&key, st, "tls_key")) {
    free(cert);
    return cli_fail("the server has no TLS certificate configured; run "
                    "`fieldsync-server init`.");
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  https_server *srv = NULL;
  a->so.cert_pem_path = cert;
  a->so.key_pem_path = key;
  a->so.handler = hq_http_handle;
  a->so.admit = hq_http_admit;
  a->so.user = hq;
  int rc = https_server_start_opts(&srv, &a->so);
  free(cert);
  free(key);
  if (rc) return rc;
  int port = https_server_port(srv);
  if (a->port_file && write_port_file(a->port_file, port) != 0) {
    https_server_stop(srv);
    return cli_fail("cannot write the port file %s.", a->port_file);
  }
  fprintf(stderr, "fieldsync-server: serving %s on port %d (server id %s)\n", a->so.listen_addr,
          port, fs_store_device_id(st));
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "fieldsync-server: %s received, finishing requests in flight\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  https_server_stop(srv);
  return FS_OK;
}

int cmd_serve(cli_ctx *ctx, int argc, char **argv) {
  const char *listen_addr = NULL, *port_file = NULL, *per_ip = NULL, *max_conn = NULL;
  const char *timeout = NULL;
  int trust_clock = 0;
  const cli_opt opts[] = {{"listen", 1, &listen_addr, NULL},
                          {"port-file", 1, &port_file, NULL},
                          {"per-ip-limit", 1, &per_ip, NULL},
                          {"max-connections", 1, &max_conn, NULL},
                          {"timeout", 1, &timeout, NULL},
                          {"trust-clock", 0, NULL, &trust_clock},
                          {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "serve",
      "Usage: fieldsync-server serve [--listen ADDR:PORT] [--port-file FILE]\n"
      "                              [--per-ip-limit N] [--max-connections N]\n"
      "                              [--timeout SECONDS] [--trust-clock]\n"
      "\n"
      "Serves the sync protocol over HTTPS (default 127.0.0.1:8443; port 0 picks\n"
      "a free port, written to --port-file).  Runs until SIGINT or SIGTERM, then\n"
      "finishes the requests in flight and exits 0.  One log line per request\n"
      "goes to stderr.\n"
      "\n"
      "Refuses to start when this machine's clock is behind the newest change in\n"
      "the store by more than the allowed skew (an hour): the clock went back,\n"
      "and every device's changes would be refused as stamped ahead.  Correct the\n"
      "clock (timedatectl / NTP); --trust-clock starts anyway, for a store whose\n"
      "newest change was stamped by a clock that ran ahead.\n"
      "\n"
      "Every push and pull is authenticated from its signed headers before any\n"
      "of its body is read.  Limits that keep head office up under load or attack:\n"
      "  --listen ADDR:PORT  the address to serve on (default 127.0.0.1:8443)\n"
      "  --port-file FILE    write the port chosen (with port 0) to FILE\n"
      "  --trust-clock       start although the clock is behind the store's newest change\n"
      "  --per-ip-limit N     connections at once from one address (default 128:\n"
      "                       a whole sales team behind one exhibition NAT)\n"
      "  --max-connections N  connections at once in all (default 4096)\n"
      "  --timeout SECONDS    a connection silent this long is closed, during the\n"
      "                       TLS handshake, the headers or between requests\n"
      "                       (default 15)\n"
      "\n"
      "Examples:\n"
      "  fieldsync-server serve --listen 0.0.0.0:8443\n"
      "  fieldsync-server serve --listen 127.0.0.1:0 --port-file hq.port\n",
      opts,
      NULL,
      NULL,
      0};
  int ex;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  long n_ip = count_opt(per_ip, 100000), n_conn = count_opt(max_conn, 1000000);
  long n_to = count_opt(timeout, 3600);
  if (n_ip < 0) return cli_fail("--per-ip-limit takes a whole number from 1 to 100000.");
  if (n_conn < 0) return cli_fail("--max-connections takes a whole number from 1 to 1000000.");
  if (n_to < 0) return cli_fail("--timeout takes a number of seconds from 1 to 3600.");
  serve_args a;
  memset(&a, 0, sizeof a);
  a.so.listen_addr = listen_addr ? listen_addr : "127.0.0.1:8443";
  a.so.per_ip_limit = (unsigned)n_ip;
  a.so.conn_limit = (unsigned)n_conn;
  a.so.timeout_s = (unsigned)n_to;
  a.port_file = port_file;
  a.trust_clock = trust_clock;
  int rc = srv_with_hq(ctx, serve_run, &a);
  if (rc == CLI_OK) fprintf(stderr, "fieldsync-server: stopped\n");
  return rc;
}
