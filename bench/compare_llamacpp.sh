#!/usr/bin/env bash
# Side-by-side prompt (pp) and generation (tg) speed of Ternion and llama.cpp on the same GGUF files and
# thread counts, run alternately so both see the same machine state. Needs a llama.cpp build directory
# (its llama-bench); nothing here fetches or builds it.
#
#   bench/compare_llamacpp.sh LLAMA_BUILD_DIR MODEL.gguf [MODEL2.gguf ...]
#   env: THREADS="1 2" PP=128 TG=64 REPS=3 TERNION=./build/bin/ternion PROMPT_FILE=...
set -euo pipefail
llama_dir="${1:?usage: $0 LLAMA_BUILD_DIR MODEL.gguf...}"
shift
llama_bench="$llama_dir/bin/llama-bench"
[[ -x "$llama_bench" ]] || { echo "no llama-bench in $llama_dir/bin" >&2; exit 1; }
ternion="${TERNION:-$(dirname "$0")/../build/bin/ternion}"
threads="${THREADS:-1 2}"
pp="${PP:-128}"
tg="${TG:-64}"
reps="${REPS:-3}"
prompt_file="${PROMPT_FILE:-$(dirname "$0")/../../shared/fixtures/text/validation.txt}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A prompt of about $pp tokens: words from the prompt file, trimmed by ternion's own count below.
head -c $((pp * 3)) "$prompt_file" > "$tmp/prompt.txt"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '| model | threads | test | ternion tok/s | llama.cpp tok/s | ratio |\n|---|---|---|---|---|---|\n'
for model in "$@"; do
  for t in $threads; do
    : > "$tmp/t_pp"; : > "$tmp/t_tg"; : > "$tmp/l_pp"; : > "$tmp/l_tg"
    for ((r = 0; r < reps; r++)); do
      "$ternion" run -m "$model" -f "$tmp/prompt.txt" -n "$tg" --temp 0 --ignore-eos -t "$t" --json > "$tmp/t.json"
      python3 -c "import json,sys; j=json.load(open('$tmp/t.json'))['timings']; print(j['prompt_tokens_per_s'], file=open('$tmp/t_pp','a')); print(j['generate_tokens_per_s'], file=open('$tmp/t_tg','a'))"
      "$llama_bench" -m "$model" -p "$pp" -n "$tg" -t "$t" -r 1 -o json 2> /dev/null > "$tmp/l.json"
      python3 -c "
import json
for r in json.load(open('$tmp/l.json')):
    f = '$tmp/l_pp' if r['n_prompt'] > 0 else '$tmp/l_tg'
    print(r['avg_ts'], file=open(f, 'a'))"
    done
    name="$(basename "$model")"
    for test in pp tg; do
      ours="$(median < "$tmp/t_$test")"
      theirs="$(median < "$tmp/l_$test")"
      printf '| %s | %s | %s | %.1f | %.1f | %.2f |\n' "$name" "$t" "$test" "$ours" "$theirs" \
        "$(python3 -c "print($ours / $theirs)")"
    done
  done
done
