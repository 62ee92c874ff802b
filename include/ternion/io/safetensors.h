// safetensors reader (HuggingFace's weight format), memory-mapped, and checkpoint folders sharded over several files.
//
// Layout: u64 little-endian N, then N bytes of JSON (the header), then the data area. The header maps each tensor name
// to {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]} (offsets relative to the data area) and
// may hold "__metadata__": a map of strings. Shapes are row-major, outermost dimension first (PyTorch's order; GGUF's
// ne[] is the reverse).
//
// The reader trusts nothing: the header size is bounded, the JSON is type-checked field by field, every dtype must be
// known, shape × element size must equal the byte span, spans must lie inside the data area and must not overlap.
// Every violation is one Error line naming the file and the tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/core/dtype.h"
#include "ternion/io/mapped_file.h"

namespace ternion {

// Bytes of one element of a safetensors dtype ("F32" -> 4, "BF16" -> 2, "F8_E4M3" -> 1, ...), or nullopt when the
// name is not a dtype this reader knows.
std::optional<size_t> safetensors_dtype_size(std::string_view dtype);

// The GGUF element type of a safetensors dtype (F32, F16, BF16, F64, I8, I16, I32, I64), or nullopt when GGUF has
// none (BOOL, unsigned integers, 8-bit floats).
std::optional<DType> safetensors_dtype_to_gguf(std::string_view dtype);

struct SafetensorsTensor {
  std::string name;
  std::string dtype;            // as the header names it: "F32", "BF16", "I64", ...
  std::vector<uint64_t> shape;  // outermost first; empty for a scalar
  uint64_t offset = 0;          // from the start of the data area
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // points into the mapped file
};

class SafetensorsFile {
 public:
  // Largest header accepted (real ones are at most a few MB).
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  // Maps and validates `path`; throws Error("<path>: <problem>") on any defect.
  static SafetensorsFile open(const std::string& path);
  // Parses bytes already in memory (fuzzer, tests); `name` is used in messages. The bytes must outlive the result.
  static SafetensorsFile parse(std::span<const uint8_t> bytes, const std::string& name);

  const std::string& path() const { return name_; }
  size_t file_size() const { return bytes_.size(); }
  uint64_t data_offset() const { return data_offset_; }  // 8 + header size

  // Sorted by name.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;
  // "__metadata__" (e.g. {"format": "pt"}); empty when absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::shared_ptr<MappedFile> map_;  // null when parsed from caller-owned bytes
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint64_t data_offset_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;

  friend class SafetensorsParser;
};

// The weights of a HuggingFace checkpoint folder: "model.safetensors", or the shards that
// "model.safetensors.index.json" lists (its "weight_map": tensor name -> file name in the same folder).
class SafetensorsCheckpoint {
 public:
  struct Entry {
    const SafetensorsTensor* tensor;
    const SafetensorsFile* file;
  };

  // Throws Error naming the folder and the missing file when there are no weights, the index is malformed, a shard
  // is missing, or the index and the shards disagree about which tensors exist.
  static SafetensorsCheckpoint open(const std::string& dir);

  // Files in name order (one unless sharded).
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // Every tensor: files in name order, each file's tensors in name order.
  const std::vector<Entry>& tensors() const { return entries_; }
  const Entry* find(std::string_view name) const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> entries_ position
};

}  // namespace ternion
