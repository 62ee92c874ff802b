// y = W x on the CPU. Activation rows are converted once each (in parallel) to the weight type's vec_dot_type;
// then the output is cut into chunks of rows x tokens spread over the pool. A chunk walks its tokens in groups
// that the type's gemm kernel meets with all the chunk's rows, so a tile of weights stays in cache while it is
// used by many tokens. Every output is computed by one kernel call in the order of its vec_dot, which is what
// makes the result independent of the thread count and the batch.
#include "ternion/backend/matmul.h"

#include <algorithm>
#include <string>

#include "ternion/core/error.h"
#include "ternion/quant/interleave.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

constexpr size_t kScratchAlign = 64;
constexpr int64_t kRowGranule = 16;              // chunks hold a multiple of 16 rows (whole micro-kernel tiles)
constexpr int64_t kChunksPerThread = 4;          // enough chunks for load balance
constexpr size_t kWeightTileBytes = 256 * 1024;  // a chunk's weight rows fit in L2 next to its activations
constexpr int64_t kTokensPerCall = 128;          // tokens met by one gemm call (packed weights are reused by all)
constexpr int64_t kMinTokensPerChunk = 8;
constexpr int64_t kFewTokens = 2;
constexpr int64_t kFewTokenChunksPerThread = 2;
static_assert(kRowGranule % kInterleaveRows == 0, "chunks must start at an interleaved group");

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t activation_row_bytes(const QuantTraits& traits, int64_t cols) {
  return row_bytes(dtype_info(traits.vec_dot_type), static_cast<uint64_t>(cols));
}

struct Plan {
  int64_t rows_per_chunk;
  int64_t row_chunks;
  int64_t tokens_per_chunk;
  int64_t token_chunks;
};

Plan make_plan(const WeightMatrix& w, int64_t n_tokens, int n_threads) {
  Plan p{};
  const int64_t wanted_chunks = static_cast<int64_t>(n_threads) * kChunksPerThread;
  const int64_t by_cache =
      std::max<int64_t>(1, static_cast<int64_t>(kWeightTileBytes / std::max<size_t>(1, w.row_bytes)));
  // A few tokens reuse no weight tile: a couple of even chunks per thread (fewer claims and no straggler chunk)
  // is all that matters.
  const bool few = n_tokens <= kFewTokens;
  const int64_t by_balance =
      ceil_div(w.rows, few ? static_cast<int64_t>(n_threads) * kFewTokenChunksPerThread : wanted_chunks);
  const int64_t rows = few ? by_balance : std::min(by_cache, by_balance);
  p.rows_per_chunk = std::max(kRowGranule, ceil_div(rows, kRowGranule) * kRowGranule);
  p.row_chunks = ceil_div(w.rows, p.rows_per_chunk);
  p.token_chunks = 1;
  if (p.row_chunks < wanted_chunks && n_tokens >= 2 * kMinTokensPerChunk) {
    p.token_chunks = std::min(ceil_div(wanted_chunks, p.row_chunks), n_tokens / kMinTokensPerChunk);
  }
  p.tokens_per_chunk = ceil_div(n_tokens, p.token_chunks);
  p.token_chunks = ceil_div(n_tokens, p.tokens_per_chunk);
  return p;
}

void check_args(const WeightMatrix& w, int64_t n_tokens, int64_t ldy, const DTypeInfo& info) {
  const std::string what =
      "matmul (" + std::string(info.name) + " weights " + std::to_string(w.rows) + "x" + std::to_string(w.cols) + "): ";
  if (w.rows < 0 || w.cols < 0 || n_tokens < 0) throw Error(what + "negative size");
  if (w.cols % info.block_size != 0) {
    throw Error(what + "cols must be a multiple of the block size " + std::to_string(info.block_size));
  }
  if (w.row_bytes < row_bytes(info, static_cast<uint64_t>(w.cols))) {
    throw Error(what + "row_bytes " + std::to_string(w.row_bytes) + " is smaller than a row (" +
                std::to_string(row_bytes(info, static_cast<uint64_t>(w.cols))) + ")");
  }
  if (ldy < w.rows) throw Error(what + "ldy " + std::to_string(ldy) + " is smaller than rows");
}

}  // namespace

