/* The library GEMM path of the prefill weight products: the weight is dequantized to an f32
 * scratch matrix by a kernel (dequant_TY of cl/matmul.cl), then CLBlast's Sgemm computes
 * y = x W^T (+ y) in a call task (clgraph/runtime_cl.h); the FFN stacks gate and up into one
 * Sgemm and a SwiGLU kernel (cl/swiglu.cl) follows. The tasks sit beside the product task they
 * replace as the kind's planner alternative "clblast", disabled until chosen (by measurement,
 * or forced with llm_model_options.prefill_gemm). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#include "clgraph/runtime_cl.h"
#include "graphs/llama/llama_impl.h"
#include "graphs/ops/ops.h"

/* The Sgemm of one call task: y[T, rows] (y_stride) = x[T, cols] (x_stride) . W^T + beta y,
 * W = w [rows, cols] f32; T is the plan's batch at enqueue time. */
typedef struct gemm_call {
    const step_plan *sp;
    clg_buffer *x, *w, *y;
    int rows, cols, x_stride, y_stride;
    float beta;
} gemm_call;

enum { GEMM_LOCAL = 16 }; /* local size of the dequantize and SwiGLU kernels */

int llm_gemm_offered(const llm_model *m, const step_plan *sp, mm_kind k) {
    if (m->gemm_mode == LLM_GEMM_OWN || sp != &m->prefill || k == MM_OUT) return 0;
    if (!llm_mm_uniform(m, k) || (k == MM_FFN && m->arch->gelu)) return 0;
    /* dequant_TY reads the file's layout (not the x8 one, which every x8 type's kind holds
     * where its rows allow) */
    if (llm_mm_q8(m, k) && m->hp.x8 && llm_x8_type(llm_mm_dtype(m, k))) return 0;
    /* qkv and the FFN read the RMSNorm's output, which 8-bit activations fuse away */
    return k == MM_WO || k == MM_DOWN || !llm_mm_q8(m, k);
}

/* Elements of the f32 weight scratch: the largest matrix among the offered kinds (0: none). */
static size_t w_f32_elems(const llm_model *m, const step_plan *sp) {
    const llm_hparams *hp = &m->hp;
    size_t w_elems = 0;
    for (int k = 0; k < MM_OUT; k++) {
        if (!llm_gemm_offered(m, sp, (mm_kind)k)) continue;
        size_t n = k == MM_QKV   ? (size_t)m->qkv_dim * (size_t)hp->n_embd
                   : k == MM_WO  ? (size_t)hp->n_embd * (size_t)(hp->n_head * hp->head_dim)
                   : k == MM_FFN ? 2 * (size_t)hp->n_ff * (size_t)hp->n_embd
                                 : (size_t)hp->n_embd * (size_t)hp->n_ff;
        if (n > w_elems) w_elems = n;
    }
    return w_elems;
}

uint64_t llm_gemm_scratch_bytes(const llm_model *m) {
    const llm_hparams *hp = &m->hp;
    uint64_t bytes = (uint64_t)w_f32_elems(m, &m->prefill) * sizeof(float);
    if (llm_gemm_offered(m, &m->prefill, MM_FFN))
        bytes += (uint64_t)hp->n_batch * 2 * (uint64_t)hp->n_ff * sizeof(float);
    return bytes;
}

clg_status llm_gemm_prepare(llm_model *m, step_plan *sp) {
    const llm_hparams *hp = &m->hp;
    const size_t w_elems = w_f32_elems(m, sp);
    if (!w_elems) return CLG_OK;
    char opts[160];
    /* the dequantization kernels only: the products of the file run elsewhere */
    snprintf(opts, sizeof opts, "-DMM_TT=%d -DCLG_NO_PRODUCTS -DCLG_ONE_TY", sp->tile);
    for (int k = 0; k < MM_OUT; k++) /* the offered kinds' types only, as the planner builds */
        if (llm_gemm_offered(m, sp, (mm_kind)k))
            llm_type_option(opts, sizeof opts, llm_mm_dtype(m, (mm_kind)k));
    clg_status st = clg_program_get(m->ctx, "matmul", opts, &sp->matmul);
    if (st == CLG_OK) st = clg_program_get(m->ctx, "swiglu", "", &sp->swiglu);
    if (st == CLG_OK)
        st = clg_buffer_create(m->ctx, "gemm.w_f32", w_elems * sizeof(float),
                               CLG_TRANSFER_DEVICE_ONLY, NULL, &m->w_f32);
    if (st == CLG_OK && llm_gemm_offered(m, sp, MM_FFN))
        st = clg_buffer_create(m->ctx, "gemm.ffn_gu",
                               (size_t)hp->n_batch * 2 * (size_t)hp->n_ff * sizeof(float),
                               CLG_TRANSFER_DEVICE_ONLY, NULL, &m->ffn_gu);
    if (st != CLG_OK) return st;
    sp->calls = calloc((size_t)hp->n_layer * 4, sizeof *sp->calls);
    return sp->calls ? CLG_OK : clg_fail(CLG_ERR_OUT_OF_MEMORY, "library GEMM parameters");
}

