/* Row selection: copies row `row` of src [*, n] into dst [n]; used to pick the
 * last token of a batch before the final norm and the logits product.
 * global = (n), local any. */
__kernel void copy_row(__global const float *src, __global float *dst, int n, int row) {
    int i = get_global_id(0);
    if (i < n) dst[i] = src[(size_t)row * n + i];
}
