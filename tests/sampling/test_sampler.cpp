#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/sampling/sampler.h"

namespace ternion {
namespace {

SamplingParams plain(float temp) {
  SamplingParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  Sampler s(plain(0.0f), 5);
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 3.0f, -1.0f, 3.0f, 2.0f}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{5.0f, 3.0f, -1.0f, 3.0f, 2.0f}), 0);
}

TEST(Sampler, SameSeedSameDraws) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i));
  auto run = [&](uint64_t seed) {
    SamplingParams p = plain(1.0f);
    p.seed = seed;
    Sampler s(p, 50);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(logits));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, DrawsFollowTheDistribution) {
  // logits log(1), log(2), log(3), log(4): probabilities 0.1 .. 0.4
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  SamplingParams p = plain(1.0f);
  p.seed = 7;
  Sampler s(p, 4);
  std::map<int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(logits)];
  for (int id = 0; id < 4; ++id) {
    EXPECT_NEAR(static_cast<double>(counts[id]) / n, 0.1 * (id + 1), 0.015) << id;
  }
}

TEST(Sampler, TopKKeepsOnlyTheBest) {
  SamplingParams p = plain(1.0f);
  p.top_k = 2;
  Sampler s(p, 5);
  const std::vector<float> logits = {1.0f, 5.0f, 4.9f, 0.0f, 2.0f};
  for (int i = 0; i < 500; ++i) {
    const int32_t t = s.sample(logits);
    EXPECT_TRUE(t == 1 || t == 2) << t;
  }
}

TEST(Sampler, TopPCutsTheTail) {
  SamplingParams p = plain(1.0f);
  p.top_p = 0.5f;
  Sampler s(p, 3);
  // probabilities ≈ 0.665, 0.245, 0.090: top-p 0.5 keeps only the first
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f};
  for (int i = 0; i < 200; ++i) EXPECT_EQ(s.sample(logits), 0);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplingParams p = plain(1.0f);
  p.min_p = 0.3f;
  Sampler s(p, 3);
  // probabilities ≈ 0.665, 0.245, 0.090: 0.090 < 0.3·0.665, 0.245 ≥ 0.2
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f};
  bool saw1 = false;
  for (int i = 0; i < 400; ++i) {
    const int32_t t = s.sample(logits);
    EXPECT_NE(t, 2);
    saw1 |= t == 1;
  }
  EXPECT_TRUE(saw1);
}

TEST(Sampler, RepeatPenaltyDemotesSeenTokens) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p, 3);
  const std::vector<float> logits = {3.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(logits), 0);
  s.accept(0);  // 3 / 2 = 1.5 < 2
  EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, RepeatPenaltyWindowForgets) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 10.0f;
  p.repeat_last_n = 2;
  Sampler s(p, 4);
  const std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.5f};
  s.accept(0);
  EXPECT_EQ(s.sample(logits), 1);
  s.accept(3);
  s.accept(3);  // token 0 has left the window of two
  EXPECT_EQ(s.sample(logits), 0);
}

TEST(Sampler, FrequencyAndPresencePenalties) {
  SamplingParams p = plain(0.0f);
  p.frequency_penalty = 0.6f;
  p.presence_penalty = 0.5f;
  Sampler s(p, 2);
  const std::vector<float> logits = {2.0f, 1.0f};
  s.accept(0);  // 2 - 0.6 - 0.5 = 0.9 < 1
  EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, LogitBias) {
  SamplingParams p = plain(0.0f);
  p.logit_bias = {{2, 10.0f}};
  Sampler s(p, 3);
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 2.0f, 0.0f}), 2);
}

TEST(Sampler, RejectsBadValues) {
  auto bad = [](auto mutate) {
    SamplingParams p;
    mutate(p);
    EXPECT_THROW(p.validate(), Error);
  };
  bad([](SamplingParams& p) { p.top_p = 0.0f; });
  bad([](SamplingParams& p) { p.min_p = 1.5f; });
  bad([](SamplingParams& p) { p.repeat_penalty = 0.0f; });
  bad([](SamplingParams& p) { p.temperature = NAN; });
  bad([](SamplingParams& p) { p.repeat_last_n = -2; });
  SamplingParams p;
  p.logit_bias = {{9, 1.0f}};
  EXPECT_THROW(Sampler(p, 3), Error);
  Sampler s(SamplingParams{}, 3);
  EXPECT_THROW(s.sample(std::vector<float>{1.0f}), Error);
}

TEST(Sampler, ResetRestartsTheStream) {
  SamplingParams p = plain(1.0f);
  p.seed = 3;
  Sampler s(p, 10);
  std::vector<float> logits(10, 0.0f);
  std::vector<int32_t> a, b;
  for (int i = 0; i < 20; ++i) a.push_back(s.sample(logits));
  s.reset();
  for (int i = 0; i < 20; ++i) b.push_back(s.sample(logits));
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace ternion
