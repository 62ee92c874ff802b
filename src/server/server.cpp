// The HTTP server: listening socket, worker threads, the checks every request passes (API key, body size,
// CORS) and JSON errors for everything that goes wrong.
#include "ternion/server/server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "routes.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/server/auth.h"

namespace ternion::server {

void send_json(httplib::Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

ErrorStyle error_style(const std::string& path) {
  return path.rfind("/api/", 0) == 0 ? ErrorStyle::kOllama : ErrorStyle::kOpenAI;
}

void send_error(httplib::Response& res, const ApiError& e, ErrorStyle style) {
  // A client told to come back (queue full, loading) is told when.
  if (e.status() == 503) res.set_header("Retry-After", "1");
  send_json(res, style == ErrorStyle::kOllama ? e.ollama_body() : e.body(), e.status());
}

httplib::Server::Handler guarded(std::function<void(const httplib::Request&, httplib::Response&)> handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    const ErrorStyle style = error_style(req.path);
    try {
      handler(req, res);
    } catch (const ApiError& e) {
      send_error(res, e, style);
    } catch (const ParamError& e) {
      send_error(res, bad_request(e.what(), e.field()), style);
    } catch (const Error& e) {
      send_error(res, bad_request(e.what()), style);
    } catch (const std::bad_alloc&) {
      send_error(res, ApiError(500, "out of memory", "server_error"), style);
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "server_error"), style);
    }
  };
}

ServedModel& pick_model(ServerState& state, const std::string& name, ErrorStyle style) {
  if (!state.ready) throw unavailable("the models are loading; retry when GET /health answers 200", "loading");
  ServedModel* m = state.models.find(name);
  if (m == nullptr && style == ErrorStyle::kOllama) {
    throw ApiError(404, "model '" + name + "' not found", "invalid_request_error", "model", "model_not_found");
  }
  if (m == nullptr) throw model_not_found(name);
  return *m;
}

void get_route(httplib::Server& http, ServerState& state, const std::string& pattern, httplib::Server::Handler h) {
  state.routes.emplace_back(std::regex(pattern), "GET");
  http.Get(pattern, std::move(h));
}

void post_route(httplib::Server& http, ServerState& state, const std::string& pattern, PostHandler h) {
  state.routes.emplace_back(std::regex(pattern), "POST");
  http.Post(pattern, [&state, h = std::move(h)](const httplib::Request& req, httplib::Response& res,
                                                const httplib::ContentReader& reader) {
    guarded([&](const httplib::Request& r, httplib::Response& out) {
      if (r.is_multipart_form_data()) {
        throw ApiError(415, "multipart bodies are not accepted; send a JSON object", "invalid_request_error", "",
                       "unsupported_media_type");
      }
      const size_t max = state.options.max_body_bytes;
      std::string body;
      // No Content-Length and no chunked body: an empty body (curl -X POST without -d), answered as such.
      const bool has_body = r.has_header("Content-Length") || r.get_header_value("Transfer-Encoding") == "chunked";
      bool too_large = false;
      const bool complete = !has_body || reader([&](const char* data, size_t n) {
        too_large = body.size() + n > max;
        if (!too_large) body.append(data, n);
        return !too_large;
      });
      if (too_large || out.status == 413) {
        throw ApiError(413, "the request body is larger than the server's limit of " + std::to_string(max) + " bytes",
                       "invalid_request_error", "", "request_too_large");
      }
      if (!complete) throw ApiError(400, "the request body could not be read to its end", "invalid_request_error");
      h(r, body, out);
    })(req, res);
  });
}

struct Server::Impl {
  explicit Impl(ServerOptions o) : state(std::move(o)) {}
  ServerState state;
  httplib::Server http;
  std::vector<ModelSpec> specs;  // found before binding, so that a missing model fails before "listening"
  bool bound = false;
};

