/* The planner for Llama step plans. For each weight-product kind (qkv, attn_output,
 * ffn_swiglu, ffn_down, output), each RMSNorm (attn_norm, ffn_norm, output_norm) and the
 * attention of each plan, the candidates are the variants its kernel file declares
 * (@variant lines of cl/matmul.cl, cl/norm.cl, cl/attention.cl), each local size and
 * swept work-group size of them; they are timed on the plan's real buffers and shapes
 * (all layers' tasks of the kind in one step, so that weights stream from memory as they
 * do in a real step; one layer's weights alone would stay in cache), and the winner is
 * applied to every task of that kind. The untuned heuristic, the file's declared default
 * for the device type, is candidate 0 and stays unless another is CLG_TUNE_MARGIN faster
 * (clg_tune_pick), so that a tuned plan is never slower than the heuristic beyond noise.
 * Where the device has cl_khr_command_buffer, decode steps are then timed with recorded
 * replay on and off and the faster is kept. Winners persist in a plan cache keyed by
 * device, driver, kernel sources and shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "graphs/llama/llama_impl.h"

#define PLAN_MAGIC "clgraph-plan 3"
#define TUNE_WARMUP 2
#define TUNE_REPS 5
/* The norms take a microsecond or two per task on a CPU, where a shared machine's noise
 * is as large as their differences: more repetitions, still cheap, steady the medians. */
#define TUNE_REPS_NORM 15
/* The attention reads the KV cache up to each token's position, so its variants are timed
 * at a position a chat reaches (min(n_ctx - 1, this)): at the tuning batch's own positions
 * (a few dozen) a work-group per head would have one key per item. The cache beyond what
 * was written holds zeros, which cost as much to read as keys do. */
#define TUNE_ATT_POS 512
/* Replay on vs off: rounds alternate which goes first; each mode's turn has one untimed
 * step (it records when on), then REPLAY_STEPS timed ones. */
#define REPLAY_ROUNDS 6
#define REPLAY_STEPS 5
/* Replay is kept only when its median step is this much faster: it re-records after
 * every change of a decode task and hides per-task times, so a tie goes to plain. */
#define REPLAY_MARGIN 0.97
/* Untuned: replay on (1) or off (0) where the device has the extension. Off: the only
 * such device measured, PoCL 3.1 on CPUs, re-creates every recorded command at each
 * enqueue (no driver-side replay), and decode steps were ~2-3% slower with it on. */
#define REPLAY_HEURISTIC 0
/* Declarations per kernel file, and candidates per kind (the rest are dropped). */
#define MAX_VARIANTS 16
#define MAX_CANDIDATES 32

/* ---- declared variants --------------------------------------------------------- */

clg_status llm_declared_default(const llm_model *m, const clg_program *prog, const char *file,
                                clg_variant *v) {
    clg_variant all[MAX_VARIANTS];
    size_t n;
    clg_status st = clg_program_variants(prog, all, MAX_VARIANTS, &n);
    if (st != CLG_OK) return st;
    const char *dev = m->gpu_variants ? "gpu" : "cpu";
    for (size_t i = 0; i < n; i++)
        if (!strcmp(all[i].device, dev)) {
            *v = all[i];
            return CLG_OK;
        }
    return clg_fail(
        CLG_ERR_FORMAT,
        "cl/%s.cl declares no default variant for %s devices (of its %zu @variant lines, none "
        "with device=%s), so the untuned plan is unknown",
        file, dev, n, dev);
}

/* Values of a declaration: its local sizes, or the swept define's values. */
static unsigned variant_count(const clg_variant *v) {
    return v->n_local ? v->n_local : v->n_values;
}
static int variant_value(const clg_variant *v, unsigned i) {
    return v->n_local ? (int)v->local[i] : v->values[i];
}

/* 1 when v declares kernel `name`, with TY standing for the type name ty. */
static int declares(const clg_variant *v, const char *ty, const char *name) {
    for (unsigned j = 0; j < v->n_kernels; j++) {
        char k[96];
        size_t o = 0;
        for (const char *p = v->kernels[j]; *p && o + 1 < sizeof k;)
            if (p[0] == 'T' && p[1] == 'Y') {
                for (const char *t = ty; *t && o + 1 < sizeof k;)
                    k[o++] = *t++;
                p += 2;
            } else {
                k[o++] = *p++;
            }
        k[o] = 0;
        if (!strcmp(k, name)) return 1;
    }
    return 0;
}

/* ---- weight products ------------------------------------------------------------ */

/* The matmul program for a plan with work-group size wg (built on first use). */
static clg_status program_for(llm_model *m, step_plan *sp, int wg, clg_program **out) {
    if (wg == 0 || wg == MM_WG) {
        *out = sp->matmul;
        return CLG_OK;
    }
    char opts[64];
    snprintf(opts, sizeof opts, "-DMM_TT=%d -DMM_WG=%d", sp->tile, wg);
    return clg_program_get(m->ctx, "matmul", opts, out);
}

/* Kind k's configuration for value i of declaration v (a row variant's local size, or
 * a work-group variant's MM_WG): 0 when llama.c's product tasks cannot run it (the
 * kernel they would take for it is not one v declares, or it sweeps another define). */
