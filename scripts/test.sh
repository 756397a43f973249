#!/usr/bin/env bash
# Run every test: unit tests, the ONNX conformance suites (guarded passing lists), the model tests
# against ONNX Runtime, first in a release build (at the machine's best ISA, then capped to AVX2 and
# to portable C), then under AddressSanitizer + UBSan, and a bounded fuzzing run of the model reader.
# Environment: FUZZ_RUNS (default 500000; 0 skips fuzzing), SKIP_SANITIZE=1 to skip the sanitizer build.
# The fuzzing run is deterministic (fixed seed and run count over a corpus built from the suites), so
# a green run here is green in CI; longer exploratory runs: build-fuzz/fuzz_reader -max_total_time=N.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
wheel_data=$(.venv/bin/python -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data"))')
common=(-DSINTER_PYTHON="$PWD/.venv/bin/python" -DSINTER_WHEEL_DATA="$wheel_data")

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${common[@]}" >/dev/null
cmake --build build -j"$jobs" >/dev/null
ctest --test-dir build --output-on-failure -j1
# the same suite with the kernels capped at each lower ISA level (SINTER_ISA), so the AVX2 and
# portable paths stay correct on this AVX-512 machine
for isa in avx2 scalar; do
  echo "== release build, SINTER_ISA=$isa"
  SINTER_ISA=$isa ctest --test-dir build --output-on-failure -j1
done

if [ "${SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSINTER_SANITIZE=ON "${common[@]}" >/dev/null
  cmake --build build-asan -j"$jobs" >/dev/null
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j1
fi

if [ "${FUZZ_RUNS:-500000}" != "0" ]; then
  echo "== fuzzing the model reader: ${FUZZ_RUNS:-500000} executions, seed 1"
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSINTER_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$jobs" --target fuzz_reader >/dev/null
  rm -rf build-fuzz/corpus && bash tests/fuzz/make_corpus.sh build-fuzz/corpus >/dev/null
  (cd build-fuzz && ./fuzz_reader -runs="${FUZZ_RUNS:-500000}" -seed=1 -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 corpus 2>&1 | tail -n 15)
fi
echo "== all tests passed"
