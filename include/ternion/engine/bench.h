// Speed and latency measurement in the spirit of llama-bench: prompt processing (pp) and generation (tg) of
// random tokens, timed over repetitions after a warm-up, plus what deterministic-latency users look at:
// time to first token, per-token decode latency percentiles and jitter, peak memory and model size.
//
// Protocol (the same as llama-bench's, so the tokens/s compare directly): a test has n_prompt prompt tokens,
// run in batches of n_batch, and/or n_gen generated tokens, each decoded alone. Tokens are random ids (the
// first is BOS when the model adds one); no sampling is timed. Before the timed repetitions one warm-up run
// (the prompt once, one decode step) touches every weight page. Each repetition starts from an empty cache.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ternion/core/thread_pool.h"
#include "ternion/model/lora.h"
#include "ternion/model/model.h"

namespace ternion {

struct BenchTest {
  int64_t n_prompt = 0;  // prompt tokens (0: none)
  int64_t n_gen = 0;     // generated tokens (0: none)
  int n_threads = 1;
  int repetitions = 5;
  int64_t n_batch = 512;
  uint32_t seed = 42;         // random token ids
  bool hugetlb = false;       // the KV cache in reserved huge pages (ContextOptions::hugetlb)
  std::vector<LoraUse> lora;  // adapters applied at run time (ContextOptions::lora)
  std::string device;         // ContextOptions::device (empty: the CPU)
  int32_t n_gpu_layers = -1;  // ContextOptions::n_gpu_layers
};

struct BenchResult {
  BenchTest test;
  std::vector<double> samples_ns;  // wall time of each repetition
  std::vector<double> samples_ts;  // (n_prompt + n_gen) tokens per second of each repetition
  double avg_ns = 0, stddev_ns = 0;
  double avg_ts = 0, stddev_ts = 0;
  double ttft_ms = 0;  // mean time until the first token's logits: the prompt, or the first decode step
  // Decode steps of every repetition (empty for a prompt-only test).
  std::vector<double> token_latencies_ms;
  std::optional<double> latency_p50_ms, latency_p99_ms, jitter_ms;  // jitter = standard deviation
  int64_t peak_rss_bytes = 0;                                       // of the process, after the test
  // The memory-bandwidth bound of one decode step, for a test that generates: the bytes of weights a step reads,
  // and the time the test's threads take just to read those same bytes (a summing pass over the model's own
  // weight buffers, repeated as many times as a repetition has steps, at most kMaxReadPasses, right after the
  // test): the median pass is decode_bound_ms, and decode_bound_ms / latency_p50_ms is how close decoding comes
  // to the bound. read_p99_ms is the p99 of those passes: the latency tail the machine itself gives a step that
  // only reads the weights, to hold the decode p99 against.
  int64_t decode_bytes_per_token = 0;
  std::optional<double> decode_bound_ms, read_p99_ms;
  std::vector<double> read_pass_ms;  // every read pass, in order (their median and p99 are the two above)
  std::string backend;               // the backend that ran the test ("cpu", "cuda"); the bound is the CPU's only
};

// Most read passes a test measures for its bound and read tail.
constexpr int64_t kMaxReadPasses = 256;

// Runs one test on `model`. Throws Error for counts that are negative, a test with neither prompt nor
// generation, fewer than one repetition or thread, or more than 2^20 tokens.
// `on_repetition` (optional) is told each finished repetition (progress output).
BenchResult run_bench(const Model& model, const BenchTest& test, const std::function<void(int)>& on_repetition = {});

// Summary helpers, exposed for tests: mean; sample standard deviation (0 for fewer than two values);
// nearest-rank percentile (p in (0, 100]) of unsorted values.
double mean_of(const std::vector<double>& v);
double stddev_of(const std::vector<double>& v);
double percentile_of(std::vector<double> v, double p);

// The weight buffers one decode step reads in full: every layer matrix and the output matrix (in the layout the
// kernels read: interleaved where the model holds one). The embedding row of the token and the KV cache are
// left out (a row, and a few MiB at bench lengths).
std::vector<std::span<const uint8_t>> decode_weight_spans(const Model& model);

// Wall time, in ms, of each of `passes` (at least 1) passes in which the pool's threads sum every 8-byte word of
// `spans` (split into 1 MiB chunks): the time decode would take if it only had to read its weights.
std::vector<double> read_times_ms(const std::vector<std::span<const uint8_t>>& spans, ThreadPool& pool, int passes);

// Peak resident set size of this process in bytes (VmHWM), 0 where the system does not say.
int64_t peak_rss_bytes();

// Elements in all tensors of the model.
int64_t model_n_params(const Model& model);

}  // namespace ternion
