/* Loading a Llama-family model: GGUF validation, hyper-parameters, weights as FIRST_EXECUTION
 * buffers, then the step plans (graph.c) and the planner's choices (tune.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphs/llama/llama_impl.h"

int llm_act_from_name(const char *name) {
    return !strcmp(name, "auto")  ? LLM_ACT_AUTO
           : !strcmp(name, "f32") ? LLM_ACT_F32
           : !strcmp(name, "q8")  ? LLM_ACT_Q8
                                  : -1;
}

int llm_layout_from_name(const char *name) {
    return !strcmp(name, "auto")   ? LLM_LAYOUT_AUTO
           : !strcmp(name, "rows") ? LLM_LAYOUT_ROWS
           : !strcmp(name, "x8")   ? LLM_LAYOUT_X8
                                   : -1;
}

const char *llm_layout_name(int layout) {
    return layout == LLM_LAYOUT_AUTO   ? "auto"
           : layout == LLM_LAYOUT_ROWS ? "rows"
           : layout == LLM_LAYOUT_X8   ? "x8"
                                       : "?";
}

const char *llm_layout_how_name(int how) {
    static const char *const names[] = {"set", "default", "measured", "cached"};
    return how >= LLM_LAYOUT_SET && how <= LLM_LAYOUT_CACHED ? names[how] : "?";
}

llm_model_options llm_model_options_default(void) {
    llm_model_options o;
    memset(&o, 0, sizeof o);
    o.replay = -1;
    return o;
}

const llm_hparams *llm_model_hparams(const llm_model *m) {
    return &m->hp;
}
const llm_gguf *llm_model_gguf(const llm_model *m) {
    return m->gguf;
}
clg_context *llm_model_context(const llm_model *m) {
    return m->ctx;
}
int llm_model_n_seq(const llm_model *m) {
    return m->n_seq;
}
/* A kind (NULL: none) whose choice computes each row alone (llm_model_rows_invariant); the
 * attention's "group" computes each head as "row" does, to the bit (ops.attention). */
static int row_kind(const clg_kind *k) {
    const clg_choice *c = k ? clg_kind_choice(k) : NULL;
    return !k || (c &&
                  (!strcmp(c->variant, "row") || !strcmp(c->variant, "x8") ||
                   !strcmp(c->variant, "group")) &&
                  !c->alternative[0]);
}
int llm_model_rows_invariant(const llm_model *m) {
    const step_plan *const plans[2] = {&m->decode, &m->prefill};
    for (int p = 0; p < 2; p++) {
        const step_plan *sp = plans[p];
        if (!row_kind(sp->attn)) return 0;
        for (int e = 0; e < sp->n_mk; e++)
            if (!row_kind(sp->mk[e].kind)) return 0;
        for (int k = 0; k < NORM_KINDS; k++)
            if (!row_kind(sp->norm[k])) return 0;
    }
    return 1;
}
clg_plan *llm_model_plan(const llm_model *m) {
    return m->decode.plan;
}
const clg_planner *llm_model_planner(const llm_model *m) {
    return m->planner;
}

clg_plan *llm_model_step_plan(const llm_model *m, int which) {
    const step_plan *sp = which & 1 ? &m->prefill : &m->decode;
    return which & 2 ? sp->greedy_plan : sp->plan;
}

void llm_model_destroy(llm_model *m) {
    if (!m) return;
    clg_planner_destroy(m->planner);
    clg_context_destroy(m->ctx);
    if (m->lw)
        for (int i = 0; i < m->hp.n_layer; i++)
            for (int s = 0; s < 3; s++)
                free(m->lw[i].host[s]);
    free(m->lw);
    for (size_t i = 0; i < m->n_x8_host; i++)
        free(m->x8_host[i]);
    free(m->x8_host);
    free(m->decode.layers);
    free(m->prefill.layers);
    free(m->decode.calls);
    free(m->prefill.calls);
    free(m->tok_host);
    free(m->pos_host);
    free(m->seq_host);
    free(m->seq_dev);
    free(m->rows_host);
    free(m->rows_dev);
    free(m->seq_next);
    free(m->logits_host);
    free(m->token_host);
    free(m->rope_inv_host);
    free(m->rope_swa_host);
    llm_gguf_close(m->gguf);
    free(m);
}

/* ---- hyper-parameters and tensors -------------------------------------- */

static clg_status get_int(const llm_gguf *f, const char *key, int *out, int def) {
    uint32_t v;
    clg_status st = llm_gguf_get_u32(f, key, &v);
    if (st == CLG_ERR_NOT_FOUND && def >= 0) {
        *out = def;
        return CLG_OK;
    }
    if (st != CLG_OK) return st;
    if (v == 0 || v > (1u << 30))
        return clg_fail(CLG_ERR_FORMAT, "%s = %u is out of range", key, v);
    *out = (int)v;
    return CLG_OK;
}

/* A float that must be positive and finite (an epsilon, a base, a factor): a zero or a NaN
 * here would run and print garbage. */
static clg_status get_float(const llm_gguf *f, const char *key, float *out, float def) {
    clg_status st = llm_gguf_get_f32(f, key, out);
    if (st == CLG_ERR_NOT_FOUND) {
        *out = def;
        return CLG_OK;
    }
    if (st == CLG_OK && !(isfinite(*out) && *out > 0))
        return clg_fail(CLG_ERR_FORMAT, "%s = %g: it must be positive and finite", key,
                        (double)*out);
    return st;
}

/* The architectures: Llama's layer, and what each other one switches on (llama.cpp's
 * llama-model.cpp is the reference for each). */
static const llm_arch ARCHS[] = {
    /* Llama 2/3, SmolLM, TinyLlama, Mistral (with its sliding window where the file has one) */
    {.name = "llama", .swa = 1},
    {.name = "qwen2", .qkv_bias = 1, .rope_neox = 1},
    {.name = "qwen3", .qk_norm = 1, .rope_neox = 1},
    /* llama.cpp runs Phi-3 without its sliding window (disabled there), as here */
    {.name = "phi3", .fused_qkv = 1, .fused_gate_up = 1, .rope_neox = 1},
    {.name = "gemma3",
     .qk_norm = 1,
     .post_norms = 1,
     .gelu = 1,
     .embed_scale = 1,
     .rope_neox = 1,
     .swa = 1,
     .swa_period = 6,
     .swa_rope_base = 10000.0f},
};

static const llm_arch *find_arch(const llm_gguf_str *name) {
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strlen(ARCHS[i].name) == name->len && !memcmp(ARCHS[i].name, name->ptr, name->len))
            return &ARCHS[i];
    return NULL;
}

/* "<arch>.<key>" into buf. */
static const char *akey(const llm_arch *a, const char *key, char *buf, size_t cap) {
    snprintf(buf, cap, "%s.%s", a->name, key);
    return buf;
}

