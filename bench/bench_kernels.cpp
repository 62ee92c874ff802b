// Kernel micro-benchmarks: vec_dot throughput per type and instruction set, matmul for decode (1 token) and
// prompt (512 tokens) per type, in the file layout and (types that have one here) the interleaved layout, and
// the machine's memory read bandwidth (the bound of a decode that streams every weight once per token).
// Run: ternion_bench_kernels [--benchmark_filter=...]; the thread count of the matmul and memory benchmarks is
// TERNION_BENCH_THREADS (default: all cores).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ternion/backend/attention.h"
#include "ternion/backend/matmul.h"
#include "ternion/core/cpu_features.h"
#include "ternion/engine/bench.h"
#include "ternion/quant/interleave.h"
#include "ternion/quant/quant.h"

namespace {

using ternion::DType;

const DType kTypes[] = {DType::F32,   DType::F16,  DType::BF16, DType::Q8_0,   DType::Q4_0,  DType::TQ1_0,
                        DType::TQ2_0, DType::Q2_K, DType::Q3_K, DType::Q4_K,   DType::Q5_K,  DType::Q6_K,
                        DType::Q4_1,  DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::IQ4_XS};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

size_t row_size(DType t, int64_t cols) {
  return ternion::row_bytes(ternion::dtype_info(t), static_cast<uint64_t>(cols));
}

std::vector<uint8_t> quantized_rows(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  const size_t rb = row_size(t, cols);
  std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
  const auto& tr = ternion::quant_traits(t);
  const auto x = random_floats(static_cast<size_t>(cols), seed);
  for (int64_t r = 0; r < rows; ++r) tr.from_float(x.data(), out.data() + static_cast<size_t>(r) * rb, cols);
  return out;
}

// Single-row dots over 64 rows of 4096 (weights in L2): the kernel's own speed, in weight bytes per second.
void bench_vec_dot(benchmark::State& state, const ternion::QuantTraits* tr) {
  const int64_t cols = 4096;
  const int64_t rows = 64;
  const auto w = quantized_rows(tr->type, rows, cols, 1);
  const auto x = quantized_rows(tr->vec_dot_type, 1, cols, 2);
  const size_t rb = row_size(tr->type, cols);
  float sink = 0;
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; ++r) {
      float out;
      tr->vec_dot(cols, &out, w.data() + static_cast<size_t>(r) * rb, x.data());
      sink += out;
    }
  }
  benchmark::DoNotOptimize(sink);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * rows * static_cast<int64_t>(rb));
  state.counters["weights/s"] =
      benchmark::Counter(static_cast<double>(rows * cols), benchmark::Counter::kIsIterationInvariantRate);
}

