/* Synthetic GGUF models: real shapes, seeded random weights generated and quantized row chunk by
 * row chunk while the file is written (llm_gguf_writer_add_tensor_cb). general.architecture
 * llama (published shapes), and tiny test models of gemma3, qwen2, qwen3 and phi3 in the
 * tensor names, shapes and metadata llama.cpp reads for each (src/models/<arch>.cpp and
 * llama-model.cpp's tensor lists). */
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
    /* name  model          vocab   embd  layer head kv  ff     ctx     rope_base  eps  tied scaling
       arch  head_dim window w_std norm_std bias_std */
    {"135m", "SmolLM2-135M", 49152, 576, 30, 9, 3, 1536, 8192, 100000.0f, 1e-5f, 1, 0.0f,
     "llama", 0, 0, 0.02f, 0.0f, 0.0f},
    {"1b", "Llama-3.2-1B", 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0f, 1e-5f, 1, 32.0f,
     "llama", 0, 0, 0.02f, 0.0f, 0.0f},
    {"3b", "Llama-3.2-3B", 128256, 3072, 28, 24, 8, 8192, 131072, 500000.0f, 1e-5f, 1, 32.0f,
     "llama", 0, 0, 0.02f, 0.0f, 0.0f},
    {"8b", "Llama-3.1-8B", 128256, 4096, 32, 32, 8, 14336, 131072, 500000.0f, 1e-5f, 0, 8.0f,
     "llama", 0, 0, 0.02f, 0.0f, 0.0f},
    /* for tests: every feature of the real shapes (GQA, tied output, rope scaling with all
     * three regimes of the divisors) at a few hundred KiB */
    {"tiny", "tiny test", 512, 128, 2, 4, 2, 256, 256, 10000.0f, 1e-5f, 1, 8.0f,
     "llama", 0, 0, 0.02f, 0.0f, 0.0f},
    /* Tiny test models of the other architectures (test/model/test_arch.c). Weights of deviation
     * ~1/sqrt(n_embd), so that attention is far from uniform and logits are O(1); norm weights
     * 1 + N(0, 0.1) (gemma3 files store 1 + w, so near 1 as well) and biases N(0, 0.1), so a
     * norm or bias applied to the wrong tensor shows. gemma3: 6 layers, llama.cpp's pattern of
     * 5 sliding-window layers then 1 global one (set_swa_pattern(6)), window 8 so the 64-token
     * test prompt crosses it; head_dim 128 while n_embd / n_head = 64, as Gemma 3 270M has 256
     * with 640 / 4. qwen3: head_dim 128 likewise (Qwen3-0.6B: 128 with 1024 / 16). phi3: fused
     * attn_qkv and gate|up in ffn_up, untied output. */
    {"tiny", "tiny gemma3 test", 512, 256, 6, 4, 2, 512, 256, 1000000.0f, 1e-6f, 1, 0.0f,
     "gemma3", 128, 8, 0.0625f, 0.1f, 0.0f},
    {"tiny", "tiny qwen2 test", 512, 256, 3, 4, 2, 512, 256, 1000000.0f, 1e-6f, 1, 0.0f,
     "qwen2", 0, 0, 0.0625f, 0.1f, 0.1f},
    {"tiny", "tiny qwen3 test", 512, 256, 3, 4, 2, 512, 256, 1000000.0f, 1e-6f, 1, 0.0f,
     "qwen3", 128, 0, 0.0625f, 0.1f, 0.0f},
    {"tiny", "tiny phi3 test", 512, 256, 3, 4, 2, 512, 256, 10000.0f, 1e-5f, 0, 0.0f,
     "phi3", 0, 0, 0.0625f, 0.1f, 0.0f},
};
/* clang-format on */
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

static int same_nocase(const char *a, const char *b) {
    while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b))
        a++, b++;
    return !*a && !*b;
}

