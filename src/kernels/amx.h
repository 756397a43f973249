/* AMX tile configuration (the 64-byte operand of ldtilecfg, palette 1): shared by the AMX-INT8 and
 * AMX-BF16 kernels. A kernel reads the thread's configuration back (sttilecfg) and loads its own only
 * when they differ; tiles stay configured between calls. */
#ifndef SN_AMX_H
#define SN_AMX_H

#include <stdint.h>

typedef struct sn_amx_cfg {
  uint8_t palette, start_row;
  uint8_t reserved[14];
  uint16_t colsb[16]; /* bytes per row of tile t */
  uint8_t rows[16];   /* rows of tile t (0: unused) */
} __attribute__((aligned(64))) sn_amx_cfg;

_Static_assert(sizeof(sn_amx_cfg) == 64, "ldtilecfg reads 64 bytes");

#endif
