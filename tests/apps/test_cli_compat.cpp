// The command lines people bring from llama.cpp, Ollama and the edge engine: long and underscore spellings,
// positional and piped prompts, the -t/-p collisions, special tokens, and generation up to a full context.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/cli_runner.h"
#include "support/test_support.h"
#include "ternion/backend/cuda_backend.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using test::expect_one_line_error;
using test::Outcome;
using test::run_cli;

std::string model_path() { return test::fixture("gguf/kjv-llama-Q8_0.gguf").string(); }

class CliCompat : public ::testing::Test {
 protected:
  void SetUp() override { TERNION_REQUIRE_FIXTURE(model_path()); }
  // `run ARGS --json` at temperature 0; fails the test unless it succeeds.
  nlohmann::json run_json(const std::string& args, const std::string& input = "") {
    const Outcome o = run_cli("run " + args + " --json --temp 0", input);
    EXPECT_EQ(o.code, 0) << args << ": " << o.err;
    return o.code == 0 ? nlohmann::json::parse(o.out) : nlohmann::json::object();
  }
  fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = test::cli_scratch_dir() / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
};

TEST_F(CliCompat, EveryWayOfGivingThePromptGivesTheSameRun) {
  const std::string m = model_path();
  const auto ref = run_json("-m " + m + " -p 'In the beginning' -n 6");
  ASSERT_EQ(ref["tokens"].size(), 6u);
  const auto positional = run_json(m + " 'In the beginning' -n 6");            // ollama run MODEL PROMPT
  const auto words = run_json("-m " + m + " In the beginning -n 6");           // words after -m
  const auto piped = run_json("-m " + m + " -n 6", "In the beginning\n");      // echo ... | ternion run
  const auto dash = run_json("-m " + m + " -f - -n 6", "In the beginning\n");  // -f -
  const auto file = run_json("-m " + m + " -n 6 -f " + write("p.txt", "In the beginning\n").string());
  for (const auto* j : {&positional, &words, &piped, &dash, &file}) {
    EXPECT_EQ((*j)["prompt_tokens"], ref["prompt_tokens"]);
    EXPECT_EQ((*j)["tokens"], ref["tokens"]);
  }
  // Only one trailing newline goes, as llama.cpp's -f.
  const auto two = run_json("-m " + m + " -n 1 -f " + write("p2.txt", "In the beginning\n\n").string());
  EXPECT_GT(two["prompt_tokens"].size(), ref["prompt_tokens"].size());
  expect_one_line_error(run_cli("run -m " + m + " -p hi -f " + write("p3.txt", "x").string()), "one way");
  expect_one_line_error(run_cli("run -m " + m + " -p hi more words"), "one way");
}

TEST_F(CliCompat, LongAndUnderscoreSpellings) {
  const std::string m = model_path();
  const auto short_flags = run_json("-m " + m + " -p 'And God said' -n 5 --top-k 5 --top-p 0.5 -s 3");
  // -ngl 99 in a build without CUDA runs on the CPU with a note, as llama.cpp does without a GPU (with CUDA it
  // would run on the GPU, whose logits may sample differently).
  const std::string ngl = cuda_built() ? "" : " -ngl 99";
  const Outcome o = run_cli("run --model " + m +
                            " --prompt 'And God said' --tokens 5 --temperature 0 --top_k 5 --top_p 0.5 --seed 3 "
                            "--json -b 2 -ub 2 --jinja -no-cnv" +
                            ngl);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(nlohmann::json::parse(o.out)["tokens"], short_flags["tokens"]);
  if (!cuda_built()) {
    EXPECT_NE(o.err.find("-ngl 99 ignored: this build has no CUDA"), std::string::npos) << o.err;
    expect_one_line_error(run_cli("run -m " + m + " -n 1 -p hi --device cuda"), "this build has no CUDA");
    expect_one_line_error(run_cli("bench -m " + m + " -p 1 -n 0 --device cuda"), "this build has no CUDA");
  }
  expect_one_line_error(run_cli("run -m " + m + " -n 1 -p hi --device tpu"), "unknown device 'tpu'");
  expect_one_line_error(run_cli("perplexity -m " + m + " -f x.txt -ngl -3"), "must be 0 or more");
}

TEST_F(CliCompat, EdgeEngineShortFlagsAreToldWhatToUse) {
  const std::string m = model_path();
  Outcome o = run_cli("run " + m + " -n 32 -t 0.7 -p hello");
  expect_one_line_error(o, "-t is the thread count, as in llama.cpp; for the temperature use --temp 0.7");
  EXPECT_EQ(o.code, 2);
  expect_one_line_error(run_cli("run -m " + m + " -n 32 -p 0.9"), "for top-p use --top-p 0.9");
  expect_one_line_error(run_cli("chat -m " + m + " -t .5"), "--temp .5");
  o = run_cli("run -m " + m + " --prompt 0.9 -n 2 -t 1");
  EXPECT_EQ(o.code, 0) << "--prompt takes a number as text: " << o.err;
}

