// llama2.c import: a small random checkpoint and tokenizer written here in Karpathy's format, converted to GGUF,
// must run exactly like the same weights written straight to a GGUF file with GgufWriter (same logits, bit for bit,
// and the same tokens), with both a shared and an unshared classifier; broken files are named.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "convert/hf_test_folder.h"
#include "ternion/convert/convert.h"
#include "ternion/convert/llama2c.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

struct Llama2cSpec {
  int32_t dim = 32, hidden = 48, n_layer = 2, n_head = 4, n_head_kv = 2, n_vocab = 295,
          seq_len = 64;  // 3 special, 256 bytes, 11 words, 25 letters
  bool shared = true;
  int32_t head() const { return dim / n_head; }
  int32_t kv_dim() const { return n_head_kv * head(); }
};

// The checkpoint's float arrays, in run.c's order.
struct Llama2cWeights {
  std::vector<float> embd, att_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3, final_norm, freqs, wcls;
};

Llama2cWeights random_weights(const Llama2cSpec& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.3f);
  const auto fill = [&](size_t n, float offset = 0.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = offset + d(rng);
    return v;
  };
  const auto L = static_cast<size_t>(s.n_layer), D = static_cast<size_t>(s.dim), H = static_cast<size_t>(s.hidden),
             KV = static_cast<size_t>(s.kv_dim()), V = static_cast<size_t>(s.n_vocab);
  Llama2cWeights w;
  w.embd = fill(V * D);
  w.att_norm = fill(L * D, 1.0f);
  w.wq = fill(L * D * D);
  w.wk = fill(L * KV * D);
  w.wv = fill(L * KV * D);
  w.wo = fill(L * D * D);
  w.ffn_norm = fill(L * D, 1.0f);
  w.w1 = fill(L * H * D);
  w.w2 = fill(L * D * H);
  w.w3 = fill(L * H * D);
  w.final_norm = fill(D, 1.0f);
  w.freqs = fill(static_cast<size_t>(s.seq_len * s.head()));  // unused by readers
  if (!s.shared) w.wcls = fill(V * D);
  return w;
}

