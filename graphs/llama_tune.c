/* The planner for Llama step plans: for each weight-product kind (qkv, attn_output,
 * ffn_swiglu, ffn_down, output) of each plan, the candidate variants of cl/matmul.cl
 * are filtered by the device, timed on the plan's real buffers and shapes (all layers'
 * tasks of the kind in one step, so that weights stream from memory as they do in a
 * real step; one layer's weights alone would stay in cache), and the winner is applied
 * to every task of that kind. Where the device has cl_khr_command_buffer, decode steps
 * are then timed with recorded replay on and off and the faster is kept. Winners persist
 * in a plan cache keyed by device, driver, kernel source and shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "graphs/llama_impl.h"

#define PLAN_MAGIC "clgraph-plan 1"
#define TUNE_WARMUP 2
#define TUNE_REPS 5
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

/* Candidate variants: rows per work-item with a local size, or a work-group per row. */
static const size_t row_locals[] = {1, 4, 16, 64};
static const int wg_sizes[] = {16, 64};
#define N_CANDIDATES (sizeof row_locals / sizeof row_locals[0] + sizeof wg_sizes / sizeof wg_sizes[0])

/* The matmul program for a plan with work-group size wg (built on first use). */
static clg_status program_for(llm_model *m, step_plan *sp, int wg, clg_program **out) {
    if (wg == 0 || wg == MM_WG) {
        *out = sp->matmul;
        return CLG_OK;
    }
    char opts[64];
    if (sp->tile == MM_TT_PREFILL) snprintf(opts, sizeof opts, "-DMM_WG=%d", wg);
    else snprintf(opts, sizeof opts, "-DMM_TT=%d -DMM_WG=%d", sp->tile, wg);
    return clg_program_get(m->ctx, "matmul", opts, out);
}