TEST_F(CliCompat, SpecialTokenTextIsParsedUnlessTurnedOff) {
  const std::string m = model_path();
  const auto parsed = run_json("-m " + m + " -p '<s>And' -n 1");
  ASSERT_GE(parsed["prompt_tokens"].size(), 3u);
  EXPECT_EQ(parsed["prompt_tokens"][1], 1) << "<s> is the BOS token";
  const auto plain = run_json("-m " + m + " -p '<s>And' -n 1 --no-parse-special");
  EXPECT_GT(plain["prompt_tokens"].size(), parsed["prompt_tokens"].size());
  EXPECT_EQ(std::count(plain["prompt_tokens"].begin(), plain["prompt_tokens"].end(), 1), 1);
  EXPECT_EQ(run_cli("run -m " + m + " -p And -n 2 --special").code, 0);
}

TEST_F(CliCompat, EscapesOnlyWithE) {
  const std::string m = model_path();
  const auto escaped = run_json("-m " + m + " -e -p 'a\\nb\\x41\\q' -n 1");
  const auto literal = run_json("-m " + m + " -n 1", std::string("a\nbA\\q\n"));
  EXPECT_EQ(escaped["prompt_tokens"], literal["prompt_tokens"]);
  const auto raw = run_json("-m " + m + " -p 'a\\nb' -n 1");
  EXPECT_NE(raw["prompt_tokens"], run_json("-m " + m + " -n 1", "a\nb")["prompt_tokens"]);
}

TEST_F(CliCompat, TokensPastTheContextFillItAndSaySo) {
  const std::string m = model_path();
  Outcome o = run_cli("run -m " + m + " -p 'In the' -c 16 -n 100 --temp 0 --ignore-eos");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.err.find("note: the context of 16 tokens is full"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("finish: length"), std::string::npos) << o.err;
  for (const char* n : {"100", "-1"}) {
    const auto j = run_json("-m " + m + " -p 'In the' -c 16 --ignore-eos -n " + std::string(n));
    EXPECT_EQ(j["prompt_tokens"].size() + j["tokens"].size(), 16u) << n;
    EXPECT_EQ(j["finish_reason"], "length");
  }
  o = run_cli("run -m " + m + " -p 'In the' -c 1024 -n 1");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.err.find("beyond the model's trained context of 512"), std::string::npos) << o.err;
}

TEST_F(CliCompat, StopStrings) {
  const std::string m = model_path();
  const auto full = run_json("-m " + m + " -p 'In the beginning' -n 8");
  const std::string text = full["text"];
  ASSERT_GT(text.size(), 8u);
  const std::string stop = text.substr(5, 3);
  const auto j = run_json("-m " + m + " -p 'In the beginning' -n 8 --stop '" + stop + "' --stop zzz");
  EXPECT_EQ(j["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(j["finish_reason"], "stop");
}

TEST_F(CliCompat, HelpSaysTernionAndNamesTheDefaultModel) {
  const Outcome o = run_cli("run --help");
  ASSERT_EQ(o.code, 0);
  EXPECT_NE(o.out.find("Usage: ternion run"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("models/kjv-llama-Q8_0.gguf"), std::string::npos) << o.out;
}

// llama-server's --alias names the one model served.
TEST_F(CliCompat, ServeAliasNamesTheModel) {
  const fs::path dir = test::cli_scratch_dir();
  const fs::path err = dir / "serve_err";
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(err.c_str(), "w", stderr)) ::_exit(126);
    ::execl(TERNION_BINARY, TERNION_BINARY, "serve", "-m", model_path().c_str(), "--alias", "bible", "--port", "0",
            "-np", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string log;
  for (int i = 0; i < 600 && log.find("ready") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = test::slurp(err);
  }
  const std::regex listening("127\\.0\\.0\\.1:([0-9]+)");
  std::smatch m;
  const bool found = std::regex_search(log, m, listening);
  std::string models;
  if (found) {
    const std::string cmd =
        "curl -s http://127.0.0.1:" + m[1].str() + "/v1/models >" + (dir / "alias_models.json").string();
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    models = test::slurp(dir / "alias_models.json");
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(found) << log;
  EXPECT_NE(models.find("\"id\":\"bible\""), std::string::npos) << models;
  EXPECT_EQ(models.find("kjv-llama"), std::string::npos) << models;
}

TEST_F(CliCompat, ChatTakesNoPromptWords) {
  expect_one_line_error(run_cli("chat " + model_path() + " hello"), "chat takes no prompt");
}

}  // namespace
}  // namespace ternion
