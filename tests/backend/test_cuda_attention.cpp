// The CUDA backend's KV cache, attention and experts against the CPU backend's (cuda_compare.h): GQA, head sizes that
// are not a multiple of 32, contexts long enough to split the keys, sliding windows whose cache moves, several
// slots, soft-capping and ALiBi, F16 and F32 caches.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cuda_compare.h"

namespace ternion::test {
namespace {

struct AttentionCase {
  DType type;
  float softcap;
  bool alibi;
};

class CudaAttention : public CudaVsCpu, public ::testing::WithParamInterface<AttentionCase> {};

// Runs `n` tokens of `slot` at positions p0.. through both layers on both backends and compares the outputs.
struct Runner {
  CudaVsCpu& t;
  KvCache& cpu_cache;
  KvCache& gpu_cache;
  AttentionOptions options;
  int64_t n_head, n_head_kv, hd;
  double abs;

  void step(Backend& b, KvCache& cache, const TensorPair& q, const TensorPair& k, const TensorPair& v,
            const TensorPair& out, bool gpu, int64_t layer, int32_t slot, std::span<const int32_t> pos,
            int64_t window) {
    const std::vector<int32_t> slots(pos.size(), slot);
    b.store_kv(cache, layer, gpu ? k.gpu : k.cpu, gpu ? v.gpu : v.cpu, slots, pos);
    AttentionOptions o = options;
    o.window = window;
    b.attention(cache, layer, slot, gpu ? q.gpu : q.cpu, n_head, pos, o, gpu ? out.gpu : out.cpu);
  }