static clg_status read_hparams(const llm_gguf *f, llm_hparams *hp, const llm_arch **arch_out) {
    llm_gguf_str name;
    clg_status st = llm_gguf_get_str(f, "general.architecture", &name);
    if (st != CLG_OK) return st;
    const llm_arch *a = find_arch(&name);
    if (!a)
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "architecture '%.*s' is not supported (clgraph runs llama: Llama 2/3, "
                        "SmolLM, TinyLlama, Mistral; qwen2, qwen3, phi3 and gemma3)",
                        (int)(name.len > 64 ? 64 : name.len), name.ptr);
    *arch_out = a;
    char k1[96], k2[96];
    memset(hp, 0, sizeof *hp);
    if ((st = get_int(f, akey(a, "embedding_length", k1, sizeof k1), &hp->n_embd, -1)) ||
        (st = get_int(f, akey(a, "block_count", k1, sizeof k1), &hp->n_layer, -1)) ||
        (st = get_int(f, akey(a, "attention.head_count", k1, sizeof k1), &hp->n_head, -1)) ||
        (st = get_int(f, akey(a, "feed_forward_length", k1, sizeof k1), &hp->n_ff, -1)) ||
        (st = get_int(f, akey(a, "context_length", k1, sizeof k1), &hp->n_ctx_train, 2048)) ||
        (st = get_int(f, akey(a, "attention.head_count_kv", k1, sizeof k1), &hp->n_head_kv,
                      hp->n_head)))
        return st;
    if (hp->n_layer > 1024)
        return clg_fail(CLG_ERR_UNSUPPORTED, "%s.block_count = %d: at most 1024 layers", a->name,
                        hp->n_layer);
    if (hp->n_head % hp->n_head_kv)
        return clg_fail(CLG_ERR_FORMAT, "%d heads do not divide into %d KV heads", hp->n_head,
                        hp->n_head_kv);
    /* the head dimension is key_length where the file has it (Gemma: not n_embd / n_head) */
    int def_hd = hp->n_embd % hp->n_head ? -1 : hp->n_embd / hp->n_head, v_len = 0;
    if ((st = get_int(f, akey(a, "attention.key_length", k1, sizeof k1), &hp->head_dim, def_hd)))
        return st == CLG_ERR_NOT_FOUND
                   ? clg_fail(CLG_ERR_FORMAT,
                              "embedding length %d does not divide into %d heads and the file "
                              "has no %s",
                              hp->n_embd, hp->n_head, k1)
                   : st;
    if ((st = get_int(f, akey(a, "attention.value_length", k2, sizeof k2), &v_len, hp->head_dim)) ||
        (st = get_int(f, akey(a, "rope.dimension_count", k1, sizeof k1), &hp->n_rot, hp->head_dim)))
        return st;
    if (v_len != hp->head_dim)
        return clg_fail(CLG_ERR_UNSUPPORTED, "%s = %d differs from the key length %d", k2, v_len,
                        hp->head_dim);
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 || hp->head_dim % 2)
        return clg_fail(CLG_ERR_FORMAT, "%s %d vs head dimension %d (both even, rotated <= head)",
                        k1, hp->n_rot, hp->head_dim);
    if ((st = get_float(f, akey(a, "attention.layer_norm_rms_epsilon", k1, sizeof k1), &hp->rms_eps,
                        1e-5f)) ||
        (st = get_float(f, akey(a, "rope.freq_base", k1, sizeof k1), &hp->rope_base, 10000.0f)))
        return st;
    hp->rope_neox = a->rope_neox;
    hp->rope_scale = 1.0f;
    llm_gguf_str stype;
    if (llm_gguf_get_str(f, akey(a, "rope.scaling.type", k1, sizeof k1), &stype) == CLG_OK) {
        float factor = 1.0f;
        const int linear = stype.len == 6 && !memcmp(stype.ptr, "linear", 6);
        if (!linear && !(stype.len == 4 && !memcmp(stype.ptr, "none", 4)))
            return clg_fail(CLG_ERR_UNSUPPORTED, "%s '%.*s' is not supported (none and linear are)",
                            k1, (int)(stype.len > 32 ? 32 : stype.len), stype.ptr);
        if (linear) {
            if ((st = get_float(f, akey(a, "rope.scaling.factor", k1, sizeof k1), &factor, 1.0f)))
                return st;
            if (!isfinite(1.0f / factor))
                return clg_fail(CLG_ERR_FORMAT, "%s = %g: too small for linear scaling", k1,
                                (double)factor);
            hp->rope_scale = 1.0f / factor;
        }
    }
    if (a->swa) {
        uint32_t w;
        st = llm_gguf_get_u32(f, akey(a, "attention.sliding_window", k1, sizeof k1), &w);
        if (st == CLG_OK)
            hp->sliding_window = w > (1u << 30) ? 1 << 30 : (int)w;
        else if (st != CLG_ERR_NOT_FOUND)
            return st;
    }
    return CLG_OK;
}

/* The windowed layers' period: the architecture's, or the file's
 * <arch>.attention.sliding_window_pattern (n: layer i has the window when i % n < n - 1, as
 * llama.cpp reads it). */
static clg_status read_swa_period(const llm_gguf *f, const llm_arch *a, int *period) {
    char key[96];
    *period = a->swa_period;
    return get_int(f, akey(a, "attention.sliding_window_pattern", key, sizeof key), period,
                   a->swa_period);
}

/* Finds a tensor and checks its shape (ne0, ne1; ne1 = 0 for a vector) and type. */
static clg_status tensor(const llm_gguf *f, const char *name, uint64_t ne0, uint64_t ne1,
                         int matrix, const llm_gguf_tensor **out) {
    const llm_gguf_tensor *t = llm_gguf_find_tensor(f, name);
    *out = t;
    if (!t) return clg_fail(CLG_ERR_FORMAT, "tensor '%s' is missing from the model", name);
    int ok = matrix ? t->n_dims == 2 && t->ne[0] == ne0 && t->ne[1] == ne1
                    : t->n_dims == 1 && t->ne[0] == ne0;
    if (!ok)
        return clg_fail(CLG_ERR_FORMAT,
                        "tensor '%s' has shape [%llu, %llu] (%u dims), expected [%llu, %llu]", name,
                        (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], t->n_dims,
                        (unsigned long long)ne0, (unsigned long long)(matrix ? ne1 : 1));
    if (!matrix && t->dtype != LLM_DTYPE_F32)
        return clg_fail(CLG_ERR_UNSUPPORTED, "norm weight '%s' has type %s; f32 expected", name,
                        llm_dtype_name(t->dtype) ? llm_dtype_name(t->dtype) : "unknown");
    if (matrix && !llm_kernel_suffix(t->dtype))
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "tensor '%s' has type %s, which clgraph cannot run (its kernels take f32, "
                        "f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k)",
                        name, llm_dtype_name(t->dtype) ? llm_dtype_name(t->dtype) : "unknown");
    const size_t be = llm_dtype_block_elems(t->dtype);
    if (matrix && be > 1 && ne0 % be)
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "tensor '%s': rows of %llu elements are not whole %s blocks of %zu", name,
                        (unsigned long long)ne0, llm_dtype_name(t->dtype), be);
    return CLG_OK;
}

