/* Llama-family models as task graphs: GGUF validation, weights as FIRST_EXECUTION
 * buffers, graphs embed -> layer.0 .. layer.N-1 -> logits, batched evaluation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphs/llama/llama_impl.h"

llm_model_options llm_model_options_default(void) {
    llm_model_options o;
    memset(&o, 0, sizeof o);
    o.replay = -1;
    return o;
}

const llm_hparams *llm_model_hparams(const llm_model *m) { return &m->hp; }
const llm_gguf *llm_model_gguf(const llm_model *m) { return m->gguf; }
clg_context *llm_model_context(const llm_model *m) { return m->ctx; }
clg_plan *llm_model_plan(const llm_model *m) { return m->decode.plan; }

void llm_model_destroy(llm_model *m) {
    if (!m) return;
    clg_context_destroy(m->ctx);
    if (m->qkv_host)
        for (int i = 0; i < m->hp.n_layer; i++) free(m->qkv_host[i]);
    free(m->qkv_host);
    free(m->lw);
    free(m->decode.layers);
    free(m->prefill.layers);
    free(m->decode.calls);
    free(m->prefill.calls);
    free(m->tok_host);
    free(m->pos_host);
    free(m->logits_host);
    free(m->rope_inv_host);
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
    if (v == 0 || v > (1u << 30)) return clg_fail(CLG_ERR_FORMAT, "%s = %u is out of range", key, v);
    *out = (int)v;
    return CLG_OK;
}

static clg_status get_float(const llm_gguf *f, const char *key, float *out, float def) {
    clg_status st = llm_gguf_get_f32(f, key, out);
    if (st == CLG_ERR_NOT_FOUND) {
        *out = def;
        return CLG_OK;
    }
    return st;
}

static clg_status read_hparams(const llm_gguf *f, llm_hparams *hp) {
    llm_gguf_str arch;
    clg_status st = llm_gguf_get_str(f, "general.architecture", &arch);
    if (st != CLG_OK) return st;
    if (arch.len != 5 || memcmp(arch.ptr, "llama", 5))
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "architecture '%.*s' is not supported (clgraph runs general.architecture "
                        "= llama: Llama 2/3, SmolLM, TinyLlama, Mistral)",
                        (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    memset(hp, 0, sizeof *hp);
    if ((st = get_int(f, "llama.embedding_length", &hp->n_embd, -1)) ||
        (st = get_int(f, "llama.block_count", &hp->n_layer, -1)) ||
        (st = get_int(f, "llama.attention.head_count", &hp->n_head, -1)) ||
        (st = get_int(f, "llama.feed_forward_length", &hp->n_ff, -1)) ||
        (st = get_int(f, "llama.context_length", &hp->n_ctx_train, 2048)) ||
        (st = get_int(f, "llama.attention.head_count_kv", &hp->n_head_kv, hp->n_head)))
        return st;
    if (hp->n_layer > 1024)
        return clg_fail(CLG_ERR_UNSUPPORTED, "llama.block_count = %d: at most 1024 layers", hp->n_layer);
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        return clg_fail(CLG_ERR_FORMAT, "embedding length %d, %d heads, %d KV heads do not divide",
                        hp->n_embd, hp->n_head, hp->n_head_kv);
    if ((st = get_int(f, "llama.attention.key_length", &hp->head_dim, hp->n_embd / hp->n_head)) ||
        (st = get_int(f, "llama.rope.dimension_count", &hp->n_rot, hp->head_dim)))
        return st;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 || hp->head_dim % 2)
        return clg_fail(CLG_ERR_FORMAT, "llama.rope.dimension_count %d vs head dimension %d (both even, rotated <= head)",
                        hp->n_rot, hp->head_dim);
    if ((st = get_float(f, "llama.attention.layer_norm_rms_epsilon", &hp->rms_eps, 1e-5f)) ||
        (st = get_float(f, "llama.rope.freq_base", &hp->rope_base, 10000.0f)))
        return st;
    hp->rope_scale = 1.0f;
    llm_gguf_str stype;
    if (llm_gguf_get_str(f, "llama.rope.scaling.type", &stype) == CLG_OK) {
        float factor = 1.0f;
        if ((st = get_float(f, "llama.rope.scaling.factor", &factor, 1.0f))) return st;
        if (stype.len == 6 && !memcmp(stype.ptr, "linear", 6) && factor > 0) hp->rope_scale = 1.0f / factor;
        else if (!(stype.len == 4 && !memcmp(stype.ptr, "none", 4)))
            return clg_fail(CLG_ERR_UNSUPPORTED, "rope scaling '%.*s' is not supported (linear is)",
                            (int)(stype.len > 32 ? 32 : stype.len), stype.ptr);
    }
    return CLG_OK;
}

const char *llm_kernel_suffix(int dtype) {
    switch (dtype) {
    case LLM_DTYPE_F32: return "f32";
    case LLM_DTYPE_F16: return "f16";
    case LLM_DTYPE_Q8_0: return "q8_0";
    case LLM_DTYPE_Q4_0: return "q4_0";
    case LLM_DTYPE_Q4_1: return "q4_1";
    default: return NULL;
    }
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
        return clg_fail(CLG_ERR_FORMAT, "tensor '%s' has shape [%llu, %llu] (%u dims), expected [%llu, %llu]",
                        name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], t->n_dims,
                        (unsigned long long)ne0, (unsigned long long)(matrix ? ne1 : 1));
    if (!matrix && t->dtype != LLM_DTYPE_F32)
        return clg_fail(CLG_ERR_UNSUPPORTED, "norm weight '%s' has type %s; f32 expected", name,
                        llm_dtype_name(t->dtype) ? llm_dtype_name(t->dtype) : "unknown");
    if (matrix && !llm_kernel_suffix(t->dtype))
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "tensor '%s' has type %s, which the OpenCL kernels do not support yet "
                        "(f32, f16, q8_0, q4_0, q4_1); convert with 'clgraph quantize'",
                        name, llm_dtype_name(t->dtype) ? llm_dtype_name(t->dtype) : "unknown");
    if (matrix && t->dtype != LLM_DTYPE_F32 && t->dtype != LLM_DTYPE_F16 && ne0 % 32)
        return clg_fail(CLG_ERR_UNSUPPORTED, "tensor '%s': rows of %llu elements are not whole blocks",
                        name, (unsigned long long)ne0);
    return CLG_OK;
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

static clg_status tensor_buffer(llm_model *m, const llm_gguf_tensor *t, clg_buffer **out) {
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)(t->name.len > 90 ? 90 : t->name.len), t->name.ptr);
    return weight_buffer(m, name, t->data, (size_t)t->bytes, out);
}

/* Checks layer i's tensors and creates its weight buffers (Q/K/V fused into one
 * matrix by concatenating rows) and its KV cache. */
