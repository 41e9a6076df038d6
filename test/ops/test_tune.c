/* The tuner on a real device: candidates of different variants and work-group sizes
 * are timed on the task's buffers, refused ones are skipped, and the task is left on
 * a candidate that still computes the right result; then the same with candidates made
 * from the source's @variant declarations, as the planner makes them (the declared
 * default first; each swept value a build of the program), where a work-group the
 * device refuses for a kernel with barriers (llvmpipe: above 32) is timed -1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_common.h"

static const char *src =
    "/* @variant row kernels=rowsum local=16,1,4 device=cpu\n"
    " * @variant wg kernels=rowsum_wg sweep=WG:16,64,32 local=WG device=gpu\n */\n"
    "#ifndef WG\n#define WG 16\n#endif\n"
    "__kernel void rowsum(__global const float *x, __global float *y, int n, int cols) {\n"
    "    int r = get_global_id(0); if (r >= n) return;\n"
    "    float s = 0.0f; for (int k = 0; k < cols; k++) s += x[r * cols + k];\n"
    "    y[r] = s;\n"
    "}\n"
    "__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))\n"
    "void rowsum_wg(__global const float *x, __global float *y, int n, int cols) {\n"
    "    __local float red[WG];\n"
    "    int r = get_group_id(0), l = get_local_id(0);\n"
    "    float s = 0.0f;\n"
    "    if (r < n) for (int k = l; k < cols; k += WG) s += x[r * cols + k];\n"
    "    red[l] = s; barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    for (int h = WG / 2; h > 0; h >>= 1) { if (l < h) red[l] += red[l + h]; "
    "barrier(CLK_LOCAL_MEM_FENCE); }\n"
    "    if (l == 0 && r < n) y[r] = red[0];\n"
    "}\n";

enum { ROWS = 100, COLS = 256 };

