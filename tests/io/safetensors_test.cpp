// The safetensors reader: a valid file, then one test per rule, each breaking one thing in a file built here; every
// failure must be one Error line naming the file (and the tensor, where there is one). Then sharded folders.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/safetensors.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

constexpr char kName[] = "bad.safetensors";

// u64 header size, the header text, then `data`.
Bytes build(const std::string& header, const Bytes& data) {
  Bytes b;
  for (size_t i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

Bytes floats(std::initializer_list<float> v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), std::data(v), b.size());
  return b;
}

// Parsing must fail with one line that contains every one of `parts`.
void expect_error(const Bytes& bytes, std::initializer_list<std::string> parts) {
  try {
    SafetensorsFile::parse(bytes, kName);
    ADD_FAILURE() << "no error; expected one containing '" << *parts.begin() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind(kName, 0), 0u) << msg;
    for (const std::string& part : parts)
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' in: " << msg;
  }
}

void expect_tensor_error(const std::string& tensor_json, size_t data_bytes, std::initializer_list<std::string> parts) {
  expect_error(build("{\"w\":" + tensor_json + "}", Bytes(data_bytes, 0)), parts);
}

TEST(Safetensors, ReadsTensorsMetadataAndData) {
  // Written out of name order, with spaces after the JSON as real writers pad the header to 8 bytes.
  const std::string header =
      R"({"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
      R"("__metadata__":{"format":"pt"},"s":{"dtype":"I64","shape":[],"data_offsets":[16,24]}}    )";
  Bytes data = floats({1.5f, -2.0f});
  data.insert(data.end(), {0x80, 0x3f, 0x00, 0x40, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0});
  const Bytes bytes = build(header, data);
  const SafetensorsFile f = SafetensorsFile::parse(bytes, "ok.safetensors");
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "a");
  EXPECT_EQ(f.tensors()[1].name, "b");
  EXPECT_EQ(f.tensors()[2].name, "s");
  EXPECT_EQ(f.data_offset(), 8 + header.size());
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const SafetensorsTensor* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, "F32");
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(a->n_elements, 2u);
  EXPECT_EQ(a->n_bytes, 8u);
  float v[2];
  std::memcpy(v, a->data, 8);
  EXPECT_EQ(v[0], 1.5f);
  EXPECT_EQ(v[1], -2.0f);
  const SafetensorsTensor* b = f.find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->data, bytes.data() + f.data_offset() + 8);
  EXPECT_EQ(f.find("s")->n_elements, 1u);  // a scalar
  EXPECT_EQ(f.find("c"), nullptr);
  EXPECT_EQ(safetensors_dtype_to_gguf("BF16"), DType::BF16);
  EXPECT_EQ(safetensors_dtype_to_gguf("F8_E4M3"), std::nullopt);
  EXPECT_EQ(safetensors_dtype_size("F8_E4M3"), 1u);
  EXPECT_EQ(safetensors_dtype_size("Q4"), std::nullopt);
}

TEST(Safetensors, EmptyTensorAndEmptyHeaderObject) {
  const SafetensorsFile f = SafetensorsFile::parse(build("{}", {}), "empty.safetensors");
  EXPECT_TRUE(f.tensors().empty());
  const SafetensorsFile g =
      SafetensorsFile::parse(build(R"({"z":{"dtype":"F16","shape":[0,4],"data_offsets":[0,0]}})", {}), "z");
  EXPECT_EQ(g.tensors()[0].n_bytes, 0u);
}

TEST(Safetensors, FileTooSmall) { expect_error(Bytes{1, 2, 3}, {"too small", "3 bytes"}); }

