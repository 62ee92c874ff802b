#include "ternion/engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/eval_chunks.h"
#include "ternion/core/error.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {

namespace detail {

void EvalChunks::chunk(int64_t c, std::vector<int32_t>& out) const {
  out.assign(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
  if (bos >= 0) out[0] = bos;
}

EvalChunks plan_eval_chunks(Generator& gen, std::string_view text, int64_t n_ctx, int64_t max_chunks,
                            const std::string& what) {
  if (n_ctx < 4) throw Error(what + ": context must be at least 4 tokens");
  if (n_ctx > gen.context().n_ctx()) throw Error(what + ": chunk size exceeds the context size");
  const Vocab& vocab = gen.tokenizer().vocab();
  EvalChunks e;
  e.n_ctx = n_ctx;
  e.bos = vocab.add_bos && vocab.bos >= 0 ? vocab.bos : -1;
  e.tokens = gen.tokenizer().encode(text, false, false);
  if (e.bos >= 0) e.tokens.insert(e.tokens.begin(), e.bos);
  e.n_chunks = static_cast<int64_t>(e.tokens.size()) / n_ctx;
  if (max_chunks > 0) e.n_chunks = std::min(e.n_chunks, max_chunks);
  if (e.n_chunks == 0) {
    throw Error(what + ": the text has " + std::to_string(e.tokens.size()) + " tokens, fewer than one chunk of " +
                std::to_string(n_ctx));
  }
  return e;
}

}  // namespace detail

PerplexityResult perplexity(Generator& gen, std::string_view text, int64_t n_ctx, int64_t max_chunks,
                            const std::function<void(int64_t, double)>& on_chunk) {
  const detail::EvalChunks e = detail::plan_eval_chunks(gen, text, n_ctx, max_chunks, "perplexity");
  InferenceContext& ctx = gen.context();
  const int64_t n_vocab = gen.tokenizer().n_vocab();
  PerplexityResult r;
  double nll = 0.0;
  double nll2 = 0.0;
  std::vector<int32_t> chunk;
  for (int64_t c = 0; c < e.n_chunks; ++c) {
    e.chunk(c, chunk);
    ctx.clear();
    const std::span<const float> logits = ctx.decode(chunk, true);
    for (int64_t j = e.first_scored(); j < n_ctx - 1; ++j) {
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
  r.n_chunks = e.n_chunks;
  return r;
}

}  // namespace ternion
