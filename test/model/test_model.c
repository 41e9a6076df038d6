/* Whole-model check against the independent numpy reference (test/model/ref_llama.py):
 *   test_model MODEL.gguf GOLDEN N_GEN
 * on $CLGRAPH_DEVICE: the golden file must belong to MODEL (SHA-256 of the GGUF equals the
 * golden header's model_sha256), then last-position logits of every golden prompt, batched
 * prefill vs token-by-token, and N_GEN greedy tokens.
 *
 * Tolerance: the reference computes in float64 from the same dequantized weights; a
 * float32 evaluation of it differs by ~1e-4 (test/data/model/README.md). The kernels sum
 * in float32 in other orders and the hidden state grows to ~2e4 in SmolLM2's later
 * layers, so logits may move a little more: a tolerance of 0.05, more than 100x the float32
 * effect yet far below what one wrong weight, position or head would cause (> 1).
 * Golden files with f16 logits_last (logits_dtype 1) store each logit rounded to nearest
 * f16: |stored - exact| <= half an ulp <= |exact| * 2^-11 (0.008 at |x| = 16..32), so the
 * full-vocabulary comparison allows 0.05 + |stored| * 2^-11 (|stored| bounds |exact| to
 * within that factor; the 2^-22 second-order term is covered by the 0.05's slack), and the
 * top-20 logits, which every golden file keeps in f32, are compared with 0.05 alone.
 * The reference argmax is top_ids[0] of the last position (f32 ranking, not the rounded one).
 * Greedy tokens must match the reference's at every step, except that at a step where the
 * reference's top-2 margin is below the tie window (0.1: a near tie that float
 * rounding may legitimately flip) a different pick ends the comparison instead of failing it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "ref/golden_model.h"
#include "ref/sha256.h"
#include "test_common.h"

/* What a correct engine may differ by: logits, the full vocabulary at the last position
 * (plus the f16 storage bound above); top, that position's f32 top-20; tie, the reference
 * top-2 margin below which a different greedy pick (or argmax) is a near tie that ends the
 * comparison instead of failing it; batch, batched prefill vs token-by-token evaluation. */
typedef struct tolerances {
    float logits, top, tie, batch;
} tolerances;

/* Float activations: see above. */
static const tolerances float_tol = {0.05f, 0.05f, 0.1f, 1e-3f};

/* With a 4th argument "kv_f16" the model keeps its KV cache in f16: K and V are rounded to
 * 2^-11 relative, which moved SmolLM2's logits by up to 0.025 in the numpy reference's own
 * experiment (test/data/model/README.md); the tolerance becomes 0.15, 6x that. */
static const tolerances kv_f16_tol = {0.15f, 0.15f, 0.3f, 1e-3f};

/* With "act_q8" the products quantize their activations to 8 bits (LLM_ACT_Q8; otherwise
 * the test forces float activations, LLM_ACT_F32). SmolLM2's residual stream reaches ~2e4
 * and each 32-block shares one scale, so one flipped block rounding grows layer by layer:
 * the engine differs from the float64 reference by ~1 logit, as llama.cpp does (the numpy
 * emulation of llama.cpp's Q8 activations: up to 2.59). The tolerances are 1.5x the largest
 * differences the kernels showed on PoCL per golden file (test/data/model/README.md,
 * "8-bit activations"), so a kernel that rounds or scales a block wrongly fails; the kernels
 * themselves are checked bit-tight in ops.matmul_q8. The tie window is one for all types:
 * 1.5x the largest reference margin at which a greedy continuation parted (0.338, Q4_0). */
static const struct {
    const char *type;
    tolerances tol;
} act_q8_tol[] = {
    {"Q4_1", {2.05f, 0.76f, 0.51f, 1.37f}}, /* logits: the x8 layout's 1.365 (short) */
    {"Q8_0", {1.52f, 0.86f, 0.51f, 0.76f}}, /* attention_row's 8-float sums: 1.01, 0.567 */
    {"Q4_0", {2.99f, 1.87f, 0.51f, 0.70f}}, /* the same: 1.994, 1.244 (short) */
    /* Gemma 3 270M: its golden data is llama.cpp itself (gen_gemma_golden.py), which
     * quantizes activations to Q8_K for the K-quant weights and Q8_0 for the others; measured
     * on PoCL: logits 1.465, top-20 1.079, batched vs token-by-token 0.656. */
    {"Q4_K_M", {2.2f, 1.62f, 0.51f, 0.98f}},
};

