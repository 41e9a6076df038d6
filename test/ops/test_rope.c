/* Fused RoPE + KV store (cl/rope.cl, rope_kv) against the double references ref_rope and
 * ref_kv_store: normal and NeoX pairs on a fused QKV row (SmolLM2: 9 query heads, 3 KV
 * heads, dim 64, base 100000), n_rot < head_dim, frequency scaling and divisors, positions
 * not starting at 0, a token beyond the cache (stores nothing), f32 and f16 caches, and
 * tokens of several sequences in one batch, each stored into its own cache region (the
 * whole cache is compared: a token in another region's rows fails). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "graphs/ops/ops.h"
#include "ref/ref_ops.h"
#include "test_common.h"

typedef struct rope_case {
    const char *name;
    int T, n_heads, n_kv_heads, head_dim, n_rot;
    float freq_base, freq_scale;
    int pos0, pos_step; /* pos[t] = pos0 + t * pos_step */
    int factors;        /* random Llama 3.1-style frequency divisors in [1, 8], else none */
    int ctx_len;        /* a token at pos >= ctx_len must store nothing */
    int n_seq;          /* cache regions; token t in sequence (3t + 1) % n_seq (0: one) */
} rope_case;

/* Reads an f32 or f16 cache as floats. */
static void read_cache(clg_buffer *b, int f16, float *out, size_t n) {
    void *raw = malloc(n * 4);
    if (!raw) {
        CHECK(!"out of memory");
        return;
    }
    CHECK_OK(clg_buffer_read(b, 0, raw, n * (f16 ? 2 : 4)));
    for (size_t i = 0; i < n; i++)
        out[i] = f16 ? llm_f16_to_f32(((uint16_t *)raw)[i]) : ((float *)raw)[i];
    free(raw);
}

