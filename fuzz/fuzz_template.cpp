// libFuzzer target for the chat template interpreter: any input is parsed as a Jinja template and rendered over a
// small fixed conversation. It must either render or throw ternion::Error with a one-line message, within the step
// and size limits; anything else (a sanitizer report, another exception, a hang, a trap below) is a bug.
#include <cstdint>
#include <cstring>
#include <string>

#include "ternion/core/error.h"
#include "ternion/tokenizer/chat_template.h"

namespace {

const nlohmann::ordered_json& context() {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi \"there\" <b> & ünïcode ✓\n"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "n": 1.5}}}]},
      {"role": "tool", "name": "get_weather", "content": "{\"temp\": 20}"},
      {"role": "assistant", "content": "It is 20 degrees."}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "add_generation_prompt": true,
    "bos_token": "<s>",
    "eos_token": "</s>"
  })");
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    ternion::ChatTemplate t(source);
    t.set_limits({200'000, 1u << 20});  // small, so that every input finishes well inside libFuzzer's timeout
    std::tm now{};
    now.tm_year = 126;
    now.tm_mday = 15;
    t.set_now(now);
    const std::string out = t.render(context());
    if (out.size() > (1u << 20)) __builtin_trap();
  } catch (const ternion::Error& e) {
    if (std::strchr(e.what(), '\n') != nullptr || std::strchr(e.what(), '\r') != nullptr) __builtin_trap();
  }
  return 0;
}
