// What the route handlers share, and the functions that register them on the HTTP server.
#pragma once

#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

#include "ternion/server/api_error.h"
#include "ternion/server/metrics.h"
#include "ternion/server/model_registry.h"
#include "ternion/server/openai_schema.h"
#include "ternion/server/server.h"

namespace ternion::server {

struct ServerState {
  explicit ServerState(ServerOptions o) : options(std::move(o)) {}
  ServerOptions options;
  ModelRegistry models;
  Metrics metrics;
  std::atomic<bool> ready{false};
};

void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
void send_error(httplib::Response& res, const ApiError& e);

// Wraps a handler so that any exception becomes a JSON error response.
httplib::Server::Handler guarded(std::function<void(const httplib::Request&, httplib::Response&)> handler);

// The model a request names; ApiError 503 while loading, 404 when unknown.
ServedModel& pick_model(ServerState& state, const std::string& name);

// POST /v1/chat/completions, /v1/completions and /generate: parse, tokenize, queue, answer or stream.
void handle_generation(ServerState& state, const httplib::Request& req, httplib::Response& res, Endpoint endpoint);

void add_openai_routes(httplib::Server& http, ServerState& state);
void add_native_routes(httplib::Server& http, ServerState& state);

}  // namespace ternion::server
