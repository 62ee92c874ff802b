// safetensors reader: bounds the header, parses it with nlohmann-json (duplicate keys and deep nesting refused while
// parsing), type-checks every field and checks every tensor's byte span against its shape and the data area.
#include "ternion/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"

namespace ternion {

namespace {

using Json = nlohmann::json;

constexpr int kMaxJsonDepth = 4;  // root object > tensor object > shape array; deeper is not a safetensors header
constexpr char kMetadataKey[] = "__metadata__";

struct DTypeEntry {
  std::string_view name;
  size_t size;
  std::optional<DType> gguf;
};

constexpr std::array<DTypeEntry, 16> kDTypes = {{
    {"F32", 4, DType::F32},
    {"F16", 2, DType::F16},
    {"BF16", 2, DType::BF16},
    {"F64", 8, DType::F64},
    {"I8", 1, DType::I8},
    {"I16", 2, DType::I16},
    {"I32", 4, DType::I32},
    {"I64", 8, DType::I64},
    {"U8", 1, std::nullopt},
    {"U16", 2, std::nullopt},
    {"U32", 4, std::nullopt},
    {"U64", 8, std::nullopt},
    {"BOOL", 1, std::nullopt},
    {"F8_E4M3", 1, std::nullopt},
    {"F8_E5M2", 1, std::nullopt},
    {"F8_E8M0", 1, std::nullopt},
}};

const DTypeEntry* find_dtype(std::string_view name) {
  for (const DTypeEntry& d : kDTypes) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::string dtype_list() {
  std::string s;
  for (const DTypeEntry& d : kDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string in_quotes(std::string_view s) { return "'" + gguf_escape(s) + "'"; }

}  // namespace

std::optional<size_t> safetensors_dtype_size(std::string_view dtype) {
  const DTypeEntry* d = find_dtype(dtype);
  return d == nullptr ? std::nullopt : std::optional<size_t>(d->size);
}

std::optional<DType> safetensors_dtype_to_gguf(std::string_view dtype) {
  const DTypeEntry* d = find_dtype(dtype);
  return d == nullptr ? std::nullopt : d->gguf;
}

// Reads one safetensors image into a SafetensorsFile; `context_` names what is being read for messages.
class SafetensorsParser {
 public:
  SafetensorsParser(std::span<const uint8_t> bytes, SafetensorsFile& out) : bytes_(bytes), out_(out) {}

  void run() {
    const Json root = header();
    if (!root.is_object()) fail("the header is not a JSON object");
    for (const auto& [key, value] : root.items()) {
      if (key == kMetadataKey) {
        metadata(value);
      } else {
        tensor(key, value);
      }
    }
    context_.clear();
    std::sort(out_.tensors_.begin(), out_.tensors_.end(),
              [](const SafetensorsTensor& a, const SafetensorsTensor& b) { return a.name < b.name; });
    check_overlaps();
    for (SafetensorsTensor& t : out_.tensors_) t.data = bytes_.data() + out_.data_offset_ + t.offset;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(out_.name_ + ": " + (context_.empty() ? "" : context_ + ": ") + problem);
  }

  Json header() {
    const uint64_t size = bytes_.size();
    if (size < 8) fail("file too small for a safetensors header (" + std::to_string(size) + " bytes, needs 8)");
    uint64_t n = 0;
    for (size_t i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes_[i]) << (8 * i);
    if (n > SafetensorsFile::kMaxHeaderBytes) {
      fail("header size " + std::to_string(n) + " is larger than the " +
           std::to_string(SafetensorsFile::kMaxHeaderBytes) + " bytes accepted");
    }
    if (n > size - 8) {
      fail("header size " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
    }
    out_.data_offset_ = 8 + n;
    data_size_ = size - out_.data_offset_;
    const auto* text = reinterpret_cast<const char*>(bytes_.data() + 8);
    if (n == 0 || text[0] != '{') fail("the header does not start with '{': not a safetensors file");

    // Duplicate keys would silently replace one another, so each object's keys are tracked while parsing.
    std::vector<std::set<std::string>> keys;
    const auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
      if (depth > kMaxJsonDepth) fail("the header nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      if (event == Json::parse_event_t::object_start) {
        keys.emplace_back();
      } else if (event == Json::parse_event_t::object_end) {
        keys.pop_back();
      } else if (event == Json::parse_event_t::key && !keys.empty()) {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!keys.back().insert(key).second) fail("duplicate key " + in_quotes(key) + " in the header");
      }
      return true;
    };
    try {
      return Json::parse(text, text + n, callback);
    } catch (const Json::exception& e) {
      fail("the header is not valid JSON: " + gguf_escape(e.what(), 200));
    }
  }

  void metadata(const Json& value) {
    context_ = kMetadataKey;
    if (!value.is_object()) fail("expected an object of strings");
    for (const auto& [key, v] : value.items()) {
      if (!v.is_string()) fail("value of " + in_quotes(key) + " is not a string");
      out_.metadata_.emplace(key, v.get<std::string>());
    }
    context_.clear();
  }

  uint64_t unsigned_number(const Json& v, const std::string& what) const {
    if (!v.is_number_unsigned()) fail(what + " is not a non-negative integer");
    return v.get<uint64_t>();
  }

  void tensor(const std::string& name, const Json& v) {
    context_ = "tensor " + in_quotes(name);
    if (name.empty()) fail("empty tensor name");
    if (!v.is_object()) fail("expected an object with dtype, shape and data_offsets");
    for (const auto& [key, value] : v.items()) {
      if (key != "dtype" && key != "shape" && key != "data_offsets") fail("unexpected field " + in_quotes(key));
    }
    SafetensorsTensor t;
    t.name = name;

    const auto dtype = v.find("dtype");
    if (dtype == v.end() || !dtype->is_string()) fail("dtype is missing or not a string");
    t.dtype = dtype->get<std::string>();
    const DTypeEntry* info = find_dtype(t.dtype);
    if (info == nullptr) fail("unknown dtype " + in_quotes(t.dtype) + " (known: " + dtype_list() + ")");

    const auto shape = v.find("shape");
    if (shape == v.end() || !shape->is_array()) fail("shape is missing or not an array");
    constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t n = 1;
    for (size_t i = 0; i < shape->size(); ++i) {
      const uint64_t dim = unsigned_number((*shape)[i], "shape[" + std::to_string(i) + "]");
      t.shape.push_back(dim);
      if (dim > kMax || (dim != 0 && n > kMax / dim)) fail("shape has more elements than fit in int64");
      n *= dim;
    }
    t.n_elements = n;
    if (n > kMax / info->size) fail("shape " + shape_string(t.shape) + " has a byte size beyond int64");
    t.n_bytes = n * info->size;

    const auto offsets = v.find("data_offsets");
    if (offsets == v.end() || !offsets->is_array() || offsets->size() != 2) {
      fail("data_offsets is missing or not an array [begin, end]");
    }
    const uint64_t begin = unsigned_number((*offsets)[0], "data_offsets[0]");
    const uint64_t end = unsigned_number((*offsets)[1], "data_offsets[1]");
    if (end < begin)
      fail("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] end before they begin");
    if (end - begin != t.n_bytes) {
      fail("shape " + shape_string(t.shape) + " of " + t.dtype + " needs " + std::to_string(t.n_bytes) +
           " bytes, but data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] span " +
           std::to_string(end - begin));
    }
    if (end > data_size_) {
      fail("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
           "] run past the end of the data area (" + std::to_string(data_size_) + " bytes)");
    }
    t.offset = begin;
    out_.tensors_.push_back(std::move(t));
  }

  void check_overlaps() const {
    std::vector<const SafetensorsTensor*> order;
    for (const SafetensorsTensor& t : out_.tensors_) {
      if (t.n_bytes > 0) order.push_back(&t);  // an empty tensor occupies nothing
    }
    std::sort(order.begin(), order.end(),
              [](const SafetensorsTensor* a, const SafetensorsTensor* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const SafetensorsTensor& a = *order[i - 1];
      const SafetensorsTensor& b = *order[i];
      if (a.offset + a.n_bytes > b.offset) {
        fail("tensors " + in_quotes(a.name) + " [" + std::to_string(a.offset) + ", " +
             std::to_string(a.offset + a.n_bytes) + ") and " + in_quotes(b.name) + " [" + std::to_string(b.offset) +
             ", " + std::to_string(b.offset + b.n_bytes) + ") overlap");
      }
    }
  }

  std::span<const uint8_t> bytes_;
  SafetensorsFile& out_;
  uint64_t data_size_ = 0;
  std::string context_;
};

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  auto map = std::make_shared<MappedFile>(path);
  SafetensorsFile f = parse(map->bytes(), path);
  f.map_ = std::move(map);
  return f;
}

SafetensorsFile SafetensorsFile::parse(std::span<const uint8_t> bytes, const std::string& name) {
  SafetensorsFile f;
  f.name_ = name;
  f.bytes_ = bytes;
  SafetensorsParser(bytes, f).run();
  return f;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const SafetensorsTensor& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

}  // namespace ternion
