/* Model inputs for the CLI commands that run models (run, profile, bench): from .npy files
 * (--input NAME=FILE.npy) or seeded random data of the declared dtype and shape, with symbolic
 * dimensions set by --dim NAME=V or --batch N (default 1). */
#ifndef SN_FEEDS_H
#define SN_FEEDS_H

#include <stdbool.h>
#include <stddef.h>

#include "npy.h"
#include "sinter.h"

#define SN_FEED_MAX_ARGS 256

typedef struct sn_feed_kv {
  char *name;
  const char *value;
  int used;
} sn_feed_kv;

typedef struct sn_feed_opts {
  sn_feed_kv inputs[SN_FEED_MAX_ARGS], dims[SN_FEED_MAX_ARGS];
  int n_inputs, n_dims;
  long long seed;
  bool have_range;
  double lo, hi;
  long long batch; /* < 0: not given */
} sn_feed_opts;

/* Usage lines for the options below, to paste into a command's --help. */
extern const char sn_feed_usage[];

void sn_feed_opts_init(sn_feed_opts *o);
void sn_feed_opts_free(sn_feed_opts *o);
/* Consume argv[*i] if it is --input, --dim, --seed, --range or --batch: returns 1 when consumed, 0
 * when it is another argument, -1 after printing a usage error for `cmd`. */
int sn_feed_parse(const char *cmd, sn_feed_opts *o, int argc, char **argv, int *i);

typedef struct sn_feeds {
  size_t n, cap;
  const char **names;
  sinter_tensor **tensors;
  sn_npy *arrays;
} sn_feeds;

/* One tensor per model input: the --input files (also names the model lacks: the runtime reports
 * those), then random data for the rest. verbose prints a line per input. */
sinter_status *sn_feeds_make(const char *cmd, sinter_session *s, sn_feed_opts *o, bool verbose, sn_feeds *out);
void sn_feeds_free(sn_feeds *f);
/* The graph value id of each fed input (ids[k] for f->names[k]), for the internal run and plan
 * entry points; an error names a feed the model has no input for. */
sinter_status *sn_feeds_value_ids(const sinter_session *s, const sn_feeds *f, int *ids);
/* The first dimension of the first fed input (the batch size, for samples/s); 1 if none. */
long long sn_feeds_batch(const sn_feeds *f);

#endif
