/* The model as a client of the runtime planner (clgraph/planner.h): the kinds are made with
 * the graphs (graph.c); here their choices come from the plan cache, from measurements on
 * the model's real buffers (a prefill batch and a decode step first fill them), or stay on
 * the kernel files' declared defaults; then the options that force a choice apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/report.h"
#include "clgraph/util.h"
#include "graphs/llama/llama_impl.h"

/* What the plan cache is keyed by beyond the device, driver and the kinds' kernel sources,
 * build options and types, which the planner adds: the shapes (and the sequences where there
 * are several: the key of one sequence is the key of a model before sequences existed). */
static void cache_key(const llm_model *m, char *buf, size_t cap) {
    const llm_hparams *hp = &m->hp;
    int n =
        snprintf(buf, cap,
                 "%s embd=%d ff=%d qkv=%d vocab=%d layers=%d batch=%d heads=%d/%d hd=%d kv_f16=%d "
                 "split=%d "
                 "att_pos=%d act_q8=%d gemm_own=%d x8=%d",
                 m->arch->name, hp->n_embd, hp->n_ff, m->qkv_dim, hp->n_vocab, hp->n_layer,
                 hp->n_batch, hp->n_head, hp->n_head_kv, hp->head_dim, hp->kv_f16, m->attn_split,
                 llm_att_tune_pos(m), hp->act_q8, m->gemm_mode == LLM_GEMM_OWN, hp->x8);
    if (m->n_seq > 1 && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " seqs=%d", m->n_seq);
}

/* Measures every kind: a prefill batch then a decode step put real data in every buffer
 * (the prefill kinds are left out when the context is too small for a batch). With several
 * sequences the batch is one row per sequence: the step that decodes all of them, which the
 * prefill plan runs most under continuous batching (prompts come once, their tokens every
 * step); on PoCL the local sizes that suit 8 rows and 64 differ. */
static clg_status measure(llm_model *m) {
    const llm_hparams *hp = &m->hp;
    int T = hp->n_batch < hp->n_ctx - 1 ? hp->n_batch : hp->n_ctx - 1;
    if (m->n_seq > 1 && m->n_seq < T) T = m->n_seq;
    const int n = T > 1 ? T : 1;
    int32_t *tokens = malloc((size_t)n * sizeof *tokens);
    if (!tokens) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tuning");
    for (int i = 0; i < n; i++)
        tokens[i] = (int32_t)((i * 7919u + 13u) % (unsigned)hp->n_vocab);
    clg_status st = T > 1 ? llm_model_eval(m, tokens, T, 0, NULL) : CLG_OK;
    if (st == CLG_OK) st = llm_model_eval(m, tokens, 1, T > 0 ? T : 0, NULL);
    free(tokens);
    for (size_t i = 0; i < clg_planner_kind_count(m->planner) && st == CLG_OK; i++) {
        clg_kind *k = clg_planner_kind(m->planner, i);
        if (T < 2 && !strncmp(clg_kind_name(k), "prefill.", 8)) continue;
        st = clg_kind_tune(k);
    }
    /* replay on vs off, timed on decode steps at position T */
    int32_t tok = 1;
    if (st == CLG_OK) st = llm_model_eval(m, &tok, 1, T > 0 ? T : 0, NULL);
    if (st == CLG_OK) st = clg_planner_tune_replay(m->planner);
    return st;
}

/* The choices the model's options force: the library GEMM on every prefill kind that offers
 * it (for comparisons; the plan cache keeps the measured choice), replay on or off. */
static clg_status force(llm_model *m) {
    clg_status st = CLG_OK;
    for (int k = 0; k < MM_KINDS && st == CLG_OK && m->gemm_mode == LLM_GEMM_CLBLAST; k++)
        if (llm_gemm_offered(m, &m->prefill, (mm_kind)k)) {
            const clg_choice *c = clg_kind_choice(m->prefill.mm[k]);
            st = clg_kind_select(m->prefill.mm[k], c->variant, c->value, "clblast");
        }
    if (st == CLG_OK && m->replay >= 0) st = clg_planner_select_replay(m->planner, m->replay);
    return st;
}

clg_status llm_tune_plans(llm_model *m, int tune) {
    char key[512];
    cache_key(m, key, sizeof key);
    int loaded = 0;
    clg_status st = tune < 2 ? clg_planner_load(m->planner, NULL, key, &loaded) : CLG_OK;
    if (st == CLG_OK && !loaded && tune) {
        st = measure(m);
        if (st == CLG_OK) st = clg_planner_save(m->planner, NULL, key);
    }
    return st == CLG_OK ? force(m) : st;
}