TEST(Safetensors, HeaderSizeLimit) {
  Bytes b(16, 0);
  const uint64_t n = SafetensorsFile::kMaxHeaderBytes + 1;
  for (size_t i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(n >> (8 * i));
  expect_error(b, {"header size 100000001", "larger than"});
}

TEST(Safetensors, HeaderPastEndOfFile) {
  Bytes b = build("{}", {});
  b[0] = 200;
  expect_error(b, {"header size 200", "past the end"});
}

TEST(Safetensors, NotJson) {
  expect_error(build("{\"a\": nope}", {}), {"not valid JSON"});
  expect_error(build("[1, 2]", {}), {"does not start with '{'"});
  expect_error(build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", Bytes(4, 0)),
               {"not valid JSON"});
}

TEST(Safetensors, DuplicateKeys) {
  expect_error(build(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                     R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                     Bytes(8, 0)),
               {"duplicate key 'w'"});
  expect_tensor_error(R"({"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]})", 4,
                      {"duplicate key 'dtype'"});
}

TEST(Safetensors, DeepNesting) {
  expect_tensor_error(R"({"dtype":"F32","shape":[[[[1]]]],"data_offsets":[0,4]})", 4, {"nests deeper"});
}

TEST(Safetensors, UnknownDType) {
  expect_tensor_error(R"({"dtype":"Q4","shape":[2],"data_offsets":[0,1]})", 1,
                      {"tensor 'w'", "unknown dtype 'Q4'", "known: F32, F16, BF16"});
  expect_tensor_error(R"({"dtype":7,"shape":[2],"data_offsets":[0,8]})", 8, {"tensor 'w'", "dtype is missing"});
}

TEST(Safetensors, BadShape) {
  expect_tensor_error(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})", 4,
                      {"tensor 'w'", "shape[0] is not a non-negative integer"});
  expect_tensor_error(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})", 4, {"shape[0]"});
  expect_tensor_error(R"({"dtype":"F32","shape":"2","data_offsets":[0,4]})", 4, {"shape is missing"});
  expect_tensor_error(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})", 4,
                      {"more elements than fit"});
  expect_tensor_error(R"({"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]})", 4,
                      {"byte size beyond int64"});
}

TEST(Safetensors, ShapeTimesDTypeMustEqualSpan) {
  expect_tensor_error(R"({"dtype":"BF16","shape":[3,2],"data_offsets":[0,24]})", 24,
                      {"tensor 'w'", "shape [3, 2] of BF16 needs 12 bytes", "span 24"});
}

TEST(Safetensors, BadOffsets) {
  expect_tensor_error(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})", 4, {"data_offsets is missing"});
  expect_tensor_error(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})", 8, {"end before they begin"});
  expect_tensor_error(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})", 8,
                      {"tensor 'w'", "[4, 12] run past the end of the data area (8 bytes)"});
  expect_tensor_error(R"({"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,3]})", 8,
                      {"end before they begin"});
}

TEST(Safetensors, OverlappingTensors) {
  expect_error(build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                     Bytes(12, 0)),
               {"tensors 'a' [0, 8) and 'b' [4, 12) overlap"});
}

