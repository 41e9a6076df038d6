/* Host-side token sampling: repetition penalty, greedy, top-k (heap selection),
 * top-p (sorting only what can reach the nucleus), min-p, temperature, and a
 * seeded xoshiro256** generator (see include/clgraph/sampler.h). */
#include "clgraph/sampler.h"
#include "clgraph/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LLM_SAMPLER_MAX_LAST_N (1 << 20)

/* Histogram used to bound the top-p sort: bins of logit distance to the max. */
#define TOPP_BINS 128
#define TOPP_BIN_SCALE 4.0f /* bins per unit of logit: covers distances < 32 */

typedef struct llm_cand {
    float logit;
    int32_t id;
} llm_cand;

struct llm_sampler {
    llm_sampler_params p;
    int32_t n_vocab;
    uint64_t rng[4];
    int32_t *window; /* [repeat_last_n] ring of accepted tokens */
    int32_t win_len, win_pos;
    uint32_t *stamp; /* [n_vocab] last step a token was penalised (dedupe) */
    uint32_t stamp_gen;
    float *logits;  /* [n_vocab] penalised copy of the caller's logits, then weights */
    llm_cand *cand; /* [n_vocab] candidates of the current step */
};

/* ---- random numbers -------------------------------------------------------- */

static uint64_t rotl64(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t r = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) {
    return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53;
}

void llm_sampler_set_seed(llm_sampler *s, uint64_t seed) {
    if (!s) return;
    for (int i = 0; i < 4; i++) /* splitmix64 */
        s->rng[i] = clg_mix64(seed + (uint64_t)i * 0x9E3779B97F4A7C15ull);
}

/* ---- parameters and lifetime ----------------------------------------------- */

llm_sampler_params llm_sampler_params_default(void) {
    llm_sampler_params p;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0;
    return p;
}

