#!/usr/bin/env bash
# Installs the Debian 12 packages clgraph builds and tests with, only those missing; then the
# Python venv of the serve tests (the official openai client, pinned), unless it is there.
set -euo pipefail
pkgs=(build-essential cmake pkg-config python3 python3-venv python3-pip
      ocl-icd-opencl-dev opencl-headers clinfo libclblast-dev
      pocl-opencl-icd mesa-opencl-icd
      clang clang-format llvm-spirv-14 spirv-tools
      libmicrohttpd-dev libcjson-dev curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "clgraph: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# test/serve: the openai client (CLGRAPH_OPENAI_PYTHON in CMake points here).
OPENAI_VERSION=3.63.0
venv=${CLGRAPH_OPENAI_VENV:-$HOME/.cache/clgraph/openai-venv}
if ! "$venv/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION')" 2>/dev/null; then
  echo "clgraph: installing openai==$OPENAI_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "openai==$OPENAI_VERSION"
fi
