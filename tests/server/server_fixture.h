// An in-process server on an ephemeral loopback port with the fixture model, and small HTTP helpers.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "support/test_support.h"
#include "ternion/server/server.h"

namespace ternion::test {

inline std::string server_model_path() { return fixture("gguf/kjv-llama-Q8_0.gguf").string(); }

class RunningServer {
 public:
  explicit RunningServer(server::ServerOptions o) : options_(std::move(o)) {
    options_.host = "127.0.0.1";
    options_.port = 0;
    srv_ = std::make_unique<server::Server>(options_);
    port_ = srv_->bind();
    thread_ = std::thread([this] { srv_->serve(); });
    srv_->load_models();
  }
  ~RunningServer() {
    srv_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60);
    return c;
  }

 private:
  server::ServerOptions options_;
  std::unique_ptr<server::Server> srv_;
  int port_ = 0;
  std::thread thread_;
};

inline server::ServerOptions default_options(int parallel = 4) {
  server::ServerOptions o;
  o.models = {server_model_path()};
  o.parallel = parallel;
  o.ctx_size = 256;
  o.threads = 2;
  o.max_queue = 16;
  return o;
}

inline nlohmann::json post_json(httplib::Client& c, const std::string& path, const nlohmann::json& body,
                                int* status = nullptr) {
  auto r = c.Post(path.c_str(), body.dump(), "application/json");
  if (!r) {
    ADD_FAILURE() << "no response from " << path;
    return {};
  }
  if (status != nullptr) *status = r->status;
  return nlohmann::json::parse(r->body, nullptr, false);
}

// The JSON payloads of an SSE body's "data:" frames; "[DONE]" as a string.
inline std::vector<nlohmann::json> sse_frames(const std::string& body) {
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string payload = body.substr(pos + 6, end - pos - 6);
    out.push_back(payload == "[DONE]" ? nlohmann::json("[DONE]") : nlohmann::json::parse(payload, nullptr, false));
    pos = end;
  }
  return out;
}

}  // namespace ternion::test
