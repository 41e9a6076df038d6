/* Op test of cl/matmul_q8.cl on $CLGRAPH_DEVICE: matmul_TY_q8, matmul_TY_q8_norm,
 * ffn_swiglu_TY_q8 and ffn_swiglu_TY_q8_norm for TY in q8_0, q4_0, q4_1, q5_0, q5_1, q4_k,
 * q5_k, q6_k (the gated products also with the FFN_GELU activation), against a C
 * model that quantizes the activations as the kernels must (ggml's quantize_row_q8_0_ref)
 * and sums the integer block products exactly: the kernels may differ from it only by
 * their float scaling and accumulation (~nb * eps relative). With the fused norm the
 * kernel's float sum of squares differs from the model's in the last bits, so an
 * activation within a hair of a rounding tie may round the other way; the bound allows
 * exactly that one step for those elements. Also checks, with a looser bound, how far the
 * results are from the float product with unquantized activations.
 *
 * With the argument x8 (ops.matmul_x8): the same checks of matmul_TY_x8[_norm] and
 * ffn_swiglu_TY_x8[_norm] (the llm_x8_type types; 8 rows a work-item) on the llm_repack_x8 copy of
 * the row-major weights the model reads, in the x86 form where the device has it (PoCL) and
 * the generic one (rusticl), and that a token's outputs are bit for bit the same from every
 * tile size (MM_TT 1, 4, 8) and local size of one form: a sequence decoded alone gets the
 * logits it gets in a batch. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "ref/ref_ops.h"
#include "test_common.h"

typedef struct shape {
    int rows, cols, T, xs, ys, accumulate;
    int small;   /* also run on slow devices (llvmpipe) */
    int special; /* tiny weights (subnormal f16 scales), an all-zero activation block and
                    a block of exact rounding ties */
} shape;

/* clang-format off */
static const shape shapes[] = {
    {1, 32, 1, 32, 1, 0, 1, 0},
    {37, 64, 3, 70, 40, 1, 1, 0},     /* strides wider than cols / rows */
    {19, 96, 5, 96, 21, 0, 1, 1},
    {192, 576, 5, 576, 192, 0, 0, 0},
    {576, 576, 3, 600, 581, 1, 0, 0},
    {37, 576, 1, 576, 37, 1, 0, 1},
    {100, 2048, 5, 2048, 100, 1, 0, 0},
    {21, 256, 5, 260, 23, 1, 1, 0},   /* one K-quant super-block */
    {9, 512, 4, 512, 9, 0, 1, 1},
    {65, 768, 7, 768, 65, 0, 0, 0},
};
/* The x8 pass: rows a multiple of 8; rows / 8 work-items below the local size, 40 (a
 * group of 32 and 8 of the next, or part of one of 64 or 128), 33 and 192 (3 groups of 64,
 * 1.5 of 128); T not a multiple of the tile (9: a tile of 8 and one of 1). */
static const shape x8_shapes[] = {
    {8, 32, 1, 32, 8, 0, 1, 0},
    {16, 64, 3, 70, 21, 1, 1, 0},       /* strides wider than cols / rows */
    {24, 96, 9, 96, 24, 0, 1, 1},
    {40, 256, 7, 260, 43, 1, 1, 0},
    {320, 576, 5, 600, 325, 1, 0, 0},
    {264, 768, 3, 768, 270, 0, 0, 0},
    {1536, 576, 11, 576, 1536, 0, 0, 0},
    {64, 2048, 10, 2048, 64, 1, 0, 1},
};
/* clang-format on */
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))
#define N_X8_SHAPES ((int)(sizeof x8_shapes / sizeof x8_shapes[0]))

static const int types[] = {LLM_DTYPE_Q8_0, LLM_DTYPE_Q4_0, LLM_DTYPE_Q4_1, LLM_DTYPE_Q5_0,
                            LLM_DTYPE_Q5_1, LLM_DTYPE_Q4_K, LLM_DTYPE_Q5_K, LLM_DTYPE_Q6_K};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))
#define N_VARIANTS 4 /* matmul, matmul_norm, ffn_swiglu, ffn_swiglu_norm */
static const char *variant_names[N_VARIANTS] = {"matmul", "matmul_norm", "ffn_swiglu",
                                                "ffn_swiglu_norm"};

/* Tunable settings: options "" is the file's defaults (MM_TT 4); gelu: the gated products
 * with the GELU activation (only they are run there). */
