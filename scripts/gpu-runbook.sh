#!/usr/bin/env bash
# The GPU runbook: one command, on a machine with an NVIDIA GPU, that
#   1. configures strider for that GPU (nvidia-smi compute_cap, else 90) and builds Release,
#   2. runs the whole test suite (ctest) — the CUDA tests now run on the GPU instead of skipping,
#   3. runs compute-sanitizer (memcheck, racecheck, synccheck) over the kernel test executables,
#      with gtest filters small enough to finish in time,
#   4. runs the GPU benchmarks (conv_bench, train_step_bench) and the PyTorch side-by-side,
#   5. writes ONE Markdown report: $OUT/gpu-report.md when $OUT is set, else out/gpu-report.md,
# all within --budget seconds (default 570: under the device tool's 10 minutes). Every step runs
# under `timeout` with what is left of the budget; the report says which step timed out or was
# skipped and why. Logs, JSON and tables go to out/gpu-runbook/ (and a tarball into $OUT).
#
#   bash scripts/gpu-runbook.sh                     # on the GPU machine
#   bash scripts/gpu-runbook.sh --dry-run           # anywhere: detection, deps, configure, report
#   bash scripts/gpu-runbook.sh --fetch-deps        # on a Debian machine with apt (see below)
#
# Options: --report FILE, --budget SECONDS, --build-dir DIR (default build-gpu), --jobs N,
#          --skip build,test,sanitize,bench,pytorch (comma list), --dry-run [--dry-run-build].
#
# The GPU machine installs nothing (no apt-get there) and fetches nothing. strider's CMake needs
# OpenBLAS (always), GoogleTest (tests) and Google Benchmark (benchmarks); Boost is only for the
# emulated build, not used here. What is missing is reported; without GoogleTest the build runs
# with -DSTRIDER_BUILD_TESTS=OFF (no ctest, no sanitizer step), without Google Benchmark with
# -DSTRIDER_BUILD_BENCH=OFF (PyTorch's numbers alone), without OpenBLAS with -DSTRIDER_BLAS=OFF
# (strider's portable GEMM for float64 on the CPU; the GPU kernels do not use it).
# To bring them: run `bash scripts/gpu-runbook.sh --fetch-deps` on this project's Debian machine;
# it downloads the Debian bookworm .debs (OpenBLAS + libgfortran, GoogleTest/GoogleMock, Google
# Benchmark; ~13 MB) into build-gpu-deps/ (ignored by git, matched by /build*/); carry that folder
# to the GPU machine (the device tool's `carry: ["build-gpu-deps"]`). The runbook unpacks them
# with dpkg-deb into out/gpu-runbook/deps (never into /) and points CMake and the loader there.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

report="" budget=570 build_dir=build-gpu jobs=$(nproc) skip="" dry_run=0 dry_run_build=0
deps_src=${STRIDER_GPU_DEPS:-$root/build-gpu-deps}
deb_packages=(libopenblas0-pthread libopenblas-pthread-dev libopenblas-dev libgfortran5 libquadmath0
              libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian)
while [ $# -gt 0 ]; do
  case "$1" in
    --report) report=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --skip) skip=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --dry-run-build) dry_run=1; dry_run_build=1; shift ;;
    --fetch-deps)
      mkdir -p "$deps_src" && cd "$deps_src" && apt-get download "${deb_packages[@]}" || {
        echo "gpu-runbook: apt-get download failed (run 'apt-get update' first?)" >&2; exit 1; }
      du -sh "$deps_src"; echo "carry this folder to the GPU machine: build-gpu-deps"; exit 0 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "gpu-runbook: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$report" ] || { if [ -n "${OUT:-}" ]; then report=$OUT/gpu-report.md; else report=$root/out/gpu-report.md; fi; }
work=$root/out/gpu-runbook
logs=$work/logs
rm -rf "$work"; mkdir -p "$logs" "$(dirname "$report")"
start=$SECONDS
deadline=$((start + budget))
skipped() { [[ ",$skip," == *",$1,"* ]]; }

