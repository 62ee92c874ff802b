// The interleaved layouts' packing (plain C++, any CPU) and the choice of kernels for this CPU.
#include "quant/interleave.h"

#include <algorithm>
#include <cstring>

#include "quant/k_quant_math.h"
#include "quant/q4_0.h"
#include "quant/q4_k.h"
#include "quant/q6_k.h"
#include "quant/q8_0.h"
#include "quant/tq2_0.h"

namespace ternion {

namespace quant {

void pack_scale_first_blocks(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, size_t value_bytes,
                             uint8_t flip, void* dst) {
  const auto* src = static_cast<const uint8_t*>(w);
  auto* out = static_cast<uint8_t*>(dst);
  const size_t block_bytes = 2 + value_bytes;
  const size_t words = value_bytes / 4;
  const int64_t groups = (rows + kInterleaveRows - 1) / kInterleaveRows;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < n_blocks; ++b) {
      uint8_t* blk = out + static_cast<size_t>(g * n_blocks + b) * interleaved_block_bytes(value_bytes);
      std::memset(blk, 0, interleaved_block_bytes(value_bytes));  // rows past the end stay zero
      const int64_t n_rows = std::min<int64_t>(kInterleaveRows, rows - g * kInterleaveRows);
      for (int64_t r = 0; r < n_rows; ++r) {
        const uint8_t* in = src + static_cast<size_t>(g * kInterleaveRows + r) * w_stride + b * block_bytes;
        std::memcpy(blk + kInterleaveRows * value_bytes + 2 * r, in, 2);
        for (size_t k = 0; k < words; ++k) {
          for (size_t i = 0; i < 4; ++i) {
            blk[(k * kInterleaveRows + static_cast<size_t>(r)) * 4 + i] = in[2 + 4 * k + i] ^ flip;
          }
        }
      }
    }
  }
}

namespace {

// Walks the super-blocks of every group of 16 rows: a zeroed output block (rows past the end stay zero) and, for
// each row present, its input block `In` copied out of the row; `place(out_block, in, row_in_group)` lays it out.
template <class In, size_t kOutBlock, class Place>
void pack_super_blocks(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst, Place place) {
  const auto* src = static_cast<const uint8_t*>(w);
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t groups = (rows + kInterleaveRows - 1) / kInterleaveRows;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < n_blocks; ++b) {
      uint8_t* blk = out + static_cast<size_t>(g * n_blocks + b) * kOutBlock;
      std::memset(blk, 0, kOutBlock);
      const int64_t n_rows = std::min<int64_t>(kInterleaveRows, rows - g * kInterleaveRows);
      for (int64_t r = 0; r < n_rows; ++r) {
        In in;
        std::memcpy(&in, src + static_cast<size_t>(g * kInterleaveRows + r) * w_stride + b * sizeof(In), sizeof in);
        place(blk, in, static_cast<size_t>(r));
      }
    }
  }
}

}  // namespace

void pack_q4_k(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst) {
  pack_super_blocks<BlockQ4_K, kQ4KInterleavedBlock>(
      w, w_stride, rows, n_blocks, dst, [](uint8_t* blk, const BlockQ4_K& in, size_t r) {
        for (size_t k = 0; k < 32; ++k) {
          std::memcpy(blk + kQ4KInterleavedValues + (k * kInterleaveRows + r) * 4, in.qs + 4 * k, 4);
        }
        for (int j = 0; j < 8; ++j) {
          uint8_t sc = 0;
          uint8_t m = 0;
          unpack_scale_min_k4(j, in.scales, &sc, &m);
          blk[kQ4KInterleavedScales + 16 * static_cast<size_t>(j) + r] = sc;
          blk[kQ4KInterleavedMins + 16 * static_cast<size_t>(j) + r] = m;
        }
        std::memcpy(blk + kQ4KInterleavedD + 2 * r, &in.d, 2);
        std::memcpy(blk + kQ4KInterleavedDmin + 2 * r, &in.dmin, 2);
      });
}

void pack_q6_k(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst) {
  pack_super_blocks<BlockQ6_K, kQ6KInterleavedBlock>(
      w, w_stride, rows, n_blocks, dst, [](uint8_t* blk, const BlockQ6_K& in, size_t r) {
        for (size_t k = 0; k < 32; ++k) std::memcpy(blk + q6_k_ql_word_offset(k) + r * 4, in.ql + 4 * k, 4);
        for (size_t k = 0; k < 16; ++k) std::memcpy(blk + q6_k_qh_word_offset(k) + r * 4, in.qh + 4 * k, 4);
        for (size_t j = 0; j < 16; ++j) blk[kQ6KInterleavedScales + 16 * j + r] = static_cast<uint8_t>(in.scales[j]);
        std::memcpy(blk + kQ6KInterleavedD + 2 * r, &in.d, 2);
      });
}

