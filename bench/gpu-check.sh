#!/usr/bin/env bash
# GPU check: everything clgraph should show on a GPU machine, in one bounded run.
#
# The target is a machine with a GPU and its driver but without this project's build
# dependencies, without a package manager that can reach anything, and with a few minutes
# of time. So the work is split in two:
#
#   bench/gpu-check.sh --prepare DIR [--build BUILD]
#       here, on the build machine (Debian/Ubuntu with apt): copies the built binaries
#       (clgraph, mlp_example, matmul_bench, the ops tests) and the .deb files of the shared
#       libraries they need beyond a minimal Debian/Ubuntu (the OpenCL ICD loader, CLBlast)
#       into DIR. DIR then travels with the source tree.
#
#   bench/gpu-check.sh --run DIR OUTDIR [options]
#       there: unpacks the .debs into a private folder (never into /), points the OpenCL ICD
#       loader at the NVIDIA driver through a private vendors folder, then runs the steps
#       below, each under its own timeout, all under one time budget, one log per step and
#       OUTDIR/summary.txt with the status and time of each step. A failed step does not stop
#       the run; steps that no longer fit the budget are skipped and listed as such.
#
# Steps of --run:
#   env, libs         machine, driver, ICD, ldd of every binary
#   devices           clgraph devices, devices --json, devices --probe
#   ops.*, mlp        every ops test executable and mlp_example on the selected device
#   synth.*           clgraph synth of the models (in the background, from the start)
#   bench.*, plan.*   clgraph bench --tune --json and clgraph plan --tune --json per model
#   profile           clgraph run --profile --trace on one model
#   bench-untuned     clgraph bench without a tuned plan (fresh cache), for comparison
#   matmul_bench      the weight-product micro-benchmark
set -u

usage() {
    cat <<'EOF'
usage: bench/gpu-check.sh --prepare DIR [--build BUILD]
       bench/gpu-check.sh --run DIR OUTDIR [--device SEL] [--budget S] [--quick]
                          [--models LIST] [--profile-model M] [--untuned-model M]
                          [--pp N] [--tg N] [--reps N] [--work DIR] [--pack FILE.tar.gz]
                          [--nvidia-lib PATH] [--keep-work]

--prepare DIR       copy the binaries of BUILD and the .debs of the libraries they need
                    into DIR (run on the build machine; needs apt-get, dpkg, ldd)
  --build BUILD     build folder (default: build, relative to the source tree)

--run DIR OUTDIR    run the check with the binaries and .debs in DIR, logs into OUTDIR
  --device SEL      OpenCL device selector (default nvidia). With a selector that names
                    NVIDIA, a private .icd file for the NVIDIA driver is written and used;
                    any other (pocl, rusticl, cpu) uses the machine's own ICD files
  --budget S        seconds for the whole run (default 420); steps that no longer fit
                    are skipped
  --quick           small settings for a rehearsal on a CPU device: 135m q8_0 and q4_0
                    only (f16 tuning alone takes minutes on 2 cores), -p 64 -n 16 -r 2,
                    short generation
  --models LIST     models as SHAPE:TYPE, comma-separated, in priority order (default
                    135m:q8_0,1b:f16,1b:q8_0,135m:q4_0,135m:f16,8b:q4_0; --quick:
                    135m:q8_0,135m:q4_0)
  --profile-model M the model of the profile run (default 1b:f16; --quick 135m:q8_0)
  --untuned-model M the model of the untuned bench (default 1b:f16; --quick 135m:q8_0)
  --pp N --tg N --reps N   bench's -p, -n, -r (default 512, 128, 5; --quick 64, 16, 2)
  --work DIR        scratch folder for models, caches and libraries
                    (default ${TMPDIR:-/tmp}/clgraph-gpu-check); the models are deleted
                    at the end unless --keep-work
  --pack FILE       after every step, also write OUTDIR as FILE (a .tar.gz) and the
                    summary beside it as FILE without .tar.gz + .summary.txt: for
                    machines that return only a few files
  --nvidia-lib PATH the driver's OpenCL library (default: found with ldconfig -p or in
                    the usual folders)
  --keep-work       keep the synthesized models in the work folder
EOF
}

