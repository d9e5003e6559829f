#!/usr/bin/env bash
# The CUDA backend checked on a GPU machine in one command (docs/cuda.md, "On a
# GPU machine"):
#
#   LIEDNET_GPU_OUT=DIR bash scripts/gpu_check.sh
#
# Stages, in order, each with its own time limit; a failing stage never stops
# the next, and each records pass / fail / skipped and its time in
# DIR/summary.md (rewritten after every stage, so a run cut short still says
# how far it got):
#   env    what the machine has (GPU, driver, nvcc, compiler, CMake, torch)
#   build  the carried dependencies unpacked where missing (scripts/gpu_deps.sh),
#          then liednet_tests, liednet, bench_train and bench_forward with CUDA,
#          every core, ninja when present, in LIEDNET_GPU_WORK
#   tests  the CUDA test cases only: the op harness (every op on CUDA against the
#          CPU, and its self-tests), the CUDA test files (ops, scans, copies,
#          allocator), the whole network, 10 training steps against the CPU and
#          bit identity over two runs
#   torch  the PyTorch baseline on the same GPU (bench/torch_train_step.py,
#          batch 8 at 256x256, chunked scan) into DIR/torch_cuda.json
#   bench  ours: train step 8x3x256x256 in f32 and with TF32 (with the ratio
#          to the baseline when it ran), forward 1x3x1024x1024
#   train  `liednet train --device cuda` on the LOL-Blur recipe with synthetic
#          pairs from `liednet synth`, about 100 iterations (fewer if the bench
#          stage's step time says they would not fit): loss must fall; it/s
# Without a GPU the tests, torch, bench and train stages are "skipped: no GPU",
# the time limits are twenty times longer (they are sized for the GPU machine's
# lease and its 16 cores), and the exit status is 0 when the rest passed;
# otherwise it is 1 when any stage failed. ccache is used when present.
#
# Files in DIR: summary.md and at most six logs (env.log, build.log, tests.log,
# torch.log, bench.log, train.log), each kept under 15 MiB, plus torch_cuda.json:
# at most 8 files, for a machine that sends back only that many. Nothing else
# is written into the source tree (the build, the data and the runs live in
# LIEDNET_GPU_WORK), and the script checks that at the end.
#
# Environment:
#   LIEDNET_GPU_OUT       (required) the results folder
#   LIEDNET_GPU_DEPS      the .deb files of scripts/gpu_deps.sh (default: .gpu-deps in the tree)
#   LIEDNET_GPU_WORK      build and scratch folder (default /tmp/liednet-gpu; must be outside the tree)
#   LIEDNET_GPU_STAGES    the stages to run, comma separated (default: all, in the order above)
#   LIEDNET_GPU_BUDGET_S  the whole run's limit in seconds (default 480, 9600 without a GPU);
#                         each stage's limit is cut to what is left of it
#   LIEDNET_GPU_ITERS     training iterations of the train stage (default 100)
#   LIEDNET_GPU_LIMITS    per-stage limits, e.g. "build=600,tests=300" (defaults below)
#   LIEDNET_PYTHON        the python with torch (default: python3 on PATH, or /usr/bin/python3, whichever imports torch)
set -uo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
ROOT="$(cd "$(dirname "$SELF")/.." && pwd)"
STAGES_ALL=(env build tests torch bench train)
# Seconds per stage on the H200 machine (16 cores); docs/cuda.md gives the
# estimate they come from. The whole run is capped by LIEDNET_GPU_BUDGET_S.
declare -A LIMIT=([env]=30 [build]=180 [tests]=120 [torch]=75 [bench]=60 [train]=100)
declare -A GPU_STAGE=([tests]=1 [torch]=1 [bench]=1 [train]=1)

die() { echo "gpu_check: $*" >&2; exit 2; }

