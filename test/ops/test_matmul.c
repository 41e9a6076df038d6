/* Op test of cl/matmul.cl on $CLGRAPH_DEVICE: matmul_TY, matmul_TY_wg, ffn_swiglu_TY and
 * ffn_swiglu_TY_wg for every weight type against the C reference (test/ref/ref_matmul.c),
 * over several shapes (strided activations, residual accumulation, partial token tiles,
 * rows not a multiple of the work-group) and two tunable settings, the gated products also
 * with the FFN_GELU activation, and one-type builds (CLG_ONE_TY) of every type. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "ref/ref_ops.h"
#include "test_common.h"

typedef struct shape {
    int rows, cols, T, xs, ys, accumulate;
    int f_only;    /* cols not a multiple of 32: f32 / f16 / bf16 weights only */
    int fast_only; /* not run on slow devices (llvmpipe) */
} shape;

/* clang-format off */
static const shape shapes[] = {
    {1, 32, 1, 32, 1, 0, 0, 0},
    {37, 64, 3, 70, 40, 1, 0, 0},     /* strides wider than cols / rows */
    {192, 576, 7, 576, 192, 0, 0, 0},
    {576, 576, 3, 600, 581, 1, 0, 0},
    {37, 576, 7, 576, 37, 1, 0, 0},
    {192, 32, 1, 33, 200, 0, 0, 0},
    {3, 256, 5, 260, 3, 1, 0, 0},     /* one K-quant super-block */
    {65, 768, 4, 768, 70, 0, 0, 1},   /* 3 K-quant super-blocks; not on llvmpipe */
    {37, 45, 7, 47, 39, 1, 1, 0},     /* f32 / f16 / bf16: 2 blocks of 16, a tail of 13 */
    {5, 3, 2, 3, 5, 0, 1, 0},         /* f32 / f16: tail only */
};
/* clang-format on */
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static const int types[] = {LLM_DTYPE_F32,  LLM_DTYPE_F16,  LLM_DTYPE_BF16, LLM_DTYPE_Q8_0,
                            LLM_DTYPE_Q4_0, LLM_DTYPE_Q4_1, LLM_DTYPE_Q5_0, LLM_DTYPE_Q5_1,
                            LLM_DTYPE_Q4_K, LLM_DTYPE_Q5_K, LLM_DTYPE_Q6_K};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

/* Tunable settings: options "" is the file's defaults (MM_TT 4, MM_WG 64); the last one
 * builds the gated products with the GELU activation (only they are run there). */
typedef struct tunables {
    char options[64];
    int tt, wg, gelu;
} tunables;
static tunables settings[] = {{"-DMM_TT=1 -DMM_WG=16", 1, 16, 0},
                              {"", 4, 64, 0},
                              {"-DFFN_GELU -DMM_TT=2 -DMM_WG=16", 2, 16, 1}};
#define N_SETTINGS 3

static const char *variant_names[4] = {"matmul", "matmul_wg", "ffn_swiglu", "ffn_swiglu_wg"};
static double worst[16][4]; /* largest |got - want| / mag per type and variant */

/* Compares got with want where each output's tolerance is k * mag[i] (mag = 0 where the
 * kernel must not write: there the values must be equal). Returns the worst ratio. */
static double check_rel(const char *what, const float *got, const float *want, const float *mag,
                        size_t n, double k) {
    double worst_ratio = 0;
    size_t bad = 0, worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double ratio = mag[i] > 0 ? d / mag[i] : (d == 0 ? 0 : INFINITY);
        if (isnan(ratio)) ratio = INFINITY;
        if (!(ratio <= k)) bad++;
        if (ratio > worst_ratio || (bad == 1 && !(ratio <= k))) {
            worst_ratio = ratio;
            worst_i = i;
        }
    }
    CHECK(bad == 0);
    if (bad)
        fprintf(stderr,
                "%s: %zu of %zu values off; worst at %zu: got %g want %g (|d|/mag %g > %g)\n", what,
                bad, n, worst_i, got[worst_i], want[worst_i], worst_ratio, k);
    return worst_ratio;
}

/* One launch of variant v (0 matmul, 1 matmul_wg, 2 swiglu, 3 swiglu_wg) of type ty;
 * out ([T, ys] floats) is uploaded, and read back after the step. */
