#!/usr/bin/env bash
# Faults of a 2-host run (test hosts: network namespaces of scripts/netns_hosts.sh,
# as in mpi_multihost_test.sh): host 1 lost by killing every process in it, and by
# unplugging its link; host 2 of 3 killed (and the rest resumed on the 2 left); rank 1 hung (SIGSTOP); rank 0 busy validating alone for
# longer than the collective timeout. Checked: every rank stops within a bound,
# non-zero exit, a line naming the lost host (Open MPI's own detection of a lost
# daemon: at once for a kill, by its TCP keep-alive for a dead link) or the hung
# rank (liednet's LIEDNET_COMM_TIMEOUT on collectives); the last checkpoint on
# disk is whole; resuming it on both hosts gives an unbroken run's weights and log
# bit for bit; keep-alives hold a long validation. Exit 77 (skipped) where
# namespaces cannot be made.
# usage: mpi_faults_test.sh LIEDNET_BINARY MPIEXEC [MPIEXEC FLAGS...]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${LIEDNET_NETNS_HOSTS:-}" ]; then
  exec "$HERE/../../scripts/netns_hosts.sh" run "lnmf$$" 3 -- "$0" "$@"
fi
source "$HERE/mpi_netns_lib.sh" "$@"
SW=${NAMESPACES[0]%-h0}-sw
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }  # below A B: A < B (decimals)
# ended PID: true if the background job PID (netns_mpirun ... &) has ended; else stops it and is false
# (TERM to its timeout, which hands it to mpirun, then KILL).
ended() {
  kill -0 "$1" 2> /dev/null || return 0
  pkill -TERM -P "$1" 2> /dev/null
  timeout 10 tail --pid="$1" -f /dev/null || { pkill -KILL -P "$1" 2> /dev/null; kill -KILL "$1" 2> /dev/null; }
  return 1
}

"$BIN" synth --input "$HERE/../../data/samples" --output "$WORK/data" --count 8 --size 32 --seed 1 > /dev/null \
  || { echo "FAIL synth of the training data"; exit 1; }

# The unbroken run: 32 iterations on both hosts, a checkpoint every 4.
config u "$WORK/u" 1 32 4
netns_mpirun 2 "$BIN" train --config "$WORK/u.yml" --launcher mpi > "$WORK/u.out" 2> "$WORK/u.err" \
  || fail "the unbroken 2-host run: $(tail -3 "$WORK/u.err")"

