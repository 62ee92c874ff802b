// Typed getters, conversions, array access and display strings of GGUF values.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"

namespace ternion {
namespace {

using VT = GgufValueType;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

GgufArray numbers(VT type, int n) {
  GgufArray a;
  a.elem_type = type;
  for (int i = 0; i < n; ++i) a.push_int(i);
  return a;
}

class GgufGetters : public ::testing::Test {
 protected:
  void SetUp() override {
    GgufWriter w;
    w.set_string("name", "tiny");
    w.set_u32("count", 7);
    w.set("big", GgufValue::make_uint(VT::UINT64, std::numeric_limits<uint64_t>::max()));
    w.set("neg", GgufValue::make_int(VT::INT8, -3));
    w.set_f32("eps", 1e-6f);
    w.set("f64", GgufValue::make_float(VT::FLOAT64, 0.25));
    w.set_bool("flag", false);
    w.set("small", GgufValue::make_uint(VT::UINT8, 1));
    w.set_i32_array("ids", {5, 6});
    bytes_ = w.to_bytes();
    file_ = std::make_unique<GgufFile>(GgufFile::parse(bytes_, "m.gguf"));
  }
  std::vector<uint8_t> bytes_;
  std::unique_ptr<GgufFile> file_;
};

TEST_F(GgufGetters, IntAcceptsEveryIntegerType) {
  EXPECT_EQ(file_->get_int("count"), 7);
  EXPECT_EQ(file_->get_int("neg"), -3);
  EXPECT_EQ(file_->get_int("small"), 1);
  EXPECT_EQ(file_->get_int("absent"), std::nullopt);
}

TEST_F(GgufGetters, WrongTypeNamesKeyExpectedAndActual) {
  const GgufFile& f = *file_;
  EXPECT_EQ(error_of([&] { f.get_int("name"); }), "m.gguf: key 'name': expected an integer, got string");
  EXPECT_EQ(error_of([&] { f.get_int("eps"); }), "m.gguf: key 'eps': expected an integer, got float32");
  EXPECT_EQ(error_of([&] { f.get_int("big"); }), "m.gguf: key 'big': value 18446744073709551615 does not fit int64");
  EXPECT_EQ(error_of([&] { f.get_float("name"); }), "m.gguf: key 'name': expected a number, got string");
  EXPECT_EQ(error_of([&] { f.get_bool("small"); }), "m.gguf: key 'small': expected a bool, got uint8");
  EXPECT_EQ(error_of([&] { f.get_string("count"); }), "m.gguf: key 'count': expected a string, got uint32");
  EXPECT_EQ(error_of([&] { f.get_array("flag"); }), "m.gguf: key 'flag': expected an array, got bool");
}

TEST_F(GgufGetters, FloatAcceptsFloatsAndIntegers) {
  EXPECT_EQ(file_->get_float("eps"), static_cast<double>(1e-6f));
  EXPECT_EQ(file_->get_float("f64"), 0.25);
  EXPECT_EQ(file_->get_float("count"), 7.0);
  EXPECT_EQ(file_->get_float("neg"), -3.0);
  EXPECT_EQ(file_->get_float("absent"), std::nullopt);
}

TEST_F(GgufGetters, OthersReturnValuesOrNothing) {
  EXPECT_EQ(file_->get_bool("flag"), false);
  EXPECT_EQ(file_->get_string("name"), "tiny");
  ASSERT_NE(file_->get_array("ids"), nullptr);
  EXPECT_EQ(file_->get_array("ids")->int_at(1), 6);
  EXPECT_EQ(file_->get_array("absent"), nullptr);
  EXPECT_EQ(file_->get_string("absent"), std::nullopt);
  EXPECT_EQ(file_->get_bool("absent"), std::nullopt);
}

TEST(GgufValue, Conversions) {
  EXPECT_TRUE(GgufValue::make_uint(VT::UINT16, 3).is_integer());
  EXPECT_TRUE(GgufValue::make_float(VT::FLOAT32, 3).is_number());
  EXPECT_FALSE(GgufValue::make_float(VT::FLOAT32, 3).is_integer());
  EXPECT_FALSE(GgufValue::make_bool(true).is_number());
  EXPECT_EQ(GgufValue::make_int(VT::INT64, 5).as_uint(), 5u);
  EXPECT_EQ(error_of([] { GgufValue::make_int(VT::INT64, -5).as_uint(); }), "expected an unsigned integer, got -5");
  EXPECT_EQ(GgufValue::make_float(VT::FLOAT32, 0.1).as_double(), static_cast<double>(0.1f));
  EXPECT_EQ(error_of([] { GgufValue::make_string("x").as_bool(); }), "expected a bool, got string");
  EXPECT_EQ(error_of([] { GgufValue::make_bool(true).as_string(); }), "expected a string, got bool");
}

TEST(GgufValue, ArrayAccess) {
  const GgufArray u8 = numbers(VT::UINT8, 3);
  EXPECT_EQ(u8.int_at(2), 2);
  EXPECT_EQ(u8.number_at(2), 2.0);
  EXPECT_EQ(error_of([&] { u8.int_at(3); }), "array index 3 out of range (3 items)");
  EXPECT_EQ(error_of([&] { u8.number_at(99); }), "array index 99 out of range (3 items)");
  GgufArray i16;
  i16.elem_type = VT::INT16;
  i16.push_int(-2);
  EXPECT_EQ(i16.int_at(0), -2);
  EXPECT_EQ(i16.number_at(0), -2.0);
  GgufArray f32;
  f32.elem_type = VT::FLOAT32;
  f32.push_float(1.5);
  EXPECT_EQ(f32.number_at(0), 1.5);
  EXPECT_EQ(error_of([&] { f32.int_at(0); }), "expected an array of integers, got an array of float32");
  GgufArray strs;
  strs.elem_type = VT::STRING;
  strs.push_string("a");
  EXPECT_EQ(error_of([&] { strs.number_at(0); }), "expected an array of numbers, got an array of string");
  EXPECT_EQ(error_of([&] { strs.push_int(1); }), "cannot add an integer to an array of string");
  EXPECT_EQ(error_of([&] { i16.push_int(40000); }), "value 40000 does not fit int16");
  EXPECT_EQ(error_of([&] { i16.push_bool(true); }), "cannot add a bool to an array of int16");
}

TEST(GgufValue, DisplayScalars) {
  EXPECT_EQ(GgufValue::make_uint(VT::UINT32, 4096).to_display_string(), "4096");
  EXPECT_EQ(GgufValue::make_int(VT::INT32, -1).to_display_string(), "-1");
  EXPECT_EQ(GgufValue::make_float(VT::FLOAT32, 1e-5).to_display_string(), "1e-05");
  EXPECT_EQ(GgufValue::make_float(VT::FLOAT32, 10000.0).to_display_string(), "10000");
  EXPECT_EQ(GgufValue::make_float(VT::FLOAT64, 0.1).to_display_string(), "0.1");
  EXPECT_EQ(GgufValue::make_bool(true).to_display_string(), "true");
  EXPECT_EQ(GgufValue::make_string("llama").to_display_string(), "\"llama\"");
  EXPECT_EQ(GgufValue::make_string("a\"b\\c\nd").to_display_string(), "\"a\\\"b\\\\c\\nd\"");
  const std::string long_text(200, 'x');
  EXPECT_EQ(GgufValue::make_string(long_text).to_display_string(), "\"" + std::string(64, 'x') + "...\"");
}

TEST(GgufValue, DisplayArrays) {
  EXPECT_EQ(GgufValue::make_array(numbers(VT::INT32, 3)).to_display_string(), "[0, 1, 2]");
  EXPECT_EQ(GgufValue::make_array(numbers(VT::INT32, 10)).to_display_string(),
            "[0, 1, 2, 3, 4, 5, 6, 7, ... (10 items)]");
  EXPECT_EQ(GgufValue::make_array(numbers(VT::UINT64, 10)).to_display_string(3), "[0, 1, 2, ... (10 items)]");
  EXPECT_EQ(GgufValue::make_array(numbers(VT::INT8, 10)).to_display_string(0), "[... (10 items)]");
  GgufArray empty;
  empty.elem_type = VT::FLOAT32;
  EXPECT_EQ(GgufValue::make_array(empty).to_display_string(), "[]");
  GgufArray strs;
  strs.elem_type = VT::STRING;
  for (const char* s : {"<unk>", "<s>", "\n", "Ġthe"}) strs.push_string(s);
  EXPECT_EQ(GgufValue::make_array(strs).to_display_string(3), "[\"<unk>\", \"<s>\", \"\\n\", ... (4 items)]");
  GgufArray bools;
  bools.elem_type = VT::BOOL;
  bools.push_bool(false);
  bools.push_bool(true);
  EXPECT_EQ(GgufValue::make_array(bools).to_display_string(), "[false, true]");
  GgufArray floats;
  floats.elem_type = VT::FLOAT32;
  floats.push_float(-0.5);
  floats.push_float(1e-6);
  EXPECT_EQ(GgufValue::make_array(floats).to_display_string(), "[-0.5, 1e-06]");
  GgufArray outer;
  outer.elem_type = VT::ARRAY;
  outer.push_array(numbers(VT::INT32, 2));
  outer.push_array(numbers(VT::INT32, 12));
  EXPECT_EQ(GgufValue::make_array(outer).to_display_string(2), "[[0, 1], [0, 1, ... (12 items)]]");
}

TEST(GgufEscape, KeepsTextSafeOnOneLine) {
  EXPECT_EQ(gguf_escape("plain.key"), "plain.key");
  EXPECT_EQ(gguf_escape("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(gguf_escape(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(gguf_escape("\x7f"), "\\x7f");
  EXPECT_EQ(gguf_escape("héllo ✓ 😀"), "héllo ✓ 😀");                               // valid UTF-8 is kept
  EXPECT_EQ(gguf_escape("\xff\xc3"), "\\xff\\xc3");                               // invalid bytes are escaped
  EXPECT_EQ(gguf_escape("\xc2\x85 \xe2\x80\xa8"), "\\xc2\\x85 \\xe2\\x80\\xa8");  // NEL, LINE SEPARATOR
  EXPECT_EQ(gguf_escape("\xed\xa0\x80"), "\\xed\\xa0\\x80");                      // a surrogate
  EXPECT_EQ(gguf_escape("abcdef", 3), "abc...");
  EXPECT_EQ(gguf_escape("ab✓", 3), "ab...");  // never half a character
}

TEST(GgufTypes, NamesAndSizes) {
  EXPECT_EQ(gguf_type_name(VT::UINT8), "uint8");
  EXPECT_EQ(gguf_type_name(VT::FLOAT64), "float64");
  EXPECT_EQ(gguf_type_name(static_cast<VT>(99)), "unknown");
  EXPECT_TRUE(gguf_type_valid(12));
  EXPECT_FALSE(gguf_type_valid(13));
  EXPECT_EQ(gguf_type_size(VT::INT16), 2u);
  EXPECT_EQ(gguf_type_size(VT::FLOAT64), 8u);
  EXPECT_EQ(gguf_type_size(VT::STRING), 0u);
}

}  // namespace
}  // namespace ternion
