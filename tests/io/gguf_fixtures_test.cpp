// The GGUF reader on real files: llama.cpp's converter output and vocab-only files, checked against known
// metadata and the golden JSONs; truncated copies must be refused, never crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/io/gguf.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> gguf_files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".gguf") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(GgufFixtures, EveryFileParses) {
  const fs::path path = test::fixture("gguf");  // named `path`: TERNION_REQUIRE_FIXTURE only works with that name
  TERNION_REQUIRE_FIXTURE(path);
  std::vector<fs::path> files = gguf_files_in(path);
  const std::vector<fs::path> vocab = gguf_files_in(test::fixture("vocab"));
  files.insert(files.end(), vocab.begin(), vocab.end());
  ASSERT_GE(files.size(), 20u);
  for (const fs::path& p : files) {
    SCOPED_TRACE(p.string());
    GgufFile f = GgufFile::open(p.string());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.file_size(), fs::file_size(p));
    EXPECT_TRUE(f.get_string("general.architecture").has_value());
    EXPECT_TRUE(f.get_array("tokenizer.ggml.tokens") != nullptr);
    for (const auto& [key, value] : f.metadata()) EXPECT_FALSE(value.to_display_string().empty()) << key;
    for (const GgufTensorInfo& t : f.tensors()) {
      EXPECT_EQ(t.offset % f.alignment(), 0u) << t.name;
      EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, f.file_size()) << t.name;
      EXPECT_EQ(t.data, f.find_tensor(t.name)->data);
    }
  }
}

// Tensor names and types match what llama.cpp reported for the same file.
TEST(GgufFixtures, TensorTypesMatchGolden) {
  const fs::path path = test::fixture("golden");
  TERNION_REQUIRE_FIXTURE(path);
  int checked = 0;
  for (const auto& e : fs::directory_iterator(path)) {
    if (e.path().extension() != ".json" || e.path().filename().string().starts_with("hf-")) continue;
    std::ifstream in(e.path());
    const nlohmann::json golden = nlohmann::json::parse(in);
    if (!golden["model_file_shipped"].get<bool>()) continue;
    const fs::path model = test::fixture(golden["model_file"].get<std::string>());
    if (!fs::exists(model)) continue;
    SCOPED_TRACE(model.string());
    const GgufFile f = GgufFile::open(model.string());
    EXPECT_EQ(f.file_size(), golden["size_bytes"].get<uint64_t>());
    const auto& types = golden["tensor_types"];
    ASSERT_EQ(f.tensors().size(), types.size());
    for (const auto& [name, type] : types.items()) {
      const GgufTensorInfo* t = f.find_tensor(name);
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(dtype_info(t->type).name, type.get<std::string>()) << name;
    }
    ++checked;
  }
  EXPECT_GE(checked, 15);
}

