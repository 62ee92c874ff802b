// GgufWriter → GgufFile round trips: every value type (nested arrays included), tensors and alignment,
// and the writer's own refusals.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"

namespace ternion {
namespace {

using VT = GgufValueType;

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start = 1) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(start + i * 7);
  return v;
}

GgufArray int_array(VT type, std::initializer_list<int64_t> values) {
  GgufArray a;
  a.elem_type = type;
  for (const int64_t v : values) a.push_int(v);
  return a;
}

// One of every scalar type at its extremes, and arrays of every element type.
GgufWriter writer_with_every_type() {
  GgufWriter w;
  w.set("u8", GgufValue::make_uint(VT::UINT8, 255));
  w.set("i8", GgufValue::make_int(VT::INT8, -128));
  w.set("u16", GgufValue::make_uint(VT::UINT16, 65535));
  w.set("i16", GgufValue::make_int(VT::INT16, -32768));
  w.set_u32("u32", 4294967295u);
  w.set_i32("i32", std::numeric_limits<int32_t>::min());
  w.set_f32("f32", 1e-5f);
  w.set_bool("bool", true);
  w.set_string("string", "héllo\nworld");
  w.set("u64", GgufValue::make_uint(VT::UINT64, std::numeric_limits<uint64_t>::max()));
  w.set("i64", GgufValue::make_int(VT::INT64, std::numeric_limits<int64_t>::min()));
  w.set("f64", GgufValue::make_float(VT::FLOAT64, 3.141592653589793));
  w.set_string("empty", "");

  w.set("arr.u8", GgufValue::make_array(int_array(VT::UINT8, {0, 1, 255})));
  w.set("arr.i8", GgufValue::make_array(int_array(VT::INT8, {-128, 0, 127})));
  w.set("arr.u16", GgufValue::make_array(int_array(VT::UINT16, {65535, 2})));
  w.set("arr.i16", GgufValue::make_array(int_array(VT::INT16, {-32768, 32767})));
  w.set("arr.u32", GgufValue::make_array(int_array(VT::UINT32, {4294967295, 0})));
  w.set_i32_array("arr.i32", {-1, 0, 1, 2147483647});
  w.set_f32_array("arr.f32", {0.5f, -2.25f, 1e-5f});
  GgufArray bools;
  bools.elem_type = VT::BOOL;
  bools.push_bool(true);
  bools.push_bool(false);
  w.set("arr.bool", GgufValue::make_array(bools));
  w.set_string_array("arr.string", {"a", "", "ĠTheir", std::string("nul\0in", 6)});
  GgufArray u64s;
  u64s.elem_type = VT::UINT64;
  u64s.push_uint(std::numeric_limits<uint64_t>::max());
  w.set("arr.u64", GgufValue::make_array(u64s));
  w.set("arr.i64", GgufValue::make_array(int_array(VT::INT64, {std::numeric_limits<int64_t>::min(), 5})));
  GgufArray f64s;
  f64s.elem_type = VT::FLOAT64;
  f64s.push_float(1.0 / 3.0);
  w.set("arr.f64", GgufValue::make_array(f64s));
  GgufArray empty;
  empty.elem_type = VT::STRING;
  w.set("arr.empty", GgufValue::make_array(empty));

  // [[1, 2], [], [[\"x\"]]] is not expressible (elements share one type), so: [[[1, 2], [3]], [[4]]] and
  // an array of arrays of strings.
  GgufArray inner_a = int_array(VT::INT32, {1, 2});
  GgufArray inner_b = int_array(VT::INT32, {3});
  GgufArray inner_c = int_array(VT::INT32, {4});
  GgufArray mid_1, mid_2, outer;
  mid_1.elem_type = mid_2.elem_type = outer.elem_type = VT::ARRAY;
  mid_1.push_array(inner_a);
  mid_1.push_array(inner_b);
  mid_2.push_array(inner_c);
  outer.push_array(mid_1);
  outer.push_array(mid_2);
  w.set("arr.nested", GgufValue::make_array(outer));
  GgufArray strs;
  strs.elem_type = VT::STRING;
  strs.push_string("p");
  strs.push_string("q");
  GgufArray of_strs;
  of_strs.elem_type = VT::ARRAY;
  of_strs.push_array(strs);
  w.set("arr.nested_strings", GgufValue::make_array(of_strs));
  return w;
}

