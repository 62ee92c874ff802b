// GGUF metadata values: type names, typed access, builders and display strings.
#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/core/escape.h"
#include "ternion/io/gguf.h"

namespace ternion {

namespace {

using VT = GgufValueType;

constexpr size_t kMaxDisplayString = 64;  // bytes of a string shown by to_display_string

// Array elements stay packed little-endian as in the file; decode them byte by byte so the host order never matters.
uint64_t load_le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

void store_le(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

bool is_unsigned_type(VT t) { return t == VT::UINT8 || t == VT::UINT16 || t == VT::UINT32 || t == VT::UINT64; }
bool is_signed_type(VT t) { return t == VT::INT8 || t == VT::INT16 || t == VT::INT32 || t == VT::INT64; }
bool is_float_type(VT t) { return t == VT::FLOAT32 || t == VT::FLOAT64; }

std::string type_label(VT t) {
  if (gguf_type_valid(static_cast<uint32_t>(t))) return std::string(gguf_type_name(t));
  return "type id " + std::to_string(static_cast<uint32_t>(t));
}

uint64_t unsigned_max(VT t) {
  const size_t bits = 8 * gguf_type_size(t);
  return bits >= 64 ? std::numeric_limits<uint64_t>::max() : (uint64_t{1} << bits) - 1;
}

int64_t signed_max(VT t) { return static_cast<int64_t>(unsigned_max(t) >> 1); }
int64_t signed_min(VT t) { return -signed_max(t) - 1; }

void check_uint_fits(VT t, uint64_t v) {
  if (is_unsigned_type(t) ? v > unsigned_max(t) : v > static_cast<uint64_t>(signed_max(t))) {
    throw Error("value " + std::to_string(v) + " does not fit " + type_label(t));
  }
}

void check_int_fits(VT t, int64_t v) {
  if (is_unsigned_type(t) ? (v < 0 || static_cast<uint64_t>(v) > unsigned_max(t))
                          : (v < signed_min(t) || v > signed_max(t))) {
    throw Error("value " + std::to_string(v) + " does not fit " + type_label(t));
  }
}

// FLOAT32 values are kept as the double of the float, so a written and re-read value compares equal.
double fit_float(VT t, double v) {
  if (t == VT::FLOAT64) return v;
  if (std::isfinite(v) && std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max())) {
    throw Error("value " + std::to_string(v) + " does not fit float32");
  }
  return static_cast<double>(static_cast<float>(v));
}

template <typename T>
std::string shortest(T v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

std::string display_number(VT t, double v) { return t == VT::FLOAT32 ? shortest(static_cast<float>(v)) : shortest(v); }

std::string display_string(const std::string& s) {
  std::string out = "\"";  // appended, not `"\"" + ...`, which trips g++ 12's -Wrestrict false positive
  out += gguf_escape(s, kMaxDisplayString);
  out += '"';
  return out;
}

}  // namespace

std::string_view gguf_type_name(GgufValueType t) {
  switch (t) {
    case VT::UINT8:
      return "uint8";
    case VT::INT8:
      return "int8";
    case VT::UINT16:
      return "uint16";
    case VT::INT16:
      return "int16";
    case VT::UINT32:
      return "uint32";
    case VT::INT32:
      return "int32";
    case VT::FLOAT32:
      return "float32";
    case VT::BOOL:
      return "bool";
    case VT::STRING:
      return "string";
    case VT::ARRAY:
      return "array";
    case VT::UINT64:
      return "uint64";
    case VT::INT64:
      return "int64";
    case VT::FLOAT64:
      return "float64";
  }
  return "unknown";
}

bool gguf_type_valid(uint32_t id) { return id <= static_cast<uint32_t>(VT::FLOAT64); }

size_t gguf_type_size(GgufValueType t) {
  switch (t) {
    case VT::UINT8:
    case VT::INT8:
    case VT::BOOL:
      return 1;
    case VT::UINT16:
    case VT::INT16:
      return 2;
    case VT::UINT32:
    case VT::INT32:
    case VT::FLOAT32:
      return 4;
    case VT::UINT64:
    case VT::INT64:
    case VT::FLOAT64:
      return 8;
    case VT::STRING:
    case VT::ARRAY:
      return 0;
  }
  return 0;
}

std::string gguf_escape(std::string_view s, size_t max_bytes) { return escape_text(s, max_bytes); }

// ---- GgufArray ----

double GgufArray::number_at(uint64_t i) const {
  if (i >= count)
    throw Error("array index " + std::to_string(i) + " out of range (" + std::to_string(count) + " items)");
  const size_t size = gguf_type_size(elem_type);
  if (size == 0) throw Error("expected an array of numbers, got an array of " + type_label(elem_type));
  if (raw.size() / size <= i) throw Error("malformed array: " + std::to_string(raw.size()) + " bytes of data");
  const uint64_t bits = load_le(raw.data() + i * size, size);
  switch (elem_type) {
    case VT::FLOAT32:
      return static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(bits)));
    case VT::FLOAT64:
      return std::bit_cast<double>(bits);
    case VT::BOOL:
      return bits != 0 ? 1.0 : 0.0;
    default:
      break;
  }
  if (is_signed_type(elem_type)) {
    const size_t shift = 64 - 8 * size;  // sign-extend
    return static_cast<double>(static_cast<int64_t>(bits << shift) >> shift);
  }
  return static_cast<double>(bits);
}

