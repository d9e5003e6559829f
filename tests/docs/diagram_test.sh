#!/usr/bin/env bash
# The pictures in docs/images/ that the code draws are what the code draws now: regenerates them with
# `liednet info --svg/--svg-scan` and compares them byte for byte with the committed files.
# Usage: diagram_test.sh LIEDNET ROOT
set -euo pipefail
liednet=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$liednet" info --preset liednet --size 256 256 --svg "$tmp/liednet_unet.svg" --svg-scan "$tmp/scan_orders.svg" >/dev/null
status=0
for f in liednet_unet.svg scan_orders.svg; do
  grep -q "<svg" "$tmp/$f" || { echo "FAIL: $f: liednet info wrote no SVG"; status=1; continue; }
  if ! cmp -s "$tmp/$f" "$root/docs/images/$f"; then
    echo "FAIL: docs/images/$f differs from what the code draws; regenerate with"
    echo "  liednet info --svg docs/images/liednet_unet.svg --svg-scan docs/images/scan_orders.svg"
    status=1
  fi
done
# the diagram states the model's channels: LIEDNet-L's differs from LIEDNet's
"$liednet" info --preset liednet-l --svg "$tmp/l.svg" >/dev/null
grep -q "256 x 32 x 32" "$tmp/l.svg" || { echo "FAIL: LIEDNet-L's diagram lacks encoder_level3's 256 x 32 x 32"; status=1; }
grep -q "128 x 32 x 32" "$root/docs/images/liednet_unet.svg" || { echo "FAIL: LIEDNet's diagram lacks 128 x 32 x 32"; status=1; }
[ $status = 0 ] && echo "docs/images match the code"
exit $status
