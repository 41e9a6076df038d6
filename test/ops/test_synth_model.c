/* Synthetic models on $CLGRAPH_DEVICE: the tiny shape (tied, rope scaling; and an untied copy
 * with an output.weight added) loads with llm_model_load, evaluates a prompt and decode steps to
 * finite, non-constant logits, and llm_model_weight_bytes_per_token counts every tensor once, the
 * untied token embedding as one row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clgraph/gguf.h"
#include "clgraph/llm.h"
#include "clgraph/synth.h"
#include "test_common.h"

/* Copies the tied model at src with a random q8_0 output.weight [128, 512] added. */
static void write_untied(const char *src, const char *dst) {
    llm_gguf *f = NULL;
    llm_gguf_writer *w = NULL;
    float *x = malloc(128 * 512 * sizeof *x);
    unsigned char *q = malloc(512 * llm_dtype_row_bytes(LLM_DTYPE_Q8_0, 128));
    CHECK(x && q);
    CHECK_OK(llm_gguf_open(src, &f));
    CHECK_OK(llm_gguf_writer_create(&w));
    if (!f || !w || !x || !q) goto done;
    CHECK_OK(llm_gguf_writer_copy_kv(w, f));
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++) {
        const llm_gguf_tensor *t = llm_gguf_tensor_at(f, i);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        CHECK_OK(llm_gguf_writer_add_tensor(w, name, t->dtype, t->n_dims, t->ne, t->data));
    }
    tc_fill(x, 128 * 512, -0.05f, 0.05f);
    CHECK_OK(llm_quantize(LLM_DTYPE_Q8_0, x, q, 128 * 512));
    uint64_t ne[2] = {128, 512};
    CHECK_OK(llm_gguf_writer_add_tensor(w, "output.weight", LLM_DTYPE_Q8_0, 2, ne, q));
    CHECK_OK(llm_gguf_writer_write(w, dst));
done:
    llm_gguf_writer_destroy(w);
    llm_gguf_close(f);
    free(x);
    free(q);
}

static void check_model(const char *path, int tied) {
    llm_model_options o = tc_model_options();
    o.n_ctx = 64;
    o.n_batch = 16;
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(path, &o, &m));
    if (!m) return;
    const llm_hparams *hp = llm_model_hparams(m);
    CHECK(hp->n_layer == 2 && hp->n_embd == 128 && hp->n_head == 4 && hp->n_head_kv == 2 &&
          hp->n_ff == 256 && hp->n_vocab == 512 && hp->tied_embeddings == tied &&
          hp->weight_type == LLM_DTYPE_Q8_0);

    /* bytes per token from the shapes: q8_0 rows of 128 are 136 bytes, of 256 are 272 */
    uint64_t layer = (128 + 64 + 64) * 136 + 128 * 136 + 2 * 256 * 136 + 128 * 272 + 2 * 128 * 4;
    uint64_t want =
        2 * layer + 128 * 4 + 16 * 4 /* rope_freqs */ + (tied ? 512 * 136 : 136 + 512 * 136);
    uint64_t got = llm_model_weight_bytes_per_token(m);
    if (got != want)
        printf("  weight bytes per token %llu, want %llu\n", (unsigned long long)got,
               (unsigned long long)want);
    CHECK(got == want);

    int32_t prompt[8] = {1, 259, 3 + 'h', 3 + 'i', 259, 3 + 'a', 40, 511};
    float *logits = malloc(512 * sizeof *logits);
    CHECK(logits != NULL);
    if (logits) {
        CHECK_OK(llm_model_eval(m, prompt, 8, 0, logits));
        for (int step = 0; step < 4; step++) {
            int32_t t = (int32_t)(100 + 37 * step);
            CHECK_OK(llm_model_eval(m, &t, 1, 8 + step, logits));
        }
        int finite = 1;
        float lo = logits[0], hi = logits[0];
        for (int i = 0; i < 512; i++) {
            finite &= isfinite(logits[i]);
            if (logits[i] < lo) lo = logits[i];
            if (logits[i] > hi) hi = logits[i];
        }
        printf("  %s: logits in [%.3f, %.3f]\n", tied ? "tied" : "untied", lo, hi);
        CHECK(finite && hi - lo > 1e-3f && hi - lo < 100.0f);
    }
    free(logits);
    llm_model_destroy(m);
}

int main(void) {
    char dir[64];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%.40s/clg_synthm_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char tied[96], untied[96];
    snprintf(tied, sizeof tied, "%s/tied.gguf", dir);
    snprintf(untied, sizeof untied, "%s/untied.gguf", dir);
    clg_context_destroy(tc_context()); /* prints the device */
    CHECK_OK(llm_synth_write(tied, "tiny", LLM_DTYPE_Q8_0, 3, NULL, NULL));
    write_untied(tied, untied);
    check_model(tied, 1);
    check_model(untied, 0);
    remove(tied);
    remove(untied);
    rmdir(dir);
    return tc_finish("synth_model");
}
