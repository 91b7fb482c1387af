/*
 * crypt.c — the encrypted store: an SQLite VFS shim that encrypts and
 * authenticates every page of a store file and every frame of its
 * write-ahead log with XChaCha20-Poly1305 (libsodium), under one 256-bit
 * data key per store.
 *
 * Each encrypted store gets a VFS of its own (registered under a unique
 * name for the life of the handle, over SQLite's default VFS), so the key
 * travels with the VFS and never through a file name or a pragma.
 *
 * Layout.  Pages are 4096 bytes and the store declares 40 reserved bytes
 * per page (SQLITE_FCNTL_RESERVE_BYTES before its first write), which
 * SQLite leaves alone.  On disk:
 *  - store file, page N at (N-1)*4096: the first 4056 bytes encrypted, then
 *    the 24-byte nonce, then the 16-byte tag; associated data "FSp1" and N
 *    (big-endian u64).  Page 1 is encrypted like any other page, its
 *    "SQLite format 3" header included, so the file is ciphertext from its
 *    first byte.
 *  - WAL: the 32-byte WAL header as SQLite wrote it (magic, page size,
 *    checkpoint sequence, salts, its checksum: no row data), then frames of
 *    24 + 4096 bytes.  A frame is sealed whole: its 24-byte frame header
 *    (page number, commit size, salts, the checksums SQLite computes over
 *    the page's plaintext) and the first 4056 bytes of the page are
 *    encrypted together, the nonce and tag in the page's reserved bytes;
 *    associated data "FSw1" and the frame's offset in the WAL.
 * A fresh random nonce is drawn for every write of a page or frame.
 *
 * Invariants.
 *  - Nothing the shim writes is plaintext but the WAL header.  Files other
 *    than the store and its WAL (rollback journals, temporary files) are
 *    refused at open (SQLITE_CANTOPEN): the store never needs them (it is
 *    created without a journal straight into WAL mode and keeps
 *    temp_store=MEMORY), and a path that did would fail loudly rather than
 *    write in the clear.
 *  - A page or frame that fails authentication is never returned: the read
 *    fails with SQLITE_IOERR_DATA and the failure is remembered for the
 *    store's error message (fsi_crypt_damage).  One exception, the WAL's
 *    own rule: while SQLite recovers the WAL (it holds the recover lock), a
 *    frame that fails authentication reads as an invalid frame, so the log
 *    ends before it, exactly as SQLite ends it at a frame whose checksum is
 *    wrong (a frame torn by a crash).  Nothing of that frame or after it is
 *    applied.
 *  - SQLite's pages in memory have zero reserved bytes (the shim zeroes
 *    them on every read; new pages are zeroed by SQLite), so the frame
 *    checksums SQLite computes on write are the ones it recomputes on
 *    recovery.  A WAL write whose reserved bytes are not zero is refused.
 *  - SQLite writes a frame as its header and then its body (two writes);
 *    the shim holds the header until the body arrives and writes the
 *    sealed frame once.  A header written right after SQLite read that
 *    whole frame (rewriting the checksums of frames of the transaction it
 *    commits) re-seals the frame with its body at once; a body written
 *    alone (a page rewritten in the same transaction) re-seals it with the
 *    header in the file.  Nothing stays held once SQLite's call returns.
 *  - Memory-mapped I/O is off for encrypted files (xFetch maps nothing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "storeInt.h"
#include "util.h"

#define PG FSI_CRYPT_PAGE
#define NB crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TB crypto_aead_xchacha20poly1305_ietf_ABYTES
#define RES (NB + TB)
#define USABLE (PG - RES)
#define WAL_HDR 32
#define FRAME_HDR 24
#define FRAME (FRAME_HDR + PG)
#define FRAME_PT (FRAME - RES) /* a frame's sealed bytes: header + usable page */

/* SQLite's wal-index lock slots (the WAL file format): 0 write, 1
 * checkpoint, 2 recover, 3.. readers.  Recovery holds slot 2 exclusively. */
#define SHM_RECOVER_SLOT 2

_Static_assert(RES == FSI_CRYPT_RESERVE, "nonce + tag fill the reserved bytes");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == FSI_CRYPT_KEYBYTES, "key size");

enum { KIND_DB = 1, KIND_WAL = 2 };

