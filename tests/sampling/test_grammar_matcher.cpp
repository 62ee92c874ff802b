// The matcher over a token vocabulary: the trie walk against the per-token check, partial UTF-8 tokens, the end
// rule; the sampler's lazy grammar check against masking first.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/sampling/grammar.h"
#include "ternion/sampling/grammar_matcher.h"
#include "ternion/sampling/json_schema.h"
#include "ternion/sampling/sampler.h"

namespace ternion {
namespace {

// Single characters, words, JSON-ish pieces, UTF-8 split across tokens, an empty control token and an end token.
std::shared_ptr<const GrammarVocab> test_vocab() {
  std::vector<std::string> pieces;
  for (int c = 32; c < 127; ++c) pieces.emplace_back(1, static_cast<char>(c));
  for (const char* p :
       {"\n",   "{\"",          "\":",   " \"",  "\",",  "\"}",    "true", "false", "null",     "12",
        "-3",   "ab",           "abc",   " {",   "[1",   ", ",     "\xc3", "\xa9",  "\xc3\xa9", "\xe2\x82",
        "\xac", "\xe2\x82\xac", "\xa9x", "\x80", "\xff", "\"\xc3", "aaaa", "  ",    "\n  "}) {
    pieces.emplace_back(p);
  }
  pieces.emplace_back("");  // a control token: never allowed
  pieces.emplace_back("");  // end of generation
  std::vector<bool> eog(pieces.size(), false);
  eog.back() = true;
  return std::make_shared<const GrammarVocab>(std::move(pieces), std::move(eog));
}

GrammarMatcher make(const std::string& gbnf, std::shared_ptr<const GrammarVocab> vocab) {
  return GrammarMatcher(std::make_shared<const Grammar>(Grammar::parse(gbnf)), std::move(vocab));
}

// The trie walk must give exactly the tokens the per-token check allows, along random paths through the grammar.
void check_masks_along_random_paths(const std::string& gbnf, uint64_t seed) {
  auto vocab = test_vocab();
  std::mt19937_64 rng(seed);
  for (int run = 0; run < 20; ++run) {
    GrammarMatcher m = make(gbnf, vocab);
    std::vector<uint8_t> mask;
    for (int step = 0; step < 40; ++step) {
      m.allowed_tokens(mask);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < vocab->n_vocab(); ++id) {
        ASSERT_EQ(mask[static_cast<size_t>(id)] != 0, m.allows(id)) << gbnf << " token " << id << " step " << step;
        if (mask[static_cast<size_t>(id)]) allowed.push_back(id);
      }
      if (allowed.empty()) break;
      const int32_t pick = allowed[rng() % allowed.size()];
      if (vocab->is_eog(pick)) break;
      m.accept(pick);
    }
  }
}

TEST(GrammarMatcher, TrieWalkEqualsPerTokenCheck) {
  check_masks_along_random_paths(json_object_gbnf(), 1);
  check_masks_along_random_paths("root ::= [^a-z\\u00e9]* \"\xe2\x82\xac\" | \"\xc3\xa9\"+ \"x\"", 2);
  check_masks_along_random_paths("root ::= (\"ab\" | \"abc\" | [0-9]+) \" \"? root | \"!\"", 3);
  check_masks_along_random_paths("root ::= .{2,5}", 4);
}

TEST(GrammarMatcher, PartialUtf8AcrossTokens) {
  auto vocab = test_vocab();
  auto id_of = [&](const std::string& s) {
    for (int32_t i = 0; i < vocab->n_vocab(); ++i) {
      if (vocab->piece(i) == s) return i;
    }
    return -1;
  };
  GrammarMatcher m = make("root ::= \"\xc3\xa9x\"", vocab);
  EXPECT_TRUE(m.allows(id_of("\xc3")));
  EXPECT_FALSE(m.allows(id_of("\xe2\x82")));  // could only start U+2000..U+20BF
  EXPECT_FALSE(m.allows(id_of("\xa9")));      // a continuation byte with nothing before it
  EXPECT_FALSE(m.allows(id_of("\xff")));
  m.accept(id_of("\xc3"));
  EXPECT_FALSE(m.can_end());
  EXPECT_FALSE(m.allows(id_of("x")));
  EXPECT_TRUE(m.allows(id_of("\xa9x")));
  EXPECT_TRUE(m.allows(id_of("\xa9")));
  m.accept(id_of("\xa9x"));
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(m.finished());
  EXPECT_THROW(m.accept(id_of("x")), Error);
}

TEST(GrammarMatcher, PartialCharacterAgainstANegatedClassIsExact) {
  auto vocab = test_vocab();
  auto id_of = [&](const std::string& s) {
    for (int32_t i = 0; i < vocab->n_vocab(); ++i) {
      if (vocab->piece(i) == s) return i;
    }
    return -1;
  };
  // \xc3 starts U+00C0..U+00FF: two ranges together exclude all of them, one alone does not.
  EXPECT_FALSE(make("root ::= [^\\u00C0-\\u00DF\\u00E0-\\u00FF]", vocab).allows(id_of("\xc3")));
  EXPECT_TRUE(make("root ::= [^\\u00C0-\\u00DF\\u00E1-\\u00FF]", vocab).allows(id_of("\xc3")));
  EXPECT_TRUE(make("root ::= [^\\u00C0-\\u00DF]", vocab).allows(id_of("\xc3")));
  EXPECT_FALSE(make("root ::= [^\\u0080-\\u07FF]", vocab).allows(id_of("\xc3")));
  GrammarMatcher m = make("root ::= [^\\u00C0-\\u00E8\\u00EA-\\u00FF]", vocab);  // only é (U+00E9) is left
  EXPECT_TRUE(m.allows(id_of("\xc3")));
  EXPECT_TRUE(m.allows(id_of("\xc3\xa9")));
  m.accept(id_of("\xc3"));
  EXPECT_TRUE(m.allows(id_of("\xa9")));
  EXPECT_FALSE(m.allows(id_of("\xa9x")));
}

TEST(GrammarMatcher, EndOfGenerationOnlyWhereTheGrammarCanEnd) {
  auto vocab = test_vocab();
  const int32_t eog = vocab->n_vocab() - 1, control = vocab->n_vocab() - 2;
  GrammarMatcher m = make("root ::= \"a\"+", vocab);
  EXPECT_FALSE(m.allows(eog));
  EXPECT_FALSE(m.allows(control));
  EXPECT_FALSE(m.allows(-1));
  EXPECT_TRUE(m.accept_text("aa"));
  EXPECT_FALSE(m.accept_text("b"));
  EXPECT_TRUE(m.allows(eog));
  EXPECT_FALSE(m.finished());  // more a's may follow
  std::vector<uint8_t> mask;
  m.allowed_tokens(mask);
  EXPECT_TRUE(mask[static_cast<size_t>(eog)]);
  EXPECT_FALSE(mask[static_cast<size_t>(control)]);
  m.accept(eog);
  EXPECT_FALSE(m.allows(eog));
}

SamplingParams plain(float temp, const std::string& grammar) {
  SamplingParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.grammar = grammar;
  return p;
}

std::vector<float> random_logits(std::mt19937_64& rng, int32_t n) {
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> l(static_cast<size_t>(n));
  for (float& x : l) x = d(rng);
  return l;
}

TEST(GrammarSampler, AGrammarThatAllowsEverythingChangesNoDraw) {
  std::vector<std::string> pieces;
  for (int c = 32; c < 127; ++c) pieces.emplace_back(1, static_cast<char>(c));
  pieces.emplace_back("\xc3\xa9");
  pieces.emplace_back("");  // end of generation: allowed anywhere, as any text is complete
  std::vector<bool> eog(pieces.size(), false);
  eog.back() = true;
  auto vocab = std::make_shared<const GrammarVocab>(std::move(pieces), std::move(eog));
  const int32_t n = vocab->n_vocab();
  for (float temp : {0.0f, 0.8f}) {
    std::mt19937_64 rng(7);
    SamplingParams free = plain(temp, "");
    free.top_k = 20;
    free.seed = 11;
    free.logit_bias = {{n - 1, -30.0f}};  // end rarely, so that the runs are long
    SamplingParams constrained = free;
    constrained.grammar = "root ::= ([^\\x00] | [\\x00])*";  // any text
    Sampler a(free, n), b(constrained, n, vocab);
    for (int i = 0; i < 200; ++i) {
      const std::vector<float> logits = random_logits(rng, n);
      const int32_t t = a.sample(logits);
      ASSERT_EQ(t, b.sample(logits)) << i;
      if (vocab->is_eog(t)) break;  // the output ended
    }
    EXPECT_EQ(b.grammar_resamples(), 0);
  }
}

TEST(GrammarSampler, OutputAlwaysMatchesTheGrammar) {
  auto vocab = test_vocab();
  const int32_t n = vocab->n_vocab();
  const std::string gbnf = "root ::= \"[\" [0-9]{1,3} (\", \" [0-9]{1,3}){0,3} \"]\"";
  for (uint64_t seed = 0; seed < 10; ++seed) {
    for (float temp : {0.0f, 0.8f, 1.5f}) {
      std::mt19937_64 rng(seed);
      SamplingParams p = plain(temp, gbnf);
      p.seed = seed;
      Sampler s(p, n, vocab);
      std::string text;
      for (int i = 0; i < 100 && !s.grammar()->finished(); ++i) {
        const int32_t t = s.sample(random_logits(rng, n));
        if (vocab->is_eog(t)) break;
        text += vocab->piece(t);
      }
      GrammarMatcher check = make(gbnf, vocab);
      EXPECT_TRUE(check.accept_text(text) && check.can_end()) << text;
      EXPECT_GT(s.grammar_resamples(), 0);
    }
  }
}

TEST(GrammarSampler, LazyCheckDrawsFromTheMaskedDistribution) {
  // Plain temperature sampling: P(t | allowed) either way. Compare frequencies of masking first and of the lazy
  // check over many draws.
  auto vocab = test_vocab();
  const int32_t n = vocab->n_vocab();
  std::mt19937_64 rng(3);
  const std::vector<float> logits = random_logits(rng, n);
  const std::string gbnf = "root ::= [a-f]";
  GrammarMatcher m = make(gbnf, vocab);
  std::vector<uint8_t> mask;
  m.allowed_tokens(mask);
  double z = 0;
  for (int32_t i = 0; i < n; ++i) z += mask[static_cast<size_t>(i)] ? std::exp(logits[static_cast<size_t>(i)]) : 0.0;
  std::vector<double> count(static_cast<size_t>(n), 0.0);
  const int draws = 20000;
  const SamplingParams p = plain(1.0f, gbnf);
  for (int i = 0; i < draws; ++i) {
    SamplingParams q = p;
    q.seed = static_cast<uint64_t>(i);
    Sampler one(q, n, vocab);
    count[static_cast<size_t>(one.sample(logits))] += 1;
  }
  for (int32_t i = 0; i < n; ++i) {
    const double expected = mask[static_cast<size_t>(i)] ? std::exp(logits[static_cast<size_t>(i)]) / z : 0.0;
    EXPECT_NEAR(count[static_cast<size_t>(i)] / draws, expected, 0.015) << i;
  }
}

TEST(GrammarSampler, ResetStartsTheGrammarAgain) {
  auto vocab = test_vocab();
  const int32_t n = vocab->n_vocab();
  SamplingParams p = plain(0.8f, "root ::= \"ab\" [0-9]+");
  p.seed = 9;
  Sampler s(p, n, vocab);
  std::mt19937_64 rng(1);
  std::vector<std::vector<float>> steps;
  for (int i = 0; i < 6; ++i) steps.push_back(random_logits(rng, n));
  auto run = [&] {
    std::string text;
    for (const auto& l : steps) {
      const int32_t t = s.sample(l);
      if (vocab->is_eog(t)) break;
      text += vocab->piece(t);
    }
    return text;
  };
  const std::string first = run();
  EXPECT_EQ(first.substr(0, 2), "ab");
  s.reset();
  EXPECT_EQ(run(), first);
}

TEST(GrammarSampler, ErrorsAreClear) {
  auto vocab = test_vocab();
  const int32_t n = vocab->n_vocab();
  EXPECT_THROW(Sampler(plain(0.8f, "root ::= \"a\""), n), Error);  // no vocabulary
  EXPECT_THROW(Sampler(plain(0.8f, "root ::= ("), n, vocab), Error);
  Sampler s(plain(0.8f, "root ::= \"\\u4e2d\""), n, vocab);  // no token can write it
  try {
    s.sample(std::vector<float>(static_cast<size_t>(n), 0.0f));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "grammar: no token of the vocabulary can continue the output");
  }
}

}  // namespace
}  // namespace ternion
