/* Models that mix weight types per tensor (as llama.cpp's Q4_K_M files do): a layer of
 * another type, a Q/K/V whose matrices differ (two and three products packed into the qkv
 * rows), one matrix of another type. Each runs against the same model with those matrices
 * stored in f32 after a round trip through their type (the same values), so the logits
 * agree to float rounding: prefill batches and decode steps, on every device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "clgraph/llm.h"
#include "clgraph/planner.h"
#include "ref/tiny_model.h"
#include "test_common.h"

static char dir[] = "/tmp/clgraph-llm-mixed-XXXXXX";

static llm_model *load(const tiny_variant *v, const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    tc_seed(77); /* the same random values in both models */
    CHECK(tiny_model_write(path, v) == 0);
    llm_model_options o = tc_model_options();
    o.n_ctx = 64;
    o.n_batch = 16;
    o.act = LLM_ACT_F32;
    o.cache_dir = dir;
    llm_model *m = NULL;
    clg_status st = llm_model_load(path, &o, &m);
    if (st != CLG_OK) fprintf(stderr, "%s: %s\n", file, clg_last_error());
    CHECK(st == CLG_OK);
    return m;
}

/* Whether the planner has a kind of this name. */
static int has_kind(const llm_model *m, const char *name) {
    const clg_planner *p = llm_model_planner(m);
    for (size_t i = 0; i < clg_planner_kind_count(p); i++)
        if (!strcmp(clg_kind_name(clg_planner_kind(p, i)), name)) return 1;
    return 0;
}

static double max_diff(const float *a, const float *b, int n, double *scale) {
    double d = 0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        *scale = fmax(*scale, fabs((double)b[i]));
    }
    return d;
}

static void check_case(const char *what, const char *retype, int dtype, const char *kind) {
    printf("%s (%s as %s)\n", what, retype, llm_dtype_name(dtype));
    tiny_variant mixed = {.retype = retype, .retype_dtype = dtype};
    tiny_variant same = mixed;
    same.roundtrip = 1;
    llm_model *a = load(&mixed, "mixed.gguf"), *b = load(&same, "f32.gguf");
    if (!a || !b) goto done;
    if (kind) {
        CHECK(has_kind(a, kind));
        if (!has_kind(a, kind)) fprintf(stderr, "%s: no kind '%s'\n", what, kind);
    }
    const int V = TINY_VOCAB, n_prompt = 11;
    float *la = malloc(V * sizeof *la), *lb = malloc(V * sizeof *lb);
    int32_t tok[16];
    for (int i = 0; i < 16; i++)
        tok[i] = (int32_t)(tc_randu() % V);
    double worst = 0, scale = 0;
    /* a prefill batch, then decode steps */
    CHECK_OK(llm_model_eval(a, tok, n_prompt, 0, la));
    CHECK_OK(llm_model_eval(b, tok, n_prompt, 0, lb));
    worst = fmax(worst, max_diff(la, lb, V, &scale));
    for (int p = n_prompt; p < n_prompt + 4; p++) {
        CHECK_OK(llm_model_eval(a, &tok[p], 1, p, la));
        CHECK_OK(llm_model_eval(b, &tok[p], 1, p, lb));
        worst = fmax(worst, max_diff(la, lb, V, &scale));
    }
    printf("  max |logit difference| %.3g, max |logit| %.3g\n", worst, scale);
    CHECK(scale > 1e-3);                 /* logits that are not all zero */
    CHECK(worst <= 1e-4 * scale + 1e-6); /* float rounding of the same products */
    free(la);
    free(lb);
done:
    llm_model_destroy(a);
    llm_model_destroy(b);
}

int main(void) {
    CHECK(mkdtemp(dir) != NULL);
    check_case("layer 1 of another type", "blk.1.", LLM_DTYPE_Q8_0, "decode.ffn_down.q8_0");
    check_case("one matrix of another type", "blk.1.ffn_down", LLM_DTYPE_Q4_0,
               "prefill.ffn_down.q4_0");
    check_case("v of another type: q|k and v", "blk.0.attn_v", LLM_DTYPE_Q8_0, "decode.qkv.q8_0");
    check_case("k of another type: q, k, v", "blk.1.attn_k", LLM_DTYPE_Q4_1, "prefill.qkv.q4_1");
    check_case("attn_output of another type", "blk.0.attn_output", LLM_DTYPE_Q8_0,
               "decode.attn_output.q8_0");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return tc_finish("ops.llama_mixed");
}
