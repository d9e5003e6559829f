#!/usr/bin/env bash
# The C++ build dependencies, carried to a machine that has a compiler but
# cannot install packages (the GPU machine: nvcc, CMake, ninja and g++, no
# Eigen, doctest, nlohmann-json, yaml-cpp, stb, libpng or zlib headers, no
# network). docs/cuda.md
# says how it is used.
#
#   scripts/gpu_deps.sh DIR
#       Here (Debian, apt): downloads the .deb files of those libraries into DIR
#       (an ignored folder, e.g. .gpu-deps/) with `apt-get download`, and
#       writes DIR/MANIFEST (package, version, bytes, sha256). At most 40 MiB.
#   scripts/gpu_deps.sh --unpack DIR PREFIX
#       There: asks CMake which of the libraries the system already has, and
#       unpacks the carried .deb files of the missing ones only into PREFIX
#       (a folder under /tmp; never into /) with dpkg-deb -x (or ar and tar
#       where dpkg is absent). Says on stderr what it found and what it did;
#       prints on stdout the CMake arguments to add (none when nothing was
#       missing). Fails, naming them, when a missing library is not in DIR.
#
# OpenMP comes with g++ (libgomp); CMake, the compiler and the CUDA toolkit
# must be there already.
set -euo pipefail

# What liednet's CMakeLists.txt finds, and the Debian packages that provide it
# (the -dev package and the runtime library it links to).
DEPS=(eigen3 nlohmann_json doctest yaml-cpp stb zlib png)
declare -A DEBS=(
  [eigen3]="libeigen3-dev"
  [nlohmann_json]="nlohmann-json3-dev"
  [doctest]="doctest-dev"
  [yaml-cpp]="libyaml-cpp-dev libyaml-cpp0.7"
  [stb]="libstb-dev libstb0"
  [zlib]="zlib1g-dev"
  [png]="libpng-dev libpng16-16"
)
MAX_BYTES=$((40 * 1024 * 1024))

say() { echo "gpu_deps: $*" >&2; }
die() { say "$*"; exit 1; }

