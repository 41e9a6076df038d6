/* Synthetic Llama GGUF models: real shapes, seeded random weights generated and quantized
 * row chunk by row chunk while the file is written (llm_gguf_writer_add_tensor_cb). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "clgraph/synth.h"
#include "clgraph/util.h"

/* Hyper-parameters from each model's config.json (Hugging Face), rope scaling included
 * (rope_type llama3: factor 32 for Llama 3.2, 8 for Llama 3.1; low 1, high 4, 8192). */
/* clang-format off */
static const llm_synth_shape shapes[] = {
    /* name  model          vocab   embd  layer head kv  ff     ctx     rope_base  eps  tied scaling */
    {"135m", "SmolLM2-135M", 49152, 576, 30, 9, 3, 1536, 8192, 100000.0f, 1e-5f, 1, 0.0f},
    {"1b", "Llama-3.2-1B", 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0f, 1e-5f, 1, 32.0f},
    {"3b", "Llama-3.2-3B", 128256, 3072, 28, 24, 8, 8192, 131072, 500000.0f, 1e-5f, 1, 32.0f},
    {"8b", "Llama-3.1-8B", 128256, 4096, 32, 32, 8, 14336, 131072, 500000.0f, 1e-5f, 0, 8.0f},
    /* for tests: every feature of the real shapes (GQA, tied output, rope scaling with all
     * three regimes of the divisors) at a few hundred KiB */
    {"tiny", "tiny test", 512, 128, 2, 4, 2, 256, 256, 10000.0f, 1e-5f, 1, 8.0f},
};
/* clang-format on */
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

const llm_synth_shape *llm_synth_shape_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < N_SHAPES; i++) {
        const char *a = shapes[i].name, *b = name;
        while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b))
            a++, b++;
        if (!*a && !*b) return &shapes[i];
    }
    return NULL;
}

const char *llm_synth_shape_names(void) {
    return "135m, 1b, 3b, 8b";
}

int llm_synth_dtype_ok(int dtype) {
    return dtype == LLM_DTYPE_F32 || dtype == LLM_DTYPE_F16 || dtype == LLM_DTYPE_Q8_0 ||
           dtype == LLM_DTYPE_Q4_0 || dtype == LLM_DTYPE_Q4_1;
}

/* general.file_type (llama_ftype) of a file whose weights are all dtype. */
static uint32_t file_type(int dtype) {
    switch (dtype) {
    case LLM_DTYPE_F16:
        return 1;
    case LLM_DTYPE_Q4_0:
        return 2;
    case LLM_DTYPE_Q4_1:
        return 3;
    case LLM_DTYPE_Q8_0:
        return 7;
    default:
        return 0;
    }
}

/* ---- the tensor list ------------------------------------------------------ */

typedef struct synth_job synth_job;

typedef enum synth_kind { SYNTH_RANDOM, SYNTH_ONES, SYNTH_ROPE } synth_kind;

/* One tensor: [ne0] (a norm of ones, or rope frequency divisors) or [ne0, ne1] random rows. */
typedef struct synth_tensor {
    synth_job *job;
    char name[48];
    int dtype;
    uint32_t n_dims;
    uint64_t ne[2];
    synth_kind kind;
    uint64_t rng; /* xorshift64* state, seeded per tensor */
} synth_tensor;

struct synth_job {
    const llm_synth_shape *shape;
    synth_tensor *t; /* [n] in file order */
    size_t n;
    float *row; /* [largest ne0] scratch */
    uint64_t done, total;
    llm_synth_progress_fn progress;
    void *user;
};

/* The tensors of a shape in the order llama.cpp's converter writes them. */
static size_t tensor_list(const llm_synth_shape *s, int dtype, uint64_t seed, synth_tensor *out) {
    const uint64_t E = (uint64_t)s->n_embd, F = (uint64_t)s->n_ff, Q = E,
                   KV = E / (uint64_t)s->n_head * (uint64_t)s->n_head_kv;
    size_t n = 0;
#define ADD(nm, a, b)                                                                              \
    do {                                                                                           \
        if (out) {                                                                                 \
            synth_tensor *t = &out[n];                                                             \
            memset(t, 0, sizeof *t);                                                               \
            snprintf(t->name, sizeof t->name, "%s", nm);                                           \
            t->n_dims = (b) ? 2 : 1;                                                               \
            t->ne[0] = (a), t->ne[1] = (b) ? (b) : 1;                                              \
            t->kind = (b) ? SYNTH_RANDOM : SYNTH_ONES;                                             \
            t->dtype = (b) ? dtype : LLM_DTYPE_F32;                                                \
            t->rng = clg_mix64(seed ^ clg_mix64((uint64_t)n + 1)) | 1;                             \
        }                                                                                          \
        n++;                                                                                       \
    } while (0)
    char nm[48];
    if (s->rope_factor > 0) {
        ADD("rope_freqs.weight", E / (uint64_t)s->n_head / 2, 0);
        if (out) out[n - 1].kind = SYNTH_ROPE;
    }
    ADD("token_embd.weight", E, (uint64_t)s->n_vocab);
    for (int i = 0; i < s->n_layer; i++) {
#define LAYER(suffix, a, b)                                                                        \
    snprintf(nm, sizeof nm, "blk.%d.%s.weight", i, suffix);                                        \
    ADD(nm, a, b)
        LAYER("attn_norm", E, 0);
        LAYER("attn_q", E, Q);
        LAYER("attn_k", E, KV);
        LAYER("attn_v", E, KV);
        LAYER("attn_output", Q, E);
        LAYER("ffn_norm", E, 0);
        LAYER("ffn_gate", E, F);
        LAYER("ffn_up", E, F);
        LAYER("ffn_down", F, E);
#undef LAYER
    }
    ADD("output_norm.weight", E, 0);
    if (!s->tied) ADD("output.weight", E, (uint64_t)s->n_vocab);
#undef ADD
    return n;
}