/* Moves every task of kind k to configuration c. */
static clg_status apply(llm_model *m, step_plan *sp, mm_kind k, const mm_cfg *c) {
    clg_task *tasks[1024];
    int rows;
    size_t n = llm_mm_tasks(m, sp, k, tasks, &rows);
    sp->cfg[k] = *c;
    char kname[64];
    llm_mm_kernel(m, c, k, kname, sizeof kname);
    for (size_t i = 0; i < n; i++) {
        clg_status st = clg_task_set_kernel(tasks[i], c->prog, kname);
        if (st == CLG_OK) st = llm_mm_range(sp, k, tasks[i], rows, k == MM_OUT ? 1 : sp->cur_T);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

/* Measures kind k's candidates on all its tasks (every layer's, or both heads' output
 * products) at the plan's current batch size, and applies the winner to them. */
static clg_status tune_kind(llm_model *m, step_plan *sp, mm_kind k) {
    clg_task *tasks[1024];
    int rows;
    size_t n_tasks = llm_mm_tasks(m, sp, k, tasks, &rows);
    int T = k == MM_OUT ? 1 : sp->cur_T;
    mm_cfg cfg[N_CANDIDATES];
    clg_candidate cand[N_CANDIDATES];
    char names[N_CANDIDATES][64];
    size_t n = 0;
    clg_status st;
    const size_t max_wg = clg_context_device(m->ctx)->max_work_group_size;
    for (size_t i = 0; i < N_CANDIDATES; i++) {
        mm_cfg *c = &cfg[n];
        memset(c, 0, sizeof *c);
        size_t nl = sizeof row_locals / sizeof row_locals[0];
        if (i < nl) c->local = row_locals[i];
        else c->wg = wg_sizes[i - nl];
        if ((c->wg ? (size_t)c->wg : c->local) > max_wg) continue; /* filtered by the device */
        if ((st = program_for(m, sp, c->wg, &c->prog)) != CLG_OK) return st;
        llm_mm_cfg_label(c);
        clg_candidate *d = &cand[n];
        memset(d, 0, sizeof *d);
        d->prog = c->prog;
        d->kernel = llm_mm_kernel(m, c, k, names[n], sizeof names[n]);
        d->dims = 2;
        llm_mm_ndrange(sp, c, rows, T, d->global, d->local);
        d->label = c->label;
        n++;
    }
    double ns[N_CANDIDATES];
    size_t best;
    /* All layers' tasks at once: each reads its own weights, cold, as in a real step. */
    st = clg_task_tune_group(tasks, n_tasks, cand, n, TUNE_WARMUP, TUNE_REPS, ns, &best);
    if (st != CLG_OK) return st;
    mm_cfg win = cfg[best];
    win.tuned = 1;
    win.best_ns = ns[best];
    win.runner_ns = -1;
    for (size_t i = 0; i < n; i++)
        if (i != best && ns[i] >= 0 && (win.runner_ns < 0 || ns[i] < win.runner_ns)) win.runner_ns = ns[i];
    return apply(m, sp, k, &win);
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
    for (int on = 0; on < 2; on++) qsort(t[on], REPLAY_ROUNDS * REPLAY_STEPS, sizeof t[on][0], cmp_double);
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
        if (!strcasecmp(env, "on") || !strcmp(env, "1")) on = 1;
        else if (!strcasecmp(env, "off") || !strcmp(env, "0")) on = 0;
        else return clg_fail(CLG_ERR_INVALID_ARG, "CLGRAPH_REPLAY='%s': expected on or off", env);
    }
    if (on && replay_set(m, 1) == CLG_OK) return CLG_OK;
    if (on && !forced) m->decode.replay.on = 0;
    return replay_set(m, 0);
}

/* ---- plan cache ---------------------------------------------------------- */

static void cache_path(const llm_model *m, char *buf, size_t cap) {
    const clg_device_info *d = clg_context_device(m->ctx);
    const llm_hparams *hp = &m->hp;
    uint64_t h = 0xcbf29ce484222325ull;
#define MIX(p, n)                                                                                  \
    for (size_t i_ = 0; i_ < (n); i_++) h = (h ^ ((const unsigned char *)(p))[i_]) * 0x100000001b3ull
    MIX(PLAN_MAGIC, sizeof PLAN_MAGIC);
    MIX(d->device_name, strlen(d->device_name));
    MIX(d->driver_version, strlen(d->driver_version));
    MIX(d->platform_version, strlen(d->platform_version));
    uint64_t src = clg_program_source_hash(m->decode.matmul);
    const layer_weights *w = &m->lw[0];
    int shape[] = {hp->n_embd, hp->n_ff, m->qkv_dim, hp->n_vocab, hp->n_layer, hp->n_batch,
                   w->qkv_type, w->wo_type, w->ffn_type, w->down_type, m->out_type, MM_TT_PREFILL};
    MIX(&src, sizeof src);
    MIX(shape, sizeof shape);
#undef MIX
    snprintf(buf, cap, "%s/%016llx.plan", clg_context_cache_dir(m->ctx), (unsigned long long)h);
}

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
            fprintf(f, "%d %s %d %zu %.0f %.0f\n", p, llm_mm_kind_name((mm_kind)k), c->wg, c->local,
                    c->best_ns, c->runner_ns);
        }
    if (m->decode.replay.tuned) /* optional: files without it leave replay to the heuristic */
        fprintf(f, "replay %d %.0f %.0f\n", m->decode.replay.on, m->decode.replay.on_ns, m->decode.replay.off_ns);
    if (fclose(f) == 0) rename(tmp, path);
    else remove(tmp);
}

/* 1 when a valid cache file was applied, 0 when there is none; a corrupt one is
 * reported on stderr and ignored. */
