/* Decode paths of the engine on every device, on a tiny random Llama:
 *  - flash-decoding split attention (split over positions, then merged) gives the
 *    logits of the unsplit plan (the kernels are checked against C in ops.attention);
 *  - device-side greedy (llm_model_eval_greedy: the argmax on the device, one id back)
 *    picks the host argmax of the same step's logits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "ref/tiny_model.h"
#include "test_common.h"

static int32_t greedy_prefill;

static void run(const char *path, int split, float *out /* [steps][vocab] */, int steps) {
    llm_model_options o = tc_model_options();
    o.n_ctx = 64;
    o.n_batch = 8;
    o.attn_split = split;
    o.cache_dir = "";
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(path, &o, &m));
    if (!m) return;
    clg_graph *layer0 = clg_plan_graph(llm_model_step_plan(m, 0), 1);
    int merges = 0;
    for (size_t i = 0; i < clg_graph_task_count(layer0); i++)
        merges += !strcmp(clg_task_name(clg_graph_task(layer0, i)), "attn_merge");
    CHECK(merges == (split > 1)); /* the decode graph really splits */
    int32_t toks[12] = {5, 9, 33, 2, 71, 14, 8, 90, 41, 3, 57, 26};
    CHECK_OK(llm_model_eval(m, toks, 12, 0, NULL)); /* prefill: never split */
    for (int s = 0; s < steps; s++)
        CHECK_OK(llm_model_eval(m, &toks[s % 12], 1, 12 + s, out + (size_t)s * TINY_VOCAB));
    /* The same steps again (same positions, same cache contents) through the greedy head. */
    CHECK_OK(llm_model_eval_greedy(m, toks, 12, 0, &greedy_prefill));
    for (int s = 0; s < steps; s++) {
        int32_t id = -1;
        CHECK_OK(llm_model_eval_greedy(m, &toks[s % 12], 1, 12 + s, &id));
        const float *l = out + (size_t)s * TINY_VOCAB;
        int best = 0;
        for (int v = 1; v < TINY_VOCAB; v++)
            if (l[v] > l[best]) best = v;
        CHECK(id == best);
    }
    llm_model_destroy(m);
}

int main(void) {
    tc_seed(21);
    char dir[] = "/tmp/clgraph-split-XXXXXX", path[600];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    CHECK(tiny_model_write(path, NULL) == 0);
    enum { STEPS = 6 };
    static float plain[STEPS * TINY_VOCAB], split3[STEPS * TINY_VOCAB], split8[STEPS * TINY_VOCAB];
    run(path, 1, plain, STEPS);
    run(path, 3, split3, STEPS);
    run(path, 8, split8, STEPS); /* more parts than keys in early steps: empty parts */
    /* Only the summation order differs: float rounding, far below any indexing error. */
    tc_close("split 3 vs unsplit decode logits", split3, plain, STEPS * TINY_VOCAB, 1e-4f, 1e-4f);
    tc_close("split 8 vs unsplit decode logits", split8, plain, STEPS * TINY_VOCAB, 1e-4f, 1e-4f);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return tc_finish("llama_split");
}
