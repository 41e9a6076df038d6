/* The Llama step plans as task graphs: embed -> layer.0 .. layer.N-1 -> logits, each layer
 * declared from the op library (graphs/ops) as llama2.c's forward() reads; the planner's
 * kinds that choose the products', norms' and attention's variants; batched evaluation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphs/llama/llama_impl.h"
#include "graphs/ops/ops.h"

#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((st = (call)) != CLG_OK) goto fail;                                                    \
    } while (0)

enum { FIXED_LOCAL = 16 }; /* local size of the small fixed kernels (embed, copy, merge) */
enum {
    TUNE_REPS_NORM = 15
}; /* the norms take a microsecond or two per task on a CPU, where a
      shared machine's noise is as large as their differences */

static size_t round_up(size_t n, size_t m) {
    return (n + m - 1) / m * m;
}

/* Global g rounded up to the local sizes l (every kernel bounds-checks its ids). */
static clg_status set_range(clg_task *t, unsigned dims, size_t g0, size_t g1, size_t g2, size_t l0,
                            size_t l1, size_t l2) {
    size_t g[3] = {round_up(g0, l0), round_up(g1, l1), round_up(g2, l2)}, l[3] = {l0, l1, l2};
    return clg_task_set_range(t, dims, g, l);
}

/* ---- the kinds' layouts ------------------------------------------------------------
 * Each kernel file's variants differ in how work-items map to rows (cl/matmul.cl,
 * cl/norm.cl, cl/attention.cl): "row" runs one row per work-item, the others ("wg",
 * "split") one work-group of c->local items per row. */

static clg_status shape_range(void *user, clg_task *t, unsigned slot, const clg_choice *c) {
    const kind_shape *s = user;
    const llm_hparams *hp = &s->m->hp;
    const size_t T = s->head ? 1 : (size_t)s->sp->cur_T, l = c->local;
    const int per_row = strcmp(c->variant, "row") != 0;
    switch (s->op) {
    case SHAPE_PRODUCT: /* (rows, token tiles) */
        return set_range(t, 2, per_row ? (size_t)s->rows * l : (size_t)s->rows,
                         (T + (size_t)s->sp->tile - 1) / (size_t)s->sp->tile, 1, l, 1, 1);
    case SHAPE_NORM: /* (T) */
        return set_range(t, 1, per_row ? T * l : T, 1, 1, l, 1, 1);
    case SHAPE_ATTENTION:
        if (slot == 1) /* the split's merge over (head_dim, heads, T) */
            return set_range(t, 3, (size_t)hp->head_dim, (size_t)hp->n_head, T, FIXED_LOCAL, 1, 1);
        if (!strcmp(c->variant, "split")) /* (heads * ATT_WG, T, parts) */
            return set_range(t, 3, (size_t)hp->n_head * l, T, (size_t)s->m->attn_split, l, 1, 1);
        return set_range(t, 2, per_row ? (size_t)hp->n_head * l : (size_t)hp->n_head, T, 1, l, 1,
                         1);
    }
    return clg_fail(CLG_ERR_INVALID_ARG, "unknown layout");
}

/* min(n_ctx - 1, 512): the position the attention is tuned at. The attention reads the KV
 * cache up to each token's position, so its variants are timed at a position a chat reaches:
 * at the tuning batch's own positions (a few dozen) a work-group per head would have one key
 * per item. The cache beyond what was written holds zeros, which cost as much to read. */
int llm_att_tune_pos(const llm_model *m) {
    return m->hp.n_ctx - 1 < 512 ? m->hp.n_ctx - 1 : 512;
}

/* Before the attention's variants are timed: its T tokens at the positions just before
 * llm_att_tune_pos (uploaded with each tuning step; the next evaluation sets its own). */
static clg_status attention_prepare(void *user, int on) {
    const kind_shape *s = user;
    llm_model *m = s->m;
    if (!on) return CLG_OK;
    const int T = s->sp->cur_T, last = llm_att_tune_pos(m);
    for (int i = 0; i < T; i++)
        m->pos_host[i] = last - T + 1 + i > 0 ? last - T + 1 + i : 0;
    return clg_buffer_set_transfer_bytes(m->pos, (size_t)T * sizeof(int32_t));
}

