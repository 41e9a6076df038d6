/* The planner on every device, on a tiny random Llama: tuning measures every product
 * kind, every RMSNorm and the attention of both plans, tuned and heuristic plans give the
 * same logits (also with the split decode attention, and with a cache file that forces
 * other declared variants on every kind), the plan cache round-trips every choice, a
 * corrupt or stale cache file is ignored, and a changed kernel source invalidates it. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "ref/tiny_model.h"
#include "test_common.h"

/* The planner's kinds: products, then norms and attention. */
enum { N_PRODUCTS = 5, N_KINDS = 9 };
static const char *kinds[N_KINDS] = {"qkv",      "attn_output", "ffn_swiglu",
                                     "ffn_down", "output",      "attn_norm",
                                     "ffn_norm", "output_norm", "attention"};
static char dir[] = "/tmp/clgraph-planner-XXXXXX";
static char model[600], cache[600];
static const char *kernel_dir; /* NULL: the embedded kernel files */
static tc_warnings warnings;   /* through the options' warn */

static llm_model *load_split(int tune, int split) {
    llm_model_options o = tc_model_options();
    o.n_ctx = 64;
    o.n_batch = 16;
    o.tune = tune;
    o.attn_split = split;
    o.cache_dir = cache;
    o.kernel_dir = kernel_dir;
    o.warn = tc_count_warning;
    o.warn_user = &warnings;
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(model, &o, &m));
    return m;
}
static llm_model *load(int tune) {
    return load_split(tune, 0);
}

/* Logits after a 7-token prompt and one decode step (both plans run). */
static void logits_of(llm_model *m, float *out) {
    if (!m) return; /* the failed load is already counted */
    int32_t toks[7] = {3, 17, 42, 5, 88, 1, 60};
    CHECK_OK(llm_model_eval(m, toks, 7, 0, NULL));
    CHECK_OK(llm_model_eval(m, toks + 2, 1, 7, out));
}

/* The planner's kind `kind` of plan w (0 decode, 1 prefill). */
static const clg_kind *kind_of(llm_model *m, int w, const char *kind) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", w ? "prefill" : "decode", kind);
    return clg_planner_find_kind(llm_model_planner(m), name);
}

/* Every choice of both plans. */
typedef struct choices {
    char variant[2][N_KINDS][48];
    int tuned[2][N_KINDS];
    double best[2][N_KINDS], runner[2][N_KINDS];
} choices;

static void choices_of(llm_model *m, choices *c) {
    memset(c, 0, sizeof *c);
    if (!m) return;
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < N_KINDS; k++) {
            const clg_kind *kind = kind_of(m, w, kinds[k]);
            CHECK(kind != NULL);
            if (!kind) continue;
            const clg_choice *pc = clg_kind_choice(kind);
            snprintf(c->variant[w][k], sizeof c->variant[w][k], "%s", pc->label);
            c->tuned[w][k] = pc->tuned;
            c->best[w][k] = pc->best_ns;
            c->runner[w][k] = pc->runner_ns;
        }
}

/* Number of choices that are "tuned" in both plans (of 2 * N_KINDS). */
static int tuned_count(llm_model *m) {
    if (!m) return -1;
    choices c;
    choices_of(m, &c);
    int n = 0;
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < N_KINDS; k++)
            n += c.tuned[w][k];
    return n;
}

/* A task of layer.0 (graph 1) of plan `which`, by name. */
static clg_task *layer0_task(llm_model *m, int which, const char *name) {
    clg_graph *g = clg_plan_graph(llm_model_step_plan(m, which), 1);
    for (size_t i = 0; i < clg_graph_task_count(g); i++)
        if (!strcmp(clg_task_name(clg_graph_task(g, i)), name)) return clg_graph_task(g, i);
    return NULL;
}

/* The norm and attention tasks of layer.0 run what their choice says: the kernel of the
 * variant ("row" -> *_row, "wg" -> *_wg, "split" -> attention_split) with its local size. */
