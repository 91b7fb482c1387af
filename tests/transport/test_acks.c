/*
 * test_acks.c — the device's push protocol against head office's real
 * handler (fs_hq_handle on the real HTTPS front end, in process), with a
 * man in the middle that rewrites head office's acknowledgement, and with
 * deterministic fault points (fsi_util_fault, a -DFS_TEST_HOOKS=ON build) that
 * make the device "die" between receiving an answer and committing it.
 *
 * What a manager relies on: whatever head office answers, and wherever the
 * device stops, a change is at head office exactly once after the next
 * honest sync, and the device never strands itself behind a gap.  Only
 * head office's signed word clears the outbox: a man in the middle with
 * the TLS key (forging "{\"ack\":N}", or replaying a genuine signed
 * acknowledgement of another push) is refused with FS_EAUTH, and every
 * acknowledgement taken is kept as a receipt that verifies.
 */
#include <cjson/cJSON.h>
#include <fieldsync/device.h>
#include <fieldsync/server.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "hq_http.h"
#include "https.h"
#include "testutil.h"
#include "tlsgen.h"
#include <sys/stat.h>
#include "util.h"

static fs_hq *g_hq;
static fs_device *dev;
static fs_store *st; /* dev's */
static https_server *g_srv;
static char g_url[64], g_cert[4096];
static enum {
  MITM_NONE,
  MITM_WRONG_SEQ,
  MITM_GARBAGE,
  MITM_EMPTY,
  MITM_NO_ACK,
  MITM_FORGE,  /* answers {"ack":N} itself: head office never sees the push */
  MITM_REPLAY, /* head office applies it; the answer is an older signed ack */
  MITM_UNSIGN  /* head office applies it; the signature is taken out */
} g_mitm;
static int g_mitm_hits;
static char *g_last_ack; /* the last genuine acknowledgement seen */
static const char *g_devhome;

/* Head office's real answer, then (for push) the man in the middle. */
static void handler(void *user, const https_request *req, https_reply *reply) {
  if (g_mitm == MITM_FORGE && !strcmp(req->path, "/v1/push")) {
    fsi_envelope_header h;
    char txt[128];
    g_mitm_hits++;
    if (fsi_envelope_peek(&h, req->body, req->body_len) == FS_OK) {
      snprintf(txt, sizeof txt,
               "{\"ack\":%llu,\"rows\":1,\"applied\":1,\"conflicts\":0,"
               "\"refused\":[]}",
               (unsigned long long)h.seq);
      reply->status = 200;
      reply->body = (unsigned char *)strdup(txt);
      reply->body_len = strlen(txt);
    }
    return;
  }
  hq_http_handle(user, req, reply);
  if (!strcmp(req->path, "/v1/push") && reply->status == 200 && g_mitm == MITM_NONE) {
    free(g_last_ack);
    g_last_ack = strndup((const char *)reply->body, reply->body_len);
  }
  if (g_mitm == MITM_NONE || strcmp(req->path, "/v1/push") || reply->status != 200) return;
  g_mitm_hits++;
  cJSON *ack = cJSON_ParseWithLength((const char *)reply->body, reply->body_len);
  char *txt = NULL;
  if (g_mitm == MITM_WRONG_SEQ) {
    cJSON *seq = cJSON_GetObjectItemCaseSensitive(ack, "ack");
    if (cJSON_IsNumber(seq)) cJSON_SetNumberValue(seq, seq->valuedouble + 1);
    txt = cJSON_PrintUnformatted(ack);
  } else if (g_mitm == MITM_GARBAGE) {
    txt = strdup("{\"ack\":\"seven\",garbage");
  } else if (g_mitm == MITM_EMPTY) {
    txt = strdup("");
  } else if (g_mitm == MITM_REPLAY || g_mitm == MITM_UNSIGN) {
    /* a genuine signed acknowledgement, of another push (renumbered), or
     * this push's own without its signature */
    cJSON *old = g_mitm == MITM_REPLAY ? cJSON_Parse(g_last_ack ? g_last_ack : "") : NULL;
    cJSON *use = g_mitm == MITM_REPLAY ? old : ack;
    if (g_mitm == MITM_REPLAY)
      cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(old, "ack"),
                           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ack, "ack")));
    else
      cJSON_DeleteItemFromObjectCaseSensitive(ack, "sig");
    txt = cJSON_PrintUnformatted(use);
    cJSON_Delete(old);
  } else {
    cJSON_DeleteItemFromObjectCaseSensitive(ack, "ack");
    txt = cJSON_PrintUnformatted(ack);
  }
  cJSON_Delete(ack);
  free(reply->body);
  reply->body = (unsigned char *)txt;
  reply->body_len = txt ? strlen(txt) : 0;
}

static int count_at_hq(const char *name) {
  char *json = NULL;
  int n = 0;
  fs_hq_lock(g_hq);
  if (fs_view_json(&json, fs_hq_store(g_hq), "export", NULL) == FS_OK) {
    for (const char *p = json; (p = strstr(p, name)); p += strlen(name)) n++;
  }
  fs_hq_unlock(g_hq);
  fs_free(json);
  return n;
}