namespace {

// The path without the query, for metrics labels: known routes by name, anything else as "other".
std::string endpoint_label(const std::string& path) {
  static const char* const kKnown[] = {
      "/v1/chat/completions", "/v1/completions", "/v1/models", "/generate", "/tokenize",
      "/detokenize",          "/health",         "/metrics",   "/",         "/api/chat",
      "/api/generate",        "/api/tags",       "/api/show",  "/api/ps",   "/api/version",
      "/api/embed",           "/api/embeddings"};
  for (const char* k : kKnown) {
    if (path == k) return k;
  }
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models";
  return "other";
}

// The errors the HTTP library answers before a route runs, in words.
ApiError library_error(int status, size_t max_body) {
  switch (status) {
    case 400:
      return ApiError(400, "the request is not valid HTTP/1.1 (request line, headers or chunked body)",
                      "invalid_request_error");
    case 411:
      return ApiError(411, "a request with a body needs a Content-Length header or a chunked body",
                      "invalid_request_error");
    case 413:
      return ApiError(413,
                      "the request body is larger than the server's limit of " + std::to_string(max_body) + " bytes",
                      "invalid_request_error", "", "request_too_large");
    case 414:
      return ApiError(414, "the request path is too long", "invalid_request_error");
    case 416:
      return ApiError(416, "the requested range cannot be served", "invalid_request_error");
    default:
      return ApiError(status, "the request could not be served (HTTP " + std::to_string(status) + ")",
                      status >= 500 ? "server_error" : "invalid_request_error");
  }
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
  http.set_keep_alive_max_count(100000);  // a client's connection stays open (the library's default closes it after 5)
  // SO_REUSEADDR alone: the library's default SO_REUSEPORT would let a second server take the same port and split
  // the requests with this one.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http.set_read_timeout(30);
  http.set_write_timeout(30);

  if (!o.cors_origin.empty()) {
    http.set_default_headers({{"Access-Control-Allow-Origin", o.cors_origin}, {"Vary", "Origin"}});
  }
  // A preflight is answered for any path: the browser asks which methods and headers it may send. The headers it
  // names are allowed (the openai SDK sends x-stainless-*), as any header is allowed to a non-browser client.
  http.Options(R"(.*)", [&state](const httplib::Request& req, httplib::Response& res) {
    res.status = 204;
    res.set_header("Allow", "GET, POST, OPTIONS");
    if (state.options.cors_origin.empty()) return;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    const std::string asked = req.get_header_value("Access-Control-Request-Headers");
    res.set_header("Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type" : asked);
    res.set_header("Access-Control-Max-Age", "600");
  });
  // The one pre-routing handler (the library keeps one): the request log's start, then the API key.
  http.set_pre_routing_handler([&state](const httplib::Request& req, httplib::Response& res) {
    state.log.begin(req);
    const std::string& key = state.options.api_key;
    // "/" answers only that the server runs (Ollama's clients probe it), as /health does.
    if (key.empty() || req.path == "/health" || req.path == "/" || req.method == "OPTIONS") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (bearer_matches(req.get_header_value("Authorization"), key)) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res,
               ApiError(401, "a valid API key is required: send the header 'Authorization: Bearer KEY'",
                        "invalid_request_error", "", "invalid_api_key"),
               error_style(req.path));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors the library answers itself (no route, body too large) get a JSON body too.
  http.set_error_handler([&state](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      std::string allow;
      for (const auto& [pattern, method] : state.routes) {
        if (std::regex_match(req.path, pattern) && allow.find(method) == std::string::npos) {
          allow += (allow.empty() ? "" : ", ") + method;
        }
      }
      if (!allow.empty()) {
        res.set_header("Allow", allow);
        send_error(res,
                   ApiError(405, req.path + " takes " + allow + ", not " + req.method, "invalid_request_error", "",
                            "method_not_allowed"),
                   error_style(req.path));
        return;
      }
      send_error(res,
                 ApiError(404, "no route " + req.method + " " + req.path, "invalid_request_error", "", "unknown_route"),
                 error_style(req.path));
    } else {
      send_error(res, library_error(res.status, state.options.max_body_bytes), error_style(req.path));
    }
  });
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
    send_error(res, ApiError(500, "internal error", "server_error"), error_style(req.path));
  });
  // Counted before the response is written (the logger runs after it), so a client that reads /metrics right
  // after its answer sees its own request.
  http.set_post_routing_handler([&state](const httplib::Request& req, httplib::Response& res) {
    state.metrics.count_request(endpoint_label(req.path), res.status);
  });
  if (state.log.enabled()) {
    http.set_logger([&state](const httplib::Request& req, const httplib::Response& res) { state.log.end(req, res); });
  }
  add_openai_routes(http, state);
  add_native_routes(http, state);
  add_ollama_routes(http, state);
}

}  // namespace

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  const ServerOptions& o = impl_->state.options;
  constexpr auto kCli = ParamSurface::kCommandLine;  // the options are the command line's flags
  check_param(params::kParallel, o.parallel, kCli);
  check_param(params::kCtxSize, static_cast<double>(o.ctx_size), kCli);
  check_param(params::kMaxQueue, static_cast<double>(o.max_queue), kCli);
  check_param(params::kPort, o.port, kCli);
  check_threads(o.threads, kCli);
  impl_->specs = expand_model_specs(o.models);
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
  so.kv_type = st.options.kv_type;
  so.lora = st.options.lora;
  so.device = st.options.device;
  so.n_gpu_layers = st.options.n_gpu_layers;
  for (ModelSpec& spec : std::exchange(impl_->specs, {})) {
    spec.chat_template = st.options.chat_template;
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