static void run(clg_context *ctx, clg_program *prog, const tunables *tn, int ty, int v,
                const shape *s, const void *Wa, const void *Wb, size_t wbytes, const float *x,
                float *out) {
    char kernel[64];
    snprintf(kernel, sizeof kernel, "%s_%s%s", v < 2 ? "matmul" : "ffn_swiglu", llm_dtype_name(ty),
             v & 1 ? "_wg" : "");
    clg_graph *g = NULL;
    clg_task *t = NULL;
    CHECK_OK(clg_graph_create(ctx, "mm", &g));
    CHECK_OK(clg_graph_add_task(g, kernel, prog, kernel, &t));
    if (!t) return;
    clg_buffer *bw = tc_buffer(ctx, "b", wbytes, CLG_TRANSFER_FIRST_EXECUTION, (void *)Wa);
    clg_buffer *bu =
        v >= 2 ? tc_buffer(ctx, "b", wbytes, CLG_TRANSFER_FIRST_EXECUTION, (void *)Wb) : NULL;
    clg_buffer *bx = tc_buffer(ctx, "b", (size_t)s->T * s->xs * sizeof(float),
                               CLG_TRANSFER_FIRST_EXECUTION, (void *)x);
    clg_buffer *by = tc_buffer(ctx, "b", (size_t)s->T * s->ys * sizeof(float),
                               CLG_TRANSFER_EVERY_EXECUTION, out);
    unsigned a = 0;
    CHECK_OK(clg_task_arg_buffer(t, a++, bw, CLG_READ));
    if (bu) CHECK_OK(clg_task_arg_buffer(t, a++, bu, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, a++, bx, CLG_READ));
    /* READ_WRITE so that the padding between rows and ys is uploaded and must survive. */
    CHECK_OK(clg_task_arg_buffer(t, a++, by, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_int(t, a++, s->rows));
    CHECK_OK(clg_task_arg_int(t, a++, s->cols));
    CHECK_OK(clg_task_arg_int(t, a++, s->T));
    CHECK_OK(clg_task_arg_int(t, a++, s->xs));
    CHECK_OK(clg_task_arg_int(t, a++, s->ys));
    if (v < 2) CHECK_OK(clg_task_arg_int(t, a++, s->accumulate));
    size_t tiles = (size_t)(s->T + tn->tt - 1) / (size_t)tn->tt;
    if (v & 1) {
        size_t global[2] = {(size_t)s->rows * tn->wg, tiles}, local[2] = {(size_t)tn->wg, 1};
        CHECK_OK(clg_task_set_range(t, 2, global, local));
    } else {
        /* Rounded up: the kernel must bounds-check its row. The row variants take any
         * local size (NULL included); a fixed one spares pocl a kernel compile per
         * local size it would pick for each global size. */
        size_t global[2] = {((size_t)s->rows + 15) / 16 * 16, tiles}, local[2] = {16, 1};
        CHECK_OK(clg_task_set_range(t, 2, global, local));
    }
    CHECK_OK(clg_graph_execute(g));
    clg_graph_destroy(g);
    clg_buffer_destroy(bw);
    clg_buffer_destroy(bu);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(by);
}

static void test_shape(clg_context *ctx, clg_program *const *progs, int ti, const shape *s) {
    int ty = types[ti];
    size_t nw = (size_t)s->rows * s->cols, nx = (size_t)s->T * s->xs, ny = (size_t)s->T * s->ys;
    size_t wbytes = llm_dtype_row_bytes(ty, (uint64_t)s->cols) * (size_t)s->rows;
    float *wf = malloc(nw * sizeof *wf), *x = malloc(nx * sizeof *x);
    float *y0 = malloc(ny * sizeof *y0), *want = malloc(ny * sizeof *want);
    float *mag = malloc(ny * sizeof *mag), *got = malloc(ny * sizeof *got);
    unsigned char *wa = malloc(wbytes), *wb = malloc(wbytes);
    CHECK(wf && x && y0 && want && mag && got && wa && wb && wbytes > 0);
    if (!(wf && x && y0 && want && mag && got && wa && wb && wbytes > 0)) goto done;
    /* Weights in about [-1, 1] (quantized the ggml way, or random K-quant blocks); x and
     * the residual in [-1, 1]. */
    CHECK_OK(ref_random_weights(ty, wa, nw, 1.0f));
    CHECK_OK(ref_random_weights(ty, wb, nw, 1.0f));
    tc_fill(x, nx, -1, 1);
    tc_fill(y0, ny, -1, 1);
    /* Float sums of cols products, each |w x| <= its share of mag, round to within
     * about cols * eps * mag in the worst case (sqrt(cols) * eps typically; the
     * in-kernel dequantization is exact but for q4_1's d*nib + m, one more eps of
     * |d*nib| + |m| per element). A single wrong element costs ~mag / cols, well
     * above this bound, so it is caught. */
    double k = ((double)s->cols + 16.0) * FLT_EPSILON;
    for (int v = 0; v < 4; v++)
        for (int gelu = 0; gelu < 1 + (v >= 2); gelu++) {
            memcpy(want, y0, ny * sizeof *want);
            memset(mag, 0, ny * sizeof *mag);
            if (v < 2)
                CHECK_OK(ref_matmul(ty, wa, x, want, mag, s->rows, s->cols, s->T, s->xs, s->ys,
                                    s->accumulate));
            else
                CHECK_OK(ref_ffn_gated(ty, wa, wb, x, want, mag, s->rows, s->cols, s->T, s->xs,
                                       s->ys, gelu));
            for (int si = 0; si < N_SETTINGS; si++) {
                if (!progs[si] || settings[si].gelu != gelu) continue;
                memcpy(got, y0, ny * sizeof *got);
                run(ctx, progs[si], &settings[si], ty, v, s, wa, wb, wbytes, x, got);
                char what[320];
                snprintf(what, sizeof what, "%s_%s [%s] rows %d cols %d T %d xs %d ys %d acc %d",
                         variant_names[v], llm_dtype_name(ty), settings[si].options, s->rows,
                         s->cols, s->T, s->xs, s->ys, s->accumulate);
                double r = check_rel(what, got, want, mag, ny, k);
                if (r > worst[ti][v]) worst[ti][v] = r;
            }
        }
done:
    free(wf);
    free(x);
    free(y0);
    free(want);
    free(mag);
    free(got);
    free(wa);
    free(wb);
}

/* Whether every _wg kernel of prog takes a work-group of wg items: a kernel's limit
 * (CL_KERNEL_WORK_GROUP_SIZE) can be below the device's (llvmpipe: 32 for these). */
static int wg_fits(clg_context *ctx, clg_program *prog, int wg) {
    int ok = 1;
    clg_graph *g = NULL;
    CHECK_OK(clg_graph_create(ctx, "wg_probe", &g));
    for (int ti = 0; ti < N_TYPES && g; ti++)
        for (int v = 0; v < 2; v++) {
            char kernel[64];
            snprintf(kernel, sizeof kernel, "%s_%s_wg", v ? "ffn_swiglu" : "matmul",
                     llm_dtype_name(types[ti]));
            clg_task *t = NULL;
            CHECK_OK(clg_graph_add_task(g, kernel, prog, kernel, &t));
            size_t global[2] = {(size_t)wg, 1}, local[2] = {(size_t)wg, 1};
            if (!t || clg_task_set_range(t, 2, global, local) != CLG_OK) ok = 0;
        }
    clg_graph_destroy(g);
    return ok;
}

/* Programs built with -DCLG_ONE_TY -DCLG_TY_<ty> hold that type's kernels, which compute as
 * the full program's, and no other type's. */
static void one_type_builds(clg_context *ctx) {
    static const int one[] = {LLM_DTYPE_Q8_0, LLM_DTYPE_Q4_K, LLM_DTYPE_BF16};
    const shape *s = &shapes[1]; /* 37 x 64: a q4_k row needs 256 */
    shape sk = {37, 256, 3, 260, 40, 1, 0, 0};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        int ty = one[i];
        const shape *sh = llm_dtype_block_elems(ty) == 256 ? &sk : s;
        char opts[64];
        snprintf(opts, sizeof opts, "-DCLG_ONE_TY -DCLG_TY_%s", llm_dtype_name(ty));
        clg_program *prog = NULL;
        CHECK_OK(clg_program_get(ctx, "matmul", opts, &prog));
        if (!prog) continue;
        size_t nw = (size_t)sh->rows * sh->cols, ny = (size_t)sh->T * sh->ys;
        size_t wbytes = llm_dtype_row_bytes(ty, (uint64_t)sh->cols) * (size_t)sh->rows;
        float *x = malloc((size_t)sh->T * sh->xs * sizeof *x), *want = malloc(ny * sizeof *want);
        float *got = malloc(ny * sizeof *got), *mag = calloc(ny, sizeof *mag);
        unsigned char *w = malloc(wbytes);
        CHECK(x && want && got && mag && w);
        if (x && want && got && mag && w) {
            CHECK_OK(ref_random_weights(ty, w, nw, 1.0f));
            tc_fill(x, (size_t)sh->T * sh->xs, -1, 1);
            tc_fill(want, ny, -1, 1);
            memcpy(got, want, ny * sizeof *got);
            CHECK_OK(ref_matmul(ty, w, x, want, mag, sh->rows, sh->cols, sh->T, sh->xs, sh->ys,
                                sh->accumulate));
            tunables tn = {"", 4, 16, 0};
            run(ctx, prog, &tn, ty, 0, sh, w, w, wbytes, x, got);
            char what[96];
            snprintf(what, sizeof what, "matmul_%s [%s]", llm_dtype_name(ty), opts);
            check_rel(what, got, want, mag, ny, ((double)sh->cols + 16.0) * FLT_EPSILON);
            /* another type's kernel is not in the program */
            clg_graph *g = NULL;
            clg_task *t = NULL;
            CHECK_OK(clg_graph_create(ctx, "one_ty", &g));
            const char *other = ty == LLM_DTYPE_Q8_0 ? "matmul_q4_0" : "matmul_q8_0";
            CHECK(g && clg_graph_add_task(g, other, prog, other, &t) != CLG_OK);
            clg_graph_destroy(g);
            printf("  one-type build [%s]: matmul_%s ok, %s absent\n", opts, llm_dtype_name(ty),
                   other);
        }
        free(x);
        free(want);
        free(got);
        free(mag);
        free(w);
    }
}

