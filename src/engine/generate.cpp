#include "ternion/engine/generate.h"

#include <algorithm>
#include <string>

#include "ternion/core/error.h"

namespace ternion {

Generator::Generator(const Model& model, const ContextOptions& ctx_options, int n_threads) : model_(model) {
  if (n_threads <= 0) throw Error("thread count must be positive, got " + std::to_string(n_threads));
  pool_ = std::make_unique<ThreadPool>(n_threads);
  tokenizer_ = std::make_unique<Tokenizer>(model.vocab());
  if (tokenizer_->n_vocab() != model.hparams().n_vocab) {
    throw Error(model.gguf().path() + ": the vocabulary has " + std::to_string(tokenizer_->n_vocab()) +
                " tokens but token_embd.weight has " + std::to_string(model.hparams().n_vocab) + " rows");
  }
  ctx_ = std::make_unique<InferenceContext>(model, ctx_options, *pool_);
  session_ = std::make_unique<Session>(*ctx_, *tokenizer_);
}

std::vector<int32_t> Generator::tokenize(std::string_view text, const GenerateOptions& options) const {
  return tokenize_prompt(*tokenizer_, text, options.add_bos, options.parse_special);
}

GenerateResult Generator::generate(std::string_view prompt, const GenerateOptions& options, const TextCallback& on_text,
                                   std::function<bool()> cancelled) {
  if (prompt.empty()) throw Error("the prompt is empty");
  if (options.max_tokens <= 0 && options.max_tokens != -1) {
    throw Error("the number of tokens to generate must be positive or -1, got " + std::to_string(options.max_tokens));
  }
  GenerateResult r;
  r.prompt_tokens = tokenize(prompt, options);
  if (r.prompt_tokens.empty()) throw Error("the prompt gives no tokens");
  const int64_t room = ctx_->n_ctx() - static_cast<int64_t>(r.prompt_tokens.size());
  if (room <= 0) {
    throw Error("context overflow: the prompt (" + std::to_string(r.prompt_tokens.size()) +
                " tokens) fills the context size " + std::to_string(ctx_->n_ctx()) + " (raise -c/--ctx-size)");
  }
  GenerationSpec spec;
  spec.prompt = r.prompt_tokens;
  spec.max_tokens = static_cast<int32_t>(options.max_tokens == -1 ? room : std::min<int64_t>(options.max_tokens, room));
  spec.special = options.print_special;
  spec.sampling = options.sampling;
  spec.stop = options.stop;
  spec.ignore_eos = options.ignore_eos;
  const int32_t spec_max_tokens = spec.max_tokens;
  r.tokens.reserve(static_cast<size_t>(spec.max_tokens));
  Finish finish;
  GenerationCallbacks cb;
  cb.on_delta = [&](Delta&& d) {
    r.tokens.insert(r.tokens.end(), d.tokens.begin(), d.tokens.end());
    if (d.text.empty()) return;
    r.text += d.text;
    if (on_text) on_text(d.text);
  };
  cb.on_finish = [&](const Finish& f) { finish = f; };
  cb.cancelled = std::move(cancelled);
  if (!session_->start(std::move(spec), std::move(cb))) throw Error("the session has no free slot");
  while (session_->step()) {
  }
  if (finish.reason == FinishReason::kError) throw Error(finish.error);
  r.finish_reason = finish_reason_name(finish.reason);
  r.context_full =
      finish.reason == FinishReason::kLength && (options.max_tokens == -1 || spec_max_tokens < options.max_tokens);
  r.timings.prompt_ms = finish.prompt_ms;
  r.timings.prompt_tokens = finish.prompt_evaluated;
  r.timings.prompt_reused = finish.prompt_reused;
  r.timings.generate_ms = finish.generate_ms;
  r.timings.generated_tokens = finish.generated;
  return r;
}

}  // namespace ternion
