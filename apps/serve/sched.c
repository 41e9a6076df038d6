/* clgraph serve's scheduler: continuous batching over the model's sequences (sched.h). */
#include "apps/serve/sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clgraph/util.h"

/* One sequence (KV region) of the model and the request it serves. Owned by the worker. */
typedef struct srv_slot {
    srv_request *req; /* NULL: free */
    llm_sampler *sampler;
    llm_tokenizer_stream *stream;
    int n_past;    /* positions in this sequence's KV cache: hist[0 .. n_past) */
    int32_t *hist; /* [n_ctx] the tokens whose entries the cache holds; kept after the
                      request ends, so that a later prompt may start from a common prefix */
    int n_fed;     /* prompt tokens evaluated so far */
    int32_t next;  /* the sampled token to evaluate next, once the prompt is in */
    int32_t last;  /* the token at position n_past - 1 */
    char *buf;     /* [n_buf] all the text generated, of which req holds [0, n_pub) */
    size_t n_buf, cap_buf, n_pub;
    long order; /* admission order: earlier prompts get the batch first */
} srv_slot;

struct srv_sched {
    llm_model *model;
    const llm_tokenizer *tok;
    int n_parallel, max_queue, n_ctx, n_batch, n_vocab;
    int pad;         /* every step evaluates at least two rows (see srv_sched_create) */
    srv_slot *slots; /* [n_parallel] */
    /* the batch of one step */
    int32_t *b_tok, *b_pos, *b_seq; /* [n_batch + n_parallel] */
    uint8_t *b_want;                /* [n_batch + n_parallel] */
    int *b_slot;                    /* [n_parallel] slot of each wanted row */
    float *logits;                  /* [n_parallel, n_vocab] */
    int32_t *ids;                   /* [n_parallel] the device's arg-max of greedy steps */
    pthread_mutex_t mu;
    pthread_cond_t work; /* the worker waits here for requests */
    srv_request *head, *tail;
    int n_queued, n_open;
    int accepting, quit, cut;
    long admitted;
    pthread_t worker;
    int started;
};

srv_request *srv_request_create(void) {
    srv_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (pthread_cond_init(&r->changed, NULL)) {
        free(r);
        return NULL;
    }
    r->refs = 1;
    r->max_tokens = -1;
    r->sp = llm_sampler_params_default();
    return r;
}

static void request_free(srv_request *r) {
    for (int i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->stop);
    free(r->prompt);
    free(r->text);
    free(r->error);
    pthread_cond_destroy(&r->changed);
    free(r);
}

/* With s->mu held. */
static void unref(srv_request *r) {
    if (--r->refs == 0) request_free(r);
}

/* Ends r with an error (with s->mu held). */
static void finish_error(srv_request *r, int status, const char *msg) {
    if (r->done) return;
    r->done = 1;
    r->error = strdup(msg);
    r->error_status = status;
    pthread_cond_broadcast(&r->changed);
}

static void slot_release(srv_sched *s, srv_slot *sl) {
    if (!sl->req) return;
    unref(sl->req);
    sl->req = NULL;
    llm_sampler_destroy(sl->sampler);
    sl->sampler = NULL;
    (void)s;
}

/* Publishes buf[n_pub .. upto) to the request (with s->mu held). */
static int publish(srv_slot *sl, size_t upto) {
    srv_request *r = sl->req;
    if (upto <= sl->n_pub) return 0;
    size_t n = upto - sl->n_pub;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *p = realloc(r->text, cap);
        if (!p) return -1;
        r->text = p;
        r->cap = cap;
    }
    memcpy(r->text + r->len, sl->buf + sl->n_pub, n);
    r->len += n;
    r->text[r->len] = 0;
    sl->n_pub = upto;
    pthread_cond_broadcast(&r->changed);
    return 0;
}

static int buf_append(srv_slot *sl, const char *text, size_t n) {
    if (sl->n_buf + n + 1 > sl->cap_buf) {
        size_t cap = sl->cap_buf ? sl->cap_buf : 256;
        while (cap < sl->n_buf + n + 1)
            cap *= 2;
        char *p = realloc(sl->buf, cap);
        if (!p) return -1;
        sl->buf = p;
        sl->cap_buf = cap;
    }
    memcpy(sl->buf + sl->n_buf, text, n);
    sl->n_buf += n;
    sl->buf[sl->n_buf] = 0;
    return 0;
}

