#!/usr/bin/env bash
# Install what Sinter's build and tests need on Debian 12: compilers, CMake, the ONNX backend test
# data, clang for the fuzzer, and a Python venv (.venv) with the pinned reference packages.
# Usage: scripts/setup.sh [--build-only]   (--build-only: just what building and the demo need)
set -euo pipefail
cd "$(dirname "$0")/.."

need=(build-essential cmake)
if [ "${1:-}" != "--build-only" ]; then
  need+=(python3-venv libonnx-testdata clang libclang-rt-14-dev)
fi
missing=()
for p in "${need[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-}" != "--build-only" ]; then
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import onnx, onnxruntime, numpy' 2>/dev/null ||
     [ requirements.txt -nt .venv/.installed ]; then
    echo "setup: creating .venv with the pinned requirements.txt"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
    touch .venv/.installed
  fi
fi