die() {
    echo "gpu-check: $*" >&2
    exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

# ---- prepare ---------------------------------------------------------------------------

# Packages every Debian/Ubuntu system has (a minimal image included): libraries from these
# are not carried. libstdc++6 and libgcc-s1 are carried as a fallback all the same (small,
# and unpacked only where ldd finds them missing).
BASE_PKGS="libc6 libgcc-s1 libstdc++6"
FALLBACK_PKGS="libstdc++6 libgcc-s1"

# The package owning a library path from ldd. With merged /usr, ldd may print /lib/... where
# dpkg recorded /usr/lib/... (or the other way round): try both.
pkg_of_lib() {
    local p=$1 alt out
    case "$p" in
        /usr/*) alt=${p#/usr} ;;
        *) alt=/usr$p ;;
    esac
    out=$(dpkg -S "$p" 2>/dev/null || dpkg -S "$alt" 2>/dev/null) || return 1
    echo "${out%%:*}" | head -n1
}

# Fetch PKG (the installed version) as a .deb into a folder: apt-get download first, else
# apt's cache, where an offline machine may still hold the file it installed from.
fetch_deb() {
    local pkg=$1 dest=$2 ver arch
    ver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) || ver=""
    arch=$(dpkg-query -W -f='${Architecture}' "$pkg" 2>/dev/null) || arch=amd64
    if [ -n "$ver" ] && (cd "$dest" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1); then
        return 0
    fi
    if (cd "$dest" && apt-get download -q "$pkg" >/dev/null 2>&1); then
        echo "gpu-check: note: $pkg downloaded in the candidate version, not the installed $ver" >&2
        return 0
    fi
    local f
    for f in /var/cache/apt/archives/"${pkg}"_*_"${arch}".deb; do
        if [ -f "$f" ]; then
            cp "$f" "$dest/" && return 0
        fi
    done
    return 1
}

prepare() {
    local dir=$1 build=$2
    case "$build" in /*) ;; *) build="$root/$build" ;; esac
    [ -x "$build/clgraph" ] || die "no $build/clgraph: build first (cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build)"
    local bins=("$build/clgraph" "$build/mlp_example" "$build/bench/matmul_bench")
    local t
    for t in "$build"/test/ops_*; do
        [ -x "$t" ] && bins+=("$t")
    done
    [ ${#bins[@]} -gt 3 ] || die "no ops tests in $build/test (build the whole project)"
    for t in "${bins[@]}"; do
        [ -x "$t" ] || die "missing $t"
    done
    if ! command -v dpkg >/dev/null || ! command -v apt-get >/dev/null; then
        die "--prepare needs dpkg and apt-get"
    fi

    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    rm -rf "${dir:?}/bin" "${dir:?}/debs" "${dir:?}/MANIFEST.txt"
    mkdir -p "$dir/bin" "$dir/debs/fallback"

    # Stripped copies: the symbol tables are a third of each file and nothing there reads them.
    local b
    for b in "${bins[@]}"; do
        if command -v strip >/dev/null; then
            strip --strip-unneeded -o "$dir/bin/$(basename "$b")" "$b" || cp "$b" "$dir/bin/"
        else
            cp "$b" "$dir/bin/"
        fi
    done

    # The libraries the binaries load, as ldd resolves them here, minus the base system.
    local libs pkgs="" lib pkg
    libs=$(for b in "${bins[@]}"; do ldd "$b"; done | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
    for lib in $libs; do
        pkg=$(pkg_of_lib "$lib") || die "no package owns $lib (a library built here?)"
        case " $BASE_PKGS " in *" $pkg "*) continue ;; esac
        case " $pkgs " in *" $pkg "*) ;; *) pkgs="$pkgs $pkg" ;; esac
    done
    for pkg in $pkgs; do
        fetch_deb "$pkg" "$dir/debs" || die "cannot fetch the .deb of $pkg"
    done
    for pkg in $FALLBACK_PKGS; do
        fetch_deb "$pkg" "$dir/debs/fallback" || echo "gpu-check: warning: no .deb of $pkg (fallback only)" >&2
    done

    # Check that the carried libraries alone satisfy the binaries: unpack them and look at
    # where ldd now finds each carried soname.
    local tmp
    tmp=$(mktemp -d) || die "mktemp"
    for t in "$dir"/debs/*.deb; do dpkg -x "$t" "$tmp"; done
    local libdirs
    libdirs=$(find "$tmp" -name '*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
    local check
    check=$(LD_LIBRARY_PATH="$libdirs" ldd "$dir/bin/clgraph")
    rm -rf "$tmp"
    echo "$check" | grep -q "not found" && die "clgraph still misses libraries with the carried ones: $check"

    {
        echo "clgraph GPU-check bundle"
        echo "prepared: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(sed -n 's/^PRETTY_NAME="*\([^"]*\)"*/\1/p' /etc/os-release 2>/dev/null) $(uname -m)"
        echo "source:   $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)" \
            "($(git -C "$root" status --porcelain 2>/dev/null | wc -l) changed files)"
        echo "build:    $build ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null))"
        echo "binaries built: $(date -u -r "$build/clgraph" '+%Y-%m-%d %H:%M:%S UTC')"
        echo "packages:$pkgs (fallback: $FALLBACK_PKGS)"
        echo "libraries of clgraph with the carried packages:"
        # shellcheck disable=SC2001
        sed 's/^/  /' <<<"$check"
        echo "files:"
        (cd "$dir" && find bin debs -type f | sort | xargs sha256sum) | sed 's/^/  /'
    } >"$dir/MANIFEST.txt"

    local kib
    kib=$(du -sk "$dir" | cut -f1)
    echo "gpu-check: prepared $dir: $(find "$dir/bin" -type f | wc -l) binaries, packages:$pkgs;" \
        "$((kib / 1024)) MiB ($kib KiB)"
    [ "$kib" -lt $((40 * 1024)) ] || echo "gpu-check: warning: $dir is over 40 MiB" >&2
    if git -C "$root" check-ignore -q "$dir" 2>/dev/null; then
        echo "gpu-check: $dir is ignored by git: name it in the machine's carry list"
    fi
}

