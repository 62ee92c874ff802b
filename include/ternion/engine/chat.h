// A conversation for `ternion chat` (and the server's chat prompts): the messages, their rendering through the
// model's chat template, and the conversation as OpenAI-style JSON ({"messages":[{"role":..,"content":..}]}).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/engine/tool_calls.h"
#include "ternion/tokenizer/chat_template.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion {

// Used when a model has no chat template of its own: ChatML.
extern const char* const kFallbackChatTemplate;

// A chat template with the vocabulary's BOS and EOS texts, turning messages into a prompt.
class ChatFormat {
 public:
  // `source`: Jinja text (the model's tokenizer.chat_template, a --template file or kFallbackChatTemplate).
  ChatFormat(const Tokenizer& tokenizer, std::string source);

  // The template over `messages` (an array of {role, content}); throws Error when the template fails.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& tools = nullptr) const;
  // The rendering ending with the assistant's header, tokenized: special-token text read as those tokens, BOS
  // added when the vocabulary asks for it and the template did not write it.
  std::vector<int32_t> prompt(const nlohmann::ordered_json& messages,
                              const nlohmann::ordered_json& tools = nullptr) const;
  // `text` with every control token's text in it broken by a zero-width space after its first character, so that
  // text from outside (a program's output that the agent feeds back) reads as plain text: it cannot end a turn or
  // forge one. (Tokenizing the messages apart from the template's markup would change the tokens at their edges.)
  std::string literal(std::string_view text) const;

 private:
  const Tokenizer& tokenizer_;
  ChatTemplate template_;
  std::string bos_text_, eos_text_;
};

// The messages of one chat: an optional system prompt first, then user and assistant turns.
class Conversation {
 public:
  void set_system(std::string text) { system_ = std::move(text); }  // empty: none
  const std::string& system() const { return system_; }
  void add(std::string role, std::string content);
  // An assistant turn that called tools, as OpenAI messages carry it (tool_calls of type "function", each with an
  // id) with the arguments as JSON objects, which is what the templates print. A call without an id gets
  // "call" and five digits (Mistral's templates want nine letters or digits). Returns the calls' ids, in order.
  std::vector<std::string> add_tool_calls(std::string content, const std::vector<ToolCall>& calls);
  // A tool's result: role "tool" with the id and name of the call it answers.
  void add_tool_result(std::string id, std::string name, std::string content);
  void clear() { turns_.clear(); }  // keeps the system prompt
  void pop_back() { turns_.pop_back(); }
  bool empty() const { return turns_.empty(); }
  size_t size() const { return turns_.size(); }  // messages after the system prompt

  // Drops the oldest turn (the first user message and the replies after it) while a later user message remains;
  // false when there is none to drop. The system prompt is never dropped.
  bool drop_oldest_turn();

  // [{role, content}, ...] (with tool_calls, tool_call_id and name where set), the system prompt first.
  nlohmann::ordered_json messages() const;
  // {"messages": [...]}
  nlohmann::ordered_json to_json() const;
  // Reads {"messages": [...]} (or a bare array); a leading system message becomes the system prompt. Throws Error
  // naming `what` (the file) and the message at fault.
  static Conversation from_json(const nlohmann::ordered_json& j, const std::string& what);

 private:
  struct Message {
    std::string role, content;
    nlohmann::ordered_json extra;  // null, or the keys a message adds to role and content (tool calls)
  };
  std::string system_;
  std::vector<Message> turns_;
  size_t calls_made_ = 0;  // tool calls given an id here
};

}  // namespace ternion
