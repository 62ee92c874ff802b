// HuggingFace folders as models: tiny random checkpoints written here run like the same weights in GGUF (and like the
// double-precision reference), the tokenizer files become llama.cpp's tokenizer metadata, and every defect of a
// folder is one clear line naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "convert/hf_config.h"
#include "convert/hf_naming.h"
#include "convert/hf_test_folder.h"
#include "convert/hf_vocab.h"
#include "model/tiny_model.h"
#include "support/test_support.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"
#include "ternion/tokenizer/sentencepiece_model.h"

namespace ternion {
namespace {

using test::TinyModel;
using test::TinySpec;
namespace fs = std::filesystem;

std::vector<float> logits_of(const Model& model, const std::vector<int32_t>& tokens) {
  ThreadPool pool(2);
  ContextOptions c;
  c.n_ctx = 32;
  InferenceContext ctx(model, c, pool);
  const auto l = ctx.decode(tokens);
  return {l.begin(), l.end()};
}

// Writes `spec`'s TinyModel as GGUF and as a HF folder in `dtype`; the folder's logits must match the reference
// within `tolerance` (relative to the largest logit) and the GGUF model's closely.
void expect_folder_matches(const TinySpec& spec, const std::string& name, const std::string& dtype, double tolerance) {
  const TinyModel tm(spec);
  const auto gguf_path = tm.write(name + ".gguf");
  const GgufFile gguf = GgufFile::open(gguf_path.string());
  const fs::path dir = test::scratch(name);
  test::write_hf_folder(dir, gguf, spec, dtype);

  const auto model = load_model(dir.string());
  EXPECT_EQ(model->hparams().rope_kind, RopeKind::NeoX);
  EXPECT_EQ(model->hparams().n_vocab, spec.n_vocab);
  EXPECT_EQ(model->weights().tied_output, spec.tied);
  EXPECT_EQ(model->arch().name, spec.arch);
  const std::vector<int32_t> tokens = {3, 17, 5, 40, 11, 0, 47, 22, 9};
  const auto logits = logits_of(*model, tokens);
  const auto ref = tm.reference_logits(tokens);
  const auto from_gguf = logits_of(*load_model(gguf_path.string()), tokens);
  ASSERT_EQ(logits.size(), ref.size());
  double max_ref = 0, max_diff = 0, max_gguf_diff = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(ref[i]));
    max_diff = std::max(max_diff, std::abs(logits[i] - ref[i]));
    max_gguf_diff = std::max(max_gguf_diff, static_cast<double>(std::abs(logits[i] - from_gguf[i])));
  }
  EXPECT_LT(max_diff, tolerance * max_ref) << name << ": max diff " << max_diff << " of " << max_ref;
  if (dtype == "F32") {
    // Same weights; only the order of the additions inside each attention dot differs.
    EXPECT_LT(max_gguf_diff, 1e-4 * max_ref) << name;
  }
  fs::remove_all(dir);
  fs::remove(gguf_path);
}

TEST(HfCheckpoint, LlamaFolderRunsLikeItsGguf) { expect_folder_matches(TinySpec{}, "hf_llama", "F32", 1e-2); }

TEST(HfCheckpoint, Qwen2FolderWithBiasesAndTiedOutputInF16) {
  TinySpec s;
  s.arch = "qwen2";
  s.biases = true;
  s.tied = true;
  s.neox = true;
  expect_folder_matches(s, "hf_qwen2", "F16", 2e-2);
}

TEST(HfCheckpoint, Bf16WeightsRunInPlace) { expect_folder_matches(TinySpec{}, "hf_bf16", "BF16", 5e-2); }

