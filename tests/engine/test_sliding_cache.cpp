// The KV cache of sliding-window layers keeps only what their attention reads (window - 1 + n_batch positions),
// moving the kept rows to the front when a run would pass the end; the results are the bits of a cache that keeps
// every position. Also the backend's matmul observer (the hook importance matrices use).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/backend/cpu_backend.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/core/thread_pool.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

class SlidingCache : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir() const { return test::fixture("arch/" + GetParam()); }
};

// A prompt, then greedy steps far past the window: a small batch (the ring) against a batch as large as the context
// (every position kept), for both cache types.
TEST_P(SlidingCache, KeepsTheWindowWithTheSameBits) {
  TERNION_REQUIRE_FIXTURE(dir() / "model.safetensors");
  const auto model = load_model(dir().string());
  const HParams& hp = model->hparams();
  ASSERT_GT(hp.sliding_window, 0);
  ThreadPool pool(2);
  for (const DType kv : {DType::F16, DType::F32}) {
    ContextOptions full_opt;
    full_opt.n_ctx = 96;
    full_opt.n_batch = 96;
    full_opt.kv_type = kv;
    ContextOptions ring_opt = full_opt;
    ring_opt.n_batch = 3;
    InferenceContext full(*model, full_opt, pool);
    InferenceContext ring(*model, ring_opt, pool);
    for (int64_t il = 0; il < hp.n_layer; ++il) {
      const int64_t want = hp.swa_layers[static_cast<size_t>(il)] ? hp.sliding_window - 1 + 3 : 96;
      EXPECT_EQ(ring.kv_capacity(il), want) << "layer " << il;
      EXPECT_EQ(full.kv_capacity(il), 96) << "layer " << il;
    }
    EXPECT_LT(ring.kv_cache_bytes(), full.kv_cache_bytes());

    std::vector<int32_t> prompt;
    for (int32_t i = 0; i < 20; ++i) prompt.push_back((i * 37 + 11) % static_cast<int32_t>(hp.n_vocab));
    auto a = full.decode(prompt);
    auto b = ring.decode(prompt);
    ASSERT_TRUE(same_bits(a, b)) << GetParam() << ": after the prompt";
    for (int step = 0; step < 70; ++step) {
      const int32_t next = argmax(a);
      a = full.decode(std::span<const int32_t>(&next, 1));
      b = ring.decode(std::span<const int32_t>(&next, 1));
      ASSERT_TRUE(same_bits(a, b)) << GetParam() << ": step " << step;
    }
  }
}

// A run may start earlier than a slot's length only where the sliding layers still hold the keys it reads; an
// earlier start is one clear error and leaves the cache as it was.
TEST_P(SlidingCache, RestartsOnlyWhereTheKeysAreKept) {
  TERNION_REQUIRE_FIXTURE(dir() / "model.safetensors");
  const auto model = load_model(dir().string());
  const HParams& hp = model->hparams();
  ThreadPool pool(1);
  ContextOptions full_opt;
  full_opt.n_ctx = 64;
  full_opt.n_seq = 2;
  ContextOptions ring_opt = full_opt;
  ring_opt.n_batch = 2;
  InferenceContext full(*model, full_opt, pool);
  InferenceContext ring(*model, ring_opt, pool);
  std::vector<BatchToken> batch;
  for (int32_t i = 0; i < 40; ++i) {
    batch.clear();
    for (int32_t slot = 0; slot < 2; ++slot) batch.push_back({(i * 13 + slot * 7 + 3) % 100, slot, i, true});
    ASSERT_TRUE(same_bits(full.decode_batch(batch), ring.decode_batch(batch))) << GetParam() << ": token " << i;
  }
  EXPECT_TRUE(ring.can_start_at(0, 40));
  EXPECT_TRUE(ring.can_start_at(0, 0));
  EXPECT_FALSE(ring.can_start_at(0, 10));
  EXPECT_FALSE(ring.can_start_at(0, 41));  // beyond the slot's length
  const std::vector<BatchToken> early{{5, 0, 10, true}};
  try {
    ring.decode_batch(early);
    FAIL() << "a run before the kept keys was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sliding-window layers no longer hold"), std::string::npos) << e.what();
  }
  // Rewind both to the earliest position the ring can restart from (at most window - 1 + n_batch back), and go
  // on: the same bits.
  int64_t restart = 1;
  while (restart < 40 && !ring.can_start_at(1, restart)) ++restart;
  EXPECT_LT(restart, 40);
  EXPECT_GE(restart, 40 - (hp.sliding_window - 1 + 2));
  for (int32_t i = static_cast<int32_t>(restart); i < 44; ++i) {
    const std::vector<BatchToken> one{{(i * 5) % 100, 1, i, true}};
    ASSERT_TRUE(same_bits(full.decode_batch(one), ring.decode_batch(one))) << GetParam() << ": rewound, " << i;
  }
  ring.clear_slot(0);
  EXPECT_TRUE(ring.can_start_at(0, 0));
}

INSTANTIATE_TEST_SUITE_P(Windows, SlidingCache, ::testing::Values("mistral-swa", "gemma2", "gemma3"));

// Every matmul's input passes the observer once, in the matrix's row length, before the product.
TEST(BackendObserver, SeesEveryMatmulInput) {
  const fs::path dir = test::fixture("arch/qwen3");
  TERNION_REQUIRE_FIXTURE(dir / "model.safetensors");
  const auto model = load_model(dir.string());
  struct Counter final : MatmulObserver {
    int calls = 0;
    int64_t rows = 0;
    bool shapes_ok = true;
    void observe(const WeightMatrix& w, Tensor x) override {
      ++calls;
      rows += x.rows;
      shapes_ok = shapes_ok && x.cols == w.cols;
    }
  } counter;
  ThreadPool pool(1);
  CpuBackend backend(pool);
  backend.set_matmul_observer(&counter);
  ContextOptions opt;
  opt.n_ctx = 32;
  InferenceContext ctx(*model, opt, backend);
  const std::vector<int32_t> prompt{1, 2, 3, 4, 5};
  ctx.decode(prompt);
  const int64_t n_layer = model->hparams().n_layer;
  // q, k, v, o, gate, up, down per layer, then the output (over the last token only).
  EXPECT_EQ(counter.calls, 7 * n_layer + 1);
  EXPECT_EQ(counter.rows, 7 * n_layer * 5 + 1);
  EXPECT_TRUE(counter.shapes_ok);
  EXPECT_EQ(backend.name(), "cpu");
}

}  // namespace
}  // namespace ternion
