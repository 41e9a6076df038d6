/* The program cache's entry format (runtime/program_cache.c) without a device: an encoded
 * entry is accepted for its key only; every cut and every flipped byte is refused with a
 * reason; the fuzzer's seeds (written by test/fuzz/make_program_cache_seeds.py, a second
 * implementation of the layout) read as the fuzzer expects. */
#include <stdlib.h>
#include <string.h>

#include "test_common.h"

#include "runtime/internal.h"
#include "test/fuzz/program_cache_key.h"

static int accepts(const unsigned char *e, size_t n, const clg_cache_key *k, char *why,
                   size_t cap) {
    const unsigned char *p = NULL;
    size_t len = 0;
    int ok = clg_cache_entry_check(e, n, k, &p, &len, why, cap);
    if (!ok && (p || len || !why[0])) return -1; /* a refusal hands out nothing, says why */
    return ok;
}

static void test_round_trip(void) {
    clg_cache_key k = seed_key();
    unsigned char payload[40];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (unsigned char)tc_randu();
    size_t n = 0;
    unsigned char *e = clg_cache_entry_encode(&k, payload, sizeof payload, &n);
    CHECK(e != NULL);
    if (!e) return;
    const unsigned char *p = NULL;
    size_t len = 0;
    char why[400];
    CHECK(clg_cache_entry_check(e, n, &k, &p, &len, why, sizeof why) == 1);
    CHECK(len == sizeof payload && p == e + n - len && !memcmp(p, payload, len));

    /* another key in any field: refused, and another file name */
    for (int f = 0; f < 7; f++) {
        clg_cache_key o = k;
        switch (f) {
        case 0:
            o.platform_version = "OpenCL 3.0 other";
            break;
        case 1:
            o.device_name = "other device";
            break;
        case 2:
            o.driver_version = "1.1";
            break;
        case 3:
            o.options = "-DX=2";
            break;
        case 4:
            o.is_il = 1;
            break;
        case 5:
            o.input_len++;
            break;
        default:
            o.input_hash ^= 1;
            break;
        }
        CHECK(accepts(e, n, &o, why, sizeof why) == 0 && strstr(why, "another key"));
        CHECK(clg_cache_key_hash(&o) != clg_cache_key_hash(&k));
    }
    /* every cut */
    int cuts_refused = 1;
    for (size_t m = 0; m < n; m++)
        cuts_refused &= accepts(e, m, &k, why, sizeof why) == 0;
    CHECK(cuts_refused);
    /* every flipped bit of every byte */
    int flips_refused = 1;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) {
            e[i] ^= (unsigned char)(1u << b);
            int r = accepts(e, n, &k, why, sizeof why);
            if (r != 0) {
                printf("  byte %zu bit %d flipped: accepted\n", i, b);
                flips_refused = 0;
            }
            e[i] ^= (unsigned char)(1u << b);
        }
    CHECK(flips_refused);
    /* one byte more */
    unsigned char *longer = malloc(n + 1);
    if (longer) {
        memcpy(longer, e, n);
        longer[n] = 0;
        CHECK(accepts(longer, n + 1, &k, why, sizeof why) == 0 && strstr(why, "follow"));
    }
    free(longer);
    free(e);
}

static unsigned char *seed(const char *name, size_t *n) {
    char path[1200];
    const char *src = getenv("CLGRAPH_SRC");
    snprintf(path, sizeof path, "%s/test/fuzz/corpus_program_cache/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return NULL;
    static unsigned char buf[4096];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static void test_seeds(void) {
    clg_cache_key k = seed_key();
    char why[400];
    size_t n = 0;
    unsigned char *e = seed("valid.bin", &n);
    CHECK(e && accepts(e, n, &k, why, sizeof why) == 1);
    e = seed("other_key.bin", &n);
    CHECK(e && accepts(e, n, &k, why, sizeof why) == 0 && strstr(why, "build options"));
    e = seed("cut.bin", &n);
    CHECK(e && accepts(e, n, &k, why, sizeof why) == 0 && strstr(why, "follow"));
}

int main(void) {
    tc_seed(14);
    test_round_trip();
    test_seeds();
    return tc_finish("program_cache_entry");
}
