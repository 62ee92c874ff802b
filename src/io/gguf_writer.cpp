// GGUF v3 writer. Files it writes are accepted by our reader and by llama.cpp's: general.alignment as a u32,
// tensor data in the order of the tensor infos, each tensor padded to the alignment, names under 64 bytes.
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/io/output_file.h"

namespace ternion {

namespace {

using VT = GgufValueType;

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxArrayDepth = 8;      // as the reader
constexpr size_t kMaxTensorName = 63;  // llama.cpp's GGML_MAX_NAME is 64 bytes with the terminating zero
constexpr char kAlignmentKey[] = "general.alignment";

class Buffer {
 public:
  void le(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void pad_to(uint64_t alignment) { bytes.resize((bytes.size() + alignment - 1) / alignment * alignment, 0); }

  std::vector<uint8_t> bytes;
};

[[noreturn]] void fail_value(const std::string& key, const std::string& problem) {
  throw Error("GgufWriter: key '" + gguf_escape(key) + "': " + problem);
}

void put_array(Buffer& out, const std::string& key, const GgufArray& a, int depth);

// Writes one value, checking that its payload matches its declared type (values can be built by hand).
void put_value(Buffer& out, const std::string& key, const GgufValue& v, int depth) {
  const size_t size = gguf_type_size(v.type);
  if (!gguf_type_valid(static_cast<uint32_t>(v.type))) fail_value(key, "unknown value type");
  try {
    switch (v.type) {
      case VT::FLOAT32:
        out.le(std::bit_cast<uint32_t>(static_cast<float>(GgufValue::make_float(v.type, v.as_double()).as_double())),
               4);
        return;
      case VT::FLOAT64:
        out.le(std::bit_cast<uint64_t>(v.as_double()), 8);
        return;
      case VT::BOOL:
        out.le(v.as_bool() ? 1 : 0, 1);
        return;
      case VT::STRING:
        out.str(v.as_string());
        return;
      case VT::ARRAY:
        put_array(out, key, v.as_array(), depth + 1);
        return;
      default:  // integers: make_* checks the range of the declared type
        if (const auto* s = std::get_if<int64_t>(&v.data)) {
          out.le(static_cast<uint64_t>(GgufValue::make_int(v.type, *s).as_int()), size);
        } else {
          out.le(GgufValue::make_uint(v.type, v.as_uint()).as_uint(), size);
        }
        return;
    }
  } catch (const Error& e) {
    if (std::string_view(e.what()).starts_with("GgufWriter:")) throw;
    fail_value(key, e.what());
  }
}

void put_array(Buffer& out, const std::string& key, const GgufArray& a, int depth) {
  if (depth > kMaxArrayDepth)
    fail_value(key, "arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
  if (!gguf_type_valid(static_cast<uint32_t>(a.elem_type))) fail_value(key, "unknown array element type");
  out.u32(static_cast<uint32_t>(a.elem_type));
  out.u64(a.count);
  const size_t size = gguf_type_size(a.elem_type);
  const auto mismatch = [&](size_t have) {
    fail_value(key, "array of " + std::to_string(a.count) + " " + std::string(gguf_type_name(a.elem_type)) + " holds " +
                        std::to_string(have) + (size > 0 ? " bytes" : " items"));
  };
  if (size > 0) {
    if (a.count > a.raw.size() / size || a.raw.size() != a.count * size) mismatch(a.raw.size());
    if (a.elem_type == VT::BOOL) {
      for (const uint8_t b : a.raw) {
        if (b > 1) fail_value(key, "bool array element " + std::to_string(b) + " is not 0 or 1");
      }
    }
    out.bytes.insert(out.bytes.end(), a.raw.begin(), a.raw.end());
  } else if (a.elem_type == VT::STRING) {
    if (a.strings.size() != a.count) mismatch(a.strings.size());
    for (const std::string& s : a.strings) out.str(s);
  } else {
    if (a.arrays.size() != a.count) mismatch(a.arrays.size());
    for (const GgufValue& v : a.arrays) {
      if (v.type != VT::ARRAY) fail_value(key, "array of arrays holds a " + std::string(gguf_type_name(v.type)));
      put_array(out, key, v.as_array(), depth + 1);
    }
  }
}

uint64_t padded(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

void check_alignment(uint64_t alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > std::numeric_limits<uint32_t>::max()) {
    throw Error("GgufWriter: alignment " + std::to_string(alignment) + " is not a power of two that fits a u32");
  }
}

// Header, metadata and tensor infos, padded to the alignment: everything before the data section.
template <typename Tensors>
std::vector<uint8_t> header_bytes(const std::vector<std::pair<std::string, GgufValue>>& kv, const Tensors& tensors,
                                  uint64_t alignment) {
  check_alignment(alignment);
  bool has_alignment_key = false;
  for (const auto& entry : kv) has_alignment_key = has_alignment_key || entry.first == kAlignmentKey;
  const bool write_alignment_key = has_alignment_key || alignment != kDefaultAlignment;

  Buffer out;
  out.bytes = {'G', 'G', 'U', 'F'};
  out.u32(kVersion);
  out.u64(tensors.size());
  out.u64(kv.size() + (write_alignment_key && !has_alignment_key ? 1 : 0));
  const auto put_alignment = [&] {
    out.str(kAlignmentKey);
    out.u32(static_cast<uint32_t>(VT::UINT32));
    out.u32(static_cast<uint32_t>(alignment));
  };
  for (const auto& [key, value] : kv) {
    if (key == kAlignmentKey) {
      put_alignment();  // the argument wins over a value set by hand, so the file is consistent
    } else {
      out.str(key);
      out.u32(static_cast<uint32_t>(value.type));
      put_value(out, key, value, 0);
    }
  }
  if (write_alignment_key && !has_alignment_key) put_alignment();

  uint64_t offset = 0;
  for (const auto& t : tensors) {
    out.str(t.name);
    out.u32(static_cast<uint32_t>(t.shape.size()));
    for (const uint64_t ne : t.shape) out.u64(ne);
    out.u32(static_cast<uint32_t>(t.type));
    out.u64(offset);
    offset += padded(t.n_bytes, alignment);
  }
  out.pad_to(alignment);
  return std::move(out.bytes);
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty()) throw Error("GgufWriter: empty key");
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) { set(key, GgufValue::make_uint(VT::UINT32, v)); }
void GgufWriter::set_i32(const std::string& key, int32_t v) { set(key, GgufValue::make_int(VT::INT32, v)); }
void GgufWriter::set_f32(const std::string& key, float v) { set(key, GgufValue::make_float(VT::FLOAT32, v)); }
void GgufWriter::set_bool(const std::string& key, bool v) { set(key, GgufValue::make_bool(v)); }
void GgufWriter::set_string(const std::string& key, const std::string& v) { set(key, GgufValue::make_string(v)); }

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  GgufArray a;
  a.elem_type = VT::STRING;
  a.count = v.size();
  a.strings = v;
  set(key, GgufValue::make_array(std::move(a)));
}

void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& v) {
  GgufArray a;
  a.elem_type = VT::FLOAT32;
  a.raw.reserve(v.size() * 4);
  for (const float x : v) a.push_float(x);
  set(key, GgufValue::make_array(std::move(a)));
}

void GgufWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  GgufArray a;
  a.elem_type = VT::INT32;
  a.raw.reserve(v.size() * 4);
  for (const int32_t x : v) a.push_int(x);
  set(key, GgufValue::make_array(std::move(a)));
}

