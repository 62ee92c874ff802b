// Commands about models rather than text: `show`, `list`, `template -m FOLDER`, one spelling of type names across
// convert, quantize and synth, and tokenize's --no-bos on a WordPiece vocabulary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using test::expect_one_line_error;
using test::Outcome;
using test::run_cli;
using test::slurp;

std::string fixture(const std::string& p) { return test::fixture(p).string(); }

class ModelsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(test::fixture("gguf/kjv-llama-Q4_K_M.gguf"));
    TERNION_REQUIRE_FIXTURE(test::fixture("hf/kjv-llama/model.safetensors"));
  }
};

TEST_F(ModelsCli, ShowSummarisesAFileAndAFolder) {
  Outcome o = run_cli("show " + fixture("gguf/kjv-llama-Q4_K_M.gguf"));
  ASSERT_EQ(o.code, 0) << o.err;
  for (const char* want : {"model: Kjv Llama", "architecture    llama", "parameters      6.8M (6819072)",
                           "quantization    Q4_K_M", "context         512", "vocabulary      4096 tokens",
                           "licence         (no general.license keys)", "template        (none"}) {
    EXPECT_NE(o.out.find(want), std::string::npos) << want << "\n" << o.out;
  }
  o = run_cli("show -m " + fixture("hf/kjv-llama"));
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("HuggingFace folder"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("parameters      6.8M"), std::string::npos) << o.out;
  expect_one_line_error(run_cli("show /nonexistent.gguf"), "/nonexistent.gguf");
}

TEST_F(ModelsCli, ShowPrintsTheFirstLinesOfTheTemplate) {
  // A GGUF with a template of 20 lines: show gives 8 and says how many more; --template gives all.
  const fs::path dir = test::cli_scratch_dir();
  std::string tmpl;
  for (int i = 0; i < 20; ++i) tmpl += "line" + std::to_string(i) + "{{ messages[0].content }}\n";
  std::ofstream(dir / "t.jinja") << tmpl;
  // A folder whose tokenizer_config.json carries it (the fixture's files linked, that one replaced).
  const fs::path folder = dir / "with-template";
  fs::create_directories(folder);
  for (const auto& e : fs::directory_iterator(test::fixture("hf/kjv-llama"))) {
    fs::create_symlink(e.path(), folder / e.path().filename());
  }
  fs::remove(folder / "tokenizer_config.json");
  std::ofstream(folder / "tokenizer_config.json")
      << R"({"bos_token": "<s>", "eos_token": "</s>", "chat_template": )" << nlohmann::json(tmpl).dump() << "}";
  Outcome o = run_cli("show " + folder.string());
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("    line7{{"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("line8"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("more lines; --template shows them"), std::string::npos) << o.out;
  o = run_cli("show --template " + folder.string());
  EXPECT_NE(o.out.find("line19"), std::string::npos) << o.out;
  // template -m FOLDER reads the same template and the folder's BOS text.
  std::ofstream(dir / "m.json") << R"([{"role": "user", "content": "hi"}])";
  o = run_cli("template -m " + folder.string() + " --messages " + (dir / "m.json").string());
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out.rfind("line0hi\nline1hi\n", 0), 0u) << o.out;
  std::ofstream(dir / "bos.jinja") << "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}";
  o = run_cli("template -m " + fixture("hf/kjv-llama") + " --template " + (dir / "bos.jinja").string() +
              " --messages " + (dir / "m.json").string());
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "<s>hi</s>");
  fs::remove_all(folder);
}

