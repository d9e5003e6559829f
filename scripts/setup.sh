#!/usr/bin/env bash
# Installs liednet's dependencies on a fresh Debian machine (apt-get). Safe to
# re-run: packages already present are not touched.
#   build:  cmake, g++ (OpenMP), Eigen, stb, libpng, nlohmann-json, yaml-cpp, doctest, Open MPI (data-parallel training)
#   tests:  python3-torch and python3-numpy, used only as a test oracle; chromium,
#           which opens liednet explain's page in the browser test
#   python: the module `import liednet` (docs/python.md): pybind11-dev, python3-dev, libdlpack-dev; its tests
#           and notebook: python3-pytest, jupyter-nbconvert, python3-ipykernel, python3-matplotlib
set -euo pipefail

PACKAGES=(
  cmake g++ make pkg-config
  libeigen3-dev libstb-dev libpng-dev doctest-dev nlohmann-json3-dev libyaml-cpp-dev
  openmpi-bin libopenmpi-dev
  python3 python3-numpy python3-torch chromium
  pybind11-dev python3-dev libdlpack-dev python3-pytest jupyter-nbconvert python3-ipykernel python3-matplotlib
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all dependencies are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