clg_status llm_sampler_params_check(const llm_sampler_params *p) {
    if (!p) return clg_fail(CLG_ERR_INVALID_ARG, "sampler parameters are NULL");
    if (!isfinite(p->temperature))
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "temperature = %g: must be a finite number (<= 0 for greedy)",
                        (double)p->temperature);
    if (p->top_k < 0)
        return clg_fail(CLG_ERR_INVALID_ARG, "top_k = %d: must be >= 0 (0 turns it off)",
                        (int)p->top_k);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return clg_fail(CLG_ERR_INVALID_ARG, "top_p = %g: must be within [0, 1] (1 turns it off)",
                        (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return clg_fail(CLG_ERR_INVALID_ARG, "min_p = %g: must be within [0, 1] (0 turns it off)",
                        (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        return clg_fail(CLG_ERR_INVALID_ARG, "repeat_penalty = %g: must be > 0 (1 turns it off)",
                        (double)p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > LLM_SAMPLER_MAX_LAST_N)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "repeat_last_n = %d: must be within [0, %d] (0 turns it off)",
                        (int)p->repeat_last_n, LLM_SAMPLER_MAX_LAST_N);
    return CLG_OK;
}

clg_status llm_sampler_create(const llm_sampler_params *p, int n_vocab, llm_sampler **out) {
    llm_sampler *s = NULL;
    clg_status st = CLG_OK;
    if (!out) return clg_fail(CLG_ERR_INVALID_ARG, "llm_sampler_create: out is NULL");
    *out = NULL;
    st = llm_sampler_params_check(p);
    if (st != CLG_OK) goto fail;
    if (n_vocab <= 0) {
        st = clg_fail(CLG_ERR_INVALID_ARG, "n_vocab = %d: must be > 0", n_vocab);
        goto fail;
    }
    s = calloc(1, sizeof(*s));
    if (!s) goto oom;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->logits = malloc((size_t)n_vocab * sizeof(*s->logits));
    s->cand = malloc((size_t)n_vocab * sizeof(*s->cand));
    if (!s->logits || !s->cand) goto oom;
    if (p->repeat_last_n > 0) {
        s->window = malloc((size_t)p->repeat_last_n * sizeof(*s->window));
        if (!s->window) goto oom;
    }
    if (p->repeat_last_n > 0 && p->repeat_penalty != 1.0f) {
        s->stamp = calloc((size_t)n_vocab, sizeof(*s->stamp));
        if (!s->stamp) goto oom;
    }
    llm_sampler_set_seed(s, p->seed);
    *out = s;
    return CLG_OK;
oom:
    st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "sampler for %d tokens: out of memory", n_vocab);
fail:
    llm_sampler_destroy(s);
    return st;
}

void llm_sampler_destroy(llm_sampler *s) {
    if (!s) return;
    free(s->window);
    free(s->stamp);
    free(s->logits);
    free(s->cand);
    free(s);
}

void llm_sampler_accept(llm_sampler *s, int32_t token) {
    if (!s || !s->window || token < 0 || token >= s->n_vocab) return;
    s->window[s->win_pos] = token;
    s->win_pos = (s->win_pos + 1) % s->p.repeat_last_n;
    if (s->win_len < s->p.repeat_last_n) s->win_len++;
}

void llm_sampler_reset(llm_sampler *s) {
    if (!s) return;
    s->win_len = 0;
    s->win_pos = 0;
    llm_sampler_set_seed(s, s->p.seed);
}

/* ---- candidate helpers ------------------------------------------------------ */

/* a ranks before b: larger logit, then lower id. */
static int cand_better(llm_cand a, llm_cand b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int cand_cmp_desc(const void *pa, const void *pb) {
    llm_cand a = *(const llm_cand *)pa, b = *(const llm_cand *)pb;
    return cand_better(a, b) ? -1 : cand_better(b, a) ? 1 : 0;
}

/* Min-heap on rank: the root is the worst of the kept candidates. */
static void heap_sift_down(llm_cand *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_better(h[w], h[l])) w = l;
        if (r < n && cand_better(h[w], h[r])) w = r;
        if (w == i) return;
        llm_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* The k best of logits[0..n) into c[0..k), sorted best first. O(n log k). */
static void select_top_k(const float *logits, int32_t n, int32_t k, llm_cand *c) {
    for (int32_t i = 0; i < k; i++)
        c[i] = (llm_cand){logits[i], i};
    for (int32_t i = k / 2 - 1; i >= 0; i--)
        heap_sift_down(c, (size_t)k, (size_t)i);
    for (int32_t i = k; i < n; i++) {
        float l = logits[i];
        /* ties lose to the root: its id is lower than i */
        if (l > c[0].logit) {
            c[0] = (llm_cand){l, i};
            heap_sift_down(c, (size_t)k, 0);
        }
    }
    qsort(c, (size_t)k, sizeof(*c), cand_cmp_desc);
}

/* Length of the shortest prefix of the sorted c[0..n) whose mass
 * exp(l - max) / z reaches top_p; 0 when even all n do not reach it. */
static size_t nucleus_len(const llm_cand *c, size_t n, float max, double z, float top_p) {
    double target = (double)top_p * z, cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += (double)expf(c[i].logit - max);
        if (cum >= target) return i + 1;
    }
    return 0;
}

static int topp_bin(float logit, float max) {
    float d = (max - logit) * TOPP_BIN_SCALE;
    return d < (float)TOPP_BINS ? (int)d : TOPP_BINS;
}

/* Top-p over the unsorted c[0..n) without sorting them all: a histogram of
 * logit distances to the max finds the bin where the mass reaches top_p; the
 * bins before it are wholly inside the nucleus, and only the tokens of that
 * bin are sorted and walked. z is the mass over which top_p counts (< 0: the
 * mass of c itself). Rearranges c so the nucleus is c[0..return); returns n
 * when all of c does not reach top_p (min-p kept fewer). */
static size_t top_p_select(llm_cand *c, size_t n, float max, double z, float top_p) {
    double mass[TOPP_BINS + 1] = {0};
    for (size_t i = 0; i < n; i++)
        mass[topp_bin(c[i].logit, max)] += (double)expf(c[i].logit - max);
    if (z < 0.0) {
        z = 0.0;
        for (int b = 0; b <= TOPP_BINS; b++)
            z += mass[b];
    }
    const double target = (double)top_p * z;
    double cum = 0.0;
    int cut = -1;
    for (int b = 0; b <= TOPP_BINS; b++) {
        if (cum + mass[b] >= target) {
            cut = b;
            break;
        }
        cum += mass[b];
    }
    if (cut < 0) return n;
    /* three-way partition: bins < cut | bin cut | bins > cut */
    size_t lo = 0, mid = 0, hi = n;
    while (mid < hi) {
        int b = topp_bin(c[mid].logit, max);
        llm_cand t = c[mid];
        if (b < cut) {
            c[mid++] = c[lo];
            c[lo++] = t;
        } else if (b == cut) {
            mid++;
        } else {
            c[mid] = c[--hi];
            c[hi] = t;
        }
    }
    qsort(c + lo, mid - lo, sizeof(*c), cand_cmp_desc);
    for (size_t i = lo; i < mid; i++) {
        cum += (double)expf(c[i].logit - max);
        if (cum >= target) return i + 1;
    }
    return mid; /* the bin's sum in another order fell short by rounding */
}

/* ---- one step ---------------------------------------------------------------- */

/* The first index of the largest of l[0 .. n), NaN never counting; 0 when none is above
 * -inf. Written as 8 running maxima, then a search for the first equal value, so that the
 * compiler vectorizes the scan (the one-pass form, a compare and branch per logit, took
 * 45 - 70 us for 49152 logits, this one 3 - 5 us). */
static int32_t argmax_first(const float *l, int32_t n) {
    float m8[8];
    for (int k = 0; k < 8; k++)
        m8[k] = -INFINITY;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            m8[k] = l[i + k] > m8[k] ? l[i + k] : m8[k];
    float m = -INFINITY;
    for (int k = 0; k < 8; k++)
        m = m8[k] > m ? m8[k] : m;
    for (; i < n; i++)
        m = l[i] > m ? l[i] : m;
    if (m == -INFINITY) return 0;
    for (i = 0; l[i] != m; i++) {
    }
    return i;
}

/* Copies the logits (NaN -> -inf) into s->logits, applies the repetition penalty once
 * per distinct token of the window, returns the arg-max (lowest id among equals). */
static int32_t penalised_logits(llm_sampler *s, const float *in) {
    float *l = s->logits;
    const int32_t nv = s->n_vocab;
    for (int32_t i = 0; i < nv; i++)
        l[i] = in[i] == in[i] ? in[i] : -INFINITY;
    if (!s->stamp || s->win_len == 0) return argmax_first(l, nv);
    if (++s->stamp_gen == 0) { /* wrapped: forget old stamps */
        memset(s->stamp, 0, (size_t)nv * sizeof(*s->stamp));
        s->stamp_gen = 1;
    }
    const float pen = s->p.repeat_penalty;
    for (int32_t i = 0; i < s->win_len; i++) {
        int32_t t = s->window[i];
        if (s->stamp[t] == s->stamp_gen) continue;
        s->stamp[t] = s->stamp_gen;
        l[t] = l[t] <= 0.0f ? l[t] * pen : l[t] / pen;
    }
    return argmax_first(l, nv);
}

int llm_sampler_is_greedy(const llm_sampler *s) {
    return s && s->p.temperature <= 0.0f && (!s->stamp || s->win_len == 0);
}

int32_t llm_sampler_sample(llm_sampler *s, const float *logits) {
    if (!s || !logits) {
        clg_fail(CLG_ERR_INVALID_ARG, "llm_sampler_sample: NULL argument");
        return -1;
    }
    const int32_t nv = s->n_vocab;
    /* greedy without a penalty: no copy, the largest straight from the input */
    const int plain = llm_sampler_is_greedy(s);
    const int32_t best = plain ? argmax_first(logits, nv) : penalised_logits(s, logits);
    const float *l = plain ? logits : s->logits;
    if (!(l[best] > -INFINITY)) {
        clg_fail(CLG_ERR_INVALID_ARG, "llm_sampler_sample: none of the %d logits is finite",
                 (int)nv);
        return -1;
    }
    if (s->p.temperature <= 0.0f) return best;
    const float max = l[best];

    /* Candidates: the top k sorted, or every token with a finite logit. */
    llm_cand *c = s->cand;
    size_t n;
    int sorted;
    if (s->p.top_k > 0 && s->p.top_k < nv) {
        select_top_k(l, nv, s->p.top_k, c);
        n = (size_t)s->p.top_k;
        sorted = 1;
    } else {
        n = 0;
        for (int32_t i = 0; i < nv; i++)
            if (l[i] != -INFINITY) c[n++] = (llm_cand){l[i], i};
        sorted = 0;
    }

    /* top-p and min-p both keep a prefix of the descending order, so the
     * result is the shorter prefix; min-p goes first as a cheap filter.
     * top-p's mass counts over all candidates, so it is summed before. */
    const float top_p = s->p.top_p, min_p = s->p.min_p;
    double z = -1.0; /* -1: top_p_select sums it itself */
    if (top_p < 1.0f && (sorted || min_p > 0.0f)) {
        z = 0.0;
        for (size_t i = 0; i < n; i++)
            z += (double)expf(c[i].logit - max);
    }
    if (min_p > 0.0f) {
        const float floor_logit = max + logf(min_p);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].logit >= floor_logit) c[m++] = c[i]; /* keeps the order */
        n = m;
    }
    if (top_p < 1.0f) {
        if (sorted) {
            size_t keep = nucleus_len(c, n, max, z, top_p);
            if (keep) n = keep; /* else min-p's prefix is the shorter one */
        } else {
            n = top_p_select(c, n, max, z, top_p);
        }
    }

    /* Temperature, then one draw from the renormalised weights (a division,
     * not a product with 1/t: a tiny t must give exp(0 / t) = 1, not NaN). */
    const float temp = s->p.temperature;
    float *w = s->logits; /* the penalised logits are no longer needed */
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        w[i] = expf((c[i].logit - max) / temp);
        total += (double)w[i];
    }
    double u = rng_uniform(s->rng) * total, cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += (double)w[i];
        if (u < cum) return c[i].id;
    }
    return best; /* not reached: the same sum in the same order exceeds u */
}
