/* INT8 GEMM on AMX tiles (AMX-INT8): tdpbusd / tdpbsud multiply a 16-row x 64-byte A tile by a B tile
 * of 16 k-quads x 16 columns, which is exactly 16 consecutive k-quads of a panel of sn_qgemm_pack_b's
 * layout, into a 16 x 16 int32 C tile. Blocks of up to 32 rows x 32 columns: 4 accumulator tiles, 2 A
 * tiles, 2 B tiles. The sums are exact int32 like the VNNI kernel's, and the epilogue is the VNNI
 * file's (sn_qgemm_epilogue_avx512vnni), so the two paths agree bit for bit.
 *
 * K that is not a multiple of 64 ends in one chunk read from zero-padded copies of A's and B's last
 * bytes, so no tile load reads past a row of A or past a panel of B. The indirect form (rows from
 * segments, sn_qgemm_ind) gathers each block's 32 rows into a per-thread buffer first, since a tile
 * load needs its rows at one stride. Compiled with -mamx-tile -mamx-int8 (see CMakeLists.txt); called
 * only when sn_cpu_has_amx_int8() (CPUID, XCR0 and Linux's permission for the tile data). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/x86/amx_tiles.h" /* (first: the emulated build renames the entry points) */
#include "kernels/qgemm.h"

/* tiles: C00 C01 C10 C11 = tmm0..3, A0 A1 = tmm4..5, B0 B1 = tmm6..7 (sn_amx_config_2x2) */

/* columns per epilogue pass: the sums of 32 rows x NCH columns gather in out, then each row's epilogue
 * runs over all of them (its per-row set-up once per NCH columns instead of once per 32) */
#define NCH 256

#define DP(SGN, c, a, b)   \
  do {                     \
    if (SGN)               \
      _tile_dpbsud(c, a, b); \
    else                   \
      _tile_dpbusd(c, a, b); \
  } while (0)

/* One block: rows [m, m + r0 + r1) (r0 = 16 when r1 > 0) x 1 or 2 panels from panel pointer bp, chunks
 * of 64 k; the K tail (kt bytes of A, Kp - K64 of B) from the padded copies at/bt. Sums to out (row
 * stride NCH int32). */
static inline __attribute__((always_inline)) void block(const bool sgn, const bool two_rows, const bool two_cols,
                                                        const uint8_t *A, int64_t lda, int64_t nk, const uint8_t *bp,
                                                        int64_t pstride, const uint8_t *at, const uint8_t *bt,
                                                        int32_t *out) {
  _tile_zero(0);
  if (two_cols) _tile_zero(1);
  if (two_rows) _tile_zero(2);
  if (two_rows && two_cols) _tile_zero(3);
  for (int64_t q = 0; q < nk; q++) {
    const uint8_t *a = A + q * 64, *b = bp + q * 1024;
    _tile_loadd(4, a, lda);
    _tile_loadd(6, b, 64);
    DP(sgn, 0, 4, 6);
    if (two_cols) {
      _tile_loadd(7, b + pstride, 64);
      DP(sgn, 1, 4, 7);
    }
    if (two_rows) {
      _tile_loadd(5, a + 16 * lda, lda);
      DP(sgn, 2, 5, 6);
      if (two_cols) DP(sgn, 3, 5, 7);
    }
  }
  if (at) {
    _tile_loadd(4, at, 64);
    _tile_loadd(6, bt, 64);
    DP(sgn, 0, 4, 6);
    if (two_cols) {
      _tile_loadd(7, bt + 1024, 64);
      DP(sgn, 1, 4, 7);
    }
    if (two_rows) {
      _tile_loadd(5, at + 16 * 64, 64);
      DP(sgn, 2, 5, 6);
      if (two_cols) DP(sgn, 3, 5, 7);
    }
  }
  _tile_stored(0, out, NCH * 4);
  if (two_cols) _tile_stored(1, out + 16, NCH * 4);
  if (two_rows) _tile_stored(2, out + 16 * NCH, NCH * 4);
  if (two_rows && two_cols) _tile_stored(3, out + 16 * NCH + 16, NCH * 4);
}

#define BLOCK(SGN)                                                                                                 \
  static void block_##SGN(bool two_rows, bool two_cols, const uint8_t *A, int64_t lda, int64_t nk,                \
                          const uint8_t *bp, int64_t pstride, const uint8_t *at, const uint8_t *bt, int32_t *out) { \
    if (two_rows && two_cols)                                                                                      \
      block(SGN, true, true, A, lda, nk, bp, pstride, at, bt, out);                                                \
    else if (two_rows)                                                                                             \
      block(SGN, true, false, A, lda, nk, bp, pstride, at, bt, out);                                               \
    else if (two_cols)                                                                                             \
      block(SGN, false, true, A, lda, nk, bp, pstride, at, bt, out);                                               \
    else                                                                                                           \
      block(SGN, false, false, A, lda, nk, bp, pstride, at, bt, out);                                              \
  }
