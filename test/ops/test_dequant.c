/* dequant_TY of cl/matmul.cl and cl/swiglu.cl (the prefill's library GEMM path) on the device in
 * $CLGRAPH_DEVICE against C: each weight type's dequantization of random matrices (into a
 * row offset of a larger matrix, rows around it untouched) equals llm_dequantize exactly
 * (f32 arithmetic on the same values; f16 conversions exact), and SwiGLU (and with
 * FFN_GELU, GeGLU) of a stacked gate|up row to float rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "ref/ref_ops.h"
#include "test_common.h"

static const int types[] = {LLM_DTYPE_F32,  LLM_DTYPE_F16,  LLM_DTYPE_BF16, LLM_DTYPE_Q8_0,
                            LLM_DTYPE_Q4_0, LLM_DTYPE_Q4_1, LLM_DTYPE_Q5_0, LLM_DTYPE_Q5_1,
                            LLM_DTYPE_Q4_K, LLM_DTYPE_Q5_K, LLM_DTYPE_Q6_K};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

static void test_dequant(clg_context *ctx, clg_program *prog, int ti, int rows, int cols) {
    const int ty = types[ti], row0 = 3, total = rows + row0 + 2;
    const size_t n = (size_t)rows * (size_t)cols, rb = llm_dtype_row_bytes(ty, (uint64_t)cols);
    float *want = malloc((size_t)total * cols * sizeof *want),
          *got = malloc((size_t)total * cols * sizeof *got);
    unsigned char *wq = malloc(rb * (size_t)rows);
    CHECK(want && got && wq);
    if (!want || !got || !wq) goto done;
    CHECK_OK(ref_random_weights(ty, wq, n, 2.0f));
    for (size_t i = 0; i < (size_t)total * cols; i++)
        want[i] = got[i] = -99.0f; /* rows not written */
    CHECK_OK(llm_dequantize(ty, wq, want + (size_t)row0 * cols, n));
    clg_buffer *bw = tc_buffer(ctx, "w", rb * (size_t)rows, CLG_TRANSFER_FIRST_EXECUTION, wq);
    clg_buffer *bo = tc_buffer(ctx, "out", (size_t)total * cols * sizeof(float),
                               CLG_TRANSFER_EVERY_EXECUTION, got);
    clg_graph *g;
    clg_task *t;
    char kernel[32];
    snprintf(kernel, sizeof kernel, "dequant_%s", llm_dtype_name(ty));
    CHECK_OK(clg_graph_create(ctx, kernel, &g));
    CHECK_OK(clg_graph_add_task(g, kernel, prog, kernel, &t));
    CHECK_OK(clg_task_arg_buffer(t, 0, bw, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 1, bo, CLG_READ_WRITE)); /* uploaded: the -99 rows must stay */
    CHECK_OK(clg_task_arg_int(t, 2, rows));
    CHECK_OK(clg_task_arg_int(t, 3, cols));
    CHECK_OK(clg_task_arg_int(t, 4, row0));
    size_t l[2] = {16, 1}, gs[2] = {((size_t)(cols + 31) / 32 + 15) / 16 * 16, (size_t)rows};
    CHECK_OK(clg_task_set_range(t, 2, gs, l));
    CHECK_OK(clg_graph_execute(g));
    char what[64];
    snprintf(what, sizeof what, "dequant_%s %dx%d at row %d", llm_dtype_name(ty), rows, cols, row0);
    tc_close(what, got, want, (size_t)total * cols, 0, 0);
    clg_graph_destroy(g);
    clg_buffer_destroy(bw);
    clg_buffer_destroy(bo);
done:
    free(want);
    free(got);
    free(wq);
}

static void test_swiglu(clg_context *ctx, int n, int T, int h_stride, int gelu) {
    clg_program *prog;
    CHECK_OK(clg_program_get(ctx, "swiglu", gelu ? "-DFFN_GELU" : "", &prog));
    float *gu = malloc((size_t)T * 2 * n * sizeof *gu),
          *h = malloc((size_t)T * h_stride * sizeof *h),
          *want = malloc((size_t)T * h_stride * sizeof *want);
    CHECK(gu && h && want);
    if (!gu || !h || !want) goto done;
    tc_fill(gu, (size_t)T * 2 * n, -6, 6);
    for (int i = 0; i < T * h_stride; i++)
        h[i] = want[i] = 5.0f; /* the stride's padding stays */
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++) {
            double g = gu[(size_t)t * 2 * n + i], u = gu[(size_t)t * 2 * n + n + i];
            double a =
                gelu ? 0.5 * g * (1.0 + tanh(0.79788456080286535588 * g * (1.0 + 0.044715 * g * g)))
                     : g / (1.0 + exp(-g));
            want[(size_t)t * h_stride + i] = (float)(a * u);
        }
    clg_buffer *bg =
        tc_buffer(ctx, "gu", (size_t)T * 2 * n * sizeof(float), CLG_TRANSFER_FIRST_EXECUTION, gu);
    clg_buffer *bh =
        tc_buffer(ctx, "h", (size_t)T * h_stride * sizeof(float), CLG_TRANSFER_EVERY_EXECUTION, h);
    clg_graph *g;
    clg_task *t;
    CHECK_OK(clg_graph_create(ctx, "swiglu", &g));
    CHECK_OK(clg_graph_add_task(g, "swiglu", prog, "swiglu", &t));
    CHECK_OK(clg_task_arg_buffer(t, 0, bg, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 1, bh, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_int(t, 2, n));
    CHECK_OK(clg_task_arg_int(t, 3, T));
    CHECK_OK(clg_task_arg_int(t, 4, h_stride));
    size_t l[2] = {16, 1}, gs[2] = {((size_t)n + 15) / 16 * 16, (size_t)T};
    CHECK_OK(clg_task_set_range(t, 2, gs, l));
    CHECK_OK(clg_graph_execute(g));
    char what[64];
    snprintf(what, sizeof what, "swiglu%s n %d, T %d, stride %d", gelu ? " (gelu)" : "", n, T,
             h_stride);
    tc_close(what, h, want, (size_t)T * h_stride, 1e-5f, 1e-5f);
    clg_graph_destroy(g);
done:
    free(gu);
    free(h);
    free(want);
}

int main(void) {
    tc_seed(1234);
    clg_context *ctx = tc_context();
    clg_program *prog;
    CHECK_OK(clg_program_get(ctx, "matmul", "", &prog));
    /* cols: whole blocks (64, 576; 256, 768 for the K-quants), and for f32 / f16 / bf16 a
     * partial last group (40, 50). */
    static const int shapes[][2] = {{1, 64}, {37, 576}, {5, 40}, {9, 50}, {3, 256}, {11, 768}};
    for (int ti = 0; ti < N_TYPES; ti++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            if (shapes[s][1] % (int)llm_dtype_block_elems(types[ti])) continue;
            test_dequant(ctx, prog, ti, shapes[s][0], shapes[s][1]);
        }
    for (int gelu = 0; gelu < 2; gelu++) {
        test_swiglu(ctx, 40, 3, 48, gelu);
        test_swiglu(ctx, 1536, 9, 1536, gelu);
    }
    clg_context_destroy(ctx);
    return tc_finish("dequant");
}