int main(void) {
    tc_seed(5);
    clg_context *ctx = tc_context();
    static float x[ROWS * COLS], y[ROWS], want[ROWS];
    tc_fill(x, ROWS * COLS, -1, 1);
    for (int r = 0; r < ROWS; r++) {
        double s = 0;
        for (int k = 0; k < COLS; k++)
            s += x[r * COLS + k];
        want[r] = (float)s;
    }
    clg_program *p16;
    CHECK_OK(clg_program_from_source(ctx, "tune", src, "-DWG=16", &p16));
    clg_buffer *bx, *by;
    CHECK_OK(clg_buffer_create(ctx, "x", sizeof x, CLG_TRANSFER_FIRST_EXECUTION, x, &bx));
    CHECK_OK(clg_buffer_create(ctx, "y", sizeof y, CLG_TRANSFER_EVERY_EXECUTION, y, &by));
    clg_graph *g;
    clg_task *t;
    CHECK_OK(clg_graph_create(ctx, "g", &g));
    CHECK_OK(clg_graph_add_task(g, "rowsum", p16, "rowsum", &t));
    CHECK_OK(clg_task_arg_buffer(t, 0, bx, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 1, by, CLG_WRITE));
    CHECK_OK(clg_task_arg_int(t, 2, ROWS));
    CHECK_OK(clg_task_arg_int(t, 3, COLS));
    size_t gl = ROWS;
    CHECK_OK(clg_task_set_range(t, 1, &gl, NULL));
    CHECK_OK(clg_graph_execute(g));
    tc_close("before tuning", y, want, ROWS, 1e-4f, 1e-5f);

    clg_candidate c[4] = {
        {p16, "rowsum", 1, {ROWS, 1, 1}, {0, 0, 0}, "row"},
        {p16, "rowsum", 1, {112, 1, 1}, {16, 1, 1}, "row local=16"},
        {p16, "rowsum_wg", 1, {ROWS * 16, 1, 1}, {16, 1, 1}, "wg=16"},
        {p16, "rowsum", 1, {ROWS, 1, 1}, {16, 1, 1}, "bad range"}, /* 100 % 16 != 0 */
    };
    double ns[4];
    size_t best = 99;
    CHECK_OK(clg_task_tune(t, c, 4, 1, 5, ns, &best));
    for (int i = 0; i < 4; i++)
        printf("  %-14s %10.0f ns\n", c[i].label, ns[i]);
    CHECK(ns[3] < 0); /* refused by the runtime's range check */
    CHECK(ns[0] > 0 && ns[1] > 0 && ns[2] > 0);
    CHECK(best == clg_tune_pick(ns, 4));
    CHECK(!strcmp(clg_task_kernel_name(t), c[best].kernel));
    clg_task_stats st;
    clg_task_get_stats(t, &st);
    CHECK(st.executions == 1); /* tuning runs are not counted as the task's executions */

    /* Every candidate, and the winner, compute the same sums. */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(clg_task_set_kernel(t, c[i].prog, c[i].kernel));
        CHECK_OK(clg_task_set_range(t, 1, c[i].global, c[i].local[0] ? c[i].local : NULL));
        memset(y, 0, sizeof y);
        CHECK_OK(clg_graph_execute(g));
        tc_close(c[i].label, y, want, ROWS, 1e-4f, 1e-5f);
    }

    /* Candidates from the declarations: the device type's default first. */
    clg_variant v[4];
    size_t nv = 0;
    CHECK_OK(clg_program_variants(p16, v, 4, &nv));
    CHECK(nv == 2);
    const char *dev = clg_context_device(ctx)->type == CLG_DEVICE_GPU ? "gpu" : "cpu";
    clg_candidate d[8];
    char labels[8][48];
    size_t nd = 0;
    for (int pass = 0; pass < 2; pass++) /* 0: the default variant, 1: the others */
        for (size_t j = 0; j < nv; j++) {
            if ((strcmp(v[j].device, dev) == 0) != (pass == 0)) continue;
            unsigned count = v[j].n_local ? v[j].n_local : v[j].n_values;
            for (unsigned i = 0; i < count && nd < 8; i++) {
                clg_candidate *e = &d[nd];
                memset(e, 0, sizeof *e);
                e->dims = 1;
                e->kernel = v[j].kernels[0];
                if (v[j].n_local) { /* a row per item, rows rounded up to the local size */
                    e->prog = p16;
                    e->local[0] = v[j].local[i];
                    e->global[0] = (ROWS + e->local[0] - 1) / e->local[0] * e->local[0];
                    snprintf(labels[nd], sizeof labels[nd], "%.12s local %zu", v[j].name,
                             e->local[0]);
                } else { /* a work-group per row, the program built with the swept value */
                    char opts[64];
                    snprintf(opts, sizeof opts, "-D%s=%d", v[j].sweep, v[j].values[i]);
                    CHECK_OK(clg_program_from_source(ctx, "tune", src, opts, &e->prog));
                    e->local[0] = (size_t)v[j].values[i];
                    e->global[0] = ROWS * e->local[0];
                    snprintf(labels[nd], sizeof labels[nd], "%.12s %d", v[j].name, v[j].values[i]);
                }
                e->label = labels[nd++];
            }
        }
    CHECK(nd == 6);
    double dns[8];
    CHECK_OK(clg_task_tune(t, d, nd, 1, 5, dns, &best));
    CHECK(best < nd && dns[best] > 0 && dns[0] > 0);
    CHECK(best == 0 || dns[best] < (1.0 - CLG_TUNE_MARGIN) * dns[0]); /* the incumbent rule */
    for (size_t i = 0; i < nd; i++) {
        /* Refused by the tuner exactly when the runtime refuses the range; the others sum. */
        int taken = clg_task_set_kernel(t, d[i].prog, d[i].kernel) == CLG_OK &&
                    clg_task_set_range(t, 1, d[i].global, d[i].local) == CLG_OK;
        printf("  %-14s %10.0f ns%s%s\n", d[i].label, dns[i],
               taken ? "" : " (refused by the device)", i == best ? " <- kept" : "");
        CHECK(taken == (dns[i] >= 0));
        if (!taken) continue;
        memset(y, 0, sizeof y);
        CHECK_OK(clg_graph_execute(g));
        tc_close(d[i].label, y, want, ROWS, 1e-4f, 1e-5f);
    }
    CHECK(clg_task_set_kernel(t, p16, "no_such_kernel") == CLG_ERR_OPENCL);
    clg_context_destroy(ctx);
    return tc_finish("tune");
}
