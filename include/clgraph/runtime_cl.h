/* clgraph runtime, OpenCL interop: tasks whose work is host code that enqueues OpenCL
 * commands itself (a BLAS library such as CLBlast, a vendor primitive), and the cl_mem of
 * a buffer for it. Separate from runtime.h, which does not include the OpenCL headers.
 */
#ifndef CLGRAPH_RUNTIME_CL_H
#define CLGRAPH_RUNTIME_CL_H

#include <CL/cl.h>

#include "clgraph/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The work of a call task: enqueue commands on q (the context's in-order queue; do not
 * wait, do not release it) and return CLG_OK, or a status with clg_fail's message. *done
 * is NULL on entry; the callback may set it to the event of its last command (the runtime
 * releases it). user is clg_graph_add_call's pointer. */
typedef clg_status (*clg_call_fn)(void *user, cl_command_queue q, cl_event *done);

/* Appends a call task to g: fn runs when the task's turn comes in a step, in order with
 * the kernel tasks around it (the queue is in-order, so what it enqueues follows the
 * tasks before and precedes the ones after). Its buffers are declared with
 * clg_task_arg_buffer, indices 0 .. 15 in any order (for the dependencies, uploads by
 * policy, read-backs and byte counts, like a kernel's); the callback takes their cl_mem
 * with clg_buffer_mem, and keeps every other parameter in *user (borrowed: it must live as
 * long as the task). Scalars, local memory, ranges and kernels do not apply to a call task
 * (CLG_ERR_INVALID_ARG). Timing: on a profiling context the runtime enqueues a marker
 * before the call, and the task's time runs from that marker's end to the end of *done (or
 * of a marker after the call when the callback left *done NULL), so that every command the
 * library enqueued counts. A plan range holding an enabled call task is never recorded
 * for replay: it executes plainly. The task is owned by the graph. */
clg_status clg_graph_add_call(clg_graph *g, const char *name, clg_call_fn fn, void *user,
                              clg_task **out);

/* The buffer's OpenCL memory object, for a call task's callback. Borrowed: valid while
 * the buffer lives; the caller must not release it. */
cl_mem clg_buffer_mem(const clg_buffer *buf);

#ifdef __cplusplus
}
#endif
#endif
