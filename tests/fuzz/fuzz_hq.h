/*
 * fuzz_hq.h — what the head-office request fuzz target (fuzz_hq.c) and the
 * corpus generator (gen_corpus.c) share: the input format, the fixed
 * identities the harness enrolls, and the placeholder a seed puts where the
 * harness substitutes its enrollment token.
 *
 * Input:
 *   byte 0     flags (FUZZ_HQ_*)
 *   bytes 1-2  signed-time offset, int16 little-endian, in seconds from the
 *              harness clock (with FUZZ_HQ_SIGN)
 *   byte 3     length lie, int8 (with FUZZ_HQ_LIE): content_length is
 *              body_len + lie; -128 declares one byte over the push bound
 *   byte 4     sequence delta, int8 (with FUZZ_HQ_SEAL): the envelope is
 *              sealed with the device's next sequence + delta (127: the
 *              next sequence over a wrong previous hash, a fork)
 *   then seven '\n'-terminated fields: method, path, query, device, time,
 *   nonce, signature; everything after the seventh '\n' is the body.  An
 *   empty field (or one the input ends before) is an absent header (NULL);
 *   an absent query is "".
 */
#ifndef FS_FUZZ_HQ_H
#define FS_FUZZ_HQ_H

#include <stdint.h>

#define FUZZ_HQ_SIGN 0x01     /* the harness signs: time, nonce, signature */
#define FUZZ_HQ_DEVICE 0x02   /* device header = the signing identity's id */
#define FUZZ_HQ_ENROLLER 0x04 /* sign as the enroller (not the enrolled device) */
#define FUZZ_HQ_NO_ADMIT 0x08 /* skip fs_hq_admit: fs_hq_handle alone */
#define FUZZ_HQ_ALWAYS 0x10   /* fs_hq_handle even when fs_hq_admit refused */
#define FUZZ_HQ_LIE 0x20      /* declared length differs from the body's */
#define FUZZ_HQ_SEAL 0x40     /* body is a batch encoding: seal it as the next push */
#define FUZZ_HQ_RAW 0x80      /* with SEAL: an uncompressed batch body, framed first */

#define FUZZ_HQ_FIXED 5  /* bytes before the fields */
#define FUZZ_HQ_FIELDS 7 /* '\n'-terminated fields before the body */

/* The enrolled device (manager FUZZ_HQ_MANAGER) and a second identity whose
 * enrollment request the seeds carry; keys from fuzz_identity(tag). */
#define FUZZ_HQ_DEVICE_ID INT64_C(0x0d0c000000000001)
#define FUZZ_HQ_DEVICE_HEX "0d0c000000000001"
#define FUZZ_HQ_DEVICE_TAG 0xd1
#define FUZZ_HQ_ENROLLER_ID INT64_C(0x0e0e000000000002)
#define FUZZ_HQ_ENROLLER_HEX "0e0e000000000002"
#define FUZZ_HQ_ENROLLER_TAG 0xe2
#define FUZZ_HQ_MANAGER "anna"

/* Replaced in an enrollment body by the harness's token (same length). */
#define FUZZ_HQ_TOKEN_SLOT "fst-@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@"

#endif
