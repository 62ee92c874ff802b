// The sampler chain: logit bias → penalties → top-k → top-p → min-p → temperature → draw.
// Temperature ≤ 0 is greedy (arg-max, lowest id on ties). The same seed gives the same draws; all
// buffers are sized once, so sampling a token allocates nothing.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "ternion/core/param_rules.h"

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

  // Throws ParamError naming the parameter as `surface` does when a value is outside its rule
  // (core/param_rules.h), e.g. "--top-p must be in (0, 1], got 2".
  void validate(ParamSurface surface = ParamSurface::kRequest) const;
};

class Sampler {
 public:
  Sampler(SamplingParams params, int32_t n_vocab);

  // Picks the next token from raw logits (n_vocab values).
  int32_t sample(std::span<const float> logits);
  // Records a token of the context (prompt or generated) for the penalties.
  void accept(int32_t token);
  void reset();  // forgets the history and re-seeds

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  void apply_penalties();
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
};

}  // namespace ternion
