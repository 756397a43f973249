/* Every heap allocation Sinter makes for tensors and plans goes through here, so that it can be
 * counted (the no-allocation-after-first-run test) and aligned for SIMD. */
#ifndef SN_ALLOC_H
#define SN_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define SN_ALIGN 64
/* Bytes past the end of every tensor buffer that SIMD kernels may read (never write). */
#define SN_PAD 64
/* Transparent huge page size (x86-64 Linux). */
#define SN_HUGE_PAGE ((size_t)2 << 20)

void *sn_malloc(size_t n);
void *sn_calloc(size_t count, size_t n);
void *sn_realloc(void *p, size_t n);
void sn_free(void *p);
char *sn_strdup(const char *s);
char *sn_strndup(const char *s, size_t n);
/* 64-byte aligned, n rounded up and padded by SN_PAD; free with sn_aligned_free. */
void *sn_aligned_alloc(size_t n);
void sn_aligned_free(void *p);
/* Like sn_aligned_alloc, for large buffers streamed every run (the activation arena): from 2 MiB,
 * 2 MiB aligned and rounded, and marked for transparent huge pages (Linux's default THP mode,
 * madvise, gives them only where asked), so a pass over tens of MB takes no TLB miss per 4 KiB
 * page; free with sn_aligned_free. */
void *sn_huge_alloc(size_t n);

/* For weights (decoded at load, prepacked, read on every run): sn_aligned_alloc, in 4 KiB pages.
 * Not in transparent huge pages: a fresh huge page is zeroed whole when first touched, and a guest
 * whose free memory went back to its host a few seconds earlier (free page reporting works on 2 MiB
 * blocks) faulted them in at a quarter of the 4 KiB rate (450 MB: 0.88 s against 0.23 s), which
 * doubled BERT-base's session creation; streaming the weights through 4 KiB pages cost ~1% of its
 * run time. Free with sn_aligned_free. */
void *sn_weight_alloc(size_t n);

/* Drop the whole pages inside [p, p + len) of a read-only private FILE mapping from the process's
 * resident set: they stay in the page cache and any later read faults them back in unchanged.
 * Never call it on anonymous memory (it would read back as zeros). */
void sn_drop_pages(const void *p, size_t len);

/* Number of allocations made so far by this thread through sn_malloc/sn_calloc/sn_realloc/
 * sn_aligned_alloc (for tests). */
uint64_t sn_alloc_count(void);

#endif
