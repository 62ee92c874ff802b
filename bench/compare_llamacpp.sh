#!/usr/bin/env bash
# Side-by-side prompt (pp) and generation (tg) speed of Ternion and llama.cpp on the same GGUF files and
# thread counts, measured the same way (llama-bench's protocol: random tokens, warm-up, repetitions) and run
# alternately so both see the same machine state. Needs a llama.cpp build directory (its llama-bench);
# nothing here fetches or builds it.
#
#   bench/compare_llamacpp.sh LLAMA_BUILD_DIR MODEL.gguf [MODEL2.gguf ...]
#   env: THREADS="1 2" PP=512 TG=128 REPS=3 ROUNDS=3 TERNION=./build/bin/ternion
# Prints a Markdown table: per model, thread count and test, the median over ROUNDS of each engine's mean
# tokens/s (each round runs REPS repetitions), our decode latency p50/p99 from the same runs, and how close our
# median decode step comes to the memory-bandwidth bound `ternion bench` measures right after each test, and
# the p99/p50 of those read passes: the tail the machine alone gives a step that only reads the weights.
set -euo pipefail
llama_dir="${1:?usage: $0 LLAMA_BUILD_DIR MODEL.gguf...}"
shift
llama_bench="$llama_dir/bin/llama-bench"
[[ -x "$llama_bench" ]] || { echo "no llama-bench in $llama_dir/bin" >&2; exit 1; }
ternion="${TERNION:-$(dirname "$0")/../build/bin/ternion}"
threads="${THREADS:-1 2}"
pp="${PP:-512}"
tg="${TG:-128}"
reps="${REPS:-3}"
rounds="${ROUNDS:-3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

printf '| model | threads | test | ternion tok/s | llama.cpp tok/s | ratio | ternion p50 / p99 ms | of bound | read p99/p50 |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for model in "$@"; do
  for t in $threads; do
    : > "$tmp/ours.jsonl"; : > "$tmp/theirs.jsonl"
    for ((r = 0; r < rounds; r++)); do
      "$ternion" bench -m "$model" -p "$pp" -n "$tg" -t "$t" -r "$reps" -o jsonl >> "$tmp/ours.jsonl"
      "$llama_bench" -m "$model" -p "$pp" -n "$tg" -t "$t" -r "$reps" -o jsonl 2> /dev/null >> "$tmp/theirs.jsonl"
    done
    python3 - "$tmp/ours.jsonl" "$tmp/theirs.jsonl" "$(basename "$model")" "$t" << 'PY'
import json, statistics, sys
ours, theirs, name, t = sys.argv[1:5]
def load(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if line:
            r = json.loads(line)
            key = 'pp%d' % r['n_prompt'] if r['n_prompt'] > 0 else 'tg%d' % r['n_gen']
            rows.setdefault(key, []).append(r)
    return rows
a, b = load(ours), load(theirs)
for key in sorted(a, key=lambda k: (k[:2] != 'pp', k)):
    x = statistics.median(r['avg_ts'] for r in a[key])
    y = statistics.median(r['avg_ts'] for r in b.get(key, [])) if key in b else float('nan')
    lat = bound = tail = '-'
    if a[key][0].get('latency_p50_ms') is not None:
        lat = '%.2f / %.2f' % (statistics.median(r['latency_p50_ms'] for r in a[key]),
                               statistics.median(r['latency_p99_ms'] for r in a[key]))
    if a[key][0].get('decode_bound_pct') is not None:
        bound = '%.0f %%' % statistics.median(r['decode_bound_pct'] for r in a[key])
    if a[key][0].get('read_p99_ms') is not None:
        tail = '%.2f' % statistics.median(r['read_p99_ms'] / r['decode_bound_ms'] for r in a[key])
    print('| %s | %s | %s | %.1f | %.1f | %.2f | %s | %s | %s |' % (name, t, key, x, y, x / y, lat, bound, tail))
PY
  done
done
