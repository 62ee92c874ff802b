// The code runner offered to the model as a tool, for chat templates that support tools: an OpenAI-style
// function `run_code` whose call the agent runs exactly as it runs a fenced code block.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ternion/agent/code_blocks.h"

namespace ternion::agent {

extern const char* const kRunCodeTool;  // "run_code"

// The tools array to render prompts with: [{"type": "function", "function": {"name": "run_code", ...}}], its
// parameters `language` (an enum of the languages we run) and `code`.
nlohmann::ordered_json code_runner_tools();

// A tool call as the model's reply carried it: the function's name and its arguments as JSON text.
struct AgentToolCall {
  std::string name;
  std::string arguments;
};

// The block a call asks to run; `error` (one line, for the model) when the call is not a well-formed run_code
// call: another tool's name, arguments that are not an object, a missing `code`, a language we do not run.
struct CallBlock {
  CodeBlock block;
  std::string error;
};
CallBlock block_from_call(const AgentToolCall& call);

}  // namespace ternion::agent
