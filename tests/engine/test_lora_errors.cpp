// Bad adapters and bad PEFT folders give one clear error line each: a model file given as an adapter, another
// architecture, shapes of another model, a tensor the model does not multiply by, half a pair, A not transposed,
// the token embedding; DoRA, unknown modules and a missing base for convert --lora.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/model/lora.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

struct FakeTensor {
  std::string name;
  std::vector<uint64_t> shape;
};

class LoraErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(test::fixture("hf/kjv-llama/model.safetensors"));
    model_ = load_model(test::fixture("hf/kjv-llama").string());
    tmp_ = fs::temp_directory_path() / ("ternion_lora_err_" + std::to_string(::getpid()));
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  std::string write(const std::vector<FakeTensor>& tensors, const std::string& arch = "llama",
                    const std::string& type = "adapter") {
    GgufWriter w;
    w.set_string("general.architecture", arch);
    w.set_string("general.type", type);
    w.set_string("adapter.type", "lora");
    w.set_f32("adapter.lora.alpha", 16.0f);
    for (const FakeTensor& t : tensors) {
      uint64_t n = 1;
      for (const uint64_t d : t.shape) n *= d;
      const std::vector<float> v(n, 0.01f);
      w.add_tensor(t.name, t.shape, DType::F32,
                   std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), n * sizeof(float)));
    }
    const std::string p = (tmp_ / ("a" + std::to_string(n_++) + ".gguf")).string();
    w.write(p);
    return p;
  }

  // The message of LoraAdapter::load's Error, checked to be one line.
  std::string error_of(const std::string& path) {
    try {
      LoraAdapter::load(path, *model_);
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      return m;
    }
    ADD_FAILURE() << path << " loaded";
    return "";
  }

  std::unique_ptr<Model> model_;
  fs::path tmp_;
  int n_ = 0;
};

const FakeTensor kA{"blk.0.attn_q.weight.lora_a", {256, 4}};
const FakeTensor kB{"blk.0.attn_q.weight.lora_b", {4, 256}};

TEST_F(LoraErrors, AGoodPairLoads) {
  const auto a = LoraAdapter::load(write({kA, kB}), *model_);
  ASSERT_EQ(a->matrices().size(), 1u);
  EXPECT_EQ(a->matrices()[0].rank, 4);
  EXPECT_FLOAT_EQ(a->effective_scale(a->matrices()[0], 0.5f), 2.0f);
}

TEST_F(LoraErrors, EachDefectIsNamed) {
  EXPECT_NE(error_of(write({kA, kB}, "llama", "model")).find("not a LoRA adapter"), std::string::npos);
  EXPECT_NE(error_of(write({kA, kB}, "qwen2")).find("architecture 'qwen2'"), std::string::npos);
  EXPECT_NE(error_of(write({{"blk.0.attn_q.weight.lora_a", {128, 4}}, kB})).find("another model"), std::string::npos);
  EXPECT_NE(error_of(write({{"blk.0.attn_q.weight.lora_a", {256, 4}}, {"blk.0.attn_q.weight.lora_b", {4, 200}}}))
                .find("another model"),
            std::string::npos);
  // A stored as [rank, cols] (not transposed) fits no matrix; ranks that differ are named.
  EXPECT_NE(error_of(write({{"blk.0.attn_q.weight.lora_a", {4, 256}}, {"blk.0.attn_q.weight.lora_b", {256, 4}}}))
                .find("another model"),
            std::string::npos);
  EXPECT_NE(error_of(write({{"blk.0.attn_q.weight.lora_a", {256, 4}}, {"blk.0.attn_q.weight.lora_b", {8, 256}}}))
                .find("[cols, rank]"),
            std::string::npos);
  EXPECT_NE(error_of(write({{"blk.0.foo.weight.lora_a", {256, 4}}, {"blk.0.foo.weight.lora_b", {4, 256}}}))
                .find("not a matrix"),
            std::string::npos);
  EXPECT_NE(error_of(write({{"blk.9.attn_q.weight.lora_a", {256, 4}}, {"blk.9.attn_q.weight.lora_b", {4, 256}}}))
                .find("not a matrix"),
            std::string::npos);
  EXPECT_NE(error_of(write({kA})).find("no lora_b"), std::string::npos);
  EXPECT_NE(error_of(write({kB})).find("no lora_a"), std::string::npos);
  EXPECT_NE(error_of(write({kA, kB, {"blk.0.attn_norm.weight", {256}}})).find("not a .lora_a"), std::string::npos);
  EXPECT_NE(error_of(write({{"token_embd.weight.lora_a", {4096, 4}}, {"token_embd.weight.lora_b", {4, 256}}}))
                .find("token embedding"),
            std::string::npos);
  EXPECT_NE(error_of(write({})).find("no tensors"), std::string::npos);
  // A model file is refused for what it is.
  EXPECT_NE(error_of(test::fixture("gguf/kjv-llama-Q8_0.gguf").string()).find("general.type"), std::string::npos);
}

