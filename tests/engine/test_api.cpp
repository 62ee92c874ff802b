// The library API: the same mistakes the CLI reports are Errors here, and results do not depend on
// the thread count or on how a prompt is split into batches.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/test_support.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/engine/generate.h"
#include "ternion/model/synth.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

std::string model_path() { return test::fixture("gguf/kjv-llama-Q8_0.gguf").string(); }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Api, LoadErrorsNameTheFile) {
  EXPECT_NE(error_of([] { load_model("/nonexistent/x.gguf"); }).find("/nonexistent/x.gguf"), std::string::npos);
  const fs::path p = fs::temp_directory_path() / (std::to_string(::getpid()) + "_api_garbage.gguf");
  std::ofstream(p) << "GGUF but not really a model";
  EXPECT_NE(error_of([&] { load_model(p.string()); }).find(p.string()), std::string::npos);
  fs::remove(p);
}

TEST(Api, UnsupportedArchitectureListsTheSupportedOnes) {
  const auto path = test::fixture("vocab/ggml-vocab-bert-bge.gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const std::string e = error_of([&] { load_model(path.string()); });
  EXPECT_NE(e.find("bert"), std::string::npos) << e;
  EXPECT_NE(e.find("llama"), std::string::npos) << e;
  EXPECT_NE(e.find("qwen2"), std::string::npos) << e;
}

// Loading and synth report their progress, ending at done == total, never going back.
TEST(Api, ProgressOfLoadingAndSynth) {
  TERNION_REQUIRE_FIXTURE(model_path());
  for (const char* file : {"gguf/kjv-llama-Q8_0.gguf", "gguf/kjv-llama-Q4_0.gguf"}) {
    std::vector<std::pair<uint64_t, uint64_t>> calls;
    load_model(test::fixture(file).string(), {},
               [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
    ASSERT_FALSE(calls.empty()) << file;
    EXPECT_EQ(calls.back().first, calls.back().second) << file;
    for (size_t i = 1; i < calls.size(); ++i) EXPECT_GE(calls[i].first, calls[i - 1].first) << file;
  }
  SynthOptions s;
  s.shape = "smollm-135m";
  s.vocab_from = model_path();
  s.output = (fs::temp_directory_path() / (std::to_string(::getpid()) + "_synth.gguf")).string();
  size_t last = 0, total = 0;
  s.progress = [&](size_t done, size_t all) {
    EXPECT_EQ(done, last + 1);
    last = done;
    total = all;
  };
  write_synthetic_model(s);
  fs::remove(s.output);
  EXPECT_GT(total, 100u);
  EXPECT_EQ(last, total);
}

class ApiWithModel : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(model_path());
    model_ = load_model(model_path());
  }
  std::unique_ptr<Model> model_;
};

TEST_F(ApiWithModel, GenerateRejectsBadRequests) {
  ContextOptions c;
  c.n_ctx = 64;
  Generator gen(*model_, c, 1);
  GenerateOptions o;
  o.max_tokens = 4;
  EXPECT_NE(error_of([&] { gen.generate("", o); }).find("empty"), std::string::npos);
  o.max_tokens = 0;
  EXPECT_NE(error_of([&] { gen.generate("hi", o); }).find("positive"), std::string::npos);
  o.max_tokens = -2;
  EXPECT_NE(error_of([&] { gen.generate("hi", o); }).find("positive or -1"), std::string::npos);
  o.max_tokens = 4;
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += " and";
  EXPECT_NE(error_of([&] { gen.generate(long_prompt, o); }).find("fills the context"), std::string::npos);
  o.sampling.top_p = -1.0f;
  EXPECT_NE(error_of([&] { gen.generate("hi", o); }).find("top_p"), std::string::npos);
  EXPECT_THROW(Generator(*model_, c, 0), Error);
}

TEST_F(ApiWithModel, DecodeRejectsBadTokensAndOverflow) {
  ContextOptions c;
  c.n_ctx = 8;
  ThreadPool pool(1);
  InferenceContext ctx(*model_, c, pool);
  const std::vector<int32_t> bad = {1, 5000};
  EXPECT_NE(error_of([&] { ctx.decode(bad); }).find("5000"), std::string::npos);
  const std::vector<int32_t> nine(9, 1);
  EXPECT_NE(error_of([&] { ctx.decode(nine); }).find("context"), std::string::npos);
  EXPECT_THROW(ctx.decode(std::span<const int32_t>{}), Error);
  EXPECT_THROW(ctx.decode(std::vector<int32_t>{1, 2}, true), Error);  // no logits_all
}

// Logits for a prompt are identical whether it runs as one batch, token by token, or in odd pieces,
// and for 1, 2 or 3 threads.
TEST_F(ApiWithModel, LogitsIndependentOfThreadsAndBatching) {
  const std::vector<int32_t> prompt = {1, 306, 405, 413, 4036, 924, 396, 301, 1081, 4048, 270, 396, 390};
  std::vector<float> reference;
  for (int threads : {1, 2, 3}) {
    for (int64_t batch : {int64_t{512}, int64_t{1}, int64_t{5}}) {
      ContextOptions c;
      c.n_ctx = 32;
      c.n_batch = batch;
      ThreadPool pool(threads);
      InferenceContext ctx(*model_, c, pool);
      const auto logits = ctx.decode(prompt);
      const std::vector<float> v(logits.begin(), logits.end());
      if (reference.empty()) {
        reference = v;
      } else {
        EXPECT_EQ(v, reference) << threads << " threads, batch " << batch;
      }
    }
  }
}

TEST_F(ApiWithModel, StopsAtEndOfGeneration) {
  ContextOptions c;
  c.n_ctx = 512;
  Generator gen(*model_, c, 2);
  GenerateOptions o;
  o.max_tokens = 400;
  o.sampling.temperature = 0.0f;
  // A chapter ends with EOS in training, so a long greedy run of this prompt reaches one.
  o.sampling.logit_bias = {{2, 8.0f}};
  const GenerateResult r = gen.generate("And God said", o);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.tokens.back(), 2);
  o.ignore_eos = true;
  o.max_tokens = 6;
  const GenerateResult r2 = gen.generate("And God said", o);
  EXPECT_EQ(r2.finish_reason, "length");
  EXPECT_EQ(r2.tokens.size(), 6u);
}