static clg_status load_layer(llm_model *m, int i) {
    const llm_hparams *hp = &m->hp;
    const llm_gguf *f = m->gguf;
    layer_weights *w = &m->lw[i];
    clg_status st;
    char name[96];
    const int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    const llm_gguf_tensor *tn1, *tq, *tk, *tv, *to, *tn2, *tg, *tu, *td;
#define T_(var, suffix, ne0, ne1, mat)                                                             \
    snprintf(name, sizeof name, "blk.%d.%s.weight", i, suffix);                                    \
    TRY(tensor(f, name, ne0, ne1, mat, &var))
    T_(tn1, "attn_norm", hp->n_embd, 0, 0);
    T_(tq, "attn_q", hp->n_embd, q_dim, 1);
    T_(tk, "attn_k", hp->n_embd, kv_dim, 1);
    T_(tv, "attn_v", hp->n_embd, kv_dim, 1);
    T_(to, "attn_output", q_dim, hp->n_embd, 1);
    T_(tn2, "ffn_norm", hp->n_embd, 0, 0);
    T_(tg, "ffn_gate", hp->n_embd, hp->n_ff, 1);
    T_(tu, "ffn_up", hp->n_embd, hp->n_ff, 1);
    T_(td, "ffn_down", hp->n_ff, hp->n_embd, 1);
#undef T_
    if (tq->dtype != tk->dtype || tq->dtype != tv->dtype || tg->dtype != tu->dtype)
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "layer %d mixes weight types (q %s, k %s, v %s, gate %s, up %s); the fused "
                        "Q/K/V and gate/up products need one type each",
                        i, llm_dtype_name(tq->dtype), llm_dtype_name(tk->dtype),
                        llm_dtype_name(tv->dtype), llm_dtype_name(tg->dtype), llm_dtype_name(tu->dtype));
    size_t qkv_bytes = (size_t)(tq->bytes + tk->bytes + tv->bytes);
    unsigned char *cat = malloc(qkv_bytes);
    if (!cat) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "layer %d: %zu bytes for fused Q/K/V", i, qkv_bytes);
    memcpy(cat, tq->data, tq->bytes);
    memcpy(cat + tq->bytes, tk->data, tk->bytes);
    memcpy(cat + tq->bytes + tk->bytes, tv->data, tv->bytes);
    m->qkv_host[i] = cat;
    w->qkv_type = tq->dtype;
    w->wo_type = to->dtype;
    w->ffn_type = tg->dtype;
    w->down_type = td->dtype;

    snprintf(name, sizeof name, "blk.%d.attn_qkv.weight", i);
    TRY(weight_buffer(m, name, cat, qkv_bytes, &w->qkv));
    TRY(tensor_buffer(m, tn1, &w->attn_norm));
    TRY(tensor_buffer(m, to, &w->wo));
    TRY(tensor_buffer(m, tn2, &w->ffn_norm));
    TRY(tensor_buffer(m, tg, &w->gate));
    TRY(tensor_buffer(m, tu, &w->up));
    TRY(tensor_buffer(m, td, &w->down));
    size_t cache_bytes = (size_t)hp->n_head_kv * (size_t)hp->n_ctx * (size_t)hp->head_dim *
                         (hp->kv_f16 ? sizeof(uint16_t) : sizeof(float));
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

/* ---- work sizes ---------------------------------------------------------
 * Tunables stay at the .cl defaults except the product's token tile; the planner
 * will choose them per device. CPU devices get the row-per-work-item variants
 * with explicit local sizes (PoCL compiles a work-group function per local size:
 * letting it choose from a varying global size means a compile per batch size). */

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* Global g rounded up to the local sizes l (every kernel bounds-checks its ids). */
static clg_status set_range(clg_task *t, unsigned dims, size_t g0, size_t g1, size_t g2,
                            size_t l0, size_t l1, size_t l2) {
    size_t g[3] = {round_up(g0, l0), round_up(g1, l1), round_up(g2, l2)}, l[3] = {l0, l1, l2};
    return clg_task_set_range(t, dims, g, l);
}

const char *llm_mm_kind_name(mm_kind k) {
    static const char *names[MM_KINDS] = {"qkv", "attn_output", "ffn_swiglu", "ffn_down", "output"};
    return k < MM_KINDS ? names[k] : "?";
}

void llm_mm_cfg_label(mm_cfg *c) {
    if (c->blas) snprintf(c->label, sizeof c->label, "clblast sgemm");
    else if (c->q8) snprintf(c->label, sizeof c->label, "q8 row local %zu", c->local);
    else if (c->wg) snprintf(c->label, sizeof c->label, "wg %d", c->wg);
    else snprintf(c->label, sizeof c->label, "row local %zu", c->local);
}

int llm_mm_dtype(const llm_model *m, mm_kind k) {
    const layer_weights *w = &m->lw[0];
    return k == MM_QKV ? w->qkv_type : k == MM_WO ? w->wo_type : k == MM_FFN ? w->ffn_type
         : k == MM_DOWN ? w->down_type : m->out_type;
}

static int q8_type(int dtype) {
    return dtype == LLM_DTYPE_Q8_0 || dtype == LLM_DTYPE_Q4_0 || dtype == LLM_DTYPE_Q4_1;
}

int llm_act_from_name(const char *name) {
    return !strcmp(name, "auto") ? LLM_ACT_AUTO : !strcmp(name, "f32") ? LLM_ACT_F32 : !strcmp(name, "q8") ? LLM_ACT_Q8 : -1;
}

int llm_mm_q8(const llm_model *m, mm_kind k) { return m->hp.act_q8 && q8_type(llm_mm_dtype(m, k)); }

static int mm_rows(const llm_model *m, mm_kind k) {
    return k == MM_QKV ? m->qkv_dim : k == MM_FFN ? m->hp.n_ff : k == MM_OUT ? m->hp.n_vocab : m->hp.n_embd;
}

