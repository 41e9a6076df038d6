/* KV-cache store (cl/rope.cl's rope_kv with n_rot = 0; the rotation is checked in ops.rope)
 * and causal GQA attention (cl/attention.cl): attention_row, attention_group (groups of 2,
 * 3 and 4 query heads; NaN where ATT_G is not the case's group),
 * attention_wg and attention_split + attention_merge (n_split 1, 3, 8, with empty ranges),
 * f32 and f16 caches, full and sliding-window (windows 1, 5, windows that some tokens of a
 * batch exceed and others do not, and windows longer than the positions), against
 * ref_kv_store and the full-softmax ref_attention in double, which applies the window as
 * llama.cpp's mask. Each case fills the whole cache with random values first (earlier
 * tokens, and garbage beyond the causal limit), stores T new tokens at pos0 .. pos0 + T - 1
 * from a fused QKV row, then attends from the same rows' Q. Cases with several sequences put
 * the tokens of one batch into different cache regions (token t in sequence (3t + 1) % n_seq),
 * each region holding its own random keys: a token that stores into or attends another
 * region's rows fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "graphs/ops/ops.h"
#include "ref/ref_ops.h"
#include "test_common.h"

typedef struct att_case {
    const char *name;
    int n_heads, n_kv_heads, head_dim, ctx_len, T, pos0;
    float q_range; /* q uniform in [-q_range, q_range]: larger makes the softmax peakier */
    int out_pad;   /* out_stride = n_heads * head_dim + out_pad */
    int windows[5], nwindows; /* attention windows (0: full causal) */
    int n_seq;                /* cache regions (0: one) */
} att_case;

typedef struct att_build {
    const char *att_opts, *kv_opts; /* build options of attention.cl and rope.cl */
    int wg;                         /* ATT_WG */
    int max_hd;                     /* ATT_MAX_HD */
    int fixed_hd;                   /* ATT_HD, 0 when not set */
    int f16;                        /* KV_F16 */
    int row_vec;                    /* ATT_VEC: attention_row runs where it divides head_dim */
    int splits[3], nsplits;         /* attention_split's n_split values */
    int only_hd;                    /* run only the cases of this head_dim (0: all that fit) */
    int group;                      /* ATT_G: attention_group's query heads per KV head */
} att_build;

static int wg_runs = 0;    /* attention_wg / _split cases that ran */
static int group_runs = 0; /* attention_group cases checked against the reference */

/* f16 conversions: llm_f16_to_f32 and llm_f32_to_f16 (round to nearest even, as vstore_half;
 * checked against numpy in unit.quant). */

typedef struct att_data {
    float *qkv;            /* [T, row_stride] */
    float *k_ref, *v_ref;  /* [n_seq, n_kv, ctx, hd] the caches as the reference sees them */
    void *k_init, *v_init; /* the caches' initial device contents (f32 or half) */
    int *pos, *seq;        /* [T] */
    float *want, *got;     /* [T, out_stride] */
    float *row;            /* [T, out_stride] attention_row's output at the current window */
    float *part;           /* [T, n_heads, 8, hd + 2] */
} att_data;

static void free_data(att_data *d) {
    free(d->qkv);
    free(d->k_ref);
    free(d->v_ref);
    free(d->k_init);
    free(d->v_init);
    free(d->pos);
    free(d->seq);
    free(d->want);
    free(d->got);
    free(d->row);
    free(d->part);
}

/* The part records' headers as documented in cl/attention.cl: an empty range has
 * m = -INF and l = 0, a range of k keys has m finite and 1 <= l <= k (its maximum adds
 * e^0 = 1, the others at most 1 each). */