static int mm_from_variant(const llm_model *m, mm_kind k, const clg_variant *v, unsigned i,
                           mm_cfg *c) {
    memset(c, 0, sizeof *c);
    c->q8 = llm_mm_q8(m, k);
    if (c->q8 && v->n_local && !*v->sweep) /* cl/matmul_q8.cl: row variants only */
        c->local = v->local[i];
    else if (c->q8)
        return 0;
    else if (v->n_local && !*v->sweep)
        c->local = v->local[i];
    else if (!v->n_local && !strcmp(v->sweep, "MM_WG"))
        c->wg = v->values[i];
    else
        return 0;
    char name[64];
    llm_mm_kernel(m, c, k, name, sizeof name);
    const char *ty = llm_dtype_name(llm_mm_dtype(m, k));
    return ty && declares(v, ty, name);
}

/* Moves task t to prog's kernel unless it runs it already (a kernel swap re-creates the
 * kernel object and drops a recorded replay). */
static clg_status set_kernel_if(clg_task *t, clg_program *prog, const char *kernel) {
    if (clg_task_program(t) == prog && !strcmp(clg_task_kernel_name(t), kernel)) return CLG_OK;
    return clg_task_set_kernel(t, prog, kernel);
}

/* Moves every task of kind k to configuration c, and enables the library GEMM tasks
 * instead where c chooses them (and the plan offers them). */
