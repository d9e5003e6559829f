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
  expect_error "train --device cuda without a GPU" "liednet train: --device cuda" "$BIN" train --config x.yml --device cuda
fi

echo "$failures failure(s)"
[ $failures -eq 0 ]