BLOCK(true)
BLOCK(false)

/* rows [m0, m1) of C from A0, whose row 0 is row m0 */
static void run(bool a_signed, int64_t K, const uint8_t *A0, int64_t lda, const uint8_t *Bp, const sn_qgemm_epi *e,
                void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  int64_t Kp = sn_qgemm_kp(K), pstride = Kp * 16, nk = K / 64, k64 = nk * 64, kt = K - k64;
  int32_t out[32 * NCH] __attribute__((aligned(64)));
  uint8_t at[32 * 64] __attribute__((aligned(64))), bt[2 * 1024] __attribute__((aligned(64)));
  if (kt) memset(bt, 0, sizeof bt), memset(at, 0, sizeof at);
  int cr0 = -1, cr1 = -1;
  for (int64_t m = m0; m < m1; m += 32) {
    int mr = (int)(m1 - m < 32 ? m1 - m : 32), r0 = mr < 16 ? mr : 16, r1 = mr - r0;
    if (r0 != cr0 || r1 != cr1) sn_amx_config_2x2(r0, r1, 64, 16), cr0 = r0, cr1 = r1;
    const uint8_t *a = A0 + (m - m0) * lda;
    if (kt)
      for (int i = 0; i < mr; i++) memcpy(at + i * 64, a + i * lda + k64, (size_t)kt);
    for (int64_t nc = n0; nc < n1; nc += NCH) {
      int64_t nce = n1 - nc < NCH ? n1 : nc + NCH;
      for (int64_t n = nc; n < nce; n += 32) {
        bool two_cols = nce - n > 16;
        const uint8_t *bp = Bp + (n / 16) * pstride;
        if (kt)
          for (int p = 0; p < (two_cols ? 2 : 1); p++)
            memcpy(bt + p * 1024, bp + p * pstride + k64 * 16, (size_t)((Kp - k64) * 16));
        (a_signed ? block_true : block_false)(r1 > 0, two_cols, a, lda, nk, bp, pstride, kt ? at : NULL, bt,
                                              out + (n - nc));
      }
      for (int i = 0; i < mr; i++) sn_qgemm_epilogue_avx512vnni(e, m + i, nc, nce - nc, out + i * NCH, C, ldc);
    }
  }
}

void sn_qgemm_amx(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp, const sn_qgemm_epi *e,
                  void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  run(a_signed, K, A + m0 * lda, lda, Bp, e, C, ldc, m0, m1, n0, n1);
}

/* the gather buffer of sn_qgemm_ind_amx: one per thread, grown as needed, freed at thread exit */
static pthread_key_t gather_key;
static pthread_once_t gather_once = PTHREAD_ONCE_INIT;
typedef struct gather_buf {
  size_t cap;
  uint8_t *p;
} gather_buf;
static void gather_free(void *v) {
  gather_buf *g = v;
  free(g->p);
  free(g);
}
static void gather_init(void) { (void)pthread_key_create(&gather_key, gather_free); }

static uint8_t *gather_space(size_t bytes) {
  pthread_once(&gather_once, gather_init);
  gather_buf *g = pthread_getspecific(gather_key);
  if (!g) {
    g = calloc(1, sizeof *g);
    if (!g || pthread_setspecific(gather_key, g)) {
      free(g);
      return NULL;
    }
  }
  if (g->cap < bytes) {
    free(g->p);
    g->p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    g->cap = g->p ? bytes : 0;
  }
  return g->p;
}

bool sn_qgemm_ind_amx(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen,
                      const uint8_t *Bp, const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1,
                      int64_t n0, int64_t n1) {
  int64_t K = nseg * seglen, lda = (K + 63) & ~(int64_t)63;
  uint8_t *buf = gather_space((size_t)(32 * lda));
  if (!buf) return false;
  for (int64_t m = m0; m < m1; m += 32) {
    int64_t mr = m1 - m < 32 ? m1 - m : 32;
    for (int64_t i = 0; i < mr; i++)
      for (int64_t s = 0; s < nseg; s++) memcpy(buf + i * lda + s * seglen, rows[m + i] + segoff[s], (size_t)seglen);
    run(false, K, buf, lda, Bp, e, C, ldc, m, m + mr, n0, n1);
  }
  return true;
}
