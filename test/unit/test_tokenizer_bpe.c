/* Byte-level BPE on SmolLM2-135M-Instruct's vocabulary ($CLGRAPH_TEST_MODEL,
 * tokenizer.ggml.pre = smollm) against llama.cpp's ids
 * (test/data/tokenizer/smollm2.golden), then the same vocabulary under the
 * llama3, qwen2, gpt-2 and default pre-tokenizers (the GGUF rewritten with
 * another tokenizer.ggml.pre, as llama.cpp's --override-kv does), and the
 * time to tokenize about 10 kB of text (printed, not asserted). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clgraph/gguf.h"
#include "clgraph/tokenizer.h"
#include "clgraph/util.h"
#include "test_common.h"
#include "test_tokenizer_golden.h"

/* The model's metadata (no tensors) with tokenizer.ggml.pre = pre, reopened. */
static llm_tokenizer *with_pre(const llm_gguf *model, const char *pre) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/clgraph_test_tokenizer_bpe_%d.gguf", (int)getpid());
    llm_gguf_writer *w = NULL;
    llm_gguf *f = NULL;
    llm_tokenizer *t = NULL;
    CHECK_OK(llm_gguf_writer_create(&w));
    if (!w) return NULL;
    CHECK_OK(llm_gguf_writer_copy_kv(w, model));
    CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.pre", pre));
    CHECK_OK(llm_gguf_writer_write(w, path));
    llm_gguf_writer_destroy(w);
    CHECK_OK(llm_gguf_open(path, &f));
    unlink(path);
    if (f) CHECK_OK(llm_tokenizer_create(f, &t));
    llm_gguf_close(f);
    return t;
}

static void check_variant(const llm_gguf *model, const golden *g, const char *pre) {
    llm_tokenizer *t = with_pre(model, pre);
    if (!t) return;
    CHECK(!strcmp(llm_tokenizer_pre_name(t), pre));
    size_t n_ok = 0, n = 0;
    for (size_t i = 0; i < g->n; i++) {
        const golden_entry *e = &g->e[i];
        for (int k = 0; k < e->n_var; k++) {
            if (strcmp(e->var_pre[k], pre)) continue;
            int32_t *ids = NULL;
            size_t n_ids = 0;
            CHECK_OK(llm_tokenizer_encode(t, e->text, e->len,
                                          LLM_TOKENIZE_ADD_SPECIAL | LLM_TOKENIZE_PARSE_SPECIAL,
                                          &ids, &n_ids));
            int same = golden_same_ids(pre, e->text, ids, n_ids, &e->var[k]);
            CHECK(same);
            n_ok += same;
            n++;
            if (golden_valid_utf8((const unsigned char *)e->text, e->len)) {
                char *text = NULL;
                size_t len = 0;
                CHECK_OK(llm_tokenizer_decode(t, ids, n_ids, LLM_DETOKENIZE_TEXT, &text, &len));
                CHECK(text && len == e->len && !memcmp(text, e->text, len));
                free(text);
            }
            free(ids);
        }
    }
    CHECK(n == g->n);
    printf("pre-tokenizer %s: %zu/%zu entries give llama.cpp's ids\n", pre, n_ok, n);
    llm_tokenizer_destroy(t);
}

/* About 10 kB built from the corpus; prints the time per encode. */
static void time_encode(const llm_tokenizer *t, const golden *g) {
    char *text = malloc(16384);
    size_t len = 0;
    for (size_t i = 0; text && len < 10000; i = (i + 1) % g->n)
        if (g->e[i].len < 2000 && len + g->e[i].len < 16384) {
            memcpy(text + len, g->e[i].text, g->e[i].len);
            len += g->e[i].len;
        }
    if (!text) return;
    int32_t *ids = NULL;
    size_t n = 0;
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = clg_now_ns();
        CHECK_OK(llm_tokenizer_encode(t, text, len, LLM_TOKENIZE_PARSE_SPECIAL, &ids, &n));
        double dt = 1e-9 * (clg_now_ns() - t0);
        if (dt < best) best = dt;
        free(ids);
    }
    printf("encode of %zu bytes: %zu tokens in %.2f ms (best of 5)\n", len, n, best * 1e3);
    /* one 10 kB word: the merge loop must not be quadratic */
    memset(text, 'a', 10000);
    double t0 = clg_now_ns();
    CHECK_OK(llm_tokenizer_encode(t, text, 10000, 0, &ids, &n));
    printf("encode of a 10000-byte word: %zu tokens in %.2f ms\n", n, 1e-6 * (clg_now_ns() - t0));
    free(ids);
    free(text);
}

int main(void) {
    const char *path = getenv("CLGRAPH_TEST_MODEL");
    llm_gguf *model = NULL;
    llm_tokenizer *t = NULL;
    golden g;
    if (!path || access(path, R_OK)) {
        fprintf(stderr, "model not found: '%s' (CLGRAPH_TEST_MODEL); run scripts/fetch-model.sh\n",
                path ? path : "");
        CHECK(0);
        return tc_finish("tokenizer_bpe");
    }
    CHECK_OK(llm_gguf_open(path, &model));
    if (model) CHECK_OK(llm_tokenizer_create(model, &t));
    if (!t || !golden_load(tc_data("tokenizer/smollm2.golden"), &g)) {
        CHECK(0);
        llm_tokenizer_destroy(t);
        llm_gguf_close(model);
        return tc_finish("tokenizer_bpe");
    }
    CHECK(llm_tokenizer_get_type(t) == LLM_TOKENIZER_BPE);
    CHECK(!strcmp(llm_tokenizer_model_name(t), "gpt2"));
    CHECK(!strcmp(llm_tokenizer_pre_name(t), "smollm"));
    /* ChatML's end of turn (llama.cpp picks <|im_end|> or <|endoftext|>, by hash order) */
    CHECK(llm_tokenizer_eot(t) == llm_tokenizer_find(t, "<|im_end|>", 10));
    CHECK(llm_tokenizer_eot(t) == 2);
    size_t len = 0;
    const char *p = llm_tokenizer_token_piece(t, llm_tokenizer_find(t, "\xc4\xa0the", 5), &len);
    CHECK(p && len == 4 && !memcmp(p, " the", 4));
    p = llm_tokenizer_token_piece(t, 1, &len);
    CHECK(p && len == 12 && !memcmp(p, "<|im_start|>", 12));
    CHECK(llm_tokenizer_is_special(t, 1) && !llm_tokenizer_is_special(t, 17));

    golden_check(t, &g, "smollm2");
    const char *variants[] = {"llama3", "qwen2", "gpt-2", "default"};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++)
        check_variant(model, &g, variants[v]);
    time_encode(t, &g);

    golden_free(&g);
    llm_tokenizer_destroy(t);
    llm_gguf_close(model);
    return tc_finish("tokenizer_bpe");
}
