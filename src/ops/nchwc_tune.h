/* Per-shape choices of convolution algorithm made by timing (SINTER_TUNE=1), kept for the process
 * and, with SINTER_TUNE_FILE=PATH, in a text file that later processes read first: one line per
 * shape, "<choice> <key>", the key naming the algorithm pair, ISA, block, threads and shape. */
#ifndef SN_NCHWC_TUNE_H
#define SN_NCHWC_TUNE_H

#include <stdbool.h>

/* true when SINTER_TUNE=1 or SINTER_TUNE_FILE is set */
bool sn_tune_enabled(void);
/* the choice stored for key (0 or 1), or -1 when none */
int sn_tune_lookup(const char *key);
/* remember choice (0 or 1) for key, and append it to the file when there is one */
void sn_tune_store(const char *key, int choice);

#endif
