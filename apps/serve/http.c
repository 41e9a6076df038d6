/* clgraph serve's HTTP routes and OpenAI JSON (http.h). */
#define _GNU_SOURCE /* POLLRDHUP */
#include "apps/serve/http.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clgraph/runtime.h"

struct srv_http {
    srv_http_config cfg;
    struct MHD_Daemon *daemon;
    pthread_mutex_t id_mu;
    long next_id;
};

typedef enum route { ROUTE_HEALTH, ROUTE_MODELS, ROUTE_CHAT, ROUTE_COMPLETIONS } route;

/* Per connection request: the body as it arrives. */
typedef struct conn {
    route rt;
    char *body; /* [len] */
    size_t len, cap;
    int too_big;
} conn;

/* ---- responses ------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *text /* owned */) {
    if (!text) return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *j /* owned */) {
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return send_text(c, status, "application/json", text);
}

static const char *error_type(unsigned status) {
    switch (status) {
    case 401:
        return "authentication_error";
    case 404:
        return "not_found_error";
    case 500:
        return "server_error";
    case 503:
        return "unavailable_error";
    default:
        return "invalid_request_error";
    }
}

/* {"error": {"message", "type", "code"}}: code is the HTTP status, as llama.cpp's server. */
static cJSON *error_json(unsigned status, const char *msg) {
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", error_type(status));
    cJSON_AddNumberToObject(e, "code", status);
    return j;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_json(c, status, error_json(status, msg));
}

/* ---- request fields ---------------------------------------------------------- */

/* A parsed completion request: what the scheduler needs plus how to answer. */
typedef struct job {
    srv_request *req;
    int chat, stream, include_usage;
    char err[512]; /* why the request is bad (400) */
} job;

/* Optional number field in [lo, hi]: absent or null keeps *out. 0 ok, -1 bad (j->err). */
static int field_number(job *jb, const cJSON *o, const char *name, double lo, double hi,
                        double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        snprintf(jb->err, sizeof jb->err, "'%s' must be a number", name);
        return -1;
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        snprintf(jb->err, sizeof jb->err, "'%s' = %g: must be within [%g, %g]", name,
                 v->valuedouble, lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

static int field_int(job *jb, const cJSON *o, const char *name, double lo, double hi, double *out) {
    double v = *out;
    if (field_number(jb, o, name, lo, hi, &v)) return -1;
    if (v != floor(v)) {
        snprintf(jb->err, sizeof jb->err, "'%s' = %g: must be a whole number", name, v);
        return -1;
    }
    *out = v;
    return 0;
}

static int field_bool(job *jb, const cJSON *o, const char *name, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) {
        snprintf(jb->err, sizeof jb->err, "'%s' must be true or false", name);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* "stop": a string or an array of up to 16 non-empty strings. */
static int field_stop(job *jb, const cJSON *o) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (!v || cJSON_IsNull(v)) return 0;
    int n = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 0 || n > 16) {
        snprintf(jb->err, sizeof jb->err, "'stop' must be a string or an array of at most 16");
        return -1;
    }
    srv_request *r = jb->req;
    r->stop = calloc((size_t)n + 1, sizeof *r->stop);
    if (!r->stop) return -1;
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_IsString(v) ? v : cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(s) || !s->valuestring[0]) {
            snprintf(jb->err, sizeof jb->err, "'stop' entries must be non-empty strings");
            return -1;
        }
        if (!(r->stop[r->n_stop++] = strdup(s->valuestring))) return -1;
    }
    return 0;
}

/* A message's content: a string, or an array of {"type": "text", "text": ...} parts joined;
 * malloc'ed. NULL with jb->err when it is neither. */
