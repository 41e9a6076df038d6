/* Several sequences per step (llm_model_eval_batch) on every device: four prompts of
 * different lengths, evaluated interleaved in one call (chunks of different sequences in the
 * same steps, sequences numbered out of the prompts' order, more wanted rows in a step than
 * the head returns per pass), then decoded together (one token per sequence per call, in an
 * order that changes), give the logits and the greedy continuations of each prompt evaluated
 * alone with llm_model_eval on a single-sequence model; so do single-token steps of one
 * sequence (the decode plan), a sequence restarted at position 0 while the others keep their
 * caches, and llm_model_eval_greedy (sequence 0) afterwards. Also the argument checks.
 *
 * Without arguments: a tiny random Llama (test/ref/tiny_model.h), float activations.
 * With MODEL GOLDEN [act_q8]: a real model on the golden file's prompts (test/model), float
 * activations, or 8-bit ones with act_q8. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "ref/golden_model.h"
#include "ref/tiny_model.h"
#include "test_common.h"

enum { NSEQ = 4, NGEN = 16, MAX_PROMPT = 40 };

typedef struct prompt {
    const int32_t *tok;
    int n;
} prompt;

/* A prompt evaluated alone: the logits at every prompt position, then greedy decoding. */
typedef struct ref_run {
    float *prompt_logits; /* [n, V] */
    float *gen_logits;    /* [NGEN + 2, V]: gen_logits[s] picks gen[s]; [0] is the prompt's last */
    int32_t gen[NGEN + 2];
} ref_run;

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* What the batched logits may differ from the single runs' by: abs + rel * max |logit| of
 * the row; tie: a reference top-2 margin below which another greedy pick is a near tie. One
 * for logits that both computed with the same step plan (prefill: several tokens per step),
 * one for those where the single run took decode steps (one token per step) and the batch
 * prefill steps, or the other way round. */
typedef struct tolerance {
    double rel, abs, tie;
} tolerance;
static tolerance same_plan, cross_plan;
static double worst[2]; /* the largest difference seen: within one plan, across plans */

static void close_to(const char *what, const float *got, const float *want, int n,
                     const tolerance *tol) {
    double d = 0.0, scale = 0.0;
    int at = 0;
    for (int i = 0; i < n; i++) {
        if (fabs((double)want[i]) > scale) scale = fabs((double)want[i]);
        const double e = fabs((double)got[i] - (double)want[i]);
        if (!(e <= d)) d = e, at = i; /* NaN counts */
    }
    const double limit = tol->abs + tol->rel * scale;
    double *w = &worst[tol != &same_plan];
    if (!(d <= *w)) *w = d;
    CHECK(d <= limit);
    if (!(d <= limit))
        fprintf(stderr, "%s: max |d| %g at %d (got %g want %g), max |logit| %g: above %g\n", what,
                d, at, (double)got[at], (double)want[at], scale, limit);
}

/* The greedy pick of the batched logits l equals the single run's (ref: its logits), unless
 * that one was a near tie; returns 1 when equal. */
static int same_pick(const char *what, const float *l, const float *ref, int V,
                     const tolerance *tol) {
    const int a = argmax(l, V), b = argmax(ref, V);
    float second = -INFINITY;
    for (int v = 0; v < V; v++)
        if (v != b && ref[v] > second) second = ref[v];
    const double margin = (double)ref[b] - second;
    CHECK(a == b || margin < tol->tie);
    if (a != b)
        printf("  %s: greedy token %d, alone %d (margin %.3f%s)\n", what, a, b, margin,
               margin < tol->tie ? ", a near tie" : "");
    return a == b;
}

static llm_model *load(const char *path, int n_seq, int n_ctx, int n_batch, int act) {
    llm_model_options o = tc_model_options();
    o.n_seq = n_seq;
    o.n_ctx = n_ctx;
    o.n_batch = n_batch;
    o.act = act;
    llm_model *m = NULL;
    CHECK_OK(llm_model_load(path, &o, &m));
    if (m) CHECK(llm_model_n_seq(m) == (n_seq > 0 ? n_seq : 1));
    return m;
}

