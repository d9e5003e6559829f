#!/usr/bin/env bash
# `mpirun -np 2 liednet train --launcher mpi` end to end on a tiny network and
# synthetic data (one thread per rank): 2 ranks x batch 1 against 1 process x
# batch 2, two 2-rank runs bit for bit, interrupt and exact resume with 2
# ranks (the printed command), resuming with another world size, Ctrl-C on
# mpirun itself, one rank failing on a corrupt image, a set-up error on one rank, and skip_bad's
# reports gathered from every rank.
# usage: mpi_test.sh LIEDNET_BINARY MPIEXEC [MPIEXEC FLAGS...]
set -uo pipefail
BIN=$(realpath "$1")
shift
MPIRUN=("$@")
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK="${LIEDNET_PYTHON:-/usr/bin/python3} $HERE/train_check.py"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export LIEDNET_THREADS=1 OMP_NUM_THREADS=1
# The printed resume command says plain `mpirun -np 2`; as root (CI) Open MPI wants these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$BIN" version | grep -q "^mpi: Open MPI\|^mpi: MPICH\|^mpi: .*MPI" && pass "liednet version names the MPI" \
  || fail "liednet version: $("$BIN" version | grep mpi)"

"$BIN" synth --input "$HERE/../../data/samples" --output "$WORK/data" --count 8 --size 32 --seed 1 > /dev/null \
  || { echo "FAIL synth of the training data"; exit 1; }

# config NAME ROOT BATCH [SHUFFLE [TOTAL]]: 24 iterations of a dim-4 network on 16x16 crops.
config() {
  cat > "$WORK/$1.yml" <<EOF
name: tiny
manual_seed: 3
datasets:
  train:
    dataroot_gt: $WORK/data/high_sharp_scaled
    dataroot_lq: $WORK/data/low_blur_noise
    crop_size: 16
    use_flip: true
    use_rot: true
    use_shuffle: ${4:-true}
    batch_size_per_gpu: $3
    num_worker_per_gpu: 1
network_g: {type: LIED, dim: 4, num_blocks: [1, 1, 1], num_refinement_blocks: 1}
path:
  experiments_root: $2
train:
  optim_g: {type: Adam, lr: !!float 1e-3}
  scheduler: {type: CosineAnnealingRestartLR, periods: [24], eta_min: !!float 1e-6}
  total_iter: ${5:-24}
  pixel_opt: {type: L1Loss, loss_weight: 1.0}
logger:
  print_freq: 1
EOF
}

# ---- 2 ranks x batch 1 == 1 process x batch 2; bit-identical 2-rank runs -----------------------
config one "$WORK/one" 2
config a "$WORK/a" 1
config b "$WORK/b" 1
"$BIN" train --config "$WORK/one.yml" > "$WORK/one.out" 2> "$WORK/one.err" || fail "1 process: $(cat "$WORK/one.err")"
for run in a b; do
  "${MPIRUN[@]}" -np 2 "$BIN" train --config "$WORK/$run.yml" --launcher mpi > "$WORK/$run.out" 2> "$WORK/$run.err" \
    && pass "2 ranks, run $run" || fail "2 ranks, run $run: $(cat "$WORK/$run.err")"
done
[ "$(grep -c "^training tiny\|^training liednet" "$WORK/a.out")" -eq 1 ] && grep -q "batch 1 x 2 ranks" "$WORK/a.out" \
  && [ "$(grep -c "^final checkpoint" "$WORK/a.out")" -eq 1 ] && pass "rank 0 alone prints" \
  || fail "output of the 2 ranks: $(head -3 "$WORK/a.out")"
msg=$($CHECK close-log "$WORK/one/train_log.jsonl" "$WORK/a/train_log.jsonl" 1e-5) \
  && pass "2 ranks x batch 1 vs 1 process x batch 2: every logged loss within 1e-5 ($msg)" || fail "losses: $msg"
