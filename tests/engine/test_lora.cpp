// LoRA adapters against PEFT itself (fixtures/arch/lora-kjv-llama: rank 8, alpha 16, all seven projections of
// hf/kjv-llama, with PEFT's greedy tokens and last-position logits, float32 on the CPU): applied at run time and
// merged by export-lora, on the HF folder and on its GGUF conversions; the scale, several adapters at once, thread
// and batch invariance, the converter's output and clear errors for bad files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/convert/convert.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/core/thread_pool.h"
#include "ternion/io/gguf.h"
#include "ternion/io/safetensors.h"
#include "ternion/model/context.h"
#include "ternion/model/lora.h"
#include "ternion/model/quantize.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path adapter_dir() { return test::fixture("arch/lora-kjv-llama"); }
fs::path base_dir() { return test::fixture("hf/kjv-llama"); }

int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Greedy tokens after the prompt, and the prompt's last logits.
std::vector<int32_t> greedy(InferenceContext& ctx, const std::vector<int32_t>& prompt, size_t n,
                            std::vector<float>& first) {
  ctx.clear();
  auto logits = ctx.decode(prompt);
  first.assign(logits.begin(), logits.end());
  std::vector<int32_t> out;
  while (out.size() < n) {
    out.push_back(argmax(logits));
    if (out.size() < n) logits = ctx.decode(std::span<const int32_t>(&out.back(), 1));
  }
  return out;
}

class Lora : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(adapter_dir() / "adapter_model.safetensors") || !fs::exists(base_dir() / "model.safetensors")) {
      TERNION_REQUIRE_FIXTURE(adapter_dir() / "adapter_model.safetensors");
      TERNION_REQUIRE_FIXTURE(base_dir() / "model.safetensors");
    }
    tmp_ = fs::temp_directory_path() / ("ternion_lora_" + std::to_string(::getpid()));
    fs::create_directories(tmp_);
    std::ifstream in(adapter_dir() / "golden.json");
    golden_ = json::parse(in);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // The fixture adapter as a GGUF file (once per test).
  std::string adapter_gguf() {
    const fs::path p = tmp_ / "adapter.gguf";
    if (!fs::exists(p)) {
      ConvertOptions o;
      o.type = DType::F32;
      convert_to_gguf(load_peft_adapter(adapter_dir().string(), base_dir().string()), p.string(), o);
    }
    return p.string();
  }
  std::string base_gguf(DType type) {
    const fs::path p = tmp_ / ("base-" + std::string(dtype_info(type).name) + ".gguf");
    if (!fs::exists(p)) {
      ConvertOptions o;
      o.type = type;
      convert_to_gguf(load_hf_checkpoint(base_dir().string()), p.string(), o);
    }
    return p.string();
  }

  // Every golden prompt: last logits within `tol`, greedy tokens (`key`) equal up to the first near tie.
  void check(const Model& model, std::vector<LoraUse> lora, const std::string& what, const char* key = "greedy_tokens",
             float tol = 1e-2f) {
    ThreadPool pool(2);
    ContextOptions copt;
    copt.n_ctx = 64;
    copt.kv_type = DType::F32;
    copt.lora = std::move(lora);
    InferenceContext ctx(model, copt, pool);
    for (const json& p : golden_["prompts"]) {
      const auto ids = p["input_ids"].get<std::vector<int32_t>>();
      const auto want = p[key].get<std::vector<int32_t>>();
      const auto margins = p["greedy_margins"].get<std::vector<double>>();
      std::vector<float> logits;
      const auto got = greedy(ctx, ids, want.size(), logits);
      const auto want_logits = p["last_logits"].get<std::vector<float>>();
      ASSERT_EQ(logits.size(), want_logits.size());
      float diff = 0;
      for (size_t i = 0; i < logits.size(); ++i) diff = std::max(diff, std::abs(logits[i] - want_logits[i]));
      EXPECT_LT(diff, tol) << what;
      std::printf("%s: max |logit - PEFT| = %.5f\n", what.c_str(), static_cast<double>(diff));
      for (size_t i = 0; i < want.size(); ++i) {
        if (margins[i] < std::max(1e-2, 2.0 * tol)) break;  // a near tie may go either way
        ASSERT_EQ(got[i], want[i]) << what << ": greedy step " << i;
      }
    }
  }

  std::vector<float> last_logits(const Model& model, std::vector<LoraUse> lora, int threads = 2) {
    ThreadPool pool(threads);
    ContextOptions copt;
    copt.n_ctx = 64;
    copt.lora = std::move(lora);
    InferenceContext ctx(model, copt, pool);
    const auto ids = golden_["prompts"][0]["input_ids"].get<std::vector<int32_t>>();
    const auto l = ctx.decode(ids);
    return {l.begin(), l.end()};
  }

  fs::path tmp_;
  json golden_;
};

