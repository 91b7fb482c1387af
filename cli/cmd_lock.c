/*
 * cmd_lock.c — `fieldsync unlock`, `fieldsync lock` and `fieldsync passwd`.
 *
 * A device's store is encrypted under a data key that the manager's
 * passphrase unwraps.  `unlock` asks the passphrase once and leaves the
 * data key in the login session's kernel keyring for a bounded time
 * (fs_device_cache_key; 8 hours unless --for says otherwise), so every later
 * command of the session opens the store without asking (cli_open).  `lock`
 * removes the cached key at once; `passwd` wraps the same data key under a
 * new passphrase, so the store is not rewritten and a cached key stays good.
 * `unlock --recover` is the forgotten passphrase: head office's one-time
 * code and a new passphrase (fs_device_recover).  The passphrases and the
 * code are read into sodium_malloc'd buffers and never printed.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* "90s", "45m", "2h", "1d" (a bare number is seconds) -> seconds. */
static int parse_duration(int64_t *out, const char *text) {
  char *end = NULL;
  long long n = strtoll(text, &end, 10);
  int64_t unit = 1;
  if (end == text || n <= 0) goto bad;
  if (*end == 'm')
    unit = 60;
  else if (*end == 'h')
    unit = 3600;
  else if (*end == 'd')
    unit = 86400;
  else if (*end != 's' && *end != '\0')
    goto bad;
  if (*end && end[1]) goto bad;
  if (n > FS_KEY_CACHE_MAX_S / unit)
    return cli_usage("--for %s is longer than the %d days a key may be cached.", text,
                     FS_KEY_CACHE_MAX_S / 86400);
  *out = n * unit;
  return CLI_OK;
bad:
  return cli_usage("--for takes a time such as 90s, 45m, 2h or 1d, not '%.40s'.", text);
}

