// Reading Ollama's /api/chat and /api/generate bodies (Ollama's docs/api.md) into the same form as OpenAI's:
// `options` holds the sampling fields under the same names, num_predict is max_tokens (negative: no limit), and a
// generate prompt is a user message for the chat template unless `raw`. Fields this server cannot honour yet are
// refused with a clear message rather than ignored; those that only tune Ollama's own runner are accepted.
#include <limits>
#include <string>

#include "request_fields.h"
#include "ternion/server/api_error.h"
#include "ternion/server/structured_output.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;
using namespace fields;

[[noreturn]] void unsupported(const std::string& what, const std::string& param) { throw bad_request(what, param); }

void refuse_images(const json& obj, const std::string& where) {
  const json* images = field(obj, "images");
  if (images == nullptr) return;
  if (!images->is_array()) wrong_type("images", "an array of base64 images");
  if (!images->empty())
    unsupported("'" + where + "': images are not supported: the served models read text only", where);
}

// keep_alive: a duration ("5m", "-1") or seconds. Models stay loaded for the server's life, so it is only checked.
void check_keep_alive(const json& body) {
  const json* k = field(body, "keep_alive");
  if (k != nullptr && !k->is_string() && !k->is_number()) wrong_type("keep_alive", "a duration string or a number");
}

void read_options(const json& body, ParsedRequest& r) {
  const json* o = field(body, "options");
  if (o != nullptr && !o->is_object()) wrong_type("options", "an object");
  const json options = o != nullptr ? *o : json::object();
  read_sampling(options, r);
  r.spec.stop = read_stop(options);
  // num_predict: Ollama's -1 (no limit) and -2 (fill the context) both run until the context is full.
  if (auto n = get_int(options, "num_predict", -2, static_cast<int64_t>(params::kMaxTokens.max))) {
    if (*n == 0) throw bad_request("'num_predict' must be positive, or -1 for no limit", "num_predict");
    if (*n > 0) r.max_tokens = static_cast<int32_t>(*n);
  }
  // The context and the runner are set when the server starts (serve -c, -t): checked, not applied.
  get_int(options, "num_ctx", 1, std::numeric_limits<int32_t>::max());
  get_int(options, "num_thread", 0, std::numeric_limits<int32_t>::max());
  get_int(options, "num_batch", 1, std::numeric_limits<int32_t>::max());
}

// Ollama's message: content a string, tool calls with object arguments, tool_name on a tool's result (the
// templates read "name"), thinking (templates read "reasoning_content").
nlohmann::ordered_json read_message(const json& msg, size_t i) {
  const std::string where = "messages[" + std::to_string(i) + "]";
  if (!msg.is_object()) throw bad_request("'" + where + "' must be an object", where);
  if (!msg.contains("role") || !msg["role"].is_string()) {
    throw bad_request("'" + where + ".role' must be a string", where + ".role");
  }
  refuse_images(msg, where + ".images");
  nlohmann::ordered_json o = nlohmann::ordered_json::parse(msg.dump());
  const json* content = field(msg, "content");
  if (content != nullptr && !content->is_string()) {
    throw bad_request("'" + where + ".content' must be a string", where + ".content");
  }
  o["content"] = content != nullptr ? content->get<std::string>() : "";
  if (const json* calls = field(msg, "tool_calls")) o["tool_calls"] = read_tool_calls(*calls, where + ".tool_calls");
  if (const json* name = field(msg, "tool_name"); name != nullptr && name->is_string() && !msg.contains("name")) {
    o["name"] = *name;
  }
  if (const json* t = field(msg, "thinking"); t != nullptr && t->is_string() && !msg.contains("reasoning_content")) {
    o["reasoning_content"] = *t;
  }
  return o;
}

void read_chat(const json& body, ParsedRequest& r) {
  const json* m = field(body, "messages");
  if (m != nullptr && !m->is_array()) wrong_type("messages", "an array");
  r.messages = nlohmann::ordered_json::array();
  if (m != nullptr) {
    for (size_t i = 0; i < m->size(); ++i) r.messages.push_back(read_message((*m)[i], i));
  }
  r.load_only = r.messages.empty();
  r.tools = read_tools(body);
}

void read_generate(const json& body, ParsedRequest& r) {
  refuse_images(body, "images");
  if (get_string(body, "suffix").value_or("").size() > 0) unsupported("'suffix' is not supported", "suffix");
  if (get_string(body, "template").value_or("").size() > 0) {
    unsupported("'template' is not supported: prompts use the model's own chat template", "template");
  }
  if (const json* c = field(body, "context"); c != nullptr && (!c->is_array() || !c->empty())) {
    unsupported("'context' is not supported (Ollama deprecated it); send the conversation to /api/chat", "context");
  }
  const std::string prompt = get_string(body, "prompt").value_or("");
  const std::string system = get_string(body, "system").value_or("");
  r.load_only = prompt.empty();
  r.parse_special = true;  // a raw prompt carries the template's markup
  if (get_bool(body, "raw").value_or(false)) {
    if (!system.empty()) unsupported("raw mode does not support template, system, or context", "raw");
    r.prompt = prompt;
    return;
  }
  r.messages = nlohmann::ordered_json::array();
  if (!system.empty()) r.messages.push_back({{"role", "system"}, {"content", system}});
  r.messages.push_back({{"role", "user"}, {"content", prompt}});
}

}  // namespace

ParsedRequest parse_ollama_request(const std::string& body_text, Endpoint endpoint) {
  const json body = parse_json_object(body_text);
  ParsedRequest r;
  r.endpoint = endpoint;
  r.model = get_string(body, "model").value_or("");
  if (r.model.empty()) throw bad_request("model is required", "model");
  r.stream = get_bool(body, "stream").value_or(true);
  check_keep_alive(body);
  if (const json* t = field(body, "think"); t != nullptr && !t->is_boolean() && !t->is_string()) {
    wrong_type("think", "a boolean or \"low\", \"medium\", \"high\"");
  }
  if (get_bool(body, "logprobs").value_or(false)) unsupported("'logprobs' is not supported on /api/* yet", "logprobs");
  if (endpoint == Endpoint::kOllamaChat) {
    read_chat(body, r);
  } else {
    read_generate(body, r);
  }
  read_options(body, r);
  // format: "json" or a JSON schema, enforced by the sampler's grammar.
  if (const json* f = field(body, "format")) r.spec.sampling.grammar = ollama_format_grammar(*f);
  return r;
}

}  // namespace ternion::server
