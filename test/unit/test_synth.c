/* Synthetic models (graphs/model/synth.c) and the writer's streaming tensors: the shapes match the
 * published configs (and the SmolLM2 test model's metadata), a tiny model in f16 / q8_0 / q4_0
 * opens with the right metadata, tensor shapes and types, norms of 1.0 and weights of mean 0 and
 * deviation 0.02, a tokenizer that loads and round-trips text, the same seed gives the same
 * bytes; errors (unknown shape or type, unwritable path, a failing fill) leave no file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clgraph/gguf.h"
#include "clgraph/synth.h"
#include "clgraph/tokenizer.h"
#include "test_common.h"

static char g_dir[64];

static const char *path_in(const char *name) {
    static char buf[4][160];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%.80s", g_dir, name);
    return buf[k];
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    *n = p ? fread(p, 1, (size_t)sz, f) : 0;
    fclose(f);
    return p;
}

static uint64_t q8_row(uint64_t n) {
    return n / 32 * 34;
}

static void test_shapes(void) {
    const llm_synth_shape *s = llm_synth_shape_find("135m");
    CHECK(s && s->n_embd == 576 && s->n_layer == 30 && s->n_head == 9 && s->n_head_kv == 3 &&
          s->n_ff == 1536 && s->n_vocab == 49152 && s->rope_base == 100000.0f && s->tied);
    s = llm_synth_shape_find("1B"); /* case-insensitive */
    CHECK(s && s->n_embd == 2048 && s->n_layer == 16 && s->n_head == 32 && s->n_head_kv == 8 &&
          s->n_ff == 8192 && s->n_vocab == 128256 && s->rope_base == 500000.0f && s->tied);
    s = llm_synth_shape_find("3b");
    CHECK(s && s->n_embd == 3072 && s->n_layer == 28 && s->n_head == 24 && s->n_head_kv == 8 &&
          s->n_ff == 8192 && s->n_vocab == 128256 && s->tied);
    s = llm_synth_shape_find("8b");
    CHECK(s && s->n_embd == 4096 && s->n_layer == 32 && s->n_head == 32 && s->n_head_kv == 8 &&
          s->n_ff == 14336 && s->n_vocab == 128256 && !s->tied);
    CHECK(llm_synth_shape_find("2b") == NULL && llm_synth_shape_find(NULL) == NULL &&
          llm_synth_shape_find("1") == NULL && llm_synth_shape_find("1bb") == NULL);
    CHECK(llm_synth_dtype_ok(LLM_DTYPE_Q8_0) && llm_synth_dtype_ok(LLM_DTYPE_F16) &&
          llm_synth_dtype_ok(LLM_DTYPE_Q4_0) && !llm_synth_dtype_ok(LLM_DTYPE_Q4_K) &&
          !llm_synth_dtype_ok(-1));

    /* SmolLM2-135M-Instruct.Q8_0.gguf (clgraph quantize --type q8_0) holds 143025408 bytes of
     * tensors: the 135m shape in q8_0 must be byte for byte the same size. */
    CHECK(llm_synth_tensor_bytes(llm_synth_shape_find("135m"), LLM_DTYPE_Q8_0) == 143025408ull);
    /* 1b in q8_0 by hand: tied embedding, 16 layers of q|k|v|o + gate|up|down + 2 norms */
    uint64_t E = 2048, KV = 512, F = 8192, V = 128256;
    uint64_t want = V * q8_row(E) + E * 4 + 32 * 4 /* rope_freqs */ +
                    16 * ((E + 2 * KV) * q8_row(E) + E * q8_row(E) + 2 * F * q8_row(E) +
                          E * q8_row(F) + 2 * E * 4);
    CHECK(llm_synth_tensor_bytes(llm_synth_shape_find("1b"), LLM_DTYPE_Q8_0) == want);
    /* 8b is untied: an output matrix as large as the embedding */
    uint64_t b8 = llm_synth_tensor_bytes(llm_synth_shape_find("8b"), LLM_DTYPE_Q8_0);
    CHECK(b8 > 8000000000ull && b8 < 8600000000ull);
    CHECK(llm_synth_tensor_bytes(llm_synth_shape_find("1b"), LLM_DTYPE_Q4_K) == 0);

    /* The 135m shape against the SmolLM2 test model's own metadata, when it is there. */
    const char *model = getenv("CLGRAPH_TEST_MODEL");
    llm_gguf *f = NULL;
    if (model && llm_gguf_open(model, &f) == CLG_OK) {
        s = llm_synth_shape_find("135m");
        uint32_t v[6];
        float base;
        CHECK_OK(llm_gguf_get_u32(f, "llama.embedding_length", &v[0]));
        CHECK_OK(llm_gguf_get_u32(f, "llama.block_count", &v[1]));
        CHECK_OK(llm_gguf_get_u32(f, "llama.attention.head_count", &v[2]));
        CHECK_OK(llm_gguf_get_u32(f, "llama.attention.head_count_kv", &v[3]));
        CHECK_OK(llm_gguf_get_u32(f, "llama.feed_forward_length", &v[4]));
        CHECK_OK(llm_gguf_get_f32(f, "llama.rope.freq_base", &base));
        v[5] = (uint32_t)llm_gguf_find_tensor(f, "token_embd.weight")->ne[1];
        CHECK((int)v[0] == s->n_embd && (int)v[1] == s->n_layer && (int)v[2] == s->n_head &&
              (int)v[3] == s->n_head_kv && (int)v[4] == s->n_ff && (int)v[5] == s->n_vocab &&
              base == s->rope_base);
        CHECK(llm_gguf_find_tensor(f, "output.weight") == NULL); /* tied */
        llm_gguf_close(f);
    } else {
        printf("  (no CLGRAPH_TEST_MODEL: 135m shape not compared with SmolLM2's metadata)\n");
    }
}

