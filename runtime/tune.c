/* The tuner's measuring step: times candidate variants of one task on its real
 * buffers and shapes and keeps the fastest. Which candidates exist is the caller's
 * knowledge (kernels declare their variants); the runtime only measures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/internal.h"

size_t clg_tune_pick(const double *ns, size_t n) {
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if (ns[i] >= 0 && (best == n || ns[i] < ns[best])) best = i;
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

/* Median time of reps executions of t as it is set now. */
static clg_status measure(clg_task *t, int warmup, int reps, double *out) {
    int real_timer = t->graph->ctx->profiling && t->graph->ctx->info.profiling_timer == 1;
    double *v = malloc((size_t)reps * sizeof *v);
    if (!v) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tuning");
    clg_status st = CLG_OK;
    for (int i = 0; i < warmup && st == CLG_OK; i++) st = clg_task_run_alone(t);
    for (int i = 0; i < reps && st == CLG_OK; i++) {
        double t0 = now_ns();
        st = clg_task_run_alone(t);
        v[i] = real_timer ? (double)t->stats.last_ns : now_ns() - t0;
    }
    if (st == CLG_OK) {
        qsort(v, (size_t)reps, sizeof *v, cmp_double);
        *out = v[reps / 2];
    }
    free(v);
    return st;
}

static clg_status apply(clg_task *t, const clg_candidate *c) {
    clg_status st = clg_task_set_kernel(t, c->prog, c->kernel);
    if (st == CLG_OK) st = clg_task_set_range(t, c->dims, c->global, c->local[0] ? c->local : NULL);
    return st;
}

clg_status clg_task_tune(clg_task *t, const clg_candidate *cands, size_t n, int warmup, int reps,
                         double *ns, size_t *best) {
    if (n == 0 || reps < 1 || warmup < 0)
        return clg_fail(CLG_ERR_INVALID_ARG, "tuning task '%s': %zu candidates, %d repeats", t->name, n, reps);
    /* Statistics of the tuning runs are not the task's: restore them afterwards. */
    clg_task_stats saved = t->stats;
    for (size_t i = 0; i < n; i++) {
        ns[i] = -1;
        if (apply(t, &cands[i]) != CLG_OK) continue; /* refused by the device: not a candidate */
        clg_status st = measure(t, warmup, reps, &ns[i]);
        if (st != CLG_OK) {
            t->stats = saved;
            return st;
        }
    }
    t->stats = saved;
    *best = clg_tune_pick(ns, n);
    if (*best == n)
        return clg_fail(CLG_ERR_UNSUPPORTED, "tuning task '%s': the device refused all %zu candidates",
                        t->name, n);
    return apply(t, &cands[*best]);
}
