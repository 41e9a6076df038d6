/* Several sequences per step (llm_model_eval_batch) on every device: four prompts of
 * different lengths, evaluated interleaved in one call (chunks of different sequences in the
 * same steps, sequences numbered out of the prompts' order, more wanted rows in a step than
 * the head returns per pass), then decoded together (one token per sequence per call, in an
 * order that changes), give bit for bit the logits and the greedy continuations of each
 * prompt evaluated alone with llm_model_eval on a single-sequence model; so do single-token steps
 * of one sequence (the decode plan), a sequence restarted at position 0 while the others keep their
 * caches, and llm_model_eval_greedy (sequence 0) afterwards; llm_model_eval_batch_greedy
 * gives the arg-max of the batched logits' rows (the prefill's several passes of the head,
 * a decode step). Also the argument checks.
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

/* The same tokens again through llm_model_eval_batch_greedy (their cache entries are
 * written again, alike): its ids must be the arg-max of each wanted row of logits (rows of
 * out), lowest index on ties. */
static void greedy_same(const char *what, llm_model *m, const int32_t *tok, const int32_t *pos,
                        const int32_t *seq, int n, const uint8_t *want, const float *logits, int V,
                        int32_t *ids) {
    CHECK_OK(llm_model_eval_batch_greedy(m, tok, pos, seq, n, want, ids));
    int rows = 0, equal = 0;
    for (int i = 0; i < n; i++) {
        if (!want[i]) continue;
        equal += ids[rows] == argmax(logits + (size_t)rows * V, V);
        rows++;
    }
    CHECK(equal == rows);
    printf("  %s: the device's arg-max of %d rows: %d as the logits'\n", what, rows, equal);
}

/* Where the model says so (llm_model_rows_invariant: the planner's row variants, its choice
 * on CPU devices) the batched logits must equal the single runs' bit for bit: every kernel
 * computes a token's row by the same operations whatever else is in the step (the 8-bit
 * products scale each block the same way with one token or a tile of them), so that
 * batching never changes a stream's text. Elsewhere (work-group variants on GPUs) float
 * rounding: 1e-3 of the row's largest logit. worst: the largest difference seen where both
 * runs took the same step plan (prefill: several tokens per step) and where one took the
 * decode plan (one token per step) and the other the prefill plan. */
static int exact;
static double worst[2];

static void same_logits(const char *what, const float *got, const float *want, int n, int cross) {
    double d = 0.0, scale = 0.0;
    int at = 0;
    for (int i = 0; i < n; i++) {
        if (fabs((double)want[i]) > scale) scale = fabs((double)want[i]);
        const double e = fabs((double)got[i] - (double)want[i]);
        if (!(e <= d)) d = e, at = i; /* NaN counts */
    }
    if (!(d <= worst[cross])) worst[cross] = d;
    const double limit = exact ? 0.0 : 1e-3 * scale;
    CHECK(d <= limit);
    if (!(d <= limit))
        fprintf(stderr, "%s: max |d| %g at %d (got %.9g want %.9g): above %g\n", what, d, at,
                (double)got[at], (double)want[at], limit);
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
 * n_batch holds them: one step), then greedy decoding, one token per call (the decode
 * plan). */
static void reference(llm_model *r, const prompt *p, int all, int V, ref_run *out) {
    int32_t seq[MAX_PROMPT + NGEN + 2];
    memcpy(seq, p->tok, (size_t)p->n * sizeof *seq);
    for (int j = all ? 0 : p->n - 1; j < p->n; j++)
        CHECK_OK(llm_model_eval(r, seq, j + 1, 0, out->prompt_logits + (size_t)j * V));
    memcpy(out->gen_logits, out->prompt_logits + (size_t)(p->n - 1) * V, (size_t)V * 4);
    out->gen[0] = argmax(out->gen_logits, V);
    for (int s = 1; s <= NGEN + 1; s++) {
        float *l = out->gen_logits + (size_t)s * V;
        seq[p->n + s - 1] = out->gen[s - 1];
        CHECK_OK(llm_model_eval(r, &out->gen[s - 1], 1, p->n + s - 1, l));
        out->gen[s] = argmax(l, V);
    }
}