static int mm_rows(const llm_model *m, mm_kind k) {
    return k == MM_QKV   ? m->qkv_dim
           : k == MM_FFN ? m->hp.n_ff
           : k == MM_OUT ? m->hp.n_vocab
                         : m->hp.n_embd;
}

/* The kernel slot a product kind's tasks run: cl/matmul.cl declares matmul_TY, then
 * ffn_swiglu_TY; cl/matmul_q8.cl matmul_TY_q8, its _norm form, ffn_swiglu_TY_q8, its _norm
 * form (the norm before qkv, ffn_swiglu and output is fused there). */
static unsigned mm_slot(const llm_model *m, mm_kind k) {
    if (!llm_mm_q8(m, k)) return k == MM_FFN;
    return k == MM_FFN ? 3 : k == MM_QKV || k == MM_OUT;
}

/* " -DCLG_ONE_TY -DCLG_TY_<ty>..." for product k's program: the types of the products that
 * share it (same file and tile; the head takes the 1-token tile), so that it is one program. */
static void product_types(const llm_model *m, mm_kind k, int tile, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, " -DCLG_ONE_TY");
    char ty[40];
    for (int j = 0; j < MM_KINDS; j++) {
        if (llm_mm_q8(m, (mm_kind)j) != llm_mm_q8(m, k) || (tile > 1 && j == MM_OUT)) continue;
        snprintf(ty, sizeof ty, " -DCLG_TY_%s", llm_kernel_suffix(llm_mm_dtype(m, (mm_kind)j)));
        if (!strstr(out, ty) && n + strlen(ty) < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s", ty);
    }
}

/* The kinds of plan sp, on their untuned defaults. */
static clg_status add_kinds(llm_model *m, step_plan *sp) {
    static const char *norm_names[NORM_KINDS] = {"attn_norm", "ffn_norm", "output_norm"};
    static const mm_kind fused_into[NORM_KINDS] = {MM_QKV, MM_FFN, MM_OUT};
    clg_status st;
    char name[64], opts[200], opts_q8[220], types[160];
    for (int k = 0; k < MM_KINDS; k++) {
        const int q8 = llm_mm_q8(m, (mm_kind)k);
        /* the head's one row takes the decode's tile: one program (and compile) for both */
        const int tile = k == MM_OUT ? 1 : sp->tile;
        product_types(m, (mm_kind)k, tile, types, sizeof types);
        snprintf(opts, sizeof opts, "-DMM_TT=%d%s", tile, types);
        /* where the device keeps denormals, f16 scales decode with a shift (cl/matmul_q8.cl) */
        snprintf(opts_q8, sizeof opts_q8, "-DMM_TT=%d%s%s", tile,
                 clg_context_device(m->ctx)->has_denorm ? " -DHALF_DENORM=1" : "", types);
        sp->mm_shape[k] = (kind_shape){.m = m,
                                       .sp = sp,
                                       .op = SHAPE_PRODUCT,
                                       .rows = mm_rows(m, (mm_kind)k),
                                       .head = k == MM_OUT};
        snprintf(name, sizeof name, "%s.%s", sp->name, llm_mm_kind_name((mm_kind)k));
        clg_kind_desc d = {.name = name,
                           .file = q8 ? "matmul_q8" : "matmul",
                           .options = q8 ? opts_q8 : opts,
                           .ty = llm_kernel_suffix(llm_mm_dtype(m, (mm_kind)k)),
                           .items = (size_t)sp->mm_shape[k].rows,
                           .range = shape_range,
                           .user = &sp->mm_shape[k]};
        TRY(clg_planner_add_kind(m->planner, &d, &sp->mm[k]));
    }
    for (int k = 0; k < NORM_KINDS; k++) {
        if (llm_mm_q8(m, fused_into[k])) continue;
        sp->norm_shape[k] = (kind_shape){.m = m, .sp = sp, .op = SHAPE_NORM, .head = k == NORM_OUT};
        snprintf(name, sizeof name, "%s.%s", sp->name, norm_names[k]);
        clg_kind_desc d = {.name = name,
                           .file = "norm",
                           .range = shape_range,
                           .user = &sp->norm_shape[k],
                           .reps = TUNE_REPS_NORM};
        TRY(clg_planner_add_kind(m->planner, &d, &sp->norm[k]));
    }
    /* The decode attention of a split plan runs attention_split then attention_merge. */
    const int split = sp == &m->decode && m->attn_split > 1;
    sp->attn_shape = (kind_shape){.m = m, .sp = sp, .op = SHAPE_ATTENTION};
    snprintf(name, sizeof name, "%s.attention", sp->name);
    clg_kind_desc d = {.name = name,
                       .file = "attention",
                       .options = m->hp.kv_f16 ? "-DKV_F16" : "",
                       .variants = split ? "split" : "row,wg",
                       .range = shape_range,
                       .prepare = attention_prepare,
                       .user = &sp->attn_shape};
    TRY(clg_planner_add_kind(m->planner, &d, &sp->attn));
fail:
    return st;
}