static clg_status apply(llm_model *m, step_plan *sp, mm_kind k, const mm_cfg *c) {
    clg_task *tasks[1024];
    int rows;
    size_t n = llm_mm_tasks(m, sp, k, tasks, &rows);
    sp->cfg[k] = *c;
    if (c->blas && !llm_gemm_offered(m, sp, k)) {
        sp->cfg[k].blas = 0;
        llm_mm_cfg_label(&sp->cfg[k]);
    }
    llm_gemm_use(m, sp, k, sp->cfg[k].blas);
    char kname[64];
    llm_mm_kernel(m, c, k, kname, sizeof kname);
    for (size_t i = 0; i < n; i++) {
        clg_status st = set_kernel_if(tasks[i], c->prog, kname);
        if (st == CLG_OK) st = llm_mm_range(sp, k, tasks[i], rows, k == MM_OUT ? 1 : sp->cur_T);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

/* Kind k's candidates: the heuristic first, then every value of every declaration of
 * its kernel file (cl/matmul_q8.cl for 8-bit activation products, else cl/matmul.cl)
 * that the product tasks can run and the kernel's work-group limit takes. */
static clg_status mm_candidates(llm_model *m, step_plan *sp, mm_kind k, mm_cfg *cfg, size_t *n) {
    clg_variant v[MAX_VARIANTS];
    size_t nv;
    clg_status st = llm_mm_cfg_default(m, sp, k, &cfg[0]);
    if (st == CLG_OK) st = clg_program_variants(cfg[0].q8 ? sp->matmul_q8 : sp->matmul, v, MAX_VARIANTS, &nv);
    if (st != CLG_OK) return st;
    *n = 1;
    size_t max_wg = clg_context_device(m->ctx)->max_work_group_size;
    if (cfg[0].q8) {
        char name[64];
        max_wg = clg_program_max_local(sp->matmul_q8, llm_mm_kernel(m, &cfg[0], k, name, sizeof name));
    }
    for (size_t j = 0; j < nv; j++)
        for (unsigned i = 0; i < variant_count(&v[j]) && *n < MAX_CANDIDATES; i++) {
            mm_cfg *c = &cfg[*n];
            if (!mm_from_variant(m, k, &v[j], i, c)) continue;
            if (c->wg == cfg[0].wg && c->local == cfg[0].local) continue; /* the heuristic */
            if ((c->wg ? (size_t)c->wg : c->local) > max_wg) continue; /* filtered by the device */
            if (c->q8) c->prog = sp->matmul_q8;
            else if ((st = program_for(m, sp, c->wg, &c->prog)) != CLG_OK) return st;
            c->best_ns = c->runner_ns = -1;
            llm_mm_cfg_label(c);
            (*n)++;
        }
    return CLG_OK;
}

/* The smallest time other than the winner's, -1 when none. */
static double runner_up(const double *ns, size_t n, size_t best) {
    double r = -1;
    for (size_t i = 0; i < n; i++)
        if (i != best && ns[i] >= 0 && (r < 0 || ns[i] < r)) r = ns[i];
    return r;
}

/* Measures kind k's candidates on all its tasks (every layer's, or both heads' output
 * products) at the plan's current batch size, and applies the winner to them. */
static clg_status tune_kind(llm_model *m, step_plan *sp, mm_kind k) {
    clg_task *tasks[1024];
    int rows;
    size_t n_tasks = llm_mm_tasks(m, sp, k, tasks, &rows);
    int T = k == MM_OUT ? 1 : sp->cur_T;
    mm_cfg cfg[MAX_CANDIDATES];
    clg_candidate cand[MAX_CANDIDATES];
    char names[MAX_CANDIDATES][64];
    size_t n;
    clg_status st = mm_candidates(m, sp, k, cfg, &n);
    if (st != CLG_OK) return st;
    for (size_t i = 0; i < n; i++) {
        clg_candidate *d = &cand[i];
        memset(d, 0, sizeof *d);
        d->prog = cfg[i].prog;
        d->kernel = llm_mm_kernel(m, &cfg[i], k, names[i], sizeof names[i]);
        d->dims = 2;
        llm_mm_ndrange(sp, &cfg[i], rows, T, d->global, d->local);
        d->label = cfg[i].label;
    }
    double ns[MAX_CANDIDATES];
    size_t best;
    /* All layers' tasks at once: each reads its own weights, cold, as in a real step. */
    st = clg_task_tune_group(tasks, n_tasks, cand, n, TUNE_WARMUP, TUNE_REPS, ns, &best);
    if (st != CLG_OK) return st;
    mm_cfg win = cfg[best];
    win.tuned = 1;
    win.best_ns = ns[best];
    win.runner_ns = runner_up(ns, n, best);
    return apply(m, sp, k, &win);
}

/* Kind k's product tasks (as tuned) against its library GEMM tasks (dequantize, Sgemm,
 * SwiGLU) on all layers at the plan's batch size; the product stays unless the library
 * is CLG_TUNE_MARGIN faster. */
static clg_status tune_gemm(llm_model *m, step_plan *sp, mm_kind k) {
    clg_task *own[1024], *lib[4 * 1024]; /* 40 KiB: per call, so that two models can tune at once */
    int rows;
    clg_task_set sets[2] = {{own, llm_mm_tasks(m, sp, k, own, &rows)}, {lib, llm_gemm_tasks(m, sp, k, lib)}};
    double ns[2];
    clg_status st = clg_task_sets_time(sets, 2, TUNE_WARMUP, TUNE_REPS, ns);
    if (st != CLG_OK) return st;
    mm_cfg c = sp->cfg[k];
    if (clg_tune_pick(ns, 2) == 1) {
        c.blas = 1;
        c.tuned = 1;
        c.best_ns = ns[1];
        c.runner_ns = ns[0];
        llm_mm_cfg_label(&c);
    } else if (c.runner_ns < 0 || ns[1] < c.runner_ns) {
        c.runner_ns = ns[1];
    }
    return apply(m, sp, k, &c);
}

/* $CLGRAPH_PREFILL_GEMM=clblast: the library GEMM for every kind the prefill plan offers
 * it for, whatever the plan says (for comparisons; the plan cache keeps the measured
 * choice). */
static clg_status gemm_force(llm_model *m) {
    if (m->gemm_mode != LLM_GEMM_CLBLAST) return CLG_OK;
    for (int k = 0; k < MM_KINDS; k++) {
        if (!llm_gemm_offered(m, &m->prefill, (mm_kind)k)) continue;
        mm_cfg c = m->prefill.cfg[k];
        c.blas = 1;
        llm_mm_cfg_label(&c);
        clg_status st = apply(m, &m->prefill, (mm_kind)k, &c);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

/* ---- norms and attention -------------------------------------------------------- */

static const char *op_kind_name(op_kind k) {
    static const char *names[OP_KINDS] = {"attn_norm", "ffn_norm", "output_norm", "attention"};
    return k < OP_KINDS ? names[k] : "?";
}

void llm_attention_options(const llm_model *m, int wg, char *buf, size_t cap) {
    const char *kv = m->hp.kv_f16 ? "-DKV_F16" : "";
    if (wg == ATT_WG)
        snprintf(buf, cap, "%s", kv);
    else
        snprintf(buf, cap, "%s%s-DATT_WG=%d", kv, *kv ? " " : "", wg);
}

/* cl/norm.cl or cl/attention.cl built with work-group size wg (NORM_WG / ATT_WG); wg 0:
 * as the model built it. ATT_DC and the other derived tunables follow ATT_WG in the file. */
static clg_status op_program(llm_model *m, op_kind k, int wg, clg_program **out) {
    char opts[64] = "";
    if (k == OP_ATTN)
        llm_attention_options(m, wg ? wg : m->att_wg, opts, sizeof opts);
    else if (wg && wg != NORM_WG)
        snprintf(opts, sizeof opts, "-DNORM_WG=%d", wg);
    return clg_program_get(m->ctx, k == OP_ATTN ? "attention" : "norm", opts, out);
}

/* The decode attention of a split plan runs attention_split then attention_merge: only
 * the declarations with a merge step fit it, and only the others fit the other plans. */
static int plan_splits(const llm_model *m, const step_plan *sp, op_kind k) {
    return k == OP_ATTN && sp == &m->decode && m->attn_split > 1;
}
static int variant_splits(const clg_variant *v) {
    return declares(v, "", "attention_merge");
}

/* Kind k's configuration for declaration v with value (a row variant's local size, or
 * the swept NORM_WG / ATT_WG). CLG_ERR_UNSUPPORTED when the tasks cannot run it. */
static clg_status op_cfg_make(llm_model *m, op_kind k, const clg_variant *v, int value, op_cfg *c) {
    memset(c, 0, sizeof *c);
    const char *define = k == OP_ATTN ? "ATT_WG" : "NORM_WG";
    if (v->n_local && !*v->sweep)
        c->local = (size_t)value;
    else if (!v->n_local && !strcmp(v->sweep, define))
        c->wg = value;
    else
        return clg_fail(CLG_ERR_UNSUPPORTED, "variant '%s' sweeps '%s'; the planner sets %s",
                        v->name, v->sweep, define);
    if (value < 1 || value > 1024)
        return clg_fail(CLG_ERR_UNSUPPORTED, "variant '%s': size %d outside 1 .. 1024", v->name,
                        value);
    snprintf(c->variant, sizeof c->variant, "%s", v->name);
    snprintf(c->kernel, sizeof c->kernel, "%s", v->kernels[0]);
    c->split = variant_splits(v);
    c->best_ns = c->runner_ns = -1;
    if (c->wg && !strcmp(v->name, "wg"))
        snprintf(c->label, sizeof c->label, "wg %d", c->wg);
    else if (c->wg)
        snprintf(c->label, sizeof c->label, "%.16s wg %d", v->name, c->wg);
    else
        snprintf(c->label, sizeof c->label, "%.16s local %zu", v->name, c->local);
    return op_program(m, k, c->wg, &c->prog);
}

/* The declarations of kind k's kernel file. */
static clg_status op_variants(llm_model *m, op_kind k, clg_variant *v, size_t *n) {
    clg_program *base;
    clg_status st = op_program(m, k, 0, &base);
    return st == CLG_OK ? clg_program_variants(base, v, MAX_VARIANTS, n) : st;
}

clg_status llm_op_cfg_default(llm_model *m, const step_plan *sp, op_kind k, op_cfg *c) {
    clg_variant v;
    if (plan_splits(m, sp, k)) { /* the first declaration with a merge step */
        clg_variant all[MAX_VARIANTS];
        size_t n, i = 0;
        clg_status st = op_variants(m, k, all, &n);
        if (st != CLG_OK) return st;
        while (i < n && !variant_splits(&all[i]))
            i++;
        if (i == n)
            return clg_fail(
                CLG_ERR_FORMAT,
                "cl/attention.cl declares no split variant (kernels=...,attention_merge)");
        v = all[i];
    } else {
        clg_program *base;
        clg_status st = op_program(m, k, 0, &base);
        if (st == CLG_OK)
            st = llm_declared_default(m, base, k == OP_ATTN ? "attention" : "norm", &v);
        if (st != CLG_OK) return st;
    }
    /* The attention's work-group size is the model's ATT_WG, fitted to the device. */
    int value = v.n_local ? (int)v.local[0] : k == OP_ATTN ? m->att_wg : v.values[0];
    return op_cfg_make(m, k, &v, value, c);
}

unsigned llm_op_ndrange(const llm_model *m, const op_cfg *c, op_kind k, int T, size_t global[3],
                        size_t local[3]) {
    const size_t l0 = c->wg ? (size_t)c->wg : c->local, heads = (size_t)m->hp.n_head;
    local[0] = l0;
    local[1] = local[2] = global[1] = global[2] = 1;
    if (k != OP_ATTN) { /* (T * NORM_WG) or T rounded up: a row per group or per item */
        global[0] = c->wg ? (size_t)T * l0 : ((size_t)T + l0 - 1) / l0 * l0;
        return 1;
    }
    /* (heads * ATT_WG, T[, parts]) or (heads rounded up, T) */
    global[0] = c->wg ? heads * l0 : (heads + l0 - 1) / l0 * l0;
    global[1] = (size_t)T;
    if (!c->split) return 2;
    global[2] = (size_t)m->attn_split;
    return 3;
}

clg_status llm_op_range(const llm_model *m, const step_plan *sp, op_kind k, clg_task *t, int T) {
    size_t g[3], l[3];
    unsigned dims = llm_op_ndrange(m, &sp->ops[k], k, T, g, l);
    return clg_task_set_range(t, dims, g, l);
}

/* Every task of kind k in a plan: one per layer, or the two heads' output norms; none
 * for a norm fused into the product after it (8-bit activations). */
static size_t op_tasks(const llm_model *m, const step_plan *sp, op_kind k, clg_task **out) {
    size_t n = 0;
    if (k == OP_OUT_NORM) {
        for (int h = 0; h < 2; h++)
            if (sp->head[h].out_norm) out[n++] = sp->head[h].out_norm;
        return n;
    }
    for (int i = 0; i < m->hp.n_layer; i++) {
        const layer_tasks *L = &sp->layers[i];
        clg_task *t = k == OP_ATTN_NORM ? L->attn_norm : k == OP_FFN_NORM ? L->ffn_norm : L->attn;
        if (t) out[n++] = t;
    }
    return n;
}

/* Moves every task of kind k to configuration c (the graph builder starts them on the
 * plan's declared default, sp->ops[k]). */
static clg_status op_apply(llm_model *m, step_plan *sp, op_kind k, const op_cfg *c) {
    clg_task *tasks[1024];
    size_t n = op_tasks(m, sp, k, tasks);
    sp->ops[k] = *c;
    for (size_t i = 0; i < n; i++) {
        clg_status st = set_kernel_if(tasks[i], c->prog, c->kernel);
        if (st == CLG_OK) st = llm_op_range(m, sp, k, tasks[i], k == OP_OUT_NORM ? 1 : sp->cur_T);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

/* Kind k's candidates: the heuristic first, then every value of every declaration that
 * fits the plan (split or not) and the device's work-group limit. */
static clg_status op_candidates(llm_model *m, step_plan *sp, op_kind k, op_cfg *cfg, size_t *n) {
    clg_variant v[MAX_VARIANTS];
    size_t nv;
    clg_status st = llm_op_cfg_default(m, sp, k, &cfg[0]);
    if (st == CLG_OK) st = op_variants(m, k, v, &nv);
    if (st != CLG_OK) return st;
    *n = 1;
    const size_t max_wg = clg_context_device(m->ctx)->max_work_group_size;
    for (size_t j = 0; j < nv; j++) {
        if (variant_splits(&v[j]) != plan_splits(m, sp, k)) continue;
        for (unsigned i = 0; i < variant_count(&v[j]) && *n < MAX_CANDIDATES; i++) {
            int value = variant_value(&v[j], i);
            if (!strcmp(v[j].name, cfg[0].variant) &&
                value == (cfg[0].wg ? cfg[0].wg : (int)cfg[0].local))
                continue;                         /* the heuristic */
            if ((size_t)value > max_wg) continue; /* filtered by the device */
            st = op_cfg_make(m, k, &v[j], value, &cfg[*n]);
            if (st == CLG_OK)
                (*n)++;
            else if (st != CLG_ERR_UNSUPPORTED)
                return st;
        }
    }
    return CLG_OK;
}

/* min(n_ctx - 1, TUNE_ATT_POS): the position the attention is tuned at. */
static int att_tune_pos(const llm_model *m) {
    return m->hp.n_ctx - 1 < TUNE_ATT_POS ? m->hp.n_ctx - 1 : TUNE_ATT_POS;
}

/* Measures kind k's candidates on all its tasks at the plan's current batch size and
 * applies the winner. The attention's T tokens sit at the positions just before
 * att_tune_pos (uploaded with each tuning step; the next evaluation sets its own). */
static clg_status tune_op(llm_model *m, step_plan *sp, op_kind k) {
    clg_task *tasks[1024];
    size_t n_tasks = op_tasks(m, sp, k, tasks);
    if (n_tasks == 0) return CLG_OK; /* fused away */
    int T = k == OP_OUT_NORM ? 1 : sp->cur_T;
    op_cfg cfg[MAX_CANDIDATES];
    clg_candidate cand[MAX_CANDIDATES];
    size_t n;
    clg_status st = op_candidates(m, sp, k, cfg, &n);
    if (st != CLG_OK) return st;
    for (size_t i = 0; i < n; i++) {
        clg_candidate *d = &cand[i];
        memset(d, 0, sizeof *d);
        d->prog = cfg[i].prog;
        d->kernel = cfg[i].kernel;
        d->dims = llm_op_ndrange(m, &cfg[i], k, T, d->global, d->local);
        d->label = cfg[i].label;
    }
    if (k == OP_ATTN) {
        const int last = att_tune_pos(m);
        for (int i = 0; i < T; i++)
            m->pos_host[i] = last - T + 1 + i > 0 ? last - T + 1 + i : 0;
        if ((st = clg_buffer_set_transfer_bytes(m->pos, (size_t)T * sizeof(int32_t))) != CLG_OK)
            return st;
    }
    double ns[MAX_CANDIDATES];
    size_t best;
    st = clg_task_tune_group(tasks, n_tasks, cand, n, TUNE_WARMUP,
                             k == OP_ATTN ? TUNE_REPS : TUNE_REPS_NORM, ns, &best);
    if (st != CLG_OK) return st;
    op_cfg win = cfg[best];
    win.tuned = 1;
    win.best_ns = ns[best];
    win.runner_ns = runner_up(ns, n, best);
    return op_apply(m, sp, k, &win);
}

/* Kind k's configuration from a plan cache line: a declaration of its file that fits the
 * plan, with one of its declared values or the heuristic's (wg for a work-group variant,
 * local for a row one; the other 0). */
static clg_status op_from_cache(llm_model *m, step_plan *sp, op_kind k, const char *variant, int wg,
                                size_t local, op_cfg *c) {
    clg_variant v[MAX_VARIANTS];
    size_t nv;
    op_cfg h;
    clg_status st = op_variants(m, k, v, &nv);
    if (st == CLG_OK) st = llm_op_cfg_default(m, sp, k, &h);
    if (st != CLG_OK) return st;
    const int value = wg ? wg : (int)local;
    for (size_t j = 0; j < nv; j++) {
        if (strcmp(v[j].name, variant) || variant_splits(&v[j]) != plan_splits(m, sp, k)) continue;
        int known = !strcmp(h.variant, variant) && value == (h.wg ? h.wg : (int)h.local);
        for (unsigned i = 0; i < variant_count(&v[j]); i++)
            known |= variant_value(&v[j], i) == value;
        if (known && (wg == 0) != (local == 0) &&
            (st = op_cfg_make(m, k, &v[j], value, c)) == CLG_OK && c->wg == wg)
            return CLG_OK;
        break;
    }
    return clg_fail(CLG_ERR_FORMAT,
                    "%s: the kernel file declares no variant '%s' with %d / %zu for this plan",
                    op_kind_name(k), variant, wg, local);
}

/* ---- recorded replay of decode steps --------------------------------------------- */

/* Replay on or off for both decode plans (logits and greedy head). */
static clg_status replay_set(llm_model *m, int on) {
    clg_status st = clg_plan_set_replay(m->decode.plan, on);
    if (st == CLG_OK) st = clg_plan_set_replay(m->decode.greedy_plan, on);
    return st;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Wall time of a decode step (one token at position pos, logits back) with replay on and
 * off, interleaved; the median of each decides. */
static clg_status tune_replay(llm_model *m, int pos) {
    double t[2][REPLAY_ROUNDS * REPLAY_STEPS];
    int32_t tok = 1;
    clg_status st = CLG_OK;
    for (int r = 0; r < REPLAY_ROUNDS && st == CLG_OK; r++)
        for (int k = 0; k < 2 && st == CLG_OK; k++) {
            int on = (r + k) & 1;
            st = replay_set(m, on);
            if (st == CLG_OK) st = llm_model_eval(m, &tok, 1, pos, NULL);
            for (int i = 0; i < REPLAY_STEPS && st == CLG_OK; i++) {
                double t0 = now_ns();
                st = llm_model_eval(m, &tok, 1, pos, NULL);
                t[on][r * REPLAY_STEPS + i] = now_ns() - t0;
            }
        }
    if (st != CLG_OK) return st;
    for (int on = 0; on < 2; on++)
        qsort(t[on], REPLAY_ROUNDS * REPLAY_STEPS, sizeof t[on][0], cmp_double);
    m->decode.replay.off_ns = t[0][REPLAY_ROUNDS * REPLAY_STEPS / 2];
    m->decode.replay.on_ns = t[1][REPLAY_ROUNDS * REPLAY_STEPS / 2];
    m->decode.replay.on = m->decode.replay.on_ns < REPLAY_MARGIN * m->decode.replay.off_ns;
    m->decode.replay.tuned = 1;
    return CLG_OK;
}

/* The untuned choice: REPLAY_HEURISTIC where the device has the extension. */
static void replay_default(llm_model *m) {
    m->decode.replay.on = REPLAY_HEURISTIC && clg_context_device(m->ctx)->has_command_buffer;
    m->decode.replay.tuned = 0;
    m->decode.replay.on_ns = m->decode.replay.off_ns = -1;
}

/* Applies the choice; $CLGRAPH_REPLAY=on|off overrides it (for comparisons), and a device
 * that refuses replay leaves it off. */
static clg_status replay_apply(llm_model *m) {
    const char *env = getenv("CLGRAPH_REPLAY");
    const int forced = env && *env;
    int on = m->decode.replay.on;
    if (forced) {
        if (!strcasecmp(env, "on") || !strcmp(env, "1"))
            on = 1;
        else if (!strcasecmp(env, "off") || !strcmp(env, "0"))
            on = 0;
        else
            return clg_fail(CLG_ERR_INVALID_ARG, "CLGRAPH_REPLAY='%s': expected on or off", env);
    }
    if (on && replay_set(m, 1) == CLG_OK) return CLG_OK;
    if (on && !forced) m->decode.replay.on = 0;
    return replay_set(m, 0);
}

/* ---- plan cache ---------------------------------------------------------- */

static void cache_path(llm_model *m, char *buf, size_t cap) {
    const clg_device_info *d = clg_context_device(m->ctx);
    const llm_hparams *hp = &m->hp;
    uint64_t h = 0xcbf29ce484222325ull;
#define MIX(p, n)                                                                                  \
    for (size_t i_ = 0; i_ < (n); i_++)                                                            \
    h = (h ^ ((const unsigned char *)(p))[i_]) * 0x100000001b3ull
    MIX(PLAN_MAGIC, sizeof PLAN_MAGIC);
    MIX(d->device_name, strlen(d->device_name));
    MIX(d->driver_version, strlen(d->driver_version));
    MIX(d->platform_version, strlen(d->platform_version));
    /* The kernel sources: the matmul, norm and attention files (as the model built them). */
    clg_program *norm = NULL, *attn = NULL;
    op_program(m, OP_FFN_NORM, 0, &norm);
    op_program(m, OP_ATTN, 0, &attn);
    uint64_t src[4] = {clg_program_source_hash(m->decode.matmul),
                       norm ? clg_program_source_hash(norm) : 0,
                       attn ? clg_program_source_hash(attn) : 0,
                       m->decode.matmul_q8 ? clg_program_source_hash(m->decode.matmul_q8) : 0};
    const layer_weights *w = &m->lw[0];
    int shape[] = {hp->n_embd,  hp->n_ff,      m->qkv_dim, hp->n_vocab,    hp->n_layer,
                   hp->n_batch, w->qkv_type,   w->wo_type, w->ffn_type,    w->down_type,
                   m->out_type, MM_TT_PREFILL, hp->n_head, hp->n_head_kv,  hp->head_dim,
                   hp->kv_f16,  m->attn_split, m->att_wg,  att_tune_pos(m), hp->act_q8,
                   m->gemm_mode == LLM_GEMM_OWN}; /* own: the library was not a candidate */
    MIX(src, sizeof src);
    MIX(shape, sizeof shape);
#undef MIX
    snprintf(buf, cap, "%s/%016llx.plan", clg_context_cache_dir(m->ctx), (unsigned long long)h);
}

/* The file: the magic line; per plan (0 decode, 1 prefill) and product kind
 * "P KIND GEMM WG LOCAL BEST_NS RUNNER_NS" (GEMM: "own" for the kernel WG / LOCAL,
 * "clblast" for the library GEMM path, the kernel's WG / LOCAL then its fallback), then per norm / attention kind
 * "P KIND VARIANT WG LOCAL BEST_NS RUNNER_NS" (times -1: not measured, the heuristic);
 * optionally "replay ON ON_NS OFF_NS". */
static void cache_store(llm_model *m) {
    if (!clg_context_cache_dir(m->ctx)) return;
    char path[1200], tmp[1300];
    cache_path(m, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return; /* the cache is an optimisation */
    fprintf(f, "%s\n", PLAN_MAGIC);
    step_plan *plans[2] = {&m->decode, &m->prefill};
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < MM_KINDS; k++) {
            const mm_cfg *c = &plans[p]->cfg[k];
            fprintf(f, "%d %s %s %d %zu %.0f %.0f\n", p, llm_mm_kind_name((mm_kind)k),
                    c->blas ? "clblast" : "own", c->wg, c->local, c->best_ns, c->runner_ns);
        }
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < OP_KINDS; k++) {
            const op_cfg *c = &plans[p]->ops[k];
            fprintf(f, "%d %s %s %d %zu %.0f %.0f\n", p, op_kind_name((op_kind)k), c->variant,
                    c->wg, c->wg ? (size_t)0 : c->local, c->best_ns, c->runner_ns);
        }
    if (m->decode.replay.tuned) /* optional: files without it leave replay to the heuristic */
        fprintf(f, "replay %d %.0f %.0f\n", m->decode.replay.on, m->decode.replay.on_ns,
                m->decode.replay.off_ns);
    if (fclose(f) == 0)
        rename(tmp, path);
    else
        remove(tmp);
}

/* Every plan back on the heuristics (the builder's choices). */
static clg_status apply_defaults(llm_model *m) {
    step_plan *plans[2] = {&m->decode, &m->prefill};
    clg_status st = CLG_OK;
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < MM_KINDS && st == CLG_OK; k++) {
            mm_cfg c;
            if ((st = llm_mm_cfg_default(m, plans[p], (mm_kind)k, &c)) == CLG_OK)
                st = apply(m, plans[p], (mm_kind)k, &c);
        }
        for (int k = 0; k < OP_KINDS && st == CLG_OK; k++) {
            op_cfg c;
            if ((st = llm_op_cfg_default(m, plans[p], (op_kind)k, &c)) == CLG_OK)
                st = op_apply(m, plans[p], (op_kind)k, &c);
        }
    }
    return st;
}

/* 1 when a valid cache file was applied, 0 when there is none; a corrupt or stale one is
 * reported on stderr, with the reason, and ignored. */
static int cache_load(llm_model *m) {
    if (!clg_context_cache_dir(m->ctx)) return 0;
    char path[1200], line[256], why[400] = "";
    cache_path(m, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    mm_cfg cfg[2][MM_KINDS];
    op_cfg ops[2][OP_KINDS];
    int n_line = 1, ok = fgets(line, sizeof line, f) &&
                         !strncmp(line, PLAN_MAGIC, strlen(PLAN_MAGIC)) &&
                         line[strlen(PLAN_MAGIC)] == '\n';
    if (!ok) snprintf(why, sizeof why, "line 1 is not '%s' (another version's file)", PLAN_MAGIC);
    step_plan *plans[2] = {&m->decode, &m->prefill};
    for (int i = 0; ok && i < 2 * MM_KINDS; i++) {
        int p, wg;
        size_t local;
        double best, runner;
        char kind[32], gemm[16];
        const int pi = i / MM_KINDS;
        const mm_kind k = (mm_kind)(i % MM_KINDS);
        n_line++;
        ok = fgets(line, sizeof line, f) &&
             sscanf(line, "%d %31s %15s %d %zu %lf %lf", &p, kind, gemm, &wg, &local, &best, &runner) == 7 &&
             p == pi && !strcmp(kind, llm_mm_kind_name(k)) && wg >= 0 && wg <= 1024 &&
             (wg & (wg - 1)) == 0 && (wg ? local == 0 : local >= 1 && local <= 1024) &&
             (!strcmp(gemm, "own") || (!strcmp(gemm, "clblast") && p == 1 && k != MM_OUT));
        if (!ok) {
            snprintf(why, sizeof why,
                     "line %d: expected '%d %s GEMM WG LOCAL BEST_NS RUNNER_NS' (GEMM own, or "
                     "clblast for a prefill layer product)",
                     n_line, pi, llm_mm_kind_name(k));
            break;
        }
        mm_cfg *c = &cfg[p][k];
        memset(c, 0, sizeof *c);
        c->wg = wg;
        c->local = local;
        c->tuned = best >= 0;
        c->best_ns = best;
        c->runner_ns = runner;
        llm_mm_cfg_label(c);
        ok = program_for(m, plans[p], wg, &c->prog) == CLG_OK;
        if (ok && llm_mm_q8(m, k)) { /* cl/matmul_q8.cl's row variant, with the stored local */
            char name[64];
            ok = wg == 0 && llm_mm_cfg_default(m, plans[p], k, c) == CLG_OK &&
                 local <= clg_program_max_local(c->prog, llm_mm_kernel(m, c, k, name, sizeof name));
            c->local = local;
            c->tuned = best >= 0;
            c->best_ns = best;
            c->runner_ns = runner;
        }
        c->blas = !strcmp(gemm, "clblast"); /* apply() drops it where the plan does not offer it */
        llm_mm_cfg_label(c);
    }
    for (int i = 0; ok && i < 2 * OP_KINDS; i++) {
        int p, wg;
        size_t local;
        double best, runner;
        char kind[32], variant[32];
        const int pi = i / OP_KINDS;
        const op_kind k = (op_kind)(i % OP_KINDS);
        n_line++;
        ok = fgets(line, sizeof line, f) &&
             sscanf(line, "%d %31s %31s %d %zu %lf %lf", &p, kind, variant, &wg, &local, &best,
                    &runner) == 7 &&
             p == pi && !strcmp(kind, op_kind_name(k));
        if (!ok) {
            snprintf(why, sizeof why,
                     "line %d: expected '%d %s VARIANT WG LOCAL BEST_NS RUNNER_NS'", n_line, pi,
                     op_kind_name(k));
            break;
        }
        if (!(ok = op_from_cache(m, plans[p], k, variant, wg, local, &ops[p][k]) == CLG_OK)) break;
        ops[p][k].tuned = best >= 0;
        ops[p][k].best_ns = best;
        ops[p][k].runner_ns = runner;
    }
    int on;
    double on_ns, off_ns;
    if (ok && fgets(line, sizeof line, f) &&
        sscanf(line, "replay %d %lf %lf", &on, &on_ns, &off_ns) == 3 && (on == 0 || on == 1) &&
        clg_context_device(m->ctx)->has_command_buffer) {
        m->decode.replay.on = on;
        m->decode.replay.tuned = 1;
        m->decode.replay.on_ns = on_ns;
        m->decode.replay.off_ns = off_ns;
    }
    fclose(f);
    if (!ok && !*why) snprintf(why, sizeof why, "line %d: %s", n_line, clg_last_error());
    for (int p = 0; ok && p < 2; p++) {
        for (int k = 0; ok && k < MM_KINDS; k++)
            ok = apply(m, plans[p], (mm_kind)k, &cfg[p][k]) == CLG_OK;
        for (int k = 0; ok && k < OP_KINDS; k++)
            ok = op_apply(m, plans[p], (op_kind)k, &ops[p][k]) == CLG_OK;
    }
    if (!ok) {
        if (!*why)
            snprintf(why, sizeof why, "%s", clg_last_error()); /* the device refused a choice */
        fprintf(stderr, "clgraph: warning: ignoring the plan cache file %s: %s\n", path, why);
        apply_defaults(m); /* back to the heuristics: a half-applied plan is not kept */
        replay_default(m);
    }
    return ok;
}

/* ---- entry points ---------------------------------------------------------- */

clg_status llm_tune_plans(llm_model *m, int tune) {
    replay_default(m);
    clg_status st = CLG_OK;
    if (tune < 2 && cache_load(m)) return (st = replay_apply(m)) == CLG_OK ? gemm_force(m) : st;
    /* The builder gave the norm and attention tasks the device's usual kernels: move them
     * to the declared defaults (a no-op while the two agree). */
    st = apply_defaults(m);
    if (st == CLG_OK && tune == 0) st = replay_apply(m); /* heuristics */
    if (st != CLG_OK || tune == 0) return st == CLG_OK ? gemm_force(m) : st;
    const llm_hparams *hp = &m->hp;
    /* Real data in every buffer: a prefill batch, then a decode step. */
    int T = hp->n_batch < hp->n_ctx - 1 ? hp->n_batch : hp->n_ctx - 1;
    int32_t *tokens = malloc((size_t)T * sizeof *tokens);
    if (!tokens) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tuning");
    for (int i = 0; i < T; i++)
        tokens[i] = (int32_t)((i * 7919u + 13u) % (unsigned)hp->n_vocab);
    st = T > 1 ? llm_model_eval(m, tokens, T, 0, NULL) : CLG_OK;
    if (st == CLG_OK) st = llm_model_eval(m, tokens, 1, T, NULL);
    free(tokens);
    step_plan *plans[2] = {&m->decode, &m->prefill};
    for (int p = 0; p < 2 && st == CLG_OK; p++) {
        if (p == 1 && T < 2) break; /* no prefill batches with a context this small */
        for (int k = 0; k < MM_KINDS && st == CLG_OK; k++) {
            st = tune_kind(m, plans[p], (mm_kind)k);
            if (st == CLG_OK && llm_gemm_offered(m, plans[p], (mm_kind)k))
                st = tune_gemm(m, plans[p], (mm_kind)k);
        }
        for (int k = 0; k < OP_KINDS && st == CLG_OK; k++)
            st = tune_op(m, plans[p], (op_kind)k);
    }
    if (st == CLG_OK && clg_context_device(m->ctx)->has_command_buffer) st = tune_replay(m, T);
    if (st == CLG_OK) cache_store(m);
    if (st == CLG_OK) st = replay_apply(m);
    return st == CLG_OK ? gemm_force(m) : st;
}

clg_plan *llm_model_step_plan(const llm_model *m, int which) {
    const step_plan *sp = which & 1 ? &m->prefill : &m->decode;
    return which & 2 ? sp->greedy_plan : sp->plan;
}

clg_status llm_model_plan_choice(const llm_model *m, int which, const char *task,
                                 llm_plan_choice *out) {
    const step_plan *sp = which & 1 ? &m->prefill : &m->decode;
    if (!strcmp(task, "replay") &&
        !(which & 1)) { /* the chosen mode's time, the other's as runner-up */
        const int has = clg_context_device(m->ctx)->has_command_buffer;
        const int on =
            clg_plan_replay(llm_model_step_plan(m, which)); /* $CLGRAPH_REPLAY may force it */
        out->variant = !has ? "unavailable" : on ? "on" : "off";
        out->tuned = sp->replay.tuned;
        out->best_ns = on ? sp->replay.on_ns : sp->replay.off_ns;
        out->runner_ns = on ? sp->replay.off_ns : sp->replay.on_ns;
        return CLG_OK;
    }
    for (int k = 0; k < MM_KINDS; k++)
        if (!strcmp(task, llm_mm_kind_name((mm_kind)k))) {
            out->variant = sp->cfg[k].label;
            out->tuned = sp->cfg[k].tuned;
            out->best_ns = sp->cfg[k].best_ns;
            out->runner_ns = sp->cfg[k].runner_ns;
            return CLG_OK;
        }
    for (int k = 0; k < OP_KINDS; k++)
        if (!strcmp(task, op_kind_name((op_kind)k))) {
            out->variant = sp->ops[k].label;
            out->tuned = sp->ops[k].tuned;
            out->best_ns = sp->ops[k].best_ns;
            out->runner_ns = sp->ops[k].runner_ns;
            return CLG_OK;
        }
    return clg_fail(CLG_ERR_NOT_FOUND, "the planner does not choose the variant of task '%s'",
                    task);
}