static const char *blas_status(CLBlastStatusCode s) {
    switch (s) {
    case CLBlastOpenCLCompilerNotAvailable:
        return "no OpenCL compiler";
    case CLBlastTempBufferAllocFailure:
        return "temporary buffer allocation failed";
    case CLBlastOpenCLOutOfResources:
        return "CL_OUT_OF_RESOURCES";
    case CLBlastOpenCLOutOfHostMemory:
        return "CL_OUT_OF_HOST_MEMORY";
    case CLBlastOpenCLBuildProgramFailure:
        return "its kernels failed to build";
    case CLBlastInvalidLocalMemUsage:
        return "not enough local memory";
    case CLBlastNoHalfPrecision:
        return "no half precision";
    case CLBlastNoDoublePrecision:
        return "no double precision";
    case CLBlastInsufficientMemoryA:
    case CLBlastInsufficientMemoryB:
    case CLBlastInsufficientMemoryC:
        return "a buffer is too small for the matrix";
    case CLBlastInvalidLocalThreadsTotal:
    case CLBlastInvalidLocalThreadsDim:
        return "work-group too large for the device";
    case CLBlastNotImplemented:
        return "not implemented";
    default:
        return "see clblast_c.h";
    }
}

static clg_status gemm_fn(void *user, cl_command_queue q, cl_event *done) {
    const gemm_call *c = user;
    const size_t T = (size_t)c->sp->cur_T;
    CLBlastStatusCode s = CLBlastSgemm(
        CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, T, (size_t)c->rows,
        (size_t)c->cols, 1.0f, clg_buffer_mem(c->x), 0, (size_t)c->x_stride, clg_buffer_mem(c->w),
        0, (size_t)c->cols, c->beta, clg_buffer_mem(c->y), 0, (size_t)c->y_stride, &q, done);
    if (s != CLBlastSuccess)
        return clg_fail(CLG_ERR_OPENCL,
                        "CLBlastSgemm (%zu x %d x %d, %s into '%s') failed with status %d (%s)", T,
                        c->rows, c->cols, c->beta != 0 ? "accumulating" : "writing",
                        clg_buffer_name(c->y), (int)s, blas_status(s));
    return CLG_OK;
}

/* w [rows, cols] of type dtype into rows row0 .. of m->w_f32: (W, out, rows, cols, out_row0) */
static clg_status dequant_task(llm_model *m, step_plan *sp, clg_graph *g, const char *name,
                               int dtype, clg_buffer *w, int rows, int cols, int row0,
                               clg_task **out) {
    char kernel[32];
    snprintf(kernel, sizeof kernel, "dequant_%s", llm_kernel_suffix(dtype));
    clg_task *t;
    clg_status st = clg_graph_add_task(g, name, sp->matmul, kernel, &t);
    if (st == CLG_OK) st = clg_task_arg_buffer(t, DEQUANT_W, w, CLG_READ);
    if (st == CLG_OK) st = clg_task_arg_buffer(t, DEQUANT_OUT, m->w_f32, CLG_WRITE);
    if (st == CLG_OK) st = clg_task_arg_int(t, DEQUANT_ROWS, rows);
    if (st == CLG_OK) st = clg_task_arg_int(t, DEQUANT_COLS, cols);
    if (st == CLG_OK) st = clg_task_arg_int(t, DEQUANT_ROW0, row0);
    if (st == CLG_OK) {
        size_t l[2] = {GEMM_LOCAL, 1},
               gs[2] = {((size_t)(cols + 31) / 32 + GEMM_LOCAL - 1) / GEMM_LOCAL * GEMM_LOCAL,
                        (size_t)rows};
        st = clg_task_set_range(t, 2, gs, l);
    }
    *out = t;
    return st;
}