msg=$($CHECK close-weights "$WORK/one/models/net_g_latest.safetensors" "$WORK/a/models/net_g_latest.safetensors" 1e-4) \
  && pass "2 ranks x batch 1 vs 1 process x batch 2: weights within 1e-4 ($msg)" || fail "weights: $msg"
cmp -s "$WORK/a/models/net_g_latest.safetensors" "$WORK/b/models/net_g_latest.safetensors" \
  && cmp -s "$WORK/a/checkpoints/ckpt_00000024.safetensors" "$WORK/b/checkpoints/ckpt_00000024.safetensors" \
  && pass "two 2-rank runs: bit-identical weights and checkpoints" || fail "two 2-rank runs differ"

# ---- threads per rank without LIEDNET_THREADS: the core mpirun bound each rank to, or a share ----
config t "$WORK/t" 1 true 1
env -u LIEDNET_THREADS -u OMP_NUM_THREADS "${MPIRUN[@]}" -np 2 "$BIN" train --config "$WORK/t.yml" --launcher mpi \
  > "$WORK/t.out" 2>&1 && grep -q "1 threads per rank" "$WORK/t.out" && pass "2 ranks: 1 thread each (bound to a core)" \
  || fail "threads per rank: $(grep "^training" "$WORK/t.out")"
share=$(( $(nproc) / 2 ))
[ $share -lt 1 ] && share=1
env -u LIEDNET_THREADS -u OMP_NUM_THREADS "${MPIRUN[@]}" --bind-to none -np 2 "$BIN" train --config "$WORK/t.yml" \
  --launcher mpi > "$WORK/t.out" 2>&1 && grep -q " $share threads per rank" "$WORK/t.out" \
  && pass "2 ranks, --bind-to none: $share thread(s) each (cores / ranks)" \
  || fail "threads per rank unbound: $(grep "^training" "$WORK/t.out")"

# ---- SIGTERM to one rank: all stop after the same iteration; checkpoint, resume command, exact resume --
config c "$WORK/c" 1
"${MPIRUN[@]}" -np 2 "$BIN" train --config "$WORK/c.yml" --launcher mpi > "$WORK/c.out" 2> "$WORK/c.err" &
MPI_PID=$!
$CHECK wait-iter "$WORK/c/train_log.jsonl" 4 || fail "the 2-rank run never reached iteration 4"
one_rank=$(pgrep -P $MPI_PID | tail -1)
kill -TERM $one_rank
wait $MPI_PID
rc=$?
line=$(grep "^interrupted (SIGTERM) after iteration" "$WORK/c.out")
ckpt=$(echo "$line" | sed 's/.*: checkpoint //')
[ $rc -eq 143 ] && [ -f "$ckpt" ] && pass "SIGTERM to one of 2 ranks: both stop, exit 143, $(basename "$ckpt")" \
  || fail "SIGTERM to one rank: exit $rc, stdout: $(tail -2 "$WORK/c.out") stderr: $(cat "$WORK/c.err")"
resume=$(grep "^resume with: " "$WORK/c.out" | sed 's/^resume with: //')
[ "$resume" = "mpirun -np 2 $BIN train --config $WORK/c.yml --launcher mpi --resume $ckpt" ] \
  && pass "the printed resume command" || fail "the printed resume command: '$resume'"
cp "$ckpt" "$WORK/c_ckpt.safetensors"
eval "$resume" > "$WORK/c2.out" 2> "$WORK/c2.err" || fail "resume on 2 ranks: $(cat "$WORK/c2.err")"
cmp -s "$WORK/a/models/net_g_latest.safetensors" "$WORK/c/models/net_g_latest.safetensors" \
  && pass "2 ranks: n + SIGTERM + --resume + the rest == unbroken (bit-identical weights)" || fail "2-rank resume differs"
msg=$($CHECK same-log "$WORK/a/train_log.jsonl" "$WORK/c/train_log.jsonl") \
  && pass "2 ranks: identical log lines after resume" || fail "2-rank resume logs: $msg"

