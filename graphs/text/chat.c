/* Chat templates: family detection from characteristic substrings of a Jinja
 * chat template, and per-family prompt formatting (see include/clgraph/chat.h). */
#include "clgraph/chat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_names[LLM_CHAT_TEMPLATE_COUNT] = {
    [LLM_CHAT_TEMPLATE_CHATML] = "chatml",
    [LLM_CHAT_TEMPLATE_LLAMA2] = "llama2",
    [LLM_CHAT_TEMPLATE_LLAMA3] = "llama3",
    [LLM_CHAT_TEMPLATE_LLAMA31] = "llama3.1",
    [LLM_CHAT_TEMPLATE_MISTRAL] = "mistral",
    [LLM_CHAT_TEMPLATE_MISTRAL_V1] = "mistral-v1",
    [LLM_CHAT_TEMPLATE_MISTRAL_V3] = "mistral-v3",
    [LLM_CHAT_TEMPLATE_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [LLM_CHAT_TEMPLATE_PHI3] = "phi3",
    [LLM_CHAT_TEMPLATE_GEMMA] = "gemma",
};

static const char k_names_list[] =
    "chatml, llama2, llama3, llama3.1, mistral, mistral-v1, mistral-v3, mistral-v3-tekken, "
    "phi3, gemma";

/* Llama 3.1+ templates fall back to this date when given no date_string. */
static const char k_llama31_header[] = "<|start_header_id|>system<|end_header_id|>\n\n"
                                       "Cutting Knowledge Date: December 2023\n"
                                       "Today Date: 26 Jul 2024\n\n";

const char *llm_chat_template_name(llm_chat_template t) {
    if ((int)t < 0 || t >= LLM_CHAT_TEMPLATE_COUNT) return NULL;
    return k_names[t];
}

int llm_chat_template_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < LLM_CHAT_TEMPLATE_COUNT; i++)
        if (strcmp(name, k_names[i]) == 0) return i;
    return -1;
}

const char *llm_chat_template_names(void) {
    return k_names_list;
}

/* ---- byte helpers ---------------------------------------------------------- */

/* Python's str.isspace() restricted to ASCII (what Jinja's trim strips). */
static int is_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static const char *mem_find(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    if (m == 0) return hay;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return hay + i;
    return NULL;
}

/* A growing output string; oom latches so callers check once at the end. */
typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s) {
    sb_put(b, s, strlen(s));
}

/* Appends s[0..n) without leading and trailing whitespace (Jinja trim). */
static void sb_trim(strbuf *b, const char *s, size_t n) {
    while (n && is_space((unsigned char)s[0]))
        s++, n--;
    while (n && is_space((unsigned char)s[n - 1]))
        n--;
    sb_put(b, s, n);
}

static int is_role(const llm_chat_msg *m, const char *role) {
    return strcmp(m->role, role) == 0;
}

/* ---- detection ------------------------------------------------------------- */

/* Family index, or -1. Order matters: a few markers appear in several families. */
static int detect_family(const char *j, size_t n) {
#define HAS(s) (mem_find(j, n, (s)) != NULL)
    for (int i = 0; i < LLM_CHAT_TEMPLATE_COUNT; i++) /* a bare name works too */
        if (strlen(k_names[i]) == n && memcmp(j, k_names[i], n) == 0) return i;
    if (HAS("<|im_start|>")) {
        /* Phi-4 (<|im_sep|>) and SmolVLM (<end_of_utterance>) use ChatML's
         * tokens with another layout. */
        if (HAS("<|im_sep|>") || HAS("<end_of_utterance>")) return -1;
        return LLM_CHAT_TEMPLATE_CHATML;
    }
    if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>"))
        return HAS("Cutting Knowledge Date") ? LLM_CHAT_TEMPLATE_LLAMA31 : LLM_CHAT_TEMPLATE_LLAMA3;
    if (HAS("<start_of_turn>")) return LLM_CHAT_TEMPLATE_GEMMA;
    if (HAS("<|assistant|>") && HAS("<|end|>")) {
        if (HAS("<|tool|>")) return -1; /* Phi-4-mini: no newline after the role */
        return LLM_CHAT_TEMPLATE_PHI3;
    }
    if (HAS("[INST]")) {
        if (HAS("[SYSTEM_PROMPT]")) return -1; /* Mistral v7: not supported */
        if (HAS("<<SYS>>")) return LLM_CHAT_TEMPLATE_LLAMA2;
        if (HAS("[AVAILABLE_TOOLS]")) /* v3 writes "[INST] " +, tekken "[INST]" + */
            return HAS("\"[INST]\"") ? LLM_CHAT_TEMPLATE_MISTRAL_V3_TEKKEN
                                     : LLM_CHAT_TEMPLATE_MISTRAL_V3;
        if (HAS("' [INST] '")) return LLM_CHAT_TEMPLATE_MISTRAL_V1;
        return LLM_CHAT_TEMPLATE_MISTRAL;
    }
    return -1;
#undef HAS
}

