/* The calling thread's AMX tile configuration, saved before a run and put back after it (runtime/cpu.h,
 * sn_tile_state). Compiled with -mamx-tile (CMakeLists.txt); called only where Linux granted the tile
 * data (sn_tile_state_save checks). */
#include "kernels/x86/amx_tiles.h"
#include "runtime/cpu.h"

void sn_amx_store_config(void *cfg64) { _tile_storeconfig(cfg64); }

void sn_amx_restore_config(const void *cfg64) {
  sn_amx_cfg now;
  _tile_storeconfig(&now);
  if (memcmp(&now, cfg64, sizeof now) == 0) return; /* untouched (or our own, loaded before the run) */
  if (((const sn_amx_cfg *)cfg64)->palette == 0)
    _tile_release(); /* the thread had no configuration: none again, and no tile state to save */
  else
    _tile_loadconfig(cfg64);
}
