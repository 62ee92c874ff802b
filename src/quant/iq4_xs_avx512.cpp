// IQ4_XS gemm for AVX-512 (F, BW, VL, DQ, VNNI): prompt batches in a packed layout, as q8_dot_avx512.h does for
// Q8_0 activations. 16 weight rows are regrouped so that one register holds the same 4 bytes of a block of 32 for
// all 16 rows, as unsigned bytes (grid value + 128); one VPDPBUSD with 4 activation bytes broadcast advances 16
// outputs. Each block's accumulator starts at -128 * (the activation block's sum), so after 8 steps it holds the
// exact sum(grid value * p); times the rows' block scales (ls - 32) and summed over the 8 blocks it is the
// reference's exact isum, and each output accumulates fma(isum, d_w * d_x, sum) super-block after super-block.
// Few tokens use the AVX2 kernels.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "quant/iq4_nl.h"
#include "quant/iq4_xs.h"
#include "quant/kernel_common.h"
#include "quant/nibbles_avx512.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_dot_avx512.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr size_t kWBytes = sizeof(BlockIq4Xs);
constexpr size_t kXBytes = sizeof(BlockQ8_K);
constexpr int kBlocks = kIq4XsBlockSize / 32;
constexpr int kChunk = 8;  // super-blocks per packed K chunk: 37 KiB of packed weights, about L1

// 16 rows x kChunk super-blocks: per block of 32, 8 registers (dword k of the block for every row); per
// super-block the rows' block scales (ls - 32) and fp32 scales d.
struct PackedXsRows {
  alignas(64) __m512i values[kChunk][kBlocks][8];
  alignas(64) int32_t scales[kChunk][kBlocks][kPackRows];
  alignas(64) float d[kChunk][kPackRows];
};

void pack_xs_rows(PackedXsRows& p, const uint8_t* w, size_t w_stride, int64_t s0, int ks) {
  const __m512i offsets = row_offsets(w_stride);
  const __m512i grid = _mm512_xor_si512(
      _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4Values))), _mm512_set1_epi8(-128));
  for (int s = 0; s < ks; ++s) {
    const uint8_t* sb = w + static_cast<size_t>(s0 + s) * kWBytes;
    _mm512_store_ps(p.d[s], gather_scales16(sb, offsets));
    const __m512i high = _mm512_i32gather_epi32(offsets, sb + 2, 1);  // scales_h in the low 16 bits
    const __m512i low = _mm512_i32gather_epi32(offsets, sb + 4, 1);   // scales_l: nibble ib = block ib
    for (int ib = 0; ib < kBlocks; ++ib) {
      const __m512i l4 = _mm512_and_si512(_mm512_srli_epi32(low, static_cast<unsigned>(4 * ib)), _mm512_set1_epi32(15));
      const __m512i h2 = _mm512_and_si512(_mm512_srli_epi32(high, static_cast<unsigned>(2 * ib)), _mm512_set1_epi32(3));
      const __m512i ls = _mm512_or_si512(l4, _mm512_slli_epi32(h2, 4));
      _mm512_store_si512(p.scales[s][ib], _mm512_sub_epi32(ls, _mm512_set1_epi32(32)));
      gather_nibbles16(sb + 8 + 16 * ib, offsets, p.values[s][ib]);
      for (int k = 0; k < 8; ++k) p.values[s][ib][k] = _mm512_shuffle_epi8(grid, p.values[s][ib][k]);
    }
  }
}

// Per token and super-block of a chunk: -128 * each block's activation sum, and the fp32 scale.
struct XsActivations {
  alignas(64) int32_t neg_corr[kPackTokens][kChunk][kBlocks];
  alignas(64) float scale[kPackTokens][kChunk];
};

void prepare_xs_activations(XsActivations& a, const uint8_t* x, size_t x_stride, int n_tokens, int64_t s0, int ks) {
  const __m256i ones = _mm256_set1_epi8(1);
  for (int t = 0; t < n_tokens; ++t) {
    for (int s = 0; s < ks; ++s) {
      const uint8_t* sb = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(s0 + s) * kXBytes;
      __m256i v[kBlocks];
      for (int ib = 0; ib < kBlocks; ++ib) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 4 + 32 * ib));
        v[ib] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, q);
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(a.neg_corr[t][s]),
                         _mm256_mullo_epi32(reduce8_epi32(v), _mm256_set1_epi32(-128)));
      a.scale[t][s] = load_unaligned<float>(sb, 0);
    }
  }
}

