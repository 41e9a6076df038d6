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
    if (m->qkv_host)
        for (int i = 0; i < m->hp.n_layer; i++)
            free(m->qkv_host[i]);
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
    if (v == 0 || v > (1u << 30))
        return clg_fail(CLG_ERR_FORMAT, "%s = %u is out of range", key, v);
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
        return clg_fail(CLG_ERR_UNSUPPORTED, "llama.block_count = %d: at most 1024 layers",
                        hp->n_layer);
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        return clg_fail(CLG_ERR_FORMAT, "embedding length %d, %d heads, %d KV heads do not divide",
                        hp->n_embd, hp->n_head, hp->n_head_kv);
    if ((st = get_int(f, "llama.attention.key_length", &hp->head_dim, hp->n_embd / hp->n_head)) ||
        (st = get_int(f, "llama.rope.dimension_count", &hp->n_rot, hp->head_dim)))
        return st;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 || hp->head_dim % 2)
        return clg_fail(
            CLG_ERR_FORMAT,
            "llama.rope.dimension_count %d vs head dimension %d (both even, rotated <= head)",
            hp->n_rot, hp->head_dim);
    if ((st = get_float(f, "llama.attention.layer_norm_rms_epsilon", &hp->rms_eps, 1e-5f)) ||
        (st = get_float(f, "llama.rope.freq_base", &hp->rope_base, 10000.0f)))
        return st;
    hp->rope_scale = 1.0f;
    llm_gguf_str stype;
    if (llm_gguf_get_str(f, "llama.rope.scaling.type", &stype) == CLG_OK) {
        float factor = 1.0f;
        if ((st = get_float(f, "llama.rope.scaling.factor", &factor, 1.0f))) return st;
        if (stype.len == 6 && !memcmp(stype.ptr, "linear", 6) && factor > 0)
            hp->rope_scale = 1.0f / factor;
        else if (!(stype.len == 4 && !memcmp(stype.ptr, "none", 4)))
            return clg_fail(CLG_ERR_UNSUPPORTED, "rope scaling '%.*s' is not supported (linear is)",
                            (int)(stype.len > 32 ? 32 : stype.len), stype.ptr);
    }
    return CLG_OK;
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
                        "tensor '%s' has type %s, which the OpenCL kernels do not support yet "
                        "(f32, f16, q8_0, q4_0, q4_1); convert with 'clgraph quantize'",
                        name, llm_dtype_name(t->dtype) ? llm_dtype_name(t->dtype) : "unknown");
    if (matrix && t->dtype != LLM_DTYPE_F32 && t->dtype != LLM_DTYPE_F16 && ne0 % 32)
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "tensor '%s': rows of %llu elements are not whole blocks", name,
                        (unsigned long long)ne0);
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
                        llm_dtype_name(tv->dtype), llm_dtype_name(tg->dtype),
                        llm_dtype_name(tu->dtype));
    size_t qkv_bytes = (size_t)(tq->bytes + tk->bytes + tv->bytes);
    unsigned char *cat = malloc(qkv_bytes);
    if (!cat)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "layer %d: %zu bytes for fused Q/K/V", i, qkv_bytes);
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
    m->gemm_mode = opt->prefill_gemm;
    m->replay = opt->replay;
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
    if (outw)
        TRY(tensor(m->gguf, "output.weight", (uint64_t)hp->n_embd, (uint64_t)hp->n_vocab, 1,
                   &outw));
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
    co.warn = opt->warn; /* a dropped program-cache entry, say */
    co.warn_user = opt->warn_user;
    TRY(clg_context_create(&co, &m->ctx));
    TRY(clg_context_add_kernel_files(m->ctx, llm_kernel_files()));
    m->is_gpu = clg_context_device(m->ctx)->type == CLG_DEVICE_GPU;
    clg_planner_options po = clg_planner_options_default();
    po.warn = opt->warn;
    po.warn_user = opt->warn_user;
    TRY(clg_planner_create(m->ctx, &po, &m->planner));

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
    TRY(clg_buffer_create(m->ctx, "tokens", B * 4, CLG_TRANSFER_EVERY_EXECUTION, m->tok_host,
                          &m->tokens));
    TRY(clg_buffer_create(m->ctx, "positions", B * 4, CLG_TRANSFER_EVERY_EXECUTION, m->pos_host,
                          &m->pos));
    TRY(clg_buffer_create(m->ctx, "x", B * E * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &m->x));
    TRY(clg_buffer_create(m->ctx, "xn", B * E * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &m->xn));
    TRY(clg_buffer_create(m->ctx, "qkv", B * (size_t)m->qkv_dim * 4, CLG_TRANSFER_DEVICE_ONLY, NULL,
                          &m->qkv));
    TRY(clg_buffer_create(m->ctx, "att", B * (size_t)(hp->n_head * hp->head_dim) * 4,
                          CLG_TRANSFER_DEVICE_ONLY, NULL, &m->att));
    TRY(clg_buffer_create(m->ctx, "ffn_h", B * (size_t)hp->n_ff * 4, CLG_TRANSFER_DEVICE_ONLY, NULL,
                          &m->ffh));
    TRY(clg_buffer_create(m->ctx, "x_last", E * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &m->last));
    TRY(clg_buffer_create(m->ctx, "logits", (size_t)hp->n_vocab * 4, CLG_TRANSFER_EVERY_EXECUTION,
                          m->logits_host, &m->logits));
    TRY(clg_buffer_create(m->ctx, "logits_dev", (size_t)hp->n_vocab * 4, CLG_TRANSFER_DEVICE_ONLY,
                          NULL, &m->logits_dev));
    TRY(clg_buffer_create(m->ctx, "token_out", sizeof(int32_t), CLG_TRANSFER_EVERY_EXECUTION,
                          &m->token_host, &m->token_out));
    TRY(tensor_buffer(m, tok, &m->tok_embd));
    TRY(tensor_buffer(m, onorm, &m->out_norm_w));
    m->tok_type = tok->dtype;
    if (outw)
        TRY(tensor_buffer(m, outw, &m->output));
    else
        m->output = m->tok_embd;
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
    for (int i = 0; i < hp->n_layer; i++)
        TRY(load_layer(m, i));
    hp->weight_type = m->lw[0].ffn_type;

    /* 8-bit activations: where every layer product takes them and the largest token tile
     * fits the device's local memory; by default on CPUs only. */
    const layer_weights *w0 = &m->lw[0];
    int q8_ok = llm_q8_weight(w0->qkv_type) && llm_q8_weight(w0->wo_type) &&
                llm_q8_weight(w0->ffn_type) && llm_q8_weight(w0->down_type);
    size_t q8_need =
        llm_q8_tile_bytes(MM_TT_PREFILL, hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    uint64_t lmem = clg_context_device(m->ctx)->local_mem_size;
    if (opt->act == LLM_ACT_Q8 && !q8_ok) {
        st = clg_fail(CLG_ERR_UNSUPPORTED,
                      "8-bit activations need q8_0, q4_0 or q4_1 layer weights; this model has %s",
                      llm_dtype_name(w0->ffn_type));
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
    if (m->attn_split > 1)
        TRY(clg_buffer_create(m->ctx, "attn_part",
                              (size_t)hp->n_head * (size_t)m->attn_split *
                                  (size_t)(hp->head_dim + 2) * 4,
                              CLG_TRANSFER_DEVICE_ONLY, NULL, &m->att_part));

    TRY(llm_build_plans(m, opt->progress, opt->progress_user));

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
