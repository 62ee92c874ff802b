// GGUF reader: parses and validates the header, metadata and tensor infos of a file that is memory-mapped
// (or already in memory). Every count and length is checked against the bytes that remain before anything is
// allocated, so a hostile file costs at most a small multiple of its own size and never more than one pass.
#include <algorithm>
#include <bit>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"

namespace ternion {

namespace {

using VT = GgufValueType;

constexpr int kMaxArrayDepth = 8;         // arrays of arrays deeper than this are refused (bounds the recursion)
constexpr uint32_t kMaxDims = 4;          // as ggml (GGML_MAX_DIMS)
constexpr uint64_t kMinKvBytes = 13;      // u64 key length + 1 key byte + u32 type + 1 value byte (a bool or u8)
constexpr uint64_t kMinTensorBytes = 32;  // u64 name length + u32 n_dims + one u64 ne + u32 type + u64 offset
constexpr uint64_t kMinArrayBytes = 12;   // a nested array: u32 element type + u64 count
constexpr uint64_t kMinStringBytes = 8;   // a string: its u64 length
constexpr uint64_t kDefaultAlignment = 32;
constexpr char kAlignmentKey[] = "general.alignment";

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

uint32_t byte_swap(uint32_t v) { return (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24); }

std::string hex32(uint32_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += kHex[(v >> shift) & 15u];
  return s;
}

}  // namespace

// Reads one GGUF image into a GgufFile. A cursor over the bytes plus the name of what is being read
// (`context_`), so that every message says where the problem is.
class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, GgufFile& out) : bytes_(bytes), out_(out) {}

  void run() {
    header();
    metadata();
    alignment();
    tensor_infos();
    layout();
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(out_.name_ + ": " + (context_.empty() ? "" : context_ + ": ") + problem);
  }

  uint64_t remaining() const { return bytes_.size() - pos_; }

  void need(uint64_t n, const std::string& what) const {
    if (n > remaining()) {
      fail(what + " at offset " + std::to_string(pos_) + " (" + std::to_string(n) +
           " bytes) runs past the end of the file (" + std::to_string(bytes_.size()) + " bytes)");
    }
  }

  uint64_t read_le(size_t n, const std::string& what) {
    need(n, what);
    const uint64_t v = read_le_unchecked(n);
    pos_ += n;
    return v;
  }
  uint64_t read_le_unchecked(size_t n) const {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
    return v;
  }
  uint32_t u32(const std::string& what) { return static_cast<uint32_t>(read_le(4, what)); }
  uint64_t u64(const std::string& what) { return read_le(8, what); }

  // `what` names the string in messages; `index` >= 0 marks it as that element of an array. The message is only
  // built on failure, since arrays of strings (vocabularies) hold hundreds of thousands of them.
  std::string str(std::string_view what, int64_t index = -1) {
    if (remaining() < 8 || read_le_unchecked(8) > remaining() - 8) {
      std::string label = index >= 0 ? "array element " + std::to_string(index) + ": " : "";
      label += what;
      const uint64_t len = u64(label + " length");
      fail(label + " length " + std::to_string(len) + " at offset " + std::to_string(pos_ - 8) +
           " runs past the end of the file (" + std::to_string(remaining()) + " bytes remain)");
    }
    const uint64_t len = read_le_unchecked(8);
    pos_ += 8;
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

  // Fails unless `count` items of at least `min_bytes` each could fit in what is left of the file.
  void check_count(uint64_t count, uint64_t min_bytes, const std::string& what) const {
    if (count > remaining() / min_bytes) {
      fail(what + " " + std::to_string(count) + " is larger than the remaining " + std::to_string(remaining()) +
           " bytes could hold");
    }
  }

  void header() {
    if (bytes_.size() < 4) fail("file too small for a GGUF header (" + std::to_string(bytes_.size()) + " bytes)");
    const std::string_view magic(reinterpret_cast<const char*>(bytes_.data()), 4);
    if (magic != "GGUF") fail("bad magic \"" + gguf_escape(magic) + "\" (expected \"GGUF\"): not a GGUF file");
    pos_ = 4;
    const uint32_t version = u32("version");
    if (version == 1) fail("unsupported version 1 (GGUF v1 is obsolete; only versions 2 and 3 are supported)");
    if (version != 2 && version != 3) {
      const uint32_t swapped = byte_swap(version);
      if (swapped == 1 || swapped == 2 || swapped == 3) {
        fail("version field " + hex32(version) +
             " looks byte-swapped: a big-endian GGUF? Only little-endian files are supported");
      }
      fail("unsupported version " + std::to_string(version) + " (only versions 2 and 3 are supported)");
    }
    out_.version_ = version;
    const uint64_t n_tensors = u64("n_tensors");
    const uint64_t n_kv = u64("n_kv");
    check_count(n_kv, kMinKvBytes, "n_kv");
    check_count(n_tensors, kMinTensorBytes, "n_tensors");
    if (n_kv * kMinKvBytes + n_tensors * kMinTensorBytes > remaining()) {  // each factor checked above: no overflow
      fail("n_kv " + std::to_string(n_kv) + " and n_tensors " + std::to_string(n_tensors) +
           " are larger than the remaining " + std::to_string(remaining()) + " bytes could hold");
    }
    n_kv_ = n_kv;
    n_tensors_ = n_tensors;
  }

  void metadata() {
    out_.kv_.reserve(static_cast<size_t>(n_kv_));
    for (uint64_t i = 0; i < n_kv_; ++i) {
      context_ = "metadata entry " + std::to_string(i);
      std::string key = str("key");
      if (key.empty()) fail("empty key");
      context_ = "key '" + gguf_escape(key) + "'";
      if (out_.kv_index_.count(key) != 0) fail("duplicate key");
      const uint32_t type = u32("value type");
      GgufValue value = read_value(type, 0);
      out_.kv_index_.emplace(key, out_.kv_.size());
      out_.kv_.emplace_back(std::move(key), std::move(value));
    }
    context_.clear();
  }

  GgufValue read_value(uint32_t type_id, int depth) {
    if (!gguf_type_valid(type_id)) fail("unknown value type " + std::to_string(type_id));
    const auto type = static_cast<VT>(type_id);
    const std::string what = std::string(gguf_type_name(type)) + " value";
    switch (type) {
      case VT::UINT8:
      case VT::UINT16:
      case VT::UINT32:
      case VT::UINT64: {
        const size_t size = gguf_type_size(type);
        return GgufValue{type, read_le(size, what)};
      }
      case VT::INT8:
      case VT::INT16:
      case VT::INT32:
      case VT::INT64: {
        const size_t size = gguf_type_size(type);
        const size_t shift = 64 - 8 * size;  // sign-extend
        return GgufValue{type, static_cast<int64_t>(read_le(size, what) << shift) >> shift};
      }
      case VT::FLOAT32:
        return GgufValue{type, static_cast<double>(std::bit_cast<float>(u32(what)))};
      case VT::FLOAT64:
        return GgufValue{type, std::bit_cast<double>(u64(what))};
      case VT::BOOL: {
        const uint64_t b = read_le(1, what);
        if (b > 1) fail("bool value " + std::to_string(b) + " is not 0 or 1");
        return GgufValue{type, b == 1};
      }
      case VT::STRING:
        return GgufValue{type, str("string value")};
      case VT::ARRAY:
        return GgufValue{type, read_array(depth + 1)};
    }
    fail("unknown value type " + std::to_string(type_id));
  }

  GgufArray read_array(int depth) {
    if (depth > kMaxArrayDepth) fail("arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
    GgufArray a;
    const uint32_t elem_id = u32("array element type");
    if (!gguf_type_valid(elem_id)) fail("unknown array element type " + std::to_string(elem_id));
    a.elem_type = static_cast<VT>(elem_id);
    a.count = u64("array count");
    const size_t size = gguf_type_size(a.elem_type);
    const uint64_t min_bytes = size > 0 ? size : (a.elem_type == VT::STRING ? kMinStringBytes : kMinArrayBytes);
    check_count(a.count, min_bytes, std::string("array of ") + std::string(gguf_type_name(a.elem_type)) + ": count");
    const auto count = static_cast<size_t>(a.count);
    if (size > 0) {
      const size_t n_bytes = count * size;
      a.raw.assign(bytes_.begin() + static_cast<std::ptrdiff_t>(pos_),
                   bytes_.begin() + static_cast<std::ptrdiff_t>(pos_ + n_bytes));
      pos_ += n_bytes;
      if (a.elem_type == VT::BOOL) {
        for (size_t i = 0; i < count; ++i) {
          if (a.raw[i] > 1) {
            fail("array element " + std::to_string(i) + ": bool value " + std::to_string(a.raw[i]) + " is not 0 or 1");
          }
        }
      }
    } else if (a.elem_type == VT::STRING) {
      a.strings.reserve(count);
      for (size_t i = 0; i < count; ++i) a.strings.push_back(str("string", static_cast<int64_t>(i)));
    } else {
      a.arrays.reserve(count);
      for (size_t i = 0; i < count; ++i) a.arrays.push_back(GgufValue{VT::ARRAY, read_array(depth + 1)});
    }
    return a;
  }

  // general.alignment is a u32 by the spec; any integer type holding a power of two is accepted.
  void alignment() {
    const GgufValue* v = out_.find(kAlignmentKey);
    out_.alignment_ = kDefaultAlignment;
    if (v == nullptr) return;
    context_ = std::string("key '") + kAlignmentKey + "'";
    if (!v->is_integer()) fail("expected an unsigned integer, got " + std::string(gguf_type_name(v->type)));
    const auto* s = std::get_if<int64_t>(&v->data);
    if (s != nullptr && *s < 0) fail("alignment " + std::to_string(*s) + " is negative");
    const uint64_t a = v->as_uint();
    if (a == 0) fail("alignment must not be 0");
    if (!std::has_single_bit(a)) fail("alignment " + std::to_string(a) + " is not a power of two");
    out_.alignment_ = a;
    context_.clear();
  }

  void tensor_infos() {
    out_.tensors_.reserve(static_cast<size_t>(n_tensors_));
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      context_ = "tensor info " + std::to_string(i);
      GgufTensorInfo t;
      t.name = str("tensor name");
      context_ = "tensor '" + gguf_escape(t.name) + "'";
      if (out_.tensor_index_.count(t.name) != 0) fail("duplicate tensor name");
      const uint32_t n_dims = u32("n_dims");
      if (n_dims == 0 || n_dims > kMaxDims) fail("n_dims " + std::to_string(n_dims) + " is not in 1..4");
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t ne = u64("ne[" + std::to_string(d) + "]");
        if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          fail("dimension ne[" + std::to_string(d) + "] is negative (" + std::to_string(static_cast<int64_t>(ne)) +
               ")");
        }
        t.shape.push_back(ne);
      }
      const uint32_t type_id = u32("tensor type");
      const std::optional<DTypeInfo> info = dtype_info(type_id);
      if (!info)
        fail("unknown tensor type id " + std::to_string(type_id) + std::string(unsupported_type_note(type_id)));
      t.type = info->type;
      t.offset = u64("tensor offset");
      size_tensor(t, *info);
      if (t.offset % out_.alignment_ != 0) {
        fail("offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(out_.alignment_));
      }
      out_.tensor_index_.emplace(t.name, out_.tensors_.size());
      out_.tensors_.push_back(std::move(t));
    }
    context_.clear();
  }

  // Element count and byte size, with every product checked for overflow.
  void size_tensor(GgufTensorInfo& t, const DTypeInfo& info) const {
    constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t n = 1;
    for (const uint64_t ne : t.shape) {
      if (ne != 0 && n > kMax / ne) fail("shape " + shape_string(t.shape) + " has more elements than fit in int64");
      n *= ne;
    }
    if (t.shape[0] % info.block_size != 0) {
      fail("row length ne[0] = " + std::to_string(t.shape[0]) + " is not a multiple of the " + std::string(info.name) +
           " block size " + std::to_string(info.block_size));
    }
    const uint64_t n_blocks = n / info.block_size;
    if (n_blocks > kMax / info.block_bytes) {
      fail("shape " + shape_string(t.shape) + " of type " + std::string(info.name) + " has a byte size beyond int64");
    }
    if (t.shape[0] > kGgufMaxRowLength) {
      fail("row length ne[0] = " + std::to_string(t.shape[0]) + " is longer than the supported " +
           std::to_string(kGgufMaxRowLength));
    }
    t.n_elements = n;
    t.n_bytes = tensor_bytes(info, n);
  }

  // Where the data section starts, and every tensor inside it without overlaps.
  void layout() {
    const uint64_t a = out_.alignment_;
    const uint64_t header_end = pos_;
    if (header_end > std::numeric_limits<uint64_t>::max() - (a - 1))
      fail("alignment " + std::to_string(a) + " is too large");
    uint64_t data_offset = (header_end + a - 1) / a * a;
    if (data_offset > bytes_.size()) {
      // Vocab-only files (no tensors) often end right after the metadata, without padding.
      if (n_tensors_ > 0) {
        fail("data section at offset " + std::to_string(data_offset) + " (alignment " + std::to_string(a) +
             ") starts past the end of the file (" + std::to_string(bytes_.size()) + " bytes)");
      }
      data_offset = bytes_.size();
    }
    out_.data_offset_ = data_offset;
    const uint64_t data_size = bytes_.size() - data_offset;

    for (GgufTensorInfo& t : out_.tensors_) {
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        fail("tensor '" + gguf_escape(t.name) + "': data at file offset " + std::to_string(data_offset) + " + " +
             std::to_string(t.offset) + " (" + std::to_string(t.n_bytes) + " bytes) runs past the end of the file (" +
             std::to_string(bytes_.size()) + " bytes)");
      }
      t.data = bytes_.data() + data_offset + t.offset;
    }

    std::vector<size_t> order(out_.tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t x, size_t y) { return out_.tensors_[x].offset < out_.tensors_[y].offset; });
    const GgufTensorInfo* prev = nullptr;
    for (const size_t i : order) {
      const GgufTensorInfo& t = out_.tensors_[i];
      if (t.n_bytes == 0) continue;  // an empty tensor occupies nothing
      if (prev != nullptr && prev->offset + prev->n_bytes > t.offset) {
        fail("tensors '" + gguf_escape(prev->name) + "' [" + std::to_string(prev->offset) + ", " +
             std::to_string(prev->offset + prev->n_bytes) + ") and '" + gguf_escape(t.name) + "' [" +
             std::to_string(t.offset) + ", " + std::to_string(t.offset + t.n_bytes) + ") overlap");
      }
      prev = &t;
    }
  }

  std::span<const uint8_t> bytes_;
  GgufFile& out_;
  size_t pos_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t n_tensors_ = 0;
  std::string context_;  // what is being read, e.g. "key 'general.name'"
};

