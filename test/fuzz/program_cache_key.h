/* The key the program-cache seed entries in corpus_program_cache/ were made for
 * (make_program_cache_seeds.py), shared by the fuzzer and unit.program_cache_entry. */
#ifndef CLGRAPH_TEST_PROGRAM_CACHE_KEY_H
#define CLGRAPH_TEST_PROGRAM_CACHE_KEY_H

#include "runtime/internal.h"

static inline clg_cache_key seed_key(void) {
    clg_cache_key k;
    k.platform_version = "OpenCL 3.0 fuzz";
    k.device_name = "fuzz device";
    k.driver_version = "1.0";
    k.options = "-DX=1";
    k.is_il = 0;
    k.input_len = 100;
    k.input_hash = 0x0123456789abcdefull;
    return k;
}
#endif
