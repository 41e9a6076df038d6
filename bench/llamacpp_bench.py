#!/usr/bin/env python3
"""llama.cpp's CPU backend (through llama-cpp-python) timed the way `clgraph bench` times clgraph.

pp: one evaluation of N random token ids at position 0 (n_batch = N, so one llama_decode);
tg: an untimed 8-token prompt, then N single-token evaluations; with -d D both after an untimed
D-token prompt instead (pp at position D, tg from position D on, as `clgraph bench -d`); one
warm-up run of each, then -r timed repetitions, reported as min / median tokens per second.
Prints one JSON object shaped like `clgraph bench --json` (the fields both have).

Run with the venv that holds llama-cpp-python (bench/compare-llamacpp.sh makes one):
    python bench/llamacpp_bench.py -m MODEL.gguf -p 256 -n 64 -r 5 -t 2
"""
import argparse
import json
import resource
import statistics
import sys
import time

TG_PROMPT = 8  # as in apps/cmd_bench.c


def series(tps, n_tokens):
    tps = sorted(tps)
    return {
        "n_tokens": n_tokens,
        "tok_s_min": tps[0],
        "tok_s_median": statistics.median(tps),
        "tok_s_max": tps[-1],
        "samples": tps,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("-d", "--depth", type=int, default=-1)
    ap.add_argument("-r", "--reps", type=int, default=5)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import llama_cpp
    import numpy as np

    if args.depth < -1:
        ap.error("-d must be 0 or more")
    pp_depth = max(args.depth, 0)
    tg_prompt = TG_PROMPT if args.depth < 0 else args.depth
    need = max(pp_depth + args.n_prompt, tg_prompt + args.n_gen)
    n_batch = max(args.n_prompt, TG_PROMPT)
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=need + 16,
        n_batch=n_batch,
        n_ubatch=n_batch,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=0,
        logits_all=False,
        verbose=False,
    )
    load_s = time.perf_counter() - t0
    n_vocab = llm.n_vocab()
    rng = np.random.default_rng(args.seed)

    def ids(n):
        return [int(x) for x in rng.integers(0, n_vocab, size=n)]

    def sync():  # llama_decode may return before the backend is done
        llama_cpp.llama_synchronize(llm._ctx.ctx)

    def prompt(n):  # the untimed prompt: positions 0 .. n-1
        llm.reset()  # eval() drops the KV cache from position n_tokens = 0 on
        if n:
            llm.eval(ids(n))
            sync()

    def run_pp():
        prompt(pp_depth)
        toks = ids(args.n_prompt)
        t = time.perf_counter()
        llm.eval(toks)
        sync()
        return args.n_prompt / (time.perf_counter() - t)

    def run_tg():
        prompt(tg_prompt)
        toks = ids(args.n_gen)
        t = time.perf_counter()
        for tok in toks:
            llm.eval([tok])
            sync()
        return args.n_gen / (time.perf_counter() - t)

    out = {
        "engine": "llama.cpp",
        "llama_cpp_python": llama_cpp.__version__,
        "model": args.model,
        "threads": args.threads,
        "n_ctx": need + 16,
        "n_batch": n_batch,
        "reps": args.reps,
        "warmup": 1,
        "tg_prompt": tg_prompt,
        "pp_depth": pp_depth,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "load_s": load_s,
    }
    for name, n, run in (("pp", args.n_prompt, run_pp), ("tg", args.n_gen, run_tg)):
        if n <= 0:
            continue
        run()  # warm-up
        out[name] = series([run() for _ in range(args.reps)], n)
        print(f"llama.cpp {name}{n}: median {out[name]['tok_s_median']:.2f} tok/s", file=sys.stderr)
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
