#!/usr/bin/env bash
# An optional, git-ignored Python environment with a current PyTorch for the
# benchmark baseline (bench/torch_train_step.py, bench/targets.py). Debian's
# python3-torch (1.13, reference BLAS) stays the tests' oracle; this one is only
# what a user would compare liednet with today. Never used by the product, the
# tests or scripts/setup.sh.
#   usage: bash scripts/bench_venv.sh [VENV_DIR]       (default: .venv-bench)
# Then: LIEDNET_BENCH_PYTHON=.venv-bench/bin/python3 python3 bench/targets.py
# pip's own settings apply: set PIP_INDEX_URL to a CPU-only wheel index to skip
# the CUDA libraries that the default Linux torch wheel pulls in (about 3 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-bench}
BASE=${LIEDNET_BENCH_BASE_PYTHON:-/usr/bin/python3}

if [ ! -x "$VENV/bin/python3" ]; then
  "$BASE" -m venv "$VENV" || {
    echo "bench_venv.sh: '$BASE -m venv $VENV' failed (Debian: apt-get install python3-venv)" >&2
    rm -rf "$VENV"
    exit 1
  }
  fresh=1
fi
if ! "$VENV/bin/python3" -m pip install --upgrade torch numpy; then
  echo "bench_venv.sh: pip could not install torch and numpy into $VENV" >&2
  # A half-made environment must not pass for a baseline later.
  [ "${fresh:-0}" = 1 ] && rm -rf "$VENV"
  exit 1
fi
"$VENV/bin/python3" - <<'EOF'
import torch
print(f"bench_venv.sh: torch {torch.__version__} (oneDNN {torch.backends.mkldnn.is_available()}, "
      f"{torch.get_num_threads()} threads) ready in", __import__("sys").prefix)
EOF