int main(void) {
    tc_seed(20240611);
    clg_context *ctx = tc_context();
    size_t max_wg = clg_context_device(ctx)->max_work_group_size;
    int slow = strstr(clg_context_device(ctx)->device_name, "llvmpipe") != NULL;
    clg_program *progs[N_SETTINGS] = {NULL};
    for (int si = 0; si < N_SETTINGS; si++) {
        tunables *tn = &settings[si];
        while (tn->wg >= 16) {
            if ((size_t)tn->wg <= max_wg) {
                CHECK_OK(clg_program_get(ctx, "matmul", tn->options, &progs[si]));
                if (progs[si] && wg_fits(ctx, progs[si], tn->wg)) break;
            }
            printf("  MM_WG %d exceeds this device's or kernel's work-group limit; halving\n",
                   tn->wg);
            progs[si] = NULL;
            tn->wg /= 2;
            snprintf(tn->options, sizeof tn->options, "%s-DMM_TT=%d -DMM_WG=%d",
                     tn->gelu ? "-DFFN_GELU " : "", tn->tt, tn->wg);
        }
        CHECK(progs[si] != NULL);
        printf("  setting [%s]: MM_TT %d MM_WG %d\n", tn->options, tn->tt, tn->wg);
    }
    for (int ti = 0; ti < N_TYPES; ti++)
        for (int i = 0; i < N_SHAPES; i++) {
            int quant = llm_dtype_block_elems(types[ti]) > 1;
            if ((quant && shapes[i].f_only) || (slow && shapes[i].fast_only)) continue;
            if ((size_t)shapes[i].cols % llm_dtype_block_elems(types[ti])) continue;
            test_shape(ctx, progs, ti, &shapes[i]);
        }
    one_type_builds(ctx);
    for (int ti = 0; ti < N_TYPES; ti++)
        for (int v = 0; v < 4; v++)
            printf("  %-13s %-5s max |d| / sum|w||x| = %.3g\n", variant_names[v],
                   llm_dtype_name(types[ti]), worst[ti][v]);
    clg_context_destroy(ctx);
    return tc_finish("ops.matmul");
}
