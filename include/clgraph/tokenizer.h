/* Tokenizers driven by GGUF metadata, as llama.cpp reads them:
 *   - byte-level BPE (tokenizer.ggml.model = "gpt2"): text is split by the
 *     pre-tokenizer that tokenizer.ggml.pre names (smollm, llama3, qwen2,
 *     gpt-2, default and their aliases), bytes are mapped to GPT-2's printable
 *     characters, and tokenizer.ggml.merges are applied by rank;
 *   - SentencePiece-style BPE (tokenizer.ggml.model = "llama"): spaces become
 *     U+2581, a space is put before the text, pieces are merged by score, and
 *     characters outside the vocabulary fall back to <0xXX> byte tokens.
 * Special tokens (control, user-defined), BOS / EOS / EOT, end-of-generation
 * tokens, and decoding, including a streaming decoder that never splits a
 * UTF-8 sequence across its outputs.
 *
 * A tokenizer is immutable once created: every function may be called from
 * several threads at once on the same tokenizer (a stream is per thread).
 */
#ifndef CLGRAPH_TOKENIZER_H
#define CLGRAPH_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "clgraph/gguf.h"
#include "clgraph/runtime.h" /* clg_status */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ------------------------------------------------------------- */

/* Created by llm_tokenizer_create, destroyed by llm_tokenizer_destroy. */
typedef struct llm_tokenizer llm_tokenizer;
/* Streaming decoder: llm_tokenizer_stream_create / llm_tokenizer_stream_destroy. */
typedef struct llm_tokenizer_stream llm_tokenizer_stream;

/* No such token (an absent BOS, an unknown text). */
#define LLM_TOKEN_NONE (-1)

typedef enum llm_tokenizer_type {
    LLM_TOKENIZER_SPM = 1, /* "llama": SentencePiece-style BPE with byte fallback */
    LLM_TOKENIZER_BPE = 2  /* "gpt2": byte-level BPE */
} llm_tokenizer_type;

/* Values of tokenizer.ggml.token_type. */
typedef enum llm_token_type {
    LLM_TOKEN_UNDEFINED = 0,
    LLM_TOKEN_NORMAL = 1,
    LLM_TOKEN_UNKNOWN = 2,
    LLM_TOKEN_CONTROL = 3,      /* BOS, EOS, <|im_start|>, ... */
    LLM_TOKEN_USER_DEFINED = 4, /* always matched as a whole in the text */
    LLM_TOKEN_UNUSED = 5,
    LLM_TOKEN_BYTE = 6 /* <0xXX> */
} llm_token_type;

/* Flags of llm_tokenizer_encode. */
enum {
    /* Add BOS (and EOS) where the model's metadata asks for it
     * (tokenizer.ggml.add_bos_token / add_eos_token, else the default of the
     * tokenizer type: yes for "llama" and llama3-style BPE, no otherwise). */
    LLM_TOKENIZE_ADD_SPECIAL = 1u << 0,
    /* Match the text of control and unknown tokens ("<|im_start|>", "</s>")
     * as those tokens; otherwise they are tokenized as plain text.
     * User-defined tokens are matched either way. */
    LLM_TOKENIZE_PARSE_SPECIAL = 1u << 1
};

/* Flags of llm_tokenizer_decode and llm_tokenizer_stream_create. */
enum {
    /* Write the text of control and unknown tokens; without it they write
     * nothing (user-defined tokens always write their text). */
    LLM_DETOKENIZE_SPECIAL = 1u << 0,
    /* Drop what encode with LLM_TOKENIZE_ADD_SPECIAL adds: a BOS first and an
     * EOS last where the model adds them (llama.cpp's remove_special). A
     * stream drops only the leading BOS: it cannot know which token is last. */
    LLM_DETOKENIZE_SKIP_BOS_EOS = 1u << 1,
    /* Tokenizers that put a space before the text (SentencePiece-style):
     * drop one leading space of the first piece after the start and after
     * each special token, undoing what encode added. No effect on others. */
    LLM_DETOKENIZE_STRIP_PREFIX = 1u << 2,
    /* The inverse of encode with both encode flags: decode(encode(s)) == s. */
    LLM_DETOKENIZE_TEXT =
        LLM_DETOKENIZE_SPECIAL | LLM_DETOKENIZE_SKIP_BOS_EOS | LLM_DETOKENIZE_STRIP_PREFIX
};

/* ---- lifetime ---------------------------------------------------------- */

/* Builds a tokenizer from the tokenizer.ggml.* metadata of f. f is borrowed for
 * the call only (everything needed is copied). Fails with CLG_ERR_NOT_FOUND for
 * a missing tokenizer.ggml.model / tokens / merges, CLG_ERR_FORMAT for a key of
 * the wrong type or length, CLG_ERR_UNSUPPORTED for a tokenizer model or
 * pre-tokenizer this library does not implement (the message lists those it
 * does). *out is owned by the caller: llm_tokenizer_destroy. */
clg_status llm_tokenizer_create(const llm_gguf *f, llm_tokenizer **out);
void llm_tokenizer_destroy(llm_tokenizer *t); /* safe on NULL */

/* ---- vocabulary and special tokens ------------------------------------- */

