#!/usr/bin/env bash
# Runs every command of docs/reproduce.md (the `liednet` and `mpirun` lines of
# its bash blocks, in order) on tiny stand-in data laid out as the guide says,
# from a scratch folder holding a copy of configs/ (LOL-Blur's /data/LOLBlur
# paths pointed at datasets/LOLBlur). Each line is changed as the guide states:
# `liednet train` gets --max-iters 1 (--max-iters 0 for LOL-Blur and for
# mpirun lines), --device cuda becomes --device cpu, mpirun -np 4 becomes
# mpirun -np 2 (skipped without MPI). Stand-ins for files the guide downloads:
# random VGG16 and LPIPS heads (.pth), random VGG19 (safetensors), the oracle's
# LOL-Blur-style (params) and train_llie.py-style (state_dict, module.)
# checkpoints, and LOL-Blur weights from `liednet init` (its --max-iters 0
# run writes none). About a minute on 2 idle cores.
# usage: reproduce_test.sh LIEDNET_BINARY ORACLE_DIR SOURCE_DIR; exit 77 without the oracle's files
set -uo pipefail
BIN=$(realpath "$1")
ORACLE=$(realpath "$2")
SRC=$(realpath "$3")
PYTHON=${LIEDNET_PYTHON:-/usr/bin/python3}
for f in liednet_dim8.pth llie_module.pth; do
  [ -s "$ORACLE/$f" ] || { echo "skipped: $ORACLE/$f is absent"; exit 77; }
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

cd "$WORK" || exit 1
mkdir -p configs pretrained
for f in "$SRC"/configs/*; do sed 's#/data/LOLBlur#datasets/LOLBlur#g' "$f" > "configs/$(basename "$f")"; done

# The data, the downloads' stand-ins.
"$PYTHON" - "$WORK" "$ORACLE" "$SRC/tests/oracle" <<'PY' || { echo "FAIL stand-in data"; exit 1; }
import os, shutil, struct, sys, zlib, random
import torch
sys.path.insert(0, sys.argv[3])
work, oracle = sys.argv[1], sys.argv[2]
random.seed(27)
def png(path, w, h, dark=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    v = bytes(random.randrange(64 if dark else 256) for _ in range(w * h * 3))
    raw = b"".join(b"\0" + v[y * w * 3:(y + 1) * w * 3] for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
d = os.path.join(work, "datasets")
for i in range(16):  # LOL-Blur: a batch of 8 crops of 256 on each of 2 ranks
    png(f"{d}/LOLBlur/train/low_blur_noise/0001/{i}.png", 256, 256, True)
    png(f"{d}/LOLBlur/train/high_sharp_scaled/0001/{i}.png", 256, 256)
png(f"{d}/LOLBlur/test/low_blur_noise/0001/0.png", 24, 16, True)
png(f"{d}/LOLBlur/test/high_sharp_scaled/0001/0.png", 24, 16)
png(f"{d}/RealLOLBlur/0001/0.png", 24, 16, True)
for s, n in (("LOLv1", 2), ("LOLv2syn", 1), ("FiveK", 1)):  # LOL-v1: 2 pairs, so 2 ranks each get one
    for i in range(n):
        png(f"{d}/{s}/Train/low/a{i}.png", 20, 24, True)
        png(f"{d}/{s}/Train/high/b{i}.png", 20, 24)
    png(f"{d}/{s}/Test/low/0.png", 20, 24, True)
    png(f"{d}/{s}/Test/high/0.png", 20, 24)
g = torch.Generator().manual_seed(5)
convs16 = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
ch16 = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
sd, cin = {}, 3
for n, c in zip(convs16, ch16):
    sd[f"features.{n}.weight"] = torch.randn(c, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
    sd[f"features.{n}.bias"] = torch.zeros(c)
    cin = c
torch.save(sd, os.path.join(work, "vgg16-397923af.pth"))
torch.save({f"lin{l}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) / c
            for l, c in enumerate([64, 128, 256, 512, 512])}, os.path.join(work, "vgg.pth"))
from oracle import save_safetensors
vgg19, cin = {}, 3
for n, c in zip([0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25], [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512]):
    vgg19[f"features.{n}.weight"] = torch.randn(c, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
    vgg19[f"features.{n}.bias"] = torch.zeros(c)
    cin = c
save_safetensors(os.path.join(work, "pretrained", "vgg19.safetensors"), vgg19)
shutil.copy(os.path.join(oracle, "liednet_dim8.pth"), os.path.join(work, "LIEDNet_LOLBlur.pth"))
shutil.copy(os.path.join(oracle, "llie_module.pth"), os.path.join(work, "LIEDNet_LOLv1.pth"))
PY
mkdir -p weights experiments/LIEDNet_LOLBlur/models
"$BIN" init --output experiments/LIEDNet_LOLBlur/models/net_g_latest.safetensors > /dev/null || fail "init stand-in weights"

has_mpi=0
command -v mpirun > /dev/null && "$BIN" version | grep -q "^mpi: [A-Za-z]" && has_mpi=1

# The guide's commands, in order.
mapfile -t lines < <(awk '/^```bash$/ { inside = 1; next } /^```$/ { inside = 0 } inside && /^(liednet|mpirun) /' \
  "$SRC/docs/reproduce.md")
[ ${#lines[@]} -ge 20 ] && pass "docs/reproduce.md: ${#lines[@]} commands found" || fail "only ${#lines[@]} commands found"
for line in "${lines[@]}"; do
  cmd=${line//--device cuda/--device cpu}
  if [[ $cmd == mpirun* ]]; then
    [ $has_mpi = 1 ] || { echo "skip $line (no MPI in this build)"; continue; }
    cmd=${cmd/mpirun -np 4 liednet/mpirun -np 2 $BIN}
    cmd="$cmd --max-iters 0"
  else
    cmd="$BIN ${cmd#liednet }"
    if [[ $line == "liednet train "* ]]; then
      if [[ $line == *LOLBlur* ]]; then cmd="$cmd --max-iters 0"; else cmd="$cmd --max-iters 1"; fi
    fi
  fi
  if eval "$cmd" > "$WORK/out" 2> "$WORK/err"; then pass "$line"; else fail "$line (exit $?): $(tail -3 "$WORK/err")"; fi
done

# What the commands should have produced.
for f in results/LOLv1.csv results/LOLv2syn.csv results/FiveK.csv results/LOLBlur.csv; do
  head -1 "$f" 2> /dev/null | grep -q ",lpips$" && pass "$f has an LPIPS column" || fail "$f: $(head -1 "$f" 2>&1)"
done
[ -s results/RealLOLBlur/0001/0.png ] && pass "Real-LOL-Blur enhanced" || fail "no Real-LOL-Blur output"
[ -s experiments/LIEDNet-L_LOLv1/models/net_best_psnr.safetensors ] && pass "LIEDNet-L on LOL-v1 wrote its best weights" \
  || fail "no LIEDNet-L weights"
[ -s results/released_LOLv1/0.png ] && pass "the released low-light checkpoint enhanced the test set" \
  || fail "no output of the released low-light checkpoint"

echo "$failures failure(s)"
[ $failures -eq 0 ]
