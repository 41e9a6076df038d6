/* Chat templates: family detection on real template texts and byte-exact
 * formatting against jinja2's rendering of them (test/data/chat/golden.txt,
 * made by gen_chat_golden.py), plus names, errors, the SmolLM2 GGUF and GGUFs
 * without a template (Gemma found by its turn tokens). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clgraph/chat.h"
#include "clgraph/gguf.h"
#include "test_common.h"

/* Reads a whole file; *len its size. Caller frees. NULL when unreadable. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Prints s with control characters escaped, for mismatch reports. */
static void print_escaped(const char *what, const char *s, size_t n) {
    fprintf(stderr, "    %s: \"", what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stderr);
        else if (c == '\t')
            fputs("\\t", stderr);
        else if (c < 0x20)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fputs("\"\n", stderr);
}

/* ---- golden file ---------------------------------------------------------- */

#define MAX_CONV 16
#define MAX_MSG 8
#define MAX_CASE 128

typedef struct conv {
    char name[32];
    size_t n;
    llm_chat_msg msgs[MAX_MSG];
} conv;

typedef struct gcase {
    char tmpl[64], family[32], conv[32];
    int add_gen;
    int skip;
    const char *want; /* into the golden buffer, want_len bytes */
    size_t want_len;
} gcase;

typedef struct golden {
    char *buf;
    conv convs[MAX_CONV];
    size_t n_conv;
    gcase cases[MAX_CASE];
    size_t n_case;
} golden;

/* Splits the next line off *p (NUL-terminating it in place). */
static char *next_line(char **p, char *end) {
    if (*p >= end) return NULL;
    char *line = *p;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl) return NULL;
    *nl = '\0';
    *p = nl + 1;
    return line;
}

/* Takes n payload bytes plus their closing newline, NUL-terminating them. */
static char *take_bytes(char **p, char *end, size_t n) {
    if ((size_t)(end - *p) < n + 1 || (*p)[n] != '\n') return NULL;
    char *s = *p;
    s[n] = '\0';
    *p += n + 1;
    return s;
}

static int load_golden(golden *g) {
    size_t len = 0;
    g->buf = read_file(tc_data("chat/golden.txt"), &len);
    if (!g->buf) {
        fprintf(stderr, "cannot read %s\n", tc_data("chat/golden.txt"));
        return 0;
    }
    char *p = g->buf, *end = g->buf + len, *line;
    while ((line = next_line(&p, end)) != NULL) {
        if (line[0] == '#' || line[0] == '\0') continue;
        if (strncmp(line, "conv ", 5) == 0) {
            if (g->n_conv == MAX_CONV) return 0;
            conv *c = &g->convs[g->n_conv++];
            if (sscanf(line, "conv %31s %zu", c->name, &c->n) != 2 || c->n > MAX_MSG) return 0;
            for (size_t i = 0; i < c->n; i++) {
                char *ml = next_line(&p, end);
                char role[32];
                size_t nb;
                if (!ml || sscanf(ml, "msg %31s %zu", role, &nb) != 2) return 0;
                /* the role text lives in the line buffer: cut it out there */
                char *r = ml + 4;
                r[strlen(role)] = '\0';
                c->msgs[i].role = r;
                c->msgs[i].content = take_bytes(&p, end, nb);
                if (!c->msgs[i].content) return 0;
            }
        } else if (strncmp(line, "case ", 5) == 0 || strncmp(line, "skip ", 5) == 0) {
            if (g->n_case == MAX_CASE) return 0;
            gcase *k = &g->cases[g->n_case++];
            k->skip = line[0] == 's';
            size_t nb = 0;
            int got = sscanf(line + 5, "%63s %31s %31s %d %zu", k->tmpl, k->family, k->conv,
                             &k->add_gen, &nb);
            if (got < 4) return 0;
            if (!k->skip) {
                if (got != 5) return 0;
                k->want = take_bytes(&p, end, nb);
                k->want_len = nb;
                if (!k->want) return 0;
            }
        } else {
            fprintf(stderr, "golden.txt: unexpected line '%s'\n", line);
            return 0;
        }
    }
    return 1;
}

