/* clgraph run (one prompt, streamed answer, summary) and clgraph chat (interactive,
 * multi-turn, with the model's chat template). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The whole of a prompt file, NUL-terminated. NULL with the reason on stderr when it cannot be
 * read to the end (missing, unreadable, a folder) or holds a NUL byte: the prompt is text, and
 * a NUL would cut it short unseen. */
static char *read_text_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "clgraph run: cannot read the prompt file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap *= 2) : NULL;
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    const char *nul = buf && !err ? memchr(buf, 0, n) : NULL;
    if (!buf || err || nul) {
        if (!buf)
            fprintf(stderr, "clgraph run: no memory for the prompt file %s\n", path);
        else if (err)
            fprintf(stderr, "clgraph run: cannot read the prompt file %s: %s\n", path,
                    strerror(err));
        else
            fprintf(stderr,
                    "clgraph run: the prompt file %s holds a NUL byte at offset %zu: prompts are "
                    "text\n",
                    path, (size_t)(nul - buf));
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
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
        if (!(file_text = read_text_file(o.prompt_file))) return 1;
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
                "end of input quits; Ctrl-C stops the current answer, not the program.\n\n%s",
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

    size_t n_msgs = 0, cap = 16;
    llm_chat_msg *msgs = malloc(cap * sizeof *msgs);
    char **owned = malloc(cap * sizeof *owned); /* contents we allocated */
    int rc = msgs && owned ? 0 : 1;
    const char *sys = o.system ? o.system : s.default_system;
    if (sys && !rc) {
        msgs[n_msgs] = (llm_chat_msg){"system", sys};
        owned[n_msgs++] = NULL;
    }
    char line[8192];
    while (!rc) {
        fprintf(stderr, "\n> ");
        g_stop = 0;
        if (!fgets(line, sizeof line, stdin)) {
            if (g_stop) continue; /* Ctrl-C at the prompt: ask again */
            break;
        }
        line[strcspn(line, "\r\n")] = 0;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!line[0]) continue;
        if (n_msgs + 2 > cap) {
            cap *= 2;
            llm_chat_msg *nm = realloc(msgs, cap * sizeof *msgs);
            char **no = realloc(owned, cap * sizeof *owned);
            if (nm) msgs = nm;
            if (no) owned = no;
            if (!nm || !no) break;
        }
        owned[n_msgs] = strdup(line);
        msgs[n_msgs] = (llm_chat_msg){"user", owned[n_msgs]};
        n_msgs++;
        char *text = format_chat(&s, msgs, n_msgs, "chat");
        int32_t *ids = NULL;
        size_t n = 0;
        if (!text || encode(&s, text, &ids, &n, "chat")) {
            free(text);
            break;
        }
        free(text);
        if ((int)n >= llm_model_hparams(s.model)->n_ctx) {
            fprintf(stderr,
                    "[the conversation (%zu tokens) no longer fits the context; starting over]\n",
                    n);
            free(ids);
            for (size_t k = 0; k < n_msgs; k++)
                free(owned[k]);
            n_msgs = sys ? 1 : 0; /* keep the system message (owned[0] is NULL then) */
            continue;
        }
        char *reply = NULL;
        if (gen_run(&s, ids, (int)n, o.n_predict, &g_stop, &reply, "chat")) {
            free(ids);
            free(reply);
            rc = 1;
            break;
        }
        free(ids);
        if (g_stop) fprintf(stderr, "\n[stopped]");
        owned[n_msgs] = reply ? reply : strdup("");
        msgs[n_msgs] = (llm_chat_msg){"assistant", owned[n_msgs]};
        n_msgs++;
        printf("\n");
    }
    if (!o.quiet) gen_print_summary(&s, "chat");
    for (size_t k = 0; k < n_msgs; k++)
        free(owned[k]);
    free(owned);
    free(msgs);
    gen_session_close(&s);
    return rc;
}
