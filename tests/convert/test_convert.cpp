// Conversion to GGUF: the fixture checkpoint converts to exactly the files llama.cpp's converter made (F16 byte for
// byte, F32 by the sha256 in its golden JSON), a tiny checkpoint's Q/K rows come back in the GGUF layout, the type
// rules hold, and a failed conversion leaves no file.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "convert/hf_test_folder.h"
#include "model/tiny_model.h"
#include "support/golden.h"
#include "support/test_support.h"
#include "ternion/convert/convert.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using test::TinyModel;
using test::TinySpec;

// SHA-256 (FIPS 180-4) of a file, as lowercase hex.
std::string sha256_file(const fs::path& path) {
  static constexpr std::array<uint32_t, 64> k = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const std::string data = test::slurp_text(path);
  std::string msg = data;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back(0);
  const uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>(bits >> (8 * i)));
  const auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t off = 0; off < msg.size(); off += 64) {
    std::array<uint32_t, 64> w{};
    for (size_t i = 0; i < 16; ++i) {
      for (size_t b = 0; b < 4; ++b) w[i] = (w[i] << 8) | static_cast<uint8_t>(msg[off + 4 * i + b]);
    }
    for (size_t i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto v = h;
    for (size_t i = 0; i < 64; ++i) {
      const uint32_t t1 =
          v[7] + (rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) + k[i] + w[i];
      const uint32_t t2 =
          (rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
      v = {t1 + t2, v[0], v[1], v[2], v[3] + t1, v[4], v[5], v[6]};
    }
    for (size_t i = 0; i < 8; ++i) h[i] += v[i];
  }
  std::string hex;
  char buf[9];
  for (const uint32_t x : h) {
    std::snprintf(buf, sizeof buf, "%08x", x);
    hex += buf;
  }
  return hex;
}

TEST(Convert, Sha256OfKnownText) {
  const fs::path p = test::scratch("sha.txt");
  test::write_text(p, "abc");
  EXPECT_EQ(sha256_file(p), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  fs::remove(p);
}

class FixtureConvert : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(dir_ / "model.safetensors");
    out_ = test::scratch("fixture.gguf");
  }
  void TearDown() override { fs::remove(out_); }
  fs::path dir_ = test::fixture("hf/kjv-llama");
  fs::path out_;
};

TEST_F(FixtureConvert, F16EqualsLlamaCppsFile) {
  const auto reference_path = test::fixture("gguf/kjv-llama-F16.gguf");
  TERNION_REQUIRE_FIXTURE(reference_path);
  ConvertOptions o;
  o.type = DType::F16;
  size_t calls = 0;
  const ConvertResult r = convert_to_gguf(load_hf_checkpoint(dir_.string()), out_.string(), o,
                                          [&](size_t done, size_t total, const std::string&, DType) {
                                            EXPECT_EQ(done, ++calls);
                                            EXPECT_EQ(total, 57u);
                                          });
  EXPECT_EQ(calls, 57u);
  EXPECT_EQ(r.type_counts.at(DType::F16), 44u);
  EXPECT_EQ(r.type_counts.at(DType::F32), 13u);
  const GgufFile ours = GgufFile::open(out_.string());
  const GgufFile ref = GgufFile::open(reference_path.string());
  // Tensors value for value (same names, order, shapes and types).
  ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    const GgufTensorInfo& a = ours.tensors()[i];
    const GgufTensorInfo& b = ref.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape) << a.name;
    EXPECT_EQ(a.type, b.type) << a.name;
    ASSERT_EQ(a.n_bytes, b.n_bytes) << a.name;
    EXPECT_EQ(std::memcmp(a.data, b.data, a.n_bytes), 0) << a.name;
  }
  // Metadata: every key, in order, with the same value (the tokenizer's included).
  ASSERT_EQ(ours.metadata().size(), ref.metadata().size());
  for (size_t i = 0; i < ref.metadata().size(); ++i) {
    EXPECT_EQ(ours.metadata()[i].first, ref.metadata()[i].first);
    EXPECT_EQ(ours.metadata()[i].second.to_display_string(1 << 20), ref.metadata()[i].second.to_display_string(1 << 20))
        << ref.metadata()[i].first;
  }
  // And so the very same bytes.
  EXPECT_EQ(test::slurp_text(out_), test::slurp_text(reference_path));
}

TEST_F(FixtureConvert, F32HasTheGoldenSha256) {
  const auto golden = test::load_golden("kjv-llama-F32");
  ConvertOptions o;
  o.type = DType::F32;
  const ConvertResult r = convert_to_gguf(load_hf_checkpoint(dir_.string()), out_.string(), o);
  EXPECT_EQ(r.file_bytes, golden["size_bytes"].get<uint64_t>());
  EXPECT_EQ(fs::file_size(out_), golden["size_bytes"].get<uint64_t>());
  EXPECT_EQ(sha256_file(out_), golden["sha256"].get<std::string>());
}

