/* Sampler: greedy = arg-max, seeds, empirical distributions against softmax
 * (chi-square) after temperature / top-k / top-p / min-p, the repetition
 * penalty, parameter checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/sampler.h"
#include "clgraph/util.h"
#include "test_common.h"

static llm_sampler *make(llm_sampler_params p, int n_vocab) {
    llm_sampler *s = NULL;
    CHECK_OK(llm_sampler_create(&p, n_vocab, &s));
    return s;
}

/* Params with every filter off, at temperature t. */
static llm_sampler_params plain(float t, uint64_t seed) {
    llm_sampler_params p = llm_sampler_params_default();
    p.temperature = t;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

/* Draws n_draws tokens into counts[n_vocab]; returns 0 if any id is invalid. */
static int draw(llm_sampler *s, const float *logits, int n_vocab, int n_draws, long *counts) {
    memset(counts, 0, (size_t)n_vocab * sizeof(*counts));
    for (int i = 0; i < n_draws; i++) {
        int32_t t = llm_sampler_sample(s, logits);
        if (t < 0 || t >= n_vocab) return 0;
        counts[t]++;
    }
    return 1;
}

/* Chi-square of counts against probabilities want[] (0 = must never appear).
 * Fails on any count where want is 0 or on chi2 above ~5 sigma of its df. */
static void check_distribution(const char *what, const long *counts, const double *want,
                               int n_vocab, int n_draws) {
    double chi2 = 0.0;
    int df = -1, forbidden = 0, worst = -1;
    double worst_term = 0.0;
    for (int i = 0; i < n_vocab; i++) {
        if (want[i] <= 0.0) {
            if (counts[i]) {
                forbidden++;
                fprintf(stderr, "%s: token %d drawn %ld times, probability 0\n", what, i,
                        counts[i]);
            }
            continue;
        }
        double e = want[i] * n_draws, d = (double)counts[i] - e;
        double term = d * d / e;
        chi2 += term;
        df++;
        if (term > worst_term) worst_term = term, worst = i;
    }
    double limit = df + 7.0 * sqrt(2.0 * (df > 0 ? df : 1)) + 10.0;
    tc_checks++;
    if (forbidden || !(chi2 <= limit)) {
        tc_failures++;
        fprintf(stderr,
                "%s: chi2 = %.1f (df %d, limit %.1f), worst token %d: %ld drawn, %.1f expected\n",
                what, chi2, df, limit, worst, worst >= 0 ? counts[worst] : 0L,
                worst >= 0 ? want[worst] * n_draws : 0.0);
        return;
    }
    printf("  %s: chi2 = %.1f over %d degrees of freedom (limit %.1f)\n", what, chi2, df, limit);
}

/* softmax(logits[i] / t) over the ids with keep[i] (keep NULL = all). */
static void softmax_ref(const float *logits, const int *keep, int n, double t, double *out) {
    double max = -INFINITY, sum = 0.0;
    for (int i = 0; i < n; i++)
        if ((!keep || keep[i]) && logits[i] > max) max = logits[i];
    for (int i = 0; i < n; i++) {
        out[i] = (!keep || keep[i]) ? exp((logits[i] - max) / t) : 0.0;
        sum += out[i];
    }
    for (int i = 0; i < n; i++)
        out[i] /= sum;
}

/* ---- tests -------------------------------------------------------------- */

static void test_defaults_and_checks(void) {
    llm_sampler_params p = llm_sampler_params_default();
    CHECK(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f);
    CHECK(p.repeat_penalty == 1.0f && p.repeat_last_n == 64);
    CHECK_OK(llm_sampler_params_check(&p));

    struct {
        const char *field;
        llm_sampler_params p;
    } bad[9];
    for (int i = 0; i < 9; i++)
        bad[i].p = p;
    bad[0].field = "top_p", bad[0].p.top_p = -0.1f;
    bad[1].field = "top_p", bad[1].p.top_p = 1.5f;
    bad[2].field = "top_p", bad[2].p.top_p = NAN;
    bad[3].field = "min_p", bad[3].p.min_p = -0.01f;
    bad[4].field = "top_k", bad[4].p.top_k = -1;
    bad[5].field = "repeat_penalty", bad[5].p.repeat_penalty = 0.0f;
    bad[6].field = "repeat_last_n", bad[6].p.repeat_last_n = -1;
    bad[7].field = "temperature", bad[7].p.temperature = NAN;
    bad[8].field = "temperature", bad[8].p.temperature = INFINITY;
    for (int i = 0; i < 9; i++) {
        llm_sampler *s = (llm_sampler *)1;
        CHECK(llm_sampler_create(&bad[i].p, 100, &s) == CLG_ERR_INVALID_ARG);
        CHECK(s == NULL);
        CHECK(strstr(clg_last_error(), bad[i].field) != NULL);
    }
    printf("  rejected: %s\n", clg_last_error());
    llm_sampler *s = (llm_sampler *)1;
    CHECK(llm_sampler_create(&p, 0, &s) == CLG_ERR_INVALID_ARG && s == NULL);
    CHECK(llm_sampler_create(NULL, 10, &s) == CLG_ERR_INVALID_ARG);
    CHECK(llm_sampler_create(&p, 10, NULL) == CLG_ERR_INVALID_ARG);
    llm_sampler_destroy(NULL);
    llm_sampler_reset(NULL);
    llm_sampler_accept(NULL, 3);
}

static void test_greedy(void) {
    const int nv = 49152;
    float *l = malloc(nv * sizeof(float));
    tc_seed(7);
    tc_fill(l, nv, -10.0f, 10.0f);
    llm_sampler_params p = llm_sampler_params_default();
    p.temperature = 0.0f;
    llm_sampler *s = make(p, nv);
    CHECK(llm_sampler_is_greedy(s) && !llm_sampler_is_greedy(NULL));
    llm_sampler *warm = make(plain(0.7f, 1), nv); /* sampling is not */
    CHECK(!llm_sampler_is_greedy(warm));
    llm_sampler_destroy(warm);
    llm_sampler_accept(s, 3); /* no penalty (1.0): still the plain arg-max */
    CHECK(llm_sampler_is_greedy(s));
    for (int round = 0; round < 5; round++) {
        tc_fill(l, nv, -10.0f, 10.0f);
        int want = 0;
        for (int i = 1; i < nv; i++)
            if (l[i] > l[want]) want = i;
        CHECK(llm_sampler_sample(s, l) == want);
    }
    /* ties go to the lowest id; NaN never wins */
    l[100] = 50.0f, l[200] = 50.0f, l[50] = NAN;
    CHECK(llm_sampler_sample(s, l) == 100);
    llm_sampler_destroy(s);

    p.temperature = -1.0f; /* negative is greedy too */
    s = make(p, 4);
    float four[4] = {1.0f, 3.0f, 3.0f, 2.0f};
    CHECK(llm_sampler_sample(s, four) == 1);
    float none[4] = {-INFINITY, NAN, -INFINITY, NAN};
    CHECK(llm_sampler_sample(s, none) == -1);
    CHECK(strstr(clg_last_error(), "finite") != NULL);
    CHECK(llm_sampler_sample(s, NULL) == -1);
    llm_sampler_destroy(s);

    /* vocabularies that are not a multiple of 8: the largest in the tail, or tied between
     * the tail and the part before it, NaN at either end */
    s = make(p, 13);
    float tied[13] = {NAN, 0.0f, 1.0f, 2.0f, 7.0f, 3.0f, 1.0f, 0.0f, 2.0f, 5.0f, 7.0f, 6.0f, NAN};
    CHECK(llm_sampler_sample(s, tied) == 4);
    tied[4] = 6.5f;
    CHECK(llm_sampler_sample(s, tied) == 10);
    tied[12] = 9.0f;
    CHECK(llm_sampler_sample(s, tied) == 12);
    llm_sampler_destroy(s);

    /* sampling at a vanishing temperature is the arg-max as well */
    s = make(plain(1e-30f, 3), 4);
    int ok = 1;
    for (int i = 0; i < 100; i++) {
        int32_t t = llm_sampler_sample(s, four);
        ok &= t == 1 || t == 2;
    }
    CHECK(ok);
    llm_sampler_destroy(s);
    free(l);
}

static void test_seeds(void) {
    const int nv = 1000, n = 500;
    float *l = malloc(nv * sizeof(float));
    tc_seed(11);
    tc_fill(l, nv, -2.0f, 2.0f);
    int32_t a[500], b[500], c[500];
    llm_sampler *sa = make(plain(1.0f, 1234), nv);
    llm_sampler *sb = make(plain(1.0f, 1234), nv);
    llm_sampler *sc = make(plain(1.0f, 1235), nv);
    int diff = 0, same = 1;
    for (int i = 0; i < n; i++) {
        a[i] = llm_sampler_sample(sa, l);
        b[i] = llm_sampler_sample(sb, l);
        c[i] = llm_sampler_sample(sc, l);
        same &= a[i] == b[i];
        diff += a[i] != c[i];
    }
    CHECK(same);
    CHECK(diff > n / 2); /* ~1000 equally likely tokens: almost all differ */
    /* reset replays the sequence; set_seed switches to another one */
    llm_sampler_reset(sa);
    int replay = 1;
    for (int i = 0; i < n; i++)
        replay &= llm_sampler_sample(sa, l) == a[i];
    CHECK(replay);
    llm_sampler_set_seed(sa, 1235);
    int as_c = 1;
    for (int i = 0; i < n; i++)
        as_c &= llm_sampler_sample(sa, l) == c[i];
    CHECK(as_c);
    printf("  seeds: %d of %d tokens differ between seeds 1234 and 1235\n", diff, n);
    llm_sampler_destroy(sa);
    llm_sampler_destroy(sb);
    llm_sampler_destroy(sc);
    free(l);
}

static void test_temperature(void) {
    enum { NV = 12, DRAWS = 200000 };
    float l[NV];
    long counts[NV];
    double want[NV];
    tc_seed(21);
    tc_fill(l, NV, -3.0f, 3.0f);
    const float temps[] = {1.0f, 0.5f, 2.0f};
    for (int k = 0; k < 3; k++) {
        llm_sampler *s = make(plain(temps[k], 100 + k), NV);
        CHECK(draw(s, l, NV, DRAWS, counts));
        softmax_ref(l, NULL, NV, temps[k], want);
        char what[64];
        snprintf(what, sizeof(what), "temperature %.1f", (double)temps[k]);
        check_distribution(what, counts, want, NV, DRAWS);
        llm_sampler_destroy(s);
    }
    /* the test can fail: temperature 1 counts against temperature 2 */
    llm_sampler *s = make(plain(1.0f, 5), NV);
    CHECK(draw(s, l, NV, DRAWS, counts));
    softmax_ref(l, NULL, NV, 2.0, want);
    int saved_f = tc_failures, saved_c = tc_checks;
    fprintf(stderr, "(expected mismatch follows)\n");
    check_distribution("wrong temperature", counts, want, NV, DRAWS);
    CHECK(tc_failures == saved_f + 1);
    tc_failures = saved_f, tc_checks = saved_c + 1;
    llm_sampler_destroy(s);
}

static void test_top_k(void) {
    enum { NV = 500, K = 5, DRAWS = 50000 };
    float l[NV];
    long counts[NV];
    double want[NV];
    int keep[NV];
    tc_seed(31);
    tc_fill(l, NV, -1.0f, 1.0f);
    l[17] = 1.3f, l[400] = 1.25f, l[499] = 1.2f; /* near the cut, plus a tie */
    l[3] = 1.1f, l[4] = 1.1f;                    /* ties: the lower id is kept... */
    l[5] = 1.1f;                                 /* ...so 5 is out with k = 5 */
    llm_sampler_params p = plain(1.5f, 77);
    p.top_k = K;
    llm_sampler *s = make(p, NV);
    CHECK(draw(s, l, NV, DRAWS, counts));
    memset(keep, 0, sizeof(keep));
    keep[17] = keep[400] = keep[499] = keep[3] = keep[4] = 1;
    softmax_ref(l, keep, NV, 1.5, want);
    check_distribution("top-k 5, temperature 1.5", counts, want, NV, DRAWS);
    llm_sampler_destroy(s);
}

/* Small hand-made nucleus: p = .40 .25 .15 .10 .06 .04 at temperature 1. */
static void test_top_p_small(void) {
    enum { NV = 6, DRAWS = 200000 };
    const double p0[NV] = {0.25, 0.04, 0.40, 0.10, 0.15, 0.06};
    float l[NV];
    long counts[NV];
    double want[NV];
    for (int i = 0; i < NV; i++)
        l[i] = (float)log(p0[i]) + 3.0f;
    /* top_p 0.75: 0.40 + 0.25 = 0.65 < 0.75 <= 0.80 -> tokens 2, 0, 4 */
    int keep[NV] = {1, 0, 1, 0, 1, 0};
    for (int sorted_path = 0; sorted_path < 2; sorted_path++) {
        llm_sampler_params p = plain(0.7f, 5 + sorted_path);
        p.top_p = 0.75f;
        p.top_k = sorted_path ? 5 : 0; /* through top-k's sorted list, or unsorted */
        llm_sampler *s = make(p, NV);
        CHECK(draw(s, l, NV, DRAWS, counts));
        /* the nucleus is chosen at temperature 1, then sampled at 0.7 */
        softmax_ref(l, keep, NV, 0.7, want);
        check_distribution(sorted_path ? "top-p 0.75 after top-k" : "top-p 0.75", counts, want, NV,
                           DRAWS);
        llm_sampler_destroy(s);
    }
    /* top_p exactly at a boundary of the sum keeps that token and no more:
     * 0.40 + 0.25 + 0.15 = 0.80 (float rounding aside, 0.79 is inside) */
    llm_sampler_params p = plain(1.0f, 9);
    p.top_p = 0.79f;
    llm_sampler *s = make(p, NV);
    CHECK(draw(s, l, NV, 20000, counts));
    CHECK(counts[1] == 0 && counts[3] == 0 && counts[5] == 0 && counts[4] > 0);
    llm_sampler_destroy(s);
    /* top_p 0 keeps the most likely token only */
    p.top_p = 0.0f;
    s = make(p, NV);
    CHECK(draw(s, l, NV, 1000, counts));
    CHECK(counts[2] == 1000);
    llm_sampler_destroy(s);
}

/* Reference order: logit descending, then id ascending. */
static const float *g_order_logits;
static int cmp_ref(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    float la = g_order_logits[a], lb = g_order_logits[b];
    if (la != lb) return la > lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Reference nucleus of logits l[0..nv) for top_p into keep[]; returns its size.
 * order[] gets the ids sorted by the reference order. */
static int nucleus_ref(const float *l, int nv, float top_p, int *order, int *keep) {
    for (int i = 0; i < nv; i++)
        order[i] = i;
    g_order_logits = l;
    qsort(order, nv, sizeof(int), cmp_ref);
    double max = l[order[0]], z = 0.0, cum = 0.0;
    for (int i = 0; i < nv; i++)
        z += exp(l[i] - max);
    int n = 0;
    memset(keep, 0, nv * sizeof(int));
    while (n < nv && cum < top_p) {
        keep[order[n]] = 1;
        cum += exp(l[order[n]] - max) / z;
        n++;
    }
    return n;
}

/* Large vocabularies, no top-k: the nucleus comes out of the histogram path.
 * Each draw costs O(n_vocab), so few draws: a chi-square over a small nucleus
 * of 16k tokens, then a wide one of Llama 3's 128k (half the mass outside)
 * checked for membership. */
static void test_top_p_large(void) {
    const int nv = 128256, nv_small = 16384;
    float *l = malloc(nv * sizeof(float));
    long *counts = malloc(nv * sizeof(long));
    double *want = malloc(nv * sizeof(double));
    int *keep = malloc(nv * sizeof(int));
    int *order = malloc(nv * sizeof(int));

    /* 60 large logits over a floor of small ones: 0.9 cuts among the large */
    tc_seed(41);
    tc_fill(l, nv_small, -6.0f, 0.0f);
    for (int i = 0; i < 40; i++)
        l[(i * 2039 + 11) % nv_small] = tc_randf(5.0f, 9.0f);
    int n_keep = nucleus_ref(l, nv_small, 0.9f, order, keep);
    llm_sampler_params p = plain(1.0f, 99);
    p.top_p = 0.9f;
    llm_sampler *s = make(p, nv_small);
    const int draws = 4000;
    CHECK(draw(s, l, nv_small, draws, counts));
    softmax_ref(l, keep, nv_small, 1.0, want);
    char what[96];
    snprintf(what, sizeof(what), "top-p 0.9 over %d tokens (nucleus %d)", nv_small, n_keep);
    check_distribution(what, counts, want, nv_small, draws);
    llm_sampler_destroy(s);

    /* flat logits: the nucleus of 0.5 is ~55k tokens, cut deep in the sort */
    tc_fill(l, nv, -2.0f, 0.0f);
    n_keep = nucleus_ref(l, nv, 0.5f, order, keep);
    p.top_p = 0.5f;
    p.seed = 100;
    s = make(p, nv);
    const int wide_draws = 100;
    CHECK(draw(s, l, nv, wide_draws, counts));
    int outside = 0, low_half = 0;
    for (int i = 0; i < nv; i++)
        outside += !keep[i] && counts[i];
    for (int r = n_keep / 2; r < n_keep; r++)
        low_half += counts[order[r]] > 0;
    CHECK(outside == 0);  /* half the mass is outside: 100 draws would find it */
    CHECK(low_half > 10); /* the lower half of the nucleus (~40% of its mass) is drawn */
    printf("  top-p 0.5 over %d flat tokens: nucleus %d, %d draws, none outside, %d from its "
           "lower half\n",
           nv, n_keep, wide_draws, low_half);
    llm_sampler_destroy(s);
    free(l), free(counts), free(want), free(keep), free(order);
}

static void test_min_p(void) {
    enum { NV = 64, DRAWS = 200000 };
    float l[NV];
    long counts[NV];
    double want[NV];
    int keep[NV];
    tc_seed(51);
    tc_fill(l, NV, -5.0f, 2.0f);
    const float min_p = 0.1f;
    double max = -INFINITY;
    for (int i = 0; i < NV; i++)
        max = l[i] > max ? l[i] : max;
    int n_keep = 0;
    for (int i = 0; i < NV; i++) { /* p_i >= min_p * p_max  <=>  l_i >= max + log(min_p) */
        keep[i] = exp(l[i] - max) >= min_p;
        n_keep += keep[i];
    }
    CHECK(n_keep > 2 && n_keep < NV - 10);
    llm_sampler_params p = plain(1.3f, 61);
    p.min_p = min_p;
    llm_sampler *s = make(p, NV);
    CHECK(draw(s, l, NV, DRAWS, counts));
    softmax_ref(l, keep, NV, 1.3, want);
    char what[64];
    snprintf(what, sizeof(what), "min-p 0.1 (%d of %d kept)", n_keep, NV);
    check_distribution(what, counts, want, NV, DRAWS);
    llm_sampler_destroy(s);

    /* min-p and top-p together keep the shorter prefix */
    p.top_p = 0.5f;
    s = make(p, NV);
    CHECK(draw(s, l, NV, 20000, counts));
    int outside = 0;
    for (int i = 0; i < NV; i++)
        outside += !keep[i] && counts[i];
    CHECK(outside == 0);
    llm_sampler_destroy(s);
}

static void test_repeat_penalty(void) {
    llm_sampler_params p = llm_sampler_params_default();
    p.temperature = 0.0f;
    p.repeat_penalty = 1.2f;
    p.repeat_last_n = 2;
    llm_sampler *s = make(p, 8);
    float l[8] = {2.0f, 1.9f, -1.0f, -1.1f, 0.0f, -5.0f, -5.0f, -5.0f};
    CHECK(llm_sampler_is_greedy(s)); /* nothing to penalise yet */
    CHECK(llm_sampler_sample(s, l) == 0);
    llm_sampler_accept(s, 0); /* 2.0 / 1.2 = 1.67 < 1.9 */
    CHECK(!llm_sampler_is_greedy(s));
    CHECK(llm_sampler_sample(s, l) == 1);
    llm_sampler_accept(s, 1); /* 1.9 / 1.2 = 1.58 < 1.67 */
    CHECK(llm_sampler_sample(s, l) == 0);
    llm_sampler_accept(s, 5);
    llm_sampler_accept(s, 6); /* 0 and 1 left the window of 2 */
    CHECK(llm_sampler_sample(s, l) == 0);
    llm_sampler_destroy(s);

    /* negative logits are multiplied: -1.0 * 1.2 = -1.2 < -1.1 */
    p.repeat_last_n = 64;
    s = make(p, 8);
    float neg[8] = {-1.0f, -1.1f, -3, -3, -3, -3, -3, -3};
    llm_sampler_accept(s, 0);
    CHECK(llm_sampler_sample(s, neg) == 1);
    llm_sampler_reset(s); /* forgets the window */
    CHECK(llm_sampler_sample(s, neg) == 0);
    llm_sampler_destroy(s);

    /* once per distinct token: 2.0 / 1.2 = 1.67 > 1.5, while / 1.2^2 would be
     * 1.39 < 1.5 */
    s = make(p, 8);
    float twice[8] = {2.0f, 1.5f, 0, 0, 0, 0, 0, 0};
    llm_sampler_accept(s, 0);
    llm_sampler_accept(s, 0);
    llm_sampler_accept(s, 0);
    CHECK(llm_sampler_sample(s, twice) == 0);
    /* the caller's logits are not modified */
    CHECK(twice[0] == 2.0f);
    llm_sampler_accept(s, -1); /* ignored */
    llm_sampler_accept(s, 8);  /* ignored */
    CHECK(llm_sampler_sample(s, twice) == 0);
    llm_sampler_destroy(s);

    /* penalty 1 changes nothing */
    p.repeat_penalty = 1.0f;
    s = make(p, 8);
    llm_sampler_accept(s, 0);
    CHECK(llm_sampler_sample(s, l) == 0);
    llm_sampler_destroy(s);
}

/* Per-step cost at a Llama 3 vocabulary; printed, never asserted. */
static void report_speed(void) {
    const int nv = 128256, steps = 20;
    float *l = malloc(nv * sizeof(float));
    tc_seed(61);
    tc_fill(l, nv, -8.0f, 8.0f);
    struct {
        const char *what;
        int top_k;
        float top_p, min_p;
    } cfg[] = {{"defaults (top-k 40)", 40, 0.95f, 0.05f},
               {"top-k 0, top-p 0.95, min-p 0", 0, 0.95f, 0.0f},
               {"top-k 0, top-p 1, min-p 0", 0, 1.0f, 0.0f}};
    for (int c = 0; c < 3; c++) {
        llm_sampler_params p = llm_sampler_params_default();
        p.top_k = cfg[c].top_k, p.top_p = cfg[c].top_p, p.min_p = cfg[c].min_p;
        p.repeat_penalty = 1.1f;
        llm_sampler *s = make(p, nv);
        if (!s) continue;
        double t0 = clg_now_ns();
        for (int i = 0; i < steps; i++)
            llm_sampler_accept(s, llm_sampler_sample(s, l));
        double us = 1e-3 * (clg_now_ns() - t0) / steps;
        printf("  speed, n_vocab %d, %s: %.0f us per token\n", nv, cfg[c].what, us);
        llm_sampler_destroy(s);
    }
    free(l);
}

int main(void) {
    test_defaults_and_checks();
    test_greedy();
    test_seeds();
    test_temperature();
    test_top_k();
    test_top_p_small();
    test_top_p_large();
    test_min_p();
    test_repeat_penalty();
    report_speed();
    return tc_finish("test_sampler");
}