static int cache_load(llm_model *m) {
    if (!clg_context_cache_dir(m->ctx)) return 0;
    char path[1200], line[256];
    cache_path(m, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    mm_cfg cfg[2][MM_KINDS];
    int ok = fgets(line, sizeof line, f) && !strncmp(line, PLAN_MAGIC, strlen(PLAN_MAGIC));
    step_plan *plans[2] = {&m->decode, &m->prefill};
    for (int i = 0; ok && i < 2 * MM_KINDS; i++) {
        int p, wg;
        size_t local;
        double best, runner;
        char kind[32];
        ok = fgets(line, sizeof line, f) &&
             sscanf(line, "%d %31s %d %zu %lf %lf", &p, kind, &wg, &local, &best, &runner) == 6 &&
             p == i / MM_KINDS && !strcmp(kind, llm_mm_kind_name((mm_kind)(i % MM_KINDS))) &&
             wg >= 0 && wg <= 1024 && (wg & (wg - 1)) == 0 && (wg ? local == 0 : local >= 1 && local <= 1024);
        if (!ok) break;
        mm_cfg *c = &cfg[p][i % MM_KINDS];
        memset(c, 0, sizeof *c);
        c->wg = wg;
        c->local = local;
        c->tuned = 1;
        c->best_ns = best;
        c->runner_ns = runner;
        llm_mm_cfg_label(c);
        ok = program_for(m, plans[p], wg, &c->prog) == CLG_OK;
    }
    int on;
    double on_ns, off_ns;
    if (ok && fgets(line, sizeof line, f) && sscanf(line, "replay %d %lf %lf", &on, &on_ns, &off_ns) == 3 &&
        (on == 0 || on == 1) && clg_context_device(m->ctx)->has_command_buffer) {
        m->decode.replay.on = on;
        m->decode.replay.tuned = 1;
        m->decode.replay.on_ns = on_ns;
        m->decode.replay.off_ns = off_ns;
    }
    fclose(f);
    for (int p = 0; ok && p < 2; p++)
        for (int k = 0; ok && k < MM_KINDS; k++) ok = apply(m, plans[p], (mm_kind)k, &cfg[p][k]) == CLG_OK;
    if (!ok) {
        fprintf(stderr, "clgraph: warning: ignoring the unreadable plan cache file %s\n", path);
        for (int p = 0; p < 2; p++) /* back to the heuristics: a half-applied plan is not kept */
            for (int k = 0; k < MM_KINDS; k++) {
                mm_cfg c;
                llm_mm_cfg_default(m, plans[p], &c);
                apply(m, plans[p], (mm_kind)k, &c);
            }
        replay_default(m);
    }
    return ok;
}

/* ---- entry points ---------------------------------------------------------- */

clg_status llm_tune_plans(llm_model *m, int tune) {
    replay_default(m);
    if (tune < 2 && cache_load(m)) return replay_apply(m);
    if (tune == 0) return replay_apply(m); /* heuristics */
    const llm_hparams *hp = &m->hp;
    /* Real data in every buffer: a prefill batch, then a decode step. */
    int T = hp->n_batch < hp->n_ctx - 1 ? hp->n_batch : hp->n_ctx - 1;
    int32_t *tokens = malloc((size_t)T * sizeof *tokens);
    if (!tokens) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tuning");
    for (int i = 0; i < T; i++) tokens[i] = (int32_t)((i * 7919u + 13u) % (unsigned)hp->n_vocab);
    clg_status st = T > 1 ? llm_model_eval(m, tokens, T, 0, NULL) : CLG_OK;
    if (st == CLG_OK) st = llm_model_eval(m, tokens, 1, T, NULL);
    free(tokens);
    step_plan *plans[2] = {&m->decode, &m->prefill};
    for (int p = 0; p < 2 && st == CLG_OK; p++) {
        if (p == 1 && T < 2) break; /* no prefill batches with a context this small */
        for (int k = 0; k < MM_KINDS && st == CLG_OK; k++) st = tune_kind(m, plans[p], (mm_kind)k);
    }
    if (st == CLG_OK && clg_context_device(m->ctx)->has_command_buffer) st = tune_replay(m, T);
    if (st == CLG_OK) cache_store(m);
    return st == CLG_OK ? replay_apply(m) : st;
}

clg_plan *llm_model_step_plan(const llm_model *m, int which) {
    const step_plan *sp = which & 1 ? &m->prefill : &m->decode;
    return which & 2 ? sp->greedy_plan : sp->plan;
}

clg_status llm_model_plan_choice(const llm_model *m, int which, const char *task, llm_plan_choice *out) {
    const step_plan *sp = which & 1 ? &m->prefill : &m->decode;
    if (!strcmp(task, "replay") && !(which & 1)) { /* the chosen mode's time, the other's as runner-up */
        const int has = clg_context_device(m->ctx)->has_command_buffer;
        const int on = clg_plan_replay(llm_model_step_plan(m, which)); /* $CLGRAPH_REPLAY may force it */
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
    return clg_fail(CLG_ERR_NOT_FOUND, "the planner does not choose the variant of task '%s'", task);
}
