// What the route handlers share, and the functions that register them on the HTTP server.
#pragma once

#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "request_log.h"
#include "ternion/server/api_error.h"
#include "ternion/server/metrics.h"
#include "ternion/server/model_registry.h"
#include "ternion/server/openai_schema.h"
#include "ternion/server/server.h"

namespace ternion::server {

struct ServerState {
  explicit ServerState(ServerOptions o) : options(std::move(o)), log(options.request_log) {}
  ServerOptions options;
  RequestLog log;
  ModelRegistry models;
  Metrics metrics;
  std::atomic<bool> ready{false};
  std::vector<std::pair<std::regex, std::string>> routes;  // path pattern, method: for 405 answers
};

// Errors in OpenAI's shape ({"error": {"message", "type", "param", "code"}}) or Ollama's ({"error": "message"}):
// Ollama's under /api/, where Ollama's clients read them.
enum class ErrorStyle { kOpenAI, kOllama };
ErrorStyle error_style(const std::string& path);

void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
void send_error(httplib::Response& res, const ApiError& e, ErrorStyle style = ErrorStyle::kOpenAI);

// Wraps a handler so that any exception becomes a JSON error response (in the style of the request's path).
httplib::Server::Handler guarded(std::function<void(const httplib::Request&, httplib::Response&)> handler);

// The model a request names; ApiError 503 while loading, 404 when unknown (worded as the API's own errors are).
ServedModel& pick_model(ServerState& state, const std::string& name, ErrorStyle style = ErrorStyle::kOpenAI);

// POST /v1/chat/completions, /v1/completions, /generate, /api/chat and /api/generate: parse, tokenize, queue,
// answer or stream.
void handle_generation(ServerState& state, const httplib::Request& req, const std::string& body, httplib::Response& res,
                       Endpoint endpoint);

// A POST handler gets the body read by post_route.
using PostHandler = std::function<void(const httplib::Request&, const std::string& body, httplib::Response&)>;
// Register a route and remember its method, so that another method on its path is 405 with an Allow header.
void get_route(httplib::Server& http, ServerState& state, const std::string& pattern, httplib::Server::Handler h);
// POST routes read their body themselves, whatever its content type (but multipart: 415), up to --max-body: a JSON
// body sent as curl's default form type is read as JSON, and the HTTP library's own 8 KiB form limit never applies.
// The handler runs guarded().
void post_route(httplib::Server& http, ServerState& state, const std::string& pattern, PostHandler h);

void add_openai_routes(httplib::Server& http, ServerState& state);
void add_native_routes(httplib::Server& http, ServerState& state);
void add_ollama_routes(httplib::Server& http, ServerState& state);

}  // namespace ternion::server
