#!/usr/bin/env bash
# Upstream's low-light recipe end to end (issue 27): liednet train on an
# upstream-shaped config (tiny data: 2 pairs, 4 epochs of 1 iteration), its
# first log line, best/latest weights with the input range in their metadata,
# resume, enhance reading the range, weights without it, and convert of
# train_llie.py's checkpoints (a "module." state dict; a bare one needs
# --input-range). About 30 s on 2 cores.
# usage: llie_test.sh LIEDNET_BINARY ORACLE_DIR (Python: $LIEDNET_PYTHON, default /usr/bin/python3); exit 77: no oracle
set -uo pipefail
BIN=$1
ORACLE=$2
PYTHON=${LIEDNET_PYTHON:-/usr/bin/python3}
[ -s "$ORACLE/llie_module.pth" ] && [ -s "$ORACLE/lpips_weights.safetensors" ] || { echo "skipped: $ORACLE/llie_module.pth is absent (tests/oracle/llie_cases.py)"; exit 77; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
expect_ok() {
  local name=$1; shift
  if "$@" > "$WORK/out" 2> "$WORK/err"; then pass "$name"; else fail "$name (exit $?): $(cat "$WORK/err")"; fi
}
# has_range FILE RANGE: the safetensors header's metadata records input_range RANGE
has_range() { "$PYTHON" - "$1" "$2" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n)).get("__metadata__", {})
sys.exit(0 if meta.get("input_range") == sys.argv[2] else 1)
PY
}

