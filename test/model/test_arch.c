/* One architecture against llama.cpp (test/data/model/arch/, test/model/gen_arch_golden.py):
 *   test_arch MODEL.gguf GOLDEN [float|q8|perturb]
 * MODEL is the tiny synthetic model `clgraph synth --arch ARCH --shape tiny --type TYPE --seed 1`
 * writes (a CTest fixture makes it); its SHA-256 must equal the golden header's. On
 * $CLGRAPH_DEVICE the model is loaded with float activations (LLM_ACT_F32) and, for q8_0 / q4_0
 * / q4_1 weights, with 8-bit activations (LLM_ACT_Q8), or only in the named mode; in each mode
 * the 64 golden tokens are evaluated
 *   (a) one token per llm_model_eval call, every position's logits compared, and
 *   (b) 16 tokens per call, each batch's last-position logits compared,
 * with llama.cpp's logits of every position (f32 KV cache, no flash attention).
 * "perturb" proves the comparison can fail: float activations on a copy of an f32 MODEL whose
 * last weight (output_norm.weight's last entry) is multiplied by 1.5, without the SHA-256 check;
 * the test must then fail ("CHECK failed: worst <= tol", model.arch.perturbed.*).
 *
 * Tolerance, max |logit - llama.cpp| <= FLOAT_REL * rms + CPP_FACTOR * cpp_error, where rms is
 * the root mean square of the golden logits (~1 for the tiny models of gemma3 / qwen2 / qwen3 /
 * phi3, 0.23 for llama's) and cpp_error what llama.cpp's own roundings move its logits by, the
 * larger of the golden file's exact_diff (max |llama.cpp - float64 reference|,
 * test/model/ref_arch.py) and act_effect (max |llama.cpp on the file - llama.cpp on the same
 * weights dequantized to f32|); measured values in test/data/model/arch/README.md:
 *   - f32 weights: llama.cpp is float32 arithmetic, 2.5e-7 .. 5.9e-6 from the reference, except
 *     gemma3's 2.2e-3 (ggml's GELU reads an f16 table); the engine's float32 sums in other
 *     orders differ from llama.cpp by ~5e-7 (llama). FLOAT_REL = 1e-3 is far above that and far
 *     below what a wrong rope base, window, pattern or norm shows (0.06 .. 5, README.md);
 *   - q8_0 weights: llama.cpp quantizes the matmul activations to q8_0 blocks (0.008 .. 0.13):
 *     float activations differ from it by that much (CPP_FACTOR = 1.5 leaves a margin); the
 *     engine's own 8-bit activations round other blocks the other way, each side about
 *     cpp_error from the exact result, so up to twice that apart (llama: 0.0102 for 0.0081):
 *     CPP_FACTOR_Q8 = 2.5 for them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "ref/sha256.h"
#include "test_common.h"

#define FLOAT_REL 1e-3f
#define CPP_FACTOR 1.5f
#define CPP_FACTOR_Q8 2.5f
#define BATCH 16

/* A golden file (format in test/data/model/arch/README.md). */
typedef struct arch_golden {
    uint32_t n_vocab, n_tokens;
    float rms, act_effect, kv_effect, exact_diff;
    char arch[17], type[17], sha256[65], version[33];
    int32_t *tokens; /* [n_tokens] */
    float *logits;   /* [n_tokens, n_vocab] */
} arch_golden;

static void golden_free(arch_golden *g) {
    free(g->tokens);
    free(g->logits);
}