int64_t GgufArray::int_at(uint64_t i) const {
  if (!is_signed_type(elem_type) && !is_unsigned_type(elem_type)) {
    throw Error("expected an array of integers, got an array of " + type_label(elem_type));
  }
  if (i >= count)
    throw Error("array index " + std::to_string(i) + " out of range (" + std::to_string(count) + " items)");
  const size_t size = gguf_type_size(elem_type);
  if (raw.size() / size <= i) throw Error("malformed array: " + std::to_string(raw.size()) + " bytes of data");
  const uint64_t bits = load_le(raw.data() + i * size, size);
  if (is_signed_type(elem_type)) {
    const size_t shift = 64 - 8 * size;
    return static_cast<int64_t>(bits << shift) >> shift;
  }
  if (bits > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw Error("array element " + std::to_string(i) + " = " + std::to_string(bits) + " does not fit int64");
  }
  return static_cast<int64_t>(bits);
}

void GgufArray::push_uint(uint64_t v) {
  if (!is_signed_type(elem_type) && !is_unsigned_type(elem_type)) {
    throw Error("cannot add an integer to an array of " + type_label(elem_type));
  }
  check_uint_fits(elem_type, v);
  store_le(raw, v, gguf_type_size(elem_type));
  ++count;
}

void GgufArray::push_int(int64_t v) {
  if (!is_signed_type(elem_type) && !is_unsigned_type(elem_type)) {
    throw Error("cannot add an integer to an array of " + type_label(elem_type));
  }
  check_int_fits(elem_type, v);
  store_le(raw, static_cast<uint64_t>(v), gguf_type_size(elem_type));
  ++count;
}

void GgufArray::push_float(double v) {
  if (!is_float_type(elem_type)) throw Error("cannot add a float to an array of " + type_label(elem_type));
  const double f = fit_float(elem_type, v);
  if (elem_type == VT::FLOAT32) {
    store_le(raw, std::bit_cast<uint32_t>(static_cast<float>(f)), 4);
  } else {
    store_le(raw, std::bit_cast<uint64_t>(f), 8);
  }
  ++count;
}

void GgufArray::push_bool(bool v) {
  if (elem_type != VT::BOOL) throw Error("cannot add a bool to an array of " + type_label(elem_type));
  raw.push_back(v ? 1 : 0);
  ++count;
}

void GgufArray::push_string(std::string v) {
  if (elem_type != VT::STRING) throw Error("cannot add a string to an array of " + type_label(elem_type));
  strings.push_back(std::move(v));
  ++count;
}

void GgufArray::push_array(GgufArray v) {
  if (elem_type != VT::ARRAY) throw Error("cannot add an array to an array of " + type_label(elem_type));
  arrays.push_back(GgufValue::make_array(std::move(v)));
  ++count;
}

// ---- GgufValue ----

bool GgufValue::is_integer() const { return is_signed_type(type) || is_unsigned_type(type); }
bool GgufValue::is_number() const { return is_integer() || is_float_type(type); }

int64_t GgufValue::as_int() const {
  if (!is_integer()) throw Error("expected an integer, got " + type_label(type));
  if (const auto* s = std::get_if<int64_t>(&data)) return *s;
  if (const auto* u = std::get_if<uint64_t>(&data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error("value " + std::to_string(*u) + " does not fit int64");
    }
    return static_cast<int64_t>(*u);
  }
  throw Error("malformed " + type_label(type) + " value");
}

uint64_t GgufValue::as_uint() const {
  if (!is_integer()) throw Error("expected an unsigned integer, got " + type_label(type));
  if (const auto* u = std::get_if<uint64_t>(&data)) return *u;
  if (const auto* s = std::get_if<int64_t>(&data)) {
    if (*s < 0) throw Error("expected an unsigned integer, got " + std::to_string(*s));
    return static_cast<uint64_t>(*s);
  }
  throw Error("malformed " + type_label(type) + " value");
}

