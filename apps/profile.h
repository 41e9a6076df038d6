/* Profile tables for a plan: kernel time per task name (summed over graphs),
 * transfers per buffer, launches per step. */
#ifndef CLGRAPH_APPS_PROFILE_H
#define CLGRAPH_APPS_PROFILE_H
#include <stdio.h>

#include "clgraph/runtime.h"

/* Prints the table to f. wall_s: wall time of the profiled steps; steps: how many. */
void profile_print(FILE *f, clg_context *ctx, clg_plan *plan, double wall_s, int steps);
#endif
