/* AVX-512 row-wise (skip-)layer normalization, 16 lanes; body in layernorm_simd.h. */
#include <immintrin.h>

#include "kernels/layernorm.h"

#define VF __m512
#define W 16
#define LD _mm512_loadu_ps
#define ST _mm512_storeu_ps
#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define MUL _mm512_mul_ps
#define FMA _mm512_fmadd_ps
#define SET1 _mm512_set1_ps
#define ZERO _mm512_setzero_ps
#define HSUM _mm512_reduce_add_ps
#include "kernels/x86/layernorm_simd.h"

void sn_layernorm_avx512(const sn_ln_rows *a) { ln_body(a); }