/* Bytes of the __local quantized token tile of a cl/matmul_q8.cl product (MQ_SCRATCH_BYTES). */
static size_t q8_scratch(int tile, int cols) { return (size_t)tile * (size_t)cols * 2 + (size_t)tile * (size_t)(cols / 32) * 8; }

clg_status llm_mm_cfg_default(const llm_model *m, const step_plan *sp, mm_kind k, mm_cfg *c) {
    memset(c, 0, sizeof *c);
    if (llm_mm_q8(m, k)) {
        /* Each work-group quantizes the tile again, and each costs the driver a dispatch:
         * few large groups, about two per compute unit, of a multiple of 32 rows up to
         * 256 (matmul_q8.cl: on PoCL's 2 threads the 576-row products ran 15-18% faster
         * in 3 groups of 192 than in 9 of 64). */
        char name[64];
        mm_cfg probe = {.q8 = 1};
        size_t lim = clg_program_max_local(sp->matmul_q8, llm_mm_kernel(m, &probe, k, name, sizeof name));
        if (lim == 0) return clg_fail(CLG_ERR_NOT_FOUND, "no kernel %s in cl/matmul_q8.cl", name);
        size_t cu = clg_context_device(m->ctx)->compute_units, rows = (size_t)mm_rows(m, k);
        size_t per = 2 * (cu ? cu : 1), l = (rows + per - 1) / per;
        l = l < 32 ? 32 : l > 256 ? 256 : (l + 31) / 32 * 32;
        if (l > lim) l = lim;
        c->q8 = 1;
        c->prog = sp->matmul_q8;
        c->local = l;
        c->best_ns = c->runner_ns = -1;
        llm_mm_cfg_label(c);
        return CLG_OK;
    }
    c->prog = sp->matmul; /* a sweep's first value is the file's MM_WG, as sp->matmul is built */
    c->best_ns = c->runner_ns = -1;
    clg_variant v;
    clg_status st = llm_declared_default(m, sp->matmul, "matmul", &v);
    if (st != CLG_OK) return st;
    if (v.n_local) c->local = v.local[0];
    else c->wg = v.values[0];
    llm_mm_cfg_label(c);
    return CLG_OK;
}

void llm_mm_ndrange(const step_plan *sp, const mm_cfg *c, int rows, int T, size_t global[3],
                    size_t local[3]) {
    size_t l0 = c->wg ? (size_t)c->wg : c->local;
    global[0] = c->wg ? (size_t)rows * l0 : round_up((size_t)rows, l0);
    global[1] = (size_t)(T + sp->tile - 1) / (size_t)sp->tile;
    global[2] = 1;
    local[0] = l0;
    local[1] = local[2] = 1;
}

clg_status llm_mm_range(const step_plan *sp, mm_kind k, clg_task *t, int rows, int T) {
    size_t g[3], l[3];
    llm_mm_ndrange(sp, &sp->cfg[k], rows, T, g, l);
    return clg_task_set_range(t, 2, g, l);
}

const char *llm_mm_kernel(const llm_model *m, const mm_cfg *c, mm_kind k, char *buf, size_t cap) {
    const char *norm = k == MM_QKV || k == MM_FFN || k == MM_OUT ? "_norm" : "";
    snprintf(buf, cap, "%s_%s%s%s", k == MM_FFN ? "ffn_swiglu" : "matmul", llm_kernel_suffix(llm_mm_dtype(m, k)),
             c->q8 ? "_q8" : c->wg ? "_wg" : "", c->q8 ? norm : "");
    return buf;
}

size_t llm_mm_tasks(const llm_model *m, const step_plan *sp, mm_kind k, clg_task **out, int *rows) {
    const llm_hparams *hp = &m->hp;
    if (k == MM_OUT) {
        out[0] = sp->head[0].out_logits;
        out[1] = sp->head[1].out_logits;
        *rows = hp->n_vocab;
        return 2;
    }
    for (int i = 0; i < hp->n_layer; i++) {
        const layer_tasks *L = &sp->layers[i];
        out[i] = k == MM_QKV ? L->qkv : k == MM_WO ? L->wo : k == MM_FFN ? L->ffn : L->down;
    }
    *rows = k == MM_QKV ? m->qkv_dim : k == MM_FFN ? hp->n_ff : hp->n_embd;
    return (size_t)hp->n_layer;
}

/* The attention's NDRange follows the plan's choice (llm_op_range), as the norms' do. */
static clg_status range_attn(llm_model *m, const step_plan *sp, const layer_tasks *L, int T) {
    clg_status st = llm_op_range(m, sp, OP_ATTN, L->attn, T);
    if (st == CLG_OK && L->attn_merge) { /* the split's merge over (head_dim, heads, T) */
        st = clg_task_arg_int(L->attn_merge, 2, T);
        if (st == CLG_OK)
            st = set_range(L->attn_merge, 3, (size_t)m->hp.head_dim, (size_t)m->hp.n_head, (size_t)T,
                           CPU_LOCAL, 1, 1);
    }
    return st;
}

clg_status llm_set_batch(llm_model *m, step_plan *sp, int T) {
    const llm_hparams *hp = &m->hp;
    const size_t hd2 = (size_t)hp->head_dim / 2;
    clg_status st;
    TRY(clg_task_arg_int(sp->embed, 4, T));
    TRY(set_range(sp->embed, 2, (size_t)hp->n_embd, (size_t)T, 1, CPU_LOCAL, 1, 1));
    for (int i = 0; i < hp->n_layer; i++) {
        layer_tasks *L = &sp->layers[i];
        if (L->attn_norm) { /* absent when fused into the qkv product */
            TRY(clg_task_arg_int(L->attn_norm, 5, T));
            TRY(llm_op_range(m, sp, OP_ATTN_NORM, L->attn_norm, T));
        }
        TRY(clg_task_arg_int(L->qkv, 5, T));
        TRY(llm_mm_range(sp, MM_QKV, L->qkv, m->qkv_dim, T));
        TRY(clg_task_arg_int(L->rope_kv, 5, T));
        TRY(set_range(L->rope_kv, 2, hd2, (size_t)T, 1, hd2, 1, 1));
        TRY(clg_task_arg_int(L->attn, 5, T));
        TRY(range_attn(m, sp, L, T));
        TRY(clg_task_arg_int(L->wo, 5, T));
        TRY(llm_mm_range(sp, MM_WO, L->wo, hp->n_embd, T));
        if (L->ffn_norm) {
            TRY(clg_task_arg_int(L->ffn_norm, 5, T));
            TRY(llm_op_range(m, sp, OP_FFN_NORM, L->ffn_norm, T));
        }
        TRY(clg_task_arg_int(L->ffn, 6, T));
        TRY(llm_mm_range(sp, MM_FFN, L->ffn, hp->n_ff, T));
        TRY(clg_task_arg_int(L->down, 5, T));
        TRY(llm_mm_range(sp, MM_DOWN, L->down, hp->n_embd, T));
    }
    TRY(llm_gemm_set_batch(m, sp, T));
    for (int h = 0; h < 2; h++) {
        TRY(clg_task_arg_int(sp->head[h].copy_last, 3, T - 1));
        TRY(llm_mm_range(sp, MM_OUT, sp->head[h].out_logits, hp->n_vocab, 1));
    }
    sp->cur_T = T;
    return CLG_OK;
fail:
    return st;
}

