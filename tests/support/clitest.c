/*
 * clitest.c — the device command run as a person runs it (clitest.h).
 */
#include "clitest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

char *ct_home;

int ct_run_in(const char *home, char **out, char **err, const char *const *args) {
  const char *argv[64];
  size_t n = 0;
  argv[n++] = "fieldsync";
  if (home) {
    argv[n++] = "--home";
    argv[n++] = home;
  }
  for (size_t i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return tu_run(out, err, argv);
}

int ct_one_line(const char *err) {
  size_t n = err ? strlen(err) : 0;
  if (n < 13 || strncmp(err, "fieldsync: ", 11) != 0 || err[n - 1] != '\n') return 0;
  return memchr(err, '\n', n - 1) == NULL;
}

cJSON *ct_json_doc(const char *out) {
  const char *end = NULL;
  return out ? cJSON_ParseWithOpts(out, &end, 1) : NULL;
}

char *ct_export(const char *home) {
  char *out = NULL, *err = NULL;
  int rc = ct_run_in(home, &out, &err, ARGS("export", "--json"));
  CHECK_EQ_INT(rc, 0);
  if (rc != 0) fprintf(stderr, "export failed: %s", err ? err : "");
  free(err);
  return out;
}

void ct_refused_at(const char *file, int line, int want_rc, const char *needle,
                   const char *const *args) {
  char *before = ct_export(ct_home), *after = NULL, *out = NULL, *err = NULL, what[256] = "";
  size_t wn = 0;
  for (size_t i = 0; args[i] && wn < sizeof what - 1; i++)
    wn += (size_t)snprintf(what + wn, sizeof what - wn, "%s%.30s", i ? " " : "", args[i]);
  int rc = ct_run_in(ct_home, &out, &err, args);
  after = ct_export(ct_home);
  tu_checks += needle ? 5 : 4;
  if (want_rc ? rc != want_rc : rc <= 0)
    tu_fail(file, line, "[%s] exit %d, expected %s%d", what, rc, want_rc ? "" : "non-zero, not ",
            want_rc);
  if (!out || *out) tu_fail(file, line, "[%s] printed on stdout: %s", what, out ? out : "(null)");
  if (!ct_one_line(err))
    tu_fail(file, line, "[%s] stderr is not one 'fieldsync: ' line: \"%s\"", what,
            err ? err : "(null)");
  if (needle && (!err || !strstr(err, needle)))
    tu_fail(file, line, "[%s] \"%s\" does not say \"%s\"", what, err ? err : "", needle);
  if (!before || !after || strcmp(before, after) != 0)
    tu_fail(file, line, "[%s] changed the store", what);
  free(before);
  free(after);
  free(out);
  free(err);
}

cJSON *ct_ok_json_at(const char *file, int line, const char *const *args) {
  char *out = NULL, *err = NULL;
  int rc = ct_run_in(ct_home, &out, &err, args);
  cJSON *doc = rc == 0 ? ct_json_doc(out) : NULL;
  tu_checks += 2;
  if (rc != 0)
    tu_fail(file, line, "exit %d: %s", rc, err ? err : "");
  else if (!doc)
    tu_fail(file, line, "stdout is not one JSON document: %s", out ? out : "");
  free(out);
  free(err);
  return doc;
}

char *ct_ok_text_at(const char *file, int line, const char *const *args) {
  char *out = NULL, *err = NULL;
  int rc = ct_run_in(ct_home, &out, &err, args);
  tu_checks++;
  if (rc != 0) tu_fail(file, line, "exit %d: %s", rc, err ? err : "");
  free(err);
  return out;
}

void ct_take_id(char *buf, size_t cap, cJSON *doc) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
  CHECK(cJSON_IsString(id) && strlen(id->valuestring) == 36);
  snprintf(buf, cap, "%s", cJSON_IsString(id) ? id->valuestring : "");
  cJSON_Delete(doc);
}

const char *str_of(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long int_of(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? (long long)v->valuedouble : -999999;
}

int count_of(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}
