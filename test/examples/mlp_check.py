#!/usr/bin/env python3
"""The MLP example tunes, caches, dumps and profiles its plan through the runtime's planner and
reports: mlp_check.py MLP_EXAMPLE_BINARY DEVICE. Exit 0 when every check holds."""
import json
import os
import re
import subprocess
import sys
import tempfile

BIN, DEVICE = sys.argv[1], sys.argv[2]
STEPS = 5  # checked steps after tuning (apps/examples/mlp_example.c)
checks = 0


def expect(cond, msg):
    global checks
    checks += 1
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)
    print("ok:", msg)


def run(*args):
    p = subprocess.run([BIN, DEVICE, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def load(path):
    with open(path) as f:
        return json.load(f)


def check_plan(plan, want_tuned):
    """The JSON plan dump: device, one plan "mlp" of layer1 (dense1) and layer2 (dense2, softmax),
    the dense tasks on the variant their kind chose."""
    expect(isinstance(plan.get("device"), str) and isinstance(plan.get("driver"), str),
           "plan dump names the device and driver")
    expect([p["plan"] for p in plan["plans"]] == ["mlp"], "one plan named mlp")
    pl = plan["plans"][0]
    expect(pl.get("replay", {}).get("mode") in ("on", "off", "unavailable"),
           f"the replay choice is reported: {pl.get('replay')}")
    graphs = {g["graph"]: g["tasks"] for g in pl["graphs"]}
    expect(list(graphs) == ["layer1", "layer2"], f"graphs layer1, layer2: {list(graphs)}")
    tasks = {t["task"]: t for ts in graphs.values() for t in ts}
    expect(list(tasks) == ["dense1", "dense2", "softmax"], f"tasks dense1, dense2, softmax: {list(tasks)}")
    labels = {}
    for name, kind in (("dense1", "layer1.dense"), ("dense2", "layer2.dense")):
        t = tasks[name]
        for key in ("kernel", "variant", "global", "local", "local_mem", "build", "tuned"):
            expect(key in t, f"{name} has {key}")
        expect(t.get("kind") == kind, f"{name} belongs to kind {kind}")
        m = re.fullmatch(r"(row|wg) (?:local |WG=)(\d+)", t["variant"])
        expect(m is not None, f"{name}: a declared variant, {t['variant']!r}")
        expect(t["kernel"] == "dense_" + m.group(1) and t["local"].split("x")[0] == m.group(2),
               f"{name} runs the chosen variant: kernel {t['kernel']}, local {t['local']}")
        if want_tuned:
            expect(t["tuned"] is True and t.get("best_us", 0) > 0,
                   f"{name}: measured, {t.get('best_us')} us (runner-up {t.get('runner_up_us')} us)")
        labels[name] = t["variant"]
    s = tasks["softmax"]
    expect(s["variant"] == "default" and s["tuned"] is False and "kind" not in s,
           "softmax belongs to no kind: default, untuned")
    return labels


def check_profile(prof):
    for key in ("device", "probe", "steps", "wall_ms", "tasks", "transfers", "totals"):
        expect(key in prof, f"profile has {key}")
    expect(prof["steps"] == STEPS and prof["wall_ms"] > 0, f"{STEPS} steps profiled, {prof['wall_ms']} ms")
    real = prof["device"]["timestamps_real"]
    ex = {t["name"]: t["executions"] for t in prof["tasks"]}
    expect(ex == {"dense1": STEPS, "dense2": STEPS, "softmax": STEPS}, f"every task ran each step: {ex}")
    xf = {(t["buffer"], t["direction"]): t for t in prof["transfers"]}
    expect(set(xf) == {("x", "upload"), ("p", "download")},
           f"only the input goes up and the probabilities come back: {sorted(xf)}")
    expect(xf[("x", "upload")]["count"] == STEPS and xf[("x", "upload")]["bytes"] == STEPS * 16 * 64 * 4,
           "x uploaded once per step, in full")
    tot = prof["totals"]
    for key in ("kernel_executions", "transfers", "launches_per_step", "kernel_ms", "transfer_ms",
                "idle_in_steps_ms", "host_between_steps_ms", "overlap_ms", "accounted_ms",
                "unaccounted_ms", "accounted_pct"):
        expect(key in tot, f"profile totals have {key}")
    expect(tot["kernel_executions"] == 3 * STEPS and tot["transfers"] == 2 * STEPS and tot["launches_per_step"] == 3,
           f"3 launches and 2 transfers per step: {tot['kernel_executions']}, {tot['transfers']}")
    if real:
        expect(prof["tasks"][0]["total_ms"] > 0 and tot["kernel_ms"] > 0, "kernel times are reported")
    else:
        expect(tot["kernel_ms"] is None, "no times from timestamps that are not real")
    return real


def check_trace(trace):
    x = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    kern = [e for e in x if e["tid"] == 1]
    xfer = [e for e in x if e["tid"] == 2]
    expect(len(kern) == 3 * STEPS and len(xfer) == 2 * STEPS,
           f"one trace event per kernel ({len(kern)}) and transfer ({len(xfer)})")
    expect(sorted({e["name"] for e in kern}) == ["dense1", "dense2", "softmax"], "kernel events carry task names")
    expect({e["cat"] for e in kern} == {"layer1", "layer2"}, "kernel events carry their graph")
    expect(len({e["args"]["step"] for e in x}) == STEPS, "events carry their step")
    expect(min(e["ts"] for e in x) == 0 and all(e["dur"] >= 0 for e in x), "times from the first event")


with tempfile.TemporaryDirectory() as d:
    cache = os.path.join(d, "cache")
    plan, prof, trace = (os.path.join(d, n) for n in ("plan.json", "profile.json", "trace.json"))
    rc, out, err = run("--plan-dump", plan, "--profile", prof, "--trace", trace, "--cache-dir", cache)
    expect(rc == 0 and "matches the C reference" in out, f"tuned run matches C ({err.strip()[-300:]})")
    kinds = [line for line in out.splitlines() if ".dense: " in line]
    expect(len(kinds) == 2 and all("tuned now" in k for k in kinds), f"both layer kinds were measured: {kinds}")
    expect("launches per step" in out, "the profile table is on stdout")
    labels = check_plan(load(plan), True)
    real = check_profile(load(prof))
    if real:
        check_trace(load(trace))
    else:
        expect(not os.path.exists(trace) and "not real" in err,
               f"no trace from timestamps that are not real, said so: {err.strip()[-200:]}")
    expect(sorted(os.listdir(d)) == sorted(["cache", "plan.json", "profile.json"] + (["trace.json"] if real else [])),
           f"no temporary files left: {sorted(os.listdir(d))}")

    text = os.path.join(d, "plan.txt")
    rc, out, err = run("--plan-dump", text, "--cache-dir", cache)
    expect(rc == 0 and out.count("from the plan cache") == 2, "a second run takes both choices from the plan cache")
    with open(text) as f:
        dump = f.read()
    expect(all(w in dump for w in ("mlp plan: 2 graphs", "layer1", "dense1", "softmax", labels["dense1"])),
           "the text plan dump lists the graphs, tasks and the cached choice")
    rc, out, err = run("--plan-dump", plan, "--cache-dir", cache)
    expect(rc == 0 and check_plan(load(plan), True) == labels, "the cached choices are the tuned ones")

    rc, out, err = run("--profile", "/dev/null", "--cache-dir", cache)
    expect(rc == 1 and "/dev/null" in err and "not a regular file" in err,
           f"a path that is not a regular file is refused: {err.strip()[-200:]}")
    rc, out, err = run("--plan-dump", os.path.join(d, "no", "plan.json"), "--cache-dir", cache)
    expect(rc == 1 and "no/plan.json" in err, f"an unwritable plan dump is named: {err.strip()[-200:]}")

expect(checks > 0, f"{checks} checks ran")
