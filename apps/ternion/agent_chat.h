// The agent's model side over a chat template: the conversation, rendered with the code runner offered as a
// tool where the template supports tools, the replies read for tool calls, and the calls' results fed back as
// the template expects (role "tool"). Generation itself is left to a subclass (a Generator in the program, a
// script in the tests).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ternion/agent/agent_loop.h"
#include "ternion/engine/chat.h"
#include "ternion/engine/tool_calls.h"

namespace ternion::cli {

class TemplateAgentModel : public agent::AgentModel {
 public:
  // `source`: the chat template's text, read for its tool-call format.
  TemplateAgentModel(const ChatFormat& format, const std::string& source, const std::string& system);

  std::string respond(const std::string& message) override;
  std::string respond_to_calls(const std::vector<std::string>& results) override;
  bool offers_tools() const override { return tool_format_ != ToolCallFormat::kNone; }
  Calls reply_calls() const override { return calls_; }

  ToolCallFormat tool_format() const { return tool_format_; }
  const Conversation& conversation() const { return conv_; }
  // The prompt the next reply is generated from, as text.
  std::string rendered() const;

 protected:
  // The reply to `prompt`. `special`: control tokens are written as their text (Mistral's [TOOL_CALLS] and
  // Llama's <|python_tag|> are control tokens, which the parser must see).
  virtual std::string generate(std::vector<int32_t> prompt, bool special) = 0;

 private:
  std::string reply();

  const ChatFormat& format_;
  ToolCallFormat tool_format_;
  nlohmann::ordered_json tools_;  // null when none are offered
  Conversation conv_;
  Calls calls_;
  std::vector<std::string> call_ids_;  // of calls_, in order
};

}  // namespace ternion::cli
