/* Device probe kernels: memory read bandwidth in two access patterns and an empty
 * kernel for launch overhead.
 *   x: [n] float4, filled by probe_fill; out: [global size] float partial sums.
 * probe_read_rows: work-item i sums the contiguous chunk [i*chunk, (i+1)*chunk)
 *   (the pattern CPU devices like). probe_read_strided: work-item i sums
 *   x[i], x[i+G], ... (neighbouring work-items read neighbouring data: GPUs). */

__kernel void probe_fill(__global float4 *x, const uint n) {
    uint i = get_global_id(0);
    if (i < n) x[i] = (float4)((float)(i & 255), 1.0f, 2.0f, 3.0f);
}

__kernel void probe_read_rows(__global const float4 *x, __global float *out, const uint chunk) {
    uint i = get_global_id(0);
    __global const float4 *p = x + (size_t)i * chunk;
    float4 acc = (float4)(0.0f);
    for (uint k = 0; k < chunk; k++) acc += p[k];
    out[i] = acc.x + acc.y + acc.z + acc.w;
}

__kernel void probe_read_strided(__global const float4 *x, __global float *out, const uint n) {
    uint i = get_global_id(0);
    uint g = get_global_size(0);
    float4 acc = (float4)(0.0f);
    for (uint k = i; k < n; k += g) acc += x[k];
    out[i] = acc.x + acc.y + acc.z + acc.w;
}

__kernel void probe_empty(__global float *out) {
    if (get_global_id(0) == 0x7fffffff) out[0] = 0.0f;
}