TEST(GgufWriter, RoundTripsEveryValueType) {
  const std::vector<uint8_t> bytes = writer_with_every_type().to_bytes();
  const GgufFile f = GgufFile::parse(bytes, "mem");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.find("general.alignment"), nullptr);  // the default is not written
  EXPECT_EQ(f.metadata().size(), 28u);
  EXPECT_EQ(f.metadata()[0].first, "u8");  // file order is kept

  EXPECT_EQ(f.find("u8")->type, VT::UINT8);
  EXPECT_EQ(f.get_int("u8"), 255);
  EXPECT_EQ(f.get_int("i8"), -128);
  EXPECT_EQ(f.get_int("u16"), 65535);
  EXPECT_EQ(f.get_int("i16"), -32768);
  EXPECT_EQ(f.get_int("u32"), 4294967295);
  EXPECT_EQ(f.get_int("i32"), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(f.get_float("f32"), static_cast<double>(1e-5f));
  EXPECT_EQ(f.get_bool("bool"), true);
  EXPECT_EQ(f.get_string("string"), "héllo\nworld");
  EXPECT_EQ(f.find("u64")->as_uint(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_float("f64"), 3.141592653589793);
  EXPECT_EQ(f.get_string("empty"), "");

  EXPECT_EQ(f.get_array("arr.u8")->int_at(2), 255);
  EXPECT_EQ(f.get_array("arr.i8")->int_at(0), -128);
  EXPECT_EQ(f.get_array("arr.u16")->int_at(0), 65535);
  EXPECT_EQ(f.get_array("arr.i16")->int_at(0), -32768);
  EXPECT_EQ(f.get_array("arr.u32")->int_at(0), 4294967295);
  const GgufArray* i32 = f.get_array("arr.i32");
  ASSERT_EQ(i32->count, 4u);
  EXPECT_EQ(i32->int_at(0), -1);
  EXPECT_EQ(i32->int_at(3), 2147483647);
  EXPECT_EQ(f.get_array("arr.f32")->number_at(1), -2.25);
  EXPECT_EQ(f.get_array("arr.bool")->number_at(0), 1.0);
  EXPECT_EQ(f.get_array("arr.bool")->number_at(1), 0.0);
  EXPECT_EQ(f.get_array("arr.string")->strings,
            (std::vector<std::string>{"a", "", "ĠTheir", std::string("nul\0in", 6)}));
  EXPECT_THROW(f.get_array("arr.u64")->int_at(0), Error);  // does not fit int64
  EXPECT_EQ(f.get_array("arr.u64")->number_at(0), 18446744073709551615.0);
  EXPECT_EQ(f.get_array("arr.i64")->int_at(0), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_array("arr.f64")->number_at(0), 1.0 / 3.0);
  EXPECT_EQ(f.get_array("arr.empty")->count, 0u);

  const GgufArray* nested = f.get_array("arr.nested");
  ASSERT_EQ(nested->count, 2u);
  const GgufArray& mid_1 = nested->arrays[0].as_array();
  ASSERT_EQ(mid_1.count, 2u);
  EXPECT_EQ(mid_1.arrays[0].as_array().int_at(1), 2);
  EXPECT_EQ(mid_1.arrays[1].as_array().int_at(0), 3);
  EXPECT_EQ(nested->arrays[1].as_array().arrays[0].as_array().int_at(0), 4);
  EXPECT_EQ(f.find("arr.nested")->to_display_string(), "[[[1, 2], [3]], [[4]]]");
  EXPECT_EQ(f.get_array("arr.nested_strings")->arrays[0].as_array().strings[1], "q");

  // Writing what was read gives the same bytes.
  GgufWriter again;
  for (const auto& [key, value] : f.metadata()) again.set(key, value);
  EXPECT_TRUE(again.to_bytes() == bytes);
}

TEST(GgufWriter, TensorsAreAlignedAndPadded) {
  for (const uint64_t alignment : {uint64_t{32}, uint64_t{1}, uint64_t{64}, uint64_t{4096}}) {
    SCOPED_TRACE(alignment);
    GgufWriter w;
    w.set_string("general.architecture", "test");
    const std::vector<uint8_t> a = iota_bytes(3 * 5 * 4);
    const std::vector<uint8_t> b = iota_bytes(2 * 18, 9);  // two Q4_0 blocks
    const std::vector<uint8_t> c = iota_bytes(7 * 2, 3);
    w.add_tensor("a", {3, 5}, DType::F32, a);
    w.add_tensor("b", {64}, DType::Q4_0, b);
    w.add_tensor("c", {7, 1, 1, 1}, DType::F16, c);
    w.add_tensor("empty", {0, 4}, DType::F32, {});
    const std::vector<uint8_t> bytes = w.to_bytes(alignment);
    EXPECT_EQ(bytes.size() % alignment, 0u);
    const GgufFile f = GgufFile::parse(bytes, "mem");
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.find("general.alignment") != nullptr, alignment != 32);
    if (alignment != 32) {
      EXPECT_EQ(f.find("general.alignment")->type, VT::UINT32);
    }
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), 4u);
    for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.offset % alignment, 0u) << t.name;
    const GgufTensorInfo* ta = f.find_tensor("a");
    EXPECT_EQ(ta->shape, (std::vector<uint64_t>{3, 5}));
    EXPECT_EQ(ta->n_elements, 15u);
    EXPECT_EQ(std::vector<uint8_t>(ta->data, ta->data + ta->n_bytes), a);
    const GgufTensorInfo* tb = f.find_tensor("b");
    EXPECT_EQ(tb->type, DType::Q4_0);
    EXPECT_EQ(tb->n_bytes, 36u);
    EXPECT_EQ(std::vector<uint8_t>(tb->data, tb->data + tb->n_bytes), b);
    const GgufTensorInfo* tc = f.find_tensor("c");
    EXPECT_EQ(tc->shape.size(), 4u);
    EXPECT_EQ(std::vector<uint8_t>(tc->data, tc->data + tc->n_bytes), c);
    EXPECT_EQ(f.find_tensor("empty")->n_bytes, 0u);
    // Tensor data is used in place: pointers into the caller's bytes.
    EXPECT_EQ(ta->data, bytes.data() + f.data_offset() + ta->offset);
  }
}

