#!/usr/bin/env bash
# Builds the Coq proofs of proofs/ (see proofs/README.md) and fails if any is incomplete: an Admitted, an admit,
# an Axiom/Parameter of our own, or a main theorem that rests on anything beyond Coq's and Flocq's own content.
set -euo pipefail
cd "$(dirname "$0")/../proofs"
command -v coqc >/dev/null || { echo "proofs: coqc not found (scripts/setup.sh installs coq)" >&2; exit 1; }
files=(Simd.v Blocks.v Kernels.v KQuants.v Ternary.v)
if grep -nE '\b(Admitted|admit|Axiom|Axioms|Parameter|Parameters|Conjecture|Hypothesis|Variable)\b' "${files[@]}"; then
  echo "proofs: the lines above leave a proof open or assume something" >&2
  exit 1
fi
for f in "${files[@]}"; do coqc -q -Q . "" "$f"; done
out=$(coqc -q -Q . "" Assumptions.v)
expected=$(grep -c '^Print Assumptions' Assumptions.v)
closed=$(grep -c 'Closed under the global context' <<<"$out" || true)
if [[ "$closed" != "$expected" ]]; then
  echo "$out" >&2
  echo "proofs: $closed of $expected theorems are closed; the others rest on axioms (listed above)" >&2
  exit 1
fi
echo "proofs: ${#files[@]} files, $expected theorems closed under the global context"
