#!/usr/bin/env bash
# Installs what is missing, builds strider and runs the whole test suite, in the builds CI runs:
#   1. native:  the real-CUDA build when nvcc is found (CUDA tests skip without a GPU, saying why),
#               else the CPU-only build; plus the install + find_package consumer test
#   2. emulated: the CUDA kernels built by the host compiler against kernels/emu, under
#               AddressSanitizer + UndefinedBehaviorSanitizer, run once per fiber schedule
#   3. cpu-only: configured as on a machine without nvcc or OpenBLAS (only when 1. had nvcc):
#               -DSTRIDER_CUDA=OFF -DSTRIDER_BLAS=OFF, so the portable GEMM runs every CPU test
# Usage: bash scripts/test.sh [--quick]   (--quick: build 1 only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${STRIDER_JOBS:-$(nproc)}

bash scripts/install-deps.sh

summary=()
total_pass=0
total_fail=0
run_ctest() {  # name build_dir [extra ctest args...]
  local name=$1 dir=$2; shift 2
  local log="$dir/ctest-$name.log" rc=0
  echo "=== [$name] ctest ($dir) ==="
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure "$@" 2>&1 | tee "$log" || rc=$?
  local line pass fail
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [ -n "$line" ]; then
    fail=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    pass=$(( $(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line") - fail ))
  else
    pass=0; fail=1
  fi
  total_pass=$((total_pass + pass)); total_fail=$((total_fail + fail))
  summary+=("$name: $pass passed, $fail failed")
  [ "$rc" -eq 0 ] || [ "$fail" -gt 0 ] || { total_fail=$((total_fail + 1)); summary+=("$name: ctest exited $rc"); }
}

configure_build() {  # dir [cmake args...]
  local dir=$1; shift
  echo "=== configure + build $dir: $* ==="
  cmake -S "$root" -B "$dir" -G Ninja -DSTRIDER_WERROR=ON "$@"
  cmake --build "$dir" -j "$jobs"
}

have_nvcc=0
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then have_nvcc=1; fi

# 1. native build
configure_build build/native -DCMAKE_BUILD_TYPE=Release
run_ctest native build/native

if [ "${1:-}" != "--quick" ]; then
  # 2. emulated CUDA under ASan + UBSan, every test, then the device tests under two more schedules
  configure_build build/emu-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRIDER_CUDA_EMULATION=ON \
    -DSTRIDER_SANITIZE=ON -DSTRIDER_BUILD_BENCH=OFF
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  STRIDER_EMU_SCHEDULE=inorder run_ctest emu-asan build/emu-asan
  STRIDER_EMU_SCHEDULE=reverse run_ctest emu-asan-reverse build/emu-asan -R 'cuda|Cuda|CUDA|Emu'
  STRIDER_EMU_SCHEDULE=shuffle:12345 run_ctest emu-asan-shuffle build/emu-asan -R 'cuda|Cuda|CUDA|Emu'

  # 3. as on a machine without nvcc and without OpenBLAS
  if [ "$have_nvcc" -eq 1 ]; then
    configure_build build/cpu-only -DCMAKE_BUILD_TYPE=Release -DSTRIDER_CUDA=OFF -DSTRIDER_BLAS=OFF \
      -DSTRIDER_BUILD_BENCH=OFF
    run_ctest cpu-only build/cpu-only
  fi
fi

echo
echo "=== summary ==="
printf '%s\n' "${summary[@]}"
echo "tests: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