static char *message_content(job *jb, const cJSON *m, int k) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsString(c)) return strdup(c->valuestring);
    if (cJSON_IsArray(c)) {
        size_t len = 0;
        char *out = calloc(1, 1);
        const cJSON *part;
        cJSON_ArrayForEach(part, c) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") || !cJSON_IsString(x)) {
                snprintf(jb->err, sizeof jb->err,
                         "messages[%d].content: only text parts ({\"type\": \"text\", \"text\": "
                         "...}) are supported",
                         k);
                free(out);
                return NULL;
            }
            size_t n = strlen(x->valuestring);
            char *p = out ? realloc(out, len + n + 1) : NULL;
            if (!p) {
                free(out);
                return NULL;
            }
            out = p;
            memcpy(out + len, x->valuestring, n + 1);
            len += n;
        }
        return out;
    }
    snprintf(jb->err, sizeof jb->err, "messages[%d].content must be a string or text parts", k);
    return NULL;
}

/* The prompt text of a chat request, formatted with the model's template; malloc'ed. */
static char *chat_prompt(srv_http *h, job *jb, const cJSON *body, int *server_error) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) < 1) {
        snprintf(jb->err, sizeof jb->err, "'messages' must be a non-empty array");
        return NULL;
    }
    if (!h->cfg.has_template) {
        *server_error = 1;
        snprintf(jb->err, sizeof jb->err, "the model has no chat template clgraph knows");
        return NULL;
    }
    int n = cJSON_GetArraySize(msgs), k = 0, has_system = 0;
    llm_chat_msg *list = calloc((size_t)n + 1, sizeof *list);
    char **owned = calloc((size_t)n + 1, sizeof *owned);
    char *out = NULL;
    if (!list || !owned) goto done;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            snprintf(jb->err, sizeof jb->err, "messages[%d] must be an object with a 'role'", k);
            goto done;
        }
        const char *r = role->valuestring;
        if (!strcmp(r, "developer")) r = "system"; /* OpenAI's newer name for it */
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant")) {
            snprintf(jb->err, sizeof jb->err,
                     "messages[%d].role = '%.40s': must be system, user or assistant", k, r);
            goto done;
        }
        has_system |= !strcmp(r, "system");
        if (!(owned[k] = message_content(jb, m, k))) goto done;
        list[k] = (llm_chat_msg){r, owned[k]};
        k++;
    }
    /* As clgraph run --chat: the template's own system prompt when none is given. */
    int lead = !has_system && h->cfg.default_system;
    if (lead) {
        memmove(list + 1, list, (size_t)n * sizeof *list);
        list[0] = (llm_chat_msg){"system", h->cfg.default_system};
    }
    if (llm_chat_format(h->cfg.tmpl, list, (size_t)n + lead, 1, &out) != CLG_OK)
        snprintf(jb->err, sizeof jb->err, "%s", clg_last_error());
done:
    for (int i = 0; owned && i < k; i++)
        free(owned[i]);
    free(owned);
    free(list);
    return out;
}

/* Parses and checks a completion body into jb (request, stream flags). 0; 400 / 500 with
 * jb->err. */
