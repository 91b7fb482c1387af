/*
 * testutil.h — the small assertion kit every fieldsync test program uses.
 *
 * A test program is a main() calling TEST_RUN(fn) for each case; a failed
 * CHECK prints file:line and the expression (and fs_errmsg() for the FS_OK
 * checks), marks the case failed and continues with the next check.  The
 * program exits non-zero when any check failed, so CTest reports it.
 *
 * One case alone: with $FS_TEST_CASE set, TEST_RUN runs only the case of
 * that name (the function's name, "test_" prefix optional) and tu_finish
 * fails when no case had it, so a misspelt or removed case never passes.
 * CTest registers every case of a program as <program>.<case> (the
 * TEST_RUN lines of its source, read by fs_test() in tests/CMakeLists.txt)
 * and sets the variable, so `ctest -R test_merge.idempotent` runs one case;
 * by hand: FS_TEST_CASE=idempotent tests/test_merge.  A case run that way
 * must not rely on an earlier case of its program.
 *
 * Encrypted homes: before main() runs, every test program sets
 * FS_TEST_WEAK_KDF=1 (the library's test builds then stretch passphrases
 * with libsodium's minimum Argon2id cost, so hundreds of homes stay cheap)
 * and FIELDSYNC_PASSPHRASE_FILE to a 0600 file holding TU_PASSPHRASE,
 * unless the environment already has them; the `fieldsync` commands the
 * tests run inherit both, so every command opens its encrypted store with
 * that passphrase.  The file is removed when the program exits.
 */
#ifndef FS_TESTUTIL_H
#define FS_TESTUTIL_H

#include <fieldsync/device.h>
#include <fieldsync/fieldsync.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int tu_failed;
extern int tu_checks;
extern const char *tu_case;

void tu_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    tu_checks++;                                                                                   \
    if (!(cond)) tu_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                  \
  } while (0)

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    int tu_rc_ = (expr);                                                                           \
    tu_checks++;                                                                                   \
    if (tu_rc_ != FS_OK) tu_fail(__FILE__, __LINE__, "%s = %d (%s)", #expr, tu_rc_, fs_errmsg());  \
  } while (0)

#define CHECK_ERR(expr, code)                                                                      \
  do {                                                                                             \
    int tu_rc_ = (expr);                                                                           \
    tu_checks++;                                                                                   \
    if (tu_rc_ != (code))                                                                          \
      tu_fail(__FILE__, __LINE__, "%s = %d, expected %s (%d); msg: %s", #expr, tu_rc_, #code,      \
              (int)(code), fs_errmsg());                                                           \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
  do {                                                                                             \
    long long tu_a_ = (long long)(a), tu_b_ = (long long)(b);                                      \
    tu_checks++;                                                                                   \
    if (tu_a_ != tu_b_)                                                                            \
      tu_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, tu_a_, tu_b_);                 \
  } while (0)

#define CHECK_STR(a, b)                                                                            \
  do {                                                                                             \
    const char *tu_a_ = (a), *tu_b_ = (b);                                                         \
    tu_checks++;                                                                                   \
    if (!tu_a_ || !tu_b_ || strcmp(tu_a_, tu_b_) != 0)                                             \
      tu_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, tu_a_ ? tu_a_ : "(null)",  \
              tu_b_ ? tu_b_ : "(null)");                                                           \
  } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
  do {                                                                                             \
    const char *tu_h_ = (hay), *tu_n_ = (needle);                                                  \
    tu_checks++;                                                                                   \
    if (!tu_h_ || !strstr(tu_h_, tu_n_))                                                           \
      tu_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, tu_n_,                   \
              tu_h_ ? tu_h_ : "(null)");                                                           \
  } while (0)

/* Whether the case named `fn` runs: always, unless $FS_TEST_CASE names
 * another one.  Counts the cases it let through. */
int tu_selected(const char *fn);

#define TEST_RUN(fn)                                                                               \
  do {                                                                                             \
    if (tu_selected(#fn)) {                                                                        \
      tu_case = #fn;                                                                               \
      fn();                                                                                        \
    }                                                                                              \
  } while (0)

/* Prints the summary line and returns the exit status for main(): non-zero
 * when a check failed, or when $FS_TEST_CASE named no case of the program. */
int tu_finish(void);

/* A fresh empty directory under $TMPDIR (or /tmp); caller frees the path.
 * tu_rmrf removes a tree (used at the end of a test). */
char *tu_tmpdir(const char *tag);
void tu_rmrf(const char *path);

/* Whole file into a NUL-terminated malloc'd buffer (NULL if unreadable). */
char *tu_read_file(const char *path, size_t *len_out);
int tu_write_file(const char *path, const char *text);

/* A monotonic clock in milliseconds, for bounded waits in tests. */
long long tu_now_ms(void);

/* Runs argv (argv[0] is looked up relative to $FS_BIN_DIR when it has no
 * slash), captures stdout and stderr into malloc'd strings (either out may
 * be NULL) and returns the exit status (or -1 if it could not run). */
int tu_run(char **out, char **err, const char *const argv[]);
/* The same with standard input read from the file in_path (NULL =
 * /dev/null, as tu_run). */
int tu_run_in(char **out, char **err, const char *in_path, const char *const argv[]);

/* The passphrase of every home the tests make (and the file's contents). */
#define TU_PASSPHRASE "fieldsync test passphrase"

/* fs_device_create with TU_PASSPHRASE (schema NULL = field-sales), the
 * device closed again; fs_device_open + fs_device_unlock with it. */
int tu_device_create(const char *home, const char *manager, const fs_schema *schema);
int tu_device_open(fs_device **out, const char *home, const fs_schema *schema);

/* The passphrase file the constructor made ("" when the environment had
 * one already). */
const char *tu_passphrase_file(void);

#endif
