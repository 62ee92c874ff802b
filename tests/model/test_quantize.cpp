// `quantize_model`: the mix rules give every fixture's tensor types, the files equal llama-quantize's byte for
// byte where our quantizers are exact, and every misuse is a clear error that leaves no file behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"
#include "ternion/core/thread_pool.h"
#include "ternion/io/gguf.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"
#include "ternion/model/quantize.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string scratch_prefix() { return "ternion_quantize_" + std::to_string(::getpid()) + "_"; }

fs::path scratch(const std::string& name) { return fs::temp_directory_path() / (scratch_prefix() + name); }

// This process's scratch files (the F32 models built once per process, checksum outputs) go when the tests end.
class RemoveScratch : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::temp_directory_path(), ec)) {
      if (e.path().filename().string().rfind(scratch_prefix(), 0) == 0) fs::remove(e.path(), ec);
    }
  }
};
[[maybe_unused]] ::testing::Environment* const kRemoveScratch = ::testing::AddGlobalTestEnvironment(new RemoveScratch);

nlohmann::ordered_json golden(const std::string& name) {
  std::ifstream in(test::fixture("golden/" + name + ".json"));
  return nlohmann::ordered_json::parse(in);
}

std::string sha256_of(const fs::path& p) {
  const fs::path out = scratch("sha");
  const std::string cmd = "sha256sum '" + p.string() + "' > '" + out.string() + "'";
  if (std::system(cmd.c_str()) != 0) return "";
  std::ifstream in(out);
  std::string sum;
  in >> sum;
  return sum;
}

// The float32 checkpoint as the GGUF converter lays it out: HF names mapped to GGUF names and the rows of
// attn_q / attn_k permuted from rotate-half to adjacent-pair RoPE order.
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& model) {
    in_.open(test::fixture("hf/" + model + "/model.safetensors"), std::ios::binary);
    uint64_t n = 0;
    in_.read(reinterpret_cast<char*>(&n), 8);
    std::string h(n, '\0');
    in_.read(h.data(), static_cast<std::streamsize>(n));
    header_ = json::parse(h);
    base_ = 8 + n;
  }

  std::vector<float> tensor(const std::string& gguf_name, int64_t n_head, int64_t n_head_kv) {
    const std::string hf = hf_name(gguf_name);
    const auto& t = header_.at(hf);
    const auto b = t["data_offsets"][0].get<uint64_t>(), e = t["data_offsets"][1].get<uint64_t>();
    std::vector<float> v((e - b) / 4);
    in_.seekg(static_cast<std::streamoff>(base_ + b));
    in_.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(e - b));
    const bool q = gguf_name.find("attn_q.weight") != std::string::npos;
    const bool k = gguf_name.find("attn_k.weight") != std::string::npos;
    if (q || k) {
      const auto rows = t["shape"][0].get<int64_t>(), cols = t["shape"][1].get<int64_t>();
      v = permute(v, rows, cols, q ? n_head : n_head_kv);
    }
    return v;
  }

 private:
  static std::string hf_name(const std::string& g) {
    if (g == "token_embd.weight") return "model.embed_tokens.weight";
    if (g == "output.weight") return "lm_head.weight";
    if (g == "output_norm.weight") return "model.norm.weight";
    const auto dot = g.find('.', 4);
    const std::string p = "model.layers." + g.substr(4, dot - 4) + ".";
    const std::string r = g.substr(dot + 1);
    const std::pair<const char*, const char*> names[] = {
        {"attn_norm.weight", "input_layernorm.weight"}, {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"attn_q.weight", "self_attn.q_proj.weight"},   {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_v.weight", "self_attn.v_proj.weight"},   {"attn_output.weight", "self_attn.o_proj.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"},    {"ffn_up.weight", "mlp.up_proj.weight"},
        {"ffn_down.weight", "mlp.down_proj.weight"}};
    for (const auto& [a, b] : names) {
      if (r == a) return p + b;
    }
    throw std::runtime_error("no checkpoint tensor for " + g);
  }

  // Row (h, i, j) of the [n_head][2][half] view moves to (h, j, i): halves interleaved pairwise.
  static std::vector<float> permute(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t n_head) {
    std::vector<float> out(w.size());
    const int64_t half = rows / n_head / 2;
    for (int64_t h = 0; h < n_head; ++h) {
      for (int64_t i = 0; i < 2; ++i) {
        for (int64_t j = 0; j < half; ++j) {
          const int64_t src = (h * 2 + i) * half + j;
          const int64_t dst = (h * half + j) * 2 + i;
          std::copy_n(w.begin() + src * cols, cols, out.begin() + dst * cols);
        }
      }
    }
    return out;
  }

  std::ifstream in_;
  json header_;
  uint64_t base_ = 0;
};