clg_status llm_chat_template_detect(const char *jinja, size_t len, llm_chat_template *out) {
    if (!jinja || !out)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_chat_template_detect: NULL argument");
    int fam = detect_family(jinja, len);
    if (fam < 0) {
        /* Quote the start of the template on one line. */
        char head[61];
        size_t k = 0;
        for (size_t i = 0; i < len && k < sizeof(head) - 1; i++)
            head[k++] = (jinja[i] == '\n' || jinja[i] == '\r' || jinja[i] == '\t') ? ' ' : jinja[i];
        head[k] = '\0';
        return clg_fail(CLG_ERR_NOT_FOUND,
                        "unrecognised chat template (%zu bytes, starting \"%s%s\"); choose one "
                        "with --template NAME, one of: %s",
                        len, head, len > k ? "..." : "", k_names_list);
    }
    *out = (llm_chat_template)fam;
    return CLG_OK;
}

/* Whether the vocabulary (tokenizer.ggml.tokens) holds both texts as tokens. */
static int vocab_has_both(const llm_gguf *f, const char *a, const char *b) {
    llm_gguf_type type;
    uint64_t n;
    if (llm_gguf_get_array(f, "tokenizer.ggml.tokens", &type, &n) != CLG_OK ||
        type != LLM_GGUF_STRING)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    int seen = 0;
    for (uint64_t i = 0; i < n && seen != 3; i++) {
        llm_gguf_str s;
        if (llm_gguf_array_str(f, "tokenizer.ggml.tokens", i, &s) != CLG_OK) return 0;
        if (s.len == la && memcmp(s.ptr, a, la) == 0) seen |= 1;
        if (s.len == lb && memcmp(s.ptr, b, lb) == 0) seen |= 2;
    }
    return seen == 3;
}

clg_status llm_chat_template_from_gguf(const llm_gguf *f, llm_chat_template *out) {
    if (!f || !out)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_chat_template_from_gguf: NULL argument");
    llm_gguf_str s;
    clg_status st = llm_gguf_get_str(f, "tokenizer.chat_template", &s);
    if (st == CLG_ERR_NOT_FOUND) {
        /* Gemma GGUFs often come without a template (Gemma 3 270M's does); Gemma's turn
         * tokens name the family as surely as its template would. */
        if (vocab_has_both(f, "<start_of_turn>", "<end_of_turn>")) {
            *out = LLM_CHAT_TEMPLATE_GEMMA;
            return CLG_OK;
        }
        return clg_fail(CLG_ERR_NOT_FOUND,
                        "the model has no tokenizer.chat_template; choose a template with "
                        "--template NAME, one of: %s",
                        k_names_list);
    }
    if (st != CLG_OK) return st;
    return llm_chat_template_detect(s.ptr, (size_t)s.len, out);
}

/* Resolves the escapes of a Jinja string literal body s[0..n). */
static void sb_unescape(strbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[++i];
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case '\\':
            case '\'':
            case '"':
                c = e;
                break;
            default:
                sb_put(b, "\\", 1);
                c = e;
                break;
            }
        }
        sb_put(b, &c, 1);
    }
}

clg_status llm_chat_template_default_system(const char *jinja, size_t len, char **out) {
    if (!jinja || !out)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_chat_template_default_system: NULL argument");
    *out = NULL;
    static const char open[] = "<|im_start|>system";
    static const char close[] = "<|im_end|>";
    const char *end = jinja + len;
    for (const char *p = jinja; (p = mem_find(p, (size_t)(end - p), open)) != NULL; p++) {
        const char *t = p + strlen(open);
        if (t < end && *t == '\n')
            t += 1; /* a real newline or the escape \n */
        else if (end - t >= 2 && t[0] == '\\' && t[1] == 'n')
            t += 2;
        else
            continue;
        const char *e = mem_find(t, (size_t)(end - t), close);
        if (!e || e == t) continue;
        /* The prompt must lie inside one string literal: no unescaped quote. */
        int quoted = 0;
        for (const char *q = t; q < e; q++) {
            if (*q == '\\')
                q++;
            else if (*q == '\'' || *q == '"')
                quoted = 1;
        }
        if (quoted) continue;
        strbuf b = {0};
        sb_unescape(&b, t, (size_t)(e - t));
        if (b.oom) {
            free(b.p);
            return clg_fail(CLG_ERR_OUT_OF_MEMORY, "default system prompt: out of memory");
        }
        *out = b.p;
        return CLG_OK;
    }
    return clg_fail(CLG_ERR_NOT_FOUND, "the chat template has no default system prompt");
}

