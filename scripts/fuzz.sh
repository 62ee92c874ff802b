#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs one of them.
#   scripts/fuzz.sh [target] [seconds] [extra libFuzzer flags...]     e.g. scripts/fuzz.sh fuzz_gguf 600
# The corpus grows in build-fuzz/corpus/<target>/ (seeded from fuzz/seeds/<name>/); crash inputs land in
# build-fuzz/artifacts/<target>/. Exits non-zero when the fuzzer finds a crash, leak, timeout or OOM.
# Environment: CXX (default clang++), JOBS (build parallelism, default 2), FUZZ_BUILD_DIR (default build-fuzz).
set -euo pipefail

target="${1:-fuzz_gguf}"
seconds="${2:-60}"
shift $(( $# > 2 ? 2 : $# ))

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
name="${target#fuzz_}"

generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
  -DTERNION_BUILD_FUZZ=ON -DTERNION_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target "$target"

corpus="$build/corpus/$target"
artifacts="$build/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
seeds="$root/fuzz/seeds/$name"
[[ -d "$seeds" ]] || seeds=""
dict=()
[[ -f "$root/fuzz/$name.dict" ]] && dict=(-dict="$root/fuzz/$name.dict")

echo "fuzz.sh: running $target for ${seconds}s (corpus $corpus${seeds:+, seeds $seeds})"
exec "$build/fuzz/$target" "$corpus" ${seeds:+"$seeds"} "${dict[@]}" -max_total_time="$seconds" \
  -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" "$@"