static void run(const char *path, const prompt *pr, int n_ctx, int n_batch, int act) {
    llm_model *r = load(path, 0, n_ctx, MAX_PROMPT + NGEN + 2, act),
              *m = load(path, NSEQ, n_ctx, n_batch, act);
    if (!r || !m) goto done;
    /* CPU devices get the row variants, whose rows do not depend on the batch */
    exact = llm_model_rows_invariant(m) && llm_model_rows_invariant(r);
    CHECK(exact || clg_context_device(llm_model_context(m))->type == CLG_DEVICE_GPU);
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
    int32_t *ids = malloc((size_t)total * 4);
    float *out = malloc((size_t)total * V * sizeof(float));
    for (int k = 0; k < NSEQ; k++)
        if (!ref[k].prompt_logits || !ref[k].gen_logits) tok = NULL;
    if (!tok || !pos || !seq || !src || !want || !out || !ids) {
        CHECK(!"out of memory");
        goto free_all;
    }
    for (int k = 0; k < NSEQ; k++)
        reference(r, &pr[k], k == 1, V, &ref[k]);

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
    greedy_same("prefill", m, tok, pos, seq, n, want, out, V, ids);
    int same[NSEQ] = {0}; /* greedy picks equal to the single run's */
    char what[96];
    for (int i = 0, row = 0; i < n; i++) {
        if (!want[i]) continue;
        const float *l = out + (size_t)row++ * V,
                    *rl = ref[src[i]].prompt_logits + (size_t)pos[i] * V;
        snprintf(what, sizeof what, "prefill: prompt %d position %d", src[i], pos[i]);
        same_logits(what, l, rl, V, pos[i] == 0); /* position 0: decode */
        if (pos[i] == pr[src[i]].n - 1) same[src[i]] += argmax(l, V) == argmax(rl, V);
    }

    /* Decode: one token per sequence per call (the prefill plan), the order turning each
     * step; the tokens are the single runs' greedy picks, each checked against the batched
     * pick. */
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
        if (s == 1) greedy_same("decode step", m, tok, pos, seq, NSEQ, want, out, V, ids);
        for (int c = 0; c < NSEQ; c++) {
            const int k = src[c];
            snprintf(what, sizeof what, "decode step %d: prompt %d", s, k);
            const float *rl = ref[k].gen_logits + (size_t)s * V;
            same_logits(what, out + (size_t)c * V, rl, V, 1);
            same[k] += argmax(out + (size_t)c * V, V) == ref[k].gen[s];
        }
    }
    /* Single-token steps (the decode plan), one sequence at a time, want NULL. */
    for (int k = NSEQ - 1; k >= 0; k--) {
        const int32_t p1 = pr[k].n + NGEN - 1;
        CHECK_OK(llm_model_eval_batch(m, &ref[k].gen[NGEN - 1], &p1, &sq[k], 1, NULL, out));
        snprintf(what, sizeof what, "single step: prompt %d", k);
        same_logits(what, out, ref[k].gen_logits + (size_t)NGEN * V, V, 0);
        same[k] += argmax(out, V) == ref[k].gen[NGEN];
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
    same_logits("restarted sequence", out, ref[0].prompt_logits + (size_t)(n - 1) * V, V, 0);
    const int32_t t2[2] = {ref[0].gen[0], ref[1].gen[NGEN]}, p2[2] = {n, pr[1].n + NGEN},
                  s2[2] = {sq[3], sq[1]};
    const uint8_t w2[2] = {1, 1};
    CHECK_OK(llm_model_eval_batch(m, t2, p2, s2, 2, w2, out));
    same_logits("restarted sequence, next step", out, ref[0].gen_logits + (size_t)V, V, 1);
    same_logits("prompt 1 beside it", out + V, ref[1].gen_logits + (size_t)(NGEN + 1) * V, V, 1);
    /* sequence 0 through the single-sequence calls */
    int32_t id = -1;
    CHECK_OK(llm_model_eval_greedy(m, pr[0].tok, pr[0].n, 0, &id));
    CHECK(id == ref[0].gen[0]);

    /* A prefix shared through llm_model_copy_seq: prompt 1's first k positions copied from
     * its sequence into sq[2], which then evaluates only the last two tokens. */
    const int k1 = pr[1].n - 2;
    CHECK_OK(llm_model_copy_seq(m, sq[1], sq[2], k1));
    const int32_t p3[2] = {k1, k1 + 1}, s3[2] = {sq[2], sq[2]};
    CHECK_OK(llm_model_eval_batch(m, pr[1].tok + k1, p3, s3, 2, NULL, out));
    same_logits("after a copied prefix", out, ref[1].prompt_logits + (size_t)(k1 + 1) * V, V, 0);
    CHECK(llm_model_copy_seq(m, sq[1], sq[1], 1) == CLG_ERR_INVALID_ARG);
    CHECK(llm_model_copy_seq(m, NSEQ, 0, 1) == CLG_ERR_INVALID_ARG);
    CHECK(llm_model_copy_seq(m, 0, 1, n_ctx + 1) == CLG_ERR_INVALID_ARG);

    /* Refused: a sequence out of range, positions not consecutive, beyond the context. */
    const int32_t bt[2] = {1, 2}, bs_bad[2] = {0, NSEQ}, bs[2] = {1, 1}, bp[2] = {3, 5},
                  bp_far[2] = {n_ctx - 1, n_ctx};
    CHECK(llm_model_eval_batch(m, bt, bp, bs_bad, 2, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "sequence 4") != NULL);
    CHECK(llm_model_eval_batch(m, bt, bp, bs, 2, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "consecutive") != NULL);
    CHECK(llm_model_eval_batch(m, bt, bp_far, bs, 2, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "outside the context") != NULL);
    CHECK(llm_model_eval_batch_greedy(m, bt, bp, bs, 2, NULL, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(llm_model_eval_batch_greedy(m, bt, bp, bs_bad, 2, NULL, ids) == CLG_ERR_INVALID_ARG);
    printf("  max |difference| to the single-sequence runs (%s): %.3g within one step plan, "
           "%.3g across plans\n",
           exact ? "rows invariant: must be 0" : "work-group variants", worst[0], worst[1]);
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
    free(ids);
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
        run(argv[1], pr, 128, 32, q8 ? LLM_ACT_Q8 : LLM_ACT_F32);
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
    run(path, pr, 64, 16, LLM_ACT_AUTO);
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
