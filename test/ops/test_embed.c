/* Op test of the embedding lookup in cl/matmul.cl on $CLGRAPH_DEVICE: embed_TY for every
 * weight type against llm_dequantize of the looked-up rows (test/ref/ref_matmul.c), and
 * embed_TY_x8 (the llm_x8_type types) on the x8 layout against embed_TY on the row-major weight. */
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "ref/ref_ops.h"
#include "test_common.h"

#define N_VOCAB 50

static const int types[] = {LLM_DTYPE_F32,  LLM_DTYPE_F16,  LLM_DTYPE_BF16, LLM_DTYPE_Q8_0,
                            LLM_DTYPE_Q4_0, LLM_DTYPE_Q4_1, LLM_DTYPE_Q5_0, LLM_DTYPE_Q5_1,
                            LLM_DTYPE_Q4_K, LLM_DTYPE_Q5_K, LLM_DTYPE_Q6_K};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

/* Runs kernel (embed_TY or embed_TY_x8) on w (wbytes) for tokens[0 .. T) into got [T, cols]. */
static void launch(clg_context *ctx, clg_program *prog, const char *kernel, const void *w,
                   size_t wbytes, const int *tokens, int cols, int T, float *got) {
    size_t ny = (size_t)T * cols;
    clg_graph *g = NULL;
    clg_task *t = NULL;
    CHECK_OK(clg_graph_create(ctx, "embed", &g));
    CHECK_OK(clg_graph_add_task(g, kernel, prog, kernel, &t));
    clg_buffer *bw = tc_buffer(ctx, "w", wbytes, CLG_TRANSFER_FIRST_EXECUTION, (void *)w);
    clg_buffer *bt = tc_buffer(ctx, "tok", (size_t)T * sizeof(int), CLG_TRANSFER_FIRST_EXECUTION,
                               (void *)tokens);
    clg_buffer *by = tc_buffer(ctx, "y", ny * sizeof(float), CLG_TRANSFER_EVERY_EXECUTION, got);
    if (t && bw && bt && by) {
        CHECK_OK(clg_task_arg_buffer(t, 0, bw, CLG_READ));
        CHECK_OK(clg_task_arg_buffer(t, 1, bt, CLG_READ));
        CHECK_OK(clg_task_arg_buffer(t, 2, by, CLG_WRITE));
        CHECK_OK(clg_task_arg_int(t, 3, cols));
        CHECK_OK(clg_task_arg_int(t, 4, T));
        size_t global[2] = {((size_t)cols + 15) / 16 * 16, (size_t)T}; /* rounded up */
        CHECK_OK(clg_task_set_range(t, 2, global, NULL));
        CHECK_OK(clg_graph_execute(g));
    }
    clg_graph_destroy(g);
    clg_buffer_destroy(bw);
    clg_buffer_destroy(bt);
    clg_buffer_destroy(by);
}

static void test_case(clg_context *ctx, clg_program *prog, int ty, int cols, int T) {
    size_t nw = (size_t)N_VOCAB * cols, ny = (size_t)T * cols;
    size_t wbytes = llm_dtype_row_bytes(ty, (uint64_t)cols) * N_VOCAB;
    float *got = malloc(ny * sizeof *got);
    float *want = malloc(ny * sizeof *want);
    unsigned char *w = malloc(wbytes);
    int tokens[16];
    CHECK(got && want && w && wbytes > 0 && T <= 16);
    if (!(got && want && w && wbytes > 0 && T <= 16)) goto done;
    CHECK_OK(ref_random_weights(ty, w, nw, 1.0f));
    /* first and last rows, a repeat, the rest random */
    for (int t = 0; t < T; t++)
        tokens[t] = (int)(tc_randu() % N_VOCAB);
    tokens[0] = N_VOCAB - 1;
    if (T > 2) tokens[1] = 0, tokens[2] = tokens[0];
    CHECK_OK(ref_embed(ty, w, N_VOCAB, tokens, want, cols, T));
    for (size_t i = 0; i < ny; i++)
        got[i] = 1e30f; /* every element must be written */
    char kernel[32];
    snprintf(kernel, sizeof kernel, "embed_%s", llm_dtype_name(ty));
    launch(ctx, prog, kernel, w, wbytes, tokens, cols, T, got);
    /* f16 scales times 8-bit or 4-bit quants are exact in float (at most 19 significant
     * bits), so the kernel must match bit for bit; only q4_1's d*nib + m may be fused
     * into one fma by the device compiler: one rounding of a value of magnitude <= 2
     * (weights in [-1, 1]), below 1e-6. The K-quants' and q5_1's products before their
     * min are exact too (q6_k's (d*sc)*q rounds, in the same order as llm_dequantize). */
    char what[64];
    snprintf(what, sizeof what, "embed_%s cols %d T %d", llm_dtype_name(ty), cols, T);
    tc_close(what, got, want, ny, ty == LLM_DTYPE_Q4_1 ? 1e-6f : 0.0f, 0.0f);
done:
    free(got);
    free(want);
    free(w);
}

