#!/usr/bin/env bash
# Make the benchmark venv: Debian's python with its torch, torchvision, numpy and matplotlib, plus
# the pip runtimes (ONNX Runtime, OpenVINO, onnx), pinned, without replacing Debian's numpy.
#
#   bash bench/setup_venv.sh [VENV]        (default build/venv-bench)
set -euo pipefail
VENV=${1:-build/venv-bench}
if ! /usr/bin/python3 -c "import torch, torchvision, matplotlib" 2>/dev/null; then
  echo "installing Debian's torch, torchvision and matplotlib" >&2
  apt-get install -y python3-torch python3-torchvision python3-matplotlib python3-venv >&2
fi
/usr/bin/python3 -m venv --system-site-packages "$VENV"
NUMPY=$(/usr/bin/python3 -c "import numpy; print(numpy.__version__)")
echo "numpy==$NUMPY" > "$VENV/constraints.txt"   # torch 1.13 is built against Debian's numpy 1.x
"$VENV/bin/pip" install -q -c "$VENV/constraints.txt" onnxruntime==1.30.0 openvino==2026.4.1 onnx==1.23.2
"$VENV/bin/python" -c "import numpy, onnxruntime, openvino, torch, matplotlib; \
print('venv ready:', 'numpy', numpy.__version__, 'onnxruntime', onnxruntime.__version__, \
'openvino', openvino.__version__.split('-')[0], 'torch', torch.__version__)"
