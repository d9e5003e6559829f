#!/usr/bin/env bash
# Open MPI's remote launch agent for the test hosts of scripts/netns_hosts.sh,
# in place of ssh: `netns_rsh.sh HOST COMMAND...` runs COMMAND (a shell command
# line, as ssh would hand it to the remote shell) inside HOST's namespace, with
# its own host name (HOST's namespace name), so that Open MPI and liednet see a
# separate machine. Use it as
#   mpirun --mca plm_rsh_agent scripts/netns_rsh.sh --mca plm_rsh_no_tree_spawn 1 --hostfile H ...
# HOST is an address from LIEDNET_NETNS_HOSTS ("ADDRESS=NAMESPACE ...").
# LIEDNET_NETNS_READONLY (optional, a folder that exists): on these remote hosts
# the folder is read-only, so a test can show that they write nothing there.
set -uo pipefail
host=$1
shift
ns=""
for pair in ${LIEDNET_NETNS_HOSTS:-}; do
  [ "${pair%%=*}" = "$host" ] && ns=${pair#*=}
done
[ -n "$ns" ] || { echo "netns_rsh.sh: unknown host '$host' (LIEDNET_NETNS_HOSTS: '${LIEDNET_NETNS_HOSTS:-}')" >&2; exit 255; }
setup="hostname $ns"
if [ -n "${LIEDNET_NETNS_READONLY:-}" ]; then
  ro=$(printf %q "$LIEDNET_NETNS_READONLY")
  setup+=" && mount --bind $ro $ro && mount -o remount,bind,ro $ro"
fi
# A new UTS namespace for the host name, a private mount namespace for the read-only view.
exec ip netns exec "$ns" unshare --uts --mount --propagation private sh -c "$setup && exec sh -c \"\$0\"" "$*"
