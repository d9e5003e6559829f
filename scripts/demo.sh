#!/usr/bin/env bash
# The main job, on a fresh Debian machine: set-up and build, then
#   1. synthetic night shots (dark, shaken, noisy) from the sample photos, two
#      photos held out for testing;
#   2. LIEDNet trained on them on the CPU for a few minutes (configs/demo.yml);
#   3. the held-out shots enhanced, side-by-side pictures and a PSNR table.
# Everything goes to runs/demo/. About 10 minutes on a 2-core machine.
# The ctest entry demo_short (tests/demo_test.sh) runs a shortened demo with
#   LIEDNET=<built binary> DEMO_OUT=<folder> DEMO_ITERS=<iterations>
# (no set-up or build; the config's runs/demo paths and its 500 iterations replaced).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

if [ -z "${LIEDNET:-}" ]; then
  bash scripts/setup.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build -j "$(nproc)" --target liednet
  LIEDNET=./build/liednet
fi

OUT=${DEMO_OUT:-runs/demo}
ITERS=${DEMO_ITERS:-500}
rm -rf "$OUT"
mkdir -p "$OUT/photos/train" "$OUT/photos/test"
# Held out: coffee and rocket. Trained on: astronaut, cat, camera, hubble.
for p in coffee rocket; do cp "data/samples/$p.png" "$OUT/photos/test/"; done
for p in astronaut cat camera hubble; do cp "data/samples/$p.png" "$OUT/photos/train/"; done

echo "== 1. synthetic night shots"
$LIEDNET synth --input "$OUT/photos/train" --output "$OUT/data/train" --count 96 --size 128 --seed 1
$LIEDNET synth --input "$OUT/photos/test" --output "$OUT/data/test" --count 4 --seed 2

echo "== 2. training LIEDNet (perceptual loss off: no VGG19 weights in the repository)"
CONFIG=configs/demo.yml
if [ "$OUT" != runs/demo ] || [ "$ITERS" != 500 ]; then
  CONFIG="$OUT/demo.yml"
  sed -e "s|runs/demo/|$OUT/|" -e "s|total_iter: 500|total_iter: $ITERS|" -e "s|periods: \[500\]|periods: [$ITERS]|" \
    configs/demo.yml > "$CONFIG"
fi
$LIEDNET train --config "$CONFIG" | tee "$OUT/train.txt"

echo "== 3. enhancing the held-out shots"
$LIEDNET enhance --weights "$OUT/train/models/net_g_latest.safetensors" --input "$OUT/data/test/low_blur_noise" \
  --output "$OUT/enhanced" --compare --gt "$OUT/data/test/high_sharp_scaled"
$LIEDNET eval --pred "$OUT/enhanced" --gt "$OUT/data/test/high_sharp_scaled" --baseline "$OUT/data/test/low_blur_noise" \
  --convention basicsr --output "$OUT/psnr.csv" | tee "$OUT/psnr.txt"

cat <<MSG

== done in $(( $(date +%s) - start )) s. In $OUT/:
  psnr.txt / psnr.csv            held-out PSNR and SSIM: input vs output (psnr_gain = output - input, dB)
  enhanced_compare/*.png         input | output | ground truth, side by side
  enhanced/*.png                 the restored images
  train/curves.svg               training loss and validation PSNR
  train/train_log.jsonl          every logged iteration's loss terms
  train/models/net_g_latest.safetensors   the trained weights (liednet enhance --weights ...)
  train/checkpoints/             checkpoints (liednet train --resume ...)
MSG
