#!/usr/bin/env bash
# Everything the CUDA backend needs checked on a GPU machine, in one go:
#   1. build with CUDA and run the whole test suite (the CUDA cases run instead of being skipped);
#   2. benchmarks: train step 8x3x256x256 and forward 1x3x1024x1024 on the GPU, and the
#      test-only PyTorch reference on the same GPU when its torch can use it;
#   3. the LOL-Blur recipe (configs/train_LOLBlur.yml: batch 8, crop 256, Adam 1e-4, cosine)
#      trained with --device cuda on synthetic pairs for ITERS iterations (default 300), and a
#      check that the loss falls.
# Results go to runs/gpu/. usage: scripts/gpu_check.sh [ITERS]
# The perceptual loss uses pretrained/vgg19.safetensors when present (or $LIEDNET_VGG19);
# otherwise it is switched off for the run, and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${1:-300}
OUT=runs/gpu
mkdir -p "$OUT"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLIEDNET_CUDA=ON > /dev/null
cmake --build build -j "$(nproc)"
./build/liednet version | tee "$OUT/version.txt"
grep -q "devices: [1-9]" "$OUT/version.txt" || { echo "gpu_check.sh: no GPU visible" >&2; exit 1; }

echo "== 1. tests"
(cd build && ctest --output-on-failure 2>&1) | tee "$OUT/ctest.txt"

echo "== 2. benchmarks"
(cd build && ./bench_forward --device cuda 1024 1024) | tee "$OUT/bench_forward.txt"
TORCH_JSON=""
if /usr/bin/python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2> /dev/null; then
  SCAN=loop
  /usr/bin/python3 -c "import mamba_ssm" 2> /dev/null && SCAN=mamba
  /usr/bin/python3 bench/torch_train_step.py --device cuda --scan "$SCAN" --sizes 8x256x256 --optional "" \
    --max-step-s 600 --json "$OUT/torch_gpu.json" | tee "$OUT/bench_torch.txt" || true
  [ -s "$OUT/torch_gpu.json" ] && TORCH_JSON="--torch-json $PWD/$OUT/torch_gpu.json"
else
  echo "(the PyTorch reference is skipped: this torch cannot use the GPU)" | tee "$OUT/bench_torch.txt"
fi
# shellcheck disable=SC2086
(cd build && ./bench_train --device cuda --sizes 8:256:256 $TORCH_JSON) | tee "$OUT/bench_train.txt"
(cd build && ./bench_train --device cuda --sizes 8:256:256 --tf32) | tee "$OUT/bench_train_tf32.txt"

echo "== 3. the LOL-Blur recipe on synthetic pairs, --device cuda, $ITERS iterations"
rm -rf "$OUT/data" "$OUT/train"
./build/liednet synth --input data/samples --output "$OUT/data/train" --count 160 --size 320 --seed 1
./build/liednet synth --input data/samples --output "$OUT/data/test" --count 6 --size 256 --seed 2
VGG=${LIEDNET_VGG19:-pretrained/vgg19.safetensors}
sed -e "s|/data/LOLBlur/train/|$OUT/data/train/|; s|/data/LOLBlur/test/|$OUT/data/test/|" \
    -e "s|/data/LOLBlur/train/|$OUT/data/train/|; s|/data/LOLBlur/test/|$OUT/data/test/|" \
    -e "s|periods: \[500000\]|periods: [$ITERS]|; s|total_iter: 500000|total_iter: $ITERS|" \
    -e "s|val_freq: !!float 2e4|val_freq: 100|; s|print_freq: 100|print_freq: 10|" \
    -e "s|save_checkpoint_freq: !!float 2e4|save_checkpoint_freq: 100|" \
    -e "s|vgg_weights: pretrained/vgg19.safetensors|vgg_weights: $VGG|" \
    -e "s|^name: LIEDNet_LOLBlur|name: LIEDNet_LOLBlur_synthetic_gpu|" \
    configs/train_LOLBlur.yml > "$OUT/recipe.yml"
if [ ! -f "$VGG" ]; then
  echo "(no VGG19 weights at $VGG: perceptual loss off for this run)"
  sed -i "s|perceptual_weight: 0.01|perceptual_weight: 0|" "$OUT/recipe.yml"
fi
sed -i "s|^  resume_state: ~|  resume_state: ~\n  experiments_root: $OUT/train|" "$OUT/recipe.yml"
./build/liednet train --config "$OUT/recipe.yml" --device cuda | tee "$OUT/train.txt"

/usr/bin/python3 - "$OUT/train/train_log.jsonl" << 'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if "l_total" in r]
k = max(1, len(rows) // 5)
first = sum(r["l_total"] for r in rows[:k]) / k
last = sum(r["l_total"] for r in rows[-k:]) / k
print(f"loss: first {k} logged iterations {first:.4f}, last {k} {last:.4f} "
      f"({'falls' if last < first else 'DOES NOT FALL'}); {rows[-1]['it_per_s']:.2f} it/s")
sys.exit(0 if last < first else 1)
PY
echo "== done: $OUT/"