TEST_F(Lora, RunTimeMatchesPeftOnTheFolder) {
  const auto model = load_model(base_dir().string());
  check(*model, {{LoraAdapter::load(adapter_gguf(), *model), 1.0f}}, "folder + adapter");
}

// The GGUF base pairs Q/K rows as llama.cpp does: the adapter's B rows must be permuted the same way.
TEST_F(Lora, RunTimeMatchesPeftOnGgufConversions) {
  for (const DType type : {DType::F32, DType::F16}) {
    const auto model = load_model(base_gguf(type));
    check(*model, {{LoraAdapter::load(adapter_gguf(), *model), 1.0f}},
          std::string(dtype_info(type).name) + " GGUF + adapter");
  }
}

TEST_F(Lora, MergedMatchesPeft) {
  for (const DType type : {DType::F32, DType::F16}) {
    const std::string out = (tmp_ / ("merged-" + std::string(dtype_info(type).name) + ".gguf")).string();
    const std::pair<std::string, float> files[] = {{adapter_gguf(), 1.0f}};
    const ExportLoraReport r = export_lora(base_gguf(type), files, out);
    EXPECT_EQ(r.n_merged, 6u * 7u);
    const auto merged = load_model(out);
    EXPECT_EQ(merged->gguf().find_tensor("blk.0.attn_q.weight")->type, type);
    check(*merged, {}, "merged " + std::string(dtype_info(type).name), "merged_greedy_tokens");
  }
}

// A quantized base is dequantized and merged into F16 (or --type), and the result quantizes as any model.
TEST_F(Lora, QuantizedBaseMergesToF16ThenQuantizes) {
  const std::string merged = (tmp_ / "merged-q8.gguf").string();
  const std::pair<std::string, float> files[] = {{adapter_gguf(), 1.0f}};
  export_lora(base_gguf(DType::Q8_0), files, merged);
  const GgufFile f = GgufFile::open(merged);
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, DType::F16);
  EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->type, DType::F32);
  const std::string q = (tmp_ / "merged-q8-q8.gguf").string();
  QuantizeOptions qo;
  qo.file_type = "Q8_0";
  quantize_model(merged, q, qo);
  const auto model = load_model(q);
  std::vector<float> logits;
  ThreadPool pool(2);
  ContextOptions copt;
  copt.n_ctx = 32;
  InferenceContext ctx(*model, copt, pool);
  const json& p = golden_["prompts"][0];
  const auto tokens = greedy(ctx, p["input_ids"].get<std::vector<int32_t>>(), 1, logits);
  EXPECT_EQ(tokens[0], p["greedy_tokens"][0].get<int32_t>());  // margin 0.49: Q8_0 keeps it

  const std::string as_q8 = (tmp_ / "merged-type-q8.gguf").string();
  export_lora(base_gguf(DType::F32), files, as_q8, DType::Q8_0);
  EXPECT_EQ(GgufFile::open(as_q8).find_tensor("blk.3.ffn_down.weight")->type, DType::Q8_0);
}

TEST_F(Lora, ScaleZeroIsTheBaseExactly) {
  const auto model = load_model(base_gguf(DType::F16));
  const auto adapter = LoraAdapter::load(adapter_gguf(), *model);
  EXPECT_EQ(last_logits(*model, {{adapter, 0.0f}}), last_logits(*model, {}));
  EXPECT_NE(last_logits(*model, {{adapter, 0.5f}}), last_logits(*model, {}));
}

// Two adapters at once are their sum: the adapter at +1 and -1 is the base; at 0.5 twice, the adapter at 1.
TEST_F(Lora, SeveralAdaptersAdd) {
  const auto model = load_model(base_gguf(DType::F32));
  const auto adapter = LoraAdapter::load(adapter_gguf(), *model);
  const auto near = [](const std::vector<float>& a, const std::vector<float>& b, float tol) {
    float d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
    std::printf("max |difference| = %g\n", static_cast<double>(d));
    return d < tol;
  };
  // Float rounding (summed in another order, through the F16 KV cache) moves logits by < 1e-3; the adapter itself
  // moves them by whole units.
  const auto base = last_logits(*model, {});
  EXPECT_TRUE(near(last_logits(*model, {{adapter, 1.0f}, {adapter, -1.0f}}), base, 2e-3f));
  EXPECT_FALSE(near(last_logits(*model, {{adapter, 1.0f}}), base, 0.5f));
  EXPECT_TRUE(
      near(last_logits(*model, {{adapter, 0.5f}, {adapter, 0.5f}}), last_logits(*model, {{adapter, 1.0f}}), 2e-3f));
  // Merging both equals applying both.
  const std::string out = (tmp_ / "merged-two.gguf").string();
  const std::pair<std::string, float> files[] = {{adapter_gguf(), 0.25f}, {adapter_gguf(), 0.5f}};
  export_lora(base_gguf(DType::F32), files, out);
  const auto merged = load_model(out);
  EXPECT_TRUE(near(last_logits(*merged, {}), last_logits(*model, {{adapter, 0.75f}}), 2e-3f));
}

