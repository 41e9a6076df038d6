/* The fixed-layout norms of cl/norm.cl through the op library: rmsnorm_heads (the Q and K
 * norms in place on qkv rows: q heads then k heads, v untouched) at head_dim 64, 128, 256
 * and an odd 7, and rmsnorm_add (x += rmsnorm(y) * w) at odd and model widths, T 1 and > 1,
 * on the op's work-group and on other sizes, against the double references of ref_rows.c.
 * Tasks are made for one token and moved to the batch with llm_op_set_tokens. */
#include <stdlib.h>
#include <string.h>

#include "graphs/ops/ops.h"
#include "ref/ref_ops.h"
#include "test_common.h"

static int runs = 0; /* cases that ran (not skipped) */

/* Re-sets t's range (items_per_group groups of `local`, T) for another work-group size;
 * 0 when the device does not take it (a skip). */
static int relocal(clg_task *t, size_t groups, size_t local, int T) {
    size_t global[2] = {groups * local, (size_t)T}, l[2] = {local, 1};
    return tc_set_range(t, 2, global, l);
}

/* qkv rows [T, stride] with nq query and nkv key/value heads of hd, stride padded by pad. */
static void run_heads(clg_context *ctx, clg_program *prog, int nq, int nkv, int hd, int T, int pad,
                      size_t local) {
    const float eps = 1e-6f;
    const int q_dim = nq * hd, stride = (nq + 2 * nkv) * hd + pad;
    const size_t count = (size_t)T * stride;
    float *x = malloc(count * sizeof *x), *want = malloc(count * sizeof *want);
    float *wq = malloc((size_t)hd * sizeof *wq), *wk = malloc((size_t)hd * sizeof *wk);
    float *got = malloc(count * sizeof *got);
    clg_graph *g = NULL;
    clg_buffer *bx = NULL, *bwq = NULL, *bwk = NULL;
    if (!x || !want || !wq || !wk || !got) {
        CHECK(!"out of memory");
        goto done;
    }
    tc_fill(x, count, -3.0f, 3.0f);
    tc_fill(wq, (size_t)hd, 0.5f, 1.5f);
    tc_fill(wk, (size_t)hd, -1.5f, 1.5f);
    memcpy(want, x, count * sizeof *x);
    ref_rmsnorm_heads(want, wq, stride, 0, nq, hd, eps, T);
    ref_rmsnorm_heads(want, wk, stride, q_dim, nkv, hd, eps, T);

    bx = tc_buffer(ctx, "qkv", count * 4, CLG_TRANSFER_FIRST_EXECUTION, x);
    bwq = tc_buffer(ctx, "wq", (size_t)hd * 4, CLG_TRANSFER_FIRST_EXECUTION, wq);
    bwk = tc_buffer(ctx, "wk", (size_t)hd * 4, CLG_TRANSFER_FIRST_EXECUTION, wk);
    clg_task *tq = NULL, *tk = NULL;
    CHECK_OK(clg_graph_create(ctx, "heads", &g));
    if (!g || !bx || !bwq || !bwk) goto done;
    CHECK_OK(llm_op_rmsnorm_heads(g, "q_norm", prog, bx, bwq, stride, 0, nq, hd, eps, 1, &tq));
    CHECK_OK(llm_op_rmsnorm_heads(g, "k_norm", prog, bx, bwk, stride, q_dim, nkv, hd, eps, 1, &tk));
    if (!tq || !tk) goto done;
    CHECK_OK(llm_op_set_tokens(tq, RMSH_T, T));
    CHECK_OK(llm_op_set_tokens(tk, RMSH_T, T));
    if (local && (!relocal(tq, (size_t)nq, local, T) || !relocal(tk, (size_t)nkv, local, T)))
        goto done;
    runs++;
    CHECK_OK(clg_graph_execute(g));
    CHECK_OK(clg_buffer_read(bx, 0, got, count * 4));
    /* f32 sums of <= 256 squares in a tree: well within 1e-5 relative; outputs O(1) */
    char what[96];
    snprintf(what, sizeof what, "rmsnorm_heads hd=%d nq=%d nkv=%d T=%d local=%zu", hd, nq, nkv, T,
             local ? local : (size_t)32);
    tc_close(what, got, want, count, 1e-6f, 1e-5f);
done:
    clg_graph_destroy(g);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(bwq);
    clg_buffer_destroy(bwk);
    free(x);
    free(want);
    free(wq);
    free(wk);
    free(got);
}

