/* clgraph run (one prompt, streamed answer, summary) and clgraph chat (interactive,
 * multi-turn, with the model's chat template). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h> /* ssize_t */

#include "apps/commands.h"
#include "apps/generate.h"

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
}

/* clgraph run: SIGINT and SIGTERM end the run after the current step (the summary still
 * prints, exit 128 + the signal); a second one acts at once (SA_RESETHAND). */
static volatile sig_atomic_t g_signal;
static void on_stop_signal(int sig) {
    g_signal = sig;
}

static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Formats messages with the session's template (or fails when the model has none). */
static char *format_chat(gen_session *s, const llm_chat_msg *msgs, size_t n, const char *cmd) {
    if (!s->has_template) {
        fprintf(stderr,
                "clgraph %s: the model has no chat template clgraph knows; choose one with "
                "--template (%s)\n",
                cmd, llm_chat_template_names());
        return NULL;
    }
    char *out = NULL;
    if (llm_chat_format(s->tmpl, msgs, n, 1, &out) != CLG_OK) {
        fprintf(stderr, "clgraph %s: %s\n", cmd, clg_last_error());
        return NULL;
    }
    return out;
}

static int encode(gen_session *s, const char *text, int32_t **ids, size_t *n, const char *cmd) {
    if (llm_tokenizer_encode(s->tok, text, strlen(text),
                             LLM_TOKENIZE_ADD_SPECIAL | LLM_TOKENIZE_PARSE_SPECIAL, ids,
                             n) != CLG_OK) {
        fprintf(stderr, "clgraph %s: %s\n", cmd, clg_last_error());
        return 1;
    }
    return 0;
}

