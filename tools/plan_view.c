/* The memory plan of a model, as figures and as a picture (see plan_view.h). */
#include "plan_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "core/alloc.h"
#include "runtime/session.h"

static void hue(int i, char *buf, size_t n) {
  /* a fixed palette cycled by value id, so neighbours differ */
  static const char *pal[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                              "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  snprintf(buf, n, "%s", pal[i % 10]);
}

static void xml_escape(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else if (*s == '"') fputs("&quot;", f);
    else fputc(*s, f);
  }
}

static int write_svg(const char *path, const sn_graph *g, const sn_plan *p) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  int steps = g->n_nodes > 0 ? g->n_nodes : 1;
  double W = 1000, H = 600, L = 80, T = 40, B = 50, R = 20;
  double pw = W - L - R, ph = H - T - B;
  double arena = p->arena_size ? (double)p->arena_size : 1;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
             "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"14\">Arena plan: %zu bytes for %d tensors (naive sum %zu bytes); "
             "x = step, y = byte offset</text>\n", L, p->arena_size, p->n_planned, p->naive_size);
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f4f4f4\" stroke=\"#888\"/>\n", L, T, pw,
          ph);
  for (int v = 0; v < p->n_values; v++) {
    if (p->offset[v] < 0) continue;
    double x0 = L + pw * p->first_step[v] / steps, x1 = L + pw * (p->last_step[v] + 1) / steps;
    double y0 = T + ph * (double)p->offset[v] / arena, y1 = T + ph * (double)(p->offset[v] + (int64_t)p->bytes[v]) / arena;
    char c[16];
    hue(v, c, sizeof c);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" fill-opacity=\"0.85\" "
               "stroke=\"#333\" stroke-width=\"0.3\"><title>",
            x0, y0, x1 - x0 > 0.5 ? x1 - x0 : 0.5, y1 - y0 > 0.5 ? y1 - y0 : 0.5, c);
    xml_escape(f, g->values[v].name);
    fprintf(f, ": %zu bytes at offset %lld, steps %d..%d</title></rect>\n", p->bytes[v], (long long)p->offset[v],
            p->first_step[v], p->last_step[v]);
  }
  for (int k = 0; k <= 4; k++) {
    double y = T + ph * k / 4;
    fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f MB</text>\n", L - 6, y + 4,
            arena * k / 4 / 1048576.0);
    double x = L + pw * k / 4;
    fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">step %d</text>\n", x, H - B + 18, steps * k / 4);
  }
  fprintf(f, "</svg>\n");
  fclose(f);
  return 0;
}