// <model>-F32.gguf as llama.cpp's converter wrote it (not shipped): the metadata and tensor order of
// kjv-llama-F16.gguf (kjv-trilm has the same shape, tokenizer and keys; only its name differs) with the
// checkpoint's float32 values. Built once per test process.
fs::path build_f32_model(const std::string& model) {
  const fs::path p = scratch(model + "-F32.gguf");
  const GgufFile f16 = GgufFile::open(test::fixture("gguf/kjv-llama-F16.gguf").string());
  GgufWriter w;
  for (const auto& [k, v] : f16.metadata()) w.set(k, v);
  w.set_u32("general.file_type", 0);
  if (model == "kjv-trilm") w.set_string("general.name", "Kjv Trilm");
  Checkpoint ck(model);
  const int64_t n_head = f16.get_int("llama.attention.head_count").value();
  const int64_t n_head_kv = f16.get_int("llama.attention.head_count_kv").value();
  for (const auto& t : f16.tensors()) {
    const std::vector<float> v = ck.tensor(t.name, n_head, n_head_kv);
    w.add_tensor(t.name, t.shape, DType::F32,
                 std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4));
  }
  w.write(p.string());
  return p;
}

const fs::path& f32_model() {
  static const fs::path path = build_f32_model("kjv-llama");
  return path;
}

const fs::path& trilm_f32_model() {
  static const fs::path path = build_f32_model("kjv-trilm");
  return path;
}

class QuantizeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(test::fixture("hf/kjv-llama/model.safetensors"));
    TERNION_REQUIRE_FIXTURE(test::fixture("gguf/kjv-llama-F16.gguf"));
  }
};

TEST_F(QuantizeFixture, RebuiltF32ModelsAreTheConvertersFiles) {
  EXPECT_EQ(sha256_of(f32_model()), golden("kjv-llama-F32")["sha256"].get<std::string>());
  TERNION_REQUIRE_FIXTURE(test::fixture("hf/kjv-trilm/model.safetensors"));
  EXPECT_EQ(sha256_of(trilm_f32_model()), golden("kjv-trilm-F32")["sha256"].get<std::string>());
}

// Every mix gives each tensor the type llama-quantize gave it in the fixture of that name.
TEST_F(QuantizeFixture, MixRulesReproduceFixtureTensorTypes) {
  const std::pair<const char*, const char*> cases[] = {
      {"Q8_0", "kjv-llama-Q8_0"},     {"Q6_K", "kjv-llama-Q6_K"}, {"Q5_K_M", "kjv-llama-Q5_K_M"},
      {"Q5_1", "kjv-llama-Q5_1"},     {"Q5_0", "kjv-llama-Q5_0"}, {"Q4_K_M", "kjv-llama-Q4_K_M"},
      {"Q4_1", "kjv-llama-Q4_1"},     {"Q4_0", "kjv-llama-Q4_0"}, {"IQ4_NL", "kjv-llama-IQ4_NL"},
      {"Q3_K_M", "kjv-llama-Q3_K_M"}, {"Q2_K", "kjv-llama-Q2_K"}, {"TQ2_0", "kjv-trilm-TQ2_0"},
      {"TQ1_0", "kjv-trilm-TQ1_0"},
  };
  for (const auto& [type, fixture] : cases) {
    QuantizeOptions o;
    o.file_type = type;
    const auto plan = plan_quantization(f32_model().string(), o);
    const auto expected = golden(fixture)["tensor_types"];
    ASSERT_EQ(plan.size(), expected.size()) << type;
    size_t i = 0;
    for (const auto& [name, t] : expected.items()) {
      EXPECT_EQ(plan[i].first, name) << type;
      EXPECT_EQ(std::string(dtype_info(plan[i].second).name), t.get<std::string>()) << type << " " << name;
      ++i;
    }
  }
}

