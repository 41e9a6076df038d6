/* The model as a client of the runtime planner (clgraph/planner.h): the kinds are made with
 * the graphs (graph.c); here their choices come from the plan cache, from measurements on
 * the model's real buffers (a prefill batch and a decode step first fill them), or stay on
 * the kernel files' declared defaults; then the options that force a choice apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * (the prefill kinds are left out when the context is too small for a batch). */
static clg_status measure(llm_model *m) {
    const llm_hparams *hp = &m->hp;
    const int T = hp->n_batch < hp->n_ctx - 1 ? hp->n_batch : hp->n_ctx - 1;
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
