/* CPU feature detection (see cpu.h). */
#include "runtime/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static unsigned long long xgetbv0(void) {
  unsigned int lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}
#endif

static sn_cpu cpu;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void detect(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid(0, &a, &b, &c, &d)) cpu.intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
  if (!__get_cpuid(1, &a, &b, &c, &d)) return;
  bool osxsave = (c >> 27) & 1;
  cpu.fma = (c >> 12) & 1;
  cpu.f16c = (c >> 29) & 1;
  unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6, tiles = (xcr0 & 0x60000) == 0x60000;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    cpu.avx2 = ymm && ((b >> 5) & 1);
    cpu.avx512f = zmm && ((b >> 16) & 1);
    cpu.avx512dq = zmm && ((b >> 17) & 1);
    cpu.avx512bw = zmm && ((b >> 30) & 1);
    cpu.avx512vl = zmm && ((b >> 31) & 1);
    cpu.avx512_vbmi = zmm && ((c >> 1) & 1);
    cpu.avx512_vnni = zmm && ((c >> 11) & 1);
    cpu.avx512_fp16 = zmm && ((d >> 23) & 1);
    cpu.amx_bf16 = tiles && ((d >> 22) & 1);
    cpu.amx_tile = tiles && ((d >> 24) & 1);
    cpu.amx_int8 = tiles && ((d >> 25) & 1);
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) cpu.avx512_bf16 = zmm && ((a >> 5) & 1);
#endif
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  cpu.physical_cores = n > 0 ? (int)n : 1;
}

const sn_cpu *sn_cpu_info(void) {
  pthread_once(&once, detect);
  return &cpu;
}

/* ---- cache sizes ---- */

static sn_cache_sizes caches;
static pthread_once_t caches_once = PTHREAD_ONCE_INIT;

static void detect_caches(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d, leaf = 4;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x8000001D && __get_cpuid(0x80000001, &a, &b, &c, &d) &&
      ((c >> 22) & 1)) /* AMD topology extensions: the same format at 0x8000001D */
    leaf = 0x8000001D;
  else if (!__get_cpuid(0, &a, &b, &c, &d) || a < 4)
    leaf = 0;
  for (unsigned sub = 0; leaf && sub < 16; sub++) {
    __cpuid_count(leaf, sub, a, b, c, d);
    unsigned type = a & 31, level = (a >> 5) & 7;
    if (type == 0) break;
    if (type != 1 && type != 3) continue; /* data or unified */
    size_t size = (size_t)((b >> 22) + 1) * (((b >> 12) & 0x3FF) + 1) * ((b & 0xFFF) + 1) * ((size_t)c + 1);
    if (level == 1) caches.l1d = size;
    if (level == 2) caches.l2 = size;
    if (level == 3) caches.l3 = size;
  }
#endif
#ifdef _SC_LEVEL1_DCACHE_SIZE
  long v;
  if (!caches.l1d && (v = sysconf(_SC_LEVEL1_DCACHE_SIZE)) > 0) caches.l1d = (size_t)v;
  if (!caches.l2 && (v = sysconf(_SC_LEVEL2_CACHE_SIZE)) > 0) caches.l2 = (size_t)v;
  if (!caches.l3 && (v = sysconf(_SC_LEVEL3_CACHE_SIZE)) > 0) caches.l3 = (size_t)v;
#endif
  if (caches.l1d < 4096 || caches.l1d > ((size_t)1 << 24)) caches.l1d = 32 << 10;
  if (caches.l2 < caches.l1d || caches.l2 > ((size_t)1 << 28)) caches.l2 = 1 << 20;
  if (caches.l3 < caches.l2) caches.l3 = caches.l2 > ((size_t)8 << 20) ? caches.l2 : (size_t)8 << 20;
}

sn_cache_sizes sn_cpu_cache_sizes(void) {
  pthread_once(&caches_once, detect_caches);
  return caches;
}

int sn_isa_parse(const char *s) {
  if (!s || !*s || !strcmp(s, "auto")) return 3;
  if (!strcmp(s, "scalar")) return SN_ISA_SCALAR;
  if (!strcmp(s, "avx2")) return SN_ISA_AVX2;
  if (!strcmp(s, "avx512")) return SN_ISA_AVX512;
  if (!strcmp(s, "amx")) return 3; /* the same as auto: AVX-512 and AMX where the machine has them */
  return -1;
}