# lose KIND NAME: start the same run, take host 1 away after iteration 6, then
# check the end, the message, the checkpoint and the resume.
lose() {
  local kind=$1 run=$2
  config "$run" "$WORK/$run" 1 32 4
  netns_mpirun 2 "$BIN" train --config "$WORK/$run.yml" --launcher mpi > "$WORK/$run.out" 2> "$WORK/$run.err" &
  local mpi=$! t0 rc took ckpt last
  $CHECK wait-iter "$WORK/$run/train_log.jsonl" 6 || fail "$kind: the run never reached iteration 6"
  t0=$(now)
  if [ "$kind" = kill ]; then
    kill -KILL $(ip netns pids "${NAMESPACES[1]}")
  else
    ip -n "$SW" link set p1 down
  fi
  timeout 60 tail --pid=$mpi -f /dev/null
  took=$(since "$t0")
  ended $mpi || fail "host 1 lost ($kind): the job had not ended after $took s: $(tail -5 "$WORK/$run.err")"
  wait $mpi
  rc=$?
  [ $rc -ne 0 ] && below "$took" 20 && pass "host 1 lost ($kind): the job ends in $took s, exit $rc" \
    || fail "host 1 lost ($kind): exit $rc after $took s"
  grep -q "on node ${ADDRS[1]}\$\|rank 1 (host ${NAMESPACES[1]})" "$WORK/$run.err" \
    && pass "host 1 lost ($kind): named: $(grep "on node ${ADDRS[1]}\$\|rank 1 (host ${NAMESPACES[1]})" "$WORK/$run.err" | head -1 | sed 's/^ *//')" \
    || fail "host 1 lost ($kind): no line names it: $(head -c 1500 "$WORK/$run.err")"
  if [ "$kind" = link ]; then  # plug it back in; its processes, cut off, are still there
    kill -KILL $(ip netns pids "${NAMESPACES[1]}") 2> /dev/null
    ip -n "$SW" link set p1 up
  fi
  ckpt=$(ls "$WORK/$run/checkpoints" | grep '^ckpt_.*\.safetensors$' | tail -1)
  last=$(tail -1 "$WORK/$run/train_log.jsonl" | sed 's/.*"iter":\([0-9]*\).*/\1/')
  msg=$($CHECK complete "$WORK/$run") && [ -n "$ckpt" ] && [ "$ckpt" != ckpt_00000032.safetensors ] \
    && pass "host 1 lost ($kind): the last checkpoint $ckpt is whole (last logged iteration $last)" \
    || fail "host 1 lost ($kind): checkpoint '$ckpt': $msg"
  [ -n "$ckpt" ] || return
  netns_mpirun 2 "$BIN" train --config "$WORK/$run.yml" --launcher mpi --resume "$WORK/$run/checkpoints/$ckpt" \
    > "$WORK/$run.2.out" 2> "$WORK/$run.2.err" || fail "host 1 lost ($kind): resume: $(tail -3 "$WORK/$run.2.err")"
  cmp -s "$WORK/u/models/net_g_latest.safetensors" "$WORK/$run/models/net_g_latest.safetensors" \
    && cmp -s "$WORK/u/checkpoints/ckpt_00000032.safetensors" "$WORK/$run/checkpoints/ckpt_00000032.safetensors" \
    && pass "host 1 lost ($kind): resumed from $ckpt on both hosts == the unbroken run (bit-identical weights, Adam state)" \
    || fail "host 1 lost ($kind): the resumed run differs from the unbroken one"
  msg=$($CHECK same-log "$WORK/u/train_log.jsonl" "$WORK/$run/train_log.jsonl") \
    && pass "host 1 lost ($kind): the resumed run's log == the unbroken run's" || fail "host 1 lost ($kind): logs: $msg"
}
lose kill k
lose link l

# ---- 3 hosts, host 2 lost: both others stop; the checkpoint resumes on the 2 remaining hosts -------
config t "$WORK/t" 1 400 4
netns_mpirun 3 "$BIN" train --config "$WORK/t.yml" --launcher mpi > "$WORK/t.out" 2> "$WORK/t.err" &
mpi=$!
$CHECK wait-iter "$WORK/t/train_log.jsonl" 5 || fail "3 hosts: the run never reached iteration 5"
t0=$(now)
kill -KILL $(ip netns pids "${NAMESPACES[2]}")
timeout 60 tail --pid=$mpi -f /dev/null
took=$(since "$t0")
ended $mpi || fail "3 hosts: the job had not ended after $took s: $(tail -5 "$WORK/t.err")"
wait $mpi
rc=$?
left=$(for ns in "${NAMESPACES[0]}" "${NAMESPACES[1]}"; do ip netns pids "$ns"; done | wc -l)
[ $rc -ne 0 ] && below "$took" 20 && [ "$left" -eq 0 ] && grep -q "on node ${ADDRS[2]}\$" "$WORK/t.err" \
  && pass "3 hosts, host 2 killed: ranks 0 and 1 stop, the job ends in $took s (exit $rc), the message names ${ADDRS[2]}" \
  || fail "3 hosts, host 2 killed: exit $rc after $took s, $left processes left on hosts 0-1: $(head -c 800 "$WORK/t.err")"
ckpt=$(ls "$WORK/t/checkpoints" | grep '^ckpt_.*\.safetensors$' | tail -1)
sed -i 's/total_iter: 400/total_iter: 24/; s/periods: \[400\]/periods: [24]/' "$WORK/t.yml"
netns_mpirun 2 "$BIN" train --config "$WORK/t.yml" --launcher mpi --resume-anyway --resume "$WORK/t/checkpoints/$ckpt" \
  > "$WORK/t2.out" 2> "$WORK/t2.err" && grep -q "the checkpoint was written by 3 rank(s), this run has 2" "$WORK/t2.out" \
  && grep -q "^final checkpoint" "$WORK/t2.out" \
  && pass "3 hosts, host 2 killed: $ckpt resumed on the 2 remaining hosts, to the end, announced" \
  || fail "resume on the remaining hosts: $(tail -3 "$WORK/t2.err")"