struct fsi_crypt {
  sqlite3_vfs vfs; /* first: SQLite hands it back to the methods */
  sqlite3_vfs *base;
  unsigned char *key; /* sodium_malloc'd, read-only while in use */
  char *path;         /* the store file, for messages */
  char name[48];
  int registered;
  int recovering;   /* SQLite is recovering the WAL (holds the recover lock) */
  int bad_kind;     /* the last authentication failure: 0 none, else KIND_* */
  uint64_t bad_at;  /* page number (store file) or frame number (WAL) */
  int bad_short;    /* ... the page was cut short rather than changed */
  uint64_t wal_cut; /* recovery ended the log before this frame (0: never) */
};

typedef struct cfile {
  sqlite3_file base; /* pMethods; the real file follows this struct */
  fsi_crypt *c;
  int kind;
  unsigned char *buf;      /* one frame: scratch and the cached plaintext */
  sqlite3_int64 pend_off;  /* WAL: frame whose header waits for its body, -1 */
  sqlite3_int64 cache_off; /* WAL: frame whose plaintext buf holds, -1 */
  unsigned char pend[FRAME_HDR];
} cfile;

#define REAL(f) ((sqlite3_file *)((cfile *)(f) + 1))

/* ------------------------------------------------------------- sealing */

static void make_ad(unsigned char ad[12], int kind, uint64_t where) {
  memcpy(ad, kind == KIND_DB ? "FSp1" : "FSw1", 4);
  for (int i = 0; i < 8; i++) ad[4 + i] = (unsigned char)(where >> (56 - 8 * i));
}

/* out[0..len) = ciphertext of in[0..len) (in may be out), then the nonce
 * and the tag. */
static void seal(const fsi_crypt *c, unsigned char *out, const unsigned char *in, size_t len,
                 int kind, uint64_t where) {
  unsigned char ad[12];
  make_ad(ad, kind, where);
  randombytes_buf(out + len, NB);
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out, out + len + NB, NULL, in, len, ad,
                                                      sizeof ad, NULL, out + len, c->key);
}

/* Opens buf[0..len+RES) in place: 0 and the plaintext (the nonce and tag
 * zeroed), or -1 and every byte zeroed. */
static int unseal(const fsi_crypt *c, unsigned char *buf, size_t len, int kind, uint64_t where) {
  unsigned char ad[12];
  make_ad(ad, kind, where);
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(buf, NULL, buf, len, buf + len + NB,
                                                               ad, sizeof ad, buf + len, c->key);
  if (rc != 0) {
    sodium_memzero(buf, len + RES);
    return -1;
  }
  memset(buf + len, 0, RES);
  return 0;
}

static int damaged(cfile *f, int kind, uint64_t at, int cut_short) {
  f->c->bad_kind = kind;
  f->c->bad_at = at;
  f->c->bad_short = cut_short;
  sqlite3_log(SQLITE_IOERR_DATA, "fieldsync: %s %llu of %s failed authentication",
              kind == KIND_DB ? "page" : "WAL frame", (unsigned long long)at,
              f->c->path ? f->c->path : "a store");
  return SQLITE_IOERR_DATA;
}

static uint64_t frame_no(sqlite3_int64 fo) { return (uint64_t)(fo - WAL_HDR) / FRAME + 1; }

/* ----------------------------------------------------------- store file */

static int db_read(sqlite3_file *pf, void *out, int amt, sqlite3_int64 off) {
  cfile *f = (cfile *)pf;
  sqlite3_file *r = REAL(f);
  unsigned char *o = out;
  while (amt > 0) {
    sqlite3_int64 po = off - off % PG;
    int in = (int)(off - po), n = amt < PG - in ? amt : PG - in;
    unsigned char *dst = (in == 0 && n == PG) ? o : f->buf;
    int rc = r->pMethods->xRead(r, dst, PG, po);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      sqlite3_int64 size = 0;
      if (r->pMethods->xFileSize(r, &size) != SQLITE_OK) return SQLITE_IOERR_READ;
      memset(o, 0, (size_t)amt);
      /* past the end: the page does not exist yet (SQLite reads zeros) */
      if (size <= po) return SQLITE_IOERR_SHORT_READ;
      return damaged(f, KIND_DB, (uint64_t)(po / PG) + 1, 1);
    }
    if (rc != SQLITE_OK) return rc;
    if (unseal(f->c, dst, USABLE, KIND_DB, (uint64_t)(po / PG) + 1) != 0) {
      memset(o, 0, (size_t)amt);
      return damaged(f, KIND_DB, (uint64_t)(po / PG) + 1, 0);
    }
    if (dst != o) memcpy(o, f->buf + in, (size_t)n);
    o += n;
    off += n;
    amt -= n;
  }
  return SQLITE_OK;
}