TEST(GgufWriter, WritesFilesThatOpenMapped) {
  const std::string path =
      (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_gguf_writer_test.gguf")).string();
  GgufWriter w;
  w.set_string("general.name", "tiny");
  const std::vector<uint8_t> data = iota_bytes(16 * 4);
  w.add_tensor("t", {16}, DType::F32, data);
  w.write(path, 64);
  {
    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.path(), path);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.get_string("general.name"), "tiny");
    const GgufTensorInfo* t = f.find_tensor("t");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(std::vector<uint8_t>(t->data, t->data + t->n_bytes), data);
    EXPECT_EQ(f.file_size(), w.to_bytes(64).size());
  }
  std::remove(path.c_str());
  EXPECT_THROW(w.write("/nonexistent-dir/x.gguf"), Error);
}

// A streamed tensor's bytes come from its producer at write time; the file equals one written from copies, and
// a producer that fails leaves no file behind.
TEST(GgufWriter, StreamedTensorsEqualCopiedOnes) {
  const std::vector<uint8_t> a = iota_bytes(16 * 4), b = iota_bytes(34 * 3);
  GgufWriter copied, streamed;
  for (GgufWriter* w : {&copied, &streamed}) w->set_u32("k", 7);
  copied.add_tensor("a", {16}, DType::F32, a);
  copied.add_tensor("b", {96}, DType::Q8_0, b);
  int calls = 0;
  streamed.add_streamed_tensor("a", {16}, DType::F32, [&](std::span<uint8_t> out) {
    ++calls;
    ASSERT_EQ(out.size(), a.size());
    std::copy(a.begin(), a.end(), out.begin());
  });
  streamed.add_streamed_tensor("b", {96}, DType::Q8_0, [&](std::span<uint8_t> out) {
    ++calls;
    ASSERT_EQ(out.size(), b.size());
    std::copy(b.begin(), b.end(), out.begin());
  });
  EXPECT_EQ(streamed.to_bytes(), copied.to_bytes());
  EXPECT_EQ(calls, 2);

  const std::string path =
      (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_gguf_streamed.gguf")).string();
  streamed.write(path);
  EXPECT_EQ(GgufFile::open(path).file_size(), copied.to_bytes().size());
  std::remove(path.c_str());

  GgufWriter failing;
  failing.add_streamed_tensor("x", {16}, DType::F32, [](std::span<uint8_t>) { throw Error("producer failed"); });
  EXPECT_THROW(failing.write(path), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_THROW(failing.add_streamed_tensor("y", {16}, DType::F32, {}), Error);
  EXPECT_THROW(failing.add_streamed_tensor("x", {16}, DType::F32, [](std::span<uint8_t>) {}), Error);  // duplicate
}

TEST(GgufWriter, RemoveDropsAKey) {
  GgufWriter w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.remove("a");
  w.remove("missing");
  w.set_u32("a", 3);
  const std::vector<uint8_t> bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse(bytes, "mem");
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "b");
  EXPECT_EQ(f.metadata()[1].first, "a");
}

TEST(GgufWriter, SetReplacesAndKeepsPosition) {
  GgufWriter w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_string("a", "now a string");
  const std::vector<uint8_t> bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse(bytes, "mem");
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "a");
  EXPECT_EQ(f.get_string("a"), "now a string");
}