/* Whether any of n values of `bytes` bytes each (2 or 4) at p has all exponent bits set
 * (NaN or infinite): branch-free over the chunk, so the compiler vectorizes it. */
static int any_nonfinite(const unsigned char *p, size_t n, int bytes) {
    unsigned hit = 0;
    if (bytes == 4) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, p + 4 * i, 4);
            hit |= (u & 0x7f800000u) == 0x7f800000u;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t u;
            memcpy(&u, p + 2 * i, 2);
            hit |= (u & 0x7c00u) == 0x7c00u;
        }
    }
    return hit != 0;
}

/* The index of the first element of t that is NaN or infinite (of a quantized block: its
 * first element, where a scale is not finite), or -1. Reads bits: f32 and f16 in chunks
 * (the exact index only within a chunk that has one), of a quantized block its f16 scale
 * (q4_1: and minimum). */
static int64_t first_nonfinite(const llm_gguf_tensor *t) {
    enum { CHUNK = 4096 };
    const unsigned char *p = t->data;
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        n *= t->ne[d];
    uint16_t u16;
    switch (t->dtype) {
    case LLM_DTYPE_F32:
    case LLM_DTYPE_F16: {
        const int eb = t->dtype == LLM_DTYPE_F32 ? 4 : 2;
        for (uint64_t c = 0; c < n; c += CHUNK) {
            const size_t len = n - c < CHUNK ? (size_t)(n - c) : CHUNK;
            if (!any_nonfinite(p + c * (uint64_t)eb, len, eb)) continue;
            for (size_t i = 0;; i++)
                if (any_nonfinite(p + (c + i) * (uint64_t)eb, 1, eb)) return (int64_t)(c + i);
        }
        return -1;
    }
    case LLM_DTYPE_BF16: /* the exponent bits of each value */
        for (uint64_t i = 0; i < n; i++) {
            memcpy(&u16, p + 2 * i, 2);
            if ((u16 & 0x7f80u) == 0x7f80u) return (int64_t)i;
        }
        return -1;
    default: { /* the f16 scales of each block (and minimums) */
        size_t off[2] = {0, 0}, n_off = 1;
        if (t->dtype == LLM_DTYPE_Q4_1 || t->dtype == LLM_DTYPE_Q5_1 ||
            t->dtype == LLM_DTYPE_Q4_K || t->dtype == LLM_DTYPE_Q5_K)
            off[1] = 2, n_off = 2;
        else if (t->dtype == LLM_DTYPE_Q6_K)
            off[0] = 208; /* ql[128] qh[64] scales[16] d */
        else if (t->dtype != LLM_DTYPE_Q8_0 && t->dtype != LLM_DTYPE_Q4_0 &&
                 t->dtype != LLM_DTYPE_Q5_0)
            return -1;
        const size_t bb = llm_dtype_block_bytes(t->dtype), be = llm_dtype_block_elems(t->dtype);
        for (uint64_t b = 0; b < n / be; b++)
            for (size_t h = 0; h < n_off; h++) {
                memcpy(&u16, p + b * bb + off[h], 2);
                if ((u16 & 0x7c00u) == 0x7c00u) return (int64_t)(b * be);
            }
        return -1;
    }
    }
}

static clg_status check_finite(const llm_gguf_tensor *t) {
    int64_t i = first_nonfinite(t);
    if (i < 0) return CLG_OK;
    return clg_fail(
        CLG_ERR_FORMAT, "tensor '%.*s' (%s) holds a NaN or infinite value at element %lld%s",
        (int)(t->name.len > 90 ? 90 : t->name.len), t->name.ptr, llm_dtype_name(t->dtype),
        (long long)i,
        t->dtype == LLM_DTYPE_F32 || t->dtype == LLM_DTYPE_F16 || t->dtype == LLM_DTYPE_BF16
            ? ""
            : " (the scale of the block that starts there)");
}

/* Layers of the file: one more than the largest N of the blk.N.* tensors (0 when none). */
static int count_blocks(const llm_gguf *f) {
    long top = -1;
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++) {
        const llm_gguf_tensor *t = llm_gguf_tensor_at(f, i);
        if (t->name.len < 6 || memcmp(t->name.ptr, "blk.", 4)) continue;
        long n = 0;
        size_t j = 4;
        for (; j < t->name.len && t->name.ptr[j] >= '0' && t->name.ptr[j] <= '9' && n < 1000000;
             j++)
            n = n * 10 + (t->name.ptr[j] - '0');
        if (j > 4 && n > top) top = n;
    }
    return (int)(top + 1);
}

/* ---- weights ----------------------------------------------------------- */

#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((st = (call)) != CLG_OK) goto fail;                                                    \
    } while (0)

static clg_status weight_buffer(llm_model *m, const char *name, const void *data, size_t bytes,
                                clg_buffer **out) {
    return clg_buffer_create(m->ctx, name, bytes, CLG_TRANSFER_FIRST_EXECUTION, (void *)data, out);
}

/* The weight buffer of a product's matrix [rows, cols] of dtype: the file's bytes, or where
 * llm_w_x8 holds a repacked copy (owned by m until uploaded). */
static clg_status product_buffer(llm_model *m, const char *name, const void *data, int dtype,
                                 int rows, int cols, clg_buffer **out) {
    const size_t bytes = llm_dtype_row_bytes(dtype, (uint64_t)cols) * (size_t)rows;
    if (!llm_w_x8(m, dtype, rows)) return weight_buffer(m, name, data, bytes, out);
    if (m->n_x8_host == m->cap_x8_host) {
        size_t cap = m->cap_x8_host ? 2 * m->cap_x8_host : 16;
        void **p = realloc(m->x8_host, cap * sizeof *p);
        if (!p) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "%s: repacking", name);
        m->x8_host = p;
        m->cap_x8_host = cap;
    }
    void *copy = malloc(bytes);
    if (!copy) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "%s: %zu bytes to repack", name, bytes);
    m->x8_host[m->n_x8_host++] = copy;
    m->n_x8++;
    clg_status st = llm_repack_x8(dtype, data, copy, (size_t)rows, (size_t)cols);
    if (st != CLG_OK) return st;
    llm_gguf_release(m->gguf, data, bytes); /* the file's pages: the copy replaces them */
    return weight_buffer(m, name, copy, bytes, out);
}

/* Frees the repacked copy at host once its buffer is uploaded (nothing when host is none). */
static void free_x8_copy(llm_model *m, const void *host) {
    for (size_t i = 0; i < m->n_x8_host; i++)
        if (m->x8_host[i] == host) {
            free(m->x8_host[i]);
            m->x8_host[i] = m->x8_host[--m->n_x8_host];
            return;
        }
}