/* "8h", "2h 30m", "45m", "20s" of a number of seconds into buf. */
static const char *duration_text(char *buf, size_t cap, int64_t s) {
  if (s % 3600 == 0)
    snprintf(buf, cap, "%lldh", (long long)(s / 3600));
  else if (s >= 3600)
    snprintf(buf, cap, "%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else if (s % 60 == 0)
    snprintf(buf, cap, "%lldm", (long long)(s / 60));
  else
    snprintf(buf, cap, "%llds", (long long)s);
  return buf;
}

/* ------------------------------------------------------------ unlock */

static const char unlock_usage[] =
    "Usage: fieldsync unlock [--for DURATION] [--home DIR] [--json]\n"
    "       fieldsync unlock --recover [--new-file FILE] [--for DURATION] [--json]\n"
    "\n"
    "Asks the passphrase once and keeps this device's unlocked key in the\n"
    "login session's kernel keyring, so the commands that follow in this\n"
    "session need no passphrase.  The key is forgotten by the kernel when the\n"
    "time is up (default 8h, at most 7d), at `fieldsync lock`, or when the\n"
    "session ends.  Other users, and processes outside this session, cannot\n"
    "read it.\n"
    "\n"
    "The passphrase is read from the terminal without echo, else from one line\n"
    "of standard input, or from the file $FIELDSYNC_PASSPHRASE_FILE names.\n"
    "\n"
    "An enrolled device unlocks only while its offline lease from head office\n"
    "holds (renewed by every sync; 14 days unless head office set otherwise).\n"
    "When it ran out, unlock asks head office for a new one over the network\n"
    "and refuses when it cannot get one.\n"

    "Forgot the passphrase?  Call head office: once staff have checked who you\n"
    "are, they approve a recovery of this laptop and read you a one-time code.\n"
    "`unlock --recover` (network needed) asks that code, then a new passphrase\n"
    "(twice on a terminal), gets the key back from head office and wraps it\n"
    "under the new passphrase.  Without head office's approval nothing changes.\n"
    "The code comes from the terminal, else the file\n"
    "$FIELDSYNC_RECOVERY_CODE_FILE names, else the first line of standard\n"
    "input; the new passphrase from --new-file FILE, else the file\n"
    "$FIELDSYNC_PASSPHRASE_FILE names, else the terminal or the next line of\n"
    "standard input.\n"
    "\n"
    "  --for DURATION  how long the key stays cached: 90s, 45m, 2h, 1d\n"
    "  --recover       recover a forgotten passphrase with head office's code\n"
    "  --new-file FILE with --recover: the new passphrase, one line (mode 0600)\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"device_id\",\"seconds\",\"expires\"} (and\n"
    "                  \"recovered\":true with --recover; seconds 0 and expires\n"
    "                  null when the keyring could not keep the key)\n"
    "\n"
    "Examples:\n"
    "  fieldsync unlock\n"
    "  fieldsync unlock --for 2h\n"
    "  fieldsync unlock --recover\n"
    "  printf '%s\\n%s\\n' \"$CODE\" \"$NEW\" | fieldsync unlock --recover\n";

/* The recovery code: $FIELDSYNC_RECOVERY_CODE_FILE, else one line of
 * standard input (a prompt on stderr on a terminal; the code is shown as
 * typed, it is read from a phone call).  Kept like a passphrase. */
static int recovery_code(cli_secret *out) {
  const char *file = getenv("FIELDSYNC_RECOVERY_CODE_FILE");
  if (file && *file) {
    int rc = cli_passphrase_from_file(out, file);
    if (rc) return rc;
  } else {
    if (isatty(STDIN_FILENO)) {
      fputs("Recovery code from head office: ", stderr);
      fflush(stderr);
    }
    if (sodium_init() < 0 || !(out->buf = sodium_malloc(128))) return cli_fail("out of memory.");
    out->len = 0;
    for (;;) {
      char c;
      ssize_t r = read(STDIN_FILENO, &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || c == '\n') break;
      if (out->len >= 126) {
        cli_secret_free(out);
        return cli_fail("the recovery code is too long; it has 32 characters.");
      }
      out->buf[out->len++] = c;
    }
    while (out->len && (out->buf[out->len - 1] == '\r' || out->buf[out->len - 1] == ' '))
      out->len--;
    out->buf[out->len] = '\0';
  }
  if (out->len == 0) {
    cli_secret_free(out);
    return cli_fail("no recovery code given; head office reads it to you once it approves the "
                    "recovery (`fieldsync-server recover DEVICE`).");
  }
  return CLI_OK;
}

/* `unlock --recover`: the code, the new passphrase, head office. */
static int unlock_recover(fs_device *dev, const char *new_file) {
  cli_secret code = {NULL, 0}, pass = {NULL, 0};
  int rc = recovery_code(&code);
  if (rc) return rc;
  const char *env = cli_passphrase_file();
  if (new_file)
    rc = cli_passphrase_from_file(&pass, new_file);
  else if (env)
    rc = cli_passphrase_from_file(&pass, env);
  else
    rc = cli_passphrase_ask(&pass, "New passphrase (10+ characters): ", 1);
  if (rc == CLI_OK) {
    fs_recover_opts ro = FS_RECOVER_OPTS_INIT;
    ro.code = code.buf;
    ro.new_passphrase = pass.buf;
    ro.new_passphrase_len = pass.len;
    int lrc = fs_device_recover(dev, &ro);
    if (lrc != FS_OK) rc = cli_lib_fail(lrc);
  }
  cli_secret_free(&code);
  cli_secret_free(&pass);
  return rc;
}

int cmd_unlock(cli_ctx *ctx, int argc, char **argv) {
  const char *for_text = NULL, *new_file = NULL;
  int recover = 0;
  const cli_opt opts[] = {{"for", 1, &for_text, NULL},
                          {"recover", 0, NULL, &recover},
                          {"new-file", 1, &new_file, NULL},
                          {NULL, 0, NULL, NULL}};
  cli_spec spec = {"unlock", unlock_usage, opts, NULL, NULL, 0};
  fs_device *dev = NULL;
  cli_secret pass = {NULL, 0};
  int64_t seconds = FS_KEY_CACHE_DEFAULT_S;
  int rc, lrc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if (for_text && (rc = parse_duration(&seconds, for_text))) return rc;
  if (new_file && !recover) return cli_usage("unlock: --new-file goes with --recover.");
  if ((rc = cli_open_locked(ctx, &dev)) != CLI_OK) return rc;
  if (recover) {
    if ((rc = unlock_recover(dev, new_file)) != CLI_OK) goto done;
    lrc = FS_OK;
  } else {
    if ((rc = cli_passphrase(&pass, "Passphrase: ", 0)) != CLI_OK) goto done;
    fs_unlock_opts uo = FS_UNLOCK_OPTS_INIT;
    uo.passphrase = pass.buf;
    uo.passphrase_len = pass.len;
    uo.renew_lease = 1; /* a lease that ran out is renewed online, or unlock is refused */
    lrc = fs_device_unlock(dev, &uo);
    cli_secret_free(&pass);
  }
  if (lrc == FS_OK) lrc = fs_device_cache_key(dev, seconds);
  if (lrc != FS_OK && recover && !fs_device_locked(dev)) {
    /* the recovery is done and the new passphrase in place: a keyring
     * that refuses only means the next command asks for it */
    seconds = 0;
    lrc = FS_OK;
  }
  if (lrc != FS_OK) {
    rc = cli_lib_fail(lrc);
    if (lrc == FS_EWIPED) rc = CLI_EWIPED;
    goto done;
  }
  char expires[32], dur[32];
  fs_time_format(expires, ((int64_t)time(NULL) + seconds) * 1000);
  if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "device_id", fs_device_id(dev)) ||
        !cJSON_AddNumberToObject(o, "seconds", (double)seconds) ||
        (seconds ? !cJSON_AddStringToObject(o, "expires", expires)
                 : !cJSON_AddNullToObject(o, "expires")) ||
        (recover && !cJSON_AddTrueToObject(o, "recovered")))
      rc = cli_fail("out of memory.");
    else
      rc = cli_print_cjson(o);
    cJSON_Delete(o);
  } else {
    if (recover)
      printf("recovered device %s with head office's approval: the new passphrase unlocks it "
             "from now on, the old one no longer does\n",
             fs_device_id(dev));
    if (seconds)
      printf("unlocked device %s for this session for %s; `fieldsync lock` locks it now\n",
             fs_device_id(dev), duration_text(dur, sizeof dur, seconds));
    else
      printf("the session's keyring could not keep the key, so the next command asks for the "
             "new passphrase\n");
  }
