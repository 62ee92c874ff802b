#!/usr/bin/env python3
"""When do the slow decode steps of a `ternion bench` run come?

    ternion bench -m model.gguf -p 0 -n 256 -r 2 -o jsonl | python3 bench/slow_steps.py [--over 1.25]

For every generation test in the JSON (an array or one object per line) finds the steps slower than `--over`
x the median, groups those less than three median steps apart into episodes and prints each episode's start
(ms since the first timed step; a test's repetitions run back to back, so with -p 0 this is close to wall
time), how many slow steps it holds and how long it lasts, and the time between episode starts. A tail from
the engine follows the work (a position, a layer, a repetition's start); a tail from the machine follows the
clock. The read passes (`read_pass_ms`) get the same treatment.
"""
import argparse
import json
import statistics
import sys


def records(text):
    text = text.strip()
    if not text:
        return []
    if text[0] == "[":
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def report(name, times, over):
    if not times:
        return
    median = statistics.median(times)
    clock = 0.0
    episodes = []  # [start ms, end ms, slow steps]: slow steps less than 3 medians apart are one episode
    n_slow = 0
    for ms in times:
        clock += ms
        if ms > over * median:
            n_slow += 1
            if episodes and clock - ms - episodes[-1][1] < 3 * median:
                episodes[-1][1] = clock
                episodes[-1][2] += 1
            else:
                episodes.append([clock - ms, clock, 1])
    print("%s: %d, median %.3f ms, %d over %.2fx (%.1f %%) in %d episodes, span %.0f ms" %
          (name, len(times), median, n_slow, over, 100.0 * n_slow / len(times), len(episodes), clock))
    if episodes:
        parts = []
        for i, (start, end, n) in enumerate(episodes):
            gap = "" if i == 0 else " +%.0f" % (start - episodes[i - 1][0])
            parts.append("%.0f ms (%d step%s, %.0f ms)%s" % (start, n, "" if n == 1 else "s", end - start, gap))
        print("  episodes, start (slow steps, length) +since the previous start:")
        print("   " + "; ".join(parts))
    if len(episodes) > 1:
        gaps = [b[0] - a[0] for a, b in zip(episodes, episodes[1:])]
        print("  median time between episode starts: %.0f ms" % statistics.median(gaps))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", help="JSON or JSON lines from ternion bench (default: stdin)")
    ap.add_argument("--over", type=float, default=1.25, help="slow means over this many times the median")
    args = ap.parse_args()
    text = open(args.file).read() if args.file else sys.stdin.read()
    for r in records(text):
        steps = r.get("token_latencies_ms") or []
        if not steps:
            continue
        print("%s, %d thread(s), n_gen %d" % (r["model_filename"], r["n_threads"], r["n_gen"]))
        report("decode steps", steps, args.over)
        report("read passes", r.get("read_pass_ms") or [], args.over)


if __name__ == "__main__":
    main()