/* Frees the repacked host copies (uploaded, or the model is going). */
static void free_x8_host(llm_model *m) {
    for (size_t i = 0; i < m->n_x8_host; i++)
        free(m->x8_host[i]);
    m->n_x8_host = 0;
}

/* t's name into buf[96] */
static const char *tensor_name(const llm_gguf_tensor *t, char *buf) {
    snprintf(buf, 96, "%.*s", (int)(t->name.len > 90 ? 90 : t->name.len), t->name.ptr);
    return buf;
}

static clg_status tensor_buffer(llm_model *m, const llm_gguf_tensor *t, clg_buffer **out) {
    char name[96];
    return weight_buffer(m, tensor_name(t, name), t->data, (size_t)t->bytes, out);
}

/* Layer i's weight buffers (not its caches), n <= 16 of them, into out. */
static size_t layer_buffers(const layer_weights *w, clg_buffer *out[16]) {
    clg_buffer *all[] = {
        w->attn_norm, w->qkv[0].w,     w->qkv[1].w, w->qkv[2].w,       w->bq,       w->bk,   w->bv,
        w->q_norm,    w->k_norm,       w->wo,       w->post_attn_norm, w->ffn_norm, w->gate, w->up,
        w->down,      w->post_ffn_norm};
    size_t n = 0;
    for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
        if (all[j]) out[n++] = all[j];
    return n;
}

/* The weight types of layer i's products: q, k, v (a segment's for each), wo, FFN, down. */
static void layer_types(const layer_weights *w, int ty[6]) {
    ty[0] = w->qkv[0].dtype;
    ty[1] = w->qkv[w->n_qkv > 1].dtype;
    ty[2] = w->qkv[w->n_qkv - 1].dtype;
    ty[3] = w->wo_type;
    ty[4] = w->ffn_type;
    ty[5] = w->down_type;
}

/* Checks layer i's tensors (names, shapes, types, finite values) for the architecture,
 * records their types and Q/K/V segments and adds their bytes to *bytes; with alloc, creates
 * its weight buffers (the Q/K/V rows of one type concatenated into one matrix) and its KV
 * cache. */
static clg_status load_layer(llm_model *m, int i, int alloc, uint64_t *bytes) {
    const llm_hparams *hp = &m->hp;
    const llm_arch *a = m->arch;
    const llm_gguf *f = m->gguf;
    layer_weights *w = &m->lw[i];
    clg_status st;
    char name[96];
    const int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    const llm_gguf_tensor *t[16] = {0}; /* every tensor of the layer, for the checks */
    size_t nt = 0;
    const llm_gguf_tensor *tn1, *tqkv[3] = {0}, *to, *tn2, *tg = NULL, *tu, *td;
    const llm_gguf_tensor *tb[3] = {0}, *tqn = NULL, *tkn = NULL, *tpa = NULL, *tpf = NULL;
#define T_(var, suffix, ne0, ne1, mat)                                                             \
    snprintf(name, sizeof name, "blk.%d.%s", i, suffix);                                           \
    TRY(tensor(f, name, ne0, ne1, mat, &var));                                                     \
    t[nt++] = var
    /* feed_forward_length is only metadata: name it when the FFN tensors disagree */
    const uint64_t up_rows = (uint64_t)hp->n_ff * (a->fused_gate_up ? 2 : 1);
    snprintf(name, sizeof name, "blk.%d.%s.weight", i, a->fused_gate_up ? "ffn_up" : "ffn_gate");
    const llm_gguf_tensor *tff = llm_gguf_find_tensor(f, name);
    if (tff && tff->n_dims == 2 && tff->ne[0] == (uint64_t)hp->n_embd && tff->ne[1] != up_rows)
        return clg_fail(CLG_ERR_FORMAT,
                        "%s.feed_forward_length = %d but tensor '%s' has shape [%llu, %llu]: "
                        "%llu rows",
                        a->name, hp->n_ff, name, (unsigned long long)tff->ne[0],
                        (unsigned long long)tff->ne[1], (unsigned long long)tff->ne[1]);
    T_(tn1, "attn_norm.weight", hp->n_embd, 0, 0);
    if (a->fused_qkv) {
        T_(tqkv[0], "attn_qkv.weight", hp->n_embd, m->qkv_dim, 1);
    } else {
        T_(tqkv[0], "attn_q.weight", hp->n_embd, q_dim, 1);
        T_(tqkv[1], "attn_k.weight", hp->n_embd, kv_dim, 1);
        T_(tqkv[2], "attn_v.weight", hp->n_embd, kv_dim, 1);
    }
    if (a->qkv_bias) {
        T_(tb[0], "attn_q.bias", q_dim, 0, 0);
        T_(tb[1], "attn_k.bias", kv_dim, 0, 0);
        T_(tb[2], "attn_v.bias", kv_dim, 0, 0);
    }
    if (a->qk_norm) {
        T_(tqn, "attn_q_norm.weight", hp->head_dim, 0, 0);
        T_(tkn, "attn_k_norm.weight", hp->head_dim, 0, 0);
    }
    T_(to, "attn_output.weight", q_dim, hp->n_embd, 1);
    if (a->post_norms) {
        T_(tpa, "post_attention_norm.weight", hp->n_embd, 0, 0);
        T_(tpf, "post_ffw_norm.weight", hp->n_embd, 0, 0);
    }
    T_(tn2, "ffn_norm.weight", hp->n_embd, 0, 0);
    if (!a->fused_gate_up) {
        T_(tg, "ffn_gate.weight", hp->n_embd, hp->n_ff, 1);
    }
    T_(tu, "ffn_up.weight", hp->n_embd, up_rows, 1);
    T_(td, "ffn_down.weight", hp->n_ff, hp->n_embd, 1);
#undef T_
    if (!tg) tg = tu;
    /* Q/K/V: consecutive matrices of one type share a product; first[s] is segment s's first
     * matrix */
    const int rows[3] = {a->fused_qkv ? m->qkv_dim : q_dim, kv_dim, kv_dim};
    int first[4] = {0};
    w->n_qkv = 0;
    for (int j = 0, off = 0; j < 3 && tqkv[j]; off += rows[j], j++) {
        if (w->n_qkv && w->qkv[w->n_qkv - 1].dtype == tqkv[j]->dtype) {
            w->qkv[w->n_qkv - 1].rows += rows[j];
            continue;
        }
        first[w->n_qkv] = j;
        w->qkv[w->n_qkv++] = (qkv_segment){.dtype = tqkv[j]->dtype, .rows = rows[j], .off = off};
    }
    first[w->n_qkv] = a->fused_qkv ? 1 : 3;
    w->wo_type = to->dtype;
    w->ffn_type = tg->dtype;
    w->down_type = td->dtype;
    if (tg->dtype != tu->dtype)
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "layer %d: ffn_gate (%s) and ffn_up (%s) differ in type; the gated "
                        "feed-forward product needs one",
                        i, llm_dtype_name(tg->dtype), llm_dtype_name(tu->dtype));
    const int windowed =
        hp->sliding_window > 0 && (m->swa_period == 0 || i % m->swa_period != m->swa_period - 1);
    w->window = windowed ? hp->sliding_window : 0;
    if (!alloc) {
        for (size_t j = 0; j < nt; j++) {
            TRY(check_finite(t[j]));
            *bytes += t[j]->bytes;
        }
        return CLG_OK;
    }
    w->rope_inv_freq = windowed && m->rope_swa_freq ? m->rope_swa_freq : m->rope_inv_freq;
    for (int s = 0; s < w->n_qkv; s++) {
        size_t seg_bytes = 0;
        char letters[4] = {0};
        for (int j = first[s]; j < first[s + 1]; j++) {
            seg_bytes += (size_t)tqkv[j]->bytes;
            letters[j - first[s]] = "qkv"[j];
        }
        const void *data = tqkv[first[s]]->data;
        if (first[s + 1] - first[s] > 1) { /* several matrices: one copy */
            unsigned char *cat = malloc(seg_bytes);
            if (!cat)
                return clg_fail(CLG_ERR_OUT_OF_MEMORY, "layer %d: %zu bytes for fused Q/K/V", i,
                                seg_bytes);
            for (int j = first[s], done = 0; j < first[s + 1]; done += (int)tqkv[j]->bytes, j++)
                memcpy(cat + done, tqkv[j]->data, tqkv[j]->bytes);
            w->host[s] = cat;
            data = cat;
        }
        snprintf(name, sizeof name, "blk.%d.attn_%s.weight", i, a->fused_qkv ? "qkv" : letters);
        TRY(product_buffer(m, name, data, w->qkv[s].dtype, w->qkv[s].rows, hp->n_embd,
                           &w->qkv[s].w));
    }
    TRY(tensor_buffer(m, tn1, &w->attn_norm));
    if (a->qkv_bias) {
        TRY(tensor_buffer(m, tb[0], &w->bq));
        TRY(tensor_buffer(m, tb[1], &w->bk));
        TRY(tensor_buffer(m, tb[2], &w->bv));
    }
    if (a->qk_norm) {
        TRY(tensor_buffer(m, tqn, &w->q_norm));
        TRY(tensor_buffer(m, tkn, &w->k_norm));
    }
    TRY(product_buffer(m, tensor_name(to, name), to->data, to->dtype, hp->n_embd, q_dim, &w->wo));
    if (a->post_norms) {
        TRY(tensor_buffer(m, tpa, &w->post_attn_norm));
        TRY(tensor_buffer(m, tpf, &w->post_ffn_norm));
    }
    TRY(tensor_buffer(m, tn2, &w->ffn_norm));
    if (a->fused_gate_up) { /* gate rows, then up rows: each half of the tensor */
        const size_t half = (size_t)tu->bytes / 2;
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", i);
        TRY(product_buffer(m, name, tu->data, tu->dtype, hp->n_ff, hp->n_embd, &w->gate));
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", i);
        TRY(product_buffer(m, name, (const unsigned char *)tu->data + half, tu->dtype, hp->n_ff,
                           hp->n_embd, &w->up));
    } else {
        TRY(product_buffer(m, tensor_name(tg, name), tg->data, tg->dtype, hp->n_ff, hp->n_embd,
                           &w->gate));
        TRY(product_buffer(m, tensor_name(tu, name), tu->data, tu->dtype, hp->n_ff, hp->n_embd,
                           &w->up));
    }
    TRY(product_buffer(m, tensor_name(td, name), td->data, td->dtype, hp->n_embd, hp->n_ff,
                       &w->down));
    /* one region [n_head_kv, n_ctx, head_dim] per sequence */
    size_t cache_bytes = (size_t)m->n_seq * (size_t)hp->n_head_kv * (size_t)hp->n_ctx *
                         (size_t)hp->head_dim * (hp->kv_f16 ? sizeof(uint16_t) : sizeof(float));
    snprintf(name, sizeof name, "blk.%d.k_cache", i);
    TRY(clg_buffer_create(m->ctx, name, cache_bytes, CLG_TRANSFER_DEVICE_ONLY, NULL, &w->k_cache));
    snprintf(name, sizeof name, "blk.%d.v_cache", i);
    TRY(clg_buffer_create(m->ctx, name, cache_bytes, CLG_TRANSFER_DEVICE_ONLY, NULL, &w->v_cache));
    TRY(clg_buffer_zero(w->k_cache));
    TRY(clg_buffer_zero(w->v_cache));
    return CLG_OK;
