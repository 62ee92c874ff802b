// export-lora: adapters merged into a copy of the base GGUF (ternion/model/lora.h).
#include <algorithm>
#include <string>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/io/output_file.h"
#include "ternion/model/lora.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// The type a merged tensor is written in (see export_lora).
DType merged_type(const GgufTensorInfo& t, std::optional<DType> type) {
  DType to = type.value_or(is_float(t.type) ? t.type : DType::F16);
  if (t.shape[0] % dtype_info(to).block_size != 0) to = DType::F16;  // as convert falls back
  return to;
}

void check_type(DType t) {
  if (!has_quant_traits(t) || quant_traits(t).from_float == nullptr || quant_traits(t).vec_dot == nullptr) {
    throw Error("export-lora: cannot write merged weights as " + std::string(dtype_info(t).name));
  }
}

// The base tensor dequantized, the adapters added, and the rows written in `to`.
void merge_tensor(const GgufTensorInfo& t, std::span<const LoraUse> uses, DType to, std::span<uint8_t> out) {
  const auto cols = static_cast<int64_t>(t.shape[0]);
  const auto rows = static_cast<int64_t>(t.shape[1]);
  std::vector<float> w(t.n_elements);
  quant_traits(t.type).to_float(t.data, w.data(), static_cast<int64_t>(t.n_elements));
  merge_lora(t.name, uses, w.data(), rows, cols);
  const size_t out_row = row_bytes(dtype_info(to), static_cast<uint64_t>(cols));
  const QuantTraits& q = quant_traits(to);
  for (int64_t r = 0; r < rows; ++r) {
    q.from_float(w.data() + r * cols, out.data() + static_cast<size_t>(r) * out_row, cols);
  }
}

}  // namespace

ExportLoraReport export_lora(const std::string& base, std::span<const std::pair<std::string, float>> adapters,
                             const std::string& output, std::optional<DType> type) {
  if (adapters.empty()) throw Error("export-lora: no adapters given (--lora FILE)");
  std::vector<std::string> inputs = {base};
  for (const auto& a : adapters) inputs.push_back(a.first);
  check_output_is_not_an_input(output, inputs);
  if (type) check_type(*type);
  const std::unique_ptr<Model> model = Model::from_gguf(base, {.resident = false});
  const std::vector<LoraUse> uses = load_lora_adapters(adapters, *model);
  const GgufFile& in = model->gguf();
  for (const LoraUse& u : uses) {
    for (const LoraMatrix& m : u.adapter->matrices()) {
      if (in.find_tensor(m.name) == nullptr) {
        throw Error(u.adapter->path() + ": adapts " + m.name + ", which " + base + " does not hold");
      }
    }
  }
  GgufWriter w;
  for (const auto& [key, value] : in.metadata()) w.set(key, value);
  ExportLoraReport report;
  for (const GgufTensorInfo& t : in.tensors()) {
    ++report.n_tensors;
    bool adapted = false;
    for (const LoraUse& u : uses) {
      for (const LoraMatrix& m : u.adapter->matrices()) adapted = adapted || m.name == t.name;
    }
    if (!adapted) {
      // Streamed like the merged ones, so memory holds one tensor, not the model.
      w.add_streamed_tensor(t.name, t.shape, t.type,
                            [&t](std::span<uint8_t> out) { std::copy_n(t.data, t.n_bytes, out.begin()); });
      continue;
    }
    ++report.n_merged;
    if (!has_quant_traits(t.type)) {
      throw Error(base + ": tensor " + t.name + " has type " + std::string(dtype_info(t.type).name) +
                  ", which export-lora cannot read");
    }
    const DType to = merged_type(t, type);
    check_type(to);
    w.add_streamed_tensor(t.name, t.shape, to,
                          [&t, &uses, to](std::span<uint8_t> out) { merge_tensor(t, uses, to, out); });
  }
  w.write(output, in.alignment(), inputs);
  return report;
}

}  // namespace ternion
