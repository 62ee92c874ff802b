#include "ternion/convert/convert.h"

#include <array>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/model/architecture.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

struct FileType {
  DType type;
  uint32_t ftype;  // llama.cpp's llama_ftype for "mostly this type" (the _S variant for k-quants)
};

constexpr std::array<FileType, 24> kFileTypes = {{
    {DType::F32, 0},    {DType::F16, 1},     {DType::Q4_0, 2},     {DType::Q4_1, 3},    {DType::Q8_0, 7},
    {DType::Q5_0, 8},   {DType::Q5_1, 9},    {DType::Q2_K, 10},    {DType::Q3_K, 11},   {DType::Q4_K, 14},
    {DType::Q5_K, 16},  {DType::Q6_K, 18},   {DType::IQ2_XXS, 19}, {DType::IQ2_XS, 20}, {DType::IQ3_XXS, 23},
    {DType::IQ1_S, 24}, {DType::IQ4_NL, 25}, {DType::IQ3_S, 26},   {DType::IQ2_S, 28},  {DType::IQ4_XS, 30},
    {DType::IQ1_M, 31}, {DType::BF16, 32},   {DType::TQ1_0, 36},   {DType::TQ2_0, 37},
}};

// Source row index of output row `r` of a Q/K weight whose heads are stored in rotate-half order: GGUF's llama layout
// interleaves each head's two halves (row 2i from i, row 2i+1 from i + head_rows/2).
uint64_t source_row(uint64_t r, uint64_t head_rows) {
  const uint64_t head = r / head_rows, within = r % head_rows;
  return head * head_rows + (within % 2) * (head_rows / 2) + within / 2;
}

// Fills `out` (the tensor's bytes in the file) from the source, row by row.
void convert_tensor(const SourceTensor& t, DType out_type, std::span<uint8_t> out, const std::string& where) {
  // A permuted bias (1-D) is permuted element by element: one-element rows.
  const bool elementwise = t.shape.size() == 1 && t.rope_permute_heads > 0;
  const uint64_t cols = elementwise ? 1 : t.shape[0];
  uint64_t rows = elementwise ? t.shape[0] : 1;
  for (size_t i = 1; i < t.shape.size(); ++i) rows *= t.shape[i];
  const DTypeInfo& src_info = dtype_info(t.type);
  const size_t src_row = row_bytes(src_info, cols);
  if (static_cast<uint64_t>(src_row) * rows != t.n_bytes) {
    throw Error(where + ": tensor " + t.name + " holds " + std::to_string(t.n_bytes) + " bytes, its shape needs " +
                std::to_string(static_cast<uint64_t>(src_row) * rows));
  }
  uint64_t head_rows = rows;
  if (t.rope_permute_heads > 0) {
    const auto heads = static_cast<uint64_t>(t.rope_permute_heads);
    if (rows % heads != 0 || (rows / heads) % 2 != 0) {
      throw Error(where + ": tensor " + t.name + ": " + std::to_string(rows) + " rows do not split into " +
                  std::to_string(heads) + " heads of an even size");
    }
    head_rows = rows / heads;
  }
  const auto row_of = [&](uint64_t r) {
    return t.data + (t.rope_permute_heads > 0 ? source_row(r, head_rows) : r) * src_row;
  };
  const size_t out_row = row_bytes(dtype_info(out_type), cols);
  if (static_cast<uint64_t>(out_row) * rows != out.size())
    throw Error(where + ": tensor " + t.name + ": size mismatch");
  if (out_type == t.type) {
    for (uint64_t r = 0; r < rows; ++r) std::memcpy(out.data() + r * out_row, row_of(r), src_row);
    return;
  }
  const QuantTraits& from = quant_traits(t.type);
  const QuantTraits& to = quant_traits(out_type);
  std::vector<float> f(static_cast<size_t>(cols));
  for (uint64_t r = 0; r < rows; ++r) {
    from.to_float(row_of(r), f.data(), static_cast<int64_t>(cols));
    to.from_float(f.data(), out.data() + r * out_row, static_cast<int64_t>(cols));
  }
}

}  // namespace

uint32_t gguf_file_type(DType type) {
  for (const FileType& f : kFileTypes) {
    if (f.type == type) return f.ftype;
  }
  throw Error("type " + std::string(dtype_info(type).name) + " has no GGUF file type");
}

void check_convert_type(DType type) {
  const std::string name(dtype_info(type).name);
  if (!has_quant_traits(type) || quant_traits(type).from_float == nullptr) {
    throw Error("cannot convert to " + name + ": this build has no quantizer for it");
  }
  if (quant_traits(type).vec_dot == nullptr) throw Error("cannot convert to " + name + ": it is not a weight type");
  gguf_file_type(type);
}

DType convert_tensor_type(const SourceTensor& t, DType type) {
  // Norms, biases and other vectors stay F32, as the converter keeps them.
  if (t.shape.size() <= 1 || t.name.ends_with("_norm.weight") || !t.name.ends_with(".weight")) return DType::F32;
  // So are MoE routers (llama.cpp's converter and quantizer leave ffn_gate_inp in F32).
  if (t.name.ends_with("ffn_gate_inp.weight")) return DType::F32;
  if ((type == DType::TQ1_0 || type == DType::TQ2_0) && (t.name == "token_embd.weight" || t.name == "output.weight")) {
    return DType::F16;
  }
  if (t.shape[0] % dtype_info(type).block_size != 0) return DType::F16;
  return type;
}

ConvertResult convert_to_gguf(const ModelSource& source, const std::string& path, const ConvertOptions& options,
                              const ConvertProgress& progress) {
  if (!source.convert_blocker.empty()) throw Error("cannot convert to GGUF: " + source.convert_blocker);
  check_convert_type(options.type);
  GgufMetadata metadata = source.metadata;
  metadata.set_u32("general.file_type", gguf_file_type(options.type));

  ConvertResult result;
  GgufWriter writer;
  for (const auto& [key, value] : metadata.entries()) writer.set(key, value);
  // The tensors to write: the source's, and where llama.cpp's loader needs an output matrix that a tied model
  // lacks, a copy of the embedding after it (as llama.cpp's converter writes it).
  std::vector<SourceTensor> extra;
  std::vector<const SourceTensor*> order;
  const GgufValue* arch = metadata.find("general.architecture");
  const ArchSpec* spec = arch != nullptr ? find_arch_spec(arch->as_string()) : nullptr;
  const bool copy_output = spec != nullptr && spec->gguf_output_required && source.find("output.weight") == nullptr;
  extra.reserve(1);
  for (const SourceTensor& t : source.tensors) {
    order.push_back(&t);
    if (copy_output && t.name == "token_embd.weight") {
      extra.push_back(t);
      extra.back().name = "output.weight";
      order.push_back(&extra.back());
    }
  }
  const size_t total = order.size();
  for (size_t i = 0; i < total; ++i) {
    const SourceTensor& t = *order[i];
    const DType type = convert_tensor_type(t, options.type);
    check_convert_type(type);
    ++result.type_counts[type];
    // Tensors are produced one at a time while the file is written (GgufWriter calls these in order).
    writer.add_streamed_tensor(t.name, t.shape, type, [&, i, type](std::span<uint8_t> out) {
      convert_tensor(*order[i], type, out, source.path);
      if (progress) progress(i + 1, total, order[i]->name, type);
    });
  }
  writer.write(path, 32, source.inputs);
  std::error_code ec;
  result.file_bytes = std::filesystem::file_size(path, ec);
  result.n_tensors = total;
  return result;
}

}  // namespace ternion
