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
  --quick           small settings for a rehearsal on a CPU device: 135m models only,
                    -p 64 -n 16 -r 2, short generation
  --models LIST     models as SHAPE:TYPE, comma-separated, in priority order (default
                    135m:q8_0,1b:f16,1b:q8_0,135m:q4_0,135m:f16,8b:q4_0; --quick:
                    135m:q8_0,135m:q4_0,135m:f16)
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
    command -v dpkg >/dev/null && command -v apt-get >/dev/null || die "--prepare needs dpkg and apt-get"

    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    rm -rf "$dir/bin" "$dir/debs" "$dir/MANIFEST.txt"
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
        echo "prepared: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") $(uname -m)"
        echo "source:   $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)" \
            "($(git -C "$root" status --porcelain 2>/dev/null | wc -l) changed files)"
        echo "build:    $build ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null))"
        echo "binaries built: $(date -u -r "$build/clgraph" '+%Y-%m-%d %H:%M:%S UTC')"
        echo "packages:$pkgs (fallback: $FALLBACK_PKGS)"
        echo "libraries of clgraph with the carried packages:"
        echo "$check" | sed 's/^/  /'
        echo "files:"
        (cd "$dir" && find bin debs -type f | sort | xargs sha256sum) | sed 's/^/  /'
    } >"$dir/MANIFEST.txt"

    local kib
    kib=$(du -sk "$dir" | cut -f1)
    echo "gpu-check: prepared $dir: $(ls "$dir/bin" | wc -l) binaries, packages:$pkgs;" \
        "$((kib / 1024)) MiB ($kib KiB)"
    [ "$kib" -lt $((40 * 1024)) ] || echo "gpu-check: warning: $dir is over 40 MiB" >&2
    if git -C "$root" check-ignore -q "$dir" 2>/dev/null; then
        echo "gpu-check: $dir is ignored by git: name it in the machine's carry list"
    fi
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
    run) die "--run is not written yet" ;;
    *) usage >&2; exit 2 ;;
esac