static const conv *find_conv(const golden *g, const char *name) {
    for (size_t i = 0; i < g->n_conv; i++)
        if (strcmp(g->convs[i].name, name) == 0) return &g->convs[i];
    return NULL;
}

/* Formats conversation c for the template text, adding the template's default
 * system prompt when c has none (as the Jinja template does). */
static clg_status format_like_template(const char *jinja, size_t jlen, llm_chat_template t,
                                       const conv *c, int add_gen, char **out) {
    llm_chat_msg msgs[MAX_MSG + 1];
    size_t n = 0;
    char *def = NULL;
    if (c->n == 0 || strcmp(c->msgs[0].role, "system") != 0) {
        if (llm_chat_template_default_system(jinja, jlen, &def) == CLG_OK) {
            msgs[n].role = "system";
            msgs[n].content = def;
            n++;
        }
    }
    for (size_t i = 0; i < c->n; i++)
        msgs[n++] = c->msgs[i];
    clg_status st = llm_chat_format(t, msgs, n, add_gen, out);
    free(def);
    return st;
}

static void test_golden(void) {
    static golden g; /* large; static keeps it off the stack */
    memset(&g, 0, sizeof(g));
    int loaded = load_golden(&g);
    CHECK(loaded);
    if (!loaded) return;
    CHECK(g.n_conv >= 5);
    CHECK(g.n_case >= 60);
    size_t matched = 0, skipped = 0;
    for (size_t i = 0; i < g.n_case; i++) {
        const gcase *k = &g.cases[i];
        char rel[128];
        snprintf(rel, sizeof(rel), "chat/%s", k->tmpl);
        size_t jlen = 0;
        char *jinja = read_file(tc_data(rel), &jlen);
        CHECK(jinja != NULL);
        if (!jinja) continue;
        llm_chat_template t = LLM_CHAT_TEMPLATE_COUNT;
        CHECK_OK(llm_chat_template_detect(jinja, jlen, &t));
        const char *name = llm_chat_template_name(t);
        if (!name || strcmp(name, k->family) != 0) {
            CHECK(!"detected family differs");
            fprintf(stderr, "  %s: detected %s, want %s\n", k->tmpl, name ? name : "(none)",
                    k->family);
        }
        const conv *c = find_conv(&g, k->conv);
        CHECK(c != NULL);
        if (!c || !name) {
            free(jinja);
            continue;
        }
        char *got = NULL;
        clg_status st = format_like_template(jinja, jlen, t, c, k->add_gen, &got);
        CHECK(st == CLG_OK);
        if (st != CLG_OK) {
            fprintf(stderr, "  %s %s: %s\n", k->tmpl, k->conv, clg_last_error());
        } else if (k->skip) {
            /* The template refuses a system message; the formatter folds it in,
             * and must do so exactly as another template of the family renders
             * it (gemma2 vs gemma3), or as documented for old Mistral. */
            const gcase *ref = NULL;
            for (size_t j = 0; j < g.n_case && !ref; j++) {
                const gcase *o = &g.cases[j];
                if (!o->skip && strcmp(o->family, k->family) == 0 &&
                    strcmp(o->conv, k->conv) == 0 && o->add_gen == k->add_gen)
                    ref = o;
            }
            if (ref) {
                CHECK(strlen(got) == ref->want_len && memcmp(got, ref->want, ref->want_len) == 0);
            } else {
                /* "[INST] <system>\n\n<first user> [/INST]" */
                char want[256];
                snprintf(want, sizeof(want), "[INST] %s\n\n%s [/INST]", c->msgs[0].content,
                         c->msgs[1].content);
                CHECK(strncmp(got, want, strlen(want)) == 0);
            }
            skipped++;
        } else {
            size_t n = strlen(got);
            if (n == k->want_len && memcmp(got, k->want, n) == 0) {
                matched++;
            } else {
                CHECK(!"formatted text differs from jinja2");
                fprintf(stderr, "  %s (%s) conv %s add_gen %d:\n", k->tmpl, k->family, k->conv,
                        k->add_gen);
                print_escaped("got ", got, n);
                print_escaped("want", k->want, k->want_len);
            }
        }
        free(got);
        free(jinja);
    }
    printf("  golden: %zu cases equal to jinja2 byte for byte, %zu folded system cases\n", matched,
           skipped);
    CHECK(matched + skipped == g.n_case);
    free(g.buf);
}

