/*
 * clitest.h — the device command run as a person runs it, for the CLI
 * tests (tests/cli/): `fieldsync --home HOME ...` through the real binary,
 * with the checks every such test makes: a refused command prints one
 * "fieldsync: " line, nothing on stdout, and changes nothing (its export
 * is byte for byte the same before and after); a --json command prints one
 * JSON document.
 *
 * ct_home is the home the macros run in; a test sets it (tu_tmpdir) and
 * frees it.
 */
#ifndef FS_CLITEST_H
#define FS_CLITEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

extern char *ct_home;

/* `fieldsync [--home HOME] args...` (args NULL-terminated): exit status,
 * stdout and stderr (caller frees). */
int ct_run_in(const char *home, char **out, char **err, const char *const *args);
/* Exactly one line, "fieldsync: " first, newline last. */
int ct_one_line(const char *err);
/* stdout that is exactly one JSON document (and whitespace), or NULL. */
cJSON *ct_json_doc(const char *out);
/* `export --json` of home (caller frees; NULL after a failed check). */
char *ct_export(const char *home);
/* A command that must fail with one line (saying `needle`, when not NULL),
 * print nothing on stdout and change nothing; want_rc 0 = any failure. */
void ct_refused_at(const char *file, int line, int want_rc, const char *needle,
                   const char *const *args);
/* A --json command that must succeed: its document (caller deletes). */
cJSON *ct_ok_json_at(const char *file, int line, const char *const *args);
/* A command that must succeed: its stdout (caller frees). */
char *ct_ok_text_at(const char *file, int line, const char *const *args);
/* The "id" of a {"id":...} document into buf; deletes doc. */
void ct_take_id(char *buf, size_t cap, cJSON *doc);

/* Members of a JSON object: NULL, -999999 or -1 when missing. */
const char *str_of(const cJSON *o, const char *key);
long long int_of(const cJSON *o, const char *key);
int count_of(const cJSON *o, const char *key);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define RUN(out, err, ...) ct_run_in(ct_home, out, err, ARGS(__VA_ARGS__))
#define REFUSED(rc, ...) ct_refused_at(__FILE__, __LINE__, rc, NULL, ARGS(__VA_ARGS__))
#define REFUSED_SAYING(rc, needle, ...)                                                            \
  ct_refused_at(__FILE__, __LINE__, rc, needle, ARGS(__VA_ARGS__))
#define OK_JSON(...) ct_ok_json_at(__FILE__, __LINE__, ARGS(__VA_ARGS__))
#define OK_TEXT(...) ct_ok_text_at(__FILE__, __LINE__, ARGS(__VA_ARGS__))
#define take_id ct_take_id

#endif