const llm_synth_shape *llm_synth_shape_find_arch(const char *arch, const char *name) {
    if (!arch || !name) return NULL;
    for (size_t i = 0; i < N_SHAPES; i++)
        if (same_nocase(shapes[i].arch, arch) && same_nocase(shapes[i].name, name))
            return &shapes[i];
    return NULL;
}

const llm_synth_shape *llm_synth_shape_find(const char *name) {
    return llm_synth_shape_find_arch("llama", name);
}

const char *llm_synth_arch_names(void) {
    return "llama, gemma3, qwen2, qwen3, phi3";
}

int llm_synth_arch_ok(const char *arch) {
    if (!arch) return 0;
    for (size_t i = 0; i < N_SHAPES; i++)
        if (same_nocase(shapes[i].arch, arch)) return 1;
    return 0;
}

const char *llm_synth_shape_names(void) {
    return "135m, 1b, 3b, 8b";
}

const char *llm_synth_shape_names_arch(const char *arch) {
    return arch && same_nocase(arch, "llama") ? "135m, 1b, 3b, 8b, tiny" : "tiny";
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

typedef enum synth_kind {
    SYNTH_RANDOM, /* N(0, w_std) */
    SYNTH_ONES,   /* 1 + N(0, norm_std): norm weights */
    SYNTH_BIAS,   /* N(0, bias_std) */
    SYNTH_ROPE    /* Llama 3 rope frequency divisors */
} synth_kind;

/* One tensor: [ne0] (a norm, a bias or rope frequency divisors) or [ne0, ne1] random rows. */
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

static int arch_is(const llm_synth_shape *s, const char *arch) {
    return !strcmp(s->arch, arch);
}

/* Head dimension: attention.key_length where the architecture has one, else n_embd / n_head. */
static uint64_t head_dim(const llm_synth_shape *s) {
    return (uint64_t)(s->head_dim ? s->head_dim : s->n_embd / s->n_head);
}

/* Appends tensor *n of the list (when out is not NULL): [a] when b is 0, else [a, b]. */
static void add_tensor(synth_tensor *out, size_t *n, const char *name, uint64_t a, uint64_t b,
                       synth_kind kind, int dtype, uint64_t seed) {
    if (out) {
        synth_tensor *t = &out[*n];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", name);
        t->n_dims = b ? 2 : 1;
        t->ne[0] = a, t->ne[1] = b ? b : 1;
        t->kind = kind;
        t->dtype = b ? dtype : LLM_DTYPE_F32;
        t->rng = clg_mix64(seed ^ clg_mix64((uint64_t)*n + 1)) | 1;
    }
    (*n)++;
}

/* The tensors of a shape: llama in the order llama.cpp's converter writes them; the others with
 * the names and shapes llama.cpp's loader asks for (ne[0] first):
 *   gemma3  attn_q [E, H*D], attn_k/v [E, KV*D], attn_q_norm/attn_k_norm [D], attn_output
 *           [H*D, E], post_attention_norm, ffn_norm, ffn_gate/up, ffn_down, post_ffw_norm [E];
 *           output tied to token_embd
 *   qwen2   llama's layer with attn_q/k/v.bias [H*D] / [KV*D]
 *   qwen3   llama's layer with attn_q_norm/attn_k_norm [D]
 *   phi3    attn_qkv [E, H*D + 2*KV*D] (rows: Q, then K, then V), ffn_up [E, 2F] (rows: gate,
 *           then up: ggml_swiglu applies SiLU to the first half), no ffn_gate; output.weight */
static size_t tensor_list(const llm_synth_shape *s, int dtype, uint64_t seed, synth_tensor *out) {
    const uint64_t E = (uint64_t)s->n_embd, F = (uint64_t)s->n_ff, D = head_dim(s),
                   Q = D * (uint64_t)s->n_head, KV = D * (uint64_t)s->n_head_kv;
    const int gemma3 = arch_is(s, "gemma3"), qwen2 = arch_is(s, "qwen2"),
              qwen3 = arch_is(s, "qwen3"), phi3 = arch_is(s, "phi3");
    size_t n = 0;
#define ADDK(nm, a, b, k) add_tensor(out, &n, nm, a, b, k, dtype, seed)
#define ADD(nm, a, b) ADDK(nm, a, b, (b) != 0 ? SYNTH_RANDOM : SYNTH_ONES)
    char nm[48];
    if (s->rope_factor > 0) {
        ADD("rope_freqs.weight", E / (uint64_t)s->n_head / 2, 0);
        if (out) out[n - 1].kind = SYNTH_ROPE;
    }
    ADD("token_embd.weight", E, (uint64_t)s->n_vocab);
    for (int i = 0; i < s->n_layer; i++) {
#define LAYER(suffix, a, b)                                                                        \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s.weight", i, suffix);                                    \
        ADD(nm, a, b);                                                                             \
    } while (0)
#define BIAS(suffix, a)                                                                            \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s.bias", i, suffix);                                      \
        ADDK(nm, a, 0, SYNTH_BIAS);                                                                \
    } while (0)
        LAYER("attn_norm", E, 0);
        if (phi3) {
            LAYER("attn_qkv", E, Q + 2 * KV);
        } else {
            LAYER("attn_q", E, Q);
            if (qwen2) BIAS("attn_q", Q);
            LAYER("attn_k", E, KV);
            if (qwen2) BIAS("attn_k", KV);
            LAYER("attn_v", E, KV);
            if (qwen2) BIAS("attn_v", KV);
        }
        if (gemma3 || qwen3) {
            LAYER("attn_q_norm", D, 0);
            LAYER("attn_k_norm", D, 0);
        }
        LAYER("attn_output", Q, E);
        if (gemma3) LAYER("post_attention_norm", E, 0);
        LAYER("ffn_norm", E, 0);
        if (phi3) {
            LAYER("ffn_up", E, 2 * F);
        } else {
            LAYER("ffn_gate", E, F);
            LAYER("ffn_up", E, F);
        }
        LAYER("ffn_down", F, E);
        if (gemma3) LAYER("post_ffw_norm", E, 0);
#undef LAYER
#undef BIAS
    }
    ADD("output_norm.weight", E, 0);
    if (!s->tied) ADD("output.weight", E, (uint64_t)s->n_vocab);
