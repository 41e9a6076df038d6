/* clgraph serve's HTTP side (libmicrohttpd, one thread per connection, JSON by cJSON): the
 * OpenAI routes /v1/chat/completions, /v1/completions, /v1/models and /health, with errors
 * in OpenAI's shape {"error": {"message", "type", "code"}}. */
#ifndef CLGRAPH_APPS_SERVE_HTTP_H
#define CLGRAPH_APPS_SERVE_HTTP_H

#include "apps/serve/sched.h"
#include "clgraph/chat.h"
#include "clgraph/tokenizer.h"

/* Largest request body; larger ones get 413. */
#define SRV_MAX_BODY (1u << 20)

typedef struct srv_http_config {
    srv_sched *sched;         /* borrowed */
    const llm_tokenizer *tok; /* borrowed */
    llm_chat_template tmpl;   /* the model's chat template, when has_template */
    int has_template;
    const char *default_system; /* the template's own system prompt, or NULL; borrowed */
    const char *model_name;     /* what /v1/models lists and responses echo; borrowed */
    const char *api_key;        /* required as "Authorization: Bearer KEY", or NULL */
    const char *host;           /* numeric IPv4 or IPv6 address to bind */
    int port;
    int n_ctx; /* tokens per sequence: longer prompts get 400 */
} srv_http_config;

typedef struct srv_http srv_http;

/* Binds and starts serving; cfg is copied (its strings stay borrowed). 0, or -1 with the
 * reason on stderr ("clgraph serve: ..."). *out owned by the caller: srv_http_stop. */
int srv_http_start(const srv_http_config *cfg, srv_http **out);

/* Stops accepting connections (the listening socket closes); open ones go on. */
void srv_http_quiesce(srv_http *h);

/* Closes every connection and frees h; safe on NULL. */
void srv_http_stop(srv_http *h);

#endif
