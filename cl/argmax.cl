/* Greedy sampling on the device: the index of the largest of n floats (the logits) of each
 * row, so that a decode step reads back 4 bytes a row instead of the vocabulary.
 *
 * Layouts:
 *   x:   [rows, n] f32
 *   out: [rows] int; out[r] = the lowest index i with x[r*n + i] == max of row r; -1 when
 *        any entry of the row is NaN or infinite (the caller reports it: a token chosen
 *        among NaNs is garbage); 0 when n <= 0.
 *
 * Variant:
 *   argmax  one work-group of ARGMAX_WG items per row: item i scans the 8-float groups i,
 *           i + ARGMAX_WG, ... in 8 lanes (the tail beyond the last whole group one float
 *           per item), then a local-memory tree keeps the larger value, the lower index on
 *           ties. global = (ARGMAX_WG, rows), local = (ARGMAX_WG, 1).
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

/* (v, i) becomes (ov, oi) where oi is a candidate (>= 0) and beats it: larger, or equal
 * with a lower index. */
static inline void argmax_keep(float *v, int *i, float ov, int oi) {
    if (oi >= 0 && (*i < 0 || ov > *v || (ov == *v && oi < *i))) {
        *v = ov;
        *i = oi;
    }
}

__kernel void argmax(__global const float *x, int n, __global int *out) {
    __local float best_v[ARGMAX_WG];
    __local int best_i[ARGMAX_WG];
    __local int bad[ARGMAX_WG]; /* 1: a NaN or infinity was seen (OR-reduced with the max) */
    const int lid = (int)get_local_id(0);
    const int n8 = n & ~7;
    x += get_group_id(1) * (size_t)n; /* this work-group's row */
    out += get_group_id(1);

    /* Indices rise along each lane, so a strict > keeps the first of equal values; a lane
     * index -1 means no candidate yet (every value so far -INF or NaN: flagged anyway). */
    float8 v8 = (float8)(-INFINITY);
    int8 i8 = (int8)(-1), bad8 = (int8)(0);
    for (int i = 8 * lid; i < n8; i += 8 * ARGMAX_WG) {
        const float8 xv = vload8(0, x + i);
        const int8 gt = isgreater(xv, v8);
        bad8 |= isnan(xv) | isinf(xv);
        v8 = select(v8, xv, gt);
        i8 = select(i8, (int8)(i) + (int8)(0, 1, 2, 3, 4, 5, 6, 7), gt);
    }
    float lv[8];
    int li[8];
    vstore8(v8, 0, lv);
    vstore8(i8, 0, li);
    float v = -INFINITY;
    int bi = -1;
    for (int k = 0; k < 8; k++)
        argmax_keep(&v, &bi, lv[k], li[k]);
    int my_bad = any(bad8);
    for (int i = n8 + lid; i < n; i += ARGMAX_WG) {
        const float xi = x[i];
        my_bad |= !isfinite(xi);
        argmax_keep(&v, &bi, xi, i);
    }
    best_v[lid] = v;
    best_i[lid] = bi;
    bad[lid] = my_bad;
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (int off = ARGMAX_WG / 2; off > 0; off >>= 1) {
        if (lid < off) {
            float mv = best_v[lid];
            int mi = best_i[lid];
            argmax_keep(&mv, &mi, best_v[lid + off], best_i[lid + off]);
            best_v[lid] = mv;
            best_i[lid] = mi;
            bad[lid] |= bad[lid + off];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[0] = bad[0] ? -1 : max(best_i[0], 0);
}
