// Tool calls in a model's reply: the one parser that the agent (and later the server's OpenAI `tool_calls`) use.
// Each model family writes calls its own way; the chat template tells which:
//   Hermes / Qwen   <tool_call>{"name": "f", "arguments": {...}}</tool_call>   (one or several)
//   Llama 3.x       {"name": "f", "parameters": {...}}   (the whole reply, or after <|python_tag|>; several
//                   separated by ';')
//   Mistral         [TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "..."}, ...]
//                   or the newer [TOOL_CALLS]f[ARGS]{...} (optionally [TOOL_CALLS]f[CALL_ID]id[ARGS]{...})
// The text must keep the special-token texts (<|python_tag|>, [TOOL_CALLS], [ARGS]) the model generated.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ternion {

enum class ToolCallFormat { kNone, kHermes, kLlama3, kMistral };

// "none", "hermes", "llama3", "mistral".
const char* tool_call_format_name(ToolCallFormat format);

// The format a chat template's model writes its calls in, from the template's text; kNone when it shows none
// of the markers above.
ToolCallFormat detect_tool_call_format(std::string_view chat_template);

struct ToolCall {
  std::string name;
  std::string arguments;  // a JSON object as text ("{}" when the call gave none)
  std::string id;         // the call's id where the format carries one (Mistral), else empty
};

struct ParsedReply {
  std::vector<ToolCall> calls;
  // The text outside the calls (trimmed of surrounding whitespace when there are calls); a malformed call stays
  // here, as the model wrote it.
  std::string content;
  // Why text that began as a call was left as content (empty when nothing was malformed); one line.
  std::string error;
};

// Splits a finished reply into its tool calls and its content. Never throws for any text.
ParsedReply parse_tool_calls(std::string_view text, ToolCallFormat format);

// For streaming: the length of the prefix of `text` (a reply so far) that is content whatever follows; the rest
// may be (the start of) a tool call and should be held back until the reply ends. text.size() when nothing is
// held.
size_t tool_call_content_end(std::string_view text, ToolCallFormat format);

}  // namespace ternion
