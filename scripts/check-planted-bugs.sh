#!/usr/bin/env bash
# Proves that the emulated CUDA suite catches what a GPU would punish. In a scratch git worktree
# of HEAD it builds the emulated device under ASan+UBSan, checks that the covering tests pass, then
# plants one bug at a time in a hand-written kernel, rebuilds, and runs the same tests under the
# three fiber schedules CI uses. Each bug must make them fail:
#   missing-barrier  kernels/cuda/gemm.cu: the __syncthreads() between filling the shared-memory
#                    tiles and reading them is removed (a race on shared memory)
#   off-by-one       kernels/cuda/gemm.cu: the epilogue writes column N too (one element past each
#                    row; past the buffer on the last row)
#   divergent-barrier kernels/cuda/reduce.cu: the tree reduction's barrier moves inside `if (t < width)`
# Not part of scripts/test.sh (it rebuilds three times; ~15 min on 2 cores).
#
#   bash scripts/check-planted-bugs.sh            # exit 0 when every bug was caught
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
wt=${STRIDER_PLANTED_DIR:-/tmp/strider-planted-bugs}
jobs=${STRIDER_JOBS:-$(nproc)}
build=$wt/build

git worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
git worktree prune
git worktree add --detach "$wt" HEAD >/dev/null
trap 'cd "$root"; git worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT

cmake -S "$wt" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRIDER_CUDA_EMULATION=ON \
  -DSTRIDER_SANITIZE=ON -DSTRIDER_BUILD_BENCH=OFF -DSTRIDER_BUILD_MODELS=OFF >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# name | file | python replacement (old -> new, exactly once) | gtest filter
bugs=(
  "missing-barrier|kernels/cuda/gemm.cu|    __syncthreads();\n    for (int kk = 0; kk < kBK; ++kk) {|    for (int kk = 0; kk < kBK; ++kk) {|Devices/OpsTest.Matmul*/cuda*"
  "off-by-one|kernels/cuda/gemm.cu|      if (c >= N) continue;|      if (c > N) continue;|Devices/OpsTest.Matmul*/cuda*"
  "divergent-barrier|kernels/cuda/reduce.cu|    if (t < width) partial[t] = combine<T, Acc>(op, partial[t], partial[t + width]);\n    __syncthreads();|    if (t < width) {\n      partial[t] = combine<T, Acc>(op, partial[t], partial[t + width]);\n      __syncthreads();\n    }|Devices/OpsTest.Reduction*/cuda*"
)
schedules=(inorder reverse shuffle:12345)

run_tests() {  # filter log -> number of schedules that failed
  local filter=$1 log=$2 failed=0 s
  : >"$log"
  for s in "${schedules[@]}"; do
    if ! STRIDER_EMU_SCHEDULE=$s "$build/tests/core/core_tests" --gtest_filter="$filter" >>"$log" 2>&1; then
      failed=$((failed + 1)); echo "  schedule $s: FAILED" | tee -a "$log"
    else
      echo "  schedule $s: passed" | tee -a "$log"
    fi
  done
  return $failed
}

echo "=== building the emulated ASan build of HEAD in $wt ==="
cmake --build "$build" -j "$jobs" --target core_tests >/dev/null
status=0
rows=()
echo "=== baseline: the covering tests pass without planted bugs ==="
for spec in "${bugs[@]}"; do
  IFS='|' read -r name file old new filter <<<"$spec"
  if run_tests "$filter" "$build/baseline-$name.log"; then :; else
    echo "baseline FAILED for $filter (see $build/baseline-$name.log)"; status=1; fi
done
for spec in "${bugs[@]}"; do
  IFS='|' read -r name file old new filter <<<"$spec"
  echo "=== planting $name in $file ==="
  python3 - "$wt/$file" "$old" "$new" <<'EOF'
import sys
path, old, new = sys.argv[1], sys.argv[2].replace("\\n", "\n"), sys.argv[3].replace("\\n", "\n")
s = open(path).read()
assert s.count(old) == 1, f"{path}: the text to replace occurs {s.count(old)} times"
open(path, "w").write(s.replace(old, new))
EOF
  cmake --build "$build" -j "$jobs" --target core_tests >/dev/null
  log=$build/planted-$name.log
  if run_tests "$filter" "$log"; then
    rows+=("| $name | $file | NOT caught |"); status=1
  else
    n=$?
    why=$( { grep -m1 -E "AddressSanitizer|barrier|cudaError[A-Za-z]*" "$log" || grep -m1 -E "Failure|Expected" "$log"; } |
          cut -c1-160 | tr '|' '/')
    mkdir -p "$root/out/planted-bugs" && cp "$log" "$root/out/planted-bugs/"
    rows+=("| $name | $file | caught in $n of ${#schedules[@]} schedules: $why |")
  fi
  git -C "$wt" checkout -- "$file"
done
echo
echo "| bug | file | result |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $status