/* Bytes at the end of buf that may begin a stop string: held back from publishing. */
static size_t stop_hold(const srv_slot *sl) {
    const srv_request *r = sl->req;
    size_t hold = 0;
    for (int i = 0; i < r->n_stop; i++) {
        size_t ls = strlen(r->stop[i]);
        if (!ls) continue;
        for (size_t k = ls - 1 < sl->n_buf ? ls - 1 : sl->n_buf; k > hold; k--)
            if (!memcmp(sl->buf + sl->n_buf - k, r->stop[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

/* The earliest stop string in buf, searching from `from`; its offset or -1. */
static long stop_find(const srv_slot *sl, size_t from) {
    const srv_request *r = sl->req;
    long best = -1;
    for (int i = 0; i < r->n_stop; i++) {
        size_t ls = strlen(r->stop[i]);
        for (size_t at = from; at + ls <= sl->n_buf; at++)
            if (!memcmp(sl->buf + at, r->stop[i], ls)) {
                if (best < 0 || (long)at < best) best = (long)at;
                break;
            }
    }
    return best;
}

/* Ends the slot's request with a finish reason, publishing what is left (with s->mu held). */
static void slot_finish(srv_sched *s, srv_slot *sl, const char *reason, size_t upto) {
    publish(sl, upto);
    sl->req->done = 1;
    sl->req->finish_reason = reason;
    pthread_cond_broadcast(&sl->req->changed);
    slot_release(s, sl);
}

/* A token sampled for the slot: text, stop strings, limits (with s->mu held). */
static void slot_token(srv_sched *s, srv_slot *sl, int32_t id) {
    srv_request *r = sl->req;
    if (id < 0) {
        finish_error(r, 500, "sampling failed: no finite logit");
        slot_release(s, sl);
        return;
    }
    if (llm_tokenizer_is_eog(s->tok, id)) {
        const char *t;
        size_t n;
        if (llm_tokenizer_stream_flush(sl->stream, &t, &n) == CLG_OK && n) buf_append(sl, t, n);
        long at = stop_find(sl, 0);
        slot_finish(s, sl, "stop", at >= 0 ? (size_t)at : sl->n_buf);
        return;
    }
    llm_sampler_accept(sl->sampler, id);
    r->n_gen++;
    const char *t;
    size_t n = 0;
    size_t before = sl->n_buf;
    if (llm_tokenizer_stream_push(sl->stream, id, &t, &n) == CLG_OK && n && buf_append(sl, t, n)) {
        finish_error(r, 500, "out of memory");
        slot_release(s, sl);
        return;
    }
    size_t longest = 0;
    for (int i = 0; i < r->n_stop; i++)
        if (strlen(r->stop[i]) > longest) longest = strlen(r->stop[i]);
    long at = stop_find(sl, before >= longest ? before - longest + 1 : 0);
    if (at >= 0) {
        slot_finish(s, sl, "stop", (size_t)at);
        return;
    }
    int at_limit = r->max_tokens >= 0 && r->n_gen >= r->max_tokens;
    int ctx_full = sl->n_past >= s->n_ctx;
    if (at_limit || ctx_full) {
        if (llm_tokenizer_stream_flush(sl->stream, &t, &n) == CLG_OK && n) buf_append(sl, t, n);
        at = stop_find(sl, 0);
        slot_finish(s, sl, at >= 0 ? "stop" : "length", at >= 0 ? (size_t)at : sl->n_buf);
        return;
    }
    if (publish(sl, sl->n_buf - stop_hold(sl))) {
        finish_error(r, 500, "out of memory");
        slot_release(s, sl);
        return;
    }
    sl->next = id;
}

/* Tokens a slot's cache holds that begin prompt p[n] (at most n - 1: the last prompt token
 * is evaluated again for its logits). */
static int common_prefix(const srv_slot *sl, const int32_t *p, int n) {
    int k = 0;
    while (k < sl->n_past && k < n - 1 && sl->hist[k] == p[k])
        k++;
    return k;
}

/* Starts r's prompt on slot sl after the longest prefix of it that some slot's cache holds
 * (its own, or another's copied over: llm_model_copy_seq), so that a shared system prompt
 * or a conversation's earlier turns are evaluated once. */
static void reuse_prefix(srv_sched *s, srv_slot *sl, srv_request *r) {
    srv_slot *best = sl;
    int len = common_prefix(sl, r->prompt, r->n_prompt);
    for (int i = 0; i < s->n_parallel; i++) {
        int k = common_prefix(&s->slots[i], r->prompt, r->n_prompt);
        if (k > len) best = &s->slots[i], len = k;
    }
    if (best != sl) {
        if (llm_model_copy_seq(s->model, (int)(best - s->slots), (int)(sl - s->slots), len) !=
            CLG_OK)
            len = 0; /* evaluated afresh */
        else
            memcpy(sl->hist, r->prompt, (size_t)len * sizeof *sl->hist);
    }
    sl->n_past = sl->n_fed = r->n_cached = len; /* the sequence restarts from len */
    sl->last = len ? r->prompt[len - 1] : -1;
}

/* Starts r on a free slot (with s->mu held). 0, or -1 (r ended with an error). */
static int slot_start(srv_sched *s, srv_slot *sl, srv_request *r) {
    llm_sampler *smp = NULL;
    if (llm_sampler_create(&r->sp, s->n_vocab, &smp) != CLG_OK) {
        finish_error(r, 500, clg_last_error());
        unref(r);
        return -1;
    }
    sl->req = r;
    sl->sampler = smp;
    llm_tokenizer_stream_flush(sl->stream, &(const char *){0}, &(size_t){0}); /* fresh */
    for (int i = 0; i < r->n_prompt; i++)
        llm_sampler_accept(smp, r->prompt[i]);
    reuse_prefix(s, sl, r);
    sl->next = -1;
    sl->n_buf = sl->n_pub = 0;
    sl->order = s->admitted++;
    return 0;
}

/* The free slot for r (with s->mu held), or NULL when none is free: the one whose cache
 * holds the longest prefix of r's prompt, so that a conversation's next turn or a repeated
 * prompt goes where its entries are and other slots keep theirs; among equals, the one
 * admitted longest ago. */
static srv_slot *pick_slot(srv_sched *s, const srv_request *r) {
    srv_slot *best = NULL;
    int best_len = -1;
    for (int i = 0; i < s->n_parallel; i++) {
        srv_slot *sl = &s->slots[i];
        if (sl->req) continue;
        const int len = common_prefix(sl, r->prompt, r->n_prompt);
        if (len > best_len || (len == best_len && sl->order < best->order))
            best = sl, best_len = len;
    }
    return best;
}

/* Evaluates the gathered batch: logits of the wanted rows into s->logits in row order, or
 * where every wanted row samples greedily their arg-max into s->ids (taken on the device:
 * ids instead of the vocabulary's logits come back). */
static clg_status eval_batch(srv_sched *s, int n, int greedy) {
    if (greedy)
        return llm_model_eval_batch_greedy(s->model, s->b_tok, s->b_pos, s->b_seq, n, s->b_want,
                                           s->ids);
    return llm_model_eval_batch(s->model, s->b_tok, s->b_pos, s->b_seq, n, s->b_want, s->logits);
}

static void *worker_main(void *arg) {
    srv_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* Drop cancelled and cut requests, admit queued ones into free slots (pick_slot). */
        for (int i = 0; i < s->n_parallel; i++) {
            srv_slot *sl = &s->slots[i];
            if (sl->req && (sl->req->cancelled || s->cut)) {
                finish_error(sl->req, 503, "the server is shutting down");
                slot_release(s, sl);
            }
        }
        srv_slot *to;
        while (s->head && (to = pick_slot(s, s->head))) {
            srv_request *r = s->head;
            s->head = r->next;
            if (!s->head) s->tail = NULL;
            s->n_queued--;
            if (r->cancelled)
                unref(r);
            else
                slot_start(s, to, r);
        }
        int active = 0;
        for (int i = 0; i < s->n_parallel; i++)
            active += s->slots[i].req != NULL;
        if (!active) {
            if (s->quit) break;
            pthread_cond_wait(&s->work, &s->mu);
            continue;
        }
        /* Gather: the next token of every decoding sequence, then prompt chunks, oldest
         * admission first, up to n_batch tokens. */
        int n = 0, n_want = 0;
        for (int i = 0; i < s->n_parallel; i++) {
            srv_slot *sl = &s->slots[i];
            if (!sl->req || sl->n_fed < sl->req->n_prompt) continue;
            s->b_tok[n] = sl->next;
            s->b_pos[n] = sl->n_past;
            s->b_seq[n] = i;
            s->b_want[n++] = 1;
            s->b_slot[n_want++] = i;
        }
        for (;;) {
            srv_slot *first = NULL;
            for (int i = 0; i < s->n_parallel; i++) {
                srv_slot *sl = &s->slots[i];
                if (sl->req && sl->n_fed < sl->req->n_prompt && sl->n_past == sl->n_fed &&
                    (!first || sl->order < first->order))
                    first = sl;
            }
            if (!first || n >= s->n_batch) break;
            int seq = (int)(first - s->slots);
            int k = first->req->n_prompt - first->n_fed;
            if (k > s->n_batch - n) k = s->n_batch - n;
            for (int j = 0; j < k; j++) {
                s->b_tok[n] = first->req->prompt[first->n_fed + j];
                s->b_pos[n] = first->n_fed + j;
                s->b_seq[n] = seq;
                s->b_want[n++] = 0;
            }
            first->n_fed += k;
            if (first->n_fed == first->req->n_prompt) {
                s->b_want[n - 1] = 1;
                s->b_slot[n_want++] = seq;
            }
        }
        /* Where one-token steps round differently (s->pad), a lone row gets a companion so
         * that it takes the several-token path too: the token before it again (its KV entries
         * come out the same), or at position 0 a copy at position 1 (overwritten by the next
         * step). */
        int pad = -1;
        if (s->pad && n == 1) {
            srv_slot *sl = &s->slots[s->b_seq[0]];
            pad = s->b_pos[0] > 0 ? 0 : 1;
            s->b_tok[1] = s->b_tok[0];
            s->b_pos[1] = pad ? 1 : s->b_pos[0];
            s->b_seq[1] = s->b_seq[0];
            s->b_want[1] = pad ? 0 : s->b_want[0];
            if (!pad) {
                s->b_tok[0] = sl->last;
                s->b_pos[0]--;
                s->b_want[0] = 0;
            }
            n = 2;
        }
        int greedy = n_want > 0;
        for (int w = 0; w < n_want && greedy; w++)
            greedy = llm_sampler_is_greedy(s->slots[s->b_slot[w]].sampler);
        pthread_mutex_unlock(&s->mu);
        clg_status st = n ? eval_batch(s, n, greedy) : CLG_OK;
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n; i++) { /* rows of a sequence come in position order */
            srv_slot *sl = &s->slots[s->b_seq[i]];
            if (i == pad) continue;
            sl->n_past = st == CLG_OK ? s->b_pos[i] + 1 : 0; /* a failed step: nothing kept */
            sl->last = s->b_tok[i];
            sl->hist[s->b_pos[i]] = s->b_tok[i];
        }
        if (st != CLG_OK) {
            for (int i = 0; i < s->n_parallel; i++)
                if (s->slots[i].req) {
                    finish_error(s->slots[i].req, 500, clg_last_error());
                    slot_release(s, &s->slots[i]);
                }
            continue;
        }
        for (int w = 0; w < n_want; w++) {
            srv_slot *sl = &s->slots[s->b_slot[w]];
            if (!sl->req) continue;
            if (sl->req->cancelled) continue; /* freed at the top of the loop */
            int32_t id = greedy
                             ? s->ids[w]
                             : llm_sampler_sample(sl->sampler, s->logits + (size_t)w * s->n_vocab);
            slot_token(s, sl, id);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int srv_sched_create(llm_model *model, const llm_tokenizer *tok, int n_parallel, int max_queue,
                     int *padded, srv_sched **out) {
    *out = NULL;
    *padded = 0;
    const llm_hparams *hp = llm_model_hparams(model);
    int n_batch = hp->n_batch > 0 ? hp->n_batch : 64;
    if (n_parallel > n_batch) {
        clg_fail(CLG_ERR_INVALID_ARG,
                 "--parallel %d is more than the %d tokens of a step (--batch): every sequence "
                 "needs one per step",
                 n_parallel, n_batch);
        return -1;
    }
    if (llm_model_n_seq(model) < n_parallel) {
        clg_fail(CLG_ERR_INVALID_ARG, "the model keeps %d sequences, fewer than --parallel %d",
                 llm_model_n_seq(model), n_parallel);
        return -1;
    }
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->model = model;
    s->tok = tok;
    s->n_parallel = n_parallel;
    s->max_queue = max_queue;
    s->pad = n_parallel > 1 && !llm_model_rows_invariant(model);
    s->n_ctx = hp->n_ctx;
    s->n_batch = n_batch;
    s->n_vocab = hp->n_vocab;
    s->accepting = 1;
    size_t nb = (size_t)s->n_batch + (size_t)n_parallel;
    s->slots = calloc((size_t)n_parallel, sizeof *s->slots);
    s->b_tok = malloc(nb * sizeof(int32_t));
    s->b_pos = malloc(nb * sizeof(int32_t));
    s->b_seq = malloc(nb * sizeof(int32_t));
    s->b_want = malloc(nb);
    s->b_slot = malloc((size_t)n_parallel * sizeof(int));
    s->logits = malloc((size_t)n_parallel * (size_t)s->n_vocab * sizeof(float));
    s->ids = malloc((size_t)n_parallel * sizeof(int32_t));
    if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_want || !s->b_slot ||
        !s->logits || !s->ids)
        goto oom;
    for (int i = 0; i < n_parallel; i++) {
        if (!(s->slots[i].hist = malloc((size_t)s->n_ctx * sizeof(int32_t)))) goto oom;
        if (llm_tokenizer_stream_create(tok, 0, &s->slots[i].stream) != CLG_OK) goto fail;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    int err = pthread_create(&s->worker, NULL, worker_main, s);
    if (err) {
        clg_fail(CLG_ERR_OUT_OF_MEMORY, "cannot start the worker thread: %s", strerror(err));
        goto fail;
    }
    s->started = 1;
    *padded = s->pad;
    *out = s;
    return 0;
oom:
    clg_fail(CLG_ERR_OUT_OF_MEMORY, "out of memory for the scheduler");
fail:
    srv_sched_destroy(s);
    return -1;
}

void srv_sched_destroy(srv_sched *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->quit = s->cut = 1;
        s->accepting = 0;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->worker, NULL);
        while (s->head) {
            srv_request *r = s->head;
            s->head = r->next;
            finish_error(r, 503, "the server is shutting down");
            unref(r);
        }
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work);
    }
    for (int i = 0; s->slots && i < s->n_parallel; i++) {
        slot_release(s, &s->slots[i]);
        llm_tokenizer_stream_destroy(s->slots[i].stream);
        free(s->slots[i].buf);
        free(s->slots[i].hist);
    }
    free(s->slots);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_want);
    free(s->b_slot);
    free(s->logits);
    free(s->ids);
    free(s);
}

int srv_sched_submit(srv_sched *s, srv_request *r) {
    pthread_mutex_lock(&s->mu);
    int busy = 0;
    for (int i = 0; i < s->n_parallel; i++)
        busy += s->slots[i].req != NULL;
    int rc = !s->accepting ? -2 : busy == s->n_parallel && s->n_queued >= s->max_queue ? -1 : 0;
    if (!rc) {
        r->refs++;
        r->submitted = 1;
        r->next = NULL;
        if (s->tail)
            s->tail->next = r;
        else
            s->head = r;
        s->tail = r;
        s->n_queued++;
        s->n_open++;
        pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void srv_request_release(srv_sched *s, srv_request *r) {
    pthread_mutex_lock(&s->mu);
    if (!r->done) {
        r->cancelled = 1;
        pthread_cond_signal(&s->work);
    }
    if (r->submitted) s->n_open--;
    unref(r);
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_lock(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
}

void srv_sched_unlock(srv_sched *s) {
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_wait(srv_sched *s, srv_request *r, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)timeout_ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&r->changed, &s->mu, &ts);
}

void srv_sched_stop_accepting(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->accepting = 0;
    while (s->head) {
        srv_request *r = s->head;
        s->head = r->next;
        s->n_queued--;
        finish_error(r, 503, "the server is shutting down");
        unref(r);
    }
    s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_cut(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->cut = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

int srv_sched_open_requests(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->n_open;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void srv_sched_load(srv_sched *s, int *running, int *queued) {
    pthread_mutex_lock(&s->mu);
    int busy = 0;
    for (int i = 0; i < s->n_parallel; i++)
        busy += s->slots[i].req != NULL;
    *running = busy;
    *queued = s->n_queued;
    pthread_mutex_unlock(&s->mu);
}