/* ---- names, detection, errors -------------------------------------------- */

static void test_names(void) {
    const char *list = llm_chat_template_names();
    for (int i = 0; i < LLM_CHAT_TEMPLATE_COUNT; i++) {
        const char *name = llm_chat_template_name((llm_chat_template)i);
        CHECK(name != NULL);
        if (!name) continue;
        CHECK(llm_chat_template_from_name(name) == i);
        CHECK(strstr(list, name) != NULL);
        /* A bare name as the template text selects that family. */
        llm_chat_template t;
        CHECK_OK(llm_chat_template_detect(name, strlen(name), &t));
        CHECK((int)t == i);
    }
    CHECK(llm_chat_template_from_name("vicuna") == -1);
    CHECK(llm_chat_template_from_name("") == -1);
    CHECK(llm_chat_template_from_name(NULL) == -1);
    CHECK(llm_chat_template_name(LLM_CHAT_TEMPLATE_COUNT) == NULL);
}

static void test_detect_unknown(void) {
    static const char vicuna[] =
        "{%- for message in messages %}{%- if message['role'] == 'user' -%}{{-'USER: ' + "
        "message['content'] + '\\n'-}}{%- else -%}{{-'ASSISTANT: ' + message['content'] + "
        "'</s>\\n' -}}{%- endif -%}{%- endfor -%}";
    llm_chat_template t = LLM_CHAT_TEMPLATE_GEMMA;
    clg_status st = llm_chat_template_detect(vicuna, strlen(vicuna), &t);
    CHECK(st == CLG_ERR_NOT_FOUND);
    CHECK(t == LLM_CHAT_TEMPLATE_GEMMA); /* untouched on failure */
    CHECK(strstr(clg_last_error(), "--template") != NULL);
    CHECK(strstr(clg_last_error(), "mistral-v3-tekken") != NULL);
    printf("  unknown template: %s\n", clg_last_error());

    /* ChatML tokens in another layout (Phi-4) and Mistral v7 are not guessed. */
    static const char phi4[] =
        "{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}";
    CHECK(llm_chat_template_detect(phi4, strlen(phi4), &t) == CLG_ERR_NOT_FOUND);
    static const char v7[] = "{{ '[SYSTEM_PROMPT] ' + m + '[/SYSTEM_PROMPT]' }}{{ '[INST] ' }}";
    CHECK(llm_chat_template_detect(v7, strlen(v7), &t) == CLG_ERR_NOT_FOUND);
    CHECK(llm_chat_template_detect("", 0, &t) == CLG_ERR_NOT_FOUND);
    CHECK(llm_chat_template_detect(NULL, 3, &t) == CLG_ERR_INVALID_ARG);
    /* len bounds the search: the marker beyond it does not count */
    static const char cut[] = "{{ x }}<start_of_turn>";
    CHECK(llm_chat_template_detect(cut, 7, &t) == CLG_ERR_NOT_FOUND);
    CHECK_OK(llm_chat_template_detect(cut, sizeof(cut) - 1, &t));
    CHECK(t == LLM_CHAT_TEMPLATE_GEMMA);
}

