// A persistent pool of worker threads. Work is a range of chunks handed out through an atomic counter;
// the caller's thread works too. Workers spin briefly between jobs (decode steps come back-to-back) and
// then sleep on an atomic wait, so an idle engine costs no CPU.
//
// Results never depend on the number of threads: a kernel gives each output element to exactly one
// chunk, and the chunk computes it in a fixed order.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace ternion {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // What a thread may ask the caches for once no chunk of a job is left to claim: the first bytes the next job's
  // chunks will read. The caller does so while the others finish their chunks, a worker until the next job is
  // posted. Prefetch only; results never depend on it. Thread i (0: the caller, workers 1 .. size()-1) reads
  // from start[i], up to `bytes`.
  struct IdleReads {
    static constexpr int kMaxThreads = 8;
    const void* start[kMaxThreads] = {};
    size_t bytes = 0;
  };

  // Calls fn(chunk) for every chunk in [0, n_chunks), spread over the threads; returns when all are done.
  // Not re-entrant: fn must not call parallel_for on the same pool.
  void parallel_for(size_t n_chunks, const std::function<void(size_t)>& fn, const IdleReads* idle = nullptr);

 private:
  void worker_loop(int index);
  // Claims and runs chunks of the current job until none is left; returns at once when there is no job. When it
  // ran one, the job's generation and this thread's idle reads are left in *claimed.
  struct Claimed {
    uint64_t generation = 0;
    const void* idle_start = nullptr;
    size_t idle_bytes = 0;
  };
  bool run_available_chunks(int index, Claimed* claimed);

  // The claim word: [generation:24][next chunk:20][chunk count:20]. A chunk is claimed by one
  // compare-exchange, so a worker that wakes late can never run a chunk twice or one of a finished job,
  // and the caller waits only for chunks that were actually claimed, never for a sleeping thread.
  static constexpr int kCountBits = 20;
  static constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;

  int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> state_{0};
  std::atomic<uint32_t> wake_{0};  // bumped for every job; sleeping workers wait on it
  std::atomic<size_t> done_{0};    // chunks of the current job finished
  std::atomic<bool> stop_{false};
  uint64_t generation_ = 0;
  size_t chunk_base_ = 0;
  const std::function<void(size_t)>* job_ = nullptr;
  const IdleReads* idle_ = nullptr;  // of the current job; read only by a thread that holds a claimed chunk
};

// Threads to use when the user gives none: the physical cores we can see, at least 1.
int default_thread_count();

}  // namespace ternion
