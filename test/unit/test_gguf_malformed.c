/* Malformed GGUF files, generated in memory from a small valid file built by hand: truncation at
 * every byte, oversized counts and lengths, unknown types, bad offsets, overflowing shapes, bad
 * magic and versions, plus random mutations. Each must fail with CLG_ERR_FORMAT and a message
 * naming the field and its offset, never crash (run under ASan/UBSan in CI: exact-size copies). */
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "test_common.h"

/* ---- the valid file, with the offset of every field ---------------------- */

enum { N_KV = 7, N_T = 2 };

typedef struct layout {
    size_t n_tensors, n_kv;
    size_t key_len[N_KV], key[N_KV], type[N_KV], val[N_KV];
    size_t arr_etype, arr_count, arr_str0_len, nums_count, nest_inner_etype;
    size_t t_name_len[N_T], t_name[N_T], t_ndims[N_T], t_ne[N_T], t_type[N_T], t_off[N_T];
    size_t infos_end, data, data_end;
} layout;

typedef struct bytes {
    uint8_t b[4096];
    size_t n;
} bytes;

static size_t put(bytes *o, const void *p, size_t n) {
    size_t at = o->n;
    memcpy(o->b + o->n, p, n);
    o->n += n;
    return at;
}
static size_t put32(bytes *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return put(o, b, 4);
}
static size_t put64(bytes *o, uint64_t v) {
    size_t at = put32(o, (uint32_t)v);
    put32(o, (uint32_t)(v >> 32));
    return at;
}
static size_t put_str(bytes *o, const char *s) {
    size_t at = put64(o, strlen(s));
    put(o, s, strlen(s));
    return at;
}
static void pad32(bytes *o) {
    while (o->n % 32)
        o->b[o->n++] = 0;
}

/* kv0 "test.a" = "hello", kv1 "test.b" = u32 5, kv2 general.alignment = 32,
 * kv3 "test.arr" = ["x", "yz", ""], kv4 "test.nums" = i16 [1, 2, 3], kv5 "test.flag" = true,
 * kv6 "test.nest" = [[u8 7]]; tensors t0 f32 [8, 2] at 0, t1 q8_0 [32] at 64. */
static void build(bytes *o, layout *l) {
    memset(l, 0, sizeof *l);
    o->n = 0;
    put32(o, 0x46554747u);
    put32(o, 3);
    l->n_tensors = put64(o, N_T);
    l->n_kv = put64(o, N_KV);
    static const char *const keys[N_KV] = {
        "test.a", "test.b", "general.alignment", "test.arr", "test.nums", "test.flag", "test.nest"};
    static const uint32_t types[N_KV] = {LLM_GGUF_STRING, LLM_GGUF_UINT32, LLM_GGUF_UINT32,
                                         LLM_GGUF_ARRAY,  LLM_GGUF_ARRAY,  LLM_GGUF_BOOL,
                                         LLM_GGUF_ARRAY};
    for (int i = 0; i < N_KV; i++) {
        l->key_len[i] = put_str(o, keys[i]);
        l->key[i] = l->key_len[i] + 8;
        l->type[i] = put32(o, types[i]);
        l->val[i] = o->n;
        switch (i) {
        case 0:
            put_str(o, "hello");
            break;
        case 1:
            put32(o, 5);
            break;
        case 2:
            put32(o, 32);
            break;
        case 3:
            l->arr_etype = put32(o, LLM_GGUF_STRING);
            l->arr_count = put64(o, 3);
            l->arr_str0_len = put_str(o, "x");
            put_str(o, "yz");
            put_str(o, "");
            break;
        case 4:
            put32(o, LLM_GGUF_INT16);
            l->nums_count = put64(o, 3);
            put(o, "\1\0\2\0\3\0", 6);
            break;
        case 5:
            put(o, "\1", 1);
            break;
        case 6:
            put32(o, LLM_GGUF_ARRAY);
            put64(o, 1);
            l->nest_inner_etype = put32(o, LLM_GGUF_UINT8);
            put64(o, 1);
            put(o, "\7", 1);
            break;
        }
    }
    static const char *const names[N_T] = {"t0", "t1"};
    static const uint32_t dims[N_T] = {2, 1}, ttype[N_T] = {LLM_DTYPE_F32, LLM_DTYPE_Q8_0};
    static const uint64_t ne[N_T][2] = {{8, 2}, {32, 0}}, off[N_T] = {0, 64};
    for (int i = 0; i < N_T; i++) {
        l->t_name_len[i] = put_str(o, names[i]);
        l->t_name[i] = l->t_name_len[i] + 8;
        l->t_ndims[i] = put32(o, dims[i]);
        l->t_ne[i] = o->n;
        for (uint32_t d = 0; d < dims[i]; d++)
            put64(o, ne[i][d]);
        l->t_type[i] = put32(o, ttype[i]);
        l->t_off[i] = put64(o, off[i]);
    }
    l->infos_end = o->n;
    pad32(o);
    l->data = o->n;
    for (int i = 0; i < 64 + 34; i++)
        o->b[o->n++] = (uint8_t)(i * 7 + 1);
    l->data_end = o->n;
    pad32(o);
}