clg_status llm_gemm_layer(llm_model *m, step_plan *sp, clg_graph *g, int i, mm_kind k,
                          clg_buffer *w, clg_buffer *w_up, clg_buffer *x, clg_buffer *y, int rows,
                          int cols, int accumulate) {
    if (!llm_gemm_offered(m, sp, k)) return CLG_OK;
    clg_task **tasks = sp->layers[i].gemm[k];
    gemm_call *c = &sp->calls[(size_t)i * 4 + (size_t)k];
    const int dtype = llm_mm_dtype(m, k), ffn = k == MM_FFN;
    const char *kind = llm_mm_kind_name(k);
    char name[48];
    size_t n = 0;
    clg_status st;
    snprintf(name, sizeof name, "%s.dequant%s", kind, ffn ? "_gate" : "");
    if ((st = dequant_task(m, sp, g, name, dtype, w, rows, cols, 0, &tasks[n++])) != CLG_OK)
        return st;
    if (ffn) {
        snprintf(name, sizeof name, "%s.dequant_up", kind);
        if ((st = dequant_task(m, sp, g, name, dtype, w_up, rows, cols, rows, &tasks[n++])) !=
            CLG_OK)
            return st;
    }
    /* The Sgemm: x [T, cols] . W^T into y [T, rows] (the FFN: gate|up [T, 2 rows]). */
    *c = (gemm_call){.sp = sp,
                     .x = x,
                     .w = m->w_f32,
                     .y = ffn ? m->ffn_gu : y,
                     .rows = ffn ? 2 * rows : rows,
                     .cols = cols,
                     .x_stride = cols,
                     .y_stride = ffn ? 2 * rows : rows,
                     .beta = accumulate ? 1.0f : 0.0f};
    clg_task *t;
    if ((st = clg_graph_add_call(g, kind, gemm_fn, c, &t)) != CLG_OK) return st;
    tasks[n++] = t;
    if ((st = clg_task_arg_buffer(t, 0, x, CLG_READ)) != CLG_OK ||
        (st = clg_task_arg_buffer(t, 1, m->w_f32, CLG_READ)) != CLG_OK ||
        (st = clg_task_arg_buffer(t, 2, c->y, accumulate ? CLG_READ_WRITE : CLG_WRITE)) != CLG_OK)
        return st;
    if (ffn) {
        snprintf(name, sizeof name, "%s.swiglu", kind);
        if ((st = clg_graph_add_task(g, name, sp->swiglu, "swiglu", &t)) != CLG_OK) return st;
        tasks[n++] = t;
        if ((st = clg_task_arg_buffer(t, SWIGLU_GU, m->ffn_gu, CLG_READ)) != CLG_OK ||
            (st = clg_task_arg_buffer(t, SWIGLU_H, y, CLG_WRITE)) != CLG_OK ||
            (st = clg_task_arg_int(t, SWIGLU_N, rows)) != CLG_OK ||
            (st = clg_task_arg_int(t, SWIGLU_T, 1)) != CLG_OK ||
            (st = clg_task_arg_int(t, SWIGLU_H_STRIDE, rows)) != CLG_OK)
            return st;
    }
    tasks[n] = NULL;
    return CLG_OK;
}

clg_status llm_gemm_set_batch(llm_model *m, step_plan *sp, int T) {
    if (!sp->calls || !llm_gemm_offered(m, sp, MM_FFN)) return CLG_OK;
    for (int i = 0; i < m->hp.n_layer; i++) {
        clg_task *const *tasks = sp->layers[i].gemm[MM_FFN];
        clg_task *t = tasks[3]; /* dequant_gate, dequant_up, the Sgemm, swiglu */
        size_t l[2] = {GEMM_LOCAL, 1},
               g[2] = {((size_t)m->hp.n_ff + GEMM_LOCAL - 1) / GEMM_LOCAL * GEMM_LOCAL, (size_t)T};
        clg_status st = clg_task_arg_int(t, SWIGLU_T, T);
        if (st == CLG_OK) st = clg_task_set_range(t, 2, g, l);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

clg_status llm_gemm_register(llm_model *m, step_plan *sp) {
    for (int k = 0; k < MM_OUT; k++) {
        if (!llm_gemm_offered(m, sp, (mm_kind)k) || !sp->calls) continue;
        size_t n = 0;
        clg_task **all = malloc((size_t)m->hp.n_layer * 4 * sizeof *all);
        if (!all) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "library GEMM tasks");
        for (int i = 0; i < m->hp.n_layer; i++)
            for (clg_task *const *t = sp->layers[i].gemm[k]; *t; t++)
                all[n++] = *t;
        clg_status st = clg_kind_add_alternative(sp->mm[k], "clblast", all, n);
        free(all);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}
