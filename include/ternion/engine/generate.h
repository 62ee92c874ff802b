// The generation loop: tokenize, run the prompt, sample, stream text, stop at end-of-generation or at
// the token limit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/model/context.h"
#include "ternion/sampling/sampler.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion {

struct GenerateOptions {
  int32_t max_tokens = 128;     // new tokens at most; must be positive
  std::optional<bool> add_bos;  // default: what the vocabulary says
  bool parse_special = false;   // read special-token text in the prompt (e.g. <|im_start|>) as those tokens
  bool ignore_eos = false;      // keep going past end-of-generation tokens
  SamplingParams sampling;
};

struct Timings {
  double prompt_ms = 0;
  double generate_ms = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prompt_tps() const { return prompt_ms > 0 ? 1000.0 * static_cast<double>(prompt_tokens) / prompt_ms : 0; }
  double generate_tps() const {
    return generate_ms > 0 ? 1000.0 * static_cast<double>(generated_tokens) / generate_ms : 0;
  }
};

struct GenerateResult {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;  // generated ids (an end-of-generation token that stopped it included)
  std::string text;             // generated text (special tokens not rendered)
  std::string finish_reason;    // "stop" (end-of-generation) or "length" (max_tokens)
  Timings timings;
};

// Called with each piece of complete UTF-8 text as it is generated.
using TextCallback = std::function<void(std::string_view)>;

// A model with its tokenizer; owns the thread pool and one inference context.
class Generator {
 public:
  Generator(const Model& model, const ContextOptions& ctx_options, int n_threads);

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  InferenceContext& context() { return *ctx_; }
  ThreadPool& pool() { return *pool_; }

  std::vector<int32_t> tokenize(std::string_view text, const GenerateOptions& options) const;

  // Runs one prompt from an empty cache. Throws Error for an empty prompt, max_tokens ≤ 0, invalid sampling
  // values, or a prompt plus max_tokens beyond the context size.
  GenerateResult generate(std::string_view prompt, const GenerateOptions& options, const TextCallback& on_text = {});

 private:
  const Model& model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<InferenceContext> ctx_;
};

}  // namespace ternion
