// GGUF reader (versions 2 and 3) and writer.
//
// Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv, then n_kv key/value pairs
// (gguf string key, u32 value type, value), then n_tensors tensor infos (name, u32 n_dims, n_dims × u64 ne,
// u32 ggml type, u64 offset), padding to `general.alignment` (default 32), then the tensor data. Each
// tensor's offset is relative to the start of the data section and a multiple of the alignment.
//
// The reader trusts nothing: every count, length, type, shape and offset is checked against the bytes
// actually present before anything is allocated, so a corrupt or hostile file gives one Error naming the
// file and the problem, and memory stays proportional to the file size.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ternion/core/dtype.h"
#include "ternion/io/mapped_file.h"

namespace ternion {

enum class GgufValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

std::string_view gguf_type_name(GgufValueType t);
// True for the 13 value types above.
bool gguf_type_valid(uint32_t id);
// Bytes of one value of a fixed-size type; 0 for STRING and ARRAY (and unknown types).
size_t gguf_type_size(GgufValueType t);
// `s` made safe for a one-line message: control characters, quotes and invalid UTF-8 escaped (\n, \xNN), cut
// after `max_bytes` input bytes with "..." appended.
std::string gguf_escape(std::string_view s, size_t max_bytes = 64);

struct GgufValue;

// An array value. Elements of a fixed-size type are kept packed as in the file (`raw`), strings in
// `strings`, nested arrays in `arrays`; only the member matching elem_type is filled.
struct GgufArray {
  GgufValueType elem_type = GgufValueType::UINT8;
  uint64_t count = 0;
  std::vector<uint8_t> raw;
  std::vector<std::string> strings;
  std::vector<GgufValue> arrays;

  // Element i as a number (integer, float or bool types); throws Error on a type mismatch or bad index.
  double number_at(uint64_t i) const;
  int64_t int_at(uint64_t i) const;

  // Builders: each checks that the element fits elem_type (throws Error otherwise) and bumps count.
  void push_uint(uint64_t v);  // integer types (a non-negative value for the signed ones)
  void push_int(int64_t v);    // integer types (a non-negative value for the unsigned ones)
  void push_float(double v);   // FLOAT32 or FLOAT64
  void push_bool(bool v);
  void push_string(std::string v);
  void push_array(GgufArray v);
};

struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> data;

  bool is_integer() const;  // any signed or unsigned integer type
  bool is_number() const;   // integer or float
  // Conversions; each throws Error (naming the expected and actual type) when the value does not fit.
  int64_t as_int() const;
  uint64_t as_uint() const;
  double as_double() const;
  bool as_bool() const;
  const std::string& as_string() const;
  const GgufArray& as_array() const;
  std::string to_display_string(size_t max_items = 8) const;  // for `ternion info`

  // Builders; each throws Error when `v` does not fit `type` (e.g. 300 as UINT8, or FLOAT32 for an integer).
  static GgufValue make_uint(GgufValueType type, uint64_t v);
  static GgufValue make_int(GgufValueType type, int64_t v);
  static GgufValue make_float(GgufValueType type, double v);
  static GgufValue make_bool(bool v);
  static GgufValue make_string(std::string v);
  static GgufValue make_array(GgufArray v);
};

// The longest row (ne[0]) a tensor may have; parse refuses longer ones. 2^24 elements is far beyond any model
// (the widest rows are feed-forward sizes of tens of thousands) and is what the overflow proofs of proofs/
// assume: a row has at most 2^19 Q8_0 blocks (the kernels count blocks in int) and its exact integer dot stays
// below 2^38 in magnitude, while every integer accumulator of the kernels holds one block only.
inline constexpr uint64_t kGgufMaxRowLength = uint64_t{1} << 24;

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> shape;  // ne[0] is the fastest-varying (row length), as ggml orders it
  DType type = DType::F32;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // points into the mapped file
};

class GgufFile {
 public:
  // Maps and validates `path`; throws Error("<path>: <problem>") on any defect.
  static GgufFile open(const std::string& path);
  // Parses bytes already in memory (used by the fuzzer and tests); `name` is used in messages.
  // The bytes must outlive the returned object.
  static GgufFile parse(std::span<const uint8_t> bytes, const std::string& name);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return name_; }
  size_t file_size() const { return bytes_.size(); }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  // Typed look-ups: nullopt when absent, Error when present with the wrong type.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  const GgufArray* get_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;

  // Drops the mapped pages of [p, p + n) from the resident set (MappedFile::release); nothing for parsed bytes.
  void release(const uint8_t* p, size_t n) const;

 private:
  std::shared_ptr<MappedFile> map_;  // null when parsed from caller-owned bytes
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;

  friend class GgufParser;
};

// Writes GGUF v3 files: metadata, then tensor infos, then aligned tensor data.
class GgufWriter {
 public:
  void set(const std::string& key, GgufValue value);  // replaces an existing key, keeps first position
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void remove(const std::string& key);  // no-op when absent
  // Adds a tensor; `data` must hold exactly the bytes of `shape` in `type` and is copied.
  void add_tensor(const std::string& name, const std::vector<uint64_t>& shape, DType type,
                  std::span<const uint8_t> data);
  // Adds a tensor whose bytes are produced while the file is written: `fill` gets a buffer of exactly the
  // tensor's size, so a whole model streams through one tensor-sized buffer (quantization, conversion).
  using TensorFiller = std::function<void(std::span<uint8_t> out)>;
  void add_streamed_tensor(const std::string& name, const std::vector<uint64_t>& shape, DType type, TensorFiller fill);
  // Writes everything to `path` through an OutputFile: complete or not at all, never over one of `inputs`
  // (the files the tensors are produced from); throws Error on I/O failure or a producer's error.
  void write(const std::string& path, uint64_t alignment = 32, std::span<const std::string> inputs = {}) const;
  // The file's bytes, for tests.
  std::vector<uint8_t> to_bytes(uint64_t alignment = 32) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> shape;
    DType type;
    uint64_t n_bytes;
    std::vector<uint8_t> data;  // empty when `fill` produces the bytes
    TensorFiller fill;
  };
  uint64_t checked_tensor_bytes(const std::string& name, const std::vector<uint64_t>& shape, DType type) const;
  // Calls out(bytes) for each tensor's data in order.
  void each_tensor_data(const std::function<void(std::span<const uint8_t>)>& out) const;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace ternion
