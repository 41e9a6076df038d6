/* The tuner on a real device: candidates of different variants and work-group sizes
 * are timed on the task's buffers, refused ones are skipped, and the task is left on
 * a candidate that still computes the right result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_common.h"

static const char *src =
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
    "    for (int h = WG / 2; h > 0; h >>= 1) { if (l < h) red[l] += red[l + h]; barrier(CLK_LOCAL_MEM_FENCE); }\n"
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
        for (int k = 0; k < COLS; k++) s += x[r * COLS + k];
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
    for (int i = 0; i < 4; i++) printf("  %-14s %10.0f ns\n", c[i].label, ns[i]);
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
    CHECK(clg_task_set_kernel(t, p16, "no_such_kernel") == CLG_ERR_OPENCL);
    clg_context_destroy(ctx);
    return tc_finish("tune");
}