static unsigned parse_job(srv_http *h, job *jb, const char *text, size_t len) {
    cJSON *body = cJSON_ParseWithLength(text, len);
    char *prompt = NULL;
    unsigned status = 400;
    srv_request *r = jb->req;
    if (!body) {
        snprintf(jb->err, sizeof jb->err, "the body is not valid JSON");
        return 400;
    }
    if (!cJSON_IsObject(body)) {
        snprintf(jb->err, sizeof jb->err, "the body must be a JSON object");
        goto done;
    }
    double temp = r->sp.temperature, top_p = r->sp.top_p, min_p = r->sp.min_p;
    double top_k = r->sp.top_k, max_tokens = -1, seed = -1, n = 1;
    if (field_bool(jb, body, "stream", &jb->stream) ||
        field_number(jb, body, "temperature", 0, 2, &temp) ||
        field_number(jb, body, "top_p", 0, 1, &top_p) ||
        field_number(jb, body, "min_p", 0, 1, &min_p) ||
        field_int(jb, body, "top_k", 0, 1 << 30, &top_k) ||
        field_int(jb, body, "max_tokens", 1, 1 << 30, &max_tokens) ||
        field_int(jb, body, "max_completion_tokens", 1, 1 << 30, &max_tokens) ||
        field_int(jb, body, "seed", -1, 18446744073709551615.0, &seed) ||
        field_int(jb, body, "n", 1, 1, &n) || field_stop(jb, body))
        goto done;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
    if (so && !cJSON_IsNull(so) &&
        (!cJSON_IsObject(so) || field_bool(jb, so, "include_usage", &jb->include_usage))) {
        if (!jb->err[0]) snprintf(jb->err, sizeof jb->err, "'stream_options' must be an object");
        goto done;
    }
    r->sp.temperature = (float)temp;
    r->sp.top_p = (float)top_p;
    r->sp.min_p = (float)min_p;
    r->sp.top_k = (int32_t)top_k;
    r->max_tokens = (int)max_tokens;
    if (seed >= 18446744073709551615.0) /* 2^64 as a double: JSON numbers are doubles */
        r->sp.seed = UINT64_MAX;
    else if (seed >= 0)
        r->sp.seed = (uint64_t)seed;
    else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r->sp.seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    if (llm_sampler_params_check(&r->sp) != CLG_OK) {
        snprintf(jb->err, sizeof jb->err, "%s", clg_last_error());
        goto done;
    }
    int server_error = 0;
    if (jb->chat) {
        if (!(prompt = chat_prompt(h, jb, body, &server_error))) {
            if (server_error) status = 500;
            if (!jb->err[0]) status = 500, snprintf(jb->err, sizeof jb->err, "out of memory");
            goto done;
        }
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "prompt");
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) p = cJSON_GetArrayItem(p, 0);
        if (!cJSON_IsString(p)) {
            snprintf(jb->err, sizeof jb->err, "'prompt' must be a string");
            goto done;
        }
        prompt = strdup(p->valuestring);
    }
    size_t n_ids = 0;
    if (!prompt || llm_tokenizer_encode(h->cfg.tok, prompt, strlen(prompt),
                                        LLM_TOKENIZE_ADD_SPECIAL | LLM_TOKENIZE_PARSE_SPECIAL,
                                        &r->prompt, &n_ids) != CLG_OK) {
        status = 500;
        snprintf(jb->err, sizeof jb->err, "%s", prompt ? clg_last_error() : "out of memory");
        goto done;
    }
    r->n_prompt = (int)n_ids;
    if (r->n_prompt < 1) {
        snprintf(jb->err, sizeof jb->err, "the prompt is empty");
        goto done;
    }
    if (r->n_prompt >= h->cfg.n_ctx) {
        snprintf(jb->err, sizeof jb->err,
                 "the prompt has %d tokens, more than the context of %d tokens leaves room for",
                 r->n_prompt, h->cfg.n_ctx);
        goto done;
    }
    status = 0;
done:
    free(prompt);
    cJSON_Delete(body);
    return status;
}

/* ---- waiting on the scheduler ------------------------------------------------- */

/* 1 when the peer has closed its end (or the socket failed). */
static int client_gone(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (fd < 0 || poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return 1;
    char ch;
    return (p.revents & POLLIN) && recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static int connection_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

static cJSON *usage_json(const srv_request *r) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt + r->n_gen);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    if (d) cJSON_AddNumberToObject(d, "cached_tokens", r->n_cached);
    return u;
}

/* {"id", "object", "created", "model", "choices": [choice]} */
static cJSON *envelope(srv_http *h, const char *id, const char *object, long created,
                       cJSON *choice /* owned */) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "object", object);
    cJSON_AddNumberToObject(j, "created", (double)created);
    cJSON_AddStringToObject(j, "model", h->cfg.model_name);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), choice);
    return j;
}