/* Queries take a NULL tokenizer as one without tokens (LLM_TOKEN_NONE, 0, ""). */
llm_tokenizer_type llm_tokenizer_get_type(const llm_tokenizer *t);
/* tokenizer.ggml.model ("gpt2", "llama") and tokenizer.ggml.pre ("smollm";
 * "" when absent). Owned by t. */
const char *llm_tokenizer_model_name(const llm_tokenizer *t);
const char *llm_tokenizer_pre_name(const llm_tokenizer *t);

int32_t llm_tokenizer_n_tokens(const llm_tokenizer *t);
/* Special ids, LLM_TOKEN_NONE when the model has none. EOT is
 * tokenizer.ggml.eot_token_id, else the first of <|eot_id|>, <|im_end|>,
 * <|end|>, <end_of_turn>, <|endoftext|>, ... found in the vocabulary. */
int32_t llm_tokenizer_bos(const llm_tokenizer *t);
int32_t llm_tokenizer_eos(const llm_tokenizer *t);
int32_t llm_tokenizer_eot(const llm_tokenizer *t);
int32_t llm_tokenizer_unk(const llm_tokenizer *t);
int32_t llm_tokenizer_pad(const llm_tokenizer *t);
/* Whether encode with LLM_TOKENIZE_ADD_SPECIAL puts BOS first / EOS last. */
int llm_tokenizer_add_bos(const llm_tokenizer *t);
int llm_tokenizer_add_eos(const llm_tokenizer *t);
/* End of generation: EOS, EOT, EOM and the other end-of-turn tokens llama.cpp
 * recognises by their text. 0 for ids out of range. */
int llm_tokenizer_is_eog(const llm_tokenizer *t, int32_t id);
/* Control, unknown or user-defined: the tokens matched as a whole in text. */
int llm_tokenizer_is_special(const llm_tokenizer *t, int32_t id);
/* tokenizer.ggml.token_type of id; LLM_TOKEN_UNDEFINED out of range. */
llm_token_type llm_tokenizer_token_type(const llm_tokenizer *t, int32_t id);

/* The vocabulary entry of id as stored ("Ġthe", "▁the", "<0x0A>"), not
 * NUL-terminated, *len bytes; NULL for an id out of range. Owned by t. */
const char *llm_tokenizer_token_text(const llm_tokenizer *t, int32_t id, size_t *len);
/* The bytes id decodes to (" the"; one byte for a byte token; the text of a
 * control token; nothing for an unused one), not NUL-terminated and possibly a
 * partial UTF-8 sequence; NULL for an id out of range. Owned by t. */
const char *llm_tokenizer_token_piece(const llm_tokenizer *t, int32_t id, size_t *len);
/* Id of the vocabulary entry equal to text[0..len), or LLM_TOKEN_NONE. */
int32_t llm_tokenizer_find(const llm_tokenizer *t, const char *text, size_t len);

/* ---- encode / decode --------------------------------------------------- */

/* Tokenizes text[0..len) (any bytes; invalid UTF-8 is handled as llama.cpp
 * does) with LLM_TOKENIZE_* flags. *ids is malloc'ed and owned by the caller
 * (free()); *n_ids may be 0 (then *ids may be NULL). */
clg_status llm_tokenizer_encode(const llm_tokenizer *t, const char *text, size_t len,
                                unsigned flags, int32_t **ids, size_t *n_ids);

/* Decodes n ids with LLM_DETOKENIZE_* flags into valid UTF-8: bytes that do
 * not form a valid sequence become U+FFFD (one per maximal invalid subpart,
 * as Python's errors="replace"). The pieces are joined as they are: unlike
 * llama.cpp, no clean-up of spaces before punctuation for the tokenizers that
 * ask for it (clean_up_tokenization_spaces), so that decode inverts encode.
 * An id out of range fails with CLG_ERR_INVALID_ARG. *text is malloc'ed,
 * NUL-terminated, owned by the caller (free()); *len excludes the NUL. */
clg_status llm_tokenizer_decode(const llm_tokenizer *t, const int32_t *ids, size_t n,
                                unsigned flags, char **text, size_t *len);

/* ---- streaming decode -------------------------------------------------- */

/* A decoder fed one token at a time, for printing generated text as it comes:
 * the concatenation of everything it returns (pushes, then flush) equals
 * llm_tokenizer_decode of the same ids and flags (but for an added EOS, see
 * LLM_DETOKENIZE_SKIP_BOS_EOS), and no output ends inside a UTF-8 sequence
 * (an incomplete tail is held until the next push). t is borrowed and must
 * outlive the stream. *out owned by the caller: llm_tokenizer_stream_destroy. */
clg_status llm_tokenizer_stream_create(const llm_tokenizer *t, unsigned flags,
                                       llm_tokenizer_stream **out);
void llm_tokenizer_stream_destroy(llm_tokenizer_stream *s); /* safe on NULL */
/* Feeds one id. *text points to the complete UTF-8 bytes that became available
 * (*len may be 0), owned by s and valid until the next call on s. */
clg_status llm_tokenizer_stream_push(llm_tokenizer_stream *s, int32_t id, const char **text,
                                     size_t *len);
/* End of the stream: whatever is held (an incomplete sequence, as U+FFFD).
 * The stream then starts over as if new. */
clg_status llm_tokenizer_stream_flush(llm_tokenizer_stream *s, const char **text, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