static void check_part(clg_buffer *bpart, const att_case *c, int n_split, int window) {
    const int hd = c->head_dim, rec = hd + 2;
    const size_t count = (size_t)c->T * c->n_heads * n_split * rec;
    float *part = malloc(count * sizeof *part);
    if (!part) {
        CHECK(!"out of memory");
        return;
    }
    CHECK_OK(clg_buffer_read(bpart, 0, part, count * sizeof *part));
    int bad = 0, empty = 0;
    for (int t = 0; t < c->T; t++) {
        const int p = c->pos0 + t, lo = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
        const int n = p + 1 - lo, chunk = (n + n_split - 1) / n_split;
        for (int h = 0; h < c->n_heads; h++)
            for (int s = 0; s < n_split; s++) {
                const float *r = part + ((size_t)(t * c->n_heads + h) * n_split + s) * rec;
                const int keys = s * chunk >= n ? 0 : (s + 1) * chunk > n ? n - s * chunk : chunk;
                if (keys == 0) {
                    empty++;
                    if (!(r[0] == -INFINITY && r[1] == 0.0f)) bad++;
                } else if (!(isfinite(r[0]) && r[1] >= 0.999f && r[1] <= (float)keys * 1.001f)) {
                    bad++;
                }
            }
    }
    CHECK(bad == 0);
    if (bad)
        fprintf(stderr, "%s n_split=%d window=%d: %d bad part headers\n", c->name, n_split, window,
                bad);
    else
        printf("  %s n_split=%d window=%d: part headers ok (%d empty ranges)\n", c->name, n_split,
               window, empty);
    free(part);
}

