/* The IR: a model holds a graph of values and nodes. Values are addressed by integer id (index into
 * graph->values); nodes by index into graph->nodes, kept in topological order. Every value carries
 * a type (kind, element type, shape with static or symbolic dims) filled by shape inference.
 * Subgraphs (If/Loop/Scan bodies) are graphs whose `parent` is the enclosing graph; a value a
 * subgraph reads from an enclosing scope appears in it as a CAPTURE value whose `outer` is the id
 * of that value in the parent graph, and the node owning the subgraph lists the parent ids in
 * `captures` so liveness keeps them alive. */
#ifndef SN_IR_H
#define SN_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

/* A dimension: v >= 0 is a known size; v < 0 is unknown, and sym (if non-NULL) names it. */
typedef struct sn_dim {
  int64_t v;
  const char *sym; /* interned in the model's string pool */
} sn_dim;

/* The type of a value. rank < 0: unknown rank. dtype 0: unknown element type. For kind SEQUENCE the
 * dtype/rank/dims describe the elements; for OPTIONAL, elem_kind says whether the contained value
 * is a tensor or a sequence. */
typedef struct sn_type {
  uint8_t kind;      /* sn_kind */
  uint8_t elem_kind; /* for OPTIONAL: SN_KIND_TENSOR or SN_KIND_SEQUENCE */
  sn_dtype dtype;
  int rank;
  sn_dim dims[SN_MAX_RANK];
} sn_type;

typedef enum sn_value_role {
  SN_VAL_INTERMEDIATE = 0, /* produced by a node */
  SN_VAL_INPUT = 1,        /* graph input fed by the caller (may also have a default in `data`) */
  SN_VAL_INITIALIZER = 2,  /* constant weight: `data` holds it */
  SN_VAL_CAPTURE = 3       /* read from an enclosing graph: `outer` is its id there */
} sn_value_role;

typedef struct sn_value {
  char *name;
  sn_type type;
  uint8_t role;      /* sn_value_role */
  bool is_output;    /* a graph output */
  sn_tensor *data;   /* initializer / input default: owned by the graph (data may point into the model file) */
  int producer;      /* node index, or -1 */
  int outer;         /* for CAPTURE: value id in graph->parent */
} sn_value;

typedef enum sn_attr_type {
  SN_ATTR_UNDEFINED = 0,
  SN_ATTR_FLOAT = 1,
  SN_ATTR_INT = 2,
  SN_ATTR_STRING = 3,
  SN_ATTR_TENSOR = 4,
  SN_ATTR_GRAPH = 5,
  SN_ATTR_FLOATS = 6,
  SN_ATTR_INTS = 7,
  SN_ATTR_STRINGS = 8,
  SN_ATTR_TENSORS = 9,
  SN_ATTR_GRAPHS = 10,
  SN_ATTR_SPARSE_TENSOR = 11,
  SN_ATTR_SPARSE_TENSORS = 12,
  SN_ATTR_TYPE_PROTO = 13,
  SN_ATTR_TYPE_PROTOS = 14
} sn_attr_type;

struct sn_graph;

typedef struct sn_attr {
  char *name;
  int type; /* sn_attr_type */
  float f;
  int64_t i;
  char *s; /* NUL-terminated copy; s_len is its byte length (may contain NULs) */
  size_t s_len;
  sn_tensor *t;
  struct sn_graph *g;
  int n; /* element count of the list kinds */
  float *floats;
  int64_t *ints;
  char **strings;
  size_t *string_lens;
  sn_tensor **tensors;
  struct sn_graph **graphs;
  sn_type *types; /* TYPE_PROTO(S): n entries (1 for TYPE_PROTO) */
  char *ref_attr_name; /* inside a function body: refers to the caller's attribute */
} sn_attr;

struct sn_op;

typedef struct sn_node {
  char *name;
  char *op_type;
  char *domain; /* "" for the default ai.onnx domain */
  int n_in;
  int *in; /* value ids; -1 for an absent optional input */
  int n_out;
  int *out; /* value ids; -1 for an absent optional output */
  int n_attrs;
  sn_attr *attrs;
  int opset;              /* the model's opset version for this node's domain */
  const struct sn_op *op; /* resolved at load */
  void *params;           /* op-private data from op->prepare, freed by op->free_params */
  int n_captures;         /* values of this graph that the node's subgraphs read */
  int *captures;
} sn_node;

typedef struct sn_opset {
  char *domain;
  int64_t version;
} sn_opset;

typedef struct sn_model sn_model;

typedef struct sn_graph {
  char *name;
  sn_model *model;
  struct sn_graph *parent;
  int n_values, cap_values;
  sn_value *values;
  int n_nodes, cap_nodes;
  sn_node *nodes;
  int n_inputs;
  int *inputs; /* value ids, in declared order (caller-fed inputs only, not initializers) */
  int n_outputs;
  int *outputs;
  /* name -> value id hash (open addressing) */
  int hash_cap;
  int *hash;
  /* the executor's liveness plan for this graph when run as a subgraph, built once on first use */
  struct sn_plan *exec_plan;
} sn_graph;

