// Ollama's API (its docs/api.md): POST /api/chat and /api/generate (in generation.cpp's common path), GET
// /api/tags, POST /api/show, GET /api/ps, GET /api/version, and the answer that embeddings are not served yet;
// GET and HEAD / answer "Ollama is running", which Ollama's clients probe. Errors are Ollama's {"error": "..."}.
#include <cstdio>

#include "answer.h"
#include "routes.h"
#include "ternion/io/gguf.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;

// The Ollama release whose API this server follows: tool calls in streams and thinking (0.9) are there;
// clients that check the version for those features find them.
constexpr const char* kOllamaApiVersion = "0.9.0";
// Models stay loaded for the server's life: /api/ps reports an expiry as far ahead as Ollama's "forever".
constexpr const char* kNeverExpires = "2318-01-01T00:00:00Z";
// Arrays longer than this (vocabularies, merges) are listed in /api/show only when verbose, as Ollama does.
constexpr uint64_t kShortArray = 64;

// Ollama's names carry a tag; a name without one is NAME:latest.
std::string tagged(const std::string& id) { return id.find(':') == std::string::npos ? id + ":latest" : id; }

// An opaque identity of the model's file (FNV-1a of its path, size and time), not a hash of its bytes: reading
// gigabytes to list models would be too slow.
std::string digest(const ServedModel& m) {
  const std::string key = m.spec().path + '\0' + std::to_string(m.file_bytes()) + '\0' + std::to_string(m.modified());
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

json details(const ServedModel& m) {
  const ModelSummary& s = m.summary();
  return {{"parent_model", ""},
          {"format", s.folder ? "safetensors" : "gguf"},
          {"family", s.architecture},
          {"families", json::array({s.architecture})},
          {"parameter_size", format_param_count(s.n_params)},
          {"quantization_level", s.quantization}};
}

json list_entry(const ServedModel& m) {
  return {{"name", tagged(m.id())},
          {"model", tagged(m.id())},
          {"modified_at", ollama_time(std::chrono::system_clock::time_point(std::chrono::seconds(m.modified())))},
          {"size", m.file_bytes()},
          {"digest", digest(m)},
          {"details", details(m)}};
}

json gguf_json(const GgufValue& v, bool verbose);

json array_json(const GgufArray& a, bool verbose) {
  json out = json::array();
  if (!verbose && a.count > kShortArray) return out;
  if (a.elem_type == GgufValueType::STRING) {
    for (const std::string& s : a.strings) out.push_back(s);
  } else if (a.elem_type == GgufValueType::ARRAY) {
    for (const GgufValue& v : a.arrays) out.push_back(gguf_json(v, verbose));
  } else if (a.elem_type == GgufValueType::FLOAT32 || a.elem_type == GgufValueType::FLOAT64) {
    for (uint64_t i = 0; i < a.count; ++i) out.push_back(a.number_at(i));
  } else if (a.elem_type == GgufValueType::BOOL) {
    for (uint64_t i = 0; i < a.count; ++i) out.push_back(a.number_at(i) != 0);
  } else {
    for (uint64_t i = 0; i < a.count; ++i) out.push_back(a.int_at(i));
  }
  return out;
}

json gguf_json(const GgufValue& v, bool verbose) {
  switch (v.type) {
    case GgufValueType::STRING:
      return v.as_string();
    case GgufValueType::BOOL:
      return v.as_bool();
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64:
      return v.as_double();
    case GgufValueType::ARRAY:
      return array_json(v.as_array(), verbose);
    case GgufValueType::UINT64:
      return v.as_uint();
    default:
      return v.as_int();
  }
}

json show(ServerState& state, const std::string& body_text) {
  const json body = parse_json_object(body_text);
  std::string name;
  for (const char* key : {"model", "name"}) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_string()) throw bad_request(std::string("'") + key + "' must be a string", key);
    if (name.empty()) name = it->get<std::string>();
  }
  if (name.empty()) throw bad_request("model is required", "model");
  auto verbose_it = body.find("verbose");
  if (verbose_it != body.end() && !verbose_it->is_null() && !verbose_it->is_boolean()) {
    throw bad_request("'verbose' must be a boolean", "verbose");
  }
  const bool verbose = verbose_it != body.end() && verbose_it->is_boolean() && verbose_it->get<bool>();
  ServedModel& m = pick_model(state, name, ErrorStyle::kOllama);
  json info = json::object();
  for (const auto& [key, value] : m.model().gguf().metadata()) {
    if (key == "tokenizer.chat_template") continue;  // it is "template"
    info[key] = gguf_json(value, verbose);
  }
  json capabilities = json::array({"completion"});
  if (m.tool_call_format() != ToolCallFormat::kNone) capabilities.push_back("tools");
  if (m.thinks()) capabilities.push_back("thinking");
  const int64_t n_ctx = m.scheduler().n_ctx();
  return {{"modelfile", "# Modelfile of a model served by ternion\nFROM " + m.spec().path + "\nPARAMETER num_ctx " +
                            std::to_string(n_ctx) + "\n"},
          {"parameters", "num_ctx " + std::to_string(n_ctx)},
          {"template", m.chat_template()},
          {"details", details(m)},
          {"model_info", info},
          {"capabilities", capabilities},
          {"modified_at", ollama_time(std::chrono::system_clock::time_point(std::chrono::seconds(m.modified())))}};
}

