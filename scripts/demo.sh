#!/usr/bin/env bash
# Build Sinter and classify the held-out handwritten digits with the committed trained CNN.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --build-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
./build/sinter classify models/digits/digits.onnx \
  --images models/digits/test_images.npy --labels models/digits/test_labels.npy --show 10
