// The HTTP server: listening socket, worker threads, the checks every request passes (API key, body size,
// CORS) and JSON errors for everything that goes wrong.
#include "ternion/server/server.h"

#include <algorithm>
#include <cstdio>

#include "routes.h"
#include "ternion/core/error.h"
#include "ternion/server/auth.h"

namespace ternion::server {

void send_json(httplib::Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.body(), e.status()); }

httplib::Server::Handler guarded(std::function<void(const httplib::Request&, httplib::Response&)> handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const Error& e) {
      send_error(res, bad_request(e.what()));
    } catch (const std::bad_alloc&) {
      send_error(res, ApiError(500, "out of memory", "server_error"));
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "server_error"));
    }
  };
}

ServedModel& pick_model(ServerState& state, const std::string& name) {
  if (!state.ready) throw unavailable("the models are loading; retry when GET /health answers 200", "loading");
  ServedModel* m = state.models.find(name);
  if (m == nullptr) throw model_not_found(name);
  return *m;
}

struct Server::Impl {
  explicit Impl(ServerOptions o) : state(std::move(o)) {}
  ServerState state;
  httplib::Server http;
  bool bound = false;
};

namespace {

// The path without the query, for metrics labels: known routes by name, anything else as "other".
std::string endpoint_label(const std::string& path) {
  static const char* const kKnown[] = {
      "/v1/chat/completions", "/v1/completions", "/v1/models", "/generate", "/tokenize",
      "/detokenize",          "/health",         "/metrics"};
  for (const char* k : kKnown) {
    if (path == k) return k;
  }
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models";
  return "other";
}

void configure(httplib::Server& http, ServerState& state) {
  const ServerOptions& o = state.options;
  // Streaming requests hold a worker while they run: enough workers for every slot and every queued request of
  // every model, plus a few for health checks and metrics.
  const size_t n_models = std::max<size_t>(1, o.models.size());
  const size_t workers = std::min<size_t>(1024, n_models * (static_cast<size_t>(o.parallel) + o.max_queue) + 8);
  http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http.set_payload_max_length(o.max_body_bytes);
  http.set_keep_alive_timeout(5);
  http.set_read_timeout(30);
  http.set_write_timeout(30);

  if (!o.cors_origin.empty()) {
    http.set_default_headers({{"Access-Control-Allow-Origin", o.cors_origin},
                              {"Access-Control-Allow-Headers", "Authorization, Content-Type"},
                              {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                              {"Vary", "Origin"}});
    http.Options(R"(.*)", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  }
  http.set_pre_routing_handler([&state](const httplib::Request& req, httplib::Response& res) {
    const std::string& key = state.options.api_key;
    if (key.empty() || req.path == "/health" || req.method == "OPTIONS") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (bearer_matches(req.get_header_value("Authorization"), key)) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(401, "a valid API key is required: send the header 'Authorization: Bearer KEY'",
                             "invalid_request_error", "", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors the library answers itself (no route, body too large) get a JSON body too.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      send_error(
          res, ApiError(404, "no route " + req.method + " " + req.path, "invalid_request_error", "", "unknown_route"));
    } else if (res.status == 413) {
      send_error(res, ApiError(413, "the request body is too large", "invalid_request_error", "", "request_too_large"));
    } else if (res.status >= 400) {
      send_error(res, ApiError(res.status, "the request could not be served", "invalid_request_error"));
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, ApiError(500, "internal error", "server_error"));
  });
  // Counted before the response is written (the logger runs after it), so a client that reads /metrics right
  // after its answer sees its own request.
  http.set_post_routing_handler([&state](const httplib::Request& req, httplib::Response& res) {
    state.metrics.count_request(endpoint_label(req.path), res.status);
  });
  add_openai_routes(http, state);
  add_native_routes(http, state);
}

}  // namespace

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  const ServerOptions& o = impl_->state.options;
  if (o.parallel <= 0 || o.parallel > 256) {
    throw Error("--parallel must be in [1, 256], got " + std::to_string(o.parallel));
  }
  if (o.ctx_size < 0) throw Error("--ctx-size must be positive, got " + std::to_string(o.ctx_size));
  if (o.max_queue == 0 || o.max_queue > 4096) throw Error("--max-queue must be in [1, 4096]");
  if (o.port < 0 || o.port > 65535) throw Error("--port must be in [0, 65535], got " + std::to_string(o.port));
  if (o.threads < 0) throw Error("--threads must be positive, got " + std::to_string(o.threads));
  configure(impl_->http, impl_->state);
}

Server::~Server() {
  stop();
  impl_->state.ready = false;
  impl_->state.models.clear();
}

int Server::bind() {
  const ServerOptions& o = impl_->state.options;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    port = -1;
  }
  if (port < 0) {
    throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                " (address in use, or not an address of this machine)");
  }
  impl_->bound = true;
  return port;
}

void Server::load_models() {
  ServerState& st = impl_->state;
  SchedulerOptions so;
  so.n_parallel = st.options.parallel;
  so.n_ctx = st.options.ctx_size;
  so.max_queue = st.options.max_queue;
  so.n_threads = st.options.threads;
  so.hugetlb = st.options.hugetlb;
  for (ModelSpec& spec : expand_model_specs(st.options.models)) {
    st.models.add(std::make_unique<ServedModel>(std::move(spec), so, st.metrics,
                                                LoadOptions{!st.options.mmap, st.options.hugetlb}));
  }
  st.ready = true;
}

void Server::serve() {
  if (!impl_->bound) throw Error("serve() before bind()");
  impl_->http.listen_after_bind();
}

void Server::stop() { impl_->http.stop(); }

}  // namespace ternion::server