static int db_write(sqlite3_file *pf, const void *in, int amt, sqlite3_int64 off) {
  cfile *f = (cfile *)pf;
  const unsigned char *p = in;
  if (amt != PG || off % PG != 0) {
    sqlite3_log(SQLITE_IOERR_WRITE, "fieldsync: refused a write of %d bytes at %lld of %s", amt,
                (long long)off, f->c->path);
    return SQLITE_IOERR_WRITE;
  }
  /* page 1 declares the page size and the reserved bytes the seal needs */
  if (off == 0 && (p[16] != (PG >> 8) || p[17] != 0 || p[20] != RES)) {
    sqlite3_log(SQLITE_IOERR_WRITE, "fieldsync: %s must keep %d-byte pages with %d reserved bytes",
                f->c->path, PG, RES);
    return SQLITE_IOERR_WRITE;
  }
  seal(f->c, f->buf, p, USABLE, KIND_DB, (uint64_t)(off / PG) + 1);
  return REAL(f)->pMethods->xWrite(REAL(f), f->buf, PG, off);
}

/* ------------------------------------------------------------------ WAL */

static int wal_frame_off(sqlite3_int64 off, sqlite3_int64 *fo) {
  if (off < WAL_HDR) return 0;
  *fo = off - (off - WAL_HDR) % FRAME;
  return 1;
}

/* Reads and opens the frame at fo into f->buf (the cache). */
static int wal_load(cfile *f, sqlite3_int64 fo) {
  if (f->cache_off == fo) return SQLITE_OK;
  f->cache_off = -1;
  sqlite3_file *r = REAL(f);
  int rc = r->pMethods->xRead(r, f->buf, FRAME, fo);
  if (rc == SQLITE_IOERR_SHORT_READ) return damaged(f, KIND_WAL, frame_no(fo), 1);
  if (rc != SQLITE_OK) return rc;
  if (unseal(f->c, f->buf, FRAME_PT, KIND_WAL, (uint64_t)fo) != 0)
    return damaged(f, KIND_WAL, frame_no(fo), 0);
  f->cache_off = fo;
  return SQLITE_OK;
}

/* Seals f->buf (a frame's plaintext) and writes it at fo. */
static int wal_store(cfile *f, sqlite3_int64 fo) {
  f->cache_off = -1;
  seal(f->c, f->buf, f->buf, FRAME_PT, KIND_WAL, (uint64_t)fo);
  return REAL(f)->pMethods->xWrite(REAL(f), f->buf, FRAME, fo);
}

/* A header written without its body: SQLite rewrote the checksums of a
 * frame already in the file.  Re-seal that frame with the new header. */
static int wal_flush(cfile *f) {
  if (f->pend_off < 0) return SQLITE_OK;
  sqlite3_int64 fo = f->pend_off;
  f->pend_off = -1;
  int rc = wal_load(f, fo);
  if (rc != SQLITE_OK) return rc;
  memcpy(f->buf, f->pend, FRAME_HDR);
  return wal_store(f, fo);
}