// T tokens x 16 rows over ks packed super-blocks; acc starts from out (a later K chunk) or from zero.
template <int T>
void packed_xs_tile(const PackedXsRows& p, const XsActivations& a, int t0, const uint8_t* x, size_t x_stride,
                    int64_t s0, int ks, bool first_chunk, float* out, int64_t ldo) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_loadu_ps(out + t * ldo);
  const uint8_t* xt[T];
  for (int t = 0; t < T; ++t)
    xt[t] = x + static_cast<size_t>(t0 + t) * x_stride + static_cast<size_t>(s0) * kXBytes + 4;
  for (int s = 0; s < ks; ++s) {
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int ib = 0; ib < kBlocks; ++ib) {
      __m512i bs[T];
      for (int t = 0; t < T; ++t) bs[t] = _mm512_set1_epi32(a.neg_corr[t0 + t][s][ib]);
      for (int k = 0; k < 8; ++k) {
        const __m512i wv = _mm512_load_si512(&p.values[s][ib][k]);
        for (int t = 0; t < T; ++t) {
          const int32_t xk = load_unaligned<int32_t>(xt[t] + s * kXBytes + 32 * ib, k);
          bs[t] = _mm512_dpbusd_epi32(bs[t], wv, _mm512_set1_epi32(xk));
        }
      }
      const __m512i scale = _mm512_load_si512(p.scales[s][ib]);
      for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(bs[t], scale));
    }
    const __m512 dw = _mm512_load_ps(p.d[s]);
    for (int t = 0; t < T; ++t) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(a.scale[t0 + t][s]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), d, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(out + t * ldo, acc[t]);
}

using PackedXsTileFn = void (*)(const PackedXsRows&, const XsActivations&, int, const uint8_t*, size_t, int64_t, int,
                                bool, float*, int64_t);
constexpr PackedXsTileFn kPackedXsTiles[kPackTileTokens] = {packed_xs_tile<1>, packed_xs_tile<2>, packed_xs_tile<3>,
                                                            packed_xs_tile<4>, packed_xs_tile<5>, packed_xs_tile<6>,
                                                            packed_xs_tile<7>, packed_xs_tile<8>};

}  // namespace

void iq4_xs_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo) {
  if (n_tokens < kPackMinTokens || n_rows < kPackRows) {
    iq4_xs_gemm_avx2(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
    return;
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  const int64_t ns = n / kIq4XsBlockSize;
  const int64_t full_rows = n_rows / kPackRows * kPackRows;
  XsActivations act;    // 36 KiB
  PackedXsRows packed;  // 37 KiB
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kPackTokens) {
    const int ts = static_cast<int>(std::min<int64_t>(kPackTokens, n_tokens - t0));
    const uint8_t* xs = xb + static_cast<size_t>(t0) * x_stride;
    for (int64_t s0 = 0; s0 < ns; s0 += kChunk) {
      const int ks = static_cast<int>(std::min<int64_t>(kChunk, ns - s0));
      prepare_xs_activations(act, xs, x_stride, ts, s0, ks);
      for (int64_t r0 = 0; r0 < full_rows; r0 += kPackRows) {
        pack_xs_rows(packed, wb + static_cast<size_t>(r0) * w_stride, w_stride, s0, ks);
        for (int t = 0; t < ts; t += kPackTileTokens) {
          const int tt = std::min(kPackTileTokens, ts - t);
          kPackedXsTiles[tt - 1](packed, act, t, xs, x_stride, s0, ks, s0 == 0, out + (t0 + t) * ldo + r0, ldo);
        }
      }
    }
  }
  if (full_rows < n_rows) {  // the last rows, fewer than a packed group
    iq4_xs_gemm_avx2(n, wb + static_cast<size_t>(full_rows) * w_stride, w_stride, n_rows - full_rows, x, x_stride,
                     n_tokens, out + full_rows, ldo);
  }
}

}  // namespace ternion::quant
