// A chat reply as it streams: the model's thinking (<think>…</think>) split from its answer, and tool calls in the
// answer held back until the reply ends, then parsed by the generation core's parser (ternion/engine/tool_calls.h).
// OpenAI's reasoning_content and tool_calls and Ollama's thinking and tool_calls are both built from its parts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ternion/engine/tool_calls.h"

namespace ternion::server {

struct ReplyOptions {
  ToolCallFormat tool_format = ToolCallFormat::kNone;  // kNone: no tools offered, the answer is all content
  bool reasoning = false;                              // split <think>…</think> from the start of the reply
  bool starts_thinking = false;                        // the prompt ended with <think> (the template opened it)
};

// Output that is certain: thinking and content text, and (from finish() only) the tool calls.
struct ReplyPart {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> calls;
  bool empty() const { return reasoning.empty() && content.empty() && calls.empty(); }
};

class ReplyParser {
 public:
  explicit ReplyParser(ReplyOptions options);

  // Takes the next generated text; returns what can be released now (text that may start a think tag or a tool
  // call is held).
  ReplyPart feed(std::string_view text);
  // The reply has ended: everything still held, with the tool calls parsed out of it.
  ReplyPart finish();
  // Why text that began as a tool call was left as content (see ParsedReply::error); empty when none.
  const std::string& tool_error() const { return tool_error_; }

 private:
  enum class Phase { kStart, kThinking, kAnswer };
  void answer(std::string_view text, ReplyPart& out);
  void think(ReplyPart& out);

  ReplyOptions options_;
  Phase phase_;
  std::string pending_;       // text not yet known to be thinking or answer
  std::string answer_;        // the answer so far
  size_t released_ = 0;       // bytes of answer_ released as content
  bool strip_space_ = false;  // the answer follows </think>: its leading whitespace goes
  std::string tool_error_;
};

}  // namespace ternion::server
