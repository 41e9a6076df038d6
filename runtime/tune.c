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
    /* The incumbent keeps its place unless the winner is clearly faster. */
    if (best != n && best != 0 && n > 0 && ns[0] >= 0 &&
        (ns[best] > ns[0] * (1.0 - CLG_TUNE_MARGIN) || ns[0] - ns[best] < CLG_TUNE_MIN_GAIN_NS))
        best = 0;
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ns[i] = the median of row i of v [n, reps], for the rows with ns[i] >= 0 (sorts them). */
static void row_medians(double *v, size_t n, int reps, double *ns) {
    for (size_t i = 0; i < n; i++)
        if (ns[i] >= 0) {
            qsort(v + i * (size_t)reps, (size_t)reps, sizeof *v, cmp_double);
            ns[i] = v[i * (size_t)reps + (size_t)reps / 2];
        }
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

static clg_status apply(clg_task *const *tasks, size_t nt, const clg_candidate *c) {
    clg_status st = CLG_OK;
    for (size_t k = 0; k < nt && st == CLG_OK; k++) {
        st = clg_task_set_kernel(tasks[k], c->prog, c->kernel);
        if (st == CLG_OK) st = clg_task_set_range(tasks[k], c->dims, c->global, c->local[0] ? c->local : NULL);
    }
    return st;
}

/* Time of one step running all tasks as set now: the sum of their kernel times where the
 * device's timer is real, else wall time. */
static clg_status time_once(clg_task *const *tasks, size_t nt, double *out) {
    clg_context *ctx = tasks[0]->graph->ctx;
    double t0 = now_ns();
    clg_status st = clg_tasks_run(tasks, nt);
    *out = now_ns() - t0;
    if (st == CLG_OK && ctx->profiling && ctx->info.profiling_timer == 1) {
        *out = 0;
        for (size_t k = 0; k < nt; k++) *out += (double)tasks[k]->stats.last_ns;
    }
    return st;
}

clg_status clg_task_tune_group(clg_task *const *tasks, size_t n_tasks, const clg_candidate *cands,
                               size_t n, int warmup, int reps, double *ns, size_t *best) {
    if (n == 0 || n_tasks == 0 || reps < 1 || warmup < 0)
        return clg_fail(CLG_ERR_INVALID_ARG, "tuning %zu tasks: %zu candidates, %d repeats", n_tasks, n, reps);
    /* Statistics of the tuning runs are not the tasks': restore them afterwards. */
    clg_task_stats *saved = malloc(n_tasks * sizeof *saved);
    double *v = malloc(n * (size_t)reps * sizeof *v); /* [candidate, repeat] */
    if (!saved || !v) {
        free(saved);
        free(v);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tuning");
    }
    for (size_t k = 0; k < n_tasks; k++) saved[k] = tasks[k]->stats;
    clg_status st = CLG_OK;
    /* Warm-up, which also drops the candidates the device refuses. */
    for (size_t i = 0; i < n && st == CLG_OK; i++) {
        ns[i] = -1;
        if (apply(tasks, n_tasks, &cands[i]) != CLG_OK) continue;
        ns[i] = 0;
        for (int r = 0; r < warmup && st == CLG_OK; r++) st = clg_tasks_run(tasks, n_tasks);
    }
    /* Repeats interleaved across candidates, so that a slow spell of a shared machine
     * falls on all of them; the median of each. */
    for (int r = 0; r < reps && st == CLG_OK; r++)
        for (size_t i = 0; i < n && st == CLG_OK; i++)
            if (ns[i] >= 0 && (st = apply(tasks, n_tasks, &cands[i])) == CLG_OK)
                st = time_once(tasks, n_tasks, &v[i * (size_t)reps + (size_t)r]);
    if (st == CLG_OK) row_medians(v, n, reps, ns);
    for (size_t k = 0; k < n_tasks; k++) tasks[k]->stats = saved[k];
    free(saved);
    free(v);
    if (st != CLG_OK) return st;
    *best = clg_tune_pick(ns, n);
    if (*best == n)
        return clg_fail(CLG_ERR_UNSUPPORTED, "tuning task '%s': the device refused all %zu candidates",
                        tasks[0]->name, n);
    return apply(tasks, n_tasks, &cands[*best]);
}

clg_status clg_task_sets_time(const clg_task_set *sets, size_t n, int warmup, int reps, double *ns) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!sets[i].n)
            return clg_fail(CLG_ERR_INVALID_ARG, "timing task sets: set %zu of %zu is empty", i, n);
        total += sets[i].n;
    }
    if (n == 0 || reps < 1 || warmup < 0)
        return clg_fail(CLG_ERR_INVALID_ARG, "timing %zu task sets, %d repeats", n, reps);
    clg_task_stats *saved = malloc(total * sizeof *saved);
    double *v = malloc(n * (size_t)reps * sizeof *v); /* [set, repeat] */
    if (!saved || !v) {
        free(saved);
        free(v);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "timing task sets");
    }
    for (size_t i = 0, k = 0; i < n; i++)
        for (size_t j = 0; j < sets[i].n; j++) saved[k++] = sets[i].tasks[j]->stats;
    clg_status st = CLG_OK;
    for (size_t i = 0; i < n && st == CLG_OK; i++)
        for (int r = 0; r < warmup && st == CLG_OK; r++) st = clg_tasks_run(sets[i].tasks, sets[i].n);
    for (int r = 0; r < reps && st == CLG_OK; r++)
        for (size_t i = 0; i < n && st == CLG_OK; i++)
            st = time_once(sets[i].tasks, sets[i].n, &v[i * (size_t)reps + (size_t)r]);
    for (size_t i = 0; i < n; i++) ns[i] = 0;
    if (st == CLG_OK) row_medians(v, n, reps, ns);
    for (size_t i = 0, k = 0; i < n; i++)
        for (size_t j = 0; j < sets[i].n; j++) sets[i].tasks[j]->stats = saved[k++];
    free(saved);
    free(v);
    return st;
}

clg_status clg_task_tune(clg_task *t, const clg_candidate *cands, size_t n, int warmup, int reps,
                         double *ns, size_t *best) {
    return clg_task_tune_group(&t, 1, cands, n, warmup, reps, ns, best);
}
