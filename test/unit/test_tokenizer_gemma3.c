/* SentencePiece on Gemma 3 270M's vocabulary ($CLGRAPH_TEST_MODEL_GEMMA3: 262144
 * tokens, no space prefix, byte fallback, user-defined whitespace and HTML tokens)
 * against llama.cpp's ids (test/data/tokenizer/gemma3.golden); its load time; the
 * end-of-generation set (<eos>, <end_of_turn>, </s>); the Gemma chat template picked
 * for a model without tokenizer.chat_template, its prompt tokenized as llama.cpp does;
 * and `clgraph tokenize` ($CLGRAPH_BIN) on the model, ids and --decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clgraph/chat.h"
#include "clgraph/gguf.h"
#include "clgraph/tokenizer.h"
#include "clgraph/util.h"
#include "test_common.h"
#include "test_tokenizer_golden.h"

/* Load time of the 262144-token vocabulary that fails the test: 0.05 s of CPU time, 0.13 s
 * wall on a busy machine (0.6 s under ASan), measured on 2026-12-04 on a 2-vCPU EPYC; the
 * bound leaves room for ASan and a loaded machine, and still catches a quadratic load. */
#define MAX_LOAD_S 3.0

static void check_facts(const llm_tokenizer *t) {
    CHECK(llm_tokenizer_get_type(t) == LLM_TOKENIZER_SPM);
    CHECK(!strcmp(llm_tokenizer_model_name(t), "llama"));
    CHECK(!strcmp(llm_tokenizer_pre_name(t), "default"));
    CHECK(llm_tokenizer_find(t, "<start_of_turn>", 15) == 105);
    CHECK(llm_tokenizer_find(t, "<end_of_turn>", 13) == 106);
    CHECK(llm_tokenizer_eot(t) == 106);
    CHECK(llm_tokenizer_unk(t) == 3 && llm_tokenizer_pad(t) == 0);
    CHECK(!llm_tokenizer_add_eos(t));
    /* generation stops where llama.cpp's does: <eos>, <end_of_turn> and </s> */
    CHECK(llm_tokenizer_is_eog(t, 1) && llm_tokenizer_is_eog(t, 106) &&
          llm_tokenizer_is_eog(t, 212));
    CHECK(!llm_tokenizer_is_eog(t, 105) && !llm_tokenizer_is_eog(t, 2));
    CHECK(llm_tokenizer_is_special(t, 105) && llm_tokenizer_is_special(t, 107));
    CHECK(llm_tokenizer_token_type(t, 107) == LLM_TOKEN_USER_DEFINED); /* "\n" */
    CHECK(llm_tokenizer_token_type(t, 238) == LLM_TOKEN_BYTE);         /* <0x00> */
    size_t len = 0;
    const char *p = llm_tokenizer_token_piece(t, 238 + 0xe4, &len);
    CHECK(p && len == 1 && (unsigned char)p[0] == 0xe4);
    /* no space prefix: "Hello" alone is the token without U+2581 */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(llm_tokenizer_encode(t, "Hello", 5, 0, &ids, &n));
    p = n == 1 ? llm_tokenizer_token_piece(t, ids[0], &len) : NULL;
    CHECK(p && len == 5 && !memcmp(p, "Hello", 5));
    free(ids);
}

/* The golden entry whose text is s, or NULL. */
static const golden_entry *find_entry(const golden *g, const char *s) {
    for (size_t i = 0; i < g->n; i++)
        if (g->e[i].len == strlen(s) && !memcmp(g->e[i].text, s, g->e[i].len)) return &g->e[i];
    return NULL;
}

/* A model without tokenizer.chat_template gets Gemma's; its prompt for system, user,
 * assistant turns (the system folded into the first user turn, as Gemma 3's Jinja
 * template does: test/data/chat) is one of the golden texts, tokenized as llama.cpp does. */
static void check_chat(const llm_gguf *f, const llm_tokenizer *t, const golden *g) {
    CHECK(llm_gguf_find_key(f, "tokenizer.chat_template") < 0);
    llm_chat_template tmpl = LLM_CHAT_TEMPLATE_CHATML;
    CHECK_OK(llm_chat_template_from_gguf(f, &tmpl));
    CHECK(tmpl == LLM_CHAT_TEMPLATE_GEMMA);
    const llm_chat_msg msgs[] = {{"system", "You are brief."},
                                 {"user", "Hello! Who are you?"},
                                 {"assistant", " I am an AI assistant.\n"}};
    char *prompt = NULL;
    CHECK_OK(llm_chat_format(tmpl, msgs, 3, 1, &prompt));
    const golden_entry *e = prompt ? find_entry(g, prompt) : NULL;
    if (!e) fprintf(stderr, "the Gemma prompt is not a golden entry: '%s'\n", prompt);
    CHECK(e != NULL);
    if (e) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(llm_tokenizer_encode(t, prompt, strlen(prompt),
                                      LLM_TOKENIZE_ADD_SPECIAL | LLM_TOKENIZE_PARSE_SPECIAL, &ids,
                                      &n));
        CHECK(golden_same_ids("gemma3 chat", prompt, ids, n, &e->ids));
        CHECK(n > 2 && ids[0] == 2 && ids[1] == 105); /* <bos><start_of_turn> */
        free(ids);
    }
    free(prompt);
}