/* ---- graphs ------------------------------------------------------------------------ */

typedef struct builder {
    llm_model *m;
    step_plan *sp;
    clg_program *embed, *rope, *rows, *argmax;
    size_t argmax_wg;
} builder;

/* Weight product args: y (+)= W x for kind k, with the RMSNorm of weight norm_w fused in
 * where 8-bit activations fuse it. */
static llm_matmul product(const builder *b, mm_kind k, clg_buffer *w, clg_buffer *x, clg_buffer *y,
                          int cols, int accumulate, clg_buffer *norm_w) {
    const int q8 = llm_mm_q8(b->m, k);
    return (llm_matmul){.w = w,
                        .x = x,
                        .y = y,
                        .rows = mm_rows(b->m, k),
                        .cols = cols,
                        .accumulate = accumulate,
                        .q8_tile = q8 ? llm_q8_tile_bytes(k == MM_OUT ? 1 : b->sp->tile, cols) : 0,
                        .norm_w = q8 ? norm_w : NULL,
                        .eps = b->m->hp.rms_eps};
}

/* One transformer layer: x += attention(norm(x)); x += ffn(norm(x)). */
static clg_status build_layer(builder *b, int i) {
    llm_model *m = b->m;
    step_plan *sp = b->sp;
    const llm_hparams *hp = &m->hp;
    const layer_weights *w = &m->lw[i];
    layer_tasks *L = &sp->layers[i];
    const int E = hp->n_embd, q_dim = hp->n_head * hp->head_dim;
    const float eps = hp->rms_eps;
    clg_status st;
    char gname[48];
    clg_graph *g;
    snprintf(gname, sizeof gname, "%slayer.%d", sp == &m->prefill ? "prefill." : "", i);
    TRY(clg_graph_create(m->ctx, gname, &g));

    /* attention: xn = rmsnorm(x); q|k|v = xn Wqkv; RoPE, K and V into the cache */
    clg_buffer *qkv_in = m->x;
    if (sp->norm[NORM_ATTN]) {
        TRY(llm_op_rmsnorm(g, "attn_norm", sp->norm[NORM_ATTN], m->x, w->attn_norm, m->xn, E, eps,
                           &L->attn_norm));
        qkv_in = m->xn;
    }
    llm_matmul a = product(b, MM_QKV, w->qkv, qkv_in, m->qkv, E, 0, w->attn_norm);
    TRY(llm_op_matmul(g, "qkv", sp->mm[MM_QKV], mm_slot(m, MM_QKV), &a, &L->qkv));
    TRY(llm_gemm_layer(m, sp, g, i, MM_QKV, w->qkv, NULL, m->xn, m->qkv, m->qkv_dim, E, 0));
    llm_rope_kv r = {.qkv = m->qkv,
                     .k_cache = w->k_cache,
                     .v_cache = w->v_cache,
                     .pos = m->pos,
                     .inv_freq = m->rope_inv_freq,
                     .row_stride = m->qkv_dim,
                     .n_head = hp->n_head,
                     .n_head_kv = hp->n_head_kv,
                     .head_dim = hp->head_dim,
                     .n_rot = hp->n_rot,
                     .neox = hp->rope_neox,
                     .ctx = hp->n_ctx};
    TRY(llm_op_rope_kv(g, b->rope, &r, &L->rope_kv));
    /* att = softmax(q K^T / sqrt(d)) V over the cache */
    const int split = !strcmp(clg_kind_choice(sp->attn)->variant, "split");
    llm_attention at = {.q = m->qkv,
                        .k_cache = w->k_cache,
                        .v_cache = w->v_cache,
                        .pos = m->pos,
                        .out = m->att,
                        .q_stride = m->qkv_dim,
                        .q_off = 0,
                        .out_stride = q_dim,
                        .n_heads = hp->n_head,
                        .n_kv_heads = hp->n_head_kv,
                        .head_dim = hp->head_dim,
                        .ctx = hp->n_ctx,
                        .scale = 1.0f / sqrtf((float)hp->head_dim),
                        .part = split ? m->att_part : NULL,
                        .n_split = m->attn_split};
    TRY(llm_op_attention(g, sp->attn, &at, &L->attn, &L->attn_merge));
    /* x += att Wo (the residual add fused into the product) */
    a = product(b, MM_WO, w->wo, m->att, m->x, q_dim, 1, NULL);
    TRY(llm_op_matmul(g, "attn_output", sp->mm[MM_WO], mm_slot(m, MM_WO), &a, &L->wo));
    TRY(llm_gemm_layer(m, sp, g, i, MM_WO, w->wo, NULL, m->att, m->x, E, q_dim, 1));

    /* feed-forward: h = silu(xn Wg) * (xn Wu); x += h Wd */
    clg_buffer *ffn_in = m->x;
    if (sp->norm[NORM_FFN]) {
        TRY(llm_op_rmsnorm(g, "ffn_norm", sp->norm[NORM_FFN], m->x, w->ffn_norm, m->xn, E, eps,
                           &L->ffn_norm));
        ffn_in = m->xn;
    }
    a = product(b, MM_FFN, w->gate, ffn_in, m->ffh, E, 0, w->ffn_norm);
    TRY(llm_op_ffn_swiglu(g, "ffn_swiglu", sp->mm[MM_FFN], mm_slot(m, MM_FFN), &a, w->up, &L->ffn));
    TRY(llm_gemm_layer(m, sp, g, i, MM_FFN, w->gate, w->up, m->xn, m->ffh, hp->n_ff, E, 0));
    a = product(b, MM_DOWN, w->down, m->ffh, m->x, hp->n_ff, 1, NULL);
    TRY(llm_op_matmul(g, "ffn_down", sp->mm[MM_DOWN], mm_slot(m, MM_DOWN), &a, &L->down));
    TRY(llm_gemm_layer(m, sp, g, i, MM_DOWN, w->down, NULL, m->ffh, m->x, E, hp->n_ff, 1));
    return clg_plan_add_graph(sp->plan, g);
fail:
    return st;
}