static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float rd_f32(const unsigned char *p) {
    uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Reads path into g; 0 with a message on stderr when the file is missing or malformed. */
static int golden_load(const char *path, arch_golden *g) {
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    unsigned char h[256];
    if (!f || fread(h, 1, sizeof h, f) != sizeof h || memcmp(h, "CLGGOLDA", 8) ||
        rd_u32(h + 8) != 1 || rd_u32(h + 12) != 256 || rd_u32(h + 24) != 0) {
        fprintf(stderr, "%s: missing, or not a version 1 CLGGOLDA file with f32 logits\n", path);
        if (f) fclose(f);
        return 0;
    }
    g->n_vocab = rd_u32(h + 16), g->n_tokens = rd_u32(h + 20);
    g->rms = rd_f32(h + 28), g->act_effect = rd_f32(h + 32), g->kv_effect = rd_f32(h + 36);
    g->exact_diff = rd_f32(h + 40);
    memcpy(g->arch, h + 48, 16), memcpy(g->type, h + 64, 16), memcpy(g->sha256, h + 80, 64);
    memcpy(g->version, h + 144, 32);
    size_t nl = (size_t)g->n_tokens * g->n_vocab;
    int ok = g->n_tokens > 0 && g->n_tokens <= 4096 && g->n_vocab > 0 && g->n_vocab <= 1u << 20;
    if (ok) {
        g->tokens = malloc(g->n_tokens * sizeof *g->tokens);
        g->logits = malloc(nl * sizeof *g->logits);
        ok = g->tokens && g->logits &&
             fread(g->tokens, sizeof *g->tokens, g->n_tokens, f) == g->n_tokens &&
             fread(g->logits, sizeof *g->logits, nl, f) == nl && fgetc(f) == EOF;
    }
    fclose(f);
    if (!ok) {
        fprintf(stderr, "%s: truncated or malformed\n", path);
        golden_free(g);
    }
    return ok;
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float d = 0;
    for (size_t i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
    }
    return d;
}

/* Evaluates the golden prompt in one activation mode; returns the largest difference seen. */
static float run_mode(const char *model, const arch_golden *g, int act, float tol) {
    llm_model_options o = tc_model_options();
    o.n_ctx = 128;
    o.n_batch = BATCH;
    o.act = act;
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(model, &o, &m));
    if (!m) return INFINITY;
    const llm_hparams *hp = llm_model_hparams(m);
    const int nv = (int)g->n_vocab, nt = (int)g->n_tokens;
    float worst = 0;
    CHECK(hp->n_vocab == nv);
    CHECK(hp->act_q8 == (act == LLM_ACT_Q8));
    float *logits = malloc((size_t)nv * sizeof *logits);
    CHECK(logits != NULL);
    if (hp->n_vocab != nv || !logits) goto done;
    printf("  %s activations on %s (sliding window %d):\n", act == LLM_ACT_Q8 ? "8-bit" : "float",
           clg_context_device(llm_model_context(m))->device_name, hp->sliding_window);

    /* (a) one token per call: every position. Positions below and from 8 apart, so that a
     * sliding-window error (window 8 in the gemma3 model) stands out. */
    float d_lo = 0, d_hi = 0;
    int worst_pos = 0;
    for (int p = 0; p < nt; p++) {
        clg_status st = llm_model_eval(m, &g->tokens[p], 1, p, logits);
        CHECK_OK(st);
        if (st != CLG_OK) goto done;
        float d = max_abs_diff(logits, g->logits + (size_t)p * nv, (size_t)nv);
        if (!(d <= (p < 8 ? d_lo : d_hi))) *(p < 8 ? &d_lo : &d_hi) = d;
        if (!(d <= worst)) worst = d, worst_pos = p;
    }
    printf("    token by token: max |logit - llama.cpp| = %.3g (positions 0-7 %.3g, 8-%d %.3g; "
           "worst at %d), %.2g of tolerance\n",
           worst, d_lo, nt - 1, d_hi, worst_pos, worst / tol);
    CHECK(worst <= tol);

    /* (b) batches of BATCH tokens: the last position of each. */
    float d_batch = 0;
    for (int p = 0; p < nt; p += BATCH) {
        int n = nt - p < BATCH ? nt - p : BATCH;
        clg_status st = llm_model_eval(m, &g->tokens[p], n, p, logits);
        CHECK_OK(st);
        if (st != CLG_OK) goto done;
        float d = max_abs_diff(logits, g->logits + (size_t)(p + n - 1) * nv, (size_t)nv);
        if (!(d <= d_batch)) d_batch = d;
    }
    printf("    %d tokens per call: max |last logit - llama.cpp| = %.3g, %.2g of tolerance\n",
           BATCH, d_batch, d_batch / tol);
    CHECK(d_batch <= tol);
    if (!(d_batch <= worst)) worst = d_batch;
done:
    free(logits);
    llm_model_destroy(m);
    return worst;
}