void pack_tq2_0(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst) {
  pack_super_blocks<BlockTQ2_0, kTQ2InterleavedBlock>(
      w, w_stride, rows, n_blocks, dst, [](uint8_t* blk, const BlockTQ2_0& in, size_t r) {
        for (size_t k = 0; k < 16; ++k) {
          std::memcpy(blk + kTQ2InterleavedValues + (k * kInterleaveRows + r) * 4, in.qs + 4 * k, 4);
        }
        std::memcpy(blk + kTQ2InterleavedD + 2 * r, &in.d, 2);
      });
}

#if defined(__x86_64__) || defined(__aarch64__)  // the only users are the kernel records below
namespace {

size_t q6_k_group_bytes(int64_t cols) { return static_cast<size_t>(cols / kQK_K) * kQ6KInterleavedBlock; }
void q6_k_pack_rows(const void* w, size_t w_stride, int64_t rows, int64_t cols, void* dst) {
  pack_q6_k(w, w_stride, rows, cols / kQK_K, dst);
}

size_t tq2_0_group_bytes(int64_t cols) { return static_cast<size_t>(cols / kQK_K) * kTQ2InterleavedBlock; }
void tq2_0_pack_rows(const void* w, size_t w_stride, int64_t rows, int64_t cols, void* dst) {
  pack_tq2_0(w, w_stride, rows, cols / kQK_K, dst);
}

size_t q4_k_group_bytes(int64_t cols) { return static_cast<size_t>(cols / kQK_K) * kQ4KInterleavedBlock; }
void q4_k_pack_rows(const void* w, size_t w_stride, int64_t rows, int64_t cols, void* dst) {
  pack_q4_k(w, w_stride, rows, cols / kQK_K, dst);
}

size_t q4_0_group_bytes(int64_t cols) {
  return static_cast<size_t>(cols / kQ4_0BlockSize) * interleaved_block_bytes(kQ4_0BlockSize / 2);
}
size_t q8_0_group_bytes(int64_t cols) {
  return static_cast<size_t>(cols / kQ8_0BlockSize) * interleaved_block_bytes(kQ8_0BlockSize);
}
void q4_0_pack(const void* w, size_t w_stride, int64_t rows, int64_t cols, void* dst) {
  pack_scale_first_blocks(w, w_stride, rows, cols / kQ4_0BlockSize, kQ4_0BlockSize / 2, 0x00, dst);
}
void q8_0_pack(const void* w, size_t w_stride, int64_t rows, int64_t cols, void* dst) {
  pack_scale_first_blocks(w, w_stride, rows, cols / kQ8_0BlockSize, kQ8_0BlockSize, 0x80, dst);
}

}  // namespace

// Every level of a type shares its layout and packing; only the gemm differs.
#if defined(__x86_64__)
const InterleavedKernels kQ4_0InterleavedAvx2{DType::Q4_0, Isa::Avx2, q4_0_group_bytes, q4_0_pack,
                                              q4_0_interleaved_gemm_avx2};
const InterleavedKernels kQ8_0InterleavedAvx2{DType::Q8_0, Isa::Avx2, q8_0_group_bytes, q8_0_pack,
                                              q8_0_interleaved_gemm_avx2};
const InterleavedKernels kQ4_0InterleavedAvxVnni{DType::Q4_0, Isa::AvxVnni, q4_0_group_bytes, q4_0_pack,
                                                 q4_0_interleaved_gemm_avxvnni};
const InterleavedKernels kQ8_0InterleavedAvxVnni{DType::Q8_0, Isa::AvxVnni, q8_0_group_bytes, q8_0_pack,
                                                 q8_0_interleaved_gemm_avxvnni};
const InterleavedKernels kQ4_0InterleavedAvx512Vnni{DType::Q4_0, Isa::Avx512Vnni, q4_0_group_bytes, q4_0_pack,
                                                    q4_0_interleaved_gemm_avx512};
const InterleavedKernels kQ8_0InterleavedAvx512Vnni{DType::Q8_0, Isa::Avx512Vnni, q8_0_group_bytes, q8_0_pack,
                                                    q8_0_interleaved_gemm_avx512};
const InterleavedKernels kQ4_KInterleavedAvx512Vnni{DType::Q4_K, Isa::Avx512Vnni, q4_k_group_bytes, q4_k_pack_rows,
                                                    q4_k_interleaved_gemm_avx512};
const InterleavedKernels kQ6_KInterleavedAvx512Vnni{DType::Q6_K, Isa::Avx512Vnni, q6_k_group_bytes, q6_k_pack_rows,
                                                    q6_k_interleaved_gemm_avx512};
const InterleavedKernels kTQ2_0InterleavedAvx512Vnni{DType::TQ2_0, Isa::Avx512Vnni, tq2_0_group_bytes, tq2_0_pack_rows,
                                                     tq2_0_interleaved_gemm_avx512};
const InterleavedKernels kQ4_0InterleavedVnni256Evex{DType::Q4_0, Isa::Avx512Vnni, q4_0_group_bytes, q4_0_pack,
                                                     q4_0_interleaved_gemm_vnni256_avx512};