# ---- the 2-rank checkpoint resumed by 1 process: allowed, and said ------------------------------
config d "$WORK/d" 1
"$BIN" train --config "$WORK/d.yml" --resume "$WORK/c_ckpt.safetensors" > "$WORK/d.out" 2> "$WORK/d.err" \
  && grep -q "the checkpoint was written by 2 rank(s), this run has 1" "$WORK/d.out" \
  && pass "a 2-rank checkpoint resumed by 1 process: allowed and announced" || fail "other world size: $(cat "$WORK/d.err")"

# ---- Ctrl-C on mpirun: Open MPI stops forwarding the ranks' output at once and sends them SIGTERM
# after odls_base_sigkill_timeout; rank 0, blocked on its console meanwhile, must still checkpoint --
config e "$WORK/e" 1 true 5000  # far more iterations than the seconds before SIGTERM allow
"${MPIRUN[@]}" --mca odls_base_sigkill_timeout 4 -np 2 "$BIN" train --config "$WORK/e.yml" --launcher mpi \
  > "$WORK/e.out" 2> "$WORK/e.err" &
MPI_PID=$!
$CHECK wait-iter "$WORK/e/train_log.jsonl" 2
kill -INT $MPI_PID
wait $MPI_PID
rc=$?
ckpts=$(ls "$WORK/e/checkpoints" 2>/dev/null | grep -c '^ckpt_.*\.safetensors$')
[ "$ckpts" -eq 1 ] && [ $rc -ne 0 ] && grep -q "interrupted: finishing this step" "$WORK/e.err" \
  && pass "Ctrl-C on mpirun (sigkill timeout 4 s): the ranks checkpoint ($(ls "$WORK/e/checkpoints"), mpirun exit $rc)" \
  || fail "Ctrl-C on mpirun: exit $rc, checkpoints: $(ls "$WORK/e/checkpoints" 2>&1), stderr: $(cat "$WORK/e.err")"
msg=$($CHECK complete "$WORK/e") || fail "after Ctrl-C on mpirun: $msg"

# ---- one rank fails (a corrupt image only rank 1 reads): both end, at once, with its error ------
cp -r "$WORK/data" "$WORK/bad"
config f "$WORK/f" 1 false
sed -i "s#$WORK/data#$WORK/bad#" "$WORK/f.yml"
second=$(ls "$WORK/bad/low_blur_noise" | LC_ALL=C sort | sed -n 2p)  # position 1, rank 1's first sample
echo "not an image" > "$WORK/bad/low_blur_noise/$second"
start=$(date +%s)
timeout 120 "${MPIRUN[@]}" -np 2 "$BIN" train --config "$WORK/f.yml" --launcher mpi > "$WORK/f.out" 2> "$WORK/f.err"
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 60 ] \
  && grep -q "liednet train: error: rank 1 of 2: .*$second" "$WORK/f.err"; then
  pass "a corrupt image on rank 1 ends both ranks in ${took} s (exit $rc) with rank 1's error"
else
  fail "failing rank: exit $rc after ${took} s, stderr: $(head -3 "$WORK/f.err")"
fi
[ "$(grep -c "liednet train: error" "$WORK/f.err")" -eq 1 ] && pass "one error line" \
  || fail "error lines: $(grep "liednet train: error" "$WORK/f.err")"

# ---- an error every rank meets (a missing data folder): one line, from rank 0 ---------------------
config g "$WORK/g" 1
sed -i "s#$WORK/data/low_blur_noise#$WORK/nowhere#" "$WORK/g.yml"
"${MPIRUN[@]}" -np 2 "$BIN" train --config "$WORK/g.yml" --launcher mpi > "$WORK/g.out" 2> "$WORK/g.err"
rc=$?
[ $rc -ne 0 ] && [ "$(grep -c "liednet train: error" "$WORK/g.err")" -eq 1 ] \
  && grep -q "liednet train: error: rank 0 of 2: .*$WORK/nowhere" "$WORK/g.err" \
  && pass "an error on every rank: one line, from rank 0" || fail "common error (exit $rc): $(grep error "$WORK/g.err")"

