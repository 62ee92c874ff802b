// Reading the bodies of the generation endpoints: every known field is type- and range-checked; unknown fields
// are ignored, as OpenAI's own clients send fields a server may not know.
#include <cmath>
#include <iterator>
#include <limits>
#include <random>
#include <string>

#include "request_fields.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/server/api_error.h"
#include "ternion/server/openai_schema.h"
#include "ternion/server/structured_output.h"

namespace ternion::server {

namespace fields {

using json = nlohmann::json;

namespace {
constexpr size_t kMaxStopStrings = 16;
}  // namespace

const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

[[noreturn]] void wrong_type(const char* name, const char* expected) {
  throw bad_request(std::string("'") + name + "' must be " + expected, name);
}

std::optional<bool> get_bool(const json& body, const char* name) {
  const json* v = field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) wrong_type(name, "a boolean");
  return v->get<bool>();
}

std::optional<int64_t> get_int(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) wrong_type(name, "an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw bad_request("'" + std::string(name) + "' is too large: " + v->dump(), name);
  }
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) {
    throw bad_request("'" + std::string(name) + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "], got " + std::to_string(x),
                      name);
  }
  return x;
}

std::optional<std::string> get_string(const json& body, const char* name) {
  const json* v = field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) wrong_type(name, "a string");
  return v->get<std::string>();
}

std::vector<std::string> read_stop(const json& body) {
  const json* s = field(body, "stop");
  if (s == nullptr) return {};
  std::vector<std::string> out;
  if (s->is_string()) {
    out.push_back(s->get<std::string>());
  } else if (s->is_array()) {
    if (s->size() > kMaxStopStrings) {
      throw bad_request("'stop' holds at most " + std::to_string(kMaxStopStrings) + " strings", "stop");
    }
    for (const json& x : *s) {
      if (!x.is_string()) wrong_type("stop", "a string or an array of strings");
      out.push_back(x.get<std::string>());
    }
  } else {
    wrong_type("stop", "a string or an array of strings");
  }
  for (const std::string& x : out) {
    if (x.empty()) throw bad_request("'stop' strings must not be empty", "stop");
  }
  return out;
}

namespace {
std::vector<std::pair<int32_t, float>> read_logit_bias(const json& body) {
  const json* b = field(body, "logit_bias");
  if (b == nullptr) return {};
  if (!b->is_object()) wrong_type("logit_bias", "an object mapping token ids to numbers");
  std::vector<std::pair<int32_t, float>> out;
  for (auto it = b->begin(); it != b->end(); ++it) {
    const std::string& key = it.key();
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(key, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != key.size() || id < 0 || id > std::numeric_limits<int32_t>::max()) {
      throw bad_request("'logit_bias' keys must be token ids, got '" + key + "'", "logit_bias");
    }
    if (!it.value().is_number()) wrong_type("logit_bias", "an object mapping token ids to numbers");
    const double v = it.value().get<double>();
    if (!(v >= -100.0 && v <= 100.0)) throw bad_request("'logit_bias' values must be in [-100, 100]", "logit_bias");
    out.emplace_back(static_cast<int32_t>(id), static_cast<float>(v));
  }
  return out;
}

}  // namespace

std::optional<double> get_param(const json& body, const ParamRule& rule) {
  const std::string name(rule.field);
  const json* v = field(body, name.c_str());
  if (v == nullptr) return std::nullopt;
  if (rule.integer ? !v->is_number_integer() : !v->is_number()) {
    wrong_type(name.c_str(), rule.integer ? "an integer" : "a number");
  }
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw bad_request(name + " must " + "be at most 9223372036854775807, got " + v->dump(), name);
  }
  try {
    check_param(rule, v->get<double>(), ParamSurface::kRequest);
  } catch (const ParamError& e) {
    throw bad_request(e.what(), name);
  }
  return v->get<double>();
}

void read_sampling(const json& body, ParsedRequest& r) {
  SamplingParams& s = r.spec.sampling;
  using namespace params;
  if (auto v = get_param(body, kTemperature)) s.temperature = static_cast<float>(*v);
  if (auto v = get_param(body, kTopP)) s.top_p = static_cast<float>(*v);
  if (auto v = get_param(body, kTopK)) s.top_k = static_cast<int32_t>(*v);
  if (auto v = get_param(body, kMinP)) s.min_p = static_cast<float>(*v);
  if (auto v = get_param(body, kPresencePenalty)) s.presence_penalty = static_cast<float>(*v);
  if (auto v = get_param(body, kFrequencyPenalty)) s.frequency_penalty = static_cast<float>(*v);
  if (auto v = get_param(body, kRepeatPenalty)) s.repeat_penalty = static_cast<float>(*v);
  if (auto v = get_param(body, kRepeatLastN)) s.repeat_last_n = static_cast<int32_t>(*v);
  if (get_param(body, kSeed) && body["seed"].get<int64_t>() >= 0) {
    s.seed = static_cast<uint64_t>(body["seed"].get<int64_t>());
    r.seed_given = true;
  } else {
    s.seed = std::random_device{}();
  }
  s.logit_bias = read_logit_bias(body);
  try {
    s.validate(ParamSurface::kRequest);
  } catch (const ParamError& e) {
    throw bad_request(e.what(), e.field());
  }
}

