#!/usr/bin/env bash
# Test "machines" on one Linux box: N network namespaces, each with one
# Ethernet interface (eth0, 10.77.0.<i+1>/24) plugged into a bridge that lives
# in a switch namespace of its own. Nothing is added to the namespace this
# script is started from: traffic stays inside these namespaces and their
# loopbacks, and parallel runs (each with its own NAME) do not see each other.
#
#   netns_hosts.sh up NAME N     make NAME-sw and hosts NAME-h0 .. NAME-h<N-1>
#   netns_hosts.sh down NAME     kill what runs in them and remove them (idempotent)
#   netns_hosts.sh run NAME N -- COMMAND...
#                                up, COMMAND, down, also when COMMAND fails or
#                                the script is interrupted; exits with COMMAND's code.
#                                Name runs ln<letters><PID> (the tests use their PID):
#                                `run` first removes such namespaces of PIDs gone
#                                (a run killed outright cannot clean up after itself)
#
# COMMAND (and `up`, on stdout) gets, for the hosts:
#   LIEDNET_NETNS_HOSTS="10.77.0.1=NAME-h0 10.77.0.2=NAME-h1 ..." (address=namespace)
#   LIEDNET_NETNS_SUBNET=10.77.0.0/24
# Host i's link: `ip -n NAME-sw link set p<i> down` unplugs it; `ip netns pids NAME-h<i>`
# lists its processes. Needs CAP_NET_ADMIN (root); without it, or without `ip`,
# `up` and `run` exit 77 with the reason (what ctest counts as skipped).
set -uo pipefail

SUBNET_PREFIX=10.77.0
die() { echo "netns_hosts.sh: $*" >&2; exit 1; }
skip() { echo "skipped: $*" >&2; exit 77; }

down() {
  local name=$1 ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${name}-(h[0-9]+|sw)\$"); do
    # Processes still in a namespace keep it (and its addresses) alive.
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  return 0
}

# Namespaces left by a run that was killed outright (SIGKILL, e.g. a test
# timeout): those named ln<letters><PID>-... whose PID no longer runs.
remove_stale() {
  local ns stem pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^ln[a-z]*[0-9]+-(h[0-9]+|sw)$'); do
    stem=${ns%-*}
    pid=${stem##*[a-z]}
    kill -0 "$pid" 2> /dev/null || down "$stem"
  done
}

up() {
  local name=$1 n=$2 i
  [[ $name =~ ^[A-Za-z0-9_]+$ ]] && [ ${#name} -le 40 ] || die "NAME must be letters, digits or _ (at most 40), got '$name'"
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 16 ] || die "N must be 1 to 16, got '$n'"
  command -v ip > /dev/null || skip "no 'ip' command (Debian package iproute2)"
  ip netns add "$name-sw" 2> "/tmp/netns_hosts.$$.err" || {
    local why
    why=$(head -1 "/tmp/netns_hosts.$$.err")
    rm -f "/tmp/netns_hosts.$$.err"
    skip "cannot make a network namespace (needs CAP_NET_ADMIN, e.g. root): ip netns add: $why"
  }
  rm -f "/tmp/netns_hosts.$$.err"
  # A kernel without bridges or veth pairs is a machine these tests cannot run on: skipped, not failed.
  ip -n "$name-sw" link add br0 type bridge 2> "/tmp/netns_hosts.$$.err" || {
    local why
    why=$(head -1 "/tmp/netns_hosts.$$.err")
    rm -f "/tmp/netns_hosts.$$.err"
    down "$name"
    skip "cannot make a bridge in a network namespace: $why"
  }
  rm -f "/tmp/netns_hosts.$$.err"
  ip -n "$name-sw" link set br0 up
  ip -n "$name-sw" link set lo up
  for ((i = 0; i < n; i++)); do
    local ns=$name-h$i
    ip netns add "$ns" || { down "$name"; die "ip netns add $ns failed"; }
    ip -n "$name-sw" link add "p$i" type veth peer name eth0 netns "$ns" || { down "$name"; skip "cannot make a veth pair"; }
    ip -n "$name-sw" link set "p$i" master br0
    ip -n "$name-sw" link set "p$i" up
    ip -n "$ns" addr add "$SUBNET_PREFIX.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
  hosts_env "$name" "$n"
}

hosts_env() {
  local name=$1 n=$2 i hosts=""
  for ((i = 0; i < n; i++)); do hosts+="${hosts:+ }$SUBNET_PREFIX.$((i + 1))=$name-h$i"; done
  echo "LIEDNET_NETNS_HOSTS=\"$hosts\""
  echo "LIEDNET_NETNS_SUBNET=$SUBNET_PREFIX.0/24"
}

case "${1:-}" in
  up)
    [ $# -eq 3 ] || die "usage: netns_hosts.sh up NAME N"
    up "$2" "$3"
    ;;
  down)
    [ $# -eq 2 ] || die "usage: netns_hosts.sh down NAME"
    down "$2"
    ;;
  run)
    [ $# -ge 5 ] && [ "$4" = "--" ] || die "usage: netns_hosts.sh run NAME N -- COMMAND..."
    name=$2 n=$3
    shift 4
    child=""
    trap 'down "$name"' EXIT
    # In the background and waited for: bash runs a trap only once the foreground command has ended.
    trap '[ -n "$child" ] && kill -INT $child 2>/dev/null; down "$name"; exit 130' INT
    trap '[ -n "$child" ] && kill -TERM $child 2>/dev/null; down "$name"; exit 143' TERM
    remove_stale
    vars=$(up "$name" "$n") || exit $?
    eval "export $(echo "$vars" | tr '\n' ' ')"
    "$@" &
    child=$!
    wait $child
    exit $?
    ;;
  *)
    die "usage: netns_hosts.sh up NAME N | down NAME | run NAME N -- COMMAND..."
    ;;
esac
