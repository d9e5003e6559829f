#!/usr/bin/env bash
# `liednet train` end to end on a tiny network and synthetic data (one thread,
# seconds per run): an interrupt (SIGINT, SIGTERM, a second SIGINT), the
# printed resume command, exact resume (bit-identical weights, identical log
# lines), the config checks of --resume and --resume-anyway, leftover temporary
# files, and a full disk under the training log (a small tmpfs; skipped where
# mounting is refused).
# usage: train_test.sh LIEDNET_BINARY
set -uo pipefail
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK="${LIEDNET_PYTHON:-/usr/bin/python3} $HERE/train_check.py"
WORK=$(mktemp -d)
MOUNTED=""
trap '[ -n "$MOUNTED" ] && umount "$MOUNTED"; rm -rf "$WORK"' EXIT
export LIEDNET_THREADS=1 OMP_NUM_THREADS=1  # short, and steady on a busy machine
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$BIN" synth --input "$HERE/../../data/samples" --output "$WORK/data" --count 8 --size 32 --seed 1 > /dev/null \
  || { echo "FAIL synth of the training data"; exit 1; }

# config NAME ROOT [KEY=VALUE...]: a tiny run (dim 4, 16x16 crops with flips and rotations, 40 iterations).
config() {
  local name=$1 root=$2 batch=2 crop=16 seed=3 total=40 print=1 ckpt="" dim=4
  shift 2
  for kv in "$@"; do
    case $kv in
      batch=*) batch=${kv#batch=} ;; crop=*) crop=${kv#crop=} ;; seed=*) seed=${kv#seed=} ;;
      total=*) total=${kv#total=} ;; print=*) print=${kv#print=} ;; ckpt=*) ckpt="save_checkpoint_freq: ${kv#ckpt=}" ;;
      dim=*) dim=${kv#dim=} ;;
    esac
  done
  cat > "$WORK/$name.yml" <<EOF
name: tiny
manual_seed: $seed
datasets:
  train:
    dataroot_gt: $WORK/data/high_sharp_scaled
    dataroot_lq: $WORK/data/low_blur_noise
    crop_size: $crop
    use_flip: true
    use_rot: true
    batch_size_per_gpu: $batch
    num_worker_per_gpu: 1
network_g: {type: LIED, dim: $dim, num_blocks: [1, 1, 1], num_refinement_blocks: 1}
path:
  experiments_root: $root
train:
  optim_g: {type: Adam, lr: !!float 1e-3}
  scheduler: {type: CosineAnnealingRestartLR, periods: [40], eta_min: !!float 1e-6}
  total_iter: $total
  pixel_opt: {type: L1Loss, loss_weight: 1.0}
logger:
  print_freq: $print
  $ckpt
EOF
}

# start_run NAME ARGS...: `liednet train` in the background; its pid in $RUN_PID.
start_run() {
  local name=$1
  shift
  "$BIN" train "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  RUN_PID=$!
}

# ---- the unbroken reference: 40 iterations, logged every 2nd --------------------------------
config straight "$WORK/straight" print=2
"$BIN" train --config "$WORK/straight.yml" > "$WORK/straight.out" 2> "$WORK/straight.err" \
  && pass "40 iterations in one run" || fail "the unbroken run: $(cat "$WORK/straight.err")"
[ -f "$WORK/straight/checkpoints/ckpt_00000040.safetensors" ] \
  && pass "without save_checkpoint_freq: a checkpoint at the end" || fail "no final checkpoint"

# ---- SIGINT: a checkpoint of the iteration, its path, the resume command, exit 130 ----------
config broken "$WORK/broken" print=2
start_run broken --config "$WORK/broken.yml"
$CHECK wait-iter "$WORK/broken/train_log.jsonl" 4 || fail "the run never reached iteration 4"
kill -INT $RUN_PID
wait $RUN_PID
rc=$?
[ $rc -eq 130 ] && pass "SIGINT: exit 130" || fail "SIGINT: exit $rc, stderr: $(cat "$WORK/broken.err")"
grep -q "^liednet train: interrupted: finishing this step, then writing a checkpoint" "$WORK/broken.err" \
  && pass "SIGINT: said at once on stderr" || fail "SIGINT: no notice on stderr: $(cat "$WORK/broken.err")"
