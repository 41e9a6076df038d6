/* Greedy sampling on the device: the index of the largest of n floats (the logits), so
 * that a decode step reads back 4 bytes instead of the vocabulary.
 *
 * Layouts:
 *   x:   [n] f32
 *   out: [1] int; out[0] = the lowest index i with x[i] == max(x); -1 when any entry is
 *        NaN or infinite (the caller reports it: a token chosen among NaNs is garbage);
 *        0 when n <= 0.
 *
 * Variant:
 *   argmax  one work-group of ARGMAX_WG items: item i scans x[i], x[i + ARGMAX_WG], ...,
 *           then a local-memory tree keeps the larger value, the lower index on ties.
 *           global = local = (ARGMAX_WG).
 *
 * Tunables:
 *   ARGMAX_WG  work-group size, a power of two (default 256).
 */
#ifndef ARGMAX_WG
#define ARGMAX_WG 256
#endif

#if (ARGMAX_WG & (ARGMAX_WG - 1)) != 0 || ARGMAX_WG < 1
#error "ARGMAX_WG must be a power of two"
#endif

__kernel void argmax(__global const float *x, int n, __global int *out) {
    __local float best_v[ARGMAX_WG];
    __local int best_i[ARGMAX_WG];
    __local int bad[ARGMAX_WG]; /* 1: a NaN or infinity was seen (OR-reduced with the max) */
    const int lid = (int)get_local_id(0);

    /* Indices rise along the scan, so a strict > keeps the first of equal values. */
    float v = -INFINITY;
    int bi = -1; /* -1: no candidate yet */
    int my_bad = 0;
    for (int i = lid; i < n; i += ARGMAX_WG) {
        const float xi = x[i];
        my_bad |= !isfinite(xi);
        if (xi > v || bi < 0) {
            v = xi;
            bi = i;
        }
    }
    best_v[lid] = v;
    best_i[lid] = bi;
    bad[lid] = my_bad;
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (int off = ARGMAX_WG / 2; off > 0; off >>= 1) {
        if (lid < off) {
            const float ov = best_v[lid + off];
            const int oi = best_i[lid + off];
            const float mv = best_v[lid];
            const int mi = best_i[lid];
            if (oi >= 0 && (mi < 0 || ov > mv || (ov == mv && oi < mi))) {
                best_v[lid] = ov;
                best_i[lid] = oi;
            }
            bad[lid] |= bad[lid + off];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[0] = bad[0] ? -1 : max(best_i[0], 0);
}