static int wal_read(sqlite3_file *pf, void *out, int amt, sqlite3_int64 off) {
  cfile *f = (cfile *)pf;
  sqlite3_file *r = REAL(f);
  int rc = wal_flush(f);
  if (rc != SQLITE_OK) return rc;
  sqlite3_int64 fo = 0;
  f->cache_off = -1;
  if (off + amt <= WAL_HDR) return r->pMethods->xRead(r, out, amt, off);
  if (!wal_frame_off(off, &fo) || off - fo + amt > FRAME) {
    sqlite3_log(SQLITE_IOERR_READ, "fieldsync: refused a read of %d bytes at %lld of a WAL", amt,
                (long long)off);
    return SQLITE_IOERR_READ;
  }
  if (off == fo && amt == FRAME) {
    /* a whole frame (recovery, checksum rewrite): opened in place */
    unsigned char *o = out;
    rc = r->pMethods->xRead(r, o, FRAME, fo);
    if (rc != SQLITE_OK) return rc; /* past the end: zero-filled, an invalid frame */
    if (unseal(f->c, o, FRAME_PT, KIND_WAL, (uint64_t)fo) != 0) {
      if (!f->c->recovering) return damaged(f, KIND_WAL, frame_no(fo), 0);
      /* a zero page number marks the frame invalid: the log ends here */
      if (!f->c->wal_cut || frame_no(fo) < f->c->wal_cut) f->c->wal_cut = frame_no(fo);
      sqlite3_log(SQLITE_NOTICE,
                  "fieldsync: WAL frame %llu of %s failed authentication; the log "
                  "ends before it",
                  (unsigned long long)frame_no(fo), f->c->path);
      return SQLITE_OK;
    }
    if (!f->c->recovering) {
      /* outside recovery a whole frame is read only to rewrite its header,
       * which the next write brings */
      memcpy(f->buf, o, FRAME_PT);
      memset(f->buf + FRAME_PT, 0, RES);
      f->cache_off = fo;
    }
    return SQLITE_OK;
  }
  rc = wal_load(f, fo);
  if (rc != SQLITE_OK) {
    memset(out, 0, (size_t)amt);
    return rc;
  }
  memcpy(out, f->buf + (off - fo), (size_t)amt);
  /* a later read must see the file: another connection may rewrite the
   * frame once this one's read transaction ends */
  f->cache_off = -1;
  return SQLITE_OK;
}

static int wal_write(sqlite3_file *pf, const void *in, int amt, sqlite3_int64 off) {
  cfile *f = (cfile *)pf;
  const unsigned char *p = in;
  sqlite3_int64 fo = 0;
  if (amt == FRAME_HDR && wal_frame_off(off, &fo) && fo == off) {
    int rc = wal_flush(f);
    if (rc != SQLITE_OK) return rc;
    if (f->cache_off == fo) {
      /* SQLite read this frame whole just now to rewrite its checksums:
       * re-seal it with the new header at once (the commit relies on it) */
      memcpy(f->buf, p, FRAME_HDR);
      return wal_store(f, fo);
    }
    memcpy(f->pend, p, FRAME_HDR);
    f->pend_off = off;
    return SQLITE_OK; /* written with its body */
  }
  /* a held header goes with its body; anything else writes it first */
  int body = amt == PG && wal_frame_off(off - FRAME_HDR, &fo) && fo == off - FRAME_HDR;
  int rc = body && f->pend_off == fo ? SQLITE_OK : wal_flush(f);
  if (rc != SQLITE_OK) return rc;
  if (off == 0 && amt == WAL_HDR) {
    f->cache_off = -1;
    uint32_t pgsz = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    if (pgsz != PG) {
      sqlite3_log(SQLITE_IOERR_WRITE, "fieldsync: a WAL of %u-byte pages for %s", pgsz, f->c->path);
      return SQLITE_IOERR_WRITE;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), p, amt, off);
  }
  if (body) {
    if (!sodium_is_zero(p + USABLE, RES)) {
      sqlite3_log(SQLITE_IOERR_WRITE, "fieldsync: a page for %s has bytes in its reserved area",
                  f->c->path);
      return SQLITE_IOERR_WRITE;
    }
    if (f->pend_off == fo) {
      memcpy(f->buf, f->pend, FRAME_HDR); /* a new frame: header, then body */
      f->pend_off = -1;
    } else {
      /* a page rewritten in place: keep the header already in the file */
      f->cache_off = -1;
      rc = wal_load(f, fo);
      if (rc != SQLITE_OK) return rc;
    }
    memcpy(f->buf + FRAME_HDR, p, USABLE);
    return wal_store(f, fo);
  }
  f->cache_off = -1;
  sqlite3_log(SQLITE_IOERR_WRITE, "fieldsync: refused a write of %d bytes at %lld of a WAL", amt,
              (long long)off);
  return SQLITE_IOERR_WRITE;
}

/* --------------------------------------------------- shared file methods */