fail:
    return st;
}

/* Bytes of host memory available now (MemAvailable of /proc/meminfo), or 0 where it cannot
 * be read. A CPU device's buffers (PoCL's) are host memory, which its reported global memory
 * does not track. Reads a file, no environment. */
static uint64_t host_available_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static double mib(uint64_t bytes) {
    return (double)bytes / (1024.0 * 1024.0);
}

/* The model's whole device allocation (weights, KV caches at n_ctx, activations for n_batch,
 * scratch) against the device's global memory (and on a CPU device the host's available
 * memory): refused before anything is allocated, with the largest context that fits. */
/* The per-step and activation buffers, in one list for creating them and for summing them in
 * check_memory; shapes with B = n_batch. The host pointers are valid once the staging exists. */
typedef struct act_buffer {
    const char *name;
    size_t bytes;
    clg_transfer policy;
    void *host;
    clg_buffer **out;
} act_buffer;

enum { MAX_ACT_BUFFERS = 16 };

static size_t act_buffers(llm_model *m, act_buffer out[MAX_ACT_BUFFERS]) {
    const llm_hparams *hp = &m->hp;
    const size_t B = (size_t)hp->n_batch, E = (size_t)hp->n_embd, F = sizeof(float);
    const size_t H = (size_t)m->head_rows;
    const size_t kv_dim = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    const clg_transfer step = CLG_TRANSFER_EVERY_EXECUTION, dev = CLG_TRANSFER_DEVICE_ONLY;
    int split_qkv = 0;
    for (int i = 0; i < hp->n_layer; i++)
        split_qkv |= m->lw[i].n_qkv > 1;
    const struct {
        int needed;
        act_buffer b;
    } all[MAX_ACT_BUFFERS] = {
        {1, {"tokens", B * 4, step, m->tok_host, &m->tokens}}, /* [B] int */
        {1, {"positions", B * 4, step, m->pos_host, &m->pos}}, /* [B] int */
        {1, {"sequences", B * 4, dev, NULL, &m->seq}},         /* [B] int */
        {1, {"head_rows", H * 4, dev, NULL, &m->rows}},        /* [H] int */
        {1, {"x", B * E * F, dev, NULL, &m->x}},               /* [B, n_embd] residual stream */
        {1, {"xn", B * E * F, dev, NULL, &m->xn}},             /* [B, n_embd] normed */
        {1, {"qkv", B * (size_t)m->qkv_dim * F, dev, NULL, &m->qkv}},
        {split_qkv, {"qkv_tmp", B * 2 * kv_dim * F, dev, NULL, &m->qkv_tmp}},
        {1, {"att", B * (size_t)(hp->n_head * hp->head_dim) * F, dev, NULL, &m->att}},
        {m->arch->post_norms, {"blk_out", B * E * F, dev, NULL, &m->blk_out}},
        {1, {"ffn_h", B * (size_t)hp->n_ff * F, dev, NULL, &m->ffh}},
        {1, {"x_last", H * E * F, dev, NULL, &m->last}}, /* [H, n_embd] */
        {1, {"logits", H * (size_t)hp->n_vocab * F, step, m->logits_host, &m->logits}},
        {1, {"logits_dev", H * (size_t)hp->n_vocab * F, dev, NULL, &m->logits_dev}},
        {1, {"token_out", H * sizeof(int32_t), step, m->token_host, &m->token_out}}, /* [H] */
        /* [n_head, attn_split, head_dim + 2] decode attention partials, when split */
        {m->attn_split > 1,
         {"attn_part", (size_t)hp->n_head * (size_t)m->attn_split * (size_t)(hp->head_dim + 2) * F,
          dev, NULL, &m->att_part}},
    };
    size_t n = 0;
    for (size_t i = 0; i < MAX_ACT_BUFFERS; i++)
        if (all[i].needed) out[n++] = all[i].b;
    return n;
}

