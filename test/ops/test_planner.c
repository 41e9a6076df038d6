/* The planner on every device, on a tiny random Llama: tuning measures every product
 * kind, tuned and heuristic plans give the same logits, the plan cache round-trips,
 * a corrupt cache file is ignored, and a changed kernel source invalidates the cache. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "ref/tiny_model.h"
#include "test_common.h"

static const char *kinds[] = {"qkv", "attn_output", "ffn_swiglu", "ffn_down", "output"};
static char dir[] = "/tmp/clgraph-planner-XXXXXX";
static char model[600], cache[600];

static llm_model *load(int tune) {
    llm_model_options o = llm_model_options_default();
    o.n_ctx = 64;
    o.n_batch = 16;
    o.tune = tune;
    o.cache_dir = cache;
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(model, &o, &m));
    return m;
}

/* Logits after a 7-token prompt and one decode step (both plans run). */
static void logits_of(llm_model *m, float *out) {
    if (!m) return; /* the failed load is already counted */
    int32_t toks[7] = {3, 17, 42, 5, 88, 1, 60};
    CHECK_OK(llm_model_eval(m, toks, 7, 0, NULL));
    CHECK_OK(llm_model_eval(m, toks + 2, 1, 7, out));
}

/* Number of products whose choice is "tuned" in both plans (of 10). */
static int tuned_count(llm_model *m) {
    int n = 0;
    if (!m) return -1;
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 5; k++) {
            llm_plan_choice c;
            CHECK_OK(llm_model_plan_choice(m, w, kinds[k], &c));
            n += c.tuned;
        }
    return n;
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

int main(void) {
    tc_seed(3);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(model, sizeof model, "%s/tiny.gguf", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", cache);
    CHECK(system(cmd) == 0);
    CHECK(tiny_model_write(model, NULL) == 0);
    float heur[TINY_VOCAB], tuned[TINY_VOCAB], cached[TINY_VOCAB];

    llm_model *m = load(0); /* no cache yet: heuristics */
    CHECK(tuned_count(m) == 0);
    logits_of(m, heur);
    llm_model_destroy(m);

    m = load(1); /* measures and caches */
    CHECK(tuned_count(m) == 10);
    llm_plan_choice c;
    CHECK_OK(llm_model_plan_choice(m, 0, "ffn_swiglu", &c));
    printf("  decode ffn_swiglu: %s, %.1f us (runner-up %.1f us)\n", c.variant, c.best_ns / 1e3, c.runner_ns / 1e3);
    CHECK(c.best_ns > 0 && (c.runner_ns < 0 || c.runner_ns >= c.best_ns));
    CHECK(llm_model_plan_choice(m, 0, "attn_norm", &c) == CLG_ERR_NOT_FOUND);
    logits_of(m, tuned);
    llm_model_destroy(m);
    tc_close("tuned vs heuristic plan logits", tuned, heur, TINY_VOCAB, 1e-4f, 1e-4f);

    char plan[900];
    CHECK(plan_files(plan, sizeof plan) == 1);
    m = load(0); /* from the cache, no measuring */
    CHECK(tuned_count(m) == 10);
    logits_of(m, cached);
    llm_model_destroy(m);
    tc_close("cached plan logits", cached, tuned, TINY_VOCAB, 0, 0);

    /* A corrupt cache file is ignored (with a warning on stderr): heuristics again. */
    FILE *f = fopen(plan, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("clgraph-plan 1\n0 qkv 7 3 x\n", f);
        fclose(f);
    }
    m = load(0);
    CHECK(tuned_count(m) == 0);
    llm_model_destroy(m);
    m = load(2); /* --retune rewrites it */
    CHECK(tuned_count(m) == 10);
    llm_model_destroy(m);

    /* A changed kernel source is another key: the old plan does not apply. */
    const char *src = getenv("CLGRAPH_SRC");
    snprintf(cmd, sizeof cmd, "mkdir -p %s/k && cp %s/cl/*.cl %s/k/ && echo '/* changed */' >> %s/k/matmul.cl",
             dir, src ? src : ".", dir, dir);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/k", dir);
    setenv("CLGRAPH_KERNEL_DIR", cmd, 1);
    m = load(0);
    CHECK(tuned_count(m) == 0);
    llm_model_destroy(m);
    unsetenv("CLGRAPH_KERNEL_DIR");

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return tc_finish("planner");
}
