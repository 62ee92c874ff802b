// `quantize_model` with an importance matrix: the tensor data of kjv-llama-F16 quantized against a synthetic
// imatrix equals, per file type, what llama-quantize c392e5094 wrote from the same .dat file (the hashes below
// were recorded after `cmp` showed our whole files byte-identical to llama-quantize's, imatrix keys included;
// see QUALITY.md for how). Both imatrix forms give the same tensors, and every misuse is a clear
// error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/model/imatrix.h"
#include "ternion/model/quantize.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() / ("ternion_qimatrix_" + std::to_string(::getpid()) + "_" + name);
}

fs::path f16_model() { return test::fixture("gguf/kjv-llama-F16.gguf"); }

// Mean squares with a spread of 1..97 (in 16ths) over the columns, different per entry; ncall 3, so that the
// stored values are 3 times the means, as llama-imatrix stores them. Every matrix of the model but
// token_embd.weight (an embedding has no imatrix entry) and, unless `complete`, blk.2.ffn_up.weight (a missing
// entry; the i-quants refuse a matrix without one).
Imatrix synthetic_imatrix(const GgufFile& model, bool complete = false) {
  Imatrix im;
  int e = 0;
  std::map<std::string, uint64_t> cols;
  for (const auto& t : model.tensors()) {
    if (t.shape.size() == 2 && t.name != "token_embd.weight" && (complete || t.name != "blk.2.ffn_up.weight"))
      cols[t.name] = t.shape[0];
  }
  for (const auto& [name, n] : cols) {
    ImatrixEntry en;
    en.calls = 3;
    en.counts = {3.0f};
    for (uint64_t j = 0; j < n; ++j) {
      en.sums.push_back(3.0f * static_cast<float>((j * 37 + 11 * static_cast<uint64_t>(e)) % 97 + 1) / 16.0f);
    }
    im.entries.emplace(name, std::move(en));
    ++e;
  }
  im.chunk_count = 7;
  im.datasets = {"synthetic.txt"};
  return im;
}

// FNV-1a over every tensor's bytes in file order (the metadata holds the imatrix's path, which varies).
uint64_t tensor_hash(const fs::path& p) {
  const GgufFile f = GgufFile::open(p.string());
  uint64_t h = 1469598103934665603ull;
  for (const auto& t : f.tensors()) {
    for (uint64_t i = 0; i < t.n_bytes; ++i) h = (h ^ t.data[i]) * 1099511628211ull;
  }
  return h;
}

class QuantizeImatrix : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(f16_model());
    dat_ = scratch("syn.dat");
    gguf_ = scratch("syn.gguf");
    const Imatrix im = synthetic_imatrix(GgufFile::open(f16_model().string()));
    write_imatrix_dat(im, dat_.string());
    write_imatrix_gguf(im, gguf_.string());
    // TERNION_DUMP_IMATRIX=PATH keeps a copy of the .dat (to run llama-quantize on it).
    if (const char* keep = std::getenv("TERNION_DUMP_IMATRIX"))
      fs::copy_file(dat_, keep, fs::copy_options::overwrite_existing);
  }
  void TearDown() override {
    fs::remove(dat_);
    fs::remove(gguf_);
  }
  QuantizeReport quantize(const std::string& type, const fs::path& im, const fs::path& out) const {
    QuantizeOptions o;
    o.file_type = type;
    o.n_threads = 2;
    o.imatrix_file = im.string();
    return quantize_model(f16_model().string(), out.string(), o);
  }
  fs::path dat_, gguf_;
};