RESULTS=${LIEDNET_GPU_OUT:-}
[ -n "$RESULTS" ] || die "set LIEDNET_GPU_OUT to the folder for the results (summary.md and the logs)"
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
WORK=${LIEDNET_GPU_WORK:-/tmp/liednet-gpu}
DEPS=${LIEDNET_GPU_DEPS:-$ROOT/.gpu-deps}
BUILD="$WORK/build"
# The python with torch: LIEDNET_PYTHON, else the first of python3 on PATH and
# /usr/bin/python3 that imports torch.
pick_python() {
  local p
  for p in "$(command -v python3)" /usr/bin/python3; do
    [ -n "$p" ] && "$p" -c "import torch" 2> /dev/null && { echo "$p"; return; }
  done
  command -v python3 || echo python3
}
PY=${LIEDNET_PYTHON:-$(pick_python)}
ITERS=${LIEDNET_GPU_ITERS:-100}
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1  # no __pycache__ in the tree; logs as they come
export TMPDIR="$WORK/tmp"                            # the tests' temporary files too

case "$WORK/" in "$ROOT"/*) die "LIEDNET_GPU_WORK ($WORK) must be outside the source tree ($ROOT)" ;; esac

# Seconds left before this stage's deadline (STAGE_DEADLINE, epoch seconds), less a margin.
left() { echo $(($STAGE_DEADLINE - $(date +%s) - ${1:-0})); }
# A step's time limit: n seconds, or what is left of the stage if less (at least 1).
step_limit() {
  local n=$1 l
  l=$(left 3)
  [ "$l" -lt "$n" ] && n=$l
  [ "$n" -lt 1 ] && n=1
  echo "$n"
}
# run LIMIT CMD...: runs CMD with a time limit, output appended to the stage's
# log line by line (so a command stopped at its limit leaves what it printed).
LINEBUF=()
command -v stdbuf > /dev/null && LINEBUF=(stdbuf -oL -eL)
run() {
  local limit=$1
  shift
  echo "\$ $*" >> "$LOG"
  local t0=$(date +%s)
  timeout -k 10 "$(step_limit "$limit")" "${LINEBUF[@]}" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "[exit $rc after $(($(date +%s) - t0)) s]" >> "$LOG"
  return $rc
}
# A line for the summary's figures.
note() { echo "$*" >> "$WORK/notes/$STAGE"; }

# ---- the stages (each runs as `gpu_check.sh --stage NAME` under its own time limit) --------

stage_env() {
  {
    echo "== machine"
    date -u
    uname -a
    (. /etc/os-release && echo "$PRETTY_NAME")
    echo "cores: $(nproc)"
    free -g 2> /dev/null | head -2
    df -h "$WORK" 2> /dev/null | tail -1
    echo "== GPU"
    nvidia-smi 2>&1 || echo "(no nvidia-smi)"
    echo "== tools"
    for t in nvcc g++ cmake ninja ccache "$PY"; do
      printf '%s: ' "$t"
      command -v "$t" > /dev/null && "$t" --version 2>&1 | grep -m1 -iE "release|version|[0-9]+\.[0-9]+" || echo "not found"
    done
  } >> "$LOG" 2>&1
  local torch
  torch=$(timeout 60 "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'sees a GPU:', torch.cuda.is_available())" 2>&1 | tail -1)
  echo "== $PY: $torch" >> "$LOG"
  local gpu nvcc gxx
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | head -1)
  nvcc=$(nvcc --version 2> /dev/null | grep -o "release [0-9.]*" || true)
  gxx=$(g++ -dumpfullversion 2> /dev/null || true)
  note "GPU: ${gpu:-none}; nvcc ${nvcc:-none}; g++ ${gxx:-none}; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
  note "python: $PY, $torch"
}

stage_build() {
  local cmake_args=()
  if [ -d "$DEPS" ]; then
    local args deps_rc
    rm -rf "$WORK/deps"
    args=$(bash "$ROOT/scripts/gpu_deps.sh" --unpack "$DEPS" "$WORK/deps" 2> "$WORK/deps.txt")
    deps_rc=$?
    cat "$WORK/deps.txt" >> "$LOG"
    sed 's/^gpu_deps: /deps: /' "$WORK/deps.txt" | while read -r l; do note "$l"; done
    [ $deps_rc -eq 0 ] || return 1
    [ -n "$args" ] && cmake_args+=("$args")
  else
    echo "(no carried dependencies at $DEPS: the system's are used)" >> "$LOG"
    note "deps: none carried ($DEPS absent)"
  fi
  command -v ninja > /dev/null && cmake_args+=(-G Ninja)
  # ccache when present, unless the environment names launchers (CMake reads CMAKE_<LANG>_COMPILER_LAUNCHER).
  if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache > /dev/null; then
    cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  if ! command -v nvcc > /dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    cmake_args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
    note "nvcc: /usr/local/cuda/bin/nvcc (not on PATH)"
  fi
  # With a GPU the CUDA backend is required; without one it is built when nvcc is there.
  if [ "$HAVE_GPU" = 1 ]; then cmake_args+=(-DLIEDNET_CUDA=ON); else cmake_args+=(-DLIEDNET_CUDA=AUTO); fi
  run 120 cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "-DLIEDNET_PYTHON=$PY" "${cmake_args[@]}" || return 1
  local t0=$(date +%s)
  run 100000 cmake --build "$BUILD" -j "$(nproc)" --target liednet_tests liednet bench_train bench_forward || return 1
  note "built liednet_tests, liednet, bench_train, bench_forward in $(($(date +%s) - t0)) s with $(nproc) jobs"
  "$BUILD/liednet" version >> "$LOG" 2>&1
  note "$("$BUILD/liednet" version | grep 'cuda backend')"
}

stage_tests() {
  local T="$BUILD/liednet_tests" rc=0 total
  [ -x "$T" ] || { echo "no $T: the build stage did not finish" >> "$LOG"; return 1; }
  total=$(left)
  # Four processes, so that a crash or a hang in one part leaves the others
  # their share of the stage's time.
  # 1. The op harness: every op case, CUDA against the CPU (and its CPU checks).
  run $((total * 25 / 100)) "$T" -tc="op *" --duration=true || rc=1
  # 2. The harness's self-tests, its CUDA pass included.
  run $((total * 5 / 100 + 5)) "$T" -ts=harness --duration=true || rc=1
  # 3. Every GPU test file but the whole network's.
  run $((total * 30 / 100)) "$T" -sf="*/cuda_*" -sfe="*/train/*" --duration=true || rc=1
  # 4. The whole network: output and every gradient against the CPU, bit identity, 10 training steps.
  run "$(left)" "$T" -sf="*/train/cuda_*" --duration=true || rc=1
  local counts
  counts=$(grep -E "^\[doctest\] test cases:" "$LOG" | sed 's/\[doctest\] test cases: *//' | tr -s ' ' | paste -sd ';' -)
  note "doctest, per part (op harness; harness self-tests; CUDA files; whole network): ${counts:-no summary}"
  note "op harness CUDA pass: $(grep -c 'cuda vs cpu' "$LOG") cases compared, $(grep -c 'cuda: not supported' "$LOG") not supported, $(grep -c 'cuda threw' "$LOG") threw, $(grep -c '^\[op\].*FAILED' "$LOG") failed"
  grep -E "^\[cuda\]" "$LOG" | head -20 | while read -r l; do note "$l"; done
  note "slowest test cases (doctest --duration):"
  grep -E "^[0-9]+\.[0-9]+ s: " "$LOG" | sort -rn | head -5 | while read -r l; do note "  $l"; done
  return $rc
}