TEST(HfCheckpoint, MetadataIsWhatTheConverterWrites) {
  const TinyModel tm(TinySpec{});
  const auto gguf_path = tm.write("hf_meta.gguf");
  const fs::path dir = test::scratch("meta") / "Tiny-Llama-v0.1";
  test::write_hf_folder(dir, GgufFile::open(gguf_path.string()), TinySpec{});
  const ModelSource src = load_hf_checkpoint(dir.string());
  std::vector<std::string> keys;
  for (const auto& entry : src.metadata.entries()) keys.push_back(entry.first);
  const std::vector<std::string> expected = {"general.architecture",
                                             "general.type",
                                             "general.name",
                                             "general.version",
                                             "general.basename",
                                             "general.size_label",
                                             "llama.block_count",
                                             "llama.context_length",
                                             "llama.embedding_length",
                                             "llama.feed_forward_length",
                                             "llama.attention.head_count",
                                             "llama.attention.head_count_kv",
                                             "llama.rope.freq_base",
                                             "llama.attention.layer_norm_rms_epsilon",
                                             "general.file_type",
                                             "llama.vocab_size",
                                             "llama.rope.dimension_count",
                                             "tokenizer.ggml.model",
                                             "tokenizer.ggml.pre",
                                             "tokenizer.ggml.tokens",
                                             "tokenizer.ggml.scores",
                                             "tokenizer.ggml.token_type",
                                             "tokenizer.ggml.bos_token_id",
                                             "tokenizer.ggml.eos_token_id",
                                             "general.quantization_version"};
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(src.metadata.find("general.name")->as_string(), "Tiny Llama v0.1");
  EXPECT_EQ(src.metadata.find("general.basename")->as_string(), "Tiny-Llama");
  EXPECT_EQ(src.metadata.find("general.version")->as_string(), "v0.1");
  EXPECT_EQ(src.metadata.find("general.file_type")->as_uint(), 0u);
  // Tensors in the checkpoint's name order, under GGUF names; Q/K marked for the llama permutation.
  EXPECT_EQ(src.tensors.front().name, "output.weight");
  EXPECT_EQ(src.tensors.back().name, "output_norm.weight");
  EXPECT_EQ(src.find("blk.1.attn_q.weight")->rope_permute_heads, 4);
  EXPECT_EQ(src.find("blk.1.attn_k.weight")->rope_permute_heads, 2);
  EXPECT_EQ(src.find("blk.1.attn_v.weight")->rope_permute_heads, 0);
  EXPECT_EQ(src.find("blk.0.ffn_down.weight")->shape, (std::vector<uint64_t>{40, 32}));
  fs::remove_all(dir.parent_path());
  fs::remove(gguf_path);
}

TEST(HfCheckpoint, FixtureTokenizerModelGivesTheGgufVocabulary) {
  const auto dir = test::fixture("hf/kjv-llama");
  const auto gguf_path = test::fixture("gguf/kjv-llama-F16.gguf");
  TERNION_REQUIRE_FIXTURE(gguf_path);
  TERNION_REQUIRE_FIXTURE(dir / "tokenizer.model");
  const SentencePieceModel spm = load_sentencepiece_model((dir / "tokenizer.model").string());
  EXPECT_EQ(spm.pieces.size(), 4096u);
  EXPECT_EQ(spm.model_type, SentencePieceModel::Type::Bpe);
  EXPECT_TRUE(spm.byte_fallback);
  EXPECT_EQ(spm.pieces[0].type, TokenType::Unknown);
  EXPECT_EQ(spm.pieces[3].text, "<0x00>");
  EXPECT_EQ(spm.pieces[3].type, TokenType::Byte);

  const HfConfig config = read_hf_config(dir.string());
  GgufMetadata m;
  std::string blocker;
  EXPECT_FALSE(add_hf_tokenizer_metadata(dir.string(), config, m, blocker).has_value());
  const GgufFile gguf = GgufFile::open(gguf_path.string());
  size_t compared = 0;
  for (const auto& [key, value] : gguf.metadata()) {
    if (!key.starts_with("tokenizer.")) continue;
    const GgufValue* ours = m.find(key);
    ASSERT_NE(ours, nullptr) << key;
    EXPECT_EQ(ours->to_display_string(100000), value.to_display_string(100000)) << key;
    ++compared;
  }
  EXPECT_EQ(compared, m.entries().size());
}

TEST(HfCheckpoint, FixtureQwen2TokenizerJsonGivesTheGgufVocabulary) {
  const auto dir = test::fixture("hf/kjv-qwen2");
  const auto gguf_path = test::fixture("gguf/kjv-qwen2-F16.gguf");
  TERNION_REQUIRE_FIXTURE(gguf_path);
  TERNION_REQUIRE_FIXTURE(dir / "tokenizer.json");
  const HfConfig config = read_hf_config(dir.string());
  EXPECT_EQ(config.arch, "qwen2");
  GgufMetadata m;
  std::string blocker;
  const std::optional<Vocab> vocab = add_hf_tokenizer_metadata(dir.string(), config, m, blocker);
  EXPECT_TRUE(blocker.empty()) << blocker;
  ASSERT_TRUE(vocab.has_value());
  EXPECT_EQ(vocab->tokens.size(), 4096u);
  const GgufFile gguf = GgufFile::open(gguf_path.string());
  std::vector<std::string> gguf_keys, our_keys;
  for (const auto& [key, value] : gguf.metadata()) {
    if (!key.starts_with("tokenizer.")) continue;
    gguf_keys.push_back(key);
    const GgufValue* ours = m.find(key);
    ASSERT_NE(ours, nullptr) << key;
    EXPECT_EQ(ours->to_display_string(100000), value.to_display_string(100000)) << key;
  }
  for (const auto& entry : m.entries()) our_keys.push_back(entry.first);
  EXPECT_EQ(our_keys, gguf_keys);  // same keys, same order
}

