/* The fixed-layout elementwise row ops through the op library: add_bias (into a column range
 * of wider rows), scale_rows and copy_cols (into a column range of wider rows whose other
 * columns stay) of cl/rows.cl, and glu_split of cl/glu.cl with SiLU and with -DFFN_GELU's
 * GELU (out of place and into the gate buffer), at odd and model widths, T 1 and > 1,
 * against ref_rows.c. Tasks are made for one token and moved to the batch with
 * llm_op_set_tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graphs/ops/ops.h"
#include "ref/ref_ops.h"
#include "test_common.h"

typedef enum { OP_BIAS, OP_SCALE, OP_COLS, OP_GLU } row_op;
static const char *op_names[] = {"add_bias", "scale_rows", "copy_cols", "glu_split"};

/* One op on T rows of n columns. dst rows are wider (stride = n + extra, at off) for the
 * bias and the column copy; glu runs with gelu on prog_gelu, in place into the gate when
 * in_place. */
static void run(clg_context *ctx, clg_program *prog, row_op op, int n, int T, int extra, int off,
                int gelu, int in_place) {
    const int stride = n + extra;
    const size_t nsrc = (size_t)T * n, ndst = (size_t)T * stride;
    float *a = malloc(nsrc * sizeof *a), *b = malloc(nsrc * sizeof *b);
    float *dst = malloc(ndst * sizeof *dst), *want = malloc(ndst * sizeof *want);
    float *got = malloc(ndst * sizeof *got);
    clg_graph *g = NULL;
    clg_buffer *ba = NULL, *bb = NULL, *bd = NULL;
    clg_task *t = NULL;
    float atol = 0.0f, rtol = 0.0f;
    if (!a || !b || !dst || !want || !got) {
        CHECK(!"out of memory");
        goto done;
    }
    tc_fill(a, nsrc, -6.0f, 6.0f); /* glu: gate values reach both tails of the activation */
    tc_fill(b, nsrc, -2.0f, 2.0f);
    tc_fill(dst, ndst, -4.0f, 4.0f);
    memcpy(want, dst, ndst * sizeof *dst);
    const float s = 25.298221f; /* sqrt(640) */
    size_t nout = ndst;         /* values compared: dst, or the [T, n] result */
    switch (op) {
    case OP_BIAS:
        ref_add_bias(want, b, stride, off, n, T);
        break;
    case OP_SCALE:
        nout = nsrc;
        memcpy(want, a, nsrc * sizeof *a);
        ref_scale(want, s, nsrc);
        break;
    case OP_COLS:
        ref_copy_cols(a, n, want, stride, off, n, T);
        break;
    case OP_GLU:
        nout = nsrc;
        ref_glu(a, b, want, nsrc, gelu);
        /* exp / tanh within a few ulp (OpenCL 1.2: exp 3, tanh 5), products of O(10) */
        atol = 1e-6f;
        rtol = 4e-6f;
        break;
    }

    ba = tc_buffer(ctx, "a", nsrc * 4, CLG_TRANSFER_FIRST_EXECUTION, a);
    bb = tc_buffer(ctx, "b", (op == OP_BIAS ? (size_t)n : nsrc) * 4, CLG_TRANSFER_FIRST_EXECUTION,
                   b);
    bd = tc_buffer(ctx, "dst", ndst * 4, CLG_TRANSFER_FIRST_EXECUTION, dst);
    CHECK_OK(clg_graph_create(ctx, "rows", &g));
    if (!g || !ba || !bb || !bd) goto done;
    unsigned t_arg = 0;
    switch (op) {
    case OP_BIAS:
        CHECK_OK(llm_op_add_bias(g, "bias", prog, bd, bb, stride, off, n, 1, &t));
        t_arg = BIAS_T;
        break;
    case OP_SCALE:
        CHECK_OK(llm_op_scale(g, "scale", prog, ba, s, n, 1, &t));
        t_arg = SCALE_T;
        break;
    case OP_COLS:
        CHECK_OK(llm_op_copy_cols(g, "pack", prog, ba, n, bd, stride, off, n, 1, &t));
        t_arg = COLS_T;
        break;
    case OP_GLU:
        CHECK_OK(llm_op_glu(g, "glu", prog, ba, bb, in_place ? ba : bd, n, 1, &t));
        t_arg = GLU_T;
        break;
    }
    if (!t) goto done;
    CHECK_OK(llm_op_set_tokens(t, t_arg, T));
    CHECK_OK(clg_graph_execute(g));
    clg_buffer *res = op == OP_SCALE || (op == OP_GLU && in_place) ? ba : bd;
    CHECK_OK(clg_buffer_read(res, 0, got, nout * 4));
    char what[96];
    snprintf(what, sizeof what, "%s%s n=%d T=%d stride=%d off=%d%s", op_names[op],
             op == OP_GLU ? (gelu ? " gelu" : " silu") : "", n, T, stride, off,
             in_place ? " in place" : "");
    tc_close(what, got, want, nout, atol, rtol);
done:
    clg_graph_destroy(g);
    clg_buffer_destroy(ba);
    clg_buffer_destroy(bb);
    clg_buffer_destroy(bd);
    free(a);
    free(b);
    free(dst);
    free(want);
    free(got);
}

int main(void) {
    tc_seed(808);
    clg_context *ctx = tc_context();
    clg_program *rows = NULL, *silu = NULL, *gelu = NULL;
    CHECK_OK(clg_program_get(ctx, "rows", "", &rows));
    CHECK_OK(clg_program_get(ctx, "glu", "", &silu));
    CHECK_OK(clg_program_get(ctx, "glu", "-DFFN_GELU", &gelu));
    static const struct {
        int n, T, extra, off;
    } sh[] = {
        {1, 1, 2, 1}, {7, 3, 5, 2}, {100, 1, 60, 40}, {640, 4, 256, 128}, {33, 6, 0, 0},
    };
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
        if (rows) {
            run(ctx, rows, OP_BIAS, sh[i].n, sh[i].T, sh[i].extra, sh[i].off, 0, 0);
            run(ctx, rows, OP_SCALE, sh[i].n, sh[i].T, 0, 0, 0, 0);
            run(ctx, rows, OP_COLS, sh[i].n, sh[i].T, sh[i].extra, sh[i].off, 0, 0);
        }
        for (int in_place = 0; in_place < 2; in_place++) {
            if (silu) run(ctx, silu, OP_GLU, sh[i].n, sh[i].T, 0, 0, 0, in_place);
            if (gelu) run(ctx, gelu, OP_GLU, sh[i].n, sh[i].T, 0, 0, 1, in_place);
        }
    }
    clg_context_destroy(ctx);
    return tc_finish("ops.rows");
}