GgufFile GgufFile::open(const std::string& path) {
  auto map = std::make_shared<MappedFile>(path);
  GgufFile f = parse(map->bytes(), path);
  f.map_ = std::move(map);
  return f;
}

GgufFile GgufFile::parse(std::span<const uint8_t> bytes, const std::string& name) {
  GgufFile f;
  f.name_ = name;
  f.bytes_ = bytes;
  GgufParser(bytes, f).run();
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void GgufFile::release(const uint8_t* p, size_t n) const {
  if (map_) map_->release(p, n);
}

namespace {

// Runs a conversion, prefixing its Error with the file and key so the message says where the value came from.
template <typename F>
auto typed_get(const std::string& file, std::string_view key, const GgufValue& v, F convert) {
  try {
    return convert(v);
  } catch (const Error& e) {
    throw Error(file + ": key '" + gguf_escape(key) + "': " + e.what());
  }
}

}  // namespace

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return typed_get(name_, key, *v, [](const GgufValue& x) { return x.as_int(); });
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return typed_get(name_, key, *v, [](const GgufValue& x) { return x.as_double(); });
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return typed_get(name_, key, *v, [](const GgufValue& x) { return x.as_bool(); });
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return typed_get(name_, key, *v, [](const GgufValue& x) { return x.as_string(); });
}

const GgufArray* GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return nullptr;
  return typed_get(name_, key, *v, [](const GgufValue& x) { return &x.as_array(); });
}

}  // namespace ternion