/* ---- graphs -------------------------------------------------------------- */

typedef struct builder {
    llm_model *m;
    step_plan *sp;
    clg_program *embed, *rope, *attn, *rows, *argmax;
} builder;

/* The arguments after the ones both product families share: with 8-bit activations
 * (norm weight gw, eps where the norm is fused,) then the __local token tile. */
static clg_status q8_args(builder *b, clg_task *t, unsigned i, clg_buffer *gw, int cols) {
    clg_status st;
    if (gw) {
        TRY(clg_task_arg_buffer(t, i++, gw, CLG_READ));
        TRY(clg_task_arg_float(t, i++, b->m->hp.rms_eps));
    }
    return clg_task_arg_local(t, i, q8_scratch(b->sp->tile, cols));
fail:
    return st;
}

/* y = W x (+ y): (W, x, y, rows, cols, T, x_stride, y_stride, accumulate); with 8-bit
 * activations and gw given, y = W rmsnorm(x) gw (+ y). */
static clg_status matmul_task(builder *b, clg_graph *g, mm_kind kind, clg_buffer *w, clg_buffer *x,
                              clg_buffer *y, int rows, int cols, int accumulate, clg_buffer *gw,
                              clg_task **out) {
    clg_status st;
    clg_task *t;
    char k[64];
    const mm_cfg *c = &b->sp->cfg[kind];
    TRY(clg_graph_add_task(g, llm_mm_kind_name(kind), c->prog, llm_mm_kernel(b->m, c, kind, k, sizeof k), &t));
    TRY(clg_task_arg_buffer(t, 0, w, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, x, CLG_READ));
    TRY(clg_task_arg_buffer(t, 2, y, accumulate ? CLG_READ_WRITE : CLG_WRITE));
    TRY(clg_task_arg_int(t, 3, rows));
    TRY(clg_task_arg_int(t, 4, cols));
    TRY(clg_task_arg_int(t, 5, 1));
    TRY(clg_task_arg_int(t, 6, cols));
    TRY(clg_task_arg_int(t, 7, rows));
    TRY(clg_task_arg_int(t, 8, accumulate));
    if (c->q8) TRY(q8_args(b, t, 9, gw, cols));
    *out = t;
    return CLG_OK;
fail:
    return st;
}

/* y = rmsnorm(x) * w: (x, w, y, n, eps, T), with the plan's variant of norm kind k */
static clg_status norm_task(builder *b, clg_graph *g, const char *name, op_kind k, clg_buffer *x,
                            clg_buffer *w, clg_buffer *y, clg_task **out) {
    clg_status st;
    clg_task *t;
    const op_cfg *c = &b->sp->ops[k];
    TRY(clg_graph_add_task(g, name, c->prog, c->kernel, &t));
    TRY(clg_task_arg_buffer(t, 0, x, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, w, CLG_READ));
    TRY(clg_task_arg_buffer(t, 2, y, CLG_WRITE));
    TRY(clg_task_arg_int(t, 3, b->m->hp.n_embd));
    TRY(clg_task_arg_float(t, 4, b->m->hp.rms_eps));
    TRY(clg_task_arg_int(t, 5, 1));
    *out = t;
    return CLG_OK;
fail:
    return st;
}

/* RoPE of Q in place and K, V into layer i's cache: (qkv, k_cache, v_cache, pos, inv_freq, T,
 * row_stride, n_head, n_head_kv, head_dim, n_rot, neox, ctx_len) */
static clg_status rope_kv_task(builder *b, clg_graph *g, const layer_weights *w, clg_task **out) {
    const llm_model *m = b->m;
    const llm_hparams *hp = &m->hp;
    clg_status st;
    clg_task *t;
    TRY(clg_graph_add_task(g, "rope_kv", b->rope, "rope_kv", &t));
    TRY(clg_task_arg_buffer(t, 0, m->qkv, CLG_READ_WRITE));
    TRY(clg_task_arg_buffer(t, 1, w->k_cache, CLG_READ_WRITE)); /* rows it does not write are kept */
    TRY(clg_task_arg_buffer(t, 2, w->v_cache, CLG_READ_WRITE));
    TRY(clg_task_arg_buffer(t, 3, m->pos, CLG_READ));
    TRY(clg_task_arg_buffer(t, 4, m->rope_inv_freq, CLG_READ));
    TRY(clg_task_arg_int(t, 5, 1));
    TRY(clg_task_arg_int(t, 6, m->qkv_dim));
    TRY(clg_task_arg_int(t, 7, hp->n_head));
    TRY(clg_task_arg_int(t, 8, hp->n_head_kv));
    TRY(clg_task_arg_int(t, 9, hp->head_dim));
    TRY(clg_task_arg_int(t, 10, hp->n_rot));
    TRY(clg_task_arg_int(t, 11, hp->rope_neox));
    TRY(clg_task_arg_int(t, 12, hp->n_ctx));
    *out = t;
    return CLG_OK;
fail:
    return st;
}

