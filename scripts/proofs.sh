#!/usr/bin/env bash
# Builds the Coq proofs of proofs/ (see proofs/README.md) and fails if any is incomplete: an Admitted, an admit,
# an Axiom/Parameter of our own, or a main theorem that rests on anything beyond Coq's and Flocq's own content.
set -euo pipefail
cd "$(dirname "$0")/../proofs"
command -v coqc >/dev/null || { echo "proofs: coqc not found (scripts/setup.sh installs coq)" >&2; exit 1; }
files=(Simd.v Blocks.v Kernels.v KQuants.v Ternary.v Dequant.v)
if grep -nE '\b(Admitted|admit|Axiom|Axioms|Parameter|Parameters|Conjecture|Hypothesis|Variable)\b' "${files[@]}"; then
  echo "proofs: the lines above leave a proof open or assume something" >&2
  exit 1
fi
for f in "${files[@]}"; do coqc -q -Q . "" "$f"; done
out=$(coqc -q -Q . "" Assumptions.v)
expected=$(grep -c '^Print Assumptions' Assumptions.v)
# The integer theorems must be closed; the float ones (Dequant.v) may rest only on the axioms of Coq's real numbers
# (Reals: classical Dedekind reals, excluded middle, functional extensionality), which Flocq builds on.
allowed='^(ClassicalDedekindReals\.sig_forall_dec|ClassicalDedekindReals\.sig_not_dec|Classical_Prop\.classic|FunctionalExtensionality\.functional_extensionality_dep)( :|$)'
answers=$(grep -cE '^(Closed under the global context|Axioms:)$' <<<"$out" || true)
other=$(grep -vE '^ |^(Closed under the global context|Axioms:)$' <<<"$out" | grep -vE "$allowed" || true)
if [[ "$answers" != "$expected" || -n "$other" ]]; then
  echo "$out" >&2
  echo "proofs: a theorem rests on something beyond the standard library's axioms (above)" >&2
  exit 1
fi
closed=$(grep -c '^Closed under the global context$' <<<"$out" || true)
echo "proofs: ${#files[@]} files; $expected theorems checked, $closed closed, the rest on the Reals axioms only"