static tolerances tol;

static float max_abs_diff(const float *a, const float *b, int n) {
    float d = 0;
    for (int i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
    }
    return d;
}

/* Largest |got - want| / (tol.logits + rel * |want|) over n logits; <= 1 passes. NaN propagates. */
static float worst_tol_ratio(const float *got, const float *want, int n, float rel) {
    float r = 0;
    for (int i = 0; i < n; i++) {
        float e = fabsf(got[i] - want[i]) / (tol.logits + rel * fabsf(want[i]));
        if (!(e <= r)) r = e;
    }
    return r;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_model MODEL.gguf GOLDEN N_GEN [kv_f16|act_q8|clblast]\n");
        return 2;
    }
    int n_gen = atoi(argv[3]);
    int kv_f16 = argc > 4 && !strcmp(argv[4], "kv_f16");
    int act_q8 = argc > 4 && !strcmp(argv[4], "act_q8");
    /* "clblast": the prefill products run as dequantize + CLBlast Sgemm (forced), float
     * activations, the same tolerance as the kernels. */
    int clblast = argc > 4 && !strcmp(argv[4], "clblast");
    tol = kv_f16 ? kv_f16_tol : float_tol;
    tg_golden *gold = NULL;
    CHECK_OK(tg_golden_load(argv[2], &gold));
    if (!gold) return tc_finish("model");
    if (act_q8) {
        int found = 0;
        for (size_t i = 0; i < sizeof act_q8_tol / sizeof act_q8_tol[0]; i++)
            if (!strcmp(act_q8_tol[i].type, gold->model_type)) {
                tol = act_q8_tol[i].tol;
                found = 1;
            }
        if (!found)
            fprintf(stderr,
                    "no 8-bit activation tolerances for %s weights: measure them "
                    "(test/data/model/README.md) and add them to act_q8_tol\n",
                    gold->model_type);
        CHECK(found);
        if (!found) {
            tg_golden_destroy(gold);
            return tc_finish("model");
        }
    }

    /* The golden data must have been made from this very file (checked before the model is
     * loaded): a golden file of another conversion would fail the logit checks with misleading
     * numbers, or pass loosely. */
    char sha[65] = "";
    CHECK_OK(tg_sha256_file(argv[1], sha));
    int same_model = strcmp(sha, gold->model_sha256) == 0;
    printf("model %s\n  sha256        %s\n  golden's model %s (%s, %s): %s\n", argv[1], sha,
           gold->model_sha256, gold->model_file, gold->model_type,
           same_model ? "the same" : "DIFFERENT, wrong golden file for this model");
    CHECK(same_model);
    if (!same_model) {
        tg_golden_destroy(gold);
        return tc_finish("model");
    }

    llm_model_options o = tc_model_options();
    o.n_ctx = 256;
    o.n_batch = 16; /* the longest prompt (36 tokens) spans three batches */
    o.kv_f16 = kv_f16;
    o.act = act_q8 ? LLM_ACT_Q8 : LLM_ACT_F32;
    o.prefill_gemm = clblast ? LLM_GEMM_CLBLAST : LLM_GEMM_AUTO;
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(argv[1], &o, &m));
    if (!m) {
        tg_golden_destroy(gold);
        return tc_finish("model");
    }
    const llm_hparams *hp = llm_model_hparams(m);
    if (clblast) { /* every layer product of the prefill plan takes the library path */
        static const char *kinds[] = {"prefill.qkv", "prefill.attn_output", "prefill.ffn_swiglu",
                                      "prefill.ffn_down"};
        for (int k = 0; k < 4; k++) {
            const clg_kind *kind = clg_planner_find_kind(llm_model_planner(m), kinds[k]);
            CHECK(kind != NULL);
            if (!kind) continue;
            printf("  %-20s %s\n", kinds[k], clg_kind_choice(kind)->label);
            CHECK(!strcmp(clg_kind_choice(kind)->alternative, "clblast"));
        }
    }
    printf("device %s, weights %s, golden %s\n",
           clg_context_device(llm_model_context(m))->device_name, hp->weight_types, argv[2]);
    /* Rounding bound of the stored logits_last relative to their size (0 for f32). */
    float store_rel = gold->logits_dtype == 1 ? 1.0f / 2048 : 0.0f;
    printf("  logits_last stored as %s: tolerance %.3g + |reference| * %.3g; top-%d (f32) within "
           "%.3g; near ties below %.3g; batched vs token-by-token within %.3g\n",
           gold->logits_dtype == 1 ? "f16" : "f32", tol.logits, store_rel, gold->n_top, tol.top,
           tol.tie, tol.batch);
    float *logits = malloc((size_t)hp->n_vocab * sizeof(float));
    float *step = malloc((size_t)hp->n_vocab * sizeof(float));
    CHECK(hp->n_vocab == gold->n_vocab);
    CHECK(logits && step);
    if (hp->n_vocab != gold->n_vocab || !logits || !step) goto done;

    for (int p = 0; p < gold->n_prompts; p++) {
        const tg_golden_prompt *gp = &gold->prompts[p];
        CHECK_OK(llm_model_eval(m, gp->tokens, gp->n_tokens, 0, logits));
        float d = max_abs_diff(logits, gp->logits_last, hp->n_vocab);
        float ratio = worst_tol_ratio(logits, gp->logits_last, hp->n_vocab, store_rel);
        /* The last position's f32 top-n_top ids and logits. */
        const int32_t *top_ids = gp->top_ids + (size_t)(gp->n_tokens - 1) * gold->n_top;
        const float *top_vals = gp->top_vals + (size_t)(gp->n_tokens - 1) * gold->n_top;
        float dtop = 0;
        for (int k = 0; k < gold->n_top; k++) {
            float e = fabsf(logits[top_ids[k]] - top_vals[k]);
            if (!(e <= dtop)) dtop = e;
        }
        int argmax = tg_argmax(logits, hp->n_vocab);
        printf("  %-8s %2d tokens: max |logit - reference| = %.4g (%.2g of tolerance), top-%d %.4g;"
               " argmax %d, reference %d\n",
               gp->name, gp->n_tokens, d, ratio, gold->n_top, dtop, argmax, top_ids[0]);
        CHECK(ratio <= 1.0f);
        CHECK(dtop <= tol.top);
        /* The reference's choice, unless its top-2 margin is a near tie as for the greedy
         * tokens below (with float activations only a margin under 0.1). */
        CHECK(argmax == top_ids[0] || top_vals[0] - top_vals[1] < tol.tie);

        /* Batched prefill equals token-by-token evaluation (to float rounding; with 8-bit
         * activations a rounding difference flips block roundings, which grow layer by
         * layer, hence tol.batch). */
        if (p == 0) {
            for (int i = 0; i < gp->n_tokens; i++)
                CHECK_OK(llm_model_eval(m, &gp->tokens[i], 1, i, step));
            float db = max_abs_diff(step, logits, hp->n_vocab);
            printf("  batched vs token-by-token prefill: max |d| = %.4g\n", db);
            CHECK(db <= tol.batch);
        }

        /* Greedy continuation (one decode step per token). A near tie that the engine resolves
         * like the reference keeps both on the same sequence, so the comparison goes on; one it
         * resolves the other way ends it (legitimately: the continuations part there). */
        int pos = gp->n_tokens, agree = 0, ties = 0, parted = 0;
        int steps = n_gen < gold->n_gen ? n_gen : gold->n_gen;
        for (int g = 0; g < steps; g++) {
            int32_t id = tg_argmax(logits, hp->n_vocab);
            int near_tie = gp->greedy_margin[g] < tol.tie;
            if (id != gp->greedy[g]) {
                printf("  %s: greedy token %d is %d, reference %d (reference margin %.3f%s)\n",
                       gp->name, g, id, gp->greedy[g], gp->greedy_margin[g],
                       near_tie ? ", a near tie" : "");
                CHECK(near_tie);
                parted = near_tie;
                break;
            }
            agree++;
            ties += near_tie;
            if (g + 1 < steps) CHECK_OK(llm_model_eval(m, &id, 1, pos++, logits));
        }
        printf("  %-8s greedy: %d of %d tokens equal the reference (%d near ties among them)%s\n",
               gp->name, agree, steps, ties, parted ? "; parted at a near tie" : "");
    }
done:
    free(logits);
    free(step);
    llm_model_destroy(m);
    tg_golden_destroy(gold);
    return tc_finish("model");
}