static bytes base;
static layout L;

/* ---- opening and walking -------------------------------------------------- */

/* Touches everything a valid handle exposes (as the fuzzer does). Returns a checksum. */
static uint64_t walk(const llm_gguf *f) {
    uint64_t sum = llm_gguf_version(f) + llm_gguf_alignment(f) + llm_gguf_data_offset(f);
    for (uint64_t i = 0; i < llm_gguf_kv_count(f); i++) {
        llm_gguf_str k = llm_gguf_kv_key(f, i);
        char key[128];
        if (k.len >= sizeof key) continue;
        memcpy(key, k.ptr, k.len);
        key[k.len] = 0;
        uint64_t u;
        int64_t s;
        uint32_t u32;
        float x;
        int b;
        llm_gguf_str str;
        llm_gguf_type et;
        uint64_t count;
        const void *p;
        sum += (uint64_t)llm_gguf_find_key(f, key) + llm_gguf_kv_type(f, i);
        if (llm_gguf_get_u64(f, key, &u) == CLG_OK) sum += u;
        if (llm_gguf_get_i64(f, key, &s) == CLG_OK) sum += (uint64_t)s;
        if (llm_gguf_get_u32(f, key, &u32) == CLG_OK) sum += u32;
        if (llm_gguf_get_f32(f, key, &x) == CLG_OK) sum += x == x;
        if (llm_gguf_get_bool(f, key, &b) == CLG_OK) sum += (uint64_t)b;
        if (llm_gguf_get_str(f, key, &str) == CLG_OK)
            for (uint64_t j = 0; j < str.len; j++)
                sum += (uint8_t)str.ptr[j];
        if (llm_gguf_get_array(f, key, &et, &count) != CLG_OK) continue;
        if (et == LLM_GGUF_STRING) {
            for (uint64_t j = 0; j < count; j++)
                if (llm_gguf_array_str(f, key, j, &str) == CLG_OK && str.len)
                    sum += (uint8_t)str.ptr[0] + (uint8_t)str.ptr[str.len - 1];
        } else if (llm_gguf_array_data(f, key, &p) == CLG_OK) {
            size_t es = et == LLM_GGUF_UINT8 || et == LLM_GGUF_INT8 || et == LLM_GGUF_BOOL ? 1
                        : et == LLM_GGUF_UINT16 || et == LLM_GGUF_INT16                    ? 2
                        : et == LLM_GGUF_UINT64 || et == LLM_GGUF_INT64 || et == LLM_GGUF_FLOAT64
                            ? 8
                            : 4;
            for (uint64_t j = 0; j < count * es; j++)
                sum += ((const uint8_t *)p)[j];
        }
    }
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++) {
        const llm_gguf_tensor *t = llm_gguf_tensor_at(f, i);
        char name[128];
        if (t->name.len < sizeof name) {
            memcpy(name, t->name.ptr, t->name.len);
            name[t->name.len] = 0;
            sum += llm_gguf_find_tensor(f, name) != NULL;
        }
        if (t->bytes)
            sum += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->bytes - 1];
        size_t be = llm_dtype_block_elems(t->dtype), n = t->n_elems < 4096 ? t->n_elems : 4096;
        n -= n % be;
        if (n) {
            float *y = malloc(n * sizeof *y);
            if (y && llm_dequantize(t->dtype, t->data, y, n) == CLG_OK) sum += y[0] == y[0];
            free(y);
        }
    }
    return sum;
}