double GgufValue::as_double() const {
  if (!is_number()) throw Error("expected a number, got " + type_label(type));
  if (const auto* d = std::get_if<double>(&data)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&data)) return static_cast<double>(*u);
  if (const auto* s = std::get_if<int64_t>(&data)) return static_cast<double>(*s);
  throw Error("malformed " + type_label(type) + " value");
}

bool GgufValue::as_bool() const {
  const auto* b = std::get_if<bool>(&data);
  if (type != VT::BOOL || b == nullptr) throw Error("expected a bool, got " + type_label(type));
  return *b;
}

const std::string& GgufValue::as_string() const {
  const auto* s = std::get_if<std::string>(&data);
  if (type != VT::STRING || s == nullptr) throw Error("expected a string, got " + type_label(type));
  return *s;
}

const GgufArray& GgufValue::as_array() const {
  const auto* a = std::get_if<GgufArray>(&data);
  if (type != VT::ARRAY || a == nullptr) throw Error("expected an array, got " + type_label(type));
  return *a;
}

std::string GgufValue::to_display_string(size_t max_items) const {
  if (is_unsigned_type(type)) return std::to_string(as_uint());
  if (is_signed_type(type)) return std::to_string(as_int());
  if (is_float_type(type)) return display_number(type, as_double());
  if (type == VT::BOOL) return as_bool() ? "true" : "false";
  if (type == VT::STRING) return display_string(as_string());
  if (type != VT::ARRAY) return type_label(type).insert(0, 1, '<') + '>';

  const GgufArray& a = as_array();
  std::string out = "[";
  const uint64_t shown = std::min<uint64_t>(a.count, max_items);
  for (uint64_t i = 0; i < shown; ++i) {
    if (i > 0) out += ", ";
    if (a.elem_type == VT::STRING) {
      out += i < a.strings.size() ? display_string(a.strings[i]) : "?";
    } else if (a.elem_type == VT::ARRAY) {
      out += i < a.arrays.size() ? a.arrays[i].to_display_string(max_items) : "?";
    } else if (a.elem_type == VT::BOOL) {
      out += a.number_at(i) != 0 ? "true" : "false";
    } else if (is_float_type(a.elem_type)) {
      out += display_number(a.elem_type, a.number_at(i));
    } else if (is_signed_type(a.elem_type) || is_unsigned_type(a.elem_type)) {
      const size_t size = gguf_type_size(a.elem_type);
      out += i < a.raw.size() / size
                 ? (is_unsigned_type(a.elem_type) ? std::to_string(load_le(a.raw.data() + i * size, size))
                                                  : std::to_string(a.int_at(i)))
                 : "?";
    } else {
      out += "?";
    }
  }
  if (shown < a.count) out += std::string(shown > 0 ? ", " : "") + "... (" + std::to_string(a.count) + " items)";
  return out + "]";
}

GgufValue GgufValue::make_uint(GgufValueType type, uint64_t v) {
  if (!is_signed_type(type) && !is_unsigned_type(type))
    throw Error("make_uint: " + type_label(type) + " is not an integer type");
  check_uint_fits(type, v);
  GgufValue out;
  out.type = type;
  if (is_unsigned_type(type)) {
    out.data = v;
  } else {
    out.data = static_cast<int64_t>(v);
  }
  return out;
}

GgufValue GgufValue::make_int(GgufValueType type, int64_t v) {
  if (!is_signed_type(type) && !is_unsigned_type(type))
    throw Error("make_int: " + type_label(type) + " is not an integer type");
  check_int_fits(type, v);
  GgufValue out;
  out.type = type;
  if (is_unsigned_type(type)) {
    out.data = static_cast<uint64_t>(v);
  } else {
    out.data = v;
  }
  return out;
}

GgufValue GgufValue::make_float(GgufValueType type, double v) {
  if (!is_float_type(type)) throw Error("make_float: " + type_label(type) + " is not a float type");
  GgufValue out;
  out.type = type;
  out.data = fit_float(type, v);
  return out;
}

GgufValue GgufValue::make_bool(bool v) {
  GgufValue out;
  out.type = VT::BOOL;
  out.data = v;
  return out;
}

GgufValue GgufValue::make_string(std::string v) {
  GgufValue out;
  out.type = VT::STRING;
  out.data = std::move(v);
  return out;
}

GgufValue GgufValue::make_array(GgufArray v) {
  GgufValue out;
  out.type = VT::ARRAY;
  out.data = std::move(v);
  return out;
}

}  // namespace ternion
