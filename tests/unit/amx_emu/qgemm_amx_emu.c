/* src/kernels/x86/qgemm_amx.c with its AMX tile instructions emulated in C (src/kernels/x86/amx_tiles.h):
 * its entry points get an _emu suffix, and the test linking this file runs them on any AVX-512 CPU. */
#define SN_AMX_EMULATE 1
#include "kernels/x86/qgemm_amx.c"
