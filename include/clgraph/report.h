/* clgraph reports: what a plan runs (the plan dump) and where its time goes (the profiler:
 * a text table, a JSON report and a Chrome trace), for any plan of any context; and the two
 * small writers they use (JSON strings, files replaced atomically), for tools that write
 * more of the same.
 *
 * Nothing here prints on its own: text goes to the FILE the caller passes, files to the
 * paths it names, and every failure comes back as a status with clg_last_error().
 */
#ifndef CLGRAPH_REPORT_H
#define CLGRAPH_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "clgraph/planner.h"
#include "clgraph/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- profiler ---------------------------------------------------------------
 * Kernel time per task name (summed over the plan's graphs) with the bandwidth it reached
 * against the device's probed peak, transfers per buffer, launches per step, where the
 * wall time of the steps went (kernels, transfers, the device idle inside steps, the host
 * between steps), as a table, a JSON report, and a Chrome trace (traceEvents: opens in
 * Perfetto or chrome://tracing). Devices whose event timestamps are not real (Mesa 22's
 * rusticl) get counts and bytes, no times, and no trace. */

typedef struct clg_profiler clg_profiler;

/* Starts collecting ctx's profiled events through its trace callback (replacing any
 * callback set with clg_context_set_trace) and resets ctx's task and buffer statistics
 * (clg_profile_reset), so that the events and the tables cover the same steps. ctx must
 * have been created with options.profiling = 1 (CLG_ERR_INVALID_ARG otherwise).
 * keep_events: also store every event, one record per kernel or transfer, for the trace.
 * *out is owned by the caller: clg_profiler_destroy, before ctx is destroyed. */
clg_status clg_profiler_create(clg_context *ctx, int keep_events, clg_profiler **out);

/* What one step is called in the text ("token": "launches per token"); default "step".
 * Copied (at most 31 bytes). The JSON keys do not change. */
void clg_profiler_set_step_name(clg_profiler *p, const char *name);

/* Forgets what was collected, resets ctx's statistics and collects again (also after a
 * report): call it where the profiled steps start. */
void clg_profiler_restart(clg_profiler *p);

/* Stops collecting and reports the steps since creation or the last restart. plan: its
 * tasks make the task table (borrowed; a plan of the profiler's context); wall_s: host
 * wall time of those steps; steps: how many. Probes the device's read bandwidth first
 * (about a second on a CPU device; timestamps must be real). Writes the table to text
 * (NULL: none), the JSON report to json_path and the trace to trace_path (NULL: none;
 * each written atomically, see clg_file_write_atomic). Every output is attempted; the
 * first failure is returned, its message naming the path and the other failures:
 * CLG_ERR_IO (a file could not be written), CLG_ERR_INVALID_ARG (a path that exists and
 * is not a regular file; a trace asked of a profiler without keep_events),
 * CLG_ERR_UNSUPPORTED (a trace from timestamps that are not real: no file is written),
 * CLG_ERR_OUT_OF_MEMORY. A failed probe is not an error: the table says so and the JSON
 * has "probe": null. */
clg_status clg_profiler_report(clg_profiler *p, clg_plan *plan, double wall_s, int steps,
                               FILE *text, const char *json_path, const char *trace_path);

/* Unsets ctx's trace callback and frees p. Safe on NULL. */
void clg_profiler_destroy(clg_profiler *p);

/* ---- plan dump ----------------------------------------------------------------
 * Per plan, graph and task: the kernel (or "(library call)" for a call task), the
 * planner's choice for the task's kind (its label, tuned or untuned, the winner's and the
 * runner-up's measured times), the global and local sizes, the local memory, and how its
 * program was built (source, spirv, cache; host for a call task); per plan the replay
 * choice when the planner has one. Tasks of a kind's alternatives that are not chosen
 * are disabled: the JSON lists them with "enabled": false, the text leaves them out. The
 * text collapses consecutive graphs with the same task names (the layers of a model) to
 * the first of them.
 * JSON: {"device", "driver", "plans": [{"plan", "replay"?: {"mode", "tuned", "best_us"?,
 * "runner_up_us"?}, "graphs": [{"graph", "tasks": [{"task", "kernel", "kind"?, "variant",
 * "global", "local", "local_mem", "build", "tuned", "best_us"?, "runner_up_us"?,
 * "enabled"?}]}]}]}; "variant" is "default" for a task of no kind. */

/* Dumps plans[0 .. n) named names[i] (borrowed; n >= 1, plans of one context) to f, as
 * text or (json = 1) one JSON object. planner: the planner that chose how their tasks
 * run, or NULL (every task then shows "default"). CLG_ERR_IO when f fails. */
clg_status clg_plan_dump(FILE *f, const clg_planner *planner, const char *const *names,
                         clg_plan *const *plans, size_t n, int json);

/* ---- writers ------------------------------------------------------------------ */

/* Writes s[0 .. n) as a JSON string literal: quotes, backslashes and control characters
 * escaped, bytes that are not valid UTF-8 written as U+FFFD, so that the output is valid
 * JSON whatever the bytes. */
void clg_json_str_n(FILE *f, const char *s, size_t n);
/* The same for a NUL-terminated string. */
void clg_json_str(FILE *f, const char *s);

/* Fills the file opened for clg_file_write_atomic; returns CLG_OK, or a status set with
 * clg_fail (the file is then not written). */
typedef clg_status (*clg_write_fn)(void *user, FILE *f);

/* Checks that path may be written by clg_file_write_atomic: it is named, and it is either
 * absent or a regular file that is not the same file as input (same device and inode, so also
 * through a symbolic or hard link or another spelling of the path; input NULL: none). Returns
 * CLG_OK, or CLG_ERR_INVALID_ARG with a message naming what, path and why. For writers that
 * check before long work, and for those that read input before replacing path. */
clg_status clg_file_check_output(const char *path, const char *what, const char *input);

/* Writes path atomically: fn fills a temporary file in the same folder, which is then
 * renamed over path, so that readers see the old file or the whole new one, never a
 * part. what names the content in messages ("profile"). A path that exists and is not a
 * regular file (/dev/null, a folder, a FIFO) is refused with CLG_ERR_INVALID_ARG
 * (clg_file_check_output) before anything is created; a file that
 * cannot be created, written or renamed is CLG_ERR_IO, the message naming path and why;
 * nothing is left behind on failure. */
clg_status clg_file_write_atomic(const char *path, const char *what, clg_write_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
