#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static _Thread_local uint64_t alloc_count;

uint64_t sn_alloc_count(void) { return alloc_count; }

void *sn_malloc(size_t n) {
  alloc_count++;
  return malloc(n ? n : 1);
}
void *sn_calloc(size_t count, size_t n) {
  alloc_count++;
  return calloc(count ? count : 1, n ? n : 1);
}
void *sn_realloc(void *p, size_t n) {
  alloc_count++;
  return realloc(p, n ? n : 1);
}
void sn_free(void *p) { free(p); }

char *sn_strdup(const char *s) { return sn_strndup(s, strlen(s)); }
char *sn_strndup(const char *s, size_t n) {
  char *d = sn_malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

void *sn_aligned_alloc(size_t n) {
  alloc_count++;
  size_t sz = (n + SN_PAD + SN_ALIGN - 1) / SN_ALIGN * SN_ALIGN;
  if (sz < n) return NULL; /* overflow */
  return aligned_alloc(SN_ALIGN, sz);
}
void sn_aligned_free(void *p) { free(p); }

void *sn_huge_alloc(size_t n) {
  /* from 2 MiB (less: sn_aligned_alloc): 2 MiB aligned, rounded up to whole 2 MiB pages, marked for
   * transparent huge pages */
  const size_t round = SN_HUGE_PAGE;
  if (n < SN_HUGE_PAGE) return sn_aligned_alloc(n);
  alloc_count++;
  size_t sz = (n + SN_PAD + round - 1) / round * round;
  if (sz < n) return NULL; /* overflow */
  void *p = NULL; /* (posix_memalign: aligned_alloc wants the size a multiple of the alignment) */
  if (posix_memalign(&p, SN_HUGE_PAGE, sz)) return NULL;
  madvise(p, sz, MADV_HUGEPAGE);
  return p;
}

void *sn_weight_alloc(size_t n) { return sn_aligned_alloc(n); }

void sn_drop_pages(const void *p, size_t len) {
  long pg = sysconf(_SC_PAGESIZE);
  if (pg <= 0 || !p) return;
  uintptr_t b = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1), e = ((uintptr_t)p + len) & ~((uintptr_t)pg - 1);
  if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
}
