#!/usr/bin/env bash
# The CUDA backend on a machine with a GPU: builds with -DTERNION_CUDA=ON (CUDA architecture 90a unless
# CUDA_ARCH says otherwise), runs the CUDA tests (every op against the CPU, the fixture models' greedy tokens and
# logits), then `ternion bench --device cuda` on a fixture model, and prints a short summary. Exits non-zero when a
# build or test fails.
#   scripts/cuda-check.sh [build-folder]      (default build-cuda)
set -uo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-cuda}"
arch="${CUDA_ARCH:-90a}"
jobs="$(nproc)"
nvcc_path="$(command -v nvcc || true)"
if [[ -z "$nvcc_path" && -x /usr/local/cuda/bin/nvcc ]]; then nvcc_path=/usr/local/cuda/bin/nvcc; fi
if [[ -z "$nvcc_path" ]]; then
  echo "cuda-check: no nvcc on PATH or in /usr/local/cuda/bin" >&2
  exit 1
fi
export CCACHE_BASEDIR="$PWD"
summary=()
failed=0
run_step() {  # name, command...
  local name="$1"
  shift
  printf '\n=== %s ===\n' "$name"
  local t0=$SECONDS
  if "$@"; then
    summary+=("PASS  $name ($((SECONDS - t0)) s)")
  else
    summary+=("FAIL  $name ($((SECONDS - t0)) s)")
    failed=1
  fi
}

run_step "configure (sm_$arch, $nvcc_path)" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTERNION_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc_path" -DCMAKE_CUDA_ARCHITECTURES="$arch"
run_step "build" cmake --build "$build" -j "$jobs" --target ternion_test_backend ternion_test_model ternion_cli
if [[ $failed -eq 0 ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  # Here a skipped CUDA test means the GPU was not usable: that is a failure.
  run_step "CUDA op tests" bash -c "'$build/tests/ternion_test_backend' --gtest_filter='Cuda*:*/Cuda*' 2>&1 | tee /tmp/cuda-ops.log; \
    test \${PIPESTATUS[0]} -eq 0 && ! grep -q 'SKIPPED: the CUDA' /tmp/cuda-ops.log"
  run_step "CUDA forward pass tests" bash -c "'$build/tests/ternion_test_model' --gtest_filter='*Cuda*' 2>&1 | tee /tmp/cuda-model.log; \
    test \${PIPESTATUS[0]} -eq 0 && ! grep -q 'SKIPPED: the CUDA' /tmp/cuda-model.log"
  fixtures="${TERNION_FIXTURES:-../shared/fixtures}"
  for m in "$fixtures/gguf/kjv-llama-F16.gguf" "$fixtures/gguf/kjv-llama-Q8_0.gguf"; do
    if [[ -f "$m" ]]; then
      run_step "bench --device cuda $(basename "$m")" "$build/bin/ternion" bench -m "$m" --device cuda \
        -p 128 -n 32 -r 2
      run_step "run --device cuda $(basename "$m")" "$build/bin/ternion" run -m "$m" --device cuda \
        -p "In the beginning" -n 16 --temp 0
    fi
  done
fi
printf '\n=== summary ===\n'
printf '%s\n' "${summary[@]}"
exit $failed