/* A choice: chat message / delta or completion text, and the finish reason (NULL: null). */
static cJSON *choice_json(int chat, int delta, const char *role, const char *text,
                          const char *finish) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(c, delta ? "delta" : "message");
        if (role) cJSON_AddStringToObject(m, "role", role);
        if (text) cJSON_AddStringToObject(m, "content", text);
    } else
        cJSON_AddStringToObject(c, "text", text ? text : "");
    cJSON_AddNullToObject(c, "logprobs");
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    return c;
}

/* ---- streaming ------------------------------------------------------------------ */

typedef struct stream_ctx {
    srv_http *h;
    srv_request *r;
    int fd, chat, include_usage;
    long created;
    char id[48];
    size_t sent; /* bytes of r->text sent */
    int stage;   /* 0: the role chunk (chat), 1: text, 2: ended */
    char *pend;  /* [pend_len] the event being sent, owned */
    size_t pend_len, pend_off;
} stream_ctx;

/* Appends "data: JSON\n\n" of j (owned) to the pending bytes. */
static int pend_event(stream_ctx *x, cJSON *j) {
    char *t = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!t) return -1;
    size_t n = strlen(t);
    char *p = realloc(x->pend, x->pend_len + n + 9);
    if (!p) {
        free(t);
        return -1;
    }
    x->pend = p;
    memcpy(p + x->pend_len, "data: ", 6);
    memcpy(p + x->pend_len + 6, t, n);
    memcpy(p + x->pend_len + 6 + n, "\n\n", 3);
    x->pend_len += n + 8;
    free(t);
    return 0;
}

