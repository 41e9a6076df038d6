#!/usr/bin/env python3
"""Serving throughput: clgraph serve against llama.cpp's server (llama-cpp-python[server]) on the
same GGUF, with 1, 4 and 8 concurrent streamed completions.

For each server and concurrency it reports the aggregate generated tokens/s (all streams' tokens
over the wall time from the first request to the last [DONE]) and the time to first token
(median and worst over the streams). Tokens are counted as the streamed text chunks (one per
token in both servers). With --rounds N every concurrency runs N times, the concurrencies
alternating within each round, and the table gives the median tokens/s over the rounds (with
their range), the median TTFT and the worst; then each concurrency's median over the first
one's (a shared machine's load drifts by 10% and more between minutes: one run per cell cannot
tell a few per cent). Standard library only, so any python3 runs it.

usage: bench/serve-bench.py [--model GGUF] [--clgraph BUILD/clgraph] [--parallel N]
                            [--threads N] [--tokens N] [--streams 1,4,8] [--rounds N]
                            [--only clgraph|llama.cpp]
  --parallel  clgraph serve's sequences, a run per value (default 8; llama-cpp-python's
              server has one slot: it serves concurrent requests one after the other)
  --threads   llama.cpp's threads (clgraph on PoCL uses PoCL's worker threads, one per core)
Environment: CLGRAPH_DEVICE for clgraph (default pocl); LLAMACPP_VENV (default
~/.cache/clgraph/llamacpp-venv) with llama-cpp-python and its server extras.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

HOME = os.path.expanduser("~")
PROMPTS = ["Write a story about a dragon who learns to cook.",
           "Explain how a steam engine works, step by step.",
           "Describe a walk through a forest in autumn.",
           "List ten facts about the ocean and explain each.",
           "Write a letter to a friend about a trip to Rome.",
           "Explain the rules of chess to a beginner.",
           "Describe the history of the bicycle.",
           "Write a poem about the night sky and the stars."]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port, proc, seconds=300):
    t0 = time.time()
    while time.time() - t0 < seconds:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v1/models")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not come up")


def one_stream(port, prompt, n_tokens, out):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": n_tokens, "temperature": 0, "stream": True})
    c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise SystemExit(f"HTTP {r.status}: {r.read()[:200]!r}")
    ttft, n = None, 0
    buf = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf or b"\r\n\r\n" in buf:
            sep = b"\r\n\r\n" if b"\r\n\r\n" in buf and (b"\n\n" not in buf or buf.index(b"\r\n\r\n") < buf.index(b"\n\n")) else b"\n\n"
            ev, buf = buf.split(sep, 1)
            line = ev.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for ch in json.loads(line[6:]).get("choices", []):
                if ch.get("delta", {}).get("content"):
                    n += 1
                    if ttft is None:
                        ttft = time.perf_counter() - t0
    out.append((ttft if ttft is not None else float("nan"), n, time.perf_counter()))


def measure(port, streams, n_tokens):
    # warm-up: one short request
    one_stream(port, "Hi", 4, [])
    out = []
    t0 = time.perf_counter()
    ts = [threading.Thread(target=one_stream, args=(port, PROMPTS[i % len(PROMPTS)], n_tokens, out))
          for i in range(streams)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if len(out) != streams or any(o[1] == 0 for o in out):
        raise SystemExit(f"{streams - len(out)} streams failed, {sum(o[1] == 0 for o in out)} empty")
    wall = max(o[2] for o in out) - t0
    toks = sum(o[1] for o in out)
    ttfts = [o[0] for o in out]
    return toks / wall, statistics.median(ttfts), max(ttfts), toks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=f"{HOME}/.cache/clgraph/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--clgraph", default="build/clgraph")
    ap.add_argument("--parallel", default="8", help="clgraph --parallel values, comma-separated")
    ap.add_argument("--clgraph-args", default="", help="more clgraph serve options")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--streams", default="1,4,8")
    ap.add_argument("--rounds", type=int, default=1, help="runs of every concurrency, alternating")
    ap.add_argument("--only", choices=["clgraph", "llama.cpp"])
    a = ap.parse_args()
    streams = [int(x) for x in a.streams.split(",")]
    venv = os.environ.get("LLAMACPP_VENV", f"{HOME}/.cache/clgraph/llamacpp-venv")
    servers = {}
    for par in a.parallel.split(","):
        servers[f"clgraph --parallel {par}"] = [a.clgraph, "serve", "-m", a.model, "--parallel", par,
                                               "--ctx", "1024", "-q", *a.clgraph_args.split()]
    servers.update({
        "llama.cpp": [f"{venv}/bin/python", "-m", "llama_cpp.server", "--model", a.model, "--n_ctx", "1024",
                     "--n_threads", str(a.threads), "--n_threads_batch", str(a.threads), "--host", "127.0.0.1",
                     "--interrupt_requests", "False"],  # its default: a new request ends the running one
    })
    env = dict(os.environ)
    env.setdefault("CLGRAPH_DEVICE", "pocl")
    rows = []
    for name, cmd in servers.items():
        if a.only and not name.startswith(a.only):
            continue
        port = free_port()
        cmd = cmd + ["--port", str(port)]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(port, p)
            runs = {n: [] for n in streams}
            for r in range(a.rounds):
                for n in streams:
                    tps, ttft_med, ttft_max, toks = measure(port, n, a.tokens)
                    runs[n].append((tps, ttft_med, ttft_max))
                    print(f"{name:22s} round {r + 1} streams {n}: {tps:6.1f} tok/s aggregate, time to first "
                          f"token median {ttft_med * 1000:6.0f} ms, worst {ttft_max * 1000:6.0f} ms ({toks} tokens)",
                          flush=True)
            for n in runs:  # each concurrency once, also where --streams repeats it
                rows.append((name, n, [x[0] for x in runs[n]], statistics.median(x[1] for x in runs[n]),
                             max(x[2] for x in runs[n])))
        finally:
            p.terminate()
            p.wait(30)
    rounds = f" (median of {a.rounds} rounds, range)" if a.rounds > 1 else ""
    print(f"\n| server | streams | generated tok/s (aggregate){rounds} | TTFT median (ms) | TTFT worst (ms) |")
    print("|---|---|---|---|---|")
    for name, n, tps, m, w in rows:
        spread = f" ({min(tps):.1f} - {max(tps):.1f})" if len(tps) > 1 else ""
        print(f"| {name} | {n} | {statistics.median(tps):.1f}{spread} | {m * 1000:.0f} | {w * 1000:.0f} |")
    print()
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == name]
        base = statistics.median(mine[0][2])
        print(f"{name}: " + ", ".join(f"{r[1]} streams {statistics.median(r[2]) / base:.2f}x" for r in mine[1:])
              + f" the tokens/s of {mine[0][1]}")


if __name__ == "__main__":
    sys.exit(main())
