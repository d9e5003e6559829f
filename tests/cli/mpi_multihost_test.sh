#!/usr/bin/env bash
# `liednet train --launcher mpi` with its ranks on separate test hosts: network
# namespaces made by scripts/netns_hosts.sh (removed at the end, also on
# failure or interrupt), mpirun --hostfile on host 0 starting the other rank
# through scripts/netns_rsh.sh, Open MPI's byte transport restricted to TCP
# over the hosts' eth0. The checks of the one-machine test (mpi_test.sh):
# 2 ranks x batch 1 against 1 process x batch 2, two 2-rank runs bit for bit,
# one train log, rank 0 alone prints and writes (host 1 sees the run's folder
# read-only); and the same run over a slow link to host 1 (netem delay, or a tbf rate limit where
# the kernel lacks netem), bit-identical. Exit 77 (skipped) where namespaces cannot be made.
# usage: mpi_multihost_test.sh LIEDNET_BINARY MPIEXEC [MPIEXEC FLAGS...]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${LIEDNET_NETNS_HOSTS:-}" ]; then
  exec "$HERE/../../scripts/netns_hosts.sh" run "lnmh$$" 2 -- "$0" "$@"
fi
source "$HERE/mpi_netns_lib.sh" "$@"

"$BIN" synth --input "$HERE/../../data/samples" --output "$WORK/data" --count 8 --size 32 --seed 1 > /dev/null \
  || { echo "FAIL synth of the training data"; exit 1; }

hosts=$(netns_mpirun 2 hostname 2>&1 | sort | tr '\n' ' ')
[ "$hosts" = "${NAMESPACES[0]} ${NAMESPACES[1]} " ] && pass "mpirun --hostfile: one rank on each test host ($hosts)" \
  || fail "the hostfile launch: $hosts"

config one "$WORK/one" 2
config a "$WORK/a" 1
config b "$WORK/b" 1
"$BIN" train --config "$WORK/one.yml" > "$WORK/one.out" 2> "$WORK/one.err" || fail "1 process: $(cat "$WORK/one.err")"
for run in a b; do
  LIEDNET_NETNS_READONLY="$WORK/$run" netns_mpirun 2 "$BIN" train --config "$WORK/$run.yml" --launcher mpi \
    > "$WORK/$run.out" 2> "$WORK/$run.err" && pass "2 ranks on 2 hosts over TCP, run $run (host 1 has the run's folder read-only)" \
    || fail "2 ranks on 2 hosts, run $run: $(tail -5 "$WORK/$run.err")"
done
[ "$(grep -c "^training " "$WORK/a.out")" -eq 1 ] && grep -q "batch 1 x 2 ranks (mpi)" "$WORK/a.out" \
  && [ "$(grep -c "^final checkpoint" "$WORK/a.out")" -eq 1 ] && [ "$(grep -c "iter 12/12" "$WORK/a.out")" -eq 1 ] \
  && pass "rank 0 alone prints" || fail "output of the 2 ranks: $(head -3 "$WORK/a.out")"
[ "$(ls "$WORK/a")" = "$(printf 'checkpoints\ncurves.svg\nmodels\ntrain_log.jsonl\nval_log.jsonl')" ] \
  && [ "$(wc -l < "$WORK/a/train_log.jsonl")" -eq 12 ] && pass "one train log, 12 lines" \
  || fail "the run's files: $(ls "$WORK/a") / $(wc -l < "$WORK/a/train_log.jsonl") log lines"
msg=$($CHECK close-log "$WORK/one/train_log.jsonl" "$WORK/a/train_log.jsonl" 1e-5) \
  && pass "2 hosts x batch 1 vs 1 process x batch 2: every logged loss within 1e-5 ($msg)" || fail "losses: $msg"
msg=$($CHECK close-weights "$WORK/one/models/net_g_latest.safetensors" "$WORK/a/models/net_g_latest.safetensors" 1e-4) \
  && pass "2 hosts x batch 1 vs 1 process x batch 2: weights within 1e-4 ($msg)" || fail "weights: $msg"
cmp -s "$WORK/a/models/net_g_latest.safetensors" "$WORK/b/models/net_g_latest.safetensors" \
  && cmp -s "$WORK/a/checkpoints/ckpt_00000012.safetensors" "$WORK/b/checkpoints/ckpt_00000012.safetensors" \
  && pass "two 2-host runs: bit-identical weights and checkpoints" || fail "two 2-host runs differ"

# ---- a slow link to host 1: tc netem delay (20 ms each way) where the kernel has it, else a tc tbf
# rate limit (8 Mbit/s each way); training completes and stays bit-identical --------------------
SW=${NAMESPACES[0]%-h0}-sw
if ip netns exec "${NAMESPACES[1]}" tc qdisc add dev eth0 root netem delay 20ms 2> "$WORK/netem.err"; then
  ip netns exec "$SW" tc qdisc add dev p1 root netem delay 20ms
  slow="netem delay 20 ms each way"
else
  echo "skip netem delay: $(head -1 "$WORK/netem.err") (this kernel has no sch_netem); a tbf rate limit instead"
  ip netns exec "${NAMESPACES[1]}" tc qdisc add dev eth0 root tbf rate 8mbit burst 16kb latency 200ms \
    && ip netns exec "$SW" tc qdisc add dev p1 root tbf rate 8mbit burst 16kb latency 200ms \
    && slow="tbf rate 8 Mbit/s each way"
fi
if [ -n "${slow:-}" ]; then
  config c "$WORK/c" 1
  start=$(date +%s.%N)
  netns_mpirun 2 "$BIN" train --config "$WORK/c.yml" --launcher mpi > "$WORK/c.out" 2> "$WORK/c.err" \
    || fail "slow link ($slow): $(tail -3 "$WORK/c.err")"
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  cmp -s "$WORK/a/models/net_g_latest.safetensors" "$WORK/c/models/net_g_latest.safetensors" \
    && cmp -s "$WORK/a/checkpoints/ckpt_00000012.safetensors" "$WORK/c/checkpoints/ckpt_00000012.safetensors" \
    && pass "slow link to host 1 ($slow): the run completes in $took s, bit-identical to the full-speed run" \
    || fail "slow link ($slow): the run differs from the full-speed one"
else
  echo "skip slow link: neither netem nor tbf can be set on the test hosts' links"
fi

echo "$failures failure(s)"
[ $failures -eq 0 ]
