#include "convert/hf_ternary.h"

#include <cmath>
#include <memory>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/core/fp16.h"
#include "ternion/model/block_tensors.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

constexpr std::string_view kProjections[] = {"attn_q.weight",   "attn_k.weight", "attn_v.weight",  "attn_output.weight",
                                             "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"};

// One float of a safetensors tensor (F32, F16 or BF16).
float value_at(const SafetensorsTensor& t, size_t i, const std::string& where) {
  uint16_t h = 0;
  if (t.dtype == "F32") {
    float f = 0;
    std::memcpy(&f, t.data + i * 4, 4);
    return f;
  }
  if (t.dtype != "F16" && t.dtype != "BF16")
    throw Error(where + " has dtype " + t.dtype + ", expected F32, F16 or BF16");
  std::memcpy(&h, t.data + i * 2, 2);
  return t.dtype == "F16" ? fp16_to_fp32(h) : bf16_to_fp32(h);
}

// The value a float has once stored in `dtype` (what transformers' .to(dtype) leaves).
float round_to(const std::string& dtype, float v) {
  if (dtype == "F16") return fp16_to_fp32(fp32_to_fp16(v));
  if (dtype == "BF16") return bf16_to_fp32(fp32_to_bf16(v));
  return v;
}

// Codes of an offline checkpoint's packed weight ([rows / 4, cols] uint8).
std::vector<float> unpack_codes(const SafetensorsTensor& t, uint64_t rows, uint64_t cols, const std::string& where) {
  if (t.shape != std::vector<uint64_t>{rows / 4, cols} || rows % 4 != 0) {
    throw Error(where + ": expected uint8 [" + std::to_string(rows / 4) + ", " + std::to_string(cols) +
                "] (four 2-bit codes per byte along the rows)");
  }
  std::vector<float> codes(rows * cols);
  const uint64_t packed_rows = rows / 4;
  for (uint64_t i = 0; i < 4; ++i) {
    for (uint64_t r = 0; r < packed_rows; ++r) {
      for (uint64_t k = 0; k < cols; ++k) {
        const int code = (t.data[r * cols + k] >> (2 * i)) & 3;
        if (code == 3) throw Error(where + ": a 2-bit code of 3 (only 0, 1 and 2 are ternary values)");
        codes[(i * packed_rows + r) * cols + k] = static_cast<float>(code - 1);
      }
    }
  }
  return codes;
}

// An online checkpoint's float weight, ternarized; returns the scale.
float ternarize(const SafetensorsTensor& t, std::vector<float>& codes, const std::string& where) {
  double sum = 0;
  for (size_t i = 0; i < codes.size(); ++i) sum += std::fabs(codes[i] = value_at(t, i, where));
  const float mean = std::max(static_cast<float>(sum / static_cast<double>(codes.size())), 1e-5f);
  const float inv = 1.0f / mean;
  for (float& v : codes) v = std::clamp(std::nearbyint(v * inv), -1.0f, 1.0f);
  return round_to(t.dtype, 1.0f / inv);
}

}  // namespace

bool is_ternary_projection(const HfConfig& c, std::string_view name) {
  if (c.ternary == HfConfig::Ternary::kNone) return false;
  const HfMappedName m = find_hf_tensor(name, *c.spec);
  if (m.entry == nullptr || m.layer < 0) return false;
  for (const std::string_view p : kProjections) {
    if (m.entry->gguf == p) return true;
  }
  return false;
}

void add_ternary_projection(const SafetensorsCheckpoint& weights, const SafetensorsCheckpoint::Entry& e,
                            const HfConfig& c, const HParams& hp, ModelSource& src) {
  const SafetensorsTensor& t = *e.tensor;
  const std::string where = e.file->path() + ": tensor '" + t.name + "'";
  const HfMappedName m = find_hf_tensor(t.name, *c.spec);
  if (m.layer >= c.n_layer) throw Error(where + " is beyond num_hidden_layers in " + c.file);
  const std::vector<uint64_t> shape = tensor_shape(m.entry->gguf, *c.spec, hp);
  const uint64_t cols = shape[0], rows = shape[1];
  auto codes = std::make_shared<std::vector<float>>(rows * cols);
  float scale = 1.0f;
  if (c.ternary == HfConfig::Ternary::kOffline) {
    if (t.dtype != "U8" && t.dtype != "I8") throw Error(where + " has dtype " + t.dtype + ", expected packed U8");
    *codes = unpack_codes(t, rows, cols, where);
    const std::string scale_name = t.name + "_scale";
    const SafetensorsCheckpoint::Entry* s = weights.find(scale_name);
    if (s == nullptr || s->tensor->n_elements != 1) throw Error(where + ": missing its one-value " + scale_name);
    const float ws = value_at(*s->tensor, 0, scale_name);
    if (!std::isfinite(ws) || ws == 0.0f) throw Error(s->file->path() + ": " + scale_name + " is 0 or not finite");
    scale = c.ternary_scale_multiplies ? ws : 1.0f / ws;
  } else {
    if (t.shape != std::vector<uint64_t>{rows, cols}) throw Error(where + ": unexpected shape (from " + c.file + ")");
    scale = ternarize(t, *codes, where);
  }
  const std::string name = "blk." + std::to_string(m.layer) + "." + std::string(m.entry->gguf);
  const DType type = cols % dtype_info(DType::TQ2_0).block_size == 0 ? DType::TQ2_0 : DType::F16;
  auto bytes = std::make_shared<std::vector<uint8_t>>(rows * row_bytes(dtype_info(type), cols));
  for (uint64_t r = 0; r < rows; ++r) {
    uint8_t* out = bytes->data() + r * row_bytes(dtype_info(type), cols);
    quantize_weights(type, codes->data() + r * cols, out, static_cast<int64_t>(cols));
  }
  auto scale_value = std::make_shared<std::vector<float>>(1, scale);
  SourceTensor w{
      .name = name, .origin = t.name, .shape = shape, .type = type, .data = bytes->data(), .n_bytes = bytes->size()};
  SourceTensor s{.name = name.substr(0, name.size() - 7) + ".scale",
                 .origin = t.name + " (scale)",
                 .shape = {1},
                 .type = DType::F32,
                 .data = reinterpret_cast<const uint8_t*>(scale_value->data()),
                 .n_bytes = 4};
  src.keep_alive.push_back(bytes);
  src.keep_alive.push_back(scale_value);
  src.tensors.push_back(std::move(w));
  src.tensors.push_back(std::move(s));
}

}  // namespace ternion
