// OpenAI's answers (chat completions with content, reasoning_content and tool_calls; completions) and the native
// /generate's, as whole bodies or Server-Sent Events.
#include "answer.h"
#include "ternion/server/api_error.h"
#include "ternion/server/sse.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;

json call_json(const ToolCall& c, const std::string& id) {
  return {{"id", id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
}

class OpenAiFormat : public AnswerFormat {
 public:
  OpenAiFormat(const ParsedRequest& p, std::string model, const Tokenizer* tokenizer, const ChoiceOf* choice)
      : endpoint_(p.endpoint),
        logprobs_(p.logprobs),
        include_usage_(p.include_usage),
        tokenizer_(tokenizer),
        ids_(choice != nullptr ? choice->ids : new_completion_ids(p.endpoint, model)),
        model_(std::move(model)),
        index_(choice != nullptr ? choice->index : 0),
        grouped_(choice != nullptr) {}

  const char* stream_type() const override { return "text/event-stream"; }

  void begin(std::string& out) override {
    if (endpoint_ != Endpoint::kChat) return;
    const std::string empty;
    add(out, stream_chunk(endpoint_, ids_, &empty, true, "", nullptr, include_usage_));
  }

  void step(const ReplyPart& part, const Delta& d, std::string& out) override {
    if (endpoint_ == Endpoint::kGenerate) {
      if (!part.content.empty() || !d.logprobs.empty()) add(out, {{"text", part.content}, {"tokens", d.tokens}});
      return;
    }
    if (!part.reasoning.empty()) add(out, delta_chunk({{"reasoning_content", part.reasoning}}));
    if (!part.content.empty() || !d.logprobs.empty()) {
      const json lps = logprobs_ >= 0 && tokenizer_ != nullptr
                           ? logprobs_json(endpoint_, *tokenizer_, d.logprobs, text_offset_)
                           : json(nullptr);
      text_offset_ += part.content.size();
      add(out, stream_chunk(endpoint_, ids_, &part.content, false, "", lps, include_usage_));
    }
    // A call streams as OpenAI's do: its id and name first, then its arguments.
    for (const ToolCall& c : part.calls) {
      const json head = {{"index", n_calls_},
                         {"id", tool_call_id(c)},
                         {"type", "function"},
                         {"function", {{"name", c.name}, {"arguments", ""}}}};
      add(out, delta_chunk({{"tool_calls", json::array({head})}}));
      const json args = {{"index", n_calls_}, {"function", {{"arguments", c.arguments}}}};
      add(out, delta_chunk({{"tool_calls", json::array({args})}}));
      ++n_calls_;
    }
  }

  void end(const GenerationTask& t, const Outcome& so_far, std::string& out) override {
    const Usage usage{static_cast<int64_t>(t.spec().prompt.size()), static_cast<int64_t>(so_far.tokens.size())};
    if (endpoint_ == Endpoint::kGenerate) {
      add(out, {{"text", ""},
                {"tokens", json::array()},
                {"finish_reason", t.finish_reason()},
                {"usage", usage_json(usage)}});
    } else {
      add(out, stream_chunk(endpoint_, ids_, nullptr, false, finish_reason(t, so_far), nullptr, include_usage_));
      if (grouped_) return;
      if (include_usage_) add(out, usage_chunk(endpoint_, ids_, usage));
    }
    out += sse_done();
  }

  void close(const Usage& total, std::string& out) override {
    if (include_usage_) add(out, usage_chunk(endpoint_, ids_, total));
    out += sse_done();
  }

  std::string error_frame(const std::string& message) override {
    return sse_event(dump(ApiError(500, message, "server_error").body())) + sse_done();
  }

  json whole(const GenerationTask& t, const Outcome& o) override {
    const Usage usage{static_cast<int64_t>(t.spec().prompt.size()), static_cast<int64_t>(o.tokens.size())};
    if (endpoint_ == Endpoint::kGenerate) return generate_body(t, o, usage);
    const json lps =
        logprobs_ >= 0 && tokenizer_ != nullptr ? logprobs_json(endpoint_, *tokenizer_, o.logprobs, 0) : json(nullptr);
    json body = completion_response(endpoint_, ids_, o.reply.content, finish_reason(t, o), lps, usage);
    body["choices"][0]["index"] = index_;
    if (endpoint_ != Endpoint::kChat) return body;
    json& message = body["choices"][0]["message"];
    if (!o.reply.reasoning.empty()) message["reasoning_content"] = o.reply.reasoning;
    if (!o.reply.calls.empty()) {
      json calls = json::array();
      for (const ToolCall& c : o.reply.calls) calls.push_back(call_json(c, tool_call_id(c)));
      message["tool_calls"] = calls;
      if (o.reply.content.empty()) message["content"] = nullptr;
    }
    return body;
  }

 private:
  // Every chunk with a choice names this one.
  void add(std::string& out, json j) const {
    if (index_ != 0 && j.contains("choices") && !j["choices"].empty()) j["choices"][0]["index"] = index_;
    out += sse_event(dump(j));
  }

  static std::string finish_reason(const GenerationTask& t, const Outcome& o) {
    return !o.reply.calls.empty() && t.finish_reason() == "stop" ? "tool_calls" : t.finish_reason();
  }

  json delta_chunk(json delta) const {
    json chunk = stream_chunk(endpoint_, ids_, nullptr, false, "", nullptr, include_usage_);
    chunk["choices"][0]["delta"] = std::move(delta);
    return chunk;
  }

  json generate_body(const GenerationTask& t, const Outcome& o, const Usage& usage) const {
    const double tps =
        t.generate_ms() > 0
            ? 1000.0 * static_cast<double>(o.tokens.size() > 0 ? o.tokens.size() - 1 : 0) / t.generate_ms()
            : 0.0;
    return {
        {"model", model_},
        {"text", o.reply.content},
        {"tokens", o.tokens},
        {"prompt_tokens", t.spec().prompt},
        {"finish_reason", t.finish_reason()},
        {"seed", t.seed()},
        {"usage", usage_json(usage)},
        {"timings",
         {{"time_to_first_token_ms", t.ttft_ms()}, {"generate_ms", t.generate_ms()}, {"generate_tokens_per_s", tps}}}};
  }

  Endpoint endpoint_;
  int32_t logprobs_;
  bool include_usage_;
  const Tokenizer* tokenizer_;
  CompletionIds ids_;
  std::string model_;
  int index_;
  bool grouped_;
  size_t text_offset_ = 0;
  int n_calls_ = 0;
};

}  // namespace

std::unique_ptr<AnswerFormat> make_openai_format(const ParsedRequest& p, const std::string& model,
                                                 const Tokenizer* tokenizer, const ChoiceOf* choice) {
  return std::make_unique<OpenAiFormat>(p, model, tokenizer, choice);
}

}  // namespace ternion::server
