#include "ternion/core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ternion {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

constexpr int kSpinIterations = 20000;
constexpr auto kCallerSpinTime = std::chrono::microseconds(200);

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_acq_rel);
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_available_chunks() {
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t next = (s >> kCountBits) & kCountMask;
    const uint64_t count = s & kCountMask;
    if (next >= count) return;
    if (state_.compare_exchange_weak(s, s + (uint64_t{1} << kCountBits), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      // The claim happened after the job was published and before it can finish, so job_ and
      // chunk_base_ are those of the claimed chunk's job.
      (*job_)(chunk_base_ + next);
      done_.fetch_add(1, std::memory_order_acq_rel);
      s = state_.load(std::memory_order_acquire);
    }
  }
}

void ThreadPool::worker_loop() {
  // Start from the value at construction (0), not from a fresh read: a job posted before this thread
  // first runs must still be seen as new.
  uint32_t seen = 0;
  for (;;) {
    int spins = 0;
    uint32_t now = wake_.load(std::memory_order_acquire);
    while (now == seen) {
      if (++spins < kSpinIterations) {
        cpu_relax();
      } else {
        wake_.wait(seen, std::memory_order_acquire);
      }
      now = wake_.load(std::memory_order_acquire);
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    run_available_chunks();
  }
}

void ThreadPool::parallel_for(size_t n_chunks, const std::function<void(size_t)>& fn) {
  if (n_chunks == 0) return;
  if (n_threads_ == 1 || n_chunks == 1) {
    for (size_t i = 0; i < n_chunks; ++i) fn(i);
    return;
  }
  // Jobs larger than the claim word holds run as several windows.
  for (size_t base = 0; base < n_chunks; base += kCountMask) {
    const uint64_t count = std::min<uint64_t>(kCountMask, n_chunks - base);
    job_ = &fn;
    chunk_base_ = base;
    done_.store(0, std::memory_order_relaxed);
    generation_ = (generation_ + 1) & ((uint64_t{1} << 24) - 1);
    state_.store((generation_ << (2 * kCountBits)) | count, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_acq_rel);
    wake_.notify_all();
    run_available_chunks();
    // The other chunks of a job end within microseconds of ours: spin (no system call) for up to
    // kCallerSpinTime, and only then give the core away, for when there are more threads than cores.
    int spins = 0;
    std::chrono::steady_clock::time_point spin_start{};
    while (done_.load(std::memory_order_acquire) != count) {
      cpu_relax();
      if ((++spins & 63) != 0) continue;
      const auto now = std::chrono::steady_clock::now();
      if (spins == 64) spin_start = now;
      if (now - spin_start > kCallerSpinTime) std::this_thread::yield();
    }
  }
  job_ = nullptr;
}

int default_thread_count() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 32u));
}

}  // namespace ternion
