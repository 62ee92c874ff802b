// Interleaved layouts (ternion/quant/interleave.h): the packing, shared by every ISA, and the kernel records.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/interleave.h"

namespace ternion::quant {

namespace {  // internal linkage: the ISA files include this header too (see kernel_common.h)

// The rows of group g that exist (bit r: row g * kInterleaveRows + r < n_rows); only the last group can be short.
constexpr uint16_t group_mask(int64_t n_rows, int64_t g) {
  const int64_t left = n_rows - g * kInterleaveRows;
  return static_cast<uint16_t>(left >= kInterleaveRows ? 0xffff : (1u << left) - 1);
}

}  // namespace

// Block layouts dotted with Q8_0 activations: Q4_0 (16 value bytes of nibbles) and Q8_0 (32 value bytes,
// stored as q + 128). A block of a group: 16 * value_bytes of words, then 16 fp16 scales.
constexpr size_t kInterleavedScaleBytes = kInterleaveRows * 2;
constexpr size_t interleaved_block_bytes(size_t value_bytes) {
  return kInterleaveRows * value_bytes + kInterleavedScaleBytes;
}

// Packs rows whose blocks are [fp16 scale][value_bytes values] (block_bytes = 2 + value_bytes); every value byte
// is XORed with `flip` (0x80 turns int8 into q + 128).
void pack_scale_first_blocks(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, size_t value_bytes,
                             uint8_t flip, void* dst);

// Q4_K (dotted with Q8_K): per super-block of a group, the 16 d and the 16 dmin (fp16), the 16 rows' 8 scales
// and 8 mins unpacked to bytes (scale g of row r at byte 16g + r), then the 32 value words (as above): read
// front to back, one stream, and 37 cache lines a super-block.
constexpr size_t kQ4KInterleavedD = 0;
constexpr size_t kQ4KInterleavedDmin = kQ4KInterleavedD + kInterleaveRows * 2;
constexpr size_t kQ4KInterleavedScales = kQ4KInterleavedDmin + kInterleaveRows * 2;
constexpr size_t kQ4KInterleavedMins = kQ4KInterleavedScales + kInterleaveRows * 8;
constexpr size_t kQ4KInterleavedValues = kQ4KInterleavedMins + kInterleaveRows * 8;
constexpr size_t kQ4KInterleavedBlock = kQ4KInterleavedValues + kInterleaveRows * 128;
void pack_q4_k(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst);

// Q6_K (dotted with Q8_K): per super-block of a group, the 16 d (fp16), the 16 rows' 16 scales (scale g of row r
// at byte 16g + r), then 16 triples of words (each word as above: the 16 rows' 4 bytes side by side): for half h
// and i < 8, triple 8h + i holds ql word 16h + i, ql word 16h + 8 + i and qh word 8h + i, the three words that
// rebuild values together. The kernels read a super-block front to back, one stream the prefetcher follows.
constexpr size_t kQ6KInterleavedD = 0;
constexpr size_t kQ6KInterleavedScales = kQ6KInterleavedD + kInterleaveRows * 2;
constexpr size_t kQ6KInterleavedValues = kQ6KInterleavedScales + kInterleaveRows * 16;
constexpr size_t kQ6KInterleavedBlock = kQ6KInterleavedValues + kInterleaveRows * 192;
// Offsets of ql word k (k < 32) and qh word k (k < 16) in a super-block.
constexpr size_t q6_k_ql_word_offset(size_t k) {
  return kQ6KInterleavedValues + 64 * (3 * (8 * (k / 16) + k % 8) + (k % 16) / 8);
}
constexpr size_t q6_k_qh_word_offset(size_t k) { return kQ6KInterleavedValues + 64 * (3 * k + 2); }
void pack_q6_k(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst);

// TQ2_0 (dotted with Q8_K): per super-block of a group, the 16 d (fp16), then the 16 words of qs (each word as
// above). Word k holds, in bits 2l and 2l + 1 of its bytes, the trits of elements 128 (k / 8) + 32 l + 4 (k % 8)
// + 0..3 (l < 4).
constexpr size_t kTQ2InterleavedD = 0;
constexpr size_t kTQ2InterleavedValues = kInterleaveRows * 2;
constexpr size_t kTQ2InterleavedBlock = kTQ2InterleavedValues + kInterleaveRows * 64;
void pack_tq2_0(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst);

#if defined(__x86_64__)
// The kernels of each level (interleave_avx2.cpp, interleave_avxvnni.cpp, interleave_avx512.cpp,
// interleave_k_avx512.cpp) and the records the types' QuantTraits point at (interleave.cpp).
using InterleavedGemm = void(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                             int64_t n_tokens, float* out, int64_t ldo);  // InterleavedKernels::gemm
InterleavedGemm q4_0_interleaved_gemm_avx2;
InterleavedGemm q8_0_interleaved_gemm_avx2;
InterleavedGemm q4_0_interleaved_gemm_avxvnni;
InterleavedGemm q8_0_interleaved_gemm_avxvnni;
InterleavedGemm q4_0_interleaved_gemm_vnni256_avx512;
InterleavedGemm q8_0_interleaved_gemm_vnni256_avx512;
InterleavedGemm q4_k_interleaved_gemm_avx2;
InterleavedGemm q6_k_interleaved_gemm_avx2;
InterleavedGemm tq2_0_interleaved_gemm_avx2;
InterleavedGemm q4_k_interleaved_gemm_avxvnni;
InterleavedGemm q6_k_interleaved_gemm_avxvnni;
InterleavedGemm tq2_0_interleaved_gemm_avxvnni;
InterleavedGemm q4_k_interleaved_gemm_vnni256_avx512;
InterleavedGemm q6_k_interleaved_gemm_vnni256_avx512;
InterleavedGemm tq2_0_interleaved_gemm_vnni256_avx512;
InterleavedGemm q4_0_interleaved_gemm_avx512;
InterleavedGemm q8_0_interleaved_gemm_avx512;
InterleavedGemm q4_k_interleaved_gemm_avx512;
InterleavedGemm tq2_0_interleaved_gemm_avx512;
InterleavedGemm q6_k_interleaved_gemm_avx512;

extern const InterleavedKernels kQ4_0InterleavedAvx2;
extern const InterleavedKernels kQ8_0InterleavedAvx2;
extern const InterleavedKernels kQ4_KInterleavedAvx2;
extern const InterleavedKernels kQ6_KInterleavedAvx2;
extern const InterleavedKernels kTQ2_0InterleavedAvx2;
extern const InterleavedKernels kQ4_0InterleavedAvxVnni;
extern const InterleavedKernels kQ8_0InterleavedAvxVnni;
extern const InterleavedKernels kQ4_KInterleavedAvxVnni;
extern const InterleavedKernels kQ6_KInterleavedAvxVnni;
extern const InterleavedKernels kTQ2_0InterleavedAvxVnni;
extern const InterleavedKernels kQ4_0InterleavedAvx512Vnni;
extern const InterleavedKernels kQ8_0InterleavedAvx512Vnni;
extern const InterleavedKernels kQ4_KInterleavedAvx512Vnni;
extern const InterleavedKernels kQ6_KInterleavedAvx512Vnni;
extern const InterleavedKernels kTQ2_0InterleavedAvx512Vnni;
// The AvxVnni kernels' logic built with EVEX VPDPBUSD (level Avx512Vnni): no record uses them; the kernel tests
// check them on AVX-512 VNNI CPUs, which cannot run the AvxVnni level itself.
extern const InterleavedKernels kQ4_0InterleavedVnni256Evex;
extern const InterleavedKernels kQ8_0InterleavedVnni256Evex;
extern const InterleavedKernels kQ4_KInterleavedVnni256Evex;
extern const InterleavedKernels kQ6_KInterleavedVnni256Evex;
extern const InterleavedKernels kTQ2_0InterleavedVnni256Evex;
#elif defined(__aarch64__)
// ARMv8.2 dot product (SDOT): run only after cpu_features() reported it.
void q4_0_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo);
void q8_0_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo);
void q4_k_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo);
void q6_k_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo);
void tq2_0_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                     int64_t n_tokens, float* out, int64_t ldo);
// ARMv8.6 i8mm (SMMLA) prompt tiles, SDOT decode: run only after cpu_features() reported both.
void q4_0_interleaved_gemm_neon_i8mm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                     int64_t n_tokens, float* out, int64_t ldo);
void q8_0_interleaved_gemm_neon_i8mm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                     int64_t n_tokens, float* out, int64_t ldo);
extern const InterleavedKernels kQ4_0InterleavedNeonI8mm;
extern const InterleavedKernels kQ8_0InterleavedNeonI8mm;
extern const InterleavedKernels kQ4_0InterleavedNeonDot;
extern const InterleavedKernels kQ8_0InterleavedNeonDot;
extern const InterleavedKernels kQ4_KInterleavedNeonDot;
extern const InterleavedKernels kQ6_KInterleavedNeonDot;
extern const InterleavedKernels kTQ2_0InterleavedNeonDot;
#endif

}  // namespace ternion::quant
