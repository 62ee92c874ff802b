// Q6_K: super-blocks of 256 values in 16 groups of 16; 6-bit quants (low 4 bits in ql, high 2 in qh), an int8
// scale per group and one fp16 super-block scale: value = d * scales[g] * (q - 32). Layout bit-exact with GGUF.
// Its dot product runs against activations in Q8_K (q8_k.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kQK_K = 256;

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits of each quant
  uint8_t qh[kQK_K / 4];      // high 2 bits of each quant
  int8_t scales[kQK_K / 16];  // per-group scales
  uint16_t d;                 // super-block scale, fp16
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block must match GGUF");

// Unpacks one super-block's quants into q[256] as signed values in [-32, 31], in element order.
void q6_k_unpack(const BlockQ6_K& b, int8_t* q);

void q6_k_to_float_ref(const void* src, float* dst, int64_t n);
void q6_k_from_float_ref(const float* src, void* dst, int64_t n);
void q6_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

const QuantTraits* q6_k_traits(Isa isa);

}  // namespace ternion::quant