stage_torch() {
  # The baseline's own flags (bench/torch_train_step.py): --scan chunked is its
  # vectorised chunked scan, which runs on any torch device.
  run 100000 "$PY" "$ROOT/bench/torch_train_step.py" --device cuda --scan chunked --sizes 8x256x256 --optional "" \
    --json "$RESULTS/torch_cuda.json"
  local rc=$?
  if grep -q "invalid choice: 'chunked'" "$LOG"; then
    note "bench/torch_train_step.py has no --scan chunked here (it comes with the bench-baseline branch): no baseline"
  fi
  [ $rc -eq 0 ] || return 1
  [ -s "$RESULTS/torch_cuda.json" ] || { note "no $RESULTS/torch_cuda.json written"; return 1; }
  note "$("$PY" - "$RESULTS/torch_cuda.json" << 'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for c in j.get("configs", []):
    size = f"{c['batch']}x3x{c['height']}x{c['width']}"
    if "total_s" in c:
        peak = c.get("peak_gpu_mib")
        peak = f"peak GPU memory {peak:.0f} MiB" if peak is not None else "no GPU peak recorded"
        print(f"torch {j.get('torch', '?')}, {size}: {c['total_s'] * 1000:.0f} ms per step,"
              f" {c['batch'] / c['total_s']:.1f} img/s, {peak}")
    else:
        print(f"torch {size}: {c.get('skipped', 'no figure')}")
PY
)"
}

