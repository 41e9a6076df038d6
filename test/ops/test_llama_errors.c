/* Bad model input gets a clear error on every device: unknown architecture, missing
 * tensor, wrong tensor shape, unsupported weight type, prompt longer than the context,
 * a KV cache larger than the device allows. A tiny random Llama written with the GGUF
 * writer stands in for a real model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "clgraph/llm.h"
#include "test_common.h"

enum { EMBD = 64, LAYERS = 2, HEADS = 4, KV = 2, FF = 128, VOCAB = 96 };

typedef struct variant {
    const char *arch;     /* general.architecture */
    const char *drop;     /* tensor left out */
    const char *reshape;  /* tensor written with a wrong shape */
    const char *q5;       /* tensor written as f16 instead of f32 (norm: unsupported) */
} variant;

static void add(llm_gguf_writer *w, const char *name, uint64_t ne0, uint64_t ne1, const variant *v) {
    if (v->drop && !strcmp(v->drop, name)) return;
    if (v->reshape && !strcmp(v->reshape, name)) ne1 += 1;
    uint64_t ne[2] = {ne0, ne1 ? ne1 : 1};
    size_t n = (size_t)(ne0 * (ne1 ? ne1 : 1));
    float *data = malloc(n * sizeof *data);
    tc_fill(data, n, -0.1f, 0.1f);
    if (v->q5 && !strcmp(v->q5, name)) {
        uint16_t *h = malloc(n * 2);
        CHECK_OK(llm_quantize(LLM_DTYPE_F16, data, h, n));
        CHECK_OK(llm_gguf_writer_add_tensor(w, name, LLM_DTYPE_F16, ne1 ? 2 : 1, ne, h));
        free(h);
    } else {
        CHECK_OK(llm_gguf_writer_add_tensor(w, name, LLM_DTYPE_F32, ne1 ? 2 : 1, ne, data));
    }
    free(data);
}

static void write_model(const char *path, const variant *v) {
    llm_gguf_writer *w;
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "general.architecture", v->arch ? v->arch : "llama"));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.embedding_length", EMBD));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.block_count", LAYERS));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.attention.head_count", HEADS));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.attention.head_count_kv", KV));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.feed_forward_length", FF));
    CHECK_OK(llm_gguf_writer_add_u32(w, "llama.context_length", 128));
    CHECK_OK(llm_gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f));
    const int hd = EMBD / HEADS;
    add(w, "token_embd.weight", EMBD, VOCAB, v);
    add(w, "output_norm.weight", EMBD, 0, v);
    for (int i = 0; i < LAYERS; i++) {
        char n[64];
#define L(suffix, a, b) snprintf(n, sizeof n, "blk.%d." suffix ".weight", i), add(w, n, a, b, v)
        L("attn_norm", EMBD, 0);
        L("attn_q", EMBD, HEADS * hd);
        L("attn_k", EMBD, KV * hd);
        L("attn_v", EMBD, KV * hd);
        L("attn_output", HEADS * hd, EMBD);
        L("ffn_norm", EMBD, 0);
        L("ffn_gate", EMBD, FF);
        L("ffn_up", EMBD, FF);
        L("ffn_down", FF, EMBD);
#undef L
    }
    CHECK_OK(llm_gguf_writer_write(w, path));
    llm_gguf_writer_destroy(w);
}

/* Loads a model made with variant v; returns the status, the message in *msg. */
static clg_status try_load(const char *dir, const variant *v, int n_ctx, llm_model **keep) {
    char path[512];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    write_model(path, v);
    llm_model_options o = llm_model_options_default();
    o.n_ctx = n_ctx;
    o.cache_dir = "";
    llm_model *m = NULL;
    clg_status st = llm_model_load(path, &o, &m);
    printf("  -> %s: %.300s\n", clg_status_str(st), st ? clg_last_error() : "loaded");
    if (keep) *keep = m;
    else llm_model_destroy(m);
    return st;
}

int main(void) {
    tc_seed(11);
    char dir[] = "/tmp/clgraph-llm-errors-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);

    variant ok = {0};
    llm_model *m = NULL;
    CHECK(try_load(dir, &ok, 32, &m) == CLG_OK);
    if (m) {
        int32_t toks[40];
        for (int i = 0; i < 40; i++) toks[i] = (i * 7) % VOCAB;
        float *logits = malloc(VOCAB * sizeof(float));
        CHECK_OK(llm_model_eval(m, toks, 5, 0, logits));
        /* prompt longer than the context: clear error naming both */
        CHECK(llm_model_eval(m, toks, 40, 0, logits) == CLG_ERR_INVALID_ARG);
        CHECK(strstr(clg_last_error(), "40") && strstr(clg_last_error(), "32"));
        CHECK(llm_model_eval(m, toks, 5, 30, logits) == CLG_ERR_INVALID_ARG);
        toks[0] = VOCAB;
        CHECK(llm_model_eval(m, toks, 1, 0, logits) == CLG_ERR_INVALID_ARG);
        CHECK(strstr(clg_last_error(), "vocabulary") != NULL);
        free(logits);
        llm_model_destroy(m);
    }

    variant arch = {.arch = "gpt2"};
    CHECK(try_load(dir, &arch, 32, NULL) == CLG_ERR_UNSUPPORTED);
    CHECK(strstr(clg_last_error(), "gpt2") != NULL);

    variant drop = {.drop = "blk.1.ffn_up.weight"};
    CHECK(try_load(dir, &drop, 32, NULL) == CLG_ERR_FORMAT);
    CHECK(strstr(clg_last_error(), "blk.1.ffn_up.weight") != NULL);

    variant shape = {.reshape = "blk.0.attn_k.weight"};
    CHECK(try_load(dir, &shape, 32, NULL) == CLG_ERR_FORMAT);
    CHECK(strstr(clg_last_error(), "blk.0.attn_k.weight") && strstr(clg_last_error(), "expected"));

    variant type = {.q5 = "blk.0.ffn_norm.weight"};
    CHECK(try_load(dir, &type, 32, NULL) == CLG_ERR_UNSUPPORTED);
    CHECK(strstr(clg_last_error(), "blk.0.ffn_norm.weight") != NULL);

    /* A KV cache above the device's largest allocation: the buffer and both sizes named. */
    clg_device_info dev;
    CHECK_OK(clg_device_select(NULL, &dev));
    int huge = (int)(dev.max_alloc_size / (KV * (EMBD / HEADS) * 4) + 1024);
    CHECK(try_load(dir, &ok, huge, NULL) == CLG_ERR_OUT_OF_MEMORY);
    CHECK(strstr(clg_last_error(), "k_cache") != NULL);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return tc_finish("llama_errors");
}