/* Prompt p alone on the single-sequence model r (llm_model_eval): the logits at position j
 * from evaluating tokens 0 .. j in one call (for every j with all, else the last only; r's
 * n_batch holds them: one step), then greedy decoding: one token per call, or with
 * prefix_steps each step as the whole sequence so far in one call (every token through the
 * prefill plan, as the batched steps of several tokens run them). */
static void reference(llm_model *r, const prompt *p, int all, int prefix_steps, int V,
                      ref_run *out) {
    int32_t seq[MAX_PROMPT + NGEN + 2];
    memcpy(seq, p->tok, (size_t)p->n * sizeof *seq);
    for (int j = all ? 0 : p->n - 1; j < p->n; j++)
        CHECK_OK(llm_model_eval(r, seq, j + 1, 0, out->prompt_logits + (size_t)j * V));
    memcpy(out->gen_logits, out->prompt_logits + (size_t)(p->n - 1) * V, (size_t)V * 4);
    out->gen[0] = argmax(out->gen_logits, V);
    for (int s = 1; s <= NGEN + 1; s++) {
        float *l = out->gen_logits + (size_t)s * V;
        seq[p->n + s - 1] = out->gen[s - 1];
        if (prefix_steps)
            CHECK_OK(llm_model_eval(r, seq, p->n + s, 0, l));
        else
            CHECK_OK(llm_model_eval(r, &out->gen[s - 1], 1, p->n + s - 1, l));
        out->gen[s] = argmax(l, V);
    }
}

