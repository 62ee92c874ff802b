// `ternion imatrix`: an importance matrix (ternion/model/imatrix.h) collected while a model evaluates a text, by
// llama-imatrix's rules: the text cut into chunks as llama-perplexity cuts it (each chunk from an empty cache, its
// first token replaced by BOS), every matrix of the blocks observed on matmuls of at least 16 tokens (the output
// projection too with `process_output`), each column's squared activations summed and tokens counted per matrix.
// A fused projection (attn_qkv, Phi-3's gate+up in ffn_up) is one entry under its file name, as in llama.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/backend/backend.h"
#include "ternion/engine/generate.h"
#include "ternion/engine/perplexity.h"
#include "ternion/model/imatrix.h"
#include "ternion/model/model.h"

namespace ternion {

// Observes a backend's matmuls of one model's weights and sums what it sees.
class ImatrixCollector : public MatmulObserver {
 public:
  ImatrixCollector(const Model& model, Backend& backend, bool process_output);
  void observe(const WeightMatrix& w, Tensor x) override;
  // What was collected so far (entries of matrices seen at least once).
  const Imatrix& imatrix() const { return im_; }
  Imatrix& imatrix() { return im_; }

 private:
  struct Target {
    std::string name;
    bool counts = true;  // false: a later view of a fused tensor, whose input the first view already counted
  };
  Backend& backend_;
  std::map<const WeightMatrix*, Target> targets_;
  Imatrix im_;
  std::vector<float> host_;  // x copied out of the backend
};

struct ImatrixOptions {
  int64_t n_ctx = 512;          // tokens per chunk
  int64_t max_chunks = 0;       // ≤ 0: every whole chunk
  bool process_output = false;  // also the output projection
  std::string dataset;          // the text's name, stored in the file
};

struct ImatrixResult {
  Imatrix imatrix;
  PerplexityResult perplexity;  // of the same pass
};

// Needs a Generator whose context has logits_all and n_batch ≥ n_ctx (as perplexity does).
ImatrixResult compute_imatrix(Generator& gen, const Model& model, std::string_view text, const ImatrixOptions& options,
                              const std::function<void(int64_t chunk, double running_ppl)>& on_chunk = {});

}  // namespace ternion
