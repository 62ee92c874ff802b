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

  // Calls fn(chunk) for every chunk in [0, n_chunks), spread over the threads; returns when all are done.
  // Not re-entrant: fn must not call parallel_for on the same pool.
  void parallel_for(size_t n_chunks, const std::function<void(size_t)>& fn);

 private:
  void worker_loop();
  void work_on_current_job();

  int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> next_chunk_{0};
  std::atomic<int> busy_workers_{0};
  std::atomic<bool> stop_{false};
  size_t n_chunks_ = 0;
  const std::function<void(size_t)>* job_ = nullptr;
};

// Threads to use when the user gives none: the physical cores we can see, at least 1.
int default_thread_count();

}  // namespace ternion
