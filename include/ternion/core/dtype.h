// The table of tensor element types, numbered as GGUF/ggml numbers them. Sizes only: the kernels that
// compute with a type are in quant/ (one trait record per type).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ternion {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  I2_S = 36,  // bitnet.cpp's: 2-bit ternary codes and one float scale per tensor (its fork of ggml numbers it 36)
};

struct DTypeInfo {
  DType type;
  std::string_view name;    // as llama.cpp prints it: "F16", "Q4_K", ...
  uint32_t block_size;      // elements per block (1 for plain types)
  uint32_t block_bytes;     // bytes per block
  uint32_t tail_bytes = 0;  // bytes after a whole tensor's blocks (I2_S: 32, its scale first)
};

// Information about a GGUF type id, or nullopt when the id is not a type we know.
std::optional<DTypeInfo> dtype_info(uint32_t id);
const DTypeInfo& dtype_info(DType type);
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive

// Bytes taken by one row of n elements; n must be a multiple of the block size.
inline size_t row_bytes(const DTypeInfo& info, uint64_t n) {
  return static_cast<size_t>(n / info.block_size) * info.block_bytes;
}

// Bytes a whole tensor of n elements takes in a file: its blocks and the type's tail.
inline uint64_t tensor_bytes(const DTypeInfo& info, uint64_t n) {
  return n / info.block_size * info.block_bytes + info.tail_bytes;
}

// Why a GGUF type id this build does not read cannot be read, for messages (bitnet.cpp's TL1/TL2 lookup-table
// layouts); empty for other ids.
std::string_view unsupported_type_note(uint32_t id);

}  // namespace ternion
