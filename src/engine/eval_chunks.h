// The evaluation protocol shared by perplexity and KL divergence (llama-perplexity's): the text tokenized once
// (with BOS when the model adds one), cut into chunks of n_ctx tokens, each chunk's first token replaced by BOS,
// and the second half of each chunk scored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/engine/generate.h"

namespace ternion::detail {

struct EvalChunks {
  std::vector<int32_t> tokens;
  int64_t n_ctx = 0;
  int64_t n_chunks = 0;
  int32_t bos = -1;  // replaces each chunk's first token; -1 when the model adds no BOS

  int64_t first_scored() const { return n_ctx / 2; }  // logits rows first_scored() .. n_ctx-2 predict the next token
  // The tokens of chunk c, ready to decode.
  void chunk(int64_t c, std::vector<int32_t>& out) const;
};

// Throws Error (prefixed with `what`) for a chunk size below 4 or above the context, or a text shorter than a chunk.
EvalChunks plan_eval_chunks(Generator& gen, std::string_view text, int64_t n_ctx, int64_t max_chunks,
                            const std::string& what);

}  // namespace ternion::detail