static void run(const char *path, const prompt *pr, int n_ctx, int n_batch, int act,
                int prefix_steps) {
    llm_model *r = load(path, 0, n_ctx, MAX_PROMPT + NGEN + 2, act),
              *m = load(path, NSEQ, n_ctx, n_batch, act);
    if (!r || !m) goto done;
    const int V = llm_model_hparams(m)->n_vocab;
    ref_run ref[NSEQ];
    int total = 0;
    for (int k = 0; k < NSEQ; k++) {
        ref[k].prompt_logits = malloc((size_t)pr[k].n * V * sizeof(float));
        ref[k].gen_logits = malloc((size_t)(NGEN + 2) * V * sizeof(float));
        total += pr[k].n;
    }
    /* the prompts' sequences, out of their order */
    static const int32_t sq[NSEQ] = {3, 1, 0, 2};
    int32_t *tok = malloc((size_t)total * 4), *pos = malloc((size_t)total * 4),
            *seq = malloc((size_t)total * 4), *src = malloc((size_t)total * 4);
    uint8_t *want = malloc((size_t)total);
    float *out = malloc((size_t)total * V * sizeof(float));
    for (int k = 0; k < NSEQ; k++)
        if (!ref[k].prompt_logits || !ref[k].gen_logits) tok = NULL;
    if (!tok || !pos || !seq || !src || !want || !out) {
        CHECK(!"out of memory");
        goto free_all;
    }
    for (int k = 0; k < NSEQ; k++)
        reference(r, &pr[k], k == 1, prefix_steps, V, &ref[k]);

    /* Prefill, one call: chunks of 3 tokens of each prompt in turn, so that the steps of
     * n_batch tokens mix sequences and split prompts; wanted: each prompt's last token and
     * every token of prompt 1 (more rows in a step than the head's n_seq per pass). */
    int n = 0, next[NSEQ] = {0};
    while (n < total)
        for (int k = 0; k < NSEQ; k++)
            for (int c = 0; c < 3 && next[k] < pr[k].n; c++, n++) {
                const int j = next[k]++;
                tok[n] = pr[k].tok[j];
                pos[n] = j;
                seq[n] = sq[k];
                src[n] = k;
                want[n] = j == pr[k].n - 1 || k == 1;
            }
    CHECK_OK(llm_model_eval_batch(m, tok, pos, seq, n, want, out));
    int same[NSEQ] = {0}; /* greedy picks equal to the single run's */
    char what[96];
    for (int i = 0, row = 0; i < n; i++) {
        if (!want[i]) continue;
        const float *l = out + (size_t)row++ * V,
                    *rl = ref[src[i]].prompt_logits + (size_t)pos[i] * V;
        snprintf(what, sizeof what, "prefill: prompt %d position %d", src[i], pos[i]);
        const tolerance *t = pos[i] > 0 ? &same_plan : &cross_plan; /* position 0: decode */
        close_to(what, l, rl, V, t);
        if (pos[i] == pr[src[i]].n - 1) same[src[i]] += same_pick(what, l, rl, V, t);
    }

    /* Decode: one token per sequence per call, the order turning each step; the tokens are
     * the single runs' greedy picks (so that a near tie that parts them does not end the
     * comparison), each checked against the batched pick. */
    for (int s = 1; s < NGEN; s++) {
        for (int c = 0; c < NSEQ; c++) {
            const int k = (c + s) % NSEQ;
            tok[c] = ref[k].gen[s - 1];
            pos[c] = pr[k].n + s - 1;
            seq[c] = sq[k];
            src[c] = k;
            want[c] = 1;
        }
        CHECK_OK(llm_model_eval_batch(m, tok, pos, seq, NSEQ, want, out));
        for (int c = 0; c < NSEQ; c++) {
            const int k = src[c];
            snprintf(what, sizeof what, "decode step %d: prompt %d", s, k);
            const float *rl = ref[k].gen_logits + (size_t)s * V;
            const tolerance *t = prefix_steps ? &same_plan : &cross_plan;
            close_to(what, out + (size_t)c * V, rl, V, t);
            same[k] += same_pick(what, out + (size_t)c * V, rl, V, t);
        }
    }
    /* Single-token steps (the decode plan), one sequence at a time, want NULL. */
    for (int k = NSEQ - 1; k >= 0; k--) {
        const int32_t p1 = pr[k].n + NGEN - 1;
        CHECK_OK(llm_model_eval_batch(m, &ref[k].gen[NGEN - 1], &p1, &sq[k], 1, NULL, out));
        snprintf(what, sizeof what, "single step: prompt %d", k);
        close_to(what, out, ref[k].gen_logits + (size_t)NGEN * V, V, &cross_plan);
        same[k] += same_pick(what, out, ref[k].gen_logits + (size_t)NGEN * V, V, &cross_plan);
    }
    for (int k = 0; k < NSEQ; k++)
        printf("  prompt %d (%d tokens, sequence %d): %d of %d greedy picks as alone\n", k, pr[k].n,
               sq[k], same[k], NGEN + 1);

    /* Sequence sq[3] restarts with prompt 0 from position 0 while the others keep their
     * caches: prompt 0's last logits, then one step of it with prompt 1's sequence. */
    n = pr[0].n;
    for (int j = 0; j < n; j++)
        tok[j] = pr[0].tok[j], pos[j] = j, seq[j] = sq[3];
    CHECK_OK(llm_model_eval_batch(m, tok, pos, seq, n, NULL, out));
    close_to("restarted sequence", out, ref[0].prompt_logits + (size_t)(n - 1) * V, V, &same_plan);
    const int32_t t2[2] = {ref[0].gen[0], ref[1].gen[NGEN]}, p2[2] = {n, pr[1].n + NGEN},
                  s2[2] = {sq[3], sq[1]};
    const uint8_t w2[2] = {1, 1};
    CHECK_OK(llm_model_eval_batch(m, t2, p2, s2, 2, w2, out));
    const tolerance *t = prefix_steps ? &same_plan : &cross_plan;
    close_to("restarted sequence, next step", out, ref[0].gen_logits + (size_t)V, V, t);
    /* (its cache holds the single-token step's row: across plans) */
    close_to("prompt 1 beside it", out + V, ref[1].gen_logits + (size_t)(NGEN + 1) * V, V,
             &cross_plan);
    /* sequence 0 through the single-sequence calls */
    int32_t id = -1;
    CHECK_OK(llm_model_eval_greedy(m, pr[0].tok, pr[0].n, 0, &id));
    CHECK(id == ref[0].gen[0] || cross_plan.tie > 0);

    /* Refused: a sequence out of range, positions not consecutive, beyond the context. */
    const int32_t bt[2] = {1, 2}, bs_bad[2] = {0, NSEQ}, bs[2] = {1, 1}, bp[2] = {3, 5},
                  bp_far[2] = {n_ctx - 1, n_ctx};
    CHECK(llm_model_eval_batch(m, bt, bp, bs_bad, 2, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "sequence 4") != NULL);
    CHECK(llm_model_eval_batch(m, bt, bp, bs, 2, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "consecutive") != NULL);
    CHECK(llm_model_eval_batch(m, bt, bp_far, bs, 2, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "outside the context") != NULL);
    printf("  max |difference| to the single-sequence runs: %.3g within one step plan, %.3g "
           "across plans\n",
           worst[0], worst[1]);
free_all:
    for (int k = 0; k < NSEQ; k++) {
        free(ref[k].prompt_logits);
        free(ref[k].gen_logits);
    }
    free(tok);
    free(pos);
    free(seq);
    free(src);
    free(want);
    free(out);
done:
    llm_model_destroy(r);
    llm_model_destroy(m);
}