TEST(GgufWriter, AlignmentArgumentWinsOverKey) {
  GgufWriter w;
  w.set("general.alignment", GgufValue::make_uint(VT::UINT64, 128));
  w.add_tensor("t", {1}, DType::F32, iota_bytes(4));
  const std::vector<uint8_t> bytes = w.to_bytes(16);
  const GgufFile f = GgufFile::parse(bytes, "mem");
  EXPECT_EQ(f.alignment(), 16u);
  EXPECT_EQ(f.find("general.alignment")->type, VT::UINT32);
  EXPECT_EQ(f.metadata().size(), 1u);
}

void expect_writer_error(const std::function<void()>& fn, const std::string& words) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one with: " << words;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(GgufWriter, RefusesWhatReadersWouldRefuse) {
  const std::vector<uint8_t> four = iota_bytes(4);
  expect_writer_error([&] { GgufWriter().add_tensor("t", {2}, DType::F32, four); }, "needs 8");
  expect_writer_error([&] { GgufWriter().add_tensor("t", {}, DType::F32, {}); }, "n_dims 0");
  expect_writer_error([&] { GgufWriter().add_tensor("t", {1, 1, 1, 1, 1}, DType::F32, four); }, "n_dims 5");
  expect_writer_error([&] { GgufWriter().add_tensor("t", {16}, DType::Q4_0, {}); }, "block size 32");
  expect_writer_error([&] { GgufWriter().add_tensor("", {1}, DType::F32, four); }, "empty name");
  expect_writer_error([&] { GgufWriter().add_tensor(std::string(64, 'x'), {1}, DType::F32, four); }, "longer than");
  expect_writer_error(
      [&] {
        GgufWriter w;
        w.add_tensor("t", {1}, DType::F32, four);
        w.add_tensor("t", {1}, DType::F32, four);
      },
      "duplicate tensor name");
  expect_writer_error([&] { GgufWriter().to_bytes(48); }, "alignment 48");
  expect_writer_error([&] { GgufWriter().to_bytes(0); }, "alignment 0");
  expect_writer_error([&] { GgufWriter().set("", GgufValue::make_bool(true)); }, "empty key");
  expect_writer_error([&] { GgufValue::make_uint(VT::UINT8, 256); }, "does not fit uint8");
  expect_writer_error([&] { GgufValue::make_int(VT::UINT32, -1); }, "does not fit uint32");
  expect_writer_error([&] { GgufValue::make_int(VT::INT8, 128); }, "does not fit int8");
  expect_writer_error([&] { GgufValue::make_float(VT::FLOAT32, 1e300); }, "does not fit float32");
  expect_writer_error([&] { GgufValue::make_uint(VT::STRING, 1); }, "not an integer type");

  // Hand-built values whose payload does not match their type.
  expect_writer_error(
      [&] {
        GgufWriter w;
        w.set("bad", GgufValue{VT::UINT8, uint64_t{300}});
        w.to_bytes();
      },
      "key 'bad': value 300 does not fit uint8");
  expect_writer_error(
      [&] {
        GgufWriter w;
        w.set("bad", GgufValue{VT::STRING, uint64_t{1}});
        w.to_bytes();
      },
      "expected a string");
  expect_writer_error(
      [&] {
        GgufArray a;
        a.elem_type = VT::UINT32;
        a.count = 2;
        a.raw = {1, 2, 3};
        GgufWriter w;
        w.set("bad", GgufValue::make_array(a));
        w.to_bytes();
      },
      "holds 3 bytes");
  expect_writer_error(
      [&] {
        GgufArray a;
        a.elem_type = VT::INT32;
        for (int i = 0; i < 9; ++i) {
          GgufArray outer;
          outer.elem_type = VT::ARRAY;
          outer.push_array(a);
          a = outer;
        }
        GgufWriter w;
        w.set("deep", GgufValue::make_array(a));
        w.to_bytes();
      },
      "nested deeper than 8");
}

TEST(GgufWriter, EightLevelsOfNestingRoundTrip) {
  GgufArray a = int_array(VT::INT32, {42});
  for (int i = 0; i < 7; ++i) {
    GgufArray outer;
    outer.elem_type = VT::ARRAY;
    outer.push_array(a);
    a = outer;
  }
  GgufWriter w;
  w.set("deep", GgufValue::make_array(a));
  const std::vector<uint8_t> bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse(bytes, "mem");
  EXPECT_EQ(f.find("deep")->to_display_string(), "[[[[[[[[42]]]]]]]]");
}

}  // namespace
}  // namespace ternion
