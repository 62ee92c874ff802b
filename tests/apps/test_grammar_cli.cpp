// `ternion run --grammar / --grammar-file / --json-schema / --json-schema-file`: the output matches, and mistakes are
// one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

using test::expect_one_line_error;
using test::Outcome;
using test::run_cli;

std::string model_path() { return test::fixture("gguf/kjv-llama-Q8_0.gguf").string(); }

class GrammarCli : public ::testing::Test {
 protected:
  void SetUp() override { TERNION_REQUIRE_FIXTURE(model_path()); }
};

TEST_F(GrammarCli, JsonSchemaOutputParses) {
  const std::string schema =
      R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}, "n": {"type": "integer"}},
          "required": ["name", "n"], "additionalProperties": false})";
  const auto file = test::cli_scratch_dir() / "schema.json";
  std::ofstream(file) << schema;
  for (const std::string& flag : {"--json-schema '" + schema + "'", "--json-schema-file " + file.string()}) {
    const Outcome o = run_cli("run -m " + model_path() + " -p 'And he said' -n 200 --seed 4 --json " + flag);
    ASSERT_EQ(o.code, 0) << o.err;
    const auto j = nlohmann::json::parse(o.out);
    EXPECT_EQ(j["finish_reason"], "stop");
    const auto v = nlohmann::json::parse(j["text"].get<std::string>());
    EXPECT_TRUE(v["name"].is_string());
    EXPECT_TRUE(v["n"].is_number_integer());
    EXPECT_EQ(v.size(), 2u);
  }
}

TEST_F(GrammarCli, GbnfFromTheCommandLineAndAFile) {
  const std::string gbnf = R"(root ::= ("yea" | "nay") "!")";
  const auto file = test::cli_scratch_dir() / "g.gbnf";
  std::ofstream(file) << "# a comment\n" << gbnf << "\n";
  for (const std::string& flag : {"--grammar '" + gbnf + "'", "--grammar-file " + file.string()}) {
    const Outcome o = run_cli("run -m " + model_path() + " -p 'And he said' -n 20 --seed 2 " + flag);
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_TRUE(o.out == "yea!\n" || o.out == "nay!\n") << o.out;
  }
}

TEST_F(GrammarCli, MistakesAreOneLine) {
  const std::string run = "run -m " + model_path() + " -p 'x' -n 4 ";
  expect_one_line_error(run_cli(run + "--grammar 'root ::= (\"a\"'"), "grammar: line 1, column 14");
  expect_one_line_error(run_cli(run + "--grammar 'root ::= \"a\"' --json-schema '{}'"), "give one of --grammar");
  expect_one_line_error(run_cli(run + "--json-schema '{\"type\": \"string\", \"pattern\": \"a\"}'"),
                        "'pattern' is not supported");
  expect_one_line_error(run_cli(run + "--json-schema '{'"), "json schema: not valid JSON");
  expect_one_line_error(run_cli(run + "--grammar-file /nonexistent.gbnf"), "/nonexistent.gbnf: cannot open");
}

}  // namespace
}  // namespace ternion
