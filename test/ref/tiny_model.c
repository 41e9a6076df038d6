/* A tiny random Llama GGUF for engine tests (see tiny_model.h). */
#include "ref/tiny_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "test_common.h"

static void add(llm_gguf_writer *w, const char *name, uint64_t ne0, uint64_t ne1,
                const tiny_variant *v) {
    if (v->drop && !strcmp(v->drop, name)) return;
    if (v->reshape && !strcmp(v->reshape, name)) ne1 += 1;
    uint64_t ne[2] = {ne0, ne1 ? ne1 : 1};
    size_t n = (size_t)(ne0 * (ne1 ? ne1 : 1));
    float *data = malloc(n * sizeof *data);
    tc_fill(data, n, -0.1f, 0.1f);
    if (v->scale && !strcmp(v->scale, name))
        for (size_t i = 0; i < n; i++)
            data[i] *= v->scale_by;
    if (v->poke && !strcmp(v->poke, name)) data[v->poke_index] = v->poke_value;
    if (v->retype && ne1 && !strncmp(v->retype, name, strlen(v->retype))) {
        void *q = malloc(llm_dtype_row_bytes(v->retype_dtype, ne0) * ne1);
        CHECK_OK(llm_quantize(v->retype_dtype, data, q, n));
        if (v->roundtrip) {
            CHECK_OK(llm_dequantize(v->retype_dtype, q, data, n));
            CHECK_OK(llm_gguf_writer_add_tensor(w, name, LLM_DTYPE_F32, 2, ne, data));
        } else {
            CHECK_OK(llm_gguf_writer_add_tensor(w, name, v->retype_dtype, 2, ne, q));
        }
        free(q);
    } else if (v->as_f16 && !strcmp(v->as_f16, name)) {
        uint16_t *h = malloc(n * 2);
        CHECK_OK(llm_quantize(LLM_DTYPE_F16, data, h, n));
        CHECK_OK(llm_gguf_writer_add_tensor(w, name, LLM_DTYPE_F16, ne1 ? 2 : 1, ne, h));
        free(h);
    } else {
        CHECK_OK(llm_gguf_writer_add_tensor(w, name, LLM_DTYPE_F32, ne1 ? 2 : 1, ne, data));
    }
    free(data);
}

int tiny_model_write(const char *path, const tiny_variant *v) {
    static const tiny_variant plain;
    if (!v) v = &plain;
    int before = tc_failures;
    llm_gguf_writer *w;
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "general.architecture", v->arch ? v->arch : "llama"));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.embedding_length", TINY_EMBD));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.block_count",
                                     v->block_count ? (uint32_t)v->block_count : TINY_LAYERS));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.attention.head_count", TINY_HEADS));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.attention.head_count_kv", TINY_KV));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.feed_forward_length",
                                     v->feed_forward ? (uint32_t)v->feed_forward : TINY_FF));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.context_length", 128));
    CHECK_OK(llm_gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f));
    if (v->rope_scaling) {
        CHECK_OK(llm_gguf_writer_add_str(w, "llama.rope.scaling.type", v->rope_scaling));
        CHECK_OK(llm_gguf_writer_add_f32(w, "llama.rope.scaling.factor", 2.0f));
    }
    if (v->f32_key) CHECK_OK(llm_gguf_writer_add_f32(w, v->f32_key, v->f32_value));
    if (v->vocab_tokens) {
        char(*text)[8] = calloc((size_t)v->vocab_tokens, sizeof *text);
        const char **strs = calloc((size_t)v->vocab_tokens, sizeof *strs);
        uint64_t *lens = calloc((size_t)v->vocab_tokens, sizeof *lens);
        for (int i = 0; i < v->vocab_tokens; i++) {
            lens[i] = (uint64_t)snprintf(text[i], sizeof text[i], "t%d", i);
            strs[i] = text[i];
        }
        CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"));
        CHECK_OK(llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", strs, lens,
                                               (uint64_t)v->vocab_tokens));
        free(text);
        free(strs);
        free(lens);
    }
    const int hd = TINY_EMBD / TINY_HEADS;
    add(w, "token_embd.weight", TINY_EMBD, TINY_VOCAB, v);
    add(w, "output_norm.weight", TINY_EMBD, 0, v);
    if (v->rope_freqs) {
        uint64_t n = (uint64_t)(TINY_EMBD / TINY_HEADS / 2) + (v->rope_freqs == 3);
        float f[64];
        for (uint64_t i = 0; i < n; i++)
            f[i] = v->rope_freqs == 2 ? tc_randf(1.0f, 8.0f) : 1.0f;
        if (v->poke && !strcmp(v->poke, "rope_freqs.weight")) f[v->poke_index] = v->poke_value;
        CHECK_OK(llm_gguf_writer_add_tensor(w, "rope_freqs.weight", LLM_DTYPE_F32, 1, &n, f));
    }
    for (int i = 0; i < (v->n_layers ? v->n_layers : TINY_LAYERS); i++) {
        char n[64];
#define L(suffix, a, b) snprintf(n, sizeof n, "blk.%d." suffix ".weight", i), add(w, n, a, b, v)
        L("attn_norm", TINY_EMBD, 0);
        L("attn_q", TINY_EMBD, TINY_HEADS * hd);
        L("attn_k", TINY_EMBD, TINY_KV * hd);
        L("attn_v", TINY_EMBD, TINY_KV * hd);
        L("attn_output", TINY_HEADS * hd, TINY_EMBD);
        L("ffn_norm", TINY_EMBD, 0);
        L("ffn_gate", TINY_EMBD, TINY_FF);
        L("ffn_up", TINY_EMBD, TINY_FF);
        L("ffn_down", TINY_FF, TINY_EMBD);
#undef L
    }
    CHECK_OK(llm_gguf_writer_write(w, path));
    llm_gguf_writer_destroy(w);
    return tc_failures != before;
}