/* embed_TY_x8 on the llm_repack_x8 copy of a [X8_VOCAB, cols] weight: bit for bit what
 * embed_TY gives on the row-major weight, for the rows around the first row-group boundary
 * (7, 8), the first and last and random ones. */
#define X8_VOCAB 56
static void test_x8(clg_context *ctx, clg_program *prog, int ty, int cols) {
    enum { T = 9 };
    int tokens[T] = {7, 8, X8_VOCAB - 1, 0, 15, 0, 0, 0, 7};
    for (int t = 5; t < 8; t++)
        tokens[t] = (int)(tc_randu() % X8_VOCAB);
    size_t ny = (size_t)T * cols;
    size_t wbytes = llm_dtype_row_bytes(ty, (uint64_t)cols) * X8_VOCAB;
    float *got = malloc(ny * sizeof *got), *want = malloc(ny * sizeof *want);
    unsigned char *w = malloc(wbytes), *w8 = malloc(wbytes);
    CHECK(got && want && w && w8);
    if (!(got && want && w && w8)) goto done;
    CHECK_OK(ref_random_weights(ty, w, (size_t)X8_VOCAB * cols, 1.0f));
    CHECK_OK(llm_repack_x8(ty, w, w8, X8_VOCAB, (size_t)cols));
    for (size_t i = 0; i < ny; i++) { /* every element must be written, by both */
        got[i] = -1e30f;
        want[i] = 1e30f;
    }
    char kernel[32];
    snprintf(kernel, sizeof kernel, "embed_%s", llm_dtype_name(ty));
    launch(ctx, prog, kernel, w, wbytes, tokens, cols, T, want);
    snprintf(kernel, sizeof kernel, "embed_%s_x8", llm_dtype_name(ty));
    launch(ctx, prog, kernel, w8, wbytes, tokens, cols, T, got);
    size_t bad = 0, at = 0;
    for (size_t i = 0; i < ny; i++)
        if (memcmp(&got[i], &want[i], sizeof *got) && !bad++) at = i;
    CHECK(bad == 0);
    if (bad)
        fprintf(stderr,
                "embed_%s_x8 cols %d: %zu of %zu values differ from embed_%s; first: token %d "
                "(row %d) element %zu: got %.9g want %.9g\n",
                llm_dtype_name(ty), cols, bad, ny, llm_dtype_name(ty), (int)(at / cols),
                tokens[at / cols], at % cols, got[at], want[at]);
    else
        printf("  embed_%s_x8 cols %d: %zu values bit-exact to embed_%s\n", llm_dtype_name(ty),
               cols, ny, llm_dtype_name(ty));
done:
    free(got);
    free(want);
    free(w);
    free(w8);
}

int main(void) {
    tc_seed(77);
    clg_context *ctx = tc_context();
    clg_program *prog = NULL;
    CHECK_OK(clg_program_get(ctx, "matmul", "", &prog));
    if (prog)
        for (int ti = 0; ti < N_TYPES; ti++) {
            const int cols_list[4] = {32, 576, 45, 256};
            for (int c = 0; c < 4; c++) {
                if (cols_list[c] % (int)llm_dtype_block_elems(types[ti])) continue;
                test_case(ctx, prog, types[ti], cols_list[c], 1);
                test_case(ctx, prog, types[ti], cols_list[c], 7);
            }
        }
    for (int ti = 0; prog && ti < N_TYPES; ti++)
        if (llm_x8_type(types[ti])) {
            int k = llm_dtype_block_elems(types[ti]) == 256; /* the K-quants */
            test_x8(ctx, prog, types[ti], k ? 256 : 32);
            test_x8(ctx, prog, types[ti], k ? 768 : 576);
        }
    clg_context_destroy(ctx);
    return tc_finish("ops.embed");
}
