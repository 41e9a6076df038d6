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

/* The token tile (MM_TT) of plan sp's product k. The head's rows are one token per
 * sequence: it takes the 1-token tile (the decode's program), unless the model keeps several
 * sequences, whose steps give the prefill plan's head a row each (llm_model_eval_batch). */
static int mm_tile(const llm_model *m, const step_plan *sp, mm_kind k) {
    return k != MM_OUT || m->head_rows > 1 ? sp->tile : 1;
}

/* Global g rounded up to the local sizes l (every kernel bounds-checks its ids). */
static clg_status set_range(clg_task *t, unsigned dims, size_t g0, size_t g1, size_t g2, size_t l0,
                            size_t l1, size_t l2) {
    size_t g[3] = {round_up(g0, l0), round_up(g1, l1), round_up(g2, l2)}, l[3] = {l0, l1, l2};
    return clg_task_set_range(t, dims, g, l);
}

/* ---- the kinds' layouts ------------------------------------------------------------
 * Each kernel file's variants differ in how work-items map to rows (cl/matmul.cl,
 * cl/norm.cl, cl/attention.cl): "row" runs one row per work-item, "x8" (cl/matmul_q8.cl) 8
 * rows per work-item, the others ("wg", "split") one work-group of c->local items per row. */

static clg_status shape_range(void *user, clg_task *t, unsigned slot, const clg_choice *c) {
    const kind_shape *s = user;
    const llm_hparams *hp = &s->m->hp;
    const size_t T = (size_t)(s->head ? s->sp->head_T : s->sp->cur_T), l = c->local;
    const int x8 = !strcmp(c->variant, "x8"), per_row = !x8 && strcmp(c->variant, "row") != 0;
    switch (s->op) {
    case SHAPE_PRODUCT: { /* (rows, token tiles) */
        const size_t tile = (size_t)mm_tile(s->m, s->sp, s->head ? MM_OUT : MM_QKV /* any */);
        const size_t items = x8 ? (size_t)s->rows / 8 : (size_t)s->rows; /* x8: 8 rows each */
        return set_range(t, 2, per_row ? items * l : items, (T + tile - 1) / tile, 1, l, 1, 1);
    }
    case SHAPE_NORM: /* (T) */
        return set_range(t, 1, per_row ? T * l : T, 1, 1, l, 1, 1);
    case SHAPE_ATTENTION:
        if (slot == 1) /* the split's merge over (head_dim, heads, T) */
            return set_range(t, 3, (size_t)hp->head_dim, (size_t)hp->n_head, T, FIXED_LOCAL, 1, 1);
        if (!strcmp(c->variant, "split")) /* (heads * ATT_WG, T, parts) */
            return set_range(t, 3, (size_t)hp->n_head * l, T, (size_t)s->m->attn_split, l, 1, 1);
        if (!strcmp(c->variant, "group")) /* (KV heads, T): one item per query-head group */
            return set_range(t, 2, (size_t)hp->n_head_kv, T, 1, l, 1, 1);
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

/* The kernel slot a product kind's tasks run: cl/matmul.cl declares matmul_TY, then
 * ffn_swiglu_TY; cl/matmul_q8.cl matmul_TY_q8, its _norm form, ffn_swiglu_TY_q8, its _norm
 * form (the norm before qkv, ffn_swiglu and output is fused there). */
static unsigned mm_slot(const llm_model *m, mm_kind k) {
    if (!llm_mm_q8(m, k)) return k == MM_FFN;
    return k == MM_FFN ? 3 : k == MM_QKV || k == MM_OUT;
}

/* The kind entry of product k with weights of dtype and `rows` output rows, or NULL. */
static struct mm_entry *mm_find(step_plan *sp, mm_kind k, int dtype, int rows) {
    for (int i = 0; i < sp->n_mk; i++)
        if (sp->mk[i].k == k && sp->mk[i].dtype == dtype && sp->mk[i].shape.rows == rows)
            return &sp->mk[i];
    return NULL;
}

/* Records product (k, dtype, rows) once. */
static clg_status mm_note(llm_model *m, step_plan *sp, mm_kind k, int dtype, int rows) {
    if (mm_find(sp, k, dtype, rows)) return CLG_OK;
    if (sp->n_mk == MAX_MM_ENTRIES)
        return clg_fail(CLG_ERR_UNSUPPORTED, "more than %d distinct weight products",
                        MAX_MM_ENTRIES);
    sp->mk[sp->n_mk++] = (struct mm_entry){
        .k = k,
        .dtype = dtype,
        .shape = {.m = m, .sp = sp, .op = SHAPE_PRODUCT, .rows = rows, .head = k == MM_OUT}};
    return CLG_OK;
}

/* " -DCLG_ONE_TY -DCLG_TY_<ty>..." for the program of a product file (q8: matmul_q8.cl) and
 * tile: the types of every product of sp that runs on it (mm_tile), so that each file and
 * tile is one program with the kernels it runs only (" -DMQ_X8_ONLY=1" where all of them
 * are in the x8 layout). The prefill's one-row head runs on the decode's tile and takes the
 * decode's program (built first): one build, and one first-launch compile of the head. */
static void product_types(const step_plan *sp, const llm_model *m, int q8, int tile, char *out,
                          size_t cap) {
    const step_plan *plans[2] = {&m->decode, sp};
    int x8_only = q8;
    snprintf(out, cap, " -DCLG_ONE_TY");
    for (int p = tile == m->decode.tile ? 0 : 1; p < 2; p++)
        for (int j = 0; j < plans[p]->n_mk; j++) {
            const struct mm_entry *en = &plans[p]->mk[j];
            if (llm_mm_q8(m, en->k) != q8 || mm_tile(m, plans[p], en->k) != tile) continue;
            llm_type_option(out, cap, en->dtype);
            x8_only &= llm_w_x8(m, en->dtype, en->shape.rows);
        }
    size_t n = strlen(out);
    if (x8_only && n + 16 < cap) snprintf(out + n, cap - n, " -DMQ_X8_ONLY=1");
}

/* The attention kinds' build options into out[cap]: KV_F16 as rope.cl's, private arrays of
 * the head dimension (the file's default holds 128; Gemma 3: 256), and attention_row's
 * vectors of 4 floats where the head dimension is not a multiple of its default 8. */
static void attention_options(const llm_model *m, char *out, size_t cap) {
    const int hd = m->hp.head_dim;
    char max_hd[32] = "";
    if (hd > 128) snprintf(max_hd, sizeof max_hd, " -DATT_MAX_HD=%d", (hd + 31) / 32 * 32);
    snprintf(out, cap, "%s%s%s -DATT_G=%d", m->hp.kv_f16 ? " -DKV_F16" : "",
             hd % 8 ? " -DATT_VEC=4" : "", max_hd, m->hp.n_head / m->hp.n_head_kv);
    if (out[0] == ' ') memmove(out, out + 1, strlen(out)); /* the list without a leading blank */
}

/* The kinds of plan sp, on their untuned defaults: one per product, weight type and row
 * count, named "decode.ffn_down" where the product has one, else with the type (and the rows
 * where a type has two: Q/K/V segments). */
static clg_status add_kinds(llm_model *m, step_plan *sp) {
    static const char *norm_names[NORM_KINDS] = {"attn_norm", "ffn_norm", "output_norm"};
    static const mm_kind fused_into[NORM_KINDS] = {MM_QKV, MM_FFN, MM_OUT};
    const llm_hparams *hp = &m->hp;
    clg_status st;
    char name[64], types[200];
    sp->n_mk = 0;
    for (int i = 0; i < hp->n_layer; i++) {
        const layer_weights *w = &m->lw[i];
        for (int s = 0; s < w->n_qkv; s++)
            TRY(mm_note(m, sp, MM_QKV, w->qkv[s].dtype, w->qkv[s].rows));
        TRY(mm_note(m, sp, MM_WO, w->wo_type, hp->n_embd));
        TRY(mm_note(m, sp, MM_FFN, w->ffn_type, hp->n_ff));
        TRY(mm_note(m, sp, MM_DOWN, w->down_type, hp->n_embd));
    }
    TRY(mm_note(m, sp, MM_OUT, m->out_type, hp->n_vocab));
    for (int e = 0; e < sp->n_mk; e++) {
        struct mm_entry *en = &sp->mk[e];
        const mm_kind k = en->k;
        const int q8 = llm_mm_q8(m, k);
        int same_k = 0, same_ty = 0;
        for (int j = 0; j < sp->n_mk; j++) {
            same_k += sp->mk[j].k == k;
            same_ty += sp->mk[j].k == k && sp->mk[j].dtype == en->dtype;
        }
        const char *ty = llm_kernel_suffix(en->dtype);
        int n = snprintf(name, sizeof name, "%s.%s", sp->name, llm_mm_kind_name(k));
        if (same_k > 1) n += snprintf(name + n, sizeof name - (size_t)n, ".%s", ty);
        if (same_ty > 1) snprintf(name + n, sizeof name - (size_t)n, ".%d", en->shape.rows);
        /* a one-row head takes the decode's tile: one program (and compile) for both (mm_tile);
         * where the device keeps denormals, f16 scales decode with a shift (cl/matmul_q8.cl) */
        const int tile = mm_tile(m, sp, k);
        product_types(sp, m, q8, tile, types, sizeof types);
        char kopts[300];
        snprintf(kopts, sizeof kopts, "-DMM_TT=%d%s%s%s", tile,
                 q8 && clg_context_device(m->ctx)->has_denorm ? " -DHALF_DENORM=1" : "", types,
                 k == MM_FFN && m->arch->gelu ? " -DFFN_GELU" : "");
        /* the x8 layout's weights take its variant only, the file's layout the others */
        const int x8 = q8 && llm_w_x8(m, en->dtype, en->shape.rows);
        clg_kind_desc d = {.name = name,
                           .file = q8 ? "matmul_q8" : "matmul",
                           .options = kopts,
                           .ty = ty,
                           .variants = q8 ? (x8 ? "x8" : "row") : NULL,
                           .items = (size_t)en->shape.rows / (x8 ? 8 : 1),
                           .range = shape_range,
                           .user = &en->shape};
        TRY(clg_planner_add_kind(m->planner, &d, &en->kind));
        sp->mm[k] = same_k == 1 ? en->kind : NULL;
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
    /* The decode attention of a split plan runs attention_split then attention_merge. On a
     * CPU the decode plan's (one token) defaults to a work-item per query head, the batch
     * plan's to one per KV head and token (attention_group: the heads sharing a KV head read
     * its rows once). Under a loop limit (clg_device_info.loop_limit: llvmpipe) there is no
     * attention_group: an item's loops run once per head of the group, which divides the
     * keys it takes (attention_row: ~1900 at head_dim 64) by the group's size. */
    const int split = sp == &m->decode && m->attn_split > 1;
    const char *att_variants = clg_context_device(m->ctx)->loop_limit ? "row,wg"
                               : sp == &m->decode                     ? "row,group,wg"
                                                                      : "group,row,wg";
    sp->attn_shape = (kind_shape){.m = m, .sp = sp, .op = SHAPE_ATTENTION};
    snprintf(name, sizeof name, "%s.attention", sp->name);
    char att_opts[96];
    attention_options(m, att_opts, sizeof att_opts);
    clg_kind_desc d = {.name = name,
                       .file = "attention",
                       .options = att_opts,
                       .variants = split ? "split" : att_variants,
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
    clg_program *norm; /* the fixed-layout norms (Q/K norms, post-norms), or NULL */
    size_t argmax_wg;
} builder;

/* Weight product args: y (+)= W x for product k with `rows` output rows (y_stride floats
 * per token row of y; 0: rows), with the RMSNorm of weight norm_w fused in where 8-bit
 * activations fuse it. */
static llm_matmul product(const builder *b, mm_kind k, clg_buffer *w, clg_buffer *x, clg_buffer *y,
                          int rows, int y_stride, int cols, int accumulate, clg_buffer *norm_w) {
    const int q8 = llm_mm_q8(b->m, k);
    return (llm_matmul){.w = w,
                        .x = x,
                        .y = y,
                        .rows = rows,
                        .cols = cols,
                        .y_stride = y_stride,
                        .accumulate = accumulate,
                        .q8_tile = q8 ? llm_q8_tile_bytes(mm_tile(b->m, b->sp, k), cols) : 0,
                        .norm_w = q8 ? norm_w : NULL,
                        .eps = b->m->hp.rms_eps};
}

/* Adds a task to the layer's tasks that follow the batch (llm_set_batch). */
static clg_status note_task(layer_tasks *L, batch_task bt) {
    if (L->n_bt == MAX_BATCH_TASKS) return clg_fail(CLG_ERR_UNSUPPORTED, "too many layer tasks");
    L->bt[L->n_bt++] = bt;
    return CLG_OK;
}

/* Adds product (k, dtype, rows)'s task to g on its kind, and to the layer's batch tasks. */
static clg_status add_product(const builder *b, clg_graph *g, layer_tasks *L, const char *name,
                              mm_kind k, int dtype, const llm_matmul *a, clg_buffer *wu) {
    struct mm_entry *en = mm_find(b->sp, k, dtype, a->rows);
    clg_task *t;
    clg_status st;
    if (!en) return clg_fail(CLG_ERR_INVALID_ARG, "no kind for product %s", name);
    st = k == MM_FFN ? llm_op_ffn_swiglu(g, name, en->kind, mm_slot(b->m, k), a, wu, &t)
                     : llm_op_matmul(g, name, en->kind, mm_slot(b->m, k), a, &t);
    if (st != CLG_OK) return st;
    return note_task(L, (batch_task){.t = t, .t_arg = k == MM_FFN ? FFN_T : MATMUL_T});
}

/* Notes a task of the op library's fixed-layout ops (llm_op_set_tokens). */
static clg_status add_fixed_task(layer_tasks *L, clg_task *t, int t_arg) {
    return note_task(L, (batch_task){.t = t, .t_arg = t_arg, .fixed = 1});
}

/* Notes a task whose T argument and range follow the batch (see batch_task). */
static clg_status add_batch_task(layer_tasks *L, clg_task *t, int t_arg, size_t g0, size_t l0) {
    return note_task(L, (batch_task){.t = t, .t_arg = t_arg, .g0 = g0, .l0 = l0});
}

/* One transformer layer, as the architecture switches its parts on:
 *   x += post_norm(attention(qk_norm(bias(norm(x) Wqkv))) Wo)
 *   x += post_norm(act(norm(x) Wg) * (norm(x) Wu) Wd)
 * (Llama: no biases, Q/K norms or post-norms; act = silu, GeGLU's tanh GELU for Gemma). */
static clg_status build_layer(builder *b, int i) {
    llm_model *m = b->m;
    step_plan *sp = b->sp;
    const llm_hparams *hp = &m->hp;
    const llm_arch *arch = m->arch;
    const layer_weights *w = &m->lw[i];
    layer_tasks *L = &sp->layers[i];
    const int E = hp->n_embd, q_dim = hp->n_head * hp->head_dim,
              kv_dim = hp->n_head_kv * hp->head_dim;
    const float eps = hp->rms_eps;
    clg_status st;
    clg_task *t;
    char gname[48];
    clg_graph *g;
    snprintf(gname, sizeof gname, "%slayer.%d", sp == &m->prefill ? "prefill." : "", i);
    TRY(clg_graph_create(m->ctx, gname, &g));

    /* attention: xn = rmsnorm(x); q|k|v = xn Wqkv (one product per Q/K/V segment: the first
     * into qkv, the others into qkv_tmp and copied beside it) */
    clg_buffer *qkv_in = m->x;
    if (sp->norm[NORM_ATTN]) {
        TRY(llm_op_rmsnorm(g, "attn_norm", sp->norm[NORM_ATTN], m->x, w->attn_norm, m->xn, E, eps,
                           &t));
        TRY(add_batch_task(L, t, RMSNORM_T, 0, 0));
        qkv_in = m->xn;
    }
    for (int s = 0; s < w->n_qkv; s++) {
        const qkv_segment *sg = &w->qkv[s];
        clg_buffer *y = s == 0 ? m->qkv : m->qkv_tmp;
        llm_matmul a = product(b, MM_QKV, sg->w, qkv_in, y, sg->rows, s == 0 ? m->qkv_dim : 0, E, 0,
                               w->attn_norm);
        TRY(add_product(b, g, L,
                        s == 0   ? "qkv"
                        : s == 1 ? "qkv.1"
                                 : "qkv.2",
                        MM_QKV, sg->dtype, &a, NULL));
        if (s > 0) {
            TRY(llm_op_copy_cols(g, "qkv.copy", b->rows, m->qkv_tmp, sg->rows, m->qkv, m->qkv_dim,
                                 sg->off, sg->rows, 1, &t));
            TRY(add_fixed_task(L, t, COLS_T));
        }
    }
    if (w->n_qkv == 1)
        TRY(llm_gemm_layer(m, sp, g, i, MM_QKV, w->qkv[0].w, NULL, m->xn, m->qkv, m->qkv_dim, E,
                           0));
    if (arch->qkv_bias) { /* q, k, v += their biases */
        clg_buffer *bias[3] = {w->bq, w->bk, w->bv};
        const int n[3] = {q_dim, kv_dim, kv_dim}, off[3] = {0, q_dim, q_dim + kv_dim};
        for (int j = 0; j < 3; j++) {
            TRY(llm_op_add_bias(g, "qkv.bias", b->rows, m->qkv, bias[j], m->qkv_dim, off[j], n[j],
                                1, &t));
            TRY(add_fixed_task(L, t, BIAS_T));
        }
    }
    if (arch->qk_norm) { /* each head of q and k RMS-normed with its shared weight */
        TRY(llm_op_rmsnorm_heads(g, "q_norm", b->norm, m->qkv, w->q_norm, m->qkv_dim, 0, hp->n_head,
                                 hp->head_dim, eps, 1, &t));
        TRY(add_fixed_task(L, t, RMSH_T));
        TRY(llm_op_rmsnorm_heads(g, "k_norm", b->norm, m->qkv, w->k_norm, m->qkv_dim, q_dim,
                                 hp->n_head_kv, hp->head_dim, eps, 1, &t));
        TRY(add_fixed_task(L, t, RMSH_T));
    }
    /* RoPE, K and V into the cache */
    llm_rope_kv r = {.qkv = m->qkv,
                     .k_cache = w->k_cache,
                     .v_cache = w->v_cache,
                     .pos = m->pos,
                     .seq = m->seq,
                     .inv_freq = w->rope_inv_freq,
                     .row_stride = m->qkv_dim,
                     .n_head = hp->n_head,
                     .n_head_kv = hp->n_head_kv,
                     .head_dim = hp->head_dim,
                     .n_rot = hp->n_rot,
                     .neox = hp->rope_neox,
                     .ctx = hp->n_ctx};
    TRY(llm_op_rope_kv(g, b->rope, &r, &t));
    /* one work-group of head_dim / 2 items per token where the kernel takes that many
     * (llvmpipe: 32); the pairs past head_dim / 2 of a rounded-up range exit */
    size_t rope_local = (size_t)hp->head_dim / 2,
           rope_max = clg_program_max_local(b->rope, "rope_kv");
    while (rope_local > rope_max && rope_local > 1)
        rope_local = (rope_local + 1) / 2;
    TRY(add_batch_task(L, t, ROPE_T, (size_t)hp->head_dim / 2, rope_local));
    /* att = softmax(q K^T / sqrt(d)) V over the cache (the layer's window of it) */
    const int split = !strcmp(clg_kind_choice(sp->attn)->variant, "split");
    llm_attention at = {.q = m->qkv,
                        .k_cache = w->k_cache,
                        .v_cache = w->v_cache,
                        .pos = m->pos,
                        .seq = m->seq,
                        .out = m->att,
                        .q_stride = m->qkv_dim,
                        .q_off = 0,
                        .out_stride = q_dim,
                        .n_heads = hp->n_head,
                        .n_kv_heads = hp->n_head_kv,
                        .head_dim = hp->head_dim,
                        .ctx = hp->n_ctx,
                        .window = w->window,
                        .scale = 1.0f / sqrtf((float)hp->head_dim),
                        .part = split ? m->att_part : NULL,
                        .n_split = m->attn_split};
    clg_task *merge;
    TRY(llm_op_attention(g, sp->attn, &at, &t, &merge));
    TRY(add_batch_task(L, t, ATT_T, 0, 0));
    if (merge) TRY(add_batch_task(L, merge, MERGE_T, 0, 0));
    /* x += att Wo: the residual add fused into the product, or after the post-norm */
    const int post = arch->post_norms;
    llm_matmul a =
        product(b, MM_WO, w->wo, m->att, post ? m->blk_out : m->x, E, 0, q_dim, !post, NULL);
    TRY(add_product(b, g, L, "attn_output", MM_WO, w->wo_type, &a, NULL));
    TRY(llm_gemm_layer(m, sp, g, i, MM_WO, w->wo, NULL, m->att, a.y, E, q_dim, !post));
    if (post) {
        TRY(llm_op_rmsnorm_add(g, "post_attention_norm", b->norm, m->blk_out, w->post_attn_norm,
                               m->x, E, eps, 1, &t));
        TRY(add_fixed_task(L, t, RMSADD_T));
    }

    /* feed-forward: h = act(xn Wg) * (xn Wu); x += h Wd */
    clg_buffer *ffn_in = m->x;
    if (sp->norm[NORM_FFN]) {
        TRY(llm_op_rmsnorm(g, "ffn_norm", sp->norm[NORM_FFN], m->x, w->ffn_norm, m->xn, E, eps,
                           &t));
        TRY(add_batch_task(L, t, RMSNORM_T, 0, 0));
        ffn_in = m->xn;
    }
    a = product(b, MM_FFN, w->gate, ffn_in, m->ffh, hp->n_ff, 0, E, 0, w->ffn_norm);
    TRY(add_product(b, g, L, arch->gelu ? "ffn_geglu" : "ffn_swiglu", MM_FFN, w->ffn_type, &a,
                    w->up));
    TRY(llm_gemm_layer(m, sp, g, i, MM_FFN, w->gate, w->up, m->xn, m->ffh, hp->n_ff, E, 0));
    a = product(b, MM_DOWN, w->down, m->ffh, post ? m->blk_out : m->x, E, 0, hp->n_ff, !post, NULL);
    TRY(add_product(b, g, L, "ffn_down", MM_DOWN, w->down_type, &a, NULL));
    TRY(llm_gemm_layer(m, sp, g, i, MM_DOWN, w->down, NULL, m->ffh, a.y, E, hp->n_ff, !post));
    if (post) {
        TRY(llm_op_rmsnorm_add(g, "post_ffw_norm", b->norm, m->blk_out, w->post_ffn_norm, m->x, E,
                               eps, 1, &t));
        TRY(add_fixed_task(L, t, RMSADD_T));
    }
    return clg_plan_add_graph(sp->plan, g);
fail:
    return st;
}

/* A head graph: the wanted rows (the rows m->rows names; a decode step's one row is x
 * itself: no gather, and no head_rows upload between a prompt and its decode steps), the
 * final norm, the output (or tied) product into the logits (head 0: read back every step),
 * or into device-only logits followed by an arg-max per row (head 1: only the token ids come
 * back). Both heads' tasks run on sp->head_T rows (set_head). */
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
    clg_buffer *in = m->x;
    H->pick = NULL;
    if (sp != &m->decode) {
        TRY(llm_op_gather_rows(g, "gather_rows", b->rows, m->x, m->rows, m->last, hp->n_embd, 1,
                               &H->pick));
        in = m->last;
    }
    if (sp->norm[NORM_OUT]) {
        TRY(llm_op_rmsnorm(g, "output_norm", sp->norm[NORM_OUT], in, m->out_norm_w, m->xn,
                           hp->n_embd, hp->rms_eps, &H->out_norm));
        in = m->xn;
    }
    llm_matmul a = product(b, MM_OUT, m->output, in, greedy ? m->logits_dev : m->logits,
                           hp->n_vocab, 0, hp->n_embd, 0, m->out_norm_w);
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
    sp->head_T = 1;
    TRY(add_kinds(m, sp));
    sp->layers = calloc((size_t)hp->n_layer, sizeof *sp->layers);
    if (!sp->layers) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "model graphs");
    TRY(llm_gemm_prepare(m, sp));
    TRY(clg_plan_create(m->ctx, &sp->plan));

    TRY(clg_graph_create(m->ctx, sp == &m->prefill ? "prefill.embed" : "embed", &g));
    char ety[16]; /* a tied embedding in the x8 layout: embed_TY_x8 */
    snprintf(ety, sizeof ety, "%s%s", llm_kernel_suffix(m->tok_type),
             m->output == m->tok_embd && llm_w_x8(m, m->tok_type, hp->n_vocab) ? "_x8" : "");
    TRY(llm_op_embed(g, b->embed, ety, m->tok_embd, m->tokens, m->x, hp->n_embd, &sp->embed));
    if (m->arch->embed_scale) { /* Gemma: x *= sqrt(n_embd) */
        clg_task *t;
        TRY(llm_op_scale(g, "embed_scale", b->rows, m->x, sqrtf((float)hp->n_embd), hp->n_embd, 1,
                         &t));
        sp->embed_scale = (batch_task){.t = t, .t_arg = SCALE_T, .fixed = 1};
    }
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

/* The token embedding's program and the small kernel files the plans use, built as one
 * program (clg_program_prebuild: one build's fixed cost instead of one per file): the rows,
 * arg-max, RoPE, attention and norm files, and the library GEMM's SwiGLU where a prefill
 * product offers it; none reads the embedding's -D words. The weight products' programs stay
 * apart: their options differ per tile and type, and they define the same functions. */
static clg_status prebuild(llm_model *m, const char *embed_opts) {
    static const mm_kind fused_into[] = {MM_QKV, MM_FFN, MM_OUT};
    char att_opts[96];
    attention_options(m, att_opts, sizeof att_opts);
    int norm = m->arch->qk_norm || m->arch->post_norms, gemm = 0;
    for (size_t k = 0; k < sizeof fused_into / sizeof fused_into[0]; k++)
        norm |= !llm_mm_q8(m, fused_into[k]);
    for (int k = 0; k < MM_OUT; k++)
        gemm |= llm_gemm_offered(m, &m->prefill, (mm_kind)k);
    clg_program_req req[7] = {{"matmul", embed_opts},
                              {"rows", ""},
                              {"argmax", ""},
                              {"rope", m->hp.kv_f16 ? "-DKV_F16" : ""},
                              {"attention", att_opts}};
    size_t n = 5;
    if (norm) req[n++] = (clg_program_req){"norm", ""};
    if (gemm) req[n++] = (clg_program_req){"swiglu", ""};
    return clg_program_prebuild(m->ctx, req, n);
}

clg_status llm_build_plans(llm_model *m, llm_progress_fn progress, void *user) {
    static const char stage[] = "building kernels";
    clg_status st;
    builder b = {.m = m, .argmax_wg = 256}; /* ARGMAX_WG's default */
    if (progress) progress(user, stage, 0, 3);
    /* embed_TY of its type only (the f32-activation decode products of that type share the
     * program; without them, its dequantization and embedding kernels only); rope_kv stores
     * f16 K, V with KV_F16 */
    char embed_opts[80];
    int f32_products = 0; /* where every product takes 8-bit activations, none shares it */
    for (int k = 0; k < MM_KINDS; k++)
        f32_products |= !llm_mm_q8(m, (mm_kind)k);
    snprintf(embed_opts, sizeof embed_opts, "-DMM_TT=1%s -DCLG_ONE_TY -DCLG_TY_%s",
             f32_products ? "" : " -DCLG_NO_PRODUCTS", llm_kernel_suffix(m->tok_type));
    TRY(prebuild(m, embed_opts));
    TRY(clg_program_get(m->ctx, "matmul", embed_opts, &b.embed));
    TRY(clg_program_get(m->ctx, "rope", m->hp.kv_f16 ? "-DKV_F16" : "", &b.rope));
    TRY(clg_program_get(m->ctx, "rows", "", &b.rows));
    if (m->arch->qk_norm || m->arch->post_norms) TRY(clg_program_get(m->ctx, "norm", "", &b.norm));
    TRY(clg_program_get(m->ctx, "argmax", "", &b.argmax));
    /* One work-group: it must fit this kernel's own limit (llvmpipe: 32 of 1024). */
    if (b.argmax_wg > clg_program_max_local(b.argmax, "argmax")) {
        while (b.argmax_wg > clg_program_max_local(b.argmax, "argmax"))
            b.argmax_wg /= 2;
        char opts[32];
        snprintf(opts, sizeof opts, "-DARGMAX_WG=%zu", b.argmax_wg);
        TRY(clg_program_get(m->ctx, "argmax", opts, &b.argmax));
    }
    m->argmax_wg = b.argmax_wg;
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

/* Sets a batch task's T argument, and its range where it is not a kind's. */
static clg_status batch_task_set(const batch_task *bt, int T) {
    if (bt->fixed) return llm_op_set_tokens(bt->t, (unsigned)bt->t_arg, T);
    clg_status st = clg_task_arg_int(bt->t, (unsigned)bt->t_arg, T);
    if (st != CLG_OK || !bt->g0) return st;
    return set_range(bt->t, 2, bt->g0, (size_t)T, 1, bt->l0, 1, 1);
}

clg_status llm_set_batch(llm_model *m, step_plan *sp, int T) {
    const llm_hparams *hp = &m->hp;
    clg_status st;
    sp->cur_T = T;
    TRY(clg_task_arg_int(sp->embed, EMBED_T, T));
    TRY(set_range(sp->embed, 2, (size_t)hp->n_embd, (size_t)T, 1, FIXED_LOCAL, 1, 1));
    for (int i = 0; i < hp->n_layer; i++)
        for (int j = 0; j < sp->layers[i].n_bt; j++)
            TRY(batch_task_set(&sp->layers[i].bt[j], T));
    if (sp->embed_scale.t) TRY(batch_task_set(&sp->embed_scale, T));
    TRY(llm_gemm_set_batch(m, sp, T));
    /* the ranges of the planner's kinds follow T */
    for (int e = 0; e < sp->n_mk; e++)
        TRY(clg_kind_update(sp->mk[e].kind));
    for (int k = 0; k < NORM_KINDS; k++)
        if (sp->norm[k]) TRY(clg_kind_update(sp->norm[k]));
    TRY(clg_kind_update(sp->attn));
fail:
    return st;
}

/* Both heads' tasks and the head kinds' ranges for k rows. */
static clg_status set_head(llm_model *m, step_plan *sp, int k) {
    clg_status st = CLG_OK;
    if (k == sp->head_T) return st;
    sp->head_T = k;
    for (int h = 0; h < 2; h++) {
        const head_tasks *H = &sp->head[h];
        if (H->pick) TRY(llm_op_set_tokens(H->pick, GATHER_T, k));
        if (H->out_norm) TRY(clg_task_arg_int(H->out_norm, RMSNORM_T, k));
        TRY(clg_task_arg_int(H->out_logits, MATMUL_T, k));
    }
    TRY(llm_op_argmax_rows(sp->head[1].argmax, m->argmax_wg, k));
    if (sp->norm[NORM_OUT]) TRY(clg_kind_update(sp->norm[NORM_OUT]));
    for (int e = 0; e < sp->n_mk; e++)
        if (sp->mk[e].k == MM_OUT) TRY(clg_kind_update(sp->mk[e].kind));
fail:
    return st;
}

/* Writes n ints of host into the device-only buffer b where they differ from what it holds
 * (dev, updated): a decode loop keeps the same sequences and head rows step after step. */
static clg_status sync_ints(clg_buffer *b, const int32_t *host, int32_t *dev, int n) {
    if (!memcmp(host, dev, (size_t)n * sizeof *dev)) return CLG_OK;
    clg_status st = clg_buffer_write(b, 0, host, (size_t)n * sizeof *host);
    if (st == CLG_OK) memcpy(dev, host, (size_t)n * sizeof *dev);
    return st;
}

/* One evaluation: the tokens with positions and sequences given (pos, seq), or of sequence 0
 * from position pos0 (pos and seq NULL); for the wanted tokens (want NULL: the last) their
 * logits into logits, or with ids the greedy head's arg-max of each. */
typedef struct eval_in {
    const int32_t *tokens, *pos, *seq;
    int n, pos0;
    const uint8_t *want;
} eval_in;

/* Nonzero when a[0 .. n) holds a NaN or an infinity (all exponent bits set). A branch-free
 * pass the compiler vectorizes: a test and a branch per logit cost more than the step's
 * sampling on 8 rows of 49152. */
static int any_nonfinite(const float *a, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &a[i], sizeof u); /* the bits, without breaking aliasing rules */
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad != 0;
}

/* The error for non-finite logits of the pass's row r (detail: which head saw them). */
static clg_status nonfinite(const llm_model *m, const eval_in *in, int first, int r,
                            const char *detail) {
    const int row = m->rows_host[r];
    if (!in->seq)
        return clg_fail(CLG_ERR_FORMAT,
                        "the logits of the step at position %d are NaN or infinite (%s)",
                        m->pos_host[row], detail);
    return clg_fail(CLG_ERR_FORMAT,
                    "the logits of token %d (sequence %d, position %d) are NaN or infinite (%s)",
                    first + row, m->seq_host[row], m->pos_host[row], detail);
}

/* The logits rows of one pass of head 0 (k rows of the current batch at rows_host): checks
 * that they are finite and copies them to out (may be NULL). */
static clg_status take_logits(llm_model *m, const eval_in *in, int first, int k, float *out) {
    const size_t V = (size_t)m->hp.n_vocab;
    if (any_nonfinite(m->logits_host, (size_t)k * V))
        for (int r = 0; r < k; r++)
            for (size_t i = 0; i < V; i++) {
                const float v = m->logits_host[(size_t)r * V + i];
                if (isfinite(v)) continue;
                char detail[64];
                snprintf(detail, sizeof detail, "logit %zu = %g", i, (double)v);
                return nonfinite(m, in, first, r, detail);
            }
    if (out) memcpy(out, m->logits_host, (size_t)k * V * sizeof(float));
    return CLG_OK;
}

/* The greedy head's ids of one pass (k rows, as take_logits): -1 flags non-finite logits. */
static clg_status take_ids(llm_model *m, const eval_in *in, int first, int k, int32_t *out) {
    for (int r = 0; r < k; r++)
        if (m->token_host[r] < 0) return nonfinite(m, in, first, r, "greedy head");
    memcpy(out, m->token_host, (size_t)k * sizeof *out);
    return CLG_OK;
}

static clg_status eval(llm_model *m, const eval_in *in, float *logits, int32_t *ids) {
    const llm_hparams *hp = &m->hp;
    const int n = in->n, H = m->head_rows;
    clg_status st = CLG_OK;
    int n_out = 0; /* rows of logits or ids written */
    for (int done = 0; done < n;) {
        const int T = n - done < hp->n_batch ? n - done : hp->n_batch;
        step_plan *sp = T == 1 ? &m->decode : &m->prefill;
        int n_want = 0;
        for (int i = 0; i < T; i++) {
            const int j = done + i;
            m->tok_host[i] = in->tokens[j];
            m->pos_host[i] = in->pos ? in->pos[j] : in->pos0 + j;
            m->seq_host[i] = in->seq ? in->seq[j] : 0;
            if (in->want ? in->want[j] != 0 : j == n - 1) m->rows_host[n_want++] = i;
        }
        TRY(clg_buffer_set_transfer_bytes(m->tokens, (size_t)T * 4));
        TRY(clg_buffer_set_transfer_bytes(m->pos, (size_t)T * 4));
        TRY(sync_ints(m->seq, m->seq_host, m->seq_dev, T));
        if (T != sp->cur_T) TRY(llm_set_batch(m, sp, T));
        const int first = done;
        done += T;
        clg_plan *p = ids ? sp->greedy_plan : sp->plan;
        const size_t n_graphs = clg_plan_graph_count(p);
        if (!n_want) { /* no logits wanted here: the head is skipped */
            TRY(clg_plan_execute_range(p, 0, n_graphs - 1));
            continue;
        }
        /* The layers and the first pass of the head run as one step; more than H wanted rows
         * take more passes of the head graph alone (the layers' output stays on the device). */
        for (int r = 0; r < n_want; r += H) {
            const int k = n_want - r < H ? n_want - r : H;
            if (r) memmove(m->rows_host, m->rows_host + r, (size_t)k * sizeof *m->rows_host);
            if (sp->head[0].pick) /* the decode plan's heads read x, no rows */
                TRY(sync_ints(m->rows, m->rows_host, m->rows_dev, k));
            TRY(set_head(m, sp, k));
            if (ids)
                TRY(clg_buffer_set_transfer_bytes(m->token_out, (size_t)k * sizeof(int32_t)));
            else
                TRY(clg_buffer_set_transfer_bytes(m->logits,
                                                  (size_t)k * (size_t)hp->n_vocab * sizeof(float)));
            TRY(r == 0 ? clg_plan_execute(p) : clg_plan_execute_range(p, n_graphs - 1, n_graphs));
            if (ids)
                TRY(take_ids(m, in, first, k, ids + n_out));
            else
                TRY(take_logits(m, in, first, k,
                                logits ? logits + (size_t)n_out * (size_t)hp->n_vocab : NULL));
            n_out += k;
        }
    }
fail:
    return st;
}

/* The checks of llm_model_eval / _greedy: a run of sequence 0 within the context. */
static clg_status check_run(const llm_model *m, const int32_t *tokens, int n, int pos) {
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
    return CLG_OK;
}

clg_status llm_model_eval(llm_model *m, const int32_t *tokens, int n, int pos, float *logits) {
    clg_status st = check_run(m, tokens, n, pos);
    if (st != CLG_OK) return st;
    const eval_in in = {.tokens = tokens, .n = n, .pos0 = pos};
    return eval(m, &in, logits, NULL);
}

clg_status llm_model_eval_greedy(llm_model *m, const int32_t *tokens, int n, int pos,
                                 int32_t *token) {
    clg_status st = check_run(m, tokens, n, pos);
    if (st != CLG_OK) return st;
    const eval_in in = {.tokens = tokens, .n = n, .pos0 = pos};
    return eval(m, &in, NULL, token);
}

/* The checks of llm_model_eval_batch / _greedy (see llm.h). */
static clg_status check_batch(llm_model *m, const int32_t *tokens, const int32_t *pos,
                              const int32_t *seq, int n) {
    const llm_hparams *hp = &m->hp;
    if (n < 1 || !tokens || !pos || !seq)
        return clg_fail(CLG_ERR_INVALID_ARG, "evaluating %d tokens%s", n,
                        n >= 1 ? " without their token ids, positions or sequences" : "");
    /* seq_next[s]: the position sequence s's next token must have, -1 before its first */
    for (int s = 0; s < m->n_seq; s++)
        m->seq_next[s] = -1;
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return clg_fail(CLG_ERR_INVALID_ARG, "token %d: id %d outside the vocabulary of %d", i,
                            tokens[i], hp->n_vocab);
        if (seq[i] < 0 || seq[i] >= m->n_seq)
            return clg_fail(CLG_ERR_INVALID_ARG,
                            "token %d: sequence %d outside the model's %d sequences (n_seq)", i,
                            seq[i], m->n_seq);
        if (pos[i] < 0 || pos[i] >= hp->n_ctx)
            return clg_fail(CLG_ERR_INVALID_ARG,
                            "token %d: position %d outside the context of %d tokens (--ctx)", i,
                            pos[i], hp->n_ctx);
        int32_t *next = &m->seq_next[seq[i]];
        if (*next >= 0 && pos[i] != *next)
            return clg_fail(CLG_ERR_INVALID_ARG,
                            "token %d: sequence %d at position %d, but its previous token here "
                            "was at %d (a sequence's tokens must be consecutive positions in "
                            "order)",
                            i, seq[i], pos[i], *next - 1);
        *next = pos[i] + 1;
    }
    return CLG_OK;
}

clg_status llm_model_eval_batch(llm_model *m, const int32_t *tokens, const int32_t *pos,
                                const int32_t *seq, int n, const uint8_t *want, float *logits) {
    clg_status st = check_batch(m, tokens, pos, seq, n);
    if (st != CLG_OK) return st;
    const eval_in in = {.tokens = tokens, .pos = pos, .seq = seq, .n = n, .want = want};
    return eval(m, &in, logits, NULL);
}

clg_status llm_model_eval_batch_greedy(llm_model *m, const int32_t *tokens, const int32_t *pos,
                                       const int32_t *seq, int n, const uint8_t *want,
                                       int32_t *ids) {
    clg_status st = check_batch(m, tokens, pos, seq, n);
    if (st != CLG_OK) return st;
    if (!ids) return clg_fail(CLG_ERR_INVALID_ARG, "llm_model_eval_batch_greedy: no ids array");
    const eval_in in = {.tokens = tokens, .pos = pos, .seq = seq, .n = n, .want = want};
    return eval(m, &in, NULL, ids);
}

clg_status llm_model_copy_seq(llm_model *m, int src, int dst, int n) {
    const llm_hparams *hp = &m->hp;
    if (src < 0 || src >= m->n_seq || dst < 0 || dst >= m->n_seq || src == dst)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "copying sequence %d's cache into sequence %d: both must be different "
                        "sequences of the model's %d",
                        src, dst, m->n_seq);
    if (n < 0 || n > hp->n_ctx)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "copying %d positions of sequence %d's cache: the context has %d", n, src,
                        hp->n_ctx);
    /* k_cache, v_cache: [n_seq, n_head_kv, n_ctx, head_dim], a run of n rows per KV head */
    const size_t row = (size_t)hp->head_dim * (hp->kv_f16 ? sizeof(uint16_t) : sizeof(float));
    clg_status st = CLG_OK;
    for (int i = 0; i < hp->n_layer && st == CLG_OK; i++)
        for (int h = 0; h < hp->n_head_kv && st == CLG_OK; h++) {
            const size_t at_src = ((size_t)src * hp->n_head_kv + h) * hp->n_ctx * row;
            const size_t at_dst = ((size_t)dst * hp->n_head_kv + h) * hp->n_ctx * row;
            st = clg_buffer_copy(m->lw[i].k_cache, at_dst, m->lw[i].k_cache, at_src, n * row);
            if (st == CLG_OK)
                st = clg_buffer_copy(m->lw[i].v_cache, at_dst, m->lw[i].v_cache, at_src, n * row);
        }
    return st;
}