static clg_status build_layer(builder *b, int i, const char *prefix) {
    llm_model *m = b->m;
    const llm_hparams *hp = &m->hp;
    const layer_weights *w = &m->lw[i];
    layer_tasks *L = &b->sp->layers[i];
    const int q_dim = hp->n_head * hp->head_dim;
    clg_status st;
    char gname[48], k[64];
    clg_graph *g;
    clg_task *t;
    snprintf(gname, sizeof gname, "%slayer.%d", prefix, i);
    TRY(clg_graph_create(m->ctx, gname, &g));
    if (llm_mm_q8(m, MM_QKV)) /* the norm is fused into the product */
        TRY(matmul_task(b, g, MM_QKV, w->qkv, m->x, m->qkv, m->qkv_dim, hp->n_embd, 0, w->attn_norm, &L->qkv));
    else {
        TRY(norm_task(b, g, "attn_norm", OP_ATTN_NORM, m->x, w->attn_norm, m->xn, &L->attn_norm));
        TRY(matmul_task(b, g, MM_QKV, w->qkv, m->xn, m->qkv, m->qkv_dim, hp->n_embd, 0, NULL, &L->qkv));
    }
    /* Each product's library GEMM alternative follows it, disabled (where offered). */
    TRY(llm_gemm_layer(m, b->sp, g, i, MM_QKV, w->qkv, NULL, m->xn, m->qkv, m->qkv_dim, hp->n_embd, 0));
    TRY(rope_kv_task(b, g, w, &L->rope_kv));

    /* (q, k_cache, v_cache, pos, out, T, q_stride, q_off, out_stride, n_heads, n_kv_heads,
     *  head_dim, ctx_len, scale) */
    const op_cfg *ac = &b->sp->ops[OP_ATTN];
    const int split = ac->split;
    TRY(clg_graph_add_task(g, "attention", ac->prog, ac->kernel, &t));
    TRY(clg_task_arg_buffer(t, 0, m->qkv, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, w->k_cache, CLG_READ));
    TRY(clg_task_arg_buffer(t, 2, w->v_cache, CLG_READ));
    TRY(clg_task_arg_buffer(t, 3, m->pos, CLG_READ));
    TRY(clg_task_arg_buffer(t, 4, m->att, CLG_WRITE));
    TRY(clg_task_arg_int(t, 5, 1));
    TRY(clg_task_arg_int(t, 6, m->qkv_dim));
    TRY(clg_task_arg_int(t, 7, 0));
    TRY(clg_task_arg_int(t, 8, q_dim));
    TRY(clg_task_arg_int(t, 9, hp->n_head));
    TRY(clg_task_arg_int(t, 10, hp->n_head_kv));
    TRY(clg_task_arg_int(t, 11, hp->head_dim));
    TRY(clg_task_arg_int(t, 12, hp->n_ctx));
    TRY(clg_task_arg_float(t, 13, 1.0f / sqrtf((float)hp->head_dim)));
    L->attn = t;
    if (split) { /* flash decoding: partials over position ranges, then the merge */
        TRY(clg_task_arg_buffer(t, 4, m->att, CLG_READ)); /* the split leaves out alone */
        TRY(clg_task_arg_buffer(t, 14, m->att_part, CLG_WRITE));
        TRY(clg_task_arg_int(t, 15, m->attn_split));
        /* (part, out, T, out_stride, n_heads, head_dim, n_split) */
        TRY(clg_graph_add_task(g, "attn_merge", b->attn, "attention_merge", &t));
        TRY(clg_task_arg_buffer(t, 0, m->att_part, CLG_READ));
        TRY(clg_task_arg_buffer(t, 1, m->att, CLG_WRITE));
        TRY(clg_task_arg_int(t, 2, 1));
        TRY(clg_task_arg_int(t, 3, q_dim));
        TRY(clg_task_arg_int(t, 4, hp->n_head));
        TRY(clg_task_arg_int(t, 5, hp->head_dim));
        TRY(clg_task_arg_int(t, 6, m->attn_split));
        L->attn_merge = t;
    }

    /* The output and down products accumulate into x: the residual adds are fused. */
    TRY(matmul_task(b, g, MM_WO, w->wo, m->att, m->x, hp->n_embd, q_dim, 1, NULL, &L->wo));
    TRY(llm_gemm_layer(m, b->sp, g, i, MM_WO, w->wo, NULL, m->att, m->x, hp->n_embd, q_dim, 1));
    const int ffn_q8 = llm_mm_q8(m, MM_FFN);
    if (!ffn_q8) TRY(norm_task(b, g, "ffn_norm", OP_FFN_NORM, m->x, w->ffn_norm, m->xn, &L->ffn_norm));
    /* (Wg, Wu, x, h, rows, cols, T, x_stride, h_stride) */
    const mm_cfg *fc = &b->sp->cfg[MM_FFN];
    TRY(clg_graph_add_task(g, llm_mm_kind_name(MM_FFN), fc->prog, llm_mm_kernel(m, fc, MM_FFN, k, sizeof k), &t));
    TRY(clg_task_arg_buffer(t, 0, w->gate, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, w->up, CLG_READ));
    TRY(clg_task_arg_buffer(t, 2, ffn_q8 ? m->x : m->xn, CLG_READ));
    TRY(clg_task_arg_buffer(t, 3, m->ffh, CLG_WRITE));
    TRY(clg_task_arg_int(t, 4, hp->n_ff));
    TRY(clg_task_arg_int(t, 5, hp->n_embd));
    TRY(clg_task_arg_int(t, 6, 1));
    TRY(clg_task_arg_int(t, 7, hp->n_embd));
    TRY(clg_task_arg_int(t, 8, hp->n_ff));
    if (ffn_q8) TRY(q8_args(b, t, 9, w->ffn_norm, hp->n_embd));
    L->ffn = t;
    TRY(llm_gemm_layer(m, b->sp, g, i, MM_FFN, w->gate, w->up, m->xn, m->ffh, hp->n_ff, hp->n_embd, 0));
    TRY(matmul_task(b, g, MM_DOWN, w->down, m->ffh, m->x, hp->n_embd, hp->n_ff, 1, NULL, &L->down));
    TRY(llm_gemm_layer(m, b->sp, g, i, MM_DOWN, w->down, NULL, m->ffh, m->x, hp->n_embd, hp->n_ff, 1));
    return clg_plan_add_graph(b->sp->plan, g);
fail:
    return st;
}

/* A head graph: the last token's row, the final norm, the output (or tied) product into
 * the logits (head 0: read back every step), or into device-only logits followed by the
 * argmax (head 1: only the token id comes back). */