TEST(HfNaming, FollowsTheConvertersHeuristics) {
  EXPECT_EQ(parameter_size_label(6'819'072), "6.8M");
  const HfNaming a = hf_naming("/x/kjv-llama", std::nullopt, 6'819'072);
  EXPECT_EQ(a.name, "Kjv Llama");
  EXPECT_FALSE(a.basename.has_value());  // too ambiguous: no size, fine-tune or version
  EXPECT_EQ(a.size_label, "6.8M");
  const HfNaming b = hf_naming("/x/whatever/", std::string("meta-llama/Llama-2-7b-chat-hf"), 6'738'415'616);
  EXPECT_EQ(b.name, "Llama 2 7b Chat Hf");
  EXPECT_EQ(b.organization, "Meta Llama");
  EXPECT_EQ(b.basename, "Llama-2");
  EXPECT_EQ(b.size_label, "7B");
  EXPECT_EQ(b.finetune, "chat-hf");
  EXPECT_FALSE(b.version.has_value());
  const HfNaming c = hf_naming("Mistral-7B-Instruct-v0.3", std::nullopt, 7'248'023'552);
  EXPECT_EQ(c.name, "Mistral 7B Instruct v0.3");
  EXPECT_EQ(c.basename, "Mistral");
  EXPECT_EQ(c.finetune, "Instruct");
  EXPECT_EQ(c.version, "v0.3");
  EXPECT_EQ(c.size_label, "7B");
  // A size far from the real count is a context length, so a fine-tune.
  const HfNaming d = hf_naming("Tiny-32k", std::nullopt, 1'000'000);
  EXPECT_EQ(d.finetune, "32k");
  EXPECT_EQ(d.size_label, "1000K");
  EXPECT_EQ(parameter_size_label(135'000'000), "135M");
  EXPECT_EQ(parameter_size_label(1'235'814'400), "1.2B");
  EXPECT_EQ(parameter_size_label(999), "1.0K");
}

// ---- errors: one line, naming the file and what is wrong ----

class HfFolderErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    gguf_path_ = tm_.write(std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".gguf");
    test::write_hf_folder(dir_, GgufFile::open(gguf_path_.string()), TinySpec{});
  }
  void TearDown() override {
    fs::remove_all(dir_);
    fs::remove(gguf_path_);
  }

  std::string error() const {
    try {
      load_model(dir_.string());
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      return msg;
    }
    return "(loaded)";
  }
  nlohmann::json config() const { return nlohmann::json::parse(test::slurp_text(dir_ / "config.json")); }
  void set_config(const nlohmann::json& j) const { test::write_text(dir_ / "config.json", j.dump()); }
  // Rewrites model.safetensors with `edit` applied to its tensors.
  template <typename Edit>
  void edit_weights(Edit edit, bool odd = false) const {
    const GgufFile gguf = GgufFile::open(gguf_path_.string());
    std::vector<test::StTensor> tensors;
    for (const GgufTensorInfo& t : gguf.tensors()) {
      test::StTensor st{test::hf_name(t.name), "F32", {t.shape.rbegin(), t.shape.rend()}, {t.data, t.data + t.n_bytes}};
      tensors.push_back(std::move(st));
    }
    edit(tensors);
    const auto bytes = test::safetensors_bytes(tensors, {{"format", "pt"}}, odd);
    test::write_bytes(dir_ / "model.safetensors", bytes.data(), bytes.size());
  }

  TinyModel tm_{TinySpec{}};
  fs::path dir_, gguf_path_;
};

TEST_F(HfFolderErrors, UnsupportedArchitectureIsNamed) {
  auto j = config();
  j["architectures"] = {"GPT2LMHeadModel"};
  set_config(j);
  const std::string e = error();
  EXPECT_NE(e.find("config.json: unsupported architecture 'GPT2LMHeadModel'"), std::string::npos) << e;
  EXPECT_NE(e.find("LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM"), std::string::npos)
      << e;
}

TEST_F(HfFolderErrors, MissingFilesAreNamed) {
  fs::remove(dir_ / "tokenizer.model");
  EXPECT_NE(error().find("missing tokenizer.model or tokenizer.json"), std::string::npos) << error();
  fs::remove(dir_ / "model.safetensors");
  EXPECT_NE(error().find("missing model.safetensors"), std::string::npos) << error();
  fs::remove(dir_ / "config.json");
  EXPECT_NE(error().find("a folder without config.json"), std::string::npos) << error();
  EXPECT_THROW(load_hf_checkpoint(dir_.string()), Error);
  try {
    load_hf_checkpoint(dir_.string());
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json: missing"), std::string::npos) << e.what();
  }
}

TEST_F(HfFolderErrors, MismatchedShapeSaysTensorExpectedAndFound) {
  edit_weights([](std::vector<test::StTensor>& t) {
    for (auto& st : t) {
      if (st.name == "model.layers.1.mlp.up_proj.weight") {
        st.shape = {20, 32};
        st.data.resize(20 * 32 * 4);
      }
    }
  });
  const std::string e = error();
  EXPECT_NE(
      e.find("model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight' has shape [20, 32], expected [40, 32]"),
      std::string::npos)
      << e;
}

TEST_F(HfFolderErrors, ConfigThatDisagreesWithTheWeights) {
  auto j = config();
  j["intermediate_size"] = 48;
  set_config(j);
  const std::string e = error();
  EXPECT_NE(e.find("mlp.down_proj.weight' has shape [32, 40], expected [32, 48] (from "), std::string::npos) << e;
}

TEST_F(HfFolderErrors, MissingAndUnknownTensors) {
  edit_weights([](std::vector<test::StTensor>& t) {
    std::erase_if(t, [](const test::StTensor& st) { return st.name == "model.layers.0.self_attn.v_proj.weight"; });
  });
  EXPECT_NE(error().find("missing tensor model.layers.0.self_attn.v_proj.weight (blk.0.attn_v.weight)"),
            std::string::npos)
      << error();
  edit_weights([](std::vector<test::StTensor>& t) {
    t.push_back({"model.layers.0.mlp.extra", "F32", {1}, {0, 0, 0, 0}});
  });
  EXPECT_NE(error().find("tensor 'model.layers.0.mlp.extra' is not part of a LlamaForCausalLM model"),
            std::string::npos)
      << error();
  edit_weights([](std::vector<test::StTensor>& t) {
    t.push_back({"model.layers.9.mlp.up_proj.weight", "F32", {1}, {0, 0, 0, 0}});
  });
  EXPECT_NE(error().find("is beyond num_hidden_layers (2)"), std::string::npos) << error();
}

TEST_F(HfFolderErrors, UnsupportedDTypeIsNamed) {
  edit_weights([](std::vector<test::StTensor>& t) {
    for (auto& st : t) {
      if (st.name == "model.norm.weight") {
        st.dtype = "I32";
      }
    }
  });
  EXPECT_NE(
      error().find("tensor 'model.norm.weight' has dtype I32, which is not supported (supported: F32, F16, BF16)"),
      std::string::npos)
      << error();
}

TEST_F(HfFolderErrors, BadConfigFields) {
  auto j = config();
  j.erase("hidden_size");
  set_config(j);
  EXPECT_NE(error().find("config.json: hidden_size: missing"), std::string::npos) << error();
  j = config();
  j["hidden_size"] = 32;
  j["hidden_act"] = "gelu";
  set_config(j);
  EXPECT_NE(error().find("hidden_act: 'gelu' is not supported"), std::string::npos) << error();
  j["hidden_act"] = "silu";
  j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 4.0}};
  set_config(j);
  EXPECT_NE(error().find("'dynamic' scaling is not supported"), std::string::npos) << error();
  j.erase("rope_scaling");
  j["num_key_value_heads"] = 3;
  set_config(j);
  EXPECT_NE(error().find("num_key_value_heads: 3 does not divide num_attention_heads (4)"), std::string::npos)
      << error();
  test::write_text(dir_ / "config.json", "{\"architectures\": [");
  EXPECT_NE(error().find("config.json: not valid JSON"), std::string::npos) << error();
}