int main(int argc, char **argv) {
    tc_seed(44);
    if (argc >= 3) { /* a real model on the golden file's first four prompts */
        const int q8 = argc > 3 && !strcmp(argv[3], "act_q8");
        tg_golden *g = NULL;
        CHECK_OK(tg_golden_load(argv[2], &g));
        if (!g || g->n_prompts < NSEQ) {
            CHECK(!"a golden file with four prompts");
            tg_golden_destroy(g);
            return tc_finish("llama_seqs");
        }
        prompt pr[NSEQ];
        for (int k = 0; k < NSEQ; k++)
            pr[k] = (prompt){g->prompts[k].tokens, g->prompts[k].n_tokens < MAX_PROMPT
                                                       ? g->prompts[k].n_tokens
                                                       : MAX_PROMPT - 3 * k};
        /* Float activations: the same products and attention per token as the single runs
         * (prefill tiles vs decode steps: float rounding at most). 8-bit activations: within
         * one plan the same, so the single runs' decode steps take the prefill plan too
         * (prefix_steps); across plans (position 0, the single-token steps) the prefill
         * kernels' float rounding differs from the decode kernels' and flips block roundings
         * that grow layer by layer (batched prefill vs token-by-token in model.q4_1_actq8:
         * the tolerances are that test's for Q4_1, batch 1.37 and tie 0.51). */
        same_plan = (tolerance){1e-3, 0.0, 0.0};
        cross_plan = q8 ? (tolerance){0.0, 1.37, 0.51} : same_plan;
        run(argv[1], pr, 128, 32, q8 ? LLM_ACT_Q8 : LLM_ACT_F32, q8);
        tg_golden_destroy(g);
        return tc_finish("llama_seqs");
    }
    char dir[] = "/tmp/clgraph-seqs-XXXXXX", path[600];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    CHECK(tiny_model_write(path, NULL) == 0);
    static int32_t toks[NSEQ][12];
    static const int lens[NSEQ] = {5, 11, 3, 8};
    prompt pr[NSEQ];
    for (int k = 0; k < NSEQ; k++) {
        for (int j = 0; j < lens[k]; j++)
            toks[k][j] = (int32_t)(tc_randu() % TINY_VOCAB);
        pr[k] = (prompt){toks[k], lens[k]};
    }
    same_plan = cross_plan = (tolerance){1e-3, 0.0, 0.0};
    run(path, pr, 64, 16, LLM_ACT_AUTO, 0);
    /* a negative number of sequences is refused */
    llm_model_options o = tc_model_options();
    o.n_seq = -1;
    llm_model *m = NULL;
    CHECK(llm_model_load(path, &o, &m) == CLG_ERR_INVALID_ARG && m == NULL);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return tc_finish("llama_seqs");
}
