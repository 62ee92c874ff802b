#!/usr/bin/env bash
# The kernel layers (core, io, quant) cross-compiled for ARM64 and their tests run under qemu-user: every NEON
# kernel against the scalar reference. Needs g++-aarch64-linux-gnu and qemu-user (scripts/setup.sh).
#
# ctest emulates `-cpu max` (NEON with the dot product and i8mm: the neon_i8mm kernels, as on a Cortex-A710 or
# Graviton 3; the neon_dot ones, like a Raspberry Pi 5's Cortex-A76, under TERNION_ISA=neon_dot).
# The kernel tests then run again on an emulated Cortex-A72 (a Raspberry Pi 4: NEON without the dot product), where
# detection must pick the plain NEON kernels and an SDOT reached by mistake would stop the run (SIGILL), and the
# TERNION_ISA caps are checked.
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S . -B build-arm64 "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake -DTERNION_KERNELS_ONLY=ON
cmake --build build-arm64 -j "$(nproc)"
ctest --test-dir build-arm64 -j "$(nproc)" --output-on-failure

qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
kernel_tests='QuantKernels.*:QuantRegistry.*:QuantFormats.*:Ternary*:IQuants.*'
echo "== kernel tests on an emulated Cortex-A72 (no dot product)"
log=$("${qemu[@]}" -cpu cortex-a72 build-arm64/tests/ternion_test_quant --gtest_filter="$kernel_tests" 2>&1) || {
  echo "$log"
  exit 1
}
grep -q '^best kernels: neon$' <<< "$log" || {
  echo "$log"
  echo "expected the neon kernels on a Cortex-A72"
  exit 1
}
grep -E '^kernel records|^\[  PASSED' <<< "$log"
"${qemu[@]}" -cpu cortex-a72 build-arm64/tests/ternion_test_core --gtest_filter='CpuFeatures.*' --gtest_brief=1
for cap in neon_dot neon scalar; do
  echo "== TERNION_ISA=$cap"
  TERNION_ISA=$cap "${qemu[@]}" -cpu max build-arm64/tests/ternion_test_core --gtest_filter='CpuFeatures.*' \
    --gtest_brief=1
  out=$(TERNION_ISA=$cap "${qemu[@]}" -cpu max build-arm64/tests/ternion_test_quant \
    --gtest_filter='QuantRegistry.KnownTypesHaveKernels' 2>&1)
  grep -q "^best kernels: $cap\$" <<< "$out" || {
    echo "$out"
    echo "expected best kernels: $cap"
    exit 1
  }
done
echo "ARM64 tests passed"
