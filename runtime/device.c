/* OpenCL platform / device discovery, capabilities, selection by text. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/internal.h"

static void info_str(cl_device_id d, cl_device_info what, char *dst, size_t cap) {
    dst[0] = 0;
    size_t n = 0;
    if (clGetDeviceInfo(d, what, cap - 1, dst, &n) != CL_SUCCESS) dst[0] = 0;
    dst[cap - 1] = 0;
}

static int has_ext(const char *exts, const char *name) {
    size_t n = strlen(name);
    for (const char *p = exts; (p = strstr(p, name)) != NULL; p += n)
        if ((p == exts || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return 1;
    return 0;
}

void clg_device_fill_info(cl_platform_id p, cl_device_id d, clg_device_info *info) {
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform_name - 1, info->platform_name,
                      NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof info->platform_version - 1,
                      info->platform_version, NULL);
    info_str(d, CL_DEVICE_NAME, info->device_name, sizeof info->device_name);
    info_str(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    info_str(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    info_str(d, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    info_str(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version);
    info_str(d, CL_DEVICE_IL_VERSION, info->il_version, sizeof info->il_version);

    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    info->type = (t & CL_DEVICE_TYPE_GPU)           ? CLG_DEVICE_GPU
                 : (t & CL_DEVICE_TYPE_CPU)         ? CLG_DEVICE_CPU
                 : (t & CL_DEVICE_TYPE_ACCELERATOR) ? CLG_DEVICE_ACCELERATOR
                                                    : CLG_DEVICE_OTHER;

    size_t n = 0;
    clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n);
    char *exts = calloc(n + 1, 1);
    if (exts) {
        clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, exts, NULL);
        info->has_fp16 = has_ext(exts, "cl_khr_fp16");
        info->has_fp64 = has_ext(exts, "cl_khr_fp64");
        info->has_subgroups =
            has_ext(exts, "cl_khr_subgroups") || has_ext(exts, "cl_intel_subgroups");
        info->has_command_buffer = has_ext(exts, "cl_khr_command_buffer");
        free(exts);
    }
    info->has_spirv = strstr(info->il_version, "SPIR-V") != NULL;
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    info->has_denorm = (fp & CL_FP_DENORM) != 0;

    cl_device_local_mem_type lt = CL_GLOBAL;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL);
    info->local_mem_is_local = lt == CL_LOCAL;
    cl_ulong u = 0;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof u, &u, NULL);
    info->local_mem_size = u;
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof u, &u, NULL);
    info->global_mem_size = u;
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof u, &u, NULL);
    info->max_alloc_size = u;
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg;
    cl_uint cu = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    info->compute_units = cu;
    info->loop_limit = strstr(info->device_name, "llvmpipe") ? 65535u : 0u;
}

clg_status clg_device_list_impl(clg_device_info **out, cl_device_id **ids_out, int *count) {
    *out = NULL;
    if (ids_out) *ids_out = NULL;
    *count = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || np == 0)
        return clg_fail(CLG_ERR_NOT_FOUND,
                        "no OpenCL platform found: install an ICD (e.g. pocl-opencl-icd) and "
                        "check /etc/OpenCL/vendors");
    if (err != CL_SUCCESS) return CLG_CL_FAIL(err, "clGetPlatformIDs", "listing platforms");
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "listing platforms");
    clGetPlatformIDs(np, plats, NULL);

    clg_device_info *infos = NULL;
    cl_device_id *ids = NULL;
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || !nd)
            continue; /* e.g. Clover with no device */
        cl_device_id *dev = calloc(nd, sizeof *dev);
        clg_device_info *ni = realloc(infos, (size_t)(n + (int)nd) * sizeof *infos);
        cl_device_id *nids = realloc(ids, (size_t)(n + (int)nd) * sizeof *ids);
        if (ni) infos = ni;
        if (nids) ids = nids;
        if (!dev || !ni || !nids) {
            free(dev);
            free(infos);
            free(ids);
            free(plats);
            return clg_fail(CLG_ERR_OUT_OF_MEMORY, "listing devices");
        }
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, dev, NULL);
        for (cl_uint d = 0; d < nd; d++) {
            memset(&infos[n], 0, sizeof infos[n]);
            infos[n].platform_index = (int)p;
            infos[n].device_index = (int)d;
            clg_device_fill_info(plats[p], dev[d], &infos[n]);
            ids[n] = dev[d];
            n++;
        }
        free(dev);
    }
    free(plats);
    if (n == 0) {
        free(infos);
        free(ids);
        return clg_fail(CLG_ERR_NOT_FOUND, "OpenCL platforms exist but expose no device (rusticl "
                                           "lists llvmpipe only with RUSTICL_ENABLE=llvmpipe)");
    }
    *out = infos;
    if (ids_out)
        *ids_out = ids;
    else
        free(ids);
    *count = n;
    return CLG_OK;
}