// Quantizing activations (from_float of a vec_dot type), in input floats per second.
void bench_from_float(benchmark::State& state, const ternion::QuantTraits* tr) {
  const int64_t n = 4096;
  const auto x = random_floats(static_cast<size_t>(n), 3);
  std::vector<uint8_t> out(row_size(tr->type, n));
  for (auto _ : state) {
    tr->from_float(x.data(), out.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 4);
}

ternion::ThreadPool& pool() {
  static const std::unique_ptr<ternion::ThreadPool> p = [] {
    int n = ternion::default_thread_count();
    if (const char* env = std::getenv("TERNION_BENCH_THREADS")) n = std::atoi(env);
    return std::make_unique<ternion::ThreadPool>(n);
  }();
  return *p;
}

// y = W x for n_tokens tokens. Reports weight bytes per second (decode) and GFLOP/s (2 * rows * cols * tokens).
void bench_matmul(benchmark::State& state, DType type, int64_t rows, int64_t cols, int64_t n_tokens, bool interleaved) {
  const auto w = quantized_rows(type, rows, cols, 4);
  const auto x = random_floats(static_cast<size_t>(cols * n_tokens), 5);
  std::vector<float> y(static_cast<size_t>(rows * n_tokens));
  std::vector<uint8_t> scratch(ternion::matmul_scratch_bytes(type, cols, n_tokens));
  ternion::WeightMatrix wm{type, rows, cols, w.data(), row_size(type, cols)};
  std::vector<uint8_t> packed;
  if (interleaved) {
    const ternion::InterleavedKernels* k = ternion::interleaved_kernels(type);
    packed.resize(ternion::interleaved_bytes(*k, rows, cols));
    k->pack(w.data(), wm.row_bytes, rows, cols, packed.data());
    wm.interleaved = packed.data();
    wm.interleaved_ops = k;
  }
  for (auto _ : state) {
    ternion::matmul(wm, x.data(), n_tokens, y.data(), rows, scratch, pool());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * static_cast<double>(rows * cols * n_tokens),
                         benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n_tokens), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = pool().size();
}

// One-token matmuls over copies of a 2048 x kCols matrix that together exceed the last-level cache, each call on
// the next copy: the kernel streaming its weights from DRAM as decode does (compare with memory_read/1GiB).
// 8192 columns is the shape of a feed-forward down projection.
void bench_matmul_stream(benchmark::State& state, DType type, bool interleaved, int64_t kCols) {
  constexpr int64_t kRows = 2048;
  constexpr size_t kMinBytes = size_t{512} << 20;
  const auto w = quantized_rows(type, kRows, kCols, 4);
  const ternion::InterleavedKernels* k = interleaved ? ternion::interleaved_kernels(type) : nullptr;
  const size_t one = k != nullptr ? ternion::interleaved_bytes(*k, kRows, kCols) : w.size();
  const size_t copies = (kMinBytes + one - 1) / one;
  std::vector<uint8_t> all(copies * one);
  if (k != nullptr) {
    k->pack(w.data(), row_size(type, kCols), kRows, kCols, all.data());
  } else {
    std::memcpy(all.data(), w.data(), one);
  }
  for (size_t c = 1; c < copies; ++c) std::memcpy(all.data() + c * one, all.data(), one);
  const auto x = random_floats(static_cast<size_t>(kCols), 5);
  std::vector<float> y(static_cast<size_t>(kRows));
  std::vector<uint8_t> scratch(ternion::matmul_scratch_bytes(type, kCols, 1));
  size_t c = 0;
  for (auto _ : state) {
    ternion::WeightMatrix wm{type, kRows, kCols, all.data() + c * one, row_size(type, kCols)};
    if (k != nullptr) {
      wm.interleaved = all.data() + c * one;
      wm.interleaved_ops = k;
    }
    ternion::matmul(wm, x.data(), 1, y.data(), kRows, scratch, pool());
    benchmark::ClobberMemory();
    c = (c + 1) % copies;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.counters["threads"] = pool().size();
}

// Reads a 1 GiB buffer once per iteration with `ternion bench`'s read pass (split over the pool like a decode
// matmul): bytes per second is the bound of a decode that streams every weight byte once per token.
void bench_memory_read(benchmark::State& state) {
  constexpr size_t kBytes = size_t{1} << 30;
  const std::vector<uint8_t> buf(kBytes, 1);
  const std::vector<std::span<const uint8_t>> spans{std::span<const uint8_t>(buf)};
  for (auto _ : state) benchmark::DoNotOptimize(ternion::read_times_ms(spans, pool(), 1));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kBytes));
  state.counters["threads"] = pool().size();
}

