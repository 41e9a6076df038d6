/* clgraph serve's scheduler: one worker thread owns the model and runs continuous batching
 * over --parallel sequences (KV regions). Each step gathers the next token of every decoding
 * sequence, then prompt chunks of newly joined ones up to n_batch tokens, evaluates them in
 * one call, samples the wanted logits and publishes text. Requests wait in a FIFO queue while
 * every sequence is busy and join between steps; a cancelled request frees its sequence
 * before the next step. */
#ifndef CLGRAPH_APPS_SERVE_SCHED_H
#define CLGRAPH_APPS_SERVE_SCHED_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "clgraph/llm.h"
#include "clgraph/sampler.h"
#include "clgraph/tokenizer.h"

typedef struct srv_sched srv_sched;

/* One completion. The HTTP side fills the first block, submits it, then reads the published
 * text under srv_sched_lock until done. Reference counted: the submitter and the worker each
 * hold one; srv_request_release drops the caller's. */
typedef struct srv_request {
    /* ---- set before srv_sched_submit, read-only afterwards ---- */
    int32_t *prompt; /* [n_prompt] token ids, owned (freed with the request) */
    int n_prompt;
    int max_tokens;        /* generated tokens at most; -1: until the context ends */
    llm_sampler_params sp; /* checked by the caller */
    char **stop;           /* [n_stop] strings that end generation (not included), owned */
    int n_stop;
    /* ---- under srv_sched_lock ---- */
    char *text; /* [len] published text (never a prefix of a stop string held back), owned */
    size_t len, cap;
    int n_gen;                 /* tokens generated (usage.completion_tokens) */
    int n_cached;              /* prompt tokens whose cache entries came from an earlier request
                                  (usage.prompt_tokens_details.cached_tokens) */
    int done;                  /* no more text will come */
    const char *finish_reason; /* "stop" or "length" once done without error; static */
    char *error;               /* set with done when generation failed or was cut; owned */
    int error_status;          /* its HTTP status (500, 503) */
    int cancelled;             /* the client went away: the worker frees its sequence */
    int refs;
    int submitted;            /* counted among the open requests */
    pthread_cond_t changed;   /* signalled when the worker changes the fields above */
    struct srv_request *next; /* queue link */
} srv_request;

/* A new request with one reference (the caller's); NULL out of memory. */
srv_request *srv_request_create(void);

/* Creates the scheduler and starts its worker. model and tok are borrowed and must outlive
 * it. n_parallel sequences; max_queue requests may wait beyond them. Where the model's
 * one-token step may round differently from the same token in a batch
 * (!llm_model_rows_invariant: GPU work-group variants) and n_parallel > 1, a step of one row
 * gets a second one, so that every token goes through the several-token path and a
 * request's logits do not depend on which requests share its steps (*padded = 1; else 0).
 * *out owned by the caller: srv_sched_destroy. 0, or -1 with a message in clg_last_error. */
int srv_sched_create(llm_model *model, const llm_tokenizer *tok, int n_parallel, int max_queue,
                     int *padded, srv_sched **out);

/* Stops the worker (cutting whatever still runs) and frees everything; safe on NULL. */
void srv_sched_destroy(srv_sched *s);

/* Hands r to the worker (which takes its own reference). 0; -1 when the queue is full;
 * -2 when the server is shutting down. */
int srv_sched_submit(srv_sched *s, srv_request *r);

/* Drops the caller's reference; a request not yet done is cancelled first. */
void srv_request_release(srv_sched *s, srv_request *r);

/* The lock that guards the requests' published state, and a wait for the next change to r
 * (up to timeout_ms); call with the lock held. Only r's waiters wake: the worker signals each
 * request it changes, so a step of N sequences wakes N threads, not N times N. */
void srv_sched_lock(srv_sched *s);
void srv_sched_unlock(srv_sched *s);
void srv_sched_wait(srv_sched *s, srv_request *r, int timeout_ms);

/* Shutting down: new submissions are refused and queued requests end with 503 "the server
 * is shutting down". Running ones go on until they finish or srv_sched_cut ends them. */
void srv_sched_stop_accepting(srv_sched *s);
void srv_sched_cut(srv_sched *s);
/* Requests submitted and not yet released by their submitters (open HTTP requests). */
int srv_sched_open_requests(srv_sched *s);
/* Sequences generating now and requests waiting. */
void srv_sched_load(srv_sched *s, int *running, int *queued);

#endif