/* ---- formatting ------------------------------------------------------------ */

/* The families with turns "[INST] ... [/INST]" or Gemma's: after an optional
 * first system message, user and assistant alternate, starting with user. */
static clg_status check_alternating(llm_chat_template t, const llm_chat_msg *msgs, size_t n,
                                    size_t first) {
    for (size_t i = first; i < n; i++) {
        const char *want = ((i - first) % 2 == 0) ? "user" : "assistant";
        if (!is_role(&msgs[i], want))
            return clg_fail(CLG_ERR_INVALID_ARG,
                            "chat template %s: message %zu has role '%s' where '%s' is expected "
                            "(an optional first system message, then user and assistant "
                            "alternating, starting with user)",
                            k_names[t], i, msgs[i].role, want);
    }
    return CLG_OK;
}

static void fmt_chatml(strbuf *b, const llm_chat_msg *m, size_t n, int add) {
    for (size_t i = 0; i < n; i++) {
        sb_str(b, "<|im_start|>");
        sb_str(b, m[i].role);
        sb_str(b, "\n");
        sb_str(b, m[i].content);
        sb_str(b, "<|im_end|>\n");
    }
    if (add) sb_str(b, "<|im_start|>assistant\n");
}

static void llama3_turn(strbuf *b, const char *role, const char *content) {
    sb_str(b, "<|start_header_id|>");
    sb_str(b, role);
    sb_str(b, "<|end_header_id|>\n\n");
    sb_trim(b, content, strlen(content));
    sb_str(b, "<|eot_id|>");
}

