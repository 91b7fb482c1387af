/*
 * main.c — `fieldsync-server`, the head-office command line and HTTPS server.
 *
 * Every verb is thin over <fieldsync/server.h> and uses the same option
 * parser and output helpers as the device command (cli/), so both programs
 * behave alike: --help everywhere, one line on stderr on failure, --json
 * prints one document.  `serve` runs until SIGINT or SIGTERM, then stops
 * accepting, lets requests in flight finish, and exits 0.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fieldsync/server.h>

#include "clikit.h"
#include "hq_http.h"
#include "https.h"
#include "tlsgen.h"

static const char usage[] =
    "Usage: fieldsync-server [--home DIR] COMMAND [ARGS...] [--json]\n"
    "\n"
    "Head office: merges every device's field data, sends each manager's\n"
    "devices what they hold, and reports on the merged data.\n"
    "\n"
    "Commands:\n"
    "  init [--cert FILE --key FILE] [--host NAME]\n"
    "                                  server keys, TLS certificate, store\n"
    "  serve [--listen ADDR:PORT]      the HTTPS sync endpoint (default\n"
    "                                  127.0.0.1:8443)\n"
    "  token create --manager NAME     a one-time enrollment token\n"
    "  devices                         enrolled devices\n"
    "  revoke DEVICE                   refuse a device from now on\n"
    "  import products|prices|balances FILE.csv\n"
    "  assign CUSTOMER MANAGER         move a customer to another manager\n"
    "  report orders|meetings|pipeline [--month YYYY-MM] [--by manager|customer]\n"
    "                                  [--csv|--json]\n"
    "  conflicts                       concurrent edits resolved by rule\n"
    "  verify-log                      re-check the audit log of envelopes\n"
    "  export --json [--manager NAME]  the merged data (or one manager's subset)\n"
    "\n"
    "Options:\n"
    "  --home DIR   server data (default $FIELDSYNC_SERVER_HOME, else\n"
    "               ./fieldsync-server)\n"
    "  --json       one JSON document on stdout\n"
    "  --help, -h   this help; 'fieldsync-server COMMAND --help' for a command\n";

static const char *server_home(cli_ctx *ctx) {
  if (ctx->home) return ctx->home;
  const char *env = getenv("FIELDSYNC_SERVER_HOME");
  return env && *env ? env : "./fieldsync-server";
}

static int open_hq(cli_ctx *ctx, fs_hq **hq) {
  int rc = fs_hq_open(hq, server_home(ctx));
  return rc ? cli_lib_fail(rc) : CLI_OK;
}

static void path_join(char *out, size_t n, const char *dir, const char *file) {
  snprintf(out, n, "%s/%s", dir, file);
}

/* ------------------------------------------------------------------ init */

static int cmd_init_server(cli_ctx *ctx, int argc, char **argv) {
  const char *cert = NULL, *key = NULL, *host = NULL;
  const cli_opt opts[] = {{"cert", 1, &cert, NULL},
                          {"key", 1, &key, NULL},
                          {"host", 1, &host, NULL},
                          {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "init",
      "Usage: fieldsync-server init [--cert FILE --key FILE] [--host NAME] [--json]\n"
      "\n"
      "Creates the server home: Ed25519/X25519 server keys, the store, and a\n"
      "self-signed TLS certificate for 127.0.0.1, ::1, localhost and --host\n"
      "(unless --cert and --key give one).  Prints the certificate path and\n"
      "the fingerprint devices pin with `fieldsync enroll --pin`.\n",
      opts, NULL, NULL, 0};
  int ex;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!cert != !key) return cli_usage("init: --cert and --key go together.");
  const char *home = server_home(ctx);
  char tls[PATH_MAX - 64], certp[PATH_MAX], keyp[PATH_MAX], pin[TLSGEN_PIN_SIZE];
  if (mkdir(home, 0700) != 0 && errno != EEXIST)
    return cli_fail("cannot create %s: %s.", home, strerror(errno));
  int rc = fs_hq_create(home);
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
  fs_hq *hq = NULL;
  if ((rc = open_hq(ctx, &hq))) return rc;
  fs_store *st = fs_hq_store(hq);
  if ((rc = fs_store_set(st, "tls_cert", certp)) || (rc = fs_store_set(st, "tls_key", keyp))) {
    fs_hq_close(hq);
    return cli_lib_fail(rc);
  }
  if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "cert", certp);
    cJSON_AddStringToObject(o, "fingerprint", pin);
    cJSON_AddStringToObject(o, "server_id", fs_store_device_id(st));
    cJSON_AddStringToObject(o, "keys_fingerprint", fs_hq_key_fingerprint(hq));
    cli_print_cjson(o);
    cJSON_Delete(o);
  } else {
    const char *k[] = {"home", "certificate", "fingerprint", "server id"};
    const char *v[] = {home, certp, pin, fs_store_device_id(st)};
    cli_kv_print(k, v, 4, "");
    printf("\nDevices enroll with: fieldsync enroll --server https://HOST:PORT "
           "--token-file FILE --ca %s\n",
           certp);
  }
  fs_hq_close(hq);
  return CLI_OK;
}