typedef struct tunables {
    const char *options;
    int tt;
    size_t local;
    int gelu;
} tunables;
/* The last needs a device that keeps denormals (the subnormal f16 scales of the special
 * cases come out as float denormals before the 2^112 scaling). Slow devices run the
 * first three. */
static const tunables settings[] = {{"-DMM_TT=1", 1, 16, 0},
                                    {"", 4, 32, 0},
                                    {"-DFFN_GELU -DMM_TT=2", 2, 16, 1},
                                    {"-DMM_TT=3", 3, 24, 0},
                                    {"-DMM_TT=1 -DHALF_DENORM=1", 1, 64, 0}};
#define N_SETTINGS 5

/* The x8 pass: programs of the x8 types' x8 kernels only (as the planner builds them),
 * except "" (the defaults: SPIR-V where the device takes it). PoCL compiles each kernel
 * again for each local size, which dominates the test's time: five (options, local) pairs.
 * The generic form (-DMQ_U8=0 on PoCL) runs on rusticl, which takes the first four, local
 * sizes within llvmpipe's 32. Within a form and activation, every launch's outputs must
 * equal the first's, of MM_TT 1. */
#define X8_TY                                                                                      \
    " -DCLG_ONE_TY -DCLG_TY_q8_0 -DCLG_TY_q4_0 -DCLG_TY_q4_1 -DCLG_TY_q5_0 -DCLG_TY_q4_k "         \
    "-DCLG_TY_q6_k -DMQ_X8_ONLY=1"
static const tunables x8_settings[] = {{"-DMM_TT=1" X8_TY, 1, 8, 0},
                                       {"", 4, 32, 0},
                                       {"-DMM_TT=8" X8_TY, 8, 32, 0},
                                       {"-DFFN_GELU -DMM_TT=1" X8_TY, 1, 32, 1},
                                       {"-DMM_TT=8" X8_TY, 8, 64, 0}};
#define N_X8_SETTINGS ((int)(sizeof x8_settings / sizeof x8_settings[0]))
#define N_X8_SLOW 4

static const float eps = 1e-5f;
static double worst_model[N_TYPES][N_VARIANTS]; /* max |got - model| / bound */
static double worst_float[N_TYPES][N_VARIANTS]; /* max |got - float product| / sum|w||v| */
static int ambiguous_total;
static int invariant_total; /* x8 launches bit-equal to the first of their form */

/* ---- the C model of the kernels -------------------------------------------- */

/* Block b (32 elements; of the K-quants a sub-block) of row r of W in the kernels' form:
 * w_j = ws[j] * wq[j] + m, wq the signed integers the kernel multiplies (the unsigned types
 * offset as the kernel does: q4_1 by 8, q5_1 16, q4_k 8, q5_k 16, folded into m), ws the
 * element's scale (one per block, per sub-block of the K-quants, per 16 for q6_k). */