/* Opens an exact-size copy: any read past the end is a heap overflow under ASan. */
static clg_status try_open(const uint8_t *b, size_t n, int *walked) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    llm_gguf *f = (llm_gguf *)(uintptr_t)1;
    clg_status st = llm_gguf_open_memory(copy, n, &f);
    if (st == CLG_OK) {
        walk(f);
        if (walked) (*walked)++;
        llm_gguf_close(f);
    } else {
        CHECK(f == NULL); /* the out-parameter is cleared on failure */
    }
    free(copy);
    return st;
}

static int n_cases;

/* The file must be rejected with CLG_ERR_FORMAT, naming an offset and (when given) the field. */
static void expect_bad(const char *what, const uint8_t *b, size_t n, const char *field) {
    n_cases++;
    clg_status st = try_open(b, n, NULL);
    const char *msg = clg_last_error();
    int ok = st == CLG_ERR_FORMAT && strstr(msg, "offset") && (!field || strstr(msg, field));
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "%s: got %s '%s', want CLG_ERR_FORMAT naming '%s' and an offset\n", what,
                clg_status_str(st), msg, field ? field : "");
    else if (field)
        printf("  %-28s %s\n", what, msg);
}

static void patch(const char *what, size_t off, int width, uint64_t v, const char *field) {
    static bytes m;
    m = base;
    for (int i = 0; i < width; i++)
        m.b[off + i] = (uint8_t)(v >> (8 * i));
    expect_bad(what, m.b, m.n, field);
}

/* ---- the cases ---------------------------------------------------------------- */

static void header_cases(void) {
    patch("bad magic", 0, 4, 0x46554746u, "magic");
    patch("version 1", 4, 4, 1, "v1");
    patch("version 0", 4, 4, 0, "version");
    patch("version 4", 4, 4, 4, "version");
    patch("big-endian", 4, 4, 0x03000000u, "big-endian");
    patch("kv count max", L.n_kv, 8, UINT64_MAX, "kv count");
    patch("kv count 2^40", L.n_kv, 8, 1ull << 40, "kv count");
    patch("kv count +1", L.n_kv, 8, N_KV + 1, NULL);
    patch("tensor count max", L.n_tensors, 8, UINT64_MAX, "tensor count");
    patch("tensor count 2^33", L.n_tensors, 8, 1ull << 33, "tensor count");
    patch("tensor count +1", L.n_tensors, 8, N_T + 1, NULL);
}

