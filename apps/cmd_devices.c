/* clgraph devices: every OpenCL platform and device with its capabilities,
 * optionally probed for read bandwidth and launch overhead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/commands.h"
#include "apps/env.h"
#include "clgraph/report.h"
#include "clgraph/runtime.h"

static const char *type_name(clg_device_type t) {
    switch (t) {
    case CLG_DEVICE_CPU:
        return "cpu";
    case CLG_DEVICE_GPU:
        return "gpu";
    case CLG_DEVICE_ACCELERATOR:
        return "accelerator";
    default:
        return "other";
    }
}

static void print_text(const clg_device_info *d, const clg_probe *p, const char *perr) {
    printf("%d:%d  %s\n", d->platform_index, d->device_index, d->device_name);
    printf("    platform        %s (%s)\n", d->platform_name, d->platform_version);
    printf("    vendor          %s, driver %s, type %s\n", d->vendor, d->driver_version,
           type_name(d->type));
    printf("    version         %s; %s\n", d->device_version, d->opencl_c_version);
    printf("    IL              %s\n", d->il_version[0] ? d->il_version : "(none)");
    printf("    features        fp16 %s, fp64 %s, subgroups %s, command buffers %s, SPIR-V %s\n",
           d->has_fp16 ? "yes" : "no", d->has_fp64 ? "yes" : "no", d->has_subgroups ? "yes" : "no",
           d->has_command_buffer ? "yes" : "no", d->has_spirv ? "yes" : "no");
    printf("    compute units   %u, max work-group %zu, preferred multiple %zu\n", d->compute_units,
           d->max_work_group_size, d->preferred_multiple);
    printf("    local memory    %llu KiB (%s)\n", (unsigned long long)(d->local_mem_size >> 10),
           d->local_mem_is_local ? "dedicated" : "global");
    printf("    global memory   %.2f GiB, max allocation %.2f GiB\n",
           (double)d->global_mem_size / (1 << 30), (double)d->max_alloc_size / (1 << 30));
    if (d->profiling_timer >= 0)
        printf("    event timer     %s\n",
               d->profiling_timer ? "real" : "fake (kernel times unavailable)");
    if (p)
        printf("    probe           read %.1f GB/s (%llu MiB buffer), launch %.1f us, launch+wait "
               "%.1f us\n",
               p->read_gbs, (unsigned long long)(p->read_bytes >> 20), p->launch_us,
               p->launch_finish_us);
    if (perr) printf("    probe           failed: %s\n", perr);
}

static void print_json(const clg_device_info *d, const clg_probe *p, const char *perr, int last) {
    printf("  {\"index\": \"%d:%d\", \"platform\": ", d->platform_index, d->device_index);
    clg_json_str(stdout, d->platform_name);
    printf(", \"platform_version\": ");
    clg_json_str(stdout, d->platform_version);
    printf(", \"name\": ");
    clg_json_str(stdout, d->device_name);
    printf(", \"vendor\": ");
    clg_json_str(stdout, d->vendor);
    printf(", \"driver_version\": ");
    clg_json_str(stdout, d->driver_version);
    printf(", \"type\": \"%s\", \"version\": ", type_name(d->type));
    clg_json_str(stdout, d->device_version);
    printf(", \"opencl_c_version\": ");
    clg_json_str(stdout, d->opencl_c_version);
    printf(", \"il_version\": ");
    clg_json_str(stdout, d->il_version);
    printf(",\n   \"fp16\": %s, \"fp64\": %s, \"subgroups\": %s, \"command_buffer\": %s, "
           "\"spirv\": %s,"
           " \"compute_units\": %u, \"max_work_group_size\": %zu, \"preferred_multiple\": %zu,"
           " \"local_mem_size\": %llu, \"local_mem_type\": \"%s\", \"global_mem_size\": %llu,"
           " \"max_alloc_size\": %llu",
           d->has_fp16 ? "true" : "false", d->has_fp64 ? "true" : "false",
           d->has_subgroups ? "true" : "false", d->has_command_buffer ? "true" : "false",
           d->has_spirv ? "true" : "false", d->compute_units, d->max_work_group_size,
           d->preferred_multiple, (unsigned long long)d->local_mem_size,
           d->local_mem_is_local ? "local" : "global", (unsigned long long)d->global_mem_size,
           (unsigned long long)d->max_alloc_size);
    if (d->profiling_timer >= 0)
        printf(", \"profiling_timer\": %s", d->profiling_timer ? "true" : "false");
    if (p)
        printf(",\n   \"probe\": {\"read_gbs\": %.3f, \"read_bytes\": %llu, \"launch_us\": %.3f,"
               " \"launch_finish_us\": %.3f}",
               p->read_gbs, (unsigned long long)p->read_bytes, p->launch_us, p->launch_finish_us);
    if (perr) {
        printf(",\n   \"probe_error\": ");
        clg_json_str(stdout, perr);
    }
    printf("}%s\n", last ? "" : ",");
}

int clg_cmd_devices(int argc, char **argv) {
    int json = 0, probe = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--probe"))
            probe = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clgraph devices [--json] [--probe]\n\n"
                   "Lists every OpenCL platform and device with its capabilities.\n"
                   "  --json    machine-readable output\n"
                   "  --probe   also measure read bandwidth (GB/s, median of 7 runs) and launch\n"
                   "            overhead (us per kernel, with and without a wait per kernel)\n"
                   "Mesa rusticl lists llvmpipe only with RUSTICL_ENABLE=llvmpipe.\n");
            return 0;
        } else {
            fprintf(stderr, "clgraph devices: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    clg_context_options env = clg_context_options_default(); /* for --probe's contexts */
    if (app_env_context_options(&env, "devices")) return 2;
    clg_device_info *devs = NULL;
    int n = 0;
    clg_status st = clg_device_list(&devs, &n);
    if (st != CLG_OK) {
        fprintf(stderr, "clgraph devices: %s\n", clg_last_error());
        return 1;
    }
    if (json) printf("[\n");
    for (int i = 0; i < n; i++) {
        clg_probe p, *pp = NULL;
        char perr[1024] = "";
        if (probe) {
            char sel[32];
            snprintf(sel, sizeof sel, "%d:%d", devs[i].platform_index, devs[i].device_index);
            clg_context_options o = env;
            o.device = sel;
            o.profiling = 1;
            clg_context *ctx = NULL;
            if (!json) fprintf(stderr, "probing %s ...\n", devs[i].device_name);
            st = clg_context_create(&o, &ctx);
            if (st == CLG_OK) {
                devs[i].profiling_timer = clg_context_device(ctx)->profiling_timer;
                st = clg_context_probe(ctx, &p);
            }
            if (st == CLG_OK)
                pp = &p;
            else
                snprintf(perr, sizeof perr, "%s", clg_last_error());
            clg_context_destroy(ctx);
        }
        if (json)
            print_json(&devs[i], pp, perr[0] ? perr : NULL, i == n - 1);
        else
            print_text(&devs[i], pp, perr[0] ? perr : NULL);
    }
    if (json) printf("]\n");
    free(devs);
    return 0;
}
