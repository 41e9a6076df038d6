/* @variant declarations: the kernel files' own (every embedded file parses, and the
 * families the planner tunes declare what it expects), and malformed ones refused with
 * the line named. */
#include <string.h>

#include "clgraph/llm.h"
#include "test_common.h"

int main(void) {
    clg_variant v[CLG_VARIANT_MAX];
    size_t n = 0;
    const char *src =
        "/* x\n"
        " * @variant row kernels=matmul_TY,ffn_swiglu_TY local=1,4,16,64 device=cpu\n"
        " * @variant wg kernels=matmul_TY_wg sweep=MM_WG:64,16 local=MM_WG device=gpu\n"
        " * @variant plain kernels=k local=8\n"
        " */\n";
    CHECK_OK(clg_variants_parse("t.cl", src, v, CLG_VARIANT_MAX, &n));
    CHECK(n == 3);
    CHECK(!strcmp(v[0].name, "row") && v[0].n_kernels == 2 &&
          !strcmp(v[0].kernels[1], "ffn_swiglu_TY"));
    CHECK(v[0].n_local == 4 && v[0].local[0] == 1 && v[0].local[3] == 64 &&
          !strcmp(v[0].device, "cpu"));
    CHECK(!*v[0].sweep && v[0].n_values == 0);
    CHECK(!strcmp(v[1].sweep, "MM_WG") && v[1].n_values == 2 && v[1].values[0] == 64 &&
          v[1].n_local == 0);
    CHECK(!strcmp(v[1].device, "gpu") && !*v[2].device && v[2].n_local == 1 && v[2].local[0] == 8);

    static const char *bad[] = {
        " * @variant row local=1\n",                           /* no kernels */
        " * @variant row kernels=k\n",                         /* no local size */
        " * @variant row kernels=k local=0\n",                 /* not positive */
        " * @variant row kernels=k local=4,\n",                /* trailing comma */
        " * @variant row kernels=k local=X\n",                 /* define without a sweep */
        " * @variant row kernels=k local=X sweep=Y:1\n",       /* two defines */
        " * @variant row kernels=k local=1 device=fpga\n",     /* unknown device */
        " * @variant row kernels=k local=1 colour=red\n",      /* unknown field */
        " * @variant row kernels=k local=1,2,3,4,5,6,7,8,9\n", /* too many values */
        "\n\n * @variant\trow kernels=,k local=1\n",           /* empty kernel name, line 3 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(clg_variants_parse("bad.cl", bad[i], v, CLG_VARIANT_MAX, &n) == CLG_ERR_FORMAT);
        CHECK(strstr(clg_last_error(), "bad.cl:") != NULL);
    }
    CHECK(strstr(clg_last_error(), "bad.cl:3:") != NULL);
    CHECK_OK(clg_variants_parse("none.cl", "no declarations", v, CLG_VARIANT_MAX, &n));
    CHECK(n == 0);

    /* Every kernel file parses; the families the planner tunes have a CPU and a GPU
     * default (the attention two for CPUs: the model's lists order them). */
    const clg_kernel_file *tables[2] = {clg_runtime_kernel_files(), llm_kernel_files()};
    int defaults = 0, files = 0;
    for (int tb = 0; tb < 2; tb++)
        for (const clg_kernel_file *f = tables[tb]; f->name; f++) {
            const char *text = f->source, *name = f->name;
            files++;
            CHECK(text != NULL);
            if (!text || clg_variants_parse(name, text, v, CLG_VARIANT_MAX, &n) != CLG_OK) {
                CHECK(!"kernel file declarations parse");
                continue;
            }
            int cpu = 0, gpu = 0;
            for (size_t k = 0; k < n; k++) {
                cpu += !strcmp(v[k].device, "cpu");
                gpu += !strcmp(v[k].device, "gpu");
            }
            if (!strcmp(name, "matmul") || !strcmp(name, "norm") || !strcmp(name, "attention")) {
                CHECK(cpu == 1 + !strcmp(name, "attention") && gpu == 1);
                defaults++;
            }
        }
    CHECK(defaults == 3);
    CHECK(files >= 9); /* the files of cl/, probe.cl in the runtime table */
    return tc_finish("variants");
}
