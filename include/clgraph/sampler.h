/* Token sampling on the host: greedy, temperature, top-k, top-p, min-p and a
 * repetition penalty, deterministic for a given seed.
 *
 * One step, in llama.cpp's default order:
 *   1. repetition penalty over the distinct tokens among the last
 *      repeat_last_n accepted ones: a positive logit is divided by
 *      repeat_penalty, a negative one multiplied;
 *   2. temperature <= 0: the arg-max (ties to the lowest id), done;
 *   3. top-k: the k largest logits (ties to the lower id);
 *   4. top-p: with p = softmax of those logits (temperature 1), the shortest
 *      prefix of the descending order whose mass reaches top_p;
 *   5. min-p: tokens with p >= min_p * p_max;
 *   6. softmax of logit / temperature over what is left, one draw.
 * Filters keep at least one token. The random numbers come from the
 * sampler's own xoshiro256** generator seeded with splitmix64(seed), so a
 * seed gives the same tokens on every platform and run.
 *
 * Cost per step is O(n_vocab) plus O(n_vocab log top_k) for top-k; with top_k
 * = 0 and top_p < 1 a histogram of logits locates the nucleus boundary and
 * only the tokens next to it are sorted (no full sort).
 */
#ifndef CLGRAPH_SAMPLER_H
#define CLGRAPH_SAMPLER_H

#include <stdint.h>

#include "clgraph/runtime.h" /* clg_status */

#ifdef __cplusplus
extern "C" {
#endif

/* Plain parameters; start from llm_sampler_params_default(). */
typedef struct llm_sampler_params {
    float temperature;     /* <= 0: greedy arg-max; default 0.8 */
    int32_t top_k;         /* keep the k most likely; 0 = off; default 40 */
    float top_p;           /* nucleus mass in [0, 1]; 1 = off; default 0.95 */
    float min_p;           /* in [0, 1], relative to the most likely; 0 = off; default 0.05 */
    float repeat_penalty;  /* > 0; 1 = off; default 1.0 */
    int32_t repeat_last_n; /* accepted tokens the penalty looks back on; 0 = off; default 64 */
    uint64_t seed;         /* default 0 (the CLI draws one when the user gives none) */
} llm_sampler_params;

/* The sampler: parameters, the recent-token window, the generator and
 * scratch space for n_vocab logits. Created by llm_sampler_create, destroyed
 * by llm_sampler_destroy. Not thread-safe; one per generation stream. */
typedef struct llm_sampler llm_sampler;

llm_sampler_params llm_sampler_params_default(void);

/* Checks p (CLG_ERR_INVALID_ARG with a message naming the field and its valid
 * range, e.g. "top_p = -0.1: must be within [0, 1]"). */
clg_status llm_sampler_params_check(const llm_sampler_params *p);

/* p is copied; n_vocab > 0. *out owned by the caller: llm_sampler_destroy. */
clg_status llm_sampler_create(const llm_sampler_params *p, int n_vocab, llm_sampler **out);
void llm_sampler_destroy(llm_sampler *s); /* safe on NULL */

/* Picks a token from n_vocab logits (borrowed, not modified). NaN logits count
 * as -inf. Returns the token id, or -1 when no logit is finite or an argument
 * is NULL (message in clg_last_error()). Does not accept the token. */
int32_t llm_sampler_sample(llm_sampler *s, const float *logits);

/* 1 when llm_sampler_sample would now return the arg-max of the logits as they are (greedy,
 * no repetition penalty in effect), so that a caller may take the arg-max elsewhere (on the
 * device: llm_model_eval_batch_greedy); 0 otherwise or for NULL. */
int llm_sampler_is_greedy(const llm_sampler *s);

/* Appends a token to the repetition window (prompt tokens too, if they are to
 * be penalised). Ids outside [0, n_vocab) are ignored. */
void llm_sampler_accept(llm_sampler *s, int32_t token);

/* Clears the repetition window and reseeds the generator with params.seed. */
void llm_sampler_reset(llm_sampler *s);

/* Reseeds the generator (keeps the window). */
void llm_sampler_set_seed(llm_sampler *s, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
