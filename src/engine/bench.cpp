#include "ternion/engine/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "ternion/core/error.h"
#include "ternion/core/thread_pool.h"
#include "ternion/model/context.h"
#include "ternion/quant/interleave.h"

namespace ternion {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t load_word(const uint8_t* p, size_t i) {
  uint64_t v;
  std::memcpy(&v, p + i * sizeof v, sizeof v);
  return v;
}

double ns_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

void check_test(const BenchTest& t) {
  if (t.n_prompt < 0 || t.n_gen < 0) throw Error("bench: token counts must not be negative");
  if (t.n_prompt == 0 && t.n_gen == 0) throw Error("bench: a test needs prompt tokens, generated tokens or both");
  if (t.repetitions < 1) throw Error("bench: repetitions must be at least 1, got " + std::to_string(t.repetitions));
  if (t.n_threads < 1) throw Error("bench: threads must be at least 1, got " + std::to_string(t.n_threads));
  if (t.n_batch < 1) throw Error("bench: batch size must be at least 1, got " + std::to_string(t.n_batch));
  if (t.n_prompt + t.n_gen > (int64_t{1} << 20)) {
    throw Error("bench: " + std::to_string(t.n_prompt + t.n_gen) + " tokens in one test is too many");
  }
}

// Random token ids drawn once, so the timed loops only decode.
struct TokenSource {
  std::vector<int32_t> prompt;
  std::vector<int32_t> gen;
};

TokenSource make_tokens(const Model& model, const BenchTest& t) {
  const int64_t n_vocab = model.hparams().n_vocab;
  std::mt19937 rng(t.seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab - 1));
  TokenSource s;
  s.prompt.resize(static_cast<size_t>(t.n_prompt));
  s.gen.resize(static_cast<size_t>(t.n_gen));
  for (auto& id : s.prompt) id = pick(rng);
  for (auto& id : s.gen) id = pick(rng);
  const bool add_bos = model.gguf().get_bool("tokenizer.ggml.add_bos_token").value_or(false);
  const auto bos = model.gguf().get_int("tokenizer.ggml.bos_token_id");
  if (add_bos && bos && *bos >= 0 && *bos < n_vocab) {
    if (!s.prompt.empty()) {
      s.prompt[0] = static_cast<int32_t>(*bos);
    } else if (!s.gen.empty()) {
      s.gen[0] = static_cast<int32_t>(*bos);
    }
  }
  return s;
}

void run_prompt(InferenceContext& ctx, const std::vector<int32_t>& prompt, int64_t n_batch) {
  for (size_t i = 0; i < prompt.size(); i += static_cast<size_t>(n_batch)) {
    const size_t n = std::min(prompt.size() - i, static_cast<size_t>(n_batch));
    ctx.decode(std::span<const int32_t>(prompt.data() + i, n));
  }
}

}  // namespace

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double stddev_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

double percentile_of(std::vector<double> v, double p) {
  if (v.empty()) throw Error("percentile of no values");
  if (!(p > 0 && p <= 100)) throw Error("percentile must be in (0, 100]");
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least p % of the values at or below it.
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::max<size_t>(rank, 1) - 1];
}

int64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // reported in kB
  }
  return 0;
}

std::vector<std::span<const uint8_t>> decode_weight_spans(const Model& model) {
  std::vector<std::span<const uint8_t>> spans;
  const auto add = [&](const WeightMatrix& m) {
    if (m.interleaved != nullptr) {
      spans.emplace_back(m.interleaved, interleaved_bytes(*m.interleaved_ops, m.rows, m.cols));
    } else if (m.data != nullptr) {
      spans.emplace_back(m.data, static_cast<size_t>(m.rows) * m.row_bytes);
    }
  };
  const ModelWeights& w = model.weights();
  for (const LayerWeights& l : w.layers) {
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*m);
  }
  add(w.output);
  return spans;
}

std::vector<double> read_times_ms(const std::vector<std::span<const uint8_t>>& spans, ThreadPool& pool, int passes) {
  constexpr size_t kChunk = size_t{1} << 20;
  struct Piece {
    const uint8_t* p;
    size_t n;
  };
  std::vector<Piece> pieces;
  for (const auto& s : spans) {
    for (size_t off = 0; off < s.size(); off += kChunk)
      pieces.push_back({s.data() + off, std::min(kChunk, s.size() - off)});
  }
  std::vector<uint64_t> sums(pieces.size());
  std::vector<double> times;
  times.reserve(static_cast<size_t>(std::max(passes, 1)));
  for (int pass = 0; pass < std::max(passes, 1); ++pass) {
    const auto t0 = Clock::now();
    pool.parallel_for(pieces.size(), [&](size_t c) {
      const uint8_t* p = pieces[c].p;
      const size_t words = pieces[c].n / sizeof(uint64_t);
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      size_t i = 0;
      for (; i + 4 <= words; i += 4) {
        s0 += load_word(p, i);
        s1 += load_word(p, i + 1);
        s2 += load_word(p, i + 2);
        s3 += load_word(p, i + 3);
      }
      for (; i < words; ++i) s0 += load_word(p, i);
      sums[c] = s0 + s1 + s2 + s3;
    });
    times.push_back(ns_between(t0, Clock::now()) / 1e6);
  }
  volatile uint64_t sink = 0;  // the sums are used, so the reads are not optimised away
  for (uint64_t v : sums) sink = sink + v;
  return times;
}