line=$(grep "^interrupted (SIGINT) after iteration" "$WORK/broken.out")
ckpt=$(echo "$line" | sed 's/.*: checkpoint //')
stopped=$(echo "$line" | sed 's/.*after iteration \([0-9]*\):.*/\1/')
if [ -n "$ckpt" ] && [ -f "$ckpt" ] && [ "$stopped" -lt 40 ]; then
  pass "SIGINT at iteration $stopped: checkpoint $(basename "$ckpt")"
else
  fail "SIGINT: no checkpoint named (stdout: $(tail -2 "$WORK/broken.out"))"
fi
resume=$(grep "^resume with: " "$WORK/broken.out" | sed 's/^resume with: //')
[ "$resume" = "$BIN train --config $WORK/broken.yml --resume $ckpt" ] && pass "the printed resume command" \
  || fail "the printed resume command: '$resume'"
# A temporary file a killed run would leave: removed when the run starts again.
touch "$WORK/broken/checkpoints/ckpt_00000099.safetensors.tmp.999999999"
eval "$resume" > "$WORK/resumed.out" 2> "$WORK/resumed.err" && pass "the resume command runs to the end" \
  || fail "resume: $(cat "$WORK/resumed.err")"
grep -q "^removed .*ckpt_00000099.safetensors.tmp.999999999 (left by a killed run)$" "$WORK/resumed.out" \
  && [ ! -e "$WORK/broken/checkpoints/ckpt_00000099.safetensors.tmp.999999999" ] \
  && pass "a leftover temporary file is removed at the next start" || fail "leftover temporary file"
cmp -s "$WORK/straight/models/net_g_latest.safetensors" "$WORK/broken/models/net_g_latest.safetensors" \
  && pass "n + SIGINT + --resume + the rest: bit-identical weights" || fail "resumed weights differ"
msg=$($CHECK same-log "$WORK/straight/train_log.jsonl" "$WORK/broken/train_log.jsonl") \
  && pass "n + SIGINT + --resume + the rest: identical log lines" || fail "logs: $msg"

# ---- SIGTERM: exit 143 with a checkpoint ---------------------------------------------------
config term "$WORK/term"
start_run term --config "$WORK/term.yml"
$CHECK wait-iter "$WORK/term/train_log.jsonl" 3
kill -TERM $RUN_PID
wait $RUN_PID
rc=$?
[ $rc -eq 143 ] && grep -q "^interrupted (SIGTERM) after iteration" "$WORK/term.out" \
  && pass "SIGTERM: exit 143 with a checkpoint" || fail "SIGTERM: exit $rc, stdout: $(tail -2 "$WORK/term.out")"

# ---- a second SIGINT: stops at once; only whole files remain --------------------------------
# Larger steps (about a second here) so that the second signal lands inside the step the first
# one lets finish. Signals within half a second count as one (hostile_test.sh tests that):
# LIEDNET_SIGNAL_MERGE_MS=0 turns that off here.
config twice "$WORK/twice" ckpt=1 total=400 dim=16 crop=32 batch=4
LIEDNET_SIGNAL_MERGE_MS=0 start_run twice --config "$WORK/twice.yml"
$CHECK wait-iter "$WORK/twice/train_log.jsonl" 2
kill -INT $RUN_PID
for _ in $(seq 1 500); do grep -q "interrupted: finishing this step" "$WORK/twice.err" && break; sleep 0.01; done
kill -INT $RUN_PID
wait $RUN_PID
rc=$?
[ $rc -eq 130 ] && grep -q "interrupted again: stopping" "$WORK/twice.err" \
  && ! grep -q "^interrupted (SIGINT)" "$WORK/twice.out" \
  && pass "a second SIGINT: exit 130 at once, without finishing the step" \
  || fail "second SIGINT: exit $rc, stderr: $(cat "$WORK/twice.err")"
msg=$($CHECK complete "$WORK/twice") && [ -z "$(find "$WORK/twice" -name '*.tmp.*')" ] \
  && pass "a second SIGINT leaves only whole files" || fail "after a second SIGINT: $msg $(find "$WORK/twice" -name '*.tmp.*')"