# ---- step bookkeeping ----------------------------------------------------------------------------
steps=()  # "name|status|seconds|note"
record() { steps+=("$1|$2|$3|$4"); printf '[gpu-runbook %4ds] %-10s %s %s\n' $((SECONDS - start)) "$1" "$2" "$4"; }
# Seconds a step may take: its cap, or what is left after keeping `later` x 30 s for the steps
# after it and 20 s for the report.
budget_for() {  # cap later
  local left=$((deadline - SECONDS - 20 - 30 * $2))
  [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}
run_step() {  # name seconds command...   (log: $logs/name.log)
  local name=$1 t=$2; shift 2
  if [ "$t" -lt 10 ]; then record "$name" "skipped" 0 "not enough of the ${budget}s budget left (${t}s)"; return 99; fi
  local t0=$SECONDS rc=0
  timeout --kill-after=10 "$t" "$@" >"$logs/$name.log" 2>&1 || rc=$?
  local dt=$((SECONDS - t0))
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then record "$name" "TIMED OUT" "$dt" "killed at its ${t}s budget (log $name.log)"
  elif [ "$rc" -eq 0 ]; then record "$name" "ok" "$dt" ""
  else record "$name" "failed (exit $rc)" "$dt" "see $name.log"; fi
  return "$rc"
}

# ---- 0. the GPU -----------------------------------------------------------------------------------
gpu_info="" arch=90 gpu_ok=0
if command -v nvidia-smi >/dev/null 2>&1 &&
   gpu_info=$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>&1) &&
   [ -n "$gpu_info" ] && ! grep -qi "fail\|error\|no devices" <<<"$gpu_info"; then
  gpu_ok=1
  cap=$(head -1 <<<"$gpu_info" | cut -d, -f2 | tr -d ' .')
  [[ "$cap" =~ ^[0-9]+$ ]] && arch=$cap
fi
if [ "$gpu_ok" -eq 0 ]; then
  why=$(command -v nvidia-smi >/dev/null 2>&1 && echo "nvidia-smi reports: ${gpu_info:-nothing}" || echo "nvidia-smi is not installed")
  if [ "$dry_run" -eq 0 ]; then
    echo "gpu-runbook: no NVIDIA GPU on this machine ($why)." >&2
    echo "gpu-runbook: this runbook is for a GPU machine; --dry-run checks the rest of it here." >&2
    exit 3
  fi
  gpu_info="(dry run: no GPU; $why)"
fi
record gpu "$([ $gpu_ok -eq 1 ] && echo ok || echo 'none (dry run)')" 0 "$(head -1 <<<"$gpu_info"); building for sm_$arch"

# ---- 1. tools and dependencies ----------------------------------------------------------------------
nvcc_bin=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)
sanitizer_bin=$(command -v compute-sanitizer || { [ -x /usr/local/cuda/bin/compute-sanitizer ] && echo /usr/local/cuda/bin/compute-sanitizer; } || true)
python_bin=""
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import torch' >/dev/null 2>&1; then python_bin=$(command -v "$py"); break; fi
done
generator="Unix Makefiles"; command -v ninja >/dev/null 2>&1 && generator=Ninja

deps_notes=() cmake_args=() prefix=$work/deps
if compgen -G "$deps_src/*.deb" >/dev/null; then
  mkdir -p "$prefix"
  for deb in "$deps_src"/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" "$prefix"
    else (t=$(mktemp -d) && cd "$t" && ar x "$deb" && tar -xf data.tar.* -C "$prefix"; rm -rf "$t"); fi
  done
  deps_notes+=("unpacked $(ls "$deps_src"/*.deb | wc -l) carried .debs from $deps_src into $prefix")
fi
multi=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
first_of() { local p; for p in "$@"; do [ -e "$p" ] && { echo "$p"; return 0; }; done; return 1; }
# STRIDER_RUNBOOK_IGNORE_SYSTEM_DEPS=1 (testing the fallbacks on a full machine): system copies of
# OpenBLAS, GoogleTest and Google Benchmark count as absent.
ignore_sys=${STRIDER_RUNBOOK_IGNORE_SYSTEM_DEPS:-0}
sys_first_of() { [ "$ignore_sys" = 1 ] && return 1; first_of "$@"; }
sys_cblas=$(sys_first_of /usr/include/cblas.h /usr/include/openblas/cblas.h /usr/include/$multi/openblas-pthread/cblas.h \
                     /usr/local/include/cblas.h /opt/OpenBLAS/include/cblas.h || true)