static clg_status build_head(builder *b, step_plan *sp, const char *prefix, int greedy, clg_graph **out) {
    llm_model *m = b->m;
    const llm_hparams *hp = &m->hp;
    head_tasks *H = &sp->head[greedy];
    clg_status st;
    char name[48];
    clg_graph *g;
    clg_task *t;
    snprintf(name, sizeof name, "%s%s", prefix, greedy ? "greedy" : "logits");
    TRY(clg_graph_create(m->ctx, name, &g));
    TRY(clg_graph_add_task(g, "copy_last", b->rows, "copy_row", &t));
    TRY(clg_task_arg_buffer(t, 0, m->x, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, m->last, CLG_WRITE));
    TRY(clg_task_arg_int(t, 2, hp->n_embd));
    TRY(clg_task_arg_int(t, 3, 0));
    TRY(set_range(t, 1, (size_t)hp->n_embd, 1, 1, CPU_LOCAL, 1, 1));
    H->copy_last = t;
    const int out_q8 = llm_mm_q8(m, MM_OUT); /* the norm fused into the product */
    if (!out_q8) {
        TRY(norm_task(b, g, "output_norm", OP_OUT_NORM, m->last, m->out_norm_w, m->xn, &H->out_norm));
        TRY(llm_op_range(m, sp, OP_OUT_NORM, H->out_norm, 1));
    }
    TRY(matmul_task(b, g, MM_OUT, m->output, out_q8 ? m->last : m->xn, greedy ? m->logits_dev : m->logits,
                    hp->n_vocab, hp->n_embd, 0, out_q8 ? m->out_norm_w : NULL, &H->out_logits));
    if (greedy) { /* (x, n, out): one work-group */
        TRY(clg_graph_add_task(g, "argmax", b->argmax, "argmax", &t));
        TRY(clg_task_arg_buffer(t, 0, m->logits_dev, CLG_READ));
        TRY(clg_task_arg_int(t, 1, hp->n_vocab));
        TRY(clg_task_arg_buffer(t, 2, m->token_out, CLG_WRITE));
        /* One work-group: it must fit this kernel's own limit (llvmpipe: 32 of 1024). */
        if ((size_t)m->argmax_wg > clg_task_max_local(t)) {
            while ((size_t)m->argmax_wg > clg_task_max_local(t)) m->argmax_wg /= 2;
            char opts[32];
            snprintf(opts, sizeof opts, "-DARGMAX_WG=%d", m->argmax_wg);
            TRY(clg_program_get(m->ctx, "argmax", opts, &b->argmax));
            TRY(clg_task_set_kernel(t, b->argmax, "argmax"));
        }
        size_t wg = (size_t)m->argmax_wg;
        TRY(clg_task_set_range(t, 1, &wg, &wg));
        H->argmax = t;
    }
    *out = g;
    return CLG_OK;
fail:
    return st;
}

/* The graphs of one step plan: embed, the layers, logits. */
static clg_status build_plan(builder *b, step_plan *sp, int tile, const char *prefix) {
    llm_model *m = b->m;
    const llm_hparams *hp = &m->hp;
    clg_status st;
    char opts[48], name[48], k[64];
    clg_graph *g;
    clg_task *t;
    b->sp = sp;
    sp->tile = tile;
    snprintf(opts, sizeof opts, "-DMM_TT=%d", tile); /* from source: SPIR-V holds MM_TT 4 */
    TRY(clg_program_get(m->ctx, "matmul", opts, &sp->matmul));
    if (clg_context_device(m->ctx)->has_denorm) strcat(opts, " -DHALF_DENORM=1"); /* cheaper scales */
    if (hp->act_q8) TRY(clg_program_get(m->ctx, "matmul_q8", opts, &sp->matmul_q8));
    for (int kind = 0; kind < MM_KINDS; kind++) TRY(llm_mm_cfg_default(m, sp, (mm_kind)kind, &sp->cfg[kind]));
    for (int kind = 0; kind < OP_KINDS; kind++)
        TRY(llm_op_cfg_default(m, sp, (op_kind)kind, &sp->ops[kind]));
    sp->layers = calloc((size_t)hp->n_layer, sizeof *sp->layers);
    if (!sp->layers) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "model graphs");
    TRY(llm_gemm_prepare(m, sp));
    TRY(clg_plan_create(m->ctx, &sp->plan));

    /* embed: x = token_embd[tokens]: (W, tokens, y, cols, T) */
    snprintf(name, sizeof name, "%sembed", prefix);
    TRY(clg_graph_create(m->ctx, name, &g));
    snprintf(k, sizeof k, "embed_%s", llm_kernel_suffix(m->tok_type));
    TRY(clg_graph_add_task(g, "embed", b->embed, k, &t));
    TRY(clg_task_arg_buffer(t, 0, m->tok_embd, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, m->tokens, CLG_READ));
    TRY(clg_task_arg_buffer(t, 2, m->x, CLG_WRITE));
    TRY(clg_task_arg_int(t, 3, hp->n_embd));
    TRY(clg_task_arg_int(t, 4, 1));
    sp->embed = t;
    TRY(clg_plan_add_graph(sp->plan, g));

    for (int i = 0; i < hp->n_layer; i++) TRY(build_layer(b, i, prefix));

    clg_graph *heads[2];
    for (int h = 0; h < 2; h++) TRY(build_head(b, sp, prefix, h, &heads[h]));
    TRY(clg_plan_add_graph(sp->plan, heads[0]));
    /* The greedy plan borrows the same graphs, with its own head. */
    TRY(clg_plan_create(m->ctx, &sp->greedy_plan));
    size_t n_graphs = clg_plan_graph_count(sp->plan);
    for (size_t i = 0; i + 1 < n_graphs; i++) TRY(clg_plan_add_graph(sp->greedy_plan, clg_plan_graph(sp->plan, i)));
    TRY(clg_plan_add_graph(sp->greedy_plan, heads[1]));
    return llm_set_batch(m, sp, 1);
fail:
    return st;
}

static void progress(const llm_model_options *o, const char *stage, size_t done, size_t total) {
    if (o->progress) o->progress(o->progress_user, stage, done, total);
}

