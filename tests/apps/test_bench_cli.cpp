// `ternion bench` as users and scripts run it: the Markdown table, llama-bench-compatible JSON, and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

using test::expect_one_line_error;
using test::run_cli;

std::string model_path() { return test::fixture("gguf/kjv-llama-Q8_0.gguf").string(); }

TEST(BenchCli, JsonHasLlamaBenchFieldsAndOurs) {
  TERNION_REQUIRE_FIXTURE(model_path());
  const auto o = run_cli("bench -m " + model_path() + " -p 16 -n 4 -t 1,2 -r 2 -o json");
  ASSERT_EQ(o.code, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 4u);  // {pp16, tg4} × {1, 2} threads
  int pp = 0, tg = 0;
  for (const auto& r : j) {
    EXPECT_EQ(r["model_filename"], model_path());
    EXPECT_GT(r["model_size"].get<int64_t>(), 6000000);
    EXPECT_EQ(r["model_n_params"].get<int64_t>(), 6819072);
    EXPECT_EQ(r["samples_ts"].size(), 2u);
    EXPECT_EQ(r["samples_ns"].size(), 2u);
    EXPECT_GT(r["avg_ts"].get<double>(), 0);
    EXPECT_GE(r["stddev_ts"].get<double>(), 0);
    EXPECT_GT(r["ttft_ms"].get<double>(), 0);
    EXPECT_GT(r["peak_rss_bytes"].get<int64_t>(), 0);
    EXPECT_EQ(r["model_size_bytes"].get<int64_t>(), 7351360);
    EXPECT_EQ(r["use_mmap"], false);  // weights copied into memory at load (the default)
    const int64_t p = r["n_prompt"], n = r["n_gen"];
    if (p > 0) {
      ++pp;
      EXPECT_EQ(p, 16);
      EXPECT_EQ(n, 0);
      EXPECT_TRUE(r["latency_p50_ms"].is_null());
      EXPECT_TRUE(r["decode_bound_ms"].is_null());
      EXPECT_TRUE(r["read_p99_ms"].is_null());
      EXPECT_EQ(r["decode_bytes_per_token"].get<int64_t>(), 0);
      EXPECT_TRUE(r["token_latencies_ms"].empty());
      EXPECT_TRUE(r["read_pass_ms"].empty());
    } else {
      ++tg;
      EXPECT_EQ(n, 4);
      EXPECT_LE(r["latency_p50_ms"].get<double>(), r["latency_p99_ms"].get<double>());
      EXPECT_GE(r["jitter_ms"].get<double>(), 0);
      // The matrices a step reads: most of the file (the embedding is read a row at a time).
      EXPECT_GT(r["decode_bytes_per_token"].get<int64_t>(), 3000000);
      EXPECT_LT(r["decode_bytes_per_token"].get<int64_t>(), 7351360);
      EXPECT_GT(r["decode_bound_ms"].get<double>(), 0);
      EXPECT_NEAR(r["decode_bound_pct"].get<double>(),
                  100 * r["decode_bound_ms"].get<double>() / r["latency_p50_ms"].get<double>(), 1e-6);
      // The bound is the median read pass, never above their p99.
      EXPECT_LE(r["decode_bound_ms"].get<double>(), r["read_p99_ms"].get<double>());
      // Every step of both repetitions and every pass, in order; the reported percentiles are theirs.
      const auto steps = r["token_latencies_ms"].get<std::vector<double>>();
      const auto passes = r["read_pass_ms"].get<std::vector<double>>();
      ASSERT_EQ(steps.size(), 8u);
      ASSERT_EQ(passes.size(), 4u);
      EXPECT_DOUBLE_EQ(*std::max_element(steps.begin(), steps.end()), r["latency_p99_ms"].get<double>());
      EXPECT_DOUBLE_EQ(*std::max_element(passes.begin(), passes.end()), r["read_p99_ms"].get<double>());
      std::vector<double> sorted = passes;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_DOUBLE_EQ(sorted[1], r["decode_bound_ms"].get<double>());  // nearest-rank median of 4
    }
    const int t = r["n_threads"];
    EXPECT_TRUE(t == 1 || t == 2);
  }
  EXPECT_EQ(pp, 2);
  EXPECT_EQ(tg, 2);
}

TEST(BenchCli, MappedWeights) {
  TERNION_REQUIRE_FIXTURE(model_path());
  const auto o = run_cli("bench -m " + model_path() + " -p 0 -n 3 -t 1 -r 1 -o json --mmap");
  ASSERT_EQ(o.code, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["use_mmap"], true);
  EXPECT_EQ(j[0]["hugetlb"], false);
  EXPECT_GT(j[0]["avg_ts"].get<double>(), 0);
  EXPECT_GT(j[0]["decode_bound_ms"].get<double>(), 0);
}

// --hugetlb: the JSON says so when the reserved pool holds the model and its cache; otherwise a one-line error
// that says how many huge pages are needed (which branch runs depends on `sysctl vm.nr_hugepages` here).
TEST(BenchCli, HugetlbPlacementOrAClearError) {
  TERNION_REQUIRE_FIXTURE(model_path());
  const auto o = run_cli("bench -m " + model_path() + " -p 0 -n 3 -t 1 -r 1 -o json --hugetlb");
  if (o.code != 0) {
    expect_one_line_error(o, "huge pages of");
    std::fprintf(stderr, "*** too few huge pages reserved (sysctl vm.nr_hugepages): only the refusal is checked ***\n");
    return;
  }
  const auto j = nlohmann::json::parse(o.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["hugetlb"], true);
  EXPECT_GT(j[0]["avg_ts"].get<double>(), 0);
}

TEST(BenchCli, MarkdownTableAndCombinedTest) {
  TERNION_REQUIRE_FIXTURE(model_path());
  const auto o = run_cli("bench " + model_path() + " -p 0 -n 0 --pg 8,3 -t 1 -r 1");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("| model |"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("| pp8+tg3 |"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("| read p99/p50 |"), std::string::npos) << o.out;
  EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 3) << o.out;  // header, rule, one row
}

TEST(BenchCli, JsonLinesOneObjectPerTest) {
  TERNION_REQUIRE_FIXTURE(model_path());
  const auto o = run_cli("bench -m " + model_path() + " -p 4,8 -n 0 -t 1 -r 1 -o jsonl");
  ASSERT_EQ(o.code, 0) << o.err;
  std::istringstream lines(o.out);
  std::string line;
  std::vector<int64_t> sizes;
  while (std::getline(lines, line)) sizes.push_back(nlohmann::json::parse(line)["n_prompt"].get<int64_t>());
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 8}));
}

TEST(BenchCli, BadArgumentsAreOneLineErrors) {
  TERNION_REQUIRE_FIXTURE(model_path());
  const std::string m = " -m " + model_path();
  expect_one_line_error(run_cli("bench" + m + " -p -1"), "must not be negative");
  expect_one_line_error(run_cli("bench" + m + " -p 0 -n 0"), "nothing to measure");
  expect_one_line_error(run_cli("bench" + m + " --pg 3x"), "--pg");
  expect_one_line_error(run_cli("bench" + m + " -o xml"), "md, json or jsonl");
  expect_one_line_error(run_cli("bench" + m + " -r 0"), "repetitions");
  expect_one_line_error(run_cli("bench" + m + " -t 0"), "threads");
  expect_one_line_error(run_cli("bench -m /nonexistent.gguf -p 4 -n 0 -r 1"), "/nonexistent.gguf");
}

}  // namespace
}  // namespace ternion