const InterleavedKernels kQ8_0InterleavedVnni256Evex{DType::Q8_0, Isa::Avx512Vnni, q8_0_group_bytes, q8_0_pack,
                                                     q8_0_interleaved_gemm_vnni256_avx512};
const InterleavedKernels kQ4_KInterleavedAvx2{DType::Q4_K, Isa::Avx2, q4_k_group_bytes, q4_k_pack_rows,
                                              q4_k_interleaved_gemm_avx2};
const InterleavedKernels kQ4_KInterleavedAvxVnni{DType::Q4_K, Isa::AvxVnni, q4_k_group_bytes, q4_k_pack_rows,
                                                 q4_k_interleaved_gemm_avxvnni};
const InterleavedKernels kQ4_KInterleavedVnni256Evex{DType::Q4_K, Isa::Avx512Vnni, q4_k_group_bytes, q4_k_pack_rows,
                                                     q4_k_interleaved_gemm_vnni256_avx512};
const InterleavedKernels kQ6_KInterleavedAvx2{DType::Q6_K, Isa::Avx2, q6_k_group_bytes, q6_k_pack_rows,
                                              q6_k_interleaved_gemm_avx2};
const InterleavedKernels kQ6_KInterleavedAvxVnni{DType::Q6_K, Isa::AvxVnni, q6_k_group_bytes, q6_k_pack_rows,
                                                 q6_k_interleaved_gemm_avxvnni};
const InterleavedKernels kQ6_KInterleavedVnni256Evex{DType::Q6_K, Isa::Avx512Vnni, q6_k_group_bytes, q6_k_pack_rows,
                                                     q6_k_interleaved_gemm_vnni256_avx512};
const InterleavedKernels kTQ2_0InterleavedAvx2{DType::TQ2_0, Isa::Avx2, tq2_0_group_bytes, tq2_0_pack_rows,
                                               tq2_0_interleaved_gemm_avx2};
const InterleavedKernels kTQ2_0InterleavedAvxVnni{DType::TQ2_0, Isa::AvxVnni, tq2_0_group_bytes, tq2_0_pack_rows,
                                                  tq2_0_interleaved_gemm_avxvnni};
const InterleavedKernels kTQ2_0InterleavedVnni256Evex{DType::TQ2_0, Isa::Avx512Vnni, tq2_0_group_bytes, tq2_0_pack_rows,
                                                      tq2_0_interleaved_gemm_vnni256_avx512};
#elif defined(__aarch64__)
const InterleavedKernels kQ4_0InterleavedNeonDot{DType::Q4_0, Isa::NeonDot, q4_0_group_bytes, q4_0_pack,
                                                 q4_0_interleaved_gemm_neon_dot};
const InterleavedKernels kQ8_0InterleavedNeonDot{DType::Q8_0, Isa::NeonDot, q8_0_group_bytes, q8_0_pack,
                                                 q8_0_interleaved_gemm_neon_dot};
const InterleavedKernels kQ4_0InterleavedNeonI8mm{DType::Q4_0, Isa::NeonI8mm, q4_0_group_bytes, q4_0_pack,
                                                  q4_0_interleaved_gemm_neon_i8mm};
const InterleavedKernels kQ8_0InterleavedNeonI8mm{DType::Q8_0, Isa::NeonI8mm, q8_0_group_bytes, q8_0_pack,
                                                  q8_0_interleaved_gemm_neon_i8mm};
const InterleavedKernels kQ4_KInterleavedNeonDot{DType::Q4_K, Isa::NeonDot, q4_k_group_bytes, q4_k_pack_rows,
                                                 q4_k_interleaved_gemm_neon_dot};
const InterleavedKernels kQ6_KInterleavedNeonDot{DType::Q6_K, Isa::NeonDot, q6_k_group_bytes, q6_k_pack_rows,
                                                 q6_k_interleaved_gemm_neon_dot};
const InterleavedKernels kTQ2_0InterleavedNeonDot{DType::TQ2_0, Isa::NeonDot, tq2_0_group_bytes, tq2_0_pack_rows,
                                                  tq2_0_interleaved_gemm_neon_dot};
#endif
#endif
}  // namespace quant

const InterleavedKernels* interleaved_kernels(DType type) {
  return has_quant_traits(type) ? quant_traits(type).interleaved : nullptr;
}

std::vector<const InterleavedKernels*> interleaved_kernels_variants(DType type) {
  std::vector<const InterleavedKernels*> out;
  if (!has_quant_traits(type)) return out;
  for (const QuantTraits* tr : quant_traits_variants(type)) {
    if (tr->interleaved != nullptr && std::find(out.begin(), out.end(), tr->interleaved) == out.end()) {
      out.push_back(tr->interleaved);
    }
  }
  return out;
}

size_t interleaved_bytes(const InterleavedKernels& k, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + kInterleaveRows - 1) / kInterleaveRows) * k.group_bytes(cols);
}

}  // namespace ternion
