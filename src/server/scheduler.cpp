#include "ternion/server/scheduler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "ternion/core/error.h"

namespace ternion::server {

Scheduler::Scheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options, Metrics& metrics)
    : options_(options), metrics_(metrics) {
  if (options.n_parallel <= 0) throw Error("--parallel must be positive, got " + std::to_string(options.n_parallel));
  pool_ = std::make_unique<ThreadPool>(options.n_threads > 0 ? options.n_threads : default_thread_count());
  ContextOptions copt;
  copt.n_ctx = options.n_ctx;
  copt.n_batch = options.n_batch;
  copt.n_seq = options.n_parallel;
  copt.hugetlb = options.hugetlb;
  copt.kv_type = options.kv_type;
  copt.lora = load_lora_adapters(options.lora, model);
  copt.device = options.device;
  copt.n_gpu_layers = options.n_gpu_layers;
  for (const auto& [path, scale] : options.lora) {
    lora_.push_back({path, scale});
    context_scales_.push_back(scale);
  }
  ctx_ = std::make_unique<InferenceContext>(model, copt, *pool_);
  session_ = std::make_unique<Session>(*ctx_, tokenizer);
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  session_->end_all("the server is shutting down");
  for (auto& t : queue_) t->fail("the server is shutting down");
}

bool Scheduler::submit(std::shared_ptr<GenerationTask> task) { return submit_all({std::move(task)}); }

bool Scheduler::submit_all(const std::vector<std::shared_ptr<GenerationTask>>& tasks) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() + tasks.size() > options_.max_queue) return false;
    queue_.insert(queue_.end(), tasks.begin(), tasks.end());
  }
  cv_.notify_all();
  return true;
}

std::vector<LoraAdapterInfo> Scheduler::lora_adapters() const {
  std::lock_guard<std::mutex> lock(lora_mu_);
  return lora_;
}

void Scheduler::set_lora_scales(const std::vector<float>& scales) {
  std::lock_guard<std::mutex> lock(lora_mu_);
  if (scales.size() != lora_.size()) {
    throw Error(std::to_string(scales.size()) + " scales given for " + std::to_string(lora_.size()) + " adapters");
  }
  for (float s : scales) {
    if (!std::isfinite(s)) throw Error("an adapter's scale must be a finite number");
  }
  for (size_t i = 0; i < scales.size(); ++i) lora_[i].scale = scales[i];
}

std::vector<float> Scheduler::request_lora_scales(const std::vector<float>* scales) const {
  std::vector<float> out;
  if (scales != nullptr) {
    out = *scales;
  } else {
    std::lock_guard<std::mutex> lock(lora_mu_);
    for (const LoraAdapterInfo& a : lora_) out.push_back(a.scale);
  }
  if (out == context_scales_) out.clear();
  return out;
}

ModelGauges Scheduler::gauges() const {
  ModelGauges g;
  {
    std::lock_guard<std::mutex> lock(mu_);
    g.queue_depth = static_cast<int64_t>(queue_.size());
  }
  g.active_slots = active_.load();
  g.slots = options_.n_parallel;
  g.kv_cells_used = kv_used_.load();
  g.kv_cells_total = g.slots * ctx_->n_ctx();
  return g;
}

GenerationCallbacks Scheduler::callbacks_for(const std::shared_ptr<GenerationTask>& task) {
  GenerationCallbacks cb;
  auto last_token = std::make_shared<GenerationTask::Clock::time_point>();
  cb.on_delta = [this, task, last_token](Delta&& d) {
    const auto now = GenerationTask::Clock::now();
    if (*last_token == GenerationTask::Clock::time_point{}) {
      task->mark_first_token(now);
      metrics_.observe_ttft(task->ttft_ms() / 1000.0);
    } else {
      metrics_.observe_inter_token(std::chrono::duration<double>(now - *last_token).count());
    }
    *last_token = now;
    task->push(std::move(d));
  };
  cb.on_finish = [this, task](const Finish& f) {
    task->mark_end(GenerationTask::Clock::now(), f);
    metrics_.add_tokens(options_.model_id, f.prompt_reused + f.prompt_evaluated, f.generated);
    if (f.reason == FinishReason::kError) {
      task->fail(f.error);
    } else {
      task->finish(finish_reason_name(f.reason));
    }
  };
  cb.cancelled = [t = task.get()] { return t->cancelled() || (t->client_gone && t->client_gone()); };
  return cb;
}

void Scheduler::admit() {
  std::lock_guard<std::mutex> lock(mu_);
  while (session_->has_free_slot() && !queue_.empty()) {
    std::shared_ptr<GenerationTask> t = std::move(queue_.front());
    queue_.pop_front();
    if (t->cancelled()) {
      t->finish("cancelled");
      continue;
    }
    try {
      session_->start(t->spec(), callbacks_for(t));
    } catch (const std::exception& e) {  // requests are validated before they are queued; this is a last guard
      t->fail(e.what());
    }
  }
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || session_->n_active() > 0; });
      if (stop_) return;
    }
    admit();
    session_->step();
    active_.store(session_->n_active());
    kv_used_.store(session_->kv_used());
  }
}

}  // namespace ternion::server