clg_status llm_model_load(const char *path, const llm_model_options *opt, llm_model **out) {
    llm_model_options def = llm_model_options_default();
    if (!opt) opt = &def;
    *out = NULL;
    clg_status st;
    llm_model *m = calloc(1, sizeof *m);
    if (!m) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "model");
    TRY(llm_gemm_mode_from_env(&m->gemm_mode));
    TRY(llm_gguf_open(path, &m->gguf));
    llm_hparams *hp = &m->hp;
    TRY(read_hparams(m->gguf, hp));

    const llm_gguf_tensor *tok = llm_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!tok || tok->n_dims != 2 || tok->ne[0] != (uint64_t)hp->n_embd) {
        st = clg_fail(CLG_ERR_FORMAT, "tensor 'token_embd.weight' is missing or not [%d, n_vocab]",
                      hp->n_embd);
        goto fail;
    }
    hp->n_vocab = (int)tok->ne[1];
    const llm_gguf_tensor *onorm, *outw = llm_gguf_find_tensor(m->gguf, "output.weight");
    TRY(tensor(m->gguf, "token_embd.weight", (uint64_t)hp->n_embd, (uint64_t)hp->n_vocab, 1, &tok));
    TRY(tensor(m->gguf, "output_norm.weight", (uint64_t)hp->n_embd, 0, 0, &onorm));
    if (outw) TRY(tensor(m->gguf, "output.weight", (uint64_t)hp->n_embd, (uint64_t)hp->n_vocab, 1, &outw));
    hp->tied_embeddings = outw == NULL;

    hp->n_ctx = opt->n_ctx > 0 ? opt->n_ctx : (hp->n_ctx_train < 2048 ? hp->n_ctx_train : 2048);
    hp->kv_f16 = opt->kv_f16 != 0;
    hp->n_batch = opt->n_batch > 0 ? opt->n_batch : 64;
    if (hp->n_batch > hp->n_ctx) hp->n_batch = hp->n_ctx;
    m->qkv_dim = (hp->n_head + 2 * hp->n_head_kv) * hp->head_dim;

    clg_context_options co = clg_context_options_default();
    co.device = opt->device;
    co.build = opt->build;
    co.profiling = opt->profiling || opt->tune; /* the tuner times with profiling events */
    co.cache_dir = opt->cache_dir;
    co.kernel_dir = opt->kernel_dir;
    TRY(clg_context_create(&co, &m->ctx));
    TRY(clg_context_add_kernel_files(m->ctx, llm_kernel_files()));
    m->gpu_variants = clg_context_device(m->ctx)->type == CLG_DEVICE_GPU;

    /* Host staging, activations sized for the largest batch, weights. */
    size_t B = (size_t)hp->n_batch, E = (size_t)hp->n_embd;
    m->tok_host = calloc(B, sizeof(int32_t));
    m->pos_host = calloc(B, sizeof(int32_t));
    m->logits_host = calloc((size_t)hp->n_vocab, sizeof(float));
    m->qkv_host = calloc((size_t)hp->n_layer, sizeof(void *));
    m->lw = calloc((size_t)hp->n_layer, sizeof *m->lw);
    if (!m->tok_host || !m->pos_host || !m->logits_host || !m->qkv_host || !m->lw) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "model host buffers");
        goto fail;
    }
    TRY(clg_buffer_create(m->ctx, "tokens", B * 4, CLG_TRANSFER_EVERY_EXECUTION, m->tok_host, &m->tokens));
    TRY(clg_buffer_create(m->ctx, "positions", B * 4, CLG_TRANSFER_EVERY_EXECUTION, m->pos_host, &m->pos));
    TRY(clg_buffer_create(m->ctx, "x", B * E * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &m->x));
    TRY(clg_buffer_create(m->ctx, "xn", B * E * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &m->xn));
    TRY(clg_buffer_create(m->ctx, "qkv", B * (size_t)m->qkv_dim * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &m->qkv));
    TRY(clg_buffer_create(m->ctx, "att", B * (size_t)(hp->n_head * hp->head_dim) * 4,
                          CLG_TRANSFER_DEVICE_ONLY, NULL, &m->att));
    TRY(clg_buffer_create(m->ctx, "ffn_h", B * (size_t)hp->n_ff * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &m->ffh));
    TRY(clg_buffer_create(m->ctx, "x_last", E * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &m->last));
    TRY(clg_buffer_create(m->ctx, "logits", (size_t)hp->n_vocab * 4, CLG_TRANSFER_EVERY_EXECUTION,
                          m->logits_host, &m->logits));
    TRY(clg_buffer_create(m->ctx, "logits_dev", (size_t)hp->n_vocab * 4, CLG_TRANSFER_DEVICE_ONLY, NULL,
                          &m->logits_dev));
    TRY(clg_buffer_create(m->ctx, "token_out", sizeof(int32_t), CLG_TRANSFER_EVERY_EXECUTION, &m->token_host,
                          &m->token_out));
    TRY(tensor_buffer(m, tok, &m->tok_embd));
    TRY(tensor_buffer(m, onorm, &m->out_norm_w));
    m->tok_type = tok->dtype;
    if (outw) TRY(tensor_buffer(m, outw, &m->output));
    else m->output = m->tok_embd;
    m->out_type = outw ? outw->dtype : tok->dtype;
    /* RoPE angle per position of each pair, in double: Llama 3.1's rope_freqs.weight
     * divides the frequencies. */
    const llm_gguf_tensor *rf = llm_gguf_find_tensor(m->gguf, "rope_freqs.weight");
    if (rf) TRY(tensor(m->gguf, "rope_freqs.weight", (uint64_t)hp->n_rot / 2, 0, 0, &rf));
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
    for (int i = 0; i < hp->n_layer; i++) TRY(load_layer(m, i));
    hp->weight_type = m->lw[0].ffn_type;

    /* 8-bit activations: where every layer product takes them and the largest token tile
     * fits the device's local memory; by default on CPUs only. */
    const layer_weights *w0 = &m->lw[0];
    int q8_ok = q8_type(w0->qkv_type) && q8_type(w0->wo_type) && q8_type(w0->ffn_type) && q8_type(w0->down_type);
    size_t q8_need = q8_scratch(MM_TT_PREFILL, hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    uint64_t lmem = clg_context_device(m->ctx)->local_mem_size;
    if (opt->act == LLM_ACT_Q8 && !q8_ok) {
        st = clg_fail(CLG_ERR_UNSUPPORTED, "8-bit activations need q8_0, q4_0 or q4_1 layer weights; this model has %s",
                      llm_dtype_name(w0->ffn_type));
        goto fail;
    }
    if (opt->act == LLM_ACT_Q8 && q8_need > lmem) {
        st = clg_fail(CLG_ERR_UNSUPPORTED, "8-bit activations need %zu bytes of local memory per work-group; %s has %llu",
                      q8_need, clg_context_device(m->ctx)->device_name, (unsigned long long)lmem);
        goto fail;
    }
    hp->act_q8 = opt->act == LLM_ACT_Q8 || (opt->act == LLM_ACT_AUTO && !m->gpu_variants && q8_ok && q8_need <= lmem);

    m->attn_split = opt->attn_split ? opt->attn_split : (m->gpu_variants ? 8 : 1);
    if (m->attn_split > 1)
        TRY(clg_buffer_create(m->ctx, "attn_part",
                              (size_t)hp->n_head * (size_t)m->attn_split * (size_t)(hp->head_dim + 2) * 4,
                              CLG_TRANSFER_DEVICE_ONLY, NULL, &m->att_part));

    builder b = {.m = m};
    const char *files[] = {"matmul", "rope", "attention", "rows"};
    clg_program **progs[] = {&b.embed, &b.rope, &b.attn, &b.rows};
    m->argmax_wg = 256; /* the .cl default; lowered to the kernel's limit in build_head */
    TRY(clg_program_get(m->ctx, "argmax", "", &b.argmax));
    /* The work-group kernels' ATT_WG must fit the device's limit for them (llvmpipe: 32). */
    m->att_wg = ATT_WG;
    size_t dev_max = clg_context_device(m->ctx)->max_work_group_size;
    if (dev_max < ATT_WG || (!m->gpu_variants && m->attn_split > 1)) m->att_wg = dev_max < 32 ? (int)dev_max : 32;
    char kv_opts[16] = "", att_opts[48] = "";
    if (hp->kv_f16) snprintf(kv_opts, sizeof kv_opts, "-DKV_F16");
    llm_attention_options(m, m->att_wg, att_opts, sizeof att_opts);
    /* embed_TY comes from the decode plan's matmul program (the same options) */
    const char *opts[] = {"-DMM_TT=1", kv_opts, att_opts, ""};
    for (size_t i = 0; i < 4; i++) {
        progress(opt, "building kernels", i, 6);
        TRY(clg_program_get(m->ctx, files[i], opts[i], progs[i]));
    }
    progress(opt, "building kernels", 4, 6);
    TRY(build_plan(&b, &m->decode, 1, ""));
    progress(opt, "building kernels", 5, 6);
    TRY(build_plan(&b, &m->prefill, MM_TT_PREFILL, "prefill."));
    progress(opt, "building kernels", 6, 6);

    /* Upload every weight now, with progress, rather than inside the first step; then the
     * host copies go: the fused Q/K/V matrices are freed and the file's pages released. */
    size_t n_w = 3 + 7 * (size_t)hp->n_layer, done = 0;
    clg_buffer *top[4] = {m->tok_embd, m->out_norm_w, m->output, m->rope_inv_freq};
    n_w++;
    for (int i = 0; i < 4; i++) {
        TRY(clg_buffer_prefetch(top[i]));
        llm_gguf_release(m->gguf, clg_buffer_host(top[i]), clg_buffer_size(top[i]));
        progress(opt, "uploading weights", ++done, n_w);
    }
    for (int i = 0; i < hp->n_layer; i++) {
        layer_weights *w = &m->lw[i];
        clg_buffer *lb[7] = {w->attn_norm, w->qkv, w->wo, w->ffn_norm, w->gate, w->up, w->down};
        for (int j = 0; j < 7; j++) {
            TRY(clg_buffer_prefetch(lb[j]));
            llm_gguf_release(m->gguf, clg_buffer_host(lb[j]), clg_buffer_size(lb[j]));
            progress(opt, "uploading weights", ++done, n_w);
        }
        free(m->qkv_host[i]); /* uploaded */
        m->qkv_host[i] = NULL;
    }
    if (opt->tune) progress(opt, "tuning kernels", 0, 1);
    TRY(llm_tune_plans(m, opt->tune));
    if (opt->tune) progress(opt, "tuning kernels", 1, 1);
    *out = m;
    return CLG_OK;
fail:
    llm_model_destroy(m);
    return st;
}

