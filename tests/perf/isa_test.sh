#!/usr/bin/env bash
# One portable binary (ops/isa.h): the kernels exist for each ISA, nothing
# outside them uses AVX registers (so an x86-64-v2 CPU never meets an
# instruction it lacks), and LIEDNET_ISA picks or refuses an ISA in one line.
#   usage: isa_test.sh LIEDNET NATIVE   (NATIVE: ON for a -march=native build, where
#   everything may use AVX; exit 77 where not x86-64, or without objdump/nm)
set -u
bin=$1 native=${2:-OFF}
fail=0
[ "$(uname -m)" = x86_64 ] && command -v objdump >/dev/null && command -v nm >/dev/null || {
  echo "skipped: not x86-64, or no objdump/nm"; exit 77; }
check() { # description, then a command that must succeed
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}

# 1. Each ISA's kernels are in the binary.
syms=$(nm "$bin")  # mangled: run_avx2I... (demangling very long names can fail)
for isa in generic avx2 avx512; do
  n=$(grep -c "run_${isa}I" <<<"$syms")
  check "kernels compiled for $isa ($n functions)" test "$n" -ge 5
done

# 2. ymm/zmm registers appear only inside run_avx2/run_avx512 instances.
if [ "$native" = ON ]; then
  echo "skip the AVX check: a -march=native build (LIEDNET_NATIVE=ON)"
else
offenders=$(objdump -d --no-show-raw-insn "$bin" | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  /%[yz]mm[0-9]/ { if (fn !~ /run_avx(2|512)I/ && !(fn in seen)) { seen[fn] = 1; print fn } }' | head -5)
check "no AVX instruction outside the dispatched kernels${offenders:+ (found in: $offenders)}" test -z "$offenders"
fi

# 3. LIEDNET_ISA.
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { for f in "$@"; do grep -qw "$f" <<<"$flags" || return 1; done; }
best=generic
has avx2 fma f16c bmi1 bmi2 && best=avx2
has avx2 fma f16c bmi1 bmi2 avx512f avx512vl avx512bw avx512dq && best=avx512
out=$("$bin" version 2>&1)
check "liednet version prints 'cpu kernels: $best' by default" grep -qx "cpu kernels: $best" <<<"$out"
for isa in generic avx2 avx512; do
  out=$(LIEDNET_ISA=$isa "$bin" version 2>&1); rc=$?
  ok=1
  case $isa in generic) ;; avx2) [ $best = generic ] && ok=0 ;; avx512) [ $best = avx512 ] || ok=0 ;; esac
  if [ $ok = 1 ]; then
    check "LIEDNET_ISA=$isa runs the $isa kernels" test $rc = 0 -a "$(grep '^cpu kernels:' <<<"$out")" = "cpu kernels: $isa"
  else
    check "LIEDNET_ISA=$isa is refused on this CPU in one line" \
      test $rc != 0 -a "$(wc -l <<<"$out")" = 1 -a -n "$(grep "LIEDNET_ISA=$isa: this CPU cannot run" <<<"$out")"
  fi
done
out=$(LIEDNET_ISA=sse9 "$bin" version 2>&1); rc=$?
check "an unknown LIEDNET_ISA is an error in one line" \
  test $rc != 0 -a "$(wc -l <<<"$out")" = 1 -a -n "$(grep 'LIEDNET_ISA=sse9: unknown instruction set' <<<"$out")"
exit $fail
