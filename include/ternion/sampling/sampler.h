// The sampler chain: logit bias → penalties → [grammar] → top-k → top-p → min-p → temperature → draw.
// Temperature ≤ 0 is greedy (arg-max, lowest id on ties). The same seed gives the same draws; all
// buffers are sized once, so sampling a token allocates nothing.
//
// A grammar (GBNF, grammar.h) constrains the output. It is applied lazily: the chain draws as if unconstrained and
// keeps the token when the grammar allows it (one walk over that token's bytes); only otherwise are the disallowed
// tokens masked and the chain run again. For plain temperature sampling this draws from exactly the masked
// distribution (P(t) + P(rejected)·P(t)/P(allowed) = P(t)/P(allowed)); with top-k/top-p it can differ slightly, as
// in llama.cpp. Without a grammar nothing of this runs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ternion/core/param_rules.h"
#include "ternion/sampling/grammar_matcher.h"

namespace ternion {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;              // 0: off
  float top_p = 0.95f;             // 1: off
  float min_p = 0.05f;             // 0: off
  float repeat_penalty = 1.0f;     // 1: off; divides positive logits of recent tokens, multiplies negative ones
  int32_t repeat_last_n = 64;      // window of recent tokens the penalties look at (-1: all seen, 0: none)
  float presence_penalty = 0.0f;   // OpenAI-style, subtracted once per token present in the window
  float frequency_penalty = 0.0f;  // subtracted per occurrence in the window
  uint64_t seed = 0;
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logit of each id
  std::string grammar;                                // GBNF the output must match; empty: unconstrained

  // Throws ParamError naming the parameter as `surface` does when a value is outside its rule
  // (core/param_rules.h), e.g. "--top-p must be in (0, 1], got 2".
  void validate(ParamSurface surface = ParamSurface::kRequest) const;
};

class Sampler {
 public:
  // `vocab` (the token texts) is needed only with a grammar; throws Error for a grammar without one, or one that
  // does not parse.
  Sampler(SamplingParams params, int32_t n_vocab, std::shared_ptr<const GrammarVocab> vocab = nullptr);

  // Picks the next token from raw logits (n_vocab values). With a grammar, the token is part of the output: the
  // grammar moves past it. Throws Error when the grammar allows no token of the vocabulary.
  int32_t sample(std::span<const float> logits);
  // Records a token of the context (prompt or generated) for the penalties.
  void accept(int32_t token);
  void reset();  // forgets the history and re-seeds

  const SamplingParams& params() const { return params_; }
  // The grammar's state (null without one): whether the output can end, or must end, here.
  const GrammarMatcher* grammar() const { return grammar_ ? &*grammar_ : nullptr; }
  // Grammar checks: draws kept as they came, and draws redone over the masked vocabulary.
  int64_t grammar_hits() const { return grammar_hits_; }
  int64_t grammar_resamples() const { return grammar_resamples_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  void apply_penalties();
  // The chain from bias to draw; with `allowed`, over the allowed ids only.
  int32_t sample_from(std::span<const float> logits, const std::vector<uint8_t>* allowed);
  int32_t draw(size_t n);
  double uniform01();

  SamplingParams params_;
  int32_t n_vocab_;
  std::mt19937_64 rng_;
  std::vector<Candidate> cand_;
  std::vector<int32_t> history_;  // ring buffer of the last tokens
  size_t history_pos_ = 0;
  size_t history_len_ = 0;
  std::vector<int32_t> counts_;  // occurrences in the window, per id
  std::shared_ptr<const Grammar> grammar_text_;
  std::optional<GrammarMatcher> grammar_;
  std::vector<uint8_t> allowed_;
  int64_t grammar_hits_ = 0, grammar_resamples_ = 0;
};

}  // namespace ternion
