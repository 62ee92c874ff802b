// Multi-sequence decoding: tokens of several KV slots in one forward pass give exactly the logits each sequence
// gets alone, and greedy generation through the scheduler equals the single-sequence generator.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>

#include "server_fixture.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/engine/generate.h"
#include "ternion/model/context.h"
#include "ternion/server/scheduler.h"

namespace ternion {
namespace {

class BatchContext : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(test::server_model_path());
    model_ = load_model(test::server_model_path());
    tokenizer_ = std::make_unique<Tokenizer>(model_->vocab());
  }
  std::vector<int32_t> encode(const std::string& s) const {
    std::vector<int32_t> ids = tokenizer_->encode(s, false, false);
    ids.insert(ids.begin(), tokenizer_->vocab().bos);
    return ids;
  }
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(BatchContext, BatchedSlotsEqualSingleSequences) {
  ThreadPool pool(2);
  const std::vector<std::vector<int32_t>> prompts = {encode("And God said"), encode("In the beginning God created"),
                                                     encode("ROMEO:")};
  const size_t nv = static_cast<size_t>(model_->hparams().n_vocab);
  // Alone: each prompt then 3 more tokens, logits after each step.
  std::vector<std::vector<std::vector<float>>> alone(prompts.size());
  std::vector<std::vector<int32_t>> follow = {{262, 411, 271}, {13, 4046, 263}, {319, 390, 262}};
  for (size_t i = 0; i < prompts.size(); ++i) {
    ContextOptions o;
    o.n_ctx = 64;
    InferenceContext ctx(*model_, o, pool);
    auto l = ctx.decode(prompts[i]);
    alone[i].emplace_back(l.begin(), l.end());
    for (int32_t t : follow[i]) {
      l = ctx.decode({&t, 1});
      alone[i].emplace_back(l.begin(), l.end());
    }
  }
  // Together: prompts staggered so that prefill and decode tokens share batches.
  ContextOptions o;
  o.n_ctx = 64;
  o.n_seq = 3;
  InferenceContext ctx(*model_, o, pool);
  std::vector<BatchToken> b;
  auto add_prompt = [&](int32_t slot) {
    const auto& p = prompts[static_cast<size_t>(slot)];
    for (size_t j = 0; j < p.size(); ++j) b.push_back({p[j], slot, static_cast<int64_t>(j), j + 1 == p.size()});
  };
  std::vector<size_t> step(3, 0);
  auto check_rows = [&](std::span<const float> logits, const std::vector<int32_t>& slots) {
    ASSERT_EQ(logits.size(), slots.size() * nv);
    for (size_t r = 0; r < slots.size(); ++r) {
      const size_t s = static_cast<size_t>(slots[r]);
      const auto& want = alone[s][step[s]++];
      ASSERT_EQ(0, std::memcmp(logits.data() + r * nv, want.data(), nv * sizeof(float))) << "slot " << s;
    }
  };
  add_prompt(0);
  check_rows(ctx.decode_batch(b), {0});
  b.clear();
  b.push_back({follow[0][0], 0, static_cast<int64_t>(prompts[0].size()), true});
  add_prompt(1);
  check_rows(ctx.decode_batch(b), {0, 1});
  b.clear();
  add_prompt(2);
  b.push_back({follow[1][0], 1, static_cast<int64_t>(prompts[1].size()), true});
  b.push_back({follow[0][1], 0, static_cast<int64_t>(prompts[0].size() + 1), true});
  check_rows(ctx.decode_batch(b), {2, 1, 0});
  EXPECT_EQ(ctx.slot_len(0), static_cast<int64_t>(prompts[0].size() + 2));
  EXPECT_EQ(ctx.slot_len(2), static_cast<int64_t>(prompts[2].size()));
}

TEST_F(BatchContext, RejectsBadBatchesWithoutChangingTheCache) {
  ThreadPool pool(1);
  ContextOptions o;
  o.n_ctx = 16;
  o.n_seq = 2;
  InferenceContext ctx(*model_, o, pool);
  const std::vector<BatchToken> ok = {{1, 0, 0, true}};
  ctx.decode_batch(ok);
  const std::vector<std::vector<BatchToken>> bad = {
      {},                                                     // empty
      {{1, 2, 0, true}},                                      // slot out of range
      {{1, 1, 1, true}},                                      // gap: slot 1 is empty
      {{1, 0, 1, false}, {1, 0, 3, true}},                    // positions not consecutive
      {{1, 0, 1, false}, {1, 1, 0, false}, {1, 0, 2, true}},  // slot 0 not adjacent
      {{-1, 0, 1, true}},                                     // bad token
      {{1, 0, 16, true}},                                     // beyond the context
  };
  for (const auto& b : bad) {
    EXPECT_THROW(ctx.decode_batch(b), Error);
    EXPECT_EQ(ctx.slot_len(0), 1);
    EXPECT_EQ(ctx.slot_len(1), 0);
  }
  EXPECT_THROW(ctx.clear_slot(5), std::out_of_range);
}

TEST_F(BatchContext, SchedulerGreedyEqualsGenerator) {
  const std::vector<std::string> prompts = {"And God said, Let there be light: and there was",
                                            "ROMEO:", "In the beginning", "Blessed are the", "The LORD is my shepherd"};
  const int32_t n = test::slow_build() ? 8 : 24;
  std::vector<std::vector<int32_t>> want;
  {
    ContextOptions co;
    co.n_ctx = 128;
    Generator gen(*model_, co, 2);
    GenerateOptions go;
    go.max_tokens = n;
    go.sampling.temperature = 0;
    for (const auto& p : prompts) want.push_back(gen.generate(p, go).tokens);
  }
  server::Metrics metrics;
  server::SchedulerOptions so;
  so.n_parallel = 3;  // fewer slots than prompts: some wait in the queue and join later
  so.n_ctx = 128;
  so.n_threads = 2;
  server::Scheduler sched(*model_, *tokenizer_, so, metrics);
  std::vector<std::shared_ptr<server::GenerationTask>> tasks;
  for (size_t i = 0; i < prompts.size(); ++i) {
    server::GenerationSpec s;
    s.prompt = encode(prompts[i]);
    s.max_tokens = n - static_cast<int32_t>(i);  // they end at different steps
    s.sampling.temperature = 0;
    tasks.push_back(std::make_shared<server::GenerationTask>(s));
    ASSERT_TRUE(sched.submit(tasks.back()));
  }
  for (size_t i = 0; i < tasks.size(); ++i) {
    std::vector<server::Delta> d;
    while (!tasks[i]->wait(d, std::chrono::milliseconds(100))) {
    }
    std::vector<int32_t> got;
    for (const auto& x : d) got.insert(got.end(), x.tokens.begin(), x.tokens.end());
    std::vector<int32_t> expect(want[i].begin(), want[i].begin() + std::min<size_t>(want[i].size(), got.size()));
    EXPECT_EQ(got, expect) << prompts[i];
    EXPECT_EQ(got.size(), std::min<size_t>(want[i].size(), static_cast<size_t>(n) - i));
  }
}

TEST_F(BatchContext, SchedulerCancelFreesTheSlotAndQueueIsBounded) {
  server::Metrics metrics;
  server::SchedulerOptions so;
  so.n_parallel = 1;
  so.n_ctx = 256;
  so.max_queue = 1;
  so.n_threads = 1;
  server::Scheduler sched(*model_, *tokenizer_, so, metrics);
  auto make = [&] {
    server::GenerationSpec s;
    s.prompt = encode("And God said");
    s.max_tokens = 200;
    s.ignore_eos = true;
    return std::make_shared<server::GenerationTask>(s);
  };
  auto a = make(), b = make(), c = make();
  ASSERT_TRUE(sched.submit(a));
  const bool b_in = sched.submit(b);
  const bool c_in = sched.submit(c);
  EXPECT_FALSE(b_in && c_in) << "one slot and a queue of one cannot hold three requests";
  a->cancel();
  std::vector<server::Delta> d;
  const auto t0 = std::chrono::steady_clock::now();
  while (!a->wait(d, std::chrono::milliseconds(50))) {
  }
  EXPECT_EQ(a->finish_reason(), "cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  if (b_in) {
    b->cancel();
    while (!b->wait(d, std::chrono::milliseconds(50))) {
    }
    EXPECT_EQ(b->finish_reason(), "cancelled");
  }
}

}  // namespace
}  // namespace ternion