#undef ADD
#undef ADDK
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

/* Rows row0 .. row0 + n_rows - 1 of a tensor: N(0, std) by Irwin-Hall (the sum of four
 * 16-bit uniforms, standardised; std the shape's w_std, norm_std or bias_std by kind, norms
 * offset by 1), quantized row by row. Called in row order. */
static clg_status fill(void *user, uint64_t row0, uint64_t n_rows, void *dst) {
    synth_tensor *t = user;
    synth_job *job = t->job;
    const llm_synth_shape *s = job->shape;
    const size_t ne0 = (size_t)t->ne[0], rb = llm_dtype_row_bytes(t->dtype, t->ne[0]);
    (void)row0;
    for (uint64_t r = 0; r < n_rows; r++) {
        float *x = job->row;
        if (t->kind == SYNTH_ROPE) {
            rope_divisors(s, x, ne0);
        } else if (t->kind == SYNTH_ONES && s->norm_std == 0) {
            for (size_t i = 0; i < ne0; i++)
                x[i] = 1.0f;
        } else {
            const float sd = t->kind == SYNTH_RANDOM ? s->w_std
                             : t->kind == SYNTH_ONES ? s->norm_std
                                                     : s->bias_std;
            const float scale = sd * 1.7320508f / 65536.0f; /* sqrt(3) / 65536: unit variance */
            const float offset = t->kind == SYNTH_ONES ? 1.0f : 0.0f;
            for (size_t i = 0; i < ne0; i++) {
                uint64_t v = clg_rng_next(&t->rng);
                int32_t sum = (int32_t)(v & 0xffff) + (int32_t)((v >> 16) & 0xffff) +
                              (int32_t)((v >> 32) & 0xffff) + (int32_t)(v >> 48) - 131070;
                x[i] = offset + (float)sum * scale;
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

/* The vocabulary of n tokens as token strings, scores and types (llama.cpp's token types: 1
 * normal, 2 unknown, 3 control, 5 unused, 6 byte). */
typedef struct synth_vocab {
    char *text; /* the strings back to back */
    const char **strs;
    uint64_t *lens;
    float *scores;
    int32_t *types;
    char *merges_text; /* BPE only: "a b" merges */
    const char **merges;
    uint64_t *merge_lens;
    int n, n_merges;
} synth_vocab;

static void vocab_free(synth_vocab *v) {
    free(v->text);
    free(v->strs);
    free(v->lens);
    free(v->scores);
    free(v->types);
    free(v->merges_text);
    free(v->merges);
    free(v->merge_lens);
}

static clg_status vocab_alloc(synth_vocab *v, int n) {
    memset(v, 0, sizeof *v);
    v->n = n;
    v->text = malloc((size_t)n * 24);
    v->strs = malloc((size_t)n * sizeof *v->strs);
    v->lens = malloc((size_t)n * sizeof *v->lens);
    v->scores = calloc((size_t)n, sizeof *v->scores);
    v->types = malloc((size_t)n * sizeof *v->types);
    v->merges_text = malloc((size_t)n * 8);
    v->merges = malloc((size_t)n * sizeof *v->merges);
    v->merge_lens = malloc((size_t)n * sizeof *v->merge_lens);
    if (!v->text || !v->strs || !v->lens || !v->scores || !v->types || !v->merges_text ||
        !v->merges || !v->merge_lens) {
        vocab_free(v);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "synthetic tokenizer: %d tokens", n);
    }
    return CLG_OK;
}

/* GPT-2's byte-level alphabet (bytes_to_unicode): the printable Latin-1 bytes stand for
 * themselves, the others for U+0100 onwards in byte order. Writes the UTF-8 of byte b's
 * character to p (at most 2 bytes), returns its length. */
static int gpt2_byte_utf8(int b, char *p) {
    int cp;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
        cp = b;
    } else {
        int k = 0; /* rank of b among the non-printable bytes */
        for (int c = 0; c < b; c++)
            if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)))
                k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        p[0] = (char)cp;
        return 1;
    }
    p[0] = (char)(0xC0 | (cp >> 6));
    p[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* SentencePiece-style vocabularies ("llama" tokenizer model). llama / phi3: <unk>, <s>, </s>,
 * <0x00>..<0xFF>, the space piece U+2581 (so that text round-trips), then <unused_K> (type
 * UNUSED) up to n; phi3 ends with Phi-3's chat tokens (llama.cpp's vocabulary loader looks
 * them up for that architecture). gemma3 in Gemma's order: <pad>, <eos>, <bos>, <unk>, the
 * bytes, U+2581, unused tokens. */