static clg_status check_memory(llm_model *m, uint64_t weight_bytes) {
    const llm_hparams *hp = &m->hp;
    const clg_device_info *dev = clg_context_device(m->ctx);
    /* one layer's K (or V) cache per token of every sequence, in f32 */
    const uint64_t kv_row =
        (uint64_t)m->n_seq * (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim * 4;
    const uint64_t kv_per_ctx = 2 * (uint64_t)hp->n_layer * kv_row / (hp->kv_f16 ? 2 : 1);
    const uint64_t kv = kv_per_ctx * (uint64_t)hp->n_ctx;
    act_buffer ab[MAX_ACT_BUFFERS];
    uint64_t act = llm_gemm_scratch_bytes(m); /* w_f32, ffn_gu */
    for (size_t i = 0, n = act_buffers(m, ab); i < n; i++)
        act += ab[i].bytes;
    uint64_t have = dev->global_mem_size, host = 0;
    if (dev->type == CLG_DEVICE_CPU && (host = host_available_bytes()) > 0 && host < have)
        have = host;
    const uint64_t need = weight_bytes + kv + act;
    if (need <= have) return CLG_OK;

    char where[320];
    if (have == host)
        snprintf(where, sizeof where,
                 "%s has %.1f MiB (host memory available; global memory %.1f MiB)",
                 dev->device_name, mib(have), mib(dev->global_mem_size));
    else
        snprintf(where, sizeof where, "%s has %.1f MiB of global memory", dev->device_name,
                 mib(have));
    const uint64_t fixed = weight_bytes + act;
    if (fixed >= have)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY,
                        "the model needs %.1f MiB of device memory before any KV cache (weights "
                        "%.1f MiB, activations and scratch for a batch of %d %.1f MiB); %s",
                        mib(fixed), mib(weight_bytes), hp->n_batch, mib(act), where);
    /* the largest context: the total fits, and each layer's cache fits one allocation */
    uint64_t ctx32 = (have - fixed) / (2 * (uint64_t)hp->n_layer * kv_row),
             ctx16 = (have - fixed) / ((uint64_t)hp->n_layer * kv_row);
    if (ctx32 > dev->max_alloc_size / kv_row) ctx32 = dev->max_alloc_size / kv_row;
    if (ctx16 > dev->max_alloc_size / (kv_row / 2)) ctx16 = dev->max_alloc_size / (kv_row / 2);
    char fits[128];
    if (hp->kv_f16)
        snprintf(fits, sizeof fits, "--ctx %llu fits (KV in f16)", (unsigned long long)ctx16);
    else
        snprintf(fits, sizeof fits, "--ctx %llu fits, or --ctx %llu with --kv-f16",
                 (unsigned long long)ctx32, (unsigned long long)ctx16);
    return clg_fail(CLG_ERR_OUT_OF_MEMORY,
                    "the model needs %.1f MiB of device memory at --ctx %d (weights %.1f MiB, KV "
                    "caches k_cache/v_cache of %d sequence%s in %s %.1f MiB, activations and "
                    "scratch %.1f MiB); %s: %s",
                    mib(need), hp->n_ctx, mib(weight_bytes), m->n_seq, m->n_seq > 1 ? "s" : "",
                    hp->kv_f16 ? "f16" : "f32", mib(kv), mib(act), where, fits);
}

static void progress(const llm_model_options *o, const char *stage, size_t done, size_t total) {
    if (o->progress) o->progress(o->progress_user, stage, done, total);
}

clg_status llm_model_load(const char *path, const llm_model_options *opt, llm_model **out) {
    llm_model_options def = llm_model_options_default();
    return llm_load_layout(path, opt ? opt : &def, out);
}

llm_layout_choice llm_model_layout_choice(const llm_model *m) {
    return m->layout;
}

