#include "ternion/engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "ternion/core/error.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {

PerplexityResult perplexity(Generator& gen, std::string_view text, int64_t n_ctx, int64_t max_chunks,
                            const std::function<void(int64_t, double)>& on_chunk) {
  if (n_ctx < 4) throw Error("perplexity: context must be at least 4 tokens");
  InferenceContext& ctx = gen.context();
  if (n_ctx > ctx.n_ctx()) throw Error("perplexity: chunk size exceeds the context size");
  const Vocab& vocab = gen.tokenizer().vocab();
  const bool add_bos = vocab.add_bos && vocab.bos >= 0;
  std::vector<int32_t> tokens = gen.tokenizer().encode(text, false, false);
  if (add_bos) tokens.insert(tokens.begin(), vocab.bos);
  int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (max_chunks > 0) n_chunks = std::min(n_chunks, max_chunks);
  if (n_chunks == 0) {
    throw Error("perplexity: the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                std::to_string(n_ctx));
  }
  const int64_t n_vocab = gen.tokenizer().n_vocab();
  const int64_t first = n_ctx / 2;
  PerplexityResult r;
  double nll = 0.0;
  double nll2 = 0.0;
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, chunk.begin());
    if (add_bos) chunk[0] = vocab.bos;
    ctx.clear();
    const std::span<const float> logits = ctx.decode(chunk, true);
    for (int64_t j = first; j < n_ctx - 1; ++j) {
      const float* row = logits.data() + j * n_vocab;
      const float max = *std::max_element(row, row + n_vocab);
      double sum = 0.0;
      for (int64_t i = 0; i < n_vocab; ++i) sum += static_cast<double>(std::exp(row[i] - max));
      const double v = -(static_cast<double>(row[chunk[static_cast<size_t>(j + 1)]] - max) - std::log(sum));
      nll += v;
      nll2 += v * v;
      ++r.scored_tokens;
    }
    r.running_ppl.push_back(std::exp(nll / static_cast<double>(r.scored_tokens)));
    if (on_chunk) on_chunk(c + 1, r.running_ppl.back());
  }
  const double count = static_cast<double>(r.scored_tokens);
  const double mean = nll / count;
  r.ppl = std::exp(mean);
  const double var = nll2 / count - mean * mean;
  r.stderr_ppl = var > 0 && count > 1 ? std::sqrt(var / (count - 1)) * r.ppl : 0.0;
  r.n_chunks = n_chunks;
  return r;
}

}  // namespace ternion
