#!/usr/bin/env python3
"""CLI checks for clgraph: cli_check.py CLGRAPH_BINARY CHECK_NAME. Exit 0 when the check holds."""
import json
import subprocess
import sys

BIN = sys.argv[1]


def run(*args, input_text=None):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, input=input_text, timeout=600)
    return p.returncode, p.stdout, p.stderr


def expect(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)
    print("ok:", msg)


def devices_json():
    rc, out, err = run("devices", "--json")
    expect(rc == 0, f"devices --json exits 0 (stderr: {err.strip()})")
    devs = json.loads(out)
    names = " ".join(d["platform"] + " " + d["name"] for d in devs)
    expect(any("Portable Computing Language" in d["platform"] for d in devs), "PoCL listed: " + names)
    expect(any("rusticl" in d["platform"] for d in devs), "rusticl listed: " + names)
    for d in devs:
        for key in ("opencl_c_version", "il_version", "fp16", "fp64", "subgroups", "command_buffer",
                    "local_mem_size", "local_mem_type", "max_work_group_size", "preferred_multiple",
                    "compute_units", "global_mem_size", "max_alloc_size", "vendor", "driver_version"):
            expect(key in d, f"{d['name']} has {key}")
        expect(d["max_work_group_size"] > 0 and d["max_alloc_size"] > 0, f"{d['name']} limits are set")


def usage():
    rc, out, _ = run("--help")
    expect(rc == 0 and "devices" in out, "--help lists commands")
    rc, _, err = run("no-such-command")
    expect(rc == 2 and "unknown command" in err, "unknown command exits 2 with a message")
    rc, _, err = run("devices", "--bogus")
    expect(rc == 2 and "--bogus" in err, "unknown flag exits 2 naming the flag")
    rc, out, _ = run("devices", "--help")
    expect(rc == 0 and "--probe" in out, "devices --help documents --probe")


def inspect():
    import os
    import tempfile
    model = os.environ["CLGRAPH_TEST_MODEL"]
    rc, out, err = run("inspect", model)
    expect(rc == 0 and "llama" in out and "token_embd.weight" in out, f"inspect prints the model ({err.strip()})")
    rc, out, err = run("inspect", model, "--json")
    expect(rc == 0, "inspect --json exits 0")
    j = json.loads(out)
    expect(isinstance(j, dict), "inspect --json is a JSON object")
    text = json.dumps(j)
    expect("blk.29.ffn_down.weight" in text and "q4_1" in text.lower(), "every tensor is listed with its type")
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad.gguf")
        with open(bad, "wb") as f:
            f.write(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
        rc, out, err = run("inspect", bad)
        expect(rc == 1 and err.strip() != "", f"a malformed file exits 1 with a message: {err.strip()[:160]}")
        trunc = os.path.join(d, "trunc.gguf")
        with open(model, "rb") as src, open(trunc, "wb") as f:
            f.write(src.read(1 << 20))
        rc, out, err = run("inspect", trunc)
        expect(rc == 1 and "offset" in err, f"a truncated model exits 1 naming an offset: {err.strip()[:160]}")
        rc, out, err = run("inspect", os.path.join(d, "missing.gguf"))
        expect(rc == 1 and "missing.gguf" in err, "a missing file is named")


globals()[sys.argv[2]]()
