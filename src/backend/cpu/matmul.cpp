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
constexpr size_t kIdleReadBytes = 192 * 1024;  // per thread, of the next matrix (ThreadPool::IdleReads)
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

size_t matmul_many_scratch_bytes(std::span<const WeightMatrix* const> ws, int64_t n_tokens) {
  size_t total = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    const DType vt = quant_traits(ws[i]->type).vec_dot_type;
    bool seen = false;
    for (size_t j = 0; j < i; ++j) seen = seen || quant_traits(ws[j]->type).vec_dot_type == vt;
    if (!seen) total += matmul_scratch_bytes(ws[i]->type, ws[i]->cols, n_tokens);
  }
  return total;
}

namespace {

// One product's share of the pool job: its plan and the index of its first chunk in the job.
struct Product {
  MatmulOutput out;
  const QuantTraits* traits;
  const uint8_t* xq;
  size_t x_stride;
  Plan plan;
  size_t first_chunk;
};

// The weight bytes of rows from r0 on: in the interleaved layout when the matrix has one, else in the file's.
const uint8_t* rows_from(const WeightMatrix& w, int64_t r0) {
  if (w.interleaved != nullptr) {
    return w.interleaved + static_cast<size_t>(r0 / kInterleaveRows) * w.interleaved_ops->group_bytes(w.cols);
  }
  return w.data + static_cast<size_t>(r0) * w.row_bytes;
}

void run_chunk(const Product& p, int64_t c, int64_t n_tokens) {
  const WeightMatrix& w = *p.out.w;
  const Plan& plan = p.plan;
  const int64_t rc = c / plan.token_chunks;
  const int64_t tc = c % plan.token_chunks;
  const int64_t r0 = rc * plan.rows_per_chunk;
  const int64_t n_rows = std::min(w.rows, r0 + plan.rows_per_chunk) - r0;
  const int64_t t_end = std::min(n_tokens, (tc + 1) * plan.tokens_per_chunk);
  const InterleavedKernels* il = w.interleaved != nullptr ? w.interleaved_ops : nullptr;
  for (int64_t t = tc * plan.tokens_per_chunk; t < t_end; t += kTokensPerCall) {
    const int64_t n_t = std::min(kTokensPerCall, t_end - t);
    const uint8_t* xt = p.xq + static_cast<size_t>(t) * p.x_stride;
    float* y = p.out.y + t * p.out.ldy + r0;
    if (il != nullptr) {
      il->gemm(w.cols, rows_from(w, r0), n_rows, xt, p.x_stride, n_t, y, p.out.ldy);
    } else {
      p.traits->gemm(w.cols, rows_from(w, r0), w.row_bytes, n_rows, xt, p.x_stride, n_t, y, p.out.ldy);
    }
  }
}

constexpr size_t kMaxProducts = 8;

// Where `next`'s first chunks start, for the threads that will likely claim them (the caller the first, worker i
// the i-th: they claim in that order when a job is posted); a few tokens only, where chunks are whole rows.
const ThreadPool::IdleReads* idle_reads_for(const WeightMatrix* next, int64_t n_tokens, const ThreadPool& pool,
                                            ThreadPool::IdleReads& idle) {
  if (next == nullptr || n_tokens > kFewTokens || pool.size() < 2 || next->rows <= 0) return nullptr;
  const Plan plan = make_plan(*next, n_tokens, pool.size());
  const int n = std::min(pool.size(), ThreadPool::IdleReads::kMaxThreads);
  for (int i = 0; i < n; ++i) {
    const int64_t r0 = i * plan.rows_per_chunk;
    if (r0 >= next->rows) break;
    idle.start[i] = rows_from(*next, r0);
  }
  const int64_t first_chunk_rows = std::min(plan.rows_per_chunk, next->rows);
  const auto chunk_bytes = static_cast<size_t>(rows_from(*next, first_chunk_rows) - rows_from(*next, 0));
  idle.bytes = std::min(kIdleReadBytes, chunk_bytes);
  return &idle;
}

}  // namespace