size_t matmul_scratch_bytes(DType weight_type, int64_t cols, int64_t n_tokens) {
  const QuantTraits& traits = quant_traits(weight_type);
  if (traits.vec_dot_type == DType::F32) return 0;
  return static_cast<size_t>(n_tokens) * activation_row_bytes(traits, cols) + kScratchAlign;
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t ldy, std::span<uint8_t> scratch,
            ThreadPool& pool) {
  const QuantTraits& traits = quant_traits(w.type);
  if (traits.gemm == nullptr || traits.vec_dot == nullptr) {  // an activation-only type such as Q8_K
    throw Error("matmul: tensor type " + std::string(dtype_info(w.type).name) + " cannot be a weight");
  }
  check_args(w, n_tokens, ldy, dtype_info(w.type));
  if (n_tokens == 0 || w.rows == 0) return;

  // Activations in the form the dot wants, one conversion per token row.
  const uint8_t* xq = reinterpret_cast<const uint8_t*>(x);
  size_t x_stride = static_cast<size_t>(w.cols) * sizeof(float);
  if (traits.vec_dot_type != DType::F32) {
    const size_t need = matmul_scratch_bytes(w.type, w.cols, n_tokens);
    if (scratch.size() < need) {
      throw Error("matmul: scratch has " + std::to_string(scratch.size()) + " bytes, needs " + std::to_string(need));
    }
    const auto addr = reinterpret_cast<uintptr_t>(scratch.data());
    uint8_t* buf = scratch.data() + ((kScratchAlign - addr % kScratchAlign) % kScratchAlign);
    x_stride = activation_row_bytes(traits, w.cols);
    const auto from_float = quant_traits(traits.vec_dot_type).from_float;
    const int64_t conv_chunks = std::min<int64_t>(n_tokens, static_cast<int64_t>(pool.size()) * kChunksPerThread);
    const int64_t per_chunk = ceil_div(n_tokens, conv_chunks);
    pool.parallel_for(static_cast<size_t>(ceil_div(n_tokens, per_chunk)), [&](size_t c) {
      const int64_t t0 = static_cast<int64_t>(c) * per_chunk;
      const int64_t t1 = std::min(n_tokens, t0 + per_chunk);
      for (int64_t t = t0; t < t1; ++t) from_float(x + t * w.cols, buf + static_cast<size_t>(t) * x_stride, w.cols);
    });
    xq = buf;
  }

  const Plan plan = make_plan(w, n_tokens, pool.size());
  const auto gemm = traits.gemm;
  const InterleavedKernels* il = w.interleaved != nullptr ? w.interleaved_ops : nullptr;
  const size_t group_bytes = il != nullptr ? il->group_bytes(w.cols) : 0;
  pool.parallel_for(static_cast<size_t>(plan.row_chunks * plan.token_chunks), [&](size_t c) {
    const int64_t rc = static_cast<int64_t>(c) / plan.token_chunks;
    const int64_t tc = static_cast<int64_t>(c) % plan.token_chunks;
    const int64_t r0 = rc * plan.rows_per_chunk;
    const int64_t n_rows = std::min(w.rows, r0 + plan.rows_per_chunk) - r0;
    const int64_t t_end = std::min(n_tokens, (tc + 1) * plan.tokens_per_chunk);
    for (int64_t t = tc * plan.tokens_per_chunk; t < t_end; t += kTokensPerCall) {
      const int64_t n_t = std::min(kTokensPerCall, t_end - t);
      const uint8_t* xt = xq + static_cast<size_t>(t) * x_stride;
      if (il != nullptr) {
        il->gemm(w.cols, w.interleaved + static_cast<size_t>(r0 / kInterleaveRows) * group_bytes, n_rows, xt, x_stride,
                 n_t, y + t * ldy + r0, ldy);
      } else {
        gemm(w.cols, w.data + static_cast<size_t>(r0) * w.row_bytes, w.row_bytes, n_rows, xt, x_stride, n_t,
             y + t * ldy + r0, ldy);
      }
    }
  });
}

}  // namespace ternion
