/*
 * passphrase.c — where `fieldsync` gets the manager's passphrase: the file
 * $FIELDSYNC_PASSPHRASE_FILE names (scripts, a systemd credential), else
 * the terminal (a prompt on stderr, no echo; twice for a new one), else one
 * line of standard input.
 *
 * Invariants: a passphrase is only ever held in one sodium_malloc'd buffer
 * (guarded, mlock'd where the system allows it), read with read(2) so no
 * stdio buffer keeps a copy, wiped and freed by cli_secret_free on every
 * path, and never printed, not even in an error.  The terminal's echo is
 * restored before any message is printed.  A passphrase file that group or
 * others can read is refused, like a key file.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define CAP (FS_PASSPHRASE_MAX + 2)

void cli_secret_free(cli_secret *s) {
  if (!s) return;
  sodium_free(s->buf); /* wipes it first */
  s->buf = NULL;
  s->len = 0;
}

static int secret_alloc(cli_secret *s) {
  s->len = 0;
  s->buf = NULL;
  if (sodium_init() < 0) return cli_fail("libsodium could not be initialised.");
  if (!(s->buf = sodium_malloc(CAP))) return cli_fail("out of memory.");
  return CLI_OK;
}

/* Trailing CR/LF off; an empty one or one with a line break inside is
 * refused with a sentence naming `from`. */
static int finish_line(cli_secret *s, const char *from) {
  while (s->len > 0 && (s->buf[s->len - 1] == '\n' || s->buf[s->len - 1] == '\r')) s->len--;
  s->buf[s->len] = '\0';
  if (s->len == 0) return cli_fail("no passphrase in %s.", from);
  if (memchr(s->buf, '\n', s->len) || memchr(s->buf, '\r', s->len) || strlen(s->buf) != s->len)
    return cli_fail("%s holds more than one line; it must hold the passphrase alone.", from);
  return CLI_OK;
}

const char *cli_passphrase_file(void) {
  const char *f = getenv("FIELDSYNC_PASSPHRASE_FILE");
  return f && *f ? f : NULL;
}

int cli_passphrase_from_file(cli_secret *out, const char *file) {
  struct stat sb;
  int rc = secret_alloc(out), fd;
  if (rc) return rc;
  if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
    rc = cli_fail("cannot read the passphrase file %s: %s.", file, strerror(errno));
    goto done;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    rc = cli_fail("the passphrase file %s is not a regular file.", file);
    goto done;
  }
  if (sb.st_mode & 077) {
    rc = cli_fail("the passphrase file %s can be read by group or others (mode %04o); run: "
                  "chmod 600 %s",
                  file, (unsigned)(sb.st_mode & 07777), file);
    goto done;
  }
  while (out->len < CAP - 1) {
    ssize_t r = read(fd, out->buf + out->len, CAP - 1 - out->len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = cli_fail("cannot read the passphrase file %s: %s.", file, strerror(errno));
      goto done;
    }
    if (r == 0) break;
    out->len += (size_t)r;
  }
  if (out->len > FS_PASSPHRASE_MAX + 1) { /* a passphrase and its newline at most */
    rc = cli_fail("the passphrase file %s holds more than %d bytes; it is not a passphrase.", file,
                  FS_PASSPHRASE_MAX);
    goto done;
  }
  rc = finish_line(out, file);
done:
  if (fd >= 0) close(fd);
  if (rc) cli_secret_free(out);
  return rc;
}

/* One line from standard input into *out, byte by byte (so that a second
 * line stays there for the next reading).  On a terminal, `prompt` goes to
 * stderr and the typing is not echoed. */
static int read_line(cli_secret *out, const char *prompt) {
  int tty = isatty(STDIN_FILENO), echo_off = 0, rc = secret_alloc(out);
  struct termios saved;
  if (rc) return rc;
  if (tty) {
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &saved) == 0) {
      struct termios quiet = saved;
      quiet.c_lflag &= ~(tcflag_t)ECHO;
      echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
  }
  for (;;) {
    char c;
    ssize_t r = read(STDIN_FILENO, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = errno;
      break;
    }
    if (r == 0 || c == '\n') break;
    if (out->len >= CAP - 1) {
      rc = -1;
      break;
    }
    out->buf[out->len++] = c;
  }
  if (echo_off) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    fputc('\n', stderr);
  }
  if (rc > 0)
    rc = cli_fail("cannot read the passphrase from standard input: %s.", strerror(rc));
  else if (rc < 0)
    rc = cli_fail("the passphrase is over %d bytes.", FS_PASSPHRASE_MAX);
  else
    rc = finish_line(out, tty ? "what was typed" : "standard input");
  if (rc) cli_secret_free(out);
  return rc;
}

int cli_passphrase_ask(cli_secret *out, const char *prompt, int twice) {
  cli_secret again = {NULL, 0};
  int rc = read_line(out, prompt);
  if (rc || !twice || !isatty(STDIN_FILENO)) return rc;
  if ((rc = read_line(&again, "Same passphrase again: "))) goto done;
  if (again.len != out->len || sodium_memcmp(again.buf, out->buf, out->len) != 0)
    rc = cli_fail("the two passphrases differ; nothing was changed.");
done:
  cli_secret_free(&again);
  if (rc) cli_secret_free(out);
  return rc;
}

int cli_passphrase(cli_secret *out, const char *prompt, int twice) {
  const char *file = cli_passphrase_file();
  if (file) return cli_passphrase_from_file(out, file);
  return cli_passphrase_ask(out, prompt, twice);
}
