/*
 * change.c — arenas and change batches (see change.h).
 *
 * An arena is a list of chunks; allocations are 8-byte aligned bumps.  A
 * batch owns one arena holding its dictionary, rows, values and cells, so a
 * decoder or an extractor can build a batch with no per-field frees and the
 * whole batch is released at once.
 */
#include "change.h"

#include <stdlib.h>
#include <string.h>

struct chunk {
  struct chunk *next;
  size_t cap, used;
  max_align_t data[];
};

struct fsi_arena {
  struct chunk *head;
  size_t chunk;
};

struct fsi_arena *fsi_arena_new(size_t chunk) {
  struct fsi_arena *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->chunk = chunk ? chunk : 64 * 1024;
  return a;
}

void fsi_arena_free(struct fsi_arena *a) {
  if (!a) return;
  struct chunk *c = a->head;
  while (c) {
    struct chunk *n = c->next;
    free(c);
    c = n;
  }
  free(a);
}

void *fsi_arena_alloc(struct fsi_arena *a, size_t n) {
  n = (n + 7) & ~(size_t)7;
  if (n == 0) n = 8;
  struct chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > a->chunk ? n : a->chunk;
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->cap = cap;
    c->used = 0;
    c->next = a->head;
    a->head = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

char *fsi_arena_strndup(struct fsi_arena *a, const char *s, size_t n) {
  char *p = fsi_arena_alloc(a, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* Keeps the most recent chunk (usually the largest) and frees the rest. */
void fsi_arena_reset(struct fsi_arena *a) {
  struct chunk *c = a->head;
  if (!c) return;
  struct chunk *n = c->next;
  while (n) {
    struct chunk *nn = n->next;
    free(n);
    n = nn;
  }
  c->next = NULL;
  c->used = 0;
}

fsi_batch *fsi_change_batch_new(void) {
  fsi_batch *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->arena = fsi_arena_new(0);
  if (!b->arena) {
    free(b);
    return NULL;
  }
  return b;
}

void fsi_change_batch_free(fsi_batch *b) {
  if (!b) return;
  fsi_arena_free(b->arena);
  free(b);
}

void fsi_change_batch_reset(fsi_batch *b) {
  struct fsi_arena *a = b->arena;
  fsi_arena_reset(a);
  memset(b, 0, sizeof *b);
  b->arena = a;
}