// The adapter's terms keep the engine's guarantee: the same bits for any thread count and batch composition.
TEST_F(Lora, SameBitsForAnyThreadCountAndBatch) {
  const auto model = load_model(base_gguf(DType::F16));
  const std::vector<LoraUse> lora = {{LoraAdapter::load(adapter_gguf(), *model), 1.0f}};
  const auto one = last_logits(*model, lora, 1);
  EXPECT_EQ(last_logits(*model, lora, 3), one);
  ThreadPool pool(2);
  ContextOptions copt;
  copt.n_ctx = 64;
  copt.n_seq = 2;
  copt.lora = lora;
  InferenceContext ctx(*model, copt, pool);
  const auto ids = golden_["prompts"][0]["input_ids"].get<std::vector<int32_t>>();
  const auto other = golden_["prompts"][1]["input_ids"].get<std::vector<int32_t>>();
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < ids.size(); ++i) batch.push_back({ids[i], 0, static_cast<int64_t>(i), i + 1 == ids.size()});
  for (size_t i = 0; i < other.size(); ++i) batch.push_back({other[i], 1, static_cast<int64_t>(i), false});
  const auto l = ctx.decode_batch(batch);
  EXPECT_EQ(std::vector<float>(l.begin(), l.end()), one);
}

// Slots with scales of their own share a batch: each slot's logits are the bits of a context whose options carry
// that scale (0: the base's exactly), whatever the other slot runs.
TEST_F(Lora, PerSlotScalesInOneBatch) {
  const auto model = load_model(base_gguf(DType::F16));
  const auto adapter = LoraAdapter::load(adapter_gguf(), *model);
  const auto base = last_logits(*model, {});
  const auto half = last_logits(*model, {{adapter, 0.5f}});
  const auto full = last_logits(*model, {{adapter, 1.0f}});
  ThreadPool pool(2);
  ContextOptions copt;
  copt.n_ctx = 64;
  copt.n_seq = 3;
  copt.lora = {{adapter, 1.0f}};
  InferenceContext ctx(*model, copt, pool);
  ctx.set_lora_scales(0, {0.0f});
  ctx.set_lora_scales(1, {0.5f});
  // Slot 2 keeps the options' scale.
  const auto ids = golden_["prompts"][0]["input_ids"].get<std::vector<int32_t>>();
  std::vector<BatchToken> batch;
  for (int32_t slot = 0; slot < 3; ++slot) {
    for (size_t i = 0; i < ids.size(); ++i)
      batch.push_back({ids[i], slot, static_cast<int64_t>(i), i + 1 == ids.size()});
  }
  const auto l = ctx.decode_batch(batch);
  const size_t nv = base.size();
  ASSERT_EQ(l.size(), 3 * nv);
  EXPECT_EQ(std::vector<float>(l.begin(), l.begin() + nv), base);
  EXPECT_EQ(std::vector<float>(l.begin() + nv, l.begin() + 2 * nv), half);
  EXPECT_EQ(std::vector<float>(l.begin() + 2 * nv, l.end()), full);
  EXPECT_THROW(ctx.set_lora_scales(0, {1.0f, 2.0f}), Error);
  EXPECT_THROW(ctx.set_lora_scales(3, {}), Error);
}

