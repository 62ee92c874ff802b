// ARM64 i8mm (ARMv8.6 SMMLA) prompt tiles over the interleaved Q4_0 and Q8_0 layouts; decode and odd tokens keep
// the SDOT kernels of interleave_neon_q.h. Run only after detection.
//
// SMMLA multiplies a 2x8 int8 matrix by an 8x2 one into a 2x2 int32 tile: two rows' eight values against two
// tokens' eight activations, 32 multiply-adds per instruction against SDOT's 16. The layout stores each row's
// 4-byte words of a block 64 bytes apart (word k of rows 4j..4j+3 at blk + 64k + 16j), so one ZIP of words k and
// k + 1 of a quad gives rows 4j and 4j+1 their eight consecutive values (and ZIP2 rows 4j+2, 4j+3): SMMLA's left
// operand without any other shuffle. A token pair's eight activations come from one 64-bit ZIP of the two
// tokens' loads. Each tile lane is one (row, token) block sum, started from the activation's -8 * sum(x) for Q4_0
// as the SDOT tile starts it, so the integers and then fma(isum, d_w * d_x, sum) are the reference's.
// Same scheduling note as interleave_neon_dot.cpp: set before the includes.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns")
#endif

#include "quant/interleave_neon_q.h"

namespace ternion::quant {

namespace {

// Chunk c (elements 8c..8c+7 of the block) of a quad's rows 0,1 (h = 0) and 2,3 (h = 1): f(c, h, values).
template <class L, class F>
[[gnu::always_inline]] inline void for_each_row_pair_chunk(const uint8_t* quad, F&& f) {
  if constexpr (std::is_same_v<L, Q4Layout>) {
    // Words k, k + 1 hold elements 4k.. in their low nibbles and 16 + 4k.. in their high ones.
    for (int k = 0; k < 4; k += 2) {
      const uint8x16_t w0 = vld1q_u8(quad + 64 * k);
      const uint8x16_t w1 = vld1q_u8(quad + 64 * (k + 1));
      const uint8x16_t z[2] = {vreinterpretq_u8_u32(vzip1q_u32(vreinterpretq_u32_u8(w0), vreinterpretq_u32_u8(w1))),
                               vreinterpretq_u8_u32(vzip2q_u32(vreinterpretq_u32_u8(w0), vreinterpretq_u32_u8(w1)))};
      for (int h = 0; h < 2; ++h) {
        f(k / 2, h, vreinterpretq_s8_u8(vandq_u8(z[h], vdupq_n_u8(0x0f))));
        f(2 + k / 2, h, vreinterpretq_s8_u8(vshrq_n_u8(z[h], 4)));
      }
    }
  } else {
    for (int k = 0; k < 8; k += 2) {
      const uint32x4_t w0 = vreinterpretq_u32_u8(veorq_u8(vld1q_u8(quad + 64 * k), vdupq_n_u8(0x80)));
      const uint32x4_t w1 = vreinterpretq_u32_u8(veorq_u8(vld1q_u8(quad + 64 * (k + 1)), vdupq_n_u8(0x80)));
      f(k / 2, 0, vreinterpretq_s8_u32(vzip1q_u32(w0, w1)));
      f(k / 2, 1, vreinterpretq_s8_u32(vzip2q_u32(w0, w1)));
    }
  }
}

// A tile lane set [row r0 token a, r0 b, r1 a, r1 b] of out (the group's row 0 of token a; b one row of out
// later); rows at or past n_valid read 0 and are not written.
inline float32x4_t load_pair_tile(const float* out, int64_t ldo, int r0, int n_valid) {
  float v[4] = {};
  for (int i = 0; i < 2; ++i) {
    if (r0 + i >= n_valid) break;
    v[2 * i] = out[r0 + i];
    v[2 * i + 1] = out[ldo + r0 + i];
  }
  return vld1q_f32(v);
}

inline void store_pair_tile(float* out, int64_t ldo, int r0, int n_valid, float32x4_t acc) {
  float v[4];
  vst1q_f32(v, acc);
  for (int i = 0; i < 2; ++i) {
    if (r0 + i >= n_valid) break;
    out[r0 + i] = v[2 * i];
    out[ldo + r0 + i] = v[2 * i + 1];
  }
}

// T tokens (a multiple of 2) x quads [q0, q0 + Q) of one group over blocks [b0, b0 + kb), as interleaved_tile.
template <class L, int T, int Q>
void mmla_tile(const uint8_t* g, int q0, int kb, const ActivationView& a, int t0, const uint8_t* x, size_t x_stride,
               int64_t b0, bool first_chunk, float* out, int64_t ldo, int n_valid) {
  static_assert(T % 2 == 0);
  constexpr int P = T / 2;  // token pairs
  float32x4_t acc[P][2 * Q];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
    for (int h = 0; h < 2 * Q; ++h) {
      acc[p][h] = first_chunk ? vdupq_n_f32(0.0f) : load_pair_tile(out + 2 * p * ldo, ldo, 4 * q0 + 2 * h, n_valid);
    }
  }
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * L::kBlockBytes;
    int8x16_t xc[P][4];  // chunk c of the pair: token a's elements 8c..8c+7, then token b's
    int32x4_t s[P][2 * Q];
    float32x4_t dx[P];
    for (int p = 0; p < P; ++p) {
      const size_t off = static_cast<size_t>(b0 + b) * kQ8Bytes + 2;
      const uint8_t* xa = x + static_cast<size_t>(t0 + 2 * p) * x_stride + off;
      for (int half = 0; half < 2; ++half) {
        const int64x2_t va = vreinterpretq_s64_s8(load_s8x16(xa + 16 * half));
        const int64x2_t vb = vreinterpretq_s64_s8(load_s8x16(xa + x_stride + 16 * half));
        xc[p][2 * half] = vreinterpretq_s8_s64(vzip1q_s64(va, vb));
        xc[p][2 * half + 1] = vreinterpretq_s8_s64(vzip2q_s64(va, vb));
      }
      const size_t i = static_cast<size_t>(t0 + 2 * p) * a.stride + static_cast<size_t>(b);
      const int32_t ca = L::kUnsignedOffset != 0 ? a.neg_corr[i] : 0;
      const int32_t cb = L::kUnsignedOffset != 0 ? a.neg_corr[i + a.stride] : 0;
      const int32x4_t c =
          vcombine_s32(vcreate_s32(static_cast<uint32_t>(ca) | (uint64_t{static_cast<uint32_t>(cb)} << 32)),
                       vcreate_s32(static_cast<uint32_t>(ca) | (uint64_t{static_cast<uint32_t>(cb)} << 32)));
      for (int h = 0; h < 2 * Q; ++h) s[p][h] = c;
      const float32x2_t d = {a.scale[i], a.scale[i + a.stride]};
      dx[p] = vcombine_f32(d, d);
    }
    for (int q = 0; q < Q; ++q) {
      for_each_row_pair_chunk<L>(blk + 16 * (q0 + q), [&](int c, int h, int8x16_t w) {
        for (int p = 0; p < P; ++p) s[p][2 * q + h] = vmmlaq_s32(s[p][2 * q + h], w, xc[p][c]);
      });
    }
    const uint8_t* scales = blk + kInterleaveRows * L::kValueBytes;
    for (int q = 0; q < Q; ++q) {
      const float32x4_t dw = quad_halves(scales + 8 * (q0 + q));
      const float32x4_t dw_pairs[2] = {vzip1q_f32(dw, dw), vzip2q_f32(dw, dw)};  // [d0 d0 d1 d1], [d2 d2 d3 d3]
      for (int p = 0; p < P; ++p) {
        for (int h = 0; h < 2; ++h) {
          acc[p][2 * q + h] =
              vfmaq_f32(acc[p][2 * q + h], vcvtq_f32_s32(s[p][2 * q + h]), vmulq_f32(dw_pairs[h], dx[p]));
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
    for (int h = 0; h < 2 * Q; ++h) store_pair_tile(out + 2 * p * ldo, ldo, 4 * q0 + 2 * h, n_valid, acc[p][h]);
  }
}

// Token pairs through SMMLA, an odd last token through the SDOT tile.
template <class L>
struct MmlaPromptTiles {
  static void run(int tt, const uint8_t* g, int q0, int kb, const ActivationView& a, int t, const uint8_t* x,
                  size_t x_stride, int64_t b0, bool first_chunk, float* out, int64_t ldo, int n_valid) {
    static_assert(kTileTokens == 4);
    if (tt == 4) {
      mmla_tile<L, 4, kTileQuads>(g, q0, kb, a, t, x, x_stride, b0, first_chunk, out, ldo, n_valid);
      return;
    }
    if (tt >= 2) mmla_tile<L, 2, kTileQuads>(g, q0, kb, a, t, x, x_stride, b0, first_chunk, out, ldo, n_valid);
    if (tt % 2 == 1) {
      const int last = tt - 1;
      interleaved_tile<L, 1, kTileQuads>(g, q0, kb, a, t + last, x, x_stride, b0, first_chunk, out + last * ldo, ldo,
                                         n_valid);
    }
  }
};

}  // namespace

void q4_0_interleaved_gemm_neon_i8mm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                     int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q4Layout, MmlaPromptTiles<Q4Layout>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q8_0_interleaved_gemm_neon_i8mm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                     int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q8Layout, MmlaPromptTiles<Q8Layout>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