/* A head graph: the last token's row, the final norm, the output (or tied) product into
 * the logits (head 0: read back every step), or into device-only logits followed by the
 * argmax (head 1: only the token id comes back). */
static clg_status build_head(builder *b, int greedy, clg_graph **out) {
    llm_model *m = b->m;
    step_plan *sp = b->sp;
    const llm_hparams *hp = &m->hp;
    head_tasks *H = &sp->head[greedy];
    clg_status st;
    char name[48];
    clg_graph *g;
    snprintf(name, sizeof name, "%s%s", sp == &m->prefill ? "prefill." : "",
             greedy ? "greedy" : "logits");
    TRY(clg_graph_create(m->ctx, name, &g));
    TRY(llm_op_copy_row(g, "copy_last", b->rows, m->x, m->last, hp->n_embd, &H->copy_last));
    TRY(set_range(H->copy_last, 1, (size_t)hp->n_embd, 1, 1, FIXED_LOCAL, 1, 1));
    clg_buffer *in = m->last;
    if (sp->norm[NORM_OUT]) {
        TRY(llm_op_rmsnorm(g, "output_norm", sp->norm[NORM_OUT], m->last, m->out_norm_w, m->xn,
                           hp->n_embd, hp->rms_eps, &H->out_norm));
        in = m->xn;
    }
    llm_matmul a = product(b, MM_OUT, m->output, in, greedy ? m->logits_dev : m->logits, hp->n_embd,
                           0, m->out_norm_w);
    TRY(llm_op_matmul(g, "output", sp->mm[MM_OUT], mm_slot(m, MM_OUT), &a, &H->out_logits));
    if (greedy)
        TRY(llm_op_argmax(g, b->argmax, b->argmax_wg, m->logits_dev, hp->n_vocab, m->token_out,
                          &H->argmax));
    *out = g;
    return CLG_OK;
fail:
    return st;
}

