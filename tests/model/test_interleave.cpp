// Models whose matrices are packed into the interleaved layouts compute the same bits as the file layout.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"
#include "ternion/quant/interleave.h"

namespace ternion {
namespace {

// Logits of a prompt batch and of three decode steps after it.
std::vector<float> run_logits(const Model& model, ThreadPool& pool, bool hugetlb = false) {
  ContextOptions o;
  o.n_ctx = 64;
  o.hugetlb = hugetlb;
  InferenceContext ctx(model, o, pool);
  const std::vector<int32_t> prompt = {1, 450, 3186, 310, 278, 673, 2989, 322, 278, 1156};
  std::vector<float> all;
  const auto first = ctx.decode(prompt);
  all.assign(first.begin(), first.end());
  for (int32_t tok : {2987, 13, 1576}) {
    const int32_t one[] = {tok % static_cast<int32_t>(model.hparams().n_vocab)};
    const auto l = ctx.decode(one);
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

TEST(Interleave, ModelGivesTheSameLogitsInEitherLayout) {
  int checked = 0;
  for (const char* name : {"kjv-llama-Q4_0.gguf", "kjv-llama-Q8_0.gguf", "kjv-llama-Q4_K_M.gguf",
                           "kjv-llama-Q5_K_M.gguf", "kjv-llama-Q6_K.gguf", "kjv-trilm-TQ2_0.gguf"}) {
    const auto path = test::fixture(std::string("gguf/") + name);
    TERNION_REQUIRE_FIXTURE(path);
    const auto packed = Model::from_gguf(path.string(), {.resident = true});
    if (interleaved_kernels(packed->weights().layers[0].wq.type) == nullptr) {  // this type, on this CPU
      std::fprintf(stderr, "*** SKIPPED: %s: no interleaved kernels for its type on this CPU ***\n", name);
      continue;
    }
    ++checked;
    ASSERT_NE(packed->weights().layers[0].wq.interleaved, nullptr) << name;
    const auto plain = Model::from_gguf(path.string(), {.resident = false});
    ASSERT_EQ(plain->weights().layers[0].wq.interleaved, nullptr);
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      const auto want = run_logits(*plain, pool);
      const auto got = run_logits(*packed, pool);
      ASSERT_EQ(want.size(), got.size());
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(want[i]), std::bit_cast<uint32_t>(got[i]))
            << name << " threads " << threads << " logit " << i;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no interleaved kernels on this CPU";
}

// Weights and KV cache in reserved huge pages compute the same bits; without enough reserved pages, loading is a
// one-line Error naming the file (which branch runs depends on `sysctl vm.nr_hugepages` here).
TEST(Interleave, HugetlbPlacementGivesTheSameLogitsOrAClearError) {
  const auto path = test::fixture("gguf/kjv-llama-Q4_0.gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const auto plain = Model::from_gguf(path.string());
  ThreadPool pool(2);
  const auto want = run_logits(*plain, pool);
  std::unique_ptr<Model> huge;
  try {
    huge = Model::from_gguf(path.string(), {.resident = true, .hugetlb = true});
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path.string() + ": the weights", 0), 0u) << msg;
    EXPECT_NE(msg.find("huge pages"), std::string::npos) << msg;
    std::fprintf(stderr, "*** too few huge pages reserved (sysctl vm.nr_hugepages): only the refusal is checked ***\n");
    return;
  }
  ContextOptions o;
  o.n_ctx = 64;
  o.hugetlb = true;
  try {
    InferenceContext ctx(*huge, o, pool);
    EXPECT_TRUE(ctx.kv_cache_hugetlb());
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the KV cache"), std::string::npos) << e.what();
    return;
  }
  const auto got = run_logits(*huge, pool, true);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(want[i]), std::bit_cast<uint32_t>(got[i])) << "logit " << i;
  }
}

}  // namespace
}  // namespace ternion
