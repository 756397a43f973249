/* Placeholder: this family's ops are not written yet. */
#include "ops/op.h"

const sn_op sn_ops_loss[] = {{0}};