/* ---- the weight layout, measured ------------------------------------------------
 * LLM_LAYOUT_AUTO loads x8 on CPU devices. With tune, where some matrix took it, the model
 * is loaded a second time in the file's row layout and both are timed on the same work,
 * interleaved: a prefill batch at position 0 and decode steps after it. The rows model stays
 * only when it is at least 3% faster (as replay: the x8 layout is the device type's default).
 * The choice goes to a small file in the cache folder, keyed by the plan-cache key, the
 * device, its driver and the kernel sources, which later loads without tune read. Where the
 * second copy does not fit (CLG_ERR_OUT_OF_MEMORY), x8 stays unmeasured, with a warning. */

enum { LAYOUT_ROUNDS = 7, LAYOUT_DECODE = 4 };

/* The decision file's key and path ("" without a cache folder). */
static void layout_key(const llm_model *m, char *key, size_t cap, char *path, size_t pcap) {
    const clg_device_info *d = clg_context_device(m->ctx);
    uint64_t h = CLG_HASH_INIT;
    for (const clg_kernel_file *f = llm_kernel_files(); f->name; f++)
        h = clg_hash(clg_hash_str(h, f->name), f->source, f->source_len);
    char base[512];
    cache_key(m, base, sizeof base);
    snprintf(key, cap, "%s | %s | %s | kernels %016llx", base, d->device_name, d->driver_version,
             (unsigned long long)h);
    const char *dir = clg_context_cache_dir(m->ctx);
    if (!dir || !*dir ||
        snprintf(path, pcap, "%s/layout-%016llx.txt", dir,
                 (unsigned long long)clg_hash_str(CLG_HASH_INIT, key)) >= (int)pcap)
        *path = 0;
}

/* The choice saved at path for key, into *c; 0 when there is none or it does not hold (a
 * damaged or stale file is a warning: measured again with tune, else the default). */
static int layout_read(const llm_model_options *opt, const char *path, const char *key,
                       llm_layout_choice *c) {
    FILE *f = *path ? fopen(path, "r") : NULL;
    if (!f) return 0;
    char line[1400], name[8]; /* the key is below 1024 bytes (layout_key) */
    int ok = fgets(line, sizeof line, f) && !strcmp(line, "clgraph layout 1\n") &&
             fgets(line, sizeof line, f) && !strncmp(line, "key ", 4) &&
             !strncmp(line + 4, key, strlen(key)) && !strcmp(line + 4 + strlen(key), "\n") &&
             fscanf(f, "choice %7s x8 %lf rows %lf tokens %d", name, &c->x8_ns, &c->rows_ns,
                    &c->tokens) == 4 &&
             (!strcmp(name, "x8") || !strcmp(name, "rows")) && c->x8_ns > 0 && c->rows_ns > 0 &&
             c->tokens >= 0;
    fclose(f);
    if (!ok) {
        char msg[1400];
        snprintf(msg, sizeof msg,
                 "layout cache file %s: not a layout choice for this model, device and kernels; "
                 "ignored",
                 path);
        if (opt->warn) opt->warn(opt->warn_user, msg);
        return 0;
    }
    c->layout = !strcmp(name, "x8") ? LLM_LAYOUT_X8 : LLM_LAYOUT_ROWS;
    c->how = LLM_LAYOUT_CACHED;
    return 1;
}

typedef struct layout_file {
    const char *key;
    const llm_layout_choice *c;
} layout_file;

static clg_status layout_fill(void *user, FILE *f) {
    const layout_file *lf = user;
    fprintf(f, "clgraph layout 1\nkey %s\nchoice %s x8 %.0f rows %.0f tokens %d\n", lf->key,
            llm_layout_name(lf->c->layout), lf->c->x8_ns, lf->c->rows_ns, lf->c->tokens);
    return CLG_OK;
}

/* One round on m: a prefill batch of T tokens (T > 0) at position 0, then LAYOUT_DECODE
 * decode steps; ns of the batch and of one step. */
static clg_status layout_round(llm_model *m, const int32_t *tok, int T, double *prefill,
                               double *step) {
    double t0 = clg_now_ns();
    clg_status st = T > 0 ? llm_model_eval(m, tok, T, 0, NULL) : CLG_OK;
    double t1 = clg_now_ns();
    for (int i = 0; i < LAYOUT_DECODE && st == CLG_OK; i++)
        st = llm_model_eval(m, tok + i, 1, T + i, NULL);
    *prefill = t1 - t0;
    *step = (clg_now_ns() - t1) / LAYOUT_DECODE;
    return st;
}

