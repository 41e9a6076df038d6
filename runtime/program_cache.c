/* Program cache entries: the self-describing header written before each cached device binary,
 * and its check, in plain bytes without OpenCL (so that the fuzzer runs it alone).
 *
 * Layout (integers little-endian):
 *   magic "CLGPBIN\n" (8) | version u32 | is_il u32 | input_len u64 | input_hash u64 |
 *   payload_len u64 | payload_sum u64 |
 *   4 strings, each u32 length + bytes (no NUL): platform version, device name, driver
 *   version, build options |
 *   header_sum u64 (FNV-1a of every header byte before it) | payload (payload_len bytes)
 * input_hash, payload_sum and header_sum are 64-bit FNV-1a (clg_hash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

#define FIXED_BYTES (8 + 4 + 4 + 8 * 4)

static const char *key_string(const clg_cache_key *k, int i) {
    const char *s[4] = {k->platform_version, k->device_name, k->driver_version, k->options};
    return s[i] ? s[i] : "";
}

static const char *const key_string_name[4] = {"platform version", "device", "driver version",
                                               "build options"};

uint64_t clg_cache_key_hash(const clg_cache_key *k) {
    uint64_t h = CLG_HASH_INIT;
    uint32_t v = CLG_CACHE_VERSION, il = (uint32_t)k->is_il;
    h = clg_hash(h, &v, sizeof v);
    for (int i = 0; i < 4; i++) {
        const char *s = key_string(k, i);
        h = clg_hash(h, s, strlen(s) + 1); /* the NUL separates the fields */
    }
    h = clg_hash(h, &il, sizeof il);
    h = clg_hash(h, &k->input_len, sizeof k->input_len);
    return clg_hash(h, &k->input_hash, sizeof k->input_hash);
}

