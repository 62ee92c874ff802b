#include "ternion/core/thread_pool.h"

#include <algorithm>
#include <chrono>

#include "core/prefetch.h"

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
constexpr size_t kIdleUnit = 4096;  // idle reads asked for between two looks at the job's progress
constexpr auto kCallerSpinTime = std::chrono::microseconds(200);

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_acq_rel);
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::run_available_chunks(int index, Claimed* claimed) {
  bool ran = false;
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t next = (s >> kCountBits) & kCountMask;
    const uint64_t count = s & kCountMask;
    if (next >= count) return ran;
    if (state_.compare_exchange_weak(s, s + (uint64_t{1} << kCountBits), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      // The claim happened after the job was published and before it can finish, so job_, chunk_base_
      // and idle_ are those of the claimed chunk's job.
      (*job_)(chunk_base_ + next);
      if (!ran && claimed != nullptr) {
        claimed->generation = s >> (2 * kCountBits);
        const IdleReads* idle = idle_;
        const bool have = idle != nullptr && index < IdleReads::kMaxThreads;
        claimed->idle_start = have ? idle->start[index] : nullptr;
        claimed->idle_bytes = have && claimed->idle_start != nullptr ? idle->bytes : 0;
      }
      ran = true;
      done_.fetch_add(1, std::memory_order_acq_rel);
      s = state_.load(std::memory_order_acquire);
    }
  }
}

void ThreadPool::worker_loop(int index) {
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
    Claimed c;
    if (!run_available_chunks(index, &c)) continue;
    // Until the next job is posted, ask for this thread's idle reads: while the job's last chunks finish and then
    // through the caller's serial work between jobs (norms, activation conversion), when this thread has nothing
    // else to do.
    for (size_t off = 0; off < c.idle_bytes; off += kIdleUnit) {
      if ((state_.load(std::memory_order_relaxed) >> (2 * kCountBits)) != c.generation) break;
      prefetch_bytes(c.idle_start, off, std::min(kIdleUnit, c.idle_bytes - off));
    }
  }
}

void ThreadPool::parallel_for(size_t n_chunks, const std::function<void(size_t)>& fn, const IdleReads* idle) {
  if (n_chunks == 0) return;
  if (n_threads_ == 1 || n_chunks == 1) {
    for (size_t i = 0; i < n_chunks; ++i) fn(i);
    return;
  }
  // Jobs larger than the claim word holds run as several windows.
  for (size_t base = 0; base < n_chunks; base += kCountMask) {
    const uint64_t count = std::min<uint64_t>(kCountMask, n_chunks - base);
    job_ = &fn;
    idle_ = idle;
    chunk_base_ = base;
    done_.store(0, std::memory_order_relaxed);
    generation_ = (generation_ + 1) & ((uint64_t{1} << 24) - 1);
    state_.store((generation_ << (2 * kCountBits)) | count, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_acq_rel);
    wake_.notify_all();
    run_available_chunks(0, nullptr);
    // The other chunks of a job end within microseconds of ours: ask for the caller's idle reads, then spin
    // (no system call) for up to kCallerSpinTime, and only then give the core away, for when there are more
    // threads than cores.
    const void* idle_start = idle != nullptr ? idle->start[0] : nullptr;
    const size_t idle_bytes = idle_start != nullptr ? idle->bytes : 0;
    size_t idle_off = 0;
    int spins = 0;
    std::chrono::steady_clock::time_point spin_start{};
    while (done_.load(std::memory_order_acquire) != count) {
      if (idle_off < idle_bytes) {
        prefetch_bytes(idle_start, idle_off, std::min(kIdleUnit, idle_bytes - idle_off));
        idle_off += kIdleUnit;
        continue;
      }
      cpu_relax();
      if ((++spins & 63) != 0) continue;
      const auto now = std::chrono::steady_clock::now();
      if (spins == 64) spin_start = now;
      if (now - spin_start > kCallerSpinTime) std::this_thread::yield();
    }
  }
  job_ = nullptr;
  idle_ = nullptr;
}

int default_thread_count() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 32u));
}

}  // namespace ternion
