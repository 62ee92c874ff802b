// Perplexity of a model over a text, with the protocol of llama.cpp's llama-perplexity so numbers compare
// directly: the text is tokenized once (with BOS when the model adds one) and cut into chunks of n_ctx
// tokens; each chunk starts from an empty cache with its first token replaced by BOS (when the model adds
// one), and the tokens of its second half are scored from the logits of the position before each.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "ternion/engine/generate.h"

namespace ternion {

struct PerplexityResult {
  double ppl = 0;
  double stderr_ppl = 0;
  int64_t n_chunks = 0;
  int64_t scored_tokens = 0;
  std::vector<double> running_ppl;  // after chunk 1, 2, ... (what llama-perplexity prints as [i])
};

// max_chunks ≤ 0: every whole chunk. Needs a Generator whose context has logits_all and n_batch ≥ n_ctx.
PerplexityResult perplexity(Generator& gen, std::string_view text, int64_t n_ctx, int64_t max_chunks = 0,
                            const std::function<void(int64_t chunk, double running)>& on_chunk = {});

}  // namespace ternion
