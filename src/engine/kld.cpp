#include "ternion/engine/kld.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/eval_chunks.h"
#include "ternion/core/error.h"
#include "ternion/engine/bench.h"

namespace ternion {

namespace {

// log-softmax of one logits row, in double.
void log_softmax(const float* row, int64_t n, std::vector<double>& out) {
  const float max = *std::max_element(row, row + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i] - max));
  const double log_sum = std::log(sum);
  out.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<double>(row[i] - max) - log_sum;
}

}  // namespace

KldResult kl_divergence(Generator& model, Generator& reference, std::string_view text, int64_t n_ctx,
                        int64_t max_chunks, const std::function<void(int64_t, double)>& on_chunk) {
  const int64_t n_vocab = reference.tokenizer().n_vocab();
  if (model.tokenizer().n_vocab() != n_vocab) {
    throw Error("kld: the model has " + std::to_string(model.tokenizer().n_vocab()) +
                " tokens in its vocabulary, the reference " + std::to_string(n_vocab));
  }
  const detail::EvalChunks e = detail::plan_eval_chunks(reference, text, n_ctx, max_chunks, "kld");
  const detail::EvalChunks check = detail::plan_eval_chunks(model, text, n_ctx, max_chunks, "kld");
  if (check.tokens != e.tokens || check.bos != e.bos) {
    throw Error("kld: the model and the reference tokenize the text differently (different vocabularies)");
  }
  KldResult r;
  std::vector<double> klds;
  std::vector<double> lp_model, lp_ref;
  double sum_ln_ratio = 0, sum_nll = 0, sum_nll_ref = 0, sum_dp = 0, sum_dp2 = 0;
  int64_t same = 0;
  std::vector<int32_t> chunk;
  for (int64_t c = 0; c < e.n_chunks; ++c) {
    e.chunk(c, chunk);
    reference.context().clear();
    model.context().clear();
    const std::span<const float> ref_logits = reference.context().decode(chunk, true);
    const std::span<const float> logits = model.context().decode(chunk, true);
    for (int64_t j = e.first_scored(); j < n_ctx - 1; ++j) {
      const float* rr = ref_logits.data() + j * n_vocab;
      const float* mr = logits.data() + j * n_vocab;
      log_softmax(rr, n_vocab, lp_ref);
      log_softmax(mr, n_vocab, lp_model);
      double kld = 0;
      for (size_t i = 0; i < lp_ref.size(); ++i) kld += std::exp(lp_ref[i]) * (lp_ref[i] - lp_model[i]);
      klds.push_back(std::max(kld, 0.0));
      const auto next = static_cast<size_t>(chunk[static_cast<size_t>(j + 1)]);
      sum_nll -= lp_model[next];
      sum_nll_ref -= lp_ref[next];
      sum_ln_ratio += lp_ref[next] - lp_model[next];
      const double dp = std::exp(lp_model[next]) - std::exp(lp_ref[next]);
      sum_dp += dp;
      sum_dp2 += dp * dp;
      same += (std::max_element(rr, rr + n_vocab) - rr) == (std::max_element(mr, mr + n_vocab) - mr) ? 1 : 0;
    }
    r.running_kld.push_back(mean_of(klds));
    if (on_chunk) on_chunk(c + 1, r.running_kld.back());
  }
  const auto n = static_cast<double>(klds.size());
  r.n_chunks = e.n_chunks;
  r.n_tokens = static_cast<int64_t>(klds.size());
  r.ppl = std::exp(sum_nll / n);
  r.ppl_reference = std::exp(sum_nll_ref / n);
  r.mean_ln_ppl_ratio = sum_ln_ratio / n;
  r.mean_kld = mean_of(klds);
  r.kld_stderr = klds.size() > 1 ? stddev_of(klds) / std::sqrt(n) : 0;
  r.max_kld = *std::max_element(klds.begin(), klds.end());
  r.kld_p99 = percentile_of(klds, 99);
  r.kld_p90 = percentile_of(klds, 90);
  r.kld_median = percentile_of(klds, 50);
  r.same_top = static_cast<double>(same) / n;
  r.mean_delta_p = sum_dp / n;
  r.rms_delta_p = std::sqrt(sum_dp2 / n);
  return r;
}

}  // namespace ternion
