// Log-probabilities of sampled tokens, as the OpenAI APIs report them.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace ternion {

// A token's log-probability under the model (log-softmax of the raw logits) and the best alternatives.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // best first
};

// Log-probability of `token` under `logits` (log-softmax) with the `n_top` best alternatives.
TokenLogprob token_logprob(std::span<const float> logits, int32_t token, int32_t n_top);

}  // namespace ternion