static int expect_u32(const llm_gguf *f, const char *key, uint32_t want) {
    uint32_t v = 0;
    return llm_gguf_get_u32(f, key, &v) == CLG_OK && v == want;
}

/* Dequantized statistics of one tensor. */
static void tensor_stats(const llm_gguf_tensor *t, double *mean, double *sd, double *maxabs) {
    float *x = malloc((size_t)t->n_elems * sizeof *x);
    *mean = *sd = *maxabs = NAN;
    if (!x || llm_dequantize(t->dtype, t->data, x, (size_t)t->n_elems) != CLG_OK) {
        free(x);
        return;
    }
    double s = 0, s2 = 0, m = 0;
    for (uint64_t i = 0; i < t->n_elems; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        if (fabs(x[i]) > m) m = fabs(x[i]);
    }
    *mean = s / (double)t->n_elems;
    *sd = sqrt(s2 / (double)t->n_elems - *mean * *mean);
    *maxabs = m;
    free(x);
}

static int progress_calls;
static uint64_t progress_last, progress_total;
static void on_progress(void *user, const char *tensor, uint64_t done, uint64_t total) {
    (void)user;
    (void)tensor;
    if (done < progress_last) progress_calls = -1000000; /* must not go backwards */
    progress_calls++;
    progress_last = done;
    progress_total = total;
}

