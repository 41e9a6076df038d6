/* Bad model input gets a clear error on every device: unknown architecture, missing
 * tensor, wrong tensor shape, unsupported weight type, prompt longer than the context,
 * a KV cache larger than the device allows. A tiny random Llama written with the GGUF
 * writer stands in for a real model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "clgraph/llm.h"
#include "ref/tiny_model.h"
#include "test_common.h"

enum { EMBD = TINY_EMBD, HEADS = TINY_HEADS, KV = TINY_KV, VOCAB = TINY_VOCAB };
typedef tiny_variant variant;

/* Loads a model made with variant v; returns the status, the message in *msg. */
static clg_status try_load(const char *dir, const variant *v, int n_ctx, llm_model **keep) {
    char path[512];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    CHECK(tiny_model_write(path, v) == 0);
    llm_model_options o = tc_model_options();
    o.n_ctx = n_ctx;
    o.cache_dir = "";
    llm_model *m = NULL;
    clg_status st = llm_model_load(path, &o, &m);
    printf("  -> %s: %.300s\n", clg_status_str(st), st ? clg_last_error() : "loaded");
    if (keep)
        *keep = m;
    else
        llm_model_destroy(m);
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
        for (int i = 0; i < 40; i++)
            toks[i] = (i * 7) % VOCAB;
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

    variant type = {.as_f16 = "blk.0.ffn_norm.weight"};
    CHECK(try_load(dir, &type, 32, NULL) == CLG_ERR_UNSUPPORTED);
    CHECK(strstr(clg_last_error(), "blk.0.ffn_norm.weight") != NULL);

    /* Llama 3.1 rope_freqs.weight: all ones changes nothing, other divisors change the
     * logits (the kernel's arithmetic is checked in ops.rope), a wrong length is refused. */
    float base[VOCAB], ones[VOCAB], other[VOCAB];
    int32_t toks[6] = {1, 5, 9, 13, 17, 21};
    variant rf_none = {0}, rf_ones = {.rope_freqs = 1}, rf_rand = {.rope_freqs = 2},
            rf_bad = {.rope_freqs = 3};
    llm_model *mm = NULL;
    float *outs[3] = {base, ones, other};
    const variant *vs[3] = {&rf_none, &rf_ones, &rf_rand};
    for (int k = 0; k < 3; k++) {
        tc_seed(99); /* the same weights each time */
        CHECK(try_load(dir, vs[k], 32, &mm) == CLG_OK);
        if (mm) CHECK_OK(llm_model_eval(mm, toks, 6, 0, outs[k]));
        llm_model_destroy(mm);
    }
    CHECK(memcmp(base, ones, sizeof base) == 0);
    float dmax = 0;
    for (int i = 0; i < VOCAB; i++)
        dmax = fabsf(other[i] - base[i]) > dmax ? fabsf(other[i] - base[i]) : dmax;
    printf("  rope_freqs in [1, 8] move the logits by up to %g\n", dmax);
    CHECK(dmax > 1e-4f);
    CHECK(try_load(dir, &rf_bad, 32, NULL) == CLG_ERR_FORMAT);
    CHECK(strstr(clg_last_error(), "rope_freqs.weight") != NULL);

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