int sn_plan_view(const char *cmd, const char *model, int opt_level, sn_feed_opts *fo, const char *svg_path) {
  sinter_options *opts = NULL;
  sinter_session *s = NULL;
  sn_feeds feeds = {0};
  int *ids = NULL;
  const sn_plan *p = NULL;
  sinter_status *st = sn_cli_options(1, opt_level, &opts);
  if (!st) st = sinter_session_create(model, opts, &s);
  if (!st) st = sn_feeds_make(cmd, s, fo, false, &feeds);
  if (!st && !(ids = sn_calloc(feeds.n + 1, sizeof(int)))) st = SN_ERR_OOM();
  if (!st) st = sn_feeds_value_ids(s, &feeds, ids);
  if (!st) st = sn_session_plan(s, (int)feeds.n, ids, (const sn_tensor *const *)feeds.tensors, &p);
  int rc = SN_EXIT_OK;
  if (st) {
    rc = sn_cli_fail(cmd, st);
    goto done;
  }
  const sn_graph *g = s->g;
  long long weights = 0, dynamic = 0, inputs_bytes = 0;
  for (int v = 0; v < g->n_values; v++) {
    const sn_value *val = &g->values[v];
    if (val->role == SN_VAL_INITIALIZER && val->data && val->data->data) weights += (long long)val->data->nbytes;
    if (val->role == SN_VAL_INTERMEDIATE && p->first_step[v] >= 0 && p->offset[v] < 0 && !val->is_output) dynamic++;
  }
  for (size_t k = 0; k < feeds.n; k++) inputs_bytes += (long long)sinter_tensor_nbytes(feeds.tensors[k]);
  printf("\nplan (optimization level %d) at input shapes:", opt_level < 0 ? 3 : opt_level);
  for (size_t k = 0; k < feeds.n; k++) {
    char b[256];
    printf(" %s%s", feeds.names[k],
           sn_cli_fmt_shape(sinter_tensor_rank(feeds.tensors[k]), sinter_tensor_dims(feeds.tensors[k]), NULL, b, sizeof b));
  }
  printf("\n  steps:            %d\n", g->n_nodes);
  printf("  arena:            %zu bytes (%.2f MB) for %d intermediate tensors\n", p->arena_size,
         (double)p->arena_size / 1048576.0, p->n_planned);
  printf("  in place:         %d tensors written over an input that dies at their step\n", p->n_inplace);
  printf("  concat in place:  %d Concat inputs written where Concat would copy them\n", p->n_concat_inputs);
  printf("  naive sum:        %zu bytes (%.2f MB): the arena is %.1f%% of it\n", p->naive_size,
         (double)p->naive_size / 1048576.0, p->naive_size ? 100.0 * (double)p->arena_size / (double)p->naive_size : 0.0);
  printf("  weights:          %lld bytes (%.2f MB), kept apart from per-run memory\n", weights, (double)weights / 1048576.0);
  printf("  inputs:           %lld bytes (caller memory, not copied)\n", inputs_bytes);
  printf("  dynamic values:   %lld (shapes known only at run time: allocated per run)\n", dynamic);
  /* the optimized graph's ops, so fusions show */
  typedef struct {
    const char *op;
    int n;
  } row;
  row *rows = sn_calloc((size_t)g->n_nodes + 1, sizeof(row));
  int nr = 0;
  for (int i = 0; rows && i < g->n_nodes; i++) {
    const char *op = g->nodes[i].op_type;
    int k = 0;
    while (k < nr && strcmp(rows[k].op, op)) k++;
    if (k == nr) rows[nr++] = (row){op, 0};
    rows[k].n++;
  }
  printf("  ops after optimization:");
  for (int k = 0; k < nr; k++) printf("%s %s x%d", k ? "," : "", rows[k].op, rows[k].n);
  printf("\n");
  sn_free(rows);
  if (svg_path) {
    if (write_svg(svg_path, g, p) != 0) {
      fprintf(stderr, "sinter %s: error: cannot write %s\n", cmd, svg_path);
      rc = SN_EXIT_FAIL;
      goto done;
    }
    printf("  picture:          %s\n", svg_path);
    size_t len = strlen(svg_path);
    char *png = sn_malloc(len + 8), *cmdline = sn_malloc(2 * len + 128);
    if (png && cmdline) {
      snprintf(png, len + 8, "%.*s.png", (int)(len > 4 && !strcmp(svg_path + len - 4, ".svg") ? len - 4 : len), svg_path);
      const char *conv = NULL;
      if (!system("command -v rsvg-convert >/dev/null 2>&1"))
        conv = "rsvg-convert -o '%s' '%s' 2>/dev/null";
      else if (!system("command -v convert >/dev/null 2>&1"))
        conv = "convert '%s' '%s' 2>/dev/null";
      if (conv && !strchr(svg_path, '\'')) {
        if (conv[0] == 'r')
          snprintf(cmdline, 2 * len + 128, conv, png, svg_path);
        else
          snprintf(cmdline, 2 * len + 128, conv, svg_path, png);
        if (!system(cmdline) && access(png, R_OK) == 0) printf("  picture (PNG):    %s\n", png);
      }
    }
    sn_free(png);
    sn_free(cmdline);
  }
done:
  sn_free(ids);
  sn_feeds_free(&feeds);
  sinter_session_free(s);
  sinter_options_free(opts);
  return rc;
}
