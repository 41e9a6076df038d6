/* Shared by clgraph run and chat: option parsing, model + tokenizer loading with
 * progress, prompt evaluation and streamed generation with timing. */
#ifndef CLGRAPH_APPS_GENERATE_H
#define CLGRAPH_APPS_GENERATE_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clgraph/chat.h"
#include "clgraph/llm.h"
#include "clgraph/report.h"
#include "clgraph/sampler.h"
#include "clgraph/tokenizer.h"

typedef struct gen_options {
    const char *model, *prompt, *prompt_file, *system, *template_name, *device;
    const char *profile_json, *trace_json; /* --profile FILE, --trace FILE, or NULL */
    int n_seq; /* sequences the model keeps (clgraph serve --parallel); 0: 1 */
    int n_predict, n_ctx, n_batch, chat, seed_given, quiet, profile, tune, kv_f16, act, layout;
    int verbose; /* -v: where the start-up time went (gen_print_summary, gen_session_close) */
    const char *plan_dump; /* "-" for stderr, else a file */
    int build;             /* --build: a clg_build_mode, -1 when not given */
    llm_sampler_params sampling;
} gen_options;

/* Start-up timeline of gen_session_open, seconds since it began: each progress stage's first
 * and last report. */
#define GEN_STAGES 4
typedef struct gen_startup {
    int quiet, n;
    const char *stage[GEN_STAGES];
    double begin[GEN_STAGES], end[GEN_STAGES];
    double t0_ns;                 /* clg_now_ns() when loading began */
    double loaded, first_token;   /* load done; first token ready (0: not yet) */
    double cpu0, first_token_cpu; /* process CPU seconds (all threads) then: the work done,
                                     which machine load does not stretch as it does the wall */
} gen_startup;

/* A loaded model with what generation needs. */
typedef struct gen_session {
    llm_model *model;
    llm_tokenizer *tok;
    llm_sampler *sampler;
    llm_chat_template tmpl;
    int has_template;
    int device_greedy;    /* greedy without penalty: the arg-max is taken on the device */
    char *default_system; /* the template's own system prompt, or NULL */
    float *logits;        /* [n_vocab] */
    int32_t *hist;        /* tokens in the KV cache, [n_ctx] */
    int n_hist;
    double prefill_s, decode_s;
    int n_prefill, n_decode;
    clg_profiler *prof; /* borrowed, or NULL; gen_run restarts it where the decode starts */
    gen_startup startup;
    int verbose;
} gen_session;

/* Parses the options common to run and chat; argv[i] is consumed by the caller when
 * this returns 0 (not one of ours). Returns 1 consumed (advancing *i), -1 on error. */
int gen_parse_option(gen_options *o, int argc, char **argv, int *i, const char *cmd);
void gen_options_init(gen_options *o);
const char *gen_options_help(void);

/* The whole of the file at path, NUL-terminated (malloc'ed, the caller frees it). NULL with
 * "clgraph CMD: cannot read the WHAT PATH: why" on stderr when it cannot be read to the end
 * (missing, unreadable, a folder) or holds a NUL byte: the content is text, and a NUL would
 * cut it short unseen. */
char *gen_read_text_file(const char *path, const char *cmd, const char *what);

/* Loads everything; prints progress on stderr; 0 on success (errors printed). */
int gen_session_open(gen_session *s, const gen_options *o, const char *cmd);
/* Writes the program cache entries the model's context built (clg_context_store_programs:
 * after the answer, not before it) and, unless quiet, says so and how long it took: on a
 * first run pocl takes seconds for it. */
void gen_session_close(gen_session *s);

/* 1 when a prompt of n_prompt tokens leaves room in the context to generate, else 0 with
 * the reason on stderr (empty, or too long for --ctx). */
int gen_prompt_fits(const gen_session *s, int n_prompt, const char *cmd);

/* Evaluates prompt tokens after the longest prefix already in the cache, one batch of
 * n_batch at a time, then generates up to n_predict tokens (stopping at end-of-generation,
 * the context end, or *stop, which is also checked between prompt batches), printing text
 * as it comes. The generated text is appended to *reply when reply != NULL (malloc'ed).
 * 0 on success, also when *stop ended it; 1 after an error printed on stderr, a failed
 * write to stdout included (generation stops at the first one). */
int gen_run(gen_session *s, const int32_t *prompt, int n_prompt, int n_predict,
            volatile sig_atomic_t *stop, char **reply, const char *cmd);

/* The model's decode and prefill plans (step plans 0 and 1) with its planner's choices, as
 * text or JSON (clg_plan_dump). */
clg_status gen_plan_dump(FILE *f, const llm_model *m, int json);
/* One line: the weight layout and how it was chosen (llm_model_layout_choice). */
void gen_layout_text(FILE *f, const llm_model *m);

/* "prompt 12 tokens, prefill 80.1 tok/s | generated 64 tokens, decode 30.2 tok/s | device";
 * with -v also where the start-up went: the load's stages (programs built, from the cache or
 * not, and the time in their builds; weights uploaded) and when the first token was ready. */
void gen_print_summary(const gen_session *s, const char *cmd);
#endif