static uint64_t tensor_bytes(const synth_tensor *t) {
    return (uint64_t)llm_dtype_row_bytes(t->dtype, t->ne[0]) * t->ne[1];
}

uint64_t llm_synth_tensor_bytes(const llm_synth_shape *shape, int dtype) {
    if (!shape || !llm_synth_dtype_ok(dtype)) return 0;
    size_t n = tensor_list(shape, dtype, 0, NULL);
    synth_tensor *t = malloc(n * sizeof *t);
    if (!t) return 0;
    tensor_list(shape, dtype, 0, t);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += tensor_bytes(&t[i]);
    free(t);
    return sum;
}

/* Llama 3's rope scaling as frequency divisors (llama.cpp's rope_freqs.weight, as its
 * converter computes them): 1 for wavelengths under 8192 / 4 positions, the factor above
 * 8192 / 1, a smooth blend between. */
static void rope_divisors(const llm_synth_shape *s, float *x, size_t n) {
    const double pi = 3.14159265358979323846, orig = 8192.0, low = 1.0, high = 4.0;
    const double dim = (double)(s->n_embd / s->n_head), factor = s->rope_factor;
    for (size_t i = 0; i < n; i++) {
        double freq = 1.0 / pow((double)s->rope_base, (double)(2 * i) / dim);
        double wavelen = 2 * pi / freq;
        if (wavelen < orig / high) {
            x[i] = 1.0f;
        } else if (wavelen > orig / low) {
            x[i] = (float)factor;
        } else {
            double smooth = (orig / wavelen - low) / (high - low);
            x[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
        }
    }
}

/* Rows row0 .. row0 + n_rows - 1 of a tensor: N(0, 0.02) by Irwin-Hall (the sum of four
 * 16-bit uniforms, standardised), quantized row by row. Called in row order. */
static clg_status fill(void *user, uint64_t row0, uint64_t n_rows, void *dst) {
    synth_tensor *t = user;
    synth_job *job = t->job;
    const size_t ne0 = (size_t)t->ne[0], rb = llm_dtype_row_bytes(t->dtype, t->ne[0]);
    const float scale = 0.02f * 1.7320508f / 65536.0f; /* sqrt(3) / 65536: unit variance */
    (void)row0;
    for (uint64_t r = 0; r < n_rows; r++) {
        float *x = job->row;
        if (t->kind == SYNTH_ONES) {
            for (size_t i = 0; i < ne0; i++)
                x[i] = 1.0f;
        } else if (t->kind == SYNTH_ROPE) {
            rope_divisors(job->shape, x, ne0);
        } else {
            for (size_t i = 0; i < ne0; i++) {
                uint64_t v = clg_rng_next(&t->rng);
                int32_t sum = (int32_t)(v & 0xffff) + (int32_t)((v >> 16) & 0xffff) +
                              (int32_t)((v >> 32) & 0xffff) + (int32_t)(v >> 48) - 131070;
                x[i] = (float)sum * scale;
            }
        }
        clg_status st = llm_quantize(t->dtype, x, (uint8_t *)dst + r * rb, ne0);
        if (st != CLG_OK) return st;
    }
    job->done += n_rows * rb;
    if (job->progress) job->progress(job->user, t->name, job->done, job->total);
    return CLG_OK;
}

/* ---- metadata --------------------------------------------------------------- */

/* A SentencePiece-style vocabulary of n tokens: <unk>, <s>, </s>, <0x00>..<0xFF>, the
 * space piece U+2581 (so that text round-trips), then <unused_K> (type UNUSED) up to n. */
static clg_status add_tokenizer(llm_gguf_writer *w, int n) {
    clg_status st = CLG_ERR_OUT_OF_MEMORY;
    char *text = malloc((size_t)n * 24);
    const char **strs = malloc((size_t)n * sizeof *strs);
    uint64_t *lens = malloc((size_t)n * sizeof *lens);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    if (!text || !strs || !lens || !scores || !types) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "synthetic tokenizer: %d tokens", n);
        goto done;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        char *p = text + off;
        int len;
        if (i == 0)
            len = snprintf(p, 24, "<unk>"), types[i] = 2;
        else if (i == 1)
            len = snprintf(p, 24, "<s>"), types[i] = 3;
        else if (i == 2)
            len = snprintf(p, 24, "</s>"), types[i] = 3;
        else if (i < 3 + 256)
            len = snprintf(p, 24, "<0x%02X>", i - 3), types[i] = 6;
        else if (i == 259)
            len = snprintf(p, 24, "\xe2\x96\x81"), types[i] = 1; /* U+2581: space */
        else
            len = snprintf(p, 24, "<unused_%d>", i - 260), types[i] = 5;
        strs[i] = p;
        lens[i] = (uint64_t)len;
        off += (size_t)len;
    }
    if ((st = llm_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama")) ||
        (st = llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", strs, lens, (uint64_t)n)) ||
        (st = llm_gguf_writer_add_array(w, "tokenizer.ggml.scores", LLM_GGUF_FLOAT32, scores,
                                        (uint64_t)n)) ||
        (st = llm_gguf_writer_add_array(w, "tokenizer.ggml.token_type", LLM_GGUF_INT32, types,
                                        (uint64_t)n)) ||
        (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0)) ||
        (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1)) ||
        (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2)) ||
        (st = llm_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1)) ||
        (st = llm_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", 0)))
        goto done;
done:
    free(text);
    free(strs);
    free(lens);
    free(scores);
    free(types);
    return st;
}