json running(ServerState& state) {
  if (!state.ready) throw unavailable("the models are loading", "loading");
  json models = json::array();
  for (const auto& m : state.models.all()) {
    json e = list_entry(*m);
    e.erase("modified_at");
    e["expires_at"] = kNeverExpires;
    e["size_vram"] = 0;
    e["context_length"] = m->scheduler().n_ctx();
    models.push_back(e);
  }
  return {{"models", models}};
}

// Embeddings need an encoder model, which the server does not serve yet: Ollama's answer for a model without
// the capability, after the usual checks of the body and the model.
void embeddings(ServerState& state, const std::string& body_text) {
  const json body = parse_json_object(body_text);
  auto it = body.find("model");
  if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
    throw bad_request("model is required", "model");
  }
  pick_model(state, it->get<std::string>(), ErrorStyle::kOllama);
  throw bad_request(
      "\"" + it->get<std::string>() + "\" does not support embeddings: this server does not compute embeddings yet",
      "model");
}

}  // namespace

void add_ollama_routes(httplib::Server& http, ServerState& state) {
  for (const auto& [path, endpoint] :
       {std::pair{"/api/chat", Endpoint::kOllamaChat}, std::pair{"/api/generate", Endpoint::kOllamaGenerate}}) {
    post_route(http, state, path,
               [&state, endpoint](const httplib::Request& req, const std::string& body, httplib::Response& res) {
                 handle_generation(state, req, body, res, endpoint);
               });
  }
  post_route(http, state, "/api/show",
             [&state](const httplib::Request&, const std::string& body, httplib::Response& res) {
               send_json(res, show(state, body));
             });
  for (const char* path : {"/api/embed", "/api/embeddings"}) {
    post_route(http, state, path, [&state](const httplib::Request&, const std::string& body, httplib::Response&) {
      embeddings(state, body);
    });
  }
  get_route(http, state, "/api/tags", guarded([&state](const httplib::Request&, httplib::Response& res) {
              if (!state.ready) throw unavailable("the models are loading", "loading");
              json models = json::array();
              for (const auto& m : state.models.all()) models.push_back(list_entry(*m));
              send_json(res, {{"models", models}});
            }));
  get_route(http, state, "/api/ps",
            guarded([&state](const httplib::Request&, httplib::Response& res) { send_json(res, running(state)); }));
  get_route(http, state, "/api/version", guarded([](const httplib::Request&, httplib::Response& res) {
              send_json(res, {{"version", kOllamaApiVersion}});
            }));
  get_route(http, state, "/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("Ollama is running", "text/plain; charset=utf-8");
  });
}

}  // namespace ternion::server
