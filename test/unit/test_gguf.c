/* GGUF reader and writer: a writer -> reader round trip of every metadata type (nested arrays and
 * string arrays included) and of tensors of every weight type with alignment, copy_kv, and the
 * real SmolLM2 file ($CLGRAPH_TEST_MODEL) checked against facts read with the Python gguf package.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clgraph/gguf.h"
#include "graphs/model/gguf_impl.h"
#include "test_common.h"

/* ---- helpers ------------------------------------------------------------ */

static int str_is(llm_gguf_str s, const char *want) {
    return s.ptr && s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

/* A fresh temporary path (the file is created empty; the writer replaces it). */
static void tmp_path(char *buf, size_t n, const char *tag) {
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(buf, n, "%s/clgraph_%s_XXXXXX", dir, tag);
    int fd = mkstemp(buf);
    if (fd >= 0) close(fd);
}

/* Every key of a has the same type and stored bytes in b. */
static void same_kvs(const llm_gguf *a, const llm_gguf *b) {
    size_t bad = 0;
    for (uint64_t i = 0; i < llm_gguf_kv_count(a); i++) {
        llm_gguf_str k = llm_gguf_kv_key(a, i);
        char key[256];
        if (k.len >= sizeof key) continue;
        memcpy(key, k.ptr, k.len);
        key[k.len] = 0;
        int64_t j = llm_gguf_find_key(b, key);
        const void *va, *vb;
        uint64_t la = 0, lb = 0;
        if (j < 0 || llm_gguf_kv_type(a, i) != llm_gguf_kv_type(b, (uint64_t)j) ||
            llm_gguf_kv_raw(a, i, &va, &la) != CLG_OK ||
            llm_gguf_kv_raw(b, (uint64_t)j, &vb, &lb) != CLG_OK || la != lb || memcmp(va, vb, la)) {
            fprintf(stderr, "key '%s' differs after the copy\n", key);
            bad++;
        }
    }
    CHECK(bad == 0);
}

/* ---- writer -> reader round trip ---------------------------------------- */

static const uint8_t u8s[] = {0, 1, 255};
static const int8_t i8s[] = {-128, 0, 127};
static const uint16_t u16s[] = {0, 65535, 1234};
static const int16_t i16s[] = {-32768, 32767, -1};
static const uint32_t u32s[] = {0, 4000000000u, 7};
static const int32_t i32s[] = {INT32_MIN, INT32_MAX, -5};
static const float f32s[] = {1.5f, -0.0f, 3.25e-20f};
static const uint8_t bools[] = {1, 0, 1, 1};
static const uint64_t u64s[] = {UINT64_MAX, 0, 1ull << 40};
static const int64_t i64s[] = {INT64_MIN, INT64_MAX, -1};
static const double f64s[] = {3.141592653589793, -1e300, 0.1};

typedef struct arr_case {
    const char *key;
    llm_gguf_type type;
    const void *data;
    uint64_t count;
    size_t elem;
} arr_case;

static const arr_case arrays[] = {
    {"arr.u8", LLM_GGUF_UINT8, u8s, 3, 1},     {"arr.i8", LLM_GGUF_INT8, i8s, 3, 1},
    {"arr.u16", LLM_GGUF_UINT16, u16s, 3, 2},  {"arr.i16", LLM_GGUF_INT16, i16s, 3, 2},
    {"arr.u32", LLM_GGUF_UINT32, u32s, 3, 4},  {"arr.i32", LLM_GGUF_INT32, i32s, 3, 4},
    {"arr.f32", LLM_GGUF_FLOAT32, f32s, 3, 4}, {"arr.bool", LLM_GGUF_BOOL, bools, 4, 1},
    {"arr.u64", LLM_GGUF_UINT64, u64s, 3, 8},  {"arr.i64", LLM_GGUF_INT64, i64s, 3, 8},
    {"arr.f64", LLM_GGUF_FLOAT64, f64s, 3, 8}, {"arr.empty", LLM_GGUF_INT32, NULL, 0, 4},
};

typedef struct tensor_case {
    const char *name;
    int dtype;
    uint32_t n_dims;
    uint64_t ne[4];
} tensor_case;

static const tensor_case tensors[] = {
    {"t.f32", LLM_DTYPE_F32, 1, {7, 1, 1, 1}},
    {"t.f16", LLM_DTYPE_F16, 2, {5, 3, 1, 1}},
    {"t.bf16", LLM_DTYPE_BF16, 1, {9, 1, 1, 1}},
    {"t.q8_0", LLM_DTYPE_Q8_0, 4, {64, 2, 1, 3}},
    {"t.q4_0", LLM_DTYPE_Q4_0, 3, {32, 3, 2, 1}},
    {"t.q4_1", LLM_DTYPE_Q4_1, 2, {96, 1, 1, 1}},
    {"t.q4_k", LLM_DTYPE_Q4_K, 2, {256, 2, 1, 1}},
    {"t.q5_k", LLM_DTYPE_Q5_K, 1, {512, 1, 1, 1}},
    {"t.q6_k", LLM_DTYPE_Q6_K, 2, {256, 3, 1, 1}},
    {"t.empty", LLM_DTYPE_F32, 2, {4, 0, 1, 1}},
    {"t.q5_0", LLM_DTYPE_Q5_0, 2, {64, 3, 1, 1}},
    {"t.q5_1", LLM_DTYPE_Q5_1, 1, {32, 1, 1, 1}},
    /* ggml types the engine does not compute with: read, sized and named all the same
     * (q2_k, iq2_xxs, iq4_nl, i8, tq1_0, q1_0) */
    {"t.q2_k", 10, 2, {256, 2, 1, 1}},
    {"t.iq2_xxs", 16, 2, {512, 1, 1, 1}},
    {"t.iq4_nl", 20, 1, {64, 1, 1, 1}},
    {"t.i8", 24, 1, {13, 1, 1, 1}},
    {"t.tq1_0", 34, 2, {256, 1, 1, 1}},
    {"t.q1_0", 41, 1, {256, 1, 1, 1}},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

static const char *const strs[] = {"alpha", "", "with\nnewline", "\xc3\xa9t\xc3\xa9", "nul\0x"};
static const uint64_t str_lens[] = {5, 0, 12, 6, 5};

static size_t tensor_bytes(const tensor_case *t) {
    return llm_dtype_row_bytes(t->dtype, t->ne[0]) * t->ne[1] * t->ne[2] * t->ne[3];
}

static void round_trip(uint32_t alignment) {
    char path[512];
    tmp_path(path, sizeof path, "rt");
    llm_gguf_writer *w = NULL;
    llm_gguf *f = NULL;
    uint8_t *data[N_TENSORS] = {0};
    printf("round trip, alignment %u\n", alignment);

    CHECK_OK(llm_gguf_writer_create(&w));
    if (!w) return;
    if (alignment != 32) CHECK_OK(llm_gguf_writer_set_alignment(w, alignment));
    CHECK(llm_gguf_writer_set_alignment(w, 48) == CLG_ERR_INVALID_ARG);
    CHECK(llm_gguf_writer_set_alignment(w, 0) == CLG_ERR_INVALID_ARG);
    CHECK_OK(llm_gguf_writer_add_str(w, "general.architecture", "llama"));
    CHECK_OK(llm_gguf_writer_add_u32(w, "s.u32", 4000000000u));
    CHECK_OK(llm_gguf_writer_add_i32(w, "s.i32", -42));
    CHECK_OK(llm_gguf_writer_add_u64(w, "s.u64", 1ull << 50));
    CHECK_OK(llm_gguf_writer_add_u64(w, "s.u64max", UINT64_MAX));
    CHECK_OK(llm_gguf_writer_add_f32(w, "s.f32", 1e-5f));
    CHECK_OK(llm_gguf_writer_add_bool(w, "s.bool", 7)); /* stored as 1 */
    CHECK_OK(llm_gguf_writer_add_bool(w, "s.false", 0));
    CHECK_OK(llm_gguf_writer_add_str(w, "s.str", "{% for m in messages %}\"q\"\\"));
    CHECK_OK(llm_gguf_writer_add_str(w, "s.empty", ""));
    CHECK_OK(llm_gguf_writer_add_u32(w, "s.replaced", 1));
    CHECK_OK(llm_gguf_writer_add_u32(w, "s.replaced", 2)); /* same key: replaces the value */
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        CHECK_OK(llm_gguf_writer_add_array(w, arrays[i].key, arrays[i].type, arrays[i].data,
                                           arrays[i].count));
    CHECK_OK(llm_gguf_writer_add_str_array(w, "arr.str", strs, str_lens, 5));
    CHECK_OK(llm_gguf_writer_add_str_array(w, "arr.strz", strs, NULL, 4)); /* strlen */
    CHECK(llm_gguf_writer_add_array(w, "bad", LLM_GGUF_STRING, strs, 1) == CLG_ERR_INVALID_ARG);
    uint8_t two = 2;
    CHECK(llm_gguf_writer_add_array(w, "bad", LLM_GGUF_BOOL, &two, 1) == CLG_ERR_INVALID_ARG);
    CHECK(llm_gguf_writer_add_u32(w, "general.alignment", 3) == CLG_ERR_INVALID_ARG);

    for (size_t i = 0; i < N_TENSORS; i++) {
        size_t n = tensor_bytes(&tensors[i]);
        data[i] = malloc(n ? n : 1);
        for (size_t j = 0; j < n; j++)
            data[i][j] = (uint8_t)(tc_randu() & 0xff);
        if (tensors[i].dtype == LLM_DTYPE_F16 || tensors[i].dtype == LLM_DTYPE_BF16)
            for (size_t j = 1; j < n; j += 2)
                data[i][j] &= 0x3f; /* finite halves */
        CHECK_OK(llm_gguf_writer_add_tensor(w, tensors[i].name, tensors[i].dtype, tensors[i].n_dims,
                                            tensors[i].ne, data[i]));
    }
    uint64_t bad_ne[2] = {33, 1};
    CHECK(llm_gguf_writer_add_tensor(w, "bad", LLM_DTYPE_Q8_0, 2, bad_ne, data[0]) ==
          CLG_ERR_INVALID_ARG);
    CHECK(llm_gguf_writer_add_tensor(w, "t.f32", LLM_DTYPE_F32, 1, tensors[0].ne, data[0]) ==
          CLG_ERR_INVALID_ARG);
    CHECK(llm_gguf_writer_add_tensor(w, "bad", LLM_DTYPE_F32, 5, tensors[0].ne, data[0]) ==
          CLG_ERR_INVALID_ARG);
    CHECK(llm_gguf_writer_add_tensor(w, "bad", 4, 1, tensors[0].ne, data[0]) ==
          CLG_ERR_INVALID_ARG); /* q4_2: retired from ggml */
    uint64_t k_ne[1] = {128};
    CHECK(llm_gguf_writer_add_tensor(w, "bad", 16, 1, k_ne, data[0]) == CLG_ERR_INVALID_ARG);
    CHECK_OK(llm_gguf_writer_write(w, path));

    CHECK_OK(llm_gguf_open(path, &f));
    if (!f) goto done;
    CHECK(llm_gguf_version(f) == 3);
    CHECK(llm_gguf_alignment(f) == alignment);
    CHECK(llm_gguf_data_offset(f) % alignment == 0);
    CHECK(llm_gguf_file_size(f) % alignment == 0);
    CHECK(llm_gguf_kv_count(f) == 13 + sizeof arrays / sizeof arrays[0] + (alignment != 32));
    CHECK(llm_gguf_find_key(f, "general.alignment") == (alignment != 32 ? 0 : -1));

    llm_gguf_str s;
    uint64_t u64;
    int64_t i64;
    uint32_t u32;
    float f32;
    int b;
    CHECK_OK(llm_gguf_get_str(f, "general.architecture", &s));
    CHECK(str_is(s, "llama"));
    CHECK_OK(llm_gguf_get_u32(f, "s.u32", &u32));
    CHECK(u32 == 4000000000u);
    CHECK_OK(llm_gguf_get_u64(f, "s.u32", &u64));
    CHECK(u64 == 4000000000u);
    CHECK_OK(llm_gguf_get_i64(f, "s.u32", &i64));
    CHECK(i64 == 4000000000ll);
    CHECK_OK(llm_gguf_get_i64(f, "s.i32", &i64));
    CHECK(i64 == -42);
    CHECK(llm_gguf_get_u64(f, "s.i32", &u64) == CLG_ERR_FORMAT);
    CHECK(strstr(clg_last_error(), "s.i32") != NULL);
    CHECK(llm_gguf_get_u32(f, "s.u64", &u32) == CLG_ERR_FORMAT);
    CHECK_OK(llm_gguf_get_u64(f, "s.u64", &u64));
    CHECK(u64 == 1ull << 50);
    CHECK(llm_gguf_get_i64(f, "s.u64max", &i64) == CLG_ERR_FORMAT);
    CHECK_OK(llm_gguf_get_f32(f, "s.f32", &f32));
    CHECK(f32 == 1e-5f);
    CHECK(llm_gguf_get_f32(f, "s.u32", &f32) == CLG_ERR_FORMAT);
    CHECK(strstr(clg_last_error(), "s.u32") && strstr(clg_last_error(), "uint32"));
    CHECK_OK(llm_gguf_get_bool(f, "s.bool", &b));
    CHECK(b == 1);
    CHECK_OK(llm_gguf_get_bool(f, "s.false", &b));
    CHECK(b == 0);
    CHECK(llm_gguf_get_bool(f, "s.u32", &b) == CLG_ERR_FORMAT);
    CHECK_OK(llm_gguf_get_str(f, "s.str", &s));
    CHECK(str_is(s, "{% for m in messages %}\"q\"\\"));
    CHECK_OK(llm_gguf_get_str(f, "s.empty", &s));
    CHECK(s.len == 0);
    CHECK(llm_gguf_get_str(f, "s.u32", &s) == CLG_ERR_FORMAT);
    CHECK_OK(llm_gguf_get_u32(f, "s.replaced", &u32));
    CHECK(u32 == 2);
    CHECK(llm_gguf_get_u32(f, "no.such.key", &u32) == CLG_ERR_NOT_FOUND);
    CHECK(strstr(clg_last_error(), "no.such.key") != NULL);
    CHECK(llm_gguf_find_key(f, "no.such.key") == -1);

    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        const arr_case *a = &arrays[i];
        llm_gguf_type et;
        uint64_t count = 99;
        const void *p = NULL;
        int64_t k = llm_gguf_find_key(f, a->key);
        CHECK(k >= 0 && llm_gguf_kv_type(f, (uint64_t)k) == LLM_GGUF_ARRAY);
        CHECK_OK(llm_gguf_get_array(f, a->key, &et, &count));
        CHECK(et == a->type && count == a->count);
        CHECK_OK(llm_gguf_array_data(f, a->key, &p));
        CHECK(p && (a->count == 0 || !memcmp(p, a->data, a->count * a->elem)));
    }
    llm_gguf_type et;
    uint64_t count = 0;
    CHECK_OK(llm_gguf_get_array(f, "arr.str", &et, &count));
    CHECK(et == LLM_GGUF_STRING && count == 5);
    for (uint64_t i = 0; i < 5; i++) {
        CHECK_OK(llm_gguf_array_str(f, "arr.str", i, &s));
        CHECK(s.len == str_lens[i] && !memcmp(s.ptr, strs[i], s.len));
    }
    CHECK_OK(llm_gguf_array_str(f, "arr.strz", 3, &s));
    CHECK(str_is(s, strs[3]));
    CHECK(llm_gguf_array_str(f, "arr.str", 5, &s) == CLG_ERR_INVALID_ARG);
    CHECK(llm_gguf_array_str(f, "arr.u8", 0, &s) == CLG_ERR_FORMAT);
    const void *p;
    CHECK(llm_gguf_array_data(f, "arr.str", &p) == CLG_ERR_FORMAT);
    CHECK(llm_gguf_get_u32(f, "arr.u32", &u32) == CLG_ERR_FORMAT);
    CHECK(strstr(clg_last_error(), "array") != NULL);
    CHECK(llm_gguf_get_array(f, "s.u32", &et, &count) == CLG_ERR_FORMAT);

    CHECK(llm_gguf_tensor_count(f) == N_TENSORS);
    for (size_t i = 0; i < N_TENSORS; i++) {
        const llm_gguf_tensor *t = llm_gguf_tensor_at(f, i);
        const tensor_case *c = &tensors[i];
        CHECK(t && str_is(t->name, c->name));
        if (!t) continue;
        CHECK(llm_gguf_find_tensor(f, c->name) == t);
        CHECK(t->dtype == c->dtype && t->n_dims == c->n_dims);
        if (strcmp(c->name, "t.empty")) /* "t.<type name>" */
            CHECK(llm_dtype_name(t->dtype) && !strcmp(llm_dtype_name(t->dtype), c->name + 2));
        CHECK(!memcmp(t->ne, c->ne, sizeof t->ne));
        CHECK(t->n_elems == c->ne[0] * c->ne[1] * c->ne[2] * c->ne[3]);
        CHECK(t->bytes == tensor_bytes(c));
        CHECK(t->offset % alignment == 0);
        CHECK((llm_gguf_data_offset(f) + t->offset) % alignment == 0);
        CHECK(t->bytes == 0 || !memcmp(t->data, data[i], t->bytes));
    }
    CHECK(llm_gguf_tensor_at(f, N_TENSORS) == NULL);
    CHECK(llm_gguf_find_tensor(f, "t.nope") == NULL);
    CHECK(llm_gguf_kv_key(f, 1000).ptr == NULL);

    /* copy_kv, then write and compare the stored bytes of every key */
    {
        char path2[512];
        llm_gguf_writer *w2 = NULL;
        llm_gguf *f2 = NULL;
        tmp_path(path2, sizeof path2, "copy");
        CHECK_OK(llm_gguf_writer_create(&w2));
        CHECK_OK(llm_gguf_writer_copy_kv(w2, f));
        CHECK_OK(llm_gguf_writer_add_u32(w2, "s.replaced", 3));
        CHECK_OK(llm_gguf_writer_write(w2, path2));
        CHECK_OK(llm_gguf_open(path2, &f2));
        if (f2) {
            CHECK(llm_gguf_kv_count(f2) == llm_gguf_kv_count(f));
            CHECK(llm_gguf_alignment(f2) == alignment);
            CHECK_OK(llm_gguf_get_u32(f2, "s.replaced", &u32));
            CHECK(u32 == 3);
            CHECK_OK(llm_gguf_writer_add_u32(w2, "s.replaced", 2));
        }
        llm_gguf_close(f2);
        f2 = NULL;
        CHECK_OK(llm_gguf_writer_write(w2, path2));
        CHECK_OK(llm_gguf_open(path2, &f2));
        if (f2) same_kvs(f, f2);
        llm_gguf_close(f2);
        llm_gguf_writer_destroy(w2);
        remove(path2);
    }
done:
    llm_gguf_close(f);
    llm_gguf_writer_destroy(w);
    for (size_t i = 0; i < N_TENSORS; i++)
        free(data[i]);
    remove(path);
}

/* ---- nested arrays: built by hand (the writer has no nested-array call), copied by copy_kv ----
 */

typedef struct bytes {
    uint8_t b[1024];
    size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t n) {
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put32(bytes *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}
static void put64(bytes *o, uint64_t v) {
    put32(o, (uint32_t)v);
    put32(o, (uint32_t)(v >> 32));
}
static void putstr(bytes *o, const char *s) {
    put64(o, strlen(s));
    put(o, s, strlen(s));
}

static void nested_arrays(void) {
    static bytes o;
    o.n = 0;
    printf("nested arrays\n");
    put32(&o, 0x46554747u);
    put32(&o, 2); /* a v2 file */
    put64(&o, 0); /* tensors */
    put64(&o, 3); /* kvs */
    /* [[1, 2], [3]] of int32 */
    putstr(&o, "nested.ints");
    put32(&o, LLM_GGUF_ARRAY);
    put32(&o, LLM_GGUF_ARRAY);
    put64(&o, 2);
    put32(&o, LLM_GGUF_INT32), put64(&o, 2), put32(&o, 1), put32(&o, 2);
    put32(&o, LLM_GGUF_INT32), put64(&o, 1), put32(&o, 3);
    /* [["a", "bc"], [], [[true]]] : arrays of strings, empty and deeper */
    putstr(&o, "nested.mixed");
    put32(&o, LLM_GGUF_ARRAY);
    put32(&o, LLM_GGUF_ARRAY);
    put64(&o, 3);
    put32(&o, LLM_GGUF_STRING), put64(&o, 2), putstr(&o, "a"), putstr(&o, "bc");
    put32(&o, LLM_GGUF_UINT8), put64(&o, 0);
    put32(&o, LLM_GGUF_ARRAY), put64(&o, 1), put32(&o, LLM_GGUF_BOOL), put64(&o, 1);
    uint8_t one = 1;
    put(&o, &one, 1);
    putstr(&o, "after");
    put32(&o, LLM_GGUF_UINT16);
    uint8_t v16[2] = {0x34, 0x12};
    put(&o, v16, 2);

    llm_gguf *f = NULL;
    CHECK_OK(llm_gguf_open_memory(o.b, o.n, &f));
    if (!f) return;
    CHECK(llm_gguf_version(f) == 2 && llm_gguf_kv_count(f) == 3 && llm_gguf_tensor_count(f) == 0);
    llm_gguf_type et;
    uint64_t count;
    CHECK_OK(llm_gguf_get_array(f, "nested.ints", &et, &count));
    CHECK(et == LLM_GGUF_ARRAY && count == 2);
    CHECK_OK(llm_gguf_get_array(f, "nested.mixed", &et, &count));
    CHECK(et == LLM_GGUF_ARRAY && count == 3);
    const void *p;
    CHECK(llm_gguf_array_data(f, "nested.ints", &p) == CLG_ERR_FORMAT);
    uint32_t u32;
    CHECK_OK(llm_gguf_get_u32(f, "after", &u32));
    CHECK(u32 == 0x1234);

    char path[512];
    llm_gguf_writer *w = NULL;
    llm_gguf *f2 = NULL;
    tmp_path(path, sizeof path, "nested");
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_copy_kv(w, f));
    CHECK_OK(llm_gguf_writer_write(w, path));
    CHECK_OK(llm_gguf_open(path, &f2));
    if (f2) {
        CHECK(llm_gguf_version(f2) == 3 && llm_gguf_kv_count(f2) == 3);
        same_kvs(f, f2);
    }
    llm_gguf_close(f2);
    llm_gguf_writer_destroy(w);
    llm_gguf_close(f);
    remove(path);
}

/* ---- the real model ----------------------------------------------------- */

static void real_model(void) {
    const char *path = getenv("CLGRAPH_TEST_MODEL");
    llm_gguf *f = NULL;
    printf("model %s\n", path ? path : "(CLGRAPH_TEST_MODEL not set)");
    CHECK(path != NULL);
    if (!path) return;
    CHECK_OK(llm_gguf_open(path, &f));
    if (!f) return;
    /* facts from the Python gguf package's GGUFReader on the same file */
    llm_gguf_str s;
    uint32_t u32;
    float f32;
    int b;
    CHECK(llm_gguf_version(f) == 3 && llm_gguf_alignment(f) == 32);
    CHECK(llm_gguf_kv_count(f) == 33 && llm_gguf_tensor_count(f) == 272);
    CHECK(llm_gguf_data_offset(f) == 1785664 && llm_gguf_file_size(f) == 98362432);
    CHECK_OK(llm_gguf_get_str(f, "general.architecture", &s));
    CHECK(str_is(s, "llama"));
    CHECK_OK(llm_gguf_get_u32(f, "llama.block_count", &u32));
    CHECK(u32 == 30);
    CHECK_OK(llm_gguf_get_u32(f, "llama.embedding_length", &u32));
    CHECK(u32 == 576);
    CHECK_OK(llm_gguf_get_u32(f, "llama.feed_forward_length", &u32));
    CHECK(u32 == 1536);
    CHECK_OK(llm_gguf_get_u32(f, "llama.attention.head_count", &u32));
    CHECK(u32 == 9);
    CHECK_OK(llm_gguf_get_u32(f, "llama.attention.head_count_kv", &u32));
    CHECK(u32 == 3);
    CHECK_OK(llm_gguf_get_f32(f, "llama.rope.freq_base", &f32));
    CHECK(f32 == 100000.0f);
    CHECK_OK(llm_gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &f32));
    CHECK(f32 == 1e-5f);
    CHECK_OK(llm_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b));
    CHECK(b == 0);
    CHECK_OK(llm_gguf_get_str(f, "tokenizer.ggml.model", &s));
    CHECK(str_is(s, "gpt2"));
    CHECK_OK(llm_gguf_get_str(f, "tokenizer.ggml.pre", &s));
    CHECK(str_is(s, "smollm"));
    CHECK_OK(llm_gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &u32));
    CHECK(u32 == 2);
    llm_gguf_type et;
    uint64_t count;
    CHECK_OK(llm_gguf_get_array(f, "tokenizer.ggml.tokens", &et, &count));
    CHECK(et == LLM_GGUF_STRING && count == 49152);
    CHECK_OK(llm_gguf_array_str(f, "tokenizer.ggml.tokens", 0, &s));
    CHECK(str_is(s, "<|endoftext|>"));
    CHECK_OK(llm_gguf_array_str(f, "tokenizer.ggml.tokens", 1, &s));
    CHECK(str_is(s, "<|im_start|>"));
    CHECK_OK(llm_gguf_array_str(f, "tokenizer.ggml.tokens", 49151, &s));
    CHECK(str_is(s, "ectable"));
    CHECK_OK(llm_gguf_get_array(f, "tokenizer.ggml.merges", &et, &count));
    CHECK(et == LLM_GGUF_STRING && count == 48900);
    CHECK_OK(llm_gguf_array_str(f, "tokenizer.ggml.merges", 0, &s));
    CHECK(str_is(s, "\xc4\xa0 t"));
    CHECK_OK(llm_gguf_get_array(f, "tokenizer.ggml.token_type", &et, &count));
    CHECK(et == LLM_GGUF_INT32 && count == 49152);
    CHECK_OK(llm_gguf_get_str(f, "tokenizer.chat_template", &s));
    CHECK(s.len > 30 && !memcmp(s.ptr, "{% for message in messages %}", 29));

    const llm_gguf_tensor *t = llm_gguf_find_tensor(f, "token_embd.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK(t->dtype == LLM_DTYPE_Q8_0 && t->n_dims == 2 && t->ne[0] == 576 &&
              t->ne[1] == 49152 && t->ne[2] == 1 && t->offset == 0 && t->bytes == 30081024);
        CHECK(t->n_elems == 576ull * 49152);
    }
    /* a row of each type, against gguf.quants.dequantize on the same file */
    static const struct {
        const char *name;
        int dtype;
        uint64_t offset;
        float first[4], last;
        double row0_sum;
    } rows[] = {
        {"token_embd.weight",
         LLM_DTYPE_Q8_0,
         0,
         {-0.10654449462890625f, 0.032978057861328125f, 0.048198699951171875f,
          -0.022830963134765625f},
         -0.0417022705078125f,
         -2.2541093826293945},
        {"blk.0.attn_q.weight",
         LLM_DTYPE_Q4_1,
         32020992,
         {-0.0963134765625f, 0.1573486328125f, -0.0963134765625f, -0.73046875f},
         -0.255859375f,
         1.00726318359375},
        {"output_norm.weight",
         LLM_DTYPE_F32,
         96574464,
         {1.7578125f, 1.8203125f, 1.78125f, 1.6015625f},
         1.984375f,
         1038.33203125},
        {"blk.29.ffn_down.weight",
         LLM_DTYPE_Q4_1,
         78845184,
         {-0.2733154296875f, 0.186279296875f, 0.186279296875f, 0.04840087890625f},
         0.056640625f,
         -2.241424560546875},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        t = llm_gguf_find_tensor(f, rows[i].name);
        CHECK(t && t->dtype == rows[i].dtype && t->offset == rows[i].offset);
        if (!t || t->dtype != rows[i].dtype) continue;
        float *x = malloc(t->n_elems * sizeof *x);
        CHECK_OK(llm_dequantize(t->dtype, t->data, x, t->n_elems));
        double sum = 0;
        for (size_t j = 0; j < 576; j++)
            sum += x[j];
        CHECK(!memcmp(x, rows[i].first, sizeof rows[i].first));
        CHECK(x[t->n_elems - 1] == rows[i].last);
        CHECK(fabs(sum - rows[i].row0_sum) < 1e-6);
        printf("  %s: row 0 sum %.9g (want %.9g)\n", rows[i].name, sum, rows[i].row0_sum);
        free(x);
    }
    /* every tensor inside the file, aligned, and the data section fully used */
    uint64_t end = 0, total = 0;
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++) {
        t = llm_gguf_tensor_at(f, i);
        CHECK(t->offset % 32 == 0);
        total += t->bytes;
        if (t->offset + t->bytes > end) end = t->offset + t->bytes;
    }
    CHECK(llm_gguf_data_offset(f) + end == llm_gguf_file_size(f));
    CHECK(total <= end);

    /* all metadata copied into a new file reads back identical */
    char out[512];
    llm_gguf_writer *w = NULL;
    llm_gguf *f2 = NULL;
    tmp_path(out, sizeof out, "smol");
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_copy_kv(w, f));
    t = llm_gguf_find_tensor(f, "output_norm.weight");
    if (t)
        CHECK_OK(llm_gguf_writer_add_tensor(w, "output_norm.weight", t->dtype, t->n_dims, t->ne,
                                            t->data));
    CHECK_OK(llm_gguf_writer_write(w, out));
    CHECK_OK(llm_gguf_open(out, &f2));
    if (f2) {
        same_kvs(f, f2);
        size_t bad = 0;
        for (uint64_t i = 0; i < 49152; i++) {
            llm_gguf_str a, c;
            if (llm_gguf_array_str(f, "tokenizer.ggml.tokens", i, &a) != CLG_OK ||
                llm_gguf_array_str(f2, "tokenizer.ggml.tokens", i, &c) != CLG_OK ||
                a.len != c.len || memcmp(a.ptr, c.ptr, a.len))
                bad++;
        }
        CHECK(bad == 0);
        const llm_gguf_tensor *t2 = llm_gguf_find_tensor(f2, "output_norm.weight");
        CHECK(t && t2 && t2->bytes == t->bytes && !memcmp(t2->data, t->data, t->bytes));
    }
    llm_gguf_close(f2);
    llm_gguf_writer_destroy(w);
    remove(out);
    llm_gguf_close(f);

    CHECK(llm_gguf_open("/nonexistent/model.gguf", &f) == CLG_ERR_NOT_FOUND && f == NULL);
    CHECK(strstr(clg_last_error(), "/nonexistent/model.gguf") != NULL);
}

