// The OpenAI routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models.
#include "routes.h"

namespace ternion::server {

namespace {

nlohmann::json model_object(const ServedModel& m) {
  return {{"id", m.id()}, {"object", "model"}, {"created", m.created()}, {"owned_by", "ternion"}};
}

}  // namespace

void add_openai_routes(httplib::Server& http, ServerState& state) {
  post_route(http, state, "/v1/chat/completions",
             [&state](const httplib::Request& req, const std::string& body, httplib::Response& res) {
               handle_generation(state, req, body, res, Endpoint::kChat);
             });
  post_route(http, state, "/v1/completions",
             [&state](const httplib::Request& req, const std::string& body, httplib::Response& res) {
               handle_generation(state, req, body, res, Endpoint::kCompletion);
             });
  get_route(http, state, "/v1/models", guarded([&state](const httplib::Request&, httplib::Response& res) {
              if (!state.ready) throw unavailable("the models are loading", "loading");
              nlohmann::json data = nlohmann::json::array();
              for (const auto& m : state.models.all()) data.push_back(model_object(*m));
              send_json(res, {{"object", "list"}, {"data", data}});
            }));
  get_route(http, state, R"(/v1/models/(.+))", guarded([&state](const httplib::Request& req, httplib::Response& res) {
              send_json(res, model_object(pick_model(state, req.matches[1].str())));
            }));
}

}  // namespace ternion::server
