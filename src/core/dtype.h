/* The element-type trait table (ONNX numbering) and conversions for the 16- and 8-bit float formats. */
#ifndef SN_DTYPE_H
#define SN_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sinter.h"

typedef sinter_dtype sn_dtype;

typedef struct sn_dtype_info {
  const char *name;  /* numpy-style: "float32", "int64", "bool", "string", ... */
  const char *onnx;  /* ONNX spelling: "float", "int64", ... (for tensor(float) in messages) */
  uint8_t size;      /* bytes per element in memory (int4/uint4 unpacked: 1; string: sizeof(char*)) */
  bool is_float;     /* float16/bfloat16/float/double/float8/float4 */
  bool is_int;       /* any integer width, signed or not (not bool) */
  bool is_signed;
} sn_dtype_info;

extern const sn_dtype_info sn_dtype_table[SINTER_DTYPE_COUNT];

static inline bool sn_dtype_valid(int dt) { return dt > 0 && dt < SINTER_DTYPE_COUNT; }
static inline const sn_dtype_info *sn_dt(sn_dtype dt) {
  return &sn_dtype_table[sn_dtype_valid((int)dt) ? dt : 0];
}
static inline size_t sn_dtype_size(sn_dtype dt) { return sn_dt(dt)->size; }
static inline const char *sn_dtype_name(sn_dtype dt) { return sn_dt(dt)->name; }
/* int8 or uint8: the element types of quantized tensors */
static inline bool sn_dtype_q8(sn_dtype dt) { return dt == SINTER_INT8 || dt == SINTER_UINT8; }

/* IEEE half and bfloat16 <-> float (round to nearest even; NaN preserved). */
float sn_f16_to_f32(uint16_t h);
uint16_t sn_f32_to_f16(float f);
float sn_bf16_to_f32(uint16_t h);
uint16_t sn_f32_to_bf16(float f);
/* float8 formats (saturate: clamp to max finite when true, as the ONNX Cast default). */
float sn_f8_to_f32(sn_dtype dt, uint8_t v);
uint8_t sn_f32_to_f8(sn_dtype dt, float f, bool saturate);
float sn_f4e2m1_to_f32(uint8_t v);
uint8_t sn_f32_to_f4e2m1(float f);
/* float8e8m0 (exponent only, unsigned: 2^(v-127), 0xFF = NaN). Converting from float ignores the sign and
 * rounds the exponent per Cast's round_mode; saturate keeps finite values from rounding up into NaN. */
enum { SN_E8M0_ROUND_UP = 0, SN_E8M0_ROUND_DOWN = 1, SN_E8M0_ROUND_NEAREST = 2 };
float sn_e8m0_to_f32(uint8_t v);
uint8_t sn_f32_to_e8m0(float f, bool saturate, int round_mode);

/* Generic slow-path element access, for ops where speed does not matter (Cast, folding, tests).
 * Strings are not handled here. */
double sn_load_f64(sn_dtype dt, const void *base, int64_t i);
void sn_store_f64(sn_dtype dt, void *base, int64_t i, double v);
int64_t sn_load_i64(sn_dtype dt, const void *base, int64_t i);
void sn_store_i64(sn_dtype dt, void *base, int64_t i, int64_t v);

#endif
