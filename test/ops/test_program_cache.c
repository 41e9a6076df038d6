/* The program binary cache against damaged entries on the device in $CLGRAPH_DEVICE: an entry
 * cut by one byte, with a flipped binary or header byte, another program's entry under its
 * name, an empty file and garbage. Each time the program still builds and computes (checked
 * against C on random inputs), one warning names the file and why, and the rewritten entry
 * loads from the cache in the next context. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "test_common.h"

#define N 1024

static char cache_dir[] = "/tmp/clgraph-pcache-XXXXXX";

static clg_context *context(tc_warnings *w) {
    return tc_warn_context(cache_dir, w);
}

/* Runs axpb then sq of the program on random inputs and compares with C. */
static void check_computes(clg_context *ctx, clg_program *p, const char *what) {
    static float a[N], b[N], out[N], want[N];
    tc_fill(a, N, -2, 2);
    tc_fill(b, N, -2, 2);
    float s = tc_randf(-3, 3);
    clg_buffer *ba = tc_buffer(ctx, "a", sizeof a, CLG_TRANSFER_EVERY_EXECUTION, a);
    clg_buffer *bb = tc_buffer(ctx, "b", sizeof b, CLG_TRANSFER_EVERY_EXECUTION, b);
    clg_buffer *mid = tc_buffer(ctx, "mid", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_buffer *bo = tc_buffer(ctx, "out", sizeof out, CLG_TRANSFER_EVERY_EXECUTION, out);
    clg_graph *g = NULL;
    clg_task *t1 = NULL, *t2 = NULL;
    size_t n = N;
    CHECK_OK(clg_graph_create(ctx, what, &g));
    CHECK_OK(clg_graph_add_task(g, "axpb", p, "axpb", &t1));
    CHECK_OK(clg_graph_add_task(g, "sq", p, "sq", &t2));
    if (!t1 || !t2) return;
    CHECK_OK(clg_task_set_range(t1, 1, &n, NULL));
    CHECK_OK(clg_task_set_range(t2, 1, &n, NULL));
    CHECK_OK(clg_task_arg_buffer(t1, 0, ba, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t1, 1, bb, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t1, 2, mid, CLG_WRITE));
    CHECK_OK(clg_task_arg_float(t1, 3, s));
    CHECK_OK(clg_task_arg_buffer(t2, 0, mid, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t2, 1, bo, CLG_WRITE));
    CHECK_OK(clg_graph_execute(g));
    for (int i = 0; i < N; i++) {
        float m = s * a[i] + b[i];
        want[i] = m * m + 1.0f;
    }
    tc_close(what, out, want, N, 1e-5f, 1e-5f);
}

/* The one .bin file of the cache folder that is not `except` (""), into out; 0 when there is
 * not exactly one. Also counts leftover temporary files into *tmp. */
static int find_entry(const char *except, char *out, size_t cap, int *tmp) {
    DIR *d = opendir(cache_dir);
    int found = 0;
    *tmp = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (strstr(e->d_name, ".tmp")) (*tmp)++; /* clg_file_write_atomic's NAME.tmp.PID.N */
        if (len < 4 || strcmp(e->d_name + len - 4, ".bin")) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name);
        if (!strcmp(path, except)) continue;
        snprintf(out, cap, "%s", path);
        found++;
    }
    closedir(d);
    return found == 1;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    *n = buf ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    return buf;
}

