/* The weight layout chosen by measurement, on every device, on a tiny random Llama with q8_0
 * layer matrices (rows a multiple of 8): LLM_LAYOUT_AUTO without a cache file takes the
 * device type's default; with tune it loads both layouts, times them, keeps the faster by the
 * documented rule and caches the choice, which a later load without tune reads back (same
 * layout, same times); the kept model's logits are those of the same layout loaded by hand; a
 * damaged cache file is a warning and the default; tune 2 measures again; an explicit layout
 * is never measured. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "ref/tiny_model.h"
#include "test_common.h"

static char dir[] = "/tmp/clgraph-layout-XXXXXX";
static char model[600], cache[600];
static tc_warnings warnings; /* through the options' warn */

static llm_model *load(int tune, int layout) {
    llm_model_options o = tc_model_options();
    o.n_ctx = 64;
    o.n_batch = 16;
    o.tune = tune;
    o.layout = layout;
    o.cache_dir = cache;
    o.warn = tc_count_warning;
    o.warn_user = &warnings;
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(model, &o, &m));
    return m;
}

/* Logits after a 7-token prompt and one decode step. */
static void logits_of(llm_model *m, float *out) {
    int32_t toks[7] = {3, 17, 42, 5, 88, 1, 60};
    CHECK_OK(llm_model_eval(m, toks, 7, 0, NULL));
    CHECK_OK(llm_model_eval(m, toks + 2, 1, 7, out));
}

/* The cache folder's layout file (path into out[cap]); 0 when there is none. */
static int layout_file(char *out, size_t cap) {
    DIR *d = opendir(cache);
    int found = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (!strncmp(e->d_name, "layout-", 7)) {
            snprintf(out, cap, "%s/%s", cache, e->d_name);
            found++;
        }
    if (d) closedir(d);
    return found == 1;
}

static void print_choice(const char *what, llm_layout_choice c) {
    printf("  %-22s %s (%s): x8 %.3f ms, rows %.3f ms, %d tokens\n", what,
           llm_layout_name(c.layout), llm_layout_how_name(c.how), c.x8_ns / 1e6, c.rows_ns / 1e6,
           c.tokens);
}

int main(void) {
    tc_seed(11);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(model, sizeof model, "%s/tiny-q8.gguf", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    char cmd[1400], path[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", cache);
    CHECK(system(cmd) == 0);
    tiny_variant v = {.retype = "blk.", .retype_dtype = LLM_DTYPE_Q8_0};
    CHECK(tiny_model_write(model, &v) == 0);

    llm_model *m = load(0, LLM_LAYOUT_AUTO); /* no cache file: the device type's default */
    if (!m) return tc_finish("layout");
    llm_layout_choice c = llm_model_layout_choice(m);
    print_choice("untuned", c);
    CHECK(c.how == LLM_LAYOUT_DEFAULT && c.x8_ns == 0 && c.rows_ns == 0);
    const int gpu = clg_context_device(llm_model_context(m))->type == CLG_DEVICE_GPU;
    CHECK(c.layout == (gpu ? LLM_LAYOUT_ROWS : LLM_LAYOUT_X8));
    CHECK(llm_model_hparams(m)->x8 == (c.layout == LLM_LAYOUT_X8));
    llm_model_destroy(m);
    if (gpu) { /* the rows layout is the only one a GPU takes by default: nothing to measure */
        m = load(1, LLM_LAYOUT_AUTO);
        if (m) CHECK(llm_model_layout_choice(m).how == LLM_LAYOUT_DEFAULT);
        llm_model_destroy(m);
        CHECK(!layout_file(path, sizeof path));
        return tc_finish("layout");
    }

    /* Tuned: both layouts timed, the rule applied, the choice cached. */
    m = load(1, LLM_LAYOUT_AUTO);
    if (!m) return tc_finish("layout");
    llm_layout_choice t = llm_model_layout_choice(m);
    print_choice("measured", t);
    CHECK(t.how == LLM_LAYOUT_MEASURED && t.x8_ns > 0 && t.rows_ns > 0);
    CHECK(t.tokens == 16); /* a batch: n_batch, below n_ctx - 4 */
    CHECK(t.layout == (t.rows_ns < 0.97 * t.x8_ns ? LLM_LAYOUT_ROWS : LLM_LAYOUT_X8));
    CHECK(llm_model_hparams(m)->x8 == (t.layout == LLM_LAYOUT_X8));
    CHECK(layout_file(path, sizeof path));
    float got[TINY_VOCAB], want[TINY_VOCAB];
    logits_of(m, got);
    llm_model_destroy(m);
    m = load(0, t.layout); /* the same layout by hand */
    if (m) {
        CHECK(llm_model_layout_choice(m).how == LLM_LAYOUT_SET);
        logits_of(m, want);
        tc_close("kept model vs the same layout by hand", got, want, TINY_VOCAB, 1e-4f, 1e-4f);
    }
    llm_model_destroy(m);

    /* Read back without tune: the same choice and times. */
    m = load(0, LLM_LAYOUT_AUTO);
    if (m) {
        c = llm_model_layout_choice(m);
        print_choice("cached", c);
        CHECK(c.how == LLM_LAYOUT_CACHED && c.layout == t.layout && c.tokens == t.tokens);
        CHECK(c.x8_ns > 0.999 * t.x8_ns && c.x8_ns < 1.001 * t.x8_ns);
        CHECK(c.rows_ns > 0.999 * t.rows_ns && c.rows_ns < 1.001 * t.rows_ns);
        CHECK(llm_model_hparams(m)->x8 == (t.layout == LLM_LAYOUT_X8));
    }
    llm_model_destroy(m);

    /* A damaged file: one warning, the default; tune 2 measures again and rewrites it. */
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("clgraph layout 1\nkey something else\nchoice rows x8 1 rows 1 tokens 1\n", f);
        fclose(f);
    }
    const int w0 = warnings.count;
    m = load(0, LLM_LAYOUT_AUTO);
    if (m) {
        c = llm_model_layout_choice(m);
        print_choice("damaged cache file", c);
        CHECK(c.how == LLM_LAYOUT_DEFAULT && c.layout == LLM_LAYOUT_X8 && warnings.count == w0 + 1);
    }
    llm_model_destroy(m);
    m = load(2, LLM_LAYOUT_AUTO);
    if (m) CHECK(llm_model_layout_choice(m).how == LLM_LAYOUT_MEASURED);
    llm_model_destroy(m);
    m = load(0, LLM_LAYOUT_AUTO);
    if (m) CHECK(llm_model_layout_choice(m).how == LLM_LAYOUT_CACHED && warnings.count == w0 + 1);
    llm_model_destroy(m);

    /* An explicit layout is never measured, tune or not. */
    m = load(1, LLM_LAYOUT_ROWS);
    if (m) {
        c = llm_model_layout_choice(m);
        CHECK(c.how == LLM_LAYOUT_SET && c.layout == LLM_LAYOUT_ROWS && !llm_model_hparams(m)->x8);
    }
    llm_model_destroy(m);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return tc_finish("layout");
}