sys_openblas=$(sys_first_of /usr/lib/$multi/libopenblas.so /usr/lib/$multi/openblas-pthread/libopenblas.so \
                        /usr/lib64/libopenblas.so /usr/local/lib/libopenblas.so /opt/OpenBLAS/lib/libopenblas.so || true)
pre_cblas=$(first_of "$prefix/usr/include/$multi/openblas-pthread/cblas.h" || true)
pre_openblas=$(first_of "$prefix/usr/lib/$multi/openblas-pthread/libopenblas.so" || true)
can_configure=1  # OpenMP present (BLAS is optional: -DSTRIDER_BLAS=OFF)
if [ -n "$sys_cblas" ] && [ -n "$sys_openblas" ]; then
  deps_notes+=("OpenBLAS: system ($sys_openblas)")
elif [ -n "$pre_cblas" ] && [ -n "$pre_openblas" ]; then
  cmake_args+=("-DSTRIDER_CBLAS_INCLUDE=$(dirname "$pre_cblas")" "-DSTRIDER_OPENBLAS_LIBRARY=$pre_openblas")
  deps_notes+=("OpenBLAS: carried ($pre_openblas)")
else
  cmake_args+=(-DSTRIDER_BLAS=OFF)
  deps_notes+=("OpenBLAS: MISSING (cblas.h ${sys_cblas:-not found}, libopenblas ${sys_openblas:-not found}): built with -DSTRIDER_BLAS=OFF (float64 CPU GEMM portable and slower, float32 strider's SGEMM as always; GPU results unaffected). Carry build-gpu-deps (--fetch-deps) for OpenBLAS.")
