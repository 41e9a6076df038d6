/* Whole-model check against the independent numpy reference (test/model/ref_llama.py):
 *   test_model MODEL.gguf GOLDEN N_GEN
 * on $CLGRAPH_DEVICE: last-position logits of every golden prompt, batched prefill vs
 * token-by-token, and N_GEN greedy tokens.
 *
 * Tolerance: the reference computes in float64 from the same dequantized weights; a
 * float32 evaluation of it differs by ~1e-4 (test/data/model/README.md). The kernels sum
 * in float32 in other orders and the hidden state grows to ~2e4 in SmolLM2's later
 * layers, so logits may move a little more: LOGIT_TOL = 0.05, more than 100x the float32
 * effect yet far below what one wrong weight, position or head would cause (> 1).
 * Greedy tokens must match until the first step where the reference's top-2 margin is
 * below 2 x LOGIT_TOL (a near tie that float rounding may legitimately flip). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "ref/golden_model.h"
#include "test_common.h"

#define LOGIT_TOL 0.05f

static float max_abs_diff(const float *a, const float *b, int n) {
    float d = 0;
    for (int i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
    }
    return d;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_model MODEL.gguf GOLDEN N_GEN\n");
        return 2;
    }
    int n_gen = atoi(argv[3]);
    tg_golden *gold = NULL;
    CHECK_OK(tg_golden_load(argv[2], &gold));
    llm_model_options o = llm_model_options_default();
    o.n_ctx = 256;
    o.n_batch = 16; /* the longest prompt (36 tokens) spans three batches */
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(argv[1], &o, &m));
    if (!gold || !m) return tc_finish("model");
    const llm_hparams *hp = llm_model_hparams(m);
    printf("device %s, model %s (%s), golden %s\n", clg_context_device(llm_model_context(m))->device_name,
           argv[1], llm_dtype_name(hp->weight_type), argv[2]);
    CHECK(hp->n_vocab == gold->n_vocab);
    float *logits = malloc((size_t)hp->n_vocab * sizeof(float));
    float *step = malloc((size_t)hp->n_vocab * sizeof(float));

    for (int p = 0; p < gold->n_prompts; p++) {
        const tg_golden_prompt *gp = &gold->prompts[p];
        CHECK_OK(llm_model_eval(m, gp->tokens, gp->n_tokens, 0, logits));
        float d = max_abs_diff(logits, gp->logits_last, hp->n_vocab);
        printf("  %-8s %2d tokens: max |logit - reference| = %.4g (argmax %d, reference %d)\n", gp->name,
               gp->n_tokens, d, tg_argmax(logits, hp->n_vocab), tg_argmax(gp->logits_last, hp->n_vocab));
        CHECK(d <= LOGIT_TOL);
        CHECK(tg_argmax(logits, hp->n_vocab) == tg_argmax(gp->logits_last, hp->n_vocab));

        /* Batched prefill equals token-by-token evaluation. */
        if (p == 0) {
            for (int i = 0; i < gp->n_tokens; i++) CHECK_OK(llm_model_eval(m, &gp->tokens[i], 1, i, step));
            float db = max_abs_diff(step, logits, hp->n_vocab);
            printf("  batched vs token-by-token prefill: max |d| = %.3g\n", db);
            CHECK(db <= 1e-3f);
        }

        /* Greedy continuation (one decode step per token). */
        int pos = gp->n_tokens, agree = 0, checked = 0, tie = 0;
        for (int g = 0; g < n_gen && g < gold->n_gen; g++) {
            int32_t id = tg_argmax(logits, hp->n_vocab);
            if (!tie && gp->greedy_margin[g] < 2 * LOGIT_TOL) tie = 1;
            if (!tie) {
                checked++;
                if (id == gp->greedy[g]) agree++;
                else {
                    CHECK(id == gp->greedy[g]);
                    printf("  %s: greedy token %d is %d, reference %d (margin %.3f)\n", gp->name, g, id,
                           gp->greedy[g], gp->greedy_margin[g]);
                    break;
                }
            }
            if (tie) break;
            CHECK_OK(llm_model_eval(m, &id, 1, pos++, logits));
        }
        printf("  %-8s greedy: %d of %d tokens equal the reference%s\n", gp->name, agree, checked,
               tie ? " (stopped at a near tie)" : "");
    }
    free(logits);
    free(step);
    llm_model_destroy(m);
    tg_golden_destroy(gold);
    return tc_finish("model");
}
