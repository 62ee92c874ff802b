#include "ternion/engine/generate.h"

#include <chrono>
#include <string>

#include "ternion/core/error.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Generator::Generator(const Model& model, const ContextOptions& ctx_options, int n_threads) : model_(model) {
  if (n_threads <= 0) throw Error("thread count must be positive, got " + std::to_string(n_threads));
  pool_ = std::make_unique<ThreadPool>(n_threads);
  tokenizer_ = std::make_unique<Tokenizer>(model.vocab());
  if (tokenizer_->n_vocab() != model.hparams().n_vocab) {
    throw Error(model.gguf().path() + ": the vocabulary has " + std::to_string(tokenizer_->n_vocab()) +
                " tokens but token_embd.weight has " + std::to_string(model.hparams().n_vocab) + " rows");
  }
  ctx_ = std::make_unique<InferenceContext>(model, ctx_options, *pool_);
}

std::vector<int32_t> Generator::tokenize(std::string_view text, const GenerateOptions& options) const {
  std::vector<int32_t> ids = tokenizer_->encode(text, false, options.parse_special);
  const Vocab& v = tokenizer_->vocab();
  if (options.add_bos.value_or(v.add_bos) && v.bos >= 0) ids.insert(ids.begin(), v.bos);
  return ids;
}

GenerateResult Generator::generate(std::string_view prompt, const GenerateOptions& options,
                                   const TextCallback& on_text) {
  if (prompt.empty()) throw Error("the prompt is empty");
  if (options.max_tokens <= 0) {
    throw Error("the number of tokens to generate must be positive, got " + std::to_string(options.max_tokens));
  }
  GenerateResult r;
  r.prompt_tokens = tokenize(prompt, options);
  if (r.prompt_tokens.empty()) throw Error("the prompt gives no tokens");
  const int64_t need = static_cast<int64_t>(r.prompt_tokens.size()) + options.max_tokens;
  if (need > ctx_->n_ctx()) {
    throw Error("context overflow: the prompt (" + std::to_string(r.prompt_tokens.size()) + " tokens) plus " +
                std::to_string(options.max_tokens) + " new tokens exceed the context size " +
                std::to_string(ctx_->n_ctx()) + " (raise -c/--ctx-size or lower -n)");
  }
  Sampler sampler(options.sampling, static_cast<int32_t>(model_.hparams().n_vocab));
  for (int32_t t : r.prompt_tokens) sampler.accept(t);

  ctx_->clear();
  r.tokens.reserve(static_cast<size_t>(options.max_tokens));
  StreamDecoder decoder(*tokenizer_, false);
  auto emit = [&](const std::string& piece) {
    if (piece.empty()) return;
    r.text += piece;
    if (on_text) on_text(piece);
  };

  auto start = std::chrono::steady_clock::now();
  std::span<const float> logits = ctx_->decode(r.prompt_tokens);
  r.timings.prompt_ms = ms_since(start);
  r.timings.prompt_tokens = static_cast<int64_t>(r.prompt_tokens.size());

  start = std::chrono::steady_clock::now();
  r.finish_reason = "length";
  for (int32_t i = 0; i < options.max_tokens; ++i) {
    const int32_t tok = sampler.sample(logits);
    sampler.accept(tok);
    r.tokens.push_back(tok);
    if (!options.ignore_eos && tokenizer_->is_eog(tok)) {
      r.finish_reason = "stop";
      break;
    }
    emit(decoder.push(tok));
    if (i + 1 == options.max_tokens) break;
    logits = ctx_->decode({&tok, 1});
  }
  emit(decoder.flush());
  r.timings.generate_ms = ms_since(start);
  r.timings.generated_tokens = static_cast<int64_t>(r.tokens.size());
  return r;
}

}  // namespace ternion