void GgufWriter::remove(const std::string& key) {
  std::erase_if(kv_, [&](const auto& entry) { return entry.first == key; });
}

uint64_t GgufWriter::checked_tensor_bytes(const std::string& name, const std::vector<uint64_t>& shape,
                                          DType type) const {
  const auto fail = [&](const std::string& problem) {
    throw Error("GgufWriter: tensor '" + gguf_escape(name) + "': " + problem);
  };
  if (name.empty()) fail("empty name");
  if (name.size() > kMaxTensorName) fail("name longer than " + std::to_string(kMaxTensorName) + " bytes");
  for (const Tensor& t : tensors_) {
    if (t.name == name) fail("duplicate tensor name");
  }
  if (shape.empty() || shape.size() > 4) fail("n_dims " + std::to_string(shape.size()) + " is not in 1..4");
  const DTypeInfo& info = dtype_info(type);
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t n = 1;
  for (const uint64_t ne : shape) {
    if (ne > kMax || (ne != 0 && n > kMax / ne)) fail("shape has more elements than fit in int64");
    n *= ne;
  }
  if (shape[0] % info.block_size != 0) {
    fail("row length " + std::to_string(shape[0]) + " is not a multiple of the " + std::string(info.name) +
         " block size " + std::to_string(info.block_size));
  }
  return tensor_bytes(info, n);
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<uint64_t>& shape, DType type,
                            std::span<const uint8_t> data) {
  const uint64_t n_bytes = checked_tensor_bytes(name, shape, type);
  if (data.size() != n_bytes) {
    throw Error("GgufWriter: tensor '" + gguf_escape(name) + "': data holds " + std::to_string(data.size()) +
                " bytes, the shape needs " + std::to_string(n_bytes));
  }
  tensors_.push_back(Tensor{name, shape, type, n_bytes, std::vector<uint8_t>(data.begin(), data.end()), {}});
}

void GgufWriter::add_streamed_tensor(const std::string& name, const std::vector<uint64_t>& shape, DType type,
                                     TensorFiller fill) {
  if (!fill) throw Error("GgufWriter: tensor '" + gguf_escape(name) + "': no data producer");
  const uint64_t n_bytes = checked_tensor_bytes(name, shape, type);
  tensors_.push_back(Tensor{name, shape, type, n_bytes, {}, std::move(fill)});
}

void GgufWriter::each_tensor_data(const std::function<void(std::span<const uint8_t>)>& out) const {
  std::vector<uint8_t> buffer;  // one tensor-sized buffer, reused by every produced tensor
  for (const Tensor& t : tensors_) {
    if (!t.fill) {
      out(t.data);
      continue;
    }
    buffer.resize(static_cast<size_t>(t.n_bytes));
    t.fill(buffer);
    out(buffer);
  }
}

std::vector<uint8_t> GgufWriter::to_bytes(uint64_t alignment) const {
  std::vector<uint8_t> out = header_bytes(kv_, tensors_, alignment);
  each_tensor_data([&](std::span<const uint8_t> data) {
    out.insert(out.end(), data.begin(), data.end());
    out.resize(padded(out.size(), alignment), 0);
  });
  return out;
}

void GgufWriter::write(const std::string& path, uint64_t alignment, std::span<const std::string> inputs) const {
  OutputFile out(path, inputs);
  out.write(header_bytes(kv_, tensors_, alignment));
  const std::vector<uint8_t> zeros(static_cast<size_t>(alignment), 0);
  each_tensor_data([&](std::span<const uint8_t> data) {
    out.write(data);
    out.write(std::span(zeros).first(static_cast<size_t>(padded(data.size(), alignment) - data.size())));
  });
  out.commit();
}

}  // namespace ternion
