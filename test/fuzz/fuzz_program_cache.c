/* libFuzzer target for the program cache's entry check (runtime/program_cache.c): arbitrary
 * bytes checked against a fixed key must be refused with a reason or accepted with a payload
 * inside them that re-encodes to the same bytes; the bytes as a payload encode into an entry
 * that is accepted for its key and refused for any other. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "test/fuzz/program_cache_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clg_cache_key k = seed_key();
    const unsigned char *payload = NULL;
    size_t len = 0, n = 0;
    char why[400];

    /* Arbitrary bytes. A copy of exactly `size` bytes, so that ASan sees any read past it. */
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    if (clg_cache_entry_check(copy, size, &k, &payload, &len, why, sizeof why)) {
        if (!payload || !len || payload < copy || payload + len != copy + size) abort();
        unsigned char *again = clg_cache_entry_encode(&k, payload, len, &n);
        if (!again || n != size || memcmp(again, copy, size) != 0) abort();
        free(again);
    } else if (payload || len || !why[0]) {
        abort(); /* every refusal says why and hands out nothing */
    }
    free(copy);

    /* The bytes as a payload: accepted for its key, refused for another. */
    if (!size) return 0;
    unsigned char *entry = clg_cache_entry_encode(&k, data, size, &n);
    if (!entry) return 0;
    if (!clg_cache_entry_check(entry, n, &k, &payload, &len, why, sizeof why) || len != size ||
        memcmp(payload, data, size) != 0)
        abort();
    clg_cache_key other = k;
    other.options = (const char *)(data[0] & 1 ? "-DX=2" : "-DX=1 ");
    other.is_il = data[0] & 2 ? 0 : 1;
    other.input_hash ^= (uint64_t)(data[0] >> 2);
    if (clg_cache_entry_check(entry, n, &other, &payload, &len, why, sizeof why)) abort();
    /* cut anywhere: refused */
    if (clg_cache_entry_check(entry, n - 1 - data[0] % n, &k, &payload, &len, why, sizeof why))
        abort();
    free(entry);
    return 0;
}
