#include "ternion/engine/chat.h"

#include <utility>

#include "ternion/core/error.h"

namespace ternion {

const char* const kFallbackChatTemplate =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

ChatFormat::ChatFormat(const Tokenizer& tokenizer, std::string source)
    : tokenizer_(tokenizer), template_(std::move(source)) {
  const Vocab& v = tokenizer.vocab();
  const auto text = [&](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < v.tokens.size() ? v.tokens[static_cast<size_t>(id)] : std::string();
  };
  bos_text_ = text(v.bos);
  eos_text_ = text(v.eos);
}

std::string ChatFormat::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                               const nlohmann::ordered_json& tools) const {
  nlohmann::ordered_json context = {{"messages", messages},
                                    {"add_generation_prompt", add_generation_prompt},
                                    {"bos_token", bos_text_},
                                    {"eos_token", eos_text_}};
  if (tools.is_array()) context["tools"] = tools;
  return template_.render(context);
}

std::vector<int32_t> ChatFormat::prompt(const nlohmann::ordered_json& messages,
                                        const nlohmann::ordered_json& tools) const {
  std::vector<int32_t> ids = tokenizer_.encode(render(messages, true, tools), false, true);
  const Vocab& v = tokenizer_.vocab();
  if (v.add_bos && v.bos >= 0 && (ids.empty() || ids.front() != v.bos)) ids.insert(ids.begin(), v.bos);
  return ids;
}

std::string ChatFormat::literal(std::string_view text) const {
  static constexpr std::string_view kZeroWidthSpace = "\u200b";
  std::string out(text);
  const Vocab& v = tokenizer_.vocab();
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    const std::string& t = v.tokens[id];
    if (v.types[id] != TokenType::Control || t.size() < 2) continue;
    // The break goes after the whole first UTF-8 character (its lead byte says how long it is).
    const auto lead = static_cast<unsigned char>(t[0]);
    const size_t first = lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
    if (first >= t.size()) continue;
    for (size_t at = out.find(t); at != std::string::npos; at = out.find(t, at + first + kZeroWidthSpace.size())) {
      out.insert(at + first, kZeroWidthSpace);
    }
  }
  return out;
}

void Conversation::add(std::string role, std::string content) {
  turns_.push_back({std::move(role), std::move(content), nullptr});
}

std::vector<std::string> Conversation::add_tool_calls(std::string content, const std::vector<ToolCall>& calls) {
  std::vector<std::string> ids;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ToolCall& call : calls) {
    std::string id = call.id;
    if (id.empty()) {
      const std::string n = std::to_string(++calls_made_);
      id = "call" + std::string(n.size() < 5 ? 5 - n.size() : 0, '0') + n;
    }
    nlohmann::ordered_json args = nlohmann::ordered_json::parse(call.arguments, nullptr, false);
    if (args.is_discarded()) args = call.arguments;  // the parser promises an object; keep the text otherwise
    list.push_back(
        {{"id", id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", std::move(args)}}}});
    ids.push_back(std::move(id));
  }
  turns_.push_back({"assistant", std::move(content), {{"tool_calls", std::move(list)}}});
  return ids;
}

void Conversation::add_tool_result(std::string id, std::string name, std::string content) {
  turns_.push_back({"tool", std::move(content), {{"tool_call_id", std::move(id)}, {"name", std::move(name)}}});
}

bool Conversation::drop_oldest_turn() {
  // The oldest turn ends where the second user message starts.
  size_t users = 0;
  for (size_t i = 0; i < turns_.size(); ++i) {
    if (turns_[i].role != "user" || ++users < 2) continue;
    turns_.erase(turns_.begin(), turns_.begin() + static_cast<std::ptrdiff_t>(i));
    return true;
  }
  return false;
}

nlohmann::ordered_json Conversation::messages() const {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  if (!system_.empty()) out.push_back({{"role", "system"}, {"content", system_}});
  for (const Message& m : turns_) {
    nlohmann::ordered_json j = {{"role", m.role}, {"content", m.content}};
    if (m.extra.is_object()) j.update(m.extra);
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::ordered_json Conversation::to_json() const { return {{"messages", messages()}}; }

Conversation Conversation::from_json(const nlohmann::ordered_json& j, const std::string& what) {
  const nlohmann::ordered_json* list = &j;
  if (j.is_object() && j.contains("messages")) list = &j["messages"];
  if (!list->is_array()) throw Error(what + ": expected {\"messages\": [...]}");
  Conversation c;
  for (size_t i = 0; i < list->size(); ++i) {
    const auto& m = (*list)[i];
    const std::string where = what + ": messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      throw Error(where + ": expected an object with a string \"role\"");
    }
    if (!m.contains("content") || !m["content"].is_string()) throw Error(where + ": expected a string \"content\"");
    std::string role = m["role"].get<std::string>();
    std::string content = m["content"].get<std::string>();
    if (role == "system" && i == 0) {
      c.system_ = std::move(content);
      continue;
    }
    c.add(std::move(role), std::move(content));
    for (const char* key : {"tool_calls", "tool_call_id", "name"}) {  // an agent's turns, kept as they were
      if (!m.contains(key)) continue;
      if (!c.turns_.back().extra.is_object()) c.turns_.back().extra = nlohmann::ordered_json::object();
      c.turns_.back().extra[key] = m[key];
    }
    if (m.contains("tool_calls") && m["tool_calls"].is_array()) c.calls_made_ += m["tool_calls"].size();  // fresh ids
  }
  return c;
}

}  // namespace ternion
