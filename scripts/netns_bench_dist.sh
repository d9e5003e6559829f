#!/usr/bin/env bash
# The gradient all-reduce (LIEDNet's 19 MB of f32 gradients, 2 ranks) through
# shared memory, through TCP on one host, and through TCP between two test
# hosts (network namespaces, scripts/netns_hosts.sh): at full speed, with a
# tc tbf rate limit on host 1's link (both directions), and with a tc netem
# delay where the kernel has sch_netem. Prints one line per case and a table.
#   usage: scripts/netns_bench_dist.sh [BUILD_DIR (build)] [REPS (10)] [RATES (1gbit,100mbit)] [DELAY (20ms)]
# Needs root (CAP_NET_ADMIN) for the namespaces; exits 77 without it.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(realpath "${1:-$HERE/../build}")
REPS=${2:-10}
RATES=${3:-1gbit,100mbit}
DELAY=${4:-20ms}
BENCH=$BUILD/bench_dist
[ -x "$BENCH" ] || { echo "netns_bench_dist.sh: no $BENCH (cmake --build $BUILD --target bench_dist)" >&2; exit 1; }
if [ -z "${LIEDNET_NETNS_HOSTS:-}" ]; then
  exec "$HERE/netns_hosts.sh" run "lnbd$$" 2 -- "$0" "$BUILD" "$REPS" "$RATES" "$DELAY"
fi
ROOT=(); [ "$(id -u)" = 0 ] && ROOT=(--allow-run-as-root)
read -r h0 h1 <<< "$LIEDNET_NETNS_HOSTS"
A0=${h0%%=*} NS0=${h0#*=} A1=${h1%%=*} NS1=${h1#*=}
SW=${NS0%-h0}-sw
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
printf '%s slots=1\n%s slots=1\n' "$A0" "$A1" > "$WORK/hosts"
HOSTS="ip netns exec $NS0 mpirun ${ROOT[*]} --hostfile $WORK/hosts -np 2 --map-by node \
--mca plm_rsh_agent $HERE/netns_rsh.sh --mca plm_rsh_no_tree_spawn 1 \
--mca btl tcp,self --mca btl_tcp_if_include $LIEDNET_NETNS_SUBNET --mca oob_tcp_if_include $LIEDNET_NETNS_SUBNET"

declare -a NAMES MEANS
measure() {  # NAME LAUNCH
  local out mean
  out=$("$BENCH" --reduce-only --reps "$REPS" --launch "$2") || { echo "$1: failed"; return; }
  mean=$(echo "$out" | sed -n 's/.*mean \([0-9.]*\) ms.*/\1/p')
  echo "$1: $out"
  NAMES+=("$1")
  MEANS+=("$mean")
}
measure "shared memory, one host" "mpirun ${ROOT[*]} -np 2 --mca btl vader,self"
measure "TCP, one host (loopback)" "mpirun ${ROOT[*]} -np 2 --mca btl tcp,self"
measure "TCP, 2 test hosts" "$HOSTS"
set_qdisc() {  # QDISC ARGS... on host 1's eth0 and its switch port
  ip netns exec "$NS1" tc qdisc replace dev eth0 root "$@" 2> "$WORK/tc.err" \
    && ip netns exec "$SW" tc qdisc replace dev p1 root "$@" 2>> "$WORK/tc.err"
}
for rate in ${RATES//,/ }; do
  if set_qdisc tbf rate "$rate" burst 256kb latency 400ms; then
    measure "TCP, 2 test hosts, host 1's link at $rate (tbf)" "$HOSTS"
  else
    echo "tbf rate limit unavailable: $(head -1 "$WORK/tc.err")"
  fi
done
if set_qdisc netem delay "$DELAY"; then
  measure "TCP, 2 test hosts, $DELAY delay each way on host 1's link (netem)" "$HOSTS"
else
  echo "netem delay unavailable: $(head -1 "$WORK/tc.err") (the kernel has no sch_netem)"
fi
echo
echo "| transport | all-reduce ms (mean of $REPS) | ratio to shared memory |"
echo "|---|---|---|"
for i in "${!NAMES[@]}"; do
  printf '| %s | %.1f | %.2f |\n' "${NAMES[$i]}" "${MEANS[$i]}" "$(awk -v a="${MEANS[$i]}" -v b="${MEANS[0]}" 'BEGIN { print a / b }')"
done