nlohmann::ordered_json read_tools(const json& body) {
  const json* t = field(body, "tools");
  if (t == nullptr) return nullptr;
  if (!t->is_array()) wrong_type("tools", "an array");
  for (size_t i = 0; i < t->size(); ++i) {
    const json& tool = (*t)[i];
    const std::string where = "tools[" + std::to_string(i) + "]";
    const json* fn = tool.is_object() ? field(tool, "function") : nullptr;
    if (fn == nullptr || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string()) {
      throw bad_request("'" + where + "' must be {\"type\": \"function\", \"function\": {\"name\": ...}}", where);
    }
    if (const json* type = field(tool, "type"); type != nullptr && *type != "function") {
      throw bad_request("'" + where + ".type' must be \"function\"", where + ".type");
    }
  }
  return nlohmann::ordered_json::parse(t->dump());
}

nlohmann::ordered_json read_tool_calls(const json& calls, const std::string& where) {
  if (!calls.is_array()) throw bad_request("'" + where + "' must be an array", where);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const json& call = calls[i];
    const json* fn = call.is_object() ? field(call, "function") : nullptr;
    if (fn == nullptr || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string()) {
      throw bad_request("'" + at + "' must be {\"function\": {\"name\": ..., \"arguments\": ...}}", at);
    }
    nlohmann::ordered_json c = nlohmann::ordered_json::parse(call.dump());
    // Templates print the arguments with |tojson: OpenAI's JSON text becomes the object it stands for, or it would
    // be quoted twice. Text that is not a JSON object stays as the client sent it.
    if (const json* args = field(*fn, "arguments"); args != nullptr && args->is_string()) {
      auto parsed = nlohmann::ordered_json::parse(args->get<std::string>(), nullptr, false);
      if (parsed.is_object()) c["function"]["arguments"] = std::move(parsed);
    } else if (args == nullptr) {
      c["function"]["arguments"] = nlohmann::ordered_json::object();
    }
    if (!c.contains("type")) c["type"] = "function";
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::pair<int64_t, float>> read_lora_list(const json& list, const char* name) {
  const std::string shape = std::string("'") + name + "' must be an array of {\"id\": integer, \"scale\": number}";
  if (!list.is_array()) throw bad_request(shape, name);
  std::vector<std::pair<int64_t, float>> out;
  for (const json& e : list) {
    const json* id = e.is_object() ? field(e, "id") : nullptr;
    const json* scale = e.is_object() ? field(e, "scale") : nullptr;
    if (id == nullptr || !id->is_number_integer() || scale == nullptr || !scale->is_number()) {
      throw bad_request(shape, name);
    }
    const double s = scale->get<double>();
    if (!std::isfinite(s) || std::abs(s) > 1e6) throw bad_request(std::string("'") + name + "': bad scale", name);
    out.emplace_back(id->get<int64_t>(), static_cast<float>(s));
  }
  return out;
}

std::vector<float> lora_scales(const std::vector<std::pair<int64_t, float>>& list, size_t n_adapters,
                               const char* name) {
  std::vector<float> scales(n_adapters, 0.0f);
  std::vector<bool> seen(n_adapters, false);
  for (const auto& [id, scale] : list) {
    if (id < 0 || static_cast<size_t>(id) >= n_adapters) {
      throw bad_request(std::string("'") + name + "': no adapter " + std::to_string(id) + "; the model has " +
                            std::to_string(n_adapters) + " (GET /lora-adapters lists them)",
                        name);
    }
    if (seen[static_cast<size_t>(id)]) {
      throw bad_request(std::string("'") + name + "': adapter " + std::to_string(id) + " is listed twice", name);
    }
    seen[static_cast<size_t>(id)] = true;
    scales[static_cast<size_t>(id)] = scale;
  }
  return scales;
}

}  // namespace fields

