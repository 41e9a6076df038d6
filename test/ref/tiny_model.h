/* A tiny random Llama GGUF for engine tests (test code): 64 embd, 2 layers, 4 heads
 * (2 KV), 128 ff, vocab 96, f32 weights. Variations make it malformed on purpose. */
#ifndef CLGRAPH_TEST_TINY_MODEL_H
#define CLGRAPH_TEST_TINY_MODEL_H

enum {
    TINY_EMBD = 64,
    TINY_LAYERS = 2,
    TINY_HEADS = 4,
    TINY_KV = 2,
    TINY_FF = 128,
    TINY_VOCAB = 96
};

typedef struct tiny_variant {
    const char *arch;    /* general.architecture, NULL: "llama" */
    const char *drop;    /* tensor left out */
    const char *reshape; /* tensor written one row too long */
    const char *as_f16;  /* tensor stored as f16 */
    int rope_freqs;      /* rope_freqs.weight: 0 none, 1 ones, 2 random in [1, 8], 3 wrong length */
} tiny_variant;

/* Writes the model to path with random weights from tc_randf; v may be NULL. 0 on success. */
int tiny_model_write(const char *path, const tiny_variant *v);
#endif