TEST_F(HfFolderErrors, TokenizerLargerThanTheVocabulary) {
  test::write_text(dir_ / "tokenizer.model", test::spm_model_bytes(test::tiny_pieces(60)));
  EXPECT_NE(error().find("tokenizer.model: 60 pieces, more than vocab_size 48"), std::string::npos) << error();
  test::write_text(dir_ / "tokenizer.model", test::spm_model_bytes(test::tiny_pieces(48), 1));
  EXPECT_NE(error().find("SentencePiece model type 1 is not supported"), std::string::npos) << error();
}

// Weights at addresses that are not a multiple of their element size (a header of odd length) are copied, not read
// misaligned; the results do not change.
TEST_F(HfFolderErrors, MisalignedWeightsAreCopied) {
  const std::vector<int32_t> tokens = {3, 17, 5};
  edit_weights([](std::vector<test::StTensor>&) {});
  const auto aligned = logits_of(*load_model(dir_.string()), tokens);
  edit_weights([](std::vector<test::StTensor>&) {}, /*odd=*/true);
  const auto model = load_model(dir_.string());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(model->weights().layers[0].wq.data) % 4, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(model->weights().output_norm) % 4, 0u);
  EXPECT_EQ(logits_of(*model, tokens), aligned);
}

TEST_F(HfFolderErrors, ShardedWeights) {
  // Split the checkpoint in two shards with an index: it loads; without the second shard it names it.
  const GgufFile gguf = GgufFile::open(gguf_path_.string());
  std::vector<test::StTensor> a, b;
  nlohmann::json map;
  for (const GgufTensorInfo& t : gguf.tensors()) {
    test::StTensor st{test::hf_name(t.name), "F32", {t.shape.rbegin(), t.shape.rend()}, {t.data, t.data + t.n_bytes}};
    const bool first = t.name.starts_with("blk.0") || !t.name.starts_with("blk.");
    map[st.name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    (first ? a : b).push_back(std::move(st));
  }
  fs::remove(dir_ / "model.safetensors");
  const auto ba = test::safetensors_bytes(a), bb = test::safetensors_bytes(b);
  test::write_bytes(dir_ / "model-00001-of-00002.safetensors", ba.data(), ba.size());
  test::write_bytes(dir_ / "model-00002-of-00002.safetensors", bb.data(), bb.size());
  test::write_text(dir_ / "model.safetensors.index.json", nlohmann::json({{"weight_map", map}}).dump());
  EXPECT_EQ(error(), "(loaded)");
  fs::remove(dir_ / "model-00002-of-00002.safetensors");
  EXPECT_NE(error().find("model-00002-of-00002.safetensors: missing shard"), std::string::npos) << error();
}

TEST(SentencePieceModel, ReadsPiecesAndRejectsDefects) {
  const std::string bytes = test::spm_model_bytes({{"<unk>", 0, 2}, {"\xE2\x96\x81the", -1.5f, 1}, {"<0x0A>", 0, 6}});
  const auto span = [](const std::string& s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  const SentencePieceModel m = parse_sentencepiece_model(span(bytes), "t.model");
  ASSERT_EQ(m.pieces.size(), 3u);
  EXPECT_EQ(m.pieces[1].text, "\xE2\x96\x81the");
  EXPECT_EQ(m.pieces[1].score, -1.5f);
  EXPECT_EQ(m.pieces[1].type, TokenType::Normal);
  EXPECT_EQ(m.pieces[2].type, TokenType::Byte);
  EXPECT_EQ(m.model_type, SentencePieceModel::Type::Bpe);

  const auto error_of = [&](const std::string& b) {
    try {
      parse_sentencepiece_model(span(b), "t.model");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(parsed)");
  };
  EXPECT_NE(error_of(bytes.substr(0, bytes.size() - 3)).find("t.model: "), std::string::npos);
  EXPECT_NE(error_of(bytes.substr(0, 5)).find("runs past the end"), std::string::npos) << error_of(bytes.substr(0, 5));
  EXPECT_NE(error_of("").find("no pieces"), std::string::npos);
  EXPECT_NE(error_of(std::string("\x08\x01", 2)).find("field 1 (pieces) has wire type 0"), std::string::npos)
      << error_of(std::string("\x08\x01", 2));
  std::string bad_type;
  test::pb_len(bad_type, 1, std::string("\x0a\x01x\x18\x09", 5));
  EXPECT_NE(error_of(bad_type).find("piece 0: type 9 is not one of 1..6"), std::string::npos) << error_of(bad_type);
  EXPECT_NE(error_of(std::string("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11)).find("does not fit"),
            std::string::npos);
}

}  // namespace
}  // namespace ternion
