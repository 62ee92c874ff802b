// summarize_model: the fields `ternion show` and `list` print, from a GGUF file, a HuggingFace folder and a file
// whose metadata carries a licence and a chat template.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"
#include "ternion/convert/model_summary.h"
#include "ternion/core/error.h"
#include "ternion/model/model_source.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

TEST(ModelSummary, GgufFile) {
  const auto path = test::fixture("gguf/kjv-llama-Q4_K_M.gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const ModelSummary s = summarize_model(path.string());
  EXPECT_FALSE(s.folder);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(s.name, "Kjv Llama");
  EXPECT_EQ(s.quantization, "Q4_K_M") << "general.file_type 15";
  EXPECT_EQ(s.n_params, 6819072u);
  EXPECT_EQ(s.context_length, 512);
  EXPECT_EQ(s.n_layer, 6);
  EXPECT_EQ(s.n_head_kv, 4);
  EXPECT_EQ(s.n_vocab, 4096);
  EXPECT_EQ(s.bos_text, "<s>");
  EXPECT_EQ(s.eos_text, "</s>");
  EXPECT_GT(s.n_bytes, 3000000u);
  EXPECT_LT(s.n_bytes, fs::file_size(path));
}

TEST(ModelSummary, FolderMatchesItsConversion) {
  const auto folder = test::fixture("hf/kjv-llama");
  TERNION_REQUIRE_FIXTURE(folder);
  const ModelSummary s = summarize_model(folder.string());
  const ModelSummary f16 = summarize_model(test::fixture("gguf/kjv-llama-F16.gguf").string());
  EXPECT_TRUE(s.folder);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(s.n_params, f16.n_params);
  EXPECT_EQ(s.quantization, "F32") << "the type of most weight bytes";
  EXPECT_EQ(s.context_length, f16.context_length);
  EXPECT_EQ(s.bos_text, "<s>");
}

TEST(ModelSummary, LicenceAndTemplateAndBadPaths) {
  GgufMetadata m;
  m.set_string("general.architecture", "llama");
  m.set_string("general.license", "apache-2.0");
  m.set_string("general.license.link", "https://example.org/LICENSE");
  m.set_string("tokenizer.chat_template", "{{ messages }}");
  m.set_u32("general.file_type", 1);
  const auto bytes = m.to_gguf_bytes();
  const fs::path p = fs::temp_directory_path() / (std::to_string(::getpid()) + "_summary.gguf");
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  const ModelSummary s = summarize_model(p.string());
  fs::remove(p);
  ASSERT_EQ(s.licence.size(), 2u);
  EXPECT_EQ(s.licence[0].first, "general.license");
  EXPECT_NE(s.licence[0].second.find("apache-2.0"), std::string::npos);
  EXPECT_EQ(s.chat_template, "{{ messages }}");
  EXPECT_EQ(s.quantization, "F16");
  EXPECT_EQ(s.n_params, 0u);
  EXPECT_THROW(summarize_model("/nonexistent/model.gguf"), Error);
}

TEST(ModelSummary, ParamCounts) {
  EXPECT_EQ(format_param_count(0), "0");
  EXPECT_EQ(format_param_count(999), "999");
  EXPECT_EQ(format_param_count(6819072), "6.8M");
  EXPECT_EQ(format_param_count(7241732096ull), "7.2B");
}

}  // namespace
}  // namespace ternion