/* The next events into x->pend; -1 when the client went away or memory ran out. */
static int next_events(stream_ctx *x) {
    const char *object = x->chat ? "chat.completion.chunk" : "text_completion";
    x->pend_len = x->pend_off = 0;
    if (x->stage == 0) {
        x->stage = 1;
        return pend_event(
            x, envelope(x->h, x->id, object, x->created, choice_json(1, 1, "assistant", "", NULL)));
    }
    srv_sched *s = x->h->cfg.sched;
    srv_request *r = x->r;
    srv_sched_lock(s);
    while (r->len == x->sent && !r->done) {
        if (client_gone(x->fd)) {
            srv_sched_unlock(s);
            return -1;
        }
        srv_sched_wait(s, r, 100);
    }
    /* What changed, copied out under the lock; the events are built after it, so that the
     * worker's next step does not wait for JSON. */
    char *text = NULL, *err = NULL;
    unsigned err_status = 0;
    const char *finish = NULL;
    cJSON *usage = NULL;
    int oom = 0;
    if (r->len > x->sent) {
        oom = !(text = strndup(r->text + x->sent, r->len - x->sent));
        x->sent = r->len;
    } else if (r->error) {
        oom = !(err = strdup(r->error));
        err_status = (unsigned)r->error_status;
        x->stage = 2;
    } else {
        finish = r->finish_reason;
        if (x->include_usage) oom = !(usage = usage_json(r));
        x->stage = 2;
    }
    srv_sched_unlock(s);
    int rc = oom ? -1 : 0;
    if (text) {
        rc = pend_event(x, envelope(x->h, x->id, object, x->created,
                                    choice_json(x->chat, 1, NULL, text, NULL)));
    } else if (err) {
        rc = pend_event(x, error_json(err_status, err));
    } else if (!oom) {
        rc = pend_event(x, envelope(x->h, x->id, object, x->created,
                                    choice_json(x->chat, 1, NULL, x->chat ? NULL : "", finish)));
        if (!rc && usage) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "id", x->id);
            cJSON_AddStringToObject(j, "object", object);
            cJSON_AddNumberToObject(j, "created", (double)x->created);
            cJSON_AddStringToObject(j, "model", x->h->cfg.model_name);
            cJSON_AddArrayToObject(j, "choices");
            cJSON_AddItemToObject(j, "usage", usage);
            usage = NULL;
            rc = pend_event(x, j);
        }
    }
    cJSON_Delete(usage);
    free(text);
    free(err);
    if (!rc && x->stage == 2) {
        char *p = realloc(x->pend, x->pend_len + 15);
        if (!p) return -1;
        x->pend = p;
        memcpy(p + x->pend_len, "data: [DONE]\n\n", 15);
        x->pend_len += 14;
    }
    return rc;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream_ctx *x = cls;
    (void)pos;
    if (x->pend_off == x->pend_len) {
        if (x->stage == 2 && x->pend) return MHD_CONTENT_READER_END_OF_STREAM;
        if (next_events(x)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = x->pend_len - x->pend_off < max ? x->pend_len - x->pend_off : max;
    memcpy(buf, x->pend + x->pend_off, n);
    x->pend_off += n;
    return (ssize_t)n;
}

/* The response is done or the connection closed: the sequence is freed if still running. */
static void stream_free(void *cls) {
    stream_ctx *x = cls;
    srv_request_release(x->h->cfg.sched, x->r);
    free(x->pend);
    free(x);
}

/* ---- routes --------------------------------------------------------------------- */

static enum MHD_Result handle_completion(srv_http *h, struct MHD_Connection *c, conn *k) {
    job jb = {.chat = k->rt == ROUTE_CHAT};
    if (!(jb.req = srv_request_create())) return send_error(c, 500, "out of memory");
    srv_sched *s = h->cfg.sched;
    unsigned status = parse_job(h, &jb, k->body ? k->body : "", k->len);
    if (status) {
        srv_request_release(s, jb.req);
        return send_error(c, status, "%s", jb.err);
    }
    int sub = srv_sched_submit(s, jb.req);
    if (sub) {
        srv_request_release(s, jb.req);
        return sub == -2 ? send_error(c, 503, "the server is shutting down")
                         : send_error(c, 503, "the server is busy: its queue is full");
    }
    pthread_mutex_lock(&h->id_mu);
    long id = ++h->next_id;
    pthread_mutex_unlock(&h->id_mu);
    long created = (long)time(NULL);
    int fd = connection_fd(c);
    if (jb.stream) {
        stream_ctx *x = calloc(1, sizeof *x);
        if (!x) {
            srv_request_release(s, jb.req);
            return send_error(c, 500, "out of memory");
        }
        *x = (stream_ctx){.h = h,
                          .r = jb.req,
                          .fd = fd,
                          .chat = jb.chat,
                          .include_usage = jb.include_usage,
                          .created = created,
                          .stage = jb.chat ? 0 : 1};
        snprintf(x->id, sizeof x->id, "%s-%ld", jb.chat ? "chatcmpl" : "cmpl", id);
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, x, stream_free);
        if (!resp) {
            stream_free(x);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    /* Not streamed: this connection's thread waits for the whole answer, watching the
     * socket so that a client that goes away frees its sequence at once. */
    srv_request *r = jb.req;
    srv_sched_lock(s);
    while (!r->done) {
        if (client_gone(fd)) {
            srv_sched_unlock(s);
            srv_request_release(s, r);
            return MHD_NO;
        }
        srv_sched_wait(s, r, 100);
    }
    cJSON *j = NULL;
    unsigned code = MHD_HTTP_OK;
    if (r->error) {
        code = (unsigned)r->error_status;
        j = error_json(code, r->error);
    } else {
        char sid[48];
        snprintf(sid, sizeof sid, "%s-%ld", jb.chat ? "chatcmpl" : "cmpl", id);
        j = envelope(
            h, sid, jb.chat ? "chat.completion" : "text_completion", created,
            choice_json(jb.chat, 0, "assistant", r->text ? r->text : "", r->finish_reason));
        cJSON_AddItemToObject(j, "usage", usage_json(r));
    }
    srv_sched_unlock(s);
    srv_request_release(s, r);
    return send_json(c, code, j);
}

static enum MHD_Result handle_models(srv_http *h, struct MHD_Connection *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", h->cfg.model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)time(NULL));
    cJSON_AddStringToObject(m, "owned_by", "clgraph");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "data"), m);
    return send_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result handle_health(srv_http *h, struct MHD_Connection *c) {
    int running, queued;
    srv_sched_load(h->cfg.sched, &running, &queued);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", "ok");
    cJSON_AddNumberToObject(j, "slots_processing", running);
    cJSON_AddNumberToObject(j, "requests_queued", queued);
    return send_json(c, MHD_HTTP_OK, j);
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int authorized(srv_http *h, struct MHD_Connection *c) {
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!a || strncmp(a, "Bearer ", 7)) return 0;
    a += 7;
    size_t la = strlen(a), lk = strlen(h->cfg.api_key);
    unsigned diff = la != lk;
    for (size_t i = 0; i < lk; i++)
        diff |= (unsigned char)h->cfg.api_key[i] ^ (unsigned char)(i < la ? a[i] : 0);
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
    srv_http *h = cls;
    conn *k = *con_cls;
    (void)version;
    if (!k) { /* the headers: route, key and declared size are checked before the body */
        if (!(k = calloc(1, sizeof *k))) return MHD_NO;
        *con_cls = k;
        static const struct {
            const char *path, *method;
            route rt;
        } routes[] = {{"/health", "GET", ROUTE_HEALTH},
                      {"/v1/models", "GET", ROUTE_MODELS},
                      {"/v1/chat/completions", "POST", ROUTE_CHAT},
                      {"/v1/completions", "POST", ROUTE_COMPLETIONS}};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(url, routes[i].path)) found = i;
        if (found < 0) return send_error(c, 404, "no such route: %s %.200s", method, url);
        if (strcmp(method, routes[found].method))
            return send_error(c, 405, "%s takes %s, not %s", routes[found].path,
                              routes[found].method, method);
        k->rt = routes[found].rt;
        if (h->cfg.api_key && k->rt != ROUTE_HEALTH && !authorized(h, c))
            return send_error(c, 401, "invalid or missing API key (Authorization: Bearer KEY)");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > SRV_MAX_BODY)
            return send_error(c, 413, "the body is larger than %u bytes", SRV_MAX_BODY);
        if (k->rt == ROUTE_HEALTH) return handle_health(h, c);
        if (k->rt == ROUTE_MODELS) return handle_models(h, c);
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (k->too_big || k->len + n > SRV_MAX_BODY) {
            k->too_big = 1;
            return MHD_YES; /* read and dropped; answered with 413 at the end */
        }
        if (k->len + n + 1 > k->cap) {
            size_t cap = k->cap ? k->cap : 4096;
            while (cap < k->len + n + 1)
                cap *= 2;
            char *p = realloc(k->body, cap);
            if (!p) return MHD_NO;
            k->body = p;
            k->cap = cap;
        }
        memcpy(k->body + k->len, upload_data, n);
        k->len += n;
        k->body[k->len] = 0;
        return MHD_YES;
    }
    if (k->too_big) return send_error(c, 413, "the body is larger than %u bytes", SRV_MAX_BODY);
    return handle_completion(h, c, k);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why) {
    conn *k = *con_cls;
    (void)cls, (void)c, (void)why;
    if (k) free(k->body);
    free(k);
    *con_cls = NULL;
}

int srv_http_start(const srv_http_config *cfg, srv_http **out) {
    *out = NULL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    if (inet_pton(AF_INET, cfg->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "clgraph serve: --host %s: not a numeric IPv4 or IPv6 address\n",
                cfg->host);
        return -1;
    }
    srv_http *h = calloc(1, sizeof *h);
    if (!h) return -1;
    h->cfg = *cfg;
    pthread_mutex_init(&h->id_mu, NULL);
    h->daemon =
        MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, h,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, h, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                         MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!h->daemon) {
        fprintf(stderr,
                "clgraph serve: cannot listen on %s port %d (in use, or not an address "
                "of this machine)\n",
                cfg->host, cfg->port);
        pthread_mutex_destroy(&h->id_mu);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void srv_http_quiesce(srv_http *h) {
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void srv_http_stop(srv_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->id_mu);
    free(h);
}