TEST(Safetensors, UnexpectedOrMissingFields) {
  expect_tensor_error(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1})", 4,
                      {"tensor 'w'", "unexpected field 'extra'"});
  expect_tensor_error(R"([1])", 4, {"tensor 'w'", "expected an object"});
  expect_error(build(R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", Bytes(4, 0)), {"empty tensor name"});
}

TEST(Safetensors, MetadataMustBeStrings) {
  expect_error(build(R"({"__metadata__":{"format":1}})", {}), {"__metadata__", "'format' is not a string"});
  expect_error(build(R"({"__metadata__":[]})", {}), {"__metadata__", "expected an object"});
}

TEST(Safetensors, ControlCharactersInNamesStayOnOneLine) {
  expect_error(build("{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}", Bytes(4, 0)),
               {"tensor 'a\\nb'"});
}

// Files written to a per-process temporary folder.
class SafetensorsFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ternion_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const Bytes& bytes) const {
    std::ofstream out(dir_ / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  void write_text(const std::string& name, const std::string& text) const {
    std::ofstream out(dir_ / name, std::ios::binary);
    out << text;
  }
  static Bytes one_tensor(const std::string& name, float value) {
    return build("{\"" + name + R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({value}));
  }
  std::string error_of() const {
    try {
      SafetensorsCheckpoint::open(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  fs::path dir_;
};

TEST_F(SafetensorsFolder, SingleFile) {
  write("model.safetensors", one_tensor("x", 3.0f));
  const SafetensorsCheckpoint c = SafetensorsCheckpoint::open(dir_.string());
  ASSERT_EQ(c.tensors().size(), 1u);
  ASSERT_NE(c.find("x"), nullptr);
  float v = 0;
  std::memcpy(&v, c.find("x")->tensor->data, 4);
  EXPECT_EQ(v, 3.0f);
}

TEST_F(SafetensorsFolder, ShardsFromTheIndex) {
  write("model-00002-of-00002.safetensors", one_tensor("b", 2.0f));
  write("model-00001-of-00002.safetensors", one_tensor("a", 1.0f));
  write_text("model.safetensors.index.json",
             R"({"metadata":{"total_size":8},"weight_map":{"b":"model-00002-of-00002.safetensors",)"
             R"("a":"model-00001-of-00002.safetensors"}})");
  const SafetensorsCheckpoint c = SafetensorsCheckpoint::open(dir_.string());
  ASSERT_EQ(c.files().size(), 2u);
  ASSERT_EQ(c.tensors().size(), 2u);
  EXPECT_EQ(c.tensors()[0].tensor->name, "a");  // files in name order
  EXPECT_EQ(c.tensors()[1].tensor->name, "b");
  EXPECT_EQ(fs::path(c.find("b")->file->path()).filename(), "model-00002-of-00002.safetensors");
}

TEST_F(SafetensorsFolder, MissingShardIsNamed) {
  write("model-00001-of-00002.safetensors", one_tensor("a", 1.0f));
  write_text("model.safetensors.index.json",
             R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
  const std::string msg = error_of();
  EXPECT_NE(msg.find("model-00002-of-00002.safetensors: missing shard"), std::string::npos) << msg;
}

TEST_F(SafetensorsFolder, IndexAndShardsMustAgree) {
  write("model-00001-of-00001.safetensors", one_tensor("a", 1.0f));
  write_text("model.safetensors.index.json", R"({"weight_map":{"z":"model-00001-of-00001.safetensors"}})");
  std::string msg = error_of();
  EXPECT_NE(msg.find("tensor 'a' is not listed for this file"), std::string::npos) << msg;

  write_text("model.safetensors.index.json", R"({"weight_map":{"a":"../model-00001-of-00001.safetensors"}})");
  msg = error_of();
  EXPECT_NE(msg.find("expected the name of a file in the folder"), std::string::npos) << msg;

  write_text("model.safetensors.index.json", R"({"weight_map":[]})");
  msg = error_of();
  EXPECT_NE(msg.find("weight_map is missing or not an object"), std::string::npos) << msg;
}

TEST_F(SafetensorsFolder, TensorInTwoFiles) {
  write("model-1.safetensors", one_tensor("a", 1.0f));
  write("model-2.safetensors", one_tensor("a", 2.0f));
  const std::string msg = error_of();
  EXPECT_NE(msg.find("tensor 'a' is also in"), std::string::npos) << msg;
}

TEST_F(SafetensorsFolder, NoWeights) {
  std::string msg = error_of();
  EXPECT_NE(msg.find("missing model.safetensors"), std::string::npos) << msg;
  write_text("pytorch_model.bin", "x");
  msg = error_of();
  EXPECT_NE(msg.find("PyTorch .bin checkpoints are not supported"), std::string::npos) << msg;
}

TEST_F(SafetensorsFolder, BrokenFileIsNamed) {
  write("model.safetensors", Bytes{1, 2});
  const std::string msg = error_of();
  EXPECT_NE(msg.find("model.safetensors: file too small"), std::string::npos) << msg;
}

}  // namespace
}  // namespace ternion
