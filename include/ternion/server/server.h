// The OpenAI-compatible HTTP server: POST /v1/chat/completions, /v1/completions, /generate, /tokenize,
// /detokenize; GET /v1/models, /health, /metrics. Requests of each model are batched by its Scheduler.
//
//   Server s(options);
//   int port = s.bind();          // listening; /health answers 503
//   std::thread t([&] { s.serve(); });
//   s.load_models();              // /health answers 200
//   ...
//   s.stop(); t.join();
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ternion/core/dtype.h"

namespace ternion::server {

struct ServerOptions {
  std::vector<std::string> models;  // -m arguments: FILE, ALIAS=FILE, model folder, folder of models
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: an ephemeral port
  int32_t parallel = 4;              // KV slots per model (sequences decoded together)
  int64_t ctx_size = 0;              // positions per slot; 0: the model's, at most 4096
  size_t max_queue = 64;             // requests waiting for a slot, per model; beyond it 503
  int threads = 0;                   // compute threads per model; 0: all cores
  std::string api_key;               // when set, every route but /health needs "Authorization: Bearer KEY"
  std::string cors_origin;           // when set, CORS headers allowing this origin
  size_t max_body_bytes = 4u << 20;  // larger request bodies get 413
  bool mmap = false;                 // weights used in place from the mapped files (load_model, resident false)
  bool hugetlb = false;              // weights and KV caches in reserved huge pages (LoadOptions, ContextOptions)
  DType kv_type = DType::F16;        // the KV caches' type (ContextOptions::kv_type)
  std::vector<std::pair<std::string, float>> lora;  // LoRA adapters (file, scale) applied to every model served
  std::string device;                               // where every model runs (ContextOptions::device)
  int32_t n_gpu_layers = -1;                        // ContextOptions::n_gpu_layers
  std::string chat_template;  // Jinja text used instead of every model's own chat template; "": theirs
  // Called with one line per answered request (method, path, model, status, prompt/generated tokens, time);
  // null: no request log.
  std::function<void(const std::string&)> request_log;
};

class Server {
 public:
  explicit Server(ServerOptions options);  // checks the options; throws Error
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket and returns its port; throws Error when it cannot.
  int bind();
  // Loads every model; /health is 503 until it returns. Throws Error naming the file that failed.
  void load_models();
  // Answers requests until stop(); call after bind().
  void serve();
  // Stops serving (from any thread); requests in flight end.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ternion::server