static int f_close(sqlite3_file *pf) {
  cfile *f = (cfile *)pf;
  if (f->kind == KIND_WAL) (void)wal_flush(f);
  int rc = REAL(f)->pMethods->xClose(REAL(f));
  if (f->buf) sodium_memzero(f->buf, FRAME);
  sqlite3_free(f->buf);
  f->buf = NULL;
  return rc;
}

static int f_truncate(sqlite3_file *pf, sqlite3_int64 size) {
  cfile *f = (cfile *)pf;
  if (f->kind == KIND_WAL) {
    int rc = wal_flush(f);
    if (rc != SQLITE_OK) return rc;
    f->cache_off = -1;
  }
  return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *pf, int flags) {
  cfile *f = (cfile *)pf;
  if (f->kind == KIND_WAL) {
    int rc = wal_flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_size(sqlite3_file *pf, sqlite3_int64 *size) {
  cfile *f = (cfile *)pf;
  if (f->kind == KIND_WAL) {
    int rc = wal_flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *pf, int l) { return REAL(pf)->pMethods->xLock(REAL(pf), l); }
static int f_unlock(sqlite3_file *pf, int l) { return REAL(pf)->pMethods->xUnlock(REAL(pf), l); }
static int f_reserved(sqlite3_file *pf, int *out) {
  return REAL(pf)->pMethods->xCheckReservedLock(REAL(pf), out);
}

static int f_control(sqlite3_file *pf, int op, void *arg) {
  cfile *f = (cfile *)pf;
  if (f->kind == KIND_WAL) {
    int rc = wal_flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  if (op == SQLITE_FCNTL_PRAGMA) {
    char **a = arg;
    if (a[1] && a[2] && sqlite3_stricmp(a[1], "page_size") == 0 && atoi(a[2]) != PG) {
      a[0] = sqlite3_mprintf("an encrypted store keeps %d-byte pages", PG);
      return SQLITE_ERROR;
    }
  }
  /* no pre-extension: a zero-filled page would read as a damaged one */
  if (op == SQLITE_FCNTL_CHUNK_SIZE) return SQLITE_OK;
  int rc = REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
  if (rc == SQLITE_OK && op == SQLITE_FCNTL_VFSNAME)
    *(char **)arg = sqlite3_mprintf("fieldsync-crypt/%z", *(char **)arg);
  return rc;
}

static int f_sector(sqlite3_file *pf) { return REAL(pf)->pMethods->xSectorSize(REAL(pf)); }

/* Power-safe overwrite, as SQLite's unix VFS has by default: SQLite then
 * never splits a frame's write at a sector boundary, so every frame reaches
 * the shim as header + body. */
static int f_device(sqlite3_file *pf) {
  int dc = REAL(pf)->pMethods->xDeviceCharacteristics(REAL(pf));
  return (dc & ~SQLITE_IOCAP_BATCH_ATOMIC) | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static int db_shm_map(sqlite3_file *pf, int pg, int sz, int extend, void volatile **pp) {
  return REAL(pf)->pMethods->xShmMap(REAL(pf), pg, sz, extend, pp);
}

/* Tracks WAL recovery: SQLite recovers while it holds the recover slot. */
static int db_shm_lock(sqlite3_file *pf, int ofst, int n, int flags) {
  cfile *f = (cfile *)pf;
  int rc = REAL(f)->pMethods->xShmLock(REAL(f), ofst, n, flags);
  if (rc == SQLITE_OK && ofst <= SHM_RECOVER_SLOT && SHM_RECOVER_SLOT < ofst + n) {
    if ((flags & SQLITE_SHM_LOCK) && (flags & SQLITE_SHM_EXCLUSIVE))
      f->c->recovering = 1;
    else if (flags & SQLITE_SHM_UNLOCK)
      f->c->recovering = 0;
  }
  return rc;
}

static void db_shm_barrier(sqlite3_file *pf) { REAL(pf)->pMethods->xShmBarrier(REAL(pf)); }
static int db_shm_unmap(sqlite3_file *pf, int del) {
  return REAL(pf)->pMethods->xShmUnmap(REAL(pf), del);
}

static int db_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp) {
  (void)pf, (void)off, (void)amt;
  *pp = NULL; /* pages are read (and opened), never mapped */
  return SQLITE_OK;
}

static int db_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p) {
  (void)pf, (void)off, (void)p;
  return SQLITE_OK;
}

static const sqlite3_io_methods db_methods = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = db_read,
    .xWrite = db_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_reserved,
    .xFileControl = f_control,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = f_device,
    .xShmMap = db_shm_map,
    .xShmLock = db_shm_lock,
    .xShmBarrier = db_shm_barrier,
    .xShmUnmap = db_shm_unmap,
    .xFetch = db_fetch,
    .xUnfetch = db_unfetch,
};

/* Version 1: no shared memory or mapping on a WAL. */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = f_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_reserved,
    .xFileControl = f_control,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = f_device,
};

/* ------------------------------------------------------------------ VFS */

#define BASE(v) (((fsi_crypt *)(v))->base)

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *oflags) {
  fsi_crypt *c = (fsi_crypt *)vfs;
  cfile *f = (cfile *)pf;
  int kind = (flags & SQLITE_OPEN_MAIN_DB) ? KIND_DB : (flags & SQLITE_OPEN_WAL) ? KIND_WAL : 0;
  memset(f, 0, sizeof *f);
  if (!kind) {
    sqlite3_log(SQLITE_CANTOPEN,
                "fieldsync: %s is encrypted and writes no journal or temporary file (%s)", c->path,
                name ? name : "temporary");
    return SQLITE_CANTOPEN;
  }
  f->buf = sqlite3_malloc(FRAME);
  if (!f->buf) return SQLITE_NOMEM;
  f->c = c;
  f->kind = kind;
  f->pend_off = f->cache_off = -1;
  int rc = c->base->xOpen(c->base, name, REAL(f), flags, oflags);
  if (rc != SQLITE_OK) {
    sqlite3_free(f->buf);
    f->buf = NULL;
    return rc;
  }
  f->base.pMethods = kind == KIND_DB ? &db_methods : &wal_methods;
  return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync_dir) {
  return BASE(v)->xDelete(BASE(v), name, sync_dir);
}
static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  return BASE(v)->xAccess(BASE(v), name, flags, out);
}
static int v_fullpath(sqlite3_vfs *v, const char *name, int n, char *out) {
  return BASE(v)->xFullPathname(BASE(v), name, n, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *name) { return BASE(v)->xDlOpen(BASE(v), name); }
static void v_dlerror(sqlite3_vfs *v, int n, char *msg) { BASE(v)->xDlError(BASE(v), n, msg); }
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) {
  return BASE(v)->xDlSym(BASE(v), h, sym);
}
static void v_dlclose(sqlite3_vfs *v, void *h) { BASE(v)->xDlClose(BASE(v), h); }
static int v_random(sqlite3_vfs *v, int n, char *out) {
  return BASE(v)->xRandomness(BASE(v), n, out);
}
static int v_sleep(sqlite3_vfs *v, int us) { return BASE(v)->xSleep(BASE(v), us); }
static int v_time(sqlite3_vfs *v, double *out) { return BASE(v)->xCurrentTime(BASE(v), out); }
static int v_lasterr(sqlite3_vfs *v, int n, char *out) {
  return BASE(v)->xGetLastError(BASE(v), n, out);
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out) {
  return BASE(v)->xCurrentTimeInt64(BASE(v), out);
}

