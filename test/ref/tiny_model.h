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
    /* Consistent in form, not in content (0 / NULL: as the plain model): */
    int block_count;     /* llama.block_count written */
    int n_layers;        /* layers of blk.N tensors written */
    int feed_forward;    /* llama.feed_forward_length written */
    int vocab_tokens;    /* tokenizer.ggml.tokens with this many entries (0: no tokenizer) */
    const char *f32_key; /* a float key written as f32_value (replaces a default) */
    float f32_value;
    const char *rope_scaling; /* llama.rope.scaling.type */
    const char *retype;       /* matrices whose names start with this are stored as retype_dtype */
    int retype_dtype;
    int roundtrip;    /* with retype: those matrices stored as f32, quantized to retype_dtype and
                         back (the same values as the retyped model, in f32) */
    const char *poke; /* tensor (rope_freqs.weight too) whose element poke_index is poke_value */
    int poke_index;
    float poke_value;
    const char *scale; /* tensor whose values are multiplied by scale_by */
    float scale_by;
} tiny_variant;

/* Writes the model to path with random weights from tc_randf; v may be NULL. 0 on success. */
int tiny_model_write(const char *path, const tiny_variant *v);
#endif