  void run(int32_t slot, int64_t p0, int64_t n, uint32_t seed, const std::vector<int64_t>& windows) {
    std::vector<int32_t> pos(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = static_cast<int32_t>(p0 + i);
    for (size_t layer = 0; layer < windows.size(); ++layer) {
      TensorPair q = t.random(n, n_head * hd, seed, n_head * hd + 4);
      TensorPair k = t.random(n, n_head_kv * hd, seed + 1);
      TensorPair v = t.random(n, n_head_kv * hd, seed + 2, n_head_kv * hd + 2);
      TensorPair out = t.make(n, n_head * hd, std::vector<float>(static_cast<size_t>(n * n_head * hd)));
      step(*t.cpu_, cpu_cache, q, k, v, out, false, static_cast<int64_t>(layer), slot, pos, windows[layer]);
      step(*t.gpu_, gpu_cache, q, k, v, out, true, static_cast<int64_t>(layer), slot, pos, windows[layer]);
      t.expect_close(out, 1e-3, abs,
                     "attention, slot " + std::to_string(slot) + ", layer " + std::to_string(layer) + ", positions " +
                         std::to_string(p0) + ".." + std::to_string(p0 + n - 1));
    }
  }
};

TEST_P(CudaAttention, MatchesTheCpu) {
  const AttentionCase c = GetParam();
  KvCacheSpec spec;
  spec.type = c.type;
  spec.n_seq = 2;
  spec.n_head_kv = 2;
  spec.head_dim = 80;
  spec.n_ctx = 700;
  spec.n_batch = 32;
  spec.layer_window = {0, 40};  // a full layer, and a sliding one that keeps 71 positions
  const auto cpu_cache = cpu_->make_kv_cache(spec);
  const auto gpu_cache = gpu_->make_kv_cache(spec);
  const int64_t n_head = 8;
  cpu_->reserve_attention(n_head, spec.n_ctx, spec.head_dim, spec.type);
  gpu_->reserve_attention(n_head, spec.n_ctx, spec.head_dim, spec.type);
  std::vector<float> slopes = alibi_slopes(n_head, 8.0f);
  Runner r{*this,  *cpu_cache,     *gpu_cache,    {},
           n_head, spec.n_head_kv, spec.head_dim, c.type == DType::F32 ? 1e-5 : 3e-3};
  r.options.scale = 1.0f / std::sqrt(80.0f);
  r.options.softcap = c.softcap;
  r.options.alibi = c.alibi ? slopes.data() : nullptr;
  const std::vector<int64_t> windows = {0, 40};
  // Slot 0: a prompt in batches (the sliding layer's cache moves), past one split of 256 keys; then decode steps.
  uint32_t seed = 100;
  for (int64_t p = 0; p < 544; p += 32) r.run(0, p, 32, seed += 3, windows);
  for (int64_t p = 544; p < 548; ++p) r.run(0, p, 1, seed += 3, windows);
  // Slot 1 from the start, a short odd batch.
  r.run(1, 0, 7, seed += 3, windows);
  r.run(1, 7, 1, seed += 3, windows);
}

INSTANTIATE_TEST_SUITE_P(Caches, CudaAttention,
                         ::testing::Values(AttentionCase{DType::F16, 0.0f, false},
                                           AttentionCase{DType::F32, 0.0f, false},
                                           AttentionCase{DType::F16, 30.0f, false},
                                           AttentionCase{DType::F32, 0.0f, true}),
                         [](const ::testing::TestParamInfo<AttentionCase>& p) {
                           const AttentionCase& c = p.param;
                           return std::string(c.type == DType::F16 ? "F16" : "F32") + (c.softcap > 0 ? "Softcap" : "") +
                                  (c.alibi ? "Alibi" : "");
                         });

// A query's output is the same bits whatever other queries share its call.
TEST_F(CudaVsCpu, AttentionDoesNotDependOnTheBatch) {
  KvCacheSpec spec;
  spec.n_head_kv = 1;
  spec.head_dim = 64;
  spec.n_ctx = 600;
  spec.n_batch = 600;
  spec.layer_window = {0};
  const auto cache = gpu_->make_kv_cache(spec);
  gpu_->reserve_attention(4, spec.n_ctx, 64, spec.type);
  std::vector<int32_t> pos(600), slots(600, 0);
  for (int32_t i = 0; i < 600; ++i) pos[static_cast<size_t>(i)] = i;
  TensorPair q = random(600, 4 * 64, 1), k = random(600, 64, 2), v = random(600, 64, 3);
  TensorPair out = make(600, 4 * 64, std::vector<float>(600 * 4 * 64));
  TensorPair last = make(1, 4 * 64, std::vector<float>(4 * 64));
  gpu_->store_kv(*cache, 0, k.gpu, v.gpu, slots, pos);
  AttentionOptions o;
  o.scale = 0.125f;
  gpu_->attention(*cache, 0, 0, q.gpu, 4, pos, o, out.gpu);
  gpu_->attention(*cache, 0, 0, q.gpu.rows_at(599, 1), 4, std::span<const int32_t>(pos).last(1), o, last.gpu);
  const auto a = read(*gpu_, out.gpu.rows_at(599, 1)), b = read(*gpu_, last.gpu);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
  const std::vector<int32_t> outside = {600};
  EXPECT_THROW(gpu_->attention(*cache, 0, 0, q.gpu.rows_at(0, 1), 4, outside, o, last.gpu), Error);
}

// Experts as llama.cpp's 3-D tensors: one F32 matrix view per expert.
struct Experts {
  std::vector<std::vector<float>> data;
  std::vector<WeightMatrix> gate, up, down;
  Experts(int64_t n_expert, int64_t n_embd, int64_t ff, bool gated) {
    data.reserve(static_cast<size_t>(n_expert * 3));  // the views point into these vectors
    for (int64_t e = 0; e < n_expert; ++e) {
      const auto seed = static_cast<uint32_t>(e * 3);
      auto add = [&](std::vector<WeightMatrix>& list, int64_t rows, int64_t cols, uint32_t s) {
        data.push_back(random_values(static_cast<size_t>(rows * cols), s, -0.3f, 0.3f));
        list.push_back({DType::F32, rows, cols, reinterpret_cast<const uint8_t*>(data.back().data()),
                        static_cast<size_t>(cols) * 4});
      };
      if (gated) add(gate, ff, n_embd, seed);
      add(up, ff, n_embd, seed + 1);
      add(down, n_embd, ff, seed + 2);
    }
  }
};

TEST_F(CudaVsCpu, MixtureOfExperts) {
  const int64_t n_expert = 6, n_embd = 64, ff = 40, n = 5;
  // Both sets alive at once: the GPU keeps weight copies by host address, which a freed set's successor could reuse.
  const Experts with_gate(n_expert, n_embd, ff, true), without_gate(n_expert, n_embd, ff, false);
  for (const bool gated : {true, false}) {
    const Experts& e = gated ? with_gate : without_gate;
    MoeExperts experts{e.gate, e.up, e.down, gated ? Activation::kSilu : Activation::kGeluErf};
    for (const MoeGating gating : {MoeGating::kSoftmaxThenTopK, MoeGating::kTopKThenSoftmax}) {
      const MoeRouting routing{2, gating, true};
      cpu_->reserve_moe(experts, 2, n);
      gpu_->reserve_moe(experts, 2, n);
      TensorPair x = random(n, n_embd, 7), logits = random(n, n_expert, 8);
      TensorPair y = make(n, n_embd, std::vector<float>(n * n_embd));
      cpu_->moe_ffn(experts, routing, x.cpu, logits.cpu, y.cpu);
      gpu_->moe_ffn(experts, routing, x.gpu, logits.gpu, y.gpu);
      expect_close(y, 1e-4, 1e-5, gated ? "moe_ffn gated" : "moe_ffn");
    }
  }
}

}  // namespace
}  // namespace ternion::test
