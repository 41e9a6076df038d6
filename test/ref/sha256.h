/* SHA-256 (FIPS 180-4) for tests: the whole-model test checks that a golden file's model_sha256
 * names the GGUF it is run with. Small and self-contained; test code, not the library's. */
#ifndef CLGRAPH_TEST_SHA256_H
#define CLGRAPH_TEST_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "clgraph/runtime.h" /* clg_status */

/* Running state; set up with tg_sha256_init, feed with tg_sha256_update, finish with
 * tg_sha256_final. Plain value, nothing to free. */
typedef struct tg_sha256 {
    uint32_t h[8];     /* chaining value */
    uint64_t n_bytes;  /* bytes fed so far */
    uint8_t block[64]; /* pending partial block */
    size_t n_block;    /* bytes used in block, < 64 */
} tg_sha256;

void tg_sha256_init(tg_sha256 *s);
/* Appends n bytes of data (borrowed). */
void tg_sha256_update(tg_sha256 *s, const void *data, size_t n);
/* Writes the digest as 64 lowercase hex digits and a NUL to hex[65]; s is spent after. */
void tg_sha256_final(tg_sha256 *s, char hex[65]);

/* SHA-256 of the file at path as lowercase hex in hex[65]. CLG_ERR_IO (message naming the file
 * and the errno text) when it cannot be opened or read, CLG_ERR_OUT_OF_MEMORY. */
clg_status tg_sha256_file(const char *path, char hex[65]);

#endif