static void run_case(clg_context *ctx, clg_program *prog, int f16, const rope_case *c, int neox) {
    const int hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    const int row_stride = (nh + 2 * nkv) * hd;
    const int n_seq = c->n_seq > 0 ? c->n_seq : 1;
    const size_t count = (size_t)c->T * row_stride, n_cache = (size_t)n_seq * nkv * c->ctx_len * hd;
    float *x = malloc(count * sizeof *x), *want = malloc(count * sizeof *want);
    float *got = malloc(count * sizeof *got);
    float *kw = calloc(n_cache, sizeof *kw), *vw = calloc(n_cache, sizeof *vw);
    float *kg = malloc(n_cache * sizeof *kg), *vg = malloc(n_cache * sizeof *vg);
    int *pos = malloc((size_t)c->T * sizeof *pos), *seq = malloc((size_t)c->T * sizeof *seq);
    if (!x || !want || !got || !kw || !vw || !kg || !vg || !pos || !seq) {
        CHECK(!"out of memory");
        goto done;
    }
    tc_fill(x, count, -1.0f, 1.0f);
    int max_pos = 0;
    for (int t = 0; t < c->T; t++) {
        pos[t] = c->pos0 + t * c->pos_step;
        seq[t] = (3 * t + 1) % n_seq;
        if (pos[t] > max_pos) max_pos = pos[t];
    }
    float fac[64], inv[64];
    for (int i = 0; i < c->n_rot / 2; i++) {
        fac[i] = c->factors ? tc_randf(1.0f, 8.0f) : 1.0f;
        inv[i] = (float)(c->freq_scale * pow(c->freq_base, -2.0 * i / c->n_rot) / fac[i]);
    }
    /* want: Q and K rotated; the caches (zero before) get rotated K and plain V. */
    memcpy(want, x, count * sizeof *x);
    ref_rope(want, pos, c->T, row_stride, 0, nh + nkv, hd, c->n_rot, c->freq_base, c->freq_scale,
             neox, c->factors ? fac : NULL);
    ref_kv_store(want, kw, vw, pos, seq, c->T, row_stride, nh * hd, (nh + nkv) * hd, nkv, hd,
                 c->ctx_len);
    /* Q rotated in want; the K columns of qkv stay as given */
    for (int t = 0; t < c->T; t++)
        memcpy(want + (size_t)t * row_stride + nh * hd, x + (size_t)t * row_stride + nh * hd,
               (size_t)2 * nkv * hd * sizeof *x);

    clg_buffer *bx = tc_buffer(ctx, "x", count * 4, CLG_TRANSFER_FIRST_EXECUTION, x);
    clg_buffer *bk = tc_buffer(ctx, "k", n_cache * 4, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_buffer *bv = tc_buffer(ctx, "v", n_cache * 4, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_buffer *bpos = tc_buffer(ctx, "pos", (size_t)c->T * 4, CLG_TRANSFER_FIRST_EXECUTION, pos);
    clg_buffer *bseq = tc_buffer(ctx, "seq", (size_t)c->T * 4, CLG_TRANSFER_FIRST_EXECUTION, seq);
    clg_buffer *binv = tc_buffer(ctx, "inv", sizeof inv, CLG_TRANSFER_FIRST_EXECUTION, inv);
    clg_graph *g = NULL;
    clg_task *t = NULL;
    CHECK_OK(clg_graph_create(ctx, "rope", &g));
    if (!g || !bx || !bk || !bv || !bpos || !bseq || !binv) goto free_cl;
    CHECK_OK(clg_buffer_zero(bk));
    CHECK_OK(clg_buffer_zero(bv));
    CHECK_OK(clg_graph_add_task(g, "rope_kv", prog, "rope_kv", &t));
    if (!t) goto free_cl;
    CHECK_OK(clg_task_arg_buffer(t, ROPE_QKV, bx, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_K_CACHE, bk, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_V_CACHE, bv, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_POS, bpos, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_SEQ, bseq, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_INV_FREQ, binv, CLG_READ));
    const int args[] = {c->T, row_stride, nh, nkv, hd, c->n_rot, neox, c->ctx_len};
    for (int a = 0; a < 8; a++) /* ROPE_T .. ROPE_CTX */
        CHECK_OK(clg_task_arg_int(t, ROPE_T + (unsigned)a, args[a]));
    /* dimension 0 rounded up to a multiple of 8: the extra items must exit */
    size_t global[2] = {((size_t)hd / 2 + 7) / 8 * 8, (size_t)c->T};
    CHECK_OK(clg_task_set_range(t, 2, global, NULL));
    CHECK_OK(clg_graph_execute(g));
    CHECK_OK(clg_buffer_read(bx, 0, got, count * sizeof *got));
    read_cache(bk, f16, kg, n_cache);
    read_cache(bv, f16, vg, n_cache);

    /* theta = pos * inv_freq in f32: |d theta| <= ~2 * 2^-24 * theta; with |x| <= 1 each
     * output moves by at most |d theta| * sqrt(2), plus a few ulp from sin/cos (4 ulp).
     * f16 caches add half a half-ulp of values up to sqrt(2). */
    const float atol = 1e-5f + 2e-6f * (float)max_pos, hatol = f16 ? 1e-3f : 0.0f;
    char what[160];
    snprintf(what, sizeof what, "%s %s%s q", c->name, neox ? "neox" : "normal", f16 ? " f16" : "");
    tc_close(what, got, want, count, atol, 0.0f);
    snprintf(what, sizeof what, "%s %s%s k cache", c->name, neox ? "neox" : "normal",
             f16 ? " f16" : "");
    tc_close(what, kg, kw, n_cache, atol + hatol, 0.0f);
    snprintf(what, sizeof what, "%s %s%s v cache", c->name, neox ? "neox" : "normal",
             f16 ? " f16" : "");
    if (f16) /* V is copied: each value rounded to nearest even, exactly */
        for (size_t i = 0; i < n_cache; i++)
            vw[i] = llm_f16_to_f32(llm_f32_to_f16(vw[i]));
    tc_close(what, vg, vw, n_cache, 0.0f, 0.0f);
    /* Unrotated dimensions and the K, V columns of qkv are not touched at all. */
    int exact = 1;
    for (int tk = 0; tk < c->T; tk++)
        for (int k = 0; k < row_stride; k++) {
            const int rotated = k / hd < nh && k % hd < c->n_rot;
            const size_t i = (size_t)tk * row_stride + k;
            if (!rotated && memcmp(&got[i], &x[i], sizeof *x) != 0) exact = 0;
        }
    CHECK(exact);
free_cl:
    clg_graph_destroy(g);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(bk);
    clg_buffer_destroy(bv);
    clg_buffer_destroy(bpos);
    clg_buffer_destroy(bseq);
    clg_buffer_destroy(binv);
done:
    free(x);
    free(want);
    free(got);
    free(kw);
    free(vw);
    free(kg);
    free(vg);
    free(pos);
    free(seq);
}

int main(void) {
    tc_seed(202);
    clg_context *ctx = tc_context();
    static const rope_case cases[] = {
        /* SmolLM2-135M: a prefill of 5 tokens after 17, and one decode step */
        {"smollm2 prefill", 5, 9, 3, 64, 64, 100000.0f, 1.0f, 17, 1, 0, 32, 1},
        {"smollm2 decode", 1, 9, 3, 64, 64, 100000.0f, 1.0f, 17, 1, 0, 32, 1},
        {"smollm2 from 0", 5, 9, 3, 64, 64, 100000.0f, 1.0f, 0, 1, 0, 8, 1},
        /* head_dim 128 rotating half of it, linear frequency scaling, far positions */
        {"hd128 nrot64 scale0.5", 3, 4, 1, 128, 64, 10000.0f, 0.5f, 1000, 37, 0, 1080, 1},
        /* head_dim 32, n_rot 16, a base of 10000; the last token is beyond the cache */
        {"hd32 nrot16 overflow", 5, 4, 2, 32, 16, 10000.0f, 1.0f, 3, 11, 0, 47, 1},
        /* Llama 3.2-style: base 500000 with frequency divisors */
        {"hd64 factors", 4, 8, 2, 64, 64, 500000.0f, 1.0f, 250, 97, 1, 600, 1},
        /* several sequences: 6 tokens in sequences 1 0 3 2 1 0 of 4; and of 3 with NeoX-style
         * n_rot < head_dim, the last token beyond the cache */
        {"smollm2 4 seqs", 6, 9, 3, 64, 64, 100000.0f, 1.0f, 5, 2, 0, 32, 4},
        {"hd32 nrot16 3 seqs", 5, 4, 2, 32, 16, 10000.0f, 1.0f, 3, 11, 0, 47, 3},
    };
    for (int f16 = 0; f16 < 2; f16++) {
        clg_program *prog = NULL;
        CHECK_OK(clg_program_get(ctx, "rope", f16 ? "-DKV_F16" : "", &prog));
        for (size_t k = 0; prog && k < sizeof cases / sizeof cases[0]; k++)
            for (int neox = 0; neox < 2; neox++)
                run_case(ctx, prog, f16, &cases[k], neox);
    }
    clg_context_destroy(ctx);
    return tc_finish("ops.rope");
}