/* ----------------------------------------------------------------- serve */

static fs_hq *g_hq;

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

static int cmd_serve(cli_ctx *ctx, int argc, char **argv) {
  const char *listen_addr = NULL, *port_file = NULL, *per_ip = NULL, *max_conn = NULL;
  const char *timeout = NULL;
  const cli_opt opts[] = {{"listen", 1, &listen_addr, NULL},
                          {"port-file", 1, &port_file, NULL},
                          {"per-ip-limit", 1, &per_ip, NULL},
                          {"max-connections", 1, &max_conn, NULL},
                          {"timeout", 1, &timeout, NULL},
                          {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "serve",
      "Usage: fieldsync-server serve [--listen ADDR:PORT] [--port-file FILE]\n"
      "                              [--per-ip-limit N] [--max-connections N]\n"
      "                              [--timeout SECONDS]\n"
      "\n"
      "Serves the sync protocol over HTTPS (default 127.0.0.1:8443; port 0 picks\n"
      "a free port, written to --port-file).  Runs until SIGINT or SIGTERM, then\n"
      "finishes the requests in flight and exits 0.  One log line per request\n"
      "goes to stderr.\n"
      "\n"
      "Every push and pull is authenticated from its signed headers before any\n"
      "of its body is read.  Limits that keep head office up under load or attack:\n"
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
      opts, NULL, NULL, 0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!listen_addr) listen_addr = "127.0.0.1:8443";
  long n_ip = count_opt(per_ip, 100000), n_conn = count_opt(max_conn, 1000000);
  long n_to = count_opt(timeout, 3600);
  if (n_ip < 0) return cli_fail("--per-ip-limit takes a whole number from 1 to 100000.");
  if (n_conn < 0) return cli_fail("--max-connections takes a whole number from 1 to 1000000.");
  if (n_to < 0) return cli_fail("--timeout takes a number of seconds from 1 to 3600.");
  if ((rc = open_hq(ctx, &g_hq))) return rc;
  char *cert = NULL, *key = NULL;
  fs_store *st = fs_hq_store(g_hq);
  if (fs_store_get(st, "tls_cert", &cert) || fs_store_get(st, "tls_key", &key)) {
    free(cert);
    fs_hq_close(g_hq);
    return cli_fail("the server has no TLS certificate configured; run "
                    "`fieldsync-server init`.");
  }
  /* Signals are taken synchronously by this thread; block them before the
   * server's threads start so none of those receives them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  https_server *srv = NULL;
  https_server_opts so;
  memset(&so, 0, sizeof so);
  so.listen_addr = listen_addr;
  so.cert_pem_path = cert;
  so.key_pem_path = key;
  so.handler = hq_http_handle;
  so.admit = hq_http_admit;
  so.user = g_hq;
  so.per_ip_limit = (unsigned)n_ip;
  so.conn_limit = (unsigned)n_conn;
  so.timeout_s = (unsigned)n_to;
  rc = https_server_start_opts(&srv, &so);
  free(cert);
  free(key);
  if (rc) {
    fs_hq_close(g_hq);
    return cli_lib_fail(rc);
  }
  int port = https_server_port(srv);
  if (port_file) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
      https_server_stop(srv);
      fs_hq_close(g_hq);
      return cli_fail("cannot write the port file %s.", port_file);
    }
  }
  fprintf(stderr, "fieldsync-server: serving %s on port %d (server id %s)\n", listen_addr,
          port, fs_store_device_id(st));
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "fieldsync-server: %s received, finishing requests in flight\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  https_server_stop(srv);
  fs_hq_close(g_hq);
  g_hq = NULL;
  fprintf(stderr, "fieldsync-server: stopped\n");
  return CLI_OK;
}

/* ----------------------------------------------------------------- token */

static int cmd_token_create(cli_ctx *ctx, int argc, char **argv) {
  const char *manager = NULL, *days = NULL;
  const cli_opt opts[] = {{"manager", 1, &manager, NULL},
                          {"days", 1, &days, NULL},
                          {NULL, 0, NULL, NULL}};
  const cli_spec spec = {"token create",
                         "Usage: fieldsync-server token create --manager NAME [--days N] "
                         "[--json]\n\nA one-time enrollment token for a device of NAME, valid "
                         "N days (default 7).\n",
                         opts, NULL, NULL, 0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!manager) return cli_usage("token create: --manager NAME is required.");
  int64_t ttl = 0;
  if (days) {
    int64_t n;
    if (cli_parse_qty(&n, "--days", days)) return CLI_EUSAGE;
    ttl = n * 24 * 3600 * 1000;
  }
  fs_hq *hq = NULL;
  if ((rc = open_hq(ctx, &hq))) return rc;
  char *tok = NULL;
  rc = fs_hq_token_create(&tok, hq, manager, ttl);
  fs_hq_close(hq);
  if (rc) return cli_lib_fail(rc);
  if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", tok);
    cJSON_AddStringToObject(o, "manager", manager);
    cli_print_cjson(o);
    cJSON_Delete(o);
  } else {
    printf("%s\n", tok);
  }
  fs_free(tok);
  return CLI_OK;
}

static int cmd_token(cli_ctx *ctx, int argc, char **argv) {
  static const cli_sub subs[] = {{"create", cmd_token_create}, {NULL, NULL}};
  return cli_dispatch(ctx, "token",
                      "Usage: fieldsync-server token create --manager NAME [--json]\n", subs,
                      argc, argv);
}

/* --------------------------------------------------------------- devices */

static int cmd_devices(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {"devices",
                         "Usage: fieldsync-server devices [--json]\n\nEnrolled devices, "
                         "their manager, last contact and last pushed sequence.\n",
                         NULL, NULL, NULL, 0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  fs_hq *hq = NULL;
  if ((rc = open_hq(ctx, &hq))) return rc;
  char *doc = NULL;
  rc = fs_hq_devices_json(&doc, hq);
  fs_hq_close(hq);
  if (rc) return cli_lib_fail(rc);
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, doc, "the device list", &arr, &rc)) return rc;
  if (cJSON_GetArraySize(arr) == 0) {
    printf("No devices enrolled yet; create a token with `fieldsync-server token create "
           "--manager NAME`.\n");
    cJSON_Delete(arr);
    return CLI_OK;
  }
  static const char *const heads[] = {"DEVICE", "MANAGER", "ENROLLED", "LAST SEEN", "SEQ",
                                      "REVOKED"};
  cli_table *t = cli_table_new(6, heads, 1u << 4);
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    char a[64], b[128], c[32], d[32], e[32], f[32], s[32];
    cli_text(a, sizeof a, it, "id", "-");
    cli_text(b, sizeof b, it, "manager", "-");
    cli_localtime(c, sizeof c, cJSON_GetStringValue(cJSON_GetObjectItem(it, "enrolled_at")), "-");
    cli_localtime(d, sizeof d, cJSON_GetStringValue(cJSON_GetObjectItem(it, "last_seen")), "-");
    cli_text(e, sizeof e, it, "last_seq", "0");
    cli_localtime(f, sizeof f, cJSON_GetStringValue(cJSON_GetObjectItem(it, "revoked_at")), "-");
    (void)s;
    const char *cells[] = {a, b, c, d, e, f};
    cli_table_add(t, cells);
  }
  cli_table_print(t, "");
  cli_table_free(t);
  cJSON_Delete(arr);
  return CLI_OK;
}

