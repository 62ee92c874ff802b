#!/usr/bin/env bash
# The whole test suite and the quality gates, as CI runs them:
#   1. Release build (warnings are errors) + every test
#   1. Release build (warnings are errors) + every test; before it, the Coq proofs of proofs/ (scripts/proofs.sh)
#      tests/support) and line coverage of the library (gate: 85 %)
#   3. the kernel layers cross-compiled for ARM64, their tests under qemu-user (NEON against the reference)
#   4. the CUDA backend compiled with warnings as errors when nvcc is found (compile only: CI has no GPU)
#   5. before all, clang-format check of every source file
# Fixtures are read from $TERNION_FIXTURES (default ../shared/fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere reuses earlier builds.
export CCACHE_BASEDIR="$PWD"
jobs="$(nproc)"
step() { printf '\n=== %s ===\n' "$*"; }

step "format check"
bash scripts/format.sh --check

step "Coq proofs (proofs/README.md)"
bash scripts/proofs.sh

step "release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

step "CUDA backend compile check"
# Only the CUDA library and the tests that use it, in a build folder of their own; scripts/cuda-check.sh runs them
# on a machine with a GPU.
nvcc_path="$(command -v nvcc || true)"
if [[ -z "$nvcc_path" && -x /usr/local/cuda/bin/nvcc ]]; then nvcc_path=/usr/local/cuda/bin/nvcc; fi
if [[ -n "$nvcc_path" ]]; then
  cuda_flags=(-DCMAKE_CUDA_COMPILER="$nvcc_path")
  # Debian's CUDA 11.8 takes g++ up to 11 as its host compiler.
  if "$nvcc_path" --version | grep -q 'release 11\.' && command -v g++-11 >/dev/null; then
    cuda_flags+=(-DCMAKE_CUDA_HOST_COMPILER=g++-11)
  fi
  cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DTERNION_CUDA=ON "${cuda_flags[@]}" >/dev/null
  cmake --build build-cuda -j "$jobs" --target ternion_backend_cuda ternion_test_backend ternion_test_model
else
  printf '\n*** SKIPPED: the CUDA compile check: no nvcc on PATH or in /usr/local/cuda/bin ***\n\n'
fi

step "ARM64 kernels under qemu"
bash scripts/test-arm64.sh

step "ASan+UBSan build with coverage, tests, and the coverage gate"
# One instrumented build serves both gates: every test runs under the sanitizers, and the same run
# measures line coverage of the library (src/).
cmake -S . -B build-check -DCMAKE_BUILD_TYPE=Debug -DTERNION_SANITIZE=ON -DTERNION_COVERAGE=ON >/dev/null
cmake --build build-check -j "$jobs"
find build-check -name '*.gcda' -delete
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-check --output-on-failure -j "$jobs"
gcovr --root . --filter 'src/' --gcov-ignore-parse-errors --txt build-check/coverage.txt --fail-under-line 85 --print-summary build-check
