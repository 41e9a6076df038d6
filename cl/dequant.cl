/* Dequantization of a weight matrix to f32, for products done by a BLAS library (the
 * prefill's library GEMM path: out = f32 copy of W, then out feeds an Sgemm).
 *
 * Layouts:
 *   W: [rows, cols] weight in GGUF/ggml block form, ne0 = cols contiguous, row r at byte
 *      r * row_bytes(cols) (see cl/matmul.cl for the block formats):
 *        f32  4 B/elem            f16  2 B/elem
 *        q8_0 {f16 d; i8 q[32]}   34 B / 32 elems, w = d*q
 *        q4_0 {f16 d; u8 q[16]}   18 B / 32 elems, w = d*(nib-8)
 *        q4_1 {f16 d, m; u8 q[16]} 20 B / 32 elems, w = d*nib + m
 *      (element j < 16 of a 4-bit block is the low nibble of q[j], j >= 16 the high nibble
 *      of q[j-16]); the quantized types need cols % 32 == 0 (the host checks it).
 *   out: [out_row0 + rows, cols] f32 row-major; rows out_row0 .. out_row0 + rows - 1 are
 *      written (two matrices can be stacked, e.g. the FFN gate above the up weights).
 * Kernels, for TY in f32, f16, q8_0, q4_0, q4_1:
 *   dequant_TY(W, out, rows, cols, out_row0)
 *   global = (ceil(cols / 32) rounded up to the local size, rows), local any: item (b, r)
 *   writes the 32 elements of row r from column 32 b (fewer at the end of an f32 / f16 row).
 */

/* f16 bits to float (as cl/matmul.cl: vload_half is a slow software routine on PoCL 3.1). */
static inline float half_bits(__global const uchar *p) {
    uint u = *(__global const ushort *)p, m = u & 0x7fffu;
    float f = m < 0x400u ? (float)m * 0x1p-24f : as_float((m << 13) + 0x38000000u);
    return as_float(as_uint(f) | ((u & 0x8000u) << 16));
}

/* The item's block, row and output row, or return when it lies outside. */
#define DEQUANT_ITEM                                                                       \
    const int b = get_global_id(0), r = get_global_id(1);                                  \
    if (r >= rows || b * 32 >= cols) return;                                               \
    __global float *o = out + ((size_t)out_row0 + r) * (size_t)cols + (size_t)b * 32

__kernel void dequant_f32(__global const uchar *W, __global float *out, int rows, int cols,
                          int out_row0) {
    DEQUANT_ITEM;
    __global const float *w = (__global const float *)W + (size_t)r * cols + (size_t)b * 32;
    const int n = min(32, cols - b * 32);
    for (int j = 0; j < n; j++) o[j] = w[j];
}

__kernel void dequant_f16(__global const uchar *W, __global float *out, int rows, int cols,
                          int out_row0) {
    DEQUANT_ITEM;
    __global const uchar *w = W + ((size_t)r * cols + (size_t)b * 32) * 2;
    const int n = min(32, cols - b * 32);
    for (int j = 0; j < n; j++) o[j] = half_bits(w + 2 * j);
}

__kernel void dequant_q8_0(__global const uchar *W, __global float *out, int rows, int cols,
                           int out_row0) {
    DEQUANT_ITEM;
    __global const uchar *p = W + ((size_t)r * (cols / 32) + b) * 34;
    const float d = half_bits(p);
    __global const char *q = (__global const char *)(p + 2);
    for (int j = 0; j < 32; j++) o[j] = d * (float)q[j];
}

__kernel void dequant_q4_0(__global const uchar *W, __global float *out, int rows, int cols,
                           int out_row0) {
    DEQUANT_ITEM;
    __global const uchar *p = W + ((size_t)r * (cols / 32) + b) * 18;
    const float d = half_bits(p);
    for (int j = 0; j < 16; j++) {
        const uchar q = p[2 + j];
        o[j] = d * (float)((int)(q & 15) - 8);
        o[j + 16] = d * (float)((int)(q >> 4) - 8);
    }
}

__kernel void dequant_q4_1(__global const uchar *W, __global float *out, int rows, int cols,
                           int out_row0) {
    DEQUANT_ITEM;
    __global const uchar *p = W + ((size_t)r * (cols / 32) + b) * 20;
    const float d = half_bits(p), m = half_bits(p + 2);
    for (int j = 0; j < 16; j++) {
        const uchar q = p[4 + j];
        o[j] = d * (float)(q & 15) + m;
        o[j + 16] = d * (float)(q >> 4) + m;
    }
}