static clg_status add_metadata(llm_gguf_writer *w, const llm_synth_shape *s, int dtype,
                               uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "synthetic %s-shaped model (random weights)", s->model);
    clg_status st;
    if ((st = llm_gguf_writer_add_str(w, "general.architecture", "llama")) ||
        (st = llm_gguf_writer_add_str(w, "general.type", "model")) ||
        (st = llm_gguf_writer_add_str(w, "general.name", name)) ||
        (st = llm_gguf_writer_add_u32(w, "general.file_type", file_type(dtype))) ||
        (st = llm_gguf_writer_add_u32(w, "llama.context_length", (uint32_t)s->n_ctx_train)) ||
        (st = llm_gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)s->n_embd)) ||
        (st = llm_gguf_writer_add_u32(w, "llama.block_count", (uint32_t)s->n_layer)) ||
        (st = llm_gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)s->n_ff)) ||
        (st = llm_gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)s->n_head)) ||
        (st =
             llm_gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)s->n_head_kv)) ||
        (st = llm_gguf_writer_add_f32(w, "llama.rope.freq_base", s->rope_base)) ||
        (st = llm_gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", s->rms_eps)) ||
        (st = llm_gguf_writer_add_u32(w, "llama.rope.dimension_count",
                                      (uint32_t)(s->n_embd / s->n_head))) ||
        (st = llm_gguf_writer_add_u32(w, "llama.vocab_size", (uint32_t)s->n_vocab)) ||
        (st = llm_gguf_writer_add_str(w, "clgraph.synth.shape", s->name)) ||
        (st = llm_gguf_writer_add_u64(w, "clgraph.synth.seed", seed)))
        return st;
    if (dtype == LLM_DTYPE_Q8_0 || dtype == LLM_DTYPE_Q4_0 || dtype == LLM_DTYPE_Q4_1)
        if ((st = llm_gguf_writer_add_u32(w, "general.quantization_version", 2))) return st;
    return add_tokenizer(w, s->n_vocab);
}

clg_status llm_synth_write(const char *path, const char *shape, int dtype, uint64_t seed,
                           llm_synth_progress_fn progress, void *user) {
    const llm_synth_shape *s = llm_synth_shape_find(shape);
    if (!path) return clg_fail(CLG_ERR_INVALID_ARG, "llm_synth_write: NULL path");
    if (!s)
        return clg_fail(CLG_ERR_INVALID_ARG, "unknown synthetic shape '%s' (known: %s)",
                        shape ? shape : "(null)", llm_synth_shape_names());
    if (!llm_synth_dtype_ok(dtype))
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "synthetic weights of type %s are not supported (f32, f16, q8_0, q4_0, "
                        "q4_1)",
                        llm_dtype_name(dtype) ? llm_dtype_name(dtype) : "unknown");
    llm_gguf_writer *w = NULL;
    synth_job job = {0};
    clg_status st;
    job.n = tensor_list(s, dtype, seed, NULL);
    job.t = malloc(job.n * sizeof *job.t);
    size_t widest = (size_t)(s->n_ff > s->n_embd ? s->n_ff : s->n_embd);
    job.row = malloc(widest * sizeof(float));
    if (!job.t || !job.row) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "synthetic model: tensor list");
        goto done;
    }
    tensor_list(s, dtype, seed, job.t);
    job.shape = s;
    job.progress = progress;
    job.user = user;
    if ((st = llm_gguf_writer_create(&w)) || (st = add_metadata(w, s, dtype, seed))) goto done;
    for (size_t i = 0; i < job.n; i++) {
        synth_tensor *t = &job.t[i];
        t->job = &job;
        job.total += tensor_bytes(t);
        if ((st = llm_gguf_writer_add_tensor_cb(w, t->name, t->dtype, t->n_dims, t->ne, fill, t)))
            goto done;
    }
    st = llm_gguf_writer_write(w, path);
done:
    llm_gguf_writer_destroy(w);
    free(job.t);
    free(job.row);
    return st;
}