namespace {

using json = nlohmann::json;
using namespace fields;

constexpr int32_t kMaxTopLogprobs = 20;
constexpr const char* kPromptForms =
    "'prompt' must be a string, an array of token ids, or an array of strings and token-id arrays";

// Message content as text: a string, or an array of {"type": "text", "text": ...} parts joined.
std::string content_text(const json& content, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_null()) return "";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw bad_request("'" + where + "' must be a string or an array of text parts", where);
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      throw bad_request("'" + where + "' parts must be objects with a 'type'", where);
    }
    if (part["type"] != "text") {
      throw bad_request("'" + where + "': only text parts are supported, got '" + part["type"].get<std::string>() + "'",
                        where);
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      throw bad_request("'" + where + "': a text part needs a string 'text'", where);
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

nlohmann::ordered_json read_messages(const json& body) {
  const json* m = field(body, "messages");
  if (m == nullptr) throw bad_request("'messages' is required", "messages");
  if (!m->is_array() || m->empty()) throw bad_request("'messages' must be a non-empty array", "messages");
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < m->size(); ++i) {
    const json& msg = (*m)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!msg.is_object()) throw bad_request("'" + where + "' must be an object", where);
    if (!msg.contains("role") || !msg["role"].is_string()) {
      throw bad_request("'" + where + ".role' must be a string", where + ".role");
    }
    nlohmann::ordered_json o = nlohmann::ordered_json::parse(msg.dump());
    o["content"] = content_text(msg.contains("content") ? msg["content"] : json(), i);
    if (const json* calls = field(msg, "tool_calls")) o["tool_calls"] = read_tool_calls(*calls, where + ".tool_calls");
    out.push_back(std::move(o));
  }
  return out;
}

// Token ids of a prompt given as an array of integers.
std::vector<int32_t> read_prompt_ids(const json& ids) {
  std::vector<int32_t> out;
  for (const json& t : ids) {
    if (!t.is_number_integer()) throw bad_request(kPromptForms, "prompt");
    const int64_t id = t.get<int64_t>();
    if (id < 0 || id > std::numeric_limits<int32_t>::max()) throw bad_request("'prompt': bad token id", "prompt");
    out.push_back(static_cast<int32_t>(id));
  }
  return out;
}

// One prompt of a completions request: a non-empty string or a non-empty array of token ids.
PromptInput read_one_prompt(const json& p, Endpoint endpoint) {
  PromptInput in;
  if (p.is_string() && !p.get<std::string>().empty()) {
    in.text = p.get<std::string>();
  } else if (p.is_string()) {
    throw bad_request("'prompt' is empty", "prompt");
  } else if (endpoint == Endpoint::kCompletion && p.is_array() && !p.empty()) {
    in.ids = read_prompt_ids(p);
    in.is_ids = true;
  } else {
    throw bad_request(endpoint == Endpoint::kCompletion ? kPromptForms : "'prompt' must be a non-empty string",
                      "prompt");
  }
  return in;
}

// OpenAI's completions take a string, an array of token ids, or an array of either (several prompts, answered
// as choices in their order); the other endpoints one string.
void read_prompt(const json& body, ParsedRequest& r) {
  const json* p = field(body, "prompt");
  if (p == nullptr) throw bad_request("'prompt' is required", "prompt");
  std::vector<PromptInput> prompts;
  const bool list = r.endpoint == Endpoint::kCompletion && p->is_array() && !p->empty() && !(*p)[0].is_number();
  if (list) {
    if (p->size() > static_cast<size_t>(params::kN.max)) {
      throw bad_request("'prompt' holds at most " + format_number(params::kN.max) + " prompts", "prompt");
    }
    for (const json& one : *p) {
      if (!one.is_string() && !one.is_array()) throw bad_request(kPromptForms, "prompt");
      prompts.push_back(read_one_prompt(one, r.endpoint));
    }
  } else {
    prompts.push_back(read_one_prompt(*p, r.endpoint));
  }
  r.prompt = std::move(prompts[0].text);
  r.prompt_ids = std::move(prompts[0].ids);
  r.prompt_is_ids = prompts[0].is_ids;
  r.more_prompts.assign(std::make_move_iterator(prompts.begin() + 1), std::make_move_iterator(prompts.end()));
}

void read_logprobs(const json& body, ParsedRequest& r) {
  if (r.endpoint == Endpoint::kChat) {
    const bool on = get_bool(body, "logprobs").value_or(false);
    const auto top = get_int(body, "top_logprobs", 0, kMaxTopLogprobs);
    if (top && !on) throw bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    r.logprobs = on ? static_cast<int32_t>(top.value_or(0)) : -1;
  } else {
    // The legacy form: an integer, the number of alternatives (0 gives only the chosen token's).
    const json* v = field(body, "logprobs");
    if (v != nullptr && v->is_boolean()) {
      r.logprobs = v->get<bool>() ? 0 : -1;
    } else if (auto n = get_int(body, "logprobs", 0, kMaxTopLogprobs)) {
      r.logprobs = static_cast<int32_t>(*n);
    }
  }
  r.spec.logprobs = r.logprobs;
}

