/* Profile tables for a plan (see profile.h). */
#include "apps/profile.h"

#include <stdlib.h>
#include <string.h>

typedef struct row {
    const char *name;
    unsigned long long count, ns;
} row;

static int by_time(const void *a, const void *b) {
    const row *x = a, *y = b;
    return (y->ns > x->ns) - (y->ns < x->ns);
}

void profile_print(FILE *f, clg_context *ctx, clg_plan *plan, double wall_s, int steps) {
    size_t cap = 64, n = 0;
    row *rows = calloc(cap, sizeof *rows);
    unsigned long long total = 0, launches = 0;
    for (size_t g = 0; rows && g < clg_plan_graph_count(plan); g++) {
        clg_graph *gr = clg_plan_graph(plan, g);
        for (size_t i = 0; i < clg_graph_task_count(gr); i++) {
            clg_task *t = clg_graph_task(gr, i);
            clg_task_stats st;
            clg_task_get_stats(t, &st);
            size_t k = 0;
            while (k < n && strcmp(rows[k].name, clg_task_name(t))) k++;
            if (k == n) {
                if (n == cap) break;
                rows[n++].name = clg_task_name(t);
            }
            rows[k].count += st.executions;
            rows[k].ns += st.total_ns;
            total += st.total_ns;
            launches += st.executions;
        }
    }
    if (!rows) return;
    qsort(rows, n, sizeof *rows, by_time);
    const clg_device_info *d = clg_context_device(ctx);
    fprintf(f, "\nprofile: %d steps, %.1f ms wall, %.1f launches per step, device %s\n", steps,
            wall_s * 1e3, steps ? (double)launches / steps : 0.0, d->device_name);
    if (d->profiling_timer != 1) {
        fprintf(f, "  (this device's event timestamps are not real: kernel times unavailable)\n");
    } else {
        fprintf(f, "  %-14s %8s %10s %10s %7s\n", "task", "count", "total ms", "mean us", "share");
        for (size_t k = 0; k < n; k++)
            fprintf(f, "  %-14s %8llu %10.2f %10.1f %6.1f%%\n", rows[k].name, rows[k].count,
                    rows[k].ns / 1e6, rows[k].count ? rows[k].ns / 1e3 / rows[k].count : 0.0,
                    total ? 100.0 * rows[k].ns / total : 0.0);
        fprintf(f, "  kernel time %.1f ms = %.1f%% of wall\n", total / 1e6,
                wall_s > 0 ? 100.0 * total / 1e9 / wall_s : 0.0);
    }
    free(rows);
}
