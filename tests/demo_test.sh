#!/usr/bin/env bash
# The README's demo, shortened (ctest demo_short, label "slow", run by CI):
# synthetic night shots from the sample photos, LIEDNet trained for ITERS
# iterations, the held-out shots enhanced and measured. Passes when the
# held-out PSNR gain (output over input, mean over the images) is positive.
# usage: demo_test.sh LIEDNET_BINARY OUT_DIR [ITERS]
set -euo pipefail
BIN=$(realpath "$1")
OUT=$(realpath -m "$2")
ITERS=${3:-60}
cd "$(dirname "$0")/.."
start=$(date +%s)
LIEDNET=$BIN DEMO_OUT=$OUT DEMO_ITERS=$ITERS bash scripts/demo.sh > "$OUT.log" 2>&1 \
  || { tail -20 "$OUT.log"; echo "FAIL the demo stopped"; exit 1; }
row=$(grep '^mean,' "$OUT/psnr.csv")
gain=${row##*,}
input=$(echo "$row" | cut -d, -f4)
output=$(echo "$row" | cut -d, -f2)
echo "held-out PSNR after $ITERS iterations: input $input dB, output $output dB, gain $gain dB ($(( $(date +%s) - start )) s)"
if awk -v g="$gain" 'BEGIN { exit !(g > 0) }'; then
  echo "ok   the held-out PSNR gain is positive"
else
  echo "FAIL the held-out PSNR gain is not positive"
  exit 1
fi
