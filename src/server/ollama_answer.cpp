// Ollama's answers to /api/chat and /api/generate: NDJSON lines while streaming (one object per step, then a last
// one with done, done_reason and the counts and durations in nanoseconds), or one object.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "answer.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;

int64_t nanoseconds(double ms) { return ms > 0 ? static_cast<int64_t>(ms * 1e6) : 0; }

class OllamaFormat : public AnswerFormat {
 public:
  OllamaFormat(const ParsedRequest& p, std::string model)
      : chat_(p.endpoint == Endpoint::kOllamaChat), model_(std::move(model)) {}

  const char* stream_type() const override { return "application/x-ndjson"; }

  void step(const ReplyPart& part, const Delta&, std::string& out) override {
    if (part.empty()) return;
    json j = head();
    j[chat_ ? "message" : "response"] = body(part);
    if (!chat_ && !part.reasoning.empty()) j["thinking"] = part.reasoning;
    j["done"] = false;
    add(out, j);
  }

  void end(const GenerationTask& t, const Outcome& so_far, std::string& out) override {
    json j = head();
    j[chat_ ? "message" : "response"] = body(ReplyPart{});
    finish(j, t, so_far);
    add(out, j);
  }

  std::string error_frame(const std::string& message) override { return dump(json{{"error", message}}) + "\n"; }

  json whole(const GenerationTask& t, const Outcome& o) override {
    json j = head();
    j[chat_ ? "message" : "response"] = body(o.reply);
    if (!chat_ && !o.reply.reasoning.empty()) j["thinking"] = o.reply.reasoning;
    finish(j, t, o);
    return j;
  }

 private:
  static void add(std::string& out, const json& j) { out += dump(j) + "\n"; }

  json head() const { return {{"model", model_}, {"created_at", ollama_time(std::chrono::system_clock::now())}}; }

  // The message (chat) or the response text (generate) of a part.
  json body(const ReplyPart& part) {
    if (!chat_) return part.content;
    json m = {{"role", "assistant"}, {"content", part.content}};
    if (!part.reasoning.empty()) m["thinking"] = part.reasoning;
    if (!part.calls.empty()) {
      json calls = json::array();
      for (const ToolCall& c : part.calls) {
        json args = json::parse(c.arguments, nullptr, false);
        if (args.is_discarded()) args = json::object();  // the parser promises an object
        calls.push_back(
            {{"id", tool_call_id(c)}, {"function", {{"index", n_calls_++}, {"name", c.name}, {"arguments", args}}}});
      }
      m["tool_calls"] = calls;
    }
    return m;
  }

  static void finish(json& j, const GenerationTask& t, const Outcome& o) {
    const int64_t total = nanoseconds(t.total_ms()), prompt = nanoseconds(t.prompt_ms()),
                  eval = nanoseconds(t.generate_ms());
    j["done"] = true;
    j["done_reason"] = t.finish_reason();
    j["total_duration"] = total;
    // Everything before the slot started on the prompt: the wait in the queue and the prompt's rendering.
    j["load_duration"] = std::max<int64_t>(0, total - prompt - eval);
    j["prompt_eval_count"] = t.spec().prompt.size();
    j["prompt_eval_duration"] = prompt;
    j["eval_count"] = o.tokens.size();
    j["eval_duration"] = eval;
  }

  bool chat_;
  std::string model_;
  int n_calls_ = 0;
};

}  // namespace

std::string ollama_time(std::chrono::system_clock::time_point t) {
  const auto since = t.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count();
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns));
  return buf;
}

json ollama_load_answer(const ParsedRequest& p) {
  json j = {{"model", p.model}, {"created_at", ollama_time(std::chrono::system_clock::now())}};
  if (p.endpoint == Endpoint::kOllamaChat) {
    j["message"] = {{"role", "assistant"}, {"content", ""}};
  } else {
    j["response"] = "";
  }
  j["done_reason"] = "load";
  j["done"] = true;
  return j;
}

std::unique_ptr<AnswerFormat> make_ollama_format(const ParsedRequest& p, const std::string& model) {
  return std::make_unique<OllamaFormat>(p, model);
}

}  // namespace ternion::server
