/* Tokenizer tests that need no model: Unicode classes, GPT-2's byte map, the
 * SentencePiece-style tokenizer on Llama 2's vocabulary against llama.cpp's
 * golden ids (test/data/tokenizer/llama2.golden), UTF-8 repair and streaming
 * decode, a small hand-made byte-level BPE vocabulary, and bad metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clgraph/gguf.h"
#include "clgraph/tokenizer.h"
#include "graphs/text/tokenizer_impl.h"
#include "graphs/text/unicode_data.h"
#include "test_common.h"
#include "test_tokenizer_golden.h"

static void test_unicode(void) {
    CHECK(llm_unicode_flags('a') == LLM_UNICODE_LETTER);
    CHECK(llm_unicode_flags('7') == LLM_UNICODE_NUMBER);
    CHECK(llm_unicode_flags(' ') == (LLM_UNICODE_SEPARATOR | LLM_UNICODE_WHITESPACE));
    CHECK(llm_unicode_flags('\n') == (LLM_UNICODE_CONTROL | LLM_UNICODE_WHITESPACE));
    CHECK(llm_unicode_flags('\'') == LLM_UNICODE_PUNCTUATION);
    CHECK(llm_unicode_flags('$') == LLM_UNICODE_SYMBOL);
    CHECK(llm_unicode_flags(0x1c) == LLM_UNICODE_CONTROL);  /* not White_Space */
    CHECK(llm_unicode_flags(0xe9) == LLM_UNICODE_LETTER);   /* é */
    CHECK(llm_unicode_flags(0x0663) == LLM_UNICODE_NUMBER); /* Arabic-Indic three */
    CHECK(llm_unicode_flags(0x2460) == LLM_UNICODE_NUMBER); /* circled one (No) */
    CHECK(llm_unicode_flags(0x0300) == LLM_UNICODE_MARK);
    CHECK(llm_unicode_flags(0x4e2d) == LLM_UNICODE_LETTER); /* 中 */
    CHECK(llm_unicode_flags(0x3000) == (LLM_UNICODE_SEPARATOR | LLM_UNICODE_WHITESPACE));
    CHECK(llm_unicode_flags(0x0085) == (LLM_UNICODE_CONTROL | LLM_UNICODE_WHITESPACE));
    CHECK(llm_unicode_flags(0x1f600) == LLM_UNICODE_SYMBOL); /* 😀 */
    CHECK(llm_unicode_flags(0x0378) == LLM_UNICODE_UNDEFINED);
    CHECK(llm_unicode_flags(0xd800) == LLM_UNICODE_CONTROL); /* surrogate (Cs) */
    CHECK(llm_unicode_flags(0x10ffff) == LLM_UNICODE_UNDEFINED);
    CHECK(llm_unicode_flags(0x110000) == LLM_UNICODE_UNDEFINED);
    /* exactly one category bit for every code point */
    int ok = 1;
    for (uint32_t cp = 0; cp < 0x110000 && ok; cp++) {
        unsigned c = llm_unicode_flags(cp) & LLM_UNICODE_CATEGORIES;
        ok = c && !(c & (c - 1));
    }
    CHECK(ok);
}

static void test_byte_map(void) {
    int seen[512] = {0}, ok = 1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = tok_byte_to_cp((unsigned char)b);
        if (cp >= 512 || seen[cp]++ || tok_cp_to_byte(cp) != b) ok = 0;
    }
    CHECK(ok);
    CHECK(tok_byte_to_cp(' ') == 0x120);  /* Ġ */
    CHECK(tok_byte_to_cp('\n') == 0x10a); /* Ċ */
    CHECK(tok_byte_to_cp('A') == 'A');
    CHECK(tok_byte_to_cp(0xad) == 0x143);
    CHECK(tok_cp_to_byte(0x144) == -1 && tok_cp_to_byte(0x20) == -1);
}

