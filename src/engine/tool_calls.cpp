#include "ternion/engine/tool_calls.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

namespace ternion {

namespace {

using Json = nlohmann::json;

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kMistralCalls = "[TOOL_CALLS]";
constexpr std::string_view kMistralArgs = "[ARGS]";
constexpr std::string_view kMistralCallId = "[CALL_ID]";
// Deeper JSON than a tool's arguments ever need is refused before nlohmann parses it.
constexpr int kMaxJsonDepth = 256;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_space(std::string_view s, size_t pos) {
  while (pos < s.size() && is_space(s[pos])) ++pos;
  return pos;
}

std::string trim(std::string_view s) {
  const size_t b = skip_space(s, 0);
  size_t e = s.size();
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// A short quote of the text at `pos` for error messages.
std::string quote_at(std::string_view s, size_t pos) {
  std::string q(s.substr(pos, 24));
  if (pos + 24 < s.size()) q += "...";
  return "'" + q + "'";
}

// The end of the JSON object or array starting at s[pos] (one past its closing bracket), found by matching
// brackets outside strings; nullopt with `why` when it is unterminated or nested too deeply.
std::optional<size_t> json_end(std::string_view s, size_t pos, std::string& why) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        why = "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
        return std::nullopt;
      }
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  why = "the JSON at " + quote_at(s, pos) + " is unterminated";
  return std::nullopt;
}

// Parses the JSON value at s[pos] ('{' or '['); sets `end` past it.
std::optional<Json> parse_json_at(std::string_view s, size_t pos, size_t& end, std::string& why) {
  if (pos >= s.size() || (s[pos] != '{' && s[pos] != '[')) {
    why = pos >= s.size() ? "the text ends where a JSON call was expected"
                          : "expected a JSON call at " + quote_at(s, pos);
    return std::nullopt;
  }
  const auto e = json_end(s, pos, why);
  if (!e) return std::nullopt;
  Json j = Json::parse(s.substr(pos, *e - pos), nullptr, false);
  if (j.is_discarded()) {
    why = "invalid JSON at " + quote_at(s, pos);
    return std::nullopt;
  }
  end = *e;
  return j;
}

// The arguments of a call as JSON text: an object (dumped), a string holding one (kept), or absent ("{}").
std::optional<std::string> arguments_text(const Json& args, std::string& why) {
  if (args.is_null()) return "{}";
  if (args.is_object()) return args.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (args.is_string()) {
    const std::string& text = args.get_ref<const std::string&>();
    if (Json::parse(text, nullptr, false).is_object()) return text;
  }
  why = "the call's arguments are not a JSON object";
  return std::nullopt;
}

// One call object {"name": ..., "arguments" or "parameters": {...}, "id"?}.
std::optional<ToolCall> call_from_json(const Json& j, std::string& why) {
  if (!j.is_object()) {
    why = "a tool call is not a JSON object";
    return std::nullopt;
  }
  const auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    why = "a tool call has no \"name\" string";
    return std::nullopt;
  }
  const auto args = j.contains("arguments") ? j.at("arguments") : j.value("parameters", Json());
  const auto text = arguments_text(args, why);
  if (!text) return std::nullopt;
  ToolCall call{name->get<std::string>(), *text, {}};
  if (const auto id = j.find("id"); id != j.end() && id->is_string()) call.id = id->get<std::string>();
  return call;
}

// Appends the calls of a JSON object or array of objects.
bool append_calls(const Json& j, std::vector<ToolCall>& calls, std::string& why) {
  if (j.is_array()) {
    if (j.empty()) {
      why = "an empty list of tool calls";
      return false;
    }
    for (const Json& item : j) {
      auto call = call_from_json(item, why);
      if (!call) return false;
      calls.push_back(std::move(*call));
    }
    return true;
  }
  auto call = call_from_json(j, why);
  if (!call) return false;
  calls.push_back(std::move(*call));
  return true;
}

void finish(ParsedReply& r) {
  if (!r.calls.empty()) r.content = trim(r.content);
}

// <tool_call>{...}</tool_call>, any number; a block that does not parse stays content and the scan goes on.
ParsedReply parse_hermes(std::string_view text) {
  ParsedReply r;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find(kHermesOpen, pos);
    if (open == std::string_view::npos) break;
    r.content.append(text.substr(pos, open - pos));
    size_t end = 0;
    std::string why;
    const size_t start = skip_space(text, open + kHermesOpen.size());
    std::vector<ToolCall> block;
    const auto j = parse_json_at(text, start, end, why);
    bool ok = j && append_calls(*j, block, why);
    if (ok) {
      end = skip_space(text, end);
      if (text.substr(end, kHermesClose.size()) == kHermesClose) {
        end += kHermesClose.size();
      } else if (end < text.size()) {
        why = "no </tool_call> after the call, found " + quote_at(text, end);
        ok = false;
      }
    }
    if (!ok) {
      if (r.error.empty()) r.error = "<tool_call> left as text: " + why;
      r.content.append(kHermesOpen);
      pos = open + kHermesOpen.size();
      continue;
    }
    r.calls.insert(r.calls.end(), block.begin(), block.end());
    pos = end;
  }
  if (pos < text.size()) r.content.append(text.substr(pos));
  finish(r);
  return r;
}

// JSON calls separated by ';' or whitespace up to the end of the text, from `pos`.
bool parse_json_sequence(std::string_view text, size_t pos, std::vector<ToolCall>& calls, std::string& why) {
  pos = skip_space(text, pos);
  while (pos < text.size()) {
    size_t end = 0;
    const auto j = parse_json_at(text, pos, end, why);
    if (!j || !append_calls(*j, calls, why)) return false;
    pos = skip_space(text, end);
    if (pos < text.size() && text[pos] == ';') pos = skip_space(text, pos + 1);
  }
  if (calls.empty()) why = "no call after the marker";
  return !calls.empty();
}