int fsi_crypt_new(fsi_crypt **out, const unsigned char *key, const char *path) {
  static atomic_ulong next;
  *out = NULL;
  sqlite3_vfs *base = sqlite3_vfs_find(NULL);
  if (!base || base->iVersion < 2 || !base->xCurrentTimeInt64)
    return fsi_fail(FS_EIO, "SQLite has no file system layer an encrypted store can use");
  fsi_crypt *c = calloc(1, sizeof *c);
  if (!c) return fsi_fail(FS_ENOMEM, "out of memory");
  c->key = sodium_malloc(FSI_CRYPT_KEYBYTES); /* guarded and locked in memory */
  c->path = strdup(path);
  if (!c->key || !c->path) {
    fsi_crypt_free(c);
    return fsi_fail(FS_ENOMEM, "out of memory for the store key");
  }
  memcpy(c->key, key, FSI_CRYPT_KEYBYTES);
  sodium_mprotect_readonly(c->key);
  c->base = base;
  snprintf(c->name, sizeof c->name, "fieldsync-crypt-%lu",
           (unsigned long)atomic_fetch_add(&next, 1));
  c->vfs.iVersion = 2;
  c->vfs.szOsFile = (int)sizeof(cfile) + base->szOsFile;
  c->vfs.mxPathname = base->mxPathname;
  c->vfs.zName = c->name;
  c->vfs.xOpen = v_open;
  c->vfs.xDelete = v_delete;
  c->vfs.xAccess = v_access;
  c->vfs.xFullPathname = v_fullpath;
  c->vfs.xDlOpen = v_dlopen;
  c->vfs.xDlError = v_dlerror;
  c->vfs.xDlSym = v_dlsym;
  c->vfs.xDlClose = v_dlclose;
  c->vfs.xRandomness = v_random;
  c->vfs.xSleep = v_sleep;
  c->vfs.xCurrentTime = v_time;
  c->vfs.xGetLastError = v_lasterr;
  c->vfs.xCurrentTimeInt64 = v_time64;
  if (sqlite3_vfs_register(&c->vfs, 0) != SQLITE_OK) {
    fsi_crypt_free(c);
    return fsi_fail(FS_EIO, "cannot register the encrypted store's file system layer");
  }
  c->registered = 1;
  *out = c;
  return FS_OK;
}