TEST(GgufFixtures, KjvLlamaF16Metadata) {
  const fs::path path = test::fixture("gguf/kjv-llama-F16.gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const GgufFile f = GgufFile::open(path.string());
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.embedding_length"), 256);
  EXPECT_EQ(f.get_int("llama.block_count"), 6);
  EXPECT_EQ(f.get_int("llama.rope.dimension_count"), 32);
  EXPECT_NEAR(*f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(f.get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(f.get_bool("tokenizer.ggml.add_eos_token"), false);
  EXPECT_EQ(f.get_int("no.such.key"), std::nullopt);

  const GgufArray* tokens = f.get_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->elem_type, GgufValueType::STRING);
  EXPECT_EQ(tokens->count, 4096u);
  ASSERT_EQ(tokens->strings.size(), 4096u);
  EXPECT_EQ(tokens->strings[1], "<s>");
  const GgufArray* types = f.get_array("tokenizer.ggml.token_type");
  ASSERT_NE(types, nullptr);
  EXPECT_EQ(types->count, 4096u);
  EXPECT_EQ(types->int_at(0), 3);  // <unk> is control
  EXPECT_EQ(types->int_at(3), 6);  // byte tokens
  EXPECT_EQ(types->int_at(300), 1);
  const GgufArray* scores = f.get_array("tokenizer.ggml.scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_EQ(scores->elem_type, GgufValueType::FLOAT32);
  EXPECT_EQ(scores->count, 4096u);

  EXPECT_EQ(f.tensors().size(), 57u);
  const GgufTensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, (std::vector<uint64_t>{256, 256}));
  EXPECT_EQ(q->type, DType::F16);
  EXPECT_EQ(q->n_elements, 256u * 256u);
  EXPECT_EQ(q->n_bytes, 256u * 256u * 2u);
  EXPECT_EQ(f.find_tensor("blk.6.attn_q.weight"), nullptr);
  // The data of the last tensor ends at the end of the file (llama.cpp pads every tensor to the alignment).
  uint64_t end = 0;
  for (const GgufTensorInfo& t : f.tensors()) end = std::max(end, t.offset + (t.n_bytes + 31) / 32 * 32);
  EXPECT_EQ(f.data_offset() + end, f.file_size());
}

TEST(GgufFixtures, KjvQwen2Metadata) {
  const fs::path path = test::fixture("gguf/kjv-qwen2-F16.gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const GgufFile f = GgufFile::open(path.string());
  EXPECT_EQ(f.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(f.tensors().size(), 50u);
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 4093);
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 4093);
  EXPECT_NEAR(*f.get_float("qwen2.attention.layer_norm_rms_epsilon"), 1e-6, 1e-13);
  const GgufArray* merges = f.get_array("tokenizer.ggml.merges");
  ASSERT_NE(merges, nullptr);
  EXPECT_EQ(merges->count, 3837u);
  EXPECT_EQ(merges->strings.size(), 3837u);
}

// Rewriting a llama.cpp file with GgufWriter gives back the same bytes: our layout is llama.cpp's.
TEST(GgufFixtures, RewriteIsByteIdentical) {
  for (const char* name : {"gguf/kjv-llama-F16.gguf", "gguf/kjv-trilm-TQ1_0.gguf", "vocab/ggml-vocab-gpt-2.gguf"}) {
    const fs::path path = test::fixture(name);
    TERNION_REQUIRE_FIXTURE(path);
    SCOPED_TRACE(name);
    const GgufFile f = GgufFile::open(path.string());
    GgufWriter w;
    for (const auto& [key, value] : f.metadata()) w.set(key, value);
    for (const GgufTensorInfo& t : f.tensors()) {
      w.add_tensor(t.name, t.shape, t.type, std::span<const uint8_t>(t.data, static_cast<size_t>(t.n_bytes)));
    }
    const std::vector<uint8_t> bytes = w.to_bytes(f.alignment());
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (f.tensors().empty()) {
      // Vocab-only files from llama.cpp end right after the metadata; ours are padded to the alignment.
      ASSERT_GE(bytes.size(), original.size());
      EXPECT_TRUE(std::equal(original.begin(), original.end(), bytes.begin()));
      EXPECT_LT(bytes.size() - original.size(), f.alignment());
    } else {
      ASSERT_EQ(bytes.size(), original.size());
      EXPECT_TRUE(bytes == original);
    }
  }
}

// A file cut anywhere before its end is refused with an Error, never a crash.
TEST(GgufFixtures, TruncatedFilesAlwaysThrow) {
  for (const char* name : {"gguf/kjv-llama-F16.gguf", "gguf/kjv-llama-Q4_K_M.gguf", "vocab/ggml-vocab-bert-bge.gguf"}) {
    const fs::path path = test::fixture(name);
    TERNION_REQUIRE_FIXTURE(path);
    SCOPED_TRACE(name);
    const MappedFile map(path.string());
    const std::span<const uint8_t> all = map.bytes();
    const GgufFile whole = GgufFile::parse(all, name);
    // Header region: every 1/64 of it, plus every one of the first 64 bytes.
    std::vector<uint64_t> cuts;
    const uint64_t header = whole.tensors().empty() ? all.size() : whole.data_offset();
    for (uint64_t i = 0; i < 64; ++i) cuts.push_back(i);
    for (uint64_t i = 0; i < 64; ++i) cuts.push_back(header * i / 64 + (i % 7));
    cuts.push_back(header - 1);
    // Data region: inside the last tensor and a few points before (the file ends with the last tensor).
    if (!whole.tensors().empty()) {
      const uint64_t data = all.size() - whole.data_offset();
      for (uint64_t i = 0; i < 16; ++i) cuts.push_back(whole.data_offset() + data * i / 16);
      cuts.push_back(all.size() - 1);
      cuts.push_back(all.size() - 32);
    }
    for (const uint64_t cut : cuts) {
      if (cut >= all.size()) continue;
      EXPECT_THROW(GgufFile::parse(all.first(static_cast<size_t>(cut)), name), Error) << "cut at " << cut;
    }
  }
}

// The fuzzer's seeds are assembled by fuzz/make_gguf_seeds.py, independently of GgufWriter: the valid ones
// must parse, the broken ones must fail for the reason their name gives.
TEST(GgufFixtures, FuzzSeedsParseOrFailAsNamed) {
  const fs::path dir = fs::path(TERNION_SOURCE_DIR) / "fuzz/seeds/gguf";
  const std::vector<std::pair<std::string, std::string>> broken = {
      {"bad-magic.gguf", "bad magic"},
      {"v1.gguf", "unsupported version 1"},
      {"byteswapped.gguf", "byte-swapped"},
      {"truncated.gguf", "past the end"},
      {"overlap.gguf", "overlap"},
      {"negative-dim.gguf", "negative"},
      {"too-deep.gguf", "nested deeper than"},
      {"huge-count.gguf", "could hold"},
  };
  for (const auto& [name, words] : broken) {
    SCOPED_TRACE(name);
    try {
      GgufFile::open((dir / name).string());
      ADD_FAILURE() << "parsed";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }
  for (const char* name :
       {"empty-v3.gguf", "every-type.gguf", "tiny-model.gguf", "align64-v2.gguf", "vocab-unpadded.gguf"}) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(GgufFile::open((dir / name).string()));
  }
  const GgufFile every = GgufFile::open((dir / "every-type.gguf").string());
  EXPECT_EQ(every.find("arr.deep")->to_display_string(), "[[[[\"x\"]]]]");
  EXPECT_EQ(every.get_int("i64"), std::numeric_limits<int64_t>::min());
  const GgufFile v2 = GgufFile::open((dir / "align64-v2.gguf").string());
  EXPECT_EQ(v2.version(), 2u);
  EXPECT_EQ(v2.alignment(), 64u);
  EXPECT_EQ(GgufFile::open((dir / "tiny-model.gguf").string()).tensors().size(), 6u);
}

TEST(GgufFixtures, OpenMissingFileNamesIt) {
  try {
    GgufFile::open("/nonexistent/model.gguf");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf"), std::string::npos);
  }
}

}  // namespace
}  // namespace ternion
