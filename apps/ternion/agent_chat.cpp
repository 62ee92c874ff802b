#include "agent_chat.h"

#include "ternion/agent/code_tool.h"
#include "ternion/core/error.h"

namespace ternion::cli {

TemplateAgentModel::TemplateAgentModel(const ChatFormat& format, const std::string& source, const std::string& system)
    : format_(format), tool_format_(detect_tool_call_format(source)) {
  if (tool_format_ != ToolCallFormat::kNone) tools_ = agent::code_runner_tools();
  conv_.set_system(system);
}

std::string TemplateAgentModel::respond(const std::string& message) {
  // The task is the user's own text; later messages carry program output, read as plain text only.
  conv_.add("user", conv_.empty() ? message : format_.literal(message));
  return reply();
}

std::string TemplateAgentModel::respond_to_calls(const std::vector<std::string>& results) {
  if (results.size() != call_ids_.size()) {
    throw Error("the agent answered " + std::to_string(results.size()) + " tool calls of " +
                std::to_string(call_ids_.size()));
  }
  for (size_t i = 0; i < results.size(); ++i) {
    conv_.add_tool_result(call_ids_[i], calls_.calls[i].name, format_.literal(results[i]));
  }
  return reply();
}

std::string TemplateAgentModel::rendered() const { return format_.render(conv_.messages(), true, tools_); }

std::string TemplateAgentModel::reply() {
  // Control tokens are printed whenever tools are offered: Mistral's and Llama's markers are control tokens,
  // and some conversions type Qwen's <tool_call> so too.
  const std::string text = generate(format_.prompt(conv_.messages(), tools_), tool_format_ != ToolCallFormat::kNone);
  calls_ = {};
  call_ids_.clear();
  if (tool_format_ == ToolCallFormat::kNone) {
    conv_.add("assistant", text);
    return text;
  }
  ParsedReply parsed = parse_tool_calls(text, tool_format_);
  calls_.error = parsed.error;
  if (parsed.calls.empty()) {
    conv_.add("assistant", text);
    return text;
  }
  for (const ToolCall& c : parsed.calls) calls_.calls.push_back({c.name, c.arguments});
  call_ids_ = conv_.add_tool_calls(parsed.content, parsed.calls);
  return text;
}

}  // namespace ternion::cli
