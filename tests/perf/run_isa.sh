#!/usr/bin/env bash
# Runs a command with LIEDNET_ISA=ISA, or reports skipped (exit 77) when this
# CPU cannot run that ISA's kernels (liednet version refuses it).
#   usage: run_isa.sh ISA LIEDNET COMMAND [ARGS...]
set -u
isa=$1 bin=$2
shift 2
if ! LIEDNET_ISA=$isa "$bin" version >/dev/null 2>&1; then
  echo "skipped: this CPU cannot run the $isa kernels"
  exit 77
fi
LIEDNET_ISA=$isa exec "$@"