// Quantizing the converter's F32 file gives llama-quantize's file, byte for byte, for every file type of the fixtures.
TEST_F(QuantizeFixture, FilesEqualLlamaQuantizeOutput) {
  TERNION_REQUIRE_FIXTURE(test::fixture("hf/kjv-trilm/model.safetensors"));
  const char* llama_types[] = {"Q8_0", "Q6_K", "Q5_K_M", "Q5_1",   "Q5_0", "Q4_K_M",
                               "Q4_1", "Q4_0", "IQ4_NL", "Q3_K_M", "Q2_K"};
  std::vector<std::pair<std::string, std::string>> cases;  // (type, fixture)
  for (const char* t : llama_types) cases.emplace_back(t, std::string("kjv-llama-") + t);
  cases.emplace_back("TQ2_0", "kjv-trilm-TQ2_0");
  cases.emplace_back("TQ1_0", "kjv-trilm-TQ1_0");
  if (test::slow_build()) cases = {cases[0], cases[5], cases[11]};  // Q8_0, Q4_K_M, TQ2_0
  for (const auto& [type, fixture] : cases) {
    QuantizeOptions o;
    o.file_type = type;
    o.n_threads = 2;
    const bool trilm = fixture.rfind("kjv-trilm", 0) == 0;
    const fs::path& in = trilm ? trilm_f32_model() : f32_model();
    const fs::path out = scratch(type + ".gguf");
    const QuantizeReport r = quantize_model(in.string(), out.string(), o);
    EXPECT_EQ(r.n_tensors, 57u);
    const GgufFile a = GgufFile::open(out.string());
    const GgufFile b = GgufFile::open(test::fixture("gguf/" + fixture + ".gguf").string());
    ASSERT_EQ(a.tensors().size(), b.tensors().size());
    size_t same = 0;
    for (size_t i = 0; i < a.tensors().size(); ++i) {
      const auto& x = a.tensors()[i];
      const auto& y = b.tensors()[i];
      ASSERT_EQ(x.name, y.name);
      ASSERT_EQ(x.type, y.type) << x.name;
      ASSERT_EQ(x.n_bytes, y.n_bytes);
      const bool eq = std::equal(x.data, x.data + x.n_bytes, y.data);
      EXPECT_TRUE(eq) << type << ": " << x.name << " differs";
      same += eq ? 1 : 0;
    }
    std::printf("%s: %zu of %zu tensors byte-identical to llama-quantize's\n", type.c_str(), same, a.tensors().size());
    EXPECT_EQ(sha256_of(out), golden(fixture)["sha256"].get<std::string>()) << type;  // the whole file
    fs::remove(out);
  }
}

TEST_F(QuantizeFixture, OutputDoesNotDependOnThreads) {
  QuantizeOptions o;
  o.file_type = "Q4_0";
  o.pure = true;
  const fs::path a = scratch("t1.gguf"), b = scratch("t3.gguf");
  o.n_threads = 1;
  const QuantizeReport r = quantize_model(f32_model().string(), a.string(), o);
  o.n_threads = 3;
  quantize_model(f32_model().string(), b.string(), o);
  EXPECT_EQ(sha256_of(a), sha256_of(b));
  EXPECT_EQ(r.n_tensors, 57u);
  EXPECT_EQ(r.n_quantized, 44u);  // every matrix; the 13 norm vectors stay F32
  EXPECT_LT(r.bytes_out * 6, r.bytes_in);
  const GgufFile f = GgufFile::open(a.string());
  EXPECT_EQ(f.get_int("general.file_type"), 2);
  EXPECT_EQ(f.metadata().back().first, "general.file_type");
  EXPECT_EQ(f.find_tensor("output.weight")->type, DType::Q4_0);  // pure: no Q6_K output
  fs::remove(a);
  fs::remove(b);
}

