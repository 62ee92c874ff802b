// ChatTemplate: JSON context in, rendered text out, over the Jinja interpreter in jinja_*.cpp.
#include "ternion/tokenizer/chat_template.h"

#include "jinja_ast.h"
#include "jinja_interp.h"
#include "ternion/core/error.h"

namespace ternion {

namespace {

using jinja::Value;

Value from_json(const nlohmann::ordered_json& j, uint32_t depth) {
  if (depth > jinja::kMaxValueDepth) throw Error("chat template context: JSON nested too deep");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      for (const auto& x : j) items.push_back(from_json(x, depth + 1));
      return Value::make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      std::vector<std::pair<std::string, Value>> items;
      for (const auto& [k, x] : j.items()) items.emplace_back(k, from_json(x, depth + 1));
      return Value::make_dict(std::move(items));
    }
    default:
      throw Error("chat template context: unsupported JSON value (binary)");
  }
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source) : source_(std::move(source)), tmpl_(jinja::parse_template(source_)) {}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

void ChatTemplate::set_now(const std::tm& now) {
  now_ = now;
  fixed_now_ = true;
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) throw Error("chat template context must be a JSON object");
  std::tm now = now_;
  if (!fixed_now_) {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &now);
  }
  jinja::Budget budget;
  budget.max_steps = limits_.max_steps;
  budget.max_string = limits_.max_bytes;
  jinja::Interp interp(budget, now);
  auto globals = std::make_shared<jinja::Frame>();
  jinja::add_globals(*globals);
  auto frame = std::make_shared<jinja::Frame>();
  frame->parent = globals;
  for (const auto& [k, v] : context.items()) frame->set(k, from_json(v, 0));
  std::string out;
  interp.render(tmpl_->body, frame, out);
  return out;
}

std::string apply_chat_template(const std::string& source, const nlohmann::ordered_json& messages,
                                bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::ordered_json* tools) {
  nlohmann::ordered_json context = {{"messages", messages},
                                    {"add_generation_prompt", add_generation_prompt},
                                    {"bos_token", bos_token},
                                    {"eos_token", eos_token}};
  if (tools != nullptr) context["tools"] = *tools;
  return ChatTemplate(source).render(context);
}

}  // namespace ternion
