/* Prints a model's step plans: per graph and task, the kernel and its variant, the
 * NDRange, local memory, how the program was built, and the planner's measurements. */
#ifndef CLGRAPH_APPS_PLAN_DUMP_H
#define CLGRAPH_APPS_PLAN_DUMP_H
#include <stdio.h>

#include "clgraph/llm.h"

void plan_dump(FILE *f, const llm_model *m, int json);
#endif