TEST_F(QuantizeFixture, TensorTypeRulesAndRequantizeGuard) {
  QuantizeOptions o;
  o.file_type = "Q8_0";
  o.tensor_types = {{"ffn_down", DType::F16}, {"^output\\.", DType::F32}};
  const auto plan = plan_quantization(f32_model().string(), o);
  for (const auto& [name, t] : plan) {
    DType want = DType::Q8_0;
    if (name.find("ffn_down") != std::string::npos) want = DType::F16;
    if (name == "output.weight") want = DType::F32;
    if (name.find("_norm") != std::string::npos) want = DType::F32;
    EXPECT_EQ(t, want) << name;
  }
  o.tensor_types = {{"([", DType::F16}};
  EXPECT_THROW(plan_quantization(f32_model().string(), o), Error);

  const std::string q8 = test::fixture("gguf/kjv-llama-Q8_0.gguf").string();
  QuantizeOptions r;
  r.file_type = "Q4_0";
  const fs::path out = scratch("requant.gguf");
  try {
    quantize_model(q8, out.string(), r);
    ADD_FAILURE() << "requantizing without permission succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--allow-requantize"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out));
  r.allow_requantize = true;
  r.n_threads = 2;
  quantize_model(q8, out.string(), r);
  EXPECT_EQ(GgufFile::open(out.string()).find_tensor("blk.0.ffn_up.weight")->type, DType::Q4_0);
  fs::remove(out);
}

TEST(Quantize, FileTypeNames) {
  EXPECT_EQ(quant_file_type("q4_k").name, "Q4_K_M");
  EXPECT_EQ(quant_file_type("Q5_K").ftype, 17u);
  EXPECT_EQ(quant_file_type("tq2_0").base, DType::TQ2_0);
  try {
    quant_file_type("Q9_K");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_K_M"), std::string::npos);  // lists what is known
  }
}

// A model written by the test: rows of 96 do not fit 256-blocks (fallback), NaN weights are refused.
TEST(Quantize, FallbackForShortRowsAndNonFiniteWeights) {
  const fs::path in = scratch("small.gguf");
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  std::vector<float> a(96 * 4), b(256 * 2);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i));
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(static_cast<float>(i));
  const auto bytes = [](const std::vector<float>& v) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4);
  };
  w.add_tensor("blk.0.ffn_up.weight", {96, 4}, DType::F32, bytes(a));
  w.add_tensor("blk.0.ffn_gate.weight", {256, 2}, DType::F32, bytes(b));
  w.write(in.string());

  QuantizeOptions o;
  o.file_type = "Q4_K_S";
  o.pure = true;
  const auto plan = plan_quantization(in.string(), o);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].first, "blk.0.ffn_gate.weight");
  EXPECT_EQ(plan[0].second, DType::Q4_K);
  EXPECT_EQ(plan[1].second, DType::Q5_0);  // 96 is a multiple of 32: Q4_K falls back to Q5_0

  o.file_type = "Q8_0";
  const fs::path out = scratch("small-q8.gguf");
  const QuantizeReport r = quantize_model(in.string(), out.string(), o);
  EXPECT_EQ(r.n_quantized, 2u);
  EXPECT_EQ(r.n_fallback, 0u);
  const GgufFile q = GgufFile::open(out.string());
  std::vector<float> back(a.size());
  const auto* t = q.find_tensor("blk.0.ffn_up.weight");
  dequantize_row(DType::Q8_0, t->data, back.data(), static_cast<int64_t>(back.size()));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(back[i], a[i], 1.0 / 127) << i;
  fs::remove(out);

  a[100] = std::numeric_limits<float>::quiet_NaN();
  GgufWriter bad;
  bad.set_string("general.architecture", "llama");
  bad.add_tensor("blk.0.ffn_up.weight", {96, 4}, DType::F32, bytes(a));
  bad.write(in.string());
  try {
    quantize_model(in.string(), out.string(), o);
    ADD_FAILURE() << "NaN weights were quantized";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out));
  fs::remove(in);
}

}  // namespace
}  // namespace ternion

