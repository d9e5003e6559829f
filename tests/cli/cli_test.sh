#!/usr/bin/env bash
# The liednet program end to end: the model commands on good input, and bad
# input giving a one-line error that names the file or key, with a non-zero exit.
# usage: cli_test.sh LIEDNET_BINARY ORACLE_DIR (Python: $LIEDNET_PYTHON, default /usr/bin/python3)
set -uo pipefail
BIN=$1
ORACLE=$2
PYTHON=${LIEDNET_PYTHON:-/usr/bin/python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

# expect_ok NAME CMD...: exit 0
expect_ok() {
  local name=$1; shift
  if "$@" > "$WORK/out" 2> "$WORK/err"; then pass "$name"; else fail "$name (exit $?): $(cat "$WORK/err")"; fi
}
# expect_error NAME PATTERN CMD...: non-zero exit, one line on stderr matching PATTERN
expect_error() {
  local name=$1 pattern=$2; shift 2
  "$@" > "$WORK/out" 2> "$WORK/err"
  local rc=$?
  local lines
  lines=$(wc -l < "$WORK/err")
  if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$pattern" "$WORK/err"; then
    pass "$name"
  else
    fail "$name (exit $rc, stderr: $(cat "$WORK/err"))"
  fi
}

expect_ok "info prints the parameter count" "$BIN" info
grep -qx "params: 4755554" "$WORK/out" && pass "info: params: 4755554" || fail "info: params line"
grep -q "^flops: [0-9.]* G$" "$WORK/out" && pass "info: flops line" || fail "info: flops line"
expect_ok "info liednet-l" "$BIN" info --preset liednet-l --size 64 64
grep -qx "params: 17790901" "$WORK/out" && pass "info: liednet-l params" || fail "info: liednet-l params"

expect_ok "init" "$BIN" init --preset liednet --seed 3 --output "$WORK/w.safetensors"
expect_ok "convert a torch.save checkpoint" "$BIN" convert "$ORACLE/liednet_dim8.pth" "$WORK/dim8.safetensors"
grep -q "\['params'\]" "$WORK/out" && pass "convert: took the state dict under params" || fail "convert: source"

# A forward on the converted dim-8 weights, with --side and --dump.
cp "$ORACLE/liednet_dim8_f32.safetensors" "$WORK/x.safetensors"  # holds the key `input`
expect_ok "forward with inferred config, --side, --dump" "$BIN" forward --weights "$WORK/dim8.safetensors" \
  --input "$WORK/x.safetensors" --output "$WORK/y.safetensors" --side --dump "$WORK/dump"
[ -s "$WORK/dump/activations.safetensors" ] && pass "forward: activations dumped" || fail "forward: no dump"
# --profile: the op table on stderr at exit and as CSV.
expect_ok "forward --profile" env LIEDNET_PROFILE_CSV="$WORK/profile.csv" "$BIN" forward \
  --weights "$WORK/dim8.safetensors" --input "$WORK/x.safetensors" --output "$WORK/yp.safetensors" --profile
grep -q "^op profile: " "$WORK/err" && grep -q "^ss2d_scan " "$WORK/err" && pass "forward --profile: table" \
  || fail "forward --profile: no table on stderr"
head -1 "$WORK/profile.csv" | grep -q "^op,fwd_calls,bwd_calls," && \
  awk -F, '$1 == "ss2d_scan" && $2 > 0 { found = 1 } END { exit !found }' "$WORK/profile.csv" \
  && pass "forward --profile: CSV" || fail "forward --profile: CSV missing or without ss2d_scan"

# Bad input.
head -c 1000 "$WORK/w.safetensors" > "$WORK/truncated.safetensors"
expect_error "truncated weights" "truncated.safetensors" "$BIN" forward --weights "$WORK/truncated.safetensors" \
  --input "$WORK/x.safetensors" --output "$WORK/y2.safetensors"
expect_error "weights of the wrong preset (mis-shaped keys)" "mis-shaped: patch_embed.proj.weight" "$BIN" forward \
  --weights "$WORK/dim8.safetensors" --preset liednet --input "$WORK/x.safetensors" --output "$WORK/y2.safetensors"
"$PYTHON" - "$WORK/dim8.safetensors" "$WORK/missing.safetensors" <<'PY'
# Drop one key: the loader must name it as missing.
import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
drop = "output.weight"
b, e = header[drop]["data_offsets"]
del header[drop]
for k, v in header.items():
    if k != "__metadata__" and v["data_offsets"][0] >= e:
        v["data_offsets"] = [v["data_offsets"][0] - (e - b), v["data_offsets"][1] - (e - b)]
data = data[:b] + data[e:]
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
PY
expect_error "weights missing a key" "1 missing: output.weight" "$BIN" forward --weights "$WORK/missing.safetensors" \
  --input "$WORK/x.safetensors" --output "$WORK/y2.safetensors"
echo "this is not a zip" > "$WORK/fake.pth"
expect_error ".pth that is not a zip" "fake.pth" "$BIN" convert "$WORK/fake.pth" "$WORK/out.safetensors"
[ ! -e "$WORK/out.safetensors" ] && pass "convert wrote nothing on error" || fail "convert left a file behind"
expect_error "missing option" "missing --output" "$BIN" init --preset liednet
expect_error "unknown option" "unknown option --bogus" "$BIN" info --bogus
expect_error "unknown preset" "unknown preset 'huge'" "$BIN" info --preset huge
"$PYTHON" -c "
import json, struct, sys
h = json.dumps({'input': {'dtype': 'F32', 'shape': [1, 4, 8, 8], 'data_offsets': [0, 1024]}}).encode()
h += b' ' * ((8 - len(h) % 8) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + bytes(1024))
" "$WORK/four_channels.safetensors"
expect_error "input of the wrong shape" "'input' must be (N, 3, H, W), got f32 (1, 4, 8, 8)" "$BIN" forward \
  --weights "$WORK/dim8.safetensors" --input "$WORK/four_channels.safetensors" --output "$WORK/y3.safetensors"
expect_error "input without the key 'input'" "no tensor named 'input'" "$BIN" forward --weights "$WORK/dim8.safetensors" \
  --input "$WORK/dim8.safetensors" --output "$WORK/y3.safetensors"

# --device: a bad name, --tf32 on the CPU, and CUDA on a machine without a GPU.
FWD=(forward --weights "$WORK/dim8.safetensors" --input "$WORK/x.safetensors" --output "$WORK/yd.safetensors")
expect_error "--device with a bad name" "--device must be cpu or cuda, got 'gpu'" "$BIN" "${FWD[@]}" --device gpu
expect_error "--tf32 without --device cuda" "--tf32 needs --device cuda" "$BIN" "${FWD[@]}" --tf32
if "$BIN" version | grep -q "devices: 0"; then
  expect_error "--device cuda without a GPU" "--device cuda: no GPU on this machine\\|this build has no CUDA backend" \
    "$BIN" "${FWD[@]}" --device cuda
  expect_error "train --device cuda without a GPU" "liednet train: error: --device cuda" "$BIN" train --config x.yml --device cuda
fi

# explain: a small report on two sample photos with the dim-8 weights, then bad input.
SAMPLES="$(cd "$(dirname "$0")/../.." && pwd)/data/samples"
mkdir -p "$WORK/photos" "$WORK/no_images"
cp "$SAMPLES/cat.png" "$SAMPLES/coffee.png" "$WORK/photos/"
expect_ok "explain on two photos, --without-ss2d" "$BIN" explain --weights "$WORK/dim8.safetensors" \
  --input "$WORK/photos" --output "$WORK/explain" --size 32 48 --without-ss2d --scan-blocks encoder_level2.0
"$PYTHON" - "$WORK/explain" <<'PY' && pass "explain: every picture on the page exists, tensors under the issue's keys" \
  || fail "explain: page or tensors"
import json, os, re, struct, sys
d = sys.argv[1]
html = open(os.path.join(d, "index.html")).read()
srcs = re.findall(r'<img src="([^"]+)"', html)
pngs = sorted(f for f in os.listdir(d) if f.endswith(".png"))
assert sorted(srcs) == pngs, (srcs, pngs)           # every picture shown, every shown picture written
assert "<script" not in html and "http" not in html  # self-contained: no scripts, no outside links
assert html.count("<figcaption>") == len(srcs)       # a sentence under each picture
with open(os.path.join(d, "tensors.safetensors"), "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
stages = ["patch_embed", "encoder_level1", "encoder_level2", "encoder_level3", "decoder_level2", "decoder_level1",
          "refinement", "output"]
for s in stages:
    for key in ("erf." + s, "erf_without_ss2d." + s):
        assert header[key]["dtype"] == "F32" and header[key]["shape"] == [32, 48], key
    assert "erf_%s.png" % s in pngs and "erf_without_ss2d_%s.png" % s in pngs, s
for k in range(4):
    assert header["scan.encoder_level2.0.k%d" % k]["shape"] == [8, 12]  # level 2 is at 1/4
    assert "scan.encoder_level1.0.k%d" % k in header
    assert header["erf_dir.encoder_level2.0.k%d" % k]["shape"] == [32, 48]  # per-direction ERFs: input-sized
    assert "erf_dir.refinement.0.k%d" % k in header
assert "erf_dir_encoder_level2.0.png" in pngs
print(len(srcs), "pictures,", len(header) - 1, "tensors")
PY
expect_error "explain: missing weights" "nope.safetensors" "$BIN" explain --weights "$WORK/nope.safetensors" \
  --input "$WORK/photos" --output "$WORK/explain2" --size 32 48
expect_error "explain: an image smaller than --size" "cat.png: the image is 448x298 (width x height), smaller than --size 512 512" \
  "$BIN" explain --weights "$WORK/dim8.safetensors" --input "$WORK/photos" --output "$WORK/explain2" --size 512
expect_error "explain: a folder without images" "no_images holds no images" "$BIN" explain \
  --weights "$WORK/dim8.safetensors" --input "$WORK/no_images" --output "$WORK/explain2"
expect_error "explain: --size not a multiple of 8" "--size must be H W" "$BIN" explain \
  --weights "$WORK/dim8.safetensors" --input "$WORK/photos" --output "$WORK/explain2" --size 30 48
[ ! -e "$WORK/explain2" ] && pass "explain wrote nothing on error" || fail "explain left files behind"

# ---- bad image files, enhance and eval past bad inputs, train's leftovers (robustness) ----
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# make_png PATH W H SEED: a small RGB PNG of random levels.
make_png() {
  "$PYTHON" - "$@" <<'PY'
import os, random, struct, sys, zlib
path, w, h, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
rows = b"".join(b"\0" + bytes(rng.randrange(256) for _ in range(3 * w)) for _ in range(h))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
}
# flip_byte PATH OFFSET: xor one byte with 0x10.
flip_byte() {
  "$PYTHON" -c "
import sys
p, i = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read()); b[i] ^= 0x10; open(p, 'wb').write(b)" "$1" "$2"
}

IN="$WORK/mixed_inputs"
make_png "$IN/good.png" 24 16 1
make_png "$IN/flipped.png" 24 16 2
flip_byte "$IN/flipped.png" 60  # inside IDAT
head -c -10 "$ROOT/tests/fuzz/corpus/image/rgb.jpg" > "$IN/cut.jpg"  # the last 10 bytes gone
mkdir -p "$WORK/enhanced"
echo "partial" > "$WORK/enhanced/good.png.tmp.999999999"  # left by a killed enhance (no such pid)
"$BIN" enhance --weights "$WORK/dim8.safetensors" --input "$IN" --output "$WORK/enhanced" > "$WORK/out.txt" 2> "$WORK/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$WORK/err")" -eq 3 ] \
   && grep -q "^liednet enhance: $IN/cut.jpg: truncated JPEG (the file ends inside its image data" "$WORK/err" \
   && grep -q "^liednet enhance: $IN/flipped.png: corrupt PNG (" "$WORK/err" \
   && grep -qx "liednet enhance: error: 2 of 3 inputs failed (listed above); 1 was enhanced" "$WORK/err"; then
  pass "enhance reports every bad input at the end, exit 1"
else
  fail "enhance with bad inputs (exit $rc, stderr: $(cat "$WORK/err"))"
fi
[ -s "$WORK/enhanced/good.png" ] && [ ! -e "$WORK/enhanced/flipped.png" ] && [ ! -e "$WORK/enhanced/cut.png" ] \
  && pass "enhance wrote the good input's result and nothing for the bad ones" || fail "enhance outputs: $(ls "$WORK/enhanced")"
[ ! -e "$WORK/enhanced/good.png.tmp.999999999" ] && pass "enhance removed a killed run's temporary file" \
  || fail "enhance left the stale temporary file"
expect_error "enhance: one bad file is its one-line error" "$IN/flipped.png: corrupt PNG (" \
  "$BIN" enhance --weights "$WORK/dim8.safetensors" --input "$IN/flipped.png" --output "$WORK/one"

make_png "$WORK/twins/a.png" 16 16 3
cp "$ROOT/tests/fuzz/corpus/image/rgb.jpg" "$WORK/twins/a.jpg"
expect_error "enhance: two inputs, one output name" "$WORK/twins: a.jpg and a.png would both be written as a.png" \
  "$BIN" enhance --weights "$WORK/dim8.safetensors" --input "$WORK/twins" --output "$WORK/twins_out"
[ ! -e "$WORK/twins_out" ] && pass "enhance wrote nothing for clashing names" || fail "enhance wrote for clashing names"

# eval: the good pair measured and written, the bad one reported.
make_png "$WORK/gt/good.png" 24 16 5
make_png "$WORK/gt/flipped.png" 24 16 6
"$BIN" eval --pred "$IN" --gt "$WORK/gt" --skip-unpaired --output "$WORK/m.csv" > "$WORK/out.txt" 2> "$WORK/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "^liednet eval: $IN/flipped.png: corrupt PNG (" "$WORK/err" \
   && grep -qx "liednet eval: error: 1 of 2 inputs failed (listed above); 1 was measured" "$WORK/err" \
   && [ "$(cut -d, -f1 "$WORK/m.csv" | tr '\n' ' ')" = "name good.png mean " ]; then
  pass "eval writes the good pairs' CSV and reports the bad one, exit 1"
else
  fail "eval with a bad input (exit $rc, stderr: $(cat "$WORK/err"), csv: $(cat "$WORK/m.csv" 2>/dev/null))"
fi

# train: a tiny run; the temporary files a killed run left are removed at the start.
for i in 0 1; do
  make_png "$WORK/train/lq/$i.png" 16 16 $((10 + i))
  make_png "$WORK/train/gt/$i.png" 16 16 $((20 + i))
done
cat > "$WORK/tiny.yml" <<YML
name: tiny
datasets:
  train: {dataroot_lq: $WORK/train/lq, dataroot_gt: $WORK/train/gt, crop_size: 16, batch_size_per_gpu: 1,
          num_worker_per_gpu: 0}
network_g: {type: LIED, dim: 8, num_blocks: [1, 1, 1], num_refinement_blocks: 1}
path: {experiments_root: $WORK/exp}
train:
  optim_g: {type: Adam, lr: 0.001}
  total_iter: 1
  pixel_opt: {type: L1Loss, loss_weight: 1.0}
logger: {print_freq: 1}
YML
mkdir -p "$WORK/exp/checkpoints"
echo "partial" > "$WORK/exp/checkpoints/ckpt_00000001.safetensors.tmp.999999999"
expect_ok "train: a tiny run" "$BIN" train --config "$WORK/tiny.yml"
grep -qx "removed $WORK/exp/checkpoints/ckpt_00000001.safetensors.tmp.999999999 (left by a killed run)" "$WORK/out" \
  && [ ! -e "$WORK/exp/checkpoints/ckpt_00000001.safetensors.tmp.999999999" ] \
  && pass "train removed a killed run's temporary file and said so" || fail "train and the stale temporary: $(cat "$WORK/out")"
[ -s "$WORK/exp/checkpoints/ckpt_00000001.safetensors" ] && [ -z "$(find "$WORK/exp" -name '*.tmp.*')" ] \
  && pass "train wrote its checkpoint and left no temporary file" || fail "train's files: $(find "$WORK/exp")"
flip_byte "$WORK/train/gt/1.png" 60
expect_error "train stops on a corrupt image, naming it" "$WORK/train/gt/1.png: corrupt PNG (" \
  "$BIN" train --config "$WORK/tiny.yml"
sed -i 's/num_worker_per_gpu: 0}/num_worker_per_gpu: 0, skip_bad: true}/; s/total_iter: 1/total_iter: 4/' "$WORK/tiny.yml"
expect_ok "train with skip_bad: true goes past the corrupt image" "$BIN" train --config "$WORK/tiny.yml"
[ "$(grep -c "^warning: skip_bad: skipping $WORK/train/gt/1.png: corrupt PNG (.*(bad pairs so far: 1)$" "$WORK/out")" -eq 1 ] \
  && pass "skip_bad warned once and counted" || fail "skip_bad output: $(cat "$WORK/out")"

# --launcher mpi in a build without MPI (CI's sanitizer build) says so.
if "$BIN" version | grep -q "^mpi: not built"; then
  expect_error "train --launcher mpi without MPI" "this liednet was built without MPI" "$BIN" train --config x.yml \
    --launcher mpi
fi

echo "$failures failure(s)"
[ $failures -eq 0 ]
