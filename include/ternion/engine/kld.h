// Quality of a model (usually a quantization) against a reference model on the same text: the KL divergence
// of its next-token distributions from the reference's, how often both pick the same top token, and the
// perplexities of both. Same chunking and scoring positions as llama-perplexity (see perplexity.h), so numbers
// compare with llama.cpp's --kl-divergence.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "ternion/engine/generate.h"

namespace ternion {

struct KldResult {
  int64_t n_chunks = 0;
  int64_t n_tokens = 0;  // scored positions
  double ppl = 0;        // of the model
  double ppl_reference = 0;
  double mean_ln_ppl_ratio = 0;  // mean of ln p_ref(token) - ln p_model(token) = ln(PPL / PPL_ref)
  double mean_kld = 0, kld_stderr = 0, max_kld = 0;
  double kld_p99 = 0, kld_p90 = 0, kld_median = 0;
  double same_top = 0;                       // fraction of positions whose argmax agrees
  double mean_delta_p = 0, rms_delta_p = 0;  // p_model(token) - p_ref(token)
  std::vector<double> running_kld;           // mean KLD after chunk 1, 2, ...
};

// `model` and `reference` need the same vocabulary (same tokens for the text), contexts with logits_all and
// n_batch ≥ n_ctx. Throws Error when the vocabularies differ or the text is shorter than one chunk.
KldResult kl_divergence(Generator& model, Generator& reference, std::string_view text, int64_t n_ctx,
                        int64_t max_chunks = 0,
                        const std::function<void(int64_t chunk, double mean_kld)>& on_chunk = {});

}  // namespace ternion