TEST_F(QuantizeImatrix, TensorsEqualLlamaQuantizeOutput) {
  // Recorded from our output after checking it equal, file for file, to llama-quantize's (same .dat).
  std::map<std::string, uint64_t> golden = {
      {"Q4_0", 0xae6d5474cf5b1df4ull},   {"Q4_1", 0xe126a86a2e38d00bull},   {"Q5_0", 0x386119033b1da732ull},
      {"Q5_1", 0xce3bd7faf0b35ec7ull},   {"Q2_K", 0x0ada2795459807baull},   {"Q3_K_S", 0x80c9dad4c8d88d0full},
      {"Q3_K_M", 0x0403b74b6f48c5acull}, {"Q4_K_M", 0x44bdc59b4d3c0c3cull}, {"Q5_K_M", 0x23b127821c5afaabull},
      {"Q6_K", 0xf98618132b181e75ull},   {"IQ4_NL", 0xa1b29005e86b3d6aull}, {"IQ4_XS", 0x5675238130ad5093ull},
  };
  if (test::slow_build()) std::erase_if(golden, [](const auto& g) { return g.first != "Q4_K_M" && g.first != "Q2_K"; });
  for (const auto& [type, hash] : golden) {
    const fs::path out = scratch(type + ".gguf");
    const QuantizeReport r = quantize(type, dat_, out);
    EXPECT_EQ(r.n_tensors, 57u);
    std::printf("%-7s 0x%016llxull, %zu tensors with the imatrix\n", type.c_str(),
                static_cast<unsigned long long>(tensor_hash(out)), r.n_imatrix);
    EXPECT_EQ(tensor_hash(out), hash) << type;
    if (const char* keep = std::getenv("TERNION_DUMP_IMATRIX")) {
      fs::copy_file(out, std::string(keep) + "." + type + ".gguf", fs::copy_options::overwrite_existing);
    }
    fs::remove(out);
  }
}

// The i-quant file types and Q2_K_S, against an imatrix with every matrix's entry. Recorded from our output after
// `cmp` showed each whole file byte-identical to llama-quantize c392e5094's from the same .dat (TERNION_DUMP_IMATRIX
// keeps the .dat as PATH.full.dat and our files as PATH.full.TYPE.gguf).
TEST_F(QuantizeImatrix, IQuantFilesEqualLlamaQuantizeOutput) {
  std::map<std::string, uint64_t> golden = {
      {"IQ2_XXS", 0xc0551eee7f61a117ull}, {"IQ2_XS", 0x4a0ef332fc0c2e91ull},  {"IQ2_S", 0x372cec3cd4bfc2d5ull},
      {"IQ2_M", 0x2fda87dd5e567f5aull},   {"IQ3_XXS", 0x8662893681bd100cull}, {"IQ3_XS", 0x1811c9974b621944ull},
      {"IQ3_S", 0x3b9b0fb121ae3353ull},   {"IQ3_M", 0xba5a461a5011aa9dull},   {"IQ1_S", 0x3f5dbabb4f01d82eull},
      {"IQ1_M", 0x739d7d67a93257c3ull},   {"Q2_K_S", 0x97849f512fc879a7ull},
  };
  if (test::slow_build())
    std::erase_if(golden, [](const auto& g) { return g.first != "IQ2_XS" && g.first != "IQ3_XXS"; });
  const fs::path full = scratch("full.dat");
  write_imatrix_dat(synthetic_imatrix(GgufFile::open(f16_model().string()), true), full.string());
  const char* keep = std::getenv("TERNION_DUMP_IMATRIX");
  if (keep) fs::copy_file(full, std::string(keep) + ".full.dat", fs::copy_options::overwrite_existing);
  for (const auto& [type, hash] : golden) {
    const fs::path out = scratch(type + ".gguf");
    const QuantizeReport r = quantize(type, full, out);
    EXPECT_EQ(r.n_tensors, 57u);
    std::printf("%-7s 0x%016llxull, %zu tensors with the imatrix\n", type.c_str(),
                static_cast<unsigned long long>(tensor_hash(out)), r.n_imatrix);
    EXPECT_EQ(tensor_hash(out), hash) << type;
    if (keep) fs::copy_file(out, std::string(keep) + ".full." + type + ".gguf", fs::copy_options::overwrite_existing);
    fs::remove(out);
  }
  fs::remove(full);
}

