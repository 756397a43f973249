/* Portable im2col / col2im over any number of spatial dims: rows walk segments of the innermost
 * output dim, computing the in-bounds range once per segment so the inner copy is a plain
 * (vectorizable) strided loop. */
#include "kernels/ref/im2col_ref.h"

#include <stdbool.h>
#include <string.h>

/* In-bounds output range [*lo, *hi) of the last dim for tap offset off = k*dil - pad. */
static inline void valid_range(int64_t in, int64_t s, int64_t off, int64_t *lo, int64_t *hi) {
  *lo = off >= 0 ? 0 : (-off + s - 1) / s;
  *hi = in - 1 - off >= 0 ? (in - 1 - off) / s + 1 : 0;
}

#define DEFINE_IM2COL(SFX, T)                                                                              \
  void sn_im2col_##SFX(const sn_conv_geom *g, int64_t C, const T *x, int64_t p0, int64_t p1, T *col) {     \
    const int nd = g->nd, L = nd - 1;                                                                      \
    const int64_t K = sn_geom_k_size(g), insz = sn_geom_in_size(g), width = p1 - p0;                       \
    const int64_t s = g->stride[L], inl = g->in[L], outl = g->out[L];                                      \
    int64_t kk[SN_MAX_RANK], o[SN_MAX_RANK];                                                               \
    for (int64_t c = 0; c < C; c++) {                                                                      \
      const T *xc = x + c * insz;                                                                          \
      for (int d = 0; d < nd; d++) kk[d] = 0;                                                              \
      for (int64_t t = 0; t < K; t++) {                                                                    \
        T *dst = col + (c * K + t) * width;                                                                \
        int64_t off = kk[L] * g->dil[L] - g->pad[L], lo, hi;                                               \
        valid_range(inl, s, off, &lo, &hi);                                                                \
        for (int64_t p = p0; p < p1;) {                                                                    \
          int64_t q = p;                                                                                   \
          for (int d = L; d >= 0; d--) {                                                                   \
            o[d] = q % g->out[d];                                                                          \
            q /= g->out[d];                                                                                \
          }                                                                                                \
          int64_t a = o[L], b = outl - a < p1 - p ? outl : a + (p1 - p);                                    \
          T *dp = dst + (p - p0); /* dp[ow - a] for ow in [a, b) */                                        \
          int64_t base = 0;                                                                                \
          bool ok = true;                                                                                  \
          for (int d = 0; d < L; d++) {                                                                    \
            int64_t i = o[d] * g->stride[d] - g->pad[d] + kk[d] * g->dil[d];                               \
            if (i < 0 || i >= g->in[d]) {                                                                  \
              ok = false;                                                                                  \
              break;                                                                                       \
            }                                                                                              \
            base = base * g->in[d] + i;                                                                    \
          }                                                                                                \
          if (!ok) {                                                                                       \
            for (int64_t w = a; w < b; w++) dp[w - a] = 0;                                                     \
          } else {                                                                                         \
            const T *xr = xc + base * inl;                                                           \
            int64_t l = lo > a ? lo : a, h = hi < b ? hi : b;                                              \
            if (l > h) l = h;                                                                              \
            for (int64_t w = a; w < l; w++) dp[w - a] = 0;                                                     \
            if (s == 1) {                                                                                  \
              if (h > l) memcpy(dp + (l - a), xr + (l + off), sizeof(T) * (size_t)(h - l));                              \
            } else {                                                                                       \
              for (int64_t w = l; w < h; w++) dp[w - a] = xr[w * s + off];                                           \
            }                                                                                              \
            for (int64_t w = h < a ? a : h; w < b; w++) dp[w - a] = 0;                                         \
          }                                                                                                \
          p += b - a;                                                                                      \
        }                                                                                                  \
        for (int d = L; d >= 0; d--) { /* next tap */                                                      \
          if (++kk[d] < g->k[d]) break;                                                                    \
          kk[d] = 0;                                                                                       \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
  }                                                                                                        \
  void sn_col2im_##SFX(const sn_conv_geom *g, int64_t C, const T *col, int64_t p0, int64_t p1, T *y) {     \
    const int nd = g->nd, L = nd - 1;                                                                      \
    const int64_t K = sn_geom_k_size(g), insz = sn_geom_in_size(g), width = p1 - p0;                       \
    const int64_t s = g->stride[L], inl = g->in[L], outl = g->out[L];                                      \
    int64_t kk[SN_MAX_RANK], o[SN_MAX_RANK];                                                               \
    for (int64_t c = 0; c < C; c++) {                                                                      \
      T *yc = y + c * insz;                                                                                \
      for (int d = 0; d < nd; d++) kk[d] = 0;                                                              \
      for (int64_t t = 0; t < K; t++) {                                                                    \
        const T *src = col + (c * K + t) * width;                                                          \
        int64_t off = kk[L] * g->dil[L] - g->pad[L], lo, hi;                                               \
        valid_range(inl, s, off, &lo, &hi);                                                                \
        for (int64_t p = p0; p < p1;) {                                                                    \
          int64_t q = p;                                                                                   \
          for (int d = L; d >= 0; d--) {                                                                   \
            o[d] = q % g->out[d];                                                                          \
            q /= g->out[d];                                                                                \
          }                                                                                                \
          int64_t a = o[L], b = outl - a < p1 - p ? outl : a + (p1 - p);                                    \
          const T *sp = src + (p - p0);                                                                \
          int64_t base = 0;                                                                                \
          bool ok = true;                                                                                  \
          for (int d = 0; d < L; d++) {                                                                    \
            int64_t i = o[d] * g->stride[d] - g->pad[d] + kk[d] * g->dil[d];                               \
            if (i < 0 || i >= g->in[d]) {                                                                  \
              ok = false;                                                                                  \
              break;                                                                                       \
            }                                                                                              \
            base = base * g->in[d] + i;                                                                    \
          }                                                                                                \
          if (ok) {                                                                                        \
            T *yr = yc + base * inl;                                                                 \
            int64_t l = lo > a ? lo : a, h = hi < b ? hi : b;                                              \
            for (int64_t w = l; w < h; w++) yr[w * s + off] += sp[w - a];                                            \
          }                                                                                                \
          p += b - a;                                                                                      \
        }                                                                                                  \
        for (int d = L; d >= 0; d--) {                                                                     \
          if (++kk[d] < g->k[d]) break;                                                                    \
          kk[d] = 0;                                                                                       \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
  }

DEFINE_IM2COL(f32, float)
DEFINE_IM2COL(f64, double)
DEFINE_IM2COL(i32, int32_t)

/* im2col of positions [p0, p1) straight into a GEMM's full-K B slivers: sliver s holds the columns of
 * positions p0 + s * nr ... (nr of them, the last sliver's missing ones zero) as (C * prod(k)) rows of
 * nr floats. A sliver's positions are cut into runs along the last output dim, and where each tap's
 * run reads (its in-bounds part, its offset in a channel's plane) is worked out once per sliver, not
 * once per row: the rows of every channel then only copy. */
void sn_im2col_slivers_f32(const sn_conv_geom *g, int64_t C, const float *x, int64_t p0, int64_t p1, int64_t nr,
                           float *col) {
  enum { MAX_RUNS = 8, MAX_TAPS = 512 };
  const int nd = g->nd, L = nd - 1;
  const int64_t K = sn_geom_k_size(g), insz = sn_geom_in_size(g), rows = C * K;
  const int64_t s = g->stride[L], inl = g->in[L], outl = g->out[L];
  struct run {
    int64_t j, a, n;        /* sliver column j, output position a along the last dim, n positions */
    int64_t o[SN_MAX_RANK]; /* the leading output coordinates */
  } runs[MAX_RUNS];
  struct span {
    int64_t src;     /* offset in a channel's plane of output position 0 of the run's row (-1: none) */
    int32_t l, h;    /* in-bounds positions [l, h) of the run, relative to its first */
  } spans[MAX_TAPS * 2];
  for (int64_t c0 = p0; c0 < p1; c0 += nr, col += rows * nr) {
    const int64_t w = p1 - c0 < nr ? p1 - c0 : nr;
    int nrun = 0;
    for (int64_t p = c0; p < c0 + w && nrun <= MAX_RUNS;) {
      struct run *r = &runs[nrun < MAX_RUNS ? nrun : 0];
      int64_t q = p;
      r->a = q % outl;
      q /= outl;
      for (int d = L - 1; d >= 0; d--) {
        r->o[d] = q % g->out[d];
        q /= g->out[d];
      }
      r->j = p - c0;
      r->n = outl - r->a < c0 + w - p ? outl - r->a : c0 + w - p;
      p += r->n;
      nrun++;
    }
    if (nrun > MAX_RUNS || K * nrun > MAX_TAPS * 2) { /* (a short last dim, or many taps) */
      sn_im2col_f32(g, C, x, c0, c0 + w, col);
      for (int64_t t = rows - 1; t >= 0; t--) {
        memmove(col + t * nr, col + t * w, sizeof(float) * (size_t)w);
        memset(col + t * nr + w, 0, sizeof(float) * (size_t)(nr - w));
      }
      continue;
    }
    int64_t kk[SN_MAX_RANK];
    for (int d = 0; d < nd; d++) kk[d] = 0;
    for (int64_t t = 0; t < K; t++) {
      const int64_t off = kk[L] * g->dil[L] - g->pad[L];
      int64_t lo, hi;
      valid_range(inl, s, off, &lo, &hi);
      for (int k = 0; k < nrun; k++) {
        const struct run *r = &runs[k];
        struct span *sp = &spans[t * nrun + k];
        int64_t base = 0;
        bool ok = true;
        for (int d = 0; d < L && ok; d++) {
          const int64_t i = r->o[d] * g->stride[d] - g->pad[d] + kk[d] * g->dil[d];
          ok = i >= 0 && i < g->in[d];
          base = base * g->in[d] + i;
        }
        int64_t l = r->a, h = r->a; /* a <= l <= h <= b */
        if (ok) {
          const int64_t b = r->a + r->n;
          l = lo > r->a ? lo : r->a;
          if (l > b) l = b;
          h = hi < b ? hi : b;
          if (h < l) h = l;
        }
        sp->src = base * inl + off + r->a * s; /* position a + i reads src + i * s */
        sp->l = (int32_t)(l - r->a);
        sp->h = (int32_t)(h - r->a);
      }
      for (int d = L; d >= 0; d--) { /* next tap */
        if (++kk[d] < g->k[d]) break;
        kk[d] = 0;
      }
    }
    for (int64_t c = 0; c < C; c++) {
      const float *xc = x + c * insz;
      float *dst = col + c * K * nr;
      const struct span *sp = spans;
      for (int64_t t = 0; t < K; t++, dst += nr) {
        for (int k = 0; k < nrun; k++, sp++) {
          float *dp = dst + runs[k].j;
          const int64_t n = runs[k].n, l = sp->l, h = sp->h;
          for (int64_t i = 0; i < l; i++) dp[i] = 0;
          if (h > l) {
            const float *xr = xc + sp->src + l * s;
            if (s == 1)
              memcpy(dp + l, xr, sizeof(float) * (size_t)(h - l)); /* (libc: wide vectors) */
            else
              for (int64_t i = l; i < h; i++) dp[i] = xr[(i - l) * s];
          }
          for (int64_t i = h; i < n; i++) dp[i] = 0;
        }
        for (int64_t jj = w; jj < nr; jj++) dst[jj] = 0;
      }
    }
  }
}
