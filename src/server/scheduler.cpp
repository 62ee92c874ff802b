#include "ternion/server/scheduler.h"

#include <algorithm>
#include <string>

#include "ternion/core/error.h"

namespace ternion::server {

Scheduler::Scheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options, Metrics& metrics)
    : options_(options), tokenizer_(tokenizer), metrics_(metrics) {
  if (options.n_parallel <= 0) throw Error("--parallel must be positive, got " + std::to_string(options.n_parallel));
  pool_ = std::make_unique<ThreadPool>(options.n_threads > 0 ? options.n_threads : default_thread_count());
  ContextOptions copt;
  copt.n_ctx = options.n_ctx;
  copt.n_batch = options.n_batch;
  copt.n_seq = options.n_parallel;
  copt.hugetlb = options.hugetlb;
  copt.kv_type = options.kv_type;
  ctx_ = std::make_unique<InferenceContext>(model, copt, *pool_);
  slots_.reserve(static_cast<size_t>(options.n_parallel));
  for (int32_t i = 0; i < options.n_parallel; ++i) slots_.emplace_back(i, tokenizer, metrics);
  batch_.reserve(static_cast<size_t>(ctx_->n_batch()));
  row_slot_.reserve(slots_.size());
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (Slot& s : slots_) s.end("", "the server is shutting down");
  for (auto& t : queue_) t->fail("the server is shutting down");
}

bool Scheduler::submit(std::shared_ptr<GenerationTask> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() >= options_.max_queue) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_all();
  return true;
}

ModelGauges Scheduler::gauges() const {
  ModelGauges g;
  {
    std::lock_guard<std::mutex> lock(mu_);
    g.queue_depth = static_cast<int64_t>(queue_.size());
  }
  g.active_slots = active_.load();
  g.slots = static_cast<int64_t>(slots_.size());
  g.kv_cells_used = kv_used_.load();
  g.kv_cells_total = g.slots * ctx_->n_ctx();
  return g;
}

void Scheduler::admit() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Slot& s : slots_) {
    while (!s.busy() && !queue_.empty()) {
      std::shared_ptr<GenerationTask> t = std::move(queue_.front());
      queue_.pop_front();
      if (t->cancelled()) {
        t->finish("cancelled");
        continue;
      }
      ctx_->clear_slot(s.index());
      try {
        s.start(std::move(t));
      } catch (const std::exception& e) {  // requests are validated before they are queued; this is a last guard
        s.end("", e.what());
      }
    }
  }
}

void Scheduler::drop_cancelled() {
  for (Slot& s : slots_) {
    if (!s.busy()) continue;
    GenerationTask* t = s.task();
    if (t->cancelled() || (t->client_gone && t->client_gone())) s.end("cancelled");
  }
}

bool Scheduler::step() {
  batch_.clear();
  row_slot_.clear();
  const size_t budget = static_cast<size_t>(ctx_->n_batch());
  // Decoding slots first: one token each.
  for (Slot& s : slots_) {
    if (!s.busy() || s.prefilling()) continue;
    batch_.push_back({s.next_token(), s.index(), s.n_past(), true});
    row_slot_.push_back(s.index());
  }
  // Then prompt tokens of new requests, while the batch has room.
  for (Slot& s : slots_) {
    if (!s.prefilling() || batch_.size() >= budget) continue;
    const std::span<const int32_t> left = s.prompt_left();
    const size_t n = std::min(left.size(), budget - batch_.size());
    const int64_t pos0 = s.n_past();
    for (size_t i = 0; i < n; ++i) {
      const bool last = i + 1 == n && n == left.size();
      batch_.push_back({left[i], s.index(), pos0 + static_cast<int64_t>(i), last});
      if (last) row_slot_.push_back(s.index());
    }
    s.fed_prompt(n);
  }
  if (batch_.empty()) return false;

  std::span<const float> logits;
  try {
    logits = ctx_->decode_batch(batch_);
  } catch (const std::exception& e) {
    // Should not happen for validated requests; the requests of this batch fail, the others go on.
    for (const BatchToken& b : batch_) slots_[static_cast<size_t>(b.slot)].end("", e.what());
    return true;
  }
  const size_t n_vocab = static_cast<size_t>(tokenizer_.n_vocab());
  for (size_t r = 0; r < row_slot_.size(); ++r) {
    slots_[static_cast<size_t>(row_slot_[r])].on_logits(logits.subspan(r * n_vocab, n_vocab));
  }
  return true;
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const auto idle = [&] {
        return std::none_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.busy(); });
      };
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !idle(); });
      if (stop_) return;
    }
    drop_cancelled();
    admit();
    step();
    int64_t active = 0, used = 0;
    for (const Slot& s : slots_) {
      if (!s.busy()) continue;
      ++active;
      used += ctx_->slot_len(s.index());
    }
    active_.store(active);
    kv_used_.store(used);
  }
}

}  // namespace ternion::server