void append(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
void append_floats(std::string& out, const std::vector<float>& v) { append(out, v.data(), v.size() * 4); }

std::string checkpoint_bytes(const Llama2cSpec& s, const Llama2cWeights& w) {
  std::string out;
  const int32_t header[7] = {s.dim,    s.hidden, s.n_layer, s.n_head, s.n_head_kv, s.shared ? s.n_vocab : -s.n_vocab,
                             s.seq_len};
  append(out, header, sizeof header);
  for (const auto* v : {&w.embd, &w.att_norm, &w.wq, &w.wk, &w.wv, &w.wo, &w.ffn_norm, &w.w1, &w.w2, &w.w3,
                        &w.final_norm, &w.freqs, &w.wcls}) {
    append_floats(out, *v);
  }
  return out;
}

// Token texts as llama2.c's tokenizer.py writes them (spaces, not "▁"; BOS/EOS padded with newlines); then the
// same vocabulary as GGUF spells it.
struct Vocabulary {
  std::vector<std::string> bin_texts, gguf_texts;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

Vocabulary vocabulary(int32_t n) {
  Vocabulary v;
  const auto add = [&](std::string bin, std::string gguf, float score, TokenType type) {
    v.bin_texts.push_back(std::move(bin));
    v.gguf_texts.push_back(std::move(gguf));
    v.scores.push_back(score);
    v.types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", "<unk>", 0.0f, TokenType::Unknown);
  add("\n<s>\n", "<s>", 0.0f, TokenType::Control);
  add("\n</s>\n", "</s>", 0.0f, TokenType::Control);
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    add(hex, hex, 0.0f, TokenType::Byte);
  }
  const std::string words[] = {" ", " the", " a", "th", "he", " b", "an", "nd", " and", " in", "in"};
  for (int i = 0; static_cast<int32_t>(v.bin_texts.size()) < n; ++i) {
    const std::string w = i < 11 ? words[i] : std::string(1, static_cast<char>('a' + (i - 11) % 26));
    std::string g;
    for (const char c : w) g += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
    add(w, g, -static_cast<float>(i), TokenType::Normal);
  }
  return v;
}

std::string tokenizer_bytes(const Vocabulary& v) {
  std::string out;
  int32_t max_len = 0;
  for (const auto& t : v.bin_texts) max_len = std::max(max_len, static_cast<int32_t>(t.size()));
  append(out, &max_len, 4);
  for (size_t i = 0; i < v.bin_texts.size(); ++i) {
    const auto len = static_cast<int32_t>(v.bin_texts[i].size());
    append(out, &v.scores[i], 4);
    append(out, &len, 4);
    out += v.bin_texts[i];
  }
  return out;
}

// The same weights written straight to GGUF: run.c's [out][in] arrays are GGUF's [in, out] tensors, one per layer.
void write_direct_gguf(const fs::path& path, const Llama2cSpec& s, const Llama2cWeights& w, const Vocabulary& v) {
  GgufWriter g;
  g.set_string("general.architecture", "llama");
  g.set_u32("llama.context_length", static_cast<uint32_t>(s.seq_len));
  g.set_u32("llama.embedding_length", static_cast<uint32_t>(s.dim));
  g.set_u32("llama.feed_forward_length", static_cast<uint32_t>(s.hidden));
  g.set_u32("llama.block_count", static_cast<uint32_t>(s.n_layer));
  g.set_u32("llama.attention.head_count", static_cast<uint32_t>(s.n_head));
  g.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  g.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  g.set_string("tokenizer.ggml.model", "llama");
  g.set_string_array("tokenizer.ggml.tokens", v.gguf_texts);
  g.set_f32_array("tokenizer.ggml.scores", v.scores);
  g.set_i32_array("tokenizer.ggml.token_type", v.types);
  const auto put = [&](const std::string& name, const std::vector<uint64_t>& shape, const float* data) {
    uint64_t n = 1;
    for (const uint64_t d : shape) n *= d;
    g.add_tensor(name, shape, DType::F32, {reinterpret_cast<const uint8_t*>(data), n * 4});
  };
  const auto D = static_cast<uint64_t>(s.dim), H = static_cast<uint64_t>(s.hidden),
             KV = static_cast<uint64_t>(s.kv_dim()), V = static_cast<uint64_t>(s.n_vocab);
  put("token_embd.weight", {D, V}, w.embd.data());
  put("output_norm.weight", {D}, w.final_norm.data());
  if (!s.shared) put("output.weight", {D, V}, w.wcls.data());
  for (uint64_t l = 0; l < static_cast<uint64_t>(s.n_layer); ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    put(p + "attn_norm.weight", {D}, w.att_norm.data() + l * D);
    put(p + "attn_q.weight", {D, D}, w.wq.data() + l * D * D);
    put(p + "attn_k.weight", {D, KV}, w.wk.data() + l * KV * D);
    put(p + "attn_v.weight", {D, KV}, w.wv.data() + l * KV * D);
    put(p + "attn_output.weight", {D, D}, w.wo.data() + l * D * D);
    put(p + "ffn_norm.weight", {D}, w.ffn_norm.data() + l * D);
    put(p + "ffn_gate.weight", {D, H}, w.w1.data() + l * H * D);
    put(p + "ffn_down.weight", {H, D}, w.w2.data() + l * D * H);
    put(p + "ffn_up.weight", {D, H}, w.w3.data() + l * H * D);
  }
  g.write(path.string());
}

std::vector<float> logits_of(const Model& m, const std::vector<int32_t>& tokens) {
  ThreadPool pool(2);
  ContextOptions c;
  c.n_ctx = 32;
  InferenceContext ctx(m, c, pool);
  ctx.decode(tokens);
  const auto l = ctx.decode(std::vector<int32_t>{42});  // one more step through the cache
  return {l.begin(), l.end()};
}

class Llama2c : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = test::scratch(std::string("llama2c_") + (GetParam() ? "shared" : "unshared"));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_P(Llama2c, ConvertedCheckpointRunsLikeTheSameWeightsInGguf) {
  Llama2cSpec s;
  s.shared = GetParam();
  const Llama2cWeights w = random_weights(s, 7);
  const Vocabulary v = vocabulary(s.n_vocab);
  test::write_text(dir_ / "model.bin", checkpoint_bytes(s, w));
  test::write_text(dir_ / "tokenizer.bin", tokenizer_bytes(v));
  write_direct_gguf(dir_ / "direct.gguf", s, w, v);

  const ModelSource src = load_llama2c_checkpoint((dir_ / "model.bin").string(), (dir_ / "tokenizer.bin").string());
  EXPECT_EQ(src.metadata.find("general.name")->as_string(), "model");
  ConvertOptions o;
  o.type = DType::F32;
  const ConvertResult r = convert_to_gguf(src, (dir_ / "converted.gguf").string(), o);
  EXPECT_EQ(r.n_tensors, 2u + (s.shared ? 0u : 1u) + 9u * 2u);

  const auto converted = load_model((dir_ / "converted.gguf").string());
  const auto direct = load_model((dir_ / "direct.gguf").string());
  EXPECT_EQ(converted->weights().tied_output, s.shared);
  EXPECT_EQ(converted->hparams().n_rot, s.head());
  const std::vector<int32_t> tokens = {1, 270, 5, 290, 33, 2, 100};
  const auto a = logits_of(*converted, tokens);
  const auto b = logits_of(*direct, tokens);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << i;

  // The same tokenizer: ids, BOS, and text back.
  const Tokenizer ta(converted->vocab()), tb(direct->vocab());
  const std::string text = "the band and a thin hen\nin";
  const auto ids = ta.encode(text, true, false);
  EXPECT_EQ(ids, tb.encode(text, true, false));
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ta.vocab().types[1], TokenType::Control);
  EXPECT_EQ(ta.vocab().types[3 + '\n'], TokenType::Byte);
  EXPECT_EQ(ta.decode(ids, true), text);
  // The running source (no conversion) is the same model too.
  ModelSource again = load_llama2c_checkpoint((dir_ / "model.bin").string(), (dir_ / "tokenizer.bin").string());
  const auto in_place = Model::from_source(std::move(again));
  const auto c = logits_of(*in_place, tokens);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], c[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(Classifier, Llama2c, ::testing::Values(true, false));

TEST(Llama2cErrors, BrokenFilesAreNamed) {
  const fs::path dir = test::scratch("llama2c_errors");
  fs::create_directories(dir);
  Llama2cSpec s;
  const Llama2cWeights w = random_weights(s, 3);
  const std::string model = checkpoint_bytes(s, w);
  const std::string tok = tokenizer_bytes(vocabulary(s.n_vocab));
  const auto error_of = [&](const std::string& m, const std::string& t) {
    test::write_text(dir / "m.bin", m);
    test::write_text(dir / "t.bin", t);
    try {
      load_llama2c_checkpoint((dir / "m.bin").string(), (dir / "t.bin").string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(loaded)");
  };
  EXPECT_EQ(error_of(model, tok), "(loaded)");
  std::string e = error_of(model.substr(0, model.size() - 100), tok);
  EXPECT_NE(e.find("m.bin: truncated: freq_cis_real and freq_cis_imag needs"), std::string::npos) << e;
  e = error_of(model + "xxxx", tok);
  EXPECT_NE(e.find("4 bytes after the last weight"), std::string::npos) << e;
  std::string versioned = model;
  const uint32_t magic = 0x616b3432, version = 1;
  std::memcpy(versioned.data(), &magic, 4);
  std::memcpy(versioned.data() + 4, &version, 4);
  e = error_of(versioned, tok);
  EXPECT_NE(e.find("export version 1 is not supported"), std::string::npos) << e;
  std::string bad_heads = model;
  const int32_t three = 3;
  std::memcpy(bad_heads.data() + 16, &three, 4);  // n_kv_heads 3 of 4
  e = error_of(bad_heads, tok);
  EXPECT_NE(e.find("n_heads 4 is not a multiple of n_kv_heads 3"), std::string::npos) << e;
  e = error_of(model.substr(0, 10), tok);
  EXPECT_NE(e.find("too small for a llama2.c checkpoint header"), std::string::npos) << e;
  e = error_of(model, tok.substr(0, tok.size() - 3));
  EXPECT_NE(e.find("t.bin: truncated at token 294 (the checkpoint has 295)"), std::string::npos) << e;
  e = error_of(model, tok + "more");
  EXPECT_NE(e.find("t.bin: holds more than the checkpoint's 295 tokens"), std::string::npos) << e;
  fs::remove(dir / "t.bin");
  e = error_of(model, "");
  EXPECT_NE(e.find("t.bin: too small"), std::string::npos) << e;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ternion