static void run_add(clg_context *ctx, clg_program *prog, int n, int T, size_t local) {
    const float eps = 1e-6f;
    const size_t count = (size_t)T * n;
    float *x = malloc(count * sizeof *x), *y = malloc(count * sizeof *y);
    float *w = malloc((size_t)n * sizeof *w), *want = malloc(count * sizeof *want);
    float *got = malloc(count * sizeof *got);
    clg_graph *g = NULL;
    clg_buffer *bx = NULL, *by = NULL, *bw = NULL;
    if (!x || !y || !w || !want || !got) {
        CHECK(!"out of memory");
        goto done;
    }
    tc_fill(x, count, -2.0f, 2.0f);
    tc_fill(y, count, -20.0f, 20.0f); /* the norm's scale matters */
    tc_fill(w, (size_t)n, -1.5f, 1.5f);
    memcpy(want, x, count * sizeof *x);
    ref_rmsnorm_add(y, w, want, n, eps, T);

    bx = tc_buffer(ctx, "x", count * 4, CLG_TRANSFER_FIRST_EXECUTION, x);
    by = tc_buffer(ctx, "y", count * 4, CLG_TRANSFER_FIRST_EXECUTION, y);
    bw = tc_buffer(ctx, "w", (size_t)n * 4, CLG_TRANSFER_FIRST_EXECUTION, w);
    clg_task *t = NULL;
    CHECK_OK(clg_graph_create(ctx, "add", &g));
    if (!g || !bx || !by || !bw) goto done;
    CHECK_OK(llm_op_rmsnorm_add(g, "post_norm", prog, by, bw, bx, n, eps, 1, &t));
    if (!t) goto done;
    CHECK_OK(llm_op_set_tokens(t, RMSADD_T, T));
    if (local && !relocal(t, 1, local, T)) goto done;
    runs++;
    CHECK_OK(clg_graph_execute(g));
    CHECK_OK(clg_buffer_read(bx, 0, got, count * 4));
    char what[96];
    snprintf(what, sizeof what, "rmsnorm_add n=%d T=%d local=%zu", n, T,
             local ? local : (size_t)32);
    /* x + O(1) terms: the norm's 1e-5 relative error on the added term, absolutely */
    tc_close(what, got, want, count, 2e-5f, 1e-5f);
done:
    clg_graph_destroy(g);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(by);
    clg_buffer_destroy(bw);
    free(x);
    free(y);
    free(w);
    free(want);
    free(got);
}

int main(void) {
    tc_seed(707);
    clg_context *ctx = tc_context();
    clg_program *prog = NULL;
    CHECK_OK(clg_program_get(ctx, "norm", "", &prog));
    if (prog) {
        /* Qwen3-like 2:1 GQA and Gemma 3 270M's 4 q heads : 1 kv head, head_dim 256 */
        static const struct {
            int nq, nkv, hd, T, pad;
        } hs[] = {
            {4, 2, 64, 1, 0},  {4, 2, 64, 3, 0},  {2, 1, 128, 1, 0}, {2, 1, 128, 4, 0},
            {4, 1, 256, 1, 0}, {4, 1, 256, 2, 0}, {3, 1, 7, 5, 3}, /* odd head_dim, under the
                                                                      work-group, padded rows */
        };
        for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
            run_heads(ctx, prog, hs[i].nq, hs[i].nkv, hs[i].hd, hs[i].T, hs[i].pad, 0);
        /* other work-groups: one item, 8, and 64 (above llvmpipe's 32: skipped there) */
        run_heads(ctx, prog, 4, 2, 64, 3, 1, 1);
        run_heads(ctx, prog, 2, 1, 256, 2, 0, 8);
        run_heads(ctx, prog, 2, 1, 128, 2, 0, 64);
        static const struct { int n, T; } as[] = {{640, 1}, {640, 4}, {576, 3}, {7, 2}, {1001, 1}};
        for (size_t i = 0; i < sizeof as / sizeof as[0]; i++)
            run_add(ctx, prog, as[i].n, as[i].T, 0);
        run_add(ctx, prog, 100, 3, 1);
        run_add(ctx, prog, 640, 2, 16);
        run_add(ctx, prog, 640, 2, 64);
    }
    CHECK(runs >= 16); /* all but the 64-item cases run everywhere */
    clg_context_destroy(ctx);
    return tc_finish("ops.row_norms");
}