namespace ternion {
namespace {

// I2_S from the ternary kjv-trilm: each projection's codes and its one scale give back the checkpoint's values
// exactly; the model runs close to its float32 original (activations are Q8_K, as with TQ2_0).
TEST_F(QuantizeFixture, I2SKeepsTernaryWeightsExactly) {
  TERNION_REQUIRE_FIXTURE(test::fixture("hf/kjv-trilm/model.safetensors"));
  QuantizeOptions o;
  o.file_type = "I2_S";
  const fs::path out = scratch("trilm-I2_S.gguf");
  quantize_model(trilm_f32_model().string(), out.string(), o);
  const GgufFile f32 = GgufFile::open(trilm_f32_model().string());
  const GgufFile q = GgufFile::open(out.string());
  EXPECT_EQ(q.find_tensor("token_embd.weight")->type, DType::Q4_K);
  int n_i2s = 0;
  for (const GgufTensorInfo& t : q.tensors()) {
    if (t.type != DType::I2_S) continue;
    ++n_i2s;
    const auto* ref = f32.find_tensor(t.name);
    ASSERT_NE(ref, nullptr);
    EXPECT_EQ(t.n_bytes, t.n_elements / 4 + 32) << t.name;
    float scale = 0;
    std::memcpy(&scale, t.data + t.n_elements / 4, 4);
    std::vector<float> codes(static_cast<size_t>(t.n_elements));
    dequantize_row(DType::I2_S, t.data, codes.data(), static_cast<int64_t>(t.n_elements));
    const auto* want = reinterpret_cast<const float*>(ref->data);
    for (size_t i = 0; i < codes.size(); ++i) ASSERT_EQ(codes[i] * scale, want[i]) << t.name << " " << i;
  }
  EXPECT_EQ(n_i2s, 42);
  // It runs as the TQ2_0 file does (the same codes and Q8_K activations; TQ2_0 rounds each scale to fp16).
  const auto logits = [](const fs::path& p) {
    const auto m = Model::from_gguf(p.string());
    ThreadPool pool(2);
    ContextOptions c;
    c.n_ctx = 16;
    InferenceContext ctx(*m, c, pool);
    const auto l = ctx.decode(std::vector<int32_t>{1, 450, 3186, 402});
    return std::vector<float>(l.begin(), l.end());
  };
  const auto a = logits(out), b = logits(test::fixture("gguf/kjv-trilm-TQ2_0.gguf")), f = logits(trilm_f32_model());
  float diff = 0, a_f32 = 0, b_f32 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    a_f32 = std::max(a_f32, std::fabs(a[i] - f[i]));
    b_f32 = std::max(b_f32, std::fabs(b[i] - f[i]));
  }
  std::printf("max |logit diff|: I2_S vs TQ2_0 %.4f, I2_S vs F32 %.4f, TQ2_0 vs F32 %.4f\n", static_cast<double>(diff),
              static_cast<double>(a_f32), static_cast<double>(b_f32));
  EXPECT_LT(diff, 0.2f);
  EXPECT_LT(a_f32, 1.5f * b_f32);
  fs::remove(out);
}

// --ternary-absmean: a float matrix ternarized as a whole has one magnitude, so every TQ2_0 block of it has the
// same scale, fp16(mean |W|); block by block, the scales follow each block's largest value.
TEST(Quantize, TernaryAbsmeanGivesOneScalePerMatrix) {
  const fs::path in = scratch("absmean.gguf");
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  std::vector<float> a(256 * 4);
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = std::sin(0.37f * static_cast<float>(i)) * static_cast<float>(1 + i / 256);
    sum += std::fabs(a[i]);
  }
  w.add_tensor("blk.0.ffn_up.weight", {256, 4}, DType::F32,
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size() * 4));
  w.write(in.string());
  const auto block_scales = [&](bool absmean) {
    QuantizeOptions o;
    o.file_type = "TQ2_0";
    o.ternary_absmean = absmean;
    const fs::path out = scratch(absmean ? "absmean-on.gguf" : "absmean-off.gguf");
    quantize_model(in.string(), out.string(), o);
    const GgufFile q = GgufFile::open(out.string());
    const auto* t = q.find_tensor("blk.0.ffn_up.weight");
    std::vector<uint16_t> d;
    for (int b = 0; b < 4; ++b) {
      uint16_t v = 0;
      std::memcpy(&v, t->data + 66 * b + 64, 2);
      d.push_back(v);
    }
    fs::remove(out);
    return d;
  };
  const auto on = block_scales(true);
  const float mean = static_cast<float>(sum / static_cast<double>(a.size()));
  for (const uint16_t d : on) EXPECT_EQ(d, fp32_to_fp16(mean));
  const auto off = block_scales(false);
  EXPECT_NE(off[0], off[3]);
  fs::remove(in);
}

}  // namespace
}  // namespace ternion