static void check_tasks_follow(llm_model *m) {
    if (!m) return;
    for (int w = 0; w < 2; w++)
        for (int k = N_PRODUCTS; k < N_KINDS; k++) {
            if (!strcmp(kinds[k], "output_norm")) continue; /* in the head graph */
            clg_task *t = layer0_task(m, w, kinds[k]);
            CHECK(t != NULL);
            if (!t) continue;
            const clg_kind *kind = clg_planner_task_kind(llm_model_planner(m), t);
            CHECK(kind == kind_of(m, w, kinds[k]));
            if (!kind) continue;
            const clg_choice *c = clg_kind_choice(kind);
            const char *want = c->variant;
            size_t value = c->local, g[3], l[3];
            const char *kern = clg_task_kernel_name(t);
            int ok = !strcmp(want, "split") ? !strcmp(kern, "attention_split")
                                            : strlen(kern) > strlen(want) &&
                                                  !strcmp(kern + strlen(kern) - strlen(want), want);
            clg_task_range(t, g, l);
            if (!ok || l[0] != value)
                fprintf(stderr, "  plan %d %s: choice '%s' but kernel %s, local %zu\n", w, kinds[k],
                        c->label, kern, l[0]);
            CHECK(ok && l[0] == value);
        }
}

static int plan_files(char *path, size_t cap) {
    int n = 0;
    DIR *d = opendir(cache);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".plan")) {
            snprintf(path, cap, "%s/%s", cache, e->d_name);
            n++;
        }
    if (d) closedir(d);
    return n;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void remove_plans(void) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -f %s/*.plan", cache);
    CHECK(system(cmd) == 0);
}

int main(void) {
    tc_seed(3);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(model, sizeof model, "%s/tiny.gguf", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", cache);
    CHECK(system(cmd) == 0);
    CHECK(tiny_model_write(model, NULL) == 0);
    float heur[TINY_VOCAB], tuned[TINY_VOCAB], cached[TINY_VOCAB], other[TINY_VOCAB];

    llm_model *m = load(0);              /* no cache yet: heuristics */
    if (!m) return tc_finish("planner"); /* no device or no model: nothing below can run */
    CHECK(tuned_count(m) == 0);
    choices h;
    choices_of(m, &h);
    check_tasks_follow(m);
    logits_of(m, heur);
    llm_model_destroy(m);

    m = load(1); /* measures and caches */
    CHECK(tuned_count(m) == 2 * N_KINDS);
    choices t;
    choices_of(m, &t);
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < N_KINDS; k++) {
            printf("  %s %-11s %-13s %8.1f us (heuristic %s; runner-up %.1f us)\n",
                   w ? "prefill" : "decode ", kinds[k], t.variant[w][k], t.best[w][k] / 1e3,
                   h.variant[w][k], t.runner[w][k] / 1e3);
            CHECK(t.best[w][k] > 0);
            /* the incumbent rule: a winner other than the heuristic beat it by the margin */
            CHECK(t.runner[w][k] < 0 || t.runner[w][k] >= t.best[w][k] ||
                  !strcmp(t.variant[w][k], h.variant[w][k]));
        }
    check_tasks_follow(m);
    if (m) {
        clg_choice c;
        CHECK(clg_planner_task_kind(llm_model_planner(m), layer0_task(m, 0, "rope_kv")) == NULL);
        CHECK_OK(clg_planner_replay_choice(llm_model_planner(m), llm_model_step_plan(m, 0), &c));
        CHECK(clg_planner_replay_choice(llm_model_planner(m), llm_model_step_plan(m, 1), &c) ==
              CLG_ERR_NOT_FOUND);
    }
    logits_of(m, tuned);
    llm_model_destroy(m);
    tc_close("tuned vs heuristic plan logits", tuned, heur, TINY_VOCAB, 1e-4f, 1e-4f);

    char plan[900];
    CHECK(plan_files(plan, sizeof plan) == 1);
    m = load(0); /* from the cache, no measuring */
    CHECK(tuned_count(m) == 2 * N_KINDS);
    choices r;
    choices_of(m, &r);
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < N_KINDS; k++) {
            int same = !strcmp(r.variant[w][k], t.variant[w][k]) &&
                       fabs(r.best[w][k] - t.best[w][k]) <= 0.5 &&
                       fabs(r.runner[w][k] - t.runner[w][k]) <= 0.5;
            if (!same)
                fprintf(stderr, "  plan %d %s: cached %s %.0f %.0f, tuned %s %.0f %.0f\n", w,
                        kinds[k], r.variant[w][k], r.best[w][k], r.runner[w][k], t.variant[w][k],
                        t.best[w][k], t.runner[w][k]);
            CHECK(same);
        }
    check_tasks_follow(m);
    logits_of(m, cached);
    llm_model_destroy(m);
    tc_close("cached plan logits", cached, tuned, TINY_VOCAB, 0, 0);

    /* A plan file that forces other declared variants on every kind (taken by both devices:
     * llvmpipe runs barrier kernels with work-groups of up to 32 items). */
    const char *forced_text =
        "clgraph-plan 4\n"
        "kind decode.qkv wg 16 - 1000 2000\nkind decode.attn_output row 4 - 1000 2000\n"
        "kind decode.ffn_swiglu wg 16 - 1000 2000\nkind decode.ffn_down row 1 - 1000 2000\n"
        "kind decode.output row 4 - 1000 2000\n"
        "kind decode.attn_norm wg 32 - 1000 2000\nkind decode.ffn_norm wg 32 - 1000 2000\n"
        "kind decode.output_norm wg 32 - 1000 2000\nkind decode.attention wg 32 - 1000 2000\n"
        "kind prefill.qkv row 4 - 1000 2000\nkind prefill.attn_output wg 16 clblast 1000 2000\n"
        "kind prefill.ffn_swiglu row 1 - 1000 2000\nkind prefill.ffn_down wg 16 - 1000 2000\n"
        "kind prefill.output wg 16 - 1000 2000\n"
        "kind prefill.attn_norm wg 32 - 1000 2000\nkind prefill.ffn_norm wg 32 - 1000 2000\n"
        "kind prefill.output_norm wg 32 - 1000 2000\nkind prefill.attention wg 32 - 1000 2000\n";
    write_file(plan, forced_text);
    m = load(0);
    CHECK(tuned_count(m) == 2 * N_KINDS);
    choices f;
    choices_of(m, &f);
    for (int w = 0; w < 2; w++)
        for (int k = N_PRODUCTS; k < N_KINDS; k++)
            CHECK(!strncmp(f.variant[w][k], "wg ", 3) && strstr(f.variant[w][k], "_WG=32"));
    CHECK(!strcmp(f.variant[0][0], "wg MM_WG=16") && !strcmp(f.variant[1][0], "row local 4"));
    CHECK(!strcmp(f.variant[1][1], "clblast (wg MM_WG=16)")); /* the prefill's library GEMM path */
    check_tasks_follow(m);
    logits_of(m, other);
    llm_model_destroy(m);
    tc_close("forced other variants vs heuristic logits", other, heur, TINY_VOCAB, 1e-4f, 1e-4f);

    /* Corrupt or stale files are ignored (with a warning on stderr): heuristics again. */
    static const char *bad[] = {
        "clgraph-plan 4\nkind decode.qkv own 7 3 x\n", /* garbage */
        "clgraph-plan 1\n0 qkv 0 16 1 2\n0 attn_output 0 16 1 2\n0 ffn_swiglu 0 16 1 2\n"
        "0 ffn_down 0 16 1 2\n0 output 0 16 1 2\n1 qkv 0 16 1 2\n1 attn_output 0 16 1 2\n"
        "1 ffn_swiglu 0 16 1 2\n1 ffn_down 0 16 1 2\n1 output 0 16 1 2\n", /* the previous format */
        NULL, /* the forced file with a variant the kernel file does not declare */
        NULL, /* with a work-group size it does not declare */
        NULL, /* truncated before the attention of the prefill plan */
    };
    char variants_bad[2][2048], truncated[2048];
    snprintf(variants_bad[0], sizeof variants_bad[0], "%s", forced_text);
    char *p = strstr(variants_bad[0], "decode.attention wg");
    CHECK(p != NULL);
    if (p) memcpy(p, "decode.attention xx", 19);
    snprintf(variants_bad[1], sizeof variants_bad[1], "%s", forced_text);
    p = strstr(variants_bad[1], "prefill.ffn_norm wg 32");
    CHECK(p != NULL);
    if (p) memcpy(p, "prefill.ffn_norm wg 48", 22);
    snprintf(truncated, sizeof truncated, "%s", forced_text);
    p = strstr(truncated, "kind prefill.attention");
    if (p) *p = 0;
    bad[2] = variants_bad[0];
    bad[3] = variants_bad[1];
    bad[4] = truncated;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(plan, bad[i]);
        const int warned = warnings.count;
        m = load(0);
        CHECK(warnings.count == warned + 1); /* the caller hears why the file was ignored */
        int n = tuned_count(m);
        if (n != 0) fprintf(stderr, "  bad plan file %zu: %d choices taken from it\n", i, n);
        CHECK(n == 0);
        check_tasks_follow(m);
        if (i == 2) { /* the half-read file left nothing behind */
            logits_of(m, other);
            tc_close("after a bad plan file, heuristic logits", other, heur, TINY_VOCAB, 0, 0);
        }
        llm_model_destroy(m);
    }
    m = load(2); /* --retune rewrites it */
    CHECK(tuned_count(m) == 2 * N_KINDS);
    llm_model_destroy(m);

    /* The split decode attention (flash decoding) is tuned among the split's work-group
     * sizes; the prefill plan's attention is not split. */
    remove_plans();
    m = load_split(1, 2);
    CHECK(tuned_count(m) == 2 * N_KINDS);
    choices s;
    choices_of(m, &s);
    printf("  split: decode attention %s, prefill attention %s\n", s.variant[0][8],
           s.variant[1][8]);
    CHECK(!strncmp(s.variant[0][8], "split ATT_WG=", 13) && strncmp(s.variant[1][8], "split", 5));
    check_tasks_follow(m);
    logits_of(m, other);
    llm_model_destroy(m);
    tc_close("tuned split plan vs heuristic logits", other, heur, TINY_VOCAB, 1e-4f, 1e-4f);
    m = load_split(0, 2); /* and from its cache */
    choices s2;
    choices_of(m, &s2);
    CHECK(!strcmp(s2.variant[0][8], s.variant[0][8]) && s2.tuned[0][8]);
    llm_model_destroy(m);

    /* A changed kernel source is another key: the old plan does not apply. */
    const char *src = getenv("CLGRAPH_SRC");
    for (int i = 0; i < 2; i++) {
        const char *file = i ? "attention" : "matmul";
        snprintf(cmd, sizeof cmd,
                 "mkdir -p %s/k && cp %s/cl/*.cl %s/k/ && echo '/* changed */' >> %s/k/%s.cl", dir,
                 src ? src : ".", dir, dir, file);
        CHECK(system(cmd) == 0);
        snprintf(cmd, sizeof cmd, "%s/k", dir);
        kernel_dir = cmd;
        m = load_split(0, 2);
        if (tuned_count(m) != 0) fprintf(stderr, "  a plan survived a change of %s.cl\n", file);
        CHECK(tuned_count(m) == 0);
        llm_model_destroy(m);
        kernel_dir = NULL;
    }

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return tc_finish("planner");
}