// "none", "auto" (the default), "required", or a named function {"type": "function", "function": {"name": ...}}
void read_tool_choice(const json& body, ParsedRequest& r) {
  const json* c = field(body, "tool_choice");
  if (c == nullptr) return;
  if (c->is_string()) {
    const std::string v = c->get<std::string>();
    if (v != "none" && v != "auto" && v != "required") {
      throw bad_request("'tool_choice' must be \"none\", \"auto\", \"required\" or a named function", "tool_choice");
    }
    if (v == "none") r.tools = nullptr;  // the template renders as if none were offered
    r.tool_call_required = v == "required";
    return;
  }
  if (!c->is_object()) wrong_type("tool_choice", "a string or an object");
  const json* fn = field(*c, "function");
  const json* type = field(*c, "type");
  if (fn == nullptr || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string() ||
      (type != nullptr && *type != "function")) {
    throw bad_request("'tool_choice' naming a function must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                      "tool_choice");
  }
  r.tool_call_required = true;
  r.tool_choice_name = (*fn)["name"].get<std::string>();
}

void reject_unsupported(const json& body, Endpoint endpoint) {
  if (auto b = get_int(body, "best_of", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    if (*b != 1) throw bad_request("only best_of = 1 is supported", "best_of");
  }
  if (endpoint == Endpoint::kCompletion && get_bool(body, "echo").value_or(false)) {
    throw bad_request("'echo' is not supported", "echo");
  }
  if (get_string(body, "suffix")) throw bad_request("'suffix' is not supported", "suffix");
}

}  // namespace

json parse_json_object(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw bad_request("the request body is empty; send a JSON object");
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw bad_request(std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw bad_request("the request body must be a JSON object");
  return j;
}

ParsedRequest parse_generation_request(const std::string& body_text, Endpoint endpoint) {
  const json body = parse_json_object(body_text);
  ParsedRequest r;
  r.endpoint = endpoint;
  r.model = get_string(body, "model").value_or("");
  r.stream = get_bool(body, "stream").value_or(false);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) wrong_type("stream_options", "an object");
    r.include_usage = get_bool(*so, "include_usage").value_or(false);
  }
  reject_unsupported(body, endpoint);
  if (auto n = get_param(body, params::kN)) {
    if (endpoint == Endpoint::kGenerate && *n != 1) throw bad_request("/generate gives one choice; 'n' must be 1", "n");
    r.n = static_cast<int32_t>(*n);
  }
  if (endpoint == Endpoint::kChat) {
    r.messages = read_messages(body);
    r.tools = read_tools(body);
    read_tool_choice(body, r);
    if (r.tool_call_required && !r.tools.is_array()) {
      throw bad_request("tool_choice \"required\" or a named function needs 'tools'", "tool_choice");
    }
    r.parallel_tool_calls = get_bool(body, "parallel_tool_calls").value_or(true);
    r.parse_special = true;
  } else {
    read_prompt(body, r);
    r.parse_special = endpoint == Endpoint::kCompletion;
  }
  if (endpoint == Endpoint::kGenerate) {
    if (auto v = get_bool(body, "add_bos")) r.add_bos = *v;
    if (auto v = get_bool(body, "special")) r.parse_special = *v;
  }
  auto max_tokens = get_param(body, params::kMaxTokens);
  if (endpoint == Endpoint::kChat) {
    ParamRule completion = params::kMaxTokens;
    completion.field = "max_completion_tokens";
    if (auto v = get_param(body, completion)) max_tokens = v;
  }
  if (max_tokens) {
    r.max_tokens = static_cast<int32_t>(*max_tokens);
  }
  r.spec.stop = read_stop(body);
  r.spec.ignore_eos = get_bool(body, "ignore_eos").value_or(false);
  read_sampling(body, r);
  // response_format json_object / json_schema, llama.cpp's grammar and json_schema: the sampler's grammar.
  r.spec.sampling.grammar = request_grammar(body);
  if (r.tool_call_required && !r.spec.sampling.grammar.empty()) {
    throw bad_request(
        "tool_choice \"required\" or a named function constrains the reply to tool calls; it cannot be "
        "combined with 'response_format', 'grammar' or 'json_schema'",
        "tool_choice");
  }
  read_logprobs(body, r);
  if (const json* l = field(body, "lora")) r.lora = read_lora_list(*l, "lora");
  get_string(body, "user");  // type-checked only
  return r;
}

}  // namespace ternion::server