int64_t model_n_params(const Model& model) { return static_cast<int64_t>(model.n_params()); }

BenchResult run_bench(const Model& model, const BenchTest& test, const std::function<void(int)>& on_repetition) {
  check_test(test);
  const TokenSource tokens = make_tokens(model, test);
  ThreadPool pool(test.n_threads);
  ContextOptions copt;
  copt.n_ctx = std::max<int64_t>(test.n_prompt + test.n_gen, 1);
  copt.n_batch = std::max<int64_t>(std::min(test.n_batch, std::max<int64_t>(test.n_prompt, 1)), 1);
  copt.hugetlb = test.hugetlb;
  copt.lora = test.lora;
  copt.device = test.device;
  copt.n_gpu_layers = test.n_gpu_layers;
  InferenceContext ctx(model, copt, pool);

  // Warm-up: every weight page touched, every buffer written once.
  if (!tokens.prompt.empty()) run_prompt(ctx, tokens.prompt, copt.n_batch);
  if (!tokens.gen.empty()) {
    ctx.clear();
    ctx.decode(std::span<const int32_t>(tokens.gen.data(), 1));
  }

  BenchResult r;
  r.test = test;
  r.token_latencies_ms.reserve(static_cast<size_t>(test.n_gen * test.repetitions));
  std::vector<double> ttft;
  const double n_tokens = static_cast<double>(test.n_prompt + test.n_gen);
  for (int rep = 0; rep < test.repetitions; ++rep) {
    ctx.clear();
    const auto t0 = Clock::now();
    if (!tokens.prompt.empty()) {
      run_prompt(ctx, tokens.prompt, copt.n_batch);
      ttft.push_back(ns_between(t0, Clock::now()) / 1e6);
    }
    auto prev = Clock::now();
    for (size_t i = 0; i < tokens.gen.size(); ++i) {
      ctx.decode(std::span<const int32_t>(tokens.gen.data() + i, 1));
      const auto now = Clock::now();
      const double ms = ns_between(prev, now) / 1e6;
      if (i == 0 && tokens.prompt.empty()) ttft.push_back(ms);
      r.token_latencies_ms.push_back(ms);
      prev = now;
    }
    const double ns = ns_between(t0, Clock::now());
    r.samples_ns.push_back(ns);
    r.samples_ts.push_back(n_tokens * 1e9 / ns);
    if (on_repetition) on_repetition(rep + 1);
  }
  r.avg_ns = mean_of(r.samples_ns);
  r.stddev_ns = stddev_of(r.samples_ns);
  r.avg_ts = mean_of(r.samples_ts);
  r.stddev_ts = stddev_of(r.samples_ts);
  r.ttft_ms = mean_of(ttft);
  if (!r.token_latencies_ms.empty()) {
    r.latency_p50_ms = percentile_of(r.token_latencies_ms, 50);
    r.latency_p99_ms = percentile_of(r.token_latencies_ms, 99);
    r.jitter_ms = stddev_of(r.token_latencies_ms);
  }
  r.peak_rss_bytes = peak_rss_bytes();
  r.backend = std::string(ctx.backend().name());
  if (test.n_gen > 0 && r.backend == "cpu") {  // the bound of a pass over host memory: the CPU's
    const auto spans = decode_weight_spans(model);
    for (const auto& sp : spans) r.decode_bytes_per_token += static_cast<int64_t>(sp.size());
    // As many passes as one repetition has steps (at most kMaxReadPasses), timed like the steps: the median is
    // the bound the median step is held against, the p99 the tail the machine alone gives a pass that only reads.
    const int passes = static_cast<int>(std::clamp<int64_t>(test.n_gen, 3, kMaxReadPasses));
    r.read_pass_ms = read_times_ms(spans, pool, passes);
    r.decode_bound_ms = percentile_of(r.read_pass_ms, 50);
    r.read_p99_ms = percentile_of(r.read_pass_ms, 99);
  }
  return r;
}

}  // namespace ternion
