/* What the Llama files share about the weight products: their names, weight types and
 * kernel-name suffixes, whether they take 8-bit activations. Depends on no other file. */
#include <stdio.h>
#include <string.h>

#include "graphs/llama/llama_impl.h"

const char *llm_kernel_suffix(int dtype) {
    switch (dtype) {
    case LLM_DTYPE_F32:
        return "f32";
    case LLM_DTYPE_F16:
        return "f16";
    case LLM_DTYPE_Q8_0:
        return "q8_0";
    case LLM_DTYPE_Q4_0:
        return "q4_0";
    case LLM_DTYPE_Q4_1:
        return "q4_1";
    case LLM_DTYPE_Q5_0:
        return "q5_0";
    case LLM_DTYPE_Q5_1:
        return "q5_1";
    case LLM_DTYPE_Q4_K:
        return "q4_k";
    case LLM_DTYPE_Q5_K:
        return "q5_k";
    case LLM_DTYPE_Q6_K:
        return "q6_k";
    case LLM_DTYPE_BF16:
        return "bf16";
    default:
        return NULL;
    }
}

const char *llm_mm_kind_name(mm_kind k) {
    static const char *names[MM_KINDS] = {"qkv", "attn_output", "ffn_swiglu", "ffn_down", "output"};
    return k < MM_KINDS ? names[k] : "?";
}

int llm_mm_dtype(const llm_model *m, mm_kind k) {
    const layer_weights *w = &m->lw[0];
    return k == MM_QKV    ? w->qkv[0].dtype
           : k == MM_WO   ? w->wo_type
           : k == MM_FFN  ? w->ffn_type
           : k == MM_DOWN ? w->down_type
                          : m->out_type;
}

int llm_mm_uniform(const llm_model *m, mm_kind k) {
    for (int i = 0; i < m->hp.n_layer && k != MM_OUT; i++) {
        const layer_weights *w = &m->lw[i];
        const int ty = k == MM_QKV   ? (w->n_qkv == 1 ? w->qkv[0].dtype : -1)
                       : k == MM_WO  ? w->wo_type
                       : k == MM_FFN ? w->ffn_type
                                     : w->down_type;
        if (ty != llm_mm_dtype(m, k)) return 0;
    }
    return 1;
}

/* The types of cl/matmul_q8.cl (f32, f16 and bf16 take the float product only). */
int llm_q8_weight(int dtype) {
    switch (dtype) {
    case LLM_DTYPE_Q8_0:
    case LLM_DTYPE_Q4_0:
    case LLM_DTYPE_Q4_1:
    case LLM_DTYPE_Q5_0:
    case LLM_DTYPE_Q5_1:
    case LLM_DTYPE_Q4_K:
    case LLM_DTYPE_Q5_K:
    case LLM_DTYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

int llm_mm_q8(const llm_model *m, mm_kind k) {
    return m->hp.act_q8 && llm_q8_weight(llm_mm_dtype(m, k));
}

int llm_w_x8(const llm_model *m, int dtype, int rows) {
    return m->hp.x8 && m->hp.act_q8 && llm_x8_type(dtype) && rows % 8 == 0;
}

size_t llm_q8_tile_bytes(int tile, int cols) {
    return (size_t)tile * (size_t)cols * 2 + (size_t)tile * (size_t)(cols / 32) * 8;
}

void llm_type_option(char *opts, size_t cap, int dtype) {
    char ty[40];
    snprintf(ty, sizeof ty, " -DCLG_TY_%s", llm_kernel_suffix(dtype));
    size_t n = strlen(opts);
    if (!strstr(opts, ty) && n + strlen(ty) < cap) snprintf(opts + n, cap - n, "%s", ty);
}
