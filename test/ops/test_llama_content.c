/* Models consistent in form but not in content are refused at load, each with a message
 * naming what is wrong, on every device: a block count
 * that is not the blk.N tensors', a tokenizer that is not the embedding's rows, non-positive
 * or non-finite hyper-parameters, bad rope_freqs, NaN/Inf weights; a model whose logits
 * overflow stops generation with an error (both llm_model_eval and the greedy head); a
 * context that cannot fit the device is refused before anything is allocated, with the
 * --ctx that fits; tuning at n_ctx 1, 2 and 3 (run under ASan in the sanitizer build). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "clgraph/llm.h"
#include "ref/tiny_model.h"
#include "test_common.h"

typedef tiny_variant variant;
static char dir[] = "/tmp/clgraph-llm-content-XXXXXX";

/* Loads a model written from v; returns the status (the message in clg_last_error()). */
static clg_status load(const variant *v, int n_ctx, int kv_f16, int tune, llm_model **keep) {
    char path[512];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    CHECK(tiny_model_write(path, v) == 0);
    llm_model_options o = tc_model_options();
    o.n_ctx = n_ctx;
    o.kv_f16 = kv_f16;
    o.tune = tune;
    o.cache_dir = dir;
    llm_model *m = NULL;
    clg_status st = llm_model_load(path, &o, &m);
    printf("  -> %s: %.400s\n", clg_status_str(st), st ? clg_last_error() : "loaded");
    if (keep)
        *keep = m;
    else
        llm_model_destroy(m);
    return st;
}

/* The load fails with status want and a message holding every one of the NULL-terminated
 * words. */
static void refused(const char *what, const variant *v, clg_status want, ...) {
    printf("%s\n", what);
    clg_status st = load(v, 32, 0, 0, NULL);
    CHECK(st == want);
    if (st != want)
        fprintf(stderr, "%s: got %s, want %s\n", what, clg_status_str(st), clg_status_str(want));
    va_list ap;
    va_start(ap, want);
    for (const char *w; (w = va_arg(ap, const char *));) {
        CHECK(strstr(clg_last_error(), w) != NULL);
        if (!strstr(clg_last_error(), w)) fprintf(stderr, "%s: '%s' not in the message\n", what, w);
    }
    va_end(ap);
}

