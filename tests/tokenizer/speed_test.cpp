// Tokenization speed on about 1 MB of English (fixtures/text/validation.txt repeated). Only prints: speed is for
// benchmarks and notes, never asserted in tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "support/test_support.h"
#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace ternion {
namespace {

void time_encode(const char* label, const Tokenizer& tok, const std::string& text) {
  double best = 1e30;
  size_t n_tokens = 0;
  for (int run = 0; run < 3; ++run) {
    const auto start = std::chrono::steady_clock::now();
    n_tokens = tok.encode(text, true, false).size();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  const double mb = static_cast<double>(text.size()) / 1e6;
  std::printf("[ speed    ] %-24s %.2f MB -> %zu tokens in %.1f ms: %.1f MB/s, %.2f M tokens/s (best of 3)\n", label,
              mb, n_tokens, best * 1e3, mb / best, static_cast<double>(n_tokens) / best / 1e6);
}

TEST(TokenizerSpeed, OneMegabyteOfEnglish) {
  TOKENIZER_REQUIRE_FIXTURE(test::fixture("text/validation.txt"));
  const std::string chunk = test::read_file(test::fixture("text/validation.txt").string());
  ASSERT_FALSE(chunk.empty());
  const size_t target = test::slow_build() ? 100'000 : 1'000'000;
  std::string text;
  while (text.size() < target) text += chunk;

  for (const char* name : {"gguf/kjv-qwen2-F16.gguf", "gguf/kjv-llama-F16.gguf", "vocab/ggml-vocab-gpt-2.gguf",
                           "vocab/ggml-vocab-llama-spm.gguf"}) {
    const auto gguf_path = test::fixture(name);
    if (!std::filesystem::exists(gguf_path)) continue;
    time_encode(name, test::load_tokenizer(gguf_path.string()), text);
  }
}

}  // namespace
}  // namespace ternion
