// BitNet checkpoints with a quantization_config: the fixture's ternary projections packed as transformers packs
// them (offline, both linear classes) and its float weights ternarized when run (online), checked against the
// float folder's logits; and the one-line errors of malformed packed weights.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "convert/arch_folder.h"
#include "convert/hf_test_folder.h"
#include "support/test_support.h"
#include "ternion/convert/convert.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/core/fp16.h"
#include "ternion/core/thread_pool.h"
#include "ternion/io/safetensors.h"
#include "ternion/model/context.h"

namespace ternion {
namespace {

using nlohmann::json;
using test::StTensor;
namespace fs = std::filesystem;

bool is_projection(const std::string& name) {
  for (const char* p : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}) {
    if (name.find(std::string(p) + ".weight") != std::string::npos) return true;
  }
  return false;
}

uint16_t bf16_at(const SafetensorsTensor& t, size_t i) {
  uint16_t h = 0;
  std::memcpy(&h, t.data + 2 * i, 2);
  return h;
}

StTensor bf16_tensor(const std::string& name, float v) {
  const uint16_t h = fp32_to_bf16(v);
  return {name, "BF16", {1}, {static_cast<uint8_t>(h & 0xff), static_cast<uint8_t>(h >> 8)}};
}

class BitnetPacked : public test::ArchFolder {
 protected:
  // Writes the fixture with every projection packed ([rows / 4, cols] uint8, code + 1 in bits 2i of row
  // i * rows / 4 + r) and its weight_scale: the magnitude b of its values (multiplies) or bf16(1 / b) (divides).
  void pack(bool multiplies, int corrupt_code = -1) {
    const SafetensorsCheckpoint ck = SafetensorsCheckpoint::open(src_.string());
    std::vector<StTensor> out;
    for (const auto& e : ck.tensors()) {
      const SafetensorsTensor& t = *e.tensor;
      if (!is_projection(t.name)) {
        out.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.n_bytes)});
        continue;
      }
      const uint64_t rows = t.shape[0], cols = t.shape[1], packed_rows = rows / 4;
      float b = 0;
      for (size_t i = 0; i < t.n_elements && b == 0; ++i) b = std::fabs(bf16_to_fp32(bf16_at(t, i)));
      std::vector<uint8_t> packed(packed_rows * cols, 0);
      for (uint64_t r = 0; r < rows; ++r) {
        for (uint64_t k = 0; k < cols; ++k) {
          const float v = bf16_to_fp32(bf16_at(t, r * cols + k));
          const int code = v > 0 ? 2 : v < 0 ? 0 : 1;
          packed[(r % packed_rows) * cols + k] |= static_cast<uint8_t>(code << (2 * (r / packed_rows)));
        }
      }
      if (corrupt_code >= 0) packed[0] |= 3;
      out.push_back({t.name, "U8", {packed_rows, cols}, packed});
      out.push_back(bf16_tensor(t.name + "_scale", multiplies ? b : 1.0f / b));
    }
    fs::remove(dir_ / "model.safetensors");
    const auto bytes = test::safetensors_bytes(out);
    std::ofstream(dir_ / "model.safetensors", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    set_quantization(multiplies ? "autobitlinear" : "bitlinear", "offline");
  }
  void set_quantization(const std::string& linear, const std::string& mode) const {
    json c = config();
    c["quantization_config"] = {{"quant_method", "bitnet"}, {"linear_class", linear}, {"quantization_mode", mode}};
    set_config(c);
  }
  static std::vector<float> logits(const Model& m) {
    ThreadPool pool(2);
    ContextOptions o;
    o.n_ctx = 64;
    o.kv_type = DType::F32;
    InferenceContext ctx(m, o, pool);
    const json g = json::parse(std::ifstream(test::fixture("arch/bitnet.golden.json")));
    const auto ids = g["prompts"][0]["input_ids"].get<std::vector<int32_t>>();
    const auto l = ctx.decode(ids);
    return {l.begin(), l.end()};
  }
  static float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
  }
};

TEST_F(BitnetPacked, MultipliedScaleRunsAsTheFloatFolder) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/bitnet/model.safetensors"));
  copy("bitnet");
  const auto want = logits(*load_model(src_.string()));
  pack(true);
  const auto model = load_model(dir_.string());
  EXPECT_EQ(model->arch().name, "bitnet-b1.58");
  EXPECT_NE(model->weights().layers[0].wq.scale, 1.0f);
  // The codes are F16 at these widths (not whole TQ2_0 blocks), so activations are rounded to F16 (measured: 0.0073);
  // a wrong code order or scale moves logits by whole units.
  EXPECT_LT(max_diff(logits(*model), want), 2e-2f);
  // Its conversion keeps the scales as llama.cpp's `.scale` tensors and runs the same.
  const fs::path gguf = dir_ / "packed.gguf";
  convert_to_gguf(load_hf_checkpoint(dir_.string()), gguf.string(), {}, {});
  const auto converted = load_model(gguf.string());
  EXPECT_TRUE(converted->has_tensor("blk.3.ffn_down.scale"));
  EXPECT_LT(max_diff(logits(*converted), want), 2e-2f);
}

TEST_F(BitnetPacked, DividedScaleRunsAsTheFloatFolder) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/bitnet/model.safetensors"));
  copy("bitnet");
  const auto want = logits(*load_model(src_.string()));
  pack(false);
  // 1 / b stored in bf16 moves each scale by up to 2^-9 (measured: 0.054).
  EXPECT_LT(max_diff(logits(*load_model(dir_.string())), want), 0.1f);
}

TEST_F(BitnetPacked, OnlineModeTernarizesByMeanMagnitude) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/bitnet/model.safetensors"));
  copy("bitnet");
  set_quantization("autobitlinear", "online");
  const auto model = load_model(dir_.string());
  const SafetensorsCheckpoint ck = SafetensorsCheckpoint::open(src_.string());
  const SafetensorsTensor& q = *ck.find("model.layers.0.self_attn.q_proj.weight")->tensor;
  double sum = 0;
  for (size_t i = 0; i < q.n_elements; ++i) sum += std::fabs(bf16_to_fp32(bf16_at(q, i)));
  const float mean = static_cast<float>(sum / static_cast<double>(q.n_elements));
  EXPECT_NEAR(model->weights().layers[0].wq.scale, mean, mean * 4e-3f);
}

TEST_F(BitnetPacked, MalformedPackedWeightsAreOneLineErrors) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/bitnet/model.safetensors"));
  copy("bitnet");
  pack(true, 3);
  EXPECT_NE(error().find("a 2-bit code of 3"), std::string::npos) << error();
  set_quantization("autobitlinear", "sometimes");
  EXPECT_NE(error().find("quantization_mode"), std::string::npos) << error();
  json c = config();
  c["quantization_config"] = {{"quant_method", "gptq"}};
  set_config(c);
  EXPECT_NE(error().find("quantized checkpoints"), std::string::npos) << error();
}

TEST_F(BitnetPacked, HiddenActPicksTheRecord) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/bitnet/model.safetensors"));
  copy("bitnet");
  json c = config();
  c["hidden_act"] = "silu";
  set_config(c);
  EXPECT_EQ(load_model(dir_.string())->arch().name, "bitnet");
  c["hidden_act"] = "gelu";
  set_config(c);
  EXPECT_NE(error().find("hidden_act"), std::string::npos) << error();
}

}  // namespace
}  // namespace ternion