static void test_tiny(int dtype) {
    const llm_synth_shape *s = llm_synth_shape_find("tiny");
    const char *path = path_in("tiny.gguf");
    printf("tiny shape in %s\n", llm_dtype_name(dtype));
    progress_calls = 0;
    progress_last = 0;
    CHECK_OK(llm_synth_write(path, "tiny", dtype, 7, on_progress, NULL));
    CHECK(progress_calls > 0 && progress_last == progress_total &&
          progress_total == llm_synth_tensor_bytes(s, dtype));
    llm_gguf *f = NULL;
    CHECK_OK(llm_gguf_open(path, &f));
    if (!f) return;
    llm_gguf_str arch = {0};
    CHECK(llm_gguf_get_str(f, "general.architecture", &arch) == CLG_OK && arch.len == 5 &&
          !memcmp(arch.ptr, "llama", 5));
    CHECK(expect_u32(f, "llama.embedding_length", 128) && expect_u32(f, "llama.block_count", 2) &&
          expect_u32(f, "llama.attention.head_count", 4) &&
          expect_u32(f, "llama.attention.head_count_kv", 2) &&
          expect_u32(f, "llama.feed_forward_length", 256) &&
          expect_u32(f, "llama.vocab_size", 512) &&
          expect_u32(f, "llama.rope.dimension_count", 32) &&
          expect_u32(f, "general.file_type",
                     dtype == LLM_DTYPE_F16    ? 1
                     : dtype == LLM_DTYPE_Q8_0 ? 7
                                               : 2));
    CHECK(llm_gguf_find_tensor(f, "output.weight") == NULL); /* tied */
    CHECK(llm_gguf_tensor_count(f) == 1 + 1 + 9 * 2 + 1);
    /* rope scaling "llama3", factor 8, as divisors over the 16 frequencies of head_dim 32 at
     * base 10000: wavelengths 2 pi 10000^(i/16) under 2048 -> 1, over 8192 -> 8, between a
     * blend (i = 12: wavelength 6283.2, smooth 0.10126 -> 4.6816) */
    const llm_gguf_tensor *rf = llm_gguf_find_tensor(f, "rope_freqs.weight");
    CHECK(rf && rf->n_dims == 1 && rf->ne[0] == 16 && rf->dtype == LLM_DTYPE_F32);
    if (rf && rf->bytes == 64) {
        float d[16];
        memcpy(d, rf->data, sizeof d);
        int mono = 1;
        for (int i = 1; i < 16; i++)
            mono &= d[i] >= d[i - 1];
        CHECK(d[0] == 1.0f && d[10] == 1.0f && d[13] == 8.0f && d[15] == 8.0f && mono);
        CHECK(fabsf(d[12] - 4.6816f) < 1e-3f && d[11] > 1.0f && d[11] < d[12]);
    }
    uint64_t sum = 0;
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++)
        sum += llm_gguf_tensor_at(f, i)->bytes;
    CHECK(sum == llm_synth_tensor_bytes(s, dtype));

    const struct {
        const char *name;
        uint64_t ne0, ne1; /* ne1 0: a 1-D norm */
    } want[] = {{"token_embd.weight", 128, 512},   {"blk.1.attn_norm.weight", 128, 0},
                {"blk.1.attn_q.weight", 128, 128}, {"blk.1.attn_k.weight", 128, 64},
                {"blk.0.attn_v.weight", 128, 64},  {"blk.0.attn_output.weight", 128, 128},
                {"blk.0.ffn_norm.weight", 128, 0}, {"blk.0.ffn_gate.weight", 128, 256},
                {"blk.1.ffn_up.weight", 128, 256}, {"blk.1.ffn_down.weight", 256, 128},
                {"output_norm.weight", 128, 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const llm_gguf_tensor *t = llm_gguf_find_tensor(f, want[i].name);
        CHECK(t != NULL);
        if (!t) continue;
        double mean, sd, maxabs;
        tensor_stats(t, &mean, &sd, &maxabs);
        if (!want[i].ne1) {
            CHECK(t->n_dims == 1 && t->ne[0] == want[i].ne0 && t->dtype == LLM_DTYPE_F32);
            CHECK(mean == 1.0 && maxabs == 1.0);
        } else {
            CHECK(t->n_dims == 2 && t->ne[0] == want[i].ne0 && t->ne[1] == want[i].ne1 &&
                  t->dtype == dtype);
            /* N(0, 0.02) by Irwin-Hall: |x| <= 0.02 * 2 sqrt(3) plus rounding of the type */
            int ok = fabs(mean) < 0.003 && sd > 0.017 && sd < 0.023 && maxabs < 0.075;
            if (!ok || !strcmp(want[i].name, "token_embd.weight"))
                printf("  %s: mean %.5f sd %.5f max %.4f\n", want[i].name, mean, sd, maxabs);
            CHECK(ok);
        }
    }
    /* different tensors get different streams */
    const llm_gguf_tensor *a = llm_gguf_find_tensor(f, "blk.0.ffn_gate.weight"),
                          *b = llm_gguf_find_tensor(f, "blk.0.ffn_up.weight");
    CHECK(a && b && a->bytes == b->bytes && memcmp(a->data, b->data, (size_t)a->bytes));

    /* the tokenizer loads and text survives a round trip through byte tokens */
    llm_tokenizer *tok = NULL;
    CHECK_OK(llm_tokenizer_create(f, &tok));
    if (tok) {
        const char *text = "Hi, \xc3\xa9t\xc3\xa9!";
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        size_t len = 0;
        CHECK(llm_tokenizer_n_tokens(tok) == 512 && llm_tokenizer_bos(tok) == 1 &&
              llm_tokenizer_eos(tok) == 2);
        CHECK_OK(llm_tokenizer_encode(tok, text, strlen(text), LLM_TOKENIZE_ADD_SPECIAL, &ids, &n));
        /* BOS, then the space piece (259) for each space and the added prefix, and each of
         * the other 9 bytes as a <0xXX> token (3 + byte) */
        CHECK(n == 1 + 2 + 9 && ids && ids[0] == 1 && ids[1] == 259 && ids[2] == 3 + 'H' &&
              ids[5] == 259 && ids[6] == 3 + 0xC3 && ids[11] == 3 + '!');
        CHECK_OK(llm_tokenizer_decode(tok, ids, n, LLM_DETOKENIZE_TEXT, &back, &len));
        CHECK(back && len == strlen(text) && !memcmp(back, text, len));
        free(ids);
        free(back);
    }
    llm_tokenizer_destroy(tok);
    llm_gguf_close(f);
}