# ---- rank 1 hangs (stopped): liednet's collective timeout names it ---------------------------------
config h "$WORK/h" 1 100000
LIEDNET_COMM_TIMEOUT=3 netns_mpirun 2 "$BIN" train --config "$WORK/h.yml" --launcher mpi > "$WORK/h.out" 2> "$WORK/h.err" &
mpi=$!
$CHECK wait-iter "$WORK/h/train_log.jsonl" 3 || fail "hung rank: the run never reached iteration 3"
t0=$(now)
rank1=$(for p in $(ip netns pids "${NAMESPACES[1]}"); do [ "$(cat /proc/$p/comm 2>/dev/null)" = liednet ] && echo $p; done)
kill -STOP $rank1
timeout 60 tail --pid=$mpi -f /dev/null
took=$(since "$t0")
ended $mpi || fail "hung rank: the job had not ended after $took s: $(tail -5 "$WORK/h.err")"
wait $mpi
rc=$?
line="liednet train: error: rank 0 of 2: rank 1 (host ${NAMESPACES[1]}) sent nothing for 3 s in the all-reduce"
[ $rc -ne 0 ] && below "$took" 15 && grep -q "^$line" "$WORK/h.err" \
  && [ "$(grep -c "liednet train: error" "$WORK/h.err")" -eq 1 ] \
  && pass "rank 1 stopped (SIGSTOP), LIEDNET_COMM_TIMEOUT=3: the job ends in $took s, exit $rc, one line: $(grep "^liednet train: error" "$WORK/h.err")" \
  || fail "hung rank: exit $rc after $took s: $(head -c 1500 "$WORK/h.err")"

# ---- rank 0 validates alone for longer than the timeout: its keep-alives hold rank 1 --------------
"$BIN" synth --input "$HERE/../../data/samples" --output "$WORK/val" --count 6 --size 320 --seed 2 > /dev/null
config v "$WORK/v" 1 4 1000 "" "val:
  val_freq: 2
datasets_val_placeholder: null"
# The validation set goes under datasets (the helper writes the train part only).
python3 - "$WORK/v.yml" "$WORK/val" <<'PYEOF'
import sys
p, val = sys.argv[1], sys.argv[2]
s = open(p).read().replace("datasets_val_placeholder: null\n", "")
s = s.replace("network_g:", f"  val:\n    dataroot_gt: {val}/high_sharp_scaled\n    dataroot_lq: {val}/low_blur_noise\nnetwork_g:", 1)
open(p, "w").write(s)
PYEOF
LIEDNET_COMM_TIMEOUT=2 netns_mpirun 2 "$BIN" train --config "$WORK/v.yml" --launcher mpi > "$WORK/v.out" 2> "$WORK/v.err"
rc=$?
# The validation's time: iteration 3's timestamp less iteration 2's (one step is milliseconds here).
vtime=$(grep -o '"iter":[23],.*"seconds":[0-9.e+-]*' "$WORK/v/train_log.jsonl" 2>/dev/null | sed 's/.*"seconds"://' \
  | paste -sd' ' | awk '{printf "%.1f", $2 - $1}')
[ $rc -eq 0 ] && [ "$(grep -c "^validation at iter" "$WORK/v.out")" -eq 2 ] && below 2 "${vtime:-0}" \
  && pass "rank 0 validates alone for $vtime s with LIEDNET_COMM_TIMEOUT=2: its keep-alives hold rank 1, the run completes" \
  || fail "keep-alive: exit $rc, validation ${vtime:-?} s (must exceed the 2 s timeout): $(head -c 1000 "$WORK/v.err")"

echo "$failures failure(s)"
[ $failures -eq 0 ]
