/* RMSNorm kernels (cl/norm.cl): rmsnorm_row and rmsnorm_wg at two work-group sizes, on
 * SmolLM2's width and on widths and batch sizes that are not multiples of the work-group,
 * out of place and in place, against the double reference ref_rmsnorm. */
#include <stdlib.h>
#include <string.h>

#include "ref/ref_ops.h"
#include "test_common.h"

static int wg_runs = 0; /* rmsnorm_wg cases that ran */

/* Runs `kernel` of prog on x (T rows of n) and compares with the reference. wg = 0: one
 * work-item per row (local NULL), else a work-group of wg items per row. */
static void run_case(clg_context *ctx, clg_program *prog, const char *kernel, int wg, int n, int T,
                     int in_place) {
    const float eps = 1e-5f;
    size_t count = (size_t)n * T;
    float *x = malloc(count * sizeof *x), *w = malloc((size_t)n * sizeof *w);
    float *y = malloc(count * sizeof *y), *want = malloc(count * sizeof *want);
    if (!x || !w || !y || !want) {
        CHECK(!"out of memory");
        goto done;
    }
    tc_fill(x, count, -2.0f, 2.0f);
    tc_fill(w, (size_t)n, 0.5f, 1.5f);
    ref_rmsnorm(x, w, want, n, eps, T);

    clg_buffer *bx = tc_buffer(ctx, "x", count * sizeof *x, CLG_TRANSFER_FIRST_EXECUTION, x);
    clg_buffer *bw = tc_buffer(ctx, "w", (size_t)n * sizeof *w, CLG_TRANSFER_FIRST_EXECUTION, w);
    clg_buffer *by =
        in_place ? bx : tc_buffer(ctx, "y", count * sizeof *y, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_graph *g = NULL;
    clg_task *t = NULL;
    CHECK_OK(clg_graph_create(ctx, "norm", &g));
    CHECK_OK(clg_graph_add_task(g, kernel, prog, kernel, &t));
    if (!t) goto done;
    CHECK_OK(clg_task_arg_buffer(t, 0, bx, in_place ? CLG_READ_WRITE : CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 1, bw, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 2, by, in_place ? CLG_READ_WRITE : CLG_WRITE));
    CHECK_OK(clg_task_arg_int(t, 3, n));
    CHECK_OK(clg_task_arg_float(t, 4, eps));
    CHECK_OK(clg_task_arg_int(t, 5, T));
    if (wg) {
        size_t global = (size_t)T * wg, local = (size_t)wg;
        if (!tc_set_range(t, 1, &global, &local)) goto skip;
        wg_runs++;
    } else {
        /* rounded up past T: the extra items must exit */
        size_t global = ((size_t)T + 7) / 8 * 8;
        CHECK_OK(clg_task_set_range(t, 1, &global, NULL));
    }
    CHECK_OK(clg_graph_execute(g));
    CHECK_OK(clg_buffer_read(by, 0, y, count * sizeof *y));

    /* The f32 sum of n squares (n <= 1000) is within n * 2^-24 ~ 6e-5 relative of the exact
     * one (the sqrt halves that), plus a few ulp for the scaling: rtol 1e-4; values are O(1). */
    char what[96];
    snprintf(what, sizeof what, "%s wg=%d n=%d T=%d%s", kernel, wg, n, T,
             in_place ? " in place" : "");
    tc_close(what, y, want, count, 1e-6f, 1e-4f);
skip:
    clg_graph_destroy(g);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(bw);
    if (!in_place) clg_buffer_destroy(by);
done:
    free(x);
    free(w);
    free(y);
    free(want);
}

int main(void) {
    tc_seed(101);
    clg_context *ctx = tc_context();
    static const struct { int n, T; } shapes[] = {{576, 5}, {576, 1}, {100, 3}, {1000, 2}, {7, 4}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    static const int wgs[] = {64, 32, 16}; /* 64 is the default: built without options */

    for (int k = 0; k < 3; k++) {
        char opt[32] = "";
        if (wgs[k] != 64) snprintf(opt, sizeof opt, "-DNORM_WG=%d", wgs[k]);
        clg_program *prog = NULL;
        CHECK_OK(clg_program_get(ctx, "norm", opt, &prog));
        if (!prog) continue;
        for (int s = 0; s < nshapes; s++) {
            if (k == 0) run_case(ctx, prog, "rmsnorm_row", 0, shapes[s].n, shapes[s].T, 0);
            run_case(ctx, prog, "rmsnorm_wg", wgs[k], shapes[s].n, shapes[s].T, 0);
        }
        run_case(ctx, prog, "rmsnorm_wg", wgs[k], 576, 3, 1);
        if (k == 0) run_case(ctx, prog, "rmsnorm_row", 0, 576, 3, 1);
    }
    CHECK(wg_runs >= 2 * (nshapes + 1)); /* at least two work-group sizes ran */
    clg_context_destroy(ctx);
    return tc_finish("ops.norm");
}