// A tiny llama checkpoint: its conversion holds exactly the TinyModel's own GGUF tensors, so the Q/K permutation
// (rotate-half rows -> adjacent pairs) is the one the GGUF layout needs; the converted file runs like the reference.
TEST(Convert, TinyCheckpointComesBackAsItsGguf) {
  const TinySpec spec;
  const TinyModel tm(spec);
  const auto gguf_path = tm.write("conv_tiny.gguf");
  const GgufFile original = GgufFile::open(gguf_path.string());
  const fs::path dir = test::scratch("conv_tiny");
  test::write_hf_folder(dir, original, spec);
  const fs::path out = test::scratch("conv_tiny_out.gguf");
  ConvertOptions o;
  o.type = DType::F32;
  convert_to_gguf(load_hf_checkpoint(dir.string()), out.string(), o);
  const GgufFile converted = GgufFile::open(out.string());
  size_t compared = 0;
  for (const GgufTensorInfo& t : original.tensors()) {
    const GgufTensorInfo* c = converted.find_tensor(t.name);
    ASSERT_NE(c, nullptr) << t.name;
    EXPECT_EQ(c->shape, t.shape) << t.name;
    ASSERT_EQ(c->n_bytes, t.n_bytes) << t.name;
    EXPECT_EQ(std::memcmp(c->data, t.data, t.n_bytes), 0) << t.name;
    ++compared;
  }
  EXPECT_EQ(compared, converted.tensors().size());
  EXPECT_EQ(converted.get_string("general.architecture"), "llama");

  // Q8_0: 2-D weights quantized, ffn_down (rows of 40) falls back to F16, vectors stay F32; it still runs.
  o.type = DType::Q8_0;
  const ConvertResult r = convert_to_gguf(load_hf_checkpoint(dir.string()), out.string(), o);
  const GgufFile q = GgufFile::open(out.string());
  EXPECT_EQ(q.find_tensor("blk.0.attn_q.weight")->type, DType::Q8_0);
  EXPECT_EQ(q.find_tensor("blk.0.ffn_down.weight")->type, DType::F16);
  EXPECT_EQ(q.find_tensor("blk.0.ffn_norm.weight")->type, DType::F32);
  EXPECT_EQ(q.get_int("general.file_type"), 7);
  EXPECT_EQ(r.type_counts.at(DType::F16), 2u);
  const auto model = load_model(out.string());
  ThreadPool pool(1);
  ContextOptions c;
  c.n_ctx = 16;
  InferenceContext ctx(*model, c, pool);
  const std::vector<int32_t> tokens = {1, 7, 30, 12};
  const auto logits = ctx.decode(tokens);
  const auto ref = tm.reference_logits(tokens);
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(ref[i]));
    max_diff = std::max(max_diff, std::abs(logits[i] - ref[i]));
  }
  EXPECT_LT(max_diff, 5e-2 * max_ref);
  fs::remove_all(dir);
  fs::remove(out);
  fs::remove(gguf_path);
}

TEST(Convert, TypeRules) {
  SourceTensor t;
  t.name = "blk.0.attn_q.weight";
  t.shape = {64, 8};
  EXPECT_EQ(convert_tensor_type(t, DType::Q8_0), DType::Q8_0);
  EXPECT_EQ(convert_tensor_type(t, DType::BF16), DType::BF16);
  t.shape = {40, 8};
  EXPECT_EQ(convert_tensor_type(t, DType::Q8_0), DType::F16);  // rows not made of whole blocks
  t.name = "blk.0.ffn_norm.weight";
  EXPECT_EQ(convert_tensor_type(t, DType::F16), DType::F32);
  t.name = "blk.0.attn_q.bias";
  t.shape = {64};
  EXPECT_EQ(convert_tensor_type(t, DType::F16), DType::F32);
  t.name = "token_embd.weight";
  t.shape = {256, 8};
  EXPECT_EQ(convert_tensor_type(t, DType::TQ2_0), DType::F16);
  EXPECT_EQ(gguf_file_type(DType::F32), 0u);
  EXPECT_EQ(gguf_file_type(DType::F16), 1u);
  EXPECT_EQ(gguf_file_type(DType::BF16), 32u);
  EXPECT_EQ(gguf_file_type(DType::Q8_0), 7u);
  EXPECT_NO_THROW(check_convert_type(DType::Q4_0));
  try {
    check_convert_type(DType::Q8_K);
    ADD_FAILURE() << "Q8_K accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot convert to Q8_K"), std::string::npos) << e.what();
  }
}

TEST(Convert, FailuresLeaveNoFile) {
  ModelSource src;
  src.path = "mem";
  src.metadata.set_string("general.architecture", "llama");
  const std::vector<float> v(4, 1.0f);
  src.tensors.push_back({"a.weight", "a", {4, 2}, DType::F32, reinterpret_cast<const uint8_t*>(v.data()), 16, 0});
  const fs::path out = test::scratch("fail.gguf");
  ConvertOptions o;
  o.type = DType::F32;
  try {
    convert_to_gguf(src, out.string(), o);
    ADD_FAILURE() << "converted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor a.weight holds 16 bytes, its shape needs 32"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".part"));
  src.convert_blocker = "tokenizer.json: cannot be described";
  try {
    convert_to_gguf(src, out.string(), o);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot convert to GGUF: tokenizer.json"), std::string::npos) << e.what();
  }
  src.convert_blocker.clear();
  EXPECT_THROW(convert_to_gguf(src, "/nonexistent-folder/x.gguf", o), Error);
}

}  // namespace
}  // namespace ternion