static void vocab_spm(synth_vocab *v, int gemma, int phi3) {
    static const char *phi3_special[] = {"<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>",
                                         "<|user|>"};
    static const int phi3_types[] = {3, 4, 4, 4, 4};
    const int n_phi3 = phi3 ? 5 : 0;
    static const char *llama_special[] = {"<unk>", "<s>", "</s>"};
    static const int llama_types[] = {2, 3, 3};
    static const char *gemma_special[] = {"<pad>", "<eos>", "<bos>", "<unk>"};
    static const int gemma_types[] = {3, 3, 3, 2};
    const char **special = gemma ? gemma_special : llama_special;
    const int *stypes = gemma ? gemma_types : llama_types;
    const int n_special = gemma ? 4 : 3;
    size_t off = 0;
    for (int i = 0; i < v->n; i++) {
        char *p = v->text + off;
        int len;
        if (i < n_special)
            len = snprintf(p, 24, "%s", special[i]), v->types[i] = stypes[i];
        else if (i < n_special + 256)
            len = snprintf(p, 24, "<0x%02X>", i - n_special), v->types[i] = 6;
        else if (i == n_special + 256)
            len = snprintf(p, 24, "\xe2\x96\x81"), v->types[i] = 1; /* U+2581: space */
        else if (i >= v->n - n_phi3)
            len = snprintf(p, 24, "%s", phi3_special[i - (v->n - n_phi3)]),
            v->types[i] = phi3_types[i - (v->n - n_phi3)];
        else
            len = snprintf(p, 24, "<unused_%d>", i - n_special - 257), v->types[i] = 5;
        v->strs[i] = p;
        v->lens[i] = (uint64_t)len;
        off += (size_t)len;
    }
}

