// BitNet checkpoints whose config has a quantization_config (quant_method "bitnet"): each projection becomes
// ternary codes plus its `<name>.scale` tensor ([1], F32), the form llama.cpp's bitnet loader reads, so the
// forward pass multiplies the product by the scale (WeightMatrix::scale) as transformers does.
#pragma once

#include "convert/hf_config.h"
#include "ternion/io/safetensors.h"
#include "ternion/model/model_source.h"

namespace ternion {

// Whether `name` (an HF tensor name) is a projection the config's quantization applies to.
bool is_ternary_projection(const HfConfig& c, std::string_view name);

// Adds a projection's codes and scale to `src`: TQ2_0 codes (block scale 1) where the rows split into its blocks,
// else F16 codes. An offline checkpoint's `weight` is uint8 [rows / 4, cols], output row i * rows / 4 + r in bits
// 2i..2i+1 of packed row r, as code + 1; its `weight_scale` ([1] or []) divides the product (bitlinear) or multiplies
// it (autobitlinear). An online checkpoint's float weight is ternarized as transformers' WeightQuant does:
// s = mean|W| (at least 1e-5), codes round(W / s) clamped to [-1, 1], scale s rounded to the weight's dtype.
void add_ternary_projection(const SafetensorsCheckpoint& weights, const SafetensorsCheckpoint::Entry& e,
                            const HfConfig& c, const HParams& hp, ModelSource& src);

}  // namespace ternion