static void kv_cases(void) {
    patch("key length max", L.key_len[0], 8, UINT64_MAX, "key #0 name length");
    patch("key length = size", L.key_len[1], 8, base.n, "key #1 name length");
    patch("key length 0", L.key_len[1], 8, 0, "key #1 name");
    patch("duplicate key", L.key[1] + 5, 1, 'a', "duplicates");
    patch("value type 13", L.type[1], 4, 13, "value type");
    patch("value type max", L.type[0], 4, UINT32_MAX, "value type");
    patch("string length max", L.val[0], 8, UINT64_MAX, "string length");
    patch("string length +big", L.val[0], 8, base.n, "string length");
    patch("alignment 3", L.val[2], 4, 3, "general.alignment");
    patch("alignment 0", L.val[2], 4, 0, "general.alignment");
    patch("alignment as int32", L.type[2], 4, LLM_GGUF_INT32, "general.alignment");
    patch("alignment as u8", L.type[2], 4, LLM_GGUF_UINT8, NULL);
    patch("array element type", L.arr_etype, 4, 13, "element type");
    patch("array element array", L.arr_etype, 4, LLM_GGUF_ARRAY, NULL);
    patch("array count max", L.arr_count, 8, UINT64_MAX, "array count");
    patch("array count 2^61", L.arr_count, 8, 1ull << 61, "array count");
    patch("array count +1", L.arr_count, 8, 4, NULL);
    patch("string element length", L.arr_str0_len, 8, UINT64_MAX, "element 0");
    patch("numeric array count", L.nums_count, 8, 1ull << 62, "array count");
    patch("bool value 2", L.val[5], 1, 2, "bool");
    patch("nested element type", L.nest_inner_etype, 4, 200, "element 0");

    /* arrays nested deeper than the reader allows */
    static bytes d;
    d.n = 0;
    put32(&d, 0x46554747u);
    put32(&d, 3);
    put64(&d, 0);
    put64(&d, 1);
    put_str(&d, "deep");
    put32(&d, LLM_GGUF_ARRAY);
    for (int i = 0; i < 12; i++)
        put32(&d, LLM_GGUF_ARRAY), put64(&d, 1);
    put32(&d, LLM_GGUF_UINT8);
    put64(&d, 0);
    expect_bad("nesting 12 deep", d.b, d.n, "nests");
}

static void tensor_cases(void) {
    patch("tensor name length max", L.t_name_len[0], 8, UINT64_MAX, "tensor #0 name length");
    patch("tensor name length 0", L.t_name_len[1], 8, 0, "tensor #1 name");
    patch("duplicate tensor", L.t_name[1] + 1, 1, '0', "duplicates");
    patch("n_dims 0", L.t_ndims[0], 4, 0, "n_dims");
    patch("n_dims 5", L.t_ndims[1], 4, 5, "n_dims");
    patch("n_dims max", L.t_ndims[0], 4, UINT32_MAX, "n_dims");
    patch("ne max", L.t_ne[0], 8, UINT64_MAX, "ne[0]");
    patch("ne[1] 2^63", L.t_ne[0] + 8, 8, 1ull << 63, "ne[1]");
    static bytes m;
    m = base; /* 2^62 x 2 elements: more than 2^63 */
    for (int i = 0; i < 8; i++)
        m.b[L.t_ne[0] + i] = (uint8_t)((1ull << 62) >> (8 * i));
    expect_bad("element count overflow", m.b, m.n, "2^63");
    m = base; /* 2^61 x 2 f32: 2^64 bytes */
    for (int i = 0; i < 8; i++)
        m.b[L.t_ne[0] + i] = (uint8_t)((1ull << 61) >> (8 * i));
    expect_bad("byte size overflow", m.b, m.n, "overflows");
    patch("ne[0] 2^40 (past end)", L.t_ne[0], 8, 1ull << 40, "past the end");
    patch("q8_0 row 33", L.t_ne[1], 8, 33, "block");
    patch("type q4_2 (retired)", L.t_type[0], 4, 4, "q4_2");
    patch("type 99", L.t_type[1], 4, 99, "type");
    patch("type max", L.t_type[0], 4, UINT32_MAX, "type");
    patch("offset misaligned", L.t_off[1], 8, 65, "alignment");
    patch("offset 2^40", L.t_off[1], 8, 1ull << 40, "past the end");
    patch("offset near 2^64", L.t_off[1], 8, UINT64_MAX - 31, "past the end");
    patch("offset overlapping", L.t_off[1], 8, 32, "overlap");
    patch("offset equal", L.t_off[0], 8, 64, "overlap");
    expect_bad("data section cut", base.b, L.infos_end, "past the end");
    expect_bad("last tensor cut", base.b, L.data_end - 1, "past the end");
}