/* The graphs of one step plan: embed, the layers, logits. */
static clg_status build_plan(builder *b, step_plan *sp) {
    llm_model *m = b->m;
    const llm_hparams *hp = &m->hp;
    clg_status st;
    clg_graph *g;
    b->sp = sp;
    sp->cur_T = 1;
    TRY(add_kinds(m, sp));
    sp->layers = calloc((size_t)hp->n_layer, sizeof *sp->layers);
    if (!sp->layers) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "model graphs");
    TRY(llm_gemm_prepare(m, sp));
    TRY(clg_plan_create(m->ctx, &sp->plan));

    TRY(clg_graph_create(m->ctx, sp == &m->prefill ? "prefill.embed" : "embed", &g));
    TRY(llm_op_embed(g, b->embed, llm_kernel_suffix(m->tok_type), m->tok_embd, m->tokens, m->x,
                     hp->n_embd, &sp->embed));
    TRY(clg_plan_add_graph(sp->plan, g));
    for (int i = 0; i < hp->n_layer; i++)
        TRY(build_layer(b, i));
    TRY(llm_gemm_register(m, sp));

    clg_graph *heads[2];
    for (int h = 0; h < 2; h++)
        TRY(build_head(b, h, &heads[h]));
    TRY(clg_plan_add_graph(sp->plan, heads[0]));
    /* The greedy plan borrows the same graphs, with its own head. */
    TRY(clg_plan_create(m->ctx, &sp->greedy_plan));
    size_t n_graphs = clg_plan_graph_count(sp->plan);
    for (size_t i = 0; i + 1 < n_graphs; i++)
        TRY(clg_plan_add_graph(sp->greedy_plan, clg_plan_graph(sp->plan, i)));
    TRY(clg_plan_add_graph(sp->greedy_plan, heads[1]));
    return llm_set_batch(m, sp, 1);
fail:
    return st;
}

clg_status llm_build_plans(llm_model *m, llm_progress_fn progress, void *user) {
    static const char stage[] = "building kernels";
    clg_status st;
    builder b = {.m = m, .argmax_wg = 256}; /* ARGMAX_WG's default */
    if (progress) progress(user, stage, 0, 3);
    /* embed_TY of its type only (the f32-activation decode products of that type share the
     * program); rope_kv stores f16 K, V with KV_F16 */
    char embed_opts[64];
    snprintf(embed_opts, sizeof embed_opts, "-DMM_TT=1 -DCLG_ONE_TY -DCLG_TY_%s",
             llm_kernel_suffix(m->tok_type));
    TRY(clg_program_get(m->ctx, "matmul", embed_opts, &b.embed));
    TRY(clg_program_get(m->ctx, "rope", m->hp.kv_f16 ? "-DKV_F16" : "", &b.rope));
    TRY(clg_program_get(m->ctx, "rows", "", &b.rows));
    TRY(clg_program_get(m->ctx, "argmax", "", &b.argmax));
    /* One work-group: it must fit this kernel's own limit (llvmpipe: 32 of 1024). */
    if (b.argmax_wg > clg_program_max_local(b.argmax, "argmax")) {
        while (b.argmax_wg > clg_program_max_local(b.argmax, "argmax"))
            b.argmax_wg /= 2;
        char opts[32];
        snprintf(opts, sizeof opts, "-DARGMAX_WG=%zu", b.argmax_wg);
        TRY(clg_program_get(m->ctx, "argmax", opts, &b.argmax));
    }
    if (progress) progress(user, stage, 1, 3);
    m->decode.name = "decode";
    m->decode.tile = 1;
    m->prefill.name = "prefill";
    m->prefill.tile = MM_TT_PREFILL;
    TRY(build_plan(&b, &m->decode));
    if (progress) progress(user, stage, 2, 3);
    TRY(build_plan(&b, &m->prefill));
    if (progress) progress(user, stage, 3, 3);
    TRY(clg_planner_add_replay(m->planner, m->decode.plan));
    TRY(clg_planner_add_replay(m->planner, m->decode.greedy_plan));
fail:
    return st;
}