static int cmd_revoke(cli_ctx *ctx, int argc, char **argv) {
  const char *dev = NULL;
  static const char *const names[] = {"DEVICE"};
  const cli_spec spec = {"revoke",
                         "Usage: fieldsync-server revoke DEVICE\n\nRefuses DEVICE's pushes, "
                         "pulls and re-enrollment from now on; what it sent stays.\n",
                         NULL, names, &dev, 1};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  fs_hq *hq = NULL;
  if ((rc = open_hq(ctx, &hq))) return rc;
  rc = fs_hq_revoke(hq, dev);
  fs_hq_close(hq);
  if (rc) return cli_lib_fail(rc);
  if (!ctx->json) printf("device %s revoked\n", dev);
  else printf("{\"revoked\":\"%s\"}\n", dev);
  return CLI_OK;
}

/* ---------------------------------------------------------------- import */

static int cmd_import(cli_ctx *ctx, int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  static const char *const names[] = {"KIND (products, prices or balances)", "FILE.csv"};
  const cli_spec spec = {
      "import",
      "Usage: fieldsync-server import products|prices|balances FILE.csv\n"
      "\n"
      "CSV, UTF-8, with a header row; amounts are decimals (12.50):\n"
      "  products: sku,name,unit,active   (active is 1 or 0)\n"
      "  prices:   sku,currency,price\n"
      "  balances: customer_id,currency,open,overdue\n"
      "A bad row refuses the whole file (its line number is named); nothing\n"
      "is imported from it.\n",
      NULL, names, pos, 2};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  static const char *const kinds[] = {"products", "prices", "balances", NULL};
  if (cli_parse_enum("KIND", pos[0], kinds)) return CLI_EUSAGE;
  fs_hq *hq = NULL;
  if ((rc = open_hq(ctx, &hq))) return rc;
  size_t n = 0;
  fs_hq_lock(hq);
  rc = fs_hq_import_csv(fs_hq_store(hq), pos[0], pos[1], &n);
  fs_hq_unlock(hq);
  fs_hq_close(hq);
  if (rc) return cli_lib_fail(rc);
  if (ctx->json) printf("{\"imported\":%zu,\"kind\":\"%s\"}\n", n, pos[0]);
  else printf("imported %zu %s from %s\n", n, pos[0], pos[1]);
  return CLI_OK;
}

