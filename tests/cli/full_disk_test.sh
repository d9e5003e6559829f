#!/usr/bin/env bash
# A full disk, for real: the liednet program writing weights, a training
# checkpoint, images and a CSV onto a small tmpfs. Each failed write must be a
# one-line error naming the file and "no space left", exit 1, leave the file
# that was there before intact and leave no temporary file behind.
# Mounting needs root (CI runs as root); elsewhere the test exits 77, which
# ctest reports as skipped.
# usage: full_disk_test.sh LIEDNET_BINARY ORACLE_DIR
set -uo pipefail
BIN=$1
ORACLE=$2
WORK=$(mktemp -d)
T="$WORK/disk"
mkdir -p "$T"
if ! mount -t tmpfs -o size=1m tmpfs "$T" 2> "$WORK/mount_err"; then
  echo "skipped: cannot mount a tmpfs here ($(cat "$WORK/mount_err")); a full disk needs root"
  rm -rf "$WORK"
  exit 77
fi
trap 'umount "$T"; rm -rf "$WORK"' EXIT
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

# expect_full NAME FILE CMD...: exit 1, one stderr line naming FILE and "no space left".
expect_full() {
  local name=$1 file=$2; shift 2
  "$@" > "$WORK/out" 2> "$WORK/err"
  local rc=$?
  if [ $rc -eq 1 ] && [ "$(wc -l < "$WORK/err")" -eq 1 ] && grep -qF "$file: no space left on device" "$WORK/err"; then
    pass "$name"
  else
    fail "$name (exit $rc, stderr: $(cat "$WORK/err"))"
  fi
  local left
  left=$(find "$T" -name '*.tmp.*')
  [ -z "$left" ] && pass "$name: no temporary file left" || fail "$name: left $left"
}
# fill: the tmpfs full but for KB kilobytes.
fill() {
  rm -f "$T/filler"
  dd if=/dev/zero of="$T/filler" bs=4k 2> /dev/null
  truncate -s "-$1K" "$T/filler"
}

# Weights: 19 MB of fresh weights do not fit; the previous file survives.
"$BIN" convert "$ORACLE/liednet_dim8.pth" "$WORK/dim8.safetensors" > /dev/null || fail "convert the dim-8 weights"
cp "$WORK/dim8.safetensors" "$T/w.safetensors"
cp "$T/w.safetensors" "$WORK/before.safetensors"
expect_full "init: weights on a full disk" "$T/w.safetensors" "$BIN" init --output "$T/w.safetensors"
cmp -s "$T/w.safetensors" "$WORK/before.safetensors" && pass "init: the previous weights are intact" \
  || fail "init: the previous weights changed"

# A training checkpoint: the logs fit in what is left, the checkpoint does not.
${LIEDNET_PYTHON:-/usr/bin/python3} - "$WORK/data" <<'PY'
import os, struct, sys, zlib
root = sys.argv[1]
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
for side in ("lq", "gt"):
    os.makedirs(os.path.join(root, side))
    rows = b"".join(b"\0" + bytes((x * 7 + y * 3 + len(side)) % 256 for x in range(48)) for y in range(16))
    with open(os.path.join(root, side, "a.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
cat > "$WORK/tiny.yml" <<YML
datasets:
  train: {dataroot_lq: $WORK/data/lq, dataroot_gt: $WORK/data/gt, crop_size: 16, batch_size_per_gpu: 1,
          num_worker_per_gpu: 0}
network_g: {type: LIED, dim: 8, num_blocks: [1, 1, 1], num_refinement_blocks: 1}
path: {experiments_root: $T/exp}
train: {optim_g: {type: Adam, lr: 0.001}, total_iter: 1, pixel_opt: {type: L1Loss, loss_weight: 1.0}}
logger: {print_freq: 1}
YML
rm -f "$T/w.safetensors"
fill 64
expect_full "train: a checkpoint on a full disk" "$T/exp/checkpoints/ckpt_00000001.safetensors" \
  "$BIN" train --config "$WORK/tiny.yml"
[ ! -e "$T/exp/checkpoints/ckpt_00000001.safetensors" ] && pass "train: no torn checkpoint" \
  || fail "train: a checkpoint file exists"

# Images: enhance's output on a full disk.
mkdir -p "$WORK/photos"
cp "$WORK/data/lq/a.png" "$WORK/photos/a.png"
fill 0
expect_full "enhance: an image on a full disk" "$T/enhanced/a.png" \
  "$BIN" enhance --weights "$WORK/dim8.safetensors" --input "$WORK/photos" --output "$T/enhanced"

# A CSV: eval's table; the previous table survives.
rm -f "$T/filler"
echo "name,psnr" > "$T/m.csv"
fill 0
expect_full "eval: a CSV on a full disk" "$T/m.csv" "$BIN" eval --pred "$WORK/data/lq" --gt "$WORK/data/gt" \
  --convention basicsr --output "$T/m.csv"
[ "$(cat "$T/m.csv")" = "name,psnr" ] && pass "eval: the previous CSV is intact" || fail "eval: the previous CSV changed"

echo "$failures failure(s)"
[ $failures -eq 0 ]