clg_status llm_set_batch(llm_model *m, step_plan *sp, int T) {
    const llm_hparams *hp = &m->hp;
    const size_t hd2 = (size_t)hp->head_dim / 2;
    clg_status st;
    sp->cur_T = T;
    TRY(clg_task_arg_int(sp->embed, EMBED_T, T));
    TRY(set_range(sp->embed, 2, (size_t)hp->n_embd, (size_t)T, 1, FIXED_LOCAL, 1, 1));
    for (int i = 0; i < hp->n_layer; i++) {
        const layer_tasks *L = &sp->layers[i];
        if (L->attn_norm) TRY(clg_task_arg_int(L->attn_norm, RMSNORM_T, T));
        TRY(clg_task_arg_int(L->qkv, MATMUL_T, T));
        TRY(clg_task_arg_int(L->rope_kv, ROPE_T, T));
        TRY(set_range(L->rope_kv, 2, hd2, (size_t)T, 1, hd2, 1, 1));
        TRY(clg_task_arg_int(L->attn, ATT_T, T));
        if (L->attn_merge) TRY(clg_task_arg_int(L->attn_merge, MERGE_T, T));
        TRY(clg_task_arg_int(L->wo, MATMUL_T, T));
        if (L->ffn_norm) TRY(clg_task_arg_int(L->ffn_norm, RMSNORM_T, T));
        TRY(clg_task_arg_int(L->ffn, FFN_T, T));
        TRY(clg_task_arg_int(L->down, MATMUL_T, T));
    }
    TRY(llm_gemm_set_batch(m, sp, T));
    for (int h = 0; h < 2; h++)
        TRY(clg_task_arg_int(sp->head[h].copy_last, COPY_ROW, T - 1));
    /* the ranges of the planner's kinds follow T */
    for (int k = 0; k < MM_KINDS; k++)
        TRY(clg_kind_update(sp->mm[k]));
    for (int k = 0; k < NORM_KINDS; k++)
        if (sp->norm[k]) TRY(clg_kind_update(sp->norm[k]));
    TRY(clg_kind_update(sp->attn));
fail:
    return st;
}

/* ---- evaluation ---------------------------------------------------------------------- */

static clg_status eval(llm_model *m, const int32_t *tokens, int n, int pos, float *logits,
                       int32_t *token) {
    const llm_hparams *hp = &m->hp;
    if (n < 1 || pos < 0)
        return clg_fail(CLG_ERR_INVALID_ARG, "evaluating %d tokens at position %d", n, pos);
    if ((long)pos + n > hp->n_ctx)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "%d tokens at position %d exceed the context of %d tokens (--ctx)", n, pos,
                        hp->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return clg_fail(CLG_ERR_INVALID_ARG, "token id %d outside the vocabulary of %d",
                            tokens[i], hp->n_vocab);
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
    /* Non-finite logits (weights that overflow, a broken kernel) would be sampled as garbage:
     * the greedy head flags them with -1, the logits are scanned here (n_vocab floats). */
    if (token && m->token_host < 0)
        return clg_fail(CLG_ERR_FORMAT,
                        "the logits of the step at position %d are NaN or infinite (greedy head)",
                        pos + n - 1);
    if (!token)
        for (int i = 0; i < hp->n_vocab; i++)
            if (!isfinite(m->logits_host[i]))
                return clg_fail(CLG_ERR_FORMAT,
                                "the logits of the step at position %d are NaN or infinite "
                                "(logit %d = %g)",
                                pos + n - 1, i, (double)m->logits_host[i]);
    if (logits) memcpy(logits, m->logits_host, (size_t)hp->n_vocab * sizeof(float));
    if (token) *token = m->token_host;
    return CLG_OK;
fail:
    return st;
}

clg_status llm_model_eval(llm_model *m, const int32_t *tokens, int n, int pos, float *logits) {
    return eval(m, tokens, n, pos, logits, NULL);
}

clg_status llm_model_eval_greedy(llm_model *m, const int32_t *tokens, int n, int pos,
                                 int32_t *token) {
    return eval(m, tokens, n, pos, NULL, token);
}