# ---- run -------------------------------------------------------------------------------

now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
left() { awk -v a="$t0" -v b="$(now)" -v B="$budget" 'BEGIN { printf "%d", B - (b - a) }'; }

# A step is started only with at least this many seconds of the budget left: a shorter
# limit would only turn it into a timeout.
MIN_STEP=10

n_pass=0 n_fail=0 n_skip=0 step_no=0

# Refreshes the packed copy of OUTDIR, so that whatever stops the run (the machine's own
# time limit included) leaves the results of the steps done so far.
pack_out() {
    [ -n "$pack" ] || return 0
    tar -czf "$pack.tmp" -C "$(dirname "$outdir")" "$(basename "$outdir")" 2>/dev/null &&
        mv -f "$pack.tmp" "$pack"
    cp -f "$summary" "${pack%.tar.gz}.summary.txt" 2>/dev/null
}

# record NAME STATUS RC SECONDS NOTE
record() {
    case "$2" in
        PASS) n_pass=$((n_pass + 1)) ;;
        SKIP) n_skip=$((n_skip + 1)) ;;
        *) n_fail=$((n_fail + 1)) ;;
    esac
    printf '%-24s %-7s %4s %7s  %s\n' "$1" "$2" "$3" "$4" "$5" >>"$summary"
    pack_out
}

# run_step NAME LIMIT [--json] [--note FUNC] -- COMMAND...
# Runs COMMAND under timeout min(LIMIT, budget left) with its output in OUTDIR/NN-NAME.log
# (with --json, stdout goes to OUTDIR/NN-NAME.json and stderr to the log). FUNC LOG JSON
# prints the note of the summary line. Returns the command's status (3: skipped).
run_step() {
    local name=$1 limit=$2 json="" notef=""
    shift 2
    while [ "$1" != -- ]; do
        case "$1" in
            --json) json=1; shift ;;
            --note) notef=$2; shift 2 ;;
        esac
    done
    shift
    local l
    l=$(left)
    if [ "$l" -lt "$MIN_STEP" ]; then
        record "$name" SKIP - - "budget: ${l}s left"
        return 3
    fi
    [ "$limit" -gt "$l" ] && limit=$l
    step_no=$((step_no + 1))
    local base
    base=$(printf '%s/%02d-%s' "$outdir" "$step_no" "$name")
    {
        printf '#'
        printf ' %q' "$@"
        echo
        echo "# timeout ${limit}s; started $(date -u '+%H:%M:%S'), $(left)s of the budget left"
    } >"$base.log"
    local s rc
    s=$(now)
    if [ -n "$json" ]; then
        json=$base.json
        timeout -k 10 "$limit" "$@" >"$json" 2>>"$base.log"
    else
        timeout -k 10 "$limit" "$@" >>"$base.log" 2>&1
    fi
    rc=$?
    local secs st=PASS note=""
    secs=$(secs_since "$s")
    echo "# exit $rc after ${secs}s" >>"$base.log"
    case $rc in
        0) ;;
        124 | 137) st=TIMEOUT ;;
        *) st=FAIL ;;
    esac
    # A killed step's output is cut short: its note would mislead. A failed one gets its
    # test count, else its first error line.
    if [ $st = TIMEOUT ]; then
        note="killed after ${limit}s"
    elif [ $st = FAIL ]; then
        note=$(note_tests "$base.log")
        [ -n "$note" ] || note=$(note_error "$base.log")
    elif [ -n "$notef" ]; then
        note=$("$notef" "$base.log" "$json" 2>/dev/null)
    fi
    note=$(printf '%s' "$note" | head -c 120)
    record "$name" "$st" "$rc" "$secs" "$note"
    return $rc
}