void clg_device_probe_kernel(cl_context ctx, cl_device_id d, cl_command_queue q,
                             clg_device_info *info) {
    const char *src = "__kernel void k(__global float *x) { x[get_global_id(0)] = 0.0f; }";
    cl_int err = CL_SUCCESS;
    info->profiling_timer = -1;
    cl_context c = ctx ? ctx : clCreateContext(NULL, 1, &d, NULL, NULL, &err);
    if (err != CL_SUCCESS) return;
    cl_program p = clCreateProgramWithSource(c, 1, &src, NULL, &err);
    if (err == CL_SUCCESS && clBuildProgram(p, 1, &d, "", NULL, NULL) == CL_SUCCESS) {
        cl_kernel k = clCreateKernel(p, "k", &err);
        if (err == CL_SUCCESS) {
            size_t m = 0;
            clGetKernelWorkGroupInfo(k, d, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, sizeof m,
                                     &m, NULL);
            info->preferred_multiple = m;
            cl_mem buf =
                q ? clCreateBuffer(c, CL_MEM_READ_WRITE, 64 * sizeof(float), NULL, &err) : NULL;
            cl_event ev = NULL;
            size_t g = 64;
            if (buf && clSetKernelArg(k, 0, sizeof buf, &buf) == CL_SUCCESS &&
                clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, &ev) == CL_SUCCESS &&
                clWaitForEvents(1, &ev) == CL_SUCCESS) {
                cl_ulong s = 0, e = 0;
                clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof s, &s, NULL);
                clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof e, &e, NULL);
                /* real timers count ns since some epoch; fake ones give 0, 1, 2, 3 */
                info->profiling_timer = s > 1000000 && e >= s;
            }
            if (ev) clReleaseEvent(ev);
            if (buf) clReleaseMemObject(buf);
            clReleaseKernel(k);
        }
    }
    if (p) clReleaseProgram(p);
    if (!ctx) clReleaseContext(c);
}

clg_status clg_device_list(clg_device_info **out, int *count) {
    cl_device_id *ids = NULL;
    clg_status st = clg_device_list_impl(out, &ids, count);
    if (st != CLG_OK) return st;
    for (int i = 0; i < *count; i++)
        clg_device_probe_kernel(NULL, ids[i], NULL, &(*out)[i]);
    free(ids);
    return CLG_OK;
}

static int icontains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

static int matches(const clg_device_info *d, const char *sel) {
    int p, i;
    char tail;
    if (sscanf(sel, "%d:%d%c", &p, &i, &tail) == 2)
        return d->platform_index == p && d->device_index == i;
    if (!strcasecmp(sel, "gpu")) return d->type == CLG_DEVICE_GPU;
    if (!strcasecmp(sel, "cpu")) return d->type == CLG_DEVICE_CPU;
    if (!strcasecmp(sel, "accelerator")) return d->type == CLG_DEVICE_ACCELERATOR;
    return icontains(d->platform_name, sel) || icontains(d->platform_version, sel) ||
           icontains(d->device_name, sel) || icontains(d->vendor, sel);
}

/* Index of the device `sel` names in infos, or -1 with the error set. */
static int select_index(const clg_device_info *infos, int n, const char *sel) {
    if (!sel || !*sel) {
        for (int i = 0; i < n; i++)
            if (infos[i].type == CLG_DEVICE_GPU) return i;
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (matches(&infos[i], sel)) return i;
    char list[2048];
    size_t off = 0;
    for (int i = 0; i < n && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "\n  %d:%d  %s / %s",
                                infos[i].platform_index, infos[i].device_index,
                                infos[i].platform_name, infos[i].device_name);
    clg_fail(CLG_ERR_NOT_FOUND,
             "no OpenCL device matches '%s' (selectors: P:D, gpu, cpu, accelerator, or part of a "
             "platform/device name or vendor). Devices:%s%s",
             sel, list,
             icontains("rusticl llvmpipe", sel)
                 ? "\n(rusticl lists llvmpipe only with RUSTICL_ENABLE=llvmpipe in the environment)"
                 : "");
    return -1;
}

clg_status clg_device_select_id(const char *sel, clg_device_info *out, cl_platform_id *plat,
                                cl_device_id *dev) {
    clg_device_info *infos = NULL;
    cl_device_id *ids = NULL;
    int n = 0;
    clg_status st = clg_device_list_impl(&infos, &ids, &n);
    if (st != CLG_OK) return st;
    int i = select_index(infos, n, sel);
    if (i < 0) {
        free(infos);
        free(ids);
        return CLG_ERR_NOT_FOUND;
    }
    *out = infos[i];
    if (dev) *dev = ids[i];
    if (plat) clGetDeviceInfo(ids[i], CL_DEVICE_PLATFORM, sizeof *plat, plat, NULL);
    free(infos);
    free(ids);
    return CLG_OK;
}

clg_status clg_device_select(const char *sel, clg_device_info *out) {
    cl_device_id d;
    clg_status st = clg_device_select_id(sel, out, NULL, &d);
    if (st == CLG_OK) clg_device_probe_kernel(NULL, d, NULL, out);
    return st;
}
