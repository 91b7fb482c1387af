/*
 * util.h — error reporting and small helpers shared by every module.
 *
 * The library reports failures as a negative fs_err code plus a sentence
 * kept per thread (fs_errmsg()).  fsi_fail() is the one way to set it, at the
 * place where the failure happens, so the message can name what failed.
 */
#ifndef FS_UTIL_H
#define FS_UTIL_H

#include <fieldsync/fieldsync.h>
#include <stddef.h>
#include <stdint.h>

/* Sets the thread's error message and returns code (for `return fsi_fail()`). */
int fsi_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the thread's error message. */
void fsi_clear_error(void);

/* 1 when s[0..n) is valid UTF-8 with no NUL byte. */
int fsi_util_utf8_valid(const char *s, size_t n);

/* Strict decimal int64 parse of the whole string (no spaces, no junk). */
int fsi_util_parse_i64(const char *s, int64_t *out);

/* Wall clock in milliseconds since the epoch.  Tests may pin it with the
 * FIELDSYNC_TEST_NOW_MS environment variable, or drive it with
 * fsi_util_set_clock; in a test build (FS_TEST_HOOKS) the environment
 * variable FIELDSYNC_TEST_CLOCK_OFFSET_MS sets the clock that many
 * milliseconds off while it keeps running (a machine whose clock is wrong). */
int64_t fsi_util_now_ms(void);

/* For messages a person reads: a time as "2026-03-14 09:26 UTC" and a
 * length of time as "61 minutes", "2 days 4 hours" or "45 seconds" (the
 * sign is dropped: the sentence says ahead or behind). */
void fsi_util_date(char out[32], int64_t ms);
void fsi_util_duration(char out[48], int64_t ms);

/* Test hook: while fn is set, fsi_util_now_ms() returns fn(user) instead of
 * reading the wall clock (or the environment), so a property test can drive
 * time from its seed and replay a run exactly.  fsi_util_set_clock(NULL, NULL)
 * restores the wall clock.  Process-wide and unsynchronised: a test sets it
 * from its one thread before using any store.  The library never calls it. */
void fsi_util_set_clock(int64_t (*fn)(void *user), void *user);

/* Deterministic fault points for the tests (a test build configured with
 * -DFS_TEST_HOOKS=ON): fsi_util_fault("push-commit") returns nonzero when the
 * hook the test set says this point fails; the caller then behaves as if
 * the process died there (it rolls back what it had not committed and
 * returns an error).  In other builds fsi_util_fault is the constant 0. */
#ifdef FS_TEST_HOOKS
int fsi_util_fault(const char *point);
void fsi_util_set_fault(int (*fn)(void *user, const char *point), void *user);
#else
#define fsi_util_fault(point) 0
#endif

/* Planted bugs for the mutation test (tests/mutants/): in a build
 * configured with -DFS_MUTANTS=ON, FS_MUT(n) is true when the environment
 * variable FS_MUTANT equals n, so one build carries every mutant and a run
 * selects one.  In every other build FS_MUT(n) is the constant 0 and the
 * mutated branch is compiled away.  The list is tests/mutants/mutants.txt. */
#ifdef FS_MUTANTS
int util_mutant(int n);
#define FS_MUT(n) util_mutant(n)
#else
#define FS_MUT(n) 0
#endif

/* Canonical lowercase UUID text check (8-4-4-4-12 hex). */
int fsi_util_is_uuid(const char *s);

#endif