static void add_customer(const char *name) {
  fs_field f[] = {{"name", name}, {"country", "DE"}};
  char id[FS_ID_SIZE];
  CHECK_OK(fs_insert(id, st, "customers", f, 2));
}

static int64_t pending(void) {
  int64_t n = -1;
  fs_pending_count(&n, st);
  return n;
}

/* A tampered acknowledgement is not taken as delivery: the outbox stays,
 * the chain does not move, the next honest sync delivers exactly once. */
static void test_tampered_acks(void) {
  const char *names[] = {"Ack Wrong Seq AG", "Ack Garbage AG", "Ack Empty AG", "Ack Missing AG"};
  int modes[] = {MITM_WRONG_SEQ, MITM_GARBAGE, MITM_EMPTY, MITM_NO_ACK};
  for (int i = 0; i < 4; i++) {
    add_customer(names[i]);
    int64_t before = pending();
    CHECK(before > 0);
    g_mitm = modes[i];
    g_mitm_hits = 0;
    int rc = fs_sync(NULL, dev, NULL);
    g_mitm = MITM_NONE;
    CHECK_EQ_INT(g_mitm_hits, 1); /* the tamper happened */
    CHECK(rc != FS_OK);
    CHECK_CONTAINS(fs_errmsg(), "head office");
    CHECK_EQ_INT((int)pending(), (int)before); /* nothing taken as delivered */
    CHECK_EQ_INT(count_at_hq(names[i]), 1);    /* head office did apply it */
    CHECK_OK(fs_sync(NULL, dev, NULL));        /* honest: the same bytes again */
    CHECK_EQ_INT((int)pending(), 0);
    CHECK_EQ_INT(count_at_hq(names[i]), 1); /* once */
  }
}

static int receipts_count(void) {
  char *json = NULL;
  int n = -1;
  if (fs_receipts_json(&json, dev) == FS_OK) {
    cJSON *a = cJSON_Parse(json);
    n = cJSON_GetArraySize(a);
    cJSON_Delete(a);
  }
  fs_free(json);
  return n;
}

/* A TLS-level man in the middle (a stolen TLS key): a forged "{\"ack\":N}",
 * a genuine signed acknowledgement of an earlier push renumbered, and this
 * push's acknowledgement without its signature.  None is taken as
 * delivery (FS_EAUTH, the outbox stays, no receipt); the next honest sync
 * brings the row to head office exactly once, with a receipt. */
static void test_forged_acks(void) {
  const char *names[] = {"Forged Ack GmbH", "Replayed Ack GmbH", "Unsigned Ack GmbH"};
  int modes[] = {MITM_FORGE, MITM_REPLAY, MITM_UNSIGN};
  add_customer("Honest First GmbH");
  CHECK_OK(fs_sync(NULL, dev, NULL));
  CHECK(g_last_ack != NULL); /* an honest, signed acknowledgement */
  for (int i = 0; i < 3; i++) {
    add_customer(names[i]);
    int64_t before = pending();
    int receipts = receipts_count();
    CHECK(before > 0);
    g_mitm = modes[i];
    g_mitm_hits = 0;
    int rc = fs_sync(NULL, dev, NULL);
    g_mitm = MITM_NONE;
    CHECK_EQ_INT(g_mitm_hits, 1); /* the man in the middle answered */
    CHECK_EQ_INT(rc, FS_EAUTH);
    CHECK_CONTAINS(fs_errmsg(), "not");
    CHECK_CONTAINS(fs_errmsg(), "head office");
    CHECK_EQ_INT((int)pending(), (int)before); /* the outbox stays */
    CHECK_EQ_INT(receipts_count(), receipts);  /* no receipt for it */
    CHECK_EQ_INT(count_at_hq(names[i]), i == 0 ? 0 : 1);
    CHECK_OK(fs_sync(NULL, dev, NULL)); /* honest */
    CHECK_EQ_INT((int)pending(), 0);
    CHECK_EQ_INT(count_at_hq(names[i]), 1);
    CHECK_EQ_INT(receipts_count(), receipts + 1);
  }
  int64_t checked = 0;
  CHECK_OK(fs_receipts_verify(&checked, dev));
  CHECK(checked >= 3);
}

/* Every receipt verifies; one altered in HOME/receipts does not, and
 * verify names it. */
