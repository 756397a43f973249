/* Unit test: the strided block-copy engine behind Transpose/Slice/Expand/Tile/Pad (src/ops/data.c)
 * against a naive per-element copy, on random shapes, permutations, steps, broadcasts and element
 * sizes; and the element fill. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"
#include "ops/common.h"

static int passed, failed;
static uint64_t rng = 0x243F6A8885A308D3ull;

static uint32_t rnd(uint32_t n) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (uint32_t)(((rng * 2685821657736338717ull) >> 33) % n);
}

static void check(bool ok, const char *what, int iter) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL: %s (case %d)\n", what, iter);
  }
}

/* naive: walk every index, copy one element */
static void naive(int rank, const int64_t *dims, char *dst, const int64_t *ds, const char *src, const int64_t *ss,
                  size_t es) {
  int64_t idx[32] = {0};
  for (int i = 0; i < rank; i++)
    if (dims[i] == 0) return;
  for (;;) {
    int64_t d = 0, s = 0;
    for (int i = 0; i < rank; i++) {
      d += idx[i] * ds[i];
      s += idx[i] * ss[i];
    }
    memcpy(dst + d * (int64_t)es, src + s * (int64_t)es, es);
    int k = rank - 1;
    for (; k >= 0; k--) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
    if (k < 0) break;
  }
}

static void test_random(int iter) {
  static const size_t sizes[] = {1, 2, 4, 8, 16, 3};
  size_t es = sizes[rnd(6)];
  int rank = 1 + (int)rnd(6);
  int64_t sdims[8], dims[8], sst[8], ss[8], ds[8];
  /* a source tensor, then a view of it: permuted, stepped (maybe reversed), or broadcast */
  for (int i = 0; i < rank; i++) sdims[i] = 1 + rnd(iter % 7 == 0 && rank <= 3 ? 40 : 7);
  int64_t st = 1;
  for (int i = rank - 1; i >= 0; i--) {
    sst[i] = st;
    st *= sdims[i];
  }
  int perm[8];
  for (int i = 0; i < rank; i++) perm[i] = i;
  for (int i = rank - 1; i > 0; i--) {
    int j = (int)rnd((uint32_t)i + 1), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  int64_t base = 0;
  for (int i = 0; i < rank; i++) {
    int a = perm[i];
    int kind = (int)rnd(5);
    if (kind == 0) { /* broadcast */
      dims[i] = 1 + rnd(5);
      ss[i] = 0;
    } else if (kind == 1 && sdims[a] > 1) { /* reversed with step */
      int64_t step = 1 + rnd(2);
      dims[i] = (sdims[a] - 1) / step + 1;
      ss[i] = -step * sst[a];
      base += (sdims[a] - 1) * sst[a];
    } else if (kind == 2 && sdims[a] > 2) { /* sub-range */
      int64_t s0 = rnd((uint32_t)sdims[a] - 1);
      dims[i] = 1 + rnd((uint32_t)(sdims[a] - s0));
      ss[i] = sst[a];
      base += s0 * sst[a];
    } else {
      dims[i] = sdims[a];
      ss[i] = sst[a];
    }
  }
  /* destination: contiguous, or a sub-block of a larger buffer (as Concat/Pad use) */
  bool sub = rnd(2);
  int64_t ddims[8], dst_total = 1, doff = 0;
  for (int i = 0; i < rank; i++) ddims[i] = dims[i] + (sub ? rnd(3) : 0);
  st = 1;
  for (int i = rank - 1; i >= 0; i--) {
    ds[i] = st;
    if (sub) doff += (ddims[i] - dims[i] > 0 ? rnd((uint32_t)(ddims[i] - dims[i]) + 1) : 0) * st;
    st *= ddims[i];
  }
  dst_total = st;
  size_t src_bytes = (size_t)sn_shape_count(rank, sdims) * es, dst_bytes = (size_t)dst_total * es;
  unsigned char *src = malloc(src_bytes), *a = malloc(dst_bytes), *b = malloc(dst_bytes);
  for (size_t i = 0; i < src_bytes; i++) src[i] = (unsigned char)rnd(256);
  memset(a, 0xAB, dst_bytes);
  memset(b, 0xAB, dst_bytes);
  sn_copy_strided(rank, dims, a + doff * (int64_t)es, ds, src + base * (int64_t)es, ss, es);
  naive(rank, dims, (char *)b + doff * (int64_t)es, ds, (const char *)src + base * (int64_t)es, ss, es);
  check(memcmp(a, b, dst_bytes) == 0, "sn_copy_strided matches the naive copy", iter);
  free(src);
  free(a);
  free(b);
}

static void test_fill(void) {
  for (size_t es = 1; es <= 16; es++)
    for (int64_t n = 0; n < 70; n += 7) {
      unsigned char elem[16], buf[16 * 70 + 1];
      for (size_t k = 0; k < es; k++) elem[k] = (unsigned char)(n == 14 ? 0 : 17 * k + 3);
      buf[n * (int64_t)es] = 0x5A;
      sn_fill_elems(buf, n, elem, es);
      bool ok = buf[n * (int64_t)es] == 0x5A;
      for (int64_t i = 0; i < n && ok; i++) ok = memcmp(buf + i * (int64_t)es, elem, es) == 0;
      check(ok, "sn_fill_elems", (int)(es * 100 + (size_t)n));
    }
}

int main(void) {
  for (int i = 0; i < 3000; i++) test_random(i);
  test_fill();
  printf("test_shape_ops: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
