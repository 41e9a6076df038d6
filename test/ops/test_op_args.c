/* The op library's argument positions (graphs/ops/ops.h) match the kernels: each kernel's
 * CL_KERNEL_NUM_ARGS equals the count its constants name, for every weight type it is
 * instantiated for, on every device. A kernel that gains or loses an argument fails here
 * instead of reading shifted arguments. */
#include <stdio.h>

#include "graphs/ops/ops.h"
#include "test_common.h"

typedef struct expect {
    const char *file, *options, *kernel; /* kernel: %s for the type suffix */
    unsigned nargs;
    int typed; /* 1: per weight type; 2: the 8-bit activation types */
} expect;

int main(void) {
    clg_context *ctx = tc_context();
    /* the float-only types, then the 8-bit-activation ones (from index 3) */
    static const char *types[] = {"f32",  "f16",  "bf16", "q8_0", "q4_0", "q4_1",
                                  "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"};
    const size_t n_types = sizeof types / sizeof types[0];
    static const expect ex[] = {
        {"matmul", "", "embed_%s", EMBED_NARGS, 1},
        {"norm", "", "rmsnorm_row", RMSNORM_NARGS, 0},
        {"norm", "", "rmsnorm_wg", RMSNORM_NARGS, 0},
        {"matmul", "", "matmul_%s", MATMUL_NARGS, 1},
        {"matmul", "", "matmul_%s_wg", MATMUL_NARGS, 1},
        {"matmul", "", "ffn_swiglu_%s", FFN_NARGS, 1},
        {"matmul", "", "ffn_swiglu_%s_wg", FFN_NARGS, 1},
        {"matmul", "", "dequant_%s", DEQUANT_NARGS, 1},
        {"matmul_q8", "", "matmul_%s_q8", MATMUL_Q8_NARGS, 2},
        {"matmul_q8", "", "matmul_%s_q8_norm", MATMUL_Q8N_NARGS, 2},
        {"matmul_q8", "", "ffn_swiglu_%s_q8", FFN_Q8_NARGS, 2},
        {"matmul_q8", "", "ffn_swiglu_%s_q8_norm", FFN_Q8N_NARGS, 2},
        {"rope", "", "rope_kv", ROPE_NARGS, 0},
        {"attention", "", "attention_row", ATT_NARGS, 0},
        {"attention", "", "attention_wg", ATT_NARGS, 0},
        {"attention", "", "attention_split", ATT_SPLIT_NARGS, 0},
        {"attention", "", "attention_merge", MERGE_NARGS, 0},
        {"rows", "", "gather_rows", GATHER_NARGS, 0},
        {"argmax", "", "argmax", ARGMAX_NARGS, 0},
        {"swiglu", "", "swiglu", SWIGLU_NARGS, 0},
        {"norm", "", "rmsnorm_heads", RMSH_NARGS, 0},
        {"norm", "", "rmsnorm_add", RMSADD_NARGS, 0},
        {"rows", "", "add_bias", BIAS_NARGS, 0},
        {"rows", "", "scale_rows", SCALE_NARGS, 0},
        {"rows", "", "copy_cols", COLS_NARGS, 0},
        {"glu", "", "glu_split", GLU_NARGS, 0},
        {"glu", "-DFFN_GELU", "glu_split", GLU_NARGS, 0},
        {"attention", "-DKV_F16", "attention_split", ATT_SPLIT_NARGS, 0},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        clg_program *p = NULL;
        CHECK_OK(clg_program_get(ctx, ex[i].file, ex[i].options, &p));
        if (!p) continue;
        size_t first = ex[i].typed == 2 ? 3 : 0, last = ex[i].typed ? n_types : 1;
        for (size_t t = first; t < last; t++) {
            char name[64];
            snprintf(name, sizeof name, ex[i].kernel, types[t]);
            unsigned n = clg_program_kernel_args(p, name);
            if (n != ex[i].nargs)
                fprintf(stderr, "cl/%s.cl %s: %u arguments, graphs/ops/ops.h names %u\n",
                        ex[i].file, name, n, ex[i].nargs);
            CHECK(n == ex[i].nargs);
        }
    }
    /* One-type programs (-DCLG_ONE_TY -DCLG_TY_<ty>) of the 8-bit-activation file hold that
     * type's four kernels, with the same arguments, and no other type's. */
    static const char *one[] = {"q8_0", "q4_k", "q6_k"};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        char opts[64], name[64], other[64];
        snprintf(opts, sizeof opts, "-DCLG_ONE_TY -DCLG_TY_%s", one[i]);
        clg_program *p = NULL;
        CHECK_OK(clg_program_get(ctx, "matmul_q8", opts, &p));
        if (!p) continue;
        for (size_t k = 0; k < sizeof ex / sizeof ex[0]; k++) {
            if (ex[k].typed != 2) continue;
            snprintf(name, sizeof name, ex[k].kernel, one[i]);
            CHECK(clg_program_kernel_args(p, name) == ex[k].nargs);
        }
        snprintf(other, sizeof other, "matmul_%s_q8", i ? "q8_0" : "q4_0");
        CHECK(clg_program_kernel_args(p, other) == 0);
        printf("  matmul_q8 [%s]: its kernels' arguments match, %s absent\n", opts, other);
    }
    clg_context_destroy(ctx);
    return tc_finish("op_args");
}