static void test_receipts_verify(void) {
  int64_t checked = 0;
  add_customer("Receipt One KG");
  CHECK_OK(fs_sync(NULL, dev, NULL));
  add_customer("Receipt Two KG");
  CHECK_OK(fs_sync(NULL, dev, NULL));
  CHECK_OK(fs_receipts_verify(&checked, dev));
  CHECK(checked > 0);
  char path[4300];
  snprintf(path, sizeof path, "%s/receipts", g_devhome);
  char *txt = tu_read_file(path, NULL);
  CHECK(txt != NULL);
  if (!txt) return;
  /* the refused count of the second receipt's signed text: 0 -> 9 */
  char *second = strchr(txt, '\n');
  char *at = second ? strstr(second, "\\n0\\n") : NULL;
  CHECK(at != NULL);
  if (at) {
    at[2] = '9';
    CHECK(tu_write_file(path, txt) == 0);
    CHECK_ERR(fs_receipts_verify(&checked, dev), FS_EAUTH);
    CHECK_CONTAINS(fs_errmsg(), "receipt of push 2");
    CHECK_CONTAINS(fs_errmsg(), "line 2");
    at[2] = '0';
    CHECK(tu_write_file(path, txt) == 0);
    CHECK_OK(fs_receipts_verify(&checked, dev));
  }
  free(txt);
}

#ifdef FS_TEST_HOOKS
static const char *g_fail_at;
static int g_fault_hits;
static int fault(void *user, const char *point) {
  (void)user;
  if (!g_fail_at || strcmp(point, g_fail_at)) return 0;
  g_fault_hits++;
  return 1;
}

/* The device dies after head office answered and before it committed the
 * answer (push and pull): the next sync resends or re-asks, nothing is lost
 * or doubled, and no 409 strands it. */
static void test_crash_before_commit(void) {
  const char *points[] = {"push-commit", "pull-commit"};
  for (int i = 0; i < 2; i++) {
    char name[64];
    snprintf(name, sizeof name, "Crash %s KG", points[i]);
    add_customer(name);
    /* for pull-commit, give head office something to send */
    if (i == 1) {
      fs_hq_lock(g_hq);
      fs_field f[] = {{"name", "HQ side GmbH"}, {"country", "AT"}, {"manager", "anna"}};
      char id[FS_ID_SIZE];
      CHECK_OK(fs_insert(id, fs_hq_store(g_hq), "customers", f, 3));
      fs_hq_unlock(g_hq);
    }
    g_fail_at = points[i];
    g_fault_hits = 0;
    fsi_util_set_fault(fault, NULL);
    int rc = fs_sync(NULL, dev, NULL);
    fsi_util_set_fault(NULL, NULL);
    g_fail_at = NULL;
    CHECK(g_fault_hits >= 1); /* the fault point was reached */
    CHECK(rc != FS_OK);
    CHECK_CONTAINS(fs_errmsg(), points[i]);
    CHECK_OK(fs_sync(NULL, dev, NULL));
    CHECK_EQ_INT((int)pending(), 0);
    CHECK_EQ_INT(count_at_hq(name), 1);
  }
  char *json = NULL;
  CHECK_OK(fs_view_json(&json, st, "export", NULL));
  CHECK(json && strstr(json, "HQ side GmbH"));
  fs_free(json);
}
#endif

int main(void) {
  char *dir = tu_tmpdir("acks");
  char hqhome[4200], devhome[4200], key[4300];
  snprintf(hqhome, sizeof hqhome, "%s/hq", dir);
  snprintf(devhome, sizeof devhome, "%s/anna", dir);
  g_devhome = devhome;
  mkdir(hqhome, 0700);
  CHECK_OK(fs_hq_create(hqhome));
  CHECK_OK(fs_hq_open(&g_hq, hqhome));
  snprintf(g_cert, sizeof g_cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  CHECK_OK(tlsgen_self_signed(g_cert, key, NULL, 0));
  https_server_opts so = {"127.0.0.1:0", g_cert, key, handler, hq_http_admit, g_hq, 0, 0, 0, 0};
  CHECK_OK(https_server_start_opts(&g_srv, &so));
  if (!g_srv) return tu_finish();
  snprintf(g_url, sizeof g_url, "https://127.0.0.1:%d", https_server_port(g_srv));
  char *tok = NULL;
  CHECK_OK(fs_hq_token_create(&tok, g_hq, "anna", 0));
  mkdir(devhome, 0700);
  CHECK_OK(tu_device_create(devhome, "anna", NULL));
  CHECK_OK(tu_device_open(&dev, devhome, NULL));
  st = fs_device_store(dev);
  fs_enroll_opts eo = FS_ENROLL_OPTS_INIT;
  eo.url = g_url;
  eo.token = tok;
  eo.ca = g_cert;
  if (st && tok) CHECK_OK(fs_enroll(dev, &eo));
  fs_free(tok);
  if (st) {
    CHECK_OK(fs_sync(NULL, dev, NULL));
    TEST_RUN(test_tampered_acks);
    TEST_RUN(test_forged_acks);
    TEST_RUN(test_receipts_verify);
#ifdef FS_TEST_HOOKS
    TEST_RUN(test_crash_before_commit);
#else
    printf("SKIP test_crash_before_commit: built without -DFS_TEST_HOOKS=ON\n");
#endif
  }
  fs_device_close(dev);
  free(g_last_ack);
  https_server_stop(g_srv);
  fs_hq_close(g_hq);
  tu_rmrf(dir);
  free(dir);
  return tu_finish();
}