/* A byte-level BPE vocabulary ("gpt2" tokenizer model, Qwen's layout): the 256 byte
 * characters, then two-letter tokens "aa", "ab", ... with their merges "a a", "a b", ..., then
 * the control tokens <|endoftext|>, <|im_start|>, <|im_end|> at the end. */
static void vocab_bpe(synth_vocab *v) {
    static const char *special[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    const int n_special = 3, first_special = v->n - n_special;
    size_t off = 0, moff = 0;
    v->n_merges = 0;
    for (int i = 0; i < v->n; i++) {
        char *p = v->text + off;
        int len;
        v->types[i] = 1;
        if (i < 256) {
            len = gpt2_byte_utf8(i, p);
        } else if (i < first_special) {
            int k = i - 256;
            p[0] = (char)('a' + k / 26 % 26), p[1] = (char)('a' + k % 26), len = 2;
            char *m = v->merges_text + moff;
            m[0] = p[0], m[1] = ' ', m[2] = p[1];
            v->merges[v->n_merges] = m;
            v->merge_lens[v->n_merges++] = 3;
            moff += 3;
        } else {
            len = snprintf(p, 24, "%s", special[i - first_special]), v->types[i] = 3;
        }
        v->strs[i] = p;
        v->lens[i] = (uint64_t)len;
        off += (size_t)len;
    }
}

static clg_status add_tokenizer(llm_gguf_writer *w, const llm_synth_shape *s) {
    const int n = s->n_vocab, gemma = arch_is(s, "gemma3"),
              bpe = arch_is(s, "qwen2") || arch_is(s, "qwen3");
    synth_vocab v;
    clg_status st = vocab_alloc(&v, n);
    if (st) return st;
    if (bpe)
        vocab_bpe(&v);
    else
        vocab_spm(&v, gemma, arch_is(s, "phi3"));
    if ((st = llm_gguf_writer_add_str(w, "tokenizer.ggml.model", bpe ? "gpt2" : "llama")) ||
        (bpe && (st = llm_gguf_writer_add_str(w, "tokenizer.ggml.pre", "qwen2"))) ||
        (st = llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", v.strs, v.lens,
                                            (uint64_t)n)) ||
        (!bpe && (st = llm_gguf_writer_add_array(w, "tokenizer.ggml.scores", LLM_GGUF_FLOAT32,
                                                 v.scores, (uint64_t)n))) ||
        (st = llm_gguf_writer_add_array(w, "tokenizer.ggml.token_type", LLM_GGUF_INT32, v.types,
                                        (uint64_t)n)) ||
        (bpe && (st = llm_gguf_writer_add_str_array(w, "tokenizer.ggml.merges", v.merges,
                                                    v.merge_lens, (uint64_t)v.n_merges))))
        goto done;
    if (bpe) { /* Qwen: <|endoftext|> is BOS, EOS and padding; no BOS added */
        const uint32_t eot = (uint32_t)n - 3;
        if ((st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", eot)) ||
            (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", eot)) ||
            (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", eot)) ||
            (st = llm_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 0)))
            goto done;
    } else if (gemma) {
        if ((st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 2)) ||
            (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 1)) ||
            (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 3)) ||
            (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0)) ||
            (st = llm_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1)) ||
            (st = llm_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", 0)) ||
            (st = llm_gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", 0)))
            goto done;
    } else {
        if ((st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0)) ||
            (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1)) ||
            (st = llm_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2)) ||
            (st = llm_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1)) ||
            (st = llm_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", 0)))
            goto done;
    }
