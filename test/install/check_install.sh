#!/usr/bin/env bash
# Installs a build into a scratch prefix and uses it as another project would:
# test/install/list_devices.c built with find_package(clgraph) in a fresh CMake project
# (consumer/) and with pkg-config + cc, against clgraph::llm / clgraph.pc and
# clgraph::runtime / clgraph-runtime.pc; all four run, and so does the installed CLI.
#   check_install.sh BUILD_DIR LIBDIR CC      (LIBDIR: CMAKE_INSTALL_LIBDIR, e.g. lib)
set -euo pipefail
build=$1 libdir=$2 cc=$3
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/clgraph-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

# Runs a command quietly; on failure shows its output and stops.
quiet() {
  if ! "$@" >"$work/log" 2>&1; then
    cat "$work/log"
    echo "FAIL: $*"
    exit 1
  fi
}

echo "== cmake --install $build --prefix $prefix"
quiet cmake --install "$build" --prefix "$prefix"
for f in "$libdir/libclgraph_runtime.a" "$libdir/libclgraph_llm.a" bin/clgraph \
         "$libdir/cmake/clgraph/clgraphConfig.cmake" "$libdir/cmake/clgraph/clgraphConfigVersion.cmake" \
         "$libdir/pkgconfig/clgraph.pc" "$libdir/pkgconfig/clgraph-runtime.pc"; do
  [ -f "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
want=$(cd "$src/include/clgraph" && ls -- *.h)
got=$(cd "$prefix/include/clgraph" && ls -- *.h)
[ "$want" = "$got" ] || { echo "FAIL: installed headers differ: $got"; exit 1; }
echo "  headers, libraries, CLI, CMake package and pkg-config files in place"

echo "== find_package(clgraph) in a fresh CMake project"
quiet cmake -S "$here/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release
quiet cmake --build "$work/cmake"
"$work/cmake/list_devices"
"$work/cmake/list_devices_runtime"

echo "== pkg-config + cc"
command -v pkg-config >/dev/null || { echo "FAIL: pkg-config not found"; exit 1; }
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=$(pkg-config --cflags --libs clgraph)
echo "  clgraph: $flags"
quiet "$cc" -std=c11 -Wall -Wextra -Werror "$here/list_devices.c" -o "$work/pc_llm" $flags
"$work/pc_llm"
flags=$(pkg-config --cflags --libs clgraph-runtime)
echo "  clgraph-runtime: $flags"
quiet "$cc" -std=c11 -Wall -Wextra -Werror -DUSE_RUNTIME_ONLY "$here/list_devices.c" \
  -o "$work/pc_runtime" $flags
"$work/pc_runtime"

echo "== installed CLI"
quiet "$prefix/bin/clgraph" --help
echo "  $prefix/bin/clgraph --help exits 0"
echo "install: ok"
