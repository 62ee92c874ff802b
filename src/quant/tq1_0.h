// TQ1_0 (ternary, BitNet b1.58): super-blocks of 256 values, 1.6875 bits each, and one fp16 scale:
// value = (t - 1) * d with t in {0, 1, 2}. Trits are packed in base 3, five to a byte: the trits t0..t4 (t0 most
// significant) form q = 81 t0 + 27 t1 + 9 t2 + 3 t3 + t4 in [0, 242], stored as the byte ceil(q * 256 / 243), so
// trit k of byte b is ((b * 3^k mod 256) * 3) >> 8 with 8-bit wrap-around. Element order:
//   qs[m],      m < 32: trit k is element 32 k + m          (elements 0..159)
//   qs[32 + m], m < 16: trit k is element 160 + 16 k + m    (elements 160..239)
//   qh[j],      j < 4:  trit k (k < 4) is element 240 + 4 k + j; its fifth trit is 0
// Layout bit-exact with GGUF (54 bytes). Dots take Q8_K activations, with the numerics of TQ2_0 (tq2_0.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kTQ1_0BlockSize = 256;

struct BlockTQ1_0 {
  uint8_t qs[48];  // 5 trits per byte
  uint8_t qh[4];   // 4 trits per byte
  uint16_t d;      // scale, fp16
};
static_assert(sizeof(BlockTQ1_0) == 54, "TQ1_0 block must match GGUF");

// The 256 trits of a block in element order, each 0..2.
void tq1_0_unpack(const BlockTQ1_0& b, uint8_t* trits);

void tq1_0_to_float_ref(const void* src, float* dst, int64_t n);
void tq1_0_from_float_ref(const float* src, void* dst, int64_t n);
void tq1_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void tq1_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

void tq1_0_to_float_avx2(const void* src, float* dst, int64_t n);
void tq1_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void tq1_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo);

void tq1_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void tq1_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                       int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* tq1_0_traits(Isa isa);

}  // namespace ternion::quant
