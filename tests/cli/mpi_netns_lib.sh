# Shared by tests/cli/mpi_multihost_test.sh and mpi_faults_test.sh (sourced):
# a tiny training config, and mpirun started on test host 0 with the other
# ranks on the other test hosts (network namespaces of scripts/netns_hosts.sh,
# reached through scripts/netns_rsh.sh, Open MPI talking TCP over their eth0).
# Sourced with the test's arguments (LIEDNET_BINARY MPIEXEC [MPIEXEC FLAGS...])
# once inside the test hosts; expects HERE and LIEDNET_NETNS_HOSTS to be set.
# Sets BIN, MPIRUN (array), CHECK, WORK (removed on exit), pass and fail.
BIN=$(realpath "$1")
shift
MPIRUN=("$@")
CHECK="${LIEDNET_PYTHON:-/usr/bin/python3} $HERE/train_check.py"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export LIEDNET_THREADS=1 OMP_NUM_THREADS=1
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
REPO=$(cd "$HERE/../.." && pwd)
ADDRS=()
NAMESPACES=()
for pair in $LIEDNET_NETNS_HOSTS; do
  ADDRS+=("${pair%%=*}")
  NAMESPACES+=("${pair#*=}")
done

# hostfile PATH K: the first K test hosts, one slot each.
hostfile() {
  : > "$1"
  local i
  for ((i = 0; i < $2; i++)); do echo "${ADDRS[$i]} slots=1" >> "$1"; done
}

# netns_mpirun K ARGS...: mpirun on host 0 (named as its namespace), K ranks, one per host.
netns_mpirun() {
  local k=$1 v pass_env=()
  shift
  # The environment a remote host's ranks get (over ssh they would get none of ours).
  for v in LIEDNET_THREADS OMP_NUM_THREADS LIEDNET_COMM_TIMEOUT LIEDNET_FAULT_SETUP_RANK; do
    [ -n "${!v:-}" ] && pass_env+=(-x "$v")
  done
  hostfile "$WORK/hosts.$k" "$k"
  # Bounded: a job that hangs fails its check with its stderr instead of eating the test's whole time.
  timeout -k 5 "${LIEDNET_TEST_JOB_TIMEOUT:-90}" ip netns exec "${NAMESPACES[0]}" unshare --uts sh -c 'hostname "$0" && exec "$@"' "${NAMESPACES[0]}" \
    "${MPIRUN[@]}" --hostfile "$WORK/hosts.$k" -np "$k" --map-by node \
    --mca plm_rsh_agent "$REPO/scripts/netns_rsh.sh" --mca plm_rsh_no_tree_spawn 1 \
    --mca btl tcp,self --mca btl_tcp_if_include "$LIEDNET_NETNS_SUBNET" --mca oob_tcp_if_include "$LIEDNET_NETNS_SUBNET" \
    --mca oob_tcp_keepalive_time 1 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3 \
    "${pass_env[@]}" "$@"
}

# config NAME ROOT BATCH [TOTAL [SAVE_FREQ [EXTRA_TRAIN_KEY [EXTRA_TOP_LEVEL_YAML]]]]: a dim-4 network on
# 16x16 crops, TOTAL iterations (12), a checkpoint every SAVE_FREQ (1000).
config() {
  cat > "$WORK/$1.yml" <<EOC
name: tiny
manual_seed: 3
datasets:
  train:
    dataroot_gt: ${DATA:-$WORK/data}/high_sharp_scaled
    dataroot_lq: ${DATA:-$WORK/data}/low_blur_noise
    crop_size: 16
    use_flip: true
    use_rot: true
    use_shuffle: true
    batch_size_per_gpu: $3
    num_worker_per_gpu: 1
    ${6:-}
network_g: {type: LIED, dim: 4, num_blocks: [1, 1, 1], num_refinement_blocks: 1}
path:
  experiments_root: $2
train:
  optim_g: {type: Adam, lr: !!float 1e-3}
  scheduler: {type: CosineAnnealingRestartLR, periods: [${4:-12}], eta_min: !!float 1e-6}
  total_iter: ${4:-12}
  pixel_opt: {type: L1Loss, loss_weight: 1.0}
logger:
  print_freq: 1
  save_checkpoint_freq: ${5:-1000}
${7:-}
EOC
  mkdir -p "$2"  # made here so that a remote host's read-only view of it exists
}