int main(void) {
    tc_seed(21);
    CHECK(mkdtemp(dir) != NULL);
    const variant plain = {0};
    CHECK(load(&plain, 32, 0, 0, NULL) == CLG_OK);

    /* llama.block_count against the blk.N tensors present. */
    variant fewer = {.block_count = 1};
    refused("block_count 1 of 2", &fewer, CLG_ERR_FORMAT, "block_count = 1", "2 layers", NULL);
    variant extra = {.n_layers = 3};
    refused("blk.2 beyond block_count 2", &extra, CLG_ERR_FORMAT, "block_count = 2", "3 layers",
            "blk.2", NULL);
    variant more = {.block_count = 3};
    refused("block_count 3 of 2", &more, CLG_ERR_FORMAT, "block_count = 3", "2 layers", NULL);

    /* tokenizer.ggml.tokens against token_embd's rows. */
    variant vocab_ok = {.vocab_tokens = TINY_VOCAB};
    CHECK(load(&vocab_ok, 32, 0, 0, NULL) == CLG_OK);
    variant vocab_less = {.vocab_tokens = TINY_VOCAB - 1};
    refused("tokenizer one short", &vocab_less, CLG_ERR_FORMAT, "tokenizer.ggml.tokens", "95", "96",
            NULL);
    variant vocab_more = {.vocab_tokens = TINY_VOCAB + 1};
    refused("tokenizer one long", &vocab_more, CLG_ERR_FORMAT, "97", "96", NULL);

    /* Hyper-parameters: positive and finite, the key and value named. */
    static const struct {
        const char *key, *scaling, *value_text;
        float value;
    } hp[] = {
        {"llama.attention.layer_norm_rms_epsilon", NULL, "= 0", 0.0f},
        {"llama.attention.layer_norm_rms_epsilon", NULL, "= -1e-05", -1e-5f},
        {"llama.attention.layer_norm_rms_epsilon", NULL, "nan", NAN},
        {"llama.rope.freq_base", NULL, "inf", INFINITY},
        {"llama.rope.freq_base", NULL, "= 0", 0.0f},
        {"llama.rope.scaling.factor", "linear", "= 0", 0.0f},
        {"llama.rope.scaling.factor", "linear", "= -2", -2.0f},
        {"llama.rope.scaling.factor", "linear", "nan", NAN},
        {"llama.rope.scaling.factor", "linear", "e-45", 1e-45f},
    };
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        variant v = {.f32_key = hp[i].key, .f32_value = hp[i].value, .rope_scaling = hp[i].scaling};
        char what[128];
        snprintf(what, sizeof what, "%s %g", hp[i].key, (double)hp[i].value);
        refused(what, &v, CLG_ERR_FORMAT, hp[i].key, hp[i].value_text, NULL);
    }
    variant linear = {.rope_scaling = "linear"};
    CHECK(load(&linear, 32, 0, 0, NULL) == CLG_OK);
    variant yarn = {.rope_scaling = "yarn"};
    refused("rope scaling yarn", &yarn, CLG_ERR_UNSUPPORTED, "'yarn'", "none and linear", NULL);
    variant ff = {.feed_forward = 96};
    refused("feed_forward_length 96 of 128", &ff, CLG_ERR_FORMAT, "feed_forward_length = 96",
            "blk.0.ffn_gate.weight", "[64, 128]", NULL);

    /* rope_freqs.weight: positive and finite, the index named. */
    static const float bad_freq[] = {0.0f, -1.0f, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        variant v = {.rope_freqs = 1,
                     .poke = "rope_freqs.weight",
                     .poke_index = 3,
                     .poke_value = bad_freq[i]};
        refused("rope_freqs", &v, CLG_ERR_FORMAT, "rope_freqs.weight[3]", NULL);
    }

    /* NaN / Inf weights: norms, matrices (f32, f16) and a quantized block's scale. */
    variant nan_norm = {.poke = "blk.1.ffn_norm.weight", .poke_index = 5, .poke_value = NAN};
    refused("NaN in a norm", &nan_norm, CLG_ERR_FORMAT, "blk.1.ffn_norm.weight", "element 5", NULL);
    variant inf_out = {.poke = "output_norm.weight", .poke_index = 63, .poke_value = -INFINITY};
    refused("-Inf in output_norm", &inf_out, CLG_ERR_FORMAT, "output_norm.weight", "element 63",
            NULL);
    variant inf_k = {.poke = "blk.0.attn_k.weight", .poke_index = 70, .poke_value = INFINITY};
    refused("Inf in attn_k", &inf_k, CLG_ERR_FORMAT, "blk.0.attn_k.weight", "element 70", NULL);
    variant nan_f16 = {.as_f16 = "token_embd.weight",
                       .poke = "token_embd.weight",
                       .poke_index = 9,
                       .poke_value = NAN};
    refused("NaN in an f16 embedding", &nan_f16, CLG_ERR_FORMAT, "token_embd.weight", "f16",
            "element 9", NULL);
    variant inf_q8 = {.retype = "blk.",
                      .retype_dtype = LLM_DTYPE_Q8_0,
                      .poke = "blk.1.ffn_up.weight",
                      .poke_index = 40,
                      .poke_value = INFINITY};
    refused("Inf scale in q8_0", &inf_q8, CLG_ERR_FORMAT, "blk.1.ffn_up.weight", "q8_0",
            "element 32", NULL);

    /* Finite weights whose products overflow: attention scores of 1e60 give NaN logits.
     * Both evaluations stop with an error naming the step instead of sampling them. */
    variant overflow = {.scale = "blk.0.attn_norm.weight", .scale_by = 1e30f};
    llm_model *m = NULL;
    CHECK(load(&overflow, 32, 0, 0, &m) == CLG_OK);
    if (m) {
        int32_t toks[4] = {1, 2, 3, 4}, tok = 7;
        float logits[TINY_VOCAB];
        CHECK(llm_model_eval(m, toks, 4, 0, logits) == CLG_ERR_FORMAT);
        printf("  eval: %s\n", clg_last_error());
        CHECK(strstr(clg_last_error(), "position 3") && strstr(clg_last_error(), "NaN"));
        CHECK(llm_model_eval(m, toks, 1, 4, logits) == CLG_ERR_FORMAT);
        CHECK(strstr(clg_last_error(), "position 4") != NULL);
        CHECK(llm_model_eval_greedy(m, toks, 1, 5, &tok) == CLG_ERR_FORMAT);
        printf("  greedy: %s\n", clg_last_error());
        CHECK(strstr(clg_last_error(), "position 5") && strstr(clg_last_error(), "greedy"));
        CHECK(tok == 7);                                                     /* nothing chosen */
        CHECK(llm_model_eval_greedy(m, toks, 3, 6, &tok) == CLG_ERR_FORMAT); /* prefill */
        CHECK(strstr(clg_last_error(), "position 8") != NULL);
        const int32_t bpos[2] = {9, 10}, bseq[2] = {0, 0};
        int32_t ids[2] = {7, 7};
        CHECK(llm_model_eval_batch_greedy(m, toks, bpos, bseq, 2, NULL, ids) == CLG_ERR_FORMAT);
        printf("  batch greedy: %s\n", clg_last_error());
        CHECK(strstr(clg_last_error(), "token 1 (sequence 0, position 10)") &&
              strstr(clg_last_error(), "greedy"));
        CHECK(ids[0] == 7); /* nothing written */
        llm_model_destroy(m);
    }

    /* A context that cannot fit: refused before allocating, both sizes and the --ctx that
     * fits named (2^30 positions of 2 layers x 2 KV heads x 16 x 4 bytes x K and V: 512 GiB). */
    printf("context of 2^30\n");
    CHECK(load(&plain, 1 << 30, 0, 0, NULL) == CLG_ERR_OUT_OF_MEMORY);
    unsigned long long fit32 = 0, fit16 = 0;
    const char *p = strstr(clg_last_error(), ": --ctx ");
    CHECK(p && sscanf(p, ": --ctx %llu fits, or --ctx %llu with --kv-f16", &fit32, &fit16) == 2);
    CHECK(strstr(clg_last_error(), "524288.0 MiB") && strstr(clg_last_error(), "MiB of"));
    printf("  fits: %llu, %llu with f16\n", fit32, fit16);
    CHECK(fit32 > 0 && fit32 < (1u << 30) && fit16 >= fit32 && fit16 <= 2 * fit32 + 1);
    CHECK(load(&plain, 1 << 30, 1, 0, NULL) == CLG_ERR_OUT_OF_MEMORY);
    CHECK(strstr(clg_last_error(), "(KV in f16)") && strstr(clg_last_error(), "in f16 262144.0"));

    /* Tuning at the smallest contexts (a decode step at position 0 or 1, no prefill batch). */
    for (int n_ctx = 1; n_ctx <= 3; n_ctx++) {
        printf("tune at n_ctx %d\n", n_ctx);
        m = NULL;
        CHECK(load(&plain, n_ctx, 0, 2, &m) == CLG_OK);
        int32_t tok = 5, out = -1;
        if (m) CHECK_OK(llm_model_eval_greedy(m, &tok, 1, n_ctx - 1, &out));
        CHECK(out >= 0 && out < TINY_VOCAB);
        llm_model_destroy(m);
    }

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return tc_finish("llama_content");
}