static unsigned char *put(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static uint64_t get(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

unsigned char *clg_cache_entry_encode(const clg_cache_key *k, const void *payload,
                                      size_t payload_len, size_t *out_len) {
    size_t n = FIXED_BYTES + 8;
    for (int i = 0; i < 4; i++)
        n += 4 + strlen(key_string(k, i));
    size_t header = n;
    n += payload_len;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) return NULL;
    unsigned char *p = buf;
    memcpy(p, CLG_CACHE_MAGIC, 8);
    p = put(p + 8, CLG_CACHE_VERSION, 4);
    p = put(p, (uint64_t)k->is_il, 4);
    p = put(p, k->input_len, 8);
    p = put(p, k->input_hash, 8);
    p = put(p, payload_len, 8);
    p = put(p, clg_hash(CLG_HASH_INIT, payload, payload_len), 8);
    for (int i = 0; i < 4; i++) {
        const char *s = key_string(k, i);
        size_t len = strlen(s);
        p = put(p, len, 4);
        memcpy(p, s, len);
        p += len;
    }
    p = put(p, clg_hash(CLG_HASH_INIT, buf, header - 8), 8);
    if (payload_len) memcpy(p, payload, payload_len);
    *out_len = n;
    return buf;
}

/* "'text'" of s[0..n) for a message, cut at 60 bytes, non-printable bytes as '?'. */
static void quote(char *out, size_t cap, const unsigned char *s, size_t n) {
    char tmp[64];
    size_t m = n < 60 ? n : 60;
    for (size_t i = 0; i < m; i++)
        tmp[i] = s[i] >= 32 && s[i] < 127 ? (char)s[i] : '?';
    tmp[m] = 0;
    snprintf(out, cap, "'%s%s'", tmp, n > m ? "..." : "");
}

int clg_cache_entry_check(const void *data, size_t n, const clg_cache_key *k,
                          const unsigned char **payload, size_t *payload_len, char *why,
                          size_t why_cap) {
    const unsigned char *b = data;
    *payload = NULL;
    *payload_len = 0;
    if (n == 0) {
        snprintf(why, why_cap, "the file is empty");
        return 0;
    }
    if (n < 8 || memcmp(b, CLG_CACHE_MAGIC, 8) != 0) {
        snprintf(why, why_cap, "not a clgraph program cache entry (no '%.7s' magic, %zu bytes)",
                 CLG_CACHE_MAGIC, n);
        return 0;
    }
    if (n < FIXED_BYTES) {
        snprintf(why, why_cap, "the header is cut short (%zu bytes)", n);
        return 0;
    }
    uint32_t version = (uint32_t)get(b + 8, 4);
    if (version != CLG_CACHE_VERSION) {
        snprintf(why, why_cap, "format version %u, this build reads version %d", version,
                 CLG_CACHE_VERSION);
        return 0;
    }
    uint64_t is_il = get(b + 12, 4), input_len = get(b + 16, 8), input_hash = get(b + 24, 8);
    uint64_t plen = get(b + 32, 8), psum = get(b + 40, 8);
    size_t off = FIXED_BYTES;
    size_t str_off[4], str_len[4];
    for (int i = 0; i < 4; i++) {
        if (n - off < 4) {
            snprintf(why, why_cap, "the header is cut short in its %s (%zu bytes)",
                     key_string_name[i], n);
            return 0;
        }
        uint64_t len = get(b + off, 4);
        off += 4;
        if (len > n - off) {
            snprintf(why, why_cap, "the header's %s length %llu runs past the end (%zu bytes)",
                     key_string_name[i], (unsigned long long)len, n);
            return 0;
        }
        str_off[i] = off;
        str_len[i] = (size_t)len;
        off += (size_t)len;
    }
    if (n - off < 8) {
        snprintf(why, why_cap, "the header is cut short before its checksum (%zu bytes)", n);
        return 0;
    }
    if (get(b + off, 8) != clg_hash(CLG_HASH_INIT, b, off)) {
        snprintf(why, why_cap, "the header checksum does not match (damaged header)");
        return 0;
    }
    off += 8;
    /* The header is intact: compare the key it was made for with the one asked for. */
    for (int i = 0; i < 4; i++) {
        const char *want = key_string(k, i);
        if (strlen(want) != str_len[i] || memcmp(want, b + str_off[i], str_len[i]) != 0) {
            char got_q[80], want_q[80];
            quote(got_q, sizeof got_q, b + str_off[i], str_len[i]);
            quote(want_q, sizeof want_q, (const unsigned char *)want, strlen(want));
            snprintf(why, why_cap, "made for another key: %s %s, expected %s", key_string_name[i],
                     got_q, want_q);
            return 0;
        }
    }
    if (is_il != (uint64_t)k->is_il) {
        snprintf(why, why_cap, "made for another key: built from %s, expected %s",
                 is_il ? "SPIR-V" : "source", k->is_il ? "SPIR-V" : "source");
        return 0;
    }
    if (input_len != k->input_len || input_hash != k->input_hash) {
        snprintf(why, why_cap,
                 "made for another key: input of %llu bytes with hash %016llx, expected %llu "
                 "bytes with hash %016llx",
                 (unsigned long long)input_len, (unsigned long long)input_hash,
                 (unsigned long long)k->input_len, (unsigned long long)k->input_hash);
        return 0;
    }
    if (plen != (uint64_t)(n - off)) {
        snprintf(why, why_cap, "the header gives a binary of %llu bytes but %zu follow",
                 (unsigned long long)plen, n - off);
        return 0;
    }
    if (plen == 0) {
        snprintf(why, why_cap, "the binary is empty");
        return 0;
    }
    if (clg_hash(CLG_HASH_INIT, b + off, (size_t)plen) != psum) {
        snprintf(why, why_cap, "the binary's checksum does not match (damaged binary)");
        return 0;
    }
    *payload = b + off;
    *payload_len = (size_t)plen;
    if (why_cap) why[0] = 0;
    return 1;
}