done:
  fs_device_close(dev);
  return rc;
}

/* -------------------------------------------------------------- lock */

static const char lock_usage[] =
    "Usage: fieldsync lock [--home DIR] [--json]\n"
    "\n"
    "Removes this device's unlocked key from the session's keyring at once:\n"
    "from then on every command needs the passphrase again (`fieldsync\n"
    "unlock`).  Nothing in the store changes.  Locking a locked device is fine.\n"
    "\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"device_id\",\"locked\":true}\n"
    "\n"
    "Example:\n"
    "  fieldsync lock\n";

int cmd_lock(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt opts[] = {{NULL, 0, NULL, NULL}};
  cli_spec spec = {"lock", lock_usage, opts, NULL, NULL, 0};
  fs_device *dev = NULL;
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = cli_open_locked(ctx, &dev)) != CLI_OK) return rc;
  int lrc = fs_device_forget_key(dev);
  if (lrc != FS_OK) {
    rc = cli_lib_fail(lrc);
  } else if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "device_id", fs_device_id(dev)) ||
        !cJSON_AddTrueToObject(o, "locked"))
      rc = cli_fail("out of memory.");
    else
      rc = cli_print_cjson(o);
    cJSON_Delete(o);
  } else {
    printf("locked device %s: the next command needs the passphrase\n", fs_device_id(dev));
  }
  fs_device_close(dev);
  return rc;
}

/* ------------------------------------------------------------ passwd */

static const char passwd_usage[] =
    "Usage: fieldsync passwd [--new-file FILE] [--home DIR] [--json]\n"
    "\n"
    "Changes the passphrase that unlocks this device.  The store is not\n"
    "re-encrypted: its key is wrapped again under the new passphrase, and the\n"
    "old one stops working at once.  A key cached by `fieldsync unlock` stays\n"
    "cached.\n"
    "\n"
    "On a terminal it asks the current passphrase, then the new one twice\n"
    "(at least 10 characters).  A script gives the current one in the file\n"
    "$FIELDSYNC_PASSPHRASE_FILE names or as the first line of standard input,\n"
    "and the new one in --new-file FILE or as the next line of standard input.\n"
    "\n"
    "  --new-file FILE the new passphrase, one line (mode 0600)\n"
    "  --home DIR      the store directory\n"
    "  --json          print {\"device_id\",\"changed\":true}\n"
    "\n"
    "Examples:\n"
    "  fieldsync passwd\n"
    "  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | fieldsync passwd\n";

int cmd_passwd(cli_ctx *ctx, int argc, char **argv) {
  const char *new_file = NULL;
  const cli_opt opts[] = {{"new-file", 1, &new_file, NULL}, {NULL, 0, NULL, NULL}};
  cli_spec spec = {"passwd", passwd_usage, opts, NULL, NULL, 0};
  fs_device *dev = NULL;
  cli_secret old = {NULL, 0}, new_ = {NULL, 0};
  int rc;
  if (cli_parse(ctx, &spec, argc, argv, &rc)) return rc;
  if ((rc = cli_open_locked(ctx, &dev)) != CLI_OK) return rc;
  if ((rc = cli_passphrase(&old, "Current passphrase: ", 0)) != CLI_OK) goto done;
  rc = new_file ? cli_passphrase_from_file(&new_, new_file)
                : cli_passphrase_ask(&new_, "New passphrase (10+ characters): ", 1);
  if (rc != CLI_OK) goto done;
  int lrc = fs_device_change_passphrase(dev, old.buf, old.len, new_.buf, new_.len);
  if (lrc != FS_OK) {
    rc = cli_lib_fail(lrc);
  } else if (ctx->json) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "device_id", fs_device_id(dev)) ||
        !cJSON_AddTrueToObject(o, "changed"))
      rc = cli_fail("out of memory.");
    else
      rc = cli_print_cjson(o);
    cJSON_Delete(o);
  } else {
    printf("passphrase of device %s changed; the old one no longer unlocks it\n",
           fs_device_id(dev));
  }
done:
  cli_secret_free(&old);
  cli_secret_free(&new_);
  fs_device_close(dev);
  return rc;
}