static clg_status eval(llm_model *m, const int32_t *tokens, int n, int pos, float *logits, int32_t *token) {
    const llm_hparams *hp = &m->hp;
    if (n < 1 || pos < 0)
        return clg_fail(CLG_ERR_INVALID_ARG, "evaluating %d tokens at position %d", n, pos);
    if ((long)pos + n > hp->n_ctx)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "%d tokens at position %d exceed the context of %d tokens (--ctx)", n, pos,
                        hp->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return clg_fail(CLG_ERR_INVALID_ARG, "token id %d outside the vocabulary of %d", tokens[i],
                            hp->n_vocab);
    clg_status st = CLG_OK;
    for (int done = 0; done < n;) {
        int T = n - done < hp->n_batch ? n - done : hp->n_batch;
        step_plan *sp = T == 1 ? &m->decode : &m->prefill;
        for (int i = 0; i < T; i++) {
            m->tok_host[i] = tokens[done + i];
            m->pos_host[i] = pos + done + i;
        }
        TRY(clg_buffer_set_transfer_bytes(m->tokens, (size_t)T * 4));
        TRY(clg_buffer_set_transfer_bytes(m->pos, (size_t)T * 4));
        if (T != sp->cur_T) TRY(llm_set_batch(m, sp, T));
        done += T;
        /* Only the final batch needs the head: earlier ones skip it. */
        clg_plan *p = token ? sp->greedy_plan : sp->plan;
        size_t n_graphs = clg_plan_graph_count(p);
        TRY(done == n ? clg_plan_execute(p) : clg_plan_execute_range(p, 0, n_graphs - 1));
    }
    if (logits) memcpy(logits, m->logits_host, (size_t)hp->n_vocab * sizeof(float));
    if (token) *token = m->token_host;
    return CLG_OK;
fail:
    return st;
}

/* Every tensor of the file is read by a decode step except the token embedding table,
 * of which one row is read, unless it is tied to the output (then it is read once). */
clg_status llm_model_eval(llm_model *m, const int32_t *tokens, int n, int pos, float *logits) {
    return eval(m, tokens, n, pos, logits, NULL);
}

clg_status llm_model_eval_greedy(llm_model *m, const int32_t *tokens, int n, int pos, int32_t *token) {
    return eval(m, tokens, n, pos, NULL, token);
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