static void fmt_llama3(strbuf *b, const llm_chat_msg *m, size_t n, int add) {
    for (size_t i = 0; i < n; i++)
        llama3_turn(b, m[i].role, m[i].content);
    if (add) sb_str(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Llama 3.1+: the system turn is always there, with the knowledge-date lines. */
static void fmt_llama31(strbuf *b, const llm_chat_msg *m, size_t n, size_t first, int add) {
    sb_str(b, k_llama31_header);
    if (first) sb_trim(b, m[0].content, strlen(m[0].content));
    sb_str(b, "<|eot_id|>");
    for (size_t i = first; i < n; i++) {
        if (is_role(&m[i], "tool") || is_role(&m[i], "ipython")) {
            sb_str(b, "<|start_header_id|>ipython<|end_header_id|>\n\n");
            sb_str(b, m[i].content);
            sb_str(b, "<|eot_id|>");
        } else {
            llama3_turn(b, m[i].role, m[i].content);
        }
    }
    if (add) sb_str(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Llama 2 chat: "[INST] <<SYS>>\ns\n<</SYS>>\n\nu [/INST] a </s><s>[INST] u [/INST]".
 * The template strips the whole first-turn text, <<SYS>> block included. */
static void fmt_llama2(strbuf *b, const llm_chat_msg *m, size_t n, size_t first) {
    strbuf tmp = {0};
    for (size_t i = first; i < n; i++) {
        const char *c = m[i].content;
        if (is_role(&m[i], "user")) {
            if (i > first) sb_str(b, "<s>"); /* the leading BOS is the tokenizer's */
            sb_str(b, "[INST] ");
            tmp.len = 0;
            if (i == first && first) {
                sb_str(&tmp, "<<SYS>>\n");
                sb_str(&tmp, m[0].content);
                sb_str(&tmp, "\n<</SYS>>\n\n");
            }
            sb_str(&tmp, c);
            if (tmp.oom)
                b->oom = 1;
            else
                sb_trim(b, tmp.p, tmp.len);
            sb_str(b, " [/INST]");
        } else {
            sb_str(b, " ");
            sb_trim(b, c, strlen(c));
            sb_str(b, " </s>");
        }
    }
    free(tmp.p);
}

/* The [INST] families of Mistral, which differ in spaces, trimming and where
 * the system message goes (first user turn, or last for v3). */
static void fmt_mistral(strbuf *b, llm_chat_template t, const llm_chat_msg *m, size_t n,
                        size_t first) {
    const int v1 = t == LLM_CHAT_TEMPLATE_MISTRAL_V1;
    const int v3 = t == LLM_CHAT_TEMPLATE_MISTRAL_V3 || t == LLM_CHAT_TEMPLATE_MISTRAL_V3_TEKKEN;
    const int tekken = t == LLM_CHAT_TEMPLATE_MISTRAL_V3_TEKKEN;
    for (size_t i = first; i < n; i++) {
        const char *c = m[i].content;
        if (is_role(&m[i], "user")) {
            sb_str(b, v1 ? " [INST] " : tekken ? "[INST]" : "[INST] ");
            int with_sys = first && (v3 ? i == n - 1 : i == first);
            if (with_sys) {
                sb_str(b, m[0].content);
                sb_str(b, "\n\n");
            }
            sb_str(b, c);
            sb_str(b, v3 ? "[/INST]" : " [/INST]");
        } else if (t == LLM_CHAT_TEMPLATE_MISTRAL_V3) {
            sb_str(b, " ");
            sb_trim(b, c, strlen(c));
            sb_str(b, "</s>");
        } else {
            if (v1) sb_str(b, " ");
            sb_str(b, c);
            sb_str(b, "</s>");
        }
    }
}

static void fmt_phi3(strbuf *b, const llm_chat_msg *m, size_t n, int add) {
    for (size_t i = 0; i < n; i++) {
        const char *r = m[i].role;
        int keep = is_role(&m[i], "user") || is_role(&m[i], "assistant") ||
                   (is_role(&m[i], "system") && m[i].content[0] != '\0');
        if (!keep) continue; /* the template prints nothing for other roles */
        sb_str(b, "<|");
        sb_str(b, r);
        sb_str(b, "|>\n");
        sb_str(b, m[i].content);
        sb_str(b, "<|end|>\n");
    }
    sb_str(b, add ? "<|assistant|>\n" : "<|endoftext|>");
}

/* Gemma: no system role; it goes, untrimmed, before the first user text. */
static void fmt_gemma(strbuf *b, const llm_chat_msg *m, size_t n, size_t first, int add) {
    for (size_t i = first; i < n; i++) {
        sb_str(b, is_role(&m[i], "user") ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (i == first && first) {
            sb_str(b, m[0].content);
            sb_str(b, "\n\n");
        }
        sb_trim(b, m[i].content, strlen(m[i].content));
        sb_str(b, "<end_of_turn>\n");
    }
    if (add) sb_str(b, "<start_of_turn>model\n");
}

clg_status llm_chat_format(llm_chat_template t, const llm_chat_msg *msgs, size_t n,
                           int add_assistant_prompt, char **out) {
    if (!out) return clg_fail(CLG_ERR_INVALID_ARG, "llm_chat_format: out is NULL");
    *out = NULL;
    if ((int)t < 0 || t >= LLM_CHAT_TEMPLATE_COUNT)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_chat_format: unknown template %d", (int)t);
    if (n && !msgs) return clg_fail(CLG_ERR_INVALID_ARG, "llm_chat_format: msgs is NULL");
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return clg_fail(CLG_ERR_INVALID_ARG, "llm_chat_format: message %zu has a NULL %s", i,
                            msgs[i].role ? "content" : "role");

    size_t first = (n && is_role(&msgs[0], "system")) ? 1 : 0; /* system message folded in */
    clg_status st = CLG_OK;
    strbuf b = {0};
    sb_put(&b, "", 0); /* an empty conversation still yields "" */
    switch (t) {
    case LLM_CHAT_TEMPLATE_CHATML:
        fmt_chatml(&b, msgs, n, add_assistant_prompt);
        break;
    case LLM_CHAT_TEMPLATE_LLAMA3:
        fmt_llama3(&b, msgs, n, add_assistant_prompt);
        break;
    case LLM_CHAT_TEMPLATE_LLAMA31:
        fmt_llama31(&b, msgs, n, first, add_assistant_prompt);
        break;
    case LLM_CHAT_TEMPLATE_PHI3:
        fmt_phi3(&b, msgs, n, add_assistant_prompt);
        break;
    case LLM_CHAT_TEMPLATE_LLAMA2:
        st = check_alternating(t, msgs, n, first);
        if (st == CLG_OK) fmt_llama2(&b, msgs, n, first);
        break;
    case LLM_CHAT_TEMPLATE_MISTRAL:
    case LLM_CHAT_TEMPLATE_MISTRAL_V1:
    case LLM_CHAT_TEMPLATE_MISTRAL_V3:
    case LLM_CHAT_TEMPLATE_MISTRAL_V3_TEKKEN:
        st = check_alternating(t, msgs, n, first);
        if (st == CLG_OK) fmt_mistral(&b, t, msgs, n, first);
        break;
    case LLM_CHAT_TEMPLATE_GEMMA:
        st = check_alternating(t, msgs, n, first);
        if (st == CLG_OK) fmt_gemma(&b, msgs, n, first, add_assistant_prompt);
        break;
    default:
        break;
    }
    if (st == CLG_OK && b.oom)
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "llm_chat_format: out of memory");
    if (st != CLG_OK) goto fail;
    *out = b.p;
    return CLG_OK;
fail:
    free(b.p);
    return st;
}