const char *fsi_crypt_vfs(const fsi_crypt *c) { return c->name; }

void fsi_crypt_free(fsi_crypt *c) {
  if (!c) return;
  if (c->registered) sqlite3_vfs_unregister(&c->vfs);
  sodium_free(c->key); /* wipes it */
  free(c->path);
  free(c);
}

int fsi_crypt_damage(const fsi_crypt *c, char *buf, size_t n) {
  if (!c || !c->bad_kind) return 0;
  if (c->bad_kind == KIND_DB)
    snprintf(buf, n,
             "the store %s is damaged: page %llu %s; nothing of it was used: restore the store "
             "from a backup",
             c->path, (unsigned long long)c->bad_at,
             c->bad_short ? "is cut short"
                          : "failed authentication (changed outside fieldsync, "
                            "or a failing disk)");
  else
    snprintf(buf, n,
             "the store %s is damaged: frame %llu of its write-ahead log %s; nothing of it was "
             "used: restore the store from a backup",
             c->path, (unsigned long long)c->bad_at,
             c->bad_short ? "is cut short"
                          : "failed authentication (changed outside fieldsync, "
                            "or a failing disk)");
  return 1;
}

uint64_t fsi_crypt_wal_cut(const fsi_crypt *c) { return c ? c->wal_cut : 0; }

/* ------------------------------------------------------ looking at files */

/* Up to n bytes at off of the file at path, read through SQLite's own file
 * layer (which shares one descriptor per file with the connections of this
 * process, so closing it never drops their locks); *size is the file's
 * size.  FS_ENOTFOUND when there is no such file. */
static int raw_read(const char *path, int kind, unsigned char *buf, int n, sqlite3_int64 off,
                    sqlite3_int64 *size, int *got) {
  sqlite3_vfs *base = sqlite3_vfs_find(NULL);
  struct stat sb;
  *got = 0;
  *size = 0;
  if (stat(path, &sb) != 0) {
    if (errno == ENOENT) return FS_ENOTFOUND;
    return fsi_fail(FS_EIO, "cannot look at %s: %s", path, strerror(errno));
  }
  if (!S_ISREG(sb.st_mode)) return fsi_fail(FS_EINVAL, "%s is not a regular file", path);
  sqlite3_file *f = calloc(1, (size_t)base->szOsFile);
  if (!f) return fsi_fail(FS_ENOMEM, "out of memory");
  int flags = SQLITE_OPEN_READONLY | (kind == KIND_DB ? SQLITE_OPEN_MAIN_DB : SQLITE_OPEN_WAL);
  int out = 0, rc = base->xOpen(base, path, f, flags, &out);
  if (rc == SQLITE_OK) rc = f->pMethods->xFileSize(f, size);
  if (rc == SQLITE_OK && n > 0 && *size > off) {
    *got = *size - off < n ? (int)(*size - off) : n;
    rc = f->pMethods->xRead(f, buf, *got, off);
  }
  if (f->pMethods) f->pMethods->xClose(f);
  free(f);
  if (rc != SQLITE_OK) return fsi_fail(FS_EIO, "cannot read %s (SQLite error %d)", path, rc);
  return FS_OK;
}

