/* CPU features, read once (CPUID + XGETBV), capped by SINTER_ISA or a session option. */
#ifndef SN_CPU_H
#define SN_CPU_H

#include <stdbool.h>
#include <stddef.h>

typedef enum sn_isa { SN_ISA_SCALAR = 0, SN_ISA_AVX2 = 1, SN_ISA_AVX512 = 2 } sn_isa;

typedef struct sn_cpu {
  bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512_vnni, avx512_bf16, avx512_vbmi, avx512_fp16,
      amx_tile, amx_int8, amx_bf16;
  bool intel; /* GenuineIntel: vdpbf16ps issues at half the rate of float32 FMAs there (see sn_cpu_bf16_vector_fast) */
  int physical_cores;
} sn_cpu;

const sn_cpu *sn_cpu_info(void);

/* Per-core data cache sizes in bytes (CPUID deterministic cache parameters, leaf 4 or AMD's
 * 0x8000001D; sysconf or 32 KiB / 1 MiB / 8 MiB defaults when unavailable), read once. */
typedef struct sn_cache_sizes {
  size_t l1d, l2, l3;
} sn_cache_sizes;
sn_cache_sizes sn_cpu_cache_sizes(void);
/* The best ISA the machine and OS allow, capped by SINTER_ISA if set and by this thread's cap (a
 * session's ISA option, set for the duration of its runs and passed on to pool workers). */
sn_isa sn_cpu_isa(void);
/* This thread's cap (SN_ISA_AVX512 or above: none); returns the previous one. */
int sn_cpu_set_thread_cap(int cap);
int sn_cpu_thread_cap(void);
/* Parse "scalar" / "avx2" / "avx512" / "amx" / "auto" ("amx" is "auto": 3); -1 when unknown. */
int sn_isa_parse(const char *s);
const char *sn_isa_name(sn_isa isa);

/* Extensions counted under the avx512 level (SINTER_ISA=avx512 or no cap allows them; avx2 and
 * scalar turn them off): AVX512-VNNI (vpdpbusd, INT8 GEMM), AVX512-BF16 (vdpbf16ps) and AVX512-VBMI
 * (vpermi2b, byte table lookups). True only when sn_cpu_isa() is avx512 for this thread and the CPU
 * has the extension. */
bool sn_cpu_has_vnni(void);
bool sn_cpu_has_bf16(void);
bool sn_cpu_has_vbmi(void);
/* Whether AVX512-BF16 vector kernels beat float32 ones: vdpbf16ps does two products a lane, and on AMD's
 * cores it issues as often as an FMA (twice float32's rate), while on Intel's it issues on one port of
 * two, so a bf16 vector kernel is no faster than float32 FMAs (measured slower: a GEMM at 48-64 against
 * 76-104 GFLOP/s on a Sapphire Rapids-class Xeon). */
bool sn_cpu_bf16_vector_fast(void);
/* The thread cap may carry SN_CAP_BF16 (a session's `precision = bf16` option, passed on to pool
 * workers with the cap): float32 GEMMs then run in bf16 where sn_cpu_has_bf16() and bf16 is faster
 * there (AMX-BF16 tiles, or sn_cpu_bf16_vector_fast()); otherwise they stay float32. */
#define SN_CAP_BF16 0x100
bool sn_cpu_use_bf16(void);
/* AMX (tiles; AMX-INT8, AMX-BF16): detected from CPUID/XCR0, then the Linux permission request
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) made once; true only when both succeed and no cap
 * (SINTER_ISA or the thread's) is avx512 or lower: SINTER_ISA=avx512 runs the AVX-512 kernels
 * (VNNI, AVX512-BF16) on a machine with AMX, "amx" or "auto" allows everything. */
bool sn_cpu_has_amx_int8(void);
bool sn_cpu_has_amx_bf16(void);

/* The calling thread's AMX tile configuration around a run. The AMX kernels leave theirs loaded (reloading
 * at every call measured slower), and they read the loaded one back before trusting it; other code on the
 * same thread may not: ONNX Runtime's INT8 GEMM remembers per thread that it loaded its own and then
 * faults (SIGILL) on tile instructions against ours. So the API's entry points that run kernels on the
 * caller's thread save its configuration first and put it back after (none: tiles released). Nothing is
 * done where Linux has not granted the tile data. */
typedef struct sn_tile_state {
  _Alignas(64) unsigned char cfg[64];
  bool saved;
} sn_tile_state;
void sn_tile_state_save(sn_tile_state *st);
void sn_tile_state_restore(const sn_tile_state *st);
/* the two instructions beneath (x86/tilestate_amx.c; only where Linux granted the tile data): store the
 * thread's 64-byte configuration; load cfg64 unless it is the thread's already (palette 0: release) */
void sn_amx_store_config(void *cfg64);
void sn_amx_restore_config(const void *cfg64);

#endif