// What convert --lora writes: llama.cpp's keys, A as PEFT stores it, B with Q/K rows permuted as the base's.
TEST_F(Lora, ConvertWritesLlamaCppsAdapterLayout) {
  const GgufFile f = GgufFile::open(adapter_gguf());
  EXPECT_EQ(f.get_string("general.type"), "adapter");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("adapter.type"), "lora");
  EXPECT_EQ(f.get_float("adapter.lora.alpha"), 16.0);
  EXPECT_EQ(f.tensors().size(), 6u * 7u * 2u);
  const GgufTensorInfo* a = f.find_tensor("blk.0.attn_q.weight.lora_a");
  const GgufTensorInfo* b = f.find_tensor("blk.0.ffn_down.weight.lora_b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{256, 8}));
  EXPECT_EQ(b->shape, (std::vector<uint64_t>{8, 256}));
  const SafetensorsFile st = SafetensorsFile::open((adapter_dir() / "adapter_model.safetensors").string());
  const auto* pa = st.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  const auto* pb = st.find("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
  ASSERT_TRUE(pa != nullptr && pb != nullptr);
  EXPECT_TRUE(std::equal(a->data, a->data + a->n_bytes, pa->data));
  EXPECT_TRUE(std::equal(b->data, b->data + b->n_bytes, pb->data));
  const auto model = load_model(base_gguf(DType::F16));
  const auto adapter = LoraAdapter::load(adapter_gguf(), *model);
  EXPECT_EQ(adapter->matrices().size(), 42u);
  EXPECT_FLOAT_EQ(adapter->effective_scale(adapter->matrices()[0], 1.0f), 2.0f);
}

// Phi-3 stores Q, K, V in one attn_qkv and the gate's rows then up's in ffn_up: an adapter of a fused tensor is split
// by B's rows at run time as the weight is, and merged into the tensor whole; both must agree.
TEST(LoraFused, RunTimeSplitEqualsMergeOnPhi3) {
  const fs::path dir = test::fixture("arch/phi3");
  TERNION_REQUIRE_FIXTURE(dir / "model.safetensors");
  const fs::path tmp = fs::temp_directory_path() / ("ternion_lora_phi3_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const std::string base = (tmp / "base.gguf").string();
  ConvertOptions o;
  o.type = DType::F32;
  convert_to_gguf(load_hf_checkpoint(dir.string()), base, o);
  const auto model = load_model(base);
  const HParams& hp = model->hparams();
  ASSERT_NE(model->gguf().find_tensor("blk.0.attn_qkv.weight"), nullptr);
  GgufWriter w;
  w.set_string("general.architecture", "phi3");
  w.set_string("general.type", "adapter");
  w.set_string("adapter.type", "lora");
  w.set_f32("adapter.lora.alpha", 8.0f);
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 0.05f);
  const auto add = [&](const std::string& name, uint64_t cols, uint64_t rows) {
    for (const auto& [suffix, shape] :
         {std::pair<std::string, std::vector<uint64_t>>{".lora_a", {cols, 4}}, {".lora_b", {4, rows}}}) {
      std::vector<float> v(shape[0] * shape[1]);
      for (float& x : v) x = d(rng);
      w.add_tensor(name + suffix, shape, DType::F32,
                   std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4));
    }
  };
  const auto n_embd = static_cast<uint64_t>(hp.n_embd);
  add("blk.1.attn_qkv.weight", n_embd, static_cast<uint64_t>(hp.q_dim() + 2 * hp.kv_dim()));
  add("blk.2.ffn_up.weight", n_embd, static_cast<uint64_t>(2 * hp.n_ff));
  add("blk.3.ffn_down.weight", static_cast<uint64_t>(hp.n_ff), n_embd);
  const std::string adapter = (tmp / "adapter.gguf").string();
  w.write(adapter);
  const std::string merged = (tmp / "merged.gguf").string();
  const std::pair<std::string, float> files[] = {{adapter, 1.5f}};
  EXPECT_EQ(export_lora(base, files, merged).n_merged, 3u);
  const auto merged_model = load_model(merged);

  const auto logits = [](const Model& m, std::vector<LoraUse> lora) {
    ThreadPool pool(2);
    ContextOptions copt;
    copt.n_ctx = 32;
    copt.kv_type = DType::F32;
    copt.lora = std::move(lora);
    InferenceContext ctx(m, copt, pool);
    const std::vector<int32_t> ids = {1, 50, 300, 7, 2000, 42};
    const auto l = ctx.decode(ids);
    return std::vector<float>(l.begin(), l.end());
  };
  const auto plain = logits(*model, {});
  const auto adapted = logits(*model, {{LoraAdapter::load(adapter, *model), 1.5f}});
  const auto from_merge = logits(*merged_model, {});
  float diff = 0, moved = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    diff = std::max(diff, std::abs(adapted[i] - from_merge[i]));
    moved = std::max(moved, std::abs(adapted[i] - plain[i]));
  }
  EXPECT_LT(diff, 1e-3f);
  EXPECT_GT(moved, 1e-2f);  // the adapter does change the outputs
  std::printf("phi3 fused: run time vs merged %g, adapter moved logits by %g\n", static_cast<double>(diff),
              static_cast<double>(moved));
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace ternion