// Llama 3.x: the reply is JSON calls, or text then <|python_tag|> and JSON calls.
ParsedReply parse_llama3(std::string_view text) {
  ParsedReply r;
  const size_t tag = text.find(kPythonTag);
  const size_t start = tag == std::string_view::npos ? skip_space(text, 0) : tag + kPythonTag.size();
  if (tag == std::string_view::npos && (start == text.size() || text[start] != '{')) {
    r.content = std::string(text);
    return r;
  }
  std::string why;
  if (!parse_json_sequence(text, start, r.calls, why)) {
    r.calls.clear();
    r.content = std::string(text);
    r.error =
        (tag == std::string_view::npos ? "the JSON reply is not a tool call: " : "<|python_tag|> left as text: ") + why;
    return r;
  }
  r.content = tag == std::string_view::npos ? std::string() : std::string(text.substr(0, tag));
  finish(r);
  return r;
}

// One [TOOL_CALLS] block at `pos` (just after the marker): a JSON list, or name[CALL_ID]id[ARGS]{...}.
bool parse_mistral_block(std::string_view text, size_t pos, size_t& end, std::vector<ToolCall>& calls,
                         std::string& why) {
  pos = skip_space(text, pos);
  if (pos < text.size() && (text[pos] == '[' || text[pos] == '{')) {
    const auto j = parse_json_at(text, pos, end, why);
    return j && append_calls(*j, calls, why);
  }
  const size_t args = text.find(kMistralArgs, pos);
  if (args == std::string_view::npos) {
    why = "no [ARGS] after the tool name";
    return false;
  }
  ToolCall call;
  const size_t id = text.substr(0, args).find(kMistralCallId, pos);
  call.name = trim(text.substr(pos, std::min(id, args) - pos));
  if (id != std::string_view::npos)
    call.id = trim(text.substr(id + kMistralCallId.size(), args - id - kMistralCallId.size()));
  const bool bad_name = call.name.empty() || std::any_of(call.name.begin(), call.name.end(), [](char c) {
                          return is_space(c) || c == '[' || c == ']' || c == '{' || c == '"';
                        });
  if (bad_name) {
    why = "the tool name " + quote_at(text, pos) + " is not a name";
    return false;
  }
  const auto j = parse_json_at(text, skip_space(text, args + kMistralArgs.size()), end, why);
  if (!j) return false;
  const auto arguments = arguments_text(*j, why);
  if (!arguments) return false;
  call.arguments = *arguments;
  calls.push_back(std::move(call));
  return true;
}

ParsedReply parse_mistral(std::string_view text) {
  ParsedReply r;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t marker = text.find(kMistralCalls, pos);
    if (marker == std::string_view::npos) break;
    r.content.append(text.substr(pos, marker - pos));
    size_t end = 0;
    std::string why;
    std::vector<ToolCall> block;
    if (!parse_mistral_block(text, marker + kMistralCalls.size(), end, block, why)) {
      if (r.error.empty()) r.error = "[TOOL_CALLS] left as text: " + why;
      r.content.append(kMistralCalls);
      pos = marker + kMistralCalls.size();
      continue;
    }
    r.calls.insert(r.calls.end(), block.begin(), block.end());
    pos = end;
  }
  if (pos < text.size()) r.content.append(text.substr(pos));
  finish(r);
  return r;
}

// Where `marker` or a start of it that ends the text begins; text.size() when neither.
size_t marker_start(std::string_view text, std::string_view marker) {
  const size_t at = text.find(marker);
  if (at != std::string_view::npos) return at;
  for (size_t n = std::min(marker.size() - 1, text.size()); n > 0; --n) {
    if (text.substr(text.size() - n) == marker.substr(0, n)) return text.size() - n;
  }
  return text.size();
}

}  // namespace

const char* tool_call_format_name(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return "hermes";
    case ToolCallFormat::kLlama3:
      return "llama3";
    case ToolCallFormat::kMistral:
      return "mistral";
    case ToolCallFormat::kNone:
      break;
  }
  return "none";
}

ToolCallFormat detect_tool_call_format(std::string_view t) {
  const auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has(kHermesOpen)) return ToolCallFormat::kHermes;
  if (has(kMistralCalls)) return ToolCallFormat::kMistral;
  // Functionary writes <function=name>...; Command-R an "Action:" block: formats of their own, not Llama's JSON
  // even where their templates say "parameters" or <|python_tag|>.
  if (has("<function=") || has("Action:")) return ToolCallFormat::kNone;
  if (has("<|start_header_id|>") && (has(kPythonTag) || has("\"parameters\""))) return ToolCallFormat::kLlama3;
  return ToolCallFormat::kNone;
}

ParsedReply parse_tool_calls(std::string_view text, ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return parse_hermes(text);
    case ToolCallFormat::kLlama3:
      return parse_llama3(text);
    case ToolCallFormat::kMistral:
      return parse_mistral(text);
    case ToolCallFormat::kNone:
      break;
  }
  return ParsedReply{{}, std::string(text), {}};
}

size_t tool_call_content_end(std::string_view text, ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return marker_start(text, kHermesOpen);
    case ToolCallFormat::kMistral:
      return marker_start(text, kMistralCalls);
    case ToolCallFormat::kLlama3: {
      // A reply that opens with '{' (or nothing but space yet) may be a call as a whole.
      const size_t first = skip_space(text, 0);
      if (first == text.size() || text[first] == '{') return 0;
      return marker_start(text, kPythonTag);
    }
    case ToolCallFormat::kNone:
      break;
  }
  return text.size();
}

}  // namespace ternion
