#!/usr/bin/env bash
# `liednet train --device cuda` on the emulated CUDA device (-DLIEDNET_CUDA=EMULATE,
# docs/cuda.md): 20 iterations of a tiny network on 32x32 crops follow the CPU's
# loss curve within 1e-3 relative (the README's f32 bound for CUDA training),
# and `mpirun -np 2 ... --device cuda --launcher mpi` (the NCCL path, emulated
# over MPI) follows the CPU's batch-2 curve within the same bound.
# usage: cuda_emu_test.sh LIEDNET_BINARY [MPIEXEC [MPIEXEC FLAGS...]]
set -uo pipefail
BIN=$(realpath "$1")
shift
MPIRUN=("$@")
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK="${LIEDNET_PYTHON:-/usr/bin/python3} $HERE/train_check.py"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export LIEDNET_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$BIN" version | grep -q "^cuda backend: emulated (no GPU)" || { echo "not the emulated build: skipped"; exit 77; }
# CUDA_VISIBLE_DEVICES as on a GPU machine: the listed ordinals up to the first bad one; empty hides them all.
for case in ":0" "0,3:2" "1,9,2:1" "2,2:1"; do
  want=${case##*:}; got=$(CUDA_VISIBLE_DEVICES=${case%%:*} "$BIN" version | grep -o "devices: [0-9]*" | cut -d' ' -f2)
  [ "$got" = "$want" ] && pass "CUDA_VISIBLE_DEVICES='${case%%:*}': $got device(s)" \
    || fail "CUDA_VISIBLE_DEVICES='${case%%:*}': ${got:-no} device(s), want $want"
done
"$BIN" synth --input "$HERE/../../data/samples" --output "$WORK/data" --count 4 --size 48 --seed 1 > /dev/null \
  || { echo "FAIL synth of the training data"; exit 1; }

# config NAME ROOT BATCH: 20 iterations of a dim-4 network on 32x32 crops, in order.
config() {
  cat > "$WORK/$1.yml" <<EOF
name: tiny
manual_seed: 3
datasets:
  train:
    dataroot_gt: $WORK/data/high_sharp_scaled
    dataroot_lq: $WORK/data/low_blur_noise
    crop_size: 32
    use_flip: true
    use_rot: true
    use_shuffle: false
    batch_size_per_gpu: $3
    num_worker_per_gpu: 1
network_g: {type: LIED, dim: 4, num_blocks: [1, 1, 1], num_refinement_blocks: 1}
path:
  experiments_root: $2
train:
  optim_g: {type: Adam, lr: !!float 1e-3}
  scheduler: {type: CosineAnnealingRestartLR, periods: [20], eta_min: !!float 1e-6}
  total_iter: 20
  pixel_opt: {type: L1Loss, loss_weight: 1.0}
logger:
  print_freq: 1
EOF
}

config cpu "$WORK/cpu" 1
config cuda "$WORK/cuda" 1
"$BIN" train --config "$WORK/cpu.yml" --device cpu > /dev/null 2> "$WORK/cpu.err" || fail "CPU run: $(cat "$WORK/cpu.err")"
"$BIN" train --config "$WORK/cuda.yml" --device cuda > /dev/null 2> "$WORK/cuda.err" \
  && pass "liednet train --device cuda on the emulated device" || fail "CUDA run: $(tail -3 "$WORK/cuda.err")"
msg=$($CHECK close-log "$WORK/cpu/train_log.jsonl" "$WORK/cuda/train_log.jsonl" 1e-3) \
  && pass "--device cuda vs cpu: every logged loss of 20 iterations within 1e-3 ($msg)" || fail "losses: $msg"

if [ ${#MPIRUN[@]} -gt 0 ]; then
  config cpu2 "$WORK/cpu2" 2
  config nccl "$WORK/nccl" 1
  "$BIN" train --config "$WORK/cpu2.yml" --device cpu > /dev/null 2> "$WORK/cpu2.err" \
    || fail "CPU batch 2: $(cat "$WORK/cpu2.err")"
  "${MPIRUN[@]}" -np 2 "$BIN" train --config "$WORK/nccl.yml" --device cuda --launcher mpi > "$WORK/nccl.out" \
    2> "$WORK/nccl.err" && pass "mpirun -np 2 liednet train --device cuda --launcher mpi (NCCL emulated over MPI)" \
    || fail "2 ranks on CUDA: $(tail -3 "$WORK/nccl.err") $(grep -i "^training" "$WORK/nccl.out")"
  msg=$($CHECK close-log "$WORK/cpu2/train_log.jsonl" "$WORK/nccl/train_log.jsonl" 1e-3) \
    && pass "2 CUDA ranks x batch 1 vs CPU batch 2: every logged loss within 1e-3 ($msg)" || fail "losses: $msg"
fi

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