# ---- skip_bad: each rank skips its own shard's bad pairs; rank 0 reports them all, each once ------
cp -r "$WORK/data" "$WORK/skip"
config k "$WORK/k" 1 false 8  # in name order: positions 2 (rank 0) and 3 (rank 1) bad; 2 epochs
sed -i "s#$WORK/data#$WORK/skip#; s#num_worker_per_gpu: 1#num_worker_per_gpu: 1\n    skip_bad: true#" "$WORK/k.yml"
bad0=$(ls "$WORK/skip/low_blur_noise" | LC_ALL=C sort | sed -n 3p)
bad1=$(ls "$WORK/skip/low_blur_noise" | LC_ALL=C sort | sed -n 4p)
echo "not an image" > "$WORK/skip/low_blur_noise/$bad0"
echo "not an image" > "$WORK/skip/low_blur_noise/$bad1"
"${MPIRUN[@]}" -np 2 "$BIN" train --config "$WORK/k.yml" --launcher mpi > "$WORK/k.out" 2> "$WORK/k.err" \
  || fail "skip_bad on 2 ranks: $(cat "$WORK/k.err")"
[ "$(grep -c "^warning: skip_bad: skipping" "$WORK/k.out")" -eq 2 ] \
  && grep -q "^warning: skip_bad: skipping .*$bad0.*(bad pairs so far: 1)$" "$WORK/k.out" \
  && grep -q "^warning: skip_bad: skipping .*$bad1.*(bad pairs so far: 2)$" "$WORK/k.out" \
  && pass "skip_bad on 2 ranks: rank 0's and rank 1's bad pairs each reported once, counted over the ranks" \
  || fail "skip_bad on 2 ranks: $(grep skip_bad "$WORK/k.out")"

# ---- a set-up error on one rank only (after MPI started, before training): both end, its line ----
config s "$WORK/s" 1
start=$(date +%s)
LIEDNET_FAULT_SETUP_RANK=1 timeout 120 "${MPIRUN[@]}" -x LIEDNET_FAULT_SETUP_RANK -np 2 "$BIN" train \
  --config "$WORK/s.yml" --launcher mpi > "$WORK/s.out" 2> "$WORK/s.err"
rc=$?
took=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 30 ] && [ "$(grep -c "liednet train: error" "$WORK/s.err")" -eq 1 ] \
  && grep -q "^liednet train: error: rank 1 of 2: set-up failure injected by LIEDNET_FAULT_SETUP_RANK=1" "$WORK/s.err" \
  && pass "a set-up error on rank 1 alone ends both ranks in ${took} s (exit $rc), one line naming rank 1" \
  || fail "set-up error on rank 1: exit $rc after ${took} s: $(head -3 "$WORK/s.err")"

# ---- LIEDNET_COMM_TIMEOUT that is not a number: one line naming it, both ranks end --------------
LIEDNET_COMM_TIMEOUT=soon timeout 120 "${MPIRUN[@]}" -x LIEDNET_COMM_TIMEOUT -np 2 "$BIN" train \
  --config "$WORK/s.yml" --launcher mpi > "$WORK/t.out" 2> "$WORK/t.err"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(grep -c "liednet train: error" "$WORK/t.err")" -eq 1 ] \
  && grep -q "^liednet train: error: rank 0 of 2: LIEDNET_COMM_TIMEOUT must be a number of seconds >= 0 (0: no limit), got 'soon'" "$WORK/t.err" \
  && pass "LIEDNET_COMM_TIMEOUT=soon: one line naming it (exit $rc)" || fail "bad LIEDNET_COMM_TIMEOUT: exit $rc: $(head -3 "$WORK/t.err")"

echo "$failures failure(s)"
[ $failures -eq 0 ]
