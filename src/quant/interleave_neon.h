// Pieces shared by the ARM64 kernels over the interleaved layouts (interleave_neon_dot.cpp,
// interleave_k_neon_dot.cpp). A 128-bit register holds four rows of a group (a quad: rows 4j..4j+3), so a group's
// outputs for one token are four registers; the rows of the last group past the matrix's end have no outputs, and
// only the rows that exist are read or written (NEON has no masked load or store).
//
// Everything here has internal linkage (see kernel_common.h for why).
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "quant/kernel_common.h"
#include "ternion/quant/interleave.h"

namespace ternion::quant {
namespace {

// f(std::integral_constant<int, i>{}) for i = 0..N-1: the lane of a by-element SDOT must be a constant. Always
// inlined, so that the unrolled body stays in the caller's registers.
template <class F, int... I>
[[gnu::always_inline]] inline void unroll_sequence(F& f, std::integer_sequence<int, I...> /*i*/) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, class F>
[[gnu::always_inline]] inline void unroll(F&& f) {
  unroll_sequence(f, std::make_integer_sequence<int, N>{});
}

// Asks for the cache lines of [p + kAhead, p + kAhead + kBytes), one PRFM each: prefetch_bytes' loop costs three
// more instructions a line, 10-13 % of a Q4_K or Q6_K decode super-block. Addresses formed as integers (see
// core/prefetch.h).
template <size_t kAhead, size_t kBytes>
[[gnu::always_inline]] inline void prefetch_lines(const uint8_t* p) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) + kAhead;
  unroll<static_cast<int>((kBytes + 63) / 64)>(
      [&](auto i) { __builtin_prefetch(reinterpret_cast<const void*>(first + 64 * decltype(i)::value), 0, 3); });
}

// The rows of group g that exist: kInterleaveRows except in a short last group.
constexpr int group_rows(int64_t n_rows, int64_t g) {
  return static_cast<int>(std::min<int64_t>(kInterleaveRows, n_rows - g * kInterleaveRows));
}

// Outputs of quad q (rows 4q..4q+3 of out, which points at the group's row 0); lanes of missing rows read 0.
inline float32x4_t load_row_quad(const float* out, int q, int n_valid) {
  if (4 * q + 4 <= n_valid) return vld1q_f32(out + 4 * q);
  float v[4] = {};
  for (int r = 4 * q; r < n_valid; ++r) v[r - 4 * q] = out[r];
  return vld1q_f32(v);
}

inline void store_row_quad(float* out, int q, int n_valid, float32x4_t acc) {
  if (4 * q + 4 <= n_valid) {
    vst1q_f32(out + 4 * q, acc);
    return;
  }
  float v[4];
  vst1q_f32(v, acc);
  for (int r = 4 * q; r < n_valid; ++r) out[r] = v[r - 4 * q];
}

// Four bytes (one per row of a quad: the rows' scales or mins of one group) widened to 16 and 32 bits. Reads 8
// bytes: the layouts keep more of the block after every scale and min.
inline uint16x4_t quad_bytes_u16(const uint8_t* p) { return vget_low_u16(vmovl_u8(vld1_u8(p))); }
inline int32x4_t quad_bytes_s32(const uint8_t* p) { return vreinterpretq_s32_u32(vmovl_u16(quad_bytes_u16(p))); }

// The fp16 scales of a quad's four rows as fp32.
inline float32x4_t quad_halves(const uint8_t* p) { return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p))); }

}  // namespace
}  // namespace ternion::quant
