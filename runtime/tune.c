/* The tuner's measuring step and decision rule, for the planner (planner.c): the time of one
 * step of a set of tasks, and the incumbent rule (clg_tune_pick). */
#include "clgraph/planner.h"
#include "runtime/internal.h"

size_t clg_tune_pick(const double *ns, size_t n) {
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if (ns[i] >= 0 && (best == n || ns[i] < ns[best])) best = i;
    /* The incumbent keeps its place unless the winner is clearly faster. */
    if (best != n && best != 0 && n > 0 && ns[0] >= 0 &&
        (ns[best] > ns[0] * (1.0 - CLG_TUNE_MARGIN) || ns[0] - ns[best] < CLG_TUNE_MIN_GAIN_NS))
        best = 0;
    return best;
}

clg_status clg_tasks_time(clg_task *const *tasks, size_t n, double *out) {
    clg_context *ctx = tasks[0]->graph->ctx;
    double t0 = clg_now_ns();
    clg_status st = clg_tasks_run(tasks, n);
    *out = clg_now_ns() - t0;
    if (st == CLG_OK && ctx->profiling && ctx->info.profiling_timer == 1) {
        *out = 0;
        for (size_t k = 0; k < n; k++)
            *out += (double)tasks[k]->stats.last_ns;
    }
    return st;
}