/* Llama 2's byte tokens are <0x00>..<0xFF> = ids 3..258. */
static void check_bytes(const llm_tokenizer *t, const char *in, size_t n, const char *want) {
    int32_t ids[16];
    for (size_t i = 0; i < n; i++)
        ids[i] = 3 + (unsigned char)in[i];
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(llm_tokenizer_decode(t, ids, n, 0, &text, &len));
    int ok = text && len == strlen(want) && !memcmp(text, want, len);
    if (!ok) fprintf(stderr, "decode of %zu bytes gives %zu bytes\n", n, len);
    CHECK(ok);
    CHECK(golden_check_stream(t, ids, n, 0, want, strlen(want)));
    free(text);
}

static void test_utf8(const llm_tokenizer *t) {
    check_bytes(t, "\xe4\xbd\xa0", 3, "\xe4\xbd\xa0");
    check_bytes(t, "\xff", 1, "\xef\xbf\xbd");
    check_bytes(t, "\xe4\xbd", 2, "\xef\xbf\xbd");
    check_bytes(t, "\xc3\x28", 2, "\xef\xbf\xbd(");
    check_bytes(t, "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    check_bytes(t, "\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    check_bytes(t, "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    check_bytes(t, "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80");
    check_bytes(t, "\xf0\x9f\x98", 3, "\xef\xbf\xbd");
    check_bytes(t,
                "\xe2\x82"
                "A",
                3,
                "\xef\xbf\xbd"
                "A");
    check_bytes(t, "\x80\xbf", 2, "\xef\xbf\xbd\xef\xbf\xbd");

    /* the stream holds an incomplete sequence until it completes */
    llm_tokenizer_stream *s = NULL;
    CHECK_OK(llm_tokenizer_stream_create(t, 0, &s));
    const char *p = NULL;
    size_t n = 99;
    CHECK_OK(llm_tokenizer_stream_push(s, 3 + 0xe4, &p, &n));
    CHECK(n == 0);
    CHECK_OK(llm_tokenizer_stream_push(s, 3 + 0xbd, &p, &n));
    CHECK(n == 0);
    CHECK_OK(llm_tokenizer_stream_push(s, 3 + 0xa0, &p, &n));
    CHECK(n == 3 && !memcmp(p, "\xe4\xbd\xa0", 3));
    CHECK(llm_tokenizer_stream_push(s, 32000, &p, &n) == CLG_ERR_INVALID_ARG);
    CHECK(llm_tokenizer_stream_push(s, -1, &p, &n) == CLG_ERR_INVALID_ARG);
    CHECK_OK(llm_tokenizer_stream_flush(s, &p, &n));
    CHECK(n == 0);
    llm_tokenizer_stream_destroy(s);
    llm_tokenizer_stream_destroy(NULL);
}

static void test_llama2(void) {
    llm_gguf *f = NULL;
    llm_tokenizer *t = NULL;
    golden g;
    CHECK_OK(llm_gguf_open(tc_data("tokenizer/llama2-vocab.gguf"), &f));
    if (f) CHECK_OK(llm_tokenizer_create(f, &t));
    llm_gguf_close(f); /* the tokenizer keeps no pointer into the file */
    if (!t) return;
    CHECK(llm_tokenizer_get_type(t) == LLM_TOKENIZER_SPM);
    CHECK(!strcmp(llm_tokenizer_model_name(t), "llama"));
    CHECK(llm_tokenizer_unk(t) == 0);
    CHECK(llm_tokenizer_eot(t) == LLM_TOKEN_NONE);
    CHECK(llm_tokenizer_token_type(t, 1) == LLM_TOKEN_CONTROL);
    CHECK(llm_tokenizer_token_type(t, 13) == LLM_TOKEN_BYTE);
    CHECK(llm_tokenizer_is_special(t, 0) && !llm_tokenizer_is_special(t, 13));
    size_t len = 0;
    const char *s = llm_tokenizer_token_text(t, 1, &len);
    CHECK(s && len == 3 && !memcmp(s, "<s>", 3));
    int32_t the = llm_tokenizer_find(t, "\xe2\x96\x81the", 6);
    CHECK(the == 278);
    s = llm_tokenizer_token_piece(t, the, &len);
    CHECK(s && len == 4 && !memcmp(s, " the", 4));
    s = llm_tokenizer_token_piece(t, 13, &len);
    CHECK(s && len == 1 && s[0] == '\n');
    CHECK(llm_tokenizer_token_text(t, 32000, &len) == NULL);
    CHECK(llm_tokenizer_find(t, "no such token", 13) == LLM_TOKEN_NONE);

    /* the space prefix: kept by plain decode, dropped by LLM_DETOKENIZE_TEXT */
    int32_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    CHECK_OK(llm_tokenizer_encode(t, "Hello", 5, LLM_TOKENIZE_ADD_SPECIAL, &ids, &n));
    CHECK(n == 2 && ids && ids[0] == 1);
    CHECK_OK(llm_tokenizer_decode(t, ids, n, 0, &text, &len));
    CHECK(text && !strcmp(text, " Hello"));
    free(text);
    CHECK_OK(llm_tokenizer_decode(t, ids, n, LLM_DETOKENIZE_SPECIAL, &text, &len));
    CHECK(text && !strcmp(text, "<s> Hello"));
    free(text);
    CHECK_OK(llm_tokenizer_decode(t, ids, n, LLM_DETOKENIZE_TEXT, &text, &len));
    CHECK(text && !strcmp(text, "Hello"));
    free(text);
    CHECK(llm_tokenizer_decode(t, (const int32_t[]){5, 32000}, 2, 0, &text, &len) ==
          CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "32000") != NULL);
    free(ids);

    test_utf8(t);
    if (golden_load(tc_data("tokenizer/llama2.golden"), &g)) {
        CHECK(g.eot == llm_tokenizer_eot(t));
        golden_check(t, &g, "llama2");
        golden_free(&g);
    } else {
        CHECK(0);
    }
    llm_tokenizer_destroy(t);
    llm_tokenizer_destroy(NULL);
}

/* ---- GGUF files made for a test ---------------------------------------- */

static char tmp_path[256];

/* Writes w to a temporary file and opens it; NULL (and a failed check) on error. */
static llm_gguf *reopen(llm_gguf_writer *w) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/clgraph_test_tokenizer_%d.gguf", (int)getpid());
    llm_gguf *f = NULL;
    CHECK_OK(llm_gguf_writer_write(w, tmp_path));
    CHECK_OK(llm_gguf_open(tmp_path, &f));
    unlink(tmp_path);
    llm_gguf_writer_destroy(w);
    return f;
}