static char out[1 << 16];
static char want[1 << 15], args[sizeof want + 1024]; /* an --ids-only line; the arguments */

/* `$CLGRAPH_BIN tokenize ARGS`, stdout in out[]; the exit code, -1 if it did not run. */
static int run_cli(const char *a) {
    static char cmd[sizeof args + 4096];
    snprintf(cmd, sizeof cmd, "\"%s\" tokenize %s", getenv("CLGRAPH_BIN"), a);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    return status == 0 ? 0 : 1;
}

/* clgraph tokenize on the model gives the golden ids of every third entry without NUL
 * bytes (the file holds the text as bytes; the library checks every entry), and --decode
 * gives the chat prompt back. */
static void check_cli(const char *model, const golden *g) {
    if (!getenv("CLGRAPH_BIN")) {
        fprintf(stderr, "CLGRAPH_BIN is not set\n");
        CHECK(0);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "/tmp/clgraph_test_tokenizer_gemma3_%d.txt", (int)getpid());
    size_t n_ok = 0, n = 0;
    for (size_t i = 0; i < g->n; i++) {
        const golden_entry *e = &g->e[i];
        if (i % 3 || memchr(e->text, 0, e->len)) continue;
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(e->text, 1, e->len, f) == e->len);
        if (f) fclose(f);
        snprintf(args, sizeof args, "-m \"%s\" --ids-only -f \"%s\"", model, path);
        size_t used = 0;
        for (size_t k = 0; k < e->ids.n && used < sizeof want - 16; k++)
            used += (size_t)snprintf(want + used, sizeof want - used, k ? " %d" : "%d",
                                     (int)e->ids.v[k]);
        snprintf(want + used, sizeof want - used, "\n");
        int same = run_cli(args) == 0 && !strcmp(out, want);
        if (!same) fprintf(stderr, "clgraph tokenize: '%.40s' gives '%.80s'\n", e->text, out);
        CHECK(same);
        n_ok += same;
        n++;
    }
    unlink(path);
    printf("clgraph tokenize: %zu/%zu entries give llama.cpp's ids\n", n_ok, n);

    const char *chat = "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n";
    const golden_entry *e = find_entry(g, "<start_of_turn>user\nYou are brief.\n\n"
                                          "Hello! Who are you?<end_of_turn>\n"
                                          "<start_of_turn>model\nI am an AI assistant."
                                          "<end_of_turn>\n<start_of_turn>model\n");
    CHECK(e != NULL);
    if (!e) return;
    size_t used = 0;
    for (size_t k = 0; k < e->ids.n; k++)
        used +=
            (size_t)snprintf(want + used, sizeof want - used, k ? " %d" : "%d", (int)e->ids.v[k]);
    snprintf(args, sizeof args, "-m \"%s\" --decode \"%s\"", model, want);
    CHECK(run_cli(args) == 0 && strlen(out) == e->len + 1 && !memcmp(out, e->text, e->len));
    snprintf(args, sizeof args, "-m \"%s\" \"%s\"", model, chat);
    CHECK(run_cli(args) == 0 && !strncmp(out, "2\t<bos>\n105\t<start_of_turn>\n", 28));
}

int main(void) {
    const char *path = getenv("CLGRAPH_TEST_MODEL_GEMMA3");
    llm_gguf *f = NULL;
    llm_tokenizer *t = NULL;
    golden g;
    if (!path || access(path, R_OK)) {
        fprintf(stderr,
                "model not found: '%s' (CLGRAPH_TEST_MODEL_GEMMA3); run "
                "scripts/fetch-model.sh gemma3\n",
                path ? path : "");
        CHECK(0);
        return tc_finish("tokenizer_gemma3");
    }
    CHECK_OK(llm_gguf_open(path, &f));
    double t0 = clg_now_ns();
    if (f) CHECK_OK(llm_tokenizer_create(f, &t));
    double load_s = 1e-9 * (clg_now_ns() - t0);
    if (!t || !golden_load(tc_data("tokenizer/gemma3.golden"), &g)) {
        CHECK(0);
        llm_tokenizer_destroy(t);
        llm_gguf_close(f);
        return tc_finish("tokenizer_gemma3");
    }
    printf("vocabulary of %d tokens loaded in %.3f s (limit %.1f s)\n",
           (int)llm_tokenizer_n_tokens(t), load_s, MAX_LOAD_S);
    CHECK(load_s < MAX_LOAD_S);

    check_facts(t);
    golden_check(t, &g, "gemma3");
    check_chat(f, t, &g);
    check_cli(path, &g);

    golden_free(&g);
    llm_tokenizer_destroy(t);
    llm_gguf_close(f);
    return tc_finish("tokenizer_gemma3");
}
