// The generation core: requests in the KV slots of one InferenceContext, run by continuous batching. Each request
// has its own sampler chain, end-of-generation rule, stop strings and streaming detokenizer (complete UTF-8 only);
// step() runs one forward pass over the next token of every generating slot plus prompt tokens of new ones. A slot
// keeps its tokens when a request ends, so a later request whose prompt starts the same way (the next chat turn, a
// repeated system prompt) evaluates only what is new. `run` is a one-slot session; the server queues requests in
// front of one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/engine/logprob.h"
#include "ternion/engine/stop_text.h"
#include "ternion/model/context.h"
#include "ternion/sampling/sampler.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion {

// The prompt's token ids: `text` encoded, with the vocabulary's BOS in front unless `add_bos` says otherwise.
// The one place the BOS rule is written.
std::vector<int32_t> tokenize_prompt(const Tokenizer& tokenizer, std::string_view text, std::optional<bool> add_bos,
                                     bool parse_special);

// What to generate: validated, tokenized, ready to run.
struct GenerationSpec {
  std::vector<int32_t> prompt;    // token ids, not empty, shorter than the context
  int32_t max_tokens = 16;        // positive; prompt + max_tokens fit the context
  SamplingParams sampling;        // validated; its `grammar` (GBNF) constrains the output
  std::vector<std::string> stop;  // stop strings: generation ends before the first one, which is not returned
  bool ignore_eos = false;        // keep going past end-of-generation tokens
  int32_t logprobs = -1;          // -1: none; else the log-probability of each token and this many alternatives
  bool special = false;           // control tokens (not end-of-generation ones) streamed as their text
  // The context's LoRA adapters at these scales, one per adapter in its order (InferenceContext::set_lora_scales);
  // empty: the context's own. A slot's cached keys are reused only by a request with the same scales.
  std::vector<float> lora_scales;
};

// What one step produced for one request.
struct Delta {
  std::string text;                    // complete UTF-8, stop strings never included
  std::vector<int32_t> tokens;         // ids sampled in this step
  std::vector<TokenLogprob> logprobs;  // one per token when logprobs were asked for
};

enum class FinishReason { kEndOfGeneration, kStopString, kLength, kCancelled, kError };
// The OpenAI name: "stop" (end-of-generation or a stop string), "length", "cancelled", "error".
const char* finish_reason_name(FinishReason r);

// How a request ended, with its counts and times.
struct Finish {
  FinishReason reason = FinishReason::kLength;
  std::string error;             // set with kError
  int64_t prompt_evaluated = 0;  // prompt tokens run through the model
  int64_t prompt_reused = 0;     // prompt tokens whose keys the slot already held
  int64_t generated = 0;         // tokens sampled
  double prompt_ms = 0;          // from start() to the first token
  double generate_ms = 0;        // from the first token to the end
};

// How a request talks back. Called on the thread that runs step().
struct GenerationCallbacks {
  std::function<void(Delta&&)> on_delta;         // each step's tokens and text
  std::function<void(const Finish&)> on_finish;  // once, at the end
  std::function<bool()> cancelled;               // polled once per step; true ends the request as cancelled
};

class Session {
 public:
  // Runs requests in the slots of `ctx` (ctx.n_seq() of them); both arguments outlive the session. The context is
  // the session's alone: its slots' contents are what the session remembers.
  Session(InferenceContext& ctx, const Tokenizer& tokenizer);

  // Starts a request in the free slot holding the longest usable prefix of its prompt (ties: the emptiest slot,
  // then the lowest index). Returns the slot, or nullopt when every slot is busy. Throws Error for an empty prompt,
  // a token outside the vocabulary, max_tokens ≤ 0 or a prompt plus max_tokens beyond the context.
  std::optional<int32_t> start(GenerationSpec spec, GenerationCallbacks callbacks);

  // One continuous-batching step: runs the next token of every generating slot and prompt tokens of the others
  // (slot order) up to n_batch, samples and streams, then ends cancelled requests. False when nothing ran.
  bool step();

  // Ends every running request with kError and `message` (shutting down).
  void end_all(const std::string& message);
  // Forgets what the slots hold (the next request evaluates its whole prompt); for callers that used the context
  // directly.
  void forget_cache();

  bool has_free_slot() const;
  int32_t n_active() const;
  int32_t n_slots() const { return static_cast<int32_t>(slots_.size()); }
  int64_t kv_used() const;  // positions held by running requests
  const InferenceContext& context() const { return ctx_; }
  // Totals over every request started: prompt tokens evaluated and reused.
  int64_t prompt_evaluated_total() const { return evaluated_total_; }
  int64_t prompt_reused_total() const { return reused_total_; }

  // The prefix of `prompt` that `slot` could reuse now: the shared prefix of its tokens and the prompt, at most
  // prompt.size() - 1 (one token must run to give logits), moved back to where the context can restart the slot.
  int64_t reusable_prefix(int32_t slot, std::span<const int32_t> prompt) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    int32_t index = 0;
    std::vector<int32_t> cached;     // tokens whose keys the context holds, in position order
    std::vector<float> lora_scales;  // the adapter scales the cached keys were computed with
    bool busy = false;
    GenerationSpec spec;
    GenerationCallbacks callbacks;
    std::optional<Sampler> sampler;
    std::optional<StreamDecoder> decoder;
    std::optional<StopTextFilter> stop;
    size_t n_fed = 0;  // prompt tokens in the cache (reused ones included)
    int64_t reused = 0;
    int64_t generated = 0;
    int32_t next_token = 0;
    Clock::time_point started, first_token;

    bool prefilling() const { return busy && n_fed < spec.prompt.size(); }
  };

  bool run_batch();  // step() without the cancellation
  void end(Slot& s, FinishReason reason, const std::string& error = "");
  // Samples from the logits after the slot's last token, streams the delta, ends the request when it is done.
  void on_logits(Slot& s, std::span<const float> logits);
  // The vocabulary's token texts for grammars, made at the first constrained request.
  std::shared_ptr<const GrammarVocab> grammar_vocab();

  InferenceContext& ctx_;
  const Tokenizer& tokenizer_;
  std::vector<Slot> slots_;
  std::vector<BatchToken> batch_;
  std::vector<int32_t> row_slot_;  // slot of each logits row of the batch
  int64_t evaluated_total_ = 0, reused_total_ = 0;
  std::shared_ptr<const GrammarVocab> grammar_vocab_;
};

}  // namespace ternion