fi
find_config() {  # PackageConfig.cmake name, e.g. GTestConfig.cmake
  sys_first_of /usr/lib/$multi/cmake/*/"$1" /usr/lib/cmake/*/"$1" /usr/lib64/cmake/*/"$1" /usr/local/lib/cmake/*/"$1" \
               /usr/local/lib64/cmake/*/"$1" /usr/share/*/cmake/"$1" || first_of "$prefix"/usr/lib/$multi/cmake/*/"$1"
}
have_gtest=1 have_bench=1
if gt=$(find_config GTestConfig.cmake) || { [ -f /usr/include/gtest/gtest.h ] && sys_first_of /usr/lib/$multi/libgtest.a /usr/lib/$multi/libgtest.so /usr/lib/libgtest.a >/dev/null; }; then
  deps_notes+=("GoogleTest: ${gt:-system headers + libgtest}")
else
  have_gtest=0; cmake_args+=(-DSTRIDER_BUILD_TESTS=OFF)
  deps_notes+=("GoogleTest: MISSING: built with -DSTRIDER_BUILD_TESTS=OFF, so no ctest and no compute-sanitizer step")
fi
if bm=$(find_config benchmarkConfig.cmake); then
  deps_notes+=("Google Benchmark: $bm")
else
  have_bench=0; cmake_args+=(-DSTRIDER_BUILD_BENCH=OFF)
  deps_notes+=("Google Benchmark: MISSING: built with -DSTRIDER_BUILD_BENCH=OFF, so no strider benchmarks (PyTorch's alone)")
fi
if [ -d "$prefix/usr" ]; then
  cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix/usr")
  export LD_LIBRARY_PATH="$prefix/usr/lib/$multi/openblas-pthread:$prefix/usr/lib/$multi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# cuDNN: strider's CMake looks in the CUDA toolkit and /usr; a PyTorch install often carries it
# as the nvidia-cudnn wheel (headers + libcudnn.so.9) instead, without the libcudnn.so link.
if first_of /usr/include/cudnn.h /usr/local/cuda/include/cudnn.h /usr/include/$multi/cudnn.h >/dev/null; then
  deps_notes+=("cuDNN: system headers")
elif [ -n "$python_bin" ] && cudnn_dir=$("$python_bin" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null) &&
     [ -f "$cudnn_dir/include/cudnn.h" ] && cudnn_lib=$(first_of "$cudnn_dir"/lib/libcudnn.so "$cudnn_dir"/lib/libcudnn.so.9); then
  cmake_args+=("-DSTRIDER_CUDNN_INCLUDE=$cudnn_dir/include" "-DSTRIDER_CUDNN_LIBRARY=$cudnn_lib")
  export LD_LIBRARY_PATH="$cudnn_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  deps_notes+=("cuDNN: PyTorch's nvidia-cudnn wheel ($cudnn_lib)")
else
  deps_notes+=("cuDNN: not found: no cudnn backend, no cudnn-* benchmarks, no x_cudnn ratios")
fi
echo 'int main(){return 0;}' >"$work/omp.c"
if ! gcc -fopenmp "$work/omp.c" -o "$work/omp" >/dev/null 2>&1; then
  can_configure=0; deps_notes+=("OpenMP: MISSING (gcc -fopenmp failed): strider cannot configure")
fi
[ -n "$nvcc_bin" ] || deps_notes+=("nvcc: MISSING: no real CUDA build possible")
[ -n "$sanitizer_bin" ] || deps_notes+=("compute-sanitizer: MISSING")
[ -n "$python_bin" ] || deps_notes+=("PyTorch: MISSING (no python3 imports torch): no side-by-side")
deps_notes+=("Boost.Context: not needed (emulated builds only)")
record deps ok 0 "configure=$can_configure gtest=$have_gtest benchmark=$have_bench nvcc=${nvcc_bin:+yes} sanitizer=${sanitizer_bin:+yes} torch=${python_bin:+yes}"

# ---- 2. configure + build ------------------------------------------------------------------------------
built=0
if [ "$can_configure" -eq 1 ] && [ -n "$nvcc_bin" ] && ! skipped build; then
  run_step configure "$(budget_for 90 4)" cmake -S "$root" -B "$build_dir" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
    -DSTRIDER_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc_bin" -DCMAKE_CUDA_ARCHITECTURES="$arch" "${cmake_args[@]}"
  if [ $? -eq 0 ]; then
    if [ "$dry_run" -eq 1 ] && [ "$dry_run_build" -eq 0 ]; then
      record build "skipped" 0 "dry run (--dry-run-build builds)"
    elif run_step build "$(budget_for 330 4)" cmake --build "$build_dir" -j "$jobs"; then
      built=1
    fi
  fi
else
  record build "skipped" 0 "$(skipped build && echo '--skip build' || echo 'missing OpenMP or nvcc (see dependencies)')"
fi
[ "$gpu_ok" -eq 1 ] || built=0  # nothing below runs without a GPU

# ---- 3. tests ----------------------------------------------------------------------------------------------
if [ "$built" -eq 1 ] && [ "$have_gtest" -eq 1 ] && ! skipped test; then
  run_step ctest "$(budget_for 150 3)" ctest --test-dir "$build_dir" -j 8 --timeout 120 --output-on-failure
else
  record ctest skipped 0 "$([ "$gpu_ok" -eq 0 ] && echo 'no GPU' || { [ "$have_gtest" -eq 0 ] && echo 'no GoogleTest'; } || echo 'no build or --skip test')"
fi

# ---- 4. compute-sanitizer ----------------------------------------------------------------------------------
# tool | executable | gtest filter. Kept small: sanitized kernels run 10-100x slower. Edit here.
sanitizer_runs=(
  "memcheck|kernels_tests|Problems/ConvCuda.RandomMatchesReference/*:Problems/ConvCudaAdjoint.*"
  "memcheck|nn_kernels_tests|*/cuda"
  "racecheck|kernels_tests|Problems/ConvCuda.RandomMatchesReference/*"
  "synccheck|kernels_tests|Problems/ConvCuda.RandomMatchesReference/*"
)
sanitizer_rows=()
if [ "$built" -eq 1 ] && [ "$have_gtest" -eq 1 ] && [ -n "$sanitizer_bin" ] && ! skipped sanitize; then
  total=$(budget_for 120 2); per=$((total / ${#sanitizer_runs[@]}))
  i=0
  for spec in "${sanitizer_runs[@]}"; do
    IFS='|' read -r tool exe filter <<<"$spec"; i=$((i + 1))
    bin=$(find "$build_dir/tests" -name "$exe" -type f -executable 2>/dev/null | head -1)
    if [ -z "$bin" ]; then sanitizer_rows+=("| $tool | $exe | \`$filter\` | - | executable not built |"); continue; fi
    n=$("$bin" --gtest_list_tests --gtest_filter="$filter" 2>/dev/null | grep -c '^  ' || true)
    run_step "san$i-$tool" "$per" "$sanitizer_bin" --tool "$tool" --error-exitcode 86 --print-limit 20 \
      "$bin" --gtest_filter="$filter" --gtest_brief=1
    rc=$?
    summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" "$logs/san$i-$tool.log" 2>/dev/null | tail -3 | tr '\n' ' ' | tr '|' '/')
    if [ "$rc" -eq 0 ]; then state=clean
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then state="timed out after ${per}s (partial)"
    elif [ "$rc" -eq 86 ]; then state="ERRORS FOUND"
    elif [ "$rc" -eq 99 ]; then state="not run: no time left"
    else state="exit $rc (test failures?)"; fi
    sanitizer_rows+=("| $tool | $exe | \`$filter\` ($n tests) | $state | ${summary:-see san$i-$tool.log} |")
  done
else
  record sanitize skipped 0 "$([ "$gpu_ok" -eq 0 ] && echo 'no GPU' || echo 'no build, no GoogleTest, no compute-sanitizer, or --skip sanitize')"
fi

# ---- 5. benchmarks and the PyTorch side-by-side ---------------------------------------------------------------
bench_dir=$work/bench; mkdir -p "$bench_dir"
conv_json="" train_json=""
if [ "$built" -eq 1 ] && [ "$have_bench" -eq 1 ] && ! skipped bench; then
  run_step conv_bench "$(budget_for 150 2)" "$build_dir/bench/conv_bench" --benchmark_filter='^conv/.*/(cuda|cudnn)' \
    --benchmark_min_time=0.03 --benchmark_repetitions=2 --benchmark_out="$bench_dir/conv_gpu.json" --benchmark_out_format=json
  [ -s "$bench_dir/conv_gpu.json" ] && conv_json=$bench_dir/conv_gpu.json
  run_step train_bench "$(budget_for 60 1)" "$build_dir/bench/train_step_bench" --benchmark_filter='^train/.*/(cuda|cudnn)' \
    --benchmark_repetitions=3 --benchmark_out="$bench_dir/train_gpu.json" --benchmark_out_format=json
  [ -s "$bench_dir/train_gpu.json" ] && train_json=$bench_dir/train_gpu.json
else
  record bench skipped 0 "$([ "$gpu_ok" -eq 0 ] && echo 'no GPU' || echo 'no build, no Google Benchmark, or --skip bench')"
fi
if [ "$gpu_ok" -eq 1 ] && [ -n "$python_bin" ] && ! skipped pytorch; then
  sbs_args=(--device cuda --reps 3 --train-reps 3 --out-md "$bench_dir/side_by_side_gpu.md")
  [ -n "$conv_json" ] && sbs_args+=(--conv-json "$conv_json")
  [ -n "$train_json" ] && sbs_args+=(--train-json "$train_json")
  run_step pytorch "$(budget_for 150 0)" "$python_bin" bench/pytorch_side_by_side.py "${sbs_args[@]}"
else
  record pytorch skipped 0 "$([ "$gpu_ok" -eq 0 ] && echo 'no GPU' || echo 'no PyTorch or --skip pytorch')"
fi

# ---- 6. the report -----------------------------------------------------------------------------------------------
md() { printf '%s\n' "$@" >>"$report"; }
cudnn_version() {
  local f
  for f in /usr/include/cudnn_version.h /usr/local/cuda/include/cudnn_version.h /usr/include/*/cudnn_version.h; do
    [ -f "$f" ] && { awk '/#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) /{print $3}' "$f" | paste -sd. -; return; }
  done
  echo "not found"
}
: >"$report"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | wc -l)
md "# strider GPU report" "" \
   "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit: $commit ($dirty uncommitted paths); runbook: scripts/gpu-runbook.sh, budget ${budget}s, took $((SECONDS - start))s$([ $dry_run -eq 1 ] && echo '; DRY RUN')" \
   "- GPU (name, compute capability, driver, memory): $(head -1 <<<"$gpu_info"); built for sm_$arch" \
   "- CUDA: $(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1 || echo '?') (driver); nvcc: $("${nvcc_bin:-false}" --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'not found')" \
   "- cuDNN: $(cudnn_version) (headers); PyTorch: $("${python_bin:-false}" -c 'import torch;print(torch.__version__, "cuDNN", torch.backends.cudnn.version())' 2>/dev/null || echo 'not found')" \
   "- host: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs" ""
md "## Steps" "" "| step | status | seconds | note |" "|---|---|---|---|"
for s in "${steps[@]}"; do IFS='|' read -r a b c d <<<"$s"; md "| $a | $b | $c | $d |"; done
for s in "${steps[@]}"; do
  IFS='|' read -r a b c d <<<"$s"
  if [[ "$b" == failed* || "$b" == "TIMED OUT" ]] && [ -f "$logs/$a.log" ]; then
    md "" "<details><summary>$a: last lines of $a.log</summary>" "" '```' "$(tail -n 25 "$logs/$a.log")" '```' "</details>"
  fi
done
md "" "## Dependencies" ""
for n in "${deps_notes[@]}"; do md "- $n"; done
md "- CMake: $generator, extra arguments: \`${cmake_args[*]:-none}\`" ""
md "## Tests (ctest)" ""
if [ -f "$logs/ctest.log" ]; then
  md "\`\`\`" "$(grep -E 'tests passed|tests failed|Total Test time' "$logs/ctest.log" | tail -3)" "\`\`\`"
  nskip=$(grep -c '\*\*\*Skipped\|Not Run' "$logs/ctest.log" || true)
  md "" "Skipped (should be ~0 on a GPU: CUDA tests no longer skip): $nskip"
  grep -E '\*\*\*Failed|\*\*\*Timeout|\*\*\*Exception' "$logs/ctest.log" | head -30 | sed 's/^/    /' >>"$report" || true
  grep -E '\*\*\*Skipped' "$logs/ctest.log" | head -10 | sed 's/^/    /' >>"$report" || true
else
  md "Not run (see Steps)."
fi
md "" "## compute-sanitizer" ""
if [ ${#sanitizer_rows[@]} -gt 0 ]; then
  md "| tool | executable | filter | result | summary |" "|---|---|---|---|---|" "${sanitizer_rows[@]}"
else
  md "Not run (see Steps)."
fi
md "" "## Benchmarks" ""
if [ -f "$bench_dir/side_by_side_gpu.md" ]; then cat "$bench_dir/side_by_side_gpu.md" >>"$report"; md ""; fi
if [ -n "$conv_json$train_json" ] && command -v python3 >/dev/null; then
  md "<details><summary>every GPU benchmark (Google Benchmark, best of repetitions, counters of the best)</summary>" ""
  python3 bench/bench_table.py $conv_json $train_json >>"$report" 2>&1 || md "(bench_table.py failed)"
  md "" "</details>"
elif [ ! -f "$bench_dir/side_by_side_gpu.md" ]; then
  md "Not run (see Steps)."
fi
md "" "## Files" "" "Logs and JSON: out/gpu-runbook/ (logs/*.log, bench/*.json)$([ -n "${OUT:-}" ] && echo '; also $OUT/gpu-runbook.tar.gz')."
if [ -n "${OUT:-}" ]; then
  tar -czf "$OUT/gpu-runbook.tar.gz" --exclude gpu-runbook/deps -C "$root/out" gpu-runbook 2>/dev/null || true
  for f in "$conv_json" "$train_json"; do [ -n "$f" ] && cp "$f" "$OUT/" 2>/dev/null; done
fi

echo
echo "=== gpu-runbook: report written to $report ($((SECONDS - start))s) ==="
sed -n '/^## Steps/,/^## Dependencies/p' "$report" | head -n -1
failed=0
for s in "${steps[@]}"; do [[ "$s" == *"|failed"* || "$s" == *"|TIMED OUT"* ]] && failed=1; done
[ "$dry_run" -eq 1 ] && exit 0
exit $failed
