// `ternion quantize` and `ternion kld` as users run them: results on stdout, one clear line for each mistake.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

using test::expect_one_line_error;
using test::run_cli;

std::string gguf(const std::string& name) { return test::fixture("gguf/" + name).string(); }

TEST(QualityCli, QuantizeThenMeasureKld) {
  TERNION_REQUIRE_FIXTURE(gguf("kjv-llama-F16.gguf"));
  const std::string out = (test::cli_scratch_dir() / "q8.gguf").string();
  const auto q = run_cli("quantize " + gguf("kjv-llama-F16.gguf") + " " + out + " q8_0 -t 2");
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_NE(q.out.find("57 tensors, 44 converted"), std::string::npos) << q.out;
  EXPECT_NE(q.err.find("[ 57/57]"), std::string::npos) << q.err;  // progress, one line per tensor off a terminal
  const auto k = run_cli("kld -m " + out + " --reference " + gguf("kjv-llama-F16.gguf") + " -f " +
                         test::fixture("text/validation.txt").string() + " -c 64 --chunks 2 -t 2");
  ASSERT_EQ(k.code, 0) << k.err;
  EXPECT_NE(k.out.find("mean KLD"), std::string::npos) << k.out;
  EXPECT_NE(k.out.find("same top token"), std::string::npos) << k.out;
  std::filesystem::remove(out);
}

TEST(QualityCli, MistakesAreOneLineErrors) {
  TERNION_REQUIRE_FIXTURE(gguf("kjv-llama-Q8_0.gguf"));
  const std::string out = (test::cli_scratch_dir() / "never.gguf").string();
  expect_one_line_error(run_cli("quantize " + gguf("kjv-llama-Q8_0.gguf") + " " + out + " Q4_0"), "--allow-requantize");
  expect_one_line_error(run_cli("quantize " + gguf("kjv-llama-Q8_0.gguf") + " " + out + " Q9_9"),
                        "unknown quantization type");
  expect_one_line_error(run_cli("quantize " + gguf("kjv-llama-Q8_0.gguf") + " " + out + " Q8_0 --keep-tensor-type x"),
                        "PATTERN=TYPE");
  expect_one_line_error(run_cli("quantize /nonexistent.gguf " + out + " Q8_0"), "/nonexistent.gguf");
  EXPECT_FALSE(std::filesystem::exists(out));
  expect_one_line_error(run_cli("kld -m " + gguf("kjv-llama-Q8_0.gguf") + " -f x"), "--reference");
  expect_one_line_error(run_cli("kld -m " + gguf("kjv-llama-Q8_0.gguf") + " --reference " + gguf("kjv-qwen2-F16.gguf") +
                                " -f " + test::fixture("text/validation.txt").string() + " -c 64 --chunks 1"),
                        "vocabular");
}

}  // namespace
}  // namespace ternion
