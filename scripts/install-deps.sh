#!/usr/bin/env bash
# Installs the Debian 12 packages clgraph builds and tests with, only those missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config python3 python3-venv python3-pip
      ocl-icd-opencl-dev opencl-headers clinfo libclblast-dev
      pocl-opencl-icd mesa-opencl-icd
      clang clang-format llvm-spirv-14 spirv-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "clgraph: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
