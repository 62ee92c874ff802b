// Ternion's own routes: POST /generate (in generation.cpp's common path), /tokenize, /detokenize;
// GET /health, /metrics; llama.cpp's GET/POST /lora-adapters.
#include <limits>

#include "request_fields.h"
#include "routes.h"
#include "ternion/core/error.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;

std::string model_name(const json& body) {
  auto it = body.find("model");
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_string()) throw bad_request("'model' must be a string", "model");
  return it->get<std::string>();
}

bool flag(const json& body, const char* name, bool dflt) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) throw bad_request(std::string("'") + name + "' must be a boolean", name);
  return it->get<bool>();
}

void tokenize(ServerState& state, const std::string& body_text, httplib::Response& res) {
  const json body = parse_json_object(body_text);
  ServedModel& m = pick_model(state, model_name(body));
  const char* key = body.contains("content") ? "content" : body.contains("text") ? "text" : "prompt";
  auto it = body.find(key);
  if (it == body.end() || !it->is_string()) throw bad_request("'content' must be a string", "content");
  const Tokenizer& tok = m.tokenizer();
  std::vector<int32_t> ids = tok.encode(it->get<std::string>(), false, flag(body, "parse_special", false));
  if (flag(body, "add_special", false) && tok.vocab().add_bos && tok.vocab().bos >= 0) {
    ids.insert(ids.begin(), tok.vocab().bos);
  }
  json out = {{"model", m.id()}, {"tokens", ids}};
  if (flag(body, "with_pieces", false)) {
    json pieces = json::array();
    for (int32_t id : ids) pieces.push_back({{"id", id}, {"piece", tok.token_to_piece(id, true)}});
    out["tokens"] = pieces;
  }
  send_json(res, out);
}

void detokenize(ServerState& state, const std::string& body_text, httplib::Response& res) {
  const json body = parse_json_object(body_text);
  ServedModel& m = pick_model(state, model_name(body));
  auto it = body.find("tokens");
  if (it == body.end() || !it->is_array()) throw bad_request("'tokens' must be an array of token ids", "tokens");
  std::vector<int32_t> ids;
  for (const json& t : *it) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= m.tokenizer().n_vocab()) {
      throw bad_request("'tokens' must hold token ids in [0, " + std::to_string(m.tokenizer().n_vocab()) + ")",
                        "tokens");
    }
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  send_json(res, {{"model", m.id()}, {"content", m.tokenizer().decode(ids, !flag(body, "special", false))}});
}

// llama.cpp's /lora-adapters of the model named by ?model= (the first by default).
ServedModel& lora_model(ServerState& state, const httplib::Request& req) {
  return pick_model(state, req.has_param("model") ? req.get_param_value("model") : "");
}

json list_lora(ServedModel& m) {
  json out = json::array();
  const std::vector<LoraAdapterInfo> adapters = m.scheduler().lora_adapters();
  for (size_t i = 0; i < adapters.size(); ++i) {
    out.push_back({{"id", i}, {"path", adapters[i].path}, {"scale", adapters[i].scale}});
  }
  return out;
}

}  // namespace

void add_native_routes(httplib::Server& http, ServerState& state) {
  post_route(http, state, "/generate",
             [&state](const httplib::Request& req, const std::string& body, httplib::Response& res) {
               handle_generation(state, req, body, res, Endpoint::kGenerate);
             });
  post_route(http, state, "/tokenize",
             [&state](const httplib::Request&, const std::string& body, httplib::Response& res) {
               tokenize(state, body, res);
             });
  post_route(http, state, "/detokenize",
             [&state](const httplib::Request&, const std::string& body, httplib::Response& res) {
               detokenize(state, body, res);
             });
  get_route(http, state, "/lora-adapters", guarded([&state](const httplib::Request& req, httplib::Response& res) {
              send_json(res, list_lora(lora_model(state, req)));
            }));
  // Sets the scales later requests get when they give no `lora` of their own: those listed, 0 for the rest.
  post_route(
      http, state, "/lora-adapters",
      [&state](const httplib::Request& req, const std::string& body, httplib::Response& res) {
        ServedModel& m = lora_model(state, req);
        json list;
        try {
          list = json::parse(body);
        } catch (const json::parse_error& e) {
          throw bad_request(std::string("the request body is not valid JSON: ") + e.what());
        }
        const auto entries = fields::read_lora_list(list, "lora");
        m.scheduler().set_lora_scales(fields::lora_scales(entries, m.scheduler().lora_adapters().size(), "lora"));
        send_json(res, {{"success", true}});
      });
  get_route(http, state, "/health", [&state](const httplib::Request&, httplib::Response& res) {
    if (state.ready) {
      send_json(res, {{"status", "ok"}});
    } else {
      send_json(res, {{"status", "loading"}}, 503);
    }
  });
  get_route(http, state, "/metrics", guarded([&state](const httplib::Request&, httplib::Response& res) {
              std::vector<ModelGauges> gauges;
              if (state.ready) {
                for (const auto& m : state.models.all()) {
                  ModelGauges g = m->scheduler().gauges();
                  g.model = m->id();
                  gauges.push_back(g);
                }
              }
              res.set_content(state.metrics.render(gauges), "text/plain; version=0.0.4");
            }));
}

}  // namespace ternion::server