# Notes of the summary lines: the numbers worth seeing without opening the logs.
note_tests() { grep -E '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n1; }
note_devices() { grep -E '^[0-9]+:[0-9]+ ' "$1" | sed 's/  */ /g' | paste -sd ';' -; }
note_probe() { grep -iE 'bandwidth|launch' "$1" | sed 's/^ *//; s/  */ /g' | paste -sd ';' -; }
note_bench() {
    local j=$2 pp tg roof load
    pp=$(sed -n 's/.*"pp": {[^}]*"tok_s_median": \([0-9.]*\).*/\1/p' "$j")
    tg=$(sed -n 's/.*"tg": {[^}]*"tok_s_median": \([0-9.]*\).*/\1/p' "$j")
    roof=$(sed -n 's/.*"roofline_fraction": \([0-9.]*\).*/\1/p' "$j")
    load=$(sed -n 's/.*"load_s": \([0-9.]*\).*/\1/p' "$j")
    [ -n "$pp$tg" ] && echo "pp ${pp:-?} tok/s, tg ${tg:-?} tok/s, roofline ${roof:-?}, load ${load:-?} s$bench_extra"
}
note_devices_json() { grep -c '"index"' "$2" | sed 's/$/ device(s)/'; }
note_plan() {
    local replay tuned heur
    replay=$(sed -n 's/.*"replay": {"mode": "\([a-z]*\)".*/\1/p' "$2" | head -n1)
    tuned=$(grep -o '"tuned": true' "$2" | wc -l)
    heur=$(grep -o '"tuned": false' "$2" | wc -l)
    echo "replay ${replay:-?}; tasks: $tuned tuned, $heur heuristic; builds: $(grep -o '"build": "[a-z]*"' "$2" |
        sed 's/.*: "//; s/"//' | sort | uniq -c | awk '{ printf "%s%s %s", s, $2, $1; s = ", " }')"
}
note_run() { grep -E '^\[run\]' "$1" | tail -n1 | sed 's/^\[run\] //'; }
note_last() { grep -v '^# ' "$1" | tail -n1; }
note_error() {
    local e
    e=$(grep -v '^# ' "$1" | grep -iE 'error|cannot|fail|abort|not found|no opencl' | head -n1)
    [ -n "$e" ] || e=$(grep -v '^# ' "$1" | tail -n1)
    echo "$e"
}