download() {
  local dir=$1
  command -v apt-get > /dev/null || die "apt-get not found: download the .deb files on a Debian machine"
  mkdir -p "$dir"
  local packages=()
  for d in "${DEPS[@]}"; do
    # shellcheck disable=SC2206
    packages+=(${DEBS[$d]})
  done
  rm -f "$dir"/*.deb "$dir/MANIFEST"
  local log
  log=$(mktemp /tmp/liednet_apt.XXXXXX)
  (cd "$dir" && apt-get download "${packages[@]}" > "$log" 2>&1) || {
    cat "$log" >&2
    rm -f "$log"
    die "apt-get download ${packages[*]} failed (try apt-get update first)"
  }
  rm -f "$log"
  local total=0 manifest="$dir/MANIFEST.tmp.$$"
  {
    echo "# .deb files for scripts/gpu_deps.sh --unpack, from $(. /etc/os-release && echo "$PRETTY_NAME") $(dpkg --print-architecture)"
    for p in "${packages[@]}"; do
      local f
      f=$(ls "$dir"/"${p}"_*.deb 2> /dev/null | head -1)
      [ -n "$f" ] || die "apt-get download left no .deb for $p in $dir"
      local bytes
      bytes=$(stat -c %s "$f")
      total=$((total + bytes))
      echo "$p $(dpkg-deb -f "$f" Version) $bytes $(sha256sum "$f" | cut -d' ' -f1) $(basename "$f")"
    done
  } > "$manifest"
  mv "$manifest" "$dir/MANIFEST"
  [ "$total" -le "$MAX_BYTES" ] || die "the .deb files in $dir take $total bytes, more than $MAX_BYTES"
  say "${#packages[@]} packages, $total bytes, in $dir (list: $dir/MANIFEST)"
}

# Prints the names (from DEPS) that CMake cannot find on this system.
missing_on_system() {
  local probe
  probe=$(mktemp -d /tmp/liednet_deps_probe.XXXXXX)
  cat > "$probe/CMakeLists.txt" << 'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(liednet_deps_probe LANGUAGES CXX)
# The same searches as liednet's CMakeLists.txt.
find_package(Eigen3 3.3 QUIET NO_MODULE)
find_package(nlohmann_json 3 QUIET)
find_package(doctest QUIET)
find_package(yaml-cpp QUIET)
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
find_library(STB_LIBRARY stb)
find_package(ZLIB QUIET)
find_package(PNG QUIET)
set(missing "")
if(NOT Eigen3_FOUND)
  list(APPEND missing eigen3)
endif()
if(NOT nlohmann_json_FOUND)
  list(APPEND missing nlohmann_json)
endif()
if(NOT doctest_FOUND)
  list(APPEND missing doctest)
endif()
if(NOT yaml-cpp_FOUND)
  list(APPEND missing yaml-cpp)
endif()
if(NOT STB_INCLUDE_DIR OR NOT STB_LIBRARY)
  list(APPEND missing stb)
endif()
if(NOT ZLIB_FOUND)
  list(APPEND missing zlib)
endif()
if(NOT PNG_FOUND)
  list(APPEND missing png)
endif()
string(REPLACE ";" " " missing "${missing}")
file(WRITE "${CMAKE_BINARY_DIR}/missing.txt" "${missing}")
CMAKE
  cmake -S "$probe" -B "$probe/build" > "$probe/log" 2>&1 || {
    cat "$probe/log" >&2
    rm -rf "$probe"
    die "the CMake probe itself failed (is a C++ compiler there?)"
  }
  cat "$probe/build/missing.txt"
  rm -rf "$probe"
}

# Unpacks one .deb into prefix; prints how.
extract() {
  local deb=$1 prefix=$2
  if dpkg-deb --version > /dev/null 2>&1; then
    dpkg-deb -x "$deb" "$prefix"
    echo "dpkg-deb -x"
  else  # a .deb is an ar archive holding data.tar.{xz,zst,gz}
    local work member
    work=$(mktemp -d /tmp/liednet_deb.XXXXXX)
    (cd "$work" && ar x "$deb")
    member=$(ls "$work"/data.tar.* | head -1)
    tar -xf "$member" -C "$prefix"
    rm -rf "$work"
    echo "ar x and tar -x (no dpkg-deb here)"
  fi
}

unpack() {
  local dir=$1 prefix=$2
  case "$prefix" in
    /tmp/?*) ;;
    *) die "PREFIX must be a folder under /tmp (got '$prefix'): the .deb files are never unpacked into /" ;;
  esac
  local missing
  missing=$(missing_on_system)
  if [ -z "$missing" ]; then
    say "the system has every library (${DEPS[*]}): nothing unpacked"
    return 0
  fi
  local present=()
  for d in "${DEPS[@]}"; do
    [[ " $missing " == *" $d "* ]] || present+=("$d")
  done
  say "from the system: ${present[*]:-none}; missing there: $missing"
  mkdir -p "$prefix"
  local absent=()
  for d in $missing; do
    for p in ${DEBS[$d]}; do
      local f
      f=$(ls "$dir"/"${p}"_*.deb 2> /dev/null | head -1 || true)
      if [ -z "$f" ]; then
        absent+=("$p")
        continue
      fi
      local how
      how=$(extract "$f" "$prefix")
      say "unpacked $(basename "$f") into $prefix ($how)"
    done
  done
  [ ${#absent[@]} -eq 0 ] || die "missing here and not carried in $dir: ${absent[*]} (run scripts/gpu_deps.sh $dir on a Debian machine)"
  echo "-DCMAKE_PREFIX_PATH=$prefix/usr"
}

case "${1:-}" in
  --unpack)
    [ $# -eq 3 ] || die "usage: scripts/gpu_deps.sh --unpack DIR PREFIX"
    [ -d "$2" ] || die "no folder $2 (the carried .deb files)"
    unpack "$(cd "$2" && pwd)" "$3"
    ;;
  -h | --help | "")
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    [ -n "${1:-}" ]
    ;;
  *)
    [ $# -eq 1 ] || die "usage: scripts/gpu_deps.sh DIR"
    download "$1"
    ;;
esac
