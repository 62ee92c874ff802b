// Conversion of a ModelSource (HuggingFace folder, llama2.c checkpoint) to a GGUF file, as llama.cpp's converter
// writes it: the source's metadata in order (general.file_type set for the chosen type), then the tensors in source
// order, each padded to 32 bytes. 2-D weights take the chosen type; norms, biases and other 1-D tensors stay F32;
// Q/K rows stored in rotate-half order are permuted to the adjacent-pair layout of a "llama" GGUF. A block type whose
// block does not divide a tensor's rows falls back to F16 for that tensor, as llama.cpp's converter does.
//
// Tensors are converted one at a time while GgufWriter writes the file, so memory holds one tensor, not the model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "ternion/core/dtype.h"
#include "ternion/model/model_source.h"

namespace ternion {

struct ConvertOptions {
  DType type = DType::F16;  // type of the 2-D weights
};

// Called after each tensor is written: tensors done, tensors in all, the tensor's name and its type in the file.
using ConvertProgress = std::function<void(size_t done, size_t total, const std::string& name, DType type)>;

struct ConvertResult {
  size_t n_tensors = 0;
  uint64_t file_bytes = 0;
  std::map<DType, size_t> type_counts;
};

// Throws Error when `type` cannot be a conversion target: no quantizer (from_float), or no dot kernel to run it.
void check_convert_type(DType type);

// general.file_type for weights of `type` (llama.cpp's llama_ftype numbering); Error for a type that has none.
uint32_t gguf_file_type(DType type);

// Writes `source` to `path` (through `path`.part, renamed when complete). Throws Error for an unconvertible source
// (ModelSource::convert_blocker), an unsupported type, or an I/O failure; a failed conversion leaves no file.
ConvertResult convert_to_gguf(const ModelSource& source, const std::string& path, const ConvertOptions& options,
                              const ConvertProgress& progress = {});

// The type each tensor of `source` gets when converting to `type` (the rule above), for tests and `ternion convert`.
DType convert_tensor_type(const SourceTensor& tensor, DType type);

}  // namespace ternion