static int cmd_assign(cli_ctx *ctx, int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  static const char *const names[] = {"CUSTOMER", "MANAGER"};
  const cli_spec spec = {"assign",
                         "Usage: fieldsync-server assign CUSTOMER MANAGER\n\nAssigns a "
                         "customer to a manager: that manager's devices receive its whole "
                         "history at their next sync.\n",
                         NULL, names, pos, 2};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  fs_hq *hq = NULL;
  if ((rc = open_hq(ctx, &hq))) return rc;
  rc = fs_hq_assign(fs_hq_store(hq), pos[0], pos[1]);
  fs_hq_close(hq);
  if (rc) return cli_lib_fail(rc);
  if (ctx->json) printf("{\"customer\":\"%s\",\"manager\":\"%s\"}\n", pos[0], pos[1]);
  else printf("customer %s assigned to %s\n", pos[0], pos[1]);
  return CLI_OK;
}

/* ---------------------------------------------------------------- report */

static int cmd_report(cli_ctx *ctx, int argc, char **argv) {
  const char *kind = NULL, *month = NULL, *by = NULL;
  int csv = 0;
  static const char *const names[] = {"REPORT (orders, meetings or pipeline)"};
  const cli_opt opts[] = {{"month", 1, &month, NULL},
                          {"by", 1, &by, NULL},
                          {"csv", 0, NULL, &csv},
                          {NULL, 0, NULL, NULL}};
  const cli_spec spec = {
      "report",
      "Usage: fieldsync-server report orders|meetings|pipeline [--month YYYY-MM]\n"
      "                               [--by manager|customer] [--csv|--json]\n"
      "\n"
      "orders:   submitted and confirmed orders, count and total per currency\n"
      "meetings: meetings by kind\n"
      "pipeline: orders by status (drafts included), per currency\n"
      "Totals are exact integer minor units per currency (--json, --csv) and\n"
      "shown as amounts with their currency in tables.\n",
      opts, names, &kind, 1};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (csv && ctx->json) return cli_usage("report: choose --csv or --json, not both.");
  static const char *const kinds[] = {"orders", "meetings", "pipeline", NULL};
  static const char *const bys[] = {"manager", "customer", NULL};
  if (cli_parse_enum("REPORT", kind, kinds)) return CLI_EUSAGE;
  if (by && cli_parse_enum("--by", by, bys)) return CLI_EUSAGE;
  fs_hq *hq = NULL;
  if ((rc = open_hq(ctx, &hq))) return rc;
  char *doc = NULL;
  rc = fs_hq_report_json(hq, kind, month, by, &doc);
  fs_hq_close(hq);
  if (rc) return cli_lib_fail(rc);
  cJSON *o = NULL;
  if (!cli_take_doc(ctx, doc, "the report", &o, &rc)) return rc;
  const cJSON *rows = cJSON_GetObjectItem(o, "rows");
  const cJSON *first = cJSON_GetArrayItem(rows, 0);
  if (csv) {
    /* the one CSV writer: text that would run as a spreadsheet formula (a
     * customer named "=HYPERLINK(...)") is neutralised there */
    cli_csv_rows(stdout, rows);
    cJSON_Delete(o);
    return CLI_OK;
  }
  /* A table: group column(s), then counts, money formatted with currency. */
  const char *heads[12];
  char headbuf[12][32];
  size_t nc = 0;
  const cJSON *f;
  unsigned right = 0;
  cJSON_ArrayForEach(f, first) {
    if (nc == 12) break;
    if (!strcmp(f->string, "currency")) continue;
    snprintf(headbuf[nc], sizeof headbuf[nc], "%s", f->string);
    for (char *p = headbuf[nc]; *p; p++) *p = (char)(*p == '_' ? ' ' : *p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    if (cJSON_IsNumber(f)) right |= 1u << nc;
    heads[nc] = headbuf[nc];
    nc++;
  }
  if (!first) {
    printf("no data%s%s\n", month ? " for " : "", month ? month : "");
    cJSON_Delete(o);
    return CLI_OK;
  }
  cli_table *t = cli_table_new(nc, heads, right);
  const cJSON *it;
  cJSON_ArrayForEach(it, rows) {
    char cellbuf[12][96];
    const char *cells[12];
    size_t i = 0;
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItem(it, "currency"));
    cJSON_ArrayForEach(f, it) {
      if (i == nc) break;
      if (!strcmp(f->string, "currency")) continue;
      if (!strcmp(f->string, "total")) cli_money(cellbuf[i], sizeof cellbuf[i], cli_int(it, "total", 0), cur);
      else cli_text(cellbuf[i], sizeof cellbuf[i], it, f->string, "-");
      cells[i] = cellbuf[i];
      i++;
    }
    cli_table_add(t, cells);
  }
  cli_table_print(t, "");
  cli_table_free(t);
  const cJSON *totals = cJSON_GetObjectItem(o, "totals");
  cJSON_ArrayForEach(it, totals) {
    char m[64];
    cli_money(m, sizeof m, cli_int(it, "total", 0),
              cJSON_GetStringValue(cJSON_GetObjectItem(it, "currency")));
    printf("total: %lld orders, %s\n", (long long)cli_int(it, "orders", 0), m);
  }
  cJSON_Delete(o);
  return CLI_OK;
}

