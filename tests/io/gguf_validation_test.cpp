// The GGUF validator: one test per rule. Each builds a valid file (GgufWriter, or bytes assembled by hand)
// and breaks one thing; parse must throw one single-line Error "<file>: <problem>" naming what is wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"

namespace ternion {
namespace {

using VT = GgufValueType;
using Bytes = std::vector<uint8_t>;

constexpr char kName[] = "bad.gguf";

// Little-endian byte assembly for files the writer would never produce.
struct Asm {
  Bytes b;
  Asm& u8(uint8_t v) { return le(v, 1); }
  Asm& u32(uint32_t v) { return le(v, 4); }
  Asm& u64(uint64_t v) { return le(v, 8); }
  Asm& str(std::string_view s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Asm& le(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Asm& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b = {'G', 'G', 'U', 'F'};
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Asm& pad(size_t alignment) {
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
};

void put_le(Bytes& b, size_t pos, uint64_t v, size_t n) {
  ASSERT_LE(pos + n, b.size());
  for (size_t i = 0; i < n; ++i) b[pos + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Position just after the first gguf string equal to `s` (its u64 length and bytes).
size_t after_string(const Bytes& b, std::string_view s) {
  Bytes needle;
  for (size_t i = 0; i < 8; ++i) needle.push_back(static_cast<uint8_t>(static_cast<uint64_t>(s.size()) >> (8 * i)));
  needle.insert(needle.end(), s.begin(), s.end());
  const auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  EXPECT_NE(it, b.end()) << "string not found: " << s;
  return static_cast<size_t>(it - b.begin()) + needle.size();
}

// Offsets of the fields of a tensor info, found by its name.
struct TensorInfoPos {
  size_t n_dims, ne0, type, offset;
};
TensorInfoPos tensor_info(const Bytes& b, std::string_view name, uint32_t n_dims) {
  const size_t p = after_string(b, name);
  return {p, p + 4, p + 4 + 8 * n_dims, p + 4 + 8 * n_dims + 4};
}

std::vector<uint8_t> zeros(size_t n) { return std::vector<uint8_t>(n, 0); }

// A valid file: a few keys and three tensors (F32 [16], Q4_0 [64, 2], F16 [8, 4]).
Bytes valid_file(uint64_t alignment = 32) {
  GgufWriter w;
  w.set_string("general.architecture", "test");
  w.set_u32("k1", 1);
  w.set_u32("k2", 2);
  w.set_bool("flag", true);
  w.set_string_array("strings", {"a", "b", "c"});
  w.set_i32_array("ints", {1, 2, 3});
  w.add_tensor("t1", {16}, DType::F32, zeros(64));
  w.add_tensor("t2", {64, 2}, DType::Q4_0, zeros(72));
  w.add_tensor("t3", {8, 4}, DType::F16, zeros(64));
  return w.to_bytes(alignment);
}

void expect_error(const Bytes& bytes, std::initializer_list<std::string_view> words) {
  try {
    GgufFile::parse(bytes, kName);
    ADD_FAILURE() << "parse succeeded; expected an error with: " << *words.begin();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(std::string(kName) + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\r'), std::string::npos) << msg;
    for (const std::string_view w : words) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' not in: " << msg;
  }
}

TEST(GgufValidation, ValidFileParses) {
  const Bytes b = valid_file();
  const GgufFile f = GgufFile::parse(b, kName);
  EXPECT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.metadata().size(), 6u);
}

TEST(GgufValidation, BadMagic) {
  Bytes b = valid_file();
  b[0] = 'X';
  expect_error(b, {"bad magic", "XGUF", "not a GGUF file"});
  expect_error(Bytes{'G', 'G'}, {"too small"});
  expect_error(Bytes{}, {"too small"});
}

TEST(GgufValidation, UnsupportedVersions) {
  Bytes b = valid_file();
  put_le(b, 4, 1, 4);
  expect_error(b, {"unsupported version 1"});
  put_le(b, 4, 4, 4);
  expect_error(b, {"unsupported version 4"});
  put_le(b, 4, 0, 4);
  expect_error(b, {"unsupported version 0"});
}

TEST(GgufValidation, ByteSwappedVersionSaysSo) {
  Bytes b = valid_file();
  put_le(b, 4, 0x03000000, 4);
  expect_error(b, {"byte-swapped", "0x03000000", "little-endian"});
  put_le(b, 4, 0x02000000, 4);
  expect_error(b, {"byte-swapped"});
}

TEST(GgufValidation, Version2IsAccepted) {
  Bytes b = valid_file();
  put_le(b, 4, 2, 4);
  EXPECT_EQ(GgufFile::parse(b, kName).version(), 2u);
}

TEST(GgufValidation, TruncatedHeaderFields) {
  expect_error(Bytes{'G', 'G', 'U', 'F', 3, 0}, {"version", "past the end"});
  Asm a;
  a.header(0, 0);
  a.b.resize(12);
  expect_error(a.b, {"n_tensors", "past the end"});
}

TEST(GgufValidation, AbsurdCounts) {
  Bytes b = valid_file();
  put_le(b, 8, 1'000'000'000'000, 8);
  expect_error(b, {"n_tensors 1000000000000", "could hold"});
  put_le(b, 8, std::numeric_limits<uint64_t>::max(), 8);
  expect_error(b, {"n_tensors", "could hold"});
  b = valid_file();
  put_le(b, 16, 1'000'000'000, 8);
  expect_error(b, {"n_kv 1000000000", "could hold"});
  // Each count alone fits, the two together do not.
  Asm a;
  a.header(0, 0);
  a.b.resize(24 + 100, 0);
  put_le(a.b, 8, 3, 8);   // 3 tensors × 32 bytes
  put_le(a.b, 16, 3, 8);  // + 3 keys × 13 bytes > 100
  expect_error(a.b, {"n_kv 3 and n_tensors 3", "could hold"});
}

TEST(GgufValidation, AbsurdArrayCounts) {
  for (const char* key : {"strings", "ints"}) {
    SCOPED_TRACE(key);
    Bytes b = valid_file();
    const size_t count_pos = after_string(b, key) + 4 + 4;  // value type, element type
    put_le(b, count_pos, 1ull << 40, 8);
    expect_error(b, {"could hold", key});
    put_le(b, count_pos, std::numeric_limits<uint64_t>::max(), 8);
    expect_error(b, {"could hold", key});
  }
  // An array of arrays: each element needs at least 12 bytes.
  Asm a;
  a.header(0, 1).str("nested").u32(9).u32(9).u64(10);
  for (int i = 0; i < 9; ++i) a.u32(0).u64(0);
  expect_error(a.b, {"nested", "count 10", "could hold"});
}

TEST(GgufValidation, StringLengthsPastTheEnd) {
  expect_error(Asm().header(0, 1).u64(1000).u8('k').u32(0).u8(0).b, {"key length 1000", "past the end"});
  Bytes b = valid_file();
  const size_t len_pos = after_string(b, "general.architecture") + 4;
  put_le(b, len_pos, 1ull << 62, 8);
  expect_error(b, {"general.architecture", "string value length 4611686018427387904", "past the end"});
  b = valid_file();
  const size_t elem_pos = after_string(b, "strings") + 4 + 4 + 8;  // value type, element type, count
  put_le(b, elem_pos + 9, 5000, 8);                                // the second string ("b")
  expect_error(b, {"strings", "array element 1", "past the end"});
  b = valid_file();
  const size_t name_pos = after_string(b, "t2") - 10;  // the tensor name's length field
  put_le(b, name_pos, 1ull << 50, 8);
  expect_error(b, {"tensor name length", "past the end"});
}

TEST(GgufValidation, DuplicateKeys) {
  Bytes b = valid_file();
  b[after_string(b, "k2") - 1] = '1';
  expect_error(b, {"key 'k1'", "duplicate key"});
}

TEST(GgufValidation, EmptyKey) { expect_error(Asm().header(0, 1).str("").u32(0).u8(0).b, {"empty key"}); }

TEST(GgufValidation, DuplicateTensorNames) {
  Bytes b = valid_file();
  b[after_string(b, "t3") - 1] = '1';
  expect_error(b, {"tensor 't1'", "duplicate tensor name"});
}

TEST(GgufValidation, NDimsOutOfRange) {
  Bytes b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t1", 1);
  put_le(b, t.n_dims, 0, 4);
  expect_error(b, {"tensor 't1'", "n_dims 0"});
  put_le(b, t.n_dims, 5, 4);
  expect_error(b, {"tensor 't1'", "n_dims 5"});
  put_le(b, t.n_dims, 0xFFFFFFFF, 4);
  expect_error(b, {"tensor 't1'", "n_dims 4294967295"});
}

TEST(GgufValidation, ZeroDimensionAllowedNegativeNot) {
  Bytes b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t3", 2);
  put_le(b, t.ne0 + 8, 0, 8);  // [8, 0]: empty
  const GgufFile f = GgufFile::parse(b, kName);
  EXPECT_EQ(f.find_tensor("t3")->n_elements, 0u);
  EXPECT_EQ(f.find_tensor("t3")->n_bytes, 0u);
  put_le(b, t.ne0 + 8, static_cast<uint64_t>(-4), 8);
  expect_error(b, {"tensor 't3'", "ne[1]", "negative (-4)"});
}

TEST(GgufValidation, ElementCountOverflow) {
  Bytes b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t3", 2);
  put_le(b, t.ne0, 1ull << 32, 8);
  put_le(b, t.ne0 + 8, 1ull << 31, 8);
  expect_error(b, {"tensor 't3'", "more elements than fit in int64"});
  put_le(b, t.ne0, 8, 8);
  put_le(b, t.ne0 + 8, 1ull << 58, 8);  // 2^61 elements (2^62 bytes) fit int64, but not the file
  expect_error(b, {"tensor 't3'", "past the end"});
}

TEST(GgufValidation, ByteSizeOverflow) {
  Bytes b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t3", 2);
  put_le(b, t.ne0, 1ull << 32, 8);  // F16: 2^62 elements fit int64, their 2^63 bytes do not
  put_le(b, t.ne0 + 8, 1ull << 30, 8);
  expect_error(b, {"tensor 't3'", "byte size beyond int64"});
}

TEST(GgufValidation, RowLengthNotMultipleOfBlock) {
  Bytes b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t2", 2);
  put_le(b, t.ne0, 48, 8);
  expect_error(b, {"tensor 't2'", "row length ne[0] = 48", "Q4_0 block size 32"});
}

// Rows longer than kGgufMaxRowLength (what the overflow proofs of proofs/ assume) are refused; the longest is not.
TEST(GgufValidation, RowLengthLimit) {
  Bytes b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t2", 2);
  put_le(b, t.ne0, kGgufMaxRowLength + 32, 8);
  expect_error(b, {"tensor 't2'", "row length ne[0] = 16777248", "longer than the supported 16777216"});
  put_le(b, t.ne0, kGgufMaxRowLength, 8);  // accepted as a shape; only its data is missing
  expect_error(b, {"tensor 't2'", "past the end"});
}

TEST(GgufValidation, UnknownTensorType) {
  Bytes b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t1", 1);
  put_le(b, t.type, 99, 4);
  expect_error(b, {"tensor 't1'", "unknown tensor type id 99"});
  put_le(b, t.type, 4, 4);  // Q4_2, removed from ggml long ago
  expect_error(b, {"tensor 't1'", "unknown tensor type id 4"});
}

TEST(GgufValidation, UnknownValueTypes) {
  Bytes b = valid_file();
  put_le(b, after_string(b, "k1"), 13, 4);
  expect_error(b, {"key 'k1'", "unknown value type 13"});
  b = valid_file();
  put_le(b, after_string(b, "ints") + 4, 0x80000000u, 4);
  expect_error(b, {"key 'ints'", "unknown array element type 2147483648"});
}

TEST(GgufValidation, BoolsMustBeZeroOrOne) {
  Bytes b = valid_file();
  b[after_string(b, "flag") + 4] = 2;
  expect_error(b, {"key 'flag'", "bool value 2 is not 0 or 1"});
  expect_error(Asm().header(0, 1).str("bools").u32(9).u32(7).u64(3).u8(1).u8(0).u8(0xFF).b,
               {"key 'bools'", "array element 2", "bool value 255"});
}

TEST(GgufValidation, OffsetNotMultipleOfAlignment) {
  Bytes b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t2", 2);
  put_le(b, t.offset, 68, 8);
  expect_error(b, {"tensor 't2'", "offset 68", "not a multiple of the alignment 32"});
  b = valid_file(64);
  put_le(b, tensor_info(b, "t2", 2).offset, 96, 8);
  expect_error(b, {"tensor 't2'", "offset 96", "alignment 64"});
}

TEST(GgufValidation, DataPastTheEnd) {
  Bytes b = valid_file();
  put_le(b, tensor_info(b, "t3", 2).offset, 4096, 8);
  expect_error(b, {"tensor 't3'", "past the end"});
  b = valid_file();
  put_le(b, tensor_info(b, "t1", 1).offset, std::numeric_limits<uint64_t>::max() - 31, 8);
  expect_error(b, {"tensor 't1'", "past the end"});
  b = valid_file();
  b.resize(b.size() - 1);  // inside t3
  expect_error(b, {"tensor 't3'", "past the end"});
  // The whole data section missing, padding included: the file ends with the tensor infos (57 bytes).
  expect_error(Asm().header(1, 0).str("w").u32(1).u64(4).u32(0).u64(0).b,
               {"data section at offset 64", "past the end of the file (57 bytes)"});
}

TEST(GgufValidation, OverlappingTensors) {
  Bytes b = valid_file();
  put_le(b, tensor_info(b, "t3", 2).offset, 64, 8);  // t2 is at [64, 136)
  expect_error(b, {"'t2'", "'t3'", "overlap"});
  // An empty tensor may sit anywhere.
  b = valid_file();
  const TensorInfoPos t = tensor_info(b, "t3", 2);
  put_le(b, t.ne0, 0, 8);
  put_le(b, t.offset, 64, 8);
  EXPECT_NO_THROW(GgufFile::parse(b, kName));
}

// A tiny file with general.alignment of the given type and one F32 [4] tensor at offset 0.
Bytes file_with_alignment(VT type, uint64_t value, uint64_t data_alignment) {
  Asm a;
  a.header(1, 1).str("general.alignment").u32(static_cast<uint32_t>(type));
  if (type == VT::STRING) {
    a.str("32");
  } else {
    a.le(value, gguf_type_size(type));
  }
  a.str("w").u32(1).u64(4).u32(0).u64(0);
  a.pad(data_alignment);
  a.b.insert(a.b.end(), 16, 0);
  return a.b;
}

TEST(GgufValidation, AlignmentRules) {
  for (const VT type : {VT::UINT8, VT::UINT16, VT::UINT32, VT::UINT64, VT::INT16, VT::INT32, VT::INT64}) {
    SCOPED_TRACE(gguf_type_name(type));
    const Bytes b = file_with_alignment(type, 64, 64);
    const GgufFile f = GgufFile::parse(b, kName);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.data_offset() % 64, 0u);
  }
  expect_error(file_with_alignment(VT::UINT32, 0, 32), {"general.alignment", "must not be 0"});
  expect_error(file_with_alignment(VT::UINT32, 48, 48), {"general.alignment", "48 is not a power of two"});
  expect_error(file_with_alignment(VT::INT32, static_cast<uint32_t>(-32), 32),
               {"general.alignment", "-32", "negative"});
  expect_error(file_with_alignment(VT::STRING, 0, 32),
               {"general.alignment", "expected an unsigned integer, got string"});
  expect_error(file_with_alignment(VT::FLOAT32, 0, 32), {"general.alignment", "got float32"});
  // A huge power of two: the data section would start past the end of the file.
  expect_error(file_with_alignment(VT::UINT64, 1ull << 63, 32), {"past the end"});
  // Alignment 1 packs data right after the header.
  const Bytes b = file_with_alignment(VT::UINT8, 1, 1);
  EXPECT_EQ(GgufFile::parse(b, kName).data_offset(), b.size() - 16);
}

TEST(GgufValidation, NestingDepthIsCapped) {
  const auto nested = [](int levels) {
    Asm a;
    a.header(0, 1).str("deep").u32(9);
    for (int i = 0; i < levels - 1; ++i) a.u32(9).u64(1);
    a.u32(4).u64(1).u32(7);  // innermost: one uint32
    return a.b;
  };
  const Bytes ok = nested(8);
  EXPECT_NO_THROW(GgufFile::parse(ok, kName));
  expect_error(nested(9), {"key 'deep'", "nested deeper than 8"});
  expect_error(nested(100000), {"key 'deep'", "nested deeper than 8"});  // and no stack overflow
}

TEST(GgufValidation, MessagesAreOneLineWithEscapedNames) {
  const std::string key = "evil\nkey\r\x1b[31m\"";
  expect_error(Asm().header(0, 2).str(key).u32(0).u8(0).str(key).u32(0).u8(0).b,
               {"duplicate key", "evil\\nkey\\r\\x1b[31m\\\""});
  const std::string long_key(5000, 'k');
  try {
    GgufFile::parse(Asm().header(0, 1).str(long_key).u32(77).u8(0).b, kName);
    FAIL();
  } catch (const Error& e) {
    EXPECT_LT(std::strlen(e.what()), 200u) << e.what();
    EXPECT_NE(std::string(e.what()).find("kkk..."), std::string::npos) << e.what();
  }
  // Tensor names too.
  Bytes b = valid_file();
  b[after_string(b, "t1") - 1] = '\n';
  put_le(b, tensor_info(b, "t\n", 1).type, 99, 4);
  expect_error(b, {"tensor 't\\n'", "unknown tensor type id 99"});
}

TEST(GgufValidation, VocabOnlyFileMayEndUnpadded) {
  const Bytes b = Asm().header(0, 1).str("general.architecture").u32(8).str("x").b;
  const GgufFile f = GgufFile::parse(b, kName);
  EXPECT_EQ(f.get_string("general.architecture"), "x");
  EXPECT_EQ(f.data_offset(), b.size());
}

// Cut anywhere, a valid file without trailing padding must be refused.
TEST(GgufValidation, EveryTruncationThrows) {
  const Bytes b = valid_file();
  const GgufFile f = GgufFile::parse(b, kName);
  ASSERT_EQ(f.data_offset() + 64 + 96 + 64, b.size());  // t3 ends the file: no trailing padding
  for (size_t n = 0; n < b.size(); ++n) {
    EXPECT_THROW(GgufFile::parse(std::span<const uint8_t>(b.data(), n), kName), Error) << "cut at " << n;
  }
}

}  // namespace
}  // namespace ternion
