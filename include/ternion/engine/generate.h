// `run`'s generation: one prompt through a one-slot Session (ternion/engine/session.h), text streamed as it
// comes, stopping at end-of-generation, a stop string or the token limit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/engine/session.h"
#include "ternion/model/context.h"
#include "ternion/sampling/sampler.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion {

struct GenerateOptions {
  // New tokens at most; -1: until the end of generation or the context is full. A limit past the context stops
  // there too (GenerateResult::context_full).
  int32_t max_tokens = 128;
  std::optional<bool> add_bos;    // default: what the vocabulary says
  bool parse_special = false;     // read special-token text in the prompt (e.g. <|im_start|>) as those tokens
  bool print_special = false;     // write control tokens the model generates as their text
  bool ignore_eos = false;        // keep going past end-of-generation tokens
  std::vector<std::string> stop;  // stop strings: generation ends before the first one, which is not returned
  SamplingParams sampling;
};

struct Timings {
  double prompt_ms = 0;
  double generate_ms = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t prompt_reused = 0;  // prompt tokens whose keys the cache already held (not in prompt_tokens)
  double prompt_tps() const { return prompt_ms > 0 ? 1000.0 * static_cast<double>(prompt_tokens) / prompt_ms : 0; }
  double generate_tps() const {
    return generate_ms > 0 ? 1000.0 * static_cast<double>(generated_tokens) / generate_ms : 0;
  }
};

struct GenerateResult {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;  // generated ids (an end-of-generation token that stopped it included)
  std::string text;             // generated text (special tokens not rendered)
  std::string finish_reason;    // "stop" (end-of-generation or a stop string), "length" or "cancelled"
  bool context_full = false;    // ended with "length" because the context had no room for max_tokens
  Timings timings;
};

// Called with each piece of complete UTF-8 text as it is generated.
using TextCallback = std::function<void(std::string_view)>;

// A model with its tokenizer; owns the thread pool, one inference context and the session over it. A prompt that
// starts as the previous one did evaluates only the tokens after the shared prefix.
class Generator {
 public:
  Generator(const Model& model, const ContextOptions& ctx_options, int n_threads);

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // The context for direct use (perplexity, logits); the session then forgets what the cache held.
  InferenceContext& context() {
    session_->forget_cache();
    return *ctx_;
  }
  Session& session() { return *session_; }
  ThreadPool& pool() { return *pool_; }

  std::vector<int32_t> tokenize(std::string_view text, const GenerateOptions& options) const;

  // Runs one prompt. Throws Error for an empty prompt, max_tokens 0 or below -1, invalid sampling values, or a
  // prompt that leaves no room in the context. `cancelled` is polled once per step (Ctrl-C): true ends the run
  // with finish_reason "cancelled".
  GenerateResult generate(std::string_view prompt, const GenerateOptions& options, const TextCallback& on_text = {},
                          std::function<bool()> cancelled = {});

 private:
  const Model& model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<InferenceContext> ctx_;
  std::unique_ptr<Session> session_;
};

}  // namespace ternion