// Every file type that llama-quantize refuses without an imatrix refuses here too, naming the tensor (IQ3_XXS as
// well: its attn_q and attn_k are IQ2_S), before writing anything; IQ3_XXS's mix differs without an imatrix
// (attn_v IQ3_S, ffn_down Q3_K).
TEST_F(QuantizeImatrix, VeryLowBitFileTypesRefuseWithoutAnImatrix) {
  const fs::path out = scratch("noim.gguf");
  for (const char* type : {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M", "Q2_K_S", "IQ3_XXS"}) {
    QuantizeOptions o;
    o.file_type = type;
    try {
      quantize_model(f16_model().string(), out.string(), o);
      ADD_FAILURE() << type << ": no error";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("needs an importance matrix (--imatrix)"), std::string::npos) << type << ": " << m;
      EXPECT_NE(m.find("tensor blk."), std::string::npos) << type << ": " << m;
    }
    EXPECT_FALSE(fs::exists(out)) << type;
  }
  // A missing entry is as bad as no imatrix for these types.
  EXPECT_THROW(quantize("IQ2_XS", dat_, out), Error);
  QuantizeOptions o;
  o.file_type = "IQ3_XXS";
  std::map<std::string, DType> plan;
  for (const auto& [name, type] : plan_quantization(f16_model().string(), o)) plan[name] = type;
  EXPECT_EQ(plan["blk.0.attn_v.weight"], DType::IQ3_S);
  EXPECT_EQ(plan["blk.0.ffn_down.weight"], DType::Q3_K);  // 6 layers: the first eighth is empty
  EXPECT_EQ(plan["blk.0.attn_q.weight"], DType::IQ2_S);
  EXPECT_EQ(plan["blk.0.attn_output.weight"], DType::IQ3_S);
  EXPECT_EQ(plan["blk.0.ffn_up.weight"], DType::IQ3_XXS);
  EXPECT_EQ(plan["token_embd.weight"], DType::IQ3_S);
  EXPECT_EQ(plan["output.weight"], DType::Q5_K);
  o.imatrix_file = dat_.string();
  plan.clear();
  for (const auto& [name, type] : plan_quantization(f16_model().string(), o)) plan[name] = type;
  EXPECT_EQ(plan["blk.0.attn_v.weight"], DType::IQ3_XXS);
  EXPECT_EQ(plan["blk.0.ffn_down.weight"], DType::IQ3_XXS);
}

