#!/usr/bin/env bash
# Checks the C sources against the repository's .clang-format (clang-format 14):
#   scripts/check-format.sh          lists the files that differ; exit 1 if any
#   scripts/check-format.sh --fix    rewrites them in place
# Files: every *.c and *.h under runtime graphs apps include test bench, except test data
# (test/data, the fuzz corpus) and generated files (a "do not edit" in their first lines).
# CLANG_FORMAT names another binary; versions other than 14 format some constructs
# differently, so they are reported.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
case "${1:-}" in
  --fix) fix=1 ;;
  "") ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "check-format.sh: unknown argument '$1' (--fix rewrites the files)" >&2; exit 2 ;;
esac

cf="${CLANG_FORMAT:-}"
if [ -z "$cf" ]; then
  for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null; then cf="$c"; break; fi
  done
fi
if [ -z "$cf" ] || ! command -v "$cf" >/dev/null; then
  echo "check-format.sh: clang-format not found (Debian: apt-get install clang-format;" \
       "or set CLANG_FORMAT)" >&2
  exit 2
fi
version=$("$cf" --version | sed -n 's/.*clang-format version \([0-9]*\).*/\1/p')
if [ "$version" != 14 ]; then
  echo "check-format.sh: $cf is version ${version:-unknown}, the tree is formatted with 14;" \
       "differences may be the version's" >&2
fi

dirs=(runtime graphs apps include test bench)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # tracked files and new ones not ignored (not the build trees)
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
    "${dirs[@]/%//*.c}" "${dirs[@]/%//*.h}" | sort -u)
else
  mapfile -t existing < <(for d in "${dirs[@]}"; do [ -d "$d" ] && echo "$d"; done)
  mapfile -t files < <(find "${existing[@]}" -type f \( -name '*.c' -o -name '*.h' \) | sort)
fi

checked=0
differ=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue # deleted but still in the index
  case "$f" in test/data/* | test/fuzz/corpus/*) continue ;; esac
  if head -n 5 "$f" | grep -qi 'do not edit'; then continue; fi
  checked=$((checked + 1))
  if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
    differ+=("$f")
    if [ $fix = 1 ]; then "$cf" --style=file -i "$f"; fi
  fi
done

if [ ${#differ[@]} -eq 0 ]; then
  echo "check-format: $checked files match .clang-format"
  exit 0
fi
if [ $fix = 1 ]; then
  printf '  reformatted %s\n' "${differ[@]}"
  echo "check-format: reformatted ${#differ[@]} of $checked files"
  # clang-format is not always idempotent (e.g. a list of macro calls without separators is
  # rewrapped on every pass): such code needs /* clang-format off */ ... /* clang-format on */.
  unstable=0
  for f in "${differ[@]}"; do
    if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
      echo "  $f: $cf changes it again on a second pass; fence the code it keeps rewrapping" \
           "with /* clang-format off */ ... /* clang-format on */" >&2
      unstable=1
    fi
  done
  exit $unstable
fi
for f in "${differ[@]}"; do
  n=$("$cf" --style=file "$f" | diff "$f" - | grep -c '^[<>]' || true)
  echo "  $f ($n lines differ)"
done
echo "check-format: ${#differ[@]} of $checked files differ from .clang-format ($cf)."
echo "  fix them with: scripts/check-format.sh --fix   (or see one: $cf --style=file FILE | diff FILE -)"
exit 1
