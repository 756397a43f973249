/* `sinter inspect --plan`: the memory plan of a model at given input shapes, as figures and as a
 * picture (SVG, and PNG when rsvg-convert or ImageMagick is installed). */
#ifndef SN_PLAN_VIEW_H
#define SN_PLAN_VIEW_H

#include "feeds.h"

/* Prints the plan summary and the optimized graph's op histogram; writes svg_path if non-NULL. */
int sn_plan_view(const char *cmd, const char *model, int opt_level, sn_feed_opts *fo, const char *svg_path);

#endif
