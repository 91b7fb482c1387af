/*
 * e2e.h — the kit the end-to-end tests share: a real `fieldsync-server`
 * started as a child process on 127.0.0.1 (port 0 or a fixed port, the port
 * read from --port-file), real device homes made with `fieldsync init` and
 * `fieldsync enroll`, and small helpers to run either program and read its
 * --json output.
 *
 * Invariants the helpers keep:
 *  - every started server is in a process-wide list; e2e_stop_all() (called
 *    at the end of main and from an atexit handler) stops whatever is still
 *    running, so a failed check never leaves a server behind.  Children also
 *    get PR_SET_PDEATHSIG so that a test killed by CTest takes them along;
 *  - a stop is SIGTERM, a bounded wait, then SIGKILL;
 *  - every wait is bounded (a hung child is a failed check, not a hung test);
 *  - the server's stderr goes to a log file in the test's temp dir, and the
 *    log is printed when a server fails to start.
 */
#ifndef FS_E2E_H
#define FS_E2E_H

#include <cjson/cJSON.h>
#include <sys/types.h>

#include "testutil.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef struct e2e_server {
  char *dir;                     /* the test's temp dir */
  char *home;                    /* DIR/NAME: the server home */
  char *log;                     /* DIR/NAME.log: the server's stderr, appended */
  char *port_file;               /* DIR/NAME.port */
  char cert[4096];               /* the certificate `init --json` printed */
  char pin[256];                 /* its "fingerprint" (sha256//...) */
  char url[64];                  /* https://127.0.0.1:PORT once started */
  int port;                      /* 0 until started */
  pid_t pid;                     /* >0 while running */
  const char *const *serve_args; /* more `serve` options, NULL-terminated */
} e2e_server;

/* `fieldsync-server --home DIR/NAME init --json` (cert and pin recorded) and
 * the head-office catalog and prices imported (CHAIR-01, DESK-02, LAMP-03 in
 * EUR; CHAIR-01 also in SEK).  NULL (after a failed check) on error. */
e2e_server *e2e_server_new(const char *dir, const char *name);
/* The same with more `init` options (NULL-terminated, up to 20), e.g.
 * ARGS("--encrypt", "--key-file", FILE). */
e2e_server *e2e_server_new_init(const char *dir, const char *name, const char *const *init_args);
/* Starts `serve --listen 127.0.0.1:PORT --port-file F` (port 0 = a free
 * one; a non-zero port is retried for a while in case it is still held).
 * Waits (bounded) for the port file.  0 on success. */
int e2e_server_start(e2e_server *s, int port);
/* SIGTERM, wait up to 15 s, then SIGKILL.  Returns the exit status (0 for a
 * clean exit), -1 if it had to be killed or was not running. */
int e2e_server_stop(e2e_server *s);
/* kill -9 and reap. */
void e2e_server_kill9(e2e_server *s);
/* Stops it if running, frees it. */
void e2e_server_free(e2e_server *s);
/* Stops every server still running (end of main, atexit). */
void e2e_stop_all(void);

/* `fieldsync --home HOME args...` / `fieldsync-server --home H args...`:
 * exit status, stdout and stderr (either may be NULL). */
int e2e_fs(const char *home, char **out, char **err, const char *const *args);
int e2e_hq(const e2e_server *s, char **out, char **err, const char *const *args);

/* The same that must exit 0 with one JSON document on stdout; the parsed
 * document, or NULL after a failed check naming `line`. */
cJSON *e2e_fs_json(int line, const char *home, const char *const *args);
cJSON *e2e_hq_json(int line, const e2e_server *s, const char *const *args);
/* Must exit 0; returns stdout (caller frees), NULL after a failed check. */
char *e2e_fs_ok(int line, const char *home, const char *const *args);
char *e2e_hq_ok(int line, const e2e_server *s, const char *const *args);

#define FS_JSON(home, ...) e2e_fs_json(__LINE__, home, ARGS(__VA_ARGS__))
#define HQ_JSON(srv, ...) e2e_hq_json(__LINE__, srv, ARGS(__VA_ARGS__))
#define FS_RUN(home, ...) free(e2e_fs_ok(__LINE__, home, ARGS(__VA_ARGS__)))
#define HQ_RUN(srv, ...) free(e2e_hq_ok(__LINE__, srv, ARGS(__VA_ARGS__)))

/* A new device home DIR/NAME: `init --manager M`, a token from the server,
 * `enroll --server URL --token T --ca CERT`.  Caller frees the path. */
char *e2e_device_new(int line, e2e_server *s, const char *dir, const char *name,
                     const char *manager);
/* Its device id (from `status --json`) into out[64]. */
void e2e_device_id(int line, const char *home, char out[64]);
/* `fieldsync sync --json` that must succeed; the stats document. */
cJSON *e2e_sync(int line, const char *home);
#define SYNC(home) cJSON_Delete(e2e_sync(__LINE__, home))
/* `--json` id of a command that prints {"id":...}, into out[64]. */
void e2e_add(int line, const char *home, char out[64], const char *const *args);
#define ADD(home, out, ...) e2e_add(__LINE__, home, out, ARGS(__VA_ARGS__))

/* `fieldsync export --json` / `fieldsync-server export --json [--manager M]`
 * (manager NULL = everything).  Caller frees. */
char *e2e_export_dev(int line, const char *home);
char *e2e_export_hq(int line, const e2e_server *s, const char *manager);
/* The device's export equals the server's export for `manager` byte for
 * byte; a mismatch is a failed check showing the first difference. */
void e2e_same_as_hq(int line, const char *home, const e2e_server *s, const char *manager);
#define SAME_AS_HQ(home, srv, mgr) e2e_same_as_hq(__LINE__, home, srv, mgr)

/* Exactly one line on stderr starting with `prefix` ("fieldsync: "). */
int e2e_one_line(const char *err, const char *prefix);

/* JSON accessors (NULL / -999999 / -1 when absent or of another type). */
const char *e2e_str(const cJSON *o, const char *key);
long long e2e_int(const cJSON *o, const char *key);
int e2e_count(const cJSON *o, const char *key);
/* Rows of `table` in an export document whose `col` equals `val` (text). */
int e2e_rows_where(const cJSON *export_doc, const char *table, const char *col, const char *val);
/* Number of distinct "id"s in an export table (duplicates show as
 * count != distinct). */
int e2e_distinct_ids(const cJSON *export_doc, const char *table);

/* A background process: argv[0] resolved like tu_run, stdout/stderr to
 * files (either may be NULL = /dev/null).  Returns its pid or -1. */
pid_t e2e_spawn(const char *const argv[], const char *out_path, const char *err_path);
/* The same with extra "NAME=value" environment entries (NULL-terminated,
 * env itself may be NULL). */
pid_t e2e_spawn_env(const char *const argv[], const char *out_path, const char *err_path,
                    const char *const *env);
/* Waits (bounded by timeout_ms, then SIGKILL) and returns the exit status,
 * or -1 when it died by a signal or had to be killed. */
int e2e_wait(pid_t pid, int timeout_ms);
void e2e_msleep(int ms);

/* Inserts n meetings for `customer` directly through the library's write
 * path on the device store (fs_device_open, one transaction, fs_insert):
 * thousands of rows in milliseconds, captured exactly like CLI writes.
 * `tag` goes into the notes.  Returns FS_OK or the library's error. */
int e2e_bulk_meetings(const char *home, const char *customer, int n, const char *tag);

/* A path DIR/NAME, caller frees. */
char *e2e_path(const char *dir, const char *name);

#endif
