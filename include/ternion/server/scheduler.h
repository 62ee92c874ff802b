// The request queue in front of one model's generation Session (ternion/engine/session.h). A thread runs steps:
// requests waiting in the queue take free KV slots, then the session runs one continuous-batching step. Requests
// join and leave between steps; a cancelled request (or one whose client went away) frees its slot at the next
// step. The scheduler keeps only queueing, admission and metrics; generation is the session's.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ternion/core/thread_pool.h"
#include "ternion/engine/session.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"
#include "ternion/server/metrics.h"
#include "ternion/server/task.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion::server {

struct SchedulerOptions {
  int32_t n_parallel = 4;      // KV slots: sequences decoded together
  int64_t n_ctx = 0;           // positions per slot; 0: the model's, at most ContextOptions::kDefaultCtxCap
  int64_t n_batch = 512;       // tokens per forward pass at most
  size_t max_queue = 64;       // requests waiting for a slot at most
  int n_threads = 0;           // compute threads; 0: all cores
  bool hugetlb = false;        // the KV cache in reserved huge pages (ContextOptions::hugetlb)
  DType kv_type = DType::F16;  // ContextOptions::kv_type
  std::vector<std::pair<std::string, float>> lora;  // adapters (file, scale), loaded against the model
  std::string device;                               // ContextOptions::device
  int32_t n_gpu_layers = -1;                        // ContextOptions::n_gpu_layers
  std::string model_id;                             // the model's label in the metrics
};

// A LoRA adapter the model was started with: its file and the scale requests get when they do not say.
struct LoraAdapterInfo {
  std::string path;
  float scale = 1.0f;
};

class Scheduler {
 public:
  Scheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options, Metrics& metrics);
  ~Scheduler();  // ends every request still queued or running
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; false (the request untouched) when the queue is full.
  bool submit(std::shared_ptr<GenerationTask> task);
  // Queues all the requests (the choices of one request) or none: false when the queue has no room for all.
  bool submit_all(const std::vector<std::shared_ptr<GenerationTask>>& tasks);
  size_t max_queue() const { return options_.max_queue; }

  int64_t n_ctx() const { return ctx_->n_ctx(); }

  // The adapters in --lora order with their current scales (POST /lora-adapters changes them for later requests).
  std::vector<LoraAdapterInfo> lora_adapters() const;
  // Sets every adapter's scale (one per adapter, finite); throws Error otherwise.
  void set_lora_scales(const std::vector<float>& scales);
  // The GenerationSpec::lora_scales of a request: `scales` (one per adapter; the current ones when null), or empty
  // where they are the context's own (the faster path: no per-slot terms).
  std::vector<float> request_lora_scales(const std::vector<float>* scales) const;
  ModelGauges gauges() const;

 private:
  void loop();
  void admit();
  // The session's callbacks for a task: its output channel and the metrics.
  GenerationCallbacks callbacks_for(const std::shared_ptr<GenerationTask>& task);

  SchedulerOptions options_;
  Metrics& metrics_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<InferenceContext> ctx_;
  std::unique_ptr<Session> session_;  // used by the scheduler's thread only

  std::vector<float> context_scales_;  // the scales the context was built with
  mutable std::mutex lora_mu_;
  std::vector<LoraAdapterInfo> lora_;  // guarded by lora_mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<GenerationTask>> queue_;
  bool stop_ = false;
  std::atomic<int64_t> active_{0};
  std::atomic<int64_t> kv_used_{0};
  std::thread thread_;
};

}  // namespace ternion::server