// One token's attention over one layer's fp16 cache at position `pos` (llama-3.2-1b's heads: 32 query heads over 8
// KV heads of 64; a 4096-position cache): what each layer of a decode step spends on attention.
void bench_attention_decode(benchmark::State& state) {
  constexpr int64_t kHeads = 32, kKvHeads = 8, kHeadDim = 64, kCtx = 4096;
  const int64_t pos = state.range(0);
  const auto q = random_floats(static_cast<size_t>(kHeads * kHeadDim), 7);
  std::vector<uint16_t> k(static_cast<size_t>(kKvHeads * kCtx * kHeadDim));
  std::vector<uint16_t> v(k.size());
  ternion::fp32_to_fp16_row(random_floats(k.size(), 8).data(), k.data(), static_cast<int64_t>(k.size()));
  ternion::fp32_to_fp16_row(random_floats(v.size(), 9).data(), v.data(), static_cast<int64_t>(v.size()));
  std::vector<float> out(q.size());
  const auto position = static_cast<int32_t>(pos);
  ternion::AttentionArgs a;
  a.q = q.data();
  a.q_stride = kHeads * kHeadDim;
  a.k = k.data();
  a.v = v.data();
  a.n_ctx = kCtx;
  a.n_head = kHeads;
  a.n_head_kv = kKvHeads;
  a.head_dim = kHeadDim;
  a.positions = &position;
  a.n_tokens = 1;
  a.scale = 0.125f;
  a.out = out.data();
  a.out_stride = kHeads * kHeadDim;
  std::vector<uint8_t> scratch(ternion::attention_scratch_bytes(kHeads, kCtx, kHeadDim));
  for (auto _ : state) {
    ternion::attention(a, scratch, pool());
    benchmark::ClobberMemory();
  }
  state.counters["threads"] = pool().size();
}

// An empty pool job of `chunks` chunks: the cost of posting a job, claiming its chunks and waiting for them, which
// every matmul and attention call of a decode step pays once.
void bench_pool_job(benchmark::State& state) {
  const auto chunks = static_cast<size_t>(state.range(0));
  for (auto _ : state) pool().parallel_for(chunks, [](size_t c) { benchmark::DoNotOptimize(c); });
  state.counters["threads"] = pool().size();
}

void register_all() {
  benchmark::RegisterBenchmark("memory_read/1GiB", bench_memory_read)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("pool_job", bench_pool_job)->Arg(2)->Arg(4)->Arg(12)->UseRealTime();
  benchmark::RegisterBenchmark("attention_decode", bench_attention_decode)
      ->Arg(64)
      ->Arg(1024)
      ->Arg(2047)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  for (DType t : kTypes) {
    const std::string name(ternion::dtype_info(t).name);
    for (const ternion::QuantTraits* tr : ternion::quant_traits_variants(t)) {
      const std::string isa(ternion::isa_name(tr->isa));
      benchmark::RegisterBenchmark(("vec_dot/" + name + "/" + isa).c_str(), bench_vec_dot, tr);
      if (t != DType::Q4_0 && t != DType::F32 && t != DType::TQ1_0 && t != DType::TQ2_0 &&
          tr->vec_dot_type != DType::Q8_K) {
        benchmark::RegisterBenchmark(("from_float/" + name + "/" + isa).c_str(), bench_from_float, tr);
      }
    }
  }
  for (const ternion::QuantTraits* tr : ternion::quant_traits_variants(DType::Q8_K)) {  // K-quant activations
    benchmark::RegisterBenchmark(("from_float/Q8_K/" + std::string(ternion::isa_name(tr->isa))).c_str(),
                                 bench_from_float, tr);
  }
  for (DType t : kTypes) {
    const std::string name(ternion::dtype_info(t).name);
    for (bool il : {false, true}) {
      if (il && ternion::interleaved_kernels(t) == nullptr) continue;
      const std::string layout = il ? "interleaved/" : "";
      for (int64_t rows : {256, 2048, 8192}) {  // 256 rows: weights in L2, the kernel's own speed
        benchmark::RegisterBenchmark(("matmul_decode/" + layout + name + "/" + std::to_string(rows) + "x2048").c_str(),
                                     bench_matmul, t, rows, int64_t{2048}, int64_t{1}, il)
            ->UseRealTime();
      }
      for (int64_t cols : {2048, 8192}) {
        benchmark::RegisterBenchmark(("matmul_decode_dram/" + layout + name + "/2048x" + std::to_string(cols)).c_str(),
                                     bench_matmul_stream, t, il, cols)
            ->UseRealTime();
      }
      benchmark::RegisterBenchmark(("matmul_prompt512/" + layout + name + "/2048x2048").c_str(), bench_matmul, t,
                                   int64_t{2048}, int64_t{2048}, int64_t{512}, il)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("cpu_features", ternion::cpu_features().describe());
  benchmark::AddCustomContext("kernels", std::string(ternion::isa_name(ternion::best_isa())));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
