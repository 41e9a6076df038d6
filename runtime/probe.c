/* Device probe: read bandwidth (median of runs, best of two access patterns) and
 * launch overhead, measured through the runtime's own graphs. */
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

/* Seconds of one execution of g: kernel time when profiling, else wall time. */
static clg_status time_graph(clg_context *ctx, clg_graph *g, double *sec) {
    double t0 = clg_now_ns();
    clg_status st = clg_graph_execute(g);
    double wall = 1e-9 * (clg_now_ns() - t0);
    if (st != CLG_OK) return st;
    clg_task_stats ts;
    clg_task_get_stats(clg_graph_task(g, 0), &ts);
    *sec = ctx->profiling && ctx->info.profiling_timer == 1 ? 1e-9 * (double)ts.last_ns : wall;
    return CLG_OK;
}

#define PROBE_RUNS 7
#define PROBE_LAUNCHES 400

clg_status clg_context_probe(clg_context *ctx, clg_probe *out) {
    memset(out, 0, sizeof *out);
    clg_program *prog;
    clg_status st = clg_program_get(ctx, "probe", "", &prog);
    if (st != CLG_OK) return st;

    uint64_t bytes = 256ull << 20;
    if (bytes > ctx->info.max_alloc_size / 2) bytes = ctx->info.max_alloc_size / 2;
    bytes &= ~(uint64_t)((1u << 20) - 1);
    cl_uint n4 = (cl_uint)(bytes / 16);
    size_t items = ctx->info.type == CLG_DEVICE_CPU ? (size_t)ctx->info.compute_units * 4 : 65536;
    while (n4 % items)
        items /= 2; /* items divides n4 (both powers of two times units) */
    if (items == 0) items = 1;
    cl_uint chunk = (cl_uint)(n4 / items);

    size_t n_part = items > 256 ? items : 256; /* a partial sum per item of any pattern */
    clg_buffer *x = NULL, *part = NULL;
    clg_graph *fill = NULL, *rows = NULL, *strided = NULL, *rows1 = NULL, *empty = NULL,
              *many = NULL;
    clg_task *t;
    size_t g1;
    if ((st = clg_buffer_create(ctx, "probe.x", bytes, CLG_TRANSFER_DEVICE_ONLY, NULL, &x)) ||
        (st = clg_buffer_create(ctx, "probe.partial", n_part * sizeof(float),
                                CLG_TRANSFER_DEVICE_ONLY, NULL, &part)))
        goto done;
    if ((st = clg_graph_create(ctx, "probe.fill", &fill)) ||
        (st = clg_graph_add_task(fill, "fill", prog, "probe_fill", &t)) ||
        (st = clg_task_arg_buffer(t, 0, x, CLG_WRITE)) ||
        (st = clg_task_arg_scalar(t, 1, &n4, sizeof n4)) ||
        (st = clg_task_set_range(t, 1, (g1 = n4, &g1), NULL)) || (st = clg_graph_execute(fill)))
        goto done;
    if ((st = clg_graph_create(ctx, "probe.rows", &rows)) ||
        (st = clg_graph_add_task(rows, "read_rows", prog, "probe_read_rows", &t)) ||
        (st = clg_task_arg_buffer(t, 0, x, CLG_READ)) ||
        (st = clg_task_arg_buffer(t, 1, part, CLG_WRITE)) ||
        (st = clg_task_arg_scalar(t, 2, &chunk, sizeof chunk)) ||
        (st = clg_task_set_range(t, 1, (g1 = items, &g1), NULL)))
        goto done;
    size_t gs = ctx->info.type == CLG_DEVICE_CPU ? items : 65536;
    if ((st = clg_graph_create(ctx, "probe.strided", &strided)) ||
        (st = clg_graph_add_task(strided, "read_strided", prog, "probe_read_strided", &t)) ||
        (st = clg_task_arg_buffer(t, 0, x, CLG_READ)) ||
        (st = clg_task_arg_buffer(t, 1, part, CLG_WRITE)) ||
        (st = clg_task_arg_scalar(t, 2, &n4, sizeof n4)) ||
        (st = clg_task_set_range(t, 1, &gs, NULL)))
        goto done;

    /* Contiguous chunks again, one work-item per work-group: PoCL runs each work-group's
     * items as one loop, and one item per group keeps each thread on a single stream
     * (on a 2-core EPYC: ~19 GB/s, as a plain C loop, against ~11 with larger groups). */
    size_t items1 = 256, one = 1;
    while (n4 % items1)
        items1 /= 2;
    cl_uint chunk1 = (cl_uint)(n4 / items1);
    if ((st = clg_graph_create(ctx, "probe.rows1", &rows1)) ||
        (st = clg_graph_add_task(rows1, "read_rows", prog, "probe_read_rows", &t)) ||
        (st = clg_task_arg_buffer(t, 0, x, CLG_READ)) ||
        (st = clg_task_arg_buffer(t, 1, part, CLG_WRITE)) ||
        (st = clg_task_arg_scalar(t, 2, &chunk1, sizeof chunk1)) ||
        (st = clg_task_set_range(t, 1, &items1, &one)))
        goto done;

    double best = 0;
    clg_graph *pat[3] = {rows, strided, rows1};
    for (int k = 0; k < 3; k++) {
        double sec[PROBE_RUNS];
        if ((st = time_graph(ctx, pat[k], &sec[0]))) goto done; /* warm-up */
        for (int r = 0; r < PROBE_RUNS; r++)
            if ((st = time_graph(ctx, pat[k], &sec[r]))) goto done;
        double gbs = (double)bytes / clg_median(sec, PROBE_RUNS) / 1e9;
        if (gbs > best) best = gbs;
    }
    out->read_gbs = best;
    out->read_bytes = bytes;

    /* Launch overhead: PROBE_LAUNCHES tasks in one step vs one step per launch. */
    g1 = 1;
    if ((st = clg_graph_create(ctx, "probe.launch", &empty)) ||
        (st = clg_graph_add_task(empty, "empty", prog, "probe_empty", &t)) ||
        (st = clg_task_arg_buffer(t, 0, part, CLG_WRITE)) ||
        (st = clg_task_set_range(t, 1, &g1, NULL)) ||
        (st = clg_graph_create(ctx, "probe.launches", &many)))
        goto done;
    for (int i = 0; i < PROBE_LAUNCHES; i++)
        if ((st = clg_graph_add_task(many, "empty", prog, "probe_empty", &t)) ||
            (st = clg_task_arg_buffer(t, 0, part, CLG_WRITE)) ||
            (st = clg_task_set_range(t, 1, &g1, NULL)))
            goto done;
    if ((st = clg_graph_execute(many))) goto done;
    double t0 = clg_now_ns();
    if ((st = clg_graph_execute(many))) goto done;
    out->launch_us = 1e-3 * (clg_now_ns() - t0) / PROBE_LAUNCHES;
    int n_fin = PROBE_LAUNCHES / 4;
    t0 = clg_now_ns();
    for (int i = 0; i < n_fin; i++)
        if ((st = clg_graph_execute(empty))) goto done;
    out->launch_finish_us = 1e-3 * (clg_now_ns() - t0) / n_fin;
done:
    clg_graph_destroy(fill);
    clg_graph_destroy(rows);
    clg_graph_destroy(strided);
    clg_graph_destroy(rows1);
    clg_graph_destroy(empty);
    clg_graph_destroy(many);
    clg_buffer_destroy(x);
    clg_buffer_destroy(part);
    return st;
}
