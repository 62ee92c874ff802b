#!/usr/bin/env bash
# Release build of the library, the `ternion` program and the tests, in ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere reuses earlier builds.
export CCACHE_BASEDIR="$PWD"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${TERNION_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
