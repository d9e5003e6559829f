#!/usr/bin/env bash
# The main job. For now: set-up, build, and `liednet info` (training arrives
# with the training issue; this script grows with it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target liednet
./build/liednet info