void matmul_many(std::span<const MatmulOutput> outputs, const float* x, int64_t cols, int64_t n_tokens,
                 std::span<uint8_t> scratch, ThreadPool& pool, const WeightMatrix* next) {
  if (outputs.size() > kMaxProducts) {
    throw Error("matmul: at most " + std::to_string(kMaxProducts) + " products share an input, got " +
                std::to_string(outputs.size()));
  }
  Product products[kMaxProducts];
  for (size_t i = 0; i < outputs.size(); ++i) {
    const WeightMatrix& w = *outputs[i].w;
    const QuantTraits& traits = quant_traits(w.type);
    if (traits.gemm == nullptr || traits.vec_dot == nullptr) {  // an activation-only type such as Q8_K
      throw Error("matmul: tensor type " + std::string(dtype_info(w.type).name) + " cannot be a weight");
    }
    check_args(w, n_tokens, outputs[i].ldy, dtype_info(w.type));
    if (w.cols != cols) {
      throw Error("matmul: a product of " + std::to_string(w.cols) + " columns over an input of " +
                  std::to_string(cols));
    }
    products[i].out = outputs[i];
    products[i].traits = &traits;
  }
  if (n_tokens == 0) return;

  // Activations in the form each dot wants, one conversion per token row and activation type.
  size_t used = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    Product& p = products[i];
    const DType vt = p.traits->vec_dot_type;
    if (vt == DType::F32) {
      p.xq = reinterpret_cast<const uint8_t*>(x);
      p.x_stride = static_cast<size_t>(cols) * sizeof(float);
      continue;
    }
    const Product* same = nullptr;
    for (size_t j = 0; j < i && same == nullptr; ++j) {
      if (products[j].traits->vec_dot_type == vt) same = &products[j];
    }
    if (same != nullptr) {
      p.xq = same->xq;
      p.x_stride = same->x_stride;
      continue;
    }
    const size_t need = matmul_scratch_bytes(p.out.w->type, cols, n_tokens);
    if (scratch.size() < used + need) {
      throw Error("matmul: scratch has " + std::to_string(scratch.size()) + " bytes, needs " +
                  std::to_string(used + need));
    }
    const auto addr = reinterpret_cast<uintptr_t>(scratch.data() + used);
    uint8_t* buf = scratch.data() + used + ((kScratchAlign - addr % kScratchAlign) % kScratchAlign);
    used += need;
    p.x_stride = activation_row_bytes(*p.traits, cols);
    const auto from_float = quant_traits(vt).from_float;
    const size_t stride = p.x_stride;
    const int64_t conv_chunks = std::min<int64_t>(n_tokens, static_cast<int64_t>(pool.size()) * kChunksPerThread);
    const int64_t per_chunk = ceil_div(n_tokens, conv_chunks);
    pool.parallel_for(static_cast<size_t>(ceil_div(n_tokens, per_chunk)), [&](size_t c) {
      const int64_t t0 = static_cast<int64_t>(c) * per_chunk;
      const int64_t t1 = std::min(n_tokens, t0 + per_chunk);
      for (int64_t t = t0; t < t1; ++t) from_float(x + t * cols, buf + static_cast<size_t>(t) * stride, cols);
    });
    p.xq = buf;
  }

  size_t total = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    Product& p = products[i];
    p.first_chunk = total;
    if (p.out.w->rows == 0) continue;  // no chunks; a later product at the same first chunk is found first
    p.plan = make_plan(*p.out.w, n_tokens, pool.size());
    total += static_cast<size_t>(p.plan.row_chunks * p.plan.token_chunks);
  }
  const size_t n_products = outputs.size();
  ThreadPool::IdleReads idle;
  pool.parallel_for(
      total,
      [&](size_t c) {
        size_t i = n_products - 1;
        while (products[i].first_chunk > c) --i;
        run_chunk(products[i], static_cast<int64_t>(c - products[i].first_chunk), n_tokens);
      },
      idle_reads_for(next, n_tokens, pool, idle));
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t ldy, std::span<uint8_t> scratch,
            ThreadPool& pool, const WeightMatrix* next) {
  const MatmulOutput out{&w, y, ldy};
  matmul_many(std::span<const MatmulOutput>(&out, 1), x, w.cols, n_tokens, scratch, pool, next);
}

}  // namespace ternion
