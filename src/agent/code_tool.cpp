#include "ternion/agent/code_tool.h"

#include <array>

namespace ternion::agent {

const char* const kRunCodeTool = "run_code";

namespace {

// The Language names, the same list language_names() prints.
nlohmann::ordered_json language_enum() {
  nlohmann::ordered_json names = nlohmann::ordered_json::array();
  const std::string all = language_names();
  size_t start = 0;
  while (start < all.size()) {
    const size_t end = std::min(all.find(", ", start), all.size());
    names.push_back(all.substr(start, end - start));
    start = end + 2;
  }
  return names;
}

}  // namespace

nlohmann::ordered_json code_runner_tools() {
  nlohmann::ordered_json params = {
      {"type", "object"},
      {"properties",
       {{"language", {{"type", "string"}, {"enum", language_enum()}, {"description", "The program's language"}}},
        {"code", {{"type", "string"}, {"description", "The complete program"}}}}},
      {"required", {"language", "code"}}};
  nlohmann::ordered_json function = {
      {"name", kRunCodeTool},
      {"description", "Run a complete program without network access and return its output and exit status"},
      {"parameters", std::move(params)}};
  return nlohmann::ordered_json::array({{{"type", "function"}, {"function", std::move(function)}}});
}

CallBlock block_from_call(const AgentToolCall& call) {
  CallBlock out;
  if (call.name != kRunCodeTool) {
    out.error = "there is no tool named \"" + call.name + "\"; the only tool is " + kRunCodeTool;
    return out;
  }
  const nlohmann::json args = nlohmann::json::parse(call.arguments, nullptr, false);
  if (args.is_discarded() || !args.is_object()) {
    out.error = std::string(kRunCodeTool) + "'s arguments are not a JSON object";
    return out;
  }
  if (!args.contains("code") || !args["code"].is_string()) {
    out.error = std::string(kRunCodeTool) + " needs a string argument \"code\"";
    return out;
  }
  const std::string tag =
      args.contains("language") && args["language"].is_string() ? args["language"].get<std::string>() : "";
  out.block.tag = tag;
  out.block.language = find_language(tag);
  if (out.block.language == nullptr) {
    out.error =
        std::string(kRunCodeTool) + "'s \"language\" must be one of " + language_names() + ", got \"" + tag + "\"";
    return out;
  }
  out.block.code = args["code"].get<std::string>();
  return out;
}

}  // namespace ternion::agent