clg_status llm_model_load_as(const char *path, const llm_model_options *opt, llm_model **out) {
    *out = NULL;
    clg_status st;
    llm_model *m = calloc(1, sizeof *m);
    if (!m) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "model");
    m->gemm_mode = opt->prefill_gemm;
    m->replay = opt->replay;
    TRY(llm_gguf_open(path, &m->gguf));
    llm_hparams *hp = &m->hp;
    TRY(read_hparams(m->gguf, hp, &m->arch));
    TRY(read_swa_period(m->gguf, m->arch, &m->swa_period));
    const int n_blocks = count_blocks(m->gguf);
    if (n_blocks != hp->n_layer) {
        st = clg_fail(CLG_ERR_FORMAT,
                      "%s.block_count = %d but the file has blk.N tensors for %d layers "
                      "(blk.0 .. blk.%d)",
                      m->arch->name, hp->n_layer, n_blocks, n_blocks - 1);
        goto fail;
    }

    const llm_gguf_tensor *tok = llm_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!tok || tok->n_dims != 2 || tok->ne[0] != (uint64_t)hp->n_embd) {
        st = clg_fail(CLG_ERR_FORMAT, "tensor 'token_embd.weight' is missing or not [%d, n_vocab]",
                      hp->n_embd);
        goto fail;
    }
    hp->n_vocab = (int)tok->ne[1];
    /* The tokenizer is read by the caller (graphs/text); its vocabulary must be the
     * embedding's rows, or ids past either end reach the kernels or the detokenizer. */
    llm_gguf_type tok_et;
    uint64_t n_tokens;
    if (llm_gguf_get_array(m->gguf, "tokenizer.ggml.tokens", &tok_et, &n_tokens) == CLG_OK &&
        n_tokens != (uint64_t)hp->n_vocab) {
        st = clg_fail(CLG_ERR_FORMAT,
                      "tokenizer.ggml.tokens has %llu tokens but token_embd.weight has %d rows "
                      "(the vocabulary)",
                      (unsigned long long)n_tokens, hp->n_vocab);
        goto fail;
    }
    const llm_gguf_tensor *onorm, *outw = llm_gguf_find_tensor(m->gguf, "output.weight");
    TRY(tensor(m->gguf, "token_embd.weight", (uint64_t)hp->n_embd, (uint64_t)hp->n_vocab, 1, &tok));
    TRY(tensor(m->gguf, "output_norm.weight", (uint64_t)hp->n_embd, 0, 0, &onorm));
    if (outw)
        TRY(tensor(m->gguf, "output.weight", (uint64_t)hp->n_embd, (uint64_t)hp->n_vocab, 1,
                   &outw));
    hp->tied_embeddings = outw == NULL;
    const llm_gguf_tensor *rf = llm_gguf_find_tensor(m->gguf, "rope_freqs.weight");
    if (rf) {
        TRY(tensor(m->gguf, "rope_freqs.weight", (uint64_t)hp->n_rot / 2, 0, 0, &rf));
        for (int i = 0; i < hp->n_rot / 2; i++) {
            float v;
            memcpy(&v, (const float *)rf->data + i, sizeof v);
            if (!(isfinite(v) && v > 0)) {
                st = clg_fail(CLG_ERR_FORMAT,
                              "rope_freqs.weight[%d] = %g: frequency factors must be positive "
                              "and finite",
                              i, (double)v);
                goto fail;
            }
        }
    }
    uint64_t weight_bytes = tok->bytes + onorm->bytes + (outw ? outw->bytes : 0);
    TRY(check_finite(tok));
    TRY(check_finite(onorm));
    if (outw) TRY(check_finite(outw));

    hp->n_ctx = opt->n_ctx > 0 ? opt->n_ctx : (hp->n_ctx_train < 2048 ? hp->n_ctx_train : 2048);
    hp->kv_f16 = opt->kv_f16 != 0;
    hp->n_batch = opt->n_batch > 0 ? opt->n_batch : 64;
    if (hp->n_batch > hp->n_ctx) hp->n_batch = hp->n_ctx;
    if (opt->n_seq < 0) {
        st = clg_fail(CLG_ERR_INVALID_ARG, "n_seq = %d: a model keeps at least one sequence",
                      opt->n_seq);
        goto fail;
    }
    m->n_seq = opt->n_seq > 0 ? opt->n_seq : 1;
    m->head_rows = m->n_seq < hp->n_batch ? m->n_seq : hp->n_batch;
    m->qkv_dim = (hp->n_head + 2 * hp->n_head_kv) * hp->head_dim;

    /* Every layer's tensors, checked before anything is allocated. */
    m->lw = calloc((size_t)hp->n_layer, sizeof *m->lw);
    if (!m->lw) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "model host buffers");
        goto fail;
    }
    for (int i = 0; i < hp->n_layer; i++)
        TRY(load_layer(m, i, 0, &weight_bytes));
    hp->weight_type = m->lw[0].ffn_type;
    /* the layer products' types, once each, in the order they first appear */
    unsigned char seen[64] = {0};
    for (int i = 0; i < hp->n_layer; i++) {
        int ty[6];
        layer_types(&m->lw[i], ty);
        for (int j = 0; j < 6; j++) {
            size_t len = strlen(hp->weight_types);
            if (ty[j] < 0 || ty[j] >= 64 || seen[ty[j]]) continue;
            seen[ty[j]] = 1;
            snprintf(hp->weight_types + len, sizeof hp->weight_types - len, "%s%s", len ? "+" : "",
                     llm_dtype_name(ty[j]));
        }
    }
    m->tok_type = tok->dtype;
    m->out_type = outw ? outw->dtype : tok->dtype;

    clg_context_options co = clg_context_options_default();
    co.device = opt->device;
    co.build = opt->build;
    co.profiling = opt->profiling || opt->tune; /* the tuner times with profiling events */
    co.cache_dir = opt->cache_dir;
    co.kernel_dir = opt->kernel_dir;
    co.warn = opt->warn; /* a dropped program-cache entry, an ignored plan file */
    co.warn_user = opt->warn_user;
    TRY(clg_context_create(&co, &m->ctx));
    TRY(clg_context_add_kernel_files(m->ctx, llm_kernel_files()));
    m->is_gpu = clg_context_device(m->ctx)->type == CLG_DEVICE_GPU;
    TRY(clg_planner_create(m->ctx, NULL, &m->planner));

    /* 8-bit activations: where every layer product takes them and the largest token tile
     * fits the device's local memory; by default on CPUs only. */
    int q8_ok = 1, q8_type = -1; /* q8_type: a layer weight type that does not take them */
    for (int i = 0; i < hp->n_layer; i++) {
        int ty[6];
        layer_types(&m->lw[i], ty);
        for (int j = 0; j < 6; j++)
            if (!llm_q8_weight(ty[j])) q8_ok = 0, q8_type = ty[j];
    }
    size_t q8_need =
        llm_q8_tile_bytes(MM_TT_PREFILL, hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    uint64_t lmem = clg_context_device(m->ctx)->local_mem_size;
    if (opt->act == LLM_ACT_Q8 && !q8_ok) {
        st = clg_fail(CLG_ERR_UNSUPPORTED,
                      "8-bit activations need quantized layer weights (q8_0, q4_0, q4_1, q5_0, "
                      "q5_1, q4_k, q5_k, q6_k); this model has %s",
                      llm_dtype_name(q8_type));
        goto fail;
    }
    if (opt->act == LLM_ACT_Q8 && q8_need > lmem) {
        st =
            clg_fail(CLG_ERR_UNSUPPORTED,
                     "8-bit activations need %zu bytes of local memory per work-group; %s has %llu",
                     q8_need, clg_context_device(m->ctx)->device_name, (unsigned long long)lmem);
        goto fail;
    }
    hp->act_q8 = opt->act == LLM_ACT_Q8 ||
                 (opt->act == LLM_ACT_AUTO && !m->is_gpu && q8_ok && q8_need <= lmem);
    m->attn_split = opt->attn_split ? opt->attn_split : (m->is_gpu ? 8 : 1);
    if (opt->layout < LLM_LAYOUT_AUTO || opt->layout > LLM_LAYOUT_X8) {
        st = clg_fail(CLG_ERR_INVALID_ARG, "layout = %d: expected LLM_LAYOUT_AUTO, _ROWS or _X8",
                      opt->layout);
        goto fail;
    }
    hp->x8 = hp->act_q8 &&
             (opt->layout == LLM_LAYOUT_X8 || (opt->layout == LLM_LAYOUT_AUTO && !m->is_gpu));
    m->layout = (llm_layout_choice){.layout = hp->x8 ? LLM_LAYOUT_X8 : LLM_LAYOUT_ROWS,
                                    .how = opt->layout == LLM_LAYOUT_AUTO ? LLM_LAYOUT_DEFAULT
                                                                          : LLM_LAYOUT_SET};

    /* Everything the device will hold, against what it has, before allocating any of it. */
    TRY(check_memory(m, weight_bytes + ((uint64_t)hp->n_rot / 2 + 1) * sizeof(float)));

    /* Host staging, activations sized for the largest batch, weights. */
    m->tok_host = calloc((size_t)hp->n_batch, sizeof(int32_t));
    m->pos_host = calloc((size_t)hp->n_batch, sizeof(int32_t));
    m->seq_host = calloc((size_t)hp->n_batch, sizeof(int32_t));
    m->seq_dev = calloc((size_t)hp->n_batch, sizeof(int32_t));
    m->rows_host = calloc((size_t)hp->n_batch, sizeof(int32_t));
    m->rows_dev = calloc((size_t)m->head_rows, sizeof(int32_t));
    m->seq_next = calloc((size_t)m->n_seq, sizeof(int32_t));
    m->logits_host = calloc((size_t)m->head_rows * (size_t)hp->n_vocab, sizeof(float));
    m->token_host = calloc((size_t)m->head_rows, sizeof(int32_t));
    if (!m->tok_host || !m->pos_host || !m->seq_host || !m->seq_dev || !m->rows_host ||
        !m->rows_dev || !m->seq_next || !m->logits_host || !m->token_host) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "model host buffers");
        goto fail;
    }
    act_buffer ab[MAX_ACT_BUFFERS];
    for (size_t i = 0, n = act_buffers(m, ab); i < n; i++)
        TRY(clg_buffer_create(m->ctx, ab[i].name, ab[i].bytes, ab[i].policy, ab[i].host,
                              ab[i].out));
    /* every token in sequence 0, head row 0: as seq_dev and rows_dev say */
    TRY(clg_buffer_zero(m->seq));
    TRY(clg_buffer_zero(m->rows));
    /* a tied embedding is the output's matrix, in its layout (embed_TY_x8 reads x8) */
    char tname[96];
    if (outw)
        TRY(tensor_buffer(m, tok, &m->tok_embd));
    else
        TRY(product_buffer(m, tensor_name(tok, tname), tok->data, tok->dtype, hp->n_vocab,
                           hp->n_embd, &m->tok_embd));
    TRY(tensor_buffer(m, onorm, &m->out_norm_w));
    if (outw)
        TRY(product_buffer(m, tensor_name(outw, tname), outw->data, outw->dtype, hp->n_vocab,
                           hp->n_embd, &m->output));
    else
        m->output = m->tok_embd;
    /* RoPE angle per position of each pair, in double: Llama 3.1's rope_freqs.weight
     * divides the frequencies. */
    m->rope_inv_host = calloc((size_t)hp->n_rot / 2 + 1, sizeof(float)); /* never empty */
    if (!m->rope_inv_host) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "RoPE frequencies");
        goto fail;
    }
    for (int i = 0; i < hp->n_rot / 2; i++) {
        double f = hp->rope_scale * pow(hp->rope_base, -2.0 * i / hp->n_rot);
        m->rope_inv_host[i] = (float)(rf ? f / ((const float *)rf->data)[i] : f);
    }
    TRY(weight_buffer(m, "rope_inv_freq", m->rope_inv_host,
                      ((size_t)hp->n_rot / 2 + 1) * sizeof(float), &m->rope_inv_freq));
    /* Gemma 3's windowed layers: their own base, unscaled */
    if (hp->sliding_window > 0 && m->arch->swa_rope_base > 0) {
        float base = m->arch->swa_rope_base;
        char key[96];
        TRY(get_float(m->gguf, akey(m->arch, "rope.freq_base_swa", key, sizeof key), &base, base));
        m->rope_swa_host = calloc((size_t)hp->n_rot / 2 + 1, sizeof(float));
        if (!m->rope_swa_host) {
            st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "RoPE frequencies");
            goto fail;
        }
        for (int i = 0; i < hp->n_rot / 2; i++)
            m->rope_swa_host[i] = (float)pow(base, -2.0 * i / hp->n_rot);
        TRY(weight_buffer(m, "rope_swa_freq", m->rope_swa_host,
                          ((size_t)hp->n_rot / 2 + 1) * sizeof(float), &m->rope_swa_freq));
    }
    for (int i = 0; i < hp->n_layer; i++)
        TRY(load_layer(m, i, 1, NULL));

    TRY(llm_build_plans(m, opt->progress, opt->progress_user));

    /* Upload every weight now, with progress, rather than inside the first step; then the
     * host copies go: the fused Q/K/V matrices are freed and the file's pages released. */
    clg_buffer *top[5] = {m->tok_embd, m->out_norm_w, m->output, m->rope_inv_freq,
                          m->rope_swa_freq},
               *lb[16];
    size_t n_w = 0, done = 0;
    for (int i = 0; i < hp->n_layer; i++)
        n_w += layer_buffers(&m->lw[i], lb);
    n_w += m->rope_swa_freq ? 5 : 4;
    for (size_t i = 0; i < 5; i++) {
        if (!top[i]) continue;
        TRY(clg_buffer_prefetch(top[i]));
        llm_gguf_release(m->gguf, clg_buffer_host(top[i]), clg_buffer_size(top[i]));
        free_x8_copy(m, clg_buffer_host(top[i]));
        progress(opt, "uploading weights", ++done, n_w);
    }
    for (int i = 0; i < hp->n_layer; i++) {
        layer_weights *w = &m->lw[i];
        for (size_t j = 0, n = layer_buffers(w, lb); j < n; j++) {
            TRY(clg_buffer_prefetch(lb[j]));
            llm_gguf_release(m->gguf, clg_buffer_host(lb[j]), clg_buffer_size(lb[j]));
            free_x8_copy(m, clg_buffer_host(lb[j])); /* layer by layer: no second model */
            progress(opt, "uploading weights", ++done, n_w);
        }
        for (int s = 0; s < 3; s++) { /* uploaded */
            free(w->host[s]);
            w->host[s] = NULL;
        }
    }
    free_x8_host(m);
    if (opt->tune) progress(opt, "tuning kernels", 0, 1);
    TRY(llm_tune_plans(m, opt->tune));
    if (opt->tune) progress(opt, "tuning kernels", 1, 1);
    *out = m;
    return CLG_OK;
fail:
    llm_model_destroy(m);
    return st;
}

uint64_t llm_model_weight_bytes_per_token(const llm_model *m) {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < llm_gguf_tensor_count(m->gguf); i++) {
        const llm_gguf_tensor *t = llm_gguf_tensor_at(m->gguf, i);
        if (t->name.len == 17 && !memcmp(t->name.ptr, "token_embd.weight", 17) &&
            !m->hp.tied_embeddings)
            sum += t->ne[1] ? t->bytes / t->ne[1] : 0;
        else
            sum += t->bytes;
    }
    return sum;
}
