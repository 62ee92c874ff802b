#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests and the quality gates need. Run as root.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git ccache
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libpcre2-dev libcpp-httplib-dev libedit-dev
  nodejs
  bubblewrap
  clang clang-format libclang-rt-14-dev
  gcovr
  g++-aarch64-linux-gnu qemu-user
  coq libcoq-flocq libcoq-interval libcoq-gappa gappa
)
# Debian's npm, unless node came with its own (NodeSource's nodejs package includes npm).
command -v npm >/dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
# The openai and ollama npm clients used by the server tests (tests/server/js), at the version package-lock.json pins.
if command -v npm >/dev/null; then
  (cd "$(dirname "$0")/../tests/server/js" && npm ci --no-audit --no-fund)
fi