TEST_F(ModelsCli, ListNamesTheModelsOfAFolder) {
  const fs::path dir = test::cli_scratch_dir() / "list_models";
  fs::remove_all(dir);
  fs::create_directories(dir / "sub");
  fs::copy_file(test::fixture("gguf/kjv-llama-Q4_K_M.gguf"), dir / "a.gguf", fs::copy_options::overwrite_existing);
  fs::create_symlink(test::fixture("hf/kjv-llama"), dir / "sub" / "folder-model");
  std::ofstream(dir / "broken.gguf") << "not a model";
  std::ofstream(dir / "notes.txt") << "ignored";
  Outcome o = run_cli("list --models-dir " + dir.string());
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out.rfind("NAME", 0), 0u) << o.out;
  EXPECT_NE(o.out.find("a.gguf"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Q4_K_M"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("sub/folder-model"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("broken.gguf  (cannot read"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("notes.txt"), std::string::npos) << o.out;
  EXPECT_EQ(run_cli("list", "").code, 0);  // the shipped models/ folder
  const std::string env = "TERNION_MODELS=" + dir.string() + " ";
  const int status = std::system((env + TERNION_BINARY + " list >" + (dir / "out").string()).c_str());
  EXPECT_EQ(status, 0);
  EXPECT_NE(slurp(dir / "out").find("a.gguf"), std::string::npos);
  expect_one_line_error(run_cli("list --models-dir /nonexistent"), "not a folder");
  fs::remove_all(dir);
}

TEST_F(ModelsCli, OneSpellingOfTypeNames) {
  const fs::path dir = test::cli_scratch_dir();
  const std::string h = fixture("hf/kjv-llama");
  ASSERT_EQ(run_cli("convert " + h + " " + (dir / "upper.gguf").string() + " --type Q8_0").code, 0);
  ASSERT_EQ(run_cli("convert " + h + " " + (dir / "lower.gguf").string() + " --type q8_0").code, 0);
  EXPECT_EQ(slurp(dir / "upper.gguf"), slurp(dir / "lower.gguf"));
  Outcome o = run_cli("convert " + h + " " + (dir / "k.gguf").string() + " --type q4_k");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("Q4_K 44"), std::string::npos) << o.out;
  // A mix is the float conversion quantized by quantize's rules, byte for byte, and says so; no scratch is left.
  o = run_cli("convert " + h + " " + (dir / "km.gguf").string() + " --type q4_k_m");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("as Q4_K_M"), std::string::npos) << o.out;
  ASSERT_EQ(run_cli("convert " + h + " " + (dir / "f32.gguf").string() + " --type f32").code, 0);
  ASSERT_EQ(run_cli("quantize " + (dir / "f32.gguf").string() + " " + (dir / "q.gguf").string() + " Q4_K_M").code, 0);
  EXPECT_EQ(slurp(dir / "km.gguf"), slurp(dir / "q.gguf"));
  EXPECT_FALSE(fs::exists(dir / ".km.gguf.f32.part"));
  EXPECT_NE(run_cli("show " + (dir / "km.gguf").string()).out.find("Q4_K_M"), std::string::npos);
  o = run_cli("convert " + h + " " + (dir / "x.gguf").string() + " --type nope");
  expect_one_line_error(o, "Q8_0");
  const std::string vocab = fixture("gguf/kjv-llama-Q8_0.gguf");
  o = run_cli("synth --shape smollm-135m --type q8_0 --vocab-from " + vocab + " -o " + (dir / "s.gguf").string());
  EXPECT_EQ(o.code, 0) << o.err;
  o = run_cli("quantize " + fixture("gguf/kjv-llama-F16.gguf") + " " + (dir / "q.gguf").string() +
              " q4_k_m -q --keep-tensor-type output=q6_k");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(run_cli("show " + (dir / "q.gguf").string()).out.find("Q4_K_M"), std::string::npos);
  for (const char* f : {"upper.gguf", "lower.gguf", "k.gguf", "km.gguf", "f32.gguf", "s.gguf", "q.gguf"})
    fs::remove(dir / f);
}

TEST(TokenizeNoBos, WordPieceGetsNoSpecialTokens) {
  const std::string bert = fixture("vocab/ggml-vocab-bert-bge.gguf");
  TERNION_REQUIRE_FIXTURE(bert);
  EXPECT_EQ(run_cli("tokenize -m " + bert + " 'hello world'").out, "101 7592 2088 102\n");
  EXPECT_EQ(run_cli("tokenize --no-bos -m " + bert + " 'hello world'").out, "7592 2088\n");
}

}  // namespace
}  // namespace ternion