static void truncations(void) {
    size_t bad = 0;
    for (size_t n = 0; n < L.data_end; n++) {
        int before = tc_failures;
        expect_bad("truncated", base.b, n, n < 4 ? "magic" : NULL);
        if (tc_failures != before && bad++ < 3) fprintf(stderr, "  (truncated at %zu)\n", n);
    }
    printf("  truncation at each of %zu bytes: %zu accepted or unclear\n", L.data_end, bad);
    /* the padding after the last tensor is optional */
    int walked = 0;
    CHECK(try_open(base.b, L.data_end, &walked) == CLG_OK && walked == 1);
}

/* Random byte changes over the metadata: each result is either valid (and walked) or rejected
 * with CLG_ERR_FORMAT and a message with an offset. */
static void mutations(void) {
    static const uint64_t interesting[] = {
        0,          1,           2,           3,          4,          5,          7,         8,
        12,         13,          31,          32,         33,         64,         255,       256,
        0x7fffffff, 0x80000000u, 0xffffffffu, 1ull << 32, 1ull << 62, 1ull << 63, UINT64_MAX};
    static bytes m;
    int walked = 0, rejected = 0, other = 0;
    for (int iter = 0; iter < 20000; iter++) {
        m = base;
        int k = 1 + (int)(tc_randu() % 3);
        for (int j = 0; j < k; j++) {
            size_t at = tc_randu() % L.infos_end;
            if (tc_randu() % 2) {
                m.b[at] = (uint8_t)tc_randu();
            } else {
                uint64_t v = interesting[tc_randu() % (sizeof interesting / sizeof interesting[0])];
                int w = tc_randu() % 2 ? 4 : 8;
                for (int i = 0; i < w && at + i < m.n; i++)
                    m.b[at + i] = (uint8_t)(v >> (8 * i));
            }
        }
        size_t n = tc_randu() % 8 ? m.n : tc_randu() % m.n;
        clg_status st = try_open(m.b, n, &walked);
        if (st == CLG_OK) continue;
        if (st == CLG_ERR_FORMAT && strstr(clg_last_error(), "offset")) {
            rejected++;
        } else if (other++ < 3) {
            fprintf(stderr, "mutation %d: %s '%s'\n", iter, clg_status_str(st), clg_last_error());
        }
    }
    CHECK(other == 0);
    CHECK(rejected > 1000 && walked > 100); /* both paths were exercised */
    printf("  20000 mutations: %d valid and walked, %d rejected, %d other\n", walked, rejected,
           other);
}

int main(void) {
    tc_seed(3);
    build(&base, &L);
    int walked = 0;
    CHECK(try_open(base.b, base.n, &walked) == CLG_OK && walked == 1);
    llm_gguf *f = NULL;
    CHECK_OK(llm_gguf_open_memory(base.b, base.n, &f));
    if (f) { /* the base file is what build() says it is */
        const llm_gguf_tensor *t1 = llm_gguf_find_tensor(f, "t1");
        llm_gguf_str s;
        CHECK(llm_gguf_kv_count(f) == N_KV && llm_gguf_tensor_count(f) == N_T);
        CHECK(llm_gguf_data_offset(f) == L.data);
        CHECK(t1 && t1->offset == 64 && t1->bytes == 34 && t1->data == base.b + L.data + 64);
        CHECK(llm_gguf_array_str(f, "test.arr", 1, &s) == CLG_OK && s.len == 2);
    }
    llm_gguf_close(f);
    CHECK(llm_gguf_open_memory(NULL, 10, &f) == CLG_ERR_INVALID_ARG);

    header_cases();
    kv_cases();
    tensor_cases();
    truncations();
    mutations();
    printf("%d malformed files\n", n_cases);
    return tc_finish("gguf_malformed");
}