done:
    vocab_free(&v);
    return st;
}

/* Metadata under the architecture's prefix, as llama.cpp reads it for that architecture. */
static clg_status add_metadata(llm_gguf_writer *w, const llm_synth_shape *s, int dtype,
                               uint64_t seed) {
    char name[96], key[96];
    snprintf(name, sizeof name, "synthetic %s-shaped model (random weights)", s->model);
    const char *a = s->arch;
    const int llama = arch_is(s, "llama"), phi3 = arch_is(s, "phi3");
    clg_status st;
#define U32(suffix, v)                                                                             \
    (snprintf(key, sizeof key, "%s.%s", a, suffix), llm_gguf_writer_add_u32(w, key, (uint32_t)(v)))
#define F32(suffix, v)                                                                             \
    (snprintf(key, sizeof key, "%s.%s", a, suffix), llm_gguf_writer_add_f32(w, key, v))
    if ((st = llm_gguf_writer_add_str(w, "general.architecture", a)) ||
        (st = llm_gguf_writer_add_str(w, "general.type", "model")) ||
        (st = llm_gguf_writer_add_str(w, "general.name", name)) ||
        (st = llm_gguf_writer_add_u32(w, "general.file_type", file_type(dtype))) ||
        (st = U32("context_length", s->n_ctx_train)) || (st = U32("embedding_length", s->n_embd)) ||
        (st = U32("block_count", s->n_layer)) || (st = U32("feed_forward_length", s->n_ff)) ||
        (st = U32("attention.head_count", s->n_head)) ||
        (st = U32("attention.head_count_kv", s->n_head_kv)) ||
        (st = F32("rope.freq_base", s->rope_base)) ||
        (st = F32("attention.layer_norm_rms_epsilon", s->rms_eps)))
        return st;
    if ((llama || phi3) && (st = U32("rope.dimension_count", head_dim(s)))) return st;
    if (llama && (st = U32("vocab_size", s->n_vocab))) return st;
    if (s->head_dim && ((st = U32("attention.key_length", s->head_dim)) ||
                        (st = U32("attention.value_length", s->head_dim))))
        return st;
    if (s->sliding_window && (st = U32("attention.sliding_window", s->sliding_window))) return st;
#undef U32
#undef F32
    if ((st = llm_gguf_writer_add_str(w, "clgraph.synth.shape", s->name)) ||
        (st = llm_gguf_writer_add_u64(w, "clgraph.synth.seed", seed)))
        return st;
    if (dtype == LLM_DTYPE_Q8_0 || dtype == LLM_DTYPE_Q4_0 || dtype == LLM_DTYPE_Q4_1)
        if ((st = llm_gguf_writer_add_u32(w, "general.quantization_version", 2))) return st;
    return add_tokenizer(w, s);
}

clg_status llm_synth_write(const char *path, const char *shape, int dtype, uint64_t seed,
                           llm_synth_progress_fn progress, void *user) {
    return llm_synth_write_arch(path, "llama", shape, dtype, seed, progress, user);
}

clg_status llm_synth_write_arch(const char *path, const char *arch, const char *shape, int dtype,
                                uint64_t seed, llm_synth_progress_fn progress, void *user) {
    const llm_synth_shape *s = llm_synth_shape_find_arch(arch, shape);
    if (!path) return clg_fail(CLG_ERR_INVALID_ARG, "llm_synth_write: NULL path");
    if (!llm_synth_arch_ok(arch))
        return clg_fail(CLG_ERR_INVALID_ARG, "unknown synthetic architecture '%s' (known: %s)",
                        arch ? arch : "(null)", llm_synth_arch_names());
    if (!s)
        return clg_fail(CLG_ERR_INVALID_ARG, "unknown synthetic %s shape '%s' (known: %s)", arch,
                        shape ? shape : "(null)", llm_synth_shape_names_arch(arch));
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
    if ((size_t)head_dim(s) * (size_t)s->n_head > widest)
        widest = (size_t)head_dim(s) * (size_t)s->n_head;
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
