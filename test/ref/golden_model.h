/* Reader for the whole-model golden files that test/model/gen_golden.py writes (numpy-reference
 * logits, top-k per position and greedy tokens; format in test/data/model/README.md). Test code. */
#ifndef CLGRAPH_TEST_GOLDEN_MODEL_H
#define CLGRAPH_TEST_GOLDEN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "clgraph/runtime.h" /* clg_status */

#define TG_GOLDEN_MAGIC "CLGGOLDM" /* 8 bytes, no NUL in the file */
#define TG_GOLDEN_VERSION 1

/* One prompt. Arrays are owned by the tg_golden that holds the prompt. */
typedef struct tg_golden_prompt {
    char *name;               /* "english", "chat", "code", "short", ... (NUL-terminated) */
    char *text;               /* the prompt, UTF-8, NUL-terminated */
    int n_tokens;             /* >= 1 */
    int32_t *tokens;          /* [n_tokens] llama.cpp's token ids of text (BOS as the model says) */
    float *logits_last;       /* [n_vocab] reference logits of the last prompt position */
    int32_t *top_ids;         /* [n_tokens][n_top] reference top ids per position, best first */
    float *top_vals;          /* [n_tokens][n_top] their logits */
    int32_t *greedy;          /* [n_gen] reference greedy continuation: the golden tokens */
    float *greedy_margin;     /* [n_gen] reference top-1 minus top-2 logit at each greedy step */
    int32_t *greedy_llamacpp; /* [n_gen] llama.cpp's greedy continuation (for information) */
    int n_greedy_agree;       /* length of the common prefix of greedy and greedy_llamacpp */
    int top1_agree;           /* prompt positions where reference and llama.cpp argmax agree */
    float diff_last;          /* max |reference - llama.cpp| over the last position's logits */
    float diff_all;           /* the same over every prompt position */
} tg_golden_prompt;

/* A loaded golden file; create with tg_golden_load / tg_golden_parse, free with
 * tg_golden_destroy. */
typedef struct tg_golden {
    uint32_t version;
    int n_prompts;
    int n_vocab;
    int n_top;
    int n_gen;
    int logits_dtype;          /* storage in the file: 0 = f32, 1 = f16 (always float here) */
    float diff_all;            /* max of the prompts' diff_all */
    char model_sha256[65];     /* lowercase hex of the GGUF file's SHA-256 */
    char model_file[65];       /* the GGUF's file name when the data was made */
    char model_type[17];       /* general.file_type as a name: "Q4_1", "Q8_0", "F16", ... */
    tg_golden_prompt *prompts; /* [n_prompts] */
} tg_golden;

/* ---- loading --------------------------------------------------------------- */

/* Reads and validates the file at path. On success *out owns everything (tg_golden_destroy).
 * CLG_ERR_IO when the file cannot be read, CLG_ERR_FORMAT (message naming the field and byte
 * offset) when it is malformed, CLG_ERR_OUT_OF_MEMORY. */
clg_status tg_golden_load(const char *path, tg_golden **out);

/* The same over size bytes of a file's contents (borrowed; not kept). what names the data in
 * error messages. */
clg_status tg_golden_parse(const void *data, size_t size, const char *what, tg_golden **out);

/* Safe on NULL. */
void tg_golden_destroy(tg_golden *g);

/* The prompt called name, or NULL (borrowed from g). */
const tg_golden_prompt *tg_golden_find(const tg_golden *g, const char *name);

/* Index of the largest of x[0..n) (first one on ties); -1 when n == 0. */
int tg_argmax(const float *x, int n);

#endif
