// Chat templates: renders a model's Jinja chat template (GGUF `tokenizer.chat_template`) with Ternion's own Jinja
// interpreter, as HF transformers renders it (jinja2 with trim_blocks, lstrip_blocks, loop controls, a tojson that
// is json.dumps(ensure_ascii=False), raise_exception and strftime_now).
//
// Contexts are nlohmann::ordered_json so that dict key order survives into tojson output as it does in Python
// (a plain nlohmann::json sorts keys). Any construct the interpreter does not support, a template error, a
// raise_exception call or an exceeded limit (steps, output size, nesting) throws ternion::Error with a one-line
// message naming the template line; nothing is rendered silently wrong.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace ternion {

namespace jinja {
struct Template;
}

// Limits that stop a hostile or broken template; exceeding one throws Error.
struct ChatTemplateLimits {
  uint64_t max_steps = 20'000'000;  // statements, expressions and value nodes visited (~ a few seconds at most)
  size_t max_bytes = 16u << 20;     // the output, and any one string built while rendering
};

class ChatTemplate {
 public:
  // Parses `source`; throws Error on a syntax error or an unsupported tag.
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with `context`'s keys as template variables (messages, add_generation_prompt, bos_token, ...).
  std::string render(const nlohmann::ordered_json& context) const;

  // The time strftime_now() formats; the local time at render() unless set (tests fix it).
  void set_now(const std::tm& now);
  void set_limits(const ChatTemplateLimits& limits) { limits_ = limits; }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::unique_ptr<jinja::Template> tmpl_;
  bool fixed_now_ = false;
  std::tm now_{};
  ChatTemplateLimits limits_;
};

// One-call rendering with the usual context; `tools` is left undefined when null.
std::string apply_chat_template(const std::string& source, const nlohmann::ordered_json& messages,
                                bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::ordered_json* tools = nullptr);

}  // namespace ternion
