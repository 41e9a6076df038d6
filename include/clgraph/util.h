/* clgraph utilities shared by the runtime, the model library, the tools and the tests: one
 * copy each of the hash, clock, median and random-number helpers. */
#ifndef CLGRAPH_UTIL_H
#define CLGRAPH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 64-bit FNV-1a of data[n], chained through h: start with CLG_HASH_INIT. */
#define CLG_HASH_INIT 0xcbf29ce484222325ull
uint64_t clg_hash(uint64_t h, const void *data, size_t n);
/* The same over a NUL-terminated string (without its NUL). */
uint64_t clg_hash_str(uint64_t h, const char *s);

/* Monotonic clock, nanoseconds from an arbitrary origin. */
double clg_now_ns(void);

/* qsort comparison of doubles, ascending. */
int clg_cmp_double(const void *a, const void *b);
/* The median of v[n] (the upper one of an even count); sorts v. 0 when n == 0. */
double clg_median(double *v, size_t n);

/* splitmix64: x plus the golden-ratio increment, mixed; a 64-bit hash of one number, and
 * the seeder of larger generators (one call per state word, x advanced by the increment). */
uint64_t clg_mix64(uint64_t x);

/* xorshift64* random numbers: *state must not be 0 (clg_rng_seed never makes it 0). */
uint64_t clg_rng_seed(uint64_t seed);
uint64_t clg_rng_next(uint64_t *state);
/* Uniform in [0, 1), 24 random bits. */
float clg_rng_float(uint64_t *state);

#ifdef __cplusplus
}
#endif
#endif