# Tiny data: DIR/low and DIR/high, names that differ (pairing is by sorted position).
"$PYTHON" - "$WORK" <<'PY'
import os, struct, sys, zlib, random
def png(path, w, h, f):
    raw = b"".join(b"\0" + bytes(f(x, y, c) for x in range(w) for c in range(3)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
random.seed(27)
for split, n in (("Train", 2), ("Test", 1)):
    for side in ("low", "high"):
        os.makedirs(f"{sys.argv[1]}/{split}/{side}", exist_ok=True)
    for i in range(n):
        v = [random.randrange(256) for _ in range(20 * 28 * 3)]
        png(f"{sys.argv[1]}/{split}/high/{i}.png", 28, 20, lambda x, y, c: v[(y * 28 + x) * 3 + c])
        png(f"{sys.argv[1]}/{split}/low/l{i}.png", 28, 20, lambda x, y, c: v[(y * 28 + x) * 3 + c] // 4)
PY
cat > "$WORK/lol.yaml" <<YAML
GPU: [0]
VERBOSE: False
MODEL:
  MODE: 'tiny'
OPTIM:
  BATCH: 2
  EPOCHS: 4
  LR_INITIAL: 1e-4
  LR_MIN: 1e-6
TRAINING:
  VAL_AFTER_EVERY: 1
  RESUME: False
  TRAIN_PS: 16
  VAL_PS: 128
  TRAIN_DIR: '$WORK/Train'
  VAL_DIR: '$WORK/Test'
  SAVE_DIR: '$WORK/ck'
LOGGER:
  PRINT_FREQ: 1
YAML
M=$WORK/ck/tiny/models
expect_ok "train: upstream's low-light config shape" "$BIN" train --config "$WORK/lol.yaml"
head -1 "$WORK/out" | grep -q "read as upstream's train_llie.py shape (GPU, VERBOSE, MODEL, OPTIM, TRAINING)" \
  && pass "train: the first log line says how the config was read" || fail "train: first line: $(head -1 "$WORK/out")"
grep -q "on 2 pairs, batch 2, crop 16, .* 4 iterations" "$WORK/out" && pass "train: 4 epochs of 1 iteration" \
  || fail "train: iterations: $(grep '^training' "$WORK/out")"
grep -q "iter 1/4 .* lr 3.333e-05" "$WORK/out" && grep -q "iter 4/4 .* lr 1.000e-04" "$WORK/out" \
  && pass "train: warm-up learning rates per epoch" || fail "train: learning rates"
[ "$(grep -c '^validation at iter' "$WORK/out")" = 4 ] && pass "train: validation every epoch" || fail "train: validations"
for w in net_best_psnr net_best_ssim net_latest; do
  [ -s "$M/$w.safetensors" ] && has_range "$M/$w.safetensors" 0,1 && pass "train: $w with input range 0,1" \
    || fail "train: $w missing or without input_range 0,1"
done

expect_ok "train: resume from the epoch-2 checkpoint" "$BIN" train --config "$WORK/lol.yaml" \
  --resume "$WORK/ck/tiny/checkpoints/ckpt_00000002.safetensors"
grep -q "resumed from .* at iteration 2" "$WORK/out" && grep -q "iter 4/4" "$WORK/out" && ! grep -q "iter 1/4" "$WORK/out" \
  && pass "train: resumed at iteration 2 and finished" || fail "train: resume: $(cat "$WORK/out")"

sed 's/RESUME: False/RESUME: True/' "$WORK/lol.yaml" > "$WORK/lol_resume.yaml"
rm "$WORK/ck/tiny/checkpoints/ckpt_00000004.safetensors"  # a finished run cannot be resumed: the newest is now epoch 3's
expect_ok "train: TRAINING.RESUME continues from the newest checkpoint" "$BIN" train --config "$WORK/lol_resume.yaml"
grep -q "resumed from $WORK/ck/tiny/checkpoints/ckpt_00000003.safetensors at iteration 3" "$WORK/out" \
  && pass "train: RESUME took ckpt_00000003" || fail "train: RESUME: $(head -5 "$WORK/out")"

expect_ok "enhance with the trained weights" "$BIN" enhance --weights "$M/net_best_psnr.safetensors" \
  --input "$WORK/Test/low" --output "$WORK/enh"
grep -q "input range \[0, 1\] (recorded in the weights)" "$WORK/out" && pass "enhance: reads the recorded range" \
  || fail "enhance: range line: $(cat "$WORK/out")"
[ -s "$WORK/enh/l0.png" ] && pass "enhance: wrote the output" || fail "enhance: no output"

expect_ok "init: weights without an input range" "$BIN" init --output "$WORK/plain.safetensors"
expect_ok "enhance with weights that record no range" "$BIN" enhance --weights "$WORK/plain.safetensors" \
  --input "$WORK/Test/low" --output "$WORK/enh2"
grep -q "no input range recorded in the weights; assuming \[-1, 1\]" "$WORK/out" \
  && pass "enhance: says which range it assumes" || fail "enhance: assumption line: $(cat "$WORK/out")"
expect_ok "convert --input-range adds the range to safetensors weights" "$BIN" convert "$WORK/plain.safetensors" \
  "$WORK/plain01.safetensors" --input-range 0,1
has_range "$WORK/plain01.safetensors" 0,1 && pass "convert: range recorded" || fail "convert: range not recorded"

expect_ok "convert keeps the input range a safetensors input records" "$BIN" convert "$WORK/plain01.safetensors" "$WORK/again.safetensors"
has_range "$WORK/again.safetensors" 0,1 && pass "convert: the recorded range kept" || fail "convert: recorded range lost"
expect_ok "convert train_llie.py's checkpoint (module. keys, optimizer state)" "$BIN" convert \
  "$ORACLE/llie_module.pth" "$WORK/m.safetensors"
grep -q "\['state_dict'\]" "$WORK/out" && grep -q "removed the 'module.' prefix of 178 keys" "$WORK/out" \
  && has_range "$WORK/m.safetensors" 0,1 && pass "convert: state_dict, prefix removed, range 0,1" \
  || fail "convert: $(cat "$WORK/out")"
expect_ok "forward with the converted weights" "$BIN" forward --weights "$WORK/m.safetensors" \
  --input "$ORACLE/llie_input.safetensors" --output "$WORK/y.safetensors"
"$BIN" convert "$ORACLE/llie_bare.pth" "$WORK/bare.safetensors" > "$WORK/out" 2> "$WORK/err"
rc=$?
[ $rc -ne 0 ] && [ "$(wc -l < "$WORK/err")" -eq 1 ] && grep -q "does not tell which input range .* give --input-range" \
  "$WORK/err" && [ ! -e "$WORK/bare.safetensors" ] && pass "convert: a bare state dict needs --input-range, nothing written" \
  || fail "convert bare: exit $rc, $(cat "$WORK/err")"
expect_ok "convert a bare state dict with --input-range -1,1" "$BIN" convert "$ORACLE/llie_bare.pth" \
  "$WORK/bare.safetensors" --input-range -1,1
has_range "$WORK/bare.safetensors" -1,1 && pass "convert: range -1,1 recorded" || fail "convert: -1,1 not recorded"
"$BIN" convert "$ORACLE/llie_bare.pth" "$WORK/bad.safetensors" --input-range 0,255 > "$WORK/out" 2> "$WORK/err"
[ $? -ne 0 ] && grep -q "the input range must be 0,1 or -1,1, got '0,255'" "$WORK/err" \
  && pass "convert: a bad --input-range is named" || fail "convert: bad range: $(cat "$WORK/err")"

# eval: LPIPS only with its weights (random VGG16 + heads of tests/oracle/lpips_cases.py here).
mkdir -p "$WORK/pred" && cp "$WORK/Test/low/l0.png" "$WORK/pred/0.png"
expect_ok "eval without LPIPS weights" "$BIN" eval --pred "$WORK/pred" --gt "$WORK/Test/high"
grep -q "^LPIPS not computed (no --lpips-weights" "$WORK/out" && ! grep -q " lpips" "$WORK/out" \
  && pass "eval: the table says LPIPS was not computed" || fail "eval: $(cat "$WORK/out")"
expect_ok "eval --lpips-weights" "$BIN" eval --pred "$WORK/pred" --gt "$WORK/Test/high" \
  --lpips-weights "$ORACLE/lpips_weights.safetensors" --convention basicsr --output "$WORK/m.csv"
head -1 "$WORK/m.csv" | grep -qx "name,psnr,ssim,lpips" && awk -F, '$1 == "0.png" && $4 > 0 { ok = 1 } END { exit !ok }' \
  "$WORK/m.csv" && pass "eval: an LPIPS column, positive for a dark prediction" || fail "eval lpips: $(cat "$WORK/m.csv")"
expect_ok "eval --lpips-weights, prediction = ground truth" "$BIN" eval --pred "$WORK/Test/high" --gt "$WORK/Test/high" \
  --lpips-weights "$ORACLE/lpips_weights.safetensors" --convention basicsr --output "$WORK/m0.csv"
awk -F, '$1 == "0.png" && $4 == 0 { ok = 1 } END { exit !ok }' "$WORK/m0.csv" && pass "eval: LPIPS 0 for identical images" \
  || fail "eval lpips identical: $(cat "$WORK/m0.csv")"
"$BIN" eval --pred "$WORK/pred" --gt "$WORK/Test/high" --lpips-weights "$WORK/plain.safetensors" > "$WORK/out" 2> "$WORK/err"
[ $? -ne 0 ] && grep -q "plain.safetensors: not LPIPS (VGG) weights" "$WORK/err" \
  && pass "eval: weights that are not LPIPS are named" || fail "eval bad lpips weights: $(cat "$WORK/err")"

echo "$failures failure(s)"
[ $failures -eq 0 ]