const char *sn_isa_name(sn_isa isa) {
  switch (isa) {
    case SN_ISA_AVX512: return "avx512";
    case SN_ISA_AVX2: return "avx2";
    default: return "scalar";
  }
}

static _Thread_local int thread_cap = 3;

int sn_cpu_set_thread_cap(int cap) {
  int old = thread_cap;
  thread_cap = cap;
  return old;
}

int sn_cpu_thread_cap(void) { return thread_cap; }

static sn_isa machine_isa(void) {
  const sn_cpu *c = sn_cpu_info();
  sn_isa best = SN_ISA_SCALAR;
  if (c->avx2 && c->fma) best = SN_ISA_AVX2;
  if (best == SN_ISA_AVX2 && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq) best = SN_ISA_AVX512;
  int cap = sn_isa_parse(getenv("SINTER_ISA"));
  if (cap >= 0 && cap < (int)best) best = (sn_isa)cap;
  return best;
}

sn_isa sn_cpu_isa(void) {
  static sn_isa machine = (sn_isa)-1;
  sn_isa m = __atomic_load_n(&machine, __ATOMIC_RELAXED);
  if ((int)m < 0) {
    m = machine_isa();
    __atomic_store_n(&machine, m, __ATOMIC_RELAXED);
  }
  int cap = thread_cap & 0xff;
  return cap < (int)m ? (sn_isa)cap : m;
}

bool sn_cpu_has_vnni(void) {
  const sn_cpu *c = sn_cpu_info();
  return c->avx512_vnni && sn_cpu_isa() >= SN_ISA_AVX512;
}

bool sn_cpu_has_bf16(void) {
  const sn_cpu *c = sn_cpu_info();
  return c->avx512_bf16 && sn_cpu_isa() >= SN_ISA_AVX512;
}

bool sn_cpu_has_vbmi(void) {
  const sn_cpu *c = sn_cpu_info();
  return c->avx512_vbmi && sn_cpu_isa() >= SN_ISA_AVX512;
}

bool sn_cpu_bf16_vector_fast(void) { return sn_cpu_has_bf16() && !cpu.intel; }

bool sn_cpu_use_bf16(void) {
  return (thread_cap & SN_CAP_BF16) && sn_cpu_has_bf16() && (sn_cpu_bf16_vector_fast() || sn_cpu_has_amx_bf16());
}

/* Linux keeps AMX tile data off until a process asks for it (arch_prctl ARCH_REQ_XCOMP_PERM = 0x1023,
 * XFEATURE_XTILEDATA = 18); without it the first tile instruction faults. */
static bool amx_permitted;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_request(void) {
  const sn_cpu *c = sn_cpu_info();
  if (!c->amx_tile || !(c->amx_int8 || c->amx_bf16)) return;
#if defined(__linux__) && defined(SYS_arch_prctl)
  amx_permitted = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
}

/* AMX needs no explicit cap: SINTER_ISA or a thread cap of avx512 or below turns it off, "auto" or "amx"
 * (or none) leaves it on. */
static bool amx_allowed(void) {
  static int env = -1;
  int v = __atomic_load_n(&env, __ATOMIC_RELAXED);
  if (v < 0) {
    int cap = sn_isa_parse(getenv("SINTER_ISA")); /* (-1, unknown: no cap, as machine_isa reads it) */
    v = cap < 0 || cap > SN_ISA_AVX512;
    __atomic_store_n(&env, v, __ATOMIC_RELAXED);
  }
  return v && (thread_cap & 0xff) > SN_ISA_AVX512 && sn_cpu_isa() >= SN_ISA_AVX512;
}

void sn_tile_state_save(sn_tile_state *st) {
  pthread_once(&amx_once, amx_request);
  st->saved = amx_permitted;
#if defined(__x86_64__) || defined(__i386__)
  if (st->saved) sn_amx_store_config(st->cfg);
#endif
}

void sn_tile_state_restore(const sn_tile_state *st) {
#if defined(__x86_64__) || defined(__i386__)
  if (st->saved) sn_amx_restore_config(st->cfg);
#else
  (void)st;
#endif
}

bool sn_cpu_has_amx_int8(void) {
  pthread_once(&amx_once, amx_request);
  return amx_permitted && cpu.amx_int8 && amx_allowed();
}

bool sn_cpu_has_amx_bf16(void) {
  pthread_once(&amx_once, amx_request);
  return amx_permitted && cpu.amx_bf16 && amx_allowed();
}