# ---- --resume checks that the config still fits -----------------------------------------------
first=$WORK/straight/checkpoints/ckpt_00000040.safetensors
config more "$WORK/straight" total=44 batch=4 crop=8 seed=5
"$BIN" train --config "$WORK/more.yml" --resume "$first" > "$WORK/out" 2> "$WORK/err"
rc=$?
if [ $rc -ne 0 ] && [ "$(wc -l < "$WORK/err")" -eq 1 ] \
  && grep -q "datasets.train.batch_size_per_gpu: the checkpoint has 2, the config 4" "$WORK/err" \
  && grep -q "datasets.train.crop_size: the checkpoint has 16, the config 8" "$WORK/err" \
  && grep -q "manual_seed: the checkpoint has 3, the config 5" "$WORK/err" && grep -q "$first" "$WORK/err"; then
  pass "--resume with another batch, crop and seed: one line naming each key and both values"
else
  fail "--resume mismatch (exit $rc): $(cat "$WORK/err")"
fi
"$BIN" train --config "$WORK/more.yml" --resume "$first" --resume-anyway > "$WORK/out" 2> "$WORK/err" \
  && grep -q "^--resume-anyway: continuing with the config's values: datasets.train.batch_size_per_gpu" "$WORK/out" \
  && grep -q "iter 44/44" "$WORK/out" && pass "--resume-anyway continues and says what changed" \
  || fail "--resume-anyway: $(cat "$WORK/err")"
sed -i 's/dim: 4/dim: 8/' "$WORK/more.yml"
"$BIN" train --config "$WORK/more.yml" --resume "$first" --resume-anyway > "$WORK/out" 2> "$WORK/err"
[ $? -ne 0 ] && grep -q "the checkpoint is of dim 4" "$WORK/err" \
  && pass "another network shape stays an error, even with --resume-anyway" || fail "network shape: $(cat "$WORK/err")"
"$BIN" train --config "$WORK/straight.yml" --launcher bogus > "$WORK/out" 2> "$WORK/err"
[ $? -ne 0 ] && grep -q "launcher must be none or mpi, got 'bogus'" "$WORK/err" && pass "--launcher bogus" \
  || fail "--launcher bogus: $(cat "$WORK/err")"

# ---- a full disk under the training log: whole lines, one error naming the file -------------
mkdir -p "$WORK/small"
if mount -t tmpfs -o size=256k tmpfs "$WORK/small" 2> /dev/null; then
  MOUNTED=$WORK/small
  config full "$WORK/small/run" total=2000 ckpt=0
  mkdir -p "$WORK/small/run"
  head -c 8192 /dev/zero > "$WORK/small/spare"  # fill the disk, then free 8 KiB: room for a few dozen lines
  head -c 1048576 /dev/zero > "$WORK/small/filler" 2> /dev/null
  rm "$WORK/small/spare"
  "$BIN" train --config "$WORK/full.yml" > "$WORK/out" 2> "$WORK/err"
  rc=$?
  lines=$($CHECK whole-lines "$WORK/small/run/train_log.jsonl")
  if [ $rc -ne 0 ] && [ "$(wc -l < "$WORK/err")" -eq 1 ] && grep -q "train_log.jsonl" "$WORK/err" \
    && grep -q "no space left" "$WORK/err" && [ "${lines:-0}" -gt 0 ]; then
    pass "disk full under the log: one line naming the file and 'no space left'; $lines whole lines kept"
  else
    fail "disk full (exit $rc, $lines): $(cat "$WORK/err")"
  fi
  # A checkpoint every iteration on a 4 MiB disk: a few fit, then one write fails.
  umount "$WORK/small"
  mount -t tmpfs -o size=4m tmpfs "$WORK/small"
  config fullckpt "$WORK/small/run" total=2000 ckpt=1 print=100
  "$BIN" train --config "$WORK/fullckpt.yml" > "$WORK/out" 2> "$WORK/err"
  rc=$?
  saved=$(ls "$WORK/small/run/checkpoints" | wc -l)
  msg=$($CHECK complete "$WORK/small/run")
  if [ $rc -ne 0 ] && [ "$(wc -l < "$WORK/err")" -eq 1 ] && grep -q "$WORK/small/run/" "$WORK/err" \
    && [ "$saved" -ge 1 ] && [ -z "$msg" ] && [ -z "$(find "$WORK/small" -name '*.tmp.*')" ]; then
    pass "disk full at a checkpoint: one line naming the file; the $saved earlier checkpoint(s) whole, no temporary file"
  else
    fail "disk full at a checkpoint (exit $rc, $saved checkpoints, $msg): $(cat "$WORK/err")"
  fi
else
  echo "skipped: disk-full tests (cannot mount a tmpfs here: not root?)"
fi

echo "$failures failure(s)"
[ $failures -eq 0 ]