static void test_default_system(void) {
    size_t len = 0;
    char *q = read_file(tc_data("chat/qwen2.5.jinja"), &len);
    CHECK(q != NULL);
    if (q) {
        char *s = NULL;
        CHECK_OK(llm_chat_template_default_system(q, len, &s));
        CHECK(s &&
              strcmp(s, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.") ==
                  0);
        free(s);
        free(q);
    }
    char *l = read_file(tc_data("chat/llama3.jinja"), &len);
    CHECK(l != NULL);
    if (l) {
        char *s = (char *)1;
        CHECK(llm_chat_template_default_system(l, len, &s) == CLG_ERR_NOT_FOUND);
        CHECK(s == NULL);
        free(l);
    }
    /* escapes inside the literal are resolved */
    static const char esc[] = "{{ '<|im_start|>system\\nIt\\'s \\\"me\\\"\\tok<|im_end|>\\n' }}";
    char *s = NULL;
    CHECK_OK(llm_chat_template_default_system(esc, strlen(esc), &s));
    CHECK(s && strcmp(s, "It's \"me\"\tok") == 0);
    free(s);
}

static void test_format_errors(void) {
    char *out = (char *)1;
    llm_chat_msg two_users[] = {{"user", "a"}, {"user", "b"}};
    CHECK(llm_chat_format(LLM_CHAT_TEMPLATE_GEMMA, two_users, 2, 1, &out) == CLG_ERR_INVALID_ARG);
    CHECK(out == NULL);
    CHECK(strstr(clg_last_error(), "alternating") != NULL);
    llm_chat_msg late_sys[] = {{"user", "a"}, {"assistant", "b"}, {"system", "c"}, {"user", "d"}};
    CHECK(llm_chat_format(LLM_CHAT_TEMPLATE_LLAMA2, late_sys, 4, 1, &out) == CLG_ERR_INVALID_ARG);
    CHECK(llm_chat_format(LLM_CHAT_TEMPLATE_MISTRAL_V3, late_sys, 4, 1, &out) ==
          CLG_ERR_INVALID_ARG);
    llm_chat_msg tool[] = {{"user", "a"}, {"tool", "b"}};
    CHECK(llm_chat_format(LLM_CHAT_TEMPLATE_MISTRAL, tool, 2, 1, &out) == CLG_ERR_INVALID_ARG);
    llm_chat_msg null_content[] = {{"user", NULL}};
    CHECK(llm_chat_format(LLM_CHAT_TEMPLATE_CHATML, null_content, 1, 1, &out) ==
          CLG_ERR_INVALID_ARG);
    CHECK(llm_chat_format(LLM_CHAT_TEMPLATE_COUNT, two_users, 2, 1, &out) == CLG_ERR_INVALID_ARG);
    CHECK(llm_chat_format((llm_chat_template)-1, two_users, 2, 1, &out) == CLG_ERR_INVALID_ARG);
    CHECK(llm_chat_format(LLM_CHAT_TEMPLATE_CHATML, two_users, 2, 1, NULL) == CLG_ERR_INVALID_ARG);

    /* ChatML passes any role and any order through, as its template does. */
    CHECK_OK(llm_chat_format(LLM_CHAT_TEMPLATE_CHATML, late_sys, 4, 0, &out));
    CHECK(out && strstr(out, "<|im_start|>system\nc<|im_end|>\n<|im_start|>user\nd") != NULL);
    free(out);
    /* An empty conversation is just the assistant opening. */
    CHECK_OK(llm_chat_format(LLM_CHAT_TEMPLATE_CHATML, NULL, 0, 1, &out));
    CHECK(out && strcmp(out, "<|im_start|>assistant\n") == 0);
    free(out);
    CHECK_OK(llm_chat_format(LLM_CHAT_TEMPLATE_LLAMA3, NULL, 0, 0, &out));
    CHECK(out && strcmp(out, "") == 0);
    free(out);
}

/* ---- the SmolLM2 model ----------------------------------------------------- */

static void test_gguf(void) {
    const char *path = getenv("CLGRAPH_TEST_MODEL");
    struct stat sb;
    if (!path || stat(path, &sb) != 0) {
        printf("  SmolLM2 GGUF not present (%s): model checks skipped\n", path ? path : "unset");
        return;
    }
    llm_gguf *f = NULL;
    CHECK_OK(llm_gguf_open(path, &f));
    if (!f) return;
    llm_gguf_str s = {0};
    CHECK_OK(llm_gguf_get_str(f, "tokenizer.chat_template", &s));
    llm_chat_template t = LLM_CHAT_TEMPLATE_COUNT;
    CHECK_OK(llm_chat_template_detect(s.ptr, (size_t)s.len, &t));
    CHECK(t == LLM_CHAT_TEMPLATE_CHATML);
    t = LLM_CHAT_TEMPLATE_COUNT;
    CHECK_OK(llm_chat_template_from_gguf(f, &t));
    CHECK(t == LLM_CHAT_TEMPLATE_CHATML);
    /* the committed copy is the model's template */
    size_t len = 0;
    char *committed = read_file(tc_data("chat/smollm2.jinja"), &len);
    CHECK(committed && len == s.len && memcmp(committed, s.ptr, len) == 0);
    free(committed);
    char *def = NULL;
    CHECK_OK(llm_chat_template_default_system(s.ptr, (size_t)s.len, &def));
    CHECK(def &&
          strcmp(def, "You are a helpful AI assistant named SmolLM, trained by Hugging Face") == 0);
    free(def);
    llm_gguf_close(f);
}

/* Writes a GGUF without tokenizer.chat_template, with the given vocabulary (n_tokens
 * strings; none when 0), and detects its template: the status, the family in *t. */
static clg_status detect_without_template(const char *const *tokens, uint64_t n_tokens,
                                          llm_chat_template *t) {
    const char *dir = getenv("CLGRAPH_CACHE_DIR");
    if (dir) mkdir(dir, 0755); /* may exist already */
    char path[1024];
    snprintf(path, sizeof(path), "%s/test_chat_%d.gguf", dir ? dir : "/tmp", (int)getpid());
    llm_gguf_writer *w = NULL;
    CHECK_OK(llm_gguf_writer_create(&w));
    if (!w) return CLG_ERR_OUT_OF_MEMORY;
    CHECK_OK(llm_gguf_writer_add_str(w, "general.architecture", "llama"));
    if (n_tokens)
        CHECK_OK(llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", tokens, NULL, n_tokens));
    clg_status st = llm_gguf_writer_write(w, path);
    if (st != CLG_OK) { /* no cache folder to write to: fall back to /tmp */
        snprintf(path, sizeof(path), "/tmp/test_chat_%d.gguf", (int)getpid());
        st = llm_gguf_writer_write(w, path);
    }
    llm_gguf_writer_destroy(w);
    CHECK(st == CLG_OK);
    if (st != CLG_OK) {
        fprintf(stderr, "cannot write %s: %s\n", path, clg_last_error());
        return st;
    }
    llm_gguf *f = NULL;
    CHECK_OK(llm_gguf_open(path, &f));
    st = f ? llm_chat_template_from_gguf(f, t) : CLG_ERR_IO;
    llm_gguf_close(f);
    remove(path);
    return st;
}

/* A model without tokenizer.chat_template: Gemma when its vocabulary has Gemma's turn
 * tokens (Gemma 3 270M's GGUF), otherwise an error that names --template. */
static void test_gguf_without_template(void) {
    llm_chat_template t = LLM_CHAT_TEMPLATE_COUNT;
    CHECK(detect_without_template(NULL, 0, &t) == CLG_ERR_NOT_FOUND);
    CHECK(strstr(clg_last_error(), "--template") != NULL);
    const char *const gemma[] = {"<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"};
    CHECK_OK(detect_without_template(gemma, 5, &t));
    CHECK(t == LLM_CHAT_TEMPLATE_GEMMA);
    /* one of the two is not enough */
    CHECK(detect_without_template(gemma, 4, &t) == CLG_ERR_NOT_FOUND);
    CHECK(strstr(clg_last_error(), "--template") != NULL);
}

int main(void) {
    test_names();
    test_detect_unknown();
    test_default_system();
    test_format_errors();
    test_golden();
    test_gguf();
    test_gguf_without_template();
    return tc_finish("test_chat");
}