static void test_determinism(void) {
    const char *a = path_in("a.gguf"), *b = path_in("b.gguf"), *c = path_in("c.gguf");
    CHECK_OK(llm_synth_write(a, "tiny", LLM_DTYPE_Q4_0, 11, NULL, NULL));
    CHECK_OK(llm_synth_write(b, "tiny", LLM_DTYPE_Q4_0, 11, NULL, NULL));
    CHECK_OK(llm_synth_write(c, "tiny", LLM_DTYPE_Q4_0, 12, NULL, NULL));
    size_t na = 0, nb = 0, nc = 0;
    unsigned char *pa = read_all(a, &na), *pb = read_all(b, &nb), *pc = read_all(c, &nc);
    CHECK(pa && pb && pc && na > 100000 && na == nb && na == nc);
    CHECK(pa && pb && na == nb && !memcmp(pa, pb, na));
    CHECK(pa && pc && na == nc && memcmp(pa, pc, na)); /* another seed, other weights */
    free(pa);
    free(pb);
    free(pc);
    remove(a);
    remove(b);
    remove(c);
}

static void test_errors(void) {
    const char *p = path_in("bad.gguf");
    CHECK(llm_synth_write(p, "2b", LLM_DTYPE_Q8_0, 1, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "2b") != NULL);
    CHECK(llm_synth_write(p, "tiny", LLM_DTYPE_Q4_K, 1, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(llm_synth_write(NULL, "tiny", LLM_DTYPE_Q8_0, 1, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(!file_exists(p));
    CHECK(llm_synth_write(path_in("no/such/dir/x.gguf"), "tiny", LLM_DTYPE_Q8_0, 1, NULL, NULL) ==
          CLG_ERR_IO);
}

/* ---- llm_gguf_writer_add_tensor_cb ------------------------------------------------ */

typedef struct fill_state {
    uint64_t next_row, calls, fail_at;
} fill_state;

/* Row r holds floats r * 1000 + column; rows must come in order, in whole chunks. */
static clg_status fill_rows(void *user, uint64_t row0, uint64_t n_rows, void *dst) {
    fill_state *s = user;
    s->calls++;
    if (row0 != s->next_row) return clg_fail(CLG_ERR_INVALID_ARG, "rows out of order");
    if (s->fail_at && row0 + n_rows > s->fail_at)
        return clg_fail(CLG_ERR_IO, "fill failed on purpose");
    float *x = dst;
    for (uint64_t r = 0; r < n_rows; r++)
        for (int c = 0; c < 4096; c++)
            x[r * 4096 + (uint64_t)c] = (float)((row0 + r) * 1000 + (uint64_t)c);
    s->next_row = row0 + n_rows;
    return CLG_OK;
}

static void test_writer_cb(void) {
    const char *p = path_in("cb.gguf");
    llm_gguf_writer *w = NULL;
    fill_state s = {0};
    uint64_t ne[2] = {4096, 1200}; /* 19.7 MB of f32: three chunks of at most 8 MiB */
    float small[4] = {1, 2, 3, 4};
    uint64_t ne_small[1] = {4};
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_tensor(w, "before", LLM_DTYPE_F32, 1, ne_small, small));
    CHECK_OK(llm_gguf_writer_add_tensor_cb(w, "big", LLM_DTYPE_F32, 2, ne, fill_rows, &s));
    CHECK_OK(llm_gguf_writer_add_tensor(w, "after", LLM_DTYPE_F32, 1, ne_small, small));
    CHECK(llm_gguf_writer_add_tensor_cb(w, "nofill", LLM_DTYPE_F32, 1, ne_small, NULL, NULL) ==
          CLG_ERR_INVALID_ARG);
    CHECK(llm_gguf_writer_add_tensor_cb(w, "big", LLM_DTYPE_F32, 2, ne, fill_rows, &s) ==
          CLG_ERR_INVALID_ARG); /* a name once */
    CHECK(s.calls == 0);        /* nothing produced before the write */
    CHECK_OK(llm_gguf_writer_write(w, p));
    CHECK(s.calls >= 3 && s.next_row == 1200);
    llm_gguf *f = NULL;
    CHECK_OK(llm_gguf_open(p, &f));
    const llm_gguf_tensor *t = f ? llm_gguf_find_tensor(f, "big") : NULL;
    const llm_gguf_tensor *t2 = f ? llm_gguf_find_tensor(f, "after") : NULL;
    CHECK(t && t->bytes == 4096ull * 1200 * 4 && t2 && t2->bytes == 16);
    if (t && t2) {
        float v[3];
        memcpy(&v[0], (const char *)t->data + 4 * 5, 4);
        memcpy(&v[1], (const char *)t->data + 4 * (4096ull * 1199 + 17), 4);
        memcpy(&v[2], (const char *)t2->data + 12, 4);
        CHECK(v[0] == 5.0f && v[1] == 1199017.0f && v[2] == 4.0f);
    }
    llm_gguf_close(f);
    remove(p);
    llm_gguf_writer_destroy(w);

    /* a fill that fails stops the write: its status comes back and no file is left */
    fill_state s2 = {0, 0, 700};
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_tensor_cb(w, "big", LLM_DTYPE_F32, 2, ne, fill_rows, &s2));
    CHECK(llm_gguf_writer_write(w, p) == CLG_ERR_IO);
    CHECK(strstr(clg_last_error(), "on purpose") != NULL);
    CHECK(!file_exists(p));
    llm_gguf_writer_destroy(w);
}

/* The tiny test models of the other architectures: the tensor names and shapes llama.cpp asks
 * for (test/data/model/arch/README.md), head_dim from attention.key_length, the tokenizer kind. */
static void test_archs(void) {
    const struct {
        const char *arch, *tensor, *tokenizer;
        uint64_t ne0, ne1; /* ne1 0: 1-D */
        uint64_t n_tensors;
    } want[] = {
        {"gemma3", "blk.5.attn_q.weight", "llama", 256, 512, 1 + 13 * 6 + 1},
        {"gemma3", "blk.0.attn_k_norm.weight", "llama", 128, 0, 1 + 13 * 6 + 1},
        {"gemma3", "blk.5.post_ffw_norm.weight", "llama", 256, 0, 1 + 13 * 6 + 1},
        {"gemma3", "blk.0.attn_output.weight", "llama", 512, 256, 1 + 13 * 6 + 1},
        {"qwen2", "blk.2.attn_k.bias", "gpt2", 128, 0, 1 + 12 * 3 + 1},
        {"qwen3", "blk.1.attn_q_norm.weight", "gpt2", 128, 0, 1 + 11 * 3 + 1},
        {"qwen3", "blk.1.attn_k.weight", "gpt2", 256, 256, 1 + 11 * 3 + 1},
        {"phi3", "blk.0.attn_qkv.weight", "llama", 256, 512, 1 + 6 * 3 + 2},
        {"phi3", "blk.2.ffn_up.weight", "llama", 256, 1024, 1 + 6 * 3 + 2},
        {"phi3", "output.weight", "llama", 256, 512, 1 + 6 * 3 + 2},
    };
    const char *path = path_in("arch.gguf");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK_OK(llm_synth_write_arch(path, want[i].arch, "tiny", LLM_DTYPE_Q8_0, 3, NULL, NULL));
        llm_gguf *f = NULL;
        CHECK_OK(llm_gguf_open(path, &f));
        if (!f) continue;
        llm_gguf_str a = {0}, tok = {0};
        CHECK(llm_gguf_get_str(f, "general.architecture", &a) == CLG_OK &&
              a.len == strlen(want[i].arch) && !memcmp(a.ptr, want[i].arch, a.len));
        CHECK(llm_gguf_get_str(f, "tokenizer.ggml.model", &tok) == CLG_OK &&
              tok.len == strlen(want[i].tokenizer) && !memcmp(tok.ptr, want[i].tokenizer, tok.len));
        CHECK(llm_gguf_tensor_count(f) == want[i].n_tensors);
        const llm_gguf_tensor *t = llm_gguf_find_tensor(f, want[i].tensor);
        CHECK(t && t->n_dims == (want[i].ne1 ? 2u : 1u) && t->ne[0] == want[i].ne0 &&
              (!want[i].ne1 || t->ne[1] == want[i].ne1));
        if (!t) printf("  %s: no tensor %s\n", want[i].arch, want[i].tensor);
        llm_gguf_close(f);
    }
    CHECK(llm_synth_write_arch(path, "gemma2", "tiny", LLM_DTYPE_Q8_0, 3, NULL, NULL) ==
          CLG_ERR_INVALID_ARG);
    CHECK(llm_synth_write_arch(path, "qwen2", "135m", LLM_DTYPE_Q8_0, 3, NULL, NULL) ==
          CLG_ERR_INVALID_ARG);
    CHECK(llm_synth_shape_find_arch("GEMMA3", "Tiny") && !llm_synth_shape_find_arch("qwen2", "1b"));
    remove(path);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%.40s/clg_synth_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_shapes();
    test_tiny(LLM_DTYPE_Q8_0);
    test_tiny(LLM_DTYPE_F16);
    test_tiny(LLM_DTYPE_Q4_0);
    remove(path_in("tiny.gguf"));
    test_archs();
    test_determinism();
    test_errors();
    test_writer_cb();
    rmdir(g_dir);
    return tc_finish("synth");
}
