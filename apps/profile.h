/* Profiler behind clgraph run --profile / --trace: kernel time per task name
 * (summed over graphs) with achieved bandwidth against the probed peak,
 * transfers per buffer, launches per token, where the wall time of the steps
 * went, a JSON report and a Chrome trace (traceEvents, opens in Perfetto). */
#ifndef CLGRAPH_APPS_PROFILE_H
#define CLGRAPH_APPS_PROFILE_H
#include <stdio.h>

#include "clgraph/runtime.h"

typedef struct profile profile;

/* Starts collecting ctx's profiled events through its trace callback (ctx needs
 * options.profiling = 1). keep_events: also store every event, for the trace
 * file (one record per kernel or transfer). *out is owned by the caller:
 * profile_destroy. 0 on success, 1 out of memory. */
int profile_create(clg_context *ctx, int keep_events, profile **out);

/* Forgets what was collected. Call where the profiled part starts, together
 * with clg_profile_reset. */
void profile_restart(profile *p);

/* Stops collecting, probes the device's read bandwidth (about a second), prints
 * the tables to f and writes the JSON report to json_path and the trace to
 * trace_path when they are not NULL. plan: its tasks make the task table;
 * wall_s: host wall time of the profiled steps; steps: how many (tokens).
 * Returns 0, or 1 when a file could not be written (said on stderr). */
int profile_report(profile *p, clg_plan *plan, double wall_s, int steps, FILE *f,
                   const char *json_path, const char *trace_path);

/* Unsets the trace callback and frees p. Safe on NULL. */
void profile_destroy(profile *p);
#endif
