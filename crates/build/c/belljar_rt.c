/*
 * The C runtime of a belljar app, linked into every C app by `belljar build`.
 *
 * A belljar app links no libc: the device has no WASI, and its linear memory
 * is small and fixed (no memory.grow). This file provides the few functions
 * wit-bindgen's C bindings and small apps need:
 *
 *  - an allocator over a fixed arena in the app's memory (BELLJAR_HEAP_SIZE
 *    bytes, `heap` in belljar.toml): a bump pointer that starts over once
 *    every block is freed, as the Rust SDK's allocator does for apps whose
 *    interfaces carry only numbers or short lists. Running out is a trap.
 *  - `cabi_realloc`, the canonical ABI's allocator (it honours alignment),
 *    replacing the bindings' weak one;
 *  - memcpy, memmove, memset, memcmp, strlen, and abort (a trap, which the
 *    host reports with the app's backtrace).
 *
 * Compiled with -fno-builtin so that the compiler does not turn these loops
 * back into calls to themselves.
 */

#include <stddef.h>
#include <stdint.h>

#ifndef BELLJAR_HEAP_SIZE
#define BELLJAR_HEAP_SIZE 256
#endif

_Noreturn void abort(void) { __builtin_trap(); }

static _Alignas(16) unsigned char belljar_arena[BELLJAR_HEAP_SIZE];
/* Bytes of the arena in use, and blocks not yet freed. */
static size_t belljar_used;
static size_t belljar_live;

static void *belljar_alloc(size_t size, size_t align) {
  if (align == 0 || (align & (align - 1)) != 0) abort();
  uintptr_t base = (uintptr_t)belljar_arena;
  uintptr_t start = (base + belljar_used + align - 1) & ~(uintptr_t)(align - 1);
  size_t offset = start - base;
  if (offset > BELLJAR_HEAP_SIZE || size > BELLJAR_HEAP_SIZE - offset) return NULL;
  belljar_used = offset + size;
  belljar_live += 1;
  return (void *)start;
}

void free(void *ptr) {
  if (ptr == NULL) return;
  if (belljar_live == 0) abort();
  belljar_live -= 1;
  if (belljar_live == 0) belljar_used = 0;
}

void *malloc(size_t size) { return belljar_alloc(size, 8); }

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++) {
    if (*x != *y) return *x - *y;
  }
  return 0;
}

size_t strlen(const char *s) {
  const char *p = s;
  while (*p) p++;
  return (size_t)(p - s);
}

void *calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return NULL;
  void *p = malloc(count * size);
  if (p != NULL) memset(p, 0, count * size);
  return p;
}

/* A bump allocator cannot grow a block in place (but the last one): a new
 * block, with the old contents copied. `old_size` is unknown here, so copy
 * what can be copied without reading past the arena. */
static void *belljar_realloc(void *ptr, size_t old_size, size_t align, size_t size) {
  if (ptr == NULL) return belljar_alloc(size, align);
  void *p = belljar_alloc(size, align);
  if (p == NULL) return NULL;
  memcpy(p, ptr, old_size < size ? old_size : size);
  free(ptr);
  return p;
}

void *realloc(void *ptr, size_t size) {
  if (ptr == NULL) return malloc(size);
  size_t room = (size_t)(belljar_arena + BELLJAR_HEAP_SIZE - (unsigned char *)ptr);
  return belljar_realloc(ptr, room < size ? room : size, 8, size);
}

__attribute__((__export_name__("cabi_realloc")))
void *cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
  if (new_size == 0) return (void *)align;
  void *p = belljar_realloc(ptr, old_size, align, new_size);
  if (p == NULL) abort();
  return p;
}