# The output of the last command run() logged, from its "$ ..." line on.
last_output() { awk '/^\$ /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$LOG"; }

stage_bench() {
  local B="$BUILD" rc=0 torch_args=() f32 tf32 fwd
  [ -s "$RESULTS/torch_cuda.json" ] && torch_args=(--torch-json "$RESULTS/torch_cuda.json")
  [ ${#torch_args[@]} -eq 0 ] && note "no PyTorch baseline in this run (the torch stage wrote none): no ratio"
  run 30 "$B/bench_train" --device cuda --sizes 8:256:256 "${torch_args[@]}" || rc=1
  f32=$(last_output)
  run 30 "$B/bench_train" --device cuda --sizes 8:256:256 --tf32 "${torch_args[@]}" || rc=1
  tf32=$(last_output)
  run 30 "$B/bench_forward" --device cuda 1024 1024 || rc=1
  fwd=$(last_output)
  grep -m1 -E "^LIEDNet train step on" <<< "$f32" | while read -r l; do note "$l"; done
  grep -m1 -E "^batch" <<< "$f32" | while read -r l; do note "$l"; done
  grep -E "^8x3x256x256|peak device memory" <<< "$f32" | while read -r l; do note "f32: $l"; done
  grep -E "^8x3x256x256|peak device memory" <<< "$tf32" | while read -r l; do note "TF32: $l"; done
  if [ ${#torch_args[@]} -gt 0 ]; then
    note "ratio, our step time / the PyTorch baseline's (below 1: ours is faster):" \
      "f32 $(grep -m1 -E "^8x3x256x256" <<< "$f32" | awk '{print $NF}'), TF32 $(grep -m1 -E "^8x3x256x256" <<< "$tf32" | awk '{print $NF}')"
  fi
  grep -E "forward \(|^1x3x1024x1024|peak device memory" <<< "$fwd" | while read -r l; do note "$l"; done
  return $rc
}

stage_train() {
  local L="$BUILD/liednet" data="$WORK/train_data" runs="$WORK/train_runs" recipe="$WORK/train_LOLBlur_synthetic.yml"
  [ -x "$L" ] || { echo "no $L: the build stage did not finish" >> "$LOG"; return 1; }
  rm -rf "$data" "$runs"
  run 40 "$L" synth --input "$ROOT/data/samples" --output "$data/train" --count 64 --size 320 --seed 1 || return 1
  run 20 "$L" synth --input "$ROOT/data/samples" --output "$data/test" --count 4 --size 256 --seed 2 || return 1
  # Random VGG19 weights (tests/oracle/vgg_ref.py): the recipe's perceptual loss at its real cost.
  local vgg="$WORK/vgg19_random.safetensors" percep=on
  run 40 "$PY" -c "import sys; sys.path.insert(0, '$ROOT/tests/oracle'); import vgg_ref
vgg_ref.save(vgg_ref.random_vgg19(0), sys.argv[1])" "$vgg" || percep=off
  # Iterations: ITERS, or fewer if the bench stage's step time says they would
  # not fit in what is left (with a third to spare for loading, validation and saving).
  local iters=$ITERS step_ms
  step_ms=$(grep -m1 -E "^8x3x256x256" "$WORK/logs/bench.log" 2> /dev/null | awk '{print $6}')
  if [[ "$step_ms" =~ ^[0-9]+$ ]] && [ "$step_ms" -gt 0 ]; then
    local fit=$(($(left 20) * 2000 / (3 * step_ms)))
    [ "$fit" -lt "$iters" ] && iters=$fit
  fi
  [ "$iters" -ge 20 ] || { echo "only $iters iterations would fit in the time left: not run" >> "$LOG"; return 1; }
  sed -e "s|/data/LOLBlur/train/|$data/train/|; s|/data/LOLBlur/test/|$data/test/|" \
    -e "s|periods: \[500000\]|periods: [$iters]|; s|total_iter: 500000|total_iter: $iters|" \
    -e "s|val_freq: !!float 2e4|val_freq: $iters|; s|print_freq: 100|print_freq: 10|" \
    -e "s|save_checkpoint_freq: !!float 2e4|save_checkpoint_freq: $iters|" \
    -e "s|vgg_weights: pretrained/vgg19.safetensors|vgg_weights: $vgg|" \
    -e "s|^name: LIEDNet_LOLBlur|name: LIEDNet_LOLBlur_synthetic_gpu|" \
    -e "s|^  resume_state: ~|  resume_state: ~\n  experiments_root: $runs|" \
    "$ROOT/configs/train_LOLBlur.yml" > "$recipe"
  [ "$percep" = on ] || sed -i "s|perceptual_weight: 0.01|perceptual_weight: 0|" "$recipe"
  cat "$recipe" >> "$LOG"
  run 100000 "$L" train --config "$recipe" --device cuda
  local train_rc=$?
  note "$iters iterations, batch 8, crop 256, perceptual loss $percep (random VGG19 weights)"
  local verdict
  verdict=$("$PY" - "$runs/train_log.jsonl" "$iters" 2>&1 << 'PY'
import json, statistics, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
except (OSError, ValueError) as e:
    print(f"no readable training log: {e}"); sys.exit(1)
rows = [r for r in rows if "l_total" in r]
if len(rows) < 4:
    print(f"only {len(rows)} logged iterations: cannot tell whether the loss falls"); sys.exit(1)
k = max(1, len(rows) // 4)
first = sum(r["l_total"] for r in rows[:k]) / k
last = sum(r["l_total"] for r in rows[-k:]) / k
its = statistics.median(r["it_per_s"] for r in rows[1:])  # the first row includes the warm-up
falls = last < first
print(f"loss over the first {k} logged iterations {first:.4f}, the last {k} {last:.4f}: "
      f"{'falls' if falls else 'DOES NOT FALL'}; {its:.2f} it/s (median after the first; iteration {rows[-1]['iter']} of {sys.argv[2]})")
sys.exit(0 if falls and rows[-1]["iter"] == int(sys.argv[2]) else 1)
PY
)
  local verdict_rc=$?
  echo "$verdict" >> "$LOG"
  note "$verdict"
  [ $train_rc -eq 0 ] && [ $verdict_rc -eq 0 ]
}

# ---- one stage, in its own process --------------------------------------------------------

if [ "${1:-}" = "--stage" ]; then
  STAGE=$2
  LOG="$WORK/logs/$STAGE.log"
  "stage_$STAGE"
  exit $?
fi

# ---- the driver -----------------------------------------------------------------------------

START=$(date +%s)
HAVE_GPU=0
nvidia-smi -L 2> /dev/null | grep -q "^GPU " && HAVE_GPU=1
SCALE=1
[ "$HAVE_GPU" = 0 ] && SCALE=20
BUDGET=${LIEDNET_GPU_BUDGET_S:-$((480 * SCALE))}
IFS=',' read -r -a SELECTED <<< "${LIEDNET_GPU_STAGES:-$(IFS=,; echo "${STAGES_ALL[*]}")}"
for s in "${SELECTED[@]}"; do
  [[ " ${STAGES_ALL[*]} " == *" $s "* ]] || die "unknown stage '$s' in LIEDNET_GPU_STAGES (stages: ${STAGES_ALL[*]})"
done
IFS=',' read -r -a LIMIT_OVERRIDES <<< "${LIEDNET_GPU_LIMITS:-}"
for kv in "${LIMIT_OVERRIDES[@]}"; do
  [[ "$kv" =~ ^([a-z]+)=([0-9]+)$ ]] && [ -n "${LIMIT[${BASH_REMATCH[1]}]:-}" ] \
    || die "LIEDNET_GPU_LIMITS: '$kv' is not STAGE=SECONDS (stages: ${STAGES_ALL[*]})"
  LIMIT[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done
[ -z "${LIEDNET_GPU_LIMITS:-}" ] && for s in "${STAGES_ALL[@]}"; do LIMIT[$s]=$((LIMIT[$s] * SCALE)); done

mkdir -p "$WORK/logs" "$WORK/notes" "$TMPDIR" || die "cannot create $WORK"
rm -f "$WORK"/logs/*.log "$WORK"/notes/* "$RESULTS"/summary.md "$RESULTS"/*.log "$RESULTS"/torch_cuda.json
touch "$WORK/start.marker"

export HAVE_GPU WORK RESULTS DEPS BUILD PY ITERS ROOT

declare -A RESULT SECONDS_TAKEN
BUILD_OK=0
TREE="the source tree is checked at the end"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo "unknown (no git)")

write_summary() {
  local tmp="$RESULTS/summary.md.tmp"
  {
    echo "# liednet GPU check"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), commit $COMMIT, $(($(date +%s) - START)) s of a $BUDGET s budget;"
    echo "$TREE."
    [ "$HAVE_GPU" = 1 ] || echo "No GPU here: the GPU stages are skipped and the time limits are twenty times the GPU machine's."
    echo
    echo "| stage | result | seconds | limit |"
    echo "|---|---|---|---|"
    for s in "${STAGES_ALL[@]}"; do
      echo "| $s | ${RESULT[$s]:-not reached} | ${SECONDS_TAKEN[$s]:--} | ${LIMIT[$s]} |"
    done
    echo
    echo "## Figures"
    for s in "${STAGES_ALL[@]}"; do
      [ -s "$WORK/notes/$s" ] || continue
      echo
      echo "$s:"
      sed 's/^/- /' "$WORK/notes/$s"
    done
    echo
    echo "## Files"
    echo
    (cd "$RESULTS" && ls -l --time-style=+ | awk 'NR > 1 {print "- " $NF " (" $5 " bytes)"}' | grep -v summary.md.tmp)
  } > "$tmp"
  mv "$tmp" "$RESULTS/summary.md"
}

# Copies a stage's log into the results, cut to its last 15 MiB.
keep_log() {
  local f="$WORK/logs/$1.log"
  [ -f "$f" ] || return 0
  if [ "$(stat -c %s "$f")" -gt $((15 * 1024 * 1024)) ]; then
    { echo "[cut to its last 15 MiB]"; tail -c $((15 * 1024 * 1024 - 100)) "$f"; } > "$RESULTS/$1.log"
  else
    cp "$f" "$RESULTS/$1.log"
  fi
}

for s in "${STAGES_ALL[@]}"; do
  if [[ " ${SELECTED[*]} " != *" $s "* ]]; then
    RESULT[$s]="skipped: not selected"
  elif [ -n "${GPU_STAGE[$s]:-}" ] && [ "$HAVE_GPU" = 0 ]; then
    RESULT[$s]="skipped: no GPU"
  elif [[ " tests bench train " == *" $s "* ]] && [ "$BUILD_OK" = 0 ] && [ ! -x "$BUILD/liednet_tests" ]; then
    RESULT[$s]="skipped: nothing built"
  else
    remaining=$((BUDGET - ($(date +%s) - START)))
    limit=${LIMIT[$s]}
    [ "$remaining" -lt "$limit" ] && limit=$remaining
    if [ "$limit" -lt 15 ]; then
      RESULT[$s]="skipped: out of time ($remaining s left of the budget)"
    else
      echo "== $s (limit $limit s)"
      t0=$(date +%s)
      STAGE_DEADLINE=$((t0 + limit)) timeout -k 10 "$limit" bash "$SELF" --stage "$s" < /dev/null
      rc=$?
      SECONDS_TAKEN[$s]=$(($(date +%s) - t0))
      case $rc in
        0) RESULT[$s]=pass ;;
        124 | 137) RESULT[$s]="fail: timed out after $limit s" ;;
        *) RESULT[$s]="fail (exit $rc)" ;;
      esac
      [ "$s" = build ] && [ $rc -eq 0 ] && BUILD_OK=1
      keep_log "$s"
      echo "   ${RESULT[$s]} in ${SECONDS_TAKEN[$s]} s"
    fi
  fi
  write_summary
done

# Nothing may have been written into the source tree.
changed=$(find "$ROOT" -newer "$WORK/start.marker" -not -path "$ROOT/.git/*" -not -path "$ROOT/.git" \
  -not -path "$RESULTS" -not -path "$RESULTS/*" -print 2> /dev/null | head -5 | tr '\n' ' ')
if [ -n "$changed" ]; then TREE="the run wrote into the source tree: $changed"; else TREE="the source tree is untouched"; fi
write_summary
cat "$RESULTS/summary.md"

status=0
for s in "${STAGES_ALL[@]}"; do
  [[ "${RESULT[$s]}" == fail* ]] && status=1
done
[ -n "$changed" ] && status=1
exit $status
