/* libFuzzer target for the GGUF reader: opens arbitrary bytes with llm_gguf_open_memory and, when
 * they are accepted, walks every accessor and reads every byte the handle points at. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"

static volatile uint64_t sink; /* keeps the reads from being optimised away */

static void walk_kv(const llm_gguf *f, uint64_t i) {
    llm_gguf_str k = llm_gguf_kv_key(f, i), s;
    char key[256];
    uint64_t u, count, sum = 0;
    int64_t v;
    uint32_t u32;
    float x;
    int b;
    llm_gguf_type et;
    const void *p;
    if (!k.ptr || k.len >= sizeof key) return;
    memcpy(key, k.ptr, k.len);
    key[k.len] = 0;
    sum += (uint64_t)llm_gguf_find_key(f, key) + (uint64_t)llm_gguf_kv_type(f, i);
    sum += (uint64_t)strlen(llm_gguf_type_name(llm_gguf_kv_type(f, i)));
    if (llm_gguf_get_u64(f, key, &u) == CLG_OK) sum += u;
    if (llm_gguf_get_i64(f, key, &v) == CLG_OK) sum += (uint64_t)v;
    if (llm_gguf_get_u32(f, key, &u32) == CLG_OK) sum += u32;
    if (llm_gguf_get_f32(f, key, &x) == CLG_OK) sum += x == x;
    if (llm_gguf_get_bool(f, key, &b) == CLG_OK) sum += (uint64_t)b;
    if (llm_gguf_get_str(f, key, &s) == CLG_OK)
        for (uint64_t j = 0; j < s.len; j++)
            sum += (uint8_t)s.ptr[j];
    if (llm_gguf_get_array(f, key, &et, &count) == CLG_OK) {
        if (et == LLM_GGUF_STRING) {
            for (uint64_t j = 0; j < count; j++)
                if (llm_gguf_array_str(f, key, j, &s) == CLG_OK)
                    for (uint64_t c = 0; c < s.len; c++)
                        sum += (uint8_t)s.ptr[c];
            sum += llm_gguf_array_str(f, key, count, &s) == CLG_OK; /* out of range */
        } else if (llm_gguf_array_data(f, key, &p) == CLG_OK) {
            for (uint64_t j = 0; j < count * llm_gguf_type_size(et); j++)
                sum += ((const uint8_t *)p)[j];
        }
    }
    sink += sum;
}

static void walk_tensor(const llm_gguf *f, uint64_t i) {
    const llm_gguf_tensor *t = llm_gguf_tensor_at(f, i);
    char name[256];
    uint64_t sum = 0;
    if (!t) return;
    if (t->name.len < sizeof name) {
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = 0;
        sum += llm_gguf_find_tensor(f, name) == t;
    }
    for (uint64_t j = 0; j < t->bytes; j++)
        sum += ((const uint8_t *)t->data)[j];
    /* dequantize the start of the tensor (the whole of small ones) */
    size_t be = llm_dtype_block_elems(t->dtype);
    size_t n = t->n_elems < 8192 ? (size_t)t->n_elems : 8192;
    if (be) n -= n % be;
    if (n) {
        float *y = malloc(n * sizeof *y);
        if (y && llm_dequantize(t->dtype, t->data, y, n) == CLG_OK) sum += y[n - 1] == y[n - 1];
        free(y);
    }
    sink += sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    llm_gguf *f = NULL;
    if (llm_gguf_open_memory(data, size, &f) != CLG_OK) {
        /* every rejection carries a message */
        if (f != NULL || clg_last_error()[0] == 0) abort();
        return 0;
    }
    sink += llm_gguf_version(f) + llm_gguf_alignment(f) + llm_gguf_data_offset(f) +
            llm_gguf_file_size(f);
    for (uint64_t i = 0; i < llm_gguf_kv_count(f); i++)
        walk_kv(f, i);
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++)
        walk_tensor(f, i);
    llm_gguf_close(f);
    return 0;
}