// A PEFT folder whose config a GGUF adapter cannot express.
TEST_F(LoraErrors, PeftFoldersGGUFCannotHold) {
  const fs::path src = test::fixture("arch/lora-kjv-llama");
  TERNION_REQUIRE_FIXTURE(src / "adapter_model.safetensors");
  const fs::path dir = tmp_ / "peft";
  fs::create_directories(dir);
  fs::copy_file(src / "adapter_model.safetensors", dir / "adapter_model.safetensors");
  const auto with_config = [&](const std::string& cfg) {
    std::ofstream(dir / "adapter_config.json") << cfg;
    try {
      load_peft_adapter(dir.string(), test::fixture("hf/kjv-llama").string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  const std::string ok = R"({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "bias": "none")";
  EXPECT_EQ(with_config(ok + "}"), "loaded");
  EXPECT_NE(with_config(ok + R"(, "use_dora": true})").find("DoRA"), std::string::npos);
  EXPECT_NE(with_config(ok + R"(, "alpha_pattern": {"q_proj": 4}})").find("alpha_pattern"), std::string::npos);
  EXPECT_NE(with_config(R"({"peft_type": "IA3"})").find("'LORA'"), std::string::npos);
  // Without --base, base_model_name_or_path must be a folder here.
  std::ofstream(dir / "adapter_config.json") << ok + R"(, "base_model_name_or_path": "/nowhere/model"})";
  EXPECT_THROW(load_peft_adapter(dir.string()), Error);
  EXPECT_THROW(load_peft_adapter((tmp_ / "absent").string(), test::fixture("hf/kjv-llama").string()), Error);
}

// A PEFT safetensors file of F32 tensors (name, torch shape), for the tensor-level checks of convert --lora.
void write_safetensors(const fs::path& path, const std::vector<FakeTensor>& tensors) {
  std::string header = "{";
  uint64_t offset = 0;
  for (const FakeTensor& t : tensors) {
    uint64_t n = 4;
    for (const uint64_t d : t.shape) n *= d;
    header += (header.size() > 1 ? "," : "") + std::string("\"") + t.name + "\":{\"dtype\":\"F32\",\"shape\":[" +
              std::to_string(t.shape[0]) + "," + std::to_string(t.shape[1]) + "],\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header << std::string(offset, '\0');
}

TEST_F(LoraErrors, PeftTensorsGGUFCannotHold) {
  const fs::path dir = tmp_ / "peft-tensors";
  fs::create_directories(dir);
  std::ofstream(dir / "adapter_config.json") << R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "bias": "none"})";
  const std::string p = "base_model.model.model.layers.0.";
  const auto error_with = [&](const std::vector<FakeTensor>& tensors) {
    write_safetensors(dir / "adapter_model.safetensors", tensors);
    try {
      load_peft_adapter(dir.string(), test::fixture("hf/kjv-llama").string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  const FakeTensor a{p + "self_attn.q_proj.lora_A.weight", {4, 256}};
  const FakeTensor b{p + "self_attn.q_proj.lora_B.weight", {256, 4}};
  EXPECT_EQ(error_with({a, b}), "loaded");
  EXPECT_NE(error_with({a}).find("only one of"), std::string::npos);
  EXPECT_NE(error_with({a, {p + "self_attn.q_proj.lora_B.weight", {256, 2}}}).find("different ranks"),
            std::string::npos);
  EXPECT_NE(error_with({a, {p + "self_attn.q_proj.lora_B.weight", {128, 4}}}).find("does not fit"), std::string::npos);
  EXPECT_NE(error_with({{p + "self_attn.rotary.lora_A.weight", {4, 256}}}).find("not a matrix"), std::string::npos);
  EXPECT_NE(error_with({{"base_model.model.model.embed_tokens.lora_embedding_A", {4, 4096}}}).find("embedding"),
            std::string::npos);
  EXPECT_NE(error_with({{p + "self_attn.q_proj.base_layer.weight", {256, 256}}}).find("not a LoRA"), std::string::npos);
}

TEST_F(LoraErrors, PeftOptionsAreRefusedOrConverted) {
  const fs::path src = test::fixture("arch/lora-kjv-llama");
  TERNION_REQUIRE_FIXTURE(src / "adapter_model.safetensors");
  const fs::path dir = tmp_ / "peft-options";
  fs::create_directories(dir);
  fs::copy_file(src / "adapter_model.safetensors", dir / "adapter_model.safetensors");
  const auto load = [&](const std::string& extra) {
    std::ofstream(dir / "adapter_config.json") << R"({"peft_type": "LORA", "r": 8, "lora_alpha": 16)" + extra + "}";
    return load_peft_adapter(dir.string(), test::fixture("hf/kjv-llama").string());
  };
  for (const char* bad : {R"(, "bias": "all")", R"(, "bias": "none", "fan_in_fan_out": true)",
                          R"(, "bias": "none", "modules_to_save": ["lm_head"])", R"(, "bias": "none", "r": 0)"}) {
    EXPECT_THROW(load(bad), Error) << bad;
  }
  // rsLoRA's alpha / sqrt(r) is written as the alpha that gives it: 16 * sqrt(8).
  const ModelSource rs = load(R"(, "bias": "none", "use_rslora": true)");
  EXPECT_NEAR(rs.metadata.find("adapter.lora.alpha")->as_double(), 16.0 * std::sqrt(8.0), 1e-4);
}

TEST_F(LoraErrors, ExportRefusesWhatItCannotWrite) {
  const std::string adapter = write({kA, kB});
  const std::string out = (tmp_ / "out.gguf").string();
  const std::string base = test::fixture("gguf/kjv-llama-Q8_0.gguf").string();
  EXPECT_THROW(export_lora(base, {}, out), Error);
  const std::pair<std::string, float> files[] = {{adapter, 1.0f}};
  EXPECT_THROW(export_lora(base, files, out, DType::IQ2_XXS), Error);
  EXPECT_THROW(export_lora(base, files, adapter), Error);  // the output is an input
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ternion
