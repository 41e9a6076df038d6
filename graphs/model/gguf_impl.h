/* Private to graphs/gguf*.c: what the writer needs from the reader beyond the public API. */
#ifndef CLGRAPH_GGUF_IMPL_H
#define CLGRAPH_GGUF_IMPL_H

#include "clgraph/gguf.h"

/* The bytes of key i's value as stored in the file (after its type field), borrowed from the
 * open file: strings, arrays and nested arrays included, so that they copy verbatim. */
clg_status llm_gguf_kv_raw(const llm_gguf *f, uint64_t i, const void **value, uint64_t *bytes);

#endif