/* A tiny byte-level BPE vocabulary: the 256 byte characters, then merged
 * tokens; pre names the pre-tokenizer. */
static llm_gguf *tiny_bpe(const char *pre) {
    static const char *const merged[] = {"he",
                                         "ll",
                                         "hell",
                                         "hello",
                                         "or",
                                         "\xc4\xa0w",
                                         "\xc4\xa0wor",
                                         "ld",
                                         "\xc4\xa0world",
                                         "\xc4\xa0"
                                         "1",
                                         "12",
                                         "123",
                                         "34",
                                         "45",
                                         "'S",
                                         "<|end|>"};
    static const char *const merges[] = {"h e",          "l l", "he ll",
                                         "hell o",       "o r", "\xc4\xa0 w",
                                         "\xc4\xa0w or", "l d", "\xc4\xa0wor ld",
                                         "\xc4\xa0 1",   "1 2", "3 4",
                                         "12 3",         "4 5", "' S"};
    enum { N_BYTES = 256, N_MERGED = sizeof merged / sizeof merged[0] };
    char chars[N_BYTES][3];
    const char *toks[N_BYTES + N_MERGED];
    int32_t types[N_BYTES + N_MERGED];
    for (int b = 0; b < N_BYTES; b++) {
        size_t k = tok_utf8_encode(tok_byte_to_cp((unsigned char)b), chars[b]);
        chars[b][k] = 0;
        toks[b] = chars[b];
        types[b] = LLM_TOKEN_NORMAL;
    }
    for (int i = 0; i < N_MERGED; i++) {
        toks[N_BYTES + i] = merged[i];
        types[N_BYTES + i] = LLM_TOKEN_NORMAL;
    }
    types[N_BYTES + N_MERGED - 1] = LLM_TOKEN_CONTROL;
    llm_gguf_writer *w = NULL;
    CHECK_OK(llm_gguf_writer_create(&w));
    if (!w) return NULL;
    CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"));
    if (pre) CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.pre", pre));
    CHECK_OK(
        llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", toks, NULL, N_BYTES + N_MERGED));
    CHECK_OK(llm_gguf_writer_add_array(w, "tokenizer.ggml.token_type", LLM_GGUF_INT32, types,
                                       N_BYTES + N_MERGED));
    CHECK_OK(llm_gguf_writer_add_str_array(w, "tokenizer.ggml.merges", merges, NULL,
                                           sizeof merges / sizeof merges[0]));
    CHECK_OK(llm_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", N_BYTES + N_MERGED - 1));
    CHECK_OK(llm_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", N_BYTES + N_MERGED - 1));
    return reopen(w);
}

/* encode(text) with flags equals want (n ids). */
static void check_encode(const llm_tokenizer *t, const char *text, unsigned flags,
                         const int32_t *want, size_t n) {
    int32_t *ids = NULL;
    size_t got = 0;
    CHECK_OK(llm_tokenizer_encode(t, text, strlen(text), flags, &ids, &got));
    int ok = got == n && (!n || !memcmp(ids, want, n * sizeof *ids));
    if (!ok) {
        fprintf(stderr, "encode '%s':", text);
        for (size_t i = 0; i < got; i++)
            fprintf(stderr, " %d", (int)ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK(ok);
    free(ids);
}

static void test_tiny_bpe(void) {
    enum { HELLO = 259, WORLD = 264, SPACE_1 = 265, D12 = 266, D123, D34, D45, TICK_S, END };
    llm_gguf *f = tiny_bpe("gpt-2");
    llm_tokenizer *t = NULL;
    if (f) CHECK_OK(llm_tokenizer_create(f, &t));
    llm_gguf_close(f);
    if (!t) return;
    /* the byte tokens are ids 0..255 in byte order */
    CHECK(llm_tokenizer_get_type(t) == LLM_TOKENIZER_BPE);
    CHECK(!strcmp(llm_tokenizer_pre_name(t), "gpt-2"));
    CHECK(llm_tokenizer_add_bos(t) == 0);
    CHECK(llm_tokenizer_eot(t) == END && llm_tokenizer_is_eog(t, END));
    check_encode(t, "hello world", 0, (const int32_t[]){HELLO, WORLD}, 2);
    check_encode(t, "hello world", LLM_TOKENIZE_ADD_SPECIAL, (const int32_t[]){HELLO, WORLD}, 2);
    check_encode(t, "hello<|end|>", LLM_TOKENIZE_PARSE_SPECIAL, (const int32_t[]){HELLO, END}, 2);
    check_encode(t, "hello<|end|>", 0, (const int32_t[]){HELLO, '<', '|', 'e', 'n', 'd', '|', '>'},
                 8);
    /* gpt2: ' 12' is one word, merged to ' 1' '2' */
    check_encode(t, "a 12", 0, (const int32_t[]){'a', SPACE_1, '2'}, 3);
    size_t len = 0;
    const char *p = llm_tokenizer_token_piece(t, WORLD, &len);
    CHECK(p && len == 6 && !memcmp(p, " world", 6));
    p = llm_tokenizer_token_piece(t, '\n' + 0, &len);
    CHECK(p && len == 1 && p[0] == '\n');
    check_encode(t, "12345", 0, (const int32_t[]){D12, D34, '5'}, 3);
    check_encode(t, "IT'S", 0, (const int32_t[]){'I', 'T', '\'', 'S'}, 4);
    llm_tokenizer_destroy(t);
    t = NULL;

    /* the same vocabulary under the other pre-tokenizers */
    static const struct {
        const char *pre, *text;
        int32_t ids[8];
        size_t n;
    } cases[] = {
        /* smollm: every digit alone, the space before them a word of its own */
        {"smollm", "a 12", {'a', ' ', '1', '2'}, 4},
        {"smollm", "12345", {'1', '2', '3', '4', '5'}, 5},
        {"smollm", "hello world", {HELLO, WORLD}, 2},
        /* llama3: digits by three, contractions in any case */
        {"llama3", "12345", {D123, D45}, 2},
        {"llama3", "IT'S", {'I', 'T', TICK_S}, 3},
        {"llama3", "a 12", {'a', ' ', D12}, 3},
        /* qwen2: digits one by one */
        {"qwen2", "12345", {'1', '2', '3', '4', '5'}, 5},
        {"qwen2", "IT'S", {'I', 'T', TICK_S}, 3},
        /* default: \p{N}+ then [0-9]{3} */
        {"default", "12345", {D123, D45}, 2},
        {"default", "hello world", {HELLO, WORLD}, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f = tiny_bpe(cases[i].pre);
        t = NULL;
        if (f) CHECK_OK(llm_tokenizer_create(f, &t));
        llm_gguf_close(f);
        if (t) check_encode(t, cases[i].text, 0, cases[i].ids, cases[i].n);
        llm_tokenizer_destroy(t);
    }
}

static void expect_create_fails(llm_gguf *f, clg_status want, const char *needle) {
    llm_tokenizer *t = NULL;
    clg_status st = f ? llm_tokenizer_create(f, &t) : CLG_ERR_IO;
    int ok = st == want && t == NULL && strstr(clg_last_error(), needle);
    if (!ok)
        fprintf(stderr, "create: %s: %s (want %s, '%s')\n", clg_status_str(st), clg_last_error(),
                clg_status_str(want), needle);
    CHECK(ok);
    llm_tokenizer_destroy(t);
    llm_gguf_close(f);
}

static void test_bad_metadata(void) {
    llm_gguf_writer *w = NULL;
    /* no tokenizer at all */
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "general.architecture", "llama"));
    expect_create_fails(reopen(w), CLG_ERR_NOT_FOUND, "tokenizer.ggml.model");
    /* a model we do not implement */
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.model", "bert"));
    expect_create_fails(reopen(w), CLG_ERR_UNSUPPORTED, "bert");
    /* an unknown pre-tokenizer: the message lists the supported ones */
    expect_create_fails(tiny_bpe("no-such-pre"), CLG_ERR_UNSUPPORTED, "smollm");
    /* tokens of the wrong type */
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"));
    uint32_t nums[3] = {1, 2, 3};
    CHECK_OK(llm_gguf_writer_add_array(w, "tokenizer.ggml.tokens", LLM_GGUF_UINT32, nums, 3));
    expect_create_fails(reopen(w), CLG_ERR_FORMAT, "tokenizer.ggml.tokens");
    /* scores shorter than the vocabulary */
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"));
    const char *toks[3] = {"<unk>", "<s>", "</s>"};
    CHECK_OK(llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", toks, NULL, 3));
    float scores[2] = {0, 0};
    CHECK_OK(llm_gguf_writer_add_array(w, "tokenizer.ggml.scores", LLM_GGUF_FLOAT32, scores, 2));
    expect_create_fails(reopen(w), CLG_ERR_FORMAT, "tokenizer.ggml.scores");
    /* add_bos without a BOS token */
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"));
    CHECK_OK(llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", toks, NULL, 1));
    expect_create_fails(reopen(w), CLG_ERR_FORMAT, "add_bos_token");
    /* a gpt2 tokenizer without merges */
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"));
    CHECK_OK(llm_gguf_writer_add_str(w, "tokenizer.ggml.pre", "gpt-2"));
    CHECK_OK(llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", toks, NULL, 3));
    expect_create_fails(reopen(w), CLG_ERR_NOT_FOUND, "tokenizer.ggml.merges");
    CHECK(llm_tokenizer_create(NULL, NULL) == CLG_ERR_INVALID_ARG);
}

int main(void) {
    test_unicode();
    test_byte_map();
    test_llama2();
    test_tiny_bpe();
    test_bad_metadata();
    return tc_finish("tokenizer");
}