# The NVIDIA driver's OpenCL library: ldconfig's cache, the usual folders (containers mount
# the driver under /usr/local/nvidia), then a bounded search.
find_nvidia_lib() {
    local p d
    p=$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1 \(libc6,x86-64/ { print $NF; exit }')
    if [ -n "$p" ] && [ -e "$p" ]; then echo "$p"; return 0; fi
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 \
        /lib/x86_64-linux-gnu /usr/lib /usr/local/cuda/compat /usr/local/cuda/lib64; do
        for p in "$d"/libnvidia-opencl.so.1 "$d"/libnvidia-opencl.so.*; do
            if [ -e "$p" ]; then echo "$p"; return 0; fi
        done
    done
    p=$(timeout 30 find /usr /opt /lib /lib64 -name 'libnvidia-opencl.so*' 2>/dev/null | head -n1)
    [ -n "$p" ] && echo "$p"
}

# Unpacks a .deb into a folder: dpkg -x, or ar + tar where dpkg is missing.
unpack_deb() {
    if command -v dpkg >/dev/null; then
        dpkg -x "$1" "$2"
        return
    fi
    local m
    m=$(ar t "$1" | grep '^data\.tar') || return 1
    ar p "$1" "$m" | tar -x -a -f - -C "$2" 2>/dev/null ||
        ar p "$1" "$m" | tar -xJ -C "$2" 2>/dev/null || ar p "$1" "$m" | tar --zstd -x -C "$2"
}

# The folders of an unpacked tree that hold shared libraries, as a PATH-like list.
lib_dirs() {
    find "$1" -path '*/share' -prune -o -name 'lib*.so*' \( -type f -o -type l \) -printf '%h\n' \
        2>/dev/null | sort -u | paste -sd: -
}

# Binaries with a library that ldd does not find (one line each).
missing_libs() {
    local b
    for b in "$bindir"/*; do
        ldd "$b" 2>&1 | grep 'not found' | sed "s|^|$(basename "$b"): |"
    done
}

# Background synthesis: one process per model, started together (clgraph synth is single
# threaded and the machine has cores to spare), so that the models are written while the
# ops tests run. synth_wait records the outcome once, when the first step needs the model.
declare -A synth_pid=() synth_seen=()
model_file() { echo "$work/models/${1%%:*}-${1#*:}.gguf"; }
model_tag() { echo "${1%%:*}-${1#*:}"; }
synth_start() {
    local m=$1 f
    f=$(model_file "$m")
    rm -f "$f" "$f.done"
    (
        s=$(now)
        lim=$(left)
        [ "$lim" -gt 1 ] || lim=1
        timeout -k 5 "$lim" "$clg" synth -q --shape "${m%%:*}" --type "${m#*:}" "$f" \
            >"$outdir/synth-$(model_tag "$m").log" 2>&1
        rc=$?
        echo "$rc $(secs_since "$s")" >"$f.done"
    ) &
    synth_pid[$m]=$!
}
synth_wait() {
    local m=$1 f tag rc secs size
    f=$(model_file "$m")
    tag=$(model_tag "$m")
    if [ -z "${synth_pid[$m]:-}" ]; then return 1; fi
    while [ ! -e "$f.done" ]; do
        if [ "$(left)" -lt "$MIN_STEP" ]; then
            [ -n "${synth_seen[$m]:-}" ] || record "synth.$tag" SKIP - - "not written within the budget"
            synth_seen[$m]=1
            return 1
        fi
        sleep 1
    done
    read -r rc secs <"$f.done"
    if [ -z "${synth_seen[$m]:-}" ]; then
        synth_seen[$m]=1
        size=$(du -m "$f" 2>/dev/null | cut -f1)
        if [ "$rc" = 0 ]; then
            record "synth.$tag" PASS "$rc" "$secs" "${size:-?} MiB (in the background)"
        else
            record "synth.$tag" FAIL "$rc" "$secs" "see synth-$tag.log"
        fi
    fi
    [ "$rc" = 0 ]
}
# How many synth processes still run (a bench note says so: they load the host's CPUs
# and disk while the device is timed).
synth_running() {
    local m n=0
    for m in "${!synth_pid[@]}"; do
        [ -e "$(model_file "$m").done" ] || n=$((n + 1))
    done
    echo $n
}
bench_extra=""
mark_busy() {
    local n
    n=$(synth_running)
    bench_extra=""
    [ "$n" = 0 ] || bench_extra="; $n synth running at the start"
}
synth_stop() {
    local m
    for m in "${!synth_pid[@]}"; do
        # The subshell's own child (timeout) forwards the signal to clgraph synth.
        kill -0 "${synth_pid[$m]}" 2>/dev/null && pkill -TERM -P "${synth_pid[$m]}" 2>/dev/null
    done
    wait 2>/dev/null
}

# The profiled run, with the plan of the tuned bench ($tune: --tune, found in the cache).
profile_step() {
    local tag
    tag=$(model_tag "$1")
    # shellcheck disable=SC2086
    run_step "profile.$tag" "$2" --note note_run -- env CLGRAPH_CACHE_DIR="$work/cache" \
        "$clg" run -m "$(model_file "$1")" -p "The history of the printing press" -n "$gen" \
        --temp 0 --seed 1 --ctx "$ctx" --batch "$batch" $tune \
        --profile "$outdir/profile.$tag.json" --trace "$outdir/trace.$tag.json"
}

# The bench without a tuned plan: a fresh cache, since an untuned run loads a cached plan.
untuned_step() {
    mark_busy
    run_step "bench-untuned.$(model_tag "$1")" "$2" --json --note note_bench -- \
        env CLGRAPH_CACHE_DIR="$work/cache-untuned" "$clg" bench -m "$(model_file "$1")" \
        -p "$pp" -n "$tg" -r "$reps" -b "$batch" --ctx "$ctx" --json
}

run_check() {
    t0=$(now)
    [ -d "$dir/bin" ] || die "$dir/bin missing: run --prepare first"
    dir=$(cd "$dir" && pwd)
    bindir=$dir/bin
    clg=$bindir/clgraph
    mkdir -p "$outdir" || die "cannot create $outdir"
    outdir=$(cd "$outdir" && pwd)
    rm -f "$outdir"/*.log "$outdir"/*.json "$outdir/summary.txt"
    summary=$outdir/summary.txt
    if [ -n "$pack" ]; then
        case "$pack" in /*) ;; *) pack="$PWD/$pack" ;; esac
        mkdir -p "$(dirname "$pack")" || die "cannot create the folder of $pack"
    fi

    if [ $quick = 1 ]; then
        : "${models:=135m:q8_0,135m:q4_0}" "${profile_model:=135m:q8_0}"
        : "${untuned_model:=135m:q8_0}" "${pp:=64}" "${tg:=16}" "${reps:=2}"
        gen=16 mm_args="-r 3 -T 1,64 -s 576x576"
    else
        : "${models:=135m:q8_0,1b:f16,1b:q8_0,135m:q4_0,135m:f16,8b:q4_0}"
        : "${profile_model:=1b:f16}" "${untuned_model:=1b:f16}" "${pp:=512}" "${tg:=128}" "${reps:=5}"
        gen=64 mm_args="-r 21"
    fi
    # The context and batch of clgraph bench's defaults, given explicitly so that clgraph plan
    # and clgraph run ask for the same shapes and find the plan bench tuned in the cache.
    local need=$pp
    [ $((8 + tg)) -gt "$need" ] && need=$((8 + tg))
    ctx=$((need + 16))
    batch=$pp
    [ "$batch" -gt 512 ] && batch=512
    [ "$batch" -lt 8 ] && batch=8

    : "${work:=${TMPDIR:-/tmp}/clgraph-gpu-check}"
    mkdir -p "$work" || die "cannot create $work"
    work=$(cd "$work" && pwd)
    local sub
    for sub in lib fallback vendors models tmp cache cache-tests cache-untuned; do
        rm -rf "${work:?}/$sub"
        mkdir -p "$work/$sub"
    done
    export TMPDIR=$work/tmp HOME=${HOME:-$work/tmp}
    cd "$work/tmp" || die "cannot enter $work/tmp"

    {
        echo "clgraph GPU check: --device $device, budget ${budget}s$([ $quick = 1 ] && echo ', quick')"
        echo "started $(date -u '+%Y-%m-%d %H:%M:%S UTC'); source tree $root"
        sed -n 's/^source: *\(.\{12\}\).*(\(.*\))/bundle built from \1 (\2)/p' "$dir/MANIFEST.txt" 2>/dev/null
        echo "models $models; profile $profile_model; untuned $untuned_model; pp $pp, tg $tg, reps $reps, ctx $ctx, batch $batch"
        echo
        printf '%-24s %-7s %4s %7s  %s\n' STEP STATUS RC SECONDS NOTE
    } >"$summary"

    # -- env: libraries and the ICD ------------------------------------------------------
    local envlog=$outdir/00-env.log s deb
    s=$(now)
    {
        echo "## machine"
        uname -a
        grep PRETTY_NAME /etc/os-release
        echo "cpus $(nproc)"
        free -g 2>/dev/null
        df -h "$work" 2>/dev/null
        echo "## nvidia-smi"
        timeout 20 nvidia-smi 2>&1 || echo "(no nvidia-smi)"
        echo "## ldconfig -p (OpenCL, NVIDIA, CUDA)"
        ldconfig -p 2>/dev/null | grep -iE 'opencl|nvidia|libcuda'
        echo "## /etc/OpenCL/vendors"
        for f in /etc/OpenCL/vendors/*.icd; do [ -e "$f" ] && echo "$f: $(cat "$f")"; done
        echo "## bundle"
        head -n 12 "$dir/MANIFEST.txt" 2>/dev/null
        echo "## unpacking"
    } >"$envlog" 2>&1
    for deb in "$dir"/debs/*.deb; do
        [ -e "$deb" ] || continue
        basename "$deb" >>"$envlog"
        unpack_deb "$deb" "$work/lib" >>"$envlog" 2>&1 || echo "  failed" >>"$envlog"
    done
    local libpath
    libpath=$(lib_dirs "$work/lib")
    export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    local missing
    missing=$(missing_libs)
    if [ -n "$missing" ]; then
        # Only then the carried libstdc++ / libgcc: the machine's own are newer everywhere
        # they exist. Appended, so that they cannot shadow anything the machine has.
        echo "missing with the carried libraries, unpacking the fallback:" >>"$envlog"
        echo "$missing" >>"$envlog"
        for deb in "$dir"/debs/fallback/*.deb; do
            [ -e "$deb" ] && unpack_deb "$deb" "$work/fallback" >>"$envlog" 2>&1
        done
        LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(lib_dirs "$work/fallback")"
        missing=$(missing_libs)
    fi

    # The ICD loader reads OCL_ICD_VENDORS instead of /etc/OpenCL/vendors: a private folder
    # with one file naming the driver library by its full path. Its folder joins the library
    # path so that the driver finds its own dependencies (libcuda.so.1) where ldconfig
    # does not know that folder.
    local icd_note=""
    case "${device,,}" in
        *nvidia*)
            [ -n "$nvidia_lib" ] || nvidia_lib=$(find_nvidia_lib)
            if [ -n "$nvidia_lib" ] && [ -e "$nvidia_lib" ]; then
                echo "$nvidia_lib" >"$work/vendors/nvidia.icd"
                export OCL_ICD_VENDORS=$work/vendors
                LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$nvidia_lib")"
                icd_note="icd $nvidia_lib"
            else
                icd_note="no libnvidia-opencl found: the machine's own ICD files are used"
            fi
            ;;
        *) icd_note="machine's own ICD files (--device $device)" ;;
    esac
    export LD_LIBRARY_PATH CLGRAPH_DEVICE=$device
    {
        echo "## environment"
        echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
        echo "OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-}"
        echo "CLGRAPH_DEVICE=$CLGRAPH_DEVICE"
        echo "$icd_note"
        for f in "$work"/vendors/*.icd; do [ -e "$f" ] && echo "$f: $(cat "$f")"; done
        echo "## ldd clgraph"
        ldd "$clg"
    } >>"$envlog" 2>&1
    case "$icd_note" in
        no\ *) record env FAIL - "$(secs_since "$s")" "$icd_note" ;;
        *) record env PASS 0 "$(secs_since "$s")" "$icd_note" ;;
    esac
    if [ -n "$missing" ]; then
        echo "$missing" >>"$envlog"
        record libs FAIL - - "$(echo "$missing" | head -n1) (see 00-env.log)"
    else
        record libs PASS 0 - "every binary finds its libraries"
    fi

    # -- a. devices ----------------------------------------------------------------------
    run_step devices 60 --note note_devices -- "$clg" devices
    grep -qi -- "${device}" "$outdir"/*-devices.log 2>/dev/null ||
        echo "note: no platform or device name contains '$device'" >>"$summary"
    run_step devices-json 60 --json --note note_devices_json -- "$clg" devices --json
    run_step devices-probe 120 --note note_probe -- "$clg" devices --probe

    # -- c. (background) synthesize the models -------------------------------------------
    local m all=""
    for m in ${models//,/ } "$profile_model" "$untuned_model"; do
        case " $all " in *" $m "*) ;; *) all="$all $m" ;; esac
    done
    for m in $all; do synth_start "$m"; done

    # -- b. the runtime example, then the ops tests -------------------------------------
    # The example first: it also says whether the selector finds a device at all. Where it
    # does not, the model steps would only fail, after waiting for their models: they are
    # skipped, leaving the time to a second try.
    run_step mlp 60 --note note_last -- env CLGRAPH_CACHE_DIR="$work/cache-tests" "$bindir/mlp_example" "$device" \
        --cache-dir "$work/cache-mlp" --plan-dump "$outdir/mlp-plan.json" --profile "$outdir/mlp-profile.json" \
        --trace "$outdir/mlp-trace.json"
    local no_device=0
    if grep -q 'no OpenCL device matches' "$outdir"/*-mlp.log 2>/dev/null; then
        no_device=1
        synth_stop
    fi
    # The environment of the CTest ops tests (test/CMakeLists.txt CLGRAPH_TEST_ENV).
    local t
    for t in "$bindir"/ops_*; do
        run_step "ops.$(basename "$t" | sed 's/^ops_//')" 90 --note note_tests -- \
            env CLGRAPH_TEST_DATA="$root/test/data" CLGRAPH_SRC="$root" \
            CLGRAPH_CACHE_DIR="$work/cache-tests" "$t"
    done

    # -- c. and d. models: tuned bench and plan each; the profile and the untuned bench
    # after their model's tuned bench (whose plan the profile run then loads from the cache)
    local f tag lim tune
    [ $no_device = 1 ] && record models SKIP - - "no OpenCL device matches '$device'" && models=""
    for m in ${models//,/ }; do
        tag=$(model_tag "$m")
        f=$(model_file "$m")
        if ! synth_wait "$m"; then
            record "bench.$tag" SKIP - - "no model"
            continue
        fi
        lim=180
        case "$m" in 8b:* | 3b:*) lim=300 ;; esac
        mark_busy
        # Where the tuning did not finish, plan and run would start it again from scratch
        # under a shorter limit: they show the untuned plan instead.
        tune=--tune
        run_step "bench.$tag" $lim --json --note note_bench -- env CLGRAPH_CACHE_DIR="$work/cache" \
            "$clg" bench -m "$f" --tune -p "$pp" -n "$tg" -r "$reps" -b "$batch" --ctx "$ctx" --json ||
            tune=""
        run_step "plan.$tag" 90 --json --note note_plan -- env CLGRAPH_CACHE_DIR="$work/cache" \
            "$clg" plan -m "$f" $tune --json --ctx "$ctx" --batch "$batch"
        [ "$m" = "$profile_model" ] && profile_step "$m" 150
        [ "$m" = "$untuned_model" ] && untuned_step "$m" $lim
    done
    # Profile or untuned models outside the list run after it (the profile tunes first).
    tune=--tune
    for m in "$profile_model" "$untuned_model"; do
        [ $no_device = 1 ] && break
        case ",$models," in *",$m,"*) continue ;; esac
        synth_wait "$m" || continue
        [ "$m" = "$profile_model" ] && profile_step "$m" 300
        [ "$m" = "$untuned_model" ] && untuned_step "$m" 180
    done

    # -- the weight-product micro-benchmark ----------------------------------------------
    # shellcheck disable=SC2086
    [ $no_device = 1 ] || run_step matmul_bench 90 --note note_last -- \
        env CLGRAPH_CACHE_DIR="$work/cache-tests" "$bindir/matmul_bench" $mm_args

    synth_stop
    local total
    total=$(secs_since "$t0")
    {
        echo
        echo "total ${total}s of ${budget}s: $n_pass passed, $n_fail failed, $n_skip skipped"
        [ "$n_skip" -gt 0 ] && echo "skipped steps did not fit the budget (or had no model); raise --budget or shorten --models"
    } >>"$summary"
    [ $keep_work = 1 ] || rm -rf "${work:?}/models"
    pack_out
    cat "$summary"
    [ "$n_fail" = 0 ]
}

# ---- main ------------------------------------------------------------------------------

mode="" dir="" outdir="" build=build
device=nvidia budget=420 quick=0 models="" profile_model="" untuned_model=""
pp="" tg="" reps="" work="" pack="" nvidia_lib="" keep_work=0
need() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --prepare) need "$@"; mode=prepare dir=$2; shift 2 ;;
        --run) [ $# -ge 3 ] || die "--run needs DIR and OUTDIR"; mode=run dir=$2 outdir=$3; shift 3 ;;
        --build) need "$@"; build=$2; shift 2 ;;
        --device) need "$@"; device=$2; shift 2 ;;
        --budget) need "$@"; budget=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --models) need "$@"; models=$2; shift 2 ;;
        --profile-model) need "$@"; profile_model=$2; shift 2 ;;
        --untuned-model) need "$@"; untuned_model=$2; shift 2 ;;
        --pp) need "$@"; pp=$2; shift 2 ;;
        --tg) need "$@"; tg=$2; shift 2 ;;
        --reps) need "$@"; reps=$2; shift 2 ;;
        --work) need "$@"; work=$2; shift 2 ;;
        --pack) need "$@"; pack=$2; shift 2 ;;
        --nvidia-lib) need "$@"; nvidia_lib=$2; shift 2 ;;
        --keep-work) keep_work=1; shift ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

case "$mode" in
    prepare) prepare "$dir" "$build" ;;
    run) run_check ;;
    *) usage >&2; exit 2 ;;
esac
