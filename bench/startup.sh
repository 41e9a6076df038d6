#!/usr/bin/env bash
# Start-up time of `clgraph run`: a cold start (empty program cache and empty PoCL kernel
# cache, each a fresh temporary folder) and then a warm one on the caches the cold run left,
# R rounds; prints each run's `-v` breakdown and the median of the times to the first token
# (wall and CPU seconds) and of the load times. The machine's load average is printed with
# each run: on a shared machine the wall times stretch with it, the CPU seconds much less.
# With --base BIN (another build, e.g. of main), each round runs it first on caches of its
# own, so that both see the same minutes of the machine's load, and its medians follow.
#
# usage: bench/startup.sh [-m MODEL.gguf] [-R 3] [--clgraph BIN] [--base BIN] [--device pocl]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
model="$HOME/.cache/clgraph/SmolLM2-135M-Instruct.Q4_1.gguf" rounds=3 device=pocl
clgraph="$root/build/clgraph" base=""
while [ $# -gt 0 ]; do
    case "$1" in
    -m) model=$2; shift 2 ;;
    -R) rounds=$2; shift 2 ;;
    --clgraph) clgraph=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    *) echo "bench/startup.sh: unknown option $1 (see the header)" >&2; exit 2 ;;
    esac
done
[ -x "$clgraph" ] || { echo "bench/startup.sh: no clgraph binary at $clgraph (--clgraph)" >&2; exit 2; }
[ -z "$base" ] || [ -x "$base" ] || { echo "bench/startup.sh: no clgraph binary at $base (--base)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { # binary label pocl_cache program_cache
    echo "== $2, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    POCL_CACHE_DIR=$3 CLGRAPH_CACHE_DIR=$4 CLGRAPH_DEVICE=$device nice "$1" run -m "$model" \
        --chat -p "What is the capital of France?" -n 16 --seed 1 -v 2>&1 >/dev/null |
        grep -E '^(loaded|\[start-up\])' | sed 's/: [0-9]* layers.*//' | tee -a "$tmp/$2.log"
}
for r in $(seq "$rounds"); do
    if [ -n "$base" ]; then
        mkdir -p "$tmp/base-pocl$r" "$tmp/base-prog$r"
        run "$base" base-cold "$tmp/base-pocl$r" "$tmp/base-prog$r"
        run "$base" base-warm "$tmp/base-pocl$r" "$tmp/base-prog$r"
    fi
    mkdir -p "$tmp/pocl$r" "$tmp/prog$r"
    run "$clgraph" cold "$tmp/pocl$r" "$tmp/prog$r"
    run "$clgraph" warm "$tmp/pocl$r" "$tmp/prog$r"
done
median() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
kinds="cold warm"
[ -z "$base" ] || kinds="base-cold base-warm cold warm"
for kind in $kinds; do
    f="$tmp/$kind.log"
    first=$(sed -n 's/^\[start-up\] \([0-9.]*\) s to the first token.*/\1/p' "$f" | median)
    cpu=$(sed -n 's/.*first token (\([0-9.]*\) s of CPU.*/\1/p' "$f" | median)
    loaded=$(sed -n 's/^\[start-up\].*loaded in \([0-9.]*\) s.*/\1/p' "$f" | median)
    echo "$kind: median of $rounds: first token $first s ($cpu s of CPU), loaded in $loaded s"
done