/* Runs one case on one build: kv_store, then every attention variant of the build. */
static void run_case(clg_context *ctx, const att_build *b, clg_program *pkv, clg_program *patt,
                     const att_case *c) {
    const int hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    const int row_stride = (nh + 2 * nkv) * hd, k_off = nh * hd, v_off = (nh + nkv) * hd;
    const int out_stride = nh * hd + c->out_pad;
    const int n_seq = c->n_seq > 0 ? c->n_seq : 1;
    const size_t n_qkv = (size_t)c->T * row_stride, n_cache = (size_t)n_seq * nkv * c->ctx_len * hd;
    const size_t n_out = (size_t)c->T * out_stride;
    const size_t elem = b->f16 ? 2 : 4;
    const size_t n_part = (size_t)c->T * nh * 8 * (hd + 2);
    att_data d = {0};
    d.qkv = malloc(n_qkv * sizeof(float));
    d.k_ref = malloc(n_cache * sizeof(float));
    d.v_ref = malloc(n_cache * sizeof(float));
    d.k_init = malloc(n_cache * elem);
    d.v_init = malloc(n_cache * elem);
    d.pos = malloc((size_t)c->T * sizeof(int));
    d.seq = malloc((size_t)c->T * sizeof(int));
    d.want = malloc(n_out * sizeof(float));
    d.got = malloc(n_out * sizeof(float));
    d.row = malloc(n_out * sizeof(float));
    d.part = malloc(n_part * sizeof(float));
    if (!d.qkv || !d.k_ref || !d.v_ref || !d.k_init || !d.v_init || !d.pos || !d.seq || !d.want ||
        !d.got || !d.row || !d.part) {
        CHECK(!"out of memory");
        free_data(&d);
        return;
    }
    tc_fill(d.qkv, n_qkv, -1.0f, 1.0f);
    for (int t = 0; t < c->T; t++) {
        for (int k = 0; k < nh * hd; k++)
            d.qkv[(size_t)t * row_stride + k] = tc_randf(-c->q_range, c->q_range);
        d.pos[t] = c->pos0 + t;
        d.seq[t] = (3 * t + 1) % n_seq;
    }
    tc_fill(d.k_ref, n_cache, -1.0f, 1.0f);
    tc_fill(d.v_ref, n_cache, -1.0f, 1.0f);
    if (b->f16) {
        uint16_t *kh = d.k_init, *vh = d.v_init;
        for (size_t i = 0; i < n_cache; i++) {
            kh[i] = llm_f32_to_f16(d.k_ref[i]);
            vh[i] = llm_f32_to_f16(d.v_ref[i]);
            d.k_ref[i] = llm_f16_to_f32(kh[i]);
            d.v_ref[i] = llm_f16_to_f32(vh[i]);
        }
    } else {
        memcpy(d.k_init, d.k_ref, n_cache * sizeof(float));
        memcpy(d.v_init, d.v_ref, n_cache * sizeof(float));
    }
    ref_kv_store(d.qkv, d.k_ref, d.v_ref, d.pos, d.seq, c->T, row_stride, k_off, v_off, nkv, hd,
                 c->ctx_len);
    if (b->f16) /* the reference attends over the caches as stored: rounded to half */
        for (int t = 0; t < c->T; t++)
            for (int h = 0; h < nkv; h++)
                for (int e = 0; e < hd; e++) {
                    const size_t i =
                        (((size_t)d.seq[t] * nkv + h) * c->ctx_len + d.pos[t]) * hd + e;
                    d.k_ref[i] = llm_f16_to_f32(llm_f32_to_f16(d.k_ref[i]));
                    d.v_ref[i] = llm_f16_to_f32(llm_f32_to_f16(d.v_ref[i]));
                }
    const float scale = 1.0f / sqrtf((float)hd);

    clg_buffer *bqkv = tc_buffer(ctx, "qkv", n_qkv * 4, CLG_TRANSFER_FIRST_EXECUTION, d.qkv);
    clg_buffer *bk = tc_buffer(ctx, "k", n_cache * elem, CLG_TRANSFER_FIRST_EXECUTION, d.k_init);
    clg_buffer *bv = tc_buffer(ctx, "v", n_cache * elem, CLG_TRANSFER_FIRST_EXECUTION, d.v_init);
    clg_buffer *bpos = tc_buffer(ctx, "pos", (size_t)c->T * 4, CLG_TRANSFER_FIRST_EXECUTION, d.pos);
    clg_buffer *bseq = tc_buffer(ctx, "seq", (size_t)c->T * 4, CLG_TRANSFER_FIRST_EXECUTION, d.seq);
    clg_buffer *bout = tc_buffer(ctx, "out", n_out * 4, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_buffer *bpart = tc_buffer(ctx, "part", n_part * 4, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_graph *g = NULL;
    clg_task *t = NULL;
    CHECK_OK(clg_graph_create(ctx, "kv", &g));
    if (!g || !bqkv || !bk || !bv || !bpos || !bseq || !bout || !bpart) goto done;

    /* rope_kv without rotation; the caches are read-write: the rows it does not write must
     * survive. n_rot = 0 reads no frequency: the pos buffer stands in. */
    CHECK_OK(clg_graph_add_task(g, "kv_store", pkv, "rope_kv", &t));
    if (!t) goto done;
    CHECK_OK(clg_task_arg_buffer(t, ROPE_QKV, bqkv, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_K_CACHE, bk, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_V_CACHE, bv, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_POS, bpos, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_SEQ, bseq, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ROPE_INV_FREQ, bpos, CLG_READ));
    const int kv_args[] = {c->T, row_stride, nh, nkv, hd, 0, 0, c->ctx_len};
    for (int a = 0; a < 8; a++) /* ROPE_T .. ROPE_CTX */
        CHECK_OK(clg_task_arg_int(t, ROPE_T + (unsigned)a, kv_args[a]));
    size_t kv_global[2] = {((size_t)hd / 2 + 7) / 8 * 8, (size_t)c->T};
    CHECK_OK(clg_task_set_range(t, 2, kv_global, NULL));
    CHECK_OK(clg_graph_execute(g));
    {
        float *kc = malloc(n_cache * sizeof(float)), *vc = malloc(n_cache * sizeof(float));
        void *raw = malloc(n_cache * elem);
        if (kc && vc && raw) {
            for (int which = 0; which < 2; which++) {
                CHECK_OK(clg_buffer_read(which ? bv : bk, 0, raw, n_cache * elem));
                float *dst = which ? vc : kc;
                for (size_t i = 0; i < n_cache; i++)
                    dst[i] = b->f16 ? llm_f16_to_f32(((uint16_t *)raw)[i]) : ((float *)raw)[i];
            }
            /* Exact: a copy (f16: vstore_half rounds to nearest even, like llm_f32_to_f16). */
            char what[128];
            snprintf(what, sizeof what, "%s [%s] kv_store k", c->name, b->kv_opts);
            tc_close(what, kc, d.k_ref, n_cache, 0.0f, 0.0f);
            snprintf(what, sizeof what, "%s [%s] kv_store v", c->name, b->kv_opts);
            tc_close(what, vc, d.v_ref, n_cache, 0.0f, 0.0f);
        } else {
            CHECK(!"out of memory");
        }
        free(kc);
        free(vc);
        free(raw);
    }
    clg_graph_destroy(g);
    g = NULL;

    /* Attention variants: v = 0 row, 1 wg, 2.. split with splits[v - 2], then group, at every
     * window. attention_group runs where its ATT_G is the case's group (else it must write
     * NaN to every head) and its vectors divide head_dim, as attention_row's. */
    const int att_args[] = {c->T, row_stride, 0, out_stride, nh, nkv, hd, c->ctx_len};
    for (int wi = 0; wi < c->nwindows; wi++) {
        const int window = c->windows[wi];
        CHECK_OK(ref_attention(d.qkv, d.k_ref, d.v_ref, d.pos, d.seq, d.want, c->T, row_stride, 0,
                               out_stride, nh, nkv, hd, c->ctx_len, scale, window));
        for (int v = 0; v < 3 + b->nsplits; v++) {
            const int grp = v == 2 + b->nsplits, split = v >= 2 && !grp;
            const int nan_out = grp && nh != nkv * b->group;
            if ((v == 0 || grp) && c->head_dim % b->row_vec) continue;
            const int n_split = split ? b->splits[v - 2] : 0;
            const char *kernel = v == 0   ? "attention_row"
                                 : v == 1 ? "attention_wg"
                                 : split  ? "attention_split"
                                          : "attention_group";
            CHECK_OK(clg_graph_create(ctx, "att", &g));
            if (!g) break;
            t = NULL;
            CHECK_OK(clg_graph_add_task(g, kernel, patt, kernel, &t));
            if (!t) break;
            CHECK_OK(clg_task_arg_buffer(t, ATT_Q, bqkv, CLG_READ));
            CHECK_OK(clg_task_arg_buffer(t, ATT_K_CACHE, bk, CLG_READ));
            CHECK_OK(clg_task_arg_buffer(t, ATT_V_CACHE, bv, CLG_READ));
            CHECK_OK(clg_task_arg_buffer(t, ATT_POS, bpos, CLG_READ));
            CHECK_OK(clg_task_arg_buffer(t, ATT_SEQ, bseq, CLG_READ));
            CHECK_OK(clg_task_arg_buffer(t, ATT_OUT, bout, split ? CLG_READ : CLG_WRITE));
            for (int a = 0; a < 8; a++)
                CHECK_OK(clg_task_arg_int(t, ATT_T + a, att_args[a]));
            CHECK_OK(clg_task_arg_float(t, ATT_SCALE, scale));
            CHECK_OK(clg_task_arg_int(t, ATT_WINDOW, window));
            int ok = 1;
            if (v == 0 || grp) { /* rounded up: extras exit */
                size_t global[2] = {(size_t)(grp ? nkv : nh) + 3, (size_t)c->T};
                CHECK_OK(clg_task_set_range(t, 2, global, NULL));
            } else if (v == 1) {
                size_t global[2] = {(size_t)nh * b->wg, (size_t)c->T},
                       local[2] = {(size_t)b->wg, 1};
                ok = tc_set_range(t, 2, global, local);
            } else {
                CHECK_OK(clg_task_arg_buffer(t, ATT_PART, bpart, CLG_WRITE));
                CHECK_OK(clg_task_arg_int(t, ATT_N_SPLIT, n_split));
                size_t global[3] = {(size_t)nh * b->wg, (size_t)c->T, (size_t)n_split};
                size_t local[3] = {(size_t)b->wg, 1, 1};
                ok = tc_set_range(t, 3, global, local);
                clg_task *m = NULL;
                CHECK_OK(clg_graph_add_task(g, "attention_merge", patt, "attention_merge", &m));
                if (!m) break;
                CHECK_OK(clg_task_arg_buffer(m, 0, bpart, CLG_READ));
                CHECK_OK(clg_task_arg_buffer(m, 1, bout, CLG_WRITE));
                const int merge_args[] = {c->T, out_stride, nh, hd, n_split};
                for (int a = 0; a < 5; a++)
                    CHECK_OK(clg_task_arg_int(m, 2 + a, merge_args[a]));
                size_t mg[3] = {((size_t)hd + 7) / 8 * 8, (size_t)nh, (size_t)c->T};
                CHECK_OK(clg_task_set_range(m, 3, mg, NULL));
            }
            if (ok) {
                if (v >= 1 && !grp) wg_runs++;
                if (grp && !nan_out) group_runs++;
                /* Poison out (padding included) so that a missed element shows. */
                for (size_t i = 0; i < n_out; i++)
                    d.got[i] = NAN;
                CHECK_OK(clg_buffer_write(bout, 0, d.got, n_out * 4));
                CHECK_OK(clg_graph_execute(g));
                CHECK_OK(clg_buffer_read(bout, 0, d.got, n_out * 4));
                for (int tt = 0; tt < c->T; tt++) /* the padding is not ours: copy it over */
                    for (int k = nh * hd; k < out_stride; k++) {
                        const size_t i = (size_t)tt * out_stride + k;
                        CHECK(isnan(d.got[i]));
                        d.got[i] = d.want[i] = 0.0f;
                    }
                /* out is a convex combination of v values in [-1, 1]. Scores: f32 dot products
                 * of hd <= 256 terms (|q.k| * scale <= ~6), error <= hd * 2^-24 * 6 ~ 1e-4
                 * worst case, e^x within 3 ulp; the weights' relative error carries over to out
                 * (|out| <= 1), and sums over <= 1501 keys add <= 1501 * 2^-24 ~ 1e-4 worst case
                 * (random-walk ~3e-6). The observed error is < 3e-7; atol 2e-5 leaves margin while
                 * one key too many or too few (a weight of ~1/n >= 6e-4) fails. */
                char what[160];
                if (nan_out) { /* every head's output NaN, then the reference's check skipped */
                    int all = 1;
                    for (int tt = 0; tt < c->T; tt++)
                        for (int k = 0; k < nh * hd; k++)
                            all &= isnan(d.got[(size_t)tt * out_stride + k]) != 0;
                    if (!all)
                        printf("  %s [%s] %s: not NaN for a group of %d heads\n", c->name,
                               b->att_opts, kernel, nh / nkv);
                    CHECK(all);
                    clg_graph_destroy(g);
                    g = NULL;
                    continue;
                }
                if (split)
                    snprintf(what, sizeof what, "%s [%s] %s window=%d n_split=%d", c->name,
                             b->att_opts, kernel, window, n_split);
                else
                    snprintf(what, sizeof what, "%s [%s] %s window=%d", c->name, b->att_opts,
                             kernel, window);
                tc_close(what, d.got, d.want, n_out, 2e-5f, 0.0f);
                /* attention_group computes each head as attention_row does, to the bit: a
                 * token's result does not depend on the plan (llm_model_rows_invariant) */
                if (v == 0) memcpy(d.row, d.got, n_out * sizeof(float));
                if (grp) { /* row ran first, under the same condition */
                    snprintf(what, sizeof what, "%s [%s] group == row, window=%d", c->name,
                             b->att_opts, window);
                    tc_close(what, d.got, d.row, n_out, 0.0f, 0.0f);
                }
                if (split) check_part(bpart, c, n_split, window);
            }
            clg_graph_destroy(g);
            g = NULL;
        }
    }
done:
    clg_graph_destroy(g);
    clg_buffer_destroy(bqkv);
    clg_buffer_destroy(bk);
    clg_buffer_destroy(bv);
    clg_buffer_destroy(bpos);
    clg_buffer_destroy(bseq);
    clg_buffer_destroy(bout);
    clg_buffer_destroy(bpart);
    free_data(&d);
}

/* head_dim above ATT_MAX_HD or unequal to ATT_HD: the kernel writes NaN instead of
 * overrunning its private arrays. */
static void run_too_wide(clg_context *ctx, clg_program *patt, int wg) {
    const int hd = 128, nh = 2, ctx_len = 4, T = 1; /* ATT_HD 64 or 256, or ATT_MAX_HD 64 */
    float q[2 * 128], kc[128 * 4], vc[128 * 4], out[2 * 128];
    int pos[1] = {3}, seq[1] = {0};
    tc_fill(q, 2 * 128, -1, 1);
    tc_fill(kc, 128 * 4, -1, 1);
    tc_fill(vc, 128 * 4, -1, 1);
    clg_buffer *bq = tc_buffer(ctx, "q", sizeof q, CLG_TRANSFER_FIRST_EXECUTION, q);
    clg_buffer *bk = tc_buffer(ctx, "k", sizeof kc, CLG_TRANSFER_FIRST_EXECUTION, kc);
    clg_buffer *bv = tc_buffer(ctx, "v", sizeof vc, CLG_TRANSFER_FIRST_EXECUTION, vc);
    clg_buffer *bp = tc_buffer(ctx, "pos", sizeof pos, CLG_TRANSFER_FIRST_EXECUTION, pos);
    clg_buffer *bs = tc_buffer(ctx, "seq", sizeof seq, CLG_TRANSFER_FIRST_EXECUTION, seq);
    clg_buffer *bo = tc_buffer(ctx, "out", sizeof out, CLG_TRANSFER_EVERY_EXECUTION, out);
    clg_graph *g = NULL;
    clg_task *t = NULL;
    CHECK_OK(clg_graph_create(ctx, "wide", &g));
    if (g) CHECK_OK(clg_graph_add_task(g, "attention_wg", patt, "attention_wg", &t));
    if (!t) return;
    CHECK_OK(clg_task_arg_buffer(t, ATT_Q, bq, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ATT_K_CACHE, bk, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ATT_V_CACHE, bv, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ATT_POS, bp, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ATT_SEQ, bs, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, ATT_OUT, bo, CLG_WRITE));
    const int args[] = {T, nh * hd, 0, nh * hd, nh, 1, hd, ctx_len};
    for (int a = 0; a < 8; a++)
        CHECK_OK(clg_task_arg_int(t, ATT_T + a, args[a]));
    CHECK_OK(clg_task_arg_float(t, ATT_SCALE, 0.1f));
    CHECK_OK(clg_task_arg_int(t, ATT_WINDOW, 0));
    size_t global[2] = {(size_t)nh * wg, 1}, local[2] = {(size_t)wg, 1};
    if (tc_set_range(t, 2, global, local)) {
        for (int i = 0; i < nh * hd; i++)
            out[i] = 0.0f;
        CHECK_OK(clg_graph_execute(g));
        int all_nan = 1;
        for (int i = 0; i < nh * hd; i++)
            all_nan &= isnan(out[i]) != 0;
        CHECK(all_nan);
        printf("  head_dim 128 with ATT_HD 64 or 256 / ATT_MAX_HD 64: %s\n",
               all_nan ? "NaN as documented" : "WRONG");
    }
    clg_graph_destroy(g);
    clg_buffer_destroy(bq);
    clg_buffer_destroy(bk);
    clg_buffer_destroy(bv);
    clg_buffer_destroy(bp);
    clg_buffer_destroy(bs);
    clg_buffer_destroy(bo);
}

int main(void) {
    tc_seed(303);
    clg_context *ctx = tc_context();
    static const att_case cases[] = {
        /* SmolLM2-135M: a 5-token prefill chunk after 17 cached tokens, a decode step at 17;
         * window 20: positions 17..19 see every key, 20 and 21 lose the first ones */
        {"smollm2 prefill@17", 9, 3, 64, 48, 5, 17, 2.0f, 0, {0, 1, 5, 20, 100}, 5, 1},
        {"smollm2 decode@17", 9, 3, 64, 48, 1, 17, 2.0f, 0, {0, 5, 18, 4096}, 4, 1},
        /* head_dim 32, one KV head for 4 query heads, a prefill from position 0; window 3
         * cuts tokens 3 and 4 only */
        {"hd32 gqa4 prefill@0", 4, 1, 32, 16, 5, 0, 2.0f, 5, {0, 1, 3, 5}, 4, 1},
        /* head_dim 128, peaky softmax, ~300 keys: several keys per item, new maxima */
        {"hd128 gqa4 decode@290", 4, 1, 128, 320, 1, 290, 4.0f, 0, {0, 100, 291}, 3, 1},
        /* a long context: 1501 keys (within llvmpipe's loop limit for attention_row) */
        {"smollm2 decode@1500", 9, 3, 64, 1536, 1, 1500, 2.0f, 0, {0, 512}, 2, 1},
        /* Gemma 3 270M's heads (4 query heads on one KV head of 256): a prefill across its
         * window (12: positions 10 and 11 see every key, 12 .. 15 lose the first ones), a
         * decode with several keys per item */
        {"gemma3 hd256 prefill@10", 4, 1, 256, 32, 6, 10, 2.0f, 0, {0, 1, 5, 12}, 4, 1},
        {"gemma3 hd256 decode@200", 4, 1, 256, 224, 1, 200, 3.0f, 0, {0, 64, 500}, 3, 1},
        /* several sequences in one batch: SmolLM2's heads, 6 tokens in sequences 1 0 3 2 1 0
         * of 4 (the window cuts some); Gemma 3's heads, 4 tokens in 1 0 2 1 of 3 */
        {"smollm2 4 seqs@17", 9, 3, 64, 32, 6, 17, 2.0f, 0, {0, 4}, 2, 4},
        {"gemma3 hd256 3 seqs@10", 4, 1, 256, 24, 4, 10, 2.0f, 0, {0, 12}, 2, 3},
        /* head_dim 20, a multiple of 4 but not of 8: attention_row with ATT_VEC 4 only */
        {"hd20 gqa2 2 seqs@40", 4, 2, 20, 48, 3, 40, 2.0f, 0, {0, 7}, 2, 2},
    };
    const int ncases = (int)(sizeof cases / sizeof cases[0]);
    /* Five builds of attention.cl (each build costs seconds on PoCL): the defaults (the
     * SPIR-V module where the device takes it; ATT_WG 64 exceeds llvmpipe's limit of 32
     * and is skipped there), f16 caches with ATT_WG 16 and the row kernel's smallest key
     * block and vectors (4 floats), and head_dim fixed at compile time with ATT_WG 32 and key
     * blocks of 32 (head_dim 128 must then give NaN); head_dim 256 (above the default ATT_MAX_HD)
     * at run time, and fixed with f16 caches, on its cases only. attention_group's ATT_G: 1
     * in the defaults (every case's group is larger: NaN), 2, 3, 4 in the others. */
    static const att_build builds[] = {
        {"", "", 64, 128, 0, 0, 8, {1, 3, 8}, 3, 0, 1},
        {"-DKV_F16 -DATT_WG=16 -DATT_KB=4 -DATT_VEC=4 -DATT_G=2",
         "-DKV_F16",
         16,
         128,
         0,
         1,
         4,
         {3},
         1,
         0,
         2},
        {"-DATT_WG=32 -DATT_KB=32 -DATT_HD=64 -DATT_MAX_HD=64 -DATT_G=3",
         "",
         32,
         64,
         64,
         0,
         8,
         {1, 8},
         2,
         0,
         3},
        {"-DATT_WG=32 -DATT_MAX_HD=256 -DATT_G=4", "", 32, 256, 0, 0, 8, {1, 3}, 2, 256, 4},
        {"-DKV_F16 -DATT_WG=16 -DATT_HD=256 -DATT_MAX_HD=256 -DATT_G=4",
         "-DKV_F16",
         16,
         256,
         256,
         1,
         8,
         {3},
         1,
         256,
         4},
    };
    for (size_t k = 0; k < sizeof builds / sizeof builds[0]; k++) {
        const att_build *b = &builds[k];
        clg_program *pkv = NULL, *patt = NULL;
        CHECK_OK(clg_program_get(ctx, "rope", b->kv_opts, &pkv));
        CHECK_OK(clg_program_get(ctx, "attention", b->att_opts, &patt));
        if (!pkv || !patt) continue;
        for (int i = 0; i < ncases; i++) {
            if (cases[i].head_dim > b->max_hd) continue;
            if (b->fixed_hd && cases[i].head_dim != b->fixed_hd) continue;
            if (b->only_hd && cases[i].head_dim != b->only_hd) continue;
            run_case(ctx, b, pkv, patt, &cases[i]);
        }
        if (b->max_hd < 128 || b->fixed_hd) run_too_wide(ctx, patt, b->wg);
    }
    CHECK(wg_runs >= 10);   /* the work-group variants ran (not all skipped) */
    CHECK(group_runs >= 8); /* attention_group ran on groups of 2, 3 and 4 heads */
    clg_context_destroy(ctx);
    return tc_finish("ops.attention");
}