/* Times x8 and rows on the same rounds, interleaved; the choice into *c. */
static clg_status layout_measure(llm_model *x8, llm_model *rows, llm_layout_choice *c) {
    const llm_hparams *hp = &x8->hp;
    int T = hp->n_ctx - LAYOUT_DECODE < hp->n_batch ? hp->n_ctx - LAYOUT_DECODE : hp->n_batch;
    if (T < 0) T = 0;
    int32_t *tok = malloc(((size_t)T + LAYOUT_DECODE) * sizeof *tok);
    if (!tok) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "measuring the weight layout");
    for (int i = 0; i < T + LAYOUT_DECODE; i++)
        tok[i] = (int32_t)((i * 7919u + 13u) % (unsigned)hp->n_vocab);
    double pre[2][LAYOUT_ROUNDS], dec[2][LAYOUT_ROUNDS], p, d;
    llm_model *ms[2] = {x8, rows};
    clg_status st = CLG_OK;
    for (int r = -1; r < LAYOUT_ROUNDS && st == CLG_OK; r++) /* round -1: warm-up */
        for (int k = 0; k < 2 && st == CLG_OK; k++)
            if ((st = layout_round(ms[k], tok, T, &p, &d)) == CLG_OK && r >= 0)
                pre[k][r] = p, dec[k][r] = d;
    free(tok);
    if (st != CLG_OK) return st;
    double score[2];
    for (int k = 0; k < 2; k++) /* T prompt tokens and T generated (1 without a prompt) */
        score[k] =
            clg_median(pre[k], LAYOUT_ROUNDS) + (T > 0 ? T : 1) * clg_median(dec[k], LAYOUT_ROUNDS);
    *c = (llm_layout_choice){.layout = score[1] < 0.97 * score[0] ? LLM_LAYOUT_ROWS : LLM_LAYOUT_X8,
                             .how = LLM_LAYOUT_MEASURED,
                             .x8_ns = score[0],
                             .rows_ns = score[1],
                             .tokens = T};
    return CLG_OK;
}

clg_status llm_load_layout(const char *path, const llm_model_options *opt, llm_model **out) {
    llm_model *m = NULL, *rows = NULL;
    clg_status st = llm_model_load_as(path, opt, &m);
    *out = m;
    if (st != CLG_OK || opt->layout != LLM_LAYOUT_AUTO || !m->n_x8) return st;
    char key[1024], file[1200];
    layout_key(m, key, sizeof key, file, sizeof file);
    llm_layout_choice c;
    int have = opt->tune < 2 && layout_read(opt, file, key, &c);
    if (!have && !opt->tune) return CLG_OK; /* the device type's default */
    llm_model_options o = *opt;
    o.layout = LLM_LAYOUT_ROWS;
    if (have && c.layout == LLM_LAYOUT_X8) {
        m->layout = c;
        return CLG_OK;
    }
    if (have) { /* rows, measured earlier (the x8 load was the price of reading the key) */
        llm_model_destroy(m);
        *out = NULL;
        if ((st = llm_model_load_as(path, &o, &rows)) == CLG_OK) rows->layout = c, *out = rows;
        return st;
    }
    if (opt->progress) opt->progress(opt->progress_user, "measuring the weight layout", 0, 2);
    st = llm_model_load_as(path, &o, &rows);
    if (st == CLG_ERR_OUT_OF_MEMORY) { /* no room for both copies: the default, unmeasured */
        char msg[1200];
        snprintf(msg, sizeof msg, "the weight layout stays x8, unmeasured: %s", clg_last_error());
        if (opt->warn) opt->warn(opt->warn_user, msg);
        return CLG_OK;
    }
    if (st == CLG_OK) st = layout_measure(m, rows, &c);
    if (st != CLG_OK) {
        llm_model_destroy(rows);
        llm_model_destroy(m);
        *out = NULL;
        return st;
    }
    if (opt->progress) opt->progress(opt->progress_user, "measuring the weight layout", 2, 2);
    if (*file &&
        clg_file_write_atomic(file, "layout cache file", layout_fill, &(layout_file){key, &c}) !=
            CLG_OK &&
        opt->warn)
        opt->warn(opt->warn_user, clg_last_error()); /* the cache is an optimisation */
    if (c.layout == LLM_LAYOUT_ROWS) {
        llm_model_destroy(m);
        m = rows;
    } else {
        llm_model_destroy(rows);
    }
    m->layout = c;
    *out = m;
    return CLG_OK;
}