/* llm_gguf_release drops pages of a mapped tensor: its bytes read back unchanged (from the
 * file), the metadata stays readable, and ranges outside the mapping are ignored. */
static void release_pages(void) {
    enum { N = 48 * 1024 + 7 }; /* ~190 KiB of f32: whole pages inside the tensor */
    float *v = malloc(N * sizeof *v);
    char path[512];
    llm_gguf_writer *w = NULL;
    llm_gguf *f = NULL;
    if (!v) return;
    tc_fill(v, N, -1.0f, 1.0f);
    tmp_path(path, sizeof path, "release");
    CHECK_OK(llm_gguf_writer_create(&w));
    CHECK_OK(llm_gguf_writer_add_str(w, "general.architecture", "llama"));
    const uint64_t ne[1] = {N};
    CHECK_OK(llm_gguf_writer_add_tensor(w, "big", LLM_DTYPE_F32, 1, ne, v));
    CHECK_OK(llm_gguf_writer_write(w, path));
    llm_gguf_writer_destroy(w);
    CHECK_OK(llm_gguf_open(path, &f));
    const llm_gguf_tensor *t = f ? llm_gguf_find_tensor(f, "big") : NULL;
    CHECK(t != NULL);
    if (t) {
        CHECK(memcmp(t->data, v, N * sizeof *v) == 0);
        llm_gguf_release(f, t->data, (size_t)t->bytes);
        llm_gguf_release(f, v, N * sizeof *v); /* not in the mapping: ignored */
        llm_gguf_release(f, NULL, 1);
        CHECK(memcmp(t->data, v, N * sizeof *v) == 0);
        llm_gguf_str s;
        CHECK_OK(llm_gguf_get_str(f, "general.architecture", &s));
        CHECK(str_is(s, "llama"));
    }
    llm_gguf_close(f);
    remove(path);
    free(v);
}

int main(void) {
    tc_seed(11);
    release_pages();
    round_trip(32);
    round_trip(64);
    round_trip(1);
    nested_arrays();
    real_model();
    return tc_finish("gguf");
}
