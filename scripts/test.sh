#!/usr/bin/env bash
# The whole test suite and the quality gates, as CI runs them:
#   1. Release build (warnings are errors) + every test
#   2. ASan+UBSan build + every test (long checks shortened, see tests/support)
#   3. coverage build + every test + line coverage of the library (gate: 85 %)
#   4. clang-format check of every source file
# Fixtures are read from $TERNION_FIXTURES (default ../shared/fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
step() { printf '\n=== %s ===\n' "$*"; }

step "format check"
bash scripts/format.sh --check

step "release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

step "ASan+UBSan build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTERNION_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"

step "coverage build, tests and gate"
cmake -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug -DTERNION_COVERAGE=ON >/dev/null
cmake --build build-cov -j "$jobs"
find build-cov -name '*.gcda' -delete
ctest --test-dir build-cov --output-on-failure -j "$jobs"
gcovr --root . --filter 'src/' --object-directory build-cov --txt build-cov/coverage.txt \
  --fail-under-line 85 --print-summary