/* ------------------------------------------- conflicts, verify-log, export */

static int view_cmd(cli_ctx *ctx, const char *view, const char *arg, char **doc) {
  fs_hq *hq = NULL;
  int rc = open_hq(ctx, &hq);
  if (rc) return rc;
  rc = fs_view_json(fs_hq_store(hq), view, arg, doc);
  fs_hq_close(hq);
  return rc ? cli_lib_fail(rc) : CLI_OK;
}

static int cmd_conflicts_server(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {"conflicts",
                         "Usage: fieldsync-server conflicts [--json]\n\nConcurrent edits "
                         "head office resolved by rule (last writer wins per column).\n",
                         NULL, NULL, NULL, 0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  char *doc = NULL;
  if ((rc = view_cmd(ctx, "conflicts", NULL, &doc))) return rc;
  cJSON *arr = NULL;
  if (!cli_take_doc(ctx, doc, "the conflict list", &arr, &rc)) return rc;
  cli_print_conflicts(arr);
  cJSON_Delete(arr);
  return CLI_OK;
}

static int cmd_verify_log(cli_ctx *ctx, int argc, char **argv) {
  const cli_spec spec = {"verify-log",
                         "Usage: fieldsync-server verify-log [--json]\n\nRe-checks every "
                         "signature and hash chain of the audit log; reports the first break "
                         "and exits non-zero.\n",
                         NULL, NULL, NULL, 0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  fs_hq *hq = NULL;
  if ((rc = open_hq(ctx, &hq))) return rc;
  int64_t n = 0;
  rc = fs_hq_verify_log(&n, hq);
  fs_hq_close(hq);
  if (rc) return cli_lib_fail(rc);
  if (ctx->json) printf("{\"verified\":%lld,\"ok\":true}\n", (long long)n);
  else printf("audit log ok: %lld envelopes verified\n", (long long)n);
  return CLI_OK;
}

static int cmd_export_server(cli_ctx *ctx, int argc, char **argv) {
  const char *manager = NULL;
  const cli_opt opts[] = {{"manager", 1, &manager, NULL}, {NULL, 0, NULL, NULL}};
  const cli_spec spec = {"export",
                         "Usage: fieldsync-server export --json [--manager NAME]\n\nEvery "
                         "synced table, rows sorted by id; with --manager, exactly what that "
                         "manager's devices hold.\n",
                         opts, NULL, NULL, 0};
  int ex, rc;
  if (cli_parse(ctx, &spec, argc, argv, &ex)) return ex;
  if (!ctx->json) return cli_usage("export: --json is required.");
  char *doc = NULL;
  if ((rc = view_cmd(ctx, manager ? "export-manager" : "export", manager, &doc))) return rc;
  rc = cli_print_json(doc);
  fs_free(doc);
  return rc;
}

typedef struct verb {
  const char *name;
  cli_handler run;
} verb;

static const verb verbs[] = {
    {"init", cmd_init_server},   {"serve", cmd_serve},
    {"token", cmd_token},        {"devices", cmd_devices},
    {"revoke", cmd_revoke},      {"import", cmd_import},
    {"assign", cmd_assign},      {"report", cmd_report},
    {"conflicts", cmd_conflicts_server}, {"verify-log", cmd_verify_log},
    {"export", cmd_export_server}, {NULL, NULL},
};

int main(int argc, char **argv) {
  cli_ctx ctx = {0};
  int i = 1;
  tzset();
  cli_progname = "fieldsync-server";
  while (i < argc && argv[i][0] == '-') {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return cli_finish(CLI_OK);
    }
    if (!strcmp(a, "--json")) {
      ctx.json = 1;
    } else if (!strcmp(a, "--home") || !strncmp(a, "--home=", 7)) {
      const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v || !*v) return cli_usage("--home needs a directory; see 'fieldsync-server --help'.");
      ctx.home = v;
    } else {
      return cli_usage("unknown option '%.40s'; see 'fieldsync-server --help'.", a);
    }
    i++;
  }
  if (i >= argc) {
    fputs(usage, stderr);
    return CLI_EUSAGE;
  }
  for (const verb *v = verbs; v->name; v++)
    if (!strcmp(v->name, argv[i])) return cli_finish(v->run(&ctx, argc - i - 1, argv + i + 1));
  return cli_usage("unknown command '%.40s'; see 'fieldsync-server --help'.", argv[i]);
}
