/* A program of another project, built against an installed clgraph by check_install.sh:
 * lists the OpenCL devices (clg_device_list), finds a kernel file in the library's embedded
 * table and builds it on the default device. Built with the LLM library (llm_kernel_files,
 * cl/norm.cl), or with -DUSE_RUNTIME_ONLY against the runtime alone (cl/probe.cl). Every
 * public header it may use is included, so each must compile from the installed folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clgraph/planner.h>
#include <clgraph/runtime.h>
#include <clgraph/runtime_cl.h>
#ifndef USE_RUNTIME_ONLY
#include <clgraph/chat.h>
#include <clgraph/convert.h>
#include <clgraph/gguf.h>
#include <clgraph/llm.h>
#include <clgraph/sampler.h>
#include <clgraph/synth.h>
#include <clgraph/tokenizer.h>
#define KERNELS llm_kernel_files()
#define KERNEL "norm"
#else
#define KERNELS clg_runtime_kernel_files()
#define KERNEL "probe"
#endif

int main(void) {
    clg_device_info *devs = NULL;
    int n = 0;
    if (clg_device_list(&devs, &n) != CLG_OK) {
        fprintf(stderr, "clg_device_list: %s\n", clg_last_error());
        return 1;
    }
    for (int i = 0; i < n; i++)
        printf("  device %d:%d %s (%s)\n", devs[i].platform_index, devs[i].device_index,
               devs[i].device_name, devs[i].platform_name);
    free(devs);

    int files = 0, found = 0;
    for (const clg_kernel_file *k = KERNELS; k->name; k++) {
        files++;
        found |= !strcmp(k->name, KERNEL) && k->source && k->source_len > 0;
    }
    printf("  %d embedded kernel files, %s.cl %s\n", files, KERNEL,
           found ? "among them" : "MISSING");
    if (!found) return 1;
    if (n == 0) {
        printf("  no OpenCL device: %s.cl not built\n", KERNEL);
        return 0;
    }

    clg_context_options o = clg_context_options_default();
    o.cache_dir = ""; /* no program cache: build it */
    clg_context *ctx = NULL;
    clg_program *prog = NULL;
    clg_status st = clg_context_create(&o, &ctx);
    if (st == CLG_OK) st = clg_context_add_kernel_files(ctx, KERNELS);
    if (st == CLG_OK) st = clg_program_get(ctx, KERNEL, "", &prog);
    if (st != CLG_OK) {
        fprintf(stderr, "building %s.cl: %s: %s\n", KERNEL, clg_status_str(st), clg_last_error());
        clg_context_destroy(ctx);
        return 1;
    }
    printf("  built %s.cl on %s\n", KERNEL, clg_context_device(ctx)->device_name);
    clg_context_destroy(ctx);
    return 0;
}
