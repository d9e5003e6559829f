#!/usr/bin/env bash
# Set-up, build and the whole test suite. Usage: bash scripts/test.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
bash scripts/setup.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j "$(nproc)"
# One test at a time: each one already uses every core (OpenMP, torch), and two
# multithreaded processes on the same cores slow each other down many times over.
ctest --test-dir "$BUILD" --output-on-failure