/* Copies src to dst with the last f32 of the file (the last tensor's last entry) times 1.5. */
static int write_perturbed(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int ok = in && out;
    long size = 0;
    unsigned char *buf = NULL;
    if (ok) {
        fseek(in, 0, SEEK_END);
        size = ftell(in);
        fseek(in, 0, SEEK_SET);
        buf = size >= 4 ? malloc((size_t)size) : NULL;
        ok = buf && fread(buf, 1, (size_t)size, in) == (size_t)size;
    }
    if (ok) {
        float x;
        memcpy(&x, buf + size - 4, 4);
        printf("  perturbed copy %s: last weight %g -> %g\n", dst, x, 1.5f * x);
        ok = x != 0;
        x *= 1.5f;
        memcpy(buf + size - 4, &x, 4);
        ok = ok && fwrite(buf, 1, (size_t)size, out) == (size_t)size;
    }
    free(buf);
    if (in) fclose(in);
    if (out && fclose(out)) ok = 0;
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 3 || (argc > 3 && strcmp(argv[3], "float") && strcmp(argv[3], "q8") &&
                     strcmp(argv[3], "perturb"))) {
        fprintf(stderr, "usage: test_arch MODEL.gguf GOLDEN [float|q8|perturb]\n");
        return 2;
    }
    const int perturb = argc > 3 && !strcmp(argv[3], "perturb");
    arch_golden g;
    CHECK(golden_load(argv[2], &g));
    if (tc_failures) return tc_finish("arch");

    if (perturb) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s.perturbed.gguf", argv[1]);
        CHECK(!strcmp(g.type, "f32") && write_perturbed(argv[1], copy));
        if (!tc_failures) run_mode(copy, &g, LLM_ACT_F32, FLOAT_REL * g.rms);
        remove(copy);
        golden_free(&g);
        return tc_finish("arch");
    }

    /* The golden data must have been made from this very file. */
    char sha[65] = "";
    CHECK_OK(tg_sha256_file(argv[1], sha));
    int same = strcmp(sha, g.sha256) == 0;
    printf("model %s\n  sha256 %s\n  golden %s (%s %s, %s): %s\n", argv[1], sha, argv[2], g.arch,
           g.type, g.version,
           same ? "the same model" : "DIFFERENT, wrong golden file for this model");
    CHECK(same);
    if (!same) {
        golden_free(&g);
        return tc_finish("arch");
    }
    float cpp_error = g.exact_diff > g.act_effect ? g.exact_diff : g.act_effect;
    float tol = FLOAT_REL * g.rms + CPP_FACTOR * cpp_error;
    printf("  %u tokens, vocabulary %u; llama.cpp logits rms %.3g, vs float64 reference %.3g, "
           "activation rounding effect %.3g\n  tolerance %.3g (%.0e x rms + %.1f x %.3g)\n",
           g.n_tokens, g.n_vocab, g.rms, g.exact_diff, g.act_effect, tol, FLOAT_REL, CPP_FACTOR,
           cpp_error);
    int q8_ok = !strcmp(g.type, "q8_0") || !strcmp(g.type, "q4_0") || !strcmp(g.type, "q4_1");
    int want_float = argc <= 3 || !strcmp(argv[3], "float");
    int want_q8 = argc <= 3 ? q8_ok : !strcmp(argv[3], "q8");
    if (want_q8 && !q8_ok) {
        fprintf(stderr, "8-bit activations need q8_0 / q4_0 / q4_1 weights, not %s\n", g.type);
        CHECK(q8_ok);
    }
    if (want_float) run_mode(argv[1], &g, LLM_ACT_F32, tol);
    if (want_q8 && q8_ok) {
        float tol_q8 = FLOAT_REL * g.rms + CPP_FACTOR_Q8 * cpp_error;
        printf("  8-bit activations: tolerance %.3g (%.0e x rms + %.1f x %.3g)\n", tol_q8,
               FLOAT_REL, CPP_FACTOR_Q8, cpp_error);
        run_mode(argv[1], &g, LLM_ACT_Q8, tol_q8);
    }
    golden_free(&g);
    return tc_finish("arch");
}
