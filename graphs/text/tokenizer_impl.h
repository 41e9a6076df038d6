/* Private to the tokenizer files (tokenizer.c: vocabulary, special tokens,
 * decoding; tokenizer_bpe.c: byte-level BPE and its pre-tokenizers;
 * tokenizer_spm.c: SentencePiece-style BPE). */
#ifndef CLGRAPH_GRAPHS_TOKENIZER_IMPL_H
#define CLGRAPH_GRAPHS_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "clgraph/tokenizer.h"

/* Token attributes (bits; a token may gain CONTROL when llama.cpp's rules
 * recognise its text as an end-of-turn token). */
enum {
    TOK_ATTR_UNKNOWN = 1u << 0,
    TOK_ATTR_UNUSED = 1u << 1,
    TOK_ATTR_NORMAL = 1u << 2,
    TOK_ATTR_CONTROL = 1u << 3,
    TOK_ATTR_USER_DEFINED = 1u << 4,
    TOK_ATTR_BYTE = 1u << 5,
    TOK_ATTR_SPECIAL = TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED
};

/* Pre-tokenizer passes, applied in order, each splitting the chunks the
 * previous one produced (llama.cpp's list of regexes per tokenizer.ggml.pre). */
typedef enum tok_pass {
    PASS_GPT2 = 1, /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    PASS_LLAMA3,   /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
                      ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    PASS_QWEN2,    /* the same with \p{N} instead of \p{N}{1,3} */
    PASS_DIGIT_EACH,     /* \p{N}: every digit alone */
    PASS_DIGIT_RUNS,     /* \p{N}+ */
    PASS_DIGIT_TRIPLES,  /* [0-9][0-9][0-9] */
    PASS_PUNCT_RUNS,     /* [\p{P}\$\+<=>\^~\|]+ */
    PASS_PUNCT_RUNS_TICK /* [\p{P}\$\+<=>\^~\|`]+ (falcon) */
} tok_pass;

#define TOK_MAX_PASSES 4

typedef struct tok_entry {
    uint32_t text_off, text_len;   /* vocabulary text in the arena */
    uint32_t piece_off, piece_len; /* decoded bytes in the arena */
    float score;
    uint16_t attr; /* TOK_ATTR_* */
    uint8_t type;  /* llm_token_type as stored */
    uint8_t eog;
} tok_entry;

typedef struct tok_merge {
    uint32_t off, len; /* "left right" in the arena */
} tok_merge;

struct llm_tokenizer {
    llm_tokenizer_type type;
    char model[32];
    char pre[64];

    int32_t n_tokens;
    tok_entry *tokens; /* [n_tokens] */
    char *arena;       /* token texts, pieces, merge strings */
    size_t arena_len;

    /* text -> id: open addressing, slot = id + 1 (0 empty), power-of-two size */
    uint32_t *token_map;
    uint32_t token_map_mask;

    /* "left right" -> rank (index in merges): same scheme */
    tok_merge *merges; /* [n_merges] */
    uint32_t n_merges;
    uint32_t *merge_map;
    uint32_t merge_map_mask;

    /* special tokens matched in text, longest text first (ties by id) */
    int32_t *specials;
    int32_t n_specials;

    int32_t bos, eos, eot, eom, unk, pad;
    int add_bos, add_eos;
    int add_space_prefix; /* SPM: a space before text at the start / after specials */
    int ignore_merges;    /* BPE: a word that is a token is taken whole (llama3) */
    tok_pass passes[TOK_MAX_PASSES];
    int n_passes;

    int32_t byte_tokens[256]; /* SPM: <0xXX> (or the 1-byte token); LLM_TOKEN_NONE */
};

/* A growable array of token ids. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;

clg_status tok_ids_push(tok_ids *ids, int32_t id);

/* Grows the array *p of *cap elements of `size` bytes to hold n (capacity doubling from
 * 64); CLG_ERR_OUT_OF_MEMORY (with the message set) leaves it as it was (tokenizer.c). */
clg_status tok_grow(void **p, size_t *cap, size_t n, size_t size);

/* Byte length of the UTF-8 sequence led by c, by its high nibble as llama.cpp
 * counts it (1 for continuation bytes). */
static inline size_t tok_utf8_len(unsigned char c) {
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

/* Writes cp as UTF-8 (1..4 bytes; U+FFFD above U+10FFFF); returns the length. */
size_t tok_utf8_encode(uint32_t cp, char *out);

/* Id of text[0..len) or LLM_TOKEN_NONE (tokenizer.c). */
int32_t tok_find(const llm_tokenizer *t, const char *text, size_t len);
/* Rank of the merge "left right", or -1 (tokenizer.c). */
int32_t tok_merge_rank(const llm_tokenizer *t, const char *left, size_t left_len, const char *right,
                       size_t right_len);

/* ---- merging adjacent symbols (tokenizer_merge.c): the loop of both BPE flavours ---- */

/* A symbol of the text being merged: bytes [start, start + n), n = 0 once merged into its
 * left neighbour; prev / next: its neighbours, -1 at the ends. */
typedef struct tok_sym {
    uint32_t start, n;
    int32_t prev, next;
} tok_sym;

/* Whether the adjacent symbols a and b (b follows a in text) merge into one, and the
 * merge's priority *key: the lowest key merges first, of equal keys the leftmost. */
typedef int (*tok_merge_key_fn)(const llm_tokenizer *t, const char *text, const tok_sym *a,
                                const tok_sym *b, double *key);

typedef struct tok_pair tok_pair;

/* Scratch memory of tok_merge_symbols, kept between calls: zero-initialised, tok_merger_free. */
typedef struct tok_merger {
    tok_sym *sym; /* [n_sym] the symbols; the result is sym[0] and its next chain */
    int32_t n_sym;
    size_t sym_cap;
    tok_pair *heap; /* [heap_n] candidate merges, a binary heap on (key, left) */
    size_t heap_n, heap_cap;
} tok_merger;

/* Splits text[0..len) into UTF-8 characters (by their lead bytes, as llama.cpp does) and
 * merges adjacent symbols, the best key first, until no adjacent pair merges. */
clg_status tok_merge_symbols(const llm_tokenizer *t, tok_merger *m, const char *text, size_t len,
                             tok_merge_key_fn key);
void tok_merger_free(tok_merger *m);

/* GPT-2's byte <-> printable code point map (tokenizer_bpe.c). */
uint32_t tok_byte_to_cp(unsigned char b);
/* The byte a code point stands for, or -1 when it is not one of the 256. */
int tok_cp_to_byte(uint32_t cp);
/* Sets the pre-tokenizer passes, ignore_merges and the add_bos default from
 * t->pre; CLG_ERR_UNSUPPORTED for an unknown name (tokenizer_bpe.c). */
clg_status tok_bpe_setup(llm_tokenizer *t, int *add_bos_default);
/* Tokenizes one fragment of plain text (no special tokens) (tokenizer_bpe.c). */
clg_status tok_bpe_encode(const llm_tokenizer *t, const char *text, size_t len, tok_ids *out);
/* Same for SentencePiece-style; text already has its space prefix and spaces
 * escaped as U+2581 (tokenizer_spm.c). */
clg_status tok_spm_encode(const llm_tokenizer *t, const char *text, size_t len, tok_ids *out);

#endif
