#!/bin/sh
# Builds a seed corpus for fuzz_reader from the ONNX backend test suites: every model.onnx and
# test_data_set_*/*.pb up to MAX_BYTES (default 64 KiB), deduplicated by content hash.
# Usage: tests/fuzz/make_corpus.sh OUT_DIR [SUITE_DIR...]
# Default suites: the Debian libonnx-testdata data and the onnx wheel's node tests, when present.
set -eu
out=${1:?usage: make_corpus.sh OUT_DIR [SUITE_DIR...]}
shift
max=${MAX_BYTES:-65536}
if [ $# -eq 0 ]; then
  for d in /usr/share/libonnx-testdata/data \
           /tmp/venv/lib/python3.11/site-packages/onnx/backend/test/data; do
    [ -d "$d" ] && set -- "$@" "$d"
  done
fi
[ $# -gt 0 ] || { echo "make_corpus.sh: no test suites found" >&2; exit 1; }
mkdir -p "$out"
n=0
for suite in "$@"; do
  find "$suite" -type f \( -name 'model.onnx' -o -path '*/test_data_set_*/*.pb' \) -size -"$max"c -print |
  while IFS= read -r f; do
    h=$(sha1sum "$f" | cut -c1-40)
    [ -e "$out/$h" ] || cp "$f" "$out/$h"
  done
done
n=$(find "$out" -type f | wc -l)
echo "make_corpus.sh: $n files in $out"