// IQ1_M quantizes without importance where llama-quantize allows it (the output, by a user rule), byte-identical
// to `llama-quantize --output-tensor-type iq1_m F16 OUT Q4_0` (whole files `cmp` equal; hash recorded after).
TEST_F(QuantizeImatrix, Iq1mOutputWithoutAnImatrix) {
  const fs::path out = scratch("iq1m_out.gguf");
  QuantizeOptions o;
  o.file_type = "Q4_0";
  o.tensor_types = {{"^output\\.weight$", DType::IQ1_M}};
  quantize_model(f16_model().string(), out.string(), o);
  const GgufFile f = GgufFile::open(out.string());
  ASSERT_NE(f.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(f.find_tensor("output.weight")->type, DType::IQ1_M);
  std::printf("IQ1_M output 0x%016llxull\n", static_cast<unsigned long long>(tensor_hash(out)));
  EXPECT_EQ(tensor_hash(out), 0x8cd476c71b3a7795ull);
  fs::remove(out);
}

TEST_F(QuantizeImatrix, BothFormsGiveTheSameTensorsAndKeys) {
  const fs::path a = scratch("a.gguf"), b = scratch("b.gguf"), plain = scratch("p.gguf");
  const QuantizeReport r = quantize("Q4_K_M", dat_, a);
  quantize("Q4_K_M", gguf_, b);
  QuantizeOptions o;
  o.file_type = "Q4_K_M";
  quantize_model(f16_model().string(), plain.string(), o);
  EXPECT_EQ(tensor_hash(a), tensor_hash(b));
  EXPECT_NE(tensor_hash(a), tensor_hash(plain));
  EXPECT_EQ(r.n_imatrix, 42u);  // 44 matrices less token_embd and blk.2.ffn_up
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_NE(r.notes[0].find("no imatrix entry"), std::string::npos);
  const GgufFile f = GgufFile::open(a.string());
  EXPECT_EQ(f.get_string("quantize.imatrix.file"), dat_.string());
  EXPECT_EQ(f.get_string("quantize.imatrix.dataset"), "synthetic.txt");
  EXPECT_EQ(f.get_int("quantize.imatrix.entries_count"), 42);
  EXPECT_EQ(f.get_int("quantize.imatrix.chunks_count"), 7);
  EXPECT_FALSE(GgufFile::open(plain.string()).get_string("quantize.imatrix.file").has_value());
  for (const auto& p : {a, b, plain}) fs::remove(p);
}

TEST_F(QuantizeImatrix, IncludeAndExcludeWeights) {
  const fs::path a = scratch("inc.gguf");
  QuantizeOptions o;
  o.file_type = "Q4_0";
  o.imatrix_file = dat_.string();
  o.imatrix_include = {"attn_q", "ffn_down"};
  QuantizeReport r = quantize_model(f16_model().string(), a.string(), o);
  EXPECT_EQ(r.n_imatrix, 12u);
  EXPECT_EQ(GgufFile::open(a.string()).get_int("quantize.imatrix.entries_count"), 12);
  o.imatrix_include.clear();
  o.imatrix_exclude = {"blk."};
  r = quantize_model(f16_model().string(), a.string(), o);
  EXPECT_EQ(r.n_imatrix, 1u);      // only output.weight's entry is left
  o.imatrix_exclude = {"weight"};  // nothing left: as if there were no imatrix
  r = quantize_model(f16_model().string(), a.string(), o);
  EXPECT_FALSE(GgufFile::open(a.string()).get_string("quantize.imatrix.file").has_value());
  o.imatrix_include = {"attn"};
  EXPECT_THROW(quantize_model(f16_model().string(), a.string(), o), Error);  // both lists
  fs::remove(a);
}

TEST_F(QuantizeImatrix, MismatchedImatrixIsAClearError) {
  Imatrix im = synthetic_imatrix(GgufFile::open(f16_model().string()));
  im.entries["blk.0.attn_q.weight"].sums.resize(128);
  const fs::path bad = scratch("bad.dat"), out = scratch("bad.gguf");
  write_imatrix_dat(im, bad.string());
  try {
    quantize("Q4_K_M", bad, out);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("blk.0.attn_q.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("128"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(out));
  // A wrong-sized token_embd entry is ignored, as llama-quantize ignores it.
  im = synthetic_imatrix(GgufFile::open(f16_model().string()));
  im.entries["token_embd.weight"].sums.assign(7, 1.0f);
  im.entries["token_embd.weight"].counts = {1.0f};
  write_imatrix_dat(im, bad.string());
  EXPECT_NO_THROW(quantize("Q4_0", bad, out));
  EXPECT_THROW(quantize("Q4_0", scratch("missing.dat"), out), Error);
  fs::remove(bad);
  fs::remove(out);
}

TEST_F(QuantizeImatrix, LowBitTypesNeedAnImatrix) {
  QuantizeOptions o;
  o.file_type = "Q2_K";
  o.tensor_types = {{"attn_q", DType::IQ2_XS}};
  const fs::path out = scratch("iq2.gguf");
  try {
    quantize_model(f16_model().string(), out.string(), o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs an importance matrix"), std::string::npos) << e.what();
  }
  o.imatrix_include = {"attn"};
  EXPECT_THROW(quantize_model(f16_model().string(), out.string(), o), Error);  // filters without an imatrix
  EXPECT_FALSE(fs::exists(out));
}

// The mix rules that change with an imatrix, on a 16-layer model of ffn_down matrices: Q4_0 and Q5_0 keep the
// first eighth of ffn_down at Q4_1 / Q5_1 only with an imatrix; IQ4_NL / IQ4_XS raise it to Q5_K only without.
TEST_F(QuantizeImatrix, MixRulesThatDependOnTheImatrix) {
  const fs::path model = scratch("ffn16.gguf");
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 16);
  const std::vector<float> zeros(256 * 32, 0.0f);
  for (int l = 0; l < 16; ++l) {
    w.add_tensor("blk." + std::to_string(l) + ".ffn_down.weight", {256, 32}, DType::F32,
                 std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size() * 4));
  }
  w.write(model.string());
  auto types = [&](const std::string& ft, bool with_imatrix) {
    QuantizeOptions o;
    o.file_type = ft;
    if (with_imatrix) o.imatrix_file = dat_.string();
    std::vector<DType> out;
    for (const auto& [name, type] : plan_quantization(model.string(), o)) out.push_back(type);
    return out;
  };
  const struct {
    const char* ft;
    DType plain_first, imatrix_first, rest;
  } cases[] = {{"Q4_0", DType::Q4_0, DType::Q4_1, DType::Q4_0},
               {"Q5_0", DType::Q5_0, DType::Q5_1, DType::Q5_0},
               {"IQ4_XS", DType::Q5_K, DType::IQ4_XS, DType::IQ4_XS},
               {"IQ4_NL", DType::Q5_K, DType::IQ4_NL, DType::IQ4_NL}};
  for (const auto& c : cases) {
    const auto plain = types(c.ft, false), weighted = types(c.ft, true);
    ASSERT_EQ(plain.size(), 16u);
    for (size_t l = 0; l < 16; ++l) {
      EXPECT_EQ(plain[l], l < 2 ? c.plain_first : c.rest) << c.ft << " layer " << l;
      EXPECT_EQ(weighted[l], l < 2 ? c.imatrix_first : c.rest) << c.ft << " layer " << l;
    }
  }
  fs::remove(model);
}

// A matrix that saw no token (count 0, sums 0: a partial GGUF imatrix) gets weights of 1, as llama.cpp gives it,
// rather than weights of 0 (which would zero its blocks).
TEST_F(QuantizeImatrix, MatrixThatSawNoTokenGetsUnitWeights) {
  Imatrix unseen = synthetic_imatrix(GgufFile::open(f16_model().string()));
  Imatrix ones = unseen;
  ImatrixEntry& u = unseen.entries["blk.0.attn_q.weight"];
  std::fill(u.sums.begin(), u.sums.end(), 0.0f);
  u.counts = {0.0f};
  ImatrixEntry& o = ones.entries["blk.0.attn_q.weight"];
  std::fill(o.sums.begin(), o.sums.end(), 5.0f);
  o.counts = {5.0f};
  const fs::path a = scratch("unseen.gguf"), b = scratch("ones.gguf"), qa = scratch("qa.gguf"), qb = scratch("qb.gguf");
  write_imatrix_gguf(unseen, a.string());
  write_imatrix_gguf(ones, b.string());
  quantize("Q4_K_M", a, qa);
  quantize("Q4_K_M", b, qb);
  EXPECT_EQ(tensor_hash(qa), tensor_hash(qb));
  for (const auto& p : {a, b, qa, qb}) fs::remove(p);
}

// A 3-D tensor of experts takes its entry's matrix e for expert e (llama-quantize quantizes each expert against
// its own slice): every expert's rows equal quantize_weights of those rows with that expert's mean squares.
TEST_F(QuantizeImatrix, ExpertsUseTheirOwnSlice) {
  constexpr uint64_t kCols = 256, kRows = 4, kExperts = 3;
  std::vector<float> w(kCols * kRows * kExperts);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + static_cast<float>(i % 7));
  const fs::path model = scratch("moe.gguf"), im_path = scratch("moe_im.gguf"), out = scratch("moe_q.gguf");
  GgufWriter gw;
  gw.set_string("general.architecture", "llama");
  gw.add_tensor("blk.0.ffn_down_exps.weight", {kCols, kRows, kExperts}, DType::F32,
                std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(w.data()), w.size() * 4));
  gw.write(model.string());
  Imatrix im;
  ImatrixEntry& e = im.entries["blk.0.ffn_down_exps.weight"];
  e.counts = {1.0f, 2.0f, 4.0f};
  for (uint64_t m = 0; m < kExperts; ++m) {
    for (uint64_t j = 0; j < kCols; ++j) e.sums.push_back(static_cast<float>((j * (m + 3)) % 11 + 1));
  }
  write_imatrix_gguf(im, im_path.string());
  QuantizeOptions o;
  o.file_type = "Q4_K_M";
  o.pure = true;
  o.imatrix_file = im_path.string();
  EXPECT_EQ(quantize_model(model.string(), out.string(), o).n_imatrix, 1u);
  const GgufFile f = GgufFile::open(out.string());
  const GgufTensorInfo* t = f.find_tensor("blk.0.ffn_down_exps.weight");
  ASSERT_NE(t, nullptr);
  const size_t row_bytes = 144;  // one Q4_K super-block
  ASSERT_EQ(t->n_bytes, row_bytes * kRows * kExperts);
  std::vector<uint8_t> want(row_bytes);
  for (uint64_t m = 0; m < kExperts; ++m) {
    const std::vector<float> qw = e.means(static_cast<int64_t>(m));
    for (uint64_t r = 0; r < kRows; ++r) {
      quantize_weights(DType::Q4_K, w.data() + (m * kRows + r) * kCols, want.data(), kCols, qw.data());
      EXPECT_TRUE(std::equal(want.begin(), want.end(), t->data + (m * kRows + r) * row_bytes)) << m << " " << r;
    }
  }
  // An entry for one matrix does not fit three experts.
  im.entries["blk.0.ffn_down_exps.weight"] = ImatrixEntry{std::vector<float>(kCols, 1.0f), {1.0f}, 1};
  write_imatrix_gguf(im, im_path.string());
  EXPECT_THROW(quantize_model(model.string(), out.string(), o), Error);
  for (const auto& p : {model, im_path, out}) fs::remove(p);
}

}  // namespace
}  // namespace ternion