static void weight_block(int ty, const unsigned char *W, int cols, int r, int b, double *ws,
                         double *m, int *wq) {
    int kq = llm_dtype_block_elems(ty) == 256;
    size_t bb = llm_dtype_block_bytes(ty);
    const unsigned char *p =
        W + (size_t)r * llm_dtype_row_bytes(ty, (uint64_t)cols) + (size_t)(kq ? b / 8 : b) * bb;
    int j8 = b % 8;
#define F16AT(o) ((double)llm_f16_to_f32((uint16_t)(p[o] | p[(o) + 1] << 8)))
    *m = 0;
    double d = ty == LLM_DTYPE_Q6_K ? F16AT(208) : F16AT(0);
    for (int j = 0; j < 32; j++)
        ws[j] = d;
    switch (ty) {
    case LLM_DTYPE_Q8_0:
        for (int j = 0; j < 32; j++)
            wq[j] = (signed char)p[2 + j];
        return;
    case LLM_DTYPE_Q4_0:
    case LLM_DTYPE_Q4_1: {
        const unsigned char *q = p + (ty == LLM_DTYPE_Q4_1 ? 4 : 2);
        if (ty == LLM_DTYPE_Q4_1) *m = F16AT(2) + 8 * d;
        for (int j = 0; j < 16; j++) {
            wq[j] = (q[j] & 15) - 8;
            wq[j + 16] = (q[j] >> 4) - 8;
        }
        return;
    }
    case LLM_DTYPE_Q5_0:
    case LLM_DTYPE_Q5_1: {
        int q51 = ty == LLM_DTYPE_Q5_1;
        const unsigned char *h = p + (q51 ? 4 : 2), *q = h + 4;
        uint32_t qh =
            (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        if (q51) *m = F16AT(2) + 16 * d;
        for (int j = 0; j < 16; j++) {
            wq[j] = ((q[j] & 15) | (int)((qh >> j) & 1) << 4) - 16;
            wq[j + 16] = ((q[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
        }
        return;
    }
    case LLM_DTYPE_Q4_K:
    case LLM_DTYPE_Q5_K: {
        int q5 = ty == LLM_DTYPE_Q5_K, off = q5 ? 16 : 8;
        const unsigned char *sc = p + 4, *qs = p + (q5 ? 48 : 16) + 32 * (j8 / 2);
        int s6, m6;
        if (j8 < 4) {
            s6 = sc[j8] & 63;
            m6 = sc[j8 + 4] & 63;
        } else {
            s6 = (sc[j8 + 4] & 15) | (sc[j8 - 4] >> 6) << 4;
            m6 = (sc[j8 + 4] >> 4) | (sc[j8] >> 6) << 4;
        }
        for (int j = 0; j < 32; j++) {
            ws[j] = d * s6;
            wq[j] =
                ((qs[j] >> (4 * (j8 & 1))) & 15) + (q5 ? ((p[16 + j] >> j8) & 1) << 4 : 0) - off;
        }
        *m = off * d * s6 - F16AT(2) * m6;
        return;
    }
    case LLM_DTYPE_Q6_K: {
        int n = j8 / 4, k = j8 % 4;
        const unsigned char *ql = p + 64 * n + 32 * (k & 1), *qh = p + 128 + 32 * n;
        const signed char *sc = (const signed char *)(p + 192) + 8 * n + 2 * k;
        for (int j = 0; j < 32; j++) {
            ws[j] = d * sc[j / 16];
            wq[j] = (((ql[j] >> (4 * (k >> 1))) & 15) | ((qh[j] >> (2 * k)) & 3) << 4) - 32;
        }
        return;
    }
    }
#undef F16AT
}

/* One token row quantized as the kernel does: v = x (or x * inv * gw), per block
 * d = amax / 127, q = roundf(v * (1 / d)), s = d * sum q (float, as the kernel).
 * amb[k] = 1 where v * (1 / d) is within 1e-3 of a rounding tie (set only with gw: the
 * kernel's inv may differ from this one in the last bits). v: the values, for the
 * float product. */
static void quant_row(const float *x, const float *gw, int cols, int *q, float *d, float *s,
                      unsigned char *amb, float *v) {
    float inv = 1.0f;
    if (gw) {
        double ss = 0;
        for (int k = 0; k < cols; k++)
            ss += (double)x[k] * x[k];
        inv = (float)(1.0 / sqrt(ss / cols + eps));
    }
    for (int k = 0; k < cols; k++)
        v[k] = gw ? x[k] * inv * gw[k] : x[k];
    for (int b = 0; b < cols / 32; b++) {
        const float *vb = v + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fabsf(vb[j]) > amax ? fabsf(vb[j]) : amax;
        float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            float p = vb[j] * id;
            int k = b * 32 + j;
            q[k] = (int)roundf(p);
            sum += q[k];
            float a = fabsf(p);
            amb[k] = gw && fabsf(a - floorf(a) - 0.5f) < 1e-3f;
        }
        d[b] = db;
        s[b] = db * (float)sum;
    }
}

/* For every token and row: the model's result (dot), the bound on the kernel's float
 * error (tol) and the float product with unquantized activations (flt, and its
 * magnitude fmag). Arrays [T * rows]. */
typedef struct dots {
    double *dot, *tol, *flt, *fmag;
    double *fq; /* bound on |dot - flt| from the activation's rounding: sum |w| d_x / 2 */
} dots;

static void model_dots(int ty, const unsigned char *W, const float *x, const float *gw,
                       const shape *s, dots *out) {
    int cols = s->cols, nb = cols / 32;
    int *q = malloc((size_t)cols * sizeof *q), wq[32];
    double ws[32];
    float *d = malloc((size_t)nb * sizeof *d), *sm = malloc((size_t)nb * sizeof *sm);
    float *v = malloc((size_t)cols * sizeof *v), *wrow = malloc((size_t)cols * sizeof *wrow);
    unsigned char *amb = malloc((size_t)cols);
    size_t rb = llm_dtype_row_bytes(ty, (uint64_t)cols), wbad = 0;
    CHECK(q && d && sm && v && wrow && amb);
    if (!(q && d && sm && v && wrow && amb)) goto done;
    double kf = (nb + 16) * (double)FLT_EPSILON;
    for (int t = 0; t < s->T; t++) {
        quant_row(x + (size_t)t * s->xs, gw, cols, q, d, sm, amb, v);
        for (int k = 0; k < cols; k++)
            ambiguous_total += amb[k];
        for (int r = 0; r < s->rows; r++) {
            double acc = 0, mag = 0, extra = 0, fl = 0, fm = 0, fq = 0;
            /* the float product takes llm_dequantize's weights (bit-exact to gguf-py), which
             * the model's decoding must match up to the rounding of its form */
            CHECK_OK(llm_dequantize(ty, W + (size_t)r * rb, wrow, (size_t)cols));
            for (int b = 0; b < nb; b++) {
                double m, isum = 0, iabs = 0; /* of ws * wq * q: exact in double */
                weight_block(ty, W, cols, r, b, ws, &m, wq);
                for (int j = 0; j < 32; j++) {
                    int k = b * 32 + j;
                    isum += ws[j] * wq[j] * q[k];
                    iabs += fabs(ws[j] * wq[j] * q[k]);
                    if (amb[k]) extra += d[b] * (fabs(ws[j] * wq[j]) + fabs(m));
                    double w = wrow[k];
                    if (!(fabs(ws[j] * wq[j] + m - w) <= 4e-7 * (fabs(ws[j] * wq[j]) + fabs(m))))
                        wbad++;
                    fl += w * v[k];
                    fm += fabs(w * v[k]);
                    fq += fabs(w) * d[b] * 0.5;
                }
                acc += d[b] * isum + m * sm[b];
                mag += fabs((double)d[b]) * iabs + fabs(m) * fabs(sm[b]);
            }
            size_t i = (size_t)t * s->rows + r;
            out->dot[i] = acc;
            out->tol[i] = kf * mag + 1.01 * extra;
            out->flt[i] = fl;
            out->fmag[i] = fm;
            out->fq[i] = fq;
        }
    }
    CHECK(wbad == 0);
    if (wbad)
        fprintf(stderr, "%s: %zu weights decoded unlike llm_dequantize\n", llm_dtype_name(ty),
                wbad);
done:
    free(q);
    free(d);
    free(sm);
    free(v);
    free(wrow);
    free(amb);
}

/* ---- one kernel launch --------------------------------------------------------- */

/* x8: the kernels of the x8 layout (Wa, Wb repacked), one work-item per 8 rows. */
static int run(clg_context *ctx, clg_program *prog, const tunables *tn, int x8, int ty, int v,
               const shape *s, const void *Wa, const void *Wb, size_t wbytes, const float *x,
               const float *gw, float *out) {
    int swiglu = v >= 2, norm = v & 1, ran = 0;
    char kernel[64];
    snprintf(kernel, sizeof kernel, "%s_%s_%s%s", swiglu ? "ffn_swiglu" : "matmul",
             llm_dtype_name(ty), x8 ? "x8" : "q8", norm ? "_norm" : "");
    clg_graph *g = NULL;
    clg_task *t = NULL;
    CHECK_OK(clg_graph_create(ctx, "mmq8", &g));
    CHECK_OK(clg_graph_add_task(g, kernel, prog, kernel, &t));
    if (!t) {
        clg_graph_destroy(g);
        return 0;
    }
    clg_buffer *bw = tc_buffer(ctx, "w", wbytes, CLG_TRANSFER_FIRST_EXECUTION, (void *)Wa);
    clg_buffer *bu =
        swiglu ? tc_buffer(ctx, "u", wbytes, CLG_TRANSFER_FIRST_EXECUTION, (void *)Wb) : NULL;
    clg_buffer *bx = tc_buffer(ctx, "x", (size_t)s->T * s->xs * sizeof(float),
                               CLG_TRANSFER_FIRST_EXECUTION, (void *)x);
    clg_buffer *bg = tc_buffer(ctx, "g", (size_t)s->cols * sizeof(float),
                               CLG_TRANSFER_FIRST_EXECUTION, (void *)gw);
    clg_buffer *by = tc_buffer(ctx, "y", (size_t)s->T * s->ys * sizeof(float),
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
    if (!swiglu) CHECK_OK(clg_task_arg_int(t, a++, s->accumulate));
    if (norm) {
        CHECK_OK(clg_task_arg_buffer(t, a++, bg, CLG_READ));
        CHECK_OK(clg_task_arg_float(t, a++, eps));
    }
    /* MQ_SCRATCH_BYTES(cols) of the kernel file */
    CHECK_OK(clg_task_arg_local(
        t, a++, (size_t)tn->tt * s->cols * 2 + (size_t)tn->tt * (s->cols / 32) * 8));
    size_t items = x8 ? (size_t)s->rows / 8 : (size_t)s->rows;
    size_t global[2] = {(items + tn->local - 1) / tn->local * tn->local,
                        (size_t)(s->T + tn->tt - 1) / (size_t)tn->tt};
    size_t local[2] = {tn->local, 1};
    if (tc_set_range(t, 2, global, local)) {
        CHECK_OK(clg_graph_execute(g));
        ran = 1;
    }
    clg_graph_destroy(g);
    clg_buffer_destroy(bw);
    clg_buffer_destroy(bu);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(bg);
    clg_buffer_destroy(by);
    return ran;
}

/* ---- checks -------------------------------------------------------------------- */

/* The gate's activation: silu, or ggml's gelu_tanh (the FFN_GELU build). */
static double act(double g, int gelu) {
    if (gelu) return 0.5 * g * (1.0 + tanh(0.79788456080286535588 * g * (1.0 + 0.044715 * g * g)));
    return g / (1.0 + exp(-g));
}

/* Compares one launch's output with the model; returns the worst |d| / bound and adds
 * the float-product deviation to worst_float. */
static double check(const char *what, const shape *s, int v, int gelu, const float *got,
                    const float *y0, const dots *a, const dots *b, double *fworst) {
    int swiglu = v >= 2;
    double worst = 0, fw = 0;
    size_t bad = 0, fbad = 0;
    for (int t = 0; t < s->T; t++)
        for (int c = 0; c < s->ys; c++) {
            size_t o = (size_t)t * s->ys + c;
            if (c >= s->rows) { /* padding: untouched */
                if (memcmp(&got[o], &y0[o], sizeof *got)) bad++;
                continue;
            }
            size_t i = (size_t)t * s->rows + c;
            double want, tol, flt, fmag, fq;
            if (!swiglu) {
                double res = s->accumulate ? y0[o] : 0.0;
                want = res + a->dot[i];
                tol = a->tol[i] + 2 * FLT_EPSILON * fabs(want) + FLT_EPSILON * fabs(res);
                flt = res + a->flt[i];
                fmag = a->fmag[i] + fabs(res);
                fq = a->fq[i];
            } else {
                double g = a->dot[i], u = b->dot[i], sg = act(g, gelu);
                want = sg * u;
                /* dh = act'(g) u dg + act(g) du, |silu'| < 1.1, |gelu'| < 1.13, plus the
                 * rounding of the activation (exp, tanh) and of the product */
                tol = 1.13 * fabs(u) * a->tol[i] + fabs(sg) * b->tol[i] +
                      8 * FLT_EPSILON * fabs(want);
                double gf = a->flt[i], uf = b->flt[i];
                flt = act(gf, gelu) * uf;
                fmag = 1.13 * fabs(uf) * a->fmag[i] + fabs(act(gf, gelu)) * b->fmag[i];
                /* act(g) u - act(gf) uf = (act(g) - act(gf)) uf + act(g) (u - uf) */
                fq = 1.13 * fabs(uf) * a->fq[i] + fabs(sg) * b->fq[i];
            }
            double dd = fabs((double)got[o] - want),
                   r = tol > 0 ? dd / tol : (dd == 0 ? 0 : INFINITY);
            if (!(r <= 1.0)) {
                if (!bad)
                    fprintf(stderr,
                            "%s: token %d row %d: got %.9g want %.9g (|d| %.3g > bound %.3g)\n",
                            what, t, c, got[o], want, dd, tol);
                bad++;
            }
            if (r > worst || isnan(r)) worst = isnan(r) ? INFINITY : r;
            double fd = fabs((double)got[o] - flt), fr = fmag > 0 ? fd / fmag : 0;
            if (fr > fw) fw = fr;
            /* looser: the float product with unquantized activations, within the rounding
             * of each activation to its block's step (|v - d q| <= d / 2), the bound above
             * and a few float roundings of the (norm's) activations */
            double fbound = fq + tol + 4 * FLT_EPSILON * fmag;
            if (!(fd <= fbound)) {
                if (!fbad)
                    fprintf(stderr,
                            "%s: token %d row %d: got %.9g, float product %.9g (|d| %.3g > "
                            "bound %.3g)\n",
                            what, t, c, got[o], flt, fd, fbound);
                fbad++;
            }
        }
    CHECK(bad == 0);
    CHECK(fbad == 0);
    if (bad) fprintf(stderr, "%s: %zu values off\n", what, bad);
    if (fbad) fprintf(stderr, "%s: %zu values off the float product\n", what, fbad);
    if (fw > *fworst) *fworst = fw;
    return worst;
}

/* x8 pass: got must equal, bit for bit, the first launch's outputs of its form and
 * activation (first, described by first_what), which the first launch sets. */
static void check_invariant(const char *what, float *first, char *first_what, int *have,
                            const float *got, size_t ny) {
    if (!*have) {
        memcpy(first, got, ny * sizeof *got);
        snprintf(first_what, 320, "%s", what);
        *have = 1;
        return;
    }
    size_t bad = 0, at = 0;
    for (size_t i = 0; i < ny; i++)
        if (memcmp(&got[i], &first[i], sizeof *got) && !bad++) at = i;
    CHECK(bad == 0);
    if (bad)
        fprintf(stderr, "%s: %zu outputs differ from those of %s; first at %zu: %.9g vs %.9g\n",
                what, bad, first_what, at, got[at], first[at]);
    else
        invariant_total++;
}

/* Every variant of type types[ti] on shape s with the settings tab[0 .. n_settings) (progs
 * their programs); x8: the x8 kernels on the repacked weights. */
static void test_shape(clg_context *ctx, clg_program *const *progs, const tunables *tab,
                       int n_settings, int x8, int ti, const shape *s) {
    int ty = types[ti];
    size_t nw = (size_t)s->rows * s->cols, nx = (size_t)s->T * s->xs, ny = (size_t)s->T * s->ys;
    size_t nd = (size_t)s->T * s->rows;
    size_t wbytes = llm_dtype_row_bytes(ty, (uint64_t)s->cols) * (size_t)s->rows;
    float *x = malloc(nx * sizeof *x), *gw = malloc(s->cols * sizeof *gw);
    float *y0 = malloc(ny * sizeof *y0), *got = malloc(ny * sizeof *got);
    unsigned char *wa = malloc(wbytes), *wb = malloc(wbytes);
    double *buf = malloc(10 * nd * sizeof *buf);
    /* x8: the kernels' weights, and the first outputs of each form (x86 or generic) and
     * activation (silu or gelu) */
    unsigned char *ka = x8 ? malloc(wbytes) : wa, *kb = x8 ? malloc(wbytes) : wb;
    float *first = x8 ? malloc(4 * ny * sizeof *first) : NULL;
    char first_what[4][320];
    int ok = x && gw && y0 && got && wa && wb && buf && ka && kb && (first || !x8);
    CHECK(ok);
    if (!ok) goto done;
    dots da = {buf, buf + nd, buf + 2 * nd, buf + 3 * nd, buf + 8 * nd};
    dots db = {buf + 4 * nd, buf + 5 * nd, buf + 6 * nd, buf + 7 * nd, buf + 9 * nd};
    /* Weights in [-1, 1] (special: [-1e-3, 1e-3], f16 scales below 2^-14) quantized the
     * ggml way; x and the residual in [-1, 1], the norm weight in [0.5, 1.5]. */
    float wscale = s->special ? 1e-3f : 1.0f;
    CHECK_OK(ref_random_weights(ty, wa, nw, wscale));
    CHECK_OK(ref_random_weights(ty, wb, nw, wscale));
    tc_fill(x, nx, -1, 1);
    if (s->special) {
        /* one all-zero block (d = 0), and one of exact rounding ties: max 127 gives
         * d = 1, so v * (1 / d) = j - 15.5 must round away from zero */
        memset(x + (s->T - 1) * s->xs + 32, 0, 32 * sizeof *x);
        for (int j = 0; j < 32; j++)
            x[64 + j] = j < 31 ? (float)j - 15.5f : 127.0f;
    }
    tc_fill(gw, (size_t)s->cols, 0.5f, 1.5f);
    tc_fill(y0, ny, -1, 1);
    if (x8) {
        CHECK_OK(llm_repack_x8(ty, wa, ka, (size_t)s->rows, (size_t)s->cols));
        CHECK_OK(llm_repack_x8(ty, wb, kb, (size_t)s->rows, (size_t)s->cols));
    }
    for (int v = 0; v < N_VARIANTS; v++) {
        const float *g = v & 1 ? gw : NULL;
        int have[4] = {0};
        model_dots(ty, wa, x, g, s, &da);
        if (v >= 2) model_dots(ty, wb, x, g, s, &db);
        for (int si = 0; si < n_settings; si++) {
            const tunables *tn = &tab[si];
            if (!progs[si] || (tn->gelu && v < 2)) continue;
            memcpy(got, y0, ny * sizeof *got);
            if (!run(ctx, progs[si], tn, x8, ty, v, s, ka, kb, wbytes, x, gw, got)) continue;
            char what[320];
            snprintf(what, sizeof what,
                     "%s_%s_%s [%s] local %zu rows %d cols %d T %d xs %d ys %d acc %d",
                     variant_names[v], llm_dtype_name(ty), x8 ? "x8" : "q8", tn->options, tn->local,
                     s->rows, s->cols, s->T, s->xs, s->ys, s->accumulate);
            double r = check(what, s, v, tn->gelu, got, y0, &da, &db, &worst_float[ti][v]);
            if (r > worst_model[ti][v]) worst_model[ti][v] = r;
            if (x8) {
                int key = 2 * (strstr(tn->options, "MQ_U8=0") != NULL) + tn->gelu;
                check_invariant(what, first + key * ny, first_what[key], &have[key], got, ny);
            }
        }
    }
done:
    free(x);
    free(gw);
    free(y0);
    free(got);
    free(wa);
    free(wb);
    free(buf);
    if (x8) {
        free(ka);
        free(kb);
    }
    free(first);
}

int main(int argc, char **argv) {
    int x8 = argc > 1 && !strcmp(argv[1], "x8");
    tc_seed(x8 ? 20261205 : 20240612);
    clg_context *ctx = tc_context();
    int slow = strstr(clg_context_device(ctx)->device_name, "llvmpipe") != NULL;
    const tunables *tab = x8 ? x8_settings : settings;
    int n_settings = x8 ? (slow ? N_X8_SLOW : N_X8_SETTINGS) : (slow ? 3 : N_SETTINGS);
    clg_program *progs[N_X8_SETTINGS > N_SETTINGS ? N_X8_SETTINGS : N_SETTINGS] = {NULL};
    for (int si = 0; si < n_settings; si++) {
        if (strstr(tab[si].options, "HALF_DENORM") && !clg_context_device(ctx)->has_denorm) {
            printf("  setting [%s] not run: the device flushes float denormals\n", tab[si].options);
            continue;
        }
        CHECK_OK(clg_program_get(ctx, "matmul_q8", tab[si].options, &progs[si]));
        printf("  setting [%s]: MM_TT %d, local %zu\n", tab[si].options, tab[si].tt, tab[si].local);
    }
    const shape *sh = x8 ? x8_shapes : shapes;
    int n_shapes = x8 ? N_X8_SHAPES : N_SHAPES;
    for (int ti = 0; ti < N_TYPES; ti++)
        for (int i = 0; i < n_shapes; i++)
            if ((!slow || sh[i].small) && sh[i].cols % (int)llm_dtype_block_elems(types[ti]) == 0 &&
                (!x8 || llm_x8_type(types[ti])))
                test_shape(ctx, progs, tab, n_settings, x8, ti, &sh[i]);
    printf("  activations within 1e-3 of a rounding tie (norm variants): %d\n", ambiguous_total);
    if (x8)
        printf("  x8 launches bit-equal to their form's first (MM_TT 1): %d\n", invariant_total);
    for (int ti = 0; ti < N_TYPES; ti++)
        for (int v = 0; v < N_VARIANTS; v++)
            if (!x8 || llm_x8_type(types[ti]))
                printf("  %-15s %-5s max |d| / bound (model) = %.3g; vs float activations: max "
                       "|d| / sum|w||v| = %.3g\n",
                       variant_names[v], llm_dtype_name(types[ti]), worst_model[ti][v],
                       worst_float[ti][v]);
    clg_context_destroy(ctx);
    return tc_finish(x8 ? "ops.matmul_x8" : "ops.matmul_q8");
}