static const char sqlite_magic[16] = "SQLite format 3";

int fsi_crypt_probe(const char *path) {
  unsigned char head[16], wal[WAL_HDR + FRAME_HDR];
  sqlite3_int64 size = 0, wsize = 0;
  int got = 0, rc = raw_read(path, KIND_DB, head, sizeof head, 0, &size, &got);
  if (rc) return rc;
  if (got == (int)sizeof head && memcmp(head, sqlite_magic, sizeof head) == 0)
    return FSI_CRYPT_PLAIN;
  if (size > 0) return size % PG == 0 ? FSI_CRYPT_ENCRYPTED : FSI_CRYPT_OTHER;
  /* An empty store file: what was written so far is in its WAL.  A plain
   * frame header repeats the WAL header's salts; a sealed one does not. */
  char wpath[4200];
  if (snprintf(wpath, sizeof wpath, "%s-wal", path) >= (int)sizeof wpath)
    return fsi_fail(FS_EINVAL, "the store path is too long: %.200s", path);
  rc = raw_read(wpath, KIND_WAL, wal, sizeof wal, 0, &wsize, &got);
  if (rc == FS_ENOTFOUND || (!rc && wsize < WAL_HDR + FRAME)) return FSI_CRYPT_EMPTY;
  if (rc) return rc;
  return memcmp(wal + 16, wal + WAL_HDR + 8, 8) == 0 ? FSI_CRYPT_PLAIN : FSI_CRYPT_ENCRYPTED;
}

int fsi_store_is_encrypted(const char *path, int *out) {
  *out = 0;
  int p = fsi_crypt_probe(path);
  if (p == FS_ENOTFOUND) return fsi_fail(FS_ENOTFOUND, "no store at %s", path);
  if (p < 0) return p;
  *out = p == FSI_CRYPT_ENCRYPTED;
  return FS_OK;
}

int fsi_crypt_check_key(fsi_crypt *c) {
  unsigned char *page = sodium_malloc(FRAME);
  sqlite3_int64 size = 0;
  int got = 0, rc = FS_OK;
  if (!page) return fsi_fail(FS_ENOMEM, "out of memory");
  /* twice: a checkpoint in another process may be rewriting page 1 */
  for (int attempt = 0; attempt < 2; attempt++) {
    rc = raw_read(c->path, KIND_DB, page, PG, 0, &size, &got);
    if (rc || size == 0) break;
    if (got < PG) {
      rc = fsi_fail(FS_ECORRUPT,
                    "the store %s is damaged: its first page is cut short (%lld bytes); it was "
                    "left untouched",
                    c->path, (long long)size);
      break;
    }
    rc = unseal(c, page, USABLE, KIND_DB, 1) == 0
             ? FS_OK
             : fsi_fail(FS_EAUTH,
                        "the key does not open %s: its first page failed authentication (a "
                        "wrong key, or the store was changed outside fieldsync); it was left "
                        "untouched",
                        c->path);
    if (rc == FS_OK) break;
  }
  if (rc == FS_ENOTFOUND) rc = FS_OK; /* a store about to be created */
  if (rc || size > 0) goto done;
  /* Nothing checkpointed yet: the first frame of the WAL holds page 1. */
  char wpath[4200];
  sqlite3_int64 wsize = 0;
  if (snprintf(wpath, sizeof wpath, "%s-wal", c->path) >= (int)sizeof wpath) {
    rc = fsi_fail(FS_EINVAL, "the store path is too long: %.200s", c->path);
    goto done;
  }
  rc = raw_read(wpath, KIND_WAL, page, FRAME, WAL_HDR, &wsize, &got);
  if (rc == FS_ENOTFOUND || (rc == FS_OK && got < FRAME)) {
    rc = FS_OK; /* an empty store */
  } else if (rc == FS_OK && unseal(c, page, FRAME_PT, KIND_WAL, WAL_HDR) != 0) {
    rc = fsi_fail(FS_EAUTH,
                  "the key does not open %s: the first frame of its write-ahead log failed "
                  "authentication (a wrong key, or the store was changed outside fieldsync); "
                  "it was left untouched",
                  c->path);
  }
done:
  sodium_free(page); /* wiped */
  if (rc == FS_OK) fsi_clear_error();
  return rc;
}
