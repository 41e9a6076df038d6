#!/usr/bin/env bash
# Peer comparison: clgraph on an OpenCL device (default PoCL) vs llama.cpp's CPU backend
# (llama-cpp-python, built from its source distribution with -DGGML_NATIVE=ON into a cached
# venv) on the same GGUF, the same prompt length, the same number of generated tokens and the
# same number of threads. Runs alternate (clgraph, llama.cpp, then llama.cpp, clgraph, ...) so
# that both see the same machine load; every sample of every round is pooled into min / median.
#
# usage: bench/compare-llamacpp.sh -m MODEL.gguf [-p 256] [-n 64] [-d 0] [-r 3] [-R 3] [-t 2]
#                                  [--device pocl] [--tune] [--kv-f16] [--clgraph BIN] [--out DIR]
#   -p N         prompt tokens (pp)                    -n N   generated tokens (tg)
#   -d N         both tests after N cached tokens (clgraph bench -d; default: pp at 0, tg at 8)
#   -r N         timed repetitions per run              -R N   rounds (one run of each per round)
#   -t N         threads: llama.cpp n_threads, and POCL_MAX_PTHREAD_COUNT for clgraph on PoCL
#   --device S   clgraph's device selector (default pocl)
#   --tune       let clgraph measure its kernel variants first (clgraph bench --tune; cached)
#   --kv-f16     clgraph's KV cache in f16, as llama.cpp's is by default (clgraph's default: f32)
#   --clgraph B  the clgraph binary (default: build/clgraph; build it with -DCMAKE_BUILD_TYPE=Release)
#   --out DIR    keep every run's JSON there
# environment:
#   LLAMACPP_VENV        venv holding llama-cpp-python (default ~/.cache/clgraph/llamacpp-venv);
#                        created and built on first use (about 10 minutes on 2 cores)
#   LLAMACPP_CMAKE_ARGS  CMake options of that build (default -DGGML_NATIVE=ON: the best CPU code
#                        for this machine, as a local llama.cpp build would have)
set -euo pipefail

LLAMACPP_PY_VERSION=0.3.36
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
model="" p=256 n=64 depth="" reps=3 rounds=3 threads=2 device=pocl out="" tune="" kv=""
clgraph="$root/build/clgraph"
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model=$2; shift 2 ;;
        -p) p=$2; shift 2 ;;
        -n) n=$2; shift 2 ;;
        -d) depth=$2; shift 2 ;;
        -r) reps=$2; shift 2 ;;
        -R) rounds=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --clgraph) clgraph=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --tune) tune=--tune; shift ;;
        --kv-f16) kv=--kv-f16; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare-llamacpp: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$model" ] || { echo "compare-llamacpp: -m MODEL.gguf is required" >&2; exit 2; }
[ -f "$model" ] || { echo "compare-llamacpp: no such model: $model" >&2; exit 2; }
[ -x "$clgraph" ] || { echo "compare-llamacpp: no clgraph binary at $clgraph (--clgraph BIN)" >&2; exit 2; }

venv=${LLAMACPP_VENV:-$HOME/.cache/clgraph/llamacpp-venv}
py="$venv/bin/python"
have_llamacpp() {
    "$py" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMACPP_PY_VERSION')" 2>/dev/null
}
if ! have_llamacpp; then
    echo "compare-llamacpp: building llama-cpp-python $LLAMACPP_PY_VERSION from source into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy
    CMAKE_ARGS=${LLAMACPP_CMAKE_ARGS:--DGGML_NATIVE=ON} \
        "$venv/bin/pip" install --no-binary llama-cpp-python --no-cache-dir \
        "llama-cpp-python==$LLAMACPP_PY_VERSION" >&2
    have_llamacpp || { echo "compare-llamacpp: llama-cpp-python did not install" >&2; exit 1; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dflag=()
[ -z "$depth" ] || dflag=(-d "$depth")
echo "compare-llamacpp: $(basename "$model"), pp$p tg$n${depth:+ @ d$depth}, $reps reps x $rounds rounds, $threads threads; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
run_clgraph() {
    POCL_MAX_PTHREAD_COUNT=$threads "$clgraph" bench -m "$model" -p "$p" -n "$n" "${dflag[@]}" -r "$reps" \
        --device "$device" $tune $kv --json -q > "$tmp/clgraph.$1.json"
}
run_llamacpp() {
    "$py" "$here/llamacpp_bench.py" -m "$model" -p "$p" -n "$n" "${dflag[@]}" -r "$reps" -t "$threads" \
        > "$tmp/llamacpp.$1.json" 2> "$tmp/llamacpp.$1.log" || { cat "$tmp/llamacpp.$1.log" >&2; exit 1; }
}
for i in $(seq 1 "$rounds"); do
    if [ $((i % 2)) -eq 1 ]; then run_clgraph "$i"; run_llamacpp "$i"
    else run_llamacpp "$i"; run_clgraph "$i"; fi
    echo "compare-llamacpp: round $i/$rounds done; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
[ -z "$out" ] || { mkdir -p "$out"; cp "$tmp"/*.json "$out"/; }

"$py" - "$tmp" "$rounds" <<'EOF'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
runs = {e: [json.load(open(f"{tmp}/{e}.{i}.json")) for i in range(1, rounds + 1)] for e in ("clgraph", "llamacpp")}
def pooled(engine, test):
    s = sorted(x for r in runs[engine] if test in r for x in r[test]["samples"])
    return (s[0], statistics.median(s), len(s)) if s else None
c0 = runs["clgraph"][0]
dev = c0["device"]
print(f"model: {c0['model']} ({c0['weight_type']}, {c0['model_bytes'] / 2**20:.1f} MiB)")
print(f"clgraph: {dev['name']} ({dev['platform_version']}, driver {dev['driver']})")
print(f"llama.cpp: llama-cpp-python {runs['llamacpp'][0]['llama_cpp_python']}, CPU backend, "
      f"{runs['llamacpp'][0]['threads']} threads; {runs['llamacpp'][0]['system_info']}")
print()
print("| test | clgraph t/s median | (min) | llama.cpp t/s median | (min) | clgraph / llama.cpp |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
ratios = {}
for test in ("pp", "tg"):
    a, b = pooled("clgraph", test), pooled("llamacpp", test)
    if not a or not b:
        continue
    ratios[test] = a[1] / b[1]
    depth = c0.get("pp_depth" if test == "pp" else "tg_prompt")
    label = f"{test}{c0[test]['n_tokens']} @ d{depth}"
    print(f"| {label} | {a[1]:.2f} | {a[0]:.2f} | {b[1]:.2f} | {b[0]:.2f} | {ratios[test]:.2f}x |")
if "tg" in ratios:
    bw = statistics.median(r["read_gbs"] for r in runs["clgraph"])
    tg = pooled("clgraph", "tg")[1]
    lt = pooled("llamacpp", "tg")[1]
    bpt = c0["weight_bytes_per_token"]
    print()
    print(f"weights per token {bpt / 1e6:.1f} MB, probed read bandwidth {bw:.2f} GB/s (median of rounds): "
          f"roofline clgraph {bpt * tg / 1e9 / bw:.1%}, llama.cpp {bpt * lt / 1e9 / bw:.1%}")
print(f"samples per cell: {pooled('clgraph', 'tg' if 'tg' in ratios else 'pp')[2]}")
EOF
echo "compare-llamacpp: load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