// A limit past the context (or -1) runs until the context is full and ends with "length", not an error; the tokens
// are those of a run asked for exactly that many.
TEST_F(ApiWithModel, GeneratesUntilTheContextIsFull) {
  ContextOptions c;
  c.n_ctx = 24;
  Generator gen(*model_, c, 1);
  GenerateOptions o;
  o.sampling.temperature = 0.0f;
  o.ignore_eos = true;
  const size_t n_prompt = gen.tokenize("And God said", o).size();
  o.max_tokens = static_cast<int32_t>(24 - n_prompt);
  const GenerateResult exact = gen.generate("And God said", o);
  EXPECT_FALSE(exact.context_full);
  for (int32_t n : {100, -1}) {
    o.max_tokens = n;
    const GenerateResult r = gen.generate("And God said", o);
    EXPECT_EQ(r.finish_reason, "length") << n;
    EXPECT_TRUE(r.context_full) << n;
    EXPECT_EQ(r.tokens, exact.tokens) << n;
  }
}

TEST_F(ApiWithModel, CancelledAndSpecialTokensPrinted) {
  ContextOptions c;
  c.n_ctx = 64;
  Generator gen(*model_, c, 1);
  GenerateOptions o;
  o.sampling.temperature = 0.0f;
  o.max_tokens = 20;
  int polls = 0;
  const GenerateResult r = gen.generate("And God said", o, {}, [&] { return ++polls > 3; });
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_LT(r.tokens.size(), 20u);
  // BOS (id 1) forced as the first generated token: its text appears only with print_special.
  o.sampling.logit_bias = {{1, 100.0f}};
  o.max_tokens = 1;
  EXPECT_EQ(gen.generate("And God said", o).text, "");
  o.print_special = true;
  EXPECT_EQ(gen.generate("And God said", o).text, gen.tokenizer().token_to_piece(1, true));
  EXPECT_FALSE(gen.tokenizer().token_to_piece(1, true).empty());
}

}  // namespace
}  // namespace ternion