int clg_cmd_run(int argc, char **argv) {
    gen_options o;
    gen_options_init(&o);
    for (int i = 1; i < argc; i++) {
        int r = gen_parse_option(&o, argc, argv, &i, "run");
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "--chat"))
            o.chat = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf(
                "usage: clgraph run -m MODEL.gguf (-p PROMPT | -f FILE) [options]\n\n"
                "Streams the model's continuation of the prompt, then a summary line on stderr.\n\n"
                "  -p, --prompt TEXT       the prompt\n"
                "  -f, --file FILE         read the prompt from a file\n"
                "  --chat                  wrap the prompt in the model's chat template\n%s"
                "\nExit status: 0, 1 on an error (an output that cannot be written included), 2 on "
                "bad\narguments, 130 / 143 when SIGINT / SIGTERM stopped it (after the current "
                "step).\n",
                gen_options_help());
            return 0;
        } else {
            fprintf(stderr, "clgraph run: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    char *file_text = NULL;
    if (o.prompt_file) {
        if (!(file_text = gen_read_text_file(o.prompt_file, "run", "prompt file"))) return 1;
        o.prompt = file_text;
    }
    if (!o.prompt) {
        fprintf(stderr, "clgraph run: no prompt (-p TEXT or -f FILE; see --help)\n");
        free(file_text);
        return 2;
    }
    gen_session s;
    int rc = gen_session_open(&s, &o, "run");
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    if (!rc && o.chat) {
        const char *sys = o.system ? o.system : s.default_system;
        llm_chat_msg msgs[2] = {{"system", sys}, {"user", o.prompt}};
        text = format_chat(&s, sys ? msgs : msgs + 1, sys ? 2 : 1, "run");
        rc = text == NULL;
    }
    if (!rc) rc = encode(&s, text ? text : o.prompt, &ids, &n, "run");
    if (!rc && !gen_prompt_fits(&s, (int)n, "run")) rc = 1; /* before the prompt is echoed */
    if (!rc) {
        catch_stop_signals();
        if (!o.chat) fputs(o.prompt, stdout);
        if (o.profile && clg_profiler_create(llm_model_context(s.model), o.trace_json != NULL,
                                             &s.prof) != CLG_OK) {
            fprintf(stderr, "clgraph run: no profile: %s\n", clg_last_error());
            rc = 1;
        } else {
            if (s.prof) clg_profiler_set_step_name(s.prof, "token");
            rc = gen_run(&s, ids, (int)n, o.n_predict, &g_signal, NULL, "run");
            if (!rc) printf("\n");
            /* the last bytes and the newline: a full disk shows only now */
            if (!rc && (fflush(stdout) != 0 || ferror(stdout))) {
                fprintf(stderr, "clgraph run: cannot write the output: %s\n", strerror(errno));
                rc = 1;
            }
            if (!o.quiet) gen_print_summary(&s, "run");
            if (g_signal)
                fprintf(stderr, "clgraph run: stopped by %s\n",
                        g_signal == SIGINT ? "SIGINT" : "SIGTERM");
            clg_plan *plan = llm_model_step_plan(s.model, s.device_greedy ? 2 : 0);
            if (s.prof && clg_profiler_report(s.prof, plan, s.decode_s, s.n_decode, stderr,
                                              o.profile_json, o.trace_json) != CLG_OK) {
                fprintf(stderr, "clgraph run: %s\n", clg_last_error());
                rc = 1;
            }
            if (g_signal) rc = 128 + g_signal; /* as a shell reports a process the signal ended */
        }
        clg_profiler_destroy(s.prof);
        s.prof = NULL;
    }
    free(ids);
    free(text);
    free(file_text);
    gen_session_close(&s);
    return rc;
}

/* The conversation of clgraph chat: an optional system message, then user / assistant turns
 * ending with the user's message being answered. */
typedef struct chat_log {
    llm_chat_msg *msgs; /* [cap] */
    char **owned;       /* [cap] the contents, each malloc'ed (msgs[k].content == owned[k]) */
    size_t n, cap;
    size_t first; /* index of the oldest message that may be dropped (1 after a system message) */
} chat_log;

/* Appends a message whose content (malloc'ed, NULL when that failed) the log takes over.
 * 0, or 1 out of memory (reported). */
static int chat_push(chat_log *c, const char *role, char *content) {
    if (!content) {
        fprintf(stderr, "clgraph chat: out of memory\n");
        return 1;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        llm_chat_msg *nm = realloc(c->msgs, cap * sizeof *nm);
        if (nm) c->msgs = nm;
        char **no = nm ? realloc(c->owned, cap * sizeof *no) : NULL;
        if (no) c->owned = no;
        if (!nm || !no) {
            free(content);
            fprintf(stderr, "clgraph chat: out of memory\n");
            return 1;
        }
        c->cap = cap;
    }
    c->msgs[c->n] = (llm_chat_msg){role, content};
    c->owned[c->n++] = content;
    return 0;
}

/* Drops n messages starting at index at. */
static void chat_drop(chat_log *c, size_t at, size_t n) {
    for (size_t k = at; k < at + n; k++)
        free(c->owned[k]);
    memmove(c->msgs + at, c->msgs + at + n, (c->n - at - n) * sizeof *c->msgs);
    memmove(c->owned + at, c->owned + at + n, (c->n - at - n) * sizeof *c->owned);
    c->n -= n;
}

/* Renders msgs[0..n) with the template and tokenizes it: *ids (malloc'ed), *n_ids. */
static int chat_tokens(gen_session *s, const llm_chat_msg *msgs, size_t n, int32_t **ids,
                       size_t *n_ids) {
    char *text = format_chat(s, msgs, n, "chat");
    int rc = !text || encode(s, text, ids, n_ids, "chat");
    free(text);
    return rc;
}

/* Tokens of the conversation ending with the user's newest message, made to fit n_fit
 * tokens as llama.cpp's context shift does: the system message stays, the oldest
 * user / assistant turns go until the rest fits. A message that cannot fit even alone
 * is reported and taken back (*ids NULL then). 0, or 1 on an error that ends the chat. */
static int chat_fit(gen_session *s, chat_log *c, int n_fit, int reserve, int32_t **ids,
                    size_t *n_ids) {
    const int n_ctx = llm_model_hparams(s->model)->n_ctx;
    *ids = NULL;
    if (chat_tokens(s, c->msgs, c->n, ids, n_ids)) return 1;
    if (*n_ids <= (size_t)n_fit) return 0;
    size_t n_all = *n_ids;
    free(*ids);
    *ids = NULL;
    /* The newest message with the system message and the template's framing, nothing else. */
    llm_chat_msg alone[2] = {c->msgs[0], c->msgs[c->n - 1]};
    size_t n_alone = 0;
    int32_t *alone_ids = NULL;
    if (chat_tokens(s, c->first ? alone : alone + 1, c->first ? 2 : 1, &alone_ids, &n_alone))
        return 1;
    free(alone_ids);
    if (n_alone > (size_t)n_fit) {
        const char *msg = c->msgs[c->n - 1].content;
        size_t n_msg = 0;
        int32_t *msg_ids = NULL;
        if (llm_tokenizer_encode(s->tok, msg, strlen(msg), 0, &msg_ids, &n_msg) != CLG_OK)
            n_msg = 0;
        free(msg_ids);
        fprintf(stderr,
                "clgraph chat: your message is %zu tokens long (%zu with the system prompt and "
                "the template) and does not fit the context of %d tokens (--ctx) with %d "
                "kept for the answer; it was not sent: shorten it or raise --ctx\n",
                n_msg, n_alone, n_ctx, reserve);
        chat_drop(c, c->n - 1, 1);
        return 0;
    }
    /* Drop whole turns (a user message and its answer), oldest first; the newest message
     * fits alone, so this ends with it at the latest. */
    size_t dropped = 0;
    do {
        free(*ids);
        *ids = NULL;
        chat_drop(c, c->first, c->n - c->first >= 3 ? 2 : 1);
        dropped++;
        if (chat_tokens(s, c->msgs, c->n, ids, n_ids)) return 1;
    } while (*n_ids > (size_t)n_fit);
    fprintf(stderr,
            "[the conversation (%zu tokens) outgrew the context of %d tokens (--ctx) with %d kept "
            "for the answer: dropped the %zu oldest turn%s, keeping %zu tokens]\n",
            n_all, n_ctx, reserve, dropped, dropped == 1 ? "" : "s", *n_ids);
    return 0;
}

int clg_cmd_chat(int argc, char **argv) {
    gen_options o;
    gen_options_init(&o);
    for (int i = 1; i < argc; i++) {
        int r = gen_parse_option(&o, argc, argv, &i, "chat");
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf(
                "usage: clgraph chat -m MODEL.gguf [options]\n\n"
                "Interactive chat with the model's template. Type a message and Enter; /exit or\n"
                "end of input quits; Ctrl-C stops the current answer, not the program.\n"
                "When the conversation outgrows --ctx, the oldest turns are dropped (the system\n"
                "message stays) so that the prompt leaves room for an answer of -n tokens, or a\n"
                "quarter of the context when -n is larger or -1; a message that cannot fit even\n"
                "alone is refused with its token count.\n\n%s",
                gen_options_help());
            return 0;
        }
        fprintf(stderr, "clgraph chat: unknown option '%s' (see --help)\n", argv[i]);
        return 2;
    }
    gen_session s;
    if (gen_session_open(&s, &o, "chat")) {
        gen_session_close(&s);
        return 1;
    }
    if (!s.has_template) {
        format_chat(&s, NULL, 0, "chat");
        gen_session_close(&s);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C at the prompt interrupts the read */
    sigaction(SIGINT, &sa, NULL);

    /* Room kept for the answer: all of -n when it is at most a quarter of the context, else
     * a quarter (the answer may still run on to the context's end). */
    const int n_ctx = llm_model_hparams(s.model)->n_ctx;
    int reserve = o.n_predict >= 0 && o.n_predict <= n_ctx / 4 ? o.n_predict : n_ctx / 4;
    if (reserve < 1) reserve = 1; /* gen_run needs one free position */

    chat_log c = {0};
    int rc = 0;
    const char *sys = o.system ? o.system : s.default_system;
    if (sys) {
        rc = chat_push(&c, "system", strdup(sys));
        c.first = 1;
    }
    char *line = NULL; /* one message, however long: getline grows it */
    size_t line_cap = 0;
    while (!rc) {
        fprintf(stderr, "\n> ");
        g_stop = 0;
        ssize_t len = getline(&line, &line_cap, stdin);
        if (len < 0) {
            if (g_stop && !feof(stdin)) { /* Ctrl-C at the prompt: ask again */
                clearerr(stdin);
                continue;
            }
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!line[0]) continue;
        if ((rc = chat_push(&c, "user", strdup(line)))) break;
        int32_t *ids = NULL;
        size_t n = 0;
        rc = chat_fit(&s, &c, n_ctx - reserve, reserve, &ids, &n);
        if (rc || !ids) continue; /* an error ends the chat; a refused message asks again */
        char *reply = NULL;
        rc = gen_run(&s, ids, (int)n, o.n_predict, &g_stop, &reply, "chat");
        free(ids);
        if (rc) {
            free(reply);
            break;
        }
        if (g_stop) fprintf(stderr, "\n[stopped]");
        rc = chat_push(&c, "assistant", reply ? reply : strdup(""));
        printf("\n");
    }
    if (!o.quiet) gen_print_summary(&s, "chat");
    free(line);
    for (size_t k = 0; k < c.n; k++)
        free(c.owned[k]);
    free(c.owned);
    free(c.msgs);
    gen_session_close(&s);
    return rc;
}