/* A function from the model's functions list, kept for inlining at import. */
typedef struct sn_function {
  char *name, *domain, *overload;
  int n_inputs, n_outputs, n_attrs;
  char **inputs, **outputs, **attr_names;
  int n_attr_defaults;
  sn_attr *attr_defaults;
  int n_opsets;
  sn_opset *opsets;
  int n_nodes;
  sn_node *nodes; /* in/out here are indices into `value_names` */
  int n_value_names;
  char **value_names;
} sn_function;

struct sn_model {
  char *path;      /* for messages: the file name, or "<memory>" */
  char *dir;       /* folder that external data paths are relative to (NULL: external data refused) */
  int64_t ir_version;
  char *producer_name, *producer_version, *domain, *doc;
  int64_t model_version;
  int n_opsets;
  sn_opset *opsets;
  int n_meta;
  char **meta_keys, **meta_values;
  int n_functions;
  sn_function *functions;
  sn_graph *graph;
  /* backing storage of zero-copy initializers */
  const uint8_t *bytes;
  size_t n_bytes;
  bool bytes_mapped; /* munmap on free (else sn_free) */
  /* interned strings (symbolic dim names) and extra owned blocks (external data maps) */
  int n_strings, cap_strings;
  char **strings;
  int n_maps, cap_maps;
  void **maps;
  size_t *map_lens;
};

/* ---- model / graph construction ---------------------------------------------------------------- */

sn_model *sn_model_new(void);
void sn_model_free(sn_model *m);
/* Opset version the model imports for `domain` ("" or "ai.onnx" for the default); -1 if none. */
int64_t sn_model_opset(const sn_model *m, const char *domain);
/* Intern a string in the model's pool (for symbolic dims). NULL on OOM. */
const char *sn_model_intern(sn_model *m, const char *s);

sn_graph *sn_graph_new(sn_model *m, sn_graph *parent, const char *name);
void sn_graph_free(sn_graph *g);
/* Add a value named `name` (must be unique in this graph; "" gets a generated unique name). */
sn_error *sn_graph_add_value(sn_graph *g, const char *name, int *id);
/* Find a value by name in this graph only; -1 if absent. */
int sn_graph_find(const sn_graph *g, const char *name);
/* Append a node (zeroed, fields owned by the graph afterwards); returns its index. */
sn_error *sn_graph_add_node(sn_graph *g, int *index);
/* Reorder nodes topologically (stable); a cycle or a value produced twice is an error naming it. */
sn_error *sn_graph_toposort(sn_graph *g);
/* Rebuild every value's producer index from the nodes. */
void sn_graph_update_producers(sn_graph *g);
void sn_node_clear(sn_node *n);
void sn_attr_clear(sn_attr *a);
sn_error *sn_attr_copy(sn_model *m, const sn_attr *src, sn_attr *dst);

/* "node 'conv1' (Conv, opset 13)" into buf; returns buf. */
const char *sn_node_desc(const sn_node *n, char *buf, size_t len);
/* "float32[1,3,N,224]" style description of a type. */
const char *sn_type_str(const sn_type *t, char *buf, size_t len);

/* ---- attribute access (returns defaults when absent) ---------------------------------------------- */

const sn_attr *sn_node_attr(const sn_node *n, const char *name);
int64_t sn_attr_int(const sn_node *n, const char *name, int64_t def);
float sn_attr_float(const sn_node *n, const char *name, float def);
const char *sn_attr_str(const sn_node *n, const char *name, const char *def);
/* Number of ints (or -1 if absent); *out points at them. */
int sn_attr_ints(const sn_node *n, const char *name, const int64_t **out);
int sn_attr_floats(const sn_node *n, const char *name, const float **out);

/* ---- types -------------------------------------------------------------------------------------- */

void sn_type_set_unknown(sn_type *t, sn_dtype dt); /* tensor of dtype dt with unknown rank */
void sn_type_set(sn_type *t, sn_dtype dt, int rank, const sn_dim *dims);
void sn_type_set_static(sn_type *t, sn_dtype dt, int rank, const int64_t *dims);
static inline sn_dim sn_dim_known(int64_t v) { return (sn_dim){v, NULL}; }
static inline sn_dim sn_dim_unknown(void) { return (sn_dim){-1, NULL}; }
/* true when rank and every dim are known */
bool sn_type_is_static(const sn_type *t);
/* Copy the known dims into out (for static types); returns false if any is unknown. */
bool sn_type_dims(const sn_type *t, int64_t *out);
bool sn_dim_same(sn_dim a, sn_dim b);

#endif
