#!/usr/bin/env bash
# The whole test suite and the quality gates, as CI runs them:
#   1. Release build (warnings are errors) + every test
#   1. Release build (warnings are errors) + every test; before it, the Coq proofs of proofs/ (scripts/proofs.sh)
#      tests/support) and line coverage of the library (gate: 85 %)
#   3. the kernel layers cross-compiled for ARM64, their tests under qemu-user (NEON against the reference)
#   4. before all, clang-format check of every source file
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
