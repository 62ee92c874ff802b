#include "ternion/engine/logprob.h"

#include <algorithm>
#include <cmath>

namespace ternion {

TokenLogprob token_logprob(std::span<const float> logits, int32_t token, int32_t n_top) {
  float max = -INFINITY;
  for (float l : logits) max = std::max(max, l);
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max));
  const float log_z = max + static_cast<float>(std::log(sum));
  TokenLogprob r;
  r.id = token;
  r.logprob = logits[static_cast<size_t>(token)] - log_z;
  if (n_top > 0) {
    const size_t k = std::min(static_cast<size_t>(n_top), logits.size());
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), [&](int32_t a, int32_t b) {
      const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
      return la > lb || (la == lb && a < b);
    });
    for (size_t i = 0; i < k; ++i) r.top.emplace_back(ids[i], logits[static_cast<size_t>(ids[i])] - log_z);
  }
  return r;
}

}  // namespace ternion
