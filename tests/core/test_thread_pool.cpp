#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "ternion/core/thread_pool.h"

namespace ternion {
namespace {

// Every chunk runs exactly once, for any pool size, job size and job sequence.
TEST(ThreadPool, EveryChunkRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{64}, size_t{1000}}) {
      for (int rep = 0; rep < 50; ++rep) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, [&](size_t i) { hits[i].fetch_add(1); });
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " threads, n " << n;
      }
    }
  }
}

// Idle reads (prefetches of the next job's bytes while a job's last chunks finish) change nothing that runs:
// every chunk still once, for ranges of any size, a thread without a range, and jobs posted back to back.
TEST(ThreadPool, IdleReadsChangeNothingThatRuns) {
  std::vector<uint8_t> next(1 << 20, 1);
  for (int threads : {2, 3, 9}) {
    ThreadPool pool(threads);
    ThreadPool::IdleReads idle;
    for (int i = 0; i < ThreadPool::IdleReads::kMaxThreads; ++i) {
      if (i != 1) idle.start[i] = next.data() + static_cast<size_t>(i) * 4000;
    }
    for (size_t bytes : {size_t{0}, size_t{100}, size_t{4096}, size_t{1} << 19}) {
      idle.bytes = bytes;
      for (size_t n : {size_t{2}, size_t{3}, size_t{17}}) {
        for (int rep = 0; rep < 200; ++rep) {
          std::vector<std::atomic<int>> hits(n);
          pool.parallel_for(
              n, [&](size_t i) { hits[i].fetch_add(1); }, &idle);
          for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " threads, n " << n;
        }
      }
    }
  }
}

TEST(ThreadPool, JobsLargerThanOneClaimWindow) {
  ThreadPool pool(2);
  const size_t n = (size_t{1} << 20) + 37;  // more chunks than one claim word counts
  std::vector<uint8_t> hits(n, 0);
  std::atomic<size_t> total{0};
  pool.parallel_for(n, [&](size_t i) {
    hits[i] = static_cast<uint8_t>(hits[i] + 1);
    total.fetch_add(1, std::memory_order_relaxed);
  });
  EXPECT_EQ(total.load(), n);
  for (size_t i = 0; i < n; i += 4099) ASSERT_EQ(hits[i], 1);
  EXPECT_EQ(hits[n - 1], 1);
}

TEST(ThreadPool, WorkersSleepAndWakeBetweenJobs) {
  ThreadPool pool(3);
  std::atomic<int> sum{0};
  pool.parallel_for(10, [&](size_t i) { sum += static_cast<int>(i); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // workers go to sleep
  pool.parallel_for(10, [&](size_t i) { sum += static_cast<int>(i); });
  EXPECT_EQ(sum.load(), 90);
  EXPECT_GE(default_thread_count(), 1);
}

TEST(ThreadPool, ZeroOrNegativeSizeMeansOneThread) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1);
  int n = 0;
  pool.parallel_for(3, [&](size_t) { ++n; });
  EXPECT_EQ(n, 3);
}

}  // namespace
}  // namespace ternion