static void spit(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

typedef enum damage {
    CUT_ONE_BYTE,
    FLIP_BINARY_BYTE,
    FLIP_HEADER_BYTE,
    OTHER_KEY,
    EMPTY,
    GARBAGE,
    N_DAMAGE
} damage;

static const char *const damage_name[N_DAMAGE] = {"cut by one byte",
                                                  "a flipped binary byte",
                                                  "a flipped header byte",
                                                  "another program's entry",
                                                  "empty",
                                                  "garbage"};
/* What the warning must say for each damage. */
static const char *const damage_reason[N_DAMAGE] = {
    "follow", "binary's checksum", "header checksum", "another key", "empty", "magic"};

#define OPT_A "-DCACHE_TEST_A=1"
#define OPT_B "-DCACHE_TEST_B=2"

static void test_damage(damage d, const char *path_a, const char *path_b) {
    printf("entry %s\n", damage_name[d]);
    size_t na = 0, nb = 0;
    unsigned char *a = slurp(path_a, &na), *b = slurp(path_b, &nb);
    CHECK(a && b && na > 64 && nb > 64);
    if (!a || !b || na <= 64 || nb <= 64) goto done;
    switch (d) {
    case CUT_ONE_BYTE:
        spit(path_b, b, nb - 1);
        break;
    case FLIP_BINARY_BYTE:
        b[nb - 1 - tc_randu() % 16] ^= 0x5a;
        spit(path_b, b, nb);
        break;
    case FLIP_HEADER_BYTE:
        b[40 + tc_randu() % 8] ^= 0x01; /* the binary's checksum field */
        spit(path_b, b, nb);
        break;
    case OTHER_KEY:
        spit(path_b, a, na);
        break;
    case EMPTY:
        spit(path_b, b, 0);
        break;
    case GARBAGE:
        for (size_t i = 0; i < nb; i++)
            b[i] = (unsigned char)tc_randu();
        spit(path_b, b, nb);
        break;
    case N_DAMAGE:
        break;
    }

    /* The damaged entry is dropped with one warning, rebuilt, computes correctly. */
    tc_warnings w = {0, ""};
    clg_context *ctx = context(&w);
    clg_program *p = NULL;
    CHECK_OK(clg_program_from_source(ctx, "cached", tc_axpb_sq_src, OPT_B, &p));
    CHECK(p && clg_program_origin_of(p) == CLG_ORIGIN_SOURCE);
    CHECK(w.count == 1);
    CHECK(strstr(w.last, path_b) != NULL);
    CHECK(strstr(w.last, damage_reason[d]) != NULL);
    if (p) check_computes(ctx, p, damage_name[d]);
    clg_context_destroy(ctx);

    /* The rewritten entry is valid: the next context loads it without a word. */
    w.count = 0;
    ctx = context(&w);
    CHECK_OK(clg_program_from_source(ctx, "cached", tc_axpb_sq_src, OPT_B, &p));
    CHECK(p && clg_program_origin_of(p) == CLG_ORIGIN_CACHE);
    CHECK(w.count == 0);
    if (p) check_computes(ctx, p, "rewritten entry");
    /* entry A was not touched */
    CHECK_OK(clg_program_from_source(ctx, "cached", tc_axpb_sq_src, OPT_A, &p));
    CHECK(p && clg_program_origin_of(p) == CLG_ORIGIN_CACHE);
    CHECK(w.count == 0);
    clg_context_destroy(ctx);
done:
    free(a);
    free(b);
}

int main(void) {
    tc_seed(14);
    CHECK(mkdtemp(cache_dir) != NULL);

    /* Two entries, A and B (same source, other options), each found by its new file. An
     * entry is written by clg_context_store_programs, not by the build (nor a second time). */
    char path_a[1200] = "", path_b[1200] = "", none[1200];
    int tmp = 0;
    tc_warnings w = {0, ""};
    clg_context *ctx = context(&w);
    clg_program *p = NULL;
    clg_build_stats bs;
    CHECK_OK(clg_program_from_source(ctx, "cached", tc_axpb_sq_src, OPT_A, &p));
    CHECK(!find_entry("", none, sizeof none, &tmp));
    clg_context_build_stats(ctx, &bs);
    CHECK(bs.programs == 1 && bs.from_source == 1 && bs.pending == 1 && bs.stored == 0);
    CHECK(clg_context_store_programs(ctx) == 1);
    CHECK(clg_context_store_programs(ctx) == 0);
    CHECK(find_entry("", path_a, sizeof path_a, &tmp));
    CHECK_OK(clg_program_from_source(ctx, "cached", tc_axpb_sq_src, OPT_B, &p));
    CHECK(clg_context_store_programs(ctx) == 1);
    CHECK(find_entry(path_a, path_b, sizeof path_b, &tmp));
    clg_context_build_stats(ctx, &bs);
    CHECK(bs.programs == 2 && bs.pending == 0 && bs.stored == 2);
    CHECK(w.count == 0);
    if (p) check_computes(ctx, p, "fresh build");
    clg_context_destroy(ctx);
    printf("entries: %s, %s\n", path_a, path_b);

    /* A program built and not stored explicitly is written by clg_context_destroy. */
    ctx = context(&w);
    CHECK_OK(clg_program_from_source(ctx, "cached", tc_axpb_sq_src, "-DCACHE_TEST_C=3", &p));
    clg_context_destroy(ctx);
    ctx = context(&w);
    CHECK_OK(clg_program_from_source(ctx, "cached", tc_axpb_sq_src, "-DCACHE_TEST_C=3", &p));
    CHECK(p && clg_program_origin_of(p) == CLG_ORIGIN_CACHE);
    clg_context_build_stats(ctx, &bs);
    CHECK(bs.programs == 1 && bs.from_cache == 1 && bs.pending == 0);
    CHECK(clg_context_store_programs(ctx) == 0); /* loaded from the cache: nothing to write */
    clg_context_destroy(ctx);
    char path_c[1200] = "";
    {
        /* the third entry: remove it so that the checks below see A and B only */
        DIR *d = opendir(cache_dir);
        for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name);
            if (strstr(e->d_name, ".bin") && strcmp(path, path_a) && strcmp(path, path_b))
                snprintf(path_c, sizeof path_c, "%s", path);
        }
        if (d) closedir(d);
        CHECK(*path_c && remove(path_c) == 0);
    }

    /* An intact entry loads from the cache without a warning. */
    ctx = context(&w);
    CHECK_OK(clg_program_from_source(ctx, "cached", tc_axpb_sq_src, OPT_B, &p));
    CHECK(p && clg_program_origin_of(p) == CLG_ORIGIN_CACHE);
    CHECK(w.count == 0);
    if (p) check_computes(ctx, p, "intact entry");
    clg_context_destroy(ctx);

    if (*path_a && *path_b)
        for (int d = 0; d < N_DAMAGE; d++)
            test_damage((damage)d, path_a, path_b);

    /* No temporary file is left behind, and still exactly the two entries. */
    char other[1200];
    CHECK(find_entry(path_a, other, sizeof other, &tmp) && !strcmp(other, path_b));
    CHECK(tmp == 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cache_dir);
    CHECK(system(cmd) == 0);
    return tc_finish("program_cache");
}
